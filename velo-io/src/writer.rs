//! The text writer shared by the file and stdout sinks: JSON lines or CSV over any
//! `std::io::Write`, rendered with [`crate::render`].

use std::io::Write;

use async_trait::async_trait;
use velo_types::connector::Format;
use velo_types::{Batch, SchemaRef};

use crate::error::{Error, Result};
use crate::render::{write_text_value, JsonRowEncoder};
use crate::DataWriter;

/// Rendered bytes are handed to the underlying writer in chunks of about this size.
const WRITE_CHUNK: usize = 128 * 1024;

#[derive(Debug)]
enum Encoder<W: Write> {
    Json {
        out: W,
        buf: Vec<u8>,
        enc: JsonRowEncoder,
    },
    Csv {
        wtr: Box<csv::Writer<W>>,
        field: Vec<u8>,
    },
}

/// Writes batches as JSON lines or CSV to a blocking `std::io::Write` (a file,
/// stdout, a `Vec<u8>`), buffering about 128 KiB between writes.
///
/// [`Format::Csv`] writes a header line when the writer is created;
/// [`Format::CsvNoHeader`] writes none.
#[derive(Debug)]
pub struct TextWriter<W: Write> {
    label: String,
    width: usize,
    encoder: Encoder<W>,
    closed: bool,
}

impl<W: Write> TextWriter<W> {
    /// A writer of rows of `schema` in `format` (`delimiter` is used by CSV);
    /// `label` names the destination in error messages.
    pub fn new(
        out: W,
        label: &str,
        format: Format,
        delimiter: u8,
        schema: SchemaRef,
    ) -> Result<TextWriter<W>> {
        let encoder = match format {
            Format::JsonLines => Encoder::Json {
                out,
                buf: Vec::with_capacity(WRITE_CHUNK + 4096),
                enc: JsonRowEncoder::new(&schema),
            },
            Format::Csv | Format::CsvNoHeader => {
                let mut wtr = csv::WriterBuilder::new()
                    .delimiter(delimiter)
                    .buffer_capacity(WRITE_CHUNK)
                    .from_writer(out);
                if format == Format::Csv {
                    wtr.write_record(schema.names())
                        .map_err(|e| csv_write_error(label, e))?;
                }
                Encoder::Csv {
                    wtr: Box::new(wtr),
                    field: Vec::with_capacity(64),
                }
            }
        };
        Ok(TextWriter {
            label: label.to_string(),
            width: schema.len(),
            encoder,
            closed: false,
        })
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.label.clone(),
            source,
        }
    }

    /// Encodes every row of `batch` (see [`DataWriter::write_batch`]).
    pub fn write_batch_sync(&mut self, batch: &Batch) -> Result<()> {
        if self.closed {
            return Err(Error::Closed {
                path: self.label.clone(),
            });
        }
        if batch.width() != self.width {
            return Err(Error::BatchWidth {
                path: self.label.clone(),
                expected: self.width,
                found: batch.width(),
            });
        }
        match &mut self.encoder {
            Encoder::Json { out, buf, enc } => {
                for row in batch.rows() {
                    enc.encode_row(row, buf);
                    if buf.len() >= WRITE_CHUNK {
                        let r = out.write_all(buf);
                        buf.clear();
                        r.map_err(|source| Error::Io {
                            path: self.label.clone(),
                            source,
                        })?;
                    }
                }
            }
            Encoder::Csv { wtr, field } => {
                for row in batch.rows() {
                    for value in row {
                        field.clear();
                        write_text_value(field, value);
                        wtr.write_field(&field[..])
                            .map_err(|e| csv_write_error(&self.label, e))?;
                    }
                    wtr.write_record(None::<&[u8]>)
                        .map_err(|e| csv_write_error(&self.label, e))?;
                }
            }
        }
        Ok(())
    }

    /// Writes out everything buffered and flushes the underlying writer.
    pub fn flush_sync(&mut self) -> Result<()> {
        let r = match &mut self.encoder {
            Encoder::Json { out, buf, .. } => {
                let r = out.write_all(buf).and_then(|()| out.flush());
                buf.clear();
                r
            }
            Encoder::Csv { wtr, .. } => wtr.flush(),
        };
        r.map_err(|e| self.io_error(e))
    }

    /// Flushes and marks the writer closed; closing twice is harmless.
    pub fn close_sync(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.flush_sync()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W> {
        self.flush_sync()?;
        match self.encoder {
            Encoder::Json { out, .. } => Ok(out),
            Encoder::Csv { wtr, .. } => wtr.into_inner().map_err(|e| Error::Io {
                path: self.label.clone(),
                source: std::io::Error::new(e.error().kind(), e.error().to_string()),
            }),
        }
    }
}

fn csv_write_error(label: &str, e: csv::Error) -> Error {
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io {
            path: label.to_string(),
            source,
        },
        _ => Error::Io {
            path: label.to_string(),
            source: std::io::Error::other(message),
        },
    }
}

#[async_trait]
impl<W: Write + Send> DataWriter for TextWriter<W> {
    async fn write_batch(&mut self, batch: &Batch) -> Result<()> {
        self.write_batch_sync(batch)
    }

    async fn flush(&mut self) -> Result<()> {
        self.flush_sync()
    }

    async fn close(&mut self) -> Result<()> {
        self.close_sync()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use velo_types::{DataType, Decimal, Field, Schema, Value};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int),
            Field::new("name", DataType::String),
            Field::new(
                "amount",
                DataType::Decimal {
                    precision: 10,
                    scale: 2,
                },
            ),
            Field::new("ts", DataType::Timestamp),
            Field::new("x", DataType::Float),
        ]))
    }

    fn batch() -> Batch {
        Batch::new(
            schema(),
            vec![
                Value::Int(1),
                Value::str("a,\"b\"\nc"),
                Value::Decimal(Decimal::new(1230, 2)),
                Value::Timestamp(1_705_312_800_000),
                Value::Float(150.0),
                Value::Int(2),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
        )
        .unwrap()
    }

    fn render(format: Format, delimiter: u8) -> String {
        let mut w = TextWriter::new(Vec::new(), "mem", format, delimiter, schema()).unwrap();
        w.write_batch_sync(&batch()).unwrap();
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn json_lines_output() {
        assert_eq!(
            render(Format::JsonLines, b','),
            "{\"id\":1,\"name\":\"a,\\\"b\\\"\\nc\",\"amount\":\"12.30\",\"ts\":\"2024-01-15T10:00:00.000Z\",\"x\":150.0}\n\
             {\"id\":2,\"name\":null,\"amount\":null,\"ts\":null,\"x\":null}\n"
        );
    }

    #[test]
    fn csv_output_with_and_without_header() {
        assert_eq!(
            render(Format::Csv, b','),
            "id,name,amount,ts,x\n1,\"a,\"\"b\"\"\nc\",12.30,2024-01-15T10:00:00.000Z,150.0\n2,,,,\n"
        );
        assert_eq!(
            render(Format::CsvNoHeader, b'|'),
            "1|\"a,\"\"b\"\"\nc\"|12.30|2024-01-15T10:00:00.000Z|150.0\n2||||\n"
        );
    }

    #[test]
    fn closed_writer_and_wrong_width_are_errors() {
        let mut w = TextWriter::new(Vec::new(), "mem", Format::JsonLines, b',', schema()).unwrap();
        let narrow = Arc::new(Schema::new(vec![Field::new("id", DataType::Int)]));
        let e = w
            .write_batch_sync(&Batch::new(narrow, vec![Value::Int(1)]).unwrap())
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::BatchWidth {
                    expected: 5,
                    found: 1,
                    ..
                }
            ),
            "{e}"
        );
        w.close_sync().unwrap();
        w.close_sync().unwrap();
        assert!(matches!(
            w.write_batch_sync(&batch()),
            Err(Error::Closed { .. })
        ));
    }
}
