//! The app parser: SQL text to [`App`].
//!
//! The approach, in four steps:
//!
//! 1. **Tokenize** the whole app once with `sqlparser`'s tokenizer (generic
//!    dialect, with locations). A tokenizer error (an unterminated string, say)
//!    is reported at its position.
//! 2. **Split** the token stream into statements at top-level `;` tokens. Each
//!    statement gets its own token list, ending with its `;` (if any) and a
//!    synthetic EOF token that carries a real position, so every error, even
//!    "found end of input", points somewhere in the source. Blank statements
//!    (nothing but whitespace and comments) are skipped.
//! 3. **Rewrite** the seed dialect's row windows, which `sqlparser` does not
//!    know, into the standard frame ([`rewrite`]):
//!    `OVER (ROWS WINDOW BUFFER n ROWS rest)` becomes
//!    `OVER (rest ROWS BETWEEN n-1 PRECEDING AND CURRENT ROW)`.
//! 4. **Parse** the statement and its clauses with our own recursive-descent
//!    parser ([`statement`], [`window`]) driving a `sqlparser` [`Parser`]
//!    positioned on the token list: the clause structure, windows, durations,
//!    EMIT and WITH are ours; every expression is `Parser::parse_expr`.
//!
//! Errors from `sqlparser` (whose messages end in "at Line: X, Column: Y") are
//! turned into [`ParseError`]s with the span of the offending token and a clean
//! message ([`cursor::Cursor::convert`]).
//!
//! [`App`]: crate::ast::App
//! [`ParseError`]: crate::ParseError
//! [`Parser`]: sqlparser::parser::Parser

mod cursor;
pub(crate) mod depth;
mod duration;
mod rewrite;
mod statement;
mod tokens;
mod tvf;
mod window;

#[cfg(test)]
mod tests;

use crate::ast::App;
use crate::error::Result;

pub(crate) fn parse_app(sql: &str) -> Result<App> {
    let tokens = tokens::tokenize(sql)?;
    let mut statements = Vec::new();
    for chunk in tokens::split_statements(tokens) {
        if tokens::is_blank(&chunk) {
            continue;
        }
        let (chunk, row_expire) = rewrite::rewrite_row_windows(chunk)?;
        let mut statement = depth::with_stack_for(chunk, statement::parse_statement)?;
        statement.kind.query_mut().row_expire = row_expire;
        statements.push(statement);
    }
    Ok(App { statements })
}
