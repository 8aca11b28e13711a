//! Test fixture: a source that must acknowledge upstream, as a queue would.
//!
//! `poll(max)` returns `max` records whose values count up from 1 (`"1"`,
//! `"2"`, …) and whose header `committed` holds the last position the host
//! passed to `committed`, or a null value before the first one. The position
//! after a poll is the last value returned. `committed(p)` refuses a position
//! that `poll` never returned (a fatal call error naming it).
//!
//! Configuration: `hang_on_commit` (`true` or `false`, default `false`):
//! when `true`, `committed` never returns, so the call deadline must stop it.

use sluice_plugin::{BatchBuilder, CallError, Config, ConfigError, PollResult, Source};

/// Counts records and remembers the last committed position.
pub struct AckingSource {
    produced: u64,
    committed: Option<Vec<u8>>,
    hang_on_commit: bool,
}

impl Source for AckingSource {
    fn open(config: &Config, resume: Option<&[u8]>) -> Result<Self, ConfigError> {
        let hang_on_commit = match config.optional_str("hang_on_commit") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ConfigError::for_key(
                    "hang_on_commit",
                    "`hang_on_commit` must be `true` or `false`",
                ));
            }
        };
        let produced = match resume {
            None => 0,
            Some(p) => parse(p).ok_or_else(|| {
                ConfigError::general("the resume position is not a record number")
            })?,
        };
        Ok(AckingSource {
            produced,
            committed: resume.map(<[u8]>::to_vec),
            hang_on_commit,
        })
    }

    fn poll(&mut self, max: u32, out: &mut BatchBuilder) -> Result<PollResult, CallError> {
        for _ in 0..max {
            self.produced += 1;
            let record = out.push().value(self.produced.to_string().as_bytes());
            match &self.committed {
                Some(p) => {
                    record.header("committed", p);
                }
                None => {
                    record.null_header("committed");
                }
            }
        }
        Ok(PollResult::at(self.produced.to_string()))
    }

    fn committed(&mut self, position: &[u8]) -> Result<(), CallError> {
        if self.hang_on_commit {
            #[allow(clippy::empty_loop)]
            loop {}
        }
        match parse(position) {
            Some(n) if n <= self.produced => {
                self.committed = Some(position.to_vec());
                Ok(())
            }
            _ => Err(CallError::Fatal(format!(
                "position {:?} was never returned by poll",
                String::from_utf8_lossy(position)
            ))),
        }
    }
}

fn parse(position: &[u8]) -> Option<u64> {
    std::str::from_utf8(position).ok()?.parse().ok()
}

sluice_plugin::export_source!(AckingSource);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sluice_plugin::source::run_poll;

    #[test]
    fn shows_the_last_committed_position_on_later_records() {
        let config = Config::from_pairs(&[]).unwrap();
        let mut s = AckingSource::open(&config, None).unwrap();
        let first = run_poll(&mut s, 2).unwrap();
        let r = first.records.records().unwrap().next().unwrap();
        assert_eq!(
            r.last_header("committed"),
            Some(None),
            "null before any commit"
        );
        assert_eq!(first.position.as_deref(), Some(&b"2"[..]));
        s.committed(b"2").unwrap();
        let next = run_poll(&mut s, 1).unwrap();
        let r = next.records.records().unwrap().next().unwrap();
        assert_eq!(r.value(), Some(&b"3"[..]));
        assert_eq!(r.last_header("committed"), Some(Some(&b"2"[..])));
        assert!(s.committed(b"99").is_err());
    }
}
