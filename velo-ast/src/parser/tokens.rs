//! Tokenizing, splitting into statements, and describing tokens in messages.

use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer};

use crate::error::{ParseError, Result};

/// The dialect every part of the parser uses.
pub(super) static DIALECT: GenericDialect = GenericDialect {};

/// Tokenizes the whole app, whitespace and comments included.
pub(super) fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    Tokenizer::new(&DIALECT, sql)
        .tokenize_with_location()
        .map_err(|e| ParseError::at(clean_message(&e.message), e.location))
}

/// Splits `tokens` at top-level `;`. Each part keeps its `;` (when it has one)
/// and ends with an EOF token placed right after its last real token.
pub(super) fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let end = end_of_input(&tokens);
    let mut parts = Vec::new();
    let mut current = Vec::new();
    for token in tokens {
        let is_semicolon = token.token == Token::SemiColon;
        let semicolon_end = token.span.end;
        current.push(token);
        if is_semicolon {
            current.push(eof_at(semicolon_end));
            parts.push(std::mem::take(&mut current));
        }
    }
    current.push(eof_at(end));
    parts.push(current);
    parts
}

/// Whether a statement's tokens hold nothing but whitespace, comments, `;` and EOF.
pub(super) fn is_blank(tokens: &[TokenWithSpan]) -> bool {
    tokens
        .iter()
        .all(|t| is_trivia(&t.token) || matches!(t.token, Token::SemiColon | Token::EOF))
}

/// Whitespace and comments: tokens the parser skips.
pub(super) fn is_trivia(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

pub(super) fn eof_at(location: Location) -> TokenWithSpan {
    TokenWithSpan::new(Token::EOF, Span::new(location, location))
}

/// Right after the last token that is not whitespace or a comment; 1:1 for a
/// blank input.
fn end_of_input(tokens: &[TokenWithSpan]) -> Location {
    tokens
        .iter()
        .rev()
        .find(|t| !is_trivia(&t.token))
        .map_or(Location::new(1, 1), |t| t.span.end)
}

/// How a token is named in an error message: `'WHERE'`, `string 'abc'`,
/// `end of input`.
pub(super) fn describe(token: &Token) -> String {
    match token {
        Token::EOF => "end of input".to_string(),
        Token::Whitespace(_) => "whitespace".to_string(),
        _ => {
            let text = token.to_string();
            if text.len() >= 2 && text.ends_with('\'') && !matches!(token, Token::Word(_)) {
                format!("string {text}")
            } else {
                format!("'{text}'")
            }
        }
    }
}

/// The case-insensitive keyword test used everywhere: an unquoted word with
/// this spelling (keywords are compared by text, since the streaming keywords
/// such as EMIT or TUMBLING are not `sqlparser` keywords).
pub(super) fn is_word(token: &Token, keyword: &str) -> bool {
    match token {
        Token::Word(w) => w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword),
        _ => false,
    }
}

/// `sqlparser`'s messages start with a capital ("Unterminated string
/// literal"); ours do not. Acronyms ("SELECT ...") are left alone.
pub(super) fn clean_message(message: &str) -> String {
    let mut chars = message.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second))
            if first.is_ascii_uppercase() && !second.is_ascii_uppercase() =>
        {
            let mut out = first.to_ascii_lowercase().to_string();
            out.push_str(&message[first.len_utf8()..]);
            out
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_semicolons_and_keeps_them() {
        let tokens = tokenize("SELECT 1; SELECT 2;").unwrap();
        let parts = split_statements(tokens);
        assert_eq!(parts.len(), 3);
        assert!(!is_blank(&parts[0]));
        assert!(!is_blank(&parts[1]));
        assert!(is_blank(&parts[2]));
        assert_eq!(
            parts[0].iter().rev().nth(1).unwrap().token,
            Token::SemiColon
        );
    }

    #[test]
    fn eof_sits_after_the_last_real_token() {
        let parts = split_statements(tokenize("SELECT a\n  -- trailing\n").unwrap());
        let eof = parts[0].last().unwrap();
        assert_eq!(eof.token, Token::EOF);
        assert_eq!(eof.span.start, Location::new(1, 9));
    }

    #[test]
    fn describes_tokens() {
        assert_eq!(describe(&Token::EOF), "end of input");
        assert_eq!(describe(&Token::make_keyword("WHERE")), "'WHERE'");
        assert_eq!(
            describe(&Token::SingleQuotedString("x".into())),
            "string 'x'"
        );
        assert_eq!(describe(&Token::RParen), "')'");
    }

    #[test]
    fn cleans_messages() {
        assert_eq!(clean_message("Unterminated string"), "unterminated string");
        assert_eq!(clean_message("SELECT is odd"), "SELECT is odd");
        assert_eq!(clean_message(""), "");
    }
}
