//! Applying the in-band message sequence to one query: the part of a job that
//! V1 runs on its only thread and V2 runs on each partition worker.

use velo_engine::query::{QueryExecutor, QueryStats};
use velo_planner::JobPlan;
use velo_types::{Batch, StreamMessage};

use super::JobCounters;
use crate::app::Failure;

/// What a query hands to the sink side.
#[derive(Debug)]
pub enum Output {
    /// Rows for the job's sink.
    Rows(Batch),
    /// Late rows for the dead-letter sink.
    DeadLetters(Batch),
}

/// Most warnings printed per job; past it they are only counted.
const MAX_WARNINGS: u64 = 20;

/// One query and the bookkeeping around it.
#[derive(Debug)]
pub struct QueryWorker {
    query: QueryExecutor,
    last: QueryStats,
    warnings: u64,
}

impl QueryWorker {
    pub fn new(query: QueryExecutor) -> QueryWorker {
        QueryWorker {
            last: query.stats(),
            query,
            warnings: 0,
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
        let fail = |e: velo_engine::Error| Failure::User(format!("error: job '{}': {e}", job.name));
        let (emitted, more) = match message {
            StreamMessage::Batch(b) => (self.query.process(&b).map_err(fail)?, true),
            StreamMessage::Watermark(wm) => (self.query.on_watermark(wm).map_err(fail)?, true),
            StreamMessage::EndOfStream => (self.query.finish().map_err(fail)?, false),
        };
        if let Some(dead) = self.query.take_dead_letters() {
            out.push(Output::DeadLetters(dead));
        }
        if let Some(rows) = emitted {
            out.push(Output::Rows(rows));
        }
        for f in self.query.take_failures() {
            self.warn(job, &format!("record skipped: {}", f.error));
        }
        for w in self.query.take_late_warnings() {
            self.warn(job, &w.to_string());
        }
        self.sync(counters);
        Ok(more && !self.query.is_done())
    }

    fn warn(&mut self, job: &JobPlan, message: &str) {
        self.warnings += 1;
        if self.warnings <= MAX_WARNINGS {
            eprintln!("warning: job '{}': {message}", job.name);
        } else if self.warnings == MAX_WARNINGS + 1 {
            eprintln!(
                "warning: job '{}': further warnings are only counted",
                job.name
            );
        }
    }

    /// Adds what the query counted since the last call to the job's counters.
    fn sync(&mut self, counters: &JobCounters) {
        let now = self.query.stats();
        counters.add(&counters.read, now.rows_in - self.last.rows_in);
        counters.add(&counters.filtered, now.filtered - self.last.filtered);
        counters.add(&counters.failed, now.failed - self.last.failed);
        counters.add(&counters.late, now.late - self.last.late);
        self.last = now;
    }
}
