//! The memory and table limits of one Store, counted across all of its
//! memories and tables.
//!
//! wasmtime's `StoreLimits` caps each linear memory on its own, so a component
//! with several core modules (adapters, language runtimes) could use the cap
//! once per memory. Here the cap is on the total, and going over it traps
//! with an error that names the limit. The counters are the Store's
//! [`Budget`] (in `store`); this module is what enforces them.

use wasmtime::ResourceLimiter;

use super::store::Budget;

/// Most tables, memories and core instances one plugin may create. Real
/// plugins have a handful (a language runtime, an adapter, libc); these stop a
/// component from multiplying its allowance.
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;
const MAX_INSTANCES: usize = 256;

/// Most table elements in all tables together (each costs the host a pointer
/// or two; JavaScript and Python runtimes need tens of thousands).
pub(crate) const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// A limit a plugin ran into; the trap carries it so the error can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitExceeded {
    /// Linear memory, in bytes.
    #[error("exceeded its memory limit of {} MiB (limits.memory_mb)", .0 >> 20)]
    Memory(usize),
    /// Table elements.
    #[error("exceeded the host's limit of {0} table elements")]
    TableElements(usize),
}

impl ResourceLimiter for Budget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current);
        let total = self.memory_used.saturating_add(more);
        if total > self.memory_max {
            return Err(wasmtime::Error::new(LimitExceeded::Memory(self.memory_max)));
        }
        self.memory_used = total;
        self.memory_pending = more;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_used -= self.memory_pending;
        self.memory_pending = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current);
        let total = self.table_used.saturating_add(more);
        if total > MAX_TABLE_ELEMENTS {
            return Err(wasmtime::Error::new(LimitExceeded::TableElements(
                MAX_TABLE_ELEMENTS,
            )));
        }
        self.table_used = total;
        self.table_pending = more;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_used -= self.table_pending;
        self.table_pending = 0;
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_cap_is_on_all_memories_together() {
        let mut b = Budget::new(10 << 20);
        assert!(b.memory_growing(0, 6 << 20, None).unwrap());
        let err = b.memory_growing(0, 6 << 20, None).unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>(),
            Some(&LimitExceeded::Memory(10 << 20))
        );
        assert!(b.memory_growing(0, 4 << 20, None).unwrap());
    }

    #[test]
    fn a_failed_growth_is_given_back() {
        let mut b = Budget::new(10 << 20);
        assert!(b.memory_growing(0, 8 << 20, None).unwrap());
        b.memory_grow_failed(wasmtime::Error::msg("over maximum"))
            .unwrap();
        assert!(b.memory_growing(0, 9 << 20, None).unwrap());
    }
}
