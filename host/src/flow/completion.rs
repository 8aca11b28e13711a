//! Telling a source how each of its batches ended, record by record.
//!
//! A source that must answer someone per batch (HTTP ingest answers the
//! request that carried the records) attaches a [`Completion`] to what it
//! polls. The flow then follows the batch: which source record each record
//! of the chain came from (through transforms that filter or emit several
//! records), which were rejected on the way and what the error policy did,
//! and, through a per-record child ticket, where Kafka put each one. Once
//! every record is resolved the completion is called with a
//! [`BatchOutcome`]; if the pipeline stops (or fails) first, it is called
//! with [`BatchEnd::Stopped`] instead — when its ticket is dropped at the
//! latest. Batches without a completion pay nothing for any of this.

use crate::events::StageId;
use crate::position::Answer;

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEnd {
    /// Every record is resolved: delivered, filtered, skipped or dead-lettered.
    Resolved,
    /// The pipeline stopped or failed first; records whose fate is not in
    /// the outcome may or may not have reached Kafka.
    Stopped(String),
}

/// Where Kafka put one output record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset; below 0 when unknown (`acks: none`).
    pub offset: i64,
}

/// A record (or one of its outputs) that did not reach its topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// Where: a transform, or the sink (Kafka refused it).
    pub stage: StageId,
    /// Why.
    pub reason: String,
    /// Whether it went to the dead-letter topic (else it was skipped).
    pub dead_lettered: bool,
}

/// What became of one source record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFate {
    /// Its outputs that Kafka acknowledged.
    pub delivered: Vec<Delivered>,
    /// It, or outputs of it, rejected or refused.
    pub failed: Vec<Failed>,
}

impl RecordFate {
    /// Dropped on purpose by a transform (no output, no failure).
    pub fn filtered(&self) -> bool {
        self.delivered.is_empty() && self.failed.is_empty()
    }
}

/// How one polled batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Resolved, or stopped first.
    pub end: BatchEnd,
    /// One per record of the polled batch, in order (empty when it stopped
    /// before anything was known).
    pub records: Vec<RecordFate>,
}

type Callback = Box<dyn FnOnce(BatchOutcome) + Send>;

/// Called once with a batch's [`BatchOutcome`] (see the module docs).
pub struct Completion {
    callback: Option<Callback>,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Completion")
    }
}

impl Completion {
    /// A completion that calls `callback` (from whichever thread resolves
    /// the batch last: keep it short, e.g. a channel send).
    pub fn new(callback: impl FnOnce(BatchOutcome) + Send + 'static) -> Self {
        Completion {
            callback: Some(Box::new(callback)),
        }
    }

    /// Calls it now.
    pub fn complete(mut self, outcome: BatchOutcome) {
        if let Some(callback) = self.callback.take() {
            callback(outcome);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(callback) = self.callback.take() {
            callback(BatchOutcome {
                end: BatchEnd::Stopped(
                    "the pipeline stopped before every record of the batch was resolved".into(),
                ),
                records: Vec::new(),
            });
        }
    }
}

/// The flow's bookkeeping for a batch whose source asked for a completion,
/// or told where its records were read (for dead letters).
pub(super) struct Tracking {
    completion: Option<Completion>,
    /// Where each source record was read (empty: not known).
    origins: Vec<super::Origin>,
    /// Records the source polled.
    sources: usize,
    /// For each record of the current stage's input (then of the batch
    /// sent), the index of the source record it came from.
    pub(super) lineage: Vec<u32>,
    /// Source records rejected on the way.
    failed: Vec<(u32, Failed)>,
}

impl Tracking {
    pub(super) fn new(
        completion: Option<Completion>,
        origins: Vec<super::Origin>,
        sources: usize,
    ) -> Self {
        Tracking {
            completion,
            origins,
            sources,
            lineage: (0..sources as u32).collect(),
            failed: Vec::new(),
        }
    }

    /// Whether the batch's records need receipts (its source asked for a
    /// completion; origins alone need none).
    pub(super) fn wants_receipts(&self) -> bool {
        self.completion.is_some()
    }

    /// Where record `index` of the current stage's input was read, if known.
    pub(super) fn origin(&self, index: usize) -> Option<&super::Origin> {
        let source = *self.lineage.get(index)?;
        self.origins.get(source as usize)
    }

    /// Record `index` of the current stage's input failed.
    pub(super) fn fail(&mut self, index: usize, stage: StageId, reason: &str, dead_lettered: bool) {
        if let Some(&source) = self.lineage.get(index) {
            self.failed.push((
                source,
                Failed {
                    stage,
                    reason: reason.to_string(),
                    dead_lettered,
                },
            ));
        }
    }

    /// Moves the lineage from a stage's inputs to its outputs, which follow
    /// the outcomes in order (`counts[i]` outputs for input `i`).
    pub(super) fn follow(&mut self, counts: impl Iterator<Item = u32>) {
        let mut next = Vec::with_capacity(self.lineage.len());
        for (input, count) in counts.enumerate() {
            if let Some(&from) = self.lineage.get(input) {
                next.extend(std::iter::repeat_n(from, count as usize));
            }
        }
        self.lineage = next;
    }

    /// The whole input of a stage is gone (a failed call).
    pub(super) fn clear(&mut self) {
        self.lineage.clear();
    }

    /// The batch is resolved: `answers` for the records sent, in order.
    pub(super) fn finish(self, answers: &[Answer]) {
        let Tracking {
            completion,
            sources,
            lineage,
            failed,
            ..
        } = self;
        let Some(completion) = completion else {
            return;
        };
        let mut records = vec![RecordFate::default(); sources];
        for (source, f) in failed {
            if let Some(r) = records.get_mut(source as usize) {
                r.failed.push(f);
            }
        }
        for (answer, &source) in answers.iter().zip(&lineage) {
            let Some(r) = records.get_mut(source as usize) else {
                continue;
            };
            match answer {
                Answer::Delivered {
                    topic,
                    partition,
                    offset,
                } => r.delivered.push(Delivered {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *offset,
                }),
                Answer::Refused {
                    reason,
                    dead_lettered,
                } => r.failed.push(Failed {
                    stage: StageId::Sink,
                    reason: reason.clone(),
                    dead_lettered: *dead_lettered,
                }),
                Answer::Pending => r.failed.push(Failed {
                    stage: StageId::Sink,
                    reason: "no answer from Kafka".into(),
                    dead_lettered: false,
                }),
            }
        }
        completion.complete(BatchOutcome {
            end: BatchEnd::Resolved,
            records,
        });
    }

    /// The pipeline gave up on the batch.
    pub(super) fn stopped(self, reason: String) {
        if let Some(completion) = self.completion {
            completion.complete(BatchOutcome {
                end: BatchEnd::Stopped(reason),
                records: Vec::new(),
            });
        }
    }
}
