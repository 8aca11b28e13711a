//! Exactly-once topic → topic: one Kafka transaction at a time per
//! pipeline, holding both the records produced and the offsets consumed.
//!
//! The source commits the transaction between batches (so every record
//! produced in it comes from offsets it covers): once the transaction
//! interval has passed, it waits until the sink has answered every record,
//! then sends the consumed offsets with the consumer's group metadata
//! (KIP-447 zombie fencing: a process that lost its partitions cannot
//! commit offsets for them) and commits. On revocation it does the same
//! before releasing the partitions. Any failure aborts the transaction and
//! marks it failed; the sink then reports it as fatal, the flow ends with
//! a resend, and the supervisor rebuilds the pipeline (a new consumer reads
//! again from the group's committed offsets, a new producer with the same
//! `transactional.id` fences the old one).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::producer::Producer;

use crate::position::Ticket;
use crate::record::Batch;
use crate::sink::{KafkaSink, Route, SendError, SharedProducer, Sink};

/// How long one transactional call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a whole commit (offsets, commit, next begin) may take before
/// the producer is given up on (see [`Transaction::commit`]).
const COMMIT_BOUND: Duration = Duration::from_secs(2 * 30 + 5);

#[derive(Debug)]
struct State {
    /// Why the transaction failed (it was aborted; nothing more commits).
    failed: Option<String>,
    /// When the open transaction began.
    began: Instant,
    /// Transactions committed so far.
    commits: u64,
}

/// The open transaction of one pipeline's producer.
pub struct Transaction {
    producer: SharedProducer,
    interval: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl Transaction {
    /// Initialises transactions on `producer` (fencing any earlier producer
    /// with its `transactional.id`, aborting what it left open) and begins
    /// the first one.
    pub fn start(producer: SharedProducer, interval: Duration) -> anyhow::Result<Arc<Self>> {
        producer
            .0
            .init_transactions(CALL_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("cannot initialise Kafka transactions: {e}"))?;
        producer
            .0
            .begin_transaction()
            .map_err(|e| anyhow::anyhow!("cannot begin a Kafka transaction: {e}"))?;
        Ok(Arc::new(Transaction {
            producer,
            interval,
            state: Mutex::new(State {
                failed: None,
                began: Instant::now(),
                commits: 0,
            }),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the interval since the open transaction began has passed.
    pub fn due(&self) -> bool {
        self.lock().began.elapsed() >= self.interval
    }

    /// Why the transaction failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    /// Transactions committed so far.
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }

    /// Commits the open transaction with `offsets` (the next offset of every
    /// partition whose records it holds) and begins the next one. The
    /// caller has made sure every record sent in it was acknowledged.
    /// On failure the transaction is aborted and marked failed.
    ///
    /// The calls run on a thread of their own, bounded by [`COMMIT_BOUND`]:
    /// librdkafka 2.12 can block in `send_offsets_to_transaction` past its
    /// timeout, for good, when the broker that was the group coordinator
    /// went away (librdkafka issues 5456 and 5511, fixed upstream after its
    /// last release). A producer that does not answer in time is left to
    /// that thread (destroying it would block as well), the transaction is
    /// marked failed, and the rebuilt pipeline's new producer fences it and
    /// aborts what it held.
    pub fn commit(
        &self,
        offsets: &TopicPartitionList,
        group: ConsumerGroupMetadata,
    ) -> Result<(), String> {
        if let Some(f) = self.failure() {
            return Err(f);
        }
        let producer = self.producer.clone();
        let offsets = offsets.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("sluice-txn".into())
            .spawn(move || {
                let p = &producer.0;
                let result = (|| {
                    if offsets.count() > 0 {
                        p.send_offsets_to_transaction(&offsets, &group, CALL_TIMEOUT)
                            .map_err(|e| {
                                format!("cannot add the consumed offsets to the transaction: {e}")
                            })?;
                    }
                    p.commit_transaction(CALL_TIMEOUT)
                        .map_err(|e| format!("cannot commit the transaction: {e}"))?;
                    p.begin_transaction()
                        .map_err(|e| format!("cannot begin the next transaction: {e}"))
                })();
                let _ = tx.send(result);
            });
        let result = match spawned {
            Ok(_) => match rx.recv_timeout(COMMIT_BOUND) {
                Ok(result) => result,
                Err(_) => {
                    let why = format!(
                        "the producer did not finish committing within {} s (a librdkafka transactional call that outlives its timeout when a coordinator broker went away); it is left behind and a new producer fences it",
                        COMMIT_BOUND.as_secs()
                    );
                    self.give_up(&why);
                    return Err(why);
                }
            },
            Err(e) => Err(format!("cannot start the transaction commit: {e}")),
        };
        match result {
            Ok(()) => {
                let mut s = self.lock();
                s.began = Instant::now();
                s.commits += 1;
                Ok(())
            }
            Err(e) => {
                self.abort(&e);
                Err(e)
            }
        }
    }

    /// Marks the transaction failed without asking the producer anything
    /// (it is not answering): the next producer with this
    /// `transactional.id` aborts it.
    fn give_up(&self, why: &str) {
        let mut s = self.lock();
        if s.failed.is_none() {
            s.failed = Some(format!("Kafka transaction abandoned: {why}"));
            drop(s);
            tracing::warn!(reason = %why, "Abandoning the Kafka transaction; the pipeline resumes from the group's committed offsets");
        }
    }

    /// Aborts the open transaction: what it holds is never visible to
    /// `read_committed` readers, and its offsets are not committed.
    pub fn abort(&self, why: &str) {
        let mut s = self.lock();
        if s.failed.is_some() {
            return;
        }
        s.failed = Some(format!("Kafka transaction aborted: {why}"));
        drop(s);
        tracing::warn!(reason = %why, "Aborting the Kafka transaction; the pipeline resumes from the group's committed offsets");
        if let Err(e) = self.producer.0.abort_transaction(CALL_TIMEOUT) {
            tracing::warn!(error = %e, "Could not abort the Kafka transaction (it times out on the broker)");
        }
    }
}

/// The Kafka sink of an exactly-once pipeline: a [`KafkaSink`] on the
/// transactional producer, which reports a failed transaction as fatal so
/// the flow stops and the pipeline is rebuilt.
pub struct TransactionalSink {
    inner: KafkaSink,
    transaction: Arc<Transaction>,
}

impl TransactionalSink {
    /// Wraps `inner`, whose producer is the one `transaction` runs on.
    pub fn new(inner: KafkaSink, transaction: Arc<Transaction>) -> Self {
        TransactionalSink { inner, transaction }
    }
}

impl Sink for TransactionalSink {
    fn send(
        &self,
        batch: &Batch,
        ticket: &Ticket,
        route: Route<'_>,
        cancel: &AtomicBool,
    ) -> Result<(), SendError> {
        if let Some(f) = self.transaction.failure() {
            ticket.not_sent(batch.len());
            return Err(SendError::Fatal(f));
        }
        self.inner.send(batch, ticket, route, cancel)
    }

    fn fatal_error(&self) -> Option<String> {
        self.inner
            .fatal_error()
            .or_else(|| self.transaction.failure())
    }

    fn flush(&self, timeout: Duration) {
        self.inner.flush(timeout);
    }

    fn queue_depth(&self) -> u64 {
        self.inner.queue_depth()
    }

    fn max_record_bytes(&self) -> usize {
        self.inner.max_record_bytes()
    }

    fn reachable(&self) -> bool {
        self.inner.reachable()
    }
}
