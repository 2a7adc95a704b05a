//! Velo's shared data model: the types every other crate speaks.
//!
//! A [`Value`] is one compact, cheaply clonable SQL value (strings are `Arc<str>`, so
//! cloning a row never copies string bytes). A [`Schema`] names and types the columns
//! once; a [`Batch`] is many rows that share one schema, stored row-major in a single
//! flat `Vec<Value>` so that filtering and projecting a batch allocate once per batch,
//! never once per record. [`StreamMessage`] is what flows between a source, the
//! processors and a sink: batches, in-band watermarks and the end-of-stream marker.
//!
//! This crate is deliberately small and has no knowledge of SQL text, planning, IO or
//! the runtime; everything above depends on it, it depends on nothing of Velo.

mod batch;
pub mod cast;
pub mod connector;
mod data_type;
pub mod decimal;
mod error;
mod schema;
mod span;
mod strategy;
mod stream;
mod value;
mod value_serde;

pub use batch::{Batch, BatchBuilder};
pub use data_type::DataType;
pub use error::{Error, Result};
pub use schema::{parse_schema_decl, Field, Schema, SchemaRef};
pub use span::{Location, Span};
pub use strategy::StrategyKind;
pub use stream::{StreamMessage, Watermark};
pub use value::{civil_from_days, format_timestamp_millis, Value};

pub use decimal::{Decimal, ParseDecimalError};
