//! End-to-end tests through real files: open_reader / open_writer with every format.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use velo_io::{generate, open_reader, open_writer, Error, ReaderOptions};
use velo_types::connector::{Encoding, Format, GeneratorProfile, SinkConfig, SourceConfig};
use velo_types::{parse_schema_decl, Batch, DataType, Decimal, Field, Schema, SchemaRef, Value};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn encoding(format: Format, delimiter: u8, schema: Option<&str>) -> Encoding {
    Encoding {
        format,
        delimiter,
        schema: schema.map(|s| parse_schema_decl(s).unwrap()),
    }
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn source(path: &Path, enc: Encoding) -> SourceConfig {
    SourceConfig::File {
        path: path.to_path_buf(),
        encoding: enc,
    }
}

/// Opens a source and reads it to the end (or the first error).
fn read_all(
    config: &SourceConfig,
    batch_size: usize,
) -> Result<(SchemaRef, Vec<Vec<Value>>), Error> {
    block_on(async {
        let mut r = open_reader(
            config,
            &ReaderOptions {
                batch_size,
                ..Default::default()
            },
        )
        .await?;
        let schema = r.schema();
        let mut rows = Vec::new();
        while let Some(b) = r.next_batch().await? {
            assert!(b.num_rows() > 0 && b.num_rows() <= batch_size);
            assert_eq!(b.schema(), &schema);
            rows.extend(b.rows().map(|r| r.to_vec()));
        }
        r.commit().await?;
        Ok((schema, rows))
    })
}

fn write_all(config: &SinkConfig, schema: SchemaRef, batches: &[Batch]) {
    block_on(async {
        let mut w = open_writer(config, schema).await.unwrap();
        for b in batches {
            w.write_batch(b).await.unwrap();
        }
        w.flush().await.unwrap();
        w.close().await.unwrap();
    })
}

fn types(schema: &Schema) -> Vec<DataType> {
    schema.fields().iter().map(|f| f.data_type).collect()
}

#[test]
fn generated_rows_round_trip_through_csv_and_json_files() {
    let dir = tempfile::tempdir().unwrap();
    for profile in [
        GeneratorProfile::Orders,
        GeneratorProfile::Ticks,
        GeneratorProfile::Quotes,
        GeneratorProfile::Trades,
    ] {
        let expected = generate(profile, 0, 2500);
        for (format, delimiter) in [
            (Format::Csv, b','),
            (Format::Csv, b'|'),
            (Format::JsonLines, b','),
        ] {
            let path = dir.path().join("out.txt");
            let sink = SinkConfig::File {
                path: path.clone(),
                encoding: encoding(format, delimiter, None),
            };
            let halves = [generate(profile, 0, 1200), generate(profile, 1200, 1300)];
            write_all(&sink, expected.schema().clone(), &halves);
            let (schema, rows) =
                read_all(&source(&path, encoding(format, delimiter, None)), 1024).unwrap();
            assert_eq!(&*schema, &**expected.schema(), "{profile:?} {format:?}");
            assert_eq!(rows.len(), 2500);
            for (i, row) in rows.iter().enumerate() {
                assert_eq!(&row[..], expected.row(i), "{profile:?} {format:?} row {i}");
            }
        }
    }
}

#[test]
fn every_type_round_trips_with_a_declared_schema() {
    let dir = tempfile::tempdir().unwrap();
    let decl = "id BIGINT, price DECIMAL(10,2), ts TIMESTAMP, ok BOOLEAN, x DOUBLE, name VARCHAR";
    let schema = Arc::new(parse_schema_decl(decl).unwrap());
    let batch = Batch::new(
        schema.clone(),
        vec![
            Value::Int(-5),
            Value::Decimal(Decimal::new(123_456, 2)),
            Value::Timestamp(1_705_312_800_123),
            Value::Bool(true),
            Value::Float(0.1),
            Value::str("comma, \"quote\"\nnewline é"),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    )
    .unwrap();
    for format in [Format::Csv, Format::CsvNoHeader, Format::JsonLines] {
        let path = dir.path().join("typed");
        let sink = SinkConfig::File {
            path: path.clone(),
            encoding: encoding(format, b';', None),
        };
        write_all(&sink, schema.clone(), std::slice::from_ref(&batch));
        let (s, rows) = read_all(&source(&path, encoding(format, b';', Some(decl))), 7).unwrap();
        assert_eq!(s, schema);
        assert_eq!(rows.concat(), batch.values(), "{format:?}");
    }
}

#[test]
fn json_output_renders_spec_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp),
        Field::new(
            "amount",
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        Field::new("total", DataType::Float),
        Field::new("n", DataType::Int),
        Field::new("missing", DataType::String),
    ]));
    let batch = Batch::new(
        schema.clone(),
        vec![
            Value::Timestamp(1_705_312_800_000),
            Value::Decimal(Decimal::new(1999, 2)),
            Value::Float(150.0),
            Value::Int(42),
            Value::Null,
        ],
    )
    .unwrap();
    let sink = SinkConfig::File {
        path: path.clone(),
        encoding: encoding(Format::JsonLines, b',', None),
    };
    write_all(&sink, schema, &[batch]);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"ts\":\"2024-01-15T10:00:00.000Z\",\"amount\":\"19.99\",\"total\":150.0,\"n\":42,\"missing\":null}\n"
    );
}

#[test]
fn csv_sink_writes_a_header_even_without_rows_and_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "out.csv", b"old content that must go away\n");
    let schema = Arc::new(parse_schema_decl("a BIGINT, b VARCHAR").unwrap());
    let sink = SinkConfig::File {
        path: path.clone(),
        encoding: encoding(Format::Csv, b',', None),
    };
    write_all(&sink, schema, &[]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,b\n");
}

#[test]
fn csv_inference_empty_fields_and_quoted_multiline_fields() {
    let dir = tempfile::tempdir().unwrap();
    let text = "id;name;price;ts;flag\n\
                1;\"a;b\";1.5;2024-01-15T10:00:00Z;true\n\
                2;;;;\n\
                3;\"multi\nline, \"\"quoted\"\"\";2;2024-01-15 10:00:00.250;false\n";
    let path = write_file(dir.path(), "semi.csv", text.as_bytes());
    let (schema, rows) = read_all(&source(&path, encoding(Format::Csv, b';', None)), 2).unwrap();
    assert_eq!(
        types(&schema),
        [
            DataType::Int,
            DataType::String,
            DataType::Float,
            DataType::Timestamp,
            DataType::Boolean
        ]
    );
    assert_eq!(
        rows[0],
        [
            Value::Int(1),
            Value::str("a;b"),
            Value::Float(1.5),
            Value::Timestamp(1_705_312_800_000),
            Value::Bool(true)
        ]
    );
    assert_eq!(
        rows[1],
        [
            Value::Int(2),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(rows[2][1], Value::str("multi\nline, \"quoted\""));
    assert_eq!(rows[2][3], Value::Timestamp(1_705_312_800_250));
}

#[test]
fn header_less_csv_names_columns_or_uses_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "nh.csv", b"1|x|2.5\n2|y|3\n");
    let (schema, rows) = read_all(
        &source(&path, encoding(Format::CsvNoHeader, b'|', None)),
        10,
    )
    .unwrap();
    assert_eq!(schema.names().collect::<Vec<_>>(), ["c0", "c1", "c2"]);
    assert_eq!(
        types(&schema),
        [DataType::Int, DataType::String, DataType::Float]
    );
    assert_eq!(rows[1], [Value::Int(2), Value::str("y"), Value::Float(3.0)]);

    let decl = Some("id BIGINT, name VARCHAR, amount DECIMAL(5,1)");
    let (schema, rows) = read_all(
        &source(&path, encoding(Format::CsvNoHeader, b'|', decl)),
        10,
    )
    .unwrap();
    assert_eq!(schema.names().collect::<Vec<_>>(), ["id", "name", "amount"]);
    assert_eq!(rows[0][2], Value::Decimal(Decimal::new(25, 1)));
    assert_eq!(rows[1][2], Value::Decimal(Decimal::new(30, 1)));
}

#[test]
fn wrong_field_count_names_file_and_physical_line() {
    let dir = tempfile::tempdir().unwrap();
    // The quoted newline in record 2 makes record 4 start on physical line 6.
    let text = "a,b,c,d\n1,\"x\ny\",3,4\n\n5,6,7,8\n9,10,11\n";
    let path = write_file(dir.path(), "orders.csv", text.as_bytes());
    let err = read_all(&source(&path, encoding(Format::Csv, b',', None)), 100).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.ends_with("orders.csv:6: expected 4 fields, found 3"),
        "{msg}"
    );
    assert_eq!(err.line(), Some(6));
    assert!(err.is_record_error());
}

#[test]
fn rows_before_an_error_are_returned_first_and_reading_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "e.csv", b"a,b\n1,2\n3,oops\n5,6\n");
    let cfg = source(
        &path,
        encoding(Format::Csv, b',', Some("a BIGINT, b BIGINT")),
    );
    block_on(async {
        let mut r = open_reader(&cfg, &ReaderOptions::default()).await.unwrap();
        let first = r.next_batch().await.unwrap().unwrap();
        assert_eq!(first.num_rows(), 1);
        let err = r.next_batch().await.unwrap_err().to_string();
        assert!(
            err.ends_with("e.csv:3: column 'b': expected BIGINT, found 'oops'"),
            "{err}"
        );
        let rest = r.next_batch().await.unwrap().unwrap();
        assert_eq!(rest.row(0), [Value::Int(5), Value::Int(6)]);
        assert!(r.next_batch().await.unwrap().is_none());
        assert!(r.next_batch().await.unwrap().is_none());
    });
}

#[test]
fn a_value_past_the_inference_sample_that_does_not_fit_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("n\n");
    for i in 0..1500 {
        text.push_str(&format!("{i}\n"));
    }
    text.push_str("12.5\n");
    let path = write_file(dir.path(), "late.csv", text.as_bytes());
    let err = read_all(&source(&path, encoding(Format::Csv, b',', None)), 1024).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.ends_with("late.csv:1502: column 'n': expected BIGINT, found '12.5'"),
        "{msg}"
    );
}

#[test]
fn invalid_utf8_is_reported_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "bin.csv", b"id,name\n1,ok\n2,b\xffd\n");
    let err = read_all(&source(&path, encoding(Format::Csv, b',', None)), 10).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("bin.csv:3: invalid UTF-8 in column 'name'"),
        "{err}"
    );

    let path = write_file(dir.path(), "bin.jsonl", b"{\"a\":1}\n{\"a\":\"\xff\"}\n");
    let err = read_all(&source(&path, encoding(Format::JsonLines, b',', None)), 10).unwrap_err();
    assert!(
        err.to_string().ends_with("bin.jsonl:2: invalid UTF-8"),
        "{err}"
    );
}

#[test]
fn json_lines_inference_and_malformed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"id\":1,\"sym\":\"A\",\"px\":1.5}\n{\"sym\":\"B\",\"id\":2,\"px\":2,\"ts\":\"2024-01-15T10:00:00.000Z\"}\n{\"id\":3,\n";
    let path = write_file(dir.path(), "in.jsonl", text.as_bytes());
    let cfg = source(&path, encoding(Format::JsonLines, b',', None));
    block_on(async {
        let mut r = open_reader(&cfg, &ReaderOptions::default()).await.unwrap();
        let schema = r.schema();
        assert_eq!(
            schema.names().collect::<Vec<_>>(),
            ["id", "sym", "px", "ts"]
        );
        assert_eq!(
            types(&schema),
            [
                DataType::Int,
                DataType::String,
                DataType::Float,
                DataType::Timestamp
            ]
        );
        let b = r.next_batch().await.unwrap().unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            b.row(1),
            [
                Value::Int(2),
                Value::str("B"),
                Value::Float(2.0),
                Value::Timestamp(1_705_312_800_000)
            ]
        );
        let err = r.next_batch().await.unwrap_err().to_string();
        assert!(err.contains("in.jsonl:3: invalid JSON"), "{err}");
        assert!(r.next_batch().await.unwrap().is_none());
    });
}

#[test]
fn missing_file_error_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.csv");
    let err = read_all(&source(&path, encoding(Format::Csv, b',', None)), 10).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("nope.csv"), "{err}");
    // A missing parent folder is created...
    let sink = SinkConfig::File {
        path: dir.path().join("new/dir/out.csv"),
        encoding: Encoding::default(),
    };
    assert!(block_on(open_writer(&sink, Arc::new(Schema::default()))).is_ok());
    assert!(dir.path().join("new/dir/out.csv").exists());
    // ...but a path under a regular file cannot be written, and the error says where.
    std::fs::write(dir.path().join("plain"), "x").unwrap();
    let sink = SinkConfig::File {
        path: dir.path().join("plain/out.csv"),
        encoding: Encoding::default(),
    };
    let err = block_on(open_writer(&sink, Arc::new(Schema::default())))
        .err()
        .unwrap();
    assert!(err.to_string().contains("plain"), "{err}");
}

#[test]
fn generator_source_is_deterministic() {
    let cfg = SourceConfig::Generator {
        profile: GeneratorProfile::Quotes,
        records: 5000,
    };
    let (schema, a) = read_all(&cfg, 1024).unwrap();
    let (_, b) = read_all(&cfg, 333).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 5000);
    assert_eq!(
        schema.names().collect::<Vec<_>>(),
        ["symbol", "price", "quantity"]
    );
    assert_eq!(
        a[4321],
        [
            Value::str("SYM121"),
            Value::Float(121.0 + 10.0 * 43.21f64.sin()),
            Value::Int(421)
        ]
    );
}

#[test]
fn garbage_input_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: [&[u8]; 8] = [
        b"\"unterminated,quote\n1,2\n",
        b",,,\n,,,\n",
        b"\xef\xbb\xbfa,b\n1,2\n",
        b"\r\n\r\n",
        b"a\n\"\"\"\n",
        b"{\"a\":[}\n",
        b"\x00\x01\x02\n\xff\xfe\n",
        b"{\"a\":1e999999}\n",
    ];
    for (i, input) in inputs.iter().enumerate() {
        let path = write_file(dir.path(), &format!("g{i}"), input);
        for format in [Format::Csv, Format::CsvNoHeader, Format::JsonLines] {
            for decl in [None, Some("a BIGINT, b DECIMAL(4,2)")] {
                let _ = read_all(&source(&path, encoding(format, b',', decl)), 1);
            }
        }
    }
    // The BOM is not part of the first column's name.
    let path = write_file(dir.path(), "bom.csv", b"\xef\xbb\xbfa,b\n1,2\n");
    let (schema, _) = read_all(&source(&path, encoding(Format::Csv, b',', None)), 1).unwrap();
    assert_eq!(schema.field(0).name.as_ref(), "a");
}

/// One thing a reader gave: a row with its source position, or a record error.
#[derive(Debug)]
enum Item {
    Row(u64, Vec<Value>),
    Failed(Error),
}

/// Reads a source to the end, through record errors (which must leave the reader
/// usable): rows with their positions and the errors, in the order returned.
fn read_through(config: &SourceConfig, batch_size: usize) -> Vec<Item> {
    block_on(async {
        let mut r = open_reader(
            config,
            &ReaderOptions {
                batch_size,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut items = Vec::new();
        loop {
            match r.next_batch().await {
                Ok(None) => break,
                Ok(Some(b)) => {
                    let positions = b.positions().expect("a file batch has positions");
                    assert_eq!(positions.len(), b.num_rows());
                    for (i, row) in b.rows().enumerate() {
                        assert_eq!(b.position(i), Some(positions[i]));
                        items.push(Item::Row(positions[i], row.to_vec()));
                    }
                }
                Err(e) => {
                    assert!(e.is_record_error(), "{e}");
                    items.push(Item::Failed(e));
                }
            }
        }
        items
    })
}

/// The positions of the rows read, through any errors.
fn positions(items: &[Item]) -> Vec<u64> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Row(p, _) => Some(*p),
            Item::Failed(_) => None,
        })
        .collect()
}

/// Checks a record error's line, raw text and message against what the input had.
#[track_caller]
fn check_failed(item: &Item, line: u64, raw: &str, message: &str) {
    let Item::Failed(e) = item else {
        panic!("expected an error at line {line}, got {item:?}");
    };
    assert_eq!(e.line(), Some(line), "{e}");
    assert_eq!(e.raw_record(), Some(raw), "{e}");
    let text = e.to_string();
    assert!(text.ends_with(message), "{text}");
    assert!(
        text.starts_with(e.source_label().unwrap()),
        "the label names the file: {text}"
    );
}

#[test]
fn csv_record_errors_carry_their_line_and_raw_text_and_reading_continues() {
    let dir = tempfile::tempdir().unwrap();
    let text: &[u8] = b"id,amount,name\n\
        1,10,a\n\
        2,20\n\
        3,x y,\"c\"\n\
        4,\"multi\nline\",d\n\
        5,50,b\xffd\n\
        6,60,f\n";
    let path = write_file(dir.path(), "bad.csv", text);
    let decl = Some("id BIGINT, amount BIGINT, name VARCHAR");
    for batch_size in [1, 2, 100] {
        let items = read_through(
            &source(&path, encoding(Format::Csv, b',', decl)),
            batch_size,
        );
        assert_eq!(items.len(), 6, "{items:?}");
        assert!(matches!(&items[0], Item::Row(2, r) if r[0] == Value::Int(1)));
        check_failed(
            &items[1],
            3,
            "2,20",
            "bad.csv:3: expected 3 fields, found 2",
        );
        // The raw text is the record's bytes, quotes and all, not its fields re-joined.
        check_failed(
            &items[2],
            4,
            "3,x y,\"c\"",
            "bad.csv:4: column 'amount': expected BIGINT, found 'x y'",
        );
        check_failed(
            &items[3],
            5,
            "4,\"multi\nline\",d",
            "bad.csv:5: column 'amount': expected BIGINT, found 'multi\nline'",
        );
        check_failed(
            &items[4],
            7,
            "5,50,b\u{fffd}d",
            "bad.csv:7: invalid UTF-8 in column 'name'",
        );
        assert!(
            matches!(&items[5], Item::Row(8, r) if r[..] == [Value::Int(6), Value::Int(60), Value::str("f")]),
            "{items:?}"
        );
    }
}

#[test]
fn csv_errors_in_the_inference_sample_carry_their_raw_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "s.csv", b"a,b\n1,2\n3\n4,\"5\"\n");
    let items = read_through(&source(&path, encoding(Format::Csv, b',', None)), 10);
    assert_eq!(positions(&items), [2, 4]);
    check_failed(&items[1], 3, "3", "s.csv:3: expected 2 fields, found 1");
}

#[test]
fn json_lines_record_errors_carry_their_line_and_raw_text() {
    let dir = tempfile::tempdir().unwrap();
    let text: &[u8] =
        b"{\"a\":1}\n\n{\"a\":2,\n{\"a\":\"x\"}\r\n[1]\n{\"a\":\"\xff\"}\n{\"a\":3}\n";
    let path = write_file(dir.path(), "bad.jsonl", text);
    let items = read_through(
        &source(&path, encoding(Format::JsonLines, b',', Some("a BIGINT"))),
        1,
    );
    assert_eq!(items.len(), 6, "{items:?}");
    assert!(matches!(&items[0], Item::Row(1, r) if r[..] == [Value::Int(1)]));
    check_failed(
        &items[1],
        3,
        "{\"a\":2,",
        "bad.jsonl:3: invalid JSON: EOF while parsing a value at character 7",
    );
    check_failed(
        &items[2],
        4,
        "{\"a\":\"x\"}",
        "bad.jsonl:4: column 'a': expected BIGINT, found 'x'",
    );
    let Item::Failed(e) = &items[3] else {
        panic!("{items:?}")
    };
    assert_eq!((e.line(), e.raw_record()), (Some(5), Some("[1]")));
    check_failed(
        &items[4],
        6,
        "{\"a\":\"\u{fffd}\"}",
        "bad.jsonl:6: invalid UTF-8",
    );
    assert!(matches!(&items[5], Item::Row(7, r) if r[..] == [Value::Int(3)]));

    // Without a declared schema the lines come from the inference sample: the
    // column is BIGINT, the JSON type of its first value, so "x" fails too
    // (SPEC §3: no silent change of type); the other errors are the same.
    let items = read_through(&source(&path, encoding(Format::JsonLines, b',', None)), 2);
    assert_eq!(positions(&items), [1, 7]);
    check_failed(
        &items[1],
        3,
        "{\"a\":2,",
        "bad.jsonl:3: invalid JSON: EOF while parsing a value at character 7",
    );
    check_failed(
        &items[2],
        4,
        "{\"a\":\"x\"}",
        "bad.jsonl:4: column 'a': expected BIGINT (its type from its first values), found the string 'x'",
    );
    check_failed(
        &items[4],
        6,
        "{\"a\":\"\u{fffd}\"}",
        "bad.jsonl:6: invalid UTF-8",
    );
}

#[test]
fn csv_positions_are_the_physical_lines_where_records_start() {
    let dir = tempfile::tempdir().unwrap();
    // Record 2's quoted field spans lines 3 and 4; line 6 is blank.
    let body = "1,plain\n2,\"two\nlines\"\n3,after\n\n4,after blank\n";
    let cases = [
        (format!("id,note\n{body}"), Format::Csv, [2, 3, 5, 7]),
        (body.to_string(), Format::CsvNoHeader, [1, 2, 4, 6]),
        (
            format!("id,note\n{body}").replace('\n', "\r\n"),
            Format::Csv,
            [2, 3, 5, 7],
        ),
    ];
    for (text, format, expected) in cases {
        let path = write_file(dir.path(), "p.csv", text.as_bytes());
        for decl in [None, Some("id BIGINT, note VARCHAR")] {
            for batch_size in [1, 3, 100] {
                let items = read_through(&source(&path, encoding(format, b',', decl)), batch_size);
                assert_eq!(positions(&items), expected, "{format:?} {decl:?} {text:?}");
                let Item::Row(_, row) = &items[1] else {
                    panic!()
                };
                let two_lines = if text.contains('\r') {
                    "two\r\nlines"
                } else {
                    "two\nlines"
                };
                assert_eq!(row[1], Value::str(two_lines));
            }
        }
    }
}

/// Regression: the csv parser stamps a record with where it stood before it, which
/// in a CRLF file is the previous record's `\n`, and before a blank line the line
/// above it: errors named the line before the record's.
#[test]
fn crlf_and_blank_lines_do_not_shift_error_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "crlf.csv",
        b"a,b\r\n1,2\r\n\r\n3\r\n\n\n4,x\r\n",
    );
    let items = read_through(
        &source(
            &path,
            encoding(Format::Csv, b',', Some("a BIGINT, b BIGINT")),
        ),
        10,
    );
    assert_eq!(positions(&items), [2]);
    check_failed(&items[1], 4, "3", "crlf.csv:4: expected 2 fields, found 1");
    check_failed(
        &items[2],
        7,
        "4,x",
        "crlf.csv:7: column 'b': expected BIGINT, found 'x'",
    );
}

#[test]
fn json_lines_positions_count_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "p.jsonl",
        b"\xef\xbb\xbf{\"a\":1}\n\n  \n{\"a\":2}\r\n{\"a\":3}",
    );
    for batch_size in [1, 2, 10] {
        let items = read_through(
            &source(&path, encoding(Format::JsonLines, b',', None)),
            batch_size,
        );
        assert_eq!(positions(&items), [1, 4, 5]);
    }
}

/// The raw text of a record comes from the bytes the reader kept: records far into
/// a file, across read-buffer refills, and longer than a buffer, still have theirs.
#[test]
fn raw_text_and_positions_hold_across_read_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,name,amount\n");
    let mut expected_rows = Vec::new();
    let long = "n".repeat(300 * 1024);
    for i in 0..20_000u64 {
        let line = i + 2;
        match i {
            700 => text.push_str("700,short\n"),
            15_000 => text.push_str(&format!("{i},\"quoted, name\",oops\n")),
            19_000 => text.push_str(&format!("{i},{long},bad\n")),
            _ => {
                text.push_str(&format!("{i},name number {i} padded to be longer,{i}\n"));
                expected_rows.push(line);
            }
        }
    }
    let path = write_file(dir.path(), "big.csv", text.as_bytes());
    for decl in [None, Some("id BIGINT, name VARCHAR, amount BIGINT")] {
        let items = read_through(&source(&path, encoding(Format::Csv, b',', decl)), 1024);
        assert_eq!(positions(&items), expected_rows);
        for item in &items {
            match item {
                Item::Row(line, row) => assert_eq!(row[0], Value::Int(*line as i64 - 2)),
                Item::Failed(e) => match e.line() {
                    Some(702) => assert_eq!(e.raw_record(), Some("700,short")),
                    Some(15_002) => {
                        assert_eq!(e.raw_record(), Some("15000,\"quoted, name\",oops"))
                    }
                    Some(19_002) => {
                        let raw = e.raw_record().unwrap();
                        assert_eq!(raw.len(), velo_io::RAW_RECORD_LIMIT);
                        assert!(raw.starts_with("19000,nnn"), "{}", &raw[..20]);
                    }
                    _ => panic!("unexpected error {e}"),
                },
            }
        }
        assert_eq!(items.len(), expected_rows.len() + 3);
    }
}
