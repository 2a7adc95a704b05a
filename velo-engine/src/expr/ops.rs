//! Operators on values: arithmetic, comparison and coercion (their static typing
//! is the planner's, [`velo_planner::bind::arithmetic_type`] and friends).

use std::cmp::Ordering;
use std::sync::Arc;

use velo_types::{DataType, Decimal, Value};

use super::{ArithOp, CmpOp};
use crate::error::{Error, Result};

pub(crate) fn type_error(op: &str, v: &Value) -> Error {
    Error::Type(format!(
        "{op} cannot be applied to {} value {v}",
        v.data_type()
    ))
}

fn type_error2(op: &str, a: &Value, b: &Value) -> Error {
    Error::Type(format!(
        "{op} cannot be applied to {} and {}",
        a.data_type(),
        b.data_type()
    ))
}

/// A boolean operand as three-valued logic (`None` = NULL).
#[inline]
pub(crate) fn as_tristate(v: &Value, op: &str) -> Result<Option<bool>> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        other => Err(type_error(op, other)),
    }
}

/// `l op r` as three-valued logic.
#[inline]
pub(crate) fn cmp_tristate(l: &Value, r: &Value, op: CmpOp) -> Result<Option<bool>> {
    if l.is_null() || r.is_null() {
        return Ok(None);
    }
    match l.sql_cmp(r) {
        Some(ord) => Ok(Some(op.test(ord))),
        None => match (l, r) {
            // NaN: unordered, so only <> holds (IEEE semantics).
            (Value::Float(_) | Value::Int(_) | Value::Decimal(_), Value::Float(_))
            | (Value::Float(_), Value::Int(_) | Value::Decimal(_)) => Ok(Some(op == CmpOp::NotEq)),
            _ => Err(type_error2(op.symbol(), l, r)),
        },
    }
}

#[inline]
pub(crate) fn compare(op: CmpOp, l: &Value, r: &Value) -> Result<Value> {
    Ok(match cmp_tristate(l, r, op)? {
        Some(b) => Value::Bool(b),
        None => Value::Null,
    })
}

pub(crate) fn negate(v: &Value) -> Result<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Int(i) => i
            .checked_neg()
            .map(Value::Int)
            .ok_or(Error::Overflow { context: "-" }),
        Value::Float(f) => Ok(Value::Float(-f)),
        Value::Decimal(d) => Ok(Value::Decimal(-*d)),
        other => Err(type_error("-", other)),
    }
}

#[inline]
fn overflow(op: ArithOp) -> Error {
    Error::Overflow {
        context: op.symbol(),
    }
}

#[inline]
fn int_op(op: ArithOp, a: i64, b: i64) -> Result<i64> {
    match op {
        ArithOp::Add => a.checked_add(b),
        ArithOp::Sub => a.checked_sub(b),
        ArithOp::Mul => a.checked_mul(b),
        ArithOp::Div => {
            if b == 0 {
                return Err(Error::DivisionByZero);
            }
            a.checked_div(b)
        }
        ArithOp::Mod => {
            if b == 0 {
                return Err(Error::DivisionByZero);
            }
            a.checked_rem(b)
        }
    }
    .ok_or_else(|| overflow(op))
}

#[inline]
fn float_op(op: ArithOp, a: f64, b: f64) -> Result<f64> {
    Ok(match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => {
            if b == 0.0 {
                return Err(Error::DivisionByZero);
            }
            a / b
        }
        ArithOp::Mod => {
            if b == 0.0 {
                return Err(Error::DivisionByZero);
            }
            a % b
        }
    })
}

fn decimal_op(op: ArithOp, a: Decimal, b: Decimal) -> Result<Decimal> {
    match op {
        ArithOp::Add => a.checked_add(b),
        ArithOp::Sub => a.checked_sub(b),
        ArithOp::Mul => a.checked_mul(b),
        ArithOp::Div => {
            if b.is_zero() {
                return Err(Error::DivisionByZero);
            }
            a.checked_div(b)
        }
        ArithOp::Mod => {
            if b.is_zero() {
                return Err(Error::DivisionByZero);
            }
            a.checked_rem(b)
        }
    }
    .ok_or_else(|| overflow(op))
}

fn dec_to_f64(d: &Decimal) -> f64 {
    d.to_f64()
}

/// `l op r` with NULL propagation, checked integer arithmetic and the numeric
/// promotions of the module docs. TIMESTAMP +/- BIGINT (milliseconds) is a
/// TIMESTAMP; TIMESTAMP - TIMESTAMP is BIGINT milliseconds.
#[inline]
pub(crate) fn arithmetic(op: ArithOp, l: &Value, r: &Value) -> Result<Value> {
    use Value::*;
    Ok(match (l, r) {
        (Null, _) | (_, Null) => Null,
        (Int(a), Int(b)) => Int(int_op(op, *a, *b)?),
        (Float(a), Float(b)) => Float(float_op(op, *a, *b)?),
        (Int(a), Float(b)) => Float(float_op(op, *a as f64, *b)?),
        (Float(a), Int(b)) => Float(float_op(op, *a, *b as f64)?),
        (Decimal(a), Decimal(b)) => Decimal(decimal_op(op, *a, *b)?),
        (Int(a), Decimal(b)) => Decimal(decimal_op(op, (*a).into(), *b)?),
        (Decimal(a), Int(b)) => Decimal(decimal_op(op, *a, (*b).into())?),
        (Decimal(a), Float(b)) => Float(float_op(op, dec_to_f64(a), *b)?),
        (Float(a), Decimal(b)) => Float(float_op(op, *a, dec_to_f64(b))?),
        (Timestamp(a), Int(b)) if matches!(op, ArithOp::Add | ArithOp::Sub) => {
            Timestamp(int_op(op, *a, *b)?)
        }
        (Int(a), Timestamp(b)) if op == ArithOp::Add => Timestamp(int_op(op, *a, *b)?),
        (Timestamp(a), Timestamp(b)) if op == ArithOp::Sub => Int(int_op(op, *a, *b)?),
        _ => return Err(type_error2(op.symbol(), l, r)),
    })
}

/// Widens a numeric value to a (wider) numeric static type; anything else is
/// returned unchanged. Never allocates.
#[inline]
pub(crate) fn coerce(v: Value, to: DataType) -> Value {
    match (&v, to) {
        (Value::Int(i), DataType::Float) => Value::Float(*i as f64),
        (Value::Decimal(d), DataType::Float) => Value::Float(dec_to_f64(d)),
        (Value::Int(i), DataType::Decimal { .. }) => Value::Decimal((*i).into()),
        _ => v,
    }
}

/// Concatenates the text renderings of the values (callers handle NULLs).
pub(crate) fn concat(parts: &[&Value]) -> Value {
    use std::fmt::Write;
    let mut out = String::new();
    for p in parts {
        match p {
            Value::Str(s) => out.push_str(s),
            Value::Null => {}
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }
    Value::Str(Arc::from(out))
}

/// Orders two non-NULL values for LEAST/GREATEST.
pub(crate) fn order(a: &Value, b: &Value, function: &'static str) -> Result<Ordering> {
    a.sql_cmp(b).ok_or_else(|| {
        Error::invalid(
            function,
            format!("cannot compare {} with {}", a.data_type(), b.data_type()),
        )
    })
}
