//! The Kafka reader and writer against a real broker (`tansu`, started per test;
//! see `common/tansu.rs`).

mod common;

use std::time::{Duration, Instant};

use common::tansu::Tansu;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::sync::Arc;
use velo_io::{open_reader, open_writer, DataReader, Error, ReaderOptions};
use velo_types::connector::{KafkaSinkConfig, KafkaSourceConfig, SinkConfig, SourceConfig};
use velo_types::{parse_schema_decl, Batch, DataType, Field, Schema, Value};

const WAIT: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn create_topic(rt: &tokio::runtime::Runtime, brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let results = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .unwrap();
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("cannot create topic {t}: {e}"));
    }
}

/// A message to produce: partition, key, value, timestamp (ms).
type Msg<'a> = (i32, Option<&'a str>, Option<&'a str>, Option<i64>);

/// Produces the messages in order and returns their offsets.
fn produce(
    rt: &tokio::runtime::Runtime,
    brokers: &str,
    topic: &str,
    messages: &[Msg<'_>],
) -> Vec<i64> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    rt.block_on(async {
        let mut offsets = Vec::new();
        for &(partition, key, value, timestamp) in messages {
            let mut record: FutureRecord<'_, str, str> =
                FutureRecord::to(topic).partition(partition);
            record.key = key;
            record.payload = value;
            record.timestamp = timestamp;
            let delivery = producer
                .send(record, Duration::from_secs(10))
                .await
                .unwrap_or_else(|(e, _)| panic!("cannot produce to {topic}: {e}"));
            offsets.push(delivery.offset);
        }
        offsets
    })
}

fn source(brokers: &str, topic: &str, group: &str, schema: &str) -> SourceConfig {
    SourceConfig::Kafka(KafkaSourceConfig {
        topic: topic.to_string(),
        brokers: brokers.to_string(),
        group_id: group.to_string(),
        auto_offset_reset: "earliest".to_string(),
        properties: vec![
            ("session.timeout.ms".to_string(), "6000".to_string()),
            ("heartbeat.interval.ms".to_string(), "500".to_string()),
        ],
        schema: Some(parse_schema_decl(schema).unwrap()),
    })
}

/// What a reader returned: rows with their positions, and record errors.
#[derive(Debug, Default)]
struct Read {
    rows: Vec<Vec<Value>>,
    positions: Vec<u64>,
    errors: Vec<Error>,
    empty_batches: usize,
}

/// Reads until `rows` rows and `errors` errors arrived (panics after [`WAIT`]).
async fn read(reader: &mut dyn DataReader, rows: usize, errors: usize) -> Read {
    let mut got = Read::default();
    let deadline = Instant::now() + WAIT;
    while got.rows.len() < rows || got.errors.len() < errors {
        assert!(Instant::now() < deadline, "timed out; so far: {got:?}");
        match reader.next_batch().await {
            Ok(Some(batch)) => collect(&mut got, &batch),
            Ok(None) => panic!("a Kafka reader never ends"),
            Err(e) if e.is_record_error() => got.errors.push(e),
            Err(e) => panic!("{e}"),
        }
    }
    got
}

fn collect(got: &mut Read, batch: &Batch) {
    if batch.is_empty() {
        got.empty_batches += 1;
        return;
    }
    got.rows.extend(batch.rows().map(<[Value]>::to_vec));
    got.positions
        .extend_from_slice(batch.positions().expect("Kafka rows have positions"));
}

/// Polls for `for_how_long` and returns every row that arrived.
async fn read_for(reader: &mut dyn DataReader, for_how_long: Duration) -> Read {
    let mut got = Read::default();
    let until = Instant::now() + for_how_long;
    while Instant::now() < until {
        let batch = reader.next_batch().await.unwrap().unwrap();
        collect(&mut got, &batch);
    }
    got
}

/// Sorts rows by (partition, offset): the last two system columns but one.
fn by_partition_and_offset(rows: &mut [Vec<Value>]) {
    rows.sort_by_key(|r| {
        let n = r.len();
        match (&r[n - 3], &r[n - 2]) {
            (Value::Int(p), Value::Int(o)) => (*p, *o),
            other => panic!("not a partition and an offset: {other:?}"),
        }
    });
}

#[test]
fn reader_returns_every_message_with_its_system_columns_and_offset() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    create_topic(&rt, &broker.brokers, "trades", 3);
    let mut messages = Vec::new();
    let values: Vec<String> = (0..12)
        .map(|i| format!(r#"{{"sym":"S{i}","price":{i}.5,"extra":[1]}}"#))
        .collect();
    let keys: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
    for i in 0..12 {
        // Message 5 has no key; message 7 has no timestamp of its own (the
        // producer then stamps it with the current time).
        let key = (i != 5).then_some(keys[i].as_str());
        let ts = (i != 7).then_some(1_700_000_000_000 + i as i64);
        messages.push(((i % 3) as i32, key, Some(values[i].as_str()), ts));
    }
    let offsets = produce(&rt, &broker.brokers, "trades", &messages);

    let reader = rt.block_on(async {
        let config = source(
            &broker.brokers,
            "trades",
            "g-read",
            "sym VARCHAR, price DOUBLE",
        );
        let mut reader = open_reader(
            &config,
            &ReaderOptions {
                batch_size: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let names: Vec<String> = reader.schema().names().map(str::to_string).collect();
        assert_eq!(
            names,
            [
                "sym",
                "price",
                "_key",
                "_partition",
                "_offset",
                "_timestamp"
            ]
        );
        let mut got = read(reader.as_mut(), 12, 0).await;
        assert_eq!(got.rows.len(), 12);
        // Positions are the offsets.
        let offsets_read: Vec<u64> = got
            .rows
            .iter()
            .map(|r| match r[4] {
                Value::Int(o) => o as u64,
                _ => panic!(),
            })
            .collect();
        assert_eq!(got.positions, offsets_read);
        assert_eq!(reader.source_partitions(), Some(vec![0, 1, 2]));

        by_partition_and_offset(&mut got.rows);
        let mut expected: Vec<Vec<Value>> = (0..12)
            .map(|i| {
                vec![
                    Value::str(&format!("S{i}")),
                    Value::Float(i as f64 + 0.5),
                    if i == 5 {
                        Value::Null
                    } else {
                        Value::str(&keys[i])
                    },
                    Value::Int((i % 3) as i64),
                    Value::Int(offsets[i]),
                    Value::Timestamp(1_700_000_000_000 + i as i64),
                ]
            })
            .collect();
        by_partition_and_offset(&mut expected);
        for (row, want) in got.rows.iter().zip(&expected) {
            if want[0] == Value::str("S7") {
                assert_eq!(row[..5], want[..5]);
                assert!(
                    matches!(row[5], Value::Timestamp(t) if t > 1_700_000_000_000),
                    "{row:?}"
                );
            } else {
                assert_eq!(row, want);
            }
        }
        reader
    });
    // Nothing more: a poll returns an empty batch instead of waiting for a
    // message. On its own thread, so that a reader that blocked fails the test
    // (after a generous bound) instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = reader;
        let batch = runtime().block_on(reader.next_batch());
        let _ = tx.send((batch, reader));
    });
    let (batch, mut reader) = rx
        .recv_timeout(WAIT)
        .expect("a poll with nothing to read returns");
    assert!(batch.unwrap().unwrap().is_empty());
    // And the reader goes on: a message produced now is read.
    let later = r#"{"sym":"S12","price":12.5}"#;
    let offset = produce(
        &rt,
        &broker.brokers,
        "trades",
        &[(1, Some("k12"), Some(later), Some(1_700_000_000_012))],
    );
    let got = rt.block_on(read(reader.as_mut(), 1, 0));
    assert_eq!(
        got.rows,
        [vec![
            Value::str("S12"),
            Value::Float(12.5),
            Value::str("k12"),
            Value::Int(1),
            Value::Int(offset[0]),
            Value::Timestamp(1_700_000_000_012),
        ]]
    );
}

#[test]
fn a_bad_message_is_a_record_error_and_reading_goes_on() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    create_topic(&rt, &broker.brokers, "bad", 1);
    let messages: Vec<Msg<'_>> = vec![
        (0, None, Some(r#"{"a":1}"#), None),
        (0, None, Some("{not json"), None),
        (0, None, None, None), // a tombstone: skipped
        (0, None, Some(r#"{"a":"x"}"#), None),
        (0, None, Some(r#"  {"a":4}  "#), None),
    ];
    produce(&rt, &broker.brokers, "bad", &messages);
    rt.block_on(async {
        let config = source(&broker.brokers, "bad", "g-bad", "a BIGINT");
        let mut reader = open_reader(&config, &ReaderOptions::default())
            .await
            .unwrap();
        let got = read(reader.as_mut(), 2, 2).await;
        let a: Vec<&Value> = got.rows.iter().map(|r| &r[0]).collect();
        assert_eq!(a, [&Value::Int(1), &Value::Int(4)]);
        assert_eq!(got.positions, [0, 4]);
        let e = &got.errors[0];
        assert!(e.to_string().starts_with("bad[0]:1: invalid JSON:"), "{e}");
        assert_eq!(e.source_label(), Some("bad[0]"));
        assert_eq!(e.line(), Some(1));
        assert_eq!(e.raw_record(), Some("{not json"));
        let e = &got.errors[1];
        assert_eq!(
            e.to_string(),
            "bad[0]:3: column 'a': expected BIGINT, found 'x'"
        );
        assert_eq!(e.raw_record(), Some(r#"{"a":"x"}"#));

        // `commit` covers everything returned, bad messages included: a new
        // member of the group starts after them.
        reader.commit().await.unwrap();
    });
    produce(
        &rt,
        &broker.brokers,
        "bad",
        &[(0, None, Some(r#"{"a":6}"#), None)],
    );
    rt.block_on(async {
        let config = source(&broker.brokers, "bad", "g-bad", "a BIGINT");
        let mut reader = open_reader(&config, &ReaderOptions::default())
            .await
            .unwrap();
        let got = read(reader.as_mut(), 1, 0).await;
        assert_eq!(got.rows[0][0], Value::Int(6));
        assert_eq!(got.positions, [5]);
    });
}

#[test]
fn a_new_reader_in_the_group_resumes_after_the_committed_offsets() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    create_topic(&rt, &broker.brokers, "resume", 2);
    let values: Vec<String> = (0..10).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    let messages: Vec<Msg<'_>> = (0..20)
        .map(|i| ((i % 2) as i32, None, Some(values[i / 2].as_str()), None))
        .collect();
    produce(&rt, &broker.brokers, "resume", &messages);
    rt.block_on(async {
        let config = source(&broker.brokers, "resume", "g-resume", "n BIGINT");
        let mut reader = open_reader(
            &config,
            &ReaderOptions {
                batch_size: 3,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let got = read(reader.as_mut(), 20, 0).await;
        assert_eq!(got.rows.len(), 20);
        // Finished with offsets 0..=3 of partition 0 and 0..=6 of partition 1.
        reader.commit_offsets(&[(0, 4), (1, 7)]).await.unwrap();
        drop(reader);

        let mut reader = open_reader(
            &config,
            &ReaderOptions {
                batch_size: 3,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut got = read(reader.as_mut(), 9, 0).await;
        let extra = read_for(reader.as_mut(), Duration::from_millis(500)).await;
        assert!(extra.rows.is_empty(), "{extra:?}");
        by_partition_and_offset(&mut got.rows);
        let seen: Vec<(i64, i64)> = got
            .rows
            .iter()
            .map(|r| match (&r[2], &r[3]) {
                (Value::Int(p), Value::Int(o)) => (*p, *o),
                _ => panic!(),
            })
            .collect();
        let expected: Vec<(i64, i64)> = (4..10)
            .map(|o| (0, o))
            .chain((7..10).map(|o| (1, o)))
            .collect();
        assert_eq!(seen, expected);
    });
}

fn output_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("sym", DataType::String),
        Field::new("n", DataType::Int),
        Field::new("ts", DataType::Timestamp),
    ]))
}

fn sink(
    brokers: &str,
    topic: &str,
    key_columns: &[&str],
    properties: &[(&str, &str)],
) -> SinkConfig {
    SinkConfig::Kafka(KafkaSinkConfig {
        topic: topic.to_string(),
        brokers: brokers.to_string(),
        properties: properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        key_columns: key_columns.iter().map(|c| c.to_string()).collect(),
    })
}

/// Every message of `topic` as (key, value), sorted, read from the beginning of
/// each of its partitions without a consumer group: the first `count`, and any
/// that arrive within half a second after them (so that duplicates show).
fn consume_all(
    brokers: &str,
    topic: &str,
    partitions: i32,
    count: usize,
) -> Vec<(Option<String>, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "velo-test-raw")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut linger_until = None;
    while linger_until.is_none_or(|t| Instant::now() < t) {
        if out.len() >= count {
            linger_until.get_or_insert_with(|| Instant::now() + Duration::from_millis(500));
        }
        assert!(Instant::now() < deadline, "timed out; so far: {out:?}");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            out.push((
                m.key().map(|k| String::from_utf8(k.to_vec()).unwrap()),
                String::from_utf8(m.payload().unwrap().to_vec()).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn writer_produces_json_rows_with_their_keys() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    for topic in ["out-none", "out-one", "out-two"] {
        create_topic(&rt, &broker.brokers, topic, 2);
    }
    let batch = Batch::new(
        output_schema(),
        vec![
            Value::str("A"),
            Value::Int(1),
            Value::Timestamp(0),
            Value::str("B"),
            Value::Int(2),
            Value::Null,
            Value::Null,
            Value::Int(3),
            Value::Timestamp(1_705_312_800_000),
        ],
    )
    .unwrap();
    let values = [
        r#"{"sym":"A","n":1,"ts":"1970-01-01T00:00:00.000Z"}"#,
        r#"{"sym":"B","n":2,"ts":null}"#,
        r#"{"sym":null,"n":3,"ts":"2024-01-15T10:00:00.000Z"}"#,
    ];
    rt.block_on(async {
        for (topic, keys) in [
            ("out-none", &[][..]),
            ("out-one", &["sym"][..]),
            ("out-two", &["sym", "n"][..]),
        ] {
            let mut writer = open_writer(&sink(&broker.brokers, topic, keys, &[]), output_schema())
                .await
                .unwrap();
            writer.write_batch(&batch).await.unwrap();
            writer.flush().await.unwrap();
            writer.close().await.unwrap();
            assert!(
                writer.write_batch(&batch).await.is_err(),
                "writes after close fail"
            );
        }
    });
    let messages = |keys: [Option<&str>; 3]| {
        let mut m: Vec<(Option<String>, String)> = keys
            .iter()
            .zip(values)
            .map(|(k, v)| (k.map(str::to_string), v.to_string()))
            .collect();
        m.sort();
        m
    };
    assert_eq!(
        consume_all(&broker.brokers, "out-none", 2, 3),
        messages([None, None, None])
    );
    assert_eq!(
        consume_all(&broker.brokers, "out-one", 2, 3),
        messages([Some("A"), Some("B"), None])
    );
    assert_eq!(
        consume_all(&broker.brokers, "out-two", 2, 3),
        messages([Some(r#"["A",1]"#), Some(r#"["B",2]"#), Some("[null,3]")])
    );

    // The Kafka reader reads the writer's output back, keys included.
    rt.block_on(async {
        let config = source(
            &broker.brokers,
            "out-one",
            "g-back",
            "sym VARCHAR, n BIGINT, ts TIMESTAMP",
        );
        let mut reader = open_reader(&config, &ReaderOptions::default())
            .await
            .unwrap();
        let mut got = read(reader.as_mut(), 3, 0).await;
        got.rows.sort_by_key(|r| format!("{:?}", r[1]));
        let summary: Vec<(&Value, &Value, &Value, &Value)> = got
            .rows
            .iter()
            .map(|r| (&r[0], &r[1], &r[2], &r[3]))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    &Value::str("A"),
                    &Value::Int(1),
                    &Value::Timestamp(0),
                    &Value::str("A")
                ),
                (
                    &Value::str("B"),
                    &Value::Int(2),
                    &Value::Null,
                    &Value::str("B")
                ),
                (
                    &Value::Null,
                    &Value::Int(3),
                    &Value::Timestamp(1_705_312_800_000),
                    &Value::Null
                ),
            ]
        );
    });
}

#[test]
fn a_failed_flush_keeps_the_messages_and_the_next_flush_delivers_them() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    create_topic(&rt, &broker.brokers, "lost", 1);
    let config = sink(
        &broker.brokers,
        "lost",
        &["sym"],
        &[
            ("message.timeout.ms", "1000"),
            ("reconnect.backoff.max.ms", "200"),
        ],
    );
    let port = broker.port();
    let mut writer = rt.block_on(open_writer(&config, output_schema())).unwrap();
    drop(broker);
    let batch = Batch::new(
        output_schema(),
        vec![Value::str("A"), Value::Int(1), Value::Null],
    )
    .unwrap();
    rt.block_on(async {
        writer.write_batch(&batch).await.unwrap();
        let e = writer.flush().await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("kafka topic 'lost': 1 message(s) not acknowledged by the brokers (kept for the next flush); first failure: "),
            "{text}"
        );
        assert_eq!(e.source_label(), Some("lost"));
        assert!(!e.is_record_error());
        // Closing flushes, and fails the same way.
        assert!(writer.close().await.is_err());
    });

    // The broker is back (empty: its storage is in memory): the next flush
    // produces the kept message, once.
    let broker = Tansu::start_on(port).expect("started before");
    create_topic(&rt, &broker.brokers, "lost", 1);
    // librdkafka reconnects with a backoff: retry as `retry_with_backoff` would.
    let mut attempts = 0;
    while let Err(e) = rt.block_on(writer.close()) {
        attempts += 1;
        assert!(attempts < 20, "{e}");
    }
    assert_eq!(
        consume_all(&broker.brokers, "lost", 1, 1),
        [(
            Some("A".to_string()),
            r#"{"sym":"A","n":1,"ts":null}"#.to_string()
        )]
    );
}

#[test]
fn opening_an_unknown_topic_fails() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    rt.block_on(async {
        let config = source(&broker.brokers, "nope", "g-nope", "a BIGINT");
        let Err(e) = open_reader(&config, &ReaderOptions::default()).await else {
            panic!("opened a reader of a topic that does not exist");
        };
        assert_eq!(
            e.to_string(),
            "kafka topic 'nope': the topic does not exist"
        );
        assert!(!e.is_record_error());
    });
}

#[test]
fn a_reader_without_a_schema_types_the_columns_from_the_first_messages() {
    let Some(broker) = Tansu::start() else { return };
    let rt = runtime();
    create_topic(&rt, &broker.brokers, "loose", 1);
    create_topic(&rt, &broker.brokers, "silent", 1);
    let values = [
        r#"{"sym":"A","n":1,"_offset":"shadowed"}"#,
        r#"{"sym":"B","n":2.5,"extra":true}"#,
        r#"{"sym":"C","n":"3"}"#,
    ];
    let messages: Vec<Msg<'_>> = values.iter().map(|v| (0, None, Some(*v), None)).collect();
    produce(&rt, &broker.brokers, "loose", &messages);
    let schemaless = |topic: &str, group: &str| match source(&broker.brokers, topic, group, "a INT")
    {
        SourceConfig::Kafka(mut k) => {
            k.schema = None;
            SourceConfig::Kafka(k)
        }
        other => other,
    };

    rt.block_on(async {
        let mut reader = open_reader(&schemaless("loose", "g-loose"), &ReaderOptions::default())
            .await
            .unwrap();
        let columns: Vec<(String, DataType)> = reader
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name.to_string(), f.data_type))
            .collect();
        // A key named like a system column is left out; n widens to DOUBLE.
        let expected: Vec<(String, DataType)> = [
            ("sym", DataType::String),
            ("n", DataType::Float),
            ("extra", DataType::Boolean),
            ("_key", DataType::String),
            ("_partition", DataType::Int),
            ("_offset", DataType::Int),
            ("_timestamp", DataType::Timestamp),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), *t))
        .collect();
        assert_eq!(columns, expected);
        // The sampled messages come back first; the string in 'n' fails.
        let got = read(reader.as_mut(), 2, 1).await;
        assert_eq!(got.rows[0][..3], [Value::str("A"), Value::Float(1.0), Value::Null]);
        assert_eq!(got.rows[0][5], Value::Int(0));
        assert_eq!(got.rows[1][..3], [Value::str("B"), Value::Float(2.5), Value::Bool(true)]);
        assert_eq!(
            got.errors[0].to_string(),
            "loose[0]:2: column 'n': expected DOUBLE (its type from its first values), found the string '3'"
        );

        // Stopped while it waits for a first message: Error::Stopped, promptly.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let options = ReaderOptions {
            stop: Some(stop.clone()),
            ..Default::default()
        };
        let flag = stop.clone();
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(2));
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        // On its own thread: a reader that ignored the stop would fail the
        // test after the generous bound, not hang it.
        let (tx, rx) = std::sync::mpsc::channel();
        let config = schemaless("silent", "g-silent");
        std::thread::spawn(move || {
            let _ = tx.send(runtime().block_on(open_reader(&config, &options)));
        });
        let result = rx.recv_timeout(WAIT).expect("the stopped reader returns");
        setter.join().unwrap();
        assert!(matches!(result, Err(Error::Stopped { .. })), "{:?}", result.err());
    });
}
