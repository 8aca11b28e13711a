//! Building one pipeline's flow from its file: read its position, load and
//! open its plugins, get its producer. Runs off the supervisor's task (it can
//! block on a plugin's `open` or on Kafka), never on the signal loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::plugins::{PluginCache, plugin_label};
use crate::events::{Event, Events, PluginInfo, StageId, WarningKind};
use crate::flow::{Flow, FlowHandle, FlowOptions, FlowParts, PluginSource, Source, Stage};
use crate::plugin::{PluginKind, SourceInstance, TransformInstance};
use crate::position::PositionStore;
use crate::sink::{KafkaSink, ProducerPool};
use crate::source::IngestRegistry;
use crate::source::http::PipelineInfo;
use crate::spec::{Acks, Pipeline, SourceRef};

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
    /// The HTTP ingest endpoints, kept across rebuilds.
    pub ingest: Arc<IngestRegistry>,
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
    // An HTTP source has no position: each request is answered instead.
    // A Kafka source's offsets live in its consumer group.
    let store = match (&p.source, &p.spec.positions) {
        (SourceRef::Http(_) | SourceRef::Kafka(_), _) => None,
        (_, Some(positions)) => Some(PositionStore::kafka(
            &target.brokers,
            &positions.kafka_topic,
            name,
        )?),
        (_, None) => Some(PositionStore::new(&state_dir, name)),
    };
    let resume = store
        .as_ref()
        .map(PositionStore::load)
        .transpose()?
        .flatten();
    let mut plugins = Vec::new();
    let mut source: Option<Box<dyn Source>> = None;
    if let SourceRef::Plugin(source_ref) = &p.source {
        let source_plugin = ctx.plugins.get(&source_ref.path, PluginKind::Source)?;
        let source_label = plugin_label(&source_ref.path);
        plugins.push(info(
            StageId::Source,
            &source_label,
            &source_ref.path,
            source_plugin.digest(),
        ));
        let instance = SourceInstance::open(
            &source_plugin,
            source_ref.config.clone(),
            resume.clone(),
            source_ref.limits.clone(),
            &source_label,
        )
        .with_context(|| format!("pipeline `{name}`: cannot open source"))?;
        source = Some(Box::new(PluginSource::new(instance, source_label)));
    }
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
    // Exactly-once: a transactional producer of the pipeline's own, whose
    // transaction the Kafka source commits with the consumed offsets.
    let transaction = match &p.source {
        SourceRef::Kafka(k) if p.spec.exactly_once => {
            let id = crate::source::kafka::transactional_id(name, k);
            let producer = ctx.producers.transactional(&target.brokers, kafka, &id)?;
            let t = crate::source::kafka::Transaction::start(
                producer.clone(),
                k.transaction_interval(),
            )
            .with_context(|| format!("pipeline `{name}`: exactly-once"))?;
            Some((t, producer))
        }
        _ => None,
    };
    let sink: Box<dyn crate::sink::Sink> = match &transaction {
        Some((t, producer)) => Box::new(crate::source::kafka::TransactionalSink::new(
            KafkaSink::new(producer.clone(), kafka, p.topics.clone()),
            t.clone(),
        )),
        None => Box::new(KafkaSink::new(
            ctx.producers.get(&target.brokers, kafka)?,
            kafka,
            p.topics.clone(),
        )),
    };
    let mut options = ctx.options.clone();
    if let Some(b) = p.spec.batch_size {
        options.batch_size = b.max(1);
    }
    if kafka.acks == Acks::All && !target.embedded {
        warn_if_weak(name, &target.brokers, &kafka.topic, &ctx.events);
    }
    // Bound last, so a pipeline that fails to build takes no requests.
    let source = match (source, &p.source) {
        (Some(s), _) => s,
        (None, SourceRef::Http(http)) => Box::new(ctx.ingest.attach(
            http,
            PipelineInfo {
                name: name.clone(),
                acks: kafka.acks,
                policy: p.spec.errors,
            },
            &ctx.events,
        )?),
        (None, SourceRef::Kafka(k)) => Box::new(crate::source::KafkaSource::open(
            k,
            &crate::source::KafkaSourceOptions {
                pipeline: name.clone(),
                brokers: k.brokers.clone().unwrap_or_else(|| target.brokers.clone()),
            },
            transaction.as_ref().map(|(t, _)| t.clone()),
            &ctx.events,
        )?),
        (None, SourceRef::Plugin(_)) => anyhow::bail!("pipeline `{name}`: no source was opened"),
    };
    let resumed_from = resume
        .as_deref()
        .map(|r| String::from_utf8_lossy(r).into_owned());
    if let Some(r) = &resumed_from {
        tracing::info!(pipeline = %name, position = %r, "Resuming from committed position");
    }
    let (flow, handle) = Flow::new(FlowParts {
        name: name.clone(),
        source,
        stages,
        sink,
        store,
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
                let kind = match w {
                    crate::sink::Weakness::NoWriteCanSucceed { .. } => WarningKind::UnwritableTopic,
                    _ => WarningKind::WeakDurability,
                };
                warn(kind, w.to_string());
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
