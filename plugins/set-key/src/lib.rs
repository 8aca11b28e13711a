//! Sets each record's key from a top-level field of its JSON value.
//!
//! Configuration:
//!
//! - `field` (required): the top-level JSON key whose value becomes the key.
//!
//! The key becomes the field's value as text: a string without quotes, a
//! number in decimal (`42`), a boolean as `true`/`false`. Everything else of
//! the record is kept. The record is rejected, with a reason naming the field,
//! when its value is null (a tombstone), is not a JSON object, lacks the
//! field, or the field is null, an array or an object.

use sluice_plugin::json;
use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// The set-key transform.
pub struct SetKey {
    field: String,
}

impl Transform for SetKey {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        Ok(SetKey {
            field: config.required_str("field")?.to_owned(),
        })
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        let field = &self.field;
        let Some(value) = record.value() else {
            return Outcome::reject(format!(
                "value is null (a tombstone), so it has no field `{field}` to key by"
            ));
        };
        let found = match json::field(value, field) {
            Err(_) => {
                return Outcome::reject(format!(
                    "value is not a JSON object, so it has no field `{field}` to key by"
                ));
            }
            Ok(None) => return Outcome::reject(format!("field `{field}` is missing")),
            Ok(Some(found)) => found,
        };
        match json::scalar_text(&found) {
            Some(text) => {
                out.push_ref(&record).key(text.as_bytes());
                Outcome::Emit
            }
            None => Outcome::reject(format!(
                "field `{field}` is {}; a key needs a string, number or boolean",
                json::type_name(&found)
            )),
        }
    }
}

sluice_plugin::export_transform!(SetKey);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sluice_plugin::BatchBuilder;
    use sluice_plugin::transform::{Fate, fates, run_batch};

    fn run(values: &[Option<&str>]) -> Vec<String> {
        let config = Config::from_pairs(&[("field", "id")]).unwrap();
        let mut t = SetKey::open(&config).unwrap();
        let mut b = BatchBuilder::new();
        for v in values {
            let r = b.push().key(b"old").header("h", b"x");
            if let Some(v) = v {
                r.value(v.as_bytes());
            }
        }
        let done = run_batch(&mut t, &b.finish()).unwrap();
        let mut keys = done
            .output
            .records()
            .unwrap()
            .map(|r| String::from_utf8(r.key().unwrap().to_vec()).unwrap());
        fates(&done)
            .into_iter()
            .map(|f| match f {
                Fate::Emitted(_) => format!("key {}", keys.next().unwrap()),
                Fate::Rejected(r) => format!("reject: {r}"),
                Fate::Retried(r) => format!("retry: {r}"),
            })
            .collect()
    }

    #[test]
    fn keys_by_text() {
        assert_eq!(
            run(&[
                Some(r#"{"id":"a-1","x":2}"#),
                Some(r#"{"id":42}"#),
                Some(r#"{"id":-1.5}"#),
                Some(r#"{"id":true}"#),
            ]),
            ["key a-1", "key 42", "key -1.5", "key true"]
        );
    }

    #[test]
    fn rejections_name_the_field() {
        let got = run(&[
            None,
            Some("nope"),
            Some(r#"{"other":1}"#),
            Some(r#"{"id":null}"#),
            Some(r#"{"id":{"a":1}}"#),
        ]);
        assert_eq!(
            got,
            [
                "reject: value is null (a tombstone), so it has no field `id` to key by",
                "reject: value is not a JSON object, so it has no field `id` to key by",
                "reject: field `id` is missing",
                "reject: field `id` is null; a key needs a string, number or boolean",
                "reject: field `id` is an object; a key needs a string, number or boolean",
            ]
        );
    }

    #[test]
    fn rest_of_the_record_is_kept() {
        let config = Config::from_pairs(&[("field", "id")]).unwrap();
        let mut t = SetKey::open(&config).unwrap();
        let mut b = BatchBuilder::new();
        b.push()
            .value(br#"{"id":7}"#)
            .header("h", b"x")
            .timestamp_ms(9)
            .partition(2);
        let done = run_batch(&mut t, &b.finish()).unwrap();
        let r = done.output.records().unwrap().next().unwrap();
        assert_eq!(r.key(), Some(&b"7"[..]));
        assert_eq!(r.value(), Some(&br#"{"id":7}"#[..]));
        assert_eq!(r.last_header("h"), Some(Some(&b"x"[..])));
        assert_eq!((r.timestamp_ms(), r.partition()), (Some(9), Some(2)));
    }
}
