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

pub use pipeline::{Control, LoopOptions, PipelineLoop, ProducerFatal, Stage, Stats, Summary};

use crate::plugin::{Plugin, PluginKind, Runtime, SourceInstance, TransformInstance};
use crate::position::{AckTracker, PositionStore};
use crate::record::Batch;
use crate::reload::{PluginSlot, Reloader};
use crate::sink::{EmbeddedCluster, KafkaSink, ProducerPool};
use crate::spec::Pipeline;

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

/// A pipeline built and ready to run, with the handles the supervisor keeps.
pub struct Built {
    /// The data path.
    pub data_path: PipelineLoop,
    /// Its counters.
    pub stats: Arc<Stats>,
    /// Set to stop it.
    pub cancel: Arc<AtomicBool>,
    /// Reload requests to it.
    pub control: std::sync::mpsc::Sender<Control>,
}

/// Builds one pipeline's data path (loads and opens its plugins, reads its position).
pub fn build(
    p: &Pipeline,
    plugins: &mut PluginCache,
    producers: &ProducerPool,
    brokers: &str,
    options: &RunOptions,
) -> anyhow::Result<Built> {
    let name = &p.spec.name;
    let store = match &p.spec.positions {
        Some(positions) => PositionStore::kafka(brokers, &positions.kafka_topic, name)?,
        None => PositionStore::new(&options.state_dir, name),
    };
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
        transforms.push(Stage::new(label, instance));
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
    let (control, control_rx) = std::sync::mpsc::channel();
    let data_path = PipelineLoop {
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
        control: control_rx,
        dead_letter_topic: p.spec.dead_letter.as_ref().map(|d| d.topic.clone()),
        sink_topic: p.spec.sink.kafka.topic.clone(),
        dead_letters: Batch::default(),
    };
    Ok(Built {
        data_path,
        stats,
        cancel,
        control,
    })
}

struct Running {
    pipeline: Pipeline,
    stats: Arc<Stats>,
    cancel: Arc<AtomicBool>,
    last_sent: u64,
    /// A new version of the file waits for this one to stop.
    replacement: Option<Pipeline>,
}

type Done = (String, anyhow::Result<Summary>);

/// Runs and rebuilds pipelines as their files change.
struct Supervisor {
    paths: Vec<PathBuf>,
    options: RunOptions,
    plugins: PluginCache,
    producers: ProducerPool,
    embedded: Option<EmbeddedCluster>,
    reloader: Arc<Reloader>,
    running: HashMap<String, Running>,
    done_tx: tokio::sync::mpsc::UnboundedSender<Done>,
    all_ok: bool,
    /// Producer rebuilds per pipeline, bounded so a broken cluster ends in an error.
    fatal_restarts: HashMap<String, u32>,
}

/// Rebuilds of a pipeline's producer after fatal errors before it stops for good.
const MAX_FATAL_RESTARTS: u32 = 5;

impl Supervisor {
    fn brokers_for(&mut self, p: &Pipeline) -> anyhow::Result<String> {
        if let Some(b) = &p.spec.sink.kafka.brokers {
            return Ok(b.clone());
        }
        if self.embedded.is_none() {
            let cluster = EmbeddedCluster::start()?;
            println!("Embedded Kafka cluster at {}", cluster.bootstrap_servers());
            println!(
                "  for trying things out only: it ignores acks and has no replication, so it proves nothing about durability"
            );
            self.embedded = Some(cluster);
        }
        let cluster = self
            .embedded
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("embedded cluster missing"))?;
        let bootstrap = cluster.bootstrap_servers();
        let topic = &p.spec.sink.kafka.topic;
        cluster.create_topic(topic, 1)?;
        println!(
            "  pipeline `{}` → topic `{topic}`; read it with: kcat -b {bootstrap} -t {topic} -C -f '%k %s\\n'",
            p.spec.name
        );
        Ok(bootstrap)
    }

    fn start(&mut self, p: Pipeline) {
        let name = p.spec.name.clone();
        let started = self.brokers_for(&p).and_then(|brokers| {
            let built = build(
                &p,
                &mut self.plugins,
                &self.producers,
                &brokers,
                &self.options,
            )?;
            Ok((brokers, built))
        });
        let (brokers, built) = match started {
            Ok(b) => b,
            Err(e) => {
                self.all_ok = false;
                eprintln!("error: pipeline `{name}` not started: {e:#}");
                return;
            }
        };
        let slots = std::iter::once((None, &p.source))
            .chain(p.transforms.iter().enumerate().map(|(i, t)| (Some(i), t)));
        for (stage, plugin) in slots {
            let digest = match stage {
                None => built.data_path.source.plugin().digest().to_string(),
                Some(i) => built.data_path.transforms[i]
                    .instance
                    .plugin()
                    .digest()
                    .to_string(),
            };
            let registered = self.reloader.register(PluginSlot {
                pipeline: name.clone(),
                stage,
                path: plugin.path.clone(),
                config: plugin.config.clone(),
                limits: plugin.limits.clone(),
                digest,
                control: built.control.clone(),
                stats: built.stats.clone(),
            });
            if let Err(e) = registered {
                tracing::warn!(pipeline = %name, error = %e, "Plugin file not watched; hot reload is off for it");
            }
        }
        println!(
            "pipeline `{name}` running: {} → kafka {brokers} topic `{}` (acks {})",
            std::iter::once(plugin_label(&p.source.path))
                .chain(p.transforms.iter().map(|t| plugin_label(&t.path)))
                .collect::<Vec<_>>()
                .join(" → "),
            p.spec.sink.kafka.topic,
            p.spec.sink.kafka.acks.as_str()
        );
        if p.spec.sink.kafka.acks == crate::spec::Acks::All && p.spec.sink.kafka.brokers.is_some() {
            match crate::sink::inspect_topic(
                &brokers,
                &p.spec.sink.kafka.topic,
                Duration::from_secs(5),
            ) {
                Ok(Some(d)) => {
                    if let Some(w) = d.weakness(&p.spec.sink.kafka.topic) {
                        tracing::warn!(pipeline = %name, "{w}");
                        println!("warning: pipeline `{name}`: {w}");
                    }
                }
                Ok(None) => {
                    tracing::info!(pipeline = %name, topic = %p.spec.sink.kafka.topic, "Topic does not exist yet; its durability settings will be the broker defaults")
                }
                Err(e) => {
                    tracing::warn!(pipeline = %name, error = %e, "Could not read the topic's durability settings")
                }
            }
        }
        let tx = self.done_tx.clone();
        let data_path = built.data_path;
        let thread_name = name.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("pipeline-{name}"))
            .spawn(move || {
                let result = data_path.run();
                let _ = tx.send((thread_name, result));
            });
        if let Err(e) = spawned {
            self.all_ok = false;
            eprintln!("error: pipeline `{name}` not started: {e}");
            return;
        }
        self.running.insert(
            name,
            Running {
                pipeline: p,
                stats: built.stats,
                cancel: built.cancel,
                last_sent: 0,
                replacement: None,
            },
        );
    }

    /// A pipeline thread ended.
    fn finished(&mut self, name: String, result: anyhow::Result<Summary>) {
        self.reloader.unregister(&name);
        let running = self.running.remove(&name);
        if let (Err(e), Some(r)) = (&result, &running)
            && let Some(fatal) = e.downcast_ref::<ProducerFatal>()
            && !r.cancel.load(Ordering::Relaxed)
            && self.fatal_restarts.get(&name).copied().unwrap_or(0) < MAX_FATAL_RESTARTS
        {
            *self.fatal_restarts.entry(name.clone()).or_default() += 1;
            // Rebuild the producer and send everything after the committed
            // position again: nothing lost, duplicates possible.
            let evicted = self.producers.evict_fatal();
            println!(
                "pipeline `{name}`: {fatal}; rebuilt the producer ({evicted} replaced) and resending from the committed position"
            );
            let pipeline = r.pipeline.clone();
            self.start(pipeline);
            return;
        }
        let replacement = running.and_then(|r| r.replacement);
        match result {
            Ok(s) => {
                let secs = s.elapsed.as_secs_f64().max(0.001);
                let ms = |q: f64| {
                    s.latency
                        .quantile(q)
                        .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
                        .unwrap_or_else(|| "-".into())
                };
                println!(
                    "pipeline `{name}` {}: {} records acknowledged, position {}",
                    if s.finished { "finished" } else { "stopped" },
                    s.acknowledged,
                    s.position
                        .as_deref()
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .unwrap_or_else(|| "none".into())
                );
                println!(
                    "pipeline `{name}` stats: {:.0} records/s, {:.2} MB/s, ack latency p50 {} ms p99 {} ms, {:.1} s",
                    s.acknowledged as f64 / secs,
                    s.bytes as f64 / secs / 1e6,
                    ms(0.5),
                    ms(0.99),
                    secs
                );
            }
            Err(e) => {
                self.all_ok = false;
                eprintln!("error: {e:#}");
            }
        }
        if let Some(p) = replacement {
            println!(
                "pipeline `{}` restarting with its changed file",
                p.spec.name
            );
            self.start(p);
        }
    }

    /// Pipeline files changed: start new ones, stop removed ones, rebuild changed ones.
    fn pipeline_files_changed(&mut self) {
        let files = crate::spec::expand_paths(&self.paths).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        for file in &files {
            match crate::spec::load_file(file) {
                Err(e) => {
                    let running = self.running.values().any(|r| &r.pipeline.file == file);
                    println!(
                        "pipeline file {} not reloaded: {e}{}",
                        file.display(),
                        if running {
                            "\n  the running version keeps running"
                        } else {
                            ""
                        }
                    );
                    if let Some(r) = self.running.values().find(|r| &r.pipeline.file == file) {
                        seen.insert(r.pipeline.spec.name.clone());
                    }
                }
                Ok(p) => {
                    seen.insert(p.spec.name.clone());
                    match self.running.get_mut(&p.spec.name) {
                        None => self.start(p),
                        Some(r) if r.pipeline != p => {
                            println!(
                                "pipeline `{}` changed in {}: stopping it to rebuild",
                                p.spec.name,
                                file.display()
                            );
                            r.cancel.store(true, Ordering::Relaxed);
                            r.replacement = Some(p);
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        for r in self.running.values_mut() {
            if !seen.contains(&r.pipeline.spec.name) && !r.cancel.load(Ordering::Relaxed) {
                println!(
                    "pipeline `{}` removed ({} is gone): stopping it",
                    r.pipeline.spec.name,
                    r.pipeline.file.display()
                );
                r.cancel.store(true, Ordering::Relaxed);
                r.replacement = None;
            }
        }
    }

    fn progress(&mut self, secs: f64) {
        for r in self.running.values_mut() {
            let sent = r.stats.sent.load(Ordering::Relaxed);
            let rate = (sent - r.last_sent.min(sent)) as f64 / secs;
            r.last_sent = sent;
            tracing::info!(
                pipeline = %r.pipeline.spec.name,
                sent,
                rate = rate.round() as u64,
                skipped = r.stats.skipped.load(Ordering::Relaxed),
                reloads = r.stats.reloads.load(Ordering::Relaxed),
                quarantined = r.stats.quarantined.load(Ordering::Relaxed),
                "Progress"
            );
        }
    }

    fn stop_all(&mut self) {
        for r in self.running.values_mut() {
            r.replacement = None;
            r.cancel.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs every pipeline in `paths` until all end (or a signal stops them);
/// returns true when all ended well.
pub async fn run(paths: &[PathBuf], options: RunOptions) -> anyhow::Result<bool> {
    // Before anything starts, so an early SIGTERM is a clean stop, not a kill.
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let files = crate::spec::expand_paths(paths)?;
    let pipelines = crate::spec::load_all(&files)?;
    let runtime = Runtime::new(options.cache_dir.as_deref())?;
    let (watch_tx, mut watch_rx) = tokio::sync::mpsc::unbounded_channel();
    let reloader = Reloader::start(runtime.clone(), paths, watch_tx)?;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Done>();
    let progress_every = options.progress_every;
    let mut sup = Supervisor {
        paths: paths.to_vec(),
        options,
        plugins: PluginCache::new(runtime),
        producers: ProducerPool::default(),
        embedded: None,
        reloader,
        running: HashMap::new(),
        done_tx,
        all_ok: true,
        fatal_restarts: HashMap::new(),
    };
    for p in pipelines {
        sup.start(p);
    }

    let mut progress = tokio::time::interval(progress_every);
    progress.tick().await;
    let mut last_tick = Instant::now();
    let mut stopping = false;
    while !sup.running.is_empty() {
        tokio::select! {
            Some((name, result)) = done_rx.recv() => sup.finished(name, result),
            Some(_) = watch_rx.recv() => if !stopping { sup.pipeline_files_changed() },
            _ = progress.tick() => {
                sup.progress(last_tick.elapsed().as_secs_f64().max(0.001));
                last_tick = Instant::now();
            }
            _ = sigint.recv() => stop(&mut sup, &mut stopping),
            _ = sigterm.recv() => stop(&mut sup, &mut stopping),
        }
    }
    if let Some(cluster) = &sup.embedded
        && !stopping
    {
        println!(
            "all pipelines ended; the embedded cluster keeps serving at {} until Ctrl-C",
            cluster.bootstrap_servers()
        );
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
        }
    }
    Ok(sup.all_ok)
}

fn stop(sup: &mut Supervisor, stopping: &mut bool) {
    if *stopping {
        eprintln!("second signal: exiting now without waiting for acknowledgements");
        std::process::exit(130);
    }
    *stopping = true;
    eprintln!(
        "stopping: finishing in-flight records and committing positions (signal again to exit at once)"
    );
    sup.stop_all();
}
