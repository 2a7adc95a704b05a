//! The `stdin_source`: standard input until EOF, in any text format (CSV, header-less
//! CSV, JSON lines), named `<stdin>` in error messages.
//!
//! Without a declared schema the reader samples up to
//! [`crate::INFERENCE_SAMPLE_RECORDS`] records (or until EOF) before it is returned;
//! declare the schema for an interactive or slow producer.

use velo_types::connector::Encoding;

use crate::error::Result;
use crate::{DataReader, ReaderOptions};

/// The name of standard input in error messages.
pub const STDIN_LABEL: &str = "<stdin>";

/// Opens standard input as a source; reads are blocking.
pub fn open(encoding: &Encoding, options: &ReaderOptions) -> Result<Box<dyn DataReader>> {
    crate::open_text_reader(std::io::stdin(), STDIN_LABEL, encoding, options)
}
