//! The sink side of a job, shared by every processor: the job's output sink and
//! its side sinks (late rows under `dead_letter`, failed records under
//! `send_to_dlq`).
//!
//! A batch counts as written once its sink has taken all of it; a sink that
//! fails is retried under `retry_with_backoff` (the writer keeps what it could
//! not write, so a retry neither loses nor repeats rows) and otherwise stops the
//! job, with the rows already written flushed and counted.

use std::sync::Arc;

use velo_io::{open_writer_at, DataWriter};

use super::checkpoint::SinkMarks;
use velo_planner::{JobPlan, SinkPlan};
use velo_types::{Batch, DataType, Field, Schema, SchemaRef};

use super::failures::{dlq_schema, Retry};
use super::{Count, JobCounters};
use crate::app::Failure;

/// The schema of dead-lettered late rows: the input's columns and the reason.
pub fn dead_letter_schema(input: &Schema) -> SchemaRef {
    let mut fields = input.fields().to_vec();
    fields.push(Field::new("_late_reason", DataType::String));
    Arc::new(Schema::new(fields))
}

/// Every writer of one job.
pub struct Sinks {
    main: Box<dyn DataWriter>,
    dead_letter: Option<Box<dyn DataWriter>>,
    dlq: Option<Box<dyn DataWriter>>,
    /// A write failed for good: closing tries each writer once, for the rows
    /// written before, and does not retry what already failed.
    broken: bool,
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks")
            .field("dead_letter", &self.dead_letter.is_some())
            .field("dlq", &self.dlq.is_some())
            .finish_non_exhaustive()
    }
}

/// Opens `sink`, retrying under `retry_with_backoff`; a file sink resumed
/// from a checkpoint is cut back to `resume` bytes.
async fn open(
    job: &JobPlan,
    sink: &SinkPlan,
    schema: SchemaRef,
    resume: Option<u64>,
) -> Result<Box<dyn DataWriter>, Failure> {
    let mut retry = Retry::new(job);
    loop {
        match open_writer_at(&sink.config, schema.clone(), resume).await {
            Ok(w) => return Ok(w),
            Err(e) => retry.wait_or_fail(job, &e).await?,
        }
    }
}

/// Writes `batch` to `writer`; on failure retries the flush of what the writer
/// kept, under `retry_with_backoff`.
async fn write(job: &JobPlan, writer: &mut dyn DataWriter, batch: &Batch) -> Result<(), Failure> {
    let e = match writer.write_batch(batch).await {
        Ok(()) => return Ok(()),
        // Only an IO error leaves bytes to retry; others cannot improve.
        Err(e @ velo_io::Error::Io { .. }) => e,
        Err(e) => return Err(crate::app::io_failure(job, &e)),
    };
    let mut retry = Retry::new(job);
    retry.wait_or_fail(job, &e).await?;
    loop {
        match writer.flush().await {
            Ok(()) => return Ok(()),
            Err(e) => retry.wait_or_fail(job, &e).await?,
        }
    }
}

impl Sinks {
    /// Opens the job's sinks; `resume`: where a checkpoint left each (a file
    /// sink is cut back to it and appended to).
    pub async fn open(
        job: &JobPlan,
        output: SchemaRef,
        dead_letters: SchemaRef,
        resume: SinkMarks,
    ) -> Result<Sinks, Failure> {
        let main = open(job, &job.sink, output, resume.main).await?;
        let dead_letter = match &job.dead_letter {
            Some(s) => Some(open(job, s, dead_letters, resume.dead_letter).await?),
            None => None,
        };
        let dlq = match &job.dlq {
            Some(s) if job.config.failure_strategy == velo_planner::FailureStrategy::SendToDlq => {
                Some(open(job, s, dlq_schema(), resume.dlq).await?)
            }
            _ => None,
        };
        Ok(Sinks {
            main,
            dead_letter,
            dlq,
            broken: false,
        })
    }

    /// Writes output rows and counts them as written.
    pub async fn write(
        &mut self,
        job: &JobPlan,
        batch: &Batch,
        counters: &JobCounters,
    ) -> Result<(), Failure> {
        let written = write(job, self.main.as_mut(), batch).await;
        self.broken |= written.is_err();
        written?;
        counters.add(Count::Written, batch.num_rows() as u64);
        Ok(())
    }

    /// Writes late rows to the dead-letter sink.
    pub async fn write_dead_letters(
        &mut self,
        job: &JobPlan,
        batch: &Batch,
    ) -> Result<(), Failure> {
        match &mut self.dead_letter {
            Some(w) => {
                let written = write(job, w.as_mut(), batch).await;
                self.broken |= written.is_err();
                written
            }
            None => Err(Failure::Internal(
                "dead-lettered rows without a dead-letter sink".to_string(),
            )),
        }
    }

    /// Writes failed records to the `dlq.sink` and counts them.
    pub async fn write_failed(
        &mut self,
        job: &JobPlan,
        batch: &Batch,
        counters: &JobCounters,
    ) -> Result<(), Failure> {
        match &mut self.dlq {
            Some(w) => {
                let written = write(job, w.as_mut(), batch).await;
                self.broken |= written.is_err();
                written?;
                counters.add(Count::Dlq, batch.num_rows() as u64);
                Ok(())
            }
            None => Err(Failure::Internal(
                "failed records without a dlq sink".to_string(),
            )),
        }
    }

    /// Flushes every writer, so that everything written so far is
    /// acknowledged by its sink (a Kafka sink waits for its delivery reports).
    pub async fn flush(&mut self, job: &JobPlan) -> Result<(), Failure> {
        let writers = std::iter::once(&mut self.main)
            .chain(self.dead_letter.as_mut())
            .chain(self.dlq.as_mut());
        for w in writers {
            let mut retry = Retry::new(job);
            loop {
                match w.flush().await {
                    Ok(()) => break,
                    Err(e) => {
                        if let Err(f) = retry.wait_or_fail(job, &e).await {
                            self.broken = true;
                            return Err(f);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// For a checkpoint: flushes every writer; where each is
    /// ([`DataWriter::commit_point`]), and the handles that make their
    /// output durable ([`DataWriter::sync_handle`]), for the checkpoint's
    /// writer to sync before it completes the checkpoint.
    pub async fn commit_points(
        &mut self,
        job: &JobPlan,
    ) -> Result<(SinkMarks, Vec<std::fs::File>), Failure> {
        let io = |e: velo_io::Error| crate::app::io_failure(job, &e);
        let main = self.main.commit_point().await.map_err(io)?;
        let dead_letter = match &mut self.dead_letter {
            Some(w) => w.commit_point().await.map_err(io)?,
            None => None,
        };
        let dlq = match &mut self.dlq {
            Some(w) => w.commit_point().await.map_err(io)?,
            None => None,
        };
        let handles = std::iter::once(&self.main)
            .chain(self.dead_letter.as_ref())
            .chain(self.dlq.as_ref())
            .filter_map(|w| w.sync_handle())
            .collect();
        Ok((
            SinkMarks {
                main,
                dead_letter,
                dlq,
            },
            handles,
        ))
    }

    /// Flushes and closes every writer (each is retried under
    /// `retry_with_backoff`); the first failure is returned after trying all.
    pub async fn close(&mut self, job: &JobPlan) -> Result<(), Failure> {
        let mut first = Ok(());
        let writers = std::iter::once(&mut self.main)
            .chain(self.dead_letter.as_mut())
            .chain(self.dlq.as_mut());
        for w in writers {
            let mut retry = Retry::new(job);
            let closed = loop {
                match w.close().await {
                    Ok(()) => break Ok(()),
                    Err(e) if self.broken => break Err(crate::app::io_failure(job, &e)),
                    Err(e) => {
                        if let Err(f) = retry.wait_or_fail(job, &e).await {
                            break Err(f);
                        }
                    }
                }
            };
            if first.is_ok() {
                first = closed;
            }
        }
        first
    }
}
