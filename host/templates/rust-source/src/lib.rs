//! {{name}}: a Sluice source.
//!
//! Produces records `{"n":1}`, `{"n":2}`, … keyed by the number.
//!
//! Configuration (any other key is refused by name when the plugin opens):
//!
//! - `count` (optional, default 10): how many records in all; `0` = never stop.
//!
//! Position: the next number, as decimal text. The host stores a position once
//! Kafka has acknowledged every record before it, and hands it back to `open`
//! after a restart or a reload: the source resumes there and never commits
//! anything itself.

use sluice_plugin::{BatchBuilder, CallError, Config, ConfigError, PollResult, Source};

/// The plugin's state: built by `open`, advanced by every poll.
pub struct Counter {
    next: u64,
    /// The last number to produce; `None` = unbounded.
    last: Option<u64>,
}

impl Source for Counter {
    fn open(config: &Config, resume: Option<&[u8]>) -> Result<Self, ConfigError> {
        let count = config.optional_u64("count")?.unwrap_or(10);
        let next = match resume {
            None => 1,
            Some(position) => std::str::from_utf8(position)
                .ok()
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| ConfigError::general("the stored position is not a number"))?,
        };
        Ok(Counter {
            next,
            last: (count > 0).then_some(count),
        })
    }

    fn poll(&mut self, max: u32, out: &mut BatchBuilder) -> Result<PollResult, CallError> {
        let done = |c: &Counter| c.last.is_some_and(|last| c.next > last);
        while out.len() < max as usize && !done(self) {
            let n = self.next;
            let _ = out
                .push()
                .key(n.to_string().as_bytes())
                .value(format!(r#"{{"n":{n}}}"#).as_bytes());
            self.next += 1;
        }
        let at = PollResult::at(self.next.to_string());
        Ok(if done(self) { at.finished() } else { at })
    }
}

sluice_plugin::export_source!(Counter);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_resumes() {
        let config = Config::from_pairs(&[("count", "3")]).expect("config");
        let mut source = Counter::open(&config, Some(b"2")).expect("opens");
        let polled = sluice_plugin::source::run_poll(&mut source, 10).expect("polls");
        assert_eq!(polled.records.len(), 2, "2 and 3");
        assert!(polled.finished);
        assert_eq!(polled.position.as_deref(), Some(&b"4"[..]));
    }
}
