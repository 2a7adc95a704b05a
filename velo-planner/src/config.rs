//! Typed job-level settings and connectors, built from an app's WITH properties.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use velo_ast::{Property, Span};
use velo_types::connector::{
    Encoding, Format, GeneratorProfile, KafkaSinkConfig, KafkaSourceConfig, NexmarkSourceConfig,
    NexmarkTable, SinkConfig, SourceConfig, KAFKA_SYSTEM_COLUMNS, NEXMARK_DEFAULT_BASE_TIME,
};
use velo_types::{parse_schema_decl, Schema};

use crate::duration::parse_duration_text;
use crate::error::{Error, Result};
use crate::plan::RuntimeSetting;
use crate::strategy::StrategyKind;

/// How the event-time column is encoded (`event.time.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    EpochMillis,
    EpochSeconds,
    Iso8601,
}

/// `watermark.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkStrategy {
    BoundedOutOfOrderness,
    Ascending,
}

/// `late.data.strategy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LateDataStrategy {
    Drop,
    ProcessWithWarning,
    ProcessAll,
    /// Late rows go to the named sink.
    DeadLetter {
        sink: String,
    },
}

/// `failure_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureStrategy {
    LogAndContinue,
    SendToDlq,
    FailBatch,
    RetryWithBackoff,
}

/// The job-level keys of SPEC §3, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct JobConfig {
    /// `event.time.field`, or the window's time column.
    pub event_time_field: Option<String>,
    /// `None`: decided by the column's type (integers epoch millis, strings ISO-8601).
    pub event_time_format: Option<TimeFormat>,
    pub watermark_strategy: WatermarkStrategy,
    pub max_out_of_orderness_ms: i64,
    pub late_data: LateDataStrategy,
    /// An explicit `partitioning_strategy`; `None` is `auto`.
    pub partitioning: Option<StrategyKind>,
    pub failure_strategy: FailureStrategy,
    pub dlq_sink: Option<String>,
    pub max_memory_mb: Option<u64>,
    /// `join.state.ttl`: how long (event time) a regular join keeps a row.
    pub join_state_ttl_ms: Option<i64>,
    /// `checkpoint.interval` (SPEC §3, §4): milliseconds between checkpoints,
    /// `None` for `off`. Default 10 s.
    pub checkpoint_interval_ms: Option<u64>,
    /// Whether the app set `checkpoint.interval` itself (a Kafka job only
    /// checkpoints then; see docs/DECISIONS.md).
    pub checkpoint_interval_set: bool,
    /// `processing.guarantee`.
    pub guarantee: ProcessingGuarantee,
}

/// `processing.guarantee` (SPEC §3, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingGuarantee {
    /// State restored, and output committed with each checkpoint: after a
    /// crash the committed output is one uninterrupted run's.
    ExactlyOnce,
    /// State restored; output since the last checkpoint may repeat.
    AtLeastOnce,
}

/// The default `checkpoint.interval`.
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 10_000;

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            event_time_field: None,
            event_time_format: None,
            watermark_strategy: WatermarkStrategy::BoundedOutOfOrderness,
            max_out_of_orderness_ms: 0,
            late_data: LateDataStrategy::Drop,
            partitioning: None,
            failure_strategy: FailureStrategy::LogAndContinue,
            dlq_sink: None,
            max_memory_mb: None,
            join_state_ttl_ms: None,
            checkpoint_interval_ms: Some(DEFAULT_CHECKPOINT_INTERVAL_MS),
            checkpoint_interval_set: false,
            guarantee: ProcessingGuarantee::ExactlyOnce,
        }
    }
}

/// Every property of an app, by key (later statements override earlier ones for
/// connector keys; a statement's own job keys apply to that statement only).
#[derive(Debug, Default, Clone)]
pub(crate) struct PropertyMap<'a> {
    entries: BTreeMap<String, &'a Property>,
}

impl<'a> PropertyMap<'a> {
    pub(crate) fn insert_all(&mut self, props: &'a [Property]) {
        for p in props {
            self.entries.insert(p.key.to_ascii_lowercase(), p);
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Property> {
        self.entries.get(&key.to_ascii_lowercase()).copied()
    }

    /// Connector names: every `NAME` of a `NAME.type` key.
    pub(crate) fn connector_names(&self) -> impl Iterator<Item = &str> {
        self.entries
            .keys()
            .filter_map(|k| k.strip_suffix(".type"))
            .filter(|n| !n.is_empty())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a Property> + '_ {
        self.entries.values().copied()
    }
}

fn invalid(p: &Property, reason: impl Into<String>) -> Error {
    Error::InvalidProperty {
        key: p.key.clone(),
        reason: reason.into(),
        span: p.value_span,
    }
}

fn one_of<T: Copy>(p: &Property, options: &[(&str, T)]) -> Result<T> {
    let v = p.value.trim().to_ascii_lowercase();
    options
        .iter()
        .find(|(name, _)| *name == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            invalid(
                p,
                format!("expected one of {}, found '{}'", names.join(", "), p.value),
            )
        })
}

/// Keys a job may set (not prefixed by a connector name).
pub(crate) const JOB_KEYS: &[&str] = &[
    "event.time.field",
    "event.time.format",
    "watermark.strategy",
    "watermark.max_out_of_orderness",
    "late.data.strategy",
    "late.data.dead_letter",
    "partitioning_strategy",
    "failure_strategy",
    "dlq.sink",
    "max.memory.mb",
    "join.state.ttl",
    "checkpoint.interval",
    "processing.guarantee",
];

/// Builds the job settings from the statement's properties.
pub(crate) fn job_config(props: &PropertyMap<'_>) -> Result<JobConfig> {
    let mut job = JobConfig::default();
    if let Some(p) = props.get("event.time.field") {
        if p.value.trim().is_empty() {
            return Err(invalid(p, "expected a column name"));
        }
        job.event_time_field = Some(p.value.trim().to_string());
    }
    if let Some(p) = props.get("event.time.format") {
        job.event_time_format = Some(one_of(
            p,
            &[
                ("epoch_millis", TimeFormat::EpochMillis),
                ("epoch_seconds", TimeFormat::EpochSeconds),
                ("iso8601", TimeFormat::Iso8601),
            ],
        )?);
    }
    if let Some(p) = props.get("watermark.strategy") {
        job.watermark_strategy = one_of(
            p,
            &[
                (
                    "bounded_out_of_orderness",
                    WatermarkStrategy::BoundedOutOfOrderness,
                ),
                ("ascending", WatermarkStrategy::Ascending),
            ],
        )?;
    }
    if let Some(p) = props.get("watermark.max_out_of_orderness") {
        job.max_out_of_orderness_ms = parse_duration_text(&p.value).ok_or_else(|| {
            invalid(
                p,
                format!("expected a duration such as '5s', found '{}'", p.value),
            )
        })?;
    }
    if let Some(p) = props.get("late.data.strategy") {
        #[derive(Clone, Copy)]
        enum L {
            Drop,
            Warn,
            All,
            Dead,
        }
        job.late_data = match one_of(
            p,
            &[
                ("drop", L::Drop),
                ("process_with_warning", L::Warn),
                ("process_all", L::All),
                ("dead_letter", L::Dead),
            ],
        )? {
            L::Drop => LateDataStrategy::Drop,
            L::Warn => LateDataStrategy::ProcessWithWarning,
            L::All => LateDataStrategy::ProcessAll,
            L::Dead => {
                let sink = props.get("late.data.dead_letter").ok_or_else(|| {
                    invalid(
                        p,
                        "'dead_letter' needs 'late.data.dead_letter' naming a sink",
                    )
                })?;
                LateDataStrategy::DeadLetter {
                    sink: sink.value.trim().to_string(),
                }
            }
        };
    }
    if let Some(p) = props.get("partitioning_strategy") {
        if !p.value.trim().eq_ignore_ascii_case("auto") {
            job.partitioning = Some(StrategyKind::parse(&p.value).ok_or_else(|| {
                invalid(
                    p,
                    format!(
                        "expected auto, always_hash, smart_repartition, sticky_partition, round_robin or fan_in, found '{}'",
                        p.value
                    ),
                )
            })?);
        }
    }
    if let Some(p) = props.get("failure_strategy") {
        job.failure_strategy = one_of(
            p,
            &[
                ("log_and_continue", FailureStrategy::LogAndContinue),
                ("send_to_dlq", FailureStrategy::SendToDlq),
                ("fail_batch", FailureStrategy::FailBatch),
                ("retry_with_backoff", FailureStrategy::RetryWithBackoff),
            ],
        )?;
        if job.failure_strategy == FailureStrategy::SendToDlq && props.get("dlq.sink").is_none() {
            return Err(invalid(p, "'send_to_dlq' needs 'dlq.sink' naming a sink"));
        }
    }
    if let Some(p) = props.get("dlq.sink") {
        job.dlq_sink = Some(p.value.trim().to_string());
    }
    if let Some(p) = props.get("max.memory.mb") {
        let mb: u64 = p
            .value
            .trim()
            .parse()
            .ok()
            .filter(|mb| *mb > 0)
            .ok_or_else(|| {
                invalid(
                    p,
                    format!("expected a positive whole number, found '{}'", p.value),
                )
            })?;
        job.max_memory_mb = Some(mb);
    }
    if let Some(p) = props.get("join.state.ttl") {
        let ms = parse_duration_text(&p.value)
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                invalid(
                    p,
                    format!(
                        "expected a positive duration such as '1h', found '{}'",
                        p.value
                    ),
                )
            })?;
        job.join_state_ttl_ms = Some(ms);
    }
    if let Some(p) = props.get("checkpoint.interval") {
        job.checkpoint_interval_set = true;
        job.checkpoint_interval_ms = if p.value.trim().eq_ignore_ascii_case("off") {
            None
        } else {
            let ms = parse_duration_text(&p.value)
                .filter(|ms| *ms > 0)
                .ok_or_else(|| {
                    invalid(
                        p,
                        format!(
                            "expected a positive duration such as '10s', or 'off', found '{}'",
                            p.value
                        ),
                    )
                })?;
            Some(ms as u64)
        };
    }
    if let Some(p) = props.get("processing.guarantee") {
        job.guarantee = one_of(
            p,
            &[
                ("exactly_once", ProcessingGuarantee::ExactlyOnce),
                ("at_least_once", ProcessingGuarantee::AtLeastOnce),
            ],
        )?;
    }
    Ok(job)
}

/// What a connector is declared as (`NAME.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectorType {
    FileSource,
    FileSink,
    KafkaSource,
    KafkaSink,
    StdinSource,
    StdoutSink,
    GeneratorSource,
    NexmarkSource,
}

impl ConnectorType {
    pub(crate) fn is_source(self) -> bool {
        matches!(
            self,
            ConnectorType::FileSource
                | ConnectorType::KafkaSource
                | ConnectorType::StdinSource
                | ConnectorType::GeneratorSource
                | ConnectorType::NexmarkSource
        )
    }
}

pub(crate) fn connector_type(
    props: &PropertyMap<'_>,
    name: &str,
) -> Result<Option<(ConnectorType, Span)>> {
    let Some(p) = props.get(&format!("{name}.type")) else {
        return Ok(None);
    };
    let t = one_of(
        p,
        &[
            ("file_source", ConnectorType::FileSource),
            ("file_sink", ConnectorType::FileSink),
            ("kafka_source", ConnectorType::KafkaSource),
            ("kafka_sink", ConnectorType::KafkaSink),
            ("stdin_source", ConnectorType::StdinSource),
            ("stdout_sink", ConnectorType::StdoutSink),
            ("generator_source", ConnectorType::GeneratorSource),
            ("nexmark_source", ConnectorType::NexmarkSource),
        ],
    )?;
    Ok(Some((t, p.value_span)))
}

/// Connector option keys (after the `NAME.` prefix) that Velo understands.
const CONNECTOR_KEYS: &[&str] = &[
    "type",
    "path",
    "format",
    "delimiter",
    "schema",
    "topic",
    "bootstrap.servers",
    "group.id",
    "auto.offset.reset",
    "partition.key",
    "profile",
    "records",
    "nexmark.table",
    "nexmark.events",
    "nexmark.rate",
    "nexmark.base.time",
    "kind",
    "key",
    "event.time.field",
];

/// `NAME.kind` and `NAME.key` (SPEC §3): `None` for a stream (the default),
/// the key columns for a table, which must name them.
pub(crate) fn table_key(
    props: &PropertyMap<'_>,
    name: &str,
    span: Span,
) -> Result<Option<Vec<String>>> {
    let key = props.get(&format!("{name}.key"));
    let is_table = match props.get(&format!("{name}.kind")) {
        None => false,
        Some(p) => match p.value.trim().to_ascii_lowercase().as_str() {
            "stream" => false,
            "table" => true,
            other => {
                return Err(invalid(
                    p,
                    format!("expected stream or table, found '{other}'"),
                ))
            }
        },
    };
    match (is_table, key) {
        (false, None) => Ok(None),
        (false, Some(p)) => Err(invalid(
            p,
            format!("'{name}.key' is for a table source; set '{name}.kind' = 'table' too"),
        )),
        (true, None) => Err(Error::Invalid {
            message: format!(
                "the table source '{name}' needs its key: '{name}.key' = 'column[, column]'"
            ),
            span,
        }),
        (true, Some(p)) => {
            let columns: Vec<String> = p.value.split(',').map(|c| c.trim().to_string()).collect();
            if columns.iter().any(String::is_empty) {
                return Err(invalid(p, "expected column names separated by commas"));
            }
            Ok(Some(columns))
        }
    }
}

/// Checks every `NAME.key` of a declared connector is one Velo knows. A job key
/// is never a connector's, even when the connector's name is its first word (a
/// sink named `dlq` and `'dlq.sink' = 'dlq'`).
pub(crate) fn check_connector_keys(props: &PropertyMap<'_>, name: &str) -> Result<()> {
    let prefix = format!("{}.", name.to_ascii_lowercase());
    for p in props.iter() {
        let key = p.key.to_ascii_lowercase();
        if JOB_KEYS.contains(&key.as_str()) {
            continue;
        }
        if let Some(rest) = key.strip_prefix(&prefix) {
            if !CONNECTOR_KEYS.contains(&rest) && !rest.starts_with("kafka.") {
                return Err(Error::InvalidProperty {
                    key: p.key.clone(),
                    reason: format!("unknown option '{rest}' for '{name}'"),
                    span: p.key_span,
                });
            }
        }
    }
    Ok(())
}

fn encoding(props: &PropertyMap<'_>, name: &str, default_format: Format) -> Result<Encoding> {
    let mut enc = Encoding {
        format: default_format,
        ..Encoding::default()
    };
    if let Some(p) = props.get(&format!("{name}.format")) {
        enc.format = Format::parse(&p.value).ok_or_else(|| {
            invalid(
                p,
                format!(
                    "expected csv, csv_no_header, json or jsonl, found '{}'",
                    p.value
                ),
            )
        })?;
    }
    if let Some(p) = props.get(&format!("{name}.delimiter")) {
        let d = match p.value.as_str() {
            "\\t" | "tab" => "\t",
            other => other,
        };
        if d.len() != 1 || !d.is_ascii() {
            return Err(invalid(p, "expected a single ASCII character"));
        }
        enc.delimiter = d.as_bytes()[0];
    }
    if let Some(p) = props.get(&format!("{name}.schema")) {
        enc.schema = Some(parse_schema_decl(&p.value).map_err(|e| invalid(p, e.to_string()))?);
    }
    Ok(enc)
}

fn path(
    props: &PropertyMap<'_>,
    name: &str,
    span: Span,
    base_dir: Option<&Path>,
) -> Result<PathBuf> {
    let key = format!("{name}.path");
    let p = props.get(&key).ok_or_else(|| Error::InvalidProperty {
        key: key.clone(),
        reason: format!("'{name}' needs a path"),
        span,
    })?;
    let raw = PathBuf::from(p.value.trim());
    if p.value.trim().is_empty() {
        return Err(invalid(p, "expected a file path"));
    }
    Ok(match base_dir {
        Some(base) if raw.is_relative() => base.join(raw),
        _ => raw,
    })
}

/// What a source or sink needs to know about its job: where relative paths
/// start, the job's name (the default Kafka consumer group is derived from it)
/// and `VELO_KAFKA_BROKERS` as read from the environment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectorContext<'a> {
    pub(crate) base_dir: Option<&'a Path>,
    pub(crate) job_name: &'a str,
    pub(crate) env_brokers: Option<&'a str>,
}

/// Builds a source's configuration from its `NAME.*` properties.
pub(crate) fn source_config(
    props: &PropertyMap<'_>,
    name: &str,
    kind: ConnectorType,
    span: Span,
    cx: &ConnectorContext<'_>,
    runtime: &mut Vec<RuntimeSetting>,
) -> Result<SourceConfig> {
    let base_dir = cx.base_dir;
    check_connector_keys(props, name)?;
    match kind {
        ConnectorType::FileSource => Ok(SourceConfig::File {
            path: path(props, name, span, base_dir)?,
            encoding: encoding(props, name, Format::Csv)?,
        }),
        ConnectorType::StdinSource => Ok(SourceConfig::Stdin {
            encoding: encoding(props, name, Format::JsonLines)?,
        }),
        ConnectorType::GeneratorSource => {
            let profile = match props.get(&format!("{name}.profile")) {
                None => GeneratorProfile::Orders,
                Some(p) => GeneratorProfile::parse(&p.value)
                    .ok_or_else(|| invalid(p, "expected orders, ticks, quotes or trades"))?,
            };
            let records = match props.get(&format!("{name}.records")) {
                None => 1_000_000,
                Some(p) => p.value.trim().replace('_', "").parse().map_err(|_| {
                    invalid(p, format!("expected a whole number, found '{}'", p.value))
                })?,
            };
            Ok(SourceConfig::Generator { profile, records })
        }
        ConnectorType::NexmarkSource => {
            nexmark_source(props, name, span).map(SourceConfig::Nexmark)
        }
        ConnectorType::KafkaSource => {
            kafka_source(props, name, span, cx, runtime).map(SourceConfig::Kafka)
        }
        _ => Err(Error::Invalid {
            message: format!("'{name}' is declared as a sink but used as a source"),
            span,
        }),
    }
}

/// `nexmark_source`'s `NAME.nexmark.*` properties (SPEC §3).
fn nexmark_source(props: &PropertyMap<'_>, name: &str, span: Span) -> Result<NexmarkSourceConfig> {
    let key = format!("{name}.nexmark.table");
    let table = match props.get(&key) {
        None => {
            return Err(Error::InvalidProperty {
                key,
                reason: format!(
                    "the Nexmark source '{name}' needs its table: bid, auction or person"
                ),
                span,
            })
        }
        Some(p) => NexmarkTable::parse(&p.value).ok_or_else(|| {
            invalid(
                p,
                format!("expected bid, auction or person, found '{}'", p.value),
            )
        })?,
    };
    let whole = |suffix: &str, positive: bool| -> Result<Option<u64>> {
        let Some(p) = props.get(&format!("{name}.{suffix}")) else {
            return Ok(None);
        };
        match p.value.trim().replace('_', "").parse::<u64>() {
            Ok(0) if positive => Err(invalid(p, "expected a number above 0")),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(invalid(
                p,
                format!("expected a whole number, found '{}'", p.value),
            )),
        }
    };
    let events = whole("nexmark.events", false)?;
    let rate = whole("nexmark.rate", true)?;
    let base_time = match whole("nexmark.base.time", false)? {
        None => NEXMARK_DEFAULT_BASE_TIME,
        Some(t) => i64::try_from(t).map_err(|_| {
            invalid(
                props
                    .get(&format!("{name}.nexmark.base.time"))
                    .expect("just read"),
                "the time is too large",
            )
        })?,
    };
    Ok(NexmarkSourceConfig {
        table,
        events,
        rate,
        base_time,
    })
}

/// Builds a sink's configuration from its `NAME.*` properties; `key_columns`
/// are the output columns marked `PRIMARY KEY` (used by Kafka sinks only).
pub(crate) fn sink_config(
    props: &PropertyMap<'_>,
    name: &str,
    kind: ConnectorType,
    span: Span,
    cx: &ConnectorContext<'_>,
    key_columns: &[String],
    runtime: &mut Vec<RuntimeSetting>,
) -> Result<SinkConfig> {
    let base_dir = cx.base_dir;
    check_connector_keys(props, name)?;
    match kind {
        ConnectorType::FileSink => Ok(SinkConfig::File {
            path: path(props, name, span, base_dir)?,
            encoding: encoding(props, name, Format::JsonLines)?,
        }),
        ConnectorType::StdoutSink => Ok(SinkConfig::Stdout {
            encoding: encoding(props, name, Format::JsonLines)?,
        }),
        ConnectorType::KafkaSink => {
            let common = kafka_common(props, name, span, cx, ConnectorType::KafkaSink, runtime)?;
            Ok(SinkConfig::Kafka(KafkaSinkConfig {
                topic: common.topic,
                brokers: common.brokers,
                properties: common.properties,
                key_columns: key_columns.to_vec(),
            }))
        }
        _ => Err(Error::Invalid {
            message: format!("'{name}' is declared as a source but used as a sink"),
            span,
        }),
    }
}

/// The environment variable that names the Kafka brokers of a connector without
/// `NAME.bootstrap.servers`.
pub const KAFKA_BROKERS_ENV: &str = "VELO_KAFKA_BROKERS";

/// librdkafka settings that `NAME.kafka.*` may not set: Velo's own keys set them
/// (`NAME.group.id`, ...), or the at-least-once protocol depends on them (Velo
/// commits offsets itself, once the rows are written).
const RESERVED_KAFKA_SETTINGS: &[(&str, &str)] = &[
    ("bootstrap.servers", "set 'NAME.bootstrap.servers' instead"),
    (
        "metadata.broker.list",
        "set 'NAME.bootstrap.servers' instead",
    ),
    ("group.id", "set 'NAME.group.id' instead"),
    ("auto.offset.reset", "set 'NAME.auto.offset.reset' instead"),
    (
        "enable.auto.commit",
        "Velo commits offsets itself, after the rows are written",
    ),
    (
        "enable.auto.offset.store",
        "Velo commits offsets itself, after the rows are written",
    ),
];

/// Connector keys that mean nothing to a Kafka connector (files and the generator).
const NOT_KAFKA_KEYS: &[&str] = &["path", "delimiter", "profile", "records"];

/// Keys of a `kafka_source` that a `kafka_sink` does not take.
const KAFKA_SOURCE_ONLY_KEYS: &[&str] =
    &["group.id", "auto.offset.reset", "schema", "partition.key"];

/// What Kafka sources and sinks share.
struct KafkaCommon {
    topic: String,
    brokers: String,
    properties: Vec<(String, String)>,
}

fn kafka_common(
    props: &PropertyMap<'_>,
    name: &str,
    span: Span,
    cx: &ConnectorContext<'_>,
    kind: ConnectorType,
    runtime: &mut Vec<RuntimeSetting>,
) -> Result<KafkaCommon> {
    let prefix = format!("{}.", name.to_ascii_lowercase());
    let mut properties = Vec::new();
    for p in props.iter() {
        let key = p.key.to_ascii_lowercase();
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        if JOB_KEYS.contains(&key.as_str()) {
            continue;
        }
        let misplaced = |why: String| Error::InvalidProperty {
            key: p.key.clone(),
            reason: why,
            span: p.key_span,
        };
        if NOT_KAFKA_KEYS.contains(&rest) {
            return Err(misplaced(format!(
                "'{rest}' is not an option of the Kafka connector '{name}'"
            )));
        }
        if kind == ConnectorType::KafkaSink && KAFKA_SOURCE_ONLY_KEYS.contains(&rest) {
            return Err(misplaced(format!(
                "'{rest}' is an option of Kafka sources, and '{name}' is a kafka_sink"
            )));
        }
        if rest == "format" && Format::parse(&p.value) != Some(Format::JsonLines) {
            return Err(invalid(
                p,
                format!(
                    "Kafka message values are JSON objects: expected json, found '{}'",
                    p.value
                ),
            ));
        }
        let Some(setting) = rest.strip_prefix("kafka.") else {
            continue;
        };
        if setting.is_empty() {
            return Err(misplaced(
                "expected a librdkafka setting after 'kafka.', e.g. 'kafka.session.timeout.ms'"
                    .to_string(),
            ));
        }
        if let Some((_, why)) = RESERVED_KAFKA_SETTINGS.iter().find(|(s, _)| *s == setting) {
            return Err(misplaced(format!(
                "'{setting}' cannot be passed through: {}",
                why.replace("NAME", name)
            )));
        }
        properties.push((setting.to_string(), p.value.trim().to_string()));
    }

    let topic_key = format!("{name}.topic");
    let topic = props
        .get(&topic_key)
        .ok_or_else(|| Error::InvalidProperty {
            key: topic_key.clone(),
            reason: format!("'{name}' needs a topic: add '{topic_key}' = '...'"),
            span,
        })?;
    let topic_name = topic.value.trim();
    if topic_name.is_empty()
        || topic_name.len() > 249
        || topic_name == "."
        || topic_name == ".."
        || !topic_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            topic,
            format!(
                "expected a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-'), found '{}'",
                topic.value
            ),
        ));
    }

    // Brokers only the environment supplies are no error in the app text:
    // `check` warns, `run` refuses the job (SPEC §1).
    let brokers_key = format!("{name}.bootstrap.servers");
    let brokers = match props.get(&brokers_key) {
        Some(p) if p.value.trim().is_empty() => {
            return Err(invalid(p, "expected a list of brokers such as 'host:9092'"))
        }
        Some(p) => p.value.trim().to_string(),
        None => match cx.env_brokers.map(str::trim).filter(|b| !b.is_empty()) {
            Some(b) => b.to_string(),
            None => {
                runtime.push(RuntimeSetting {
                    message: format!(
                        "'{name}' needs brokers: add '{brokers_key}' = 'host:9092' or set the environment variable {KAFKA_BROKERS_ENV}"
                    ),
                    span,
                    unmet: true,
                });
                String::new()
            }
        },
    };
    Ok(KafkaCommon {
        topic: topic_name.to_string(),
        brokers,
        properties,
    })
}

fn kafka_source(
    props: &PropertyMap<'_>,
    name: &str,
    span: Span,
    cx: &ConnectorContext<'_>,
    runtime: &mut Vec<RuntimeSetting>,
) -> Result<KafkaSourceConfig> {
    let common = kafka_common(props, name, span, cx, ConnectorType::KafkaSource, runtime)?;
    let group_id = match props.get(&format!("{name}.group.id")) {
        Some(p) if p.value.trim().is_empty() => {
            return Err(invalid(p, "expected a consumer group name"))
        }
        Some(p) => p.value.trim().to_string(),
        None => format!("velo-{}", cx.job_name),
    };
    let auto_offset_reset = match props.get(&format!("{name}.auto.offset.reset")) {
        None => "earliest",
        Some(p) => one_of(p, &[("earliest", "earliest"), ("latest", "latest")])?,
    };
    let schema_key = format!("{name}.schema");
    let schema = match props.get(&schema_key) {
        Some(p) => Some(kafka_schema(p)?),
        None => {
            // SPEC §3: the original system's apps declare no schema; the
            // reader types the columns from the first messages it receives.
            runtime.push(RuntimeSetting {
                message: format!(
                    "'{name}' declares no '{schema_key}': its columns and their types come from the JSON values of the first messages, at run time"
                ),
                span,
                unmet: false,
            });
            None
        }
    };
    Ok(KafkaSourceConfig {
        topic: common.topic,
        brokers: common.brokers,
        group_id,
        auto_offset_reset: auto_offset_reset.to_string(),
        properties: common.properties,
        schema,
    })
}

/// A Kafka source's declared `NAME.schema`: the message value's columns, none
/// of which may take a system column's name.
fn kafka_schema(schema_prop: &Property) -> Result<Schema> {
    let schema: Schema =
        parse_schema_decl(&schema_prop.value).map_err(|e| invalid(schema_prop, e.to_string()))?;
    if let Some(f) = schema.fields().iter().find(|f| {
        KAFKA_SYSTEM_COLUMNS
            .iter()
            .any(|(system, _)| f.name.eq_ignore_ascii_case(system))
    }) {
        return Err(invalid(
            schema_prop,
            format!(
                "'{}' is a system column that the Kafka reader appends to every row; rename the declared column",
                f.name
            ),
        ));
    }
    Ok(schema)
}
