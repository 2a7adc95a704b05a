//! The seed dialect's row windows, rewritten on the token stream into the
//! standard frame `sqlparser` understands:
//!
//! ```text
//! OVER ( ROWS WINDOW BUFFER n ROWS <rest> )
//!   =>  OVER ( <rest> ROWS BETWEEN n-1 PRECEDING AND CURRENT ROW )
//! ```
//!
//! `<rest>` (PARTITION BY, ORDER BY) keeps its tokens and spans; the new frame
//! tokens get the span of the `ROWS WINDOW BUFFER n ROWS` they replace (the
//! count gets the span of `n`), so positions in later errors stay meaningful.
//! An `EXPIRE AFTER <duration> INACTIVITY` in `<rest>` is removed from the
//! tokens and returned, to be kept in [`SelectQuery::row_expire`]; the OVER
//! clauses of one statement must not name different expiries.
//!
//! [`SelectQuery::row_expire`]: crate::ast::SelectQuery::row_expire

use sqlparser::tokenizer::{Span, Token, TokenWithSpan};

use super::cursor::Cursor;
use super::duration::parse_duration;
use super::tokens::{describe, eof_at, is_trivia, is_word};
use crate::ast::DurationLit;
use crate::error::{ParseError, Result};

/// Rewrites every `OVER (ROWS WINDOW BUFFER n ROWS ...)` of one statement;
/// also returns the statement's `EXPIRE AFTER` duration, if any.
pub(super) fn rewrite_row_windows(
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Option<DurationLit>)> {
    if !tokens.iter().any(|t| is_word(&t.token, "OVER")) {
        return Ok((tokens, None));
    }
    let mut expire: Option<DurationLit> = None;
    // Positions of the non-whitespace tokens: the pattern ignores whitespace.
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_trivia(&tokens[i].token))
        .collect();
    let mut out = Vec::with_capacity(tokens.len() + 8);
    let mut copied = 0; // tokens[..copied] are in `out`
    let mut k = 0;
    while k < sig.len() {
        if !starts_buffer_clause(&tokens, &sig, k) {
            k += 1;
            continue;
        }
        let clause = BufferClause::parse(&tokens, &sig, k)?;
        if let Some(e) = clause.expire {
            match expire {
                Some(first) if first.millis != e.millis => {
                    return Err(ParseError::new(
                        "every OVER window of a query must have the same EXPIRE AFTER duration",
                        e.span,
                    ))
                }
                Some(_) => {}
                None => expire = Some(e),
            }
        }
        // Everything up to and including `OVER (`.
        out.extend_from_slice(&tokens[copied..=sig[k + 1]]);
        clause.emit(&tokens, &mut out);
        copied = clause.close + 1;
        k = sig.partition_point(|&i| i <= clause.close);
    }
    out.extend_from_slice(&tokens[copied..]);
    Ok((out, expire))
}

/// `OVER ( ROWS WINDOW` at `sig[k]`: from here on it must be a BUFFER clause.
fn starts_buffer_clause(tokens: &[TokenWithSpan], sig: &[usize], k: usize) -> bool {
    let at = |n: usize| sig.get(k + n).map(|&i| &tokens[i].token);
    matches!(at(0), Some(t) if is_word(t, "OVER"))
        && at(1) == Some(&Token::LParen)
        && matches!(at(2), Some(t) if is_word(t, "ROWS"))
        && matches!(at(3), Some(t) if is_word(t, "WINDOW"))
}

/// One `OVER ( ROWS WINDOW BUFFER n ROWS <rest> )`, located in the tokens.
struct BufferClause {
    /// n
    rows: u64,
    /// The span of `n`.
    rows_span: Span,
    /// From the first ROWS to the second.
    clause_span: Span,
    /// Token indices of `<rest>`, with any EXPIRE clause left out.
    rest: Vec<usize>,
    /// The EXPIRE clause's duration.
    expire: Option<DurationLit>,
    /// Token index of the closing `)`.
    close: usize,
}

impl BufferClause {
    fn parse(tokens: &[TokenWithSpan], sig: &[usize], k: usize) -> Result<BufferClause> {
        let tok = |n: usize| {
            sig.get(k + n)
                .map_or_else(|| tokens.last().unwrap_or(&EOF), |&i| &tokens[i])
        };
        expect_word(tok(4), "BUFFER", "BUFFER after ROWS WINDOW")?;
        let (rows, rows_span) = row_count(tok(5))?;
        expect_word(tok(6), "ROWS", "ROWS after the BUFFER row count")?;
        let clause_span = Span::new(tok(2).span.start, tok(6).span.end);
        let (rest, close, expire) = rest_of_over(tokens, sig, k + 7)?;
        Ok(BufferClause {
            rows,
            rows_span,
            clause_span,
            rest,
            expire,
            close,
        })
    }

    /// Pushes `<rest> ROWS BETWEEN n-1 PRECEDING AND CURRENT ROW )`.
    fn emit(&self, tokens: &[TokenWithSpan], out: &mut Vec<TokenWithSpan>) {
        out.extend(self.rest.iter().map(|&i| tokens[i].clone()));
        let word = |w: &str| TokenWithSpan::new(Token::make_keyword(w), self.clause_span);
        out.push(word("ROWS"));
        out.push(word("BETWEEN"));
        out.push(TokenWithSpan::new(
            Token::Number((self.rows - 1).to_string(), false),
            self.rows_span,
        ));
        for w in ["PRECEDING", "AND", "CURRENT", "ROW"] {
            out.push(word(w));
        }
        out.push(tokens[self.close].clone());
    }
}

/// Stands in for a missing token; never reached in practice, since every
/// statement's token list ends with a positioned EOF.
static EOF: TokenWithSpan = TokenWithSpan {
    token: Token::EOF,
    span: Span::empty(),
};

/// Checks that `token` is `keyword`; `what` describes the expectation.
fn expect_word(token: &TokenWithSpan, keyword: &str, what: &str) -> Result<()> {
    if is_word(&token.token, keyword) {
        Ok(())
    } else {
        Err(unexpected(token, what))
    }
}

fn unexpected(token: &TokenWithSpan, what: &str) -> ParseError {
    ParseError::new(
        format!("expected {what}, found {}", describe(&token.token)),
        token.span,
    )
}

/// `n` of `BUFFER n ROWS`: a positive integer.
fn row_count(token: &TokenWithSpan) -> Result<(u64, Span)> {
    match &token.token {
        Token::Number(text, _) => match text.parse::<u64>() {
            Ok(n) if n > 0 => Ok((n, token.span)),
            _ => Err(ParseError::new(
                format!("the BUFFER row count must be a positive integer, found '{text}'"),
                token.span,
            )),
        },
        _ => Err(unexpected(token, "a row count after BUFFER")),
    }
}

/// The tokens after `BUFFER n ROWS` up to the `)` closing the OVER clause
/// (whitespace kept, any `EXPIRE AFTER .. INACTIVITY` removed), the index
/// of that `)`, and the EXPIRE duration.
fn rest_of_over(
    tokens: &[TokenWithSpan],
    sig: &[usize],
    from: usize,
) -> Result<(Vec<usize>, usize, Option<DurationLit>)> {
    let mut depth = 0usize;
    let mut expire = None;
    let mut rest = Vec::new();
    let mut k = from;
    let first = sig.get(from).copied().unwrap_or(tokens.len());
    let mut i = first;
    while let Some(&s) = sig.get(k) {
        // Keep the whitespace between significant tokens.
        rest.extend(i..s);
        let token = &tokens[s];
        match &token.token {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => return Ok((rest, s, expire)),
            Token::RParen => depth -= 1,
            Token::EOF | Token::SemiColon => {
                return Err(unexpected(token, "')' to close the OVER clause"))
            }
            t if depth == 0 && is_word(t, "EXPIRE") => {
                if expire.is_some() {
                    return Err(ParseError::new(
                        "EXPIRE AFTER appears twice in one OVER clause",
                        token.span,
                    ));
                }
                let (next, duration) = take_expire(tokens, sig, k)?;
                expire = Some(duration);
                k = next;
                i = sig.get(k).copied().unwrap_or(tokens.len());
                continue;
            }
            _ => {}
        }
        rest.push(s);
        k += 1;
        i = s + 1;
    }
    let last = tokens.last().unwrap_or(&EOF);
    Err(unexpected(last, "')' to close the OVER clause"))
}

/// Parses `EXPIRE AFTER <duration> INACTIVITY` starting at `sig[k]`; returns
/// the position after it and the duration.
fn take_expire(tokens: &[TokenWithSpan], sig: &[usize], k: usize) -> Result<(usize, DurationLit)> {
    let after = sig.get(k + 1).map_or(&EOF, |&i| &tokens[i]);
    expect_word(after, "AFTER", "AFTER after EXPIRE")?;
    let Some(end) = (k + 2..sig.len()).find(|&n| {
        let t = &tokens[sig[n]].token;
        is_word(t, "INACTIVITY") || matches!(t, Token::RParen | Token::SemiColon | Token::EOF)
    }) else {
        return Err(unexpected(tokens.last().unwrap_or(&EOF), "INACTIVITY"));
    };
    // The duration and INACTIVITY, parsed on their own.
    let end_token = &tokens[sig[end]];
    let mut sub: Vec<TokenWithSpan> = sig[k + 2..=end]
        .iter()
        .map(|&i| tokens[i].clone())
        .collect();
    sub.push(eof_at(end_token.span.end));
    let mut c = Cursor::new(sub);
    let duration = parse_duration(&mut c)?;
    c.expect_word("INACTIVITY")?;
    Ok((end + 1, duration))
}
