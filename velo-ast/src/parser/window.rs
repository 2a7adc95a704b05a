//! The WINDOW clause: `TUMBLING([time_col,] size)`,
//! `SLIDING([time_col,] size, advance)`, `SESSION([time_col,] gap)`.

use sqlparser::ast::Ident;
use sqlparser::tokenizer::{Span, Token};

use super::cursor::Cursor;
use super::duration::{parse_duration, starts_duration};
use crate::ast::{DurationLit, WindowSpec};
use crate::error::{ParseError, Result};

#[derive(Clone, Copy)]
enum Kind {
    Tumbling,
    Sliding,
    Session,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tumbling => "TUMBLING",
            Kind::Sliding => "SLIDING",
            Kind::Session => "SESSION",
        }
    }

    /// How many durations the window takes after its optional time column.
    fn durations(self) -> usize {
        match self {
            Kind::Sliding => 2,
            Kind::Tumbling | Kind::Session => 1,
        }
    }
}

/// Parses the window spec after the WINDOW keyword. The span runs from the
/// window kind to the closing `)`.
pub(super) fn parse_window(c: &mut Cursor) -> Result<WindowSpec> {
    let start = c.start();
    let kind = window_kind(c)?;
    c.expect_token(&Token::LParen)?;
    let time_column = if starts_duration(c) {
        None
    } else {
        Some(time_column(c)?)
    };
    let mut durations = vec![parse_duration(c)?];
    while durations.len() < kind.durations() {
        if c.eat_token(&Token::Comma).is_none() {
            return Err(c.expected(&format!(
                "',' and the advance of the {} window",
                kind.name()
            )));
        }
        durations.push(parse_duration(c)?);
    }
    if c.eat_token(&Token::RParen).is_none() {
        return Err(c.expected(&format!("')' to close {}(...)", kind.name())));
    }
    Ok(build(kind, time_column, &durations, c.span_from(start)))
}

fn window_kind(c: &mut Cursor) -> Result<Kind> {
    for kind in [Kind::Tumbling, Kind::Sliding, Kind::Session] {
        if c.eat_word(kind.name()).is_some() {
            return Ok(kind);
        }
    }
    Err(c.expected("TUMBLING, SLIDING or SESSION"))
}

/// `ts` or `t.ts` (the last identifier is kept), followed by the `,` before the
/// durations. A lone column (`TUMBLING(x)`) is reported as a missing duration.
fn time_column(c: &mut Cursor) -> Result<Ident> {
    if !matches!(c.peek().token, Token::Word(_)) {
        return Err(c.expected("a duration or a time column"));
    }
    let start = c.start();
    let mut column = c.ident("a time column")?;
    while c.eat_token(&Token::Period).is_some() {
        column = c.ident("a column name after '.'")?;
    }
    if c.eat_token(&Token::Comma).is_none() {
        return Err(ParseError::new(
            format!("expected a duration, found '{}'", column.value),
            c.span_from(start),
        ));
    }
    Ok(column)
}

fn build(kind: Kind, time_column: Option<Ident>, d: &[DurationLit], span: Span) -> WindowSpec {
    match kind {
        Kind::Tumbling => WindowSpec::Tumbling {
            time_column,
            size: d[0],
            span,
        },
        Kind::Sliding => WindowSpec::Sliding {
            time_column,
            size: d[0],
            advance: d[1],
            span,
        },
        Kind::Session => WindowSpec::Session {
            time_column,
            gap: d[0],
            span,
        },
    }
}
