//! ORDER BY and LIMIT over the emitted rows.
//!
//! LIMIT n stops the output after n rows. ORDER BY holds every emitted row back
//! and sorts them at the end of bounded input (on an unbounded source it would
//! hold rows until the job stops; SPEC §2 allows it on bounded input only).

use std::mem::size_of;

use velo_ast::SelectQuery;
use velo_types::{Batch, BatchBuilder, Schema, SchemaRef, Value};

use crate::error::Result;
use crate::expr::{compile, PhysicalExpr, Scope};
use crate::memory::values_heap_bytes;

/// The ORDER BY / LIMIT stage of a query.
#[derive(Debug)]
pub struct OrderLimit {
    order: Vec<(PhysicalExpr, bool)>,
    limit: Option<u64>,
    emitted: u64,
    held: Option<BatchBuilder>,
    /// Rows held for ORDER BY, and the bytes their strings hold.
    held_rows: usize,
    held_heap_bytes: usize,
}

impl OrderLimit {
    /// Compiles ORDER BY against the output rows: an item may name an output
    /// column (or alias) or repeat a select item's expression.
    pub(crate) fn new(
        query: &SelectQuery,
        output: &SchemaRef,
        select_texts: &[String],
    ) -> Result<OrderLimit> {
        let substitutions: Vec<(String, usize)> = select_texts
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        let scope = Scope {
            schema: output,
            qualifiers: &[],
            substitutions: &substitutions,
        };
        let order = query
            .order_by
            .iter()
            .map(|o| Ok((compile(&o.expr, &scope)?, o.descending)))
            .collect::<Result<Vec<_>>>()?;
        let held = (!order.is_empty()).then(|| BatchBuilder::with_capacity(output.clone(), 0));
        Ok(OrderLimit {
            order,
            limit: query.limit,
            emitted: 0,
            held,
            held_rows: 0,
            held_heap_bytes: 0,
        })
    }

    /// An estimate of the memory ORDER BY holds (O(1)): the rows held back and
    /// their strings.
    pub(crate) fn state_bytes(&self) -> usize {
        let width = self.held.as_ref().map_or(0, |h| h.schema().len());
        self.held_rows * width * size_of::<Value>() + self.held_heap_bytes
    }

    pub(crate) fn is_exhausted(&self) -> bool {
        self.held.is_none() && self.limit.is_some_and(|l| self.emitted >= l)
    }

    /// Passes a batch of emitted rows through: held back under ORDER BY, cut at LIMIT.
    pub(crate) fn admit(&mut self, batch: Batch) -> Option<Batch> {
        if let Some(held) = &mut self.held {
            for row in batch.rows() {
                self.held_heap_bytes += values_heap_bytes(row);
                held.push_row_slice(row);
            }
            self.held_rows += batch.num_rows();
            return None;
        }
        self.cut(batch)
    }

    fn cut(&mut self, batch: Batch) -> Option<Batch> {
        let n = batch.num_rows() as u64;
        let keep = match self.limit {
            Some(l) => n.min(l.saturating_sub(self.emitted)),
            None => n,
        };
        self.emitted += keep;
        if keep == 0 {
            return None;
        }
        if keep == n {
            return Some(batch);
        }
        let mut b = BatchBuilder::with_capacity(batch.schema().clone(), keep as usize);
        for row in batch.rows().take(keep as usize) {
            b.push_row_slice(row);
        }
        Some(b.finish())
    }

    /// End of input: sorts and releases what ORDER BY held.
    pub(crate) fn finish(&mut self, pending: Option<Batch>) -> Option<Batch> {
        let Some(held) = self.held.take() else {
            return pending;
        };
        (self.held_rows, self.held_heap_bytes) = (0, 0);
        let batch = held.finish();
        let schema: &Schema = batch.schema();
        let mut keyed: Vec<(Vec<Value>, usize)> = batch
            .rows()
            .enumerate()
            .map(|(i, row)| {
                let key = self
                    .order
                    .iter()
                    .map(|(e, _)| e.eval(row).unwrap_or(Value::Null))
                    .collect();
                (key, i)
            })
            .collect();
        // Stable: ties keep arrival order.
        keyed.sort_by(|(a, _), (b, _)| {
            for ((x, y), (_, desc)) in a.iter().zip(b).zip(&self.order) {
                let o = x.total_cmp(y);
                let o = if *desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        let mut sorted = BatchBuilder::with_capacity(batch.schema().clone(), keyed.len());
        let _ = schema;
        for (_, i) in keyed {
            sorted.push_row_slice(batch.row(i));
        }
        self.cut(sorted.finish())
    }
}
