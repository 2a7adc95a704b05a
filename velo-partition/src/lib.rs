//! Velo's partition runtime building blocks: how the V2 processor routes batches
//! to its N partition workers, and the bounded queues that feed them.
//!
//! - [`PartitioningStrategy`] splits one input [`Batch`] into per-partition
//!   sub-batches given a [`RoutingContext`]. The five strategies of SPEC §5 are
//!   [`AlwaysHash`], [`SmartRepartition`], [`StickyPartition`], [`RoundRobin`] and
//!   [`FanIn`]; [`create`] and [`from_name`] build them from a
//!   [`StrategyKind`] (velo-types') or a configured name (aliases accepted).
//! - Hash routing computes one hash per row over an unambiguous encoding of the
//!   key values ([`KeyHasher`]: `Value`'s own `Hash`, variant tag first and strings
//!   length-delimited, with fixed-seed ahash), so `("ab","c")` and `("a","bc")` are
//!   different keys and a key lands on the same partition in every batch and every
//!   run of a given build. Each sub-batch is allocated once, rows keep their input
//!   order, and values are moved, not copied. The non-hashing strategies move the
//!   whole batch without touching its rows.
//! - [`partition_queue`] makes a bounded queue ([`QueueSender`] /
//!   [`QueueReceiver`]) whose blocking `send` slows a producer down to its
//!   consumer's pace, and whose depth either side can read as a
//!   [`BackpressureState`] (SPEC §5 thresholds) and publish as `metrics` gauges.
//! - [`Dispatcher`] ties them together for the V2 reader thread: batches are
//!   routed to the queues, watermarks and end of stream are broadcast in-band to
//!   every queue.
//!
//! This crate knows nothing of SQL text or IO, and depends on velo-types only:
//! the planner chooses and validates the strategy, the server runs the workers.

mod backpressure;
mod dispatch;
mod error;
mod queue;
mod strategy;

use std::fmt;

pub use backpressure::BackpressureState;
pub use dispatch::Dispatcher;
pub use error::{Error, Result};
pub use queue::{
    partition_queue, recv_spinning, Disconnected, QueueGauges, QueueReceiver, QueueSender,
    RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError, BACKPRESSURE_STATE_METRIC,
    QUEUE_DEPTH_METRIC, QUEUE_UTILISATION_METRIC,
};
pub use strategy::{
    create, from_name, AlwaysHash, FanIn, KeyHasher, RoundRobin, SmartRepartition, StickyPartition,
};
use velo_types::Batch;
pub use velo_types::StrategyKind;

/// What a strategy may know when it routes a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingContext {
    /// The source partition the batch came from (a Kafka partition, a file).
    pub source_partition: u32,
    /// Indices of the columns the source is already partitioned by, if it declares
    /// them (`NAME.partition.key`).
    pub source_partition_key: Option<Vec<usize>>,
    /// Indices of the columns to hash on (the GROUP BY or PARTITION BY keys).
    pub key_columns: Vec<usize>,
    /// N, the number of processing partitions; at least 1.
    pub partition_count: usize,
}

impl RoutingContext {
    /// A context for source partition 0, with no declared source key.
    pub fn new(partition_count: usize, key_columns: Vec<usize>) -> RoutingContext {
        RoutingContext {
            source_partition: 0,
            source_partition_key: None,
            key_columns,
            partition_count,
        }
    }

    /// True when the source declares a partition key equal, as a set, to the
    /// (non-empty) key columns: then every key already lives in one source
    /// partition, and keeping the source partition keeps each key together.
    pub fn is_aligned(&self) -> bool {
        match &self.source_partition_key {
            Some(pk) if !self.key_columns.is_empty() => {
                pk.iter().all(|c| self.key_columns.contains(c))
                    && self.key_columns.iter().all(|c| pk.contains(c))
            }
            _ => false,
        }
    }

    /// `source_partition % partition_count`.
    pub fn sticky_partition(&self) -> usize {
        self.source_partition as usize % self.checked_count()
    }

    /// The partition count, panicking with a clear message when it is 0.
    #[inline]
    pub(crate) fn checked_count(&self) -> usize {
        assert!(
            self.partition_count > 0,
            "RoutingContext::partition_count must be at least 1"
        );
        self.partition_count
    }
}

/// Routes batches to processing partitions (SPEC §5).
///
/// [`route`](PartitioningStrategy::route) takes the batch by value and appends
/// `(partition, sub_batch)` pairs to `out`:
/// - every row of the input goes to exactly one pair, and rows keep their input
///   order within a sub-batch;
/// - each partition appears at most once per call, in increasing partition order,
///   and every partition is `< ctx.partition_count`;
/// - no empty sub-batch is produced: an empty input batch appends nothing;
/// - when all rows go to one partition, the input batch itself is moved there.
///
/// `out` is not cleared, so a caller can reuse one vector for every batch.
///
/// ```
/// use std::sync::Arc;
/// use velo_partition::{create, RoutingContext, StrategyKind};
/// use velo_types::{Batch, DataType, Field, Schema, Value};
///
/// let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::String)]));
/// let rows: Vec<Value> = ["a", "b", "c", "a"].iter().map(|s| Value::str(s)).collect();
/// let batch = Batch::new(schema, rows).unwrap();
///
/// let mut strategy = create(StrategyKind::AlwaysHash);
/// let ctx = RoutingContext::new(4, vec![0]);
/// let mut out = Vec::new();
/// strategy.route(batch, &ctx, &mut out);
/// assert_eq!(out.iter().map(|(_, b)| b.num_rows()).sum::<usize>(), 4);
/// assert!(out.iter().all(|(p, _)| *p < 4));
/// ```
///
/// # Panics
///
/// When `ctx.partition_count` is 0, or a hashing strategy's key column is not a
/// column of the batch (both are bugs in the caller's setup, checked once per
/// batch).
pub trait PartitioningStrategy: Send + fmt::Debug {
    /// The strategy's config name, e.g. `always_hash`.
    fn name(&self) -> &'static str;

    /// Splits `batch` into per-partition sub-batches, appended to `out`: at
    /// most one per partition (V2's router, when it runs partition 0 itself,
    /// relies on that to drain that partition's queue after every batch).
    fn route(&mut self, batch: Batch, ctx: &RoutingContext, out: &mut Vec<(usize, Batch)>);
}

impl<S: PartitioningStrategy + ?Sized> PartitioningStrategy for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn route(&mut self, batch: Batch, ctx: &RoutingContext, out: &mut Vec<(usize, Batch)>) {
        (**self).route(batch, ctx, out)
    }
}
