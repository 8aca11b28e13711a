//! Reading pipeline files: bytes → UTF-8 text → a tree of located values
//! (YAML or TOML by extension) → `${VAR}` substituted inside each value →
//! typed into the schema → checked for what the types cannot say (plugin
//! files exist, names are sound, settings do not contradict each other).
//! Every problem names file:line:column, and all of a file's problems are
//! reported at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::de::from_node;
use super::error::{FileError, FileErrors};
use super::guarantee::Guarantee;
use super::interpolate::interpolate;
use super::schema::{
    Acks, Cluster, DirModeSpec, ErrorPolicy, GrantsSpec, LimitsSpec, PipelineSpec, PluginSpec,
};
use super::topics::{ReservedTopic, TopicPolicy, invalid_topic_name};
use super::tree::{Kind, LineIndex, Node, Seg, Span};
use super::{producer, read_toml, read_yaml};
use crate::plugin::{DirGrant, DirMode, Grants, Limits, NetworkGrant};

/// Largest pipeline file read, in bytes (a pipeline takes a few KiB).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Largest `limits.memory_mb`: a 32-bit WebAssembly memory holds 4 GiB.
const MAX_MEMORY_MB: u32 = 4096;
/// Largest `limits.max_output_mb`: output offsets are 32-bit.
const MAX_OUTPUT_MB: usize = 4095;
/// Largest `limits.call_timeout_ms` / `open_timeout_ms`: one hour.
const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// A pipeline read from a file, with plugin paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// The file it came from.
    pub file: PathBuf,
    /// What the file says (after interpolation).
    pub spec: PipelineSpec,
    /// The source plugin.
    pub source: PluginRef,
    /// The transform plugins, in order.
    pub transforms: Vec<PluginRef>,
    /// The topics its records may go to (a record's topic override is
    /// checked against it).
    pub topics: TopicPolicy,
}

impl Pipeline {
    /// The cluster it produces to.
    pub fn cluster(&self) -> &Cluster {
        &self.spec.sink.kafka.cluster
    }

    /// What it promises.
    pub fn guarantee(&self) -> Guarantee {
        Guarantee::of(&self.spec)
    }
}

/// A plugin as a pipeline uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRef {
    /// Absolute-or-as-resolved path of the component file.
    pub path: PathBuf,
    /// Configuration as text pairs, in key order.
    pub config: Vec<(String, String)>,
    /// Resource limits.
    pub limits: Limits,
}

impl PluginRef {
    fn new(spec: &PluginSpec, base: &Path) -> Self {
        PluginRef {
            path: base.join(&spec.plugin),
            config: spec
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            limits: Limits {
                grants: grants_from(&spec.grants, base),
                ..limits_from(&spec.limits)
            },
        }
    }
}

fn grants_from(spec: &GrantsSpec, base: &Path) -> Grants {
    Grants {
        env: spec.env.clone(),
        dirs: spec.dirs.as_ref().map(|dirs| {
            dirs.iter()
                .map(|d| DirGrant {
                    host: base.join(&d.host),
                    guest: d.guest.clone(),
                    mode: match d.mode {
                        DirModeSpec::Ro => DirMode::ReadOnly,
                        DirModeSpec::Rw => DirMode::ReadWrite,
                    },
                })
                .collect()
        }),
        // Entries that do not parse are reported by `Checker::plugin`.
        network: spec
            .network
            .as_ref()
            .map(|n| n.iter().filter_map(|s| s.parse().ok()).collect()),
    }
}

fn limits_from(spec: &LimitsSpec) -> Limits {
    let d = Limits::default();
    Limits {
        memory_bytes: spec
            .memory_mb
            .map_or(d.memory_bytes, |m| (m as usize) << 20),
        call_timeout: spec.call_timeout_ms.map(Duration::from_millis),
        open_timeout: spec
            .open_timeout_ms
            .map_or(d.open_timeout, Duration::from_millis),
        max_output_records: spec.max_output_records.unwrap_or(d.max_output_records),
        max_output_bytes: spec.max_output_mb.map_or(d.max_output_bytes, |m| m << 20),
        fuel: spec.fuel,
        max_consecutive_failures: spec
            .max_consecutive_failures
            .unwrap_or(d.max_consecutive_failures),
        grants: crate::plugin::Grants::default(),
    }
}

/// Finds every pipeline file named by `paths`: files as given, directories
/// expanded to their `.yaml`, `.yml` and `.toml` files (sorted, not recursive).
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_file() && format_of(p).is_some())
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        errors.push(
                            FileError::at(path, 0, 0, "directory has no pipeline files")
                                .hint("add a .yaml, .yml or .toml pipeline file"),
                        );
                    }
                    files.extend(found);
                }
                Err(e) => errors.push(FileError::at(
                    path,
                    0,
                    0,
                    format!("cannot read directory: {e}"),
                )),
            }
        } else {
            files.push(path.clone());
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(FileErrors(errors))
    }
}

/// What [`load_all`] found: the pipelines that can run, and the problems of
/// the files that cannot (one bad file never hides the good ones).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Pipelines that loaded, in file order.
    pub pipelines: Vec<Pipeline>,
    /// Problems of the files that did not, each with file:line:column.
    pub errors: FileErrors,
}

/// Loads every file. A file that fails is reported in [`Loaded::errors`];
/// the others load. Two files naming the same pipeline are both refused,
/// each error naming the other file, since neither is more right.
pub fn load_all(files: &[PathBuf]) -> Loaded {
    let mut pipelines = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match load_file(file) {
            Ok(p) => pipelines.push(p),
            Err(e) => errors.extend(e.0),
        }
    }
    let mut by_name: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for p in &pipelines {
        by_name
            .entry(p.spec.name.clone())
            .or_default()
            .push(p.file.clone());
    }
    pipelines.retain(|p| {
        let files = &by_name[&p.spec.name];
        if files.len() == 1 {
            return true;
        }
        let others: Vec<String> = files
            .iter()
            .filter(|f| **f != p.file)
            .map(|f| f.display().to_string())
            .collect();
        errors.push(
            FileError::at(
                &p.file,
                0,
                0,
                format!(
                    "pipeline name `{}` is also used by {}; none of them runs",
                    p.spec.name,
                    others.join(", ")
                ),
            )
            .hint("give every pipeline a unique `name` (it names its positions)"),
        );
        false
    });
    Loaded {
        pipelines,
        errors: FileErrors(errors),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Toml,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()? {
        "yaml" | "yml" => Some(Format::Yaml),
        "toml" => Some(Format::Toml),
        _ => None,
    }
}

/// Reads, interpolates (from the process environment), parses and checks one file.
pub fn load_file(file: &Path) -> Result<Pipeline, FileErrors> {
    let one = |e: FileError| FileErrors(vec![e]);
    format_of(file).ok_or_else(|| {
        one(FileError::at(file, 0, 0, "unknown pipeline file type")
            .hint("name it .yaml, .yml or .toml"))
    })?;
    let size = std::fs::metadata(file)
        .map_err(|e| one(FileError::at(file, 0, 0, format!("cannot read file: {e}"))))?
        .len();
    if size > MAX_FILE_BYTES as u64 {
        return Err(one(too_large(file, size)));
    }
    let bytes = std::fs::read(file)
        .map_err(|e| one(FileError::at(file, 0, 0, format!("cannot read file: {e}"))))?;
    load_bytes(file, &bytes, &|name| std::env::var(name).ok())
}

fn too_large(file: &Path, size: u64) -> FileError {
    FileError::at(
        file,
        0,
        0,
        format!("the file is {size} bytes; pipeline files are at most {MAX_FILE_BYTES}"),
    )
    .hint("is this the right file? a pipeline takes a few KiB")
}

/// Loads a pipeline from `bytes` as if read from `file` (whose extension
/// picks the format and whose folder plugin paths are relative to), taking
/// `${VAR}` values from `env`.
pub fn load_bytes(
    file: &Path,
    bytes: &[u8],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Pipeline, FileErrors> {
    let one = |e: FileError| FileErrors(vec![e]);
    let format = format_of(file).ok_or_else(|| {
        one(FileError::at(file, 0, 0, "unknown pipeline file type")
            .hint("name it .yaml, .yml or .toml"))
    })?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(one(too_large(file, bytes.len() as u64)));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| one(not_utf8(file, bytes, &e)))?;
    // A byte-order mark is invisible in editors; neither parser needs it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = LineIndex::new(text);
    let locate = |span_start: usize| lines.locate(span_start);
    let mut tree = match format {
        Format::Yaml => read_yaml::parse(text),
        Format::Toml => read_toml::parse(text),
    }
    .map_err(|e| {
        let (line, column) = locate(e.at);
        one(FileError::at(file, line, column, e.message).hint(e.hint))
    })?;

    let mut errors = Vec::new();
    substitute(&mut tree, text, env, &mut |at, message, hint| {
        let (line, column) = locate(at);
        errors.push(FileError::at(file, line, column, message).hint(hint));
    });
    if !errors.is_empty() {
        return Err(FileErrors(errors));
    }

    let spec: PipelineSpec = from_node(&tree).map_err(|e| {
        let (line, column) = locate(e.span.unwrap_or_default().start);
        let (message, hint) = e.render(format == Format::Toml);
        one(FileError::at(file, line, column, message).hint(hint))
    })?;

    let checker = Checker {
        file,
        tree: &tree,
        lines: &lines,
        errors: Vec::new(),
    };
    checker.check(spec)
}

/// The line and column of the first byte that is not UTF-8.
fn not_utf8(file: &Path, bytes: &[u8], e: &std::str::Utf8Error) -> FileError {
    let good = e.valid_up_to();
    // Valid up to `good` by definition.
    let before = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
    let (line, column) = LineIndex::new(before).locate(good);
    FileError::at(
        file,
        line,
        column,
        format!(
            "the file is not UTF-8 text: byte 0x{:02x} here is not valid UTF-8",
            bytes[good]
        ),
    )
    .hint("save the file as UTF-8")
}

/// Replaces `${VAR}` inside every scalar value (keys are left alone) and
/// records which variables each value used.
fn substitute(
    node: &mut Node,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut dyn FnMut(usize, String, String),
) {
    match &mut node.kind {
        Kind::Scalar(s) => {
            if !s.text.contains('$') {
                return;
            }
            match interpolate(&s.text, env) {
                Ok(done) => {
                    s.text = done.text;
                    node.vars = done.vars;
                }
                Err(e) => {
                    let raw = text.get(node.span.start..node.span.end).unwrap_or_default();
                    let at = node.span.start + offset_in_raw(raw, &s.text, e.offset).unwrap_or(0);
                    report(at, e.message, e.hint);
                }
            }
        }
        Kind::Seq(items) => {
            for item in items {
                substitute(item, text, env, report);
            }
        }
        Kind::Map(entries) => {
            for entry in entries {
                substitute(&mut entry.value, text, env, report);
            }
        }
    }
}

/// Where the reference at byte `offset` of a value's text stands in the raw
/// source of that value (quotes and escapes change offsets, not the
/// reference itself), if it can be found.
fn offset_in_raw(raw: &str, cooked: &str, offset: usize) -> Option<usize> {
    let rest = cooked.get(offset..)?;
    let end = rest.find(['}', '\n']).map_or(rest.len(), |i| i + 1);
    let needle = &rest[..end];
    let earlier = cooked[..offset].matches(needle).count();
    raw.match_indices(needle).nth(earlier).map(|(i, _)| i)
}

/// The checks the schema's types cannot express, each pointing at the value
/// it is about.
struct Checker<'a> {
    file: &'a Path,
    tree: &'a Node,
    lines: &'a LineIndex<'a>,
    errors: Vec<FileError>,
}

/// A path into the file, written as a list of keys and indices.
type At<'p> = &'p [Seg<'p>];

impl Checker<'_> {
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
            let shown = super::tree::shorten(name);
            let from = self.origin_of(path);
            self.value(
                path,
                format!("`{field}` `{shown}`{from} is not a valid Kafka topic name: {why}"),
                "name a topic made of letters, digits, `.`, `_` and `-`, e.g. `orders.eu`",
            );
        }
    }

    fn check(mut self, spec: PipelineSpec) -> Result<Pipeline, FileErrors> {
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
                    super::tree::shorten(&spec.name)
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
        self.plugin(&[Seg::Key("source")], &spec.source, spec.batch_size, &base);
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
            source: PluginRef::new(&spec.source, &base),
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
                        super::tree::shorten(var)
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
                    super::tree::shorten(entry)
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

#[cfg(test)]
mod tests;
