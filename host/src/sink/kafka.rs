//! The Kafka sink: producers per (cluster, acks policy, options), queue-full
//! back-pressure, and delivery reports answered on each batch's ticket.
//!
//! The delivery callback runs on the producer's polling thread and only
//! reports: an acknowledgement, or an undelivered record with a
//! [`DeliveryError`] saying whether Kafka refused the record itself
//! ([`DeliveryError::Refused`]) or it was lost to something else
//! ([`DeliveryError::Lost`]: timeout, purge, fatal producer). What to do about
//! it is the data path's decision.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use super::{DeliveryError, Route, SendError, Sink};
use crate::events::{Event, Events};
use crate::position::{Ticket, TicketState};
use crate::record::{Batch, OwnedRecord, RecordRef};
use crate::spec::{Acks, KafkaSinkSpec, TopicPolicy};

/// What the producer's client saw of the cluster, for readiness and metrics.
#[derive(Debug, Default)]
pub struct ClientHealth {
    /// Set when librdkafka reports every broker down; cleared by the next
    /// acknowledgement.
    pub all_brokers_down: AtomicBool,
    /// Client-level errors reported by librdkafka.
    pub errors: AtomicU64,
}

/// Publishes client errors; answers delivery reports on their tickets.
pub struct SinkContext {
    health: Arc<ClientHealth>,
    events: Events,
    brokers: String,
}

impl ClientContext for SinkContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.health.errors.fetch_add(1, Ordering::Relaxed);
        let code = error.rdkafka_error_code();
        if code == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.health.all_brokers_down.store(true, Ordering::Relaxed);
        }
        tracing::warn!(%error, "Kafka client error: {reason}");
        self.events.publish(Event::KafkaClientError {
            brokers: self.brokers.clone(),
            code: code.map_or_else(|| "Unknown".to_string(), |c| format!("{c:?}")),
            error: reason.to_string(),
        });
    }
}

/// Sorts a failed delivery: only errors about the record itself are
/// [`DeliveryError::Refused`]; anything else (and everything once the
/// producer is fatally broken) is [`DeliveryError::Lost`].
pub fn classify(code: Option<RDKafkaErrorCode>, reason: String, fatal: bool) -> DeliveryError {
    use RDKafkaErrorCode as C;
    if fatal {
        return DeliveryError::Lost(reason);
    }
    match code {
        Some(
            C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::BadMessage
            | C::InvalidRecord
            | C::InvalidTimestamp
            // Only a partition override can name a partition that does not exist.
            | C::UnknownPartition,
        ) => DeliveryError::Refused(reason),
        _ => DeliveryError::Lost(reason),
    }
}

fn owned(message: &impl Message) -> OwnedRecord {
    OwnedRecord {
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers: message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default(),
        timestamp_ms: None,
        topic: Some(message.topic().to_string()),
        partition: None,
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = Arc<TicketState>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let ticket = Ticket::from_opaque(opaque);
        match result {
            Ok(message) => {
                self.health.all_brokers_down.store(false, Ordering::Relaxed);
                ticket.acknowledged_at(message.topic(), message.partition(), message.offset());
            }
            Err((error, message)) => {
                let reason = format!(
                    "{error} (topic {}, partition {})",
                    message.topic(),
                    message.partition()
                );
                // A fatal producer error fails every queued record with some
                // other code: they were not refused, they were lost.
                let fatal = matches!(
                    error.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::Fatal
                            | RDKafkaErrorCode::PurgeQueue
                            | RDKafkaErrorCode::PurgeInflight
                    )
                );
                let error = classify(error.rdkafka_error_code(), reason, fatal);
                let record = matches!(error, DeliveryError::Refused(_)).then(|| owned(message));
                ticket.undelivered(None, error, record);
            }
        }
    }
}

/// A producer shared by the pipelines with the same cluster, acks and options.
pub type SharedProducer = Arc<(ThreadedProducer<SinkContext>, Arc<ClientHealth>)>;

/// librdkafka settings for an acks policy.
pub fn acks_settings(acks: Acks) -> [(&'static str, &'static str); 2] {
    match acks {
        Acks::None => [("acks", "0"), ("enable.idempotence", "false")],
        Acks::Leader => [("acks", "1"), ("enable.idempotence", "false")],
        Acks::All => [("acks", "all"), ("enable.idempotence", "true")],
    }
}

/// Bootstrap servers, acks policy and extra producer properties.
type ProducerKey = (String, Acks, BTreeMap<String, String>);

/// Producers are keyed by cluster, acks policy and extra options (acks is a
/// producer-wide setting in librdkafka).
#[derive(Default)]
pub struct ProducerPool {
    producers: Mutex<HashMap<ProducerKey, SharedProducer>>,
    events: Events,
}

/// The pipeline's own producer properties, as librdkafka takes them.
fn producer_options(spec: &KafkaSinkSpec) -> BTreeMap<String, String> {
    spec.producer
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

impl ProducerPool {
    /// A pool whose producers publish their client errors to `events`.
    pub fn new(events: Events) -> Self {
        ProducerPool {
            producers: Mutex::default(),
            events,
        }
    }

    /// Forgets every producer that hit a fatal error, so the next `get` builds a new one.
    pub fn evict_fatal(&self) -> usize {
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        let before = producers.len();
        producers.retain(|_, p| p.0.client().fatal_error().is_none());
        before - producers.len()
    }

    /// The producer for `brokers` and the sink's settings, created on first use.
    pub fn get(&self, brokers: &str, spec: &KafkaSinkSpec) -> anyhow::Result<SharedProducer> {
        let options = producer_options(spec);
        let key = (brokers.to_string(), spec.acks, options.clone());
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = producers.get(&key) {
            return Ok(p.clone());
        }
        let producer = self.create(brokers, spec, &options, &[])?;
        producers.insert(key, producer.clone());
        Ok(producer)
    }

    /// A transactional producer of its own (never shared: one per
    /// exactly-once pipeline), with `transactional_id`.
    pub fn transactional(
        &self,
        brokers: &str,
        spec: &KafkaSinkSpec,
        transactional_id: &str,
    ) -> anyhow::Result<SharedProducer> {
        let options = producer_options(spec);
        // A crashed process's open transaction blocks read_committed
        // readers (and the group's offsets) until it times out: keep that
        // short unless the pipeline says otherwise.
        let timeout = if options.contains_key("transaction.timeout.ms") {
            None
        } else {
            Some(("transaction.timeout.ms", "10000"))
        };
        let extra: Vec<(&str, &str)> = [("transactional.id", transactional_id)]
            .into_iter()
            .chain(timeout)
            .collect();
        self.create(brokers, spec, &options, &extra)
    }

    fn create(
        &self,
        brokers: &str,
        spec: &KafkaSinkSpec,
        options: &BTreeMap<String, String>,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<SharedProducer> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("client.id", "sluice")
            // Same key → same partition as Java clients (Kafka Connect, Streams).
            .set("partitioner", "murmur2_random");
        for (k, v) in acks_settings(spec.acks) {
            config.set(k, v);
        }
        for (k, v) in options {
            config.set(k, v);
        }
        for (k, v) in extra {
            config.set(*k, *v);
        }
        let health = Arc::new(ClientHealth::default());
        let producer: ThreadedProducer<SinkContext> = config
            .create_with_context(SinkContext {
                health: health.clone(),
                events: self.events.clone(),
                brokers: brokers.to_string(),
            })
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot create Kafka producer for {brokers} (acks {}): {e}",
                    spec.acks.as_str()
                )
            })?;
        Ok(Arc::new((producer, health)))
    }
}

/// librdkafka's default `message.max.bytes`.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// One pipeline's view of the Kafka sink.
pub struct KafkaSink {
    producer: SharedProducer,
    topic: String,
    key_field: Option<String>,
    /// Where a record's topic override may point.
    topics: TopicPolicy,
    max_record_bytes: usize,
}

impl KafkaSink {
    /// A sink producing to `spec.topic` through `producer`; record topic
    /// overrides may name only the topics `topics` allows.
    pub fn new(producer: SharedProducer, spec: &KafkaSinkSpec, topics: TopicPolicy) -> Self {
        let max_record_bytes = spec
            .producer
            .get("message.max.bytes")
            .and_then(|v| v.to_string().parse().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        KafkaSink {
            producer,
            topic: spec.topic.clone(),
            key_field: spec.key.clone(),
            topics,
            max_record_bytes,
        }
    }

    /// Whether every broker was last reported down.
    pub fn brokers_down(&self) -> bool {
        self.producer.1.all_brokers_down.load(Ordering::Relaxed)
    }

    /// The topic record `r` goes to, or why it may not.
    fn target<'a>(&'a self, r: &RecordRef<'a>) -> Result<&'a str, String> {
        match r.topic() {
            None => Ok(&self.topic),
            Some(t) => self.topics.check(t).map(|()| t).map_err(|e| e.to_string()),
        }
    }
}

impl Sink for KafkaSink {
    fn send(
        &self,
        batch: &Batch,
        ticket: &Ticket,
        route: Route<'_>,
        cancel: &AtomicBool,
    ) -> Result<(), SendError> {
        let producer = &self.producer.0;
        let refused_copy = |index: usize, topic: &str| {
            batch.to_owned_record(index).map(|mut r| {
                r.topic = Some(topic.to_string());
                r
            })
        };
        for (index, record) in batch.iter().enumerate() {
            let target = match route {
                Route::Records => self.target(&record),
                Route::DeadLetters(topic) => Ok(topic),
            };
            let topic = match target {
                Ok(t) => t,
                Err(reason) => {
                    ticket.undelivered(
                        Some(index as u32),
                        DeliveryError::Refused(reason),
                        batch.to_owned_record(index),
                    );
                    continue;
                }
            };
            let derived_key;
            let key = match (record.key(), &self.key_field) {
                (Some(k), _) => Some(k),
                (None, Some(field)) => {
                    derived_key = record.value().and_then(|v| key_from_json(v, field));
                    derived_key.as_deref()
                }
                (None, None) => None,
            };
            let mut out: BaseRecord<'_, [u8], [u8], Arc<TicketState>> =
                BaseRecord::with_opaque_to(topic, ticket.opaque_for(index as u32));
            let mut headers = record.headers().peekable();
            if headers.peek().is_some() {
                let mut owned = OwnedHeaders::new();
                for (name, value) in headers {
                    owned = owned.insert(Header { key: name, value });
                }
                out = out.headers(owned);
            }
            if let Some(k) = key {
                out = out.key(k);
            }
            if let Some(v) = record.value() {
                out = out.payload(v);
            }
            if let (Some(p), Route::Records) = (record.partition(), route) {
                out = out.partition(p);
            }
            if let Some(t) = record.timestamp_ms() {
                out = out.timestamp(t);
            }
            let mut pending = out;
            let mut wait = Duration::from_micros(200);
            loop {
                match producer.send(pending) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        if cancel.load(Ordering::Relaxed) {
                            // This record and the rest were never handed over.
                            ticket.not_sent(batch.len() - index);
                            return Err(SendError::Cancelled);
                        }
                        // The producer's own thread drains the queue; give it room.
                        std::thread::sleep(wait);
                        wait = (wait * 2).min(Duration::from_millis(20));
                        pending = back;
                    }
                    Err((error, _)) => {
                        if let Some((code, reason)) = producer.client().fatal_error() {
                            ticket.not_sent(batch.len() - index);
                            return Err(SendError::Fatal(format!("{code:?}: {reason}")));
                        }
                        let reason = format!("{error} (topic {topic})");
                        let error = classify(error.rdkafka_error_code(), reason, false);
                        let record = matches!(error, DeliveryError::Refused(_))
                            .then(|| refused_copy(index, topic))
                            .flatten();
                        ticket.undelivered(Some(index as u32), error, record);
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn fatal_error(&self) -> Option<String> {
        self.producer
            .0
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code:?}: {reason}"))
    }

    fn flush(&self, timeout: Duration) {
        let _ = self.producer.0.flush(timeout);
    }

    fn queue_depth(&self) -> u64 {
        u64::try_from(self.producer.0.in_flight_count()).unwrap_or_default()
    }

    fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    fn reachable(&self) -> bool {
        !self.brokers_down()
    }
}

/// The text of top-level JSON field `field` of `value`, as a key.
fn key_from_json(value: &[u8], field: &str) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(value).ok()?;
    match v.get(field)? {
        serde_json::Value::String(s) => Some(s.clone().into_bytes()),
        serde_json::Value::Null => None,
        other => Some(other.to_string().into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_from_json_takes_text_of_scalars() {
        assert_eq!(
            key_from_json(br#"{"id":7,"c":"x"}"#, "id"),
            Some(b"7".to_vec())
        );
        assert_eq!(
            key_from_json(br#"{"id":7,"c":"x"}"#, "c"),
            Some(b"x".to_vec())
        );
        assert_eq!(key_from_json(br#"{"id":7}"#, "nope"), None);
        assert_eq!(key_from_json(b"not json", "id"), None);
    }

    #[test]
    fn only_errors_about_the_record_are_refusals() {
        use RDKafkaErrorCode as C;
        let refused = |c| {
            matches!(
                classify(Some(c), "x".into(), false),
                DeliveryError::Refused(_)
            )
        };
        assert!(refused(C::MessageSizeTooLarge));
        assert!(refused(C::InvalidRecord));
        assert!(refused(C::UnknownPartition));
        for lost in [
            C::MessageTimedOut,
            C::PurgeQueue,
            C::PurgeInflight,
            C::Fatal,
            C::OutOfOrderSequenceNumber,
            C::UnknownTopicOrPartition,
            C::NotEnoughReplicas,
        ] {
            assert!(!refused(lost), "{lost:?} is not about the record");
        }
        assert!(
            matches!(
                classify(Some(C::MessageSizeTooLarge), "x".into(), true),
                DeliveryError::Lost(_)
            ),
            "after a fatal error nothing counts as refused"
        );
    }
}
