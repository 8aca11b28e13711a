//! Source positions: tracked in memory until Kafka acknowledges every record
//! before them, then committed to the state directory.

mod kafka_store;
mod store;
mod tracker;

pub use store::{PositionStore, StateError};
pub use tracker::{AckTracker, DeliveryFailure, LatencyHistogram, Redirect, WaitEnd};
