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

/// The underlying writer, holding on to every byte it could not write.
///
/// Writes never fail here: bytes the underlying writer refuses (a full disk, a
/// closed pipe) are kept, in order, with the first error. [`Write::flush`]
/// hands everything kept to the underlying writer and reports that error, or
/// the next one; calling it again retries from the first byte not yet written.
/// So a failed write loses nothing and duplicates nothing, and a sink can
/// retry with backoff.
#[derive(Debug)]
struct Retained<W: Write> {
    inner: W,
    pending: Vec<u8>,
    error: Option<std::io::Error>,
}

impl<W: Write> Retained<W> {
    fn new(inner: W) -> Self {
        Retained {
            inner,
            pending: Vec::new(),
            error: None,
        }
    }

    /// Writes `bytes` to the underlying writer; returns how many it took before
    /// an error, with the error.
    fn write_through(inner: &mut W, bytes: &[u8]) -> (usize, Option<std::io::Error>) {
        let mut done = 0;
        while done < bytes.len() {
            match inner.write(&bytes[done..]) {
                Ok(0) => return (done, Some(std::io::ErrorKind::WriteZero.into())),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return (done, Some(e)),
            }
        }
        (done, None)
    }
}

impl<W: Write> Write for Retained<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.error.is_some() || !self.pending.is_empty() {
            self.pending.extend_from_slice(bytes);
        } else {
            let (done, error) = Self::write_through(&mut self.inner, bytes);
            if let Some(e) = error {
                self.pending.extend_from_slice(&bytes[done..]);
                self.error = Some(e);
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            // Report a failure once; the next flush retries.
            return Err(e);
        }
        let (done, error) = Self::write_through(&mut self.inner, &self.pending);
        self.pending.drain(..done);
        match error {
            Some(e) => Err(e),
            None => self.inner.flush(),
        }
    }
}

#[derive(Debug)]
enum Encoder<W: Write> {
    Json {
        out: Retained<W>,
        buf: Vec<u8>,
        enc: JsonRowEncoder,
    },
    Csv {
        wtr: Box<csv::Writer<Retained<W>>>,
        field: Vec<u8>,
    },
}

/// Writes batches as JSON lines or CSV to a blocking `std::io::Write` (a file,
/// stdout, a `Vec<u8>`).
///
/// Each [`write_batch_sync`](Self::write_batch_sync) hands the whole batch to the
/// underlying writer before it returns `Ok`, so a caller can count its rows as
/// written. When the underlying writer fails, the bytes it did not take are kept
/// and the error is returned; [`flush_sync`](Self::flush_sync) retries them (see
/// the private `Retained` wrapper), so nothing is lost or written twice.
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
        TextWriter::with_header(out, label, format, delimiter, schema, true)
    }

    /// [`TextWriter::new`], writing CSV's header line only when `header` (a
    /// file resumed after a checkpoint has one already).
    pub fn with_header(
        out: W,
        label: &str,
        format: Format,
        delimiter: u8,
        schema: SchemaRef,
        header: bool,
    ) -> Result<TextWriter<W>> {
        let encoder = match format {
            Format::JsonLines => Encoder::Json {
                out: Retained::new(out),
                buf: Vec::with_capacity(WRITE_CHUNK + 4096),
                enc: JsonRowEncoder::new(&schema),
            },
            Format::Csv | Format::CsvNoHeader => {
                let mut wtr = csv::WriterBuilder::new()
                    .delimiter(delimiter)
                    .buffer_capacity(WRITE_CHUNK)
                    .from_writer(Retained::new(out));
                if format == Format::Csv && header {
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
                        // `Retained` takes every byte; failures surface at the flush.
                        let _ = out.write_all(buf);
                        buf.clear();
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
        self.flush_sync()
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

    /// Flushes and marks the writer closed; closing twice is harmless. When the
    /// flush fails the writer stays open, so closing again retries it.
    pub fn close_sync(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.flush_sync()?;
        self.closed = true;
        Ok(())
    }

    fn inner(&self) -> &W {
        match &self.encoder {
            Encoder::Json { out, .. } => &out.inner,
            Encoder::Csv { wtr, .. } => &wtr.get_ref().inner,
        }
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W> {
        self.flush_sync()?;
        match self.encoder {
            Encoder::Json { out, .. } => Ok(out.inner),
            Encoder::Csv { wtr, .. } => wtr.into_inner().map(|r| r.inner).map_err(|e| Error::Io {
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

/// Where a text writer's output goes, for checkpoints: a file (its length is
/// the position; a cloned handle makes it durable from another thread) or a
/// stream that cannot be cut back (stdout, a buffer).
pub trait Durable: Write {
    /// The length written so far (everything flushed), or `None` when the
    /// destination cannot be cut back to it.
    fn position(&self) -> std::io::Result<Option<u64>>;

    /// A handle whose `sync_data` makes what was written durable, for
    /// another thread to call; `None` when there is nothing to sync.
    fn sync_handle(&self) -> Option<std::fs::File> {
        None
    }
}

impl Durable for std::fs::File {
    fn position(&self) -> std::io::Result<Option<u64>> {
        use std::io::Seek;
        let mut file: &std::fs::File = self;
        file.stream_position().map(Some)
    }

    fn sync_handle(&self) -> Option<std::fs::File> {
        self.try_clone().ok()
    }
}

impl Durable for std::io::Stdout {
    fn position(&self) -> std::io::Result<Option<u64>> {
        Ok(None)
    }
}

impl Durable for Vec<u8> {
    fn position(&self) -> std::io::Result<Option<u64>> {
        Ok(None)
    }
}

#[async_trait]
impl<W: Durable + Send> DataWriter for TextWriter<W> {
    async fn write_batch(&mut self, batch: &Batch) -> Result<()> {
        self.write_batch_sync(batch)
    }

    async fn flush(&mut self) -> Result<()> {
        self.flush_sync()
    }

    async fn commit_point(&mut self) -> Result<Option<u64>> {
        self.flush_sync()?;
        self.inner().position().map_err(|e| self.io_error(e))
    }

    fn sync_handle(&self) -> Option<std::fs::File> {
        self.inner().sync_handle()
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

    /// Accepts bytes up to `room` (a few at a time), then fails like a full
    /// disk until given more room.
    #[derive(Clone, Default)]
    struct Disk {
        data: Arc<std::sync::Mutex<Vec<u8>>>,
        room: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Write for Disk {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut data = self.data.lock().unwrap();
            let room = self.room.load(std::sync::atomic::Ordering::SeqCst);
            if data.len() >= room {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            let n = bytes.len().min(room - data.len()).min(7);
            data.extend_from_slice(&bytes[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_keeps_the_rest_and_a_retry_writes_it_once() {
        for format in [Format::JsonLines, Format::Csv] {
            let expected = render(format, b',');
            let disk = Disk::default();
            disk.room.store(20, std::sync::atomic::Ordering::SeqCst);
            let mut w = TextWriter::new(disk.clone(), "disk", format, b',', schema()).unwrap();
            let e = w.write_batch_sync(&batch()).unwrap_err();
            assert!(e.to_string().starts_with("disk: "), "{e}");
            assert!(matches!(e, Error::Io { .. }));
            // Still full: the retry fails too, and closing does not pretend.
            assert!(w.flush_sync().is_err());
            assert!(w.close_sync().is_err());
            assert_eq!(disk.data.lock().unwrap().len(), 20);
            disk.room
                .store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
            w.close_sync().unwrap();
            let written = String::from_utf8(disk.data.lock().unwrap().clone()).unwrap();
            assert_eq!(written, expected, "{format:?}");
        }
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
