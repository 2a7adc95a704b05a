//! `velo-server`: runs, checks, explains and serves Velo SQL apps (SPEC §1).
//!
//! Exit codes: 0 success (`--help` and `--version` included), 1 a user error
//! (bad SQL, a missing file, bad input, a bad command line), 2 an internal
//! error. No panic reaches the user: a panic is caught, reported as an
//! internal error and exits 2.
//!
//! What the library reports goes through `tracing`; this binary installs the
//! subscriber ([`velo_server::logging`]): `RUST_LOG` filters, `--log-format`
//! of `run` and `serve` picks text (the default) or JSON lines on stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::builder::RangedU64ValueParser;
use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc: batches are allocated on one thread and freed on another in V2, and
/// window state churns through many small allocations; glibc's allocator spent a
/// measurable share of the time in page faults and arena locks there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use velo_server::app::{Failure, LoadedApp};
use velo_server::logging::{self, LogFormat};
use velo_server::processor::{self, JobProcessor, Placement, RunOptions, V1Processor, V2Processor};
use velo_server::serve::{self, api::DEFAULT_MAX_BODY_BYTES, ServeOptions};
use velo_server::{explain, progress};

/// The most V2 partition workers per job (`--partitions`). Each is a thread
/// with its own queue, query state and metric series; past the cores they
/// only take turns, and 1024 is far past any machine Velo is run on, while
/// tens of thousands of threads exhaust the process's limits.
const MAX_PARTITIONS: u64 = 1024;

/// The most rows per input batch (`--batch-size`). A reader allocates a
/// batch's columns up front (24 bytes a value), and V2's queues hold up to 64
/// messages each: at 64 Ki rows a 10-column source's batch is 15 MiB, and a
/// full pipeline about 1 GiB, while per-batch costs are already spread thin at
/// the default 1024.
const MAX_BATCH_SIZE: u64 = 65_536;

/// The largest `--max-body-bytes`: 1 GiB (a body is read whole into memory).
const MAX_BODY_BYTES: u64 = 1 << 30;

fn partitions_parser() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=MAX_PARTITIONS)
}

fn batch_size_parser() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=MAX_BATCH_SIZE)
}

fn body_bytes_parser() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=MAX_BODY_BYTES)
}

#[derive(Debug, Parser)]
#[command(name = "velo-server", version, about = "Velo streaming SQL engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Processor {
    /// One thread per job: the reference.
    V1,
    /// Hash-partitioned across N partition workers (the default).
    V2,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExplainFormat {
    Text,
    Json,
}

/// `--log-format`: how `run` and `serve` write their messages on stderr.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum LogFormatArg {
    /// Messages as lines of text (`warning: ...`), no timestamps.
    #[default]
    Text,
    /// One JSON object per event: timestamp, level, message, fields.
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(f: LogFormatArg) -> LogFormat {
        match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every job of the app until its sources are exhausted.
    Run {
        app: PathBuf,
        #[arg(long, value_enum, default_value = "v2")]
        processor: Processor,
        /// Partition workers for V2, 1 to 1024 (default: number of CPU cores).
        #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = partitions_parser())]
        partitions: Option<usize>,
        /// Partitioning strategy for V2 (default: auto).
        #[arg(long, default_value = "auto")]
        strategy: String,
        /// Where V2 runs partition 0: on its own thread (dedicated), on the
        /// router's (compact), or auto: compact on a machine of at most 4 cores
        /// with fewer cores than the router and the N workers.
        #[arg(long, default_value = "auto")]
        placement: String,
        /// Rows per input batch, 1 to 65536.
        #[arg(long, value_name = "N", default_value_t = 1024, allow_negative_numbers = true, value_parser = batch_size_parser())]
        batch_size: usize,
        /// How messages are written on stderr (filtered by RUST_LOG).
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormatArg,
        /// Where the jobs' checkpoints live (default: .velo-state/ beside the
        /// app file).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Discard the jobs' checkpoints and start from the beginning.
        #[arg(long)]
        fresh: bool,
        /// Threads that decode a CSV or JSON lines file, or generate a Nexmark
        /// source, in parallel, 1 to 64 (default: 1 with V1, one per core up
        /// to 8 with V2); the rows are the same.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
        readers: Option<u64>,
    },
    /// Parse and plan the app; print nothing but errors and warnings.
    Check { app: PathBuf },
    /// Show each job's plan.
    Explain {
        app: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
    },
    /// Long-running server: HTTP API, Prometheus metrics, jobs submitted over
    /// HTTP or with --app.
    Serve {
        /// host:port to listen on; port 0 picks a free one (printed on stderr).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        /// An app to deploy at start (relative paths in it resolve against its folder).
        #[arg(long)]
        app: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "v2")]
        processor: Processor,
        /// Partition workers per job for V2, 1 to 1024 (default: number of CPU cores).
        #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = partitions_parser())]
        partitions: Option<usize>,
        /// Where V2 runs partition 0 (see `run --help`).
        #[arg(long, default_value = "auto")]
        placement: String,
        /// Rows per input batch, 1 to 65536.
        #[arg(long, value_name = "N", default_value_t = 1024, allow_negative_numbers = true, value_parser = batch_size_parser())]
        batch_size: usize,
        /// The largest request body (an app's SQL) accepted; larger ones get 413.
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES, allow_negative_numbers = true, value_parser = body_bytes_parser())]
        max_body_bytes: usize,
        /// Where jobs keep their checkpoints (default: .velo-state/ beside
        /// --app, else in the current folder).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// How messages are written on stderr (filtered by RUST_LOG).
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormatArg,
    },
}

impl Command {
    fn log_format(&self) -> LogFormat {
        match self {
            Command::Run { log_format, .. } | Command::Serve { log_format, .. } => {
                (*log_format).into()
            }
            Command::Check { .. } | Command::Explain { .. } => LogFormat::Text,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's message; `--help` and `--version` go to stdout and exit
            // 0, a bad command line is a user error (SPEC §1 keeps 2 for
            // internal errors, clap's own code for it).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let format = cli.command.log_format();
    logging::init(format);
    std::panic::set_hook(Box::new(move |info| {
        report(format, &format!("internal error: {info}"));
    }));
    match std::panic::catch_unwind(|| execute(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(Failure::User(msg))) => {
            report(format, &msg);
            ExitCode::from(1)
        }
        Ok(Err(Failure::Internal(msg))) => {
            report(format, &format!("internal error: {msg}"));
            ExitCode::from(2)
        }
        Err(_) => ExitCode::from(2),
    }
}

/// The final error: as it is in the text form (whatever `RUST_LOG` says), an
/// `error` event in the JSON form.
fn report(format: LogFormat, msg: &str) {
    match format {
        LogFormat::Text => eprintln!("{msg}"),
        LogFormat::Json => {
            tracing::error!("{}", msg.strip_prefix("error: ").unwrap_or(msg));
        }
    }
}

/// `.velo-state/` beside the app file (SPEC §4).
fn default_state_dir(app: &std::path::Path) -> PathBuf {
    app.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .join(".velo-state")
}

fn execute(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run {
            app,
            processor,
            partitions,
            strategy,
            placement,
            batch_size,
            log_format,
            state_dir,
            fresh,
            readers,
        } => {
            let placement = parse_placement(&placement)?;
            let strategy = match strategy.as_str() {
                "auto" => None,
                name => Some(velo_partition::StrategyKind::parse(name).ok_or_else(|| {
                    Failure::User(format!(
                        "error: unknown --strategy '{name}': expected auto, always_hash, smart_repartition, sticky_partition, round_robin or fan_in"
                    ))
                })?),
            };
            let loaded = LoadedApp::load(&app)?;
            loaded.require_environment()?;
            let options = RunOptions {
                batch_size,
                // The progress line is for a person at a terminal; JSON lines
                // are for a machine, which it would only get in the way of.
                progress: progress::stderr_is_terminal()
                    && matches!(log_format, LogFormatArg::Text),
                stop: processor::stop_on_signal(),
                state_dir: Some(state_dir.unwrap_or_else(|| default_state_dir(&app))),
                fresh,
                readers: readers.map_or_else(
                    || processor::default_readers(matches!(processor, Processor::V2)),
                    |n| n as usize,
                ),
            };
            match processor {
                Processor::V1 => processor::run_app(&V1Processor, &loaded, &options),
                Processor::V2 => {
                    let mut v2 = V2Processor::with_default_partitions();
                    if let Some(n) = partitions {
                        v2.partitions = n;
                    }
                    v2.strategy = strategy;
                    v2.placement = placement;
                    processor::run_app(&v2, &loaded, &options)
                }
            }
        }
        Command::Check { app } => {
            let loaded = LoadedApp::load(&app)?;
            loaded.check(|warning| eprintln!("{warning}"))
        }
        Command::Explain { app, format } => {
            let loaded = LoadedApp::load(&app)?;
            let text = match format {
                ExplainFormat::Text => explain::text(&loaded.plan),
                ExplainFormat::Json => explain::json(&loaded.plan),
            };
            // A reader that stops early (`explain app.sql | head`) is not an error.
            use std::io::Write;
            match writeln!(std::io::stdout().lock(), "{text}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Internal(
                    format!("cannot write the plan to stdout: {e}"),
                )),
                _ => Ok(()),
            }
        }
        Command::Serve {
            bind,
            app,
            processor,
            partitions,
            placement,
            batch_size,
            max_body_bytes,
            state_dir,
            log_format: _,
        } => {
            let state_dir = state_dir.unwrap_or_else(|| match &app {
                Some(app) => default_state_dir(app),
                None => PathBuf::from(".velo-state"),
            });
            let placement = parse_placement(&placement)?;
            let processor: Arc<dyn JobProcessor + Send> = match processor {
                Processor::V1 => Arc::new(V1Processor),
                Processor::V2 => {
                    let mut v2 = V2Processor::with_default_partitions();
                    if let Some(n) = partitions {
                        v2.partitions = n;
                    }
                    v2.placement = placement;
                    Arc::new(v2)
                }
            };
            serve::serve(ServeOptions {
                bind,
                app,
                processor,
                batch_size,
                max_body_bytes,
                state_dir,
            })
        }
    }
}

/// `--placement`: a user error (exit 1) when unknown, like `--strategy`.
fn parse_placement(name: &str) -> Result<Placement, Failure> {
    name.parse().map_err(|_| {
        Failure::User(format!(
            "error: unknown --placement '{name}': expected auto, dedicated or compact"
        ))
    })
}
