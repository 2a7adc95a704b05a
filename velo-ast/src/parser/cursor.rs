//! [`Cursor`]: a `sqlparser` [`Parser`] over one statement's tokens, with the
//! small helpers the statement and window parsers are written with, and the
//! conversion of `sqlparser`'s errors into [`ParseError`]s.

use sqlparser::ast::{Expr, Ident};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan};

use super::depth::{self, MAX_EXPR_DEPTH};
use super::tokens::{clean_message, describe, is_trivia, is_word, DIALECT};
use crate::error::{ParseError, Result};

/// How deep `sqlparser` may recurse into one expression before it gives up
/// with an error (its default is 50): nested parentheses, calls and unary
/// operators. Chains of infix operators cost it no recursion; the depth of the
/// tree they build is limited by [`MAX_EXPR_DEPTH`] instead. Nested CASE and
/// function calls in real apps stay far below this, and the
/// `recursive-protection` feature keeps the parser's stack safe anyway.
const RECURSION_LIMIT: usize = 64;

/// Words that start a clause and never start an expression (unless quoted).
const CLAUSE_KEYWORDS: &[&str] = &[
    "AS", "EMIT", "FROM", "GROUP", "HAVING", "JOIN", "LIMIT", "ON", "ORDER", "SELECT", "WHERE",
    "WINDOW", "WITH",
];

/// A `sqlparser` parser positioned on one statement's tokens.
pub(super) struct Cursor {
    parser: Parser<'static>,
    /// The same tokens the parser holds, to map error positions back to spans.
    tokens: Vec<TokenWithSpan>,
}

impl Cursor {
    /// `tokens` must end with an EOF token (see `tokens::split_statements`).
    pub(super) fn new(tokens: Vec<TokenWithSpan>) -> Cursor {
        let parser = Parser::new(&DIALECT)
            .with_recursion_limit(RECURSION_LIMIT)
            .with_tokens_with_locations(tokens.clone());
        Cursor { parser, tokens }
    }

    /// The next non-whitespace token, not consumed.
    pub(super) fn peek(&self) -> &TokenWithSpan {
        self.parser.peek_token_ref()
    }

    /// The `n`th next non-whitespace token (0 is the next one).
    pub(super) fn peek_nth(&self, n: usize) -> &TokenWithSpan {
        self.parser.peek_nth_token_ref(n)
    }

    /// Consumes and returns the next non-whitespace token.
    pub(super) fn next(&mut self) -> TokenWithSpan {
        self.parser.next_token()
    }

    /// Where the next token starts.
    pub(super) fn start(&self) -> Location {
        self.peek().span.start
    }

    /// Where the last consumed non-whitespace token ends.
    pub(super) fn prev_end(&self) -> Location {
        self.tokens[..self.parser.index().min(self.tokens.len())]
            .iter()
            .rev()
            .find(|t| !is_trivia(&t.token))
            .map_or_else(|| self.start(), |t| t.span.end)
    }

    /// The span from `start` to the end of the last consumed token.
    pub(super) fn span_from(&self, start: Location) -> Span {
        Span::new(start, self.prev_end())
    }

    pub(super) fn peek_word(&self, keyword: &str) -> bool {
        is_word(&self.peek().token, keyword)
    }

    pub(super) fn peek_is(&self, token: &Token) -> bool {
        &self.peek().token == token
    }

    /// Consumes the keyword if it comes next; returns its span.
    pub(super) fn eat_word(&mut self, keyword: &str) -> Option<Span> {
        self.peek_word(keyword).then(|| self.next().span)
    }

    /// Consumes `keywords` if they all come next, else nothing.
    pub(super) fn eat_words(&mut self, keywords: &[&str]) -> Option<Span> {
        let all = keywords
            .iter()
            .enumerate()
            .all(|(i, k)| is_word(&self.peek_nth(i).token, k));
        if !all {
            return None;
        }
        let start = self.start();
        for _ in keywords {
            self.next();
        }
        Some(self.span_from(start))
    }

    pub(super) fn expect_word(&mut self, keyword: &str) -> Result<Span> {
        self.eat_word(keyword).ok_or_else(|| self.expected(keyword))
    }

    pub(super) fn eat_token(&mut self, token: &Token) -> Option<Span> {
        self.peek_is(token).then(|| self.next().span)
    }

    pub(super) fn expect_token(&mut self, token: &Token) -> Result<Span> {
        self.eat_token(token)
            .ok_or_else(|| self.expected(&format!("'{token}'")))
    }

    /// "expected {what}, found {next token}", at the next token.
    pub(super) fn expected(&self, what: &str) -> ParseError {
        let found = self.peek();
        ParseError::new(
            format!("expected {what}, found {}", describe(&found.token)),
            found.span,
        )
    }

    /// An identifier (a word, quoted or not); `what` names it in the error.
    pub(super) fn ident(&mut self, what: &str) -> Result<Ident> {
        if !matches!(self.peek().token, Token::Word(_)) {
            return Err(self.expected(what));
        }
        let token = self.next();
        match token.token {
            Token::Word(w) => Ok(w.into_ident(token.span)),
            _ => Err(ParseError::new(format!("expected {what}"), token.span)),
        }
    }

    /// One expression, parsed by `sqlparser`. A clause keyword where the
    /// expression should start is an error here: `sqlparser`'s generic dialect
    /// would take `FROM` in `SELECT a, FROM t` for a column name.
    pub(super) fn expr(&mut self) -> Result<Expr> {
        if CLAUSE_KEYWORDS
            .iter()
            .any(|k| is_word(&self.peek().token, k))
        {
            return Err(self.expected("an expression"));
        }
        let start = self.peek().span;
        let expr = self.parser.parse_expr().map_err(|e| self.convert(e))?;
        if depth::deeper_than(&expr, MAX_EXPR_DEPTH) {
            return Err(ParseError::new(
                format!(
                    "expression is nested too deeply: more than {MAX_EXPR_DEPTH} levels \
                     (the limit; each operator, call, cast and parenthesis adds a level)"
                ),
                start,
            ));
        }
        Ok(expr)
    }

    /// Turns a `sqlparser` error into a [`ParseError`] at the offending token.
    pub(super) fn convert(&self, error: ParserError) -> ParseError {
        let message = match error {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
            ParserError::RecursionLimitExceeded => {
                return ParseError::new(
                    format!(
                        "expression is nested too deeply: it reaches the limit of \
                         {RECURSION_LIMIT} levels of parentheses, calls and unary operators"
                    ),
                    self.peek().span,
                )
            }
        };
        let (text, location) = split_location(&message);
        let token = location.and_then(|loc| self.token_at(loc));
        let span = match (token, location) {
            (Some(t), _) => t.span,
            (None, Some(loc)) => Span::new(loc, loc),
            (None, None) => self.peek().span,
        };
        ParseError::new(rephrase(text, token.map(|t| &t.token)), span)
    }

    /// The non-whitespace token starting at `location`.
    fn token_at(&self, location: Location) -> Option<&TokenWithSpan> {
        self.tokens
            .iter()
            .find(|t| t.span.start == location && !is_trivia(&t.token))
    }
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("index", &self.parser.index())
            .field("next", &self.peek())
            .finish()
    }
}

/// Splits "message at Line: X, Column: Y" into the message and the location.
fn split_location(message: &str) -> (&str, Option<Location>) {
    let Some(at) = message.rfind(" at Line: ") else {
        return (message, None);
    };
    let position = &message[at + " at Line: ".len()..];
    let location = position
        .split_once(", Column: ")
        .and_then(|(line, column)| {
            Some(Location::new(
                line.trim().parse().ok()?,
                column.trim().parse().ok()?,
            ))
        });
    match location {
        Some(loc) => (&message[..at], Some(loc)),
        None => (message, None),
    }
}

/// "Expected: ), found: FROM" becomes "expected ')', found 'FROM'"; anything
/// else just loses its leading capital.
fn rephrase(message: &str, found: Option<&Token>) -> String {
    let Some(rest) = message.strip_prefix("Expected: ") else {
        return clean_message(message);
    };
    let (expected, found_text) = match rest.rsplit_once(", found: ") {
        Some((e, f)) => (e, Some(f)),
        None => (rest, None),
    };
    let expected = if !expected.is_empty() && !expected.chars().any(char::is_alphanumeric) {
        format!("'{expected}'")
    } else {
        expected.to_string()
    };
    match (found, found_text) {
        (Some(token), _) => format!("expected {expected}, found {}", describe(token)),
        (None, Some("EOF")) => format!("expected {expected}, found end of input"),
        (None, Some(text)) => format!("expected {expected}, found '{text}'"),
        (None, None) => format!("expected {expected}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_location_off() {
        let (text, loc) = split_location("Expected: ), found: FROM at Line: 3, Column: 14");
        assert_eq!(text, "Expected: ), found: FROM");
        assert_eq!(loc, Some(Location::new(3, 14)));
        assert_eq!(split_location("no position"), ("no position", None));
    }

    #[test]
    fn rephrases_expectations() {
        let from = Token::make_keyword("FROM");
        assert_eq!(
            rephrase("Expected: ), found: FROM", Some(&from)),
            "expected ')', found 'FROM'"
        );
        assert_eq!(
            rephrase("Expected: an expression, found: EOF", None),
            "expected an expression, found end of input"
        );
        assert_eq!(rephrase("Unexpected token", None), "unexpected token");
    }
}
