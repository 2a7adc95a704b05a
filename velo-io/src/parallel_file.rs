//! A CSV or JSON lines file decoded by several threads
//! ([`ParallelFileReader`]), with exactly the batches, errors and positions of
//! one reader of the file ([`crate::csv_source::CsvReader`],
//! [`crate::json_source::JsonLinesReader`]).
//!
//! ```text
//! splitter thread:   file -> chunks of about 4 batches of whole records -> decoder k % M
//! decoder threads:   chunk -> batches and record errors (the format's reader over the chunk)
//! the reader:        chunk 0, 1, 2, ... in order -> re-cut into batch_size rows -> caller
//! ```
//!
//! The splitter finds record boundaries without parsing fields. In CSV, with
//! no quote in sight, a record is a run of bytes up to its `\r` or `\n` (blank
//! lines are no records), found with `memchr`; a region that holds a quote is
//! split by the CSV parser itself, which knows where quoted line breaks are.
//! In JSON lines a record is a line that is not blank (JSON strings hold no
//! raw line breaks). A chunk holds [`BATCHES_PER_CHUNK`] batches' worth of
//! records when the scan counted right, and the reader does not rely on it:
//! it re-cuts what the decoders return into batches of `batch_size` rows,
//! ended early by a record error just as one reader ends them, so a chunk
//! that holds fewer records (a BOM line, a record error) changes nothing the
//! caller sees. When every chunk is whole batches, as on clean input, they are
//! handed on as they are, with no copy.
//!
//! Each decoder keeps at most [`CHUNKS_AHEAD`] results ready; dropping the
//! reader stops the threads.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use async_trait::async_trait;
use velo_types::{Batch, BatchBuilder, SchemaRef};

use crate::csv_source::RecordReader;
use crate::error::{Error, Result};
use crate::{DataReader, SourcePosition};

/// Chunks each decoder keeps decoded ahead of the reader.
pub const CHUNKS_AHEAD: usize = 4;

/// Batches of records per chunk: each chunk costs two hand-overs between
/// threads (to its decoder and back), which a few batches share.
pub const BATCHES_PER_CHUNK: usize = 4;

/// The splitter reads the file in blocks of this many bytes.
const READ_BLOCK: usize = 1 << 20;

/// What a decoder made of one chunk, in order.
#[derive(Debug)]
pub(crate) enum Segment {
    /// Rows, the position after each, and after the last.
    Rows {
        batch: Batch,
        afters: Vec<SourcePosition>,
        after: SourcePosition,
    },
    /// A record error, or an error reading the file; the position after it.
    Failed(Error, SourcePosition),
    /// The end of the input, at this position (after trailing blank lines).
    End(SourcePosition),
}

/// A reader of one format that decodes chunks of its input, on a decoding
/// thread.
pub(crate) trait ChunkDecoder: Send + 'static {
    /// Starts reading `bytes`, whole records that lie in the input at `at`.
    fn start_chunk(&mut self, bytes: Vec<u8>, at: SourcePosition);

    /// The next batch of the chunk, as the format's reader returns it.
    fn read_batch(&mut self) -> Result<Option<Batch>>;

    /// The position after what [`ChunkDecoder::read_batch`] returned.
    fn position(&self) -> SourcePosition;

    /// The position after each row of the batch just returned.
    fn take_afters(&mut self) -> Vec<SourcePosition>;

    /// Decodes `bytes` into what the format's reader would return for them,
    /// each with the position after it; `last`: they end the input, and
    /// [`Segment::End`] with the position after the trailing blank lines
    /// follows.
    fn decode_chunk(
        &mut self,
        bytes: Vec<u8>,
        at: SourcePosition,
        last: bool,
        out: &mut Vec<Segment>,
    ) {
        self.start_chunk(bytes, at);
        loop {
            match self.read_batch() {
                Ok(Some(batch)) => {
                    let afters = self.take_afters();
                    out.push(Segment::Rows {
                        batch,
                        afters,
                        after: self.position(),
                    });
                }
                Ok(None) => {
                    if last {
                        out.push(Segment::End(self.position()));
                    }
                    break;
                }
                Err(e) => out.push(Segment::Failed(e, self.position())),
            }
        }
    }
}

/// How the splitter finds records.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Records {
    Csv { delimiter: u8 },
    JsonLines,
}

/// What a reader of one format hands a [`ParallelFileReader`].
pub(crate) struct Handover<D> {
    pub(crate) file: File,
    pub(crate) label: String,
    pub(crate) schema: SchemaRef,
    pub(crate) batch_size: usize,
    /// Where the next record starts.
    pub(crate) position: SourcePosition,
    pub(crate) records: Records,
    /// Makes one decoder per thread.
    pub(crate) decoder: Box<dyn Fn() -> D>,
}

/// What the splitter hands a decoder.
enum Work {
    Chunk {
        bytes: Vec<u8>,
        at: SourcePosition,
        last: bool,
    },
    /// Reading the file failed at this position: the input ends there.
    Failed(std::io::Error, SourcePosition),
}

/// Something ready to be returned, in order.
#[derive(Debug)]
enum Ready {
    Rows(Batch, SourcePosition),
    Failed(Error, SourcePosition),
    End(SourcePosition),
}

/// A CSV file source decoded by `decoders` threads (see the module docs).
#[derive(Debug)]
pub struct ParallelFileReader {
    schema: SchemaRef,
    label: String,
    batch_size: usize,
    results: Vec<Receiver<Vec<Segment>>>,
    /// The next chunk to take.
    next: usize,
    ready: VecDeque<Ready>,
    /// Rows taken from chunks, not yet a whole batch.
    partial: BatchBuilder,
    partial_positions: Vec<u64>,
    partial_after: SourcePosition,
    /// The position after everything returned so far.
    position: SourcePosition,
    finished: bool,
    threads: Vec<JoinHandle<()>>,
}

impl ParallelFileReader {
    /// Reads on from where a reader of one format stopped (after its header,
    /// or where it resumed), with `decoders` threads (at least 1) and one
    /// splitting thread. An error when no thread can be started.
    pub(crate) fn start<D: ChunkDecoder>(
        handover: Handover<D>,
        decoders: usize,
    ) -> Result<ParallelFileReader> {
        let Handover {
            mut file,
            label,
            schema,
            batch_size,
            position,
            records,
            decoder: make_decoder,
        } = handover;
        let thread_error = |e: std::io::Error| Error::Io {
            path: label.clone(),
            source: std::io::Error::other(format!("cannot start a decoding thread: {e}")),
        };
        let mut threads = Vec::new();
        let mut inputs = Vec::new();
        let mut results = Vec::new();
        for j in 0..decoders.max(1) {
            let (work_tx, work_rx) = sync_channel::<Work>(CHUNKS_AHEAD);
            let (result_tx, result_rx) = sync_channel(CHUNKS_AHEAD);
            let mut decoder = make_decoder();
            let label = label.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("decode-{j}"))
                .spawn(move || decode(&mut decoder, &label, work_rx, result_tx));
            match spawned {
                Ok(h) => {
                    threads.push(h);
                    inputs.push(work_tx);
                    results.push(result_rx);
                }
                // No thread to spare: the ones started decode every chunk.
                Err(_) if !inputs.is_empty() => break,
                Err(e) => return Err(thread_error(e)),
            }
        }
        let mut splitter = Splitter {
            buf: Vec::new(),
            start: 0,
            filled: 0,
            eof: false,
            at: position,
            records,
            want: batch_size.saturating_mul(BATCHES_PER_CHUNK),
        };
        let spawned = std::thread::Builder::new()
            .name("split".into())
            .spawn(move || {
                if let Err(e) = file.seek(SeekFrom::Start(position.byte)) {
                    let _ = inputs[0].send(Work::Failed(e, position));
                    return;
                }
                splitter.run(&mut file, &inputs)
            });
        match spawned {
            Ok(h) => threads.push(h),
            Err(e) => return Err(thread_error(e)),
        }
        Ok(ParallelFileReader {
            partial: BatchBuilder::with_capacity(schema.clone(), batch_size),
            schema,
            label,
            batch_size,
            results,
            next: 0,
            ready: VecDeque::new(),
            partial_positions: Vec::new(),
            partial_after: position,
            position,
            finished: false,
            threads,
        })
    }

    /// The next batch, in order (see [`DataReader::next_batch`]).
    pub fn read_batch(&mut self) -> Result<Option<Batch>> {
        loop {
            if let Some(ready) = self.ready.pop_front() {
                return match ready {
                    Ready::Rows(batch, after) => {
                        self.position = after;
                        Ok(Some(batch))
                    }
                    Ready::Failed(e, after) => {
                        self.position = after;
                        Err(e)
                    }
                    Ready::End(after) => {
                        self.position = after;
                        self.finished = true;
                        Ok(None)
                    }
                };
            }
            if self.finished {
                return Ok(None);
            }
            let from = self.next % self.results.len();
            match self.results[from].recv() {
                Ok(segments) => {
                    self.next += 1;
                    for s in segments {
                        self.take(s);
                    }
                }
                Err(_) => {
                    // A decoder ended before the last chunk: it panicked.
                    self.finished = true;
                    return Err(Error::Io {
                        path: self.label.clone(),
                        source: std::io::Error::other("a CSV decoding thread stopped"),
                    });
                }
            }
        }
    }

    /// Files one decoder result: rows are re-cut into whole batches.
    fn take(&mut self, segment: Segment) {
        match segment {
            Segment::Rows {
                batch,
                afters,
                after,
            } => {
                if self.partial.is_empty() && batch.num_rows() == self.batch_size {
                    self.ready.push_back(Ready::Rows(batch, after));
                    return;
                }
                let width = batch.width();
                let positions = batch.positions().map(<[u64]>::to_vec).unwrap_or_default();
                let mut values = batch.into_values().into_iter();
                for (i, row_after) in afters.into_iter().enumerate() {
                    for v in values.by_ref().take(width) {
                        self.partial.push_value(v);
                    }
                    self.partial.finish_row();
                    if let Some(&p) = positions.get(i) {
                        self.partial_positions.push(p);
                    }
                    self.partial_after = row_after;
                    if self.partial.num_rows() == self.batch_size {
                        self.flush_partial();
                    }
                }
            }
            Segment::Failed(e, after) => {
                self.flush_partial();
                self.ready.push_back(Ready::Failed(e, after));
            }
            Segment::End(after) => {
                // One reader looks past the last row for more: its position
                // is then after the blank lines that end the input.
                self.partial_after = after;
                self.flush_partial();
                self.ready.push_back(Ready::End(after));
            }
        }
    }

    fn flush_partial(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let positions = std::mem::take(&mut self.partial_positions);
        let batch = self.partial.take().with_positions(positions);
        self.ready.push_back(Ready::Rows(batch, self.partial_after));
    }

    /// The threads decoding, the splitter not counted.
    pub fn decoders(&self) -> usize {
        self.results.len()
    }
}

impl Drop for ParallelFileReader {
    fn drop(&mut self) {
        // Closing the result channels stops the decoders at their next send,
        // and with them the splitter.
        self.results.clear();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

#[async_trait]
impl DataReader for ParallelFileReader {
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
        Some(self.position)
    }

    fn helper_threads(&self) -> usize {
        self.threads.len()
    }
}

/// A decoding thread: decodes each chunk it is handed, in order.
fn decode<D: ChunkDecoder>(
    decoder: &mut D,
    label: &str,
    work: Receiver<Work>,
    results: SyncSender<Vec<Segment>>,
) {
    for w in work {
        let mut out = Vec::with_capacity(1);
        match w {
            Work::Chunk { bytes, at, last } => {
                decoder.decode_chunk(bytes, at, last, &mut out);
            }
            Work::Failed(e, at) => {
                let e = Error::Io {
                    path: label.to_string(),
                    source: e,
                };
                out.push(Segment::Failed(e, at));
                out.push(Segment::End(at));
            }
        }
        if results.send(out).is_err() {
            return;
        }
    }
}

/// Cuts the file into chunks of whole records (see the module docs).
struct Splitter {
    /// `buf[start..filled]`: read, not yet handed out; `buf[start]` is at `at`.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    eof: bool,
    at: SourcePosition,
    records: Records,
    /// Records per chunk.
    want: usize,
}

impl Splitter {
    /// Hands chunk `k` to decoder `k % M` until the last one, or a read error.
    fn run(&mut self, file: &mut File, decoders: &[SyncSender<Work>]) {
        let mut k = 0;
        loop {
            let (work, end) = match self.next_chunk(file) {
                Ok(w @ Work::Chunk { last, .. }) => (w, last),
                Ok(w) | Err(w) => (w, true),
            };
            if decoders[k % decoders.len()].send(work).is_err() || end {
                return;
            }
            k += 1;
        }
    }

    fn next_chunk(&mut self, file: &mut File) -> std::result::Result<Work, Work> {
        loop {
            let data = &self.buf[self.start..self.filled];
            let found = match self.records {
                Records::Csv { delimiter } => cut(data, self.want, self.eof, delimiter, self.at),
                Records::JsonLines => cut_lines(data, self.want, self.eof),
            };
            if let Some((len, newlines)) = found {
                let bytes = data[..len].to_vec();
                let at = self.at;
                self.start += len;
                self.at.byte += len as u64;
                self.at.line += newlines;
                let last = self.eof && self.start == self.filled;
                return Ok(Work::Chunk { bytes, at, last });
            }
            if let Err(e) = self.fill(file) {
                return Err(Work::Failed(e, self.at));
            }
        }
    }

    /// Reads another block, first moving what is left to the front.
    fn fill(&mut self, file: &mut File) -> std::io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.filled < READ_BLOCK {
            self.buf.resize(self.filled + READ_BLOCK, 0);
        }
        loop {
            match file.read(&mut self.buf[self.filled..]) {
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

/// The length of the first `want` records of `data` (which starts a record or
/// blank lines before one) and the `\n`s in them; `None` when `data` may end
/// inside the `want`-th record and more is to come (`!eof`). At the end of the
/// input, all of `data`.
fn cut(
    data: &[u8],
    want: usize,
    eof: bool,
    delimiter: u8,
    at: SourcePosition,
) -> Option<(usize, u64)> {
    let mut records = 0;
    let mut newlines = 0u64;
    // Where the bytes after the last line break begin.
    let mut run = 0;
    for p in memchr::memchr3_iter(b'\n', b'\r', b'"', data) {
        let b = data[p];
        if b == b'"' {
            return cut_quoted(data, want, eof, delimiter, at);
        }
        let newline = u64::from(b == b'\n');
        if p > run {
            records += 1;
            if records == want {
                return Some((p + 1, newlines + newline));
            }
        }
        newlines += newline;
        run = p + 1;
    }
    eof.then_some((data.len(), newlines))
}

/// [`cut`] for data with a quote: the CSV parser finds the records.
#[cold]
fn cut_quoted(
    data: &[u8],
    want: usize,
    eof: bool,
    delimiter: u8,
    at: SourcePosition,
) -> Option<(usize, u64)> {
    let mut r = RecordReader::over_chunk(std::io::empty(), data.to_vec(), at, delimiter);
    let mut records = 0;
    loop {
        match r.next_record() {
            Ok(Some(span)) => {
                let len = usize::try_from(span.after.byte - at.byte).ok()?;
                // A record that runs to the end of what is read may go on.
                if len == data.len() && !eof {
                    return None;
                }
                records += 1;
                if records == want {
                    return Some((len, span.after.line - at.line));
                }
            }
            // Only blank lines are left.
            Ok(None) | Err(_) => {
                return eof.then(|| (data.len(), count_newlines(data)));
            }
        }
    }
}

/// [`cut`] for JSON lines: a record is a line that is not blank.
fn cut_lines(data: &[u8], want: usize, eof: bool) -> Option<(usize, u64)> {
    let mut records = 0;
    let mut newlines = 0u64;
    let mut start = 0;
    for p in memchr::memchr_iter(b'\n', data) {
        newlines += 1;
        if !data[start..p].trim_ascii().is_empty() {
            records += 1;
            if records == want {
                return Some((p + 1, newlines));
            }
        }
        start = p + 1;
    }
    eof.then_some((data.len(), newlines))
}

fn count_newlines(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use proptest::prelude::*;
    use velo_types::connector::{Encoding, Format};
    use velo_types::parse_schema_decl;

    use super::*;
    use crate::ReaderOptions;

    /// Everything a reader returns, call by call: rows with their lines, or
    /// the error's message, and the position after each call.
    type Calls = Vec<(
        std::result::Result<Vec<(Vec<velo_types::Value>, u64)>, String>,
        SourcePosition,
    )>;

    fn drain(
        r: &mut dyn DataReader,
        mut next: impl FnMut(&mut dyn DataReader) -> Result<Option<Batch>>,
    ) -> Calls {
        let mut calls = Vec::new();
        loop {
            let got = next(r);
            let at = r.position().unwrap();
            match got {
                Ok(None) => {
                    calls.push((Ok(Vec::new()), at));
                    return calls;
                }
                Ok(Some(b)) => {
                    let lines = b.positions().unwrap().to_vec();
                    calls.push((
                        Ok(b.rows()
                            .map(<[velo_types::Value]>::to_vec)
                            .zip(lines)
                            .collect()),
                        at,
                    ));
                }
                Err(e) => {
                    let fatal = !e.is_record_error();
                    calls.push((Err(e.to_string()), at));
                    if fatal {
                        return calls;
                    }
                }
            }
        }
    }

    /// What one reader and `decoders` threads return for `text`.
    fn both(
        text: &[u8],
        format: Format,
        schema: Option<&str>,
        batch_size: usize,
        decoders: usize,
        resume: Option<SourcePosition>,
    ) -> (Calls, Calls) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text).unwrap();
        let encoding = Encoding {
            format,
            delimiter: b',',
            schema: schema.map(|s| parse_schema_decl(s).unwrap()),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let open = |readers| {
            let options = ReaderOptions {
                batch_size,
                readers,
                resume,
                ..ReaderOptions::default()
            };
            crate::csv_source::open_file_reader(file.path(), &encoding, &options)
        };
        let next = |r: &mut dyn DataReader| rt.block_on(r.next_batch());
        let one = match open(1) {
            Ok(mut r) => drain(r.as_mut(), next),
            Err(e) => vec![(Err(e.to_string()), SourcePosition::START)],
        };
        let many = match open(decoders.max(2)) {
            Ok(mut r) => drain(r.as_mut(), next),
            Err(e) => vec![(Err(e.to_string()), SourcePosition::START)],
        };
        (one, many)
    }

    #[test]
    fn the_same_batches_errors_and_positions_as_one_reader() {
        let mut text = String::from("id,name,x\n");
        for i in 0..5000 {
            match i % 97 {
                13 => text.push_str("oops,a,1.5\n"),
                14 => text.push_str("7,\"quoted\nline\",2\n"),
                15 => text.push_str("\r\n\n"),
                16 => text.push_str("1,2\n"),
                _ => text.push_str(&format!("{i},n{},{}.5\r\n", i % 7, i)),
            }
        }
        for batch_size in [1, 7, 64, 1024] {
            for decoders in [2, 3] {
                let (one, many) = both(
                    text.as_bytes(),
                    Format::Csv,
                    Some("id BIGINT, name VARCHAR, x DOUBLE"),
                    batch_size,
                    decoders,
                    None,
                );
                assert!(one.len() > 40, "{}", one.len());
                assert_same(
                    &one,
                    &many,
                    &format!("batch size {batch_size}, {decoders} decoders"),
                );
            }
        }
        // Inferred columns, and resumed in the middle.
        let (one, many) = both(text.as_bytes(), Format::Csv, None, 100, 2, None);
        assert_same(&one, &many, "inferred");
        let middle = one[one.len() / 2].1;
        let (one, many) = both(text.as_bytes(), Format::Csv, None, 100, 2, Some(middle));
        assert_same(&one, &many, "resumed");
    }

    /// Names the first call that differs.
    fn assert_same(one: &Calls, many: &Calls, what: &str) {
        for (i, (a, b)) in one.iter().zip(many).enumerate() {
            assert_eq!(a, b, "{what}: call {i}");
        }
        assert_eq!(one.len(), many.len(), "{what}");
    }

    #[test]
    fn json_lines_read_as_with_one_reader() {
        let mut text = String::new();
        for i in 0..3000 {
            match i % 89 {
                5 => text.push_str("{\"id\": \"x\"}\n"),
                6 => text.push_str("  \r\n\n"),
                7 => text.push_str("{not json\n"),
                _ => text.push_str(&format!("{{\"id\": {i}, \"name\": \"n{}\"}}\r\n", i % 5)),
            }
        }
        for batch_size in [1, 10, 1024] {
            let (one, many) = both(
                text.as_bytes(),
                Format::JsonLines,
                Some("id BIGINT, name VARCHAR"),
                batch_size,
                2,
                None,
            );
            assert!(one.len() > 60, "{}", one.len());
            assert_same(&one, &many, &format!("batch size {batch_size}"));
        }
        let (one, many) = both(text.as_bytes(), Format::JsonLines, None, 100, 3, None);
        assert_same(&one, &many, "inferred");
        let middle = one[one.len() / 2].1;
        let (one, many) = both(
            text.as_bytes(),
            Format::JsonLines,
            None,
            100,
            2,
            Some(middle),
        );
        assert_same(&one, &many, "resumed");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_json_lines_read_as_with_one_reader(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("{\"a\": 1, \"b\": \"x\"}\n"), Just("{\"a\": 2}\r\n"), Just("\n"), Just(" \n"),
                    Just("{\"a\": \"no\"}\n"), Just("[1]\n"), Just("\u{feff}"), Just("{\"b\": \"open"),
                ],
                0..60,
            ),
            batch_size in 1usize..6,
            decoders in 2usize..4,
        ) {
            let text: String = parts.concat();
            let (one, many) = both(text.as_bytes(), Format::JsonLines, Some("a BIGINT, b VARCHAR"), batch_size, decoders, None);
            prop_assert_eq!(one, many);
        }

        #[test]
        fn any_input_reads_as_with_one_reader(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("1,a\n"), Just("22,bb\r\n"), Just("\n"), Just("\r"),
                    Just("x,1\n"), Just("3\n"), Just("\"q,\n\",4\n"), Just("5,\"\"\n"),
                    Just("\u{feff}"), Just("6,\"open"), Just(",\n"),
                ],
                0..60,
            ),
            batch_size in 1usize..6,
            decoders in 2usize..4,
            header in any::<bool>(),
        ) {
            let text: String = parts.concat();
            let format = if header { Format::Csv } else { Format::CsvNoHeader };
            let (one, many) = both(text.as_bytes(), format, Some("a BIGINT, b VARCHAR"), batch_size, decoders, None);
            prop_assert_eq!(one, many);
        }
    }

    const AT: SourcePosition = SourcePosition { byte: 10, line: 3 };

    #[test]
    fn cut_counts_records_not_blank_lines() {
        let data = b"a,b\n\n\r\nc,d\r\ne\n";
        assert_eq!(cut(data, 1, false, b',', AT), Some((4, 1)));
        // The blank lines belong to the next record's chunk.
        assert_eq!(cut(data, 2, false, b',', AT), Some((11, 3)));
        assert_eq!(cut(data, 3, false, b',', AT), Some((14, 5)));
        // More is needed for a fourth, unless the input ends.
        assert_eq!(cut(data, 4, false, b',', AT), None);
        assert_eq!(cut(data, 4, true, b',', AT), Some((14, 5)));
        // A last record without a line break.
        assert_eq!(cut(b"a\nb", 2, false, b',', AT), None);
        assert_eq!(cut(b"a\nb", 2, true, b',', AT), Some((3, 1)));
    }

    #[test]
    fn quoted_line_breaks_do_not_end_records() {
        let data = b"1,\"x\ny\"\n2,z\n";
        assert_eq!(cut(data, 1, false, b',', AT), Some((8, 2)));
        assert_eq!(cut(data, 2, false, b',', AT), None);
        assert_eq!(cut(data, 2, true, b',', AT), Some((12, 3)));
        // An open quote takes the rest: more is needed, or it is the last.
        assert_eq!(cut(b"1,\"x\n2\n", 1, false, b',', AT), None);
        assert_eq!(cut(b"1,\"x\n2\n", 1, true, b',', AT), Some((7, 2)));
    }
}
