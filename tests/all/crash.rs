//! Restart safety on a real Kafka node: kill -9 mid-stream loses no
//! acknowledged record (duplicates only from the unacknowledged tail);
//! SIGTERM drains and commits, so a restart neither loses nor repeats; bad
//! state files are refused and left untouched.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::kafka::shared_single;
use crate::common::{Running, events_in, plugin, sluice_run};

const WAIT: Duration = Duration::from_secs(90);

fn pipeline(dir: &Path, name: &str, brokers: &str, count: u64, rate: u64) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "name: {name}\nsource:\n  plugin: {}\n  config: {{ count: {count}, rate: {rate}, seed: 9 }}\nsink:\n  kafka:\n    brokers: {brokers}\n    topic: {name}\n    acks: all\n",
            plugin("orders").display()
        ),
    )
    .unwrap();
    file
}

fn run(file: &Path, state: &Path) -> Running {
    Running::spawn(sluice_run(file, state, 3600))
}

/// Runs a pipeline that must refuse to start; returns why.
fn refused(file: &Path, state: &Path) -> String {
    let out = sluice_run(file, state, 3600).output().unwrap();
    assert!(!out.status.success());
    let events = events_in(&out.stdout);
    let not_started = events
        .iter()
        .find(|e| e["event"] == "pipeline_not_started")
        .unwrap_or_else(|| panic!("no pipeline_not_started event in {events:?}"));
    not_started["error"].as_str().unwrap().to_string()
}

/// Waits until `name` stops with `reason` (`finished`, `stopped`, `failed`).
fn wait_stopped(r: &mut Running, name: &str, reason: &str) -> serde_json::Value {
    r.wait_event(&format!("{name} {reason}"), WAIT, |e| {
        crate::common::is(e, "pipeline_stopped", name) && e["reason"] == reason
    })
}

/// The committed position (next id) in the state file, 1 when none yet.
fn committed(state: &Path, name: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(state.join(format!("{name}.position.json"))) else {
        return 1;
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let bytes: Vec<u8> = (0..v["position"].as_str().unwrap().len() / 2)
        .map(|i| {
            u8::from_str_radix(&v["position"].as_str().unwrap()[2 * i..2 * i + 2], 16).unwrap()
        })
        .collect();
    String::from_utf8(bytes).unwrap().parse().unwrap()
}

/// Polls the state file until its position reaches `at_least`.
fn wait_committed(state: &Path, name: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let p = committed(state, name);
        if p >= at_least {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "position stuck at {p}, wanted {at_least}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every record of `topic` (at least `at_least`, duplicates included), by id.
fn ids(kafka: &crate::common::kafka::KafkaCluster, topic: &str, at_least: usize) -> Vec<u64> {
    let options = crate::common::kafka::ConsumeOptions {
        idle_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let records = kafka.consume(topic, &options).unwrap();
    assert!(
        records.len() >= at_least,
        "only {} of {at_least} records",
        records.len()
    );
    records
        .iter()
        .map(|r| r.value_json().unwrap()["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn kill_9_mid_stream_loses_no_acknowledged_record() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "crash-kill";
    const COUNT: u64 = 20_000;
    kafka.create_topic(name, 1, 1, &[]).unwrap();
    let file = pipeline(dir.path(), name, kafka.bootstrap(), COUNT, 4000);
    let mut kills = Vec::new();
    for target in [3_000, 9_000, 15_000] {
        let mut r = run(&file, dir.path());
        r.wait_kind("pipeline_running", name, WAIT);
        wait_committed(dir.path(), name, target);
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(r.child.id().to_string())
            .status();
        r.child.wait().unwrap();
        kills.push(committed(dir.path(), name));
    }
    let mut r = run(&file, dir.path());
    wait_stopped(&mut r, name, "finished");
    assert!(r.terminate().success());

    let got = ids(kafka, name, COUNT as usize);
    let duplicated = got.len() as u64 - COUNT;
    let mut seen = std::collections::BTreeMap::<u64, u32>::new();
    for id in &got {
        *seen.entry(*id).or_default() += 1;
    }
    let missing: Vec<u64> = (1..=COUNT).filter(|id| !seen.contains_key(id)).collect();
    let duplicates: Vec<u64> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    println!(
        "kill -9: {} records, {} kills at committed positions {kills:?}, {} missing, {} duplicated",
        COUNT,
        kills.len(),
        missing.len(),
        duplicated
    );
    assert!(
        missing.is_empty(),
        "acknowledged records lost: {:?}",
        &missing[..missing.len().min(20)]
    );
    // Replays come only from the unacknowledged tail after a kill's committed position.
    for id in &duplicates {
        assert!(
            kills.iter().any(|k| *id >= *k && *id < k + 4000),
            "duplicate {id} is not in a replayed tail {kills:?}"
        );
    }
    // Order per partition: ids only go down where a restart replays its tail.
    let restarts = got.windows(2).filter(|w| w[1] <= w[0]).count();
    assert!(
        restarts <= kills.len(),
        "ids went backwards {restarts} times for {} kills",
        kills.len()
    );
}

#[test]
fn sigterm_then_restart_neither_loses_nor_repeats() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "crash-term";
    const COUNT: u64 = 6_000;
    let file = pipeline(dir.path(), name, kafka.bootstrap(), COUNT, 3000);
    for target in [1_000, 3_000] {
        let mut r = run(&file, dir.path());
        r.wait_kind("pipeline_running", name, WAIT);
        wait_committed(dir.path(), name, target);
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(r.child.id().to_string())
            .status();
        let stopped = wait_stopped(&mut r, name, "stopped");
        assert!(stopped["acknowledged"].as_u64().unwrap() > 0, "{stopped}");
        assert!(r.child.wait().unwrap().success(), "SIGTERM exits 0");
    }
    let mut r = run(&file, dir.path());
    wait_stopped(&mut r, name, "finished");
    assert!(r.terminate().success());
    let got = ids(kafka, name, COUNT as usize);
    assert_eq!(
        got,
        (1..=COUNT).collect::<Vec<_>>(),
        "0 missing, 0 duplicates, in order"
    );
}

#[test]
fn a_corrupt_or_foreign_state_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), "state-a", "127.0.0.1:9", 10, 0);
    let state = dir.path().join("state-a.position.json");

    std::fs::write(&state, "{ not json").unwrap();
    let error = refused(&file, dir.path());
    assert!(
        error.contains("state-a.position.json: state file is corrupt"),
        "{error}"
    );
    assert!(error.contains("move it away"), "{error}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{ not json",
        "nothing overwritten"
    );

    let foreign = r#"{"version":1,"pipeline":"state-b","position":"3432","acknowledged":41}"#;
    std::fs::write(&state, foreign).unwrap();
    let error = refused(&file, dir.path());
    assert!(
        error.contains("belongs to pipeline `state-b`, not `state-a`"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        foreign,
        "nothing overwritten"
    );
}

#[test]
fn positions_in_a_compacted_topic_survive_a_restart() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "crash-topic-positions";
    const COUNT: u64 = 4_000;
    let file = pipeline(dir.path(), name, kafka.bootstrap(), COUNT, 2000);
    let text = std::fs::read_to_string(&file).unwrap()
        + "positions:\n  kafka_topic: sluice-positions-test\n";
    std::fs::write(&file, text).unwrap();
    let mut r = Running::spawn(sluice_run(&file, dir.path(), 1));
    // Stop only once a position has been committed.
    r.wait_kind("commit", name, WAIT);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(r.child.id().to_string())
        .status();
    let stopped = wait_stopped(&mut r, name, "stopped");
    assert!(r.child.wait().unwrap().success());
    assert!(
        !dir.path().join(format!("{name}.position.json")).exists(),
        "no state file: the topic holds the position"
    );
    let position: u64 = stopped["position"].as_str().unwrap().parse().unwrap();
    assert!(position > 1, "{stopped}");
    let stored = kafka
        .consume_all("sluice-positions-test", 1, Duration::from_secs(10))
        .unwrap();
    assert!(
        stored.iter().any(|r| r.key.as_deref() == Some(name)),
        "{stored:?}"
    );

    let mut r = run(&file, dir.path());
    wait_stopped(&mut r, name, "finished");
    assert!(r.terminate().success());
    let got = ids(kafka, name, COUNT as usize);
    assert_eq!(
        got,
        (1..=COUNT).collect::<Vec<_>>(),
        "resumed at the stored position: 0 missing, 0 duplicates"
    );
}
