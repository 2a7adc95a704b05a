//! The jobs a server runs: each on its own OS thread through the configured
//! [`JobProcessor`], with its own stop flag, counters and state.
//!
//! A job is `running` until its source is exhausted (`finished`), it fails
//! (`failed`, with the reason), or it is asked to stop: then it is `stopping`
//! while it drains (stops reading at the next batch boundary, emits what EMIT
//! FINAL holds, flushes and closes its sinks, commits its source) and
//! `finished` once done. Jobs share nothing but the metrics recorder: one that
//! fails, or even panics, leaves the others running.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::app::{Failure, LoadedApp};
use crate::processor::{JobCounters, JobProcessor, RunOptions};

use super::kept::{KeptApp, KeptApps};
use crate::progress;

use super::metrics::{now_ms, JOBS_FAILED_METRIC, JOBS_SUBMITTED_METRIC};

/// Finished and failed jobs kept for `GET /jobs`; past it the oldest go.
pub const MAX_ENDED_JOBS: usize = 100;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running = 0,
    Stopping = 1,
    Finished = 2,
    Failed = 3,
}

impl JobState {
    pub const ALL: [JobState; 4] = [
        JobState::Running,
        JobState::Stopping,
        JobState::Finished,
        JobState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Stopping => "stopping",
            JobState::Finished => "finished",
            JobState::Failed => "failed",
        }
    }

    /// The job's thread has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Finished | JobState::Failed)
    }
}

/// A job's state, why it failed, and how long it ran.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: JobState,
    pub reason: Option<String>,
    /// Set when the job ends.
    pub ran_for: Option<Duration>,
}

/// Records per second over the last sampling interval.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    pub in_per_s: f64,
    pub out_per_s: f64,
    /// Per V2 partition: records in and out per second.
    pub partitions: Vec<(f64, f64)>,
    last: Option<Sample>,
}

/// The counters when the rates were last sampled.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    read: u64,
    written: u64,
    /// Per V2 partition: records in and out.
    partitions: Vec<(u64, u64)>,
}

/// One job of the server.
#[derive(Debug)]
pub struct Job {
    /// Unique per server: `{name}-{n}`.
    pub id: String,
    /// The job's name in the app (its sink, or `select_N`); the `job` label of
    /// its metrics.
    pub name: String,
    pub processor: &'static str,
    pub counters: Arc<JobCounters>,
    /// Epoch milliseconds when the job was submitted.
    pub submitted_at_ms: i64,
    started: Instant,
    stop: Arc<AtomicBool>,
    status: watch::Sender<Status>,
    rates: Mutex<Rates>,
    /// The job thread's handle while it runs; dropped (detaching the thread)
    /// as it ends.
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Locks `m`, whatever a panicking holder left (every value behind these locks
/// stays consistent between statements).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Job {
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    pub fn state(&self) -> JobState {
        self.status.borrow().state
    }

    /// The rates of the last sample; zero once the job has ended.
    pub fn rates(&self) -> Rates {
        if self.state().is_terminal() {
            return Rates::default();
        }
        lock(&self.rates).clone()
    }

    /// How long the job has run (until it ended, for an ended job).
    pub fn elapsed(&self) -> Duration {
        self.status
            .borrow()
            .ran_for
            .unwrap_or_else(|| self.started.elapsed())
    }

    /// Asks the job to drain and stop; a no-op once it is stopping or ended.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.status.send_if_modified(|s| {
            let running = s.state == JobState::Running;
            if running {
                s.state = JobState::Stopping;
            }
            running
        });
    }

    /// Waits up to `timeout` for the job to end; returns whether it did.
    pub async fn wait_ended(&self, timeout: Duration) -> bool {
        let mut rx = self.status.subscribe();
        let ended = tokio::time::timeout(timeout, rx.wait_for(|s| s.state.is_terminal())).await;
        matches!(ended, Ok(Ok(_)))
    }

    fn end(&self, outcome: Result<(), String>) {
        let ran_for = self.started.elapsed();
        if outcome.is_err() {
            metrics::counter!(JOBS_FAILED_METRIC).increment(1);
        }
        self.status.send_modify(|s| {
            s.ran_for = Some(ran_for);
            match outcome {
                Ok(()) => s.state = JobState::Finished,
                Err(reason) => {
                    s.state = JobState::Failed;
                    s.reason = Some(reason);
                }
            }
        });
    }

    /// Updates the rates from the counters' change since the last sample.
    fn sample(&self, now: Instant) {
        let snap = self.counters.snapshot();
        let parts: Vec<(u64, u64)> = self
            .counters
            .partition_statuses()
            .iter()
            .map(|p| {
                (
                    p.records_in.load(Ordering::Relaxed),
                    p.records_out.load(Ordering::Relaxed),
                )
            })
            .collect();
        let mut rates = lock(&self.rates);
        if let Some(last) = rates.last.take() {
            let secs = now.duration_since(last.at).as_secs_f64();
            if secs > 0.0 {
                let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
                rates.in_per_s = rate(snap.read, last.read);
                rates.out_per_s = rate(snap.written, last.written);
                rates.partitions = parts
                    .iter()
                    .enumerate()
                    .map(|(i, (pin, pout))| {
                        let (lin, lout) = last.partitions.get(i).copied().unwrap_or((0, 0));
                        (rate(*pin, lin), rate(*pout, lout))
                    })
                    .collect();
            }
        }
        rates.last = Some(Sample {
            at: now,
            read: snap.read,
            written: snap.written,
            partitions: parts,
        });
    }
}

/// Why a submission was refused.
#[derive(Debug)]
pub enum SubmitError {
    /// A live job already has this name (and so writes to the same sink).
    Conflict { name: String, id: String },
    /// The server is shutting down.
    ShuttingDown,
    /// A job thread could not be started.
    Spawn(String),
}

/// Every job of the server, in submission order.
#[allow(missing_debug_implementations)] // holds the processor as a trait object
pub struct Registry {
    processor: Arc<dyn JobProcessor + Send>,
    /// Where jobs keep their checkpoints (`--state-dir`).
    state_dir: Option<std::path::PathBuf>,
    batch_size: usize,
    /// The apps submitted over HTTP, kept across restarts.
    kept: Option<Arc<KeptApps>>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: VecDeque<Arc<Job>>,
    submitted: u64,
    closed: bool,
}

impl Registry {
    pub fn new(processor: Arc<dyn JobProcessor + Send>, batch_size: usize) -> Registry {
        Registry {
            processor,
            state_dir: None,
            batch_size: batch_size.max(1),
            kept: None,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Apps submitted over HTTP are kept in `kept` until their jobs end.
    pub fn with_kept(mut self, kept: Arc<KeptApps>) -> Registry {
        self.kept = Some(kept);
        self
    }

    /// The kept apps, when the server keeps them.
    pub fn kept(&self) -> Option<&Arc<KeptApps>> {
        self.kept.as_ref()
    }

    /// Jobs keep their checkpoints under `dir` (and resume from them).
    pub fn with_state_dir(mut self, dir: std::path::PathBuf) -> Registry {
        self.state_dir = Some(dir);
        self
    }

    /// Starts every job of `app`, each on its own thread. Refused as a whole
    /// when one of its names is taken; if a thread cannot be started, the
    /// jobs already started for the app are stopped.
    pub fn submit(&self, app: LoadedApp) -> Result<Vec<Arc<Job>>, SubmitError> {
        self.submit_kept(app, None)
    }

    /// [`Registry::submit`] for an app kept across restarts: each of its jobs
    /// tells `kept` when it ends ([`KeptApp::job_ended`]).
    pub fn submit_kept(
        &self,
        app: LoadedApp,
        kept: Option<Arc<KeptApp>>,
    ) -> Result<Vec<Arc<Job>>, SubmitError> {
        let app = Arc::new(app);
        let mut inner = lock(&self.inner);
        if inner.closed {
            return Err(SubmitError::ShuttingDown);
        }
        for planned in &app.plan.jobs {
            let live = inner
                .jobs
                .iter()
                .find(|j| j.name == planned.name && !j.state().is_terminal());
            if let Some(j) = live {
                return Err(SubmitError::Conflict {
                    name: j.name.clone(),
                    id: j.id.clone(),
                });
            }
        }
        let mut started: Vec<Arc<Job>> = Vec::with_capacity(app.plan.jobs.len());
        for (index, planned) in app.plan.jobs.iter().enumerate() {
            crate::processor::log_plan(planned, self.processor.name(), self.batch_size);
            inner.submitted += 1;
            let job = Arc::new(Job {
                id: format!("{}-{}", planned.name, inner.submitted),
                name: planned.name.clone(),
                processor: self.processor.name(),
                counters: Arc::new(JobCounters::for_job(&planned.name)),
                submitted_at_ms: now_ms(),
                started: Instant::now(),
                stop: Arc::new(AtomicBool::new(false)),
                status: watch::Sender::new(Status {
                    state: JobState::Running,
                    reason: None,
                    ran_for: None,
                }),
                rates: Mutex::new(Rates::default()),
                thread: Mutex::new(None),
            });
            // Said before the thread runs: a job that fails at once prints its
            // summary and error after this line, never before it.
            tracing::info!(
                job = %job.name,
                id = %job.id,
                "job '{}' started (id {})",
                job.name,
                job.id
            );
            let handle = self
                .spawn(&job, app.clone(), index, kept.clone())
                .map_err(|e| {
                    for j in &started {
                        j.request_stop();
                    }
                    SubmitError::Spawn(e.to_string())
                })?;
            {
                // Kept for `join_all` unless the job has already ended (and so
                // found no handle to drop).
                let mut thread = lock(&job.thread);
                if !job.state().is_terminal() {
                    *thread = Some(handle);
                }
            }
            metrics::counter!(JOBS_SUBMITTED_METRIC).increment(1);
            inner.jobs.push_back(job.clone());
            started.push(job);
        }
        Self::evict(&mut inner);
        Ok(started)
    }

    fn spawn(
        &self,
        job: &Arc<Job>,
        app: Arc<LoadedApp>,
        index: usize,
        kept: Option<Arc<KeptApp>>,
    ) -> std::io::Result<JoinHandle<()>> {
        let processor = self.processor.clone();
        let options = RunOptions {
            batch_size: self.batch_size,
            progress: false,
            stop: job.stop.clone(),
            state_dir: self.state_dir.clone(),
            fresh: false,
            readers: super::super::processor::default_readers(processor.name() != "v1"),
        };
        let job = job.clone();
        std::thread::Builder::new()
            // A quoted SQL name may hold a NUL, which a thread name may not.
            .name(format!("job-{}", job.id.replace('\0', "")))
            .stack_size(velo_engine::THREAD_STACK_SIZE)
            .spawn(move || {
                let plan = &app.plan.jobs[index];
                let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    processor.run(&app, plan, &options, &job.counters)
                }));
                let outcome = match ran {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(Failure::User(msg))) => Err(msg),
                    Ok(Err(Failure::Internal(msg))) => Err(format!("internal error: {msg}")),
                    Err(_) => Err("internal error: the job's thread panicked".to_string()),
                };
                let mut report = job.counters.snapshot();
                report.elapsed = job.started.elapsed();
                progress::log_summary(
                    &job.id,
                    &job.name,
                    processor.name(),
                    &report,
                    outcome.is_err(),
                );
                let outcome =
                    outcome.map_err(|m| m.strip_prefix("error: ").map(str::to_string).unwrap_or(m));
                if let Err(reason) = &outcome {
                    // `error: ` in the text form, unless it reads `internal error: `.
                    tracing::error!(job = %job.name, id = %job.id, "{reason}");
                }
                // Ending and giving up the handle together: a thread whose handle
                // is dropped is detached, so its stack is freed when it exits
                // (an exited thread that nobody joins keeps it). See `submit`.
                if let Some(kept) = &kept {
                    kept.job_ended();
                }
                let handle = {
                    let mut thread = lock(&job.thread);
                    job.end(outcome);
                    thread.take()
                };
                drop(handle);
            })
    }

    /// Drops the oldest ended jobs past [`MAX_ENDED_JOBS`].
    fn evict(inner: &mut Inner) {
        let mut ended = inner
            .jobs
            .iter()
            .filter(|j| j.state().is_terminal())
            .count();
        while ended > MAX_ENDED_JOBS {
            match inner.jobs.iter().position(|j| j.state().is_terminal()) {
                Some(i) => {
                    inner.jobs.remove(i);
                    ended -= 1;
                }
                None => break,
            }
        }
    }

    pub fn list(&self) -> Vec<Arc<Job>> {
        lock(&self.inner).jobs.iter().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        lock(&self.inner).jobs.iter().find(|j| j.id == id).cloned()
    }

    /// Updates every live job's rates; called about once a second.
    pub fn sample(&self) {
        let now = Instant::now();
        for job in self.list() {
            if !job.state().is_terminal() {
                job.sample(now);
            }
        }
        Self::evict(&mut lock(&self.inner));
    }

    /// Refuses further submissions and asks every job to drain; kept apps
    /// stay kept (see [`super::kept`]).
    pub fn close(&self) {
        if let Some(kept) = &self.kept {
            kept.close();
        }
        let jobs = {
            let mut inner = lock(&self.inner);
            inner.closed = true;
            inner.jobs.iter().cloned().collect::<Vec<_>>()
        };
        for job in jobs {
            job.request_stop();
        }
    }

    /// Waits for every job thread to end (blocking): a job that has not ended
    /// still holds its thread's handle. Returns how many jobs were still
    /// running or stopping when called.
    pub fn join_all(&self) -> usize {
        let mut live = 0;
        for job in self.list() {
            live += usize::from(!job.state().is_terminal());
            let handle = lock(&job.thread).take();
            if let Some(h) = handle {
                let _ = h.join();
            }
        }
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::V1Processor;

    fn app(sql: &str) -> LoadedApp {
        LoadedApp {
            path: "<test>".into(),
            source: sql.to_string(),
            plan: velo_planner::plan_sql(sql, &Default::default()).unwrap(),
        }
    }

    const ENDLESS: &str = "CREATE STREAM out AS SELECT order_id FROM orders WHERE order_id < 0
        WITH ('orders.type' = 'generator_source', 'orders.records' = '1000000000000',
              'out.type' = 'stdout_sink');";

    #[tokio::test]
    async fn a_stopped_job_drains_and_finishes_and_its_name_is_free_again() {
        let registry = Registry::new(Arc::new(V1Processor), 64);
        let jobs = registry.submit(app(ENDLESS)).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].id, "out-1");
        assert_eq!(jobs[0].state(), JobState::Running);
        // A second job writing to the same sink is refused while the first lives.
        assert!(matches!(
            registry.submit(app(ENDLESS)),
            Err(SubmitError::Conflict { ref id, .. }) if id == "out-1"
        ));
        jobs[0].request_stop();
        assert!(jobs[0].wait_ended(Duration::from_secs(30)).await);
        assert_eq!(jobs[0].state(), JobState::Finished);
        let again = registry.submit(app(ENDLESS)).unwrap();
        assert_eq!(again[0].id, "out-2", "a new id, not the stopped job's");
        registry.close();
        registry.join_all();
        assert_eq!(again[0].state(), JobState::Finished);
        assert!(matches!(
            registry.submit(app(ENDLESS)),
            Err(SubmitError::ShuttingDown)
        ));
    }

    /// Regression: a thread name may not hold a NUL, and spawning one with it
    /// panicked; a quoted SQL name can carry one in from an HTTP body.
    #[tokio::test]
    async fn a_job_name_with_a_nul_still_starts() {
        let registry = Registry::new(Arc::new(V1Processor), 64);
        let jobs = registry
            .submit(app("CREATE STREAM \"o\0ut\" AS SELECT order_id FROM orders
                 WITH ('orders.type' = 'generator_source', 'orders.records' = '0',
                       'o\0ut.type' = 'stdout_sink');"))
            .unwrap();
        assert!(jobs[0].wait_ended(Duration::from_secs(30)).await);
        assert_eq!(jobs[0].state(), JobState::Finished);
    }

    #[tokio::test]
    async fn a_failing_job_reports_why() {
        let registry = Registry::new(Arc::new(V1Processor), 64);
        let dir = std::env::temp_dir().join(format!("velo-jobs-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let blocker = dir.join("not-a-dir");
        std::fs::write(&blocker, "").unwrap();
        let sql = format!(
            "CREATE STREAM out AS SELECT order_id FROM orders
             WITH ('orders.type' = 'generator_source', 'orders.records' = '10',
                   'out.type' = 'file_sink', 'out.path' = '{}/out.jsonl');",
            blocker.display()
        );
        let jobs = registry.submit(app(&sql)).unwrap();
        assert!(jobs[0].wait_ended(Duration::from_secs(30)).await);
        let status = jobs[0].status();
        assert_eq!(status.state, JobState::Failed);
        let reason = status.reason.unwrap();
        assert!(reason.starts_with("job 'out'"), "{reason}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
