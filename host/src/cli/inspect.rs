//! `sluice inspect`: what a component is, and whether the host can run it.

use std::path::Path;
use std::process::ExitCode;

use crate::plugin::{PluginError, PluginKind, Runtime, world};

/// Prints the component's world, imports and exports.
pub fn inspect(path: &Path, cache_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(cache_dir)?;
    let mut verdicts = Vec::new();
    let mut names = None;
    for kind in [PluginKind::Transform, PluginKind::Source] {
        match runtime.load(path, kind) {
            Ok(plugin) => {
                names = Some(plugin.names());
                verdicts.push((kind, Ok(plugin.digest().to_string())));
            }
            Err(
                e @ (PluginError::Read { .. }
                | PluginError::NotAComponent { .. }
                | PluginError::Compile { .. }),
            ) => {
                out!("{e}");
                return Ok(ExitCode::from(1));
            }
            Err(e) => verdicts.push((kind, Err(e))),
        }
    }
    let names = match names {
        Some(n) => n,
        None => runtime.component_names(path)?,
    };
    out!("{}", path.display());
    out!("  imports:");
    for i in &names.0 {
        let note = if world::is_provided_import(i) {
            ""
        } else {
            "   <- not provided by the host"
        };
        out!("    {i}{note}");
    }
    out!("  exports:");
    for e in &names.1 {
        out!("    {e}");
    }
    let mut runnable = false;
    for (kind, verdict) in verdicts {
        match verdict {
            Ok(digest) => {
                runnable = true;
                out!(
                    "  world: sluice:plugin/{kind}@{} — the host can run it as a {kind} (sha256 {digest})",
                    world::VERSION
                );
            }
            Err(PluginError::WrongWorld { problems, .. })
                if !problems.iter().any(|p| p.starts_with("it is a")) =>
            {
                out!("  not a {kind}: {}", problems.join("; "));
            }
            Err(PluginError::WrongWorld { .. }) => {}
            Err(e) => out!("  not a {kind}: {e}"),
        }
    }
    if !runnable {
        out!("  the host cannot run it: it fits neither sluice world");
    }
    Ok(if runnable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
