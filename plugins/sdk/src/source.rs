//! Writing a source: produce records on demand and say where you stand.
//!
//! The host calls `poll(max-records)` and paces the calls; the source appends
//! up to `max` records to a [`BatchBuilder`] and returns its new opaque
//! position. The host stores a position only once every record before it is
//! acknowledged by Kafka, and hands it back to [`Source::open`] after a restart
//! or reload, so a source never commits anything itself; it is told what was
//! stored through [`Source::committed`].

use crate::CallError;
use crate::batch::BatchBuilder;
use crate::config::{Config, ConfigError};

/// The wire types of the `source-plugin` interface.
pub mod wire {
    pub use crate::bindings::source::exports::sluice::plugin::source_plugin::Polled;
}

/// Where a source stands after one poll (see [`Source::poll`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollResult {
    /// The position after the last record of this poll; `None` leaves it
    /// unchanged (typically when the poll produced nothing).
    pub position: Option<Vec<u8>>,
    /// True when the source has no more records, ever.
    pub finished: bool,
}

impl PollResult {
    /// Nothing new: position unchanged, not finished.
    pub fn unchanged() -> Self {
        Self::default()
    }

    /// The source now stands at `position`.
    pub fn at(position: impl Into<Vec<u8>>) -> Self {
        PollResult {
            position: Some(position.into()),
            finished: false,
        }
    }

    /// Marks the source as finished (bounded source, last records delivered).
    pub fn finished(mut self) -> Self {
        self.finished = true;
        self
    }
}

/// A source plugin. Export it with [`crate::export_source!`].
///
/// ```
/// use sluice_plugin::{BatchBuilder, CallError, Config, ConfigError, PollResult, Source};
///
/// /// Counts from the resume point up to `to`.
/// struct Counter { next: u64, to: u64 }
///
/// impl Source for Counter {
///     fn open(config: &Config, resume: Option<&[u8]>) -> Result<Self, ConfigError> {
///         let to = config.required_u64("to")?;
///         let next = match resume {
///             None => 0,
///             Some(p) => std::str::from_utf8(p).ok().and_then(|s| s.parse().ok())
///                 .ok_or_else(|| ConfigError::general("resume position is not a number"))?,
///         };
///         Ok(Counter { next, to })
///     }
///
///     fn poll(&mut self, max: u32, out: &mut BatchBuilder) -> Result<PollResult, CallError> {
///         while self.next < self.to && out.len() < max as usize {
///             let _ = out.push().value(self.next.to_string().as_bytes());
///             self.next += 1;
///         }
///         let at = PollResult::at(self.next.to_string());
///         Ok(if self.next == self.to { at.finished() } else { at })
///     }
/// }
/// // In the plugin crate (a `cdylib`): sluice_plugin::export_source!(Counter);
/// # let mut c = Counter::open(&Config::from_pairs(&[("to", "3")]).unwrap(), None).unwrap();
/// # let polled = sluice_plugin::source::run_poll(&mut c, 10).unwrap();
/// # assert!(polled.finished && polled.records.len() == 3);
/// ```
pub trait Source: Sized + 'static {
    /// Validates the configuration and prepares the source. `resume` is the
    /// last position whose records were all acknowledged (`None` on a first
    /// start). A position the source cannot read is a [`ConfigError`] with no
    /// key. Read every key you accept through `config`'s getters: the SDK
    /// refuses any other key after `open` returns.
    fn open(config: &Config, resume: Option<&[u8]>) -> Result<Self, ConfigError>;

    /// Appends up to `max` new records to `out` and returns the position after
    /// them. Return quickly: an empty batch when nothing is ready (the host
    /// paces the calls).
    fn poll(&mut self, max: u32, out: &mut BatchBuilder) -> Result<PollResult, CallError>;

    /// The host stored `position` (one that `poll` returned): every record up
    /// to it is acknowledged by Kafka, and a restart resumes from it. A source
    /// that must acknowledge upstream (a queue, a log it truncates) does it
    /// here. Positions come in the order `poll` returned them, not
    /// necessarily every one. An error is reported by the host and never
    /// undoes the commit. The default does nothing.
    fn committed(&mut self, position: &[u8]) -> Result<(), CallError> {
        let _ = position;
        Ok(())
    }
}

/// Runs one `poll` and assembles the `polled` result, refusing more than
/// `max` records (a contract violation) as a fatal error.
pub fn run_poll<S: Source>(source: &mut S, max: u32) -> Result<wire::Polled, CallError> {
    let mut out = BatchBuilder::new();
    let result = source.poll(max, &mut out)?;
    if out.len() > max as usize {
        return Err(CallError::Fatal(format!(
            "poll returned {} records, more than the {max} asked for",
            out.len()
        )));
    }
    let records = out
        .try_finish()
        .map_err(|full| CallError::Fatal(format!("poll output: {full}")))?;
    Ok(wire::Polled {
        records,
        position: result.position,
        finished: result.finished,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    struct Greedy;

    impl Source for Greedy {
        fn open(_: &Config, _: Option<&[u8]>) -> Result<Self, ConfigError> {
            Ok(Greedy)
        }
        fn poll(&mut self, max: u32, out: &mut BatchBuilder) -> Result<PollResult, CallError> {
            for _ in 0..=max {
                let _ = out.push().value(b"x");
            }
            Ok(PollResult::at(b"1".to_vec()))
        }
    }

    #[test]
    fn more_than_max_is_fatal() {
        let err = run_poll(&mut Greedy, 2).unwrap_err();
        assert_eq!(
            err,
            CallError::Fatal("poll returned 3 records, more than the 2 asked for".into())
        );
    }
}
