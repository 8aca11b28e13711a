//! INTERIM, to be deleted when the data path publishes its own events: the
//! supervisor turns each running pipeline's shared counters ([`Stats`], the
//! [`AckTracker`]) into `Batch`, `Delivery`, `Commit` and state events once
//! per supervisor tick, so `/metrics`, `/status` and `/readyz` have
//! something to read before the rewritten data path publishes per batch.
//!
//! What it cannot know from counters: per-stage counts, acknowledgement
//! latencies, plugin failures by kind, reload details and broker
//! reachability. Those need the data path's own events.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Stats;
use crate::events::{BatchReport, DeliveryReport, Event, Events, PipelineState};
use crate::position::AckTracker;

#[derive(Default, Clone, Copy)]
struct Seen {
    polled: u64,
    sent: u64,
    bytes: u64,
    skipped: u64,
    dead_lettered: u64,
    acknowledged: u64,
    failed: u64,
    commits: u64,
    quarantined: bool,
}

/// Last counters seen per pipeline run.
#[derive(Default)]
pub(super) struct Bridge {
    seen: HashMap<String, Seen>,
}

impl Bridge {
    /// A pipeline (re)started: its counters start from zero.
    pub(super) fn started(&mut self, pipeline: &str) {
        self.seen.insert(pipeline.to_string(), Seen::default());
    }

    /// Publishes what changed in `pipeline`'s counters since the last tick.
    pub(super) fn tick(
        &mut self,
        events: &Events,
        pipeline: &str,
        stats: &Stats,
        tracker: &AckTracker,
    ) {
        let now = Seen {
            polled: stats.polled.load(Ordering::Relaxed),
            sent: stats.sent.load(Ordering::Relaxed),
            bytes: stats.bytes.load(Ordering::Relaxed),
            skipped: stats.skipped.load(Ordering::Relaxed),
            dead_lettered: stats.dead_lettered.load(Ordering::Relaxed),
            acknowledged: tracker.acknowledged(),
            failed: tracker.failed(),
            commits: stats.commits.load(Ordering::Relaxed),
            quarantined: stats.quarantined.load(Ordering::Relaxed),
        };
        let before = self
            .seen
            .insert(pipeline.to_string(), now)
            .unwrap_or_default();
        let name: Arc<str> = Arc::from(pipeline);
        if now.polled > before.polled || now.sent > before.sent {
            events.publish(Event::Batch {
                pipeline: name.clone(),
                report: BatchReport {
                    polled: now.polled - before.polled.min(now.polled),
                    sent: now.sent - before.sent.min(now.sent),
                    bytes: now.bytes - before.bytes.min(now.bytes),
                    skipped: now.skipped - before.skipped.min(now.skipped),
                    dead_lettered: now.dead_lettered - before.dead_lettered.min(now.dead_lettered),
                    stages: Vec::new(),
                },
            });
        }
        events.publish(Event::Delivery {
            pipeline: name,
            report: DeliveryReport {
                acknowledged: now.acknowledged - before.acknowledged.min(now.acknowledged),
                failed: now.failed - before.failed.min(now.failed),
                latency_counts: Vec::new(),
                latency_sum_seconds: 0.0,
                in_flight: tracker.in_flight() as u64,
                producer_queue: 0,
            },
        });
        if now.commits > before.commits {
            events.publish(Event::Commit {
                pipeline: pipeline.to_string(),
                position: tracker
                    .committable()
                    .map(|p| String::from_utf8_lossy(&p).into_owned())
                    .unwrap_or_default(),
                acknowledged: now.acknowledged,
            });
        }
        if now.quarantined != before.quarantined {
            events.publish(Event::PipelineState {
                pipeline: pipeline.to_string(),
                state: if now.quarantined {
                    PipelineState::Quarantined
                } else {
                    PipelineState::Running
                },
                reason: now
                    .quarantined
                    .then(|| "a plugin is quarantined until a reload replaces it".to_string()),
            });
        }
    }

    /// A pipeline's thread ended.
    pub(super) fn stopped(&mut self, pipeline: &str) {
        self.seen.remove(pipeline);
    }
}
