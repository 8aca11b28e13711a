//! The status model behind `/status` and `/readyz`: per pipeline, what it
//! runs, where it is, what went wrong last; and the readiness verdict.
//!
//! [`StatusBoard`] is a [`Subscriber`] (a short mutex per event, no I/O).
//! Readiness is derived, never stored: every known pipeline must be
//! `running` (or have finished its source cleanly), no pipeline file may be
//! failing with nothing running in its place, and the process must not be
//! shutting down. A pipeline's sink reachability arrives as its
//! [`PipelineState::BrokerUnreachable`] state.
//!
//! Long because it holds the `/status` document's types (every field is the
//! JSON an operator reads, documented here) beside the one subscriber that
//! fills them; the tests live in `telemetry/tests.rs`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use super::{BuildInfo, unix_now};
use crate::events::{Event, PipelineState, PluginInfo, ReloadOutcome, StageId, StopReason};

/// Warnings kept per pipeline (the newest).
const KEPT_WARNINGS: usize = 8;

/// One plugin of a pipeline, as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginStatus {
    /// Which stage.
    pub stage: StageId,
    /// Its label (the file name).
    pub plugin: String,
    /// The file as the pipeline names it.
    pub file: String,
    /// SHA-256 of the running component, hex.
    pub digest: String,
    /// Whether it is quarantined (not called until a reload replaces it).
    pub quarantined: bool,
    /// Its last failure (trap or limit), if any.
    pub last_failure: Option<PluginFailureStatus>,
}

/// A plugin's last failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginFailureStatus {
    /// `trap`, `memory`, `deadline`, …
    pub kind: String,
    /// What happened.
    pub error: String,
    /// When (unix seconds).
    pub at: f64,
}

/// Counters of one pipeline since the process started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Records the source returned.
    pub polled: u64,
    /// Records handed to the producer.
    pub sent: u64,
    /// Bytes handed to the producer.
    pub bytes: u64,
    /// Records transforms dropped on purpose.
    pub filtered: u64,
    /// Records transforms rejected.
    pub rejected: u64,
    /// Records dropped under `errors: skip`.
    pub skipped: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Records Kafka acknowledged.
    pub acknowledged: u64,
    /// Records Kafka refused for good.
    pub failed: u64,
    /// Records sent and not yet acknowledged, at the last delivery report.
    pub in_flight: u64,
    /// Messages in the producer's queue, at the last delivery report.
    pub producer_queue: u64,
    /// Batches.
    pub batches: u64,
    /// Positions committed.
    pub commits: u64,
    /// Plugin swaps that took effect.
    pub reloads_ok: u64,
    /// Reloads refused.
    pub reloads_failed: u64,
    /// New versions rolled back.
    pub reloads_rolled_back: u64,
    /// Plugin traps and limit breaches.
    pub plugin_failures: u64,
    /// Producers rebuilt after fatal errors.
    pub producer_rebuilds: u64,
}

/// The last committed position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitStatus {
    /// The position (lossy text).
    pub position: String,
    /// Records acknowledged in that run when it was committed.
    pub acknowledged: u64,
    /// When (unix seconds).
    pub at: f64,
}

/// The last error a pipeline met.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorStatus {
    /// Where: `source`, `transform N`, `sink`, `pipeline`, `producer`.
    pub origin: String,
    /// What happened.
    pub message: String,
    /// When (unix seconds).
    pub at: f64,
}

/// The last reload attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReloadStatus {
    /// Which stage.
    pub stage: StageId,
    /// Plugin label.
    pub plugin: String,
    /// How it ended.
    pub outcome: ReloadOutcome,
    /// Digest of the version that ran before.
    pub old_digest: String,
    /// Digest of the new bytes.
    pub new_digest: String,
    /// Why it failed or rolled back.
    pub reason: Option<String>,
    /// How long the data path stood still, microseconds.
    pub pause_micros: Option<u64>,
    /// When (unix seconds).
    pub at: f64,
}

/// A warning about a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WarningStatus {
    /// What kind (`weak_durability`, …).
    pub kind: crate::events::WarningKind,
    /// What and what to do.
    pub message: String,
    /// When (unix seconds).
    pub at: f64,
}

/// One pipeline, as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineStatus {
    /// Pipeline name.
    pub pipeline: String,
    /// Its file.
    pub file: String,
    /// What it is doing.
    pub state: PipelineState,
    /// Why, when it is not plain running.
    pub reason: Option<String>,
    /// Since when (unix seconds).
    pub state_since: f64,
    /// How its last run ended, once it stopped.
    pub stop_reason: Option<StopReason>,
    /// Plugins in chain order, with digests.
    pub plugins: Vec<PluginStatus>,
    /// Bootstrap servers.
    pub brokers: Option<String>,
    /// Whether they are the embedded demo cluster.
    pub embedded: bool,
    /// Sink topic.
    pub topic: Option<String>,
    /// Acks policy (`none`, `leader`, `all`).
    pub acks: Option<String>,
    /// Error policy.
    pub errors: Option<String>,
    /// The effective delivery guarantee.
    pub guarantee: Option<String>,
    /// The position its current run resumed from.
    pub resumed_from: Option<String>,
    /// The last committed position.
    pub last_commit: Option<CommitStatus>,
    /// Counters since the process started.
    pub counters: Counters,
    /// The last error.
    pub last_error: Option<ErrorStatus>,
    /// The last reload attempt.
    pub last_reload: Option<ReloadStatus>,
    /// The newest warnings.
    pub warnings: Vec<WarningStatus>,
}

impl PipelineStatus {
    fn new(pipeline: &str, file: &str) -> Self {
        PipelineStatus {
            pipeline: pipeline.to_string(),
            file: file.to_string(),
            state: PipelineState::Starting,
            reason: None,
            state_since: unix_now(),
            stop_reason: None,
            plugins: Vec::new(),
            brokers: None,
            embedded: false,
            topic: None,
            acks: None,
            errors: None,
            guarantee: None,
            resumed_from: None,
            last_commit: None,
            counters: Counters::default(),
            last_error: None,
            last_reload: None,
            warnings: Vec::new(),
        }
    }

    fn set_state(&mut self, state: PipelineState, reason: Option<String>) {
        if self.state != state {
            self.state_since = unix_now();
        }
        self.state = state;
        self.reason = reason;
        if state != PipelineState::Stopped {
            self.stop_reason = None;
        }
    }

    fn error(&mut self, origin: impl Into<String>, message: &str) {
        self.last_error = Some(ErrorStatus {
            origin: origin.into(),
            message: message.to_string(),
            at: unix_now(),
        });
    }

    fn plugin_mut(&mut self, stage: StageId) -> Option<&mut PluginStatus> {
        self.plugins.iter_mut().find(|p| p.stage == stage)
    }

    /// Why this pipeline keeps the process from being ready, if it does.
    fn not_ready(&self) -> Option<NotReady> {
        let ok = match self.state {
            PipelineState::Running => true,
            // The source said it has no more records and everything was
            // committed: nothing is wrong, and nothing is left to do.
            PipelineState::Stopped => self.stop_reason == Some(StopReason::Finished),
            _ => false,
        };
        if ok {
            return None;
        }
        let reason = match (&self.reason, self.state) {
            (Some(r), _) => r.clone(),
            (None, PipelineState::Starting) => "starting: loading plugins and positions".into(),
            (None, PipelineState::Reloading) => "a plugin swap is in progress".into(),
            (None, PipelineState::Quarantined) => "a plugin is quarantined".into(),
            (None, PipelineState::BrokerUnreachable) => {
                "the sink cannot reach its brokers or has no metadata for its topic".into()
            }
            (None, PipelineState::Stopping) => "stopping".into(),
            (None, _) => match &self.last_error {
                Some(e) if self.stop_reason == Some(StopReason::Failed) => {
                    format!("failed: {}", e.message)
                }
                _ => "stopped".into(),
            },
        };
        Some(NotReady {
            pipeline: Some(self.pipeline.clone()),
            state: self.state,
            reason,
        })
    }
}

/// A pipeline file that failed to load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileProblem {
    /// The file.
    pub file: String,
    /// Every problem, one per line.
    pub error: String,
    /// Whether a version of it keeps running.
    pub running_kept: bool,
    /// When (unix seconds).
    pub at: f64,
}

/// One reason the process is not ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotReady {
    /// The pipeline, when the reason is about one.
    pub pipeline: Option<String>,
    /// Its state (`starting`, `reloading`, `quarantined`,
    /// `broker_unreachable`, `stopping`, `stopped`).
    pub state: PipelineState,
    /// Why, for people.
    pub reason: String,
}

/// The readiness verdict, as `/readyz` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// Whether the process is ready.
    pub ready: bool,
    /// Pipelines known.
    pub pipelines: usize,
    /// Every reason it is not ready (empty when ready).
    pub not_ready: Vec<NotReady>,
}

/// The whole `/status` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// Sluice's version.
    pub version: String,
    /// The plugin contract this host implements.
    pub contract: String,
    /// wasmtime's version.
    pub wasmtime: String,
    /// librdkafka's version.
    pub librdkafka: String,
    /// Seconds since the process started.
    pub uptime_seconds: f64,
    /// Where the HTTP endpoints listen.
    pub http: Option<String>,
    /// The embedded demo cluster's bootstrap address, when it runs.
    pub embedded_cluster: Option<String>,
    /// Whether a signal asked the process to stop.
    pub shutting_down: bool,
    /// The readiness verdict.
    pub readiness: Readiness,
    /// Pipelines by name.
    pub pipelines: Vec<PipelineStatus>,
    /// Pipeline files that failed to load.
    pub file_problems: Vec<FileProblem>,
    /// The last client-level Kafka error.
    pub last_kafka_error: Option<ErrorStatus>,
}

#[derive(Debug, Default)]
struct Board {
    pipelines: BTreeMap<String, PipelineStatus>,
    files: BTreeMap<String, FileProblem>,
    shutting_down: bool,
    http: Option<String>,
    embedded: Option<String>,
    last_kafka_error: Option<ErrorStatus>,
}

/// Per-pipeline status kept from the event stream.
#[derive(Debug)]
pub struct StatusBoard {
    build: BuildInfo,
    started: f64,
    board: Mutex<Board>,
}

impl StatusBoard {
    /// An empty board.
    pub fn new(build: BuildInfo) -> Self {
        StatusBoard {
            build,
            started: unix_now(),
            board: Mutex::new(Board::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The readiness verdict now.
    pub fn readiness(&self) -> Readiness {
        readiness(&self.lock())
    }

    /// One pipeline's status.
    pub fn pipeline(&self, name: &str) -> Option<PipelineStatus> {
        self.lock().pipelines.get(name).cloned()
    }

    /// Everything, for `/status`.
    pub fn report(&self) -> StatusReport {
        let board = self.lock();
        StatusReport {
            version: self.build.version.clone(),
            contract: self.build.contract.clone(),
            wasmtime: self.build.wasmtime.clone(),
            librdkafka: self.build.librdkafka.clone(),
            uptime_seconds: (unix_now() - self.started).max(0.0),
            http: board.http.clone(),
            embedded_cluster: board.embedded.clone(),
            shutting_down: board.shutting_down,
            readiness: readiness(&board),
            pipelines: board.pipelines.values().cloned().collect(),
            file_problems: board.files.values().cloned().collect(),
            last_kafka_error: board.last_kafka_error.clone(),
        }
    }
}

fn readiness(board: &Board) -> Readiness {
    let mut not_ready = Vec::new();
    if board.shutting_down {
        not_ready.push(NotReady {
            pipeline: None,
            state: PipelineState::Stopping,
            reason: "a signal asked the process to stop; pipelines drain and commit".into(),
        });
    }
    if board.pipelines.is_empty() && !board.shutting_down {
        not_ready.push(NotReady {
            pipeline: None,
            state: PipelineState::Starting,
            reason: "no pipeline has started yet".into(),
        });
    }
    not_ready.extend(
        board
            .pipelines
            .values()
            .filter_map(PipelineStatus::not_ready),
    );
    for problem in board.files.values().filter(|f| !f.running_kept) {
        not_ready.push(NotReady {
            pipeline: None,
            state: PipelineState::Stopped,
            reason: format!(
                "pipeline file {} does not load: {}",
                problem.file, problem.error
            ),
        });
    }
    Readiness {
        ready: not_ready.is_empty(),
        pipelines: board.pipelines.len(),
        not_ready,
    }
}

fn plugin_statuses(plugins: &[PluginInfo]) -> Vec<PluginStatus> {
    plugins
        .iter()
        .map(|p| PluginStatus {
            stage: p.stage,
            plugin: p.plugin.clone(),
            file: p.file.clone(),
            digest: p.digest.clone(),
            quarantined: false,
            last_failure: None,
        })
        .collect()
}

impl crate::events::Subscriber for StatusBoard {
    fn on_event(&self, event: &Event) {
        let mut board = self.lock();
        let b = &mut *board;
        match event {
            Event::Batch { pipeline, report } => {
                if let Some(p) = b.pipelines.get_mut(&**pipeline) {
                    let c = &mut p.counters;
                    c.polled += report.polled;
                    c.sent += report.sent;
                    c.bytes += report.bytes;
                    c.skipped += report.skipped;
                    c.dead_lettered += report.dead_lettered;
                    c.batches += 1;
                    for s in &report.stages {
                        c.filtered += s.filtered;
                        c.rejected += s.rejected;
                    }
                }
            }
            Event::Delivery { pipeline, report } => {
                if let Some(p) = b.pipelines.get_mut(&**pipeline) {
                    let c = &mut p.counters;
                    c.acknowledged += report.acknowledged;
                    c.failed += report.failed;
                    c.in_flight = report.in_flight;
                    c.producer_queue = report.producer_queue;
                }
            }
            Event::Commit {
                pipeline,
                position,
                acknowledged,
            } => {
                if let Some(p) = b.pipelines.get_mut(pipeline) {
                    p.counters.commits += 1;
                    p.last_commit = Some(CommitStatus {
                        position: position.clone(),
                        acknowledged: *acknowledged,
                        at: unix_now(),
                    });
                }
            }
            Event::EmbeddedCluster { bootstrap } => b.embedded = Some(bootstrap.clone()),
            Event::PipelineStarting { pipeline, file } => {
                b.files.remove(file);
                let p = b
                    .pipelines
                    .entry(pipeline.clone())
                    .or_insert_with(|| PipelineStatus::new(pipeline, file));
                p.file.clone_from(file);
                p.set_state(PipelineState::Starting, None);
            }
            Event::PipelineRunning {
                pipeline,
                file,
                plugins,
                brokers,
                embedded,
                topic,
                acks,
                errors,
                guarantee,
                resumed_from,
            } => {
                b.files.remove(file);
                let p = b
                    .pipelines
                    .entry(pipeline.clone())
                    .or_insert_with(|| PipelineStatus::new(pipeline, file));
                p.file.clone_from(file);
                p.plugins = plugin_statuses(plugins);
                p.brokers = Some(brokers.clone());
                p.embedded = *embedded;
                p.topic = Some(topic.clone());
                p.acks = Some(acks.clone());
                p.errors = Some(errors.clone());
                p.guarantee = Some(guarantee.clone());
                p.resumed_from.clone_from(resumed_from);
                p.set_state(PipelineState::Running, None);
            }
            Event::PipelineNotStarted {
                pipeline,
                file,
                error,
            } => {
                let p = b
                    .pipelines
                    .entry(pipeline.clone())
                    .or_insert_with(|| PipelineStatus::new(pipeline, file));
                p.error("pipeline", error);
                p.set_state(
                    PipelineState::Stopped,
                    Some(format!("not started: {error}")),
                );
                p.stop_reason = Some(StopReason::Failed);
            }
            Event::PipelineState {
                pipeline,
                state,
                reason,
            } => {
                if let Some(p) = b.pipelines.get_mut(pipeline) {
                    p.set_state(*state, reason.clone());
                }
            }
            Event::PipelineStopped {
                pipeline,
                reason,
                position,
                error,
                ..
            } => {
                if let Some(p) = b.pipelines.get_mut(pipeline) {
                    if let Some(e) = error {
                        p.error("pipeline", e);
                    }
                    let why = match (reason, error) {
                        (StopReason::Failed, Some(e)) => Some(format!("failed: {e}")),
                        (StopReason::Failed, None) => Some("failed".into()),
                        (StopReason::Stopped, _) => Some("stopped".into()),
                        (StopReason::Finished, _) => None,
                    };
                    p.set_state(PipelineState::Stopped, why);
                    p.stop_reason = Some(*reason);
                    p.counters.in_flight = 0;
                    p.counters.producer_queue = 0;
                    if let Some(pos) = position
                        && p.last_commit.as_ref().is_none_or(|c| &c.position != pos)
                    {
                        p.last_commit = Some(CommitStatus {
                            position: pos.clone(),
                            acknowledged: p.last_commit.as_ref().map_or(0, |c| c.acknowledged),
                            at: unix_now(),
                        });
                    }
                }
            }
            Event::Progress { .. } => {}
            Event::Reload {
                pipeline,
                stage,
                plugin,
                old_digest,
                new_digest,
                outcome,
                reason,
                pause_micros,
                ..
            } => {
                if let Some(p) = b.pipelines.get_mut(pipeline) {
                    p.last_reload = Some(ReloadStatus {
                        stage: *stage,
                        plugin: plugin.clone(),
                        outcome: *outcome,
                        old_digest: old_digest.clone(),
                        new_digest: new_digest.clone(),
                        reason: reason.clone(),
                        pause_micros: *pause_micros,
                        at: unix_now(),
                    });
                    match outcome {
                        ReloadOutcome::Ok => {
                            p.counters.reloads_ok += 1;
                            if let Some(ps) = p.plugin_mut(*stage) {
                                ps.digest.clone_from(new_digest);
                                ps.quarantined = false;
                            }
                            // The swap replaced the quarantined plugin: the
                            // pipeline moves records again.
                            if matches!(
                                p.state,
                                PipelineState::Quarantined | PipelineState::Reloading
                            ) && !p.plugins.iter().any(|ps| ps.quarantined)
                            {
                                p.set_state(PipelineState::Running, None);
                            }
                        }
                        ReloadOutcome::Failed => {
                            p.counters.reloads_failed += 1;
                            p.error(
                                stage.to_string(),
                                reason.as_deref().unwrap_or("reload failed"),
                            );
                        }
                        ReloadOutcome::RolledBack => {
                            p.counters.reloads_rolled_back += 1;
                            p.error(
                                stage.to_string(),
                                reason.as_deref().unwrap_or("new version rolled back"),
                            );
                        }
                    }
                }
            }
            Event::Quarantined {
                pipeline,
                stage,
                plugin,
                error,
            } => {
                if let Some(p) = b.pipelines.get_mut(pipeline) {
                    if let Some(ps) = p.plugin_mut(*stage) {
                        ps.quarantined = true;
                    }
                    p.error(stage.to_string(), error);
                    p.set_state(
                        PipelineState::Quarantined,
                        Some(format!("{stage} ({plugin}) quarantined: {error}")),
                    );
                }
            }
            Event::PluginFailure {
                pipeline,
                stage,
                kind,
                error,
                ..
            } => {
                if let Some(p) = b.pipelines.get_mut(pipeline) {
                    p.counters.plugin_failures += 1;
                    if let Some(ps) = p.plugin_mut(*stage) {
                        ps.last_failure = Some(PluginFailureStatus {
                            kind: kind.clone(),
                            error: error.clone(),
                            at: unix_now(),
                        });
                    }
                    p.error(stage.to_string(), error);
                }
            }
            Event::ProducerRebuilt {
                pipeline, error, ..
            } => {
                if let Some(p) = b.pipelines.get_mut(pipeline) {
                    p.counters.producer_rebuilds += 1;
                    p.error("producer", error);
                }
            }
            Event::PipelineChanged { .. } => {}
            Event::PipelineRemoved { pipeline, .. } => {
                b.pipelines.remove(pipeline);
            }
            Event::PipelineFileInvalid {
                file,
                error,
                running_kept,
                ..
            } => {
                b.files.insert(
                    file.clone(),
                    FileProblem {
                        file: file.clone(),
                        error: error.clone(),
                        running_kept: *running_kept,
                        at: unix_now(),
                    },
                );
            }
            Event::Warning {
                pipeline,
                kind,
                message,
            } => {
                if let Some(p) = pipeline.as_ref().and_then(|n| b.pipelines.get_mut(n)) {
                    if p.warnings.len() >= KEPT_WARNINGS {
                        p.warnings.remove(0);
                    }
                    p.warnings.push(WarningStatus {
                        kind: *kind,
                        message: message.clone(),
                        at: unix_now(),
                    });
                }
            }
            Event::ShutdownRequested { .. } => b.shutting_down = true,
            Event::AllStopped { .. }
            | Event::Rebalance { .. }
            | Event::IngestListening { .. }
            | Event::IngestRequest { .. } => {}
            Event::HttpListening { address } => b.http = Some(address.clone()),
            Event::KafkaClientError { code, error, .. } => {
                b.last_kafka_error = Some(ErrorStatus {
                    origin: code.clone(),
                    message: error.clone(),
                    at: unix_now(),
                });
            }
        }
    }
}
