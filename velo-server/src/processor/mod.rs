//! Job processors: what runs a planned job from its source to its sink.
//!
//! [`JobProcessor`] is the boundary. Both processors are settings of one
//! [`runtime`]: [`V1Processor`] (one partition on the job's thread, the
//! reference) and [`V2Processor`] (N hash-partitioned workers). [`run_app`]
//! runs every job of an app, each on its own thread, and prints one summary
//! line per job.

pub mod checkpoint;
pub mod failures;
pub mod offsets;
pub mod runtime;
mod sink;
mod source;
mod two_streams;
mod v1;
pub mod v2;
pub mod worker;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use velo_planner::JobPlan;

use crate::app::{Failure, LoadedApp};
use crate::progress;
pub use v1::V1Processor;
pub use v2::{Placement, V2Processor};

/// Options of `velo-server run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub batch_size: usize,
    /// Show a live progress line on stderr.
    pub progress: bool,
    /// Set on SIGINT / SIGTERM: jobs stop reading at the next batch boundary,
    /// flush what they hold and close their sinks.
    pub stop: Arc<AtomicBool>,
    /// Where checkpoints live (`--state-dir`, by default `.velo-state/`
    /// beside the app file); `None`: no checkpoints.
    pub state_dir: Option<std::path::PathBuf>,
    /// `--fresh`: discard the jobs' checkpoints before starting.
    pub fresh: bool,
    /// `--readers`: threads that decode a source that can be split (a CSV
    /// file, the Nexmark generator) in parallel; 1: the job's thread alone.
    pub readers: usize,
}

/// The `--readers` default: for V1, 1 (the job's own thread does
/// everything); for V2, one decoding thread per core, at most 8. Readers
/// return their chunks in order, so the rows are the same whatever the count.
pub fn default_readers(partitioned: bool) -> usize {
    if !partitioned {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
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
                tracing::info!("stopping: draining jobs (signal received)");
                flag.store(true, Ordering::SeqCst);
            });
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for signals: {e}");
    }
    stop
}

/// Live counters of one job, shared with the progress line and the metrics.
/// Updated once per batch, never per record.
///
/// SPEC §4's accounting: every record read is processed (reflected in the output
/// or the query's state), filtered by WHERE, set aside as late (`late_dropped`:
/// dropped or dead-lettered; late records that are processed count as
/// processed), or failed (rejected by the reader or failing in evaluation):
/// `read == processed + filtered + late_dropped + failed` once the job has
/// stopped. `late` counts every late record, whatever its strategy did with it
/// (SPEC §4: "every late record is counted"), so `late >= late_dropped`.
#[derive(Debug, Default)]
pub struct JobCounters {
    pub read: AtomicU64,
    pub processed: AtomicU64,
    pub filtered: AtomicU64,
    /// Every late record: set aside or processed.
    pub late: AtomicU64,
    /// Late records set aside (dropped or dead-lettered).
    pub late_dropped: AtomicU64,
    pub failed: AtomicU64,
    /// Rows handed to the output sink and accepted by it.
    pub written: AtomicU64,
    /// Failed records written to the `dlq.sink`.
    pub dlq: AtomicU64,
    /// The query state's estimated size, summed over the job's partitions
    /// (the joined tables, held once per job, included).
    pub state_bytes: AtomicU64,
    /// Rows the job's joined tables hold (one copy, read by every partition).
    pub join_rows: AtomicU64,
    metrics: JobMetrics,
    /// One entry per partition (V1 has one), set when the runtime starts.
    pub partitions: OnceLock<Vec<PartitionStatus>>,
    /// The checkpoints taken (updated once per checkpoint).
    pub checkpoints: std::sync::Mutex<checkpoint::CheckpointStats>,
    /// Set to take a checkpoint at the next batch boundary, without waiting
    /// for the interval (`POST /jobs/{id}/checkpoint`).
    pub checkpoint_now: std::sync::atomic::AtomicBool,
    /// Set once the job takes checkpoints.
    pub checkpointing: std::sync::atomic::AtomicBool,
}

/// What [`JobCounters::add`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Read,
    Processed,
    Filtered,
    Late,
    LateDropped,
    Failed,
    Written,
    Dlq,
}

/// The job's `velo_job_records_*_total` counters, labelled `job`.
#[derive(Debug, Clone)]
struct JobMetrics {
    counters: [metrics::Counter; 8],
}

impl Default for JobMetrics {
    fn default() -> Self {
        JobMetrics {
            counters: std::array::from_fn(|_| metrics::Counter::noop()),
        }
    }
}

/// Metric names, in [`Count`] order.
pub const JOB_METRICS: [&str; 8] = [
    "velo_job_records_in_total",
    "velo_job_records_processed_total",
    "velo_job_records_filtered_total",
    "velo_job_records_late_total",
    "velo_job_records_late_dropped_total",
    "velo_job_records_failed_total",
    "velo_job_records_out_total",
    "velo_job_records_dlq_total",
];

/// The live state of one partition of the runtime.
#[derive(Debug)]
pub struct PartitionStatus {
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    /// Messages waiting in the partition's queue.
    pub queue_depth: AtomicUsize,
    /// The queue's [`velo_partition::BackpressureState`] as its level (0..=3).
    pub backpressure: AtomicU8,
    /// The worst level seen since the job started.
    pub worst_backpressure: AtomicU8,
    /// The last watermark the partition applied, epoch millis; [`NO_WATERMARK`]
    /// before the first.
    pub watermark: AtomicI64,
    /// Rows a join of two streams holds in this partition, per input (left,
    /// right); 0 for other jobs.
    pub join_rows: [AtomicU64; 2],
    /// How long the partition took over each message, as counts per bucket
    /// (the observations of `velo_partition_batch_latency_seconds`).
    pub latency: LatencyCounts,
}

/// A histogram without locks: one counter per bucket of
/// [`LATENCY_BUCKETS`](crate::serve::metrics::LATENCY_BUCKETS) and one past its
/// last bound, bumped once per message. Readers take [`LatencyCounts::snapshot`]
/// and difference two of them for a window (`serve` reports quantiles over the
/// last second).
#[derive(Debug, Default)]
pub struct LatencyCounts {
    buckets: [AtomicU64; LATENCY_SLOTS],
}

/// [`LatencyCounts`]' counters: the buckets, then `+Inf`.
pub const LATENCY_SLOTS: usize = crate::serve::metrics::LATENCY_BUCKETS.len() + 1;

impl LatencyCounts {
    /// Counts one observation of `seconds` in the first bucket whose upper
    /// bound is at least `seconds` (Prometheus' `le`).
    pub fn record(&self, seconds: f64) {
        let i = crate::serve::metrics::LATENCY_BUCKETS.partition_point(|b| *b < seconds);
        if let Some(slot) = self.buckets.get(i) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every bucket's count so far.
    pub fn snapshot(&self) -> [u64; LATENCY_SLOTS] {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }
}

/// [`PartitionStatus::watermark`] before any watermark arrived.
pub const NO_WATERMARK: i64 = i64::MIN;

impl Default for PartitionStatus {
    fn default() -> Self {
        PartitionStatus {
            records_in: AtomicU64::default(),
            records_out: AtomicU64::default(),
            queue_depth: AtomicUsize::default(),
            backpressure: AtomicU8::default(),
            worst_backpressure: AtomicU8::default(),
            watermark: AtomicI64::new(NO_WATERMARK),
            join_rows: Default::default(),
            latency: LatencyCounts::default(),
        }
    }
}

impl JobCounters {
    /// The partitions' statuses; none before the runtime starts (V1 has one).
    pub fn partition_statuses(&self) -> &[PartitionStatus] {
        self.partitions.get().map_or(&[], Vec::as_slice)
    }

    /// Counters for `job` that also feed its `velo_job_records_*_total` metrics
    /// in the installed recorder ([`JobCounters::default`] feeds none).
    pub fn for_job(job: &str) -> JobCounters {
        let labels = [("job", job.to_string())];
        JobCounters {
            metrics: JobMetrics {
                counters: JOB_METRICS.map(|name| metrics::counter!(name, &labels)),
            },
            ..JobCounters::default()
        }
    }

    pub fn add(&self, what: Count, n: u64) {
        if n == 0 {
            return;
        }
        let counter = match what {
            Count::Read => &self.read,
            Count::Processed => &self.processed,
            Count::Filtered => &self.filtered,
            Count::Late => &self.late,
            Count::LateDropped => &self.late_dropped,
            Count::Failed => &self.failed,
            Count::Written => &self.written,
            Count::Dlq => &self.dlq,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        self.metrics.counters[what as usize].increment(n);
    }

    pub fn snapshot(&self) -> JobReport {
        JobReport {
            read: self.read.load(Ordering::Relaxed),
            processed: self.processed.load(Ordering::Relaxed),
            filtered: self.filtered.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            late_dropped: self.late_dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            dlq: self.dlq.load(Ordering::Relaxed),
            elapsed: Duration::ZERO,
        }
    }
}

/// What a finished job did; also the `records` object of the HTTP API
/// (SPEC §4's accounting: `in = processed + filtered + late_dropped + failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct JobReport {
    #[serde(rename = "in")]
    pub read: u64,
    pub processed: u64,
    pub filtered: u64,
    /// Every late record, processed or set aside (`>= late_dropped`).
    pub late: u64,
    /// Late records set aside: dropped, or dead-lettered under `dead_letter`.
    pub late_dropped: u64,
    pub failed: u64,
    pub written: u64,
    pub dlq: u64,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl JobReport {
    /// `processed + filtered + late_dropped + failed`: equal to `read` once the
    /// job has stopped (SPEC §4: nothing is lost silently). Late records that
    /// were processed are in `processed`.
    pub fn accounted(&self) -> u64 {
        self.processed + self.filtered + self.late_dropped + self.failed
    }
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

/// Reports a job about to start: its planner warnings, and (debug) what it
/// reads and writes and how it is spread.
pub fn log_plan(job: &JobPlan, processor: &str, batch_size: usize) {
    for w in &job.warnings {
        tracing::warn!(job = %job.name, "job '{}': {w}", job.name);
    }
    tracing::debug!(
        job = %job.name,
        processor,
        source = %failures::source_label(job),
        sink = %job.sink.name,
        strategy = job.strategy.kind.name(),
        batch_size,
        "job '{}': {processor}, reads {} in batches of {batch_size}, writes sink '{}'; strategy {} ({}); failure_strategy {:?}",
        job.name,
        failures::source_label(job),
        job.sink.name,
        job.strategy.kind.name(),
        job.strategy.reason,
        job.config.failure_strategy,
    );
}

/// Runs every job of the app concurrently, one thread each; the first failure
/// decides the exit code once every job has stopped.
pub fn run_app(
    processor: &dyn JobProcessor,
    app: &LoadedApp,
    options: &RunOptions,
) -> Result<(), Failure> {
    for job in &app.plan.jobs {
        log_plan(job, processor.name(), options.batch_size);
    }
    let counters: Vec<Arc<JobCounters>> = app
        .plan
        .jobs
        .iter()
        .map(|job| Arc::new(JobCounters::for_job(&job.name)))
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
                std::thread::Builder::new()
                    .stack_size(velo_engine::THREAD_STACK_SIZE)
                    .spawn_scoped(scope, move || {
                        let t = Instant::now();
                        processor.run(app, job, options, c).map(|()| t.elapsed())
                    })
            })
            .collect();
        let results = handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(Failure::Internal("a job thread panicked".to_string()))
                }),
                Err(e) => Err(Failure::Internal(format!("cannot start a job thread: {e}"))),
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
                progress::log_summary(&job.name, &job.name, processor.name(), &report, false);
                let stats = c
                    .checkpoints
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(line) = stats.summary() {
                    tracing::info!(job = %job.name, "job '{}': {line}", job.name);
                }
            }
            Err(f) => {
                report.elapsed = start.elapsed();
                progress::log_summary(&job.name, &job.name, processor.name(), &report, true);
                first_failure.get_or_insert(f);
            }
        }
    }
    match first_failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}
