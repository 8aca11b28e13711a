//! Source positions: tracked in memory until Kafka acknowledges every record
//! before them, then committed to the state directory.

mod kafka_store;
mod store;
mod tracker;

pub use kafka_store::{
    PositionsTopic, PositionsTopicError, READ_TIMEOUT as KAFKA_READ_TIMEOUT,
    WRITE_TIMEOUT as KAFKA_WRITE_TIMEOUT, inspect_positions_topic, murmur2, partition_for,
};
pub use store::{PositionStore, StateError};
pub use tracker::{AckTracker, DeliveryFailure, LatencyHistogram, Redirect, WaitEnd};
