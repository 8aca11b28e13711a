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
//! records one call may return and on the bytes its output makes the host
//! hold (what crossed, or what its records reference if more: a span shared
//! by many records counts once per record). The deadline counts the CPU time
//! of the calling thread, checked through epoch interruption (5 ms ticks), so
//! a healthy plugin is not failed because other pipelines kept the cores
//! busy; a call starved of CPU is still stopped at 4× its deadline in
//! wall-clock time (and retried: see [`TrapKind::Starved`]), and time spent blocked in WASI (sleeping on a clock,
//! waiting on a pollable) counts in wall-clock time against the deadline
//! itself. A breach is an error that names the plugin and the `limits.*` key. A Store that trapped or breached a limit is discarded and
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

//! # Modules
//!
//! One job each, and no import circles: `store` (what a Store holds) imports
//! none of its siblings, and every other module imports it.
//!
//! | module | job |
//! |---|---|
//! | `store` | the Store's state: WASI context, memory budget, call clock, stderr tail |
//! | `error`, `limits` | [`PluginError`] and [`PluginKind`]; [`Limits`] |
//! | `runtime` | engines, compile cache, linker, loading files into a [`Plugin`] |
//! | `world` | checking a component's imports and exports against its world, by name |
//! | `grants` | [`Grants`] and the locked-down WASI context built from them |
//! | `guard` | WASI functions replaced so blocking and DNS respect deadlines and grants |
//! | `limiter` | enforcing the memory budget across all of a Store's memories |
//! | `deadline` | the per-call CPU deadline (epoch interruption, thread CPU clock) |
//! | `trap` | wording: what stopped a call, which limit an output broke |
//! | `health` | consecutive failures and quarantine |
//! | `instance` | one generic instance over both worlds; [`TransformInstance`], [`SourceInstance`] |
//! | `output` | checking what a call returned; [`Outcome`], [`Transformed`], [`Polled`] |
//! | `bindings` | the generated bindings of the two worlds (private) |

mod bindings;
mod deadline;
mod error;
mod grants;
mod guard;
mod health;
mod instance;
mod limiter;
mod limits;
mod output;
mod runtime;
mod store;
mod trap;
pub mod world;

pub use error::{PluginError, PluginKind, TrapKind};
pub use grants::{DirGrant, DirMode, Grants, NetworkGrant};
pub use instance::{SourceInstance, TransformInstance};
pub use limits::Limits;
pub use output::{Outcome, Polled, Transformed};
pub use runtime::{Plugin, Runtime, RuntimeOptions, default_cache_dir};
