//! Records and batches as the host carries them, source → transforms → sink.
//!
//! The host keeps every batch in the contract's layout end to end (one arena
//! plus the `u32` word lists of `wit/types.wit`), so a batch crosses into and
//! out of a plugin as three block copies. The layout, its one validator, the
//! views and builders live in the dependency-free `sluice-batch` crate, which
//! the Rust plugin SDK uses too: both sides of the boundary read and check
//! batches the same way. This module is the host's name for them; the sink,
//! the positions tracker and the data path import records from here.

pub use sluice_batch::{
    Batch, BatchError, BatchFull, Caps, Field, HEADER_WORDS, HeaderEntry, Headers, MAX_ARENA_BYTES,
    NULL_VALUE_LEN, OwnedRecord, Problem, RECORD_WORDS, RecordEntry, RecordRef, Records, Size,
    Span, flag,
};
