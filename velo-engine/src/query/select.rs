//! [`SelectOperator`]: one SELECT over one input, the operator every job's
//! pipeline is made of today (a job over a stateful subquery chains two).

use std::sync::Arc;

use velo_ast::EmitMode;
use velo_planner::bind;
use velo_planner::{FailureStrategy, JobPlan, LateDataStrategy};
use velo_types::{Batch, BatchBuilder, DataType, Field, Schema, SchemaRef, Value, Watermark};
use velo_watermark::{decide, LateDataPolicy, LateDecision};

use super::event_time::EventTime;
use super::group::GroupAggregate;
use super::output::{OrderLimit, WindowRun};
use super::rows::RowsWindowExec;
use super::window::WindowAggregate;
use super::{LateWarning, QueryCounters, QueryStats, RowFailure, LATE_REASON_COLUMN, MAX_KEPT};
use crate::error::{Error, Result};
use crate::expr::{lower, PhysicalExpr};
use crate::join::{compile_joins, LookupJoin, LookupTable};
use crate::operator::{Operator, OperatorState, OutputKind, RestoreScope};
use crate::state;

/// How the rows that pass WHERE become output rows.
#[derive(Debug)]
enum Body {
    /// Stateless: one output row per input row.
    Project {
        exprs: Vec<PhysicalExpr>,
        scratch: Vec<Value>,
        /// When every expression is a plain column: their indices, copied
        /// straight into the output row (nothing can fail).
        columns: Option<Vec<usize>>,
    },
    /// GROUP BY and aggregates.
    Aggregate(Box<GroupAggregate>),
    /// GROUP BY with a time window.
    Window(Box<WindowAggregate>),
    /// OVER (ROWS ...) windows: one output row per input row.
    Rows(Box<RowsWindowExec>),
}

/// One SELECT over one input, compiled and ready to run over batches of its
/// input schema: its WHERE, then its body (a projection, a GROUP BY, a time
/// window or a rows window), then its ORDER BY / LIMIT, fused into one
/// operator so that every input row is accounted for in one place.
#[derive(Debug)]
pub struct SelectOperator {
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    /// Stream-table joins, in order, applied to each row before WHERE.
    joins: Vec<LookupJoin>,
    /// The current row with the joined tables' columns (joins only).
    joined_row: Vec<Value>,
    filter: Option<PhysicalExpr>,
    body: Body,
    order_limit: OrderLimit,
    /// Which window each row of the last window emission belongs to (kept
    /// for its capacity).
    window_runs: Vec<WindowRun>,
    counters: QueryCounters,
    stats: QueryStats,
    failures: Vec<RowFailure>,
    /// Stop at the first failing row instead of counting it (`fail_batch`).
    fail_fast: bool,
    /// Keep every failed row, not only the first [`MAX_KEPT`] (`send_to_dlq`:
    /// each one goes to the dead-letter sink).
    keep_all_failures: bool,
    /// The job's event-time extractor (windowed queries only).
    event_time: Option<EventTime>,
    watermark: Option<i64>,
    late_policy: LateDataPolicy,
    late_warnings: Vec<LateWarning>,
    /// Late rows for the dead-letter sink (`dead_letter` only).
    dead_letters: Option<BatchBuilder>,
    late_reason: Value,
}

impl SelectOperator {
    /// Compiles `plan`'s query against `input_schema` (run it on a stack big
    /// enough for expressions at the depth limit, [`velo_ast::with_expr_stack`]).
    pub(crate) fn compile(
        plan: &JobPlan,
        input_schema: SchemaRef,
        tables: &[Arc<LookupTable>],
    ) -> Result<SelectOperator> {
        let query = plan.query();
        // A join's rows are the stream's columns and each table's, named
        // `q.col`; everything after the joins is bound over them.
        // After a join of two streams the input's columns are already `q.col`.
        let joined_input = plan.stream_join.is_some();
        let (row_schema, joins, qualifiers) = if plan.joins.is_empty() {
            let qualifiers = if joined_input {
                Vec::new()
            } else {
                plan.qualifiers()
            };
            (input_schema.clone(), Vec::new(), qualifiers)
        } else {
            let (schema, joins) = compile_joins(
                &plan.joins,
                &input_schema,
                (!joined_input).then(|| velo_planner::join::qualifier_of(&plan.source)),
                tables,
            )?;
            (schema, joins, Vec::new())
        };
        let filter = bind::bind_filter(plan, &row_schema, &qualifiers)?
            .as_ref()
            .map(lower);
        let mut event_time = None;
        let (body, output_schema, output_exprs) = if let Some(w) = &plan.analysis.window {
            bind::bind_window_time(plan, &row_schema)?;
            event_time = EventTime::new(plan, &row_schema)?;
            let agg = WindowAggregate::new(plan, &row_schema, &qualifiers, w.kind)?;
            let schema = agg.output_schema().clone();
            let exprs = agg.select_texts().to_vec();
            (Body::Window(Box::new(agg)), schema, exprs)
        } else if plan.analysis.rows_window.is_some() {
            let rows = RowsWindowExec::new(plan, &row_schema, &qualifiers)?;
            let schema = rows.output_schema().clone();
            let exprs = rows.select_texts().to_vec();
            (Body::Rows(Box::new(rows)), schema, exprs)
        } else if plan.analysis.is_aggregate() {
            let agg = GroupAggregate::new(plan, &row_schema, &qualifiers)?;
            let schema = agg.output_schema().clone();
            let exprs = agg.select_texts().to_vec();
            (Body::Aggregate(Box::new(agg)), schema, exprs)
        } else {
            let select = bind::bind_projection(plan, &row_schema, &qualifiers)?;
            let exprs: Vec<PhysicalExpr> = select.exprs.iter().map(lower).collect();
            let scratch = Vec::with_capacity(exprs.len());
            let columns = exprs
                .iter()
                .map(|e| match e {
                    PhysicalExpr::Column { index, .. } if *index < row_schema.len() => Some(*index),
                    _ => None,
                })
                .collect();
            (
                Body::Project {
                    exprs,
                    scratch,
                    columns,
                },
                Arc::new(Schema::new(select.fields)),
                select.texts,
            )
        };
        // A time window with EMIT FINAL sorts and limits each emitted window
        // (SPEC §2); the planner refuses ORDER BY / LIMIT on EMIT CHANGES ones.
        let per_window = matches!(&body, Body::Window(w) if w.emit_mode() == EmitMode::Final);
        let order = bind::bind_order_by(query, &output_schema, &output_exprs)?;
        let order_limit = OrderLimit::new(&order, query.limit, &output_schema, per_window)?;
        let late_policy = match plan.config.late_data {
            LateDataStrategy::Drop => LateDataPolicy::Drop,
            LateDataStrategy::ProcessWithWarning => LateDataPolicy::ProcessWithWarning,
            LateDataStrategy::ProcessAll => LateDataPolicy::ProcessAll,
            LateDataStrategy::DeadLetter { .. } => LateDataPolicy::DeadLetter,
        };
        let dead_letters = (late_policy == LateDataPolicy::DeadLetter && event_time.is_some())
            .then(|| BatchBuilder::with_capacity(dead_letter_schema(&input_schema), 0));
        let joined_row = Vec::with_capacity(row_schema.len());
        Ok(SelectOperator {
            input_schema,
            output_schema,
            joins,
            joined_row,
            filter,
            body,
            order_limit,
            window_runs: Vec::new(),
            counters: QueryCounters::default(),
            stats: QueryStats::default(),
            failures: Vec::new(),
            fail_fast: plan.config.failure_strategy == FailureStrategy::FailBatch,
            keep_all_failures: plan.config.failure_strategy == FailureStrategy::SendToDlq,
            event_time,
            watermark: None,
            late_policy,
            late_warnings: Vec::new(),
            dead_letters,
            late_reason: Value::str("late: event time below the watermark"),
        })
    }

    pub fn input_schema(&self) -> &SchemaRef {
        &self.input_schema
    }

    /// The schema of [`SelectOperator::take_dead_letters`]' batches: the input's
    /// columns and a trailing `_late_reason` VARCHAR; `None` unless the job's
    /// late-data strategy is `dead_letter` on a windowed query.
    pub fn dead_letter_schema(&self) -> Option<&SchemaRef> {
        self.dead_letters.as_ref().map(BatchBuilder::schema)
    }

    /// The job's event-time extractor, for a windowed query.
    pub fn event_time(&self) -> Option<&EventTime> {
        self.event_time.as_ref()
    }

    pub fn counters(&self) -> QueryCounters {
        self.counters
    }

    /// Every counter, with the state's current size.
    pub fn stats(&self) -> QueryStats {
        let (windows_open, windows_emitted) = match &self.body {
            Body::Window(w) => (w.windows_open() as u64, w.windows_closed()),
            _ => (0, 0),
        };
        QueryStats {
            rows_in: self.counters.rows_in,
            filtered: self.counters.filtered,
            failed: self.counters.failed,
            rows_out: self.counters.rows_out,
            windows_open,
            windows_emitted,
            watermark: self.watermark,
            groups: self.group_count() as u64,
            ..self.stats
        }
    }

    /// The rows that failed since the last call, for the caller to report, with
    /// their source positions and values. Under `send_to_dlq` every failed row
    /// is kept (the caller drains them after each call to `process`); otherwise
    /// at most 100 are kept between two calls. All are counted in
    /// [`QueryStats::failed`].
    pub fn take_failures(&mut self) -> Vec<RowFailure> {
        std::mem::take(&mut self.failures)
    }

    /// The late rows processed under `process_with_warning` since the last call
    /// (at most 100 are kept between two calls; all are counted in
    /// [`QueryStats::late`]).
    pub fn take_late_warnings(&mut self) -> Vec<LateWarning> {
        std::mem::take(&mut self.late_warnings)
    }

    /// The late rows set aside under `dead_letter` since the last call, for the
    /// sink named by `late.data.dead_letter`: each input row as it came, plus
    /// `_late_reason`. `None` when there are none.
    pub fn take_dead_letters(&mut self) -> Option<Batch> {
        let b = self.dead_letters.as_mut()?;
        (!b.is_empty()).then(|| b.take())
    }

    /// The current watermark (milliseconds), once one arrived.
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// True once LIMIT has been reached: no further input can change the output
    /// (never for a per-window LIMIT: every window has its own).
    pub fn is_done(&self) -> bool {
        self.order_limit.is_exhausted()
    }

    /// Runs one input batch; returns the rows to emit now (possibly none).
    fn process_rows(&mut self, batch: &Batch) -> Result<Option<Batch>> {
        if self.joins.is_empty() {
            return self.process_joined(batch, &mut [], &mut Vec::new());
        }
        let mut joins = std::mem::take(&mut self.joins);
        let mut joined = std::mem::take(&mut self.joined_row);
        let result = self.process_joined(batch, &mut joins, &mut joined);
        self.joins = joins;
        self.joined_row = joined;
        result
    }

    /// The rows of `batch`, each first extended by `joins` (into `joined`).
    fn process_joined(
        &mut self,
        batch: &Batch,
        joins: &mut [LookupJoin],
        joined: &mut Vec<Value>,
    ) -> Result<Option<Batch>> {
        debug_assert_eq!(batch.schema().len(), self.input_schema.len());
        let n = batch.num_rows();
        self.counters.rows_in += n as u64;
        // EMIT FINAL emits nothing per record: do not reserve a batch's worth.
        let capacity = if self.emit_mode() == EmitMode::Changes {
            n
        } else {
            0
        };
        let mut out = BatchBuilder::with_capacity(self.output_schema.clone(), capacity);
        'rows: for (i, input_row) in batch.rows().enumerate() {
            let row: &[Value] = if joins.is_empty() {
                input_row
            } else {
                joined.clear();
                joined.extend_from_slice(input_row);
                for join in joins.iter_mut() {
                    match join.extend(joined) {
                        Ok(true) => {}
                        // An INNER join without a match: counted like WHERE.
                        Ok(false) => {
                            self.counters.filtered += 1;
                            continue 'rows;
                        }
                        Err(e) => {
                            self.fail(batch, i, e)?;
                            continue 'rows;
                        }
                    }
                }
                joined
            };
            if let Some(f) = &self.filter {
                match f.eval_predicate(row) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.counters.filtered += 1;
                        continue;
                    }
                    Err(e) => {
                        self.fail(batch, i, e)?;
                        continue;
                    }
                }
            }
            let result = match &mut self.body {
                Body::Project {
                    columns: Some(columns),
                    ..
                } => {
                    out.push_row(columns.iter().map(|&c| row[c].clone()));
                    Ok(())
                }
                Body::Project { exprs, scratch, .. } => project_row(exprs, scratch, row, &mut out),
                Body::Aggregate(agg) => agg.update(row, &mut out),
                Body::Rows(r) => r.process_row(row, &mut out),
                Body::Window(w) => {
                    let Some(et) = &self.event_time else {
                        unreachable!("a windowed query has an event-time extractor")
                    };
                    match et.extract(row) {
                        Err(e) => Err(e),
                        Ok(ts) => {
                            let watermark = self.watermark.map(Watermark);
                            let decision = decide(self.late_policy, ts, watermark);
                            if decision.is_late() {
                                self.stats.late += 1;
                            }
                            match decision {
                                LateDecision::Drop => {
                                    self.stats.late_dropped += 1;
                                    continue;
                                }
                                LateDecision::DeadLetter => {
                                    self.stats.late_dead_lettered += 1;
                                    if let Some(d) = &mut self.dead_letters {
                                        d.push_row(
                                            input_row
                                                .iter()
                                                .cloned()
                                                .chain([self.late_reason.clone()]),
                                        );
                                    }
                                    continue;
                                }
                                LateDecision::ProcessWithWarning => {
                                    if self.late_warnings.len() < MAX_KEPT {
                                        self.late_warnings.push(LateWarning {
                                            row: i,
                                            event_time: ts,
                                            watermark: watermark.map_or(i64::MIN, |w| w.0),
                                        });
                                    }
                                    w.update(row, ts, &mut out)
                                }
                                LateDecision::Process | LateDecision::OnTime => {
                                    w.update(row, ts, &mut out)
                                }
                            }
                        }
                    }
                }
            };
            match result {
                Ok(()) => self.stats.contributed += 1,
                Err(e) => self.fail(batch, i, e)?,
            }
        }
        Ok(self.admit(out))
    }

    /// An in-band watermark: no record with an earlier event time is expected any
    /// more. Watermarks only move forward: one that does not rise above the
    /// current is ignored and closes nothing, so a window that a late record
    /// re-opened fires at the next higher watermark (or at the end of input),
    /// however often the same watermark is repeated; the server sends one only
    /// when it rises. Every window whose end is at or below the watermark closes:
    /// with EMIT FINAL its rows are returned, ordered by window start and then by
    /// the group's first appearance in the window (under ORDER BY, each window's
    /// rows sorted on their own; under LIMIT n, at most n rows per window); its
    /// state is freed in both modes. Queries without a time window ignore
    /// watermarks.
    fn advance_watermark(&mut self, wm: Watermark) -> Result<Option<Batch>> {
        if self.watermark.is_some_and(|w| w >= wm.0) {
            return Ok(None);
        }
        let current = wm.0;
        self.watermark = Some(current);
        if let Body::Rows(r) = &mut self.body {
            // EXPIRE AFTER: free idle partitions' buffers (no effect without it).
            let mut out = BatchBuilder::with_capacity(self.output_schema.clone(), 0);
            r.expire_idle(current, &mut out)?;
            return Ok(self.admit(out));
        }
        let Body::Window(w) = &mut self.body else {
            return Ok(None);
        };
        let capacity = if w.emit_mode() == EmitMode::Final {
            w.group_count().min(4096)
        } else {
            0
        };
        let mut out = BatchBuilder::with_capacity(self.output_schema.clone(), capacity);
        let mut runs = std::mem::take(&mut self.window_runs);
        runs.clear();
        w.close(Some(current), &mut out, &mut runs)?;
        let emitted = if out.is_empty() {
            None
        } else {
            self.order_limit.admit_windows(out.finish(), &runs)
        };
        self.window_runs = runs;
        self.counters.rows_out += emitted.as_ref().map_or(0, |b| b.num_rows() as u64);
        Ok(emitted)
    }

    /// End of bounded input: closes every open window, emits EMIT FINAL rows and
    /// anything ORDER BY held back.
    fn finish_rows(&mut self) -> Result<Option<Batch>> {
        let mut out = BatchBuilder::with_capacity(self.output_schema.clone(), 0);
        let mut runs = std::mem::take(&mut self.window_runs);
        runs.clear();
        match &mut self.body {
            Body::Aggregate(agg) => agg.finish(&mut out)?,
            Body::Window(w) => w.close(None, &mut out, &mut runs)?,
            Body::Rows(r) => r.finish(&mut out)?,
            Body::Project { .. } => {}
        }
        let mut emitted = self.order_limit.admit_windows(out.finish(), &runs);
        self.window_runs = runs;
        emitted = self.order_limit.finish(emitted);
        self.counters.rows_out += emitted.as_ref().map_or(0, |b| b.num_rows() as u64);
        Ok(emitted)
    }

    /// Passes emitted rows through ORDER BY / LIMIT and counts them.
    fn admit(&mut self, out: BatchBuilder) -> Option<Batch> {
        if out.is_empty() {
            return None;
        }
        let emitted = self.order_limit.admit(out.finish());
        self.counters.rows_out += emitted.as_ref().map_or(0, |b| b.num_rows() as u64);
        emitted
    }

    /// Row `row` of `batch` failed with `error`. Under `fail_batch` this stops
    /// the batch: the error is returned as [`Error::RowFailed`] with the row's
    /// position, and the rows after it are not taken (they leave `rows_in`, so
    /// that the accounting still adds up). Otherwise the failure is counted and
    /// kept for [`SelectOperator::take_failures`].
    #[cold]
    fn fail(&mut self, batch: &Batch, row: usize, error: Error) -> Result<()> {
        self.counters.failed += 1;
        let position = batch.position(row);
        if self.fail_fast {
            self.counters.rows_in -= (batch.num_rows() - row - 1) as u64;
            return Err(Error::RowFailed {
                position,
                input: 0,
                error: Box::new(error),
            });
        }
        // Keep every failure for a dead-letter sink; otherwise the first few per
        // drain: enough to report, bounded in memory.
        if self.keep_all_failures || self.failures.len() < MAX_KEPT {
            self.failures.push(RowFailure {
                row,
                position,
                input: 0,
                values: batch.row(row).to_vec(),
                error,
            });
        }
        Ok(())
    }

    /// State entries held: groups, or (group, window) pairs for a windowed query
    /// (0 for stateless queries).
    pub fn group_count(&self) -> usize {
        match &self.body {
            Body::Project { .. } => 0,
            Body::Aggregate(a) => a.group_count(),
            Body::Window(w) => w.group_count(),
            Body::Rows(r) => r.partitions(),
        }
    }

    /// An estimate of the memory held by the query's state, in bytes, for the
    /// job's `max.memory.mb`: GROUP BY groups, open windows (live entries, their
    /// window lists, session keys and the heap of session ends), row-window
    /// partitions (ring buffers, MIN/MAX deques and LEAD hold-backs, allocated in
    /// full when a partition is created) and the rows ORDER BY holds back. Each
    /// counts its entries at a fixed size worked out from the key and
    /// accumulator layout when the query is compiled, plus the string text and
    /// DISTINCT sets they hold, summed as they change. Cheap enough to call after
    /// every batch: O(1), whatever the state's size. Not counted: spare vector
    /// and hash-table capacity, allocator overhead, freed window slots kept for
    /// reuse (so the estimate falls when windows close), and what is drained
    /// after each batch (output, failures, dead letters).
    pub fn state_bytes(&self) -> usize {
        let body = match &self.body {
            Body::Project { .. } => 0,
            Body::Aggregate(a) => a.state_bytes(),
            Body::Window(w) => w.state_bytes(),
            Body::Rows(r) => r.state_bytes(),
        };
        body + self.order_limit.state_bytes()
    }

    /// The emit mode in force.
    pub fn emit_mode(&self) -> EmitMode {
        match &self.body {
            Body::Project { .. } | Body::Rows(_) => EmitMode::Changes,
            Body::Aggregate(a) => a.emit_mode(),
            Body::Window(w) => w.emit_mode(),
        }
    }
}

/// The input's columns plus `_late_reason` VARCHAR.
fn dead_letter_schema(input: &Schema) -> SchemaRef {
    let mut fields = input.fields().to_vec();
    fields.push(Field::new(LATE_REASON_COLUMN, DataType::String));
    Arc::new(Schema::new(fields))
}

fn project_row(
    exprs: &[PhysicalExpr],
    scratch: &mut Vec<Value>,
    row: &[Value],
    out: &mut BatchBuilder,
) -> Result<()> {
    // Evaluate the whole row first so that a failing expression leaves no
    // half-written row behind; `scratch` is reused, so this allocates nothing.
    scratch.clear();
    for e in exprs {
        scratch.push(e.eval(row)?);
    }
    out.push_row(scratch.drain(..));
    Ok(())
}

impl Operator for SelectOperator {
    fn name(&self) -> &'static str {
        match &self.body {
            Body::Project { .. } => "project",
            Body::Aggregate(_) => "aggregate",
            Body::Window(_) => "time_window",
            Body::Rows(_) => "rows_window",
        }
    }

    fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// An EMIT CHANGES aggregate or window updates its rows; everything else
    /// appends.
    fn output_kind(&self) -> OutputKind {
        match &self.body {
            Body::Aggregate(_) | Body::Window(_) if self.emit_mode() == EmitMode::Changes => {
                OutputKind::Updating
            }
            _ => OutputKind::AppendOnly,
        }
    }

    fn process_batch(&mut self, _input: usize, batch: &Batch) -> Result<Option<Batch>> {
        self.process_rows(batch)
    }

    fn on_watermark(&mut self, watermark: Watermark) -> Result<Option<Batch>> {
        self.advance_watermark(watermark)
    }

    fn finish(&mut self) -> Result<Option<Batch>> {
        self.finish_rows()
    }

    fn is_done(&self) -> bool {
        SelectOperator::is_done(self)
    }

    fn state_bytes(&self) -> usize {
        SelectOperator::state_bytes(self)
    }

    /// The counters and the watermark, then the body's state (a GROUP BY's
    /// groups, a time window's entries or a rows window's partitions), then
    /// ORDER BY / LIMIT's (see [`crate::state`]).
    fn snapshot(&self) -> Result<OperatorState> {
        let mut bytes = Vec::new();
        state::put_counts(self.name(), &self.stats(), self.watermark, &mut bytes)?;
        match &self.body {
            Body::Aggregate(g) => g.store(&mut bytes)?,
            Body::Window(w) => w.store(&mut bytes)?,
            Body::Rows(r) => r.store(&mut bytes)?,
            Body::Project { .. } => {}
        }
        self.order_limit.store(&mut bytes)?;
        Ok(state::state(self.name(), bytes))
    }

    fn restore(&mut self, states: &[&OperatorState], scope: &RestoreScope<'_>) -> Result<()> {
        for (old, stored) in states.iter().enumerate() {
            state::check(self.name(), stored)?;
            let (counts, watermark, rest) = state::take_counts(self.name(), &stored.bytes)?;
            if scope.takes_counters_of(old) {
                let c = &mut self.counters;
                c.rows_in += counts.rows_in;
                c.filtered += counts.filtered;
                c.failed += counts.failed;
                c.rows_out += counts.rows_out;
                // Those four are kept in `counters`; the rest in `stats`.
                state::add_counts(
                    &mut self.stats,
                    &QueryStats {
                        rows_in: 0,
                        filtered: 0,
                        failed: 0,
                        rows_out: 0,
                        ..counts
                    },
                );
            }
            // Every partition saw the same watermark before the barrier.
            self.watermark = self.watermark.max(watermark);
            let rest = match &mut self.body {
                Body::Aggregate(g) => g.load(rest, scope)?,
                Body::Window(w) => w.load(rest, old, scope)?,
                Body::Rows(r) => r.load(rest, scope)?,
                Body::Project { .. } => rest,
            };
            let rest = self.order_limit.load(rest, old, scope)?;
            if !rest.is_empty() {
                return Err(Error::State {
                    operator: self.name(),
                    message: format!("{} bytes are left after the stored state", rest.len()),
                });
            }
        }
        Ok(())
    }
}
