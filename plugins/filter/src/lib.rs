//! Drops records whose top-level JSON field equals a configured text.
//!
//! Configuration:
//!
//! - `field` (required): the top-level JSON key to look at.
//! - `equals` (required): the text that drops a record.
//!
//! The field's value matches when it is a string equal to `equals` (compared
//! as decoded text, without quotes), a number whose decimal text is `equals`
//! (`42` matches `"42"`, `1.5` matches `"1.5"`), a boolean whose text is
//! `equals` (`true`/`false`), or null when `equals` is `null`. Arrays and
//! objects never match.
//!
//! Matching records are dropped (emit zero records); the rest pass through
//! byte for byte, as do tombstones (null values) and objects without the
//! field. A value that is not a JSON object is rejected with
//! `value is not a JSON object`.

use sluice_plugin::json::{self, Value};
use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// The filter transform.
pub struct Filter {
    field: String,
    equals: String,
}

impl Filter {
    fn matches(&self, value: &Value) -> bool {
        match value {
            Value::Null => self.equals == "null",
            Value::Array(_) | Value::Object(_) => false,
            scalar => json::scalar_text(scalar).is_some_and(|text| text == self.equals),
        }
    }
}

impl Transform for Filter {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        Ok(Filter {
            field: config.required_str("field")?.to_owned(),
            equals: config.required_str("equals")?.to_owned(),
        })
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        if let Some(value) = record.value() {
            match json::field(value, &self.field) {
                Err(not_an_object) => return Outcome::reject(not_an_object.to_string()),
                Ok(Some(found)) if self.matches(&found) => return Outcome::Emit,
                Ok(_) => {}
            }
        }
        out.push_ref(&record);
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(Filter);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sluice_plugin::BatchBuilder;
    use sluice_plugin::transform::{Fate, fates, run_batch};

    fn run(equals: &str, values: &[Option<&str>]) -> Vec<String> {
        let config = Config::from_pairs(&[("field", "status"), ("equals", equals)]).unwrap();
        let mut f = Filter::open(&config).unwrap();
        config.finish().unwrap();
        let mut b = BatchBuilder::new();
        for v in values {
            let r = b.push();
            if let Some(v) = v {
                r.value(v.as_bytes());
            }
        }
        let done = run_batch(&mut f, &b.finish()).unwrap();
        fates(&done)
            .into_iter()
            .map(|f| match f {
                Fate::Emitted(0) => "drop".to_owned(),
                Fate::Emitted(_) => "keep".to_owned(),
                Fate::Rejected(r) => format!("reject: {r}"),
                Fate::Retried(r) => format!("retry: {r}"),
            })
            .collect()
    }

    #[test]
    fn strings_compare_as_text() {
        let got = run(
            "cancelled",
            &[
                Some(r#"{"status":"cancelled"}"#),
                Some(r#"{"status":"open"}"#),
                Some(r#"{"status":"cancel\u006ced"}"#),
                Some(r#"{"other":"cancelled"}"#),
                Some(r#"{"nested":{"status":"cancelled"}}"#),
                None,
                Some("not json"),
                Some(r#"["cancelled"]"#),
            ],
        );
        assert_eq!(
            got,
            [
                "drop",
                "keep",
                "drop",
                "keep",
                "keep",
                "keep",
                "reject: value is not a JSON object",
                "reject: value is not a JSON object"
            ]
        );
    }

    #[test]
    fn numbers_booleans_null_compare_by_text() {
        assert_eq!(
            run(
                "42",
                &[
                    Some(r#"{"status":42}"#),
                    Some(r#"{"status":"42"}"#),
                    Some(r#"{"status":42.5}"#)
                ]
            ),
            ["drop", "drop", "keep"]
        );
        assert_eq!(run("true", &[Some(r#"{"status":true}"#)]), ["drop"]);
        assert_eq!(run("null", &[Some(r#"{"status":null}"#)]), ["drop"]);
        assert_eq!(run("[]", &[Some(r#"{"status":[]}"#)]), ["keep"]);
    }

    #[test]
    fn both_keys_are_required() {
        let config = Config::from_pairs(&[("field", "a")]).unwrap();
        let err = Filter::open(&config).err().unwrap();
        assert_eq!(err.key.as_deref(), Some("equals"));
    }
}
