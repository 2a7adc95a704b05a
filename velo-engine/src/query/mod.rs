//! The query operator: one planned SELECT, compiled against its input schema, run
//! batch by batch.
//!
//! [`QueryExecutor::new`] resolves every name to a column index once; after that
//! [`QueryExecutor::process`] runs the WHERE filter, then either a projection
//! (stateless queries) or a hash aggregation keyed by the GROUP BY values
//! ([`group::GroupAggregate`]), and returns the rows to emit. [`QueryExecutor::finish`]
//! is called at the end of bounded input and emits what EMIT FINAL held back.
//!
//! The per-record path allocates nothing for fixed-size values: output rows are
//! appended to one batch per input batch, group keys are compared in place and
//! only copied when a new group is created.

mod group;
mod output;

use std::sync::Arc;

use velo_ast::{EmitMode, SelectItem};
use velo_planner::JobPlan;
use velo_types::{Batch, BatchBuilder, Field, Schema, SchemaRef, Value};

use crate::error::{Error, Result};
use crate::expr::{compile, PhysicalExpr, Scope};
use group::GroupAggregate;
pub use output::OrderLimit;

/// Counts of what a query did with its input (SPEC §4 accounting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryCounters {
    /// Rows given to [`QueryExecutor::process`].
    pub rows_in: u64,
    /// Rows removed by WHERE.
    pub filtered: u64,
    /// Rows whose evaluation failed (division by zero, overflow, a failing cast).
    pub failed: u64,
    /// Rows emitted.
    pub rows_out: u64,
}

/// A row that could not be evaluated, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFailure {
    /// The row's position in the batch it came in.
    pub row: usize,
    pub error: Error,
}

/// How the rows that pass WHERE become output rows.
#[derive(Debug)]
enum Body {
    /// Stateless: one output row per input row.
    Project {
        exprs: Vec<PhysicalExpr>,
        scratch: Vec<Value>,
    },
    /// GROUP BY and aggregates.
    Aggregate(Box<GroupAggregate>),
}

/// One SELECT, compiled and ready to run over batches of its input schema.
#[derive(Debug)]
pub struct QueryExecutor {
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    filter: Option<PhysicalExpr>,
    body: Body,
    order_limit: OrderLimit,
    counters: QueryCounters,
    failures: Vec<RowFailure>,
    /// Stop at the first failing row instead of counting it (`fail_batch`).
    fail_fast: bool,
}

impl QueryExecutor {
    /// Compiles `plan`'s query against the schema its source produces.
    pub fn new(plan: &JobPlan, input_schema: SchemaRef) -> Result<QueryExecutor> {
        let query = plan.query();
        // Refuse what this engine cannot run yet rather than run it wrongly.
        if let Some(w) = &query.window {
            return Err(Error::Compile {
                message: "time windows (WINDOW TUMBLING / SLIDING / SESSION) do not run yet"
                    .to_string(),
                span: w.span(),
            });
        }
        if plan.analysis.rows_window.is_some() {
            return Err(Error::Compile {
                message: "OVER (row) windows do not run yet".to_string(),
                span: query.span,
            });
        }
        let qualifiers = plan.qualifiers();
        let scope = Scope {
            schema: &input_schema,
            qualifiers: &qualifiers,
            substitutions: &[],
        };
        let filter = query
            .selection
            .as_ref()
            .map(|w| compile(w, &scope))
            .transpose()?;
        let (body, output_schema, output_exprs) = if plan.analysis.is_aggregate() {
            let agg = GroupAggregate::new(plan, &input_schema, &qualifiers)?;
            let schema = agg.output_schema().clone();
            let exprs = agg.select_texts().to_vec();
            (Body::Aggregate(Box::new(agg)), schema, exprs)
        } else {
            let (exprs, fields, texts) = projection(&query.projection, &scope)?;
            let scratch = Vec::with_capacity(exprs.len());
            (
                Body::Project { exprs, scratch },
                Arc::new(Schema::new(fields)),
                texts,
            )
        };
        let order_limit = OrderLimit::new(query, &output_schema, &output_exprs)?;
        Ok(QueryExecutor {
            input_schema,
            output_schema,
            filter,
            body,
            order_limit,
            counters: QueryCounters::default(),
            failures: Vec::new(),
            fail_fast: plan.config.failure_strategy == velo_planner::FailureStrategy::FailBatch,
        })
    }

    pub fn input_schema(&self) -> &SchemaRef {
        &self.input_schema
    }

    /// The schema of the rows this query emits: the select list's names and types.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    pub fn counters(&self) -> QueryCounters {
        self.counters
    }

    /// The rows that failed since the last call, for the caller to report.
    pub fn take_failures(&mut self) -> Vec<RowFailure> {
        std::mem::take(&mut self.failures)
    }

    /// True once LIMIT has been reached: no further input can change the output.
    pub fn is_done(&self) -> bool {
        self.order_limit.is_exhausted()
    }

    /// Runs one input batch; returns the rows to emit now (possibly none).
    pub fn process(&mut self, batch: &Batch) -> Result<Option<Batch>> {
        debug_assert_eq!(batch.schema().len(), self.input_schema.len());
        let n = batch.num_rows();
        self.counters.rows_in += n as u64;
        let mut out = BatchBuilder::with_capacity(self.output_schema.clone(), n);
        for (i, row) in batch.rows().enumerate() {
            if let Some(f) = &self.filter {
                match f.eval(row) {
                    Ok(Value::Bool(true)) => {}
                    Ok(_) => {
                        self.counters.filtered += 1;
                        continue;
                    }
                    Err(e) => {
                        self.fail(i, e)?;
                        continue;
                    }
                }
            }
            let result = match &mut self.body {
                Body::Project { exprs, scratch } => project_row(exprs, scratch, row, &mut out),
                Body::Aggregate(agg) => agg.update(row, &mut out),
            };
            if let Err(e) = result {
                self.fail(i, e)?;
            }
        }
        let emitted = self.order_limit.admit(out.finish());
        self.counters.rows_out += emitted.as_ref().map_or(0, |b| b.num_rows() as u64);
        Ok(emitted)
    }

    /// End of bounded input: emits EMIT FINAL rows and anything ORDER BY held back.
    pub fn finish(&mut self) -> Result<Option<Batch>> {
        let mut out = BatchBuilder::with_capacity(self.output_schema.clone(), 0);
        if let Body::Aggregate(agg) = &mut self.body {
            agg.finish(&mut out)?;
        }
        let mut emitted = self.order_limit.admit(out.finish());
        emitted = self.order_limit.finish(emitted);
        self.counters.rows_out += emitted.as_ref().map_or(0, |b| b.num_rows() as u64);
        Ok(emitted)
    }

    fn fail(&mut self, row: usize, error: Error) -> Result<()> {
        if self.fail_fast {
            return Err(error);
        }
        self.counters.failed += 1;
        // Keep the first few per batch: enough to report, bounded in memory.
        if self.failures.len() < 100 {
            self.failures.push(RowFailure { row, error });
        }
        Ok(())
    }

    /// Groups held in state (0 for stateless queries).
    pub fn group_count(&self) -> usize {
        match &self.body {
            Body::Project { .. } => 0,
            Body::Aggregate(a) => a.group_count(),
        }
    }

    /// The emit mode in force.
    pub fn emit_mode(&self) -> EmitMode {
        match &self.body {
            Body::Project { .. } => EmitMode::Changes,
            Body::Aggregate(a) => a.emit_mode(),
        }
    }
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

/// Compiles a stateless select list; `*` expands to every input column.
fn projection(
    items: &[SelectItem],
    scope: &Scope<'_>,
) -> Result<(Vec<PhysicalExpr>, Vec<Field>, Vec<String>)> {
    let mut exprs = Vec::new();
    let mut fields = Vec::new();
    let mut texts = Vec::new();
    for item in items {
        match item {
            SelectItem::Wildcard { .. } | SelectItem::QualifiedWildcard { .. } => {
                for (i, f) in scope.schema.fields().iter().enumerate() {
                    exprs.push(PhysicalExpr::Column {
                        index: i,
                        data_type: f.data_type,
                    });
                    fields.push(f.clone());
                    texts.push(f.name.to_string());
                }
            }
            SelectItem::Expr { expr, alias, .. } => {
                let compiled = compile(expr, scope)?;
                let name = output_name(expr, alias.as_ref());
                fields.push(Field::new(&name, compiled.data_type()));
                exprs.push(compiled);
                texts.push(expr.to_string());
            }
        }
    }
    check_unique_names(&fields)?;
    Ok((exprs, fields, texts))
}

/// The output column name of a select item: its alias, else the column's own
/// name, else the expression's SQL text (e.g. `COUNT(*)`).
pub(crate) fn output_name(expr: &velo_ast::Expr, alias: Option<&velo_ast::Ident>) -> String {
    if let Some(a) = alias {
        return a.value.clone();
    }
    match expr {
        velo_ast::Expr::Identifier(id) => id.value.clone(),
        velo_ast::Expr::CompoundIdentifier(parts) => {
            parts.last().map(|p| p.value.clone()).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

pub(crate) fn check_unique_names(fields: &[Field]) -> Result<()> {
    for (i, f) in fields.iter().enumerate() {
        if fields[..i]
            .iter()
            .any(|g| g.name.eq_ignore_ascii_case(&f.name))
        {
            return Err(Error::Compile {
                message: format!(
                    "the output column '{}' appears twice; give one of them an alias with AS",
                    f.name
                ),
                span: velo_ast::Span::empty(),
            });
        }
    }
    Ok(())
}
