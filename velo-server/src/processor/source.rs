//! The source side of a job, shared by every processor: reads batches and turns
//! them into the in-band message sequence of SPEC §4 — each batch, then a
//! watermark whenever the batch advanced it, then the end of the stream.
//! Records the reader rejects are counted as read and failed, and handled by
//! the job's `failure_strategy` (see [`super::failures`]).
//!
//! A partitioned source (Kafka) reports the partitions assigned to this
//! instance; each is a source partition with its own watermark generator
//! (SPEC §4), added and removed as the assignment changes, and one that sends
//! nothing for [`IDLE_TIMEOUT`] stops holding the watermark back. Every
//! [`COMMIT_INTERVAL`] the driver puts a [`StreamMessage::Barrier`] into the
//! stream with the offsets that are safe to commit once everything before it
//! has reached the sink ([`super::offsets`]); the sink side acknowledges a
//! barrier through [`Acks`] and the driver then commits its offsets
//! (at-least-once).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use velo_engine::query::EventTime;
use velo_io::{open_reader, DataReader, ReaderOptions};
use velo_planner::{FailureStrategy, JobPlan, WatermarkStrategy as PlannedStrategy};
use velo_types::StreamMessage;
use velo_watermark::{SourceWatermarks, WatermarkStrategy};

use super::checkpoint::{Marks, SourceMark};
use super::failures::{DlqRows, Retry, Warnings};
use super::offsets::{OffsetTracker, Release};
use super::worker::Output;
use super::{Count, JobCounters};
use crate::app::{io_failure, Failure, LoadedApp};

/// Opens `job`'s reader, retrying under `retry_with_backoff` (a file that is
/// not there yet, say). `None`: the job was stopped while the reader waited for
/// the first records that type its columns (a Kafka source without a declared
/// schema); it read nothing and has nothing to drain.
pub async fn open_source(
    job: &JobPlan,
    options: &ReaderOptions,
) -> Result<Option<Box<dyn DataReader>>, Failure> {
    let mut retry = Retry::new(job);
    loop {
        match open_reader(&job.source.config, options).await {
            Ok(r) => return Ok(Some(r)),
            Err(velo_io::Error::Stopped { .. }) => return Ok(None),
            Err(e) => retry.wait_or_fail(job, &e).await?,
        }
    }
}

/// Whether `job` reads a partitioned, unbounded source (Kafka).
pub fn is_partitioned(job: &JobPlan) -> bool {
    matches!(
        job.source.config,
        velo_types::connector::SourceConfig::Kafka(_)
    )
}

/// The source partition id of a file, stdin or the generator: they have one.
const SINGLE_PARTITION: u32 = 0;

/// A source partition that sends nothing for this long stops holding the
/// watermark back (partitioned sources).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a partitioned source's progress is committed.
pub const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// The barriers the sink side has acknowledged: the highest id whose outputs
/// (and everything before them) are flushed to the sinks. 0: none yet.
#[derive(Debug, Clone, Default)]
pub struct Acks(Arc<AtomicU64>);

impl Acks {
    pub fn acknowledge(&self, barrier: u64) {
        self.0.fetch_max(barrier, Ordering::AcqRel);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// What a partitioned source keeps to commit its progress.
#[derive(Debug)]
struct Progress {
    /// The `_partition` column of the reader's batches.
    partition_column: usize,
    /// The partitions assigned now.
    assigned: Vec<u32>,
    offsets: OffsetTracker,
    /// Barriers sent and not yet acknowledged, with their safe offsets.
    pending: VecDeque<(u64, Vec<(u32, u64)>)>,
    next_barrier: u64,
    last_barrier: Instant,
    acks: Acks,
}

/// Reads one job's source.
pub struct SourceDriver {
    reader: Box<dyn DataReader>,
    event_time: Option<EventTime>,
    watermarks: SourceWatermarks,
    finished: bool,
    warnings: Warnings,
    /// Rejected records bound for the DLQ (`send_to_dlq` only).
    dlq: Option<DlqRows>,
    /// Partitioned sources only.
    progress: Option<Progress>,
    /// What the source has consumed, for checkpoints.
    consumed: SourceMark,
    /// Records still to skip: consumed before the checkpoint resumed from.
    skip: u64,
    /// Checkpoint barriers (sources that can be read again; see
    /// [`super::checkpoint`]).
    checkpoints: Option<CheckpointBarriers>,
}

/// When a source that is not partitioned puts checkpoint barriers in.
#[derive(Debug)]
struct CheckpointBarriers {
    interval: Duration,
    last: Instant,
    next_id: u64,
    marks: Marks,
}

impl std::fmt::Debug for SourceDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceDriver")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl SourceDriver {
    pub fn new(
        app: &LoadedApp,
        job: &JobPlan,
        reader: Box<dyn DataReader>,
    ) -> Result<Self, Failure> {
        let schema = reader.schema();
        let event_time = EventTime::new(job, &schema).map_err(|e| app.compile_error(&e))?;
        let strategy = match job.config.watermark_strategy {
            PlannedStrategy::Ascending => WatermarkStrategy::Ascending,
            PlannedStrategy::BoundedOutOfOrderness => WatermarkStrategy::BoundedOutOfOrderness {
                max_out_of_orderness_ms: job.config.max_out_of_orderness_ms,
            },
        };
        let partitioned = reader.source_partitions().is_some();
        let mut watermarks =
            SourceWatermarks::new(strategy, partitioned.then_some(IDLE_TIMEOUT))
                .map_err(|e| Failure::User(format!("error: job '{}': {e}", job.name)))?;
        let progress = if partitioned {
            let partition_column = schema.index_of("_partition").ok_or_else(|| {
                Failure::Internal("a partitioned source without a _partition column".into())
            })?;
            Some(Progress {
                partition_column,
                assigned: Vec::new(),
                offsets: OffsetTracker::new(Release::of(job)),
                pending: VecDeque::new(),
                next_barrier: 1,
                last_barrier: Instant::now(),
                acks: Acks::default(),
            })
        } else {
            watermarks.add_partition(SINGLE_PARTITION);
            None
        };
        Ok(SourceDriver {
            reader,
            event_time,
            watermarks,
            finished: false,
            warnings: Warnings::default(),
            dlq: (job.config.failure_strategy == FailureStrategy::SendToDlq)
                .then(|| DlqRows::new(job)),
            progress,
            consumed: SourceMark::default(),
            skip: 0,
            checkpoints: None,
        })
    }

    /// Puts a checkpoint barrier in every `interval` (barrier ids from
    /// `first_id`), noting the source's position at each in `marks`; resumes
    /// after `restored`, whose records are skipped.
    pub fn checkpoint_every(
        &mut self,
        interval: Duration,
        first_id: u64,
        marks: Marks,
        restored: Option<SourceMark>,
    ) {
        if let Some(mark) = restored {
            // A Kafka source resumes at the offsets (set before it
            // subscribed), a file at its position (opened there); the
            // generator skips what it had produced.
            let skips = self.progress.is_none() && mark.position.is_none();
            if skips {
                self.skip = mark.records;
            }
            self.consumed.records = if skips { 0 } else { mark.records };
            self.consumed.rejected = mark.rejected;
        }
        self.checkpoints = Some(CheckpointBarriers {
            interval,
            last: Instant::now(),
            next_id: first_id,
            marks,
        });
    }

    /// Where the sink side acknowledges barriers (partitioned sources).
    /// The reader's own threads (see [`DataReader::helper_threads`]).
    pub fn helper_threads(&self) -> usize {
        self.reader.helper_threads()
    }

    pub fn acks(&self) -> Acks {
        self.progress
            .as_ref()
            .map_or_else(Acks::default, |p| p.acks.clone())
    }

    pub fn schema(&self) -> velo_types::SchemaRef {
        self.reader.schema()
    }

    /// The next messages: a batch and, if it advanced the watermark, the new
    /// watermark; at the end, `EndOfStream` (whose `finish()` closes every
    /// window). Rejected records met on the way are handled per
    /// `failure_strategy`; those bound for the DLQ are pushed onto `side`.
    /// Returns `false` once the end has been delivered.
    pub async fn next(
        &mut self,
        job: &JobPlan,
        out: &mut Vec<StreamMessage>,
        side: &mut Vec<Output>,
        counters: &JobCounters,
    ) -> Result<bool, Failure> {
        if self.finished {
            return Ok(false);
        }
        let read = self.read(job, counters).await;
        if let Some(rows) = self.dlq.as_mut().and_then(DlqRows::take) {
            side.push(Output::Failed(rows));
        }
        self.commit_acknowledged(job).await?;
        match read? {
            Some(batch) => {
                let now = Instant::now();
                if let Some(p) = &mut self.progress {
                    if let Some(assigned) = self.reader.source_partitions() {
                        sync_assignment(p, &mut self.watermarks, assigned);
                    }
                    let partitions = observe_partitions(
                        p,
                        &mut self.watermarks,
                        self.event_time.as_ref(),
                        &batch,
                        now,
                    );
                    if partitions > 1 {
                        // One source partition per batch, for sticky routing.
                        out.extend(
                            split_by_partition(batch, p.partition_column)
                                .into_iter()
                                .map(StreamMessage::Batch),
                        );
                    } else if !batch.is_empty() {
                        out.push(StreamMessage::Batch(batch));
                    }
                } else {
                    if let Some(et) = &self.event_time {
                        let max = et.max_event_time(&batch);
                        self.watermarks.observe(SINGLE_PARTITION, max, now);
                    }
                    if !batch.is_empty() {
                        out.push(StreamMessage::Batch(batch));
                    }
                }
                if self.event_time.is_some() {
                    if let Some(wm) = self.watermarks.advance(now) {
                        out.push(StreamMessage::Watermark(wm));
                    }
                }
                let now = counters.checkpoint_now.swap(false, Ordering::AcqRel);
                self.barrier_if_due(out, now && self.checkpoints.is_some());
            }
            None => {
                self.finished = true;
                out.push(StreamMessage::EndOfStream);
            }
        }
        Ok(true)
    }

    /// Puts a barrier into the stream when the commit interval has passed (or
    /// `now`), recording the offsets safe to commit once it is acknowledged.
    fn barrier_if_due(&mut self, out: &mut Vec<StreamMessage>, now: bool) {
        if let Some(c) = &mut self.checkpoints {
            if now || c.last.elapsed() >= c.interval {
                let id = c.next_id;
                c.next_id += 1;
                c.last = Instant::now();
                let mut mark = self.consumed.clone();
                mark.position = self.reader.position();
                if let Some(p) = &mut self.progress {
                    // Committed to the group once the checkpoint is complete.
                    mark.offsets = self.reader.consumed_offsets().unwrap_or_default();
                    p.pending.push_back((id, mark.offsets.clone()));
                }
                c.marks.push(id, mark);
                out.push(StreamMessage::Barrier(id));
            }
            return;
        }
        let Some(p) = &mut self.progress else {
            return;
        };
        if !now && p.last_barrier.elapsed() < COMMIT_INTERVAL {
            return;
        }
        let id = p.next_barrier;
        p.next_barrier += 1;
        p.last_barrier = Instant::now();
        let watermark = self.watermarks.current().map(|w| w.0);
        p.pending.push_back((id, p.offsets.safe(watermark)));
        out.push(StreamMessage::Barrier(id));
    }

    /// Commits the offsets of the newest acknowledged barrier.
    async fn commit_acknowledged(&mut self, job: &JobPlan) -> Result<(), Failure> {
        let Some(p) = &mut self.progress else {
            return Ok(());
        };
        let acked = p.acks.get();
        let mut offsets = None;
        while p.pending.front().is_some_and(|(id, _)| *id <= acked) {
            offsets = p.pending.pop_front().map(|(_, o)| o);
        }
        let Some(mut offsets) = offsets else {
            return Ok(());
        };
        // Partitions revoked since the barrier are no longer ours to commit.
        offsets.retain(|(partition, _)| p.assigned.contains(partition));
        tracing::debug!(
            job = %job.name,
            barrier = acked,
            "job '{}': committing the offsets of barrier {acked} (partition, offset): {offsets:?}",
            job.name
        );
        self.reader
            .commit_offsets(&offsets)
            .await
            .map_err(|e| io_failure(job, &e))
    }

    /// The next batch, past rejected records (each counted and handled) and,
    /// under `retry_with_backoff`, past IO errors that go away.
    async fn read(
        &mut self,
        job: &JobPlan,
        counters: &JobCounters,
    ) -> Result<Option<velo_types::Batch>, Failure> {
        let mut retry = Retry::new(job);
        loop {
            match self.reader.next_batch().await {
                Ok(Some(batch)) if self.skip > 0 => {
                    let n = batch.num_rows() as u64;
                    self.consumed.records += n;
                    let k = n.min(self.skip);
                    self.skip -= k;
                    let rest = drop_rows(batch, k as usize)?;
                    if !rest.is_empty() {
                        return Ok(Some(rest));
                    }
                }
                Ok(batch) => {
                    if let Some(b) = &batch {
                        self.consumed.records += b.num_rows() as u64;
                    }
                    return Ok(batch);
                }
                Err(e) if e.is_record_error() => {
                    self.consumed.records += 1;
                    if self.skip > 0 {
                        // Counted and handled before the checkpoint.
                        self.skip -= 1;
                        continue;
                    }
                    self.consumed.rejected += 1;
                    counters.add(Count::Read, 1);
                    counters.add(Count::Failed, 1);
                    self.reject(job, &e)?;
                }
                Err(e) => retry.wait_or_fail(job, &e).await?,
            }
        }
    }

    /// One record the reader rejected, under the job's `failure_strategy`.
    fn reject(&mut self, job: &JobPlan, e: &velo_io::Error) -> Result<(), Failure> {
        match (&mut self.dlq, job.config.failure_strategy) {
            (_, FailureStrategy::FailBatch) => Err(io_failure(job, e)),
            (Some(dlq), _) => {
                // The reason without the position: it has columns of its own.
                let reason = e.to_string();
                let prefix = format!(
                    "{}:{}: ",
                    e.source_label().unwrap_or_default(),
                    e.line().unwrap_or(0)
                );
                let reason = reason.strip_prefix(&prefix).unwrap_or(&reason);
                dlq.push(e.line(), reason, e.raw_record().unwrap_or(""));
                Ok(())
            }
            (None, _) => {
                self.warnings.warn(job, &format!("record skipped: {e}"));
                Ok(())
            }
        }
    }

    /// Stops reading early (a signal): delivers `EndOfStream` once; a
    /// partitioned source first puts a last barrier, so that what is safe is
    /// committed.
    pub fn stop(&mut self, out: &mut Vec<StreamMessage>) {
        if !self.finished {
            self.finished = true;
            // A partitioned source's last barrier commits its progress (with
            // checkpoints: a last checkpoint, kept for the next start); a
            // file's job ends with its input flushed, nothing to resume.
            if self.progress.is_some() {
                self.barrier_if_due(out, true);
            }
            out.push(StreamMessage::EndOfStream);
        }
    }

    /// At the end of the job: commits what the source has returned (files:
    /// nothing to do), or for a partitioned source the newest acknowledged
    /// barrier's offsets.
    pub async fn commit(&mut self, job: &JobPlan) -> Result<(), Failure> {
        if self.progress.is_some() {
            return self.commit_acknowledged(job).await;
        }
        self.reader.commit().await.map_err(|e| io_failure(job, &e))
    }
}

/// `batch` without its first `k` rows (positions kept for the others).
fn drop_rows(batch: velo_types::Batch, k: usize) -> Result<velo_types::Batch, Failure> {
    if k == 0 {
        return Ok(batch);
    }
    let schema = batch.schema().clone();
    let positions = batch.positions().map(|p| p[k.min(p.len())..].to_vec());
    let width = batch.width();
    let mut values = batch.into_values();
    values.drain(..(k * width).min(values.len()));
    let rest = velo_types::Batch::new(schema, values)
        .map_err(|e| Failure::Internal(format!("resuming the source: {e}")))?;
    Ok(match positions {
        Some(p) => rest.with_positions(p),
        None => rest,
    })
}

/// Follows a change of the partitions assigned to this instance (a rebalance).
fn sync_assignment(p: &mut Progress, watermarks: &mut SourceWatermarks, mut assigned: Vec<u32>) {
    assigned.sort_unstable();
    if assigned == p.assigned {
        return;
    }
    for &id in &assigned {
        watermarks.add_partition(id);
    }
    for &id in &p.assigned {
        if !assigned.contains(&id) {
            watermarks.remove_partition(id);
        }
    }
    p.offsets.retain(&assigned);
    p.assigned = assigned;
}

/// Per source partition: the batch's largest event time (for its watermark)
/// and each record's offset (for commits). Returns how many partitions the
/// batch holds records of.
fn observe_partitions(
    p: &mut Progress,
    watermarks: &mut SourceWatermarks,
    event_time: Option<&EventTime>,
    batch: &velo_types::Batch,
    now: Instant,
) -> usize {
    // (partition, largest event time) for the few partitions of one batch.
    let mut maxima: Vec<(u32, Option<i64>)> = Vec::new();
    for (i, row) in batch.rows().enumerate() {
        let partition = match row[p.partition_column] {
            velo_types::Value::Int(n) => n as u32,
            _ => SINGLE_PARTITION,
        };
        let ts = event_time.and_then(|et| et.extract(row).ok());
        match maxima.iter_mut().find(|(id, _)| *id == partition) {
            Some((_, max)) => *max = (*max).max(ts),
            None => maxima.push((partition, ts)),
        }
        if let Some(offset) = batch.position(i) {
            p.offsets.observe(partition, offset, ts);
        }
    }
    let partitions = maxima.len();
    for (partition, max) in maxima {
        if !p.assigned.contains(&partition) {
            // Records can arrive before the assignment is reported.
            watermarks.add_partition(partition);
        }
        watermarks.observe(partition, max, now);
    }
    partitions
}

/// The batch's rows split by their `_partition` value, in order, positions
/// kept: one batch per source partition.
fn split_by_partition(batch: velo_types::Batch, column: usize) -> Vec<velo_types::Batch> {
    let schema = batch.schema().clone();
    let mut parts: Vec<(velo_types::Value, Vec<velo_types::Value>, Vec<u64>)> = Vec::new();
    for (i, row) in batch.rows().enumerate() {
        let key = &row[column];
        let at = match parts.iter().position(|(k, _, _)| k == key) {
            Some(at) => at,
            None => {
                parts.push((key.clone(), Vec::new(), Vec::new()));
                parts.len() - 1
            }
        };
        let (_, values, positions) = &mut parts[at];
        values.extend_from_slice(row);
        if let Some(o) = batch.position(i) {
            positions.push(o);
        }
    }
    parts
        .into_iter()
        .filter_map(|(_, values, positions)| {
            let rows = velo_types::Batch::new(schema.clone(), values).ok()?;
            Some(if positions.len() == rows.num_rows() {
                rows.with_positions(positions)
            } else {
                rows
            })
        })
        .collect()
}
