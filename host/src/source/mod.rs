//! Built-in (host-native) sources, for systems where the host must own the
//! socket or the protocol: HTTP ingest, and a Kafka consumer group.
//!
//! They implement the data path's [`Source`](crate::flow::Source) trait like
//! a plugin source does, so they feed the same transform chain, sink, error
//! policies and guarantees.

pub mod http;
pub mod kafka;

pub use http::{HttpSource, IngestRegistry};
pub use kafka::{KafkaSource, KafkaSourceOptions};
