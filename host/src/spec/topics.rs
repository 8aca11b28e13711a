//! Which topics a pipeline's records may go to.
//!
//! A plugin can set a record's topic override; untrusted plugins must not
//! write where the pipeline did not say. The sink topic and the topics in
//! `sink.kafka.topics_allowed` are allowed; the positions topic and the
//! dead-letter topic never are (a record there would corrupt positions or
//! pass for a dead letter).

use std::collections::BTreeSet;
use std::fmt;

/// The longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME: usize = 249;

/// Why a topic name is not one Kafka accepts, or `None` when it is.
pub fn invalid_topic_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("`.` and `..` are not topic names")
    } else if name.len() > MAX_TOPIC_NAME {
        Some("it is longer than 249 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Some("Kafka topic names use only letters, digits, `.`, `_` and `-`")
    } else {
        None
    }
}

/// A topic no record may be sent to, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReservedTopic {
    /// The pipeline's positions topic (`positions.kafka_topic`).
    Positions,
    /// The pipeline's dead-letter topic (`dead_letter.topic`).
    DeadLetter,
}

impl ReservedTopic {
    /// The setting that names the topic.
    pub fn setting(self) -> &'static str {
        match self {
            ReservedTopic::Positions => "positions.kafka_topic",
            ReservedTopic::DeadLetter => "dead_letter.topic",
        }
    }
}

/// Why a record's topic override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicRefusal {
    /// The override names the positions or dead-letter topic.
    #[error("topic override `{topic}` names the pipeline's {} (`{}`); records never go there", match .reserved { ReservedTopic::Positions => "positions topic", ReservedTopic::DeadLetter => "dead-letter topic" }, .reserved.setting())]
    Reserved {
        /// The topic.
        topic: String,
        /// Which one it is.
        reserved: ReservedTopic,
    },
    /// The override names a topic the pipeline does not list.
    #[error(
        "topic override `{topic}` is not the sink topic and not in `sink.kafka.topics_allowed`"
    )]
    NotAllowed {
        /// The topic.
        topic: String,
    },
}

/// The topics a pipeline's records may go to. Built by the loader, which
/// refuses a `topics_allowed` list naming a reserved topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPolicy {
    sink: String,
    allowed: BTreeSet<String>,
    reserved: Vec<(String, ReservedTopic)>,
}

impl TopicPolicy {
    /// The policy of a pipeline producing to `sink`, which also allows
    /// `allowed` and never the `reserved` topics.
    pub fn new(
        sink: impl Into<String>,
        allowed: impl IntoIterator<Item = String>,
        reserved: impl IntoIterator<Item = (String, ReservedTopic)>,
    ) -> Self {
        TopicPolicy {
            sink: sink.into(),
            allowed: allowed.into_iter().collect(),
            reserved: reserved.into_iter().collect(),
        }
    }

    /// The sink topic (records without an override go there).
    pub fn sink_topic(&self) -> &str {
        &self.sink
    }

    /// Whether a record may be sent to `topic`.
    pub fn allows(&self, topic: &str) -> bool {
        self.check(topic).is_ok()
    }

    /// Why a record may not be sent to `topic`, naming the topic.
    pub fn check(&self, topic: &str) -> Result<(), TopicRefusal> {
        if let Some((_, reserved)) = self.reserved.iter().find(|(t, _)| t == topic) {
            return Err(TopicRefusal::Reserved {
                topic: topic.to_string(),
                reserved: *reserved,
            });
        }
        if topic == self.sink || self.allowed.contains(topic) {
            Ok(())
        } else {
            Err(TopicRefusal::NotAllowed {
                topic: topic.to_string(),
            })
        }
    }

    /// The topics other than the sink topic that overrides may name.
    pub fn allowed(&self) -> impl Iterator<Item = &str> {
        self.allowed.iter().map(String::as_str)
    }
}

impl fmt::Display for TopicPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.sink)?;
        for t in &self.allowed {
            write!(f, ", `{t}`")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TopicPolicy {
        TopicPolicy::new(
            "orders",
            ["orders.eu".to_string(), "orders.us".to_string()],
            [
                ("sluice-positions".to_string(), ReservedTopic::Positions),
                ("orders.dlq".to_string(), ReservedTopic::DeadLetter),
            ],
        )
    }

    #[test]
    fn the_sink_topic_and_listed_topics_are_allowed() {
        let p = policy();
        assert!(p.allows("orders"));
        assert!(p.allows("orders.eu"));
        assert!(p.allows("orders.us"));
    }

    #[test]
    fn other_topics_are_refused_by_name() {
        let p = policy();
        assert!(!p.allows("payments"));
        assert_eq!(
            p.check("payments"),
            Err(TopicRefusal::NotAllowed {
                topic: "payments".into()
            })
        );
        assert!(
            p.check("payments")
                .unwrap_err()
                .to_string()
                .contains("`payments`")
        );
        assert!(!p.allows(""), "an empty override is not the sink topic");
        assert!(!p.allows("Orders"), "topic names are case-sensitive");
    }

    #[test]
    fn reserved_topics_are_never_allowed_even_when_listed() {
        let p = TopicPolicy::new(
            "orders",
            ["orders.dlq".to_string()],
            [("orders.dlq".to_string(), ReservedTopic::DeadLetter)],
        );
        assert_eq!(
            p.check("orders.dlq"),
            Err(TopicRefusal::Reserved {
                topic: "orders.dlq".into(),
                reserved: ReservedTopic::DeadLetter
            })
        );
        assert!(!policy().allows("sluice-positions"));
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert_eq!(invalid_topic_name("orders.v2_eu-1"), None);
        assert!(invalid_topic_name("").is_some());
        assert!(invalid_topic_name("..").is_some());
        assert!(invalid_topic_name("a b").is_some());
        assert!(invalid_topic_name("x\nerrors: skip").is_some());
        assert!(invalid_topic_name(&"a".repeat(250)).is_some());
        assert_eq!(invalid_topic_name(&"a".repeat(249)), None);
    }
}
