//! The wasmtime engine, compile cache and linker shared by every plugin, and
//! loading a component file into a checked, pre-instantiated plugin.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Cache, CacheConfig, Config, Engine};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{SourcePre, TransformPre, log};
use super::{PluginError, PluginKind};

/// How often the engine's epoch advances; the unit of call deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// What every plugin's Store holds.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: wasmtime::StoreLimits,
    pub(crate) label: Arc<str>,
    pub(crate) log_lines: u64,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Longest log line a plugin may write; longer lines are cut.
const MAX_LOG_LINE: usize = 4096;

impl log::Host for HostState {
    fn emit(&mut self, level: log::Level, message: String) {
        self.log_lines += 1;
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.label;
        match level {
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// Stops the epoch ticker thread when the runtime is dropped.
struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The shared engine. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Arc<Linker<HostState>>,
    _ticker: Arc<Ticker>,
}

/// Where compiled code is cached: `$SLUICE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/sluice`, else `~/.cache/sluice`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("sluice"))
}

impl Runtime {
    /// Builds the engine with the on-disk compile cache in `cache_dir`
    /// (absolute; `None` disables caching).
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        if let Some(dir) = cache_dir {
            let dir = std::path::absolute(dir)?;
            let mut cache = CacheConfig::new();
            cache.with_directory(dir.join("wasmtime"));
            config.cache(Some(Cache::new(cache)?));
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        log::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticking = engine.clone();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("sluice-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            _ticker: Arc::new(Ticker(stop)),
        })
    }

    /// Reads, compiles (or takes from the cache) and checks a component file
    /// against the world `kind`.
    pub fn load(&self, path: &Path, kind: PluginKind) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|e| PluginError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        self.load_bytes(path, &bytes, kind)
    }

    /// Import and export names of the component at `path`, without checking its world.
    pub fn component_names(&self, path: &Path) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let component = Component::from_file(&self.engine, path)?;
        Ok(super::world::names(&self.engine, &component))
    }

    /// As [`Runtime::load`], from bytes already read.
    pub fn load_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        kind: PluginKind,
    ) -> Result<Plugin, PluginError> {
        let digest = hex::encode(Sha256::digest(bytes));
        if !wasmparser_is_component(bytes) {
            return Err(PluginError::NotAComponent {
                path: path.to_path_buf(),
                what: describe_bytes(bytes),
            });
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
        super::world::check(&self.engine, &component, path, kind)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::WrongWorld {
                path: path.to_path_buf(),
                expected: kind,
                problems: vec![format!("{e:#}")],
            })?;
        let pre = match kind {
            PluginKind::Transform => PluginPre::Transform(TransformPre::new(pre).map_err(|e| {
                PluginError::WrongWorld {
                    path: path.to_path_buf(),
                    expected: kind,
                    problems: vec![format!("{e:#}")],
                }
            })?),
            PluginKind::Source => {
                PluginPre::Source(SourcePre::new(pre).map_err(|e| PluginError::WrongWorld {
                    path: path.to_path_buf(),
                    expected: kind,
                    problems: vec![format!("{e:#}")],
                })?)
            }
        };
        Ok(Plugin {
            inner: Arc::new(PluginInner {
                path: path.to_path_buf(),
                digest,
                size: bytes.len(),
                pre,
                runtime: self.clone(),
                component,
            }),
        })
    }
}

/// First bytes of a WebAssembly binary: magic, then version/layer.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

fn wasmparser_is_component(bytes: &[u8]) -> bool {
    // A component's header is magic + version 0x0d + layer 1.
    bytes.len() >= 8 && &bytes[..4] == WASM_MAGIC && bytes[6..8] == [1, 0]
}

fn describe_bytes(bytes: &[u8]) -> String {
    if bytes.len() >= 8 && &bytes[..4] == WASM_MAGIC {
        "a core WebAssembly module, not a component (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)".into()
    } else if bytes.is_empty() {
        "an empty file".into()
    } else {
        "not WebAssembly at all (bad magic bytes)".into()
    }
}

pub(crate) enum PluginPre {
    Transform(TransformPre<HostState>),
    Source(SourcePre<HostState>),
}

pub(crate) struct PluginInner {
    pub(crate) path: PathBuf,
    pub(crate) digest: String,
    pub(crate) size: usize,
    pub(crate) pre: PluginPre,
    pub(crate) runtime: Runtime,
    pub(crate) component: Component,
}

/// A compiled, type-checked plugin, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
}

impl Plugin {
    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    /// The component's import and export names.
    pub fn names(&self) -> (Vec<String>, Vec<String>) {
        super::world::names(&self.inner.runtime.engine, &self.inner.component)
    }
    /// SHA-256 of the file's bytes, hex.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }
    /// File size in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }
    /// Source or transform.
    pub fn kind(&self) -> PluginKind {
        match self.inner.pre {
            PluginPre::Transform(_) => PluginKind::Transform,
            PluginPre::Source(_) => PluginKind::Source,
        }
    }
}
