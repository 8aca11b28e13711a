//! The Prometheus registry behind `/metrics`, kept up to date from the event
//! stream.
//!
//! [`Metrics`] is a [`Subscriber`]: it runs on the publishing thread (a
//! pipeline's data path, the supervisor), so each event costs a short mutex
//! and a few atomic adds. Label sets are bounded and never hold record keys
//! or config values: `pipeline`, `stage`, `plugin` (the file name), `acks`,
//! `kind`, `outcome`, `state`, `code`. Handles for a pipeline's series are
//! created once (when it starts running) so a batch does no allocation and
//! no label hashing.
//!
//! The README's metrics table documents every family registered here; a
//! unit test checks that the two agree.
//!
//! Long because it is the registry: one declaration, help text and update
//! per metric family, kept in one place so the names, labels and README
//! table are checked against each other.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use super::BuildInfo;
use super::process::ProcessCollector;
use crate::events::{
    ACK_LATENCY_BUCKETS, BatchReport, DeliveryReport, Event, PipelineState, PluginInfo,
    ReloadOutcome, StageId, Subscriber, WarningKind,
};

/// Upper bounds (seconds) of the plugin call-duration buckets.
const CALL_BUCKETS: [f64; 14] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25,
];

/// Upper bounds (seconds) of the reload swap-pause buckets.
const PAUSE_BUCKETS: [f64; 12] = [
    0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// Every state a pipeline can be in, for `sluice_pipeline_state`.
const STATES: [PipelineState; 7] = [
    PipelineState::Starting,
    PipelineState::Running,
    PipelineState::Reloading,
    PipelineState::Quarantined,
    PipelineState::BrokerUnreachable,
    PipelineState::Stopping,
    PipelineState::Stopped,
];

/// The plugin failure kinds the data path reports; anything else is `other`,
/// so the label set stays bounded whatever text arrives.
const FAILURE_KINDS: [&str; 11] = [
    "trap",
    "memory",
    "deadline",
    "starved",
    "fuel",
    "stack_overflow",
    "exit",
    "bad_output",
    "quarantined",
    "call",
    "load",
];

/// The label value of a pipeline state (the same words as `/status`).
pub fn state_label(state: PipelineState) -> &'static str {
    match state {
        PipelineState::Starting => "starting",
        PipelineState::Running => "running",
        PipelineState::Reloading => "reloading",
        PipelineState::Quarantined => "quarantined",
        PipelineState::BrokerUnreachable => "broker_unreachable",
        PipelineState::Stopping => "stopping",
        PipelineState::Stopped => "stopped",
    }
}

fn warning_label(kind: WarningKind) -> &'static str {
    match kind {
        WarningKind::WeakDurability => "weak_durability",
        WarningKind::UnwritableTopic => "unwritable_topic",
        WarningKind::NotWatched => "not_watched",
        WarningKind::TopicUnreadable => "topic_unreadable",
        WarningKind::Other => "other",
    }
}

fn outcome_label(outcome: ReloadOutcome) -> &'static str {
    match outcome {
        ReloadOutcome::Ok => "ok",
        ReloadOutcome::Failed => "failed",
        ReloadOutcome::RolledBack => "rolled_back",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PipelineLabels {
    pipeline: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    pipeline: String,
    stage: String,
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AcksLabels {
    pipeline: String,
    acks: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    pipeline: String,
    stage: String,
    plugin: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    pipeline: String,
    stage: String,
    plugin: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    pipeline: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WarningLabels {
    pipeline: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestStatusLabels {
    pipeline: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestReasonLabels {
    pipeline: String,
    reason: String,
}

/// A histogram fed with counts already bucketed by the data path (the sink
/// sums acknowledgement latencies per commit interval into
/// [`ACK_LATENCY_BUCKETS`]), so nothing is observed per record here.
#[derive(Debug, Clone, Default)]
pub struct BucketedHistogram {
    inner: Arc<Mutex<BucketedInner>>,
}

#[derive(Debug, Default)]
struct BucketedInner {
    /// Count per bucket of [`ACK_LATENCY_BUCKETS`], then +Inf.
    counts: [u64; ACK_LATENCY_BUCKETS.len() + 1],
    sum: f64,
}

impl BucketedHistogram {
    /// Adds `counts` (per bucket, last +Inf; a longer list folds into +Inf)
    /// and their `sum`.
    pub fn add(&self, counts: &[u64], sum: f64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let last = inner.counts.len() - 1;
        for (i, c) in counts.iter().enumerate() {
            inner.counts[i.min(last)] += c;
        }
        if sum.is_finite() && sum > 0.0 {
            inner.sum += sum;
        }
    }

    /// Total observations.
    pub fn count(&self) -> u64 {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.counts.iter().sum()
    }
}

impl TypedMetric for BucketedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for BucketedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (buckets, sum, count) = {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let buckets: Vec<(f64, u64)> = ACK_LATENCY_BUCKETS
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(inner.counts.iter().copied())
                .collect();
            (buckets, inner.sum, inner.counts.iter().sum())
        };
        encoder
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn call_histogram() -> Histogram {
    Histogram::new(CALL_BUCKETS)
}

fn pause_histogram() -> Histogram {
    Histogram::new(PAUSE_BUCKETS)
}

/// Every metric family, by name.
struct Families {
    records_polled: Family<PipelineLabels, Counter>,
    records_sent: Family<PipelineLabels, Counter>,
    bytes_sent: Family<PipelineLabels, Counter>,
    records_skipped: Family<PipelineLabels, Counter>,
    records_dead_lettered: Family<PipelineLabels, Counter>,
    batches: Family<PipelineLabels, Counter>,
    stage_records_in: Family<StageLabels, Counter>,
    stage_records_out: Family<StageLabels, Counter>,
    stage_records_filtered: Family<StageLabels, Counter>,
    stage_records_rejected: Family<StageLabels, Counter>,
    stage_bytes_out: Family<StageLabels, Counter>,
    stage_batches: Family<StageLabels, Counter>,
    plugin_call_duration: HistogramFamily<StageLabels>,
    plugin_failures: Family<FailureLabels, Counter>,
    plugin_quarantined: Family<StageLabels, Gauge>,
    quarantines: Family<StageLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    reload_pause: HistogramFamily<PipelineLabels>,
    records_acknowledged: Family<AcksLabels, Counter>,
    records_failed: Family<AcksLabels, Counter>,
    ack_latency: Family<AcksLabels, BucketedHistogram>,
    records_in_flight: Family<PipelineLabels, Gauge>,
    producer_queue: Family<PipelineLabels, Gauge>,
    commits: Family<PipelineLabels, Counter>,
    commit_lag: Family<PipelineLabels, Gauge>,
    last_commit: Family<PipelineLabels, Gauge<f64, AtomicU64>>,
    pipeline_state: Family<StateLabels, Gauge>,
    pipeline_start_failures: Family<PipelineLabels, Counter>,
    pipeline_file_errors: Counter,
    producer_rebuilds: Family<PipelineLabels, Counter>,
    kafka_client_errors: Family<CodeLabels, Counter>,
    warnings: Family<WarningLabels, Counter>,
    ingest_requests: Family<IngestStatusLabels, Counter>,
    ingest_errors: Family<IngestReasonLabels, Counter>,
    ingest_rejected_lines: Family<IngestReasonLabels, Counter>,
}

/// Names, help texts and types of every family (the README's table must
/// list exactly these).
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "sluice_build_info",
        "gauge",
        "Always 1; labels say which version, plugin contract, wasmtime and librdkafka this binary has.",
    ),
    (
        "sluice_records_polled_total",
        "counter",
        "Records the source returned.",
    ),
    (
        "sluice_records_sent_total",
        "counter",
        "Records handed to the Kafka producer (sink topic and overrides).",
    ),
    (
        "sluice_bytes_sent_total",
        "counter",
        "Key, value and header bytes handed to the Kafka producer.",
    ),
    (
        "sluice_records_skipped_total",
        "counter",
        "Records dropped under `errors: skip`.",
    ),
    (
        "sluice_records_dead_lettered_total",
        "counter",
        "Records sent to the dead-letter topic.",
    ),
    (
        "sluice_batches_total",
        "counter",
        "Batches that went through the pipeline.",
    ),
    (
        "sluice_stage_records_in_total",
        "counter",
        "Records handed to a stage.",
    ),
    (
        "sluice_stage_records_out_total",
        "counter",
        "Records a stage returned.",
    ),
    (
        "sluice_stage_records_filtered_total",
        "counter",
        "Inputs a stage dropped on purpose (emitted nothing).",
    ),
    (
        "sluice_stage_records_rejected_total",
        "counter",
        "Inputs a stage rejected (routed by the error policy).",
    ),
    (
        "sluice_stage_bytes_out_total",
        "counter",
        "Key, value and header bytes a stage returned.",
    ),
    (
        "sluice_stage_batches_total",
        "counter",
        "Batches a stage processed.",
    ),
    (
        "sluice_plugin_call_duration_seconds",
        "histogram",
        "Time spent in one plugin call (one batch).",
    ),
    (
        "sluice_plugin_failures_total",
        "counter",
        "Plugin calls that trapped or broke a limit, by kind (trap, memory, deadline, fuel, output, bad_output, quarantined, call, other).",
    ),
    (
        "sluice_plugin_quarantined",
        "gauge",
        "1 while the plugin is quarantined (not called until a reload replaces it).",
    ),
    (
        "sluice_plugin_quarantines_total",
        "counter",
        "Times the plugin was quarantined.",
    ),
    (
        "sluice_reloads_total",
        "counter",
        "Plugin reload attempts, by outcome (ok, failed, rolled_back).",
    ),
    (
        "sluice_reload_pause_seconds",
        "histogram",
        "How long the data path stood still for a plugin swap.",
    ),
    (
        "sluice_records_acknowledged_total",
        "counter",
        "Records Kafka acknowledged, per acks policy.",
    ),
    (
        "sluice_records_failed_total",
        "counter",
        "Records Kafka refused for good, per acks policy.",
    ),
    (
        "sluice_ack_latency_seconds",
        "histogram",
        "Time from handing a record to the producer to its acknowledgement, per acks policy.",
    ),
    (
        "sluice_records_in_flight",
        "gauge",
        "Records sent and not yet acknowledged.",
    ),
    (
        "sluice_producer_queue_messages",
        "gauge",
        "Messages waiting in the producer's queue.",
    ),
    (
        "sluice_positions_committed_total",
        "counter",
        "Source positions committed (after every record before them was acknowledged).",
    ),
    (
        "sluice_commit_lag_records",
        "gauge",
        "Records acknowledged since the last committed position (replayed after a crash).",
    ),
    (
        "sluice_last_commit_timestamp_seconds",
        "gauge",
        "Unix time of the last committed position.",
    ),
    (
        "sluice_pipeline_state",
        "gauge",
        "1 for the state the pipeline is in, 0 for the others.",
    ),
    (
        "sluice_pipeline_start_failures_total",
        "counter",
        "Times a pipeline could not be built.",
    ),
    (
        "sluice_pipeline_file_errors_total",
        "counter",
        "Pipeline files that could not be (re)loaded.",
    ),
    (
        "sluice_producer_rebuilds_total",
        "counter",
        "Producers rebuilt after a fatal librdkafka error.",
    ),
    (
        "sluice_kafka_client_errors_total",
        "counter",
        "Client-level errors librdkafka reported, by error code.",
    ),
    (
        "sluice_ingest_requests_total",
        "counter",
        "HTTP ingest requests answered, by status code.",
    ),
    (
        "sluice_ingest_errors_total",
        "counter",
        "HTTP ingest requests (and refused connections) that went wrong, by reason.",
    ),
    (
        "sluice_ingest_rejected_lines_total",
        "counter",
        "HTTP ingest lines rejected, by reason (malformed_json, invalid_utf8, line_too_large, transform, sink).",
    ),
    (
        "sluice_warnings_total",
        "counter",
        "Warnings users should act on, by kind.",
    ),
    (
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    ),
    (
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
    ),
    (
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
    ),
    (
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
    ),
    (
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
    ),
    ("process_threads", "gauge", "Number of OS threads."),
    (
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    ),
];

/// The help text registered for `name` (as exposed, with `_total`/`_info`).
fn help(name: &str) -> &'static str {
    FAMILIES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, h)| *h)
        .unwrap_or("")
}

/// Registers `metric` under its exposed `name` (counters lose `_total`,
/// infos lose `_info`: the encoder adds them back).
fn register<M>(registry: &mut Registry, name: &str, metric: M)
where
    M: EncodeMetric + Send + Sync + std::fmt::Debug + 'static,
{
    let base = name
        .strip_suffix("_total")
        .or_else(|| name.strip_suffix("_info"))
        .unwrap_or(name);
    // The registry ends every help text with a period of its own.
    registry.register(base, help(name).trim_end_matches('.'), metric);
}

/// Handles of one stage's series.
struct StageHandles {
    stage: StageId,
    labels: StageLabels,
    records_in: Counter,
    records_out: Counter,
    filtered: Counter,
    rejected: Counter,
    bytes_out: Counter,
    batches: Counter,
    call: Histogram,
}

/// Handles of one pipeline's series, made once per run.
struct PipelineHandles {
    polled: Counter,
    sent: Counter,
    bytes: Counter,
    skipped: Counter,
    dead_lettered: Counter,
    batches: Counter,
    stages: Vec<StageHandles>,
    acknowledged: Counter,
    failed: Counter,
    latency: BucketedHistogram,
    in_flight: Gauge,
    queue: Gauge,
    commits: Counter,
    commit_lag: Gauge,
    last_commit: Gauge<f64, AtomicU64>,
    /// Records acknowledged in this run (Commit events count from the run's start).
    acknowledged_in_run: u64,
}

/// The registry and what keeps it current. Subscribe it to the event stream.
pub struct Metrics {
    registry: Registry,
    families: Families,
    pipelines: Mutex<HashMap<String, PipelineHandles>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry with every family (and the build info) registered.
    pub fn new(build: &BuildInfo) -> Self {
        let mut registry = Registry::default();
        let families = Families {
            records_polled: Family::default(),
            records_sent: Family::default(),
            bytes_sent: Family::default(),
            records_skipped: Family::default(),
            records_dead_lettered: Family::default(),
            batches: Family::default(),
            stage_records_in: Family::default(),
            stage_records_out: Family::default(),
            stage_records_filtered: Family::default(),
            stage_records_rejected: Family::default(),
            stage_bytes_out: Family::default(),
            stage_batches: Family::default(),
            plugin_call_duration: Family::new_with_constructor(call_histogram),
            plugin_failures: Family::default(),
            plugin_quarantined: Family::default(),
            quarantines: Family::default(),
            reloads: Family::default(),
            reload_pause: Family::new_with_constructor(pause_histogram),
            records_acknowledged: Family::default(),
            records_failed: Family::default(),
            ack_latency: Family::default(),
            records_in_flight: Family::default(),
            producer_queue: Family::default(),
            commits: Family::default(),
            commit_lag: Family::default(),
            last_commit: Family::default(),
            pipeline_state: Family::default(),
            pipeline_start_failures: Family::default(),
            pipeline_file_errors: Counter::default(),
            producer_rebuilds: Family::default(),
            kafka_client_errors: Family::default(),
            warnings: Family::default(),
            ingest_requests: Family::default(),
            ingest_errors: Family::default(),
            ingest_rejected_lines: Family::default(),
        };
        let info = Info::new(vec![
            ("version".to_string(), build.version.clone()),
            ("contract".to_string(), build.contract.clone()),
            ("wasmtime".to_string(), build.wasmtime.clone()),
            ("librdkafka".to_string(), build.librdkafka.clone()),
        ]);
        register(&mut registry, "sluice_build_info", info);
        let f = &families;
        let r = &mut registry;
        register(r, "sluice_records_polled_total", f.records_polled.clone());
        register(r, "sluice_records_sent_total", f.records_sent.clone());
        register(r, "sluice_bytes_sent_total", f.bytes_sent.clone());
        register(r, "sluice_records_skipped_total", f.records_skipped.clone());
        register(
            r,
            "sluice_records_dead_lettered_total",
            f.records_dead_lettered.clone(),
        );
        register(r, "sluice_batches_total", f.batches.clone());
        register(
            r,
            "sluice_stage_records_in_total",
            f.stage_records_in.clone(),
        );
        register(
            r,
            "sluice_stage_records_out_total",
            f.stage_records_out.clone(),
        );
        register(
            r,
            "sluice_stage_records_filtered_total",
            f.stage_records_filtered.clone(),
        );
        register(
            r,
            "sluice_stage_records_rejected_total",
            f.stage_records_rejected.clone(),
        );
        register(r, "sluice_stage_bytes_out_total", f.stage_bytes_out.clone());
        register(r, "sluice_stage_batches_total", f.stage_batches.clone());
        register(
            r,
            "sluice_plugin_call_duration_seconds",
            f.plugin_call_duration.clone(),
        );
        register(r, "sluice_plugin_failures_total", f.plugin_failures.clone());
        register(r, "sluice_plugin_quarantined", f.plugin_quarantined.clone());
        register(r, "sluice_plugin_quarantines_total", f.quarantines.clone());
        register(r, "sluice_reloads_total", f.reloads.clone());
        register(r, "sluice_reload_pause_seconds", f.reload_pause.clone());
        register(
            r,
            "sluice_records_acknowledged_total",
            f.records_acknowledged.clone(),
        );
        register(r, "sluice_records_failed_total", f.records_failed.clone());
        register(r, "sluice_ack_latency_seconds", f.ack_latency.clone());
        register(r, "sluice_records_in_flight", f.records_in_flight.clone());
        register(
            r,
            "sluice_producer_queue_messages",
            f.producer_queue.clone(),
        );
        register(r, "sluice_positions_committed_total", f.commits.clone());
        register(r, "sluice_commit_lag_records", f.commit_lag.clone());
        register(
            r,
            "sluice_last_commit_timestamp_seconds",
            f.last_commit.clone(),
        );
        register(r, "sluice_pipeline_state", f.pipeline_state.clone());
        register(
            r,
            "sluice_pipeline_start_failures_total",
            f.pipeline_start_failures.clone(),
        );
        register(
            r,
            "sluice_pipeline_file_errors_total",
            f.pipeline_file_errors.clone(),
        );
        register(
            r,
            "sluice_producer_rebuilds_total",
            f.producer_rebuilds.clone(),
        );
        register(
            r,
            "sluice_kafka_client_errors_total",
            f.kafka_client_errors.clone(),
        );
        register(r, "sluice_warnings_total", f.warnings.clone());
        register(r, "sluice_ingest_requests_total", f.ingest_requests.clone());
        register(r, "sluice_ingest_errors_total", f.ingest_errors.clone());
        register(
            r,
            "sluice_ingest_rejected_lines_total",
            f.ingest_rejected_lines.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector::new()));
        Metrics {
            registry,
            families,
            pipelines: Mutex::new(HashMap::new()),
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// The `Content-Type` of [`Metrics::encode`]'s output.
    pub const CONTENT_TYPE: &'static str =
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

    fn handles(&self, pipeline: &str, acks: &str, plugins: &[PluginInfo]) -> PipelineHandles {
        let f = &self.families;
        let p = PipelineLabels {
            pipeline: pipeline.to_string(),
        };
        let a = AcksLabels {
            pipeline: pipeline.to_string(),
            acks: acks.to_string(),
        };
        let stages = plugins
            .iter()
            .map(|info| self.stage_handles(pipeline, info.stage, &info.plugin))
            .collect();
        PipelineHandles {
            polled: f.records_polled.get_or_create_owned(&p),
            sent: f.records_sent.get_or_create_owned(&p),
            bytes: f.bytes_sent.get_or_create_owned(&p),
            skipped: f.records_skipped.get_or_create_owned(&p),
            dead_lettered: f.records_dead_lettered.get_or_create_owned(&p),
            batches: f.batches.get_or_create_owned(&p),
            stages,
            acknowledged: f.records_acknowledged.get_or_create_owned(&a),
            failed: f.records_failed.get_or_create_owned(&a),
            latency: f.ack_latency.get_or_create_owned(&a),
            in_flight: f.records_in_flight.get_or_create_owned(&p),
            queue: f.producer_queue.get_or_create_owned(&p),
            commits: f.commits.get_or_create_owned(&p),
            commit_lag: f.commit_lag.get_or_create_owned(&p),
            last_commit: f.last_commit.get_or_create_owned(&p),
            acknowledged_in_run: 0,
        }
    }

    fn stage_handles(&self, pipeline: &str, stage: StageId, plugin: &str) -> StageHandles {
        let f = &self.families;
        let labels = StageLabels {
            pipeline: pipeline.to_string(),
            stage: stage.to_string(),
            plugin: plugin.to_string(),
        };
        StageHandles {
            stage,
            records_in: f.stage_records_in.get_or_create_owned(&labels),
            records_out: f.stage_records_out.get_or_create_owned(&labels),
            filtered: f.stage_records_filtered.get_or_create_owned(&labels),
            rejected: f.stage_records_rejected.get_or_create_owned(&labels),
            bytes_out: f.stage_bytes_out.get_or_create_owned(&labels),
            batches: f.stage_batches.get_or_create_owned(&labels),
            call: f.plugin_call_duration.get_or_create_owned(&labels),
            labels,
        }
    }

    /// Runs `f` on `pipeline`'s handles, making them first (with an unknown
    /// acks policy and no plugins) if it has not been seen running.
    fn with_pipeline(&self, pipeline: &str, f: impl FnOnce(&Self, &mut PipelineHandles)) {
        let mut pipelines = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if !pipelines.contains_key(pipeline) {
            let h = self.handles(pipeline, "unknown", &[]);
            pipelines.insert(pipeline.to_string(), h);
        }
        if let Some(h) = pipelines.get_mut(pipeline) {
            f(self, h);
        }
    }

    fn set_state(&self, pipeline: &str, state: PipelineState) {
        for s in STATES {
            let labels = StateLabels {
                pipeline: pipeline.to_string(),
                state: state_label(s).to_string(),
            };
            self.families
                .pipeline_state
                .get_or_create(&labels)
                .set(i64::from(s == state));
        }
    }

    /// The stage's labels: from the running pipeline's plugins when known.
    fn stage_labels(&self, pipeline: &str, stage: StageId, plugin: &str) -> StageLabels {
        StageLabels {
            pipeline: pipeline.to_string(),
            stage: stage.to_string(),
            plugin: plugin.to_string(),
        }
    }

    fn batch(&self, pipeline: &str, report: &BatchReport) {
        self.with_pipeline(pipeline, |this, h| {
            h.polled.inc_by(report.polled);
            h.sent.inc_by(report.sent);
            h.bytes.inc_by(report.bytes);
            h.skipped.inc_by(report.skipped);
            h.dead_lettered.inc_by(report.dead_lettered);
            h.batches.inc();
            for counts in &report.stages {
                let index = match h.stages.iter().position(|s| s.stage == counts.stage) {
                    Some(i) => i,
                    None => {
                        h.stages
                            .push(this.stage_handles(pipeline, counts.stage, "unknown"));
                        h.stages.len() - 1
                    }
                };
                let s = &h.stages[index];
                s.records_in.inc_by(counts.records_in);
                s.records_out.inc_by(counts.records_out);
                s.filtered.inc_by(counts.filtered);
                s.rejected.inc_by(counts.rejected);
                s.bytes_out.inc_by(counts.bytes_out);
                s.batches.inc();
                if counts.stage != StageId::Sink {
                    s.call.observe(counts.call_micros as f64 / 1e6);
                }
            }
        });
    }

    fn delivery(&self, pipeline: &str, report: &DeliveryReport) {
        self.with_pipeline(pipeline, |_, h| {
            h.acknowledged.inc_by(report.acknowledged);
            h.failed.inc_by(report.failed);
            h.latency
                .add(&report.latency_counts, report.latency_sum_seconds);
            h.in_flight
                .set(i64::try_from(report.in_flight).unwrap_or(i64::MAX));
            h.queue
                .set(i64::try_from(report.producer_queue).unwrap_or(i64::MAX));
            h.acknowledged_in_run = h.acknowledged_in_run.saturating_add(report.acknowledged);
        });
    }

    fn commit(&self, pipeline: &str, acknowledged: u64) {
        self.with_pipeline(pipeline, |_, h| {
            h.commits.inc();
            // Deliveries are reported once per commit interval, so the count
            // since the run's start may lag the commit's own count: never below 0.
            let lag = h.acknowledged_in_run.saturating_sub(acknowledged);
            h.commit_lag.set(i64::try_from(lag).unwrap_or(i64::MAX));
            h.last_commit.set(super::unix_now());
        });
    }
}

impl Subscriber for Metrics {
    fn on_event(&self, event: &Event) {
        let f = &self.families;
        match event {
            Event::Batch { pipeline, report } => self.batch(pipeline, report),
            Event::Delivery { pipeline, report } => self.delivery(pipeline, report),
            Event::Commit {
                pipeline,
                acknowledged,
                ..
            } => self.commit(pipeline, *acknowledged),
            Event::PipelineStarting { pipeline, .. } => {
                self.set_state(pipeline, PipelineState::Starting);
            }
            Event::PipelineRunning {
                pipeline,
                plugins,
                acks,
                ..
            } => {
                let h = self.handles(pipeline, acks, plugins);
                for s in &h.stages {
                    f.plugin_quarantined.get_or_create(&s.labels).set(0);
                }
                self.pipelines
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(pipeline.clone(), h);
                self.set_state(pipeline, PipelineState::Running);
            }
            Event::PipelineNotStarted { pipeline, .. } => {
                f.pipeline_start_failures
                    .get_or_create(&PipelineLabels {
                        pipeline: pipeline.clone(),
                    })
                    .inc();
                self.set_state(pipeline, PipelineState::Stopped);
            }
            Event::PipelineState {
                pipeline, state, ..
            } => self.set_state(pipeline, *state),
            Event::PipelineStopped { pipeline, .. } => {
                self.with_pipeline(pipeline, |_, h| {
                    h.in_flight.set(0);
                    h.queue.set(0);
                });
                self.set_state(pipeline, PipelineState::Stopped);
            }
            Event::Reload {
                pipeline,
                stage,
                plugin,
                outcome,
                pause_micros,
                ..
            } => {
                let labels = ReloadLabels {
                    pipeline: pipeline.clone(),
                    stage: stage.to_string(),
                    plugin: plugin.clone(),
                    outcome: outcome_label(*outcome).to_string(),
                };
                f.reloads.get_or_create(&labels).inc();
                if *outcome == ReloadOutcome::Ok {
                    f.plugin_quarantined
                        .get_or_create(&self.stage_labels(pipeline, *stage, plugin))
                        .set(0);
                    if let Some(us) = pause_micros {
                        f.reload_pause
                            .get_or_create(&PipelineLabels {
                                pipeline: pipeline.clone(),
                            })
                            .observe(*us as f64 / 1e6);
                    }
                }
            }
            Event::Quarantined {
                pipeline,
                stage,
                plugin,
                ..
            } => {
                let labels = self.stage_labels(pipeline, *stage, plugin);
                f.plugin_quarantined.get_or_create(&labels).set(1);
                f.quarantines.get_or_create(&labels).inc();
            }
            Event::PluginFailure {
                pipeline,
                stage,
                plugin,
                kind,
                ..
            } => {
                let kind = FAILURE_KINDS
                    .iter()
                    .find(|k| **k == kind.as_str())
                    .copied()
                    .unwrap_or("other");
                f.plugin_failures
                    .get_or_create(&FailureLabels {
                        pipeline: pipeline.clone(),
                        stage: stage.to_string(),
                        plugin: plugin.clone(),
                        kind: kind.to_string(),
                    })
                    .inc();
            }
            Event::ProducerRebuilt { pipeline, .. } => {
                f.producer_rebuilds
                    .get_or_create(&PipelineLabels {
                        pipeline: pipeline.clone(),
                    })
                    .inc();
            }
            Event::PipelineFileInvalid { .. } => {
                f.pipeline_file_errors.inc();
            }
            Event::Warning { pipeline, kind, .. } => {
                f.warnings
                    .get_or_create(&WarningLabels {
                        pipeline: pipeline.clone().unwrap_or_default(),
                        kind: warning_label(*kind).to_string(),
                    })
                    .inc();
            }
            Event::Rebalance { .. } => {}
            Event::KafkaClientError { code, .. } => {
                f.kafka_client_errors
                    .get_or_create(&CodeLabels { code: code.clone() })
                    .inc();
            }
            Event::PipelineRemoved { pipeline, .. } => {
                // Its series stay (counters must not go backwards while
                // Prometheus may still scrape them); only the state is cleared.
                for s in STATES {
                    f.pipeline_state.remove(&StateLabels {
                        pipeline: pipeline.clone(),
                        state: state_label(s).to_string(),
                    });
                }
                self.pipelines
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(pipeline.as_str());
            }
            Event::IngestRequest {
                pipeline,
                status,
                reason,
                rejected,
                ..
            } => {
                f.ingest_requests
                    .get_or_create(&IngestStatusLabels {
                        pipeline: pipeline.to_string(),
                        status: status.to_string(),
                    })
                    .inc();
                if let Some(reason) = reason {
                    f.ingest_errors
                        .get_or_create(&IngestReasonLabels {
                            pipeline: pipeline.to_string(),
                            reason: reason.clone(),
                        })
                        .inc();
                }
                for (reason, n) in rejected {
                    f.ingest_rejected_lines
                        .get_or_create(&IngestReasonLabels {
                            pipeline: pipeline.to_string(),
                            reason: reason.clone(),
                        })
                        .inc_by(*n);
                }
            }
            Event::EmbeddedCluster { .. }
            | Event::IngestListening { .. }
            | Event::Progress { .. }
            | Event::PipelineChanged { .. }
            | Event::ShutdownRequested { .. }
            | Event::AllStopped { .. }
            | Event::HttpListening { .. } => {}
        }
    }
}
