//! What stopping runaway plugins costs and how fast it is (issue 7).
//!
//! 1. Interruption: the time from an infinite loop's start (a call into
//!    `plugins/testing/hostile-loop`) to the host getting control back, with
//!    default limits, p50/p99/max over 100 runs, for batches of 512 records
//!    (the default batch size) and 4096 (where the default deadline scales up).
//! 2. Throughput cost of the deadline (epoch interruption, checked on every
//!    loop back-edge and function entry) and of fuel metering: records per
//!    CPU-second through the passthrough, mask and JavaScript mask plugins,
//!    with deadlines off, on (the default), and on with fuel.
//!
//! Prints two tables. Run: `cargo bench -p sluice --bench interrupt` after
//! `make plugins` (`BENCH_MS` sets the time per throughput cell, default 3000;
//! `BENCH_RUNS` the interruption runs, default 100).

// A benchmark stops at the first failure, with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sluice::plugin::{Limits, PluginKind, Runtime, RuntimeOptions, TransformInstance};
use sluice::record::Batch;

fn dist(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/dist")
        .join(format!("{name}.wasm"));
    assert!(p.is_file(), "{} missing: run `make plugins`", p.display());
    p
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` JSON orders of about 100 bytes.
fn batch(n: usize) -> Batch {
    let mut b = Batch::default();
    for i in 0..n {
        let value = format!(
            r#"{{"id":{i},"customer":"ana","email":"user{i}@example.com","amount_cents":1234,"country":"DE"}}"#
        );
        b.push(Some(i.to_string().as_bytes()), Some(value.as_bytes()), &[])
            .expect("a small batch");
    }
    b
}

fn open(
    runtime: &Runtime,
    name: &str,
    config: &[(&str, &str)],
    limits: Limits,
) -> TransformInstance {
    let plugin = runtime
        .load(&dist(name), PluginKind::Transform)
        .expect("load");
    let config = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TransformInstance::open(&plugin, config, limits, name).expect("open")
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// CPU time used by this thread so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The 1-minute load average, to read the figures against (deadlines count
/// CPU time: on a busy machine a looping call takes longer in wall-clock time,
/// up to 4× its deadline).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Times `runs` calls of the looping plugin, each on a fresh instance (opened
/// outside the timing), from the call to its error: wall-clock and CPU time.
fn interruption(runtime: &Runtime, records: usize, runs: u64) -> (Vec<Duration>, Vec<Duration>) {
    let input = batch(records);
    let plugin = runtime
        .load(&dist("hostile-loop"), PluginKind::Transform)
        .expect("load");
    let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..runs)
        .map(|_| {
            let mut t = TransformInstance::open(&plugin, Vec::new(), Limits::default(), "loop")
                .expect("open");
            let batch = input.clone();
            let (started, cpu_started) = (Instant::now(), thread_cpu());
            let (_, result) = t.process(batch);
            let took = (started.elapsed(), thread_cpu() - cpu_started);
            let err = result.expect_err("the loop is interrupted").to_string();
            assert!(err.contains("(limits.call_timeout_ms)"), "{err}");
            took
        })
        .unzip();
    wall.sort();
    cpu.sort();
    (wall, cpu)
}

/// Records per CPU-second through `t` over about `budget` of wall-clock
/// time. CPU time of this thread, not wall-clock time: the machine these
/// figures come from is shared, and other load only stretches wall-clock time.
fn throughput(t: &mut TransformInstance, input: &Batch, budget: Duration) -> f64 {
    let mut slot = Some(input.clone());
    let mut call = || {
        let (back, out) = t.process(slot.take().unwrap_or_default());
        std::hint::black_box(out.expect("process"));
        slot = Some(back);
    };
    for _ in 0..5 {
        call();
    }
    let (started, cpu_started) = (Instant::now(), thread_cpu());
    let mut calls = 0u64;
    while started.elapsed() < budget || calls < 5 {
        call();
        calls += 1;
    }
    (calls as f64 * input.len() as f64) / (thread_cpu() - cpu_started).as_secs_f64()
}

/// Rounds per throughput cell (see `main`).
const ROUNDS: u32 = 10;

fn main() {
    let runs = env_number("BENCH_RUNS", 100);
    let budget = Duration::from_millis(env_number("BENCH_MS", 3000));
    let with_deadlines = Runtime::new(None).expect("runtime");
    let without_deadlines = Runtime::with_options(RuntimeOptions {
        deadlines: false,
        ..RuntimeOptions::default()
    })
    .expect("runtime");

    println!(
        "## Interruption of an infinite loop (default limits, {runs} runs; target p99 <= 100 ms; load average {})\n",
        load_average()
    );
    println!("| batch | deadline | p50 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for records in [512usize, 4096] {
        let (wall, cpu) = interruption(&with_deadlines, records, runs);
        println!(
            "| {records} | {} ms | {} | {} | {} | {} | {} |",
            Limits::default().call_deadline(records).as_millis(),
            ms(quantile(&wall, 0.5)),
            ms(quantile(&wall, 0.99)),
            ms(wall[wall.len() - 1]),
            ms(quantile(&cpu, 0.5)),
            ms(quantile(&cpu, 0.99)),
        );
    }

    println!(
        "\n## Cost of the deadline and of fuel (512 records of ~100 B per call; load average {})\n",
        load_average()
    );
    println!(
        "| plugin | no deadline rec/CPU-s | deadline rec/CPU-s | deadline cost | deadline + fuel rec/CPU-s | fuel cost |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let input = batch(512);
    let generous = Limits {
        call_timeout: Some(Duration::from_secs(10)),
        ..Limits::default()
    };
    let fueled = Limits {
        fuel: Some(u64::MAX / 2),
        ..generous.clone()
    };
    let plugins: [(&str, &[(&str, &str)]); 3] = [
        ("passthrough", &[]),
        ("mask", &[("field", "email")]),
        ("mask-js", &[("field", "email")]),
    ];
    for (name, config) in plugins {
        let mut off = open(&without_deadlines, name, config, generous.clone());
        let mut on = open(&with_deadlines, name, config, generous.clone());
        let mut fuel = open(&with_deadlines, name, config, fueled.clone());
        // Interleave short rounds of the three and keep each one's best, so
        // other load on the machine (which only ever slows a round) hits all
        // alike and drops out.
        let (mut r_off, mut r_on, mut r_fuel) = (0.0f64, 0.0f64, 0.0f64);
        for _ in 0..ROUNDS {
            r_off = r_off.max(throughput(&mut off, &input, budget / ROUNDS));
            r_on = r_on.max(throughput(&mut on, &input, budget / ROUNDS));
            r_fuel = r_fuel.max(throughput(&mut fuel, &input, budget / ROUNDS));
        }
        let cost = |slow: f64| format!("{:+.1} %", (r_off / slow - 1.0) * 100.0);
        println!(
            "| {name} | {r_off:.0} | {r_on:.0} | {} | {r_fuel:.0} | {} |",
            cost(r_on),
            cost(r_fuel),
        );
    }
}
