//! Record batches as they cross the plugin boundary: one byte arena plus two
//! flat lists of `u32` words that point into it (see `wit/types.wit`):
//! [`RECORD_WORDS`] words per record and [`HEADER_WORDS`] per header.
//!
//! The host keeps batches in exactly this shape end to end (source →
//! transforms → sink), so a batch crosses into and out of a plugin as three
//! block copies and no per-record allocation happens on the data path.
//! [`RecordEntry`] and [`HeaderEntry`] are the decoded form of one entry; the
//! plugin SDK's `layout.rs` defines them and is compiled into the host too.

use std::ops::Range;

/// The layout's one encoder and decoder, shared with the plugin SDK.
#[path = "../../../plugins/sdk/src/layout.rs"]
mod layout;

use layout::flag;
pub use layout::{
    HEADER_WORDS, Header as HeaderEntry, KafkaRecord as RecordEntry, RECORD_WORDS, Span,
};

/// A batch of records sharing one arena, in the contract's word layout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// All bytes.
    pub arena: Vec<u8>,
    /// [`RECORD_WORDS`] words per record, in order.
    pub records: Vec<u32>,
    /// [`HEADER_WORDS`] words per header, grouped by record.
    pub headers: Vec<u32>,
}

/// Why a batch from a plugin is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {record}: {what}")]
pub struct MalformedBatch {
    /// Index of the bad record (the record count when no record is at fault).
    pub record: usize,
    /// What is wrong.
    pub what: String,
}

/// A borrowed view of one record.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    batch: &'a Batch,
    entry: RecordEntry,
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
        let start = self.entry.headers_start as usize * HEADER_WORDS;
        let end = start + self.entry.headers_len as usize * HEADER_WORDS;
        let batch = self.batch;
        batch.headers[start..end]
            .as_chunks::<HEADER_WORDS>()
            .0
            .iter()
            .map(move |w| {
                let h = HeaderEntry::decode(w);
                let name =
                    std::str::from_utf8(&batch.arena[h.name.range()]).unwrap_or("<non-utf8>");
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
            records: Vec::with_capacity(records * RECORD_WORDS),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD_WORDS
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of headers of all records.
    pub fn header_count(&self) -> usize {
        self.headers.len() / HEADER_WORDS
    }

    fn entries(&self) -> &[[u32; RECORD_WORDS]] {
        self.records.as_chunks::<RECORD_WORDS>().0
    }

    /// Record `index`'s decoded entry.
    pub fn entry(&self, index: usize) -> Option<RecordEntry> {
        self.entries().get(index).map(RecordEntry::decode)
    }

    /// Replaces record `index`'s entry (tests, and fixing up an override).
    pub fn set_entry(&mut self, index: usize, entry: RecordEntry) {
        if let Some(words) = self
            .records
            .as_chunks_mut::<RECORD_WORDS>()
            .0
            .get_mut(index)
        {
            *words = entry.encode();
        }
    }

    /// Record `index` as a view.
    pub fn get(&self, index: usize) -> Option<RecordRef<'_>> {
        self.entry(index)
            .map(|entry| RecordRef { batch: self, entry })
    }

    /// All records as views.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> {
        self.entries().iter().map(move |w| RecordRef {
            batch: self,
            entry: RecordEntry::decode(w),
        })
    }

    fn put(&mut self, bytes: &[u8]) -> Span {
        let offset = self.arena.len() as u32;
        self.arena.extend_from_slice(bytes);
        Span {
            offset,
            len: bytes.len() as u32,
        }
    }

    /// Appends a record with no timestamp and no overrides.
    pub fn push(&mut self, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[(&str, &[u8])]) {
        self.push_full(key, value, headers.iter().copied(), None, None, None);
    }

    /// Appends a record with every field.
    fn push_full<'h>(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        timestamp_ms: Option<i64>,
        topic: Option<&str>,
        partition: Option<i32>,
    ) {
        let key = key.map(|k| self.put(k));
        let value = value.map(|v| self.put(v));
        let headers_start = self.header_count() as u32;
        for (name, value) in headers {
            let name = self.put(name.as_bytes());
            let value = self.put(value);
            self.headers
                .extend_from_slice(&HeaderEntry { name, value }.encode());
        }
        let headers_len = self.header_count() as u32 - headers_start;
        let topic = topic.map(|t| self.put(t.as_bytes()));
        let entry = RecordEntry {
            key,
            value,
            headers_start,
            headers_len,
            timestamp_ms,
            topic,
            partition,
        };
        self.records.extend_from_slice(&entry.encode());
    }

    /// Appends a copy of `record` (from any batch).
    pub fn push_ref(&mut self, record: RecordRef<'_>) {
        self.push_full(
            record.key(),
            record.value(),
            record.headers(),
            record.timestamp_ms(),
            record.topic(),
            record.partition(),
        );
    }

    /// Appends an owned record.
    pub fn push_owned(&mut self, record: &OwnedRecord) {
        self.push_full(
            record.key.as_deref(),
            record.value.as_deref(),
            record
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice())),
            record.timestamp_ms,
            record.topic.as_deref(),
            record.partition,
        );
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

    /// Checks that the word lists hold whole entries with known flags, every
    /// span lies inside the arena, topics are UTF-8 and header ranges lie
    /// inside the header list, so views never panic on a plugin's output.
    pub fn validate(&self) -> Result<(), MalformedBatch> {
        let bad = |record, what: String| Err(MalformedBatch { record, what });
        if !self.records.len().is_multiple_of(RECORD_WORDS) {
            return bad(
                self.len(),
                format!(
                    "the record list holds {} words, not a multiple of {RECORD_WORDS}",
                    self.records.len()
                ),
            );
        }
        if !self.headers.len().is_multiple_of(HEADER_WORDS) {
            return bad(
                self.len(),
                format!(
                    "the header list holds {} words, not a multiple of {HEADER_WORDS}",
                    self.headers.len()
                ),
            );
        }
        let arena = self.arena.len() as u64;
        let inside = |s: Span| u64::from(s.offset) + u64::from(s.len) <= arena;
        let headers = self.headers.as_chunks::<HEADER_WORDS>().0;
        for (record, w) in self.entries().iter().enumerate() {
            let outside = |what: &str| bad(record, format!("{what} points outside the batch"));
            if w[0] & !flag::ALL != 0 {
                return bad(
                    record,
                    format!("unknown flag bits {:#x}", w[0] & !flag::ALL),
                );
            }
            let e = RecordEntry::decode(w);
            if e.key.is_some_and(|s| !inside(s)) {
                return outside("key");
            }
            if e.value.is_some_and(|s| !inside(s)) {
                return outside("value");
            }
            if let Some(topic) = e.topic {
                if !inside(topic) {
                    return outside("topic");
                }
                if std::str::from_utf8(&self.arena[topic.range()]).is_err() {
                    return bad(record, "topic is not UTF-8".to_string());
                }
            }
            let end = u64::from(e.headers_start) + u64::from(e.headers_len);
            if end > headers.len() as u64 {
                return outside("headers");
            }
            if headers[e.headers_start as usize..end as usize]
                .iter()
                .any(|w| {
                    let h = HeaderEntry::decode(w);
                    !inside(h.name) || !inside(h.value)
                })
            {
                return outside("a header");
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
        let mut e = b.entry(0).unwrap();
        e.value = Some(Span { offset: 2, len: 5 });
        b.set_entry(0, e);
        assert_eq!(
            b.validate().unwrap_err().to_string(),
            "record 0: value points outside the batch"
        );
    }

    #[test]
    fn every_field_round_trips_through_the_words() {
        let mut b = Batch::default();
        b.push_owned(&OwnedRecord {
            key: Some(b"k".to_vec()),
            value: None,
            headers: vec![("a".into(), b"1".to_vec()), ("a".into(), b"2".to_vec())],
            timestamp_ms: Some(-1_234_567_890_123),
            topic: Some("t".into()),
            partition: Some(-1),
        });
        b.push(None, Some(b""), &[]);
        assert!(b.validate().is_ok());
        let e = b.entry(0).unwrap();
        assert_eq!(RecordEntry::decode(&e.encode()), e);
        assert_eq!(b.records[0], 0b11101, "key, timestamp, topic, partition");
        let mut copy = Batch::default();
        for r in b.iter() {
            copy.push_ref(r);
        }
        assert_eq!(copy, b);
        assert_eq!(
            copy.to_owned_record(0).unwrap().timestamp_ms,
            Some(-1_234_567_890_123)
        );
    }

    #[test]
    fn validate_refuses_partial_entries_and_unknown_flags() {
        let mut b = Batch::default();
        b.push(None, Some(b"abc"), &[("h", b"v")]);
        let mut partial = b.clone();
        partial.records.pop();
        assert!(
            partial
                .validate()
                .unwrap_err()
                .what
                .contains("multiple of 12")
        );
        let mut partial = b.clone();
        partial.headers.pop();
        assert!(
            partial
                .validate()
                .unwrap_err()
                .what
                .contains("multiple of 4")
        );
        b.records[0] |= 1 << 9;
        assert_eq!(
            b.validate().unwrap_err().to_string(),
            "record 0: unknown flag bits 0x200"
        );
    }
}
