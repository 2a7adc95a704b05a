//! Velo's query engine: expression evaluation, aggregation and event-time
//! windows (TUMBLING, SLIDING, SESSION, closed by in-band watermarks), over
//! record batches.
//!
//! The engine is usable on its own (SPEC §6): plan a statement with
//! `velo-planner`, build a [`query::QueryExecutor`] for the schema of your batches,
//! and feed it [`velo_types::Batch`]es; no server, runtime or IO is involved. A key
//! design decision is that everything name-based happens once, in
//! [`query::QueryExecutor::new`]: columns become indices, functions become enum
//! variants, literal LIKE patterns are compiled, constant sub-expressions are
//! folded. The per-record path then evaluates [`expr::PhysicalExpr`] trees over row
//! slices and updates [`aggregate::Accumulator`] enums in place, with no locks, no
//! `async` and no allocation except when a new group appears. The example
//! `plan_and_run` (`cargo run -p velo-engine --example plan_and_run`) does the
//! same for a windowed query over a common table expression.
//!
//! ```
//! use std::sync::Arc;
//! use velo_engine::query::QueryExecutor;
//! use velo_types::{Batch, DataType, Field, Schema, Value};
//!
//! let sql = "SELECT k, COUNT(*) AS n FROM t GROUP BY k EMIT FINAL WITH ('t.type' = 'stdin_source')";
//! let plan = velo_planner::plan_sql(sql, &Default::default()).unwrap().jobs.remove(0);
//! let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::String)]));
//! let batch = Batch::new(schema.clone(), vec![Value::str("a"), Value::str("b"), Value::str("a")]).unwrap();
//! let mut query = QueryExecutor::new(&plan, schema).unwrap();
//! assert!(query.process(&batch).unwrap().is_none()); // EMIT FINAL holds rows back
//! let out = query.finish().unwrap().unwrap();
//! assert_eq!(out.row(0), &[Value::str("a"), Value::Int(2)]);
//! ```

pub mod aggregate;
mod error;
pub mod expr;
pub mod join;
mod memory;
pub mod operator;
pub use error::{Error, Result};
pub mod query;
pub mod state;
pub mod stream_join;

/// The stack every thread that runs a query gets: what evaluating (and
/// compiling, see [`velo_ast::with_expr_stack`]) expressions at the depth
/// limit ([`velo_ast::MAX_EXPR_DEPTH`]) takes, and room for the rest of the
/// job. Only the pages a thread touches cost memory.
pub const THREAD_STACK_SIZE: usize = velo_ast::EXPR_STACK_SIZE + (16 << 20);
