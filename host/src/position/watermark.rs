//! The contiguous low watermark of acknowledged records, per pipeline.
//!
//! Every batch handed to the sink is registered with the source position that
//! follows it; the sink answers each record through the batch's [`Ticket`].
//! The committable position is the one of the last batch such that it and
//! every batch before it are fully resolved (Kafka Connect's
//! SubmittedRecords, at batch granularity).
//!
//! A record is *resolved* when Kafka acknowledged it, or when the data path
//! decided what to do about a record Kafka did not take (skipped it, or its
//! dead letter was acknowledged under the same ticket). The sink only
//! reports; it never decides (see `flow::policy`).
//!
//! Acknowledgements are counted with atomics on the producer's thread; the
//! lock is taken once per batch (when its last record resolves), not per
//! record.
//!
//! A batch may ask for **receipts** ([`Watermark::register_with_receipts`]):
//! then each record rides through the producer with a child ticket of its
//! own ([`Ticket::opaque_for`]) that notes its [`Answer`] (where Kafka put
//! it, or why it was refused and what the data path did), and a callback
//! gets every answer once the whole batch is resolved. Only such batches
//! pay for it (an allocation per record); for the others `opaque_for` is a
//! reference count.
//!
//! Long because the ticket, the batch registry and the receipts share one
//! lock discipline that is only checkable in one place (and its unit tests,
//! about a fifth of the file, sit at the end).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::latency::AckLatency;
use crate::sink::DeliveryError;

/// A record the sink could not deliver, waiting for the data path's decision.
#[derive(Debug)]
pub struct Undelivered {
    /// The batch it belongs to; resolve it (or add its dead letter) through this.
    pub ticket: Ticket,
    /// Its index in the batch as sent, when known (refusals at send time).
    pub index: Option<u32>,
    /// Why.
    pub error: DeliveryError,
    /// The record as it was sent, for a dead letter (only for records Kafka refused).
    pub record: Option<crate::record::OwnedRecord>,
    /// Whether the record was itself a dead letter.
    pub dead_letter: bool,
}

/// What became of one record of a batch that asked for receipts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Answer {
    /// Not answered (the batch was not resolved, or the record was never sent).
    #[default]
    Pending,
    /// Kafka acknowledged it: topic, partition and offset (an offset below 0
    /// is unknown, as under `acks: none`).
    Delivered {
        /// Topic it was written to.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset; below 0: unknown.
        offset: i64,
    },
    /// Kafka refused it for itself; the error policy skipped it, or sent its
    /// dead letter (acknowledged within the same batch).
    Refused {
        /// Why Kafka refused it.
        reason: String,
        /// Whether its dead letter was sent (else it was skipped).
        dead_lettered: bool,
    },
}

/// Called once with every record's [`Answer`] when a batch that asked for
/// receipts is resolved. Dropped without a call when the batch never is
/// (the pipeline stopped first).
pub type OnResolved = Box<dyn FnOnce(Vec<Answer>) + Send>;

struct Receipts {
    answers: Mutex<Vec<Answer>>,
    on_resolved: Mutex<Option<OnResolved>>,
}

impl Receipts {
    fn set(&self, index: u32, answer: Answer) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = answers.get_mut(index as usize) {
            *slot = answer;
        }
    }

    fn fire(&self) {
        let callback = self
            .on_resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(callback) = callback {
            let answers =
                std::mem::take(&mut *self.answers.lock().unwrap_or_else(|p| p.into_inner()));
            callback(answers);
        }
    }
}

/// What a ticket stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A registered batch.
    Batch,
    /// The dead letters of a batch (they resolve the batch's ticket).
    DeadLetters,
    /// One record of a batch that asked for receipts.
    Record(u32),
}

struct Pending {
    seq: u64,
    done: bool,
    position: Option<Vec<u8>>,
}

#[derive(Default)]
struct State {
    pending: VecDeque<Pending>,
    next_seq: u64,
    committable: Option<Vec<u8>>,
    committable_changed: bool,
    undelivered: Vec<Undelivered>,
    /// Batches that asked for receipts and may not be resolved yet.
    receipts: Vec<std::sync::Weak<Receipts>>,
}

/// Shared between the data path (registers batches, decides) and the sink's
/// delivery reports (acknowledge, report failures).
pub struct Watermark {
    state: Mutex<State>,
    changed: Condvar,
    acknowledged: AtomicU64,
    /// Records handed to the sink with no answer yet.
    in_flight: AtomicUsize,
    latency: AckLatency,
}

/// One registered batch, as the sink sees it: every record it carries is
/// answered through it once. Cheap to clone (one reference count).
#[derive(Clone)]
pub struct Ticket {
    inner: Arc<TicketState>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({})", self.inner.seq)
    }
}

/// What a [`Ticket`] shares with the sink's delivery reports (the
/// producer's per-record opaque is a reference to it).
pub struct TicketState {
    seq: u64,
    /// Records of the batch not yet resolved.
    remaining: AtomicUsize,
    sent_at: Instant,
    watermark: Arc<Watermark>,
    /// For the dead letters of a batch, or one of its records: the batch's
    /// own ticket, which they resolve.
    parent: Option<Arc<TicketState>>,
    role: Role,
    /// Per-record answers, for batches that asked for them.
    receipts: Option<Arc<Receipts>>,
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// The condition holds.
    Ready,
    /// The deadline passed first.
    TimedOut,
    /// Records the sink could not deliver wait for a decision
    /// ([`Watermark::take_undelivered`]).
    Undelivered,
}

impl Ticket {
    /// The shared state, to ride along a record through the producer.
    pub fn to_opaque(&self) -> Arc<TicketState> {
        self.inner.clone()
    }

    /// The opaque record `index` of this batch rides with: the ticket's
    /// shared state, or (for a batch that asked for receipts) a child that
    /// notes the record's answer.
    pub fn opaque_for(&self, index: u32) -> Arc<TicketState> {
        match (&self.inner.receipts, self.inner.role) {
            (Some(receipts), Role::Batch) => Arc::new(TicketState {
                seq: self.inner.seq,
                remaining: AtomicUsize::new(0),
                sent_at: self.inner.sent_at,
                watermark: self.inner.watermark.clone(),
                parent: Some(self.inner.clone()),
                role: Role::Record(index),
                receipts: Some(receipts.clone()),
            }),
            _ => self.inner.clone(),
        }
    }

    /// The ticket a delivery report's opaque belongs to.
    pub fn from_opaque(inner: Arc<TicketState>) -> Self {
        Ticket { inner }
    }

    /// The batch's sequence number (for messages).
    pub fn seq(&self) -> u64 {
        self.inner.seq
    }

    /// The ticket to send this batch's dead letters with: they count in this
    /// batch, and a failure to deliver one is reported as a dead letter's.
    pub fn for_dead_letters(&self) -> Ticket {
        let batch = self.batch();
        Ticket {
            inner: Arc::new(TicketState {
                seq: batch.inner.seq,
                remaining: AtomicUsize::new(0),
                sent_at: Instant::now(),
                watermark: batch.inner.watermark.clone(),
                parent: Some(batch.inner),
                role: Role::DeadLetters,
                receipts: None,
            }),
        }
    }

    /// The batch's own ticket (itself, unless this one is for its dead letters).
    fn batch(&self) -> Ticket {
        Ticket {
            inner: self
                .inner
                .parent
                .clone()
                .unwrap_or_else(|| self.inner.clone()),
        }
    }

    /// Whether records sent with this ticket are dead letters.
    pub fn is_dead_letters(&self) -> bool {
        self.inner.role == Role::DeadLetters
    }

    /// Kafka acknowledged the record this ticket rides with, at `topic`,
    /// `partition`, `offset` (noted when its batch asked for receipts).
    pub fn acknowledged_at(&self, topic: &str, partition: i32, offset: i64) {
        if let (Role::Record(index), Some(receipts)) = (self.inner.role, &self.inner.receipts) {
            receipts.set(
                index,
                Answer::Delivered {
                    topic: topic.to_string(),
                    partition,
                    offset,
                },
            );
        }
        self.acknowledged();
    }

    /// The data path decided on refused record `index` of this batch
    /// (skipped, or dead-lettered); noted when the batch asked for receipts.
    /// Call before resolving it.
    pub fn refused(&self, index: Option<u32>, reason: &str, dead_lettered: bool) {
        let batch = self.batch();
        let index = index.or(match self.inner.role {
            Role::Record(i) => Some(i),
            _ => None,
        });
        if let (Some(index), Some(receipts)) = (index, &batch.inner.receipts) {
            receipts.set(
                index,
                Answer::Refused {
                    reason: reason.to_string(),
                    dead_lettered,
                },
            );
        }
    }

    /// Kafka acknowledged one record of this batch.
    pub fn acknowledged(&self) {
        let w = &self.inner.watermark;
        w.latency.record(self.inner.sent_at.elapsed());
        w.acknowledged.fetch_add(1, Ordering::Relaxed);
        w.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.batch().resolve();
    }

    /// The sink could not deliver record `index` of this batch; it stays
    /// unresolved until the data path decides.
    pub fn undelivered(
        &self,
        index: Option<u32>,
        error: DeliveryError,
        record: Option<crate::record::OwnedRecord>,
    ) {
        let w = &self.inner.watermark;
        w.in_flight.fetch_sub(1, Ordering::Relaxed);
        let index = index.or(match self.inner.role {
            Role::Record(i) => Some(i),
            _ => None,
        });
        w.lock().undelivered.push(Undelivered {
            ticket: self.batch(),
            index,
            error,
            record,
            dead_letter: self.is_dead_letters(),
        });
        w.changed.notify_all();
    }

    /// The data path is done with one record of this batch without an
    /// acknowledgement (skipped, or replaced by a dead letter sent under
    /// this ticket).
    pub fn resolve(&self) {
        if let Some(parent) = &self.inner.parent {
            return Ticket::from_opaque(parent.clone()).resolve();
        }
        if self.inner.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.watermark.complete(self.inner.seq);
            if let Some(receipts) = &self.inner.receipts {
                receipts.fire();
            }
        }
    }

    /// Adds `records` more records (dead letters) to this batch before they
    /// are sent; call before resolving the record they replace.
    pub fn add(&self, records: usize) {
        self.batch()
            .inner
            .remaining
            .fetch_add(records, Ordering::AcqRel);
        self.inner
            .watermark
            .in_flight
            .fetch_add(records, Ordering::Relaxed);
    }

    /// Takes back `records` records that were counted but never reached the
    /// sink (so no answer will come for them); they stay unresolved.
    pub fn not_sent(&self, records: usize) {
        self.inner
            .watermark
            .in_flight
            .fetch_sub(records, Ordering::Relaxed);
    }
}

impl Watermark {
    /// A watermark that starts from `resume` (the last committed position).
    pub fn new(resume: Option<Vec<u8>>) -> Arc<Self> {
        Arc::new(Watermark {
            state: Mutex::new(State {
                committable: resume,
                ..State::default()
            }),
            changed: Condvar::new(),
            acknowledged: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            latency: AckLatency::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a queue of counts: a panic elsewhere cannot leave it
        // half-updated in a way that matters more than stopping.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a batch of `records` (at least one) followed by `position`
    /// (`None`: the position did not move). The records must be sent with
    /// the returned ticket.
    pub fn register(self: &Arc<Self>, records: usize, position: Option<Vec<u8>>) -> Ticket {
        self.register_inner(records, position, None)
    }

    /// Like [`register`](Self::register), for a batch whose `records`
    /// (at least one) each get an [`Answer`]; `on_resolved` gets them all
    /// once the batch is resolved (dead letters added later count in it).
    /// Send record `i` with [`Ticket::opaque_for`]`(i)`.
    pub fn register_with_receipts(
        self: &Arc<Self>,
        records: usize,
        position: Option<Vec<u8>>,
        on_resolved: OnResolved,
    ) -> Ticket {
        let receipts = Arc::new(Receipts {
            answers: Mutex::new(vec![Answer::Pending; records]),
            on_resolved: Mutex::new(Some(on_resolved)),
        });
        let ticket = self.register_inner(records, position, Some(receipts.clone()));
        {
            let mut s = self.lock();
            s.receipts.retain(|r| r.strong_count() > 0);
            s.receipts.push(Arc::downgrade(&receipts));
        }
        if records == 0 {
            receipts.fire();
        }
        ticket
    }

    /// The data path is done: batches that asked for receipts and are not
    /// resolved never will be; their callbacks are dropped uncalled now
    /// (not when the producer lets go of their records, possibly much later).
    pub fn abandon_receipts(&self) {
        let pending = std::mem::take(&mut self.lock().receipts);
        for r in pending.iter().filter_map(std::sync::Weak::upgrade) {
            drop(
                r.on_resolved
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take(),
            );
        }
    }

    fn register_inner(
        self: &Arc<Self>,
        records: usize,
        position: Option<Vec<u8>>,
        receipts: Option<Arc<Receipts>>,
    ) -> Ticket {
        let mut s = self.lock();
        let seq = s.next_seq;
        s.next_seq += 1;
        self.in_flight.fetch_add(records, Ordering::Relaxed);
        s.pending.push_back(Pending {
            seq,
            done: records == 0,
            position,
        });
        Self::advance(&mut s);
        drop(s);
        if records == 0 {
            self.changed.notify_all();
        }
        Ticket {
            inner: Arc::new(TicketState {
                seq,
                remaining: AtomicUsize::new(records),
                sent_at: Instant::now(),
                watermark: self.clone(),
                parent: None,
                role: Role::Batch,
                receipts,
            }),
        }
    }

    /// The source moved to `position` without records. Merged into the last
    /// registered batch (no record lies between them), so idle polls never
    /// grow the queue.
    pub fn advance_to(&self, position: Vec<u8>) {
        let mut s = self.lock();
        match s.pending.back_mut() {
            Some(last) => last.position = Some(position),
            None => {
                s.committable = Some(position);
                s.committable_changed = true;
            }
        }
        drop(s);
        self.changed.notify_all();
    }

    fn complete(&self, seq: u64) {
        let mut s = self.lock();
        if let Some(front) = s.pending.front().map(|p| p.seq)
            && let Some(p) = seq
                .checked_sub(front)
                .and_then(|i| s.pending.get_mut(i as usize))
        {
            p.done = true;
        }
        Self::advance(&mut s);
        drop(s);
        self.changed.notify_all();
    }

    fn advance(s: &mut State) {
        while s.pending.front().is_some_and(|p| p.done) {
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

    /// The last position whose records are all resolved.
    pub fn committable(&self) -> Option<Vec<u8>> {
        self.lock().committable.clone()
    }

    /// Records the sink could not deliver, for the data path to decide on.
    pub fn take_undelivered(&self) -> Vec<Undelivered> {
        std::mem::take(&mut self.lock().undelivered)
    }

    /// Whether records wait for a decision.
    pub fn has_undelivered(&self) -> bool {
        !self.lock().undelivered.is_empty()
    }

    /// Records acknowledged by Kafka so far.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::Relaxed)
    }

    /// Records handed to the sink and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Registered batches not yet fully resolved.
    pub fn pending_batches(&self) -> usize {
        self.lock().pending.iter().filter(|p| !p.done).count()
    }

    /// Acknowledgement latencies so far.
    pub fn latency(&self) -> &AckLatency {
        &self.latency
    }

    /// Waits until at most `max` records are in flight.
    pub fn wait_in_flight_at_most(&self, max: usize, timeout: Duration) -> WaitEnd {
        self.wait(timeout, |w, _| w.in_flight() <= max)
    }

    /// Waits until every registered batch is resolved.
    pub fn wait_drained(&self, timeout: Duration) -> WaitEnd {
        self.wait(timeout, |_, s| s.pending.is_empty())
    }

    /// Waits until the sink has answered every record it was given (some
    /// may wait for a decision).
    pub fn wait_answered(&self, timeout: Duration) -> WaitEnd {
        self.wait(timeout, |w, _| w.in_flight() == 0)
    }

    fn wait(&self, timeout: Duration, done: impl Fn(&Self, &State) -> bool) -> WaitEnd {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if !s.undelivered.is_empty() {
                return WaitEnd::Undelivered;
            }
            if done(self, &s) {
                return WaitEnd::Ready;
            }
            let now = Instant::now();
            if now >= deadline {
                return WaitEnd::TimedOut;
            }
            // Acknowledgements count in atomics and wake us once per batch;
            // a short cap keeps record-level conditions (in flight) prompt.
            let wait = (deadline - now).min(Duration::from_millis(20));
            s = match self.changed.wait_timeout(s, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pos(n: u8) -> Option<Vec<u8>> {
        Some(vec![n])
    }

    #[test]
    fn commits_only_a_contiguous_prefix() {
        let w = Watermark::new(None);
        let a = w.register(2, pos(1));
        let b = w.register(1, pos(2));
        b.acknowledged();
        assert_eq!(w.take_committable(), None, "batch b done but a is not");
        a.acknowledged();
        assert_eq!(w.take_committable(), None, "a has one record left");
        a.acknowledged();
        assert_eq!(w.take_committable(), pos(2));
        assert_eq!(w.wait_drained(Duration::ZERO), WaitEnd::Ready);
        assert_eq!(w.acknowledged(), 3);
        assert_eq!(w.in_flight(), 0);
    }

    #[test]
    fn idle_positions_merge_into_the_last_batch() {
        let w = Watermark::new(pos(9));
        let a = w.register(1, pos(1));
        for n in 2..100 {
            w.advance_to(vec![n]);
        }
        assert_eq!(w.pending_batches(), 1, "idle polls do not grow the queue");
        assert_eq!(w.committable(), pos(9));
        a.acknowledged();
        assert_eq!(w.committable(), pos(99));
        w.advance_to(vec![100]);
        assert_eq!(w.committable(), pos(100), "nothing pending: at once");
    }

    #[test]
    fn receipts_answer_every_record_once_the_batch_is_resolved() {
        let w = Watermark::new(None);
        let (tx, rx) = std::sync::mpsc::channel();
        let t = w.register_with_receipts(
            3,
            pos(1),
            Box::new(move |answers| tx.send(answers).unwrap()),
        );
        let r = |i| Ticket::from_opaque(t.opaque_for(i));
        r(2).acknowledged_at("orders", 1, 40);
        r(0).acknowledged_at("orders", 0, 7);
        r(1).undelivered(None, DeliveryError::refused("too large"), None);
        assert!(rx.try_recv().is_err(), "one record waits for a decision");
        let u = w.take_undelivered();
        assert_eq!(u[0].index, Some(1), "the child ticket knows its record");
        u[0].ticket.refused(u[0].index, "too large", false);
        u[0].ticket.resolve();
        let answers = rx.try_recv().unwrap();
        assert_eq!(
            answers,
            vec![
                Answer::Delivered {
                    topic: "orders".into(),
                    partition: 0,
                    offset: 7
                },
                Answer::Refused {
                    reason: "too large".into(),
                    dead_lettered: false
                },
                Answer::Delivered {
                    topic: "orders".into(),
                    partition: 1,
                    offset: 40
                },
            ]
        );
        assert_eq!(w.committable(), pos(1));
        // Other batches pay nothing: their opaque is the batch's own state.
        let plain = w.register(1, pos(2));
        assert!(Arc::ptr_eq(&plain.opaque_for(0), &plain.to_opaque()));
    }

    #[test]
    fn an_unresolved_batch_drops_its_callback_unanswered() {
        let w = Watermark::new(None);
        let (tx, rx) = std::sync::mpsc::channel::<Vec<Answer>>();
        let t = w.register_with_receipts(1, None, Box::new(move |a| tx.send(a).unwrap()));
        drop(t);
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        ));
    }

    #[test]
    fn an_undelivered_record_holds_its_batch_until_resolved() {
        let w = Watermark::new(None);
        let a = w.register(2, pos(1));
        let b = w.register(1, pos(2));
        a.acknowledged();
        a.undelivered(Some(1), DeliveryError::lost("timed out"), None);
        b.acknowledged();
        assert_eq!(w.committable(), None);
        assert_eq!(w.wait_drained(Duration::ZERO), WaitEnd::Undelivered);
        let undelivered = w.take_undelivered();
        assert_eq!(undelivered.len(), 1);
        assert_eq!(w.in_flight(), 0, "answered, not resolved");
        // Its dead letter goes out under the same ticket, then it resolves.
        undelivered[0].ticket.add(1);
        undelivered[0].ticket.resolve();
        assert_eq!(
            w.committable(),
            None,
            "the dead letter is not acknowledged yet"
        );
        a.acknowledged();
        assert_eq!(w.committable(), pos(2));
    }
}
