//! The HTTP API of SPEC §7: handlers and their JSON.
//!
//! | method and path | answer |
//! |---|---|
//! | `POST /jobs` (body: the app's SQL) | 201 `{"ids": [...]}`; 400 `{"error", "message", "line", "column", "diagnostic"}`; 409 when a live job has the same name; 413 past [`AppState::max_body_bytes`] |
//! | `GET /jobs` | 200 `{"jobs": [status, ...]}` |
//! | `GET /jobs/{id}` | 200 status; 404 |
//! | `GET /jobs/{id}/plan` | 200 `{"id", "name", "plan"}`: the job's plan as `velo-server explain` prints it; 404 |
//! | `DELETE /jobs/{id}` | 200 status once drained; 202 status while still draining after [`STOP_WAIT`]; 404 |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /health` | 200 `{"status": "ok"}` |
//! | `GET /` | the web console ([`super::console`]), which reads only this API |
//!
//! Every error is JSON with an `error` field: the handlers' own, and the
//! router's (404 of an unknown path, 405 of a known path with another method,
//! 413 of a body over [`AppState::max_body_bytes`], a bad path segment), which
//! [`json_errors`] turns into the same form. No input reaches a panic: the app
//! text is parsed and planned like `velo-server check` does, on a blocking
//! thread, and anything else is looked up, never indexed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use velo_ast::Span;
use velo_engine::query::QueryExecutor;
use velo_planner::{AppPlan, JobPlan, PlanOptions};

use crate::app::{Failure, InputSchema, LoadedApp};
use crate::processor::runtime::QUEUE_CAPACITY;
use crate::processor::{JobReport, LATENCY_SLOTS, NO_WATERMARK};

use super::jobs::{Job, Registry, SubmitError};
use super::metrics::{now_ms, LATENCY_BUCKETS};

/// How long `DELETE /jobs/{id}` waits for the job to drain before answering
/// 202 (still stopping).
pub const STOP_WAIT: Duration = Duration::from_secs(10);

/// The name under which apps submitted over HTTP appear in diagnostics.
pub const REQUEST_APP: &str = "<request>";

/// The default of `--max-body-bytes`: the largest request body (an app's SQL
/// text) the server reads. 2 MiB, axum's own default, which the server had
/// before the limit was settable.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 << 20;

/// The most of an error body of the router's that [`json_errors`] reads to
/// quote it (its texts are one line).
const MAX_QUOTED_ERROR: usize = 4096;

/// What the handlers share.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // the registry holds a trait object
pub struct AppState {
    pub registry: Arc<Registry>,
    pub metrics: PrometheusHandle,
    /// Whether `serve` runs V2 (partitioning strategies are checked at submit).
    pub partitioned: bool,
    /// Request bodies past this many bytes are refused with 413.
    pub max_body_bytes: usize,
    /// Each job's plan as text (`GET /jobs/{id}/plan`).
    pub plans: Arc<Plans>,
    /// Batch latency over the last sampling interval (the status' `latency`).
    pub latency: Arc<LatencyWindows>,
}

impl AppState {
    /// Starts every job of `app` (blocking: see [`Registry::submit`]) and
    /// keeps each one's plan text for `GET /jobs/{id}/plan`.
    pub fn submit(&self, app: LoadedApp) -> Result<Vec<Arc<Job>>, SubmitError> {
        self.submit_kept(app, None)
    }

    /// [`AppState::submit`] for an app submitted over HTTP: it is kept in the
    /// state directory until its jobs end (see [`super::kept`]), so that a
    /// restarted server runs it again.
    pub fn submit_over_http(&self, app: LoadedApp) -> Result<Vec<Arc<Job>>, SubmitError> {
        let Some(store) = self.registry.kept() else {
            return self.submit(app);
        };
        let kept = match store.keep(&app.source, app.plan.jobs.len()) {
            Ok(kept) => Some(kept),
            Err(e) => {
                tracing::warn!(
                    "cannot keep the app for a restart of the server (it runs now, but not after one): {e}"
                );
                None
            }
        };
        let submitted = self.submit_kept(app, kept.clone());
        if submitted.is_err() {
            if let Some(kept) = kept {
                kept.forget();
            }
        }
        submitted
    }

    /// Starts `app`, whose jobs tell `kept` when they end.
    pub fn submit_kept(
        &self,
        app: LoadedApp,
        kept: Option<Arc<super::kept::KeptApp>>,
    ) -> Result<Vec<Arc<Job>>, SubmitError> {
        let texts: Vec<String> = app.plan.jobs.iter().map(plan_text).collect();
        let jobs = self.registry.submit_kept(app, kept)?;
        let live = self.registry.list();
        let mut plans = lock(&self.plans.by_id);
        // Jobs the registry has let go of take their plans with them.
        plans.retain(|id, _| live.iter().any(|j| &j.id == id));
        for (job, text) in jobs.iter().zip(texts) {
            plans.insert(job.id.clone(), text);
        }
        Ok(jobs)
    }
}

/// Locks `m`, whatever a panicking holder left (the maps behind these locks
/// stay consistent between statements).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One job's plan as `velo-server explain` prints it; on a stack deep enough
/// for an expression at the depth limit (cloning, rendering and dropping the
/// plan recurse through it).
fn plan_text(job: &JobPlan) -> String {
    velo_ast::with_expr_stack(|| {
        crate::explain::text(&AppPlan {
            jobs: vec![job.clone()],
        })
    })
}

/// The plan text of every job the registry holds, by id.
#[derive(Debug, Default)]
pub struct Plans {
    by_id: Mutex<HashMap<String, String>>,
}

/// Batch latency per job and partition over the last sampling interval:
/// [`LatencyWindows::sample`], called once a second with the rates, takes the
/// difference of each partition's [`crate::processor::LatencyCounts`] since
/// the previous call. No lock is taken on the partitions' side: they bump one
/// atomic counter per message.
#[derive(Debug, Default)]
pub struct LatencyWindows {
    jobs: Mutex<HashMap<String, LatencyWindow>>,
}

type Buckets = [u64; LATENCY_SLOTS];

#[derive(Debug, Default)]
struct LatencyWindow {
    /// Per partition: the counts at the previous sample.
    last: Vec<Buckets>,
    /// Per partition: the counts between the last two samples.
    recent: Vec<Buckets>,
}

impl LatencyWindows {
    /// Takes a sample of every live job's latency counters.
    pub fn sample(&self, registry: &Registry) {
        let jobs = registry.list();
        let mut windows = lock(&self.jobs);
        windows.retain(|id, _| jobs.iter().any(|j| &j.id == id && !j.state().is_terminal()));
        for job in jobs.iter().filter(|j| !j.state().is_terminal()) {
            let now: Vec<Buckets> = job
                .counters
                .partition_statuses()
                .iter()
                .map(|p| p.latency.snapshot())
                .collect();
            let window = windows.entry(job.id.clone()).or_default();
            window.recent = now
                .iter()
                .enumerate()
                .map(|(i, counts)| match window.last.get(i) {
                    Some(last) => std::array::from_fn(|b| counts[b].saturating_sub(last[b])),
                    None => *counts,
                })
                .collect();
            window.last = now;
        }
    }

    /// Job `id`'s counts over the last interval, per partition; empty before
    /// the first sample and once the job has ended.
    fn recent(&self, id: &str) -> Vec<Buckets> {
        lock(&self.jobs)
            .get(id)
            .map(|w| w.recent.clone())
            .unwrap_or_default()
    }
}

/// Batch processing time over the last sampling interval (about a second):
/// quantiles estimated from the histogram's buckets as Prometheus'
/// `histogram_quantile` does (linear within a bucket).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyJson {
    /// `null` when no message was handled in the interval.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Messages (batches, watermarks, barriers) handled in the interval.
    pub messages: u64,
}

impl LatencyJson {
    fn of(counts: &Buckets) -> LatencyJson {
        let ms = |q| quantile(counts, q).map(|s| (s * 1e6).round() / 1e3);
        LatencyJson {
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            messages: counts.iter().sum(),
        }
    }
}

/// The `q` quantile (0 to 1), in seconds, of observations counted per bucket of
/// [`LATENCY_BUCKETS`] (the last count: past its last bound, reported as that
/// bound). `None` without observations.
pub fn quantile(counts: &[u64; LATENCY_SLOTS], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut seen = 0u64;
    for (i, &n) in counts.iter().enumerate() {
        if n > 0 && (seen + n) as f64 >= rank {
            let Some(&upper) = LATENCY_BUCKETS.get(i) else {
                break;
            };
            let lower = i.checked_sub(1).map_or(0.0, |j| LATENCY_BUCKETS[j]);
            let within = ((rank - seen as f64) / n as f64).clamp(0.0, 1.0);
            return Some(lower + (upper - lower) * within);
        }
        seen += n;
    }
    LATENCY_BUCKETS.last().copied()
}

pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/jobs", get(list_jobs).post(submit))
        .route("/jobs/{id}", get(get_job).delete(stop_job))
        .route("/jobs/{id}/plan", get(job_plan))
        .route("/jobs/{id}/checkpoint", post(checkpoint_job))
        .merge(super::console::routes())
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(json_errors))
}

/// Turns an error answer that is not JSON (the router's 405, an extractor's
/// plain-text rejection) into `{"error": "..."}` with the same status and
/// headers; logs every request at debug level. Applied to every route and the
/// fallback.
async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    tracing::debug!(
        method = %method,
        path = %path,
        status = status.as_u16(),
        "HTTP {method} {path}: {status}"
    );
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_QUOTED_ERROR)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    let error = if status == StatusCode::METHOD_NOT_ALLOWED {
        // The router adds the `Allow` header after this layer.
        format!("method {method} is not allowed on {path}")
    } else if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let body = serde_json::json!({ "error": error }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// An error answer: a status and a JSON body with at least `error`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: serde_json::json!({ "error": error.into() }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Why an app was refused, with its position in the text when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidApp {
    /// 1-based; `null` when the error has no position (a missing file, say).
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
    /// The message with the offending line and a caret, as `check` prints it.
    pub diagnostic: String,
}

impl InvalidApp {
    fn at(span: Span, message: String, diagnostic: String) -> InvalidApp {
        let known = span.start.line > 0;
        InvalidApp {
            line: known.then_some(span.start.line),
            column: known.then_some(span.start.column.max(1)),
            message,
            diagnostic,
        }
    }

    /// A parse or planning error.
    pub fn from_plan(e: &velo_planner::Error, text: &str) -> InvalidApp {
        let message = match e {
            velo_planner::Error::Parse(p) => p.message.clone(),
            other => other.to_string(),
        };
        InvalidApp::at(e.span(), message, e.render(text, Some(REQUEST_APP)))
    }

    /// A query that does not compile against its source's schema.
    pub fn from_compile(e: &velo_engine::Error, text: &str) -> InvalidApp {
        let message = e.message();
        match e.span().map(velo_planner::bind::sql_span) {
            Some(span) => InvalidApp::at(
                span,
                message.clone(),
                velo_ast::diagnostic::render(text, Some(REQUEST_APP), span, &message),
            ),
            None => InvalidApp::unpositioned(message),
        }
    }

    fn unpositioned(message: String) -> InvalidApp {
        let message = message
            .strip_prefix("error: ")
            .map(str::to_string)
            .unwrap_or(message);
        InvalidApp {
            line: None,
            column: None,
            diagnostic: format!("error: {message}"),
            message,
        }
    }
}

/// Parses, plans and checks an app submitted as `text` like `velo-server
/// check`: every query compiled against its source's schema where that is known
/// without consuming input. Relative paths in it resolve against the server's
/// working directory. Blocking (it opens the sources to read their schemas).
pub fn validate(text: String, partitioned: bool) -> Result<LoadedApp, InvalidApp> {
    let plan = velo_planner::plan_sql(&text, &PlanOptions { base_dir: None })
        .map_err(|e| InvalidApp::from_plan(&e, &text))?;
    crate::paths::check(&plan, None).map_err(|c| match c.span {
        Some(span) => {
            let diagnostic = c.render(&text, REQUEST_APP);
            InvalidApp::at(span, c.message, diagnostic)
        }
        None => InvalidApp::unpositioned(c.message),
    })?;
    let app = LoadedApp {
        path: PathBuf::from(REQUEST_APP),
        source: text,
        plan,
    };
    let unpositioned = |f| match f {
        Failure::User(m) | Failure::Internal(m) => InvalidApp::unpositioned(m),
    };
    // The server runs the app at once: what its environment lacks is an error.
    if let Some(setting) = app
        .plan
        .jobs
        .iter()
        .flat_map(|j| &j.runtime)
        .find(|s| s.unmet)
    {
        return Err(InvalidApp::at(
            setting.span,
            setting.message.clone(),
            velo_ast::diagnostic::render(
                &app.source,
                Some(REQUEST_APP),
                setting.span,
                &setting.message,
            ),
        ));
    }
    let schemas = app.input_schemas().map_err(unpositioned)?;
    for (job, (schema, right)) in app.plan.jobs.iter().zip(schemas) {
        let right = match right {
            None => None,
            Some(InputSchema::Known(r)) => Some(r),
            Some(InputSchema::AtRunTime) => continue,
            Some(InputSchema::Missing(message)) => return Err(InvalidApp::unpositioned(message)),
        };
        match schema {
            InputSchema::Known(schema) => {
                let tables = app.load_tables(job, false).map_err(unpositioned)?;
                QueryExecutor::with_inputs(job, schema, right, &tables)
                    .map_err(|e| InvalidApp::from_compile(&e, &app.source))?;
            }
            InputSchema::AtRunTime => {}
            InputSchema::Missing(message) => return Err(InvalidApp::unpositioned(message)),
        }
        if partitioned {
            job.routing
                .check(job.strategy.kind)
                .map_err(|e| InvalidApp::unpositioned(format!("job '{}': {e}", job.name)))?;
        }
    }
    Ok(app)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = super::metrics::render(&state.metrics, &state.registry);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

#[derive(Debug, Serialize)]
struct Submitted {
    ids: Vec<String>,
}

async fn submit(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!(
                    "the body is over the server's limit of {} bytes (--max-body-bytes)",
                    state.max_body_bytes
                ),
            )
        } else {
            ApiError::new(status, rejection.body_text())
        }
    })?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body must be the app's SQL text, in UTF-8",
        )
    })?;
    let partitioned = state.partitioned;
    let validated = tokio::task::spawn_blocking(move || validate(text, partitioned))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "validation failed"))?;
    let app = validated.map_err(|invalid| {
        let mut body = serde_json::to_value(&invalid).unwrap_or_default();
        body["error"] = "invalid app".into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body,
        }
    })?;
    let submitter = state.clone();
    let submitted = tokio::task::spawn_blocking(move || submitter.submit_over_http(app))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "submission failed"))?;
    match submitted {
        Ok(jobs) => {
            let ids = jobs.iter().map(|j| j.id.clone()).collect();
            Ok((StatusCode::CREATED, Json(Submitted { ids })).into_response())
        }
        Err(SubmitError::Conflict { name, id }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("job '{name}' is already running as '{id}' (it writes to the same sink): stop it first"),
        )),
        Err(SubmitError::ShuttingDown) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )),
        Err(SubmitError::Spawn(e)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot start the job: {e}"),
        )),
    }
}

/// `GET /jobs/{id}`: a job's state and counts.
#[derive(Debug, Serialize)]
pub struct JobStatus {
    pub id: String,
    pub name: String,
    pub processor: &'static str,
    pub state: &'static str,
    /// Why the job failed.
    pub reason: Option<String>,
    pub submitted_at_ms: i64,
    pub elapsed_s: f64,
    /// SPEC §4's accounting, which adds up once the job has ended.
    pub records: JobReport,
    pub throughput: Throughput,
    /// The job's watermark (the least over its partitions), epoch millis.
    pub watermark: Option<i64>,
    pub watermark_lag_ms: Option<i64>,
    /// The query state's estimated size, summed over partitions (tracked
    /// when `max.memory.mb` is set), the joined tables included once.
    pub state_bytes: u64,
    /// Rows the job's joins hold: its joined tables' (one copy, read by every
    /// partition) and a join of two streams' (per partition, below).
    pub join_rows: u64,
    /// Batch processing time over the last second, all partitions together
    /// (`null` quantiles once the job has ended).
    pub latency: LatencyJson,
    /// One entry per partition (V1 has one).
    pub partitions: Vec<PartitionJson>,
    /// The newest checkpoint, once one was taken.
    pub checkpoint: Option<CheckpointJson>,
}

/// A job's newest checkpoint (`GET /jobs/{id}`, `POST /jobs/{id}/checkpoint`).
#[derive(Debug, Serialize)]
pub struct CheckpointJson {
    pub id: u64,
    pub completed_at_ms: u64,
    pub bytes: u64,
    /// From the last partition passing the barrier to the checkpoint being
    /// complete (the sinks' pause).
    pub duration_ms: f64,
    /// Checkpoints completed since the job started.
    pub completed: u64,
}

fn checkpoint_json(job: &Job) -> Option<CheckpointJson> {
    let stats = job
        .counters
        .checkpoints
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    (stats.completed > 0).then(|| CheckpointJson {
        id: stats.last_id,
        completed_at_ms: stats.last_unix_ms,
        bytes: stats.last_bytes,
        duration_ms: stats.last_duration.as_secs_f64() * 1e3,
        completed: stats.completed,
    })
}

/// Records per second: over the last second or so, and over the whole run.
#[derive(Debug, Serialize)]
pub struct Throughput {
    pub in_per_s: f64,
    pub out_per_s: f64,
    pub average_in_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct PartitionJson {
    pub partition: usize,
    pub records_in: u64,
    pub records_out: u64,
    pub in_per_s: f64,
    pub out_per_s: f64,
    pub queue_depth: usize,
    /// Messages the queue holds before the source blocks: SPEC §5's
    /// utilisation is `queue_depth / queue_capacity`.
    pub queue_capacity: usize,
    pub backpressure: &'static str,
    /// The worst backpressure state since the job started.
    pub worst_backpressure: &'static str,
    pub watermark: Option<i64>,
    pub watermark_lag_ms: Option<i64>,
    /// Rows a join of two streams holds here, per input.
    pub join_rows_left: u64,
    pub join_rows_right: u64,
    /// Batch processing time here over the last second.
    pub latency: LatencyJson,
}

fn backpressure_name(level: u8) -> &'static str {
    match level {
        0 => "healthy",
        1 => "warning",
        2 => "critical",
        _ => "saturated",
    }
}

/// `job`'s status, with its latency over the last interval of `windows`.
pub fn job_status(job: &Job, windows: &LatencyWindows) -> JobStatus {
    let status = job.status();
    let r = job.counters.snapshot();
    let rates = job.rates();
    let elapsed = job.elapsed().as_secs_f64();
    let now = now_ms();
    let live = !status.state.is_terminal();
    let lag = |wm: Option<i64>| wm.filter(|_| live).map(|wm| now.saturating_sub(wm));
    let recent = if live {
        windows.recent(&job.id)
    } else {
        Vec::new()
    };
    let mut total: Buckets = [0; LATENCY_SLOTS];
    for counts in &recent {
        for (t, n) in total.iter_mut().zip(counts) {
            *t += n;
        }
    }
    let partitions: Vec<PartitionJson> = job
        .counters
        .partition_statuses()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (in_per_s, out_per_s) = rates.partitions.get(i).copied().unwrap_or_default();
            let wm = p.watermark.load(Ordering::Relaxed);
            let wm = (wm != NO_WATERMARK).then_some(wm);
            PartitionJson {
                partition: i,
                records_in: p.records_in.load(Ordering::Relaxed),
                records_out: p.records_out.load(Ordering::Relaxed),
                in_per_s,
                out_per_s,
                // An ended job's queues are gone (drained, or dropped on failure).
                queue_depth: if live {
                    p.queue_depth.load(Ordering::Relaxed)
                } else {
                    0
                },
                queue_capacity: QUEUE_CAPACITY,
                backpressure: backpressure_name(if live {
                    p.backpressure.load(Ordering::Relaxed)
                } else {
                    0
                }),
                worst_backpressure: backpressure_name(p.worst_backpressure.load(Ordering::Relaxed)),
                watermark: wm,
                watermark_lag_ms: lag(wm),
                join_rows_left: p.join_rows[0].load(Ordering::Relaxed),
                join_rows_right: p.join_rows[1].load(Ordering::Relaxed),
                latency: LatencyJson::of(recent.get(i).unwrap_or(&[0; LATENCY_SLOTS])),
            }
        })
        .collect();
    // Every partition gets every watermark; the job is as far as the slowest.
    let watermark = partitions
        .iter()
        .map(|p| p.watermark)
        .collect::<Option<Vec<i64>>>()
        .and_then(|w| w.into_iter().min());
    JobStatus {
        id: job.id.clone(),
        name: job.name.clone(),
        processor: job.processor,
        state: status.state.as_str(),
        reason: status.reason,
        submitted_at_ms: job.submitted_at_ms,
        elapsed_s: elapsed,
        records: r,
        throughput: Throughput {
            in_per_s: rates.in_per_s,
            out_per_s: rates.out_per_s,
            average_in_per_s: if elapsed > 0.0 {
                r.read as f64 / elapsed
            } else {
                0.0
            },
        },
        watermark,
        watermark_lag_ms: lag(watermark),
        state_bytes: job.counters.state_bytes.load(Ordering::Relaxed),
        join_rows: job.counters.join_rows.load(Ordering::Relaxed)
            + partitions
                .iter()
                .map(|p| p.join_rows_left + p.join_rows_right)
                .sum::<u64>(),
        latency: LatencyJson::of(&total),
        partitions,
        checkpoint: checkpoint_json(job),
    }
}

#[derive(Debug, Serialize)]
struct JobList {
    jobs: Vec<JobStatus>,
}

async fn list_jobs(State(state): State<AppState>) -> Json<JobList> {
    let jobs = state
        .registry
        .list()
        .iter()
        .map(|j| job_status(j, &state.latency))
        .collect();
    Json(JobList { jobs })
}

fn find(state: &AppState, id: &str) -> Result<Arc<Job>, ApiError> {
    state
        .registry
        .get(id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job '{id}'")))
}

async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    let job = find(&state, &id)?;
    Ok(Json(job_status(&job, &state.latency)))
}

#[derive(Debug, Serialize)]
struct PlanJson {
    id: String,
    name: String,
    /// As `velo-server explain` prints it.
    plan: String,
}

/// `GET /jobs/{id}/plan`: the job's plan as text.
async fn job_plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PlanJson>, ApiError> {
    let job = find(&state, &id)?;
    let plan = lock(&state.plans.by_id).get(&id).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no plan kept for job '{id}'"),
        )
    })?;
    Ok(Json(PlanJson {
        id: job.id.clone(),
        name: job.name.clone(),
        plan,
    }))
}

/// How long `POST /jobs/{id}/checkpoint` waits for the checkpoint.
const CHECKPOINT_WAIT: Duration = Duration::from_secs(30);

/// `POST /jobs/{id}/checkpoint`: takes a checkpoint at the job's next batch
/// boundary and answers once it is complete (SPEC §7).
async fn checkpoint_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CheckpointJson>, ApiError> {
    let job = find(&state, &id)?;
    let completed = |job: &Job| {
        job.counters
            .checkpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .completed
    };
    let before = completed(&job);
    if job.state().is_terminal() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("job '{id}' has ended"),
        ));
    }
    if !job.counters.checkpointing.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "job '{id}' does not take checkpoints ('checkpoint.interval' is 'off', or its source cannot be read again: see docs/OPERATIONS.md)"
            ),
        ));
    }
    job.counters.checkpoint_now.store(true, Ordering::Release);
    let start = std::time::Instant::now();
    while start.elapsed() < CHECKPOINT_WAIT {
        if completed(&job) > before {
            if let Some(c) = checkpoint_json(&job) {
                return Ok(Json(c));
            }
        }
        if job.state().is_terminal() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("job '{id}' ended before the checkpoint completed"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "job '{id}': no checkpoint completed within {} s (its source may be waiting for records)",
            CHECKPOINT_WAIT.as_secs()
        ),
    ))
}

async fn stop_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = find(&state, &id)?;
    job.request_stop();
    let code = if job.wait_ended(STOP_WAIT).await {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, Json(job_status(&job, &state.latency))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_has_its_line_and_column() {
        let err = validate("SELECT a\nFROM t WHERE WHERE".to_string(), true).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.column.is_some_and(|c| c > 1), "{err:?}");
        assert!(!err.message.contains("at line"), "{}", err.message);
        assert!(
            err.diagnostic.contains("<request>:2:"),
            "{}",
            err.diagnostic
        );
    }

    #[test]
    fn a_planning_error_has_its_line_and_column() {
        let err = validate("SELECT a FROM nowhere".to_string(), true).unwrap_err();
        assert_eq!((err.line, err.column), (Some(1), Some(15)), "{err:?}");
        assert!(err.message.contains("not declared"), "{}", err.message);
    }

    #[test]
    fn an_unknown_column_is_found_against_the_source_schema() {
        let err = validate(
            "CREATE STREAM out AS SELECT nope FROM orders
             WITH ('orders.type' = 'generator_source', 'out.type' = 'stdout_sink');"
                .to_string(),
            true,
        )
        .unwrap_err();
        assert_eq!(err.line, Some(1), "{err:?}");
        assert!(err.message.contains("nope"), "{}", err.message);
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let mut counts = [0u64; LATENCY_SLOTS];
        assert_eq!(quantile(&counts, 0.5), None);
        // 100 observations in (50 us, 100 us], one past the last bound.
        counts[6] = 100;
        counts[LATENCY_SLOTS - 1] = 1;
        let p50 = quantile(&counts, 0.5).unwrap();
        assert!((p50 - 75.25e-6).abs() < 1e-9, "{p50}");
        assert_eq!(quantile(&counts, 1.0), Some(1.0));
        let json = LatencyJson::of(&counts);
        assert_eq!(json.messages, 101);
        assert_eq!(json.p50_ms, Some(0.075));
    }

    #[test]
    fn latency_counts_use_the_histograms_buckets() {
        let counts = crate::processor::LatencyCounts::default();
        // Prometheus' `le`: a bound holds observations up to and including it.
        for seconds in [1e-6, 1.5e-6, 0.9, 1.0, 3.0] {
            counts.record(seconds);
        }
        let snap = counts.snapshot();
        assert_eq!((snap[0], snap[1]), (1, 1), "{snap:?}");
        assert_eq!(snap[LATENCY_BUCKETS.len() - 1], 2, "{snap:?}");
        assert_eq!(snap[LATENCY_SLOTS - 1], 1, "past 1 s: {snap:?}");
        assert_eq!(snap.iter().sum::<u64>(), 5);
    }

    #[test]
    fn an_empty_app_has_no_position() {
        let err = validate(String::new(), true).unwrap_err();
        assert_eq!((err.line, err.column), (None, None));
    }
}
