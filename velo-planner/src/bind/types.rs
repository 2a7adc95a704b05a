//! Operators and the static typing rules of expressions: which types an
//! operator combines and what it gives. The engine evaluates by the same rules.

use velo_types::DataType;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CmpOp {
    /// Whether an ordering satisfies the operator.
    #[inline]
    pub fn test(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::NotEq => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::LtEq => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::GtEq => ord != Less,
        }
    }

    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Eq,
            CmpOp::NotEq => CmpOp::NotEq,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::LtEq => CmpOp::GtEq,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::GtEq => CmpOp::LtEq,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::NotEq => "<>",
            CmpOp::Lt => "<",
            CmpOp::LtEq => "<=",
            CmpOp::Gt => ">",
            CmpOp::GtEq => ">=",
        }
    }
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl ArithOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
        }
    }
}

/// The static type of `l op r`, or a message if the types cannot be combined.
pub fn arithmetic_type(
    op: ArithOp,
    l: DataType,
    r: DataType,
) -> std::result::Result<DataType, String> {
    use DataType::*;
    let dec = |s: u8| Decimal {
        precision: 38,
        scale: s,
    };
    let scale_of = |t: DataType| match t {
        Decimal { scale, .. } => scale,
        _ => 0,
    };
    Ok(match (l, r) {
        (Null, Null) => Null,
        (Null, t) | (t, Null) if t.is_numeric() || t == Timestamp => t,
        (Int, Int) => Int,
        (Float, t) | (t, Float) if t.is_numeric() => Float,
        (Decimal { .. }, Int | Decimal { .. }) | (Int, Decimal { .. }) => {
            let (a, b) = (scale_of(l), scale_of(r));
            use velo_types::Decimal as D;
            match op {
                ArithOp::Add | ArithOp::Sub | ArithOp::Mod => dec(D::sum_scale(a, b)),
                ArithOp::Mul => dec(D::product_scale(a, b)),
                ArithOp::Div => dec(D::quotient_scale(a, b)),
            }
        }
        (Timestamp, Int) if matches!(op, ArithOp::Add | ArithOp::Sub) => Timestamp,
        (Int, Timestamp) if op == ArithOp::Add => Timestamp,
        (Timestamp, Timestamp) if op == ArithOp::Sub => Int,
        _ => return Err(format!("cannot apply '{}' to {l} and {r}", op.symbol())),
    })
}

/// Whether values of the two static types can be compared.
pub fn comparable(a: DataType, b: DataType) -> bool {
    use DataType::*;
    a == b
        || a == Null
        || b == Null
        || (a.is_numeric() && b.is_numeric())
        || matches!((a, b), (Timestamp, Int) | (Int, Timestamp))
}

/// The common type of two branches (CASE, COALESCE, LEAST, IN...), if any.
pub fn common_type(a: DataType, b: DataType) -> Option<DataType> {
    use DataType::*;
    Some(match (a, b) {
        _ if a == b => a,
        (Null, t) | (t, Null) => t,
        (Float, t) | (t, Float) if t.is_numeric() => Float,
        (Decimal { scale: s1, .. }, Decimal { scale: s2, .. }) => Decimal {
            precision: 38,
            scale: s1.max(s2),
        },
        (Decimal { .. }, Int) | (Int, Decimal { .. }) => {
            let scale = match (a, b) {
                (Decimal { scale, .. }, _) | (_, Decimal { scale, .. }) => scale,
                _ => 0,
            };
            Decimal {
                precision: 38,
                scale,
            }
        }
        _ => return None,
    })
}
