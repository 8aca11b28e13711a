//! Watching plugin and pipeline files. The watcher only reports which
//! directories changed, after they have been quiet for [`DEBOUNCE`]; the
//! supervisor decides what to re-read, rebuild or swap (Vector's
//! watcher → controller split).
//!
//! Directories are watched rather than files, so atomic renames, editors'
//! write-then-rename, delete-then-recreate and Kubernetes ConfigMap `..data`
//! symlink swaps all show up.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher as _};

/// How long a directory must be quiet before it is reported.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Directories whose relevant files changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// The directories, absolute.
    pub dirs: HashSet<PathBuf>,
}

#[derive(Default)]
struct Relevant {
    /// Plugin files in use (absolute).
    files: HashSet<PathBuf>,
    /// Directories holding pipeline files (absolute).
    pipeline_dirs: HashSet<PathBuf>,
}

/// The running watcher. Dropping it stops watching.
pub struct FileWatcher {
    watcher: Mutex<notify::RecommendedWatcher>,
    watched: Mutex<HashSet<PathBuf>>,
    relevant: Arc<RwLock<Relevant>>,
}

/// The absolute directory holding `path`.
pub fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => {
            std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
        }
        _ => std::env::current_dir().unwrap_or_default(),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

impl FileWatcher {
    /// Starts watching the directories of `pipeline_paths` (files or
    /// directories); changes are sent to `changes`.
    pub fn start(
        pipeline_paths: &[PathBuf],
        changes: tokio::sync::mpsc::UnboundedSender<Changed>,
    ) -> anyhow::Result<FileWatcher> {
        let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
        let watcher = notify::recommended_watcher(move |e| {
            let _ = tx.send(e);
        })?;
        let this = FileWatcher {
            watcher: Mutex::new(watcher),
            watched: Mutex::new(HashSet::new()),
            relevant: Arc::new(RwLock::new(Relevant::default())),
        };
        for p in pipeline_paths {
            let dir = if p.is_dir() { absolute(p) } else { dir_of(p) };
            this.watch_dir(&dir)?;
            this.write().pipeline_dirs.insert(dir);
        }
        let relevant = this.relevant.clone();
        std::thread::Builder::new()
            .name("sluice-watch".into())
            .spawn(move || debounce(rx, &relevant, &changes))?;
        Ok(this)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Relevant> {
        self.relevant.write().unwrap_or_else(|p| p.into_inner())
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

    /// Makes `files` the plugin files in use; returns the ones whose
    /// directory cannot be watched (hot reload is off for them).
    pub fn watch_files(&self, files: impl IntoIterator<Item = PathBuf>) -> Vec<(PathBuf, String)> {
        let mut unwatched = Vec::new();
        let mut set = HashSet::new();
        for f in files {
            let f = absolute(&f);
            if let Err(e) = self.watch_dir(&dir_of(&f)) {
                unwatched.push((f.clone(), e.to_string()));
            }
            set.insert(f);
        }
        self.write().files = set;
        unwatched
    }

    /// Whether `dir` holds pipeline files.
    pub fn is_pipeline_dir(&self, dir: &Path) -> bool {
        self.relevant
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .pipeline_dirs
            .contains(dir)
    }
}

fn debounce(
    rx: mpsc::Receiver<notify::Result<notify::Event>>,
    relevant: &RwLock<Relevant>,
    changes: &tokio::sync::mpsc::UnboundedSender<Changed>,
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
                // Only events about files we use count: a busy neighbour (a
                // log or state file in the same directory) must not hold off
                // reloads.
                let r = relevant.read().unwrap_or_else(|p| p.into_inner());
                let dirs: Vec<PathBuf> = event
                    .paths
                    .iter()
                    .filter(|p| is_relevant(p, &r))
                    .map(|p| dir_of(p))
                    .collect();
                drop(r);
                if !dirs.is_empty() {
                    tracing::debug!(kind = ?event.kind, paths = ?event.paths, "Relevant file event");
                    dirty.extend(dirs);
                    last_event = Instant::now();
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "File watcher error"),
            Err(RecvTimeoutError::Timeout) => {
                if dirty.is_empty() || last_event.elapsed() < DEBOUNCE {
                    continue;
                }
                let dirs = std::mem::take(&mut dirty);
                if changes.send(Changed { dirs }).is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Whether an event about `path` may change a file in use: a plugin file
/// itself, a pipeline file in a watched directory, or a Kubernetes
/// ConfigMap's `..data` machinery.
fn is_relevant(path: &Path, r: &Relevant) -> bool {
    let Some(name) = path.file_name() else {
        return false;
    };
    if name.to_string_lossy().starts_with("..") {
        return true;
    }
    let dir = dir_of(path);
    if r.pipeline_dirs.contains(&dir)
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "toml")
        )
    {
        return true;
    }
    r.files
        .iter()
        .any(|f| f.file_name() == Some(name) && dir_of(f) == dir)
}
