//! Binding a row-window query (`... OVER (PARTITION BY .. ORDER BY .. ROWS ..)`):
//! its partition keys, its OVER calls (what each computes, over which bound
//! argument) and the select list over `[input columns..., OVER results...]`.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned, Visit, Visitor,
};
use velo_ast::{canonical_text, SelectItem, Span};
use velo_types::cast::cast_value;
use velo_types::{DataType, Field, Schema, Value};

use super::{bind_aggregate, bind_expr, bind_select, AggregateKind, BoundExpr, BoundSelect, Scope};
use crate::error::{Error, Result};
use crate::JobPlan;

/// The largest BUFFER size and LAG/LEAD offset accepted: every partition allocates
/// its buffers up front, so an absurd size must fail at plan time.
pub const MAX_BUFFER_ROWS: u64 = 1_000_000;

/// What one OVER call computes.
#[derive(Debug, Clone, PartialEq)]
pub enum OverFunction {
    /// `COUNT(*)`.
    CountStar,
    /// An aggregate over the frame: COUNT, SUM, AVG, MIN, MAX, FIRST_VALUE or
    /// LAST_VALUE of [`OverCall::arg`].
    Aggregate(AggregateKind),
    RowNumber,
    Rank,
    DenseRank,
    /// The argument `offset` rows back, else the default.
    Lag {
        offset: u64,
    },
    /// The argument `offset` rows ahead, else the default.
    Lead {
        offset: u64,
    },
}

/// One bound OVER call.
#[derive(Debug, Clone, PartialEq)]
pub struct OverCall {
    pub function: OverFunction,
    /// The argument, over the input row (none for COUNT(*) and the ranks).
    pub arg: Option<BoundExpr>,
    /// LAG/LEAD's default, over the current row, a literal already converted
    /// to the argument's type.
    pub default: Option<BoundExpr>,
    /// The result type.
    pub data_type: DataType,
}

/// A bound row-window query.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundRows {
    /// PARTITION BY, over the input row.
    pub partition_by: Vec<BoundExpr>,
    /// Every distinct OVER call of the select list, in order of appearance; the
    /// result of call `i` is column `input.len() + i` of the extended row.
    pub calls: Vec<OverCall>,
    /// The OVER clause's ORDER BY, bound only when a call ranks rows.
    pub order_by: Vec<BoundExpr>,
    /// A row's time for EXPIRE AFTER: the job's event-time field, else the first
    /// ORDER BY expression.
    pub time: Option<BoundExpr>,
    /// The extended row's fields: the input's, then one per OVER call.
    pub extended: Schema,
    /// The select list over the extended row.
    pub select: BoundSelect,
}

fn invalid(message: impl Into<String>, span: Span) -> Error {
    Error::Invalid {
        message: message.into(),
        span,
    }
}

/// Finds every function call with OVER in an expression, in order, without
/// duplicates (by canonical text).
fn collect_over_calls(expr: &Expr, out: &mut Vec<Expr>) {
    struct Collect<'a>(&'a mut Vec<Expr>);
    impl Visitor for Collect<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr {
                if f.over.is_some() {
                    let text = canonical_text(expr);
                    if !self.0.iter().any(|e| canonical_text(e) == text) {
                        self.0.push(expr.clone());
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = expr.visit(&mut Collect(out));
}

fn function_upper_name(f: &Function) -> String {
    f.name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_ascii_uppercase())
        .unwrap_or_else(|| f.name.to_string().to_ascii_uppercase())
}

/// The plain arguments of a call (`f(a, b)`); an error for anything else.
fn plain_args<'e>(f: &'e Function, name: &str, span: Span) -> Result<Vec<&'e Expr>> {
    match &f.args {
        FunctionArguments::None => Ok(vec![]),
        FunctionArguments::Subquery(_) => Err(invalid("subqueries are not supported", span)),
        FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(invalid(
                    format!("DISTINCT and other clauses are not supported in {name}(...) OVER"),
                    span,
                ));
            }
            list.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                    _ => Err(invalid(
                        format!("unsupported argument in {name}(...)"),
                        span,
                    )),
                })
                .collect()
        }
    }
}

/// A LAG/LEAD offset: a non-negative integer literal.
fn offset(expr: &Expr, scope: &Scope, name: &str) -> Result<u64> {
    let bound = bind_expr(expr, scope)?;
    let value = match &bound {
        BoundExpr::Literal(v) => Some(v.clone()),
        // `-1` binds as a negation of a literal.
        BoundExpr::Negate(inner) => match inner.as_literal() {
            Some(Value::Int(k)) => Some(Value::Int(k.wrapping_neg())),
            _ => None,
        },
        _ => None,
    };
    match value {
        Some(Value::Int(k)) if k >= 0 && (k as u64) <= MAX_BUFFER_ROWS => Ok(k as u64),
        _ => Err(invalid(
            format!(
                "the offset of {name} must be an integer literal from 0 to {MAX_BUFFER_ROWS}, found {expr}"
            ),
            expr.span(),
        )),
    }
}

/// LAG/LEAD's default: bound against the current row, with a literal
/// converted to the argument's type.
fn lag_lead_default(
    expr: &Expr,
    scope: &Scope,
    arg_type: DataType,
    name: &str,
) -> Result<BoundExpr> {
    let bound = bind_expr(expr, scope)?;
    let t = bound.data_type();
    if t == arg_type || t == DataType::Null || arg_type == DataType::Null {
        return Ok(bound);
    }
    if let Some(v) = bound.as_literal() {
        if let Ok(v) = cast_value(v, arg_type) {
            return Ok(BoundExpr::Literal(v));
        }
    }
    Err(invalid(
        format!("the default of {name} has type {t}, but its argument has type {arg_type}"),
        expr.span(),
    ))
}

/// Binds one OVER call.
fn bind_call(call: &Expr, scope: &Scope) -> Result<OverCall> {
    let span = call.span();
    let Expr::Function(f) = call else {
        return Err(invalid(format!("expected a window call: {call}"), span));
    };
    let name = function_upper_name(f);
    if f.filter.is_some() || f.null_treatment.is_some() || !f.within_group.is_empty() {
        return Err(invalid(
            format!("FILTER, IGNORE NULLS and WITHIN GROUP are not supported in {name}(...) OVER"),
            span,
        ));
    }
    if let Some(kind) = AggregateKind::from_name(&name) {
        let mut plain = f.clone();
        plain.over = None;
        let (func, arg) = bind_aggregate(&Expr::Function(plain), scope)?;
        if func.distinct {
            return Err(invalid(
                format!("{name}(DISTINCT ...) OVER is not supported"),
                span,
            ));
        }
        let function = match (func.kind, &arg) {
            (AggregateKind::CountStar, _) => OverFunction::CountStar,
            (
                AggregateKind::Count
                | AggregateKind::Sum
                | AggregateKind::Avg
                | AggregateKind::Min
                | AggregateKind::Max
                | AggregateKind::FirstValue
                | AggregateKind::LastValue,
                Some(_),
            ) => OverFunction::Aggregate(func.kind),
            _ => {
                return Err(invalid(
                    format!("{} is not supported over a row window (COUNT, SUM, AVG, MIN, MAX, FIRST_VALUE and LAST_VALUE are)", kind.name()),
                    span,
                ))
            }
        };
        return Ok(OverCall {
            function,
            arg,
            default: None,
            data_type: func.result_type(),
        });
    }
    let args = plain_args(f, &name, span)?;
    match name.as_str() {
        "ROW_NUMBER" | "RANK" | "DENSE_RANK" => {
            if !args.is_empty() {
                return Err(invalid(format!("{name}() takes no arguments"), span));
            }
            let function = match name.as_str() {
                "ROW_NUMBER" => OverFunction::RowNumber,
                "RANK" => OverFunction::Rank,
                _ => OverFunction::DenseRank,
            };
            Ok(OverCall {
                function,
                arg: None,
                default: None,
                data_type: DataType::Int,
            })
        }
        "LAG" | "LEAD" => {
            if args.is_empty() || args.len() > 3 {
                return Err(invalid(
                    format!("{name} takes 1 to 3 arguments: {name}(x [, offset [, default]])"),
                    span,
                ));
            }
            let arg = bind_expr(args[0], scope)?;
            let arg_type = arg.data_type();
            let offset = match args.get(1) {
                Some(e) => offset(e, scope, &name)?,
                None => 1,
            };
            let default = match args.get(2) {
                Some(e) => Some(lag_lead_default(e, scope, arg_type, &name)?),
                None => None,
            };
            let data_type = if arg_type == DataType::Null {
                default
                    .as_ref()
                    .map_or(DataType::Null, BoundExpr::data_type)
            } else {
                arg_type
            };
            let function = if name == "LAG" {
                OverFunction::Lag { offset }
            } else {
                OverFunction::Lead { offset }
            };
            Ok(OverCall {
                function,
                arg: Some(arg),
                default,
                data_type,
            })
        }
        _ => Err(invalid(format!("{name} is not a window function"), span)),
    }
}

/// The expression that gives a row's time for EXPIRE AFTER: the job's event-time
/// field, else the first ORDER BY expression.
fn time_expr(
    plan: &JobPlan,
    input: &Schema,
    scope: &Scope<'_>,
    order_by: &[Expr],
) -> Result<BoundExpr> {
    let span = plan.query().span;
    let e = if let Some(field) = &plan.config.event_time_field {
        let index = input.index_of(field).ok_or_else(|| {
            invalid(
                format!("the event-time field '{field}' is not a column of the source"),
                span,
            )
        })?;
        BoundExpr::Column {
            index,
            data_type: input.field(index).data_type,
        }
    } else if let Some(first) = order_by.first() {
        bind_expr(first, scope)?
    } else {
        return Err(invalid(
            "EXPIRE AFTER needs event time: set 'event.time.field' or ORDER BY a time column in the OVER clause",
            span,
        ));
    };
    match e.data_type() {
        DataType::Int | DataType::Timestamp | DataType::String | DataType::Null => Ok(e),
        t => Err(invalid(
            format!("EXPIRE AFTER measures time with a {t} column; it needs BIGINT milliseconds, TIMESTAMP or a timestamp string"),
            span,
        )),
    }
}

/// Binds `plan`'s row-window query against its input schema; `qualifiers` are
/// the accepted table qualifiers (`plan.qualifiers()`).
pub fn bind_rows(plan: &JobPlan, input: &Schema, qualifiers: &[String]) -> Result<BoundRows> {
    let query = plan.query();
    let Some(window) = &plan.analysis.rows_window else {
        return Err(invalid(
            "internal error: a row window needs a query with OVER",
            query.span,
        ));
    };
    if let Some(w) = &query.selection {
        let mut calls = Vec::new();
        collect_over_calls(w, &mut calls);
        if let Some(c) = calls.first() {
            return Err(invalid(
                "window functions (OVER) are not allowed in WHERE",
                c.span(),
            ));
        }
    }
    if window.buffer_rows == 0 || window.buffer_rows > MAX_BUFFER_ROWS {
        return Err(invalid(
            format!(
                "the row window must hold 1 to {MAX_BUFFER_ROWS} rows, not {}",
                window.buffer_rows
            ),
            query.span,
        ));
    }
    let scope = Scope {
        schema: input,
        qualifiers,
        substitutions: &[],
    };
    let partition_by = window
        .partition_by
        .iter()
        .map(|e| bind_expr(e, &scope))
        .collect::<Result<Vec<_>>>()?;

    // Every OVER call of the select list, in order of appearance.
    let mut over_calls = Vec::new();
    for item in &query.projection {
        if let SelectItem::Expr { expr, .. } = item {
            collect_over_calls(expr, &mut over_calls);
        }
    }
    let mut calls = Vec::with_capacity(over_calls.len());
    let mut ext_fields: Vec<Field> = input.fields().to_vec();
    let mut substitutions = Vec::with_capacity(over_calls.len());
    for (i, call) in over_calls.iter().enumerate() {
        let bound = bind_call(call, &scope)?;
        substitutions.push((canonical_text(call), input.len() + i));
        ext_fields.push(Field::new(&format!("_over{i}"), bound.data_type));
        calls.push(bound);
    }
    let ranks = calls
        .iter()
        .any(|c| matches!(c.function, OverFunction::Rank | OverFunction::DenseRank));
    let order_by = if ranks {
        window
            .order_by
            .iter()
            .map(|e| bind_expr(e, &scope))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let time = match window.expire_after_ms {
        None => None,
        Some(_) => Some(time_expr(plan, input, &scope, &window.order_by)?),
    };

    // The select list over [input columns..., OVER results...].
    let extended = Schema::new(ext_fields);
    let ext_scope = Scope {
        schema: &extended,
        qualifiers,
        substitutions: &substitutions,
    };
    let select = bind_select(
        &query.projection,
        &ext_scope,
        input.wildcard_len(),
        query.span,
    )?;
    Ok(BoundRows {
        partition_by,
        calls,
        order_by,
        time,
        extended,
        select,
    })
}
