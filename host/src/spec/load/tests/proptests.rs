//! The loader under generated input: arbitrary bytes, pipeline-like YAML and
//! TOML made of schema keys and awkward values, and variables holding
//! anything. Whatever comes in, loading never panics, every error points at
//! a line and column, and a variable's value lands, whole, in the one field
//! that references it.
//!
//! CI runs proptest's default 256 cases per property. A long run:
//! `PROPTEST_CASES=50000 cargo test -p sluice --lib spec::load::tests::proptests`.

use proptest::prelude::*;

use super::*;

const KEYS: &[&str] = &[
    "name",
    "source",
    "plugin",
    "config",
    "limits",
    "grants",
    "env",
    "dirs",
    "host",
    "guest",
    "mode",
    "network",
    "transforms",
    "sink",
    "kafka",
    "brokers",
    "topic",
    "topics_allowed",
    "acks",
    "key",
    "producer",
    "linger.ms",
    "partitioner",
    "errors",
    "dead_letter",
    "positions",
    "kafka_topic",
    "batch_size",
    "memory_mb",
    "call_timeout_ms",
    "max_output_mb",
    "fuel",
    "<<",
    "",
];

const VALUES: &[&str] = &[
    "a.wasm",
    "b.wasm",
    "all",
    "leader",
    "none",
    "dead-letter",
    "skip",
    "embedded",
    "007",
    "12345678901234567890",
    "-1",
    "0",
    "1.50",
    "true",
    "~",
    "",
    "${X}",
    "${X:-}",
    "${X:-all}",
    "\"${X}\"",
    "'${Y:-7}'",
    "$${X}",
    "${",
    "${1X}",
    "[",
    "]",
    "{",
    "}",
    "[a.wasm]",
    "{ plugin: a.wasm }",
    "&a [1]",
    "*a",
    "\"unterminated",
    "é",
    "|",
    "- x",
    "!!str 5",
];

/// One line of something that looks like a pipeline file.
fn line() -> impl Strategy<Value = String> {
    (
        0usize..8,
        prop::sample::select(KEYS),
        prop::sample::select(&[": ", ":", " = ", ": - ", "- ", "-", ""][..]),
        prop_oneof![
            prop::sample::select(VALUES).prop_map(str::to_string),
            "[ -~]{0,12}",
        ],
        prop::sample::select(
            &[
                "",
                "",
                "[source]",
                "[sink.kafka]",
                "[[transforms]]",
                "# ${Z}",
            ][..],
        ),
    )
        .prop_map(|(indent, key, sep, value, header)| {
            if header.is_empty() {
                format!("{}{key}{sep}{value}", " ".repeat(indent))
            } else {
                header.to_string()
            }
        })
}

/// A pipeline that loads, in YAML and TOML.
const VALID_YAML: &str = "name: p\nerrors: dead-letter\nbatch_size: ${B:-64}\nsource:\n  plugin: a.wasm\n  config:\n    count: 007\n  limits: { memory_mb: 64 }\ntransforms:\n  - plugin: b.wasm\n    config: { field: email }\nsink:\n  kafka:\n    brokers: ${X:-embedded}\n    topic: t\n    topics_allowed: [t.eu]\n    acks: all\n    producer:\n      linger.ms: 5\ndead_letter:\n  topic: t.dlq\npositions:\n  kafka_topic: pos\n";
const VALID_TOML: &str = "name = \"p\"\nerrors = \"dead-letter\"\nbatch_size = \"${B:-64}\"\ndead_letter = { topic = \"t.dlq\" }\npositions = { kafka_topic = \"pos\" }\n[source]\nplugin = \"a.wasm\"\nconfig = { count = 7 }\nlimits = { memory_mb = 64 }\n[[transforms]]\nplugin = \"b.wasm\"\nconfig = { field = \"email\" }\n[sink.kafka]\nbrokers = \"${X:-embedded}\"\ntopic = \"t\"\ntopics_allowed = [\"t.eu\"]\nacks = \"all\"\nproducer = { \"linger.ms\" = 5 }\n";

/// A valid pipeline with a few lines replaced, inserted or removed.
fn mutated(valid: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec((0usize..40, 0u8..3, line()), 1..4).prop_map(move |edits| {
        let mut lines: Vec<String> = valid.lines().map(str::to_string).collect();
        for (at, op, new) in edits {
            let at = at % (lines.len() + 1);
            match op {
                0 if at < lines.len() => lines[at] = new,
                1 => lines.insert(at, new),
                _ if at < lines.len() => {
                    lines.remove(at);
                }
                _ => {}
            }
        }
        lines.join("\n")
    })
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 0..30).prop_map(|lines| lines.join("\n"))
}

/// Values a variable may hold: anything, with the characters that would be
/// syntax in either format made likely.
fn var_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z\n\"':{}\\[\\],#=$ -]{0,24}",
        Just(String::new()),
    ]
}

fn check_located(result: &Result<Pipeline, FileErrors>) -> Result<(), TestCaseError> {
    if let Err(errors) = result {
        prop_assert!(!errors.0.is_empty());
        for e in &errors.0 {
            prop_assert!(e.line >= 1 && e.column >= 1, "no location: {e}");
            prop_assert!(!e.message.is_empty());
            prop_assert!(!e.to_string().contains("panicked"));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_errors_are_located(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        toml in any::<bool>(),
    ) {
        let dir = plugins();
        let file = dir.path().join(if toml { "p.toml" } else { "p.yaml" });
        check_located(&load_bytes(&file, &bytes, &|_| None))?;
    }

    #[test]
    fn pipeline_like_text_never_panics_and_errors_are_located(
        text in text(),
        toml in any::<bool>(),
        x in proptest::option::of(var_value()),
        y in proptest::option::of(var_value()),
    ) {
        let dir = plugins();
        let file = dir.path().join(if toml { "p.toml" } else { "p.yaml" });
        let env = |name: &str| match name {
            "X" => x.clone(),
            "Y" => y.clone(),
            _ => None,
        };
        check_located(&load_bytes(&file, text.as_bytes(), &env))?;
    }

    #[test]
    fn mutated_pipelines_never_panic_and_errors_are_located(
        (toml, text) in prop_oneof![
            mutated(VALID_YAML).prop_map(|t| (false, t)),
            mutated(VALID_TOML).prop_map(|t| (true, t)),
        ],
        x in proptest::option::of(var_value()),
    ) {
        let dir = plugins();
        let file = dir.path().join(if toml { "p.toml" } else { "p.yaml" });
        let env = |name: &str| if name == "X" { x.clone() } else { None };
        check_located(&load_bytes(&file, text.as_bytes(), &env))?;
    }

    #[test]
    fn the_valid_pipelines_load(toml in any::<bool>()) {
        let dir = plugins();
        let (file, text) = if toml { ("p.toml", VALID_TOML) } else { ("p.yaml", VALID_YAML) };
        let p = load_bytes(&dir.path().join(file), text.as_bytes(), &|_| None);
        prop_assert!(p.is_ok(), "{:?}", p.err());
    }

    #[test]
    fn a_variable_lands_whole_in_the_field_that_names_it(
        note in var_value(),
        topic in var_value(),
        toml in any::<bool>(),
    ) {
        let dir = plugins();
        let (file, text) = if toml {
            ("p.toml", "name = \"p\"\n[source]\nplugin = \"a.wasm\"\nconfig = { note = \"${NOTE}\" }\n[sink.kafka]\ntopic = \"${TOPIC}\"\nacks = \"all\"\n")
        } else {
            ("p.yaml", "name: p\nsource:\n  plugin: a.wasm\n  config:\n    note: ${NOTE}\nsink:\n  kafka:\n    topic: ${TOPIC}\n    acks: all\n")
        };
        let env = |name: &str| match name {
            "NOTE" => Some(note.clone()),
            "TOPIC" => Some(topic.clone()),
            _ => None,
        };
        let result = load_bytes(&dir.path().join(file), text.as_bytes(), &env);
        check_located(&result)?;
        match result {
            Ok(p) => {
                prop_assert_eq!(&p.spec.sink.kafka.topic, &topic);
                prop_assert_eq!(p.source.plugin().unwrap().config.clone(), vec![("note".to_string(), note.clone())]);
                prop_assert_eq!(p.spec.errors, ErrorPolicy::Fail);
                prop_assert_eq!(p.spec.batch_size, None);
                prop_assert!(p.spec.dead_letter.is_none() && p.spec.positions.is_none());
                prop_assert!(p.transforms.is_empty());
            }
            Err(errors) => {
                // Only the topic has rules a value can break.
                prop_assert!(invalid_topic_name(&topic).is_some(), "{errors}");
                for e in &errors.0 {
                    prop_assert!(e.message.contains("`sink.kafka.topic`"), "{e}");
                }
            }
        }
    }
}
