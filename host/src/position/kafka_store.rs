//! Positions in a compacted Kafka topic, for sidecars without a volume: one
//! record per pipeline, keyed by its name; compaction keeps the latest.
//!
//! Works with any existing topic: the pipeline's key is mapped to a
//! partition with murmur2, as the Java client's default partitioner does,
//! and both the write and the read use that partition explicitly, so
//! writes go where reads look whatever the topic's partition count. A topic
//! that is not compacted is refused, because retention would delete the
//! position and a restarted pipeline would start over. Every wait (metadata,
//! reads, delivery of a write) is bounded, so shutdown is too.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// Longest wait for metadata, topic settings or reading the position back.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for one position write to be acknowledged by every in-sync
/// replica (librdkafka's `message.timeout.ms` for the positions producer).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the positions topic cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PositionsTopicError {
    /// Retention would delete positions.
    #[error(
        "positions topic `{topic}` has cleanup.policy={policy}: retention would delete the committed positions and a restarted pipeline would start over; make it compacted with: kafka-configs.sh --bootstrap-server {brokers} --alter --entity-type topics --entity-name {topic} --add-config cleanup.policy=compact (Sluice never changes an existing topic's settings)"
    )]
    NotCompacted {
        /// The topic.
        topic: String,
        /// Its `cleanup.policy`.
        policy: String,
        /// The cluster, for the command.
        brokers: String,
    },
    /// Kafka did not answer or refused.
    #[error("positions topic `{topic}`: {action}: {reason}")]
    Kafka {
        /// The topic.
        topic: String,
        /// What was attempted.
        action: &'static str,
        /// Why it failed.
        reason: String,
    },
}

/// What the cluster says about a positions topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionsTopic {
    /// How many partitions it has.
    pub partitions: i32,
    /// Its `cleanup.policy` (`compact`, `delete`, `compact,delete`).
    pub cleanup_policy: String,
}

impl PositionsTopic {
    /// Whether compaction alone decides what is kept (no retention deletes).
    pub fn is_compacted(&self) -> bool {
        let policies: Vec<&str> = self.cleanup_policy.split(',').map(str::trim).collect();
        policies.contains(&"compact") && !policies.contains(&"delete")
    }
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), the
/// hash of the Java client's default partitioner.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        if tail.len() >= 3 {
            h ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= u32::from(tail[1]) << 8;
        }
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner picks for `key`.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Runs `f` on a thread of its own with a small runtime, so callers inside
/// or outside an async runtime can block on Kafka.
fn blocking<T: Send>(
    f: impl FnOnce(&tokio::runtime::Runtime) -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                f(&runtime)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the position-topic thread panicked"))?
    })
}

fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "sluice-positions");
    config
}

/// The partition count and `cleanup.policy` of `topic`, `None` when it does
/// not exist.
pub fn inspect_positions_topic(
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Option<PositionsTopic>, PositionsTopicError> {
    let kafka = |action: &'static str, reason: String| PositionsTopicError::Kafka {
        topic: topic.to_string(),
        action,
        reason,
    };
    let config = client_config(brokers);
    let consumer: BaseConsumer = config
        .create()
        .map_err(|e| kafka("cannot create a Kafka client", e.to_string()))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| kafka("cannot read metadata", format!("{e} (brokers {brokers})")))?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    if t.error().is_some() || t.partitions().is_empty() {
        return Ok(None);
    }
    let partitions = t.partitions().len() as i32;
    let admin: AdminClient<DefaultClientContext> = config
        .create()
        .map_err(|e| kafka("cannot create a Kafka admin client", e.to_string()))?;
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = blocking(|rt| {
        Ok(rt.block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &options))?)
    })
    .map_err(|e| kafka("cannot read the topic's settings", format!("{e:#}")))?;
    let cleanup_policy = results
        .into_iter()
        .flatten()
        .find_map(|r| r.get("cleanup.policy").and_then(|e| e.value.clone()))
        .unwrap_or_else(|| "delete".to_string());
    Ok(Some(PositionsTopic {
        partitions,
        cleanup_policy,
    }))
}

/// A connection to the position topic.
pub struct KafkaStore {
    config: ClientConfig,
    topic: String,
    partitions: i32,
    producer: FutureProducer,
}

impl KafkaStore {
    /// Connects, creating `topic` (compacted, one partition) when it is
    /// missing and refusing it when it is not compacted.
    pub fn connect(brokers: &str, topic: &str) -> Result<Self, PositionsTopicError> {
        let kafka = |action: &'static str, reason: String| PositionsTopicError::Kafka {
            topic: topic.to_string(),
            action,
            reason,
        };
        let config = client_config(brokers);
        let info = match inspect_positions_topic(brokers, topic, READ_TIMEOUT)? {
            Some(info) => info,
            None => {
                create_topic(&config, topic)
                    .map_err(|e| kafka("cannot create it", format!("{e:#}")))?;
                inspect_positions_topic(brokers, topic, READ_TIMEOUT)?
                    .ok_or_else(|| kafka("cannot see it after creating it", "no metadata".into()))?
            }
        };
        if !info.is_compacted() {
            return Err(PositionsTopicError::NotCompacted {
                topic: topic.to_string(),
                policy: info.cleanup_policy,
                brokers: brokers.to_string(),
            });
        }
        let producer: FutureProducer = config
            .clone()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", WRITE_TIMEOUT.as_millis().to_string())
            .set(
                "request.timeout.ms",
                (WRITE_TIMEOUT.as_millis() * 2 / 3).to_string(),
            )
            .create()
            .map_err(|e| kafka("cannot create its producer", e.to_string()))?;
        Ok(KafkaStore {
            config,
            topic: topic.to_string(),
            partitions: info.partitions,
            producer,
        })
    }

    /// The partition `key`'s records are written to and read from.
    pub fn partition(&self, key: &str) -> i32 {
        partition_for(key.as_bytes(), self.partitions)
    }

    fn error(&self, action: &'static str, reason: impl std::fmt::Display) -> PositionsTopicError {
        PositionsTopicError::Kafka {
            topic: self.topic.clone(),
            action,
            reason: reason.to_string(),
        }
    }

    /// The latest value written under `key`, as text; `None` when there is
    /// none (or it was deleted with a tombstone). Reads `key`'s partition up
    /// to its end, within [`READ_TIMEOUT`].
    pub fn read_latest(&self, key: &str) -> Result<Option<String>, PositionsTopicError> {
        let deadline = Instant::now() + READ_TIMEOUT;
        let partition = self.partition(key);
        let consumer: BaseConsumer = self
            .config
            .clone()
            .set("group.id", "sluice-positions-reader")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create()
            .map_err(|e| self.error("cannot create a consumer", e))?;
        let (low, high) = consumer
            .fetch_watermarks(&self.topic, partition, READ_TIMEOUT)
            .map_err(|e| self.error("cannot read its offsets", e))?;
        if high <= low {
            return Ok(None);
        }
        let mut partitions = TopicPartitionList::new();
        partitions
            .add_partition_offset(&self.topic, partition, Offset::Beginning)
            .map_err(|e| self.error("cannot read it", e))?;
        consumer
            .assign(&partitions)
            .map_err(|e| self.error("cannot read it", e))?;
        let mut latest = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.error(
                    "cannot read it",
                    format!(
                        "partition {partition} not read up to offset {high} within {}s",
                        READ_TIMEOUT.as_secs()
                    ),
                ));
            }
            let Some(message) = consumer.poll(left.min(Duration::from_millis(200))) else {
                continue;
            };
            let message = match message {
                Ok(m) => m,
                // Compaction may have removed the offsets just below the end.
                Err(KafkaError::PartitionEOF(_)) => return Ok(latest),
                Err(e) => return Err(self.error("cannot read it", e)),
            };
            if message.key() == Some(key.as_bytes()) {
                latest = message
                    .payload()
                    .map(|p| String::from_utf8_lossy(p).into_owned());
            }
            if message.offset() + 1 >= high {
                return Ok(latest);
            }
        }
    }

    /// Writes `value` under `key` to `key`'s partition and waits, at most
    /// [`WRITE_TIMEOUT`], until every in-sync replica has it.
    pub fn write(&self, key: &str, value: &[u8]) -> Result<(), PositionsTopicError> {
        let record = FutureRecord::to(&self.topic)
            .partition(self.partition(key))
            .key(key)
            .payload(value);
        let delivery = self.producer.send(record, WRITE_TIMEOUT);
        // librdkafka gives up at `message.timeout.ms`; the margin only
        // covers its timer granularity.
        let bound = WRITE_TIMEOUT + Duration::from_secs(2);
        blocking(|rt| {
            rt.block_on(async {
                match tokio::time::timeout(bound, delivery).await {
                    Err(_) => anyhow::bail!("no acknowledgement within {}s", bound.as_secs()),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((e, _))) => anyhow::bail!("{e}"),
                }
            })
        })
        .map_err(|e| self.error("position not written", format!("{e:#}")))
    }
}

fn create_topic(config: &ClientConfig, topic: &str) -> anyhow::Result<()> {
    let consumer: BaseConsumer = config.create()?;
    let metadata = consumer.fetch_metadata(None, READ_TIMEOUT)?;
    let replicas = metadata.brokers().len().clamp(1, 3) as i32;
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replicas))
        .set("cleanup.policy", "compact")
        .set("min.insync.replicas", if replicas >= 3 { "2" } else { "1" });
    let options = AdminOptions::new()
        .operation_timeout(Some(READ_TIMEOUT))
        .request_timeout(Some(READ_TIMEOUT));
    let results = blocking(|rt| Ok(rt.block_on(admin.create_topics([&new], &options))?))?;
    for r in results {
        if let Err((name, code)) = r
            && code != RDKafkaErrorCode::TopicAlreadyExists
        {
            anyhow::bail!("cannot create position topic {name}: {code}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own vectors (`UtilsTest.testMurmur2` in the Java client).
    #[test]
    fn murmur2_matches_the_java_client() {
        for (key, want) in [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ] {
            assert_eq!(murmur2(key.as_bytes()), want, "{key}");
        }
    }

    #[test]
    fn partitions_are_in_range_and_stable() {
        for n in 1..8 {
            for key in ["a", "orders", "crash-topic-positions", ""] {
                let p = partition_for(key.as_bytes(), n);
                assert!((0..n).contains(&p), "{key} {n} {p}");
                assert_eq!(p, partition_for(key.as_bytes(), n));
            }
        }
        assert_eq!(partition_for(b"x", 0), 0, "no partitions: 0, not a panic");
    }

    #[test]
    fn only_compaction_without_deletion_keeps_positions() {
        let t = |p: &str| PositionsTopic {
            partitions: 1,
            cleanup_policy: p.into(),
        };
        assert!(t("compact").is_compacted());
        assert!(!t("delete").is_compacted());
        assert!(!t("compact,delete").is_compacted());
        assert!(!t("delete, compact").is_compacted());
    }
}
