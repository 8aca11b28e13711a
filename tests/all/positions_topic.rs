//! Positions in a Kafka topic that already exists, on real Kafka: a
//! 3-partition compacted topic holds the position in the partition the
//! pipeline's name maps to (murmur2, as the Java client; checked against
//! librdkafka's own murmur2 partitioner through kcat), a restart resumes
//! from it (checked with Kafka's console consumer), a topic that is not
//! compacted is refused, and a position write gives up when the broker
//! stops answering instead of holding shutdown up.

use std::process::Command;
use std::time::{Duration, Instant};

use sluice::position::{KAFKA_WRITE_TIMEOUT, PositionStore, PositionsTopicError, StateError};

use crate::common::kafka::{ConsumeOptions, KafkaCluster, shared_single};
use crate::common::{Running, plugin, sluice_run};

const WAIT: Duration = Duration::from_secs(120);

fn pipeline(
    dir: &std::path::Path,
    name: &str,
    brokers: &str,
    positions: &str,
    count: u64,
) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "name: {name}\nsource:\n  plugin: {}\n  config: {{ count: {count}, rate: 300, seed: 4 }}\nsink:\n  kafka:\n    brokers: \"{brokers}\"\n    topic: {name}\n    acks: all\npositions:\n  kafka_topic: {positions}\n",
            plugin("orders").display()
        ),
    )
    .unwrap();
    file
}

/// The partition librdkafka's murmur2 partitioner (the Java client's
/// algorithm) picks for `key` among 3, found by producing a probe with kcat.
fn murmur2_partition_by_kcat(kafka: &KafkaCluster, key: &str) -> i32 {
    let probe = format!("murmur2-probe-{key}");
    kafka.create_topic(&probe, 3, 1, &[]).unwrap();
    let mut child = Command::new("kcat")
        .args(["-P", "-b", kafka.bootstrap(), "-t", &probe, "-K", "\t"])
        .args(["-X", "partitioner=murmur2_random"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("kcat is installed (make tools)");
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{key}\tprobe").unwrap();
    assert!(child.wait().unwrap().success());
    let records = kafka
        .consume_all(&probe, 1, Duration::from_secs(30))
        .unwrap();
    records[0].partition
}

/// Whether kcat sees a record keyed `key` among the first of `topic` (a
/// quick poll: `-c 1` ends it at the first record, `-e` on an empty topic).
fn kcat_has_key(kafka: &KafkaCluster, topic: &str, key: &str) -> bool {
    let out = Command::new("kcat")
        .args([
            "-C",
            "-b",
            kafka.bootstrap(),
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-c",
            "1",
        ])
        .args(["-f", "%k\n"])
        .output()
        .expect("kcat is installed (make tools)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l == key)
}

/// Records of `topic` keyed `key`, read with Kafka's console consumer.
fn records_keyed(kafka: &KafkaCluster, topic: &str, key: &str) -> Vec<(i32, serde_json::Value)> {
    let options = ConsumeOptions {
        idle_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    kafka
        .consume(topic, &options)
        .unwrap()
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(key))
        .map(|r| (r.partition, r.value_json().unwrap()))
        .collect()
}

/// Order ids of the records in `topic`, which must hold exactly `count`.
fn ids(kafka: &KafkaCluster, topic: &str, count: usize) -> Vec<u64> {
    kafka
        .consume_exactly(topic, count, Duration::from_secs(10))
        .unwrap()
        .iter()
        .map(|r| r.value_json().unwrap()["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_three_partition_compacted_topic_resumes_from_the_committed_position() {
    let kafka = shared_single().unwrap();
    // murmur2 maps this name to partition 1 of 3; librdkafka's default
    // (crc32) partitioner maps it to 2, and partition 0 holds nothing: only
    // writing and reading the murmur2 partition finds the position again.
    let name = "positions-three";
    let positions = "sluice-positions-3p";
    kafka
        .create_topic(positions, 3, 1, &[("cleanup.policy", "compact")])
        .unwrap();
    let expected_partition = murmur2_partition_by_kcat(kafka, name);
    assert_eq!(
        expected_partition,
        sluice::position::partition_for(name.as_bytes(), 3)
    );
    const COUNT: u64 = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), name, kafka.bootstrap(), positions, COUNT);

    // First run: stop with SIGTERM once a position is in the topic.
    let r = Running::spawn(sluice_run(&file, dir.path(), 3600));
    let deadline = Instant::now() + WAIT;
    while !kcat_has_key(kafka, positions, name) {
        assert!(
            Instant::now() < deadline,
            "no position committed within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(r.terminate().success(), "a clean stop exits 0");
    let stored = records_keyed(kafka, positions, name);
    assert!(
        stored.iter().all(|(p, _)| *p == expected_partition),
        "every position record is in partition {expected_partition}: {stored:?}"
    );
    let (_, last) = stored.last().unwrap();
    assert_eq!(last["pipeline"], name);
    let acknowledged = last["acknowledged"].as_u64().unwrap();
    assert!(
        (1..COUNT).contains(&acknowledged),
        "stopped mid-stream, after {acknowledged} of {COUNT}"
    );
    assert!(
        !dir.path().join(format!("{name}.position.json")).exists(),
        "no state file: the topic holds the position"
    );

    // Second run: resumes there and finishes; every id once, in order.
    let out = sluice_run(&file, dir.path(), 3600).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ids(kafka, name, COUNT as usize),
        (1..=COUNT).collect::<Vec<_>>(),
        "resumed at the committed position: 0 missing, 0 duplicated"
    );
}

#[test]
fn a_topic_that_is_not_compacted_is_refused() {
    let kafka = shared_single().unwrap();
    for (topic, policy) in [
        ("sluice-positions-delete", "delete"),
        ("sluice-positions-compact-delete", "compact,delete"),
    ] {
        kafka
            .create_topic(topic, 3, 1, &[("cleanup.policy", policy)])
            .unwrap();
        match PositionStore::kafka(kafka.bootstrap(), topic, "refused") {
            Err(StateError::PositionsTopic(PositionsTopicError::NotCompacted {
                topic: t,
                policy: p,
                ..
            })) => assert_eq!((t.as_str(), p.as_str()), (topic, policy)),
            Err(e) => panic!("{topic}: refused for another reason: {e}"),
            Ok(_) => panic!("{topic} ({policy}) was accepted"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "refused-positions",
        kafka.bootstrap(),
        "sluice-positions-delete",
        10,
    );
    let check = crate::common::sluice()
        .args(["check", "--kafka"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(1),
        "`sluice check --kafka` fails too"
    );
    let out = sluice_run(&file, dir.path(), 3600).output().unwrap();
    assert!(
        !out.status.success(),
        "a pipeline on a non-compacted positions topic does not run"
    );
}

#[test]
fn a_missing_topic_is_created_compacted() {
    let kafka = shared_single().unwrap();
    let topic = "sluice-positions-created";
    let store = PositionStore::kafka(kafka.bootstrap(), topic, "created").unwrap();
    store.commit(b"7", 1).unwrap();
    assert_eq!(store.load().unwrap(), Some(b"7".to_vec()));
    let info = sluice::position::inspect_positions_topic(
        kafka.bootstrap(),
        topic,
        Duration::from_secs(30),
    )
    .unwrap()
    .unwrap();
    assert!(info.is_compacted(), "{info:?}");
}

#[test]
fn a_position_write_gives_up_when_the_broker_stops_answering() {
    // A cluster of its own: this test freezes its broker.
    let kafka = KafkaCluster::start_single().unwrap();
    let store =
        PositionStore::kafka(kafka.bootstrap(), "sluice-positions-frozen", "frozen").unwrap();
    store.commit(b"1", 1).unwrap();
    kafka.pause(1).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(store.commit(b"2", 2).map_err(|e| e.to_string()));
    });
    // Generous: the write itself gives up after KAFKA_WRITE_TIMEOUT.
    let result = rx.recv_timeout(KAFKA_WRITE_TIMEOUT * 4);
    kafka.resume(1).unwrap();
    match result {
        Ok(Err(e)) => assert!(e.contains("position not written"), "{e}"),
        Ok(Ok(())) => panic!("a frozen broker acknowledged a write"),
        Err(_) => panic!(
            "the write was still waiting after {:?}",
            KAFKA_WRITE_TIMEOUT * 4
        ),
    }
}
