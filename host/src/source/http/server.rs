//! The endpoint's accept loop and request handler (hyper on tokio).
//!
//! Long because one request's whole life is here, in the order it happens:
//! limits checked before the body is read, the body parsed, the batch handed
//! to the flow, the answer waited for under the acks policy, then worded;
//! splitting it would scatter the status codes a reader checks together.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use subtle::ConstantTimeEq;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use super::idempotency::{Claim, MAX_KEY_BYTES, Stored};
use super::parse::{BodyError, parse};
use super::response::{self, Reply};
use super::{Endpoint, Request, Settings, token_hash};
use crate::events::Event;
use crate::flow::{Completion, Undecodable};
use crate::record::OwnedRecord;
use crate::spec::ErrorPolicy;

/// Accepts connections until the endpoint is cancelled; at most
/// `max_connections` are served at once, the others answered 503.
pub(super) async fn accept_loop(listener: tokio::net::TcpListener, endpoint: Arc<Endpoint>) {
    let permits = Arc::new(Semaphore::new(endpoint.max_connections as usize));
    loop {
        let accepted = tokio::select! {
            () = endpoint.cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait instead of spinning.
                tracing::warn!(pipeline = %endpoint.name, error = %e, "HTTP ingest cannot accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let endpoint = endpoint.clone();
                tokio::spawn(async move {
                    serve(stream, endpoint).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(refuse(stream, endpoint.clone()));
            }
        }
    }
}

fn publish(endpoint: &Endpoint, reply: &Reply, started: Instant) {
    let mut rejected: Vec<(String, u64)> = Vec::new();
    for r in &reply.body.rejected {
        match rejected.iter_mut().find(|(k, _)| k == r.kind) {
            Some((_, n)) => *n += 1,
            None => rejected.push((r.kind.to_string(), 1)),
        }
    }
    endpoint.events.publish(Event::IngestRequest {
        pipeline: endpoint.name.clone(),
        status: reply.code,
        reason: reply.reason.map(str::to_string),
        accepted: reply.body.accepted,
        rejected,
        seconds: started.elapsed().as_secs_f64(),
    });
}

/// Answers a connection over the cap with 503 and closes it.
async fn refuse(mut stream: tokio::net::TcpStream, endpoint: Arc<Endpoint>) {
    let started = Instant::now();
    let reply = Reply::error(
        &endpoint.name,
        503,
        "too_many_connections",
        format!(
            "more than {} connections are open (max_connections); retry shortly",
            endpoint.max_connections
        ),
    );
    let body = serde_json::to_vec(&reply.body).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len() + 1
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.write_all(b"\n").await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
    publish(&endpoint, &reply, started);
}

async fn serve(stream: tokio::net::TcpStream, endpoint: Arc<Endpoint>) {
    let read_timeout = endpoint.settings().read_timeout;
    let handler = endpoint.clone();
    let service = service_fn(move |req| {
        let endpoint = handler.clone();
        async move { Ok::<_, Infallible>(handle(endpoint, req).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let started = Instant::now();
    let result = tokio::select! {
        r = connection.as_mut() => r,
        () = endpoint.cancel.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result
        && e.is_timeout()
    {
        let reply = Reply::error(
            &endpoint.name,
            408,
            "read_timeout",
            "the request headers did not arrive within read_timeout_ms".into(),
        );
        publish(&endpoint, &reply, started);
    }
}

fn respond(reply: &Reply, replayed: bool) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(&reply.body).unwrap_or_default();
    body.push(b'\n');
    encode(reply.code, &body, reply.retry_after, replayed)
}

fn encode(
    code: u16,
    body: &[u8],
    retry_after: Option<u32>,
    replayed: bool,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(body)));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(s) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    match code {
        401 => {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        405 => {
            h.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        _ => {}
    }
    if replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    r
}

async fn handle(endpoint: Arc<Endpoint>, req: HttpRequest<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let settings = endpoint.settings();
    let (reply, replayed) = match process(&endpoint, &settings, req).await {
        Handled::Reply(r) => (r, false),
        Handled::Replay(stored) => {
            // The first answer was counted when it was made.
            return encode(stored.status, &stored.body, None, true);
        }
    };
    publish(&endpoint, &reply, started);
    respond(&reply, replayed)
}

enum Handled {
    Reply(Reply),
    Replay(Stored),
}

fn stored(reply: &Reply) -> Stored {
    let mut body = serde_json::to_vec(&reply.body).unwrap_or_default();
    body.push(b'\n');
    Stored {
        status: reply.code,
        body,
    }
}

/// Holds an `Idempotency-Key` while its request runs; forgets it unless
/// told what to keep.
struct KeyGuard<'a> {
    endpoint: &'a Endpoint,
    key: Option<String>,
}

impl KeyGuard<'_> {
    fn done(mut self, reply: &Reply) {
        if let Some(key) = self.key.take() {
            let mut keys = self.endpoint.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.done(&key, stored(reply), Instant::now());
        }
    }

    /// Keeps the key in flight past this handler (the pipeline still has the batch).
    fn keep(mut self) -> Option<String> {
        self.key.take()
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.endpoint
                .keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .release(&key);
        }
    }
}

async fn process(endpoint: &Arc<Endpoint>, s: &Settings, req: HttpRequest<Incoming>) -> Handled {
    let name = s.pipeline.name.as_str();
    let error =
        |code, reason, message: String| Handled::Reply(Reply::error(name, code, reason, message));
    if req.uri().path() != s.path {
        return error(
            404,
            "not_found",
            format!("no such path; POST records to {}", s.path),
        );
    }
    if req.method() != Method::POST {
        return error(
            405,
            "method",
            format!("use POST to send records to {}", s.path),
        );
    }
    if let Some(expected) = &s.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| token_hash(t.trim()));
        if !given.is_some_and(|g| bool::from(g.ct_eq(expected))) {
            return error(
                401,
                "unauthorized",
                "send the pipeline's token as `Authorization: Bearer <token>`".into(),
            );
        }
    }
    let Some(feed) = endpoint
        .feed()
        .filter(|_| endpoint.running.load(Ordering::Relaxed))
    else {
        return error(
            503,
            "not_ready",
            "the pipeline is not running (starting, broker unreachable, quarantined or stopping); retry shortly".into(),
        );
    };
    let too_large = || {
        error(
            413,
            "body_too_large",
            format!(
                "the body is over {} KiB (max_body_kb); send fewer records per request",
                s.max_body >> 10
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > s.max_body as u64) {
        return too_large();
    }
    let mut guard = KeyGuard {
        endpoint,
        key: None,
    };
    if let Some(key) = req.headers().get("idempotency-key")
        && !s.idempotency_window.is_zero()
    {
        let Some(key) = key
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_BYTES)
        else {
            return error(
                400,
                "bad_idempotency_key",
                format!("`Idempotency-Key` must be 1 to {MAX_KEY_BYTES} visible ASCII characters"),
            );
        };
        let claim = endpoint
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .claim(key, Instant::now(), s.idempotency_window);
        match claim {
            Claim::Fresh => guard.key = Some(key.to_string()),
            Claim::InFlight => {
                return error(
                    409,
                    "conflict",
                    "a request with this Idempotency-Key is still being processed; retry it later for its answer".into(),
                );
            }
            Claim::Replay(stored) => return Handled::Replay(stored),
        }
    }
    let body = Limited::new(req.into_body(), s.max_body).collect();
    let bytes = match tokio::time::timeout(s.read_timeout, body).await {
        Err(_) => {
            return error(
                408,
                "read_timeout",
                format!(
                    "the body did not arrive within {} ms (read_timeout_ms)",
                    s.read_timeout.as_millis()
                ),
            );
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(e)) => {
            return error(
                400,
                "malformed_body",
                format!("the body could not be read: {e}"),
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let parsed = match parse(s.format, &bytes, s.max_record) {
        Ok(p) => p,
        Err(e) => {
            let (code, reason) = match e {
                BodyError::Empty => (400, "empty_body"),
                BodyError::TooBig(_) => (413, "body_too_large"),
                _ => (400, "malformed_body"),
            };
            let reply = Reply::error(name, code, reason, e.to_string());
            guard.done(&reply);
            return Handled::Reply(reply);
        }
    };
    if !parsed.rejected.is_empty()
        && (parsed.records.is_empty() || s.pipeline.policy == ErrorPolicy::Fail)
    {
        let mut reply = Reply::error(
            name,
            400,
            "rejected_records",
            if parsed.records.is_empty() {
                "no line is a valid record; nothing was produced".into()
            } else {
                "some lines are not valid records, and the pipeline's `errors: fail` takes all or nothing: nothing was produced".into()
            },
        );
        reply.body.status = "rejected";
        reply.body.records = (parsed.lines.len() + parsed.rejected.len()) as u64;
        reply.body.rejected = response::request_rejects(&parsed.rejected, false);
        guard.done(&reply);
        return Handled::Reply(reply);
    }
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let undecodable = parsed
        .rejected
        .iter()
        .map(|e| Undecodable {
            record: OwnedRecord {
                value: Some(e.bytes.clone()),
                ..OwnedRecord::default()
            },
            reason: format!("request line {}: {}", e.line, e.error),
        })
        .collect();
    let request = Request {
        records: parsed.records,
        undecodable,
        completion: Completion::new(move |outcome| {
            let _ = tx.send(outcome);
        }),
    };
    match feed.try_send(request) {
        Ok(()) => {}
        Err(std::sync::mpsc::TrySendError::Full(_)) => {
            return error(
                429,
                "back_pressure",
                "the pipeline is behind (its queue of requests is full); retry after the Retry-After delay".into(),
            );
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
            return error(
                503,
                "not_ready",
                "the pipeline stopped; retry shortly".into(),
            );
        }
    }
    let lines = parsed.lines;
    let rejected = parsed.rejected;
    let build = |outcome| {
        response::resolved(response::Resolved {
            pipeline: name,
            acks: s.pipeline.acks,
            policy: s.pipeline.policy,
            lines: &lines,
            rejected: &rejected,
            outcome,
        })
    };
    match tokio::time::timeout(s.response_timeout, &mut rx).await {
        Ok(Ok(outcome)) => {
            let reply = build(outcome);
            if reply.reason != Some("stopped") {
                guard.done(&reply);
            }
            Handled::Reply(reply)
        }
        Ok(Err(_)) => error(
            503,
            "stopped",
            "the pipeline stopped before answering; retry shortly".into(),
        ),
        Err(_) => {
            // The batch is still in the pipeline: keep its key in flight
            // until it resolves, so a retry cannot produce a second copy.
            if let Some(key) = guard.keep() {
                let endpoint = endpoint.clone();
                let settings = endpoint.settings();
                tokio::spawn(async move {
                    let outcome = rx.await.ok();
                    let mut keys = endpoint.keys.lock().unwrap_or_else(|p| p.into_inner());
                    match outcome {
                        Some(o) if matches!(o.end, crate::flow::BatchEnd::Resolved) => {
                            let reply = response::resolved(response::Resolved {
                                pipeline: &settings.pipeline.name,
                                acks: settings.pipeline.acks,
                                policy: settings.pipeline.policy,
                                lines: &lines,
                                rejected: &rejected,
                                outcome: o,
                            });
                            keys.done(&key, stored(&reply), Instant::now());
                        }
                        _ => keys.release(&key),
                    }
                });
            }
            error(
                504,
                "timeout",
                format!(
                    "Kafka did not acknowledge the records within {} ms (response_timeout_ms); they may still be delivered: retry with the same Idempotency-Key to learn the outcome without a second copy",
                    s.response_timeout.as_millis()
                ),
            )
        }
    }
}
