//! The cost of crossing the WebAssembly boundary, per record.
//!
//! Compares, for a passthrough and a JSON-field mask: native Rust, our batch
//! shape (one byte arena + flat `u32` entry words) and a plain `list<record>`
//! whose records hold their key, value and headers as separate lists — at
//! batch sizes 1, 64 and 1024 and values of 100 B and 1 KiB. Prints a table.
//! A second table times the crossing alone (a component that returns its
//! input) for three ways to carry record entries: flat `u32` words (the
//! contract), records of typed `u32` fields, and records with `option`s.
//!
//! Run: `make plugins-rust`, then `cargo bench -p sluice --bench boundary`
//! (`make bench` runs every benchmark). `BENCH_MS` sets the CPU time spent
//! per table cell (default 400).

// A benchmark stops at the first failure, with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use sluice::plugin::{Limits, PluginKind, Runtime, TransformInstance};
use sluice::record::Batch;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod list {
    wasmtime::component::bindgen!({ path: "../plugins/bench-wit", world: "list-transform" });
}
use list::PlainRecord;

mod entries {
    wasmtime::component::bindgen!({ path: "../plugins/bench-wit", world: "entries" });
}
use entries::{OptionalEntry, TypedEntry};

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn dist(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/dist")
        .join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} missing: run `make plugins-rust`",
        p.display()
    );
    p
}

/// A JSON order padded to about `size` bytes.
fn value(i: usize, size: usize) -> Vec<u8> {
    let head = format!(r#"{{"id":{i},"email":"user{i}@example.com","country":"DE","pad":""#);
    let pad = size.saturating_sub(head.len() + 2);
    let mut v = head.into_bytes();
    v.extend(std::iter::repeat_n(b'x', pad));
    v.extend_from_slice(b"\"}");
    v
}

fn batch(n: usize, size: usize) -> Batch {
    let mut b = Batch::default();
    for i in 0..n {
        let key = i.to_string();
        b.push(
            Some(key.as_bytes()),
            Some(&value(i, size)),
            &[("source", b"bench")],
        )
        .expect("a small batch");
    }
    b
}

fn native_mask(b: &Batch) -> Batch {
    let mut out = Batch::with_capacity(b.len(), b.arena.len());
    for r in b.iter() {
        let mut v: serde_json::Value =
            serde_json::from_slice(r.value().unwrap_or_default()).unwrap_or_default();
        if let Some(f) = v.get_mut("email") {
            *f = serde_json::Value::String("***".into());
        }
        let bytes = serde_json::to_vec(&v).unwrap_or_default();
        let headers: Vec<(&str, &[u8])> = r
            .headers()
            .map(|(n, v)| (n, v.unwrap_or_default()))
            .collect();
        out.push(r.key(), Some(&bytes), &headers)
            .expect("a small batch");
    }
    out
}

fn native_passthrough(b: &Batch) -> Batch {
    let mut out = Batch::with_capacity(b.len(), b.arena.len());
    for r in b.iter() {
        out.push_ref(&r).expect("a small batch");
    }
    out
}

fn to_plain(b: &Batch) -> Vec<PlainRecord> {
    b.iter()
        .map(|r| PlainRecord {
            key: r.key().map(<[u8]>::to_vec),
            value: r.value().map(<[u8]>::to_vec),
            headers: r
                .headers()
                .map(|(n, v)| (n.to_string(), v.unwrap_or_default().to_vec()))
                .collect(),
        })
        .collect()
}

/// This thread's CPU time: unlike wall time, it does not count the time other
/// processes had the core, so a busy machine disturbs the result less.
fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `f` over batches for about `budget` of CPU in all; returns CPU ns
/// per record, the best of three rounds (other work on a shared machine
/// only ever adds time).
///
/// Reading the thread's CPU clock is a system call (≈ 0.7 µs here), so the
/// clock is read once per group of calls covering at least 1024 records,
/// not once per call.
fn measure(records_per_call: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let per_group = 1024usize.div_ceil(records_per_call).max(1) as u64;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = cpu_now();
        let mut calls = 0u64;
        while cpu_now() - start < budget / 3 || calls < 5 {
            for _ in 0..per_group {
                f();
            }
            calls += per_group;
        }
        let ns = (cpu_now() - start).as_nanos() as f64 / (calls as f64 * records_per_call as f64);
        best = best.min(ns);
    }
    best
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400),
    );
    let runtime = Runtime::new(None).expect("runtime");
    let open = |name: &str, cfg: &[(&str, &str)]| {
        let p = runtime
            .load(&dist(name), PluginKind::Transform)
            .expect("load");
        let cfg = cfg
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TransformInstance::open(&p, cfg, Limits::default(), name).expect("open")
    };
    let mut arena_pass = open("passthrough", &[]);
    let mut arena_mask = open("mask", &[("field", "email")]);

    let engine = Engine::default();
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
    let list_instance = |name: &str| {
        let component = Component::from_file(&engine, dist(name)).expect("compile");
        let mut store = Store::new(
            &engine,
            State {
                wasi: WasiCtxBuilder::new().build(),
                table: ResourceTable::new(),
            },
        );
        let bindings =
            list::ListTransform::instantiate(&mut store, &component, &linker).expect("instantiate");
        (store, bindings)
    };
    let (mut pass_store, pass_list) = list_instance("bench-list-passthrough");
    let (mut mask_store, mask_list) = list_instance("bench-list-mask");
    let entries_component =
        Component::from_file(&engine, dist("bench-entries")).expect("compile bench-entries");
    let mut entries_store = Store::new(
        &engine,
        State {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
        },
    );
    let echo = entries::Entries::instantiate(&mut entries_store, &entries_component, &linker)
        .expect("instantiate bench-entries");

    println!("| transform | shape | batch | value | CPU ns/record | records/CPU-s |");
    println!("|---|---|---:|---:|---:|---:|");
    for size in [100usize, 1024] {
        for n in [1usize, 64, 1024] {
            let input = batch(n, size);
            let mut rows: Vec<(&str, &str, f64)> = Vec::new();
            rows.push((
                "passthrough",
                "native Rust",
                measure(n, budget, || {
                    std::hint::black_box(native_passthrough(&input));
                }),
            ));
            let mut slot = Some(input.clone());
            rows.push((
                "passthrough",
                "wasm arena",
                measure(n, budget, || {
                    let (back, out) = arena_pass.process(slot.take().unwrap_or_default());
                    std::hint::black_box(out.expect("process"));
                    slot = Some(back);
                }),
            ));
            rows.push((
                "passthrough",
                "wasm list<record>",
                measure(n, budget, || {
                    let plain = to_plain(&input);
                    std::hint::black_box(
                        pass_list
                            .call_process(&mut pass_store, &plain)
                            .expect("call"),
                    );
                }),
            ));
            rows.push((
                "mask",
                "native Rust",
                measure(n, budget, || {
                    std::hint::black_box(native_mask(&input));
                }),
            ));
            rows.push((
                "mask",
                "wasm arena",
                measure(n, budget, || {
                    let (back, out) = arena_mask.process(slot.take().unwrap_or_default());
                    std::hint::black_box(out.expect("process"));
                    slot = Some(back);
                }),
            ));
            rows.push((
                "mask",
                "wasm list<record>",
                measure(n, budget, || {
                    let plain = to_plain(&input);
                    std::hint::black_box(
                        mask_list
                            .call_process(&mut mask_store, &plain)
                            .expect("call"),
                    );
                }),
            ));
            for (t, shape, ns) in rows {
                println!(
                    "| {t} | {shape} | {n} | {size} B | {ns:.0} | {:.0} |",
                    1e9 / ns
                );
            }
        }
    }

    // The crossing alone: the guest returns its input, so what is timed is
    // lowering the arena and entries into it and lifting them back.
    println!();
    println!("Crossing alone (the guest returns its input), 100 B values, CPU ns per record:");
    println!();
    println!(
        "| batch | flat `u32` words (the contract) | typed scalar entries | entries with `option`s |"
    );
    println!("|---:|---:|---:|---:|");
    for n in [64usize, 1024] {
        let input = batch(n, 100);
        let typed: Vec<TypedEntry> = input
            .records
            .as_chunks::<12>()
            .0
            .iter()
            .map(|w| TypedEntry {
                flags: w[0],
                key_offset: w[1],
                key_len: w[2],
                value_offset: w[3],
                value_len: w[4],
                headers_start: w[5],
                headers_len: w[6],
                timestamp_low: w[7],
                timestamp_high: w[8],
                topic_offset: w[9],
                topic_len: w[10],
                partition: w[11],
            })
            .collect();
        let optional: Vec<OptionalEntry> = (0..n)
            .map(|i| {
                let e = input.entry(i).unwrap();
                let span = |s: Option<sluice::record::Span>| s.map(|s| (s.offset, s.len));
                OptionalEntry {
                    key: span(e.key),
                    value: span(e.value),
                    headers_start: e.headers_start,
                    headers_len: e.headers_len,
                    timestamp_ms: e.timestamp_ms,
                    topic: span(e.topic),
                    partition: e.partition,
                }
            })
            .collect();
        let words = measure(n, budget, || {
            std::hint::black_box(
                echo.call_echo_words(&mut entries_store, &input.arena, &input.records)
                    .expect("echo-words"),
            );
        });
        let typed = measure(n, budget, || {
            std::hint::black_box(
                echo.call_echo_typed(&mut entries_store, &input.arena, &typed)
                    .expect("echo-typed"),
            );
        });
        let optional = measure(n, budget, || {
            std::hint::black_box(
                echo.call_echo_optional(&mut entries_store, &input.arena, &optional)
                    .expect("echo-optional"),
            );
        });
        println!("| {n} | {words:.0} | {typed:.0} | {optional:.0} |");
    }
}
