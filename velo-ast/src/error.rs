use sqlparser::tokenizer::{Location, Span};
use thiserror::Error;

/// A syntax error in an app: what was expected, and where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} at line {}, column {}", .span.start.line, .span.start.column)]
pub struct ParseError {
    pub message: String,
    /// Where the offending token starts and ends (1-based line and column).
    pub span: Span,
}

impl ParseError {
    pub fn new(message: impl Into<String>, span: Span) -> ParseError {
        ParseError {
            message: message.into(),
            span,
        }
    }

    pub fn at(message: impl Into<String>, location: Location) -> ParseError {
        ParseError::new(message, Span::new(location, location))
    }

    pub fn line(&self) -> u64 {
        self.span.start.line
    }

    pub fn column(&self) -> u64 {
        self.span.start.column
    }

    /// The error with the offending line and a caret under the token, see
    /// [`crate::diagnostic::render`].
    pub fn render(&self, source: &str, file: Option<&str>) -> String {
        crate::diagnostic::render(source, file, self.span, &self.message)
    }
}

/// `Result` with [`ParseError`] as the default error type.
pub type Result<T, E = ParseError> = std::result::Result<T, E>;
