//! `velo-bench --nexmark`: the Nexmark queries of `velo-bench/nexmark/` at V1
//! and V2@N, in two modes, through the server's own runtime
//! ([`run_partitioned`]) with the rows counted at the sink (nothing is
//! rendered, as in Feldera's runs, whose output goes to a discarding sink):
//!
//! - **in-process**: the generator runs inside the timed region, on the thread
//!   that feeds the runtime (Feldera's method: its generator runs in-process);
//! - **pre-generated**: the events are generated into batches before the
//!   timed region, so the figure is the engine's alone.
//!
//! Events per second count events of all kinds (`nexmark.events`), as
//! Feldera's and Flink's figures do; a source of one table generates only that
//! table's events (the crate skips the others without building them).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use velo_engine::query::{EventTime, QueryExecutor};
use velo_io::nexmark::ParallelNexmarkReader;
use velo_io::NexmarkReader;
use velo_planner::JobPlan;
use velo_server::processor::v2::{run_partitioned, PartitionLayout};
use velo_server::processor::worker::Output;
use velo_server::processor::JobCounters;
use velo_types::connector::{NexmarkSourceConfig, SourceConfig};
use velo_types::{SchemaRef, StreamMessage, Watermark};

/// Feldera's published events/s per core (its `benchmark/README.md`: 100M
/// events, 16 cores, generator in-process), for the queries it lists.
pub const FELDERA_PER_CORE: &[(&str, f64)] = &[
    ("q0", 436e3),
    ("q1", 412e3),
    ("q2", 422e3),
    ("q3", 413e3),
    ("q4", 265e3),
    ("q5", 412e3),
    ("q7", 196e3),
    ("q8", 415e3),
    ("q12", 418e3),
];

/// The event count the shipped apps are written with, replaced by `--events`.
const SHIPPED_EVENTS: &str = "'1000000'";

/// Where the query apps are.
pub fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("nexmark")
}

/// The queries shipped, `q0`, `q1`, ... in order.
pub fn shipped_queries() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(queries_dir())?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".sql").map(str::to_string)
        })
        .collect();
    names.sort_by_key(|n| n[1..].parse::<u32>().unwrap_or(u32::MAX));
    Ok(names)
}

/// One query, planned over `events` events.
#[derive(Debug)]
pub struct NexmarkJob {
    pub query: String,
    pub events: u64,
    pub plan: JobPlan,
    left: (NexmarkSourceConfig, SchemaRef, Option<EventTime>),
    right: Option<(NexmarkSourceConfig, SchemaRef, Option<EventTime>)>,
}

fn nexmark_config(plan: &JobPlan) -> Result<NexmarkSourceConfig> {
    match &plan.source.config {
        SourceConfig::Nexmark(c) => Ok(c.clone()),
        other => bail!(
            "the source '{}' is not a Nexmark table: {other:?}",
            plan.source.name
        ),
    }
}

fn input(plan: &JobPlan) -> Result<(NexmarkSourceConfig, SchemaRef, Option<EventTime>)> {
    let config = nexmark_config(plan)?;
    let schema = Arc::new(velo_io::nexmark::table_schema(config.table));
    let event_time = EventTime::new(plan, &schema).map_err(|e| anyhow!("{e}"))?;
    Ok((config, schema, event_time))
}

impl NexmarkJob {
    /// Plans `velo-bench/nexmark/<query>.sql` with `events` events.
    pub fn load(query: &str, events: u64) -> Result<NexmarkJob> {
        let path = queries_dir().join(format!("{query}.sql"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if !text.contains(SHIPPED_EVENTS) {
            bail!(
                "{} does not set 'nexmark.events' = {SHIPPED_EVENTS}",
                path.display()
            );
        }
        let text = text.replace(SHIPPED_EVENTS, &format!("'{events}'"));
        let dir = queries_dir();
        let options = velo_planner::PlanOptions {
            base_dir: Some(&dir),
        };
        let plan = velo_planner::plan_sql(&text, &options)
            .map_err(|e| anyhow!("{query}: {e}"))?
            .jobs
            .remove(0);
        // A join's subquery inputs read their sources with their own event time.
        let left = input(&plan.left_input())?;
        let right = match plan.right_input() {
            Some(r) => Some(input(&r)?),
            None => None,
        };
        Ok(NexmarkJob {
            query: query.to_string(),
            events,
            plan,
            left,
            right,
        })
    }

    fn compile(&self) -> Result<QueryExecutor> {
        QueryExecutor::with_inputs(
            &self.plan,
            self.left.1.clone(),
            self.right.as_ref().map(|r| r.1.clone()),
            &[],
        )
        .map_err(|e| anyhow!("{e}"))
    }

    /// The job's input as the in-band message sequence, generated as it is
    /// pulled: batches of each input in turn (the one whose watermark is
    /// behind first), a watermark after every batch that advanced the
    /// minimum over the open inputs, then the end.
    pub fn feed(&self, batch_size: usize, readers: usize) -> Feed {
        let side = |(c, _, et): &(NexmarkSourceConfig, SchemaRef, Option<EventTime>)| Side {
            reader: if readers > 1 {
                SideReader::Many(ParallelNexmarkReader::new(c, batch_size, readers))
            } else {
                SideReader::One(Box::new(NexmarkReader::new(c, batch_size)))
            },
            event_time: et.clone(),
            watermark: None,
            ended: false,
        };
        let mut sides = vec![side(&self.left)];
        sides.extend(self.right.as_ref().map(side));
        Feed {
            sides,
            pending: Vec::new(),
            sent: None,
            turn: 0,
            done: false,
        }
    }

    /// Runs the job on `partitions` workers (`None`: V1) over `feed`; returns
    /// the elapsed time, the rows out and the partitions used.
    pub fn run(
        &self,
        partitions: Option<usize>,
        mut feed: impl Iterator<Item = StreamMessage>,
    ) -> Result<(Duration, u64, usize)> {
        let layout = match partitions {
            None => PartitionLayout::single(),
            Some(n) => PartitionLayout::new(
                &self.plan,
                &self.left.1,
                self.right.as_ref().map(|r| &*r.1),
                None,
                n,
            )
            .map_err(|e| anyhow!("{e:?}"))?,
        };
        let queries = (0..layout.partitions())
            .map(|_| self.compile())
            .collect::<Result<Vec<_>>>()?;
        let counters = JobCounters::default();
        let mut rows = 0u64;
        let start = Instant::now();
        run_partitioned(
            &self.plan,
            &layout,
            queries,
            |out, _side| match feed.next() {
                Some(m) => {
                    out.push(m);
                    Ok(true)
                }
                None => Ok(false),
            },
            |o: Output| {
                if let Output::Rows(b) = o {
                    rows += b.num_rows() as u64;
                }
                Ok(())
            },
            &counters,
        )
        .map_err(|e| anyhow!("{e:?}"))?;
        Ok((start.elapsed(), rows, layout.partitions()))
    }

    /// The generator alone: the time to build every input batch of the job,
    /// with Velo's conversion to rows, and the `nexmark` crate's generator
    /// alone producing the same events (no conversion).
    pub fn generator_only(&self, batch_size: usize) -> (Duration, Duration) {
        let start = Instant::now();
        let mut n = 0usize;
        for m in self.feed(batch_size, 1) {
            if let StreamMessage::Batch(b) | StreamMessage::Right(b) = m {
                n += b.num_rows();
            }
        }
        let velo = start.elapsed();
        let start = Instant::now();
        let mut k = 0usize;
        for (c, _, _) in std::iter::once(&self.left).chain(self.right.as_ref()) {
            let total = velo_io::nexmark::table_events(c.table, self.events);
            let mut g = velo_io::nexmark::crate_generator(c);
            for _ in 0..total {
                k += std::hint::black_box(g.next()).is_some() as usize;
            }
        }
        debug_assert_eq!(n, k);
        (velo, start.elapsed())
    }
}

/// One input's generator: on the feeding thread, or on threads of its own.
#[derive(Debug)]
enum SideReader {
    One(Box<NexmarkReader>),
    Many(ParallelNexmarkReader),
}

impl SideReader {
    fn read_batch(&mut self) -> Option<velo_types::Batch> {
        match self {
            SideReader::One(r) => r.read_batch(),
            SideReader::Many(r) => r.read_batch(),
        }
    }
}

#[derive(Debug)]
struct Side {
    reader: SideReader,
    event_time: Option<EventTime>,
    watermark: Option<i64>,
    ended: bool,
}

/// The lazily generated input of a [`NexmarkJob`] ([`NexmarkJob::feed`]).
#[derive(Debug)]
pub struct Feed {
    sides: Vec<Side>,
    /// Messages made but not yet pulled (a batch's watermark).
    pending: Vec<StreamMessage>,
    sent: Option<i64>,
    turn: usize,
    done: bool,
}

impl Feed {
    /// The side to read next: the open one whose watermark is behind, else
    /// each in turn.
    fn next_side(&mut self) -> Option<usize> {
        let open: Vec<usize> = (0..self.sides.len())
            .filter(|&i| !self.sides[i].ended)
            .collect();
        match open.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => {
                let (a, b) = (self.sides[0].watermark, self.sides[1].watermark);
                Some(match (a, b) {
                    (None, Some(_)) => 0,
                    (Some(_), None) => 1,
                    (Some(a), Some(b)) if a != b => usize::from(b < a),
                    _ => {
                        self.turn = 1 - self.turn;
                        self.turn
                    }
                })
            }
        }
    }

    fn watermark(&mut self) -> Option<StreamMessage> {
        let mut min: Option<i64> = None;
        for s in &self.sides {
            if s.ended && s.watermark.is_some() {
                continue;
            }
            match s.watermark {
                Some(w) => min = Some(min.map_or(w, |m| m.min(w))),
                None => return None,
            }
        }
        let m = min?;
        if self.sent.is_none_or(|s| s < m) {
            self.sent = Some(m);
            return Some(StreamMessage::Watermark(Watermark(m)));
        }
        None
    }
}

impl Iterator for Feed {
    type Item = StreamMessage;

    fn next(&mut self) -> Option<StreamMessage> {
        if let Some(m) = self.pending.pop() {
            return Some(m);
        }
        if self.done {
            return None;
        }
        loop {
            let Some(i) = self.next_side() else {
                self.done = true;
                return Some(StreamMessage::EndOfStream);
            };
            let side = &mut self.sides[i];
            let Some(batch) = side.reader.read_batch() else {
                side.ended = true;
                if let Some(w) = self.watermark() {
                    return Some(w);
                }
                continue;
            };
            let max = side
                .event_time
                .as_ref()
                .and_then(|et| et.max_event_time(&batch));
            if let Some(m) = max {
                side.watermark = Some(side.watermark.map_or(m, |w| w.max(m)));
            }
            let message = if i == 0 {
                StreamMessage::Batch(batch)
            } else {
                StreamMessage::Right(batch)
            };
            if let Some(w) = self.watermark() {
                self.pending.push(w);
            }
            return Some(message);
        }
    }
}

/// One measured configuration of one query.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NexmarkResult {
    pub query: String,
    /// `in-process` or `pre-generated`.
    pub mode: &'static str,
    /// `V1` or `V2@N`, with `+Rk` for k generating threads (in-process).
    pub config: String,
    /// Cores that did the work: the workers (1 for V1; the feeding thread is
    /// the router's) and the generating threads of an in-process run with
    /// more than one, at most the machine's cores.
    pub cores: usize,
    pub events: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
    pub events_per_sec_per_core: f64,
    pub rows_out: u64,
    /// Feldera's per-core figure for the query, where it publishes one.
    pub feldera_per_core: Option<f64>,
}

/// Batches of a whole run, made before it is timed.
pub fn pregenerate(job: &NexmarkJob, batch_size: usize) -> Vec<StreamMessage> {
    job.feed(batch_size, 1).collect()
}

/// The rows of `messages`' batches (for a check that the feed is complete).
pub fn input_rows(messages: &[StreamMessage]) -> u64 {
    messages
        .iter()
        .map(|m| match m {
            StreamMessage::Batch(b) | StreamMessage::Right(b) => b.num_rows() as u64,
            _ => 0,
        })
        .sum()
}

/// Feldera's per-core figure for `query`.
pub fn feldera(query: &str) -> Option<f64> {
    FELDERA_PER_CORE
        .iter()
        .find(|(q, _)| *q == query)
        .map(|(_, v)| *v)
}

/// What `--nexmark` measures.
#[derive(Debug, Clone)]
pub struct NexmarkOptions {
    pub queries: Vec<String>,
    pub events: u64,
    pub partitions: Vec<usize>,
    pub runs: usize,
    pub batch_size: usize,
    /// In-process runs: generating threads per source (1: the feeding thread).
    pub readers: Vec<usize>,
}

/// The generator's own speed for one query's inputs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GeneratorSpeed {
    pub query: String,
    /// Events/s of all kinds: Velo's reader (the crate, then rows).
    pub velo_reader: f64,
    /// Events/s of all kinds: the `nexmark` crate's generator alone.
    pub crate_alone: f64,
}

fn machine_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs every query at V1 and V2@N in both modes, `runs` times each
/// (interleaved), keeping the median; prints a table and returns the rows.
pub fn bench(o: &NexmarkOptions) -> Result<(Vec<NexmarkResult>, Vec<GeneratorSpeed>)> {
    let mut results = Vec::new();
    let mut generators = Vec::new();
    let partition_configs: Vec<Option<usize>> = std::iter::once(None)
        .chain(o.partitions.iter().map(|&n| Some(n)))
        .collect();
    println!(
        "{:<5} {:<14} {:<10} {:>6} {:>10} {:>12} {:>12} {:>10}",
        "query", "mode", "config", "cores", "events/s", "per core", "Feldera/core", "rows out"
    );
    for q in &o.queries {
        let job = NexmarkJob::load(q, o.events)?;
        let (velo, alone) = job.generator_only(o.batch_size);
        let speed = GeneratorSpeed {
            query: q.clone(),
            velo_reader: o.events as f64 / velo.as_secs_f64().max(1e-9),
            crate_alone: o.events as f64 / alone.as_secs_f64().max(1e-9),
        };
        println!(
            "{q:<5} generator alone: Velo's reader {:.2}M events/s, the nexmark crate {:.2}M events/s",
            speed.velo_reader / 1e6,
            speed.crate_alone / 1e6
        );
        generators.push(speed);
        let messages = pregenerate(&job, o.batch_size);
        for mode in ["in-process", "pre-generated"] {
            // (partitions, generating threads)
            let configs: Vec<(Option<usize>, usize)> = if mode == "in-process" {
                partition_configs
                    .iter()
                    .flat_map(|&p| o.readers.iter().map(move |&r| (p, r.max(1))))
                    .collect()
            } else {
                partition_configs.iter().map(|&p| (p, 1)).collect()
            };
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
            let mut outs = vec![(0u64, 1usize); configs.len()];
            for _ in 0..o.runs {
                for (i, &(c, readers)) in configs.iter().enumerate() {
                    let (elapsed, rows, used) = if mode == "in-process" {
                        job.run(c, job.feed(o.batch_size, readers))?
                    } else {
                        job.run(c, messages.clone().into_iter())?
                    };
                    if outs[i].0 != 0 && outs[i].0 != rows {
                        bail!("{q} {mode}: runs gave {} and {rows} rows", outs[i].0);
                    }
                    outs[i] = (rows, used);
                    times[i].push(elapsed.as_secs_f64());
                }
            }
            for (i, &(c, readers)) in configs.iter().enumerate() {
                let seconds = median(times[i].clone());
                let (rows_out, used) = outs[i];
                let (mut config, workers) = match c {
                    None => ("V1".to_string(), 1),
                    Some(n) => (format!("V2@{n}"), used.max(1)),
                };
                // Generating threads are cores used too, up to the machine's.
                let threads = workers + if readers > 1 { readers } else { 0 };
                let cores = threads.min(machine_cores());
                if mode == "in-process" && o.readers.len() > 1 {
                    config.push_str(&format!("+R{readers}"));
                }
                let eps = o.events as f64 / seconds.max(1e-9);
                let r = NexmarkResult {
                    query: q.clone(),
                    mode,
                    config,
                    cores,
                    events: o.events,
                    seconds,
                    events_per_sec: eps,
                    events_per_sec_per_core: eps / cores as f64,
                    rows_out,
                    feldera_per_core: feldera(q),
                };
                println!(
                    "{:<5} {:<14} {:<10} {:>6} {:>9.2}M {:>11.2}M {:>12} {:>10}",
                    r.query,
                    r.mode,
                    r.config,
                    r.cores,
                    r.events_per_sec / 1e6,
                    r.events_per_sec_per_core / 1e6,
                    r.feldera_per_core
                        .map_or("-".to_string(), |f| format!("{:.0}K", f / 1e3)),
                    r.rows_out
                );
                results.push(r);
            }
        }
    }
    Ok((results, generators))
}
