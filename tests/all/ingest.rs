//! The HTTP ingest source with real parts: `curl` (a client that is not
//! ours) posts the records; Kafka's console consumer or kcat reads them
//! back. Answers are checked by status code and JSON fields, counters by
//! the `ingest_request` events.
//!
//! * the quickstart's HTTP example: `curl -d @examples/ingest/orders.jsonl`,
//!   read back with kcat (embedded cluster);
//! * each acks policy on a real single node: 202 under `none`, 200 under
//!   `leader`/`all` with the partition and offset of every line, each one
//!   found there by the console consumer;
//! * bad input, each answered and counted, the pipeline still serving after;
//! * the partition leader killed under `acks: all` (a 3-node cluster of the
//!   test's own): every request answered 200 is in Kafka.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::common::kafka::{KafkaCluster, shared_single};
use crate::common::{Running, is, kcat_read, plugin, root, sluice_run};

/// An answer: status, body, response headers (lower-cased lines).
pub struct Answer {
    pub code: u16,
    pub body: Value,
    pub headers: String,
}

/// POSTs `body` to `url` with curl; `extra` are more curl arguments.
pub fn post(url: &str, body: &[u8], extra: &[&str]) -> Answer {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let mut child = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "60",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-D",
        ])
        .arg(&headers)
        .args(["--data-binary", "@-"])
        .args(extra)
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl is installed (make tools)");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    Answer {
        code: code.trim().parse().unwrap_or(0),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
        headers: std::fs::read_to_string(&headers)
            .unwrap_or_default()
            .to_lowercase(),
    }
}

/// The ingest URL of `pipeline`, from its `ingest_listening` event.
pub fn ingest_url(run: &mut Running, pipeline: &str) -> String {
    let e = run.wait_seen("ingest_listening", Duration::from_secs(120), |e| {
        is(e, "ingest_listening", pipeline)
    });
    format!(
        "http://{}{}",
        e["address"].as_str().unwrap(),
        e["path"].as_str().unwrap()
    )
}

/// Waits until `pipeline` is running (its endpoint answers 503 before).
fn wait_running(run: &mut Running, pipeline: &str) {
    run.wait_seen("pipeline_running", Duration::from_secs(120), |e| {
        is(e, "pipeline_running", pipeline)
    });
}

fn orders(from: u32, to: u32) -> String {
    (from..to)
        .map(|i| format!("{{\"id\":{i},\"email\":\"u{i}@example.com\"}}\n"))
        .collect()
}

#[test]
fn ingest_quickstart_curl_then_kcat() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = sluice_run("examples/http-ingest.yaml", state.path(), 60);
    cmd.current_dir(root())
        .env("INGEST_LISTEN", "127.0.0.1:0")
        .env_remove("KAFKA_BROKERS")
        .env("TOPIC", "orders");
    let mut run = Running::spawn(cmd);
    let url = ingest_url(&mut run, "http-ingest");
    wait_running(&mut run, "http-ingest");
    let bootstrap = run.wait_seen("embedded cluster", Duration::from_secs(5), |e| {
        e["event"] == "embedded_cluster"
    })["bootstrap"]
        .as_str()
        .unwrap()
        .to_string();
    // Exactly what the README tells a new user to type.
    let out = Command::new("curl")
        .args(["-s", "-d", "@examples/ingest/orders.jsonl"])
        .arg(&url)
        .current_dir(root())
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], "delivered", "{answer}");
    assert_eq!(answer["accepted"], 3);
    let records = kcat_read(&bootstrap, "orders", 3);
    let keys: Vec<&str> = records.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["1", "2", "3"], "keyed by id");
    assert!(
        records.iter().all(|(_, v)| !v.contains("@example.com")),
        "masked: {records:?}"
    );
    assert!(run.terminate().success());
}

fn write_pipeline(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(format!("{name}.yaml")), body).unwrap();
}

#[test]
fn ingest_answers_follow_each_acks_policy_on_real_kafka() -> Result<()> {
    let k = shared_single()?;
    let files = tempfile::tempdir()?;
    for acks in ["none", "leader", "all"] {
        let topic = format!("ingest-acks-{acks}");
        k.create_topic(&topic, 3, 1, &[])?;
        write_pipeline(
            files.path(),
            &format!("ingest-{acks}"),
            &format!(
                "name: ingest-{acks}\nsource:\n  http: {{ listen: 127.0.0.1:0 }}\nsink:\n  kafka: {{ brokers: \"{}\", topic: {topic}, acks: {acks}, key: id }}\n",
                k.bootstrap()
            ),
        );
    }
    let state = tempfile::tempdir()?;
    let mut run = Running::spawn(sluice_run(files.path(), state.path(), 60));
    for acks in ["none", "leader", "all"] {
        let name = format!("ingest-{acks}");
        let url = ingest_url(&mut run, &name);
        wait_running(&mut run, &name);
        let a = post(&url, orders(0, 30).as_bytes(), &[]);
        let want = if acks == "none" { 202 } else { 200 };
        ensure!(a.code == want, "acks {acks}: {} {}", a.code, a.body);
        let delivered = a.body["delivered"].as_array().context("delivered")?;
        ensure!(delivered.len() == 30, "{}", a.body);
        let topic = format!("ingest-acks-{acks}");
        let got = k.consume_exactly(&topic, 30, Duration::from_secs(3))?;
        let at: HashMap<(i32, i64), Value> = got
            .iter()
            .map(|r| ((r.partition, r.offset), r.value_json().unwrap()))
            .collect();
        for d in delivered {
            let line = d["line"].as_i64().unwrap();
            if acks == "none" {
                ensure!(d.get("offset").is_none(), "acks none has no offsets: {d}");
                continue;
            }
            let key = (
                d["partition"].as_i64().unwrap() as i32,
                d["offset"].as_i64().unwrap(),
            );
            let record = at
                .get(&key)
                .with_context(|| format!("nothing at {key:?}"))?;
            ensure!(
                record["id"] == line - 1,
                "line {line} is at {key:?}: {record}"
            );
        }
    }
    assert!(run.terminate().success());
    Ok(())
}

/// Opens a connection and sends `bytes`, keeping it open.
fn raw(addr: &str, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).unwrap();
    s
}

fn read_status(s: &mut TcpStream) -> u16 {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn ingest_bad_input_is_answered_and_counted() {
    let files = tempfile::tempdir().unwrap();
    let slow = plugin("hostile-sleep");
    write_pipeline(
        files.path(),
        "bad",
        "name: bad\nsource:\n  http:\n    listen: 127.0.0.1:0\n    max_body_kb: 64\n    max_record_kb: 1\n    read_timeout_ms: 1000\n    max_connections: 4\n    auth_token_env: INGEST_TEST_TOKEN\nerrors: skip\nsink:\n  kafka: { topic: bad, acks: all }\n",
    );
    write_pipeline(
        files.path(),
        "slow",
        &format!(
            "name: slow\nsource:\n  http: {{ listen: 127.0.0.1:0, max_pending_requests: 1 }}\ntransforms:\n  - plugin: {}\n    limits: {{ call_timeout_ms: 3000, max_consecutive_failures: 100 }}\nerrors: skip\nsink:\n  kafka: {{ topic: slow, acks: all }}\n",
            slow.display()
        ),
    );
    let state = tempfile::tempdir().unwrap();
    let mut cmd = sluice_run(files.path(), state.path(), 60);
    cmd.env("INGEST_TEST_TOKEN", "s3cret");
    let mut run = Running::spawn(cmd);
    let url = ingest_url(&mut run, "bad");
    wait_running(&mut run, "bad");
    let auth = ["-H", "Authorization: Bearer s3cret"];
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/ingest")
        .to_string();

    let a = post(&url, b"{\"id\":1}\n", &[]);
    assert_eq!(a.code, 401, "{}", a.body);
    assert!(a.headers.contains("www-authenticate: bearer"));
    let a = post(
        &url,
        b"{\"id\":1}\n",
        &["-H", "Authorization: Bearer wrong"],
    );
    assert_eq!(a.code, 401);

    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(2000));
    let body = format!("{{\"id\":1}}\n{{\"id\":\n{huge}\n");
    let mut bytes = body.into_bytes();
    bytes.extend_from_slice(b"\"\xff\"\n");
    let a = post(&url, &bytes, &auth);
    assert_eq!(a.code, 207, "{}", a.body);
    let rejected: Vec<(i64, String)> = a.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rejected.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3, 4]);
    assert!(rejected[1].1.contains("limit"), "{rejected:?}");
    assert!(rejected[2].1.contains("UTF-8"), "{rejected:?}");

    let a = post(&url, b"not json at all\n", &auth);
    assert_eq!((a.code, a.body["status"].as_str()), (400, Some("rejected")));
    let a = post(&url, b"", &auth);
    assert_eq!(
        (a.code, a.body["status"].as_str()),
        (400, Some("empty_body"))
    );
    let a = post(&url, &vec![b' '; 70 * 1024], &auth);
    assert_eq!(a.code, 413, "{}", a.body);

    // A slow client: the headers, then half a body, then nothing.
    let mut s = raw(
        &addr,
        b"POST /ingest HTTP/1.1\r\nhost: x\r\nauthorization: Bearer s3cret\r\ncontent-length: 100\r\n\r\n{\"id\":",
    );
    assert_eq!(read_status(&mut s), 408);
    // Slower still: headers that never end (the connection is closed).
    let mut s = raw(&addr, b"POST /ingest HTTP/1.1\r\nhost: x\r\n");
    let mut buf = [0u8; 64];
    let closed = s.read(&mut buf).map(|n| n == 0).unwrap_or(true);
    assert!(closed, "slow headers: the connection is closed");

    // Too many connections: 4 held open, the fifth answered 503.
    let held: Vec<TcpStream> = (0..4)
        .map(|_| raw(&addr, b"POST /ingest HTTP/1.1\r\n"))
        .collect();
    std::thread::sleep(Duration::from_millis(200)); // let the server take them
    let a = post(&url, b"{\"id\":1}\n", &auth);
    assert_eq!(a.code, 503, "{}", a.body);
    assert!(a.headers.contains("retry-after: 1"));
    drop(held);

    // Idempotency: the retry gets the same answer, and Kafka one copy.
    let key = ["-H", "Idempotency-Key: order-batch-7"];
    let args: Vec<&str> = auth.iter().chain(&key).copied().collect();
    let first = post(&url, b"{\"id\":77}\n", &args);
    let again = post(&url, b"{\"id\":77}\n", &args);
    assert_eq!(first.code, 200, "{}", first.body);
    assert_eq!(again.code, 200);
    assert_eq!(first.body, again.body);
    assert!(again.headers.contains("idempotent-replayed: true"));

    // The pipeline still serves after all of it.
    let a = post(&url, b"{\"id\":2}\n", &auth);
    assert_eq!(a.code, 200, "{}", a.body);
    let bootstrap = run.wait_seen("embedded", Duration::from_secs(5), |e| {
        e["event"] == "embedded_cluster"
    })["bootstrap"]
        .as_str()
        .unwrap()
        .to_string();
    let ids: Vec<String> = kcat_read(&bootstrap, "bad", 3)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        ids,
        [r#"{"id":1}"#, r#"{"id":77}"#, r#"{"id":2}"#],
        "one copy of the retried request"
    );

    // Back-pressure: one request in the (sleeping) transform, one queued, the rest 429.
    let slow_url = ingest_url(&mut run, "slow");
    wait_running(&mut run, "slow");
    let answers = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..5)
        .map(|_| {
            let (u, a) = (slow_url.clone(), answers.clone());
            std::thread::spawn(move || {
                let r = post(&u, b"{\"id\":1}\n", &[]);
                a.lock().unwrap().push((r.code, r.headers));
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let answers = answers.lock().unwrap();
    assert!(
        answers
            .iter()
            .any(|(c, h)| *c == 429 && h.contains("retry-after")),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );

    // Every answer is an event the telemetry counts.
    run.drain();
    let reasons: BTreeSet<String> = run
        .events
        .iter()
        .filter(|e| e["event"] == "ingest_request")
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect();
    for want in [
        "unauthorized",
        "rejected_records",
        "empty_body",
        "body_too_large",
        "read_timeout",
        "too_many_connections",
        "back_pressure",
    ] {
        assert!(reasons.contains(want), "no {want} among {reasons:?}");
    }
    let lines: BTreeSet<String> = run
        .events
        .iter()
        .filter(|e| e["event"] == "ingest_request")
        .flat_map(|e| e["rejected"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r[0].as_str().map(str::to_string))
        .collect();
    for want in ["malformed_json", "invalid_utf8", "line_too_large"] {
        assert!(lines.contains(want), "no {want} among {lines:?}");
    }
    assert!(!run.events.iter().any(|e| e["event"] == "pipeline_stopped"));
}

/// Under `acks: all`, the partition leader is killed while requests flow:
/// every request answered 200 is in Kafka, read by the console consumer.
#[test]
fn ingest_acks_all_keeps_every_answered_request_through_a_leader_kill() -> Result<()> {
    let k = KafkaCluster::start_cluster()?;
    let topic = "ingest-leader-kill";
    k.create_topic(topic, 1, 3, &[("min.insync.replicas", "2")])?;
    let files = tempfile::tempdir()?;
    write_pipeline(
        files.path(),
        "kill",
        &format!(
            "name: kill\nsource:\n  http: {{ listen: 127.0.0.1:0, response_timeout_ms: 60000 }}\nsink:\n  kafka: {{ brokers: \"{}\", topic: {topic}, acks: all }}\n",
            k.bootstrap()
        ),
    );
    let state = tempfile::tempdir()?;
    let mut run = Running::spawn(sluice_run(files.path(), state.path(), 60));
    let url = ingest_url(&mut run, "kill");
    wait_running(&mut run, "kill");

    let answered = Arc::new(Mutex::new(Vec::<u32>::new()));
    let codes = Arc::new(Mutex::new(HashMap::<u16, u32>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (answered, codes, stop, url) =
            (answered.clone(), codes.clone(), stop.clone(), url.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(240);
            let mut request = 0u32;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && request < 2000 {
                let (from, to) = (request * 20, request * 20 + 20);
                let a = post(&url, orders(from, to).as_bytes(), &[]);
                *codes.lock().unwrap().entry(a.code).or_default() += 1;
                if a.code == 200 {
                    answered.lock().unwrap().extend(from..to);
                }
                request += 1;
            }
        })
    };
    let wait_answered = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while answered.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "requests stopped being answered: {:?}",
                codes.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_answered(400);
    let leader = k.leader(topic, 0)?;
    println!(
        "killing leader {leader} after {} records answered",
        answered.lock().unwrap().len()
    );
    k.kill(leader)?;
    let new = k.wait_leader(topic, 0, Some(leader), Duration::from_secs(60))?;
    println!("new leader {new}");
    let before = answered.lock().unwrap().len();
    wait_answered(before + 400);
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    k.restart(leader)?;
    let answered = answered.lock().unwrap().clone();
    println!(
        "answers by status: {:?}; {} records answered 200",
        codes.lock().unwrap(),
        answered.len()
    );
    let got = k.consume_all(topic, answered.len(), Duration::from_secs(30))?;
    let ids: BTreeSet<i64> = got
        .iter()
        .map(|r| r.value_json().unwrap()["id"].as_i64().unwrap())
        .collect();
    let missing: Vec<u32> = answered
        .iter()
        .copied()
        .filter(|i| !ids.contains(&i64::from(*i)))
        .collect();
    ensure!(
        missing.is_empty(),
        "answered 200 but not in Kafka: {missing:?}"
    );
    assert!(run.terminate().success());
    Ok(())
}
