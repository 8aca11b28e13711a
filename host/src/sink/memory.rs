//! A sink that keeps records in memory and answers them when told, so the
//! data path (error policies, dead letters, the low watermark, reload
//! probation, shutdown) is tested without a broker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{DeliveryError, Route, SendError, Sink};
use crate::position::Ticket;
use crate::record::{Batch, OwnedRecord};

/// A record handed to a [`MemorySink`].
#[derive(Debug, Clone)]
pub struct SentRecord {
    /// The record, with `topic` set to where it went.
    pub record: OwnedRecord,
    /// Whether it was acknowledged (or answered otherwise).
    pub answered: bool,
    ticket: Ticket,
    /// Its place among every record sent (partition 0), as its offset.
    pub offset: i64,
}

#[derive(Default)]
struct State {
    sent: Vec<SentRecord>,
    auto_ack: bool,
    /// Values refused at send time (as Kafka refuses an oversized record).
    refuse_values: Vec<Vec<u8>>,
    /// Unanswered records the sink holds before `send` waits (0: no limit).
    capacity: usize,
    fatal: Option<String>,
}

/// The in-memory sink (give it to the data path).
pub struct MemorySink {
    state: Arc<Mutex<State>>,
    topic: String,
    max_record_bytes: usize,
}

/// The test's handle on a [`MemorySink`].
#[derive(Clone)]
pub struct MemorySinkControl {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemorySink {
    /// A sink for `topic` that acknowledges every record as it is sent
    /// when `auto_ack`, else only when told.
    pub fn new(topic: &str, auto_ack: bool) -> (Self, MemorySinkControl) {
        let state = Arc::new(Mutex::new(State {
            auto_ack,
            ..State::default()
        }));
        (
            MemorySink {
                state: state.clone(),
                topic: topic.to_string(),
                max_record_bytes: 1_000_000,
            },
            MemorySinkControl { state },
        )
    }

    /// Sets the largest record accepted (for dead-letter truncation tests).
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }
}

impl Sink for MemorySink {
    fn send(
        &self,
        batch: &Batch,
        ticket: &Ticket,
        route: Route<'_>,
        cancel: &AtomicBool,
    ) -> Result<(), SendError> {
        for index in 0..batch.len() {
            let Some(mut record) = batch.to_owned_record(index) else {
                continue;
            };
            loop {
                let s = lock(&self.state);
                if let Some(f) = &s.fatal {
                    ticket.not_sent(batch.len() - index);
                    return Err(SendError::Fatal(f.clone()));
                }
                let unanswered = s.sent.iter().filter(|r| !r.answered).count();
                if s.capacity == 0 || unanswered < s.capacity {
                    break;
                }
                drop(s);
                if cancel.load(Ordering::Relaxed) {
                    ticket.not_sent(batch.len() - index);
                    return Err(SendError::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            match route {
                Route::DeadLetters(topic) => record.topic = Some(topic.to_string()),
                Route::Records => {
                    record.topic.get_or_insert_with(|| self.topic.clone());
                }
            }
            let mut s = lock(&self.state);
            let oversized = record.value.as_ref().is_some_and(|v| {
                v.len() > self.max_record_bytes
                    || (route == Route::Records && s.refuse_values.iter().any(|r| r == v))
            });
            if oversized {
                drop(s);
                ticket.undelivered(
                    Some(index as u32),
                    DeliveryError::refused("Broker: Message size too large"),
                    Some(record),
                );
                continue;
            }
            let answered = s.auto_ack;
            // Offsets in the memory "topic": the record's place in the sent list.
            let offset = s.sent.len() as i64;
            let topic = record.topic.clone().unwrap_or_default();
            let ticket = Ticket::from_opaque(ticket.opaque_for(index as u32));
            s.sent.push(SentRecord {
                record,
                answered,
                ticket: ticket.clone(),
                offset,
            });
            drop(s);
            if answered {
                ticket.acknowledged_at(&topic, 0, offset);
            }
        }
        Ok(())
    }

    fn fatal_error(&self) -> Option<String> {
        lock(&self.state).fatal.clone()
    }

    fn flush(&self, _timeout: Duration) {}

    fn queue_depth(&self) -> u64 {
        lock(&self.state)
            .sent
            .iter()
            .filter(|r| !r.answered)
            .count() as u64
    }

    fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }
}

impl MemorySinkControl {
    /// Every record sent so far, in order.
    pub fn sent(&self) -> Vec<SentRecord> {
        lock(&self.state).sent.clone()
    }

    /// The values sent so far to `topic`, in order, as text.
    pub fn values(&self, topic: &str) -> Vec<String> {
        lock(&self.state)
            .sent
            .iter()
            .filter(|r| r.record.topic.as_deref() == Some(topic))
            .map(|r| {
                String::from_utf8_lossy(r.record.value.as_deref().unwrap_or_default()).into_owned()
            })
            .collect()
    }

    /// Acknowledges every unanswered record.
    pub fn ack_all(&self) {
        self.answer(usize::MAX, None);
    }

    /// Answers the first `n` unanswered records: acknowledged when `error`
    /// is `None`, else undelivered with it.
    pub fn answer(&self, n: usize, error: Option<DeliveryError>) {
        let mut s = lock(&self.state);
        let mut tickets = Vec::new();
        for r in s.sent.iter_mut().filter(|r| !r.answered).take(n) {
            r.answered = true;
            tickets.push((r.ticket.clone(), r.record.clone(), r.offset));
        }
        drop(s);
        for (ticket, record, offset) in tickets {
            match &error {
                None => {
                    let topic = record.topic.as_deref().unwrap_or_default();
                    ticket.acknowledged_at(topic, 0, offset);
                }
                Some(e) => ticket.undelivered(None, e.clone(), Some(record)),
            }
        }
    }

    /// Acknowledges every record as it is sent from now on (or stops doing so).
    pub fn set_auto_ack(&self, on: bool) {
        lock(&self.state).auto_ack = on;
    }

    /// Refuses records with this value at send time (not their dead letters).
    pub fn refuse_value(&self, value: &[u8]) {
        lock(&self.state).refuse_values.push(value.to_vec());
    }

    /// Makes `send` wait while this many records are unanswered (0: never).
    pub fn set_capacity(&self, capacity: usize) {
        lock(&self.state).capacity = capacity;
    }

    /// Breaks the sink for good, as a fatal producer error does.
    pub fn set_fatal(&self, reason: &str) {
        lock(&self.state).fatal = Some(reason.to_string());
    }
}
