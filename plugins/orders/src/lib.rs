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

/// Customer names; `customer` is one of these and `email` is `<name>@example.com`.
pub const NAMES: [&str; 16] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil",
];

/// ISO 3166-1 alpha-2 codes; `XX` stands for "unknown".
pub const COUNTRIES: [&str; 8] = ["US", "GB", "DE", "FR", "JP", "BR", "IN", "XX"];

/// The `id`-th output of SplitMix64 seeded with `seed`.
pub fn mix(seed: u64, id: u64) -> u64 {
    let mut z = seed.wrapping_add(id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes the JSON value of order `id`, piece by piece, through `put`.
pub fn write_order(seed: u64, id: u64, mut put: impl FnMut(&[u8])) {
    let h = mix(seed, id);
    let name = NAMES[(h & 15) as usize];
    let country = COUNTRIES[((h >> 8) & 7) as usize];
    let amount_cents = 100 + (h >> 16) % 99_901;
    let mut digits = itoa::Buffer::new();
    put(br#"{"id":"#);
    put(digits.format(id).as_bytes());
    put(br#","customer":""#);
    put(name.as_bytes());
    put(br#"","email":""#);
    put(name.as_bytes());
    put(br#"@example.com","amount_cents":"#);
    put(digits.format(amount_cents).as_bytes());
    put(br#","country":""#);
    put(country.as_bytes());
    put(br#""}"#);
}

/// The order generator.
pub struct Orders {
    seed: u64,
    /// Last id to produce; `None` = unbounded.
    last: Option<u64>,
    /// Orders per second; `None` = unpaced.
    rate: Option<u64>,
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
                .write_value(|w| write_order(self.seed, id, |piece| w.extend_from_slice(piece)))
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
