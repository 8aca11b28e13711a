//! Plugin hot reload, decided here: when a watched plugin file changed, read
//! it, compare digests, compile and check the new version and (for a
//! transform) open it with the same config, all off the data path; then hand
//! the flow a swap to apply between two batches.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::plugins::{PluginCache, digest, plugin_label};
use crate::events::StageId;
use crate::flow::{Control, PluginSource, Source};
use crate::plugin::{Limits, PluginKind, SourceInstance, TransformInstance};

/// One plugin of one running pipeline.
#[derive(Clone)]
pub struct Slot {
    /// Its stage.
    pub stage: StageId,
    /// The file as the pipeline names it.
    pub path: PathBuf,
    /// Its configuration.
    pub config: Vec<(String, String)>,
    /// Its limits and grants.
    pub limits: Limits,
    /// Digest of the version running (a source's is set once its swap took effect).
    pub running: Arc<Mutex<String>>,
    /// Digest of a transform version that was refused, so the same bytes
    /// are not tried again (a source retries: its failure may pass).
    pub refused: Option<String>,
}

impl Slot {
    /// A slot running `digest`.
    pub fn new(
        stage: StageId,
        path: PathBuf,
        config: Vec<(String, String)>,
        limits: Limits,
        digest: &str,
    ) -> Self {
        Slot {
            stage,
            path,
            config,
            limits,
            running: Arc::new(Mutex::new(digest.to_string())),
            refused: None,
        }
    }

    /// The digest running now.
    pub fn running(&self) -> String {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A new version made ready off the data path, or why it was refused.
pub struct Prepared {
    /// Digest of the new bytes.
    pub digest: String,
    /// The swap to hand the flow, or the reason it was refused.
    pub result: Result<Control, String>,
}

/// Reads `slot`'s file and, when its bytes are new, prepares the swap.
/// `None`: nothing to do (unchanged, already refused, or unreadable for now:
/// deleted or mid-swap, and its reappearance is another event).
pub fn prepare(slot: &Slot, plugins: &PluginCache) -> Option<Prepared> {
    let bytes = plugins.runtime().read(&slot.path).ok()?;
    let new = digest(&bytes);
    if new == slot.running() || slot.refused.as_deref() == Some(new.as_str()) {
        return None;
    }
    let label = plugin_label(&slot.path);
    let file = slot.path.display().to_string();
    let result = match slot.stage {
        StageId::Transform(stage) => plugins
            .get_bytes(&slot.path, &bytes, PluginKind::Transform)
            .and_then(|plugin| {
                TransformInstance::open(&plugin, slot.config.clone(), slot.limits.clone(), &label)
            })
            .map(|instance| Control::SwapTransform {
                stage,
                instance: Box::new(instance),
                file,
            })
            .map_err(|e| e.to_string()),
        _ => plugins
            .get_bytes(&slot.path, &bytes, PluginKind::Source)
            .map(|plugin| {
                let (config, limits, running, digest) = (
                    slot.config.clone(),
                    slot.limits.clone(),
                    slot.running.clone(),
                    new.clone(),
                );
                let open: crate::flow::SourceOpener = Box::new(move |resume| {
                    let instance = SourceInstance::open(&plugin, config, resume, limits, &label)?;
                    *running.lock().unwrap_or_else(|p| p.into_inner()) = digest;
                    Ok(Box::new(PluginSource::new(instance, label)) as Box<dyn Source>)
                });
                Control::SwapSource {
                    open,
                    digest: new.clone(),
                    file,
                }
            })
            .map_err(|e| e.to_string()),
    };
    Some(Prepared {
        digest: new,
        result,
    })
}
