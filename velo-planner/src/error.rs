use velo_ast::Span;

/// A semantic error in an app, with the position of the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The app text does not parse.
    #[error(transparent)]
    Parse(#[from] velo_ast::ParseError),
    /// A function name that Velo does not know.
    #[error("unknown function '{name}'")]
    UnknownFunction { name: String, span: Span },
    /// A selected column that is neither grouped nor aggregated.
    #[error("column '{column}' must appear in GROUP BY or be used in an aggregate function")]
    NotGrouped { column: String, span: Span },
    /// An aggregate used where it cannot be (WHERE, GROUP BY, nested aggregates).
    #[error("aggregate function {name} is not allowed in {place}")]
    MisplacedAggregate {
        name: String,
        place: &'static str,
        span: Span,
    },
    /// A source or sink used by a statement but declared nowhere in the app.
    #[error(
        "{role} '{name}' is used but not declared: add '{name}.type' = '...' to a WITH clause"
    )]
    Undeclared {
        role: &'static str,
        name: String,
        span: Span,
    },
    /// A duration that does not make sense where it is used.
    #[error("invalid duration: {reason}")]
    BadDuration { reason: String, span: Span },
    /// A WITH property with a missing or invalid value.
    #[error("invalid property '{key}': {reason}")]
    InvalidProperty {
        key: String,
        reason: String,
        span: Span,
    },
    /// A construct that parses but that this version of Velo cannot run.
    #[error("{what} is not supported yet")]
    Unsupported { what: String, span: Span },
    /// Any other semantic error.
    #[error("{message}")]
    Invalid { message: String, span: Span },
}

impl Error {
    /// Where the error is in the app text.
    pub fn span(&self) -> Span {
        match self {
            Error::Parse(e) => e.span,
            Error::UnknownFunction { span, .. }
            | Error::NotGrouped { span, .. }
            | Error::MisplacedAggregate { span, .. }
            | Error::Undeclared { span, .. }
            | Error::BadDuration { span, .. }
            | Error::InvalidProperty { span, .. }
            | Error::Unsupported { span, .. }
            | Error::Invalid { span, .. } => *span,
        }
    }

    /// The error with file, line, column, the offending line and a caret.
    pub fn render(&self, source: &str, file: Option<&str>) -> String {
        match self {
            Error::Parse(e) => e.render(source, file),
            other => velo_ast::diagnostic::render(source, file, other.span(), &other.to_string()),
        }
    }
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
