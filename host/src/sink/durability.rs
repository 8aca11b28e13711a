//! Does the topic make `acks: all` mean what users think? With
//! `min.insync.replicas=1` (or a single replica) Kafka acknowledges an
//! acks=all write once the leader alone has it: no stronger than `leader`.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// What the cluster says about a topic's durability settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDurability {
    /// Replicas per partition (smallest over the partitions).
    pub replication_factor: usize,
    /// The topic's effective `min.insync.replicas`.
    pub min_insync_replicas: usize,
}

impl TopicDurability {
    /// A warning when `acks: all` is no stronger than `acks: leader` on this topic.
    pub fn weakness(&self, topic: &str) -> Option<String> {
        if self.replication_factor <= 1 {
            Some(format!(
                "topic `{topic}` has a single replica: `acks: all` is no stronger than `acks: leader`; create it with replication factor 3"
            ))
        } else if self.min_insync_replicas <= 1 {
            Some(format!(
                "topic `{topic}` has min.insync.replicas={} (replication factor {}): `acks: all` is acknowledged by the leader alone when followers lag, no stronger than `acks: leader`; set min.insync.replicas=2",
                self.min_insync_replicas, self.replication_factor
            ))
        } else {
            None
        }
    }
}

/// Reads `topic`'s replication factor and `min.insync.replicas`. `None` when
/// the topic does not exist yet (it will be created with broker defaults).
pub fn inspect_topic(
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<Option<TopicDurability>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "sluice-check");
    let consumer: BaseConsumer = config.create()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| anyhow::anyhow!("cannot reach Kafka at {brokers}: {e}"))?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    if t.error().is_some() || t.partitions().is_empty() {
        return Ok(None);
    }
    let replication_factor = t
        .partitions()
        .iter()
        .map(|p| p.replicas().len())
        .min()
        .unwrap_or(0);

    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let options = AdminOptions::new().request_timeout(Some(timeout));
    // A thread of its own, so callers inside an async runtime can use this too.
    let results = std::thread::scope(|scope| {
        scope
            .spawn(|| -> anyhow::Result<_> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(
                    admin.describe_configs([&ResourceSpecifier::Topic(topic)], &options),
                )?)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the topic inspection thread panicked"))?
    })?;
    let min_insync_replicas = results
        .into_iter()
        .flatten()
        .find_map(|r| r.get("min.insync.replicas").and_then(|e| e.value.clone()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Ok(Some(TopicDurability {
        replication_factor,
        min_insync_replicas,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_settings_are_named() {
        let weak = TopicDurability {
            replication_factor: 3,
            min_insync_replicas: 1,
        };
        assert!(
            weak.weakness("t")
                .unwrap()
                .contains("min.insync.replicas=1")
        );
        let single = TopicDurability {
            replication_factor: 1,
            min_insync_replicas: 1,
        };
        assert!(single.weakness("t").unwrap().contains("single replica"));
        assert_eq!(
            TopicDurability {
                replication_factor: 3,
                min_insync_replicas: 2
            }
            .weakness("t"),
            None
        );
    }
}
