//! What a plugin call returned, checked against the contract and the output
//! caps, and turned into the host's types: one [`Outcome`] per input of a
//! transform, the records and position of a poll.

use super::bindings::{WitBatch, WitFailureKind, WitPolled, WitTransformed};
use super::error::PluginError;
use super::limits::Limits;
use super::trap;
use crate::record::Batch;

/// What became of one input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Output records `start .. start + count` of the output batch.
    Emit {
        /// First output index.
        start: u32,
        /// How many.
        count: u32,
    },
    /// Refused for good, with the plugin's reason.
    Reject(String),
    /// Could not be handled now; may be retried.
    Retry(String),
}

/// A transform's result for one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformed {
    /// All emitted records, in input order.
    pub output: Batch,
    /// One outcome per input record.
    pub outcomes: Vec<Outcome>,
}

/// A source's result for one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled {
    /// The new records.
    pub records: Batch,
    /// Position after them, if it moved.
    pub position: Option<Vec<u8>>,
    /// No more records, ever.
    pub finished: bool,
}

/// The host keeps batches in the contract's layout: crossing is a move.
pub(crate) fn to_wit(batch: Batch) -> WitBatch {
    WitBatch {
        arena: batch.arena,
        records: batch.records,
        headers: batch.headers,
    }
}

pub(crate) fn from_wit(batch: WitBatch) -> Batch {
    Batch {
        arena: batch.arena,
        records: batch.records,
        headers: batch.headers,
    }
}

/// Checks a transform's result for `inputs` inputs and turns it into one
/// outcome per input.
pub(crate) fn transformed(
    result: WitTransformed,
    inputs: usize,
    limits: &Limits,
    label: &str,
) -> Result<Transformed, PluginError> {
    let WitTransformed {
        output,
        emitted,
        failures,
    } = result;
    let output = from_wit(output);
    trap::check_output(label, "process", &output, limits)?;
    let bad = |message: String| PluginError::BadOutput {
        plugin: label.to_string(),
        call: "process",
        message,
    };
    if emitted.len() != inputs {
        return Err(bad(format!(
            "{} emitted counts for {inputs} input records (need exactly one per input)",
            emitted.len()
        )));
    }
    // Outputs are in input order: input i's outputs start where input
    // i - 1's end.
    let mut outcomes = Vec::with_capacity(inputs);
    let mut start = 0u64;
    for &count in &emitted {
        let first = u32::try_from(start)
            .map_err(|_| bad(format!("the emitted counts pass {} records", output.len())))?;
        outcomes.push(Outcome::Emit {
            start: first,
            count,
        });
        start += u64::from(count);
    }
    if start != output.len() as u64 {
        return Err(bad(format!(
            "the emitted counts add up to {start}, but the output holds {} records",
            output.len()
        )));
    }
    let mut previous = None;
    for f in failures {
        let index = f.input as usize;
        if index >= inputs || previous.is_some_and(|p| p >= index) {
            return Err(bad(format!(
                "failure for input {index}: out of range or not in increasing input order \
                 ({inputs} inputs)"
            )));
        }
        previous = Some(index);
        if emitted[index] != 0 {
            return Err(bad(format!(
                "input {index} both emitted {} records and failed",
                emitted[index]
            )));
        }
        outcomes[index] = match f.kind {
            WitFailureKind::Reject => Outcome::Reject(f.reason),
            WitFailureKind::Retry => Outcome::Retry(f.reason),
        };
    }
    Ok(Transformed { output, outcomes })
}

/// Checks a source's poll result.
pub(crate) fn polled(
    result: WitPolled,
    limits: &Limits,
    label: &str,
) -> Result<Polled, PluginError> {
    let WitPolled {
        records,
        position,
        finished,
    } = result;
    let records = from_wit(records);
    trap::check_output(label, "poll", &records, limits)?;
    Ok(Polled {
        records,
        position,
        finished,
    })
}
