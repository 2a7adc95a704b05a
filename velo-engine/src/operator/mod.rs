//! The operator contract: what every node of a job's physical plan does with
//! the in-band message sequence, and the [`Pipeline`] that drives a tree of
//! them.
//!
//! An [`Operator`] takes batches on one or more inputs, watermarks, barriers
//! and the end of input, and emits batches. It declares whether its output is
//! append-only or updating, and it can store and restore its state. What is
//! the same for every operator is written once, in the pipeline, not in each
//! operator:
//!
//! * **Watermarks.** An operator is told the minimum of its inputs'
//!   watermarks, and only when that minimum rises. An input that has ended no
//!   longer holds the minimum back; one that has sent no watermark yet does.
//!   What it passes on is [`Operator::output_watermark`] of that minimum: the
//!   same, or less for an operator whose rows can be older than its input's
//!   watermark (a join of two streams).
//! * **Barriers.** A barrier is aligned: once it arrives on one input, that
//!   input's later messages are held until the barrier has arrived on every
//!   input. Then the operator's [`Operator::on_barrier`] runs (the point at
//!   which its state is exactly "everything before the barrier"), the barrier
//!   moves on to its consumers, and the held messages are replayed in order.
//! * **End of input.** [`Operator::finish`] runs once every input has ended.
//! * **LIMIT.** The pipeline needs no more input once no input leads to an
//!   operator that still wants rows ([`Pipeline::is_done`]).
//!
//! Each message's output reaches the operator's consumers before the message
//! itself does: a window closed by a watermark is emitted downstream, then the
//! watermark follows it.
//!
//! The per-record work happens inside [`Operator::process_batch`]; the
//! pipeline itself costs a few calls per batch and allocates nothing unless a
//! batch fans out to several consumers or waits behind a barrier.

mod pipeline;

pub use pipeline::{Edge, Emitted, NodeStats, Pipeline, PipelineBuilder};
pub use velo_planner::OutputKind;

use velo_types::{Batch, SchemaRef, Watermark};

use crate::error::Result;

/// The stored state of one operator, as [`Operator::snapshot`] returns it and
/// [`Operator::restore`] takes it back.
///
/// `bytes` is the operator's own encoding of its state, tagged with the
/// operator's name and the encoding's version so that a restore can refuse
/// state written by another operator or another version with a clear error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorState {
    /// [`Operator::name`] of the operator that wrote it.
    pub operator: &'static str,
    /// The version of the operator's encoding.
    pub version: u32,
    pub bytes: Vec<u8>,
}

impl OperatorState {
    /// The state of an operator that holds none.
    pub fn empty(operator: &'static str) -> OperatorState {
        OperatorState {
            operator,
            version: crate::state::STATE_VERSION,
            bytes: Vec::new(),
        }
    }
}

/// Whether a keyed state entry's key belongs to a partition (see [`RestoreScope`]).
pub type OwnsKey = dyn Fn(&[velo_types::Value]) -> bool + Sync;

/// Where an operator is restored, and which of the stored state is its own.
///
/// A job restored with the partition count it was checkpointed with gives each
/// partition its own state back ([`RestoreScope::whole`] per partition). With
/// another count, every partition is handed the states of all the old
/// partitions and keeps the keyed entries whose key [`RestoreScope::owns`]
/// (the router would send that key to it), so state is redistributed by key.
/// What is not keyed (counters) is taken from the old partitions `p` with
/// `p % partitions == partition`, so job totals stay the same.
#[derive(Clone, Copy)]
pub struct RestoreScope<'a> {
    /// This partition, below `partitions`.
    pub partition: usize,
    /// The new partition count.
    pub partitions: usize,
    owns: Option<&'a OwnsKey>,
}

impl std::fmt::Debug for RestoreScope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreScope")
            .field("partition", &self.partition)
            .field("partitions", &self.partitions)
            .field("filtered", &self.owns.is_some())
            .finish()
    }
}

impl RestoreScope<'static> {
    /// Everything stored is this operator's own.
    pub fn whole() -> RestoreScope<'static> {
        RestoreScope {
            partition: 0,
            partitions: 1,
            owns: None,
        }
    }
}

impl<'a> RestoreScope<'a> {
    /// Partition `partition` of `partitions`, owning the keys `owns` accepts.
    pub fn keyed(partition: usize, partitions: usize, owns: &'a OwnsKey) -> RestoreScope<'a> {
        RestoreScope {
            partition,
            partitions: partitions.max(1),
            owns: Some(owns),
        }
    }

    /// Whether the keyed entry with `key` (the operator's own key: GROUP BY
    /// values, PARTITION BY values, join key) is restored here.
    pub fn owns(&self, key: &[velo_types::Value]) -> bool {
        self.owns.is_none_or(|f| f(key))
    }

    /// Whether the counters of old partition `old` are restored here.
    pub fn takes_counters_of(&self, old: usize) -> bool {
        self.owns.is_none() || old % self.partitions == self.partition
    }
}

/// One node of a job's physical plan. See the module docs for what the
/// [`Pipeline`] guarantees around each call.
///
/// Every method that emits returns the rows to send on (`None` when there are
/// none); an error stops the job (a row that fails is the operator's own
/// business: it counts and reports it, and returns an error only when the
/// job's failure strategy says so).
pub trait Operator: std::fmt::Debug + Send {
    /// A short name for `explain`, metrics and errors: `select`, `join`...
    fn name(&self) -> &'static str;

    /// How many inputs the operator reads (a join has two).
    fn inputs(&self) -> usize {
        1
    }

    /// The schema of the batches it emits.
    fn output_schema(&self) -> &SchemaRef;

    /// Whether its output rows are final or updated by later rows.
    fn output_kind(&self) -> OutputKind;

    /// A batch on input `input` (0-based, below [`Operator::inputs`]).
    fn process_batch(&mut self, input: usize, batch: &Batch) -> Result<Option<Batch>>;

    /// The minimum of the inputs' watermarks rose to `watermark`.
    fn on_watermark(&mut self, watermark: Watermark) -> Result<Option<Batch>>;

    /// The watermark it passes on after [`Operator::on_watermark`] of
    /// `watermark`: the same, unless it can emit rows older than its input
    /// watermark (a join of two streams holds it back by how late its pairs
    /// can come). Must not decrease as `watermark` rises.
    fn output_watermark(&self, watermark: i64) -> i64 {
        watermark
    }

    /// Barrier `id` has arrived on every input: the operator has seen exactly
    /// the messages before it. The snapshot of checkpoint `id` is taken right
    /// after this returns.
    fn on_barrier(&mut self, _id: u64) -> Result<Option<Batch>> {
        Ok(None)
    }

    /// Every input has ended: emit what is held back (EMIT FINAL windows,
    /// sorted rows).
    fn finish(&mut self) -> Result<Option<Batch>>;

    /// True once no further input can change the output (LIMIT reached).
    fn is_done(&self) -> bool {
        false
    }

    /// An estimate of the memory its state holds, for `max.memory.mb`.
    fn state_bytes(&self) -> usize {
        0
    }

    /// Its state, taken between two messages (after [`Operator::on_barrier`]).
    fn snapshot(&self) -> Result<OperatorState>;

    /// Replaces its state with `states`, which [`Operator::snapshot`] of the
    /// operators of the same plan wrote, one per old partition (one when the
    /// partition count is unchanged), keeping what `scope` says is its own.
    fn restore(&mut self, states: &[&OperatorState], scope: &RestoreScope<'_>) -> Result<()>;
}

impl<O: Operator + ?Sized> Operator for Box<O> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn inputs(&self) -> usize {
        (**self).inputs()
    }
    fn output_schema(&self) -> &SchemaRef {
        (**self).output_schema()
    }
    fn output_kind(&self) -> OutputKind {
        (**self).output_kind()
    }
    fn process_batch(&mut self, input: usize, batch: &Batch) -> Result<Option<Batch>> {
        (**self).process_batch(input, batch)
    }
    fn on_watermark(&mut self, watermark: Watermark) -> Result<Option<Batch>> {
        (**self).on_watermark(watermark)
    }
    fn output_watermark(&self, watermark: i64) -> i64 {
        (**self).output_watermark(watermark)
    }
    fn on_barrier(&mut self, id: u64) -> Result<Option<Batch>> {
        (**self).on_barrier(id)
    }
    fn finish(&mut self) -> Result<Option<Batch>> {
        (**self).finish()
    }
    fn is_done(&self) -> bool {
        (**self).is_done()
    }
    fn state_bytes(&self) -> usize {
        (**self).state_bytes()
    }
    fn snapshot(&self) -> Result<OperatorState> {
        (**self).snapshot()
    }
    fn restore(&mut self, states: &[&OperatorState], scope: &RestoreScope<'_>) -> Result<()> {
        (**self).restore(states, scope)
    }
}
