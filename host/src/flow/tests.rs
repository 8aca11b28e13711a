//! The data path without Kafka: native sources and transforms, the
//! in-memory sink, real positions in a temporary state directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::events::{Event, Recorder, ReloadOutcome};
use crate::plugin::{Outcome, Plugin, Transformed};
use crate::record::Batch;
use crate::sink::{DeliveryError, MemorySink, MemorySinkControl};

/// Numbered records `1..=count`, `batch` per poll; the position is the next id.
struct Numbers {
    next: u64,
    count: u64,
    batch: u64,
    committed: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Source for Numbers {
    fn label(&self) -> &str {
        "numbers"
    }
    fn poll(&mut self, _max: u32) -> Result<Polled, PluginError> {
        let mut records = Batch::default();
        let end = (self.next + self.batch).min(self.count + 1);
        for id in self.next..end {
            records
                .push(None, Some(id.to_string().as_bytes()), &[])
                .unwrap();
        }
        self.next = end;
        Ok(Polled {
            records,
            position: Some(end.to_string().into_bytes()),
            finished: end > self.count,
            ..Polled::default()
        })
    }
    fn committed(&mut self, position: &[u8]) -> Result<(), PluginError> {
        self.committed
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(position).into_owned());
        Ok(())
    }
    fn reopen_at(&mut self, position: Option<Vec<u8>>) {
        if let Some(p) = position {
            self.next = String::from_utf8(p).unwrap().parse().unwrap();
        }
    }
    fn plugin(&self) -> Option<&Plugin> {
        None
    }
}

/// What a native transform does with one value.
type Each = Box<dyn FnMut(&[u8]) -> Result<Option<Vec<u8>>, Outcome> + Send>;

/// A native transform from a per-record function: `Ok(Some(v))` emits `v`,
/// `Ok(None)` filters, `Err(reason)` rejects; or a whole-call failure.
struct Native {
    digest: String,
    each: Each,
    fail_calls: u32,
}

impl Native {
    fn new(
        digest: &str,
        each: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, Outcome> + Send + 'static,
    ) -> Box<Self> {
        Box::new(Native {
            digest: digest.to_string(),
            each: Box::new(each),
            fail_calls: 0,
        })
    }
    fn passthrough(digest: &str) -> Box<Self> {
        Self::new(digest, |v| Ok(Some(v.to_vec())))
    }
}

impl Transform for Native {
    fn process(&mut self, input: Batch) -> (Batch, Result<Transformed, PluginError>) {
        if self.fail_calls > 0 {
            self.fail_calls -= 1;
            let e = PluginError::Trap {
                plugin: self.digest.clone(),
                call: "process",
                kind: crate::plugin::TrapKind::Trap,
                message: "boom".into(),
            };
            return (input, Err(e));
        }
        let mut output = Batch::default();
        let mut outcomes = Vec::new();
        for r in input.iter() {
            let start = output.len() as u32;
            match (self.each)(r.value().unwrap_or_default()) {
                Ok(Some(v)) => {
                    output.push(r.key(), Some(&v), &[]).unwrap();
                    outcomes.push(Outcome::Emit { start, count: 1 });
                }
                Ok(None) => outcomes.push(Outcome::Emit { start, count: 0 }),
                Err(o) => outcomes.push(o),
            }
        }
        (input, Ok(Transformed { output, outcomes }))
    }
    fn digest(&self) -> &str {
        &self.digest
    }
}

struct Rig {
    handle: FlowHandle,
    sink: MemorySinkControl,
    recorder: Arc<Recorder>,
    state: tempfile::TempDir,
    committed: Arc<std::sync::Mutex<Vec<String>>>,
    flow: Option<Flow>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<Summary>>>,
}

fn rig(
    count: u64,
    batch: u64,
    transforms: Vec<Box<dyn Transform>>,
    policy: ErrorPolicy,
    auto_ack: bool,
    grace: Duration,
) -> Rig {
    let (sink, control) = MemorySink::new("out", auto_ack);
    let recorder = Arc::new(Recorder::default());
    let events = Events::new();
    events.subscribe(recorder.clone());
    let state = tempfile::tempdir().unwrap();
    let committed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (flow, handle) = Flow::new(FlowParts {
        name: "t".into(),
        source: Box::new(Numbers {
            next: 1,
            count,
            batch,
            committed: committed.clone(),
        }),
        stages: transforms
            .into_iter()
            .enumerate()
            .map(|(i, t)| Stage::new(StageId::Transform(i), format!("t{i}"), t))
            .collect(),
        sink: Box::new(sink.with_max_record_bytes(10_000)),
        store: Some(PositionStore::new(state.path(), "t")),
        resume: None,
        policy,
        dead_letter_topic: (policy == ErrorPolicy::DeadLetter).then(|| "dlq".to_string()),
        sink_topic: "out".into(),
        events,
        options: FlowOptions {
            batch_size: batch as u32,
            grace,
            commit_interval: Duration::from_millis(1),
            ..FlowOptions::default()
        },
    });
    Rig {
        handle,
        sink: control,
        recorder,
        state,
        committed,
        flow: Some(flow),
        thread: None,
    }
}

impl Rig {
    fn start(mut self) -> Self {
        let flow = self.flow.take().unwrap();
        self.thread = Some(std::thread::spawn(move || flow.run()));
        self
    }
    fn join(&mut self) -> anyhow::Result<Summary> {
        self.thread.take().unwrap().join().unwrap()
    }
    fn stopping(&self) -> bool {
        self.events().iter().any(|e| {
            matches!(
                e,
                Event::PipelineState {
                    state: crate::events::PipelineState::Stopping,
                    ..
                }
            )
        })
    }
    fn stored(&self) -> Option<String> {
        PositionStore::new(self.state.path(), "t")
            .load()
            .unwrap()
            .map(|p| String::from_utf8(p).unwrap())
    }
    fn wait(&self, what: &str, mut until: impl FnMut(&Rig) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !until(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    fn events(&self) -> Vec<Event> {
        self.recorder.events()
    }
}

fn ids(values: Vec<String>) -> Vec<u64> {
    values.iter().map(|v| v.parse().unwrap()).collect()
}

#[test]
fn records_keep_their_order_and_positions_wait_for_acknowledgements() {
    let mut r = rig(
        10,
        3,
        vec![Native::passthrough("a")],
        ErrorPolicy::Fail,
        false,
        Duration::from_secs(30),
    )
    .start();
    r.wait("all sent", |r| r.sink.sent().len() == 10);
    assert_eq!(r.stored(), None, "nothing acknowledged, nothing committed");
    r.sink.answer(4, None);
    r.wait("first batch committed", |r| {
        r.stored().as_deref() == Some("4")
    });
    r.sink.ack_all();
    let s = r.join().unwrap();
    assert!(s.finished);
    assert_eq!(s.acknowledged, 10);
    assert_eq!(r.stored().as_deref(), Some("11"));
    assert_eq!(ids(r.sink.values("out")), (1..=10).collect::<Vec<_>>());
    let told = r.committed.lock().unwrap().clone();
    assert_eq!(
        told.last().map(String::as_str),
        Some("11"),
        "the source learns what was committed"
    );
}

#[test]
fn rejects_follow_the_error_policy() {
    let reject_even = || {
        Native::new("a", |v| {
            let id: u64 = std::str::from_utf8(v).unwrap().parse().unwrap();
            if id.is_multiple_of(2) {
                Err(Outcome::Reject(format!("{id} is even")))
            } else {
                Ok(Some(v.to_vec()))
            }
        })
    };
    let mut skip = rig(
        6,
        6,
        vec![reject_even()],
        ErrorPolicy::Skip,
        true,
        Duration::from_secs(30),
    )
    .start();
    let s = skip.join().unwrap();
    assert_eq!(ids(skip.sink.values("out")), vec![1, 3, 5]);
    assert_eq!(s.position.as_deref(), Some(&b"7"[..]));
    assert_eq!(skip.handle.counters.skipped.load(Ordering::Relaxed), 3);

    let mut dlq = rig(
        6,
        6,
        vec![reject_even()],
        ErrorPolicy::DeadLetter,
        true,
        Duration::from_secs(30),
    )
    .start();
    dlq.join().unwrap();
    assert_eq!(ids(dlq.sink.values("dlq")), vec![2, 4, 6]);
    let sent = dlq.sink.sent();
    let dead = sent
        .iter()
        .find(|s| s.record.topic.as_deref() == Some("dlq"))
        .unwrap();
    let header = |n: &str| {
        dead.record
            .headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| String::from_utf8_lossy(v.as_deref().unwrap_or_default()).into_owned())
    };
    assert_eq!(header("sluice.stage").as_deref(), Some("transform 1"));
    assert_eq!(header("sluice.error").as_deref(), Some("2 is even"));

    let mut fail = rig(
        6,
        6,
        vec![reject_even()],
        ErrorPolicy::Fail,
        true,
        Duration::from_secs(30),
    )
    .start();
    let err = fail.join().unwrap_err().to_string();
    assert!(
        err.contains("rejected record 1 of a batch: 2 is even"),
        "{err}"
    );
    assert_eq!(fail.stored(), None, "nothing after the reject is committed");
}

#[test]
fn a_new_version_that_fails_on_probation_is_rolled_back_without_loss() {
    let r = rig(
        2000,
        10,
        vec![Native::passthrough("old")],
        ErrorPolicy::Fail,
        true,
        Duration::from_secs(30),
    );
    let mut failing = Native::passthrough("new");
    failing.fail_calls = 1;
    // Sent before the flow starts: applied before its first batch.
    r.handle
        .control
        .send(Control::SwapTransform {
            stage: 0,
            instance: failing,
            file: "t0".into(),
        })
        .unwrap();
    let mut r = r.start();
    let s = r.join().unwrap();
    assert_eq!(s.acknowledged, 2000);
    assert_eq!(ids(r.sink.values("out")), (1..=2000).collect::<Vec<_>>());
    let outcomes: Vec<ReloadOutcome> = r
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Reload { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, vec![ReloadOutcome::Ok, ReloadOutcome::RolledBack]);
}

#[test]
fn a_retried_batch_is_delivered_once() {
    let mut first = true;
    let t = Native::new("a", move |v| {
        if std::mem::take(&mut first) {
            Err(Outcome::Retry("not yet".into()))
        } else {
            Ok(Some(v.to_vec()))
        }
    });
    let mut r = rig(
        5,
        5,
        vec![t],
        ErrorPolicy::Fail,
        true,
        Duration::from_secs(30),
    )
    .start();
    r.join().unwrap();
    assert_eq!(ids(r.sink.values("out")), vec![1, 2, 3, 4, 5]);
}

#[test]
fn records_kafka_did_not_refuse_are_resent_never_skipped() {
    let mut r = rig(
        6,
        3,
        vec![],
        ErrorPolicy::Skip,
        false,
        Duration::from_secs(30),
    )
    .start();
    r.wait("sent", |r| r.sink.sent().len() == 6);
    r.sink.answer(3, None);
    r.sink
        .answer(1, Some(DeliveryError::lost("Local: Purged in flight")));
    r.sink.ack_all();
    let err = r.join().unwrap_err();
    assert!(err.downcast_ref::<Resend>().is_some(), "{err:#}");
    assert_eq!(
        r.stored().as_deref(),
        Some("4"),
        "the position stops before the lost record"
    );
    assert_eq!(r.handle.counters.skipped.load(Ordering::Relaxed), 0);
}

#[test]
fn refused_records_are_skipped_or_dead_lettered_under_the_same_batch() {
    let skip = rig(
        4,
        4,
        vec![],
        ErrorPolicy::Skip,
        true,
        Duration::from_secs(30),
    );
    skip.sink.refuse_value(b"2");
    let mut skip = skip.start();
    skip.join().unwrap();
    assert_eq!(skip.stored().as_deref(), Some("5"));
    assert_eq!(ids(skip.sink.values("out")), vec![1, 3, 4]);

    let dlq = rig(
        4,
        4,
        vec![],
        ErrorPolicy::DeadLetter,
        false,
        Duration::from_secs(30),
    );
    dlq.sink.refuse_value(b"3");
    let mut dlq = dlq.start();
    dlq.wait("sent", |r| {
        r.sink.values("out").len() == 3 && r.sink.values("dlq").len() == 1
    });
    dlq.sink.answer(3, None);
    assert_eq!(dlq.stored(), None, "the batch waits for its dead letter");
    dlq.sink.ack_all();
    dlq.join().unwrap();
    assert_eq!(dlq.stored().as_deref(), Some("5"));
}

#[test]
fn a_record_refused_at_send_stops_a_fail_pipeline_at_once() {
    // A long grace period: stopping must not wait it out.
    let r = rig(
        4,
        4,
        vec![],
        ErrorPolicy::Fail,
        true,
        Duration::from_secs(600),
    );
    r.sink.refuse_value(b"2");
    let mut r = r.start();
    let started = Instant::now();
    let err = r.join().unwrap_err().to_string();
    assert!(err.contains("Kafka refused a record"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "did not wait out the grace period"
    );
    assert_eq!(r.stored(), None);
}

#[test]
fn a_stop_under_back_pressure_is_clean_and_commits_only_what_was_delivered() {
    let r = rig(
        100,
        10,
        vec![],
        ErrorPolicy::Fail,
        false,
        Duration::from_secs(30),
    );
    r.sink.set_capacity(15);
    let mut r = r.start();
    // The second batch is half sent when the sink fills up.
    r.wait("the sink is full", |r| r.sink.sent().len() == 15);
    r.handle.cancel.store(true, Ordering::Relaxed);
    r.wait("the data path to stop", Rig::stopping);
    r.sink.ack_all();
    let s = r.join().expect("a clean stop, even with a half-sent batch");
    assert!(!s.finished);
    assert_eq!(
        r.stored().as_deref(),
        Some("11"),
        "only the whole first batch"
    );
}

#[test]
fn a_source_swap_sends_pending_dead_letters_instead_of_freezing() {
    let r = rig(
        1_000_000,
        10,
        vec![],
        ErrorPolicy::DeadLetter,
        true,
        Duration::from_secs(600),
    );
    r.sink.refuse_value(b"5");
    let mut r = r.start();
    r.wait("the dead letter", |r| r.sink.values("dlq").len() == 1);
    let committed = r.committed.clone();
    r.handle
        .control
        .send(Control::SwapSource {
            open: Box::new(move |resume| {
                let next = resume.map_or(1, |p| String::from_utf8(p).unwrap().parse().unwrap());
                Ok(Box::new(Numbers {
                    next,
                    count: next + 9,
                    batch: 10,
                    committed,
                }) as Box<dyn Source>)
            }),
            digest: "new".into(),
            file: "numbers".into(),
        })
        .unwrap();
    let s = r.join().unwrap();
    assert!(s.finished, "the new version ran to its end");
    let values = ids(r.sink.values("out"));
    let mut unique = values.clone();
    unique.dedup();
    assert_eq!(values, unique, "nothing duplicated across the swap");
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "order kept across the swap"
    );
    assert!(r.events().iter().any(|e| matches!(
        e,
        Event::Reload {
            outcome: ReloadOutcome::Ok,
            resumed_from: Some(_),
            ..
        }
    )));
}

#[test]
fn an_oversized_position_is_the_source_s_fault() {
    struct Huge;
    impl Source for Huge {
        fn label(&self) -> &str {
            "huge"
        }
        fn poll(&mut self, _: u32) -> Result<Polled, PluginError> {
            Ok(Polled {
                records: Batch::default(),
                position: Some(vec![b'x'; MAX_POSITION_BYTES + 1]),
                finished: false,
                ..Polled::default()
            })
        }
        fn committed(&mut self, _: &[u8]) -> Result<(), PluginError> {
            Ok(())
        }
        fn reopen_at(&mut self, _: Option<Vec<u8>>) {}
        fn plugin(&self) -> Option<&Plugin> {
            None
        }
    }
    let (sink, _control) = MemorySink::new("out", true);
    let (flow, _handle) = Flow::new(FlowParts {
        name: "t".into(),
        source: Box::new(Huge),
        stages: vec![],
        sink: Box::new(sink),
        store: None,
        resume: None,
        policy: ErrorPolicy::Skip,
        dead_letter_topic: None,
        sink_topic: "out".into(),
        events: Events::new(),
        options: FlowOptions::default(),
    });
    let err = flow.run().unwrap_err().to_string();
    assert!(err.contains("over the 64 KiB limit"), "{err}");
}

/// Hands over scripted batches, each with a completion that reports to a channel.
struct Scripted {
    batches: std::collections::VecDeque<(Vec<&'static str>, Vec<&'static str>)>,
    outcomes: std::sync::mpsc::Sender<BatchOutcome>,
}

impl Source for Scripted {
    fn label(&self) -> &str {
        "scripted"
    }
    fn poll(&mut self, _max: u32) -> Result<Polled, PluginError> {
        let Some((values, bad)) = self.batches.pop_front() else {
            return Ok(Polled::default());
        };
        let mut records = Batch::default();
        for v in values {
            records.push(None, Some(v.as_bytes()), &[]).unwrap();
        }
        let tx = self.outcomes.clone();
        Ok(Polled {
            records,
            undecodable: bad
                .into_iter()
                .map(|b| Undecodable {
                    record: crate::record::OwnedRecord {
                        value: Some(b.as_bytes().to_vec()),
                        ..Default::default()
                    },
                    reason: "not JSON".into(),
                })
                .collect(),
            completion: Some(Completion::new(move |o| {
                let _ = tx.send(o);
            })),
            ..Polled::default()
        })
    }
    fn committed(&mut self, _position: &[u8]) -> Result<(), PluginError> {
        Ok(())
    }
    fn reopen_at(&mut self, _position: Option<Vec<u8>>) {}
    fn plugin(&self) -> Option<&Plugin> {
        None
    }
}

/// `a|b` emits `a` and `b`; `drop` emits nothing; `bad` is rejected; the
/// rest pass.
struct Split;

impl Transform for Split {
    fn process(&mut self, input: Batch) -> (Batch, Result<Transformed, PluginError>) {
        let mut output = Batch::default();
        let mut outcomes = Vec::new();
        for r in input.iter() {
            let v = std::str::from_utf8(r.value().unwrap_or_default()).unwrap();
            let start = output.len() as u32;
            match v {
                "bad" => outcomes.push(Outcome::Reject("bad record".into())),
                "drop" => outcomes.push(Outcome::Emit { start, count: 0 }),
                _ => {
                    let parts: Vec<&str> = v.split('|').collect();
                    for p in &parts {
                        output.push(None, Some(p.as_bytes()), &[]).unwrap();
                    }
                    outcomes.push(Outcome::Emit {
                        start,
                        count: parts.len() as u32,
                    });
                }
            }
        }
        (input, Ok(Transformed { output, outcomes }))
    }
    fn digest(&self) -> &str {
        "split"
    }
}

fn scripted_rig(
    batches: Vec<(Vec<&'static str>, Vec<&'static str>)>,
    policy: ErrorPolicy,
    auto_ack: bool,
) -> (Rig, std::sync::mpsc::Receiver<BatchOutcome>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut r = rig(
        0,
        10,
        vec![Box::new(Split)],
        policy,
        auto_ack,
        Duration::from_secs(1),
    );
    let flow = r.flow.take().unwrap();
    let (flow, handle) = Flow::new(FlowParts {
        name: "t".into(),
        source: Box::new(Scripted {
            batches: batches.into(),
            outcomes: tx,
        }),
        stages: vec![Stage::new(
            StageId::Transform(0),
            "split".into(),
            Box::new(Split),
        )],
        sink: flow.sink,
        store: None,
        resume: None,
        policy,
        dead_letter_topic: (policy == ErrorPolicy::DeadLetter).then(|| "dlq".to_string()),
        sink_topic: "out".into(),
        events: flow.events,
        options: flow.options,
    });
    r.flow = Some(flow);
    r.handle = handle;
    (r, rx)
}

#[test]
fn a_completion_says_what_became_of_each_source_record() {
    let (r, rx) = scripted_rig(
        vec![(vec!["x", "a|b", "drop", "bad", "too-large", "y"], vec![])],
        ErrorPolicy::Skip,
        true,
    );
    r.sink.refuse_value(b"too-large");
    let mut r = r.start();
    let o = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(o.end, BatchEnd::Resolved);
    assert_eq!(o.records.len(), 6);
    let offsets =
        |i: usize| -> Vec<i64> { o.records[i].delivered.iter().map(|d| d.offset).collect() };
    assert_eq!(offsets(0), [0], "x: the first record in the sink");
    assert_eq!(offsets(1), [1, 2], "a|b: two outputs, both delivered");
    assert!(o.records[2].filtered(), "drop");
    assert_eq!(o.records[3].failed[0].stage, StageId::Transform(0));
    assert_eq!(o.records[3].failed[0].reason, "bad record");
    assert!(!o.records[3].failed[0].dead_lettered);
    assert_eq!(
        o.records[4].failed[0].stage,
        StageId::Sink,
        "refused by Kafka, skipped"
    );
    assert_eq!(offsets(5), [3]);
    assert_eq!(o.records[5].delivered[0].topic, "out");
    r.handle.cancel.store(true, Ordering::Relaxed);
    r.join().unwrap();
}

#[test]
fn a_completion_waits_for_acknowledgements_and_dead_letters() {
    let (r, rx) = scripted_rig(
        vec![(vec!["bad", "ok"], vec!["{not json"])],
        ErrorPolicy::DeadLetter,
        false,
    );
    let mut r = r.start();
    r.wait("sent", |r| r.sink.sent().len() == 3);
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "nothing acknowledged yet"
    );
    r.sink.ack_all();
    let o = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(o.end, BatchEnd::Resolved);
    assert!(o.records[0].failed[0].dead_lettered);
    assert_eq!(o.records[1].delivered.len(), 1);
    assert_eq!(
        r.sink.values("dlq").len(),
        2,
        "the reject and the undecodable record"
    );
    r.handle.cancel.store(true, Ordering::Relaxed);
    r.join().unwrap();
}

#[test]
fn a_completion_hears_when_the_pipeline_stops_first() {
    let (r, rx) = scripted_rig(vec![(vec!["x"], vec![])], ErrorPolicy::Skip, false);
    let mut r = r.start();
    r.wait("sent", |r| r.sink.sent().len() == 1);
    r.handle.cancel.store(true, Ordering::Relaxed);
    let _ = r.join(); // unacknowledged after the grace period: an error
    let o = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(matches!(o.end, BatchEnd::Stopped(_)), "{o:?}");
}

#[test]
fn a_failing_batch_completes_as_stopped_with_the_error() {
    let (r, rx) = scripted_rig(vec![(vec!["bad"], vec![])], ErrorPolicy::Fail, true);
    let mut r = r.start();
    let o = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    match o.end {
        BatchEnd::Stopped(reason) => assert!(reason.contains("rejected record 0"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(r.join().is_err());
}
