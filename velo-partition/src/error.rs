/// Errors of the partition runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A strategy name that is not one of the five (or their aliases).
    #[error(
        "unknown partitioning strategy '{0}' (expected always_hash, smart_repartition, sticky_partition, round_robin or fan_in)"
    )]
    UnknownStrategy(String),
    /// A partition's queue has no receiver any more (its worker stopped).
    #[error("the queue of partition {partition} is closed: its worker has stopped")]
    QueueClosed { partition: usize },
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
