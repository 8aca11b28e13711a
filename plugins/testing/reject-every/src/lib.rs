//! Test fixture: rejects every record whose JSON value has an integer `id`
//! divisible by `n` (required, 1 or more), with the reason
//! `id <id> is divisible by <n>`. Every other record (no `id`, not JSON, a
//! tombstone) passes through unchanged. Drives the error-policy tests.

use sluice_plugin::json::{self, Value};
use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Rejects ids divisible by `n`.
pub struct RejectEvery {
    n: u64,
}

impl Transform for RejectEvery {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        let n = config.required_u64("n")?;
        if n == 0 {
            return Err(ConfigError::for_key("n", "`n` must be 1 or more"));
        }
        Ok(RejectEvery { n })
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        let id = record
            .value()
            .and_then(|v| json::field(v, "id").ok().flatten())
            .and_then(|id| match id {
                Value::Number(n) => n.as_u64(),
                _ => None,
            });
        if let Some(id) = id
            && id % self.n == 0
        {
            return Outcome::reject(format!("id {id} is divisible by {}", self.n));
        }
        out.push_ref(&record);
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(RejectEvery);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sluice_plugin::BatchBuilder;
    use sluice_plugin::transform::{Fate, fates, run_batch};

    #[test]
    fn rejects_multiples_of_n() {
        let mut t = RejectEvery { n: 3 };
        let mut b = BatchBuilder::new();
        for id in 1..=6 {
            b.push().value(format!(r#"{{"id":{id}}}"#).as_bytes());
        }
        b.push().value(b"not json");
        let done = run_batch(&mut t, &b.finish()).unwrap();
        let rejected: Vec<_> = fates(&done)
            .into_iter()
            .filter_map(|f| match f {
                Fate::Rejected(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(
            rejected,
            ["id 3 is divisible by 3", "id 6 is divisible by 3"]
        );
        assert_eq!(done.output.len(), 5);
    }
}
