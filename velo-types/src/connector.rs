//! Typed source and sink configurations, shared by the planner (which builds and
//! validates them from an app's WITH properties) and velo-io (which opens them).

use std::path::PathBuf;

use crate::data_type::DataType;
use crate::schema::{Field, Schema};

/// How records are encoded in a file or on stdin/stdout (`NAME.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV whose first line is the header.
    Csv,
    /// CSV without a header: columns come from `NAME.schema` (or are named
    /// `c0`, `c1`, ... when inferred).
    CsvNoHeader,
    /// One JSON object per line (`json` and `jsonl`).
    JsonLines,
}

impl Format {
    /// Parses a `NAME.format` value.
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "csv_no_header" => Some(Format::CsvNoHeader),
            "json" | "jsonl" | "json_lines" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// Options common to every text-encoded source or sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    pub format: Format,
    /// CSV field delimiter, default `,`.
    pub delimiter: u8,
    /// Declared column types (`NAME.schema`); `None` means infer them (sources).
    pub schema: Option<Schema>,
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding {
            format: Format::Csv,
            delimiter: b',',
            schema: None,
        }
    }
}

/// The record shapes the deterministic generator source can produce
/// (`NAME.profile`), matching the benchmark scenarios' inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorProfile {
    /// Scenario 0: `order_id, customer_id, order_date, total_amount`.
    Orders,
    /// Scenario 1: `symbol, price, timestamp` with 10 symbols.
    Ticks,
    /// Scenario 2: `symbol, price, quantity` with 200 symbols.
    Quotes,
    /// Scenarios 3a/3b: `trader_id, symbol, price, quantity, trade_time`.
    Trades,
}

impl GeneratorProfile {
    pub fn parse(s: &str) -> Option<GeneratorProfile> {
        match s.to_ascii_lowercase().as_str() {
            "orders" => Some(GeneratorProfile::Orders),
            "ticks" => Some(GeneratorProfile::Ticks),
            "quotes" => Some(GeneratorProfile::Quotes),
            "trades" => Some(GeneratorProfile::Trades),
            _ => None,
        }
    }
}

/// The columns the Kafka reader appends to every row, after the declared
/// schema's columns and in this order (SPEC §2's system columns):
///
/// | column | type | value |
/// |---|---|---|
/// | `_key` | VARCHAR | the message key as UTF-8 (invalid bytes replaced); NULL when the message has no key |
/// | `_partition` | BIGINT | the Kafka partition the message was read from |
/// | `_offset` | BIGINT | the message's offset in its partition |
/// | `_timestamp` | TIMESTAMP | the message timestamp (create or log-append time, epoch milliseconds); NULL when the message has none |
pub const KAFKA_SYSTEM_COLUMNS: [(&str, DataType); 4] = [
    (KAFKA_KEY_COLUMN, DataType::String),
    (KAFKA_PARTITION_COLUMN, DataType::Int),
    (KAFKA_OFFSET_COLUMN, DataType::Int),
    (KAFKA_TIMESTAMP_COLUMN, DataType::Timestamp),
];

/// SPEC §2's system columns, selectable on every source: the same four as
/// [`KAFKA_SYSTEM_COLUMNS`], which other sources carry when a query uses them
/// (velo-io's `system_columns` adapter).
pub const SYSTEM_COLUMNS: [(&str, DataType); 4] = KAFKA_SYSTEM_COLUMNS;

/// The message key column of a Kafka source (see [`KAFKA_SYSTEM_COLUMNS`]).
pub const KAFKA_KEY_COLUMN: &str = "_key";
/// The partition column of a Kafka source (see [`KAFKA_SYSTEM_COLUMNS`]).
pub const KAFKA_PARTITION_COLUMN: &str = "_partition";
/// The offset column of a Kafka source (see [`KAFKA_SYSTEM_COLUMNS`]).
pub const KAFKA_OFFSET_COLUMN: &str = "_offset";
/// The message timestamp column of a Kafka source (see [`KAFKA_SYSTEM_COLUMNS`]);
/// a Kafka job's event time when it sets no `event.time.field`.
pub const KAFKA_TIMESTAMP_COLUMN: &str = "_timestamp";

/// `kafka_source`: a topic read as a member of a consumer group (unbounded).
///
/// Message values are JSON objects decoded with [`KafkaSourceConfig::schema`]
/// (the same rules as JSON-lines files), or without one with the columns the
/// reader discovers from the first messages; every row also carries the
/// [`KAFKA_SYSTEM_COLUMNS`].
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSourceConfig {
    /// `NAME.topic`.
    pub topic: String,
    /// `NAME.bootstrap.servers`, else the environment variable `VELO_KAFKA_BROKERS`
    /// (resolved by the planner); empty when neither is set, which the plan
    /// records as a setting left to the environment (`run` refuses the job).
    pub brokers: String,
    /// `NAME.group.id`; by default `velo-<job name>` (the job's sink name, or
    /// `select_N` for a bare SELECT), so that every instance of the same job
    /// shares the topic's partitions and two different jobs each read all of it.
    pub group_id: String,
    /// `NAME.auto.offset.reset`: where a group without a committed offset starts,
    /// `earliest` (the default: a new job sees the messages already in the topic
    /// rather than silently skipping them) or `latest`.
    pub auto_offset_reset: String,
    /// Every `NAME.kafka.<setting>` property, passed to librdkafka as
    /// `<setting>` (e.g. `'in.kafka.session.timeout.ms' = '6000'` gives
    /// `("session.timeout.ms", "6000")`), in key order.
    pub properties: Vec<(String, String)>,
    /// `NAME.schema`; `None`: the columns and their types are discovered at
    /// run time from the first messages' JSON values (SPEC §3, the original
    /// system's schemaless JSON).
    pub schema: Option<Schema>,
}

impl KafkaSourceConfig {
    /// The columns of every batch the reader returns: [`KafkaSourceConfig::schema`]'s
    /// columns, then the [`KAFKA_SYSTEM_COLUMNS`]. Known without connecting to
    /// the brokers (for `velo-server check`) when the schema is declared; `None`
    /// when it is discovered from the data.
    pub fn reader_schema(&self) -> Option<Schema> {
        self.schema.as_ref().map(with_kafka_system_columns)
    }
}

/// `columns` followed by the [`KAFKA_SYSTEM_COLUMNS`]: the schema of a Kafka
/// reader whose message values have those columns.
pub fn with_kafka_system_columns(columns: &Schema) -> Schema {
    let mut fields = columns.fields().to_vec();
    fields.extend(
        KAFKA_SYSTEM_COLUMNS
            .iter()
            .map(|(name, data_type)| Field::new(name, *data_type)),
    );
    Schema::new(fields)
}

/// `kafka_sink`: one message per output row, its value the row as a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSinkConfig {
    /// `NAME.topic`.
    pub topic: String,
    /// `NAME.bootstrap.servers`, else the environment variable `VELO_KAFKA_BROKERS`;
    /// empty when neither is set (as for [`KafkaSourceConfig::brokers`]).
    pub brokers: String,
    /// Every `NAME.kafka.<setting>` property, passed to librdkafka as `<setting>`.
    pub properties: Vec<(String, String)>,
    /// The output columns marked `PRIMARY KEY` in the select list, in select
    /// order: the message key. One column: its text rendering (as in CSV
    /// output; a NULL gives a message without a key); several: a JSON array of
    /// their values; none: messages without a key.
    pub key_columns: Vec<String>,
}

/// Where a job reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    /// `file_source`: a file read once (bounded).
    File { path: PathBuf, encoding: Encoding },
    /// `stdin_source`: standard input until EOF.
    Stdin { encoding: Encoding },
    /// `generator_source`: `records` deterministic rows of `profile`.
    Generator {
        profile: GeneratorProfile,
        records: u64,
    },
    /// `kafka_source`: a Kafka topic (unbounded).
    Kafka(KafkaSourceConfig),
    /// `nexmark_source`: one table of the Nexmark benchmark's event stream.
    Nexmark(NexmarkSourceConfig),
}

/// The three tables of the Nexmark event stream (`NAME.nexmark.table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NexmarkTable {
    Person,
    Auction,
    Bid,
}

impl NexmarkTable {
    pub fn parse(s: &str) -> Option<NexmarkTable> {
        match s.trim().to_ascii_lowercase().as_str() {
            "person" => Some(NexmarkTable::Person),
            "auction" => Some(NexmarkTable::Auction),
            "bid" => Some(NexmarkTable::Bid),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NexmarkTable::Person => "person",
            NexmarkTable::Auction => "auction",
            NexmarkTable::Bid => "bid",
        }
    }
}

/// The first Nexmark event's time when `NAME.nexmark.base.time` is not set:
/// 2024-01-01T00:00:00Z, so that runs are reproducible.
pub const NEXMARK_DEFAULT_BASE_TIME: i64 = 1_704_067_200_000;

/// `nexmark_source` (SPEC §3): the events of one table among the first
/// `events` events of all kinds of the `nexmark` crate's generator, in its
/// default configuration with `base_time`.
#[derive(Debug, Clone, PartialEq)]
pub struct NexmarkSourceConfig {
    pub table: NexmarkTable,
    /// Events of all kinds generated; `None`: unbounded.
    pub events: Option<u64>,
    /// Events (of all kinds) per second of wall-clock time; `None`: as fast
    /// as possible.
    pub rate: Option<u64>,
    /// The first event's time, epoch millis.
    pub base_time: i64,
}

/// Where a job writes to.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkConfig {
    /// `file_sink`: a file, created or truncated.
    File { path: PathBuf, encoding: Encoding },
    /// `stdout_sink`, and the sink of a bare SELECT (JSON lines).
    Stdout { encoding: Encoding },
    /// `kafka_sink`: a Kafka topic.
    Kafka(KafkaSinkConfig),
}
