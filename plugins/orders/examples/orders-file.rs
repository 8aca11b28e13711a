//! Writes the `orders` source's values to stdout, one per line: the very bytes
//! the plugin produces for the same `seed` and `value_bytes`, so that the
//! benchmark scripts can feed other producers (kcat, Kafka's
//! `ProducerPerformance`, Kafka Connect's `FileStreamSource`) the records
//! Sluice generates.
//!
//! ```text
//! cd plugins && cargo run --release --target x86_64-unknown-linux-gnu \
//!     -p orders --example orders-file -- --count 1000000 [--seed 42] \
//!     [--value-bytes 0] [--key] > orders.txt
//! ```
//!
//! `--key` starts each line with the id and a tab (`kcat -K '\t'`): the key a
//! pipeline with `key: id` derives from the value.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

#[path = "../src/generate.rs"]
#[allow(dead_code)] // the example uses only part of the generator
mod generate;

use generate::{MAX_VALUE_BYTES, write_order_padded};

const USAGE: &str =
    "usage: orders-file --count N [--seed S] [--value-bytes B] [--key] (writes to stdout)";

struct Args {
    count: u64,
    seed: u64,
    value_bytes: u64,
    key: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 0,
        seed: 42,
        value_bytes: 0,
        key: false,
    };
    let mut count = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name} must be a whole number, got `{v}`"))
        };
        match arg.as_str() {
            "--count" => count = Some(number("--count")?),
            "--seed" => args.seed = number("--seed")?,
            "--value-bytes" => args.value_bytes = number("--value-bytes")?,
            "--key" => args.key = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    args.count = count.ok_or("--count is required")?;
    if args.value_bytes > MAX_VALUE_BYTES {
        return Err(format!("--value-bytes must be at most {MAX_VALUE_BYTES}"));
    }
    Ok(args)
}

fn write_all(args: &Args) -> io::Result<()> {
    let value_bytes = usize::try_from(args.value_bytes).unwrap_or(usize::MAX);
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut line = Vec::with_capacity(value_bytes.max(256));
    let mut digits = itoa::Buffer::new();
    for id in 1..=args.count {
        line.clear();
        if args.key {
            line.extend_from_slice(digits.format(id).as_bytes());
            line.push(b'\t');
        }
        write_order_padded(args.seed, id, value_bytes, |piece| {
            line.extend_from_slice(piece)
        });
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("orders-file: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match write_all(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orders-file: cannot write the records: {e}");
            ExitCode::FAILURE
        }
    }
}
