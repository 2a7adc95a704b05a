//! The binder: a `sqlparser` [`Expr`] to a [`BoundExpr`] against a [`Scope`]:
//! name resolution, typing, and the conversion of literals once.

use sqlparser::ast::{
    BinaryOperator, CastKind, CeilFloorKind, DateTimeField, DuplicateTreatment, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Interval, Spanned, TrimWhereField,
    UnaryOperator, Value as SqlValue,
};
use velo_ast::Span;
use velo_types::cast::cast_value;
use velo_types::{DataType, Schema, Value};

use super::functions::{ExtractField, ScalarFunction, TrimMode};
use super::types::{arithmetic_type, common_type, comparable};
use super::{is_aggregate_function, ArithOp, BoundExpr, CmpOp};
use crate::error::{Error, Result};

/// Converts a `sqlparser` type (`BIGINT`, `DECIMAL(10,2)`, `VARCHAR(20)`, ...) to a
/// Velo [`DataType`]; `None` if Velo has no such type.
pub fn sql_data_type(ty: &sqlparser::ast::DataType) -> Option<DataType> {
    use sqlparser::ast::DataType as S;
    match ty {
        S::Date | S::Datetime(_) | S::Timestamp(_, _) | S::TimestampNtz(_) => {
            Some(DataType::Timestamp)
        }
        S::Float(_) | S::Float4 | S::Float8 | S::Float32 | S::Float64 | S::Real => {
            Some(DataType::Float)
        }
        _ => DataType::parse_sql(&ty.to_string()).ok(),
    }
}

/// What an expression may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The input row's columns; a column reference compiles to its index here.
    pub schema: &'a Schema,
    /// Accepted qualifiers for `q.col` (the source's name and its alias), compared
    /// case-insensitively.
    pub qualifiers: &'a [String],
    /// Sub-expressions already computed into a column, by canonical text
    /// ([`velo_ast::canonical_text`]): GROUP BY expressions and aggregate calls on the
    /// post-aggregation row. Checked before compiling any sub-expression.
    pub substitutions: &'a [(String, usize)],
}

impl<'a> Scope<'a> {
    /// A scope with no qualifiers and no substitutions.
    pub fn new(schema: &'a Schema) -> Scope<'a> {
        Scope {
            schema,
            qualifiers: &[],
            substitutions: &[],
        }
    }
}

/// The function's name as written, without quotes (last part if qualified).
pub fn function_name(f: &Function) -> String {
    f.name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_else(|| f.name.to_string())
}

/// Binds `expr` against `scope`. See the module docs for the semantics.
pub fn bind_expr(expr: &Expr, scope: &Scope) -> Result<BoundExpr> {
    Binder { scope }.bind(expr)
}

struct Binder<'s, 'a> {
    scope: &'s Scope<'a>,
}

/// A bare `name` in a join's rows, whose columns are named `q.col`: the one
/// column of that name, whichever input has it; an error when several do.
fn joined_column(schema: &Schema, name: &str, span: Span) -> Result<Option<usize>> {
    let mut found: Vec<usize> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if let Some((_, col)) = f.name.split_once('.') {
            if col.eq_ignore_ascii_case(name) {
                found.push(i);
            }
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [i] => Ok(Some(*i)),
        several => {
            let names: Vec<&str> = several.iter().map(|&i| &*schema.field(i).name).collect();
            err(
                format!(
                    "the column '{name}' is ambiguous: {} have it; qualify it",
                    names.join(" and ")
                ),
                span,
            )
        }
    }
}

fn compile_error(message: impl Into<String>, span: Span) -> Error {
    Error::Invalid {
        message: message.into(),
        span,
    }
}

fn err<T>(message: impl Into<String>, span: Span) -> Result<T> {
    Err(compile_error(message, span))
}

fn boxed(e: BoundExpr) -> Box<BoundExpr> {
    Box::new(e)
}

impl Binder<'_, '_> {
    fn bind(&self, expr: &Expr) -> Result<BoundExpr> {
        if let Some(index) = self.substitution(expr)? {
            return Ok(BoundExpr::Column {
                index,
                data_type: self.scope.schema.field(index).data_type,
            });
        }
        self.bind_node(expr)
    }

    fn substitution(&self, expr: &Expr) -> Result<Option<usize>> {
        let subs = self.scope.substitutions;
        if subs.is_empty() {
            return Ok(None);
        }
        let text = velo_ast::canonical_text(expr);
        let found = subs.iter().find(|(t, _)| *t == text);
        match found {
            Some((_, i)) if *i < self.scope.schema.len() => Ok(Some(*i)),
            Some((_, i)) => err(
                format!("internal error: substitution of '{text}' points at column {i}, past the end of the row"),
                expr.span(),
            ),
            None => Ok(None),
        }
    }

    fn boolean(&self, expr: &Expr) -> Result<BoundExpr> {
        let e = self.bind(expr)?;
        match e.data_type() {
            DataType::Boolean | DataType::Null => Ok(e),
            t => err(
                format!("expected a BOOLEAN expression, got {t}: {expr}"),
                expr.span(),
            ),
        }
    }

    fn column(&self, idents: &[Ident], span: Span) -> Result<BoundExpr> {
        let schema = self.scope.schema;
        let full = idents
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let index = match idents {
            [name] => match schema.index_of(&name.value) {
                Some(i) => Some(i),
                None => joined_column(schema, &name.value, span)?,
            },
            [q, name] => schema.index_of(&full).or_else(|| {
                self.scope
                    .qualifiers
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&q.value))
                    .then(|| schema.index_of(&name.value))
                    .flatten()
            }),
            _ => schema.index_of(&full),
        };
        match index {
            Some(index) => Ok(BoundExpr::Column {
                index,
                data_type: schema.field(index).data_type,
            }),
            None => {
                let mut message = format!("unknown column '{full}'");
                if let [q, _] = idents {
                    if !self
                        .scope
                        .qualifiers
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&q.value))
                    {
                        message = format!(
                            "unknown column '{full}': no source or alias named '{}'",
                            q.value
                        );
                    }
                }
                let names: Vec<&str> = schema.names().filter(|n| !n.is_empty()).collect();
                if !names.is_empty() && names.len() <= 30 {
                    message.push_str(&format!(" (available columns: {})", names.join(", ")));
                }
                err(message, span)
            }
        }
    }

    fn bind_node(&self, expr: &Expr) -> Result<BoundExpr> {
        use BoundExpr as P;
        let span = expr.span();
        Ok(match expr {
            Expr::Identifier(id) => self.column(std::slice::from_ref(id), span)?,
            Expr::CompoundIdentifier(ids) => self.column(ids, span)?,
            Expr::Value(v) => P::Literal(literal(&v.value, span)?),
            Expr::Nested(e) => self.bind(e)?,
            Expr::UnaryOp { op, expr: inner } => match op {
                UnaryOperator::Not | UnaryOperator::BangNot => P::Not(boxed(self.boolean(inner)?)),
                UnaryOperator::Minus => {
                    let e = self.bind(inner)?;
                    let t = e.data_type();
                    if !(t.is_numeric() || t == DataType::Null) {
                        return err(format!("cannot negate a {t}"), span);
                    }
                    P::Negate(boxed(e))
                }
                UnaryOperator::Plus => {
                    let e = self.bind(inner)?;
                    let t = e.data_type();
                    if !(t.is_numeric() || t == DataType::Null) {
                        return err(format!("unary + needs a number, got {t}"), span);
                    }
                    e
                }
                other => return err(format!("unsupported operator '{other}'"), span),
            },
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right, span)?,
            Expr::IsNull(e) | Expr::IsUnknown(e) => P::IsNull {
                expr: boxed(self.bind(e)?),
                negated: false,
            },
            Expr::IsNotNull(e) | Expr::IsNotUnknown(e) => P::IsNull {
                expr: boxed(self.bind(e)?),
                negated: true,
            },
            Expr::IsTrue(e) | Expr::IsNotTrue(e) | Expr::IsFalse(e) | Expr::IsNotFalse(e) => {
                P::IsBool {
                    expr: boxed(self.boolean(e)?),
                    value: matches!(expr, Expr::IsTrue(_) | Expr::IsNotTrue(_)),
                    negated: matches!(expr, Expr::IsNotTrue(_) | Expr::IsNotFalse(_)),
                }
            }
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                let (l, r) = self.comparable_pair(a, b, span)?;
                P::IsDistinctFrom {
                    left: boxed(l),
                    right: boxed(r),
                    negated: matches!(expr, Expr::IsNotDistinctFrom(..)),
                }
            }
            Expr::InList {
                expr: e,
                list,
                negated,
            } => {
                let v = self.bind(e)?;
                let t = v.data_type();
                let mut items = Vec::with_capacity(list.len());
                for item in list {
                    let c = coerce_literal(self.bind(item)?, t, item.span())?;
                    if !comparable(t, c.data_type()) {
                        return err(
                            format!(
                                "IN list item {item} of type {} cannot be compared with {t}",
                                c.data_type()
                            ),
                            item.span(),
                        );
                    }
                    items.push(c);
                }
                P::InList {
                    expr: boxed(v),
                    list: items,
                    negated: *negated,
                }
            }
            Expr::Between {
                expr: e,
                negated,
                low,
                high,
            } => {
                let v = self.bind(e)?;
                let t = v.data_type();
                let bound = |b: &Expr| -> Result<BoundExpr> {
                    let c = coerce_literal(self.bind(b)?, t, b.span())?;
                    if !comparable(t, c.data_type()) {
                        return err(
                            format!(
                                "BETWEEN bound {b} of type {} cannot be compared with {t}",
                                c.data_type()
                            ),
                            b.span(),
                        );
                    }
                    Ok(c)
                };
                let low = bound(low)?;
                let high = bound(high)?;
                P::Between {
                    expr: boxed(v),
                    low: boxed(low),
                    high: boxed(high),
                    negated: *negated,
                }
            }
            Expr::Like {
                negated,
                any,
                expr: e,
                pattern,
                escape_char,
            }
            | Expr::ILike {
                negated,
                any,
                expr: e,
                pattern,
                escape_char,
            } => {
                if *any {
                    return err("LIKE ANY is not supported", span);
                }
                let ci = matches!(expr, Expr::ILike { .. });
                self.like(e, pattern, escape_char.as_deref(), *negated, ci)?
            }
            Expr::Cast {
                kind,
                expr: e,
                data_type,
                format,
            } => {
                if format.is_some() {
                    return err("CAST ... FORMAT is not supported", span);
                }
                let to = sql_data_type(data_type).ok_or_else(|| {
                    compile_error(format!("unsupported type '{data_type}' in CAST"), span)
                })?;
                if to == DataType::Null {
                    return err("cannot CAST to NULL", span);
                }
                P::Cast {
                    expr: boxed(self.bind(e)?),
                    to,
                    try_cast: matches!(kind, CastKind::TryCast | CastKind::SafeCast),
                }
            }
            Expr::Extract { field, expr: e, .. } => {
                let f = extract_field(field).ok_or_else(|| {
                    compile_error(format!("EXTRACT({field} ...) is not supported"), span)
                })?;
                self.function(ScalarFunction::Extract(f), vec![self.bind(e)?], span)?
            }
            Expr::Ceil { expr: e, field } | Expr::Floor { expr: e, field } => {
                if !matches!(
                    field,
                    CeilFloorKind::DateTimeField(DateTimeField::NoDateTime)
                ) {
                    return err("CEIL/FLOOR only take a number", span);
                }
                let func = if matches!(expr, Expr::Ceil { .. }) {
                    ScalarFunction::Ceil
                } else {
                    ScalarFunction::Floor
                };
                self.function(func, vec![self.bind(e)?], span)?
            }
            Expr::Substring {
                expr: e,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.bind(e)?];
                args.push(match substring_from {
                    Some(f) => self.bind(f)?,
                    None => P::Literal(Value::Int(1)),
                });
                if let Some(f) = substring_for {
                    args.push(self.bind(f)?);
                }
                self.function(ScalarFunction::Substring, args, span)?
            }
            Expr::Trim {
                trim_where,
                trim_what,
                expr: e,
                trim_characters,
            } => {
                let mode = match trim_where {
                    None | Some(TrimWhereField::Both) => TrimMode::Both,
                    Some(TrimWhereField::Leading) => TrimMode::Leading,
                    Some(TrimWhereField::Trailing) => TrimMode::Trailing,
                };
                let mut args = vec![self.bind(e)?];
                if let Some(w) = trim_what {
                    args.push(self.bind(w)?);
                }
                if let Some(chars) = trim_characters {
                    for c in chars {
                        args.push(self.bind(c)?);
                    }
                }
                self.function(ScalarFunction::Trim(mode), args, span)?
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref(), span)?,
            Expr::Function(f) => self.call(f, span)?,
            Expr::Interval(i) => P::Literal(Value::Int(interval_millis(i, span)?)),
            Expr::TypedString(ts) => {
                let text = ts
                    .value
                    .value
                    .clone()
                    .into_string()
                    .ok_or_else(|| compile_error("a typed literal needs a string", span))?;
                let to = sql_data_type(&ts.data_type).ok_or_else(|| {
                    compile_error(format!("unsupported type '{}'", ts.data_type), span)
                })?;
                let v = cast_value(&Value::str(&text), to).map_err(|_| {
                    compile_error(format!("invalid {} literal '{text}'", ts.data_type), span)
                })?;
                P::Literal(v)
            }
            other => return err(format!("unsupported expression: {other}"), span),
        })
    }

    fn binary(
        &self,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
        span: Span,
    ) -> Result<BoundExpr> {
        use BoundExpr as P;
        let cmp = match op {
            BinaryOperator::Eq => Some(CmpOp::Eq),
            BinaryOperator::NotEq => Some(CmpOp::NotEq),
            BinaryOperator::Lt => Some(CmpOp::Lt),
            BinaryOperator::LtEq => Some(CmpOp::LtEq),
            BinaryOperator::Gt => Some(CmpOp::Gt),
            BinaryOperator::GtEq => Some(CmpOp::GtEq),
            _ => None,
        };
        if let Some(op) = cmp {
            let (l, r) = self.comparable_pair(left, right, span)?;
            return Ok(P::Compare {
                op,
                left: boxed(l),
                right: boxed(r),
            });
        }
        let arith = match op {
            BinaryOperator::Plus => Some(ArithOp::Add),
            BinaryOperator::Minus => Some(ArithOp::Sub),
            BinaryOperator::Multiply => Some(ArithOp::Mul),
            BinaryOperator::Divide => Some(ArithOp::Div),
            BinaryOperator::Modulo => Some(ArithOp::Mod),
            _ => None,
        };
        if let Some(op) = arith {
            return self.arithmetic(op, self.bind(left)?, self.bind(right)?, span);
        }
        Ok(match op {
            BinaryOperator::And => P::And(boxed(self.boolean(left)?), boxed(self.boolean(right)?)),
            BinaryOperator::Or => P::Or(boxed(self.boolean(left)?), boxed(self.boolean(right)?)),
            BinaryOperator::StringConcat => {
                P::Concat(boxed(self.bind(left)?), boxed(self.bind(right)?))
            }
            other => return err(format!("unsupported operator '{other}'"), span),
        })
    }

    fn arithmetic(&self, op: ArithOp, l: BoundExpr, r: BoundExpr, span: Span) -> Result<BoundExpr> {
        let data_type = arithmetic_type(op, l.data_type(), r.data_type())
            .map_err(|m| compile_error(m, span))?;
        Ok(BoundExpr::Arithmetic {
            op,
            left: boxed(l),
            right: boxed(r),
            data_type,
        })
    }

    /// Compiles both sides of a comparison, converting a string literal to the
    /// other side's type (TIMESTAMP, numbers, BOOLEAN) once, here.
    fn comparable_pair(&self, a: &Expr, b: &Expr, span: Span) -> Result<(BoundExpr, BoundExpr)> {
        let l = self.bind(a)?;
        let r = self.bind(b)?;
        let r = coerce_literal(r, l.data_type(), b.span())?;
        let l = coerce_literal(l, r.data_type(), a.span())?;
        let (lt, rt) = (l.data_type(), r.data_type());
        if !comparable(lt, rt) {
            return err(format!("cannot compare {lt} with {rt}"), span);
        }
        Ok((l, r))
    }

    fn like(
        &self,
        e: &Expr,
        pattern: &Expr,
        escape: Option<&Expr>,
        negated: bool,
        case_insensitive: bool,
    ) -> Result<BoundExpr> {
        let v = self.bind(e)?;
        if !matches!(v.data_type(), DataType::String | DataType::Null) {
            return err(
                format!("LIKE needs a string, got {}", v.data_type()),
                e.span(),
            );
        }
        let escape = match escape {
            None => None,
            Some(x) => {
                let s = match x {
                    Expr::Value(v) => v.value.clone().into_string(),
                    _ => None,
                };
                let mut chars = s.as_deref().unwrap_or("").chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Some(c),
                    _ => return err("ESCAPE needs a single-character string literal", x.span()),
                }
            }
        };
        let p = self.bind(pattern)?;
        match &p {
            BoundExpr::Literal(Value::Null) => {
                return Ok(BoundExpr::Literal(Value::Null));
            }
            BoundExpr::Literal(Value::Str(s)) => {
                if ends_with_escape(s, escape, case_insensitive) {
                    return err(
                        "invalid argument to LIKE: pattern ends with the escape character",
                        pattern.span(),
                    );
                }
            }
            _ => {
                if !matches!(p.data_type(), DataType::String | DataType::Null) {
                    return err(
                        format!("LIKE pattern must be a string, got {}", p.data_type()),
                        pattern.span(),
                    );
                }
            }
        }
        Ok(BoundExpr::Like {
            expr: boxed(v),
            pattern: boxed(p),
            escape,
            case_insensitive,
            negated,
        })
    }

    fn case(
        &self,
        operand: Option<&Expr>,
        conditions: &[sqlparser::ast::CaseWhen],
        else_result: Option<&Expr>,
        span: Span,
    ) -> Result<BoundExpr> {
        let operand = operand.map(|o| self.bind(o)).transpose()?;
        let mut branches = Vec::with_capacity(conditions.len());
        let mut data_type = DataType::Null;
        let mut unify = |t: DataType, at: &Expr| -> Result<()> {
            data_type = common_type(data_type, t).ok_or_else(|| {
                compile_error(
                    format!("CASE results have incompatible types {data_type} and {t}"),
                    at.span(),
                )
            })?;
            Ok(())
        };
        for c in conditions {
            let when = match &operand {
                Some(o) => {
                    let w = coerce_literal(
                        self.bind(&c.condition)?,
                        o.data_type(),
                        c.condition.span(),
                    )?;
                    if !comparable(o.data_type(), w.data_type()) {
                        return err(
                            format!(
                                "cannot compare CASE operand of type {} with {}",
                                o.data_type(),
                                w.data_type()
                            ),
                            c.condition.span(),
                        );
                    }
                    w
                }
                None => self.boolean(&c.condition)?,
            };
            let then = self.bind(&c.result)?;
            unify(then.data_type(), &c.result)?;
            branches.push((when, then));
        }
        let else_result = match else_result {
            Some(e) => {
                let c = self.bind(e)?;
                unify(c.data_type(), e)?;
                Some(boxed(c))
            }
            None => None,
        };
        let _ = span;
        Ok(BoundExpr::Case {
            operand: operand.map(boxed),
            branches,
            else_result,
            data_type,
        })
    }

    fn call(&self, f: &Function, span: Span) -> Result<BoundExpr> {
        let name = function_name(f);
        let upper = name.to_ascii_uppercase();
        if f.over.is_some() {
            return err(
                format!("window function {upper}(...) OVER (...) is not allowed here"),
                span,
            );
        }
        if is_aggregate_function(&upper) {
            return err(
                format!("aggregate function {upper} is not allowed here"),
                span,
            );
        }
        if f.filter.is_some() || !f.within_group.is_empty() || f.null_treatment.is_some() {
            return err(
                format!("{upper}: FILTER / WITHIN GROUP / NULLS clauses are only for aggregates"),
                span,
            );
        }
        if !matches!(f.parameters, FunctionArguments::None) {
            return err(format!("unsupported parametric function call {f}"), span);
        }
        let arg_exprs: Vec<&Expr> = match &f.args {
            FunctionArguments::None => vec![],
            FunctionArguments::Subquery(_) => return err("subqueries are not supported", span),
            FunctionArguments::List(list) => {
                if list.duplicate_treatment == Some(DuplicateTreatment::Distinct) {
                    return err(
                        format!("DISTINCT is only allowed in aggregates, not in {upper}"),
                        span,
                    );
                }
                if !list.clauses.is_empty() {
                    return err(format!("unsupported clause in {upper}(...)"), span);
                }
                let mut v = Vec::with_capacity(list.args.len());
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => v.push(e),
                        FunctionArg::Unnamed(_) => {
                            return err(
                                format!("'*' is only allowed in COUNT(*), not in {upper}"),
                                span,
                            )
                        }
                        _ => {
                            return err(
                                format!("named arguments are not supported in {upper}"),
                                span,
                            )
                        }
                    }
                }
                v
            }
        };
        if upper == "MOD" {
            if arg_exprs.len() != 2 {
                return err(
                    format!("function MOD expects 2 arguments, got {}", arg_exprs.len()),
                    span,
                );
            }
            let l = self.bind(arg_exprs[0])?;
            let r = self.bind(arg_exprs[1])?;
            return self.arithmetic(ArithOp::Mod, l, r, span);
        }
        let func = ScalarFunction::from_name(&upper)
            .ok_or_else(|| compile_error(format!("unknown function '{name}'"), f.name.span()))?;
        let args = arg_exprs
            .iter()
            .map(|e| self.bind(e))
            .collect::<Result<Vec<_>>>()?;
        if matches!(
            func,
            ScalarFunction::TumbleStart | ScalarFunction::TumbleEnd
        ) {
            if let Some(Value::Int(size)) = args.get(1).and_then(|a| a.as_literal()) {
                if *size <= 0 {
                    return err(
                        format!("{upper} needs a positive INTERVAL"),
                        arg_exprs[1].span(),
                    );
                }
            }
        }
        if func == ScalarFunction::RegexpExtract {
            if let Some(Value::Str(p)) = args.get(1).and_then(|a| a.as_literal()) {
                if let Err(e) = regex::Regex::new(p) {
                    let reason = e.to_string();
                    let last = reason.lines().last().unwrap_or("").trim();
                    let last = last.strip_prefix("error: ").unwrap_or(last);
                    return err(
                        format!("REGEXP_EXTRACT: invalid regular expression: {last}"),
                        arg_exprs[1].span(),
                    );
                }
            }
        }
        if func == ScalarFunction::DateFormat {
            if let Some(Value::Str(p)) = args.get(1).and_then(|a| a.as_literal()) {
                if let Err(message) = super::functions::check_date_format(p) {
                    return err(message, arg_exprs[1].span());
                }
            }
        }
        self.function(func, args, span)
    }

    fn function(
        &self,
        func: ScalarFunction,
        args: Vec<BoundExpr>,
        span: Span,
    ) -> Result<BoundExpr> {
        let (min, max) = func.arity();
        let n = args.len();
        if n < min || max.is_some_and(|m| n > m) {
            let expected = match max {
                Some(m) if m == min => format!("{min}"),
                Some(m) if m == min + 1 => format!("{min} or {m}"),
                Some(m) => format!("{min} to {m}"),
                None => format!("at least {min}"),
            };
            let plural = if expected == "1" { "" } else { "s" };
            return err(
                format!(
                    "function {} expects {expected} argument{plural}, got {n}",
                    func.name()
                ),
                span,
            );
        }
        let types: Vec<DataType> = args.iter().map(|a| a.data_type()).collect();
        let data_type = func
            .return_type(&types)
            .map_err(|m| compile_error(m, span))?;
        Ok(BoundExpr::Function {
            func,
            args,
            data_type,
        })
    }
}

/// A string literal compared with a typed expression becomes a literal of that
/// type (parsed once, here); a literal that does not parse is a compile error.
fn coerce_literal(e: BoundExpr, target: DataType, span: Span) -> Result<BoundExpr> {
    match (&e, target) {
        (BoundExpr::Literal(v @ Value::Str(s)), t)
            if matches!(
                t,
                DataType::Timestamp
                    | DataType::Int
                    | DataType::Float
                    | DataType::Decimal { .. }
                    | DataType::Boolean
            ) =>
        {
            let to = match t {
                // Keep the literal's own precision: comparison is by value.
                DataType::Decimal { .. } => {
                    return match s.trim().parse::<velo_types::Decimal>() {
                        Ok(d) => Ok(BoundExpr::Literal(Value::Decimal(d))),
                        Err(_) => err(format!("cannot compare {t} with '{s}': not a number"), span),
                    }
                }
                // A number string compared with an integer may have a fraction.
                DataType::Int if s.contains(['.', 'e', 'E']) => DataType::Float,
                t => t,
            };
            match cast_value(v, to) {
                Ok(v) => Ok(BoundExpr::Literal(v)),
                Err(_) => err(
                    format!("cannot compare {t} with '{s}': not a valid {t}"),
                    span,
                ),
            }
        }
        _ => Ok(e),
    }
}

/// Whether `pattern` ends with an unpaired escape character (an error, as in
/// PostgreSQL). ILIKE compares the lowercased pattern, as the matcher does.
fn ends_with_escape(pattern: &str, escape: Option<char>, case_insensitive: bool) -> bool {
    let Some(escape) = escape else {
        return false;
    };
    let lowered;
    let pattern = if case_insensitive {
        lowered = pattern.to_lowercase();
        lowered.as_str()
    } else {
        pattern
    };
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape && chars.next().is_none() {
            return true;
        }
    }
    false
}

fn literal(v: &SqlValue, span: Span) -> Result<Value> {
    Ok(match v {
        SqlValue::Number(text, _) => number_literal(text)
            .ok_or_else(|| compile_error(format!("invalid number '{text}'"), span))?,
        SqlValue::Boolean(b) => Value::Bool(*b),
        SqlValue::Null => Value::Null,
        other => match other.clone().into_string() {
            Some(s) => Value::str(&s),
            None => return err(format!("unsupported literal {other}"), span),
        },
    })
}

/// An integer literal is BIGINT (DECIMAL if too large); with a dot or an exponent
/// it is DOUBLE.
fn number_literal(text: &str) -> Option<Value> {
    if text.contains(['.', 'e', 'E']) {
        return text.parse::<f64>().ok().map(Value::Float);
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::Int(i));
    }
    text.parse::<velo_types::Decimal>().ok().map(Value::Decimal)
}

fn unit_millis(field: &DateTimeField) -> Option<i64> {
    use DateTimeField as F;
    Some(match field {
        F::Millisecond | F::Milliseconds => 1,
        F::Second | F::Seconds => 1_000,
        F::Minute | F::Minutes => 60_000,
        F::Hour | F::Hours => 3_600_000,
        F::Day | F::Days => 86_400_000,
        F::Week(None) | F::Weeks => 604_800_000,
        F::Custom(id) => return unit_name_millis(&id.value),
        _ => return None,
    })
}

fn unit_name_millis(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "week" | "weeks" => 604_800_000,
        _ => return None,
    })
}

/// `INTERVAL '5' MINUTE`, `INTERVAL 5 MINUTE`, `INTERVAL '5 minutes'` in milliseconds.
pub(crate) fn interval_millis(i: &Interval, span: Span) -> Result<i64> {
    let bad = |m: &str| compile_error(format!("{m} in INTERVAL"), span);
    if i.last_field.is_some() {
        return Err(bad("ranges such as DAY TO SECOND are not supported"));
    }
    let text = match &*i.value {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => n.clone(),
            other => other
                .clone()
                .into_string()
                .ok_or_else(|| bad("expected a number or a string"))?,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match &**expr {
            Expr::Value(v) => match &v.value {
                SqlValue::Number(n, _) => format!("-{n}"),
                _ => return Err(bad("expected a number")),
            },
            _ => return Err(bad("expected a number")),
        },
        _ => return Err(bad("expected a literal")),
    };
    let text = text.trim();
    let (number, unit_ms) = match &i.leading_field {
        Some(field) => (
            text,
            unit_millis(field).ok_or_else(|| {
                bad(&format!(
                    "unsupported unit {field} (use MILLISECOND, SECOND, MINUTE, HOUR or DAY)"
                ))
            })?,
        ),
        None => {
            let split = text
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
                .unwrap_or(text.len());
            let (n, u) = text.split_at(split);
            let u = u.trim();
            if u.is_empty() {
                return Err(bad("missing unit"));
            }
            (
                n.trim(),
                unit_name_millis(u).ok_or_else(|| bad(&format!("unsupported unit '{u}'")))?,
            )
        }
    };
    if let Ok(n) = number.parse::<i64>() {
        return n.checked_mul(unit_ms).ok_or_else(|| bad("overflow"));
    }
    match number.parse::<f64>() {
        Ok(f) if f.is_finite() && (f * unit_ms as f64).abs() < 9.2e18 => {
            Ok((f * unit_ms as f64).round() as i64)
        }
        _ => Err(bad(&format!("invalid number '{number}'"))),
    }
}

fn extract_field(f: &DateTimeField) -> Option<ExtractField> {
    use DateTimeField as F;
    Some(match f {
        F::Year | F::Years => ExtractField::Year,
        F::Quarter => ExtractField::Quarter,
        F::Month | F::Months => ExtractField::Month,
        F::Week(None) | F::Weeks | F::IsoWeek => ExtractField::Week,
        F::Day | F::Days => ExtractField::Day,
        F::Hour | F::Hours => ExtractField::Hour,
        F::Minute | F::Minutes => ExtractField::Minute,
        F::Second | F::Seconds => ExtractField::Second,
        F::Millisecond | F::Milliseconds => ExtractField::Millisecond,
        F::Epoch => ExtractField::Epoch,
        F::Dow | F::DayOfWeek => ExtractField::Dow,
        F::Isodow => ExtractField::IsoDow,
        F::Doy | F::DayOfYear => ExtractField::Doy,
        F::Custom(id) => match id.value.to_ascii_uppercase().as_str() {
            "MILLISECOND" | "MILLISECONDS" => ExtractField::Millisecond,
            "DOW" => ExtractField::Dow,
            "DOY" => ExtractField::Doy,
            _ => return None,
        },
        _ => return None,
    })
}
