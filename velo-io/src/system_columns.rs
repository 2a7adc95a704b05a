//! SPEC §2's system columns on sources that do not carry them themselves: a
//! Kafka reader fills `_key`, `_partition`, `_offset` and `_timestamp` from each
//! message; files, stdin and the generator get them from this adapter, and only
//! when the query asks for them ([`crate::ReaderOptions::system_columns`]), so
//! that a query that does not pays nothing.
//!
//! | column | value here |
//! |---|---|
//! | `_key` | NULL: these sources have no keys |
//! | `_partition` | 0: each is a single source partition |
//! | `_offset` | the row's source position: its 1-based line for files and stdin; its 0-based index for the generator |
//! | `_timestamp` | the ingestion time: when the reader returned the row's batch (epoch milliseconds) |
//!
//! The columns come after the source's own, marked with
//! [`Schema::with_system_tail`] so that `SELECT *` leaves them out; a column of
//! that name that the source already has (a CSV header `_key`) is kept and not
//! appended.
//!
//! None of them depends on what was read before (the generator's `_offset` aside),
//! so a file reader resumed at a [`crate::SourcePosition`] gives its rows the same
//! values as the first reader did (but `_timestamp`, the time of reading); the
//! adapter reports the wrapped reader's position.

use std::sync::Arc;

use async_trait::async_trait;
use velo_types::connector::{
    KAFKA_KEY_COLUMN, KAFKA_OFFSET_COLUMN, KAFKA_PARTITION_COLUMN, KAFKA_TIMESTAMP_COLUMN,
    SYSTEM_COLUMNS,
};
use velo_types::{Batch, BatchBuilder, Field, Schema, SchemaRef, Value};

use crate::{DataReader, Result, SourcePosition};

/// One appended column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SystemColumn {
    Key,
    Partition,
    Offset,
    Timestamp,
}

/// Wraps a single-partition reader and appends the system columns it lacks.
pub struct SystemColumnsReader {
    inner: Box<dyn DataReader>,
    schema: SchemaRef,
    appended: Vec<SystemColumn>,
    /// Rows returned so far: the `_offset` of a row without a source position.
    rows_read: u64,
}

impl std::fmt::Debug for SystemColumnsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemColumnsReader")
            .field("schema", &self.schema)
            .field("appended", &self.appended)
            .field("rows_read", &self.rows_read)
            .finish_non_exhaustive()
    }
}

impl SystemColumnsReader {
    /// `inner` with the system columns its schema does not have appended; `inner`
    /// itself when it has them all.
    pub fn wrap(inner: Box<dyn DataReader>) -> Box<dyn DataReader> {
        let own = inner.schema();
        let appended: Vec<SystemColumn> = SYSTEM_COLUMNS
            .iter()
            .filter(|(name, _)| !own.names().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(name, _)| match *name {
                KAFKA_KEY_COLUMN => SystemColumn::Key,
                KAFKA_PARTITION_COLUMN => SystemColumn::Partition,
                KAFKA_OFFSET_COLUMN => SystemColumn::Offset,
                KAFKA_TIMESTAMP_COLUMN => SystemColumn::Timestamp,
                other => unreachable!("unknown system column {other}"),
            })
            .collect();
        if appended.is_empty() {
            return inner;
        }
        let mut fields = own.fields().to_vec();
        fields.extend(
            SYSTEM_COLUMNS
                .iter()
                .filter(|(name, _)| !own.names().any(|n| n.eq_ignore_ascii_case(name)))
                .map(|(name, ty)| Field::new(name, *ty)),
        );
        let schema = Arc::new(Schema::new(fields).with_system_tail(appended.len()));
        Box::new(SystemColumnsReader {
            inner,
            schema,
            appended,
            rows_read: 0,
        })
    }

    fn extend(&mut self, batch: Batch) -> Batch {
        let rows = batch.num_rows();
        let now = now_millis();
        let positions = batch.positions().map(<[u64]>::to_vec);
        let width = batch.width();
        let mut out = BatchBuilder::with_capacity(self.schema.clone(), rows);
        let mut values = batch.into_values().into_iter();
        for row in 0..rows {
            for _ in 0..width {
                out.push_value(values.next().unwrap_or_default());
            }
            for column in &self.appended {
                out.push_value(match column {
                    SystemColumn::Key => Value::Null,
                    SystemColumn::Partition => Value::Int(0),
                    SystemColumn::Offset => {
                        let offset = positions
                            .as_ref()
                            .and_then(|p| p.get(row).copied())
                            .unwrap_or(self.rows_read + row as u64);
                        Value::Int(i64::try_from(offset).unwrap_or(i64::MAX))
                    }
                    SystemColumn::Timestamp => Value::Timestamp(now),
                });
            }
            out.finish_row();
        }
        self.rows_read += rows as u64;
        let extended = out.finish();
        match positions {
            Some(p) => extended.with_positions(p),
            None => extended,
        }
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait]
impl DataReader for SystemColumnsReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        Ok(self.inner.next_batch().await?.map(|b| self.extend(b)))
    }

    async fn commit(&mut self) -> Result<()> {
        self.inner.commit().await
    }

    fn position(&self) -> Option<SourcePosition> {
        self.inner.position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{open_reader, ReaderOptions};
    use velo_types::connector::{Encoding, Format, GeneratorProfile, SourceConfig};

    fn read_all(config: &SourceConfig) -> (SchemaRef, Vec<Vec<Value>>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let options = ReaderOptions {
                batch_size: 2,
                system_columns: true,
                ..Default::default()
            };
            let mut r = open_reader(config, &options).await.unwrap();
            let mut rows = Vec::new();
            while let Some(b) = r.next_batch().await.unwrap() {
                rows.extend(b.rows().map(<[Value]>::to_vec));
            }
            (r.schema(), rows)
        })
    }

    #[test]
    fn files_get_their_lines_as_offsets_partition_0_and_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,_key\n1,k1\n\n2,k2\n3,k3\n").unwrap();
        let before = now_millis();
        let (schema, rows) = read_all(&SourceConfig::File {
            path,
            encoding: Encoding {
                format: Format::Csv,
                ..Encoding::default()
            },
        });
        let names: Vec<&str> = schema.names().collect();
        // The header's own `_key` is kept, not appended.
        assert_eq!(names, ["a", "_key", "_partition", "_offset", "_timestamp"]);
        assert_eq!(schema.wildcard_len(), 2);
        let offsets: Vec<&Value> = rows.iter().map(|r| &r[3]).collect();
        assert_eq!(offsets, [&Value::Int(2), &Value::Int(4), &Value::Int(5)]);
        for r in &rows {
            assert_eq!(r[2], Value::Int(0));
            let Value::Timestamp(t) = r[4] else {
                panic!("{r:?}")
            };
            assert!(t >= before && t <= now_millis());
        }
        assert_eq!(rows[0][1], Value::str("k1"));
    }

    #[test]
    fn generator_rows_get_their_index_as_offset() {
        let (schema, rows) = read_all(&SourceConfig::Generator {
            profile: GeneratorProfile::Orders,
            records: 5,
        });
        let offset = schema.index_of("_offset").unwrap();
        let key = schema.index_of("_key").unwrap();
        let got: Vec<&Value> = rows.iter().map(|r| &r[offset]).collect();
        assert_eq!(
            got,
            (0..5)
                .map(Value::Int)
                .collect::<Vec<_>>()
                .iter()
                .collect::<Vec<_>>()
        );
        assert!(rows.iter().all(|r| r[key].is_null()));
    }
}
