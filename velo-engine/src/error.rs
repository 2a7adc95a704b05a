//! The engine's error type: compile errors (with the source span of the offending
//! expression) and per-record evaluation errors.

use std::fmt;

use velo_types::{DataType, Span, Value};

/// Errors of compiling or evaluating expressions and aggregates.
///
/// [`Error::Compile`] is a user error found once, when a query is compiled; it
/// carries the span (1-based line and column) of the expression at fault. Every
/// other variant is an evaluation error raised for one record (the record fails,
/// the job goes on according to its failure strategy).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A semantic error in an expression: unknown column or function, wrong
    /// argument count, type mismatch, aggregate in the wrong place...
    #[error("{message} at line {}, column {}", .span.start.line, .span.start.column)]
    Compile { message: String, span: Span },
    /// Integer (or decimal) division or modulo by zero; also floating-point
    /// division by zero (Velo does not produce infinities from `/`).
    #[error("division by zero")]
    DivisionByZero,
    /// Checked integer or decimal arithmetic overflowed (never wraps).
    #[error("numeric overflow in {context}")]
    Overflow { context: &'static str },
    /// A CAST (or an implicit conversion) that cannot convert this value.
    #[error("cannot cast {} to {to}", QuotedValue(.value))]
    Cast { value: Value, to: DataType },
    /// A scalar function called with an argument outside its domain.
    #[error("invalid argument to {function}: {message}")]
    InvalidArgument {
        function: &'static str,
        message: String,
    },
    /// An operator met values of types it cannot combine (only possible when the
    /// static types were unknown at compile time).
    #[error("type error: {0}")]
    Type(String),
    /// A record failed under `failure_strategy = 'fail_batch'`: the evaluation
    /// error of that record, with the record's position in its source (e.g. the
    /// 1-based line of its file; `None` when the source gives none). Displays as
    /// `error` alone, so that the caller can prefix the position its own way.
    #[error("{error}")]
    RowFailed {
        position: Option<u64>,
        /// Which of the job's inputs the record came from: 0, or 1 for the
        /// second stream of a join of two streams.
        input: usize,
        error: Box<Error>,
    },
    /// Operators wired into a [`crate::operator::Pipeline`] the wrong way (an
    /// input left unconnected, an edge that points backwards): a bug in the
    /// caller, reported instead of a panic.
    #[error("internal error in the operator plan: {0}")]
    Pipeline(String),
    /// An operator's state could not be stored or restored: the operator has
    /// no snapshot encoding yet, or the state was written by another operator
    /// or another version of its encoding.
    #[error("state of operator '{operator}': {message}")]
    State {
        operator: &'static str,
        message: String,
    },
}

impl Error {
    /// A compile error at `span`.
    pub fn compile(message: impl Into<String>, span: Span) -> Error {
        Error::Compile {
            message: message.into(),
            span,
        }
    }

    /// The failed record's source position, for [`Error::RowFailed`].
    pub fn row_position(&self) -> Option<u64> {
        match self {
            Error::RowFailed { position, .. } => *position,
            _ => None,
        }
    }

    /// Which input the failed record came from, for [`Error::RowFailed`] (0
    /// otherwise).
    pub fn row_input(&self) -> usize {
        match self {
            Error::RowFailed { input, .. } => *input,
            _ => 0,
        }
    }

    /// The evaluation error itself: the one inside [`Error::RowFailed`], else
    /// `self`.
    pub fn cause(&self) -> &Error {
        match self {
            Error::RowFailed { error, .. } => error.cause(),
            other => other,
        }
    }

    /// The source span, for compile errors.
    pub fn span(&self) -> Option<Span> {
        match self {
            Error::Compile { span, .. } => Some(*span),
            _ => None,
        }
    }

    /// The message without the location suffix (for compile errors) .
    pub fn message(&self) -> String {
        match self {
            Error::Compile { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub(crate) fn invalid(function: &'static str, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            function,
            message: message.into(),
        }
    }

    pub(crate) fn cast(value: &Value, to: DataType) -> Error {
        Error::Cast {
            value: value.clone(),
            to,
        }
    }
}

impl From<velo_types::Error> for Error {
    fn from(e: velo_types::Error) -> Error {
        match e {
            velo_types::Error::Cast { value, to } => Error::Cast { value, to },
            other => Error::Type(other.to_string()),
        }
    }
}

/// A binding error of the planner is a compile error at its span.
impl From<velo_planner::Error> for Error {
    fn from(e: velo_planner::Error) -> Error {
        Error::Compile {
            message: e.to_string(),
            span: velo_planner::bind::position(e.span()),
        }
    }
}

/// Renders strings quoted in messages (`'abc'`), other values as themselves.
struct QuotedValue<'a>(&'a Value);

impl fmt::Display for QuotedValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Str(s) => write!(f, "'{s}'"),
            other => write!(f, "{other}"),
        }
    }
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
