//! Hot reload: watch plugin and pipeline files, debounce, and hand new plugin
//! versions to the data path, compiled, checked and opened off it.
//!
//! Directories are watched rather than files, so atomic renames, editors'
//! write-then-rename, delete-then-recreate and Kubernetes ConfigMap `..data`
//! symlink swaps all show up. After a quiet period every plugin file in a
//! touched directory is re-read through its path (following links) and
//! compared by digest: a burst of writes gives one reload of the final bytes,
//! and a file whose bytes did not change gives none.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};

use crate::plugin::{Limits, Plugin, PluginKind, Runtime, TransformInstance};
use crate::run::{Control, Stats};

/// How long a directory must be quiet before its files are re-read.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// One plugin in one running pipeline.
pub struct PluginSlot {
    /// Pipeline name.
    pub pipeline: String,
    /// `None` for the source, else the transform's index.
    pub stage: Option<usize>,
    /// The plugin file as the pipeline names it.
    pub path: PathBuf,
    /// Its configuration.
    pub config: Vec<(String, String)>,
    /// Its limits.
    pub limits: Limits,
    /// Digest of the version running (or last refused, to not retry the same bytes).
    pub digest: String,
    /// The pipeline's control channel.
    pub control: mpsc::Sender<Control>,
    /// The pipeline's counters.
    pub stats: Arc<Stats>,
}

/// What the watcher tells the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Something changed in a directory holding pipeline files.
    PipelineFiles,
}

/// The running watcher. Dropping it stops watching.
pub struct Reloader {
    slots: Arc<Mutex<Vec<PluginSlot>>>,
    watcher: Mutex<notify::RecommendedWatcher>,
    watched: Mutex<HashSet<PathBuf>>,
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => {
            std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
        }
        _ => std::env::current_dir().unwrap_or_default(),
    }
}

/// Hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Reloader {
    /// Starts watching the directories of `pipeline_paths` (files or
    /// directories); events about them go to `events`.
    pub fn start(
        runtime: Runtime,
        pipeline_paths: &[PathBuf],
        events: tokio::sync::mpsc::UnboundedSender<WatchEvent>,
    ) -> anyhow::Result<Arc<Reloader>> {
        let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
        let watcher = notify::recommended_watcher(move |e| {
            let _ = tx.send(e);
        })?;
        let reloader = Arc::new(Reloader {
            slots: Arc::new(Mutex::new(Vec::new())),
            watcher: Mutex::new(watcher),
            watched: Mutex::new(HashSet::new()),
        });
        let mut pipeline_dirs = HashSet::new();
        for p in pipeline_paths {
            let dir = if p.is_dir() {
                std::path::absolute(p)?
            } else {
                dir_of(p)
            };
            reloader.watch_dir(&dir)?;
            pipeline_dirs.insert(dir);
        }
        let slots = reloader.slots.clone();
        std::thread::Builder::new()
            .name("sluice-reload".into())
            .spawn(move || {
                debounce_loop(rx, &runtime, &slots, &pipeline_dirs, &events);
            })?;
        Ok(reloader)
    }

    fn watch_dir(&self, dir: &Path) -> anyhow::Result<()> {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        if watched.insert(dir.to_path_buf()) {
            self.watcher
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", dir.display()))?;
        }
        Ok(())
    }

    /// Starts watching a pipeline's plugin.
    pub fn register(&self, slot: PluginSlot) -> anyhow::Result<()> {
        self.watch_dir(&dir_of(&slot.path))?;
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(slot);
        Ok(())
    }

    /// Stops watching a pipeline's plugins.
    pub fn unregister(&self, pipeline: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| s.pipeline != pipeline);
    }
}

fn debounce_loop(
    rx: mpsc::Receiver<notify::Result<notify::Event>>,
    runtime: &Runtime,
    slots: &Mutex<Vec<PluginSlot>>,
    pipeline_dirs: &HashSet<PathBuf>,
    events: &tokio::sync::mpsc::UnboundedSender<WatchEvent>,
) {
    let mut dirty: HashSet<PathBuf> = HashSet::new();
    let mut last_event = Instant::now();
    loop {
        let wait = if dirty.is_empty() {
            Duration::from_secs(3600)
        } else {
            DEBOUNCE.saturating_sub(last_event.elapsed())
        };
        match rx.recv_timeout(wait) {
            Ok(Ok(event)) => {
                // Only events about files we use count: a busy neighbour (a log
                // or state file in the same directory) must not hold off reloads.
                let relevant: Vec<PathBuf> = event
                    .paths
                    .iter()
                    .filter(|p| is_relevant(p, slots, pipeline_dirs))
                    .map(|p| dir_of(p))
                    .collect();
                if !relevant.is_empty() {
                    tracing::debug!(kind = ?event.kind, paths = ?event.paths, "Relevant file event");
                    dirty.extend(relevant);
                    last_event = Instant::now();
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "File watcher error"),
            Err(RecvTimeoutError::Timeout) => {
                if dirty.is_empty() || last_event.elapsed() < DEBOUNCE {
                    continue;
                }
                if dirty.iter().any(|d| pipeline_dirs.contains(d))
                    && events.send(WatchEvent::PipelineFiles).is_err()
                {
                    return;
                }
                reload_plugins(runtime, slots, &dirty);
                dirty.clear();
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Whether an event about `path` may change a plugin or pipeline file in use:
/// the file itself, a pipeline file in a watched directory, or a Kubernetes
/// ConfigMap's `..data` machinery.
fn is_relevant(
    path: &Path,
    slots: &Mutex<Vec<PluginSlot>>,
    pipeline_dirs: &HashSet<PathBuf>,
) -> bool {
    let Some(name) = path.file_name() else {
        return false;
    };
    if name.to_string_lossy().starts_with("..") {
        return true;
    }
    let dir = dir_of(path);
    if pipeline_dirs.contains(&dir)
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "toml")
        )
    {
        return true;
    }
    let slots = slots.lock().unwrap_or_else(|p| p.into_inner());
    slots
        .iter()
        .any(|s| s.path.file_name() == Some(name) && dir_of(&s.path) == dir)
}

fn reload_plugins(runtime: &Runtime, slots: &Mutex<Vec<PluginSlot>>, dirty: &HashSet<PathBuf>) {
    let mut slots = slots.lock().unwrap_or_else(|p| p.into_inner());
    let mut compiled: HashMap<(String, bool), Result<Plugin, String>> = HashMap::new();
    for slot in slots
        .iter_mut()
        .filter(|s| dirty.contains(&dir_of(&s.path)))
    {
        let bytes = match std::fs::read(&slot.path) {
            Ok(b) => b,
            // Deleted or mid-swap: the old version keeps running; the file's
            // reappearance is another event.
            Err(_) => continue,
        };
        let new_digest = digest(&bytes);
        if new_digest == slot.digest {
            continue;
        }
        let kind = if slot.stage.is_some() {
            PluginKind::Transform
        } else {
            PluginKind::Source
        };
        let what = match slot.stage {
            Some(i) => format!("transform {}", i + 1),
            None => "source".to_string(),
        };
        let old = std::mem::replace(&mut slot.digest, new_digest.clone());
        let plugin = compiled
            .entry((new_digest.clone(), slot.stage.is_none()))
            .or_insert_with(|| {
                runtime
                    .load_bytes(&slot.path, &bytes, kind)
                    .map_err(|e| e.to_string())
            })
            .clone();
        let label = crate::run::plugin_label(&slot.path);
        let request = plugin.and_then(|plugin| match slot.stage {
            Some(stage) => {
                TransformInstance::open(&plugin, slot.config.clone(), slot.limits.clone(), &label)
                    .map(|instance| Control::SwapTransform { stage, instance })
                    .map_err(|e| e.to_string())
            }
            None => Ok(Control::SwapSource {
                plugin,
                config: slot.config.clone(),
                limits: slot.limits.clone(),
            }),
        });
        match request {
            Ok(request) => {
                tracing::info!(pipeline = %slot.pipeline, file = %slot.path.display(), old = &old[..12], new = &new_digest[..12], "Reloading {what}");
                if slot.control.send(request).is_err() {
                    tracing::debug!(pipeline = %slot.pipeline, "Pipeline ended before the reload");
                }
            }
            Err(reason) => {
                slot.stats.reloads_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(pipeline = %slot.pipeline, file = %slot.path.display(), old = &old[..12], new = &new_digest[..12], %reason, "Reload failed");
                println!(
                    "reload failed: pipeline `{}` {what} {}: {reason}; keeping {}",
                    slot.pipeline,
                    slot.path.display(),
                    &old[..12]
                );
            }
        }
    }
}
