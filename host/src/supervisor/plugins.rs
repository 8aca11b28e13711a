//! Compiled plugins, shared by every pipeline that names the same bytes.
//!
//! Keyed by the SHA-256 of the file's content (and the world it is used as),
//! never by path: a pipeline rebuilt after a hot reload, a producer rebuild
//! or a second pipeline naming the same file runs the bytes on disk now.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::plugin::{Plugin, PluginError, PluginKind, Runtime};

/// Hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Loads plugins once per content and kind. Cheap to clone (shared).
#[derive(Clone)]
pub struct PluginCache {
    runtime: Runtime,
    loaded: Arc<Mutex<HashMap<(String, PluginKind), Plugin>>>,
}

/// A short label for logs: the plugin file's name.
pub fn plugin_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl PluginCache {
    /// An empty cache over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        PluginCache {
            runtime,
            loaded: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The runtime plugins are compiled with.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The plugin at `path` as `kind`, as its bytes are now; compiled on
    /// first use of those bytes.
    pub fn get(&self, path: &Path, kind: PluginKind) -> Result<Plugin, PluginError> {
        let bytes = self.runtime.read(path)?;
        self.get_bytes(path, &bytes, kind)
    }

    /// As [`PluginCache::get`], with the bytes already read.
    pub fn get_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        kind: PluginKind,
    ) -> Result<Plugin, PluginError> {
        let key = (digest(bytes), kind);
        if let Some(p) = self
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(p.clone());
        }
        // Compiling can take seconds: not under the lock.
        let started = Instant::now();
        let plugin = self.runtime.load_bytes(path, bytes, kind)?;
        tracing::info!(
            plugin = %path.display(),
            digest = &plugin.digest()[..12],
            size_kib = plugin.size() / 1024,
            ms = started.elapsed().as_millis() as u64,
            "Loaded {kind} plugin"
        );
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, plugin.clone());
        Ok(plugin)
    }
}
