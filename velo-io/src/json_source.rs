//! JSON-lines sources: one JSON object per line (blank lines are skipped).
//!
//! Columns come from the declared schema, else from the union of the keys of the
//! first [`crate::INFERENCE_SAMPLE_RECORDS`] objects in first-seen order
//! ([`JsonSampler`], shared with the Kafka reader). Without a schema a column is
//! typed by the JSON type of its first non-null sampled value (SPEC §3): booleans
//! BOOLEAN; numbers BIGINT, or DOUBLE once a sampled value has a fraction or an
//! exponent; strings VARCHAR, or TIMESTAMP when every sampled string is an ISO-8601
//! timestamp; nested objects or arrays VARCHAR holding their JSON text; a column
//! with nothing but nulls in the sample VARCHAR. Such a column then only takes
//! values of that JSON type (integers in a DOUBLE column included): any other
//! value, in the sample or after it, makes its record fail with an error naming
//! the column, its type and the value found. Its type never changes silently.
//! A key missing from an object is NULL; keys that are not columns are skipped.
//!
//! Each line is parsed once, straight into the row's values, with serde's visitor
//! API: no `serde_json::Value` and no `String` per key. A key is matched to its
//! column by first trying the column after the previous key's (objects usually
//! repeat one key order), then by a scan of the column names.
//!
//! Conversions to a declared type are lenient: JSON numbers to BIGINT (integral values only),
//! DOUBLE, DECIMAL (from the number's shortest decimal text; give exact decimals as
//! strings for more than 15 significant digits) and TIMESTAMP (epoch milliseconds);
//! strings are parsed as for CSV; numbers and booleans become their text in a
//! VARCHAR column, and nested objects or arrays their JSON text.
//!
//! Every row's source position is its 1-based physical line (blank lines count), the
//! line that error messages name; a record error carries the line's text as its raw
//! record ([`Error::raw_record`]).
//!
//! Resuming ([`crate::SourcePosition`]): the reader counts the bytes and `\n`s it
//! consumes (two integer updates per line); a record's position after it is the
//! count after its line, kept with sampled lines and with a deferred error until
//! that error is returned. A resumed reader seeks the input to the byte.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, Cursor, Seek, SeekFrom};
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use velo_types::connector::Encoding;
use velo_types::{Batch, BatchBuilder, DataType, Decimal, Field, Schema, SchemaRef, Value};

use crate::error::{show_found, Error, Result};
use crate::parallel_file::{ChunkDecoder, Handover, ParallelFileReader, Records};
use crate::parse::{convert_text, expected_text, parse_decimal, parse_timestamp, ConvError};
use crate::render::write_float;
use crate::{
    resume_not_a_record_start, resume_past_end, DataReader, ReaderOptions, SourcePosition,
    INFERENCE_SAMPLE_RECORDS,
};

/// A JSON-lines reader over any buffered byte stream, read with blocking `std::io`.
#[derive(Debug)]
pub struct JsonLinesReader<R> {
    input: R,
    label: Arc<str>,
    schema: SchemaRef,
    decoder: JsonRowDecoder,
    /// The line number of the last line read.
    line: u64,
    /// Where the input is: the bytes consumed, and the line of the next byte.
    at: SourcePosition,
    buf: Vec<u8>,
    /// Sampled lines not yet returned: (line number, bytes, position after it).
    pending: VecDeque<(u64, Vec<u8>, SourcePosition)>,
    pending_error: Option<Error>,
    /// A record error to return on the next call, after the rows decoded before it,
    /// with the position after its line (the position once it is returned).
    deferred: Option<(Error, SourcePosition)>,
    /// The position after everything returned so far.
    position: SourcePosition,
    /// Whether [`DataReader::position`] reports `position` (files, not stdin).
    pub(crate) resumable: bool,
    builder: BatchBuilder,
    /// The source position (line) of each row in `builder`.
    positions: Vec<u64>,
    batch_size: usize,
    done: bool,
    /// For a decoding thread of a [`ParallelFileReader`]: the position after
    /// each row in `builder` (`None`: not kept).
    afters: Option<Vec<SourcePosition>>,
}

impl<R: BufRead> JsonLinesReader<R> {
    /// Opens a JSON-lines reader; without `encoding.schema` it reads a sample to find
    /// the columns and their types. `label` names the input in error messages.
    /// `options.resume` is not applied here: see [`JsonLinesReader::resume`].
    pub fn new(
        input: R,
        label: &str,
        encoding: &Encoding,
        options: &ReaderOptions,
    ) -> Result<JsonLinesReader<R>> {
        let batch_size = options.effective_batch_size();
        let mut reader = JsonLinesReader {
            input,
            label: Arc::from(label),
            schema: Arc::new(Schema::default()),
            decoder: JsonRowDecoder::new(&Schema::default()),
            line: 0,
            at: SourcePosition::START,
            buf: Vec::with_capacity(4096),
            pending: VecDeque::new(),
            pending_error: None,
            deferred: None,
            position: SourcePosition::START,
            resumable: false,
            builder: BatchBuilder::with_capacity(Arc::new(Schema::default()), 0),
            positions: Vec::with_capacity(batch_size),
            batch_size,
            done: false,
            afters: None,
        };
        let (schema, decoder) = match &encoding.schema {
            Some(declared) => (declared.clone(), JsonRowDecoder::new(declared)),
            None => {
                let inferred = reader.infer()?;
                let decoder = JsonRowDecoder::inferred(&inferred);
                (inferred.schema, decoder)
            }
        };
        reader.decoder = decoder;
        reader.schema = Arc::new(schema);
        reader.builder = BatchBuilder::with_capacity(reader.schema.clone(), batch_size);
        Ok(reader)
    }

    /// The columns of every batch.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Reads the next non-blank line into `self.buf` (without its line terminator);
    /// false at end of input.
    fn next_line(&mut self) -> Result<bool> {
        loop {
            self.buf.clear();
            let n = self
                .input
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| Error::Io {
                    path: self.label.to_string(),
                    source,
                })?;
            if n == 0 {
                return Ok(false);
            }
            self.line = self.at.line;
            self.at.byte += n as u64;
            if self.buf.last() == Some(&b'\n') {
                self.at.line += 1;
                self.buf.pop();
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
            }
            if self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
            if !self.buf.trim_ascii().is_empty() {
                return Ok(true);
            }
        }
    }

    /// Samples the first lines and infers the columns; the sampled lines are kept to
    /// be returned first.
    fn infer(&mut self) -> Result<InferredColumns> {
        let mut sampler = JsonSampler::default();
        while self.pending.len() < INFERENCE_SAMPLE_RECORDS {
            match self.next_line() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    self.pending_error = Some(e);
                    break;
                }
            }
            sampler.observe(&self.buf);
            self.pending
                .push_back((self.line, self.buf.clone(), self.at));
        }
        if sampler.is_empty() {
            if self.pending.is_empty() {
                if let Some(e) = self.pending_error.take() {
                    return Err(e);
                }
            }
            return Err(Error::Schema {
                path: self.label.to_string(),
                message: "no JSON object with any key in the first records: cannot infer the columns; declare the source's schema".into(),
            });
        }
        Ok(sampler.finish(|_| false))
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
            // `after`: the position once this record (or error) is returned; an
            // IO error leaves it where it was.
            let (result, after) = if let Some((line, bytes, after)) = self.pending.pop_front() {
                (self.decode(line, &bytes), after)
            } else if let Some(e) = self.pending_error.take() {
                self.done = true;
                (Err(e), last)
            } else if self.done {
                break;
            } else {
                match self.next_line() {
                    Ok(true) => {
                        let buf = std::mem::take(&mut self.buf);
                        let r = self.decode(self.line, &buf);
                        self.buf = buf;
                        (r, self.at)
                    }
                    Ok(false) => {
                        // Only blank lines, if anything, were left.
                        last = self.at;
                        self.done = true;
                        break;
                    }
                    Err(e) => {
                        self.done = true;
                        (Err(e), last)
                    }
                }
            };
            match result {
                Ok(()) => {
                    if let Some(afters) = &mut self.afters {
                        afters.push(after);
                    }
                    last = after;
                }
                Err(e) if self.builder.is_empty() => {
                    self.position = after;
                    return Err(e);
                }
                Err(e) => {
                    self.deferred = Some((e, after));
                    break;
                }
            }
        }
        self.position = last;
        Ok((!self.builder.is_empty()).then(|| {
            let positions =
                std::mem::replace(&mut self.positions, Vec::with_capacity(self.batch_size));
            self.builder.take().with_positions(positions)
        }))
    }

    /// Parses line number `line` and appends it as a row with its position; a
    /// record error carries the line as its raw text.
    fn decode(&mut self, line: u64, bytes: &[u8]) -> Result<()> {
        match self.decoder.decode(&self.label, line, bytes) {
            Ok(row) => {
                self.builder.push_row(row.iter_mut().map(std::mem::take));
                self.positions.push(line);
                Ok(())
            }
            Err(e) => Err(e.with_raw(bytes)),
        }
    }
}

impl<R: BufRead + Seek> JsonLinesReader<R> {
    /// Continues at `at`, a position an earlier reader of the same input reported
    /// (see [`ReaderOptions::resume`]): what this reader sampled is dropped, and the
    /// next batch starts with the first record the earlier reader had not
    /// returned, lines numbered from `at.line`. An [`Error::Resume`] when `at` is
    /// past the end of the input or not at the start of a line.
    pub fn resume(&mut self, at: SourcePosition) -> Result<()> {
        let label: &str = &self.label;
        let io = |source| Error::Io {
            path: label.to_string(),
            source,
        };
        let len = self.input.seek(SeekFrom::End(0)).map_err(io)?;
        if at.byte > len {
            return Err(resume_past_end(label, at, len));
        }
        if at.byte == 0 || at.byte == len {
            self.input.seek(SeekFrom::Start(at.byte)).map_err(io)?;
        } else {
            self.input.seek(SeekFrom::Start(at.byte - 1)).map_err(io)?;
            let mut before = [0u8];
            self.input.read_exact(&mut before).map_err(io)?;
            if before[0] != b'\n' {
                let why = "the byte before it is not a line break";
                return Err(resume_not_a_record_start(label, at, why));
            }
        }
        self.at = at;
        self.pending.clear();
        self.pending_error = None;
        self.deferred = None;
        self.done = false;
        self.position = at;
        Ok(())
    }
}

impl JsonLinesReader<std::io::BufReader<std::fs::File>> {
    /// Whether [`Self::into_parallel`] can take this reader: nothing went
    /// wrong while sampling.
    pub(crate) fn can_split(&self) -> bool {
        self.pending_error.is_none()
    }

    /// This reader, opened (and resumed) on a file, handed to a
    /// [`ParallelFileReader`] that reads on from its position with `decoders`
    /// threads (what was sampled is read again). Only when
    /// [`Self::can_split`].
    pub(crate) fn into_parallel(self, decoders: usize) -> Result<ParallelFileReader> {
        let template = self.chunk_decoder();
        let handover = Handover {
            label: self.label.to_string(),
            schema: self.schema.clone(),
            batch_size: self.batch_size,
            position: self.position,
            records: Records::JsonLines,
            decoder: Box::new(move || template.chunk_decoder()),
            file: self.input.into_inner(),
        };
        ParallelFileReader::start(handover, decoders)
    }
}

impl<R> JsonLinesReader<R> {
    /// A reader that decodes chunks of this reader's input as this reader
    /// would ([`ChunkDecoder::decode_chunk`]), on a thread of its own.
    fn chunk_decoder(&self) -> JsonLinesReader<Cursor<Vec<u8>>> {
        JsonLinesReader {
            input: Cursor::new(Vec::new()),
            label: self.label.clone(),
            schema: self.schema.clone(),
            decoder: self.decoder.clone(),
            line: 0,
            at: self.position,
            buf: Vec::with_capacity(4096),
            pending: VecDeque::new(),
            pending_error: None,
            deferred: None,
            position: self.position,
            resumable: true,
            builder: BatchBuilder::with_capacity(self.schema.clone(), self.batch_size),
            positions: Vec::with_capacity(self.batch_size),
            batch_size: self.batch_size,
            done: false,
            afters: Some(Vec::with_capacity(self.batch_size)),
        }
    }
}

impl ChunkDecoder for JsonLinesReader<Cursor<Vec<u8>>> {
    fn start_chunk(&mut self, bytes: Vec<u8>, at: SourcePosition) {
        self.input = Cursor::new(bytes);
        self.at = at;
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

/// Decodes one JSON object into a row of a fixed schema: the decoding rules of
/// this module, shared by the JSON-lines reader and the Kafka reader (one
/// message value at a time). Column names and types are resolved when it is
/// built; decoding allocates only the row's string values.
#[derive(Debug, Clone)]
pub(crate) struct JsonRowDecoder {
    names: Vec<Arc<str>>,
    types: Vec<DataType>,
    /// Per column, the one JSON type it takes when it was inferred; `None` for a
    /// declared column (lenient conversions).
    kinds: Vec<Option<JsonKind>>,
    slots: Vec<Value>,
    /// The column after the previous key's: objects usually repeat one key order.
    hint: usize,
}

impl JsonRowDecoder {
    pub(crate) fn new(schema: &Schema) -> JsonRowDecoder {
        JsonRowDecoder {
            names: schema.fields().iter().map(|f| f.name.clone()).collect(),
            types: schema.fields().iter().map(|f| f.data_type).collect(),
            kinds: vec![None; schema.len()],
            slots: vec![Value::Null; schema.len()],
            hint: 0,
        }
    }

    /// A decoder for inferred columns: each takes values of its JSON type only.
    pub(crate) fn inferred(columns: &InferredColumns) -> JsonRowDecoder {
        JsonRowDecoder {
            kinds: columns.kinds.iter().copied().map(Some).collect(),
            ..JsonRowDecoder::new(&columns.schema)
        }
    }

    /// Parses `bytes` (one JSON object, surrounding whitespace allowed) into the
    /// row's values, one per column (NULL for a missing key), for the caller to
    /// take. Errors name `label` and `line` and carry no raw text (see
    /// [`Error::with_raw`]).
    #[inline]
    pub(crate) fn decode(&mut self, label: &str, line: u64, bytes: &[u8]) -> Result<&mut [Value]> {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8 {
            path: label.to_string(),
            line,
            column: None,
            raw: None,
        })?;
        for v in &mut self.slots {
            *v = Value::Null;
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = RowSeed {
            names: &self.names,
            types: &self.types,
            kinds: &self.kinds,
            slots: &mut self.slots,
            hint: &mut self.hint,
        }
        .deserialize(&mut de)
        .and_then(|r| de.end().map(|()| r));
        match parsed {
            Err(e) => Err(json_error(label, line, &e)),
            Ok(Err((c, found))) => Err(Error::BadValue {
                path: label.to_string(),
                line,
                column: self.names[c].to_string(),
                expected: match self.kinds[c] {
                    None => expected_text(self.types[c]),
                    Some(_) => format!("{} (its type from its first values)", self.types[c]),
                },
                found,
                raw: None,
            }),
            Ok(Ok(())) => Ok(&mut self.slots),
        }
    }
}

#[cold]
fn json_error(label: &str, line: u64, e: &serde_json::Error) -> Error {
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => &full,
    };
    match e.classify() {
        serde_json::error::Category::Data => Error::Malformed {
            path: label.to_string(),
            line,
            message: message.to_string(),
            raw: None,
        },
        _ => Error::Json {
            path: label.to_string(),
            line,
            message: format!("{message} at character {}", e.column()),
            raw: None,
        },
    }
}

#[async_trait]
impl<R: BufRead + Send> DataReader for JsonLinesReader<R> {
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

/// Finds a key's column: the hinted one, then an exact scan, then a
/// case-insensitive scan.
#[inline]
fn find_key(names: &[Arc<str>], hint: usize, key: &str) -> Option<usize> {
    if let Some(n) = names.get(hint) {
        if &**n == key {
            return Some(hint);
        }
    }
    names
        .iter()
        .position(|n| &**n == key)
        .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(key)))
}

/// Parses one object into `slots`; the value is `Err((column, found))` for the
/// first value that does not fit its column (the rest of the line is still parsed,
/// so syntax errors take precedence).
struct RowSeed<'a> {
    names: &'a [Arc<str>],
    types: &'a [DataType],
    kinds: &'a [Option<JsonKind>],
    slots: &'a mut [Value],
    hint: &'a mut usize,
}

type RowResult = std::result::Result<(), (usize, String)>;

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = RowResult;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<RowResult, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = RowResult;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RowResult, A::Error> {
        let mut bad = None;
        while let Some(column) = map.next_key_seed(KeySeed {
            names: self.names,
            hint: *self.hint,
        })? {
            match column {
                Some(c) => {
                    *self.hint = c + 1;
                    let seed = TypedValue {
                        ty: self.types[c],
                        kind: self.kinds[c],
                    };
                    match map.next_value_seed(seed)? {
                        Ok(v) => self.slots[c] = v,
                        Err(found) => {
                            if bad.is_none() {
                                bad = Some((c, found));
                            }
                        }
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match bad {
            Some(b) => Err(b),
            None => Ok(()),
        })
    }
}

/// Resolves an object key to a column index without allocating.
struct KeySeed<'a> {
    names: &'a [Arc<str>],
    hint: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> std::result::Result<Option<usize>, E> {
        Ok(find_key(self.names, self.hint, key))
    }
}

/// The JSON type an inferred column takes (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    Boolean,
    Number,
    String,
    /// An object or an array, kept as its JSON text.
    Nested,
}

/// How a value that does not fit an inferred column is named in its error:
/// its JSON type, then the value.
#[cold]
fn describe(kind: JsonKind, shown: &str) -> String {
    match kind {
        JsonKind::Boolean => format!("the boolean {shown}"),
        JsonKind::Number => format!("the number {shown}"),
        JsonKind::String => format!("the string {shown}"),
        JsonKind::Nested => shown.to_string(),
    }
}

/// Converts one JSON value to a column's type; `Err(found)` when it does not fit.
/// An inferred column (`kind` set) takes values of its JSON type only.
#[derive(Clone, Copy)]
struct TypedValue {
    ty: DataType,
    kind: Option<JsonKind>,
}

type Typed = std::result::Result<Value, String>;

impl TypedValue {
    /// `convert` for a declared column or a value of the inferred column's JSON
    /// type; any misfit in an inferred column is named with its JSON type
    /// (`shown`: how the value is shown in the error).
    #[inline]
    fn fit(
        &self,
        found: JsonKind,
        shown: impl FnOnce() -> String,
        convert: impl FnOnce() -> Typed,
    ) -> Typed {
        match self.kind {
            None => convert(),
            Some(k) if k == found => convert().map_err(|shown| describe(found, &shown)),
            Some(_) => Err(describe(found, &shown())),
        }
    }

    fn integer(&self, i: i128) -> Typed {
        let found = || i.to_string();
        match self.ty {
            DataType::Int => i64::try_from(i).map(Value::Int).map_err(|_| found()),
            DataType::Timestamp => i64::try_from(i).map(Value::Timestamp).map_err(|_| found()),
            DataType::Float => Ok(Value::Float(i as f64)),
            DataType::Decimal { precision, scale } => Decimal::from_i128(i)
                .and_then(|d| d.fit(precision, scale))
                .map(Value::Decimal)
                .ok_or_else(found),
            DataType::String => Ok(Value::str(&i.to_string())),
            DataType::Null => Ok(Value::Null),
            DataType::Boolean => Err(found()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for TypedValue {
    type Value = Typed;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Typed, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TypedValue {
    type Value = Typed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> std::result::Result<Typed, E> {
        Ok(Ok(Value::Null))
    }

    fn visit_none<E>(self) -> std::result::Result<Typed, E> {
        Ok(Ok(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Typed, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E>(self, b: bool) -> std::result::Result<Typed, E> {
        Ok(self.fit(
            JsonKind::Boolean,
            || b.to_string(),
            || match self.ty {
                DataType::Boolean => Ok(Value::Bool(b)),
                DataType::String => Ok(Value::str(if b { "true" } else { "false" })),
                DataType::Null => Ok(Value::Null),
                _ => Err(b.to_string()),
            },
        ))
    }

    fn visit_i64<E>(self, i: i64) -> std::result::Result<Typed, E> {
        Ok(self.fit(
            JsonKind::Number,
            || i.to_string(),
            || match self.ty {
                DataType::Int => Ok(Value::Int(i)),
                DataType::Timestamp => Ok(Value::Timestamp(i)),
                _ => self.integer(i as i128),
            },
        ))
    }

    fn visit_u64<E>(self, u: u64) -> std::result::Result<Typed, E> {
        Ok(self.fit(
            JsonKind::Number,
            || u.to_string(),
            || match (self.ty, i64::try_from(u)) {
                (DataType::Int, Ok(i)) => Ok(Value::Int(i)),
                (DataType::Timestamp, Ok(i)) => Ok(Value::Timestamp(i)),
                _ => self.integer(u as i128),
            },
        ))
    }

    fn visit_f64<E>(self, f: f64) -> std::result::Result<Typed, E> {
        let show = || {
            let mut text = Vec::with_capacity(24);
            write_float(&mut text, f);
            String::from_utf8_lossy(&text).into_owned()
        };
        Ok(self.fit(JsonKind::Number, show, || {
            let integral = f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f);
            let mut text = Vec::with_capacity(24);
            write_float(&mut text, f);
            let found = || String::from_utf8_lossy(&text).into_owned();
            match self.ty {
                DataType::Float => Ok(Value::Float(f)),
                DataType::Int if integral => Ok(Value::Int(f as i64)),
                DataType::Timestamp if integral => Ok(Value::Timestamp(f as i64)),
                DataType::Decimal { precision, scale } => parse_decimal(&text, precision, scale)
                    .map(Value::Decimal)
                    .ok_or_else(found),
                DataType::String => Ok(Value::str(&found())),
                DataType::Null => Ok(Value::Null),
                _ => Err(found()),
            }
        }))
    }

    fn visit_str<E>(self, s: &str) -> std::result::Result<Typed, E> {
        Ok(self.fit(
            JsonKind::String,
            || show_found(s.as_bytes()),
            || {
                if self.ty == DataType::String {
                    return Ok(Value::Str(Arc::from(s)));
                }
                match convert_text(s.as_bytes(), self.ty) {
                    Ok(v) => Ok(v),
                    Err(ConvError::Invalid | ConvError::Utf8) => Err(show_found(s.as_bytes())),
                }
            },
        ))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Typed, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(self.fit(
            JsonKind::Nested,
            || "a JSON object".to_string(),
            || self.nested(v, "a JSON object"),
        ))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Typed, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(self.fit(
            JsonKind::Nested,
            || "a JSON array".to_string(),
            || self.nested(v, "a JSON array"),
        ))
    }
}

impl TypedValue {
    fn nested(&self, v: serde_json::Value, what: &str) -> Typed {
        match self.ty {
            DataType::String => Ok(Value::str(&v.to_string())),
            DataType::Null => Ok(Value::Null),
            _ => Err(what.to_string()),
        }
    }
}

/// What the sample says of one column: the JSON type of its first non-null
/// value, widened from integers to floats, and for strings whether all of them
/// were timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum JsonGuess {
    #[default]
    Unseen,
    Boolean,
    Integer,
    Float,
    Text {
        timestamps: bool,
    },
    Nested,
}

impl JsonGuess {
    /// Takes in one sampled value's guess. A value of another JSON type does
    /// not change the column: its record fails when it is decoded.
    fn observe(&mut self, value: JsonGuess) {
        *self = match (*self, value) {
            (JsonGuess::Unseen, v) => v,
            (JsonGuess::Integer, JsonGuess::Float) => JsonGuess::Float,
            (JsonGuess::Text { timestamps: a }, JsonGuess::Text { timestamps: b }) => {
                JsonGuess::Text { timestamps: a && b }
            }
            (current, _) => current,
        };
    }

    fn column(self) -> (DataType, JsonKind) {
        match self {
            JsonGuess::Boolean => (DataType::Boolean, JsonKind::Boolean),
            JsonGuess::Integer => (DataType::Int, JsonKind::Number),
            JsonGuess::Float => (DataType::Float, JsonKind::Number),
            JsonGuess::Text { timestamps: true } => (DataType::Timestamp, JsonKind::String),
            JsonGuess::Unseen | JsonGuess::Text { timestamps: false } => {
                (DataType::String, JsonKind::String)
            }
            JsonGuess::Nested => (DataType::String, JsonKind::Nested),
        }
    }
}

/// Columns inferred from sampled JSON objects: their schema and, per column,
/// the JSON type it takes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InferredColumns {
    pub(crate) schema: Schema,
    pub(crate) kinds: Vec<JsonKind>,
}

/// Infers columns from sampled JSON objects (see the module docs): the union of
/// their keys in first-seen order, each typed by [`JsonGuess`].
#[derive(Debug, Default)]
pub(crate) struct JsonSampler {
    columns: Vec<(String, JsonGuess)>,
    hint: usize,
}

impl JsonSampler {
    /// Takes in one record's bytes; one that is not a JSON object says what it
    /// can before its error (which it meets again, with its error, when decoded).
    pub(crate) fn observe(&mut self, bytes: &[u8]) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            let mut de = serde_json::Deserializer::from_str(text);
            let _ = SampleRow {
                columns: &mut self.columns,
                hint: &mut self.hint,
            }
            .deserialize(&mut de);
        }
    }

    /// Whether no sampled object had any key.
    pub(crate) fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The inferred columns, leaving out the keys `skip` names (the Kafka
    /// reader's system columns).
    pub(crate) fn finish(self, skip: impl Fn(&str) -> bool) -> InferredColumns {
        let (fields, kinds) = self
            .columns
            .into_iter()
            .filter(|(name, _)| !skip(name))
            .map(|(name, guess)| {
                let (data_type, kind) = guess.column();
                (Field::new(&name, data_type), kind)
            })
            .unzip();
        InferredColumns {
            schema: Schema::new(fields),
            kinds,
        }
    }
}

/// Records the keys (first-seen order) and value kinds of one sample object.
struct SampleRow<'a> {
    columns: &'a mut Vec<(String, JsonGuess)>,
    hint: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for SampleRow<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SampleRow<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(c) = map.next_key_seed(SampleKey {
            columns: &mut *self.columns,
            hint: *self.hint,
        })? {
            *self.hint = c + 1;
            map.next_value_seed(Classify(&mut self.columns[c].1))?;
        }
        Ok(())
    }
}

struct SampleKey<'a> {
    columns: &'a mut Vec<(String, JsonGuess)>,
    hint: usize,
}

impl<'de> DeserializeSeed<'de> for SampleKey<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for SampleKey<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E>(self, key: &str) -> std::result::Result<usize, E> {
        if self.columns.get(self.hint).is_some_and(|(n, _)| n == key) {
            return Ok(self.hint);
        }
        if let Some(i) = self.columns.iter().position(|(n, _)| n == key) {
            return Ok(i);
        }
        self.columns.push((key.to_string(), JsonGuess::default()));
        Ok(self.columns.len() - 1)
    }
}

/// Feeds one sample value's JSON type to its column's guess.
struct Classify<'a>(&'a mut JsonGuess);

impl<'de> DeserializeSeed<'de> for Classify<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Classify<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
        self.0.observe(JsonGuess::Boolean);
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
        self.0.observe(JsonGuess::Integer);
        Ok(())
    }
    fn visit_u64<E>(self, u: u64) -> std::result::Result<(), E> {
        // Past i64: a float rather than a failure of every such record.
        self.0.observe(if i64::try_from(u).is_ok() {
            JsonGuess::Integer
        } else {
            JsonGuess::Float
        });
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
        self.0.observe(JsonGuess::Float);
        Ok(())
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<(), E> {
        self.0.observe(JsonGuess::Text {
            timestamps: parse_timestamp(s.as_bytes(), false).is_some(),
        });
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.0.observe(JsonGuess::Nested);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.0.observe(JsonGuess::Nested);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use velo_types::connector::Format;
    use velo_types::parse_schema_decl;

    use super::*;

    fn reader<'a>(text: &'a str, schema: Option<&str>) -> Result<JsonLinesReader<&'a [u8]>> {
        let encoding = Encoding {
            format: Format::JsonLines,
            delimiter: b',',
            schema: schema.map(|s| parse_schema_decl(s).unwrap()),
        };
        JsonLinesReader::new(
            text.as_bytes(),
            "t.jsonl",
            &encoding,
            &ReaderOptions {
                batch_size: 2,
                ..Default::default()
            },
        )
    }

    fn all_rows(r: &mut JsonLinesReader<&[u8]>) -> Result<Vec<Vec<Value>>> {
        let mut rows = Vec::new();
        while let Some(b) = r.read_batch()? {
            rows.extend(b.rows().map(|r| r.to_vec()));
        }
        Ok(rows)
    }

    #[test]
    fn infers_union_of_keys_in_first_seen_order() {
        let text = "{\"b\":1,\"a\":\"x\"}\n\n{\"a\":\"y\",\"c\":2.5,\"b\":2}\r\n{\"d\":\"2024-01-15T10:00:00Z\",\"e\":true,\"f\":{\"g\":[1]}}\n";
        let mut r = reader(text, None).unwrap();
        let fields: Vec<_> = r
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name.to_string(), f.data_type))
            .collect();
        assert_eq!(
            fields,
            [
                ("b".to_string(), DataType::Int),
                ("a".to_string(), DataType::String),
                ("c".to_string(), DataType::Float),
                ("d".to_string(), DataType::Timestamp),
                ("e".to_string(), DataType::Boolean),
                ("f".to_string(), DataType::String),
            ]
        );
        let rows = all_rows(&mut r).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1][..3],
            [Value::Int(2), Value::str("y"), Value::Float(2.5)]
        );
        assert_eq!(rows[0][2], Value::Null);
        assert_eq!(rows[2][3], Value::Timestamp(1_705_312_800_000));
        assert_eq!(rows[2][5], Value::str("{\"g\":[1]}"));
    }

    /// The errors of every record, in order, and the rows of the others.
    fn rows_and_errors(r: &mut JsonLinesReader<&[u8]>) -> (Vec<Vec<Value>>, Vec<String>) {
        let (mut rows, mut errors) = (Vec::new(), Vec::new());
        loop {
            match r.read_batch() {
                Ok(Some(b)) => rows.extend(b.rows().map(|r| r.to_vec())),
                Ok(None) => break,
                Err(e) => errors.push(e.to_string()),
            }
        }
        (rows, errors)
    }

    #[test]
    fn an_inferred_column_keeps_the_json_type_of_its_first_values() {
        // SPEC §3: a value of another JSON type fails its record; the column's
        // type never changes silently (it used to become VARCHAR).
        let text = r#"{"n":1,"s":"x","b":true,"o":{"k":1}}
{"n":2.5,"s":"y","b":false,"o":[1]}
{"n":"3","s":4,"b":"no","o":"text"}
{"n":null,"s":null,"b":null,"o":null}
"#;
        let mut r = reader(text, None).unwrap();
        let types: Vec<DataType> = r.schema().fields().iter().map(|f| f.data_type).collect();
        // Integers widen to DOUBLE once a float is sampled.
        assert_eq!(
            types,
            [
                DataType::Float,
                DataType::String,
                DataType::Boolean,
                DataType::String
            ]
        );
        let (rows, errors) = rows_and_errors(&mut r);
        assert_eq!(
            rows,
            [
                vec![
                    Value::Float(1.0),
                    Value::str("x"),
                    Value::Bool(true),
                    Value::str("{\"k\":1}")
                ],
                vec![
                    Value::Float(2.5),
                    Value::str("y"),
                    Value::Bool(false),
                    Value::str("[1]")
                ],
                vec![Value::Null; 4],
            ]
        );
        // The first misfit of the record names it.
        assert_eq!(
            errors,
            ["t.jsonl:3: column 'n': expected DOUBLE (its type from its first values), found the string '3'"]
        );
    }

    #[test]
    fn a_type_change_after_the_sample_fails_those_records_only() {
        let mut text = String::new();
        for i in 0..INFERENCE_SAMPLE_RECORDS {
            text.push_str(&format!("{{\"id\":{i},\"t\":\"2024-01-15T10:00:00Z\"}}\n"));
        }
        text.push_str("{\"id\":1.5,\"t\":\"2024-01-15T10:00:01Z\"}\n");
        text.push_str("{\"id\":\"7\",\"t\":\"2024-01-15T10:00:02Z\"}\n");
        text.push_str("{\"id\":8,\"t\":\"soon\"}\n");
        text.push_str("{\"id\":9,\"t\":1705312800000}\n");
        text.push_str("{\"id\":10,\"t\":\"2024-01-15T10:00:03Z\"}\n");
        let mut r = reader(&text, None).unwrap();
        let types: Vec<DataType> = r.schema().fields().iter().map(|f| f.data_type).collect();
        assert_eq!(types, [DataType::Int, DataType::Timestamp]);
        let (rows, errors) = rows_and_errors(&mut r);
        assert_eq!(rows.len(), INFERENCE_SAMPLE_RECORDS + 1);
        assert_eq!(
            rows.last().unwrap(),
            &[Value::Int(10), Value::Timestamp(1_705_312_803_000)]
        );
        let n = INFERENCE_SAMPLE_RECORDS;
        assert_eq!(
            errors,
            [
                format!("t.jsonl:{}: column 'id': expected BIGINT (its type from its first values), found the number 1.5", n + 1),
                format!("t.jsonl:{}: column 'id': expected BIGINT (its type from its first values), found the string '7'", n + 2),
                format!("t.jsonl:{}: column 't': expected TIMESTAMP (its type from its first values), found the string 'soon'", n + 3),
                format!("t.jsonl:{}: column 't': expected TIMESTAMP (its type from its first values), found the number 1705312800000", n + 4),
            ]
        );
    }

    #[test]
    fn the_sampler_leaves_out_the_keys_it_is_told_to_skip() {
        let mut sampler = JsonSampler::default();
        assert!(sampler.is_empty());
        sampler.observe(br#"{"a":1,"_key":"k","b":[1]}"#);
        sampler.observe(b"not json");
        sampler.observe(br#"{"c":"2024-01-15 10:00:00","a":2e3}"#);
        let columns = sampler.finish(|k| k == "_key");
        let fields: Vec<(&str, DataType)> = columns
            .schema
            .fields()
            .iter()
            .map(|f| (&*f.name, f.data_type))
            .collect();
        assert_eq!(
            fields,
            [
                ("a", DataType::Float),
                ("b", DataType::String),
                ("c", DataType::Timestamp)
            ]
        );
        assert_eq!(
            columns.kinds,
            [JsonKind::Number, JsonKind::Nested, JsonKind::String]
        );
    }

    #[test]
    fn a_column_of_nulls_in_the_sample_is_varchar() {
        let mut r = reader("{\"a\":null}\n{\"a\":\"x\"}\n{\"a\":1}\n", None).unwrap();
        assert_eq!(r.schema().field(0).data_type, DataType::String);
        let (rows, errors) = rows_and_errors(&mut r);
        assert_eq!(rows, [vec![Value::Null], vec![Value::str("x")]]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].ends_with("found the number 1"), "{errors:?}");
    }

    #[test]
    fn declared_types_convert_numbers_and_strings() {
        let text = r#"{"id":"7","amount":12.345,"ts":1705312800000,"flag":true,"name":5}
{"id":8,"amount":"1.005","ts":"2024-01-15 10:00:00","extra":[1,2],"name":null}
"#;
        let mut r = reader(
            text,
            Some("id BIGINT, amount DECIMAL(10,2), ts TIMESTAMP, flag BOOLEAN, name VARCHAR"),
        )
        .unwrap();
        let rows = all_rows(&mut r).unwrap();
        assert_eq!(
            rows[0],
            [
                Value::Int(7),
                Value::Decimal(Decimal::new(1235, 2)),
                Value::Timestamp(1_705_312_800_000),
                Value::Bool(true),
                Value::str("5"),
            ]
        );
        assert_eq!(rows[1][1], Value::Decimal(Decimal::new(101, 2)));
        assert_eq!(rows[1][3], Value::Null);
        assert_eq!(rows[1][4], Value::Null);
    }

    #[test]
    fn errors_name_line_and_column() {
        let text: &[u8] = b"{\"a\":1}\n{\"a\":\"x\"}\n{\"a\":\n[1]\n\xff\n{\"a\":2} 3\n{\"a\":3}\n";
        let mut r = JsonLinesReader::new(
            text,
            "t.jsonl",
            &Encoding {
                format: Format::JsonLines,
                delimiter: b',',
                schema: Some(parse_schema_decl("a INT").unwrap()),
            },
            &ReaderOptions::default(),
        )
        .unwrap();
        assert_eq!(r.read_batch().unwrap().unwrap().num_rows(), 1);
        let e = r.read_batch().unwrap_err().to_string();
        assert_eq!(e, "t.jsonl:2: column 'a': expected BIGINT, found 'x'");
        let e = r.read_batch().unwrap_err().to_string();
        assert!(
            e.starts_with("t.jsonl:3: invalid JSON: EOF while parsing"),
            "{e}"
        );
        let e = r.read_batch().unwrap_err().to_string();
        assert!(
            e.starts_with("t.jsonl:4:") && e.contains("expected a JSON object"),
            "{e}"
        );
        let e = r.read_batch().unwrap_err().to_string();
        assert_eq!(e, "t.jsonl:5: invalid UTF-8");
        let e = r.read_batch().unwrap_err().to_string();
        assert!(
            e.starts_with("t.jsonl:6: invalid JSON: trailing characters"),
            "{e}"
        );
        assert_eq!(r.read_batch().unwrap().unwrap().row(0), [Value::Int(3)]);
        assert!(r.read_batch().unwrap().is_none());
    }

    /// Positions after rows, a deferred error and blank lines, and a reader
    /// resumed at each over a seekable stream, with an inferred schema.
    #[test]
    fn positions_are_exact_and_resume_over_any_seekable_input() {
        let text = "{\"a\":1}\r\n\n{\"a\":\"x\"}\n{\"a\":2}\n  \n{\"a\":3}";
        let mut r = reader(text, None).unwrap();
        let at = |byte, line| SourcePosition { byte, line };
        assert_eq!(r.position(), at(0, 1));
        let mut seen = vec![r.position()];
        let mut items = Vec::new();
        loop {
            match r.read_batch() {
                Ok(Some(b)) => {
                    let lines = b.positions().unwrap().to_vec();
                    items.extend(b.rows().map(|r| format!("{:?}", r[0])).zip(lines));
                }
                Ok(None) => break,
                Err(e) => items.push((e.to_string(), 0)),
            }
            seen.push(r.position());
        }
        // Batches of 2: row 1 with the error deferred, the error, rows 4 and 6.
        assert_eq!(seen, [at(0, 1), at(9, 2), at(20, 4), at(38, 6)]);
        assert_eq!(items[0], ("Int(1)".to_string(), 1));
        assert_eq!(items[3], ("Int(3)".to_string(), 6));
        for (i, &pos) in seen.iter().enumerate().take(4) {
            let encoding = Encoding {
                format: Format::JsonLines,
                delimiter: b',',
                schema: None,
            };
            let input = std::io::Cursor::new(text.as_bytes());
            let options = ReaderOptions {
                batch_size: 2,
                ..Default::default()
            };
            let mut r = JsonLinesReader::new(input, "t.jsonl", &encoding, &options).unwrap();
            r.resume(pos).unwrap();
            let mut got = Vec::new();
            loop {
                match r.read_batch() {
                    Ok(Some(b)) => {
                        let lines = b.positions().unwrap().to_vec();
                        got.extend(b.rows().map(|r| format!("{:?}", r[0])).zip(lines));
                    }
                    Ok(None) => break,
                    Err(e) => got.push((e.to_string(), 0)),
                }
            }
            let skip = [0, 1, 2, 4][i];
            assert_eq!(got, items[skip..], "resumed at {pos:?}");
            assert_eq!(r.position(), at(38, 6));
        }
    }

    #[test]
    fn empty_input_needs_a_schema() {
        assert!(reader("", None).is_err());
        assert!(reader("{}\n", None).is_err());
        let mut r = reader("", Some("a INT")).unwrap();
        assert!(r.read_batch().unwrap().is_none());
    }

    #[test]
    fn keys_match_case_insensitively_and_in_any_order() {
        let mut r = reader(
            "{\"B\":2,\"A\":1}\n{\"a\":3,\"b\":4}\n",
            Some("a INT, b INT"),
        )
        .unwrap();
        let rows = all_rows(&mut r).unwrap();
        assert_eq!(rows[0], [Value::Int(1), Value::Int(2)]);
        assert_eq!(rows[1], [Value::Int(3), Value::Int(4)]);
    }
}
