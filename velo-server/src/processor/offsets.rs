//! Which source offsets are safe to commit (at-least-once, for partitioned
//! sources such as Kafka).
//!
//! An offset may be committed once every output row derived from the records
//! before it has been acknowledged by the sink. A record's output is written
//! when it is processed for queries that emit per record (projections, EMIT
//! CHANGES, row windows without LEAD); for EMIT FINAL time windows only when
//! the watermark passes the end of the record's (last) window; for queries
//! that emit only at the end of the input (EMIT FINAL without a window,
//! sessions, LEAD) never while the job runs. [`OffsetTracker`] keeps, per source
//! partition, the offsets whose output may still be outstanding, compactly: a
//! record only needs an entry when it is held longer than every earlier record
//! of its partition, since the commit point cannot pass the earlier ones
//! anyway. That is one entry per window end per partition, not per record.
//!
//! State is not checkpointed: records whose windows are open when the job
//! stops are not committed, so whoever reads the partition next (a restart, or
//! another instance after a rebalance) reads them again and computes those
//! windows whole.

use std::collections::VecDeque;

use velo_planner::{JobPlan, TimeWindowKind};

/// When a record's output has been written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// As soon as the record is processed.
    Processed,
    /// When the watermark reaches the end of the last window holding the
    /// record: windows of `size` starting every `advance` ms.
    WindowEnd { size: i64, advance: i64 },
    /// Only at the end of the input.
    EndOfInput,
}

impl Release {
    /// How `job`'s query releases its records.
    pub fn of(job: &JobPlan) -> Release {
        use velo_ast::EmitMode;
        let analysis = &job.analysis;
        if let Some(w) = &analysis.window {
            if analysis.emit == EmitMode::Changes {
                return Release::Processed;
            }
            return match w.kind {
                TimeWindowKind::Tumbling { size_ms } => Release::WindowEnd {
                    size: size_ms,
                    advance: size_ms,
                },
                TimeWindowKind::Sliding {
                    size_ms,
                    advance_ms,
                } => Release::WindowEnd {
                    size: size_ms,
                    advance: advance_ms,
                },
                TimeWindowKind::Session { .. } => Release::EndOfInput,
            };
        }
        if let Some(rows) = &analysis.rows_window {
            // LEAD holds a row back until its followers arrive.
            return if rows.holds_rows {
                Release::EndOfInput
            } else {
                Release::Processed
            };
        }
        if analysis.is_aggregate() && analysis.emit == EmitMode::Final {
            return Release::EndOfInput;
        }
        Release::Processed
    }

    /// The watermark at which a record with event time `ts` has been output;
    /// `None`: once processed.
    fn hold(self, ts: Option<i64>) -> Option<i64> {
        match self {
            Release::Processed => None,
            Release::EndOfInput => Some(i64::MAX),
            // A record without an event time fails and is reported when processed.
            Release::WindowEnd { size, advance } => ts.map(|t| {
                let last_start = t.div_euclid(advance) * advance;
                last_start.saturating_add(size)
            }),
        }
    }
}

/// One source partition's progress.
#[derive(Debug, Clone)]
struct PartitionOffsets {
    partition: u32,
    /// The offset after the last record handed to processing.
    next: u64,
    /// `(offset, watermark)`: the record at `offset` is output once the
    /// watermark reaches `watermark`; watermarks strictly increase.
    held: VecDeque<(u64, i64)>,
}

/// Safe commit offsets per source partition; see the module docs.
#[derive(Debug, Clone)]
pub struct OffsetTracker {
    release: Release,
    partitions: Vec<PartitionOffsets>,
}

impl OffsetTracker {
    pub fn new(release: Release) -> OffsetTracker {
        OffsetTracker {
            release,
            partitions: Vec::new(),
        }
    }

    /// Records that the record at `offset` of `partition`, with event time
    /// `ts`, was handed to processing.
    pub fn observe(&mut self, partition: u32, offset: u64, ts: Option<i64>) {
        let hold = self.release.hold(ts);
        let p = match self
            .partitions
            .iter()
            .position(|p| p.partition == partition)
        {
            Some(i) => &mut self.partitions[i],
            None => {
                self.partitions.push(PartitionOffsets {
                    partition,
                    next: 0,
                    held: VecDeque::new(),
                });
                self.partitions.last_mut().expect("just pushed")
            }
        };
        p.next = p.next.max(offset + 1);
        if let Some(h) = hold {
            if p.held.back().is_none_or(|&(_, last)| h > last) {
                p.held.push_back((offset, h));
            }
        }
    }

    /// Forgets partitions no longer assigned to this instance: their offsets
    /// are not ours to commit any more.
    pub fn retain(&mut self, assigned: &[u32]) {
        self.partitions.retain(|p| assigned.contains(&p.partition));
    }

    /// Per partition, the offset up to which every record's output has been
    /// written once the sink has flushed everything the query emitted at
    /// `watermark`: the first held record, or the next offset when none is.
    pub fn safe(&mut self, watermark: Option<i64>) -> Vec<(u32, u64)> {
        let w = watermark.unwrap_or(i64::MIN);
        self.partitions
            .iter_mut()
            .map(|p| {
                while p
                    .held
                    .front()
                    .is_some_and(|&(_, h)| h <= w && h != i64::MAX)
                {
                    p.held.pop_front();
                }
                (p.partition, p.held.front().map_or(p.next, |&(o, _)| o))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processed_records_are_safe_at_once() {
        let mut t = OffsetTracker::new(Release::Processed);
        t.observe(0, 10, Some(5));
        t.observe(1, 3, None);
        t.observe(0, 11, Some(1));
        assert_eq!(t.safe(None), vec![(0, 12), (1, 4)]);
    }

    #[test]
    fn window_records_wait_for_the_watermark_to_pass_their_window() {
        let mut t = OffsetTracker::new(Release::WindowEnd {
            size: 60,
            advance: 60,
        });
        t.observe(0, 0, Some(10)); // window [0, 60)
        t.observe(0, 1, Some(5)); // same window: no new entry
        t.observe(0, 2, Some(70)); // [60, 120)
        t.observe(0, 3, Some(20)); // late-ish, [0, 60): covered by offset 0
        assert_eq!(t.safe(Some(59)), vec![(0, 0)]);
        assert_eq!(t.safe(Some(60)), vec![(0, 2)]);
        assert_eq!(t.safe(Some(120)), vec![(0, 4)]);
        assert_eq!(t.partitions[0].held.len(), 0);
    }

    #[test]
    fn sliding_windows_hold_until_the_last_window_ends() {
        let r = Release::WindowEnd {
            size: 100,
            advance: 20,
        };
        // t = 45 is in windows starting 0, 20, 40; the last ends at 140.
        assert_eq!(r.hold(Some(45)), Some(140));
        assert_eq!(r.hold(None), None);
    }

    #[test]
    fn end_of_input_holds_everything_and_revoked_partitions_are_dropped() {
        let mut t = OffsetTracker::new(Release::EndOfInput);
        t.observe(0, 5, None);
        t.observe(0, 6, None);
        t.observe(2, 0, None);
        assert_eq!(t.safe(Some(i64::MAX)), vec![(0, 5), (2, 0)]);
        t.retain(&[2]);
        assert_eq!(t.safe(None), vec![(2, 0)]);
    }
}
