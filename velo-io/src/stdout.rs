//! The `stdout_sink` (and the sink of a bare SELECT): JSON lines or CSV on standard
//! output, named `<stdout>` in error messages (a closed pipe is an IO error, not a
//! panic).

use std::io::Stdout;

use velo_types::connector::Encoding;
use velo_types::SchemaRef;

use crate::error::Result;
use crate::writer::TextWriter;

/// The name of standard output in error messages.
pub const STDOUT_LABEL: &str = "<stdout>";

/// A writer of rows of `schema` to standard output in `encoding.format`.
pub fn open(encoding: &Encoding, schema: SchemaRef) -> Result<TextWriter<Stdout>> {
    TextWriter::new(
        std::io::stdout(),
        STDOUT_LABEL,
        encoding.format,
        encoding.delimiter,
        schema,
    )
}
