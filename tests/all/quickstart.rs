//! The quickstart pipeline end to end on the embedded demo cluster, for each
//! acks policy, read back with kcat (a client that is not ours). The embedded
//! cluster ignores acks: this checks wiring and content, not durability (the
//! real-Kafka modules do that).

use std::time::Duration;

use sluice::plugin::{Limits, Outcome, PluginKind, Runtime, SourceInstance, TransformInstance};
use sluice::record::Batch;

use crate::common::{Running, cache_dir, kcat_read, plugin, root, sluice_run};

pub(crate) const COUNT: usize = 400;

/// What the quickstart chain produces, computed in-process through the same
/// plugins: `(key, value)` per record, in order.
pub(crate) fn expected() -> Vec<(String, String)> {
    let rt = Runtime::new(Some(&cache_dir())).unwrap();
    let cfg = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let src = rt.load(&plugin("orders"), PluginKind::Source).unwrap();
    let mut source = SourceInstance::open(
        &src,
        cfg(&[("count", &COUNT.to_string()), ("rate", "0"), ("seed", "42")]),
        None,
        Limits::default(),
        "orders",
    )
    .unwrap();
    let mut batch = Batch::default();
    loop {
        let p = source.poll(512).unwrap();
        for r in p.records.iter() {
            batch.push_ref(&r).unwrap();
        }
        if p.finished {
            break;
        }
    }
    let stages = [
        ("filter", cfg(&[("field", "country"), ("equals", "XX")])),
        ("mask", cfg(&[("field", "email")])),
        ("set-key", cfg(&[("field", "id")])),
    ];
    for (name, c) in stages {
        let p = rt.load(&plugin(name), PluginKind::Transform).unwrap();
        let mut t = TransformInstance::open(&p, c, Limits::default(), name).unwrap();
        let out = t.process(batch).1.unwrap();
        assert!(
            out.outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Emit { .. }))
        );
        batch = out.output;
    }
    batch
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(r.key().unwrap()).into_owned(),
                String::from_utf8_lossy(r.value().unwrap()).into_owned(),
            )
        })
        .collect()
}

fn run_quickstart(acks: &str) {
    let state = tempfile::tempdir().unwrap();
    let topic = format!("quickstart-{acks}");
    let mut cmd = sluice_run("examples/quickstart.yaml", state.path(), 60);
    cmd.current_dir(root())
        .env("ORDERS_COUNT", COUNT.to_string())
        .env("ORDERS_RATE", "0")
        .env("ACKS", acks)
        .env("TOPIC", &topic)
        .env_remove("KAFKA_BROKERS");
    let mut run = Running::spawn(cmd);
    let cluster = run.wait_event("embedded_cluster", Duration::from_secs(120), |e| {
        e["event"] == "embedded_cluster"
    });
    let bootstrap = cluster["bootstrap"].as_str().unwrap().to_string();
    let finished = run.wait_kind("pipeline_stopped", "quickstart", Duration::from_secs(120));
    let want = expected();
    assert!(want.len() < COUNT, "the filter drops some test orders");
    assert_eq!(finished["reason"], "finished", "{finished}");
    assert_eq!(finished["acknowledged"], want.len() as u64, "{finished}");
    assert_eq!(
        finished["position"],
        (COUNT + 1).to_string().as_str(),
        "{finished}"
    );
    let all = run.wait_event("all_stopped", Duration::from_secs(10), |e| {
        e["event"] == "all_stopped"
    });
    assert_eq!(
        all["embedded"],
        bootstrap.as_str(),
        "the embedded cluster keeps serving: {all}"
    );

    let got = kcat_read(&bootstrap, &topic, want.len() + 1);
    assert_eq!(
        got.len(),
        want.len(),
        "exactly the transformed records, nothing more"
    );
    assert_eq!(got, want);
    for (key, value) in &got {
        assert!(value.contains(r#""email":"***""#), "{value}");
        assert!(
            value.starts_with(&format!(r#"{{"id":{key},"#)),
            "key is the id: {key} {value}"
        );
        assert!(!value.contains(r#""country":"XX""#));
    }
    // Kept apart from the positions of pipelines on a real cluster.
    let state_file =
        std::fs::read_to_string(state.path().join("embedded/quickstart.position.json")).unwrap();
    assert!(!state.path().join("quickstart.position.json").exists());
    assert!(
        state_file.contains(&hex(&(COUNT + 1).to_string())),
        "{state_file}"
    );
    let status = run.terminate();
    assert!(status.success(), "{status:?}");
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn quickstart_delivers_the_transformed_records_with_acks_none() {
    run_quickstart("none");
}

#[test]
fn quickstart_delivers_the_transformed_records_with_acks_leader() {
    run_quickstart("leader");
}

#[test]
fn quickstart_delivers_the_transformed_records_with_acks_all() {
    run_quickstart("all");
}
