//! Where records go: Kafka, with the acks policy of each pipeline.

mod durability;
mod embedded;
mod kafka;

pub use durability::{TopicDurability, Weakness, inspect_topic};
pub use embedded::EmbeddedCluster;
pub use kafka::{KafkaSink, ProducerPool, SendError, SharedProducer, acks_settings};
