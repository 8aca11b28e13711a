//! Wording: what stopped a call, which limit an output broke, and the
//! plugin's own errors, as [`PluginError`]s a user can act on. Every message
//! that is about a limit names its `limits.*` key.

use super::bindings::{WitCallError, WitConfigError};
use super::deadline::{Call, WALL_CLOCK_FACTOR, WallClockCap};
use super::error::{PluginError, PluginKind, TrapKind};
use super::guard::BlockedPastDeadline;
use super::limiter::LimitExceeded;
use super::limits::Limits;
use super::store::StderrTail;
use super::world;
use crate::record::{Batch, BatchError, Caps, Field, Problem};

/// Most of a plugin's stderr quoted in an error.
const STDERR_IN_ERROR: usize = 400;

/// True when `e` stopped guest code that was running (a trap, a limit, a
/// deadline, `exit`), as opposed to the host failing to link or call it.
pub(crate) fn is_guest_fault(e: &wasmtime::Error) -> bool {
    e.downcast_ref::<wasmtime::Trap>().is_some()
        || e.downcast_ref::<LimitExceeded>().is_some()
        || e.downcast_ref::<BlockedPastDeadline>().is_some()
        || e.downcast_ref::<WallClockCap>().is_some()
        || e.downcast_ref::<wasmtime_wasi::I32Exit>().is_some()
}

/// The bounded kind of what stopped a call.
pub(crate) fn kind(e: &wasmtime::Error) -> TrapKind {
    if e.downcast_ref::<LimitExceeded>().is_some() {
        return TrapKind::Memory;
    }
    if e.downcast_ref::<WallClockCap>().is_some() {
        return TrapKind::Starved;
    }
    if e.downcast_ref::<BlockedPastDeadline>().is_some() {
        return TrapKind::Deadline;
    }
    if e.downcast_ref::<wasmtime_wasi::I32Exit>().is_some() {
        return TrapKind::Exit;
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => TrapKind::Deadline,
        Some(wasmtime::Trap::OutOfFuel) => TrapKind::Fuel,
        Some(wasmtime::Trap::StackOverflow) => TrapKind::StackOverflow,
        _ => TrapKind::Trap,
    }
}

/// Says what stopped a call, naming the limit (and its `limits.*` key) when
/// one did, followed by the end of what the plugin wrote to stderr.
pub(crate) fn describe(
    e: &wasmtime::Error,
    limits: &Limits,
    call: Call,
    stderr: &StderrTail,
) -> String {
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
            "was starved of CPU: it {cap} ({}× its {} deadline of {} ms, {}); the host is overloaded, so the call is retried",
            WALL_CLOCK_FACTOR,
            call.name,
            call.timeout.as_millis(),
            call.timeout_key
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

/// A component whose exports and imports have the contract's names (the
/// world check passed at load) but that still cannot be instantiated against
/// the host's bindings was built against another draft of `wit/`: say so,
/// instead of reporting a trap. Guest faults during instantiation (a start
/// function that traps) stay traps.
pub(crate) fn link_failure(
    path: &std::path::Path,
    kind: PluginKind,
    e: &wasmtime::Error,
) -> Option<PluginError> {
    (!is_guest_fault(e)).then(|| PluginError::WrongWorld {
        path: path.to_path_buf(),
        expected: kind,
        problems: vec![format!(
            "it has the names of `{}@{}` but cannot be linked against them ({}): it was \
             built against another draft of `wit/`; rebuild it with the current SDK or \
             language helper",
            world::PACKAGE,
            world::VERSION,
            format!("{e:#}")
                .lines()
                .take(3)
                .collect::<Vec<_>>()
                .join(" | ")
        )],
    })
}

/// The plugin refused its configuration.
pub(crate) fn config_error(label: &str, e: WitConfigError) -> PluginError {
    PluginError::Config {
        plugin: label.to_string(),
        key: e.key,
        message: e.message,
    }
}

/// The plugin failed a whole call.
pub(crate) fn call_error(label: &str, call: &'static str, e: WitCallError) -> PluginError {
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
pub(crate) fn check_output(
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
            message: bad_output(&e, limits),
        })
}

/// Says what is wrong with an output batch, naming the `limits.*` key when a
/// cap refused it.
fn bad_output(e: &BatchError, limits: &Limits) -> String {
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
            "records 0 to {} reference at least {bytes} bytes (a span that many records share, \
             or spans that overlap, count once per record: that is what copying them takes), \
             over the limit of {mib} MiB per call (limits.max_output_mb)",
            e.record
        ),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordEntry, Span};

    #[test]
    fn records_sharing_a_span_are_refused_by_the_byte_cap_by_name() {
        let shared = RecordEntry {
            value: Some(Span {
                offset: 0,
                len: 1 << 20,
            }),
            ..RecordEntry::default()
        };
        let out = Batch::from_entries(vec![0; 1 << 20], &[], &[shared; 100]);
        let limits = Limits {
            max_output_bytes: 64 << 20,
            ..Limits::default()
        };
        let err = check_output("p", "process", &out, &limits).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "p: process returned a bad result: records 0 to 63 reference at least "
            ) && text.ends_with("over the limit of 64 MiB per call (limits.max_output_mb)"),
            "{text}"
        );
        let fewer = Batch::from_entries(vec![0; 1 << 20], &[], &[shared; 60]);
        assert!(check_output("p", "process", &fewer, &limits).is_ok());
    }
}
