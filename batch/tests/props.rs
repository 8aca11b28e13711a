//! Property tests of the one batch validator (issue 11, item 15): on any
//! input, `validate` does not panic, every error names the record and the
//! field, and a batch it accepts can be read and copied without surprises:
//! what copying its records allocates is what it counted against the caps.
//!
//! `cargo test` runs 256 cases per property. A long run:
//!
//! ```text
//! PROPTEST_CASES=200000 cargo test -p sluice-batch --release --test props
//! ```
//!
//! (`tests/alloc.rs` checks that validation itself allocates nothing.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod strategies;

use proptest::prelude::*;
use sluice_batch::{Batch, Caps, Field, OwnedRecord, Problem};

/// Bytes a record's owned copy holds: key, value, topic, header names and values.
fn owned_bytes(r: &OwnedRecord) -> u64 {
    let len = |b: &Option<Vec<u8>>| b.as_ref().map_or(0, |b| b.len() as u64);
    len(&r.key)
        + len(&r.value)
        + r.topic.as_ref().map_or(0, |t| t.len() as u64)
        + r.headers
            .iter()
            .map(|(n, v)| n.len() as u64 + len(v))
            .sum::<u64>()
}

proptest! {
    #[test]
    fn errors_name_the_record_and_the_field(batch in strategies::batch(), caps in strategies::caps()) {
        let Err(e) = batch.validate_within(&caps) else { return Ok(()) };
        let text = e.to_string();
        prop_assert!(text.starts_with(&format!("record {}: ", e.record)), "{}", text);
        prop_assert!(!e.field.name().is_empty());
        match e.field {
            Field::Records => prop_assert!(e.record <= batch.len()),
            Field::HeaderName(h) | Field::HeaderValue(h) => {
                prop_assert!(h < batch.header_count(), "{}", text);
                prop_assert!(text.contains(&format!("header {h} ")), "{}", text);
                prop_assert!(e.record <= batch.len());
            }
            Field::Key | Field::Value | Field::Topic | Field::Flags | Field::Headers => {
                prop_assert!(e.record < batch.len(), "{}", text);
                if !matches!(e.problem, Problem::OverByteCap { .. }) {
                    let word = match e.field {
                        Field::Flags => "flag",
                        other => other.name(),
                    };
                    prop_assert!(text.contains(word), "{}", text);
                }
            }
            Field::Bytes => prop_assert!(e.record <= batch.len()),
            Field::RecordWords | Field::HeaderWords | Field::Arena => {
                prop_assert_eq!(e.record, batch.len());
            }
        }
    }

    #[test]
    fn an_accepted_batch_reads_and_copies_within_its_caps(batch in strategies::batch(), caps in strategies::caps()) {
        let Ok(size) = batch.validate_within(&caps) else { return Ok(()) };
        prop_assert!(batch.validate().is_ok(), "the caps only add checks");
        prop_assert!(batch.len() <= caps.max_records);
        prop_assert!(size.held() <= caps.max_bytes);
        let owned: Vec<OwnedRecord> = batch.iter().map(|r| OwnedRecord::from_ref(&r)).collect();
        if caps.max_bytes != u64::MAX {
            // What the host allocates to copy every record (dead letters,
            // owned records) is exactly what was counted against the cap.
            let copied: u64 = owned
                .iter()
                .map(|r| owned_bytes(r) + 48 + 16 * r.headers.len() as u64)
                .sum();
            prop_assert_eq!(copied, size.referenced);
        }
        let mut copy = Batch::default();
        for r in batch.iter() {
            copy.push_ref(&r).unwrap();
        }
        prop_assert!(copy.validate().is_ok());
        let again: Vec<OwnedRecord> = copy.iter().map(|r| OwnedRecord::from_ref(&r)).collect();
        prop_assert_eq!(again, owned);
    }

    #[test]
    fn records_built_from_fields_are_always_valid(records in proptest::collection::vec(strategies::record(), 0..8)) {
        let mut batch = Batch::default();
        for r in &records {
            batch.push_owned(r).unwrap();
        }
        prop_assert!(batch.validate().is_ok());
        let back: Vec<OwnedRecord> = batch.iter().map(|r| OwnedRecord::from_ref(&r)).collect();
        prop_assert_eq!(back, records);
    }

    #[test]
    fn no_caps_is_the_layout_check(batch in strategies::batch()) {
        prop_assert_eq!(batch.validate().is_ok(), batch.validate_within(&Caps::NONE).is_ok());
    }
}
