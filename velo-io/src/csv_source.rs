//! CSV sources, with a header line (`csv`) or without (`csv_no_header`).
//!
//! Records are split by [`RecordReader`], this module's own CSV parser, which
//! reads the input in large blocks and hands out each record's fields as slices:
//! of the input block itself when no field of the record is quoted, else of one
//! reused buffer holding the unquoted fields. Fields are converted one by one
//! straight into the batch under construction; nothing is allocated per record
//! but the `Arc<str>` of a string value, and not even that when a string column
//! repeats its last value (see [`StrColumn`]). An empty field is NULL whatever
//! the column type.
//!
//! The parser reads CSV exactly as the `csv` crate does with `flexible` records
//! and its defaults (which this module used before): `"` quotes, `""` inside
//! quotes is a quote, `\r`, `\n` and `\r\n` end a record, blank lines are
//! skipped, a UTF-8 BOM at the start of the input is dropped, and anything is
//! *a* parse (a quote inside an unquoted field is kept as it is; after a closing
//! quote the field goes on unquoted). Its positions are the csv parser's too
//! (see below), so checkpoints taken before stay valid. A test compares the two
//! parsers on random inputs.
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
//! record starts (after any blank lines before it), the line that error messages
//! name. The reader keeps the input from the oldest record not yet decoded on,
//! which also gives a record error its raw text ([`Error::raw_record`]); bytes
//! before that go once they are half of what is kept, so each input byte is moved
//! at most about once.
//!
//! Resuming ([`crate::SourcePosition`]): the reader's position is where the csv
//! parser stood after the last record it returned (a byte and the count of `\n`s
//! before it, plus one): after the record's `\n`, or after its `\r` when it ends
//! with `\r` or `\r\n` (the `\n` is then skipped like a blank line before the next
//! record). It is kept per record as two integers: sampled records keep theirs,
//! and a deferred error the position after its record, which becomes the
//! reader's only when the error is returned. A resumed reader starts parsing at
//! that byte, which must follow a line break (a BOM is only dropped at byte 0).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use velo_types::connector::{Encoding, Format};
use velo_types::{Batch, BatchBuilder, DataType, Field, Schema, SchemaRef, Value};

use crate::error::{show_found, Error, Result};
use crate::json_source::JsonLinesReader;
use crate::parallel_file::{ChunkDecoder, Handover, ParallelFileReader, Records};
use crate::parse::{convert_text, expected_text, parse_i64, parse_plain_f64, ConvError, TypeGuess};
use crate::{
    resume_not_a_record_start, resume_past_end, DataReader, ReaderOptions, SourcePosition,
    INFERENCE_SAMPLE_RECORDS, JSON_READ_BUFFER,
};

const READ_BUFFER: usize = 256 * 1024;

const QUOTE: u8 = b'"';
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// The fields of one record: `bounds[i]` is field `i`'s range in `data`.
#[derive(Debug, Clone, Copy)]
struct Fields<'a> {
    data: &'a [u8],
    bounds: &'a [(usize, usize)],
}

impl<'a> Fields<'a> {
    #[inline]
    fn len(&self) -> usize {
        self.bounds.len()
    }

    #[inline]
    fn get(&self, i: usize) -> &'a [u8] {
        let (from, to) = self.bounds[i];
        &self.data[from..to]
    }

    fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// A record kept beyond the next one read: a sampled record.
#[derive(Debug)]
struct OwnedRecord {
    data: Vec<u8>,
    bounds: Vec<(usize, usize)>,
    /// Where it starts: the stream offset and line of its first byte.
    start: u64,
    line: u64,
    /// The position after it.
    after: SourcePosition,
}

impl OwnedRecord {
    fn fields(&self) -> Fields<'_> {
        Fields {
            data: &self.data,
            bounds: &self.bounds,
        }
    }
}

/// Where the record last read by [`RecordReader::next_record`] lies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordSpan {
    /// The stream offset and line of its first byte.
    pub(crate) start: u64,
    pub(crate) line: u64,
    /// The position after it (where the next one may begin).
    pub(crate) after: SourcePosition,
}

/// The CSV parser (see the module docs): the input stream, the bytes read from
/// the oldest record still to be decoded on, and the fields of the last record.
pub(crate) struct RecordReader<R> {
    inner: R,
    /// `buf[..filled]` holds the stream's bytes from offset `base` on.
    buf: Vec<u8>,
    filled: usize,
    base: u64,
    /// Where the next record's search begins (an index into `buf`), and its line.
    pos: usize,
    line: u64,
    /// Bytes before this stream offset are no longer needed.
    keep_from: u64,
    /// The inner stream has reported its end.
    eof: bool,
    /// Whether a BOM may still start the stream (parsing starts at byte 0).
    at_start: bool,
    delimiter: u8,
    /// 1 for the bytes that end an unquoted field: the delimiter, `\r`, `\n`.
    stops: [u8; 256],
    /// The last record's fields, in `buf` from `record_from` on, or in `unquoted`.
    bounds: Vec<(usize, usize)>,
    unquoted: Vec<u8>,
    in_unquoted: bool,
    record_from: usize,
}

impl<R> RecordReader<R> {
    fn new(inner: R, delimiter: u8) -> RecordReader<R> {
        let mut stops = [0u8; 256];
        stops[delimiter as usize] = 1;
        stops[b'\r' as usize] = 1;
        stops[b'\n' as usize] = 1;
        RecordReader {
            inner,
            buf: Vec::new(),
            filled: 0,
            base: 0,
            pos: 0,
            line: 1,
            keep_from: 0,
            eof: false,
            at_start: true,
            delimiter,
            stops,
            bounds: Vec::new(),
            unquoted: Vec::new(),
            in_unquoted: false,
            record_from: 0,
        }
    }

    /// A parser of `bytes`, a whole number of records that lie in the input at
    /// `at`: they are all there is (no more is read), and lines are numbered
    /// from `at.line`. A BOM is dropped only at byte 0 of the input.
    pub(crate) fn over_chunk(
        inner: R,
        bytes: Vec<u8>,
        at: SourcePosition,
        delimiter: u8,
    ) -> RecordReader<R> {
        let mut r = RecordReader::new(inner, delimiter);
        r.filled = bytes.len();
        r.buf = bytes;
        r.base = at.byte;
        r.line = at.line;
        r.keep_from = at.byte;
        r.eof = true;
        r.at_start = at.byte == 0;
        r
    }

    /// The position after the last record read (after the blank lines that ended
    /// the input, once it is read to the end).
    #[inline]
    fn position(&self) -> SourcePosition {
        SourcePosition {
            byte: self.base + self.pos as u64,
            line: self.line,
        }
    }

    /// The last record's fields.
    #[inline]
    fn fields(&self) -> Fields<'_> {
        let data = if self.in_unquoted {
            &self.unquoted[..]
        } else {
            &self.buf[self.record_from..self.filled]
        };
        Fields {
            data,
            bounds: &self.bounds,
        }
    }

    /// The last record's fields, copied.
    fn owned(&self, span: RecordSpan) -> OwnedRecord {
        let fields = self.fields();
        let mut data = Vec::new();
        let mut bounds = Vec::with_capacity(fields.len());
        for f in fields.iter() {
            data.extend_from_slice(f);
            bounds.push((data.len() - f.len(), data.len()));
        }
        OwnedRecord {
            data,
            bounds,
            start: span.start,
            line: span.line,
            after: span.after,
        }
    }

    /// True when a record ending at stream offset `end` ended with the input: the
    /// one record whose quoting may have been left open.
    #[inline]
    fn ends_input(&self, end: u64) -> bool {
        self.eof && end == self.base + self.filled as u64
    }

    /// The raw bytes of a record from stream offset `start` to `end` (where the next
    /// one begins), without its line terminator; `None` if they are not kept.
    #[cold]
    fn raw(&self, start: u64, end: u64) -> Option<&[u8]> {
        let from = usize::try_from(start.checked_sub(self.base)?).ok()?;
        let to = usize::try_from(end.checked_sub(self.base)?).ok()?;
        let bytes = self.buf[..self.filled].get(from..to)?;
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        Some(bytes.strip_suffix(b"\r").unwrap_or(bytes))
    }

    /// Splits the record starting at `buf[from]` (not a line break) into
    /// `bounds`, fields in `buf`; `None` when the input read so far ends before
    /// the record does. Else where the record ends (after its terminator, or
    /// after a `\r` that may be followed by a `\n`) and the `\n`s it holds.
    /// Hands a record with a quoted field to [`RecordReader::split_quoted`].
    #[inline]
    fn split(&mut self, from: usize) -> Option<(usize, u64)> {
        if matches!(self.delimiter, b'\r' | b'\n') || from >= self.filled {
            // The delimiter is a line break itself.
            return self.split_bytewise(from);
        }
        let buf = &self.buf[..self.filled];
        self.bounds.clear();
        self.in_unquoted = false;
        self.record_from = from;
        if buf[from] == QUOTE {
            return self.split_quoted(from);
        }
        // The field ends, found eight bytes at a time.
        let end = buf.len();
        let delimiter = self.delimiter;
        let mut field = from;
        let mut i = from;
        while i + 8 <= end {
            let mut word = [0u8; 8];
            word.copy_from_slice(&buf[i..i + 8]);
            let w = u64::from_le_bytes(word);
            let mut stops =
                bytes_equal(w, delimiter) | bytes_equal(w, b'\r') | bytes_equal(w, b'\n');
            while stops != 0 {
                let j = i + (stops.trailing_zeros() / 8) as usize;
                self.bounds.push((field - from, j - from));
                if buf[j] != delimiter {
                    return Some((j + 1, u64::from(buf[j] == b'\n')));
                }
                field = j + 1;
                if buf.get(field) == Some(&QUOTE) {
                    return self.split_quoted(from);
                }
                stops &= stops - 1;
            }
            i += 8;
        }
        loop {
            while i < end && self.stops[buf[i] as usize] == 0 {
                i += 1;
            }
            self.bounds.push((field - from, i - from));
            if i == end {
                return self.eof.then_some((end, 0));
            }
            let b = buf[i];
            i += 1;
            if b != delimiter {
                return Some((i, u64::from(b == b'\n')));
            }
            if i < end && buf[i] == QUOTE {
                return self.split_quoted(from);
            }
            field = i;
        }
    }

    /// [`RecordReader::split`], byte by byte.
    fn split_bytewise(&mut self, from: usize) -> Option<(usize, u64)> {
        let buf = &self.buf[..self.filled];
        let end = buf.len();
        self.bounds.clear();
        self.in_unquoted = false;
        self.record_from = from;
        let mut newlines = 0;
        let mut i = from;
        loop {
            if i < end && buf[i] == QUOTE {
                return self.split_quoted(from);
            }
            let field = i;
            while i < end && self.stops[buf[i] as usize] == 0 {
                i += 1;
            }
            self.bounds.push((field - from, i - from));
            if i == end {
                return self.eof.then_some((end, newlines));
            }
            let b = buf[i];
            i += 1;
            if b == self.delimiter {
                newlines += u64::from(b == b'\n');
                continue;
            }
            return Some((i, newlines + u64::from(b == b'\n')));
        }
    }

    /// [`RecordReader::split`] for a record with a quoted field, read byte by byte
    /// as the csv crate's state machine reads it, the fields unquoted into
    /// `unquoted`.
    #[cold]
    fn split_quoted(&mut self, from: usize) -> Option<(usize, u64)> {
        #[derive(PartialEq)]
        enum State {
            /// At the start of a field.
            Start,
            /// In an unquoted field (or the unquoted rest of a quoted one).
            Plain,
            Quoted,
            /// Just after a quote inside a quoted field.
            QuoteInQuoted,
        }
        let buf = &self.buf[..self.filled];
        let out = &mut self.unquoted;
        out.clear();
        self.bounds.clear();
        self.in_unquoted = true;
        let mut field = 0;
        let mut newlines = 0;
        let mut state = State::Start;
        for (i, &b) in buf.iter().enumerate().skip(from) {
            newlines += u64::from(b == b'\n');
            let ends_field = match state {
                State::Start if b == QUOTE => {
                    state = State::Quoted;
                    false
                }
                State::Quoted => {
                    if b == QUOTE {
                        state = State::QuoteInQuoted;
                    } else {
                        out.push(b);
                    }
                    false
                }
                State::QuoteInQuoted if b == QUOTE => {
                    out.push(b);
                    state = State::Quoted;
                    false
                }
                _ if b == self.delimiter => true,
                _ if b == b'\n' || b == b'\r' => {
                    self.bounds.push((field, out.len()));
                    return Some((i + 1, newlines));
                }
                _ => {
                    out.push(b);
                    state = State::Plain;
                    false
                }
            };
            if ends_field {
                self.bounds.push((field, out.len()));
                field = out.len();
                state = State::Start;
            }
        }
        if !self.eof {
            return None;
        }
        // The input ends the record, and the field it is in (a quoted one left
        // open included).
        self.bounds.push((field, out.len()));
        Some((buf.len(), newlines))
    }
}

impl<R: Read> RecordReader<R> {
    /// Reads the next record, skipping the blank lines before it; `None` at the end
    /// of the input. Its fields are then [`RecordReader::fields`].
    #[inline]
    pub(crate) fn next_record(&mut self) -> std::io::Result<Option<RecordSpan>> {
        loop {
            if self.at_start && self.base == 0 && self.pos == 0 {
                if self.filled < UTF8_BOM.len() && !self.eof {
                    self.fill()?;
                    continue;
                }
                if self.buf[..self.filled].starts_with(UTF8_BOM) {
                    self.pos = UTF8_BOM.len();
                }
                self.at_start = false;
            }
            let mut i = self.pos;
            let mut line = self.line;
            while i < self.filled && matches!(self.buf[i], b'\n' | b'\r') {
                line += u64::from(self.buf[i] == b'\n');
                i += 1;
            }
            if i == self.filled {
                if self.eof {
                    self.pos = i;
                    self.line = line;
                    return Ok(None);
                }
                self.fill()?;
                continue;
            }
            match self.split(i) {
                Some((end, newlines)) => {
                    let span = RecordSpan {
                        start: self.base + i as u64,
                        line,
                        after: SourcePosition {
                            byte: self.base + end as u64,
                            line: line + newlines,
                        },
                    };
                    self.pos = end;
                    self.line = span.after.line;
                    return Ok(Some(span));
                }
                None => self.fill()?,
            }
        }
    }

    /// Reads more of the input after what is kept, first dropping what is no
    /// longer needed once it is at least half of what is kept.
    #[cold]
    fn fill(&mut self) -> std::io::Result<()> {
        let unneeded = self.keep_from.saturating_sub(self.base);
        let unneeded = usize::try_from(unneeded).map_or(self.pos, |u| u.min(self.pos));
        if unneeded > 0 && unneeded * 2 >= self.filled {
            self.buf.copy_within(unneeded..self.filled, 0);
            self.filled -= unneeded;
            self.pos -= unneeded;
            self.base += unneeded as u64;
        }
        if self.buf.len() - self.filled < READ_BUFFER {
            self.buf.resize(self.filled + READ_BUFFER, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: Seek> RecordReader<R> {
    /// Continues at `at` (after a line break, or at the start or the end): what
    /// was kept belongs to the old place.
    fn seek(&mut self, at: SourcePosition) -> std::io::Result<()> {
        self.inner.seek(SeekFrom::Start(at.byte))?;
        self.filled = 0;
        self.base = at.byte;
        self.pos = 0;
        self.line = at.line;
        self.keep_from = at.byte;
        self.eof = false;
        self.at_start = at.byte == 0;
        Ok(())
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for RecordReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader")
            .field("inner", &self.inner)
            .field("base", &self.base)
            .field("kept_bytes", &self.filled)
            .field("keep_from", &self.keep_from)
            .field("position", &self.position())
            .finish()
    }
}

/// The high bit of each byte of `w` that equals `b`, exactly (no false
/// positives above a match, unlike the shorter `(v - 0x01..) & !v` test).
#[inline(always)]
fn bytes_equal(w: u64, b: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let v = w ^ (u64::from(b) * 0x0101_0101_0101_0101);
    !(((v & LOW7) + LOW7) | v | LOW7)
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
            if options.readers > 1 && reader.can_split() {
                return Ok(Box::new(reader.into_parallel(options.readers)?));
            }
            Box::new(reader)
        }
        Format::JsonLines => {
            let input = BufReader::with_capacity(JSON_READ_BUFFER, file);
            let mut reader = JsonLinesReader::new(input, &label, encoding, options)?;
            if let Some(at) = options.resume {
                reader.resume(at)?;
            }
            reader.resumable = true;
            if options.readers > 1 && reader.can_split() {
                return Ok(Box::new(reader.into_parallel(options.readers)?));
            }
            Box::new(reader)
        }
    })
}

/// A string column's last value, handed out again (a reference count, no
/// allocation) while the column repeats it. It follows every new value while
/// that pays, and is reconsidered per batch: a column whose values rarely repeat
/// keeps only the first of each batch, so it pays one comparison per value.
#[derive(Debug, Default, Clone)]
struct StrColumn {
    last: Option<Arc<str>>,
    follow: bool,
    hits: u32,
    misses: u32,
}

impl StrColumn {
    #[inline]
    fn value(&mut self, field: &[u8]) -> std::result::Result<Value, ConvError> {
        if let Some(last) = &self.last {
            if last.as_bytes() == field {
                self.hits += 1;
                return Ok(Value::Str(last.clone()));
            }
        }
        self.misses += 1;
        let s: Arc<str> = match std::str::from_utf8(field) {
            Ok(s) => Arc::from(s),
            Err(_) => return Err(ConvError::Utf8),
        };
        if self.follow || self.last.is_none() {
            self.last = Some(s.clone());
        }
        Ok(Value::Str(s))
    }

    /// At the end of a batch: follow new values in the next one if at least one
    /// value in eight repeated the last. The last value is dropped either way,
    /// so no value is shared by two batches: another thread drops a batch
    /// (a V2 worker) while this one goes on reading, and a reference count
    /// bumped by both would bounce between their cores on every row.
    fn next_batch(&mut self) {
        self.follow = self.hits >= self.misses / 8;
        self.last = None;
        self.hits = 0;
        self.misses = 0;
    }
}

/// How one column's text becomes a value: the common forms of BIGINT and DOUBLE
/// (no surrounding whitespace, no exponent) are parsed straight away, the rest as
/// [`convert_text`] parses them.
#[derive(Debug, Clone)]
enum Column {
    Int,
    Float,
    Str(StrColumn),
    Other(DataType),
}

/// How one record becomes one row: resolved once at open.
#[derive(Debug, Clone)]
struct Decoder {
    label: Arc<str>,
    names: Vec<Arc<str>>,
    types: Vec<DataType>,
    columns: Vec<Column>,
    /// For each output column, the index of its field in a record.
    source_index: Vec<usize>,
    /// True when `source_index` is `0..n` and records have exactly `n` fields.
    identity: bool,
    /// The number of fields every record must have.
    expected_fields: usize,
}

impl Decoder {
    /// Appends `rec`, which starts on `line`, as a row; on an error nothing is
    /// appended.
    #[inline]
    fn decode(&mut self, rec: Fields<'_>, line: u64, builder: &mut BatchBuilder) -> Result<()> {
        if rec.len() != self.expected_fields {
            return Err(Error::FieldCount {
                path: self.label.to_string(),
                line,
                expected: self.expected_fields,
                found: rec.len(),
                raw: None,
            });
        }
        for c in 0..self.columns.len() {
            let field = if self.identity {
                rec.get(c)
            } else {
                rec.get(self.source_index[c])
            };
            match self.convert(c, field) {
                Ok(v) => builder.push_value(v),
                Err(e) => {
                    builder.discard_unfinished_row();
                    return Err(self.bad_value(c, field, line, e));
                }
            }
        }
        builder.finish_row();
        Ok(())
    }

    #[inline]
    fn convert(&mut self, c: usize, field: &[u8]) -> std::result::Result<Value, ConvError> {
        if field.is_empty() {
            return Ok(Value::Null);
        }
        match &mut self.columns[c] {
            Column::Int => match parse_i64(field) {
                Some(v) => Ok(Value::Int(v)),
                None => convert_text(field, DataType::Int),
            },
            Column::Float => match parse_plain_f64(field) {
                Some(v) => Ok(Value::Float(v)),
                None => convert_text(field, DataType::Float),
            },
            Column::Str(s) => s.value(field),
            Column::Other(ty) => convert_text(field, *ty),
        }
    }

    /// At the end of a batch.
    fn next_batch(&mut self) {
        for c in &mut self.columns {
            if let Column::Str(s) = c {
                s.next_batch();
            }
        }
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

/// An error reading the input.
fn read_error(label: &str, source: std::io::Error) -> Error {
    Error::Io {
        path: label.to_string(),
        source,
    }
}

/// A CSV reader over any byte stream (a file, stdin, an in-memory buffer). The
/// stream is read with blocking `std::io` calls.
#[derive(Debug)]
pub struct CsvReader<R> {
    rdr: RecordReader<R>,
    decoder: Decoder,
    schema: SchemaRef,
    /// Sampled records not yet returned.
    pending: VecDeque<OwnedRecord>,
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
    /// For a decoding thread of a [`ParallelFileReader`]:
    /// the position after each row in `builder` (`None`: not kept).
    afters: Option<Vec<SourcePosition>>,
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
        let mut rdr = RecordReader::new(input, encoding.delimiter);
        let schema_error = |message: String| Error::Schema {
            path: label.to_string(),
            message,
        };

        let header: Option<Vec<String>> = if has_header {
            let found = rdr.next_record().map_err(|e| read_error(label, e))?;
            if let Some(span) = found {
                let names = header_names(label, rdr.fields(), span.line).map_err(|e| match rdr
                    .raw(span.start, span.after.byte)
                {
                    Some(raw) => e.with_raw(raw),
                    None => e,
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
        let first = rdr.position();

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
                    match rdr.next_record() {
                        Ok(Some(span)) => pending.push_back(rdr.owned(span)),
                        Ok(None) => break,
                        Err(e) => {
                            pending_error = Some(read_error(label, e));
                            break;
                        }
                    }
                }
                let names: Vec<String> = match header {
                    Some(h) => h,
                    None => {
                        let Some(first) = pending.front() else {
                            if let Some(e) = pending_error.take() {
                                return Err(e);
                            }
                            return Err(schema_error(
                                "the file is empty: cannot infer the columns of a CSV source without a header; declare its schema".into(),
                            ));
                        };
                        (0..first.bounds.len()).map(|i| format!("c{i}")).collect()
                    }
                };
                let n = names.len();
                let mut guesses = vec![TypeGuess::default(); n];
                for rec in pending.iter().filter(|r| r.bounds.len() == n) {
                    for (g, field) in guesses.iter_mut().zip(rec.fields().iter()) {
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
            columns: schema
                .fields()
                .iter()
                .map(|f| match f.data_type {
                    DataType::Int => Column::Int,
                    DataType::Float => Column::Float,
                    DataType::String => Column::Str(StrColumn::default()),
                    ty => Column::Other(ty),
                })
                .collect(),
            source_index,
            identity,
            expected_fields,
        };
        Ok(CsvReader {
            rdr,
            decoder,
            builder: BatchBuilder::with_capacity(schema.clone(), batch_size),
            positions: Vec::with_capacity(batch_size),
            schema,
            pending,
            pending_error,
            deferred: None,
            position: first,
            first,
            resumable: false,
            batch_size,
            done: false,
            delimiter: encoding.delimiter,
            afters: None,
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
            let sampled = self.pending.pop_front();
            let span = if let Some(rec) = &sampled {
                RecordSpan {
                    start: rec.start,
                    line: rec.line,
                    after: rec.after,
                }
            } else if let Some(e) = self.pending_error.take() {
                // An IO error hit while sampling: reading stops there.
                self.done = true;
                return self.fail(e, last, last);
            } else if self.done {
                break;
            } else {
                // The records before this one are decoded: their bytes may go.
                self.rdr.keep_from = self.rdr.position().byte;
                match self.rdr.next_record() {
                    Ok(Some(span)) => span,
                    Ok(None) => {
                        // Only blank lines, if anything, were left.
                        last = self.rdr.position();
                        self.done = true;
                        break;
                    }
                    Err(e) => {
                        self.done = true;
                        let e = read_error(&self.decoder.label, e);
                        return self.fail(e, last, last);
                    }
                }
            };
            let end = span.after;
            if self.rdr.ends_input(end.byte) {
                if let Some(e) = self.unterminated_quote(span.start, end.byte, span.line) {
                    return self.fail(e, last, end);
                }
            }
            let fields = match &sampled {
                Some(rec) => rec.fields(),
                None => self.rdr.fields(),
            };
            if let Err(e) = self.decoder.decode(fields, span.line, &mut self.builder) {
                let e = match self.rdr.raw(span.start, end.byte) {
                    Some(raw) => e.with_raw(raw),
                    None => e,
                };
                return self.fail(e, last, end);
            }
            self.positions.push(span.line);
            if let Some(afters) = &mut self.afters {
                afters.push(end);
            }
            last = end;
        }
        self.position = last;
        Ok((!self.builder.is_empty()).then(|| self.take_batch()))
    }
    /// The last record of the input as an error when a quoted field in it is never
    /// closed: the parser takes the rest of the input into that field instead.
    #[cold]
    fn unterminated_quote(&self, start: u64, end: u64, line: u64) -> Option<Error> {
        let raw = self.rdr.raw(start, end)?;
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
        self.decoder.next_batch();
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

impl CsvReader<File> {
    /// Whether [`Self::into_parallel`] can take this reader: nothing went
    /// wrong while sampling, and the delimiter is not a byte the splitting
    /// looks for.
    pub(crate) fn can_split(&self) -> bool {
        !(self.pending_error.is_some() || matches!(self.delimiter, b'\r' | b'\n' | QUOTE))
    }

    /// This reader, opened (and resumed) on a file, handed to a
    /// [`ParallelFileReader`] that reads on from its position with `decoders`
    /// threads (what was sampled is read again). Only when
    /// [`Self::can_split`].
    pub(crate) fn into_parallel(self, decoders: usize) -> Result<ParallelFileReader> {
        let template = self.chunk_decoder();
        let handover = Handover {
            label: self.decoder.label.to_string(),
            schema: self.schema.clone(),
            batch_size: self.batch_size,
            position: self.position,
            records: Records::Csv {
                delimiter: self.delimiter,
            },
            decoder: Box::new(move || template.chunk_decoder()),
            file: self.rdr.inner,
        };
        ParallelFileReader::start(handover, decoders)
    }
}

impl<R> CsvReader<R> {
    /// A reader that decodes chunks of this reader's input as this reader
    /// would ([`ChunkDecoder::decode_chunk`]), on a thread of its own.
    fn chunk_decoder(&self) -> CsvReader<std::io::Empty> {
        CsvReader {
            rdr: RecordReader::over_chunk(
                std::io::empty(),
                Vec::new(),
                self.position,
                self.delimiter,
            ),
            decoder: self.decoder.clone(),
            schema: self.schema.clone(),
            pending: VecDeque::new(),
            pending_error: None,
            deferred: None,
            position: self.position,
            first: self.first,
            resumable: true,
            builder: BatchBuilder::with_capacity(self.schema.clone(), self.batch_size),
            positions: Vec::with_capacity(self.batch_size),
            batch_size: self.batch_size,
            done: false,
            delimiter: self.delimiter,
            afters: Some(Vec::with_capacity(self.batch_size)),
        }
    }
}

impl ChunkDecoder for CsvReader<std::io::Empty> {
    fn start_chunk(&mut self, bytes: Vec<u8>, at: SourcePosition) {
        self.rdr = RecordReader::over_chunk(std::io::empty(), bytes, at, self.delimiter);
        self.position = at;
        self.done = false;
        self.deferred = None;
    }

    fn read_batch(&mut self) -> Result<Option<Batch>> {
        Self::read_batch(self)
    }

    fn position(&self) -> SourcePosition {
        self.position
    }

    fn take_afters(&mut self) -> Vec<SourcePosition> {
        std::mem::replace(
            self.afters.get_or_insert_with(Vec::new),
            Vec::with_capacity(self.batch_size),
        )
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
        let input = &mut self.rdr.inner;
        let len = input.seek(SeekFrom::End(0)).map_err(io)?;
        if at.byte > len {
            return Err(resume_past_end(label, at, len));
        }
        // Only after a line break (see the module docs).
        if at.byte != 0 && at.byte != len {
            input.seek(SeekFrom::Start(at.byte - 1)).map_err(io)?;
            let mut before = [0u8];
            input.read_exact(&mut before).map_err(io)?;
            if !matches!(before[0], b'\n' | b'\r') {
                let why = "the byte before it is not a line break";
                return Err(resume_not_a_record_start(label, at, why));
            }
        }
        self.rdr.seek(at).map_err(io)?;
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
fn header_names(label: &str, record: Fields<'_>, line: u64) -> Result<Vec<String>> {
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
            most = most.max(r.rdr.filled);
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

    /// Hands out its bytes a few at a time, as a pipe may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        sizes: &'a [usize],
        reads: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let size = self.sizes[self.reads % self.sizes.len()];
            self.reads += 1;
            let n = size.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    type Parsed = (Vec<Vec<u8>>, u64, SourcePosition);

    /// What the csv crate (flexible byte records, as this module used to read
    /// CSV) makes of `text`: each record's fields, the line it starts on (after
    /// the BOM and line breaks it skips) and its position after it; and the
    /// position at the end.
    fn csv_crate_parse(text: &[u8], delimiter: u8) -> (Vec<Parsed>, SourcePosition) {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(text);
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        let at = |p: &csv::Position| SourcePosition {
            byte: p.byte(),
            line: p.line(),
        };
        while rdr.read_byte_record(&mut rec).unwrap() {
            let stamp = rec.position().unwrap();
            let (mut i, mut line) = (stamp.byte() as usize, stamp.line());
            // Stamped before the BOM, which this module then did not step over.
            if i == 0 && text.starts_with(UTF8_BOM) {
                i = UTF8_BOM.len();
            }
            while let Some(&b) = text.get(i).filter(|b| matches!(b, b'\n' | b'\r')) {
                line += u64::from(b == b'\n');
                i += 1;
            }
            out.push((
                rec.iter().map(<[u8]>::to_vec).collect(),
                line,
                at(rdr.position()),
            ));
        }
        (out, at(rdr.position()))
    }

    fn our_parse(text: &[u8], delimiter: u8, sizes: &[usize]) -> (Vec<Parsed>, SourcePosition) {
        let input = Trickle {
            bytes: text,
            sizes,
            reads: 0,
        };
        let mut rdr = RecordReader::new(input, delimiter);
        let mut out = Vec::new();
        loop {
            rdr.keep_from = rdr.position().byte;
            let Some(span) = rdr.next_record().unwrap() else {
                break;
            };
            assert!(rdr.filled <= text.len() + UTF8_BOM.len());
            let fields = rdr.fields().iter().map(<[u8]>::to_vec).collect();
            out.push((fields, span.line, span.after));
        }
        (out, rdr.position())
    }

    #[test]
    fn the_parser_reads_like_the_csv_crate_on_tricky_inputs() {
        for text in [
            "",
            "\n",
            "\r\n\r\n",
            "a",
            "a,",
            ",",
            "a,b\r\n1,\"x\r\ny\"\r\n\r\n2,z\n\n3,w",
            "\"a\"\"b\",c\n",
            "\"a\"b,c\n",
            "a\"b\",c\n",
            "\"open\n1,2\n",
            "\"\"\n\"\"\"\"\n",
            "\u{feff}a,b\n1,2\n",
            "\u{feff}\n\na\n",
            "a\u{feff},b\n",
            "a,b\r1,2\r\r3,4",
            "x,\"y\"\r",
            "x,\"y\" ,z\n",
        ] {
            let text = text.as_bytes();
            for sizes in [&[1][..], &[2, 3], &[usize::MAX]] {
                assert_eq!(
                    our_parse(text, b',', sizes),
                    csv_crate_parse(text, b','),
                    "{:?} in reads of {sizes:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_parser_reads_like_the_csv_crate(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "bc", ",", ";", "\"", "\"\"", "\r", "\n", "\r\n", " ", "\u{feff}", "é",
                ]),
                0..60,
            ),
            semicolon in proptest::prelude::any::<bool>(),
            sizes in proptest::collection::vec(1usize..9, 1..4),
        ) {
            let text = pieces.concat();
            let delimiter = if semicolon { b';' } else { b',' };
            proptest::prop_assert_eq!(
                our_parse(text.as_bytes(), delimiter, &sizes),
                csv_crate_parse(text.as_bytes(), delimiter)
            );
        }
    }

    #[test]
    fn duplicate_header_names_are_refused() {
        let e = reader("a,a\n1,2\n", Format::Csv, None).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
