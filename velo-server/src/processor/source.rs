//! The source side of a job, shared by every processor: reads batches and turns
//! them into the in-band message sequence of SPEC §4 — each batch, then a
//! watermark whenever the batch advanced it, then the end of the stream.

use std::time::Instant;

use velo_engine::query::EventTime;
use velo_io::DataReader;
use velo_planner::{JobPlan, WatermarkStrategy as PlannedStrategy};
use velo_types::StreamMessage;
use velo_watermark::{SourceWatermarks, WatermarkStrategy};

use crate::app::{io_failure, Failure, LoadedApp};

/// The source partition id of a file, stdin or the generator: they have one.
const SINGLE_PARTITION: u32 = 0;

/// Reads one job's source.
pub struct SourceDriver {
    reader: Box<dyn DataReader>,
    event_time: Option<EventTime>,
    watermarks: SourceWatermarks,
    finished: bool,
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
        })
    }

    pub fn schema(&self) -> velo_types::SchemaRef {
        self.reader.schema()
    }

    /// The next messages: a batch and, if it advanced the watermark, the new
    /// watermark; at the end, `EndOfStream` (whose `finish()` closes every
    /// window). Returns `false` once the end has been delivered.
    pub async fn next(
        &mut self,
        job: &JobPlan,
        out: &mut Vec<StreamMessage>,
    ) -> Result<bool, Failure> {
        if self.finished {
            return Ok(false);
        }
        match self
            .reader
            .next_batch()
            .await
            .map_err(|e| io_failure(job, &e))?
        {
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
