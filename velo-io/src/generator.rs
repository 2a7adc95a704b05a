//! The deterministic `generator_source`, for tests and benchmarks.
//!
//! Row `i` (for `i` in `0..records`) of each profile is:
//!
//! | profile | columns |
//! |---|---|
//! | Orders | `order_id BIGINT = i`, `customer_id BIGINT = i % 1000`, `order_date VARCHAR = '2024-01-15'`, `total_amount DOUBLE = 150.0 + (i % 100)` |
//! | Ticks | `symbol VARCHAR = 'SYM' \|\| (i % 10)`, `price DOUBLE = 100 + i % 50 + 10 * sin(i / 100.0)`, `timestamp BIGINT = 1700000000000 + i * 1000` |
//! | Quotes | `symbol VARCHAR = 'SYM' \|\| (i % 200)`, `price DOUBLE` (as Ticks), `quantity BIGINT = 100 + i % 1000` |
//! | Trades | `trader_id VARCHAR = 'T' \|\| (i % 50)`, `symbol VARCHAR = 'SYM' \|\| (i % 100)`, `price DOUBLE` (as Ticks), `quantity BIGINT = 100 + i % 1000`, `trade_time BIGINT = 1000000 + i * 1000` |
//!
//! The symbol, trader and date strings are interned once per [`Generator`]: a row
//! clones an `Arc<str>`, it never allocates. Generated batches carry no source
//! positions ([`Batch::positions`] is `None`): a row's index is its values' seed,
//! not a place in any input, and the generator never fails a record.

use std::sync::Arc;

use async_trait::async_trait;
use velo_types::connector::GeneratorProfile;
use velo_types::{Batch, BatchBuilder, DataType, Field, Schema, SchemaRef, Value};

use crate::error::Result;
use crate::DataReader;

/// The schema of a generator profile.
pub fn profile_schema(profile: GeneratorProfile) -> Schema {
    use DataType::{Float, Int, String};
    let cols: &[(&str, DataType)] = match profile {
        GeneratorProfile::Orders => &[
            ("order_id", Int),
            ("customer_id", Int),
            ("order_date", String),
            ("total_amount", Float),
        ],
        GeneratorProfile::Ticks => &[("symbol", String), ("price", Float), ("timestamp", Int)],
        GeneratorProfile::Quotes => &[("symbol", String), ("price", Float), ("quantity", Int)],
        GeneratorProfile::Trades => &[
            ("trader_id", String),
            ("symbol", String),
            ("price", Float),
            ("quantity", Int),
            ("trade_time", Int),
        ],
    };
    Schema::new(cols.iter().map(|(n, t)| Field::new(n, *t)).collect())
}

/// Builds the rows of one profile; holds the interned strings.
#[derive(Debug, Clone)]
pub struct Generator {
    profile: GeneratorProfile,
    schema: SchemaRef,
    symbols: Vec<Arc<str>>,
    traders: Vec<Arc<str>>,
    order_date: Arc<str>,
}

fn interned(prefix: &str, n: usize) -> Vec<Arc<str>> {
    (0..n)
        .map(|i| Arc::from(format!("{prefix}{i}").as_str()))
        .collect()
}

#[inline]
fn price(i: u64) -> f64 {
    100.0 + (i % 50) as f64 + 10.0 * (i as f64 / 100.0).sin()
}

impl Generator {
    pub fn new(profile: GeneratorProfile) -> Generator {
        let (symbols, traders) = match profile {
            GeneratorProfile::Orders => (Vec::new(), Vec::new()),
            GeneratorProfile::Ticks => (interned("SYM", 10), Vec::new()),
            GeneratorProfile::Quotes => (interned("SYM", 200), Vec::new()),
            GeneratorProfile::Trades => (interned("SYM", 100), interned("T", 50)),
        };
        Generator {
            profile,
            schema: Arc::new(profile_schema(profile)),
            symbols,
            traders,
            order_date: Arc::from("2024-01-15"),
        }
    }

    pub fn profile(&self) -> GeneratorProfile {
        self.profile
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows `start .. start + count` as one batch (one allocation).
    pub fn batch(&self, start: u64, count: usize) -> Batch {
        let mut b = BatchBuilder::with_capacity(self.schema.clone(), count);
        self.fill(start, count, &mut b);
        b.finish()
    }

    /// Appends rows `start .. start + count` to `builder`, whose schema must be
    /// [`Generator::schema`].
    pub fn fill(&self, start: u64, count: usize, builder: &mut BatchBuilder) {
        let end = start.saturating_add(count as u64);
        let sym = |i: u64| self.symbols[(i % self.symbols.len() as u64) as usize].clone();
        match self.profile {
            GeneratorProfile::Orders => {
                for i in start..end {
                    builder.push_row([
                        Value::Int(i as i64),
                        Value::Int((i % 1000) as i64),
                        Value::Str(self.order_date.clone()),
                        Value::Float(150.0 + (i % 100) as f64),
                    ]);
                }
            }
            GeneratorProfile::Ticks => {
                for i in start..end {
                    builder.push_row([
                        Value::Str(sym(i)),
                        Value::Float(price(i)),
                        Value::Int(
                            (i as i64)
                                .wrapping_mul(1000)
                                .wrapping_add(1_700_000_000_000),
                        ),
                    ]);
                }
            }
            GeneratorProfile::Quotes => {
                for i in start..end {
                    builder.push_row([
                        Value::Str(sym(i)),
                        Value::Float(price(i)),
                        Value::Int(100 + (i % 1000) as i64),
                    ]);
                }
            }
            GeneratorProfile::Trades => {
                for i in start..end {
                    builder.push_row([
                        Value::Str(self.traders[(i % 50) as usize].clone()),
                        Value::Str(sym(i)),
                        Value::Float(price(i)),
                        Value::Int(100 + (i % 1000) as i64),
                        Value::Int((i as i64).wrapping_mul(1000).wrapping_add(1_000_000)),
                    ]);
                }
            }
        }
    }
}

/// Rows `start .. start + count` of `profile` as one in-memory batch, for benchmarks.
pub fn generate(profile: GeneratorProfile, start: u64, count: usize) -> Batch {
    Generator::new(profile).batch(start, count)
}

/// A [`DataReader`] over `records` generated rows, in batches of `batch_size`.
#[derive(Debug)]
pub struct GeneratorReader {
    generator: Generator,
    next: u64,
    end: u64,
    batch_size: usize,
}

impl GeneratorReader {
    pub fn new(profile: GeneratorProfile, records: u64, batch_size: usize) -> GeneratorReader {
        GeneratorReader {
            generator: Generator::new(profile),
            next: 0,
            end: records,
            batch_size: batch_size.max(1),
        }
    }

    /// The next batch, synchronously.
    pub fn read_batch(&mut self) -> Option<Batch> {
        if self.next >= self.end {
            return None;
        }
        let n = (self.end - self.next).min(self.batch_size as u64) as usize;
        let batch = self.generator.batch(self.next, n);
        self.next += n as u64;
        Some(batch)
    }
}

#[async_trait]
impl DataReader for GeneratorReader {
    fn schema(&self) -> SchemaRef {
        self.generator.schema.clone()
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        Ok(self.read_batch())
    }

    async fn commit(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values_of_each_profile() {
        let b = generate(GeneratorProfile::Orders, 1234, 1);
        assert_eq!(
            b.row(0),
            [
                Value::Int(1234),
                Value::Int(234),
                Value::str("2024-01-15"),
                Value::Float(184.0)
            ]
        );
        let b = generate(GeneratorProfile::Ticks, 0, 2);
        assert_eq!(
            b.row(0),
            [
                Value::str("SYM0"),
                Value::Float(100.0),
                Value::Int(1_700_000_000_000)
            ]
        );
        assert_eq!(
            b.row(1),
            [
                Value::str("SYM1"),
                Value::Float(101.0 + 10.0 * 0.01f64.sin()),
                Value::Int(1_700_000_001_000)
            ]
        );
        let b = generate(GeneratorProfile::Quotes, 1999, 1);
        assert_eq!(
            b.row(0),
            [
                Value::str("SYM199"),
                Value::Float(149.0 + 10.0 * 19.99f64.sin()),
                Value::Int(1099)
            ]
        );
        let b = generate(GeneratorProfile::Trades, 151, 1);
        assert_eq!(
            b.row(0),
            [
                Value::str("T1"),
                Value::str("SYM51"),
                Value::Float(101.0 + 10.0 * 1.51f64.sin()),
                Value::Int(251),
                Value::Int(1_151_000)
            ]
        );
    }

    #[test]
    fn strings_are_shared_not_reallocated() {
        let b = generate(GeneratorProfile::Ticks, 0, 20);
        match (&b.row(0)[0], &b.row(10)[0]) {
            (Value::Str(a), Value::Str(c)) => assert!(Arc::ptr_eq(a, c)),
            _ => panic!("symbol is a string"),
        }
    }

    #[test]
    fn reader_batches_are_deterministic_and_complete() {
        let mut r = GeneratorReader::new(GeneratorProfile::Trades, 2500, 1000);
        let sizes: Vec<_> = std::iter::from_fn(|| r.read_batch())
            .map(|b| b.num_rows())
            .collect();
        assert_eq!(sizes, [1000, 1000, 500]);
        let mut r = GeneratorReader::new(GeneratorProfile::Trades, 2500, 700);
        let mut all = Vec::new();
        while let Some(b) = r.read_batch() {
            all.extend(b.into_values());
        }
        assert_eq!(
            all,
            generate(GeneratorProfile::Trades, 0, 2500).into_values()
        );
        assert!(GeneratorReader::new(GeneratorProfile::Orders, 0, 10)
            .read_batch()
            .is_none());
    }
}
