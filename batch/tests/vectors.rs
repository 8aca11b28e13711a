//! The shared golden vectors (`batch/vectors/batches.json`), which the
//! JavaScript, Python and Go helpers run too: each valid batch decodes to its
//! plain records and survives a round trip through the builders; each
//! invalid one is refused naming the same record, field and header entry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use sluice_batch::{Batch, OwnedRecord};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/batches.json");
    let text = std::fs::read_to_string(path).expect("batch/vectors/batches.json");
    serde_json::from_str(&text).expect("the vectors are JSON")
}

/// Bytes as the vectors write them: a string is UTF-8, `{"hex": …}` raw bytes.
fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Object(o) => {
            let hex = o["hex"].as_str().expect("hex");
            Some(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
                    .collect(),
            )
        }
        other => panic!("not bytes: {other}"),
    }
}

fn words(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("word list")
        .iter()
        .map(|w| u32::try_from(w.as_u64().expect("word")).expect("a u32 word"))
        .collect()
}

fn batch(v: &Value) -> Batch {
    Batch {
        arena: bytes(&v["arena"]).unwrap_or_default(),
        records: words(&v["records"]),
        headers: words(&v["headers"]),
    }
}

fn record(v: &Value) -> OwnedRecord {
    OwnedRecord {
        key: bytes(&v["key"]),
        value: bytes(&v["value"]),
        headers: v["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .map(|h| (h[0].as_str().expect("name").to_owned(), bytes(&h[1])))
            .collect(),
        timestamp_ms: v["timestamp"].as_i64(),
        topic: v["topic"].as_str().map(str::to_owned),
        partition: v["partition"]
            .as_i64()
            .map(|p| i32::try_from(p).expect("an s32")),
    }
}

#[test]
fn valid_batches_decode_to_their_records_and_round_trip() {
    let vectors = vectors();
    let cases = vectors["valid"].as_array().expect("valid cases");
    assert!(cases.len() >= 10, "{} valid cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let b = batch(&case["batch"]);
        b.validate()
            .unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        let want: Vec<OwnedRecord> = case["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(record)
            .collect();
        let got: Vec<OwnedRecord> = b.iter().map(|r| OwnedRecord::from_ref(&r)).collect();
        assert_eq!(got, want, "{name}: decoded");

        let mut built = Batch::default();
        let mut copied = Batch::default();
        for (r, view) in want.iter().zip(b.iter()) {
            built.push_owned(r).unwrap();
            copied.push_ref(&view).unwrap();
        }
        for (how, again) in [("push_owned", &built), ("push_ref", &copied)] {
            again.validate().unwrap();
            let back: Vec<OwnedRecord> = again.iter().map(|r| OwnedRecord::from_ref(&r)).collect();
            assert_eq!(back, want, "{name}: {how} round trip");
        }
    }
}

#[test]
fn invalid_batches_are_refused_naming_the_record_and_field() {
    let vectors = vectors();
    let cases = vectors["invalid"].as_array().expect("invalid cases");
    assert!(cases.len() >= 15, "{} invalid cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let want = &case["error"];
        let err = batch(&case["batch"])
            .validate()
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert_eq!(
            (
                err.record as u64,
                err.field.name(),
                err.field.header().map(|h| h as u64)
            ),
            (
                want["record"].as_u64().expect("record"),
                want["field"].as_str().expect("field"),
                want["header"].as_u64()
            ),
            "{name}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("record {}: ", err.record)),
            "{name}: {text}"
        );
    }
}
