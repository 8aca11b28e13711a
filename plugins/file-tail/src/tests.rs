#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sluice_plugin::source::wire::Polled;
use sluice_plugin::{BatchBuilder, Config, Source};

use super::*;

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("file-tail-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn append(path: &Path, text: &str) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// One emitted record: value, offset header, id header, file header, key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    value: String,
    offset: u64,
    id: String,
    file: String,
    key: Option<String>,
    truncated: bool,
}

struct Harness {
    dir: TempDir,
    pairs: Vec<(String, String)>,
    tail: FileTail,
    clock: u64,
    position: Option<Vec<u8>>,
}

fn config_pairs(dir: &TempDir, extra: &[(&str, &str)], file: &str) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("path".to_string(), format!("{}/{file}", dir.0.display())),
        ("offset_header".into(), "offset".into()),
        ("id_header".into(), "id".into()),
        ("file_header".into(), "file".into()),
        ("scan_interval_ms".into(), "0".into()),
        ("rotated_wait_ms".into(), "1000".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k.to_string(), v.to_string()));
    }
    pairs
}

fn open_with(pairs: &[(String, String)], resume: Option<&[u8]>) -> Result<FileTail, ConfigError> {
    let config = Config::new(pairs.to_vec())?;
    let t = FileTail::open(&config, resume)?;
    config.finish()?;
    Ok(t)
}

impl Harness {
    fn new(extra: &[(&str, &str)]) -> Harness {
        Self::with_file(extra, "app.log")
    }

    fn with_file(extra: &[(&str, &str)], file: &str) -> Harness {
        let dir = TempDir::new();
        let pairs = config_pairs(&dir, extra, file);
        let tail = open_with(&pairs, None).unwrap();
        Harness {
            dir,
            pairs,
            tail,
            clock: 1_000_000,
            position: None,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }

    fn poll(&mut self, max: u32) -> Vec<Line> {
        self.clock += 10;
        let mut out = BatchBuilder::new();
        let result = self.tail.poll_at(self.clock, max, &mut out).unwrap();
        let polled = Polled {
            records: out.finish(),
            position: result.position,
            finished: result.finished,
        };
        if polled.position.is_some() {
            self.position.clone_from(&polled.position);
        }
        polled
            .records
            .records()
            .unwrap()
            .map(|r| {
                let h = |n: &str| {
                    r.headers()
                        .find(|(k, _)| *k == n)
                        .map(|(_, v)| String::from_utf8(v.unwrap().to_vec()).unwrap())
                };
                Line {
                    value: String::from_utf8(r.value().unwrap().to_vec()).unwrap(),
                    offset: h("offset").unwrap().parse().unwrap(),
                    id: h("id").unwrap(),
                    file: h("file").unwrap(),
                    key: r.key().map(|k| String::from_utf8(k.to_vec()).unwrap()),
                    truncated: h(tail::TRUNCATED_HEADER).is_some(),
                }
            })
            .collect()
    }

    /// Polls until two polls in a row return nothing.
    fn drain(&mut self, max: u32) -> Vec<Line> {
        let mut all = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let got = self.poll(max);
            if got.is_empty() {
                empty += 1;
            } else {
                empty = 0;
            }
            all.extend(got);
        }
        all
    }

    fn values(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.value.clone()).collect()
    }

    /// A new instance resuming from the last position (a restart).
    fn restart(&mut self) {
        self.tail = open_with(&self.pairs, self.position.as_deref()).unwrap();
    }
}

fn numbered(range: std::ops::Range<u32>) -> String {
    range.map(|i| format!("line {i}\n")).collect()
}

fn expect(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("line {i}")).collect()
}

#[test]
fn reads_complete_lines_only() {
    let mut h = Harness::new(&[]);
    append(&h.file("app.log"), "one\ntwo\nthr");
    let got = h.drain(100);
    assert_eq!(Harness::values(&got), ["one", "two"]);
    assert_eq!(got[1].offset, 4);
    assert_eq!(got[1].file, "app.log");
    append(&h.file("app.log"), "ee\r\n\n  \nfour\n");
    let got = h.drain(100);
    assert_eq!(
        Harness::values(&got),
        ["three", "four"],
        "CR stripped, blank lines skipped"
    );
    assert_eq!(got[0].offset, 8);
    let p = Position::decode(h.position.as_deref().unwrap()).unwrap();
    assert_eq!(p.files[0].offset, 24, "after the last complete line");
}

#[test]
fn respects_max_records_and_resumes_in_the_middle() {
    let mut h = Harness::new(&[]);
    append(&h.file("app.log"), &numbered(0..10));
    assert_eq!(Harness::values(&h.poll(3)), expect(0..3));
    h.restart();
    assert_eq!(Harness::values(&h.drain(4)), expect(3..10));
}

#[test]
fn json_lines_key_and_not_json() {
    let mut h = Harness::new(&[("format", "jsonl"), ("key_field", "id")]);
    append(
        &h.file("app.log"),
        "{\"id\":7,\"x\":1}\n{\"id\":\"a\"}\nnot json\n{\"y\":1}\n",
    );
    let got = h.drain(100);
    let keys: Vec<Option<&str>> = got.iter().map(|l| l.key.as_deref()).collect();
    assert_eq!(keys, [Some("7"), Some("a"), None, None]);
    assert_eq!(got[2].value, "not json", "handed over unchanged");
}

#[test]
fn start_at_end_skips_what_is_there_and_keeps_its_place() {
    let dir = TempDir::new();
    append(&dir.path("app.log"), &numbered(0..5));
    let pairs = config_pairs(&dir, &[("start", "end")], "app.log");
    let mut h = Harness {
        tail: open_with(&pairs, None).unwrap(),
        dir,
        pairs,
        clock: 1,
        position: None,
    };
    assert!(h.poll(100).is_empty());
    assert!(h.position.is_some(), "the first poll returns a position");
    append(&h.file("app.log"), &numbered(5..7));
    h.restart();
    append(&h.file("app.log"), &numbered(7..8));
    assert_eq!(Harness::values(&h.drain(100)), expect(5..8));
}

#[test]
fn follows_rename_and_create_reading_the_old_file_to_its_end_first() {
    let mut h = Harness::new(&[]);
    let log = h.file("app.log");
    let mut writer = File::create(&log).unwrap();
    writer.write_all(numbered(0..3).as_bytes()).unwrap();
    assert_eq!(Harness::values(&h.drain(100)), expect(0..3));
    std::fs::rename(&log, h.file("app.log.1")).unwrap();
    // The writer has not reopened yet: it keeps writing to the renamed file.
    writer.write_all(numbered(3..5).as_bytes()).unwrap();
    assert_eq!(Harness::values(&h.drain(100)), expect(3..5));
    writer.write_all(b"line 5\nline 6 with no end").unwrap();
    let mut new = File::create(&log).unwrap();
    new.write_all(numbered(7..9).as_bytes()).unwrap();
    let got = h.drain(1);
    assert_eq!(
        Harness::values(&got),
        ["line 5", "line 6 with no end", "line 7", "line 8"],
        "old file to its end (its unfinished last line too), then the new one"
    );
    assert_ne!(got[0].id, got[2].id);
    let p = Position::decode(h.position.as_deref().unwrap()).unwrap();
    assert_eq!(p.files.len(), 1, "the old file is dropped");
}

#[test]
fn copy_truncate_reads_the_rest_from_the_copy() {
    let mut h = Harness::new(&[]);
    let log = h.file("app.log");
    append(&log, &numbered(0..10));
    assert_eq!(Harness::values(&h.poll(4)), expect(0..4));
    append(&log, &numbered(10..12));
    // logrotate copytruncate: copy, then truncate in place.
    std::fs::copy(&log, h.file("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &numbered(12..14));
    let got = h.drain(3);
    assert_eq!(
        Harness::values(&got),
        expect(4..14),
        "nothing lost, nothing twice"
    );
    assert_eq!(got[0].offset, got[0].offset, "");
    assert_eq!(got[0].file, "app.log.1");
    assert_eq!(got[8].file, "app.log");
    assert_eq!(got[8].offset, 0);
}

#[test]
fn copy_truncate_with_a_pattern_that_matches_the_copy() {
    let mut h = Harness::with_file(&[], "app.log*");
    let log = h.file("app.log");
    append(&log, &numbered(0..6));
    assert_eq!(Harness::values(&h.poll(2)), expect(0..2));
    std::fs::copy(&log, h.file("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &numbered(6..8));
    assert_eq!(Harness::values(&h.drain(100)), expect(2..8));
}

#[test]
fn truncation_without_a_copy_starts_over() {
    let mut h = Harness::new(&[]);
    let log = h.file("app.log");
    append(&log, &numbered(0..5));
    assert_eq!(h.drain(100).len(), 5);
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, "fresh\n");
    assert_eq!(Harness::values(&h.drain(100)), ["fresh"]);
}

#[test]
fn truncated_and_rewritten_past_the_offset_is_seen() {
    let mut h = Harness::new(&[]);
    let log = h.file("app.log");
    append(&log, "aaaa\n");
    assert_eq!(h.drain(100).len(), 1);
    std::fs::write(&log, "bbbbbbbbbb\ncc\n").unwrap(); // same inode, longer, other bytes
    assert_eq!(Harness::values(&h.drain(100)), ["bbbbbbbbbb", "cc"]);
}

#[test]
fn restart_between_rotations() {
    let mut h = Harness::new(&[]);
    let log = h.file("app.log");
    append(&log, &numbered(0..6));
    assert_eq!(Harness::values(&h.poll(2)), expect(0..2));
    // Down: the file is rotated twice while nothing reads it.
    std::fs::rename(&log, h.file("app.log.1")).unwrap();
    append(&log, &numbered(6..9));
    std::fs::rename(&log, h.file("app.log.2")).unwrap();
    append(&log, &numbered(9..10));
    h.restart();
    let got = Harness::values(&h.drain(100));
    // The first file resumes by identity; the one that was rotated away
    // while down is not known (never tracked): its lines are lost; what
    // matters is that the tracked file continues and the live one is read.
    assert_eq!(&got[..4], &expect(2..6)[..]);
    assert_eq!(got.last().unwrap(), "line 9");
}

#[test]
fn restart_during_a_rotation_keeps_the_order() {
    let mut h = Harness::new(&[]);
    let log = h.file("app.log");
    append(&log, &numbered(0..6));
    assert_eq!(Harness::values(&h.poll(2)), expect(0..2));
    std::fs::rename(&log, h.file("app.log.1")).unwrap();
    append(&log, &numbered(6..9));
    assert_eq!(Harness::values(&h.poll(2)), expect(2..4));
    h.restart();
    assert_eq!(Harness::values(&h.drain(100)), expect(4..9));
}

#[test]
fn copy_truncate_while_down() {
    let mut h = Harness::new(&[]);
    let log = h.file("app.log");
    append(&log, &numbered(0..6));
    assert_eq!(Harness::values(&h.poll(2)), expect(0..2));
    std::fs::copy(&log, h.file("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, "x\n");
    h.restart();
    let mut want = expect(2..6);
    want.push("x".into());
    assert_eq!(Harness::values(&h.drain(100)), want);
}

#[test]
fn identity_changed_resumes_by_name_and_first_bytes() {
    let mut h = Harness::new(&[]);
    append(&h.file("app.log"), &numbered(0..4));
    assert_eq!(h.poll(2).len(), 2);
    let mut p = Position::decode(h.position.as_deref().unwrap()).unwrap();
    p.files[0].id = fs::FileId(1); // as if the host hashed differently
    h.position = Some(p.encode());
    h.restart();
    assert_eq!(Harness::values(&h.drain(100)), expect(2..4));
}

#[test]
fn long_lines_truncate_or_skip() {
    let mut h = Harness::new(&[("max_line_bytes", "8")]);
    append(&h.file("app.log"), "short\n0123456789abcdef\nafter\n");
    let got = h.drain(100);
    assert_eq!(Harness::values(&got), ["short", "01234567", "after"]);
    assert!(got[1].truncated && !got[0].truncated);
    assert_eq!(got[2].offset, 23);

    let mut h = Harness::new(&[("max_line_bytes", "8"), ("long_lines", "skip")]);
    // A long line arriving in pieces, across polls.
    append(&h.file("app.log"), "0123456789");
    assert!(h.drain(100).is_empty());
    let position =
        Position::decode(h.position.as_deref().unwrap_or(b"{\"v\":1,\"files\":[]}")).unwrap();
    assert!(
        position.files.iter().all(|f| f.offset == 0),
        "never mid-line"
    );
    append(&h.file("app.log"), "abcdef\nok\n");
    let got = h.drain(100);
    assert_eq!(Harness::values(&got), ["ok"]);
    assert_eq!(got[0].offset, 17);
}

#[test]
fn a_pattern_follows_several_files() {
    let mut h = Harness::with_file(&[], "*.log");
    append(&h.file("a.log"), "a1\n");
    append(&h.file("b.log"), "b1\n");
    append(&h.file("c.txt"), "c1\n");
    let mut got = Harness::values(&h.drain(100));
    got.sort();
    assert_eq!(got, ["a1", "b1"]);
    append(&h.file("a.log"), "a2\n");
    append(&h.file("d.log"), "d1\n");
    h.restart();
    let mut got = Harness::values(&h.drain(100));
    got.sort();
    assert_eq!(got, ["a2", "d1"]);
}

#[test]
fn a_deleted_file_is_dropped_after_the_wait() {
    let mut h = Harness::new(&[("rotated_wait_ms", "100")]);
    append(&h.file("app.log"), "a\n");
    assert_eq!(h.drain(10).len(), 1);
    std::fs::remove_file(h.file("app.log")).unwrap();
    for _ in 0..20 {
        h.poll(10);
    }
    let p = Position::decode(h.position.as_deref().unwrap()).unwrap();
    assert!(p.files.is_empty());
}

/// Random writes, rotations of both kinds and restarts: every line exactly
/// once after de-duplication by (file identity, offset), none lost, and
/// every duplicate is a true replay (same identity and offset).
#[test]
fn random_rotations_and_restarts_lose_nothing() {
    for seed in 1..=20u64 {
        let mut rng = seed;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut h = Harness::new(&[]);
        let log = h.file("app.log");
        let mut writer = File::create(&log).unwrap();
        let mut written = 0u32;
        let mut seen: std::collections::BTreeMap<(String, u64), String> = Default::default();
        let mut rotations = 0;
        for _step in 0..60 {
            match next(10) {
                0 if rotations < 6 => {
                    // rename-and-create; the writer reopens at once
                    rotations += 1;
                    std::fs::rename(&log, h.file(&format!("app.log.{rotations}"))).unwrap();
                    writer = File::create(&log).unwrap();
                }
                1 if rotations < 6 => {
                    rotations += 1;
                    writer.flush().unwrap();
                    std::fs::copy(&log, h.file(&format!("app.log.{rotations}"))).unwrap();
                    writer.set_len(0).unwrap();
                    writer = OpenOptions::new().append(true).open(&log).unwrap();
                }
                2 => {
                    // a restart from the last position, replaying since
                    h.restart();
                }
                _ => {
                    let n = next(5) as u32 + 1;
                    for _ in 0..n {
                        writer
                            .write_all(format!("line {written}\n").as_bytes())
                            .unwrap();
                        written += 1;
                    }
                }
            }
            for line in h.poll(next(4) as u32 + 1) {
                let k = (line.id.clone(), line.offset);
                if let Some(v) = seen.get(&k) {
                    assert_eq!(v, &line.value, "seed {seed}: a replay is the same line");
                }
                seen.insert(k, line.value);
            }
        }
        for line in h.drain(100) {
            seen.insert((line.id.clone(), line.offset), line.value);
        }
        let mut values: Vec<String> = seen.into_values().collect();
        values.sort_by_key(|v| v[5..].parse::<u32>().unwrap());
        assert_eq!(values, expect(0..written), "seed {seed}");
    }
}

#[test]
fn bad_config() {
    let dir = TempDir::new();
    let err = |extra: &[(&str, &str)]| {
        open_with(&config_pairs(&dir, extra, "app.log"), None)
            .err()
            .unwrap()
    };
    assert_eq!(err(&[("path", "logs/a.log")]).key.as_deref(), Some("path"));
    assert_eq!(err(&[("format", "csv")]).key.as_deref(), Some("format"));
    assert!(
        err(&[("format", "csv")])
            .message
            .contains("`lines`, `jsonl`")
    );
    assert_eq!(
        err(&[("key_field", "id")]).key.as_deref(),
        Some("key_field")
    );
    assert_eq!(
        err(&[("max_line_bytes", "0")]).key.as_deref(),
        Some("max_line_bytes")
    );
    assert_eq!(err(&[("start", "middle")]).key.as_deref(), Some("start"));
    assert_eq!(
        err(&[("file_header", "")]).key.as_deref(),
        Some("file_header")
    );
    assert_eq!(err(&[("tail", "yes")]).key.as_deref(), Some("tail"));
    let pairs = config_pairs(&dir, &[], "app.log");
    let e = open_with(&pairs, Some(b"12")).err().unwrap();
    assert_eq!(e.key, None);
    assert!(
        e.message.contains("clear the stored position"),
        "{}",
        e.message
    );
}
