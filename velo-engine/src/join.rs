//! Stream-table joins (SPEC §2): a [`LookupTable`] holds a table source's rows
//! by key, and a [`LookupJoin`] extends each stream row with its key's table row.
//!
//! # Design
//!
//! A table is read whole before the first stream row (a file table) and then
//! only read: one [`LookupTable`] behind an `Arc` serves every partition
//! worker of a job, with no lock and no copy per worker. Its rows live in one
//! flat `Vec<Value>` and a `hashbrown::HashTable<u32>` indexes them by key, so
//! a lookup hashes the stream row's key values in place and compares them with
//! the stored row's key columns: nothing is allocated per record. A later row
//! with the same key replaces the earlier one (the latest value wins, as in a
//! changelog); a row whose key has a NULL is never matched (SQL equality).
//! A Kafka table is its changelog applied in order before the first stream
//! row: [`LookupTable::upsert`] for a value, [`LookupTable::remove`] for a
//! tombstone.
//!
//! The join runs in front of the query's WHERE, inside the
//! [`crate::query::SelectOperator`]: a stream row that an INNER join finds no
//! table row for counts as filtered, like a row WHERE removes, so the job's
//! accounting identity (SPEC §4) keeps counting source records. The joined row
//! is the stream row's values followed by each table's, in join order; its
//! columns are named `q.col` (`q` the input's alias, else its name), which the
//! binder resolves for `q.col` and, when only one input has it, for `col`.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;
use velo_planner::bind::BoundExpr;
use velo_planner::join::{JoinPlan, JoinType};
use velo_types::{Batch, DataType, Field, Schema, SchemaRef, Span, Value};

use crate::error::{Error, Result};
use crate::expr::{lower, PhysicalExpr};
use crate::memory::{hash_entry_bytes, values_heap_bytes};

/// A table source's rows by key; see the module docs.
#[derive(Debug)]
pub struct LookupTable {
    schema: SchemaRef,
    key_columns: Vec<usize>,
    width: usize,
    rows: Vec<Value>,
    index: HashTable<u32>,
    hasher: ahash::RandomState,
    /// What the stored values hold outside their inline size (strings).
    heap_bytes: usize,
}

impl LookupTable {
    /// An empty table of `schema`, keyed by the columns `key`; an unknown key
    /// column is an error at `span` (where the table is named).
    pub fn new(schema: SchemaRef, key: &[String], span: Span) -> Result<LookupTable> {
        let key_columns = key
            .iter()
            .map(|k| {
                schema.index_of(k).ok_or_else(|| {
                    Error::compile(
                        format!(
                            "the table's key column '{k}' is not one of its columns ({})",
                            schema.names().collect::<Vec<_>>().join(", ")
                        ),
                        span,
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LookupTable {
            width: schema.len(),
            schema,
            key_columns,
            rows: Vec::new(),
            index: HashTable::new(),
            hasher: ahash::RandomState::with_seeds(0x7ab1e, 0x10c, 0xa11, 0x5eed),
            heap_bytes: 0,
        })
    }

    /// Adds every row of `batch` (of the table's schema): a row replaces the
    /// stored row with the same key; a row with a NULL key is skipped.
    pub fn insert_batch(&mut self, batch: &Batch) {
        for row in batch.rows() {
            self.insert(row);
        }
    }

    fn insert(&mut self, row: &[Value]) {
        if self.key_columns.iter().any(|&c| row[c].is_null()) {
            return;
        }
        let hash = self.hash(self.key_columns.iter().map(|&c| &row[c]));
        let (rows, width, keys) = (&self.rows, self.width, &self.key_columns);
        let found = self.index.find(hash, |&r| {
            let stored = &rows[r as usize * width..(r as usize + 1) * width];
            keys.iter().all(|&c| stored[c] == row[c])
        });
        match found {
            Some(&r) => {
                let r = r as usize;
                let stored = &mut self.rows[r * width..(r + 1) * width];
                self.heap_bytes = (self.heap_bytes + values_heap_bytes(row))
                    .saturating_sub(values_heap_bytes(stored));
                stored.clone_from_slice(row);
            }
            None => {
                self.heap_bytes += values_heap_bytes(row);
                let r = (self.rows.len() / width) as u32;
                self.rows.extend_from_slice(row);
                let (rows, hasher) = (&self.rows, &self.hasher);
                self.index.insert_unique(hash, r, |&r| {
                    let stored = &rows[r as usize * width..(r as usize + 1) * width];
                    hash_values(hasher, keys.iter().map(|&c| &stored[c]))
                });
            }
        }
    }

    /// Applies one row of a changelog: the row replaces the stored row with
    /// its key (a NULL key is skipped).
    pub fn upsert(&mut self, row: &[Value]) {
        self.insert(row);
    }

    /// Deletes the row whose key columns equal `key` (in key order), as a
    /// changelog's tombstone does; false when there is none. The last row
    /// moves into the freed place, so the rows stay dense.
    pub fn remove(&mut self, key: &[Value]) -> bool {
        if key.len() != self.key_columns.len() || key.iter().any(Value::is_null) {
            return false;
        }
        let hash = self.hash(key.iter());
        let (rows, width, keys) = (&self.rows, self.width, &self.key_columns);
        let Ok(entry) = self.index.find_entry(hash, |&r| {
            let stored = &rows[r as usize * width..(r as usize + 1) * width];
            keys.iter().zip(key).all(|(&c, k)| stored[c] == *k)
        }) else {
            return false;
        };
        let r = entry.remove().0 as usize;
        let last = self.len() - 1;
        self.heap_bytes = self
            .heap_bytes
            .saturating_sub(values_heap_bytes(&self.rows[r * width..(r + 1) * width]));
        if r != last {
            let moved = &self.rows[last * width..(last + 1) * width];
            let moved_hash = hash_values(&self.hasher, keys.iter().map(|&c| &moved[c]));
            let slot = self
                .index
                .find_mut(moved_hash, |&x| x as usize == last)
                .expect("every stored row is indexed");
            *slot = r as u32;
            for i in 0..width {
                self.rows.swap(r * width + i, last * width + i);
            }
        }
        self.rows.truncate(last * width);
        true
    }

    fn hash<'v>(&self, values: impl Iterator<Item = &'v Value>) -> u64 {
        hash_values(&self.hasher, values)
    }

    /// The row whose key columns equal `key` (in key order), if any.
    #[inline]
    pub fn get(&self, key: &[Value]) -> Option<&[Value]> {
        if key.iter().any(Value::is_null) {
            return None;
        }
        let hash = self.hash(key.iter());
        let (rows, width, keys) = (&self.rows, self.width, &self.key_columns);
        self.index
            .find(hash, |&r| {
                let stored = &rows[r as usize * width..(r as usize + 1) * width];
                keys.iter().zip(key).all(|(&c, k)| stored[c] == *k)
            })
            .map(|&r| &rows[r as usize * width..(r as usize + 1) * width])
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// An estimate of the memory the table holds: its values, the strings
    /// they point at and the index.
    pub fn state_bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Value>()
            + self.heap_bytes
            + self.index.capacity() * hash_entry_bytes(std::mem::size_of::<u32>())
    }

    /// Rows held (one per key).
    pub fn len(&self) -> usize {
        self.rows.len() / self.width.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The key columns' types, in key order.
    fn key_types(&self) -> impl Iterator<Item = DataType> + '_ {
        self.key_columns
            .iter()
            .map(|&c| self.schema.field(c).data_type)
    }
}

fn hash_values<'v>(hasher: &ahash::RandomState, values: impl Iterator<Item = &'v Value>) -> u64 {
    let mut h = hasher.build_hasher();
    for v in values {
        v.hash(&mut h);
    }
    h.finish()
}

/// One stream-table join, compiled: see the module docs.
#[derive(Debug)]
pub struct LookupJoin {
    table: Arc<LookupTable>,
    /// The stream side of each key equality, over the row joined so far.
    lookup: Vec<PhysicalExpr>,
    left: bool,
    key_scratch: Vec<Value>,
}

impl LookupJoin {
    /// Appends the table's columns for this row's key to `row` (which holds
    /// the row joined so far), or NULLs under LEFT when there is none; false
    /// when an INNER join has no match (the row is dropped).
    #[inline]
    pub fn extend(&mut self, row: &mut Vec<Value>) -> Result<bool> {
        self.key_scratch.clear();
        for e in &self.lookup {
            let v = e.eval(row)?;
            self.key_scratch.push(v);
        }
        match self.table.get(&self.key_scratch) {
            Some(found) => {
                row.extend_from_slice(found);
                Ok(true)
            }
            None if self.left => {
                row.extend(std::iter::repeat_n(Value::Null, self.table.width));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub fn table(&self) -> &LookupTable {
        &self.table
    }
}

/// The joined rows' schema and the compiled joins, for a job whose source has
/// `stream` as schema and is qualified by `stream_qualifier` (`None`: its
/// columns are already `q.col`, the rows of a join of two streams); `tables`
/// are the loaded tables, one per join, in order.
pub fn compile_joins(
    joins: &[JoinPlan],
    stream: &Schema,
    stream_qualifier: Option<&str>,
    tables: &[Arc<LookupTable>],
) -> Result<(SchemaRef, Vec<LookupJoin>)> {
    if tables.len() != joins.len() {
        return Err(Error::Pipeline(format!(
            "{} joins but {} tables loaded",
            joins.len(),
            tables.len()
        )));
    }
    let qualified = |q: &str, s: &Schema| -> Vec<Field> {
        s.fields()
            .iter()
            .map(|f| Field::new(&format!("{q}.{}", f.name), f.data_type))
            .collect()
    };
    let mut fields = match stream_qualifier {
        Some(q) => qualified(q, stream),
        None => stream.fields().to_vec(),
    };
    let mut compiled = Vec::with_capacity(joins.len());
    for (join, table) in joins.iter().zip(tables) {
        let so_far = Schema::new(fields.clone());
        let scope = velo_planner::bind::Scope::new(&so_far);
        let mut lookup = Vec::with_capacity(join.lookup.len());
        for ((e, key), key_type) in join
            .lookup
            .iter()
            .zip(&join.table_key)
            .zip(table.key_types())
        {
            let bound: BoundExpr = velo_planner::bind::bind_expr(e, &scope)?;
            let t = bound.data_type();
            if t != key_type && t != DataType::Null && key_type != DataType::Null {
                return Err(Error::compile(
                    format!(
                        "the join key types differ: {e} is {t} but {}.{key} is {key_type}; CAST one of them",
                        join.qualifier()
                    ),
                    velo_planner::bind::position(join.on_span),
                ));
            }
            lookup.push(lower(&bound));
        }
        fields.extend(qualified(join.qualifier(), table.schema()));
        compiled.push(LookupJoin {
            table: table.clone(),
            lookup,
            left: join.join_type == JoinType::Left,
            key_scratch: Vec::with_capacity(join.lookup.len()),
        });
    }
    Ok((Arc::new(Schema::new(fields)), compiled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(Option<i64>, &str, &str)]) -> LookupTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int),
            Field::new("part", DataType::String),
            Field::new("name", DataType::String),
        ]));
        let mut t = LookupTable::new(
            schema.clone(),
            &["id".to_string(), "part".to_string()],
            Span::default(),
        )
        .unwrap();
        let values = rows
            .iter()
            .flat_map(|(id, part, name)| {
                [
                    id.map_or(Value::Null, Value::Int),
                    Value::str(part),
                    Value::str(name),
                ]
            })
            .collect();
        t.insert_batch(&Batch::new(schema, values).unwrap());
        t
    }

    #[test]
    fn the_latest_row_per_key_wins_and_null_keys_are_never_found() {
        let t = table(&[
            (Some(1), "a", "first"),
            (Some(1), "b", "other part"),
            (None, "a", "no id"),
            (Some(1), "a", "second"),
        ]);
        assert_eq!(t.len(), 2);
        let name =
            |id: Value, part: &str| t.get(&[id, Value::str(part)]).map(|row| row[2].to_string());
        assert_eq!(name(Value::Int(1), "a").as_deref(), Some("second"));
        assert_eq!(name(Value::Int(1), "b").as_deref(), Some("other part"));
        assert_eq!(name(Value::Int(2), "a"), None);
        assert_eq!(name(Value::Null, "a"), None);
        // A DOUBLE 1.0 is not the BIGINT 1: the binder refuses keys of
        // different types, and the lookup does not convert.
        assert_eq!(name(Value::Float(1.0), "a"), None);
    }

    #[test]
    fn a_removed_key_is_gone_and_the_other_rows_stay_found() {
        let mut t = table(&[
            (Some(1), "a", "one"),
            (Some(2), "a", "two"),
            (Some(3), "a", "three"),
        ]);
        let key = |id: i64| [Value::Int(id), Value::str("a")];
        let name = |t: &LookupTable, id: i64| t.get(&key(id)).map(|row| row[2].to_string());
        // The first row: the last one moves into its place.
        assert!(t.remove(&key(1)));
        assert!(!t.remove(&key(1)));
        assert_eq!(t.len(), 2);
        assert_eq!(name(&t, 1), None);
        assert_eq!(name(&t, 3).as_deref(), Some("three"));
        assert_eq!(name(&t, 2).as_deref(), Some("two"));
        // A deleted key may come back; removing the last row moves nothing.
        t.upsert(&[Value::Int(1), Value::str("a"), Value::str("again")]);
        assert!(t.remove(&key(1)));
        assert!(t.remove(&key(2)));
        assert!(t.remove(&key(3)));
        assert!(t.is_empty());
        assert!(!t.remove(&[Value::Null, Value::str("a")]));
    }

    #[test]
    fn an_unknown_key_column_is_an_error() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int)]));
        let err = LookupTable::new(schema, &["code".to_string()], Span::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("'code' is not one of its columns (id)"),
            "{err}"
        );
    }
}
