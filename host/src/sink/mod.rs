//! Where records go. The data path talks to a [`Sink`]: hand it a batch
//! under a [`Ticket`], and every record is answered on that ticket later
//! (acknowledged, or undelivered with a [`DeliveryError`]). The sink reports;
//! the data path decides (see `flow::policy`).
//!
//! [`KafkaSink`] is the real one (producers per cluster and acks policy);
//! [`MemorySink`] keeps records in memory and answers on command, so the data
//! path's logic is tested without a broker.

mod durability;
mod embedded;
mod kafka;
mod memory;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use durability::{TopicDurability, Weakness, inspect_topic};
pub use embedded::EmbeddedCluster;
pub use kafka::{KafkaSink, ProducerPool, SharedProducer, acks_settings};
pub use memory::{MemorySink, MemorySinkControl, SentRecord};

use crate::position::Ticket;
use crate::record::Batch;

/// Why a record was not delivered. The split is what the error policy needs:
/// only a record refused *for itself* may be skipped or dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Kafka (or the client, before sending) refused this record for
    /// something about the record: too large, an invalid partition, a topic
    /// it may not or cannot write, a record-level broker error.
    #[error("{0}")]
    Refused(String),
    /// Not delivered for reasons that are not about the record: a delivery
    /// timeout, a purge, a fatal producer error. Never skipped: the producer
    /// is rebuilt and the records resent from the committed position, or the
    /// pipeline stops.
    #[error("{0}")]
    Lost(String),
}

impl DeliveryError {
    /// A [`DeliveryError::Refused`].
    pub fn refused(reason: impl Into<String>) -> Self {
        DeliveryError::Refused(reason.into())
    }

    /// A [`DeliveryError::Lost`].
    pub fn lost(reason: impl Into<String>) -> Self {
        DeliveryError::Lost(reason.into())
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        match self {
            DeliveryError::Refused(r) | DeliveryError::Lost(r) => r,
        }
    }
}

/// Why a [`Sink::send`] stopped before handing over the whole batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The pipeline was asked to stop while the sink's queue was full. The
    /// records not handed over were taken back from the ticket.
    #[error("stopped while waiting for room in the producer queue")]
    Cancelled,
    /// The producer hit a fatal error: nothing more can be delivered.
    #[error("Kafka producer fatal error: {0}")]
    Fatal(String),
}

/// Which records a [`Sink::send`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// A batch from the transform chain: to the sink topic, or to a topic
    /// override the pipeline allows.
    Records,
    /// Dead letters: every record to this topic, whatever it says.
    DeadLetters(&'a str),
}

/// Where a pipeline's records go.
pub trait Sink: Send {
    /// Hands every record of `batch` over under `ticket` (registered for at
    /// least `batch.len()` records). Waits while the sink's queue is full
    /// (back-pressure: never drops). A record the sink refuses at once is
    /// answered on the ticket as undelivered, like a late refusal.
    /// A refused record is answered with its copy whose `topic` names where
    /// it was headed.
    fn send(
        &self,
        batch: &Batch,
        ticket: &Ticket,
        route: Route<'_>,
        cancel: &AtomicBool,
    ) -> Result<(), SendError>;

    /// The fatal error that stops all further delivery, if one happened.
    fn fatal_error(&self) -> Option<String>;

    /// Waits up to `timeout` for queued records to be delivered.
    fn flush(&self, timeout: Duration);

    /// Records waiting in the sink's queue.
    fn queue_depth(&self) -> u64;

    /// Largest record (key + value + headers, bytes) the sink accepts, so a
    /// dead letter can be cut to fit.
    fn max_record_bytes(&self) -> usize;

    /// Whether the sink can reach its cluster (for readiness).
    fn reachable(&self) -> bool {
        true
    }
}
