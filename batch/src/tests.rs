//! Unit tests of the builders, views and validator together.

#![allow(clippy::unwrap_used)]

use crate::*;

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
    b.push().value(b"").header("empty", b"").null_header("gone");
    b.try_finish().unwrap()
}

fn shown(batch: &Batch) -> Vec<String> {
    batch.records().unwrap().map(|r| format!("{r:?}")).collect()
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
    assert_eq!(
        headers,
        vec![("h1", Some(&b"a"[..])), ("h1", Some(&b"b"[..]))]
    );
    assert_eq!(r.last_header("h1"), Some(Some(&b"b"[..])));
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
    assert_eq!(
        r.headers().collect::<Vec<_>>(),
        vec![("empty", Some(&b""[..])), ("gone", None)],
        "an empty header value is not a null one"
    );
}

#[test]
fn push_ref_copies_exactly() {
    let input = sample();
    let mut out = BatchBuilder::new();
    let mut host = Batch::default();
    for r in input.records().unwrap() {
        out.push_ref(&r);
        host.push_ref(&r).unwrap();
    }
    let output = out.try_finish().unwrap();
    assert_eq!(shown(&input), shown(&output));
    assert_eq!(output, host, "both front ends write the same words");
    assert_eq!(output, input, "a builder's batch copies byte for byte");
}

#[test]
fn push_ref_copies_scattered_and_shared_spans() {
    // Fields far apart (field by field) and two spans sharing bytes.
    let mut arena = vec![b'.'; 300];
    arena[0..3].copy_from_slice(b"key");
    arena[200..205].copy_from_slice(b"value");
    arena[290..292].copy_from_slice(b"hv");
    let span = |offset, len| Span { offset, len };
    let batch = Batch::from_entries(
        arena,
        &[HeaderEntry {
            name: span(1, 2),
            value: Some(span(290, 2)),
        }],
        &[
            RecordEntry {
                key: Some(span(0, 3)),
                value: Some(span(200, 5)),
                headers_start: 0,
                headers_len: 1,
                topic: Some(span(0, 3)),
                ..RecordEntry::default()
            },
            RecordEntry {
                value: Some(span(201, 3)),
                ..RecordEntry::default()
            },
        ],
    );
    let mut out = BatchBuilder::new();
    for r in batch.records().unwrap() {
        out.push_ref(&r);
    }
    let output = out.try_finish().unwrap();
    assert!(
        output.arena.len() < 20,
        "gaps are not copied: {}",
        output.arena.len()
    );
    assert_eq!(shown(&batch), shown(&output));
}

#[test]
fn push_ref_of_an_unvalidated_record_still_gives_a_valid_batch() {
    let mut bad = Batch::default();
    bad.push(Some(b"k"), Some(b"v"), &[]).unwrap();
    let mut e = bad.entry(0).unwrap();
    e.value = Some(Span {
        offset: 0,
        len: 999,
    });
    bad.set_entry(0, e);
    let mut copy = Batch::default();
    copy.push_ref(&bad.get(0).unwrap()).unwrap();
    copy.validate().unwrap();
    assert_eq!(copy.get(0).unwrap().value(), Some(&b""[..]));
}

#[test]
fn push_ref_then_edit() {
    let input = sample();
    let first = input.records().unwrap().next().unwrap();
    let mut out = BatchBuilder::new();
    out.push_ref(&first).key(b"new").header("added", b"x");
    out.push_ref(&first)
        .clear_key()
        .clear_topic()
        .clear_partition();
    let output = out.try_finish().unwrap();
    let recs: Vec<_> = output.records().unwrap().collect();
    assert_eq!(recs[0].key(), Some(&b"new"[..]));
    assert_eq!(recs[0].headers().len(), 3);
    assert_eq!(recs[0].last_header("added"), Some(Some(&b"x"[..])));
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
    let batch = out.try_finish().unwrap();
    let recs: Vec<_> = batch.records().unwrap().collect();
    assert_eq!(recs[0].value(), Some(&br#"{"n":7}"#[..]));
    assert_eq!(recs[1].value(), Some(&b"old"[..]), "value left as it was");
}

#[test]
fn rollback_drops_partial_output() {
    let mut out = BatchBuilder::new();
    out.push().value(b"keep").header("h", b"1");
    let mark = out.mark();
    out.push().value(b"drop").header("h", b"2");
    out.push().value(b"drop too");
    assert_eq!(mark.records(), 1);
    out.rollback(mark);
    out.push().value(b"after").header("h", b"3");
    let batch = out.try_finish().unwrap();
    let recs: Vec<_> = batch.records().unwrap().collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].value(), Some(&b"after"[..]));
    assert_eq!(
        recs[1].headers().collect::<Vec<_>>(),
        vec![("h", Some(&b"3"[..]))]
    );
    assert_eq!(batch.header_count(), 2);
}

#[test]
fn owned_records_round_trip_every_field() {
    let mut b = Batch::default();
    let owned = OwnedRecord {
        key: Some(b"k".to_vec()),
        value: None,
        headers: vec![
            ("a".into(), Some(b"1".to_vec())),
            ("a".into(), None),
            ("b".into(), Some(Vec::new())),
        ],
        timestamp_ms: Some(-1_234_567_890_123),
        topic: Some("t".into()),
        partition: Some(-1),
    };
    b.push_owned(&owned).unwrap();
    b.push(None, Some(b""), &[]).unwrap();
    b.validate().unwrap();
    assert_eq!(b.records[0], 0b11101, "key, timestamp, topic, partition");
    assert_eq!(b.to_owned_record(0), Some(owned));
    let mut copy = Batch::default();
    for r in b.iter() {
        copy.push_ref(&r).unwrap();
    }
    assert_eq!(copy, b);
}

#[test]
fn the_byte_cap_counts_what_records_reference() {
    // One 1000-byte value shared by 100 records: 1 KB crossed, 100 KB referenced.
    let arena = vec![b'x'; 1000];
    let shared = RecordEntry {
        value: Some(Span {
            offset: 0,
            len: 1000,
        }),
        ..RecordEntry::default()
    };
    let batch = Batch::from_entries(arena, &[], &[shared; 100]);
    let size = batch
        .validate_within(&Caps {
            max_records: 100,
            max_bytes: 1 << 20,
        })
        .unwrap();
    assert_eq!(size.returned, 1000 + 100 * 48);
    assert_eq!(size.referenced, 100 * (1000 + 48));
    assert_eq!(size.held(), size.referenced);
    let copied: u64 = batch.iter().map(|r| r.byte_len() + 48).sum();
    assert_eq!(copied, size.referenced);

    let err = batch
        .validate_within(&Caps {
            max_records: 100,
            max_bytes: 50_000,
        })
        .unwrap_err();
    assert_eq!((err.record, err.field), (47, Field::Bytes));
    assert!(
        matches!(
            err.problem,
            Problem::OverByteCap {
                referenced: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("record 47: the records up to here reference")
    );
}

#[test]
fn header_entries_referenced_many_times_count_each_time() {
    let mut b = BatchBuilder::new();
    b.push().header("h", &[b'v'; 100]);
    let mut batch = b.try_finish().unwrap();
    let entry = batch.entry(0).unwrap();
    for _ in 0..9 {
        batch.records.extend_from_slice(&entry.encode());
    }
    let size = batch.validate_within(&Caps {
        max_records: 10,
        max_bytes: 10_000,
    });
    assert_eq!(size.unwrap().referenced, 10 * (48 + 16 + 1 + 100));
}

#[test]
fn the_record_cap_is_checked_before_anything_else_per_record() {
    let mut batch = Batch::default();
    for _ in 0..3 {
        batch.push(None, Some(b"v"), &[]).unwrap();
    }
    batch.records[RECORD_WORDS * 2] |= 1 << 9; // also malformed, later
    let err = batch
        .validate_within(&Caps {
            max_records: 2,
            max_bytes: u64::MAX,
        })
        .unwrap_err();
    assert_eq!((err.record, err.field), (2, Field::Records));
    assert_eq!(err.to_string(), "record 2: 3 records exceed the limit of 2");
}

#[test]
fn errors_name_the_record_and_the_field() {
    let edited = |index: usize, edit: &dyn Fn(&mut RecordEntry)| {
        let mut batch = sample();
        let mut entry = batch.entry(index).unwrap();
        edit(&mut entry);
        batch.set_entry(index, entry);
        batch.validate().unwrap_err()
    };
    let err = edited(0, &|r| {
        r.value = Some(Span {
            offset: 1,
            len: u32::MAX,
        })
    });
    assert_eq!((err.record, err.field), (0, Field::Value));
    assert_eq!(
        err.to_string(),
        "record 0: value span 1..4294967296 exceeds the arena of 24 bytes"
    );
    let err = edited(2, &|r| r.headers_len = 99);
    assert_eq!((err.record, err.field), (2, Field::Headers));
    assert_eq!(
        err.to_string(),
        "record 2: headers 2+99 exceed the 4 headers of the batch"
    );
    let err = edited(1, &|r| {
        r.headers_start = u32::MAX;
        r.headers_len = u32::MAX;
    });
    assert_eq!(err.field, Field::Headers, "no overflow");

    let mut batch = sample();
    let name = batch.header_entries().next().unwrap().name;
    batch.arena[name.offset as usize] = 0xff;
    let err = batch.validate().unwrap_err();
    assert_eq!((err.record, err.field), (0, Field::HeaderName(0)));
    assert_eq!(err.to_string(), "record 0: header 0 name is not UTF-8");

    let mut batch = sample();
    batch.headers[HEADER_WORDS * 3 + 2] = 5; // null value with an offset
    let err = batch.validate().unwrap_err();
    assert_eq!((err.record, err.field), (2, Field::HeaderValue(3)));

    let mut batch = sample();
    batch.records.pop();
    let err = batch.validate().unwrap_err();
    assert_eq!((err.record, err.field), (2, Field::RecordWords));
    assert_eq!(
        err.to_string(),
        "record 2: the record list holds 35 words, not a multiple of 12"
    );

    let mut batch = sample();
    batch.headers.push(0);
    assert_eq!(batch.validate().unwrap_err().field, Field::HeaderWords);

    let mut batch = sample();
    batch.records[RECORD_WORDS] |= 1 << 7;
    let err = batch.validate().unwrap_err();
    assert_eq!(err.to_string(), "record 1: unknown flag bits 0x80");
}

#[test]
fn a_bad_header_no_record_uses_is_refused_too() {
    let mut batch = sample();
    batch.headers.extend_from_slice(
        &HeaderEntry {
            name: Span { offset: 0, len: 99 },
            value: None,
        }
        .encode(),
    );
    let err = batch.validate().unwrap_err();
    assert_eq!((err.record, err.field), (3, Field::HeaderName(4)));
}

#[test]
fn a_full_builder_refuses_the_record_and_says_so() {
    let mut b = BatchBuilder::new();
    b.push().value(b"fits");
    // Pretend the arena is almost full: a record that would pass the limit
    // is refused, and the builder reports it instead of truncating offsets.
    let mut nearly = Batch::default();
    nearly.push(None, Some(b"x"), &[]).unwrap();
    assert_eq!(
        nearly.room(MAX_ARENA_BYTES as u64, 0),
        Err(BatchFull::Arena),
        "one more byte than offsets address"
    );
    assert!(b.full().is_none());
    assert!(b.try_finish().is_ok());
}

#[test]
fn an_empty_batch_is_valid() {
    let batch = BatchBuilder::new().try_finish().unwrap();
    assert!(batch.is_empty());
    assert_eq!(batch.records().unwrap().count(), 0);
    assert_eq!(
        batch.validate_within(&Caps {
            max_records: 0,
            max_bytes: 0
        }),
        Ok(Size::default())
    );
}
