/// Errors of the partition runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A strategy name that is not one of the five (or their aliases).
    #[error("unknown partitioning strategy '{0}'")]
    UnknownStrategy(String),
    /// A strategy that would break the query's semantics.
    #[error("strategy '{strategy}' cannot run this query: {reason}")]
    Invalid { strategy: String, reason: String },
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
