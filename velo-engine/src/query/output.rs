//! ORDER BY and LIMIT over the emitted rows.
//!
//! Without a time window (or on a window with EMIT CHANGES, which the planner
//! refuses with ORDER BY / LIMIT) both are global: LIMIT n stops the output
//! after n rows, and ORDER BY holds every emitted row back and sorts them at the
//! end of bounded input (on an unbounded source it would hold rows until the
//! job stops; SPEC §2 allows it on bounded input only).
//!
//! On a time window with EMIT FINAL both apply per emitted window (SPEC §2: "or
//! per emitted window", Flink SQL's Window Top-N): when a watermark (or the end
//! of input) closes windows, the rows of each window, a window being its
//! `[_window_start, _window_end)` interval, are sorted on their own and cut at
//! LIMIT n, and the windows follow each other in the order they were emitted.
//! Nothing is held between emissions and LIMIT never ends the job. A late
//! firing of a window (a re-opened window's second emission) is an emission of
//! its own: sorted and limited on its own, whatever the window emitted before.
//!
//! # Checkpoints
//!
//! The global stage's state is the count of rows emitted (for LIMIT) and the
//! rows ORDER BY holds back; the per-window stage holds nothing between
//! emissions. Neither is keyed: V2 runs a job with ORDER BY or LIMIT on one
//! partition (`RoutingNeeds::needs_one_partition` in the planner; the
//! runtime then sets the partition count to 1), so a restore normally has
//! one old and one new partition. Should a state of several old partitions
//! be restored, each one's count and rows go to the partition that
//! [`RestoreScope::takes_counters_of`] it, so the job's total stays the same.

use std::collections::HashMap;
use std::mem::size_of;

use velo_planner::bind::BoundExpr;
use velo_types::{Batch, BatchBuilder, SchemaRef, Value};

use crate::error::{Error, Result};
use crate::expr::{lower, PhysicalExpr};
use crate::memory::values_heap_bytes;
use crate::operator::RestoreScope;
use crate::state;

/// The operator name its state is stored under.
const OPERATOR: &str = "order_limit";

/// The rows of one window within an emission: the window's
/// `(_window_start, _window_end)` and the index just past its last row in the
/// emitted batch (its first row is where the previous run ended, or 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowRun {
    pub(crate) bounds: (i64, i64),
    pub(crate) end_row: usize,
}

impl WindowRun {
    /// Notes that the emitted batch now holds `rows` rows, the last ones (if
    /// any were added since the last note: HAVING may have dropped the row) of
    /// the window `bounds`.
    pub(crate) fn note(runs: &mut Vec<WindowRun>, bounds: (i64, i64), rows: usize) {
        let last = runs.last_mut();
        match last {
            Some(r) if r.end_row >= rows => {}
            Some(r) if r.bounds == bounds => r.end_row = rows,
            None if rows == 0 => {}
            _ => runs.push(WindowRun {
                bounds,
                end_row: rows,
            }),
        }
    }
}

/// The ORDER BY / LIMIT stage of a query.
#[derive(Debug)]
pub struct OrderLimit {
    order: Vec<(PhysicalExpr, bool)>,
    limit: Option<u64>,
    /// ORDER BY and LIMIT apply to each emitted window (a time window with
    /// EMIT FINAL), not to the whole output.
    per_window: bool,
    emitted: u64,
    /// The output rows' schema.
    output: SchemaRef,
    /// The rows held for ORDER BY, row after row (`None` without a global
    /// ORDER BY, and once [`OrderLimit::finish`] released them).
    held: Option<Vec<Value>>,
    /// Rows held for ORDER BY, and the bytes their strings hold.
    held_rows: usize,
    held_heap_bytes: usize,
}

impl OrderLimit {
    /// ORDER BY (bound against the output rows by the planner,
    /// [`velo_planner::bind::bind_order_by`]) and LIMIT over `output`.
    /// `per_window`: apply them to each emitted window (see the module docs).
    pub(crate) fn new(
        order: &[(BoundExpr, bool)],
        limit: Option<u64>,
        output: &SchemaRef,
        per_window: bool,
    ) -> Result<OrderLimit> {
        let order: Vec<(PhysicalExpr, bool)> =
            order.iter().map(|(e, desc)| (lower(e), *desc)).collect();
        let held = (!order.is_empty() && !per_window).then(Vec::new);
        Ok(OrderLimit {
            order,
            limit,
            per_window,
            emitted: 0,
            output: output.clone(),
            held,
            held_rows: 0,
            held_heap_bytes: 0,
        })
    }

    /// An estimate of the memory ORDER BY holds (O(1)): the rows held back and
    /// their strings.
    pub(crate) fn state_bytes(&self) -> usize {
        let width = self.held.as_ref().map_or(0, |_| self.output.len());
        self.held_rows * width * size_of::<Value>() + self.held_heap_bytes
    }

    /// LIMIT was reached: no later row can be emitted (never per window: each
    /// window has a LIMIT of its own).
    pub(crate) fn is_exhausted(&self) -> bool {
        !self.per_window && self.held.is_none() && self.limit.is_some_and(|l| self.emitted >= l)
    }

    /// Passes the rows emitted by closing windows through: per window when
    /// ORDER BY / LIMIT apply per window (`runs` says which rows belong to
    /// which window), else as [`OrderLimit::admit`] does.
    pub(crate) fn admit_windows(&mut self, batch: Batch, runs: &[WindowRun]) -> Option<Batch> {
        if !self.per_window {
            return self.admit(batch);
        }
        if batch.is_empty() || (self.order.is_empty() && self.limit.is_none()) {
            return (!batch.is_empty()).then_some(batch);
        }
        debug_assert_eq!(runs.last().map_or(0, |r| r.end_row), batch.num_rows());
        // Each window's rows, windows in the order they first appear. A
        // window's rows are contiguous but for sessions: two sessions with
        // the same bounds (of different keys) may have others between them.
        let mut windows: Vec<((i64, i64), Vec<usize>)> = Vec::new();
        let mut index: HashMap<(i64, i64), usize> = HashMap::new();
        let mut start = 0;
        for run in runs {
            let w = *index.entry(run.bounds).or_insert_with(|| {
                windows.push((run.bounds, Vec::new()));
                windows.len() - 1
            });
            windows[w].1.extend(start..run.end_row);
            start = run.end_row;
        }
        let limit = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let mut out = BatchBuilder::with_capacity(batch.schema().clone(), batch.num_rows());
        for (_, mut rows) in windows {
            self.sort(&batch, &mut rows);
            for &i in rows.iter().take(limit) {
                out.push_row_slice(batch.row(i));
            }
        }
        (!out.is_empty()).then(|| out.finish())
    }

    /// Sorts the row indices `rows` of `batch` by ORDER BY; stable: ties keep
    /// their order.
    fn sort(&self, batch: &Batch, rows: &mut Vec<usize>) {
        if self.order.is_empty() {
            return;
        }
        let mut keyed: Vec<(Vec<Value>, usize)> = rows
            .iter()
            .map(|&i| {
                let row = batch.row(i);
                let key = self
                    .order
                    .iter()
                    .map(|(e, _)| e.eval(row).unwrap_or(Value::Null))
                    .collect();
                (key, i)
            })
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            for ((x, y), (_, desc)) in a.iter().zip(b).zip(&self.order) {
                let o = x.total_cmp(y);
                let o = if *desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        rows.clear();
        rows.extend(keyed.into_iter().map(|(_, i)| i));
    }

    /// Passes a batch of emitted rows through: held back under ORDER BY, cut at LIMIT.
    pub(crate) fn admit(&mut self, batch: Batch) -> Option<Batch> {
        if let Some(held) = &mut self.held {
            for row in batch.rows() {
                self.held_heap_bytes += values_heap_bytes(row);
                held.extend_from_slice(row);
            }
            self.held_rows += batch.num_rows();
            return None;
        }
        self.cut(batch)
    }

    fn cut(&mut self, batch: Batch) -> Option<Batch> {
        let n = batch.num_rows() as u64;
        let keep = match self.limit {
            Some(l) => n.min(l.saturating_sub(self.emitted)),
            None => n,
        };
        self.emitted += keep;
        if keep == 0 {
            return None;
        }
        if keep == n {
            return Some(batch);
        }
        let mut b = BatchBuilder::with_capacity(batch.schema().clone(), keep as usize);
        for row in batch.rows().take(keep as usize) {
            b.push_row_slice(row);
        }
        Some(b.finish())
    }

    /// End of input: sorts and releases what ORDER BY held.
    pub(crate) fn finish(&mut self, pending: Option<Batch>) -> Option<Batch> {
        let Some(held) = self.held.take() else {
            return pending;
        };
        let rows = std::mem::take(&mut self.held_rows);
        self.held_heap_bytes = 0;
        let batch = if self.output.is_empty() {
            Batch::empty_rows(self.output.clone(), rows)
        } else {
            match Batch::new(self.output.clone(), held) {
                Ok(b) => b,
                // `admit` holds whole rows of the output schema.
                Err(_) => unreachable!("held rows are whole rows"),
            }
        };
        let mut rows: Vec<usize> = (0..batch.num_rows()).collect();
        self.sort(&batch, &mut rows);
        let mut sorted = BatchBuilder::with_capacity(batch.schema().clone(), rows.len());
        for i in rows {
            sorted.push_row_slice(batch.row(i));
        }
        self.cut(sorted.finish())
    }
}

impl OrderLimit {
    /// Appends the state to `out` for a checkpoint: the rows emitted so far
    /// (LIMIT's count), then the rows ORDER BY holds, if it holds any (the
    /// row count and the values row after row).
    pub(crate) fn store(&self, out: &mut Vec<u8>) -> Result<()> {
        let held = self.held.as_deref().map(|h| (self.held_rows as u64, h));
        state::put(OPERATOR, &(self.emitted, held), out)
    }

    /// Adds the state [`OrderLimit::store`] wrote at the front of `bytes` by
    /// old partition `old`, if `scope` takes its counters (see the module
    /// docs: a job with ORDER BY or LIMIT runs on one partition); returns the
    /// bytes after it.
    pub(crate) fn load<'b>(
        &mut self,
        bytes: &'b [u8],
        old: usize,
        scope: &RestoreScope<'_>,
    ) -> Result<&'b [u8]> {
        type Stored = (u64, Option<(u64, Vec<Value>)>);
        let ((emitted, held), rest): (Stored, _) = state::take(OPERATOR, bytes)?;
        let width = self.output.len();
        let global_order = !self.order.is_empty() && !self.per_window;
        if let Some((rows, values)) = &held {
            let whole =
                usize::try_from(*rows).is_ok_and(|r| r.checked_mul(width) == Some(values.len()));
            if !global_order || !whole {
                return Err(Error::State {
                    operator: OPERATOR,
                    message: format!(
                        "the stored state holds {rows} rows of {} values for ORDER BY; this query {}",
                        values.len(),
                        if global_order {
                            format!("has rows of {width} values")
                        } else {
                            "holds none".to_string()
                        }
                    ),
                });
            }
        }
        if !scope.takes_counters_of(old) {
            return Ok(rest);
        }
        self.emitted += emitted;
        match (held, &mut self.held) {
            (Some((rows, values)), Some(mine)) => {
                self.held_heap_bytes += values_heap_bytes(&values);
                self.held_rows += rows as usize;
                mine.extend(values);
            }
            // The old partition had released its rows (end of input).
            (None, mine @ Some(_)) if global_order => {
                *mine = None;
                (self.held_rows, self.held_heap_bytes) = (0, 0);
            }
            _ => {}
        }
        Ok(rest)
    }
}
