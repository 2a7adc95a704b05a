//! The V1 processor: the [runtime](super::runtime) with one partition, run on
//! the job's thread, which reads a batch, applies it to the query and writes
//! its output before reading the next. It is the reference every other
//! setting must agree with.

use velo_planner::JobPlan;

use super::runtime::{run_job, PartitionLayout};
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
        run_job(app, job, options, counters, |_, _| {
            Ok(PartitionLayout::single())
        })
    }
}
