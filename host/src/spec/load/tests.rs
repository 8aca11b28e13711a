use super::*;
use crate::spec::{Delivery, IngestFormat, Loss, Rejects, TopicRefusal};

mod proptests;

/// A folder with the plugin files the pipelines below name.
fn plugins() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in ["a.wasm", "b.wasm"] {
        std::fs::write(dir.path().join(p), b"").unwrap();
    }
    dir
}

fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

fn load(
    dir: &tempfile::TempDir,
    file: &str,
    text: &str,
    vars: &[(&str, &str)],
) -> Result<Pipeline, FileErrors> {
    load_bytes(&dir.path().join(file), text.as_bytes(), &env_of(vars))
}

/// The one error of a file that must fail, as `line:column: message`.
fn error(result: Result<Pipeline, FileErrors>) -> String {
    let errors = result.expect_err("must fail").0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    format!("{}:{}: {}", e.line, e.column, e.message)
}

const YAML: &str =
    "name: p\nsource:\n  plugin: a.wasm\nsink:\n  kafka:\n    topic: t\n    acks: all\n";
const TOML: &str =
    "name = \"p\"\n[source]\nplugin = \"a.wasm\"\n[sink.kafka]\ntopic = \"t\"\nacks = \"all\"\n";

fn config(p: &Pipeline) -> Vec<(&str, &str)> {
    p.source
        .plugin()
        .unwrap()
        .config
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn config_scalars_keep_their_text_in_yaml() {
    let dir = plugins();
    let text = YAML.replace(
        "  plugin: a.wasm\n",
        "  plugin: a.wasm\n  config:\n    zip: 007\n    big: 12345678901234567890\n    ratio: 1.50\n    flag: yes\n    hex: 0x1F\n    quoted: \"007\"\n",
    );
    let p = load(&dir, "p.yaml", &text, &[]).unwrap();
    assert_eq!(
        config(&p),
        [
            ("big", "12345678901234567890"),
            ("flag", "yes"),
            ("hex", "0x1F"),
            ("quoted", "007"),
            ("ratio", "1.50"),
            ("zip", "007"),
        ]
    );
}

#[test]
fn config_scalars_keep_their_text_in_toml() {
    let dir = plugins();
    let text = TOML.replace(
        "plugin = \"a.wasm\"\n",
        "plugin = \"a.wasm\"\nconfig = { zip = \"007\", big = 12345678901234567890, ratio = 1.50, on = true }\n",
    );
    let p = load(&dir, "p.toml", &text, &[]).unwrap();
    assert_eq!(
        config(&p),
        [
            ("big", "12345678901234567890"),
            ("on", "true"),
            ("ratio", "1.50"),
            ("zip", "007"),
        ]
    );
}

#[test]
fn typed_fields_read_text_so_toml_can_interpolate_numbers() {
    let dir = plugins();
    let text = TOML.replacen(
        "name = \"p\"\n",
        "name = \"p\"\nbatch_size = \"${BATCH:-64}\"\n",
        1,
    );
    let p = load(&dir, "p.toml", &text, &[]).unwrap();
    assert_eq!(p.spec.batch_size, Some(64));
    let p = load(&dir, "p.toml", &text, &[("BATCH", "7")]).unwrap();
    assert_eq!(p.spec.batch_size, Some(7));
    assert_eq!(
        error(load(&dir, "p.toml", &text, &[("BATCH", "lots")])),
        "2:14: `batch_size` must be a whole number from 0 to 4294967295, not the value of ${BATCH}"
    );
}

#[test]
fn interpolated_values_cannot_inject_keys() {
    let dir = plugins();
    let evil = "x\nerrors: skip\nbatch_size: 1";
    let text = YAML.replace(
        "  plugin: a.wasm\n",
        "  plugin: a.wasm\n  config:\n    note: \"${NOTE}\"\n    plain: ${NOTE}\n",
    );
    let p = load(&dir, "p.yaml", &text, &[("NOTE", evil)]).unwrap();
    assert_eq!(p.spec.errors, ErrorPolicy::Fail);
    assert_eq!(p.spec.batch_size, None);
    assert_eq!(config(&p), [("note", evil), ("plain", evil)]);

    let evil_toml = "x\"\nerrors = \"skip";
    let text = TOML.replace(
        "plugin = \"a.wasm\"\n",
        "plugin = \"a.wasm\"\nconfig = { note = \"${NOTE}\" }\n",
    );
    let p = load(&dir, "p.toml", &text, &[("NOTE", evil_toml)]).unwrap();
    assert_eq!(p.spec.errors, ErrorPolicy::Fail);
    assert_eq!(config(&p), [("note", evil_toml)]);

    // In a field with rules, the value is judged as a whole and not shown.
    let text = YAML.replace("topic: t", "topic: ${TOPIC}");
    assert_eq!(
        error(load(&dir, "p.yaml", &text, &[("TOPIC", evil)])),
        "6:12: `sink.kafka.topic` `x errors: skip batch_size: 1` (from ${TOPIC}) is not a valid Kafka topic name: Kafka topic names use only letters, digits, `.`, `_` and `-`"
    );
}

#[test]
fn unset_variables_are_located_inside_their_value() {
    let dir = plugins();
    let text = YAML.replace("topic: t", "topic: \"pre-${NOPE}\"");
    assert_eq!(
        error(load(&dir, "p.yaml", &text, &[])),
        "6:17: environment variable NOPE is not set"
    );
    let text = TOML.replace("topic = \"t\"", "topic = \"pre-${NOPE}\"");
    assert_eq!(
        error(load(&dir, "p.toml", &text, &[])),
        "5:14: environment variable NOPE is not set"
    );
}

#[test]
fn comments_and_keys_are_never_interpolated() {
    let dir = plugins();
    let text = format!("# ${{NOT_SET}} in a comment\n{YAML}");
    load(&dir, "p.yaml", &text, &[]).unwrap();
    let text = YAML.replace(
        "  plugin: a.wasm\n",
        "  plugin: a.wasm\n  config: { \"${K}\": v }\n",
    );
    let p = load(&dir, "p.yaml", &text, &[("K", "other")]).unwrap();
    assert_eq!(config(&p), [("${K}", "v")]);
}

#[test]
fn the_embedded_cluster_only_when_asked_for() {
    let dir = plugins();
    let with = |brokers: &str| {
        YAML.replace(
            "    topic: t\n",
            &format!("    brokers: {brokers}\n    topic: t\n"),
        )
    };
    assert_eq!(
        *load(&dir, "p.yaml", YAML, &[]).unwrap().cluster(),
        Cluster::Embedded
    );
    assert_eq!(
        *load(&dir, "p.yaml", &with("embedded"), &[])
            .unwrap()
            .cluster(),
        Cluster::Embedded
    );
    assert_eq!(
        *load(&dir, "p.yaml", &with("${KAFKA_BROKERS:-embedded}"), &[])
            .unwrap()
            .cluster(),
        Cluster::Embedded
    );
    assert_eq!(
        *load(
            &dir,
            "p.yaml",
            &with("${KAFKA_BROKERS:-embedded}"),
            &[("KAFKA_BROKERS", "k:9092")]
        )
        .unwrap()
        .cluster(),
        Cluster::Brokers("k:9092".into())
    );
    assert_eq!(
        *load(&dir, "p.yaml", &with("\"k1:9092, k2:9092\""), &[])
            .unwrap()
            .cluster(),
        Cluster::Brokers("k1:9092, k2:9092".into())
    );
}

#[test]
fn an_empty_brokers_value_is_an_error_naming_the_variable() {
    let dir = plugins();
    let with = |brokers: &str| {
        YAML.replace(
            "    topic: t\n",
            &format!("    brokers: {brokers}\n    topic: t\n"),
        )
    };
    let want = "6:14: KAFKA_BROKERS is empty, so `sink.kafka.brokers` names no cluster";
    assert_eq!(
        error(load(&dir, "p.yaml", &with("${KAFKA_BROKERS:-}"), &[])),
        want
    );
    assert_eq!(
        error(load(
            &dir,
            "p.yaml",
            &with("${KAFKA_BROKERS}"),
            &[("KAFKA_BROKERS", "")]
        )),
        want
    );
    assert_eq!(
        error(load(&dir, "p.yaml", &with("\"\""), &[])),
        "6:14: `sink.kafka.brokers` is empty"
    );
    let hint = load(&dir, "p.yaml", &with("${KAFKA_BROKERS:-}"), &[])
        .unwrap_err()
        .0[0]
        .hint
        .clone()
        .unwrap();
    assert!(
        hint.contains("set KAFKA_BROKERS") && hint.contains("brokers: embedded"),
        "{hint}"
    );
    assert_eq!(
        error(load(&dir, "p.yaml", &with("\"a b:9092\""), &[])),
        "6:14: `sink.kafka.brokers` has an entry `a b:9092` that is not `host:port`"
    );
}

#[test]
fn overrides_may_name_only_the_sink_topic_and_listed_topics() {
    let dir = plugins();
    let p = load(&dir, "p.yaml", YAML, &[]).unwrap();
    assert!(p.topics.allows("t"));
    assert!(
        !p.topics.allows("other"),
        "default: none but the sink topic"
    );
    let text = YAML.replace(
        "    acks: all\n",
        "    acks: all\n    topics_allowed: [t.eu, t.us]\n",
    );
    let p = load(&dir, "p.yaml", &text, &[]).unwrap();
    assert!(p.topics.allows("t.eu") && p.topics.allows("t.us") && p.topics.allows("t"));
    assert_eq!(
        p.topics.check("t.asia"),
        Err(TopicRefusal::NotAllowed {
            topic: "t.asia".into()
        })
    );
}

#[test]
fn topics_allowed_may_not_name_the_positions_or_dead_letter_topic() {
    let dir = plugins();
    let text = format!(
        "{}errors: dead-letter\ndead_letter: {{ topic: t.dlq }}\npositions: {{ kafka_topic: pos }}\n",
        YAML.replace(
            "    acks: all\n",
            "    acks: all\n    topics_allowed: [t.eu, t.dlq, pos]\n"
        )
    );
    let errors = load(&dir, "p.yaml", &text, &[]).unwrap_err().0;
    let got: Vec<String> = errors
        .iter()
        .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
        .collect();
    assert_eq!(
        got,
        [
            "8:28: `sink.kafka.topics_allowed` names `t.dlq`, the pipeline's `dead_letter.topic`: plugins may never write there",
            "8:35: `sink.kafka.topics_allowed` names `pos`, the pipeline's `positions.kafka_topic`: plugins may never write there",
        ]
    );
    // Without the list, both are reserved all the same.
    let text = format!(
        "{YAML}errors: dead-letter\ndead_letter: {{ topic: t.dlq }}\npositions: {{ kafka_topic: pos }}\n"
    );
    let p = load(&dir, "p.yaml", &text, &[]).unwrap();
    assert!(matches!(
        p.topics.check("pos"),
        Err(TopicRefusal::Reserved { .. })
    ));
    assert!(matches!(
        p.topics.check("t.dlq"),
        Err(TopicRefusal::Reserved { .. })
    ));
}

#[test]
fn the_positions_topic_is_no_other_topic() {
    let dir = plugins();
    let text = format!("{YAML}positions: {{ kafka_topic: t }}\n");
    assert_eq!(
        error(load(&dir, "p.yaml", &text, &[])),
        "8:27: the positions topic `t` is the sink topic"
    );
}

#[test]
fn producer_properties_that_break_delivery_tracking_are_refused_by_name() {
    let dir = plugins();
    for (key, value, acks) in [
        ("delivery.report.only.error", "true", "all"),
        ("transactional.id", "x", "all"),
        ("partitioner", "random", "all"),
        ("enable.gapless.guarantee", "true", "leader"),
        ("dr_msg_cb", "x", "all"),
    ] {
        let text = YAML.replace(
            "    acks: all\n",
            &format!("    acks: {acks}\n    producer:\n      {key}: {value}\n"),
        );
        let got = error(load(&dir, "p.yaml", &text, &[]));
        assert!(
            got.starts_with(&format!("9:7: producer property `{key}")),
            "{got}"
        );
    }
    let text = YAML.replace(
        "    acks: all\n",
        "    acks: all\n    producer: { partitioner: murmur2, enable.gapless.guarantee: true, linger.ms: 020 }\n",
    );
    let p = load(&dir, "p.yaml", &text, &[]).unwrap();
    assert_eq!(p.spec.sink.kafka.producer["linger.ms"].as_str(), "020");
}

#[test]
fn the_guarantee_accounts_for_cluster_acks_and_errors() {
    let dir = plugins();
    let real = YAML.replace("    topic: t\n", "    brokers: k:9092\n    topic: t\n");
    let g = load(&dir, "p.yaml", &real, &[]).unwrap().guarantee();
    assert_eq!(
        (g.delivery, g.loss, g.rejects.clone()),
        (
            Delivery::AtLeastOnce,
            Loss::AllInSyncReplicas,
            Rejects::StopPipeline
        )
    );
    assert_eq!(
        g.summary(),
        "at-least-once; lost only if every in-sync replica dies; no duplicates from retries; a rejected record stops the pipeline"
    );

    let embedded = load(&dir, "p.yaml", YAML, &[]).unwrap().guarantee();
    assert_eq!(embedded.loss, Loss::NoDurability);
    assert!(
        embedded
            .summary()
            .starts_with("embedded demo cluster: no durability")
    );

    let none = load(
        &dir,
        "p.yaml",
        &real.replace("acks: all", "acks: none"),
        &[],
    )
    .unwrap()
    .guarantee();
    assert_eq!(none.delivery, Delivery::AtMostOncePerSend);
    assert!(
        none.summary()
            .starts_with("at-most-once per send, replays after a crash"),
        "{}",
        none.summary()
    );

    let skip = load(&dir, "p.yaml", &format!("{real}errors: skip\n"), &[])
        .unwrap()
        .guarantee();
    assert_eq!(skip.rejects, Rejects::Skipped);
    assert!(skip.loss_text().contains("skipped"), "{}", skip.loss_text());
    assert!(skip.summary().contains("skipped, not delivered"));

    let dl = load(
        &dir,
        "p.yaml",
        &format!("{real}errors: dead-letter\ndead_letter: {{ topic: t.dlq }}\n"),
        &[],
    )
    .unwrap()
    .guarantee();
    assert_eq!(
        dl.rejects,
        Rejects::DeadLettered {
            topic: "t.dlq".into()
        }
    );
    assert!(dl.loss_text().contains("`t.dlq`"), "{}", dl.loss_text());
}

#[test]
fn bytes_that_are_not_utf8_are_located() {
    let dir = plugins();
    let mut bytes = b"name: p\nsource:\n  plugin: a\xc3\xa9".to_vec();
    bytes.extend_from_slice(b"\xff.wasm\n");
    let got = error(load_bytes(&dir.path().join("p.yaml"), &bytes, &env_of(&[])));
    assert_eq!(
        got,
        "3:13: the file is not UTF-8 text: byte 0xff here is not valid UTF-8"
    );
}

#[test]
fn a_value_of_the_wrong_type_names_its_field_and_shape() {
    let dir = plugins();
    let text = YAML.replace("sink:\n", "transforms: \"mask\"\nsink:\n");
    let e = load(&dir, "p.yaml", &text, &[]).unwrap_err().0.remove(0);
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (
            4,
            13,
            "`transforms` must be a list of `{plugin, config}` entries, not `mask`"
        )
    );
    assert!(e.hint.unwrap().contains("- plugin: mask.wasm"));
    let text = TOML.replace("[source]", "transforms = \"mask\"\n[source]");
    let e = load(&dir, "p.toml", &text, &[]).unwrap_err().0.remove(0);
    assert_eq!((e.line, e.column), (2, 14));
    assert!(e.hint.unwrap().contains("[[transforms]]"));

    let text = YAML.replace(
        "  plugin: a.wasm\n",
        "  plugin: a.wasm\n  limits: { memory_mb: -1 }\n",
    );
    assert_eq!(
        error(load(&dir, "p.yaml", &text, &[])),
        "4:24: `source.limits.memory_mb` must be a whole number from 0 to 4294967295, not `-1`"
    );
    let text = YAML.replace(
        "  plugin: a.wasm\n",
        "  plugin: a.wasm\n  config: { k: [1] }\n",
    );
    assert_eq!(
        error(load(&dir, "p.yaml", &text, &[])),
        "4:16: `source.config.k` must be a single value (text, a number or true/false), not a list"
    );
    let text = YAML.replace("  plugin: a.wasm\n", "  plugin: a.wasm\n  colour: red\n");
    assert_eq!(
        error(load(&dir, "p.yaml", &text, &[])),
        "4:3: unknown key `colour` in `source`; expected one of `plugin`, `config`, `limits`, `grants`, `http`, `kafka`"
    );
    assert_eq!(
        error(load(
            &dir,
            "p.yaml",
            &YAML.replace("    topic: t\n", ""),
            &[]
        )),
        "6:5: missing key `topic` in `sink.kafka`"
    );
}

#[test]
fn unreasonable_limits_are_refused() {
    let dir = plugins();
    for (limit, at_most) in [
        ("memory_mb: 5000", "4096"),
        ("max_output_mb: 4096", "4095"),
        ("call_timeout_ms: 3600001", "3600000"),
    ] {
        let text = YAML.replace(
            "  plugin: a.wasm\n",
            &format!("  plugin: a.wasm\n  limits: {{ {limit} }}\n"),
        );
        let got = error(load(&dir, "p.yaml", &text, &[]));
        assert!(got.contains(&format!("must be at most {at_most}")), "{got}");
    }
    assert_eq!(
        error(load(&dir, "p.yaml", &format!("{YAML}batch_size: 0\n"), &[])),
        "8:13: `batch_size` must be at least 1"
    );
}

#[test]
fn one_bad_file_does_not_stop_the_good_ones_and_duplicate_names_stop_both() {
    let dir = plugins();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let good = write("good.yaml", YAML);
    let bad = write("bad.yaml", &YAML.replace("acks: all", "acks: most"));
    let twin_a = write("twin-a.yaml", &YAML.replace("name: p", "name: twin"));
    let twin_b = write(
        "twin-b.toml",
        &TOML.replace("name = \"p\"", "name = \"twin\""),
    );
    let loaded = load_all(&[bad.clone(), good.clone(), twin_a.clone(), twin_b.clone()]);
    let names: Vec<&str> = loaded
        .pipelines
        .iter()
        .map(|p| p.spec.name.as_str())
        .collect();
    assert_eq!(names, ["p"]);
    let errors: Vec<(&Path, usize, bool)> = loaded
        .errors
        .0
        .iter()
        .map(|e| {
            (
                e.file.as_path(),
                e.line,
                e.message.contains("is also used by"),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (bad.as_path(), 7, false),
            (twin_a.as_path(), 0, true),
            (twin_b.as_path(), 0, true)
        ]
    );
    let twin_error = &loaded.errors.0[1].message;
    assert!(
        twin_error.contains(&twin_b.display().to_string()),
        "{twin_error}"
    );
}

#[test]
fn every_error_has_a_location() {
    let dir = plugins();
    for (file, text) in [
        ("p.yaml", ""),
        ("p.yaml", "[1, 2]"),
        ("p.yaml", "name: p\nname: q\n"),
        ("p.yaml", "a: &x [*x]\n"),
        ("p.yaml", "---\nname: p\n---\nname: q\n"),
        ("p.toml", ""),
        ("p.toml", "name = [1"),
        ("p.toml", "name = 1\n"),
        ("p.yaml", "name:\nsource:\nsink:\n"),
    ] {
        let errors = load(&dir, file, text, &[]).unwrap_err().0;
        for e in errors {
            assert!(e.line >= 1 && e.column >= 1, "{text:?}: {e}");
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let dir = plugins();
    for depth in [100, 1_000, 100_000] {
        let yaml = format!("name: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let toml = format!("name = {}{}\n", "[".repeat(depth), "]".repeat(depth));
        for (file, text) in [("p.yaml", yaml), ("p.toml", toml)] {
            let errors = load(&dir, file, &text, &[]).unwrap_err().0;
            assert!(
                errors.iter().all(|e| e.line >= 1),
                "{file} {depth}: {errors:?}"
            );
        }
    }
}

#[test]
fn an_http_source_loads_with_its_defaults() {
    let dir = plugins();
    let text = YAML.replace(
        "  plugin: a.wasm\n",
        "  http: { path: /in, format: json }\n",
    );
    let p = load(&dir, "p.yaml", &text, &[]).unwrap();
    let SourceRef::Http(h) = &p.source else {
        panic!("{:?}", p.source)
    };
    assert_eq!(
        h.address().unwrap().to_string(),
        "127.0.0.1:8081",
        "loopback by default"
    );
    assert_eq!((h.path.as_str(), h.format), ("/in", IngestFormat::Json));
    assert_eq!(h.max_body_bytes(), 1 << 20);
    let toml = TOML.replace(
        "plugin = \"a.wasm\"\n",
        "http = { listen = \"0.0.0.0:9000\" }\n",
    );
    let p = load(&dir, "p.toml", &toml, &[]).unwrap();
    assert!(p.source.plugin().is_none());
}

#[test]
fn http_source_mistakes_are_located() {
    let dir = plugins();
    let errors = |text: &str| load(&dir, "p.yaml", text, &[]).unwrap_err().to_string();
    let both = YAML.replace("  plugin: a.wasm\n", "  plugin: a.wasm\n  http: {}\n");
    assert!(
        errors(&both).contains("both a `plugin` and `http`"),
        "{}",
        errors(&both)
    );
    let neither = YAML.replace("  plugin: a.wasm\n", "  config: { a: 1 }\n");
    assert!(errors(&neither).contains("neither a `plugin` nor `http` nor `kafka`"));
    let bad = YAML.replace(
        "  plugin: a.wasm\n",
        "  http:\n    listen: localhost\n    path: ingest\n    max_body_kb: 0\n",
    );
    let e = errors(&bad);
    assert!(
        e.contains("p.yaml:4:13") && e.contains("not IP:PORT"),
        "{e}"
    );
    assert!(e.contains("not an absolute URL path"), "{e}");
    assert!(e.contains("`max_body_kb` must be at least 1"), "{e}");
    let format = YAML.replace("  plugin: a.wasm\n", "  http: { format: csv }\n");
    assert!(errors(&format).contains("csv"), "{}", errors(&format));
}

const KAFKA_YAML: &str = "name: p\nsource:\n  kafka:\n    topics: [orders]\n    group: g\nsink:\n  kafka:\n    brokers: k:9092\n    topic: t\n    acks: all\n";

#[test]
fn a_kafka_source_loads_with_its_defaults() {
    let dir = plugins();
    let p = load(&dir, "p.yaml", KAFKA_YAML, &[]).unwrap();
    let SourceRef::Kafka(k) = &p.source else {
        panic!("{:?}", p.source)
    };
    assert_eq!(k.topics, ["orders"]);
    assert_eq!(
        (k.group.as_str(), k.start),
        ("g", crate::spec::StartAt::Earliest)
    );
    assert_eq!(k.brokers, None, "reads the sink's cluster by default");
    assert_eq!(p.guarantee().delivery, Delivery::AtLeastOnce);
    let toml = "name = \"p\"\nexactly_once = true\n[source.kafka]\ntopic_pattern = \"^orders\\\\..*\"\ngroup = \"g\"\nstart = \"latest\"\ninstance_id = \"pod-1\"\ntransaction_interval_ms = 50\n[sink.kafka]\nbrokers = \"k:9092\"\ntopic = \"t\"\nacks = \"all\"\n";
    let p = load(&dir, "p.toml", toml, &[]).unwrap();
    let SourceRef::Kafka(k) = &p.source else {
        panic!("{:?}", p.source)
    };
    assert_eq!(k.topic_pattern.as_deref(), Some("^orders\\..*"));
    assert_eq!(k.transaction_interval(), Duration::from_millis(50));
    assert_eq!(p.guarantee().delivery, Delivery::ExactlyOnce);
    assert!(
        p.guarantee()
            .summary()
            .starts_with("exactly-once (Kafka transactions); "),
        "{}",
        p.guarantee().summary()
    );
}

#[test]
fn kafka_source_mistakes_are_located_and_say_what_to_do() {
    let dir = plugins();
    let errors = |text: &str| load(&dir, "p.yaml", text, &[]).unwrap_err().to_string();
    let no_topic = KAFKA_YAML.replace("    topics: [orders]\n", "");
    let e = errors(&no_topic);
    assert!(e.contains("names no topic"), "{e}");
    let owned = KAFKA_YAML.replace(
        "    group: g\n",
        "    group: g\n    consumer: { enable.auto.commit: true, fetch.min.bytes: 10 }\n",
    );
    let e = errors(&owned);
    assert!(
        e.contains("p.yaml:6:17") && e.contains("`enable.auto.commit` is set by the kafka source"),
        "{e}"
    );
    assert!(!e.contains("fetch.min.bytes"), "{e}");
    let both = KAFKA_YAML.replace(
        "  kafka:\n    topics",
        "  plugin: a.wasm\n  kafka:\n    topics",
    );
    assert!(
        errors(&both).contains("both a `plugin` and `kafka`"),
        "{}",
        errors(&both)
    );
}

#[test]
fn exactly_once_refuses_what_cannot_be_exactly_once() {
    let dir = plugins();
    let errors = |text: &str| load(&dir, "p.yaml", text, &[]).unwrap_err().to_string();
    let eos = KAFKA_YAML.replace("name: p\n", "name: p\nexactly_once: true\n");
    assert!(load(&dir, "p.yaml", &eos, &[]).is_ok());
    let skip = format!("{eos}errors: skip\n");
    let e = errors(&skip);
    assert!(
        e.contains("`errors: skip` contradicts itself") && e.contains("dead-letter"),
        "{e}"
    );
    let leader = eos.replace("acks: all", "acks: leader");
    assert!(
        errors(&leader).contains("needs `acks: all`"),
        "{}",
        errors(&leader)
    );
    let plugin = YAML.replace("name: p\n", "name: p\nexactly_once: true\n");
    let e = errors(&plugin);
    assert!(e.contains("needs the kafka source"), "{e}");
    let elsewhere = eos.replace("    group: g\n", "    group: g\n    brokers: other:9092\n");
    assert!(
        errors(&elsewhere).contains("must read the sink's cluster"),
        "{}",
        errors(&elsewhere)
    );
    let interval = KAFKA_YAML.replace(
        "    group: g\n",
        "    group: g\n    transaction_interval_ms: 10\n",
    );
    assert!(
        errors(&interval).contains("not `exactly_once`"),
        "{}",
        errors(&interval)
    );
}
