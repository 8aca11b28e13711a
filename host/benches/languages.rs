//! The cost table: the mask transform in Rust, JavaScript (QuickJS), Python
//! and Go, run by the host.
//!
//! Per language: component size; compile time cold (no cache) and the load
//! time of a second start (from the on-disk compile cache); instantiate and
//! `open` time (median of 20); linear memory per instance after `open` and
//! after one 1024-record batch; records/s at batch sizes 1, 64, 512 and 1024
//! (fastest of five rounds). Then a
//! breakdown of the per-record cost at batch 1024, to see what dominates:
//!
//! - `tombstone`: null values, which mask passes through without touching
//!   JSON — the helper's cost alone (decode the batch into records, one
//!   object per record, encode the outputs);
//! - `field missing`: the value is parsed as JSON but not rewritten;
//! - `masked`: parsed, rewritten and serialized (the table's workload);
//! - `masked 1 KiB`: the same with values ten times longer;
//! - `per call`: a batch of one tombstone — the fixed cost of one call
//!   (entering the component, the helper's setup, the host's checks).
//!
//! A third table runs components without any language helper through the
//! same workloads: Rust's `passthrough` always, and any listed in
//! `BENCH_EXTRA=label=path.wasm,…` (they get no configuration). Built from
//! the sources below (with the scaffold's tools: `componentize-qjs --wit wit
//! --world transform --sync --stub-wasi`, `componentize-py -d wit -w transform
//! componentize --stub-wasi`), they split a language's cost into the generated
//! binding glue (lifting the batch into objects, lowering the result) and the
//! helper:
//!
//! ```js
//! // raw-js: the input batch back, one emit per record (no helper)
//! export const transformer = { open(config) {}, process(input) {
//!   const emitted = new Uint32Array(input.records.length / 12).fill(1);
//!   return { output: input, emitted, failures: [] }; } };
//! ```
//!
//! ```python
//! # raw-py: the same in Python (src/raw_app.py)
//! from wit_world import exports
//! from wit_world.exports import transformer as t
//! class Transformer(exports.Transformer):
//!     def open(self, config): pass
//!     def process(self, input):
//!         return t.Transformed(input, [1] * (len(input.records) // 12), [])
//! ```
//!
//! (`noop-*` variants return an empty output batch and emitted counts of 0:
//! the cost of lifting the input alone.)
//!
//! Run: `cargo bench -p sluice --bench languages` after `make plugins`.
//! `BENCH_MS` sets the time spent per measurement (default 600);
//! `BENCH_LANG=py` (a prefix) runs one language; `BENCH_DIST=DIR` reads the
//! components from DIR instead of `plugins/dist` (to compare two builds).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sluice::plugin::{Limits, PluginKind, Runtime, TransformInstance};
use sluice::record::Batch;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod wit {
    wasmtime::component::bindgen!({ path: "../wit", world: "transform" });
}
use wit::sluice::plugin::{log, types};

const LANGUAGES: [(&str, &str); 4] = [
    ("Rust", "mask"),
    ("JavaScript (QuickJS)", "mask-js"),
    ("Python", "mask-py"),
    ("Go", "mask-go"),
];

fn dist(name: &str) -> PathBuf {
    let dir = std::env::var_os("BENCH_DIST").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist"),
        PathBuf::from,
    );
    let p = dir.join(format!("{name}.wasm"));
    assert!(p.is_file(), "{} missing: run `make plugins`", p.display());
    p
}

/// An order like the quickstart's, its `pad` field grown to make the value about `size` bytes.
fn order(i: usize, size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"id":{i},"customer":"alice","email":"alice{i}@example.com","amount_cents":{},"country":"DE","pad":""#,
        100 + i * 7 % 99_901
    );
    let pad = size.saturating_sub(head.len() + 2);
    let mut v = head.into_bytes();
    v.extend(std::iter::repeat_n(b'x', pad));
    v.extend_from_slice(b"\"}");
    v
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Masked(usize),
    FieldMissing,
    Tombstone,
}

fn batch(n: usize, shape: Shape) -> Batch {
    let mut b = Batch::default();
    for i in 0..n {
        let key = i.to_string();
        let value = match shape {
            Shape::Masked(size) => Some(order(i, size)),
            Shape::FieldMissing => Some(format!(r#"{{"id":{i},"customer":"alice","amount_cents":1234,"country":"DE","pad":"xxxxxxxxxxxxxxxxxxxxxxxx"}}"#).into_bytes()),
            Shape::Tombstone => None,
        };
        b.push(
            Some(key.as_bytes()),
            value.as_deref(),
            &[("source", b"bench")],
        )
        .expect("a small batch");
    }
    b
}

/// CPU time of this thread. Plugins run on the calling thread, so this is
/// what a call costs, whatever else the machine is doing.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time of the whole process (all threads: compilation is parallel).
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `f` (one call over `records` records) for about `budget` of wall
/// time, in five rounds; returns the thread CPU time per record, in ns, of
/// the cheapest round. CPU time, not wall time: the numbers hold on a busy
/// machine.
fn measure(records: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let round = budget / 5;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        let cpu = thread_cpu();
        let mut calls = 0u64;
        while start.elapsed() < round || calls < 3 {
            f();
            calls += 1;
        }
        let spent = (thread_cpu() - cpu).as_nanos() as f64;
        best = best.min(spent / (calls as f64 * records as f64));
    }
    best
}

/// ns per record of `instance` over `input`, checking every record was emitted.
fn throughput(instance: &mut TransformInstance, input: &Batch, budget: Duration) -> f64 {
    let n = input.len();
    let mut slot = Some(input.clone());
    measure(n, budget, || {
        let (back, out) = instance.process(slot.take().unwrap_or_default());
        let out = out.expect("process");
        assert_eq!(out.outcomes.len(), n);
        std::hint::black_box(out);
        slot = Some(back);
    })
}

// ---- instantiate and memory, on an engine of our own (same settings as the host) ----

/// Adds up every linear memory the instance creates or grows.
#[derive(Default)]
struct MemoryMeter {
    bytes: usize,
}

impl ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.bytes += desired.saturating_sub(current);
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    meter: MemoryMeter,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl log::Host for State {
    fn emit(&mut self, _level: log::Level, _message: String) {}
}

impl types::Host for State {}

fn to_wit(b: &Batch) -> types::Batch {
    types::Batch {
        arena: b.arena.clone(),
        records: b.records.clone(),
        headers: b.headers.clone(),
    }
}

struct Own {
    engine: Engine,
    linker: Linker<State>,
}

impl Own {
    /// The host's engine settings (epoch deadlines, component model) with the
    /// same cache directory, so the component is not compiled a second time.
    fn new(cache: &std::path::Path) -> Own {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let mut cache_config = wasmtime::CacheConfig::new();
        cache_config.with_directory(cache.join("wasmtime"));
        config.cache(Some(wasmtime::Cache::new(cache_config).expect("cache")));
        let engine = Engine::new(&config).expect("engine");
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
        wit::Transform::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s).expect("log");
        Own { engine, linker }
    }

    fn store(&self) -> Store<State> {
        let state = State {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            meter: MemoryMeter::default(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.meter);
        store.set_epoch_deadline(u64::MAX / 2);
        store
    }
}

struct Row {
    language: &'static str,
    size: u64,
    compile: Duration,
    compile_cpu: Duration,
    cached_load: Duration,
    instantiate: Duration,
    open: Duration,
    memory_open: usize,
    memory_batch: usize,
    ns: [f64; 4],
    breakdown: [f64; 5],
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1e3)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn us(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.0} µs", ns / 1e3)
    } else {
        format!("{:.2} µs", ns / 1e3)
    }
}

fn per_second(ns: f64) -> String {
    let r = 1e9 / ns;
    if r >= 1e6 {
        format!("{:.1} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600),
    );
    let only = std::env::var("BENCH_LANG").ok();
    let config = vec![("field".to_string(), "email".to_string())];
    // Generous deadline: this measures speed, not the deadline.
    let limits = Limits {
        call_timeout: Some(Duration::from_secs(30)),
        ..Limits::default()
    };
    let mut rows = Vec::new();
    for (language, name) in LANGUAGES {
        if only
            .as_deref()
            .is_some_and(|l| !language.to_lowercase().starts_with(&l.to_lowercase()))
        {
            continue;
        }
        let path = dist(name);
        let size = std::fs::metadata(&path).expect("size").len();
        let cache = tempfile::tempdir().expect("tempdir");

        // Compile: a fresh cache, so the first load compiles; a second
        // runtime on the same directory is what a restart sees.
        let started = Instant::now();
        let cpu = process_cpu();
        let plugin = Runtime::new(Some(cache.path()))
            .expect("runtime")
            .load(&path, PluginKind::Transform)
            .expect("load");
        let compile = started.elapsed();
        let compile_cpu = process_cpu() - cpu;
        let started = Instant::now();
        let plugin2 = Runtime::new(Some(cache.path()))
            .expect("runtime")
            .load(&path, PluginKind::Transform)
            .expect("load");
        let cached_load = started.elapsed();
        drop(plugin2);
        eprintln!(
            "{language}: {size} bytes, compiled in {compile:.2?} ({compile_cpu:.2?} CPU), cached load {cached_load:.2?}"
        );

        // Instantiate, open and memory on our own engine (a cache hit too).
        let own = Own::new(cache.path());
        let component = Component::from_file(&own.engine, &path).expect("component");
        let pre = wit::TransformPre::new(own.linker.instantiate_pre(&component).expect("pre"))
            .expect("pre");
        let rounds = 20;
        let (mut instantiate, mut open) = (Vec::new(), Vec::new());
        let (mut memory_open, mut memory_batch) = (0, 0);
        let big = to_wit(&batch(1024, Shape::Masked(100)));
        for round in 0..rounds {
            let mut store = own.store();
            let started = thread_cpu();
            let bindings = pre.instantiate(&mut store).expect("instantiate");
            instantiate.push(thread_cpu() - started);
            let started = thread_cpu();
            bindings
                .sluice_plugin_transformer()
                .call_open(&mut store, &config)
                .expect("open call")
                .expect("config accepted");
            open.push(thread_cpu() - started);
            if round == 0 {
                memory_open = store.data().meter.bytes;
                let done = bindings
                    .sluice_plugin_transformer()
                    .call_process(&mut store, &big)
                    .expect("process call")
                    .expect("processed");
                assert_eq!(done.emitted.len(), 1024);
                memory_batch = store.data().meter.bytes;
            }
        }
        let instantiate = median(instantiate);
        let open = median(open);

        // Records per second, through the host's instance API.
        let mut instance =
            TransformInstance::open(&plugin, config.clone(), limits.clone(), name).expect("open");
        let mut ns = [0.0; 4];
        for (slot, n) in ns.iter_mut().zip([1usize, 64, 512, 1024]) {
            *slot = throughput(&mut instance, &batch(n, Shape::Masked(100)), budget);
        }
        let breakdown = [
            throughput(&mut instance, &batch(1024, Shape::Tombstone), budget),
            throughput(&mut instance, &batch(1024, Shape::FieldMissing), budget),
            ns[3],
            throughput(&mut instance, &batch(1024, Shape::Masked(1024)), budget),
            throughput(&mut instance, &batch(1, Shape::Tombstone), budget),
        ];
        eprintln!("{language}: done");
        rows.push(Row {
            language,
            size,
            compile,
            compile_cpu,
            cached_load,
            instantiate,
            open,
            memory_open,
            memory_batch,
            ns,
            breakdown,
        });
    }

    // Components without a helper: the floor of each language's glue.
    let mut raw = vec![(
        "Rust passthrough (SDK, no JSON)".to_string(),
        dist("passthrough"),
    )];
    if let Ok(extra) = std::env::var("BENCH_EXTRA") {
        for item in extra.split(',').filter(|i| !i.is_empty()) {
            let (label, path) = item.split_once('=').expect("BENCH_EXTRA is label=path,…");
            raw.push((label.to_string(), PathBuf::from(path)));
        }
    }
    let mut raw_rows = Vec::new();
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = Runtime::new(Some(cache.path())).expect("runtime");
    for (label, path) in raw {
        let plugin = runtime.load(&path, PluginKind::Transform).expect("load");
        let mut instance =
            TransformInstance::open(&plugin, Vec::new(), limits.clone(), &label).expect("open");
        let row = [
            throughput(&mut instance, &batch(1024, Shape::Tombstone), budget),
            throughput(&mut instance, &batch(1024, Shape::Masked(100)), budget),
            throughput(&mut instance, &batch(1024, Shape::Masked(1024)), budget),
            throughput(&mut instance, &batch(1, Shape::Tombstone), budget),
        ];
        eprintln!("{label}: done");
        raw_rows.push((label, row));
    }

    println!();
    println!(
        "Mask transform (`field: email`, ~100-byte JSON orders), host in release, wasmtime 48, Cranelift. \
         Instantiate, open and records/s are CPU time of the calling thread (plugins run on it), \
         so they hold on a busy machine; compile is wall time and CPU time of all threads."
    );
    println!();
    println!(
        "| language | component | compile, cold (wall / CPU) | load, cached (wall) | instantiate | open | memory after open | after a 1024 batch | records/s batch 1 | batch 64 | batch 512 | batch 1024 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.2} MB | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.language,
            r.size as f64 / 1e6,
            ms(r.compile),
            ms(r.compile_cpu),
            ms(r.cached_load),
            ms(r.instantiate),
            ms(r.open),
            mib(r.memory_open),
            mib(r.memory_batch),
            per_second(r.ns[0]),
            per_second(r.ns[1]),
            per_second(r.ns[2]),
            per_second(r.ns[3]),
        );
    }
    println!();
    println!("Where the time goes, per record at batch 1024 (and per call for a batch of one):");
    println!();
    println!(
        "| language | tombstone (helper only) | field missing (+ JSON parse) | masked (+ rewrite) | masked, 1 KiB values | per call (batch of 1 tombstone) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.language,
            us(r.breakdown[0]),
            us(r.breakdown[1]),
            us(r.breakdown[2]),
            us(r.breakdown[3]),
            us(r.breakdown[4]),
        );
    }
    println!();
    println!(
        "No helper, no JSON: the input batch back unchanged (per record at batch 1024; per call at batch 1):"
    );
    println!();
    println!(
        "| component | tombstones | 100 B values | 1 KiB values | per call (batch of 1 tombstone) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (label, r) in &raw_rows {
        println!(
            "| {label} | {} | {} | {} | {} |",
            us(r[0]),
            us(r[1]),
            us(r[2]),
            us(r[3])
        );
    }
}
