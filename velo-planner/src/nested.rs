//! Nested queries: a subquery in FROM (`FROM (SELECT ...) AS t`) or a common
//! table expression (`WITH t AS (SELECT ...)`) that filters and projects is
//! merged into the query that reads it (view merging), before planning: the
//! outer query's references to `t`'s columns become the subquery's select
//! expressions, its WHERE is AND-ed in front of the outer one, and the outer
//! query reads the subquery's source. The result is the query written flat,
//! so it runs with every operator the flat form has, on V1 and V2 alike.
//!
//! A subquery that keeps state (GROUP BY, aggregates, a window, OVER, ORDER BY,
//! LIMIT) runs as a second stage of the job ([`split_stages`]): the outer
//! query filters, projects, groups, windows (cascading windows: its time
//! column is one of the subquery's, such as `window_time`), calls OVER, sorts
//! or limits the subquery's rows. Under EXPIRE AFTER it is refused with a
//! clear error; an input of a join of two streams that is a subquery is left
//! in place, to be planned as a job of its own whose rows the join reads. One whose rows update (an EMIT CHANGES aggregate) can
//! never feed an aggregate or OVER and says so.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, visit_expressions_mut, BinaryOperator, Expr, Ident};
use velo_ast::{EmitMode, SelectItem, SelectQuery, Span, WindowSpec};

use crate::catalog::{function_kind, FunctionKind};
use crate::error::{Error, Result};

/// Whether `e` calls an aggregate or a window function (OVER) anywhere.
fn aggregates_or_over(e: &Expr) -> bool {
    visit_expressions(e, |e| match e {
        Expr::Function(f)
            if f.over.is_some()
                || f.name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| function_kind(&i.value) == Some(FunctionKind::Aggregate)) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Whether `q` aggregates (GROUP BY, a window, an aggregate call).
fn is_aggregate(q: &SelectQuery) -> bool {
    !q.group_by.is_empty()
        || q.window.is_some()
        || q.projection.iter().any(|item| match item {
            SelectItem::Expr { expr, .. } => aggregates_or_over(expr),
            _ => false,
        })
        || q.having.is_some()
}

/// Refuses what a merged subquery cannot be; `outer` reads it.
fn check_mergeable(inner: &SelectQuery, outer: &SelectQuery) -> Result<()> {
    let stateful = is_aggregate(inner)
        || !inner.order_by.is_empty()
        || inner.limit.is_some()
        || inner.row_expire.is_some();
    if !stateful {
        if let Some(e) = &inner.emit {
            return Err(Error::Invalid {
                message: "EMIT applies to the outer query, not to a subquery that only filters and projects".into(),
                span: e.span,
            });
        }
        return Ok(());
    }
    let updating = is_aggregate(inner)
        && inner.window.is_none()
        && inner.emit.is_none_or(|e| e.mode == EmitMode::Changes)
        || inner.window.is_some() && inner.emit.is_some_and(|e| e.mode == EmitMode::Changes);
    if updating && calls_over(outer) {
        return Err(Error::Invalid {
            message: "this subquery's rows are updated as it runs (an EMIT CHANGES aggregate), so OVER would take every update for a new row: use a windowed subquery with EMIT FINAL instead".into(),
            span: inner.span,
        });
    }
    if updating && is_aggregate(outer) {
        return Err(Error::Invalid {
            message: "this subquery's rows are updated as it runs (an EMIT CHANGES aggregate), so an aggregate over them would count every update: aggregate a windowed subquery with EMIT FINAL instead".into(),
            span: inner.span,
        });
    }
    Err(Error::Unsupported {
        what: "a subquery that aggregates, windows, sorts or limits, under an outer query with a JOIN or EXPIRE AFTER".into(),
        span: inner.span,
    })
}

/// Whether `q`'s select list calls a window function (OVER).
fn calls_over(q: &SelectQuery) -> bool {
    q.projection.iter().any(|item| match item {
        SelectItem::Expr { expr, .. } => visit_expressions(expr, |e| match e {
            Expr::Function(f) if f.over.is_some() => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .is_break(),
        _ => false,
    })
}

/// Whether the outer query over a stateful subquery can run as a second
/// stage: a filter / projection, a GROUP BY, a time window over the
/// subquery's rows (cascading windows: its time column is one of the
/// subquery's, such as `window_time`) or OVER, with ORDER BY / LIMIT or not;
/// not a join, nor EXPIRE AFTER.
fn can_chain(outer: &SelectQuery) -> bool {
    outer.row_expire.is_none() && outer.joins.is_empty()
}

/// Splits a query over a stateful subquery into its two stages: `query`
/// becomes the subquery (the stage that reads the source, with the outer
/// query's WITH properties after its own), and the outer query is returned,
/// to run over the subquery's rows. `None` when there is no such subquery
/// (after merging the ones that filter and project).
pub(crate) fn split_stages(query: &mut SelectQuery) -> Result<Vec<SelectQuery>> {
    split_stages_at(query, 1)
}

/// The most SELECT levels one job may chain (a clear error beyond, not a
/// deep recursion).
pub const MAX_STAGES: usize = 16;

fn split_stages_at(query: &mut SelectQuery, level: usize) -> Result<Vec<SelectQuery>> {
    if !query.joins.is_empty() {
        return Ok(Vec::new());
    }
    let Some(inner) = query.from.subquery.take() else {
        return Ok(Vec::new());
    };
    let mut inner = *inner;
    if level >= MAX_STAGES {
        return Err(Error::Invalid {
            message: format!("more than {MAX_STAGES} levels of stateful subqueries in one query"),
            span: inner.span,
        });
    }
    merge_subqueries(&mut inner)?;
    let outer_probe = SelectQuery {
        from: velo_ast::TableRef {
            subquery: None,
            ..query.from.clone()
        },
        ..query.clone()
    };
    match check_mergeable(&inner, &outer_probe) {
        // merge_subqueries merged it already; nothing is left to split.
        Ok(()) => {
            return Err(Error::Invalid {
                message: "internal error: a mergeable subquery was left unmerged".into(),
                span: inner.span,
            })
        }
        Err(Error::Unsupported { .. }) if can_chain(query) => {}
        Err(e) => return Err(e),
    }
    // The subquery may read a stateful subquery of its own: split it first,
    // so that `inner` is the innermost query and `stages` the ones above it.
    let mut stages = split_stages_at(&mut inner, level + 1)?;
    let mut outer = std::mem::replace(query, inner);
    query.properties.append(&mut outer.properties);
    stages.push(outer);
    Ok(stages)
}

/// The subquery's columns: output name (as written) and expression.
struct Columns {
    named: Vec<(String, Expr)>,
    /// The subquery selects `*`: other names are the source's columns.
    wildcard: bool,
    alias: String,
}

impl Columns {
    fn new(inner: &SelectQuery, alias: &str) -> Columns {
        let mut named = Vec::new();
        let mut wildcard = false;
        for item in &inner.projection {
            match item {
                SelectItem::Wildcard { .. } | SelectItem::QualifiedWildcard { .. } => {
                    wildcard = true
                }
                SelectItem::Expr { expr, alias, .. } => {
                    named.push((crate::output_name(expr, alias.as_ref()), expr.clone()));
                }
            }
        }
        Columns {
            named,
            wildcard,
            alias: alias.to_string(),
        }
    }

    fn get(&self, name: &str) -> Option<&Expr> {
        self.named
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, e)| e)
    }

    /// What the outer reference `e` (a column of the subquery) stands for;
    /// `None` when `e` is no column reference.
    fn resolve(&self, e: &Expr) -> Option<Result<Expr>> {
        let (name, span) = match e {
            Expr::Identifier(id) => (id, id.span),
            Expr::CompoundIdentifier(ids)
                if ids.len() == 2 && ids[0].value.eq_ignore_ascii_case(&self.alias) =>
            {
                (&ids[1], ids[1].span)
            }
            _ => return None,
        };
        Some(match self.get(&name.value) {
            Some(inner) => Ok(match inner {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) => inner.clone(),
                other => Expr::Nested(Box::new(other.clone())),
            }),
            // The source's own columns, window columns and system columns.
            None if self.wildcard || name.value.starts_with('_') => {
                Ok(Expr::Identifier(name.clone()))
            }
            None => {
                let names: Vec<&str> = self.named.iter().map(|(n, _)| n.as_str()).collect();
                Err(Error::Invalid {
                    message: format!(
                        "unknown column '{}': the subquery '{}' has the columns {}",
                        name.value,
                        self.alias,
                        names.join(", ")
                    ),
                    span,
                })
            }
        })
    }

    /// Rewrites every reference to the subquery's columns in `e`.
    fn substitute(&self, e: &mut Expr) -> Result<()> {
        let mut error = None;
        let _ = visit_expressions_mut(e, |e| {
            if let Some(r) = self.resolve(e) {
                match r {
                    Ok(new) => *e = new,
                    Err(err) => {
                        error = Some(err);
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        });
        error.map_or(Ok(()), Err)
    }
}

/// The time column a window names, mapped through the subquery.
fn window_time(column: &mut Option<Ident>, columns: &Columns, window_span: Span) -> Result<()> {
    let Some(c) = column else {
        return Ok(());
    };
    match columns.get(&c.value) {
        Some(Expr::Identifier(id)) => *c = id.clone(),
        Some(Expr::CompoundIdentifier(ids)) => *c = ids[ids.len() - 1].clone(),
        Some(_) => {
            return Err(Error::Invalid {
                message: format!(
                    "the window's time column '{}' is computed in the subquery; a window needs a column of the source",
                    c.value
                ),
                span: window_span,
            })
        }
        None if columns.wildcard => {}
        None => {
            return Err(Error::Invalid {
                message: format!(
                    "unknown column '{}': the subquery '{}' does not select it",
                    c.value, columns.alias
                ),
                span: c.span,
            })
        }
    }
    Ok(())
}

/// Merges the subqueries of `query`'s FROM (innermost first) into it; see the
/// module docs.
pub(crate) fn merge_subqueries(query: &mut SelectQuery) -> Result<()> {
    // A join's inputs that are subqueries stay: each runs as a job of its
    // own whose rows the join reads (`plan::plan_side`).
    if !query.joins.is_empty() {
        return Ok(());
    }
    let Some(inner) = query.from.subquery.take() else {
        return Ok(());
    };
    let mut inner = *inner;
    merge_subqueries(&mut inner)?;
    match check_mergeable(&inner, query) {
        Ok(()) => {}
        // Left for split_stages, which runs it as a stage of its own.
        Err(Error::Unsupported { .. }) if can_chain(query) => {
            query.from.subquery = Some(Box::new(inner));
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    let alias = query
        .from
        .alias
        .as_ref()
        .map_or(query.from.name.value.clone(), |a| a.value.clone());
    let columns = Columns::new(&inner, &alias);

    let mut projection = Vec::with_capacity(query.projection.len());
    for item in std::mem::take(&mut query.projection) {
        match item {
            SelectItem::Wildcard { .. } => projection.extend(inner.projection.iter().cloned()),
            SelectItem::QualifiedWildcard { ref qualifier, .. }
                if qualifier.value.eq_ignore_ascii_case(&alias) =>
            {
                projection.extend(inner.projection.iter().cloned())
            }
            SelectItem::Expr {
                mut expr,
                mut alias,
                primary_key,
                span,
            } => {
                if alias.is_none() {
                    if let Expr::Identifier(id) = &expr {
                        alias = Some(id.clone());
                    } else if let Expr::CompoundIdentifier(ids) = &expr {
                        alias = ids.last().cloned();
                    }
                }
                columns.substitute(&mut expr)?;
                projection.push(SelectItem::Expr {
                    expr,
                    alias,
                    primary_key,
                    span,
                });
            }
            other => projection.push(other),
        }
    }
    query.projection = projection;
    if let Some(w) = &mut query.selection {
        columns.substitute(w)?;
    }
    for g in &mut query.group_by {
        columns.substitute(g)?;
    }
    if let Some(h) = &mut query.having {
        columns.substitute(h)?;
    }
    for o in &mut query.order_by {
        columns.substitute(&mut o.expr)?;
    }
    if let Some(w) = &mut query.window {
        let span = w.span();
        match w {
            WindowSpec::Tumbling { time_column, .. }
            | WindowSpec::Sliding { time_column, .. }
            | WindowSpec::Session { time_column, .. } => window_time(time_column, &columns, span)?,
        }
    }
    query.selection = match (inner.selection.take(), query.selection.take()) {
        (Some(a), Some(b)) => Some(Expr::BinaryOp {
            left: Box::new(Expr::Nested(Box::new(a))),
            op: BinaryOperator::And,
            right: Box::new(Expr::Nested(Box::new(b))),
        }),
        (a, b) => a.or(b),
    };
    let mut properties = std::mem::take(&mut inner.properties);
    properties.append(&mut query.properties);
    query.properties = properties;
    query.from = inner.from;
    // A subquery's joins are the merged query's (the outer query has none).
    query.joins = inner.joins;
    Ok(())
}

/// Writes `q.col`, where `q` is the query's own source name or alias, as
/// `col`, everywhere in `query`: a column is the same column however it is
/// qualified, so `SELECT symbol ... GROUP BY t.symbol` groups by the selected
/// column. Other qualifiers are left for binding to report.
pub(crate) fn strip_own_qualifiers(query: &mut SelectQuery) {
    if !query.joins.is_empty() {
        return;
    }
    let mut own = vec![query.from.name.value.clone()];
    own.extend(query.from.alias.as_ref().map(|a| a.value.clone()));
    let strip = |e: &mut Expr| {
        let _ = visit_expressions_mut(e, |e| {
            if let Expr::CompoundIdentifier(ids) = e {
                if ids.len() == 2 && own.iter().any(|q| q.eq_ignore_ascii_case(&ids[0].value)) {
                    *e = Expr::Identifier(ids[1].clone());
                }
            }
            ControlFlow::<()>::Continue(())
        });
    };
    for item in &mut query.projection {
        if let SelectItem::Expr { expr, .. } = item {
            strip(expr);
        }
    }
    for e in query
        .selection
        .iter_mut()
        .chain(query.group_by.iter_mut())
        .chain(query.having.iter_mut())
    {
        strip(e);
    }
    for o in &mut query.order_by {
        strip(&mut o.expr);
    }
}

/// Flink's cascading window aggregation written as a GROUP BY (Nexmark q5):
/// a stage without a window whose GROUP BY names both the window start and
/// the window end columns of the TUMBLE or HOP stage below it (by their
/// names there, `starttime`, say) aggregates per window of that stage. It
/// gets a tumbling window over the end column, one slide wide: each window
/// of the stage below falls in a window of its own, which closes one slide
/// after its end (at the end of input, at once), so its rows are final,
/// where without it they would update. An explicit EMIT CHANGES is left as
/// written.
pub(crate) fn window_group_by_stages(inner: &SelectQuery, stages: &mut [SelectQuery]) {
    for i in 0..stages.len() {
        let (below, rest) = stages.split_at_mut(i);
        let below = below.last().unwrap_or(inner);
        let stage = &mut rest[0];
        if stage.window.is_some() || stage.emit.is_some_and(|e| e.mode == EmitMode::Changes) {
            continue;
        }
        let slide = match &below.window {
            Some(WindowSpec::Tumbling { size, .. }) => size.millis,
            Some(WindowSpec::Sliding { advance, .. }) => advance.millis,
            _ => continue,
        };
        if below.emit.is_some_and(|e| e.mode == EmitMode::Changes) {
            continue;
        }
        let named = |column: &str| {
            below.projection.iter().find_map(|item| match item {
                SelectItem::Expr {
                    expr: Expr::Identifier(id),
                    alias,
                    ..
                } if id.value.eq_ignore_ascii_case(column) => {
                    Some(alias.as_ref().unwrap_or(id).value.clone())
                }
                _ => None,
            })
        };
        let (Some(start), Some(end)) = (
            named(crate::bind::WINDOW_START),
            named(crate::bind::WINDOW_END),
        ) else {
            continue;
        };
        let grouped = |name: &str| {
            stage.group_by.iter().any(|g| match g {
                Expr::Identifier(id) => id.value.eq_ignore_ascii_case(name),
                Expr::CompoundIdentifier(ids) => ids
                    .last()
                    .is_some_and(|id| id.value.eq_ignore_ascii_case(name)),
                _ => false,
            })
        };
        if !(grouped(&start) && grouped(&end)) {
            continue;
        }
        let span = stage.span;
        stage.window = Some(WindowSpec::Tumbling {
            time_column: Some(Ident::new(end)),
            size: velo_ast::DurationLit {
                millis: slide,
                span,
            },
            span,
        });
    }
}
