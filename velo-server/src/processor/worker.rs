//! Applying the in-band message sequence to one query: the part of a job that
//! V1 runs on its only thread and V2 runs on each partition worker.

use velo_engine::query::{QueryExecutor, QueryStats, RowFailure};
use velo_io::render::JsonRowEncoder;
use velo_planner::{FailureStrategy, JobPlan};
use velo_types::{Batch, StreamMessage};

use super::failures::{at_position, source_label, DlqRows, Warnings};
use super::{Count, JobCounters};
use crate::app::Failure;

/// What a query hands to the sink side.
#[derive(Debug)]
pub enum Output {
    /// Rows for the job's sink.
    Rows(Batch),
    /// Late rows for the dead-letter sink.
    DeadLetters(Batch),
    /// Failed records for the `dlq.sink` (`send_to_dlq`).
    Failed(Batch),
    /// A barrier passed this query: flush the sinks, then acknowledge it
    /// (see [`super::source::Acks`]). A checkpoint barrier carries the
    /// query's state as it was at the barrier
    /// ([`QueryExecutor::snapshot_bytes`]).
    Barrier { id: u64, state: Option<Vec<u8>> },
}

/// One query and the bookkeeping around it.
#[derive(Debug)]
pub struct QueryWorker {
    query: QueryExecutor,
    last: QueryStats,
    warnings: Warnings,
    /// The job's source, for failure messages.
    source: String,
    /// The second stream's, for a job that joins two.
    right_source: Option<String>,
    /// Failed records bound for the DLQ (`send_to_dlq` only).
    dlq: Option<(DlqRows, [JsonRowEncoder; 3])>,
    /// The state size last added to the job's total.
    state_bytes: u64,
    /// `max.memory.mb` in bytes.
    memory_limit: Option<u64>,
    /// The source runs until stopped: its end does not flush open state (the
    /// uncommitted input is read again by whoever reads it next).
    unbounded: bool,
    /// Barriers are checkpoints: the state is taken at each.
    checkpoints: bool,
}

impl QueryWorker {
    pub fn new(job: &JobPlan, query: QueryExecutor) -> QueryWorker {
        // A failed row is written in its own input's columns (a join of two
        // streams: either stream's, or the joined row's).
        let dlq = (job.config.failure_strategy == FailureStrategy::SendToDlq).then(|| {
            let left = query.input_schema();
            let encoders = [
                left,
                query.right_input_schema().unwrap_or(left),
                query.joined_schema().unwrap_or(left),
            ]
            .map(|s| JsonRowEncoder::new(s));
            (DlqRows::new(job), encoders)
        });
        QueryWorker {
            // A restored query's counts are the job's too: the first sync
            // adds them.
            last: QueryStats::default(),
            query,
            warnings: Warnings::default(),
            source: source_label(job),
            right_source: job.right_input().map(|r| source_label(&r)),
            dlq,
            state_bytes: 0,
            memory_limit: job
                .config
                .max_memory_mb
                .map(|mb| mb.saturating_mul(1 << 20)),
            unbounded: super::source::is_partitioned(job),
            // Barriers come from checkpoints then (the source puts them in
            // only when the job takes checkpoints).
            checkpoints: super::checkpoint::enabled(job),
        }
    }

    pub fn query(&self) -> &QueryExecutor {
        &self.query
    }

    /// Applies one message; pushes what to emit onto `out`. Returns `false` after
    /// `EndOfStream` (or once LIMIT is reached): no more input is needed.
    pub fn handle(
        &mut self,
        job: &JobPlan,
        message: StreamMessage,
        counters: &JobCounters,
        out: &mut Vec<Output>,
    ) -> Result<bool, Failure> {
        let mut barrier = None;
        let result = match message {
            StreamMessage::Batch(b) => self.query.process(&b).map(|o| (o, true)),
            StreamMessage::Right(b) => self.query.process_right(&b).map(|o| (o, true)),
            StreamMessage::Watermark(wm) => self.query.on_watermark(wm).map(|o| (o, true)),
            StreamMessage::Barrier(id) => {
                // What the operators emit at the barrier belongs before it.
                barrier = Some(id);
                self.query.on_barrier(id).map(|o| (o, true))
            }
            StreamMessage::EndOfStream if self.unbounded => Ok((None, false)),
            StreamMessage::EndOfStream => self.query.finish().map(|o| (o, false)),
        };
        let (emitted, more) = match result {
            Ok(r) => r,
            Err(e) => {
                // `fail_batch`: the failing record stops the job; count it.
                self.sync(counters);
                return Err(Failure::User(format!(
                    "error: job '{}': {}",
                    job.name,
                    at_position(self.label(e.row_input()), e.row_position(), &e.to_string())
                )));
            }
        };
        if let Some(dead) = self.query.take_dead_letters() {
            out.push(Output::DeadLetters(dead));
        }
        if let Some(rows) = emitted {
            out.push(Output::Rows(rows));
        }
        for f in self.query.take_failures() {
            self.report(job, &f);
        }
        if let Some(failed) = self.dlq.as_mut().and_then(|(rows, _)| rows.take()) {
            out.push(Output::Failed(failed));
        }
        for w in self.query.take_late_warnings() {
            self.warnings.warn(job, &w.to_string());
        }
        if let Some(id) = barrier {
            let state = if self.checkpoints {
                let state = self.query.snapshot_bytes().map_err(|e| {
                    Failure::Internal(format!(
                        "job '{}': cannot take checkpoint {id}: {e}",
                        job.name
                    ))
                })?;
                Some(state)
            } else {
                None
            };
            out.push(Output::Barrier { id, state });
        }
        self.sync(counters);
        self.check_memory(job, counters)?;
        Ok(more && !self.query.is_done())
    }

    /// The label of input `input`'s source, for failure messages.
    fn label(&self, input: usize) -> &str {
        match (&self.right_source, input) {
            (Some(right), 1) => right,
            _ => &self.source,
        }
    }

    /// Logs a failed record, or sets it aside for the DLQ.
    fn report(&mut self, job: &JobPlan, f: &RowFailure) {
        let reason = f.error.to_string();
        match &mut self.dlq {
            Some((rows, encoders)) => {
                let mut json = Vec::new();
                encoders[f.input.min(2)].encode_row(&f.values, &mut json);
                let record = String::from_utf8_lossy(&json);
                rows.push_from(f.input, f.position, &reason, record.trim_end());
            }
            None => {
                let message = at_position(self.label(f.input), f.position, &reason);
                self.warnings
                    .warn(job, &format!("record skipped: {message}"));
            }
        }
    }

    /// Stops the job when the state of all its partitions together is past
    /// `max.memory.mb`.
    fn check_memory(&mut self, job: &JobPlan, counters: &JobCounters) -> Result<(), Failure> {
        let Some(limit) = self.memory_limit else {
            return Ok(());
        };
        use std::sync::atomic::Ordering;
        let now = self.query.state_bytes() as u64;
        let total = if now >= self.state_bytes {
            counters
                .state_bytes
                .fetch_add(now - self.state_bytes, Ordering::Relaxed)
                + (now - self.state_bytes)
        } else {
            counters
                .state_bytes
                .fetch_sub(self.state_bytes - now, Ordering::Relaxed)
                - (self.state_bytes - now)
        };
        self.state_bytes = now;
        if total > limit {
            return Err(Failure::User(format!(
                "error: job '{}': query state holds about {:.1} MB ({} groups), past 'max.memory.mb' = {}; add a window or a filter, or raise the limit",
                job.name,
                total as f64 / f64::from(1 << 20),
                self.query.group_count(),
                limit >> 20
            )));
        }
        Ok(())
    }

    /// Adds what the query counted since the last call to the job's counters.
    fn sync(&mut self, counters: &JobCounters) {
        let now = self.query.stats();
        let set_aside = |s: &QueryStats| s.late_dropped + s.late_dead_lettered;
        counters.add(Count::Read, now.rows_in - self.last.rows_in);
        counters.add(Count::Processed, now.contributed - self.last.contributed);
        counters.add(Count::Filtered, now.filtered - self.last.filtered);
        counters.add(Count::Failed, now.failed - self.last.failed);
        counters.add(Count::Late, now.late - self.last.late);
        counters.add(Count::LateDropped, set_aside(&now) - set_aside(&self.last));
        self.last = now;
    }
}
