//! `sluice-batch-gen`: writes every language's batch-layout constants from
//! `wit/types.wit` (`make gen`); with `--check`, writes nothing and fails when
//! a checked-in file is out of date (`make gen-check`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("usage: sluice-batch-gen [--check] (unknown argument `{other}`)");
            return ExitCode::from(2);
        }
    };
    let root = sluice_batch_gen::repository_root();
    let shown = |p: &std::path::Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
    if check {
        return match sluice_batch_gen::stale(&root) {
            Ok(stale) if stale.is_empty() => ExitCode::SUCCESS,
            Ok(stale) => {
                for path in stale {
                    eprintln!("out of date: {} (run `make gen`)", shown(&path));
                }
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let outputs = match sluice_batch_gen::outputs(&root) {
        Ok(outputs) => outputs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (path, text) in outputs {
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", shown(&path));
            return ExitCode::FAILURE;
        }
        println!("wrote {}", shown(&path));
    }
    ExitCode::SUCCESS
}
