//! Helpers shared by the integration tests: where things are, running the
//! `sluice` binary, reading Kafka with an independent client.

#![allow(dead_code)]

pub mod kafka;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A built plugin component from `plugins/dist`.
pub fn plugin(name: &str) -> PathBuf {
    let path = root().join("plugins/dist").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} missing: build the plugins with `make plugins`",
        path.display()
    );
    path
}

/// The `sluice` binary next to this test binary.
pub fn sluice_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("sluice");
    assert!(
        bin.is_file(),
        "{} missing: run `cargo build -p sluice` first (make test does)",
        bin.display()
    );
    bin
}

/// A compile cache shared by every test, so plugins compile once per run.
pub fn cache_dir() -> PathBuf {
    root().join("target/test-cache")
}

/// A `sluice` command with the shared cache.
pub fn sluice() -> Command {
    let mut c = Command::new(sluice_bin());
    c.env("SLUICE_CACHE_DIR", cache_dir())
        .env("SLUICE_LOG", "warn")
        // Tests run side by side: each `sluice run` serves its endpoints on a
        // port of its own (the sidecar tests pass `--http` with theirs).
        .env("SLUICE_HTTP", "127.0.0.1:0");
    c
}

/// `sluice run PATH --state-dir STATE --progress-secs SECS --events json`
/// with the shared cache: stdout carries one JSON event per line.
pub fn sluice_run(path: impl AsRef<std::ffi::OsStr>, state: &Path, progress_secs: u32) -> Command {
    let mut c = sluice();
    c.arg("run")
        .arg(path)
        .arg("--state-dir")
        .arg(state)
        .arg("--progress-secs")
        .arg(progress_secs.to_string())
        .args(["--events", "json"]);
    c
}

/// The JSON events in a `sluice run --events json` stdout.
pub fn events_in(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("event").is_some())
        .collect()
}

/// Whether `e` is an event of `kind` about `pipeline`.
pub fn is(e: &serde_json::Value, kind: &str, pipeline: &str) -> bool {
    e["event"] == kind && e["pipeline"] == pipeline
}

/// A running `sluice run` whose stdout lines (JSON events) and stderr lines
/// arrive on a channel.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line so far; stderr lines start with `stderr: `.
    pub seen: Vec<String>,
    /// Every event so far, in order.
    pub events: Vec<serde_json::Value>,
    /// Events before this index were returned by `wait_event`.
    cursor: usize,
    /// Lines before this index were searched by `wait_for`.
    line_cursor: usize,
}

impl Running {
    /// Starts `cmd` with stdout captured line by line.
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sluice");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
            events: Vec::new(),
            cursor: 0,
            line_cursor: 0,
        }
    }

    fn take_line(&mut self, timeout: Duration) -> bool {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v.get("event").is_some()
                {
                    self.events.push(v);
                }
                self.seen.push(line);
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for the next event (after those already returned) that matches
    /// `pred`; panics with everything seen on timeout.
    pub fn wait_event(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.events[self.cursor..].iter().position(&pred) {
                self.cursor += i + 1;
                return self.events[self.cursor - 1].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.take_line(left) && Instant::now() >= deadline {
                panic!(
                    "no event {what} within {timeout:?}; output so far:\n{}",
                    self.seen.join("\n")
                );
            }
        }
    }

    /// Like [`Running::wait_event`], but `None` on timeout.
    pub fn try_wait_event(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.events[self.cursor..].iter().position(&pred) {
                self.cursor += i + 1;
                return Some(self.events[self.cursor - 1].clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.take_line(left) && Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// Waits until some event so far (whenever it came) matches `pred`.
    pub fn wait_seen(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events.iter().find(|e| pred(e)) {
                return e.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.take_line(left) && Instant::now() >= deadline {
                panic!(
                    "no event {what} within {timeout:?}; output so far:\n{}",
                    self.seen.join("\n")
                );
            }
        }
    }

    /// Waits for the next `kind` event about `pipeline`.
    pub fn wait_kind(
        &mut self,
        kind: &str,
        pipeline: &str,
        timeout: Duration,
    ) -> serde_json::Value {
        self.wait_event(&format!("{kind} of `{pipeline}`"), timeout, |e| {
            is(e, kind, pipeline)
        })
    }

    /// Reads what has arrived so far without waiting.
    pub fn drain(&mut self) {
        while self.take_line(Duration::ZERO) {}
    }

    /// Kills the process (SIGKILL) and reads everything it wrote before.
    pub fn kill_and_collect(mut self) -> Vec<serde_json::Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.read_to_end();
        std::mem::take(&mut self.events)
    }

    /// After the process exited: reads its output until both pipes close.
    pub fn read_to_end(&mut self) {
        while self.take_line(Duration::from_secs(5)) {}
    }

    /// Waits for a new line containing `needle` (for stderr: logs and
    /// errors); panics with everything seen on timeout.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.seen[self.line_cursor..]
                .iter()
                .position(|l| l.contains(needle))
            {
                self.line_cursor += i + 1;
                return self.seen[self.line_cursor - 1].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.take_line(left) && Instant::now() >= deadline {
                panic!(
                    "no line with {needle:?} within {timeout:?}; output so far:\n{}",
                    self.seen.join("\n")
                );
            }
        }
    }

    /// Sends SIGTERM, waits for the exit status and reads everything the
    /// process wrote.
    pub fn terminate_and_collect(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait");
        self.read_to_end();
        status
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads exactly `count` records from `topic` with kcat (an independent client),
/// as `key<TAB>value` lines.
pub fn kcat_read(bootstrap: &str, topic: &str, count: usize) -> Vec<(String, String)> {
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
            "-c",
            &count.to_string(),
        ])
        .args(["-f", "%k\t%s\n"])
        .output()
        .expect("kcat is installed (make tools)");
    assert!(
        out.status.success(),
        "kcat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or(("", l));
            (k.to_string(), v.to_string())
        })
        .collect()
}
