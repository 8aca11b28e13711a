//! The one batch validator: the rules every reader relies on, and the caps
//! that bound what a batch makes its receiver hold.
//!
//! The rules, checked in this order (the first broken one is reported, so
//! every language's helper reports the same error for the same batch):
//!
//! 1. the record list holds whole entries of [`RECORD_WORDS`] words and the
//!    header list whole entries of [`HEADER_WORDS`] words;
//! 2. the arena is shorter than [`MAX_ARENA_BYTES`] and both lists hold at
//!    most `u32::MAX` entries, so every offset, length and index fits a word;
//! 3. (caps) at most [`Caps::max_records`] records, and at most
//!    [`Caps::max_bytes`] bytes returned (arena plus word lists);
//! 4. for each record in order: no flag bit outside [`flag::ALL`]; key,
//!    value and topic spans inside the arena; the topic UTF-8; its header
//!    range inside the header list; (caps) the bytes referenced so far at
//!    most [`Caps::max_bytes`];
//! 5. for each header entry in order (whether a record uses it or not): the
//!    name span inside the arena and UTF-8; the value span inside the arena,
//!    or null with its offset word 0.
//!
//! Validation allocates nothing and visits each record and header entry once,
//! plus each record's header range while bytes are counted (bounded by the
//! byte cap, since every header entry a record references counts 16 bytes).
//! (The error types, with their wording, are most of this file: they live
//! beside the one function that produces them.)

use std::fmt;

use crate::Batch;
use crate::entry::{HeaderEntry, RecordEntry, Span};
use crate::layout::{HEADER_WORDS, NULL_VALUE_LEN, RECORD_WORDS, flag, header_word};

/// The longest arena a batch may have: 2^32 − 2 bytes, so that every span
/// fits in `u32` words and no real span has the null-value length.
pub const MAX_ARENA_BYTES: usize = NULL_VALUE_LEN as usize - 1;

/// Bytes counted for each record entry a batch holds or references.
pub const RECORD_ENTRY_BYTES: u64 = (RECORD_WORDS * 4) as u64;

/// Bytes counted for each header entry a batch holds or references.
pub const HEADER_ENTRY_BYTES: u64 = (HEADER_WORDS * 4) as u64;

/// Limits a batch is checked against: what its receiver agrees to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Most records.
    pub max_records: usize,
    /// Most bytes, counted as [`Size::held`] does.
    pub max_bytes: u64,
}

impl Caps {
    /// No caps: only the layout's rules are checked.
    pub const NONE: Caps = Caps {
        max_records: usize::MAX,
        max_bytes: u64::MAX,
    };
}

impl Default for Caps {
    fn default() -> Self {
        Caps::NONE
    }
}

/// The bytes a valid batch makes its receiver hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    /// Records.
    pub records: usize,
    /// The arena plus both word lists, as the batch crossed.
    pub returned: u64,
    /// What copying every record on its own takes: each record's key, value,
    /// topic, header names and values, plus [`RECORD_ENTRY_BYTES`] per
    /// record and [`HEADER_ENTRY_BYTES`] per header it references. Spans
    /// that records share, or that overlap, count once per record. Counted
    /// only under a byte cap (0 otherwise).
    pub referenced: u64,
}

impl Size {
    /// What the caps count: the larger of what crossed and what the records
    /// reference.
    pub fn held(&self) -> u64 {
        self.returned.max(self.referenced)
    }
}

/// Which part of a batch an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The record list as a whole.
    RecordWords,
    /// The header list as a whole.
    HeaderWords,
    /// The arena as a whole.
    Arena,
    /// A record's presence flags.
    Flags,
    /// A record's key.
    Key,
    /// A record's value.
    Value,
    /// A record's topic override.
    Topic,
    /// A record's header range.
    Headers,
    /// The name of header entry `n` (an index into the batch's headers).
    HeaderName(usize),
    /// The value of header entry `n`.
    HeaderValue(usize),
    /// The number of records (a cap).
    Records,
    /// The bytes the batch makes its receiver hold (a cap).
    Bytes,
}

impl Field {
    /// The field's name in the shared golden vectors (`batch/vectors/`).
    pub fn name(&self) -> &'static str {
        match self {
            Field::RecordWords => "record-words",
            Field::HeaderWords => "header-words",
            Field::Arena => "arena",
            Field::Flags => "flags",
            Field::Key => "key",
            Field::Value => "value",
            Field::Topic => "topic",
            Field::Headers => "headers",
            Field::HeaderName(_) => "header-name",
            Field::HeaderValue(_) => "header-value",
            Field::Records => "records",
            Field::Bytes => "bytes",
        }
    }

    /// The header entry the field belongs to, if any.
    pub fn header(&self) -> Option<usize> {
        match self {
            Field::HeaderName(n) | Field::HeaderValue(n) => Some(*n),
            _ => None,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::RecordWords => f.write_str("the record list"),
            Field::HeaderWords => f.write_str("the header list"),
            Field::Arena => f.write_str("the arena"),
            Field::Flags => f.write_str("flags"),
            Field::Key => f.write_str("key"),
            Field::Value => f.write_str("value"),
            Field::Topic => f.write_str("topic"),
            Field::Headers => f.write_str("headers"),
            Field::HeaderName(n) => write!(f, "header {n} name"),
            Field::HeaderValue(n) => write!(f, "header {n} value"),
            Field::Records => f.write_str("the record count"),
            Field::Bytes => f.write_str("the output size"),
        }
    }
}

/// What is wrong with the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The list does not hold a whole number of entries.
    PartialEntry {
        /// Words in the list.
        words: usize,
        /// Words per entry.
        per_entry: usize,
    },
    /// Longer than `u32` words can address.
    TooLong {
        /// Its length (bytes or entries).
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// Bits outside [`flag::ALL`] are set.
    UnknownFlags(u32),
    /// The span does not lie inside the arena.
    OutsideArena {
        /// The span.
        span: Span,
        /// The arena's length.
        arena: usize,
    },
    /// Text that is not UTF-8.
    NotUtf8,
    /// The header range does not lie inside the header list.
    OutsideHeaders {
        /// First header.
        start: u32,
        /// Number of headers.
        len: u32,
        /// Headers in the batch.
        count: usize,
    },
    /// A null header value whose offset word is not 0.
    NullWithOffset(u32),
    /// More records than the cap.
    OverRecordCap {
        /// Records in the batch.
        records: usize,
        /// The cap.
        max: usize,
    },
    /// More bytes than the cap.
    OverByteCap {
        /// Bytes counted when the cap was passed (at least this many).
        bytes: u64,
        /// The cap.
        max: u64,
        /// True when what the records reference passed the cap (records
        /// sharing or overlapping spans), false when what crossed did.
        referenced: bool,
    },
}

/// Why a batch is refused: the record at fault (the record count when no
/// single record is), the field and the problem. Always a bug, or hostility,
/// in whoever built the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchError {
    /// Index of the offending record, or the record count when the error is
    /// about the batch as a whole or a header entry no record uses.
    pub record: usize,
    /// Which field.
    pub field: Field,
    /// What is wrong with it.
    pub problem: Problem,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}: ", self.record)?;
        let field = self.field;
        match self.problem {
            Problem::PartialEntry { words, per_entry } => {
                write!(
                    f,
                    "{field} holds {words} words, not a multiple of {per_entry}"
                )
            }
            Problem::TooLong { len, max } => {
                write!(
                    f,
                    "{field} holds {len} entries or bytes, more than the {max} a u32 word can address"
                )
            }
            Problem::UnknownFlags(bits) => write!(f, "unknown flag bits {bits:#x}"),
            Problem::OutsideArena { span, arena } => write!(
                f,
                "{field} span {}..{} exceeds the arena of {arena} bytes",
                span.offset,
                span.end()
            ),
            Problem::NotUtf8 => write!(f, "{field} is not UTF-8"),
            Problem::OutsideHeaders { start, len, count } => write!(
                f,
                "headers {start}+{len} exceed the {count} headers of the batch"
            ),
            Problem::NullWithOffset(offset) => write!(
                f,
                "{field} is null (length word {NULL_VALUE_LEN:#x}) but its offset word is {offset}, not 0"
            ),
            Problem::OverRecordCap { records, max } => {
                write!(f, "{records} records exceed the limit of {max}")
            }
            Problem::OverByteCap {
                bytes,
                max,
                referenced,
            } => {
                if referenced {
                    write!(
                        f,
                        "the records up to here reference {bytes} bytes (shared or overlapping spans count once per record), more than the limit of {max}"
                    )
                } else {
                    write!(f, "{bytes} bytes exceed the limit of {max}")
                }
            }
        }
    }
}

impl std::error::Error for BatchError {}

/// UTF-8 check with an ASCII fast path (header names are short ASCII).
#[inline]
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

impl Batch {
    /// Checks the layout's rules (see [`crate::validate`](self)); after this,
    /// views and copies of the batch never fail.
    pub fn validate(&self) -> Result<(), BatchError> {
        self.validate_within(&Caps::NONE).map(|_| ())
    }

    /// Checks the layout's rules and `caps`, and returns the batch's size.
    pub fn validate_within(&self, caps: &Caps) -> Result<Size, BatchError> {
        let records = self.len();
        let err = |record, field, problem| {
            Err(BatchError {
                record,
                field,
                problem,
            })
        };
        // 1. whole entries
        if !self.records.len().is_multiple_of(RECORD_WORDS) {
            let problem = Problem::PartialEntry {
                words: self.records.len(),
                per_entry: RECORD_WORDS,
            };
            return err(records, Field::RecordWords, problem);
        }
        if !self.headers.len().is_multiple_of(HEADER_WORDS) {
            let problem = Problem::PartialEntry {
                words: self.headers.len(),
                per_entry: HEADER_WORDS,
            };
            return err(records, Field::HeaderWords, problem);
        }
        // 2. everything fits in u32 words
        let header_count = self.header_count();
        let arena = self.arena.len();
        let too_long = |len: usize, max: usize| Problem::TooLong { len, max };
        if arena > MAX_ARENA_BYTES {
            return err(records, Field::Arena, too_long(arena, MAX_ARENA_BYTES));
        }
        let max_entries = u32::MAX as usize;
        if records > max_entries {
            return err(records, Field::RecordWords, too_long(records, max_entries));
        }
        if header_count > max_entries {
            let problem = too_long(header_count, max_entries);
            return err(records, Field::HeaderWords, problem);
        }
        // 3. what crossed, against the caps
        if records > caps.max_records {
            let problem = Problem::OverRecordCap {
                records,
                max: caps.max_records,
            };
            return err(caps.max_records, Field::Records, problem);
        }
        let returned = arena as u64 + 4 * (self.records.len() + self.headers.len()) as u64;
        if returned > caps.max_bytes {
            let problem = Problem::OverByteCap {
                bytes: returned,
                max: caps.max_bytes,
                referenced: false,
            };
            return err(records, Field::Bytes, problem);
        }
        // 4. each record, and what it references
        let count_bytes = caps.max_bytes != u64::MAX;
        let mut referenced = 0u64;
        let header_words = self.headers.as_chunks::<HEADER_WORDS>().0;
        for (index, words) in self
            .records
            .as_chunks::<RECORD_WORDS>()
            .0
            .iter()
            .enumerate()
        {
            let unknown = words[0] & !flag::ALL;
            if unknown != 0 {
                return err(index, Field::Flags, Problem::UnknownFlags(unknown));
            }
            let entry = RecordEntry::decode(words);
            for (field, span) in [
                (Field::Key, entry.key),
                (Field::Value, entry.value),
                (Field::Topic, entry.topic),
            ] {
                if let Some(span) = span
                    && !span.fits(arena)
                {
                    return err(index, field, Problem::OutsideArena { span, arena });
                }
            }
            if let Some(topic) = entry.topic
                && !is_utf8(topic.of(&self.arena))
            {
                return err(index, Field::Topic, Problem::NotUtf8);
            }
            let start = entry.headers_start as usize;
            let end = u64::from(entry.headers_start) + u64::from(entry.headers_len);
            if end > header_count as u64 {
                let problem = Problem::OutsideHeaders {
                    start: entry.headers_start,
                    len: entry.headers_len,
                    count: header_count,
                };
                return err(index, Field::Headers, problem);
            }
            if count_bytes {
                let len = |s: Option<Span>| s.map_or(0, |s| u64::from(s.len));
                referenced = referenced
                    .saturating_add(RECORD_ENTRY_BYTES)
                    .saturating_add(len(entry.key))
                    .saturating_add(len(entry.value))
                    .saturating_add(len(entry.topic));
                for h in &header_words[start..end as usize] {
                    if referenced > caps.max_bytes {
                        break;
                    }
                    let value_len = match h[header_word::VALUE_LEN] {
                        NULL_VALUE_LEN => 0,
                        n => u64::from(n),
                    };
                    referenced = referenced
                        .saturating_add(HEADER_ENTRY_BYTES)
                        .saturating_add(u64::from(h[header_word::NAME_LEN]))
                        .saturating_add(value_len);
                }
                if referenced > caps.max_bytes {
                    let problem = Problem::OverByteCap {
                        bytes: referenced,
                        max: caps.max_bytes,
                        referenced: true,
                    };
                    return err(index, Field::Bytes, problem);
                }
            }
        }
        // 5. each header entry, once
        for (index, words) in header_words.iter().enumerate() {
            let h = HeaderEntry::decode(words);
            let problem = if !h.name.fits(arena) {
                Some((
                    Field::HeaderName(index),
                    Problem::OutsideArena {
                        span: h.name,
                        arena,
                    },
                ))
            } else if !is_utf8(h.name.of(&self.arena)) {
                Some((Field::HeaderName(index), Problem::NotUtf8))
            } else {
                match h.value {
                    Some(span) if !span.fits(arena) => Some((
                        Field::HeaderValue(index),
                        Problem::OutsideArena { span, arena },
                    )),
                    None if words[header_word::VALUE_OFFSET] != 0 => Some((
                        Field::HeaderValue(index),
                        Problem::NullWithOffset(words[header_word::VALUE_OFFSET]),
                    )),
                    _ => None,
                }
            };
            if let Some((field, problem)) = problem {
                return err(self.record_using_header(index), field, problem);
            }
        }
        Ok(Size {
            records,
            returned,
            referenced,
        })
    }

    /// The first record whose header range holds header entry `header`, or
    /// the record count when none does.
    fn record_using_header(&self, header: usize) -> usize {
        let header = header as u64;
        self.entries()
            .position(|e| {
                let start = u64::from(e.headers_start);
                start <= header && header < start + u64::from(e.headers_len)
            })
            .unwrap_or(self.len())
    }
}
