//! Does the topic make `acks: all` mean what users think? With
//! `min.insync.replicas=1` (or a single replica) Kafka acknowledges an
//! acks=all write once the leader alone has it: no stronger than `leader`.
//! With `min.insync.replicas` above the replication factor it acknowledges
//! nothing at all: every acks=all write fails.

use std::fmt;
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

/// Why a topic's settings make `acks: all` weaker than it sounds, or unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    /// `min.insync.replicas` is more than there are replicas: Kafka refuses
    /// every acks=all write (NOT_ENOUGH_REPLICAS), so nothing is delivered.
    NoWriteCanSucceed {
        /// The topic.
        topic: String,
        /// Its `min.insync.replicas`.
        min_insync_replicas: usize,
        /// Its replication factor.
        replication_factor: usize,
    },
    /// One replica: `all` is no stronger than `leader`.
    SingleReplica {
        /// The topic.
        topic: String,
    },
    /// `min.insync.replicas=1`: the leader alone may acknowledge.
    LeaderAloneAcknowledges {
        /// The topic.
        topic: String,
        /// Its `min.insync.replicas`.
        min_insync_replicas: usize,
        /// Its replication factor.
        replication_factor: usize,
    },
}

impl Weakness {
    /// Whether no write can succeed (worse than a weaker guarantee).
    pub fn blocks_every_write(&self) -> bool {
        matches!(self, Weakness::NoWriteCanSucceed { .. })
    }
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weakness::NoWriteCanSucceed {
                topic,
                min_insync_replicas,
                replication_factor,
            } => write!(
                f,
                "topic `{topic}` has min.insync.replicas={min_insync_replicas} but only {replication_factor} replica(s): every `acks: all` write would fail with NOT_ENOUGH_REPLICAS; lower min.insync.replicas to at most {replication_factor} (2 with 3 replicas)"
            ),
            Weakness::SingleReplica { topic } => write!(
                f,
                "topic `{topic}` has a single replica: `acks: all` is no stronger than `acks: leader`; create it with replication factor 3"
            ),
            Weakness::LeaderAloneAcknowledges {
                topic,
                min_insync_replicas,
                replication_factor,
            } => write!(
                f,
                "topic `{topic}` has min.insync.replicas={min_insync_replicas} (replication factor {replication_factor}): `acks: all` is acknowledged by the leader alone when followers lag, no stronger than `acks: leader`; set min.insync.replicas=2"
            ),
        }
    }
}

impl TopicDurability {
    /// What makes `acks: all` weaker than it sounds on this topic, or
    /// impossible, if anything.
    pub fn weakness(&self, topic: &str) -> Option<Weakness> {
        let topic = topic.to_string();
        if self.min_insync_replicas > self.replication_factor {
            Some(Weakness::NoWriteCanSucceed {
                topic,
                min_insync_replicas: self.min_insync_replicas,
                replication_factor: self.replication_factor,
            })
        } else if self.replication_factor <= 1 {
            Some(Weakness::SingleReplica { topic })
        } else if self.min_insync_replicas <= 1 {
            Some(Weakness::LeaderAloneAcknowledges {
                topic,
                min_insync_replicas: self.min_insync_replicas,
                replication_factor: self.replication_factor,
            })
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
        let w = weak.weakness("t").unwrap();
        assert!(matches!(w, Weakness::LeaderAloneAcknowledges { .. }));
        assert!(w.to_string().contains("min.insync.replicas=1"));
        let single = TopicDurability {
            replication_factor: 1,
            min_insync_replicas: 1,
        };
        assert_eq!(
            single.weakness("t"),
            Some(Weakness::SingleReplica { topic: "t".into() })
        );
        assert_eq!(
            TopicDurability {
                replication_factor: 3,
                min_insync_replicas: 2
            }
            .weakness("t"),
            None
        );
    }

    #[test]
    fn min_insync_above_the_replicas_blocks_every_write() {
        for (rf, min) in [(1, 2), (3, 4), (2, 3)] {
            let w = TopicDurability {
                replication_factor: rf,
                min_insync_replicas: min,
            }
            .weakness("t")
            .unwrap();
            assert!(w.blocks_every_write(), "rf {rf} min {min}: {w}");
            assert!(w.to_string().contains("every `acks: all` write would fail"));
        }
    }
}
