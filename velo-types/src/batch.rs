use std::fmt;

use crate::error::{Error, Result};
use crate::schema::SchemaRef;
use crate::value::Value;

/// Rows sharing one schema, stored row-major in one flat vector: row `i` is
/// `values[i * width .. (i + 1) * width]`.
///
/// Building, filtering and projecting a batch allocate once per batch. Cloning a
/// row clones its values, which for strings is a reference-count increment.
#[derive(Clone, PartialEq)]
pub struct Batch {
    schema: SchemaRef,
    values: Vec<Value>,
    rows: usize,
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
        }
    }

    pub fn empty(schema: SchemaRef) -> Batch {
        Batch {
            schema,
            values: Vec::new(),
            rows: 0,
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

    /// Takes the values out, row-major.
    pub fn into_values(self) -> Vec<Value> {
        self.values
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
        }
    }

    pub fn finish(self) -> Batch {
        Batch {
            schema: self.schema,
            values: self.values,
            rows: self.rows,
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
}
