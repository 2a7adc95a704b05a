//! Binding: SQL expressions (`sqlparser` syntax) to [`BoundExpr`], Velo's own
//! expression tree, against the input row's [`Schema`].
//!
//! Binding is where names and types are settled, once per job: every column
//! reference becomes its index in the row, every node gets its static type,
//! operators and functions are checked against their argument types, and a
//! string literal compared with a typed column (TIMESTAMP, numbers, BOOLEAN) is
//! converted to that type here. Errors carry the span of the offending text.
//!
//! A [`BoundExpr`] holds no syntax: the engine lowers it to its physical form
//! (constant folding, LIKE matchers, comparison fast paths) without looking at
//! SQL again, and two bound expressions are the same expression when they are
//! equal as values (`PartialEq`), whatever case or quoting the text used.

mod aggregate;
mod event_time;
pub(crate) mod expr;
mod functions;
mod rows;
mod select;
mod types;

use velo_types::{DataType, Value};

pub use aggregate::{bind_aggregate, AggregateFunction, AggregateKind};
pub use event_time::{bind_event_time, bind_window_time, position, sql_span};
pub use expr::{bind_expr, sql_data_type, Scope};
pub use functions::{check_date_format, ExtractField, ScalarFunction, TrimMode};
pub use rows::{bind_rows, BoundRows, OverCall, OverFunction, MAX_BUFFER_ROWS};
pub use select::{
    bind_filter, bind_group_output, bind_grouping, bind_order_by, bind_projection, bind_select,
    BoundGroupOutput, BoundGrouping, BoundSelect, WINDOW_END, WINDOW_START,
};
pub use types::{arithmetic_type, common_type, comparable, ArithOp, CmpOp};

/// Whether `name` (any case) is an aggregate function; the planner's catalogue
/// is the one list of them.
pub fn is_aggregate_function(name: &str) -> bool {
    crate::catalog::function_kind(name) == Some(crate::catalog::FunctionKind::Aggregate)
}

/// A bound scalar expression: columns by index, every node typed. Build one with
/// [`bind_expr`].
#[derive(Debug, Clone, PartialEq)]
pub enum BoundExpr {
    /// The value of column `index` of the input row.
    Column {
        index: usize,
        data_type: DataType,
    },
    Literal(Value),
    /// `NOT e` (three-valued).
    Not(Box<BoundExpr>),
    /// `-e`.
    Negate(Box<BoundExpr>),
    /// `a AND b`.
    And(Box<BoundExpr>, Box<BoundExpr>),
    /// `a OR b`.
    Or(Box<BoundExpr>, Box<BoundExpr>),
    /// `a op b` for the six comparisons.
    Compare {
        op: CmpOp,
        left: Box<BoundExpr>,
        right: Box<BoundExpr>,
    },
    /// `a op b` for `+ - * / %` (and `MOD(a, b)`).
    Arithmetic {
        op: ArithOp,
        left: Box<BoundExpr>,
        right: Box<BoundExpr>,
        data_type: DataType,
    },
    /// `a || b`.
    Concat(Box<BoundExpr>, Box<BoundExpr>),
    /// `e IS [NOT] NULL` (and `IS [NOT] UNKNOWN`).
    IsNull {
        expr: Box<BoundExpr>,
        negated: bool,
    },
    /// `e IS [NOT] TRUE` / `e IS [NOT] FALSE`.
    IsBool {
        expr: Box<BoundExpr>,
        value: bool,
        negated: bool,
    },
    /// `a IS [NOT] DISTINCT FROM b`.
    IsDistinctFrom {
        left: Box<BoundExpr>,
        right: Box<BoundExpr>,
        negated: bool,
    },
    /// Both CASE forms: with an operand each WHEN is compared with it, without
    /// each WHEN is a condition.
    Case {
        operand: Option<Box<BoundExpr>>,
        branches: Vec<(BoundExpr, BoundExpr)>,
        else_result: Option<Box<BoundExpr>>,
        data_type: DataType,
    },
    /// `e [NOT] IN (list)`.
    InList {
        expr: Box<BoundExpr>,
        list: Vec<BoundExpr>,
        negated: bool,
    },
    /// `e [NOT] BETWEEN low AND high`.
    Between {
        expr: Box<BoundExpr>,
        low: Box<BoundExpr>,
        high: Box<BoundExpr>,
        negated: bool,
    },
    /// `e [NOT] LIKE|ILIKE pattern [ESCAPE c]`. A literal pattern has been
    /// checked here; the engine compiles it once.
    Like {
        expr: Box<BoundExpr>,
        pattern: Box<BoundExpr>,
        escape: Option<char>,
        case_insensitive: bool,
        negated: bool,
    },
    /// `CAST(e AS to)`; `try_cast` gives NULL instead of an error.
    Cast {
        expr: Box<BoundExpr>,
        to: DataType,
        try_cast: bool,
    },
    /// A scalar function call.
    Function {
        func: ScalarFunction,
        args: Vec<BoundExpr>,
        data_type: DataType,
    },
}

impl BoundExpr {
    /// The static result type (`Null` if unknown).
    pub fn data_type(&self) -> DataType {
        use BoundExpr::*;
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
            | IsNull { .. }
            | IsBool { .. }
            | IsDistinctFrom { .. }
            | InList { .. }
            | Between { .. }
            | Like { .. } => DataType::Boolean,
            Concat(..) => DataType::String,
            Cast { to, .. } => *to,
        }
    }

    /// The column index if this is a plain column reference.
    pub fn as_column(&self) -> Option<usize> {
        match self {
            BoundExpr::Column { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// The value if this is a literal.
    pub fn as_literal(&self) -> Option<&Value> {
        match self {
            BoundExpr::Literal(v) => Some(v),
            _ => None,
        }
    }

    /// The direct sub-expressions, in evaluation order.
    pub fn children(&self) -> Vec<&BoundExpr> {
        use BoundExpr::*;
        match self {
            Column { .. } | Literal(_) => vec![],
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
                let mut v: Vec<&BoundExpr> = operand.iter().map(|b| &**b).collect();
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
            Like { expr, pattern, .. } => vec![expr, pattern],
            Function { args, .. } => args.iter().collect(),
        }
    }

    /// Pushes the index of every column this expression reads (with repeats).
    pub fn collect_columns(&self, out: &mut Vec<usize>) {
        match self {
            BoundExpr::Column { index, .. } => out.push(*index),
            other => {
                for c in other.children() {
                    c.collect_columns(out);
                }
            }
        }
    }
}

/// Parses `sql` as one expression (generic SQL dialect). For callers that build
/// expressions from text outside an app: tests, benchmarks, library users.
fn parse_sql_expr(sql: &str) -> crate::Result<velo_ast::Expr> {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;
    Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| crate::Error::Invalid {
            message: format!("cannot parse expression '{sql}': {e}"),
            span: velo_ast::Span::empty(),
        })
}

/// Parses `sql` as one expression and binds it against `scope`.
pub fn bind_sql(sql: &str, scope: &Scope) -> crate::Result<BoundExpr> {
    bind_expr(&parse_sql_expr(sql)?, scope)
}

/// Parses `sql` as one aggregate call and binds it against `scope`.
pub fn bind_aggregate_sql(
    sql: &str,
    scope: &Scope,
) -> crate::Result<(AggregateFunction, Option<BoundExpr>)> {
    bind_aggregate(&parse_sql_expr(sql)?, scope)
}

/// The canonical text of the expression `sql` (what [`Scope::substitutions`]
/// are keyed by).
pub fn canonical_sql(sql: &str) -> crate::Result<String> {
    Ok(velo_ast::canonical_text(&parse_sql_expr(sql)?))
}
