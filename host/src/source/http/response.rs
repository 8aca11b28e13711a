//! What a request is answered: a status and a JSON body saying, line by
//! line, where each record went or why it did not.
//!
//! | status | when |
//! |--------|------|
//! | 200 | `acks: leader`/`all`: Kafka acknowledged every record (offsets in `delivered`) |
//! | 202 | `acks: none`: every record handed to Kafka (offsets unknown) |
//! | 207 | some lines rejected (listed), the others accepted, under `errors: skip` / `dead-letter` |
//! | 400 | no valid record (empty body, every line rejected), or any rejected line under `errors: fail` |
//! | 401 | a bearer token is configured and the request does not carry it |
//! | 404 / 405 | another path / not `POST` |
//! | 408 | the body did not arrive within `read_timeout_ms` |
//! | 409 | a request with the same `Idempotency-Key` is still being processed |
//! | 413 | the body is over `max_body_kb` |
//! | 429 | the pipeline is behind (`Retry-After`) |
//! | 503 | not ready (starting, broker unreachable, quarantined), too many connections, or the pipeline stopped before answering (`Retry-After`) |
//! | 504 | Kafka did not answer within `response_timeout_ms`; the records may still arrive (retry with the same `Idempotency-Key`) |

use serde::Serialize;

use super::parse::LineError;
use crate::events::StageId;
use crate::flow::{BatchEnd, BatchOutcome};
use crate::spec::{Acks, ErrorPolicy};

/// One record Kafka took.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeliveredLine {
    /// The request line (or element) it came from, 1-based.
    pub line: u32,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset; absent when unknown (`acks: none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// One line that did not reach its topic.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RejectedLine {
    /// The request line (or element), 1-based.
    pub line: u32,
    /// Where it was rejected: `request` (not a record), a transform, or `sink` (Kafka refused it).
    pub stage: String,
    /// Why.
    pub error: String,
    /// Whether it went to the dead-letter topic.
    pub dead_lettered: bool,
    /// Why, as a bounded label (for metrics).
    #[serde(skip)]
    pub kind: &'static str,
}

/// The body of every answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Answer {
    /// `delivered`, `accepted`, `partial`, `rejected`, or an error's name.
    pub status: &'static str,
    /// The pipeline.
    pub pipeline: String,
    /// Its acks policy.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub acks: &'static str,
    /// Records the request held (lines that were records, plus rejected lines).
    pub records: u64,
    /// Records accepted (delivered or handed over, or filtered by a transform).
    pub accepted: u64,
    /// Records a transform dropped on purpose.
    #[serde(skip_serializing_if = "is_zero")]
    pub filtered: u64,
    /// Where each accepted output went.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delivered: Vec<DeliveredLine>,
    /// Lines that did not reach their topic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedLine>,
    /// What went wrong, for errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An answer with its status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub code: u16,
    /// The body.
    pub body: Answer,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u32>,
    /// A bounded name for what went wrong (a metrics label), `None` on success.
    pub reason: Option<&'static str>,
}

impl Reply {
    /// An error answer.
    pub fn error(pipeline: &str, code: u16, reason: &'static str, error: String) -> Reply {
        Reply {
            code,
            body: Answer {
                status: reason,
                pipeline: pipeline.to_string(),
                error: Some(error),
                ..Answer::default()
            },
            retry_after: matches!(code, 429 | 503).then_some(1),
            reason: Some(reason),
        }
    }
}

/// Parse rejects as listed in an answer.
pub fn request_rejects(rejected: &[LineError], dead_lettered: bool) -> Vec<RejectedLine> {
    rejected
        .iter()
        .map(|e| RejectedLine {
            line: e.line,
            stage: "request".into(),
            error: e.error.clone(),
            dead_lettered,
            kind: e.problem.as_str(),
        })
        .collect()
}

/// Everything a resolved request's answer is made from.
pub struct Resolved<'a> {
    /// Pipeline name.
    pub pipeline: &'a str,
    /// Its acks.
    pub acks: Acks,
    /// Its error policy.
    pub policy: ErrorPolicy,
    /// The line of each record handed to the pipeline.
    pub lines: &'a [u32],
    /// Lines rejected before (not records).
    pub rejected: &'a [LineError],
    /// What the pipeline did.
    pub outcome: BatchOutcome,
}

/// The answer to a request the pipeline resolved (or gave up on).
pub fn resolved(r: Resolved<'_>) -> Reply {
    if let BatchEnd::Stopped(why) = &r.outcome.end {
        return Reply::error(
            r.pipeline,
            503,
            "stopped",
            format!(
                "the pipeline stopped before Kafka acknowledged every record ({why}); some may be in Kafka: retry with the same Idempotency-Key once it is ready"
            ),
        );
    }
    let mut body = Answer {
        pipeline: r.pipeline.to_string(),
        acks: r.acks.as_str(),
        records: (r.lines.len() + r.rejected.len()) as u64,
        rejected: request_rejects(r.rejected, r.policy == ErrorPolicy::DeadLetter),
        ..Answer::default()
    };
    for (fate, &line) in r.outcome.records.iter().zip(r.lines) {
        if fate.failed.is_empty() {
            body.accepted += 1;
            body.filtered += u64::from(fate.filtered());
        }
        for d in &fate.delivered {
            body.delivered.push(DeliveredLine {
                line,
                topic: d.topic.clone(),
                partition: d.partition,
                offset: (d.offset >= 0).then_some(d.offset),
            });
        }
        for f in &fate.failed {
            body.rejected.push(RejectedLine {
                line,
                stage: match f.stage {
                    StageId::Source => "request".into(),
                    other => other.to_string(),
                },
                error: f.reason.clone(),
                dead_lettered: f.dead_lettered,
                kind: match f.stage {
                    StageId::Sink => "sink",
                    _ => "transform",
                },
            });
        }
    }
    body.rejected.sort_by_key(|l| l.line);
    let (code, status, reason) = match (body.rejected.is_empty(), body.accepted) {
        (true, _) if r.acks == Acks::None => (202, "accepted", None),
        (true, _) => (200, "delivered", None),
        (false, 0) => (400, "rejected", Some("rejected_records")),
        (false, _) => (207, "partial", Some("rejected_records")),
    };
    body.status = status;
    Reply {
        code,
        body,
        retry_after: None,
        reason,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::flow::{Delivered, Failed, RecordFate};
    use crate::spec::ErrorPolicy;

    fn delivered(offset: i64) -> RecordFate {
        RecordFate {
            delivered: vec![Delivered {
                topic: "t".into(),
                partition: 2,
                offset,
            }],
            failed: vec![],
        }
    }

    fn answer(acks: Acks, records: Vec<RecordFate>, rejected: &[LineError]) -> Reply {
        let lines: Vec<u32> = (1..=records.len() as u32).map(|l| l * 2).collect();
        resolved(Resolved {
            pipeline: "p",
            acks,
            policy: ErrorPolicy::Skip,
            lines: &lines,
            rejected,
            outcome: BatchOutcome {
                end: BatchEnd::Resolved,
                records,
            },
        })
    }

    #[test]
    fn statuses_follow_acks_and_rejects() {
        let r = answer(Acks::All, vec![delivered(5), RecordFate::default()], &[]);
        assert_eq!((r.code, r.body.status), (200, "delivered"));
        assert_eq!(r.body.delivered[0].line, 2);
        assert_eq!(r.body.delivered[0].offset, Some(5));
        assert_eq!((r.body.accepted, r.body.filtered), (2, 1));
        let r = answer(Acks::None, vec![delivered(-1)], &[]);
        assert_eq!(r.code, 202);
        assert_eq!(
            r.body.delivered[0].offset, None,
            "unknown offsets are not shown"
        );
        let bad = LineError {
            line: 3,
            problem: super::super::parse::LineProblem::MalformedJson,
            error: "not JSON".into(),
            bytes: vec![],
        };
        let r = answer(Acks::All, vec![delivered(1)], std::slice::from_ref(&bad));
        assert_eq!((r.code, r.body.rejected[0].line), (207, 3));
        let refused = RecordFate {
            delivered: vec![],
            failed: vec![Failed {
                stage: StageId::Transform(0),
                reason: "no".into(),
                dead_lettered: false,
            }],
        };
        let r = answer(Acks::All, vec![refused], &[bad]);
        assert_eq!(r.code, 400);
        assert_eq!(r.body.rejected[0].stage, "transform 1");
        let json = serde_json::to_value(&r.body).unwrap();
        assert_eq!(json["records"], 2);
    }
}
