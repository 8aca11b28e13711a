//! Plugin hot reload, decided here: when a watched plugin file changed, read
//! it, compare digests, compile and check the new version and (for a
//! transform) open it with the same config, all off the data path; then hand
//! the flow a swap to apply between two batches.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::plugins::{PluginCache, digest, plugin_label};
use super::{Msg, Phase, Supervisor};
use crate::events::StageId;
use crate::events::{Event, ReloadOutcome};
use crate::flow::{Control, PluginSource, Source};
use crate::plugin::{Limits, PluginKind, SourceInstance, TransformInstance};
use crate::watch::{Changed, dir_of};

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

impl Supervisor {
    /// Plugin files in `changed` may have new bytes (of pipeline `only`, or
    /// of every pipeline): prepare swaps off this task.
    pub(super) fn plugins_changed(&mut self, changed: &Changed, only: Option<&str>) {
        for (name, entry) in &self.entries {
            let Phase::Running(live) = &entry.phase else {
                continue;
            };
            if only.is_some_and(|o| o != name) {
                continue;
            }
            for (index, slot) in live.slots.iter().enumerate() {
                if !changed.dirs.contains(&dir_of(&slot.path)) {
                    continue;
                }
                let (slot, plugins, tx) = (slot.clone(), self.ctx.plugins.clone(), self.tx.clone());
                let (name, generation) = (name.clone(), entry.generation);
                tokio::task::spawn_blocking(move || {
                    if let Some(prepared) = prepare(&slot, &plugins) {
                        let _ = tx.send(Msg::Prepared {
                            name,
                            generation,
                            slot: index,
                            prepared,
                        });
                    }
                });
            }
        }
    }

    /// A new plugin version is ready (or was refused).
    pub(super) fn prepared(
        &mut self,
        name: String,
        generation: u64,
        index: usize,
        prepared: Prepared,
    ) {
        let Some(entry) = self.entries.get_mut(&name) else {
            return;
        };
        let Phase::Running(live) = &mut entry.phase else {
            return;
        };
        if entry.generation != generation || self.stopping {
            return;
        }
        let Some(slot) = live.slots.get_mut(index) else {
            return;
        };
        match prepared.result {
            Ok(control) => {
                tracing::info!(pipeline = %name, file = %slot.path.display(), new = %&prepared.digest[..12], "Reloading {}", slot.stage);
                if matches!(slot.stage, StageId::Transform(_)) {
                    *slot.running.lock().unwrap_or_else(|p| p.into_inner()) = prepared.digest;
                }
                let _ = live.handle.control.send(control);
            }
            Err(reason) => {
                if matches!(slot.stage, StageId::Transform(_)) {
                    slot.refused = Some(prepared.digest.clone());
                }
                tracing::warn!(pipeline = %name, file = %slot.path.display(), %reason, "Reload failed");
                self.ctx.events.publish(Event::Reload {
                    pipeline: name.clone(),
                    stage: slot.stage,
                    plugin: plugin_label(&slot.path),
                    file: slot.path.display().to_string(),
                    old_digest: slot.running(),
                    new_digest: prepared.digest,
                    outcome: ReloadOutcome::Failed,
                    reason: Some(reason),
                    pause_micros: None,
                    resumed_from: None,
                });
            }
        }
    }
}
