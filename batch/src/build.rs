//! Building batches: appending records to a batch's arena and word lists.
//!
//! Two front ends over one set of appenders: the `push` methods of [`Batch`]
//! (one call per record, each returning a `Result`: the host's style) and
//! [`BatchBuilder`] with its chained [`RecordBuilder`] (the plugin SDK's
//! style, which remembers the first overflow and reports it from
//! [`BatchBuilder::try_finish`]). Neither truncates: a batch that would pass
//! what `u32` words address ([`MAX_ARENA_BYTES`] of arena, `u32::MAX`
//! entries) refuses the record and stays as it was before it. (Both front
//! ends and every setter live in this one file, beside the appenders they
//! share, so that no second copy of the placement rules can drift.)

use std::fmt;
use std::io;

use crate::Batch;
use crate::entry::{HeaderEntry, RecordEntry, Span};
use crate::layout::{HEADER_WORDS, RECORD_WORDS};
use crate::owned::OwnedRecord;
use crate::validate::MAX_ARENA_BYTES;
use crate::view::RecordRef;

/// A batch refused a record: it would pass what `u32` words address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchFull {
    /// The arena would pass [`MAX_ARENA_BYTES`].
    Arena,
    /// The record list would pass `u32::MAX` entries.
    Records,
    /// The header list would pass `u32::MAX` entries.
    Headers,
}

impl fmt::Display for BatchFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchFull::Arena => write!(
                f,
                "the batch's arena would pass {MAX_ARENA_BYTES} bytes, the most its u32 offsets address"
            ),
            BatchFull::Records => f.write_str("the batch would pass u32::MAX records"),
            BatchFull::Headers => f.write_str("the batch would pass u32::MAX header entries"),
        }
    }
}

impl std::error::Error for BatchFull {}

/// Where a batch stood, to roll back what was appended after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    records: usize,
    headers: usize,
    arena: usize,
}

impl Mark {
    /// Records the batch held at the mark.
    pub fn records(&self) -> usize {
        self.records / RECORD_WORDS
    }
}

/// Gap bytes worth copying with a record to save one copy call per field.
const SLACK: u64 = 64;

impl Batch {
    /// Where the batch stands now.
    pub fn mark(&self) -> Mark {
        Mark {
            records: self.records.len(),
            headers: self.headers.len(),
            arena: self.arena.len(),
        }
    }

    /// Drops everything appended since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        self.records.truncate(mark.records);
        self.headers.truncate(mark.headers);
        self.arena.truncate(mark.arena);
    }

    /// Appends a record with no timestamp and no overrides.
    pub fn push(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Result<(), BatchFull> {
        self.push_fields(
            key,
            value,
            headers.iter().map(|&(n, v)| (n, Some(v))),
            None,
            None,
            None,
        )
    }

    /// Appends a record read from elsewhere (a Kafka message, say): key,
    /// value, headers (null header values allowed) and timestamp, with no
    /// topic or partition override.
    pub fn push_read<'h>(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl IntoIterator<Item = (&'h str, Option<&'h [u8]>)>,
        timestamp_ms: Option<i64>,
    ) -> Result<(), BatchFull> {
        self.push_fields(key, value, headers, timestamp_ms, None, None)
    }

    /// Appends an owned record.
    pub fn push_owned(&mut self, record: &OwnedRecord) -> Result<(), BatchFull> {
        self.push_fields(
            record.key.as_deref(),
            record.value.as_deref(),
            record
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_deref())),
            record.timestamp_ms,
            record.topic.as_deref(),
            record.partition,
        )
    }

    /// Appends an exact copy of `record` (from any batch). A record whose
    /// bytes sit together in its arena (as every builder writes them) is
    /// copied as one region; otherwise field by field, so the gaps between
    /// scattered or shared spans are not copied.
    pub fn push_ref(&mut self, record: &RecordRef<'_>) -> Result<(), BatchFull> {
        let entry = record.entry();
        let src = record.arena();
        let (mut lo, mut hi, mut total) = (u64::MAX, 0u64, 0u64);
        let mut see = |span: Span| {
            lo = lo.min(u64::from(span.offset));
            hi = hi.max(span.end());
            total += u64::from(span.len);
        };
        entry
            .key
            .into_iter()
            .chain(entry.value)
            .chain(entry.topic)
            .for_each(&mut see);
        for h in record.header_entries() {
            see(h.name);
            h.value.into_iter().for_each(&mut see);
        }
        let together = lo == u64::MAX || (hi - lo <= total + SLACK && hi <= src.len() as u64);
        let need = if lo == u64::MAX {
            0
        } else if together {
            hi - lo
        } else {
            total
        };
        self.room(need, record.header_words().len() / HEADER_WORDS)?;
        let base = self.arena.len() as u64;
        let headers_start = self.header_count() as u32;
        if together && lo != u64::MAX {
            self.arena
                .extend_from_slice(src.get(lo as usize..hi as usize).unwrap_or_default());
        }
        let arena = &mut self.arena;
        // Where a span of the source record lands in this arena; `room`
        // checked that every offset fits.
        let mut place = |span: Span| -> Span {
            if together {
                return Span {
                    offset: (base + u64::from(span.offset) - lo) as u32,
                    len: span.len,
                };
            }
            let offset = arena.len() as u32;
            let bytes = span.of(src);
            arena.extend_from_slice(bytes);
            Span {
                offset,
                len: bytes.len() as u32,
            }
        };
        let key = entry.key.map(&mut place);
        let value = entry.value.map(&mut place);
        let topic = entry.topic.map(&mut place);
        for h in record.header_entries() {
            let name = place(h.name);
            let value = h.value.map(&mut place);
            self.headers
                .extend_from_slice(&HeaderEntry { name, value }.encode());
        }
        let copy = RecordEntry {
            key,
            value,
            headers_start,
            topic,
            ..entry
        };
        self.records.extend_from_slice(&copy.encode());
        Ok(())
    }

    /// Checks that one more record with `bytes` more arena bytes and
    /// `headers` more header entries still fits in `u32` words.
    pub(crate) fn room(&self, bytes: u64, headers: usize) -> Result<(), BatchFull> {
        if self.arena.len() as u64 + bytes > MAX_ARENA_BYTES as u64 {
            return Err(BatchFull::Arena);
        }
        if (self.header_count() + headers) as u64 > u64::from(u32::MAX) {
            return Err(BatchFull::Headers);
        }
        if self.len() as u64 >= u64::from(u32::MAX) {
            return Err(BatchFull::Records);
        }
        Ok(())
    }

    /// Appends `bytes` to the arena.
    fn append(&mut self, bytes: &[u8]) -> Result<Span, BatchFull> {
        let offset = self.arena.len();
        if (offset as u64) + bytes.len() as u64 > MAX_ARENA_BYTES as u64 {
            return Err(BatchFull::Arena);
        }
        self.arena.extend_from_slice(bytes);
        Ok(Span {
            offset: offset as u32,
            len: bytes.len() as u32,
        })
    }

    /// Appends one header entry after the others.
    fn append_header(&mut self, name: &str, value: Option<&[u8]>) -> Result<(), BatchFull> {
        if self.header_count() as u64 >= u64::from(u32::MAX) {
            return Err(BatchFull::Headers);
        }
        let name = self.append(name.as_bytes())?;
        let value = match value {
            Some(v) => Some(self.append(v)?),
            None => None,
        };
        self.headers
            .extend_from_slice(&HeaderEntry { name, value }.encode());
        Ok(())
    }

    /// Appends a record entry.
    fn append_entry(&mut self, entry: &RecordEntry) -> Result<(), BatchFull> {
        if self.len() as u64 >= u64::from(u32::MAX) {
            return Err(BatchFull::Records);
        }
        self.records.extend_from_slice(&entry.encode());
        Ok(())
    }

    /// Appends a record from its fields, in the canonical order (key, value,
    /// each header's name and value, topic); all or nothing.
    fn push_fields<'h>(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl IntoIterator<Item = (&'h str, Option<&'h [u8]>)>,
        timestamp_ms: Option<i64>,
        topic: Option<&str>,
        partition: Option<i32>,
    ) -> Result<(), BatchFull> {
        let mark = self.mark();
        let push = || {
            let key = key.map(|k| self.append(k)).transpose()?;
            let value = value.map(|v| self.append(v)).transpose()?;
            let headers_start = self.header_count() as u32;
            for (name, value) in headers {
                self.append_header(name, value)?;
            }
            let headers_len = self.header_count() as u32 - headers_start;
            let topic = topic.map(|t| self.append(t.as_bytes())).transpose()?;
            self.append_entry(&RecordEntry {
                key,
                value,
                headers_start,
                headers_len,
                timestamp_ms,
                topic,
                partition,
            })
        };
        let result = push();
        if result.is_err() {
            self.rollback(mark);
        }
        result
    }
}

/// Appends records into a fresh arena and produces the [`Batch`] to return.
///
/// Setters chain and cannot fail one by one: the first record that would
/// pass what `u32` words address is refused (the builder stays as it was
/// before it), and [`BatchBuilder::try_finish`] reports it.
///
/// ```
/// use sluice_batch::BatchBuilder;
///
/// let mut out = BatchBuilder::new();
/// out.push().key(b"k1").value(br#"{"n":1}"#).header("source", b"demo");
/// out.push().value(b"no key, no headers");
/// let batch = out.try_finish().unwrap();
/// assert_eq!(batch.len(), 2);
/// let first = batch.records().unwrap().next().unwrap();
/// assert_eq!(first.key(), Some(&b"k1"[..]));
/// ```
#[derive(Clone, Debug, Default)]
pub struct BatchBuilder {
    batch: Batch,
    full: Option<BatchFull>,
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `records` records, `headers` headers and
    /// `arena_bytes` bytes, so that filling it does not reallocate.
    pub fn with_capacity(records: usize, headers: usize, arena_bytes: usize) -> Self {
        BatchBuilder {
            batch: Batch {
                arena: Vec::with_capacity(arena_bytes),
                headers: Vec::with_capacity(headers.saturating_mul(HEADER_WORDS)),
                records: Vec::with_capacity(records.saturating_mul(RECORD_WORDS)),
            },
            full: None,
        }
    }

    /// Number of records appended so far.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// True when no record was appended.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Bytes used in the arena so far (to cap a batch by size).
    pub fn arena_len(&self) -> usize {
        self.batch.arena.len()
    }

    /// The first overflow, if a record was refused.
    pub fn full(&self) -> Option<BatchFull> {
        self.full
    }

    /// Appends an empty record (null key, null value, no header, no
    /// timestamp, no override) and returns a builder to fill it in.
    pub fn push(&mut self) -> RecordBuilder<'_> {
        let entry = RecordEntry {
            headers_start: self.batch.header_count() as u32,
            ..RecordEntry::default()
        };
        let appended = self.batch.append_entry(&entry);
        let live = self.keep(appended).is_some();
        RecordBuilder {
            builder: self,
            live,
        }
    }

    /// Appends an exact copy of `record` (key, value, headers, timestamp,
    /// overrides). The returned builder can still change fields or add headers.
    pub fn push_ref(&mut self, record: &RecordRef<'_>) -> RecordBuilder<'_> {
        let copied = self.batch.push_ref(record);
        let live = self.keep(copied).is_some();
        RecordBuilder {
            builder: self,
            live,
        }
    }

    /// The finished batch, without the records that were refused (see
    /// [`BatchBuilder::try_finish`]).
    pub fn finish(self) -> Batch {
        self.batch
    }

    /// The finished batch, or the overflow that refused a record.
    pub fn try_finish(self) -> Result<Batch, BatchFull> {
        match self.full {
            None => Ok(self.batch),
            Some(full) => Err(full),
        }
    }

    /// Where the builder stands now.
    pub fn mark(&self) -> Mark {
        self.batch.mark()
    }

    /// Drops everything appended since `mark` (a rejected record's outputs).
    pub fn rollback(&mut self, mark: Mark) {
        self.batch.rollback(mark);
    }

    /// Remembers the first overflow.
    fn keep<T>(&mut self, result: Result<T, BatchFull>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(full) => {
                self.full.get_or_insert(full);
                None
            }
        }
    }
}

/// Fills in the record just appended by [`BatchBuilder::push`] or
/// [`BatchBuilder::push_ref`]. Each setter replaces the field; headers add up.
///
/// The record is already in the batch: there is nothing to "finish".
pub struct RecordBuilder<'b> {
    builder: &'b mut BatchBuilder,
    /// False when the record itself was refused: setters do nothing.
    live: bool,
}

impl RecordBuilder<'_> {
    /// Sets the key.
    pub fn key(self, key: &[u8]) -> Self {
        self.set_bytes(key, |e, s| e.key = Some(s))
    }

    /// Makes the key null.
    pub fn clear_key(self) -> Self {
        self.edit(|e| e.key = None)
    }

    /// Sets the key to whatever `write` appends (no temporary buffer). On
    /// error the bytes are dropped, the key is left as it was, and the error
    /// is returned.
    pub fn key_with<E>(
        self,
        write: impl FnOnce(&mut ArenaWriter<'_>) -> Result<(), E>,
    ) -> Result<Self, E> {
        self.set_with(write, |e, s| e.key = Some(s))
    }

    /// Sets the key to whatever `write` appends (no temporary buffer).
    pub fn write_key(self, write: impl FnOnce(&mut ArenaWriter<'_>)) -> Self {
        self.write_span(write, |e, s| e.key = Some(s))
    }

    /// Sets the value.
    pub fn value(self, value: &[u8]) -> Self {
        self.set_bytes(value, |e, s| e.value = Some(s))
    }

    /// Makes the value null (a tombstone).
    pub fn clear_value(self) -> Self {
        self.edit(|e| e.value = None)
    }

    /// Sets the value to whatever `write` appends (e.g. `serde_json::to_writer`),
    /// with no temporary buffer. On error the bytes are dropped, the value is
    /// left as it was, and the error is returned.
    pub fn value_with<E>(
        self,
        write: impl FnOnce(&mut ArenaWriter<'_>) -> Result<(), E>,
    ) -> Result<Self, E> {
        self.set_with(write, |e, s| e.value = Some(s))
    }

    /// Sets the value to whatever `write` appends (no temporary buffer).
    pub fn write_value(self, write: impl FnOnce(&mut ArenaWriter<'_>)) -> Self {
        self.write_span(write, |e, s| e.value = Some(s))
    }

    /// Appends a header (after any the record already has).
    pub fn header(self, name: &str, value: &[u8]) -> Self {
        self.add_header(name, Some(value))
    }

    /// Appends a header whose value is null (Kafka allows one).
    pub fn null_header(self, name: &str) -> Self {
        self.add_header(name, None)
    }

    /// Sets the timestamp (milliseconds since the Unix epoch).
    pub fn timestamp_ms(self, timestamp_ms: i64) -> Self {
        self.edit(|e| e.timestamp_ms = Some(timestamp_ms))
    }

    /// Removes the timestamp: Kafka will set it.
    pub fn clear_timestamp(self) -> Self {
        self.edit(|e| e.timestamp_ms = None)
    }

    /// Sends this record to `topic` instead of the pipeline's sink topic.
    pub fn topic(self, topic: &str) -> Self {
        self.set_bytes(topic.as_bytes(), |e, s| e.topic = Some(s))
    }

    /// Removes a topic override.
    pub fn clear_topic(self) -> Self {
        self.edit(|e| e.topic = None)
    }

    /// Sends this record to `partition` instead of the partitioner's choice.
    pub fn partition(self, partition: i32) -> Self {
        self.edit(|e| e.partition = Some(partition))
    }

    /// Removes a partition override.
    pub fn clear_partition(self) -> Self {
        self.edit(|e| e.partition = None)
    }

    fn add_header(self, name: &str, value: Option<&[u8]>) -> Self {
        if !self.live {
            return self;
        }
        let batch = &mut self.builder.batch;
        let mark = batch.mark();
        let added = batch.append_header(name, value);
        if added.is_err() {
            batch.rollback(mark);
        }
        if self.builder.keep(added).is_some() {
            return self.edit(|e| e.headers_len += 1);
        }
        self
    }

    fn set_bytes(self, bytes: &[u8], set: impl FnOnce(&mut RecordEntry, Span)) -> Self {
        if !self.live {
            return self;
        }
        let appended = self.builder.batch.append(bytes);
        match self.builder.keep(appended) {
            Some(span) => self.edit(|e| set(e, span)),
            None => self,
        }
    }

    fn set_with<E>(
        self,
        write: impl FnOnce(&mut ArenaWriter<'_>) -> Result<(), E>,
        set: impl FnOnce(&mut RecordEntry, Span),
    ) -> Result<Self, E> {
        if !self.live {
            return Ok(self);
        }
        let arena = &mut self.builder.batch.arena;
        let start = arena.len();
        let written = write(&mut ArenaWriter { arena });
        if let Err(e) = written {
            arena.truncate(start);
            return Err(e);
        }
        Ok(self.placed(start, set))
    }

    fn write_span(
        self,
        write: impl FnOnce(&mut ArenaWriter<'_>),
        set: impl FnOnce(&mut RecordEntry, Span),
    ) -> Self {
        if !self.live {
            return self;
        }
        let arena = &mut self.builder.batch.arena;
        let start = arena.len();
        write(&mut ArenaWriter { arena });
        self.placed(start, set)
    }

    /// Sets a field to the bytes written from `start` on, unless the arena
    /// grew past what offsets address (then they are dropped).
    fn placed(self, start: usize, set: impl FnOnce(&mut RecordEntry, Span)) -> Self {
        let arena = &mut self.builder.batch.arena;
        if arena.len() > MAX_ARENA_BYTES {
            arena.truncate(start);
            self.builder.full.get_or_insert(BatchFull::Arena);
            return self;
        }
        let span = Span {
            offset: start as u32,
            len: (arena.len() - start) as u32,
        };
        self.edit(|e| set(e, span))
    }

    /// Changes the entry of the record being built.
    fn edit(self, change: impl FnOnce(&mut RecordEntry)) -> Self {
        if self.live
            && let Some(words) = self
                .builder
                .batch
                .records
                .as_chunks_mut::<RECORD_WORDS>()
                .0
                .last_mut()
        {
            let mut entry = RecordEntry::decode(words);
            change(&mut entry);
            *words = entry.encode();
        }
        self
    }
}

/// Append-only access to a batch arena, for writing a key or value in place.
///
/// Implements [`std::io::Write`] (for `serde_json::to_writer`, `write!`);
/// it cannot touch bytes written before it.
pub struct ArenaWriter<'a> {
    arena: &'a mut Vec<u8>,
}

impl ArenaWriter<'_> {
    /// Appends `bytes`.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.arena.extend_from_slice(bytes);
    }

    /// Appends one byte.
    #[inline]
    pub fn push(&mut self, byte: u8) {
        self.arena.push(byte);
    }

    /// Reserves room for `additional` more bytes.
    pub fn reserve(&mut self, additional: usize) {
        self.arena.reserve(additional);
    }
}

impl io::Write for ArenaWriter<'_> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arena.extend_from_slice(buf);
        Ok(buf.len())
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.arena.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
