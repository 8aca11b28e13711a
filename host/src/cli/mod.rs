//! Command-line interface: `run`, `check`, `test`, `inspect`, `new`.

/// `println!` for command output: when the reader of a pipe has gone
/// (`sluice test … | head`), the command ends quietly with success instead of
/// panicking on the next write.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))
    };
}

mod check;
mod inspect;
mod new;
mod test_cmd;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::events::EventFormat;
use crate::flow::FlowOptions;
use crate::supervisor::RunOptions;

/// Declarative data pipelines into Kafka, with WebAssembly component plugins.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Compile cache directory (default: $SLUICE_CACHE_DIR or ~/.cache/sluice).
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EventsArg {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run pipelines from files or directories of files.
    Run {
        /// Pipeline files (.yaml, .yml, .toml) or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Where source positions are stored.
        #[arg(long, default_value = ".sluice/state")]
        state_dir: PathBuf,
        /// Seconds to wait for acknowledgements when stopping.
        #[arg(long, default_value_t = 30)]
        grace_secs: u64,
        /// Seconds between progress events.
        #[arg(long, default_value_t = 5)]
        progress_secs: u64,
        /// Where to serve /healthz, /readyz, /metrics and /status: IP:PORT
        /// (port 0 picks a free one), or `off`. Loopback by default; a
        /// Kubernetes sidecar needs 0.0.0.0:9464 so kubelet and Prometheus
        /// reach it.
        #[arg(
            long,
            value_name = "ADDR",
            env = "SLUICE_HTTP",
            default_value = crate::http::DEFAULT_ADDR
        )]
        http: crate::http::Listen,
        /// How events (pipeline started, reloads, commits, stops…) are
        /// written to stdout: sentences, or one JSON object per line.
        #[arg(long, value_enum, default_value_t = EventsArg::Human)]
        events: EventsArg,
    },
    /// Validate pipeline files and load every plugin, without running.
    Check {
        /// Pipeline files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also ask each pipeline's Kafka cluster about its topic (replicas,
        /// min.insync.replicas) to confirm what `acks: all` guarantees.
        #[arg(long)]
        kafka: bool,
    },
    /// Run a plugin over sample records and compare with expected output.
    Test(test_cmd::TestArgs),
    /// Show a component's world, imports and exports.
    Inspect {
        /// The component file.
        plugin: PathBuf,
    },
    /// Scaffold a plugin project (transform or source) in a chosen language.
    New(new::NewArgs),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => {
            // Colours only for a terminal, not in log files or CI output.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder.with_target(false).with_ansi(ansi).init()
        }
        LogFormat::Json => builder.json().init(),
    }
}

fn cache_dir(arg: Option<PathBuf>) -> Option<PathBuf> {
    arg.or_else(crate::plugin::default_cache_dir)
}

/// Writes one line of command output (see `out!`).
pub(crate) fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // Nobody reads the rest: stop, as other command-line tools do.
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let cache = cache_dir(cli.cache_dir);
    let result = match cli.command {
        Command::Run {
            paths,
            state_dir,
            grace_secs,
            progress_secs,
            http,
            events,
        } => {
            let options = RunOptions {
                state_dir,
                cache_dir: cache,
                flow: FlowOptions {
                    grace: Duration::from_secs(grace_secs),
                    ..FlowOptions::default()
                },
                progress_every: Duration::from_secs(progress_secs.max(1)),
                http,
                events: match events {
                    EventsArg::Human => EventFormat::Human,
                    EventsArg::Json => EventFormat::Json,
                },
            };
            match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt
                    .block_on(crate::supervisor::run(&paths, options))
                    .map(|ok| {
                        if ok {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::from(1)
                        }
                    }),
                Err(e) => Err(e.into()),
            }
        }
        Command::Check { paths, kafka } => check::check(&paths, cache.as_deref(), kafka),
        Command::Test(args) => test_cmd::test(args, cache.as_deref()),
        Command::Inspect { plugin } => inspect::inspect(&plugin, cache.as_deref()),
        Command::New(args) => new::new(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
