//! `sluice check`: validate files, load and open every plugin, show guarantees.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::time::Duration;

use crate::plugin::{PluginKind, Runtime, SourceInstance, TransformInstance};
use crate::sink::inspect_topic;
use crate::spec::{Acks, Pipeline, expand_paths, guarantee, load_file};
use crate::supervisor::{PluginCache, plugin_label};

/// Checks every file; prints one block per pipeline; exit 1 if any failed.
pub fn check(
    paths: &[PathBuf],
    cache_dir: Option<&Path>,
    ask_kafka: bool,
) -> anyhow::Result<ExitCode> {
    let files = expand_paths(paths)?;
    let runtime = Runtime::new(cache_dir)?;
    let plugins = PluginCache::new(runtime);
    let mut failed = 0;
    for file in &files {
        match load_file(file) {
            Err(errors) => {
                failed += 1;
                out!("FAIL {}", file.display());
                for e in errors.0 {
                    out!("  {}", e.to_string().replace('\n', "\n  "));
                }
            }
            Ok(p) => match check_plugins(&p, &plugins) {
                Ok(chain) => {
                    let g = guarantee(&p.spec);
                    let kafka = &p.spec.sink.kafka;
                    out!("ok   {}: pipeline `{}`", file.display(), p.spec.name);
                    out!(
                        "     {chain} → kafka topic `{}` at {}",
                        kafka.topic,
                        kafka
                            .brokers
                            .as_deref()
                            .unwrap_or("(embedded demo cluster)")
                    );
                    out!(
                        "     acks {}: {}; loss: {}",
                        kafka.acks.as_str(),
                        g.delivery,
                        g.loss
                    );
                    out!("     duplicates: {}; order: {}", g.duplicates, g.order);
                    out!("     errors {}: {}", p.spec.errors.as_str(), g.rejects);
                    if ask_kafka {
                        match &kafka.brokers {
                            None => out!(
                                "     kafka: embedded demo cluster (ignores acks; proves nothing about durability)"
                            ),
                            Some(brokers) => {
                                match inspect_topic(brokers, &kafka.topic, Duration::from_secs(10))
                                {
                                    Ok(Some(d)) => {
                                        out!(
                                            "     kafka: topic `{}` has {} replicas, min.insync.replicas={}",
                                            kafka.topic,
                                            d.replication_factor,
                                            d.min_insync_replicas
                                        );
                                        if let (Acks::All, Some(w)) =
                                            (kafka.acks, d.weakness(&kafka.topic))
                                        {
                                            out!("     warning: {w}");
                                        }
                                    }
                                    Ok(None) => out!(
                                        "     kafka: topic `{}` does not exist yet (broker defaults apply when it is created)",
                                        kafka.topic
                                    ),
                                    Err(e) => {
                                        failed += 1;
                                        out!("     kafka: {e:#}");
                                    }
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    failed += 1;
                    out!("FAIL {}: pipeline `{}`", file.display(), p.spec.name);
                    out!("  {e:#}");
                }
            },
        }
    }
    out!("{} pipeline file(s) checked, {failed} failed", files.len());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_plugins(p: &Pipeline, plugins: &PluginCache) -> anyhow::Result<String> {
    let source = plugins.get(&p.source.path, PluginKind::Source)?;
    SourceInstance::open(
        &source,
        p.source.config.clone(),
        None,
        p.source.limits.clone(),
        &plugin_label(&p.source.path),
    )?;
    let mut chain = vec![plugin_label(&p.source.path)];
    for t in &p.transforms {
        let plugin = plugins.get(&t.path, PluginKind::Transform)?;
        TransformInstance::open(
            &plugin,
            t.config.clone(),
            t.limits.clone(),
            &plugin_label(&t.path),
        )?;
        chain.push(plugin_label(&t.path));
    }
    Ok(chain.join(" → "))
}
