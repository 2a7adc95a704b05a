//! [`QueryOperator`]: the operators a job's pipeline is made of.

use velo_types::{Batch, SchemaRef, Watermark};

use super::{RowFailure, SelectOperator};
use crate::error::Result;
use crate::operator::{Operator, OperatorState, OutputKind, RestoreScope};
use crate::stream_join::StreamJoin;

/// One node of a job's pipeline.
#[derive(Debug)]
pub enum QueryOperator {
    /// One SELECT level.
    Select(Box<SelectOperator>),
    /// The join of two streams the first SELECT reads.
    Join(Box<StreamJoin>),
}

impl QueryOperator {
    pub fn as_select(&self) -> Option<&SelectOperator> {
        match self {
            QueryOperator::Select(s) => Some(s),
            QueryOperator::Join(_) => None,
        }
    }

    pub fn as_select_mut(&mut self) -> Option<&mut SelectOperator> {
        match self {
            QueryOperator::Select(s) => Some(s),
            QueryOperator::Join(_) => None,
        }
    }

    pub fn as_join(&self) -> Option<&StreamJoin> {
        match self {
            QueryOperator::Join(j) => Some(j),
            QueryOperator::Select(_) => None,
        }
    }

    pub fn as_join_mut(&mut self) -> Option<&mut StreamJoin> {
        match self {
            QueryOperator::Join(j) => Some(j),
            QueryOperator::Select(_) => None,
        }
    }

    /// The rows that failed since the last call.
    pub fn take_failures(&mut self) -> Vec<RowFailure> {
        match self {
            QueryOperator::Select(s) => s.take_failures(),
            QueryOperator::Join(j) => j.take_failures(),
        }
    }

    /// State entries: groups (and windows), or the rows a join holds.
    pub fn group_count(&self) -> usize {
        match self {
            QueryOperator::Select(s) => s.group_count(),
            QueryOperator::Join(j) => {
                let (l, r) = j.rows_held();
                l + r
            }
        }
    }

    fn op(&self) -> &dyn Operator {
        match self {
            QueryOperator::Select(s) => &**s,
            QueryOperator::Join(j) => &**j,
        }
    }

    fn op_mut(&mut self) -> &mut dyn Operator {
        match self {
            QueryOperator::Select(s) => &mut **s,
            QueryOperator::Join(j) => &mut **j,
        }
    }
}

impl Operator for QueryOperator {
    fn name(&self) -> &'static str {
        self.op().name()
    }
    fn inputs(&self) -> usize {
        self.op().inputs()
    }
    fn output_schema(&self) -> &SchemaRef {
        self.op().output_schema()
    }
    fn output_kind(&self) -> OutputKind {
        self.op().output_kind()
    }
    #[inline]
    fn process_batch(&mut self, input: usize, batch: &Batch) -> Result<Option<Batch>> {
        self.op_mut().process_batch(input, batch)
    }
    fn on_watermark(&mut self, watermark: Watermark) -> Result<Option<Batch>> {
        self.op_mut().on_watermark(watermark)
    }
    fn output_watermark(&self, watermark: i64) -> i64 {
        self.op().output_watermark(watermark)
    }
    fn on_barrier(&mut self, id: u64) -> Result<Option<Batch>> {
        self.op_mut().on_barrier(id)
    }
    fn finish(&mut self) -> Result<Option<Batch>> {
        self.op_mut().finish()
    }
    fn is_done(&self) -> bool {
        self.op().is_done()
    }
    fn state_bytes(&self) -> usize {
        self.op().state_bytes()
    }
    fn snapshot(&self) -> Result<OperatorState> {
        self.op().snapshot()
    }
    fn restore(&mut self, states: &[&OperatorState], scope: &RestoreScope<'_>) -> Result<()> {
        self.op_mut().restore(states, scope)
    }
}
