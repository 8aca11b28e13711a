//! Generated batches for the property tests: raw word soup, and valid batches
//! with a few words or bytes changed, so that validation is exercised both at
//! its first checks and deep inside records and headers.

#![allow(dead_code)]

use proptest::collection::vec;
use proptest::prelude::*;
use sluice_batch::{Batch, Caps, NULL_VALUE_LEN, OwnedRecord};

/// A word: mostly small (offsets and lengths that may fit), sometimes at the
/// edges of `u32` (overflow, the null-value length) or anything.
pub fn word() -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => 0u32..40,
        1 => Just(NULL_VALUE_LEN),
        1 => Just(u32::MAX - 1),
        1 => any::<u32>(),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..8)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z]{0,4}", "\\PC{0,3}"]
}

/// A record with any combination of fields, null header values included.
pub fn record() -> impl Strategy<Value = OwnedRecord> {
    (
        proptest::option::of(bytes()),
        proptest::option::of(bytes()),
        vec((text(), proptest::option::of(bytes())), 0..3),
        proptest::option::of(any::<i64>()),
        proptest::option::of(text()),
        proptest::option::of(any::<i32>()),
    )
        .prop_map(
            |(key, value, headers, timestamp_ms, topic, partition)| OwnedRecord {
                key,
                value,
                headers,
                timestamp_ms,
                topic,
                partition,
            },
        )
}

/// Words and bytes with no structure at all.
fn soup() -> impl Strategy<Value = Batch> {
    (
        vec(any::<u8>(), 0..48),
        vec(word(), 0..50),
        vec(word(), 0..20),
    )
        .prop_map(|(arena, records, headers)| Batch {
            arena,
            records,
            headers,
        })
}

/// A valid batch, then up to three words and two arena bytes changed, and
/// sometimes a word dropped from or added to a list.
fn mutated() -> impl Strategy<Value = Batch> {
    (
        vec(record(), 0..6),
        vec((any::<bool>(), any::<usize>(), word()), 0..4),
        vec((any::<usize>(), any::<u8>()), 0..3),
        prop_oneof![4 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)],
    )
        .prop_map(|(records, words, arena_bytes, resize)| {
            let mut b = Batch::default();
            for r in &records {
                b.push_owned(r).expect("small records fit");
            }
            for (in_records, at, w) in words {
                let list = if in_records {
                    &mut b.records
                } else {
                    &mut b.headers
                };
                if !list.is_empty() {
                    let i = at % list.len();
                    list[i] = w;
                }
            }
            for (at, byte) in arena_bytes {
                if !b.arena.is_empty() {
                    let i = at % b.arena.len();
                    b.arena[i] = byte;
                }
            }
            match resize {
                -1 => {
                    b.records.pop();
                }
                1 => b.headers.push(0),
                _ => {}
            }
            b
        })
}

/// Any batch: mostly almost-valid ones.
pub fn batch() -> impl Strategy<Value = Batch> {
    prop_oneof![1 => soup(), 3 => mutated()]
}

/// Caps, from none to very tight.
pub fn caps() -> impl Strategy<Value = Caps> {
    (
        prop_oneof![Just(usize::MAX), 0usize..8],
        prop_oneof![Just(u64::MAX), 0u64..2000],
    )
        .prop_map(|(max_records, max_bytes)| Caps {
            max_records,
            max_bytes,
        })
}
