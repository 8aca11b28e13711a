use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::events::{PipelineState, Recorder};

/// A plain HTTP/1.1 GET: (status code, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn listen_parses_addresses_and_off_and_explains_anything_else() {
    assert_eq!("off".parse::<Listen>().unwrap(), Listen::Off);
    assert_eq!("OFF".parse::<Listen>().unwrap(), Listen::Off);
    assert_eq!(
        "0.0.0.0:9464".parse::<Listen>().unwrap(),
        Listen::At("0.0.0.0:9464".parse().unwrap())
    );
    assert_eq!(
        "[::1]:0".parse::<Listen>().unwrap(),
        Listen::At("[::1]:0".parse().unwrap())
    );
    assert_eq!(Listen::default(), Listen::At(DEFAULT_ADDR.parse().unwrap()));
    let e = "localhost".parse::<Listen>().unwrap_err().to_string();
    assert!(
        e.contains("`localhost`") && e.contains("IP:PORT") && e.contains("off"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_endpoints_answer_from_the_event_stream() {
    let events = Events::new();
    let recorder = std::sync::Arc::new(Recorder::default());
    events.subscribe(recorder.clone());
    let heartbeat = Heartbeat::new(Duration::from_secs(60));
    let (telemetry, server) = start(
        Listen::At("127.0.0.1:0".parse().unwrap()),
        &events,
        &heartbeat,
    )
    .await
    .unwrap();
    let server = server.unwrap();
    let addr = server.address();
    assert_ne!(addr.port(), 0, "port 0 picks a real port");
    assert!(
        recorder.events().contains(&Event::HttpListening {
            address: addr.to_string()
        }),
        "the bound address is published"
    );

    let (code, body) = get(addr, "/healthz").await;
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");

    let (code, body) = get(addr, "/readyz").await;
    assert_eq!(code, 503, "no pipeline yet: {body}");

    events.publish(Event::PipelineStarting {
        pipeline: "p".into(),
        file: "p.yaml".into(),
    });
    let (code, body) = get(addr, "/readyz").await;
    assert_eq!(code, 503);
    let verdict: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(verdict["ready"], false);
    assert_eq!(verdict["not_ready"][0]["pipeline"], "p");
    assert_eq!(verdict["not_ready"][0]["state"], "starting");

    events.publish(Event::PipelineRunning {
        pipeline: "p".into(),
        file: "p.yaml".into(),
        plugins: vec![],
        brokers: "127.0.0.1:1".into(),
        embedded: false,
        topic: "t".into(),
        acks: "leader".into(),
        errors: "fail".into(),
        guarantee: "at-least-once".into(),
        resumed_from: None,
    });
    let (code, body) = get(addr, "/readyz").await;
    assert_eq!(code, 200, "{body}");

    events.publish(Event::PipelineState {
        pipeline: "p".into(),
        state: PipelineState::Quarantined,
        reason: Some("transform 1 (mask.wasm) quarantined".into()),
    });
    let (code, body) = get(addr, "/readyz").await;
    assert_eq!(code, 503);
    let verdict: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(verdict["not_ready"][0]["state"], "quarantined");

    let (code, body) = get(addr, "/status").await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["pipelines"][0]["pipeline"], "p");
    assert_eq!(status["pipelines"][0]["acks"], "leader");
    assert_eq!(status["pipelines"][0]["state"], "quarantined");
    assert_eq!(status["http"], addr.to_string());
    assert_eq!(status["readiness"]["ready"], false);

    let (code, body) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        body.contains(r#"sluice_pipeline_state{pipeline="p",state="quarantined"} 1"#),
        "{body}"
    );
    assert!(body.contains("# TYPE process_resident_memory_bytes gauge"));

    let (code, _) = get(addr, "/nope").await;
    assert_eq!(code, 404);

    // The same telemetry the server reads is handed back to the caller.
    assert_eq!(telemetry.status.report().pipelines.len(), 1);
    server.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_fails_when_the_supervisor_stops_touching_its_heartbeat() {
    let heartbeat = Heartbeat::new(Duration::from_millis(200));
    let server = serve(
        "127.0.0.1:0".parse().unwrap(),
        Telemetry::new(),
        heartbeat.clone(),
    )
    .await
    .unwrap();
    let addr = server.address();
    assert_eq!(get(addr, "/healthz").await.0, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (code, body) = get(addr, "/healthz").await;
        if code == 503 {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "never went stale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "stale");
    assert!(health["supervisor_heartbeat_age_seconds"].as_f64().unwrap() > 0.2);
    heartbeat.touch();
    assert_eq!(get(addr, "/healthz").await.0, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_serves_nothing_and_subscribes_nothing() {
    let events = Events::new();
    let (telemetry, server) = start(Listen::Off, &events, &Heartbeat::default())
        .await
        .unwrap();
    assert!(server.is_none());
    events.publish(Event::PipelineStarting {
        pipeline: "p".into(),
        file: "p.yaml".into(),
    });
    assert!(
        telemetry.status.report().pipelines.is_empty(),
        "with --http off the data path pays for no subscriber"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_an_error_that_says_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = serve(addr, Telemetry::new(), Heartbeat::default())
        .await
        .unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains(&addr.to_string()) && e.contains("--http off"),
        "{e}"
    );
}
