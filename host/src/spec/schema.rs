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
    /// Where records come from: a plugin, or the built-in HTTP source.
    pub source: super::source::SourceSpec,
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
    /// Exactly-once from a Kafka source to the Kafka sink (default false):
    /// records are produced in Kafka transactions that also commit the
    /// consumed offsets. Needs `source.kafka`, `acks: all`, the sink on the
    /// source's cluster, and `errors` `fail` or `dead-letter`.
    #[serde(default)]
    pub exactly_once: bool,
}

/// Where a pipeline keeps its source position.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PositionsSpec {
    /// A compacted topic on the sink's cluster holding one record per pipeline
    /// (for sidecars without a volume), in the partition the pipeline's name
    /// maps to with murmur2; created compacted (one partition) if missing,
    /// refused if it exists and is not compacted.
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

/// A configuration value: any single value, handed to the plugin as the
/// exact text written (`007` stays `007`, `1.50` stays `1.50`, a 20-digit
/// number keeps its digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigValue(pub String);

impl ConfigValue {
    /// The value's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = ConfigValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value (text, number or true/false)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
        }
        d.deserialize_str(Text)
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
    /// `brokers`: bootstrap servers (`host:port,...`), or `embedded` for the
    /// in-process demo cluster (no durability). Absent: embedded. A value
    /// that is empty (e.g. `${KAFKA_BROKERS}` with the variable empty) is an
    /// error, never the demo cluster.
    #[serde(default, rename = "brokers")]
    pub cluster: Cluster,
    /// Topic to produce to.
    pub topic: String,
    /// Other topics a record's own topic override may name (default: none;
    /// the sink topic is always allowed). The positions and dead-letter
    /// topics are never allowed.
    #[serde(default)]
    pub topics_allowed: Vec<String>,
    /// Acknowledgement policy.
    pub acks: Acks,
    /// Top-level JSON field of the value used as the Kafka key for records
    /// that have no key.
    pub key: Option<String>,
    /// Extra librdkafka producer properties (e.g. `linger.ms`, `compression.type`).
    /// Properties the pipeline owns (`acks`, `enable.idempotence`,
    /// `bootstrap.servers`) and those that would break delivery tracking
    /// (`transactional.id`, `delivery.report.only.error`, callbacks, …) are
    /// refused by name.
    #[serde(default)]
    pub producer: BTreeMap<String, ConfigValue>,
}

/// Which Kafka cluster a pipeline produces to. The embedded demo cluster is
/// chosen only by leaving `brokers` out or writing `brokers: embedded`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Cluster {
    /// librdkafka's in-process mock cluster: for trying things out; it
    /// ignores acks and keeps one copy in memory, so it promises nothing.
    #[default]
    Embedded,
    /// A real cluster, by its bootstrap servers (`host:port,...`).
    Brokers(String),
}

impl Cluster {
    /// The bootstrap servers of a real cluster; `None` for the embedded one.
    pub fn brokers(&self) -> Option<&str> {
        match self {
            Cluster::Embedded => None,
            Cluster::Brokers(b) => Some(b),
        }
    }

    /// Whether this is the embedded demo cluster.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Cluster::Embedded)
    }
}

impl fmt::Display for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cluster::Embedded => f.write_str("the embedded demo cluster"),
            Cluster::Brokers(b) => f.write_str(b),
        }
    }
}

impl<'de> Deserialize<'de> for Cluster {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.trim() {
            "embedded" => Cluster::Embedded,
            // Emptiness and malformed lists are reported by the loader,
            // which knows the variable and the position.
            _ => Cluster::Brokers(text),
        })
    }
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
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash)]
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

/// What a part of the file must look like, for type errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// In words: "a list of `{plugin, config}` entries".
    pub what: &'static str,
    /// A YAML example.
    pub yaml: &'static str,
    /// The same in TOML.
    pub toml: &'static str,
}

/// The shape of the field at `path` (its keys, `[]` for list indices),
/// for the fields whose type name alone would not help.
pub(crate) fn shape_of(path: &[&str]) -> Option<Shape> {
    let shape = |what, yaml, toml| Some(Shape { what, yaml, toml });
    // The plugin a path is inside, and the rest of the path.
    let in_plugin = match path {
        ["source", rest @ ..] | ["transforms", "[]", rest @ ..] => Some(rest),
        _ => None,
    };
    match path {
        [] => shape(
            "a mapping with `name`, `source` and `sink`",
            "name: orders\nsource: { plugin: orders.wasm }\nsink:\n  kafka: { topic: orders, acks: all }",
            "name = \"orders\"\n[source]\nplugin = \"orders.wasm\"\n[sink.kafka]\ntopic = \"orders\"\nacks = \"all\"",
        ),
        ["transforms"] => shape(
            "a list of `{plugin, config}` entries",
            "transforms:\n  - plugin: mask.wasm\n    config: { field: email }",
            "[[transforms]]\nplugin = \"mask.wasm\"\nconfig = { field = \"email\" }",
        ),
        ["source"] => shape(
            "a mapping `{plugin, config}`, `{http: {...}}` or `{kafka: {...}}`",
            "plugin: orders.wasm\nconfig: { count: 10 }\n# or\nhttp: { listen: 127.0.0.1:8081, path: /ingest }\n# or\nkafka: { topics: [orders], group: masker }",
            "plugin = \"orders.wasm\"\nconfig = { count = 10 }\n# or\nhttp = { listen = \"127.0.0.1:8081\", path = \"/ingest\" }\n# or\nkafka = { topics = [\"orders\"], group = \"masker\" }",
        ),
        ["source", "kafka"] => shape(
            "a mapping with `topics` (or `topic_pattern`), `group`, …",
            "kafka: { brokers: kafka:9092, topics: [orders], group: masker, start: earliest }",
            "[source.kafka]\nbrokers = \"kafka:9092\"\ntopics = [\"orders\"]\ngroup = \"masker\"\nstart = \"earliest\"",
        ),
        ["source", "kafka", "topics"] => shape(
            "a list of topic names",
            "topics: [orders, payments]",
            "topics = [\"orders\", \"payments\"]",
        ),
        ["source", "kafka", "consumer"] => shape(
            "a mapping of librdkafka properties to values",
            "consumer: { fetch.min.bytes: 1024, session.timeout.ms: 10000 }",
            "consumer = { \"fetch.min.bytes\" = 1024, \"session.timeout.ms\" = 10000 }",
        ),
        ["source", "http"] => shape(
            "a mapping with `listen`, `path`, `format`, …",
            "http: { listen: 127.0.0.1:8081, path: /ingest, format: jsonl }",
            "[source.http]\nlisten = \"127.0.0.1:8081\"\npath = \"/ingest\"\nformat = \"jsonl\"",
        ),
        ["transforms", "[]"] => shape(
            "a mapping `{plugin, config}`",
            "plugin: mask.wasm\nconfig: { field: email }",
            "plugin = \"mask.wasm\"\nconfig = { field = \"email\" }",
        ),
        ["sink"] => shape(
            "a mapping with `kafka`",
            "sink:\n  kafka: { topic: orders, acks: all }",
            "[sink.kafka]\ntopic = \"orders\"\nacks = \"all\"",
        ),
        ["sink", "kafka"] => shape(
            "a mapping with `topic` and `acks`",
            "kafka: { brokers: kafka:9092, topic: orders, acks: all }",
            "[sink.kafka]\nbrokers = \"kafka:9092\"\ntopic = \"orders\"\nacks = \"all\"",
        ),
        ["dead_letter"] => shape(
            "a mapping `{topic}`",
            "dead_letter: { topic: orders.dlq }",
            "dead_letter = { topic = \"orders.dlq\" }",
        ),
        ["positions"] => shape(
            "a mapping `{kafka_topic}`",
            "positions: { kafka_topic: sluice-positions }",
            "positions = { kafka_topic = \"sluice-positions\" }",
        ),
        ["sink", "kafka", "topics_allowed"] => shape(
            "a list of topic names",
            "topics_allowed: [orders.eu, orders.us]",
            "topics_allowed = [\"orders.eu\", \"orders.us\"]",
        ),
        ["sink", "kafka", "producer"] => shape(
            "a mapping of librdkafka properties to values",
            "producer: { linger.ms: 20, compression.type: zstd }",
            "producer = { \"linger.ms\" = 20, \"compression.type\" = \"zstd\" }",
        ),
        _ if matches!(in_plugin, Some(["config"])) => shape(
            "a mapping of keys to single values",
            "config: { field: email, count: 10 }",
            "config = { field = \"email\", count = 10 }",
        ),
        ["sink", "kafka", "producer", _] | ["source", "kafka", "consumer", _] => shape(
            "a single value (text, a number or true/false)",
            "linger.ms: 20",
            "\"linger.ms\" = 20",
        ),
        _ if matches!(in_plugin, Some(["config", _])) => shape(
            "a single value (text, a number or true/false)",
            "key: value",
            "key = \"value\"",
        ),
        _ if matches!(in_plugin, Some(["grants", "env"])) => shape(
            "a list of environment variable names",
            "env: [API_TOKEN]",
            "env = [\"API_TOKEN\"]",
        ),
        _ if matches!(in_plugin, Some(["grants", "dirs"])) => shape(
            "a list of `{host, guest, mode}` entries",
            "dirs:\n  - { host: ./lookup, guest: /data, mode: ro }",
            "dirs = [{ host = \"./lookup\", guest = \"/data\", mode = \"ro\" }]",
        ),
        _ if matches!(in_plugin, Some(["grants", "network"])) => shape(
            "a list of `host:port` destinations",
            "network: [\"kafka-0.internal:9092\"]",
            "network = [\"kafka-0.internal:9092\"]",
        ),
        _ => None,
    }
}
