//! The built-in Kafka source: a consumer in a consumer group, feeding the
//! same transform chain and sink as a plugin source.
//!
//! Kafka is the distributed engine here: several Sluice processes with the
//! same `group` split the topics' partitions (cooperative-sticky by
//! default), and nothing else coordinates them.
//!
//! **Offsets.** Nothing is auto-committed (`enable.auto.commit=false`,
//! `enable.auto.offset.store=false`). Each polled batch carries a position
//! naming every partition's next offset (see [`offsets`]); the flow commits
//! a position only once the sink answered every record before it, and
//! [`Source::committed`] then commits those offsets to the group, for the
//! partitions still assigned in the same assignment. Under exactly-once the
//! offsets go into the producer's transaction instead (see [`transaction`]).
//!
//! **Rebalances.** librdkafka calls the rebalance callback from inside
//! `poll`, on the flow's own thread. That is the one moment no batch of
//! this source is between the source and the sink, so on revocation the
//! callback waits (bounded) until the sink has answered what it was given
//! — acknowledgements arrive on the producer's thread, so the wait cannot
//! deadlock — then commits what is acknowledged for the revoked partitions
//! (or commits the transaction) before librdkafka releases them. Records
//! of revoked partitions fetched in the same poll are dropped from the
//! batch (their next owner reads them from the committed offset). A record
//! that waits for the flow's decision (refused by Kafka) cannot be decided
//! inside the callback: the wait stops there and only what is committable
//! is committed; under at-least-once the new owner reads the rest again,
//! under exactly-once the transaction is aborted and the pipeline rebuilt.
//!
//! Long because the consumer's callbacks (rebalance, commit) and the
//! [`Source`] side share one `Shared` state under one lock, and the
//! rebalance protocol is only checkable with both halves in view; the
//! position encoding and the transaction live in their own files.

pub mod offsets;
pub mod transaction;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use self::offsets::{Next, Offsets, TopicPartition};
pub use self::transaction::{Transaction, TransactionalSink};
use crate::events::{Event, Events};
use crate::flow::{Origin, Polled, Source};
use crate::plugin::{Plugin, PluginError};
use crate::position::{WaitEnd, Watermark};
use crate::record::Batch;
use crate::spec::KafkaSourceSpec;

/// How long a poll waits for the first record before it returns empty.
const POLL_WAIT: Duration = Duration::from_millis(20);

/// How long a revocation waits for the sink to answer what it was given.
const REVOKE_DRAIN: Duration = Duration::from_secs(15);

/// How often offsets the group has not confirmed are sent again.
const RECOMMIT: Duration = Duration::from_secs(2);

/// The label of the source in logs and events.
const LABEL: &str = "kafka";

/// One assigned partition.
#[derive(Debug, Clone, Copy)]
struct Assigned {
    /// Which assignment of the partition this is (see [`offsets`]).
    epoch: u64,
    /// The next offset to hand over, once a record was.
    next: Option<i64>,
}

/// What the source and its rebalance callback share.
#[derive(Default)]
struct Shared {
    assigned: BTreeMap<TopicPartition, Assigned>,
    epochs: u64,
    /// The offsets last committed to the group, per partition.
    committed: BTreeMap<TopicPartition, i64>,
    /// Offsets handed over since the last transaction commit.
    dirty: bool,
    /// The last offsets the flow asked to commit (at-least-once), sent
    /// again when an asynchronous commit failed.
    wanted: Offsets,
    /// An asynchronous commit failed: send `wanted` again.
    retry: bool,
    /// When `wanted` was last sent.
    sent_at: Option<Instant>,
    watermark: Option<Arc<Watermark>>,
}

impl Shared {
    fn offsets(&self) -> Offsets {
        self.assigned
            .iter()
            .filter_map(|(tp, a)| {
                a.next.map(|offset| {
                    (
                        tp.clone(),
                        Next {
                            epoch: a.epoch,
                            offset,
                        },
                    )
                })
            })
            .collect()
    }

    /// The entries of `offsets` that may be committed now: partitions still
    /// assigned in the same assignment, whose offset moved (`only`: just
    /// these partitions).
    fn committable(
        &self,
        offsets: &Offsets,
        only: Option<&[TopicPartition]>,
    ) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (tp, next) in offsets {
            if only.is_some_and(|o| !o.contains(tp)) {
                continue;
            }
            let current = self.assigned.get(tp).map(|a| a.epoch);
            if current == Some(next.epoch) && self.committed.get(tp) != Some(&next.offset) {
                let _ = tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(next.offset));
            }
        }
        tpl
    }

    fn note_committed(&mut self, tpl: &TopicPartitionList) {
        for e in tpl.elements() {
            if let Offset::Offset(o) = e.offset() {
                self.committed
                    .insert((e.topic().to_string(), e.partition()), o);
            }
        }
    }
}

/// The consumer's callbacks: rebalances (drain and commit before release),
/// client errors.
pub struct SourceContext {
    pipeline: String,
    shared: Arc<Mutex<Shared>>,
    transaction: Option<Arc<Transaction>>,
    events: Events,
    brokers: String,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

fn names(tps: &[TopicPartition]) -> Vec<String> {
    tps.iter().map(|(t, p)| format!("{t}:{p}")).collect()
}

impl ClientContext for SourceContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(pipeline = %self.pipeline, %error, "Kafka consumer error: {reason}");
        self.events.publish(Event::KafkaClientError {
            brokers: self.brokers.clone(),
            code: error
                .rdkafka_error_code()
                .map_or_else(|| "Unknown".to_string(), |c| format!("{c:?}")),
            error: reason.to_string(),
        });
    }
}

impl SourceContext {
    /// Drains and commits before `revoked` are released.
    fn revoke(&self, consumer: &BaseConsumer<SourceContext>, revoked: &[TopicPartition]) {
        let watermark = lock(&self.shared).watermark.clone();
        let drained = match &watermark {
            Some(w) => w.wait_drained(REVOKE_DRAIN),
            None => WaitEnd::Ready,
        };
        let lost = consumer.assignment_lost();
        match &self.transaction {
            Some(t) => {
                if t.failure().is_some() {
                    // Already aborted: nothing of it may commit.
                } else if lost {
                    t.abort("the partition assignment was lost (session timed out)");
                } else if drained != WaitEnd::Ready {
                    t.abort("partitions were revoked while records still waited for Kafka");
                } else {
                    let mut s = lock(&self.shared);
                    let offsets = s.offsets();
                    let tpl = s.committable(&offsets, None);
                    s.dirty = false;
                    drop(s);
                    match consumer.group_metadata() {
                        Some(g) => {
                            if t.commit(&tpl, g).is_ok() {
                                lock(&self.shared).note_committed(&tpl);
                            }
                        }
                        None => t.abort("the consumer has no group metadata"),
                    }
                }
            }
            None if lost => {
                tracing::warn!(pipeline = %self.pipeline, "Partition assignment lost; their next owner reads unacknowledged records again");
            }
            None => {
                let committable = watermark
                    .and_then(|w| w.committable())
                    .and_then(|p| offsets::decode(&p));
                if let Some(offsets) = committable {
                    let tpl = lock(&self.shared).committable(&offsets, Some(revoked));
                    if tpl.count() > 0 {
                        match consumer.commit(&tpl, CommitMode::Sync) {
                            Ok(()) => lock(&self.shared).note_committed(&tpl),
                            Err(e) => {
                                tracing::warn!(pipeline = %self.pipeline, error = %e, "Could not commit offsets of revoked partitions; their next owner reads them again")
                            }
                        }
                    }
                }
            }
        }
        let mut s = lock(&self.shared);
        for tp in revoked {
            s.assigned.remove(tp);
            s.committed.remove(tp);
        }
        drop(s);
        tracing::info!(pipeline = %self.pipeline, partitions = ?names(revoked), drained = ?drained, "Partitions revoked");
        self.events.publish(Event::Rebalance {
            pipeline: self.pipeline.clone(),
            assigned: Vec::new(),
            revoked: names(revoked),
        });
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.revoke(consumer, &partitions(tpl));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let added = partitions(tpl);
                let mut s = lock(&self.shared);
                for tp in &added {
                    s.epochs += 1;
                    let epoch = s.epochs;
                    s.assigned
                        .insert(tp.clone(), Assigned { epoch, next: None });
                }
                drop(s);
                tracing::info!(pipeline = %self.pipeline, partitions = ?names(&added), "Partitions assigned");
                self.events.publish(Event::Rebalance {
                    pipeline: self.pipeline.clone(),
                    assigned: names(&added),
                    revoked: Vec::new(),
                });
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => {
                tracing::warn!(pipeline = %self.pipeline, error = %e, "Rebalance error");
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        // librdkafka may report partition errors with an overall success:
        // only what each partition confirms counts as committed.
        let mut s = lock(&self.shared);
        let mut failed = result.err().map(|e| e.to_string());
        for e in offsets.elements() {
            match (e.error(), e.offset(), &failed) {
                (Ok(()), Offset::Offset(o), None) => {
                    s.committed
                        .insert((e.topic().to_string(), e.partition()), o);
                }
                (Err(err), _, _) => failed = Some(err.to_string()),
                _ => {}
            }
        }
        if let Some(error) = failed {
            s.retry = true;
            drop(s);
            tracing::warn!(pipeline = %self.pipeline, %error, "Offset commit failed; it is sent again");
        }
    }
}

/// Where and how a Kafka source reads.
#[derive(Debug, Clone)]
pub struct KafkaSourceOptions {
    /// Pipeline name (logs, events, the default transactional id).
    pub pipeline: String,
    /// Bootstrap servers to read.
    pub brokers: String,
}

/// The built-in Kafka consumer-group source (see the module docs).
pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
    shared: Arc<Mutex<Shared>>,
    transaction: Option<Arc<Transaction>>,
    pipeline: String,
}

/// The librdkafka consumer settings of `spec` (before its own `consumer:`
/// properties, which may override the tunable ones).
pub fn consumer_config(spec: &KafkaSourceSpec, brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", &spec.group)
        .set("client.id", "sluice")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", spec.start.as_str())
        .set("isolation.level", "read_committed")
        .set("partition.assignment.strategy", "cooperative-sticky");
    if let Some(id) = spec.instance() {
        config.set("group.instance.id", id);
    }
    for (k, v) in &spec.consumer {
        config.set(k, v.to_string());
    }
    config
}

impl KafkaSource {
    /// Joins the group and subscribes; under exactly-once, `transaction`
    /// is the pipeline's (see [`transaction`]).
    pub fn open(
        spec: &KafkaSourceSpec,
        options: &KafkaSourceOptions,
        transaction: Option<Arc<Transaction>>,
        events: &Events,
    ) -> anyhow::Result<Self> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let context = SourceContext {
            pipeline: options.pipeline.clone(),
            shared: shared.clone(),
            transaction: transaction.clone(),
            events: events.clone(),
            brokers: options.brokers.clone(),
        };
        let consumer: BaseConsumer<SourceContext> = consumer_config(spec, &options.brokers)
            .create_with_context(context)
            .map_err(|e| {
                anyhow::anyhow!(
                    "pipeline `{}`: cannot create the Kafka consumer for {}: {e}",
                    options.pipeline,
                    options.brokers
                )
            })?;
        let pattern;
        let topics: Vec<&str> = match &spec.topic_pattern {
            Some(p) => {
                pattern = if p.starts_with('^') {
                    p.clone()
                } else {
                    format!("^{p}")
                };
                vec![pattern.as_str()]
            }
            None => spec.topics.iter().map(String::as_str).collect(),
        };
        consumer.subscribe(&topics).map_err(|e| {
            anyhow::anyhow!(
                "pipeline `{}`: cannot subscribe to {}: {e}",
                options.pipeline,
                topics.join(", ")
            )
        })?;
        Ok(KafkaSource {
            consumer,
            shared,
            transaction,
            pipeline: options.pipeline.clone(),
        })
    }

    fn failed(&self, message: String) -> PluginError {
        PluginError::Call {
            plugin: LABEL.into(),
            call: "poll",
            retryable: false,
            message,
        }
    }

    /// Under exactly-once: commits the transaction when it is due, once the
    /// sink answered everything. `false`: not now (records wait for Kafka or
    /// for the flow's decision), poll nothing this time.
    fn commit_transaction_if_due(&self, t: &Transaction) -> Result<bool, PluginError> {
        let s = lock(&self.shared);
        if !s.dirty || !t.due() {
            return Ok(true);
        }
        let watermark = s.watermark.clone();
        drop(s);
        if let Some(w) = watermark {
            match w.wait_drained(Duration::from_millis(100)) {
                WaitEnd::Ready => {}
                // The flow must decide on undelivered records, or Kafka is
                // slow: come back on the next poll.
                WaitEnd::Undelivered | WaitEnd::TimedOut => return Ok(false),
            }
        }
        let Some(group) = self.consumer.group_metadata() else {
            return Err(self.failed("the Kafka consumer has no group metadata".into()));
        };
        let mut s = lock(&self.shared);
        let offsets = s.offsets();
        let tpl = s.committable(&offsets, None);
        s.dirty = false;
        drop(s);
        match t.commit(&tpl, group) {
            Ok(()) => {
                lock(&self.shared).note_committed(&tpl);
                Ok(true)
            }
            // Aborted: the sink now reports it as fatal.
            Err(_) => Ok(false),
        }
    }
}

impl KafkaSource {
    /// Commits (asynchronously) the offsets the flow last asked for, where
    /// they moved past what the group has.
    fn commit_wanted(&self) -> Result<(), PluginError> {
        let mut s = lock(&self.shared);
        s.retry = false;
        s.sent_at = Some(Instant::now());
        let tpl = s.committable(&s.wanted, None);
        drop(s);
        if tpl.count() == 0 {
            return Ok(());
        }
        self.consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| self.failed(format!("cannot commit offsets to the group: {e}")))
    }
}

impl Source for KafkaSource {
    fn label(&self) -> &str {
        LABEL
    }

    fn poll(&mut self, max: u32) -> Result<Polled, PluginError> {
        if let Some(t) = &self.transaction {
            // A failed transaction is reported by the sink as fatal: the
            // flow ends with a resend and the pipeline is rebuilt.
            if t.failure().is_some() || !self.commit_transaction_if_due(t)? {
                return Ok(Polled::default());
            }
        }
        let retry = {
            let s = lock(&self.shared);
            // Failed commits are sent again; so are unconfirmed ones, now and then.
            s.retry || s.sent_at.is_some_and(|t| t.elapsed() >= RECOMMIT)
        };
        if retry && self.transaction.is_none() {
            self.commit_wanted()?;
        }
        let deadline = Instant::now() + POLL_WAIT;
        let mut messages = Vec::new();
        while messages.len() < max as usize {
            let wait = if messages.is_empty() {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            match self.consumer.poll(wait) {
                Some(Ok(m)) => messages.push(m),
                Some(Err(e)) => {
                    tracing::warn!(pipeline = %self.pipeline, error = %e, "Kafka consumer error while polling");
                    if !messages.is_empty() || Instant::now() >= deadline {
                        break;
                    }
                }
                None => break,
            }
        }
        let mut s = lock(&self.shared);
        if messages.is_empty()
            || self
                .transaction
                .as_ref()
                .is_some_and(|t| t.failure().is_some())
        {
            return Ok(Polled::default());
        }
        let mut records = Batch::with_capacity(messages.len(), 0);
        let mut origins = Vec::with_capacity(messages.len());
        let mut topic: Option<Arc<str>> = None;
        for m in &messages {
            let tp = (m.topic().to_string(), m.partition());
            // Revoked during this poll, or read before a seek back: the
            // partition's next owner (or read) hands it over.
            let Some(a) = s.assigned.get_mut(&tp) else {
                continue;
            };
            if a.next.is_some_and(|n| m.offset() < n) {
                continue;
            }
            let headers = m.headers();
            let pushed = records.push_read(
                m.key(),
                m.payload(),
                headers
                    .iter()
                    .flat_map(|h| h.iter())
                    .map(|h| (h.key, h.value)),
                m.timestamp().to_millis(),
            );
            if let Err(e) = pushed {
                return Err(self.failed(format!(
                    "record {}:{}@{} does not fit in a batch: {e}",
                    tp.0,
                    tp.1,
                    m.offset()
                )));
            }
            a.next = Some(m.offset() + 1);
            let t = match &topic {
                Some(t) if **t == *tp.0 => t.clone(),
                _ => {
                    let t: Arc<str> = tp.0.as_str().into();
                    topic = Some(t.clone());
                    t
                }
            };
            origins.push(Origin {
                topic: t,
                partition: tp.1,
                offset: m.offset(),
            });
        }
        if records.is_empty() {
            return Ok(Polled::default());
        }
        s.dirty = true;
        let position = offsets::encode(&s.offsets());
        Ok(Polled {
            records,
            position: Some(position),
            origins,
            ..Polled::default()
        })
    }

    fn committed(&mut self, position: &[u8]) -> Result<(), PluginError> {
        if self.transaction.is_some() {
            // Committed with the transaction.
            return Ok(());
        }
        let Some(offsets) = offsets::decode(position) else {
            return Err(self.failed("the committed position is not a Kafka source position".into()));
        };
        lock(&self.shared).wanted = offsets;
        self.commit_wanted()
    }

    fn reopen_at(&mut self, _position: Option<Vec<u8>>) {
        // The consumer keeps its own place; a rebuilt pipeline resumes from
        // the group's committed offsets.
    }

    fn plugin(&self) -> Option<&Plugin> {
        None
    }

    fn waits_in_poll(&self) -> bool {
        true
    }

    fn attach(&mut self, watermark: Arc<Watermark>) {
        lock(&self.shared).watermark = Some(watermark);
    }
}

/// A transactional id for `pipeline` in `group`: stable for a process with
/// an `instance_id` (a restart fences its earlier self), else unique to this
/// process.
pub fn transactional_id(pipeline: &str, spec: &KafkaSourceSpec) -> String {
    match spec.instance() {
        Some(id) => format!("sluice-{pipeline}-{}-{id}", spec.group),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            format!(
                "sluice-{pipeline}-{}-{}-{nanos:x}",
                spec.group,
                std::process::id()
            )
        }
    }
}
