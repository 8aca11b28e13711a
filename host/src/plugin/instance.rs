//! Running plugin instances: one generic [`Instance`] over the two worlds,
//! and the typed front ends the data path uses ([`TransformInstance`],
//! [`SourceInstance`]). What a call returned is checked in `output`.
//!
//! Each instance has its own Store, created on first use and thrown away
//! after a trap, a limit breach or a broken contract, so a trapped instance is
//! never called again: the next call instantiates afresh (and calls `open`
//! with the same configuration and resume position). Every call runs under
//! its deadline and fuel; its output is checked against the contract and the
//! output caps; an instance that keeps failing is quarantined.

use std::sync::Arc;

use super::error::TrapKind;

use wasmtime::Store;
use wasmtime::component::ResourceTable;

use super::bindings::{SourceBindings, Transform, WitCallError, WitConfigError};
use super::deadline::Call;
use super::error::{PluginError, PluginKind};
use super::grants;
use super::health::Health;
use super::limits::Limits;
use super::output::{self, Polled, Transformed};
use super::runtime::{Flavor, Plugin, PluginPre};
use super::store::{Budget, CallClock, HostState, StderrTail};
use super::trap;
use crate::record::Batch;

/// What differs between the two worlds: how to instantiate and open one.
pub(crate) trait World: 'static {
    /// The world.
    const KIND: PluginKind;
    /// The generated bindings of an instance of it.
    type Bindings: Send + 'static;

    /// Instantiates `pre` in `store`; `None` when `pre` is of the other world.
    fn instantiate(
        pre: &PluginPre,
        store: &mut Store<HostState>,
    ) -> Option<wasmtime::Result<Self::Bindings>>;

    /// Calls the plugin's `open`.
    #[allow(clippy::ptr_arg, reason = "the generated bindings take `&Vec`")]
    fn open(
        bindings: &Self::Bindings,
        store: &mut Store<HostState>,
        config: &Vec<(String, String)>,
        resume: Option<&Vec<u8>>,
    ) -> wasmtime::Result<Result<(), WitConfigError>>;
}

/// The `transform` world.
pub(crate) struct TransformWorld;

impl World for TransformWorld {
    const KIND: PluginKind = PluginKind::Transform;
    type Bindings = Transform;

    fn instantiate(
        pre: &PluginPre,
        store: &mut Store<HostState>,
    ) -> Option<wasmtime::Result<Transform>> {
        match pre {
            PluginPre::Transform(pre) => Some(pre.instantiate(store)),
            PluginPre::Source(_) => None,
        }
    }

    fn open(
        bindings: &Transform,
        store: &mut Store<HostState>,
        config: &Vec<(String, String)>,
        _resume: Option<&Vec<u8>>,
    ) -> wasmtime::Result<Result<(), WitConfigError>> {
        bindings
            .sluice_plugin_transformer()
            .call_open(store, config)
    }
}

/// The `source` world.
pub(crate) struct SourceWorld;

impl World for SourceWorld {
    const KIND: PluginKind = PluginKind::Source;
    type Bindings = SourceBindings;

    fn instantiate(
        pre: &PluginPre,
        store: &mut Store<HostState>,
    ) -> Option<wasmtime::Result<SourceBindings>> {
        match pre {
            PluginPre::Source(pre) => Some(pre.instantiate(store)),
            PluginPre::Transform(_) => None,
        }
    }

    fn open(
        bindings: &SourceBindings,
        store: &mut Store<HostState>,
        config: &Vec<(String, String)>,
        resume: Option<&Vec<u8>>,
    ) -> wasmtime::Result<Result<(), WitConfigError>> {
        bindings
            .sluice_plugin_source_plugin()
            .call_open(store, config, resume)
    }
}

/// A Store with its instance, ready to call.
struct Live<W: World> {
    store: Store<HostState>,
    bindings: W::Bindings,
}

/// A plugin instance of world `W` with its configuration: the Store's
/// lifecycle, deadlines, output checks and health, shared by both worlds.
pub(crate) struct Instance<W: World> {
    plugin: Plugin,
    config: Vec<(String, String)>,
    /// Where a source resumes when (re)opened; always `None` for transforms.
    resume: Option<Vec<u8>>,
    limits: Limits,
    label: Arc<str>,
    live: Option<Live<W>>,
    instantiations: u64,
    health: Health,
}

impl<W: World> Instance<W> {
    /// Checks `plugin`'s imports against `limits.grants`, instantiates it and
    /// opens it; a refused import or config is an error here.
    fn open(
        plugin: &Plugin,
        config: Vec<(String, String)>,
        resume: Option<Vec<u8>>,
        limits: Limits,
        label: &str,
    ) -> Result<Self, PluginError> {
        plugin.check_grants(&limits.grants, label)?;
        let mut this = Instance {
            plugin: plugin.clone(),
            config,
            resume,
            limits,
            label: label.into(),
            live: None,
            instantiations: 0,
            health: Health::default(),
        };
        off_async_runtime(|| this.ensure_live())?;
        Ok(this)
    }

    /// Instantiates and opens the plugin unless a live Store exists.
    fn ensure_live(&mut self) -> Result<(), PluginError> {
        if self.live.is_some() {
            return Ok(());
        }
        let (flavor, pre) = self.plugin.flavor(self.limits.fuel.is_some())?;
        let mut store = new_store(flavor, &self.limits, &self.label)?;
        let call = Call::open(&self.limits);
        call.arm(&mut store, self.limits.fuel.map(|_| u64::MAX));
        let trapped = |e: wasmtime::Error, store: &Store<HostState>| PluginError::Trap {
            plugin: self.label.to_string(),
            call: "open",
            kind: trap::kind(&e),
            message: trap::describe(&e, &self.limits, call, &store.data().stderr),
        };
        self.instantiations += 1;
        let bindings = match W::instantiate(pre, &mut store) {
            Some(Ok(bindings)) => bindings,
            Some(Err(e)) => {
                return Err(trap::link_failure(self.plugin.path(), W::KIND, &e)
                    .unwrap_or_else(|| trapped(e, &store)));
            }
            None => {
                return Err(PluginError::WrongWorld {
                    path: self.plugin.path().to_path_buf(),
                    expected: W::KIND,
                    problems: vec![format!("it was loaded as a {} plugin", self.plugin.kind())],
                });
            }
        };
        W::open(&bindings, &mut store, &self.config, self.resume.as_ref())
            .map_err(|e| trapped(e, &store))?
            .map_err(|e| trap::config_error(&self.label, e))?;
        self.live = Some(Live { store, bindings });
        Ok(())
    }

    /// Makes one call (`name`, over `records` records) through `invoke`, then
    /// turns its result into `T` with `check`. A quarantined instance is not
    /// called; a trap or a bad output discards the Store; every result counts
    /// towards the instance's health.
    fn call<R: Send, T: Send>(
        &mut self,
        name: &'static str,
        records: usize,
        invoke: impl FnOnce(
            &W::Bindings,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<R, WitCallError>>
        + Send,
        check: impl FnOnce(R, &Limits, &str) -> Result<T, PluginError> + Send,
    ) -> Result<T, PluginError> {
        self.health.check(&self.label)?;
        let result = off_async_runtime(|| self.call_live(name, records, invoke, check));
        self.health.record(result, &self.label, &self.limits)
    }

    fn call_live<R, T>(
        &mut self,
        name: &'static str,
        records: usize,
        invoke: impl FnOnce(
            &W::Bindings,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<R, WitCallError>>,
        check: impl FnOnce(R, &Limits, &str) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        self.ensure_live()?;
        let Some(live) = self.live.as_mut() else {
            return Err(PluginError::Trap {
                plugin: self.label.to_string(),
                call: name,
                kind: TrapKind::Trap,
                message: "instance unavailable".into(),
            });
        };
        let call = Call::data(name, &self.limits, records);
        call.arm(&mut live.store, self.limits.fuel);
        let returned = match invoke(&live.bindings, &mut live.store) {
            Ok(returned) => returned,
            Err(e) => {
                let message = trap::describe(&e, &self.limits, call, &live.store.data().stderr);
                self.live = None;
                return Err(PluginError::Trap {
                    plugin: self.label.to_string(),
                    call: name,
                    kind: trap::kind(&e),
                    message,
                });
            }
        };
        let out = returned.map_err(|e| trap::call_error(&self.label, name, e))?;
        let checked = check(out, &self.limits, &self.label);
        if matches!(checked, Err(PluginError::BadOutput { .. })) {
            // A broken contract or limit may mean broken state: start afresh.
            self.live = None;
        }
        checked
    }
}

/// A fresh Store for one instance: its WASI context from the grants, its
/// memory budget, and the epoch callback that enforces call deadlines.
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
        budget: Budget::new(limits.memory_bytes),
        label: label.clone(),
        deadline: std::time::Instant::now(),
        lookup_names: grants::lookup_names(&limits.grants),
        stderr,
        clock: CallClock::default(),
    };
    let mut store = Store::new(&flavor.engine, state);
    store.limiter(|s| &mut s.budget);
    store.epoch_deadline_callback(|store| store.data().clock.on_deadline());
    Ok(store)
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

/// A transform plugin instance with its configuration.
pub struct TransformInstance(Instance<TransformWorld>);

impl TransformInstance {
    /// Checks `plugin`'s imports against `limits.grants`, instantiates it and
    /// opens it with `config`; a refused import or config is an error here.
    pub fn open(
        plugin: &Plugin,
        config: Vec<(String, String)>,
        limits: Limits,
        label: &str,
    ) -> Result<Self, PluginError> {
        Instance::open(plugin, config, None, limits, label).map(TransformInstance)
    }

    /// Runs one batch. The input comes back unchanged beside the result, so a
    /// failed batch can be retried, skipped or dead-lettered.
    pub fn process(&mut self, input: Batch) -> (Batch, Result<Transformed, PluginError>) {
        let inputs = input.len();
        let wit = output::to_wit(input);
        let result = self.0.call(
            "process",
            inputs,
            |bindings, store| {
                bindings
                    .sluice_plugin_transformer()
                    .call_process(store, &wit)
            },
            |out, limits, label| output::transformed(out, inputs, limits, label),
        );
        (output::from_wit(wit), result)
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &Plugin {
        &self.0.plugin
    }

    /// How many Stores were created (1 + re-instantiations after traps).
    pub fn instantiations(&self) -> u64 {
        self.0.instantiations
    }

    /// Failed calls in a row (reset by a successful one).
    pub fn consecutive_failures(&self) -> u32 {
        self.0.health.consecutive()
    }

    /// True once the instance failed `limits.max_consecutive_failures` calls
    /// in a row: it is no longer called and every `process` returns
    /// [`PluginError::Quarantined`]. Only a new instance (a reload) clears it.
    pub fn quarantined(&self) -> bool {
        self.0.health.quarantined()
    }
}

/// A source plugin instance with its configuration.
pub struct SourceInstance(Instance<SourceWorld>);

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
        Instance::open(plugin, config, resume, limits, label).map(SourceInstance)
    }

    /// Asks for up to `max` records.
    pub fn poll(&mut self, max: u32) -> Result<Polled, PluginError> {
        self.0.call(
            "poll",
            max as usize,
            |bindings, store| bindings.sluice_plugin_source_plugin().call_poll(store, max),
            output::polled,
        )
    }

    /// Tells the source that the host stored `position` (every record up to
    /// it is acknowledged), so it can acknowledge upstream. Runs under the
    /// call deadline (`limits.call_timeout_ms`, 80 ms by default) like `poll`;
    /// a trap discards the Store (the next call re-opens the source at its
    /// resume position), and failures count towards the quarantine. An error
    /// here never undoes the commit.
    pub fn committed(&mut self, position: &[u8]) -> Result<(), PluginError> {
        // The generated binding takes a `Vec`; positions are small and commits rare.
        let position = position.to_vec();
        self.0.call(
            "committed",
            0,
            |bindings, store| {
                bindings
                    .sluice_plugin_source_plugin()
                    .call_committed(store, &position)
            },
            |(), _, _| Ok(()),
        )
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &Plugin {
        &self.0.plugin
    }

    /// Sets where a re-instantiated source resumes (the last acknowledged position).
    pub fn set_resume(&mut self, position: Option<Vec<u8>>) {
        self.0.resume = position;
    }

    /// How many Stores were created (1 + re-instantiations after traps).
    pub fn instantiations(&self) -> u64 {
        self.0.instantiations
    }

    /// Failed polls in a row (reset by a successful one).
    pub fn consecutive_failures(&self) -> u32 {
        self.0.health.consecutive()
    }

    /// True once the source failed `limits.max_consecutive_failures` polls in
    /// a row: it is no longer called and `poll` returns [`PluginError::Quarantined`].
    pub fn quarantined(&self) -> bool {
        self.0.health.quarantined()
    }
}
