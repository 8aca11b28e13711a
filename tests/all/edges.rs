//! The promises at the edges (issue 11): records Kafka refuses follow
//! `errors:`, plugins write only where they may, a reload is never reverted,
//! pipeline-file edits end with what is on disk, and a stop is bounded in
//! every case. Delivery is checked on real Kafka with Kafka's own console
//! consumer; file handling on the embedded demo cluster.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::kafka::{ConsumedRecord, KafkaCluster, shared_single};
use crate::common::{Running, is, plugin, sluice_run};
use crate::reload::{replace, variant};

const WAIT: Duration = Duration::from_secs(60);
const COUNT: u64 = 200;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    file
}

/// orders (`COUNT` records) → tamper (every 10th record) → `topic`.
fn tampered(
    dir: &Path,
    name: &str,
    brokers: &str,
    tamper: &str,
    errors: &str,
    producer: &str,
) -> PathBuf {
    write(
        dir,
        name,
        &format!(
            "name: {name}\n{errors}source:\n  plugin: {}\n  config: {{ count: {COUNT}, rate: 0, seed: 4 }}\ntransforms:\n  - plugin: {}\n    config: {{ every: 10, {tamper} }}\nsink:\n  kafka:\n    brokers: {brokers}\n    topic: {name}\n    acks: all\n    producer: {{ {producer} }}\n",
            plugin("orders").display(),
            plugin("tamper").display(),
        ),
    )
}

fn ids(records: &[ConsumedRecord]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r.value_json().unwrap()["id"].as_u64().unwrap())
        .collect()
}

fn untampered() -> Vec<u64> {
    (1..=COUNT).filter(|i| i % 10 != 0).collect()
}

fn finished(run: &mut Running, name: &str) -> serde_json::Value {
    let stopped = run.wait_kind("pipeline_stopped", name, WAIT);
    assert_eq!(stopped["reason"], "finished", "{stopped}");
    stopped
}

/// Item 2: a record over `message.max.bytes` is refused inside librdkafka's
/// `send`; under `skip` it is counted and the pipeline goes on (it used to
/// stop the pipeline whatever the policy, for good).
#[test]
fn records_too_large_for_kafka_are_skipped_under_skip() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-large-skip";
    let file = tampered(
        dir.path(),
        name,
        kafka.bootstrap(),
        "bytes: 30000",
        "errors: skip\n",
        "message.max.bytes: 20000",
    );
    let mut run = Running::spawn(sluice_run(&file, dir.path(), 3600));
    let stopped = finished(&mut run, name);
    assert_eq!(stopped["position"], "201", "{stopped}");
    assert_eq!(stopped["skipped"], 20, "{stopped}");
    let got = kafka
        .consume_exactly(name, 180, Duration::from_secs(5))
        .unwrap();
    assert_eq!(ids(&got), untampered());
    assert!(run.terminate().success());
}

/// Item 2: under `dead-letter` a record too large for Kafka goes to the
/// dead-letter topic, cut to fit, with its original size in a header.
#[test]
fn records_too_large_for_kafka_are_dead_lettered_cut_to_fit() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-large-dlq";
    let file = tampered(
        dir.path(),
        name,
        kafka.bootstrap(),
        "bytes: 30000",
        "errors: dead-letter\ndead_letter: { topic: edges-large-dlq.dlq }\n",
        "message.max.bytes: 20000",
    );
    let mut run = Running::spawn(sluice_run(&file, dir.path(), 3600));
    let stopped = finished(&mut run, name);
    assert_eq!(stopped["position"], "201", "{stopped}");
    assert_eq!(stopped["dead_lettered"], 20, "{stopped}");
    let got = kafka
        .consume_exactly(name, 180, Duration::from_secs(5))
        .unwrap();
    assert_eq!(ids(&got), untampered());
    let dead = kafka
        .consume_exactly("edges-large-dlq.dlq", 20, Duration::from_secs(5))
        .unwrap();
    for d in &dead {
        assert_eq!(d.header("sluice.stage"), Some("sink"), "{d:?}");
        assert_eq!(d.header("sluice.original.size"), Some("30000"), "{d:?}");
        assert!(
            d.header("sluice.error").unwrap().contains("too large"),
            "{d:?}"
        );
        let value = &d.value;
        assert!(value.len() < 20_000, "cut to fit: {} bytes", value.len());
        assert!(
            value.starts_with(r#"{"id":"#),
            "the start of the value is kept"
        );
    }
    assert!(run.terminate().success());
}

/// Item 2: under `fail` the pipeline stops with the record named, without
/// waiting out the grace period for a batch that can never complete.
#[test]
fn a_record_too_large_stops_a_fail_pipeline_without_waiting_out_the_grace_period() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-large-fail";
    let file = tampered(
        dir.path(),
        name,
        kafka.bootstrap(),
        "bytes: 30000",
        "",
        "message.max.bytes: 20000",
    );
    let mut cmd = sluice_run(&file, dir.path(), 3600);
    cmd.args(["--grace-secs", "600"]);
    let mut run = Running::spawn(cmd);
    // WAIT is a tenth of the grace period.
    let stopped = run.wait_kind("pipeline_stopped", name, WAIT);
    assert_eq!(stopped["reason"], "failed", "{stopped}");
    let error = stopped["error"].as_str().unwrap();
    assert!(
        error.contains("Kafka refused a record") && error.contains("too large"),
        "{error}"
    );
    let status = run.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        !dir.path().join(format!("{name}.position.json")).exists(),
        "nothing committed past the refused record"
    );
}

/// Item 2: a partition override naming a partition that does not exist is
/// the record's fault: skipped under `skip`.
#[test]
fn an_invalid_partition_override_is_skipped_under_skip() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-partition";
    kafka.create_topic(name, 1, 1, &[]).unwrap();
    let file = tampered(
        dir.path(),
        name,
        kafka.bootstrap(),
        "partition: 99",
        "errors: skip\n",
        "",
    );
    let mut run = Running::spawn(sluice_run(&file, dir.path(), 3600));
    let stopped = finished(&mut run, name);
    assert_eq!(stopped["skipped"], 20, "{stopped}");
    let got = kafka
        .consume_exactly(name, 180, Duration::from_secs(5))
        .unwrap();
    assert_eq!(ids(&got), untampered());
    assert!(run.terminate().success());
}

/// Item 4: a plugin's topic override may name only the topics the pipeline
/// allows; a refused one follows `errors:` with a reason naming the topic.
#[test]
fn a_topic_override_the_pipeline_does_not_allow_is_dead_lettered() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-override";
    let file = tampered(
        dir.path(),
        name,
        kafka.bootstrap(),
        "topic: edges-override.dlq",
        "errors: dead-letter\ndead_letter: { topic: edges-override.dlq }\n",
        "",
    );
    let mut run = Running::spawn(sluice_run(&file, dir.path(), 3600));
    finished(&mut run, name);
    let got = kafka
        .consume_exactly(name, 180, Duration::from_secs(5))
        .unwrap();
    assert_eq!(ids(&got), untampered());
    // The plugin aimed at the dead-letter topic itself: what arrives there
    // are dead letters saying so, not the plugin's records.
    let dead = kafka
        .consume_exactly("edges-override.dlq", 20, Duration::from_secs(5))
        .unwrap();
    for d in &dead {
        let error = d.header("sluice.error").unwrap();
        assert!(
            error.contains(
                "topic override `edges-override.dlq` names the pipeline's dead-letter topic"
            ),
            "{error}"
        );
        assert_eq!(
            d.header("sluice.original.topic"),
            Some("edges-override.dlq")
        );
    }
    assert!(run.terminate().success());
}

/// Item 10: a source swap drains what is in flight; under `dead-letter` that
/// includes sending the pending dead letters, not freezing for the grace period.
#[test]
fn a_source_swap_under_dead_letter_sends_its_dead_letters_and_completes() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-swap-dlq";
    let source = dir.path().join("orders.wasm");
    let orders = std::fs::read(plugin("orders")).unwrap();
    std::fs::write(&source, &orders).unwrap();
    let file = write(
        dir.path(),
        name,
        &format!(
            "name: {name}\nerrors: dead-letter\ndead_letter: {{ topic: {name}.dlq }}\nsource:\n  plugin: {}\n  config: {{ count: 0, rate: 2000, seed: 4 }}\ntransforms:\n  - plugin: {}\n    config: {{ every: 10, bytes: 30000 }}\nsink:\n  kafka:\n    brokers: {}\n    topic: {name}\n    acks: all\n    producer: {{ message.max.bytes: 20000 }}\n",
            source.display(),
            plugin("tamper").display(),
            kafka.bootstrap()
        ),
    );
    let mut cmd = sluice_run(&file, dir.path(), 3600);
    cmd.args(["--grace-secs", "600"]);
    let mut run = Running::spawn(cmd);
    run.wait_kind("commit", name, WAIT);
    replace(&source, &variant(&orders, "v2"));
    // WAIT is a tenth of the grace period the swap used to freeze for.
    let ok = run.wait_event("the source swap", WAIT, |e| {
        is(e, "reload", name) && e["stage"] == "source"
    });
    assert_eq!(ok["outcome"], "ok", "{ok}");
    assert!(run.terminate().success());
}

/// Item 7: compiled plugins are cached by content: a pipeline rebuilt after a
/// hot reload runs the bytes on disk now, not the version it started with.
#[test]
fn a_rebuild_after_a_reload_runs_the_bytes_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let tag = dir.path().join("tag.wasm");
    let v1 = std::fs::read(plugin("version-tag-v1")).unwrap();
    let v2 = std::fs::read(plugin("version-tag-v2")).unwrap();
    std::fs::write(&tag, &v1).unwrap();
    let text = |rate: u32| {
        format!(
            "name: edges-cache\nsource:\n  plugin: {}\n  config: {{ count: 0, rate: {rate} }}\ntransforms:\n  - plugin: {}\n    config: {{ version: from-config }}\nsink:\n  kafka:\n    topic: edges-cache\n    acks: leader\n",
            plugin("orders").display(),
            tag.display()
        )
    };
    let file = write(dir.path(), "edges-cache", &text(100));
    let mut cmd = sluice_run(&file, dir.path(), 3600);
    cmd.env_remove("KAFKA_BROKERS");
    let mut run = Running::spawn(cmd);
    run.wait_kind("pipeline_running", "edges-cache", WAIT);
    replace(&tag, &v2);
    let ok = run.wait_kind("reload", "edges-cache", WAIT);
    let v2_digest = sluice::supervisor::digest(&v2);
    assert_eq!(ok["outcome"], "ok", "{ok}");
    assert_eq!(ok["new_digest"], v2_digest.as_str());
    // Any change to the pipeline file rebuilds the pipeline.
    std::fs::write(&file, text(200)).unwrap();
    let running = run.wait_kind("pipeline_running", "edges-cache", WAIT);
    assert_eq!(
        running["plugins"][1]["digest"],
        v2_digest.as_str(),
        "the rebuilt pipeline runs v2: {running}"
    );
    assert!(run.terminate().success());
}

/// Item 7: a source reload that fails (here: in-flight records not
/// acknowledged within the grace period while the broker is stopped) does
/// not record the new bytes as seen, so the next event retries them.
#[test]
fn a_failed_source_reload_is_retried_with_the_same_bytes() {
    let kafka = KafkaCluster::start_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-source-retry";
    let source = dir.path().join("orders.wasm");
    let orders = std::fs::read(plugin("orders")).unwrap();
    std::fs::write(&source, &orders).unwrap();
    kafka.create_topic(name, 1, 1, &[]).unwrap();
    let file = write(
        dir.path(),
        name,
        &format!(
            "name: {name}\nsource:\n  plugin: {}\n  config: {{ count: 0, rate: 500 }}\nsink:\n  kafka:\n    brokers: {}\n    topic: {name}\n    acks: all\n",
            source.display(),
            kafka.bootstrap()
        ),
    );
    let mut cmd = sluice_run(&file, dir.path(), 3600);
    cmd.args(["--grace-secs", "3"]);
    let mut run = Running::spawn(cmd);
    run.wait_kind("commit", name, WAIT);
    kafka.pause(1).unwrap();
    let new = variant(&orders, "v2");
    replace(&source, &new);
    let failed = run.wait_kind("reload", name, WAIT);
    assert_eq!(failed["outcome"], "failed", "{failed}");
    kafka.resume(1).unwrap();
    // The same bytes again: a new event, and this time the drain succeeds.
    replace(&source, &new);
    let ok = run.wait_kind("reload", name, WAIT);
    assert_eq!(ok["outcome"], "ok", "{ok}");
    assert_eq!(ok["new_digest"], failed["new_digest"]);
    assert!(run.terminate().success());
}

fn embedded_run(path: &Path, state: &Path) -> Running {
    let mut cmd = sluice_run(path, state, 3600);
    cmd.env_remove("KAFKA_BROKERS").args(["--grace-secs", "10"]);
    Running::spawn(cmd)
}

/// A pipeline whose every batch takes about a second (a transform blocked
/// until its deadline, skipped): it stops slowly, so edits land while it does.
fn slow(dir: &Path, name: &str, topic: &str) -> PathBuf {
    write(
        dir,
        name,
        &format!(
            "name: {name}\nerrors: skip\nsource:\n  plugin: {}\n  config: {{ count: 0, rate: 50 }}\ntransforms:\n  - plugin: {}\n    limits: {{ call_timeout_ms: 1000, max_consecutive_failures: 1000000 }}\nsink:\n  kafka:\n    topic: {topic}\n    acks: leader\n",
            plugin("orders").display(),
            plugin("hostile-sleep").display(),
        ),
    )
}

/// Item 8: A → B → A edits, and a remove then re-add, end with what the
/// file on disk says, even when the edits land while the pipeline stops.
#[test]
fn pipeline_file_edits_end_with_the_content_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    let a = slow(&pipelines, "edges-edit", "topic-a");
    let text_a = std::fs::read_to_string(&a).unwrap();
    let mut run = embedded_run(&pipelines, dir.path());
    run.wait_kind("pipeline_running", "edges-edit", WAIT);

    slow(&pipelines, "edges-edit", "topic-b");
    run.wait_kind("pipeline_changed", "edges-edit", WAIT);
    std::fs::write(&a, &text_a).unwrap();
    loop {
        let running = run.wait_kind("pipeline_running", "edges-edit", WAIT);
        if running["topic"] == "topic-a" {
            break;
        }
    }

    std::fs::remove_file(&a).unwrap();
    run.wait_kind("pipeline_removed", "edges-edit", WAIT);
    std::fs::write(&a, &text_a).unwrap();
    let running = run.wait_kind("pipeline_running", "edges-edit", WAIT);
    assert_eq!(running["topic"], "topic-a", "{running}");
    assert!(run.terminate().success());
}

/// Item 8: a file added at run time with a name already running is refused
/// with both paths; the running pipeline is untouched.
#[test]
fn a_new_file_cannot_take_a_running_pipeline_s_name() {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    let first = slow(&pipelines, "edges-dup", "topic-a");
    let mut run = embedded_run(&pipelines, dir.path());
    run.wait_kind("pipeline_running", "edges-dup", WAIT);
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(
        pipelines.join("another.yaml"),
        text.replace("topic-a", "topic-b"),
    )
    .unwrap();
    let refused = run.wait_event("the duplicate refused", WAIT, |e| {
        e["event"] == "pipeline_file_invalid"
    });
    let error = refused["error"].as_str().unwrap();
    assert!(
        refused["file"].as_str().unwrap().ends_with("another.yaml"),
        "{refused}"
    );
    assert!(
        error.contains("edges-dup.yaml"),
        "names the running file: {error}"
    );
    assert!(
        !run.events
            .iter()
            .any(|e| is(e, "pipeline_changed", "edges-dup")
                || is(e, "pipeline_stopped", "edges-dup")),
        "{:#?}",
        run.events
    );
    assert!(run.terminate().success());
}

/// Item 8: with several directories, an error in one stops only the
/// pipelines from that directory.
#[test]
fn an_error_in_one_directory_stops_only_its_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    slow(&one, "edges-one", "topic-one");
    let gone = slow(&two, "edges-two", "topic-two");
    let mut cmd = crate::common::sluice();
    cmd.arg("run")
        .arg(&one)
        .arg(&two)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["--events", "json", "--grace-secs", "10"])
        .env_remove("KAFKA_BROKERS");
    let mut run = Running::spawn(cmd);
    for name in ["edges-one", "edges-two"] {
        run.wait_seen(name, WAIT, |e| is(e, "pipeline_running", name));
    }
    // `two` now holds no pipeline file: an error for that directory.
    std::fs::remove_file(&gone).unwrap();
    run.wait_kind("pipeline_removed", "edges-two", WAIT);
    run.wait_kind("pipeline_stopped", "edges-two", WAIT);
    // A sentinel edit in `one` shows the supervisor went on; `edges-one` was never stopped.
    std::fs::write(one.join("note.txt"), "x").unwrap();
    assert!(
        !run.events.iter().any(|e| {
            e["pipeline"] == "edges-one"
                && ["pipeline_removed", "pipeline_stopped", "pipeline_changed"]
                    .contains(&e["event"].as_str().unwrap_or_default())
        }),
        "{:#?}",
        run.events
    );
    assert!(run.terminate().success());
}

/// Waits up to `bound` for `run` to exit; panics when it does not.
fn exits_within(run: &mut Running, bound: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = run.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "still running {bound:?} after the signal:\n{}",
            run.seen.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(run: &Running, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(run.child.id().to_string())
        .status();
}

/// The stop margin after the grace period (supervisor::STOP_MARGIN) and some slack.
const MARGIN: Duration = Duration::from_secs(15);

/// Item 9: SIGTERM exits within the grace period when the broker is stuck,
/// when a source swap is draining, and a second signal exits at once.
#[test]
fn a_stop_is_bounded_with_a_stuck_broker() {
    let kafka = KafkaCluster::start_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-stuck";
    kafka.create_topic(name, 1, 1, &[]).unwrap();
    let source = dir.path().join("orders.wasm");
    let orders = std::fs::read(plugin("orders")).unwrap();
    std::fs::write(&source, &orders).unwrap();
    let file = write(
        dir.path(),
        name,
        &format!(
            "name: {name}\nsource:\n  plugin: {}\n  config: {{ count: 0, rate: 1000 }}\nsink:\n  kafka:\n    brokers: {}\n    topic: {name}\n    acks: all\n",
            source.display(),
            kafka.bootstrap()
        ),
    );
    let start = |state: &Path| {
        let mut cmd = sluice_run(&file, state, 3600);
        cmd.args(["--grace-secs", "3"]);
        let mut run = Running::spawn(cmd);
        run.wait_kind("commit", name, WAIT);
        run
    };
    let grace = Duration::from_secs(3);

    // A stuck broker: in-flight records cannot be acknowledged.
    let mut run = start(dir.path());
    kafka.pause(1).unwrap();
    signal(&run, "TERM");
    let status = exits_within(&mut run, grace + MARGIN);
    assert_eq!(
        status.code(),
        Some(1),
        "records left unacknowledged: not a clean stop"
    );
    kafka.resume(1).unwrap();

    // A source swap draining when the signal comes.
    let mut run = start(dir.path());
    kafka.pause(1).unwrap();
    replace(&source, &variant(&orders, "draining"));
    run.wait_kind("pipeline_state", name, WAIT);
    signal(&run, "TERM");
    exits_within(&mut run, grace + MARGIN);
    kafka.resume(1).unwrap();

    // A second signal exits at once.
    let mut run = start(dir.path());
    kafka.pause(1).unwrap();
    signal(&run, "TERM");
    run.wait_event("the stop", WAIT, |e| e["event"] == "shutdown_requested");
    signal(&run, "TERM");
    let status = exits_within(&mut run, Duration::from_secs(2));
    assert_eq!(status.code(), Some(130));
    kafka.resume(1).unwrap();
}

/// Item 9: a plugin whose `open` blocks on a granted socket (a host call no
/// deadline interrupts) holds neither the signal loop nor the exit.
#[test]
fn a_stop_is_bounded_while_a_plugin_open_blocks() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    // Accepts and never writes.
    let _held = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "edges-blocked",
        &format!(
            "name: edges-blocked\nsource:\n  plugin: {}\n  config: {{ count: 0, rate: 10 }}\ntransforms:\n  - plugin: {}\n    config: {{ address: \"{address}\" }}\n    grants: {{ network: [\"{address}\"] }}\nsink:\n  kafka:\n    topic: edges-blocked\n    acks: leader\n",
            plugin("orders").display(),
            plugin("block-on-open").display(),
        ),
    );
    let mut cmd = sluice_run(&file, dir.path(), 3600);
    cmd.env_remove("KAFKA_BROKERS").args(["--grace-secs", "2"]);
    let mut run = Running::spawn(cmd);
    run.wait_kind("pipeline_starting", "edges-blocked", WAIT);
    // The build is stuck in open(); the supervisor still answers the signal.
    signal(&run, "TERM");
    run.wait_event("the stop", WAIT, |e| e["event"] == "shutdown_requested");
    exits_within(&mut run, Duration::from_secs(2) + MARGIN);
    let mut rest = String::new();
    if let Some(mut err) = run.child.stderr.take() {
        let _ = err.read_to_string(&mut rest);
    }
}

/// Item 4: a topic listed in `topics_allowed` is a valid override.
#[test]
fn a_topic_override_listed_in_topics_allowed_is_delivered_there() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-allowed";
    let file = tampered(
        dir.path(),
        name,
        kafka.bootstrap(),
        "topic: edges-allowed.other",
        "",
        "",
    );
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "    acks: all\n",
        "    acks: all\n    topics_allowed: [edges-allowed.other]\n",
    );
    std::fs::write(&file, text).unwrap();
    let mut run = Running::spawn(sluice_run(&file, dir.path(), 3600));
    finished(&mut run, name);
    let main = kafka
        .consume_exactly(name, 180, Duration::from_secs(5))
        .unwrap();
    assert_eq!(ids(&main), untampered());
    let other = kafka
        .consume_exactly("edges-allowed.other", 20, Duration::from_secs(5))
        .unwrap();
    assert_eq!(ids(&other), (1..=20).map(|i| i * 10).collect::<Vec<_>>());
    assert!(run.terminate().success());
}

/// Item 1 on real Kafka: records that time out while the broker is stopped
/// were not refused by Kafka; under `errors: skip` they are resent, never
/// skipped. Read back with Kafka's console consumer: every id is there.
#[test]
fn records_that_time_out_are_resent_under_skip_on_real_kafka() {
    let kafka = KafkaCluster::start_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "edges-timeout-skip";
    const TOTAL: u64 = 6_000;
    kafka.create_topic(name, 1, 1, &[]).unwrap();
    let file = write(
        dir.path(),
        name,
        &format!(
            "name: {name}\nerrors: skip\nsource:\n  plugin: {}\n  config: {{ count: {TOTAL}, rate: 1000, seed: 2 }}\nsink:\n  kafka:\n    brokers: {}\n    topic: {name}\n    acks: all\n    producer: {{ message.timeout.ms: 2000, request.timeout.ms: 1000 }}\n",
            plugin("orders").display(),
            kafka.bootstrap()
        ),
    );
    let mut run = Running::spawn(sluice_run(&file, dir.path(), 3600));
    run.wait_kind("commit", name, WAIT);
    kafka.pause(1).unwrap();
    // Queued records time out (message.timeout.ms 2000): the producer is
    // rebuilt and they are sent again from the committed position.
    run.wait_kind("producer_rebuilt", name, WAIT);
    kafka.resume(1).unwrap();
    let stopped = run.wait_event("the end", Duration::from_secs(180), |e| {
        is(e, "pipeline_stopped", name) && e["reason"] == "finished"
    });
    assert_eq!(stopped["skipped"], 0, "nothing skipped: {stopped}");
    let got = kafka
        .consume(
            name,
            &crate::common::kafka::ConsumeOptions {
                from_beginning: true,
                idle_timeout: Duration::from_secs(15),
                deadline: Some(Duration::from_secs(120)),
                ..Default::default()
            },
        )
        .unwrap();
    let mut unique = ids(&got);
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique,
        (1..=TOTAL).collect::<Vec<_>>(),
        "nothing lost ({} read, duplicates allowed)",
        got.len()
    );
    assert!(run.terminate().success());
}
