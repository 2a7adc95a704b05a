use thiserror::Error;

use crate::{DataType, Value};

/// Errors raised by the data model itself: malformed schema declarations and
/// batches whose shape does not match their schema.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A `NAME.schema` declaration such as `'id BIGINT, price DOUBLE'` is malformed.
    #[error("invalid schema declaration: {0}")]
    SchemaDecl(String),
    /// A type name that Velo does not know.
    #[error("unknown data type '{0}'")]
    UnknownType(String),
    /// A batch was built with a number of values that is not rows x columns.
    #[error("batch shape mismatch: {values} values for {width} columns")]
    BatchShape { values: usize, width: usize },
    /// A value that `CAST(.. AS to)` cannot convert ([`crate::cast::cast_value`]).
    #[error("cannot cast {value} to {to}")]
    Cast { value: Value, to: DataType },
}

/// `Result` with this crate's [`enum@Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
