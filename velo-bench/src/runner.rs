//! Runs one scenario on pre-generated, in-memory input through the same code the
//! server runs: V1's single [`QueryWorker`] loop, and V2's [`run_partitioned`]
//! runtime with N workers. Input generation and watermark computation happen
//! before the timed region.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use velo_engine::query::{EventTime, QueryExecutor};
use velo_planner::JobPlan;
use velo_server::processor::v2::{run_partitioned, PartitionLayout};
use velo_server::processor::worker::{Output, QueryWorker};
use velo_server::processor::JobCounters;
use velo_types::{Batch, SchemaRef, StreamMessage, Value};
use velo_watermark::{SourceWatermarks, WatermarkStrategy};

use crate::Scenario;

/// A scenario's plan and its input as the in-band message sequence.
#[derive(Debug)]
pub struct Prepared {
    pub plan: JobPlan,
    pub schema: SchemaRef,
    pub messages: Vec<StreamMessage>,
    pub records: u64,
}

/// What one run did.
#[derive(Debug)]
pub struct RunResult {
    pub elapsed: Duration,
    pub rows_out: u64,
    /// Every output row, when collected for the V1/V2 check.
    pub rows: Option<Vec<Vec<Value>>>,
}

impl RunResult {
    pub fn throughput(&self, records: u64) -> f64 {
        records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Plans the scenario and generates `records` rows in batches of `batch_size`,
/// with a watermark after every batch that advanced it (SPEC §4), then the end.
pub fn prepare(scenario: &Scenario, records: u64, batch_size: usize) -> Result<Prepared> {
    let sql = format!(
        "{} WITH ('{t}.type' = 'generator_source', '{t}.profile' = '{p}')",
        scenario.sql,
        t = scenario.table,
        p = scenario.profile_name,
    );
    let plan = velo_planner::plan_sql(&sql, &Default::default())
        .map_err(|e| anyhow!("scenario {}: {e}", scenario.id))?
        .jobs
        .remove(0);
    let first = velo_io::generate(scenario.profile, 0, 1);
    let schema = first.schema().clone();
    let event_time = EventTime::new(&plan, &schema).map_err(|e| anyhow!("{e}"))?;
    let mut watermarks =
        SourceWatermarks::new(WatermarkStrategy::Ascending, None).map_err(|e| anyhow!("{e}"))?;
    watermarks.add_partition(0);
    let mut messages = Vec::new();
    let mut start = 0;
    while start < records {
        let n = batch_size.min((records - start) as usize);
        let batch = velo_io::generate(scenario.profile, start, n);
        start += n as u64;
        let max = event_time.as_ref().and_then(|et| et.max_event_time(&batch));
        messages.push(StreamMessage::Batch(batch));
        if event_time.is_some() {
            watermarks.observe(0, max, Instant::now());
            if let Some(wm) = watermarks.advance(Instant::now()) {
                messages.push(StreamMessage::Watermark(wm));
            }
        }
    }
    messages.push(StreamMessage::EndOfStream);
    Ok(Prepared {
        plan,
        schema,
        messages,
        records,
    })
}

fn compile(p: &Prepared) -> Result<QueryExecutor> {
    QueryExecutor::new(&p.plan, p.schema.clone()).map_err(|e| anyhow!("{e}"))
}

fn collect(batch: &Batch, rows: &mut Option<Vec<Vec<Value>>>) {
    if let Some(rows) = rows {
        rows.extend(batch.rows().map(<[Value]>::to_vec));
    }
}

/// V1: one thread applies every message to one query.
pub fn run_v1(p: &Prepared, keep_rows: bool) -> Result<RunResult> {
    let counters = JobCounters::default();
    let mut worker = QueryWorker::new(compile(p)?);
    let messages = p.messages.clone();
    let mut outputs = Vec::new();
    let mut rows = keep_rows.then(Vec::new);
    let mut rows_out = 0;
    let start = Instant::now();
    for m in messages {
        let more = worker
            .handle(&p.plan, m, &counters, &mut outputs)
            .map_err(|e| anyhow!("{e:?}"))?;
        for o in outputs.drain(..) {
            if let Output::Rows(b) = o {
                rows_out += b.num_rows() as u64;
                collect(&b, &mut rows);
            }
        }
        if !more {
            break;
        }
    }
    Ok(RunResult {
        elapsed: start.elapsed(),
        rows_out,
        rows,
    })
}

/// V2: the partitioned runtime with `partitions` workers and the planner's strategy.
pub fn run_v2(p: &Prepared, partitions: usize, keep_rows: bool) -> Result<RunResult> {
    let counters = JobCounters::default();
    let layout =
        PartitionLayout::new(&p.plan, &p.schema, None, partitions).map_err(|e| anyhow!("{e:?}"))?;
    let queries = (0..layout.partitions())
        .map(|_| compile(p))
        .collect::<Result<Vec<_>>>()?;
    let mut messages = p.messages.clone().into_iter();
    let mut sink_result = (0u64, keep_rows.then(Vec::new));
    let start = Instant::now();
    run_partitioned(
        &p.plan,
        &layout,
        queries,
        |out| {
            // Hand the router one input message at a time, as a source would.
            match messages.next() {
                Some(m) => {
                    out.push(m);
                    Ok(true)
                }
                None => Ok(false),
            }
        },
        |rx| {
            for o in rx {
                if let Output::Rows(b) = o {
                    sink_result.0 += b.num_rows() as u64;
                    collect(&b, &mut sink_result.1);
                }
            }
            Ok(())
        },
        &counters,
    )
    .map_err(|e| anyhow!("{e:?}"))?;
    Ok(RunResult {
        elapsed: start.elapsed(),
        rows_out: sink_result.0,
        rows: sink_result.1,
    })
}

/// Sorts rows into a canonical order for the multiset comparison.
pub fn canonical(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    rows
}
