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

/// Reopens `path`, written by an earlier run up to a checkpoint, cut back to
/// `len` bytes: what was written after the checkpoint is removed, and rows are
/// appended from there (no second CSV header). A file shorter than `len`, or
/// gone, cannot be resumed: it is an error that says so.
pub fn open_at(
    path: &Path,
    encoding: &Encoding,
    schema: SchemaRef,
    len: u64,
) -> Result<TextWriter<File>> {
    use std::io::{Seek, SeekFrom};
    let label = path.display().to_string();
    let io = |source: std::io::Error| Error::Io {
        path: label.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| {
            io(std::io::Error::new(
                e.kind(),
                format!("cannot reopen the sink file to resume from a checkpoint: {e}"),
            ))
        })?;
    let found = file.metadata().map_err(io)?.len();
    if found < len {
        return Err(io(std::io::Error::other(format!(
            "the checkpoint wrote {len} bytes to this sink file, it now has {found}: it was changed since; run with --fresh to start over"
        ))));
    }
    file.set_len(len).map_err(io)?;
    file.seek(SeekFrom::End(0)).map_err(io)?;
    TextWriter::with_header(
        file,
        &label,
        encoding.format,
        encoding.delimiter,
        schema,
        len == 0,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use velo_types::connector::Format;
    use velo_types::{Batch, DataType, Field, Schema, Value};

    use super::*;
    use crate::DataWriter;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int)]))
    }

    fn rows(ns: &[i64]) -> Batch {
        Batch::new(schema(), ns.iter().map(|&n| Value::Int(n)).collect()).unwrap()
    }

    #[test]
    fn a_resumed_file_is_cut_back_to_the_checkpoint_and_appended_to() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let encoding = Encoding {
            format: Format::Csv,
            ..Encoding::default()
        };
        let mut w = open(&path, &encoding, schema()).unwrap();
        rt.block_on(w.write_batch(&rows(&[1, 2]))).unwrap();
        let at = rt.block_on(w.commit_point()).unwrap();
        assert_eq!(at, Some("n\n1\n2\n".len() as u64));
        // Written after the checkpoint, then a crash.
        rt.block_on(w.write_batch(&rows(&[3]))).unwrap();
        drop(w);
        let mut w = open_at(&path, &encoding, schema(), at.unwrap()).unwrap();
        rt.block_on(w.write_batch(&rows(&[30]))).unwrap();
        rt.block_on(w.close()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "n\n1\n2\n30\n");
        // A file cut shorter than the checkpoint is not resumed.
        std::fs::write(&path, "n\n").unwrap();
        let err = open_at(&path, &encoding, schema(), at.unwrap()).unwrap_err();
        assert!(err.to_string().contains("it now has 2"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "n\n");
    }
}
