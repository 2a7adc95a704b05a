//! The `file_sink`: JSON lines or CSV written to a file that is created or
//! truncated when the sink is opened (a CSV header line is written at once, so an
//! empty result still has one).

use std::fs::File;
use std::path::Path;

use velo_types::connector::Encoding;
use velo_types::SchemaRef;

use crate::error::{Error, Result};
use crate::writer::TextWriter;

/// Creates (or truncates) `path` and returns a writer of rows of `schema` in
/// `encoding.format`. The parent folder must exist.
pub fn open(path: &Path, encoding: &Encoding, schema: SchemaRef) -> Result<TextWriter<File>> {
    let label = path.display().to_string();
    // Like Flink's filesystem sink, a missing parent folder is created.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: label.clone(),
            source: if parent.exists() && !parent.is_dir() {
                std::io::Error::other(format!(
                    "cannot create the folder '{}': a file of that name exists",
                    parent.display()
                ))
            } else {
                std::io::Error::new(
                    source.kind(),
                    format!("cannot create the folder '{}': {source}", parent.display()),
                )
            },
        })?;
    }
    let file = File::create(path).map_err(|source| Error::Io {
        path: label.clone(),
        source,
    })?;
    TextWriter::new(file, &label, encoding.format, encoding.delimiter, schema)
}
