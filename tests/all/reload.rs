//! Hot reload under load, on a real Kafka node: plugin swaps lose, duplicate
//! and reorder nothing; bad files leave the running version in place; a burst
//! of writes reloads once; ConfigMap-style symlink swaps work; a source swap
//! resumes without a gap; pipeline files start, stop and rebuild pipelines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::kafka::{ConsumedRecord, shared_single};
use crate::common::{Running, plugin, sluice_run};

const WAIT: Duration = Duration::from_secs(60);

/// `bytes` with a custom section appended: a valid component with another digest.
pub(crate) fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let name = b"sluice-test";
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(tag.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    leb(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

/// Replaces `path` atomically (write a temporary file, rename it over).
pub(crate) fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn pipeline(
    dir: &Path,
    name: &str,
    brokers: &str,
    source: &Path,
    count: u64,
    rate: u64,
    transform: &Path,
) -> PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "name: {name}\nsource:\n  plugin: {}\n  config: {{ count: {count}, rate: {rate}, seed: 5 }}\ntransforms:\n  - plugin: {}\n    config: {{ version: from-config }}\nsink:\n  kafka:\n    brokers: {brokers}\n    topic: {name}\n    acks: all\n",
            source.display(),
            transform.display()
        ),
    )
    .unwrap();
    file
}

fn start(file: &Path, state: &Path) -> Running {
    let mut run = Running::spawn(sluice_run(file, state, 3600));
    run.wait_event("pipeline_running", WAIT, |e| {
        e["event"] == "pipeline_running"
    });
    run
}

/// Waits for the next reload event of `pipeline`'s `stage` with `outcome`
/// (`ok`, `failed`, `rolled_back`).
fn reload(run: &mut Running, pipeline: &str, stage: &str, outcome: &str) -> serde_json::Value {
    run.wait_event(
        &format!("reload {outcome} of {pipeline} {stage}"),
        WAIT,
        |e| {
            crate::common::is(e, "reload", pipeline)
                && e["stage"] == stage
                && e["outcome"] == outcome
        },
    )
}

fn ids(records: &[ConsumedRecord]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r.value_json().unwrap()["id"].as_u64().unwrap())
        .collect()
}

/// Reads `topic` with Kafka's console consumer and asserts it holds ids
/// `1..=acknowledged`, each once and in order; returns the records.
fn delivered_once_in_order(
    kafka: &crate::common::kafka::KafkaCluster,
    topic: &str,
    acknowledged: u64,
    why: &str,
) -> Vec<ConsumedRecord> {
    let records = kafka
        .consume_exactly(topic, acknowledged as usize, Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        ids(&records),
        (1..=acknowledged).collect::<Vec<_>>(),
        "{why}"
    );
    records
}

/// Stops the pipeline and returns how many records it acknowledged in order (ids 1..=n).
fn stop_and_count(run: Running) -> u64 {
    let mut run = run;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(run.child.id().to_string())
        .status();
    let stopped = run.wait_event("pipeline_stopped", WAIT, |e| {
        e["event"] == "pipeline_stopped" && e["reason"] == "stopped"
    });
    let position: u64 = stopped["position"].as_str().unwrap().parse().unwrap();
    assert!(run.child.wait().unwrap().success());
    position - 1
}

#[test]
fn fifty_transform_swaps_under_load_lose_duplicate_and_reorder_nothing() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v1 = std::fs::read(plugin("version-tag-v1")).unwrap();
    let v2 = std::fs::read(plugin("version-tag-v2")).unwrap();
    let tag = dir.path().join("tag.wasm");
    std::fs::write(&tag, &v1).unwrap();
    kafka.create_topic("reload-swaps", 1, 1, &[]).unwrap();
    let file = pipeline(
        dir.path(),
        "reload-swaps",
        kafka.bootstrap(),
        &plugin("orders"),
        0,
        2000,
        &tag,
    );
    let mut run = start(&file, dir.path());
    for swap in 0..50 {
        replace(&tag, if swap % 2 == 0 { &v2 } else { &v1 });
        reload(&mut run, "reload-swaps", "transform 1", "ok");
    }
    let acknowledged = stop_and_count(run);
    let records = delivered_once_in_order(
        kafka,
        "reload-swaps",
        acknowledged,
        "every record once, in order",
    );
    let versions: Vec<&str> = records
        .iter()
        .map(|r| {
            let tags: Vec<_> = r.headers.iter().filter(|(n, _)| n == "version").collect();
            assert_eq!(
                tags.len(),
                1,
                "exactly one version processed record {:?}",
                r.value
            );
            tags[0].1.as_str()
        })
        .collect();
    assert!(
        versions.iter().all(|v| *v == "v1" || *v == "v2"),
        "{:?}",
        versions.iter().find(|v| **v != "v1" && **v != "v2")
    );
    let changes = versions.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        changes <= 50,
        "at most one version change per swap: {changes}"
    );
    assert!(
        changes >= 10,
        "swaps took effect under load: {changes} version changes over {acknowledged} records"
    );
}

#[test]
fn a_corrupt_file_keeps_the_old_version_and_a_good_file_later_is_loaded() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v1 = std::fs::read(plugin("version-tag-v1")).unwrap();
    let v2 = std::fs::read(plugin("version-tag-v2")).unwrap();
    let tag = dir.path().join("tag.wasm");
    std::fs::write(&tag, &v1).unwrap();
    let file = pipeline(
        dir.path(),
        "reload-corrupt",
        kafka.bootstrap(),
        &plugin("orders"),
        0,
        500,
        &tag,
    );
    let mut run = start(&file, dir.path());
    replace(&tag, &v2[..v2.len() / 2]);
    let v1_digest = sluice::supervisor::digest(&v1);
    let failed = reload(&mut run, "reload-corrupt", "transform 1", "failed");
    assert_eq!(
        failed["old_digest"],
        v1_digest.as_str(),
        "v1 keeps running: {failed}"
    );
    replace(&tag, &plugin_bytes("wrong-world"));
    let wrong = reload(&mut run, "reload-corrupt", "transform 1", "failed");
    assert!(
        wrong["reason"]
            .as_str()
            .unwrap()
            .contains("missing export `sluice:plugin/transformer@0.2.0`"),
        "{wrong}"
    );
    replace(&tag, &v2);
    reload(&mut run, "reload-corrupt", "transform 1", "ok");
    let acknowledged = stop_and_count(run);
    let records = delivered_once_in_order(
        kafka,
        "reload-corrupt",
        acknowledged,
        "every acknowledged record once, in order",
    );
    // The failed files changed nothing: v1 ran until the good file, then v2 (if
    // a batch went through it before the stop), never v1 again.
    let versions: Vec<_> = records
        .iter()
        .map(|r| r.header("version").unwrap_or("none"))
        .collect();
    let first_v2 = versions
        .iter()
        .position(|v| *v == "v2")
        .unwrap_or(versions.len());
    assert!(
        versions[..first_v2].iter().all(|v| *v == "v1"),
        "{versions:?}"
    );
    assert!(
        versions[first_v2..].iter().all(|v| *v == "v2"),
        "{versions:?}"
    );
}

fn plugin_bytes(name: &str) -> Vec<u8> {
    std::fs::read(plugin(name)).unwrap()
}

#[test]
fn a_hundred_rapid_writes_coalesce_and_the_final_content_wins() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v1 = plugin_bytes("version-tag-v1");
    let tag = dir.path().join("tag.wasm");
    std::fs::write(&tag, &v1).unwrap();
    let file = pipeline(
        dir.path(),
        "reload-burst",
        kafka.bootstrap(),
        &plugin("orders"),
        0,
        200,
        &tag,
    );
    let mut run = start(&file, dir.path());
    let finale = variant(&plugin_bytes("version-tag-v2"), "final");
    for i in 0..100 {
        // Plain overwrites, as an editor or `cp` does: half-written states exist.
        let bytes = if i == 99 {
            finale.clone()
        } else {
            variant(&v1, &format!("draft-{i}"))
        };
        std::fs::write(&tag, bytes).unwrap();
    }
    // The debounce waits for the directory to be quiet. On a loaded machine a
    // pause inside the burst may let a draft through; what must hold is that
    // the burst coalesces into a few reloads and the last one loads the final
    // content. Without the debounce every write would be a reload (and most
    // would read a half-written file).
    let final_digest = sluice::supervisor::digest(&finale);
    run.wait_event("the reload of the final content", WAIT, |e| {
        crate::common::is(e, "reload", "reload-burst")
            && e["outcome"] == "ok"
            && e["new_digest"] == final_digest.as_str()
    });
    let burst: Vec<_> = run
        .events
        .iter()
        .filter(|e| e["event"] == "reload")
        .cloned()
        .collect();
    assert!(
        burst.len() <= 10,
        "a hundred writes coalesce into a few reloads: {burst:#?}"
    );
    // A sentinel reload: no reload of the burst arrives after the final one.
    replace(&tag, &v1);
    run.wait_event("the sentinel reload", WAIT, |e| {
        e["event"] == "reload" && e["old_digest"] == final_digest.as_str()
    });
    let reloads = run.events.iter().filter(|e| e["event"] == "reload").count();
    assert_eq!(
        reloads,
        burst.len() + 1,
        "nothing of the burst reloads after its final content: {:#?}",
        run.events
    );
    stop_and_count(run);
}

#[test]
fn a_configmap_style_symlink_swap_reloads() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("plugins");
    std::fs::create_dir_all(mount.join("..2026_11_28_v1")).unwrap();
    std::fs::write(
        mount.join("..2026_11_28_v1/tag.wasm"),
        plugin_bytes("version-tag-v1"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..2026_11_28_v1", mount.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/tag.wasm", mount.join("tag.wasm")).unwrap();
    let file = pipeline(
        dir.path(),
        "reload-configmap",
        kafka.bootstrap(),
        &plugin("orders"),
        0,
        200,
        &mount.join("tag.wasm"),
    );
    let mut run = start(&file, dir.path());
    // What the kubelet does: a new timestamped dir, a temporary link, an atomic rename.
    std::fs::create_dir_all(mount.join("..2026_11_28_v2")).unwrap();
    std::fs::write(
        mount.join("..2026_11_28_v2/tag.wasm"),
        plugin_bytes("version-tag-v2"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..2026_11_28_v2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..2026_11_28_v1")).unwrap();
    reload(&mut run, "reload-configmap", "transform 1", "ok");
    let acknowledged = stop_and_count(run);
    delivered_once_in_order(
        kafka,
        "reload-configmap",
        acknowledged,
        "every acknowledged record once, in order",
    );
}

#[test]
fn a_source_swap_resumes_without_a_gap() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let orders = plugin_bytes("orders");
    let source = dir.path().join("orders.wasm");
    std::fs::write(&source, &orders).unwrap();
    let file = pipeline(
        dir.path(),
        "reload-source",
        kafka.bootstrap(),
        &source,
        0,
        1000,
        &plugin("version-tag-v1"),
    );
    let mut run = start(&file, dir.path());
    for i in 0..3 {
        replace(&source, &variant(&orders, &format!("v{i}")));
        let ok = reload(&mut run, "reload-source", "source", "ok");
        assert!(ok["resumed_from"].is_string(), "{ok}");
    }
    let acknowledged = stop_and_count(run);

    delivered_once_in_order(kafka, "reload-source", acknowledged, "no gap, no duplicate");
}

#[test]
fn pipeline_files_start_stop_and_rebuild_only_their_pipeline() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    let tag = plugin("version-tag-v1");
    pipeline(
        &pipelines,
        "files-a",
        kafka.bootstrap(),
        &plugin("orders"),
        0,
        100,
        &tag,
    );
    let mut run = Running::spawn(sluice_run(&pipelines, dir.path(), 3600));
    run.wait_kind("pipeline_running", "files-a", WAIT);

    let b = pipeline(
        &pipelines,
        "files-b",
        kafka.bootstrap(),
        &plugin("orders"),
        0,
        100,
        &tag,
    );
    run.wait_kind("pipeline_running", "files-b", WAIT);

    std::fs::write(&b, "name: files-b\nsource: [\n").unwrap();
    let kept = run.wait_event("an invalid file", WAIT, |e| {
        e["event"] == "pipeline_file_invalid"
    });
    assert!(
        kept["file"].as_str().unwrap().ends_with("files-b.yaml"),
        "{kept}"
    );
    assert_eq!(
        kept["running_kept"], true,
        "the running version keeps running: {kept}"
    );

    pipeline(
        &pipelines,
        "files-b",
        kafka.bootstrap(),
        &plugin("orders"),
        0,
        300,
        &tag,
    );
    run.wait_kind("pipeline_changed", "files-b", WAIT);
    run.wait_kind("pipeline_stopped", "files-b", WAIT);
    run.wait_kind("pipeline_running", "files-b", WAIT);

    std::fs::remove_file(&b).unwrap();
    run.wait_kind("pipeline_removed", "files-b", WAIT);
    run.wait_kind("pipeline_stopped", "files-b", WAIT);
    assert!(
        !run.events.iter().any(|e| e["pipeline"] == "files-a"
            && ["pipeline_stopped", "pipeline_changed", "pipeline_removed"]
                .contains(&e["event"].as_str().unwrap_or_default())),
        "files-a was never touched: {:#?}",
        run.events
    );
    stop_and_count(run);
}

#[test]
fn a_new_version_that_traps_on_its_first_batch_is_rolled_back_without_loss() {
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage.wasm");
    std::fs::write(&stage, plugin_bytes("passthrough")).unwrap();
    let file = dir.path().join("reload-rollback.yaml");
    std::fs::write(
        &file,
        format!(
            "name: reload-rollback\nsource:\n  plugin: {}\n  config: {{ count: 0, rate: 1000, seed: 5 }}\ntransforms:\n  - plugin: {}\nsink:\n  kafka:\n    brokers: {}\n    topic: reload-rollback\n    acks: all\n",
            plugin("orders").display(),
            stage.display(),
            kafka.bootstrap()
        ),
    )
    .unwrap();
    let mut run = start(&file, dir.path());
    // Opens fine, then overflows its stack on every batch.
    replace(&stage, &plugin_bytes("hostile-recursion"));
    let ok = reload(&mut run, "reload-rollback", "transform 1", "ok");
    let rolled = reload(&mut run, "reload-rollback", "transform 1", "rolled_back");
    assert_eq!(
        rolled["new_digest"], ok["new_digest"],
        "the new version was rolled back: {rolled}"
    );
    assert_eq!(
        rolled["old_digest"], ok["old_digest"],
        "back to the old one: {rolled}"
    );
    let acknowledged = stop_and_count(run);
    delivered_once_in_order(
        kafka,
        "reload-rollback",
        acknowledged,
        "the failed batch was processed again by the old version",
    );
}
