//! What a query does, read off its AST: group keys, aggregates, window, emit mode,
//! row windows, and the checks that need no schema.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArguments, Spanned, Visit, Visitor, WindowFrameBound, WindowFrameUnits,
    WindowType,
};
use velo_ast::{canonical_text, EmitMode, SelectItem, SelectQuery, Span, WindowSpec};

use crate::catalog::{function_kind, FunctionKind};
use crate::error::{Error, Result};

/// An event-time window of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeWindowKind {
    Tumbling { size_ms: i64 },
    Sliding { size_ms: i64, advance_ms: i64 },
    Session { gap_ms: i64 },
}

/// The WINDOW clause, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    pub kind: TimeWindowKind,
    /// The time column named in the clause; `None` means the job's event-time field.
    pub time_column: Option<String>,
}

/// A row window: `OVER (ROWS WINDOW BUFFER n ROWS PARTITION BY .. ORDER BY ..)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowsWindow {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<Expr>,
    /// The rows in the frame, the current one included (`k PRECEDING` gives k + 1).
    pub buffer_rows: u64,
    /// `EXPIRE AFTER <duration> INACTIVITY`: a partition idle (in event time) for
    /// longer than this is dropped and starts afresh. Positive when present.
    pub expire_after_ms: Option<i64>,
    /// The select list calls LEAD: a row is held back until the rows it looks
    /// ahead to arrive (or the input ends).
    pub holds_rows: bool,
}

/// The analysis of one SELECT.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryAnalysis {
    pub group_keys: Vec<Expr>,
    /// Every distinct aggregate call (without OVER) in the select list and HAVING.
    pub aggregates: Vec<Expr>,
    pub window: Option<TimeWindow>,
    pub rows_window: Option<RowsWindow>,
    /// The emit mode in force: as written, else SPEC's default.
    pub emit: EmitMode,
    /// Whether EMIT was written.
    pub emit_explicit: bool,
    /// The query keeps state between records (aggregation, windows).
    pub stateful: bool,
}

impl QueryAnalysis {
    /// True when the select list is folded per group (GROUP BY or aggregates).
    pub fn is_aggregate(&self) -> bool {
        !self.group_keys.is_empty() || !self.aggregates.is_empty()
    }
}

/// Columns a windowed aggregate may select without grouping by them.
const WINDOW_COLUMNS: &[&str] = &["_window_start", "_window_end"];

pub(crate) fn analyze(query: &SelectQuery) -> Result<QueryAnalysis> {
    let window = query.window.as_ref().map(time_window).transpose()?;

    // Function names, aggregates' placement, window functions.
    let mut aggregates = Vec::new();
    let mut rows_windows = Vec::new();
    for item in &query.projection {
        if let SelectItem::Expr { expr, .. } = item {
            scan_functions(
                expr,
                "the select list",
                true,
                &mut aggregates,
                &mut rows_windows,
            )?;
        }
    }
    if let Some(h) = &query.having {
        scan_functions(h, "HAVING", true, &mut aggregates, &mut rows_windows)?;
    }
    let mut none = Vec::new();
    if let Some(w) = &query.selection {
        scan_functions(w, "WHERE", false, &mut none, &mut rows_windows)?;
    }
    for g in &query.group_by {
        scan_functions(g, "GROUP BY", false, &mut none, &mut rows_windows)?;
    }
    for o in &query.order_by {
        scan_functions(&o.expr, "ORDER BY", true, &mut none, &mut rows_windows)?;
    }

    let rows_window = match rows_windows.as_slice() {
        [] => None,
        [(first, _), rest @ ..] => {
            if let Some((_, span)) = rest.iter().find(|(w, _)| w != first) {
                return Err(Error::Unsupported {
                    what: "several different OVER windows in one query".to_string(),
                    span: *span,
                });
            }
            Some(first.clone())
        }
    };
    let rows_window = match (rows_window, query.row_expire) {
        (Some(_), Some(d)) if d.millis <= 0 => {
            return Err(Error::Invalid {
                message: "EXPIRE AFTER needs a positive duration".to_string(),
                span: d.span,
            });
        }
        (Some(w), expire) => Some(RowsWindow {
            expire_after_ms: expire.map(|d| d.millis),
            holds_rows: calls_lead(query),
            ..w
        }),
        (None, _) => None,
    };

    let analysis = QueryAnalysis {
        group_keys: query.group_by.clone(),
        aggregates,
        emit: match (&query.emit, &window) {
            (Some(e), _) => e.mode,
            (None, Some(_)) => EmitMode::Final,
            (None, None) => EmitMode::Changes,
        },
        emit_explicit: query.emit.is_some(),
        stateful: !query.group_by.is_empty() || window.is_some() || rows_window.is_some(),
        window,
        rows_window,
    };
    let analysis = QueryAnalysis {
        stateful: analysis.stateful || !analysis.aggregates.is_empty(),
        ..analysis
    };

    if analysis.is_aggregate() {
        if analysis.rows_window.is_some() {
            let span = query
                .projection
                .first()
                .map(item_span)
                .unwrap_or(query.span);
            return Err(Error::Unsupported {
                what: "combining GROUP BY or aggregates with OVER windows".to_string(),
                span,
            });
        }
        let keys: Vec<String> = query.group_by.iter().map(canonical_text).collect();
        let allow_window_cols = analysis.window.is_some();
        for item in &query.projection {
            match item {
                SelectItem::Wildcard { span } | SelectItem::QualifiedWildcard { span, .. } => {
                    return Err(Error::Invalid {
                        message: "SELECT * cannot be used with GROUP BY or aggregates".to_string(),
                        span: *span,
                    })
                }
                SelectItem::Expr { expr, .. } => check_grouped(expr, &keys, allow_window_cols)?,
            }
        }
        if let Some(h) = &query.having {
            check_grouped(h, &keys, allow_window_cols)?;
        }
    } else if let Some(h) = &query.having {
        return Err(Error::Invalid {
            message: "HAVING needs GROUP BY or an aggregate".to_string(),
            span: h.span(),
        });
    }
    if analysis.window.is_some() && !analysis.is_aggregate() {
        let span = query
            .window
            .as_ref()
            .map(|w| w.span())
            .unwrap_or(query.span);
        return Err(Error::Invalid {
            message: "a WINDOW needs GROUP BY or an aggregate in the select list".to_string(),
            span,
        });
    }
    if analysis.window.is_some()
        && analysis.emit == EmitMode::Changes
        && (!query.order_by.is_empty() || query.limit.is_some())
    {
        // ORDER BY / LIMIT on a window apply to each emitted window (SPEC §2);
        // EMIT CHANGES emits an update per record, never a window's rows.
        let span = query.emit.as_ref().map_or(query.span, |e| e.span);
        return Err(Error::Invalid {
            message: "ORDER BY and LIMIT on a windowed query apply to each emitted window, \
                      but EMIT CHANGES emits an update per record, not a window's rows: \
                      use EMIT FINAL, or drop ORDER BY and LIMIT"
                .to_string(),
            span,
        });
    }
    Ok(analysis)
}

fn item_span(item: &SelectItem) -> Span {
    match item {
        SelectItem::Wildcard { span }
        | SelectItem::QualifiedWildcard { span, .. }
        | SelectItem::Expr { span, .. } => *span,
    }
}

fn time_window(spec: &WindowSpec) -> Result<TimeWindow> {
    let positive = |d: &velo_ast::DurationLit, what: &str| -> Result<i64> {
        if d.millis <= 0 {
            Err(Error::BadDuration {
                reason: format!("the {what} must be positive"),
                span: d.span,
            })
        } else {
            Ok(d.millis)
        }
    };
    let kind = match spec {
        WindowSpec::Tumbling { size, .. } => TimeWindowKind::Tumbling {
            size_ms: positive(size, "window size")?,
        },
        WindowSpec::Sliding { size, advance, .. } => {
            let size_ms = positive(size, "window size")?;
            let advance_ms = positive(advance, "window advance")?;
            if advance_ms > size_ms {
                return Err(Error::BadDuration {
                    reason: "the advance of a sliding window cannot exceed its size".to_string(),
                    span: advance.span,
                });
            }
            TimeWindowKind::Sliding {
                size_ms,
                advance_ms,
            }
        }
        WindowSpec::Session { gap, .. } => TimeWindowKind::Session {
            gap_ms: positive(gap, "session gap")?,
        },
    };
    Ok(TimeWindow {
        kind,
        time_column: spec.time_column().map(|c| c.value.clone()),
    })
}

/// Walks an expression: checks every function name, collects aggregate calls
/// (when `aggregates_allowed`) and row windows, and rejects aggregates where they
/// cannot be.
fn scan_functions(
    expr: &Expr,
    place: &'static str,
    aggregates_allowed: bool,
    aggregates: &mut Vec<Expr>,
    rows_windows: &mut Vec<(RowsWindow, Span)>,
) -> Result<()> {
    struct Scan<'a> {
        place: &'static str,
        allowed: bool,
        aggregates: &'a mut Vec<Expr>,
        rows_windows: &'a mut Vec<(RowsWindow, Span)>,
        /// One entry per expression being visited: whether it is a group aggregate.
        stack: Vec<bool>,
    }
    impl Visitor for Scan<'_> {
        type Break = Error;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Error> {
            let mut is_agg = false;
            if let Expr::Function(f) = expr {
                let name = f.name.to_string();
                let kind = match function_kind(&name) {
                    Some(k) => k,
                    None => {
                        return ControlFlow::Break(Error::UnknownFunction {
                            name,
                            span: f.name.span(),
                        })
                    }
                };
                match (&f.over, kind) {
                    (Some(over), _) => match rows_window(over, expr.span()) {
                        Ok(w) => self.rows_windows.push((w, expr.span())),
                        Err(e) => return ControlFlow::Break(e),
                    },
                    (None, FunctionKind::Window) => {
                        return ControlFlow::Break(Error::Invalid {
                            message: format!("{name} needs an OVER (...) clause"),
                            span: expr.span(),
                        })
                    }
                    (None, FunctionKind::Aggregate) => {
                        if !self.allowed {
                            return ControlFlow::Break(Error::MisplacedAggregate {
                                name,
                                place: self.place,
                                span: expr.span(),
                            });
                        }
                        if self.stack.iter().any(|a| *a) {
                            return ControlFlow::Break(Error::MisplacedAggregate {
                                name,
                                place: "another aggregate",
                                span: expr.span(),
                            });
                        }
                        if matches!(f.args, FunctionArguments::Subquery(_)) {
                            return ControlFlow::Break(Error::Unsupported {
                                what: "subqueries".to_string(),
                                span: expr.span(),
                            });
                        }
                        is_agg = true;
                        let text = canonical_text(expr);
                        if !self.aggregates.iter().any(|a| canonical_text(a) == text) {
                            self.aggregates.push(expr.clone());
                        }
                    }
                    (None, FunctionKind::Scalar) => {}
                }
            }
            if matches!(
                expr,
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
            ) {
                return ControlFlow::Break(Error::Unsupported {
                    what: "subqueries".to_string(),
                    span: expr.span(),
                });
            }
            self.stack.push(is_agg);
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<Error> {
            self.stack.pop();
            ControlFlow::Continue(())
        }
    }
    let mut scan = Scan {
        place,
        allowed: aggregates_allowed,
        aggregates,
        rows_windows,
        stack: Vec::new(),
    };
    match expr.visit(&mut scan) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn rows_window(over: &WindowType, span: Span) -> Result<RowsWindow> {
    let spec = match over {
        WindowType::WindowSpec(spec) => spec,
        WindowType::NamedWindow(name) => {
            return Err(Error::Unsupported {
                what: format!("named window '{name}'"),
                span,
            })
        }
    };
    let buffer_rows = match &spec.window_frame {
        None => {
            return Err(Error::Invalid {
                message: "an OVER window needs a frame: ROWS WINDOW BUFFER n ROWS or ROWS BETWEEN k PRECEDING AND CURRENT ROW".to_string(),
                span,
            })
        }
        Some(frame) => {
            let current = matches!(frame.end_bound, None | Some(WindowFrameBound::CurrentRow));
            match (&frame.units, &frame.start_bound, current) {
                (WindowFrameUnits::Rows, WindowFrameBound::Preceding(Some(k)), true) => {
                    match k.as_ref() {
                        Expr::Value(v) => match v.value.to_string().parse::<u64>() {
                            // The frame holds the current row too.
                            Ok(n) => n.checked_add(1).ok_or_else(|| Error::Invalid {
                                message: format!("the row window is too large: {n} PRECEDING"),
                                span: k.span(),
                            })?,
                            Err(_) => {
                                return Err(Error::Invalid {
                                    message: format!("expected a row count, found {k}"),
                                    span: k.span(),
                                })
                            }
                        },
                        other => {
                            return Err(Error::Invalid {
                                message: format!("expected a row count, found {other}"),
                                span: other.span(),
                            })
                        }
                    }
                }
                (WindowFrameUnits::Rows, WindowFrameBound::CurrentRow, true) => 1,
                _ => {
                    return Err(Error::Unsupported {
                        what: "window frames other than ROWS BETWEEN k PRECEDING AND CURRENT ROW".to_string(),
                        span,
                    })
                }
            }
        }
    };
    Ok(RowsWindow {
        partition_by: spec.partition_by.clone(),
        order_by: spec.order_by.iter().map(|o| o.expr.clone()).collect(),
        buffer_rows,
        // Set from the query's EXPIRE clause once the windows are compared.
        expire_after_ms: None,
        holds_rows: false,
    })
}

/// Checks that every column an aggregated select item reads is grouped or inside
/// an aggregate.
fn check_grouped(expr: &Expr, keys: &[String], allow_window_cols: bool) -> Result<()> {
    struct Check<'a> {
        keys: &'a [String],
        allow_window_cols: bool,
        /// Per visited expression: does it shield its children (grouped or aggregate)?
        stack: Vec<bool>,
    }
    impl Visitor for Check<'_> {
        type Break = Error;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Error> {
            let shielded = self.stack.iter().any(|s| *s);
            let mut shields = false;
            if !shielded {
                if self.keys.iter().any(|k| *k == canonical_text(expr)) {
                    shields = true;
                } else if let Expr::Function(f) = expr {
                    shields = f.over.is_none()
                        && function_kind(&f.name.to_string()) == Some(FunctionKind::Aggregate);
                } else if let Some(name) = column_name(expr) {
                    let window_col = WINDOW_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(&name));
                    if !(window_col && self.allow_window_cols) {
                        return ControlFlow::Break(Error::NotGrouped {
                            column: name,
                            span: expr.span(),
                        });
                    }
                }
            }
            self.stack.push(shields);
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<Error> {
            self.stack.pop();
            ControlFlow::Continue(())
        }
    }
    let mut check = Check {
        keys,
        allow_window_cols,
        stack: Vec::new(),
    };
    match expr.visit(&mut check) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Whether the query names one of SPEC §2's system columns (`_key`,
/// `_partition`, `_offset`, `_timestamp`) anywhere, or makes one its event
/// time: a source without them of its own then has them appended.
pub(crate) fn uses_system_columns(query: &SelectQuery, event_time_field: Option<&str>) -> bool {
    let is_system = |name: &str| {
        velo_types::connector::SYSTEM_COLUMNS
            .iter()
            .any(|(s, _)| s.eq_ignore_ascii_case(name))
    };
    if event_time_field.is_some_and(is_system) {
        return true;
    }
    if query
        .window
        .as_ref()
        .and_then(WindowSpec::time_column)
        .is_some_and(|c| is_system(&c.value))
    {
        return true;
    }
    let mut exprs: Vec<&Expr> = Vec::new();
    for item in &query.projection {
        if let SelectItem::Expr { expr, .. } = item {
            exprs.push(expr);
        }
    }
    exprs.extend(query.selection.iter());
    exprs.extend(query.group_by.iter());
    exprs.extend(query.having.iter());
    exprs.extend(query.order_by.iter().map(|o| &o.expr));
    exprs.into_iter().any(|e| {
        sqlparser::ast::visit_expressions(e, |e| match column_name(e) {
            Some(name) if is_system(&name) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .is_break()
    })
}

/// Whether the select list calls LEAD (with OVER; the planner refuses it
/// without).
fn calls_lead(query: &SelectQuery) -> bool {
    query.projection.iter().any(|item| match item {
        SelectItem::Expr { expr, .. } => sqlparser::ast::visit_expressions(expr, |e| match e {
            Expr::Function(f)
                if f.over.is_some() && f.name.to_string().eq_ignore_ascii_case("lead") =>
            {
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })
        .is_break(),
        _ => false,
    })
}

/// The column an expression names, if it is a column reference.
pub(crate) fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(id) => Some(id.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    fn rows_window(sql: &str) -> crate::Result<Option<super::RowsWindow>> {
        let sql = format!("{sql} WITH ('t.type' = 'stdin_source')");
        crate::plan_sql(&sql, &Default::default())
            .map(|mut p| p.jobs.remove(0).analysis.rows_window)
    }

    #[test]
    fn a_rows_window_holds_rows_only_when_lead_is_called() {
        let holds = |sql: &str| rows_window(sql).unwrap().unwrap().holds_rows;
        assert!(holds(
            "SELECT a, lead(a) OVER (ROWS WINDOW BUFFER 3 ROWS) AS n FROM t"
        ));
        assert!(holds(
            "SELECT COALESCE(LEAD(a, 2) OVER (ROWS WINDOW BUFFER 3 ROWS), 0) AS n FROM t"
        ));
        assert!(!holds(
            "SELECT LAG(a) OVER (ROWS WINDOW BUFFER 3 ROWS) AS p, 'LEAD(' AS s FROM t"
        ));
    }

    #[test]
    fn expire_after_reaches_the_rows_window() {
        let w = rows_window(
            "SELECT SUM(a) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k EXPIRE AFTER 5s INACTIVITY) AS s FROM t",
        )
        .unwrap()
        .unwrap();
        assert_eq!((w.buffer_rows, w.expire_after_ms), (3, Some(5000)));
        let w = rows_window("SELECT SUM(a) OVER (ROWS WINDOW BUFFER 3 ROWS) AS s FROM t")
            .unwrap()
            .unwrap();
        assert_eq!(w.expire_after_ms, None);
        // Regression: the largest u64 as `k PRECEDING` overflowed `k + 1` and
        // panicked (found by tests/no_panic.rs).
        let e = rows_window(
            "SELECT SUM(a) OVER (PARTITION BY k ROWS BETWEEN 18446744073709551615 PRECEDING AND CURRENT ROW) AS s FROM t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        let w = rows_window(
            "SELECT SUM(a) OVER (PARTITION BY k ROWS BETWEEN 18446744073709551614 PRECEDING AND CURRENT ROW) AS s FROM t",
        )
        .unwrap()
        .unwrap();
        assert_eq!(w.buffer_rows, u64::MAX);
        let e = rows_window(
            "SELECT SUM(a) OVER (ROWS WINDOW BUFFER 3 ROWS EXPIRE AFTER 0s INACTIVITY) AS s FROM t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("positive"), "{e}");
    }

    #[test]
    fn order_by_and_limit_on_a_window_need_emit_final() {
        let plan = |q: &str| {
            crate::plan_sql(
                &format!("{q} WITH ('t.type' = 'stdin_source')"),
                &Default::default(),
            )
        };
        let w = "SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, 1m)";
        for tail in [" ORDER BY n DESC", " LIMIT 2", " ORDER BY n LIMIT 2"] {
            let e = plan(&format!("{w}{tail} EMIT CHANGES")).unwrap_err();
            assert!(e.to_string().contains("use EMIT FINAL"), "{tail}: {e}");
            // Pointed at the EMIT clause.
            assert_eq!(
                e.span().start.column,
                w.len() as u64 + tail.len() as u64 + 2
            );
            plan(&format!("{w}{tail} EMIT FINAL")).unwrap();
            plan(&format!("{w}{tail}")).unwrap();
        }
        plan(&format!("{w} EMIT CHANGES")).unwrap();
        // Without a window, ORDER BY / LIMIT stay global, EMIT CHANGES included.
        plan("SELECT k, COUNT(*) AS n FROM t GROUP BY k ORDER BY n LIMIT 2 EMIT CHANGES").unwrap();
    }
}
