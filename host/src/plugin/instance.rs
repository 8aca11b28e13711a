//! Running plugin instances: one Store each, with the call's deadline, fuel
//! and output caps applied; a Store that trapped or broke a limit is thrown
//! away and rebuilt on next use, and an instance that keeps failing is
//! quarantined.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::ResourceTable;

use super::bindings::{
    SourceBindings, Transform, WitBatch, WitCallError, WitConfigError, WitFailureKind, WitPolled,
    WitTransformed,
};
use super::grants::{self, StderrTail};
use super::guard::BlockedPastDeadline;
use super::limiter::{Budget, LimitExceeded};
use super::runtime::{EPOCH_TICK, Flavor, HostState, Plugin, PluginPre};
use super::{Limits, PluginError, PluginKind};
use crate::record::{Batch, BatchError, Caps, Field, Problem};

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

/// Epoch ticks for a deadline: the call is stopped between `d` and `d` plus one tick.
fn ticks(d: Duration) -> u64 {
    (d.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64 + 1
}

/// CPU time used by the current thread so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or_default(),
        u32::try_from(t.tv_nsec).unwrap_or_default(),
    )
}

/// How old (in wall-clock time) a sample of the thread's CPU clock may be to
/// stand in for the CPU time at the start of a call.
///
/// Reading a thread's CPU clock is a system call (≈ 0.7 µs here, as long as a
/// small batch takes to cross the boundary), so calls that follow each other
/// closely share one reading. A call then counts at most this much CPU time
/// it did not use (CPU time cannot run faster than wall-clock time), so it is
/// stopped up to 1 ms early: 79 ms instead of 80 ms with the default deadline.
const CPU_SAMPLE_MAX_AGE: Duration = Duration::from_millis(1);

thread_local! {
    /// The last reading of this thread's CPU clock and when it was taken.
    static CPU_SAMPLE: std::cell::Cell<Option<(Duration, Instant)>> =
        const { std::cell::Cell::new(None) };
}

/// The thread's CPU time now, or at most [`CPU_SAMPLE_MAX_AGE`] before `now`.
fn thread_cpu_at_most_stale(now: Instant) -> Duration {
    CPU_SAMPLE.with(|sample| match sample.get() {
        Some((cpu, at)) if now.saturating_duration_since(at) < CPU_SAMPLE_MAX_AGE => cpu,
        _ => {
            let cpu = thread_cpu();
            sample.set(Some((cpu, now)));
            cpu
        }
    })
}

/// How much wall-clock time a call may take, as a multiple of its CPU budget,
/// before it is stopped anyway (a thread starved of CPU by a busy host).
const WALL_CLOCK_FACTOR: u32 = 4;

/// The CPU budget of the running call.
///
/// Deadlines count the CPU time of the calling thread, not wall-clock time,
/// so a healthy plugin is not failed because other pipelines kept the cores
/// busy. The epoch fires first when the budget has passed in wall-clock time
/// (CPU time cannot be more); the callback then checks CPU time and either
/// interrupts or sets the next check for when the rest could be used up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallClock {
    cpu_start: Duration,
    budget: Duration,
    wall_start: Instant,
}

impl CallClock {
    fn start(budget: Duration, now: Instant) -> Self {
        CallClock {
            cpu_start: thread_cpu_at_most_stale(now),
            budget,
            wall_start: now,
        }
    }

    /// What to do when the epoch deadline is reached.
    fn on_deadline(&self) -> wasmtime::Result<wasmtime::UpdateDeadline> {
        let used = thread_cpu().saturating_sub(self.cpu_start);
        if used >= self.budget {
            return Ok(wasmtime::UpdateDeadline::Interrupt);
        }
        let wall_cap = self.budget.saturating_mul(WALL_CLOCK_FACTOR);
        if self.wall_start.elapsed() >= wall_cap {
            return Err(wasmtime::Error::new(WallClockCap(wall_cap)));
        }
        let left = self.budget - used;
        let next = left.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1);
        Ok(wasmtime::UpdateDeadline::Continue(
            u64::try_from(next).unwrap_or(u64::MAX),
        ))
    }
}

impl Default for CallClock {
    fn default() -> Self {
        CallClock {
            cpu_start: Duration::ZERO,
            budget: Duration::ZERO,
            wall_start: Instant::now(),
        }
    }
}

/// A call that was starved of CPU for so long that it ran out of wall-clock time.
#[derive(Debug, thiserror::Error)]
#[error("ran for {} ms of wall-clock time without using its CPU time", .0.as_millis())]
struct WallClockCap(Duration);

/// Which call is running, for deadlines and error messages.
#[derive(Clone, Copy)]
struct Call {
    name: &'static str,
    timeout: Duration,
    /// The `limits.*` key of `timeout`.
    timeout_key: &'static str,
}

impl Call {
    fn open(limits: &Limits) -> Self {
        Call {
            name: "open",
            timeout: limits.open_timeout,
            timeout_key: "limits.open_timeout_ms",
        }
    }

    fn data(name: &'static str, limits: &Limits, records: usize) -> Self {
        Call {
            name,
            timeout: limits.call_deadline(records),
            timeout_key: "limits.call_timeout_ms",
        }
    }

    /// Sets the Store's deadline (and fuel) for this call.
    fn arm(self, store: &mut Store<HostState>, fuel: Option<u64>) {
        let state = store.data_mut();
        let now = Instant::now();
        state.clock = CallClock::start(self.timeout, now);
        state.deadline = now + self.timeout;
        store.set_epoch_deadline(ticks(self.timeout));
        if let Some(fuel) = fuel {
            // Only fails on an engine without fuel, which `flavor` rules out.
            let _ = store.set_fuel(fuel);
        }
    }
}

fn new_store(
    flavor: &Flavor,
    limits: &Limits,
    label: &Arc<str>,
) -> Result<Store<HostState>, PluginError> {
    let stderr = StderrTail::default();
    let wasi = grants::wasi_ctx(&limits.grants, label, &stderr)?;
    let state = HostState {
        wasi,
        table: ResourceTable::new(),
        limits: Budget::new(limits.memory_bytes),
        label: label.clone(),
        log_lines: 0,
        deadline: Instant::now(),
        lookup_names: grants::lookup_names(&limits.grants),
        stderr,
        clock: CallClock::default(),
    };
    let mut store = Store::new(&flavor.engine, state);
    store.limiter(|s| &mut s.limits);
    store.epoch_deadline_callback(|store| store.data().clock.on_deadline());
    Ok(store)
}

/// Most of a plugin's stderr quoted in an error.
const STDERR_IN_ERROR: usize = 400;

/// Says what stopped a call, naming the limit (and its `limits.*` key) when
/// one did, followed by the end of what the plugin wrote to stderr.
fn describe_trap(e: &wasmtime::Error, limits: &Limits, call: Call, stderr: &StderrTail) -> String {
    let deadline = || {
        format!(
            "exceeded its {} deadline of {} ms ({})",
            call.name,
            call.timeout.as_millis(),
            call.timeout_key
        )
    };
    let mut text = if let Some(limit) = e.downcast_ref::<LimitExceeded>() {
        limit.to_string()
    } else if let Some(blocked) = e.downcast_ref::<BlockedPastDeadline>() {
        format!("{} while blocked in `{}`", deadline(), blocked.0)
    } else if let Some(cap) = e.downcast_ref::<WallClockCap>() {
        format!(
            "{}: it {cap} ({}× the deadline; is the host overloaded?)",
            deadline(),
            WALL_CLOCK_FACTOR
        )
    } else if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        format!("called exit({})", exit.0)
    } else {
        match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => format!("{} and was interrupted", deadline()),
            Some(wasmtime::Trap::OutOfFuel) => format!(
                "used all {} units of its fuel (limits.fuel)",
                limits.fuel.unwrap_or_default()
            ),
            Some(wasmtime::Trap::StackOverflow) => {
                "overflowed its call stack (unbounded recursion?)".to_string()
            }
            // Languages with a stack in linear memory (Rust, C) overflow it
            // into an address below zero, which wraps around.
            Some(wasmtime::Trap::MemoryOutOfBounds) => {
                "accessed memory out of bounds (a bug in the plugin, or its stack overflowed: unbounded recursion?)".to_string()
            }
            Some(trap) => trap.to_string(),
            None => {
                // The first lines name the error; a backtrace after them is noise here.
                format!("{e:#}").lines().take(3).collect::<Vec<_>>().join(" | ")
            }
        }
    };
    let said = stderr
        .text()
        .lines()
        .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect::<Vec<_>>()
        .join("\n");
    if !said.is_empty() {
        let start = said
            .char_indices()
            .rev()
            .nth(STDERR_IN_ERROR)
            .map_or(0, |(i, _)| i);
        text.push_str(&format!("; stderr: {}", said[start..].replace('\n', " | ")));
    }
    text
}

/// Runs `f` where wasmtime-wasi can block: it drives its own Tokio runtime
/// with `block_on`, which panics on a thread that is already running one (such
/// as the supervisor opening plugins). Such calls move to a scoped thread.
fn off_async_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Consecutive failures of one instance, and its quarantine.
#[derive(Debug, Default)]
struct Health {
    consecutive: u32,
    quarantined: Option<String>,
}

impl Health {
    /// Refuses to call a quarantined instance.
    fn check(&self, label: &str) -> Result<(), PluginError> {
        match &self.quarantined {
            None => Ok(()),
            Some(last) => Err(PluginError::Quarantined {
                plugin: label.to_string(),
                failures: self.consecutive,
                last: last.clone(),
            }),
        }
    }

    /// Counts a call's result; the failure that reaches the limit comes back
    /// as [`PluginError::Quarantined`]. A retryable error is the plugin asking
    /// for time, not failing, and does not count.
    fn record<T>(
        &mut self,
        result: Result<T, PluginError>,
        label: &str,
        limits: &Limits,
    ) -> Result<T, PluginError> {
        let e = match result {
            Ok(v) => {
                self.consecutive = 0;
                return Ok(v);
            }
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => e,
        };
        self.consecutive += 1;
        if self.consecutive < limits.max_consecutive_failures.max(1) {
            return Err(e);
        }
        let last = e.to_string();
        let last = last
            .strip_prefix(&format!("{label}: "))
            .unwrap_or(&last)
            .to_string();
        tracing::error!(plugin = label, failures = self.consecutive, error = %e, "Quarantined plugin: it will not be called again");
        self.quarantined = Some(last.clone());
        Err(PluginError::Quarantined {
            plugin: label.to_string(),
            failures: self.consecutive,
            last,
        })
    }
}

/// The host keeps batches in the contract's layout: crossing is a move.
fn to_wit(batch: Batch) -> WitBatch {
    WitBatch {
        arena: batch.arena,
        records: batch.records,
        headers: batch.headers,
    }
}

fn from_wit(batch: WitBatch) -> Batch {
    Batch {
        arena: batch.arena,
        records: batch.records,
        headers: batch.headers,
    }
}

/// A component whose exports have the contract's names but other types (built
/// against another draft of `wit/`) fails when its functions are looked up at
/// instantiation; say so plainly instead of reporting a trap.
fn stale_types(plugin: &Plugin, kind: PluginKind, e: &wasmtime::Error) -> Option<PluginError> {
    let detail = format!("{e:#}");
    detail
        .contains("type mismatch")
        .then(|| PluginError::WrongWorld {
            path: plugin.path().to_path_buf(),
            expected: kind,
            problems: vec![format!(
                "its exports have the names of `{}@{}` but other types ({detail}): it was \
             built against another draft of `wit/`; rebuild it with the current SDK or \
             language helper",
                super::world::PACKAGE,
                super::world::VERSION
            )],
        })
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

/// Checks a plugin's output against the contract and the output caps: what
/// the host would hold once the batch is copied (dead letters, owned records)
/// is bounded by `limits.max_output_records` and `limits.max_output_mb`.
fn check_output(
    label: &str,
    call: &'static str,
    out: &Batch,
    limits: &Limits,
) -> Result<(), PluginError> {
    let caps = Caps {
        max_records: limits.max_output_records,
        max_bytes: limits.max_output_bytes as u64,
    };
    out.validate_within(&caps)
        .map(|_| ())
        .map_err(|e| PluginError::BadOutput {
            plugin: label.to_string(),
            call,
            message: describe_bad_output(&e, limits),
        })
}

/// Says what is wrong with an output batch, naming the `limits.*` key when a
/// cap refused it.
fn describe_bad_output(e: &BatchError, limits: &Limits) -> String {
    let mib = limits.max_output_bytes >> 20;
    match (e.field, e.problem) {
        (Field::Records, Problem::OverRecordCap { records, max }) => format!(
            "{records} records exceed the limit of {max} per call (limits.max_output_records)"
        ),
        (
            Field::Bytes,
            Problem::OverByteCap {
                bytes,
                referenced: false,
                ..
            },
        ) => format!("{bytes} bytes exceed the limit of {mib} MiB per call (limits.max_output_mb)"),
        (
            Field::Bytes,
            Problem::OverByteCap {
                bytes,
                referenced: true,
                ..
            },
        ) => format!(
            "records 0 to {} reference at least {bytes} bytes (a span that many records share, or \
             spans that overlap, count once per record: that is what copying them takes), over \
             the limit of {mib} MiB per call (limits.max_output_mb)",
            e.record
        ),
        _ => e.to_string(),
    }
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
    health: Health,
}

impl TransformInstance {
    /// Checks `plugin`'s imports against `limits.grants`, instantiates it and
    /// opens it with `config`; a refused import or config is an error here.
    pub fn open(
        plugin: &Plugin,
        config: Vec<(String, String)>,
        limits: Limits,
        label: &str,
    ) -> Result<Self, PluginError> {
        plugin.check_grants(&limits.grants, label)?;
        let mut this = TransformInstance {
            plugin: plugin.clone(),
            config,
            limits,
            label: label.into(),
            live: None,
            instantiations: 0,
            health: Health::default(),
        };
        off_async_runtime(|| this.ensure_live().map(|_| ()))?;
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

    /// Failed calls in a row (reset by a successful one).
    pub fn consecutive_failures(&self) -> u32 {
        self.health.consecutive
    }

    /// True once the instance failed `limits.max_consecutive_failures` calls
    /// in a row: it is no longer called and every `process` returns
    /// [`PluginError::Quarantined`]. Only a new instance (a reload) clears it.
    pub fn quarantined(&self) -> bool {
        self.health.quarantined.is_some()
    }

    fn ensure_live(&mut self) -> Result<&mut LiveTransform, PluginError> {
        if self.live.is_none() {
            let (flavor, pre) = self.plugin.flavor(self.limits.fuel.is_some())?;
            let PluginPre::Transform(pre) = pre else {
                return Err(PluginError::BadOutput {
                    plugin: self.label.to_string(),
                    call: "open",
                    message: "not a transform".into(),
                });
            };
            let mut store = new_store(flavor, &self.limits, &self.label)?;
            let call = Call::open(&self.limits);
            call.arm(&mut store, self.limits.fuel.map(|_| u64::MAX));
            let trap = |e: wasmtime::Error, store: &Store<HostState>| PluginError::Trap {
                plugin: self.label.to_string(),
                call: "open",
                message: describe_trap(&e, &self.limits, call, &store.data().stderr),
            };
            self.instantiations += 1;
            let bindings = pre.instantiate(&mut store).map_err(|e| {
                stale_types(&self.plugin, PluginKind::Transform, &e)
                    .unwrap_or_else(|| trap(e, &store))
            })?;
            bindings
                .sluice_plugin_transformer()
                .call_open(&mut store, &self.config)
                .map_err(|e| trap(e, &store))?
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
        let result = match self.health.check(&self.label) {
            Err(e) => Err(e),
            Ok(()) => {
                let result = off_async_runtime(|| self.process_wit(&wit, n));
                self.health.record(result, &self.label, &self.limits)
            }
        };
        (from_wit(wit), result)
    }

    fn process_wit(&mut self, wit: &WitBatch, n: usize) -> Result<Transformed, PluginError> {
        let result = self.call_process(wit, n);
        if matches!(result, Err(PluginError::BadOutput { .. })) {
            // A broken contract or limit may mean broken state: start afresh.
            self.live = None;
        }
        result
    }

    fn call_process(&mut self, wit: &WitBatch, n: usize) -> Result<Transformed, PluginError> {
        let limits = self.limits.clone();
        let label = self.label.clone();
        let live = self.ensure_live()?;
        let call = Call::data("process", &limits, n);
        call.arm(&mut live.store, limits.fuel);
        let called = live
            .bindings
            .sluice_plugin_transformer()
            .call_process(&mut live.store, wit);
        let result = match called {
            Ok(r) => r,
            Err(e) => {
                let message = describe_trap(&e, &limits, call, &live.store.data().stderr);
                self.live = None;
                return Err(PluginError::Trap {
                    plugin: label.to_string(),
                    call: "process",
                    message,
                });
            }
        };
        let WitTransformed {
            output,
            emitted,
            failures,
        } = result.map_err(|e| call_error(&label, "process", e))?;
        let output = from_wit(output);
        check_output(&label, "process", &output, &limits)?;
        let bad = |message: String| PluginError::BadOutput {
            plugin: label.to_string(),
            call: "process",
            message,
        };
        if emitted.len() != n {
            return Err(bad(format!(
                "{} emitted counts for {n} input records (need exactly one per input)",
                emitted.len()
            )));
        }
        // Outputs are in input order: input i's outputs start where input
        // i - 1's end.
        let mut outcomes = Vec::with_capacity(n);
        let mut start = 0u64;
        for &count in &emitted {
            outcomes.push(Outcome::Emit {
                start: start as u32,
                count,
            });
            start += u64::from(count);
        }
        if start != output.len() as u64 {
            return Err(bad(format!(
                "the emitted counts add up to {start}, but the output holds {} records",
                output.len()
            )));
        }
        let mut previous = None;
        for f in failures {
            let index = f.input as usize;
            if index >= n || previous.is_some_and(|p| p >= index) {
                return Err(bad(format!(
                    "failure for input {index}: out of range or not in increasing input order \
                     ({n} inputs)"
                )));
            }
            previous = Some(index);
            if emitted[index] != 0 {
                return Err(bad(format!(
                    "input {index} both emitted {} records and failed",
                    emitted[index]
                )));
            }
            outcomes[index] = match f.kind {
                WitFailureKind::Reject => Outcome::Reject(f.reason),
                WitFailureKind::Retry => Outcome::Retry(f.reason),
            };
        }
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
    health: Health,
}

impl SourceInstance {
    /// Checks `plugin`'s imports against `limits.grants`, instantiates it and
    /// opens it at `resume` (the last acknowledged position).
    pub fn open(
        plugin: &Plugin,
        config: Vec<(String, String)>,
        resume: Option<Vec<u8>>,
        limits: Limits,
        label: &str,
    ) -> Result<Self, PluginError> {
        plugin.check_grants(&limits.grants, label)?;
        let mut this = SourceInstance {
            plugin: plugin.clone(),
            config,
            limits,
            label: label.into(),
            live: None,
            resume,
            health: Health::default(),
        };
        off_async_runtime(|| this.ensure_live().map(|_| ()))?;
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

    /// Failed polls in a row (reset by a successful one).
    pub fn consecutive_failures(&self) -> u32 {
        self.health.consecutive
    }

    /// True once the source failed `limits.max_consecutive_failures` polls in
    /// a row: it is no longer called and `poll` returns [`PluginError::Quarantined`].
    pub fn quarantined(&self) -> bool {
        self.health.quarantined.is_some()
    }

    fn ensure_live(&mut self) -> Result<&mut LiveSource, PluginError> {
        if self.live.is_none() {
            let (flavor, pre) = self.plugin.flavor(self.limits.fuel.is_some())?;
            let PluginPre::Source(pre) = pre else {
                return Err(PluginError::BadOutput {
                    plugin: self.label.to_string(),
                    call: "open",
                    message: "not a source".into(),
                });
            };
            let mut store = new_store(flavor, &self.limits, &self.label)?;
            let call = Call::open(&self.limits);
            call.arm(&mut store, self.limits.fuel.map(|_| u64::MAX));
            let trap = |e: wasmtime::Error, store: &Store<HostState>| PluginError::Trap {
                plugin: self.label.to_string(),
                call: "open",
                message: describe_trap(&e, &self.limits, call, &store.data().stderr),
            };
            let bindings = pre.instantiate(&mut store).map_err(|e| {
                stale_types(&self.plugin, PluginKind::Source, &e).unwrap_or_else(|| trap(e, &store))
            })?;
            bindings
                .sluice_plugin_source_plugin()
                .call_open(&mut store, &self.config, self.resume.as_ref())
                .map_err(|e| trap(e, &store))?
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
        self.health.check(&self.label)?;
        let result = off_async_runtime(|| {
            let result = self.call_poll(max);
            if matches!(result, Err(PluginError::BadOutput { .. })) {
                self.live = None;
            }
            result
        });
        self.health.record(result, &self.label, &self.limits)
    }

    fn call_poll(&mut self, max: u32) -> Result<Polled, PluginError> {
        let limits = self.limits.clone();
        let label = self.label.clone();
        let live = self.ensure_live()?;
        let call = Call::data("poll", &limits, max as usize);
        call.arm(&mut live.store, limits.fuel);
        let called = live
            .bindings
            .sluice_plugin_source_plugin()
            .call_poll(&mut live.store, max);
        let result = match called {
            Ok(r) => r,
            Err(e) => {
                let message = describe_trap(&e, &limits, call, &live.store.data().stderr);
                self.live = None;
                return Err(PluginError::Trap {
                    plugin: label.to_string(),
                    call: "poll",
                    message,
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
