//! Binding the clauses of a SELECT: WHERE, the select list, GROUP BY keys and
//! aggregate calls, the select list and HAVING over the group row, ORDER BY over
//! the output rows.

use velo_ast::{SelectItem, SelectQuery, Span};
use velo_types::{DataType, Field, Schema};

use super::{bind_aggregate, bind_expr, AggregateFunction, BoundExpr, Scope};
use crate::error::{Error, Result};
use crate::plan::output_name;
use crate::JobPlan;

/// The names of the window columns in a windowed query's group row.
pub const WINDOW_START: &str = "_window_start";
pub const WINDOW_END: &str = "_window_end";

/// A bound select list: one expression per output column, the output fields,
/// and each item's canonical text (ORDER BY may repeat an item's expression).
#[derive(Debug, Clone, PartialEq)]
pub struct BoundSelect {
    pub exprs: Vec<BoundExpr>,
    pub fields: Vec<Field>,
    pub texts: Vec<String>,
}

/// Binds a select list against `scope`. A wildcard expands to the first
/// `wildcard_columns` columns of the scope's schema (the input's columns; an
/// extended row may carry computed columns after them). Duplicate output names
/// are an error at `span`.
pub fn bind_select(
    items: &[SelectItem],
    scope: &Scope<'_>,
    wildcard_columns: usize,
    span: Span,
) -> Result<BoundSelect> {
    let mut exprs = Vec::new();
    let mut fields = Vec::new();
    let mut texts = Vec::new();
    for item in items {
        match item {
            SelectItem::Wildcard { .. } | SelectItem::QualifiedWildcard { .. } => {
                for (i, f) in scope
                    .schema
                    .fields()
                    .iter()
                    .take(wildcard_columns)
                    .enumerate()
                {
                    exprs.push(BoundExpr::Column {
                        index: i,
                        data_type: f.data_type,
                    });
                    fields.push(f.clone());
                    texts.push(f.name.to_ascii_lowercase());
                }
            }
            SelectItem::Expr { expr, alias, .. } => {
                let bound = bind_expr(expr, scope)?;
                let name = output_name(expr, alias.as_ref());
                fields.push(Field::new(&name, bound.data_type()));
                exprs.push(bound);
                texts.push(velo_ast::canonical_text(expr));
            }
        }
    }
    for (i, f) in fields.iter().enumerate() {
        if fields[..i]
            .iter()
            .any(|g| g.name.eq_ignore_ascii_case(&f.name))
        {
            return Err(Error::Invalid {
                message: format!(
                    "the output column '{}' appears twice; give one of them an alias with AS",
                    f.name
                ),
                span,
            });
        }
    }
    Ok(BoundSelect {
        exprs,
        fields,
        texts,
    })
}

/// The scope of a job's input rows: its schema and the source's qualifiers.
fn input_scope<'a>(input: &'a Schema, qualifiers: &'a [String]) -> Scope<'a> {
    Scope {
        schema: input,
        qualifiers,
        substitutions: &[],
    }
}

/// The job's WHERE, bound over its input rows.
pub fn bind_filter(
    plan: &JobPlan,
    input: &Schema,
    qualifiers: &[String],
) -> Result<Option<BoundExpr>> {
    plan.query()
        .selection
        .as_ref()
        .map(|w| bind_expr(w, &input_scope(input, qualifiers)))
        .transpose()
}

/// The select list of a query without aggregation, bound over its input rows
/// (`*` expands to the input's columns).
pub fn bind_projection(
    plan: &JobPlan,
    input: &Schema,
    qualifiers: &[String],
) -> Result<BoundSelect> {
    let query = plan.query();
    bind_select(
        &query.projection,
        &input_scope(input, qualifiers),
        input.wildcard_len(),
        query.span,
    )
}

/// The GROUP BY keys and aggregate calls of an aggregated query, bound over its
/// input rows.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundGrouping {
    pub keys: Vec<BoundExpr>,
    pub aggregates: Vec<(AggregateFunction, Option<BoundExpr>)>,
}

/// Binds the plan's GROUP BY expressions and aggregate calls over input rows.
pub fn bind_grouping(
    plan: &JobPlan,
    input: &Schema,
    qualifiers: &[String],
) -> Result<BoundGrouping> {
    let analysis = &plan.analysis;
    let scope = input_scope(input, qualifiers);
    let keys = analysis
        .group_keys
        .iter()
        .map(|k| bind_expr(k, &scope))
        .collect::<Result<Vec<_>>>()?;
    let aggregates = analysis
        .aggregates
        .iter()
        .map(|a| bind_aggregate(a, &scope))
        .collect::<Result<Vec<_>>>()?;
    Ok(BoundGrouping { keys, aggregates })
}

/// The select list and HAVING of an aggregated query, bound over its group row:
/// `[key values..., aggregate results...]`, followed for a windowed query by
/// `[_window_start, _window_end]` (both TIMESTAMP).
#[derive(Debug, Clone, PartialEq)]
pub struct BoundGroupOutput {
    pub having: Option<BoundExpr>,
    pub select: BoundSelect,
}

/// Binds the select list and HAVING of an aggregated query over its group row;
/// a select item or HAVING term that repeats a GROUP BY expression or an
/// aggregate call reads that column of the group row.
pub fn bind_group_output(
    plan: &JobPlan,
    qualifiers: &[String],
    grouping: &BoundGrouping,
    window_columns: bool,
) -> Result<BoundGroupOutput> {
    let query = plan.query();
    let analysis = &plan.analysis;
    let mut group_fields = Vec::new();
    let mut substitutions = Vec::new();
    for (i, (k, ke)) in analysis.group_keys.iter().zip(&grouping.keys).enumerate() {
        group_fields.push(Field::new(&format!("_key{i}"), ke.data_type()));
        substitutions.push((velo_ast::canonical_text(k), i));
    }
    let keys = grouping.keys.len();
    for (j, (a, (f, _))) in analysis
        .aggregates
        .iter()
        .zip(&grouping.aggregates)
        .enumerate()
    {
        group_fields.push(Field::new(&format!("_agg{j}"), f.result_type()));
        substitutions.push((velo_ast::canonical_text(a), keys + j));
    }
    if window_columns {
        for name in [WINDOW_START, WINDOW_END] {
            substitutions.push((name.to_string(), group_fields.len()));
            group_fields.push(Field::new(name, DataType::Timestamp));
        }
    }
    let group_schema = Schema::new(group_fields);
    let scope = Scope {
        schema: &group_schema,
        qualifiers,
        substitutions: &substitutions,
    };
    // The planner refuses `*` in aggregated queries, so nothing expands here.
    let select = bind_select(&query.projection, &scope, 0, query.span)?;
    let having = query
        .having
        .as_ref()
        .map(|h| bind_expr(h, &scope))
        .transpose()?;
    Ok(BoundGroupOutput { having, select })
}

/// Binds ORDER BY against the output rows: an item may name an output column
/// (or alias) or repeat a select item's expression (`select_texts`). Each item
/// with whether it is descending.
pub fn bind_order_by(
    query: &SelectQuery,
    output: &Schema,
    select_texts: &[String],
) -> Result<Vec<(BoundExpr, bool)>> {
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
    query
        .order_by
        .iter()
        .map(|o| Ok((bind_expr(&o.expr, &scope)?, o.descending)))
        .collect()
}
