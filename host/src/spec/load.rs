//! Reading pipeline files: interpolate, parse (YAML or TOML by extension),
//! then check what the parser cannot (plugin files exist, names are sound,
//! settings do not contradict each other). All problems are reported at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{FileError, FileErrors};
use super::interpolate::interpolate;
use std::time::Duration;

use super::schema::{
    Acks, DirModeSpec, ErrorPolicy, GrantsSpec, LimitsSpec, PipelineSpec, PluginSpec,
};
use crate::plugin::{DirGrant, DirMode, Grants, Limits, NetworkGrant};

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
        // Entries that do not parse are reported by `check_limits_and_grants`.
        network: spec
            .network
            .as_ref()
            .map(|n| n.iter().filter_map(|s| s.parse().ok()).collect()),
    }
}

/// Checks a plugin's `limits` and `grants` for values that cannot work.
fn check_limits_and_grants(
    plugin: &PluginSpec,
    base: &Path,
    at: &dyn Fn(&str, &str, String, &str) -> FileError,
    errors: &mut Vec<FileError>,
) {
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
            errors.push(at(
                key,
                "0",
                format!("`limits.{key}` of {} must be at least 1", plugin.plugin),
                "remove it to keep the default, or give a positive number",
            ));
        }
    }
    let g = &plugin.grants;
    for name in &g.env {
        if name.is_empty() || name.contains(['=', '\0']) {
            errors.push(at(
                "env",
                name,
                format!(
                    "`grants.env` of {}: `{name}` is not a variable name",
                    plugin.plugin
                ),
                "list names only, e.g. `env: [API_TOKEN]`; values come from Sluice's environment",
            ));
        }
    }
    let mut guests = std::collections::BTreeSet::new();
    for dir in g.dirs.iter().flatten() {
        let host = base.join(&dir.host);
        if !host.is_dir() {
            errors.push(at(
                "host",
                &dir.host,
                format!(
                    "`grants.dirs` of {}: `{}` is not a directory (looked at {})",
                    plugin.plugin,
                    dir.host,
                    host.display()
                ),
                "host paths are relative to the pipeline file; create the directory or fix the path",
            ));
        }
        if dir.guest.trim().is_empty() || !guests.insert(dir.guest.clone()) {
            errors.push(at(
                "guest",
                &dir.guest,
                format!(
                    "`grants.dirs` of {}: guest path `{}` is empty or given twice",
                    plugin.plugin, dir.guest
                ),
                "give each directory its own path inside the plugin, e.g. `/data`",
            ));
        }
    }
    for entry in g.network.iter().flatten() {
        if let Err(e) = entry.parse::<NetworkGrant>() {
            errors.push(at(
                "network",
                entry,
                format!("`grants.network` of {}: {e}", plugin.plugin),
                "write `host:port`, `1.2.3.4:port` or `[::1]:port`",
            ));
        }
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

/// librdkafka producer properties that the `acks` policy owns.
const POLICY_OWNED_PROPERTIES: &[&str] = &[
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "bootstrap.servers",
    "metadata.broker.list",
];

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

/// Loads every file, checking names are unique across them.
pub fn load_all(files: &[PathBuf]) -> Result<Vec<Pipeline>, FileErrors> {
    let mut pipelines: Vec<Pipeline> = Vec::new();
    let mut errors = Vec::new();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        match load_file(file) {
            Ok(p) => {
                if let Some(first) = names.get(&p.spec.name) {
                    errors.push(
                        FileError::at(
                            file,
                            0,
                            0,
                            format!(
                                "pipeline name `{}` is already used by {}",
                                p.spec.name,
                                first.display()
                            ),
                        )
                        .hint("give every pipeline a unique `name`"),
                    );
                } else {
                    names.insert(p.spec.name.clone(), file.clone());
                    pipelines.push(p);
                }
            }
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() {
        Ok(pipelines)
    } else {
        Err(FileErrors(errors))
    }
}

#[derive(Clone, Copy)]
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
    let format = format_of(file).ok_or_else(|| {
        one(FileError::at(file, 0, 0, "unknown pipeline file type")
            .hint("name it .yaml, .yml or .toml"))
    })?;
    let raw = std::fs::read_to_string(file)
        .map_err(|e| one(FileError::at(file, 0, 0, format!("cannot read file: {e}"))))?;
    let text = interpolate(&raw, |name| std::env::var(name).ok())
        .map_err(|e| one(FileError::at(file, e.line, e.column, e.message).hint(e.hint)))?;
    let spec = parse(file, &text, format).map_err(one)?;
    check(file, &text, spec)
}

fn parse(file: &Path, text: &str, format: Format) -> Result<PipelineSpec, FileError> {
    match format {
        Format::Yaml => serde_saphyr::from_str::<PipelineSpec>(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line() as usize, l.column() as usize))
                .unwrap_or((0, 0));
            FileError::at(file, line, column, yaml_message(&e)).hint(hint_for(&yaml_message(&e)))
        }),
        Format::Toml => toml::from_str::<PipelineSpec>(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            let message = e.message().trim().to_string();
            FileError::at(file, line, column, message.clone()).hint(hint_for(&message))
        }),
    }
}

/// The parser's message without its own location and snippet decoration.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or_default().trim();
    // serde-saphyr puts "line L column C: " before the message; we say where ourselves.
    let message = match first.find("column ") {
        Some(i) => {
            let after = &first[i + "column ".len()..];
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            after[digits..].strip_prefix(": ").unwrap_or(first)
        }
        None => first,
    };
    message.trim_start_matches("error: ").to_string()
}

fn hint_for(message: &str) -> String {
    if message.contains("unknown field") {
        "remove it or fix its spelling; see the pipeline file reference in README.md".into()
    } else if message.contains("unknown variant") {
        "use one of the values listed".into()
    } else if message.contains("missing field") {
        "add it; see the pipeline file reference in README.md".into()
    } else {
        "fix the syntax at this position".into()
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// Where `value` stands as the value of `key` (first match), for errors found
/// after parsing; falls back to the first line mentioning `key`.
fn locate(text: &str, key: &str, value: &str) -> (usize, usize) {
    let mut key_line = None;
    for (i, line) in text.lines().enumerate() {
        let Some(k) = line.find(key) else { continue };
        key_line.get_or_insert((i + 1, line[..k].chars().count() + 1));
        if value.is_empty() {
            break;
        }
        if let Some(v) = line[k + key.len()..].find(value) {
            let col = line[..k + key.len() + v].chars().count() + 1;
            return (i + 1, col);
        }
    }
    key_line.unwrap_or((0, 0))
}

fn check(file: &Path, text: &str, mut spec: PipelineSpec) -> Result<Pipeline, FileErrors> {
    // `brokers: ${KAFKA_BROKERS:-}` left empty means "use the embedded cluster".
    if spec
        .sink
        .kafka
        .brokers
        .as_deref()
        .is_some_and(|b| b.trim().is_empty())
    {
        spec.sink.kafka.brokers = None;
    }
    let mut errors = Vec::new();
    let at = |key: &str, value: &str, message: String, hint: &str| {
        let (line, column) = locate(text, key, value);
        FileError::at(file, line, column, message).hint(hint)
    };
    let valid_name = !spec.name.is_empty()
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        errors.push(at(
            "name",
            &spec.name,
            format!("pipeline name `{}` is not valid", spec.name),
            "use letters, digits, `-`, `_` and `.` only (it names the state file)",
        ));
    }
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let plugins = std::iter::once(&spec.source).chain(&spec.transforms);
    for plugin in plugins {
        check_limits_and_grants(plugin, &base, &at, &mut errors);
        let max_output = plugin
            .limits
            .max_output_records
            .unwrap_or(Limits::DEFAULT_MAX_OUTPUT_RECORDS);
        if let Some(batch) = spec.batch_size.filter(|b| *b as usize > max_output) {
            errors.push(at(
                "batch_size",
                "",
                format!(
                    "`batch_size: {batch}` is more than {} may return per call (limits.max_output_records: {max_output}); even a passthrough would fail every batch",
                    plugin.plugin
                ),
                "lower `batch_size`, or raise the plugin's `limits.max_output_records`",
            ));
        }
        let path = base.join(&plugin.plugin);
        if !path.is_file() {
            errors.push(at("plugin", &plugin.plugin,
                format!("plugin file `{}` not found (looked at {})", plugin.plugin, path.display()),
                "plugin paths are relative to the pipeline file; build the plugins with `make plugins`"));
        }
    }
    let kafka = &spec.sink.kafka;
    if kafka.topic.trim().is_empty() {
        errors.push(at(
            "topic",
            "",
            "sink topic is empty".into(),
            "name the Kafka topic to produce to",
        ));
    }
    for key in kafka.producer.keys() {
        if POLICY_OWNED_PROPERTIES.contains(&key.as_str()) {
            errors.push(at(
                key,
                "",
                format!("producer property `{key}` is set by the pipeline, not here"),
                "use `acks: none|leader|all` and `brokers:` in the kafka sink instead",
            ));
        }
    }
    match (spec.errors, &spec.dead_letter) {
        (ErrorPolicy::DeadLetter, None) => errors.push(at("errors", "dead-letter",
            "`errors: dead-letter` needs a dead-letter topic".into(),
            "add `dead_letter: { topic: NAME }` to the pipeline")),
        (ErrorPolicy::DeadLetter, Some(_)) if kafka.acks == Acks::None => errors.push(at("errors", "dead-letter",
            "`errors: dead-letter` with `acks: none` contradicts itself: dead letters could be lost silently".into(),
            "use `acks: leader` or `acks: all`, or `errors: skip`")),
        (ErrorPolicy::DeadLetter, Some(d)) if d.topic.trim().is_empty() || d.topic == kafka.topic => errors.push(at("dead_letter", "",
            "the dead-letter topic must be named and differ from the sink topic".into(),
            "name a separate topic, e.g. `orders.dlq`")),
        (ErrorPolicy::Fail | ErrorPolicy::Skip, Some(_)) => errors.push(at("dead_letter", "",
            format!("`dead_letter` is set but `errors` is `{}`", spec.errors.as_str()),
            "set `errors: dead-letter`, or remove `dead_letter`")),
        _ => {}
    }
    if !errors.is_empty() {
        return Err(FileErrors(errors));
    }
    Ok(Pipeline {
        file: file.to_path_buf(),
        source: PluginRef::new(&spec.source, &base),
        transforms: spec
            .transforms
            .iter()
            .map(|t| PluginRef::new(t, &base))
            .collect(),
        spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn locate_finds_value_after_key() {
        let text = "name: x\nsource:\n  plugin: a.wasm\n";
        assert_eq!(locate(text, "plugin", "a.wasm"), (3, 11));
    }
}
