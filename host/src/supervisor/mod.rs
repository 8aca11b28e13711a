//! `sluice run`: start every pipeline, keep them running as their files
//! change, and stop them cleanly on SIGTERM/SIGINT.
//!
//! The supervisor is one task on the tokio runtime that never blocks:
//! building a pipeline (loading and opening plugins, reading positions,
//! asking Kafka about topics) and preparing a plugin reload run on blocking
//! threads and report back as messages; each flow runs on a thread of its
//! own. One failing pipeline never stops the others, a pipeline thread that
//! panics is reported as failed, and a stop is bounded by the grace period.

mod build;
mod files;
mod lifecycle;
mod plugins;
mod reload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use build::{BuildContext, Built, Target, build};
pub use plugins::{PluginCache, digest, plugin_label};

use crate::events::{Event, EventFormat, Events, Renderer, WarningKind};
use crate::flow::{FlowHandle, FlowOptions, Summary};
use crate::plugin::Runtime;
use crate::sink::{EmbeddedCluster, ProducerPool};
use crate::spec::Pipeline;
use crate::watch::{Changed, FileWatcher};

/// Settings of `sluice run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where positions are stored.
    pub state_dir: PathBuf,
    /// Compile cache directory (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Data path tunables.
    pub flow: FlowOptions,
    /// How often progress is published.
    pub progress_every: Duration,
    /// How events are written to stdout.
    pub events: EventFormat,
    /// Where the HTTP endpoints listen (`--http`).
    pub http: crate::http::Listen,
}

/// Producer rebuilds in a row before a pipeline stops for good.
const MAX_RESENDS: u32 = 5;

/// A pipeline that ran this long since its last rebuild is healthy again:
/// its count of rebuilds in a row starts over.
const HEALTHY_INTERVAL: Duration = Duration::from_secs(60);

/// How long after the grace period a stop may take before the process
/// exits anyway (threads stuck in a plugin call or in Kafka are left behind).
const STOP_MARGIN: Duration = Duration::from_secs(5);

enum Msg {
    Built {
        name: String,
        generation: u64,
        result: anyhow::Result<Box<(Built, Target)>>,
    },
    Ended {
        name: String,
        generation: u64,
        result: anyhow::Result<Summary>,
    },
    Prepared {
        name: String,
        generation: u64,
        slot: usize,
        prepared: reload::Prepared,
    },
}

enum Phase {
    Building,
    Running(Live),
    /// It ended (finished or failed); it starts again only if its file changes.
    Ended,
}

struct Live {
    handle: FlowHandle,
    slots: Vec<reload::Slot>,
    started: Instant,
    last_sent: u64,
}

struct Entry {
    /// What is being built or runs.
    def: Pipeline,
    /// What should run once the current one ends (`None`: nothing).
    desired: Option<Pipeline>,
    generation: u64,
    phase: Phase,
    /// Producer rebuilds in a row.
    resends: u32,
}

struct Supervisor {
    paths: Vec<PathBuf>,
    options: RunOptions,
    ctx: BuildContext,
    embedded: Option<EmbeddedCluster>,
    watcher: FileWatcher,
    entries: HashMap<String, Entry>,
    tx: tokio::sync::mpsc::UnboundedSender<Msg>,
    generation: u64,
    all_ok: bool,
    stopping: bool,
}

impl Supervisor {
    fn events(&self) -> &Events {
        &self.ctx.events
    }

    /// Where `p`'s records go; starts the embedded cluster on first need.
    fn target_for(&mut self, p: &Pipeline) -> anyhow::Result<Target> {
        if let crate::spec::Cluster::Brokers(b) = p.cluster() {
            return Ok(Target {
                brokers: b.clone(),
                embedded: false,
            });
        }
        if self.embedded.is_none() {
            let cluster = EmbeddedCluster::start()?;
            self.ctx.events.publish(Event::EmbeddedCluster {
                bootstrap: cluster.bootstrap_servers(),
            });
            self.embedded = Some(cluster);
        }
        let cluster = self
            .embedded
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("embedded cluster missing"))?;
        cluster.create_topic(&p.spec.sink.kafka.topic, 1)?;
        Ok(Target {
            brokers: cluster.bootstrap_servers(),
            embedded: true,
        })
    }

    /// Starts building `p` off this task.
    fn start(&mut self, p: Pipeline) {
        let name = p.spec.name.clone();
        self.generation += 1;
        let generation = self.generation;
        let resends = self.entries.get(&name).map_or(0, |e| e.resends);
        self.entries.insert(
            name.clone(),
            Entry {
                def: p.clone(),
                desired: Some(p.clone()),
                generation,
                phase: Phase::Building,
                resends,
            },
        );
        self.events().publish(Event::PipelineStarting {
            pipeline: name.clone(),
            file: p.file.display().to_string(),
        });
        let target = self.target_for(&p);
        let ctx = self.ctx.clone();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = target.and_then(|t| build(&p, &t, &ctx).map(|b| Box::new((b, t))));
            let _ = tx.send(Msg::Built {
                name,
                generation,
                result,
            });
        });
    }

    fn progress(&mut self, secs: f64) {
        for (name, entry) in &mut self.entries {
            let Phase::Running(live) = &mut entry.phase else {
                continue;
            };
            let c = &live.handle.counters;
            let sent = c.sent.load(Ordering::Relaxed);
            let rate = (sent - live.last_sent.min(sent)) as f64 / secs;
            live.last_sent = sent;
            self.ctx.events.publish(Event::Progress {
                pipeline: name.clone(),
                sent,
                rate: rate.round() as u64,
                skipped: c.skipped.load(Ordering::Relaxed),
                reloads: c.reloads.load(Ordering::Relaxed),
                quarantined: c.quarantined.load(Ordering::Relaxed),
            });
        }
    }

    /// Whether any pipeline is being built or runs.
    fn active(&self) -> bool {
        self.entries
            .values()
            .any(|e| matches!(e.phase, Phase::Building | Phase::Running(_)))
    }

    fn stop_all(&mut self) {
        self.stopping = true;
        self.ctx.events.publish(Event::ShutdownRequested {
            grace_secs: self.options.flow.grace.as_secs(),
        });
        for entry in self.entries.values_mut() {
            entry.desired = None;
            if let Phase::Running(live) = &entry.phase {
                live.handle.cancel.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Runs every pipeline in `paths` until all end (or a signal stops them);
/// returns true when all ended well.
pub async fn run(paths: &[PathBuf], options: RunOptions) -> anyhow::Result<bool> {
    // Before anything starts, so an early SIGTERM is a clean stop, not a kill.
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let events = Events::new();
    events.subscribe(std::sync::Arc::new(Renderer::new(options.events)));
    // The sidecar surface: metrics, status and readiness from the events,
    // served on this runtime. The loop below touches the heartbeat every turn.
    let heartbeat = crate::telemetry::Heartbeat::default();
    let (_telemetry, http) = crate::http::start(options.http, &events, &heartbeat).await?;
    let files = crate::spec::expand_paths(paths)?;
    // One bad file does not stop the others: report it, run the rest.
    let loaded = crate::spec::load_all(&files);
    for e in &loaded.errors.0 {
        events.publish(Event::PipelineFileInvalid {
            file: e.file.display().to_string(),
            error: e.to_string(),
            running_kept: false,
            startup: true,
        });
    }
    anyhow::ensure!(
        !loaded.pipelines.is_empty(),
        "no pipeline can start: every pipeline file has errors"
    );
    let pipelines = loaded.pipelines;
    let runtime = Runtime::new(options.cache_dir.as_deref())?;
    let (watch_tx, mut watch_rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = FileWatcher::start(paths, watch_tx)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let progress_every = options.progress_every;
    let mut sup = Supervisor {
        paths: paths.to_vec(),
        ctx: BuildContext {
            plugins: PluginCache::new(runtime),
            producers: std::sync::Arc::new(ProducerPool::new(events.clone())),
            ingest: crate::source::IngestRegistry::new(&events),
            events,
            state_dir: options.state_dir.clone(),
            options: options.flow.clone(),
        },
        options,
        embedded: None,
        watcher,
        entries: HashMap::new(),
        tx,
        generation: 0,
        all_ok: true,
        stopping: false,
    };
    for p in pipelines {
        sup.start(p);
    }

    let mut progress = tokio::time::interval(progress_every);
    progress.tick().await;
    let mut last_tick = Instant::now();
    let mut stop_deadline: Option<tokio::time::Instant> = None;
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    let mut beat = tokio::time::interval(crate::telemetry::TOUCH_EVERY);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while sup.active() {
        heartbeat.touch();
        let deadline = stop_deadline.unwrap_or(far);
        tokio::select! {
            _ = beat.tick() => {}
            Some(msg) = rx.recv() => match msg {
                Msg::Built { name, generation, result } => sup.built(name, generation, result),
                Msg::Ended { name, generation, result } => sup.ended(name, generation, result),
                Msg::Prepared { name, generation, slot, prepared } => sup.prepared(name, generation, slot, prepared),
            },
            Some(changed) = watch_rx.recv() => if !sup.stopping {
                if changed.dirs.iter().any(|d| sup.watcher.is_pipeline_dir(d)) {
                    sup.pipeline_files_changed();
                }
                sup.plugins_changed(&changed, None);
            },
            _ = progress.tick() => {
                sup.progress(last_tick.elapsed().as_secs_f64().max(0.001));
                last_tick = Instant::now();
            }
            _ = tokio::time::sleep_until(deadline) => {
                sup.ctx.events.publish(Event::Warning {
                    pipeline: None,
                    kind: WarningKind::Other,
                    message: format!(
                        "pipelines did not stop within the {} s grace period (+{} s); exiting without them",
                        sup.options.flow.grace.as_secs(),
                        STOP_MARGIN.as_secs()
                    ),
                });
                return Ok(false);
            }
            _ = sigint.recv() => stop(&mut sup, &mut stop_deadline),
            _ = sigterm.recv() => stop(&mut sup, &mut stop_deadline),
        }
    }
    let serving = sup
        .embedded
        .as_ref()
        .filter(|_| !sup.stopping)
        .map(EmbeddedCluster::bootstrap_servers);
    sup.ctx.events.publish(Event::AllStopped {
        ok: sup.all_ok,
        embedded: serving.clone(),
    });
    if serving.is_some() {
        loop {
            heartbeat.touch();
            tokio::select! {
                _ = beat.tick() => continue,
                _ = sigint.recv() => {}
                _ = sigterm.recv() => {}
            }
            break;
        }
    }
    if let Some(server) = http {
        server.shutdown().await;
    }
    Ok(sup.all_ok)
}

fn stop(sup: &mut Supervisor, deadline: &mut Option<tokio::time::Instant>) {
    if sup.stopping {
        eprintln!("second signal: exiting now without waiting for acknowledgements");
        std::process::exit(130);
    }
    sup.stop_all();
    *deadline = Some(tokio::time::Instant::now() + sup.options.flow.grace + STOP_MARGIN);
}
