//! Aggregate calls: which aggregate, over which argument type, and binding a
//! call (`SUM(DISTINCT x)`) to its [`AggregateFunction`] and bound argument.
//! The engine's accumulators compute them.

use sqlparser::ast::{
    DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned,
};
use velo_ast::Span;
use velo_types::DataType;

use super::{bind_expr, BoundExpr, Scope};
use crate::error::{Error, Result};

fn invalid(message: impl Into<String>, span: Span) -> Error {
    Error::Invalid {
        message: message.into(),
        span,
    }
}

/// Which aggregate (stored by name in checkpoints of its accumulators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AggregateKind {
    /// `COUNT(x)`: non-NULL values.
    Count,
    /// `COUNT(*)`: rows.
    CountStar,
    Sum,
    Avg,
    Min,
    Max,
    /// `STDDEV` / `STDDEV_SAMP`.
    StddevSamp,
    StddevPop,
    /// `VARIANCE` / `VAR_SAMP`.
    VarSamp,
    VarPop,
    FirstValue,
    LastValue,
}

impl AggregateKind {
    /// The kind for a function name (any case). `COUNT` gives [`AggregateKind::Count`];
    /// `COUNT(*)` is recognised by [`bind_aggregate`].
    pub fn from_name(name: &str) -> Option<AggregateKind> {
        use AggregateKind::*;
        Some(match name.to_ascii_uppercase().as_str() {
            "COUNT" => Count,
            "SUM" => Sum,
            "AVG" => Avg,
            "MIN" => Min,
            "MAX" => Max,
            "STDDEV" | "STDDEV_SAMP" => StddevSamp,
            "STDDEV_POP" => StddevPop,
            "VARIANCE" | "VAR_SAMP" => VarSamp,
            "VAR_POP" => VarPop,
            "FIRST_VALUE" => FirstValue,
            "LAST_VALUE" => LastValue,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        use AggregateKind::*;
        match self {
            Count | CountStar => "COUNT",
            Sum => "SUM",
            Avg => "AVG",
            Min => "MIN",
            Max => "MAX",
            StddevSamp => "STDDEV",
            StddevPop => "STDDEV_POP",
            VarSamp => "VARIANCE",
            VarPop => "VAR_POP",
            FirstValue => "FIRST_VALUE",
            LastValue => "LAST_VALUE",
        }
    }

    pub fn needs_number(self) -> bool {
        use AggregateKind::*;
        matches!(self, Sum | Avg | StddevSamp | StddevPop | VarSamp | VarPop)
    }
}

/// A compiled aggregate: what to compute, over values of `input_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AggregateFunction {
    pub kind: AggregateKind,
    pub distinct: bool,
    /// The static type of the argument (`Null` for COUNT(*) or when unknown).
    pub input_type: DataType,
}

impl AggregateFunction {
    pub fn new(kind: AggregateKind, distinct: bool, input_type: DataType) -> AggregateFunction {
        AggregateFunction {
            kind,
            distinct,
            input_type,
        }
    }

    /// The static type of the result.
    pub fn result_type(&self) -> DataType {
        use AggregateKind::*;
        match (self.kind, self.input_type) {
            (Count | CountStar, _) => DataType::Int,
            (Sum, DataType::Decimal { scale, .. }) => DataType::Decimal {
                precision: 38,
                scale,
            },
            (Sum, t) => t,
            (Avg, DataType::Decimal { scale, .. }) => DataType::Decimal {
                precision: 38,
                scale: scale.max(6),
            },
            (Avg, _) => DataType::Float,
            (Min | Max | FirstValue | LastValue, t) => t,
            (StddevSamp | StddevPop | VarSamp | VarPop, _) => DataType::Float,
        }
    }
}

/// `AGG(x) FILTER (WHERE c)` as `AGG(CASE WHEN c THEN x END)`, and
/// `COUNT(*) FILTER (WHERE c)` as `COUNT(CASE WHEN c THEN 1 END)`: the same
/// result for every aggregate that skips NULLs (all but FIRST_VALUE and
/// LAST_VALUE, which are refused), including NULL for a SUM, MIN or AVG that
/// no row passed, as SQL and Flink give.
fn bind_filtered(
    f: &sqlparser::ast::Function,
    kind: AggregateKind,
    name: &str,
    condition: &Expr,
    scope: &Scope,
    span: Span,
) -> Result<(AggregateFunction, Option<BoundExpr>)> {
    use sqlparser::ast::helpers::attached_token::AttachedToken;
    use sqlparser::ast::{CaseWhen, Value};
    if matches!(kind, AggregateKind::FirstValue | AggregateKind::LastValue) {
        return Err(invalid(format!("FILTER is not supported in {name}"), span));
    }
    let when = |result: Expr| Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen {
            condition: condition.clone(),
            result,
        }],
        else_result: None,
    };
    let mut call = f.clone();
    call.filter = None;
    if let FunctionArguments::List(list) = &mut call.args {
        if let [FunctionArg::Unnamed(arg)] = list.args.as_mut_slice() {
            let rewritten = match &*arg {
                FunctionArgExpr::Wildcard => {
                    FunctionArgExpr::Expr(when(Expr::value(Value::Number("1".into(), false))))
                }
                FunctionArgExpr::Expr(e) => FunctionArgExpr::Expr(when(e.clone())),
                other => other.clone(),
            };
            *arg = rewritten;
        }
    }
    bind_aggregate(&Expr::Function(call), scope)
}

/// Binds an aggregate call (`COUNT(*)`, `SUM(DISTINCT x + 1)`, ...) into the
/// function and its argument expression (`None` for `COUNT(*)`), bound against
/// `scope` (the input rows, before aggregation). An aggregate nested in the argument
/// is an error, as are FILTER, window calls (OVER) and wrong argument counts.
pub fn bind_aggregate(
    call: &Expr,
    scope: &Scope,
) -> Result<(AggregateFunction, Option<BoundExpr>)> {
    let span = call.span();
    let Expr::Function(f) = call else {
        return Err(invalid(
            format!("expected an aggregate call, got {call}"),
            span,
        ));
    };
    let name = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_ascii_uppercase())
        .unwrap_or_default();
    let kind = AggregateKind::from_name(&name)
        .ok_or_else(|| invalid(format!("'{}' is not an aggregate function", f.name), span))?;
    if f.over.is_some() {
        return Err(invalid(
            format!("{name}(...) OVER (...) is a window function call, not a group aggregate"),
            span,
        ));
    }
    if let Some(condition) = &f.filter {
        return bind_filtered(f, kind, &name, condition, scope, span);
    }
    if !f.within_group.is_empty() {
        return Err(invalid(
            format!("WITHIN GROUP is not supported in {name}"),
            span,
        ));
    }
    let FunctionArguments::List(list) = &f.args else {
        return Err(invalid(format!("{name} needs one argument"), span));
    };
    if !list.clauses.is_empty() {
        return Err(invalid(format!("unsupported clause in {name}(...)"), span));
    }
    let distinct = list.duplicate_treatment == Some(DuplicateTreatment::Distinct);
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] => {
            if kind != AggregateKind::Count {
                return Err(invalid(
                    format!("{name}(*) is not allowed; only COUNT(*)"),
                    span,
                ));
            }
            if distinct {
                return Err(invalid("COUNT(DISTINCT *) is not allowed", span));
            }
            Ok((
                AggregateFunction::new(AggregateKind::CountStar, false, DataType::Null),
                None,
            ))
        }
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] => {
            let arg = bind_expr(arg, scope)?;
            let input_type = arg.data_type();
            if kind.needs_number() && !(input_type.is_numeric() || input_type == DataType::Null) {
                return Err(invalid(
                    format!("{name} needs a numeric argument, got {input_type}"),
                    span,
                ));
            }
            Ok((
                AggregateFunction::new(kind, distinct, input_type),
                Some(arg),
            ))
        }
        args => Err(invalid(
            format!(
                "aggregate function {name} expects 1 argument, got {}",
                args.len()
            ),
            span,
        )),
    }
}
