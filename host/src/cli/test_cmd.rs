//! `sluice test`: run a compiled plugin over sample records (JSON Lines or a
//! YAML list) and print the results, or compare them with expected ones.
//!
//! A record is `{"key": …, "value": …, "headers": {name: value}}`; a value
//! written as a JSON object stands for its compact JSON text, and `null` is
//! a null key, value (tombstone) or header value. Results are
//! records, or `{"rejected": reason}` / `{"retry": reason}` per input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::plugin::{Limits, Outcome, PluginKind, Runtime, SourceInstance, TransformInstance};
use crate::record::{Batch, OwnedRecord};

/// Arguments of `sluice test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The component file.
    plugin: PathBuf,
    /// Sample input records (.jsonl, .json, .yaml); transforms only.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Expected results; a mismatch prints a diff and exits 1.
    #[arg(long)]
    expect: Option<PathBuf>,
    /// Plugin configuration, `key=value`, repeatable.
    #[arg(long = "config", short = 'c', value_parser = parse_pair)]
    config: Vec<(String, String)>,
    /// Records to poll from a source.
    #[arg(long, default_value_t = 10)]
    records: u32,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not key=value"))
}

/// Reads records from JSON Lines, a JSON array or a YAML list.
pub fn read_records(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let values: Vec<Value> = match ext {
        "yaml" | "yml" => {
            serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        "json" => serde_json::from_str(&text)
            .with_context(|| format!("{}: expected a JSON array of records", path.display()))?,
        _ => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .with_context(|| format!("{}:{}: not a JSON record", path.display(), i + 1))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(values)
}

/// Text of a sample field: strings as they are, other JSON as compact JSON.
fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone().into_bytes()),
        other => Some(other.to_string().into_bytes()),
    }
}

/// Converts a sample record into an owned record.
pub fn to_record(v: &Value, index: usize) -> anyhow::Result<OwnedRecord> {
    let Value::Object(map) = v else {
        bail!(
            "record {}: expected an object with key/value/headers",
            index + 1
        )
    };
    for k in map.keys() {
        if !matches!(
            k.as_str(),
            "key" | "value" | "headers" | "timestamp" | "topic" | "partition"
        ) {
            bail!(
                "record {}: unknown field `{k}` (use key, value, headers, timestamp, topic, partition)",
                index + 1
            );
        }
    }
    let mut r = OwnedRecord {
        key: bytes_of(map.get("key").unwrap_or(&Value::Null)),
        value: bytes_of(map.get("value").unwrap_or(&Value::Null)),
        ..OwnedRecord::default()
    };
    match map.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (name, value) in h {
                r.headers.push((name.clone(), bytes_of(value)));
            }
        }
        Some(Value::Array(list)) => {
            for pair in list {
                match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(n), v]) => r.headers.push((n.clone(), bytes_of(v))),
                    _ => bail!(
                        "record {}: headers must be {{name: value}} or [[name, value], …]",
                        index + 1
                    ),
                }
            }
        }
        Some(_) => bail!(
            "record {}: headers must be {{name: value}} or [[name, value], …]",
            index + 1
        ),
    }
    r.timestamp_ms = map.get("timestamp").and_then(Value::as_i64);
    r.topic = map.get("topic").and_then(Value::as_str).map(str::to_string);
    r.partition = map
        .get("partition")
        .and_then(Value::as_i64)
        .map(|p| p as i32);
    Ok(r)
}

fn show_bytes(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "base64-ish-bytes": b }),
    }
}

/// A result record as JSON: values that are JSON objects are shown as objects.
pub fn show_record(r: &OwnedRecord) -> Value {
    let mut m = Map::new();
    if let Some(k) = &r.key {
        m.insert("key".into(), show_bytes(k));
    }
    let value = match &r.value {
        None => Value::Null,
        Some(v) => match serde_json::from_slice::<Value>(v) {
            Ok(obj @ Value::Object(_)) => obj,
            _ => show_bytes(v),
        },
    };
    m.insert("value".into(), value);
    if !r.headers.is_empty() {
        let mut h = Map::new();
        for (n, v) in &r.headers {
            h.insert(n.clone(), v.as_deref().map_or(Value::Null, show_bytes));
        }
        m.insert("headers".into(), Value::Object(h));
    }
    if let Some(t) = r.timestamp_ms {
        m.insert("timestamp".into(), t.into());
    }
    if let Some(t) = &r.topic {
        m.insert("topic".into(), t.clone().into());
    }
    if let Some(p) = r.partition {
        m.insert("partition".into(), p.into());
    }
    Value::Object(m)
}

/// Normalises an expected line so `"value": "{…json…}"` equals `"value": {…}`.
fn normalise(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(Value::String(s)) = v.get("value")
        && let Ok(obj @ Value::Object(_)) = serde_json::from_str::<Value>(s)
    {
        v["value"] = obj;
    }
    if v.get("value").is_none()
        && v.get("rejected").is_none()
        && v.get("retry").is_none()
        && let Value::Object(m) = &mut v
    {
        m.insert("value".into(), Value::Null);
    }
    v
}

/// Runs a transform over `records` and returns one JSON result per output.
pub fn run_transform(
    instance: &mut TransformInstance,
    records: &[OwnedRecord],
) -> anyhow::Result<Vec<Value>> {
    let mut batch = Batch::default();
    for r in records {
        batch.push_owned(r)?;
    }
    let (_, result) = instance.process(batch);
    let t = result?;
    let mut out = Vec::new();
    for o in &t.outcomes {
        match o {
            Outcome::Emit { start, count } => {
                for i in *start..start + count {
                    if let Some(r) = t.output.to_owned_record(i as usize) {
                        out.push(show_record(&r));
                    }
                }
            }
            Outcome::Reject(reason) => out.push(json!({ "rejected": reason })),
            Outcome::Retry(reason) => out.push(json!({ "retry": reason })),
        }
    }
    Ok(out)
}

/// `sluice test`.
pub fn test(args: TestArgs, cache_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(cache_dir)?;
    let label = crate::supervisor::plugin_label(&args.plugin);
    let results = match runtime.load(&args.plugin, PluginKind::Transform) {
        Ok(plugin) => {
            let input = args
                .input
                .as_ref()
                .context("a transform needs --input FILE with sample records")?;
            let records = read_records(input)?
                .iter()
                .enumerate()
                .map(|(i, v)| to_record(v, i))
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("in {}", input.display()))?;
            let mut instance =
                TransformInstance::open(&plugin, args.config.clone(), Limits::default(), &label)?;
            run_transform(&mut instance, &records)?
        }
        Err(crate::plugin::PluginError::WrongWorld { .. }) => {
            let plugin = runtime.load(&args.plugin, PluginKind::Source)?;
            let mut instance = SourceInstance::open(
                &plugin,
                args.config.clone(),
                None,
                Limits::default(),
                &label,
            )?;
            let mut out = Vec::new();
            while out.len() < args.records as usize {
                let polled = instance.poll(args.records - out.len() as u32)?;
                for i in 0..polled.records.len() {
                    if let Some(r) = polled.records.to_owned_record(i) {
                        out.push(show_record(&r));
                    }
                }
                if polled.finished {
                    break;
                }
            }
            out
        }
        Err(e) => return Err(e.into()),
    };
    let Some(expect) = args.expect else {
        for r in &results {
            out!("{r}");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let expected: Vec<Value> = read_records(&expect)?.iter().map(normalise).collect();
    let got: Vec<Value> = results.iter().map(normalise).collect();
    if expected == got {
        out!("ok: {} results match {}", got.len(), expect.display());
        return Ok(ExitCode::SUCCESS);
    }
    out!("mismatch against {} (- expected, + got):", expect.display());
    for i in 0..expected.len().max(got.len()) {
        match (expected.get(i), got.get(i)) {
            (Some(e), Some(g)) if e == g => out!("  {e}"),
            (e, g) => {
                if let Some(e) = e {
                    out!("- {e}");
                }
                if let Some(g) = g {
                    out!("+ {g}");
                }
            }
        }
    }
    Ok(ExitCode::from(1))
}
