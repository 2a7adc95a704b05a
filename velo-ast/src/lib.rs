//! Velo's SQL front end: app text in, a typed AST ([`App`]) out.
//!
//! Expressions are parsed by the `sqlparser` crate (its tokenizer and expression
//! parser, with the generic dialect); the statement structure and the streaming
//! extensions (WINDOW TUMBLING / SLIDING / SESSION, `ROWS WINDOW BUFFER n ROWS`,
//! EMIT CHANGES / FINAL, the WITH property list, CREATE STREAM / TABLE AS SELECT,
//! INSERT INTO ... SELECT) are parsed here on sqlparser's token stream. A syntax
//! error is a [`ParseError`] with the line and column of the offending token; no
//! input makes the parser panic.
//!
//! This crate knows nothing of schemas, functions' meaning, IO or the runtime:
//! semantic checks are `velo-planner`'s.
//!
//! ```
//! let app = velo_ast::parse_app("SELECT a, COUNT(*) FROM t GROUP BY a EMIT CHANGES").unwrap();
//! assert_eq!(app.statements.len(), 1);
//! ```

pub mod ast;
pub mod diagnostic;
mod error;
mod parser;

pub use ast::*;
pub use error::{ParseError, Result};
pub use parser::depth::{with_expr_stack, EXPR_STACK_SIZE, MAX_EXPR_DEPTH};

/// Parses a whole app: statements separated by `;`, `--` and `/* */` comments allowed.
pub fn parse_app(sql: &str) -> Result<App> {
    parser::parse_app(sql)
}
