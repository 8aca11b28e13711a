//! One transform in the chain: its running version, the version it replaced
//! while the new one is on probation, and the bounded retries of a batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::events::StageId;
use crate::plugin::{Outcome, Plugin, PluginError, TransformInstance, Transformed};
use crate::record::Batch;

/// Attempts for a retryable plugin error before it counts as a failure.
pub const MAX_RETRIES: u32 = 5;

/// Batches a new transform version must pass before the old one is dropped.
pub const PROBATION_BATCHES: u32 = 3;

/// Something that transforms batches: a plugin instance, or a native fake in tests.
pub trait Transform: Send {
    /// Runs one batch; the input comes back beside the result.
    fn process(&mut self, input: Batch) -> (Batch, Result<Transformed, PluginError>);

    /// SHA-256 of what runs (a plugin's digest), hex.
    fn digest(&self) -> &str;

    /// The plugin behind it, if it is one.
    fn plugin(&self) -> Option<&Plugin> {
        None
    }
}

impl Transform for TransformInstance {
    fn process(&mut self, input: Batch) -> (Batch, Result<Transformed, PluginError>) {
        TransformInstance::process(self, input)
    }

    fn digest(&self) -> &str {
        TransformInstance::plugin(self).digest()
    }

    fn plugin(&self) -> Option<&Plugin> {
        Some(TransformInstance::plugin(self))
    }
}

/// A transform in the chain, with the previous version kept while a new one
/// is on probation.
pub struct Stage {
    /// Where it stands in the chain.
    pub id: StageId,
    /// Label for logs and events (the file name).
    pub label: String,
    /// The running version.
    pub instance: Box<dyn Transform>,
    /// The version replaced by the last swap, kept until the new one passes.
    previous: Option<Box<dyn Transform>>,
    /// Batches left before `previous` is dropped.
    probation: u32,
}

/// A new version that failed on probation and was replaced by the old one.
#[derive(Debug)]
pub struct RolledBack {
    /// Digest of the version that failed.
    pub failed: String,
    /// Digest of the version running again.
    pub restored: String,
    /// Its failure.
    pub reason: String,
}

/// What one run of a stage produced.
pub struct StageRun {
    /// The input, unchanged.
    pub input: Batch,
    /// The transform's result (after retries and any rollback).
    pub result: Result<Transformed, PluginError>,
    /// A rollback that happened on the way.
    pub rolled_back: Option<RolledBack>,
    /// Time spent in plugin calls.
    pub call_time: Duration,
    /// Calls that trapped and were retried (a host that starved them of
    /// CPU), to be reported: the instance was discarded each time.
    pub retried_traps: Vec<PluginError>,
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64 << attempt.min(6))
}

/// Sleeps `d`, waking early when `cancel` is set.
pub fn sleep_unless(cancel: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !cancel.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
}

impl Stage {
    /// Stage `id` running `instance`.
    pub fn new(id: StageId, label: String, instance: Box<dyn Transform>) -> Self {
        Stage {
            id,
            label,
            instance,
            previous: None,
            probation: 0,
        }
    }

    /// Swaps in a new version; the old one is kept for [`PROBATION_BATCHES`]
    /// batches. Returns the digests (old, new).
    pub fn swap(&mut self, new: Box<dyn Transform>) -> (String, String) {
        let old = std::mem::replace(&mut self.instance, new);
        let digests = (old.digest().to_string(), self.instance.digest().to_string());
        // Replacing `previous` drops the version before it.
        self.previous = Some(old);
        self.probation = PROBATION_BATCHES;
        digests
    }

    /// Runs `input`: retries a retryable error or retry outcomes with bounded
    /// backoff, and rolls a version on probation back to the previous one
    /// when it fails (the batch then runs on the previous one).
    pub fn run(&mut self, mut input: Batch, cancel: &AtomicBool) -> StageRun {
        let mut attempt = 0;
        let mut rolled_back = None;
        let mut call_time = Duration::ZERO;
        let mut retried_traps = Vec::new();
        loop {
            let started = Instant::now();
            let (back, result) = self.instance.process(input);
            call_time += started.elapsed();
            input = back;
            let retry = match &result {
                Ok(t) => t.outcomes.iter().any(|o| matches!(o, Outcome::Retry(_))),
                Err(e) => e.is_retryable(),
            };
            if retry && attempt < MAX_RETRIES && !cancel.load(Ordering::Relaxed) {
                match result {
                    Err(e) if e.discarded_instance() => {
                        tracing::warn!(transform = %self.label, attempt, error = %e, "Transform call starved of CPU; retrying the batch on a fresh instance");
                        retried_traps.push(e);
                    }
                    _ => {
                        tracing::warn!(transform = %self.label, attempt, "Transform asked to retry a batch");
                    }
                }
                sleep_unless(cancel, backoff(attempt));
                attempt += 1;
                continue;
            }
            if let (Err(e), true) = (&result, self.probation > 0)
                && let Some(previous) = self.previous.take()
            {
                let failed = std::mem::replace(&mut self.instance, previous);
                self.probation = 0;
                rolled_back = Some(RolledBack {
                    failed: failed.digest().to_string(),
                    restored: self.instance.digest().to_string(),
                    reason: e.to_string(),
                });
                attempt = 0;
                continue;
            }
            if self.probation > 0 {
                self.probation -= 1;
                if self.probation == 0 {
                    self.previous = None;
                }
            }
            return StageRun {
                input,
                result,
                rolled_back,
                call_time,
                retried_traps,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::plugin::TrapKind;

    /// Fails its first `failures` calls with a trap of `kind`, then passes
    /// every record through.
    struct Trapping {
        kind: TrapKind,
        failures: u32,
        calls: u32,
    }

    impl Transform for Trapping {
        fn process(&mut self, input: Batch) -> (Batch, Result<Transformed, PluginError>) {
            self.calls += 1;
            if self.calls <= self.failures {
                let e = PluginError::Trap {
                    plugin: "t".into(),
                    call: "process",
                    kind: self.kind,
                    message: "stopped".into(),
                };
                return (input, Err(e));
            }
            let outcomes = (0..input.len() as u32)
                .map(|i| Outcome::Emit { start: i, count: 1 })
                .collect();
            let output = input.clone();
            (input, Ok(Transformed { output, outcomes }))
        }
        fn digest(&self) -> &str {
            "t"
        }
    }

    fn one() -> Batch {
        let mut b = Batch::default();
        b.push(None, Some(b"x"), &[]).unwrap();
        b
    }

    fn stage(kind: TrapKind, failures: u32) -> Stage {
        Stage::new(
            StageId::Transform(0),
            "t".into(),
            Box::new(Trapping {
                kind,
                failures,
                calls: 0,
            }),
        )
    }

    #[test]
    fn a_call_starved_of_cpu_is_retried_and_reported() {
        let run = stage(TrapKind::Starved, 2).run(one(), &AtomicBool::new(false));
        assert!(run.result.is_ok(), "{:?}", run.result.err());
        assert_eq!(run.retried_traps.len(), 2);
        assert!(run.retried_traps.iter().all(|e| e.kind() == "starved"));
    }

    #[test]
    fn a_plugin_s_own_trap_is_not_retried() {
        for kind in [TrapKind::Trap, TrapKind::Deadline, TrapKind::Memory] {
            let run = stage(kind, 1).run(one(), &AtomicBool::new(false));
            assert_eq!(run.result.unwrap_err().kind(), kind.as_str());
            assert!(run.retried_traps.is_empty());
        }
    }
}
