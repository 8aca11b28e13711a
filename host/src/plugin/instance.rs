//! Running plugin instances: one Store each, rebuilt after a trap.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;

use super::batch::{Batch, HeaderEntry, RecordEntry, Span};
use super::bindings::{
    SourceBindings, Transform, WitBatch, WitCallError, WitConfigError, WitHeader, WitOutcome,
    WitPolled, WitRecord, WitSpan, WitTransformed,
};
use super::runtime::{EPOCH_TICK, HostState, Plugin, PluginPre};
use super::{Limits, PluginError};

/// What became of one input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Output records `start .. start + count` of the output batch.
    Emit {
        /// First output index.
        start: u32,
        /// How many.
        count: u32,
    },
    /// Refused for good, with the plugin's reason.
    Reject(String),
    /// Could not be handled now; may be retried.
    Retry(String),
}

/// A transform's result for one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformed {
    /// All emitted records, in input order.
    pub output: Batch,
    /// One outcome per input record.
    pub outcomes: Vec<Outcome>,
}

/// A source's result for one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled {
    /// The new records.
    pub records: Batch,
    /// Position after them, if it moved.
    pub position: Option<Vec<u8>>,
    /// No more records, ever.
    pub finished: bool,
}

fn ticks(d: std::time::Duration) -> u64 {
    (d.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64 + 1
}

fn new_store(plugin: &Plugin, limits: &Limits, label: &Arc<str>) -> Store<HostState> {
    let wasi = WasiCtxBuilder::new()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = HostState {
        wasi,
        table: ResourceTable::new(),
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .trap_on_grow_failure(true)
            .build(),
        label: label.clone(),
        log_lines: 0,
    };
    let mut store = Store::new(&plugin.inner.runtime.engine, state);
    store.limiter(|s| &mut s.limits);
    store.epoch_deadline_trap();
    store
}

fn describe_trap(e: &wasmtime::Error, limits: &Limits, timeout: std::time::Duration) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        match trap {
            wasmtime::Trap::Interrupt => {
                return format!(
                    "exceeded its {} ms time limit and was interrupted",
                    timeout.as_millis()
                );
            }
            wasmtime::Trap::StackOverflow => return "stack overflow (unbounded recursion?)".into(),
            _ => {}
        }
    }
    let text = format!("{e:#}");
    if text.contains("forcing trap when growing memory") {
        return format!(
            "exceeded its memory limit of {} MiB",
            limits.memory_bytes >> 20
        );
    }
    // The first line names the trap; the backtrace follows and is noise here.
    text.lines().take(3).collect::<Vec<_>>().join(" | ")
}

fn to_wit(batch: Batch) -> WitBatch {
    let span = |s: Span| WitSpan {
        offset: s.offset,
        len: s.len,
    };
    WitBatch {
        headers: batch
            .headers
            .iter()
            .map(|h| WitHeader {
                name: span(h.name),
                value: span(h.value),
            })
            .collect(),
        records: batch
            .records
            .iter()
            .map(|r| WitRecord {
                key: r.key.map(span),
                value: r.value.map(span),
                headers_start: r.headers_start,
                headers_len: r.headers_len,
                timestamp_ms: r.timestamp_ms,
                topic: r.topic.map(span),
                partition: r.partition,
            })
            .collect(),
        arena: batch.arena,
    }
}

fn from_wit(batch: WitBatch) -> Batch {
    let span = |s: WitSpan| Span {
        offset: s.offset,
        len: s.len,
    };
    Batch {
        headers: batch
            .headers
            .iter()
            .map(|h| HeaderEntry {
                name: span(h.name),
                value: span(h.value),
            })
            .collect(),
        records: batch
            .records
            .iter()
            .map(|r| RecordEntry {
                key: r.key.map(span),
                value: r.value.map(span),
                headers_start: r.headers_start,
                headers_len: r.headers_len,
                timestamp_ms: r.timestamp_ms,
                topic: r.topic.map(span),
                partition: r.partition,
            })
            .collect(),
        arena: batch.arena,
    }
}

fn config_error(label: &str, e: WitConfigError) -> PluginError {
    PluginError::Config {
        plugin: label.to_string(),
        key: e.key,
        message: e.message,
    }
}

fn call_error(label: &str, call: &'static str, e: WitCallError) -> PluginError {
    let (retryable, message) = match e {
        WitCallError::Retryable(m) => (true, m),
        WitCallError::Fatal(m) => (false, m),
    };
    PluginError::Call {
        plugin: label.to_string(),
        call,
        retryable,
        message,
    }
}

fn check_output(
    label: &str,
    call: &'static str,
    out: &Batch,
    limits: &Limits,
) -> Result<(), PluginError> {
    let bad = |message: String| PluginError::BadOutput {
        plugin: label.to_string(),
        call,
        message,
    };
    if out.records.len() > limits.max_output_records {
        return Err(bad(format!(
            "{} records exceed the limit of {} per call (limits.max_output_records)",
            out.records.len(),
            limits.max_output_records
        )));
    }
    if out.arena.len() > limits.max_output_bytes {
        return Err(bad(format!(
            "{} bytes exceed the limit of {} per call (limits.max_output_bytes)",
            out.arena.len(),
            limits.max_output_bytes
        )));
    }
    out.validate().map_err(|e| bad(e.to_string()))
}

struct LiveTransform {
    store: Store<HostState>,
    bindings: Transform,
}

/// A transform plugin instance with its configuration.
pub struct TransformInstance {
    plugin: Plugin,
    config: Vec<(String, String)>,
    limits: Limits,
    label: Arc<str>,
    live: Option<LiveTransform>,
    instantiations: u64,
}

impl TransformInstance {
    /// Instantiates `plugin` and opens it with `config`; a refused config is an error here.
    pub fn open(
        plugin: &Plugin,
        config: Vec<(String, String)>,
        limits: Limits,
        label: &str,
    ) -> Result<Self, PluginError> {
        let mut this = TransformInstance {
            plugin: plugin.clone(),
            config,
            limits,
            label: label.into(),
            live: None,
            instantiations: 0,
        };
        this.ensure_live()?;
        Ok(this)
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// How many Stores were created (1 + re-instantiations after traps).
    pub fn instantiations(&self) -> u64 {
        self.instantiations
    }

    fn ensure_live(&mut self) -> Result<&mut LiveTransform, PluginError> {
        if self.live.is_none() {
            let PluginPre::Transform(pre) = &self.plugin.inner.pre else {
                return Err(PluginError::BadOutput {
                    plugin: self.label.to_string(),
                    call: "open",
                    message: "not a transform".into(),
                });
            };
            let mut store = new_store(&self.plugin, &self.limits, &self.label);
            store.set_epoch_deadline(ticks(self.limits.open_timeout));
            let trap = |e: wasmtime::Error, limits: &Limits| PluginError::Trap {
                plugin: self.label.to_string(),
                call: "open",
                message: describe_trap(&e, limits, limits.open_timeout),
            };
            let bindings = pre
                .instantiate(&mut store)
                .map_err(|e| trap(e, &self.limits))?;
            self.instantiations += 1;
            bindings
                .sluice_plugin_transformer()
                .call_open(&mut store, &self.config)
                .map_err(|e| trap(e, &self.limits))?
                .map_err(|e| config_error(&self.label, e))?;
            self.live = Some(LiveTransform { store, bindings });
        }
        self.live.as_mut().ok_or_else(|| PluginError::Trap {
            plugin: self.label.to_string(),
            call: "open",
            message: "instance unavailable".into(),
        })
    }

    /// Runs one batch. The input comes back unchanged beside the result, so a
    /// failed batch can be retried, skipped or dead-lettered.
    pub fn process(&mut self, input: Batch) -> (Batch, Result<Transformed, PluginError>) {
        let n = input.len();
        let wit = to_wit(input);
        let result = self.process_wit(&wit, n);
        (from_wit(wit), result)
    }

    fn process_wit(&mut self, wit: &WitBatch, n: usize) -> Result<Transformed, PluginError> {
        let limits = self.limits.clone();
        let label = self.label.clone();
        let live = self.ensure_live()?;
        live.store.set_epoch_deadline(ticks(limits.call_timeout));
        let called = live
            .bindings
            .sluice_plugin_transformer()
            .call_process(&mut live.store, wit);
        let result = match called {
            Ok(r) => r,
            Err(e) => {
                self.live = None;
                return Err(PluginError::Trap {
                    plugin: label.to_string(),
                    call: "process",
                    message: describe_trap(&e, &limits, limits.call_timeout),
                });
            }
        };
        let WitTransformed { output, outcomes } =
            result.map_err(|e| call_error(&label, "process", e))?;
        let output = from_wit(output);
        check_output(&label, "process", &output, &limits)?;
        let bad = |message: String| PluginError::BadOutput {
            plugin: label.to_string(),
            call: "process",
            message,
        };
        if outcomes.len() != n {
            return Err(bad(format!(
                "{} outcomes for {n} input records (need exactly one per input)",
                outcomes.len()
            )));
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| match o {
                WitOutcome::Emit(e) => {
                    let end = u64::from(e.start) + u64::from(e.count);
                    if end > output.len() as u64 {
                        Err(bad(format!(
                            "emit range {}..{end} is outside the {} output records",
                            e.start,
                            output.len()
                        )))
                    } else {
                        Ok(Outcome::Emit {
                            start: e.start,
                            count: e.count,
                        })
                    }
                }
                WitOutcome::Reject(r) => Ok(Outcome::Reject(r)),
                WitOutcome::Retry(r) => Ok(Outcome::Retry(r)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Transformed { output, outcomes })
    }
}

struct LiveSource {
    store: Store<HostState>,
    bindings: SourceBindings,
}

/// A source plugin instance with its configuration.
pub struct SourceInstance {
    plugin: Plugin,
    config: Vec<(String, String)>,
    limits: Limits,
    label: Arc<str>,
    live: Option<LiveSource>,
    resume: Option<Vec<u8>>,
}

impl SourceInstance {
    /// Instantiates `plugin` and opens it at `resume` (the last acknowledged position).
    pub fn open(
        plugin: &Plugin,
        config: Vec<(String, String)>,
        resume: Option<Vec<u8>>,
        limits: Limits,
        label: &str,
    ) -> Result<Self, PluginError> {
        let mut this = SourceInstance {
            plugin: plugin.clone(),
            config,
            limits,
            label: label.into(),
            live: None,
            resume,
        };
        this.ensure_live()?;
        Ok(this)
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Sets where a re-instantiated source resumes (the last acknowledged position).
    pub fn set_resume(&mut self, position: Option<Vec<u8>>) {
        self.resume = position;
    }

    fn ensure_live(&mut self) -> Result<&mut LiveSource, PluginError> {
        if self.live.is_none() {
            let PluginPre::Source(pre) = &self.plugin.inner.pre else {
                return Err(PluginError::BadOutput {
                    plugin: self.label.to_string(),
                    call: "open",
                    message: "not a source".into(),
                });
            };
            let mut store = new_store(&self.plugin, &self.limits, &self.label);
            store.set_epoch_deadline(ticks(self.limits.open_timeout));
            let trap = |e: wasmtime::Error, limits: &Limits| PluginError::Trap {
                plugin: self.label.to_string(),
                call: "open",
                message: describe_trap(&e, limits, limits.open_timeout),
            };
            let bindings = pre
                .instantiate(&mut store)
                .map_err(|e| trap(e, &self.limits))?;
            bindings
                .sluice_plugin_source_plugin()
                .call_open(&mut store, &self.config, self.resume.as_ref())
                .map_err(|e| trap(e, &self.limits))?
                .map_err(|e| config_error(&self.label, e))?;
            self.live = Some(LiveSource { store, bindings });
        }
        self.live.as_mut().ok_or_else(|| PluginError::Trap {
            plugin: self.label.to_string(),
            call: "open",
            message: "instance unavailable".into(),
        })
    }

    /// Asks for up to `max` records.
    pub fn poll(&mut self, max: u32) -> Result<Polled, PluginError> {
        let limits = self.limits.clone();
        let label = self.label.clone();
        let live = self.ensure_live()?;
        live.store.set_epoch_deadline(ticks(limits.call_timeout));
        let called = live
            .bindings
            .sluice_plugin_source_plugin()
            .call_poll(&mut live.store, max);
        let result = match called {
            Ok(r) => r,
            Err(e) => {
                self.live = None;
                return Err(PluginError::Trap {
                    plugin: label.to_string(),
                    call: "poll",
                    message: describe_trap(&e, &limits, limits.call_timeout),
                });
            }
        };
        let WitPolled {
            records,
            position,
            finished,
        } = result.map_err(|e| call_error(&label, "poll", e))?;
        let records = from_wit(records);
        check_output(&label, "poll", &records, &limits)?;
        Ok(Polled {
            records,
            position,
            finished,
        })
    }
}
