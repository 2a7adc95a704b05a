//! CSV sources, with a header line (`csv`) or without (`csv_no_header`).
//!
//! Records are read as `csv::ByteRecord`s (no per-record UTF-8 validation of the
//! whole line, no `String` per field) and converted field by field into the batch
//! under construction. An empty field is NULL whatever the column type.
//!
//! Columns:
//! - with a declared schema, the reader's schema is exactly the declared one; with a
//!   header, each declared column is found in the header by name once at open
//!   (exact match first, else the only case-insensitive match) and header columns
//!   that are not declared are skipped; without a header the columns are positional
//!   and every record must have as many fields as the schema;
//! - without a declared schema, the columns are the header's (or `c0`, `c1`, ... sized
//!   by the first record) and their types are inferred from the first
//!   [`crate::INFERENCE_SAMPLE_RECORDS`] records. The sample is kept and returned
//!   first, so nothing is read twice.
//!
//! Positions: every row's source position is the 1-based physical line where its
//! record starts, the line that error messages name. The csv parser stamps a record
//! with where it stood before reading it, which is before the previous record's
//! `\n` when lines end with CRLF and before any blank lines it skipped, so the reader
//! steps over those bytes itself. It can, because the input goes through a
//! `Recorder` that keeps the bytes from the oldest record not yet decoded on: one
//! copy of each input byte per 256 KiB read, nothing per record. The same bytes give
//! a record error its raw text ([`Error::raw_record`]).
//!
//! Resuming ([`crate::SourcePosition`]): the reader's position is the csv parser's
//! own position after the last record it returned (a byte and the parser's count
//! of `\n`s), kept per record as two integers: sampled records keep theirs, and a
//! deferred error the position after its record, which becomes the reader's only
//! when the error is returned. A resumed reader seeks the parser to that byte. To
//! leave the parser exactly as it was there (a UTF-8 BOM is only stripped at the
//! very start of a parse), it is seeked one byte earlier, onto the line break that
//! ends the previous record, which it then skips as it would a blank line.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use csv::ByteRecord;
use velo_types::connector::{Encoding, Format};
use velo_types::{Batch, BatchBuilder, DataType, Field, Schema, SchemaRef, Value};

use crate::error::{show_found, Error, Result};
use crate::json_source::JsonLinesReader;
use crate::parse::{convert_text, expected_text, ConvError, TypeGuess};
use crate::{
    resume_not_a_record_start, resume_past_end, DataReader, ReaderOptions, SourcePosition,
    INFERENCE_SAMPLE_RECORDS, JSON_READ_BUFFER,
};

const READ_BUFFER: usize = 256 * 1024;

/// The input stream, keeping what it has read from the oldest record still to be
/// decoded on, so that a record's first line and raw text can be looked up.
struct Recorder<R> {
    inner: R,
    /// The bytes read, from stream offset `base` on.
    kept: Vec<u8>,
    base: u64,
    /// Bytes before this stream offset are no longer needed.
    keep_from: u64,
    /// The inner stream has reported its end.
    eof: bool,
}

impl<R> Recorder<R> {
    fn new(inner: R) -> Recorder<R> {
        Recorder {
            inner,
            kept: Vec::new(),
            base: 0,
            keep_from: 0,
            eof: false,
        }
    }

    /// True when a record ending at stream offset `end` ended with the input: the
    /// one record whose quoting the parser may have left open.
    #[inline]
    fn ends_input(&self, end: u64) -> bool {
        self.eof && end == self.base + self.kept.len() as u64
    }

    /// The byte at stream offset `at`, if it is kept.
    #[inline]
    fn byte_at(&self, at: u64) -> Option<u8> {
        let i = usize::try_from(at.checked_sub(self.base)?).ok()?;
        self.kept.get(i).copied()
    }

    /// Where `rec` starts: the stream offset and 1-based line of its first byte.
    ///
    /// The parser stamps a record with where it stood before reading it, which is
    /// before the previous record's `\n` when lines end with CRLF (it stops at the
    /// `\r`) and before the blank lines it skips; those bytes are stepped over here.
    #[inline]
    fn start_of(&self, rec: &ByteRecord) -> (u64, u64) {
        let Some(pos) = rec.position() else {
            return (0, 0);
        };
        let (mut at, mut line) = (pos.byte(), pos.line());
        while let Some(b) = self.byte_at(at) {
            match b {
                b'\n' => line += 1,
                b'\r' => {}
                _ => break,
            }
            at += 1;
        }
        (at, line)
    }

    /// The raw bytes of a record from stream offset `start` to `end` (where the next
    /// one begins), without its line terminator; `None` if they are not kept.
    #[cold]
    fn raw(&self, start: u64, end: u64) -> Option<&[u8]> {
        let from = usize::try_from(start.checked_sub(self.base)?).ok()?;
        let to = usize::try_from(end.checked_sub(self.base)?).ok()?;
        let bytes = self.kept.get(from..to)?;
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        Some(bytes.strip_suffix(b"\r").unwrap_or(bytes))
    }
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        if n == 0 && !out.is_empty() {
            self.eof = true;
        }
        // Drop what is no longer needed once it is at least half of what is kept,
        // so that on average each byte is moved at most once.
        let unneeded = self.keep_from.saturating_sub(self.base);
        let unneeded =
            usize::try_from(unneeded).map_or(self.kept.len(), |u| u.min(self.kept.len()));
        if unneeded > 0 && unneeded * 2 >= self.kept.len() {
            self.kept.drain(..unneeded);
            self.base += unneeded as u64;
        }
        self.kept.extend_from_slice(&out[..n]);
        Ok(n)
    }
}

/// Used once, to resume: what was kept belongs to the old place.
impl<R: Seek> Seek for Recorder<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let at = self.inner.seek(pos)?;
        self.kept.clear();
        self.base = at;
        self.keep_from = at;
        self.eof = false;
        Ok(at)
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for Recorder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("inner", &self.inner)
            .field("base", &self.base)
            .field("kept_bytes", &self.kept.len())
            .field("keep_from", &self.keep_from)
            .finish()
    }
}

/// Opens a file source in any text format, at `options.resume` when set; it
/// reports its position.
pub(crate) fn open_file_reader(
    path: &Path,
    encoding: &Encoding,
    options: &ReaderOptions,
) -> Result<Box<dyn DataReader>> {
    let label = path.display().to_string();
    let io = |source| Error::Io {
        path: label.clone(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    if let Some(at) = options.resume {
        // Before the header is read: a replaced, shorter file may have none.
        let len = file.metadata().map_err(io)?.len();
        if at.byte > len {
            return Err(resume_past_end(&label, at, len));
        }
    }
    Ok(match encoding.format {
        Format::Csv | Format::CsvNoHeader => {
            let mut reader = CsvReader::new(file, &label, encoding, options)?;
            if let Some(at) = options.resume {
                reader.resume(at)?;
            }
            reader.resumable = true;
            Box::new(reader)
        }
        Format::JsonLines => {
            let input = BufReader::with_capacity(JSON_READ_BUFFER, file);
            let mut reader = JsonLinesReader::new(input, &label, encoding, options)?;
            if let Some(at) = options.resume {
                reader.resume(at)?;
            }
            reader.resumable = true;
            Box::new(reader)
        }
    })
}

/// A csv parser position as a reader position.
#[inline]
fn source_position(p: &csv::Position) -> SourcePosition {
    SourcePosition {
        byte: p.byte(),
        line: p.line(),
    }
}

/// How one record becomes one row: resolved once at open.
#[derive(Debug)]
struct Decoder {
    label: Arc<str>,
    names: Vec<Arc<str>>,
    types: Vec<DataType>,
    /// For each output column, the index of its field in a record.
    source_index: Vec<usize>,
    /// True when `source_index` is `0..n` and records have exactly `n` fields.
    identity: bool,
    /// The number of fields every record must have.
    expected_fields: usize,
    scratch: Vec<Value>,
}

impl Decoder {
    /// Appends `rec`, which starts on `line`, as a row; on an error nothing is
    /// appended.
    #[inline]
    fn decode(&mut self, rec: &ByteRecord, line: u64, builder: &mut BatchBuilder) -> Result<()> {
        if rec.len() != self.expected_fields {
            return Err(Error::FieldCount {
                path: self.label.to_string(),
                line,
                expected: self.expected_fields,
                found: rec.len(),
                raw: None,
            });
        }
        self.scratch.clear();
        if self.identity {
            for (c, field) in rec.iter().enumerate() {
                let v = self.convert(c, field, line)?;
                self.scratch.push(v);
            }
        } else {
            for c in 0..self.types.len() {
                let field = rec.get(self.source_index[c]).unwrap_or_default();
                let v = self.convert(c, field, line)?;
                self.scratch.push(v);
            }
        }
        builder.push_row(self.scratch.drain(..));
        Ok(())
    }

    #[inline]
    fn convert(&self, c: usize, field: &[u8], line: u64) -> Result<Value> {
        if field.is_empty() {
            return Ok(Value::Null);
        }
        let ty = self.types[c];
        convert_text(field, ty).map_err(|e| self.bad_value(c, field, line, e))
    }

    #[cold]
    fn bad_value(&self, c: usize, field: &[u8], line: u64, e: ConvError) -> Error {
        match e {
            ConvError::Utf8 => Error::InvalidUtf8 {
                path: self.label.to_string(),
                line,
                column: Some(self.names[c].to_string()),
                raw: None,
            },
            ConvError::Invalid => Error::BadValue {
                path: self.label.to_string(),
                line,
                column: self.names[c].to_string(),
                expected: expected_text(self.types[c]),
                found: show_found(field),
                raw: None,
            },
        }
    }
}

/// An error of the csv parser. With byte records and flexible field counts that is
/// an IO error in practice; a `Malformed` one (defensive) names the parser's
/// position and carries no raw text.
fn csv_error(label: &str, e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io {
            path: label.to_string(),
            source,
        },
        _ => Error::Malformed {
            path: label.to_string(),
            line,
            message,
            raw: None,
        },
    }
}

/// A CSV reader over any byte stream (a file, stdin, an in-memory buffer). The
/// stream is read with blocking `std::io` calls.
#[derive(Debug)]
pub struct CsvReader<R> {
    rdr: csv::Reader<Recorder<R>>,
    decoder: Decoder,
    schema: SchemaRef,
    record: ByteRecord,
    /// Sampled records not yet returned, each with the parser's position after it.
    pending: VecDeque<(ByteRecord, SourcePosition)>,
    /// An error to return after the rows decoded before it.
    pending_error: Option<Error>,
    /// A record error to return on the next call, after the rows decoded before it,
    /// with the position after its record (the position once it is returned).
    deferred: Option<(Error, SourcePosition)>,
    /// The position after everything returned so far.
    position: SourcePosition,
    /// The position after the header (the start without one): where records start.
    first: SourcePosition,
    /// Whether [`DataReader::position`] reports `position` (files, not stdin).
    pub(crate) resumable: bool,
    builder: BatchBuilder,
    /// The source position of each row in `builder`.
    positions: Vec<u64>,
    batch_size: usize,
    done: bool,
    delimiter: u8,
}

impl<R: Read> CsvReader<R> {
    /// Opens a CSV reader: reads the header (when `encoding.format` is
    /// [`Format::Csv`]) and, without `encoding.schema`, a sample to infer the column
    /// types. `label` names the input in error messages (the file path, `<stdin>`).
    /// `options.resume` is not applied here: see [`CsvReader::resume`].
    pub fn new(
        input: R,
        label: &str,
        encoding: &Encoding,
        options: &ReaderOptions,
    ) -> Result<CsvReader<R>> {
        let has_header = encoding.format == Format::Csv;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(encoding.delimiter)
            .buffer_capacity(READ_BUFFER)
            .from_reader(Recorder::new(input));
        let schema_error = |message: String| Error::Schema {
            path: label.to_string(),
            message,
        };

        let mut record = ByteRecord::new();
        let header: Option<Vec<String>> = if has_header {
            let found = rdr
                .read_byte_record(&mut record)
                .map_err(|e| csv_error(label, e))?;
            if found {
                let (start, line) = rdr.get_ref().start_of(&record);
                let names = header_names(label, &record, line).map_err(|e| {
                    match rdr.get_ref().raw(start, rdr.position().byte()) {
                        Some(raw) => e.with_raw(raw),
                        None => e,
                    }
                })?;
                Some(names)
            } else if encoding.schema.is_none() {
                return Err(schema_error(
                    "the file is empty, expected a CSV header line".into(),
                ));
            } else {
                None
            }
        } else {
            None
        };
        let first = source_position(rdr.position());

        let mut pending = VecDeque::new();
        let mut pending_error = None;
        let (fields, source_index, expected_fields) = match &encoding.schema {
            Some(declared) => {
                let fields = declared.fields().to_vec();
                match &header {
                    Some(header) => {
                        let mut index = Vec::with_capacity(fields.len());
                        for f in &fields {
                            let i = find_column(header, &f.name).ok_or_else(|| {
                                schema_error(format!(
                                    "column '{}' of the declared schema is not in the header (columns: {})",
                                    f.name,
                                    header.join(", ")
                                ))
                            })?;
                            index.push(i);
                        }
                        (fields, index, header.len())
                    }
                    None => {
                        let n = fields.len();
                        (fields, (0..n).collect(), n)
                    }
                }
            }
            None => {
                // Sample records for inference; they are returned first later.
                while pending.len() < INFERENCE_SAMPLE_RECORDS {
                    let mut rec = ByteRecord::new();
                    match rdr.read_byte_record(&mut rec) {
                        Ok(true) => pending.push_back((rec, source_position(rdr.position()))),
                        Ok(false) => break,
                        Err(e) => {
                            pending_error = Some(csv_error(label, e));
                            break;
                        }
                    }
                }
                let names: Vec<String> = match header {
                    Some(h) => h,
                    None => {
                        let Some((first, _)) = pending.front() else {
                            if let Some(e) = pending_error.take() {
                                return Err(e);
                            }
                            return Err(schema_error(
                                "the file is empty: cannot infer the columns of a CSV source without a header; declare its schema".into(),
                            ));
                        };
                        (0..first.len()).map(|i| format!("c{i}")).collect()
                    }
                };
                let n = names.len();
                let mut guesses = vec![TypeGuess::default(); n];
                for (rec, _) in pending.iter().filter(|(r, _)| r.len() == n) {
                    for (g, field) in guesses.iter_mut().zip(rec.iter()) {
                        g.observe(field);
                    }
                }
                let fields = names
                    .iter()
                    .zip(&guesses)
                    .map(|(name, g)| Field::new(name, g.result()))
                    .collect();
                (fields, (0..n).collect(), n)
            }
        };

        let identity = expected_fields == fields.len()
            && source_index.iter().enumerate().all(|(i, &s)| i == s);
        let schema = Arc::new(Schema::new(fields));
        let batch_size = options.effective_batch_size();
        let decoder = Decoder {
            label: Arc::from(label),
            names: schema.fields().iter().map(|f| f.name.clone()).collect(),
            types: schema.fields().iter().map(|f| f.data_type).collect(),
            source_index,
            identity,
            expected_fields,
            scratch: Vec::with_capacity(schema.len()),
        };
        Ok(CsvReader {
            rdr,
            decoder,
            builder: BatchBuilder::with_capacity(schema.clone(), batch_size),
            positions: Vec::with_capacity(batch_size),
            schema,
            record,
            pending,
            pending_error,
            deferred: None,
            position: first,
            first,
            resumable: false,
            batch_size,
            done: false,
            delimiter: encoding.delimiter,
        })
    }

    /// The columns of every batch.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Where the reader is, after what it has returned so far (see
    /// [`SourcePosition`]): what [`DataReader::position`] reports for a file.
    pub fn position(&self) -> SourcePosition {
        self.position
    }

    /// The next batch, read synchronously (see [`DataReader::next_batch`]).
    pub fn read_batch(&mut self) -> Result<Option<Batch>> {
        if let Some((e, after)) = self.deferred.take() {
            self.position = after;
            return Err(e);
        }
        // The position after the last row of the batch.
        let mut last = self.position;
        while self.builder.num_rows() < self.batch_size {
            // Where the record ends (the next one begins), for its raw text.
            let end = if let Some((rec, end)) = self.pending.pop_front() {
                self.record = rec;
                end
            } else if let Some(e) = self.pending_error.take() {
                // An IO error hit while sampling: reading stops there.
                self.done = true;
                return self.fail(e, last, last);
            } else if self.done {
                break;
            } else {
                // The records before this one are decoded: their bytes may go.
                let here = self.rdr.position().byte();
                self.rdr.get_mut().keep_from = here;
                match self.rdr.read_byte_record(&mut self.record) {
                    Ok(true) => source_position(self.rdr.position()),
                    Ok(false) => {
                        // Only blank lines, if anything, were left.
                        last = source_position(self.rdr.position());
                        self.done = true;
                        break;
                    }
                    Err(e) => {
                        self.done = true;
                        let e = csv_error(&self.decoder.label, e);
                        return self.fail(e, last, last);
                    }
                }
            };
            let (start, line) = self.rdr.get_ref().start_of(&self.record);
            if self.rdr.get_ref().ends_input(end.byte) {
                if let Some(e) = self.unterminated_quote(start, end.byte, line) {
                    return self.fail(e, last, end);
                }
            }
            if let Err(e) = self.decoder.decode(&self.record, line, &mut self.builder) {
                let e = match self.rdr.get_ref().raw(start, end.byte) {
                    Some(raw) => e.with_raw(raw),
                    None => e,
                };
                return self.fail(e, last, end);
            }
            self.positions.push(line);
            last = end;
        }
        self.position = last;
        Ok((!self.builder.is_empty()).then(|| self.take_batch()))
    }

    /// The last record of the input as an error when a quoted field in it is never
    /// closed: the parser takes the rest of the input into that field instead.
    #[cold]
    fn unterminated_quote(&self, start: u64, end: u64, line: u64) -> Option<Error> {
        let raw = self.rdr.get_ref().raw(start, end)?;
        if !quote_left_open(raw, self.delimiter) {
            return None;
        }
        let e = Error::Malformed {
            path: self.decoder.label.to_string(),
            line,
            message: "unterminated quoted field: a quote opened in this record is never closed, \
                      so the rest of the input would be read as one value"
                .to_string(),
            raw: None,
        };
        Some(e.with_raw(raw))
    }

    /// The rows decoded so far, with their positions.
    fn take_batch(&mut self) -> Batch {
        let positions = std::mem::replace(&mut self.positions, Vec::with_capacity(self.batch_size));
        self.builder.take().with_positions(positions)
    }

    /// Returns the rows decoded so far (`last`: the position after them), keeping
    /// `e` for the next call, or `e` itself when there are none. `after`: the
    /// position once `e` is returned (past its record for a record error, `last`
    /// for an IO error).
    fn fail(
        &mut self,
        e: Error,
        last: SourcePosition,
        after: SourcePosition,
    ) -> Result<Option<Batch>> {
        if self.builder.is_empty() {
            self.position = after;
            Err(e)
        } else {
            self.position = last;
            self.deferred = Some((e, after));
            Ok(Some(self.take_batch()))
        }
    }
}

impl<R: Read + Seek> CsvReader<R> {
    /// Continues at `at`, a position an earlier reader of the same input reported
    /// (see [`ReaderOptions::resume`]): what this reader sampled is dropped, and the
    /// next batch starts with the first record the earlier reader had not
    /// returned, lines numbered from `at.line`. An [`Error::Resume`] when `at` is
    /// past the end of the input, inside the header, or not after a line break.
    pub fn resume(&mut self, at: SourcePosition) -> Result<()> {
        let label: &str = &self.decoder.label;
        let io = |source| Error::Io {
            path: label.to_string(),
            source,
        };
        if at.byte < self.first.byte {
            let why = format!("the header ends at byte {}", self.first.byte);
            return Err(resume_not_a_record_start(label, at, &why));
        }
        let input = &mut self.rdr.get_mut().inner;
        let len = input.seek(SeekFrom::End(0)).map_err(io)?;
        if at.byte > len {
            return Err(resume_past_end(label, at, len));
        }
        // Onto the line break before `at` (see the module docs).
        let (from, line) = if at.byte == 0 || at.byte == len {
            (at.byte, at.line)
        } else {
            input.seek(SeekFrom::Start(at.byte - 1)).map_err(io)?;
            let mut before = [0u8];
            input.read_exact(&mut before).map_err(io)?;
            match before[0] {
                b'\n' => (at.byte - 1, at.line.saturating_sub(1)),
                b'\r' => (at.byte - 1, at.line),
                _ => {
                    let why = "the byte before it is not a line break";
                    return Err(resume_not_a_record_start(label, at, why));
                }
            }
        };
        // Seeking reads the parser's header record first unless it has one.
        self.rdr.set_byte_headers(ByteRecord::new());
        let mut pos = csv::Position::new();
        pos.set_byte(from).set_line(line);
        self.rdr
            .seek_raw(SeekFrom::Start(from), pos)
            .map_err(|e| csv_error(label, e))?;
        self.pending.clear();
        self.pending_error = None;
        self.deferred = None;
        self.done = false;
        self.position = at;
        Ok(())
    }
}

/// True if `record` ends inside a quoted field, read as the csv parser reads it:
/// a field is quoted when it starts with `"`; inside, `""` is a quote and a lone
/// `"` ends the quoting (the rest of the field is taken as it is).
fn quote_left_open(record: &[u8], delimiter: u8) -> bool {
    let mut field_start = true;
    let mut quoted = false;
    let mut i = 0;
    while i < record.len() {
        let b = record[i];
        if quoted {
            if b == b'"' {
                if record.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    quoted = false;
                }
            }
        } else if field_start && b == b'"' {
            quoted = true;
            field_start = false;
        } else {
            field_start = b == delimiter || b == b'\n' || b == b'\r';
        }
        i += 1;
    }
    quoted
}

/// The header's column names: trimmed, `cN` for an empty one, no duplicates.
fn header_names(label: &str, record: &ByteRecord, line: u64) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::with_capacity(record.len());
    for (i, raw) in record.iter().enumerate() {
        let name = std::str::from_utf8(raw).map_err(|_| Error::InvalidUtf8 {
            path: label.to_string(),
            line,
            column: None,
            raw: None,
        })?;
        let name = name.trim();
        let name = if name.is_empty() {
            format!("c{i}")
        } else {
            name.to_string()
        };
        if names.contains(&name) {
            return Err(Error::Schema {
                path: label.to_string(),
                message: format!("column '{name}' appears twice in the header"),
            });
        }
        names.push(name);
    }
    Ok(names)
}

/// Exact match first, else the only case-insensitive match.
fn find_column(header: &[String], name: &str) -> Option<usize> {
    if let Some(i) = header.iter().position(|h| h == name) {
        return Some(i);
    }
    let mut matches = header
        .iter()
        .enumerate()
        .filter(|(_, h)| h.eq_ignore_ascii_case(name));
    match (matches.next(), matches.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

#[async_trait]
impl<R: Read + Send> DataReader for CsvReader<R> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        self.read_batch()
    }

    async fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn position(&self) -> Option<SourcePosition> {
        self.resumable.then_some(self.position)
    }
}

#[cfg(test)]
mod tests {
    use velo_types::parse_schema_decl;

    use super::*;

    fn reader<'a>(
        text: &'a str,
        format: Format,
        schema: Option<&str>,
    ) -> Result<CsvReader<&'a [u8]>> {
        let encoding = Encoding {
            format,
            delimiter: b',',
            schema: schema.map(|s| parse_schema_decl(s).unwrap()),
        };
        CsvReader::new(
            text.as_bytes(),
            "t.csv",
            &encoding,
            &ReaderOptions {
                batch_size: 2,
                ..Default::default()
            },
        )
    }

    fn all_rows(r: &mut CsvReader<&[u8]>) -> Result<Vec<Vec<Value>>> {
        let mut rows = Vec::new();
        while let Some(b) = r.read_batch()? {
            assert!(b.num_rows() <= 2);
            rows.extend(b.rows().map(|r| r.to_vec()));
        }
        Ok(rows)
    }

    #[test]
    fn header_and_inference() {
        let mut r = reader("id,name,price\n1,a,1.5\n2,,2\n3,c,\n", Format::Csv, None).unwrap();
        let types: Vec<_> = r.schema().fields().iter().map(|f| f.data_type).collect();
        assert_eq!(types, [DataType::Int, DataType::String, DataType::Float]);
        let rows = all_rows(&mut r).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], [Value::Int(2), Value::Null, Value::Float(2.0)]);
        assert_eq!(rows[2][2], Value::Null);
        assert!(r.read_batch().unwrap().is_none());
    }

    #[test]
    fn declared_schema_selects_and_reorders_header_columns() {
        let mut r = reader(
            "a,b,c\n1,x,2024-01-15T10:00:00Z\n",
            Format::Csv,
            Some("C TIMESTAMP, a DOUBLE"),
        )
        .unwrap();
        assert_eq!(r.schema().names().collect::<Vec<_>>(), ["C", "a"]);
        let rows = all_rows(&mut r).unwrap();
        assert_eq!(
            rows[0],
            [Value::Timestamp(1_705_312_800_000), Value::Float(1.0)]
        );
        let err = reader("a,b\n1,2\n", Format::Csv, Some("z INT")).unwrap_err();
        assert!(err.to_string().contains("'z'"), "{err}");
    }

    #[test]
    fn errors_come_after_the_good_rows_and_reading_continues() {
        let mut r = reader(
            "a,b\n1,2\n3,4\n5\n6,x\n7,8\n",
            Format::Csv,
            Some("a INT, b INT"),
        )
        .unwrap();
        let b = r.read_batch().unwrap().unwrap();
        assert_eq!(b.positions(), Some(&[2, 3][..]));
        let e = r.read_batch().unwrap_err();
        assert_eq!(e.to_string(), "t.csv:4: expected 2 fields, found 1");
        assert_eq!(e.raw_record(), Some("5"));
        let e = r.read_batch().unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv:5: column 'b': expected BIGINT, found 'x'"
        );
        assert_eq!(e.raw_record(), Some("6,x"));
        let b = r.read_batch().unwrap().unwrap();
        assert_eq!(b.row(0), [Value::Int(7), Value::Int(8)]);
        assert_eq!(b.positions(), Some(&[6][..]));
        assert!(r.read_batch().unwrap().is_none());
    }

    /// Regression: a quote that was never closed took the rest of the file into one
    /// field, and the run reported nothing.
    #[test]
    fn an_unterminated_quote_is_a_record_error_at_its_starting_line() {
        let text = "a,b\n1,x\n2,\"open\n3,y\n4,z\n";
        let mut r = reader(text, Format::Csv, Some("a INT, b VARCHAR")).unwrap();
        let b = r.read_batch().unwrap().unwrap();
        assert_eq!(b.row(0), [Value::Int(1), Value::from("x")]);
        let e = r.read_batch().unwrap_err();
        assert!(e.is_record_error());
        assert_eq!(
            e.to_string(),
            "t.csv:3: unterminated quoted field: a quote opened in this record is never closed, \
             so the rest of the input would be read as one value"
        );
        assert_eq!(e.raw_record(), Some("2,\"open\n3,y\n4,z"));
        assert!(r.read_batch().unwrap().is_none());
        // Inferred types and no trailing newline: the same.
        let mut r = reader("a,b\n1,\"x\"\"y", Format::Csv, None).unwrap();
        assert_eq!(r.read_batch().unwrap_err().line(), Some(2));
    }

    #[test]
    fn closed_quotes_at_the_end_of_input_are_fine() {
        for text in [
            "a,b\n1,\"x\"\n",
            "a,b\n1,\"x\"",
            "a,b\n1,\"x\"\"y\"\n",
            "a,b\n1,\"multi\nline\"\n",
            "a,b\n1,ab\"c\n",
        ] {
            let mut r = reader(text, Format::Csv, Some("a INT, b VARCHAR")).unwrap();
            let rows = all_rows(&mut r).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(rows.len(), 1, "{text:?}");
        }
        assert!(quote_left_open(b"1;\"a;b", b';'));
        assert!(!quote_left_open(b"1;\"a;b\";c", b';'));
    }

    #[test]
    fn the_kept_bytes_stay_within_a_few_read_buffers() {
        let mut text = String::from("a,b\n");
        while text.len() < 8 * READ_BUFFER {
            text.push_str("12345,some text to fill the line up\n");
        }
        let mut r = reader(&text, Format::Csv, Some("a INT, b VARCHAR")).unwrap();
        let mut most = 0;
        let mut rows = 0;
        while let Some(b) = r.read_batch().unwrap() {
            rows += b.num_rows();
            most = most.max(r.rdr.get_ref().kept.len());
        }
        assert_eq!(rows, text.lines().count() - 1);
        assert!(most <= 3 * READ_BUFFER, "kept {most} bytes");
    }

    #[test]
    fn empty_inputs() {
        assert!(reader("", Format::Csv, None).is_err());
        assert!(reader("", Format::CsvNoHeader, None).is_err());
        let mut r = reader("", Format::CsvNoHeader, Some("a INT")).unwrap();
        assert!(r.read_batch().unwrap().is_none());
        let mut r = reader("a\n", Format::Csv, None).unwrap();
        assert_eq!(r.schema().field(0).data_type, DataType::String);
        assert!(r.read_batch().unwrap().is_none());
    }

    fn at(byte: u64, line: u64) -> SourcePosition {
        SourcePosition { byte, line }
    }

    /// Positions after CRLF records, a quoted line break and blank lines, and a
    /// reader resumed at each over a seekable stream.
    #[test]
    fn positions_are_exact_and_resume_over_any_seekable_input() {
        let text = "a,b\r\n1,\"x\r\ny\"\r\n\r\n2,z\n\n3,w";
        let mut r = reader(text, Format::Csv, Some("a INT, b VARCHAR")).unwrap();
        // The parser stops after a CR: the LF is skipped as a blank line later.
        assert_eq!(r.position(), at(4, 1));
        let mut seen = vec![r.position()];
        let mut rows = Vec::new();
        r.batch_size = 1;
        while let Some(b) = r.read_batch().unwrap() {
            rows.push((b.row(0).to_vec(), b.positions().unwrap()[0]));
            seen.push(r.position());
        }
        assert_eq!(seen, [at(4, 1), at(14, 3), at(21, 6), at(25, 7)]);
        assert_eq!(rows[1], (vec![Value::Int(2), Value::str("z")], 5));
        assert_eq!(rows[2].1, 7);
        for (i, &pos) in seen.iter().enumerate() {
            let encoding = Encoding {
                format: Format::Csv,
                delimiter: b',',
                schema: None,
            };
            let input = std::io::Cursor::new(text.as_bytes());
            let mut r =
                CsvReader::new(input, "t.csv", &encoding, &ReaderOptions::default()).unwrap();
            r.resume(pos).unwrap();
            assert_eq!(r.position(), pos);
            let mut got = Vec::new();
            while let Some(b) = r.read_batch().unwrap() {
                let lines = b.positions().unwrap().to_vec();
                got.extend(b.rows().map(<[Value]>::to_vec).zip(lines));
            }
            // Inferred types: a INT, b VARCHAR, as declared above.
            assert_eq!(got, rows[i..], "resumed at {pos:?}");
            assert_eq!(r.position(), at(25, 7));
        }
    }

    #[test]
    fn duplicate_header_names_are_refused() {
        let e = reader("a,a\n1,2\n", Format::Csv, None).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
