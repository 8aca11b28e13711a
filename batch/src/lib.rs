//! The batch layout of the Sluice plugin contract (`wit/types.wit`), in one
//! place: the word positions and flag bits ([`layout`], generated from the
//! WIT), entry encoding ([`RecordEntry`], [`HeaderEntry`]), the one
//! validator ([`Batch::validate`]), read views ([`RecordRef`]), builders
//! ([`BatchBuilder`], [`Batch::push_ref`]) and the owned record
//! ([`OwnedRecord`]).
//!
//! A [`Batch`] is one byte arena plus two flat lists of `u32` words that
//! point into it: [`RECORD_WORDS`] words per record and [`HEADER_WORDS`] per
//! header. That shape crosses the WebAssembly boundary as three block copies
//! however many records it holds. The host and the Rust plugin SDK both use
//! this crate, so the two sides of the boundary read and check batches the
//! same way; the JavaScript, Python and Go helpers take their constants from
//! the same WIT tables and pass the same golden vectors (`batch/vectors/`).
//!
//! No dependencies, nothing specific to either side: it builds for the host
//! and for `wasm32-wasip2` guests alike.
//!
//! ```
//! use sluice_batch::{Batch, BatchBuilder, Caps};
//!
//! let mut out = BatchBuilder::new();
//! out.push().key(b"k1").value(br#"{"n":1}"#).header("source", b"demo");
//! out.push().value(b"no key").null_header("deleted-by");
//! let batch = out.finish();
//! batch.validate_within(&Caps { max_records: 10, max_bytes: 1 << 20 }).unwrap();
//! let first = batch.records().unwrap().next().unwrap();
//! assert_eq!(first.key(), Some(&b"k1"[..]));
//! assert_eq!(batch.get(1).unwrap().last_header("deleted-by"), Some(None));
//! ```

mod build;
mod entry;
pub mod layout;
mod owned;
pub mod validate;
mod view;

pub use build::{ArenaWriter, BatchBuilder, BatchFull, Mark, RecordBuilder};
pub use entry::{HeaderEntry, RecordEntry, Span};
pub use layout::{HEADER_WORDS, NULL_VALUE_LEN, RECORD_WORDS, flag};
pub use owned::OwnedRecord;
pub use validate::{BatchError, Caps, Field, MAX_ARENA_BYTES, Problem, Size};
pub use view::{Headers, RecordRef, Records};

/// A batch of records sharing one byte arena (WIT `types.batch`).
///
/// Read it with [`Batch::records`] (validated) or [`Batch::iter`]; build one
/// with [`BatchBuilder`] or the `push` methods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The bytes of every key, value, header name and value, and topic.
    pub arena: Vec<u8>,
    /// [`RECORD_WORDS`] words per record, in order.
    pub records: Vec<u32>,
    /// [`HEADER_WORDS`] words per header, grouped per record in record order.
    pub headers: Vec<u32>,
}

impl Batch {
    /// An empty batch with room for `records` records of about `bytes` bytes
    /// in all.
    pub fn with_capacity(records: usize, bytes: usize) -> Self {
        Batch {
            arena: Vec::with_capacity(bytes),
            records: Vec::with_capacity(records.saturating_mul(RECORD_WORDS)),
            headers: Vec::new(),
        }
    }

    /// A batch from decoded entries (tests, and plugins that lay out their
    /// own arena).
    pub fn from_entries(arena: Vec<u8>, headers: &[HeaderEntry], records: &[RecordEntry]) -> Batch {
        Batch {
            arena,
            records: records.iter().flat_map(RecordEntry::encode).collect(),
            headers: headers.iter().flat_map(HeaderEntry::encode).collect(),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD_WORDS
    }

    /// True when the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of header entries of all records.
    pub fn header_count(&self) -> usize {
        self.headers.len() / HEADER_WORDS
    }

    /// The decoded record entries, in order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = RecordEntry> + '_ {
        self.records
            .as_chunks::<RECORD_WORDS>()
            .0
            .iter()
            .map(RecordEntry::decode)
    }

    /// The decoded header entries of all records, in order.
    pub fn header_entries(&self) -> impl ExactSizeIterator<Item = HeaderEntry> + '_ {
        self.headers
            .as_chunks::<HEADER_WORDS>()
            .0
            .iter()
            .map(HeaderEntry::decode)
    }

    /// Record `index`'s decoded entry.
    pub fn entry(&self, index: usize) -> Option<RecordEntry> {
        self.records
            .as_chunks::<RECORD_WORDS>()
            .0
            .get(index)
            .map(RecordEntry::decode)
    }

    /// Replaces record `index`'s entry (tests, and fixing up an override);
    /// false when there is no such record.
    pub fn set_entry(&mut self, index: usize, entry: RecordEntry) -> bool {
        match self
            .records
            .as_chunks_mut::<RECORD_WORDS>()
            .0
            .get_mut(index)
        {
            Some(words) => {
                *words = entry.encode();
                true
            }
            None => false,
        }
    }

    /// Record `index` as a view.
    pub fn get(&self, index: usize) -> Option<RecordRef<'_>> {
        self.entry(index).map(|entry| RecordRef::new(self, entry))
    }

    /// All records as views, without validating first (views of a batch
    /// that is not valid read out-of-range spans as empty).
    pub fn iter(&self) -> Records<'_> {
        Records::new(self)
    }

    /// Validates the batch, then returns its records as views.
    pub fn records(&self) -> Result<Records<'_>, BatchError> {
        self.validate()?;
        Ok(Records::new(self))
    }

    /// Record `index` in owned form.
    pub fn to_owned_record(&self, index: usize) -> Option<OwnedRecord> {
        self.get(index).map(|r| OwnedRecord::from_ref(&r))
    }
}

#[cfg(test)]
mod tests;
