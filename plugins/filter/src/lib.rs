//! Drops records whose top-level JSON field equals a configured value.
//!
//! Configuration:
//!
//! - `field` (required): the top-level JSON key to look at.
//! - `equals` (required): the value that drops a record.
//!
//! The field's value matches when it is a string equal to `equals` (compared
//! as decoded text, without quotes), a number equal to `equals` read as a
//! number (compared as 64-bit floats, as JavaScript compares numbers: `42`
//! matches `42` and `42.0`), a boolean whose text is `equals` (`true` /
//! `false`), or null when `equals` is `null`. Arrays and objects never match.
//! The same rule holds in the JavaScript, Python and Go examples, each with
//! its language's own JSON.
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
    /// `equals` read as a JSON number, when it is one.
    number: Option<f64>,
}

impl Filter {
    fn matches(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => *s == self.equals,
            Value::Number(n) => self.number.is_some_and(|want| n.as_f64() == Some(want)),
            Value::Bool(b) => self.equals == if *b { "true" } else { "false" },
            Value::Null => self.equals == "null",
            Value::Array(_) | Value::Object(_) => false,
        }
    }
}

impl Transform for Filter {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        let field = config.required_str("field")?.to_owned();
        let equals = config.required_str("equals")?.to_owned();
        let number = match json::parse_value(equals.as_bytes()) {
            Some(Value::Number(n)) => n.as_f64(),
            _ => None,
        };
        Ok(Filter {
            field,
            equals,
            number,
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
    fn numbers_compare_as_numbers_booleans_and_null_by_text() {
        assert_eq!(
            run(
                "42",
                &[
                    Some(r#"{"status":42}"#),
                    Some(r#"{"status":"42"}"#),
                    Some(r#"{"status":42.0}"#),
                    Some(r#"{"status":4.2e1}"#),
                    Some(r#"{"status":42.5}"#)
                ]
            ),
            ["drop", "drop", "drop", "drop", "keep"]
        );
        assert_eq!(
            run("042", &[Some(r#"{"status":42}"#)]),
            ["keep"],
            "not JSON"
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
