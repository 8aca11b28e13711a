//! The same transforms in Rust, JavaScript, Python and Go, through the host:
//! for the same input records and configuration, every language must give the
//! same outcome per input (emit n / reject reason / retry reason) and the same
//! output records: keys, headers, timestamps and overrides byte for byte, and
//! values as parsed JSON when they are JSON objects (each language writes
//! JSON with its own library: numbers compare as doubles, keys in any order),
//! byte for byte otherwise.
//!
//! Inputs: a set of sample records written here (unicode, nested values,
//! numbers, missing field, non-JSON values, tombstones, keys and headers) and
//! every case of `plugins/js/test/vectors.json` (the conformance vectors the
//! language helpers are built against). Each batch also runs split into
//! smaller batches: results must not depend on how records are batched.
//!
//! Big components compile slowly (Python ≈ 40 s cold), so each component is
//! compiled once per test run, through the shared on-disk cache
//! (`common::cache_dir()`): a warm run only deserializes. Also here: the
//! compile cache itself (a second `sluice test` of a plugin compiles nothing)
//! and `sluice new` (a scaffolded Rust transform builds and passes its own
//! test with `sluice test --expect`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use serde_json::Value;
use sluice::plugin::{
    Limits, Outcome, Plugin, PluginError, PluginKind, Runtime, TransformInstance,
};
use sluice::record::{Batch, OwnedRecord};

use crate::common::{cache_dir, plugin, root, sluice};

/// The languages, and the suffix of their components in `plugins/dist`.
const LANGUAGES: [(&str, &str); 4] = [
    ("rust", ""),
    ("js", "-js"),
    ("python", "-py"),
    ("go", "-go"),
];

static RUNTIME: LazyLock<Runtime> =
    LazyLock::new(|| Runtime::new(Some(&cache_dir())).expect("runtime"));

/// One cell per component: tests running in parallel wait for the same
/// compile instead of compiling twice.
static LOADED: LazyLock<Mutex<HashMap<String, Arc<OnceLock<Plugin>>>>> =
    LazyLock::new(Default::default);

/// `plugins/dist/<name>.wasm`, compiled (or taken from the cache) once per run.
fn load(name: &str) -> Plugin {
    let cell = {
        let mut map = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_string()).or_default().clone()
    };
    cell.get_or_init(|| {
        let started = Instant::now();
        let p = RUNTIME
            .load(&plugin(name), PluginKind::Transform)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("languages: loaded {name}.wasm in {:.2?}", started.elapsed());
        p
    })
    .clone()
}

fn pairs(config: &[(&str, &str)]) -> Vec<(String, String)> {
    config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What became of one input: the outcome and the records it emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Result1 {
    Emit(Vec<OwnedRecord>),
    Reject(String),
    Retry(String),
}

/// Runs `records` through a fresh instance of `component` in batches of
/// `chunk` records; one result per input.
fn run(
    component: &str,
    config: &[(&str, &str)],
    records: &[OwnedRecord],
    chunk: usize,
) -> Vec<Result1> {
    let p = load(component);
    let mut instance = TransformInstance::open(&p, pairs(config), Limits::default(), component)
        .unwrap_or_else(|e| panic!("{component}: open: {e}"));
    let mut results = Vec::with_capacity(records.len());
    for part in records.chunks(chunk.max(1)) {
        let mut batch = Batch::default();
        for r in part {
            batch.push_owned(r).unwrap();
        }
        let (input, done) = instance.process(batch);
        assert_eq!(input.len(), part.len(), "{component}: the input comes back");
        let done = done.unwrap_or_else(|e| panic!("{component}: process: {e}"));
        assert_eq!(
            done.outcomes.len(),
            part.len(),
            "{component}: one outcome per input"
        );
        for o in &done.outcomes {
            results.push(match o {
                Outcome::Emit { start, count } => Result1::Emit(
                    (*start..start + count)
                        .map(|i| {
                            done.output
                                .to_owned_record(i as usize)
                                .unwrap_or_else(|| panic!("{component}: output {i} missing"))
                        })
                        .collect(),
                ),
                Outcome::Reject(r) => Result1::Reject(r.clone()),
                Outcome::Retry(r) => Result1::Retry(r.clone()),
            });
        }
    }
    results
}

/// A JSON value as the comparison sees it: numbers as doubles (what
/// JavaScript's `JSON.parse` keeps), objects as sorted maps.
#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

fn canonical(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Number(n.as_f64().expect("a JSON number")),
        Value::String(s) => Json::String(s.clone()),
        Value::Array(a) => Json::Array(a.iter().map(canonical).collect()),
        Value::Object(o) => {
            Json::Object(o.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
    }
}

/// A record value for comparison: a JSON object as its parsed value, anything
/// else (tombstones, text, binary) as its bytes.
#[derive(Debug, PartialEq)]
enum Payload {
    Json(Json),
    Bytes(Option<Vec<u8>>),
}

fn payload(value: &Option<Vec<u8>>) -> Payload {
    match value
        .as_deref()
        .and_then(|v| serde_json::from_slice::<Value>(v).ok())
    {
        Some(object @ Value::Object(_)) => Payload::Json(canonical(&object)),
        _ => Payload::Bytes(value.clone()),
    }
}

/// What must be the same in every language: the outcome, and each output
/// record with its value compared as [`Payload`].
#[derive(Debug, PartialEq)]
enum Comparable {
    Emit(Vec<(OwnedRecord, Payload)>),
    Reject(String),
    Retry(String),
}

fn comparable(r: &Result1) -> Comparable {
    match r {
        Result1::Emit(records) => Comparable::Emit(
            records
                .iter()
                .map(|r| {
                    let value = payload(&r.value);
                    let rest = OwnedRecord {
                        value: None,
                        ..r.clone()
                    };
                    (rest, value)
                })
                .collect(),
        ),
        Result1::Reject(m) => Comparable::Reject(m.clone()),
        Result1::Retry(m) => Comparable::Retry(m.clone()),
    }
}

/// True when `a` and `b` are the same result, JSON values compared as values.
fn same(a: &Result1, b: &Result1) -> bool {
    comparable(a) == comparable(b)
}

/// Readable form of bytes for failure messages.
fn show(b: &Option<Vec<u8>>) -> String {
    match b {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => format!("{s:?}"),
            Err(_) => format!("bytes {b:?}"),
        },
    }
}

fn describe(r: &Result1) -> String {
    match r {
        Result1::Reject(m) => format!("reject {m:?}"),
        Result1::Retry(m) => format!("retry {m:?}"),
        Result1::Emit(records) => {
            let shown: Vec<String> = records
                .iter()
                .map(|r| {
                    let headers: Vec<String> = r
                        .headers
                        .iter()
                        .map(|(n, v)| format!("{n}={}", show(v)))
                        .collect();
                    format!(
                        "{{key {} value {} headers [{}] ts {:?} topic {:?} partition {:?}}}",
                        show(&r.key),
                        show(&r.value),
                        headers.join(", "),
                        r.timestamp_ms,
                        r.topic,
                        r.partition
                    )
                })
                .collect();
            format!("emit [{}]", shown.join(", "))
        }
    }
}

/// Runs `records` through `plugin` in every language, as one batch and split
/// into batches of 1 and of 3, and asserts every result is the [`same`] as
/// Rust's one batch. Returns Rust's results.
fn same_in_every_language(
    plugin: &str,
    config: &[(&str, &str)],
    records: &[OwnedRecord],
    labels: &[String],
) -> Vec<Result1> {
    let reference = run(plugin, config, records, records.len());
    let mut mismatches = Vec::new();
    for (language, suffix) in LANGUAGES {
        let component = format!("{plugin}{suffix}");
        for chunk in [records.len(), 1, 3] {
            let got = run(&component, config, records, chunk);
            for (i, (want, got)) in reference.iter().zip(&got).enumerate() {
                if !same(want, got) {
                    mismatches.push(format!(
                        "{language} ({component}, batches of {chunk}), input {i} ({}):\n   rust: {}\n   {language}: {}",
                        labels[i],
                        describe(want),
                        describe(got)
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{plugin} {config:?}: languages disagree:\n{}",
        mismatches.join("\n")
    );
    reference
}

fn rec(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[(&str, &[u8])]) -> OwnedRecord {
    OwnedRecord {
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), Some(v.to_vec())))
            .collect(),
        ..OwnedRecord::default()
    }
}

/// The sample records, labelled.
fn samples() -> Vec<(String, OwnedRecord)> {
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let mut all: Vec<(&str, OwnedRecord)> = vec![
        (
            "plain order with key and headers",
            rec(
                Some(b"order-1"),
                Some(br#"{"id":1,"customer":"ana","email":"ana@example.com","amount_cents":1234,"country":"DE"}"#),
                &[("trace", b"abc"), ("trace", b"def"), ("empty", b"")],
            ),
        ),
        (
            "unicode everywhere",
            rec(
                Some("clé-🔑".as_bytes()),
                Some(r#"{"name":"Zoë 日本 🚀","email":"josé@exämple.com","note":"line\u2028sep \"q\" \\ / tab\t"}"#.as_bytes()),
                &[("ünïcode-header", "välue ✓".as_bytes())],
            ),
        ),
        (
            "nested values",
            rec(
                None,
                Some(br#"{"email":{"primary":"a@b.c","all":["a@b.c",{"x":null}]},"meta":{"tags":["a","b"],"n":{"deep":[1,[2,[3]]]}}}"#),
                &[],
            ),
        ),
        (
            "numbers",
            rec(
                Some(b"n"),
                Some(br#"{"email":"x","int":42,"neg":-7,"zero":0,"minus_zero":-0,"float":1.5,"one":1.0,"exp":1e21,"small":1.5e-7,"u64":18446744073709551615,"big":123456789012345678901234,"i64min":-9223372036854775808}"#),
                &[],
            ),
        ),
        (
            "field missing: bytes kept as they are",
            rec(Some(b"m"), Some(br#"{ "id" : 2 , "name" : "no email", "x":1.50 }"#), &[]),
        ),
        ("not JSON", rec(Some(b"bad"), Some(b"hello, world"), &[("h", b"1")])),
        ("JSON array", rec(None, Some(b"[1,2,3]"), &[])),
        ("JSON string", rec(None, Some(br#""email""#), &[])),
        ("empty value", rec(None, Some(b""), &[])),
        ("invalid UTF-8", rec(None, Some(b"{\"email\":\"\xff\"}"), &[])),
        ("null value (tombstone)", rec(Some(b"gone"), None, &[("deleted", b"yes")])),
        ("null key and value", rec(None, None, &[])),
        (
            "binary key and header value",
            rec(Some(&[0, 159, 146, 150, 255]), Some(br#"{"email":"b@c.d"}"#), &[("bin", &[0, 1, 2, 255])]),
        ),
        ("field is null", rec(None, Some(br#"{"email":null,"country":null}"#), &[])),
        ("field is a number", rec(None, Some(br#"{"email":12,"country":42}"#), &[])),
        ("field is true", rec(None, Some(br#"{"email":true,"country":true}"#), &[])),
        ("duplicate keys", rec(None, Some(br#"{"email":"a","country":"DE","email":"b","country":"FR"}"#), &[])),
        ("whitespace around", rec(None, Some(b" {\n \"email\" : \"x\" ,\t\"country\" : \"DE\" } \n"), &[])),
        ("escaped country", rec(None, Some(br#"{"country":"\u0044E","email":"\u0061@b"}"#), &[])),
        ("field at top level only", rec(None, Some(br#"{"a":{"email":"x","country":"DE"}}"#), &[])),
        ("deeply nested other value", rec(None, Some(format!(r#"{{"email":"x","d":{deep}}}"#).as_bytes()), &[])),
        ("trailing garbage", rec(None, Some(br#"{"email":"x"} x"#), &[])),
        ("country 42 as text", rec(None, Some(br#"{"country":"42","email":"y"}"#), &[])),
    ];
    // Metadata that must come through unchanged.
    all[0].1.timestamp_ms = Some(1_700_000_000_123);
    all[0].1.topic = Some("orders-out".into());
    all[0].1.partition = Some(3);
    all[1].1.timestamp_ms = Some(-5);
    all[10].1.topic = Some("täpic".into());
    all.into_iter().map(|(l, r)| (l.to_string(), r)).collect()
}

fn split(samples: Vec<(String, OwnedRecord)>) -> (Vec<String>, Vec<OwnedRecord>) {
    samples.into_iter().unzip()
}

fn emitted_value(r: &Result1) -> Option<String> {
    match r {
        Result1::Emit(v) if v.len() == 1 => v[0]
            .value
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

const NOT_OBJECT: &str = "value is not a JSON object";

#[test]
fn mask_gives_the_same_records_in_every_language() {
    let (labels, records) = split(samples());
    let rust = same_in_every_language("mask", &[("field", "email")], &records, &labels);
    // Spot checks of the reference itself.
    let at = |label: &str| &rust[labels.iter().position(|l| l == label).expect(label)];
    assert_eq!(
        emitted_value(at("plain order with key and headers")).as_deref(),
        Some(r#"{"id":1,"customer":"ana","email":"***","amount_cents":1234,"country":"DE"}"#)
    );
    assert_eq!(
        emitted_value(at("unicode everywhere")).as_deref(),
        Some(
            "{\"name\":\"Zoë 日本 🚀\",\"email\":\"***\",\"note\":\"line\u{2028}sep \\\"q\\\" \\\\ / tab\\t\"}"
        )
    );
    assert_eq!(
        emitted_value(at("numbers")).as_deref(),
        Some(
            r#"{"email":"***","int":42,"neg":-7,"zero":0,"minus_zero":-0.0,"float":1.5,"one":1.0,"exp":1e+21,"small":1.5e-7,"u64":18446744073709551615,"big":1.2345678901234569e+23,"i64min":-9223372036854775808}"#
        )
    );
    assert_eq!(
        emitted_value(at("field missing: bytes kept as they are")).as_deref(),
        Some(r#"{ "id" : 2 , "name" : "no email", "x":1.50 }"#)
    );
    for label in [
        "not JSON",
        "JSON array",
        "JSON string",
        "empty value",
        "invalid UTF-8",
        "trailing garbage",
    ] {
        assert_eq!(at(label), &Result1::Reject(NOT_OBJECT.into()), "{label}");
    }
    let Result1::Emit(first) = at("plain order with key and headers") else {
        panic!("emits")
    };
    assert_eq!(first[0].key.as_deref(), Some(&b"order-1"[..]));
    assert_eq!(first[0].headers.len(), 3);
    assert_eq!(first[0].timestamp_ms, Some(1_700_000_000_123));
    assert_eq!(first[0].topic.as_deref(), Some("orders-out"));
    assert_eq!(first[0].partition, Some(3));
    assert_eq!(
        at("null value (tombstone)"),
        &Result1::Emit(vec![records[10].clone()])
    );
}

#[test]
fn mask_with_another_field_and_a_unicode_replacement() {
    let (labels, records) = split(samples());
    let rust = same_in_every_language(
        "mask",
        &[("field", "country"), ("replacement", "[ŕedacted ✂]")],
        &records,
        &labels,
    );
    assert_eq!(
        emitted_value(&rust[0]).as_deref(),
        Some(
            r#"{"id":1,"customer":"ana","email":"ana@example.com","amount_cents":1234,"country":"[ŕedacted ✂]"}"#
        )
    );
}

#[test]
fn filter_gives_the_same_outcomes_in_every_language() {
    let (labels, records) = split(samples());
    let at = |rust: &[Result1], label: &str| {
        rust[labels.iter().position(|l| l == label).expect(label)].clone()
    };
    let rust = same_in_every_language(
        "filter",
        &[("field", "country"), ("equals", "DE")],
        &records,
        &labels,
    );
    assert_eq!(
        at(&rust, "plain order with key and headers"),
        Result1::Emit(vec![]),
        "dropped"
    );
    assert_eq!(
        at(&rust, "escaped country"),
        Result1::Emit(vec![]),
        "\\u0044E is DE"
    );
    assert_eq!(
        at(&rust, "field at top level only"),
        Result1::Emit(vec![records[19].clone()])
    );
    assert_eq!(at(&rust, "not JSON"), Result1::Reject(NOT_OBJECT.into()));
    let rust = same_in_every_language(
        "filter",
        &[("field", "country"), ("equals", "42")],
        &records,
        &labels,
    );
    assert_eq!(
        at(&rust, "field is a number"),
        Result1::Emit(vec![]),
        "42 matches \"42\""
    );
    assert_eq!(at(&rust, "country 42 as text"), Result1::Emit(vec![]));
    same_in_every_language(
        "filter",
        &[("field", "country"), ("equals", "null")],
        &records,
        &labels,
    );
    same_in_every_language(
        "filter",
        &[("field", "email"), ("equals", "true")],
        &records,
        &labels,
    );
}

// ---- the conformance vectors (plugins/js/test/vectors.json) ----

fn vectors() -> Value {
    let path = root().join("plugins/js/test/vectors.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("vectors.json is JSON")
}

/// A vector's bytes: a string is UTF-8 text, `null` is absent, `{"hex": …}` raw bytes.
fn vector_bytes(v: Option<&Value>) -> Option<Vec<u8>> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Object(o) => {
            let hex = o.get("hex").and_then(Value::as_str).expect("{hex: …}");
            Some(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                    .collect(),
            )
        }
        other => panic!("bad bytes in vectors.json: {other}"),
    }
}

fn vector_record(v: &Value) -> OwnedRecord {
    OwnedRecord {
        key: vector_bytes(v.get("key")),
        value: vector_bytes(v.get("value")),
        headers: v
            .get("headers")
            .and_then(Value::as_array)
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h[0].as_str().expect("header name").to_string(),
                            vector_bytes(Some(&h[1])),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        timestamp_ms: v.get("timestamp").and_then(Value::as_i64),
        topic: v.get("topic").and_then(Value::as_str).map(str::to_string),
        partition: v.get("partition").and_then(Value::as_i64).map(|p| p as i32),
    }
}

fn vector_expect(v: &Value) -> Result1 {
    if let Some(reason) = v.get("reject") {
        return Result1::Reject(reason.as_str().expect("reason").to_string());
    }
    Result1::Emit(
        v["emit"]
            .as_array()
            .expect("emit list")
            .iter()
            .map(vector_record)
            .collect(),
    )
}

#[test]
fn conformance_vectors_pass_in_every_language_through_the_host() {
    let vectors = vectors();
    let mut checked = 0;
    for suite in vectors["suites"].as_array().expect("suites") {
        let plugin = suite["plugin"].as_str().expect("plugin");
        let config: Vec<(String, String)> = suite["config"]
            .as_array()
            .expect("config")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().expect("k").to_string(),
                    p[1].as_str().expect("v").to_string(),
                )
            })
            .collect();
        let config: Vec<(&str, &str)> = config
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let cases = suite["cases"].as_array().expect("cases");
        let labels: Vec<String> = cases
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_string())
            .collect();
        let records: Vec<OwnedRecord> = cases.iter().map(|c| vector_record(&c["input"])).collect();
        let rust = same_in_every_language(plugin, &config, &records, &labels);
        for ((case, got), label) in cases.iter().zip(&rust).zip(&labels) {
            let want = vector_expect(&case["expect"]);
            assert!(
                same(got, &want),
                "{plugin} {config:?}: case `{label}`:\n   got:  {}\n   want: {}",
                describe(got),
                describe(&want)
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} vectors");
}

#[test]
fn config_errors_name_the_same_key_with_the_same_message_in_every_language() {
    let vectors = vectors();
    for case in vectors["config_errors"].as_array().expect("config_errors") {
        let plugin = case["plugin"].as_str().expect("plugin");
        let config: Vec<(String, String)> = case["config"]
            .as_array()
            .expect("config")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().expect("k").to_string(),
                    p[1].as_str().expect("v").to_string(),
                )
            })
            .collect();
        for (language, suffix) in LANGUAGES {
            let component = format!("{plugin}{suffix}");
            let p = load(&component);
            match TransformInstance::open(&p, config.clone(), Limits::default(), &component) {
                Err(PluginError::Config { key, message, .. }) => {
                    assert_eq!(
                        key.as_deref(),
                        case["key"].as_str(),
                        "{language}: {config:?}"
                    );
                    assert_eq!(
                        message,
                        case["message"].as_str().expect("message"),
                        "{language}: {config:?}"
                    );
                }
                Err(other) => panic!("{language} {plugin} {config:?}: not a config error: {other}"),
                Ok(_) => panic!("{language} {plugin} {config:?}: accepted"),
            }
        }
    }
}

// ---- the compile cache ----

/// Every cache entry (compiled artifact) under `dir`, with its size and mtime;
/// the cache worker's own `.stats` / `.cleanup` files are left out.
fn cache_entries(dir: &Path) -> HashMap<PathBuf, (u64, SystemTime)> {
    let mut out = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if meta.is_dir() {
                stack.push(path);
            } else if !name.starts_with('.') && !name.ends_with(".stats") && !name.contains(".wip")
            {
                out.insert(path, (meta.len(), meta.modified().expect("mtime")));
            }
        }
    }
    out
}

/// `sluice test` of the same component twice with one fresh cache directory:
/// the first start compiles and stores the artifact; the second finds it and
/// writes nothing (a miss would write, or rewrite, an entry). No timing is
/// asserted; the times are printed. QuickJS's mask is used because it is the
/// cheapest of the big components to compile cold (≈ 2-8 s; Python's takes
/// ≈ 40 s and behaves the same).
#[test]
fn second_start_of_a_plugin_takes_it_from_the_compile_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"value\":{\"email\":\"a@b.c\",\"n\":1}}\n").expect("write");
    let cache = dir.path().join("cache");
    let start = |n: u32| {
        let started = Instant::now();
        let out = sluice()
            .env("SLUICE_CACHE_DIR", &cache)
            .arg("test")
            .arg(plugin("mask-js"))
            .args(["-c", "field=email", "--input"])
            .arg(&input)
            .output()
            .expect("run sluice");
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "start {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            r#"{"value":{"email":"***","n":1}}"#
        );
        eprintln!("languages: sluice test mask-js.wasm, start {n}: {took:.2?}");
    };
    start(1);
    let first = cache_entries(&cache);
    assert!(
        !first.is_empty(),
        "the first start stored no compiled artifact under {}",
        cache.display()
    );
    // mtimes have a coarse resolution on some file systems: make a rewrite visible.
    std::thread::sleep(std::time::Duration::from_millis(20));
    start(2);
    let second = cache_entries(&cache);
    assert_eq!(
        first, second,
        "the second start compiled again: it wrote or rewrote cache entries"
    );
}

// ---- `sluice new` ----

/// A fresh Rust transform from `sluice new` builds with its own `build.sh` and
/// passes its own sample test with `sluice test --expect`. The guest build
/// shares one target directory across runs (`target/scaffold-test`), so only
/// the first run compiles wit-bindgen and serde for wasm32-wasip2.
#[test]
fn a_new_rust_transform_builds_and_passes_its_own_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("tagger");
    let out = sluice()
        .args(["new", "transform", "--lang", "rust", "tagger", "--dir"])
        .arg(&project)
        .output()
        .expect("run sluice new");
    assert!(
        out.status.success(),
        "sluice new: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "build.sh",
        "test/input.jsonl",
        "test/expected.jsonl",
        "wit/worlds.wit",
    ] {
        assert!(project.join(file).is_file(), "{file} missing");
    }
    let sluice_bin = crate::common::sluice_bin();
    let started = Instant::now();
    let build = Command::new("bash")
        .arg(project.join("build.sh"))
        .arg("--test")
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", root().join("target/scaffold-test"))
        .env("SLUICE", &sluice_bin)
        .env("SLUICE_CACHE_DIR", cache_dir())
        .env("SLUICE_LOG", "warn")
        .output()
        .expect("run build.sh");
    let stdout = String::from_utf8_lossy(&build.stdout);
    assert!(
        build.status.success(),
        "build.sh --test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    assert!(stdout.contains("ok: 3 results match"), "{stdout}");
    eprintln!(
        "languages: scaffolded Rust transform built and tested in {:.2?}",
        started.elapsed()
    );
    assert!(project.join("dist/tagger.wasm").is_file());

    // Languages without a source template say so, and name the one that has it.
    let out = sluice()
        .args(["new", "source", "--lang", "python", "feed", "--dir"])
        .arg(dir.path().join("feed"))
        .output()
        .expect("run sluice new");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--lang rust"), "{err}");
    assert!(
        !dir.path().join("feed").exists(),
        "nothing written on refusal"
    );
}
