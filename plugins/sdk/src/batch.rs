//! Batches as the WIT contract carries them, and the plain-record views over them.
//!
//! A [`Batch`] is one byte arena plus two flat lists of `u32` words that point
//! into it (`sluice:plugin/types`): [`RECORD_WORDS`] words per record and
//! [`HEADER_WORDS`] per header. That shape crosses the WebAssembly boundary as
//! three block copies per batch, but nobody wants to write a plugin against
//! words. The types here turn it into plain records both ways:
//!
//! - reading: [`Batch::records`] checks every entry once, then yields
//!   [`RecordRef`]s that borrow the arena (no copy, no allocation);
//! - writing: [`BatchBuilder`] appends records into a fresh arena and produces
//!   the `Batch` to return; [`BatchBuilder::push_ref`] copies a record through.
//!
//! They come from the `sluice-batch` crate, which the host uses too: a batch
//! this SDK builds is checked by the host with the same validator, word for
//! word. [`RecordEntry`] and [`HeaderEntry`] are the decoded form of one entry.

pub use sluice_batch::{
    ArenaWriter, Batch, BatchBuilder, BatchError, BatchFull, HEADER_WORDS, HeaderEntry, Headers,
    NULL_VALUE_LEN, RECORD_WORDS, RecordBuilder, RecordEntry, RecordRef, Records, Span, flag,
};
