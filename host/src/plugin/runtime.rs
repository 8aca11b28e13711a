//! The wasmtime engines, compile cache and linker shared by every plugin, and
//! loading a component file into a checked, pre-instantiated plugin.
//!
//! Loading is defensive: the file's size is checked before it is read, its
//! header before the rest, and compilation runs on its own thread within a
//! time budget, so a huge or pathological file neither fills memory nor
//! holds up its caller indefinitely.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Cache, CacheConfig, Config, Engine};

use super::bindings::{SourcePre, TransformPre, log};
use super::deadline::EPOCH_TICK;
use super::error::{PluginError, PluginKind};
use super::grants::{self, Grants};
use super::store::HostState;
use super::{guard, world};

/// Longest log line a plugin may write; longer lines are cut.
const MAX_LOG_LINE: usize = 4096;

impl log::Host for HostState {
    fn emit(&mut self, level: log::Level, message: String) {
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.label;
        match level {
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// Stops the epoch ticker thread when the runtime is dropped.
struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Settings of a [`Runtime`].
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeOptions {
    /// Compile cache directory (absolute; `None` disables caching).
    pub cache_dir: Option<PathBuf>,
    /// Longest a component may take to compile before it is refused.
    pub compile_budget: Duration,
    /// Largest component file accepted; larger files are refused unread.
    pub max_component_bytes: u64,
    /// Per-call deadlines through epoch interruption. Only the deadline
    /// benchmark turns this off, to measure what it costs: without it a
    /// looping plugin is never stopped.
    pub deadlines: bool,
}

impl RuntimeOptions {
    /// Default [`RuntimeOptions::compile_budget`]: the large JavaScript and
    /// Python components take 15–25 s with Cranelift on two cores.
    pub const DEFAULT_COMPILE_BUDGET: Duration = Duration::from_secs(120);
    /// Default [`RuntimeOptions::max_component_bytes`]: the biggest real
    /// plugins (Python with its standard library) are about 20 MiB.
    pub const DEFAULT_MAX_COMPONENT_BYTES: u64 = 128 << 20;
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            cache_dir: None,
            compile_budget: Self::DEFAULT_COMPILE_BUDGET,
            max_component_bytes: Self::DEFAULT_MAX_COMPONENT_BYTES,
            deadlines: true,
        }
    }
}

/// One engine and its linker. Fuel metering is compiled into the code, so a
/// plugin that asks for fuel runs on its own engine and the others pay nothing.
pub(crate) struct Flavor {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
}

impl Flavor {
    fn new(options: &RuntimeOptions, fuel: bool) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(options.deadlines);
        config.consume_fuel(fuel);
        config.wasm_component_model(true);
        if let Some(dir) = &options.cache_dir {
            let dir = std::path::absolute(dir)?;
            let mut cache = CacheConfig::new();
            cache.with_directory(dir.join("wasmtime"));
            config.cache(Some(Cache::new(cache)?));
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        guard::add_to_linker(&mut linker)?;
        log::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        Ok(Flavor { engine, linker })
    }
}

/// The shared engines. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) plain: Arc<Flavor>,
    pub(crate) fueled: Arc<Flavor>,
    options: Arc<RuntimeOptions>,
    _ticker: Option<Arc<Ticker>>,
}

/// Where compiled code is cached: `$SLUICE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/sluice`, else `~/.cache/sluice`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("sluice"))
}

impl Runtime {
    /// Builds the engines with the on-disk compile cache in `cache_dir`
    /// (absolute; `None` disables caching) and default options otherwise.
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<Self> {
        Self::with_options(RuntimeOptions {
            cache_dir: cache_dir.map(Path::to_path_buf),
            ..RuntimeOptions::default()
        })
    }

    /// Builds the engines with `options`, and starts the epoch ticker that
    /// drives call deadlines.
    pub fn with_options(options: RuntimeOptions) -> anyhow::Result<Self> {
        let plain = Arc::new(Flavor::new(&options, false)?);
        let fueled = Arc::new(Flavor::new(&options, true)?);
        let ticker = if options.deadlines {
            let stop = Arc::new(AtomicBool::new(false));
            let engines = [plain.engine.clone(), fueled.engine.clone()];
            let stopped = stop.clone();
            std::thread::Builder::new()
                .name("sluice-epoch".into())
                .spawn(move || {
                    while !stopped.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        for engine in &engines {
                            engine.increment_epoch();
                        }
                    }
                })?;
            Some(Arc::new(Ticker(stop)))
        } else {
            None
        };
        Ok(Runtime {
            plain,
            fueled,
            options: Arc::new(options),
            _ticker: ticker,
        })
    }

    /// Reads (within the size limit), compiles (or takes from the cache) and
    /// checks a component file against the world `kind`.
    pub fn load(&self, path: &Path, kind: PluginKind) -> Result<Plugin, PluginError> {
        let bytes = self.read(path)?;
        self.load_bytes(path, &bytes, kind)
    }

    /// Import and export names of the component at `path`, without checking its world.
    pub fn component_names(&self, path: &Path) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let bytes = self.read(path)?;
        let component = self.compile(&self.plain, path, &bytes)?;
        Ok(world::names(&self.plain.engine, &component))
    }

    /// As [`Runtime::load`], from bytes already read.
    pub fn load_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        kind: PluginKind,
    ) -> Result<Plugin, PluginError> {
        let max = self.options.max_component_bytes;
        if bytes.len() as u64 > max {
            return Err(PluginError::TooLarge {
                path: path.to_path_buf(),
                size: bytes.len() as u64,
                max,
            });
        }
        if !is_component(bytes) {
            return Err(PluginError::NotAComponent {
                path: path.to_path_buf(),
                what: describe_bytes(bytes),
            });
        }
        let digest = hex::encode(Sha256::digest(bytes));
        let component = self.compile(&self.plain, path, bytes)?;
        world::check(&self.plain.engine, &component, path, kind)?;
        let pre = pre_instantiate(&self.plain, &component, path, kind)?;
        let (imports, _) = world::names(&self.plain.engine, &component);
        Ok(Plugin {
            inner: Arc::new(PluginInner {
                path: path.to_path_buf(),
                digest,
                size: bytes.len(),
                pre,
                fueled: OnceLock::new(),
                imports,
                runtime: self.clone(),
                component,
            }),
        })
    }

    /// Reads `path` if it is no larger than the limit and starts like a component.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, PluginError> {
        let read_error = |e: std::io::Error| PluginError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let max = self.options.max_component_bytes;
        let file = std::fs::File::open(path).map_err(read_error)?;
        let size = file.metadata().map_err(read_error)?.len();
        if size > max {
            return Err(PluginError::TooLarge {
                path: path.to_path_buf(),
                size,
                max,
            });
        }
        // The header first: junk is refused without reading the rest.
        let mut limited = file.take(max + 1);
        let mut bytes = Vec::with_capacity(8);
        (&mut limited)
            .take(8)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if !is_component(&bytes) {
            return Err(PluginError::NotAComponent {
                path: path.to_path_buf(),
                what: describe_bytes(&bytes),
            });
        }
        bytes.reserve(usize::try_from(size).unwrap_or_default());
        limited.read_to_end(&mut bytes).map_err(read_error)?;
        if bytes.len() as u64 > max {
            return Err(PluginError::TooLarge {
                path: path.to_path_buf(),
                size: bytes.len() as u64,
                max,
            });
        }
        Ok(bytes)
    }

    /// Compiles on a thread of its own, waiting at most the compile budget.
    /// Cranelift cannot be interrupted: a compilation over budget is left to
    /// finish in the background and its result dropped.
    fn compile(
        &self,
        flavor: &Flavor,
        path: &Path,
        bytes: &[u8],
    ) -> Result<Component, PluginError> {
        let compile_error = |message: String| PluginError::Compile {
            path: path.to_path_buf(),
            message,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let engine = flavor.engine.clone();
        let bytes = bytes.to_vec();
        std::thread::Builder::new()
            .name("sluice-compile".into())
            .spawn(move || {
                let _ = tx.send(Component::new(&engine, &bytes).map_err(|e| format!("{e:#}")));
            })
            .map_err(|e| compile_error(format!("cannot start the compiler thread: {e}")))?;
        match rx.recv_timeout(self.options.compile_budget) {
            Ok(compiled) => compiled.map_err(compile_error),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(PluginError::CompileTimeout {
                path: path.to_path_buf(),
                budget: self.options.compile_budget,
            }),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(compile_error(
                "the compiler thread ended without a result".into(),
            )),
        }
    }
}

fn pre_instantiate(
    flavor: &Flavor,
    component: &Component,
    path: &Path,
    kind: PluginKind,
) -> Result<PluginPre, PluginError> {
    let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
        path: path.to_path_buf(),
        expected: kind,
        problems: vec![format!("{e:#}")],
    };
    let pre = flavor.linker.instantiate_pre(component).map_err(wrong)?;
    Ok(match kind {
        PluginKind::Transform => PluginPre::Transform(TransformPre::new(pre).map_err(wrong)?),
        PluginKind::Source => PluginPre::Source(SourcePre::new(pre).map_err(wrong)?),
    })
}

/// First bytes of a WebAssembly binary: magic, then version/layer.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

fn is_component(bytes: &[u8]) -> bool {
    // A component's header is magic + version 0x0d + layer 1.
    bytes.len() >= 8 && &bytes[..4] == WASM_MAGIC && bytes[6..8] == [1, 0]
}

fn describe_bytes(bytes: &[u8]) -> String {
    if bytes.len() >= 8 && &bytes[..4] == WASM_MAGIC {
        "a core WebAssembly module, not a component (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)".into()
    } else if bytes.is_empty() {
        "an empty file".into()
    } else if bytes.len() < 8 && WASM_MAGIC.starts_with(bytes) {
        "a truncated WebAssembly header".into()
    } else {
        "not WebAssembly at all (bad magic bytes)".into()
    }
}

#[derive(Clone)]
pub(crate) enum PluginPre {
    Transform(TransformPre<HostState>),
    Source(SourcePre<HostState>),
}

pub(crate) struct PluginInner {
    pub(crate) path: PathBuf,
    pub(crate) digest: String,
    pub(crate) size: usize,
    pub(crate) pre: PluginPre,
    /// The same component compiled with fuel metering, made on first use.
    fueled: OnceLock<Result<PluginPre, PluginError>>,
    /// What the component imports, for the grant check.
    pub(crate) imports: Vec<String>,
    pub(crate) runtime: Runtime,
    pub(crate) component: Component,
}

/// A compiled, type-checked plugin, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
}

impl Plugin {
    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    /// The component's import and export names.
    pub fn names(&self) -> (Vec<String>, Vec<String>) {
        world::names(&self.inner.runtime.plain.engine, &self.inner.component)
    }
    /// SHA-256 of the file's bytes, hex.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }
    /// File size in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }
    /// Source or transform.
    pub fn kind(&self) -> PluginKind {
        match self.inner.pre {
            PluginPre::Transform(_) => PluginKind::Transform,
            PluginPre::Source(_) => PluginKind::Source,
        }
    }

    /// Refuses the plugin if it imports an interface `grants` do not allow,
    /// naming the import and the grant that would allow it.
    pub fn check_grants(&self, grants: &Grants, label: &str) -> Result<(), PluginError> {
        grants::check_imports(&self.inner.imports, grants, label)
    }

    /// The engine and pre-instantiated component to run with or without fuel.
    /// The fuel build is compiled from the file again on first use (and must
    /// still have the bytes loaded).
    pub(crate) fn flavor(&self, fuel: bool) -> Result<(&Flavor, &PluginPre), PluginError> {
        let runtime = &self.inner.runtime;
        if !fuel {
            return Ok((&runtime.plain, &self.inner.pre));
        }
        let pre = self.inner.fueled.get_or_init(|| {
            let path = &self.inner.path;
            let bytes = runtime.read(path)?;
            if hex::encode(Sha256::digest(&bytes)) != self.inner.digest {
                return Err(PluginError::Read {
                    path: path.clone(),
                    message: "the file changed since it was loaded; the fuel-metered build needs the same bytes (a reload picks up the new version)".into(),
                });
            }
            let component = runtime.compile(&runtime.fueled, path, &bytes)?;
            pre_instantiate(&runtime.fueled, &component, path, self.kind())
        });
        match pre {
            Ok(pre) => Ok((&runtime.fueled, pre)),
            Err(e) => Err(e.clone()),
        }
    }
}
