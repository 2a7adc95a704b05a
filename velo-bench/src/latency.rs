//! Pacing the input at a fixed rate and summarising per-record latencies.
//!
//! A paced run hands input batch `j` to the processor at its due time
//! `t0 + (records before batch j) / rate` (open loop: a batch that is late is sent
//! at once, and counted in [`LatencySummary::late_batches`]). Latency samples are
//! per input message (a batch, or a watermark for EMIT FINAL windows) and weighted
//! by the output rows that message produced, so the percentiles are per output
//! record. See [`crate::runner::run_v2_paced`] for what exactly is measured.

use std::time::{Duration, Instant};

use serde::Serialize;

/// A batch sent this much after its due time counts as late.
pub const LATE_AFTER: Duration = Duration::from_micros(50);

/// Below this much time left, the pacer yields in a loop instead of sleeping
/// (`thread::sleep` overshoots by tens of microseconds); the default of
/// [`Pacer::new`]'s `spin`.
pub const SPIN_BELOW: Duration = Duration::from_micros(300);

/// Hands out due times for a fixed record rate.
#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    rate: f64,
    records: u64,
    spin: Duration,
}

impl Pacer {
    /// `rate` in records per second; the schedule starts now. The last `spin`
    /// before each due time is spent yielding in a loop rather than sleeping.
    pub fn new(rate: f64, spin: Duration) -> Pacer {
        precise_sleep();
        Pacer {
            start: Instant::now(),
            rate: rate.max(1.0),
            records: 0,
            spin,
        }
    }

    /// Waits until the next batch of `rows` records is due, then returns how late
    /// it is (zero when on time).
    pub fn wait(&mut self, rows: usize) -> Duration {
        let due = self.start + Duration::from_secs_f64(self.records as f64 / self.rate);
        self.records += rows as u64;
        loop {
            let now = Instant::now();
            if now >= due {
                return now - due;
            }
            let left = due - now;
            if left > self.spin {
                std::thread::sleep(left - self.spin);
            } else {
                // Yield rather than spin: on a small machine the workers need the core.
                std::thread::yield_now();
            }
        }
    }
}

/// Makes `thread::sleep` on this thread wake within microseconds of its
/// deadline: Linux lets a sleeping thread's timer fire up to its "timer slack"
/// late (50 us by default) to batch wake-ups, which at 128-row batches would be
/// most of the gap between two batches. Elsewhere a no-op.
#[allow(unsafe_code)] // one libc call; see the SAFETY note
fn precise_sleep() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only changes the
    // calling thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// What a paced run measured.
#[derive(Debug, Clone, Default)]
pub struct LatencyRun {
    /// `(latency, weight)`: one per measured message, weighted by its output rows.
    pub samples: Vec<(Duration, u64)>,
    /// Whether each output batch was attributed to its input message exactly
    /// (always for V1; for V2 see [`crate::runner::run_v2_paced`]).
    pub exact: bool,
    /// Inexact attribution only: weight of the samples whose next producing
    /// message was sent before this one's output was complete.
    pub overlapped: u64,
    pub batches: u64,
    pub late_batches: u64,
    pub max_lateness: Duration,
    pub records: u64,
    pub rows_out: u64,
    pub elapsed: Duration,
}

/// Percentiles of a paced run, in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    /// The pacing rate, records per second.
    pub rate: f64,
    /// The rate actually achieved (records / elapsed).
    pub achieved_rate: f64,
    pub records: u64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// Measured messages (batches, or watermarks for EMIT FINAL windows).
    pub samples: usize,
    /// Output rows the percentiles are over.
    pub weight: u64,
    /// `exact` (each output batch matched to its input message), or `prefix` (the
    /// sink's running row count against the expected: see `overlapped_share`).
    pub attribution: &'static str,
    /// Prefix attribution only: share of the weight where a later message's
    /// output could have been counted as this one's.
    pub overlapped_share: f64,
    pub batches: u64,
    /// Batches handed over more than 50 us after their due time.
    pub late_batches: u64,
    pub max_lateness_us: f64,
    /// The p95 of every paced run of this configuration, in run order; the
    /// other fields are those of the run with the median p95.
    pub p95_us_runs: Vec<f64>,
}

impl LatencySummary {
    pub fn new(rate: f64, run: &LatencyRun) -> LatencySummary {
        let mut samples = run.samples.clone();
        samples.sort_by_key(|s| s.0);
        let weight: u64 = samples.iter().map(|s| s.1).sum();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let quantile = |q: f64| -> f64 {
            let target = (q * weight as f64).ceil().max(1.0) as u64;
            let mut acc = 0;
            for (d, w) in &samples {
                acc += w;
                if acc >= target {
                    return us(*d);
                }
            }
            samples.last().map_or(0.0, |s| us(s.0))
        };
        let mean = if weight == 0 {
            0.0
        } else {
            samples.iter().map(|(d, w)| us(*d) * *w as f64).sum::<f64>() / weight as f64
        };
        LatencySummary {
            rate,
            achieved_rate: run.records as f64 / run.elapsed.as_secs_f64().max(1e-9),
            records: run.records,
            p50_us: quantile(0.50),
            p95_us: quantile(0.95),
            p99_us: quantile(0.99),
            max_us: samples.last().map_or(0.0, |s| us(s.0)),
            mean_us: mean,
            samples: samples.len(),
            weight,
            attribution: if run.exact { "exact" } else { "prefix" },
            overlapped_share: if weight == 0 {
                0.0
            } else {
                run.overlapped as f64 / weight as f64
            },
            batches: run.batches,
            late_batches: run.late_batches,
            max_lateness_us: us(run.max_lateness),
            p95_us_runs: Vec::new(),
        }
    }

    /// The summary of the run with the median p95 (the lower middle one for an
    /// even count), with every run's p95 in `p95_us_runs`.
    pub fn median_of(mut runs: Vec<LatencySummary>) -> Option<LatencySummary> {
        let p95s: Vec<f64> = runs.iter().map(|s| s.p95_us).collect();
        runs.sort_by(|a, b| a.p95_us.total_cmp(&b.p95_us));
        let mut median = runs.into_iter().nth((p95s.len().max(1) - 1) / 2)?;
        median.p95_us_runs = p95s;
        Some(median)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_percentiles() {
        let ms = Duration::from_millis;
        let run = LatencyRun {
            // 90 rows at 1 ms, 9 at 2 ms, 1 at 10 ms.
            samples: vec![(ms(2), 9), (ms(1), 90), (ms(10), 1)],
            records: 100,
            elapsed: Duration::from_secs(1),
            ..LatencyRun::default()
        };
        let s = LatencySummary::new(100.0, &run);
        assert_eq!(s.p50_us, 1000.0);
        assert_eq!(s.p95_us, 2000.0);
        assert_eq!(s.p99_us, 2000.0);
        assert_eq!(s.max_us, 10000.0);
        assert_eq!(s.weight, 100);
    }

    #[test]
    fn median_of_runs_by_p95() {
        let run = |ms: u64| LatencyRun {
            samples: vec![(Duration::from_millis(ms), 1)],
            records: 1,
            elapsed: Duration::from_secs(1),
            ..LatencyRun::default()
        };
        let summaries = [3, 1, 2].map(|ms| LatencySummary::new(1.0, &run(ms)));
        let m = LatencySummary::median_of(summaries.to_vec()).unwrap();
        assert_eq!(m.p95_us, 2000.0);
        assert_eq!(m.p95_us_runs, vec![3000.0, 1000.0, 2000.0]);
        let two = LatencySummary::median_of(summaries[..2].to_vec()).unwrap();
        assert_eq!(two.p95_us, 1000.0, "the lower middle of an even count");
        assert!(LatencySummary::median_of(Vec::new()).is_none());
    }
}
