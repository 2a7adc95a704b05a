//! The sink side of a job, shared by every processor: the job's output sink and
//! its side sinks (late rows under `dead_letter`).

use std::sync::Arc;

use velo_io::{open_writer, DataWriter};
use velo_planner::JobPlan;
use velo_types::{Batch, DataType, Field, Schema, SchemaRef};

use super::JobCounters;
use crate::app::{io_failure, Failure};

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
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks")
            .field("dead_letter", &self.dead_letter.is_some())
            .finish_non_exhaustive()
    }
}

impl Sinks {
    pub async fn open(job: &JobPlan, output: SchemaRef, input: &Schema) -> Result<Sinks, Failure> {
        let main = open_writer(&job.sink.config, output)
            .await
            .map_err(|e| io_failure(job, &e))?;
        let dead_letter = match &job.dead_letter {
            Some(s) => Some(
                open_writer(&s.config, dead_letter_schema(input))
                    .await
                    .map_err(|e| io_failure(job, &e))?,
            ),
            None => None,
        };
        Ok(Sinks { main, dead_letter })
    }

    /// Writes output rows and counts them as written.
    pub async fn write(
        &mut self,
        job: &JobPlan,
        batch: &Batch,
        counters: &JobCounters,
    ) -> Result<(), Failure> {
        self.main
            .write_batch(batch)
            .await
            .map_err(|e| io_failure(job, &e))?;
        counters.add(&counters.written, batch.num_rows() as u64);
        Ok(())
    }

    /// Writes late rows to the dead-letter sink.
    pub async fn write_dead_letters(
        &mut self,
        job: &JobPlan,
        batch: &Batch,
    ) -> Result<(), Failure> {
        match &mut self.dead_letter {
            Some(w) => w.write_batch(batch).await.map_err(|e| io_failure(job, &e)),
            None => Err(Failure::Internal(
                "dead-lettered rows without a dead-letter sink".to_string(),
            )),
        }
    }

    /// Flushes and closes every writer.
    pub async fn close(&mut self, job: &JobPlan) -> Result<(), Failure> {
        for w in std::iter::once(&mut self.main).chain(self.dead_letter.as_mut()) {
            w.flush().await.map_err(|e| io_failure(job, &e))?;
            w.close().await.map_err(|e| io_failure(job, &e))?;
        }
        Ok(())
    }
}
