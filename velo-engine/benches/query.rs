//! Criterion micro-benchmarks of the query operator over in-memory batches, one
//! core: filter + projection (scenario 0's query), a one-key GROUP BY with four
//! aggregates, and scenario 3a's tumbling window (two keys, four aggregates, a
//! watermark after each batch) with EMIT FINAL and EMIT CHANGES. Batches are
//! generated before the timed region.
//!
//! `cargo bench -p velo-engine --bench query` (or `cargo xtask bench`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use velo_engine::query::QueryExecutor;
use velo_planner::{plan_sql, JobPlan};
use velo_types::connector::GeneratorProfile;
use velo_types::{Batch, Watermark};

const ROWS: usize = 100_000;
const BATCH: usize = 1024;

fn batches(profile: GeneratorProfile) -> Vec<Batch> {
    (0..ROWS)
        .step_by(BATCH)
        .map(|start| velo_io::generate(profile, start as u64, BATCH.min(ROWS - start)))
        .collect()
}

fn plan(sql: &str, profile: &str, table: &str) -> JobPlan {
    let sql = format!(
        "{sql} WITH ('{table}.type' = 'generator_source', '{table}.profile' = '{profile}')"
    );
    plan_sql(&sql, &Default::default())
        .expect("benchmark SQL plans")
        .jobs
        .remove(0)
}

fn run(plan: &JobPlan, input: &[Batch]) -> usize {
    let mut q = QueryExecutor::new(plan, input[0].schema().clone()).expect("compiles");
    let mut out = 0;
    for b in input {
        out += q.process(b).unwrap().map_or(0, |b| b.num_rows());
    }
    out + q.finish().unwrap().map_or(0, |b| b.num_rows())
}

/// Like [`run`], with a watermark (max event time so far) after every batch.
fn run_windowed(plan: &JobPlan, input: &[Batch]) -> usize {
    let mut q = QueryExecutor::new(plan, input[0].schema().clone()).expect("compiles");
    let et = q.event_time().expect("windowed").clone();
    let mut out = 0;
    let mut max = i64::MIN;
    for b in input {
        out += q.process(b).unwrap().map_or(0, |b| b.num_rows());
        max = max.max(et.max_event_time(b).unwrap_or(i64::MIN));
        out += q
            .on_watermark(Watermark(max))
            .unwrap()
            .map_or(0, |b| b.num_rows());
    }
    out + q.finish().unwrap().map_or(0, |b| b.num_rows())
}

/// Scenario 3a's query.
const TUMBLING: &str = "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, SUM(quantity) AS total_quantity, SUM(price * quantity) AS total_value FROM market_data GROUP BY trader_id, symbol WINDOW TUMBLING(trade_time, INTERVAL '1' MINUTE)";

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("query");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(20);

    let orders = batches(GeneratorProfile::Orders);
    let filter = plan(
        "SELECT order_id, customer_id, order_date, total_amount FROM orders WHERE total_amount > 100",
        "orders",
        "orders",
    );
    g.bench_function("filter_projection", |b| {
        b.iter_batched(|| (), |()| run(&filter, &orders), BatchSize::SmallInput)
    });

    let quotes = batches(GeneratorProfile::Quotes);
    let group_final = plan(
        "SELECT symbol, COUNT(*) AS n, SUM(quantity) AS q, MIN(price) AS lo, MAX(price) AS hi FROM market_data GROUP BY symbol EMIT FINAL",
        "quotes",
        "market_data",
    );
    g.bench_function("group_by_4_aggs_emit_final", |b| {
        b.iter_batched(
            || (),
            |()| run(&group_final, &quotes),
            BatchSize::SmallInput,
        )
    });

    let group_changes = plan(
        "SELECT symbol, COUNT(*) AS n, SUM(quantity) AS q, MIN(price) AS lo, MAX(price) AS hi FROM market_data GROUP BY symbol",
        "quotes",
        "market_data",
    );
    g.bench_function("group_by_4_aggs_emit_changes", |b| {
        b.iter_batched(
            || (),
            |()| run(&group_changes, &quotes),
            BatchSize::SmallInput,
        )
    });

    let trades = batches(GeneratorProfile::Trades);
    let tumbling_final = plan(TUMBLING, "trades", "market_data");
    g.bench_function("tumbling_2_keys_4_aggs_emit_final", |b| {
        b.iter_batched(
            || (),
            |()| run_windowed(&tumbling_final, &trades),
            BatchSize::SmallInput,
        )
    });
    let tumbling_changes = plan(&format!("{TUMBLING} EMIT CHANGES"), "trades", "market_data");
    g.bench_function("tumbling_2_keys_4_aggs_emit_changes", |b| {
        b.iter_batched(
            || (),
            |()| run_windowed(&tumbling_changes, &trades),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
