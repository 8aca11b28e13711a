//! The built-in Kafka source on real Kafka: topic → mask → topic in a
//! consumer group. Kafka's own console consumer reads the results back.
//!
//! - at-least-once: every input record lands once in the output topic
//!   (masked), records mask rejects land in the dead-letter topic naming
//!   where they were read (`sluice.original.topic/partition/offset`), and
//!   the group's offsets are committed: a second run reads only what came
//!   after.
//! - exactly-once: the same through Kafka transactions, read back in
//!   `read_committed` mode; `sluice check` names the guarantee.
//!
//! The single node is the shared one of this test process; each test has
//! its own topics and group.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, ensure};

use crate::common::kafka::{ConsumeOptions, ConsumedRecord, KafkaCluster, shared_single};
use crate::common::{Running, plugin, sluice, sluice_run};

/// Records per test run.
const COUNT: usize = 3000;

/// Writes a topic → mask → topic pipeline file and returns its path.
#[allow(clippy::too_many_arguments)]
pub fn pipeline_file(
    dir: &Path,
    name: &str,
    brokers: &str,
    input: &str,
    output: &str,
    group: &str,
    extra: &str,
    source_extra: &str,
) -> PathBuf {
    let mask = format!(
        "transforms:\n  - plugin: {}\n    config: {{ field: email }}",
        plugin("mask").display()
    );
    pipeline_file_with(
        dir,
        name,
        brokers,
        input,
        output,
        group,
        extra,
        source_extra,
        &mask,
    )
}

/// [`pipeline_file`] with other transforms (a `transforms:` YAML block).
#[allow(clippy::too_many_arguments)]
pub fn pipeline_file_with(
    dir: &Path,
    name: &str,
    brokers: &str,
    input: &str,
    output: &str,
    group: &str,
    extra: &str,
    source_extra: &str,
    transforms: &str,
) -> PathBuf {
    let text = format!(
        "name: {name}\n{extra}source:\n  kafka:\n    topics: [{input}]\n    group: {group}\n{source_extra}TRANSFORMS\nerrors: dead-letter\ndead_letter: {{ topic: {output}.dlq }}\nsink:\n  kafka:\n    brokers: {brokers}\n    topic: {output}\n    acks: all\n",
    )
    .replace("TRANSFORMS", transforms);
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// `count` numbered JSON records from `from`, keyed by number, with an
/// e-mail to mask.
pub fn numbered(from: usize, count: usize) -> Vec<(String, String)> {
    (from..from + count)
        .map(|i| {
            (
                format!("k{i}"),
                format!(r#"{{"id":{i},"email":"user{i}@example.com"}}"#),
            )
        })
        .collect()
}

pub fn produce(k: &KafkaCluster, topic: &str, records: &[(String, String)]) -> Result<()> {
    let refs: Vec<(Option<&str>, &str)> = records
        .iter()
        .map(|(key, v)| (Some(key.as_str()), v.as_str()))
        .collect();
    for chunk in refs.chunks(50_000) {
        k.produce(topic, chunk)?;
    }
    Ok(())
}

/// Per id: how many times it is in `records` (masked values only).
pub fn counts(records: &[ConsumedRecord]) -> Result<BTreeMap<u64, u32>> {
    let mut out = BTreeMap::new();
    for r in records {
        let v = r.value_json()?;
        ensure!(v["email"] == "***", "not masked: {}", r.value);
        let id = v["id"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no id: {}", r.value))?;
        ensure!(
            r.key.as_deref() == Some(format!("k{id}").as_str()),
            "record {id} lost its key: {:?}",
            r.key
        );
        *out.entry(id).or_insert(0) += 1;
    }
    Ok(out)
}

fn run_until_acknowledged(path: &Path, pipeline: &str, acknowledged: usize) -> Running {
    let state = tempfile::tempdir().unwrap();
    let mut run = Running::spawn(sluice_run(path, state.path(), 60));
    run.wait_kind("pipeline_running", pipeline, Duration::from_secs(60));
    run.wait_event(
        &format!("a commit of {acknowledged} records"),
        Duration::from_secs(120),
        |e| e["event"] == "commit" && e["acknowledged"].as_u64() >= Some(acknowledged as u64),
    );
    run
}

#[test]
fn kafka_source_at_least_once_masks_topic_to_topic_and_commits_to_the_group() -> Result<()> {
    let k = shared_single()?;
    let (input, output) = ("ks-alo-in", "ks-alo-out");
    k.create_topic(input, 3, 1, &[])?;
    k.create_topic(output, 3, 1, &[])?;
    let mut records = numbered(0, COUNT);
    // Five records mask cannot read: dead-lettered, naming where they were read.
    for i in 0..5 {
        records.insert(i * 500, (format!("bad{i}"), format!("not json {i}")));
    }
    produce(k, input, &records)?;
    let dir = tempfile::tempdir()?;
    let path = pipeline_file(
        dir.path(),
        "ks-alo",
        k.bootstrap(),
        input,
        output,
        "ks-alo",
        "",
        "",
    );

    let run = run_until_acknowledged(&path, "ks-alo", COUNT + 5);
    let status = run.terminate();
    ensure!(status.success(), "sluice exited with {status}");

    let got = k.consume_exactly(output, COUNT, Duration::from_secs(5))?;
    let counts = counts(&got)?;
    ensure!(
        counts.len() == COUNT && counts.values().all(|&c| c == 1),
        "lost or duplicated records"
    );
    let dead = k.consume_exactly(&format!("{output}.dlq"), 5, Duration::from_secs(5))?;
    for d in &dead {
        ensure!(
            d.header("sluice.original.topic") == Some(input),
            "{:?}",
            d.headers
        );
        ensure!(
            d.header("sluice.stage") == Some("transform 1"),
            "{:?}",
            d.headers
        );
        let partition: i32 = d
            .header("sluice.original.partition")
            .unwrap_or("x")
            .parse()?;
        let offset: i64 = d.header("sluice.original.offset").unwrap_or("x").parse()?;
        ensure!(
            (0..3).contains(&partition) && offset >= 0,
            "{:?}",
            d.headers
        );
        ensure!(d.value.starts_with("not json"), "{}", d.value);
    }
    // Where the dead letters say the records were, they are.
    let originals = k.consume(
        input,
        &ConsumeOptions {
            max: Some(COUNT + 5),
            ..Default::default()
        },
    )?;
    for d in &dead {
        let (p, o): (i32, i64) = (
            d.header("sluice.original.partition")
                .unwrap_or("x")
                .parse()?,
            d.header("sluice.original.offset").unwrap_or("x").parse()?,
        );
        ensure!(
            originals
                .iter()
                .any(|r| r.partition == p && r.offset == o && r.value == d.value),
            "no record {}@{p}:{o} holds {}",
            input,
            d.value
        );
    }

    // The group's offsets were committed: a second run reads only what came after.
    produce(k, input, &numbered(COUNT, 100))?;
    let run = run_until_acknowledged(&path, "ks-alo", 100);
    let status = run.terminate();
    ensure!(status.success(), "sluice exited with {status}");
    let got = k.consume_exactly(output, COUNT + 100, Duration::from_secs(5))?;
    let counts = crate::kafka_source::counts(&got)?;
    ensure!(
        counts.len() == COUNT + 100 && counts.values().all(|&c| c == 1),
        "the second run read records the first one committed"
    );
    Ok(())
}

#[test]
fn kafka_source_exactly_once_topic_to_topic_read_committed() -> Result<()> {
    let k = shared_single()?;
    let (input, output) = ("ks-eos-in", "ks-eos-out");
    k.create_topic(input, 3, 1, &[])?;
    k.create_topic(output, 3, 1, &[])?;
    produce(k, input, &numbered(0, COUNT))?;
    let dir = tempfile::tempdir()?;
    let path = pipeline_file(
        dir.path(),
        "ks-eos",
        k.bootstrap(),
        input,
        output,
        "ks-eos",
        "exactly_once: true\n",
        "",
    );
    let check = sluice().arg("check").arg(&path).output()?;
    let text = String::from_utf8_lossy(&check.stdout);
    ensure!(
        check.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    ensure!(text.contains("exactly-once (Kafka transactions)"), "{text}");

    let run = run_until_acknowledged(&path, "ks-eos", COUNT);
    let status = run.terminate();
    ensure!(status.success(), "sluice exited with {status}");
    let got = k.consume(
        output,
        &ConsumeOptions {
            max: Some(COUNT + 1),
            idle_timeout: Duration::from_secs(5),
            read_committed: true,
            ..Default::default()
        },
    )?;
    let counts = counts(&got)?;
    ensure!(
        counts.len() == COUNT && counts.values().all(|&c| c == 1),
        "read_committed: {} distinct of {COUNT}, {} records",
        counts.len(),
        got.len()
    );
    Ok(())
}
