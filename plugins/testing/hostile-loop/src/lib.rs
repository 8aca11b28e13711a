//! Test fixture: never returns from `process` (an infinite loop), so the host's
//! per-call CPU deadline (epoch interruption) must stop it.

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Spins forever on the first record.
pub struct HostileLoop;

impl Transform for HostileLoop {
    fn open(_config: &Config) -> Result<Self, ConfigError> {
        Ok(HostileLoop)
    }

    fn process(&mut self, _record: RecordRef<'_>, _out: &mut Emitter) -> Outcome {
        let mut spins = 0u64;
        loop {
            // black_box keeps the optimiser from reasoning the loop away.
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }
}

sluice_plugin::export_transform!(HostileLoop);
