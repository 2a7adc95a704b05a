//! What happens to a record that cannot be read or evaluated, and to an IO
//! operation that fails, under the job's `failure_strategy` (SPEC §3):
//!
//! - `log_and_continue`: the record is skipped, counted as failed and logged
//!   with its source position and the reason (the first [`MAX_WARNINGS`] per
//!   job; the rest only counted).
//! - `send_to_dlq`: the same, and the record goes to the sink named by
//!   `dlq.sink` as one row of [`dlq_schema`]: where it came from, why it failed
//!   and the record itself.
//! - `fail_batch`: the job stops at the record with an error naming it; rows of
//!   the failing batch are not written, earlier ones are.
//! - `retry_with_backoff`: IO errors of the source and the sinks are retried
//!   [`RETRY_ATTEMPTS`] times with exponential backoff from
//!   [`RETRY_FIRST_BACKOFF`], then the job fails. A bad record is not an IO
//!   error and retrying cannot fix it: it is logged and counted as under
//!   `log_and_continue`.

use std::sync::Arc;
use std::time::Duration;

use velo_planner::{FailureStrategy, JobPlan};
use velo_types::connector::SourceConfig;
use velo_types::{Batch, BatchBuilder, DataType, Field, Schema, SchemaRef, Value};

use crate::app::Failure;

/// Most failure warnings printed per job and side (source, each worker); past
/// it they are only counted, and one line says so.
pub const MAX_WARNINGS: u64 = 20;

/// How many times `retry_with_backoff` tries an IO operation in all.
pub const RETRY_ATTEMPTS: u32 = 4;

/// The wait before the first retry; each later one waits twice as long.
pub const RETRY_FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The columns of a `dlq.sink` row: the source (file path, `<stdin>`, ...), the
/// record's position in it (1-based line for files; null when unknown), the
/// reason, and the record: its raw text when the reader rejected it, its
/// decoded values as a JSON object when it failed in evaluation.
pub fn dlq_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_source", DataType::String),
        Field::new("_position", DataType::Int),
        Field::new("_reason", DataType::String),
        Field::new("_record", DataType::String),
    ]))
}

/// How a job's source is named in messages and DLQ rows.
pub fn source_label(job: &JobPlan) -> String {
    match &job.source.config {
        SourceConfig::File { path, .. } => path.display().to_string(),
        SourceConfig::Stdin { .. } => velo_io::stdin::STDIN_LABEL.to_string(),
        SourceConfig::Generator { .. } => format!("generator '{}'", job.source.name),
        SourceConfig::Nexmark(n) => format!("nexmark {} '{}'", n.table.name(), job.source.name),
        SourceConfig::Kafka(k) => k.topic.clone(),
    }
}

/// `orders.csv:6: division by zero`, or the reason alone without a position.
pub fn at_position(source: &str, position: Option<u64>, reason: &str) -> String {
    match position {
        Some(p) => format!("{source}:{p}: {reason}"),
        None => format!("{source}: {reason}"),
    }
}

/// Failed records on their way to the `dlq.sink`, one builder per job side.
#[derive(Debug)]
pub struct DlqRows {
    source: Value,
    /// The second stream's label, for a job that joins two streams.
    right_source: Option<Value>,
    rows: BatchBuilder,
}

impl DlqRows {
    pub fn new(job: &JobPlan) -> DlqRows {
        DlqRows {
            source: Value::str(&source_label(job)),
            right_source: job.right_input().map(|r| Value::str(&source_label(&r))),
            rows: BatchBuilder::with_capacity(dlq_schema(), 0),
        }
    }

    pub fn push(&mut self, position: Option<u64>, reason: &str, record: &str) {
        self.push_from(0, position, reason, record);
    }

    /// As [`DlqRows::push`], for a record of input `input` (1: the second
    /// stream of a join of two streams).
    pub fn push_from(&mut self, input: usize, position: Option<u64>, reason: &str, record: &str) {
        let source = match (&self.right_source, input) {
            (Some(right), 1) => right.clone(),
            _ => self.source.clone(),
        };
        self.rows.push_row([
            source,
            position
                .and_then(|p| i64::try_from(p).ok())
                .map_or(Value::Null, Value::Int),
            Value::str(reason),
            Value::str(record),
        ]);
    }

    /// The rows pushed since the last call, if any.
    pub fn take(&mut self) -> Option<Batch> {
        (!self.rows.is_empty()).then(|| self.rows.take())
    }
}

/// Reports failure warnings for one side of a job, at most [`MAX_WARNINGS`].
#[derive(Debug, Default)]
pub struct Warnings {
    printed: u64,
}

impl Warnings {
    pub fn warn(&mut self, job: &JobPlan, message: &str) {
        self.printed += 1;
        if self.printed <= MAX_WARNINGS {
            tracing::warn!(job = %job.name, "job '{}': {message}", job.name);
        } else if self.printed == MAX_WARNINGS + 1 {
            tracing::warn!(
                job = %job.name,
                "job '{}': further warnings are only counted",
                job.name
            );
        }
    }
}

/// The retry budget of one IO operation: under `retry_with_backoff`
/// [`RETRY_ATTEMPTS`] tries with exponential backoff, otherwise one.
///
/// ```ignore
/// let mut retry = Retry::new(job);
/// loop {
///     match writer.flush().await {
///         Ok(()) => break,
///         Err(e) => retry.wait_or_fail(job, &e).await?,
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Retry {
    attempts: u32,
    attempt: u32,
    backoff: Duration,
}

impl Retry {
    pub fn new(job: &JobPlan) -> Retry {
        Retry {
            attempts: if job.config.failure_strategy == FailureStrategy::RetryWithBackoff {
                RETRY_ATTEMPTS
            } else {
                1
            },
            attempt: 1,
            backoff: RETRY_FIRST_BACKOFF,
        }
    }

    /// After attempt `n` failed with `e`: waits before attempt `n + 1`, or, with
    /// no attempt left, returns the job's failure.
    pub async fn wait_or_fail(&mut self, job: &JobPlan, e: &velo_io::Error) -> Result<(), Failure> {
        if self.attempt >= self.attempts {
            return Err(if self.attempts > 1 {
                Failure::User(format!(
                    "error: job '{}': {e} (gave up after {} attempts)",
                    job.name, self.attempts
                ))
            } else {
                crate::app::io_failure(job, e)
            });
        }
        self.attempt += 1;
        tracing::warn!(
            job = %job.name,
            "job '{}': {e}; retrying in {} ms (attempt {} of {})",
            job.name,
            self.backoff.as_millis(),
            self.attempt,
            self.attempts
        );
        tokio::time::sleep(self.backoff).await;
        self.backoff *= 2;
        Ok(())
    }
}
