//! Test fixture: sleeps for an hour in `process`. The sleep blocks in the host
//! (`wasi:io/poll` on a monotonic-clock pollable), where epoch interruption
//! cannot reach, so the host's blocking WASI calls must end at the call's
//! deadline themselves.

use std::time::Duration;

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Sleeps on the first record.
pub struct HostileSleep;

impl Transform for HostileSleep {
    fn open(_config: &Config) -> Result<Self, ConfigError> {
        Ok(HostileSleep)
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        std::thread::sleep(Duration::from_secs(3600));
        out.push_ref(&record);
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(HostileSleep);
