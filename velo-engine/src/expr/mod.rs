//! Physical expressions: SQL expressions compiled once into a tree that is
//! evaluated per row without name lookups, locks or allocation.
//!
//! # Design
//!
//! * **Bind, then lower, once.** The planner binds a SQL expression
//!   ([`velo_planner::bind::bind_expr`]) against a [`Scope`] (the input
//!   [`Schema`](velo_types::Schema), the accepted table qualifiers and the
//!   integrator's substitutions): every column reference is resolved to its index,
//!   static types are computed and checked (errors carry the span of the offending
//!   expression), and string literals compared with TIMESTAMP (or numeric) columns
//!   are converted once. [`lower`] turns that [`BoundExpr`](velo_planner::bind::BoundExpr)
//!   into a [`PhysicalExpr`]: constant sub-trees are folded and LIKE patterns that
//!   are literals are compiled into a [`LikeMatcher`] once. Names are never looked
//!   up again.
//! * **Evaluate per row.** [`PhysicalExpr::eval`] takes a row (`&[Value]`) and returns
//!   a [`Value`]. Fixed-size values (BOOLEAN, BIGINT, DOUBLE, DECIMAL, TIMESTAMP) are
//!   never heap-allocated; a column's string is returned by cloning its `Arc`.
//!   Internally operands are evaluated with [`PhysicalExpr::eval_ref`], which
//!   borrows columns and literals instead of cloning them, and a comparison of a
//!   column with a literal has its own variant ([`PhysicalExpr::CompareColumnLiteral`])
//!   that touches nothing but the two values. Only operations that build a new
//!   string (`||`, UPPER, SUBSTRING, CAST to VARCHAR, ...) allocate.
//!
//! # SQL semantics
//!
//! * Three-valued logic: `NULL AND FALSE` is FALSE, `NULL AND TRUE` is NULL,
//!   `NULL OR TRUE` is TRUE, `NOT NULL` is NULL; comparisons and arithmetic with a
//!   NULL operand give NULL; a filter keeps a row only when its predicate is TRUE
//!   ([`PhysicalExpr::eval_predicate`]).
//! * Numbers: BIGINT arithmetic is checked, overflow is [`Error::Overflow`]
//!   (never a wrap). `BIGINT / BIGINT` is an integer division truncating toward zero
//!   (as in Flink and ksqlDB). Division or modulo by zero is
//!   [`Error::DivisionByZero`] for every numeric type:
//!   Velo deliberately does not produce `Infinity`/`NaN` from `/` on DOUBLEs, since
//!   they cannot be written to JSON and hide data errors; the record fails instead.
//!   Mixed BIGINT/DOUBLE is DOUBLE, BIGINT/DECIMAL is an exact DECIMAL, and
//!   DECIMAL/DOUBLE is DOUBLE. Numbers compare by value across types.
//! * DECIMAL (up to 38 digits, [`velo_types::Decimal`]): `+`, `-`, `%` have scale
//!   max(s1, s2), `*` s1 + s2, `/` max(s1, s2, 6); all exact except the quotient,
//!   rounded half away from zero at its scale. A result that needs more than 38
//!   digits is [`Error::Overflow`], never a rounded value.
//! * Literals: an integer literal is BIGINT (a DECIMAL if it does not fit), a literal
//!   with a dot or an exponent (`100.5`, `1e3`) is DOUBLE; an exact decimal is
//!   written `CAST('1.5' AS DECIMAL(3,1))`. `INTERVAL '5' MINUTE` is a BIGINT number of
//!   milliseconds (so `ts + INTERVAL '5' MINUTE` is a TIMESTAMP), `TIMESTAMP '2024-01-15
//!   10:00:00'` and `DATE '2024-01-15'` are TIMESTAMPs (UTC).
//! * TIMESTAMP is milliseconds since the epoch; CAST between TIMESTAMP and BIGINT
//!   converts to and from those milliseconds.
//! * LIKE: `%` matches any sequence, `_` one character; there is no default escape
//!   character (as in Flink), `ESCAPE 'c'` sets one. ILIKE is case-insensitive.
//! * `NOW()` / `CURRENT_TIMESTAMP` / `UNIX_TIMESTAMP()` read the wall clock on every
//!   evaluation: they are the only non-deterministic expressions and are never
//!   constant-folded.

mod functions;
mod like;
mod lower;
mod ops;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use velo_types::{DataType, Value};

use crate::error::{Error, Result};

pub use like::LikeMatcher;
pub use lower::lower;
pub use velo_planner::bind::{
    is_aggregate_function, ArithOp, CmpOp, ExtractField, ScalarFunction, Scope, TrimMode,
};
pub use velo_types::cast::{cast_value, parse_timestamp};

/// The pattern of a LIKE: compiled once when it is a literal, else per row.
#[derive(Debug, Clone)]
pub enum LikePattern {
    Compiled(LikeMatcher),
    Dynamic {
        pattern: Box<PhysicalExpr>,
        escape: Option<char>,
        case_insensitive: bool,
    },
}

/// A compiled expression, evaluated per row. Build one with [`lower`].
#[derive(Debug, Clone)]
pub enum PhysicalExpr {
    /// The value of column `index` of the input row.
    Column {
        index: usize,
        data_type: DataType,
    },
    Literal(Value),
    /// `NOT e` (three-valued).
    Not(Box<PhysicalExpr>),
    /// `-e` (checked for BIGINT).
    Negate(Box<PhysicalExpr>),
    /// `a AND b` (three-valued, short-circuits on FALSE).
    And(Box<PhysicalExpr>, Box<PhysicalExpr>),
    /// `a OR b` (three-valued, short-circuits on TRUE).
    Or(Box<PhysicalExpr>, Box<PhysicalExpr>),
    /// `a op b`; NULL when either side is NULL.
    Compare {
        op: CmpOp,
        left: Box<PhysicalExpr>,
        right: Box<PhysicalExpr>,
    },
    /// Fast path of `column op literal` (the literal is never NULL).
    CompareColumnLiteral {
        op: CmpOp,
        index: usize,
        literal: Value,
    },
    /// `a op b` for `+ - * / %`.
    Arithmetic {
        op: ArithOp,
        left: Box<PhysicalExpr>,
        right: Box<PhysicalExpr>,
        data_type: DataType,
    },
    /// `a || b`: NULL if either side is NULL; non-strings are rendered as text.
    Concat(Box<PhysicalExpr>, Box<PhysicalExpr>),
    /// `e IS [NOT] NULL`.
    IsNull {
        expr: Box<PhysicalExpr>,
        negated: bool,
    },
    /// `e IS [NOT] TRUE` / `e IS [NOT] FALSE`.
    IsBool {
        expr: Box<PhysicalExpr>,
        value: bool,
        negated: bool,
    },
    /// `a IS [NOT] DISTINCT FROM b` (NULL-safe equality).
    IsDistinctFrom {
        left: Box<PhysicalExpr>,
        right: Box<PhysicalExpr>,
        negated: bool,
    },
    /// Both CASE forms: with an operand, each WHEN is compared with it for equality;
    /// without, each WHEN is a condition.
    Case {
        operand: Option<Box<PhysicalExpr>>,
        branches: Vec<(PhysicalExpr, PhysicalExpr)>,
        else_result: Option<Box<PhysicalExpr>>,
        data_type: DataType,
    },
    /// `e [NOT] IN (list)` with SQL NULL semantics.
    InList {
        expr: Box<PhysicalExpr>,
        list: Vec<PhysicalExpr>,
        negated: bool,
    },
    /// `e [NOT] BETWEEN low AND high` (inclusive).
    Between {
        expr: Box<PhysicalExpr>,
        low: Box<PhysicalExpr>,
        high: Box<PhysicalExpr>,
        negated: bool,
    },
    /// `e [NOT] LIKE|ILIKE pattern`.
    Like {
        expr: Box<PhysicalExpr>,
        pattern: LikePattern,
        negated: bool,
    },
    /// `CAST(e AS to)`; `try_cast` gives NULL instead of an error.
    Cast {
        expr: Box<PhysicalExpr>,
        to: DataType,
        try_cast: bool,
    },
    /// A scalar function call.
    Function {
        func: ScalarFunction,
        args: Vec<PhysicalExpr>,
        data_type: DataType,
    },
    /// `REGEXP_EXTRACT(expr, 'pattern' [, index])` with a literal pattern,
    /// compiled once (other patterns are a [`PhysicalExpr::Function`],
    /// compiled per row).
    RegexpExtract {
        expr: Box<PhysicalExpr>,
        regex: std::sync::Arc<regex::Regex>,
        /// The group; `None`: 0, the whole match.
        index: Option<Box<PhysicalExpr>>,
    },
}

impl PhysicalExpr {
    /// A column reference.
    pub fn column(index: usize, data_type: DataType) -> PhysicalExpr {
        PhysicalExpr::Column { index, data_type }
    }

    /// A literal.
    pub fn literal(value: impl Into<Value>) -> PhysicalExpr {
        PhysicalExpr::Literal(value.into())
    }

    /// The static result type, computed at compile time (`Null` if unknown).
    pub fn data_type(&self) -> DataType {
        use PhysicalExpr::*;
        match self {
            Column { data_type, .. }
            | Arithmetic { data_type, .. }
            | Case { data_type, .. }
            | Function { data_type, .. } => *data_type,
            Literal(v) => v.data_type(),
            Negate(e) => e.data_type(),
            Not(_)
            | And(..)
            | Or(..)
            | Compare { .. }
            | CompareColumnLiteral { .. }
            | IsNull { .. }
            | IsBool { .. }
            | IsDistinctFrom { .. }
            | InList { .. }
            | Between { .. }
            | Like { .. } => DataType::Boolean,
            Concat(..) | RegexpExtract { .. } => DataType::String,
            Cast { to, .. } => *to,
        }
    }

    /// The column index if this is a plain column reference.
    pub fn as_column(&self) -> Option<usize> {
        match self {
            PhysicalExpr::Column { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// The value if this is a literal.
    pub fn as_literal(&self) -> Option<&Value> {
        match self {
            PhysicalExpr::Literal(v) => Some(v),
            _ => None,
        }
    }

    /// The direct sub-expressions.
    pub fn children(&self) -> Vec<&PhysicalExpr> {
        use PhysicalExpr::*;
        match self {
            Column { .. } | Literal(_) | CompareColumnLiteral { .. } => vec![],
            Not(e) | Negate(e) | IsNull { expr: e, .. } | IsBool { expr: e, .. } => vec![e],
            Cast { expr, .. } => vec![expr],
            And(a, b) | Or(a, b) | Concat(a, b) => vec![a, b],
            Compare { left, right, .. }
            | Arithmetic { left, right, .. }
            | IsDistinctFrom { left, right, .. } => vec![left, right],
            Case {
                operand,
                branches,
                else_result,
                ..
            } => {
                let mut v: Vec<&PhysicalExpr> = operand.iter().map(|b| &**b).collect();
                for (w, t) in branches {
                    v.push(w);
                    v.push(t);
                }
                v.extend(else_result.iter().map(|b| &**b));
                v
            }
            InList { expr, list, .. } => {
                let mut v = vec![&**expr];
                v.extend(list.iter());
                v
            }
            Between {
                expr, low, high, ..
            } => vec![expr, low, high],
            Like { expr, pattern, .. } => match pattern {
                LikePattern::Compiled(_) => vec![expr],
                LikePattern::Dynamic { pattern, .. } => vec![expr, pattern],
            },
            Function { args, .. } => args.iter().collect(),
            RegexpExtract { expr, index, .. } => {
                let mut v = vec![&**expr];
                v.extend(index.iter().map(|b| &**b));
                v
            }
        }
    }

    /// Pushes the index of every column this expression reads (with repeats).
    pub fn collect_columns(&self, out: &mut Vec<usize>) {
        match self {
            PhysicalExpr::Column { index, .. }
            | PhysicalExpr::CompareColumnLiteral { index, .. } => out.push(*index),
            other => {
                for c in other.children() {
                    c.collect_columns(out);
                }
            }
        }
    }

    /// True when evaluating twice on the same row may give different results
    /// (`NOW()`, `CURRENT_TIMESTAMP`, `UNIX_TIMESTAMP()`), here or below.
    pub fn is_volatile(&self) -> bool {
        match self {
            PhysicalExpr::Function { func, args, .. } if func.is_volatile(args.len()) => true,
            other => other.children().iter().any(|c| c.is_volatile()),
        }
    }

    /// Evaluates the expression on one row.
    #[inline]
    pub fn eval(&self, row: &[Value]) -> Result<Value> {
        match self {
            PhysicalExpr::Column { index, .. } => column(row, *index).cloned(),
            PhysicalExpr::Literal(v) => Ok(v.clone()),
            other => other.eval_computed(row),
        }
    }

    /// Evaluates the expression, borrowing instead of cloning when it is a column
    /// or a literal.
    #[inline]
    pub fn eval_ref<'a>(&'a self, row: &'a [Value]) -> Result<Cow<'a, Value>> {
        match self {
            PhysicalExpr::Column { index, .. } => column(row, *index).map(Cow::Borrowed),
            PhysicalExpr::Literal(v) => Ok(Cow::Borrowed(v)),
            other => other.eval_computed(row).map(Cow::Owned),
        }
    }

    /// Evaluates a predicate: true only when the result is TRUE (NULL and FALSE
    /// both reject the row, as in WHERE and HAVING).
    #[inline]
    pub fn eval_predicate(&self, row: &[Value]) -> Result<bool> {
        match self {
            PhysicalExpr::CompareColumnLiteral { op, index, literal } => {
                let v = column(row, *index)?;
                match v.sql_cmp(literal) {
                    Some(o) => Ok(op.test(o)),
                    // NULL, NaN, or a type error: as `eval` has it.
                    None => Ok(ops::cmp_tristate(v, literal, *op)? == Some(true)),
                }
            }
            other => Ok(matches!(other.eval_ref(row)?.as_ref(), Value::Bool(true))),
        }
    }

    fn eval_computed(&self, row: &[Value]) -> Result<Value> {
        use PhysicalExpr::*;
        match self {
            Column { index, .. } => column(row, *index).cloned(),
            Literal(v) => Ok(v.clone()),
            Not(e) => match e.eval_ref(row)?.as_ref() {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                Value::Null => Ok(Value::Null),
                other => Err(ops::type_error("NOT", other)),
            },
            Negate(e) => ops::negate(e.eval_ref(row)?.as_ref()),
            And(a, b) => {
                let l = ops::as_tristate(a.eval_ref(row)?.as_ref(), "AND")?;
                if l == Some(false) {
                    return Ok(Value::Bool(false));
                }
                let r = ops::as_tristate(b.eval_ref(row)?.as_ref(), "AND")?;
                Ok(match (l, r) {
                    (_, Some(false)) => Value::Bool(false),
                    (Some(true), Some(true)) => Value::Bool(true),
                    _ => Value::Null,
                })
            }
            Or(a, b) => {
                let l = ops::as_tristate(a.eval_ref(row)?.as_ref(), "OR")?;
                if l == Some(true) {
                    return Ok(Value::Bool(true));
                }
                let r = ops::as_tristate(b.eval_ref(row)?.as_ref(), "OR")?;
                Ok(match (l, r) {
                    (_, Some(true)) => Value::Bool(true),
                    (Some(false), Some(false)) => Value::Bool(false),
                    _ => Value::Null,
                })
            }
            Compare { op, left, right } => {
                let l = left.eval_ref(row)?;
                if l.is_null() {
                    return Ok(Value::Null);
                }
                let r = right.eval_ref(row)?;
                ops::compare(*op, &l, &r)
            }
            CompareColumnLiteral { op, index, literal } => {
                ops::compare(*op, column(row, *index)?, literal)
            }
            Arithmetic {
                op, left, right, ..
            } => {
                let l = left.eval_ref(row)?;
                if l.is_null() {
                    return Ok(Value::Null);
                }
                let r = right.eval_ref(row)?;
                ops::arithmetic(*op, &l, &r)
            }
            Concat(a, b) => {
                let l = a.eval_ref(row)?;
                if l.is_null() {
                    return Ok(Value::Null);
                }
                let r = b.eval_ref(row)?;
                if r.is_null() {
                    return Ok(Value::Null);
                }
                Ok(ops::concat(&[&l, &r]))
            }
            IsNull { expr, negated } => Ok(Value::Bool(expr.eval_ref(row)?.is_null() != *negated)),
            IsBool {
                expr,
                value,
                negated,
            } => {
                let is = matches!(expr.eval_ref(row)?.as_ref(), Value::Bool(b) if b == value);
                Ok(Value::Bool(is != *negated))
            }
            IsDistinctFrom {
                left,
                right,
                negated,
            } => {
                let l = left.eval_ref(row)?;
                let r = right.eval_ref(row)?;
                let distinct = match (l.is_null(), r.is_null()) {
                    (true, true) => false,
                    (true, false) | (false, true) => true,
                    (false, false) => l.sql_cmp(&r) != Some(std::cmp::Ordering::Equal),
                };
                Ok(Value::Bool(distinct != *negated))
            }
            Case {
                operand,
                branches,
                else_result,
                data_type,
            } => {
                let result = match operand {
                    Some(operand) => {
                        let v = operand.eval_ref(row)?;
                        let mut hit = None;
                        if !v.is_null() {
                            for (when, then) in branches {
                                let w = when.eval_ref(row)?;
                                if v.sql_cmp(&w) == Some(std::cmp::Ordering::Equal) {
                                    hit = Some(then);
                                    break;
                                }
                            }
                        }
                        hit
                    }
                    None => {
                        let mut hit = None;
                        for (when, then) in branches {
                            if when.eval_predicate(row)? {
                                hit = Some(then);
                                break;
                            }
                        }
                        hit
                    }
                };
                let value = match result.or(else_result.as_deref()) {
                    Some(e) => e.eval(row)?,
                    None => Value::Null,
                };
                Ok(ops::coerce(value, *data_type))
            }
            InList {
                expr,
                list,
                negated,
            } => {
                let v = expr.eval_ref(row)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let i = item.eval_ref(row)?;
                    if i.is_null() {
                        saw_null = true;
                    } else if v.sql_cmp(&i) == Some(std::cmp::Ordering::Equal) {
                        return Ok(Value::Bool(!negated));
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                })
            }
            Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = expr.eval_ref(row)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let lo = low.eval_ref(row)?;
                let hi = high.eval_ref(row)?;
                let ge_low = ops::cmp_tristate(&v, &lo, CmpOp::GtEq)?;
                let le_high = ops::cmp_tristate(&v, &hi, CmpOp::LtEq)?;
                let within = match (ge_low, le_high) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                Ok(match within {
                    Some(b) => Value::Bool(b != *negated),
                    None => Value::Null,
                })
            }
            Like {
                expr,
                pattern,
                negated,
            } => {
                let v = expr.eval_ref(row)?;
                let s = match v.as_ref() {
                    Value::Null => return Ok(Value::Null),
                    Value::Str(s) => s,
                    other => return Err(ops::type_error("LIKE", other)),
                };
                let matched = match pattern {
                    LikePattern::Compiled(m) => m.matches(s),
                    LikePattern::Dynamic {
                        pattern,
                        escape,
                        case_insensitive,
                    } => {
                        let p = pattern.eval_ref(row)?;
                        match p.as_ref() {
                            Value::Null => return Ok(Value::Null),
                            Value::Str(p) => {
                                LikeMatcher::new(p, *escape, *case_insensitive)?.matches(s)
                            }
                            other => return Err(ops::type_error("LIKE", other)),
                        }
                    }
                };
                Ok(Value::Bool(matched != *negated))
            }
            Cast { expr, to, try_cast } => {
                let v = expr.eval_ref(row)?;
                match cast_value(&v, *to) {
                    Ok(v) => Ok(v),
                    Err(_) if *try_cast => Ok(Value::Null),
                    Err(e) => Err(e.into()),
                }
            }
            Function {
                func,
                args,
                data_type,
            } => functions::eval(*func, args, row, *data_type),
            RegexpExtract { expr, regex, index } => {
                let v = expr.eval_ref(row)?;
                let s = match v.as_ref() {
                    Value::Null => return Ok(Value::Null),
                    Value::Str(s) => s,
                    other => return Err(ops::type_error("REGEXP_EXTRACT", other)),
                };
                let group = match index {
                    None => 0,
                    Some(i) => match i.eval_ref(row)?.as_ref() {
                        Value::Null => return Ok(Value::Null),
                        Value::Int(n) => *n,
                        other => return Err(ops::type_error("REGEXP_EXTRACT", other)),
                    },
                };
                Ok(functions::regexp_extract(regex, s, group))
            }
        }
    }
}

#[inline]
fn column(row: &[Value], index: usize) -> Result<&Value> {
    row.get(index).ok_or_else(|| {
        Error::Type(format!(
            "row has {} columns, expression reads column {index}",
            row.len()
        ))
    })
}
