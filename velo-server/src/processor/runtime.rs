//! The runtime that runs a job: records are routed by the job's partitioning
//! strategy to N partition workers, each owning its query state outright. V1 and
//! V2 are two settings of it ([`super::V1Processor`]: one partition, run whole on
//! the job's thread; [`super::V2Processor`]: N partitions by the planner's
//! strategy).
//!
//! ```text
//! router (job thread): source -> SourceDriver -> Dispatcher --bounded queue--> worker 1..N-1
//!                      and worker 0: on its own thread, or here (Placement)
//! each worker:         QueryWorker (its own QueryExecutor) -> the job's sinks, under a lock
//! one partition here:  source -> SourceDriver -> QueryWorker -> the job's sinks, one thread
//! ```
//!
//! Batches are split by the strategy; watermarks and the end of the stream are
//! broadcast in-band, after the sub-batches before them, so every worker closes
//! windows at the same point of the input as V1 (SPEC §4). There is no sink
//! thread: a worker writes its own output (one lock per output batch), so a row
//! is handed over once, router to worker, or not at all for partition 0 when
//! the router runs it. Whether it does ([`Placement`]) depends on the cores: on
//! a small machine with fewer cores than the router and N workers (the
//! default N is the core count) it does, so the job has one thread per core
//! and none waits for a core to be handed its batch. With one partition run
//! by the router ([`PartitionLayout::single`], V1) there is nothing to route:
//! each message goes to the partition whole, with no queue, no strategy and
//! no other thread, and the partition has applied it before the next is read.
//! Queues are bounded: a slow sink holds up the workers
//! writing to it, their queues fill, and the source waits — memory stays
//! bounded. Nothing on the per-record path takes a lock; counters are updated
//! once per batch.
//!
//! [`JobSink`] is the one place a job's sinks are driven: every output is
//! written there, commit barriers are counted over the partitions there, and
//! the sinks are flushed and the barrier acknowledged there once every
//! partition has passed it.
//!
//! [`PartitionLayout`] and [`run_partitioned`] are the runtime itself, independent
//! of where messages come from and where output goes: [`run_job`] drives them
//! from the job's source and sinks, the benchmarks from in-memory batches.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use velo_engine::operator::RestoreScope;
use velo_engine::query::QueryExecutor;
use velo_io::ReaderOptions;
use velo_partition::{
    create, partition_queue, Dispatcher, KeyHasher, QueueGauges, QueueReceiver, RoutingContext,
    StrategyKind,
};
use velo_planner::JobPlan;
use velo_types::connector::SourceConfig;
use velo_types::{Schema, StreamMessage};

use super::checkpoint::{self, Checkpointer, Marks};
use super::sink::Sinks;
use super::source::{open_source, Acks, SourceDriver};
use super::two_streams::{Inputs, TwoStreams};
use super::worker::{Output, QueryWorker};
use super::{JobCounters, PartitionStatus, RunOptions};
use crate::app::{Failure, LoadedApp};

/// Messages a partition queue holds before the source blocks.
pub const QUEUE_CAPACITY: usize = 64;

/// How long a worker polls its empty queue before parking (see
/// [`velo_partition::recv_spinning`]) when the machine has a core for each of
/// the runtime's threads: long enough to span the gap between two batches of a
/// steady trickle, so the hand-offs do not pay a wake-up each. At half load
/// with 128-row batches the benchmark's gaps are 15-90 us; at 2.5 M rec/s
/// (51 us gaps) scenario 0's p50 at V2@2 was 17-18 us with a 50 us poll and
/// 14 us with this one.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(200);

pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// [`SPIN_BEFORE_PARK`] when each of the run's `threads` has a core; zero
/// otherwise. Polling on a shared core only delays the thread it waits for:
/// measured on 2 cores at V2@2 with 4 threads, a 100 us spin raised scenario
/// 2's p95 at 2M rec/s from 0.1 ms to 4 ms.
fn spin_before_park(threads: usize) -> Duration {
    if cores() >= threads {
        SPIN_BEFORE_PARK
    } else {
        Duration::ZERO
    }
}

/// The most cores on which [`Placement::Auto`] lets the router run partition 0.
/// On few cores the workers are the bottleneck and a thread more than there
/// are cores makes every hand-off wait for one (measured on 2 cores: p95 at
/// half load 1-3 ms with the extra thread, tens of us without). On many cores
/// the router, which routes every record, becomes the bottleneck, and giving
/// it partition 0's work as well would hold back every partition, while one
/// thread more than cores matters less. Not yet measured above 2 cores.
pub const COMPACT_MAX_CORES: usize = 4;

/// Which thread runs partition 0's worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// `Compact` on a small machine (at most [`COMPACT_MAX_CORES`] cores)
    /// without a core for the router and each of the N workers (the default
    /// N is the core count, so there by default), `Dedicated` otherwise.
    #[default]
    Auto,
    /// Every partition worker has its own thread; the router only routes:
    /// N + 1 threads.
    Dedicated,
    /// The router runs partition 0's worker itself, right after handing the
    /// other partitions their shares of each batch: N threads, so none waits
    /// for a core, and partition 0's records are not handed over at all.
    Compact,
}

impl Placement {
    /// `Dedicated` or `Compact`: what `Auto` means on this machine for a run
    /// with `partitions` workers.
    pub fn resolve(self, partitions: usize) -> Placement {
        match self {
            Placement::Auto if cores() < partitions + 1 && cores() <= COMPACT_MAX_CORES => {
                Placement::Compact
            }
            Placement::Auto => Placement::Dedicated,
            chosen => chosen,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Placement::Auto => "auto",
            Placement::Dedicated => "dedicated",
            Placement::Compact => "compact",
        }
    }
}

impl std::str::FromStr for Placement {
    type Err = String;

    fn from_str(s: &str) -> Result<Placement, String> {
        match s {
            "auto" => Ok(Placement::Auto),
            "dedicated" => Ok(Placement::Dedicated),
            "compact" => Ok(Placement::Compact),
            other => Err(format!(
                "unknown placement '{other}' (expected auto, dedicated or compact)"
            )),
        }
    }
}

/// Where a partitioned run's outputs go. There is no sink thread: whichever
/// thread produced an output (a partition worker, or the router for its own
/// side outputs) writes it, one at a time under a lock taken once per output
/// batch, so a row reaches the sink without another hand-off.
pub trait OutputSink: Send {
    /// Takes one output. An error stops the run; it is the run's error unless
    /// a worker failed first.
    fn write(&mut self, output: Output) -> Result<(), Failure>;

    /// [`OutputSink::write`] of an output of partition `from` ([`ROUTER`]: of
    /// the router itself), for a sink that aligns the partitions at barriers.
    fn write_from(&mut self, from: usize, output: Output) -> Result<(), Failure> {
        let _ = from;
        self.write(output)
    }

    /// Called once after the last output, also after a failure (rows written
    /// before it are flushed either way).
    fn finish(&mut self) -> Result<(), Failure> {
        Ok(())
    }
}

impl<F> OutputSink for F
where
    F: FnMut(Output) -> Result<(), Failure> + Send,
{
    fn write(&mut self, output: Output) -> Result<(), Failure> {
        self(output)
    }
}

/// The `from` of the router's own outputs (see [`OutputSink::write_from`]).
pub const ROUTER: usize = usize::MAX;

/// The sink has failed: stop producing (the sink's error is reported).
#[derive(Debug)]
struct SinkStopped;

/// An [`OutputSink`] shared by the threads of a run.
struct SharedSink<S> {
    state: Mutex<(S, Option<Failure>)>,
}

impl<S: OutputSink> SharedSink<S> {
    fn new(sink: S) -> SharedSink<S> {
        SharedSink {
            state: Mutex::new((sink, None)),
        }
    }

    fn write(&self, from: usize, output: Output) -> Result<(), SinkStopped> {
        // A thread that panicked while writing is reported as a panic; the
        // sink itself is still usable for closing.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (sink, failed) = &mut *state;
        if failed.is_some() {
            return Err(SinkStopped);
        }
        sink.write_from(from, output).map_err(|e| {
            *failed = Some(e);
            SinkStopped
        })
    }

    /// Finishes the sink: the error that stopped it, if one did, and the
    /// result of finishing it.
    fn finish(self) -> (Option<Failure>, Result<(), Failure>) {
        let (mut sink, failed) = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let finished = sink.finish();
        (failed, finished)
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
    /// Which thread runs partition 0; `Auto` unless a caller chooses.
    pub placement: Placement,
    /// A job that joins two streams: how the second stream's batches are
    /// routed (its join key columns, in the order of `ctx`'s, so that equal
    /// keys of both streams meet in one partition).
    pub right_ctx: Option<RoutingContext>,
    /// Threads the job's readers run besides the runtime's own (decoding a
    /// file, generating Nexmark events): counted when deciding whether the
    /// runtime's threads each have a core to spin on.
    pub reader_threads: usize,
}

impl PartitionLayout {
    /// Chooses the layout for `job` over input `schema`: the forced strategy or the
    /// planner's, validated against the query; keys resolved to column indices.
    pub fn new(
        job: &JobPlan,
        schema: &Schema,
        right: Option<&Schema>,
        strategy: Option<StrategyKind>,
        partitions: usize,
    ) -> Result<PartitionLayout, Failure> {
        let mut kind = strategy.unwrap_or(job.strategy.kind);
        job.routing
            .check(kind)
            .map_err(|e| Failure::User(format!("error: job '{}': {e}", job.name)))?;
        let key_count = job.routing.key_columns.len();
        let mut keys = job.routing.key_indices(schema).unwrap_or_default();
        let mut partitions = partitions.max(1);
        let hashes = matches!(
            kind,
            StrategyKind::AlwaysHash | StrategyKind::SmartRepartition
        );
        let mut right_keys = right
            .and_then(|r| job.routing.right_key_indices(r))
            .unwrap_or_default();
        let right_missing = right.is_some() && right_keys.len() != key_count;
        if hashes && right_missing && keys.len() == key_count {
            tracing::warn!(
                job = %job.name,
                "job '{}': the second stream's join key is computed, not a plain column; routing everything to one partition",
                job.name
            );
            kind = StrategyKind::FanIn;
            keys.clear();
            right_keys.clear();
        }
        if hashes && keys.len() != key_count {
            if job.joins.is_empty() {
                tracing::warn!(
                    job = %job.name,
                    "job '{}': the key is computed, not a plain column; routing everything to one partition",
                    job.name
                );
            } else {
                tracing::warn!(
                    job = %job.name,
                    "job '{}': the key is computed or a joined table's column, not a column of the stream's records; routing everything to one partition",
                    job.name
                );
            }
            kind = StrategyKind::FanIn;
            keys.clear();
            right_keys.clear();
        }
        if job.routing.needs_one_partition() || kind == StrategyKind::FanIn {
            // ORDER BY and LIMIT are global, or per window over groups hashed
            // across partitions: one partition keeps them exact. FanIn
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
        let right_ctx = right.map(|_| RoutingContext {
            source_partition: 0,
            source_partition_key: None,
            key_columns: right_keys,
            partition_count: partitions,
        });
        Ok(PartitionLayout {
            kind,
            ctx,
            source_partition_column,
            placement: Placement::Auto,
            right_ctx,
            reader_threads: 0,
        })
    }

    /// One partition, run whole on the router's thread: V1. Every message goes
    /// to the partition as it is; the strategy is never asked.
    pub fn single() -> PartitionLayout {
        PartitionLayout {
            kind: StrategyKind::FanIn,
            ctx: RoutingContext::new(1, Vec::new()),
            source_partition_column: None,
            placement: Placement::Compact,
            right_ctx: None,
            reader_threads: 0,
        }
    }

    pub fn partitions(&self) -> usize {
        self.ctx.partition_count
    }

    /// Whether the run has one thread: one partition, run by the router.
    pub fn is_single(&self) -> bool {
        self.partitions() == 1 && self.placement.resolve(1) == Placement::Compact
    }
}

/// Where the router sends each message.
struct Router<'a> {
    /// The partitions' queues; `None` when one partition, `hosted`, takes every
    /// message whole.
    dispatcher: Option<Dispatcher>,
    gauges: Vec<QueueGauges>,
    ctx: RoutingContext,
    /// Partition 0, when this thread runs it, and its queue unless it is the
    /// only partition: this thread drains the queue after every message it
    /// routes, so it never holds more than one.
    hosted: Option<(Option<QueueReceiver<StreamMessage>>, Partition<'a>)>,
}

impl Router<'_> {
    /// Routes one message, and applies what partition 0 got of it when this
    /// thread runs it. `false` once a partition has stopped: it needs no more
    /// input, or its queue is closed (the worker reports why), or the sink has
    /// stopped (the sink reports why).
    fn route<S: OutputSink>(
        &mut self,
        job: &JobPlan,
        layout: &PartitionLayout,
        message: StreamMessage,
        counters: &JobCounters,
        sink: &SharedSink<S>,
    ) -> Result<bool, Failure> {
        let Some(dispatcher) = &mut self.dispatcher else {
            let (_, partition) = self.hosted.as_mut().expect("a partition to run");
            return partition.handle(job, message, counters, sink);
        };
        if let (Some(col), StreamMessage::Batch(b)) = (layout.source_partition_column, &message) {
            if let Some(velo_types::Value::Int(p)) = b.rows().next().map(|row| &row[col]) {
                self.ctx.source_partition = *p as u32;
            }
        }
        let ctx = match (&message, &layout.right_ctx) {
            (StreamMessage::Right(_), Some(right)) => right,
            _ => &self.ctx,
        };
        let mut open = dispatcher.send(message, ctx).is_ok();
        if let Some((Some(rx), partition)) = &mut self.hosted {
            while let Ok(m) = rx.try_recv() {
                if !partition.handle(job, m, counters, sink)? {
                    open = false;
                    break;
                }
            }
        }
        Ok(open)
    }

    /// Publishes the queues' depths and backpressure, once per read.
    fn record(&self, status: &[PartitionStatus]) {
        let Some(dispatcher) = &self.dispatcher else {
            return;
        };
        dispatcher.record_metrics(&self.gauges);
        for (q, s) in dispatcher.queues().iter().zip(status) {
            let level = q.state().level();
            s.queue_depth.store(q.depth(), Ordering::Relaxed);
            s.backpressure.store(level, Ordering::Relaxed);
            s.worst_backpressure.fetch_max(level, Ordering::Relaxed);
        }
    }
}

/// Runs the partitioned runtime: `next` (called on this thread, the router)
/// produces the in-band message sequence and returns `false` after the last,
/// and may push outputs of its own for the sink (failed records for the DLQ);
/// each of the `layout.partitions()` workers owns one query from `queries`,
/// and runs on its own thread or, for partition 0 under [`Placement::Compact`],
/// on the router's; every output goes to `sink` from the thread that produced
/// it. `sink` is finished once every worker is done.
///
/// `next` is called again only once partition 0, when this thread runs it,
/// has applied everything `next` produced before, and not at all after a
/// partition said it needs no more input (LIMIT, the end of the stream): a
/// single partition never reads ahead.
///
/// The run's error is, first to last: a worker's, the one that stopped the
/// sink, `next`'s, and finishing the sink's.
pub fn run_partitioned<Next, S>(
    job: &JobPlan,
    layout: &PartitionLayout,
    queries: Vec<QueryExecutor>,
    mut next: Next,
    sink: S,
    counters: &JobCounters,
) -> Result<(), Failure>
where
    Next: FnMut(&mut Vec<StreamMessage>, &mut Vec<Output>) -> Result<bool, Failure>,
    S: OutputSink,
{
    let partitions = layout.partitions();
    assert_eq!(queries.len(), partitions, "one query per partition");
    let single = layout.is_single();
    let hosted = layout.placement.resolve(partitions) == Placement::Compact;
    let threads = partitions + usize::from(!hosted);
    let spin = spin_before_park(threads + layout.reader_threads);
    if single {
        tracing::debug!(
            job = %job.name,
            partitions,
            threads,
            "job '{}': one partition, on the job's thread",
            job.name,
        );
    } else {
        tracing::debug!(
            job = %job.name,
            partitions,
            strategy = layout.kind.name(),
            placement = if hosted { "compact" } else { "dedicated" },
            threads,
            "job '{}': v2: {partitions} partition(s) by {}{}, placement {} ({threads} thread(s)), queues of {QUEUE_CAPACITY} messages, spin {} us",
            job.name,
            layout.kind.name(),
            if layout.ctx.key_columns.is_empty() {
                String::new()
            } else {
                format!(" on columns {:?}", layout.ctx.key_columns)
            },
            if hosted { "compact" } else { "dedicated" },
            spin.as_micros(),
        );
    }
    let status: &[PartitionStatus] = counters.partitions.get_or_init(|| {
        (0..partitions)
            .map(|_| PartitionStatus::default())
            .collect()
    });
    let shared = SharedSink::new(sink);
    let sink = &shared;
    let mut queries = queries.into_iter();
    let (senders, mut receivers): (Vec<_>, Vec<_>) = if single {
        (Vec::new(), Vec::new())
    } else {
        (0..partitions)
            .map(|_| partition_queue::<StreamMessage>(QUEUE_CAPACITY))
            .unzip()
    };
    let mut router = Router {
        dispatcher: (!single).then(|| Dispatcher::new(create(layout.kind), senders)),
        gauges: if single {
            Vec::new()
        } else {
            (0..partitions)
                .map(|p| QueueGauges::new(&job.name, p))
                .collect()
        },
        ctx: layout.ctx.clone(),
        hosted: hosted.then(|| {
            let query = queries.next().expect("one query per partition");
            (
                (!single).then(|| receivers.remove(0)),
                Partition::new(job, 0, QueryWorker::new(job, query), &status[0]),
            )
        }),
    };

    let (first_error, routed) = std::thread::scope(|scope| {
        let offset = usize::from(hosted);
        let workers: Vec<_> = queries
            .zip(receivers)
            .enumerate()
            .map(|(i, (query, rx))| {
                let p = i + offset;
                let status = &status[p];
                std::thread::Builder::new()
                    .stack_size(velo_engine::THREAD_STACK_SIZE)
                    .spawn_scoped(scope, move || {
                        let mut partition =
                            Partition::new(job, p, QueryWorker::new(job, query), status);
                        while let Some(message) = rx.recv_spinning(spin) {
                            if !partition.handle(job, message, counters, sink)? {
                                break;
                            }
                        }
                        Ok(())
                    })
            })
            .collect();

        let mut messages = Vec::new();
        let mut side = Vec::new();
        let mut first_result = Ok(());
        let routed = loop {
            let read = next(&mut messages, &mut side);
            // A sink that stopped reports why.
            let mut open = true;
            for o in side.drain(..) {
                open = open && sink.write(ROUTER, o).is_ok();
            }
            let more = match read {
                Err(e) => break Err(e),
                Ok(more) => more,
            };
            for m in messages.drain(..) {
                if !open {
                    break;
                }
                match router.route(job, layout, m, counters, sink) {
                    Ok(go_on) => open = go_on,
                    Err(e) => {
                        first_result = Err(e);
                        open = false;
                    }
                }
            }
            router.record(status);
            if !more || !open {
                break Ok(());
            }
        };
        // Closing the queues lets the workers finish even after a source error.
        drop(router);
        // A worker's own error explains a closed queue better than the router's,
        // and a worker's or the sink's error explains a stopped sink better.
        let mut first_error = first_result.err();
        for h in workers {
            let r = match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(Failure::Internal("a partition worker panicked".into()))
                }),
                Err(e) => Err(Failure::Internal(format!(
                    "cannot start a partition worker: {e}"
                ))),
            };
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        (first_error, routed)
    });
    let (stopped, finished) = shared.finish();
    match first_error.or(stopped) {
        Some(e) => Err(e),
        None => routed.and(finished),
    }
}

/// Runs `job` from its source to its sinks on the runtime, spread as `layout`
/// says once the source has typed its columns (`layout` gets the input
/// schema), then commits the source's progress. The job's thread reads the
/// source and routes; with a single partition it is the only thread.
pub fn run_job(
    app: &LoadedApp,
    job: &JobPlan,
    options: &RunOptions,
    counters: &JobCounters,
    layout: impl FnOnce(&Schema, Option<&Schema>) -> Result<PartitionLayout, Failure>,
) -> Result<(), Failure> {
    let rt = super::job_runtime()?;
    let right_job = job.right_input();
    // Checkpoints (SPEC §4): resume from the newest, or start over. A Kafka
    // job's group is set to the checkpoint's offsets before it subscribes.
    let state_dir = options
        .state_dir
        .as_deref()
        .filter(|_| checkpoint::enabled(job));
    let mut restored = None;
    if let Some(dir) = state_dir {
        if options.fresh {
            checkpoint::remove(dir, job)?;
        }
        restored = checkpoint::load(dir, job)?;
    }
    if let (Some(r), SourceConfig::Kafka(k)) = (&restored, &job.source.config) {
        velo_io::kafka::commit_group_offsets(k, &r.source.offsets)
            .map_err(|e| crate::app::io_failure(job, &e))?;
    }
    // A file resumes at the checkpoint's byte position.
    let resume = restored.as_ref().and_then(|r| r.source.position);
    let Some(mut source) = open_inputs(app, job, right_job.as_ref(), options, &rt, resume)? else {
        // Stopped before the source could type its columns: nothing read.
        return Ok(());
    };
    let schema = source.schema();
    let right_schema = source.right_schema();
    let mut layout = layout(&schema, right_schema.as_deref())?;
    layout.reader_threads = source.helper_threads();
    // One copy of each joined table serves every partition; it counts once
    // against the job's memory limit.
    let tables = app.load_tables(job, true)?;
    if !tables.is_empty() {
        let rows: usize = tables.iter().map(|t| t.len()).sum();
        let bytes: usize = tables.iter().map(|t| t.state_bytes()).sum();
        counters.join_rows.store(rows as u64, Ordering::Relaxed);
        counters
            .state_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        metrics::gauge!("velo_join_rows", "job" => job.name.clone(), "side" => "table")
            .set(rows as f64);
        if let Some(mb) = job.config.max_memory_mb {
            if bytes as u64 > mb.saturating_mul(1 << 20) {
                return Err(Failure::User(format!(
                    "error: job '{}': its joined tables hold about {:.1} MB ({rows} rows), past 'max.memory.mb' = {mb}; raise the limit",
                    job.name,
                    bytes as f64 / f64::from(1 << 20),
                )));
            }
        }
    }
    let mut queries = (0..layout.partitions())
        .map(|_| app.compile(job, schema.clone(), right_schema.clone(), &tables))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(r) = &restored {
        restore_queries(job, &layout, &mut queries, r)?;
        counters.add(super::Count::Read, r.source.rejected);
        counters.add(super::Count::Failed, r.source.rejected);
        counters.add(super::Count::Written, r.written);
        tracing::info!(
            job = %job.name,
            checkpoint = r.id,
            "job '{}': resuming from checkpoint {} ({} records read before it, {} partition(s) then, {} now)",
            job.name,
            r.id,
            r.source.records,
            r.partitions,
            layout.partitions()
        );
    }
    let output_schema = queries[0].output_schema().clone();
    // Late rows keep their input columns (a join's, the joined ones), plus why.
    let dead_letters = queries[0]
        .dead_letter_schema()
        .cloned()
        .unwrap_or_else(|| super::sink::dead_letter_schema(&schema));
    let resume_sinks = restored.as_ref().map(|r| r.sinks).unwrap_or_default();
    let mut sinks = rt.block_on(Sinks::open(job, output_schema, dead_letters, resume_sinks))?;
    let checkpoints = match (state_dir, job.config.checkpoint_interval_ms, &mut source) {
        (Some(dir), Some(ms), Inputs::One(driver)) => {
            let marks = Marks::default();
            driver.checkpoint_every(
                Duration::from_millis(ms),
                restored.as_ref().map_or(1, |r| r.next_id),
                marks.clone(),
                restored.as_ref().map(|r| r.source.clone()),
            );
            counters.checkpointing.store(true, Ordering::Relaxed);
            Some((dir, marks))
        }
        _ => None,
    };
    // Workers on other threads write the sinks while this thread reads the
    // source: they drive the sinks with a runtime of their own. A single
    // partition writes them here, between reads, with the source's.
    let own_rt = if layout.is_single() {
        None
    } else {
        Some(super::job_runtime()?)
    };

    let acks = source.acks();
    let mut stopping = false;
    let right_plan = right_job.as_ref();
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
            rt.block_on(source.next(job, right_plan, messages, side, counters))
        };
    std::thread::scope(|scope| {
        // The checkpoints' files are written on a thread of their own.
        let checkpointer = match checkpoints {
            Some((dir, marks)) => Some(Checkpointer::spawn(
                scope,
                dir,
                job,
                marks,
                &counters.checkpoints,
                acks.clone(),
            )?),
            None => None,
        };
        let sink = JobSink {
            job,
            sinks: &mut sinks,
            counters,
            acks: &acks,
            partitions: layout.partitions(),
            barriers: Vec::new(),
            rt: own_rt.as_ref().unwrap_or(&rt),
            checkpointer,
            aligning: None,
        };
        run_partitioned(job, &layout, queries, next, sink, counters)
    })?;
    rt.block_on(source.commit(job, right_plan))?;
    // A job over bounded input ended: its output is final, nothing to
    // resume. A Kafka job keeps its last checkpoint for the next start.
    if let Some(dir) = state_dir.filter(|_| !super::source::is_partitioned(job)) {
        checkpoint::remove(dir, job)?;
    }
    Ok(())
}

/// Restores each partition's query from checkpoint `r`: its own state when
/// the partition count is the same, else the keys routed to it now.
fn restore_queries(
    job: &JobPlan,
    layout: &PartitionLayout,
    queries: &mut [QueryExecutor],
    r: &checkpoint::Restored,
) -> Result<(), Failure> {
    let n = queries.len();
    let fail = |e: velo_engine::Error| {
        Failure::User(format!(
            "error: job '{}': cannot restore checkpoint {}: {e}; run with --fresh to discard the state",
            job.name, r.id
        ))
    };
    let states: Vec<&[u8]> = r.states.iter().map(Vec::as_slice).collect();
    if r.partitions == n {
        for (p, q) in queries.iter_mut().enumerate() {
            q.restore_bytes(&states[p..=p], &RestoreScope::whole())
                .map_err(fail)?;
        }
        return Ok(());
    }
    // Another partition count: each key goes where the router sends it now,
    // which is its hash for a hashing strategy over the state's own key.
    let hashed = !job.routing.key_subset
        && match layout.kind {
            StrategyKind::AlwaysHash => true,
            StrategyKind::SmartRepartition => !layout.ctx.is_aligned(),
            _ => false,
        };
    let one_stateful = queries[0].pipeline().operator_names().len() == 1;
    if n > 1 && !(hashed && one_stateful) {
        return Err(Failure::User(format!(
            "error: job '{}': checkpoint {} was taken with {} partition(s), and this job's state can only be restored with that many; run with --partitions {} (or --fresh)",
            job.name, r.id, r.partitions, r.partitions
        )));
    }
    for (p, q) in queries.iter_mut().enumerate() {
        let owns = move |key: &[velo_types::Value]| {
            n == 1 || KeyHasher::partition_of(KeyHasher::new().hash_values(key), n) == p
        };
        q.restore_bytes(&states, &RestoreScope::keyed(p, n, &owns))
            .map_err(fail)?;
    }
    Ok(())
}

/// Opens the job's source, and the second stream of a job that joins two
/// (`right`, the plan it is read with). `None`: stopped before the source
/// could type its columns.
fn open_inputs(
    app: &LoadedApp,
    job: &JobPlan,
    right: Option<&JobPlan>,
    options: &RunOptions,
    rt: &tokio::runtime::Runtime,
    resume: Option<velo_io::SourcePosition>,
) -> Result<Option<Inputs>, Failure> {
    let open = |plan: &JobPlan, resume| {
        rt.block_on(open_source(
            plan,
            &ReaderOptions {
                batch_size: options.batch_size,
                system_columns: plan.source.system_columns,
                stop: Some(options.stop.clone()),
                resume,
                readers: options.readers,
            },
        ))
    };
    let Some(reader) = open(job, resume)? else {
        return Ok(None);
    };
    // A join's FROM subquery reads the source with its own event time.
    let left = SourceDriver::new(app, &job.left_input(), reader)?;
    let Some(right) = right else {
        return Ok(Some(Inputs::One(Box::new(left))));
    };
    let Some(reader) = open(right, None)? else {
        return Ok(None);
    };
    let right = SourceDriver::new(app, right, reader)?;
    Ok(Some(Inputs::Two(Box::new(TwoStreams::new(left, right)))))
}

/// One partition's worker and its metrics, on whichever thread runs it.
struct Partition<'a> {
    /// Its index, `0..N`.
    index: usize,
    worker: QueryWorker,
    status: &'a PartitionStatus,
    outputs: Vec<Output>,
    records_in: metrics::Counter,
    records_out: metrics::Counter,
    latency: metrics::Histogram,
    watermark: metrics::Gauge,
    /// `velo_join_rows` per input of a join of two streams.
    join_rows: Option<[metrics::Gauge; 2]>,
}

impl<'a> Partition<'a> {
    fn new(
        job: &JobPlan,
        partition: usize,
        worker: QueryWorker,
        status: &'a PartitionStatus,
    ) -> Partition<'a> {
        let labels = [
            ("job", job.name.clone()),
            ("partition", partition.to_string()),
        ];
        Partition {
            index: partition,
            worker,
            status,
            outputs: Vec::new(),
            records_in: metrics::counter!("velo_partition_records_in_total", &labels),
            records_out: metrics::counter!("velo_partition_records_out_total", &labels),
            latency: metrics::histogram!("velo_partition_batch_latency_seconds", &labels),
            watermark: metrics::gauge!("velo_partition_watermark_ms", &labels),
            join_rows: job.stream_join.as_ref().map(|_| {
                ["left", "right"].map(|side| {
                    metrics::gauge!(
                        "velo_join_rows",
                        "job" => job.name.clone(),
                        "partition" => partition.to_string(),
                        "side" => side
                    )
                })
            }),
        }
    }

    /// Applies one message and writes its outputs to `sink`. `false` once no
    /// more input is needed, or the sink has stopped (it reports why).
    fn handle<S: OutputSink>(
        &mut self,
        job: &JobPlan,
        message: StreamMessage,
        counters: &JobCounters,
        sink: &SharedSink<S>,
    ) -> Result<bool, Failure> {
        let start = Instant::now();
        let rows = match &message {
            StreamMessage::Batch(b) | StreamMessage::Right(b) => b.num_rows() as u64,
            StreamMessage::Watermark(wm) => {
                self.watermark.set(wm.0 as f64);
                self.status.watermark.store(wm.0, Ordering::Relaxed);
                0
            }
            StreamMessage::Barrier(_) | StreamMessage::EndOfStream => 0,
        };
        let more = self
            .worker
            .handle(job, message, counters, &mut self.outputs)?;
        self.records_in.increment(rows);
        self.status.records_in.fetch_add(rows, Ordering::Relaxed);
        if let (Some(gauges), Some(held)) = (&self.join_rows, self.worker.query().join_rows()) {
            for ((gauge, status), n) in gauges
                .iter()
                .zip(&self.status.join_rows)
                .zip([held.0, held.1])
            {
                gauge.set(n as f64);
                status.store(n as u64, Ordering::Relaxed);
            }
        }
        for o in self.outputs.drain(..) {
            if let Output::Rows(b) = &o {
                let n = b.num_rows() as u64;
                self.records_out.increment(n);
                self.status.records_out.fetch_add(n, Ordering::Relaxed);
            }
            if sink.write(self.index, o).is_err() {
                return Ok(false);
            }
        }
        let took = start.elapsed().as_secs_f64();
        self.latency.record(took);
        self.status.latency.record(took);
        Ok(more)
    }
}

/// The job's sinks as the [`OutputSink`] of a run, V1's and V2's: writes each
/// output on the thread that produced it, and flushes the sinks, then
/// acknowledges a barrier once every partition has passed it. With
/// checkpoints it aligns the partitions at each barrier (see
/// [`super::checkpoint`]): a partition's outputs after a barrier are held
/// until every partition has passed it, then the sinks are made durable and
/// the checkpoint is stored before they are written.
struct JobSink<'a, 'scope> {
    job: &'a JobPlan,
    sinks: &'a mut Sinks,
    counters: &'a JobCounters,
    acks: &'a Acks,
    partitions: usize,
    /// Barrier ids seen and from how many partitions; each worker forwards
    /// every barrier, in order.
    barriers: Vec<(u64, usize)>,
    rt: &'a tokio::runtime::Runtime,
    checkpointer: Option<Checkpointer<'scope>>,
    /// The checkpoint barrier being aligned.
    aligning: Option<Alignment>,
}

/// A checkpoint barrier some partitions have passed.
struct Alignment {
    id: u64,
    /// Per partition: its state at the barrier, once it has passed it.
    states: Vec<Option<Vec<u8>>>,
    /// Per partition: what it emitted after the barrier, held back.
    held: Vec<Vec<Output>>,
}

impl JobSink<'_, '_> {
    /// Writes one output that is not a barrier.
    fn write_now(&mut self, output: Output) -> Result<(), Failure> {
        let (job, counters) = (self.job, self.counters);
        match output {
            Output::Rows(rows) => self.rt.block_on(self.sinks.write(job, &rows, counters)),
            Output::DeadLetters(rows) => {
                self.rt.block_on(self.sinks.write_dead_letters(job, &rows))
            }
            Output::Failed(rows) => self
                .rt
                .block_on(self.sinks.write_failed(job, &rows, counters)),
            Output::Barrier { .. } => Err(Failure::Internal("a barrier written as rows".into())),
        }
    }

    /// A checkpoint barrier from partition `from`.
    fn align(&mut self, from: usize, id: u64, state: Option<Vec<u8>>) -> Result<(), Failure> {
        let partitions = self.partitions;
        let a = self.aligning.get_or_insert_with(|| Alignment {
            id,
            states: vec![None; partitions],
            held: (0..partitions).map(|_| Vec::new()).collect(),
        });
        if a.id != id || from >= partitions {
            return Err(Failure::Internal(format!(
                "barrier {id} from partition {from} while aligning barrier {}",
                a.id
            )));
        }
        a.states[from] = Some(state.unwrap_or_default());
        if a.states.iter().any(Option::is_none) {
            return Ok(());
        }
        let a = self.aligning.take().expect("aligning");
        let start = Instant::now();
        let job = self.job;
        let (marks, sync) = self.rt.block_on(self.sinks.commit_points(job))?;
        let states: Vec<Vec<u8>> = a
            .states
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        let written = self.counters.written.load(Ordering::Relaxed);
        match &mut self.checkpointer {
            // Acknowledged once its files are written.
            Some(c) => c.write(id, states, marks, sync, written, start)?,
            None => self.acks.acknowledge(id),
        }
        // What the partitions emitted after the barrier, in order per
        // partition (a later barrier among it starts the next alignment).
        for (p, held) in a.held.into_iter().enumerate() {
            for o in held {
                self.write_from(p, o)?;
            }
        }
        Ok(())
    }
}

impl OutputSink for JobSink<'_, '_> {
    fn write(&mut self, output: Output) -> Result<(), Failure> {
        self.write_from(ROUTER, output)
    }

    fn write_from(&mut self, from: usize, output: Output) -> Result<(), Failure> {
        if self.checkpointer.is_some() {
            if let Some(a) = &mut self.aligning {
                if from < a.held.len() && a.states[from].is_some() {
                    a.held[from].push(output);
                    return Ok(());
                }
            }
            return match output {
                Output::Barrier { id, state } => self.align(from, id, state),
                other => self.write_now(other),
            };
        }
        let Output::Barrier { id, .. } = output else {
            return self.write_now(output);
        };
        let seen = match self.barriers.iter_mut().find(|(b, _)| *b == id) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.barriers.push((id, 1));
                1
            }
        };
        if seen == self.partitions {
            self.barriers.retain(|&(b, _)| b != id);
            self.rt.block_on(self.sinks.flush(self.job))?;
            self.acks.acknowledge(id);
            tracing::debug!(
                job = %self.job.name,
                barrier = id,
                "job '{}': barrier {id} passed every partition; sinks flushed",
                self.job.name
            );
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Failure> {
        // Outputs still held behind a barrier some partition never reached
        // (it stopped early: LIMIT, an error) are written: the job ends.
        if let Some(a) = self.aligning.take() {
            for o in a.held.into_iter().flatten() {
                if !matches!(o, Output::Barrier { .. }) {
                    self.write_now(o)?;
                }
            }
        }
        let closed = self.rt.block_on(self.sinks.close(self.job));
        // Every checkpoint handed over is written before the job ends.
        let written = match &mut self.checkpointer {
            Some(c) => c.finish(),
            None => Ok(()),
        };
        closed.and(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_auto_follows_the_cores() {
        assert_eq!(Placement::Dedicated.resolve(64), Placement::Dedicated);
        assert_eq!(Placement::Compact.resolve(1), Placement::Compact);
        let n = cores();
        let small = n <= COMPACT_MAX_CORES;
        // N = cores: no core for the router.
        let expected = if small {
            Placement::Compact
        } else {
            Placement::Dedicated
        };
        assert_eq!(Placement::Auto.resolve(n), expected);
        // A core for the router and every worker.
        assert_eq!(Placement::Auto.resolve(n - 1), Placement::Dedicated);
        for p in [Placement::Auto, Placement::Dedicated, Placement::Compact] {
            assert_eq!(p.name().parse::<Placement>(), Ok(p));
        }
        assert!("sideways".parse::<Placement>().is_err());
    }
}
