//! Read views: plain records over a batch's words, borrowing its arena.
//!
//! Views never copy and never panic: a span that does not fit reads as empty
//! and text that is not UTF-8 as `""`. [`Batch::validate`] rules both out, so
//! after it the views show exactly what the words say.

use std::fmt;

use crate::Batch;
use crate::entry::{HeaderEntry, RecordEntry, Span};
use crate::layout::{HEADER_WORDS, RECORD_WORDS};

/// A validated text span; `""` if it is not UTF-8 (validation rules it out).
#[inline]
fn text(arena: &[u8], span: Span) -> &str {
    std::str::from_utf8(span.of(arena)).unwrap_or_default()
}

/// Iterator over the records of a batch (see [`Batch::records`] and
/// [`Batch::iter`]).
#[derive(Clone, Debug)]
pub struct Records<'a> {
    arena: &'a [u8],
    headers: &'a [u32],
    entries: std::slice::Iter<'a, [u32; RECORD_WORDS]>,
}

impl<'a> Records<'a> {
    pub(crate) fn new(batch: &'a Batch) -> Self {
        Records {
            arena: &batch.arena,
            headers: &batch.headers,
            entries: batch.records.as_chunks::<RECORD_WORDS>().0.iter(),
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<RecordRef<'a>> {
        let words = self.entries.next()?;
        Some(RecordRef {
            arena: self.arena,
            headers: self.headers,
            entry: RecordEntry::decode(words),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Records<'_> {}

/// A read-only, zero-copy view of one record of a batch.
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    pub(crate) arena: &'a [u8],
    pub(crate) headers: &'a [u32],
    pub(crate) entry: RecordEntry,
}

impl<'a> RecordRef<'a> {
    pub(crate) fn new(batch: &'a Batch, entry: RecordEntry) -> Self {
        RecordRef {
            arena: &batch.arena,
            headers: &batch.headers,
            entry,
        }
    }

    /// The key bytes; `None` for a null key.
    #[inline]
    pub fn key(&self) -> Option<&'a [u8]> {
        self.entry.key.map(|span| span.of(self.arena))
    }

    /// The value bytes; `None` for a null value (a tombstone).
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.entry.value.map(|span| span.of(self.arena))
    }

    /// The headers in order, repeats included, as `(name, value)`; a `None`
    /// value is a null header value.
    #[inline]
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            arena: self.arena,
            entries: self.header_words().as_chunks::<HEADER_WORDS>().0.iter(),
        }
    }

    /// The value of the last header called `name` (Kafka's `lastHeader`):
    /// `None` when there is none, `Some(None)` when its value is null.
    pub fn last_header(&self, name: &str) -> Option<Option<&'a [u8]>> {
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
    pub fn entry(&self) -> RecordEntry {
        self.entry
    }

    /// This record's header entries, decoded.
    pub fn header_entries(&self) -> impl DoubleEndedIterator<Item = HeaderEntry> + 'a {
        self.header_words()
            .as_chunks::<HEADER_WORDS>()
            .0
            .iter()
            .map(HeaderEntry::decode)
    }

    /// The bytes a copy of this record takes: key, value, topic, header
    /// names and values (what [`crate::Size::referenced`] counts, without
    /// the entry words).
    pub fn byte_len(&self) -> u64 {
        let len = |s: Option<Span>| s.map_or(0, |s| u64::from(s.len));
        let headers: u64 = self
            .header_entries()
            .map(|h| u64::from(h.name.len) + len(h.value))
            .sum();
        len(self.entry.key) + len(self.entry.value) + len(self.entry.topic) + headers
    }

    /// The arena this record's spans point into.
    pub fn arena(&self) -> &'a [u8] {
        self.arena
    }

    /// This record's header entries, as words.
    #[inline]
    pub(crate) fn header_words(&self) -> &'a [u32] {
        let start = self.entry.headers_start as usize * HEADER_WORDS;
        let len = self.entry.headers_len as usize * HEADER_WORDS;
        start
            .checked_add(len)
            .and_then(|end| self.headers.get(start..end))
            .unwrap_or_default()
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
                    .map(|(n, v)| (n, Bytes(v)))
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

impl<'a> Headers<'a> {
    fn show(&self, words: &[u32; HEADER_WORDS]) -> (&'a str, Option<&'a [u8]>) {
        let h = HeaderEntry::decode(words);
        (
            text(self.arena, h.name),
            h.value.map(|span| span.of(self.arena)),
        )
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, Option<&'a [u8]>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let words = self.entries.next()?;
        Some(self.show(words))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl DoubleEndedIterator for Headers<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let words = self.entries.next_back()?;
        Some(self.show(words))
    }
}

impl ExactSizeIterator for Headers<'_> {}
