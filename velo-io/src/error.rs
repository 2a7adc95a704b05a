//! The one error type of velo-io. Every variant that concerns an input names where
//! the problem is (file path or `<stdin>`, 1-based physical line, column) so that the
//! message can be shown to a user as is.

use thiserror::Error;

/// Errors raised while opening, reading or writing a source or a sink.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening, reading, writing or flushing failed at the operating-system level.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// A record that cannot be decoded at all (CSV syntax, a JSON line that is not an
    /// object, ...).
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: String,
        line: u64,
        message: String,
    },

    /// A CSV record whose number of fields differs from the header / schema.
    #[error("{path}:{line}: expected {expected} fields, found {found}")]
    FieldCount {
        path: String,
        line: u64,
        expected: usize,
        found: usize,
    },

    /// A field that does not fit its column's type.
    #[error("{path}:{line}: column '{column}': expected {expected}, found {found}")]
    BadValue {
        path: String,
        line: u64,
        column: String,
        /// What the column accepts, e.g. `BIGINT` or `DECIMAL(10,2)`.
        expected: String,
        /// The offending text, quoted and shortened for display.
        found: String,
    },

    /// A line that is not valid JSON.
    #[error("{path}:{line}: invalid JSON: {message}")]
    Json {
        path: String,
        line: u64,
        message: String,
    },

    /// Bytes that are not UTF-8 where text is required.
    #[error("{path}:{line}: invalid UTF-8{}", column.as_ref().map(|c| format!(" in column '{c}'")).unwrap_or_default())]
    InvalidUtf8 {
        path: String,
        line: u64,
        column: Option<String>,
    },

    /// The columns of a source cannot be determined or do not match its declared schema
    /// (empty file without a declared schema, declared column missing from the header, ...).
    #[error("{path}: {message}")]
    Schema { path: String, message: String },

    /// A batch handed to a writer does not have the writer's number of columns.
    #[error("{path}: batch has {found} columns, the sink was opened for {expected}")]
    BatchWidth {
        path: String,
        expected: usize,
        found: usize,
    },

    /// A writer was used after [`crate::DataWriter::close`].
    #[error("{path}: the sink is already closed")]
    Closed { path: String },

    /// An error from the shared data model.
    #[error(transparent)]
    Types(#[from] velo_types::Error),
}

/// `Result` with velo-io's [`enum@Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The 1-based line of the input the error is about, when it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Error::Malformed { line, .. }
            | Error::FieldCount { line, .. }
            | Error::BadValue { line, .. }
            | Error::Json { line, .. }
            | Error::InvalidUtf8 { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// True for errors about one record (bad value, wrong field count, malformed line):
    /// the reader stays usable and the next call continues after that record.
    pub fn is_record_error(&self) -> bool {
        self.line().is_some()
    }
}

/// Quotes and shortens an offending input text for an error message.
pub(crate) fn show_found(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len().min(MAX) + 5);
    out.push('\'');
    for (n, c) in text.chars().enumerate() {
        if n == MAX {
            out.push_str("...");
            break;
        }
        out.push(c);
    }
    out.push('\'');
    out
}
