//! Replaces one top-level field of each JSON value with a fixed string.
//!
//! Configuration:
//!
//! - `field` (required): the top-level JSON key to mask.
//! - `replacement` (default `***`): the string put in its place.
//!
//! Per record:
//!
//! - null value (tombstone): passed through;
//! - value not a JSON object: rejected with `value is not a JSON object`;
//! - field missing: passed through byte for byte;
//! - field present: its value (whatever its type) becomes the replacement
//!   string, and the object is written compact with its keys in their original
//!   order, integers as integers (serde_json). A value already written that
//!   way (the usual case) is not re-serialized: the replacement is spliced in
//!   place of the field's value, which gives the same bytes (see `masking`).
//!   The JavaScript, Python and Go examples write the same JSON value with
//!   their own JSON libraries, not always the same bytes.
//!
//! Key, headers, timestamp and overrides are kept.

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

mod masking;

use masking::{Masked, Masker};

/// The mask transform.
pub struct Mask {
    masker: Masker,
}

impl Transform for Mask {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        let field = config.required_str("field")?;
        let replacement = config.optional_str("replacement").unwrap_or("***");
        Ok(Mask {
            masker: Masker::new(field, replacement),
        })
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        let Some(value) = record.value() else {
            out.push_ref(&record);
            return Outcome::Emit;
        };
        match self.masker.mask(value) {
            Err(_) => Outcome::reject("value is not a JSON object"),
            Ok(Masked::Unchanged) => {
                out.push_ref(&record);
                Outcome::Emit
            }
            Ok(masked) => {
                let masker = &self.masker;
                match out
                    .push_ref(&record)
                    .value_with(|w| masker.write(&masked, w))
                {
                    Ok(_) => Outcome::Emit,
                    Err(e) => Outcome::reject(format!("cannot write the masked value: {e}")),
                }
            }
        }
    }
}

sluice_plugin::export_transform!(Mask);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sluice_plugin::transform::{Fate, fates, run_batch};
    use sluice_plugin::{Batch, BatchBuilder};

    fn open(pairs: &[(&str, &str)]) -> Result<Mask, ConfigError> {
        let config = Config::from_pairs(pairs)?;
        let mask = Mask::open(&config)?;
        config.finish()?;
        Ok(mask)
    }

    fn values(values: &[Option<&str>]) -> Batch {
        let mut b = BatchBuilder::new();
        for v in values {
            let r = b.push().key(b"k").header("h", b"1");
            if let Some(v) = v {
                r.value(v.as_bytes());
            }
        }
        b.finish()
    }

    fn out_values(batch: &Batch) -> Vec<Option<String>> {
        batch
            .records()
            .unwrap()
            .map(|r| r.value().map(|v| String::from_utf8(v.to_vec()).unwrap()))
            .collect()
    }

    #[test]
    fn masks_in_place_keeping_order_and_numbers() {
        let mut m = open(&[("field", "email")]).unwrap();
        let input = values(&[
            Some(r#"{"id":1,"email":"a@b.c","n":{"x":[1,2]},"big":12345678901234,"neg":-3}"#),
            Some(r#"{ "email" : {"nested":true}, "z" : 0 }"#),
            Some(r#"{"id":2}"#),
            None,
        ]);
        let done = run_batch(&mut m, &input).unwrap();
        assert_eq!(
            out_values(&done.output),
            vec![
                Some(
                    r#"{"id":1,"email":"***","n":{"x":[1,2]},"big":12345678901234,"neg":-3}"#
                        .into()
                ),
                Some(r#"{"email":"***","z":0}"#.into()),
                Some(r#"{"id":2}"#.into()),
                None,
            ]
        );
        let first = done.output.records().unwrap().next().unwrap();
        assert_eq!(first.key(), Some(&b"k"[..]), "key kept");
        assert_eq!(first.headers().count(), 1, "headers kept");
    }

    #[test]
    fn missing_field_keeps_the_exact_bytes() {
        let mut m = open(&[("field", "email")]).unwrap();
        let original = r#"{ "id" : 1.50 }"#;
        let done = run_batch(&mut m, &values(&[Some(original)])).unwrap();
        assert_eq!(out_values(&done.output), vec![Some(original.into())]);
    }

    #[test]
    fn non_objects_are_rejected() {
        let mut m = open(&[("field", "email"), ("replacement", "<gone>")]).unwrap();
        let done = run_batch(
            &mut m,
            &values(&[Some("[1]"), Some("nope"), Some(r#"{"email":1}"#)]),
        )
        .unwrap();
        let reasons: Vec<_> = fates(&done)
            .into_iter()
            .map(|f| match f {
                Fate::Rejected(r) => r,
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(reasons[0], "value is not a JSON object");
        assert_eq!(reasons[1], "value is not a JSON object");
        assert_eq!(
            out_values(&done.output),
            vec![Some(r#"{"email":"<gone>"}"#.into())]
        );
    }

    #[test]
    fn string_escapes_match_json_stringify() {
        let mut m = open(&[("field", "x")]).unwrap();
        let input = r#"{"x":1,"s":"caf\u00e9 \"q\" \\ \n \u0001 \u2028 / \ud83d\ude00"}"#;
        let done = run_batch(&mut m, &values(&[Some(input)])).unwrap();
        // JSON.stringify: raw non-ASCII, \" \\ \n, \u0001 lowercase hex, / unescaped.
        assert_eq!(
            out_values(&done.output)[0].as_deref(),
            Some("{\"x\":\"***\",\"s\":\"café \\\"q\\\" \\\\ \\n \\u0001 \u{2028} / 😀\"}")
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        assert_eq!(open(&[]).err().unwrap().key.as_deref(), Some("field"));
        let err = open(&[("field", "a"), ("replace", "x")]).err().unwrap();
        assert_eq!(err.key.as_deref(), Some("replace"));
    }
}
