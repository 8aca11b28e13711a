//! The effective delivery guarantee of a pipeline, derived from its settings:
//! the cluster, the acks policy and the error policy together.
//!
//! It is a typed value so `sluice check`, logs, events and `/status` all
//! say the same thing; [`Guarantee::summary`] is its one-line form.

use std::fmt;

use super::schema::{Acks, ErrorPolicy, PipelineSpec};

/// How often a record reaches Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// `acks: none`: each send is confirmed by nobody, so it may be lost;
    /// after a crash the source replays from the committed position.
    AtMostOncePerSend,
    /// `acks: leader` / `all`: a record is resent until acknowledged.
    AtLeastOnce,
    /// An HTTP source: nothing is replayed by Sluice; a request answered
    /// 200 (202 under `acks: none`) is in Kafka, and the client retries the
    /// others (with an `Idempotency-Key`, without a second copy).
    PerAnsweredRequest,
    /// A Kafka source under `exactly_once: true`: each record's output is
    /// written in the transaction that commits its offset, so a
    /// `read_committed` reader sees it once.
    ExactlyOnce,
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Delivery::AtMostOncePerSend => "at-most-once per send, replays after a crash",
            Delivery::AtLeastOnce => "at-least-once",
            Delivery::ExactlyOnce => "exactly-once (Kafka transactions)",
            Delivery::PerAnsweredRequest => {
                "per answered request: what is answered 200 (202 under acks none) was handed to Kafka under the acks policy; the client retries the rest, with an Idempotency-Key to avoid a second copy"
            }
        })
    }
}

/// When a delivered record can still be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loss {
    /// The embedded demo cluster: it ignores acks and keeps one copy in
    /// memory, so nothing is durable.
    NoDurability,
    /// `acks: none`: any record may be lost silently.
    Unconfirmed,
    /// `acks: leader`: lost if the leader dies before a follower copies it.
    LeaderFailure,
    /// `acks: all`: lost only if every in-sync replica dies.
    AllInSyncReplicas,
}

/// What happens to records a plugin rejects or Kafka refuses for good.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rejects {
    /// `errors: fail`: the pipeline stops; nothing after them is committed.
    StopPipeline,
    /// `errors: skip`: counted, logged and never delivered.
    Skipped,
    /// `errors: dead-letter`: sent to this topic instead, with headers saying why.
    DeadLettered {
        /// The dead-letter topic.
        topic: String,
    },
}

/// What a pipeline promises.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Guarantee {
    /// The acks policy it follows from.
    pub acks: Acks,
    /// The error policy it follows from.
    pub errors: ErrorPolicy,
    /// How often a record reaches Kafka.
    pub delivery: Delivery,
    /// When a delivered record can still be lost.
    pub loss: Loss,
    /// What happens to rejected and refused records.
    pub rejects: Rejects,
}

impl Guarantee {
    /// The guarantee of `spec`.
    pub fn of(spec: &PipelineSpec) -> Self {
        let kafka = &spec.sink.kafka;
        let delivery = match (spec.source.http.is_some(), kafka.acks) {
            _ if spec.exactly_once && spec.source.kafka.is_some() => Delivery::ExactlyOnce,
            (true, _) => Delivery::PerAnsweredRequest,
            (false, Acks::None) => Delivery::AtMostOncePerSend,
            (false, Acks::Leader | Acks::All) => Delivery::AtLeastOnce,
        };
        let loss = match (kafka.cluster.is_embedded(), kafka.acks) {
            (true, _) => Loss::NoDurability,
            (false, Acks::None) => Loss::Unconfirmed,
            (false, Acks::Leader) => Loss::LeaderFailure,
            (false, Acks::All) => Loss::AllInSyncReplicas,
        };
        let rejects = match (spec.errors, &spec.dead_letter) {
            (ErrorPolicy::Fail, _) => Rejects::StopPipeline,
            (ErrorPolicy::Skip, _) => Rejects::Skipped,
            (ErrorPolicy::DeadLetter, d) => Rejects::DeadLettered {
                topic: d.as_ref().map(|d| d.topic.clone()).unwrap_or_default(),
            },
        };
        Guarantee {
            acks: kafka.acks,
            errors: spec.errors,
            delivery,
            loss,
            rejects,
        }
    }

    /// `at-least-once`, or `at-most-once per send, replays after a crash`.
    pub fn delivery_text(&self) -> String {
        self.delivery.to_string()
    }

    /// When records can be lost, including the ones the error policy lets go.
    pub fn loss_text(&self) -> String {
        let base = match self.loss {
            Loss::NoDurability => {
                "embedded demo cluster: no durability (it ignores acks and keeps one copy in memory)"
            }
            Loss::Unconfirmed => {
                "any record may be lost silently (acks=0: nobody confirms the write)"
            }
            Loss::LeaderFailure => {
                "a record is lost if the partition leader dies before a follower copies it"
            }
            Loss::AllInSyncReplicas => {
                "only if every in-sync replica dies (see min.insync.replicas)"
            }
        };
        match &self.rejects {
            Rejects::StopPipeline => base.to_string(),
            Rejects::Skipped => format!(
                "{base}; besides, records a plugin rejects or Kafka refuses for good (e.g. too large) are skipped: counted and logged, never delivered"
            ),
            Rejects::DeadLettered { topic } => format!(
                "{base}; records a plugin rejects or Kafka refuses for good go to the dead-letter topic `{topic}` instead of the sink topic"
            ),
        }
    }

    /// When records can be duplicated.
    pub fn duplicates_text(&self) -> &'static str {
        if self.delivery == Delivery::ExactlyOnce {
            return "none for read_committed readers: output and consumed offsets commit in one transaction; an aborted transaction is read again from the committed offsets";
        }
        match self.acks {
            Acks::None => {
                "none from producer retries (acks=0 never retries); replays after a crash"
            }
            Acks::Leader => {
                "possible after producer retries and after a crash (positions replay unacknowledged records)"
            }
            Acks::All => {
                "none from retries (idempotent producer); possible after a crash (positions replay unacknowledged records)"
            }
        }
    }

    /// Whether order per partition is kept.
    pub fn order_text(&self) -> &'static str {
        match self.acks {
            Acks::None | Acks::All => "kept per partition",
            Acks::Leader => {
                "kept per partition except when a retried request overtakes a later one"
            }
        }
    }

    /// What happens to rejected records.
    pub fn rejects_text(&self) -> String {
        match &self.rejects {
            Rejects::StopPipeline => "a rejected record stops the pipeline".into(),
            Rejects::Skipped => "rejected records are counted, logged and dropped".into(),
            Rejects::DeadLettered { topic } => format!(
                "rejected records go to `{topic}` (with headers saying why) and count as delivered once it acknowledges them"
            ),
        }
    }

    /// The guarantee in one line, for events, logs and `/status`.
    pub fn summary(&self) -> String {
        let rejects = match &self.rejects {
            Rejects::StopPipeline => "a rejected record stops the pipeline".to_string(),
            Rejects::Skipped => "rejected or refused records are skipped, not delivered".into(),
            Rejects::DeadLettered { topic } => {
                format!("rejected or refused records go to dead-letter topic `{topic}`")
            }
        };
        let loss = match self.loss {
            Loss::NoDurability => {
                return format!("embedded demo cluster: no durability; {rejects}");
            }
            Loss::Unconfirmed => "any record may be lost silently",
            Loss::LeaderFailure => "lost if a partition leader dies before a follower copies it",
            Loss::AllInSyncReplicas if self.delivery == Delivery::ExactlyOnce => {
                "lost only if every in-sync replica dies; no duplicates for read_committed readers"
            }
            Loss::AllInSyncReplicas => {
                "lost only if every in-sync replica dies; no duplicates from retries"
            }
        };
        format!("{}; {loss}; {rejects}", self.delivery_text())
    }
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// The guarantee of `spec` (same as [`Guarantee::of`]).
pub fn guarantee(spec: &PipelineSpec) -> Guarantee {
    Guarantee::of(spec)
}
