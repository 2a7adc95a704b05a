//! The one error type of velo-io. Every variant that concerns an input names where
//! the problem is (file path or `<stdin>`, 1-based physical line, column) so that the
//! message can be shown to a user as is. An error about one record also keeps the
//! record's raw text ([`Error::raw_record`]) for a dead-letter queue; it is not part
//! of the message.

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
        /// The record as read (see [`Error::raw_record`]); not shown in the message.
        raw: Option<Box<str>>,
    },

    /// A CSV record whose number of fields differs from the header / schema.
    #[error("{path}:{line}: expected {expected} fields, found {found}")]
    FieldCount {
        path: String,
        line: u64,
        expected: usize,
        found: usize,
        /// The record as read (see [`Error::raw_record`]); not shown in the message.
        raw: Option<Box<str>>,
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
        /// The record as read (see [`Error::raw_record`]); not shown in the message.
        raw: Option<Box<str>>,
    },

    /// A line that is not valid JSON.
    #[error("{path}:{line}: invalid JSON: {message}")]
    Json {
        path: String,
        line: u64,
        message: String,
        /// The record as read (see [`Error::raw_record`]); not shown in the message.
        raw: Option<Box<str>>,
    },

    /// Bytes that are not UTF-8 where text is required.
    #[error("{path}:{line}: invalid UTF-8{}", column.as_ref().map(|c| format!(" in column '{c}'")).unwrap_or_default())]
    InvalidUtf8 {
        path: String,
        line: u64,
        column: Option<String>,
        /// The record as read (see [`Error::raw_record`]); not shown in the message.
        raw: Option<Box<str>>,
    },

    /// The columns of a source cannot be determined or do not match its declared schema
    /// (empty file without a declared schema, declared column missing from the header, ...).
    #[error("{path}: {message}")]
    Schema { path: String, message: String },

    /// A reader cannot resume at the position it was given
    /// ([`crate::ReaderOptions::resume`]): the file is shorter than it, or it is not
    /// where a record starts (the file changed since the position was taken), or the
    /// source cannot resume at a position at all.
    #[error("{path}: {message}")]
    Resume { path: String, message: String },

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

    /// A Kafka client error (brokers unreachable, unknown topic, a message the
    /// brokers did not acknowledge, a commit that failed, a bad librdkafka
    /// setting), named by its topic.
    #[error("kafka topic '{topic}': {message}")]
    Kafka { topic: String, message: String },

    /// The job was told to stop while the reader waited for the first records
    /// that type its columns (a Kafka source without a declared schema).
    #[error("{path}: stopped before the first records arrived, so its columns are unknown")]
    Stopped { path: String },

    /// An error from the shared data model.
    #[error(transparent)]
    Types(#[from] velo_types::Error),
}

/// `Result` with velo-io's [`enum@Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The 1-based line of the input the error is about, when it is about one;
    /// for a Kafka message, its offset.
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

    /// The raw text of the record a record error is about, as read from the input:
    /// the whole record (all its physical lines for a CSV record with quoted line
    /// breaks), without its line terminator, decoded as UTF-8 with invalid bytes
    /// replaced by U+FFFD and cut to at most [`RAW_RECORD_LIMIT`] bytes. `None` for
    /// errors that are not about one record, and where the reader could not keep
    /// the text (a CSV error from the parser itself).
    pub fn raw_record(&self) -> Option<&str> {
        match self {
            Error::Malformed { raw, .. }
            | Error::FieldCount { raw, .. }
            | Error::BadValue { raw, .. }
            | Error::Json { raw, .. }
            | Error::InvalidUtf8 { raw, .. } => raw.as_deref(),
            _ => None,
        }
    }

    /// The input or output the error is about, as named in its message: the file
    /// path or `<stdin>` (`<stdout>`, ...); for a Kafka message, `topic[partition]`
    /// (e.g. `trades[2]`), and for other Kafka errors the topic. `None` for errors
    /// of the data model.
    pub fn source_label(&self) -> Option<&str> {
        match self {
            Error::Io { path, .. }
            | Error::Malformed { path, .. }
            | Error::FieldCount { path, .. }
            | Error::BadValue { path, .. }
            | Error::Json { path, .. }
            | Error::InvalidUtf8 { path, .. }
            | Error::Schema { path, .. }
            | Error::Resume { path, .. }
            | Error::BatchWidth { path, .. }
            | Error::Closed { path }
            | Error::Stopped { path } => Some(path),
            Error::Kafka { topic, .. } => Some(topic),
            Error::Types(_) => None,
        }
    }

    /// Attaches the raw bytes of the record a record error is about (see
    /// [`Error::raw_record`]); other errors are returned unchanged.
    #[cold]
    pub(crate) fn with_raw(mut self, bytes: &[u8]) -> Error {
        match &mut self {
            Error::Malformed { raw, .. }
            | Error::FieldCount { raw, .. }
            | Error::BadValue { raw, .. }
            | Error::Json { raw, .. }
            | Error::InvalidUtf8 { raw, .. } => *raw = Some(raw_text(bytes)),
            _ => {}
        }
        self
    }
}

/// The most bytes of a record's text that [`Error::raw_record`] keeps (64 KiB).
pub const RAW_RECORD_LIMIT: usize = 64 * 1024;

/// A record's bytes as text for [`Error::raw_record`]: lossy UTF-8, cut at a
/// character boundary to at most [`RAW_RECORD_LIMIT`] bytes.
fn raw_text(bytes: &[u8]) -> Box<str> {
    // A character is at most 4 bytes: enough input to fill the limit even when the
    // cut falls inside one.
    let head = &bytes[..bytes.len().min(RAW_RECORD_LIMIT + 3)];
    let text = String::from_utf8_lossy(head);
    let mut end = text.len().min(RAW_RECORD_LIMIT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_value() -> Error {
        Error::BadValue {
            path: "t.csv".into(),
            line: 3,
            column: "b".into(),
            expected: "BIGINT".into(),
            found: "'x'".into(),
            raw: None,
        }
    }

    #[test]
    fn raw_record_is_kept_out_of_the_message() {
        let e = bad_value().with_raw(b"1,x");
        assert_eq!(e.raw_record(), Some("1,x"));
        assert_eq!(e.source_label(), Some("t.csv"));
        assert_eq!(
            e.to_string(),
            "t.csv:3: column 'b': expected BIGINT, found 'x'"
        );
        assert_eq!(bad_value().raw_record(), None);
        let closed = Error::Closed {
            path: "<stdout>".into(),
        };
        assert_eq!(closed.with_raw(b"x").raw_record(), None);
    }

    #[test]
    fn raw_record_is_lossy_utf8_cut_at_the_limit() {
        let e = bad_value().with_raw(b"1,b\xffd");
        assert_eq!(e.raw_record(), Some("1,b\u{fffd}d"));

        // 'é' is 2 bytes: the limit falls inside the last one that would fit.
        let long = "é".repeat(RAW_RECORD_LIMIT);
        let e = bad_value().with_raw(long.as_bytes());
        let raw = e.raw_record().unwrap();
        assert!(raw.len() <= RAW_RECORD_LIMIT && raw.len() > RAW_RECORD_LIMIT - 4);
        assert!(raw.chars().all(|c| c == 'é'));
        let e = bad_value().with_raw(&vec![b'a'; RAW_RECORD_LIMIT + 10]);
        assert_eq!(e.raw_record().unwrap().len(), RAW_RECORD_LIMIT);
    }
}
