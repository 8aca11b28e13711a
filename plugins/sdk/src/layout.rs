//! The word layout of a batch's entries, as `wit/types.wit` defines it: the
//! one encoder and decoder of that layout, shared by the plugin SDK and the
//! host (which includes this file), so the two sides cannot drift apart.
//!
//! Only `core`: no dependency, nothing specific to either side.

/// Words per record entry in a batch's `records` list.
pub const RECORD_WORDS: usize = 12;
/// Words per header entry in a batch's `headers` list.
pub const HEADER_WORDS: usize = 4;

/// Presence bits of word 0 of a record entry.
pub mod flag {
    /// The record has a key (words 1, 2).
    pub const KEY: u32 = 1;
    /// The record has a value (words 3, 4); without it, a tombstone.
    pub const VALUE: u32 = 1 << 1;
    /// The record has a timestamp (words 7, 8).
    pub const TIMESTAMP: u32 = 1 << 2;
    /// The record overrides the sink topic (words 9, 10).
    pub const TOPIC: u32 = 1 << 3;
    /// The record overrides the partition (word 11).
    pub const PARTITION: u32 = 1 << 4;
    /// Every bit the contract defines; any other bit makes a batch malformed.
    pub const ALL: u32 = KEY | VALUE | TIMESTAMP | TOPIC | PARTITION;
}

/// A byte range inside a batch's arena: `arena[offset .. offset + len]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Index of the first byte in the arena.
    pub offset: u32,
    /// Number of bytes.
    pub len: u32,
}

impl Span {
    /// The span as a range of arena indices.
    #[inline]
    pub fn range(self) -> core::ops::Range<usize> {
        self.offset as usize..self.offset as usize + self.len as usize
    }
}

/// One Kafka record header, as two spans (a decoded header entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// Header name, UTF-8.
    pub name: Span,
    /// Header value bytes.
    pub value: Span,
}

/// One Kafka record as spans into its batch's arena (a decoded record entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KafkaRecord {
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

impl Header {
    /// Reads a header entry (4 words).
    #[inline]
    pub fn decode(w: &[u32; HEADER_WORDS]) -> Header {
        Header {
            name: Span {
                offset: w[0],
                len: w[1],
            },
            value: Span {
                offset: w[2],
                len: w[3],
            },
        }
    }

    /// The header entry's words.
    #[inline]
    pub fn encode(&self) -> [u32; HEADER_WORDS] {
        [
            self.name.offset,
            self.name.len,
            self.value.offset,
            self.value.len,
        ]
    }
}

impl KafkaRecord {
    /// Reads a record entry ([`RECORD_WORDS`] words). Unknown flag bits are
    /// ignored here; batch validation refuses them.
    #[inline]
    pub fn decode(words: &[u32; RECORD_WORDS]) -> KafkaRecord {
        let w = |i: usize| words[i];
        let flags = w(0);
        let has = |bit: u32| flags & bit != 0;
        let span = |bit: u32, i: usize| {
            has(bit).then(|| Span {
                offset: w(i),
                len: w(i + 1),
            })
        };
        KafkaRecord {
            key: span(flag::KEY, 1),
            value: span(flag::VALUE, 3),
            headers_start: w(5),
            headers_len: w(6),
            timestamp_ms: has(flag::TIMESTAMP)
                .then(|| ((u64::from(w(8)) << 32) | u64::from(w(7))) as i64),
            topic: span(flag::TOPIC, 9),
            partition: has(flag::PARTITION).then(|| w(11) as i32),
        }
    }

    /// The record entry's words.
    #[inline]
    pub fn encode(&self) -> [u32; RECORD_WORDS] {
        let mut flags = 0;
        let mut span = |s: Option<Span>, bit: u32| match s {
            Some(s) => {
                flags |= bit;
                (s.offset, s.len)
            }
            None => (0, 0),
        };
        let key = span(self.key, flag::KEY);
        let value = span(self.value, flag::VALUE);
        let topic = span(self.topic, flag::TOPIC);
        let timestamp = match self.timestamp_ms {
            Some(t) => {
                flags |= flag::TIMESTAMP;
                t as u64
            }
            None => 0,
        };
        let partition = match self.partition {
            Some(p) => {
                flags |= flag::PARTITION;
                p as u32
            }
            None => 0,
        };
        [
            flags,
            key.0,
            key.1,
            value.0,
            value.1,
            self.headers_start,
            self.headers_len,
            timestamp as u32,
            (timestamp >> 32) as u32,
            topic.0,
            topic.1,
            partition,
        ]
    }
}
