//! The plugin runtime: WebAssembly components run with wasmtime.
//!
//! Plugins come from anyone, so everything here assumes they are hostile.
//! They are compiled once (with the on-disk cache, off the data path, within a
//! time budget), checked against their world and against what the pipeline
//! granted them, and pre-instantiated; each running instance has its own Store.
//!
//! # Limits
//!
//! Every call runs under [`Limits`]: a cap on linear memory (all of the
//! instance's memories together), a deadline, optional fuel, and caps on the
//! records and bytes one call may return. The deadline counts the CPU time of
//! the calling thread, checked through epoch interruption (5 ms ticks), so a
//! healthy plugin is not failed because other pipelines kept the cores busy; a
//! call starved of CPU is still stopped at 4× its deadline in wall-clock time,
//! and time spent blocked in WASI (sleeping on a clock, waiting on a
//! pollable) counts in wall-clock time against the deadline itself. A breach is an error that names the plugin and the
//! `limits.*` key. A Store that trapped or breached a limit is discarded and
//! the plugin re-instantiated on next use: a trapped instance is never called
//! again. After [`Limits::max_consecutive_failures`] failed calls in a row the
//! instance is quarantined: it is not called again and every call returns
//! [`PluginError::Quarantined`], so the data path can stop the pipeline or
//! dead-letter its batches.
//!
//! # Capabilities: deny by default
//!
//! The host links WASI 0.2 for every plugin, but a plugin only gets what its
//! [`Grants`] give it. Imports fall in two groups, decided as follows:
//!
//! - **Always linkable**, because they are harmless with nothing granted:
//!   `wasi:io/*`, `wasi:clocks/*`, `wasi:random/*` and `wasi:cli/*`. The
//!   environment holds only the variables named in `grants.env` (none by
//!   default); there are no arguments; stdin is empty; stdout is discarded and
//!   stderr is kept (bounded) to explain a trap; `exit` ends the instance like
//!   a trap; no terminal. Language runtimes (Rust's std among them) import
//!   several of these even when the plugin never uses them.
//! - **Refused at load unless granted**: `wasi:filesystem/*` needs
//!   `grants.dirs` and `wasi:sockets/*` needs `grants.network`. The error names
//!   the import and the grant. An empty list (`dirs: []`, `network: []`) links
//!   the interface with nothing opened or reachable, for runtimes that import
//!   it unconditionally. Anything else (e.g. `wasi:http`) is refused.
//!
//! Granted directories are preopened read-only or read-write; granted network
//! destinations allow outbound TCP `connect` to exactly those `host:port`
//! pairs (host names are resolved by the host when the plugin connects); name
//! lookup works only for host names listed there; UDP, listening and binding
//! to a chosen address are never allowed.

mod bindings;
mod grants;
mod guard;
mod instance;
mod limiter;
mod runtime;
pub mod world;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use grants::{DirGrant, DirMode, Grants, NetworkGrant};
pub use instance::{Outcome, Polled, SourceInstance, TransformInstance, Transformed};
pub use runtime::{Plugin, Runtime, RuntimeOptions, default_cache_dir};

/// The two plugin worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// Exports `source-plugin`.
    Source,
    /// Exports `transformer`.
    Transform,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Source => "source",
            PluginKind::Transform => "transform",
        })
    }
}

/// Resource limits and capabilities of one plugin instance.
///
/// Capabilities ([`Grants`]) ride here, beside the resource limits, because
/// both bound what one plugin may do and both come from the same place in the
/// pipeline file; callers pass one value through.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// Deadline (CPU time) of one `process` / `poll` call; `None` for the
    /// default, which scales with the batch (see [`Limits::call_deadline`]).
    pub call_timeout: Option<Duration>,
    /// Deadline of `open`.
    pub open_timeout: Duration,
    /// Most output records one call may return.
    pub max_output_records: usize,
    /// Most arena bytes one call may return.
    pub max_output_bytes: usize,
    /// Fuel (roughly, WebAssembly instructions) one `process` / `poll` call may
    /// use; `None`: no fuel metering. For deterministic tests: the same input
    /// stops at the same instruction on any machine.
    pub fuel: Option<u64>,
    /// Failed calls in a row after which the instance is quarantined.
    pub max_consecutive_failures: u32,
    /// What the plugin may reach beyond its own memory.
    pub grants: Grants,
}

impl Limits {
    /// Default linear-memory cap.
    pub const DEFAULT_MEMORY_BYTES: usize = 256 << 20;
    /// Default deadline (CPU time) of a call of up to ~1000 records.
    ///
    /// With the 5 ms epoch tick a looping plugin on an idle core is stopped
    /// 85–90 ms after its call started (measured), inside the 100 ms target, while a
    /// JavaScript or Python plugin (≈ 25–50 µs per record) has 1.5–3×
    /// headroom on 1024 records.
    pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_millis(80);
    /// Default deadline per record of the call's batch, when that is more than
    /// [`Limits::DEFAULT_CALL_DEADLINE`] (batches above ~1000 records).
    pub const DEFAULT_CALL_DEADLINE_PER_RECORD: Duration = Duration::from_micros(75);
    /// Default deadline of `open`.
    pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default cap on records returned by one call.
    pub const DEFAULT_MAX_OUTPUT_RECORDS: usize = 100_000;
    /// Default cap on arena bytes returned by one call.
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 20;
    /// Default number of failed calls in a row before quarantine.
    pub const DEFAULT_MAX_CONSECUTIVE_FAILURES: u32 = 5;

    /// The deadline of a `process` / `poll` call over `records` records: the
    /// configured `call_timeout`, else the larger of 80 ms and 75 µs per record.
    pub fn call_deadline(&self, records: usize) -> Duration {
        self.call_timeout.unwrap_or_else(|| {
            let per_record = Self::DEFAULT_CALL_DEADLINE_PER_RECORD
                .saturating_mul(u32::try_from(records).unwrap_or(u32::MAX));
            per_record.max(Self::DEFAULT_CALL_DEADLINE)
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            call_timeout: None,
            open_timeout: Self::DEFAULT_OPEN_TIMEOUT,
            max_output_records: Self::DEFAULT_MAX_OUTPUT_RECORDS,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
            fuel: None,
            max_consecutive_failures: Self::DEFAULT_MAX_CONSECUTIVE_FAILURES,
            grants: Grants::default(),
        }
    }
}

/// Why a plugin could not be loaded or called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("{}: cannot read plugin: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The bytes are not a WebAssembly component.
    #[error("{}: not a WebAssembly component: {what}", path.display())]
    NotAComponent {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        what: String,
    },
    /// wasmtime refused to compile it.
    #[error("{}: cannot compile component: {message}", path.display())]
    Compile {
        /// The file.
        path: PathBuf,
        /// wasmtime's reason.
        message: String,
    },
    /// The component does not fit the world it is used as.
    #[error("{}: not a sluice {expected} plugin: {}", path.display(), problems.join("; "))]
    WrongWorld {
        /// The file.
        path: PathBuf,
        /// The world the pipeline uses it as.
        expected: PluginKind,
        /// What is missing or extra.
        problems: Vec<String>,
    },
    /// The file is larger than the runtime accepts; it was not read.
    #[error("{}: plugin file is {size} bytes, over the {max} byte limit for components; refusing to read it", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Compiling took longer than the runtime's budget.
    #[error("{}: compiling took longer than the {} s budget; the component was not loaded", path.display(), budget.as_secs_f64())]
    CompileTimeout {
        /// The file.
        path: PathBuf,
        /// The budget.
        budget: Duration,
    },
    /// The component imports an interface its pipeline did not grant.
    #[error(
        "{plugin}: imports `{import}`, which needs `grants.{grant}` in the pipeline file; {hint}"
    )]
    NotGranted {
        /// Plugin label.
        plugin: String,
        /// The first such import.
        import: String,
        /// The grant that would allow it (`dirs`, `network`).
        grant: &'static str,
        /// What to write.
        hint: String,
    },
    /// A grant could not be applied (e.g. a granted directory cannot be opened).
    #[error("{plugin}: cannot apply grant `{grant}`: {message}")]
    Grant {
        /// Plugin label.
        plugin: String,
        /// Which grant.
        grant: String,
        /// Why.
        message: String,
    },
    /// The instance failed too many calls in a row and is no longer called.
    #[error(
        "{plugin}: quarantined after {failures} consecutive failures (limits.max_consecutive_failures); last: {last}"
    )]
    Quarantined {
        /// Plugin label.
        plugin: String,
        /// Failures in a row.
        failures: u32,
        /// The last failure.
        last: String,
    },
    /// The plugin refused its configuration.
    #[error("{plugin}: bad config{}: {message}", key.as_ref().map(|k| format!(" key `{k}`")).unwrap_or_default())]
    Config {
        /// Plugin label.
        plugin: String,
        /// The key at fault.
        key: Option<String>,
        /// The plugin's reason.
        message: String,
    },
    /// The plugin trapped, ran out of time or memory; its instance was discarded.
    #[error("{plugin}: {call} trapped: {message}")]
    Trap {
        /// Plugin label.
        plugin: String,
        /// Which call.
        call: &'static str,
        /// What happened.
        message: String,
    },
    /// The plugin reported a whole-call error.
    #[error("{plugin}: {call} failed ({}): {message}", if *retryable { "retryable" } else { "fatal" })]
    Call {
        /// Plugin label.
        plugin: String,
        /// Which call.
        call: &'static str,
        /// Whether retrying may help.
        retryable: bool,
        /// The plugin's reason.
        message: String,
    },
    /// The plugin returned something that breaks the contract or a limit.
    #[error("{plugin}: {call} returned a bad result: {message}")]
    BadOutput {
        /// Plugin label.
        plugin: String,
        /// Which call.
        call: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl PluginError {
    /// True once the instance is quarantined: it will not be called again.
    pub fn is_quarantined(&self) -> bool {
        matches!(self, PluginError::Quarantined { .. })
    }

    /// True for a whole-call error the plugin marked retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PluginError::Call {
                retryable: true,
                ..
            }
        )
    }
}
