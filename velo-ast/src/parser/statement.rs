//! Statements and the clauses of a SELECT query.

use sqlparser::ast::{Expr, Ident};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan};

use super::cursor::Cursor;
use super::tokens::is_word;
use super::tvf;
use super::window::parse_window;
use crate::ast::{
    Emit, EmitMode, Join, JoinKind, OrderByExpr, Property, SelectItem, SelectQuery, Statement,
    StatementKind, TableRef, WindowSpec,
};
use crate::error::{ParseError, Result};

/// Words that end a select item, a source or a join: never taken as an
/// alias when written without AS (unless quoted).
const RESERVED: &[&str] = &[
    "AS", "CROSS", "EMIT", "FROM", "FULL", "GROUP", "HAVING", "INNER", "JOIN", "LEFT", "LIMIT",
    "ON", "ORDER", "OUTER", "PRIMARY", "RIGHT", "SELECT", "UNION", "WHERE", "WINDOW", "WITH",
];

/// Parses one statement from its tokens (ending with an optional `;` and EOF).
pub(super) fn parse_statement(tokens: Vec<TokenWithSpan>) -> Result<Statement> {
    let mut c = Cursor::new(tokens);
    let start = c.start();
    let kind = statement_kind(&mut c)?;
    let span = c.span_from(start);
    if c.eat_token(&Token::SemiColon).is_none() && c.peek().token != Token::EOF {
        return Err(c.expected("';' or end of input"));
    }
    Ok(Statement { kind, span })
}

fn statement_kind(c: &mut Cursor) -> Result<StatementKind> {
    if c.eat_word("CREATE").is_some() {
        let is_stream = if c.eat_word("STREAM").is_some() {
            true
        } else if c.eat_word("TABLE").is_some() {
            false
        } else {
            return Err(c.expected("STREAM or TABLE after CREATE"));
        };
        let name = c.ident("a sink name")?;
        c.expect_word("AS")?;
        let query = query_with_ctes(c)?;
        return Ok(if is_stream {
            StatementKind::CreateStream { name, query }
        } else {
            StatementKind::CreateTable { name, query }
        });
    }
    if c.eat_word("INSERT").is_some() {
        c.expect_word("INTO")?;
        let target = c.ident("a sink name")?;
        let query = query_with_ctes(c)?;
        return Ok(StatementKind::InsertInto { target, query });
    }
    if c.peek_word("SELECT") || c.peek_word("WITH") {
        return Ok(StatementKind::Select(query_with_ctes(c)?));
    }
    Err(c.expected("CREATE, INSERT or SELECT"))
}

/// `[WITH name AS (...), ...] SELECT ... FROM ...` with every clause up to WITH.
fn query_with_ctes(c: &mut Cursor) -> Result<SelectQuery> {
    let ctes = common_table_expressions(c)?;
    select_query(c, &ctes)
}

/// `SELECT ... FROM ...` with every clause up to WITH; FROM may name one of
/// `ctes`.
fn select_query(c: &mut Cursor, ctes: &[(Ident, SelectQuery)]) -> Result<SelectQuery> {
    let start = c.expect_word("SELECT")?.start;
    if c.peek_word("DISTINCT") {
        return Err(ParseError::new(
            "SELECT DISTINCT is not supported (use GROUP BY)",
            c.peek().span,
        ));
    }
    let projection = comma_separated(c, select_item)?;
    c.expect_word("FROM")?;
    let (mut from, tvf) = if tvf::starts_tvf(c) {
        let start = c.start();
        let (name, tvf) = tvf::parse_tvf(c)?;
        let alias = alias(c)?;
        let subquery = ctes
            .iter()
            .find(|(n, _)| n.value.eq_ignore_ascii_case(&name.value))
            .map(|(_, q)| Box::new(q.clone()));
        let from = TableRef {
            name,
            alias,
            subquery,
            window: None,
            span: c.span_from(start),
        };
        (from, Some(tvf))
    } else {
        (table_ref(c, ctes)?, None)
    };
    let mut joins = Vec::new();
    while let Some(join) = join(c, ctes)? {
        joins.push(join);
    }
    // A windowing table function after JOIN makes a window join: each input
    // keeps its own window, and FROM's is not the query's WINDOW clause.
    let mut tvf = tvf;
    if let Some(windowed) = joins.iter().find(|j| j.table.window.is_some()) {
        match tvf.take() {
            Some(t) => from.window = Some(t.window),
            None => {
                return Err(ParseError::new(
                    "a window join reads both inputs through the same windowing table function: FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), size)) a JOIN TABLE(TUMBLE(TABLE b, DESCRIPTOR(ts), size)) b",
                    windowed.table.span,
                ))
            }
        }
    }
    let selection = optional_clause(c, &["WHERE"], Cursor::expr)?;
    let (group_by, window) = group_by_and_window(c)?;
    let having = optional_clause(c, &["HAVING"], Cursor::expr)?;
    let order_by = optional_clause(c, &["ORDER", "BY"], |c| comma_separated(c, order_by_expr))?;
    let limit = optional_clause(c, &["LIMIT"], limit)?;
    let (emit, properties) = emit_and_with(c)?;
    let mut query = SelectQuery {
        projection,
        from,
        joins,
        selection,
        group_by,
        window,
        having,
        order_by: order_by.unwrap_or_default(),
        limit,
        emit,
        properties: properties.unwrap_or_default(),
        // Set by the caller from the row-window rewrite.
        row_expire: None,
        span: c.span_from(start),
    };
    if let Some(tvf) = tvf {
        tvf::desugar(&mut query, tvf)?;
    }
    Ok(query)
}

/// `f` after `keywords`, if they come next.
fn optional_clause<T>(
    c: &mut Cursor,
    keywords: &[&str],
    f: impl FnOnce(&mut Cursor) -> Result<T>,
) -> Result<Option<T>> {
    match c.eat_words(keywords) {
        Some(_) => f(c).map(Some),
        None => Ok(None),
    }
}

/// A clause that may come at most once among clauses accepted in any order.
fn once<T>(
    c: &mut Cursor,
    slot: &mut Option<T>,
    name: &str,
    at: Location,
    f: impl FnOnce(&mut Cursor) -> Result<T>,
) -> Result<()> {
    if slot.is_some() {
        let span = Span::new(at, c.prev_end());
        return Err(ParseError::new(format!("duplicate {name} clause"), span));
    }
    *slot = Some(f(c)?);
    Ok(())
}

/// GROUP BY and WINDOW, in either order (the original system accepted both).
fn group_by_and_window(c: &mut Cursor) -> Result<(Vec<Expr>, Option<WindowSpec>)> {
    let mut group_by = None;
    let mut window = None;
    loop {
        let at = c.start();
        if c.eat_words(&["GROUP", "BY"]).is_some() {
            once(c, &mut group_by, "GROUP BY", at, |c| {
                comma_separated(c, Cursor::expr)
            })?;
        } else if c.eat_word("WINDOW").is_some() {
            once(c, &mut window, "WINDOW", at, parse_window)?;
        } else {
            return Ok((group_by.unwrap_or_default(), window));
        }
    }
}

/// EMIT and WITH, in either order.
fn emit_and_with(c: &mut Cursor) -> Result<(Option<Emit>, Option<Vec<Property>>)> {
    let mut emit = None;
    let mut properties = None;
    loop {
        let at = c.start();
        if c.eat_word("EMIT").is_some() {
            once(c, &mut emit, "EMIT", at, |c| emit_mode(c, at))?;
        } else if c.eat_word("WITH").is_some() {
            once(c, &mut properties, "WITH", at, with_properties)?;
        } else {
            return Ok((emit, properties));
        }
    }
}

fn comma_separated<T>(
    c: &mut Cursor,
    mut f: impl FnMut(&mut Cursor) -> Result<T>,
) -> Result<Vec<T>> {
    let mut items = vec![f(c)?];
    while c.eat_token(&Token::Comma).is_some() {
        items.push(f(c)?);
    }
    Ok(items)
}

/// `*`, `alias.*` or `expr [[AS] alias] [PRIMARY KEY]`.
fn select_item(c: &mut Cursor) -> Result<SelectItem> {
    let start = c.start();
    if c.eat_token(&Token::Mul).is_some() {
        return Ok(SelectItem::Wildcard {
            span: c.span_from(start),
        });
    }
    if matches!(c.peek().token, Token::Word(_))
        && c.peek_nth(1).token == Token::Period
        && c.peek_nth(2).token == Token::Mul
    {
        let qualifier = c.ident("a source alias")?;
        c.next();
        c.next();
        return Ok(SelectItem::QualifiedWildcard {
            qualifier,
            span: c.span_from(start),
        });
    }
    let expr = c.expr()?;
    let alias = alias(c)?;
    let primary_key = match c.eat_word("PRIMARY") {
        Some(_) => c.expect_word("KEY").map(|_| true)?,
        None => false,
    };
    Ok(SelectItem::Expr {
        expr,
        alias,
        primary_key,
        span: c.span_from(start),
    })
}

/// `AS name`, or a bare name that is not a clause keyword.
fn alias(c: &mut Cursor) -> Result<Option<Ident>> {
    if c.eat_word("AS").is_some() {
        return c.ident("an alias after AS").map(Some);
    }
    match &c.peek().token {
        Token::Word(w) if w.quote_style.is_some() || !is_reserved(&c.peek().token) => {
            c.ident("an alias").map(Some)
        }
        _ => Ok(None),
    }
}

fn is_reserved(token: &Token) -> bool {
    RESERVED.iter().any(|k| is_word(token, k))
}

/// `name [[AS] alias]` or `(SELECT ...) [AS] alias`; a name that is one of
/// `ctes` stands for that query.
fn table_ref(c: &mut Cursor, ctes: &[(Ident, SelectQuery)]) -> Result<TableRef> {
    let start = c.start();
    if c.peek_is(&Token::LParen) && is_word(&c.peek_nth(1).token, "SELECT") {
        c.next();
        let inner = select_query(c, ctes)?;
        if c.eat_token(&Token::RParen).is_none() {
            return Err(c.expected("')' to close the subquery"));
        }
        let Some(alias) = alias(c)? else {
            return Err(c.expected("an alias for the subquery (FROM (SELECT ...) AS name)"));
        };
        return Ok(TableRef {
            name: alias.clone(),
            alias: Some(alias),
            subquery: Some(Box::new(inner)),
            window: None,
            span: c.span_from(start),
        });
    }
    let name = c.ident("a source name")?;
    if c.peek_is(&Token::Period) {
        return Err(ParseError::new(
            "qualified source names are not supported",
            c.peek().span,
        ));
    }
    let alias = alias(c)?;
    let subquery = ctes
        .iter()
        .find(|(n, _)| n.value.eq_ignore_ascii_case(&name.value))
        .map(|(_, q)| Box::new(q.clone()));
    Ok(TableRef {
        name,
        alias,
        subquery,
        window: None,
        span: c.span_from(start),
    })
}

/// `WITH name AS (SELECT ...) [, name AS (SELECT ...)]` before a SELECT, if it
/// comes next; a later one may read an earlier one.
fn common_table_expressions(c: &mut Cursor) -> Result<Vec<(Ident, SelectQuery)>> {
    let mut ctes: Vec<(Ident, SelectQuery)> = Vec::new();
    if !(c.peek_word("WITH")
        && matches!(c.peek_nth(1).token, Token::Word(_))
        && is_word(&c.peek_nth(2).token, "AS"))
    {
        return Ok(ctes);
    }
    c.next();
    loop {
        let name = c.ident("a name for the common table expression")?;
        if ctes
            .iter()
            .any(|(n, _)| n.value.eq_ignore_ascii_case(&name.value))
        {
            return Err(ParseError::new(
                format!(
                    "the common table expression '{}' is defined twice",
                    name.value
                ),
                name.span,
            ));
        }
        c.expect_word("AS")?;
        c.expect_token(&Token::LParen)?;
        let query = select_query(c, &ctes)?;
        if c.eat_token(&Token::RParen).is_none() {
            return Err(c.expected("')' to close the common table expression"));
        }
        ctes.push((name, query));
        if c.eat_token(&Token::Comma).is_none() {
            return Ok(ctes);
        }
    }
}

/// `[INNER|LEFT [OUTER]|RIGHT [OUTER]|FULL [OUTER]] JOIN table ON expr`, if one comes next.
fn join(c: &mut Cursor, ctes: &[(Ident, SelectQuery)]) -> Result<Option<Join>> {
    let start = c.start();
    let Some(kind) = join_kind(c)? else {
        return Ok(None);
    };
    let table = if tvf::starts_tvf(c) {
        // A window join's input: the table function windows this input only.
        let start = c.start();
        let (name, tvf) = tvf::parse_tvf(c)?;
        if matches!(tvf.window, crate::ast::WindowSpec::Session { .. }) {
            return Err(ParseError::new(
                "a window join over SESSION windows is not supported (each input's sessions would differ); use TUMBLE or HOP",
                tvf.span,
            ));
        }
        let alias = alias(c)?;
        TableRef {
            name,
            alias,
            subquery: None,
            window: Some(tvf.window),
            span: c.span_from(start),
        }
    } else {
        table_ref(c, ctes)?
    };
    if c.eat_word("ON").is_none() {
        return Err(c.expected("ON and a join condition"));
    }
    let on = c.expr()?;
    Ok(Some(Join {
        kind,
        table,
        on,
        span: c.span_from(start),
    }))
}

fn join_kind(c: &mut Cursor) -> Result<Option<JoinKind>> {
    let kind = if c.eat_word("JOIN").is_some() {
        return Ok(Some(JoinKind::Inner));
    } else if c.eat_word("INNER").is_some() {
        JoinKind::Inner
    } else if c.eat_word("LEFT").is_some() {
        JoinKind::Left
    } else if c.eat_word("RIGHT").is_some() {
        JoinKind::Right
    } else if c.eat_word("FULL").is_some() {
        JoinKind::FullOuter
    } else {
        return Ok(None);
    };
    if kind != JoinKind::Inner {
        let _ = c.eat_word("OUTER");
    }
    c.expect_word("JOIN")?;
    Ok(Some(kind))
}

/// `expr [ASC|DESC]`.
fn order_by_expr(c: &mut Cursor) -> Result<OrderByExpr> {
    let start = c.start();
    let expr = c.expr()?;
    let descending = if c.eat_word("DESC").is_some() {
        true
    } else {
        let _ = c.eat_word("ASC");
        false
    };
    Ok(OrderByExpr {
        expr,
        descending,
        span: c.span_from(start),
    })
}

fn limit(c: &mut Cursor) -> Result<u64> {
    if let Token::Number(text, false) = &c.peek().token {
        if let Ok(n) = text.parse::<u64>() {
            c.next();
            return Ok(n);
        }
    }
    Err(c.expected("a row count after LIMIT"))
}

/// CHANGES or FINAL after EMIT; the span covers both words.
fn emit_mode(c: &mut Cursor, start: Location) -> Result<Emit> {
    let mode = if c.eat_word("CHANGES").is_some() {
        EmitMode::Changes
    } else if c.eat_word("FINAL").is_some() {
        EmitMode::Final
    } else {
        return Err(c.expected("CHANGES or FINAL after EMIT"));
    };
    Ok(Emit {
        mode,
        span: c.span_from(start),
    })
}

/// `( 'key' = 'value', ... )` after WITH; an empty list is allowed.
fn with_properties(c: &mut Cursor) -> Result<Vec<Property>> {
    c.expect_token(&Token::LParen)?;
    if c.eat_token(&Token::RParen).is_some() {
        return Ok(Vec::new());
    }
    let properties = comma_separated(c, property)?;
    if c.eat_token(&Token::RParen).is_none() {
        return Err(c.expected("',' or ')' in the WITH list"));
    }
    Ok(properties)
}

fn property(c: &mut Cursor) -> Result<Property> {
    let key_start = c.start();
    let key = property_key(c)?;
    let key_span = c.span_from(key_start);
    c.expect_token(&Token::Eq)?;
    let value_start = c.start();
    let value = property_value(c)?;
    Ok(Property {
        key,
        value,
        key_span,
        value_span: c.span_from(value_start),
    })
}

/// `'source.type'` or a bare dotted name such as `source.type`.
fn property_key(c: &mut Cursor) -> Result<String> {
    if let Token::SingleQuotedString(key) = &c.peek().token {
        let key = key.clone();
        c.next();
        return Ok(key);
    }
    if !matches!(c.peek().token, Token::Word(_)) {
        return Err(c.expected("a property key such as 'source.type'"));
    }
    let mut key = c.ident("a property key")?.value;
    while c.eat_token(&Token::Period).is_some() {
        key.push('.');
        key.push_str(&c.ident("a key part after '.'")?.value);
    }
    Ok(key)
}

/// A quoted string; numbers (`512`, `-1`) and bare words (`true`) are taken as written.
fn property_value(c: &mut Cursor) -> Result<String> {
    let negative = c.peek_is(&Token::Minus) && matches!(c.peek_nth(1).token, Token::Number(..));
    if negative {
        c.next();
    }
    let value = match &c.peek().token {
        Token::SingleQuotedString(s) => s.clone(),
        Token::Number(n, _) => format!("{}{n}", if negative { "-" } else { "" }),
        Token::Word(w) if !negative => w.value.clone(),
        _ => return Err(c.expected("a quoted property value")),
    };
    c.next();
    Ok(value)
}
