//! Flink's windowing table functions in FROM, another spelling of the WINDOW
//! clause (SPEC §2):
//!
//! ```text
//! FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), size))              => WINDOW TUMBLING(ts, size)
//! FROM TABLE(HOP(TABLE src, DESCRIPTOR(ts), slide, size))          => WINDOW SLIDING(ts, size, slide)
//! FROM TABLE(SESSION(TABLE src PARTITION BY k, DESCRIPTOR(ts), gap)) => WINDOW SESSION(ts, gap)
//! ```
//!
//! The query is desugared here, so both spellings give the same windows by
//! construction: `window_start`, `window_end` and `window_time` (`window_end`
//! minus 1 ms, Flink's event time of a window's row) become the window columns
//! `_window_start` / `_window_end` (a bare select item keeps its Flink name as
//! its alias), and `window_start, window_end` leave GROUP BY, where Flink
//! requires them. A session's PARTITION BY must name the other GROUP BY keys
//! (sessions are per group here, as in Flink per partition key).

use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions_mut, BinaryOperator, Expr, Ident, Value as SqlValue, ValueWithSpan,
};
use sqlparser::tokenizer::{Span, Token};

use super::cursor::Cursor;
use super::duration::parse_duration;
use crate::ast::{SelectItem, SelectQuery, WindowSpec};
use crate::error::{ParseError, Result};

/// A windowing table function in FROM.
pub(super) struct WindowTvf {
    pub window: WindowSpec,
    /// SESSION's `PARTITION BY` columns.
    pub partition_by: Vec<Ident>,
    pub span: Span,
}

/// Whether FROM continues with `TABLE (`.
pub(super) fn starts_tvf(c: &Cursor) -> bool {
    super::tokens::is_word(&c.peek().token, "TABLE") && c.peek_nth(1).token == Token::LParen
}

/// `TABLE(TUMBLE|HOP|SESSION(TABLE src [PARTITION BY k, ...], DESCRIPTOR(ts), d [, d]))`;
/// the source's alias, if any, is left for the caller.
pub(super) fn parse_tvf(c: &mut Cursor) -> Result<(Ident, WindowTvf)> {
    let start = c.start();
    c.expect_word("TABLE")?;
    c.expect_token(&Token::LParen)?;
    let kind = if c.eat_word("TUMBLE").is_some() {
        "TUMBLE"
    } else if c.eat_word("HOP").is_some() {
        "HOP"
    } else if c.eat_word("SESSION").is_some() {
        "SESSION"
    } else {
        return Err(c.expected("TUMBLE, HOP or SESSION (a windowing table function)"));
    };
    c.expect_token(&Token::LParen)?;
    if c.eat_word("TABLE").is_none() {
        return Err(c.expected(&format!(
            "TABLE and a source name as {kind}'s first argument"
        )));
    }
    let source = c.ident("a source name")?;
    let mut partition_by = Vec::new();
    if kind == "SESSION" && c.eat_words(&["PARTITION", "BY"]).is_some() {
        partition_by.push(c.ident("a column after PARTITION BY")?);
        while c.peek_is(&Token::Comma)
            && !super::tokens::is_word(&c.peek_nth(1).token, "DESCRIPTOR")
        {
            c.next();
            partition_by.push(c.ident("a column after PARTITION BY")?);
        }
    }
    if c.eat_token(&Token::Comma).is_none() {
        return Err(c.expected("',' and DESCRIPTOR(time column)"));
    }
    if c.eat_word("DESCRIPTOR").is_none() {
        return Err(c.expected("DESCRIPTOR(time column)"));
    }
    c.expect_token(&Token::LParen)?;
    let time_column = c.ident("a time column")?;
    if c.eat_token(&Token::RParen).is_none() {
        return Err(c.expected("')' to close DESCRIPTOR(...)"));
    }
    let mut durations = Vec::new();
    let wanted = if kind == "HOP" { 2 } else { 1 };
    while durations.len() < wanted {
        if c.eat_token(&Token::Comma).is_none() {
            let what = match (kind, durations.len()) {
                ("HOP", 0) => "',' and the slide of the HOP window",
                ("HOP", _) => "',' and the size of the HOP window",
                ("SESSION", _) => "',' and the gap of the SESSION window",
                _ => "',' and the size of the TUMBLE window",
            };
            return Err(c.expected(what));
        }
        durations.push(parse_duration(c)?);
    }
    if c.eat_token(&Token::RParen).is_none() {
        return Err(c.expected(&format!("')' to close {kind}(...)")));
    }
    if c.eat_token(&Token::RParen).is_none() {
        return Err(c.expected("')' to close TABLE(...)"));
    }
    let span = c.span_from(start);
    let time_column = Some(time_column);
    let window = match kind {
        "TUMBLE" => WindowSpec::Tumbling {
            time_column,
            size: durations[0],
            span,
        },
        "HOP" => WindowSpec::Sliding {
            time_column,
            size: durations[1],
            advance: durations[0],
            span,
        },
        _ => WindowSpec::Session {
            time_column,
            gap: durations[0],
            span,
        },
    };
    Ok((
        source,
        WindowTvf {
            window,
            partition_by,
            span,
        },
    ))
}

/// The window column a name stands for under a windowing table function.
fn window_column(name: &str) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_str() {
        "window_start" => Some("window_start"),
        "window_end" => Some("window_end"),
        "window_time" => Some("window_time"),
        _ => None,
    }
}

/// `window_start` or `q.window_start` (any case): its Flink name.
fn as_window_column(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Identifier(id) => window_column(&id.value),
        Expr::CompoundIdentifier(ids) if ids.len() == 2 => window_column(&ids[1].value),
        _ => None,
    }
}

fn ident_span(e: &Expr) -> Span {
    match e {
        Expr::Identifier(id) => id.span,
        Expr::CompoundIdentifier(ids) => ids.last().map_or(Span::empty(), |i| i.span),
        _ => Span::empty(),
    }
}

/// The expression a window column stands for.
fn window_expr(name: &str, span: Span) -> Expr {
    let column = |n: &str| Expr::Identifier(Ident::with_span(span, n));
    match name {
        "window_start" => column("_window_start"),
        "window_end" => column("_window_end"),
        _ => Expr::Nested(Box::new(Expr::BinaryOp {
            left: Box::new(column("_window_end")),
            op: BinaryOperator::Minus,
            right: Box::new(Expr::Value(ValueWithSpan {
                value: SqlValue::Number("1".into(), false),
                span,
            })),
        })),
    }
}

fn rewrite_window_columns(e: &mut Expr) {
    let _ = visit_expressions_mut(e, |e| {
        if let Some(name) = as_window_column(e) {
            *e = window_expr(name, ident_span(e));
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Desugars `query`, whose FROM was the table function `tvf`, into the WINDOW
/// clause form (see the module docs).
pub(super) fn desugar(query: &mut SelectQuery, tvf: WindowTvf) -> Result<()> {
    if let Some(w) = &query.window {
        return Err(ParseError::new(
            "a windowing table function in FROM and a WINDOW clause cannot be combined",
            w.span(),
        ));
    }
    let mut has = [false, false];
    query.group_by.retain(|g| match as_window_column(g) {
        Some("window_start") => {
            has[0] = true;
            false
        }
        Some("window_end") => {
            has[1] = true;
            false
        }
        _ => true,
    });
    if has != [true, true] {
        return Err(ParseError::new(
            "a windowing table function aggregates per window: add window_start and window_end to GROUP BY",
            tvf.span,
        ));
    }
    if let Some(g) = query
        .group_by
        .iter()
        .find(|g| as_window_column(g).is_some())
    {
        return Err(ParseError::new(
            "window_time cannot be a GROUP BY key; group by window_start and window_end",
            ident_span(g),
        ));
    }
    if matches!(tvf.window, WindowSpec::Session { .. }) {
        let key_names: Vec<String> = query
            .group_by
            .iter()
            .map(|g| match g {
                Expr::Identifier(id) => id.value.to_ascii_lowercase(),
                Expr::CompoundIdentifier(ids) => ids
                    .last()
                    .map_or(String::new(), |i| i.value.to_ascii_lowercase()),
                other => other.to_string(),
            })
            .collect();
        let mut partition: Vec<String> = tvf
            .partition_by
            .iter()
            .map(|p| p.value.to_ascii_lowercase())
            .collect();
        let mut keys = key_names.clone();
        keys.sort();
        keys.dedup();
        partition.sort();
        partition.dedup();
        if keys != partition {
            return Err(ParseError::new(
                "a SESSION table function's PARTITION BY must name the same columns as the other GROUP BY keys (sessions are kept per group)",
                tvf.span,
            ));
        }
    }
    for item in &mut query.projection {
        if let SelectItem::Expr { expr, alias, .. } = item {
            if alias.is_none() {
                if let Some(name) = as_window_column(expr) {
                    *alias = Some(Ident::with_span(ident_span(expr), name));
                }
            }
            rewrite_window_columns(expr);
        }
    }
    if let Some(h) = &mut query.having {
        rewrite_window_columns(h);
    }
    for o in &mut query.order_by {
        rewrite_window_columns(&mut o.expr);
    }
    query.window = Some(tvf.window);
    Ok(())
}
