use std::sync::Arc;

use super::*;
use crate::events::{
    BatchReport, DeliveryReport, PipelineState, PluginInfo, ReloadOutcome, StageCounts, StageId,
    StopReason, WarningKind,
};

fn running(name: &str) -> Event {
    Event::PipelineRunning {
        pipeline: name.into(),
        file: format!("{name}.yaml"),
        plugins: vec![
            PluginInfo {
                stage: StageId::Source,
                plugin: "orders.wasm".into(),
                file: "plugins/dist/orders.wasm".into(),
                digest: "a".repeat(64),
            },
            PluginInfo {
                stage: StageId::Transform(0),
                plugin: "mask.wasm".into(),
                file: "plugins/dist/mask.wasm".into(),
                digest: "b".repeat(64),
            },
        ],
        brokers: "127.0.0.1:9092".into(),
        embedded: false,
        topic: "orders".into(),
        acks: "all".into(),
        errors: "fail".into(),
        guarantee: "at-least-once".into(),
        resumed_from: None,
    }
}

fn batch(name: &str, polled: u64, sent: u64) -> Event {
    Event::Batch {
        pipeline: Arc::from(name),
        report: BatchReport {
            polled,
            sent,
            bytes: sent * 100,
            skipped: 0,
            dead_lettered: 0,
            stages: vec![
                StageCounts {
                    stage: StageId::Source,
                    records_in: 0,
                    records_out: polled,
                    bytes_out: polled * 120,
                    call_micros: 40,
                    ..Default::default()
                },
                StageCounts {
                    stage: StageId::Transform(0),
                    records_in: polled,
                    records_out: sent,
                    filtered: polled - sent,
                    bytes_out: sent * 100,
                    call_micros: 300,
                    ..Default::default()
                },
            ],
        },
    }
}

fn delivery(name: &str, acknowledged: u64, in_flight: u64) -> Event {
    let mut latency_counts = vec![0; crate::events::ACK_LATENCY_BUCKETS.len() + 1];
    latency_counts[3] = acknowledged; // 2.5..5 ms
    Event::Delivery {
        pipeline: Arc::from(name),
        report: DeliveryReport {
            acknowledged,
            failed: 0,
            latency_counts,
            latency_sum_seconds: acknowledged as f64 * 0.004,
            in_flight,
            producer_queue: in_flight / 2,
        },
    }
}

/// The value of the sample line `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn feed(t: &Telemetry, events: &[Event]) {
    for e in events {
        t.on_event(e);
    }
}

#[test]
fn batches_and_deliveries_become_counters_per_pipeline_stage_and_acks_policy() {
    let t = Telemetry::new();
    feed(
        &t,
        &[
            Event::PipelineStarting {
                pipeline: "p".into(),
                file: "p.yaml".into(),
            },
            running("p"),
            batch("p", 10, 8),
            batch("p", 5, 5),
            delivery("p", 13, 4),
        ],
    );
    let text = t.metrics.encode().unwrap();
    let p = r#"{pipeline="p"}"#;
    assert_eq!(
        sample(&text, &format!("sluice_records_polled_total{p}")),
        Some(15.0)
    );
    assert_eq!(
        sample(&text, &format!("sluice_records_sent_total{p}")),
        Some(13.0)
    );
    assert_eq!(
        sample(&text, &format!("sluice_bytes_sent_total{p}")),
        Some(1300.0)
    );
    assert_eq!(
        sample(&text, &format!("sluice_batches_total{p}")),
        Some(2.0)
    );
    let mask = r#"{pipeline="p",stage="transform 1",plugin="mask.wasm"}"#;
    assert_eq!(
        sample(&text, &format!("sluice_stage_records_in_total{mask}")),
        Some(15.0)
    );
    assert_eq!(
        sample(&text, &format!("sluice_stage_records_filtered_total{mask}")),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("sluice_plugin_call_duration_seconds_count{mask}")
        ),
        Some(2.0)
    );
    let src = r#"{pipeline="p",stage="source",plugin="orders.wasm"}"#;
    assert_eq!(
        sample(&text, &format!("sluice_stage_records_out_total{src}")),
        Some(15.0)
    );
    let acks = r#"{pipeline="p",acks="all"}"#;
    assert_eq!(
        sample(&text, &format!("sluice_records_acknowledged_total{acks}")),
        Some(13.0)
    );
    assert_eq!(
        sample(&text, &format!("sluice_ack_latency_seconds_count{acks}")),
        Some(13.0)
    );
    // Cumulative buckets: nothing at or below 2.5 ms, all 13 by 5 ms.
    assert_eq!(
        sample(
            &text,
            r#"sluice_ack_latency_seconds_bucket{pipeline="p",acks="all",le="0.0025"}"#
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"sluice_ack_latency_seconds_bucket{pipeline="p",acks="all",le="0.005"}"#
        ),
        Some(13.0)
    );
    assert_eq!(
        sample(&text, &format!("sluice_records_in_flight{p}")),
        Some(4.0)
    );
    assert_eq!(
        sample(&text, &format!("sluice_producer_queue_messages{p}")),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"sluice_pipeline_state{pipeline="p",state="running"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"sluice_pipeline_state{pipeline="p",state="starting"}"#
        ),
        Some(0.0)
    );

    let status = t.status.pipeline("p").unwrap();
    assert_eq!(status.counters.sent, 13);
    assert_eq!(status.counters.filtered, 2);
    assert_eq!(status.counters.acknowledged, 13);
    assert_eq!(status.counters.in_flight, 4);
    assert_eq!(status.plugins[1].digest, "b".repeat(64));
    assert_eq!(status.acks.as_deref(), Some("all"));
}

#[test]
fn commits_give_the_lag_and_the_time_of_the_last_commit() {
    let t = Telemetry::new();
    feed(
        &t,
        &[
            running("p"),
            delivery("p", 100, 0),
            Event::Commit {
                pipeline: "p".into(),
                position: "42".into(),
                acknowledged: 60,
            },
        ],
    );
    let text = t.metrics.encode().unwrap();
    assert_eq!(
        sample(&text, r#"sluice_positions_committed_total{pipeline="p"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"sluice_commit_lag_records{pipeline="p"}"#),
        Some(40.0)
    );
    let at = sample(
        &text,
        r#"sluice_last_commit_timestamp_seconds{pipeline="p"}"#,
    )
    .unwrap();
    assert!((at - unix_now()).abs() < 60.0, "{at}");
    let c = t.status.pipeline("p").unwrap().last_commit.unwrap();
    assert_eq!((c.position.as_str(), c.acknowledged), ("42", 60));
}

#[test]
fn failures_quarantine_and_reloads_are_counted_by_bounded_labels() {
    let t = Telemetry::new();
    let stage = StageId::Transform(0);
    feed(
        &t,
        &[
            running("p"),
            Event::PluginFailure {
                pipeline: "p".into(),
                stage,
                plugin: "mask.wasm".into(),
                kind: "deadline".into(),
                error: "call took too long".into(),
            },
            Event::PluginFailure {
                pipeline: "p".into(),
                stage,
                plugin: "mask.wasm".into(),
                kind: "some new kind with the record key 123 in it".into(),
                error: "?".into(),
            },
            Event::Quarantined {
                pipeline: "p".into(),
                stage,
                plugin: "mask.wasm".into(),
                error: "5 failures in a row".into(),
            },
        ],
    );
    let text = t.metrics.encode().unwrap();
    let l = r#"pipeline="p",stage="transform 1",plugin="mask.wasm""#;
    assert_eq!(
        sample(
            &text,
            &format!(r#"sluice_plugin_failures_total{{{l},kind="deadline"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"sluice_plugin_failures_total{{{l},kind="other"}}"#)
        ),
        Some(1.0),
        "an unknown kind is `other`, never free text"
    );
    assert!(!text.contains("record key"));
    assert_eq!(
        sample(&text, &format!("sluice_plugin_quarantined{{{l}}}")),
        Some(1.0)
    );
    assert!(!t.status.readiness().ready);

    t.on_event(&Event::Reload {
        pipeline: "p".into(),
        stage,
        plugin: "mask.wasm".into(),
        file: "plugins/dist/mask.wasm".into(),
        old_digest: "b".repeat(64),
        new_digest: "c".repeat(64),
        outcome: ReloadOutcome::Ok,
        reason: None,
        pause_micros: Some(250),
        resumed_from: None,
    });
    let text = t.metrics.encode().unwrap();
    assert_eq!(
        sample(&text, &format!("sluice_plugin_quarantined{{{l}}}")),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"sluice_reloads_total{{{l},outcome="ok"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"sluice_reload_pause_seconds_count{pipeline="p"}"#),
        Some(1.0)
    );
    let status = t.status.pipeline("p").unwrap();
    assert_eq!(
        status.state,
        PipelineState::Running,
        "the reload cleared it"
    );
    assert_eq!(status.plugins[1].digest, "c".repeat(64));
    assert!(!status.plugins[1].quarantined);
    assert_eq!(status.last_reload.unwrap().outcome, ReloadOutcome::Ok);
    assert!(t.status.readiness().ready);
}

#[test]
fn readiness_names_each_pipeline_that_is_not_running_and_why() {
    let t = Telemetry::new();
    let r = t.status.readiness();
    assert!(!r.ready, "nothing started yet");
    assert_eq!(r.not_ready[0].state, PipelineState::Starting);

    feed(
        &t,
        &[
            Event::PipelineStarting {
                pipeline: "a".into(),
                file: "a.yaml".into(),
            },
            running("b"),
        ],
    );
    let r = t.status.readiness();
    assert!(!r.ready);
    assert_eq!(r.pipelines, 2);
    assert_eq!(r.not_ready.len(), 1);
    assert_eq!(r.not_ready[0].pipeline.as_deref(), Some("a"));
    assert_eq!(r.not_ready[0].state, PipelineState::Starting);

    t.on_event(&running("a"));
    assert!(t.status.readiness().ready);

    t.on_event(&Event::PipelineState {
        pipeline: "b".into(),
        state: PipelineState::BrokerUnreachable,
        reason: Some("no metadata for topic orders".into()),
    });
    let r = t.status.readiness();
    assert!(!r.ready);
    assert_eq!(r.not_ready[0].pipeline.as_deref(), Some("b"));
    assert_eq!(r.not_ready[0].state, PipelineState::BrokerUnreachable);
    assert_eq!(r.not_ready[0].reason, "no metadata for topic orders");

    t.on_event(&Event::PipelineState {
        pipeline: "b".into(),
        state: PipelineState::Running,
        reason: None,
    });
    assert!(t.status.readiness().ready);

    // A source that finished cleanly leaves nothing wrong; a failed one does.
    t.on_event(&stopped("a", StopReason::Finished, None));
    assert!(t.status.readiness().ready);
    t.on_event(&stopped(
        "b",
        StopReason::Failed,
        Some("Kafka refused a record"),
    ));
    let r = t.status.readiness();
    assert_eq!(r.not_ready.len(), 1);
    assert_eq!(r.not_ready[0].state, PipelineState::Stopped);
    assert!(r.not_ready[0].reason.contains("Kafka refused a record"));
    let b = t.status.pipeline("b").unwrap();
    assert_eq!(b.last_error.unwrap().message, "Kafka refused a record");

    t.on_event(&Event::ShutdownRequested { grace_secs: 30 });
    let r = t.status.readiness();
    assert!(
        r.not_ready
            .iter()
            .any(|n| n.pipeline.is_none() && n.state == PipelineState::Stopping)
    );
}

fn stopped(name: &str, reason: StopReason, error: Option<&str>) -> Event {
    Event::PipelineStopped {
        pipeline: name.into(),
        reason,
        acknowledged: 0,
        bytes: 0,
        seconds: 1.0,
        ack_p50_ms: None,
        ack_p99_ms: None,
        position: None,
        skipped: 0,
        dead_lettered: 0,
        error: error.map(str::to_string),
    }
}

#[test]
fn a_pipeline_that_never_started_or_a_file_that_does_not_load_is_not_ready() {
    let t = Telemetry::new();
    feed(
        &t,
        &[
            running("ok"),
            Event::PipelineNotStarted {
                pipeline: "bad".into(),
                file: "bad.yaml".into(),
                error: "cannot open source".into(),
            },
        ],
    );
    let r = t.status.readiness();
    assert_eq!(r.not_ready.len(), 1);
    assert_eq!(r.not_ready[0].pipeline.as_deref(), Some("bad"));
    assert!(r.not_ready[0].reason.contains("cannot open source"));
    let text = t.metrics.encode().unwrap();
    assert_eq!(
        sample(
            &text,
            r#"sluice_pipeline_start_failures_total{pipeline="bad"}"#
        ),
        Some(1.0)
    );

    t.on_event(&Event::PipelineRemoved {
        pipeline: "bad".into(),
        file: "bad.yaml".into(),
    });
    assert!(t.status.readiness().ready);
    t.on_event(&Event::PipelineFileInvalid {
        file: "ok.yaml".into(),
        error: "ok.yaml:3:1: unknown key".into(),
        running_kept: true,
        startup: false,
    });
    assert!(
        t.status.readiness().ready,
        "the running version keeps running"
    );
    t.on_event(&Event::PipelineFileInvalid {
        file: "new.yaml".into(),
        error: "new.yaml:1:1: bad".into(),
        running_kept: false,
        startup: false,
    });
    assert!(!t.status.readiness().ready);
    assert_eq!(t.status.report().file_problems.len(), 2);
}

#[test]
fn warnings_and_client_errors_are_counted_by_kind_and_code() {
    let t = Telemetry::new();
    feed(
        &t,
        &[
            running("p"),
            Event::Warning {
                pipeline: Some("p".into()),
                kind: WarningKind::WeakDurability,
                message: "min.insync.replicas=1".into(),
            },
            Event::KafkaClientError {
                brokers: "127.0.0.1:9092".into(),
                code: "AllBrokersDown".into(),
                error: "1/1 brokers are down".into(),
            },
            Event::ProducerRebuilt {
                pipeline: "p".into(),
                error: "fatal".into(),
                restarts: 1,
            },
        ],
    );
    let text = t.metrics.encode().unwrap();
    assert_eq!(
        sample(
            &text,
            r#"sluice_warnings_total{pipeline="p",kind="weak_durability"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"sluice_kafka_client_errors_total{code="AllBrokersDown"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"sluice_producer_rebuilds_total{pipeline="p"}"#),
        Some(1.0)
    );
    let report = t.status.report();
    assert_eq!(report.pipelines[0].warnings.len(), 1);
    assert_eq!(report.last_kafka_error.unwrap().origin, "AllBrokersDown");
    assert_eq!(report.pipelines[0].counters.producer_rebuilds, 1);
}

#[test]
fn build_info_and_process_metrics_are_exposed() {
    let t = Telemetry::new();
    let text = t.metrics.encode().unwrap();
    let build = BuildInfo::current();
    let line = text
        .lines()
        .find(|l| l.starts_with("sluice_build_info{"))
        .unwrap();
    assert!(
        line.contains(&format!(r#"version="{}""#, build.version)),
        "{line}"
    );
    assert!(line.contains(r#"contract="sluice:plugin@"#), "{line}");
    assert!(
        line.contains(&format!(r#"wasmtime="{WASMTIME_VERSION}""#)),
        "{line}"
    );
    assert!(line.contains(r#"librdkafka="2."#), "{line}");
    assert!(line.ends_with(" 1"));
    assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(sample(&text, "process_open_fds").unwrap() >= 3.0);
    assert!(sample(&text, "process_cpu_seconds_total").unwrap() > 0.0);
}

#[test]
fn every_exposed_family_is_listed_once_with_its_type() {
    let t = Telemetry::new();
    // Give every family at least one series.
    feed(
        &t,
        &[
            Event::PipelineStarting {
                pipeline: "p".into(),
                file: "p.yaml".into(),
            },
            running("p"),
            batch("p", 3, 3),
            delivery("p", 3, 0),
            Event::Commit {
                pipeline: "p".into(),
                position: "3".into(),
                acknowledged: 3,
            },
            Event::PluginFailure {
                pipeline: "p".into(),
                stage: StageId::Transform(0),
                plugin: "mask.wasm".into(),
                kind: "trap".into(),
                error: "unreachable".into(),
            },
            Event::Quarantined {
                pipeline: "p".into(),
                stage: StageId::Transform(0),
                plugin: "mask.wasm".into(),
                error: "x".into(),
            },
            Event::Reload {
                pipeline: "p".into(),
                stage: StageId::Transform(0),
                plugin: "mask.wasm".into(),
                file: "f".into(),
                old_digest: "o".into(),
                new_digest: "n".into(),
                outcome: ReloadOutcome::Ok,
                reason: None,
                pause_micros: Some(10),
                resumed_from: None,
            },
            Event::PipelineNotStarted {
                pipeline: "q".into(),
                file: "q.yaml".into(),
                error: "e".into(),
            },
            Event::PipelineFileInvalid {
                file: "r.yaml".into(),
                error: "e".into(),
                running_kept: false,
                startup: false,
            },
            Event::ProducerRebuilt {
                pipeline: "p".into(),
                error: "e".into(),
                restarts: 1,
            },
            Event::KafkaClientError {
                brokers: "b".into(),
                code: "BrokerTransportFailure".into(),
                error: "e".into(),
            },
            Event::IngestRequest {
                pipeline: "p".into(),
                status: 207,
                reason: Some("rejected_records".into()),
                accepted: 1,
                rejected: vec![("malformed_json".into(), 2)],
                seconds: 0.01,
            },
            Event::Warning {
                pipeline: None,
                kind: WarningKind::Other,
                message: "m".into(),
            },
        ],
    );
    let text = t.metrics.encode().unwrap();
    let exposed: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            (name.to_string(), kind.to_string())
        })
        .collect();
    let listed: Vec<(String, String)> = FAMILIES
        .iter()
        .map(|(n, k, _)| (n.to_string(), k.to_string()))
        .collect();
    let mut a = exposed.clone();
    let mut b = listed.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "FAMILIES must list exactly what /metrics exposes");
    for (name, kind) in &exposed {
        assert!(name.starts_with("sluice_") || name.starts_with("process_"));
        if kind == "counter" {
            assert!(name.ends_with("_total"), "{name}");
        } else {
            assert!(!name.ends_with("_total"), "{name}");
        }
    }
}

#[test]
fn the_readme_documents_every_metric_with_its_type() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    for (name, kind, _) in FAMILIES {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` ")))
            .unwrap_or_else(|| panic!("README metrics table has no row for {name}"));
        assert!(row.contains(&format!("| {kind} |")), "{row}");
    }
}

#[test]
fn the_wasmtime_version_matches_the_workspace_pin() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!(r#"wasmtime = {{ version = "={WASMTIME_VERSION}""#)),
        "update WASMTIME_VERSION with the pin"
    );
}
