//! Positions in a compacted Kafka topic, for sidecars without a volume: one
//! record per pipeline, keyed by its name; compaction keeps the latest.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// How long one read or write of the position topic may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to the position topic.
pub struct KafkaStore {
    config: ClientConfig,
    topic: String,
    producer: FutureProducer,
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

impl KafkaStore {
    /// Connects, creating `topic` (compacted, one partition) when it is missing.
    pub fn connect(brokers: &str, topic: &str) -> anyhow::Result<Self> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("client.id", "sluice-positions");
        let producer: FutureProducer = config
            .clone()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .create()?;
        let store = KafkaStore {
            config,
            topic: topic.to_string(),
            producer,
        };
        store.ensure_topic()?;
        Ok(store)
    }

    fn ensure_topic(&self) -> anyhow::Result<()> {
        let consumer: BaseConsumer = self.config.create()?;
        let metadata = consumer.fetch_metadata(Some(&self.topic), TIMEOUT)?;
        let exists = metadata
            .topics()
            .iter()
            .any(|t| t.name() == self.topic && t.error().is_none() && !t.partitions().is_empty());
        if exists {
            return Ok(());
        }
        let replicas = metadata.brokers().len().clamp(1, 3) as i32;
        let admin: AdminClient<DefaultClientContext> = self.config.create()?;
        let topic = NewTopic::new(&self.topic, 1, TopicReplication::Fixed(replicas))
            .set("cleanup.policy", "compact")
            .set("min.insync.replicas", if replicas >= 3 { "2" } else { "1" });
        let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        let results = blocking(|rt| Ok(rt.block_on(admin.create_topics([&topic], &options))?))?;
        for r in results {
            if let Err((name, code)) = r
                && code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists
            {
                anyhow::bail!("cannot create position topic {name}: {code}");
            }
        }
        Ok(())
    }

    /// The latest value written under `key`, as text; `None` when there is none
    /// (or it was deleted with a tombstone).
    pub fn read_latest(&self, key: &str) -> anyhow::Result<Option<String>> {
        let consumer: BaseConsumer = self
            .config
            .clone()
            .set("group.id", "sluice-positions-reader")
            .set("enable.auto.commit", "false")
            .create()?;
        let (low, high) = consumer.fetch_watermarks(&self.topic, 0, TIMEOUT)?;
        if high <= low {
            return Ok(None);
        }
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition_offset(&self.topic, 0, Offset::Beginning)?;
        consumer.assign(&partitions)?;
        let deadline = Instant::now() + TIMEOUT;
        let mut latest = None;
        loop {
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "timed out reading {} up to offset {high}",
                    self.topic
                );
                continue;
            };
            let message = message?;
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

    /// Writes `value` under `key` and waits until every in-sync replica has it.
    pub fn write(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let record = FutureRecord::to(&self.topic).key(key).payload(value);
        let delivery = self.producer.send(record, TIMEOUT);
        blocking(|rt| {
            rt.block_on(delivery)
                .map(|_| ())
                .map_err(|(e, _)| anyhow::anyhow!("position not written: {e}"))
        })
    }
}
