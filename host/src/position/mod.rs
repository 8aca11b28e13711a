//! Source positions: held until the sink has answered every record before
//! them (the low watermark), then committed to the state directory or a
//! compacted Kafka topic.

mod kafka_store;
mod latency;
mod store;
mod watermark;

pub use kafka_store::{
    PositionsTopic, PositionsTopicError, READ_TIMEOUT as KAFKA_READ_TIMEOUT,
    WRITE_TIMEOUT as KAFKA_WRITE_TIMEOUT, inspect_positions_topic, murmur2, partition_for,
};
pub use latency::{AckLatency, LatencyHistogram};
pub use store::{PositionStore, StateError};
pub use watermark::{Answer, OnResolved, Ticket, TicketState, Undelivered, WaitEnd, Watermark};
