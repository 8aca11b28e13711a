//! Test fixture: emits 1,000,000 copies of each input record, so the host's
//! output and memory bounds must hold.

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Copies per input record.
pub const COPIES: u32 = 1_000_000;

/// Fans every record out a million times.
pub struct HostileOutput;

impl Transform for HostileOutput {
    fn open(_config: &Config) -> Result<Self, ConfigError> {
        Ok(HostileOutput)
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        for _ in 0..COPIES {
            out.push_ref(&record);
        }
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(HostileOutput);
