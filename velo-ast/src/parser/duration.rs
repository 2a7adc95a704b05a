//! Durations: `INTERVAL '5' MINUTE`, `INTERVAL 5 MINUTES`, `INTERVAL '5 minutes'`,
//! and the shorthand `500ms`, `5s`, `1m`, `1h`, `1d` (which the tokenizer gives
//! as a number followed by a word).

use sqlparser::tokenizer::{Span, Token};

use super::cursor::Cursor;
use super::tokens::{describe, is_word};
use crate::ast::DurationLit;
use crate::error::{ParseError, Result};

const UNITS: &str = "MILLISECOND, SECOND, MINUTE, HOUR or DAY";

/// Whether a duration (rather than, say, a column name) comes next.
pub(super) fn starts_duration(c: &Cursor) -> bool {
    match &c.peek().token {
        Token::Number(..) => true,
        Token::Minus => matches!(c.peek_nth(1).token, Token::Number(..)),
        token => is_word(token, "INTERVAL"),
    }
}

/// Parses one duration.
pub(super) fn parse_duration(c: &mut Cursor) -> Result<DurationLit> {
    let start = c.start();
    if c.eat_word("INTERVAL").is_some() {
        return interval(c, start);
    }
    if !starts_duration(c) {
        return Err(c.expected("a duration"));
    }
    let (number, number_span) = signed_number(c)?;
    let millis = with_unit(c, &number, number_span)?;
    Ok(DurationLit {
        millis,
        span: c.span_from(start),
    })
}

/// After INTERVAL: `'n' UNIT`, `n UNIT`, `'-n' UNIT` or `'n UNIT'`.
fn interval(c: &mut Cursor, start: sqlparser::tokenizer::Location) -> Result<DurationLit> {
    let millis = match c.peek().token.clone() {
        Token::SingleQuotedString(text) => {
            let span = c.next().span;
            match text.split_once(char::is_whitespace) {
                Some((number, unit)) => {
                    let unit_millis =
                        unit_millis(unit.trim()).ok_or_else(|| unknown_unit(unit.trim(), span))?;
                    scale(number, unit_millis, span)?
                }
                None => with_unit(c, &text, span)?,
            }
        }
        Token::Number(..) | Token::Minus => {
            let (number, span) = signed_number(c)?;
            with_unit(c, &number, span)?
        }
        _ => return Err(c.expected("a quoted number after INTERVAL")),
    };
    Ok(DurationLit {
        millis,
        span: c.span_from(start),
    })
}

/// `n` or `-n`, as text, with its span.
fn signed_number(c: &mut Cursor) -> Result<(String, Span)> {
    let start = c.start();
    let negative = c.eat_token(&Token::Minus).is_some();
    match c.peek().token.clone() {
        Token::Number(digits, _) => {
            c.next();
            let text = if negative {
                format!("-{digits}")
            } else {
                digits
            };
            Ok((text, c.span_from(start)))
        }
        _ => Err(c.expected("a number")),
    }
}

/// Reads the unit word after a number and scales the number by it.
fn with_unit(c: &mut Cursor, number: &str, number_span: Span) -> Result<i64> {
    let token = c.peek().clone();
    let Token::Word(word) = &token.token else {
        return Err(ParseError::new(
            format!(
                "expected a duration unit ({UNITS}), found {}",
                describe(&token.token)
            ),
            token.span,
        ));
    };
    let unit = unit_millis(&word.value).ok_or_else(|| unknown_unit(&word.value, token.span))?;
    c.next();
    scale(number, unit, number_span)
}

fn unknown_unit(unit: &str, span: Span) -> ParseError {
    ParseError::new(
        format!("unknown duration unit '{unit}' (expected {UNITS}, or ms, s, m, h, d)"),
        span,
    )
}

/// Milliseconds in one `unit`, or `None` for an unknown unit.
pub(super) fn unit_millis(unit: &str) -> Option<i64> {
    let millis = match unit.to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "second" | "seconds" => 1_000,
        "m" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    Some(millis)
}

/// `number` (as written) times `unit` milliseconds; fractions are fine as
/// long as the result is a whole number of milliseconds.
fn scale(number: &str, unit: i64, span: Span) -> Result<i64> {
    let number = number.trim();
    if let Ok(n) = number.parse::<i64>() {
        return n
            .checked_mul(unit)
            .ok_or_else(|| ParseError::new("duration is too large", span));
    }
    let value: f64 = number.parse().map_err(|_| {
        ParseError::new(
            format!("expected a number in the duration, found '{number}'"),
            span,
        )
    })?;
    let millis = value * unit as f64;
    if !millis.is_finite() || millis.abs() >= i64::MAX as f64 {
        return Err(ParseError::new("duration is too large", span));
    }
    if (millis - millis.round()).abs() > 1e-6 {
        return Err(ParseError::new(
            "duration must be a whole number of milliseconds",
            span,
        ));
    }
    Ok(millis.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::tokens::{split_statements, tokenize};

    fn duration(text: &str) -> Result<i64> {
        let tokens = split_statements(tokenize(text).unwrap()).remove(0);
        let mut c = Cursor::new(tokens);
        let d = parse_duration(&mut c)?;
        assert_eq!(c.peek().token, Token::EOF, "{text} left tokens");
        Ok(d.millis)
    }

    #[test]
    fn every_form() {
        assert_eq!(duration("INTERVAL '5' MINUTE").unwrap(), 300_000);
        assert_eq!(duration("interval '5' minutes").unwrap(), 300_000);
        assert_eq!(duration("INTERVAL 2 SECONDS").unwrap(), 2_000);
        assert_eq!(duration("INTERVAL '10 seconds'").unwrap(), 10_000);
        assert_eq!(duration("INTERVAL '1' DAY").unwrap(), 86_400_000);
        assert_eq!(duration("INTERVAL '250' MILLISECOND").unwrap(), 250);
        assert_eq!(duration("INTERVAL '3' HOURS").unwrap(), 10_800_000);
        assert_eq!(duration("500ms").unwrap(), 500);
        assert_eq!(duration("5s").unwrap(), 5_000);
        assert_eq!(duration("1m").unwrap(), 60_000);
        assert_eq!(duration("1h").unwrap(), 3_600_000);
        assert_eq!(duration("1d").unwrap(), 86_400_000);
        assert_eq!(duration("1.5s").unwrap(), 1_500);
        assert_eq!(duration("0s").unwrap(), 0);
        assert_eq!(duration("-5s").unwrap(), -5_000);
        assert_eq!(duration("INTERVAL '-1' MINUTE").unwrap(), -60_000);
    }

    #[test]
    fn malformed() {
        let e = duration("5x").unwrap_err();
        assert!(e.message.starts_with("unknown duration unit 'x'"), "{e}");
        assert_eq!(e.column(), 2);
        let e = duration("INTERVAL 'abc' MINUTE").unwrap_err();
        assert_eq!(e.message, "expected a number in the duration, found 'abc'");
        let e = duration("INTERVAL '5' FORTNIGHT").unwrap_err();
        assert_eq!(e.column(), 14);
        let e = duration("5").unwrap_err();
        assert!(e.message.contains("found end of input"), "{e}");
        assert!(duration("1.0001ms").is_err());
        assert!(duration("99999999999999999d").is_err());
        assert!(duration("x").is_err());
    }
}
