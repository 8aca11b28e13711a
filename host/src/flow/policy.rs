//! The error policy, decided in one place: what happens to a record (or a
//! batch) that a plugin or the sink could not handle.
//!
//! Every site that meets a failure (a transform's reject, a failed plugin
//! call, a record the sink did not deliver) describes it as a [`Failure`] and
//! acts on the [`Action`] that [`decide`] returns. The sink's delivery
//! callback never decides; it only reports.

use crate::plugin::PluginError;
use crate::sink::DeliveryError;
use crate::spec::ErrorPolicy;

/// What went wrong, as the policy needs to know it.
#[derive(Debug, Clone, Copy)]
pub enum Failure<'a> {
    /// A transform rejected one record (or kept asking to retry it).
    Rejected,
    /// A transform's call failed for the whole batch (trap, limit, bad
    /// output, fatal call error, quarantine).
    TransformFailed(&'a PluginError),
    /// The source's call failed.
    SourceFailed(&'a PluginError),
    /// The sink did not deliver a record.
    Undelivered {
        /// Why.
        error: &'a DeliveryError,
        /// Whether the record was itself a dead letter.
        dead_letter: bool,
    },
}

/// What to do about a [`Failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop the pipeline with an error; nothing at or after the record is committed.
    Stop,
    /// Count and log it, and go on without it.
    Skip,
    /// Send it (each record of the batch) to the dead-letter topic, then go on.
    DeadLetter,
    /// Rebuild the producer and send everything after the committed position
    /// again (nothing lost, duplicates possible).
    Resend,
    /// Open the source again where it stands (its instance is gone; nothing
    /// it handed over is read twice).
    ReopenSource,
}

/// The one decision: `policy` applied to `failure`.
pub fn decide(policy: ErrorPolicy, failure: Failure<'_>) -> Action {
    use Action::*;
    match failure {
        // Not about the record: never skipped or dead-lettered, whatever the
        // policy. `fail` stops (as it does for any failure); the others
        // recover by resending from the committed position.
        Failure::Undelivered {
            error: DeliveryError::Lost(_),
            ..
        } => match policy {
            ErrorPolicy::Fail => Stop,
            ErrorPolicy::Skip | ErrorPolicy::DeadLetter => Resend,
        },
        // A dead letter refused for itself has nowhere else to go.
        Failure::Undelivered {
            dead_letter: true, ..
        } => Stop,
        Failure::SourceFailed(e) => match (policy, e) {
            (ErrorPolicy::Fail, _) => Stop,
            (_, PluginError::Trap { .. }) => ReopenSource,
            _ => Stop,
        },
        // Skipping a quarantined transform would silently drop every later
        // record: `skip` stops; `dead-letter` keeps them.
        Failure::TransformFailed(e) if e.is_quarantined() && policy == ErrorPolicy::Skip => Stop,
        Failure::Rejected
        | Failure::TransformFailed(_)
        | Failure::Undelivered {
            error: DeliveryError::Refused(_),
            ..
        } => match policy {
            ErrorPolicy::Fail => Stop,
            ErrorPolicy::Skip => Skip,
            ErrorPolicy::DeadLetter => DeadLetter,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trap() -> PluginError {
        PluginError::Trap {
            plugin: "p".into(),
            call: "process",
            kind: crate::plugin::TrapKind::Trap,
            message: "boom".into(),
        }
    }

    fn quarantined() -> PluginError {
        PluginError::Quarantined {
            plugin: "p".into(),
            failures: 5,
            last: "boom".into(),
        }
    }

    #[test]
    fn records_kafka_did_not_refuse_are_never_skipped() {
        let lost = DeliveryError::lost("Local: Message timed out");
        for policy in [ErrorPolicy::Skip, ErrorPolicy::DeadLetter] {
            assert_eq!(
                decide(
                    policy,
                    Failure::Undelivered {
                        error: &lost,
                        dead_letter: false
                    }
                ),
                Action::Resend
            );
        }
        assert_eq!(
            decide(
                ErrorPolicy::Fail,
                Failure::Undelivered {
                    error: &lost,
                    dead_letter: false
                }
            ),
            Action::Stop
        );
    }

    #[test]
    fn refused_records_follow_the_policy() {
        let refused = DeliveryError::refused("Broker: Message size too large");
        let f = Failure::Undelivered {
            error: &refused,
            dead_letter: false,
        };
        assert_eq!(decide(ErrorPolicy::Fail, f), Action::Stop);
        assert_eq!(decide(ErrorPolicy::Skip, f), Action::Skip);
        assert_eq!(decide(ErrorPolicy::DeadLetter, f), Action::DeadLetter);
        let dead = Failure::Undelivered {
            error: &refused,
            dead_letter: true,
        };
        assert_eq!(decide(ErrorPolicy::DeadLetter, dead), Action::Stop);
    }

    #[test]
    fn plugin_failures() {
        let (t, q) = (trap(), quarantined());
        assert_eq!(
            decide(ErrorPolicy::Skip, Failure::TransformFailed(&t)),
            Action::Skip
        );
        assert_eq!(
            decide(ErrorPolicy::Skip, Failure::TransformFailed(&q)),
            Action::Stop
        );
        assert_eq!(
            decide(ErrorPolicy::DeadLetter, Failure::TransformFailed(&q)),
            Action::DeadLetter
        );
        assert_eq!(decide(ErrorPolicy::Fail, Failure::Rejected), Action::Stop);
        assert_eq!(
            decide(ErrorPolicy::Skip, Failure::SourceFailed(&t)),
            Action::ReopenSource
        );
        assert_eq!(
            decide(ErrorPolicy::Fail, Failure::SourceFailed(&t)),
            Action::Stop
        );
        assert_eq!(
            decide(ErrorPolicy::Skip, Failure::SourceFailed(&q)),
            Action::Stop
        );
    }
}
