//! {{name}}: a Sluice transform.
//!
//! Configuration (any other key is refused by name when the plugin opens):
//!
//! - `tag` (optional, default `{{name}}`): the value of the header it adds.
//!
//! Per record:
//!
//! - null value (a tombstone): passed through unchanged;
//! - empty value: rejected with `empty value` (the pipeline's `errors:` policy
//!   decides what happens to it: fail, skip or dead-letter);
//! - anything else: passed through with one more header, `tagged-by: <tag>`.
//!
//! Key, value, other headers, timestamp and topic/partition overrides are kept.

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// The plugin's state: built by `open`, used for every batch.
pub struct Tagger {
    tag: String,
}

impl Transform for Tagger {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        Ok(Tagger {
            tag: config.optional_str("tag").unwrap_or("{{name}}").to_owned(),
        })
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        match record.value() {
            None => {
                let _ = out.push_ref(&record); // tombstone: pass through
                Outcome::Emit
            }
            Some(value) if value.is_empty() => Outcome::reject("empty value"),
            Some(_) => {
                // push_ref copies the record; the builder can change fields or add headers.
                let _ = out.push_ref(&record).header("tagged-by", self.tag.as_bytes());
                Outcome::Emit // emit zero (filter), one or more records per input
            }
        }
    }
}

sluice_plugin::export_transform!(Tagger);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin::BatchBuilder;
    use sluice_plugin::transform::{Fate, fates, run_batch};

    #[test]
    fn tags_records_and_rejects_empty_values() {
        let config = Config::from_pairs(&[("tag", "t")]).expect("config");
        let mut plugin = Tagger::open(&config).expect("opens");
        let mut input = BatchBuilder::new();
        let _ = input.push().key(b"k").value(b"{}");
        let _ = input.push().value(b"");
        let done = run_batch(&mut plugin, &input.finish()).expect("runs");
        assert_eq!(fates(&done)[1], Fate::Rejected("empty value".into()));
        let first = done.output.records().expect("valid").next().expect("one output");
        assert_eq!(first.last_header("tagged-by"), Some(&b"t"[..]));
    }
}
