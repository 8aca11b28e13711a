//! Test fixture: tries to read `/etc/passwd` with `std::fs` for every record
//! and rejects the record with what happened: the error text when the host
//! denies files (the default), or the byte count if the read succeeded.

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Tries the filesystem on every record.
pub struct HostileFile;

impl Transform for HostileFile {
    fn open(_config: &Config) -> Result<Self, ConfigError> {
        Ok(HostileFile)
    }

    fn process(&mut self, _record: RecordRef<'_>, _out: &mut Emitter) -> Outcome {
        match std::fs::read("/etc/passwd") {
            Err(e) => Outcome::reject(format!("/etc/passwd: {e}")),
            Ok(bytes) => Outcome::reject(format!("/etc/passwd: read {} bytes", bytes.len())),
        }
    }
}

sluice_plugin::export_transform!(HostileFile);
