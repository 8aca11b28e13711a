//! The supervisor's heartbeat: proof for `/healthz` that the loop which
//! starts, stops and rebuilds pipelines still turns.
//!
//! A process whose HTTP server answers is not necessarily alive in the sense
//! Kubernetes cares about: the supervisor could be wedged (a deadlock, a
//! blocking call that never returns) while the tokio runtime still serves
//! requests. So the supervisor [`touch`](Heartbeat::touch)es a heartbeat on
//! every turn of its loop (it has a tick of its own, so an idle loop still
//! turns), and `/healthz` answers 503 once the last touch is older than
//! [`Heartbeat::stale_after`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the supervisor may go without a turn before `/healthz` fails.
///
/// Longer than any turn should take: a turn that builds a pipeline compiles
/// its plugins when the compile cache is cold (a JavaScript or Python
/// component takes 15–25 s on two cores), so the Kubernetes example adds its
/// probe's failure threshold on top of this.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(15);

/// How often the supervisor should touch the heartbeat when nothing else
/// wakes its loop.
pub const TOUCH_EVERY: Duration = Duration::from_secs(1);

/// A timestamp the supervisor refreshes and `/healthz` reads. Cheap to clone
/// (all clones share one timestamp); touching is one atomic store.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    origin: Instant,
    /// Microseconds from `origin` to the last touch.
    last: Arc<AtomicU64>,
    stale_after: Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::new(DEFAULT_STALE_AFTER)
    }
}

impl Heartbeat {
    /// A heartbeat touched now, stale `stale_after` after its last touch.
    pub fn new(stale_after: Duration) -> Self {
        Heartbeat {
            origin: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
            stale_after,
        }
    }

    /// Records that the supervisor loop turned. Call it on every turn.
    pub fn touch(&self) {
        let micros = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last.store(micros, Ordering::Relaxed);
    }

    /// Time since the last touch.
    pub fn age(&self) -> Duration {
        let last = Duration::from_micros(self.last.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }

    /// How old the last touch may be for the process to count as alive.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// Whether the last touch is recent enough.
    pub fn is_alive(&self) -> bool {
        self.age() <= self.stale_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_goes_stale_without_touches_and_recovers_with_one() {
        let hb = Heartbeat::new(Duration::from_millis(30));
        assert!(hb.is_alive());
        let deadline = Instant::now() + Duration::from_secs(10);
        while hb.is_alive() {
            assert!(Instant::now() < deadline, "never went stale");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(hb.age() > Duration::from_millis(30));
        let clone = hb.clone();
        clone.touch();
        assert!(hb.is_alive(), "clones share one timestamp");
        assert!(hb.age() < Duration::from_millis(30));
    }
}
