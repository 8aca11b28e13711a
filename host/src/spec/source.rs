//! The `source` section: a source plugin, or the built-in HTTP ingest
//! source.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use super::schema::{ConfigValue, GrantsSpec, LimitsSpec, PluginSpec};

/// Where records come from: a source plugin (`plugin`, `config`, `limits`,
/// `grants`), or `http`, the built-in HTTP ingest source.
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
