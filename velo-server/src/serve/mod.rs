//! `velo-server serve`: a long-running server with the HTTP API and the
//! Prometheus metrics of SPEC §7.
//!
//! ```text
//! tokio runtime (2 threads): axum router (api.rs), rate sampler + metrics upkeep
//! one OS thread per job:     JobProcessor::run (V1, or V2 with its own workers)
//! ```
//!
//! Jobs never run on the runtime's threads: each one runs through the same
//! [`JobProcessor`] as `velo-server run`, on its own thread, with its own stop
//! flag, so `DELETE /jobs/{id}` drains that job alone (it stops reading at the
//! next batch boundary, emits what it holds, flushes its sinks and commits its
//! source). [`jobs`] is the registry of jobs and their states, [`api`] the
//! handlers, [`metrics`] the recorder, installed before any job creates its
//! counters, and [`console`] the web console at `GET /`, a page over the API.
//!
//! SIGINT / SIGTERM: the server stops accepting connections, every job drains,
//! the process exits 0. A second signal exits at once (1), without draining.

pub mod api;
pub mod console;
pub mod jobs;
pub mod kept;
pub mod metrics;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::app::{Failure, LoadedApp};
use crate::processor::JobProcessor;

use self::jobs::{Registry, SubmitError};

/// How often job rates are sampled and the metrics' histograms drained.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Options of `velo-server serve`.
#[allow(missing_debug_implementations)] // holds the processor as a trait object
pub struct ServeOptions {
    /// `host:port`; port 0 picks a free one (the address is printed).
    pub bind: String,
    /// An app to deploy at start.
    pub app: Option<PathBuf>,
    pub processor: Arc<dyn JobProcessor + Send>,
    /// Rows per input batch.
    pub batch_size: usize,
    /// Request bodies past this many bytes get 413 (`--max-body-bytes`).
    pub max_body_bytes: usize,
    /// Where jobs keep their checkpoints (`--state-dir`).
    pub state_dir: PathBuf,
}

/// Runs the server until SIGINT or SIGTERM, then drains every job.
pub fn serve(options: ServeOptions) -> Result<(), Failure> {
    // First: counters created before it would feed the no-op recorder.
    let handle = metrics::install()?;
    let app = match &options.app {
        Some(path) => {
            let app = LoadedApp::load(path)?;
            app.require_environment()?;
            app.check(|warning| tracing::warn!("{warning}"))?;
            Some(app)
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("velo-http")
        .enable_all()
        .build()
        .map_err(|e| Failure::Internal(format!("cannot start the runtime: {e}")))?;
    let partitioned = options.processor.name() == "v2";
    let registry = Arc::new(
        Registry::new(options.processor, options.batch_size)
            .with_kept(Arc::new(kept::KeptApps::new(&options.state_dir)))
            .with_state_dir(options.state_dir),
    );
    let state = api::AppState {
        registry: registry.clone(),
        metrics: handle,
        partitioned,
        max_body_bytes: options.max_body_bytes,
        plans: Arc::default(),
        latency: Arc::default(),
    };
    let served = rt.block_on(run(&options.bind, app, state));
    // Whatever ended the server (a signal, or an error), drain every job.
    registry.close();
    let live = registry.join_all();
    if served.is_ok() {
        tracing::info!("stopped: {live} running job(s) drained");
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    served
}

async fn run(bind: &str, app: Option<LoadedApp>, state: api::AppState) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| Failure::User(format!("error: cannot listen on {bind}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Internal(format!("cannot read the bound address: {e}")))?;
    let shutdown = shutdown_signal(state.registry.clone())?;
    tracing::info!("listening on http://{addr}");
    if let Some(app) = app {
        state.submit(app).map_err(|e| match e {
            SubmitError::Spawn(e) => Failure::Internal(format!("cannot start a job: {e}")),
            SubmitError::Conflict { name, .. } => {
                Failure::User(format!("error: job '{name}' is already running"))
            }
            SubmitError::ShuttingDown => Failure::Internal("shutting down".to_string()),
        })?;
    }
    resubmit_kept(&state).await;
    let sampler = {
        let registry = state.registry.clone();
        let handle = state.metrics.clone();
        let latency = state.latency.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                registry.sample();
                latency.sample(&registry);
                handle.run_upkeep();
            }
        })
    };
    let served = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Failure::Internal(format!("the HTTP server failed: {e}")));
    sampler.abort();
    served
}

/// Submits again the apps an earlier server kept (see [`kept`]), after
/// `--app`'s; one that no longer plans, or whose job name is taken, is set
/// aside or dropped with an error in the log, and the others still run.
async fn resubmit_kept(state: &api::AppState) {
    let Some(store) = state.registry.kept().cloned() else {
        return;
    };
    let partitioned = state.partitioned;
    let state = state.clone();
    let resubmitted = tokio::task::spawn_blocking(move || {
        for (path, text) in store.load() {
            let shown = path.display().to_string();
            let app = match api::validate(text, partitioned) {
                Ok(app) => app,
                Err(e) => {
                    tracing::error!(
                        "the app kept in {shown} no longer runs, set aside: {}",
                        e.message
                    );
                    store.refuse(&path);
                    continue;
                }
            };
            let kept = store.kept(path, app.plan.jobs.len());
            match state.submit_kept(app, Some(kept.clone())) {
                Ok(jobs) => {
                    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
                    tracing::info!("resubmitted the app kept in {shown}: {}", ids.join(", "));
                }
                Err(SubmitError::Conflict { name, id }) => {
                    tracing::error!(
                        "the app kept in {shown} is dropped: its job '{name}' is already running as '{id}'"
                    );
                    kept.forget();
                }
                Err(e) => tracing::error!("cannot resubmit the app kept in {shown}: {e:?}"),
            }
        }
    });
    if resubmitted.await.is_err() {
        tracing::error!("resubmitting the kept apps failed");
    }
}

/// A future that ends at the first SIGINT or SIGTERM, after asking every job
/// to drain; a second signal exits the process at once.
fn shutdown_signal(
    registry: Arc<Registry>,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let watch = |kind| {
            signal(kind).map_err(|e| Failure::Internal(format!("cannot watch for signals: {e}")))
        };
        let mut int = watch(SignalKind::interrupt())?;
        let mut term = watch(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            tracing::info!("stopping: draining jobs (signal received)");
            registry.close();
            tokio::spawn(async move {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                tracing::info!("second signal: exiting without draining");
                std::process::exit(1);
            });
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("stopping: draining jobs (signal received)");
            registry.close();
        })
    }
}
