//! `sluice check`: validate files, load and open every plugin, show guarantees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::plugin::{PluginKind, Runtime, SourceInstance, TransformInstance};
use crate::position::{PositionsTopicError, inspect_positions_topic};
use crate::sink::inspect_topic;
use crate::spec::{Acks, Cluster, Pipeline, SourceRef, expand_paths, load_file};
use crate::supervisor::{PluginCache, plugin_label};

/// How long `--kafka` waits for each answer from the cluster.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

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
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in &files {
        let p = match load_file(file) {
            Err(errors) => {
                failed += 1;
                out!("FAIL {}", file.display());
                for e in errors.0 {
                    out!("  {}", e.to_string().replace('\n', "\n  "));
                }
                continue;
            }
            Ok(p) => p,
        };
        if let Some(first) = names.get(&p.spec.name) {
            failed += 1;
            out!("FAIL {}: pipeline `{}`", file.display(), p.spec.name);
            out!(
                "  {}: pipeline name `{}` is also used by {}; `sluice run` runs neither\n    help: give every pipeline a unique `name`",
                file.display(),
                p.spec.name,
                first.display()
            );
            continue;
        }
        names.insert(p.spec.name.clone(), file.clone());
        match check_plugins(&p, &plugins) {
            Ok(chain) => {
                out!("ok   {}: pipeline `{}`", file.display(), p.spec.name);
                describe(&p, &chain);
                if ask_kafka && !ask(&p) {
                    failed += 1;
                }
            }
            Err(e) => {
                failed += 1;
                out!("FAIL {}: pipeline `{}`", file.display(), p.spec.name);
                out!("  {e:#}");
            }
        }
    }
    out!("{} pipeline file(s) checked, {failed} failed", files.len());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The pipeline's chain, cluster and guarantee.
fn describe(p: &Pipeline, chain: &str) {
    let kafka = &p.spec.sink.kafka;
    let g = p.guarantee();
    out!(
        "     {chain} → kafka topic `{}` at {}",
        kafka.topic,
        kafka.cluster
    );
    out!("     guarantee: {}", g.summary());
    out!(
        "     acks {}: {}; loss: {}",
        kafka.acks.as_str(),
        g.delivery_text(),
        g.loss_text()
    );
    out!(
        "     duplicates: {}; order: {}",
        g.duplicates_text(),
        g.order_text()
    );
    out!(
        "     errors {}: {}",
        p.spec.errors.as_str(),
        g.rejects_text()
    );
    let allowed: Vec<String> = p.topics.allowed().map(|t| format!("`{t}`")).collect();
    if !allowed.is_empty() {
        out!("     topic overrides may also name {}", allowed.join(", "));
    }
}

/// Asks the pipeline's cluster about its topics; false when that failed or
/// the positions topic would be refused at start.
fn ask(p: &Pipeline) -> bool {
    let kafka = &p.spec.sink.kafka;
    let Cluster::Brokers(brokers) = &kafka.cluster else {
        out!("     kafka: embedded demo cluster (ignores acks; proves nothing about durability)");
        return true;
    };
    let mut ok = true;
    match inspect_topic(brokers, &kafka.topic, KAFKA_TIMEOUT) {
        Ok(Some(d)) => {
            out!(
                "     kafka: topic `{}` has {} replicas, min.insync.replicas={}",
                kafka.topic,
                d.replication_factor,
                d.min_insync_replicas
            );
            if let (Acks::All, Some(w)) = (kafka.acks, d.weakness(&kafka.topic)) {
                out!("     warning: {w}");
            }
        }
        Ok(None) => out!(
            "     kafka: topic `{}` does not exist yet (broker defaults apply when it is created)",
            kafka.topic
        ),
        Err(e) => {
            ok = false;
            out!("     kafka: {e:#}");
        }
    }
    if let Some(positions) = &p.spec.positions {
        match inspect_positions_topic(brokers, &positions.kafka_topic, KAFKA_TIMEOUT) {
            Ok(Some(t)) if t.is_compacted() => out!(
                "     positions: topic `{}` has {} partition(s), cleanup.policy={}",
                positions.kafka_topic,
                t.partitions,
                t.cleanup_policy
            ),
            Ok(Some(t)) => {
                ok = false;
                let refusal = PositionsTopicError::NotCompacted {
                    topic: positions.kafka_topic.clone(),
                    policy: t.cleanup_policy,
                    brokers: brokers.clone(),
                };
                out!("     positions: {refusal}");
            }
            Ok(None) => out!(
                "     positions: topic `{}` does not exist yet (created compacted at start)",
                positions.kafka_topic
            ),
            Err(e) => {
                ok = false;
                out!("     positions: {e}");
            }
        }
    }
    ok
}

fn check_plugins(p: &Pipeline, plugins: &PluginCache) -> anyhow::Result<String> {
    let mut chain = Vec::new();
    match &p.source {
        SourceRef::Plugin(source_ref) => {
            let source = plugins.get(&source_ref.path, PluginKind::Source)?;
            SourceInstance::open(
                &source,
                source_ref.config.clone(),
                None,
                source_ref.limits.clone(),
                &plugin_label(&source_ref.path),
            )?;
            chain.push(plugin_label(&source_ref.path));
        }
        SourceRef::Http(http) => chain.push(format!("http {}{}", http.listen, http.path)),
        SourceRef::Kafka(kafka) => chain.push(format!(
            "kafka {} (group {})",
            kafka
                .topic_pattern
                .clone()
                .unwrap_or_else(|| kafka.topics.join(",")),
            kafka.group
        )),
    }
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
