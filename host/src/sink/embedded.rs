//! The embedded demo cluster: librdkafka's in-process mock cluster.
//!
//! It speaks the Kafka protocol on 127.0.0.1, so kcat and other clients can
//! read from it, but it ignores acks and has no replication: it proves
//! nothing about durability. It exists so the quickstart needs nothing
//! installed.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// A running embedded cluster; stops when dropped.
pub struct EmbeddedCluster {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedCluster {
    /// Starts a one-broker cluster.
    pub fn start() -> anyhow::Result<Self> {
        let cluster = MockCluster::new(1)
            .map_err(|e| anyhow::anyhow!("cannot start the embedded Kafka cluster: {e}"))?;
        Ok(EmbeddedCluster { cluster })
    }

    /// `host:port` to bootstrap from.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates `topic` with `partitions` partitions, unless it exists (a
    /// pipeline rebuilt or restarted finds it there).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        match self.cluster.create_topic(topic, partitions, 1) {
            Ok(()) => Ok(()),
            Err(rdkafka::error::KafkaError::MockCluster(
                rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
            )) => Ok(()),
            Err(e) => Err(anyhow::anyhow!(
                "cannot create topic {topic} on the embedded cluster: {e}"
            )),
        }
    }
}
