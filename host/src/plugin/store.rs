//! What one plugin instance's wasmtime `Store` holds, and nothing else.
//!
//! State apart from behaviour (as in wasmtime-wasi-http's `types.rs`): every
//! other module of the runtime imports this one to reach the Store's data;
//! this module imports none of them. The behaviour lives beside it: the
//! memory [`Budget`] is enforced by `limiter`, the [`CallClock`] is read by
//! `deadline`, the [`StderrTail`] is wired into WASI by `grants`, and the
//! `log` import is served by `runtime`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The data of one plugin instance's Store.
pub(crate) struct HostState {
    /// The locked-down WASI context built from the plugin's grants.
    pub(crate) wasi: WasiCtx,
    /// WASI resources (streams, pollables, sockets).
    pub(crate) table: ResourceTable,
    /// Linear memory and tables used, against the plugin's cap.
    pub(crate) budget: Budget,
    /// The plugin's label, for log lines.
    pub(crate) label: Arc<str>,
    /// When the running call must end; blocking WASI waits give up then.
    pub(crate) deadline: Instant,
    /// The running call's CPU budget, checked on each epoch deadline.
    pub(crate) clock: CallClock,
    /// Host names the plugin may look up (from its network grant).
    pub(crate) lookup_names: Arc<[String]>,
    /// The tail of what the plugin wrote to stderr, to explain a trap.
    pub(crate) stderr: StderrTail,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Memory and table growth of one Store, counted across all of its memories
/// and tables (see `limiter` for why and how it is enforced).
pub(crate) struct Budget {
    /// Most bytes of linear memory in all.
    pub(crate) memory_max: usize,
    /// Bytes of linear memory granted so far.
    pub(crate) memory_used: usize,
    /// The growth being attempted, given back if it fails.
    pub(crate) memory_pending: usize,
    /// Table elements granted so far.
    pub(crate) table_used: usize,
    /// The table growth being attempted.
    pub(crate) table_pending: usize,
}

impl Budget {
    /// A budget of `memory_max` bytes of linear memory in all.
    pub(crate) fn new(memory_max: usize) -> Self {
        Budget {
            memory_max,
            memory_used: 0,
            memory_pending: 0,
            table_used: 0,
            table_pending: 0,
        }
    }
}

/// The CPU budget of the running call: what `deadline` compares the calling
/// thread's CPU clock against when the epoch deadline fires.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallClock {
    /// The thread's CPU time when the call started.
    pub(crate) cpu_start: Duration,
    /// CPU time the call may use.
    pub(crate) budget: Duration,
    /// When the call started, in wall-clock time.
    pub(crate) wall_start: Instant,
}

impl Default for CallClock {
    fn default() -> Self {
        CallClock {
            cpu_start: Duration::ZERO,
            budget: Duration::ZERO,
            wall_start: Instant::now(),
        }
    }
}

/// Most bytes of a plugin's stderr kept to explain a trap (its tail).
pub(crate) const STDERR_TAIL: usize = 2048;

/// The last bytes a plugin wrote to stderr; older bytes are dropped, so a
/// chatty plugin neither grows host memory nor fails its writes.
#[derive(Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<u8>>>);

impl StderrTail {
    /// The kept text, lossily decoded and trimmed; empty when nothing was written.
    pub(crate) fn text(&self) -> String {
        let tail = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (a, b) = tail.as_slices();
        let mut bytes = a.to_vec();
        bytes.extend_from_slice(b);
        String::from_utf8_lossy(&bytes).trim().to_string()
    }

    /// Keeps the end of `buf` after what was kept before.
    pub(crate) fn push(&self, buf: &[u8]) {
        let mut tail = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let keep = &buf[buf.len().saturating_sub(STDERR_TAIL)..];
        let overflow = (tail.len() + keep.len()).saturating_sub(STDERR_TAIL);
        let drop = overflow.min(tail.len());
        tail.drain(..drop);
        tail.extend(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stderr_tail_keeps_the_last_bytes() {
        let tail = StderrTail::default();
        tail.push(&vec![b'a'; STDERR_TAIL + 10]);
        tail.push(b"panicked at the end");
        let text = tail.text();
        assert!(text.ends_with("panicked at the end"));
        assert_eq!(text.len(), STDERR_TAIL);
    }
}
