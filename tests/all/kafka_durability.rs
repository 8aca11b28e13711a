//! Durability on a real 3-node Kafka cluster (replication factor 3,
//! `min.insync.replicas=2`, unclean leader election off), modelled on Kafka's own
//! replication system test: a pipeline whose source numbers every record produces while
//! the leader of a partition is killed (`kill -9`) three times, each killed node restarted
//! and every ISR full again before the next kill; then the pipeline is stopped (SIGTERM:
//! drain, flush, commit) and Kafka's console consumer (not our client) reads the topic back.
//! Every id below the position Sluice committed, which is every id it reported
//! acknowledged, is looked up.
//!
//! * `acks: all` (idempotent producer): nothing lost, nothing duplicated, order kept per
//!   partition — asserted, through the three leader kills and through the scenario below.
//! * `acks: leader` and `acks: none`: the same kills, plus the scenario that makes
//!   acknowledged-but-unreplicated records exist on purpose: both followers are paused
//!   (SIGSTOP), the leader acknowledges records alone, then it is killed and a follower
//!   takes over. Lost and duplicated counts are printed, not asserted to be zero; what is
//!   asserted is what must hold whatever the policy: the pipeline ends well with its
//!   committed position matching what it reports, the counts add up, nothing is read that
//!   Sluice did not produce (right key, header, one partition per key), and the scenario
//!   really had records acknowledged while the followers were stopped — which, under
//!   `all`, must not happen at all.
//!
//! The test owns its cluster (faults must not leak into other tests) and runs the policies
//! one after the other on it, each on topics of its own. Run with `--nocapture` to see the
//! counts and timings.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::common::kafka::{ConsumeOptions, ConsumedRecord, KafkaCluster, NodeId};
use crate::common::{plugin, sluice};

/// Records acknowledged, at least, in the leader-kill scenario (the issue asks for
/// 100,000). The source is unbounded and paced; the pipeline is stopped (SIGTERM: drain,
/// flush, commit) once this many are acknowledged *and* the third kill is healed, so slow
/// broker restarts on a busy machine (12-35 s measured under load, 3-9 s idle) stretch the
/// run instead of making the kills miss it.
const KILL_RECORDS: u64 = 100_000;
/// Records per second in the leader-kill scenario (≥ 40 s of producing).
const KILL_RATE: u64 = 2_500;
/// Acknowledged-record counts at which the leader is killed (or later, when the previous
/// kill took longer to heal).
const KILL_AT: [u64; 3] = [10_000, 40_000, 70_000];
/// Records acknowledged after the last kill healed, before the pipeline is stopped.
const AFTER_LAST_KILL: u64 = 5_000;
/// Partitions of the leader-kill topic; kill `i` takes the leader of partition `i % 3`.
const KILL_PARTITIONS: u32 = 3;

/// Records produced in the paused-followers scenario.
const PAUSE_RECORDS: u64 = 20_000;
const PAUSE_RATE: u64 = 2_000;
/// Acknowledged records before the followers are paused.
const PAUSE_AT: u64 = 5_000;
/// Records the leader must acknowledge alone (followers stopped, their parked fetches
/// answered) before it is killed, under `leader` and `none`.
const UNREPLICATED_AT_LEAST: u64 = 500;

/// The leader answers the fetch requests the followers parked on it before they were
/// stopped within `replica.fetch.wait.max.ms` (500 ms), at once if records arrive, so
/// records written in that time may still reach the stopped followers' socket buffers.
/// Records acknowledged after this are on the leader only.
const PARKED_FETCH_DRAIN: Duration = Duration::from_millis(700);

/// The three policies, one after the other, on one owned cluster: `all` first (asserted),
/// then `leader` and `none` (counted). One test rather than one per policy: the scenarios
/// must not overlap (two 3-node clusters on 2 cores make broker restarts crawl), and a
/// test waiting on a lock would hold a test thread idle for minutes while the rest of the
/// suite could use it. The first failing scenario ends the test.
#[test]
fn kafka_acks_policies_through_leader_failures() {
    let started = Instant::now();
    let k = start_cluster().unwrap_or_else(|e| panic!("{e:#}"));
    // Panic (rather than return the error) while `k` is alive: its `Drop` then keeps the
    // cluster directory with the broker logs and prints where it is.
    if let Err(e) = all_policies(&k) {
        panic!("{e:#}");
    }
    println!(
        "durability scenarios done in {:.0} s (cluster start included)",
        started.elapsed().as_secs_f64()
    );
}

fn all_policies(k: &KafkaCluster) -> Result<()> {
    acks_all_loses_and_duplicates_nothing(k)?;
    lossy_policy(k, "leader")?;
    lossy_policy(k, "none")
}

/// `acks: all`: nothing lost, nothing duplicated, order kept, through three leader kills
/// and through the paused-followers scenario.
fn acks_all_loses_and_duplicates_nothing(k: &KafkaCluster) -> Result<()> {
    let kills = leader_kills(k, "all")?;
    kills.tally.print("acks all, 3 leader kills");
    kills.tally.assert_exact()?;

    // The scenario that loses records under `leader` loses none under `all`: the leader
    // cannot acknowledge while both followers in the ISR are stopped, so nothing
    // acknowledged exists on the leader alone when it dies.
    let pause = paused_followers_then_leader_killed(k, "all")?;
    pause
        .tally
        .print("acks all, followers paused, leader killed");
    ensure!(
        pause.acknowledged_while_paused == 0,
        "with acks=all the leader acknowledged {} records while both followers were stopped",
        pause.acknowledged_while_paused
    );
    pause.tally.assert_exact()?;
    Ok(())
}

/// `acks: leader` or `none`: the same scenarios; losses are counted and printed.
fn lossy_policy(k: &KafkaCluster, acks: &'static str) -> Result<()> {
    let kills = leader_kills(k, acks)?;
    kills.tally.print(&format!("acks {acks}, 3 leader kills"));

    let pause = paused_followers_then_leader_killed(k, acks)?;
    pause
        .tally
        .print(&format!("acks {acks}, followers paused, leader killed"));
    // The scenario did what it is for: the leader acknowledged records it could not have
    // replicated (the followers were stopped and their parked fetches answered).
    ensure!(
        pause.acknowledged_while_paused >= UNREPLICATED_AT_LEAST,
        "only {} records were acknowledged while the followers were stopped",
        pause.acknowledged_while_paused
    );
    println!(
        "acks {acks}: {} records acknowledged by the leader alone in the measured window, \
         {} acknowledged records lost in all",
        pause.acknowledged_while_paused, pause.tally.lost
    );
    Ok(())
}

fn start_cluster() -> Result<KafkaCluster> {
    let started = Instant::now();
    let k = KafkaCluster::start_cluster()?;
    println!(
        "3-node cluster at {} ready: script reports {:.1} s, {:.1} s wall",
        k.bootstrap(),
        k.startup_time().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(k)
}

// ---------------------------------------------------------------------------------------
// Scenarios

struct KillsOutcome {
    tally: Tally,
}

/// At least `KILL_RECORDS` numbered records into a 3-partition topic while the leader of
/// a partition is killed three times; each killed node is restarted and every partition's
/// ISR is full again before the next kill. Then the pipeline is stopped with SIGTERM.
fn leader_kills(k: &KafkaCluster, acks: &'static str) -> Result<KillsOutcome> {
    let topic = format!("kills-{acks}");
    k.create_topic(&topic, KILL_PARTITIONS, 3, &[("min.insync.replicas", "2")])?;
    let p = Pipeline::new(k, &format!("kills-{acks}"), acks, &topic, 0, KILL_RATE)?;
    let mut run = p.start()?;
    let started = Instant::now();

    for (i, at) in KILL_AT.iter().copied().enumerate() {
        let acked = p.wait_acknowledged(&mut run, at, Duration::from_secs(120))?;
        let partition = (i as u32 % KILL_PARTITIONS) as i32;
        let leader = k.leader(&topic, partition)?;
        let at = started.elapsed();
        let t = Instant::now();
        k.kill(leader)?;
        ensure!(
            run.running()?,
            "kill {}: the pipeline ended before the leader was killed:\n{}",
            i + 1,
            run.output()
        );
        let new_leader = k.wait_leader(&topic, partition, Some(leader), Duration::from_secs(60))?;
        let elected = t.elapsed();
        k.restart(leader)?;
        let restarted = t.elapsed();
        for part in 0..KILL_PARTITIONS as i32 {
            k.wait_isr(&topic, part, 3, Duration::from_secs(90))?;
        }
        println!(
            "acks {acks}: kill {} at {:.1} s ({acked} acknowledged): partition {partition} leader {leader} killed, \
             node {new_leader} led after {:.1} s, {leader} restarted after {:.1} s, ISRs full after {:.1} s",
            i + 1,
            elapsed_s(at),
            elapsed_s(elected),
            elapsed_s(restarted),
            elapsed_s(t.elapsed()),
        );
    }
    let healed = p.acknowledged()?;
    p.wait_acknowledged(
        &mut run,
        KILL_RECORDS.max(healed + AFTER_LAST_KILL),
        Duration::from_secs(300),
    )?;
    let (acknowledged, stats) = p.stop(&mut run)?;
    println!(
        "acks {acks}: stopped after {:.1} s with {acknowledged} acknowledged; {stats}",
        started.elapsed().as_secs_f64()
    );
    let tally = p.read_back(k, acknowledged)?;
    Ok(KillsOutcome { tally })
}

struct PauseOutcome {
    tally: Tally,
    /// Records the leader acknowledged while both followers were stopped (after their parked
    /// fetches were answered): acknowledged but on the leader only.
    acknowledged_while_paused: u64,
}

/// `PAUSE_RECORDS` numbered records into a 1-partition topic (so every record goes to the
/// one leader under test); mid-run both followers are paused, the leader acknowledges
/// alone for a while (under `leader`/`none`), it is killed, the followers resume and one
/// of them becomes leader without those records; then the old leader is restarted.
fn paused_followers_then_leader_killed(
    k: &KafkaCluster,
    acks: &'static str,
) -> Result<PauseOutcome> {
    let topic = format!("paused-{acks}");
    k.create_topic(&topic, 1, 3, &[("min.insync.replicas", "2")])?;
    let p = Pipeline::new(
        k,
        &format!("paused-{acks}"),
        acks,
        &topic,
        PAUSE_RECORDS,
        PAUSE_RATE,
    )?;
    let mut run = p.start()?;

    p.wait_acknowledged(&mut run, PAUSE_AT, Duration::from_secs(120))?;
    k.wait_isr(&topic, 0, 3, Duration::from_secs(60))?;
    let leader = k.leader(&topic, 0)?;
    let followers: Vec<NodeId> = k.node_ids().into_iter().filter(|n| *n != leader).collect();
    let result = (|| -> Result<(u64, Duration)> {
        for f in &followers {
            k.pause(*f)?;
        }
        let paused = Instant::now();
        // Not a wait for a condition: the time it takes the leader to answer the fetches
        // the followers parked before they stopped (replica.fetch.wait.max.ms).
        std::thread::sleep(PARKED_FETCH_DRAIN);
        let before = p.acknowledged()?;
        let after = if acks == "all" {
            // Nothing can be acknowledged now; give records time to be in flight.
            std::thread::sleep(Duration::from_secs(1));
            p.acknowledged()?
        } else {
            p.wait_acknowledged(
                &mut run,
                before + UNREPLICATED_AT_LEAST,
                Duration::from_secs(20),
            )?
        };
        ensure!(
            run.running()?,
            "the pipeline ended before the leader was killed:\n{}",
            run.output()
        );
        k.kill(leader)?;
        Ok((after - before, paused.elapsed()))
    })();
    // Resume the followers whatever happened, or the cluster has no quorum left.
    for f in &followers {
        k.resume(*f)?;
    }
    let (acknowledged_while_paused, paused_for) = result?;
    let t = Instant::now();
    let new_leader = k.wait_leader(&topic, 0, Some(leader), Duration::from_secs(60))?;
    let elected = t.elapsed();
    k.restart(leader)?;
    k.wait_isr(&topic, 0, 3, Duration::from_secs(90))?;
    println!(
        "acks {acks}: followers {followers:?} paused for {:.1} s, {acknowledged_while_paused} records acknowledged meanwhile; \
         leader {leader} killed, node {new_leader} led {:.1} s after the resume, ISR full after {:.1} s",
        elapsed_s(paused_for),
        elapsed_s(elected),
        elapsed_s(t.elapsed())
    );

    let finished = p.wait_finished(&mut run)?;
    println!("acks {acks}: {finished}");
    let tally = p.read_back(k, PAUSE_RECORDS)?;
    ensure!(
        tally.beyond == 0,
        "{} ids beyond the last one produced",
        tally.beyond
    );
    Ok(PauseOutcome {
        tally,
        acknowledged_while_paused,
    })
}

fn elapsed_s(d: Duration) -> f64 {
    d.as_secs_f64()
}

// ---------------------------------------------------------------------------------------
// The pipeline under test

/// A pipeline file producing `count` numbered orders (0: unbounded) at `rate` per second,
/// keyed by id, to `topic` with policy `acks`; its state directory is where Sluice commits
/// positions.
struct Pipeline {
    name: String,
    topic: String,
    count: u64,
    rate: u64,
    dir: tempfile::TempDir,
}

impl Pipeline {
    fn new(
        k: &KafkaCluster,
        name: &str,
        acks: &str,
        topic: &str,
        count: u64,
        rate: u64,
    ) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let yaml = format!(
            "name: {name}\n\
             source:\n  plugin: {orders}\n  config: {{ count: {count}, rate: {rate}, seed: 7 }}\n\
             transforms: []\n\
             sink:\n  kafka:\n    brokers: \"{brokers}\"\n    topic: {topic}\n    acks: {acks}\n    key: id\n    \
             producer: {{ linger.ms: 5 }}\n",
            orders = plugin("orders").display(),
            brokers = k.bootstrap(),
        );
        std::fs::write(dir.path().join("pipeline.yaml"), yaml)?;
        Ok(Pipeline {
            name: name.to_owned(),
            topic: topic.to_owned(),
            count,
            rate,
            dir,
        })
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn start(&self) -> Result<SluiceRun> {
        let mut cmd = sluice();
        cmd.arg("run")
            .arg(self.dir.path().join("pipeline.yaml"))
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(["--progress-secs", "3600"]);
        SluiceRun::spawn(cmd)
    }

    /// The highest id below which every record is acknowledged, from the committed position
    /// (the next id, ASCII) in the state file; 0 before the first commit.
    fn acknowledged(&self) -> Result<u64> {
        committed_position(
            &self
                .state_dir()
                .join(format!("{}.position.json", self.name)),
        )
        .map(|next| next.map_or(0, |n| n.saturating_sub(1)))
    }

    /// Polls the committed position until at least `at_least` records are acknowledged.
    fn wait_acknowledged(
        &self,
        run: &mut SluiceRun,
        at_least: u64,
        timeout: Duration,
    ) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let acked = self.acknowledged()?;
            if acked >= at_least {
                return Ok(acked);
            }
            if !run.running()? {
                bail!(
                    "pipeline `{}` ended with {acked} of {at_least} records acknowledged:\n{}",
                    self.name,
                    run.output()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "pipeline `{}`: {acked} records acknowledged after {timeout:?}, waited for {at_least}:\n{}",
                    self.name,
                    run.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the pipeline to end; it must exit 0 having acknowledged every record
    /// (position `count + 1`). Returns the stats line.
    fn wait_finished(&self, run: &mut SluiceRun) -> Result<String> {
        // The rest of the records at `rate`, plus retries after a failover.
        let timeout = Duration::from_secs(self.count / self.rate + 120);
        let status = run.wait(timeout)?;
        let out = run.output();
        ensure!(status.success(), "sluice exited with {status}:\n{out}");
        let finished = format!(
            "pipeline `{}` finished: {} records acknowledged, position {}",
            self.name,
            self.count,
            self.count + 1
        );
        ensure!(out.contains(&finished), "expected {finished:?} in:\n{out}");
        ensure!(
            self.acknowledged()? == self.count,
            "the state file does not hold position {}",
            self.count + 1
        );
        self.stats_line(&out)
    }

    /// Stops the pipeline with SIGTERM; it must drain, commit and exit 0, reporting as many
    /// records acknowledged as its committed position says. Returns that number and the
    /// stats line.
    fn stop(&self, run: &mut SluiceRun) -> Result<(u64, String)> {
        let pid = run.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status()?;
        ensure!(status.success(), "kill -TERM {pid} failed");
        // The drain is bounded by sluice's grace period (30 s).
        let status = run.wait(Duration::from_secs(60))?;
        let out = run.output();
        ensure!(
            status.success(),
            "sluice exited with {status} after SIGTERM:\n{out}"
        );
        let prefix = format!("pipeline `{}` stopped: ", self.name);
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .ok_or_else(|| anyhow!("no {prefix:?} line in:\n{out}"))?;
        // "N records acknowledged, position P"
        let numbers: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        let [acknowledged, position] = numbers[..] else {
            bail!("unexpected line {line:?}");
        };
        ensure!(
            position == acknowledged + 1,
            "{acknowledged} records acknowledged but position {position}: {line}"
        );
        ensure!(
            self.acknowledged()? == acknowledged,
            "the state file does not hold position {position}"
        );
        Ok((acknowledged, self.stats_line(&out)?))
    }

    fn stats_line(&self, out: &str) -> Result<String> {
        out.lines()
            .find(|l| l.starts_with(&format!("pipeline `{}` stats:", self.name)))
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no stats line in:\n{out}"))
    }

    /// Reads the whole topic with Kafka's console consumer (every record up to the end
    /// offsets, which kcat reports) and counts ids against `1..=acknowledged`, the ids Sluice
    /// reported acknowledged.
    fn read_back(&self, k: &KafkaCluster, acknowledged: u64) -> Result<Tally> {
        let end = end_offsets(k.bootstrap(), &self.topic)?;
        let total: i64 = end.iter().sum();
        let t = Instant::now();
        let records = k.consume(
            &self.topic,
            &ConsumeOptions {
                max: Some(usize::try_from(total)?),
                idle_timeout: Duration::from_secs(15),
                deadline: Some(Duration::from_secs(240)),
                ..Default::default()
            },
        )?;
        println!(
            "read {} records of {} back with the console consumer in {:.1} s",
            records.len(),
            self.topic,
            t.elapsed().as_secs_f64()
        );
        ensure!(
            records.len() as i64 == total,
            "the console consumer read {} records of {}, the end offsets {end:?} say {total}",
            records.len(),
            self.topic
        );
        Tally::count(&records, acknowledged)
    }
}

/// The next id in a state file, `None` before the first commit. The file is replaced
/// atomically (write + rename), so a read sees a whole file.
fn committed_position(path: &Path) -> Result<Option<u64>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: {text}", path.display()))?;
    let hex = json["position"]
        .as_str()
        .ok_or_else(|| anyhow!("{}: no position in {text}", path.display()))?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("?"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .with_context(|| format!("{}: position {hex:?} is not hex", path.display()))?;
    let text = String::from_utf8(bytes)?;
    Ok(Some(text.parse().with_context(|| {
        format!("position {text:?} is not an order id")
    })?))
}

/// End offset of every partition of `topic`, from kcat (`-Q` with timestamp -1).
fn end_offsets(bootstrap: &str, topic: &str) -> Result<Vec<i64>> {
    let meta = Command::new("kcat")
        .args(["-b", bootstrap, "-L", "-t", topic, "-m", "15"])
        .output()
        .context("running kcat")?;
    let listing = String::from_utf8_lossy(&meta.stdout);
    let partitions = listing
        .lines()
        .filter(|l| l.trim_start().starts_with("partition "))
        .count();
    ensure!(
        partitions > 0,
        "kcat -L shows no partitions of {topic}:\n{listing}"
    );
    let mut cmd = Command::new("kcat");
    cmd.args(["-b", bootstrap, "-m", "15", "-Q"]);
    for p in 0..partitions {
        cmd.args(["-t", &format!("{topic}:{p}:-1")]);
    }
    let out = cmd.output().context("running kcat -Q")?;
    ensure!(
        out.status.success(),
        "kcat -Q failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "<topic> [<p>] offset <n>"
    let mut ends = vec![-1i64; partitions];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut words = line.split_whitespace();
        let (Some(_), Some(p), Some("offset"), Some(n)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        let p: usize = p.trim_matches(['[', ']']).parse()?;
        if let Some(slot) = ends.get_mut(p) {
            *slot = n.parse()?;
        }
    }
    ensure!(
        ends.iter().all(|e| *e >= 0),
        "kcat -Q gave no end offset for some partition of {topic}: {ends:?}"
    );
    Ok(ends)
}

// ---------------------------------------------------------------------------------------
// Counting

/// What the independent consumer found, against the acknowledged ids `1..=acknowledged`.
#[derive(Debug, Default)]
struct Tally {
    /// Ids Sluice reported acknowledged (all of `1..=acknowledged`).
    acknowledged: u64,
    /// Records read.
    read: u64,
    /// Distinct acknowledged ids read.
    distinct: u64,
    /// Distinct ids read above `acknowledged`: written, but not (yet) acknowledged when the
    /// pipeline stopped. Only possible if its drain gave up.
    beyond: u64,
    /// Acknowledged ids never read.
    lost: u64,
    /// Records read beyond the first copy of their id.
    duplicated: u64,
    /// First copies of ids that came after a higher id in their partition.
    reordered: u64,
    /// Records per partition.
    per_partition: Vec<u64>,
}

impl Tally {
    /// Counts `records`; fails on anything that cannot come from the pipeline (values
    /// that are not its orders, id 0, a key that is not the id, a missing header, the same
    /// id in two partitions) and on counts that do not add up.
    fn count(records: &[ConsumedRecord], acknowledged: u64) -> Result<Tally> {
        let mut by_partition: HashMap<i32, Vec<(i64, u64)>> = HashMap::new();
        for r in records {
            let id = r.value_json()?["id"].as_u64().ok_or_else(|| {
                anyhow!(
                    "record {}@{} has no numeric id: {}",
                    r.partition,
                    r.offset,
                    r.value
                )
            })?;
            ensure!(
                id >= 1,
                "record {}@{} has id 0, never produced",
                r.partition,
                r.offset
            );
            ensure!(
                r.key.as_deref() == Some(id.to_string().as_str()),
                "record {}@{} (id {id}) has key {:?}",
                r.partition,
                r.offset,
                r.key
            );
            ensure!(
                r.header("source") == Some("orders"),
                "record {}@{} lost its header: {:?}",
                r.partition,
                r.offset,
                r.headers
            );
            by_partition
                .entry(r.partition)
                .or_default()
                .push((r.offset, id));
        }
        let mut seen: HashMap<u64, i32> = HashMap::new();
        let mut t = Tally {
            acknowledged,
            read: records.len() as u64,
            ..Default::default()
        };
        let mut partitions: Vec<_> = by_partition.into_iter().collect();
        partitions.sort_by_key(|(p, _)| *p);
        for (partition, mut rows) in partitions {
            rows.sort_by_key(|(offset, _)| *offset);
            t.per_partition.push(rows.len() as u64);
            let mut highest = 0;
            for (_, id) in rows {
                match seen.get(&id) {
                    Some(p) if *p != partition => {
                        bail!(
                            "id {id} is in partitions {p} and {partition}: keyed records must not move"
                        )
                    }
                    Some(_) => t.duplicated += 1,
                    None => {
                        seen.insert(id, partition);
                        if id < highest {
                            t.reordered += 1;
                        }
                        highest = highest.max(id);
                    }
                }
            }
        }
        t.beyond = seen.keys().filter(|id| **id > acknowledged).count() as u64;
        t.distinct = seen.len() as u64 - t.beyond;
        t.lost = acknowledged - t.distinct;
        // The counting itself must be consistent.
        ensure!(
            t.distinct + t.beyond + t.duplicated == t.read,
            "{} distinct + {} beyond + {} duplicated != {} read",
            t.distinct,
            t.beyond,
            t.duplicated,
            t.read
        );
        ensure!(
            t.distinct + t.lost == t.acknowledged,
            "{} distinct + {} lost != {} acknowledged",
            t.distinct,
            t.lost,
            t.acknowledged
        );
        ensure!(t.per_partition.iter().sum::<u64>() == t.read);
        Ok(t)
    }

    fn print(&self, what: &str) {
        println!(
            "{what}: {} acknowledged, {} read {:?} per partition: {} lost, {} duplicated, \
             {} out of order, {} not acknowledged",
            self.acknowledged,
            self.read,
            self.per_partition,
            self.lost,
            self.duplicated,
            self.reordered,
            self.beyond
        );
    }

    /// Every acknowledged record exactly once, in order per partition.
    fn assert_exact(&self) -> Result<()> {
        ensure!(
            self.lost == 0 && self.duplicated == 0 && self.reordered == 0 && self.beyond == 0,
            "{} of {} acknowledged records lost, {} duplicated, {} out of order, \
             {} written but not acknowledged",
            self.lost,
            self.acknowledged,
            self.duplicated,
            self.reordered,
            self.beyond
        );
        ensure!(self.read == self.acknowledged);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// A `sluice run` child whose output is collected as it comes

struct SluiceRun {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl SluiceRun {
    fn spawn(mut cmd: Command) -> Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("spawning sluice")?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        for (stream, prefix) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, ""),
            (Box::new(stderr), "stderr: "),
        ] {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{prefix}{line}"));
                }
            }));
        }
        Ok(SluiceRun {
            child,
            output,
            readers,
        })
    }

    /// Everything printed so far (stdout lines, then `stderr: ` lines as they came).
    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    fn running(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// Waits up to `timeout` for the process to exit, and for its output to be read.
    fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("sluice still running after {timeout:?}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SluiceRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
