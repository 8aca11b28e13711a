//! Test fixture: allocates (and touches) memory without bound in `process`, so
//! the host's per-plugin memory cap must stop it (the allocation fails, the
//! guest aborts, the host sees a trap).

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Hoards 1 MiB chunks until memory runs out.
pub struct HostileMemory;

impl Transform for HostileMemory {
    fn open(_config: &Config) -> Result<Self, ConfigError> {
        Ok(HostileMemory)
    }

    fn process(&mut self, _record: RecordRef<'_>, _out: &mut Emitter) -> Outcome {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let chunk = vec![0xA5u8; 1 << 20];
            hoard.push(std::hint::black_box(chunk));
        }
    }
}

sluice_plugin::export_transform!(HostileMemory);
