//! Client-side faults injected with librdkafka's mock cluster (it ignores acks
//! and has no replication, so these tests are about the client path, not
//! durability): retriable request errors, a broker down for a while, records
//! that time out. No record may be lost, and no position may be committed
//! before its records are acknowledged.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::sync::Arc;

use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use sluice::events::Events;
use sluice::flow::{FlowOptions, Summary};
use sluice::position::Watermark;
use sluice::sink::ProducerPool;
use sluice::supervisor::{BuildContext, PluginCache, Target, build};

use crate::common::{cache_dir, kcat_read, plugin};

#[allow(clippy::too_many_arguments)] // one argument per pipeline-file field under test
fn pipeline_file(
    dir: &Path,
    name: &str,
    brokers: &str,
    count: u64,
    rate: u64,
    acks: &str,
    errors: &str,
    producer: &str,
) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "name: {name}\nerrors: {errors}\nsource:\n  plugin: {}\n  config: {{ count: {count}, rate: {rate}, seed: 11 }}\nsink:\n  kafka:\n    brokers: {brokers}\n    topic: {name}\n    acks: {acks}\n    producer: {{ {producer} }}\n",
            plugin("orders").display()
        ),
    )
    .unwrap();
    file
}

struct Started {
    handle: JoinHandle<anyhow::Result<Summary>>,
    tracker: Arc<Watermark>,
}

/// Builds and runs the pipeline in `file` in this process (the library API).
fn start(file: &Path, state: &Path, brokers: &str) -> Started {
    let p = sluice::spec::load_file(file).unwrap();
    let events = Events::new();
    let ctx = BuildContext {
        plugins: PluginCache::new(sluice::plugin::Runtime::new(Some(&cache_dir())).unwrap()),
        producers: Arc::new(ProducerPool::default()),
        ingest: sluice::source::IngestRegistry::new(&events),
        events,
        state_dir: state.to_path_buf(),
        options: FlowOptions {
            grace: Duration::from_secs(30),
            ..FlowOptions::default()
        },
    };
    let target = Target {
        brokers: brokers.to_string(),
        embedded: false,
    };
    let built = build(&p, &target, &ctx).unwrap();
    let tracker = built.handle.watermark.clone();
    let handle = std::thread::spawn(move || built.flow.run());
    Started { handle, tracker }
}

fn ids(brokers: &str, topic: &str, count: usize) -> Vec<u64> {
    kcat_read(brokers, topic, count + 1)
        .iter()
        .map(|(_, v)| {
            serde_json::from_str::<serde_json::Value>(v).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn wait_acknowledged(tracker: &Watermark, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tracker.acknowledged() < at_least {
        assert!(
            Instant::now() < deadline,
            "only {} acknowledged",
            tracker.acknowledged()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn retriable_produce_errors_lose_and_duplicate_nothing() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    cluster.create_topic("faults-retry", 1, 1).unwrap();
    use RDKafkaRespErr::*;
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ],
    );
    let file = pipeline_file(
        dir.path(),
        "faults-retry",
        &brokers,
        5000,
        0,
        "all",
        "fail",
        "",
    );
    let s = start(&file, dir.path(), &brokers)
        .handle
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(s.acknowledged, 5000);
    assert_eq!(s.position.as_deref(), Some(&b"5001"[..]));
    assert_eq!(
        ids(&brokers, "faults-retry", 5000),
        (1..=5000).collect::<Vec<_>>()
    );
}

#[test]
fn a_broker_down_holds_the_position_until_records_are_acknowledged() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    cluster.create_topic("faults-down", 1, 1).unwrap();
    let file = pipeline_file(
        dir.path(),
        "faults-down",
        &brokers,
        6000,
        3000,
        "all",
        "fail",
        "",
    );
    let started = start(&file, dir.path(), &brokers);
    wait_acknowledged(&started.tracker, 1000);
    cluster.broker_down(1).unwrap();
    // Whatever was acknowledged before the broker went down, nothing more can be
    // while it is down, so the committable position must stand still.
    let frozen = started.tracker.committable();
    let acked = started.tracker.acknowledged();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert!(
            started.tracker.acknowledged() <= acked + 1000,
            "acknowledged while the broker was down"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = started.tracker.committable();
    let parse = |p: Option<Vec<u8>>| {
        p.map(|p| String::from_utf8(p).unwrap().parse::<u64>().unwrap())
            .unwrap_or(1)
    };
    assert!(
        parse(after.clone()) <= started.tracker.acknowledged() + 1,
        "position {after:?} ahead of acknowledgements"
    );
    cluster.broker_up(1).unwrap();
    let s = started.handle.join().unwrap().unwrap();
    assert!(parse(frozen) <= 6001);
    assert_eq!(s.acknowledged, 6000);
    assert_eq!(
        ids(&brokers, "faults-down", 6000),
        (1..=6000).collect::<Vec<_>>()
    );
}

#[test]
fn timed_out_records_stop_a_fail_pipeline_without_committing_them() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    cluster.create_topic("faults-timeout", 1, 1).unwrap();
    let file = pipeline_file(
        dir.path(),
        "faults-timeout",
        &brokers,
        100_000,
        2000,
        "leader",
        "fail",
        "message.timeout.ms: 1500",
    );
    let started = start(&file, dir.path(), &brokers);
    wait_acknowledged(&started.tracker, 500);
    cluster.broker_down(1).unwrap();
    let err = started.handle.join().unwrap().unwrap_err().to_string();
    assert!(err.contains("Kafka did not accept a record"), "{err}");
    assert!(err.contains("timed out"), "{err}");
    let committed = sluice::position::PositionStore::new(dir.path(), "faults-timeout")
        .load()
        .unwrap()
        .unwrap();
    let committed: u64 = String::from_utf8(committed).unwrap().parse().unwrap();
    cluster.broker_up(1).unwrap();
    let delivered = ids(&brokers, "faults-timeout", committed as usize);
    assert!(
        delivered.len() as u64 >= committed - 1,
        "every record before the committed position {committed} is in Kafka"
    );
    assert_eq!(
        delivered[..committed as usize - 1],
        (1..committed).collect::<Vec<_>>()[..]
    );
}

#[test]
fn a_fatal_producer_error_rebuilds_the_producer_and_loses_nothing() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    cluster.create_topic("faults-fatal", 1, 1).unwrap();
    let file = pipeline_file(
        dir.path(),
        "faults-fatal",
        &brokers,
        20_000,
        5000,
        "all",
        "fail",
        "",
    );
    let mut run = crate::common::Running::spawn(crate::common::sluice_run(&file, dir.path(), 3600));
    run.wait_kind("pipeline_running", "faults-fatal", Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    while sluice::position::PositionStore::new(dir.path(), "faults-fatal")
        .load()
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "no position committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // An out-of-order sequence breaks the idempotent producer for good.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER; 3],
    );
    let rebuilt = run.wait_kind("producer_rebuilt", "faults-fatal", Duration::from_secs(60));
    assert!(
        rebuilt["error"].as_str().unwrap().contains("fatal error"),
        "{rebuilt}"
    );
    let finished = run.wait_kind("pipeline_stopped", "faults-fatal", Duration::from_secs(120));
    assert_eq!(finished["reason"], "finished", "{finished}");
    let got = ids(&brokers, "faults-fatal", 30_000);
    let mut unique = got.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique,
        (1..=20_000).collect::<Vec<_>>(),
        "nothing lost ({} read, duplicates allowed)",
        got.len()
    );
    assert!(run.terminate().success());
}

/// Ids read back from `topic`, sorted, without duplicates (at-least-once
/// allows them), and how many were read in all.
fn unique_ids(brokers: &str, topic: &str, at_most: usize) -> (Vec<u64>, usize) {
    let got = ids(brokers, topic, at_most);
    let mut unique = got.clone();
    unique.sort_unstable();
    unique.dedup();
    (unique, got.len())
}

/// Issue 11, item 1: when the idempotent producer breaks, librdkafka fails
/// every queued and in-flight record. `errors: skip` used to forgive them and
/// commit past them: records lost. They are resent instead.
#[test]
fn skip_never_skips_records_a_fatal_producer_error_failed() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    cluster.create_topic("faults-fatal-skip", 1, 1).unwrap();
    let file = pipeline_file(
        dir.path(),
        "faults-fatal-skip",
        &brokers,
        20_000,
        5000,
        "all",
        "skip",
        "",
    );
    let mut run = crate::common::Running::spawn(crate::common::sluice_run(&file, dir.path(), 3600));
    run.wait_kind("commit", "faults-fatal-skip", Duration::from_secs(60));
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER; 3],
    );
    run.wait_kind(
        "producer_rebuilt",
        "faults-fatal-skip",
        Duration::from_secs(60),
    );
    let finished = run.wait_kind(
        "pipeline_stopped",
        "faults-fatal-skip",
        Duration::from_secs(120),
    );
    assert_eq!(finished["reason"], "finished", "{finished}");
    let (unique, read) = unique_ids(&brokers, "faults-fatal-skip", 40_000);
    assert_eq!(
        unique,
        (1..=20_000).collect::<Vec<_>>(),
        "nothing lost ({read} read, duplicates allowed)"
    );
    assert!(
        !run.events
            .iter()
            .any(|e| e["event"] == "batch" && e["report"]["skipped"].as_u64() > Some(0)),
        "nothing was skipped: Kafka refused no record"
    );
    assert!(run.terminate().success());
}

/// Issue 11, item 1: a delivery timeout is not Kafka refusing the record:
/// under `errors: skip` the records are resent, not skipped.
#[test]
fn timed_out_records_are_resent_under_skip() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    cluster.create_topic("faults-timeout-skip", 1, 1).unwrap();
    let file = pipeline_file(
        dir.path(),
        "faults-timeout-skip",
        &brokers,
        8_000,
        2000,
        "leader",
        "skip",
        "message.timeout.ms: 1000",
    );
    let mut run = crate::common::Running::spawn(crate::common::sluice_run(&file, dir.path(), 3600));
    run.wait_kind("commit", "faults-timeout-skip", Duration::from_secs(60));
    cluster.broker_down(1).unwrap();
    // Long enough for queued records to time out (message.timeout.ms 1000).
    run.wait_kind(
        "producer_rebuilt",
        "faults-timeout-skip",
        Duration::from_secs(60),
    );
    cluster.broker_up(1).unwrap();
    let finished = run.wait_kind(
        "pipeline_stopped",
        "faults-timeout-skip",
        Duration::from_secs(120),
    );
    assert_eq!(finished["reason"], "finished", "{finished}");
    let (unique, read) = unique_ids(&brokers, "faults-timeout-skip", 16_000);
    assert_eq!(
        unique,
        (1..=8_000).collect::<Vec<_>>(),
        "nothing lost ({read} read, duplicates allowed)"
    );
    assert!(run.terminate().success());
}
