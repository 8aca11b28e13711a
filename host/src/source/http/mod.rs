//! HTTP ingest: a pipeline source that takes records over HTTP and answers
//! each request once Kafka has acknowledged its records under the
//! pipeline's acks policy (see [`response`] for every status code).
//!
//! The listener belongs to the pipeline, not to one run of its flow: an
//! [`Endpoint`] is bound once (by [`IngestRegistry::attach`], on the tokio
//! runtime) and outlives flow rebuilds (a producer rebuilt after a fatal
//! error, a changed transform); while no flow is attached, or the pipeline
//! is not `running` (starting, broker unreachable, quarantined), requests
//! get 503. It goes away when its pipeline is removed.
//!
//! A request's records form one batch. The handler parses and checks the
//! body on the runtime, hands the batch to the flow through a bounded queue
//! (full: 429), and waits for the batch's [`Completion`], which the flow
//! calls once every record is resolved — with each record's partition and
//! offset, or why it was rejected — or when the pipeline stops first.
//!
//! Limits: bodies over `max_body_kb` (413), records over `max_record_kb`
//! (rejected by line), headers and body each within `read_timeout_ms`
//! (408, or the connection closed for slow headers), at most
//! `max_connections` connections (more are answered 503 and closed), a
//! bearer token compared in constant time (401). Every answer is one
//! [`Event::IngestRequest`], which the telemetry counts.

mod idempotency;
mod parse;
pub mod response;
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

pub use parse::{BodyError, LineError, LineProblem, Parsed, parse};

use crate::events::{Event, Events, PipelineState, Subscriber};
use crate::flow::{Completion, Polled, Source, Undecodable};
use crate::plugin::{Plugin, PluginError};
use crate::record::Batch;
use crate::spec::{Acks, ErrorPolicy, HttpSourceSpec, IngestFormat};

/// How long a poll waits for a request before it returns empty.
const POLL_WAIT: Duration = Duration::from_millis(20);

/// What the flow needs to know about the pipeline the endpoint feeds.
#[derive(Debug, Clone)]
pub struct PipelineInfo {
    /// Pipeline name.
    pub name: String,
    /// Its acks policy (200 or 202).
    pub acks: Acks,
    /// Its error policy (what happens to rejected lines).
    pub policy: ErrorPolicy,
}

/// The endpoint's settings, replaced whole when the pipeline is rebuilt.
#[derive(Debug)]
struct Settings {
    pipeline: PipelineInfo,
    path: String,
    format: IngestFormat,
    max_body: usize,
    max_record: usize,
    /// SHA-256 of the expected bearer token.
    token: Option<[u8; 32]>,
    read_timeout: Duration,
    response_timeout: Duration,
    idempotency_window: Duration,
}

/// A batch on its way from a request to the flow.
struct Request {
    records: Batch,
    undecodable: Vec<Undecodable>,
    completion: Completion,
}

/// One pipeline's listener and what it feeds.
pub struct Endpoint {
    name: Arc<str>,
    address: SocketAddr,
    max_connections: u32,
    settings: RwLock<Arc<Settings>>,
    /// The attached flow's queue, with its generation.
    feed: Mutex<Option<(u64, mpsc::SyncSender<Request>)>>,
    generations: AtomicU64,
    /// The pipeline's last state is `running`.
    running: AtomicBool,
    keys: Mutex<idempotency::Keys>,
    events: Events,
    cancel: CancellationToken,
}

impl Endpoint {
    fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn feed(&self) -> Option<mpsc::SyncSender<Request>> {
        self.feed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, tx)| tx.clone())
    }

    fn detach(&self, generation: u64) {
        let mut feed = self.feed.lock().unwrap_or_else(|p| p.into_inner());
        if feed.as_ref().is_some_and(|(g, _)| *g == generation) {
            *feed = None;
        }
    }

    /// The bound address (the real port when asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

/// The pipelines' HTTP endpoints, kept across flow rebuilds.
pub struct IngestRegistry {
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
}

impl std::fmt::Debug for IngestRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestRegistry")
    }
}

fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

fn settings_of(spec: &HttpSourceSpec, pipeline: PipelineInfo) -> anyhow::Result<Settings> {
    let token = match &spec.auth_token_env {
        None => None,
        Some(var) => {
            let value = std::env::var(var).unwrap_or_default();
            if value.trim().is_empty() {
                anyhow::bail!(
                    "pipeline `{}`: `source.http.auth_token_env` names `{var}`, which is unset or empty: set it to the bearer token clients must send, or remove `auth_token_env`",
                    pipeline.name
                );
            }
            Some(token_hash(value.trim()))
        }
    };
    Ok(Settings {
        path: spec.path.clone(),
        format: spec.format,
        max_body: spec.max_body_bytes(),
        max_record: spec.max_record_bytes(),
        token,
        read_timeout: Duration::from_millis(spec.read_timeout_ms.unwrap_or(10_000)),
        response_timeout: Duration::from_millis(spec.response_timeout_ms.unwrap_or(30_000)),
        idempotency_window: Duration::from_secs(spec.idempotency_window_secs.unwrap_or(600)),
        pipeline,
    })
}

impl IngestRegistry {
    /// A registry that follows `events` (pipeline states, removals).
    pub fn new(events: &Events) -> Arc<Self> {
        let registry = Arc::new(IngestRegistry {
            endpoints: Mutex::default(),
        });
        events.subscribe(registry.clone());
        registry
    }

    fn get(&self, pipeline: &str) -> Option<Arc<Endpoint>> {
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(pipeline)
            .cloned()
    }

    /// The source for a new run of `pipeline`'s flow: binds its endpoint on
    /// first use (or when `listen`/`max_connections` changed), else keeps
    /// it and takes the new settings. Call on the tokio runtime (a blocking
    /// thread of it is fine).
    pub fn attach(
        &self,
        spec: &HttpSourceSpec,
        pipeline: PipelineInfo,
        events: &Events,
    ) -> anyhow::Result<HttpSource> {
        let name = pipeline.name.clone();
        let settings = Arc::new(settings_of(spec, pipeline)?);
        let wanted = spec
            .address()
            .map_err(|e| anyhow::anyhow!("pipeline `{name}`: source.http: {e}"))?;
        let max_connections = spec.max_connections.unwrap_or(256);
        let existing = self.get(&name).filter(|e| {
            (wanted.port() == 0 || e.address == wanted)
                && e.address.ip() == wanted.ip()
                && e.max_connections == max_connections
        });
        let endpoint = match existing {
            Some(e) => {
                *e.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
                e
            }
            None => {
                if let Some(old) = self.get(&name) {
                    old.cancel.cancel();
                }
                let e = bind(&name, wanted, max_connections, settings, events)?;
                self.endpoints
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.clone(), e.clone());
                e
            }
        };
        let queue = spec.max_pending_requests.unwrap_or(64) as usize;
        let (tx, rx) = mpsc::sync_channel(queue);
        let generation = endpoint.generations.fetch_add(1, Ordering::Relaxed) + 1;
        *endpoint.feed.lock().unwrap_or_else(|p| p.into_inner()) = Some((generation, tx));
        Ok(HttpSource {
            feed: rx,
            endpoint,
            generation,
        })
    }

    /// The bound address of `pipeline`'s endpoint.
    pub fn address(&self, pipeline: &str) -> Option<SocketAddr> {
        self.get(pipeline).map(|e| e.address)
    }
}

impl Subscriber for IngestRegistry {
    fn on_event(&self, event: &Event) {
        match event {
            Event::PipelineState {
                pipeline, state, ..
            } => {
                if let Some(e) = self.get(pipeline) {
                    e.running
                        .store(*state == PipelineState::Running, Ordering::Relaxed);
                }
            }
            Event::PipelineStopped { pipeline, .. } => {
                if let Some(e) = self.get(pipeline) {
                    e.running.store(false, Ordering::Relaxed);
                }
            }
            Event::PipelineRemoved { pipeline, .. } => {
                let removed = self
                    .endpoints
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(pipeline);
                if let Some(e) = removed {
                    e.cancel.cancel();
                }
            }
            _ => {}
        }
    }
}

fn bind(
    name: &str,
    address: SocketAddr,
    max_connections: u32,
    settings: Arc<Settings>,
    events: &Events,
) -> anyhow::Result<Arc<Endpoint>> {
    let runtime = tokio::runtime::Handle::try_current().context(
        "the HTTP ingest source needs the tokio runtime (a bug: build it from `sluice run`)",
    )?;
    let listener = std::net::TcpListener::bind(address).with_context(|| {
        format!(
            "pipeline `{name}`: cannot listen on {address} for `source.http`: pick a free port (or port 0), or stop what holds it"
        )
    })?;
    listener
        .set_nonblocking(true)
        .context("setting the ingest listener non-blocking")?;
    let bound = listener
        .local_addr()
        .context("reading the ingest listener's address")?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener).context("registering the ingest listener")?
    };
    let path = settings.path.clone();
    if !bound.ip().is_loopback() && settings.token.is_none() {
        events.publish(Event::Warning {
            pipeline: Some(name.to_string()),
            kind: crate::events::WarningKind::Other,
            message: format!(
                "HTTP ingest listens on {bound} (not loopback) without `auth_token_env`: anyone who can reach it can write to Kafka"
            ),
        });
    }
    let endpoint = Arc::new(Endpoint {
        name: name.into(),
        address: bound,
        max_connections,
        settings: RwLock::new(settings),
        feed: Mutex::new(None),
        generations: AtomicU64::new(0),
        running: AtomicBool::new(false),
        keys: Mutex::default(),
        events: events.clone(),
        cancel: CancellationToken::new(),
    });
    runtime.spawn(server::accept_loop(listener, endpoint.clone()));
    tracing::info!(pipeline = %name, address = %bound, %path, "HTTP ingest listening");
    events.publish(Event::IngestListening {
        pipeline: name.to_string(),
        address: bound.to_string(),
        path,
    });
    Ok(endpoint)
}

/// The flow's end of an endpoint: each poll hands over one request's batch.
pub struct HttpSource {
    feed: mpsc::Receiver<Request>,
    endpoint: Arc<Endpoint>,
    generation: u64,
}

impl HttpSource {
    /// The endpoint's bound address.
    pub fn address(&self) -> SocketAddr {
        self.endpoint.address
    }
}

impl Drop for HttpSource {
    fn drop(&mut self) {
        // Requests still queued drop their completions: they are answered 503.
        self.endpoint.detach(self.generation);
    }
}

impl Source for HttpSource {
    fn label(&self) -> &str {
        "http"
    }

    fn poll(&mut self, _max: u32) -> Result<Polled, PluginError> {
        // One request is one batch, whatever `max` (bounded by max_body_kb).
        match self.feed.recv_timeout(POLL_WAIT) {
            Ok(r) => Ok(Polled {
                records: r.records,
                undecodable: r.undecodable,
                completion: Some(r.completion),
                ..Polled::default()
            }),
            Err(_) => Ok(Polled::default()),
        }
    }

    fn committed(&mut self, _position: &[u8]) -> Result<(), PluginError> {
        // Nothing upstream to acknowledge: each request was answered.
        Ok(())
    }

    fn reopen_at(&mut self, _position: Option<Vec<u8>>) {}

    fn plugin(&self) -> Option<&Plugin> {
        None
    }

    fn waits_in_poll(&self) -> bool {
        true
    }
}
