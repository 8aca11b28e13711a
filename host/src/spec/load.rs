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
    /// The source.
    pub source: SourceRef,
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

/// A pipeline's source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceRef {
    /// A source plugin.
    Plugin(PluginRef),
    /// The built-in HTTP ingest source.
    Http(super::source::HttpSourceSpec),
    /// The built-in Kafka consumer-group source.
    Kafka(super::source::KafkaSourceSpec),
}

impl SourceRef {
    /// The plugin, for a plugin source.
    pub fn plugin(&self) -> Option<&PluginRef> {
        match self {
            SourceRef::Plugin(p) => Some(p),
            SourceRef::Http(_) | SourceRef::Kafka(_) => None,
        }
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

    Checker::new(file, &tree, &lines).check(spec)
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

mod check;
use check::Checker;

#[cfg(test)]
mod tests;
