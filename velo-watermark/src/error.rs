//! The crate's error type.

/// What can go wrong when configuring watermark generation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `watermark.max_out_of_orderness` was negative: a watermark ahead of the
    /// maximum event time seen would make on-time records late.
    #[error("invalid watermark delay {ms} ms: the maximum out-of-orderness must not be negative")]
    InvalidDelay {
        /// The rejected delay, in milliseconds.
        ms: i64,
    },
    /// An idle timeout of zero would mark every partition idle as soon as it
    /// was registered; use `None` to disable idleness instead.
    #[error(
        "invalid idle timeout: it must be greater than zero (use no timeout to disable idleness)"
    )]
    InvalidIdleTimeout,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
