//! The per-call deadline: CPU time of the calling thread, checked through
//! epoch interruption.
//!
//! Deadlines count the CPU time of the calling thread, not wall-clock time,
//! so a healthy plugin is not failed because other pipelines kept the cores
//! busy. The epoch fires first when the budget has passed in wall-clock time
//! (CPU time cannot be more); the callback then checks CPU time and either
//! interrupts or sets the next check for when the rest could be used up. A
//! call starved of CPU is still stopped at [`WALL_CLOCK_FACTOR`]× its budget
//! in wall-clock time.

use std::time::{Duration, Instant};

use wasmtime::Store;

use super::limits::Limits;
use super::store::{CallClock, HostState};

/// How often the engine's epoch advances; the unit of call deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// How much wall-clock time a call may take, as a multiple of its CPU budget,
/// before it is stopped anyway (a thread starved of CPU by a busy host).
pub(crate) const WALL_CLOCK_FACTOR: u32 = 4;

/// Epoch ticks for a deadline: the call is stopped between `d` and `d` plus one tick.
fn ticks(d: Duration) -> u64 {
    (d.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64 + 1
}

/// CPU time used by the current thread so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or_default(),
        u32::try_from(t.tv_nsec).unwrap_or_default(),
    )
}

/// How old (in wall-clock time) a sample of the thread's CPU clock may be to
/// stand in for the CPU time at the start of a call.
///
/// Reading a thread's CPU clock is a system call (≈ 0.7 µs here, as long as a
/// small batch takes to cross the boundary), so calls that follow each other
/// closely share one reading. A call then counts at most this much CPU time
/// it did not use (CPU time cannot run faster than wall-clock time), so it is
/// stopped up to 1 ms early: 79 ms instead of 80 ms with the default deadline.
const CPU_SAMPLE_MAX_AGE: Duration = Duration::from_millis(1);

thread_local! {
    /// The last reading of this thread's CPU clock and when it was taken.
    static CPU_SAMPLE: std::cell::Cell<Option<(Duration, Instant)>> =
        const { std::cell::Cell::new(None) };
}

/// The thread's CPU time now, or at most [`CPU_SAMPLE_MAX_AGE`] before `now`.
fn thread_cpu_at_most_stale(now: Instant) -> Duration {
    CPU_SAMPLE.with(|sample| match sample.get() {
        Some((cpu, at)) if now.saturating_duration_since(at) < CPU_SAMPLE_MAX_AGE => cpu,
        _ => {
            let cpu = thread_cpu();
            sample.set(Some((cpu, now)));
            cpu
        }
    })
}

impl CallClock {
    fn start(budget: Duration, now: Instant) -> Self {
        CallClock {
            cpu_start: thread_cpu_at_most_stale(now),
            budget,
            wall_start: now,
        }
    }

    /// What to do when the epoch deadline is reached.
    pub(crate) fn on_deadline(&self) -> wasmtime::Result<wasmtime::UpdateDeadline> {
        let used = thread_cpu().saturating_sub(self.cpu_start);
        if used >= self.budget {
            return Ok(wasmtime::UpdateDeadline::Interrupt);
        }
        let wall_cap = self.budget.saturating_mul(WALL_CLOCK_FACTOR);
        if self.wall_start.elapsed() >= wall_cap {
            return Err(wasmtime::Error::new(WallClockCap(wall_cap)));
        }
        let left = self.budget - used;
        let next = left.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1);
        Ok(wasmtime::UpdateDeadline::Continue(
            u64::try_from(next).unwrap_or(u64::MAX),
        ))
    }
}

/// A call that was starved of CPU for so long that it ran out of wall-clock time.
#[derive(Debug, thiserror::Error)]
#[error("ran for {} ms of wall-clock time without using its CPU time", .0.as_millis())]
pub(crate) struct WallClockCap(pub(crate) Duration);

/// Which call is running, for deadlines and error messages.
#[derive(Clone, Copy)]
pub(crate) struct Call {
    /// The export called (`open`, `process`, `poll`, `committed`).
    pub(crate) name: &'static str,
    /// Its CPU budget.
    pub(crate) timeout: Duration,
    /// The `limits.*` key of `timeout`.
    pub(crate) timeout_key: &'static str,
}

impl Call {
    /// `open` (instantiation included), under `limits.open_timeout_ms`.
    pub(crate) fn open(limits: &Limits) -> Self {
        Call {
            name: "open",
            timeout: limits.open_timeout,
            timeout_key: "limits.open_timeout_ms",
        }
    }

    /// A data call over `records` records, under `limits.call_timeout_ms`.
    pub(crate) fn data(name: &'static str, limits: &Limits, records: usize) -> Self {
        Call {
            name,
            timeout: limits.call_deadline(records),
            timeout_key: "limits.call_timeout_ms",
        }
    }

    /// Sets the Store's deadline (and fuel) for this call.
    pub(crate) fn arm(self, store: &mut Store<HostState>, fuel: Option<u64>) {
        let state = store.data_mut();
        let now = Instant::now();
        state.clock = CallClock::start(self.timeout, now);
        state.deadline = now + self.timeout;
        store.set_epoch_deadline(ticks(self.timeout));
        if let Some(fuel) = fuel {
            // Only fails on an engine without fuel, which `Plugin::flavor` rules out.
            let _ = store.set_fuel(fuel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_at_least_one_tick_and_rounds_up() {
        assert_eq!(ticks(Duration::ZERO), 2);
        assert_eq!(ticks(Duration::from_millis(80)), 17);
    }

    #[test]
    fn a_call_with_cpu_time_left_is_continued() {
        let clock = CallClock::start(Duration::from_secs(60), Instant::now());
        assert!(matches!(
            clock.on_deadline(),
            Ok(wasmtime::UpdateDeadline::Continue(_))
        ));
        let spent = CallClock {
            budget: Duration::ZERO,
            ..clock
        };
        assert!(matches!(
            spent.on_deadline(),
            Ok(wasmtime::UpdateDeadline::Interrupt)
        ));
    }
}
