//! The checks of a loaded pipeline that the schema's types cannot express
//! (plugin files exist, names are sound, settings do not contradict each
//! other), each pointing at the value it is about.

use super::*;
use crate::spec::KafkaSourceSpec;

/// The checks the schema's types cannot express, each pointing at the value
/// it is about.
pub(super) struct Checker<'a> {
    file: &'a Path,
    tree: &'a Node,
    lines: &'a LineIndex<'a>,
    errors: Vec<FileError>,
}

/// A path into the file, written as a list of keys and indices.
type At<'p> = &'p [Seg<'p>];

impl<'a> Checker<'a> {
    /// A checker of the file `file`, parsed as `tree`.
    pub(super) fn new(file: &'a Path, tree: &'a Node, lines: &'a LineIndex<'a>) -> Self {
        Checker {
            file,
            tree,
            lines,
            errors: Vec::new(),
        }
    }

    fn push(&mut self, span: Span, message: String, hint: impl Into<String>) {
        let (line, column) = self.lines.locate(span.start);
        self.errors
            .push(FileError::at(self.file, line, column, message).hint(hint));
    }

    /// An error about the value at `path`.
    fn value(&mut self, path: At<'_>, message: String, hint: impl Into<String>) {
        let span = self.tree.find(path).span;
        self.push(span, message, hint);
    }

    /// An error about the key at the end of `path`.
    fn key(&mut self, path: At<'_>, message: String, hint: impl Into<String>) {
        let span = self.tree.key_span(path);
        self.push(span, message, hint);
    }

    /// How the value at `path` is named in messages: with the variables it
    /// came from, when it did.
    fn origin_of(&self, path: At<'_>) -> String {
        match self.tree.at(path).map(|n| n.vars.as_slice()) {
            Some([]) | None => String::new(),
            Some(vars) => format!(
                " (from {})",
                vars.iter()
                    .map(|v| format!("${{{v}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn topic(&mut self, path: At<'_>, field: &str, name: &str) {
        if let Some(why) = invalid_topic_name(name) {
            let shown = crate::spec::tree::shorten(name);
            let from = self.origin_of(path);
            self.value(
                path,
                format!("`{field}` `{shown}`{from} is not a valid Kafka topic name: {why}"),
                "name a topic made of letters, digits, `.`, `_` and `-`, e.g. `orders.eu`",
            );
        }
    }

    pub(super) fn check(mut self, spec: PipelineSpec) -> Result<Pipeline, FileErrors> {
        let name_ok = !spec.name.is_empty()
            && spec
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            self.value(
                &[Seg::Key("name")],
                format!(
                    "pipeline name `{}` is not valid",
                    crate::spec::tree::shorten(&spec.name)
                ),
                "use letters, digits, `-`, `_` and `.` only (it names the state file)",
            );
        }
        if spec.batch_size == Some(0) {
            self.value(
                &[Seg::Key("batch_size")],
                "`batch_size` must be at least 1".into(),
                "remove it to keep the default (512), or give a positive number",
            );
        }
        let base = self
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let source_plugin = spec.source.plugin_spec();
        let s = &spec.source;
        let builtins = [
            s.http.as_ref().map(|_| "http"),
            s.kafka.as_ref().map(|_| "kafka"),
        ];
        let builtin: Vec<&'static str> = builtins.into_iter().flatten().collect();
        let plugin_parts = !s.config.is_empty()
            || s.limits != LimitsSpec::default()
            || s.grants != GrantsSpec::default();
        match (&source_plugin, builtin.as_slice()) {
            (Some(plugin), []) => {
                self.plugin(&[Seg::Key("source")], plugin, spec.batch_size, &base)
            }
            (None, [one]) => {
                if plugin_parts {
                    self.value(
                        &[Seg::Key("source")],
                        format!("`config`, `limits` and `grants` belong to a source plugin, not to the {one} source"),
                        format!("remove them; the {one} source is set under `{one}`"),
                    );
                }
                if let Some(http) = &s.http {
                    for (key, message, hint) in http.problems() {
                        self.value(&[Seg::Key("source"), Seg::Key("http"), Seg::Key(key)], message, hint);
                    }
                }
                if let Some(kafka) = &s.kafka {
                    self.kafka_source(kafka);
                }
            }
            (None, []) => self.value(
                &[Seg::Key("source")],
                "the source names neither a `plugin` nor `http` nor `kafka`".into(),
                "write `source: { plugin: FILE.wasm }`, `source: { http: { listen: 127.0.0.1:8081 } }` or `source: { kafka: { topics: [orders], group: NAME } }`",
            ),
            (Some(_), [first, ..]) => self.key(
                &[Seg::Key("source"), Seg::Key(first)],
                format!("the source names both a `plugin` and `{first}`"),
                "keep one: a pipeline has one source",
            ),
            (None, [_, second, ..]) => self.key(
                &[Seg::Key("source"), Seg::Key(second)],
                "the source names both `http` and `kafka`".into(),
                "keep one: a pipeline has one source",
            ),
        }
        self.exactly_once(&spec);
        for (i, t) in spec.transforms.iter().enumerate() {
            self.plugin(
                &[Seg::Key("transforms"), Seg::Index(i)],
                t,
                spec.batch_size,
                &base,
            );
        }
        self.sink(&spec);
        if !self.errors.is_empty() {
            // In file order, whatever order the checks ran in.
            self.errors.sort_by_key(|e| (e.line, e.column));
            return Err(FileErrors(self.errors));
        }
        let kafka = &spec.sink.kafka;
        let reserved = spec
            .positions
            .iter()
            .map(|p| (p.kafka_topic.clone(), ReservedTopic::Positions))
            .chain(
                spec.dead_letter
                    .iter()
                    .map(|d| (d.topic.clone(), ReservedTopic::DeadLetter)),
            );
        let topics = TopicPolicy::new(&kafka.topic, kafka.topics_allowed.clone(), reserved);
        Ok(Pipeline {
            file: self.file.to_path_buf(),
            source: match (source_plugin, &spec.source.http, &spec.source.kafka) {
                (Some(plugin), _, _) => SourceRef::Plugin(PluginRef::new(&plugin, &base)),
                (None, Some(http), _) => SourceRef::Http(http.clone()),
                (None, None, Some(kafka)) => SourceRef::Kafka(kafka.clone()),
                (None, None, None) => return Err(FileErrors(self.errors)),
            },
            transforms: spec
                .transforms
                .iter()
                .map(|t| PluginRef::new(t, &base))
                .collect(),
            topics,
            spec,
        })
    }

    /// A plugin's file, `limits` and `grants`.
    fn plugin(&mut self, at: At<'_>, plugin: &PluginSpec, batch: Option<u32>, base: &Path) {
        fn join<'s>(at: &[Seg<'s>], rest: &[Seg<'s>]) -> Vec<Seg<'s>> {
            at.iter().chain(rest).copied().collect()
        }
        let field = |rest: &[Seg<'static>]| join(at, rest);
        let name = path_text(at);
        let path = base.join(&plugin.plugin);
        if !path.is_file() {
            self.value(
                &field(&[Seg::Key("plugin")]),
                format!(
                    "plugin file `{}` not found (looked at {})",
                    plugin.plugin,
                    path.display()
                ),
                "plugin paths are relative to the pipeline file; build the plugins with `make plugins`",
            );
        }
        let l = &plugin.limits;
        let zero: [(&str, bool); 6] = [
            ("memory_mb", l.memory_mb == Some(0)),
            ("call_timeout_ms", l.call_timeout_ms == Some(0)),
            ("open_timeout_ms", l.open_timeout_ms == Some(0)),
            ("max_output_records", l.max_output_records == Some(0)),
            ("fuel", l.fuel == Some(0)),
            (
                "max_consecutive_failures",
                l.max_consecutive_failures == Some(0),
            ),
        ];
        for (key, is_zero) in zero {
            if is_zero {
                self.value(
                    &field(&[Seg::Key("limits"), Seg::Key(key)]),
                    format!("`{name}.limits.{key}` must be at least 1"),
                    "remove it to keep the default, or give a positive number",
                );
            }
        }
        let too_big: [(&str, bool, String); 4] = [
            (
                "memory_mb",
                l.memory_mb.is_some_and(|m| m > MAX_MEMORY_MB),
                format!("{MAX_MEMORY_MB} (a 32-bit WebAssembly memory holds 4 GiB)"),
            ),
            (
                "max_output_mb",
                l.max_output_mb.is_some_and(|m| m > MAX_OUTPUT_MB),
                format!("{MAX_OUTPUT_MB} (output offsets are 32-bit)"),
            ),
            (
                "call_timeout_ms",
                l.call_timeout_ms.is_some_and(|m| m > MAX_TIMEOUT_MS),
                format!("{MAX_TIMEOUT_MS} (one hour)"),
            ),
            (
                "open_timeout_ms",
                l.open_timeout_ms.is_some_and(|m| m > MAX_TIMEOUT_MS),
                format!("{MAX_TIMEOUT_MS} (one hour)"),
            ),
        ];
        for (key, over, max) in too_big {
            if over {
                self.value(
                    &field(&[Seg::Key("limits"), Seg::Key(key)]),
                    format!("`{name}.limits.{key}` must be at most {max}"),
                    "give a smaller number, or remove it to keep the default",
                );
            }
        }
        let max_output = l
            .max_output_records
            .unwrap_or(Limits::DEFAULT_MAX_OUTPUT_RECORDS);
        if let Some(b) = batch.filter(|b| *b as usize > max_output) {
            self.value(
                &[Seg::Key("batch_size")],
                format!(
                    "`batch_size: {b}` is more than `{name}` may return per call (limits.max_output_records: {max_output}); even a passthrough would fail every batch"
                ),
                "lower `batch_size`, or raise the plugin's `limits.max_output_records`",
            );
        }
        let g = &plugin.grants;
        for (i, var) in g.env.iter().enumerate() {
            if var.is_empty() || var.contains(['=', '\0']) {
                self.value(
                    &field(&[Seg::Key("grants"), Seg::Key("env"), Seg::Index(i)]),
                    format!(
                        "`{name}.grants.env`: `{}` is not a variable name",
                        crate::spec::tree::shorten(var)
                    ),
                    "list names only, e.g. `env: [API_TOKEN]`; values come from Sluice's environment",
                );
            }
        }
        let mut guests = std::collections::BTreeSet::new();
        for (i, dir) in g.dirs.iter().flatten().enumerate() {
            let at_dir = |k: &'static str| {
                field(&[
                    Seg::Key("grants"),
                    Seg::Key("dirs"),
                    Seg::Index(i),
                    Seg::Key(k),
                ])
            };
            let host = base.join(&dir.host);
            if !host.is_dir() {
                self.value(
                    &at_dir("host"),
                    format!(
                        "`{name}.grants.dirs`: `{}` is not a directory (looked at {})",
                        dir.host,
                        host.display()
                    ),
                    "host paths are relative to the pipeline file; create the directory or fix the path",
                );
            }
            if dir.guest.trim().is_empty() || !guests.insert(dir.guest.clone()) {
                self.value(
                    &at_dir("guest"),
                    format!(
                        "`{name}.grants.dirs`: guest path `{}` is empty or given twice",
                        dir.guest
                    ),
                    "give each directory its own path inside the plugin, e.g. `/data`",
                );
            }
        }
        for (i, entry) in g.network.iter().flatten().enumerate() {
            if let Err(e) = entry.parse::<NetworkGrant>() {
                self.value(
                    &field(&[Seg::Key("grants"), Seg::Key("network"), Seg::Index(i)]),
                    format!("`{name}.grants.network`: {e}"),
                    "write `host:port`, `1.2.3.4:port` or `[::1]:port`",
                );
            }
        }
    }

    /// The sink, its topics, its producer properties and the error policy.
    fn sink(&mut self, spec: &PipelineSpec) {
        let kafka = &spec.sink.kafka;
        const KAFKA: [Seg<'static>; 2] = [Seg::Key("sink"), Seg::Key("kafka")];
        let at = |k: &'static str| [KAFKA[0], KAFKA[1], Seg::Key(k)];

        if let Cluster::Brokers(brokers) = &kafka.cluster {
            self.brokers(&at("brokers"), brokers);
        }
        self.topic(&at("topic"), "sink.kafka.topic", &kafka.topic);
        if kafka.key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            self.value(
                &at("key"),
                "`sink.kafka.key` is empty".into(),
                "name the JSON field to key records by, or remove `key`",
            );
        }
        let positions = spec.positions.as_ref().map(|p| p.kafka_topic.as_str());
        let positions_at = [Seg::Key("positions"), Seg::Key("kafka_topic")];
        let dead_letter = spec.dead_letter.as_ref().map(|d| d.topic.as_str());
        let dead_letter_at = [Seg::Key("dead_letter"), Seg::Key("topic")];
        if let Some(p) = positions {
            self.topic(&positions_at, "positions.kafka_topic", p);
            if p == kafka.topic {
                self.value(
                    &positions_at,
                    format!("the positions topic `{p}` is the sink topic"),
                    "keep positions in a topic of their own, e.g. `sluice-positions`",
                );
            }
            if dead_letter == Some(p) {
                self.value(
                    &positions_at,
                    format!("the positions topic `{p}` is the dead-letter topic"),
                    "keep positions in a topic of their own, e.g. `sluice-positions`",
                );
            }
        }
        for (i, t) in kafka.topics_allowed.iter().enumerate() {
            let path = [
                KAFKA[0],
                KAFKA[1],
                Seg::Key("topics_allowed"),
                Seg::Index(i),
            ];
            self.topic(&path, "sink.kafka.topics_allowed", t);
            let reserved = if Some(t.as_str()) == positions {
                Some(ReservedTopic::Positions)
            } else if Some(t.as_str()) == dead_letter {
                Some(ReservedTopic::DeadLetter)
            } else {
                None
            };
            if let Some(r) = reserved {
                self.value(
                    &path,
                    format!(
                        "`sink.kafka.topics_allowed` names `{t}`, the pipeline's `{}`: plugins may never write there",
                        r.setting()
                    ),
                    "remove it from `topics_allowed`",
                );
            }
        }
        for (key, value) in &kafka.producer {
            if let Some((message, hint)) = producer::refusal(key, value.as_str(), kafka.acks) {
                self.key(
                    &[KAFKA[0], KAFKA[1], Seg::Key("producer"), Seg::Key(key)],
                    message,
                    hint,
                );
            }
        }
        match (spec.errors, &spec.dead_letter) {
            (ErrorPolicy::DeadLetter, None) => self.value(
                &[Seg::Key("errors")],
                "`errors: dead-letter` needs a dead-letter topic".into(),
                "add `dead_letter: { topic: NAME }` to the pipeline",
            ),
            (ErrorPolicy::DeadLetter, Some(_)) if kafka.acks == Acks::None => self.value(
                &[Seg::Key("errors")],
                "`errors: dead-letter` with `acks: none` contradicts itself: dead letters could be lost silently".into(),
                "use `acks: leader` or `acks: all`, or `errors: skip`",
            ),
            (ErrorPolicy::DeadLetter, Some(d)) => {
                self.topic(&dead_letter_at, "dead_letter.topic", &d.topic);
                if d.topic == kafka.topic {
                    self.value(
                        &dead_letter_at,
                        "the dead-letter topic must differ from the sink topic".into(),
                        "name a separate topic, e.g. `orders.dlq`",
                    );
                }
            }
            (ErrorPolicy::Fail | ErrorPolicy::Skip, Some(_)) => self.key(
                &[Seg::Key("dead_letter")],
                format!("`dead_letter` is set but `errors` is `{}`", spec.errors.as_str()),
                "set `errors: dead-letter`, or remove `dead_letter`",
            ),
            (ErrorPolicy::Fail | ErrorPolicy::Skip, None) => {}
        }
    }

    /// The kafka source's settings and consumer properties.
    fn kafka_source(&mut self, kafka: &KafkaSourceSpec) {
        let at = |k: &'static str| [Seg::Key("source"), Seg::Key("kafka"), Seg::Key(k)];
        for (key, message, hint) in kafka.problems() {
            self.value(&at(key), message, hint);
        }
        if let Some(brokers) = kafka.brokers.as_deref().filter(|b| !b.trim().is_empty()) {
            self.brokers(&at("brokers"), brokers);
        }
        for key in kafka.consumer.keys() {
            if let Some((message, hint)) = KafkaSourceSpec::consumer_refusal(key) {
                self.key(
                    &[
                        Seg::Key("source"),
                        Seg::Key("kafka"),
                        Seg::Key("consumer"),
                        Seg::Key(key),
                    ],
                    message,
                    hint,
                );
            }
        }
    }

    /// `exactly_once: true` only where it can hold, saying why not.
    fn exactly_once(&mut self, spec: &PipelineSpec) {
        let at = [Seg::Key("exactly_once")];
        let kafka = &spec.sink.kafka;
        if !spec.exactly_once {
            if spec
                .source
                .kafka
                .as_ref()
                .is_some_and(|k| k.transaction_interval_ms.is_some())
            {
                self.key(
                    &[
                        Seg::Key("source"),
                        Seg::Key("kafka"),
                        Seg::Key("transaction_interval_ms"),
                    ],
                    "`transaction_interval_ms` is set but the pipeline is not `exactly_once`"
                        .into(),
                    "add `exactly_once: true` to the pipeline, or remove `transaction_interval_ms`",
                );
            }
            return;
        }
        let Some(source) = &spec.source.kafka else {
            self.value(
                &at,
                "`exactly_once: true` needs the kafka source: only Kafka can commit what was read in the same transaction as what was written (a plugin or HTTP source's position lives outside Kafka's transaction)".into(),
                "use `source: { kafka: {...} }`, or remove `exactly_once` (the pipeline is then at-least-once)",
            );
            return;
        };
        if kafka.acks != Acks::All {
            self.value(
                &at,
                format!(
                    "`exactly_once: true` needs `acks: all` (this pipeline has `acks: {}`): Kafka transactions use the idempotent producer, which writes to every in-sync replica",
                    kafka.acks.as_str()
                ),
                "set `acks: all` in the kafka sink",
            );
        }
        if spec.errors == ErrorPolicy::Skip {
            self.value(
                &at,
                "`exactly_once: true` with `errors: skip` contradicts itself: a skipped record is delivered zero times".into(),
                "use `errors: dead-letter` (each rejected record lands once in the dead-letter topic, in the same transaction) or `errors: fail`",
            );
        }
        if kafka.cluster.is_embedded() {
            self.value(
                &at,
                "`exactly_once: true` needs a real cluster: the embedded demo cluster keeps no durable transaction state".into(),
                "set `brokers:` in the kafka sink",
            );
        }
        if let (Some(read), Cluster::Brokers(write)) = (&source.brokers, &kafka.cluster)
            && read.trim() != write.trim()
        {
            self.value(
                &[Seg::Key("source"), Seg::Key("kafka"), Seg::Key("brokers")],
                "under `exactly_once: true` the kafka source must read the sink's cluster: a transaction spans one cluster".into(),
                "remove `brokers` from the kafka source (it then reads the sink's cluster), or drop `exactly_once`",
            );
        }
        if spec.positions.is_some() {
            self.key(
                &[Seg::Key("positions")],
                "`positions` is not used by a kafka source: its offsets live in the consumer group"
                    .into(),
                "remove `positions`",
            );
        }
    }

    /// A bootstrap list: never empty (an empty variable must not mean the
    /// demo cluster), entries `host[:port]` without spaces.
    fn brokers(&mut self, at: At<'_>, brokers: &str) {
        let vars = self.tree.at(at).map(|n| n.vars.clone()).unwrap_or_default();
        if brokers.trim().is_empty() {
            let message = match vars.as_slice() {
                [] => "`sink.kafka.brokers` is empty".to_string(),
                [one] => format!("{one} is empty, so `sink.kafka.brokers` names no cluster"),
                many => format!(
                    "{} are empty, so `sink.kafka.brokers` names no cluster",
                    many.join(", ")
                ),
            };
            let set = vars.first().map_or_else(
                || "write the bootstrap servers (`host:port,...`)".to_string(),
                |v| format!("set {v} to the bootstrap servers (`host:port,...`)"),
            );
            self.value(
                at,
                message,
                format!(
                    "{set}; for the embedded demo cluster (no durability) write `brokers: embedded` or leave `brokers` out"
                ),
            );
            return;
        }
        let bad = brokers
            .split(',')
            .map(str::trim)
            .find(|b| b.is_empty() || b.contains(|c: char| c.is_whitespace() || c.is_control()));
        if let Some(entry) = bad {
            let from = self.origin_of(at);
            self.value(
                at,
                format!(
                    "`sink.kafka.brokers`{from} has an entry `{}` that is not `host:port`",
                    crate::spec::tree::shorten(entry)
                ),
                "write the bootstrap servers as `host:port,host:port`",
            );
        }
    }
}

/// `source` or `transforms[2]`, for messages.
fn path_text(at: At<'_>) -> String {
    let mut out = String::new();
    for seg in at {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}
