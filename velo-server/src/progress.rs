//! The live progress line (when stderr is a terminal) and the end-of-run summary.
//!
//! The progress line is the command's own display, drawn by `indicatif` and
//! cleared at the end; it is not an event. The summary line is: an `info`
//! event of target [`SUMMARY_TARGET`] with the counts as fields (see
//! [`crate::logging`]).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::logging::SUMMARY_TARGET;
use crate::processor::{JobCounters, JobReport};

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A running progress line; [`Progress::stop`] clears it.
#[allow(missing_debug_implementations)] // holds a thread handle; nothing to show
pub struct Progress<'scope> {
    stop: Arc<AtomicBool>,
    handle: ScopedJoinHandle<'scope, ()>,
}

impl Progress<'_> {
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}

/// Starts a thread that redraws `records in / out / rate` a few times a second.
pub fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    counters: &'env [Arc<JobCounters>],
    start: Instant,
) -> Progress<'scope> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = scope.spawn(move || {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        while !flag.load(Ordering::Relaxed) {
            let (read, written) = counters.iter().fold((0, 0), |(r, w), c| {
                let s = c.snapshot();
                (r + s.read, w + s.written)
            });
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "records in {read}, out {written}, {} rec/s",
                human_rate(read as f64 / secs)
            ));
            bar.tick();
            std::thread::sleep(Duration::from_millis(200));
        }
        bar.finish_and_clear();
    });
    Progress { stop, handle }
}

/// `job 'x' (v1): in 1000 = processed 8 + filtered 990 + late dropped 0 + failed 2; late 3; written 8 in 0.120s (8.3K rec/s)`:
/// SPEC §4's accounting (`late dropped` are the late records set aside, dropped
/// or dead-lettered), then every late record (`late`, processed ones included).
pub fn summary_line(job: &str, processor: &str, r: &JobReport) -> String {
    let secs = r.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        r.read as f64 / secs
    } else {
        0.0
    };
    let dlq = if r.dlq > 0 {
        format!(", dlq {}", r.dlq)
    } else {
        String::new()
    };
    format!(
        "job '{job}' ({processor}): in {} = processed {} + filtered {} + late dropped {} + failed {}; late {}; written {}{dlq} in {secs:.3}s ({} rec/s)",
        r.read,
        r.processed,
        r.filtered,
        r.late_dropped,
        r.failed,
        r.late,
        r.written,
        human_rate(rate)
    )
}

/// Emits the summary of job `name`, labelled `label` (its name in `run`, its
/// id in `serve`), with ` (failed)` appended when it failed.
pub fn log_summary(label: &str, name: &str, processor: &str, r: &JobReport, failed: bool) {
    let line = summary_line(label, processor, r);
    let suffix = if failed { " (failed)" } else { "" };
    tracing::info!(
        target: SUMMARY_TARGET,
        job = name,
        label,
        processor,
        records_in = r.read,
        processed = r.processed,
        filtered = r.filtered,
        late = r.late,
        late_dropped = r.late_dropped,
        failed = r.failed,
        written = r.written,
        dlq = r.dlq,
        elapsed_s = r.elapsed.as_secs_f64(),
        ok = !failed,
        "{line}{suffix}"
    );
}

fn human_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}K", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_late_records_processed_and_set_aside() {
        let r = JobReport {
            read: 10,
            processed: 6,
            filtered: 1,
            late: 5,
            late_dropped: 2,
            failed: 1,
            written: 4,
            dlq: 1,
            elapsed: Duration::from_millis(500),
        };
        assert_eq!(r.accounted(), r.read);
        assert_eq!(
            summary_line("out", "v1", &r),
            "job 'out' (v1): in 10 = processed 6 + filtered 1 + late dropped 2 + failed 1; late 5; written 4, dlq 1 in 0.500s (20 rec/s)"
        );
    }
}
