//! Writing a transform: one method per record; the SDK handles the batch.
//!
//! The `transform` world exports `process(batch) -> transformed`: one output
//! batch, the number of records each input emitted, and a failure entry for
//! each rejected or retried input. [`run_batch`] builds exactly that from a
//! per-record [`Transform::process`]: it hands each input to the plugin as a
//! [`RecordRef`], lets it append 0..n records to an [`Emitter`], and turns the
//! returned [`Outcome`] into the wire form, dropping any partial output of a
//! rejected or retried record.
//!
//! A plugin that can do better on a whole batch (say, pass it through
//! untouched) overrides [`Transform::process_batch`].

use crate::CallError;
use crate::batch::{Batch, BatchBuilder, RecordBuilder, RecordRef};
use crate::config::{Config, ConfigError};

/// The wire types of the `transformer` interface, for
/// [`Transform::process_batch`] overrides.
pub mod wire {
    pub use crate::bindings::transform::exports::sluice::plugin::transformer::{
        Failure, FailureKind, Transformed,
    };
}

/// What became of one input record (see [`Transform::process`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The record became whatever was appended to the [`Emitter`] while
    /// processing it: zero records filters it out, one maps it, more fan out.
    Emit,
    /// The record is bad and will stay bad; the pipeline's error policy
    /// (`fail`, `skip`, `dead-letter`) routes it. Says why. Anything appended
    /// for this record is dropped.
    Reject(String),
    /// The record cannot be handled now but may be later; the host retries it
    /// with backoff. Says why. Anything appended for this record is dropped.
    Retry(String),
}

impl Outcome {
    /// [`Outcome::Reject`] with `reason`.
    pub fn reject(reason: impl Into<String>) -> Self {
        Outcome::Reject(reason.into())
    }

    /// [`Outcome::Retry`] with `reason`.
    pub fn retry(reason: impl Into<String>) -> Self {
        Outcome::Retry(reason.into())
    }
}

/// A transform plugin. Export it with [`crate::export_transform!`].
///
/// ```
/// use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};
///
/// /// Adds a fixed header to every record.
/// struct Tag { value: String }
///
/// impl Transform for Tag {
///     fn open(config: &Config) -> Result<Self, ConfigError> {
///         Ok(Tag { value: config.required_str("value")?.to_owned() })
///     }
///
///     fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
///         let _ = out.push_ref(&record).header("tag", self.value.as_bytes());
///         Outcome::Emit
///     }
/// }
///
/// // In the plugin crate (a `cdylib`): sluice_plugin::export_transform!(Tag);
/// # let config = Config::from_pairs(&[("value", "v1")]).unwrap();
/// # let mut tag = Tag::open(&config).unwrap();
/// # let mut input = sluice_plugin::BatchBuilder::new();
/// # let _ = input.push().value(b"x");
/// # let done = sluice_plugin::transform::run_batch(&mut tag, &input.finish()).unwrap();
/// # assert_eq!(done.emitted, vec![1]);
/// ```
pub trait Transform: Sized + 'static {
    /// Validates the configuration and prepares the plugin. Read every key
    /// you accept through `config`'s getters: the SDK refuses any other key
    /// after `open` returns.
    fn open(config: &Config) -> Result<Self, ConfigError>;

    /// Handles one record: append its outputs to `out` (with
    /// [`Emitter::push_ref`] to pass it through, [`Emitter::push`] for a new
    /// one) and say what became of it.
    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome;

    /// Handles a whole batch. The default runs [`Transform::process`] on each
    /// record ([`run_batch`]); override it to work on the batch as a whole.
    /// Must return exactly one emitted count per input record, and a failure
    /// entry (with count 0) for each rejected or retried one.
    fn process_batch(&mut self, input: Batch) -> Result<wire::Transformed, CallError> {
        run_batch(self, &input)
    }
}

/// Where a transform appends its output records; see [`Transform::process`].
#[derive(Debug, Default)]
pub struct Emitter {
    builder: BatchBuilder,
}

impl Emitter {
    /// An emitter sized for the outputs of `input` if each record maps to one.
    pub fn for_input(input: &Batch) -> Self {
        Emitter {
            builder: BatchBuilder::with_capacity(
                input.len(),
                input.header_count(),
                input.arena.len(),
            ),
        }
    }

    /// Appends an empty record (null key and value) to fill in.
    pub fn push(&mut self) -> RecordBuilder<'_> {
        self.builder.push()
    }

    /// Appends an exact copy of `record`; the builder can still change it.
    pub fn push_ref(&mut self, record: &RecordRef<'_>) -> RecordBuilder<'_> {
        self.builder.push_ref(record)
    }

    /// Records appended so far in this batch (all inputs).
    pub fn len(&self) -> usize {
        self.builder.len()
    }

    /// True when nothing was appended in this batch yet.
    pub fn is_empty(&self) -> bool {
        self.builder.is_empty()
    }

    /// The output batch, or a fatal error when a record did not fit in it
    /// (past the 4 GiB its `u32` offsets address).
    pub fn finish(self) -> Result<Batch, CallError> {
        self.builder
            .try_finish()
            .map_err(|full| CallError::Fatal(format!("output batch: {full}")))
    }
}

/// Runs `plugin.process` over every record of `input` and assembles the
/// `transformed` result: the output batch, one emitted count per input and a
/// failure entry per rejected or retried input.
///
/// A malformed input batch (a span outside the arena) is a fatal call error.
pub fn run_batch<T: Transform>(
    plugin: &mut T,
    input: &Batch,
) -> Result<wire::Transformed, CallError> {
    let records = input
        .records()
        .map_err(|e| CallError::Fatal(format!("malformed input batch: {e}")))?;
    let mut out = Emitter::for_input(input);
    let mut emitted = Vec::with_capacity(records.len());
    let mut failures = Vec::new();
    for (index, record) in records.enumerate() {
        let mark = out.builder.mark();
        let (kind, reason) = match plugin.process(record, &mut out) {
            Outcome::Emit => {
                emitted.push(count(out.builder.len() - mark.records())?);
                continue;
            }
            Outcome::Reject(reason) => (wire::FailureKind::Reject, reason),
            Outcome::Retry(reason) => (wire::FailureKind::Retry, reason),
        };
        out.builder.rollback(mark);
        emitted.push(0);
        failures.push(wire::Failure {
            input: count(index)?,
            kind,
            reason,
        });
    }
    Ok(wire::Transformed {
        output: out.finish()?,
        emitted,
        failures,
    })
}

/// A record count as the contract's `u32` (a validated batch and a builder
/// never hold more).
fn count(n: usize) -> Result<u32, CallError> {
    u32::try_from(n)
        .map_err(|_| CallError::Fatal(format!("{n} records do not fit the contract's u32 counts")))
}

/// What became of one input, read back from a `transformed` result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The input became this many output records (0 filtered it out).
    Emitted(u32),
    /// Rejected, with the reason.
    Rejected(String),
    /// To be retried, with the reason.
    Retried(String),
}

/// The fate of every input of `done`, in input order: a readable form of the
/// wire result for tests.
pub fn fates(done: &wire::Transformed) -> Vec<Fate> {
    let mut fates: Vec<Fate> = done.emitted.iter().map(|&n| Fate::Emitted(n)).collect();
    for f in &done.failures {
        if let Some(slot) = fates.get_mut(f.input as usize) {
            *slot = match f.kind {
                wire::FailureKind::Reject => Fate::Rejected(f.reason.clone()),
                wire::FailureKind::Retry => Fate::Retried(f.reason.clone()),
            };
        }
    }
    fates
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Test plugin: value "drop" → 0 outputs, "twice" → 2, "bad" → reject
    /// after emitting one (which must be dropped), "later" → retry.
    struct Script;

    impl Transform for Script {
        fn open(_: &Config) -> Result<Self, ConfigError> {
            Ok(Script)
        }

        fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
            match record.value() {
                Some(b"drop") => Outcome::Emit,
                Some(b"twice") => {
                    let _ = out.push_ref(&record);
                    let _ = out.push_ref(&record).header("copy", b"2");
                    Outcome::Emit
                }
                Some(b"bad") => {
                    let _ = out.push_ref(&record);
                    Outcome::reject("bad value")
                }
                Some(b"later") => Outcome::retry("not now"),
                _ => {
                    let _ = out.push_ref(&record);
                    Outcome::Emit
                }
            }
        }
    }

    fn input(values: &[&[u8]]) -> Batch {
        let mut b = BatchBuilder::new();
        for v in values {
            let _ = b.push().key(b"k").value(v);
        }
        b.finish()
    }

    #[test]
    fn counts_and_failures_match_the_outputs() {
        let batch = input(&[b"a", b"drop", b"twice", b"bad", b"later", b"z"]);
        let done = run_batch(&mut Script, &batch).unwrap();
        assert_eq!(done.emitted, vec![1, 0, 2, 0, 0, 1]);
        let failures: Vec<String> = done.failures.iter().map(|f| format!("{f:?}")).collect();
        let want: Vec<String> = [
            wire::Failure {
                input: 3,
                kind: wire::FailureKind::Reject,
                reason: "bad value".into(),
            },
            wire::Failure {
                input: 4,
                kind: wire::FailureKind::Retry,
                reason: "not now".into(),
            },
        ]
        .iter()
        .map(|f| format!("{f:?}"))
        .collect();
        assert_eq!(failures, want);
        assert_eq!(
            fates(&done),
            vec![
                Fate::Emitted(1),
                Fate::Emitted(0),
                Fate::Emitted(2),
                Fate::Rejected("bad value".into()),
                Fate::Retried("not now".into()),
                Fate::Emitted(1),
            ]
        );
        let values: Vec<_> = done
            .output
            .records()
            .unwrap()
            .map(|r| r.value().unwrap().to_vec())
            .collect();
        assert_eq!(
            values,
            vec![
                b"a".to_vec(),
                b"twice".to_vec(),
                b"twice".to_vec(),
                b"z".to_vec()
            ]
        );
    }

    #[test]
    fn malformed_input_is_fatal() {
        let mut batch = input(&[b"a"]);
        batch.arena.clear();
        let err = run_batch(&mut Script, &batch).unwrap_err();
        assert!(matches!(err, CallError::Fatal(m) if m.starts_with("malformed input batch")));
    }

    /// Guest-side cost of the SDK loop for a 1:1 passthrough.
    /// `cargo test -p sluice-plugin --target x86_64-unknown-linux-gnu --release -- --ignored --nocapture`
    #[test]
    #[ignore = "timing, run explicitly in release"]
    fn passthrough_cost_per_record() {
        struct Pass;
        impl Transform for Pass {
            fn open(_: &Config) -> Result<Self, ConfigError> {
                Ok(Pass)
            }
            fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
                let _ = out.push_ref(&record);
                Outcome::Emit
            }
        }
        let value = [b'x'; 100];
        let sizes: Vec<usize> = match std::env::var("BENCH_BATCH") {
            Ok(s) => s.split(',').map(|n| n.parse().unwrap()).collect(),
            Err(_) => vec![1, 64, 256, 1024],
        };
        for batch_size in sizes {
            let mut b = BatchBuilder::new();
            for i in 0..batch_size {
                let _ = b
                    .push()
                    .value(&value)
                    .header("n", &(i as u32).to_le_bytes());
            }
            let batch = b.finish();
            let rounds = 2_000_000 / batch_size;
            let start = std::time::Instant::now();
            for _ in 0..rounds {
                let done = run_batch(&mut Pass, std::hint::black_box(&batch)).unwrap();
                std::hint::black_box(done);
            }
            let ns = start.elapsed().as_nanos() as f64 / (rounds * batch_size) as f64;
            println!("batch {batch_size:>5}: {ns:.1} ns/record (100-byte value, 1 header)");
        }
    }
}
