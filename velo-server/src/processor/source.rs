//! The source side of a job, shared by every processor: reads batches and turns
//! them into the in-band message sequence of SPEC §4 — each batch, then a
//! watermark whenever the batch advanced it, then the end of the stream.
//! Records the reader rejects are counted as read and failed, and handled by
//! the job's `failure_strategy` (see [`super::failures`]).

use std::time::Instant;

use velo_engine::query::EventTime;
use velo_io::{open_reader, DataReader, ReaderOptions};
use velo_planner::{FailureStrategy, JobPlan, WatermarkStrategy as PlannedStrategy};
use velo_types::StreamMessage;
use velo_watermark::{SourceWatermarks, WatermarkStrategy};

use super::failures::{DlqRows, Retry, Warnings};
use super::worker::Output;
use super::{Count, JobCounters};
use crate::app::{io_failure, Failure, LoadedApp};

/// Opens `job`'s reader, retrying under `retry_with_backoff` (a file that is
/// not there yet, say).
pub async fn open_source(
    job: &JobPlan,
    options: &ReaderOptions,
) -> Result<Box<dyn DataReader>, Failure> {
    let mut retry = Retry::new(job);
    loop {
        match open_reader(&job.source.config, options).await {
            Ok(r) => return Ok(r),
            Err(e) => retry.wait_or_fail(job, &e).await?,
        }
    }
}

/// The source partition id of a file, stdin or the generator: they have one.
const SINGLE_PARTITION: u32 = 0;

/// Reads one job's source.
pub struct SourceDriver {
    reader: Box<dyn DataReader>,
    event_time: Option<EventTime>,
    watermarks: SourceWatermarks,
    finished: bool,
    warnings: Warnings,
    /// Rejected records bound for the DLQ (`send_to_dlq` only).
    dlq: Option<DlqRows>,
}

impl std::fmt::Debug for SourceDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceDriver")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl SourceDriver {
    pub fn new(
        app: &LoadedApp,
        job: &JobPlan,
        reader: Box<dyn DataReader>,
    ) -> Result<Self, Failure> {
        let schema = reader.schema();
        let event_time = EventTime::new(job, &schema).map_err(|e| app.compile_error(&e))?;
        let strategy = match job.config.watermark_strategy {
            PlannedStrategy::Ascending => WatermarkStrategy::Ascending,
            PlannedStrategy::BoundedOutOfOrderness => WatermarkStrategy::BoundedOutOfOrderness {
                max_out_of_orderness_ms: job.config.max_out_of_orderness_ms,
            },
        };
        let mut watermarks = SourceWatermarks::new(strategy, None)
            .map_err(|e| Failure::User(format!("error: job '{}': {e}", job.name)))?;
        watermarks.add_partition(SINGLE_PARTITION);
        Ok(SourceDriver {
            reader,
            event_time,
            watermarks,
            finished: false,
            warnings: Warnings::default(),
            dlq: (job.config.failure_strategy == FailureStrategy::SendToDlq)
                .then(|| DlqRows::new(job)),
        })
    }

    pub fn schema(&self) -> velo_types::SchemaRef {
        self.reader.schema()
    }

    /// The next messages: a batch and, if it advanced the watermark, the new
    /// watermark; at the end, `EndOfStream` (whose `finish()` closes every
    /// window). Rejected records met on the way are handled per
    /// `failure_strategy`; those bound for the DLQ are pushed onto `side`.
    /// Returns `false` once the end has been delivered.
    pub async fn next(
        &mut self,
        job: &JobPlan,
        out: &mut Vec<StreamMessage>,
        side: &mut Vec<Output>,
        counters: &JobCounters,
    ) -> Result<bool, Failure> {
        if self.finished {
            return Ok(false);
        }
        let read = self.read(job, counters).await;
        if let Some(rows) = self.dlq.as_mut().and_then(DlqRows::take) {
            side.push(Output::Failed(rows));
        }
        match read? {
            Some(batch) => {
                if let Some(et) = &self.event_time {
                    let max = et.max_event_time(&batch);
                    self.watermarks
                        .observe(SINGLE_PARTITION, max, Instant::now());
                    out.push(StreamMessage::Batch(batch));
                    if let Some(wm) = self.watermarks.advance(Instant::now()) {
                        out.push(StreamMessage::Watermark(wm));
                    }
                } else {
                    out.push(StreamMessage::Batch(batch));
                }
            }
            None => {
                self.finished = true;
                out.push(StreamMessage::EndOfStream);
            }
        }
        Ok(true)
    }

    /// The next batch, past rejected records (each counted and handled) and,
    /// under `retry_with_backoff`, past IO errors that go away.
    async fn read(
        &mut self,
        job: &JobPlan,
        counters: &JobCounters,
    ) -> Result<Option<velo_types::Batch>, Failure> {
        let mut retry = Retry::new(job);
        loop {
            match self.reader.next_batch().await {
                Ok(batch) => return Ok(batch),
                Err(e) if e.is_record_error() => {
                    counters.add(Count::Read, 1);
                    counters.add(Count::Failed, 1);
                    self.reject(job, &e)?;
                }
                Err(e) => retry.wait_or_fail(job, &e).await?,
            }
        }
    }

    /// One record the reader rejected, under the job's `failure_strategy`.
    fn reject(&mut self, job: &JobPlan, e: &velo_io::Error) -> Result<(), Failure> {
        match (&mut self.dlq, job.config.failure_strategy) {
            (_, FailureStrategy::FailBatch) => Err(io_failure(job, e)),
            (Some(dlq), _) => {
                // The reason without the position: it has columns of its own.
                let reason = e.to_string();
                let prefix = format!(
                    "{}:{}: ",
                    e.source_label().unwrap_or_default(),
                    e.line().unwrap_or(0)
                );
                let reason = reason.strip_prefix(&prefix).unwrap_or(&reason);
                dlq.push(e.line(), reason, e.raw_record().unwrap_or(""));
                Ok(())
            }
            (None, _) => {
                self.warnings.warn(job, &format!("record skipped: {e}"));
                Ok(())
            }
        }
    }

    /// Stops reading early (a signal): delivers `EndOfStream` once.
    pub fn stop(&mut self, out: &mut Vec<StreamMessage>) {
        if !self.finished {
            self.finished = true;
            out.push(StreamMessage::EndOfStream);
        }
    }

    pub async fn commit(&mut self, job: &JobPlan) -> Result<(), Failure> {
        self.reader.commit().await.map_err(|e| io_failure(job, &e))
    }
}
