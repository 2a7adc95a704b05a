//! `velo-server`: runs, checks, explains and serves Velo SQL apps (SPEC §1).
//!
//! Exit codes: 0 success, 1 a user error (bad SQL, a missing file, bad input),
//! 2 an internal error. No panic reaches the user: a panic is caught, reported
//! as an internal error and exits 2.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc: batches are allocated on one thread and freed on another in V2, and
/// window state churns through many small allocations; glibc's allocator spent a
/// measurable share of the time in page faults and arena locks there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use velo_server::app::{Failure, LoadedApp};
use velo_server::processor::{self, JobProcessor, Placement, RunOptions, V1Processor, V2Processor};
use velo_server::serve::{self, ServeOptions};
use velo_server::{explain, progress};

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every job of the app until its sources are exhausted.
    Run {
        app: PathBuf,
        #[arg(long, value_enum, default_value = "v2")]
        processor: Processor,
        /// Partition workers for V2 (default: number of CPU cores).
        #[arg(long)]
        partitions: Option<usize>,
        /// Partitioning strategy for V2 (default: auto).
        #[arg(long, default_value = "auto")]
        strategy: String,
        /// Where V2 runs partition 0: on its own thread (dedicated), on the
        /// router's (compact), or auto: compact on a machine of at most 4 cores
        /// with fewer cores than the router and the N workers.
        #[arg(long, default_value = "auto")]
        placement: String,
        /// Rows per input batch.
        #[arg(long, default_value_t = 1024)]
        batch_size: usize,
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
        /// Partition workers per job for V2 (default: number of CPU cores).
        #[arg(long)]
        partitions: Option<usize>,
        /// Where V2 runs partition 0 (see `run --help`).
        #[arg(long, default_value = "auto")]
        placement: String,
        /// Rows per input batch.
        #[arg(long, default_value_t = 1024)]
        batch_size: usize,
    },
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("internal error: {info}");
    }));
    let cli = Cli::parse();
    match std::panic::catch_unwind(|| execute(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(Failure::User(msg))) => {
            eprintln!("{msg}");
            ExitCode::from(1)
        }
        Ok(Err(Failure::Internal(msg))) => {
            eprintln!("internal error: {msg}");
            ExitCode::from(2)
        }
        Err(_) => ExitCode::from(2),
    }
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
            if partitions == Some(0) {
                return Err(Failure::User(
                    "error: --partitions must be at least 1".to_string(),
                ));
            }
            let loaded = LoadedApp::load(&app)?;
            loaded.require_environment()?;
            let options = RunOptions {
                batch_size: batch_size.max(1),
                progress: progress::stderr_is_terminal(),
                stop: processor::stop_on_signal(),
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
            println!("{text}");
            Ok(())
        }
        Command::Serve {
            bind,
            app,
            processor,
            partitions,
            placement,
            batch_size,
        } => {
            let placement = parse_placement(&placement)?;
            if partitions == Some(0) {
                return Err(Failure::User(
                    "error: --partitions must be at least 1".to_string(),
                ));
            }
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
                batch_size: batch_size.max(1),
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
