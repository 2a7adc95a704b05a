//! Velo's partition runtime building blocks: how the V2 processor routes records
//! to its N partition workers, and how it measures backpressure.
//!
//! The boundary is [`PartitioningStrategy`]: given a batch and a [`RoutingContext`],
//! it decides which partition each row goes to. Strategies work on whole batches
//! (one pass, one hash per row over an unambiguous encoding of each key value), and
//! the non-hashing ones move whole batches without touching rows. This crate knows
//! nothing of SQL text or IO; the planner chooses the strategy, the server runs it.
//!
//! This issue ships the boundary and the backpressure classification; the five
//! strategies and the worker runtime arrive with the V2 issue.

mod backpressure;
mod error;

pub use backpressure::BackpressureState;
pub use error::{Error, Result};
use velo_types::Batch;

/// What a strategy may know when it routes a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingContext {
    /// The source partition the batch came from (a Kafka partition, a file).
    pub source_partition: u32,
    /// The columns the source is already partitioned by, if it declares them.
    pub source_partition_key: Option<Vec<usize>>,
    /// Indices of the columns to hash on (the GROUP BY or PARTITION BY keys).
    pub key_columns: Vec<usize>,
    /// N, the number of processing partitions.
    pub partition_count: usize,
}

/// Where the rows of one batch go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// The whole batch goes to one partition, untouched.
    Whole(usize),
    /// Row `i` goes to partition `targets[i]`.
    PerRow(Vec<u32>),
}

/// Routes batches to processing partitions (SPEC §5).
///
/// ```
/// use velo_partition::{PartitioningStrategy, Routing, RoutingContext};
/// use velo_types::Batch;
///
/// /// Everything to partition 0: the simplest valid strategy.
/// struct FanIn;
/// impl PartitioningStrategy for FanIn {
///     fn name(&self) -> &'static str { "fan_in" }
///     fn route(&mut self, _batch: &Batch, _ctx: &RoutingContext) -> Routing { Routing::Whole(0) }
/// }
///
/// let ctx = RoutingContext { source_partition: 0, source_partition_key: None, key_columns: vec![], partition_count: 4 };
/// let batch = Batch::empty(Default::default());
/// assert_eq!(FanIn.route(&batch, &ctx), Routing::Whole(0));
/// ```
pub trait PartitioningStrategy: Send {
    /// The strategy's config name, e.g. `always_hash`.
    fn name(&self) -> &'static str;

    /// Decides where the rows of `batch` go.
    fn route(&mut self, batch: &Batch, ctx: &RoutingContext) -> Routing;
}
