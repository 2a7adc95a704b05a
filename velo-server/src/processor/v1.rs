//! The V1 processor: one thread runs a job's source, query and sink in turn, batch
//! by batch. It is the reference every other processor must agree with.

use velo_io::{open_reader, open_writer, ReaderOptions};
use velo_planner::JobPlan;

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
        // Readers and writers are async at their boundary but do blocking file IO;
        // a current-thread runtime on this job's own thread drives them.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Internal(format!("cannot start the runtime: {e}")))?;
        rt.block_on(async {
            let reader_options = ReaderOptions {
                batch_size: options.batch_size,
            };
            let mut reader = open_reader(&job.source.config, &reader_options)
                .await
                .map_err(|e| io_failure(job, &e))?;
            let mut query = app.compile(job, reader.schema())?;
            let mut writer = open_writer(&job.sink.config, query.output_schema().clone())
                .await
                .map_err(|e| io_failure(job, &e))?;
            let mut last = query.counters();
            let sync_counters =
                |query: &velo_engine::query::QueryExecutor,
                 last: &mut velo_engine::query::QueryCounters| {
                    let now = query.counters();
                    counters.add(&counters.read, now.rows_in - last.rows_in);
                    counters.add(&counters.filtered, now.filtered - last.filtered);
                    counters.add(&counters.failed, now.failed - last.failed);
                    *last = now;
                };
            while !options.stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Some(batch) = reader.next_batch().await.map_err(|e| io_failure(job, &e))?
                else {
                    break;
                };
                let out = query
                    .process(&batch)
                    .map_err(|e| Failure::User(format!("error: job '{}': {e}", job.name)))?;
                for f in query.take_failures() {
                    eprintln!("warning: job '{}': record skipped: {}", job.name, f.error);
                }
                sync_counters(&query, &mut last);
                if let Some(out) = out {
                    writer
                        .write_batch(&out)
                        .await
                        .map_err(|e| io_failure(job, &e))?;
                    counters.add(&counters.written, out.num_rows() as u64);
                }
                if query.is_done() {
                    break;
                }
            }
            if let Some(out) = query
                .finish()
                .map_err(|e| Failure::User(format!("error: job '{}': {e}", job.name)))?
            {
                writer
                    .write_batch(&out)
                    .await
                    .map_err(|e| io_failure(job, &e))?;
                counters.add(&counters.written, out.num_rows() as u64);
            }
            sync_counters(&query, &mut last);
            writer.flush().await.map_err(|e| io_failure(job, &e))?;
            writer.close().await.map_err(|e| io_failure(job, &e))?;
            reader.commit().await.map_err(|e| io_failure(job, &e))?;
            Ok(())
        })
    }
}
