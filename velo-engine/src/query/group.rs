//! Continuous GROUP BY without a time window: one entry per distinct key, its
//! accumulators updated in place, rows emitted per SPEC's emit modes. Also the
//! parts every aggregation shares ([`compile_keys_and_aggregates`],
//! [`GroupOutput`]: HAVING and the select list over a group row), which the time
//! windows of [`super::window`] reuse.

use std::mem::size_of;
use std::sync::Arc;

use hashbrown::HashTable;
use serde::Serialize;
use velo_ast::EmitMode;
use velo_planner::bind::{bind_group_output, bind_grouping, BoundGrouping};
use velo_planner::JobPlan;
use velo_types::{BatchBuilder, Schema, SchemaRef, Value};

use crate::aggregate::{fold, Accumulator, AggregateFunction, FoldOrder, NewAccumulator};
use crate::error::{Error, Result};
use crate::expr::{lower, PhysicalExpr};
use crate::memory::{hash_entry_bytes, values_heap_bytes};
use crate::operator::RestoreScope;
use crate::state;

/// The operator name its state is stored under (the select operator's).
const OPERATOR: &str = "aggregate";

/// One group: its key values and one accumulator per aggregate call.
#[derive(Debug)]
struct Group {
    hash: u64,
    key: Box<[Value]>,
    accumulators: Box<[Accumulator]>,
}

/// Hash aggregation keyed by the GROUP BY values.
///
/// The "group row" that HAVING and the select list are evaluated against is
/// `[key values..., aggregate results...]`; the select list was compiled with
/// substitutions mapping each GROUP BY expression and each aggregate call to its
/// position there (see [`GroupOutput`]).
#[derive(Debug)]
pub(crate) struct GroupAggregate {
    keys: Vec<PhysicalExpr>,
    aggregates: Vec<(AggregateFunction, Option<PhysicalExpr>)>,
    output: GroupOutput,
    emit: EmitMode,
    /// Groups in order of first appearance (EMIT FINAL emits in that order).
    groups: Vec<Group>,
    /// Indices into `groups`, found by key hash.
    index: HashTable<u32>,
    hasher: ahash::RandomState,
    /// Reused per row: the key being looked up, and the group row being emitted.
    key_scratch: Vec<Value>,
    row_scratch: Vec<Value>,
    /// Memory estimate ([`GroupAggregate::state_bytes`]): the fixed bytes of one
    /// group, from the key and accumulator layout, ...
    entry_bytes: usize,
    /// ... plus what the groups hold outside that (key strings, string
    /// MIN/MAX/FIRST/LAST values, DISTINCT sets), summed as it changes ...
    heap_bytes: usize,
    /// ... which accumulators only do when some can grow.
    accumulators_grow: bool,
    /// Which accumulators can fail, for [`fold`].
    order: FoldOrder,
}

/// The GROUP BY keys and aggregate calls of a plan, compiled against the input.
pub(crate) type KeysAndAggregates = (
    Vec<PhysicalExpr>,
    Vec<(AggregateFunction, Option<PhysicalExpr>)>,
);

/// Binds (the planner) and lowers the plan's GROUP BY expressions and aggregate
/// calls over input rows; the bound form is kept for [`GroupOutput::new`].
pub(crate) fn compile_keys_and_aggregates(
    plan: &JobPlan,
    input: &Schema,
    qualifiers: &[String],
) -> Result<(KeysAndAggregates, BoundGrouping)> {
    let grouping = bind_grouping(plan, input, qualifiers)?;
    let keys = grouping.keys.iter().map(lower).collect();
    let aggregates = grouping
        .aggregates
        .iter()
        .map(|(f, arg)| (*f, arg.as_ref().map(lower)))
        .collect();
    Ok(((keys, aggregates), grouping))
}

/// The select list and HAVING of an aggregated query, compiled against its group
/// row: `[key values..., aggregate results...]`, followed for a windowed query by
/// `[_window_start, _window_end]` (both TIMESTAMP).
#[derive(Debug)]
pub(crate) struct GroupOutput {
    having: Option<PhysicalExpr>,
    select: Vec<PhysicalExpr>,
    select_texts: Vec<String>,
    output_schema: SchemaRef,
    out_scratch: Vec<Value>,
    /// When every select item is a plain column of the group row (the common
    /// case): their positions, copied without evaluating expressions.
    direct: Option<Vec<usize>>,
    /// `direct`'s positions are all different, so [`GroupOutput::emit`] moves
    /// the values out of the group row instead of cloning them.
    direct_moves: bool,
}

impl GroupOutput {
    pub(crate) fn new(
        plan: &JobPlan,
        qualifiers: &[String],
        grouping: &BoundGrouping,
        window_columns: bool,
    ) -> Result<GroupOutput> {
        let bound = bind_group_output(plan, qualifiers, grouping, window_columns)?;
        let select: Vec<PhysicalExpr> = bound.select.exprs.iter().map(lower).collect();
        let fields = bound.select.fields;
        let select_texts = bound.select.texts;
        let having = bound.having.as_ref().map(lower);
        let direct = select
            .iter()
            .map(|e| match e {
                PhysicalExpr::Column { index, .. } => Some(*index),
                _ => None,
            })
            .collect::<Option<Vec<usize>>>();
        let direct_moves = direct.as_ref().is_some_and(|columns| {
            let mut seen = columns.clone();
            seen.sort_unstable();
            seen.windows(2).all(|w| w[0] != w[1])
        });
        Ok(GroupOutput {
            direct,
            direct_moves,
            out_scratch: Vec::with_capacity(select.len()),
            having,
            select,
            select_texts,
            output_schema: Arc::new(Schema::new(fields)),
        })
    }

    pub(crate) fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    pub(crate) fn select_texts(&self) -> &[String] {
        &self.select_texts
    }

    /// Evaluates HAVING over one group row and, when it holds, appends the select
    /// list's values to `out`. Allocates nothing: the row is built in a reused
    /// scratch vector. `group_row` is scratch space of the caller: its values may
    /// be moved out (left NULL).
    #[inline]
    pub(crate) fn emit(&mut self, group_row: &mut [Value], out: &mut BatchBuilder) -> Result<()> {
        if let Some(h) = &self.having {
            if !matches!(h.eval(group_row)?, Value::Bool(true)) {
                return Ok(());
            }
        }
        if let Some(columns) = &self.direct {
            if self.direct_moves {
                out.push_row(columns.iter().map(|&i| std::mem::take(&mut group_row[i])));
            } else {
                out.push_row(columns.iter().map(|&i| group_row[i].clone()));
            }
            return Ok(());
        }
        self.out_scratch.clear();
        for e in &self.select {
            self.out_scratch.push(e.eval(group_row)?);
        }
        out.push_row(self.out_scratch.drain(..));
        Ok(())
    }
}

impl GroupAggregate {
    pub(crate) fn new(
        plan: &JobPlan,
        input: &Schema,
        qualifiers: &[String],
    ) -> Result<GroupAggregate> {
        let ((keys, aggregates), grouping) = compile_keys_and_aggregates(plan, input, qualifiers)?;
        let output = GroupOutput::new(plan, qualifiers, &grouping, false)?;
        let width = keys.len() + aggregates.len();
        let fresh: Vec<Accumulator> = aggregates
            .iter()
            .map(|(f, _)| f.new_accumulator())
            .collect();
        let entry_bytes = size_of::<Group>()
            + keys.len() * size_of::<Value>()
            + aggregates.len() * size_of::<Accumulator>()
            + fresh.iter().map(Accumulator::heap_bytes).sum::<usize>()
            + hash_entry_bytes(size_of::<u32>());
        Ok(GroupAggregate {
            entry_bytes,
            heap_bytes: 0,
            accumulators_grow: aggregates.iter().any(|(f, _)| f.may_grow()),
            order: FoldOrder::for_functions(aggregates.iter().map(|(f, _)| f)),
            key_scratch: Vec::with_capacity(keys.len()),
            row_scratch: Vec::with_capacity(width),
            keys,
            aggregates,
            output,
            emit: plan.analysis.emit,
            groups: Vec::new(),
            index: HashTable::new(),
            // Fixed seeds: the same input gives the same layout run after run.
            hasher: ahash::RandomState::with_seeds(0x5ee1, 0xa11, 0xc0de, 0xfeed),
        })
    }

    pub(crate) fn output_schema(&self) -> &SchemaRef {
        self.output.output_schema()
    }

    /// The SQL text of each select item, in output order.
    pub(crate) fn select_texts(&self) -> &[String] {
        self.output.select_texts()
    }

    pub(crate) fn emit_mode(&self) -> EmitMode {
        self.emit
    }

    /// Number of groups held.
    pub(crate) fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// An estimate of the memory the groups hold: one fixed-size entry per group
    /// plus the bytes they point to, kept up to date as rows arrive (O(1)).
    pub(crate) fn state_bytes(&self) -> usize {
        self.groups.len() * self.entry_bytes + self.heap_bytes
    }

    /// Folds one input row into its group; with EMIT CHANGES, emits the group's
    /// new row.
    pub(crate) fn update(&mut self, row: &[Value], out: &mut BatchBuilder) -> Result<()> {
        self.key_scratch.clear();
        for k in &self.keys {
            self.key_scratch.push(k.eval(row)?);
        }
        // Evaluate every aggregate argument before touching state, so that a
        // failing row leaves its group unchanged.
        self.row_scratch.clear();
        for (_, arg) in &self.aggregates {
            self.row_scratch.push(match arg {
                Some(a) => a.eval(row)?,
                None => Value::Null,
            });
        }
        let hash = self.hasher.hash_one(self.key_scratch.as_slice());
        let groups = &mut self.groups;
        let key = &self.key_scratch;
        let grown = self.accumulators_grow.then_some(&mut self.heap_bytes);
        let idx = match self
            .index
            .find(hash, |&i| *groups[i as usize].key == key[..])
        {
            Some(&i) => {
                let i = i as usize;
                // All or none: a failing update leaves the group as it was.
                fold(
                    &mut groups[i].accumulators,
                    &self.row_scratch,
                    self.order,
                    grown,
                )?;
                i
            }
            None => {
                // The row is folded into the new group's state before the
                // group exists, so that a row whose update fails leaves no
                // empty group behind (one that would emit, though no valid
                // record ever reached it).
                let mut accumulators: Box<[Accumulator]> = self
                    .aggregates
                    .iter()
                    .map(|(f, _)| f.new_accumulator())
                    .collect();
                fold(&mut accumulators, &self.row_scratch, self.order, grown)?;
                let i = groups.len();
                self.heap_bytes += values_heap_bytes(key);
                groups.push(Group {
                    hash,
                    key: key.clone().into_boxed_slice(),
                    accumulators,
                });
                self.index
                    .insert_unique(hash, i as u32, |&j| groups[j as usize].hash);
                i
            }
        };
        if self.emit == EmitMode::Changes {
            self.emit_group(idx, out)?;
        }
        Ok(())
    }

    /// End of input: EMIT FINAL emits every group's final row.
    pub(crate) fn finish(&mut self, out: &mut BatchBuilder) -> Result<()> {
        if self.emit == EmitMode::Final {
            // A global aggregate over no rows still has its one row (COUNT(*) = 0).
            if self.keys.is_empty() && self.groups.is_empty() {
                self.groups.push(Group {
                    hash: 0,
                    key: Box::new([]),
                    accumulators: self
                        .aggregates
                        .iter()
                        .map(|(f, _)| f.new_accumulator())
                        .collect(),
                });
            }
            for i in 0..self.groups.len() {
                self.emit_group(i, out)?;
            }
        }
        Ok(())
    }

    /// Appends the groups' state to `out` for a checkpoint: each group's key
    /// and accumulators, in order of first appearance.
    pub(crate) fn store(&self, out: &mut Vec<u8>) -> Result<()> {
        struct Groups<'a>(&'a [Group]);
        impl Serialize for Groups<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|g| (&*g.key, &*g.accumulators)))
            }
        }
        state::put(OPERATOR, &Groups(&self.groups), out)
    }

    /// Adds the groups [`GroupAggregate::store`] wrote at the front of
    /// `bytes` whose key `scope` owns; returns the bytes after them. A key
    /// met twice (it cannot be, unless two partitions held it) has its states
    /// merged.
    pub(crate) fn load<'b>(
        &mut self,
        bytes: &'b [u8],
        scope: &RestoreScope<'_>,
    ) -> Result<&'b [u8]> {
        let (groups, rest): (Vec<(Vec<Value>, Vec<Accumulator>)>, _) =
            state::take(OPERATOR, bytes)?;
        let fresh_heap: usize = self
            .aggregates
            .iter()
            .map(|(f, _)| f.new_accumulator().heap_bytes())
            .sum();
        for (key, accumulators) in groups {
            if key.len() != self.keys.len() || accumulators.len() != self.aggregates.len() {
                return Err(Error::State {
                    operator: OPERATOR,
                    message: format!(
                        "a stored group has {} keys and {} aggregates; this query has {} and {}",
                        key.len(),
                        accumulators.len(),
                        self.keys.len(),
                        self.aggregates.len()
                    ),
                });
            }
            if !scope.owns(&key) {
                continue;
            }
            let hash = self.hasher.hash_one(key.as_slice());
            let groups = &mut self.groups;
            if let Some(&i) = self
                .index
                .find(hash, |&i| *groups[i as usize].key == key[..])
            {
                for (acc, other) in groups[i as usize]
                    .accumulators
                    .iter_mut()
                    .zip(&accumulators)
                {
                    acc.merge(other)?;
                }
                continue;
            }
            let held: usize = accumulators.iter().map(Accumulator::heap_bytes).sum();
            self.heap_bytes += values_heap_bytes(&key) + held.saturating_sub(fresh_heap);
            let i = groups.len();
            groups.push(Group {
                hash,
                key: key.into_boxed_slice(),
                accumulators: accumulators.into_boxed_slice(),
            });
            self.index
                .insert_unique(hash, i as u32, |&j| groups[j as usize].hash);
        }
        Ok(rest)
    }

    fn emit_group(&mut self, idx: usize, out: &mut BatchBuilder) -> Result<()> {
        let group = &self.groups[idx];
        self.row_scratch.clear();
        self.row_scratch.extend(group.key.iter().cloned());
        for acc in &group.accumulators {
            self.row_scratch.push(acc.evaluate()?);
        }
        self.output.emit(&mut self.row_scratch, out)
    }
}
