//! The contiguous low watermark of acknowledged records, per pipeline.
//!
//! Every batch handed to the sink is registered with the source position that
//! follows it and the number of records it holds. Delivery reports count the
//! records down; the committable position is the one of the last batch such
//! that it and every batch before it are fully acknowledged (Kafka Connect's
//! SubmittedRecords, at batch granularity).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A delivery that failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// The batch it belonged to.
    pub batch: u64,
    /// The record's index in its batch.
    pub record: u32,
    /// Kafka's reason.
    pub error: String,
}

/// A record Kafka refused under `errors: dead-letter`, waiting to be sent to
/// the dead-letter topic as part of its batch.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// The batch it belongs to (still open until the dead letter is acknowledged).
    pub batch: u64,
    /// The refused record; `topic` is where it was headed.
    pub record: crate::record::OwnedRecord,
    /// Kafka's reason.
    pub error: String,
}

struct Pending {
    seq: u64,
    remaining: usize,
    position: Option<Vec<u8>>,
}

/// Acknowledgement latencies in buckets a quarter of a power of two wide
/// (≤ 19 % error), from 1 µs to about an hour.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; 4 * 32],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    fn bucket(micros: u64) -> usize {
        let m = micros.max(1) as f64;
        ((m.log2() * 4.0) as usize).min(4 * 32 - 1)
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let b = Self::bucket(latency.as_micros() as u64);
        self.counts[b] += 1;
        self.total += 1;
    }

    /// The latency below which `quantile` (0..1) of the records fall; `None` when empty.
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((self.total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                // Upper edge of the bucket.
                return Some(Duration::from_micros(2f64.powf((b + 1) as f64 / 4.0) as u64));
            }
        }
        None
    }

    /// Number of latencies recorded.
    pub fn count(&self) -> u64 {
        self.total
    }
}

#[derive(Default)]
struct State {
    pending: VecDeque<Pending>,
    next_seq: u64,
    in_flight_records: usize,
    acknowledged: u64,
    failed: u64,
    committable: Option<Vec<u8>>,
    committable_changed: bool,
    failure: Option<DeliveryFailure>,
    redirects: Vec<Redirect>,
    latency: LatencyHistogram,
}

/// Shared between the pipeline thread (registers batches) and the producer's
/// delivery callbacks (acknowledge records).
#[derive(Default)]
pub struct AckTracker {
    state: Mutex<State>,
    changed: Condvar,
}

/// Why a wait ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitEnd {
    /// The condition holds.
    Ready,
    /// The deadline passed first.
    TimedOut,
    /// A delivery failed.
    Failed(DeliveryFailure),
}

impl AckTracker {
    /// A tracker that starts from `resume` (the last committed position).
    pub fn new(resume: Option<Vec<u8>>) -> Self {
        AckTracker {
            state: Mutex::new(State {
                committable: resume,
                ..State::default()
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counts half-updated
        // in a way that matters more than stopping; keep going with the data.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a batch of `records` records (possibly 0) followed by `position`.
    /// Returns the batch's sequence number for delivery reports.
    pub fn register(&self, records: usize, position: Option<Vec<u8>>) -> u64 {
        let mut s = self.lock();
        let seq = s.next_seq;
        s.next_seq += 1;
        s.in_flight_records += records;
        s.pending.push_back(Pending {
            seq,
            remaining: records,
            position,
        });
        Self::advance(&mut s);
        drop(s);
        self.changed.notify_all();
        seq
    }

    /// One record of batch `seq` was acknowledged.
    pub fn acknowledge(&self, seq: u64) {
        self.complete(seq, true);
    }

    /// One record of batch `seq` was acknowledged `latency` after it was sent.
    pub fn acknowledge_after(&self, seq: u64, latency: Duration) {
        self.lock().latency.record(latency);
        self.complete(seq, true);
    }

    /// Acknowledgement latencies so far.
    pub fn latency(&self) -> LatencyHistogram {
        self.lock().latency.clone()
    }

    fn complete(&self, seq: u64, acknowledged: bool) {
        let mut s = self.lock();
        if acknowledged {
            s.acknowledged += 1;
        } else {
            s.failed += 1;
        }
        s.in_flight_records = s.in_flight_records.saturating_sub(1);
        if let Some(front) = s.pending.front().map(|p| p.seq)
            && let Some(p) = seq
                .checked_sub(front)
                .and_then(|i| s.pending.get_mut(i as usize))
        {
            p.remaining = p.remaining.saturating_sub(1);
        }
        Self::advance(&mut s);
        drop(s);
        self.changed.notify_all();
    }

    /// One record of batch `seq` failed for good. Its batch never completes, so
    /// no position at or after it is committed.
    pub fn fail(&self, failure: DeliveryFailure) {
        let mut s = self.lock();
        s.failed += 1;
        s.in_flight_records = s.in_flight_records.saturating_sub(1);
        s.failure.get_or_insert(failure);
        drop(s);
        self.changed.notify_all();
    }

    /// Queues a refused record for the dead-letter topic; its batch stays open.
    pub fn redirect(&self, redirect: Redirect) {
        let mut s = self.lock();
        s.failed += 1;
        s.redirects.push(redirect);
        drop(s);
        self.changed.notify_all();
    }

    /// Takes the records waiting for the dead-letter topic.
    pub fn take_redirects(&self) -> Vec<Redirect> {
        std::mem::take(&mut self.lock().redirects)
    }

    /// One record of batch `seq` failed but the error policy lets it go
    /// (`skip`): it counts as done, and as failed.
    pub fn forgive(&self, seq: u64) {
        self.complete(seq, false);
    }

    fn advance(s: &mut State) {
        while s.pending.front().is_some_and(|p| p.remaining == 0) {
            if let Some(done) = s.pending.pop_front()
                && done.position.is_some()
            {
                s.committable = done.position;
                s.committable_changed = true;
            }
        }
    }

    /// The position to commit, if it changed since the last call.
    pub fn take_committable(&self) -> Option<Vec<u8>> {
        let mut s = self.lock();
        if s.committable_changed {
            s.committable_changed = false;
            s.committable.clone()
        } else {
            None
        }
    }

    /// The last position whose records are all acknowledged.
    pub fn committable(&self) -> Option<Vec<u8>> {
        self.lock().committable.clone()
    }

    /// The first permanent delivery failure, if any.
    pub fn failure(&self) -> Option<DeliveryFailure> {
        self.lock().failure.clone()
    }

    /// Records that failed (including forgiven ones).
    pub fn failed(&self) -> u64 {
        self.lock().failed
    }

    /// Records acknowledged so far.
    pub fn acknowledged(&self) -> u64 {
        self.lock().acknowledged
    }

    /// Records sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight_records
    }

    /// Waits until at most `max` records are in flight.
    pub fn wait_in_flight_at_most(&self, max: usize, timeout: Duration) -> WaitEnd {
        self.wait(timeout, |s| s.in_flight_records <= max)
    }

    /// Waits until every registered batch is acknowledged.
    pub fn wait_drained(&self, timeout: Duration) -> WaitEnd {
        self.wait(timeout, |s| s.pending.is_empty())
    }

    fn wait(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> WaitEnd {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if let Some(f) = &s.failure {
                return WaitEnd::Failed(f.clone());
            }
            if done(&s) {
                return WaitEnd::Ready;
            }
            let now = Instant::now();
            if now >= deadline {
                return WaitEnd::TimedOut;
            }
            s = match self.changed.wait_timeout(s, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(n: u8) -> Option<Vec<u8>> {
        Some(vec![n])
    }

    #[test]
    fn commits_only_a_contiguous_prefix() {
        let t = AckTracker::new(None);
        let a = t.register(2, pos(1));
        let b = t.register(1, pos(2));
        t.acknowledge(b);
        assert_eq!(t.take_committable(), None, "batch b done but a is not");
        t.acknowledge(a);
        assert_eq!(t.take_committable(), None, "a has one record left");
        t.acknowledge(a);
        assert_eq!(t.take_committable(), pos(2));
        assert_eq!(t.wait_drained(Duration::ZERO), WaitEnd::Ready);
    }

    #[test]
    fn empty_batches_complete_at_once_in_order() {
        let t = AckTracker::new(pos(9));
        let a = t.register(1, pos(1));
        t.register(0, pos(2));
        assert_eq!(t.committable(), pos(9));
        t.acknowledge(a);
        assert_eq!(t.committable(), pos(2));
    }

    #[test]
    fn latency_quantiles_are_within_a_bucket() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).unwrap().as_micros() as f64;
        let p99 = h.quantile(0.99).unwrap().as_micros() as f64;
        assert!((50_000.0..=50_000.0 * 1.2).contains(&p50), "{p50}");
        assert!((99_000.0..=99_000.0 * 1.2).contains(&p99), "{p99}");
    }

    #[test]
    fn a_failure_blocks_later_positions() {
        let t = AckTracker::new(None);
        let a = t.register(1, pos(1));
        let b = t.register(1, pos(2));
        t.fail(DeliveryFailure {
            batch: a,
            record: 0,
            error: "boom".into(),
        });
        t.acknowledge(b);
        assert_eq!(t.committable(), None);
        assert!(matches!(t.wait_drained(Duration::ZERO), WaitEnd::Failed(_)));
    }
}
