//! The V2 processor: the [runtime](super::runtime) with N partitions, records
//! routed to them by the job's partitioning strategy.

pub use super::runtime::{run_partitioned, OutputSink, PartitionLayout, Placement};

use velo_partition::StrategyKind;
use velo_planner::JobPlan;

use super::runtime::{cores, run_job};
use super::{JobCounters, JobProcessor, RunOptions};
use crate::app::{Failure, LoadedApp};

/// N partition workers; see the [runtime](super::runtime).
#[derive(Debug, Clone)]
pub struct V2Processor {
    /// N; at least 1.
    pub partitions: usize,
    /// A strategy forced from the command line; `None` keeps the planner's.
    pub strategy: Option<StrategyKind>,
    /// Which thread runs partition 0.
    pub placement: Placement,
}

impl V2Processor {
    /// N = the number of CPU cores, the planner's strategy.
    pub fn with_default_partitions() -> V2Processor {
        V2Processor {
            partitions: cores(),
            strategy: None,
            placement: Placement::Auto,
        }
    }
}

impl JobProcessor for V2Processor {
    fn name(&self) -> &'static str {
        "v2"
    }

    fn run(
        &self,
        app: &LoadedApp,
        job: &JobPlan,
        options: &RunOptions,
        counters: &JobCounters,
    ) -> Result<(), Failure> {
        run_job(app, job, options, counters, |schema, right| {
            let mut layout =
                PartitionLayout::new(job, schema, right, self.strategy, self.partitions)?;
            layout.placement = self.placement;
            Ok(layout)
        })
    }
}
