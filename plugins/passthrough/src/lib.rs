//! Emits every record unchanged: the baseline of the host's benchmarks.
//!
//! It goes through the SDK's ordinary per-record path (validate the input
//! batch, one [`Emitter::push_ref`] per record), so it measures what any Rust
//! plugin pays for the arena shape before doing real work. Takes no
//! configuration.

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// The passthrough transform.
pub struct Passthrough;

impl Transform for Passthrough {
    fn open(_config: &Config) -> Result<Self, ConfigError> {
        Ok(Passthrough)
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        out.push_ref(&record);
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(Passthrough);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sluice_plugin::BatchBuilder;
    use sluice_plugin::transform::run_batch;

    #[test]
    fn output_equals_input() {
        let mut input = BatchBuilder::new();
        input
            .push()
            .key(b"k")
            .value(b"v")
            .header("h", b"1")
            .timestamp_ms(5);
        input.push();
        let input = input.finish();
        let done = run_batch(&mut Passthrough, &input).unwrap();
        assert_eq!(done.output, input);
        assert_eq!(done.emitted, vec![1, 1]);
    }

    #[test]
    fn refuses_any_config() {
        let err = sluice_plugin::__private::transform_open::<Passthrough>(
            &Default::default(),
            vec![("x".into(), "1".into())],
        )
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("x"));
    }
}
