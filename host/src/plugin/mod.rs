//! The plugin runtime: WebAssembly components run with wasmtime.
//!
//! Plugins are compiled once (with the on-disk cache), checked against their
//! world, and pre-instantiated; each running instance has its own Store with
//! a memory cap and a per-call deadline. A Store that trapped is discarded and
//! the plugin re-instantiated on next use: a trapped instance is never called
//! again.

mod batch;
mod bindings;
mod instance;
mod runtime;
pub mod world;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use batch::{Batch, HeaderEntry, MalformedBatch, OwnedRecord, RecordEntry, RecordRef, Span};
pub use instance::{Outcome, Polled, SourceInstance, TransformInstance, Transformed};
pub use runtime::{Plugin, Runtime, default_cache_dir};

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

/// Resource limits of one plugin instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// Deadline of one `process` / `poll` call.
    pub call_timeout: Duration,
    /// Deadline of `open`.
    pub open_timeout: Duration,
    /// Most output records one call may return.
    pub max_output_records: usize,
    /// Most arena bytes one call may return.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            call_timeout: Duration::from_millis(1000),
            open_timeout: Duration::from_secs(10),
            max_output_records: 1_000_000,
            max_output_bytes: 256 << 20,
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
