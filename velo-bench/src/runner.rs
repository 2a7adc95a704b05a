//! Runs one scenario on pre-generated, in-memory input through the same code the
//! server runs: the [`run_partitioned`] runtime, with one partition on this
//! thread for V1 and with N workers for V2. Input generation and watermark
//! computation happen before the timed region.
//!
//! Besides the unpaced throughput runs ([`run_v1`], [`run_v2`]) there are paced
//! latency runs ([`run_v1_paced`], [`run_v2_paced`]): see [`run_v2_paced`] for
//! exactly what their latency measures.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use velo_engine::join::LookupTable;
use velo_engine::query::{EventTime, QueryExecutor};
use velo_planner::JobPlan;
use velo_server::processor::v2::{run_partitioned, PartitionLayout, Placement};
use velo_server::processor::worker::{Output, QueryWorker};
use velo_server::processor::JobCounters;
use velo_types::{Batch, SchemaRef, StreamMessage, Value};
use velo_watermark::{SourceWatermarks, WatermarkStrategy};

use crate::latency::{LatencyRun, Pacer, LATE_AFTER};
use crate::Scenario;

/// A scenario's plan and its input as the in-band message sequence.
#[derive(Debug)]
pub struct Prepared {
    pub plan: JobPlan,
    pub schema: SchemaRef,
    pub messages: Vec<StreamMessage>,
    pub records: u64,
    /// The second stream's schema, for a join of two streams (scenario 5).
    pub right_schema: Option<SchemaRef>,
    /// The tables the query joins, loaded.
    pub tables: Vec<Arc<LookupTable>>,
}

/// What one run did.
#[derive(Debug)]
pub struct RunResult {
    pub elapsed: Duration,
    pub rows_out: u64,
    /// Every output row, when collected for the V1/V2 check.
    pub rows: Option<Vec<Vec<Value>>>,
    /// Output rows produced by each input message, in input order (V1 only):
    /// what the paced V2 run attributes its sink arrivals against.
    pub rows_per_message: Option<Vec<u64>>,
    /// The partitions the run really used (V2 may use fewer than asked, e.g. one
    /// for ORDER BY or a FanIn strategy); 1 for V1.
    pub partitions: usize,
    /// V2 only: where partition 0 ran (`Dedicated` or `Compact`).
    pub placement: Option<Placement>,
}

impl RunResult {
    pub fn throughput(&self, records: u64) -> f64 {
        records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Plans the scenario and generates `records` rows in batches of `batch_size`,
/// with a watermark after every batch that advanced it (SPEC §4), then the end.
pub fn prepare(scenario: &Scenario, records: u64, batch_size: usize) -> Result<Prepared> {
    if let Some(right) = scenario.second_stream {
        return prepare_two_streams(scenario, right, records, batch_size);
    }
    let lookup_props = scenario
        .lookup
        .map(|l| format!(", {}", l.properties("in-memory.csv")))
        .unwrap_or_default();
    let sql = format!(
        "{} WITH ('{t}.type' = 'generator_source', '{t}.profile' = '{p}'{lookup_props})",
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
    // The joined table, built in memory as `velo-server` builds it from its
    // file: once, shared by every partition.
    let tables = match scenario.lookup {
        None => Vec::new(),
        Some(l) => {
            let batch = l.batch();
            let key = ["id".to_string()];
            let mut table = LookupTable::new(batch.schema().clone(), &key, Default::default())
                .map_err(|e| anyhow!("{e}"))?;
            table.insert_batch(&batch);
            vec![Arc::new(table)]
        }
    };
    Ok(Prepared {
        plan,
        schema,
        messages,
        records,
        right_schema: None,
        tables,
    })
}

/// Scenario 5: the two streams of [`crate::interval`], `records` rows in all.
fn prepare_two_streams(
    scenario: &Scenario,
    right: &str,
    records: u64,
    batch_size: usize,
) -> Result<Prepared> {
    let sql = format!(
        "{} WITH ('{t}.type' = 'stdin_source', '{t}.schema' = '{}', \
         '{right}.type' = 'stdin_source', '{right}.schema' = '{}', 'event.time.field' = 'ts')",
        scenario.sql,
        crate::interval::ORDERS_SCHEMA,
        crate::interval::SHIPMENTS_SCHEMA,
        t = scenario.table,
    );
    let plan = velo_planner::plan_sql(&sql, &Default::default())
        .map_err(|e| anyhow!("scenario {}: {e}", scenario.id))?
        .jobs
        .remove(0);
    Ok(Prepared {
        plan,
        schema: crate::interval::orders_schema(),
        messages: crate::interval::messages(records, batch_size),
        records,
        right_schema: Some(crate::interval::shipments_schema()),
        tables: Vec::new(),
    })
}

fn compile(p: &Prepared) -> Result<QueryExecutor> {
    QueryExecutor::with_inputs(&p.plan, p.schema.clone(), p.right_schema.clone(), &p.tables)
        .map_err(|e| anyhow!("{e}"))
}

/// What a join of two streams holds, from one V1 query fed the prepared
/// input: once every batch and watermark has been applied (before the end of
/// input frees it), and the most at any point; `None` for a scenario without
/// such a join.
pub fn join_state(p: &Prepared) -> Result<Option<(JoinState, JoinState)>> {
    if p.right_schema.is_none() {
        return Ok(None);
    }
    let mut q = compile(p)?;
    let (mut last, mut peak) = (JoinState::default(), JoinState::default());
    for m in &p.messages {
        let applied = match m {
            StreamMessage::Batch(b) => q.process(b),
            StreamMessage::Right(b) => q.process_right(b),
            StreamMessage::Watermark(w) => q.on_watermark(*w),
            StreamMessage::Barrier(_) | StreamMessage::EndOfStream => continue,
        };
        applied.map_err(|e| anyhow!("{e}"))?;
        let (left, right) = q.join_rows().unwrap_or_default();
        last = JoinState {
            left,
            right,
            bytes: q.state_bytes(),
        };
        peak = JoinState {
            left: peak.left.max(left),
            right: peak.right.max(right),
            bytes: peak.bytes.max(last.bytes),
        };
    }
    Ok(Some((last, peak)))
}

/// Rows a join of two streams holds per input, and its state's size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinState {
    pub left: usize,
    pub right: usize,
    pub bytes: usize,
}

fn collect(batch: &Batch, rows: &mut Option<Vec<Vec<Value>>>) {
    if let Some(rows) = rows {
        rows.extend(batch.rows().map(<[Value]>::to_vec));
    }
}

/// V1: the runtime with one partition, run on this thread, as `velo-server
/// --processor v1` runs it: every message is applied to one query whole.
pub fn run_v1(p: &Prepared, keep_rows: bool) -> Result<RunResult> {
    let counters = JobCounters::default();
    let layout = PartitionLayout::single();
    let queries = vec![compile(p)?];
    let mut messages = p.messages.clone().into_iter();
    let rows_out = AtomicU64::new(0);
    let mut rows = keep_rows.then(Vec::new);
    let mut per_message = Vec::with_capacity(p.messages.len());
    let (mut handed, mut before) = (0usize, 0u64);
    let start = Instant::now();
    run_partitioned(
        &p.plan,
        &layout,
        queries,
        |out, _side| {
            // The one partition has applied the message before and written
            // its output.
            let now = rows_out.load(Ordering::Relaxed);
            if handed > 0 {
                per_message.push(now - before);
            }
            before = now;
            match messages.next() {
                Some(m) => {
                    handed += 1;
                    out.push(m);
                    Ok(true)
                }
                None => Ok(false),
            }
        },
        |o: Output| {
            if let Output::Rows(b) = o {
                rows_out.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                collect(&b, &mut rows);
            }
            Ok(())
        },
        &counters,
    )
    .map_err(|e| anyhow!("{e:?}"))?;
    let elapsed = start.elapsed();
    let rows_out = rows_out.into_inner();
    if per_message.len() < handed {
        per_message.push(rows_out - before);
    }
    Ok(RunResult {
        elapsed,
        rows_out,
        rows,
        rows_per_message: Some(per_message),
        partitions: 1,
        placement: None,
    })
}

/// V2: the partitioned runtime with `partitions` workers, the planner's strategy
/// and partition 0 placed as `placement` says.
pub fn run_v2(
    p: &Prepared,
    partitions: usize,
    placement: Placement,
    keep_rows: bool,
) -> Result<RunResult> {
    let counters = JobCounters::default();
    let layout = layout(p, partitions, placement)?;
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
        |out, _side| {
            // Hand the router one input message at a time, as a source would.
            match messages.next() {
                Some(m) => {
                    out.push(m);
                    Ok(true)
                }
                None => Ok(false),
            }
        },
        |o: Output| {
            if let Output::Rows(b) = o {
                sink_result.0 += b.num_rows() as u64;
                collect(&b, &mut sink_result.1);
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
        rows_per_message: None,
        partitions: layout.partitions(),
        placement: Some(layout.placement.resolve(layout.partitions())),
    })
}

/// The V2 layout of `p` for `partitions` workers and `placement`.
fn layout(p: &Prepared, partitions: usize, placement: Placement) -> Result<PartitionLayout> {
    let mut layout = PartitionLayout::new(
        &p.plan,
        &p.schema,
        p.right_schema.as_deref(),
        None,
        partitions,
    )
    .map_err(|e| anyhow!("{e:?}"))?;
    layout.placement = placement;
    Ok(layout)
}

/// Settings of a paced (latency) run.
#[derive(Debug, Clone)]
pub struct PacedOptions {
    /// Input records per second.
    pub rate: f64,
    /// Feed only the first batches of the prepared input, up to this many records.
    pub records: u64,
    /// Batches at the start that are fed but not measured (thread wake-up, caches);
    /// at most a quarter of the batches fed.
    pub warmup_batches: usize,
    /// The pacer yields in a loop for the last `spin` before a due time, and
    /// sleeps before that (see [`Pacer::new`]).
    pub spin: Duration,
    /// V2 only: where partition 0 runs.
    pub placement: Placement,
}

/// The warm-up batches of a paced run over `messages`.
fn warmup(messages: &[StreamMessage], o: &PacedOptions) -> u64 {
    let batches = messages
        .iter()
        .filter(|m| matches!(m, StreamMessage::Batch(_) | StreamMessage::Right(_)))
        .count();
    o.warmup_batches.min(batches / 4) as u64
}

/// The first batches of `p` holding at most `records` records (at least one batch),
/// each followed by its watermark if it had one, then the end of the stream; and
/// the number of records they hold.
pub fn paced_input(p: &Prepared, records: u64) -> (Vec<StreamMessage>, u64) {
    let mut out = Vec::new();
    let mut total = 0u64;
    for m in &p.messages {
        match m {
            StreamMessage::Batch(b) | StreamMessage::Right(b) => {
                if total > 0 && total + b.num_rows() as u64 > records {
                    break;
                }
                total += b.num_rows() as u64;
                out.push(m.clone());
            }
            StreamMessage::Watermark(_) | StreamMessage::Barrier(_) => out.push(m.clone()),
            StreamMessage::EndOfStream => break,
        }
    }
    out.push(StreamMessage::EndOfStream);
    (out, total)
}

/// V1 at a fixed input rate. The latency of a message (a batch, or a watermark
/// for EMIT FINAL windows) is the time from handing it to the query (after its
/// due time) to the query having returned its output rows, that is V1's whole
/// per-message processing on its one thread; weighted by the rows it produced.
/// Messages producing nothing, the end of the stream and the warm-up batches are
/// not measured.
pub fn run_v1_paced(p: &Prepared, o: &PacedOptions) -> Result<LatencyRun> {
    let (messages, records) = paced_input(p, o.records);
    let warmup = warmup(&messages, o);
    let counters = JobCounters::default();
    let mut worker = QueryWorker::new(&p.plan, compile(p)?);
    let mut outputs = Vec::new();
    let mut run = LatencyRun {
        records,
        exact: true,
        ..LatencyRun::default()
    };
    let mut pacer = Pacer::new(o.rate, o.spin);
    let start = Instant::now();
    for m in messages {
        let measured_kind = match &m {
            StreamMessage::Batch(b) | StreamMessage::Right(b) => {
                pace(&mut pacer, b.num_rows(), &mut run);
                true
            }
            StreamMessage::Watermark(_) => true,
            StreamMessage::Barrier(_) | StreamMessage::EndOfStream => false,
        };
        let t0 = Instant::now();
        let more = worker
            .handle(&p.plan, m, &counters, &mut outputs)
            .map_err(|e| anyhow!("{e:?}"))?;
        let rows: u64 = outputs
            .iter()
            .map(|o| match o {
                Output::Rows(b) => b.num_rows() as u64,
                Output::DeadLetters(_) | Output::Failed(_) | Output::Barrier { .. } => 0,
            })
            .sum();
        let t1 = Instant::now();
        outputs.clear();
        run.rows_out += rows;
        if measured_kind && rows > 0 && run.batches > warmup {
            run.samples.push((t1 - t0, rows));
        }
        if !more {
            break;
        }
    }
    run.elapsed = start.elapsed();
    Ok(run)
}

fn pace(pacer: &mut Pacer, rows: usize, run: &mut LatencyRun) {
    let late = pacer.wait(rows);
    run.batches += 1;
    if late > LATE_AFTER {
        run.late_batches += 1;
    }
    run.max_lateness = run.max_lateness.max(late);
}

/// V2 with `partitions` workers at a fixed input rate.
///
/// What is measured, per input message `i` that produces output rows (a batch, or
/// for EMIT FINAL windows the watermark that closes them): from the instant the
/// `next` closure hands it to the router (after waiting for its due time; a
/// watermark is handed over right after its batch) to the instant the sink
/// receives the last of the output batches that message produces across the
/// partitions. The sink records, per output batch, only the instant, the
/// partition and that partition's running row count.
///
/// How output is attributed: before the run (untimed), the input is routed with
/// a fresh instance of the layout's strategy, as the router will, and each
/// partition's sub-sequence is applied to its own query, which gives the rows
/// `e[p][i]` partition `p` emits for message `i`. A worker sends at most one output
/// batch per message, in its queue's order, and its output batches are told apart
/// by their schema (each worker's query owns its output schema `Arc`), so message
/// `i`'s output from partition `p` is the batch that brings `p`'s running count to
/// `e[p][0] + ... + e[p][i]`: exact, whatever the overlap between messages. If the
/// workers' output could not be told apart, it falls back to the whole sink's
/// running count against `sum_p e[p][..=i]`, which is exact only while a message's
/// output is complete before the next producing message is sent; the weight of
/// the samples where it was not is reported as overlapped.
///
/// The end of the stream and the first warm-up batches are not measured.
pub fn run_v2_paced(p: &Prepared, partitions: usize, o: &PacedOptions) -> Result<LatencyRun> {
    let (messages, records) = paced_input(p, o.records);
    let warmup = warmup(&messages, o);
    let n = messages.len();
    let layout = layout(p, partitions, o.placement)?;
    let parts = layout.partitions();
    let expected = expected_per_partition(p, &messages, &layout)?;
    let counters = JobCounters::default();
    let queries = (0..parts).map(|_| compile(p)).collect::<Result<Vec<_>>>()?;
    // Each worker's output schema, by address (distinct when each query owns its own).
    let ids: Vec<usize> = queries
        .iter()
        .map(|q| Arc::as_ptr(q.output_schema()) as usize)
        .collect();
    let distinct = ids.iter().collect::<HashSet<_>>().len() == parts;
    let mut run = LatencyRun {
        records,
        ..LatencyRun::default()
    };
    // Per message: when it went to the router, and how many batches had by then.
    let mut sent: Vec<(Instant, u64)> = Vec::with_capacity(n);
    // Per output batch: when it reached the sink, its partition (or `parts` when
    // unknown), that partition's and the whole sink's running row counts.
    let mut arrivals: Vec<(Instant, usize, u64, u64)> = Vec::with_capacity(n * parts);
    let mut per_partition = vec![0u64; parts + 1];
    let mut total = 0u64;
    let mut input = messages.into_iter();
    let mut pacer = Pacer::new(o.rate, o.spin);
    let start = Instant::now();
    run_partitioned(
        &p.plan,
        &layout,
        queries,
        |out, _side| match input.next() {
            Some(m) => {
                if let StreamMessage::Batch(b) | StreamMessage::Right(b) = &m {
                    pace(&mut pacer, b.num_rows(), &mut run);
                }
                sent.push((Instant::now(), run.batches));
                out.push(m);
                Ok(true)
            }
            None => Ok(false),
        },
        |o: Output| {
            if let Output::Rows(b) = o {
                let at = Instant::now();
                let addr = Arc::as_ptr(b.schema()) as usize;
                let q = if distinct {
                    ids.iter().position(|&x| x == addr).unwrap_or(parts)
                } else {
                    parts
                };
                per_partition[q] += b.num_rows() as u64;
                total += b.num_rows() as u64;
                arrivals.push((at, q, per_partition[q], total));
            }
            Ok(())
        },
        &counters,
    )
    .map_err(|e| anyhow!("{e:?}"))?;
    run.elapsed = start.elapsed();
    run.rows_out = arrivals.last().map_or(0, |a| a.3);

    let exact = arrivals.iter().all(|a| a.1 < parts);
    for (q, e) in expected.iter().enumerate() {
        let want: u64 = e.iter().sum();
        let got = arrivals.iter().rev().find(|a| a.1 == q).map_or(0, |a| a.2);
        ensure!(
            !exact || got == want,
            "partition {q} of V2@{partitions} produced {got} rows, {want} expected"
        );
    }
    // The end of the stream (message n - 1) is not measured.
    let producing: Vec<usize> = (0..n - 1)
        .filter(|&i| expected.iter().any(|e| e[i] > 0))
        .collect();
    let rows = |i: usize| expected.iter().map(|e| e[i]).sum::<u64>();
    let done: Vec<Instant> = if exact {
        // Per partition: arrivals in order, matched against its running expectation.
        let mut done: Vec<Option<Instant>> = vec![None; n];
        for (q, e) in expected.iter().enumerate() {
            let mut mine = arrivals.iter().filter(|a| a.1 == q);
            let mut prefix = 0u64;
            for &i in &producing {
                if e[i] == 0 {
                    continue;
                }
                prefix += e[i];
                let a = mine
                    .find(|a| a.2 >= prefix)
                    .ok_or_else(|| anyhow!("partition {q}: output for message {i} missing"))?;
                ensure!(
                    a.2 == prefix,
                    "partition {q}: an output batch spans messages"
                );
                done[i] = Some(done[i].map_or(a.0, |d| d.max(a.0)));
            }
        }
        producing
            .iter()
            .map(|&i| done[i].unwrap_or(start))
            .collect()
    } else {
        let mut prefix = 0u64;
        let mut k = 0usize;
        let mut done = Vec::with_capacity(producing.len());
        for &i in &producing {
            prefix += rows(i);
            while arrivals[k].3 < prefix {
                k += 1;
            }
            done.push(arrivals[k].0);
        }
        done
    };
    for (k, &i) in producing.iter().enumerate() {
        let (at, batches) = sent[i];
        if batches <= warmup {
            continue;
        }
        run.samples
            .push((done[k].saturating_duration_since(at), rows(i)));
        if !exact && producing.get(k + 1).is_some_and(|&j| sent[j].0 < done[k]) {
            run.overlapped += rows(i);
        }
    }
    run.exact = exact;
    Ok(run)
}

/// The output rows each partition of `layout` emits for each of `messages`
/// (`[partition][message]`), found by routing them as the router does and applying
/// each partition's share to its own query, on this thread.
fn expected_per_partition(
    p: &Prepared,
    messages: &[StreamMessage],
    layout: &PartitionLayout,
) -> Result<Vec<Vec<u64>>> {
    let parts = layout.partitions();
    let mut strategy = velo_partition::create(layout.kind);
    let mut workers = (0..parts)
        .map(|_| compile(p).map(|q| QueryWorker::new(&p.plan, q)))
        .collect::<Result<Vec<_>>>()?;
    let counters = JobCounters::default();
    let mut rows = vec![vec![0u64; messages.len()]; parts];
    let mut routed = Vec::new();
    let mut outputs = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let shares: Vec<(usize, StreamMessage)> = match m {
            StreamMessage::Batch(b) => {
                strategy.route(b.clone(), &layout.ctx, &mut routed);
                routed
                    .drain(..)
                    .map(|(q, b)| (q, StreamMessage::Batch(b)))
                    .collect()
            }
            StreamMessage::Right(b) => {
                let ctx = layout.right_ctx.as_ref().unwrap_or(&layout.ctx);
                strategy.route(b.clone(), ctx, &mut routed);
                routed
                    .drain(..)
                    .map(|(q, b)| (q, StreamMessage::Right(b)))
                    .collect()
            }
            other => (0..parts).map(|q| (q, other.clone())).collect(),
        };
        for (q, share) in shares {
            workers[q]
                .handle(&p.plan, share, &counters, &mut outputs)
                .map_err(|e| anyhow!("{e:?}"))?;
            for o in outputs.drain(..) {
                if let Output::Rows(b) = o {
                    rows[q][i] += b.num_rows() as u64;
                }
            }
        }
    }
    Ok(rows)
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
