//! Record batches as they cross the plugin boundary: one byte arena plus
//! fixed-size entries pointing into it (see `wit/types.wit`).
//!
//! The host keeps batches in this shape end to end (source → transforms →
//! sink), so no per-record allocation happens on the data path.

use std::ops::Range;

/// A byte range inside a batch's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Span {
    fn range(self) -> Range<usize> {
        self.offset as usize..self.offset as usize + self.len as usize
    }
}

/// One header of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEntry {
    /// Name (UTF-8).
    pub name: Span,
    /// Value bytes.
    pub value: Span,
}

/// One record's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordEntry {
    /// Key, absent for a null key.
    pub key: Option<Span>,
    /// Value, absent for a tombstone.
    pub value: Option<Span>,
    /// First header index.
    pub headers_start: u32,
    /// Header count.
    pub headers_len: u32,
    /// Timestamp in ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Topic override.
    pub topic: Option<Span>,
    /// Partition override.
    pub partition: Option<i32>,
}

/// A batch of records sharing one arena.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// All bytes.
    pub arena: Vec<u8>,
    /// All headers, grouped by record.
    pub headers: Vec<HeaderEntry>,
    /// The records in order.
    pub records: Vec<RecordEntry>,
}

/// Why a batch from a plugin is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {record}: {what} points outside the batch")]
pub struct MalformedBatch {
    /// Index of the bad record.
    pub record: usize,
    /// Which field.
    pub what: &'static str,
}

/// A borrowed view of one record.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    batch: &'a Batch,
    entry: &'a RecordEntry,
}

impl<'a> RecordRef<'a> {
    /// Key bytes; `None` for a null key.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.entry.key.map(|s| &self.batch.arena[s.range()])
    }
    /// Value bytes; `None` for a tombstone.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.entry.value.map(|s| &self.batch.arena[s.range()])
    }
    /// Headers in order; names that are not UTF-8 show lossily.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let start = self.entry.headers_start as usize;
        let end = start + self.entry.headers_len as usize;
        let batch = self.batch;
        batch.headers[start..end].iter().map(move |h| {
            let name = std::str::from_utf8(&batch.arena[h.name.range()]).unwrap_or("<non-utf8>");
            (name, &batch.arena[h.value.range()])
        })
    }
    /// Timestamp in ms since the epoch.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.entry.timestamp_ms
    }
    /// Topic override.
    pub fn topic(&self) -> Option<&'a str> {
        self.entry
            .topic
            .and_then(|s| std::str::from_utf8(&self.batch.arena[s.range()]).ok())
    }
    /// Partition override.
    pub fn partition(&self) -> Option<i32> {
        self.entry.partition
    }
}

/// A record in owned form, for tests, `sluice test` and dead letters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedRecord {
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Timestamp in ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Topic override.
    pub topic: Option<String>,
    /// Partition override.
    pub partition: Option<i32>,
}

impl Batch {
    /// An empty batch with room for `records` records of about `bytes` bytes in all.
    pub fn with_capacity(records: usize, bytes: usize) -> Self {
        Batch {
            arena: Vec::with_capacity(bytes),
            headers: Vec::new(),
            records: Vec::with_capacity(records),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Record `index` as a view.
    pub fn get(&self, index: usize) -> Option<RecordRef<'_>> {
        self.records
            .get(index)
            .map(|entry| RecordRef { batch: self, entry })
    }

    /// All records as views.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> {
        self.records
            .iter()
            .map(move |entry| RecordRef { batch: self, entry })
    }

    fn put(&mut self, bytes: &[u8]) -> Span {
        let offset = self.arena.len() as u32;
        self.arena.extend_from_slice(bytes);
        Span {
            offset,
            len: bytes.len() as u32,
        }
    }

    /// Appends a record.
    pub fn push(&mut self, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[(&str, &[u8])]) {
        let key = key.map(|k| self.put(k));
        let value = value.map(|v| self.put(v));
        let headers_start = self.headers.len() as u32;
        for (name, value) in headers {
            let name = self.put(name.as_bytes());
            let value = self.put(value);
            self.headers.push(HeaderEntry { name, value });
        }
        self.records.push(RecordEntry {
            key,
            value,
            headers_start,
            headers_len: headers.len() as u32,
            ..RecordEntry::default()
        });
    }

    /// Appends a copy of `record` (from any batch).
    pub fn push_ref(&mut self, record: RecordRef<'_>) {
        let headers: Vec<(&str, &[u8])> = record.headers().collect();
        self.push(record.key(), record.value(), &headers);
        let topic = record.topic().map(|t| self.put(t.as_bytes()));
        if let Some(last) = self.records.last_mut() {
            last.timestamp_ms = record.timestamp_ms();
            last.partition = record.partition();
            last.topic = topic;
        }
    }

    /// Appends an owned record.
    pub fn push_owned(&mut self, record: &OwnedRecord) {
        let headers: Vec<(&str, &[u8])> = record
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        self.push(record.key.as_deref(), record.value.as_deref(), &headers);
        let topic = record.topic.as_deref().map(|t| self.put(t.as_bytes()));
        if let Some(last) = self.records.last_mut() {
            last.timestamp_ms = record.timestamp_ms;
            last.partition = record.partition;
            last.topic = topic;
        }
    }

    /// Copies records `range` into a new batch.
    pub fn slice(&self, range: Range<usize>) -> Batch {
        let mut out = Batch::with_capacity(range.len(), 0);
        for i in range {
            if let Some(r) = self.get(i) {
                out.push_ref(r);
            }
        }
        out
    }

    /// Checks every span lies inside the arena and header ranges inside the
    /// header list, so views never panic on a plugin's output.
    pub fn validate(&self) -> Result<(), MalformedBatch> {
        let arena = self.arena.len() as u64;
        let inside = |s: Span| u64::from(s.offset) + u64::from(s.len) <= arena;
        for (record, e) in self.records.iter().enumerate() {
            let bad = |what| Err(MalformedBatch { record, what });
            if e.key.is_some_and(|s| !inside(s)) {
                return bad("key");
            }
            if e.value.is_some_and(|s| !inside(s)) {
                return bad("value");
            }
            if e.topic
                .is_some_and(|s| !inside(s) || std::str::from_utf8(&self.arena[s.range()]).is_err())
            {
                return bad("topic");
            }
            let end = u64::from(e.headers_start) + u64::from(e.headers_len);
            if end > self.headers.len() as u64 {
                return bad("headers");
            }
            let range = e.headers_start as usize..end as usize;
            if self.headers[range]
                .iter()
                .any(|h| !inside(h.name) || !inside(h.value))
            {
                return bad("a header");
            }
        }
        Ok(())
    }

    /// Record `index` in owned form.
    pub fn to_owned_record(&self, index: usize) -> Option<OwnedRecord> {
        let r = self.get(index)?;
        Some(OwnedRecord {
            key: r.key().map(<[u8]>::to_vec),
            value: r.value().map(<[u8]>::to_vec),
            headers: r
                .headers()
                .map(|(n, v)| (n.to_string(), v.to_vec()))
                .collect(),
            timestamp_ms: r.timestamp_ms(),
            topic: r.topic().map(str::to_string),
            partition: r.partition(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn push_and_read_back() {
        let mut b = Batch::default();
        b.push(Some(b"k"), Some(b"v1"), &[("h", b"x")]);
        b.push(None, None, &[]);
        assert_eq!(b.len(), 2);
        let r = b.get(0).unwrap();
        assert_eq!(r.key(), Some(&b"k"[..]));
        assert_eq!(r.value(), Some(&b"v1"[..]));
        assert_eq!(r.headers().collect::<Vec<_>>(), vec![("h", &b"x"[..])]);
        assert_eq!(b.get(1).unwrap().value(), None);
        assert!(b.validate().is_ok());
    }

    #[test]
    fn validate_refuses_spans_outside_the_arena() {
        let mut b = Batch::default();
        b.push(None, Some(b"abc"), &[]);
        b.records[0].value = Some(Span { offset: 2, len: 5 });
        assert_eq!(
            b.validate(),
            Err(MalformedBatch {
                record: 0,
                what: "value"
            })
        );
    }
}
