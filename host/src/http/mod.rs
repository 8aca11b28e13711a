//! The sidecar's HTTP endpoints, served by axum on the host's tokio runtime
//! (never on a pipeline's data-path thread):
//!
//! | path       | answers                                                                 |
//! |------------|-------------------------------------------------------------------------|
//! | `/healthz` | 200 while the supervisor loop turns ([`Heartbeat`]), else 503           |
//! | `/readyz`  | 200 when every pipeline runs and reaches its brokers, else 503 + why    |
//! | `/metrics` | Prometheus text format (`prometheus-client`)                            |
//! | `/status`  | JSON per pipeline: state, plugins, acks, guarantee, position, errors    |
//!
//! `sluice run --http ADDR` picks the address (default [`DEFAULT_ADDR`],
//! loopback; `off` disables it; port 0 picks a free port, published as
//! [`Event::HttpListening`]).

use std::net::SocketAddr;
use std::str::FromStr;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, Events};
use crate::telemetry::{Heartbeat, Telemetry};

/// Where the endpoints listen unless `--http` says otherwise: loopback only,
/// so nothing outside the machine (or the pod) sees them by accident.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// Every path the server answers (the Kubernetes manifests' probes must use
/// these; a test checks).
pub const PATHS: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/status"];

/// The `--http` setting: an address, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// No HTTP server.
    Off,
    /// Listen on this address (port 0: any free port).
    At(SocketAddr),
}

/// A `--http` value that is neither `off` nor `IP:PORT`.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not an address to listen on: give IP:PORT (e.g. 127.0.0.1:9464, 0.0.0.0:9464, [::1]:9464, or port 0 for any free port) or `off`"
)]
pub struct BadListen(String);

impl FromStr for Listen {
    type Err = BadListen;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Listen::Off);
        }
        s.parse().map(Listen::At).map_err(|_| BadListen(s.into()))
    }
}

impl Default for Listen {
    fn default() -> Self {
        // The constant is a valid address; a test checks.
        DEFAULT_ADDR.parse().map(Listen::At).unwrap_or(Listen::Off)
    }
}

#[derive(Clone)]
struct AppState {
    telemetry: Telemetry,
    heartbeat: Heartbeat,
}

/// A running HTTP server. Dropping it leaves the server running until the
/// runtime ends; [`HttpServer::shutdown`] stops it.
#[derive(Debug)]
pub struct HttpServer {
    address: SocketAddr,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// The address it listens on (the real port when asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections and waits for requests in progress.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

/// Everything `sluice run` needs for its operational surface, in one call:
/// subscribes the metrics registry and status board to `events`, binds
/// `listen`, serves the endpoints on the current tokio runtime, and
/// publishes [`Event::HttpListening`]. With [`Listen::Off`] it still
/// returns the telemetry (nothing subscribed, no server), so the caller's
/// code does not branch.
pub async fn start(
    listen: Listen,
    events: &Events,
    heartbeat: &Heartbeat,
) -> anyhow::Result<(Telemetry, Option<HttpServer>)> {
    let telemetry = Telemetry::new();
    let Listen::At(addr) = listen else {
        return Ok((telemetry, None));
    };
    telemetry.subscribe(events);
    let server = serve(addr, telemetry.clone(), heartbeat.clone()).await?;
    events.publish(Event::HttpListening {
        address: server.address().to_string(),
    });
    Ok((telemetry, Some(server)))
}

/// Binds `addr` and serves the endpoints from `telemetry` and `heartbeat`.
pub async fn serve(
    addr: SocketAddr,
    telemetry: Telemetry,
    heartbeat: Heartbeat,
) -> anyhow::Result<HttpServer> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr} for the HTTP endpoints (--http): pick a free port, or `--http off`"
        )
    })?;
    let address = listener
        .local_addr()
        .context("reading the HTTP listener's address")?;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let app = router(AppState {
        telemetry,
        heartbeat,
    });
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    tracing::info!(address = %address, "HTTP endpoints listening");
    Ok(HttpServer {
        address,
        cancel,
        task,
    })
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(state)
}

fn json<T: Serialize>(code: StatusCode, body: &T) -> Response {
    match serde_json::to_vec_pretty(body) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialise the answer: {e}\n"),
        )
            .into_response(),
    }
}

/// `/healthz`'s body.
#[derive(Debug, Serialize)]
struct Health {
    /// `ok` or `stale`.
    status: &'static str,
    /// Seconds since the supervisor loop last turned.
    supervisor_heartbeat_age_seconds: f64,
    /// Older than this is not alive.
    stale_after_seconds: f64,
}

async fn healthz(State(s): State<AppState>) -> Response {
    let alive = s.heartbeat.is_alive();
    let body = Health {
        status: if alive { "ok" } else { "stale" },
        supervisor_heartbeat_age_seconds: s.heartbeat.age().as_secs_f64(),
        stale_after_seconds: s.heartbeat.stale_after().as_secs_f64(),
    };
    let code = if alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(code, &body)
}

async fn readyz(State(s): State<AppState>) -> Response {
    let verdict = s.telemetry.status.readiness();
    let code = if verdict.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(code, &verdict)
}

async fn metrics(State(s): State<AppState>) -> Response {
    match s.telemetry.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                crate::telemetry::Metrics::CONTENT_TYPE,
            )],
            text,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics\n",
        )
            .into_response(),
    }
}

async fn status(State(s): State<AppState>) -> Response {
    json(StatusCode::OK, &s.telemetry.status.report())
}

#[cfg(test)]
mod tests;
