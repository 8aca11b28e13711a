//! Acknowledgement latencies, counted lock-free on the producer's thread.
//!
//! Two sets of buckets are kept: fine ones (each power of two split in four
//! equal parts, ≤ 25 % error, 1 µs to about an hour) for the p50/p99 a pipeline prints when
//! it stops, and the fixed bounds of [`ACK_LATENCY_BUCKETS`] for Prometheus,
//! counted exactly rather than derived from the fine ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::events::ACK_LATENCY_BUCKETS;

const FINE_BUCKETS: usize = 4 * 32;

/// Latencies of one pipeline's acknowledgements.
pub struct AckLatency {
    fine: Vec<AtomicU64>,
    coarse: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

impl Default for AckLatency {
    fn default() -> Self {
        AckLatency {
            fine: (0..FINE_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            coarse: (0..=ACK_LATENCY_BUCKETS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// Upper bounds of [`ACK_LATENCY_BUCKETS`] in microseconds.
const COARSE_MICROS: [u64; 14] = {
    let mut out = [0u64; 14];
    let mut i = 0;
    while i < 14 {
        out[i] = (ACK_LATENCY_BUCKETS[i] * 1e6) as u64;
        i += 1;
    }
    out
};

/// The fine bucket of a latency: the power of two it falls in, times four,
/// plus which quarter of that power (integer arithmetic: this runs once per
/// acknowledged record).
fn fine_bucket(micros: u64) -> usize {
    let m = micros.max(1);
    let exp = 63 - m.leading_zeros() as usize;
    let quarter = if exp >= 2 {
        (m >> (exp - 2)) & 3
    } else {
        (m << (2 - exp)) & 3
    } as usize;
    (exp * 4 + quarter).min(FINE_BUCKETS - 1)
}

/// The upper edge of fine bucket `b` (its values are below it), in microseconds.
fn fine_upper_micros(b: usize) -> u64 {
    let (exp, quarter) = (b / 4, (b % 4) as u64);
    ((5 + quarter) << exp) >> 2
}

impl AckLatency {
    /// Records one latency.
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.fine[fine_bucket(micros)].fetch_add(1, Ordering::Relaxed);
        let coarse = COARSE_MICROS
            .iter()
            .position(|b| micros <= *b)
            .unwrap_or(COARSE_MICROS.len());
        self.coarse[coarse].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// A copy of the fine buckets, for quantiles.
    pub fn snapshot(&self) -> LatencyHistogram {
        let counts: Vec<u64> = self
            .fine
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        LatencyHistogram {
            total: counts.iter().sum(),
            counts,
        }
    }

    /// Counts per Prometheus bucket (not cumulative) and the sum in seconds, so far.
    pub fn coarse(&self) -> (Vec<u64>, f64) {
        (
            self.coarse
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

/// A snapshot of latencies in fine buckets.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl LatencyHistogram {
    /// Records one latency (for swap pauses and tests).
    pub fn record(&mut self, latency: Duration) {
        if self.counts.is_empty() {
            self.counts = vec![0; FINE_BUCKETS];
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[fine_bucket(micros)] += 1;
        self.total += 1;
    }

    /// The latency below which `quantile` (0..1) of the records fall; `None` when empty.
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((self.total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_micros(fine_upper_micros(b)));
            }
        }
        None
    }

    /// Number of latencies recorded.
    pub fn count(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn fine_buckets_hold_their_values() {
        for micros in [
            4u64,
            5,
            7,
            8,
            100,
            999,
            1000,
            1023,
            1024,
            77_777,
            3_600_000_000,
        ] {
            let b = fine_bucket(micros);
            assert!(micros < fine_upper_micros(b), "{micros} above bucket {b}");
            // (Below 4 µs a power of two has fewer than four whole values.)
            assert!(
                micros >= fine_upper_micros(b - 1),
                "{micros} belongs in a lower bucket than {b}"
            );
        }
    }

    #[test]
    fn quantiles_are_within_a_bucket() {
        let h = AckLatency::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let snap = h.snapshot();
        let p50 = snap.quantile(0.5).unwrap().as_micros() as f64;
        let p99 = snap.quantile(0.99).unwrap().as_micros() as f64;
        assert!((50_000.0..=50_000.0 * 1.25).contains(&p50), "{p50}");
        assert!((99_000.0..=99_000.0 * 1.25).contains(&p99), "{p99}");
        let (coarse, sum) = h.coarse();
        assert_eq!(coarse.iter().sum::<u64>(), 100);
        // 1..=5 ms fall in the ≤ 5 ms bucket and below; 6..=10 in ≤ 10 ms.
        assert_eq!(coarse[..4].iter().sum::<u64>(), 5);
        assert_eq!(coarse[4], 5);
        assert!((sum - 5.05).abs() < 1e-6, "{sum}");
    }
}
