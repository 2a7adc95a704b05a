//! The typed AST of a Velo app.
//!
//! Expressions are `sqlparser`'s own [`Expr`] (they carry source spans through
//! [`sqlparser::ast::Spanned`]); everything streaming-specific, and the statement
//! and clause structure, is Velo's own types below.
//!
//! Row windows: both `OVER (ROWS WINDOW BUFFER n ROWS PARTITION BY .. ORDER BY ..)`
//! and the standard `OVER (PARTITION BY .. ORDER BY .. ROWS BETWEEN k PRECEDING AND
//! CURRENT ROW)` are parsed into sqlparser's standard window spec with a frame of
//! `ROWS BETWEEN n-1 PRECEDING AND CURRENT ROW`, so every later phase sees one form.

pub use sqlparser::ast::{Expr, Ident, ObjectName};
pub use sqlparser::tokenizer::{Location, Span};

/// A whole app file: statements separated by `;`.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub statements: Vec<Statement>,
}

/// One job-defining statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub kind: StatementKind,
    /// From the first token of the statement to its last.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    /// `CREATE STREAM name AS SELECT ...`: output goes to the sink `name`.
    CreateStream { name: Ident, query: SelectQuery },
    /// `CREATE TABLE name AS SELECT ...`: output goes to the sink `name`.
    CreateTable { name: Ident, query: SelectQuery },
    /// `INSERT INTO name SELECT ...`.
    InsertInto { target: Ident, query: SelectQuery },
    /// A bare `SELECT ...`: output goes to stdout as JSON lines.
    Select(SelectQuery),
}

impl StatementKind {
    pub fn query(&self) -> &SelectQuery {
        match self {
            StatementKind::CreateStream { query, .. }
            | StatementKind::CreateTable { query, .. }
            | StatementKind::InsertInto { query, .. }
            | StatementKind::Select(query) => query,
        }
    }

    pub fn query_mut(&mut self) -> &mut SelectQuery {
        match self {
            StatementKind::CreateStream { query, .. }
            | StatementKind::CreateTable { query, .. }
            | StatementKind::InsertInto { query, .. }
            | StatementKind::Select(query) => query,
        }
    }

    /// The sink name, if the statement names one.
    pub fn sink_name(&self) -> Option<&Ident> {
        match self {
            StatementKind::CreateStream { name, .. } | StatementKind::CreateTable { name, .. } => {
                Some(name)
            }
            StatementKind::InsertInto { target, .. } => Some(target),
            StatementKind::Select(_) => None,
        }
    }
}

/// `SELECT ... FROM src [alias] [JOIN ...] [WHERE ...] [GROUP BY ...] [WINDOW ...]
/// [HAVING ...] [ORDER BY ...] [LIMIT n] [EMIT CHANGES|EMIT FINAL] [WITH (...)]`
#[derive(Debug, Clone, PartialEq)]
pub struct SelectQuery {
    pub projection: Vec<SelectItem>,
    pub from: TableRef,
    pub joins: Vec<Join>,
    pub selection: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub window: Option<WindowSpec>,
    pub having: Option<Expr>,
    pub order_by: Vec<OrderByExpr>,
    pub limit: Option<u64>,
    pub emit: Option<Emit>,
    pub properties: Vec<Property>,
    /// `EXPIRE AFTER <duration> INACTIVITY` of the query's `OVER (ROWS WINDOW
    /// BUFFER n ROWS ...)` row window: the idle time after which a row-window
    /// partition's state is dropped. `None` when no OVER clause has one.
    pub row_expire: Option<DurationLit>,
    /// From `SELECT` to the end of the query (the WITH clause included).
    pub span: Span,
}

/// One item of the select list.
// `Expr` is large; select lists are short, so boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`
    Wildcard { span: Span },
    /// `alias.*`
    QualifiedWildcard { qualifier: Ident, span: Span },
    /// `expr [AS alias] [PRIMARY KEY]`; `PRIMARY KEY` marks a column of the Kafka
    /// sink's message key (the seed dialect's marker).
    Expr {
        expr: Expr,
        alias: Option<Ident>,
        primary_key: bool,
        span: Span,
    },
}

/// A source (or a join's right side) in FROM: `name [AS] [alias]`, or a
/// subquery.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRef {
    /// The source's name; for a subquery, its alias (or the CTE's name).
    pub name: Ident,
    pub alias: Option<Ident>,
    /// `FROM (SELECT ...) AS t`, or a `WITH t AS (SELECT ...)` named in FROM:
    /// the query whose rows this input is. The planner merges it into the
    /// outer query.
    pub subquery: Option<Box<SelectQuery>>,
    /// A window join's input (SPEC §2): the windowing table function it is
    /// read through, `TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), size)) AS a`,
    /// kept on the input rather than turned into the query's WINDOW clause.
    pub window: Option<WindowSpec>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    FullOuter,
}

/// `[INNER|LEFT [OUTER]|RIGHT [OUTER]|FULL [OUTER]] JOIN table ON condition`.
/// Parsed now; executed in a later issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub kind: JoinKind,
    pub table: TableRef,
    pub on: Expr,
    pub span: Span,
}

/// A duration as written: `INTERVAL '5' MINUTE` or a shorthand such as `5m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationLit {
    /// The duration in milliseconds (may be zero or negative as written; the
    /// planner rejects what does not make sense for its use).
    pub millis: i64,
    pub span: Span,
}

/// The WINDOW clause of SPEC §2.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowSpec {
    /// `TUMBLING([time_col,] size)`
    Tumbling {
        time_column: Option<Ident>,
        size: DurationLit,
        span: Span,
    },
    /// `SLIDING([time_col,] size, advance)`: hopping windows.
    Sliding {
        time_column: Option<Ident>,
        size: DurationLit,
        advance: DurationLit,
        span: Span,
    },
    /// `SESSION([time_col,] gap)`
    Session {
        time_column: Option<Ident>,
        gap: DurationLit,
        span: Span,
    },
}

impl WindowSpec {
    pub fn span(&self) -> Span {
        match self {
            WindowSpec::Tumbling { span, .. }
            | WindowSpec::Sliding { span, .. }
            | WindowSpec::Session { span, .. } => *span,
        }
    }

    pub fn time_column(&self) -> Option<&Ident> {
        match self {
            WindowSpec::Tumbling { time_column, .. }
            | WindowSpec::Sliding { time_column, .. }
            | WindowSpec::Session { time_column, .. } => time_column.as_ref(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitMode {
    Changes,
    Final,
}

/// `EMIT CHANGES` or `EMIT FINAL`, with where it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emit {
    pub mode: EmitMode,
    pub span: Span,
}

/// `ORDER BY expr [ASC|DESC]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderByExpr {
    pub expr: Expr,
    pub descending: bool,
    pub span: Span,
}

/// One `'key' = 'value'` of a WITH clause. Keys and values are kept as written
/// (quotes removed); the planner interprets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub key_span: Span,
    pub value_span: Span,
}

/// The text by which two expressions are the same expression: the SQL text with
/// column names, qualifiers and function names in lower case and unquoted, since
/// Velo resolves those case-insensitively; literals are kept exactly, so
/// `s LIKE 'A%'` and `s LIKE 'a%'` stay different. Used to match a select item
/// with a GROUP BY key or an aggregate call, at plan time only.
pub fn canonical_text(expr: &Expr) -> String {
    use std::ops::ControlFlow;

    use sqlparser::ast::ObjectNamePart;

    fn fold(id: &mut Ident) {
        id.value.make_ascii_lowercase();
        id.quote_style = None;
    }
    let mut e = expr.clone();
    let _ = sqlparser::ast::visit_expressions_mut(&mut e, |e| {
        match e {
            Expr::Identifier(id) => fold(id),
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(fold),
            Expr::Function(f) => f.name.0.iter_mut().for_each(|p| {
                if let ObjectNamePart::Identifier(id) = p {
                    fold(id)
                }
            }),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    e.to_string()
}

#[cfg(test)]
mod canonical_tests {
    use super::canonical_text;

    fn canon(sql: &str) -> String {
        let dialect = sqlparser::dialect::GenericDialect {};
        let e = sqlparser::parser::Parser::new(&dialect)
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap();
        canonical_text(&e)
    }

    #[test]
    fn names_fold_and_literals_do_not() {
        assert_eq!(canon("UPPER(T.Name)"), canon("upper(t.name)"));
        assert_eq!(canon("\"Amount\" + 1"), canon("amount + 1"));
        assert_eq!(canon("Count(*)"), "count(*)");
        assert_ne!(canon("s LIKE 'A%'"), canon("s LIKE 'a%'"));
        assert_ne!(canon("s || 'X'"), canon("s || 'x'"));
        assert_ne!(canon("a + 1"), canon("a + 2"));
    }
}
