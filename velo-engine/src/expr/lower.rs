//! From the planner's [`BoundExpr`] to [`PhysicalExpr`]: constant folding, LIKE
//! patterns compiled once, and the `column op literal` fast path. Binding has
//! already resolved names and checked types, so lowering cannot fail.

use velo_planner::bind::{BoundExpr, ScalarFunction};
use velo_types::{DataType, Value};

use super::{LikeMatcher, LikePattern, PhysicalExpr};

fn boxed(e: PhysicalExpr) -> Box<PhysicalExpr> {
    Box::new(e)
}

fn lower_box(e: &BoundExpr) -> Box<PhysicalExpr> {
    Box::new(lower(e))
}

/// Lowers a bound expression to its physical form. See the module docs.
pub fn lower(expr: &BoundExpr) -> PhysicalExpr {
    use BoundExpr as B;
    use PhysicalExpr as P;
    let lowered = match expr {
        B::Column { index, data_type } => P::Column {
            index: *index,
            data_type: *data_type,
        },
        B::Literal(v) => P::Literal(v.clone()),
        B::Not(e) => P::Not(lower_box(e)),
        B::Negate(e) => P::Negate(lower_box(e)),
        B::And(a, b) => P::And(lower_box(a), lower_box(b)),
        B::Or(a, b) => P::Or(lower_box(a), lower_box(b)),
        B::Compare { op, left, right } => match (lower(left), lower(right)) {
            (P::Column { index, .. }, P::Literal(literal)) if !literal.is_null() => {
                P::CompareColumnLiteral {
                    op: *op,
                    index,
                    literal,
                }
            }
            (P::Literal(literal), P::Column { index, .. }) if !literal.is_null() => {
                P::CompareColumnLiteral {
                    op: op.flip(),
                    index,
                    literal,
                }
            }
            (l, r) => P::Compare {
                op: *op,
                left: boxed(l),
                right: boxed(r),
            },
        },
        B::Arithmetic {
            op,
            left,
            right,
            data_type,
        } => P::Arithmetic {
            op: *op,
            left: lower_box(left),
            right: lower_box(right),
            data_type: *data_type,
        },
        B::Concat(a, b) => P::Concat(lower_box(a), lower_box(b)),
        B::IsNull { expr, negated } => P::IsNull {
            expr: lower_box(expr),
            negated: *negated,
        },
        B::IsBool {
            expr,
            value,
            negated,
        } => P::IsBool {
            expr: lower_box(expr),
            value: *value,
            negated: *negated,
        },
        B::IsDistinctFrom {
            left,
            right,
            negated,
        } => P::IsDistinctFrom {
            left: lower_box(left),
            right: lower_box(right),
            negated: *negated,
        },
        B::Case {
            operand,
            branches,
            else_result,
            data_type,
        } => P::Case {
            operand: operand.as_deref().map(lower_box),
            branches: branches.iter().map(|(w, t)| (lower(w), lower(t))).collect(),
            else_result: else_result.as_deref().map(lower_box),
            data_type: *data_type,
        },
        B::InList {
            expr,
            list,
            negated,
        } => P::InList {
            expr: lower_box(expr),
            list: list.iter().map(lower).collect(),
            negated: *negated,
        },
        B::Between {
            expr,
            low,
            high,
            negated,
        } => P::Between {
            expr: lower_box(expr),
            low: lower_box(low),
            high: lower_box(high),
            negated: *negated,
        },
        B::Like {
            expr,
            pattern,
            escape,
            case_insensitive,
            negated,
        } => {
            let pattern = match lower(pattern) {
                P::Literal(Value::Null) => return P::Literal(Value::Null),
                // The binder has checked a literal pattern; one that folded into
                // a literal here and does not compile fails per row instead.
                P::Literal(Value::Str(s)) => {
                    match LikeMatcher::new(&s, *escape, *case_insensitive) {
                        Ok(m) => LikePattern::Compiled(m),
                        Err(_) => LikePattern::Dynamic {
                            pattern: boxed(P::Literal(Value::Str(s))),
                            escape: *escape,
                            case_insensitive: *case_insensitive,
                        },
                    }
                }
                p => LikePattern::Dynamic {
                    pattern: boxed(p),
                    escape: *escape,
                    case_insensitive: *case_insensitive,
                },
            };
            P::Like {
                expr: lower_box(expr),
                pattern,
                negated: *negated,
            }
        }
        B::Cast { expr, to, try_cast } => P::Cast {
            expr: lower_box(expr),
            to: *to,
            try_cast: *try_cast,
        },
        B::Function {
            func: ScalarFunction::RegexpExtract,
            args,
            ..
        } if matches!(
            args.get(1).and_then(|p| p.as_literal()),
            Some(Value::Str(_))
        ) =>
        {
            let mut args = args.iter().map(lower);
            let expr = args.next().map(Box::new);
            let pattern = args.next();
            let index = args.next().map(Box::new);
            let regex = match &pattern {
                Some(P::Literal(Value::Str(p))) => regex::Regex::new(p).ok(),
                _ => None,
            };
            match (expr, regex) {
                (Some(expr), Some(regex)) => P::RegexpExtract {
                    expr,
                    regex: std::sync::Arc::new(regex),
                    index,
                },
                // Refused by the planner; evaluated (and refused) per row.
                (expr, _) => P::Function {
                    func: ScalarFunction::RegexpExtract,
                    args: expr
                        .map(|e| *e)
                        .into_iter()
                        .chain(pattern)
                        .chain(index.map(|i| *i))
                        .collect(),
                    data_type: DataType::String,
                },
            }
        }
        B::Function {
            func,
            args,
            data_type,
        } => P::Function {
            func: *func,
            args: args.iter().map(lower).collect(),
            data_type: *data_type,
        },
    };
    fold(lowered)
}

/// Folds a node whose children are all literals into a literal (never for the
/// wall-clock functions, and never when it would change the static type).
fn fold(e: PhysicalExpr) -> PhysicalExpr {
    if matches!(e, PhysicalExpr::Literal(_) | PhysicalExpr::Column { .. }) {
        return e;
    }
    let children = e.children();
    if children.is_empty() && !matches!(e, PhysicalExpr::Function { .. }) {
        return e;
    }
    if !children.iter().all(|c| c.as_literal().is_some()) || e.is_volatile() {
        return e;
    }
    match e.eval(&[]) {
        Ok(v) if v.data_type() == e.data_type() || e.data_type() == DataType::Null => {
            PhysicalExpr::Literal(v)
        }
        _ => e,
    }
}
