//! The pipeline file schema, shared by YAML and TOML.
//!
//! Every field is documented here because this is the reference users read
//! (the README's pipeline reference is generated from the same words).
//! Unknown keys are refused everywhere.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// One pipeline: a source, a chain of transforms and a Kafka sink.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Unique name; used in logs, metrics, the state file and dead-letter headers.
    pub name: String,
    /// Where records come from.
    pub source: PluginSpec,
    /// Applied in order to every record.
    #[serde(default)]
    pub transforms: Vec<PluginSpec>,
    /// Where records go.
    pub sink: SinkSpec,
    /// What happens to a record a transform rejects (default `fail`).
    #[serde(default)]
    pub errors: ErrorPolicy,
    /// Where rejected records go under `errors: dead-letter`.
    pub dead_letter: Option<DeadLetterSpec>,
    /// Where the source position is kept (default: a file in `--state-dir`).
    pub positions: Option<PositionsSpec>,
    /// Most records asked of the source per poll (default 512).
    pub batch_size: Option<u32>,
}

/// Where a pipeline keeps its source position.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PositionsSpec {
    /// A compacted topic on the sink's cluster holding one record per pipeline
    /// (for sidecars without a volume); created compacted if missing.
    pub kafka_topic: String,
}

/// The dead-letter topic of a pipeline.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterSpec {
    /// Topic on the pipeline's cluster that receives rejected records, with
    /// headers naming pipeline, stage, plugin, error, original topic and time.
    pub topic: String,
}

/// A plugin reference: a component file and its configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// Path to the `.wasm` component, relative to the pipeline file.
    pub plugin: String,
    /// Key/value configuration handed to the plugin's `open`.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigValue>,
    /// Resource limits; absent fields keep their safe defaults.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Capabilities beyond the plugin's own memory; none by default.
    #[serde(default)]
    pub grants: GrantsSpec,
}

/// What a plugin may reach, as written in the pipeline file. Everything not
/// listed is denied. A component importing `wasi:filesystem` or
/// `wasi:sockets` is refused at load unless `dirs` or `network` is present
/// (an empty list links the interface with nothing opened or reachable).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GrantsSpec {
    /// Environment variables passed through by name (their values are read
    /// from Sluice's environment; unset ones are left out).
    #[serde(default)]
    pub env: Vec<String>,
    /// Host directories the plugin sees.
    pub dirs: Option<Vec<DirGrantSpec>>,
    /// Outbound TCP destinations, `host:port` each; name lookup works only
    /// for the host names listed here.
    pub network: Option<Vec<String>>,
}

/// A directory granted to a plugin.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirGrantSpec {
    /// Directory on the host, relative to the pipeline file.
    pub host: String,
    /// Where the plugin sees it, e.g. `/data`.
    pub guest: String,
    /// `ro` (default) or `rw`.
    #[serde(default)]
    pub mode: DirModeSpec,
}

/// Access to a granted directory.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DirModeSpec {
    /// Read only.
    #[default]
    Ro,
    /// Read and write.
    Rw,
}

/// Per-plugin resource limits as written in the pipeline file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Largest linear memory in MiB, all memories together (default 256).
    pub memory_mb: Option<u32>,
    /// Deadline of one `process`/`poll` call in milliseconds (default: 80, or
    /// 0.075 per record of the call's batch when that is more).
    pub call_timeout_ms: Option<u64>,
    /// Deadline of `open` in milliseconds (default 10000).
    pub open_timeout_ms: Option<u64>,
    /// Most records one call may return (default 100000).
    pub max_output_records: Option<usize>,
    /// Most bytes one call may return, in MiB (default 64).
    pub max_output_mb: Option<usize>,
    /// Fuel (about one unit per WebAssembly instruction) one `process`/`poll`
    /// call may use (default: no fuel metering). Makes a runaway call stop at
    /// the same point on every machine, for deterministic tests.
    pub fuel: Option<u64>,
    /// Failed calls in a row after which the plugin is quarantined (default 5).
    pub max_consecutive_failures: Option<u32>,
}

/// A configuration value: any scalar, handed to the plugin as text.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ConfigValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Anything else.
    Text(String),
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Bool(b) => write!(f, "{b}"),
            ConfigValue::Int(i) => write!(f, "{i}"),
            ConfigValue::Float(x) => write!(f, "{x}"),
            ConfigValue::Text(s) => f.write_str(s),
        }
    }
}

/// The sink section; Kafka is the only sink.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    /// Produce to Kafka.
    pub kafka: KafkaSinkSpec,
}

/// Where and how records are produced.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkSpec {
    /// Bootstrap servers (`host:port,...`). Absent: `sluice run` starts an
    /// embedded demo cluster.
    pub brokers: Option<String>,
    /// Topic to produce to (a record's own topic override wins).
    pub topic: String,
    /// Acknowledgement policy.
    pub acks: Acks,
    /// Top-level JSON field of the value used as the Kafka key for records
    /// that have no key.
    pub key: Option<String>,
    /// Extra librdkafka producer properties (e.g. `linger.ms`, `compression.type`).
    /// `acks` and `enable.idempotence` are set by `acks` and refused here.
    #[serde(default)]
    pub producer: BTreeMap<String, ConfigValue>,
}

/// The acknowledgement policy of a pipeline's sink.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Acks {
    /// acks=0: fastest; a record may be lost silently.
    None,
    /// acks=1: lost only if the leader dies before followers copy it.
    Leader,
    /// acks=all with the idempotent producer: lost only if every in-sync replica dies.
    All,
}

impl Acks {
    /// The policy's name as written in pipeline files.
    pub fn as_str(self) -> &'static str {
        match self {
            Acks::None => "none",
            Acks::Leader => "leader",
            Acks::All => "all",
        }
    }
}

/// What happens to a record that a transform rejects or the sink cannot deliver.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorPolicy {
    /// Stop the pipeline with an error naming the record and the reason.
    #[default]
    Fail,
    /// Count and log the record, then go on without it.
    Skip,
    /// Send the record to the dead-letter topic with headers saying why, then go on.
    DeadLetter,
}

impl ErrorPolicy {
    /// The policy's name as written in pipeline files.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorPolicy::Fail => "fail",
            ErrorPolicy::Skip => "skip",
            ErrorPolicy::DeadLetter => "dead-letter",
        }
    }
}
