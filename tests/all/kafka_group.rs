//! Several `sluice` processes in one consumer group on the real 3-node
//! cluster (replication factor 3, `min.insync.replicas=2`), each test on a
//! cluster of its own: a 6-partition topic of 200,000 numbered records
//! → mask → a 6-partition topic, while one process is killed with
//! `kill -9` and restarted twice, one is stopped with SIGTERM and another
//! joins. Kafka's console consumer reads the output back (`read_committed`)
//! and every id is counted: lost, duplicated, and order per key.
//!
//! - at-least-once: 0 lost; duplicates counted and bounded by what was in
//!   flight at the kills;
//! - exactly-once: 0 lost, 0 duplicated, in order per key.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::common::kafka::{ConsumeOptions, ConsumedRecord, KafkaCluster};
use crate::common::{Running, sluice_run};
use crate::kafka_source::pipeline_file;

/// Input records.
const TOTAL: usize = 200_000;
/// Partitions of both topics.
const PARTITIONS: u32 = 6;
/// Produced in this many chunks while the group runs.
const CHUNKS: usize = 10;

/// Keys repeat (each key every `KEYS` records) so order per key is checked.
const KEYS: usize = 5_000;

/// `count` numbered records from `from`, keyed `k{id % KEYS}`.
fn numbered(from: usize, count: usize) -> Vec<(String, String)> {
    (from..from + count)
        .map(|i| {
            (
                format!("k{}", i % KEYS),
                format!(r#"{{"id":{i},"email":"user{i}@example.com"}}"#),
            )
        })
        .collect()
}

/// Whether `group` has committed the end offset of every partition of `topic`.
fn caught_up(bootstrap: &str, group: &str, topic: &str) -> Result<(bool, i64)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in 0..PARTITIONS as i32 {
        tpl.add_partition(topic, p);
        let (_, high) = c.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        ends.insert(p, high);
    }
    let committed = c.committed_offsets(tpl, Duration::from_secs(10))?;
    let mut behind = 0;
    for e in committed.elements() {
        let end = ends[&e.partition()];
        let at = match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        };
        behind += end - at;
    }
    Ok((behind == 0, behind))
}

/// The records `topic` holds (the sum over its partitions of end minus
/// start offsets; 0 for a topic that does not exist).
fn records_held(bootstrap: &str, topic: &str) -> Result<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let metadata = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut sum = 0;
    for t in metadata.topics() {
        for p in t.partitions() {
            let (low, high) = c.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            sum += high - low;
        }
    }
    Ok(sum)
}

fn wait_caught_up(k: &KafkaCluster, group: &str, topic: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let (done, behind) = caught_up(k.bootstrap(), group, topic)?;
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("group {group} still {behind} records behind on {topic} after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn start(path: &Path, state: &Path, instance: &str) -> Running {
    // Each process its own state directory, as sidecars have.
    let state = state.join(instance);
    std::fs::create_dir_all(&state).unwrap();
    let mut cmd = sluice_run(path, &state, 5);
    cmd.env("INSTANCE_ID", instance);
    let mut run = Running::spawn(cmd);
    run.wait_kind("pipeline_running", "group", Duration::from_secs(90));
    run
}

/// Waits until `run` has committed (or, under exactly-once, acknowledged) a
/// few more records: it is mid-stream.
fn wait_progress(run: &mut Running, records: u64) {
    run.wait_event("progress", Duration::from_secs(120), |e| {
        e["event"] == "commit" && e["acknowledged"].as_u64() >= Some(records)
    });
}

struct Counted {
    distinct: usize,
    duplicates: usize,
    out_of_order: usize,
    /// Records the reader handed over twice (same partition and offset).
    reread: usize,
    /// The first few duplicated ids and where (partition, offset) each copy is.
    duplicated: Vec<(u64, Vec<(i32, i64)>)>,
    /// Ids missing from the output, as `from..=to` ranges.
    missing: Vec<(u64, u64)>,
    /// Records in the dead-letter topic.
    dead_lettered: i64,
    /// `plugin_failure` events of every process, killed ones included.
    failures: Vec<String>,
}

impl Counted {
    /// Why records are missing, as far as the processes and topics tell.
    fn explain(&self) -> String {
        let ranges: Vec<String> = self
            .missing
            .iter()
            .take(8)
            .map(|(a, b)| format!("{a}..={b}"))
            .collect();
        format!(
            "{} records lost (ids {}{}); {} in the dead-letter topic; plugin failures: {:?}",
            TOTAL - self.distinct,
            ranges.join(", "),
            if self.missing.len() > 8 { ", …" } else { "" },
            self.dead_lettered,
            self.failures
        )
    }
}

fn count(records: &[ConsumedRecord], total: usize) -> Result<Counted> {
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let mut out_of_order = 0;
    let mut sorted: Vec<&ConsumedRecord> = records.iter().collect();
    sorted.sort_by_key(|r| (r.partition, r.offset));
    // A reader that rejoins its group may hand a record over twice: that
    // is the same record (same partition and offset), not a duplicate in
    // the topic.
    let before = sorted.len();
    sorted.dedup_by_key(|r| (r.partition, r.offset));
    let reread = before - sorted.len();
    let mut at: BTreeMap<u64, Vec<(i32, i64)>> = BTreeMap::new();
    for r in sorted {
        let v = r.value_json()?;
        ensure!(v["email"] == "***", "not masked: {}", r.value);
        let id = v["id"].as_u64().context("id")?;
        let key = format!("k{}", id as usize % KEYS);
        ensure!(
            r.key.as_deref() == Some(key.as_str()),
            "record {id} has key {:?}",
            r.key
        );
        let n = seen.entry(id).or_insert(0);
        *n += 1;
        at.entry(id).or_default().push((r.partition, r.offset));
        if *n == 1 {
            if last.get(&key).is_some_and(|&l| id < l) {
                out_of_order += 1;
            }
            last.insert(key, id);
        }
    }
    let mut missing: Vec<(u64, u64)> = Vec::new();
    for id in (0..total as u64).filter(|id| !seen.contains_key(id)) {
        match missing.last_mut() {
            Some((_, to)) if *to + 1 == id => *to = id,
            _ => missing.push((id, id)),
        }
    }
    let duplicated: Vec<(u64, Vec<(i32, i64)>)> = at
        .into_iter()
        .filter(|(_, places)| places.len() > 1)
        .take(5)
        .collect();
    Ok(Counted {
        distinct: seen.len(),
        duplicates: seen.values().map(|&c| c as usize - 1).sum(),
        out_of_order,
        reread,
        duplicated,
        missing,
        dead_lettered: 0,
        failures: Vec::new(),
    })
}

/// Runs the scenario; returns what the console consumer read.
fn scenario(exactly_once: bool) -> Result<Counted> {
    let k = KafkaCluster::start_cluster()?;
    let (input, output) = ("group-in", "group-out");
    k.create_topic(input, PARTITIONS, 3, &[])?;
    k.create_topic(output, PARTITIONS, 3, &[])?;
    let dir = tempfile::tempdir()?;
    let path = pipeline_file(
        dir.path(),
        "group",
        k.bootstrap(),
        input,
        output,
        "group",
        if exactly_once {
            "exactly_once: true\n"
        } else {
            ""
        },
        "    instance_id: ${INSTANCE_ID}\n    consumer: { session.timeout.ms: 6000, heartbeat.interval.ms: 1000 }\n",
    );
    let started = Instant::now();
    let bootstrap = k.bootstrap().to_string();
    let producer = std::thread::spawn(move || -> Result<()> {
        let k = KafkaClusterRef(bootstrap);
        for c in 0..CHUNKS {
            k.produce(input, &numbered(c * TOTAL / CHUNKS, TOTAL / CHUNKS))?;
        }
        Ok(())
    });
    let state = tempfile::tempdir()?;
    // Every event of every process, killed ones included, for the verdict.
    let mut history: Vec<Vec<serde_json::Value>> = Vec::new();
    let mut a = start(&path, state.path(), "a");
    let b = start(&path, state.path(), "b");
    let c = start(&path, state.path(), "c");
    for round in 0..2 {
        wait_progress(&mut a, 2_000);
        println!(
            "kill -9 of a (round {round}) at {:.1} s",
            started.elapsed().as_secs_f64()
        );
        history.push(a.kill_and_collect());
        a = start(&path, state.path(), "a");
    }
    wait_progress(&mut a, 2_000);
    println!("SIGTERM of b at {:.1} s", started.elapsed().as_secs_f64());
    history.push(std::mem::take(&mut stop("b", b)?.events));
    let d = start(&path, state.path(), "d");
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))??;
    println!(
        "all {TOTAL} produced at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut runs = [("a", a), ("c", c), ("d", d)];
    if let Err(e) = wait_caught_up(&k, "group", input, Duration::from_secs(180)) {
        show(&mut runs);
        return Err(e);
    }
    println!(
        "group caught up at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (name, run) in runs {
        history.push(std::mem::take(&mut stop(name, run)?.events));
    }
    // Without transactions the topic holds exactly its end offsets' worth
    // of records: read that many (a reader that stalls under load must not
    // look like loss). With them, markers and aborted records take offsets
    // too: read until idle.
    let input_held = records_held(k.bootstrap(), input)?;
    ensure!(
        input_held == TOTAL as i64,
        "the input topic holds {input_held} records, not {TOTAL}: its producer lost some"
    );
    let held = records_held(k.bootstrap(), output)?;
    let got = k.consume(
        output,
        &ConsumeOptions {
            max: (!exactly_once).then_some(held as usize),
            idle_timeout: Duration::from_secs(if exactly_once { 20 } else { 60 }),
            deadline: Some(Duration::from_secs(300)),
            read_committed: true,
            ..Default::default()
        },
    )?;
    ensure!(
        exactly_once || got.len() == held as usize,
        "the console consumer read {} of the {held} records in {output}",
        got.len()
    );
    let mut counted = count(&got, TOTAL)?;
    counted.dead_lettered = records_held(k.bootstrap(), &format!("{output}.dlq"))?;
    counted.failures = history
        .iter()
        .flatten()
        .filter(|e| e["event"] == "plugin_failure")
        .map(|e| format!("{}: {}", e["kind"], e["error"]))
        .collect();
    println!(
        "{}: read {} records: {} distinct of {TOTAL}, {} lost, {} duplicates, {} out of order, {} dead-lettered, {} plugin failures, in {:.1} s",
        if exactly_once {
            "exactly-once"
        } else {
            "at-least-once"
        },
        got.len(),
        counted.distinct,
        TOTAL - counted.distinct,
        counted.duplicates,
        counted.out_of_order,
        counted.dead_lettered,
        counted.failures.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(counted)
}

/// SIGTERM, then the exit status must be 0 (else what it said is shown);
/// returns the exited process with everything it wrote.
fn stop(name: &str, mut run: Running) -> Result<Running> {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(run.child.id().to_string())
        .status();
    let status = run.child.wait()?;
    run.read_to_end();
    if !status.success() {
        for line in run
            .seen
            .iter()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            println!("{name}: {}", &line[..line.len().min(600)]);
        }
        bail!("{name} exited with {status}");
    }
    Ok(run)
}

/// Prints what the processes said (warnings, rebalances), for a failure.
fn show(runs: &mut [(&str, Running)]) {
    for (name, run) in runs.iter_mut() {
        run.drain();
        for line in run
            .seen
            .iter()
            .filter(|l| {
                l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("rebalance")
                    || l.contains("\"commit\"")
            })
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            println!("{name}: {}", &line[..line.len().min(400)]);
        }
    }
}

/// Produces through kcat like [`KafkaCluster::produce`], from another thread.
struct KafkaClusterRef(String);

impl KafkaClusterRef {
    fn produce(&self, topic: &str, records: &[(String, String)]) -> Result<()> {
        use std::io::Write;
        let mut input = Vec::new();
        for (key, value) in records {
            input.extend_from_slice(key.as_bytes());
            input.push(0x1f);
            input.extend_from_slice(value.as_bytes());
            input.push(0x1e);
        }
        let mut child = std::process::Command::new("kcat")
            .args([
                "-b", &self.0, "-P", "-t", topic, "-K", "\x1f", "-D", "\x1e", "-X", "acks=all",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        child.stdin.take().context("stdin")?.write_all(&input)?;
        let out = child.wait_with_output()?;
        ensure!(
            out.status.success(),
            "kcat: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

#[test]
fn kafka_group_at_least_once_loses_nothing_through_kills_leaves_and_joins() -> Result<()> {
    let c = scenario(false)?;
    ensure!(c.distinct == TOTAL, "{}", c.explain());
    // Bounded: at most what three kills and a hand-over can have had in flight.
    ensure!(c.duplicates <= 3 * 50_000, "{} duplicates", c.duplicates);
    Ok(())
}

#[test]
fn kafka_group_exactly_once_loses_and_duplicates_nothing_through_kills_leaves_and_joins()
-> Result<()> {
    let c = scenario(true)?;
    ensure!(c.distinct == TOTAL, "{}", c.explain());
    ensure!(
        c.duplicates == 0,
        "{} duplicates under exactly-once",
        c.duplicates
    );
    ensure!(
        c.out_of_order == 0,
        "{} records out of order",
        c.out_of_order
    );
    Ok(())
}

/// Exactly-once on the 3-node cluster while the leader of an output
/// partition is killed (and comes back) and the transform is hot-swapped
/// (v1 → v2 → v1): two processes in one group, 100,000 records; 0 lost,
/// 0 duplicated, and each record processed by exactly one version.
#[test]
#[ignore = "known issue: under load an exactly-once process can stop making progress after a broker is killed (no error, no abort) — passed alone, stalled twice with other clusters running; run with --ignored"]
fn kafka_group_exactly_once_survives_output_leader_kill_and_transform_swap() -> Result<()> {
    const RECORDS: usize = 100_000;
    let k = KafkaCluster::start_cluster()?;
    let (input, output) = ("swap-in", "swap-out");
    k.create_topic(input, PARTITIONS, 3, &[])?;
    k.create_topic(output, PARTITIONS, 3, &[])?;
    let dir = tempfile::tempdir()?;
    let v1 = std::fs::read(crate::common::plugin("version-tag-v1"))?;
    let v2 = std::fs::read(crate::common::plugin("version-tag-v2"))?;
    let tag = dir.path().join("tag.wasm");
    std::fs::write(&tag, &v1)?;
    let transforms = format!(
        "transforms:\n  - plugin: {}\n    config: {{ field: email }}\n  - plugin: {}\n    config: {{ version: unused }}",
        crate::common::plugin("mask").display(),
        tag.display()
    );
    let path = crate::kafka_source::pipeline_file_with(
        dir.path(),
        "group",
        k.bootstrap(),
        input,
        output,
        "swap",
        "exactly_once: true\n",
        "    instance_id: ${INSTANCE_ID}\n    consumer: { session.timeout.ms: 6000, heartbeat.interval.ms: 1000 }\n",
        &transforms,
    );
    let bootstrap = k.bootstrap().to_string();
    let producer = std::thread::spawn(move || -> Result<()> {
        let k = KafkaClusterRef(bootstrap);
        for c in 0..CHUNKS {
            k.produce(input, &numbered(c * RECORDS / CHUNKS, RECORDS / CHUNKS))?;
        }
        Ok(())
    });
    let state = tempfile::tempdir()?;
    let mut a = start(&path, state.path(), "a");
    let b = start(&path, state.path(), "b");
    wait_progress(&mut a, 2_000);
    let leader = k.leader(output, 0)?;
    println!("killing node {leader}, leader of {output}-0");
    k.kill(leader)?;
    let new_leader = k.wait_leader(output, 0, Some(leader), Duration::from_secs(60))?;
    println!("node {new_leader} leads {output}-0");
    replace_file(&tag, &v2);
    k.restart(leader)?;
    wait_progress(&mut a, 10_000);
    replace_file(&tag, &v1);
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))??;
    let mut runs = [("a", a), ("b", b)];
    if let Err(e) = wait_caught_up(&k, "swap", input, Duration::from_secs(180)) {
        show(&mut runs);
        return Err(e);
    }
    let mut stopped = Vec::new();
    for (name, run) in runs {
        stopped.push((name, stop(name, run)?));
    }
    let got = k.consume(
        output,
        &ConsumeOptions {
            idle_timeout: Duration::from_secs(10),
            deadline: Some(Duration::from_secs(240)),
            read_committed: true,
            ..Default::default()
        },
    )?;
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    for r in &got {
        let tags: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "version")
            .map(|(_, v)| v.as_str())
            .collect();
        ensure!(tags.len() == 1, "record {} has versions {tags:?}", r.value);
        *versions.entry(tags[0].to_string()).or_default() += 1;
    }
    let c = count(&got, RECORDS)?;
    println!(
        "leader kill + swap, exactly-once: {} records, {} distinct of {RECORDS}, {} duplicates, versions {versions:?}",
        got.len(),
        c.distinct,
        c.duplicates
    );
    if c.distinct != RECORDS || c.duplicates > 0 {
        // What the processes said, for the verdict below.
        for (name, run) in &stopped {
            for line in run
                .seen
                .iter()
                .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("rebalance"))
            {
                println!("{name}: {}", &line[..line.len().min(400)]);
            }
        }
        let versions_of = |id: u64, at: &[(i32, i64)]| -> Vec<String> {
            at.iter()
                .map(|(p, o)| {
                    let r = got.iter().find(|r| r.partition == *p && r.offset == *o);
                    let v = r.and_then(|r| r.headers.iter().find(|(n, _)| n == "version"));
                    format!("{id}@{p}:{o} {}", v.map_or("?", |(_, v)| v.as_str()))
                })
                .collect()
        };
        let places: Vec<Vec<String>> = c
            .duplicated
            .iter()
            .map(|(id, at)| versions_of(*id, at))
            .collect();
        bail!(
            "{} lost, {} duplicates (the reader re-read {} records); first duplicates: {places:?}",
            RECORDS - c.distinct,
            c.duplicates,
            c.reread
        );
    }
    ensure!(c.out_of_order == 0, "{} out of order", c.out_of_order);
    Ok(())
}

fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
