//! Host functions that replace a few of wasmtime-wasi's so WASI cannot be used
//! to get around a plugin's limits and grants.
//!
//! - Epoch interruption only stops WebAssembly code; a plugin blocked in the
//!   host (sleeping on a clock, waiting for a pollable) would outlive its
//!   deadline. `wasi:io/poll`'s `poll` and `pollable.block` here give up at
//!   the call's deadline and fail the call.
//! - wasmtime-wasi's name lookup is all or nothing; here it answers only for
//!   the host names listed in the plugin's network grant, so DNS cannot carry
//!   data out to an arbitrary name.
//!
//! These are defined over wasmtime-wasi's own (WASI 0.2.12, which every
//! 0.2.x import resolves to), after it.

use std::future::Future;
use std::time::Instant;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll::{Host as _, HostPollable as _};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{Host as _, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, Network};
use wasmtime_wasi::sockets::WasiSocketsView;

use super::store::HostState;

/// The WASI version wasmtime-wasi 48 links (see its `p2/wit/deps`).
const WASI: &str = "0.2.12";

/// A plugin stayed blocked in a WASI call past its call's deadline.
#[derive(Debug, thiserror::Error)]
#[error("blocked in `{0}` past the call deadline")]
pub(crate) struct BlockedPastDeadline(pub(crate) &'static str);

/// Replaces the blocking `wasi:io/poll` functions and the name lookup.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut poll = linker.instance(&format!("wasi:io/poll@{WASI}"))?;
    poll.func_wrap(
        "poll",
        |mut store: StoreContextMut<'_, HostState>, (list,): (Vec<Resource<DynPollable>>,)| {
            let state = store.data_mut();
            let deadline = state.deadline;
            let ready = bounded(deadline, "wasi:io/poll.poll", state.table.poll(list))?;
            Ok((ready,))
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, HostState>, (pollable,): (Resource<DynPollable>,)| {
            let state = store.data_mut();
            let deadline = state.deadline;
            bounded(
                deadline,
                "wasi:io/poll.pollable.block",
                state.table.block(pollable),
            )?;
            Ok(())
        },
    )?;
    let mut lookup = linker.instance(&format!("wasi:sockets/ip-name-lookup@{WASI}"))?;
    lookup.func_wrap(
        "resolve-addresses",
        |mut store: StoreContextMut<'_, HostState>,
         (network, name): (Resource<Network>, String)|
         -> wasmtime::Result<(Result<Resource<ResolveAddressStream>, ErrorCode>,)> {
            let state = store.data_mut();
            let wanted = name.trim_end_matches('.').to_ascii_lowercase();
            if !state.lookup_names.contains(&wanted) {
                return Ok((Err(ErrorCode::AccessDenied),));
            }
            let resolved = state.sockets().resolve_addresses(network, name);
            Ok((match resolved {
                Ok(stream) => Ok(stream),
                Err(e) => Err(e.downcast()?),
            },))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Runs a WASI wait on wasmtime-wasi's runtime until `deadline`.
fn bounded<T>(
    deadline: Instant,
    what: &'static str,
    wait: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    let left = deadline.saturating_duration_since(Instant::now());
    // The timer must be made inside the runtime, hence the async block.
    match wasmtime_wasi::runtime::in_tokio(async move { tokio::time::timeout(left, wait).await }) {
        Ok(done) => done,
        Err(_) => Err(wasmtime::Error::new(BlockedPastDeadline(what))),
    }
}
