//! Real Apache Kafka for integration tests, driven through `scripts/kafka.sh`.
//!
//! Every cluster is a set of real Kafka 4.1 JVMs (combined broker + controller nodes on
//! 127.0.0.1) started by the script in a fresh directory of its own, on ports that do not
//! clash with other clusters or other test processes. See `docs/kafka-harness.md`.
//!
//! Two ways to get one:
//!
//! * [`KafkaCluster::start_single`] / [`KafkaCluster::start_cluster`] (or
//!   [`KafkaCluster::start`] with [`KafkaOptions`]) start a cluster owned by the test. It
//!   is stopped with SIGKILL (data is throw-away) when the value is dropped, which also
//!   happens while a failing test unwinds. Use these for fault injection (`kill`, `pause`,
//!   `restart`) so no other test sees the faults.
//! * [`shared_single`] / [`shared_cluster`] start one cluster per test process on first use
//!   and hand out `&'static` references. Statics are never dropped, so they are stopped by
//!   the script's watchdog: every cluster is started with `--owner-pid <this process>`, and
//!   a small `setsid` process (`tail --pid`) stops the cluster and deletes its directory
//!   within about a second of the test process exiting, however it exits (normal end,
//!   panic, `SIGKILL`, Ctrl-C). The same watchdog is the fallback for owned clusters whose
//!   `Drop` never ran. Do not inject faults into a shared cluster.
//!
//! Failing to start Kafka is an error, never a skip: the test that asked for a cluster
//! fails with the script's output (including the tail of the broker logs).
//!
//! Environment:
//!
//! * `SLUICE_KAFKA_PORT_BASE`: use fixed ports from this base instead of random free ports
//!   (each further cluster of the same process adds 200).
//! * `SLUICE_KAFKA_KEEP=1`: keep cluster directories (logs, data) after the test.
//! * `SLUICE_KAFKA_SCRIPT`: path of `kafka.sh` (default: `scripts/kafka.sh` of this repo).
//! * Everything `kafka.sh` reads (`KAFKA_HOME`, `KAFKA_START_TIMEOUT`, `KAFKA_HEAP_OPTS`, ...).
#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// Id of a Kafka node (broker and controller at once): `1..=node_count()`.
pub type NodeId = u32;

/// Exit code of `kafka.sh` when a port it was asked to use is already taken.
const EXIT_PORT_IN_USE: i32 = 3;

/// How many clusters this process has started (for directory names and port bases).
static STARTED: AtomicU32 = AtomicU32::new(0);

static SHARED_SINGLE: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();
static SHARED_CLUSTER: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();

/// Shape of a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One combined broker+controller node; internal topics with replication factor 1.
    Single,
    /// Three combined nodes; replication factor 3, `min.insync.replicas=2`, unclean leader
    /// election off, a dead node fenced after 3 s, a stuck follower dropped from the ISR
    /// after 10 s.
    Cluster,
}

impl Mode {
    fn as_arg(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Cluster => "cluster",
        }
    }

    fn ports_needed(self) -> (usize, usize) {
        match self {
            Mode::Single => (1, 1),
            Mode::Cluster => (3, 3),
        }
    }
}

/// Options for [`KafkaCluster::start`].
#[derive(Clone, Debug)]
pub struct KafkaOptions {
    /// Single node or three-node cluster.
    pub mode: Mode,
    /// Fixed ports: single uses `base` (broker) and `base+1` (controller); cluster uses
    /// `base..base+2` (brokers) and `base+100..base+102` (controllers). `None`: random free
    /// ports in 20000..32000 (outside the kernel's ephemeral range), or
    /// `SLUICE_KAFKA_PORT_BASE` if set.
    pub port_base: Option<u16>,
    /// Directory for the cluster's state and logs. `None`: a fresh directory under
    /// `CARGO_TARGET_TMPDIR` (or the system temp dir), deleted after the test.
    pub dir: Option<PathBuf>,
    /// Extra broker properties written to every node's `server.properties`.
    pub props: Vec<(String, String)>,
}

impl KafkaOptions {
    /// Defaults for `mode`: random ports, fresh temporary directory, no extra properties.
    pub fn new(mode: Mode) -> Self {
        KafkaOptions {
            mode,
            port_base: None,
            dir: None,
            props: Vec::new(),
        }
    }

    /// Sets fixed ports (see [`KafkaOptions::port_base`]).
    pub fn port_base(mut self, base: u16) -> Self {
        self.port_base = Some(base);
        self
    }

    /// Adds a broker property for every node.
    pub fn prop(mut self, key: &str, value: &str) -> Self {
        self.props.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Uses `dir` for the cluster's state instead of a fresh temporary directory (it is
    /// not deleted afterwards).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }
}

/// A record read back with Kafka's own console consumer (an independent client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Partition the record was read from.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Record timestamp in ms (create time or log-append time), if any.
    pub timestamp: Option<i64>,
    /// Key as (lossy) UTF-8; `None` for a null key.
    pub key: Option<String>,
    /// Value as (lossy) UTF-8; empty for a null value (see `null_value`).
    pub value: String,
    /// True if the value was null (a tombstone).
    pub null_value: bool,
    /// Headers in order; a null header value reads as an empty string.
    pub headers: Vec<(String, String)>,
}

impl ConsumedRecord {
    /// Parses the value as JSON.
    pub fn value_json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.value).with_context(|| {
            format!(
                "value at {}@{} is not JSON: {:?}",
                self.partition, self.offset, self.value
            )
        })
    }

    /// First header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Options for [`KafkaCluster::consume`].
#[derive(Clone, Debug)]
pub struct ConsumeOptions {
    /// Start from the earliest offset (else the latest) when the group has no offsets.
    pub from_beginning: bool,
    /// Stop after this many records.
    pub max: Option<usize>,
    /// Stop when no record arrived for this long (group join included for the first).
    pub idle_timeout: Duration,
    /// Hard cap on the whole run (JVM start included); `None`: `idle_timeout + 30 s`.
    pub deadline: Option<Duration>,
    /// Consumer group (default: a fresh random `console-consumer-*` group).
    pub group: Option<String>,
    /// Read only committed transactional records (`isolation.level=read_committed`).
    pub read_committed: bool,
    /// Extra ConsoleConsumer arguments, e.g. `["--consumer-property", "fetch.max.bytes=1024"]`.
    pub extra_args: Vec<String>,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            from_beginning: true,
            max: None,
            idle_timeout: Duration::from_secs(10),
            deadline: None,
            group: None,
            read_committed: false,
            extra_args: Vec::new(),
        }
    }
}

/// A running Kafka cluster started by `scripts/kafka.sh`.
#[derive(Debug)]
pub struct KafkaCluster {
    mode: Mode,
    dir: PathBuf,
    bootstrap: String,
    nodes: u32,
    startup: Duration,
    /// Delete `dir` when dropped (only for directories this module created).
    remove_dir: bool,
}

/// The process-wide shared single-node cluster, started on first use. Never inject faults
/// into it. Stopped by the watchdog when the test process exits.
pub fn shared_single() -> Result<&'static KafkaCluster> {
    shared(&SHARED_SINGLE, Mode::Single)
}

/// The process-wide shared three-node cluster, started on first use. Never inject faults
/// into it. Stopped by the watchdog when the test process exits.
pub fn shared_cluster() -> Result<&'static KafkaCluster> {
    shared(&SHARED_CLUSTER, Mode::Cluster)
}

fn shared(
    cell: &'static OnceLock<Result<KafkaCluster, String>>,
    mode: Mode,
) -> Result<&'static KafkaCluster> {
    // A failed start is remembered: every test that wants this cluster fails with the same
    // message instead of retrying a 90 s start-up each time.
    cell.get_or_init(|| KafkaCluster::start(KafkaOptions::new(mode)).map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("shared {} Kafka failed to start: {e}", mode.as_arg()))
}

impl KafkaCluster {
    /// Starts a fresh single-node cluster owned by the caller.
    pub fn start_single() -> Result<Self> {
        Self::start(KafkaOptions::new(Mode::Single))
    }

    /// Starts a fresh three-node cluster owned by the caller.
    pub fn start_cluster() -> Result<Self> {
        Self::start(KafkaOptions::new(Mode::Cluster))
    }

    /// Starts a fresh cluster; waits until every node answers metadata requests.
    pub fn start(opts: KafkaOptions) -> Result<Self> {
        let k = STARTED.fetch_add(1, Ordering::SeqCst);
        let (dir, remove_dir) = match &opts.dir {
            Some(d) => (d.clone(), false),
            None => {
                let base = option_env!("CARGO_TARGET_TMPDIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(std::env::temp_dir);
                let d = base.join("sluice-kafka").join(format!(
                    "{}-{}-{k}",
                    opts.mode.as_arg(),
                    std::process::id()
                ));
                if d.exists() {
                    std::fs::remove_dir_all(&d)
                        .with_context(|| format!("removing stale {}", d.display()))?;
                }
                (d, !keep_dirs())
            }
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

        let fixed_base = opts.port_base.or_else(|| {
            std::env::var("SLUICE_KAFKA_PORT_BASE")
                .ok()
                .and_then(|v| v.parse::<u16>().ok())
                .map(|b| b.saturating_add((k as u16).saturating_mul(200)))
        });
        let attempts = if fixed_base.is_some() { 1 } else { 3 };
        let mut last_err = None;
        for attempt in 1..=attempts {
            let mut args: Vec<String> = vec!["start".into(), opts.mode.as_arg().into()];
            if let Some(base) = fixed_base {
                args.extend(["--port-base".into(), base.to_string()]);
            } else {
                let (nb, nc) = opts.mode.ports_needed();
                let ports = pick_free_ports(nb + nc)?;
                let join = |p: &[u16]| p.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
                args.extend([
                    "--broker-ports".into(),
                    join(&ports[..nb]),
                    "--controller-ports".into(),
                    join(&ports[nb..]),
                ]);
            }
            args.extend(["--owner-pid".into(), std::process::id().to_string()]);
            if remove_dir {
                args.push("--cleanup".into());
            }
            for (key, value) in &opts.props {
                args.extend(["--prop".into(), format!("{key}={value}")]);
            }
            match run_script(&dir, &args) {
                Ok(out) => {
                    let field = |name: &str| {
                        out.stdout
                            .lines()
                            .rev()
                            .find_map(|l| l.strip_prefix(name).map(str::to_owned))
                    };
                    let bootstrap = field("BOOTSTRAP=").ok_or_else(|| {
                        anyhow!("kafka.sh start printed no BOOTSTRAP= line:\n{}", out.stdout)
                    })?;
                    let startup = field("STARTUP_SECONDS=")
                        .and_then(|s| s.parse::<f64>().ok())
                        .map(Duration::from_secs_f64)
                        .unwrap_or_default();
                    let nodes = bootstrap.split(',').count() as u32;
                    return Ok(KafkaCluster {
                        mode: opts.mode,
                        dir,
                        bootstrap,
                        nodes,
                        startup,
                        remove_dir,
                    });
                }
                Err(e) => {
                    let port_clash = e.code == Some(EXIT_PORT_IN_USE)
                        || e.stderr.contains("Address already in use");
                    let err = anyhow!("{e}");
                    if !(port_clash && attempt < attempts) {
                        return Err(err.context(format!(
                            "starting {} Kafka in {}",
                            opts.mode.as_arg(),
                            dir.display()
                        )));
                    }
                    last_err = Some(err);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("no attempt made")))
    }

    /// `host:port,...` of every node, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Single or cluster.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Directory with `nodeN/server.log`, `nodeN/server.properties` and `nodeN/data`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of nodes (1 or 3).
    pub fn node_count(&self) -> u32 {
        self.nodes
    }

    /// Node ids, `1..=node_count()`.
    pub fn node_ids(&self) -> Vec<NodeId> {
        (1..=self.nodes).collect()
    }

    /// `host:port` of node `node`'s broker listener.
    pub fn broker_address(&self, node: NodeId) -> Result<&str> {
        self.bootstrap
            .split(',')
            .nth(
                (node as usize)
                    .checked_sub(1)
                    .ok_or_else(|| anyhow!("node ids start at 1"))?,
            )
            .ok_or_else(|| anyhow!("no node {node} (cluster has {})", self.nodes))
    }

    /// Path of node `node`'s broker log.
    pub fn server_log(&self, node: NodeId) -> PathBuf {
        self.dir.join(format!("node{node}")).join("server.log")
    }

    /// Start-up time reported by the script (formatting + until all nodes were ready).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Runs `kafka.sh --dir <dir> <args...>` and returns its stdout (escape hatch for the
    /// commands without a wrapper, e.g. `["status"]`).
    pub fn script(&self, args: &[&str]) -> Result<String> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        Ok(run_script(&self.dir, &args)
            .map_err(|e| anyhow!("{e}"))?
            .stdout)
    }

    fn script_trim(&self, args: &[&str]) -> Result<String> {
        Ok(self.script(args)?.trim().to_owned())
    }

    /// Current leader of `topic`/`partition` according to a live node's metadata. Errors if
    /// the partition has no leader right now (use [`KafkaCluster::wait_leader`] to wait).
    pub fn leader(&self, topic: &str, partition: i32) -> Result<NodeId> {
        let s = self.script_trim(&["leader", topic, &partition.to_string()])?;
        let id: i64 = s
            .parse()
            .with_context(|| format!("kafka.sh leader printed {s:?}"))?;
        if id < 0 {
            bail!("{topic}-{partition} has no leader right now");
        }
        Ok(id as NodeId)
    }

    /// Waits up to `timeout` until `topic`/`partition` has a leader, other than `not` if
    /// given (e.g. the node just killed); returns it.
    pub fn wait_leader(
        &self,
        topic: &str,
        partition: i32,
        not: Option<NodeId>,
        timeout: Duration,
    ) -> Result<NodeId> {
        let p = partition.to_string();
        let t = secs(timeout);
        let n = not.map(|n| n.to_string());
        let mut args = vec!["wait-leader", topic, &p, &t];
        if let Some(n) = &n {
            args.extend(["--not", n]);
        }
        let s = self.script_trim(&args)?;
        s.parse()
            .with_context(|| format!("kafka.sh wait-leader printed {s:?}"))
    }

    /// In-sync replicas of `topic`/`partition`.
    pub fn isr(&self, topic: &str, partition: i32) -> Result<Vec<NodeId>> {
        parse_ids(&self.script_trim(&["isr", topic, &partition.to_string()])?)
    }

    /// Waits up to `timeout` until the ISR of `topic`/`partition` has exactly `size`
    /// members; returns them.
    pub fn wait_isr(
        &self,
        topic: &str,
        partition: i32,
        size: usize,
        timeout: Duration,
    ) -> Result<Vec<NodeId>> {
        parse_ids(&self.script_trim(&[
            "wait-isr",
            topic,
            &partition.to_string(),
            &size.to_string(),
            &secs(timeout),
        ])?)
    }

    /// Pid of node `node`'s JVM, `None` if it is down.
    pub fn node_pid(&self, node: NodeId) -> Result<Option<u32>> {
        match run_script(&self.dir, &["node-pid".into(), node.to_string()]) {
            Ok(out) => Ok(Some(out.stdout.trim().parse().with_context(|| {
                format!("kafka.sh node-pid printed {:?}", out.stdout)
            })?)),
            Err(e) if e.stderr.contains("is not running") => Ok(None),
            Err(e) => Err(anyhow!("{e}")),
        }
    }

    /// SIGKILLs node `node` and waits until the process is gone.
    pub fn kill(&self, node: NodeId) -> Result<()> {
        self.script(&["kill", &node.to_string()]).map(drop)
    }

    /// SIGSTOPs node `node`: it keeps its sockets but answers nothing. Note that a paused node
    /// stops heartbeating and is fenced (and dropped from every ISR) after 3 s; pausing two
    /// of three nodes also stops the controller quorum.
    pub fn pause(&self, node: NodeId) -> Result<()> {
        self.script(&["pause", &node.to_string()]).map(drop)
    }

    /// SIGCONTs a paused node.
    pub fn resume(&self, node: NodeId) -> Result<()> {
        self.script(&["resume", &node.to_string()]).map(drop)
    }

    /// Starts node `node` again on its existing storage (stopping it first if it runs) and
    /// waits until it is back as an unfenced broker. Its replicas may still be catching up:
    /// use [`KafkaCluster::wait_isr`] for that.
    pub fn restart(&self, node: NodeId) -> Result<()> {
        self.script(&["restart", &node.to_string()]).map(drop)
    }

    /// Creates a topic with Kafka's TopicCommand and waits until every partition has a
    /// leader on every live node. `configs` are topic configs such as
    /// `("min.insync.replicas", "2")`.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u32,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let p = partitions.to_string();
        let rf = replication_factor.to_string();
        let kvs: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["create-topic", name, &p, &rf];
        args.extend(kvs.iter().map(String::as_str));
        self.script(&args).map(drop)
    }

    /// `TopicCommand --describe` output for `name` (leader, replicas, ISR, ELR per partition).
    pub fn describe_topic(&self, name: &str) -> Result<String> {
        self.script(&["describe-topic", name])
    }

    /// Reads `topic` from the beginning with Kafka's console consumer until `expected`
    /// records arrived, or fails if fewer arrive before no record has come for `timeout`
    /// (an idle timeout; the first one includes the consumer group join; the whole run is
    /// capped at `timeout + 30 s`). A missing topic is auto-created by the read. Records beyond `expected` are not
    /// read: to prove there are no extra records (duplicates), use
    /// [`KafkaCluster::consume_exactly`].
    pub fn consume_all(
        &self,
        topic: &str,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<ConsumedRecord>> {
        let records = self.consume(
            topic,
            &ConsumeOptions {
                max: Some(expected),
                idle_timeout: timeout,
                ..Default::default()
            },
        )?;
        if records.len() < expected {
            bail!(
                "expected {expected} records in topic {topic}, got {} within {timeout:?} of idleness; first ones: {:?}",
                records.len(),
                records.iter().take(5).collect::<Vec<_>>()
            );
        }
        Ok(records)
    }

    /// Like [`KafkaCluster::consume_all`], but also fails if the topic holds more than
    /// `expected` records. It reads until `settle` passes without a new record, so it always
    /// takes at least `settle` longer. `settle` also bounds the wait for the *first* record
    /// (JVM start excluded, group join included: 1-3 s on an idle machine), so keep it at
    /// 5 s or more.
    pub fn consume_exactly(
        &self,
        topic: &str,
        expected: usize,
        settle: Duration,
    ) -> Result<Vec<ConsumedRecord>> {
        let records = self.consume(
            topic,
            &ConsumeOptions {
                max: Some(expected + 1),
                idle_timeout: settle,
                ..Default::default()
            },
        )?;
        if records.len() != expected {
            bail!(
                "expected exactly {expected} records in topic {topic}, got {}; first ones: {:?}",
                records.len(),
                records.iter().take(5).collect::<Vec<_>>()
            );
        }
        Ok(records)
    }

    /// Reads `topic` with Kafka's console consumer as `opts` say; returns whatever arrived.
    pub fn consume(&self, topic: &str, opts: &ConsumeOptions) -> Result<Vec<ConsumedRecord>> {
        let deadline = opts
            .deadline
            .unwrap_or(opts.idle_timeout + Duration::from_secs(30));
        let mut args: Vec<String> = vec![
            "consume".into(),
            topic.into(),
            "--machine".into(),
            "--timeout".into(),
            secs(opts.idle_timeout),
            "--deadline".into(),
            secs(deadline),
        ];
        if opts.from_beginning {
            args.push("--from-beginning".into());
        }
        if let Some(max) = opts.max {
            args.extend(["--max".into(), max.to_string()]);
        }
        if let Some(group) = &opts.group {
            args.extend(["--group".into(), group.clone()]);
        }
        if opts.read_committed {
            args.push("--read-committed".into());
        }
        if !opts.extra_args.is_empty() {
            args.push("--".into());
            args.extend(opts.extra_args.iter().cloned());
        }
        let out = run_script_bytes(&self.dir, &args).map_err(|e| anyhow!("{e}"))?;
        parse_machine_output(&out.stdout_bytes)
    }

    /// Produces `records` (key, value) with kcat (librdkafka, `acks=all`): a producer
    /// independent of Sluice. A `None` or empty key is sent as a null key and an empty value
    /// as a null value (a tombstone). Keys and values must not contain 0x1e or 0x1f.
    pub fn produce(&self, topic: &str, records: &[(Option<&str>, &str)]) -> Result<()> {
        use std::io::Write;
        let mut input = Vec::new();
        for (key, value) in records {
            if let Some(key) = key {
                input.extend_from_slice(key.as_bytes());
            }
            input.push(0x1f);
            input.extend_from_slice(value.as_bytes());
            input.push(0x1e);
        }
        let kcat = std::env::var("KCAT").unwrap_or_else(|_| "kcat".into());
        let mut child = Command::new(&kcat)
            .args([
                "-b",
                &self.bootstrap,
                "-P",
                "-t",
                topic,
                "-K",
                "\x1f",
                "-D",
                "\x1e",
                "-Z",
                "-X",
                "acks=all",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {kcat}"))?;
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("no stdin"))?
            .write_all(&input)?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "kcat produce to {topic} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Resident memory of node `node` in KiB (from `ps`), `None` if it is down.
    pub fn rss_kib(&self, node: NodeId) -> Result<Option<u64>> {
        let Some(pid) = self.node_pid(node)? else {
            return Ok(None);
        };
        let out = Command::new("ps")
            .args(["-o", "rss=", "-p", &pid.to_string()])
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse().ok())
    }

    /// Stops every node cleanly (SIGTERM, SIGKILL after 20 s). Idempotent; `Drop` does a
    /// faster SIGKILL stop anyway.
    pub fn stop(&self) -> Result<()> {
        self.script(&["stop"]).map(drop)
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let mut args: Vec<String> = vec!["stop".into(), "--now".into()];
        // Keep logs of a failing test for inspection.
        if self.remove_dir && !panicking {
            args.push("--remove".into());
        }
        if let Err(e) = run_script(&self.dir, &args) {
            eprintln!(
                "kafka: stopping the cluster in {} failed: {e}",
                self.dir.display()
            );
        }
        if panicking || (!self.remove_dir && keep_dirs()) {
            eprintln!(
                "kafka: logs of the {} cluster kept in {}",
                self.mode.as_arg(),
                self.dir.display()
            );
        }
    }
}

// ------------------------------------------------------------------------------------------

fn keep_dirs() -> bool {
    std::env::var("SLUICE_KAFKA_KEEP").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Path of `scripts/kafka.sh`.
pub fn script_path() -> PathBuf {
    std::env::var_os("SLUICE_KAFKA_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh"))
}

fn secs(d: Duration) -> String {
    d.as_secs().max(1).to_string()
}

fn parse_ids(s: &str) -> Result<Vec<NodeId>> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.trim()
                .parse::<NodeId>()
                .with_context(|| format!("bad node id {x:?} in {s:?}"))
        })
        .collect()
}

/// A failed `kafka.sh` run.
#[derive(Debug)]
struct ScriptError {
    args: Vec<String>,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "scripts/kafka.sh {} failed", self.args.join(" "))?;
        match self.code {
            Some(c) => write!(f, " (exit {c})")?,
            None => write!(f, " (killed by a signal)")?,
        }
        write!(f, ":\n{}", self.stderr.trim_end())?;
        if !self.stdout.trim().is_empty() {
            write!(f, "\nstdout:\n{}", self.stdout.trim_end())?;
        }
        Ok(())
    }
}

struct ScriptOutput {
    stdout: String,
    stdout_bytes: Vec<u8>,
}

fn run_script(dir: &Path, args: &[String]) -> Result<ScriptOutput, ScriptError> {
    run_script_bytes(dir, args)
}

fn run_script_bytes(dir: &Path, args: &[String]) -> Result<ScriptOutput, ScriptError> {
    let script = script_path();
    let out = Command::new("bash")
        .arg(&script)
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return Err(ScriptError {
                args: args.to_vec(),
                code: None,
                stdout: String::new(),
                stderr: format!("could not run bash {}: {e}", script.display()),
            });
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(ScriptOutput {
            stdout,
            stdout_bytes: out.stdout,
        })
    } else {
        Err(ScriptError {
            args: args.to_vec(),
            code: out.status.code(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// `n` distinct ports in 20000..32000 (below Linux's ephemeral range, so no outgoing
/// connection can take one between now and the broker binding it) that are free right now.
fn pick_free_ports(n: usize) -> Result<Vec<u16>> {
    let mut seed = {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.finish() | 1
    };
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..2000 {
        if ports.len() == n {
            break;
        }
        // xorshift64
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let p = 20000 + (seed % 12000) as u16;
        // Keep clear of the script's defaults (19092.., 29092..29094, 29192..29194).
        if ports.contains(&p) || (29000..29300).contains(&p) {
            continue;
        }
        if let Ok(l) = TcpListener::bind(("127.0.0.1", p)) {
            held.push(l);
            ports.push(p);
        }
    }
    if ports.len() != n {
        bail!("could not find {n} free ports in 20000..32000");
    }
    Ok(ports)
}

/// Parses `kafka.sh consume --machine` output: records end with 0x1e; fields
/// `CreateTime:TS`, `Partition:P`, `Offset:O`, headers (`k:v` joined by 0x1d, or
/// `NO_HEADERS`), key, value are separated by 0x1f; 0x15 stands for null.
fn parse_machine_output(bytes: &[u8]) -> Result<Vec<ConsumedRecord>> {
    const NULL: &[u8] = b"\x15";
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut records = Vec::new();
    for rec in bytes.split(|b| *b == 0x1e) {
        if rec.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let fields: Vec<&[u8]> = rec.splitn(6, |b| *b == 0x1f).collect();
        let [ts, part, off, headers, key, value] = fields[..] else {
            bail!("unexpected console consumer output: {:?}", text(rec));
        };
        let after_colon = |f: &[u8], what: &str| -> Result<String> {
            let s = text(f);
            s.split_once(':')
                .map(|(_, v)| v.to_owned())
                .ok_or_else(|| anyhow!("bad {what} field {s:?}"))
        };
        let timestamp = text(ts)
            .split_once(':')
            .and_then(|(_, v)| v.parse::<i64>().ok())
            .filter(|t| *t >= 0);
        let partition = after_colon(part, "partition")?
            .parse()
            .context("partition")?;
        let offset = after_colon(off, "offset")?.parse().context("offset")?;
        let headers = if headers == b"NO_HEADERS" {
            Vec::new()
        } else {
            headers
                .split(|b| *b == 0x1d)
                .map(|h| {
                    let pos = h.iter().position(|b| *b == b':').unwrap_or(h.len());
                    let (k, v) = h.split_at(pos);
                    let v = v.get(1..).unwrap_or_default();
                    (text(k), if v == NULL { String::new() } else { text(v) })
                })
                .collect()
        };
        let key = if key == NULL { None } else { Some(text(key)) };
        let null_value = value == NULL;
        let value = if null_value {
            String::new()
        } else {
            text(value)
        };
        records.push(ConsumedRecord {
            partition,
            offset,
            timestamp,
            key,
            value,
            null_value,
            headers,
        });
    }
    Ok(records)
}
