//! One record entry or header entry, decoded: the only encoder and decoder of
//! the words [`crate::layout`] positions.

use crate::layout::{HEADER_WORDS, NULL_VALUE_LEN, RECORD_WORDS, flag, header_word, record_word};

/// A byte range inside a batch's arena: `arena[offset .. offset + len]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Index of the first byte in the arena.
    pub offset: u32,
    /// Number of bytes.
    pub len: u32,
}

impl Span {
    /// One past the last byte, without overflow.
    #[inline]
    pub fn end(self) -> u64 {
        u64::from(self.offset) + u64::from(self.len)
    }

    /// True when the span lies inside an arena of `arena_len` bytes.
    #[inline]
    pub fn fits(self, arena_len: usize) -> bool {
        self.end() <= arena_len as u64
    }

    /// The bytes of `arena` the span covers; empty when it does not fit
    /// (which [`crate::Batch::validate`] rules out).
    #[inline]
    pub fn of(self, arena: &[u8]) -> &[u8] {
        let start = self.offset as usize;
        start
            .checked_add(self.len as usize)
            .and_then(|end| arena.get(start..end))
            .unwrap_or_default()
    }
}

/// One header entry, decoded: a name and a value that may be null.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HeaderEntry {
    /// Header name, UTF-8.
    pub name: Span,
    /// Header value; `None` is a null value (Kafka allows one).
    pub value: Option<Span>,
}

impl HeaderEntry {
    /// Reads a header entry.
    #[inline]
    pub fn decode(w: &[u32; HEADER_WORDS]) -> HeaderEntry {
        let value_len = w[header_word::VALUE_LEN];
        HeaderEntry {
            name: Span {
                offset: w[header_word::NAME_OFFSET],
                len: w[header_word::NAME_LEN],
            },
            value: (value_len != NULL_VALUE_LEN).then_some(Span {
                offset: w[header_word::VALUE_OFFSET],
                len: value_len,
            }),
        }
    }

    /// The header entry's words.
    #[inline]
    pub fn encode(&self) -> [u32; HEADER_WORDS] {
        let mut w = [0; HEADER_WORDS];
        w[header_word::NAME_OFFSET] = self.name.offset;
        w[header_word::NAME_LEN] = self.name.len;
        match self.value {
            Some(v) => {
                w[header_word::VALUE_OFFSET] = v.offset;
                w[header_word::VALUE_LEN] = v.len;
            }
            None => w[header_word::VALUE_LEN] = NULL_VALUE_LEN,
        }
        w
    }
}

/// One record entry, decoded: spans into its batch's arena and the header
/// range, with every optional field as an `Option`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecordEntry {
    /// Record key; `None` is a null key.
    pub key: Option<Span>,
    /// Record value; `None` is a null value (a tombstone).
    pub value: Option<Span>,
    /// Index of this record's first header in the batch (in headers, not words).
    pub headers_start: u32,
    /// Number of headers, stored contiguously from `headers_start`.
    pub headers_len: u32,
    /// Milliseconds since the Unix epoch; `None` lets Kafka set it.
    pub timestamp_ms: Option<i64>,
    /// Overrides the pipeline's sink topic (UTF-8).
    pub topic: Option<Span>,
    /// Overrides the partitioner's choice.
    pub partition: Option<i32>,
}

impl RecordEntry {
    /// Reads a record entry. Unknown flag bits are ignored here;
    /// [`crate::Batch::validate`] refuses them.
    #[inline]
    pub fn decode(words: &[u32; RECORD_WORDS]) -> RecordEntry {
        let flags = words[record_word::FLAGS];
        let has = |bit: u32| flags & bit != 0;
        let span = |bit: u32, offset: usize, len: usize| {
            has(bit).then(|| Span {
                offset: words[offset],
                len: words[len],
            })
        };
        RecordEntry {
            key: span(flag::KEY, record_word::KEY_OFFSET, record_word::KEY_LEN),
            value: span(
                flag::VALUE,
                record_word::VALUE_OFFSET,
                record_word::VALUE_LEN,
            ),
            headers_start: words[record_word::HEADERS_START],
            headers_len: words[record_word::HEADERS_LEN],
            timestamp_ms: has(flag::TIMESTAMP).then(|| {
                let low = u64::from(words[record_word::TIMESTAMP_LOW]);
                let high = u64::from(words[record_word::TIMESTAMP_HIGH]);
                ((high << 32) | low) as i64
            }),
            topic: span(
                flag::TOPIC,
                record_word::TOPIC_OFFSET,
                record_word::TOPIC_LEN,
            ),
            partition: has(flag::PARTITION).then(|| words[record_word::PARTITION] as i32),
        }
    }

    /// The record entry's words; absent fields leave their words 0.
    #[inline]
    pub fn encode(&self) -> [u32; RECORD_WORDS] {
        let mut w = [0; RECORD_WORDS];
        let mut flags = 0;
        let mut span = |s: Option<Span>, bit: u32, offset: usize, len: usize| {
            if let Some(s) = s {
                flags |= bit;
                w[offset] = s.offset;
                w[len] = s.len;
            }
        };
        span(
            self.key,
            flag::KEY,
            record_word::KEY_OFFSET,
            record_word::KEY_LEN,
        );
        span(
            self.value,
            flag::VALUE,
            record_word::VALUE_OFFSET,
            record_word::VALUE_LEN,
        );
        span(
            self.topic,
            flag::TOPIC,
            record_word::TOPIC_OFFSET,
            record_word::TOPIC_LEN,
        );
        w[record_word::HEADERS_START] = self.headers_start;
        w[record_word::HEADERS_LEN] = self.headers_len;
        if let Some(t) = self.timestamp_ms {
            flags |= flag::TIMESTAMP;
            let t = t as u64;
            w[record_word::TIMESTAMP_LOW] = t as u32;
            w[record_word::TIMESTAMP_HIGH] = (t >> 32) as u32;
        }
        if let Some(p) = self.partition {
            flags |= flag::PARTITION;
            w[record_word::PARTITION] = p as u32;
        }
        w[record_word::FLAGS] = flags;
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_encode_and_decode_every_field() {
        let entry = RecordEntry {
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
        assert_eq!(RecordEntry::decode(&words), entry);
        assert_eq!(RecordEntry::default().encode(), [0; RECORD_WORDS]);
        assert_eq!(
            RecordEntry::decode(&[0; RECORD_WORDS]),
            RecordEntry::default()
        );
    }

    #[test]
    fn a_null_header_value_is_the_marker_length() {
        let null = HeaderEntry {
            name: Span { offset: 4, len: 2 },
            value: None,
        };
        assert_eq!(null.encode(), [4, 2, 0, NULL_VALUE_LEN]);
        assert_eq!(HeaderEntry::decode(&null.encode()), null);
        let empty = HeaderEntry {
            name: Span { offset: 4, len: 2 },
            value: Some(Span { offset: 6, len: 0 }),
        };
        assert_eq!(
            HeaderEntry::decode(&empty.encode()),
            empty,
            "empty is not null"
        );
    }

    #[test]
    fn spans_never_overflow() {
        let s = Span {
            offset: u32::MAX,
            len: u32::MAX,
        };
        assert!(!s.fits(u32::MAX as usize));
        assert_eq!(s.of(b"abc"), b"");
        assert_eq!(Span { offset: 1, len: 2 }.of(b"abc"), b"bc");
    }
}
