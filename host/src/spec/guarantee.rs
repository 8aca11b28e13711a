//! The effective delivery guarantee of a pipeline, derived from its settings.

use super::schema::{Acks, ErrorPolicy, PipelineSpec};

/// What a pipeline promises, in words users read in `sluice check` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guarantee {
    /// `at-most-once` or `at-least-once`.
    pub delivery: &'static str,
    /// When records can be lost.
    pub loss: &'static str,
    /// When records can be duplicated.
    pub duplicates: &'static str,
    /// Whether order per partition is kept.
    pub order: &'static str,
    /// What happens to rejected records.
    pub rejects: &'static str,
}

/// Computes the guarantee of `spec`.
pub fn guarantee(spec: &PipelineSpec) -> Guarantee {
    let (delivery, loss, duplicates, order) = match spec.sink.kafka.acks {
        Acks::None => (
            "at-most-once",
            "any record may be lost silently (acks=0: nobody confirms the write)",
            "none from producer retries (acks=0 never retries); replays after a crash",
            "kept per partition",
        ),
        Acks::Leader => (
            "at-least-once",
            "a record is lost if the partition leader dies before a follower copies it",
            "possible after producer retries and after a crash (positions replay unacknowledged records)",
            "kept per partition except when a retried request overtakes a later one",
        ),
        Acks::All => (
            "at-least-once",
            "only if every in-sync replica dies (see min.insync.replicas)",
            "none from retries (idempotent producer); possible after a crash (positions replay unacknowledged records)",
            "kept per partition",
        ),
    };
    let rejects = match spec.errors {
        ErrorPolicy::Fail => "a rejected record stops the pipeline",
        ErrorPolicy::Skip => "rejected records are counted, logged and dropped",
        ErrorPolicy::DeadLetter => {
            "rejected records go to the dead-letter topic (with headers saying why) and are acknowledged like any other"
        }
    };
    Guarantee {
        delivery,
        loss,
        duplicates,
        order,
        rejects,
    }
}
