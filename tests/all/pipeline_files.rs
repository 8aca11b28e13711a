//! Pipeline files as users write them: golden errors for bad files, the
//! examples, and `sluice run` / `sluice check` over a mix of good and bad.
//!
//! Each `tests/fixtures/bad/NAME.{yaml,toml}` has `NAME.*.err` beside it with
//! the expected text (paths shown relative to the fixtures folder). Run with
//! `SLUICE_BLESS=1` to rewrite the goldens after an intended change, then
//! review the diff. The loader's property tests are unit tests:
//! `cargo test -p sluice --lib spec::load::tests::proptests`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sluice::spec::{Cluster, load_bytes};

use crate::common::{Running, plugin, root, sluice_run};

#[test]
fn bad_pipeline_files_give_the_golden_error() {
    let dir = root().join("tests/fixtures/bad");
    let bless = std::env::var_os("SLUICE_BLESS").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "toml")
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 20, "fixtures missing");
    let mut failures = Vec::new();
    for file in files {
        let err = match sluice::spec::load_file(&file) {
            Ok(_) => panic!("{} loaded but must fail", file.display()),
            Err(e) => e.to_string().replace(&format!("{}/", dir.display()), ""),
        };
        let golden = file.with_extension(format!(
            "{}.err",
            file.extension().unwrap().to_str().unwrap()
        ));
        if bless {
            std::fs::write(&golden, format!("{err}\n")).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{} missing", golden.display()));
        if want.trim_end() != err {
            failures.push(format!(
                "{}:\n  want: {}\n  got:  {}",
                file.display(),
                want.trim_end(),
                err
            ));
        }
        let name = file.file_name().unwrap().to_str().unwrap();
        for line in err.lines().filter(|l| !l.starts_with(' ')) {
            let location = line.strip_prefix(name).unwrap_or_default();
            let mut parts = location.splitn(4, ':');
            let (_, l, c) = (parts.next(), parts.next(), parts.next());
            assert!(
                l.and_then(|l| l.parse::<u32>().ok()).is_some_and(|l| l > 0)
                    && c.and_then(|c| c.parse::<u32>().ok()).is_some_and(|c| c > 0),
                "every error names {name}:line:column: {line}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn example(name: &str, env: &[(&str, &str)]) -> Result<Cluster, String> {
    let file = root().join("examples").join(name);
    let bytes = std::fs::read(&file).unwrap();
    let lookup = |var: &str| {
        env.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.to_string())
    };
    load_bytes(&file, &bytes, &lookup)
        .map(|p| p.cluster().clone())
        .map_err(|e| e.to_string())
}

#[test]
fn examples_use_the_embedded_cluster_only_when_brokers_are_unset() {
    for name in ["quickstart.yaml", "payments.toml"] {
        assert_eq!(example(name, &[]), Ok(Cluster::Embedded), "{name}");
        assert_eq!(
            example(name, &[("KAFKA_BROKERS", "k1:9092,k2:9092")]),
            Ok(Cluster::Brokers("k1:9092,k2:9092".into())),
            "{name}"
        );
        let err = example(name, &[("KAFKA_BROKERS", "")]).unwrap_err();
        assert!(
            err.contains("KAFKA_BROKERS is empty, so `sink.kafka.brokers` names no cluster"),
            "{name}: {err}"
        );
    }
}

#[test]
fn check_command_fails_with_position_and_nonzero_exit() {
    let out = crate::common::sluice()
        .arg("check")
        .arg(root().join("tests/fixtures/bad/bad-acks.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bad-acks.yaml:7:11: "), "{stdout}");
}

#[test]
fn check_command_passes_on_every_example() {
    let mut cmd = crate::common::sluice();
    cmd.arg("check").env_remove("KAFKA_BROKERS");
    for e in [
        "examples/quickstart.yaml",
        "examples/payments.toml",
        "examples/kafka-to-kafka.yaml",
    ] {
        cmd.arg(root().join(e));
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("acks leader: at-least-once"), "{stdout}");
    assert!(stdout.contains("acks all: at-least-once"), "{stdout}");
    assert!(
        stdout.contains("exactly-once (Kafka transactions)"),
        "the Kafka → Kafka example is exactly-once: {stdout}"
    );
    assert!(
        stdout.contains("guarantee: embedded demo cluster: no durability"),
        "{stdout}"
    );
}

#[test]
fn check_command_refuses_two_files_with_one_name() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["a.yaml", "b.yaml"] {
        std::fs::write(dir.path().join(file), pipeline("twin", 1)).unwrap();
    }
    let out = crate::common::sluice()
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

fn pipeline(name: &str, count: u32) -> String {
    format!(
        "name: {name}\nsource:\n  plugin: {}\n  config: {{ count: {count}, rate: 0, seed: 1 }}\nsink:\n  kafka:\n    brokers: embedded\n    topic: {name}\n    acks: leader\n",
        plugin("orders").display()
    )
}

/// The state file of `name` anywhere under `state` (embedded pipelines may
/// keep theirs in a folder of their own).
fn state_file(state: &Path, name: &str) -> Option<PathBuf> {
    let want = format!("{name}.position.json");
    let mut dirs = vec![state.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().and_then(|n| n.to_str()) == Some(want.as_str()) {
                return Some(path);
            }
        }
    }
    None
}

/// Whether `name`'s state file says `want` records were acknowledged,
/// within `timeout`.
fn wait_for_acknowledged(state: &Path, name: &str, want: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let acknowledged = state_file(state, name)
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["acknowledged"].as_u64());
        if acknowledged == Some(want) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn run_starts_the_good_pipelines_and_reports_the_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("pipelines");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(
        files.join("a-bad.yaml"),
        pipeline("bad", 5).replace("acks: leader", "acks: most"),
    )
    .unwrap();
    std::fs::write(files.join("b-good.yaml"), pipeline("good", 30)).unwrap();
    let mut cmd = sluice_run(&files, &dir.path().join("state"), 60);
    cmd.env_remove("KAFKA_BROKERS");
    let mut r = Running::spawn(cmd);
    // The bad file is reported with its position...
    let bad = r.wait_event("the bad file", Duration::from_secs(60), |e| {
        e["event"] == "pipeline_file_invalid"
    });
    assert_eq!(bad["startup"], true, "{bad}");
    assert!(
        bad["file"].as_str().unwrap().ends_with("a-bad.yaml"),
        "{bad}"
    );
    assert!(
        bad["error"].as_str().unwrap().contains("a-bad.yaml:9:11: "),
        "{bad}"
    );
    // ...and the good pipeline runs to its end.
    assert!(
        wait_for_acknowledged(
            &dir.path().join("state"),
            "good",
            30,
            Duration::from_secs(120)
        ),
        "the good pipeline committed its last position"
    );
    assert!(state_file(&dir.path().join("state"), "bad").is_none());
    assert!(r.terminate().success(), "a clean stop exits 0");
}

#[test]
fn run_exits_non_zero_when_no_pipeline_can_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        pipeline("bad", 5).replace("acks: leader", "acks: most"),
    )
    .unwrap();
    let out = sluice_run(&file, &dir.path().join("state"), 60)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let events = crate::common::events_in(&out.stdout);
    assert!(
        events.iter().any(|e| e["event"] == "pipeline_file_invalid"
            && e["error"]
                .as_str()
                .unwrap_or_default()
                .contains("bad.yaml:9:11: ")),
        "{events:?}"
    );
}
