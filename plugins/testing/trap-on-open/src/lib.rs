//! Test fixture: panics in `open`, which on wasm32-wasip2 aborts: the host
//! sees a trap while opening the plugin. `process` would pass records through.

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Traps when opened.
pub struct TrapOnOpen;

impl Transform for TrapOnOpen {
    fn open(_config: &Config) -> Result<Self, ConfigError> {
        panic!("trap-on-open: panicking in open, as designed")
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        out.push_ref(&record);
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(TrapOnOpen);
