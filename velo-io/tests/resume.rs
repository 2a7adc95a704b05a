//! Resuming file readers at a position (`DataReader::position` /
//! `ReaderOptions::resume`), through real files: a reader stopped anywhere and
//! resumed at its position returns exactly what one reader returns after it.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use velo_io::{open_reader, Error, ReaderOptions, SourcePosition};
use velo_types::connector::{Encoding, Format, GeneratorProfile, SourceConfig};
use velo_types::{parse_schema_decl, SchemaRef, Value};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// One thing a reader returned: a row with its source position, or a record
/// error (its message and raw record).
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Row(Vec<Value>, u64),
    Error(String, Option<String>),
}

/// What one reader returned until it stopped.
struct Segment {
    schema: SchemaRef,
    items: Vec<Item>,
    /// Its position when it stopped.
    position: SourcePosition,
    /// Whether it reached the end.
    done: bool,
}

fn config(path: &Path, format: Format, schema: Option<&str>) -> SourceConfig {
    SourceConfig::File {
        path: path.to_path_buf(),
        encoding: Encoding {
            format,
            delimiter: b',',
            schema: schema.map(|s| parse_schema_decl(s).unwrap()),
        },
    }
}

/// Opens `config` (at `resume`) and reads until `calls` calls of `next_batch`
/// returned a batch or a record error (`None`: to the end).
async fn read_segment(
    config: &SourceConfig,
    batch_size: usize,
    system_columns: bool,
    resume: Option<SourcePosition>,
    calls: Option<usize>,
) -> Result<Segment, Error> {
    let mut r = open_reader(
        config,
        &ReaderOptions {
            batch_size,
            system_columns,
            resume,
            ..Default::default()
        },
    )
    .await?;
    let schema = r.schema();
    let timestamp = schema.index_of("_timestamp");
    let opened = r.position().expect("a file reader has a position");
    if let Some(at) = resume {
        assert_eq!(opened, at, "a resumed reader starts at its position");
    }
    let mut items = Vec::new();
    let mut made = 0;
    let mut done = false;
    while calls.is_none_or(|c| made < c) {
        match r.next_batch().await {
            Ok(Some(b)) => {
                assert!(b.num_rows() > 0 && b.num_rows() <= batch_size);
                let positions = b.positions().expect("file rows have positions").to_vec();
                for (row, line) in b.rows().zip(positions) {
                    let mut row = row.to_vec();
                    if let Some(t) = timestamp {
                        // The ingestion time: when the batch was returned.
                        row[t] = Value::Null;
                    }
                    items.push(Item::Row(row, line));
                }
            }
            Ok(None) => {
                done = true;
                break;
            }
            Err(e) => {
                assert!(e.is_record_error(), "not a record error: {e}");
                items.push(Item::Error(
                    e.to_string(),
                    e.raw_record().map(str::to_string),
                ));
            }
        }
        made += 1;
    }
    let position = r.position().unwrap();
    Ok(Segment {
        schema,
        items,
        position,
        done,
    })
}

/// The documented meaning of a position's line: 1 + the `\n`s before its byte.
fn line_of(bytes: &[u8], byte: u64) -> u64 {
    1 + bytes[..byte as usize]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

/// Reads `config` with one reader, and with a chain of readers each stopped after
/// `cuts[i]` calls and the next resumed at its position; both must return the
/// same. Returns how many items there were (0 when the file cannot be opened,
/// which both must agree on).
fn check_resumes(
    config: &SourceConfig,
    bytes: &[u8],
    batch_size: usize,
    system_columns: bool,
    cuts: &[usize],
) -> usize {
    block_on(async {
        let whole = match read_segment(config, batch_size, system_columns, None, None).await {
            Ok(s) => s,
            Err(e) => {
                assert!(!e.is_record_error(), "{e}");
                return 0;
            }
        };
        assert!(whole.done);
        assert_eq!(whole.position.byte, bytes.len() as u64, "at the end");
        assert_eq!(whole.position.line, line_of(bytes, whole.position.byte));

        let mut got = Vec::new();
        let mut resume = None;
        let mut done = false;
        for &cut in cuts {
            let s = read_segment(config, batch_size, system_columns, resume, Some(cut))
                .await
                .unwrap_or_else(|e| panic!("resuming at {resume:?}: {e}"));
            assert_eq!(s.schema, whole.schema);
            let at = s.position;
            assert!(at.byte <= bytes.len() as u64);
            assert_eq!(at.line, line_of(bytes, at.byte), "{at:?}");
            got.extend(s.items);
            resume = Some(at);
            if s.done {
                done = true;
                break;
            }
        }
        if !done {
            let s = read_segment(config, batch_size, system_columns, resume, None)
                .await
                .unwrap_or_else(|e| panic!("resuming at {resume:?}: {e}"));
            assert_eq!(s.schema, whole.schema);
            assert_eq!(s.position, whole.position);
            got.extend(s.items);
        }
        assert_eq!(got.len(), whole.items.len(), "cuts {cuts:?}");
        for (i, (a, b)) in got.iter().zip(&whole.items).enumerate() {
            assert_eq!(a, b, "item {i}, cuts {cuts:?}");
        }
        whole.items.len()
    })
}

/// One generated record (or blank line) of a test file.
#[derive(Debug, Clone)]
enum Rec {
    Good {
        id: i64,
        name: String,
        price: Option<f64>,
        quote: bool,
    },
    /// A record that fails to decode (the text for CSV, and for JSON lines).
    Bad(u8),
    Blank,
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "Zq", " ", ",", "\"", "\n", "\r\n", "é", "7"]),
        0..5,
    )
    .prop_map(|parts| parts.concat())
}

fn rec() -> impl Strategy<Value = Rec> {
    prop_oneof![
        6 => (
            -1000i64..1000,
            name(),
            prop::option::of((-1000i32..1000).prop_map(|p| f64::from(p) / 8.0)),
            any::<bool>()
        )
            .prop_map(|(id, name, price, quote)| Rec::Good { id, name, price, quote }),
        2 => (0u8..5).prop_map(Rec::Bad),
        1 => Just(Rec::Blank),
    ]
}

/// A whole file: its records, the terminator of each, whether the last one has
/// one, a UTF-8 BOM, and (CSV) an unterminated quote at the end.
#[derive(Debug, Clone)]
struct FileSpec {
    recs: Vec<(Rec, bool)>,
    final_terminator: bool,
    bom: bool,
    open_quote_at_end: bool,
}

fn file_spec() -> impl Strategy<Value = FileSpec> {
    (
        prop::collection::vec((rec(), any::<bool>()), 0..40),
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(recs, final_terminator, bom, open_quote_at_end)| FileSpec {
                recs,
                final_terminator,
                bom,
                open_quote_at_end,
            },
        )
}

fn csv_field(name: &str, quote: bool) -> String {
    if quote || name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_string()
    }
}

fn csv_text(spec: &FileSpec, header: bool) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    if spec.bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    if header {
        out.extend_from_slice(b"id,name,price\n");
    }
    let n = spec.recs.len();
    for (i, (rec, crlf)) in spec.recs.iter().enumerate() {
        match rec {
            Rec::Good {
                id,
                name,
                price,
                quote,
            } => {
                let price = price.map(|p| p.to_string()).unwrap_or_default();
                out.extend_from_slice(
                    format!("{id},{},{price}", csv_field(name, *quote)).as_bytes(),
                );
            }
            Rec::Bad(k) => out.extend_from_slice(match k {
                0 => b"1,x".as_slice(),
                1 => b"x,y,2.5",
                2 => b"3,\"a\"b,1.5",
                3 => b"  ",
                _ => b"4,\xff,zz",
            }),
            Rec::Blank => {}
        }
        let last = i + 1 == n;
        if !last || spec.final_terminator || spec.open_quote_at_end {
            out.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
    }
    if spec.open_quote_at_end {
        out.extend_from_slice(b"9,\"never closed, 1.5\n10,x,2\n");
    }
    out
}

fn json_text(spec: &FileSpec) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    if spec.bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let n = spec.recs.len();
    for (i, (rec, crlf)) in spec.recs.iter().enumerate() {
        match rec {
            Rec::Good {
                id,
                name,
                price,
                quote,
            } => {
                let name = serde_json::to_string(name).unwrap();
                let price = price.map_or("null".to_string(), |p| format!("{p:?}"));
                let line = if *quote {
                    format!("{{\"price\":{price},\"id\":{id},\"name\":{name}}}")
                } else {
                    format!("{{\"id\":{id},\"name\":{name},\"price\":{price}}}")
                };
                out.extend_from_slice(line.as_bytes());
            }
            Rec::Bad(k) => out.extend_from_slice(match k {
                0 => b"not json".as_slice(),
                1 => b"{\"id\":\"x\",\"name\":\"n\"}",
                2 => b"[1,2]",
                3 => b"{\"id\":1,",
                _ => b"{\"id\":5,\"name\":\"\xff\"}",
            }),
            Rec::Blank => out.extend_from_slice(b"  "),
        }
        let last = i + 1 == n;
        if !last || spec.final_terminator {
            out.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
    }
    out
}

/// The readers each generated file is read with.
const CASES: [(Format, Option<&str>); 6] = [
    (Format::Csv, Some("id BIGINT, name VARCHAR, price DOUBLE")),
    (Format::Csv, None),
    (
        Format::CsvNoHeader,
        Some("id BIGINT, name VARCHAR, price DOUBLE"),
    ),
    (Format::CsvNoHeader, None),
    (
        Format::JsonLines,
        Some("id BIGINT, name VARCHAR, price DOUBLE"),
    ),
    (Format::JsonLines, None),
];

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn a_resumed_chain_of_readers_returns_what_one_reader_does(
        spec in file_spec(),
        case in 0..CASES.len(),
        batch_size in 1usize..7,
        system_columns in any::<bool>(),
        cuts in prop::collection::vec(0usize..5, 0..5),
    ) {
        let (format, schema) = CASES[case];
        let bytes = match format {
            Format::Csv => csv_text(&spec, true),
            Format::CsvNoHeader => csv_text(&spec, false),
            Format::JsonLines => json_text(&spec),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.txt", &bytes);
        check_resumes(&config(&path, format, schema), &bytes, batch_size, system_columns, &cuts);
    }
}

/// Files past the inference sample and the csv parser's 256 KiB buffer, with
/// quoted line breaks and bad records, resumed at many points.
#[test]
fn large_files_resume_across_the_sample_and_the_read_buffers() {
    let mut recs = Vec::new();
    for i in 0..8000i64 {
        let rec = match i % 97 {
            13 => Rec::Bad((i % 5) as u8),
            40 => Rec::Blank,
            _ => Rec::Good {
                id: i,
                name: format!("name {i} {}", "x".repeat((i % 150) as usize))
                    + if i % 7 == 0 { ",\n\"q\"" } else { "" },
                price: (i % 3 != 0).then_some(i as f64 / 4.0),
                quote: false,
            },
        };
        recs.push((rec, i % 11 == 0));
    }
    let spec = FileSpec {
        recs,
        final_terminator: true,
        bom: false,
        open_quote_at_end: false,
    };
    let dir = tempfile::tempdir().unwrap();
    for (format, schema) in CASES {
        let bytes = match format {
            Format::Csv => csv_text(&spec, true),
            Format::CsvNoHeader => csv_text(&spec, false),
            Format::JsonLines => json_text(&spec),
        };
        assert!(bytes.len() > 2 * 256 * 1024);
        let path = write(dir.path(), "big.txt", &bytes);
        let config = config(&path, format, schema);
        // Cuts in the sample, at its end, and past several read buffers.
        let cuts = [0, 3, 1, 5, 2, 1, 1, 9, 4, 30, 20];
        let items = check_resumes(&config, &bytes, 97, false, &cuts);
        assert!(items > 7800, "{format:?} {schema:?}: {items}");
        let items = check_resumes(&config, &bytes, 1000, true, &[1, 1, 1, 3]);
        assert!(items > 7800);
    }
}

fn options(resume: Option<SourcePosition>, batch_size: usize) -> ReaderOptions {
    ReaderOptions {
        batch_size,
        resume,
        ..Default::default()
    }
}

#[test]
fn a_deferred_error_is_ahead_of_the_position_until_it_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    for (format, text) in [
        (Format::Csv, "a,b\n1,2\nbad\n\n3,4\n"),
        (
            Format::JsonLines,
            "{\"a\":1,\"b\":2}\n{\"a\":\n\n{\"a\":3,\"b\":4}\n",
        ),
    ] {
        let path = write(dir.path(), "d.txt", text.as_bytes());
        let config = config(&path, format, Some("a INT, b INT"));
        let header = if format == Format::Csv { 4 } else { 0 };
        block_on(async {
            let mut r = open_reader(&config, &options(None, 10)).await.unwrap();
            let first = SourcePosition {
                byte: header,
                line: 1 + u64::from(header > 0),
            };
            assert_eq!(r.position(), Some(first));
            let b = r.next_batch().await.unwrap().unwrap();
            assert_eq!(b.num_rows(), 1);
            // The error was read with the batch but is not returned yet.
            let after_row = r.position().unwrap();
            assert_eq!(after_row.line, first.line + 1, "{format:?}");
            assert_eq!(&text.as_bytes()[after_row.byte as usize - 1..][..1], b"\n");
            let e = r.next_batch().await.unwrap_err();
            let after_error = r.position().unwrap();
            assert_eq!(after_error.line, after_row.line + 1);

            // Resumed before the error: it is reported again, then row 3.
            let mut again = open_reader(&config, &options(Some(after_row), 10))
                .await
                .unwrap();
            let e2 = again.next_batch().await.unwrap_err();
            assert_eq!(e2.to_string(), e.to_string());
            assert_eq!(again.position(), Some(after_error));
            let b = again.next_batch().await.unwrap().unwrap();
            assert_eq!(b.row(0), [Value::Int(3), Value::Int(4)]);
            assert_eq!(b.positions(), Some(&[first.line + 3][..]));

            // Resumed past it: it is not.
            let mut past = open_reader(&config, &options(Some(after_error), 10))
                .await
                .unwrap();
            let b = past.next_batch().await.unwrap().unwrap();
            assert_eq!(b.row(0), [Value::Int(3), Value::Int(4)]);
            assert_eq!(b.positions(), Some(&[first.line + 3][..]));
            assert!(past.next_batch().await.unwrap().is_none());
            assert_eq!(past.position().unwrap().byte, text.len() as u64);
        });
    }
}

#[test]
fn a_position_past_the_end_of_the_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (format, text) in [
        (Format::Csv, "a,b\n1,2\n"),
        (Format::JsonLines, "{\"a\":1}\n"),
    ] {
        let path = write(dir.path(), "short.txt", text.as_bytes());
        let at = SourcePosition { byte: 100, line: 9 };
        for schema in [Some("a INT"), None] {
            let config = config(&path, format, schema);
            let e = block_on(open_reader(&config, &options(Some(at), 10)))
                .err()
                .expect("an error");
            let message = e.to_string();
            assert!(matches!(e, Error::Resume { .. }), "{message}");
            assert!(
                message.starts_with(&path.display().to_string()),
                "{message}"
            );
            assert!(
                message.contains("the file is shorter than the checkpoint's position"),
                "{message}"
            );
        }
        // Even when the file is now empty (no header left to read).
        std::fs::write(&path, "").unwrap();
        let e = block_on(open_reader(
            &config(&path, format, None),
            &options(Some(at), 10),
        ))
        .err()
        .unwrap();
        assert!(e.to_string().contains("shorter"), "{e}");
        // At the end exactly: nothing more.
        std::fs::write(&path, text).unwrap();
        let end = SourcePosition {
            byte: text.len() as u64,
            line: 2 + u64::from(format == Format::Csv),
        };
        block_on(async {
            let mut r = open_reader(&config(&path, format, None), &options(Some(end), 10))
                .await
                .unwrap();
            assert!(r.next_batch().await.unwrap().is_none());
            assert_eq!(r.position(), Some(end));
        });
    }
}

#[test]
fn a_position_that_is_not_a_record_start_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.csv", b"id,name\n1,abc\n2,def\n");
    let at = |byte| SourcePosition { byte, line: 2 };
    // Inside a record (the file changed since the position was taken).
    for format in [Format::Csv, Format::JsonLines] {
        let e = block_on(open_reader(
            &config(&path, format, Some("id INT")),
            &options(Some(at(10)), 10),
        ))
        .err()
        .unwrap();
        assert!(matches!(e, Error::Resume { .. }), "{e}");
        assert!(e.to_string().contains("not where a record starts"), "{e}");
    }
    // Inside the header.
    let e = block_on(open_reader(
        &config(&path, Format::Csv, None),
        &options(Some(at(3)), 10),
    ))
    .err()
    .unwrap();
    assert!(e.to_string().contains("the header ends at byte 8"), "{e}");
    // Header-less, the same byte is a record start.
    block_on(async {
        let mut r = open_reader(
            &config(&path, Format::CsvNoHeader, Some("id VARCHAR, name VARCHAR")),
            &options(Some(at(8)), 10),
        )
        .await
        .unwrap();
        let b = r.next_batch().await.unwrap().unwrap();
        assert_eq!(b.positions(), Some(&[2, 3][..]));
        assert_eq!(b.row(1), [Value::str("2"), Value::str("def")]);
    });
}

#[test]
fn only_file_readers_have_a_position_and_resume() {
    block_on(async {
        let generator = SourceConfig::Generator {
            profile: GeneratorProfile::Orders,
            records: 10,
        };
        let mut r = open_reader(&generator, &options(None, 4)).await.unwrap();
        r.next_batch().await.unwrap();
        assert_eq!(r.position(), None);
        let at = Some(SourcePosition::START);
        let e = open_reader(&generator, &options(at, 4))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, Error::Resume { .. }), "{e}");
        let stdin = SourceConfig::Stdin {
            encoding: Encoding::default(),
        };
        let e = open_reader(&stdin, &options(at, 4)).await.err().unwrap();
        assert!(e.to_string().starts_with("<stdin>: "), "{e}");
    });
}

/// The system columns of a resumed reader are the first reader's: `_offset` is
/// the row's line, `_partition` 0, `_key` NULL.
#[test]
fn system_columns_of_a_resumed_reader_are_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.csv", b"a\n1\n\n2\n3\n4\n");
    let config = config(&path, Format::Csv, None);
    block_on(async {
        let opts = |resume| ReaderOptions {
            batch_size: 2,
            system_columns: true,
            resume,
            ..Default::default()
        };
        let mut r = open_reader(&config, &opts(None)).await.unwrap();
        let offset = r.schema().index_of("_offset").unwrap();
        let partition = r.schema().index_of("_partition").unwrap();
        r.next_batch().await.unwrap().unwrap();
        let at = r.position().unwrap();
        assert_eq!(at, SourcePosition { byte: 7, line: 5 });
        let mut resumed = open_reader(&config, &opts(Some(at))).await.unwrap();
        let b = resumed.next_batch().await.unwrap().unwrap();
        let rest = r.next_batch().await.unwrap().unwrap();
        for (x, y) in b.rows().zip(rest.rows()) {
            assert_eq!(x[..=offset], y[..=offset]);
        }
        assert_eq!(b.row(0)[offset], Value::Int(5));
        assert_eq!(b.row(0)[partition], Value::Int(0));
    });
}

/// The csv parser strips a UTF-8 BOM only at the start of its input: a record
/// after the resume position that starts with U+FEFF keeps it, as it did for the
/// first reader.
#[test]
fn a_bom_is_stripped_at_the_start_of_the_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\u{feff}a\n\u{feff}b\n";
    let path = write(dir.path(), "bom.csv", text.as_bytes());
    for format in [Format::CsvNoHeader, Format::JsonLines] {
        let config = config(&path, format, Some("x VARCHAR"));
        block_on(async {
            for at in [SourcePosition::START, SourcePosition { byte: 5, line: 2 }] {
                let mut r = open_reader(&config, &options(Some(at), 10)).await.unwrap();
                match (r.next_batch().await, format) {
                    (Ok(Some(b)), Format::CsvNoHeader) => {
                        let rows: Vec<_> = b.rows().map(|r| r[0].clone()).collect();
                        let want = if at.byte == 0 {
                            vec![Value::str("a"), Value::str("\u{feff}b")]
                        } else {
                            vec![Value::str("\u{feff}b")]
                        };
                        assert_eq!(rows, want);
                    }
                    // Not JSON: a BOM is stripped on line 1 only.
                    (Err(e), Format::JsonLines) => {
                        let line = if at.byte == 0 { 1 } else { 2 };
                        assert_eq!(e.line(), Some(line), "{e}");
                    }
                    (other, _) => panic!("{other:?}"),
                }
            }
        });
    }
}
