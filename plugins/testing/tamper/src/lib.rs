//! Test fixture: changes every record whose JSON value has an integer `id`
//! divisible by `every` (required, 1 or more), to exercise what the host does
//! with records Kafka or the pipeline refuses:
//!
//! - `bytes`: the value becomes `bytes` bytes long (the original JSON padded
//!   with spaces, so it still parses), e.g. more than `message.max.bytes`;
//! - `partition`: the record is sent to this partition (e.g. one that does
//!   not exist);
//! - `topic`: the record is sent to this topic instead of the sink topic.
//!
//! Any combination may be given; every other record passes through unchanged.

use sluice_plugin::json::{self, Value};
use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Tampers with ids divisible by `every`.
pub struct Tamper {
    every: u64,
    bytes: Option<u64>,
    partition: Option<i32>,
    topic: Option<String>,
}

impl Transform for Tamper {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        let every = config.required_u64("every")?;
        if every == 0 {
            return Err(ConfigError::for_key("every", "`every` must be 1 or more"));
        }
        let partition = match config.optional_u64("partition")? {
            None => None,
            Some(p) => Some(i32::try_from(p).map_err(|_| {
                ConfigError::for_key("partition", "`partition` must fit in 32 bits")
            })?),
        };
        Ok(Tamper {
            every,
            bytes: config.optional_u64("bytes")?,
            partition,
            topic: config.optional_str("topic").map(str::to_string),
        })
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        let id = record
            .value()
            .and_then(|v| json::field(v, "id").ok().flatten())
            .and_then(|id| match id {
                Value::Number(n) => n.as_u64(),
                _ => None,
            });
        let hit = id.is_some_and(|id| id % self.every == 0);
        let mut b = out.push_ref(&record);
        if hit {
            if let Some(bytes) = self.bytes {
                let original = record.value().unwrap_or_default().to_vec();
                b = b.write_value(|w| {
                    w.extend_from_slice(&original);
                    for _ in original.len() as u64..bytes {
                        w.push(b' ');
                    }
                });
            }
            if let Some(p) = self.partition {
                b = b.partition(p);
            }
            if let Some(t) = &self.topic {
                b = b.topic(t);
            }
        }
        drop(b);
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(Tamper);
