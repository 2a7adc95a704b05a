//! A real Kafka-compatible broker for tests: velo-io's `Tansu` (tansu on a free
//! loopback port, in-memory storage, stopped when dropped), and a small rdkafka
//! client to create topics, produce and consume.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

// The same broker starter as velo-io's tests; not every helper is used here.
#[allow(dead_code)]
#[path = "../../../velo-io/tests/common/tansu.rs"]
mod tansu;

/// A message read back: its key (empty when none) and its JSON value.
pub type Keyed = (String, serde_json::Value);

/// A running broker.
pub struct Broker {
    tansu: tansu::Tansu,
}

impl Broker {
    /// Starts a broker; `None` (the test is skipped) only when
    /// `VELO_SKIP_KAFKA_TESTS=1`. Panics when `tansu` is missing.
    pub fn start() -> Option<Broker> {
        tansu::Tansu::start().map(|tansu| Broker { tansu })
    }

    pub fn bootstrap(&self) -> String {
        self.tansu.brokers.clone()
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap());
        c
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.config().create().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = rt
            .block_on(admin.create_topics([&topic], &AdminOptions::new()))
            .unwrap();
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
        }
    }

    /// Produces `(key, value)` messages and waits for every delivery.
    pub fn produce(&self, topic: &str, messages: impl Iterator<Item = (String, String)>) {
        self.produce_to(topic, None, messages);
    }

    /// [`Broker::produce`], into one partition when `partition` is given.
    pub fn produce_to(
        &self,
        topic: &str,
        partition: Option<i32>,
        messages: impl Iterator<Item = (String, String)>,
    ) {
        let producer: ThreadedProducer<DefaultProducerContext> = self.config().create().unwrap();
        for (key, value) in messages {
            let mut record = BaseRecord::to(topic).key(&key).payload(&value);
            if let Some(p) = partition {
                record = record.partition(p);
            }
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((e, r)) => {
                        assert!(
                            matches!(
                                e.rdkafka_error_code(),
                                Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                            ),
                            "produce: {e}"
                        );
                        record = r;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Produces a tombstone (a message with `key` and no value) and waits for
    /// its delivery.
    pub fn produce_tombstone(&self, topic: &str, key: &str) {
        let producer: ThreadedProducer<DefaultProducerContext> = self.config().create().unwrap();
        producer
            .send(BaseRecord::<str, str>::to(topic).key(key))
            .map_err(|(e, _)| e)
            .unwrap();
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// The offsets `group` has committed for `topic`'s partitions `0..n`
    /// (`None`: nothing committed).
    pub fn committed(&self, group: &str, topic: &str, n: i32) -> Vec<Option<i64>> {
        let consumer: BaseConsumer = self.config().set("group.id", group).create().unwrap();
        let mut list = rdkafka::TopicPartitionList::new();
        for p in 0..n {
            list.add_partition(topic, p);
        }
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .unwrap();
        (0..n)
            .map(
                |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                    Some(rdkafka::Offset::Offset(o)) => Some(o),
                    _ => None,
                },
            )
            .collect()
    }

    /// Polls until `group` has committed `total` offsets of `topic`'s `n`
    /// partitions in all; panics with `what` and what was committed after
    /// `timeout`.
    pub fn wait_committed(&self, group: &str, topic: &str, n: i32, total: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let committed = self.committed(group, topic, n);
            if committed.iter().flatten().sum::<i64>() == total {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{group} did not commit {total} offsets of {topic} within {timeout:?}: {committed:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A reader of every partition of `topic` (`0..n`) from the start, outside
    /// any consumer group; see [`Tail`].
    pub fn tail(&self, topic: &str, n: i32) -> Tail {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", format!("test-tail-{topic}"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut list = rdkafka::TopicPartitionList::new();
        for p in 0..n {
            list.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&list).unwrap();
        Tail {
            consumer,
            topic: topic.to_string(),
            next: vec![0; n as usize],
            rows: Vec::new(),
        }
    }

    fn consumer(&self, topic: &str) -> BaseConsumer {
        let group = format!(
            "test-reader-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        consumer
    }

    /// Reads `topic` from the start until `done` says so; every message as
    /// `(key, JSON value)`. Panics after `timeout`.
    fn consume(
        &self,
        topic: &str,
        timeout: Duration,
        mut done: impl FnMut(&[Keyed]) -> bool,
    ) -> Result<Vec<Keyed>, Vec<Keyed>> {
        let consumer = self.consumer(topic);
        let deadline = Instant::now() + timeout;
        let mut rows = Vec::new();
        while !done(&rows) {
            if Instant::now() >= deadline {
                return Err(rows);
            }
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                let m = m.unwrap();
                let key = m
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                let value = serde_json::from_slice(m.payload().unwrap_or(b"null")).unwrap();
                rows.push((key, value));
            }
        }
        Ok(rows)
    }

    /// The first `n` messages of `topic` (at least).
    pub fn consume_until(
        &self,
        topic: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<serde_json::Value> {
        self.consume(topic, timeout, |rows| rows.len() >= n)
            .unwrap_or_else(|rows| {
                panic!("{topic}: only {} messages within {timeout:?}", rows.len())
            })
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// Messages of `topic` with their keys, at least `n`.
    pub fn consume_keys(&self, topic: &str, n: usize, timeout: Duration) -> Vec<Keyed> {
        self.consume(topic, timeout, |rows| rows.len() >= n)
            .unwrap_or_else(|rows| {
                panic!("{topic}: only {} messages within {timeout:?}", rows.len())
            })
    }
}

/// Everything written to a topic so far, read as it arrives.
pub struct Tail {
    consumer: BaseConsumer,
    topic: String,
    /// Per partition, the offset after the last message read.
    next: Vec<i64>,
    /// Every message's JSON value, in the order read.
    pub rows: Vec<serde_json::Value>,
}

impl Tail {
    /// Reads what has arrived (waiting at most 100 ms for the first message).
    pub fn poll(&mut self) {
        let mut wait = Duration::from_millis(100);
        while let Some(m) = self.consumer.poll(wait) {
            let m = m.unwrap();
            self.next[m.partition() as usize] = m.offset() + 1;
            self.rows
                .push(serde_json::from_slice(m.payload().unwrap_or(b"null")).unwrap());
            wait = Duration::ZERO;
        }
    }

    /// Reads up to the end of every partition as the broker has it now: then
    /// [`Tail::rows`] holds every message written before this call. Panics
    /// after `timeout`.
    pub fn read_to_end(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let ends: Vec<i64> = (0..self.next.len() as i32)
            .map(|p| {
                self.consumer
                    .fetch_watermarks(&self.topic, p, Duration::from_secs(10))
                    .unwrap()
                    .1
            })
            .collect();
        while self.next.iter().zip(&ends).any(|(next, end)| next < end) {
            assert!(
                Instant::now() < deadline,
                "{}: read up to {:?} of {ends:?} within {timeout:?}",
                self.topic,
                self.next
            );
            self.poll();
        }
    }
}
