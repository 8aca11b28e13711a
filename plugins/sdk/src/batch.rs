//! Batches as the WIT contract carries them, and the plain-record views over them.
//!
//! A [`Batch`] is one byte arena plus two flat lists of `u32` words that point
//! into it (`sluice:plugin/types`): [`RECORD_WORDS`] words per record and
//! [`HEADER_WORDS`] per header. That shape crosses the WebAssembly boundary as
//! three block copies per batch, but nobody wants to write a plugin against
//! words. This module turns it into plain records both ways:
//!
//! - reading: [`Batch::records`] checks every entry once, then yields
//!   [`RecordRef`]s that borrow the arena (no copy, no allocation);
//! - writing: [`BatchBuilder`] appends records into a fresh arena and produces
//!   the `Batch` to return; [`BatchBuilder::push_ref`] copies a record through.
//!
//! [`KafkaRecord`] and [`Header`] are the decoded form of one entry.
//!
//! Nothing here depends on WebAssembly, so it is unit-tested natively.

use std::fmt;
use std::io;

use crate::layout::flag;
pub use crate::layout::{HEADER_WORDS, Header, KafkaRecord, RECORD_WORDS, Span};

/// A batch of records sharing one byte arena (WIT `types.batch`).
///
/// Read it with [`Batch::records`]; build one with [`BatchBuilder`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The bytes of every key, value, header name and value, and topic.
    pub arena: Vec<u8>,
    /// [`RECORD_WORDS`] words per record, in order (see [`KafkaRecord::encode`]).
    pub records: Vec<u32>,
    /// [`HEADER_WORDS`] words per header, grouped per record in record order.
    pub headers: Vec<u32>,
}

/// A batch whose entries point outside its arena or header list, or whose
/// header names or topics are not UTF-8. Always a bug in whoever built it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchError {
    /// Index of the offending record.
    pub record: usize,
    /// Which field is wrong and how.
    pub problem: String,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}: {}", self.record, self.problem)
    }
}

impl std::error::Error for BatchError {}

impl Batch {
    /// A batch from decoded entries (tests, and plugins that lay out their
    /// own arena).
    pub fn from_entries(arena: Vec<u8>, headers: &[Header], records: &[KafkaRecord]) -> Batch {
        Batch {
            arena,
            records: records.iter().flat_map(KafkaRecord::encode).collect(),
            headers: headers.iter().flat_map(Header::encode).collect(),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD_WORDS
    }

    /// True when the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.len() < RECORD_WORDS
    }

    /// Number of headers of all records.
    pub fn header_count(&self) -> usize {
        self.headers.len() / HEADER_WORDS
    }

    /// The decoded record entries, in order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = KafkaRecord> + '_ {
        self.records
            .as_chunks::<RECORD_WORDS>()
            .0
            .iter()
            .map(KafkaRecord::decode)
    }

    /// The decoded header entries of all records, in order.
    pub fn header_entries(&self) -> impl ExactSizeIterator<Item = Header> + '_ {
        self.headers
            .as_chunks::<HEADER_WORDS>()
            .0
            .iter()
            .map(Header::decode)
    }

    /// Checks every entry once, then returns the records as plain views.
    ///
    /// After this check the views never fail and never copy.
    pub fn records(&self) -> Result<Records<'_>, BatchError> {
        self.validate()?;
        Ok(Records {
            arena: &self.arena,
            headers: &self.headers,
            entries: self.records.as_chunks::<RECORD_WORDS>().0.iter(),
        })
    }

    /// Checks that the word lists hold whole entries with known flags, every
    /// span lies inside the arena, every header range inside the header list,
    /// and that header names and topics are UTF-8.
    pub fn validate(&self) -> Result<(), BatchError> {
        // Hot path: plain boolean checks, no error built. Each header entry is
        // checked once, whatever record it belongs to.
        let arena_len = self.arena.len() as u64;
        let header_count = self.header_count() as u64;
        let whole = self.records.len().is_multiple_of(RECORD_WORDS)
            && self.headers.len().is_multiple_of(HEADER_WORDS);
        let headers_ok = self.header_entries().all(|h| {
            span_ok(h.name, arena_len)
                && span_ok(h.value, arena_len)
                && is_utf8(slice(&self.arena, h.name))
        });
        let records_ok = self
            .records
            .as_chunks::<RECORD_WORDS>()
            .0
            .iter()
            .all(|words| {
                let rec = KafkaRecord::decode(words);
                words[0] & !flag::ALL == 0
                    && rec.key.is_none_or(|s| span_ok(s, arena_len))
                    && rec.value.is_none_or(|s| span_ok(s, arena_len))
                    && rec
                        .topic
                        .is_none_or(|s| span_ok(s, arena_len) && is_utf8(slice(&self.arena, s)))
                    && u64::from(rec.headers_start) + u64::from(rec.headers_len) <= header_count
            });
        if whole && headers_ok && records_ok {
            Ok(())
        } else {
            Err(self.explain())
        }
    }

    /// Finds and describes the first problem (cold path of [`Batch::validate`]).
    #[cold]
    fn explain(&self) -> BatchError {
        if !self.records.len().is_multiple_of(RECORD_WORDS) {
            return BatchError {
                record: self.len(),
                problem: format!(
                    "the record list holds {} words, not a multiple of {RECORD_WORDS}",
                    self.records.len()
                ),
            };
        }
        if !self.headers.len().is_multiple_of(HEADER_WORDS) {
            return BatchError {
                record: 0,
                problem: format!(
                    "the header list holds {} words, not a multiple of {HEADER_WORDS}",
                    self.headers.len()
                ),
            };
        }
        let headers: Vec<Header> = self.header_entries().collect();
        let arena_len = self.arena.len() as u64;
        let span_problem = |what: &str, span: Span| {
            let end = u64::from(span.offset) + u64::from(span.len);
            (!span_ok(span, arena_len)).then(|| {
                format!(
                    "{what} span {}..{end} exceeds the arena of {arena_len} bytes",
                    span.offset
                )
            })
        };
        for (index, words) in self
            .records
            .as_chunks::<RECORD_WORDS>()
            .0
            .iter()
            .enumerate()
        {
            if words[0] & !flag::ALL != 0 {
                return BatchError {
                    record: index,
                    problem: format!("unknown flag bits {:#x}", words[0] & !flag::ALL),
                };
            }
            let rec = KafkaRecord::decode(words);
            let fields = [("key", rec.key), ("value", rec.value), ("topic", rec.topic)];
            for (what, span) in fields {
                if let Some(problem) = span.and_then(|s| span_problem(what, s)) {
                    return BatchError {
                        record: index,
                        problem,
                    };
                }
            }
            if let Some(topic) = rec.topic
                && !is_utf8(slice(&self.arena, topic))
            {
                return BatchError {
                    record: index,
                    problem: "topic is not UTF-8".to_owned(),
                };
            }
            let start = rec.headers_start as usize;
            let end = start.saturating_add(rec.headers_len as usize);
            let Some(headers) = headers.get(start..end) else {
                return BatchError {
                    record: index,
                    problem: format!(
                        "headers {start}+{} exceed the {} headers of the batch",
                        rec.headers_len,
                        headers.len()
                    ),
                };
            };
            for h in headers {
                let problem = span_problem("header name", h.name)
                    .or_else(|| span_problem("header value", h.value))
                    .or_else(|| {
                        (!is_utf8(slice(&self.arena, h.name)))
                            .then(|| "a header name is not UTF-8".to_owned())
                    });
                if let Some(problem) = problem {
                    return BatchError {
                        record: index,
                        problem,
                    };
                }
            }
        }
        // Only headers that no record refers to are left.
        BatchError {
            record: self.len(),
            problem: "a header entry outside every record points outside the arena \
                      or has a name that is not UTF-8"
                .to_owned(),
        }
    }
}

/// True when `span` lies inside an arena of `arena_len` bytes.
#[inline]
fn span_ok(span: Span, arena_len: u64) -> bool {
    u64::from(span.offset) + u64::from(span.len) <= arena_len
}

/// UTF-8 check with an inlined ASCII fast path (header names are short ASCII).
#[inline]
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// The bytes of a span already checked by [`Batch::validate`]; empty if not.
#[inline]
fn slice(arena: &[u8], span: Span) -> &[u8] {
    let start = span.offset as usize;
    arena
        .get(start..start + span.len as usize)
        .unwrap_or_default()
}

/// A validated text span; empty if not (validation makes that unreachable).
#[inline]
fn text(arena: &[u8], span: Span) -> &str {
    std::str::from_utf8(slice(arena, span)).unwrap_or_default()
}

/// Iterator over the records of a validated batch (see [`Batch::records`]).
#[derive(Clone, Debug)]
pub struct Records<'a> {
    arena: &'a [u8],
    headers: &'a [u32],
    entries: std::slice::Iter<'a, [u32; RECORD_WORDS]>,
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<RecordRef<'a>> {
        let words = self.entries.next()?;
        Some(RecordRef {
            arena: self.arena,
            headers: self.headers,
            entry: KafkaRecord::decode(words),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Records<'_> {}

/// A read-only, zero-copy view of one record of a batch.
///
/// Every accessor borrows the batch's arena; nothing is copied or allocated.
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    arena: &'a [u8],
    headers: &'a [u32],
    entry: KafkaRecord,
}

impl<'a> RecordRef<'a> {
    /// The key bytes; `None` for a null key.
    #[inline]
    pub fn key(&self) -> Option<&'a [u8]> {
        self.entry.key.map(|span| slice(self.arena, span))
    }

    /// The value bytes; `None` for a null value (a tombstone).
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.entry.value.map(|span| slice(self.arena, span))
    }

    /// The headers in order, repeats included, as `(name, value)`.
    #[inline]
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            arena: self.arena,
            entries: self.header_words().as_chunks::<HEADER_WORDS>().0.iter(),
        }
    }

    /// The value of the last header called `name` (Kafka's `lastHeader`).
    pub fn last_header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    /// Timestamp in milliseconds since the Unix epoch, if the record has one.
    #[inline]
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.entry.timestamp_ms
    }

    /// Topic override, if any.
    #[inline]
    pub fn topic(&self) -> Option<&'a str> {
        self.entry.topic.map(|span| text(self.arena, span))
    }

    /// Partition override, if any.
    #[inline]
    pub fn partition(&self) -> Option<i32> {
        self.entry.partition
    }

    /// The decoded entry (spans into the arena).
    pub fn entry(&self) -> KafkaRecord {
        self.entry
    }

    /// This record's header entries, as words.
    #[inline]
    fn header_words(&self) -> &'a [u32] {
        let start = self.entry.headers_start as usize * HEADER_WORDS;
        let len = self.entry.headers_len as usize * HEADER_WORDS;
        self.headers.get(start..start + len).unwrap_or_default()
    }
}

impl fmt::Debug for RecordRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Bytes<'b>(Option<&'b [u8]>);
        impl fmt::Debug for Bytes<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    None => f.write_str("None"),
                    Some(bytes) => write!(f, "{:?}", String::from_utf8_lossy(bytes)),
                }
            }
        }
        f.debug_struct("RecordRef")
            .field("key", &Bytes(self.key()))
            .field("value", &Bytes(self.value()))
            .field(
                "headers",
                &self
                    .headers()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v)))
                    .collect::<Vec<_>>(),
            )
            .field("timestamp_ms", &self.timestamp_ms())
            .field("topic", &self.topic())
            .field("partition", &self.partition())
            .finish()
    }
}

/// Iterator over a record's headers as `(name, value)`; see [`RecordRef::headers`].
#[derive(Clone, Debug)]
pub struct Headers<'a> {
    arena: &'a [u8],
    entries: std::slice::Iter<'a, [u32; HEADER_WORDS]>,
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let h = Header::decode(self.entries.next()?);
        Some((text(self.arena, h.name), slice(self.arena, h.value)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl DoubleEndedIterator for Headers<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let h = Header::decode(self.entries.next_back()?);
        Some((text(self.arena, h.name), slice(self.arena, h.value)))
    }
}

impl ExactSizeIterator for Headers<'_> {}

/// Converts an arena or list length to the `u32` the contract uses.
///
/// # Panics
///
/// Past 4 GiB, which a wasm32 memory cannot hold: only reachable natively.
#[inline]
fn to_u32(n: usize) -> u32 {
    match u32::try_from(n) {
        Ok(n) => n,
        Err(_) => panic!("batch exceeds the 4 GiB a span can address"),
    }
}

/// Appends records into a fresh arena and produces the [`Batch`] to return.
///
/// ```
/// use sluice_plugin::BatchBuilder;
///
/// let mut out = BatchBuilder::new();
/// out.push().key(b"k1").value(br#"{"n":1}"#).header("source", b"demo");
/// out.push().value(b"no key, no headers");
/// let batch = out.finish();
/// assert_eq!(batch.len(), 2);
/// let first = batch.records().unwrap().next().unwrap();
/// assert_eq!(first.key(), Some(&b"k1"[..]));
/// ```
#[derive(Clone, Debug, Default)]
pub struct BatchBuilder {
    arena: Vec<u8>,
    /// Header entries, [`HEADER_WORDS`] words each.
    headers: Vec<u32>,
    /// Record entries, [`RECORD_WORDS`] words each.
    records: Vec<u32>,
}

/// Where a builder stood, to roll back a record's partial output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) records: usize,
    headers: usize,
    arena: usize,
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
            arena: Vec::with_capacity(arena_bytes),
            headers: Vec::with_capacity(headers * HEADER_WORDS),
            records: Vec::with_capacity(records * RECORD_WORDS),
        }
    }

    /// Number of records appended so far.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD_WORDS
    }

    /// True when no record was appended.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes used in the arena so far (to cap a batch by size).
    pub fn arena_len(&self) -> usize {
        self.arena.len()
    }

    /// Appends an empty record (null key, null value, no header, no
    /// timestamp, no override) and returns a builder to fill it in.
    pub fn push(&mut self) -> RecordBuilder<'_> {
        let entry = KafkaRecord {
            headers_start: to_u32(self.headers.len() / HEADER_WORDS),
            ..KafkaRecord::default()
        };
        self.records.extend_from_slice(&entry.encode());
        RecordBuilder { batch: self }
    }

    /// Appends an exact copy of `record` (key, value, headers, timestamp,
    /// overrides). The returned builder can still change fields or add headers.
    pub fn push_ref(&mut self, record: &RecordRef<'_>) -> RecordBuilder<'_> {
        let entry = record.entry;
        let headers = record
            .header_words()
            .as_chunks::<HEADER_WORDS>()
            .0
            .iter()
            .map(Header::decode);

        // A record's bytes usually sit together in its arena (hosts and this
        // builder write key, value, headers, topic one after the other). Then
        // one copy of that region plus shifted spans does it; otherwise each
        // field is copied on its own.
        let (mut lo, mut hi, mut total) = (u64::MAX, 0u64, 0u64);
        let mut see = |span: Span| {
            lo = lo.min(u64::from(span.offset));
            hi = hi.max(u64::from(span.offset) + u64::from(span.len));
            total += u64::from(span.len);
        };
        entry
            .key
            .into_iter()
            .chain(entry.value)
            .chain(entry.topic)
            .for_each(&mut see);
        for h in headers.clone() {
            see(h.name);
            see(h.value);
        }
        /// Gap bytes worth copying to save one copy call per field.
        const SLACK: u64 = 64;
        let together = lo == u64::MAX || hi - lo <= total + SLACK;
        let base = self.arena.len() as u64;
        if together && lo != u64::MAX {
            let region = record
                .arena
                .get(lo as usize..hi as usize)
                .unwrap_or_default();
            self.arena.extend_from_slice(region);
        }
        let src = record.arena;
        let arena = &mut self.arena;
        // Where a span of the source record lands in this builder's arena.
        let mut place = |span: Span| -> Span {
            let offset = if together {
                base + u64::from(span.offset) - lo
            } else {
                let offset = arena.len() as u64;
                arena.extend_from_slice(slice(src, span));
                offset
            };
            Span {
                offset: to_u32(offset as usize),
                len: span.len,
            }
        };
        let key = entry.key.map(&mut place);
        let value = entry.value.map(&mut place);
        let topic = entry.topic.map(&mut place);
        let headers_start = to_u32(self.headers.len() / HEADER_WORDS);
        for h in headers {
            let name = place(h.name);
            let value = place(h.value);
            self.headers
                .extend_from_slice(&Header { name, value }.encode());
        }
        let copy = KafkaRecord {
            key,
            value,
            headers_start,
            topic,
            ..entry
        };
        self.records.extend_from_slice(&copy.encode());
        RecordBuilder { batch: self }
    }

    /// The finished batch.
    pub fn finish(self) -> Batch {
        Batch {
            arena: self.arena,
            records: self.records,
            headers: self.headers,
        }
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark {
            records: self.len(),
            headers: self.headers.len(),
            arena: self.arena.len(),
        }
    }

    /// Drops everything appended since `mark`.
    pub(crate) fn rollback(&mut self, mark: Mark) {
        self.records.truncate(mark.records * RECORD_WORDS);
        self.headers.truncate(mark.headers);
        self.arena.truncate(mark.arena);
    }

    fn append(&mut self, bytes: &[u8]) -> Span {
        let offset = to_u32(self.arena.len());
        self.arena.extend_from_slice(bytes);
        Span {
            offset,
            len: to_u32(bytes.len()),
        }
    }

    fn append_with<E>(
        &mut self,
        write: impl FnOnce(&mut ArenaWriter<'_>) -> Result<(), E>,
    ) -> Result<Span, E> {
        let start = self.arena.len();
        let result = write(&mut ArenaWriter {
            arena: &mut self.arena,
        });
        match result {
            Ok(()) => Ok(Span {
                offset: to_u32(start),
                len: to_u32(self.arena.len() - start),
            }),
            Err(e) => {
                self.arena.truncate(start);
                Err(e)
            }
        }
    }

    fn write_span(&mut self, write: impl FnOnce(&mut ArenaWriter<'_>)) -> Span {
        let start = self.arena.len();
        write(&mut ArenaWriter {
            arena: &mut self.arena,
        });
        Span {
            offset: to_u32(start),
            len: to_u32(self.arena.len() - start),
        }
    }

    /// Changes the entry of the record being built.
    fn edit(&mut self, change: impl FnOnce(&mut KafkaRecord)) {
        let words = match self.records.as_chunks_mut::<RECORD_WORDS>().0.last_mut() {
            Some(last) => last,
            // A RecordBuilder exists only right after a record was pushed.
            None => unreachable!("RecordBuilder without a record"),
        };
        let mut entry = KafkaRecord::decode(words);
        change(&mut entry);
        *words = entry.encode();
    }
}

/// Fills in the record just appended by [`BatchBuilder::push`] or
/// [`BatchBuilder::push_ref`]. Each setter replaces the field; headers add up.
///
/// The record is already in the batch: there is nothing to "finish".
pub struct RecordBuilder<'b> {
    batch: &'b mut BatchBuilder,
}

impl RecordBuilder<'_> {
    /// Sets the key.
    pub fn key(self, key: &[u8]) -> Self {
        let span = self.batch.append(key);
        self.batch.edit(|e| e.key = Some(span));
        self
    }

    /// Makes the key null.
    pub fn clear_key(self) -> Self {
        self.batch.edit(|e| e.key = None);
        self
    }

    /// Sets the key to whatever `write` appends (no temporary buffer). On
    /// error the bytes are dropped, the key is left as it was, and the error
    /// is returned.
    pub fn key_with<E>(
        self,
        write: impl FnOnce(&mut ArenaWriter<'_>) -> Result<(), E>,
    ) -> Result<Self, E> {
        let span = self.batch.append_with(write)?;
        self.batch.edit(|e| e.key = Some(span));
        Ok(self)
    }

    /// Sets the key to whatever `write` appends (no temporary buffer).
    pub fn write_key(self, write: impl FnOnce(&mut ArenaWriter<'_>)) -> Self {
        let span = self.batch.write_span(write);
        self.batch.edit(|e| e.key = Some(span));
        self
    }

    /// Sets the value.
    pub fn value(self, value: &[u8]) -> Self {
        let span = self.batch.append(value);
        self.batch.edit(|e| e.value = Some(span));
        self
    }

    /// Makes the value null (a tombstone).
    pub fn clear_value(self) -> Self {
        self.batch.edit(|e| e.value = None);
        self
    }

    /// Sets the value to whatever `write` appends (e.g. `serde_json::to_writer`),
    /// with no temporary buffer. On error the bytes are dropped, the value is
    /// left as it was, and the error is returned.
    pub fn value_with<E>(
        self,
        write: impl FnOnce(&mut ArenaWriter<'_>) -> Result<(), E>,
    ) -> Result<Self, E> {
        let span = self.batch.append_with(write)?;
        self.batch.edit(|e| e.value = Some(span));
        Ok(self)
    }

    /// Sets the value to whatever `write` appends (no temporary buffer).
    pub fn write_value(self, write: impl FnOnce(&mut ArenaWriter<'_>)) -> Self {
        let span = self.batch.write_span(write);
        self.batch.edit(|e| e.value = Some(span));
        self
    }

    /// Appends a header (after any the record already has).
    pub fn header(self, name: &str, value: &[u8]) -> Self {
        let name = self.batch.append(name.as_bytes());
        let value = self.batch.append(value);
        self.batch
            .headers
            .extend_from_slice(&Header { name, value }.encode());
        self.batch.edit(|e| e.headers_len += 1);
        self
    }

    /// Sets the timestamp (milliseconds since the Unix epoch).
    pub fn timestamp_ms(self, timestamp_ms: i64) -> Self {
        self.batch.edit(|e| e.timestamp_ms = Some(timestamp_ms));
        self
    }

    /// Removes the timestamp: Kafka will set it.
    pub fn clear_timestamp(self) -> Self {
        self.batch.edit(|e| e.timestamp_ms = None);
        self
    }

    /// Sends this record to `topic` instead of the pipeline's sink topic.
    pub fn topic(self, topic: &str) -> Self {
        let span = self.batch.append(topic.as_bytes());
        self.batch.edit(|e| e.topic = Some(span));
        self
    }

    /// Removes a topic override.
    pub fn clear_topic(self) -> Self {
        self.batch.edit(|e| e.topic = None);
        self
    }

    /// Sends this record to `partition` instead of the partitioner's choice.
    pub fn partition(self, partition: i32) -> Self {
        self.batch.edit(|e| e.partition = Some(partition));
        self
    }

    /// Removes a partition override.
    pub fn clear_partition(self) -> Self {
        self.batch.edit(|e| e.partition = None);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sample() -> Batch {
        let mut b = BatchBuilder::new();
        b.push()
            .key(b"k1")
            .value(b"v1")
            .header("h1", b"a")
            .header("h1", b"b")
            .timestamp_ms(1_700_000_000_000)
            .topic("other")
            .partition(3);
        b.push(); // all null
        b.push().value(b"").header("empty", b"");
        b.finish()
    }

    #[test]
    fn builder_round_trips_every_field() {
        let batch = sample();
        let recs: Vec<_> = batch.records().unwrap().collect();
        assert_eq!(recs.len(), 3);

        let r = recs[0];
        assert_eq!(r.key(), Some(&b"k1"[..]));
        assert_eq!(r.value(), Some(&b"v1"[..]));
        let headers: Vec<_> = r.headers().collect();
        assert_eq!(headers, vec![("h1", &b"a"[..]), ("h1", &b"b"[..])]);
        assert_eq!(r.last_header("h1"), Some(&b"b"[..]));
        assert_eq!(r.last_header("nope"), None);
        assert_eq!(r.timestamp_ms(), Some(1_700_000_000_000));
        assert_eq!(r.topic(), Some("other"));
        assert_eq!(r.partition(), Some(3));

        let r = recs[1];
        assert_eq!((r.key(), r.value()), (None, None));
        assert_eq!(r.headers().len(), 0);
        assert_eq!(
            (r.timestamp_ms(), r.topic(), r.partition()),
            (None, None, None)
        );

        let r = recs[2];
        assert_eq!(r.value(), Some(&b""[..]), "empty is not null");
        assert_eq!(r.headers().collect::<Vec<_>>(), vec![("empty", &b""[..])]);
    }

    #[test]
    fn push_ref_copies_exactly() {
        let input = sample();
        let mut out = BatchBuilder::new();
        for r in input.records().unwrap() {
            out.push_ref(&r);
        }
        let output = out.finish();
        let a: Vec<_> = input.records().unwrap().map(|r| format!("{r:?}")).collect();
        let b: Vec<_> = output
            .records()
            .unwrap()
            .map(|r| format!("{r:?}"))
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn push_ref_copies_scattered_and_shared_spans() {
        // Fields far apart (slow path) and two spans sharing bytes.
        let mut arena = vec![b'.'; 300];
        arena[0..3].copy_from_slice(b"key");
        arena[200..205].copy_from_slice(b"value");
        arena[290..292].copy_from_slice(b"hv");
        let span = |offset, len| Span { offset, len };
        let batch = Batch::from_entries(
            arena,
            &[Header {
                name: span(1, 2),
                value: span(290, 2),
            }],
            &[
                KafkaRecord {
                    key: Some(span(0, 3)),
                    value: Some(span(200, 5)),
                    headers_start: 0,
                    headers_len: 1,
                    topic: Some(span(0, 3)),
                    ..KafkaRecord::default()
                },
                KafkaRecord {
                    value: Some(span(201, 3)),
                    ..KafkaRecord::default()
                },
            ],
        );
        let mut out = BatchBuilder::new();
        for r in batch.records().unwrap() {
            out.push_ref(&r);
        }
        let output = out.finish();
        assert!(
            output.arena.len() < 20,
            "gaps are not copied: {}",
            output.arena.len()
        );
        let a: Vec<_> = batch.records().unwrap().map(|r| format!("{r:?}")).collect();
        let b: Vec<_> = output
            .records()
            .unwrap()
            .map(|r| format!("{r:?}"))
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn push_ref_then_edit() {
        let input = sample();
        let first = input.records().unwrap().next().unwrap();
        let mut out = BatchBuilder::new();
        let _ = out.push_ref(&first).key(b"new").header("added", b"x");
        let _ = out
            .push_ref(&first)
            .clear_key()
            .clear_topic()
            .clear_partition();
        let output = out.finish();
        let recs: Vec<_> = output.records().unwrap().collect();
        assert_eq!(recs[0].key(), Some(&b"new"[..]));
        assert_eq!(recs[0].headers().len(), 3);
        assert_eq!(recs[0].last_header("added"), Some(&b"x"[..]));
        assert_eq!(recs[1].key(), None);
        assert_eq!(recs[1].topic(), None);
        assert_eq!(recs[1].partition(), None);
        assert_eq!(recs[1].headers().len(), 2, "headers stay per record");
    }

    #[test]
    fn value_with_writes_in_place_and_rolls_back_on_error() {
        use std::io::Write;
        let mut out = BatchBuilder::new();
        let _ = out
            .push()
            .value_with(|w| write!(w, "{{\"n\":{}}}", 7))
            .unwrap();
        let before = out.arena_len();
        let failed = out.push().value(b"old").value_with(|w| {
            w.extend_from_slice(b"partial");
            Err("nope")
        });
        assert_eq!(failed.err(), Some("nope"));
        assert_eq!(out.arena_len(), before + 3, "partial bytes dropped");
        let batch = out.finish();
        let recs: Vec<_> = batch.records().unwrap().collect();
        assert_eq!(recs[0].value(), Some(&br#"{"n":7}"#[..]));
        assert_eq!(recs[1].value(), Some(&b"old"[..]), "value left as it was");
    }

    #[test]
    fn rollback_drops_partial_output() {
        let mut out = BatchBuilder::new();
        let _ = out.push().value(b"keep").header("h", b"1");
        let mark = out.mark();
        let _ = out.push().value(b"drop").header("h", b"2");
        let _ = out.push().value(b"drop too");
        out.rollback(mark);
        let _ = out.push().value(b"after").header("h", b"3");
        let batch = out.finish();
        let recs: Vec<_> = batch.records().unwrap().collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].value(), Some(&b"after"[..]));
        assert_eq!(
            recs[1].headers().collect::<Vec<_>>(),
            vec![("h", &b"3"[..])]
        );
        assert_eq!(batch.header_count(), 2);
    }

    /// `sample()` with record `index`'s entry changed by `edit`.
    fn edited(index: usize, edit: impl FnOnce(&mut KafkaRecord)) -> Batch {
        let mut batch = sample();
        let words = &mut batch.records.as_chunks_mut::<RECORD_WORDS>().0[index];
        let mut entry = KafkaRecord::decode(words);
        edit(&mut entry);
        words.copy_from_slice(&entry.encode());
        batch
    }

    #[test]
    fn validate_rejects_spans_outside_the_arena() {
        let batch = edited(0, |r| {
            r.value = Some(Span {
                offset: 1,
                len: u32::MAX,
            })
        });
        let err = batch.records().unwrap_err();
        assert_eq!(err.record, 0);
        assert!(err.problem.contains("value span"), "{err}");

        let batch = edited(2, |r| r.headers_len = 99);
        assert!(batch.validate().unwrap_err().problem.contains("headers"));

        let batch = edited(1, |r| {
            r.headers_start = u32::MAX;
            r.headers_len = u32::MAX;
        });
        assert!(batch.validate().is_err(), "no overflow");
    }

    #[test]
    fn validate_rejects_partial_entries_and_unknown_flags() {
        let mut batch = sample();
        batch.records.pop();
        assert!(
            batch
                .validate()
                .unwrap_err()
                .problem
                .contains("multiple of 12")
        );

        let mut batch = sample();
        batch.headers.push(0);
        assert!(
            batch
                .validate()
                .unwrap_err()
                .problem
                .contains("multiple of 4")
        );

        let mut batch = sample();
        batch.records[RECORD_WORDS] |= 1 << 7;
        let err = batch.validate().unwrap_err();
        assert_eq!(err.record, 1);
        assert!(err.problem.contains("unknown flag bits 0x80"), "{err}");
    }

    #[test]
    fn entries_encode_and_decode_every_field() {
        let entry = KafkaRecord {
            key: Some(Span { offset: 1, len: 2 }),
            value: None,
            headers_start: 3,
            headers_len: 4,
            timestamp_ms: Some(-1_234_567_890_123),
            topic: Some(Span { offset: 5, len: 6 }),
            partition: Some(-7),
        };
        let words = entry.encode();
        assert_eq!(
            words[0], 0b11101,
            "key, timestamp, topic and partition present"
        );
        assert_eq!(KafkaRecord::decode(&words), entry);
        assert_eq!(
            KafkaRecord::decode(&KafkaRecord::default().encode()),
            KafkaRecord::default()
        );
        assert_eq!(KafkaRecord::default().encode(), [0; RECORD_WORDS]);
    }

    #[test]
    fn validate_rejects_non_utf8_names() {
        let mut batch = sample();
        let name = Header::decode(&batch.headers.as_chunks().0[0]).name;
        batch.arena[name.offset as usize] = 0xff;
        assert!(batch.validate().unwrap_err().problem.contains("UTF-8"));
    }

    #[test]
    fn empty_batch() {
        let batch = BatchBuilder::new().finish();
        assert!(batch.is_empty());
        assert_eq!(batch.records().unwrap().count(), 0);
    }
}
