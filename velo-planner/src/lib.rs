//! Velo's planner: from a parsed app ([`velo_ast::App`]) to one validated
//! [`JobPlan`] per statement.
//!
//! For each job it resolves the source and sink from the WITH properties into typed
//! configurations, reads the job-level settings (event time, watermarks, late data,
//! failure handling), analyses the query (group keys, aggregates, the time or row
//! window, the emit mode with SPEC's defaults, whether it keeps state) and chooses
//! the partitioning strategy with a one-line reason. Every semantic error carries
//! the position of the offending text.
//!
//! Planning needs no schema and does no IO. Binding ([`bind`]) resolves column
//! names and types against the real schema once the source knows it (a JSON
//! source types its columns from its first records), once per job: the engine
//! asks for it when it compiles the plan, and lowers the [`bind::BoundExpr`] it
//! gets without ever seeing SQL syntax itself. It depends on `velo-ast` and
//! `velo-types` only.
//!
//! ```
//! let sql = "SELECT a, COUNT(*) AS n FROM src GROUP BY a WITH ('src.type' = 'file_source', 'src.path' = 'in.csv')";
//! let plan = velo_planner::plan_sql(sql, &Default::default()).unwrap();
//! assert_eq!(plan.jobs[0].strategy.kind, velo_planner::StrategyKind::AlwaysHash);
//! ```

mod analysis;
pub mod bind;
pub mod catalog;
mod config;
mod duration;
mod error;
pub mod join;
pub mod logical;
mod nested;
mod plan;
mod strategy;

pub use analysis::{QueryAnalysis, RowsWindow, TimeWindow, TimeWindowKind};
pub use config::{
    FailureStrategy, JobConfig, LateDataStrategy, ProcessingGuarantee, TimeFormat,
    WatermarkStrategy, DEFAULT_CHECKPOINT_INTERVAL_MS, KAFKA_BROKERS_ENV,
};
pub use duration::parse_duration_text;
pub use error::{Error, Result};
pub use logical::{operator_tree, OutputKind, PlanNode};
pub use plan::{
    output_name, plan_app, plan_sql, AppPlan, JobPlan, PlanOptions, RuntimeSetting, SinkPlan,
    SourcePlan, StagePlan,
};
pub use strategy::{RoutingNeeds, StrategyChoice, StrategyKind};
