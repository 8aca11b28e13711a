//! The quickstart pipeline (`examples/quickstart.yaml`: generated orders → drop test
//! orders → mask e-mails → key by id) against a real single-node Apache Kafka, once per
//! acks policy. Kafka's own console consumer (not our client) reads the topic back: exactly
//! the transformed records, no extra one, each in the partition Java clients would pick
//! for its key, in order within its partition.
//!
//! The node is the shared one of this test process (no faults are injected here); each
//! test has its own topic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};

use crate::common::kafka::shared_single;
use crate::common::{Running, root, sluice_run};
use crate::quickstart::{COUNT, expected};

/// Partitions of each test topic: enough to check the key → partition mapping.
const PARTITIONS: u32 = 3;

#[test]
fn kafka_single_quickstart_delivers_exactly_with_acks_none() -> Result<()> {
    quickstart_on_real_kafka("none")
}

#[test]
fn kafka_single_quickstart_delivers_exactly_with_acks_leader() -> Result<()> {
    quickstart_on_real_kafka("leader")
}

#[test]
fn kafka_single_quickstart_delivers_exactly_with_acks_all() -> Result<()> {
    quickstart_on_real_kafka("all")
}

fn quickstart_on_real_kafka(acks: &str) -> Result<()> {
    let asked = Instant::now();
    let k = shared_single()?;
    println!(
        "single node at {} (start-up {:.1} s by the script; this test waited {:.1} s for it)",
        k.bootstrap(),
        k.startup_time().as_secs_f64(),
        asked.elapsed().as_secs_f64()
    );
    let topic = format!("quickstart-real-{acks}");
    k.create_topic(&topic, PARTITIONS, 1, &[])?;

    let state = tempfile::tempdir()?;
    let mut cmd = sluice_run("examples/quickstart.yaml", state.path(), 60);
    cmd.current_dir(root())
        .env("ORDERS_COUNT", COUNT.to_string())
        .env("ORDERS_RATE", "0")
        .env("ACKS", acks)
        .env("TOPIC", &topic)
        .env("KAFKA_BROKERS", k.bootstrap());
    let mut run = Running::spawn(cmd);
    let running = run.wait_kind("pipeline_running", "quickstart", Duration::from_secs(120));
    ensure!(
        running["brokers"] == k.bootstrap()
            && running["acks"] == acks
            && running["embedded"] == false,
        "{running}"
    );
    let finished = run.wait_kind("pipeline_stopped", "quickstart", Duration::from_secs(120));
    println!("acks {acks}: {finished}");
    let status = wait_exit(&mut run, Duration::from_secs(30))?;
    ensure!(
        status.success(),
        "sluice exited with {status}:\n{}",
        run.seen.join("\n")
    );
    ensure!(
        !run.events.iter().any(|e| e["event"] == "embedded_cluster"),
        "the embedded cluster started although brokers were given"
    );

    let want = expected();
    ensure!(
        finished["reason"] == "finished"
            && finished["acknowledged"] == want.len() as u64
            && finished["position"] == (COUNT + 1).to_string().as_str(),
        "{finished}"
    );

    let got = k.consume_exactly(&topic, want.len(), Duration::from_secs(5))?;
    // Exactly the expected records: same multiset of (key, value).
    let mut got_pairs: Vec<(String, String)> = got
        .iter()
        .map(|r| (r.key.clone().unwrap_or_default(), r.value.clone()))
        .collect();
    let mut want_sorted = want.clone();
    got_pairs.sort();
    want_sorted.sort();
    ensure!(
        got_pairs == want_sorted,
        "the topic does not hold exactly the transformed records"
    );

    // Where and in which order: the partition Java's default partitioner picks for the
    // key, and within a partition the order the source produced them in.
    let position: HashMap<&str, usize> = want
        .iter()
        .enumerate()
        .map(|(i, (key, _))| (key.as_str(), i))
        .collect();
    let mut last_in_partition: HashMap<i32, (i64, usize)> = HashMap::new();
    let mut by_offset = got.clone();
    by_offset.sort_by_key(|r| (r.partition, r.offset));
    for r in &by_offset {
        let key = r
            .key
            .as_deref()
            .ok_or_else(|| anyhow!("record {}@{} has no key", r.partition, r.offset))?;
        ensure!(
            r.partition == java_partition(key.as_bytes(), PARTITIONS),
            "key {key} is in partition {}, Java clients put it in {}",
            r.partition,
            java_partition(key.as_bytes(), PARTITIONS)
        );
        ensure!(
            r.header("source") == Some("orders"),
            "record {key} lost its header: {:?}",
            r.headers
        );
        let index = *position
            .get(key)
            .with_context(|| format!("unexpected key {key}"))?;
        if let Some((offset, previous)) = last_in_partition.get(&r.partition) {
            ensure!(
                index > *previous,
                "partition {}: key {key} at offset {} comes after a later record at offset {offset}",
                r.partition,
                r.offset
            );
        }
        last_in_partition.insert(r.partition, (r.offset, index));
    }
    ensure!(
        last_in_partition.len() == PARTITIONS as usize,
        "the keys did not spread over the {PARTITIONS} partitions: {:?}",
        last_in_partition.keys()
    );

    let state_file = std::fs::read_to_string(state.path().join("quickstart.position.json"))?;
    let hex: String = (COUNT + 1)
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    ensure!(state_file.contains(&hex), "{state_file}");
    Ok(())
}

fn wait_exit(run: &mut Running, timeout: Duration) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = run.child.try_wait()? {
            return Ok(status);
        }
        ensure!(
            Instant::now() < deadline,
            "sluice did not exit within {timeout:?} after finishing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The partition Kafka's Java producer picks for a key: `murmur2(key) & 0x7fffffff % n`
/// (`org.apache.kafka.common.utils.Utils.murmur2`, `BuiltInPartitioner`).
fn java_partition(key: &[u8], partitions: u32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions) as i32
}

fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[test]
fn murmur2_matches_kafkas_java_implementation() {
    // Values from Kafka's UtilsTest.testMurmur2.
    let cases: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107),
    ];
    for (input, want) in cases {
        assert_eq!(murmur2(input) as i32, want, "{input:?}");
    }
}
