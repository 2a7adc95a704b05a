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

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use csv::ByteRecord;
use velo_types::connector::{Encoding, Format};
use velo_types::{Batch, BatchBuilder, DataType, Field, Schema, SchemaRef, Value};

use crate::error::{show_found, Error, Result};
use crate::parse::{convert_text, expected_text, ConvError, TypeGuess};
use crate::{DataReader, ReaderOptions, INFERENCE_SAMPLE_RECORDS};

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
}

impl<R> Recorder<R> {
    fn new(inner: R) -> Recorder<R> {
        Recorder {
            inner,
            kept: Vec::new(),
            base: 0,
            keep_from: 0,
        }
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

/// Opens a file source in any text format.
pub(crate) fn open_file_reader(
    path: &Path,
    encoding: &Encoding,
    options: &ReaderOptions,
) -> Result<Box<dyn DataReader>> {
    let label = path.display().to_string();
    let file = File::open(path).map_err(|source| Error::Io {
        path: label.clone(),
        source,
    })?;
    crate::open_text_reader(file, &label, encoding, options)
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
    /// Sampled records not yet returned, each with the stream offset where it ends.
    pending: VecDeque<(ByteRecord, u64)>,
    /// An error to return after the rows decoded before it.
    pending_error: Option<Error>,
    /// A record error to return on the next call, after the rows decoded before it.
    deferred: Option<Error>,
    builder: BatchBuilder,
    /// The source position of each row in `builder`.
    positions: Vec<u64>,
    batch_size: usize,
    done: bool,
}

impl<R: Read> CsvReader<R> {
    /// Opens a CSV reader: reads the header (when `encoding.format` is
    /// [`Format::Csv`]) and, without `encoding.schema`, a sample to infer the column
    /// types. `label` names the input in error messages (the file path, `<stdin>`).
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
                        Ok(true) => pending.push_back((rec, rdr.position().byte())),
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
            batch_size,
            done: false,
        })
    }

    /// The columns of every batch.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The next batch, read synchronously (see [`DataReader::next_batch`]).
    pub fn read_batch(&mut self) -> Result<Option<Batch>> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        while self.builder.num_rows() < self.batch_size {
            // Where the record ends (the next one begins), for its raw text.
            let end = if let Some((rec, end)) = self.pending.pop_front() {
                self.record = rec;
                end
            } else if let Some(e) = self.pending_error.take() {
                // An IO error hit while sampling: reading stops there.
                self.done = true;
                return self.fail(e);
            } else if self.done {
                break;
            } else {
                // The records before this one are decoded: their bytes may go.
                let here = self.rdr.position().byte();
                self.rdr.get_mut().keep_from = here;
                match self.rdr.read_byte_record(&mut self.record) {
                    Ok(true) => self.rdr.position().byte(),
                    Ok(false) => {
                        self.done = true;
                        break;
                    }
                    Err(e) => {
                        self.done = true;
                        let e = csv_error(&self.decoder.label, e);
                        return self.fail(e);
                    }
                }
            };
            let (start, line) = self.rdr.get_ref().start_of(&self.record);
            if let Err(e) = self.decoder.decode(&self.record, line, &mut self.builder) {
                let e = match self.rdr.get_ref().raw(start, end) {
                    Some(raw) => e.with_raw(raw),
                    None => e,
                };
                return self.fail(e);
            }
            self.positions.push(line);
        }
        Ok((!self.builder.is_empty()).then(|| self.take_batch()))
    }

    /// The rows decoded so far, with their positions.
    fn take_batch(&mut self) -> Batch {
        let positions = std::mem::replace(&mut self.positions, Vec::with_capacity(self.batch_size));
        self.builder.take().with_positions(positions)
    }

    /// Returns the rows decoded so far, keeping `e` for the next call, or `e` itself
    /// when there are none.
    fn fail(&mut self, e: Error) -> Result<Option<Batch>> {
        if self.builder.is_empty() {
            Err(e)
        } else {
            self.deferred = Some(e);
            Ok(Some(self.take_batch()))
        }
    }
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

    #[test]
    fn duplicate_header_names_are_refused() {
        let e = reader("a,a\n1,2\n", Format::Csv, None).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
