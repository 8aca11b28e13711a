//! Building one pipeline's flow from its file: read its position, load and
//! open its plugins, get its producer. Runs off the supervisor's task (it can
//! block on a plugin's `open` or on Kafka), never on the signal loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::plugins::{PluginCache, plugin_label};
use crate::events::{Event, Events, PluginInfo, StageId, WarningKind};
use crate::flow::{Flow, FlowHandle, FlowOptions, FlowParts, PluginSource, Stage};
use crate::plugin::{PluginKind, SourceInstance, TransformInstance};
use crate::position::PositionStore;
use crate::sink::{KafkaSink, ProducerPool};
use crate::spec::{Acks, Pipeline};

/// What building needs, shared by every pipeline of a process.
#[derive(Clone)]
pub struct BuildContext {
    /// Compiled plugins.
    pub plugins: PluginCache,
    /// Producers per cluster and acks policy.
    pub producers: Arc<ProducerPool>,
    /// Where events go.
    pub events: Events,
    /// Where file positions are stored.
    pub state_dir: PathBuf,
    /// Data path tunables.
    pub options: FlowOptions,
}

/// Where a pipeline's records go, as the supervisor resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Bootstrap servers.
    pub brokers: String,
    /// Whether they are the embedded demo cluster.
    pub embedded: bool,
}

/// A flow built and ready to run.
pub struct Built {
    /// The data path.
    pub flow: Flow,
    /// Handles on it.
    pub handle: FlowHandle,
    /// Its plugins, in chain order, as they run.
    pub plugins: Vec<PluginInfo>,
    /// Where it resumed (lossy text).
    pub resumed_from: Option<String>,
}

/// Builds `p`'s flow producing to `target`.
pub fn build(p: &Pipeline, target: &Target, ctx: &BuildContext) -> anyhow::Result<Built> {
    let name = &p.spec.name;
    let kafka = &p.spec.sink.kafka;
    // A demo cluster's positions never mix with a real cluster's.
    let state_dir = if target.embedded {
        ctx.state_dir.join("embedded")
    } else {
        ctx.state_dir.clone()
    };
    let store = match &p.spec.positions {
        Some(positions) => PositionStore::kafka(&target.brokers, &positions.kafka_topic, name)?,
        None => PositionStore::new(&state_dir, name),
    };
    let resume = store.load()?;
    let mut plugins = Vec::new();
    let source_plugin = ctx.plugins.get(&p.source.path, PluginKind::Source)?;
    let source_label = plugin_label(&p.source.path);
    plugins.push(info(
        StageId::Source,
        &source_label,
        &p.source.path,
        source_plugin.digest(),
    ));
    let source = SourceInstance::open(
        &source_plugin,
        p.source.config.clone(),
        resume.clone(),
        p.source.limits.clone(),
        &source_label,
    )
    .with_context(|| format!("pipeline `{name}`: cannot open source"))?;
    let mut stages = Vec::new();
    for (i, t) in p.transforms.iter().enumerate() {
        let plugin = ctx.plugins.get(&t.path, PluginKind::Transform)?;
        let label = plugin_label(&t.path);
        plugins.push(info(
            StageId::Transform(i),
            &label,
            &t.path,
            plugin.digest(),
        ));
        let instance = TransformInstance::open(&plugin, t.config.clone(), t.limits.clone(), &label)
            .with_context(|| format!("pipeline `{name}`: cannot open transform {}", i + 1))?;
        stages.push(Stage::new(StageId::Transform(i), label, Box::new(instance)));
    }
    let producer = ctx.producers.get(&target.brokers, kafka)?;
    let sink = KafkaSink::new(producer, kafka, Vec::new());
    let mut options = ctx.options.clone();
    if let Some(b) = p.spec.batch_size {
        options.batch_size = b.max(1);
    }
    if kafka.acks == Acks::All && !target.embedded {
        warn_if_weak(name, &target.brokers, &kafka.topic, &ctx.events);
    }
    let resumed_from = resume
        .as_deref()
        .map(|r| String::from_utf8_lossy(r).into_owned());
    if let Some(r) = &resumed_from {
        tracing::info!(pipeline = %name, position = %r, "Resuming from committed position");
    }
    let (flow, handle) = Flow::new(FlowParts {
        name: name.clone(),
        source: Box::new(PluginSource::new(source, source_label)),
        stages,
        sink: Box::new(sink),
        store: Some(store),
        resume,
        policy: p.spec.errors,
        dead_letter_topic: p.spec.dead_letter.as_ref().map(|d| d.topic.clone()),
        sink_topic: kafka.topic.clone(),
        events: ctx.events.clone(),
        options,
    });
    Ok(Built {
        flow,
        handle,
        plugins,
        resumed_from,
    })
}

fn info(stage: StageId, label: &str, path: &std::path::Path, digest: &str) -> PluginInfo {
    PluginInfo {
        stage,
        plugin: label.to_string(),
        file: path.display().to_string(),
        digest: digest.to_string(),
    }
}

/// Warns when the topic's replication makes `acks: all` no stronger than `leader`.
fn warn_if_weak(name: &str, brokers: &str, topic: &str, events: &Events) {
    let warn = |kind, message: String| {
        events.publish(Event::Warning {
            pipeline: Some(name.to_string()),
            kind,
            message,
        })
    };
    match crate::sink::inspect_topic(brokers, topic, Duration::from_secs(5)) {
        Ok(Some(d)) => {
            if let Some(w) = d.weakness(topic) {
                tracing::warn!(pipeline = %name, "{w}");
                warn(WarningKind::WeakDurability, w);
            }
        }
        Ok(None) => {
            tracing::info!(pipeline = %name, %topic, "Topic does not exist yet; its durability settings will be the broker defaults")
        }
        Err(e) => warn(
            WarningKind::TopicUnreadable,
            format!("could not read topic `{topic}`'s durability settings: {e:#}"),
        ),
    }
}
