//! One typed event stream: everything the host tells the outside world.
//!
//! Every state change (a pipeline started or stopped, a reload, a quarantine,
//! a commit, a warning) and every batch's aggregated counts is an [`Event`].
//! Subscribers turn them into what each reader needs: human lines, JSON Lines
//! (`--events json`), `/status`, Prometheus metrics, and the integration
//! tests. Nothing downstream parses human wording, so that wording is free to
//! improve.
//!
//! The data path publishes once per batch (counts already summed), never per
//! record, so observability adds no per-record work.
//!
//! Long because it is the contract: every event and field, documented, in
//! one place (the JSON tests and the telemetry read).

mod render;

use std::sync::{Arc, RwLock};

use serde::Serialize;

pub use render::{EventFormat, Renderer};

/// Where in a pipeline something happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageId {
    /// The source.
    #[default]
    Source,
    /// Transform at this index of the chain (0-based; shown 1-based).
    Transform(usize),
    /// The Kafka sink.
    Sink,
}

impl std::fmt::Display for StageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StageId::Source => f.write_str("source"),
            StageId::Transform(i) => write!(f, "transform {}", i + 1),
            StageId::Sink => f.write_str("sink"),
        }
    }
}

impl Serialize for StageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A plugin as it runs in one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// Which stage.
    pub stage: StageId,
    /// Its label (the file name).
    pub plugin: String,
    /// The file as the pipeline names it.
    pub file: String,
    /// SHA-256 of the component's bytes, hex.
    pub digest: String,
}

/// How a reload attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadOutcome {
    /// The new version runs.
    Ok,
    /// The new version was refused (bad bytes, wrong world, config, trap on
    /// open, drain timed out); the running version keeps running.
    Failed,
    /// The new version failed its first batches and the old one is back.
    RolledBack,
}

/// Why a pipeline's data path ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The source said it has no more records.
    Finished,
    /// Asked to stop (signal, pipeline file removed or changed).
    Stopped,
    /// An error the error policy does not absorb.
    Failed,
}

/// What a pipeline is doing, as `/readyz` and `/status` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineState {
    /// Being built: plugins loading and opening, position being read.
    Starting,
    /// Moving records.
    Running,
    /// A plugin swap is in progress.
    Reloading,
    /// A plugin is quarantined: it is not called until a reload replaces it.
    Quarantined,
    /// The sink cannot reach its brokers or has no metadata for its topic.
    BrokerUnreachable,
    /// Draining and committing before it ends.
    Stopping,
    /// Ended (see [`StopReason`]).
    Stopped,
}

/// Counts of one stage over one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageCounts {
    /// Which stage.
    pub stage: StageId,
    /// Records handed to the stage.
    pub records_in: u64,
    /// Records it returned.
    pub records_out: u64,
    /// Inputs it dropped on purpose (emitted 0).
    pub filtered: u64,
    /// Inputs it rejected (routed by the error policy).
    pub rejected: u64,
    /// Key, value and header bytes it returned.
    pub bytes_out: u64,
    /// Time spent in the plugin call, in microseconds (0 for the sink).
    pub call_micros: u64,
}

/// What one batch did, summed over its records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// Records the source returned.
    pub polled: u64,
    /// Records handed to the producer (sink topic and overrides).
    pub sent: u64,
    /// Key, value and header bytes handed to the producer.
    pub bytes: u64,
    /// Records dropped under `errors: skip`.
    pub skipped: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Per stage, in chain order (source, transforms).
    pub stages: Vec<StageCounts>,
}

/// What the sink saw since its last report (one per commit interval).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeliveryReport {
    /// Records acknowledged since the last report.
    pub acknowledged: u64,
    /// Records Kafka refused for good since the last report.
    pub failed: u64,
    /// Acknowledgement latencies since the last report, in seconds, as
    /// counts per upper bound of [`ACK_LATENCY_BUCKETS`] (last: +Inf).
    pub latency_counts: Vec<u64>,
    /// Sum of those latencies, in seconds.
    pub latency_sum_seconds: f64,
    /// Records sent and not yet acknowledged, now.
    pub in_flight: u64,
    /// Messages waiting in the producer's queue, now.
    pub producer_queue: u64,
}

/// Upper bounds (seconds) of the acknowledgement-latency buckets in
/// [`DeliveryReport::latency_counts`]; a last, unbounded bucket follows.
pub const ACK_LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Warnings users should act on, by kind (a bounded set, usable as a label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The topic's replication settings make `acks: all` no stronger than `leader`.
    WeakDurability,
    /// The topic's settings make every write fail.
    UnwritableTopic,
    /// A plugin file is not watched; hot reload is off for it.
    NotWatched,
    /// The topic's durability settings could not be read.
    TopicUnreadable,
    /// Anything else.
    Other,
}

/// Every event, tagged by `event` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The embedded demo cluster started.
    EmbeddedCluster {
        /// Its bootstrap address.
        bootstrap: String,
    },
    /// A pipeline is being built.
    PipelineStarting {
        /// Pipeline name.
        pipeline: String,
        /// Its file.
        file: String,
    },
    /// A pipeline moves records.
    PipelineRunning {
        /// Pipeline name.
        pipeline: String,
        /// Its file.
        file: String,
        /// Plugins in chain order.
        plugins: Vec<PluginInfo>,
        /// Bootstrap servers.
        brokers: String,
        /// Whether `brokers` is the embedded demo cluster.
        embedded: bool,
        /// Sink topic.
        topic: String,
        /// Acks policy (`none`, `leader`, `all`).
        acks: String,
        /// Error policy.
        errors: String,
        /// The effective guarantee, one line.
        guarantee: String,
        /// Position it resumed from (lossy text), if any.
        resumed_from: Option<String>,
    },
    /// A pipeline could not be built (it never ran).
    PipelineNotStarted {
        /// Pipeline name.
        pipeline: String,
        /// Its file.
        file: String,
        /// Why.
        error: String,
    },
    /// A pipeline's state changed (see [`PipelineState`]).
    PipelineState {
        /// Pipeline name.
        pipeline: String,
        /// The new state.
        state: PipelineState,
        /// Why, when it is not plain running.
        reason: Option<String>,
    },
    /// A pipeline's data path ended.
    PipelineStopped {
        /// Pipeline name.
        pipeline: String,
        /// How it ended.
        reason: StopReason,
        /// Records acknowledged in this run.
        acknowledged: u64,
        /// Key and value bytes handed to the producer.
        bytes: u64,
        /// Seconds it ran.
        seconds: f64,
        /// Acknowledgement latency p50 / p99, milliseconds.
        ack_p50_ms: Option<f64>,
        /// See `ack_p50_ms`.
        ack_p99_ms: Option<f64>,
        /// The last committed position (lossy text).
        position: Option<String>,
        /// Records skipped under `errors: skip` in this run.
        skipped: u64,
        /// Records sent to the dead-letter topic in this run.
        dead_lettered: u64,
        /// The error, when it failed.
        error: Option<String>,
    },
    /// One batch went through (not shown as a human line).
    Batch {
        /// Pipeline name.
        pipeline: Arc<str>,
        /// What it did.
        report: BatchReport,
    },
    /// Deliveries since the last report (not shown as a human line).
    Delivery {
        /// Pipeline name.
        pipeline: Arc<str>,
        /// What the sink saw.
        report: DeliveryReport,
    },
    /// A position was committed.
    Commit {
        /// Pipeline name.
        pipeline: String,
        /// The position (lossy text).
        position: String,
        /// Records acknowledged in this run so far.
        acknowledged: u64,
    },
    /// Periodic progress (every `--progress-secs`).
    Progress {
        /// Pipeline name.
        pipeline: String,
        /// Records handed to the producer so far.
        sent: u64,
        /// Records per second since the last progress event.
        rate: u64,
        /// Records skipped so far.
        skipped: u64,
        /// Plugin swaps so far.
        reloads: u64,
        /// Whether a plugin is quarantined.
        quarantined: bool,
    },
    /// A plugin reload attempt ended.
    Reload {
        /// Pipeline name.
        pipeline: String,
        /// Which stage.
        stage: StageId,
        /// Plugin label.
        plugin: String,
        /// The file.
        file: String,
        /// Digest before (running version).
        old_digest: String,
        /// Digest of the new bytes.
        new_digest: String,
        /// How it ended.
        outcome: ReloadOutcome,
        /// Why it failed or rolled back.
        reason: Option<String>,
        /// How long the data path stood still, in microseconds (swaps only).
        pause_micros: Option<u64>,
        /// Where a swapped source resumed (lossy text).
        resumed_from: Option<String>,
    },
    /// A plugin failed too often in a row and is no longer called.
    Quarantined {
        /// Pipeline name.
        pipeline: String,
        /// Which stage.
        stage: StageId,
        /// Plugin label.
        plugin: String,
        /// The last failure.
        error: String,
    },
    /// A plugin call trapped or broke a limit (the instance was discarded).
    PluginFailure {
        /// Pipeline name.
        pipeline: String,
        /// Which stage.
        stage: StageId,
        /// Plugin label.
        plugin: String,
        /// `trap`, `memory`, `deadline`, `starved` (retried), `fuel`, `output`,
        /// `bad_output`, `call`.
        kind: String,
        /// What happened.
        error: String,
    },
    /// The producer hit a fatal error and was rebuilt; the pipeline resends
    /// from its committed position.
    ProducerRebuilt {
        /// Pipeline name.
        pipeline: String,
        /// The fatal error.
        error: String,
        /// Rebuilds in a row so far.
        restarts: u32,
    },
    /// A pipeline file changed and its pipeline is rebuilt.
    PipelineChanged {
        /// Pipeline name.
        pipeline: String,
        /// Its file.
        file: String,
    },
    /// A pipeline file was removed and its pipeline stopped.
    PipelineRemoved {
        /// Pipeline name.
        pipeline: String,
        /// Its former file.
        file: String,
    },
    /// A pipeline file could not be (re)loaded.
    PipelineFileInvalid {
        /// The file.
        file: String,
        /// Every problem, one per line, each with file:line:column.
        error: String,
        /// Whether a version of it keeps running.
        running_kept: bool,
        /// Found when `sluice run` started (not on a later change).
        startup: bool,
    },
    /// Something the user should look at.
    Warning {
        /// Pipeline, when it is about one.
        pipeline: Option<String>,
        /// What kind.
        kind: WarningKind,
        /// What and what to do.
        message: String,
    },
    /// A signal asked the process to stop; pipelines drain and commit.
    ShutdownRequested {
        /// The grace period, seconds.
        grace_secs: u64,
    },
    /// Every pipeline ended.
    AllStopped {
        /// Whether every pipeline ended well.
        ok: bool,
        /// The embedded cluster's address when it keeps serving (until a signal).
        embedded: Option<String>,
    },
    /// The HTTP endpoints (`/healthz`, `/readyz`, `/metrics`, `/status`)
    /// listen here (the bound address, so `--http 127.0.0.1:0` shows the port
    /// it picked).
    HttpListening {
        /// `host:port`.
        address: String,
    },
    /// A pipeline's HTTP ingest source listens here (the bound address, so
    /// `listen: 127.0.0.1:0` shows the port it picked).
    IngestListening {
        /// Pipeline name.
        pipeline: String,
        /// `host:port`.
        address: String,
        /// The path records are posted to.
        path: String,
    },
    /// An HTTP ingest request was answered (or a connection refused): one
    /// event per request, never per record. Counted in
    /// `sluice_ingest_requests_total{status}`, `sluice_ingest_errors_total{reason}`
    /// and `sluice_ingest_rejected_lines_total{reason}`.
    IngestRequest {
        /// Pipeline name.
        pipeline: Arc<str>,
        /// The HTTP status sent (408 for a connection closed because its
        /// headers came too slowly, 503 for one refused over the cap).
        status: u16,
        /// What went wrong, a bounded set: `unauthorized`, `not_ready`,
        /// `back_pressure`, `body_too_large`, `read_timeout`, `empty_body`,
        /// `malformed_body`, `rejected_records`, `stopped`, `timeout`,
        /// `too_many_connections`, `conflict`, `not_found`, `method`.
        reason: Option<String>,
        /// Records accepted.
        accepted: u64,
        /// Lines rejected by why (`malformed_json`, `invalid_utf8`,
        /// `line_too_large`, `transform`, `sink`).
        rejected: Vec<(String, u64)>,
        /// Seconds from the request's arrival to its answer.
        seconds: f64,
    },
    /// A Kafka source's consumer group moved partitions: `assigned` are now
    /// read by this process; `revoked` were drained, committed and released.
    Rebalance {
        /// Pipeline.
        pipeline: String,
        /// Partitions added, as `topic:partition`.
        assigned: Vec<String>,
        /// Partitions released, as `topic:partition`.
        revoked: Vec<String>,
    },
    /// librdkafka reported a client-level error (broker down, all brokers
    /// down, authentication, resolution, ...). Producers are shared by the
    /// pipelines of one cluster and acks policy, so it names the cluster, not
    /// a pipeline. Counted in `sluice_kafka_client_errors_total{code}`.
    KafkaClientError {
        /// Bootstrap servers of the client.
        brokers: String,
        /// librdkafka's error code name (e.g. `AllBrokersDown`): a bounded set.
        code: String,
        /// librdkafka's description.
        error: String,
    },
}

/// Something that reads events.
pub trait Subscriber: Send + Sync {
    /// Called on the publishing thread; must be quick (no I/O that can block
    /// for long, no per-record work).
    fn on_event(&self, event: &Event);
}

/// The process's event stream: publish once, every subscriber sees it in
/// publication order (per publishing thread). Cheap to clone.
#[derive(Clone, Default)]
pub struct Events {
    subscribers: Arc<RwLock<Vec<Arc<dyn Subscriber>>>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    /// A stream with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber.
    pub fn subscribe(&self, subscriber: Arc<dyn Subscriber>) {
        self.subscribers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(subscriber);
    }

    /// Hands `event` to every subscriber.
    pub fn publish(&self, event: Event) {
        for s in self
            .subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            s.on_event(&event);
        }
    }
}

/// Collects events in memory (unit tests).
#[derive(Default)]
pub struct Recorder {
    seen: std::sync::Mutex<Vec<Event>>,
}

impl Recorder {
    /// Everything seen so far.
    pub fn events(&self) -> Vec<Event> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Subscriber for Recorder {
    fn on_event(&self, event: &Event) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    }
}
