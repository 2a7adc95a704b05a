//! velo-io: how Velo reads records from sources and writes them to sinks.
//!
//! This crate turns a typed [`SourceConfig`] or [`SinkConfig`] (built and validated by
//! the planner from an app's WITH properties, SPEC §3) into a [`DataReader`] or a
//! [`DataWriter`]: CSV with or without a header, JSON lines, files, stdin/stdout,
//! Kafka topics ([`kafka`]) and a deterministic generator for tests and benchmarks. It knows nothing of SQL, planning,
//! watermarks or partitioning; it only decodes text into [`Batch`]es of typed
//! [`velo_types::Value`]s and encodes batches back into text (the output renderings
//! live in [`render`]).
//!
//! Key design choices:
//! - **Batches, not records.** Readers fill a [`velo_types::BatchBuilder`] directly,
//!   one allocation per batch plus one `Arc<str>` per string value; column names and
//!   types are resolved once at open, never looked up per record.
//! - **The schema is known at open.** [`open_reader`] reads a CSV header, and without
//!   a declared schema (`NAME.schema`) infers the column types from a sample of the
//!   first 1000 records, before it returns; [`DataReader::schema`] is valid at once.
//! - **Blocking IO inside async fns.** The traits are async so that network
//!   sources fit, but the file, stdin and stdout adapters use `std::io`
//!   (buffered) inside their async fns, and the Kafka adapters wait on librdkafka
//!   (at most [`kafka::POLL_WAIT`] per read; a flush or a commit until the
//!   brokers answer). Drive them from a dedicated thread or a
//!   current-thread runtime (or `tokio::task::spawn_blocking`), not from a shared
//!   multi-threaded runtime's worker that must stay responsive.
//! - **Errors name the place.** A record that cannot be decoded yields an [`Error`]
//!   naming the file, the 1-based physical line, the column and what was expected,
//!   e.g. `orders.csv:17: expected 4 fields, found 3`, and keeps the record's raw
//!   text ([`Error::raw_record`]) so that it can be dead-lettered as it was read.
//!   Rows decoded before it are returned first, and the reader stays usable: the
//!   next call continues after the bad record.
//! - **Rows know where they came from.** File and stdin readers attach each row's
//!   source position to its batch ([`Batch::positions`]): the 1-based physical line
//!   where its record starts, the line an error about it would name. The Kafka
//!   reader attaches each message's offset (errors name `topic[partition]:offset`).
//!   The generator attaches none.
//! - **File readers can resume.** A file reader reports its [`DataReader::position`]
//!   (the byte and line where the next record starts) after every batch and record
//!   error; a reader opened with [`ReaderOptions::resume`] at such a position reads
//!   the header (and infers the columns) as on a first open, then continues there,
//!   returning exactly what the first reader would have returned after it. Tracking
//!   it costs two or three integer updates per record.

mod csv_source;
mod error;
pub mod file_sink;
pub mod generator;
mod json_source;
pub mod kafka;
pub mod kafka_table;
pub mod nexmark;
pub mod parallel_file;
mod parse;
pub mod render;
pub mod stdin;
pub mod stdout;
pub mod system_columns;
mod writer;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use async_trait::async_trait;
use velo_types::connector::{SinkConfig, SourceConfig};
use velo_types::{Batch, SchemaRef};

pub use csv_source::CsvReader;
pub use error::{Error, Result, RAW_RECORD_LIMIT};
pub use generator::{generate, Generator, GeneratorReader};
pub use json_source::JsonLinesReader;
pub use kafka::{KafkaReader, KafkaWriter};
pub use nexmark::{NexmarkGenerator, NexmarkReader};
pub use writer::{Durable, TextWriter};

/// The number of records sampled to infer column types when no schema is declared.
pub const INFERENCE_SAMPLE_RECORDS: usize = 1000;

/// Where a file reader is: the byte offset and the 1-based physical line at which
/// the next record starts, after everything it has returned (rows and record errors).
///
/// Precisely: `byte` is just past the last record returned and its line terminator
/// (for CSV, possibly between the CR and the LF of a CRLF: the parser stops after
/// the CR), or, before any, past the CSV header (0 without one). Only line breaks
/// (blank lines) can lie between `byte` and the next record, which a resumed reader
/// skips as the first one did. `line` is the physical line of `byte`: 1 plus
/// the number of `\n` bytes before it. At the end of the input `byte` is the file's
/// length. A record error counts as returned only once [`DataReader::next_batch`]
/// has returned it: an error read ahead and deferred after the rows before it is
/// still ahead of the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourcePosition {
    pub byte: u64,
    pub line: u64,
}

impl SourcePosition {
    /// The start of an input: byte 0, line 1.
    pub const START: SourcePosition = SourcePosition { byte: 0, line: 1 };
}

/// A source of record batches.
///
/// The schema is fixed when the reader is opened. [`DataReader::next_batch`] returns
/// batches of at most [`ReaderOptions::batch_size`] rows and `None` once the source
/// is exhausted. Bounded sources (files, stdin, the generator) never return an
/// empty batch; unbounded sources (Kafka) never return `None` and may return
/// empty batches, so that callers can advance idle watermarks and check for stop
/// requests while no record arrives.
///
/// ```
/// use velo_io::{open_reader, DataReader, ReaderOptions};
/// use velo_types::connector::{GeneratorProfile, SourceConfig};
///
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let config = SourceConfig::Generator { profile: GeneratorProfile::Orders, records: 2500 };
///     let mut reader = open_reader(&config, &ReaderOptions { batch_size: 1000, ..Default::default() }).await?;
///     assert_eq!(reader.schema().field(0).name.as_ref(), "order_id");
///     let mut rows = 0;
///     while let Some(batch) = reader.next_batch().await? {
///         rows += batch.num_rows();
///     }
///     reader.commit().await?;
///     assert_eq!(rows, 2500);
///     Ok::<(), velo_io::Error>(())
/// })
/// .unwrap();
/// ```
#[async_trait]
pub trait DataReader: Send {
    /// The columns of every batch this reader returns.
    fn schema(&self) -> SchemaRef;

    /// The next batch, or `None` when the source is exhausted. After an error about
    /// one record ([`Error::is_record_error`]) the reader may be called again and
    /// continues with the next record.
    ///
    /// Unbounded sources may return an empty batch (0 rows) when nothing arrived
    /// within a short wait (Kafka: [`kafka::POLL_WAIT`]), so that callers can
    /// advance idle watermarks and check for stop requests; they never return
    /// `None`.
    async fn next_batch(&mut self) -> Result<Option<Batch>>;

    /// Acknowledges everything returned so far (offsets, for sources that have them);
    /// a no-op for files, stdin and the generator.
    async fn commit(&mut self) -> Result<()>;

    /// The source partitions this reader currently reads (for Kafka, the
    /// partitions the consumer group assigned to it, ascending; they change when
    /// the group rebalances). `None` for sources with a single partition (files,
    /// stdin, the generator), which is the default.
    fn source_partitions(&self) -> Option<Vec<u32>> {
        None
    }

    /// Commits, synchronously, for each listed `(partition, offset)`, the offset
    /// of the next record to read in that partition (one past the last record
    /// the caller has finished with): a restarted reader in the same consumer
    /// group resumes there. Partitions not listed keep their committed offset;
    /// a Kafka reader also leaves out partitions no longer assigned to it (see
    /// [`DataReader::source_partitions`]), whose new owner commits them. The
    /// default, for sources without offsets, does nothing.
    async fn commit_offsets(&mut self, offsets: &[(u32, u64)]) -> Result<()> {
        let _ = offsets;
        Ok(())
    }

    /// For a partitioned source (Kafka): per partition it has read from, the
    /// offset after the last message it returned (as a row, a skipped
    /// message or a record error), for a checkpoint. `None` for others.
    fn consumed_offsets(&self) -> Option<Vec<(u32, u64)>> {
        None
    }

    /// Threads of its own the reader keeps busy besides the caller's (its
    /// decoding and splitting threads); 0 for most readers. The runtime counts
    /// them when it decides whether its own threads may spin on a core.
    fn helper_threads(&self) -> usize {
        0
    }

    /// For a reader that can be resumed (files): its position after what it has
    /// returned so far, exact after every `next_batch` that returned a batch or a
    /// record error (see [`SourcePosition`]); pass it as [`ReaderOptions::resume`]
    /// to a new reader of the same file to continue there. Default `None` (stdin,
    /// the generator, Kafka).
    fn position(&self) -> Option<SourcePosition> {
        None
    }
}

/// A sink of record batches.
///
/// Rows are encoded in the sink's format (SPEC §3 renderings) and buffered;
/// [`DataWriter::flush`] pushes them to the file or stream, [`DataWriter::close`]
/// flushes and releases it. Writing after `close` is an error.
///
/// ```
/// use std::sync::Arc;
/// use velo_io::{DataWriter, TextWriter};
/// use velo_types::connector::Format;
/// use velo_types::{Batch, DataType, Field, Schema, Value};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("id", DataType::Int),
///     Field::new("ts", DataType::Timestamp),
/// ]));
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let text = rt.block_on(async {
///     let mut writer = TextWriter::new(Vec::new(), "memory", Format::JsonLines, b',', schema.clone())?;
///     let batch = Batch::new(schema, vec![Value::Int(1), Value::Timestamp(1_705_312_800_000)])?;
///     writer.write_batch(&batch).await?;
///     writer.close().await?;
///     Ok::<_, velo_io::Error>(writer.into_inner())
/// })
/// .unwrap();
/// assert_eq!(String::from_utf8(text.unwrap()).unwrap(), "{\"id\":1,\"ts\":\"2024-01-15T10:00:00.000Z\"}\n");
/// ```
#[async_trait]
pub trait DataWriter: Send {
    /// Encodes every row of `batch`; its width must be the sink's.
    async fn write_batch(&mut self, batch: &Batch) -> Result<()>;

    /// Pushes buffered rows to the underlying file or stream. A Kafka writer
    /// returns once the brokers acknowledged every message produced so far, or
    /// with an error naming the topic and the first failure (the refused
    /// messages are produced again by the next flush).
    async fn flush(&mut self) -> Result<()>;

    /// Flushes and releases the sink; later writes fail with [`Error::Closed`].
    async fn close(&mut self) -> Result<()>;

    /// For a checkpoint: flushes, and returns the position a restore cuts
    /// the output back to (a file sink's length), or `None` for a sink that
    /// cannot be cut back (stdout, Kafka without transactions:
    /// at-least-once). What was written is durable once
    /// [`DataWriter::sync_handle`]'s `sync_data` has returned.
    async fn commit_point(&mut self) -> Result<Option<u64>> {
        self.flush().await?;
        Ok(None)
    }

    /// A handle that makes the sink's output durable (`sync_data`), for the
    /// thread that writes a checkpoint; `None` when there is none (stdout,
    /// Kafka: flushing is all there is).
    fn sync_handle(&self) -> Option<std::fs::File> {
        None
    }
}

/// Options for opening a reader.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// The maximum number of rows per batch (default 1024; 0 is treated as 1).
    pub batch_size: usize,
    /// Append SPEC §2's system columns (`_key`, `_partition`, `_offset`,
    /// `_timestamp`) to a source that has no such columns of its own (see
    /// [`system_columns`](crate::system_columns)); Kafka sources always carry
    /// them. Off by default: the planner asks for them when a query uses one.
    pub system_columns: bool,
    /// The job's stop signal (SIGINT / SIGTERM), for a reader that waits for
    /// data before it can be opened: a Kafka source without a declared schema
    /// waits for its first messages, and gives up with [`Error::Stopped`] once
    /// this is set. `None`: wait until data arrives.
    pub stop: Option<Arc<AtomicBool>>,
    /// Resume a file reader at a position an earlier reader of the same file reported:
    /// the header is read (and, without a declared schema, the columns inferred from the
    /// file's first records) exactly as on a first open, then reading continues at `byte`,
    /// numbering lines from `line`. None: from the start.
    ///
    /// Opening fails with [`Error::Resume`] naming the file when the position cannot
    /// be where a record starts in it: the file is shorter than `byte`, `byte` lies
    /// inside the header, or the byte before it is not a line break (`\n` or `\r`;
    /// not checked at the file's end). Beyond these checks a file changed since the
    /// position was taken gives the natural outcome: records are read from `byte` as
    /// they parse, and lines are numbered from `line`. Only file sources can resume;
    /// `Some` for any other source is an [`Error::Resume`].
    pub resume: Option<SourcePosition>,
    /// Threads that decode the source in parallel, for a source that can be
    /// split (a CSV or JSON lines file, the unpaced Nexmark generator): each
    /// makes every `readers`-th chunk of the input and the reader returns the
    /// chunks in order, so the batches, errors and positions are exactly those
    /// of one reader ([`parallel_file`], [`nexmark::ParallelNexmarkReader`]).
    /// 1 (the default): the reader's own thread only.
    pub readers: usize,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            batch_size: 1024,
            system_columns: false,
            stop: None,
            resume: None,
            readers: 1,
        }
    }
}

impl ReaderOptions {
    pub(crate) fn effective_batch_size(&self) -> usize {
        self.batch_size.max(1)
    }

    /// Whether the job was told to stop.
    pub(crate) fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Opens the reader for a source. File paths must already be resolved. For text
/// sources this reads the header and, without a declared schema, a sample of up to
/// [`INFERENCE_SAMPLE_RECORDS`] records to infer the column types, so the returned
/// reader knows its schema. A Kafka reader connects, checks that the topic exists
/// and subscribes (see [`KafkaReader::open`]).
pub async fn open_reader(
    config: &SourceConfig,
    options: &ReaderOptions,
) -> Result<Box<dyn DataReader>> {
    if options.resume.is_some() && !matches!(config, SourceConfig::File { .. }) {
        let path = match config {
            SourceConfig::Stdin { .. } => stdin::STDIN_LABEL.to_string(),
            SourceConfig::Kafka(kafka) => kafka.topic.clone(),
            SourceConfig::Nexmark(n) => format!("nexmark {}", n.table.name()),
            _ => "generator".to_string(),
        };
        return Err(Error::Resume {
            path,
            message: "only file sources can resume at a position".into(),
        });
    }
    let reader: Box<dyn DataReader> = match config {
        SourceConfig::File { path, encoding } => {
            csv_source::open_file_reader(path, encoding, options)?
        }
        SourceConfig::Stdin { encoding } => stdin::open(encoding, options)?,
        SourceConfig::Generator { profile, records } => Box::new(GeneratorReader::new(
            *profile,
            *records,
            options.effective_batch_size(),
        )),
        SourceConfig::Kafka(kafka) => return Ok(Box::new(KafkaReader::open(kafka, options)?)),
        SourceConfig::Nexmark(nexmark) if options.readers > 1 && nexmark.rate.is_none() => {
            Box::new(nexmark::ParallelNexmarkReader::new(
                nexmark,
                options.effective_batch_size(),
                options.readers,
            ))
        }
        SourceConfig::Nexmark(nexmark) => {
            Box::new(NexmarkReader::new(nexmark, options.effective_batch_size()))
        }
    };
    Ok(if options.system_columns {
        system_columns::SystemColumnsReader::wrap(reader)
    } else {
        reader
    })
}

/// Opens the writer for a sink, which writes rows of `schema`. A file sink creates or
/// truncates its file (CSV formats with a header line write it at once); a Kafka
/// sink connects and checks that the topic exists (see [`KafkaWriter::open`]).
pub async fn open_writer(config: &SinkConfig, schema: SchemaRef) -> Result<Box<dyn DataWriter>> {
    open_writer_at(config, schema, None).await
}

/// [`open_writer`], resuming at a checkpoint's [`DataWriter::commit_point`]:
/// a file sink keeps its file, cut back to `resume` bytes (what was written
/// after the checkpoint goes), and appends. Other sinks open as usual.
pub async fn open_writer_at(
    config: &SinkConfig,
    schema: SchemaRef,
    resume: Option<u64>,
) -> Result<Box<dyn DataWriter>> {
    match (config, resume) {
        (SinkConfig::File { path, encoding }, Some(len)) => {
            Ok(Box::new(file_sink::open_at(path, encoding, schema, len)?))
        }
        _ => open_new_writer(config, schema),
    }
}

fn open_new_writer(config: &SinkConfig, schema: SchemaRef) -> Result<Box<dyn DataWriter>> {
    match config {
        SinkConfig::File { path, encoding } => {
            Ok(Box::new(file_sink::open(path, encoding, schema)?))
        }
        SinkConfig::Stdout { encoding } => Ok(Box::new(stdout::open(encoding, schema)?)),
        SinkConfig::Kafka(kafka) => Ok(Box::new(KafkaWriter::open(kafka, schema)?)),
    }
}

/// The read buffer of a JSON-lines reader.
pub(crate) const JSON_READ_BUFFER: usize = 256 * 1024;

/// The error for a resume position past the end of the input (`len` bytes).
#[cold]
pub(crate) fn resume_past_end(label: &str, at: SourcePosition, len: u64) -> Error {
    Error::Resume {
        path: label.to_string(),
        message: format!(
            "the file is shorter than the checkpoint's position: it has {len} bytes, the position is \
             byte {} (line {}); was it replaced or truncated since the checkpoint?",
            at.byte, at.line
        ),
    }
}

/// The error for a resume position that cannot be where a record starts.
#[cold]
pub(crate) fn resume_not_a_record_start(label: &str, at: SourcePosition, why: &str) -> Error {
    Error::Resume {
        path: label.to_string(),
        message: format!(
            "the checkpoint's position, byte {} (line {}), is not where a record starts: {why}; \
             the file changed since the checkpoint",
            at.byte, at.line
        ),
    }
}

/// Opens a text-format reader (CSV, header-less CSV or JSON lines) over any byte
/// stream; `label` names it in error messages. It reports no position and
/// ignores [`ReaderOptions::resume`] (files are opened by `open_file_reader`).
pub(crate) fn open_text_reader<R: std::io::Read + Send + 'static>(
    input: R,
    label: &str,
    encoding: &velo_types::connector::Encoding,
    options: &ReaderOptions,
) -> Result<Box<dyn DataReader>> {
    use velo_types::connector::Format;
    match encoding.format {
        Format::Csv | Format::CsvNoHeader => {
            Ok(Box::new(CsvReader::new(input, label, encoding, options)?))
        }
        Format::JsonLines => {
            let input = std::io::BufReader::with_capacity(JSON_READ_BUFFER, input);
            Ok(Box::new(JsonLinesReader::new(
                input, label, encoding, options,
            )?))
        }
    }
}
