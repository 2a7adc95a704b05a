use std::fmt;

use crate::error::{Error, Result};
use crate::schema::SchemaRef;
use crate::value::Value;

/// Rows sharing one schema, stored row-major in one flat vector: row `i` is
/// `values[i * width .. (i + 1) * width]`.
///
/// Building, filtering and projecting a batch allocate once per batch. Cloning a
/// row clones its values, which for strings is a reference-count increment.
///
/// A batch read from a source may also carry each row's *source position* (for a
/// file, the 1-based physical line where the record starts; see
/// [`Batch::with_positions`]), so that a record that fails later can still be
/// reported with where it came from. Positions belong to the rows, not to their
/// values: whatever moves the same rows keeps them (cloning, routing a batch whole
/// or split by key), whatever builds new rows ([`BatchBuilder`], projections,
/// aggregates) starts without them, and equality ignores them.
#[derive(Clone)]
pub struct Batch {
    schema: SchemaRef,
    values: Vec<Value>,
    rows: usize,
    /// One source position per row, when the source knows them.
    positions: Option<Vec<u64>>,
}

/// Two batches are equal when they have the same schema and the same rows, in the
/// same order. Source positions are deliberately not compared: they say where the
/// rows came from, not what they are, so a batch equals its re-read or rebuilt copy.
impl PartialEq for Batch {
    fn eq(&self, other: &Batch) -> bool {
        self.rows == other.rows && self.schema == other.schema && self.values == other.values
    }
}

impl Batch {
    /// A batch from row-major values; fails unless `values.len()` is a multiple
    /// of the schema's width.
    pub fn new(schema: SchemaRef, values: Vec<Value>) -> Result<Batch> {
        let width = schema.len();
        let rows = match width {
            0 if values.is_empty() => 0,
            0 => {
                return Err(Error::BatchShape {
                    values: values.len(),
                    width,
                })
            }
            w if values.len() % w == 0 => values.len() / w,
            _ => {
                return Err(Error::BatchShape {
                    values: values.len(),
                    width,
                })
            }
        };
        Ok(Batch {
            schema,
            values,
            rows,
            positions: None,
        })
    }

    /// A batch of `rows` rows of a zero-column schema (e.g. `SELECT` with no
    /// columns kept); a width-0 schema cannot derive its row count from values.
    pub fn empty_rows(schema: SchemaRef, rows: usize) -> Batch {
        debug_assert!(schema.is_empty());
        Batch {
            schema,
            values: Vec::new(),
            rows,
            positions: None,
        }
    }

    pub fn empty(schema: SchemaRef) -> Batch {
        Batch {
            schema,
            values: Vec::new(),
            rows: 0,
            positions: None,
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn num_rows(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn width(&self) -> usize {
        self.schema.len()
    }

    /// Row `i`'s values. Panics if `i >= num_rows()`.
    #[inline]
    pub fn row(&self, i: usize) -> &[Value] {
        let w = self.width();
        &self.values[i * w..(i + 1) * w]
    }

    /// Iterates over the rows as slices.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[Value]> + '_ {
        let w = self.width();
        (0..self.rows).map(move |i| &self.values[i * w..(i + 1) * w])
    }

    /// All values, row-major.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Takes the values out, row-major (the source positions, if any, are dropped).
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// Attaches one source position per row, in row order (for a file, the 1-based
    /// physical line where each record starts), replacing any already attached.
    ///
    /// `positions.len()` must equal [`Batch::num_rows`]: debug builds panic
    /// otherwise, release builds drop the positions rather than attach wrong ones.
    pub fn with_positions(mut self, positions: Vec<u64>) -> Batch {
        debug_assert_eq!(
            positions.len(),
            self.rows,
            "one source position per row expected"
        );
        self.positions = (positions.len() == self.rows).then_some(positions);
        self
    }

    /// Every row's source position, in row order; `None` when the source did not
    /// give them (a generator, a batch built by a query).
    pub fn positions(&self) -> Option<&[u64]> {
        self.positions.as_deref()
    }

    /// Row `row`'s source position; `None` without positions or past the last row.
    #[inline]
    pub fn position(&self, row: usize) -> Option<u64> {
        self.positions.as_ref()?.get(row).copied()
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for row in self.rows() {
            list.entry(&row);
        }
        list.finish()
    }
}

/// Appends rows to a batch under construction, one allocation per batch.
///
/// Its rows are new rows, so the batches it finishes carry no source positions;
/// a reader that knows them attaches them with [`Batch::with_positions`].
#[derive(Debug)]
pub struct BatchBuilder {
    schema: SchemaRef,
    values: Vec<Value>,
    rows: usize,
}

impl BatchBuilder {
    pub fn with_capacity(schema: SchemaRef, rows: usize) -> BatchBuilder {
        let values = Vec::with_capacity(rows * schema.len());
        BatchBuilder {
            schema,
            values,
            rows: 0,
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends one row; `row` must yield exactly the schema's width of values.
    #[inline]
    pub fn push_row<I: IntoIterator<Item = Value>>(&mut self, row: I) {
        let before = self.values.len();
        self.values.extend(row);
        debug_assert_eq!(self.values.len() - before, self.schema.len());
        self.rows += 1;
    }

    /// Appends a clone of `row`.
    #[inline]
    pub fn push_row_slice(&mut self, row: &[Value]) {
        debug_assert_eq!(row.len(), self.schema.len());
        self.values.extend_from_slice(row);
        self.rows += 1;
    }

    /// Appends one value of the row being built; call [`BatchBuilder::finish_row`]
    /// after the last one.
    #[inline]
    pub fn push_value(&mut self, v: Value) {
        self.values.push(v);
    }

    #[inline]
    pub fn finish_row(&mut self) {
        self.rows += 1;
        debug_assert_eq!(self.values.len(), self.rows * self.schema.len());
    }

    /// Drops the values pushed with [`BatchBuilder::push_value`] since the last
    /// [`BatchBuilder::finish_row`]: a row given up half way.
    #[inline]
    pub fn discard_unfinished_row(&mut self) {
        self.values.truncate(self.rows * self.schema.len());
    }

    pub fn num_rows(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Finishes the batch and leaves the builder empty, ready for the next one
    /// with the same capacity.
    pub fn take(&mut self) -> Batch {
        let cap = self.values.capacity();
        let values = std::mem::replace(&mut self.values, Vec::with_capacity(cap));
        let rows = std::mem::take(&mut self.rows);
        Batch {
            schema: self.schema.clone(),
            values,
            rows,
            positions: None,
        }
    }

    pub fn finish(self) -> Batch {
        Batch {
            schema: self.schema,
            values: self.values,
            rows: self.rows,
            positions: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{DataType, Field, Schema};

    #[test]
    fn rows_are_slices_of_the_flat_vector() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int),
            Field::new("b", DataType::String),
        ]));
        let mut b = BatchBuilder::with_capacity(schema.clone(), 2);
        b.push_row([Value::Int(1), Value::str("x")]);
        b.push_value(Value::Int(2));
        b.push_value(Value::Null);
        b.finish_row();
        let batch = b.take();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.row(1), &[Value::Int(2), Value::Null]);
        assert_eq!(batch.rows().count(), 2);
        assert!(b.is_empty());
        assert!(Batch::new(schema, vec![Value::Int(1)]).is_err());
    }

    fn two_rows() -> Batch {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int)]));
        Batch::new(schema, vec![Value::Int(1), Value::Int(2)]).unwrap()
    }

    #[test]
    fn positions_are_per_row_and_optional() {
        let plain = two_rows();
        assert_eq!(plain.positions(), None);
        assert_eq!(plain.position(0), None);

        let placed = two_rows().with_positions(vec![2, 5]);
        assert_eq!(placed.positions(), Some(&[2, 5][..]));
        assert_eq!(placed.position(1), Some(5));
        assert_eq!(placed.position(2), None, "past the last row");
        assert_eq!(placed.clone().position(0), Some(2), "clones keep them");
        let replaced = placed.with_positions(vec![7, 8]);
        assert_eq!(replaced.positions(), Some(&[7, 8][..]));

        let empty = Batch::empty(two_rows().schema().clone()).with_positions(Vec::new());
        assert_eq!(empty.positions(), Some(&[][..]));
    }

    #[test]
    fn equality_ignores_positions() {
        let placed = two_rows().with_positions(vec![2, 5]);
        assert_eq!(placed, two_rows());
        assert_eq!(placed, two_rows().with_positions(vec![9, 10]));
        let schema = two_rows().schema().clone();
        assert_ne!(placed, Batch::new(schema, vec![Value::Int(1)]).unwrap());
        assert_ne!(
            Batch::empty_rows(Arc::new(Schema::default()), 1),
            Batch::empty_rows(Arc::new(Schema::default()), 2)
        );
    }

    #[test]
    fn builders_make_new_rows_without_positions() {
        let placed = two_rows().with_positions(vec![2, 5]);
        let mut b = BatchBuilder::with_capacity(placed.schema().clone(), 2);
        for row in placed.rows() {
            b.push_row_slice(row);
        }
        let rebuilt = b.take();
        assert_eq!(rebuilt, placed);
        assert_eq!(rebuilt.positions(), None);
    }

    /// A position list of the wrong length is a bug in the caller: debug builds
    /// stop there, release builds drop the positions instead of misplacing rows.
    #[test]
    #[cfg_attr(
        debug_assertions,
        should_panic(expected = "one source position per row expected")
    )]
    fn positions_of_the_wrong_length_are_refused() {
        let b = two_rows().with_positions(vec![1]);
        assert_eq!(b.positions(), None);
    }
}
