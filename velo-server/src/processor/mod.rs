//! Job processors: what runs a planned job from its source to its sink.
//!
//! [`JobProcessor`] is the boundary; [`V1Processor`] (one thread per job, the
//! reference) is behind it today, and the hash-partitioned V2 processor joins it
//! later. [`run_app`] runs every job of an app, each on its own thread, and
//! prints one summary line per job.

mod sink;
mod source;
mod v1;
pub mod v2;
pub mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use velo_planner::JobPlan;

use crate::app::{Failure, LoadedApp};
use crate::progress;
pub use v1::V1Processor;
pub use v2::V2Processor;

/// Options of `velo-server run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub batch_size: usize,
    /// Show a live progress line on stderr.
    pub progress: bool,
    /// Set on SIGINT / SIGTERM: jobs stop reading at the next batch boundary,
    /// flush what they hold and close their sinks.
    pub stop: Arc<AtomicBool>,
}

/// Starts a thread that sets the returned flag on SIGINT or SIGTERM.
pub fn stop_on_signal() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("velo-signals".to_string())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{signal, SignalKind};
                    let (Ok(mut int), Ok(mut term)) = (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                    ) else {
                        return;
                    };
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
                eprintln!("stopping: draining jobs (signal received)");
                flag.store(true, Ordering::SeqCst);
            });
        });
    if let Err(e) = spawned {
        eprintln!("warning: cannot watch for signals: {e}");
    }
    stop
}

/// Live counters of one job, shared with the progress line. Updated once per
/// batch, never per record.
#[derive(Debug, Default)]
pub struct JobCounters {
    pub read: AtomicU64,
    pub written: AtomicU64,
    pub filtered: AtomicU64,
    pub failed: AtomicU64,
    pub late: AtomicU64,
    /// One entry per V2 partition, set when the V2 processor starts.
    pub partitions: OnceLock<Vec<PartitionStatus>>,
}

/// The live state of one V2 partition.
#[derive(Debug, Default)]
pub struct PartitionStatus {
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    /// Messages waiting in the partition's queue.
    pub queue_depth: AtomicUsize,
    /// The queue's [`velo_partition::BackpressureState`] as its level (0..=3).
    pub backpressure: AtomicU8,
    /// The worst level seen since the job started.
    pub worst_backpressure: AtomicU8,
}

impl JobCounters {
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        let _ = self;
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> JobReport {
        JobReport {
            read: self.read.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            filtered: self.filtered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            elapsed: Duration::ZERO,
        }
    }
}

/// What a finished job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobReport {
    pub read: u64,
    pub written: u64,
    pub filtered: u64,
    pub failed: u64,
    pub late: u64,
    pub elapsed: Duration,
}

/// A current-thread runtime for one job thread: readers and writers are async at
/// their boundary but do blocking file IO, so each thread that drives them owns one.
pub(crate) fn job_runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Internal(format!("cannot start the runtime: {e}")))
}

/// Runs one planned job to completion.
pub trait JobProcessor: Sync {
    /// A short name for messages (`v1`, `v2`).
    fn name(&self) -> &'static str;

    /// Runs `job` until its source is exhausted, updating `counters` as it goes.
    fn run(
        &self,
        app: &LoadedApp,
        job: &JobPlan,
        options: &RunOptions,
        counters: &JobCounters,
    ) -> Result<(), Failure>;
}

/// Runs every job of the app concurrently, one thread each; the first failure
/// decides the exit code once every job has stopped.
pub fn run_app(
    processor: &dyn JobProcessor,
    app: &LoadedApp,
    options: &RunOptions,
) -> Result<(), Failure> {
    for job in &app.plan.jobs {
        for w in &job.warnings {
            eprintln!("warning: job '{}': {w}", job.name);
        }
    }
    let counters: Vec<Arc<JobCounters>> = app
        .plan
        .jobs
        .iter()
        .map(|_| Arc::new(JobCounters::default()))
        .collect();
    let start = Instant::now();
    let results: Vec<Result<Duration, Failure>> = std::thread::scope(|scope| {
        let progress = options
            .progress
            .then(|| progress::spawn(scope, &counters, start));
        let handles: Vec<_> = app
            .plan
            .jobs
            .iter()
            .zip(&counters)
            .map(|(job, c)| {
                scope.spawn(move || {
                    let t = Instant::now();
                    processor.run(app, job, options, c).map(|()| t.elapsed())
                })
            })
            .collect();
        let results = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Failure::Internal("a job thread panicked".to_string())))
            })
            .collect();
        if let Some(p) = progress {
            p.stop();
        }
        results
    });
    let mut first_failure = None;
    for ((job, c), result) in app.plan.jobs.iter().zip(&counters).zip(results) {
        let mut report = c.snapshot();
        match result {
            Ok(elapsed) => {
                report.elapsed = elapsed;
                eprintln!(
                    "{}",
                    progress::summary_line(&job.name, processor.name(), &report)
                );
            }
            Err(f) => {
                report.elapsed = start.elapsed();
                eprintln!(
                    "{} (failed)",
                    progress::summary_line(&job.name, processor.name(), &report)
                );
                first_failure.get_or_insert(f);
            }
        }
    }
    match first_failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}
