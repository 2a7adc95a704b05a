//! Checkpoints of a job (SPEC §4): what is stored at each checkpoint barrier,
//! and what a restarted job resumes from.
//!
//! Every `checkpoint.interval` the source puts a barrier into the stream and
//! notes its position there ([`SourceMark`]: the records it has consumed). Each
//! partition takes its query's state when the barrier reaches it
//! ([`super::worker::Output::Barrier`]). The sink side aligns the partitions:
//! once a partition has passed the barrier, its later outputs are held back
//! until every partition has passed it, so the sinks hold exactly the output
//! of the input before the barrier. Then the sinks are flushed and made
//! durable ([`velo_io::DataWriter::commit_point`]: a file sink's length), and
//! [`Checkpointer::write`] stores the partitions' states and a manifest with
//! the source mark, the sinks' positions and the plan's fingerprint
//! (`velo-checkpoint`). Only then is the checkpoint complete.
//!
//! A job that starts and finds a complete checkpoint ([`load`]) restores its
//! partitions' state (redistributed by key when the partition count changed),
//! cuts its file sinks back to the checkpoint's positions, and skips the
//! records its source had consumed: the output is then the same as one
//! uninterrupted run's. A job that ends (its input exhausted, or stopped by a
//! signal after flushing) removes its checkpoints.
//!
//! A Kafka source's mark is its offsets per partition; they are committed to
//! the consumer group once the checkpoint is complete (so lag monitoring keeps
//! working), and a restored job sets the group to them before it subscribes.
//! A Kafka job is never finished: a drain (SIGTERM) takes a last checkpoint
//! and keeps it. Kafka sinks stay at-least-once (what was written after the
//! last checkpoint is written again).
//!
//! A file's mark is also its position (byte and line of the next record):
//! a restored file reader opens there (`velo_io::ReaderOptions::resume`); the
//! generator, which has no position, skips the records it had produced.
//!
//! Not yet: the second stream of a join of two streams, stdin (it cannot be
//! read again); jobs reading those run without checkpoints.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use velo_checkpoint::CheckpointStore;
use velo_planner::{JobPlan, PlanNode};
use velo_types::connector::SourceConfig;

use crate::app::Failure;

/// Where a source was at a barrier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMark {
    /// Records consumed: rows returned and records the reader rejected.
    pub records: u64,
    /// Of those, rejected by the reader (counted as read and failed).
    pub rejected: u64,
    /// A Kafka source: per partition read, the offset of the next message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offsets: Vec<(u32, u64)>,
    /// A file: where the next record starts (byte and line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<velo_io::SourcePosition>,
}

/// Where each sink was at a checkpoint ([`velo_io::DataWriter::commit_point`]):
/// `None` for a sink that cannot be cut back (stdout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkMarks {
    pub main: Option<u64>,
    pub dead_letter: Option<u64>,
    pub dlq: Option<u64>,
}

/// The source marks of barriers sent and not yet stored, shared by the
/// source (which sends the barriers) and the sink side (which completes them).
#[derive(Debug, Clone, Default)]
pub struct Marks(Arc<Mutex<VecDeque<(u64, SourceMark)>>>);

impl Marks {
    pub fn push(&self, id: u64, mark: SourceMark) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back((id, mark));
    }

    /// The mark of barrier `id`, forgetting it and the ones before.
    fn take(&self, id: u64) -> Option<SourceMark> {
        let mut marks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut found = None;
        while marks.front().is_some_and(|(b, _)| *b <= id) {
            found = marks.pop_front().filter(|(b, _)| *b == id).map(|(_, m)| m);
        }
        found
    }
}

/// What a checkpoint's manifest holds besides its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    /// The partition count the states were taken with.
    partitions: usize,
    /// The plan the states belong to ([`fingerprint`]).
    plan: Vec<String>,
    source: SourceMark,
    sinks: SinkMarks,
    /// Rows the main sink had accepted.
    written: u64,
}

/// A checkpoint to resume from.
#[derive(Debug)]
pub struct Restored {
    pub id: u64,
    /// The id the next checkpoint takes: past every complete one, also those
    /// that were unusable (ids are never reused).
    pub next_id: u64,
    /// The partition count it was taken with.
    pub partitions: usize,
    /// Each old partition's state ([`velo_engine::query::QueryExecutor::snapshot_bytes`]).
    pub states: Vec<Vec<u8>>,
    pub source: SourceMark,
    pub sinks: SinkMarks,
    pub written: u64,
}

/// Whether `job` takes checkpoints: `checkpoint.interval` is not `off` and its
/// source can be read again (a file, the generator, Kafka; see the module
/// docs).
///
/// A Kafka job checkpoints only when the app sets `checkpoint.interval`:
/// several instances sharing a consumer group would otherwise share one state
/// folder, and a partition's state does not follow it to the instance a
/// rebalance gives it to (docs/DECISIONS.md).
pub fn enabled(job: &JobPlan) -> bool {
    job.config.checkpoint_interval_ms.is_some()
        && job.stream_join.is_none()
        && match job.source.config {
            SourceConfig::File { .. }
            | SourceConfig::Generator { .. }
            | SourceConfig::Nexmark(_) => true,
            SourceConfig::Kafka(_) => job.config.checkpoint_interval_set,
            SourceConfig::Stdin { .. } => false,
        }
}

/// The plan's operators as `explain` describes them, one line each: a
/// checkpoint of another plan is refused with the first line that differs.
pub fn fingerprint(job: &JobPlan) -> Vec<String> {
    fn walk(node: &PlanNode, depth: usize, out: &mut Vec<String>) {
        let keys = if node.keys.is_empty() {
            String::new()
        } else {
            format!(" (keys {})", node.keys.join(", "))
        };
        out.push(format!(
            "{}{}: {}{keys}",
            "  ".repeat(depth),
            node.operator,
            node.detail
        ));
        for input in &node.inputs {
            walk(input, depth + 1, out);
        }
    }
    let mut lines = Vec::new();
    walk(&velo_planner::operator_tree(job), 0, &mut lines);
    lines
}

/// The folder of a job's checkpoints under `state_dir`.
fn job_dir(state_dir: &Path, job: &JobPlan) -> PathBuf {
    state_dir.join(&job.name)
}

fn store_failure(job: &JobPlan, e: &velo_checkpoint::Error) -> Failure {
    Failure::User(format!("error: job '{}': checkpoint: {e}", job.name))
}

/// The newest usable checkpoint of `job` under `state_dir`, if any. A
/// checkpoint of another plan is refused with what changed; corrupt ones are
/// skipped with a warning (`velo-checkpoint`).
pub fn load(state_dir: &Path, job: &JobPlan) -> Result<Option<Restored>, Failure> {
    if !job_dir(state_dir, job).is_dir() {
        return Ok(None);
    }
    let store = CheckpointStore::open(state_dir, &job.name).map_err(|e| store_failure(job, &e))?;
    let Some(loaded) = store.latest().map_err(|e| store_failure(job, &e))? else {
        return Ok(None);
    };
    for w in &loaded.warnings {
        tracing::warn!(job = %job.name, "job '{}': {w}", job.name);
    }
    let meta: Meta = serde_json::from_value(loaded.meta.clone()).map_err(|e| {
        Failure::User(format!(
            "error: job '{}': checkpoint {} in {}: its manifest cannot be read ({e})",
            job.name,
            loaded.id,
            store.job_dir().display()
        ))
    })?;
    let now = fingerprint(job);
    if meta.plan != now {
        let (was, is) = meta
            .plan
            .iter()
            .map(String::as_str)
            .chain(std::iter::repeat(""))
            .zip(now.iter().map(String::as_str).chain(std::iter::repeat("")))
            .find(|(a, b)| a != b)
            .unwrap_or_default();
        return Err(Failure::User(format!(
            "error: job '{}': the app changed since checkpoint {} ({}), so its state no longer fits: '{}' is now '{}'; run with --fresh to discard the state",
            job.name,
            loaded.id,
            store.job_dir().display(),
            was.trim(),
            is.trim()
        )));
    }
    let mut states = Vec::with_capacity(meta.partitions);
    for p in 0..meta.partitions {
        let name = partition_file(p);
        let bytes = loaded.file(&name).ok_or_else(|| {
            Failure::User(format!(
                "error: job '{}': checkpoint {} has no {name}",
                job.name, loaded.id
            ))
        })?;
        states.push(bytes.to_vec());
    }
    let newest = store
        .completed_ids()
        .map_err(|e| store_failure(job, &e))?
        .last()
        .copied()
        .unwrap_or(loaded.id);
    Ok(Some(Restored {
        id: loaded.id,
        next_id: newest.max(loaded.id) + 1,
        partitions: meta.partitions,
        states,
        source: meta.source,
        sinks: meta.sinks,
        written: meta.written,
    }))
}

/// Removes `job`'s checkpoints (`--fresh`, or the job ended).
pub fn remove(state_dir: &Path, job: &JobPlan) -> Result<(), Failure> {
    let dir = job_dir(state_dir, job);
    if !dir.is_dir() {
        return Ok(());
    }
    std::fs::remove_dir_all(&dir).map_err(|e| {
        Failure::User(format!(
            "error: job '{}': cannot remove its checkpoints in {}: {e}",
            job.name,
            dir.display()
        ))
    })?;
    // The state folder too, once no job has checkpoints in it.
    let _ = std::fs::remove_dir(state_dir);
    Ok(())
}

fn partition_file(p: usize) -> String {
    format!("partition-{p}.state")
}

/// The checkpoints a job has taken, for its summary, `GET /jobs/{id}` and
/// the benchmarks.
#[derive(Debug, Clone, Default)]
pub struct CheckpointStats {
    /// Checkpoints completed.
    pub completed: u64,
    /// The newest: its id, when it completed (Unix ms), its size on disk.
    pub last_id: u64,
    pub last_unix_ms: u64,
    pub last_bytes: u64,
    /// How long the newest took, from the last partition passing its barrier
    /// to its manifest being written.
    pub last_duration: std::time::Duration,
    /// Per checkpoint, how long the sinks waited for it: from the last
    /// partition passing the barrier to the sinks being durable and the
    /// states handed to the writer thread (the partitions' snapshots are
    /// taken on their own threads; the files are written on the writer's).
    pub pauses: Vec<std::time::Duration>,
}

impl CheckpointStats {
    /// The pause below which a share `q` (0-1) of the checkpoints stayed.
    pub fn pause_quantile(&self, q: f64) -> Option<std::time::Duration> {
        let mut sorted = self.pauses.clone();
        sorted.sort_unstable();
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(i).copied()
    }

    /// `12 checkpoints, the last 3.1 KB; pause p50 1.2 ms, p99 4.0 ms`.
    pub fn summary(&self) -> Option<String> {
        if self.completed == 0 {
            return None;
        }
        let ms = |q| {
            self.pause_quantile(q)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        Some(format!(
            "{} checkpoint(s), the last {:.1} KB; pause p50 {:.2} ms, p99 {:.2} ms",
            self.completed,
            self.last_bytes as f64 / 1024.0,
            ms(0.5),
            ms(0.99)
        ))
    }
}

/// One checkpoint for the writer thread.
#[derive(Debug)]
struct Task {
    id: u64,
    states: Vec<Vec<u8>>,
    sinks: SinkMarks,
    /// The sink files, synced before the checkpoint's files are written.
    sync: Vec<std::fs::File>,
    written: u64,
    /// When the sinks began waiting for it.
    start: Instant,
    /// How long they waited (aligned, then made durable).
    pause: std::time::Duration,
}

/// Writes a job's checkpoints on a thread of its own, so that processing
/// goes on while the files are written: the sinks wait only for the
/// alignment and their flush ([`Checkpointer::write`] hands the states over);
/// the writer syncs the sink files, then writes the checkpoint. A checkpoint is complete, and its barrier acknowledged (a
/// Kafka source then commits its offsets), once its manifest is written.
/// One checkpoint is written at a time; a second one waits for it.
#[derive(Debug)]
pub struct Checkpointer<'scope> {
    tx: Option<std::sync::mpsc::SyncSender<Task>>,
    handle: Option<std::thread::ScopedJoinHandle<'scope, ()>>,
    failed: Arc<Mutex<Option<Failure>>>,
}

/// What the writer thread keeps.
struct Writer<'env> {
    state_dir: PathBuf,
    job: String,
    plan: Vec<String>,
    /// Opened with the first checkpoint, so that a job that ends before it
    /// leaves no folder behind.
    store: Option<CheckpointStore>,
    marks: Marks,
    stats: &'env Mutex<CheckpointStats>,
    acks: super::source::Acks,
}

impl<'scope> Checkpointer<'scope> {
    /// Starts the writer thread in `scope`; `stats` is the job's, `acks`
    /// where completed checkpoints are acknowledged.
    pub fn spawn<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        state_dir: &Path,
        job: &JobPlan,
        marks: Marks,
        stats: &'env Mutex<CheckpointStats>,
        acks: super::source::Acks,
    ) -> Result<Checkpointer<'scope>, Failure> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Task>(1);
        let failed: Arc<Mutex<Option<Failure>>> = Arc::default();
        let mut writer = Writer {
            state_dir: state_dir.to_path_buf(),
            job: job.name.clone(),
            plan: fingerprint(job),
            store: None,
            marks,
            stats,
            acks,
        };
        let slot = failed.clone();
        let handle = std::thread::Builder::new()
            .name(format!("checkpoint-{}", job.name.replace('\0', "")))
            .spawn_scoped(scope, move || {
                for task in rx {
                    if let Err(e) = writer.write(task) {
                        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                        break;
                    }
                }
            })
            .map_err(|e| Failure::Internal(format!("cannot start the checkpoint writer: {e}")))?;
        Ok(Checkpointer {
            tx: Some(tx),
            handle: Some(handle),
            failed,
        })
    }

    fn failure(&self) -> Option<Failure> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Hands checkpoint `id` to the writer: each partition's state, the
    /// sinks' positions and the rows written; `start`: when the sinks began
    /// waiting for it. Fails with the writer's error if an earlier
    /// checkpoint could not be written.
    pub fn write(
        &mut self,
        id: u64,
        states: Vec<Vec<u8>>,
        sinks: SinkMarks,
        sync: Vec<std::fs::File>,
        written: u64,
        start: Instant,
    ) -> Result<(), Failure> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let task = Task {
            id,
            states,
            sinks,
            sync,
            written,
            start,
            pause: start.elapsed(),
        };
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(task).is_ok());
        if sent {
            return Ok(());
        }
        Err(self
            .failure()
            .unwrap_or_else(|| Failure::Internal("the checkpoint writer has stopped".into())))
    }

    /// Waits for the checkpoints handed over to be written.
    pub fn finish(&mut self) -> Result<(), Failure> {
        drop(self.tx.take());
        if let Some(h) = self.handle.take() {
            h.join()
                .map_err(|_| Failure::Internal("the checkpoint writer panicked".into()))?;
        }
        match self.failure() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Writer<'_> {
    /// Stores one checkpoint: each partition's state, and the manifest last.
    fn write(&mut self, task: Task) -> Result<(), Failure> {
        let Task {
            id,
            states,
            sinks,
            sync,
            written,
            start,
            pause,
        } = task;
        let job = self.job.clone();
        // The sinks' output up to the checkpoint's lengths is durable before
        // the checkpoint can be.
        for f in &sync {
            f.sync_data().map_err(|e| {
                Failure::User(format!(
                    "error: job '{job}': checkpoint {id}: cannot sync a sink file: {e}"
                ))
            })?;
        }
        let fail = |e: velo_checkpoint::Error| {
            Failure::User(format!("error: job '{job}': checkpoint {id}: {e}"))
        };
        let source = self.marks.take(id).ok_or_else(|| {
            Failure::Internal(format!("checkpoint {id}: the source's mark is missing"))
        })?;
        if self.store.is_none() {
            self.store = Some(CheckpointStore::open(&self.state_dir, &self.job).map_err(fail)?);
        }
        let store = self.store.as_ref().expect("opened above");
        let mut writer = store.begin(id).map_err(fail)?;
        for (p, state) in states.iter().enumerate() {
            writer.write_file(&partition_file(p), state).map_err(fail)?;
        }
        let meta = Meta {
            partitions: states.len(),
            plan: self.plan.clone(),
            source,
            sinks,
            written,
        };
        let meta = serde_json::to_value(&meta)
            .map_err(|e| Failure::Internal(format!("checkpoint {id}: {e}")))?;
        let done = writer.commit(meta).map_err(fail)?;
        for w in &done.warnings {
            tracing::warn!(job = %self.job, "job '{}': {w}", self.job);
        }
        let took = start.elapsed();
        tracing::debug!(
            job = %self.job,
            checkpoint = id,
            bytes = done.bytes,
            "job '{}': checkpoint {id} complete: {} bytes in {:.1} ms (the sinks waited {:.1} ms)",
            self.job,
            done.bytes,
            took.as_secs_f64() * 1e3,
            pause.as_secs_f64() * 1e3
        );
        {
            let mut st = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
            st.completed += 1;
            st.last_id = id;
            st.last_unix_ms = done.created_unix_ms;
            st.last_bytes = done.bytes;
            st.last_duration = took;
            st.pauses.push(pause);
        }
        metrics::histogram!("velo_checkpoint_duration_seconds", "job" => self.job.clone())
            .record(took.as_secs_f64());
        metrics::gauge!("velo_checkpoint_size_bytes", "job" => self.job.clone())
            .set(done.bytes as f64);
        metrics::gauge!("velo_checkpoint_last_completed_timestamp_seconds", "job" => self.job.clone())
            .set(done.created_unix_ms as f64 / 1e3);
        self.acks.acknowledge(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_taken_by_barrier_and_older_ones_forgotten() {
        let marks = Marks::default();
        for id in 1..=3 {
            marks.push(
                id,
                SourceMark {
                    records: id * 10,
                    ..SourceMark::default()
                },
            );
        }
        assert_eq!(marks.take(2).map(|m| m.records), Some(20));
        assert_eq!(marks.take(1), None);
        assert_eq!(marks.take(3).map(|m| m.records), Some(30));
    }
}
