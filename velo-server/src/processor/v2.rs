//! The V2 processor: records are routed by the job's partitioning strategy to N
//! partition workers, one OS thread each, each owning its query state outright.
//!
//! ```text
//! job thread:    source -> SourceDriver -> Dispatcher --bounded queue--> worker 0..N
//! worker i:      QueryWorker (its own QueryExecutor) --bounded channel--> sink thread
//! sink thread:   Sinks (the job's writers)
//! ```
//!
//! Batches are split by the strategy; watermarks and the end of the stream are
//! broadcast in-band, after the sub-batches before them, so every worker closes
//! windows at the same point of the input as V1 (SPEC §4). Queues are bounded: a
//! slow sink fills the output channel, the workers block, their queues fill, and
//! the source waits — memory stays bounded. Nothing on the per-record path takes
//! a lock; counters are updated once per batch.
//!
//! [`PartitionLayout`] and [`run_partitioned`] are the runtime itself, independent
//! of where messages come from and where output goes: [`V2Processor`] drives them
//! from the job's source and sinks, the benchmarks from in-memory batches.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use velo_ast::Expr;
use velo_engine::query::QueryExecutor;
use velo_io::ReaderOptions;
use velo_partition::{
    create, partition_queue, recv_spinning, Dispatcher, QueueGauges, RoutingContext, StrategyKind,
};
use velo_planner::JobPlan;
use velo_types::{Schema, StreamMessage};

use super::sink::Sinks;
use super::source::{open_source, Acks, SourceDriver};
use super::worker::{Output, QueryWorker};
use super::{JobCounters, JobProcessor, PartitionStatus, RunOptions};
use crate::app::{Failure, LoadedApp};

/// Messages a partition queue holds before the source blocks.
const QUEUE_CAPACITY: usize = 64;

/// How long a worker or the sink thread polls its empty queue before parking
/// (see [`velo_partition::recv_spinning`]) when the machine has a core for each
/// of the runtime's threads: long enough to span the gap between two batches of
/// a steady trickle, so the hand-offs do not pay a wake-up each.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);

/// [`SPIN_BEFORE_PARK`] when the router, the `partitions` workers and the sink
/// thread each have a core; zero otherwise. Polling on a shared core only delays
/// the thread it waits for: measured on 2 cores at V2@2 (4 threads), a 100 us
/// spin raised scenario 2's p95 at 2M rec/s from 0.1 ms to 4 ms.
fn spin_before_park(partitions: usize) -> Duration {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= partitions + 2 {
        SPIN_BEFORE_PARK
    } else {
        Duration::ZERO
    }
}

/// The sink thread's view of every worker's output: iterates until all the
/// workers are done, polling briefly before parking.
#[derive(Debug)]
pub struct Outputs {
    rx: Receiver<Output>,
    spin: Duration,
}

impl Iterator for Outputs {
    type Item = Output;

    fn next(&mut self) -> Option<Output> {
        recv_spinning(&self.rx, self.spin)
    }
}

/// N partition workers; see the module docs.
#[derive(Debug, Clone)]
pub struct V2Processor {
    /// N; at least 1.
    pub partitions: usize,
    /// A strategy forced from the command line; `None` keeps the planner's.
    pub strategy: Option<StrategyKind>,
}

impl V2Processor {
    /// N = the number of CPU cores, the planner's strategy.
    pub fn with_default_partitions() -> V2Processor {
        V2Processor {
            partitions: std::thread::available_parallelism().map_or(1, |n| n.get()),
            strategy: None,
        }
    }
}

/// How a job's records are spread: the strategy, its routing context and N.
#[derive(Debug, Clone)]
pub struct PartitionLayout {
    pub kind: StrategyKind,
    pub ctx: RoutingContext,
    /// The `_partition` column of a partitioned source's batches (each batch
    /// holds one source partition's records; see `SourceDriver`): the router
    /// sets [`RoutingContext::source_partition`] from it, for
    /// `sticky_partition` and `smart_repartition`.
    pub source_partition_column: Option<usize>,
}

impl PartitionLayout {
    /// Chooses the layout for `job` over input `schema`: the forced strategy or the
    /// planner's, validated against the query; keys resolved to column indices.
    pub fn new(
        job: &JobPlan,
        schema: &Schema,
        strategy: Option<StrategyKind>,
        partitions: usize,
    ) -> Result<PartitionLayout, Failure> {
        let query = job.query();
        let mut kind = strategy.unwrap_or(job.strategy.kind);
        velo_partition::validate(
            kind,
            &job.analysis,
            !query.order_by.is_empty(),
            job.source.partition_key.as_deref(),
        )
        .map_err(|e| Failure::User(format!("error: job '{}': {e}", job.name)))?;
        let key_exprs = match &job.analysis.rows_window {
            Some(rw) => &rw.partition_by,
            None => &job.analysis.group_keys,
        };
        let mut keys = key_columns(key_exprs, schema).unwrap_or_default();
        let mut partitions = partitions.max(1);
        let hashes = matches!(
            kind,
            StrategyKind::AlwaysHash | StrategyKind::SmartRepartition
        );
        if hashes && keys.len() != key_exprs.len() {
            eprintln!(
                "warning: job '{}': the key is computed, not a plain column; routing everything to one partition",
                job.name
            );
            kind = StrategyKind::FanIn;
            keys.clear();
        }
        if !query.order_by.is_empty() || query.limit.is_some() || kind == StrategyKind::FanIn {
            // ORDER BY and LIMIT are global: one partition keeps them exact. FanIn
            // sends everything to partition 0, so others would only idle (and a
            // global aggregate would emit an empty row from each of them).
            partitions = 1;
        }
        let ctx = RoutingContext {
            source_partition: 0,
            source_partition_key: job.source.partition_key.as_ref().and_then(|pk| {
                pk.iter()
                    .map(|c| schema.index_of(c))
                    .collect::<Option<Vec<_>>>()
            }),
            key_columns: keys,
            partition_count: partitions,
        };
        let source_partition_column = super::source::is_partitioned(job)
            .then(|| schema.index_of("_partition"))
            .flatten();
        Ok(PartitionLayout {
            kind,
            ctx,
            source_partition_column,
        })
    }

    pub fn partitions(&self) -> usize {
        self.ctx.partition_count
    }
}

/// The columns of `exprs` if every one is a plain column of `schema`.
fn key_columns(exprs: &[Expr], schema: &Schema) -> Option<Vec<usize>> {
    exprs
        .iter()
        .map(|e| match e {
            Expr::Identifier(id) => schema.index_of(&id.value),
            Expr::CompoundIdentifier(parts) => parts.last().and_then(|p| schema.index_of(&p.value)),
            _ => None,
        })
        .collect()
}

/// Runs the partitioned runtime: `next` (called on this thread) produces the
/// in-band message sequence and returns `false` after the last, and may push
/// outputs of its own for the sink (failed records for the DLQ); each of the
/// `layout.partitions()` workers owns one query from `queries`; `sink` runs on its
/// own thread and consumes every worker's output until they are all done.
pub fn run_partitioned<Next, Sink>(
    job: &JobPlan,
    layout: &PartitionLayout,
    queries: Vec<QueryExecutor>,
    mut next: Next,
    sink: Sink,
    counters: &JobCounters,
) -> Result<(), Failure>
where
    Next: FnMut(&mut Vec<StreamMessage>, &mut Vec<Output>) -> Result<bool, Failure>,
    Sink: FnOnce(Outputs) -> Result<(), Failure> + Send,
{
    let partitions = layout.partitions();
    let spin = spin_before_park(partitions);
    assert_eq!(queries.len(), partitions, "one query per partition");
    let status: &[PartitionStatus] = counters.partitions.get_or_init(|| {
        (0..partitions)
            .map(|_| PartitionStatus::default())
            .collect()
    });
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..partitions)
        .map(|_| partition_queue::<StreamMessage>(QUEUE_CAPACITY))
        .unzip();
    let gauges: Vec<QueueGauges> = (0..partitions)
        .map(|p| QueueGauges::new(&job.name, p))
        .collect();
    let (out_tx, out_rx) = bounded::<Output>(QUEUE_CAPACITY * partitions);
    let mut dispatcher = Dispatcher::new(create(layout.kind), senders);

    std::thread::scope(|scope| {
        let workers: Vec<_> = queries
            .into_iter()
            .zip(receivers)
            .enumerate()
            .map(|(p, (query, rx))| {
                let out_tx = out_tx.clone();
                let status = &status[p];
                scope.spawn(move || {
                    run_worker(
                        job,
                        p,
                        QueryWorker::new(job, query),
                        rx,
                        out_tx,
                        counters,
                        status,
                    )
                })
            })
            .collect();
        // The router's own outputs; dropped with the router so the sink ends.
        let side_tx = out_tx;
        let sink_handle = scope.spawn(move || sink(Outputs { rx: out_rx, spin }));

        // The router: this thread.
        let mut messages = Vec::new();
        let mut side = Vec::new();
        let mut ctx = layout.ctx.clone();
        let routed = loop {
            let read = next(&mut messages, &mut side);
            // A closed channel means the sink failed; it reports why.
            let mut closed = side.drain(..).any(|o| side_tx.send(o).is_err());
            match read {
                Err(e) => break Err(e),
                Ok(more) => {
                    for m in messages.drain(..) {
                        if let (Some(col), StreamMessage::Batch(b)) =
                            (layout.source_partition_column, &m)
                        {
                            if let Some(velo_types::Value::Int(p)) =
                                b.rows().next().map(|row| &row[col])
                            {
                                ctx.source_partition = *p as u32;
                            }
                        }
                        // A closed queue means a worker stopped; it reports why.
                        closed = closed || dispatcher.send(m, &ctx).is_err();
                    }
                    dispatcher.record_metrics(&gauges);
                    for (q, s) in dispatcher.queues().iter().zip(status) {
                        let level = q.state().level();
                        s.queue_depth.store(q.depth(), Ordering::Relaxed);
                        s.backpressure.store(level, Ordering::Relaxed);
                        s.worst_backpressure.fetch_max(level, Ordering::Relaxed);
                    }
                    if !more || closed {
                        break Ok(());
                    }
                }
            }
        };
        // Closing the queues lets the workers finish even after a source error.
        drop(dispatcher);
        drop(side_tx);
        let mut first_error = None;
        for h in workers {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(Failure::Internal("a partition worker panicked".into())));
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        let r = sink_handle
            .join()
            .unwrap_or_else(|_| Err(Failure::Internal("the sink thread panicked".into())));
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
        // A worker's own error explains a closed queue better than the router's.
        match (first_error, routed) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok(()),
        }
    })
}

impl JobProcessor for V2Processor {
    fn name(&self) -> &'static str {
        "v2"
    }

    fn run(
        &self,
        app: &LoadedApp,
        job: &JobPlan,
        options: &RunOptions,
        counters: &JobCounters,
    ) -> Result<(), Failure> {
        let rt = super::job_runtime()?;
        let reader = rt.block_on(open_source(
            job,
            &ReaderOptions {
                batch_size: options.batch_size,
            },
        ))?;
        let mut source = SourceDriver::new(app, job, reader)?;
        let schema = source.schema();
        let layout = PartitionLayout::new(job, &schema, self.strategy, self.partitions)?;
        let queries = (0..layout.partitions())
            .map(|_| app.compile(job, schema.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let output_schema = queries[0].output_schema().clone();
        let mut sinks = rt.block_on(Sinks::open(job, output_schema, &schema))?;

        let acks = source.acks();
        let mut stopping = false;
        let next =
            |messages: &mut Vec<StreamMessage>, side: &mut Vec<Output>| -> Result<bool, Failure> {
                if stopping {
                    return Ok(false);
                }
                if options.stop.load(Ordering::Relaxed) {
                    // Deliver EndOfStream once, then stop reading.
                    source.stop(messages);
                    stopping = true;
                    return Ok(true);
                }
                rt.block_on(source.next(job, messages, side, counters))
            };
        let partitions = layout.partitions();
        let sink = |rx: Outputs| run_sink(job, &mut sinks, rx, counters, &acks, partitions);
        run_partitioned(job, &layout, queries, next, sink, counters)?;
        rt.block_on(source.commit(job))
    }
}

/// One partition worker: applies its queue's messages to its own query.
fn run_worker(
    job: &JobPlan,
    partition: usize,
    mut worker: QueryWorker,
    rx: velo_partition::QueueReceiver<StreamMessage>,
    out: Sender<Output>,
    counters: &JobCounters,
    status: &PartitionStatus,
) -> Result<(), Failure> {
    let spin = spin_before_park(counters.partitions.get().map_or(1, Vec::len));
    let labels = [
        ("job", job.name.clone()),
        ("partition", partition.to_string()),
    ];
    let records_in = metrics::counter!("velo_partition_records_in_total", &labels);
    let records_out = metrics::counter!("velo_partition_records_out_total", &labels);
    let latency = metrics::histogram!("velo_partition_batch_latency_seconds", &labels);
    let watermark = metrics::gauge!("velo_partition_watermark_ms", &labels);
    let mut outputs = Vec::new();
    while let Some(message) = rx.recv_spinning(spin) {
        let start = Instant::now();
        let rows = match &message {
            StreamMessage::Batch(b) => b.num_rows() as u64,
            StreamMessage::Watermark(wm) => {
                watermark.set(wm.0 as f64);
                status.watermark.store(wm.0, Ordering::Relaxed);
                0
            }
            StreamMessage::Barrier(_) | StreamMessage::EndOfStream => 0,
        };
        let more = worker.handle(job, message, counters, &mut outputs)?;
        records_in.increment(rows);
        status.records_in.fetch_add(rows, Ordering::Relaxed);
        for o in outputs.drain(..) {
            if let Output::Rows(b) = &o {
                records_out.increment(b.num_rows() as u64);
                status
                    .records_out
                    .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            }
            if out.send(o).is_err() {
                return Ok(()); // the sink failed; it reports why
            }
        }
        latency.record(start.elapsed().as_secs_f64());
        if !more {
            break;
        }
    }
    Ok(())
}

/// The sink thread of [`V2Processor`]: writes every worker's output.
fn run_sink(
    job: &JobPlan,
    sinks: &mut Sinks,
    rx: Outputs,
    counters: &JobCounters,
    acks: &Acks,
    partitions: usize,
) -> Result<(), Failure> {
    let rt = super::job_runtime()?;
    rt.block_on(async {
        let mut result = Ok(());
        // Barrier ids seen and from how many partitions; each worker forwards
        // every barrier, in order.
        let mut barriers: Vec<(u64, usize)> = Vec::new();
        for o in rx {
            if let Output::Barrier(id) = o {
                match barriers.iter_mut().find(|(b, _)| *b == id) {
                    Some((_, n)) => *n += 1,
                    None => barriers.push((id, 1)),
                }
                if barriers.iter().any(|&(b, n)| b == id && n == partitions) {
                    barriers.retain(|&(b, _)| b != id);
                    if let Err(e) = sinks.flush(job).await {
                        result = Err(e);
                        break;
                    }
                    acks.acknowledge(id);
                }
                continue;
            }
            if let Err(e) = sinks.write_output(job, &o, counters).await {
                result = Err(e);
                break;
            }
        }
        // Rows written before a failure are flushed either way, like V1.
        let closed = sinks.close(job).await;
        result.and(closed)
    })
}
