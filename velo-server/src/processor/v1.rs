//! The V1 processor: one thread runs a job's source, query and sink in turn, batch
//! by batch. It is the reference every other processor must agree with.

use std::sync::atomic::Ordering;

use velo_io::ReaderOptions;
use velo_planner::JobPlan;

use super::sink::Sinks;
use super::source::{open_source, SourceDriver};
use super::worker::{Output, QueryWorker};
use super::{JobCounters, JobProcessor, RunOptions};
use crate::app::{Failure, LoadedApp};

/// One thread per job; see the module docs.
#[derive(Debug, Default)]
pub struct V1Processor;

impl JobProcessor for V1Processor {
    fn name(&self) -> &'static str {
        "v1"
    }

    fn run(
        &self,
        app: &LoadedApp,
        job: &JobPlan,
        options: &RunOptions,
        counters: &JobCounters,
    ) -> Result<(), Failure> {
        let rt = super::job_runtime()?;
        rt.block_on(async {
            let reader_options = ReaderOptions {
                batch_size: options.batch_size,
                system_columns: job.source.system_columns,
                stop: Some(options.stop.clone()),
            };
            let Some(reader) = open_source(job, &reader_options).await? else {
                return Ok(());
            };
            let mut source = SourceDriver::new(app, job, reader)?;
            let input_schema = source.schema();
            let mut worker = QueryWorker::new(job, app.compile(job, input_schema.clone())?);
            let mut sinks =
                Sinks::open(job, worker.query().output_schema().clone(), &input_schema).await?;
            let result = pump(job, options, counters, &mut source, &mut worker, &mut sinks).await;
            // Rows produced before a failure are valid output: flush them either way
            // (V2 does the same), then report the first error.
            let closed = sinks.close(job).await;
            result?;
            closed?;
            source.commit(job).await
        })
    }
}

/// Moves the source's messages through the query into the sinks until the end.
async fn pump(
    job: &JobPlan,
    options: &RunOptions,
    counters: &JobCounters,
    source: &mut SourceDriver,
    worker: &mut QueryWorker,
    sinks: &mut Sinks,
) -> Result<(), Failure> {
    let mut messages = Vec::new();
    let mut outputs = Vec::new();
    let mut more = true;
    let acks = source.acks();
    while more {
        if options.stop.load(Ordering::Relaxed) {
            source.stop(&mut messages);
        } else {
            let read = source
                .next(job, &mut messages, &mut outputs, counters)
                .await;
            // Records rejected before a failure still reach the DLQ.
            for output in outputs.drain(..) {
                sinks.write_output(job, &output, counters).await?;
            }
            if !read? {
                break;
            }
        }
        for message in messages.drain(..) {
            let handled = worker.handle(job, message, counters, &mut outputs);
            for output in outputs.drain(..) {
                sinks.write_output(job, &output, counters).await?;
                if let Output::Barrier(id) = output {
                    // Flushed: everything before the barrier is in the sinks.
                    acks.acknowledge(id);
                    tracing::debug!(
                        job = %job.name,
                        barrier = id,
                        "job '{}': barrier {id} passed; sinks flushed",
                        job.name
                    );
                }
            }
            more = more && handled?;
            if !more {
                break;
            }
        }
    }
    Ok(())
}
