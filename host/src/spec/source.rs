//! The `source` section: a source plugin, the built-in HTTP ingest
//! source, or the built-in Kafka consumer-group source.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use super::schema::{ConfigValue, GrantsSpec, LimitsSpec, PluginSpec};

/// Where records come from: a source plugin (`plugin`, `config`, `limits`,
/// `grants`), `http`, the built-in HTTP ingest source, or `kafka`, the
/// built-in Kafka consumer-group source.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Path to the source plugin's `.wasm` component, relative to the pipeline file.
    pub plugin: Option<String>,
    /// Key/value configuration handed to the plugin's `open`.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigValue>,
    /// The plugin's resource limits.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// The plugin's capabilities.
    #[serde(default)]
    pub grants: GrantsSpec,
    /// Take records over HTTP (instead of a plugin): each request is one
    /// batch, answered after Kafka acknowledged it under the pipeline's acks.
    pub http: Option<HttpSourceSpec>,
    /// Read Kafka topics in a consumer group (instead of a plugin): offsets
    /// are committed to the group only after the sink acknowledged every
    /// record before them, per partition.
    pub kafka: Option<KafkaSourceSpec>,
}

impl SourceSpec {
    /// The plugin part, when this is a plugin source.
    pub fn plugin_spec(&self) -> Option<PluginSpec> {
        self.plugin.as_ref().map(|plugin| PluginSpec {
            plugin: plugin.clone(),
            config: self.config.clone(),
            limits: self.limits.clone(),
            grants: self.grants.clone(),
        })
    }
}

/// How a request body becomes records.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum IngestFormat {
    /// JSON Lines: one JSON document per line (blank lines ignored); a line
    /// that is not JSON is rejected by its line number.
    #[default]
    #[serde(rename = "jsonl")]
    JsonLines,
    /// One JSON document; an array is one record per element.
    Json,
    /// The body's bytes are one record, whatever they are.
    Raw,
}

impl IngestFormat {
    /// The name as written in pipeline files.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestFormat::JsonLines => "jsonl",
            IngestFormat::Json => "json",
            IngestFormat::Raw => "raw",
        }
    }
}

/// The built-in HTTP ingest source. `POST` records to `path`; the answer
/// waits for Kafka under the pipeline's acks policy (see the README's
/// "HTTP ingest" section for every status code).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceSpec {
    /// `IP:PORT` to listen on (default `127.0.0.1:8081`: loopback only;
    /// write `0.0.0.0:8081` to take requests from other machines or pods).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The path records are posted to (default `/ingest`).
    #[serde(default = "default_path")]
    pub path: String,
    /// `jsonl` (default), `json` or `raw`.
    #[serde(default)]
    pub format: IngestFormat,
    /// Largest request body in KiB (default 1024); larger bodies get 413.
    pub max_body_kb: Option<u64>,
    /// Largest record (one line, one element, or a raw body) in KiB
    /// (default 512); a larger one is rejected by its line number.
    pub max_record_kb: Option<u64>,
    /// Environment variable holding the bearer token clients must send
    /// (`Authorization: Bearer <token>`); absent: no authentication.
    pub auth_token_env: Option<String>,
    /// Most connections open at once (default 256); more are answered 503.
    pub max_connections: Option<u32>,
    /// Time a client has to send its headers, and then its body, in
    /// milliseconds (default 10000); a slower one gets 408.
    pub read_timeout_ms: Option<u64>,
    /// Requests waiting for the pipeline (default 64); more get 429.
    pub max_pending_requests: Option<u32>,
    /// How long a request waits for Kafka's answer, in milliseconds
    /// (default 30000); then 504 (the records may still be delivered:
    /// retry with the same `Idempotency-Key`).
    pub response_timeout_ms: Option<u64>,
    /// How long the answer to a request with an `Idempotency-Key` is kept
    /// and replayed to retries, in seconds (default 600; 0 ignores the header).
    pub idempotency_window_secs: Option<u64>,
}

fn default_listen() -> String {
    "127.0.0.1:8081".into()
}

fn default_path() -> String {
    "/ingest".into()
}

impl HttpSourceSpec {
    /// The listen address (checked at load).
    pub fn address(&self) -> Result<SocketAddr, String> {
        self.listen.trim().parse().map_err(|_| {
            format!(
                "`listen` `{}` is not IP:PORT (e.g. 127.0.0.1:8081, 0.0.0.0:8081, [::1]:8081; port 0 picks a free port)",
                self.listen
            )
        })
    }

    /// Largest body, bytes.
    pub fn max_body_bytes(&self) -> usize {
        (self.max_body_kb.unwrap_or(1024) as usize).saturating_mul(1024)
    }

    /// Largest record, bytes.
    pub fn max_record_bytes(&self) -> usize {
        (self.max_record_kb.unwrap_or(512) as usize).saturating_mul(1024)
    }

    /// Problems with the settings: the key and what is wrong.
    pub fn problems(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut out = Vec::new();
        if let Err(e) = self.address() {
            out.push((
                "listen",
                e,
                "write the address to listen on, e.g. `listen: 127.0.0.1:8081`",
            ));
        }
        if !self.path.starts_with('/') || self.path.contains(['?', '#', ' ']) {
            out.push((
                "path",
                format!("`path` `{}` is not an absolute URL path", self.path),
                "write a path such as `/ingest`",
            ));
        }
        for (key, zero) in [
            ("max_body_kb", self.max_body_kb == Some(0)),
            ("max_record_kb", self.max_record_kb == Some(0)),
            ("max_connections", self.max_connections == Some(0)),
            ("read_timeout_ms", self.read_timeout_ms == Some(0)),
            ("max_pending_requests", self.max_pending_requests == Some(0)),
            ("response_timeout_ms", self.response_timeout_ms == Some(0)),
        ] {
            if zero {
                out.push((
                    key,
                    format!("`{key}` must be at least 1"),
                    "remove it to keep the default",
                ));
            }
        }
        if self.max_body_kb.is_some_and(|k| k > 256 * 1024) {
            out.push((
                "max_body_kb",
                "`max_body_kb` must be at most 262144 (256 MiB): a request is held in memory"
                    .into(),
                "send large data in several requests",
            ));
        }
        if self.auth_token_env.as_deref().is_some_and(str::is_empty) {
            out.push((
                "auth_token_env",
                "`auth_token_env` names no variable".into(),
                "name the environment variable that holds the token, e.g. `auth_token_env: INGEST_TOKEN`",
            ));
        }
        out
    }
}

/// Where a new consumer group starts reading a partition it has no
/// committed offset for.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// The oldest record still in the partition (default).
    #[default]
    Earliest,
    /// Only records written after the group joined.
    Latest,
}

impl StartAt {
    /// The name as written in pipeline files (and librdkafka's `auto.offset.reset`).
    pub fn as_str(self) -> &'static str {
        match self {
            StartAt::Earliest => "earliest",
            StartAt::Latest => "latest",
        }
    }
}

/// The built-in Kafka source: a consumer in group `group` reading `topics`
/// (or every topic matching `topic_pattern`). Several Sluice processes
/// with the same group split the partitions between them. Offsets are
/// committed to the group (never auto-committed) once the sink has
/// acknowledged every record before them; with `exactly_once: true` they
/// are committed inside the producer's transaction instead.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceSpec {
    /// Bootstrap servers of the cluster to read (default: the sink's).
    pub brokers: Option<String>,
    /// Topics to read.
    #[serde(default)]
    pub topics: Vec<String>,
    /// A regular expression; every topic it matches is read (librdkafka's
    /// `^` subscription). Use it instead of `topics`.
    pub topic_pattern: Option<String>,
    /// Consumer group id, shared by every process that splits the topics.
    pub group: String,
    /// Where to start a partition the group has no offset for: `earliest`
    /// (default) or `latest`.
    #[serde(default)]
    pub start: StartAt,
    /// Static membership (`group.instance.id`): a process that restarts in
    /// place within the session timeout gets its partitions back without
    /// a rebalance. Unique per process of the group; empty (an unset
    /// `${VAR:-}`) means none.
    pub instance_id: Option<String>,
    /// Under `exactly_once: true`, how often the transaction is committed,
    /// in milliseconds (default 100). Records become visible to
    /// `read_committed` readers only at a commit: a longer interval costs
    /// latency and saves throughput.
    pub transaction_interval_ms: Option<u64>,
    /// Extra librdkafka consumer properties (e.g. `fetch.min.bytes`,
    /// `session.timeout.ms`). Those the source owns (`group.id`,
    /// `enable.auto.commit`, `isolation.level`, …) are refused by name.
    #[serde(default)]
    pub consumer: BTreeMap<String, ConfigValue>,
}

/// Consumer properties the Kafka source sets itself, and why.
const CONSUMER_OWNED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use `brokers:` in the kafka source"),
    ("metadata.broker.list", "use `brokers:` in the kafka source"),
    ("group.id", "use `group:` in the kafka source"),
    (
        "group.instance.id",
        "use `instance_id:` in the kafka source",
    ),
    (
        "auto.offset.reset",
        "use `start: earliest|latest` in the kafka source",
    ),
    (
        "enable.auto.commit",
        "offsets are committed only after the sink acknowledged every record before them; auto-commit would commit records not yet delivered",
    ),
    (
        "enable.auto.offset.store",
        "offsets are stored from the acknowledged low watermark, never as records are read",
    ),
    (
        "isolation.level",
        "the source always reads `read_committed`, so records of aborted transactions are never handed on",
    ),
    (
        "enable.partition.eof",
        "the source reads a topic forever; end-of-partition events are not records",
    ),
];

impl KafkaSourceSpec {
    /// The static member id, if one is set (and not empty).
    pub fn instance(&self) -> Option<&str> {
        self.instance_id
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
    }

    /// The transaction interval under exactly-once.
    pub fn transaction_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.transaction_interval_ms.unwrap_or(100))
    }

    /// Problems with the settings: the key and what is wrong, with a hint.
    pub fn problems(&self) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        match (self.topics.is_empty(), &self.topic_pattern) {
            (true, None) => out.push((
                "topics",
                "the kafka source names no topic".into(),
                "write `topics: [orders]` or `topic_pattern: \"^orders\\\\..*\"`".into(),
            )),
            (false, Some(_)) => out.push((
                "topic_pattern",
                "the kafka source has both `topics` and `topic_pattern`".into(),
                "keep one of them".into(),
            )),
            (true, Some(p)) if p.trim().is_empty() => out.push((
                "topic_pattern",
                "`topic_pattern` is empty".into(),
                "write a regular expression, e.g. `^orders\\..*`".into(),
            )),
            _ => {}
        }
        for t in &self.topics {
            if let Some(why) = super::topics::invalid_topic_name(t) {
                out.push((
                    "topics",
                    format!(
                        "`{}` is not a valid Kafka topic name: {why}",
                        super::tree::shorten(t)
                    ),
                    "name topics made of letters, digits, `.`, `_` and `-`".into(),
                ));
            }
        }
        if self.group.trim().is_empty() {
            out.push((
                "group",
                "`group` is empty".into(),
                "name the consumer group every process of this pipeline shares, e.g. `group: orders-masker`".into(),
            ));
        }
        if self.brokers.as_deref().is_some_and(|b| b.trim().is_empty()) {
            out.push((
                "brokers",
                "`brokers` is empty".into(),
                "write the bootstrap servers (`host:port,...`), or remove it to read the sink's cluster".into(),
            ));
        }
        if self.transaction_interval_ms == Some(0) {
            out.push((
                "transaction_interval_ms",
                "`transaction_interval_ms` must be at least 1".into(),
                "remove it to keep the default (100)".into(),
            ));
        }
        out
    }

    /// Why consumer property `key` may not be set, as (message, hint).
    pub fn consumer_refusal(key: &str) -> Option<(String, String)> {
        if let Some((_, why)) = CONSUMER_OWNED.iter().find(|(k, _)| *k == key) {
            return Some((
                format!("consumer property `{key}` is set by the kafka source, not here"),
                format!("remove it from `consumer:`: {why}"),
            ));
        }
        if key.ends_with("_cb") || matches!(key, "opaque" | "default_topic_conf") {
            return Some((
                format!("consumer property `{key}` is a callback setting"),
                "remove it: Sluice installs the consumer's callbacks itself (its rebalance callback drains and commits)".into(),
            ));
        }
        None
    }
}
