//! Golden tests: a bad pipeline file and the exact error users see.
//!
//! Each `tests/fixtures/bad/NAME.{yaml,toml}` has `NAME.*.err` beside it with
//! the expected text (paths shown relative to the fixtures folder). Run with
//! `SLUICE_BLESS=1` to rewrite the goldens after an intended change, then
//! review the diff.

use crate::common::root;

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
    assert!(files.len() >= 8, "fixtures missing");
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
        assert!(
            err.contains(".yaml:") || err.contains(".toml:"),
            "error names the file: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn interpolation_uses_defaults_and_the_environment() {
    let file = root().join("examples/quickstart.yaml");
    let p = sluice::spec::load_file(&file).expect("quickstart loads");
    assert_eq!(p.spec.name, "quickstart");
    assert_eq!(
        p.spec.sink.kafka.brokers, None,
        "empty brokers means embedded"
    );
    assert_eq!(p.transforms.len(), 3);
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
    assert!(
        stdout.contains("bad-acks.yaml:7:11: unknown variant `most`"),
        "{stdout}"
    );
}

#[test]
fn check_command_passes_on_every_example() {
    let mut cmd = crate::common::sluice();
    cmd.arg("check");
    for e in ["examples/quickstart.yaml", "examples/payments.toml"] {
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
}
