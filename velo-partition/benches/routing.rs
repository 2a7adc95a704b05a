//! AlwaysHash routing throughput: 100k rows in 1024-row batches, one string key
//! over 200 distinct values, to 2, 4 and 8 partitions.
//!
//! `cargo bench -p velo-partition --bench routing -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use velo_partition::{AlwaysHash, PartitioningStrategy, RoundRobin, RoutingContext};
use velo_types::{Batch, DataType, Field, Schema, Value};

const ROWS: usize = 100_000;
const BATCH_ROWS: usize = 1024;
const KEYS: usize = 200;

fn input() -> Vec<Batch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::String),
        Field::new("qty", DataType::Int),
        Field::new("price", DataType::Float),
    ]));
    let keys: Vec<Value> = (0..KEYS)
        .map(|i| Value::str(&format!("SYM{i:04}")))
        .collect();
    let mut batches = Vec::new();
    let mut values = Vec::with_capacity(BATCH_ROWS * 3);
    for i in 0..ROWS {
        // A scrambled but deterministic key sequence.
        let k = (i.wrapping_mul(2_654_435_761) >> 7) % KEYS;
        values.push(keys[k].clone());
        values.push(Value::Int(i as i64));
        values.push(Value::Float(i as f64 * 0.25));
        if values.len() == BATCH_ROWS * 3 || i + 1 == ROWS {
            batches.push(Batch::new(schema.clone(), std::mem::take(&mut values)).unwrap());
        }
    }
    batches
}

fn route_all(
    strategy: &mut dyn PartitioningStrategy,
    ctx: &RoutingContext,
    batches: Vec<Batch>,
) -> Vec<(usize, Batch)> {
    let mut out = Vec::with_capacity(batches.len() * ctx.partition_count);
    for b in batches {
        strategy.route(b, ctx, &mut out);
    }
    out
}

fn routing(c: &mut Criterion) {
    let batches = input();
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(ROWS as u64));
    for n in [2usize, 4, 8] {
        let ctx = RoutingContext::new(n, vec![0]);
        let mut strategy = AlwaysHash::new();
        group.bench_function(format!("always_hash/{n}"), |b| {
            // The input clone (setup) and the output drop happen outside the timing.
            b.iter_batched(
                || batches.clone(),
                |input| black_box(route_all(&mut strategy, &ctx, input)),
                BatchSize::LargeInput,
            )
        });
    }
    let ctx = RoutingContext::new(8, vec![0]);
    let mut rr = RoundRobin::new();
    group.bench_function("round_robin/8", |b| {
        b.iter_batched(
            || batches.clone(),
            |input| black_box(route_all(&mut rr, &ctx, input)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
