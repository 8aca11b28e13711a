//! What the outside world can see of a running Sluice: the Prometheus
//! registry, the per-pipeline status and readiness verdict, process figures,
//! and the supervisor's heartbeat.
//!
//! Everything here is fed by the typed event stream ([`crate::events`]): the
//! data path publishes per batch and per commit interval, and these
//! subscribers turn events into counters and state with O(1) work (atomics
//! and a short mutex) on the publishing thread. Reading them — encoding
//! `/metrics`, serialising `/status`, reading `/proc` — happens on the HTTP
//! server's task ([`crate::http`]), never on a data-path thread.

mod heartbeat;
mod metrics;
mod process;
mod status;

use std::sync::Arc;

pub use heartbeat::{DEFAULT_STALE_AFTER, Heartbeat, TOUCH_EVERY};
pub use metrics::{BucketedHistogram, FAMILIES, Metrics, state_label};
pub use process::{ProcessCollector, ProcessSample};
pub use status::{
    CommitStatus, Counters, ErrorStatus, FileProblem, NotReady, PipelineStatus, PluginStatus,
    Readiness, ReloadStatus, StatusBoard, StatusReport,
};

use crate::events::{Event, Events, Subscriber};

/// The wasmtime version this host is built with (the workspace pins it
/// exactly; a unit test keeps the two in step).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Versions of what this binary is made of, for `sluice_build_info` and
/// `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// Sluice's version.
    pub version: String,
    /// The plugin contract (`sluice:plugin@0.1.0`).
    pub contract: String,
    /// wasmtime's version.
    pub wasmtime: String,
    /// librdkafka's version (of the library linked in).
    pub librdkafka: String,
}

impl BuildInfo {
    /// This binary's versions.
    pub fn current() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: format!(
                "{}@{}",
                crate::plugin::world::PACKAGE,
                crate::plugin::world::VERSION
            ),
            wasmtime: WASMTIME_VERSION.to_string(),
            librdkafka: rdkafka::util::get_rdkafka_version().1,
        }
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// The metrics registry and the status board, both subscribed to one event
/// stream. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// The Prometheus registry.
    pub metrics: Arc<Metrics>,
    /// Per-pipeline status and readiness.
    pub status: Arc<StatusBoard>,
}

impl Telemetry {
    /// A fresh registry and board for this binary.
    pub fn new() -> Self {
        let build = BuildInfo::current();
        Telemetry {
            metrics: Arc::new(Metrics::new(&build)),
            status: Arc::new(StatusBoard::new(build)),
        }
    }

    /// Subscribes both to `events`.
    pub fn subscribe(&self, events: &Events) {
        events.subscribe(self.metrics.clone());
        events.subscribe(self.status.clone());
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Subscriber for Telemetry {
    fn on_event(&self, event: &Event) {
        self.metrics.on_event(event);
        self.status.on_event(event);
    }
}

#[cfg(test)]
mod tests;
