//! The V1 processor: one thread runs a job's source, query and sink in turn, batch
//! by batch. It is the reference every other processor must agree with.

use std::sync::atomic::Ordering;

use velo_io::{open_reader, ReaderOptions};
use velo_planner::JobPlan;

use super::sink::Sinks;
use super::source::SourceDriver;
use super::worker::{Output, QueryWorker};
use super::{JobCounters, JobProcessor, RunOptions};
use crate::app::{io_failure, Failure, LoadedApp};

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
            };
            let reader = open_reader(&job.source.config, &reader_options)
                .await
                .map_err(|e| io_failure(job, &e))?;
            let mut source = SourceDriver::new(app, job, reader)?;
            let input_schema = source.schema();
            let mut worker = QueryWorker::new(app.compile(job, input_schema.clone())?);
            let mut sinks =
                Sinks::open(job, worker.query().output_schema().clone(), &input_schema).await?;
            let result = pump(job, options, counters, &mut source, &mut worker, &mut sinks).await;
            // Rows produced before a failure are valid output: flush them either way
            // (V2's sink thread does the same), then report the first error.
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
    while more {
        if options.stop.load(Ordering::Relaxed) {
            source.stop(&mut messages);
        } else if !source.next(job, &mut messages).await? {
            break;
        }
        for message in messages.drain(..) {
            more = more && worker.handle(job, message, counters, &mut outputs)?;
            for output in outputs.drain(..) {
                match output {
                    Output::Rows(rows) => sinks.write(job, &rows, counters).await?,
                    Output::DeadLetters(rows) => sinks.write_dead_letters(job, &rows).await?,
                }
            }
            if !more {
                break;
            }
        }
    }
    Ok(())
}
