//! The sidecar surface with real parts: `curl` on the four endpoints of a
//! running pipeline, `promtool check metrics` on `/metrics`, a real
//! Prometheus (Debian's package, started here as a child on a free port)
//! scraping a pipeline on real Kafka until its records counter matches what
//! Kafka's own console consumer reads, readiness across a broker stop/start
//! and across a quarantine and the reload that clears it (liveness staying
//! up), and the Kubernetes example's manifests read as YAML.
//!
//! Everything is read through HTTP as JSON or Prometheus samples, never from
//! human output lines.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::kafka::{KafkaCluster, shared_single};
use crate::common::{Running, plugin, root, sluice_run};

/// Generous: the machine is shared and Kafka or a cold compile can be slow.
const WAIT: Duration = Duration::from_secs(120);

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `curl` (a client that is not ours): (status code, body); code 0 when
/// nothing answered.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl is installed (make tools)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn http_json(port: u16, path: &str) -> (u16, Value) {
    let (code, body) = http_get(port, path);
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{path} answered {code} with no JSON ({e}): {body:?}"));
    (code, json)
}

/// Polls `f` every 200 ms until it returns `Some`, or panics with `what` and
/// the last value seen after `timeout`.
fn poll<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {timeout:?}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The value of the sample `series` (exact name and labels) in a scrape.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `sluice run PATH --http 127.0.0.1:PORT` with stdout and stderr drained,
/// once its endpoints answer.
fn start(path: &Path, state: &Path, port: u16) -> Running {
    let mut cmd = sluice_run(path, state, 3600);
    cmd.arg("--http").arg(format!("127.0.0.1:{port}"));
    let run = Running::spawn(cmd);
    wait_alive(port);
    run
}

/// Waits until `/healthz` answers 200 (the server is up before any pipeline starts).
fn wait_alive(port: u16) {
    poll(WAIT, "/healthz 200", || match http_get(port, "/healthz") {
        (200, _) => Ok(()),
        (code, body) => Err(format!("{code} {body}")),
    });
}

/// Waits until `/readyz` says 200; returns its body.
fn wait_ready(port: u16) -> Value {
    poll(WAIT, "/readyz 200", || match http_get(port, "/readyz") {
        (200, body) => Ok(serde_json::from_str(&body).unwrap()),
        (code, body) => Err(format!("{code} {body}")),
    })
}

/// Waits until `/readyz` says 503 with `pipeline` in `state`, checking that
/// `/healthz` stays 200 all along; returns the entry.
fn wait_not_ready(port: u16, pipeline: &str, state: &str) -> Value {
    poll(
        WAIT,
        &format!("/readyz 503 with {pipeline} {state}"),
        || {
            let (health, body) = http_get(port, "/healthz");
            assert_eq!(health, 200, "liveness stays up meanwhile: {body}");
            let (code, verdict) = http_json(port, "/readyz");
            let entry = verdict["not_ready"]
                .as_array()
                .and_then(|a| a.iter().find(|e| e["pipeline"] == pipeline).cloned());
            match (code, entry) {
                (503, Some(e)) if e["state"] == state => Ok(e),
                (code, _) => Err(format!("{code} {verdict}")),
            }
        },
    )
}

/// A pipeline file: the orders source, one transform, a sink.
fn pipeline_file(
    dir: &Path,
    name: &str,
    source: &str,
    transform: &Path,
    transform_extra: &str,
    sink: &str,
    extra: &str,
) -> PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "name: {name}\n{extra}source:\n  plugin: {}\n  config: {{ {source}, seed: 3 }}\ntransforms:\n  - plugin: {}\n{transform_extra}sink:\n  kafka:\n{sink}    topic: {name}\n    acks: all\n",
            plugin("orders").display(),
            transform.display(),
        ),
    )
    .unwrap();
    file
}

fn quickstart(port: u16, state: &Path) -> Running {
    let mut cmd = sluice_run("examples/quickstart.yaml", state, 3600);
    cmd.current_dir(root())
        .arg("--http")
        .arg(format!("127.0.0.1:{port}"))
        .env("ORDERS_COUNT", "0")
        .env("ORDERS_RATE", "200")
        .env("TOPIC", "sidecar-quickstart")
        .env_remove("KAFKA_BROKERS");
    let run = Running::spawn(cmd);
    wait_alive(port);
    run
}

#[test]
fn the_four_endpoints_of_a_running_quickstart_give_meaningful_answers() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let run = quickstart(port, state.path());

    let ready = wait_ready(port);
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["pipelines"], 1);
    assert_eq!(ready["not_ready"], Value::Array(vec![]));

    let (code, health) = http_json(port, "/healthz");
    assert_eq!(code, 200);
    assert_eq!(health["status"], "ok");
    assert!(health["supervisor_heartbeat_age_seconds"].as_f64().unwrap() < 15.0);

    // Records flow: the counter rises between two scrapes.
    let sent = |text: &str| sample(text, r#"sluice_records_sent_total{pipeline="quickstart"}"#);
    let first = poll(WAIT, "records sent", || {
        let (_, text) = http_get(port, "/metrics");
        sent(&text).filter(|v| *v > 0.0).ok_or(text)
    });
    let (code, text) = http_get(port, "/metrics");
    assert_eq!(code, 200);
    poll(WAIT, "records sent rising", || {
        let (_, text) = http_get(port, "/metrics");
        sent(&text).filter(|v| *v > first).ok_or(text)
    });
    let mask = r#"pipeline="quickstart",stage="transform 2",plugin="mask.wasm""#;
    assert!(
        sample(&text, &format!("sluice_stage_records_in_total{{{mask}}}")) > Some(0.0),
        "per-stage counts: {text}"
    );
    assert!(
        sample(
            &text,
            &format!("sluice_plugin_call_duration_seconds_count{{{mask}}}")
        ) > Some(0.0)
    );
    // Acknowledgements are reported once per commit interval: poll for them.
    poll(WAIT, "the ack latency histogram", || {
        let (_, text) = http_get(port, "/metrics");
        sample(
            &text,
            r#"sluice_ack_latency_seconds_count{pipeline="quickstart",acks="leader"}"#,
        )
        .filter(|v| *v > 0.0)
        .ok_or(text)
    });
    let build = text
        .lines()
        .find(|l| l.starts_with("sluice_build_info{"))
        .unwrap();
    assert!(
        build.contains(r#"contract="sluice:plugin@0.2.0""#),
        "{build}"
    );
    assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(
        sample(
            &text,
            r#"sluice_pipeline_state{pipeline="quickstart",state="running"}"#
        ) == Some(1.0),
        "{text}"
    );

    let (code, status) = http_json(port, "/status");
    assert_eq!(code, 200);
    let p = &status["pipelines"][0];
    assert_eq!(p["pipeline"], "quickstart");
    assert_eq!(p["state"], "running");
    assert_eq!(p["acks"], "leader");
    assert_eq!(p["topic"], "sidecar-quickstart");
    assert_eq!(p["embedded"], true);
    assert!(
        p["guarantee"]
            .as_str()
            .unwrap()
            .starts_with("embedded demo cluster: no durability")
    );
    let plugins: Vec<&str> = p["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["plugin"].as_str().unwrap())
        .collect();
    assert_eq!(
        plugins,
        ["orders.wasm", "filter.wasm", "mask.wasm", "set-key.wasm"]
    );
    for x in p["plugins"].as_array().unwrap() {
        let digest = x["digest"].as_str().unwrap();
        assert_eq!(digest.len(), 64, "{digest}");
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(status["readiness"]["ready"], true);
    assert_eq!(status["http"], format!("127.0.0.1:{port}"));
    assert_eq!(http_get(port, "/nothing-here").0, 404);

    let exit = run.terminate();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn promtool_check_metrics_passes_on_the_endpoint_output() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let run = quickstart(port, state.path());
    wait_ready(port);
    // Once records moved, every family has series (histograms included).
    let text = poll(WAIT, "acknowledged records", || {
        let (_, text) = http_get(port, "/metrics");
        sample(
            &text,
            r#"sluice_records_acknowledged_total{pipeline="quickstart",acks="leader"}"#,
        )
        .filter(|v| *v > 0.0)
        .map(|_| text.clone())
        .ok_or(text)
    });
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (make tools: Debian's prometheus package)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // It also warns (exit 0) about style problems; there must be none.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "promtool lint"
    );
    assert!(run.terminate().success());
}

/// Prometheus from Debian's package, run as a child of the test.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `127.0.0.1:target` every second.
    fn start(target: u16) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sluice\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus is installed (make tools: Debian's prometheus package)");
        let p = Prometheus {
            child,
            port,
            _dir: dir,
        };
        poll(WAIT, "Prometheus ready", || {
            match http_get(port, "/-/ready") {
                (200, _) => Ok(()),
                (code, body) => Err(format!("{code} {body}; log: {}", p.log())),
            }
        });
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The value of an instant query with one result, if it has one.
    fn query(&self, query: &str) -> Option<f64> {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10", "-G"])
            .arg(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .arg("--data-urlencode")
            .arg(format!("query={query}"))
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        assert_eq!(v["status"], "success", "{query}: {v}");
        v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_the_records_counter_until_it_matches_what_kafka_received() {
    const COUNT: usize = 3000;
    let kafka = shared_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let brokers = format!("    brokers: {}\n", kafka.bootstrap());
    let mask = plugin("mask");
    let topic = format!("sidecar-prom-{}", std::process::id());
    pipeline_file(
        dir.path(),
        &topic,
        &format!("count: {COUNT}, rate: 300"),
        &mask,
        "    config: { field: email }\n",
        &brokers,
        "",
    );
    // A second pipeline that never ends keeps the process (and its
    // endpoint) up after the first one finished.
    let idle = format!("{topic}-idle");
    pipeline_file(
        dir.path(),
        &idle,
        "count: 0, rate: 2",
        &mask,
        "    config: { field: email }\n",
        &brokers,
        "",
    );
    let port = free_port();
    let prometheus = Prometheus::start(port);
    let run = start(dir.path(), state.path(), port);

    let series = format!(r#"sluice_records_acknowledged_total{{pipeline="{topic}",acks="all"}}"#);
    // Prometheus sees the counter rise while records flow (≈10 s at 300/s,
    // scraped every second)...
    let partial = poll(
        WAIT,
        "Prometheus's counter between 0 and the total",
        || match prometheus.query(&series) {
            Some(v) if v > 0.0 && v < COUNT as f64 => Ok(v),
            other => Err(format!("{other:?}; log: {}", prometheus.log())),
        },
    );
    // ...until it equals what Kafka's own console consumer reads (and no more
    // than that is in the topic).
    let received = kafka
        .consume_exactly(&topic, COUNT, Duration::from_secs(10))
        .unwrap()
        .len() as f64;
    let seen = poll(
        WAIT,
        "Prometheus's counter equal to Kafka's count",
        || match prometheus.query(&series) {
            Some(v) if v == received => Ok(v),
            other => Err(format!(
                "{other:?} (want {received}); log: {}",
                prometheus.log()
            )),
        },
    );
    assert_eq!(seen, COUNT as f64);
    assert!(partial < seen);
    let up = prometheus.query(r#"up{job="sluice"}"#);
    assert_eq!(up, Some(1.0));
    assert!(run.terminate().success());
}

#[test]
fn readiness_goes_503_while_the_broker_is_down_and_200_when_it_is_back() {
    let kafka = KafkaCluster::start_single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = pipeline_file(
        dir.path(),
        "broker",
        "count: 0, rate: 50",
        &plugin("passthrough"),
        "",
        &format!("    brokers: {}\n", kafka.bootstrap()),
        "",
    );
    let port = free_port();
    let run = start(&file, state.path(), port);
    wait_ready(port);

    kafka.kill(1).unwrap();
    let entry = wait_not_ready(port, "broker", "broker_unreachable");
    assert!(!entry["reason"].as_str().unwrap().is_empty(), "{entry}");

    kafka.restart(1).unwrap();
    poll(WAIT, "/readyz 200 after the broker is back", || {
        assert_eq!(http_get(port, "/healthz").0, 200, "liveness stays up");
        match http_get(port, "/readyz") {
            (200, _) => Ok(()),
            (code, body) => Err(format!("{code} {body}")),
        }
    });
    assert!(run.terminate().success());
}

#[test]
fn readiness_goes_503_while_a_plugin_is_quarantined_and_200_after_the_reload_that_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // The stage's file starts as a plugin that overruns every call.
    let stage = dir.path().join("stage.wasm");
    std::fs::copy(plugin("hostile-loop"), &stage).unwrap();
    let file = pipeline_file(
        dir.path(),
        "quarantine",
        "count: 0, rate: 50",
        &stage,
        "    limits: { max_consecutive_failures: 3 }\n",
        "",
        // dead-letter keeps the pipeline running through the quarantine.
        "errors: dead-letter\ndead_letter: { topic: quarantine-dlq }\n",
    );
    let port = free_port();
    let run = start(&file, state.path(), port);

    let entry = wait_not_ready(port, "quarantine", "quarantined");
    assert!(!entry["reason"].as_str().unwrap().is_empty(), "{entry}");
    let (_, status) = http_json(port, "/status");
    assert_eq!(status["pipelines"][0]["state"], "quarantined");

    // A good version of the file: the reload swaps it in and clears the quarantine.
    let tmp = dir.path().join("stage.tmp");
    std::fs::copy(plugin("passthrough"), &tmp).unwrap();
    std::fs::rename(&tmp, &stage).unwrap();
    poll(WAIT, "/readyz 200 after the reload", || {
        assert_eq!(http_get(port, "/healthz").0, 200, "liveness stays up");
        match http_get(port, "/readyz") {
            (200, _) => Ok(()),
            (code, body) => Err(format!("{code} {body}")),
        }
    });
    let (_, text) = http_get(port, "/metrics");
    assert_eq!(
        sample(
            &text,
            r#"sluice_pipeline_state{pipeline="quarantine",state="running"}"#
        ),
        Some(1.0),
        "{text}"
    );
    let stage = r#"pipeline="quarantine",stage="transform 1",plugin="stage.wasm""#;
    let deadlines = sample(
        &text,
        &format!(r#"sluice_plugin_failures_total{{{stage},kind="deadline"}}"#),
    );
    assert!(deadlines >= Some(1.0), "{deadlines:?}\n{text}");
    let refused = sample(
        &text,
        &format!(r#"sluice_plugin_failures_total{{{stage},kind="quarantined"}}"#),
    );
    assert!(
        refused >= Some(1.0),
        "calls refused while quarantined: {text}"
    );
    assert_eq!(
        sample(&text, &format!("sluice_plugin_quarantined{{{stage}}}")),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"sluice_reloads_total{{{stage},outcome="ok"}}"#)
        ),
        Some(1.0),
        "{text}"
    );
    let (_, status) = http_json(port, "/status");
    let p = &status["pipelines"][0];
    assert_eq!(p["last_reload"]["outcome"], "ok", "{p}");
    assert_eq!(p["plugins"][1]["quarantined"], false);
    assert_eq!(
        p["plugins"][1]["digest"], p["last_reload"]["new_digest"],
        "the running digest is the new file's"
    );
    assert!(run.terminate().success());
}

// --- the Kubernetes example -------------------------------------------------

fn manifests() -> Vec<(PathBuf, Value)> {
    let dir = root().join("examples/kubernetes");
    let mut docs = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let parsed: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", f.display()));
        for d in parsed {
            assert!(
                d["apiVersion"].is_string() && d["kind"].is_string(),
                "{}",
                f.display()
            );
            docs.push((f.clone(), d));
        }
    }
    docs
}

fn kind<'a>(docs: &'a [(PathBuf, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|(_, d)| d["kind"] == kind)
        .map(|(_, d)| d)
        .collect()
}

/// The value of `--name=V` or `--name V` in `args`.
fn flag<'a>(args: &'a [&'a str], name: &str) -> Option<&'a str> {
    let eq = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix(&eq)
            .or_else(|| (*a == name).then(|| args.get(i + 1).copied()).flatten())
    })
}

#[test]
fn the_kubernetes_manifests_parse_and_every_probe_is_one_the_binary_serves() {
    let docs = manifests();
    let deployments = kind(&docs, "Deployment");
    assert_eq!(deployments.len(), 1);
    let spec = &deployments[0]["spec"]["template"]["spec"];
    let containers = spec["containers"].as_array().unwrap();
    assert!(containers.len() >= 2, "an application container and Sluice");
    let sluice = containers.iter().find(|c| c["name"] == "sluice").unwrap();
    let args: Vec<&str> = sluice["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "run");

    // --http: every interface, so kubelet and Prometheus reach it.
    let listen: sluice::http::Listen = flag(&args, "--http").unwrap().parse().unwrap();
    let sluice::http::Listen::At(http) = listen else {
        panic!("the example must serve HTTP")
    };
    assert!(http.ip().is_unspecified(), "{http}");
    let ports = sluice["ports"].as_array().unwrap();
    let port_of = |p: &Value| -> u64 {
        match p {
            Value::Number(n) => n.as_u64().unwrap(),
            Value::String(name) => ports
                .iter()
                .find(|x| x["name"] == name.as_str())
                .unwrap_or_else(|| panic!("no container port named {name}"))["containerPort"]
                .as_u64()
                .unwrap(),
            other => panic!("bad port {other}"),
        }
    };

    // Every probe: a path the binary serves, on the port --http binds.
    let mut probes = 0;
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let get = &sluice[probe]["httpGet"];
        let path = get["path"].as_str().unwrap();
        assert!(sluice::http::PATHS.contains(&path), "{probe} {path}");
        assert_eq!(port_of(&get["port"]), u64::from(http.port()), "{probe}");
        probes += 1;
    }
    assert_eq!(probes, 3);
    assert_eq!(sluice["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(sluice["readinessProbe"]["httpGet"]["path"], "/readyz");

    // The drain fits in the pod's grace period.
    let grace: u64 = flag(&args, "--grace-secs").unwrap().parse().unwrap();
    let termination = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(termination > grace, "{termination} <= {grace}");

    // Resource requests are set.
    assert!(sluice["resources"]["requests"]["cpu"].is_string());
    assert!(sluice["resources"]["requests"]["memory"].is_string());

    // Prometheus finds /metrics on that port, by annotation and PodMonitor.
    let annotations = &deployments[0]["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(
        annotations["prometheus.io/port"].as_str().unwrap(),
        http.port().to_string()
    );
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    for monitor in kind(&docs, "PodMonitor") {
        for endpoint in monitor["spec"]["podMetricsEndpoints"].as_array().unwrap() {
            assert_eq!(endpoint["path"], "/metrics");
            assert_eq!(port_of(&endpoint["port"]), u64::from(http.port()));
        }
    }

    // Pipelines and plugins come from ConfigMaps mounted as directories
    // (subPath mounts never see ConfigMap updates, so no hot reload).
    let volumes = spec["volumes"].as_array().unwrap();
    let mounts = sluice["volumeMounts"].as_array().unwrap();
    let config_map_mount = |name: &str| -> String {
        let volume = volumes
            .iter()
            .find(|v| v["configMap"]["name"] == name)
            .unwrap_or_else(|| panic!("no volume of ConfigMap {name}"));
        let mount = mounts
            .iter()
            .find(|m| m["name"] == volume["name"])
            .unwrap_or_else(|| panic!("ConfigMap {name} is not mounted"));
        assert!(mount.get("subPath").is_none(), "{mount}");
        mount["mountPath"].as_str().unwrap().to_string()
    };
    let pipelines_dir = config_map_mount("sluice-pipelines");
    let plugins_dir = config_map_mount("sluice-plugins");
    assert_eq!(
        args[1], pipelines_dir,
        "sluice runs the pipelines' directory"
    );

    // The pipeline in the ConfigMap is a valid pipeline file whose plugins
    // are in the plugins ConfigMap the script makes.
    let config_maps = kind(&docs, "ConfigMap");
    let pipelines = config_maps
        .iter()
        .find(|c| c["metadata"]["name"] == "sluice-pipelines")
        .unwrap();
    let out = Command::new("bash")
        .arg(root().join("examples/kubernetes/plugins-configmap.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plugins_cm: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(plugins_cm["kind"], "ConfigMap");
    assert_eq!(plugins_cm["metadata"]["name"], "sluice-plugins");
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in pipelines["data"].as_object().unwrap() {
        let text = text.as_str().unwrap();
        let prefix = format!("{plugins_dir}/");
        for line in text.lines() {
            if let Some(path) = line.trim().strip_prefix("plugin: ") {
                let file = path.strip_prefix(&prefix).unwrap_or_else(|| {
                    panic!("{name}: plugin {path} is not under the plugins mount {plugins_dir}")
                });
                assert!(
                    plugins_cm["binaryData"][file].is_string(),
                    "{file} is not in the plugins ConfigMap"
                );
            }
        }
        let local = text
            .replace(
                &prefix,
                &format!("{}/", root().join("plugins/dist").display()),
            )
            .replace("${KAFKA_BROKERS}", "127.0.0.1:9092")
            // The pod's shared volume, here a directory of the test's own.
            .replace(
                "host: /var/run/app",
                &format!("host: {}", dir.path().display()),
            );
        let path = dir.path().join(name);
        std::fs::write(&path, local).unwrap();
        sluice::spec::load_file(&path)
            .unwrap_or_else(|e| panic!("{name} in the ConfigMap is not a valid pipeline: {e}"));
    }
}

#[test]
fn port_0_picks_a_free_port_and_publishes_it_as_an_event() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = sluice_run("examples/quickstart.yaml", state.path(), 3600);
    cmd.current_dir(root())
        .arg("--http")
        .arg("127.0.0.1:0")
        .env("ORDERS_COUNT", "0")
        .env("TOPIC", "sidecar-port-0")
        .env_remove("KAFKA_BROKERS");
    let mut run = Running::spawn(cmd);
    let listening = run.wait_event("http_listening", WAIT, |e| e["event"] == "http_listening");
    let address: std::net::SocketAddr = listening["address"].as_str().unwrap().parse().unwrap();
    assert_ne!(address.port(), 0, "the bound port, not the one asked for");
    wait_alive(address.port());
    let (_, status) = http_json(address.port(), "/status");
    assert_eq!(status["http"], address.to_string());
    assert!(run.terminate().success());
}
