//! What can go wrong loading or calling a plugin, and the two worlds a
//! plugin is loaded as.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// What stopped a plugin call, in a bounded set (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrapKind {
    /// Its memory limit (`limits.memory_mb`).
    Memory,
    /// Its call deadline, running or blocked in WASI (`limits.*_timeout_ms`).
    Deadline,
    /// Stopped with CPU time left: the host gave the call no CPU for
    /// several times its deadline (an overloaded machine). Not the plugin's
    /// fault: the call is retried and does not count towards quarantine.
    Starved,
    /// Its fuel (`limits.fuel`).
    Fuel,
    /// A stack overflow.
    StackOverflow,
    /// It called `exit`.
    Exit,
    /// Any other trap (unreachable, out-of-bounds access, a panic…).
    Trap,
}

impl TrapKind {
    /// The kind's name, as metrics and events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TrapKind::Memory => "memory",
            TrapKind::Deadline => "deadline",
            TrapKind::Starved => "starved",
            TrapKind::Fuel => "fuel",
            TrapKind::StackOverflow => "stack_overflow",
            TrapKind::Exit => "exit",
            TrapKind::Trap => "trap",
        }
    }
}

/// The two plugin worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
        /// What stopped it, as a bounded kind (for metrics and policies).
        kind: TrapKind,
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

    /// A bounded name for what went wrong (a metrics label): the trap kind,
    /// `bad_output`, `quarantined`, `call`, or `load` for failures to load.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Trap { kind, .. } => kind.as_str(),
            PluginError::BadOutput { .. } => "bad_output",
            PluginError::Quarantined { .. } => "quarantined",
            PluginError::Call { .. } => "call",
            _ => "load",
        }
    }

    /// True for a whole-call error the plugin marked retryable, and for a
    /// call the host starved of CPU ([`TrapKind::Starved`]): retrying may
    /// help, and neither counts as the plugin failing.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PluginError::Call {
                retryable: true,
                ..
            } | PluginError::Trap {
                kind: TrapKind::Starved,
                ..
            }
        )
    }

    /// True when the call discarded the instance (a trap): the next call
    /// runs on a fresh one.
    pub fn discarded_instance(&self) -> bool {
        matches!(self, PluginError::Trap { .. })
    }
}
