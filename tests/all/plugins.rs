//! Every example plugin through the host's runtime, and components the host
//! must refuse.

use sluice::plugin::{
    Limits, Outcome, PluginError, PluginKind, Runtime, SourceInstance, TransformInstance,
};
use sluice::record::Batch;

use crate::common::{cache_dir, plugin};

fn runtime() -> Runtime {
    Runtime::new(Some(&cache_dir())).expect("runtime")
}

fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn transform(name: &str, pairs: &[(&str, &str)]) -> TransformInstance {
    let rt = runtime();
    let p = rt
        .load(&plugin(name), PluginKind::Transform)
        .expect("loads");
    TransformInstance::open(&p, config(pairs), Limits::default(), name).expect("opens")
}

fn values(batch: &Batch) -> Vec<String> {
    batch
        .iter()
        .map(|r| String::from_utf8_lossy(r.value().unwrap_or(b"<null>")).into_owned())
        .collect()
}

/// Polls a source until it finishes or `max` records arrived.
fn drain_source(source: &mut SourceInstance, max: usize) -> (Batch, Option<Vec<u8>>) {
    let mut all = Batch::default();
    let mut position = None;
    while all.len() < max {
        let polled = source.poll(64).expect("poll");
        for r in polled.records.iter() {
            all.push_ref(&r).unwrap();
        }
        if polled.position.is_some() {
            position = polled.position;
        }
        if polled.finished {
            break;
        }
    }
    (all, position)
}

#[test]
fn orders_source_is_deterministic_and_resumes_from_its_position() {
    let rt = runtime();
    let p = rt.load(&plugin("orders"), PluginKind::Source).unwrap();
    let cfg = config(&[("count", "20"), ("seed", "42")]);
    let mut first =
        SourceInstance::open(&p, cfg.clone(), None, Limits::default(), "orders").unwrap();
    let (all, position) = drain_source(&mut first, 100);
    assert_eq!(all.len(), 20);
    assert_eq!(
        position.as_deref(),
        Some(&b"21"[..]),
        "position is the next id"
    );
    let v = values(&all);
    assert!(v[0].starts_with(r#"{"id":1,"customer":""#), "{}", v[0]);
    assert!(v[19].starts_with(r#"{"id":20,"#), "{}", v[19]);
    let headers: Vec<_> = all
        .get(0)
        .unwrap()
        .headers()
        .map(|(n, v)| (n.to_string(), v.map(<[u8]>::to_vec)))
        .collect();
    assert_eq!(
        headers,
        vec![("source".to_string(), Some(b"orders".to_vec()))]
    );

    let mut resumed =
        SourceInstance::open(&p, cfg, Some(b"11".to_vec()), Limits::default(), "orders").unwrap();
    let (rest, _) = drain_source(&mut resumed, 100);
    assert_eq!(
        values(&rest),
        v[10..].to_vec(),
        "resume reproduces the same records"
    );
}

#[test]
fn mask_replaces_the_field_and_rejects_non_json() {
    let mut t = transform("mask", &[("field", "email")]);
    let mut b = Batch::default();
    b.push(
        Some(b"k1"),
        Some(br#"{"id":1,"email":"ana@example.com","n":2}"#),
        &[("h", b"v")],
    )
    .unwrap();
    b.push(None, Some(b"not json"), &[]).unwrap();
    b.push(None, None, &[]).unwrap();
    b.push(None, Some(br#"{"id":2}"#), &[]).unwrap();
    let (input, result) = t.process(b);
    assert_eq!(input.len(), 4, "input comes back");
    let out = result.unwrap();
    assert_eq!(out.outcomes.len(), 4);
    assert_eq!(
        out.outcomes[1],
        Outcome::Reject("value is not a JSON object".into())
    );
    assert_eq!(
        values(&out.output),
        vec![r#"{"id":1,"email":"***","n":2}"#, "<null>", r#"{"id":2}"#]
    );
    let first = out.output.get(0).unwrap();
    assert_eq!(first.key(), Some(&b"k1"[..]));
    assert_eq!(
        first.headers().collect::<Vec<_>>(),
        vec![("h", Some(&b"v"[..]))]
    );
}

#[test]
fn filter_drops_matching_records() {
    let mut t = transform("filter", &[("field", "country"), ("equals", "XX")]);
    let mut b = Batch::default();
    b.push(None, Some(br#"{"id":1,"country":"DE"}"#), &[])
        .unwrap();
    b.push(None, Some(br#"{"id":2,"country":"XX"}"#), &[])
        .unwrap();
    b.push(None, Some(br#"{"id":3,"country":"FR"}"#), &[])
        .unwrap();
    let out = t.process(b).1.unwrap();
    assert_eq!(out.outcomes[1], Outcome::Emit { start: 1, count: 0 });
    assert_eq!(
        values(&out.output),
        vec![r#"{"id":1,"country":"DE"}"#, r#"{"id":3,"country":"FR"}"#]
    );
}

#[test]
fn set_key_takes_the_field_as_text() {
    let mut t = transform("set-key", &[("field", "id")]);
    let mut b = Batch::default();
    b.push(None, Some(br#"{"id":17,"country":"DE"}"#), &[])
        .unwrap();
    b.push(None, Some(br#"{"country":"DE"}"#), &[]).unwrap();
    let out = t.process(b).1.unwrap();
    assert_eq!(out.output.get(0).unwrap().key(), Some(&b"17"[..]));
    assert!(
        matches!(&out.outcomes[1], Outcome::Reject(r) if r.contains("id")),
        "{:?}",
        out.outcomes[1]
    );
}

#[test]
fn passthrough_keeps_every_field() {
    let mut t = transform("passthrough", &[]);
    let mut b = Batch::default();
    b.push(Some(b"k"), Some(b"v"), &[("a", b"1"), ("b", b"2")])
        .unwrap();
    let mut entry = b.entry(0).unwrap();
    entry.timestamp_ms = Some(1234);
    entry.partition = Some(3);
    b.set_entry(0, entry);
    let (input, out) = t.process(b);
    let out = out.unwrap();
    assert_eq!(out.output.to_owned_record(0), input.to_owned_record(0));
}

#[test]
fn a_bad_config_names_the_key() {
    let rt = runtime();
    let p = rt.load(&plugin("mask"), PluginKind::Transform).unwrap();
    let err = TransformInstance::open(
        &p,
        config(&[("colour", "red")]),
        Limits::default(),
        "mask.wasm",
    )
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(matches!(err, PluginError::Config { .. }), "{text}");
    assert!(text.starts_with("mask.wasm: bad config key `"), "{text}");
}

#[test]
fn a_component_of_another_world_is_refused_with_its_name_and_what_is_missing() {
    let rt = runtime();
    let path = plugin("wrong-world");
    let err = rt
        .load(&path, PluginKind::Transform)
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: not a sluice transform plugin: missing export `sluice:plugin/transformer@{}`",
            path.display(),
            sluice::plugin::world::VERSION
        )),
        "{text}"
    );
}

#[test]
fn a_source_used_as_a_transform_is_named_as_such() {
    let rt = runtime();
    let err = rt
        .load(&plugin("orders"), PluginKind::Transform)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("it is a source plugin"), "{err}");
}

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let err = rt
        .load(&core, PluginKind::Transform)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("a core WebAssembly module, not a component"),
        "{err}"
    );
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"hello").unwrap();
    let err = rt
        .load(&junk, PluginKind::Transform)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not WebAssembly at all"), "{err}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    // 20,000 records is far more than a pipe buffers: the command is still
    // writing when the reader goes away, as with `sluice test … | head -1`.
    let mut child = crate::common::sluice()
        .args(["test", "--records", "20000", "-c", "count=20000"])
        .arg(plugin("orders"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice test");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    assert!(first.contains(r#""id":1"#), "first record: {first}");
    // The reader is dropped here: the pipe is closed.
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(
        out.status.success(),
        "status {:?}, stderr: {stderr}",
        out.status
    );
}

#[test]
fn a_component_built_against_another_draft_of_the_contract_is_refused_as_such() {
    // Same interface names and version as the contract, types of an earlier
    // draft: told apart at load by the names of the interfaces' items.
    let path = plugin("stale-types");
    let err = runtime()
        .load(&path, PluginKind::Transform)
        .err()
        .expect("refused at load");
    let message = err.to_string();
    assert!(matches!(err, PluginError::WrongWorld { .. }), "{message}");
    let version = sluice::plugin::world::VERSION;
    assert!(
        message.starts_with(&format!(
            "{}: not a sluice transform plugin: its `sluice:plugin/transformer@{version}` export \
             lacks `failure-kind`, `failure` and has `emitted`, `outcome`, which it does not \
             define; its `sluice:plugin/types@{version}` import has `header`, `kafka-record`, \
             `span`, which it does not define: it was built against another draft of `wit/`; \
             rebuild it",
            path.display()
        )),
        "{message}"
    );
}

#[test]
fn a_component_built_for_contract_0_1_0_is_refused_with_its_version_and_how_to_rebuild() {
    // Built against a copy of the 0.1.0 contract kept in plugins/testing/contract-0.1.0/wit.
    let path = plugin("contract-0-1-0");
    let version = sluice::plugin::world::VERSION;
    assert_ne!(version, "0.1.0");
    for kind in [PluginKind::Transform, PluginKind::Source] {
        let err = runtime().load(&path, kind).err().expect("refused at load");
        let message = err.to_string();
        assert!(matches!(err, PluginError::WrongWorld { .. }), "{message}");
        assert_eq!(
            message,
            format!(
                "{}: not a sluice {kind} plugin: it was built for `sluice:plugin@0.1.0` (it names \
                 `sluice:plugin/transformer@0.1.0`, `sluice:plugin/types@0.1.0`), and this host \
                 runs `sluice:plugin@{version}`; {}",
                path.display(),
                sluice::plugin::world::REBUILD
            )
        );
    }
}

fn acking_source(pairs: &[(&str, &str)], limits: Limits) -> SourceInstance {
    let p = runtime()
        .load(&plugin("acking-source"), PluginKind::Source)
        .expect("loads");
    SourceInstance::open(&p, config(pairs), None, limits, "acking-source").expect("opens")
}

/// The `committed` header of each record: `None` for a null header value.
fn committed_headers(polled: &sluice::plugin::Polled) -> Vec<Option<String>> {
    polled
        .records
        .iter()
        .map(|r| {
            r.last_header("committed")
                .expect("every record has the header")
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .collect()
}

#[test]
fn a_source_is_told_which_position_was_committed() {
    let mut source = acking_source(&[], Limits::default());
    let first = source.poll(3).unwrap();
    assert_eq!(first.position.as_deref(), Some(&b"3"[..]));
    assert_eq!(
        committed_headers(&first),
        vec![None, None, None],
        "a null header value crosses as null, not empty"
    );
    source.committed(b"3").unwrap();
    let next = source.poll(2).unwrap();
    assert_eq!(values(&next.records), vec!["4", "5"]);
    assert_eq!(
        committed_headers(&next),
        vec![Some("3".to_string()), Some("3".to_string())]
    );

    let err = source.committed(b"99").unwrap_err();
    assert_eq!(
        err,
        PluginError::Call {
            plugin: "acking-source".into(),
            call: "committed",
            retryable: false,
            message: "position \"99\" was never returned by poll".into(),
        }
    );
    assert_eq!(source.consecutive_failures(), 1);
    source.committed(b"5").unwrap();
    assert_eq!(source.consecutive_failures(), 0);
}

#[test]
fn a_source_stuck_in_committed_is_stopped_at_the_call_deadline() {
    let limits = Limits {
        call_timeout: Some(std::time::Duration::from_millis(20)),
        ..Limits::default()
    };
    let mut source = acking_source(&[("hang_on_commit", "true")], limits);
    let polled = source.poll(1).unwrap();
    let err = source.committed(b"1").unwrap_err().to_string();
    assert!(
        err.starts_with(
            "acking-source: committed trapped: exceeded its committed deadline of 20 ms (limits.call_timeout_ms)"
        ),
        "{err}"
    );
    assert_eq!(source.instantiations(), 1);
    // The trapped Store is gone: the next call opens a fresh instance.
    source.set_resume(polled.position);
    let again = source.poll(1).unwrap();
    assert_eq!(values(&again.records), vec!["2"]);
    assert_eq!(source.instantiations(), 2);
}
