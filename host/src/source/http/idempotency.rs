//! `Idempotency-Key`: a retried request gets the first one's answer instead
//! of producing its records again, within a window.
//!
//! A key is *in flight* from the moment its request is accepted until the
//! pipeline resolves its batch — even after the client gave up (504) — so a
//! retry meanwhile gets 409, never a second copy. A resolved request's
//! answer is kept for the window and replayed. A request that produced
//! nothing (refused before it reached the pipeline: 401, 413, 429, 503) or
//! whose fate is unknown (the pipeline stopped first) leaves no entry: its
//! retry runs.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Most keys remembered; the oldest answers are forgotten first.
pub const MAX_KEYS: usize = 100_000;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
}

#[derive(Debug)]
enum Entry {
    InFlight,
    Done(Stored, Instant),
}

/// What to do with a request carrying a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// New: go ahead (the key is now in flight).
    Fresh,
    /// The same key is being processed.
    InFlight,
    /// Answered before: send this again.
    Replay(Stored),
}

/// The keys of one endpoint.
#[derive(Debug, Default)]
pub struct Keys {
    entries: HashMap<String, Entry>,
    /// Answered keys, oldest first, for expiry.
    order: VecDeque<(Instant, String)>,
}

impl Keys {
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some((at, key)) = self.order.front() {
            let old = now.duration_since(*at) >= window || self.entries.len() > MAX_KEYS;
            if !old {
                break;
            }
            if let Some(Entry::Done(_, done)) = self.entries.get(key)
                && done == at
            {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
    }

    /// Claims `key` at `now`.
    pub fn claim(&mut self, key: &str, now: Instant, window: Duration) -> Claim {
        self.expire(now, window);
        match self.entries.get(key) {
            Some(Entry::InFlight) => Claim::InFlight,
            Some(Entry::Done(stored, _)) => Claim::Replay(stored.clone()),
            None => {
                self.entries.insert(key.to_string(), Entry::InFlight);
                Claim::Fresh
            }
        }
    }

    /// The request with `key` was answered for good.
    pub fn done(&mut self, key: &str, stored: Stored, now: Instant) {
        self.entries
            .insert(key.to_string(), Entry::Done(stored, now));
        self.order.push_back((now, key.to_string()));
    }

    /// The request with `key` produced nothing, or its fate is unknown: forget it.
    pub fn release(&mut self, key: &str) {
        if matches!(self.entries.get(key), Some(Entry::InFlight)) {
            self.entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_then_replayed_then_expired() {
        let mut k = Keys::default();
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        assert_eq!(k.claim("a", t0, w), Claim::Fresh);
        assert_eq!(k.claim("a", t0, w), Claim::InFlight);
        let s = Stored {
            status: 200,
            body: b"{}".to_vec(),
        };
        k.done("a", s.clone(), t0);
        assert_eq!(
            k.claim("a", t0 + Duration::from_secs(59), w),
            Claim::Replay(s)
        );
        assert_eq!(k.claim("a", t0 + Duration::from_secs(61), w), Claim::Fresh);
        assert_eq!(k.claim("b", t0, w), Claim::Fresh);
        k.release("b");
        assert_eq!(k.claim("b", t0, w), Claim::Fresh, "released: a retry runs");
    }
}
