//! Criterion benchmark of the row-window operator, one core: scenario 1's moving
//! average / min / max over the last 100 ticks per symbol, run by
//! [`RowsWindowExec`] directly over 100k pre-generated `ticks` rows.
//!
//! `cargo bench -p velo-engine --bench rows`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use velo_engine::query::RowsWindowExec;
use velo_planner::{plan_sql, JobPlan};
use velo_types::connector::GeneratorProfile;
use velo_types::{Batch, BatchBuilder};

const ROWS: usize = 100_000;
const BATCH: usize = 1024;

const SCENARIO_1: &str = "SELECT symbol, price, \
    AVG(price) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY symbol ORDER BY timestamp) AS moving_avg, \
    MIN(price) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY symbol ORDER BY timestamp) AS min_price, \
    MAX(price) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY symbol ORDER BY timestamp) AS max_price \
    FROM market_data";

fn plan(sql: &str) -> JobPlan {
    let sql = format!(
        "{sql} WITH ('market_data.type' = 'generator_source', 'market_data.profile' = 'ticks')"
    );
    plan_sql(&sql, &Default::default())
        .expect("benchmark SQL plans")
        .jobs
        .remove(0)
}

fn batches() -> Vec<Batch> {
    (0..ROWS)
        .step_by(BATCH)
        .map(|start| {
            velo_io::generate(
                GeneratorProfile::Ticks,
                start as u64,
                BATCH.min(ROWS - start),
            )
        })
        .collect()
}

fn run(plan: &JobPlan, input: &[Batch]) -> usize {
    let schema = input[0].schema();
    let mut exec = RowsWindowExec::new(plan, schema, &plan.qualifiers()).expect("compiles");
    let mut rows = 0;
    for b in input {
        let mut out = BatchBuilder::with_capacity(exec.output_schema().clone(), b.num_rows());
        for row in b.rows() {
            exec.process_row(row, &mut out).expect("no failing rows");
        }
        rows += out.finish().num_rows();
    }
    let mut out = BatchBuilder::with_capacity(exec.output_schema().clone(), 0);
    exec.finish(&mut out).expect("finish");
    rows + out.finish().num_rows()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("rows");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(20);
    let input = batches();
    let scenario_1 = plan(SCENARIO_1);
    assert_eq!(run(&scenario_1, &input), ROWS);
    g.bench_function("scenario_1_moving_avg_min_max_buffer_100", |b| {
        b.iter_batched(|| (), |()| run(&scenario_1, &input), BatchSize::SmallInput)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
