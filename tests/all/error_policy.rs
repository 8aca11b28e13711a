//! Error policies on a real Kafka node: a transform rejects every 10th
//! record, and `fail`, `skip` and `dead-letter` do what the README says. The
//! records and dead letters are read back with Kafka's console consumer.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::common::kafka::shared_single;
use crate::common::{events_in, plugin, sluice, sluice_run};

const COUNT: u64 = 100;

fn write_pipeline(
    dir: &Path,
    name: &str,
    brokers: &str,
    errors: &str,
    extra: &str,
) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    let text = format!(
        "name: {name}\nerrors: {errors}\n{extra}source:\n  plugin: {}\n  config: {{ count: {COUNT}, rate: 0, seed: 3 }}\ntransforms:\n  - plugin: {}\n    config: {{ n: 10 }}\nsink:\n  kafka:\n    brokers: {brokers}\n    topic: {name}\n    acks: all\n    key: id\n",
        plugin("orders").display(),
        plugin("reject-every").display(),
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn run(file: &Path, state: &Path) -> Output {
    sluice_run(file, state, 3600).output().unwrap()
}

/// The `pipeline_stopped` event in a run's output.
fn stopped(out: &Output) -> serde_json::Value {
    let events = events_in(&out.stdout);
    events
        .iter()
        .find(|e| e["event"] == "pipeline_stopped")
        .cloned()
        .unwrap_or_else(|| panic!("no pipeline_stopped event: {events:?}"))
}

fn ids(records: &[crate::common::kafka::ConsumedRecord]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r.value_json().unwrap()["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn fail_stops_at_the_first_rejected_record_and_commits_nothing_past_it() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_pipeline(dir.path(), "policy-fail", kafka.bootstrap(), "fail", "");
    let out = run(&file, dir.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stopped = stopped(&out);
    assert_eq!(stopped["reason"], "failed", "{stopped}");
    let error = stopped["error"].as_str().unwrap();
    assert!(
        error.contains("transform 1 (reject-every.wasm) rejected record 9 of a batch"),
        "{error}"
    );
    assert!(error.contains("id 10 is divisible by 10"), "{error}");
    assert!(error.contains("set `errors: skip`"), "{error}");
    assert!(
        !dir.path().join("policy-fail.position.json").exists(),
        "no position committed past a rejected record"
    );
}

#[test]
fn skip_drops_exactly_the_rejected_records() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_pipeline(dir.path(), "policy-skip", kafka.bootstrap(), "skip", "");
    let out = run(&file, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = kafka
        .consume_exactly("policy-skip", 90, Duration::from_secs(5))
        .unwrap();
    let want: Vec<u64> = (1..=COUNT).filter(|i| i % 10 != 0).collect();
    assert_eq!(ids(&got), want);
}

#[test]
fn dead_letter_sends_exactly_the_rejected_records_with_headers() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_pipeline(
        dir.path(),
        "policy-dlq",
        kafka.bootstrap(),
        "dead-letter",
        "dead_letter: { topic: policy-dlq.dlq }\n",
    );
    let out = run(&file, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stopped = stopped(&out);
    assert_eq!(stopped["reason"], "finished", "{stopped}");
    assert_eq!(
        stopped["acknowledged"], 100,
        "90 records and 10 dead letters: {stopped}"
    );

    let main = kafka
        .consume_exactly("policy-dlq", 90, Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        ids(&main),
        (1..=COUNT).filter(|i| i % 10 != 0).collect::<Vec<_>>()
    );
    let dead = kafka
        .consume_exactly("policy-dlq.dlq", 10, Duration::from_secs(5))
        .unwrap();
    assert_eq!(ids(&dead), (1..=10).map(|i| i * 10).collect::<Vec<_>>());
    for d in &dead {
        let id = d.value_json().unwrap()["id"].as_u64().unwrap();
        assert_eq!(d.header("sluice.pipeline"), Some("policy-dlq"));
        assert_eq!(d.header("sluice.stage"), Some("transform 1"));
        assert_eq!(d.header("sluice.plugin"), Some("reject-every.wasm"));
        assert_eq!(
            d.header("sluice.error"),
            Some(format!("id {id} is divisible by 10").as_str())
        );
        assert_eq!(d.header("sluice.original.topic"), Some("policy-dlq"));
        let at: u128 = d.header("sluice.time").unwrap().parse().unwrap();
        assert!(at > 1_700_000_000_000, "{at}");
        assert_eq!(
            d.header("source"),
            Some("orders"),
            "the original headers are kept"
        );
    }
    let state = std::fs::read_to_string(dir.path().join("policy-dlq.position.json")).unwrap();
    assert!(
        state.contains(
            &"101"
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
        "{state}"
    );
}

#[test]
fn dead_letter_with_acks_none_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_pipeline(
        dir.path(),
        "policy-none",
        "127.0.0.1:9",
        "dead-letter",
        "dead_letter: { topic: x.dlq }\n",
    );
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("acks: all", "acks: none");
    std::fs::write(&file, text).unwrap();
    let out = sluice().arg("check").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains("`errors: dead-letter` with `acks: none` contradicts itself"),
        "{stdout}"
    );
}
