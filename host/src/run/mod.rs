//! `sluice run`: build every pipeline, run each on its own thread, report
//! progress, and stop cleanly on SIGTERM/SIGINT. One failing pipeline never
//! stops the others.

mod pipeline;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

pub use pipeline::{LoopOptions, PipelineLoop, Stats, Summary};

use crate::pipeline::Pipeline;
use crate::plugin::{Plugin, PluginKind, Runtime, SourceInstance, TransformInstance};
use crate::position::{AckTracker, PositionStore};
use crate::sink::{EmbeddedCluster, KafkaSink, ProducerPool};

/// Settings of `sluice run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where positions are stored.
    pub state_dir: PathBuf,
    /// Compile cache directory (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Data path tunables.
    pub loop_options: LoopOptions,
    /// How often progress is printed.
    pub progress_every: Duration,
}

/// Loads plugins once per file and kind.
pub struct PluginCache {
    runtime: Runtime,
    loaded: HashMap<(PathBuf, bool), Plugin>,
}

impl PluginCache {
    /// An empty cache over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        PluginCache {
            runtime,
            loaded: HashMap::new(),
        }
    }

    /// The plugin at `path` as `kind`, compiled on first use.
    pub fn get(&mut self, path: &Path, kind: PluginKind) -> anyhow::Result<Plugin> {
        let key = (path.to_path_buf(), kind == PluginKind::Source);
        if let Some(p) = self.loaded.get(&key) {
            return Ok(p.clone());
        }
        let started = Instant::now();
        let plugin = self.runtime.load(path, kind)?;
        tracing::info!(
            plugin = %path.display(),
            digest = &plugin.digest()[..12],
            size_kib = plugin.size() / 1024,
            ms = started.elapsed().as_millis() as u64,
            "Loaded {kind} plugin"
        );
        self.loaded.insert(key, plugin.clone());
        Ok(plugin)
    }
}

/// A short label for logs: the plugin file's name.
pub fn plugin_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Builds one pipeline's data path (loads and opens its plugins, reads its position).
pub fn build(
    p: &Pipeline,
    plugins: &mut PluginCache,
    producers: &ProducerPool,
    brokers: &str,
    options: &RunOptions,
) -> anyhow::Result<(PipelineLoop, Arc<Stats>, Arc<AtomicBool>)> {
    let name = &p.spec.name;
    let store = PositionStore::new(&options.state_dir, name);
    let resume = store.load()?;
    let source_plugin = plugins.get(&p.source.path, PluginKind::Source)?;
    let source = SourceInstance::open(
        &source_plugin,
        p.source.config.clone(),
        resume.clone(),
        p.source.limits.clone(),
        &plugin_label(&p.source.path),
    )
    .with_context(|| format!("pipeline `{name}`: cannot open source"))?;
    let mut transforms = Vec::new();
    for t in &p.transforms {
        let plugin = plugins.get(&t.path, PluginKind::Transform)?;
        let label = plugin_label(&t.path);
        let instance = TransformInstance::open(&plugin, t.config.clone(), t.limits.clone(), &label)
            .with_context(|| format!("pipeline `{name}`: cannot open transform"))?;
        transforms.push((label, instance));
    }
    let producer = producers.get(brokers, &p.spec.sink.kafka)?;
    let sink = KafkaSink::new(producer, &p.spec.sink.kafka, p.spec.errors, name);
    let stats = Arc::new(Stats::default());
    let cancel = Arc::new(AtomicBool::new(false));
    let mut loop_options = options.loop_options.clone();
    if let Some(b) = p.spec.batch_size {
        loop_options.batch_size = b.max(1);
    }
    if let Some(r) = &resume {
        tracing::info!(pipeline = %name, position = %String::from_utf8_lossy(r), "Resuming from committed position");
    }
    let lp = PipelineLoop {
        name: name.clone(),
        source,
        transforms,
        sink,
        tracker: Arc::new(AckTracker::new(resume)),
        store,
        policy: p.spec.errors,
        stats: stats.clone(),
        cancel: cancel.clone(),
        options: loop_options,
    };
    Ok((lp, stats, cancel))
}

struct Running {
    name: String,
    stats: Arc<Stats>,
    cancel: Arc<AtomicBool>,
    last_acked: u64,
}

/// Runs every pipeline in `files` until all end; returns true when all ended well.
pub async fn run(files: &[PathBuf], options: RunOptions) -> anyhow::Result<bool> {
    let files = crate::pipeline::expand_paths(files)?;
    let pipelines = crate::pipeline::load_all(&files)?;
    let runtime = Runtime::new(options.cache_dir.as_deref())?;
    let mut plugins = PluginCache::new(runtime);
    let producers = ProducerPool::default();

    let embedded = if pipelines
        .iter()
        .any(|p| p.spec.sink.kafka.brokers.is_none())
    {
        let cluster = EmbeddedCluster::start()?;
        let bootstrap = cluster.bootstrap_servers();
        println!("Embedded Kafka cluster at {bootstrap}");
        println!(
            "  for trying things out only: it ignores acks and has no replication, so it proves nothing about durability"
        );
        for p in pipelines
            .iter()
            .filter(|p| p.spec.sink.kafka.brokers.is_none())
        {
            cluster.create_topic(&p.spec.sink.kafka.topic, 1)?;
            println!(
                "  pipeline `{}` → topic `{}`; read it with: kcat -b {bootstrap} -t {} -C -f '%k %s\\n'",
                p.spec.name, p.spec.sink.kafka.topic, p.spec.sink.kafka.topic
            );
        }
        Some(cluster)
    } else {
        None
    };

    let (done_tx, mut done_rx) =
        tokio::sync::mpsc::unbounded_channel::<(String, anyhow::Result<Summary>)>();
    let mut running: Vec<Running> = Vec::new();
    let mut all_ok = true;
    for p in &pipelines {
        let brokers = match (&p.spec.sink.kafka.brokers, &embedded) {
            (Some(b), _) => b.clone(),
            (None, Some(e)) => e.bootstrap_servers(),
            (None, None) => unreachable_brokers(),
        };
        match build(p, &mut plugins, &producers, &brokers, &options) {
            Ok((lp, stats, cancel)) => {
                let name = p.spec.name.clone();
                let tx = done_tx.clone();
                println!(
                    "pipeline `{name}` running: {} → kafka {} topic `{}` (acks {})",
                    std::iter::once(plugin_label(&p.source.path))
                        .chain(p.transforms.iter().map(|t| plugin_label(&t.path)))
                        .collect::<Vec<_>>()
                        .join(" → "),
                    brokers,
                    p.spec.sink.kafka.topic,
                    p.spec.sink.kafka.acks.as_str()
                );
                std::thread::Builder::new()
                    .name(format!("pipeline-{name}"))
                    .spawn(move || {
                        let result = lp.run();
                        let _ = tx.send((name, result));
                    })?;
                running.push(Running {
                    name: p.spec.name.clone(),
                    stats,
                    cancel,
                    last_acked: 0,
                });
            }
            Err(e) => {
                all_ok = false;
                eprintln!("error: pipeline `{}` not started: {e:#}", p.spec.name);
            }
        }
    }
    drop(done_tx);

    let mut remaining = running.len();
    let mut progress = tokio::time::interval(options.progress_every);
    progress.tick().await;
    let mut last_tick = Instant::now();
    let mut stopping = false;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    while remaining > 0 {
        tokio::select! {
            Some((name, result)) = done_rx.recv() => {
                remaining -= 1;
                match result {
                    Ok(s) => println!(
                        "pipeline `{name}` {}: {} records acknowledged, position {}",
                        if s.finished { "finished" } else { "stopped" },
                        s.acknowledged,
                        s.position.as_deref().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_else(|| "none".into())
                    ),
                    Err(e) => {
                        all_ok = false;
                        eprintln!("error: {e:#}");
                    }
                }
            }
            _ = progress.tick() => {
                let secs = last_tick.elapsed().as_secs_f64().max(0.001);
                last_tick = Instant::now();
                for r in &mut running {
                    let sent = r.stats.sent.load(Ordering::Relaxed);
                    let rate = (sent - r.last_acked) as f64 / secs;
                    r.last_acked = sent;
                    tracing::info!(pipeline = %r.name, sent, rate = rate.round() as u64, skipped = r.stats.skipped.load(Ordering::Relaxed), "Progress");
                }
            }
            _ = tokio::signal::ctrl_c() => stop(&running, &mut stopping),
            _ = sigterm.recv() => stop(&running, &mut stopping),
        }
    }
    if let Some(cluster) = &embedded {
        if !stopping {
            println!(
                "all pipelines ended; the embedded cluster keeps serving at {} until Ctrl-C",
                cluster.bootstrap_servers()
            );
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = sigterm.recv() => {}
            }
        }
    }
    drop(embedded);
    Ok(all_ok)
}

fn unreachable_brokers() -> String {
    // Every pipeline without brokers gets the embedded cluster, started above.
    String::from("127.0.0.1:9")
}

fn stop(running: &[Running], stopping: &mut bool) {
    if *stopping {
        eprintln!("second signal: exiting now without waiting for acknowledgements");
        std::process::exit(130);
    }
    *stopping = true;
    eprintln!(
        "stopping: finishing in-flight records and committing positions (signal again to exit at once)"
    );
    for r in running {
        r.cancel.store(true, Ordering::Relaxed);
    }
}
