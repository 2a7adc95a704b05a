//! Library use (SPEC §6): plan a query with velo-planner and run it with
//! velo-engine over the program's own batches, with no server, runtime or IO.
//!
//! `cargo run -p velo-engine --example plan_and_run` prints the job's operator
//! tree and the rows of each one-minute window: trades over 5 shares per symbol,
//! written with a common table expression and Flink's TUMBLE table function.

use std::sync::Arc;

use velo_engine::query::QueryExecutor;
use velo_planner::{operator_tree, plan_sql, PlanNode};
use velo_types::{Batch, DataType, Field, Schema, Value, Watermark};

fn print_tree(node: &PlanNode, depth: usize) {
    let output = node.output.map_or("", |o| o.name());
    println!(
        "{}{} {} [{}] {output}",
        "  ".repeat(depth),
        node.operator,
        node.detail,
        node.keys.join(", ")
    );
    for input in &node.inputs {
        print_tree(input, depth + 1);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sql = "
        WITH big AS (SELECT symbol, qty, ts FROM trades WHERE qty > 5)
        SELECT symbol, window_start, COUNT(*) AS n, SUM(qty) AS total
        FROM TABLE(TUMBLE(TABLE big, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
        GROUP BY symbol, window_start, window_end
        WITH ('trades.type' = 'stdin_source')";
    let mut plan = plan_sql(sql, &Default::default())?;
    let job = plan.jobs.remove(0);
    print_tree(&operator_tree(&job), 0);

    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::String),
        Field::new("qty", DataType::Int),
        Field::new("ts", DataType::Timestamp),
    ]));
    let minute = 60_000;
    let trade = |s: &str, q: i64, t: i64| [Value::str(s), Value::Int(q), Value::Timestamp(t)];
    let rows: Vec<Value> = [
        trade("AAPL", 10, 0),
        trade("MSFT", 3, 1_000),
        trade("AAPL", 20, 30_000),
        trade("MSFT", 7, minute + 5_000),
        trade("AAPL", 6, minute + 9_000),
    ]
    .into_iter()
    .flatten()
    .collect();
    let batch = Batch::new(schema.clone(), rows)?;

    let mut query = QueryExecutor::new(&job, schema)?;
    let mut emitted = Vec::new();
    emitted.extend(query.process(&batch)?);
    // The watermark passes the first window's end: it closes and emits.
    emitted.extend(query.on_watermark(Watermark(minute))?);
    // End of input closes the rest.
    emitted.extend(query.finish()?);
    for out in &emitted {
        for row in out.rows() {
            let cells: Vec<String> = row.iter().map(Value::to_string).collect();
            println!("{}", cells.join(" | "));
        }
    }
    Ok(())
}
