//! Source positions: held until the sink has answered every record before
//! them (the low watermark), then committed to the state directory or a
//! compacted Kafka topic.

mod kafka_store;
mod latency;
mod store;
mod watermark;

pub use latency::{AckLatency, LatencyHistogram};
pub use store::{PositionStore, StateError};
pub use watermark::{Ticket, TicketState, Undelivered, WaitEnd, Watermark};
