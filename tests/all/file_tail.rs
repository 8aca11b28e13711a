//! The file-tail source plugin on real Kafka: a writer appends numbered
//! lines while the file is rotated both ways (rename-and-create, and
//! copy-truncate done the way logrotate does it), truncated, and Sluice is
//! killed with `kill -9` in the middle of a burst and restarted between
//! rotations. kcat (not our client) reads the topic back: after the
//! at-least-once replay is de-duplicated by (file identity, offset) — the
//! plugin's `file` and `offset` headers — every line is there exactly once,
//! and a duplicate is always the same line at the same place.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::kafka::shared_single;
use crate::common::{Running, is, plugin, sluice_run};

fn pipeline(dir: &Path, logs: &Path, brokers: &str, topic: &str) -> std::path::PathBuf {
    let file = dir.join("tail.yaml");
    std::fs::write(
        &file,
        format!(
            "name: tail\nsource:\n  plugin: {}\n  config: {{ path: /logs/app.log, format: jsonl, offset_header: offset, id_header: file, scan_interval_ms: 50, rotated_wait_ms: 3000 }}\n  grants: {{ dirs: [{{ host: {}, guest: /logs }}] }}\nsink:\n  kafka: {{ brokers: \"{brokers}\", topic: {topic}, acks: all }}\n",
            plugin("file-tail").display(),
            logs.display()
        ),
    )
    .unwrap();
    file
}

/// Writes numbered JSON lines to `logs/app.log`, rotating as asked.
struct Writer {
    logs: std::path::PathBuf,
    file: File,
    next: u64,
    rotations: u32,
}

impl Writer {
    fn new(logs: &Path) -> Writer {
        Writer {
            logs: logs.to_path_buf(),
            file: File::create(logs.join("app.log")).unwrap(),
            next: 0,
            rotations: 0,
        }
    }

    fn lines(&mut self, n: u64) {
        let mut buf = String::new();
        for _ in 0..n {
            buf.push_str(&format!(
                "{{\"seq\":{},\"pad\":\"{}\"}}\n",
                self.next,
                "x".repeat(60)
            ));
            self.next += 1;
        }
        self.file.write_all(buf.as_bytes()).unwrap();
    }

    /// logrotate's default: rename, create, the writer reopens.
    fn rename_and_create(&mut self) {
        self.rotations += 1;
        let to = self.logs.join(format!("app.log.{}", self.rotations));
        std::fs::rename(self.logs.join("app.log"), to).unwrap();
        self.file = File::create(self.logs.join("app.log")).unwrap();
    }

    /// logrotate's `copytruncate`: copy, then truncate in place; the writer
    /// keeps its (append-mode) descriptor.
    fn copy_truncate(&mut self) {
        self.rotations += 1;
        self.file.flush().unwrap();
        let to = self.logs.join(format!("app.log.{}", self.rotations));
        std::fs::copy(self.logs.join("app.log"), to).unwrap();
        let f = OpenOptions::new()
            .append(true)
            .open(self.logs.join("app.log"))
            .unwrap();
        f.set_len(0).unwrap();
        self.file = f;
    }

    /// Truncation with no copy: what was unread is gone, on purpose.
    fn truncate(&mut self) {
        let f = OpenOptions::new()
            .append(true)
            .open(self.logs.join("app.log"))
            .unwrap();
        f.set_len(0).unwrap();
        self.file = f;
    }
}

/// Reads the topic with kcat: (file header, offset header, seq) per record.
fn read(bootstrap: &str, topic: &str) -> Vec<(String, u64, u64)> {
    let out = Command::new("kcat")
        .args([
            "-b",
            bootstrap,
            "-t",
            topic,
            "-C",
            "-o",
            "beginning",
            "-e",
            "-q",
        ])
        .args(["-f", "%h\t%s\n"])
        .output()
        .expect("kcat is installed (make tools)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (headers, value) = l.split_once('\t')?;
            let h = |name: &str| {
                headers
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .map(str::to_string)
            };
            let v: serde_json::Value = serde_json::from_str(value).ok()?;
            Some((h("file")?, h("offset")?.parse().ok()?, v["seq"].as_u64()?))
        })
        .collect()
}

/// Waits until every seq in `want` was read, then checks the replay: each
/// (file, offset) is one line, and each line is at one (file, offset) only.
fn check_all(bootstrap: &str, topic: &str, want: u64, skip: &BTreeSet<u64>) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let records = read(bootstrap, topic);
        let seqs: BTreeSet<u64> = records.iter().map(|r| r.2).collect();
        let missing: Vec<u64> = (0..want)
            .filter(|s| !seqs.contains(s) && !skip.contains(s))
            .collect();
        if missing.is_empty() {
            let mut at: BTreeMap<(String, u64), u64> = BTreeMap::new();
            let mut place: BTreeMap<u64, (String, u64)> = BTreeMap::new();
            for (file, offset, seq) in &records {
                if let Some(other) = at.insert((file.clone(), *offset), *seq) {
                    assert_eq!(other, *seq, "two lines at {file}@{offset}");
                }
                if let Some(p) = place.insert(*seq, (file.clone(), *offset)) {
                    assert_eq!(
                        p,
                        (file.clone(), *offset),
                        "line {seq} read at two places: a duplicate that is not a replay"
                    );
                }
            }
            println!(
                "{} records, {} distinct lines, {} replayed",
                records.len(),
                at.len(),
                records.len() - at.len()
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} lines never arrived, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn file_tail_follows_both_rotations_under_load() {
    let k = shared_single().unwrap();
    let topic = "file-tail-rotations";
    k.create_topic(topic, 1, 1, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut w = Writer::new(&logs);
    let state = tempfile::tempdir().unwrap();
    let mut run = Running::spawn(sluice_run(
        pipeline(dir.path(), &logs, k.bootstrap(), topic),
        state.path(),
        60,
    ));
    run.wait_kind("pipeline_running", "tail", Duration::from_secs(120));
    // 20,000 lines in bursts, rotated every 2,500 lines, the two ways in turn.
    for burst in 0..40 {
        w.lines(500);
        if burst % 5 == 4 {
            if (burst / 5) % 2 == 0 {
                w.rename_and_create();
            } else {
                w.copy_truncate();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check_all(k.bootstrap(), topic, w.next, &BTreeSet::new());
    assert!(run.terminate().success());
}

#[test]
fn file_tail_survives_kill_9_restarts_between_rotations_and_truncation() {
    let k = shared_single().unwrap();
    let topic = "file-tail-kill";
    k.create_topic(topic, 1, 1, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let file = pipeline(dir.path(), &logs, k.bootstrap(), topic);
    let state = tempfile::tempdir().unwrap();
    let mut w = Writer::new(&logs);
    let start = |state: &Path| {
        let mut run = Running::spawn(sluice_run(&file, state, 60));
        run.wait_kind("pipeline_running", "tail", Duration::from_secs(120));
        run
    };
    for round in 0..3 {
        let mut run = start(state.path());
        // A burst, killed in the middle of it.
        w.lines(3000);
        run.wait_event("a commit", Duration::from_secs(60), |e| {
            is(e, "commit", "tail")
        });
        w.lines(3000);
        let _ = run.child.kill(); // SIGKILL: no drain, no final commit
        let _ = run.child.wait();
        // While it is down: more lines, and a rotation (each kind in turn).
        w.lines(500);
        if round % 2 == 0 {
            w.rename_and_create();
        } else {
            w.copy_truncate();
        }
        w.lines(500);
    }
    let run = start(state.path());
    check_all(k.bootstrap(), topic, w.next, &BTreeSet::new());
    // Truncation with nothing unread: what is written after it arrives.
    let before = w.next;
    w.truncate();
    w.lines(100);
    check_all(k.bootstrap(), topic, w.next, &BTreeSet::new());
    assert!(w.next == before + 100);
    assert!(run.terminate().success());
}

#[test]
fn file_tail_log_shipping_example_masks_and_ships_a_growing_log() {
    let logs = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::common::root().join("examples/logs/app.log"),
        logs.path().join("app.log"),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = sluice_run("examples/log-shipping.yaml", state.path(), 60);
    cmd.current_dir(crate::common::root())
        .env("LOG_DIR", logs.path())
        .env_remove("KAFKA_BROKERS");
    let mut run = Running::spawn(cmd);
    run.wait_kind("pipeline_running", "log-shipping", Duration::from_secs(120));
    let bootstrap = run.wait_seen("embedded", Duration::from_secs(5), |e| {
        e["event"] == "embedded_cluster"
    })["bootstrap"]
        .as_str()
        .unwrap()
        .to_string();
    let mut f = OpenOptions::new()
        .append(true)
        .open(logs.path().join("app.log"))
        .unwrap();
    f.write_all(b"{\"id\":4,\"email\":\"dave@example.com\",\"msg\":\"shipped\"}\n")
        .unwrap();
    // Acknowledged (so the topic exists) before kcat looks.
    run.wait_event("a commit", Duration::from_secs(60), |e| {
        is(e, "commit", "log-shipping")
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        let got = crate::common::kcat_read(&bootstrap, "app-logs", 4);
        if got.len() == 4 || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["1", "2", "3", "4"]);
    assert!(
        got.iter().all(|(_, v)| !v.contains("@example.com")),
        "{got:?}"
    );
    assert!(run.terminate().success());
}
