//! The query operator: one planned SELECT, compiled against its input schema, run
//! batch by batch.
//!
//! [`QueryExecutor::new`] resolves every name to a column index once; after that
//! [`QueryExecutor::process`] runs the WHERE filter, then one of:
//!
//! * a projection (stateless queries);
//! * a hash aggregation keyed by the GROUP BY values (`group`);
//! * a windowed aggregation (`window`): the row's event time is read by the
//!   job's [`EventTime`] extractor, checked against the current watermark (late
//!   data, SPEC §4), and the row is folded into its TUMBLING, SLIDING or SESSION
//!   window(s).
//!
//! It returns the rows to emit. Watermarks arrive in-band through
//! [`QueryExecutor::on_watermark`], which closes the windows they pass (emitting
//! them with EMIT FINAL); [`QueryExecutor::finish`] is called at the end of
//! bounded input, closes every open window and emits what EMIT FINAL held back.
//!
//! # Late data
//!
//! A row of a windowed query is late when its event time is strictly below the
//! current watermark (nothing is late before the first watermark). Per the job's
//! `late.data.strategy`: `drop` counts and skips it; `process_with_warning`
//! counts it, processes it and records a [`LateWarning`]
//! ([`QueryExecutor::take_late_warnings`]); `process_all` counts and processes
//! it; `dead_letter` counts it and copies the raw input row, plus a trailing
//! `_late_reason` column, to a side batch ([`QueryExecutor::take_dead_letters`])
//! for the named sink. A processed late row whose window already closed
//! re-opens it: a *late firing*, emitted at the next watermark (see the `window`
//! module). Queries without a time window ignore watermarks and have no late
//! rows.
//!
//! # Accounting
//!
//! Every input row is exactly one of: contributed (projected or folded into
//! state), filtered by WHERE, late and dropped, late and dead-lettered, or failed
//! (its evaluation or its event time failed; [`RowFailure`] says why):
//! `rows_in = contributed + filtered + late_dropped + late_dead_lettered + failed`
//! ([`QueryStats::accounted`]). Two edges:
//!
//! * LIMIT never stops a batch midway: every row of the batch in which LIMIT is
//!   reached is still evaluated and counted as above (so its failures are still
//!   reported); only the output rows past the limit are dropped. The caller
//!   stops feeding input once [`QueryExecutor::is_done`].
//! * Under `failure_strategy = 'fail_batch'` the first failing row stops the
//!   batch: it counts as failed, and the rows after it were never taken, so
//!   they are not in `rows_in` either.
//!
//! A failed row is kept with its source position and values until
//! [`QueryExecutor::take_failures`]: all of them under `send_to_dlq` (for the
//! dead-letter sink), the first 100 per drain otherwise. Under `fail_batch`,
//! [`QueryExecutor::process`] returns [`Error::RowFailed`] with the position
//! instead. Failures while emitting at a watermark or at the end of input (a
//! HAVING or select expression over a group's results, a held LEAD row) belong
//! to no input row: [`QueryExecutor::on_watermark`] and
//! [`QueryExecutor::finish`] return them as errors. In a row window, a row
//! whose arrival makes an earlier held LEAD row fail to emit is the row that
//! fails.
//!
//! The per-record path allocates nothing for fixed-size values: output rows are
//! appended to one batch per input batch, group keys are compared in place and
//! only copied when a new group (or window) is created.

mod event_time;
mod group;
mod node;
mod output;
pub mod rows;
mod select;
mod window;

use velo_ast::EmitMode;
use velo_planner::JobPlan;
use velo_types::{Batch, BatchBuilder, SchemaRef, Value, Watermark};

use crate::error::{Error, Result};
use crate::operator::{Edge, Emitted, Operator, Pipeline, PipelineBuilder};
use crate::stream_join::StreamJoin;
pub use event_time::EventTime;
pub use node::QueryOperator;
pub use output::OrderLimit;
pub use rows::RowsWindowExec;
pub use select::SelectOperator;

/// Counts of what a query did with its input (SPEC §4 accounting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryCounters {
    /// Rows given to [`QueryExecutor::process`].
    pub rows_in: u64,
    /// Rows removed by WHERE.
    pub filtered: u64,
    /// Rows whose evaluation failed (division by zero, overflow, a failing cast,
    /// a NULL or unparsable event time).
    pub failed: u64,
    /// Rows emitted.
    pub rows_out: u64,
}

/// Everything a query counts, for metrics and the end-of-run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Rows given to [`QueryExecutor::process`].
    pub rows_in: u64,
    /// Rows projected or folded into state (late rows that were processed
    /// included).
    pub contributed: u64,
    /// Rows removed by WHERE.
    pub filtered: u64,
    /// Rows whose evaluation or event time failed.
    pub failed: u64,
    /// Rows emitted.
    pub rows_out: u64,
    /// Rows whose event time was below the watermark, whatever happened to them.
    pub late: u64,
    /// Late rows skipped (`drop`).
    pub late_dropped: u64,
    /// Late rows sent to the dead-letter batch (`dead_letter`).
    pub late_dead_lettered: u64,
    /// Open windows: distinct window intervals for TUMBLING and SLIDING, sessions
    /// for SESSION.
    pub windows_open: u64,
    /// Windows closed so far (by a watermark or the end of input), counted like
    /// `windows_open`; their rows were emitted (EMIT FINAL) and their state freed.
    pub windows_emitted: u64,
    /// The current watermark (milliseconds), once one arrived.
    pub watermark: Option<i64>,
    /// State entries held: one per group (and per open window, when windowed).
    pub groups: u64,
}

impl QueryStats {
    /// The input rows accounted for: `contributed + filtered + failed +
    /// late_dropped + late_dead_lettered`. Always equal to `rows_in` (SPEC §4:
    /// nothing is lost silently); see the module docs.
    pub fn accounted(&self) -> u64 {
        self.contributed + self.filtered + self.failed + self.late_dropped + self.late_dead_lettered
    }
}

/// A row that could not be evaluated, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFailure {
    /// The row's index in the batch it came in.
    pub row: usize,
    /// The row's position in its source ([`Batch::position`], e.g. the 1-based
    /// line of its file), when the source gives one.
    pub position: Option<u64>,
    /// The input row as it came (in the input schema's column order), for a
    /// dead-letter sink.
    pub values: Vec<Value>,
    /// Which of the job's inputs the row came from: 0, or 1 for the second
    /// stream of a join of two streams; [`JOINED_ROW`] for a row a join of
    /// two streams produced (its values are the joined row's).
    pub input: usize,
    pub error: Error,
}

/// [`RowFailure::input`] of a joined row that failed after a join of two
/// streams.
pub const JOINED_ROW: usize = 2;

/// A late row processed under `process_with_warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LateWarning {
    /// The row's position in the batch it came in.
    pub row: usize,
    /// Its event time (milliseconds).
    pub event_time: i64,
    /// The watermark it was behind.
    pub watermark: i64,
}

impl std::fmt::Display for LateWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "late record processed: event time {} is {} ms behind the watermark {}",
            velo_types::format_timestamp_millis(self.event_time),
            self.watermark.saturating_sub(self.event_time),
            velo_types::format_timestamp_millis(self.watermark)
        )
    }
}

/// The name of the column the dead-letter batch adds to the input's.
pub const LATE_REASON_COLUMN: &str = "_late_reason";

/// How many failures and late warnings are kept between two drains (every
/// failure is kept under `send_to_dlq`).
const MAX_KEPT: usize = 100;

/// Both batches' rows, `first`'s before `second`'s (the same schema).
fn concat(first: Option<Batch>, second: Option<Batch>) -> Option<Batch> {
    match (first, second) {
        (Some(a), Some(b)) => {
            let mut out =
                BatchBuilder::with_capacity(a.schema().clone(), a.num_rows() + b.num_rows());
            for row in a.rows().chain(b.rows()) {
                out.push_row(row.iter().cloned());
            }
            Some(out.finish())
        }
        (a, b) => a.or(b),
    }
}

/// The plan of a job's second stage: the job's plan with the outer query in
/// place of its own, reading the subquery's rows (no event time of its own).
/// Adds `plan`'s operators to `b`: a join's subquery inputs first, then the
/// join, then each SELECT level. Returns the last node, its output schema and
/// the edges that read the job's inputs, left first (for the caller to make
/// them the pipeline's inputs 0 and 1 once every node is added).
fn add_job(
    b: &mut PipelineBuilder<QueryOperator>,
    plan: &JobPlan,
    input_schema: SchemaRef,
    right_schema: Option<SchemaRef>,
    tables: &[std::sync::Arc<crate::join::LookupTable>],
) -> Result<(usize, SchemaRef, Vec<Edge>)> {
    let mut inputs = Vec::new();
    let first = match (&plan.stream_join, right_schema) {
        (None, _) => {
            let op = SelectOperator::compile(plan, input_schema, tables)?;
            let schema = op.output_schema().clone();
            let node = b.add(QueryOperator::Select(Box::new(op)));
            inputs.push(Edge { node, input: 0 });
            (node, schema)
        }
        (Some(_), None) => {
            return Err(Error::Pipeline(
                "a join of two streams compiled without its second input's schema".into(),
            ))
        }
        (Some(sj), Some(right)) => {
            // A subquery input is a job of its own, ending in the join.
            let mut side = |stage: Option<&JobPlan>, schema: SchemaRef| -> Result<_> {
                match stage {
                    None => Ok((None, schema, Vec::new())),
                    Some(stage) => {
                        let (node, out, edges) = add_job(b, stage, schema, None, &[])?;
                        Ok((Some(node), out, edges))
                    }
                }
            };
            let (left_node, left, left_edges) = side(plan.left_stage.as_deref(), input_schema)?;
            let (right_node, right, right_edges) = side(sj.right_stage.as_deref(), right)?;
            let join = StreamJoin::compile(plan, left, right)?;
            let joined = join.output_schema().clone();
            let node = b.add(QueryOperator::Join(Box::new(join)));
            for (input, from, edges) in [(0, left_node, left_edges), (1, right_node, right_edges)] {
                match from {
                    Some(from) => {
                        b.connect(from, Edge { node, input })?;
                        inputs.extend(edges);
                    }
                    None => inputs.push(Edge { node, input }),
                }
            }
            // Late rows were decided at the join: what it passes on under
            // process_* is processed here too.
            let mut after = plan.clone();
            after.config.late_data = velo_planner::LateDataStrategy::ProcessAll;
            let op = SelectOperator::compile(&after, joined, tables)?;
            let schema = op.output_schema().clone();
            let select = b.add(QueryOperator::Select(Box::new(op)));
            b.connect(
                node,
                Edge {
                    node: select,
                    input: 0,
                },
            )?;
            (select, schema)
        }
    };
    let (mut last, mut schema) = first;
    for stage in &plan.downstream {
        let outer = stage_plan(plan, stage);
        let op = SelectOperator::compile(&outer, schema, &[])?;
        schema = op.output_schema().clone();
        let node = b.add(QueryOperator::Select(Box::new(op)));
        b.connect(last, Edge { node, input: 0 })?;
        last = node;
    }
    Ok((last, schema, inputs))
}

fn stage_plan(plan: &JobPlan, stage: &velo_planner::StagePlan) -> JobPlan {
    let mut outer = plan.clone();
    *outer.statement.kind.query_mut() = stage.query.clone();
    outer.analysis = stage.analysis.clone();
    outer.downstream = Vec::new();
    outer.joins = Vec::new();
    outer.stream_join = None;
    // An outer time window reads one of the subquery's columns, typed.
    outer.config.event_time_field = stage.event_time_field.clone();
    outer.config.event_time_format = None;
    // A row the subquery emits is behind the watermark only when a late row
    // re-opened one of its windows (a late firing); the outer stage then
    // processes it too, so that the late firing reaches the output.
    outer.config.late_data = velo_planner::LateDataStrategy::ProcessAll;
    outer.source.name = stage.query.from.name.value.clone();
    outer.source.alias = stage.query.from.alias.as_ref().map(|a| a.value.clone());
    outer
}

/// A job's query, compiled and ready to run over batches of its input schema:
/// a [`Pipeline`] of [`QueryOperator`]s, one [`SelectOperator`] per SELECT
/// level (two for a job whose FROM is a stateful subquery,
/// [`velo_planner::StagePlan`]), behind a [`StreamJoin`] for a job that joins
/// two streams (which then reads two inputs: the FROM stream's batches through
/// [`QueryExecutor::process`], the other's through
/// [`QueryExecutor::process_right`]). It takes the in-band messages and
/// returns what the pipeline's root emits.
#[derive(Debug)]
pub struct QueryExecutor {
    pipeline: Pipeline<QueryOperator>,
}

impl QueryExecutor {
    /// Compiles `plan`'s query against the schema its source produces, on a
    /// stack big enough for expressions at the depth limit
    /// ([`velo_ast::with_expr_stack`]).
    pub fn new(plan: &JobPlan, input_schema: SchemaRef) -> Result<QueryExecutor> {
        QueryExecutor::with_inputs(plan, input_schema, None, &[])
    }

    /// As [`QueryExecutor::new`], for a job with stream-table joins: `tables`
    /// holds each joined table, loaded, in join order (one `Arc` may serve
    /// every partition of the job).
    pub fn with_tables(
        plan: &JobPlan,
        input_schema: SchemaRef,
        tables: &[std::sync::Arc<crate::join::LookupTable>],
    ) -> Result<QueryExecutor> {
        QueryExecutor::with_inputs(plan, input_schema, None, tables)
    }

    /// As [`QueryExecutor::with_tables`], with the schema of the second
    /// stream of a job that joins two streams (`plan.stream_join`).
    pub fn with_inputs(
        plan: &JobPlan,
        input_schema: SchemaRef,
        right_schema: Option<SchemaRef>,
        tables: &[std::sync::Arc<crate::join::LookupTable>],
    ) -> Result<QueryExecutor> {
        velo_ast::with_expr_stack(|| {
            let mut b = PipelineBuilder::new();
            let (_, _, inputs) = add_job(&mut b, plan, input_schema, right_schema, tables)?;
            for edge in inputs {
                b.source(edge)?;
            }
            Ok(QueryExecutor {
                pipeline: b.build()?,
            })
        })
    }

    /// The join of two streams, if the job has one.
    fn join(&self) -> Option<&StreamJoin> {
        self.pipeline.operators().find_map(QueryOperator::as_join)
    }

    fn join_mut(&mut self) -> Option<&mut StreamJoin> {
        self.pipeline
            .operators_mut()
            .find_map(QueryOperator::as_join_mut)
    }

    /// The first SELECT of the job's own query: the operator reading the
    /// job's source, or the join's rows (after any subquery a join reads).
    fn first(&self) -> &SelectOperator {
        let at = self.first_index();
        self.pipeline
            .operators()
            .nth(at)
            .and_then(QueryOperator::as_select)
            .expect("a query's pipeline has a SELECT")
    }

    fn first_mut(&mut self) -> &mut SelectOperator {
        let at = self.first_index();
        self.pipeline
            .operators_mut()
            .nth(at)
            .and_then(QueryOperator::as_select_mut)
            .expect("a query's pipeline has a SELECT")
    }

    /// Where [`QueryExecutor::first`] is: right after the join, else the
    /// first SELECT ([`add_job`] adds a join's SELECT right after it).
    fn first_index(&self) -> usize {
        let mut ops = self.pipeline.operators();
        match ops.position(|o| o.as_join().is_some()) {
            Some(join) => join + 1,
            None => self
                .pipeline
                .operators()
                .position(|o| o.as_select().is_some())
                .unwrap_or(0),
        }
    }

    /// The operator reading pipeline input `input` and which of its inputs
    /// that is.
    fn reader_of(&self, input: usize) -> Option<(&QueryOperator, usize)> {
        let edge = self.pipeline.source_edge(input)?;
        Some((self.pipeline.operator(edge.node)?, edge.input))
    }

    /// The counters of the rows read from pipeline input `input`: the join's
    /// for that input, or those of the subquery that reads it.
    fn input_stats(&self, input: usize) -> Option<QueryStats> {
        match self.reader_of(input)? {
            (QueryOperator::Join(j), side) => Some(j.side_stats(side)),
            (QueryOperator::Select(s), _) => Some(s.stats()),
        }
    }

    fn root_counters(&self) -> QueryCounters {
        match self.pipeline.root() {
            QueryOperator::Select(s) => s.counters(),
            QueryOperator::Join(_) => QueryCounters::default(),
        }
    }

    /// The pipeline, for what it counts per operator.
    pub fn pipeline(&self) -> &Pipeline<QueryOperator> {
        &self.pipeline
    }

    /// Every operator's state, for a checkpoint: take it right after
    /// [`QueryExecutor::on_barrier`], when the state is exactly "everything
    /// before the barrier" (see [`crate::state`]).
    pub fn snapshot(&self) -> Result<Vec<crate::operator::OperatorState>> {
        self.pipeline.snapshot()
    }

    /// [`QueryExecutor::snapshot`] as bytes, for a checkpoint file: each
    /// operator's name, encoding version and state, in node order.
    pub fn snapshot_bytes(&self) -> Result<Vec<u8>> {
        let states = self.snapshot()?;
        let stored: Vec<(&str, u32, &[u8])> = states
            .iter()
            .map(|s| (s.operator, s.version, s.bytes.as_slice()))
            .collect();
        postcard::to_stdvec(&stored).map_err(|e| Error::State {
            operator: "pipeline",
            message: format!("cannot encode the state: {e}"),
        })
    }

    /// [`QueryExecutor::restore`] from [`QueryExecutor::snapshot_bytes`] of
    /// each old partition. A stored operator that is not this plan's
    /// operator at the same place (the app changed) is an error naming both.
    pub fn restore_bytes(
        &mut self,
        partitions: &[&[u8]],
        scope: &crate::operator::RestoreScope<'_>,
    ) -> Result<()> {
        let names = self.pipeline.operator_names();
        let mut decoded = Vec::with_capacity(partitions.len());
        for bytes in partitions {
            let stored: Vec<(String, u32, Vec<u8>)> =
                postcard::from_bytes(bytes).map_err(|e| Error::State {
                    operator: "pipeline",
                    message: format!("the stored state cannot be read: {e}"),
                })?;
            if stored.len() != names.len() {
                return Err(Error::State {
                    operator: "pipeline",
                    message: format!(
                        "the stored state has {} operators ({}); the query has {} ({})",
                        stored.len(),
                        stored
                            .iter()
                            .map(|s| s.0.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        names.len(),
                        names.join(", ")
                    ),
                });
            }
            let mut states = Vec::with_capacity(names.len());
            for ((name, version, bytes), &own) in stored.into_iter().zip(&names) {
                if name != own {
                    return Err(Error::State {
                        operator: own,
                        message: format!("the stored state is a '{name}' operator's"),
                    });
                }
                states.push(crate::operator::OperatorState {
                    operator: own,
                    version,
                    bytes,
                });
            }
            decoded.push(states);
        }
        self.restore(&decoded, scope)
    }

    /// Restores a fresh executor of the same plan from the snapshots of the
    /// old partitions, keeping what `scope` says is this partition's.
    pub fn restore(
        &mut self,
        partitions: &[Vec<crate::operator::OperatorState>],
        scope: &crate::operator::RestoreScope<'_>,
    ) -> Result<()> {
        self.pipeline.restore(partitions, scope)
    }

    /// The schema of the job's (FROM) input batches.
    pub fn input_schema(&self) -> &SchemaRef {
        self.input_schema_of(0)
            .expect("a query's pipeline reads an input")
    }

    /// The second input's schema, for a job that joins two streams.
    pub fn right_input_schema(&self) -> Option<&SchemaRef> {
        self.input_schema_of(1)
    }

    fn input_schema_of(&self, input: usize) -> Option<&SchemaRef> {
        match self.reader_of(input)? {
            (QueryOperator::Join(j), side) => Some(j.input_schema(side)),
            (QueryOperator::Select(s), _) => Some(s.input_schema()),
        }
    }

    /// The schema of the rows this query emits: the select list's names and
    /// types (the outer query's, for a job over a stateful subquery).
    pub fn output_schema(&self) -> &SchemaRef {
        self.pipeline.root().output_schema()
    }

    /// The schema of [`QueryExecutor::take_dead_letters`]' batches: the input's
    /// columns and a trailing `_late_reason` VARCHAR (for a join of two
    /// streams, the joined columns, the other input's NULL); `None` unless
    /// the job's late-data strategy is `dead_letter` on a windowed query or a
    /// join of two streams.
    pub fn dead_letter_schema(&self) -> Option<&SchemaRef> {
        match self.join() {
            Some(j) => j.dead_letters_kept().then(|| j.dead_letter_schema()),
            None => self.first().dead_letter_schema(),
        }
    }

    /// The job's event-time extractor, for a windowed query.
    pub fn event_time(&self) -> Option<&EventTime> {
        self.first().event_time()
    }

    /// What the job did with its input rows, and the rows it emitted.
    pub fn counters(&self) -> QueryCounters {
        let rows_out = self.root_counters().rows_out;
        match self.join() {
            Some(_) => {
                let s = self.read_stats();
                QueryCounters {
                    rows_in: s.rows_in,
                    filtered: s.filtered,
                    failed: s.failed,
                    rows_out,
                }
            }
            None => QueryCounters {
                rows_out,
                ..self.first().counters()
            },
        }
    }

    /// Every counter, with the state's current size: the input side is the
    /// first operator's (the rows the job read: both inputs' for a join of
    /// two streams), the output side the root's.
    pub fn stats(&self) -> QueryStats {
        let mut stats = match self.join() {
            Some(_) => self.read_stats(),
            None => self.first().stats(),
        };
        stats.rows_out = self.root_counters().rows_out;
        stats.groups = self.group_count() as u64;
        stats
    }

    /// A join's counters over the rows read from both inputs: the join's
    /// own for an input it reads directly, the subquery's for one it reads
    /// through a subquery (whose output rows are not records of the input).
    fn read_stats(&self) -> QueryStats {
        let join = self.join().expect("a join");
        let mut stats = join.stats();
        let mut read = self.input_stats(0).unwrap_or_default();
        if let Some(right) = self.input_stats(1) {
            crate::state::add_counts(&mut read, &right);
        }
        stats.rows_in = read.rows_in;
        stats.contributed = read.contributed;
        stats.filtered = read.filtered;
        stats.failed = read.failed;
        stats.late = read.late;
        stats.late_dropped = read.late_dropped;
        stats.late_dead_lettered = read.late_dead_lettered;
        stats
    }

    /// Rows a join of two streams holds, per input (left, right).
    pub fn join_rows(&self) -> Option<(usize, usize)> {
        self.join().map(StreamJoin::rows_held)
    }

    /// The rows that failed since the last call, for the caller to report, with
    /// their source positions and values. Under `send_to_dlq` every failed row
    /// is kept (the caller drains them after each call to `process`); otherwise
    /// at most 100 are kept between two calls. All are counted in
    /// [`QueryStats::failed`].
    pub fn take_failures(&mut self) -> Vec<RowFailure> {
        let mut failures = Vec::new();
        let mut joined = false;
        for op in self.pipeline.operators_mut() {
            let mut taken = op.take_failures();
            if joined {
                // Rows after the join are joined rows.
                taken.iter_mut().for_each(|f| f.input = JOINED_ROW);
            }
            joined |= op.as_join().is_some();
            failures.append(&mut taken);
        }
        failures
    }

    /// The rows a join of two streams passes on: their schema.
    pub fn joined_schema(&self) -> Option<&SchemaRef> {
        self.join().map(|j| j.output_schema())
    }

    /// The late rows processed under `process_with_warning` since the last call
    /// (at most 100 are kept between two calls; all are counted in
    /// [`QueryStats::late`]).
    pub fn take_late_warnings(&mut self) -> Vec<LateWarning> {
        match self.join_mut() {
            Some(j) => j.take_late_warnings(),
            None => self.first_mut().take_late_warnings(),
        }
    }

    /// The late rows set aside under `dead_letter` since the last call, for the
    /// sink named by `late.data.dead_letter`: each input row as it came, plus
    /// `_late_reason`. `None` when there are none.
    pub fn take_dead_letters(&mut self) -> Option<Batch> {
        match self.join_mut() {
            Some(j) => j.take_dead_letters(),
            None => self.first_mut().take_dead_letters(),
        }
    }

    /// The current watermark (milliseconds), once one arrived.
    pub fn watermark(&self) -> Option<i64> {
        match self.join() {
            Some(j) => j.watermark(),
            None => self.first().watermark(),
        }
    }

    /// True once LIMIT has been reached: no further input can change the output
    /// (never for a per-window LIMIT: every window has its own).
    pub fn is_done(&self) -> bool {
        self.pipeline.is_done()
    }

    /// Runs one input batch; returns the rows to emit now (possibly none).
    pub fn process(&mut self, batch: &Batch) -> Result<Option<Batch>> {
        let done = self.pipeline.process(0, batch);
        self.emitted(done)
    }

    /// Runs one batch of the second stream of a join of two streams.
    pub fn process_right(&mut self, batch: &Batch) -> Result<Option<Batch>> {
        let done = self.pipeline.process(1, batch);
        self.emitted(done)
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
    /// watermarks. A second stage gets the rows this closes, then the watermark.
    /// For a join of two streams it is the minimum of both inputs' (the
    /// source side merges them), given to both.
    pub fn on_watermark(&mut self, wm: Watermark) -> Result<Option<Batch>> {
        let mut done = Ok(());
        for input in 0..self.pipeline.inputs() {
            done = done.and_then(|()| self.pipeline.on_watermark(input, wm));
        }
        self.emitted(done)
    }

    /// A commit barrier: returns the rows emitted before it passed every
    /// operator (it arrives on every input at once).
    pub fn on_barrier(&mut self, id: u64) -> Result<Option<Batch>> {
        let mut done = Ok(());
        for input in 0..self.pipeline.inputs() {
            done = done.and_then(|()| self.pipeline.on_barrier(input, id));
        }
        self.emitted(done)
    }

    /// End of bounded input: closes every open window, emits EMIT FINAL rows and
    /// anything ORDER BY held back; a second stage gets those rows, then its own
    /// end of input.
    pub fn finish(&mut self) -> Result<Option<Batch>> {
        let done = self.pipeline.finish();
        self.emitted(done)
    }

    /// The rows the pipeline's root emitted, in order, as one batch.
    fn emitted(&mut self, done: Result<()>) -> Result<Option<Batch>> {
        let mut out = None;
        for e in self.pipeline.drain() {
            if let Emitted::Rows(rows) = e {
                out = concat(out, Some(rows));
            }
        }
        done.map(|()| out)
    }

    /// State entries held: groups, or (group, window) pairs for a windowed query
    /// (0 for stateless queries), over every operator; the rows a join of two
    /// streams holds count one each.
    pub fn group_count(&self) -> usize {
        self.pipeline
            .operators()
            .map(QueryOperator::group_count)
            .sum()
    }

    /// An estimate of the memory held by the query's state, in bytes, for the
    /// job's `max.memory.mb`, over every operator (see
    /// [`SelectOperator::state_bytes`]).
    pub fn state_bytes(&self) -> usize {
        self.pipeline.state_bytes()
    }

    /// The emit mode of the first SELECT.
    pub fn emit_mode(&self) -> EmitMode {
        self.first().emit_mode()
    }
}

#[cfg(test)]
mod tests;
