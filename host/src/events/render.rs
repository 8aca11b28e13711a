//! Events as the terminal shows them: short human lines (the default), or
//! one JSON object per line (`--events json`) for programs and tests.

use std::io::Write;

use super::{Event, ReloadOutcome, StopReason, Subscriber};

/// How events are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventFormat {
    /// Sentences for people.
    #[default]
    Human,
    /// JSON Lines, one event per line, tagged by `event`.
    Json,
}

/// Writes events to stdout in one format. Per-batch and per-delivery events
/// are for metrics and `/status` and are not written.
pub struct Renderer {
    format: EventFormat,
}

impl Renderer {
    /// A renderer writing `format`.
    pub fn new(format: EventFormat) -> Self {
        Renderer { format }
    }
}

impl Subscriber for Renderer {
    fn on_event(&self, event: &Event) {
        if matches!(event, Event::Batch { .. } | Event::Delivery { .. }) {
            return;
        }
        // In human form, errors and the stop notice go to stderr, as a
        // command-line tool's do; JSON events all go to stdout.
        let to_stderr = self.format == EventFormat::Human
            && matches!(
                event,
                Event::PipelineNotStarted { .. }
                    | Event::PipelineStopped {
                        reason: StopReason::Failed,
                        ..
                    }
                    | Event::ShutdownRequested { .. }
                    | Event::PipelineFileInvalid { startup: true, .. }
            );
        let line = match self.format {
            EventFormat::Json => match serde_json::to_string(event) {
                Ok(line) => Some(line),
                Err(e) => Some(format!(
                    "{{\"event\":\"render_error\",\"error\":{:?}}}",
                    e.to_string()
                )),
            },
            EventFormat::Human => human(event),
        };
        if let Some(line) = line {
            // A closed stdout must not stop the pipelines; logs still go to stderr.
            if to_stderr {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            } else {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    }
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

/// The human line of an event; `None` for events shown only in logs.
fn human(event: &Event) -> Option<String> {
    Some(match event {
        Event::EmbeddedCluster { bootstrap } => format!(
            "Embedded Kafka cluster at {bootstrap}\n  for trying things out only: it ignores acks and has no replication, so it proves nothing about durability"
        ),
        Event::PipelineStarting { .. } => return None,
        Event::PipelineRunning {
            pipeline,
            plugins,
            brokers,
            embedded,
            topic,
            acks,
            ..
        } => {
            let chain = plugins
                .iter()
                .map(|p| p.plugin.as_str())
                .collect::<Vec<_>>()
                .join(" → ");
            let mut line = format!(
                "pipeline `{pipeline}` running: {chain} → kafka {brokers} topic `{topic}` (acks {acks})"
            );
            if *embedded {
                line.push_str(&format!(
                    "\n  read it with: kcat -b {brokers} -t {topic} -C -f '%k %s\\n'"
                ));
            }
            line
        }
        Event::PipelineNotStarted {
            pipeline, error, ..
        } => format!("error: pipeline `{pipeline}` not started: {error}"),
        Event::PipelineState {
            pipeline,
            state,
            reason,
        } => {
            // What `/readyz` shows is in the log too, with its fields.
            let state = crate::telemetry::state_label(*state);
            match reason {
                Some(reason) => tracing::warn!(pipeline = %pipeline, state, %reason, "Pipeline state"),
                None => tracing::info!(pipeline = %pipeline, state, "Pipeline state"),
            }
            return None;
        }
        Event::PipelineStopped {
            pipeline,
            reason,
            acknowledged,
            bytes,
            seconds,
            ack_p50_ms,
            ack_p99_ms,
            position,
            error,
            ..
        } => match reason {
            StopReason::Failed => format!(
                "error: {}",
                error.as_deref().unwrap_or("pipeline failed")
            ),
            _ => {
                let secs = seconds.max(0.001);
                format!(
                    "pipeline `{pipeline}` {}: {acknowledged} records acknowledged, position {}\npipeline `{pipeline}` stats: {:.0} records/s, {:.2} MB/s, ack latency p50 {} ms p99 {} ms, {:.1} s",
                    if *reason == StopReason::Finished {
                        "finished"
                    } else {
                        "stopped"
                    },
                    position.as_deref().unwrap_or("none"),
                    *acknowledged as f64 / secs,
                    *bytes as f64 / secs / 1e6,
                    ms(*ack_p50_ms),
                    ms(*ack_p99_ms),
                    seconds
                )
            }
        },
        Event::Batch { .. }
        | Event::Delivery { .. }
        | Event::Commit { .. }
        | Event::IngestRequest { .. } => return None,
        Event::IngestListening {
            pipeline,
            address,
            path,
        } => format!("{pipeline}: HTTP ingest at http://{address}{path}"),
        Event::Progress {
            pipeline,
            sent,
            rate,
            skipped,
            reloads,
            quarantined,
        } => {
            tracing::info!(
                pipeline = %pipeline,
                sent,
                rate,
                skipped,
                reloads,
                quarantined,
                "Progress"
            );
            return None;
        }
        Event::Reload {
            pipeline,
            stage,
            plugin,
            file,
            old_digest,
            new_digest,
            outcome,
            reason,
            pause_micros,
            resumed_from,
        } => {
            let short = |d: &str| d.get(..12).unwrap_or(d).to_string();
            match outcome {
                ReloadOutcome::Ok => format!(
                    "reload ok: pipeline `{pipeline}` {stage} ({plugin}) {} → {}, paused {} µs{}",
                    short(old_digest),
                    short(new_digest),
                    pause_micros.unwrap_or_default(),
                    resumed_from
                        .as_ref()
                        .map(|p| format!(", resuming at {p}"))
                        .unwrap_or_default()
                ),
                ReloadOutcome::Failed => format!(
                    "reload failed: pipeline `{pipeline}` {stage} {file}: {}; keeping {}",
                    reason.as_deref().unwrap_or("refused"),
                    short(old_digest)
                ),
                ReloadOutcome::RolledBack => format!(
                    "reload rolled back: pipeline `{pipeline}` {stage} ({plugin}): new version {} failed on its first batches ({}); back to {}",
                    short(new_digest),
                    reason.as_deref().unwrap_or("failed"),
                    short(old_digest)
                ),
            }
        }
        Event::Quarantined {
            pipeline,
            stage,
            plugin,
            error,
        } => format!("pipeline `{pipeline}`: {stage} ({plugin}) quarantined: {error}"),
        Event::PluginFailure { .. } => return None,
        Event::ProducerRebuilt {
            pipeline, error, ..
        } => format!(
            "pipeline `{pipeline}`: Kafka producer fatal error: {error}; rebuilt the producer and resending from the committed position"
        ),
        Event::PipelineChanged { pipeline, file } => {
            format!("pipeline `{pipeline}` changed in {file}: stopping it to rebuild")
        }
        Event::PipelineRemoved { pipeline, file } => {
            format!("pipeline `{pipeline}` removed ({file} is gone): stopping it")
        }
        Event::PipelineFileInvalid {
            error,
            startup: true,
            ..
        } => format!("error: {}", error.replace('\n', "\n  ")),
        Event::PipelineFileInvalid {
            file,
            error,
            running_kept,
            ..
        } => format!(
            "pipeline file {file} not reloaded: {error}{}",
            if *running_kept {
                "\n  the running version keeps running"
            } else {
                ""
            }
        ),
        Event::Warning {
            pipeline, message, ..
        } => match pipeline {
            Some(p) => format!("warning: pipeline `{p}`: {message}"),
            None => format!("warning: {message}"),
        },
        Event::ShutdownRequested { .. } => {
            "stopping: finishing in-flight records and committing positions (signal again to exit at once)".to_string()
        }
        Event::AllStopped { embedded, .. } => match embedded {
            Some(bootstrap) => format!(
                "all pipelines ended; the embedded cluster keeps serving at {bootstrap} until Ctrl-C"
            ),
            None => return None,
        },
        Event::HttpListening { address } => format!(
            "HTTP endpoints at http://{address}: /healthz /readyz /metrics /status"
        ),
        Event::Rebalance {
            pipeline,
            assigned,
            revoked,
        } => match (assigned.is_empty(), revoked.is_empty()) {
            (false, _) => format!(
                "pipeline `{pipeline}`: partitions assigned: {}",
                assigned.join(", ")
            ),
            (true, false) => format!(
                "pipeline `{pipeline}`: partitions drained, committed and released: {}",
                revoked.join(", ")
            ),
            (true, true) => return None,
        },
        Event::KafkaClientError {
            brokers,
            code,
            error,
        } => {
            tracing::warn!(%brokers, %code, %error, "Kafka client error");
            return None;
        }
    })
}
