//! Running the transform chain over a batch, and routing what a stage or the
//! sink could not handle through the error policy.

use std::sync::atomic::Ordering;

use anyhow::bail;

use super::policy::{self, Action, Failure};
use super::{Flow, Resend};
use crate::events::{Event, ReloadOutcome, StageCounts, StageId};
use crate::plugin::{Outcome, Transformed};
use crate::record::Batch;
use crate::sink::{DeliveryError, SendError};

impl Flow {
    /// Runs every stage over `batch`; returns what reaches the sink (dead
    /// letters wait in `self.dead`).
    pub(super) fn run_chain(&mut self, mut batch: Batch) -> anyhow::Result<Batch> {
        for index in 0..self.stages.len() {
            if batch.is_empty() {
                break;
            }
            batch = self.run_stage(index, batch)?;
        }
        Ok(batch)
    }

    fn run_stage(&mut self, index: usize, input: Batch) -> anyhow::Result<Batch> {
        let stage = &mut self.stages[index];
        let (id, label) = (stage.id, stage.label.clone());
        let run = stage.run(input, &self.cancel);
        for e in &run.retried_traps {
            self.plugin_failed(id, label.clone(), e);
        }
        if let Some(r) = &run.rolled_back {
            self.counters.quarantined.store(false, Ordering::Relaxed);
            tracing::warn!(pipeline = %self.name, transform = %label, new = %r.failed, reason = %r.reason, "Rolled back a new transform version");
            self.events.publish(Event::Reload {
                pipeline: self.name.to_string(),
                stage: id,
                plugin: label.clone(),
                file: label.clone(),
                old_digest: r.restored.clone(),
                new_digest: r.failed.clone(),
                outcome: ReloadOutcome::RolledBack,
                reason: Some(r.reason.clone()),
                pause_micros: None,
                resumed_from: None,
            });
        }
        let mut counts = StageCounts {
            stage: id,
            records_in: run.input.len() as u64,
            call_micros: run.call_time.as_micros() as u64,
            ..StageCounts::default()
        };
        let input = run.input;
        let out = match run.result {
            Ok(t) => self.collect(id, &label, &input, t, &mut counts)?,
            Err(e) => {
                self.plugin_failed(id, label.clone(), &e);
                counts.rejected = input.len() as u64;
                match policy::decide(self.policy, Failure::TransformFailed(&e)) {
                    Action::DeadLetter => {
                        tracing::warn!(pipeline = %self.name, records = input.len(), error = %e, "Dead-lettered a batch the transform failed on");
                        let reason = e.to_string();
                        for i in 0..input.len() {
                            if let Some(r) = input.to_owned_record(i) {
                                let origin = self.tracking.as_ref().and_then(|t| t.origin(i));
                                self.dead.add_from(r, id, &label, &reason, origin)?;
                            }
                            if let Some(t) = &mut self.tracking {
                                t.fail(i, id, &reason, true);
                            }
                        }
                    }
                    Action::Skip => {
                        tracing::warn!(pipeline = %self.name, records = input.len(), error = %e, "Skipped a batch the transform failed on");
                        self.skipped(input.len() as u64);
                        if let Some(t) = &mut self.tracking {
                            let reason = e.to_string();
                            (0..input.len()).for_each(|i| t.fail(i, id, &reason, false));
                        }
                    }
                    _ if e.is_quarantined() => bail!(
                        "pipeline `{}`: {id} {e} (errors: {} would drop every later record; fix the plugin, or use `errors: dead-letter` to keep them)",
                        self.name,
                        self.policy.as_str()
                    ),
                    _ => bail!(
                        "pipeline `{}`: {id} {e} (errors: fail; `errors: skip` goes on without the batch)",
                        self.name
                    ),
                }
                if let Some(t) = &mut self.tracking {
                    t.clear();
                }
                Batch::default()
            }
        };
        counts.records_out = out.len() as u64;
        counts.bytes_out = out.arena.len() as u64;
        self.report.stages.push(counts);
        Ok(out)
    }

    /// Routes records the source could not represent, like a reject at
    /// stage `source`: dead-lettered, skipped, or the pipeline stops.
    pub(super) fn route_undecodable(
        &mut self,
        undecodable: Vec<super::Undecodable>,
    ) -> anyhow::Result<()> {
        if undecodable.is_empty() {
            return Ok(());
        }
        let label = self.source.label().to_string();
        let mut counts = StageCounts {
            stage: StageId::Source,
            rejected: undecodable.len() as u64,
            ..StageCounts::default()
        };
        for u in undecodable {
            match policy::decide(self.policy, Failure::Rejected) {
                Action::DeadLetter => {
                    self.dead
                        .add(u.record, StageId::Source, &label, &u.reason)?
                }
                Action::Skip => self.skipped(1),
                _ => bail!(
                    "pipeline `{}`: source {label} read a record it cannot hand over: {}\n  help: set `errors: skip` or `errors: dead-letter` to go on without such records",
                    self.name,
                    u.reason
                ),
            }
        }
        counts.records_in = counts.rejected;
        self.report.stages.push(counts);
        Ok(())
    }

    fn skipped(&mut self, records: u64) {
        self.report.skipped += records;
        self.counters.skipped.fetch_add(records, Ordering::Relaxed);
    }

    /// Turns per-input outcomes into the next stage's batch, routing rejects.
    fn collect(
        &mut self,
        id: StageId,
        label: &str,
        input: &Batch,
        t: Transformed,
        counts: &mut StageCounts,
    ) -> anyhow::Result<Batch> {
        let Transformed { output, outcomes } = t;
        let mut next_start = 0u32;
        let mut in_order = true;
        for (index, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Outcome::Emit { start, count } => {
                    in_order &= *start == next_start;
                    next_start = start + count;
                    if *count == 0 {
                        counts.filtered += 1;
                    }
                }
                Outcome::Reject(reason) | Outcome::Retry(reason) => {
                    counts.rejected += 1;
                    match policy::decide(self.policy, Failure::Rejected) {
                        Action::DeadLetter => {
                            if let Some(r) = input.to_owned_record(index) {
                                let origin = self.tracking.as_ref().and_then(|t| t.origin(index));
                                self.dead.add_from(r, id, label, reason, origin)?;
                            }
                            if let Some(t) = &mut self.tracking {
                                t.fail(index, id, reason, true);
                            }
                        }
                        Action::Skip => {
                            tracing::warn!(pipeline = %self.name, transform = %label, record = index, %reason, "Skipped a rejected record");
                            self.skipped(1);
                            if let Some(t) = &mut self.tracking {
                                t.fail(index, id, reason, false);
                            }
                        }
                        _ => {
                            let key = input.get(index).and_then(|r| {
                                r.key().map(|k| String::from_utf8_lossy(k).into_owned())
                            });
                            bail!(
                                "pipeline `{}`: {id} ({label}) rejected record {index} of a batch{}: {reason}\n  help: fix the data or the plugin, or set `errors: skip` to go on without such records",
                                self.name,
                                key.map(|k| format!(" (key {k:?})")).unwrap_or_default()
                            );
                        }
                    }
                }
            }
        }
        if let Some(t) = &mut self.tracking {
            t.follow(outcomes.iter().map(|o| match o {
                Outcome::Emit { count, .. } => *count,
                _ => 0,
            }));
        }
        if in_order && next_start as usize == output.len() {
            return Ok(output);
        }
        let mut rebuilt = Batch::with_capacity(output.len(), output.arena.len());
        for outcome in &outcomes {
            if let Outcome::Emit { start, count } = outcome {
                for i in *start..start + count {
                    if let Some(r) = output.get(i as usize) {
                        rebuilt.push_ref(&r).map_err(|e| {
                            anyhow::anyhow!("pipeline `{}`: {id} ({label}): {e}", self.name)
                        })?;
                    }
                }
            }
        }
        Ok(rebuilt)
    }

    /// Decides on every record the sink did not deliver: skip it, send its
    /// dead letter under the same ticket, stop, or resend from the committed
    /// position.
    pub(super) fn handle_undelivered(&mut self) -> anyhow::Result<()> {
        // Once the producer is fatally broken, whatever it failed was lost
        // with it, not refused: resend, whatever the policy.
        if let Some(fatal) = self.sink.fatal_error() {
            return Err(Resend(format!("Kafka producer fatal error: {fatal}")).into());
        }
        for u in self.watermark.take_undelivered() {
            let dead_letter = u.dead_letter;
            let reason = u.error.reason().to_string();
            match policy::decide(
                self.policy,
                Failure::Undelivered {
                    error: &u.error,
                    dead_letter,
                },
            ) {
                Action::Skip => {
                    tracing::warn!(pipeline = %self.name, error = %reason, "Skipped a record Kafka refused");
                    self.skipped(1);
                    self.publish_batch();
                    u.ticket.refused(u.index, &reason, false);
                    u.ticket.resolve();
                }
                Action::DeadLetter => {
                    u.ticket.refused(u.index, &reason, true);
                    if let Some(record) = u.record {
                        self.dead.add(record, StageId::Sink, "kafka", &reason)?;
                    }
                    let dead = self.dead.take();
                    // Count the dead letter before the record it replaces
                    // resolves, so the batch cannot complete in between.
                    u.ticket.add(dead.len());
                    u.ticket.resolve();
                    match self.sink_dead_letters(&dead, &u.ticket) {
                        Ok(()) => {
                            self.report.dead_lettered += dead.len() as u64;
                            self.counters
                                .dead_lettered
                                .fetch_add(dead.len() as u64, Ordering::Relaxed);
                            self.publish_batch();
                        }
                        Err(SendError::Cancelled) => return Ok(()),
                        Err(SendError::Fatal(f)) => {
                            return Err(Resend(format!("Kafka producer fatal error: {f}")).into());
                        }
                    }
                }
                Action::Resend => {
                    return Err(Resend(format!(
                        "records were lost in delivery ({reason}); the error policy never skips a record Kafka did not refuse"
                    ))
                    .into());
                }
                Action::Stop | Action::ReopenSource => {
                    let what = match (&u.error, dead_letter) {
                        (_, true) => "Kafka did not accept a dead letter",
                        (DeliveryError::Refused(_), _) => "Kafka refused a record",
                        (DeliveryError::Lost(_), _) => "Kafka did not accept a record",
                    };
                    bail!(
                        "pipeline `{}`: {what} (batch {}{}): {reason}; its position and later ones are not committed",
                        self.name,
                        u.ticket.seq(),
                        u.index.map(|i| format!(", record {i}")).unwrap_or_default()
                    );
                }
            }
        }
        Ok(())
    }
}
