//! Micro-benchmark of expression evaluation: a filter and a projection over a
//! million rows, reported in rows per second. `cargo bench -p velo-engine --bench expr`.
//! (Plain `main`, no harness: no extra dependency.)

use std::hint::black_box;
use std::time::Instant;

use velo_engine::aggregate::{AggregateFunction, AggregateKind, NewAccumulator};
use velo_engine::expr::{lower, PhysicalExpr, Scope};
use velo_types::{DataType, Decimal, Field, Schema, Value};

/// Binds (the planner, from text) and lowers (the engine) one expression.
fn compile(sql: &str, scope: &Scope) -> Result<PhysicalExpr, velo_planner::Error> {
    Ok(lower(&velo_planner::bind::bind_sql(sql, scope)?))
}

fn main() {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int),
        Field::new("price", DataType::Float),
        Field::new("qty", DataType::Int),
        Field::new("sym", DataType::String),
        Field::new("ts", DataType::Timestamp),
    ]);
    let rows: Vec<Vec<Value>> = (0..1_000_000i64)
        .map(|i| {
            vec![
                Value::Int(i),
                Value::Float((i % 1000) as f64 * 0.25),
                Value::Int(i % 17),
                Value::str(["AAPL", "MSFT", "GOOG", "AMZN"][(i % 4) as usize]),
                Value::Timestamp(1_705_312_800_000 + i * 10),
            ]
        })
        .collect();
    let scope = Scope::new(&schema);
    let filter = compile(
        "price > 100.0 AND sym LIKE 'A%' AND ts >= '2024-01-15 10:00:00'",
        &scope,
    )
    .expect("compile filter");
    let projection: Vec<_> = [
        "id",
        "price * qty",
        "UPPER(sym)",
        "CASE WHEN qty > 8 THEN 'big' ELSE 'small' END",
    ]
    .iter()
    .map(|s| compile(s, &scope).expect("compile projection"))
    .collect();

    for _ in 0..3 {
        let start = Instant::now();
        let mut kept = 0usize;
        let mut out: Vec<Value> = Vec::with_capacity(rows.len() * projection.len());
        for row in &rows {
            if filter.eval_predicate(row).expect("filter") {
                kept += 1;
                for p in &projection {
                    out.push(p.eval(row).expect("project"));
                }
            }
        }
        black_box(&out);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "filter+project: {:.2} M rows/s ({kept} kept of {})",
            rows.len() as f64 / secs / 1e6,
            rows.len()
        );
    }

    let start = Instant::now();
    let mut acc =
        AggregateFunction::new(AggregateKind::Sum, false, DataType::Float).new_accumulator();
    let arg = compile("price * qty", &scope).expect("compile");
    for row in &rows {
        acc.update(&arg.eval(row).expect("eval")).expect("update");
    }
    black_box(acc.evaluate().expect("evaluate"));
    println!(
        "SUM(price * qty): {:.2} M rows/s",
        rows.len() as f64 / start.elapsed().as_secs_f64() / 1e6
    );

    // Exact DECIMAL(38,2) SUM and a product at scale 4, the per-record decimal path.
    let decimals: Vec<Value> = (0..rows.len() as i128)
        .map(|i| Value::Decimal(Decimal::new(i * 7919 % 10_000_000, 2)))
        .collect();
    let ty = DataType::Decimal {
        precision: 38,
        scale: 2,
    };
    let start = Instant::now();
    let mut acc = AggregateFunction::new(AggregateKind::Sum, false, ty).new_accumulator();
    for v in &decimals {
        acc.update(v).expect("update");
    }
    black_box(acc.evaluate().expect("evaluate"));
    println!(
        "SUM(DECIMAL(38,2)): {:.2} M rows/s",
        decimals.len() as f64 / start.elapsed().as_secs_f64() / 1e6
    );
    let start = Instant::now();
    let mut product = Decimal::ZERO;
    for v in &decimals {
        if let Value::Decimal(d) = v {
            product = black_box(d.checked_mul(*d).expect("fits"));
        }
    }
    black_box(product);
    println!(
        "DECIMAL(38,2) * DECIMAL(38,2): {:.2} M rows/s",
        decimals.len() as f64 / start.elapsed().as_secs_f64() / 1e6
    );
}
