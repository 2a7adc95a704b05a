//! Kafka sources and sinks, on rdkafka (librdkafka).
//!
//! [`KafkaReader`] is a member of a consumer group subscribed to one topic. Each
//! message value is one JSON object, decoded with the declared schema by the same
//! rules as JSON-lines files (`json_source`). Without a declared schema the reader
//! discovers the columns when it opens: it waits for the first messages (as long
//! as it takes, until the job's stop signal) and samples up to
//! [`INFERENCE_SAMPLE_RECORDS`] of them, or those that arrive within
//! [`SAMPLE_WINDOW`] of the first, typing each column by the JSON type of its
//! first values like a JSON file without a schema (a key named like a system
//! column is left out); the sampled messages are then returned first, like any
//! others. Every row then carries the
//! [`KAFKA_SYSTEM_COLUMNS`] (`_key`, `_partition`, `_offset`, `_timestamp`), and
//! its source position ([`Batch::positions`]) is its offset. A message without a
//! value (a tombstone) or with a blank one is skipped, like a blank line in a
//! file; a value that cannot be decoded is a record error named
//! `topic[partition]:offset` whose raw record is the value.
//!
//! Offsets are never committed automatically (`enable.auto.commit` and
//! `enable.auto.offset.store` are off): the caller commits, with
//! [`DataReader::commit_offsets`], the offsets of what its sink has written, which
//! gives at-least-once delivery. A source is unbounded: [`DataReader::next_batch`]
//! waits at most [`POLL_WAIT`] and may return an empty batch, never `None`.
//!
//! [`KafkaWriter`] produces one message per row: the value is the row as a JSON
//! object (SPEC §3's JSON rendering), the key comes from the `PRIMARY KEY`
//! columns. [`DataWriter::flush`] returns once the brokers acknowledged every
//! message produced so far; messages they refused are kept and produced again by
//! the next flush, so a retried flush loses nothing.
//!
//! Like the file adapters, both block the calling thread inside their async fns
//! (librdkafka's own threads do the network IO).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use velo_types::connector::{
    with_kafka_system_columns, KafkaSinkConfig, KafkaSourceConfig, KAFKA_SYSTEM_COLUMNS,
};
use velo_types::{Batch, BatchBuilder, SchemaRef, Value};

use crate::error::{Error, Result};
use crate::json_source::{InferredColumns, JsonRowDecoder, JsonSampler};
use crate::render::{write_json_value, write_text_value, JsonRowEncoder};
use crate::{DataReader, DataWriter, ReaderOptions, INFERENCE_SAMPLE_RECORDS};

/// The longest [`DataReader::next_batch`] waits for messages before it returns
/// what it has, possibly nothing.
pub const POLL_WAIT: Duration = Duration::from_millis(100);

/// How long opening a reader or a writer waits for the topic's metadata (the
/// brokers are unreachable, or the topic does not exist, past it).
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// A reader without a declared schema samples the messages that arrive within
/// this long of the first (at most [`INFERENCE_SAMPLE_RECORDS`]) to type its
/// columns: a backlog gives a full sample at once, a trickle does not hold the
/// job back for long.
pub const SAMPLE_WINDOW: Duration = Duration::from_secs(1);

/// How a Kafka partition is named in record errors: `topic[partition]`, e.g.
/// `trades[2]` (with the offset as the line: `trades[2]:1042: ...`).
pub fn partition_label(topic: &str, partition: i32) -> String {
    format!("{topic}[{partition}]")
}

pub(crate) fn kafka_error(topic: &str, message: impl Into<String>) -> Error {
    Error::Kafka {
        topic: topic.to_string(),
        message: message.into(),
    }
}

/// The client settings: Velo's `defaults`, then the pass-through ones (which
/// may override them), then those Velo sets, which win.
pub(crate) fn client_config(
    brokers: &str,
    defaults: &[(&str, &str)],
    properties: &[(String, String)],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for (key, value) in properties {
        config.set(key, value);
    }
    config.set("bootstrap.servers", brokers);
    config
}

/// Checks that the brokers answer and know `topic`.
pub(crate) fn check_topic<C: ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
) -> Result<()> {
    let metadata = client
        .fetch_metadata(Some(topic), OPEN_TIMEOUT)
        .map_err(|e| kafka_error(topic, format!("cannot read the topic's metadata: {e}")))?;
    match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
        Some(t) if t.error().is_some() => {
            match RDKafkaErrorCode::from(t.error().expect("checked above")) {
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                    Err(kafka_error(topic, "the topic does not exist"))
                }
                code => Err(kafka_error(topic, format!("cannot use the topic: {code}"))),
            }
        }
        _ => Err(kafka_error(topic, "the topic does not exist")),
    }
}

/// A Kafka topic read as a member of a consumer group; see the module docs.
pub struct KafkaReader {
    consumer: BaseConsumer<DefaultConsumerContext>,
    topic: String,
    schema: SchemaRef,
    decoder: JsonRowDecoder,
    builder: BatchBuilder,
    /// The offset of each row in `builder`.
    positions: Vec<u64>,
    batch_size: usize,
    /// A record or consumer error to return on the next call, after the rows
    /// read before it, with the offset after the bad message (committed by
    /// [`DataReader::commit`] once the error is returned).
    deferred: Option<(Error, Option<(i32, i64)>)>,
    /// Per partition, the offset after the last message returned (as a row, a
    /// skipped message or a record error): what [`DataReader::commit`] commits.
    returned: BTreeMap<i32, i64>,
    /// `topic[partition]` labels for record errors, by partition.
    labels: BTreeMap<i32, Arc<str>>,
    /// Messages read to discover the columns, returned before any other.
    sampled: VecDeque<OwnedMessage>,
}

impl std::fmt::Debug for KafkaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaReader")
            .field("topic", &self.topic)
            .field("schema", &self.schema)
            .field("returned", &self.returned)
            .finish_non_exhaustive()
    }
}

impl KafkaReader {
    /// Creates the consumer, checks that the brokers know the topic (waiting at
    /// most [`OPEN_TIMEOUT`]) and subscribes; partitions are assigned by the
    /// group while [`DataReader::next_batch`] polls.
    pub fn open(config: &KafkaSourceConfig, options: &ReaderOptions) -> Result<KafkaReader> {
        let topic = config.topic.as_str();
        // Cooperative rebalancing: a member keeps the partitions it is not
        // giving away, and with them its uncommitted progress, so a member
        // joining or leaving makes nobody read those records again.
        let defaults = [("partition.assignment.strategy", "cooperative-sticky")];
        let consumer: BaseConsumer = client_config(&config.brokers, &defaults, &config.properties)
            .set("group.id", &config.group_id)
            .set("auto.offset.reset", &config.auto_offset_reset)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()
            .map_err(|e| kafka_error(topic, format!("cannot create the consumer: {e}")))?;
        check_topic(consumer.client(), topic)?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| kafka_error(topic, format!("cannot subscribe: {e}")))?;
        let (decoder, schema, sampled) = match &config.schema {
            Some(declared) => (
                JsonRowDecoder::new(declared),
                with_kafka_system_columns(declared),
                VecDeque::new(),
            ),
            None => {
                let (columns, sampled) = sample(&consumer, topic, options)?;
                let schema = with_kafka_system_columns(&columns.schema);
                (JsonRowDecoder::inferred(&columns), schema, sampled)
            }
        };
        let schema: SchemaRef = Arc::new(schema);
        let batch_size = options.effective_batch_size();
        Ok(KafkaReader {
            consumer,
            topic: config.topic.clone(),
            decoder,
            builder: BatchBuilder::with_capacity(schema.clone(), batch_size),
            schema,
            positions: Vec::with_capacity(batch_size),
            batch_size,
            deferred: None,
            returned: BTreeMap::new(),
            labels: BTreeMap::new(),
            sampled,
        })
    }

    /// The next batch, read synchronously (see [`DataReader::next_batch`]).
    pub fn read_batch(&mut self) -> Result<Option<Batch>> {
        if let Some((e, next)) = self.deferred.take() {
            if let Some((partition, offset)) = next {
                self.returned.insert(partition, offset);
            }
            return Err(e);
        }
        let deadline = Instant::now() + POLL_WAIT;
        while self.builder.num_rows() < self.batch_size {
            let failure = if let Some(message) = self.sampled.pop_front() {
                match take(
                    &message,
                    &mut self.decoder,
                    &mut self.labels,
                    &self.topic,
                    &mut self.builder,
                    &mut self.positions,
                    &mut self.returned,
                ) {
                    None => continue,
                    Some(f) => f,
                }
            } else {
                // Wait for the first message; then take what has already arrived.
                let wait = if self.builder.is_empty() {
                    deadline.saturating_duration_since(Instant::now())
                } else {
                    Duration::ZERO
                };
                match self.consumer.poll(wait) {
                    None if self.builder.is_empty() && Instant::now() < deadline => continue,
                    None => break,
                    Some(Ok(message)) => match take(
                        &message,
                        &mut self.decoder,
                        &mut self.labels,
                        &self.topic,
                        &mut self.builder,
                        &mut self.positions,
                        &mut self.returned,
                    ) {
                        None => continue,
                        Some(f) => f,
                    },
                    Some(Err(e)) => match consumer_failure(&self.topic, e) {
                        Some(e) => (e, None),
                        None => continue,
                    },
                }
            };
            if self.builder.is_empty() {
                if let Some((partition, offset)) = failure.1 {
                    self.returned.insert(partition, offset);
                }
                return Err(failure.0);
            }
            self.deferred = Some(failure);
            break;
        }
        let positions = std::mem::replace(&mut self.positions, Vec::with_capacity(self.batch_size));
        Ok(Some(self.builder.take().with_positions(positions)))
    }

    /// The partitions of the topic currently assigned to this consumer, ascending.
    pub fn assigned_partitions(&self) -> Vec<u32> {
        let Ok(assignment) = self.consumer.assignment() else {
            return Vec::new();
        };
        let mut partitions: Vec<u32> = assignment
            .elements_for_topic(&self.topic)
            .iter()
            .filter_map(|e| u32::try_from(e.partition()).ok())
            .collect();
        partitions.sort_unstable();
        partitions.dedup();
        partitions
    }

    /// Commits, synchronously, the offset of the next message to read for each
    /// listed partition (see [`DataReader::commit_offsets`]). Partitions not
    /// assigned to this consumer any more are left out: the group gave them to
    /// another member, whose commits must not be moved backwards (the rows
    /// read here since the last commit are read again there: at-least-once).
    pub fn commit_offsets_sync(&mut self, offsets: &[(u32, u64)]) -> Result<()> {
        let assigned = self.assigned_partitions();
        let mut list = TopicPartitionList::with_capacity(offsets.len());
        for &(partition, offset) in offsets {
            if assigned.binary_search(&partition).is_err() {
                continue;
            }
            let (Ok(partition), Ok(offset)) = (i32::try_from(partition), i64::try_from(offset))
            else {
                return Err(kafka_error(
                    &self.topic,
                    format!("cannot commit offset {offset} of partition {partition}: out of range"),
                ));
            };
            list.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .map_err(|e| kafka_error(&self.topic, format!("cannot commit: {e}")))?;
        }
        if list.count() == 0 {
            return Ok(());
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(|e| kafka_error(&self.topic, format!("cannot commit offsets: {e}")))
    }
}

/// Commits `offsets` (`(partition, next offset)`) for `config`'s consumer
/// group without joining it: where a job restored from a checkpoint resumes,
/// set before its reader subscribes. The group must have no other live member
/// (one would own some of the partitions); the brokers refuse the commit then,
/// and the error says so.
pub fn commit_group_offsets(config: &KafkaSourceConfig, offsets: &[(u32, u64)]) -> Result<()> {
    let topic = config.topic.as_str();
    let consumer: BaseConsumer = client_config(&config.brokers, &[], &config.properties)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| kafka_error(topic, format!("cannot create the consumer: {e}")))?;
    check_topic(consumer.client(), topic)?;
    let mut list = TopicPartitionList::with_capacity(offsets.len());
    for &(partition, offset) in offsets {
        let (Ok(partition), Ok(offset)) = (i32::try_from(partition), i64::try_from(offset)) else {
            return Err(kafka_error(
                topic,
                format!("cannot commit offset {offset} of partition {partition}: out of range"),
            ));
        };
        list.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(|e| kafka_error(topic, format!("cannot commit: {e}")))?;
    }
    if list.count() == 0 {
        return Ok(());
    }
    consumer.assign(&list).map_err(|e| {
        kafka_error(
            topic,
            format!("cannot assign the checkpoint's partitions: {e}"),
        )
    })?;
    consumer.commit(&list, CommitMode::Sync).map_err(|e| {
        kafka_error(
            topic,
            format!(
                "cannot set the consumer group '{}' to the checkpoint's offsets (is another instance of the job running?): {e}",
                config.group_id
            ),
        )
    })
}

/// Waits for the first messages of a reader without a declared schema and
/// infers the columns from them (see the module docs); returns the columns and
/// the messages read, to be returned first. Fails with [`Error::Stopped`] when
/// the job stops before any message with a key arrived.
fn sample(
    consumer: &BaseConsumer<DefaultConsumerContext>,
    topic: &str,
    options: &ReaderOptions,
) -> Result<(InferredColumns, VecDeque<OwnedMessage>)> {
    let mut sampler = JsonSampler::default();
    let mut sampled = VecDeque::new();
    let mut first: Option<Instant> = None;
    loop {
        if let Some(t) = first {
            if sampled.len() >= INFERENCE_SAMPLE_RECORDS || t.elapsed() >= SAMPLE_WINDOW {
                break;
            }
        }
        if options.stopped() {
            if first.is_some() {
                break;
            }
            return Err(Error::Stopped {
                path: format!("kafka topic '{topic}'"),
            });
        }
        match consumer.poll(POLL_WAIT) {
            None => {}
            Some(Ok(message)) => {
                if let Some(payload) = message.payload() {
                    sampler.observe(payload.trim_ascii());
                }
                if first.is_none() && !sampler.is_empty() {
                    first = Some(Instant::now());
                }
                sampled.push_back(message.detach());
            }
            Some(Err(e)) => {
                if let Some(e) = consumer_failure(topic, e) {
                    return Err(e);
                }
            }
        }
    }
    let system = |key: &str| {
        KAFKA_SYSTEM_COLUMNS
            .iter()
            .any(|(name, _)| key.eq_ignore_ascii_case(name))
    };
    Ok((sampler.finish(system), sampled))
}

/// Decodes one message into the batch being built and notes the offset after
/// it as returned; when it cannot be decoded, the failure to return with that
/// offset.
fn take<M: Message>(
    message: &M,
    decoder: &mut JsonRowDecoder,
    labels: &mut BTreeMap<i32, Arc<str>>,
    topic: &str,
    builder: &mut BatchBuilder,
    positions: &mut Vec<u64>,
    returned: &mut BTreeMap<i32, i64>,
) -> Option<(Error, Option<(i32, i64)>)> {
    let partition = message.partition();
    let next = message.offset() + 1;
    match decode_message(message, decoder, labels, topic, builder, positions) {
        Ok(()) => {
            returned.insert(partition, next);
            None
        }
        Err(e) => Some((e, Some((partition, next)))),
    }
}

/// Appends one message as a row (the value's columns, then the system columns)
/// with its offset as position; a blank value is skipped.
fn decode_message<M: Message>(
    message: &M,
    decoder: &mut JsonRowDecoder,
    labels: &mut BTreeMap<i32, Arc<str>>,
    topic: &str,
    builder: &mut BatchBuilder,
    positions: &mut Vec<u64>,
) -> Result<()> {
    let payload = message.payload().unwrap_or_default();
    if payload.trim_ascii().is_empty() {
        return Ok(());
    }
    let partition = message.partition();
    let offset = message.offset();
    let label = labels
        .entry(partition)
        .or_insert_with(|| Arc::from(partition_label(topic, partition)));
    // Offsets are never negative for a consumed message.
    let position = u64::try_from(offset).unwrap_or_default();
    let row = decoder
        .decode(label, position, payload)
        .map_err(|e| e.with_raw(payload))?;
    let key = match message.key() {
        Some(k) => Value::str(&String::from_utf8_lossy(k)),
        None => Value::Null,
    };
    let timestamp = message
        .timestamp()
        .to_millis()
        .map_or(Value::Null, Value::Timestamp);
    let system: [Value; KAFKA_SYSTEM_COLUMNS.len()] = [
        key,
        Value::Int(i64::from(partition)),
        Value::Int(offset),
        timestamp,
    ];
    builder.push_row(row.iter_mut().map(std::mem::take).chain(system));
    positions.push(position);
    Ok(())
}

/// What a consumer error means for the reader: `None` for errors librdkafka
/// recovers from by itself (a broker connection lost, a partition leader moving),
/// the error to return for the others (the topic is gone or may not be read, a
/// fatal client error).
fn consumer_failure(topic: &str, e: KafkaError) -> Option<Error> {
    match &e {
        KafkaError::PartitionEOF(_) => None,
        KafkaError::MessageConsumption(
            RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed,
        )
        | KafkaError::MessageConsumptionFatal(_) => {
            Some(kafka_error(topic, format!("cannot consume: {e}")))
        }
        _ => None,
    }
}

#[async_trait]
impl DataReader for KafkaReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        self.read_batch()
    }

    async fn commit(&mut self) -> Result<()> {
        // Forget partitions the group took away: their new owner commits them.
        let assigned = self.assigned_partitions();
        self.returned
            .retain(|p, _| u32::try_from(*p).is_ok_and(|p| assigned.binary_search(&p).is_ok()));
        let offsets: Vec<(u32, u64)> = self
            .returned
            .iter()
            .filter_map(|(&p, &o)| Some((u32::try_from(p).ok()?, u64::try_from(o).ok()?)))
            .collect();
        self.commit_offsets_sync(&offsets)
    }

    fn source_partitions(&self) -> Option<Vec<u32>> {
        Some(self.assigned_partitions())
    }

    fn consumed_offsets(&self) -> Option<Vec<(u32, u64)>> {
        Some(
            self.returned
                .iter()
                .map(|(&p, &o)| (p as u32, o.max(0) as u64))
                .collect(),
        )
    }

    async fn commit_offsets(&mut self, offsets: &[(u32, u64)]) -> Result<()> {
        self.commit_offsets_sync(offsets)
    }
}

/// A message the brokers did not acknowledge, kept to be produced again.
#[derive(Debug)]
struct Undelivered {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

/// Collects the messages whose delivery failed (delivery reports are served by
/// `poll` and `flush`, on the producing thread).
#[derive(Debug, Default)]
struct DeliveryTracker {
    failed: Mutex<(Vec<Undelivered>, Option<String>)>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, message)) = result {
            let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
            failed.0.push(Undelivered {
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
            });
            failed.1.get_or_insert_with(|| e.to_string());
        }
    }
}

/// How a row becomes its message key.
#[derive(Debug)]
enum KeyColumns {
    None,
    /// One column: its text rendering (CSV's); NULL gives no key.
    One(usize),
    /// Several: a JSON array of their values.
    Many(Vec<usize>),
}

/// Appends `row`'s message key to `out`; false when the message has no key.
fn encode_key(key: &KeyColumns, row: &[Value], out: &mut Vec<u8>) -> bool {
    match key {
        KeyColumns::None => false,
        KeyColumns::One(i) => {
            write_text_value(out, &row[*i]);
            !row[*i].is_null()
        }
        KeyColumns::Many(indices) => {
            out.push(b'[');
            for (n, i) in indices.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_json_value(out, &row[*i]);
            }
            out.push(b']');
            true
        }
    }
}

/// Produces one JSON message per row to a Kafka topic; see the module docs.
pub struct KafkaWriter {
    producer: BaseProducer<DeliveryTracker>,
    topic: String,
    width: usize,
    encoder: JsonRowEncoder,
    key: KeyColumns,
    value_buf: Vec<u8>,
    key_buf: Vec<u8>,
    closed: bool,
}

impl std::fmt::Debug for KafkaWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaWriter")
            .field("topic", &self.topic)
            .field("key", &self.key)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl KafkaWriter {
    /// Creates the producer for rows of `schema` and checks that the brokers know
    /// the topic (waiting at most [`OPEN_TIMEOUT`]). The key columns must be
    /// columns of `schema`.
    pub fn open(config: &KafkaSinkConfig, schema: SchemaRef) -> Result<KafkaWriter> {
        let topic = config.topic.as_str();
        let mut indices = Vec::with_capacity(config.key_columns.len());
        for name in &config.key_columns {
            let i = schema.index_of(name).ok_or_else(|| Error::Schema {
                path: topic.to_string(),
                message: format!("the key column '{name}' is not an output column"),
            })?;
            indices.push(i);
        }
        let key = match indices.as_slice() {
            [] => KeyColumns::None,
            [one] => KeyColumns::One(*one),
            _ => KeyColumns::Many(indices),
        };
        let producer: BaseProducer<DeliveryTracker> =
            client_config(&config.brokers, &[], &config.properties)
                .create_with_context(DeliveryTracker::default())
                .map_err(|e| kafka_error(topic, format!("cannot create the producer: {e}")))?;
        check_topic(producer.client(), topic)?;
        Ok(KafkaWriter {
            producer,
            topic: config.topic.clone(),
            width: schema.len(),
            encoder: JsonRowEncoder::new(&schema),
            key,
            value_buf: Vec::with_capacity(1024),
            key_buf: Vec::with_capacity(64),
            closed: false,
        })
    }

    /// Hands one message to librdkafka, waiting while its queue is full.
    fn send(&self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<()> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic);
        record.key = key;
        record.payload = value;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    self.producer.poll(Duration::from_millis(100));
                }
                Err((e, _)) => {
                    return Err(kafka_error(&self.topic, format!("cannot produce: {e}")));
                }
            }
        }
    }

    /// Encodes and produces every row of `batch` (see [`DataWriter::write_batch`]).
    pub fn write_batch_sync(&mut self, batch: &Batch) -> Result<()> {
        if self.closed {
            return Err(Error::Closed {
                path: self.topic.clone(),
            });
        }
        if batch.width() != self.width {
            return Err(Error::BatchWidth {
                path: self.topic.clone(),
                expected: self.width,
                found: batch.width(),
            });
        }
        let mut value = std::mem::take(&mut self.value_buf);
        let mut key = std::mem::take(&mut self.key_buf);
        let mut result = Ok(());
        for row in batch.rows() {
            value.clear();
            self.encoder.encode_row(row, &mut value);
            value.pop(); // the encoder's line feed
            key.clear();
            let has_key = encode_key(&self.key, row, &mut key);
            result = self.send(has_key.then_some(key.as_slice()), Some(&value));
            if result.is_err() {
                break;
            }
        }
        self.value_buf = value;
        self.key_buf = key;
        // Serve the delivery reports that arrived meanwhile.
        self.producer.poll(Duration::ZERO);
        result
    }

    /// Waits until the brokers acknowledged or refused every message produced so
    /// far (see [`DataWriter::flush`]).
    pub fn flush_sync(&mut self) -> Result<()> {
        let retry = {
            let mut failed = self
                .producer
                .context()
                .failed
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            failed.1 = None;
            std::mem::take(&mut failed.0)
        };
        for (n, m) in retry.iter().enumerate() {
            if let Err(e) = self.send(m.key.as_deref(), m.value.as_deref()) {
                // Keep what was not handed over for the next flush.
                let mut failed = self
                    .producer
                    .context()
                    .failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                failed.0.extend(retry.into_iter().skip(n));
                return Err(e);
            }
        }
        // Bounded by librdkafka's `message.timeout.ms`: an undelivered message
        // fails with a delivery report once it expires.
        self.producer
            .flush(Timeout::Never)
            .map_err(|e| kafka_error(&self.topic, format!("cannot flush: {e}")))?;
        let failed = self
            .producer
            .context()
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match (failed.0.len(), &failed.1) {
            (0, _) => Ok(()),
            (n, first) => Err(kafka_error(
                &self.topic,
                format!(
                    "{n} message(s) not acknowledged by the brokers (kept for the next flush); first failure: {}",
                    first.as_deref().unwrap_or("unknown")
                ),
            )),
        }
    }
}

#[async_trait]
impl DataWriter for KafkaWriter {
    async fn write_batch(&mut self, batch: &Batch) -> Result<()> {
        self.write_batch_sync(batch)
    }

    async fn flush(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.flush_sync()
    }

    async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.flush_sync()?;
        self.closed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use velo_types::Decimal;

    use super::*;

    fn key(columns: &KeyColumns, row: &[Value]) -> Option<String> {
        let mut out = Vec::new();
        encode_key(columns, row, &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn keys_are_text_for_one_column_and_a_json_array_for_several() {
        let row = [
            Value::str("AAPL"),
            Value::Int(7),
            Value::Null,
            Value::Timestamp(1_705_312_800_000),
            Value::Decimal(Decimal::new(1230, 2)),
        ];
        assert_eq!(key(&KeyColumns::None, &row), None);
        assert_eq!(key(&KeyColumns::One(0), &row).as_deref(), Some("AAPL"));
        assert_eq!(key(&KeyColumns::One(1), &row).as_deref(), Some("7"));
        assert_eq!(
            key(&KeyColumns::One(3), &row).as_deref(),
            Some("2024-01-15T10:00:00.000Z")
        );
        assert_eq!(key(&KeyColumns::One(4), &row).as_deref(), Some("12.30"));
        // A NULL key column: a message without a key, not an empty key.
        assert_eq!(key(&KeyColumns::One(2), &row), None);
        assert_eq!(
            key(&KeyColumns::Many(vec![0, 1, 2, 3]), &row).as_deref(),
            Some(r#"["AAPL",7,null,"2024-01-15T10:00:00.000Z"]"#)
        );
    }

    #[test]
    fn only_unrecoverable_consumer_errors_stop_the_reader() {
        assert!(consumer_failure("t", KafkaError::PartitionEOF(0)).is_none());
        assert!(consumer_failure(
            "t",
            KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure)
        )
        .is_none());
        let e = consumer_failure(
            "t",
            KafkaError::MessageConsumption(RDKafkaErrorCode::UnknownTopicOrPartition),
        )
        .unwrap();
        assert!(
            e.to_string()
                .starts_with("kafka topic 't': cannot consume:"),
            "{e}"
        );
        assert!(!e.is_record_error());
        assert_eq!(e.source_label(), Some("t"));
    }
}
