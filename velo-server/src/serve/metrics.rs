//! The Prometheus recorder of `serve`: installed once, before any job creates
//! its counters, with histogram buckets sized for per-batch and per-record
//! latencies, and a description (`# HELP`) for every metric Velo records.
//!
//! Metrics are labelled by the job's *name* (its sink, as in `run`), not by its
//! server-side id: running the same app again continues the same series, and
//! the number of series is bounded by the distinct job names, not by how many
//! jobs were ever submitted (the exporter has no way to drop a series but an
//! idle timeout, which would also drop the series of a live job that is quiet).

use std::time::{SystemTime, UNIX_EPOCH};

use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::Failure;
use crate::processor::{JOB_METRICS, NO_WATERMARK};

use super::jobs::{JobState, Registry};

/// Upper bounds of the latency histograms' buckets, in seconds: 1 us to 1 s,
/// three per decade. A batch of 1024 simple rows takes tens to hundreds of
/// microseconds, one record well under a microsecond to a few; the tail of a
/// stalled partition reaches milliseconds. Observations past 1 s land in `+Inf`.
pub const LATENCY_BUCKETS: [f64; 19] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
    5e-2, 0.1, 0.25, 0.5, 1.0,
];

/// Gauge: processing time minus the partition's watermark, set at each scrape.
pub const WATERMARK_LAG_METRIC: &str = "velo_partition_watermark_lag_ms";
/// Gauge: jobs the server holds, by `state`.
pub const JOBS_METRIC: &str = "velo_jobs";
/// Counter: jobs submitted (over HTTP or with `--app`).
pub const JOBS_SUBMITTED_METRIC: &str = "velo_jobs_submitted_total";
/// Counter: jobs that ended in the `failed` state.
pub const JOBS_FAILED_METRIC: &str = "velo_jobs_failed_total";

/// A recorder configured like the one `serve` installs, not installed.
pub fn builder() -> Result<PrometheusBuilder, Failure> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), &LATENCY_BUCKETS)
        .map_err(|e| Failure::Internal(format!("metrics buckets: {e}")))
}

/// Installs the global recorder and describes every metric. Call it before
/// anything creates a counter: handles made earlier go to the no-op recorder.
pub fn install() -> Result<PrometheusHandle, Failure> {
    let handle = builder()?
        .install_recorder()
        .map_err(|e| Failure::Internal(format!("cannot install the metrics recorder: {e}")))?;
    describe();
    Ok(handle)
}

/// `# HELP` text and units for every metric the engine, the partitions and the
/// server record.
fn describe() {
    let job_help = [
        "Records read from the job's source (SPEC 4: in = processed + filtered + late_dropped + failed).",
        "Records reflected in the output or the query state (late records processed included).",
        "Records dropped by WHERE.",
        "Late records (event time below the watermark), whatever late.data.strategy did with them.",
        "Late records set aside: dropped, or dead-lettered under late.data.strategy = dead_letter.",
        "Records rejected by the reader or failing in evaluation.",
        "Rows accepted by the job's sink.",
        "Failed records written to the dlq.sink.",
    ];
    for (name, help) in JOB_METRICS.into_iter().zip(job_help) {
        metrics::describe_counter!(name, Unit::Count, help);
    }
    metrics::describe_counter!(
        "velo_partition_records_in_total",
        Unit::Count,
        "Records a V2 partition worker took from its queue."
    );
    metrics::describe_counter!(
        "velo_partition_records_out_total",
        Unit::Count,
        "Rows a V2 partition worker produced for the job's sink."
    );
    metrics::describe_histogram!(
        "velo_partition_batch_latency_seconds",
        Unit::Seconds,
        "Time a V2 partition worker spent on one message (a batch, a watermark or the end of input), handing its output to the sink included."
    );
    metrics::describe_gauge!(
        "velo_partition_watermark_ms",
        Unit::Milliseconds,
        "The last watermark a V2 partition applied, epoch milliseconds."
    );
    metrics::describe_gauge!(
        WATERMARK_LAG_METRIC,
        Unit::Milliseconds,
        "Wall-clock time minus the partition's watermark, at scrape time (running jobs only)."
    );
    metrics::describe_gauge!(
        velo_partition::QUEUE_DEPTH_METRIC,
        Unit::Count,
        "Messages (batches, watermarks) waiting in a partition's input queue."
    );
    metrics::describe_gauge!(
        velo_partition::QUEUE_UTILISATION_METRIC,
        "Queue depth / capacity, 0 to 1."
    );
    metrics::describe_gauge!(
        velo_partition::BACKPRESSURE_STATE_METRIC,
        "Backpressure state of a partition's queue: 0 healthy (<70% full), 1 warning (<85%), 2 critical (<95%), 3 saturated."
    );
    metrics::describe_gauge!(
        "velo_join_rows",
        Unit::Count,
        "Rows a job's joins hold, by side: `table` for its stream-table joins' tables (one copy per job, read by every partition); `left` and `right`, per partition, for a join of two streams."
    );
    metrics::describe_gauge!(JOBS_METRIC, Unit::Count, "Jobs the server holds, by state.");
    metrics::describe_counter!(
        JOBS_SUBMITTED_METRIC,
        Unit::Count,
        "Jobs submitted since the server started."
    );
    metrics::describe_counter!(
        JOBS_FAILED_METRIC,
        Unit::Count,
        "Jobs that failed since the server started."
    );
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Sets the gauges that are computed rather than recorded (job counts by state,
/// watermark lag), then renders the exposition text.
pub fn render(handle: &PrometheusHandle, registry: &Registry) -> String {
    let now = now_ms();
    let mut by_state = [0u32; JobState::ALL.len()];
    for job in registry.list() {
        let state = job.state();
        by_state[state as usize] += 1;
        if state.is_terminal() {
            continue;
        }
        for (p, status) in job.counters.partition_statuses().iter().enumerate() {
            let wm = status.watermark.load(std::sync::atomic::Ordering::Relaxed);
            if wm != NO_WATERMARK {
                let labels = [("job", job.name.clone()), ("partition", p.to_string())];
                metrics::gauge!(WATERMARK_LAG_METRIC, &labels).set(now.saturating_sub(wm) as f64);
            }
        }
    }
    for (state, n) in JobState::ALL.iter().zip(by_state) {
        metrics::gauge!(JOBS_METRIC, "state" => state.as_str()).set(f64::from(n));
    }
    handle.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_histograms_get_microsecond_buckets() {
        let recorder = builder().unwrap().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("velo_partition_batch_latency_seconds", "job" => "j", "partition" => "0")
                .record(3e-6);
        });
        let text = handle.render();
        assert!(
            text.contains(
                r#"velo_partition_batch_latency_seconds_bucket{job="j",partition="0",le="0.000005"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"velo_partition_batch_latency_seconds_bucket{job="j",partition="0",le="0.0000025"} 0"#
            ),
            "{text}"
        );
    }
}
