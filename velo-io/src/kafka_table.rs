//! A Kafka topic read as a table's changelog (SPEC §2: the latest value per
//! key wins, a null value deletes the key, applied in the order it is read).
//!
//! [`read_changelog`] reads every partition of the topic from its beginning up
//! to the end it had when the read started (its high watermark), and hands
//! each message to the caller in partition order as a [`Change`]: a message
//! with a value is an upsert of the decoded row (the declared columns, then
//! the [`KAFKA_SYSTEM_COLUMNS`], as a Kafka source's rows); a message without
//! a value, or with a blank one (a tombstone), deletes the key its message key
//! names. The message key is the table's key written as the Kafka sink writes
//! keys: the value's text for a one-column key, a JSON array of the values for
//! several. Keys are per partition in Kafka, so the order between partitions
//! does not matter for a topic keyed like the table.
//!
//! No consumer group is joined and nothing is committed: the partitions are
//! assigned directly, so a table is read whole on every start. A value that
//! cannot be decoded, or a tombstone whose key does not fit the table's key,
//! is an error naming `topic[partition]:offset`: a table with a row missing
//! would silently change every join with it.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use velo_types::connector::{with_kafka_system_columns, KafkaSourceConfig, KAFKA_SYSTEM_COLUMNS};
use velo_types::{DataType, Schema, SchemaRef, Value};

use crate::error::Result;
use crate::json_source::JsonRowDecoder;
use crate::kafka::{check_topic, client_config, kafka_error, partition_label, OPEN_TIMEOUT};
use crate::parse::{convert_text, expected_text};

/// How long reading a changelog may go without a message before it fails
/// (the brokers stopped answering).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One message of a changelog.
#[derive(Debug)]
pub enum Change<'a> {
    /// The row a message value holds, for the caller to take.
    Upsert(&'a mut [Value]),
    /// A tombstone: the key's values, in key order.
    Delete(&'a [Value]),
}

/// The schema of a changelog table's rows: the declared columns, then the
/// Kafka system columns.
pub fn table_schema(declared: &Schema) -> Schema {
    with_kafka_system_columns(declared)
}

/// Reads the changelog of `config`'s topic (whose `schema` must be declared)
/// for a table keyed by the columns `key`, calling `apply` with each change in
/// order; see the module docs. Returns the rows' schema.
pub fn read_changelog(
    config: &KafkaSourceConfig,
    key: &[String],
    mut apply: impl FnMut(Change<'_>),
) -> Result<SchemaRef> {
    let topic = config.topic.as_str();
    let declared = config
        .schema
        .as_ref()
        .ok_or_else(|| kafka_error(topic, "a table read from Kafka needs its columns declared"))?;
    let schema = table_schema(declared);
    let key_types = key
        .iter()
        .map(|k| {
            schema
                .index_of(k)
                .map(|c| schema.field(c).data_type)
                .ok_or_else(|| kafka_error(topic, format!("the key column '{k}' is not declared")))
        })
        .collect::<Result<Vec<_>>>()?;

    let consumer: BaseConsumer = client_config(&config.brokers, &[], &config.properties)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .create()
        .map_err(|e| kafka_error(topic, format!("cannot create the consumer: {e}")))?;
    check_topic(consumer.client(), topic)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), OPEN_TIMEOUT)
        .map_err(|e| kafka_error(topic, format!("cannot read the topic's metadata: {e}")))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    // Per partition, the offset the read ends at: the end when it started.
    let mut ends = Vec::with_capacity(partitions.len());
    let mut assignment = TopicPartitionList::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, OPEN_TIMEOUT)
            .map_err(|e| {
                kafka_error(
                    topic,
                    format!("cannot read the offsets of partition {p}: {e}"),
                )
            })?;
        if high > low {
            ends.push((p, high));
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| kafka_error(topic, e.to_string()))?;
        }
    }
    if ends.is_empty() {
        return Ok(SchemaRef::new(schema));
    }
    consumer
        .assign(&assignment)
        .map_err(|e| kafka_error(topic, format!("cannot assign the partitions: {e}")))?;

    let mut decoder = JsonRowDecoder::new(declared);
    let mut key_values = Vec::with_capacity(key.len());
    let mut last_message = Instant::now();
    while !ends.is_empty() {
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => {
                if last_message.elapsed() > STALL_TIMEOUT {
                    return Err(kafka_error(
                        topic,
                        format!(
                            "no message for {} s while reading the table's changelog",
                            STALL_TIMEOUT.as_secs()
                        ),
                    ));
                }
                continue;
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                ends.retain(|&(q, _)| q != p);
                continue;
            }
            Some(Err(e)) => {
                return Err(kafka_error(topic, format!("cannot consume: {e}")));
            }
            Some(Ok(m)) => m,
        };
        last_message = Instant::now();
        let (partition, offset) = (message.partition(), message.offset());
        let Some(&(_, end)) = ends.iter().find(|&&(p, _)| p == partition) else {
            // Past the end of a partition already read.
            continue;
        };
        if offset >= end {
            ends.retain(|&(p, _)| p != partition);
            continue;
        }
        let label = || partition_label(topic, partition);
        let payload = message.payload().unwrap_or_default();
        if payload.trim_ascii().is_empty() {
            let raw = message.key().ok_or_else(|| {
                kafka_error(
                    topic,
                    format!(
                        "{}:{offset}: a tombstone without a message key deletes nothing",
                        label()
                    ),
                )
            })?;
            key_values.clear();
            decode_key(raw, &key_types, &mut key_values).map_err(|expected| {
                kafka_error(
                    topic,
                    format!(
                        "{}:{offset}: the tombstone's message key {:?} is not {expected}",
                        label(),
                        String::from_utf8_lossy(raw)
                    ),
                )
            })?;
            apply(Change::Delete(&key_values));
        } else {
            let position = u64::try_from(offset).unwrap_or_default();
            let values = decoder.decode(&label(), position, payload)?;
            let mut row = Vec::with_capacity(values.len() + KAFKA_SYSTEM_COLUMNS.len());
            row.extend(values.iter_mut().map(std::mem::take));
            row.push(match message.key() {
                Some(k) => Value::str(&String::from_utf8_lossy(k)),
                None => Value::Null,
            });
            row.push(Value::Int(i64::from(partition)));
            row.push(Value::Int(offset));
            row.push(
                message
                    .timestamp()
                    .to_millis()
                    .map_or(Value::Null, Value::Timestamp),
            );
            apply(Change::Upsert(&mut row));
        }
        if offset + 1 >= end {
            ends.retain(|&(p, _)| p != partition);
        }
    }
    Ok(SchemaRef::new(schema))
}

/// The key values a message key names: the text of the one key column, or a
/// JSON array of the key columns' values. `Err` says what was expected.
fn decode_key(raw: &[u8], types: &[DataType], out: &mut Vec<Value>) -> Result<(), String> {
    if let [ty] = types {
        let v = convert_text(raw, *ty).map_err(|_| expected_text(*ty))?;
        out.push(v);
        return Ok(());
    }
    let expected = || {
        format!(
            "a JSON array of {} key values ({})",
            types.len(),
            types
                .iter()
                .map(|t| expected_text(*t))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let items: Vec<serde_json::Value> = serde_json::from_slice(raw).map_err(|_| expected())?;
    if items.len() != types.len() {
        return Err(expected());
    }
    for (item, ty) in items.iter().zip(types) {
        let text = match item {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => return Err(expected()),
            other => other.to_string(),
        };
        out.push(convert_text(text.as_bytes(), *ty).map_err(|_| expected())?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_are_text_for_one_column_and_a_json_array_for_several() {
        let mut out = Vec::new();
        decode_key(b"42", &[DataType::Int], &mut out).unwrap();
        assert_eq!(out, [Value::Int(42)]);
        out.clear();
        decode_key(b"a b", &[DataType::String], &mut out).unwrap();
        assert_eq!(out, [Value::str("a b")]);
        out.clear();
        decode_key(
            br#"["eu", 7]"#,
            &[DataType::String, DataType::Int],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [Value::str("eu"), Value::Int(7)]);
        out.clear();
        assert_eq!(
            decode_key(b"x", &[DataType::Int], &mut out).unwrap_err(),
            expected_text(DataType::Int)
        );
        let err = decode_key(br#"["eu"]"#, &[DataType::String, DataType::Int], &mut out);
        assert!(err.unwrap_err().starts_with("a JSON array of 2 key values"));
    }
}
