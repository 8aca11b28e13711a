//! A deterministic order generator: the quickstart's source, and the source
//! of the delivery tests.
//!
//! Configuration (any other key is refused by name):
//!
//! - `count`: how many orders in all; `0` or absent = unbounded.
//! - `rate`: orders per second; `0` or absent = as fast as polled. Pacing never
//!   sleeps: a poll that is ahead of schedule returns an empty batch, and the
//!   host paces its polls. The schedule runs from the first poll, on the wall
//!   clock (`std::time::SystemTime`).
//! - `seed`: varies the generated data; default `42`.
//! - `value_bytes`: pad each value to exactly this many bytes (for benchmarks of
//!   how cost grows with record size); `0` or absent = no padding. A padded
//!   value ends with one more field, `"pad":"xxx…"`, after `country`. A target
//!   below a value's natural size (≈ 90–110 bytes) plus 9 (the padding field's
//!   own bytes) leaves that value unpadded. At most 1048576 (1 MiB).
//!
//! Records: ids start at 1. Each value is compact JSON with the fields in this
//! order:
//!
//! ```text
//! {"id":1,"customer":"<name>","email":"<name>@example.com","amount_cents":<n>,"country":"<ISO2>"}
//! ```
//!
//! no key, one header `source` = `orders`, no timestamp (Kafka sets it).
//!
//! The generator lives in `src/generate.rs`, which depends on nothing but
//! `itoa`: `examples/orders-file.rs` compiles the same file natively and writes
//! the same values to a file, one per line, for the benchmark scripts' other
//! contenders.
//!
//! A record is a pure function of `(seed, id)`: `h` is the `id`-th output of
//! SplitMix64 seeded with `seed` (`z = seed + id * 0x9E3779B97F4A7C15`, then
//! the SplitMix64 finaliser, all wrapping), and
//! `customer = NAMES[h & 15]`, `country = COUNTRIES[(h >> 8) & 7]`,
//! `amount_cents = 100 + (h >> 16) % 99_901` (1.00 to 1000.00). So a resumed
//! run reproduces exactly the records a first run would have produced.
//!
//! Position: the next id, as ASCII decimal (`"101"` after ids 1..=100). The
//! source is finished once id `count` is out.

use std::time::{Duration, SystemTime};

use sluice_plugin::{BatchBuilder, CallError, Config, ConfigError, PollResult, Source};

mod generate;

pub use generate::{COUNTRIES, MAX_VALUE_BYTES, NAMES, mix, write_order, write_order_padded};

/// The order generator.
pub struct Orders {
    seed: u64,
    /// Last id to produce; `None` = unbounded.
    last: Option<u64>,
    /// Orders per second; `None` = unpaced.
    rate: Option<u64>,
    /// Pad values to this size; `0` = no padding.
    value_bytes: usize,
    next: u64,
    /// When pacing started (first poll) and how many orders since then.
    schedule: Option<(SystemTime, u64)>,
}

impl Orders {
    fn finished(&self) -> bool {
        self.last.is_some_and(|last| self.next > last)
    }

    /// How many orders the rate allows now (first one immediately).
    fn allowed_by_rate(&mut self, rate: u64) -> u64 {
        let now = SystemTime::now();
        let (start, sent) = *self.schedule.get_or_insert((now, 0));
        // A wall clock stepped backwards counts as no time passed.
        let elapsed = now.duration_since(start).unwrap_or(Duration::ZERO);
        let due = 1 + elapsed.as_nanos() * u128::from(rate) / 1_000_000_000;
        u64::try_from(due.saturating_sub(u128::from(sent))).unwrap_or(u64::MAX)
    }
}

impl Source for Orders {
    fn open(config: &Config, resume: Option<&[u8]>) -> Result<Self, ConfigError> {
        let count = config.optional_u64("count")?.unwrap_or(0);
        let rate = config.optional_u64("rate")?.unwrap_or(0);
        let seed = config.optional_u64("seed")?.unwrap_or(42);
        let value_bytes = config.optional_u64("value_bytes")?.unwrap_or(0);
        if value_bytes > MAX_VALUE_BYTES {
            return Err(ConfigError::for_key(
                "value_bytes",
                format!("`value_bytes` must be at most {MAX_VALUE_BYTES} (1 MiB)"),
            ));
        }
        let next = match resume {
            None => 1,
            Some(position) => std::str::from_utf8(position)
                .ok()
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|&id| id >= 1)
                .ok_or_else(|| {
                    ConfigError::general(
                        "resume position is not an order id (ASCII decimal, 1 or more); \
                         clear the stored position to start over",
                    )
                })?,
        };
        Ok(Orders {
            seed,
            last: (count > 0).then_some(count),
            rate: (rate > 0).then_some(rate),
            // Bounded by MAX_VALUE_BYTES above, so it fits.
            value_bytes: usize::try_from(value_bytes).unwrap_or(usize::MAX),
            next,
            schedule: None,
        })
    }

    fn poll(&mut self, max: u32, out: &mut BatchBuilder) -> Result<PollResult, CallError> {
        let mut n = u64::from(max);
        if let Some(last) = self.last {
            n = n.min((last + 1).saturating_sub(self.next));
        }
        if let Some(rate) = self.rate {
            n = n.min(self.allowed_by_rate(rate));
        }
        n = n.min(u64::MAX - self.next); // ids never wrap
        for id in self.next..self.next + n {
            out.push()
                .write_value(|w| {
                    write_order_padded(self.seed, id, self.value_bytes, |piece| {
                        w.extend_from_slice(piece)
                    })
                })
                .header("source", b"orders");
        }
        self.next += n;
        if let Some((_, sent)) = &mut self.schedule {
            *sent += n;
        }
        let mut result = if n > 0 {
            PollResult::at(itoa::Buffer::new().format(self.next).as_bytes())
        } else {
            PollResult::unchanged()
        };
        result.finished = self.finished();
        Ok(result)
    }
}

sluice_plugin::export_source!(Orders);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sluice_plugin::source::run_poll;

    fn open(pairs: &[(&str, &str)], resume: Option<&[u8]>) -> Result<Orders, ConfigError> {
        let config = Config::from_pairs(pairs)?;
        let o = Orders::open(&config, resume)?;
        config.finish()?;
        Ok(o)
    }

    fn values(polled: &sluice_plugin::source::wire::Polled) -> Vec<String> {
        polled
            .records
            .records()
            .unwrap()
            .map(|r| String::from_utf8(r.value().unwrap().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn record_shape() {
        let mut o = open(&[], None).unwrap();
        let p = run_poll(&mut o, 2).unwrap();
        let v = values(&p);
        assert_eq!(v.len(), 2);
        let first: serde_like::Obj = serde_like::parse(&v[0]);
        assert_eq!(
            first.keys,
            ["id", "customer", "email", "amount_cents", "country"]
        );
        assert!(v[0].starts_with(r#"{"id":1,"customer":""#), "{}", v[0]);
        assert!(v[1].starts_with(r#"{"id":2,"#));
        let r = p.records.records().unwrap().next().unwrap();
        assert_eq!(r.key(), None);
        assert_eq!(
            r.headers().collect::<Vec<_>>(),
            vec![("source", Some(&b"orders"[..]))]
        );
        assert_eq!(r.timestamp_ms(), None);
        assert_eq!(p.position.as_deref(), Some(&b"3"[..]));
        assert!(!p.finished);
    }

    #[test]
    fn pinned_values_for_seed_42() {
        // Pinned so that a change to the generator is a visible, deliberate
        // one (these are also what the wasm build produced under wasmtime).
        let order = |id| {
            let mut v = Vec::new();
            write_order(42, id, |piece| v.extend_from_slice(piece));
            String::from_utf8(v).unwrap()
        };
        assert_eq!(
            order(1),
            r#"{"id":1,"customer":"frank","email":"frank@example.com","amount_cents":175,"country":"IN"}"#
        );
        assert_eq!(
            order(2),
            r#"{"id":2,"customer":"dave","email":"dave@example.com","amount_cents":36033,"country":"GB"}"#
        );
        assert_eq!(
            order(3),
            r#"{"id":3,"customer":"carol","email":"carol@example.com","amount_cents":39241,"country":"XX"}"#
        );
        assert_eq!(
            mix(0, 1),
            0xE220_A839_7B1D_CDAF,
            "SplitMix64 reference output"
        );
    }

    fn padded(seed: u64, id: u64, value_bytes: usize) -> String {
        let mut v = Vec::new();
        write_order_padded(seed, id, value_bytes, |piece| v.extend_from_slice(piece));
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn value_bytes_pads_to_the_exact_size() {
        for id in [1, 9, 10, 99_999, 1_000_000] {
            let natural = padded(42, id, 0);
            for size in [natural.len() + 9, 1024, 10 * 1024, MAX_VALUE_BYTES as usize] {
                let v = padded(42, id, size);
                assert_eq!(v.len(), size, "id {id}, size {size}");
                // The natural fields come first, unchanged; then one `pad` field of x's.
                let (head, tail) = v.split_at(natural.len() - 1);
                assert_eq!(head, &natural[..natural.len() - 1]);
                let pad = tail
                    .strip_prefix(r#","pad":""#)
                    .and_then(|t| t.strip_suffix(r#""}"#))
                    .unwrap();
                assert!(pad.bytes().all(|b| b == b'x'), "{tail}");
                assert_eq!(serde_like::parse(&v).keys.last().unwrap(), "pad");
            }
            // Targets too small for the padding field leave the value as it is.
            for size in [0, 1, 50, natural.len(), natural.len() + 8] {
                assert_eq!(padded(42, id, size), natural, "id {id}, size {size}");
            }
        }
    }

    #[test]
    fn value_bytes_from_the_config() {
        let mut o = open(&[("value_bytes", "1024"), ("count", "3")], None).unwrap();
        let v = values(&run_poll(&mut o, 10).unwrap());
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(|v| v.len() == 1024));
        assert_eq!(v[0], padded(42, 1, 1024));
        // Absent or 0: the natural records, as pinned above.
        let mut o = open(&[("value_bytes", "0"), ("count", "1")], None).unwrap();
        assert_eq!(values(&run_poll(&mut o, 10).unwrap()), [padded(42, 1, 0)]);

        let too_big = (MAX_VALUE_BYTES + 1).to_string();
        let err = open(&[("value_bytes", &too_big)], None).err().unwrap();
        assert_eq!(err.key.as_deref(), Some("value_bytes"));
        assert!(err.message.contains("at most 1048576"), "{}", err.message);
        let err = open(&[("value_bytes", "big")], None).err().unwrap();
        assert_eq!(err.key.as_deref(), Some("value_bytes"));
    }

    #[test]
    fn resume_reproduces_the_same_records() {
        let mut whole = open(&[("count", "10"), ("seed", "7")], None).unwrap();
        let all = values(&run_poll(&mut whole, 100).unwrap());
        assert_eq!(all.len(), 10);

        let mut first = open(&[("count", "10"), ("seed", "7")], None).unwrap();
        let p = run_poll(&mut first, 4).unwrap();
        assert_eq!(p.position.as_deref(), Some(&b"5"[..]));
        let mut resumed = open(&[("count", "10"), ("seed", "7")], Some(b"5")).unwrap();
        let rest = run_poll(&mut resumed, 100).unwrap();
        assert!(rest.finished);
        assert_eq!(rest.position.as_deref(), Some(&b"11"[..]));
        let mut joined = values(&p);
        joined.extend(values(&rest));
        assert_eq!(joined, all);

        let other_seed =
            values(&run_poll(&mut open(&[("count", "10")], None).unwrap(), 100).unwrap());
        assert_ne!(other_seed, all);
    }

    #[test]
    fn count_bounds_and_finishes() {
        let mut o = open(&[("count", "3")], None).unwrap();
        let p = run_poll(&mut o, 2).unwrap();
        assert_eq!((p.records.len(), p.finished), (2, false));
        let p = run_poll(&mut o, 2).unwrap();
        assert_eq!((p.records.len(), p.finished), (1, true));
        let p = run_poll(&mut o, 2).unwrap();
        assert_eq!((p.records.len(), p.finished, p.position), (0, true, None));
        // Resuming past the end is finished straight away.
        let mut o = open(&[("count", "3")], Some(b"4")).unwrap();
        assert!(run_poll(&mut o, 2).unwrap().finished);
    }

    #[test]
    fn zero_means_unbounded_and_unpaced() {
        let mut o = open(&[("count", "0"), ("rate", "0")], None).unwrap();
        let p = run_poll(&mut o, 1000).unwrap();
        assert_eq!((p.records.len(), p.finished), (1000, false));
    }

    #[test]
    fn rate_returns_empty_batches_when_ahead() {
        let mut o = open(&[("rate", "1")], None).unwrap();
        let p = run_poll(&mut o, 100).unwrap();
        assert_eq!(p.records.len(), 1, "first record right away");
        let p = run_poll(&mut o, 100).unwrap();
        assert_eq!(
            (p.records.len(), p.position),
            (0, None),
            "ahead of schedule"
        );
    }

    #[test]
    fn bad_config_and_position() {
        let err = open(&[("count", "-1")], None).err().unwrap();
        assert_eq!(err.key.as_deref(), Some("count"));
        let err = open(&[("rate", "fast")], None).err().unwrap();
        assert_eq!(err.key.as_deref(), Some("rate"));
        let err = open(&[("speed", "1")], None).err().unwrap();
        assert_eq!(err.key.as_deref(), Some("speed"));
        assert!(
            err.message.contains("`count`, `rate`, `seed`"),
            "{}",
            err.message
        );
        for bad in [&b""[..], b"0", b"+5", b"abc", b"18446744073709551616"] {
            let err = open(&[], Some(bad)).err().unwrap();
            assert_eq!(err.key, None);
        }
    }

    /// Just enough JSON reading to check key order without a dependency.
    mod serde_like {
        pub struct Obj {
            pub keys: Vec<String>,
        }

        pub fn parse(s: &str) -> Obj {
            let mut keys = Vec::new();
            let mut depth_in_string = false;
            let mut token = String::new();
            let mut expect_key = true;
            for c in s.chars() {
                match (depth_in_string, c) {
                    (false, '"') => {
                        depth_in_string = true;
                        token.clear();
                    }
                    (true, '"') => {
                        depth_in_string = false;
                        if expect_key {
                            keys.push(token.clone());
                        }
                    }
                    (true, c) => token.push(c),
                    (false, ':') => expect_key = false,
                    (false, ',') => expect_key = true,
                    _ => {}
                }
            }
            Obj { keys }
        }
    }
}
