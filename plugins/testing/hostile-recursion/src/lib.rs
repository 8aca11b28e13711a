//! Test fixture: recurses without bound in `process`, so the call stack is
//! exhausted and the host must turn that into a trap, not a crash.

use std::hint::black_box;

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Recurses until the stack runs out.
pub struct HostileRecursion;

/// Keeps a frame's worth of data live across the call, on both the wasm
/// operand stack and the linear-memory shadow stack, so it cannot be turned
/// into a loop.
#[inline(never)]
fn dive(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    dive(depth + 1).wrapping_add(black_box(&frame)[depth as usize % 32])
}

impl Transform for HostileRecursion {
    fn open(_config: &Config) -> Result<Self, ConfigError> {
        Ok(HostileRecursion)
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        if black_box(dive(0)) == 42 {
            out.push_ref(&record);
        }
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(HostileRecursion);
