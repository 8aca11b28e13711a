//! The Kafka sink: producers per (cluster, acks policy, options), delivery
//! reports feeding each pipeline's [`AckTracker`], queue-full back-pressure.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use crate::position::{AckTracker, DeliveryFailure, Redirect};
use crate::record::{Batch, OwnedRecord};
use crate::spec::{Acks, ErrorPolicy, KafkaSinkSpec};

/// What a delivery report carries back to its pipeline.
pub struct Delivery {
    tracker: Arc<AckTracker>,
    batch: u64,
    record: u32,
    policy: ErrorPolicy,
    pipeline: Arc<str>,
    sent_at: std::time::Instant,
}

/// Logs client errors; routes delivery reports.
pub struct SinkContext;

impl ClientContext for SinkContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, "Kafka client error: {reason}");
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, d: Self::DeliveryOpaque) {
        match result {
            Ok(_) => d.tracker.acknowledge_after(d.batch, d.sent_at.elapsed()),
            Err((error, message)) => {
                let error = format!(
                    "{error} (topic {}, partition {})",
                    message.topic(),
                    message.partition()
                );
                match d.policy {
                    ErrorPolicy::Skip => {
                        tracing::warn!(pipeline = &*d.pipeline, %error, "Skipped a record Kafka did not accept");
                        d.tracker.forgive(d.batch);
                    }
                    ErrorPolicy::Fail => d.tracker.fail(DeliveryFailure {
                        batch: d.batch,
                        record: d.record,
                        error,
                    }),
                    ErrorPolicy::DeadLetter => {
                        // The record's batch stays open until its dead letter is
                        // acknowledged; the pipeline thread sends it.
                        let headers = message
                            .headers()
                            .map(|h| {
                                h.iter()
                                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let record = OwnedRecord {
                            key: message.key().map(<[u8]>::to_vec),
                            value: message.payload().map(<[u8]>::to_vec),
                            headers,
                            timestamp_ms: None,
                            topic: Some(message.topic().to_string()),
                            partition: None,
                        };
                        d.tracker.redirect(Redirect {
                            batch: d.batch,
                            record,
                            error,
                        });
                    }
                }
            }
        }
    }
}

/// A shared producer.
pub type SharedProducer = Arc<ThreadedProducer<SinkContext>>;

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
}

impl ProducerPool {
    /// Forgets every producer that hit a fatal error, so the next `get` builds a new one.
    pub fn evict_fatal(&self) -> usize {
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        let before = producers.len();
        producers.retain(|_, p| p.client().fatal_error().is_none());
        before - producers.len()
    }

    /// The producer for `brokers` and the sink's settings, created on first use.
    pub fn get(&self, brokers: &str, spec: &KafkaSinkSpec) -> anyhow::Result<SharedProducer> {
        let options: BTreeMap<String, String> = spec
            .producer
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        let key = (brokers.to_string(), spec.acks, options.clone());
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = producers.get(&key) {
            return Ok(p.clone());
        }
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("client.id", "sluice")
            // Same key → same partition as Java clients (Kafka Connect, Streams).
            .set("partitioner", "murmur2_random");
        for (k, v) in acks_settings(spec.acks) {
            config.set(k, v);
        }
        for (k, v) in &options {
            config.set(k, v);
        }
        let producer: ThreadedProducer<SinkContext> =
            config.create_with_context(SinkContext).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create Kafka producer for {brokers} (acks {}): {e}",
                    spec.acks.as_str()
                )
            })?;
        let producer = Arc::new(producer);
        producers.insert(key, producer.clone());
        Ok(producer)
    }
}

/// One pipeline's view of the sink.
pub struct KafkaSink {
    producer: SharedProducer,
    topic: String,
    key_field: Option<String>,
    policy: ErrorPolicy,
    pipeline: Arc<str>,
}

/// Why sending stopped.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The pipeline was asked to stop while the queue was full.
    #[error("stopped while waiting for room in the producer queue")]
    Cancelled,
    /// librdkafka refused the record for good.
    #[error("Kafka refused record {record} of the batch: {error}")]
    Refused {
        /// Index in the batch.
        record: usize,
        /// Why.
        error: String,
    },
    /// The producer hit a fatal error (e.g. idempotence broken).
    #[error("Kafka producer fatal error: {0}")]
    Fatal(String),
}

impl KafkaSink {
    /// A sink producing to `spec.topic` through `producer`.
    pub fn new(
        producer: SharedProducer,
        spec: &KafkaSinkSpec,
        policy: ErrorPolicy,
        pipeline: &str,
    ) -> Self {
        KafkaSink {
            producer,
            topic: spec.topic.clone(),
            key_field: spec.key.clone(),
            policy,
            pipeline: pipeline.into(),
        }
    }

    /// The producer (for flushing and fatal-error checks).
    pub fn producer(&self) -> &SharedProducer {
        &self.producer
    }

    /// Enqueues every record of `batch` as batch `seq` of `tracker`. Waits while
    /// the producer queue is full (back-pressure); never drops a record.
    pub fn send(
        &self,
        batch: &Batch,
        seq: u64,
        tracker: &Arc<AckTracker>,
        cancel: &AtomicBool,
    ) -> Result<(), SendError> {
        self.send_with(batch, seq, tracker, cancel, self.policy)
    }

    /// As [`KafkaSink::send`], with the error policy for these records
    /// (dead letters themselves must not be dead-lettered again).
    pub fn send_with(
        &self,
        batch: &Batch,
        seq: u64,
        tracker: &Arc<AckTracker>,
        cancel: &AtomicBool,
        policy: ErrorPolicy,
    ) -> Result<(), SendError> {
        for (index, record) in batch.iter().enumerate() {
            let mut headers = OwnedHeaders::new_with_capacity(0);
            for (name, value) in record.headers() {
                headers = headers.insert(Header { key: name, value });
            }
            let derived_key;
            let key = match (record.key(), &self.key_field) {
                (Some(k), _) => Some(k),
                (None, Some(field)) => {
                    derived_key = record.value().and_then(|v| key_from_json(v, field));
                    derived_key.as_deref()
                }
                (None, None) => None,
            };
            let topic = record.topic().unwrap_or(&self.topic);
            let delivery = Box::new(Delivery {
                tracker: tracker.clone(),
                batch: seq,
                record: index as u32,
                policy,
                pipeline: self.pipeline.clone(),
                sent_at: std::time::Instant::now(),
            });
            let mut out: BaseRecord<'_, [u8], [u8], Box<Delivery>> =
                BaseRecord::with_opaque_to(topic, delivery).headers(headers);
            if let Some(k) = key {
                out = out.key(k);
            }
            if let Some(v) = record.value() {
                out = out.payload(v);
            }
            if let Some(p) = record.partition() {
                out = out.partition(p);
            }
            if let Some(t) = record.timestamp_ms() {
                out = out.timestamp(t);
            }
            let mut pending = out;
            let mut wait = Duration::from_micros(200);
            loop {
                match self.producer.send(pending) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        if cancel.load(Ordering::Relaxed) {
                            return Err(SendError::Cancelled);
                        }
                        // The producer's own thread drains the queue; give it room.
                        std::thread::sleep(wait);
                        wait = (wait * 2).min(Duration::from_millis(20));
                        pending = back;
                    }
                    Err((error, _)) => {
                        if let Some((code, reason)) = self.producer.client().fatal_error() {
                            return Err(SendError::Fatal(format!("{code:?}: {reason}")));
                        }
                        return Err(SendError::Refused {
                            record: index,
                            error: error.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The producer's fatal error, if it hit one (e.g. idempotence broken by
    /// an out-of-order sequence): it can deliver nothing more.
    pub fn fatal_error(&self) -> Option<String> {
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code:?}: {reason}"))
    }

    /// Waits up to `timeout` for queued records to be delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        self.producer.flush(timeout).map_err(|e| e.to_string())
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
}
