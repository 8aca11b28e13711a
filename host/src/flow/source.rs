//! Where a pipeline's records come from: anything that returns batches and
//! opaque positions. Plugin sources (WebAssembly) are one kind; host-native
//! sources (a Kafka consumer group, HTTP ingest) implement the same trait.

use super::completion::Completion;
use crate::plugin::{Plugin, PluginError, SourceInstance};
use crate::record::{Batch, OwnedRecord};

/// Most bytes a source position may take; a bigger one is the source's fault.
pub const MAX_POSITION_BYTES: usize = 64 << 10;

/// The records of one poll and where the source stands after them.
#[derive(Debug, Default)]
pub struct Polled {
    /// New records, in order.
    pub records: Batch,
    /// The position after them; `None`: unchanged.
    pub position: Option<Vec<u8>>,
    /// No more records, ever.
    pub finished: bool,
    /// Records read but not representable as records (a request line that
    /// is not JSON, say): routed by the error policy like a transform's
    /// reject (skipped, or dead-lettered from stage `source`).
    pub undecodable: Vec<Undecodable>,
    /// Called once every record of this batch is resolved (see
    /// [`Completion`]); `None` for sources that need no answer.
    pub completion: Option<Completion>,
    /// Where each record was read, in order, for sources that read Kafka
    /// (empty otherwise): a dead letter of the record, or of an output of
    /// it, names it in `sluice.original.topic/partition/offset`.
    pub origins: Vec<Origin>,
}

/// Where a source read a record: a topic, partition and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Topic (shared by the records of a batch that come from it).
    pub topic: std::sync::Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// A record the source read but cannot hand over as one.
#[derive(Debug, Clone)]
pub struct Undecodable {
    /// What could be kept of it (its bytes as the value).
    pub record: OwnedRecord,
    /// Why it could not be handed over.
    pub reason: String,
}

/// A source of records for one pipeline.
pub trait Source: Send {
    /// A label for logs and events (a plugin's file name, `kafka`, `http`).
    fn label(&self) -> &str;

    /// Up to `max` new records.
    fn poll(&mut self, max: u32) -> Result<Polled, PluginError>;

    /// Every record up to `position` is delivered and the position stored:
    /// the source may acknowledge upstream.
    fn committed(&mut self, position: &[u8]) -> Result<(), PluginError>;

    /// After a failed call: resume at `position` (the last one handed over)
    /// when the source is used again.
    fn reopen_at(&mut self, position: Option<Vec<u8>>);

    /// The plugin behind it, if it is one.
    fn plugin(&self) -> Option<&Plugin>;

    /// Whether `poll` itself waits a little for records when none are
    /// ready (then the flow polls again at once instead of backing off).
    fn waits_in_poll(&self) -> bool {
        false
    }

    /// Whether it is quarantined (a plugin that failed too often in a row).
    fn quarantined(&self) -> bool {
        false
    }

    /// Called once with the flow's low watermark, for a source that must
    /// wait for acknowledgements outside [`Source::committed`] (a Kafka
    /// source draining revoked partitions).
    fn attach(&mut self, watermark: std::sync::Arc<crate::position::Watermark>) {
        let _ = watermark;
    }
}

/// A WebAssembly source plugin.
pub struct PluginSource {
    instance: SourceInstance,
    label: String,
}

impl PluginSource {
    /// Wraps an opened instance.
    pub fn new(instance: SourceInstance, label: String) -> Self {
        PluginSource { instance, label }
    }
}

impl Source for PluginSource {
    fn label(&self) -> &str {
        &self.label
    }

    fn poll(&mut self, max: u32) -> Result<Polled, PluginError> {
        let p = self.instance.poll(max)?;
        Ok(Polled {
            records: p.records,
            position: p.position,
            finished: p.finished,
            ..Polled::default()
        })
    }

    fn committed(&mut self, position: &[u8]) -> Result<(), PluginError> {
        self.instance.committed(position)
    }

    fn reopen_at(&mut self, position: Option<Vec<u8>>) {
        self.instance.set_resume(position);
    }

    fn plugin(&self) -> Option<&Plugin> {
        Some(self.instance.plugin())
    }

    fn quarantined(&self) -> bool {
        self.instance.quarantined()
    }
}
