//! How operators encode their state for checkpoints: `postcard` (a compact,
//! well-kept serde format) inside an [`OperatorState`] tagged with the
//! operator's name and the encoding's version. An operator stores what its
//! state *means* (each group's key and accumulators, each window entry's key,
//! bounds and accumulators), never its in-memory layout (slab indices, hash
//! tables), so that a restore can rebuild the layout and redistribute the
//! entries by key across another partition count.
//!
//! What each operator stores, in order:
//!
//! * every SELECT (`project`, `aggregate`, `time_window`, `rows_window`): its
//!   counters (`rows_in`, `filtered`, `failed`, `rows_out`, `contributed`,
//!   `late`, `late_dropped`, `late_dead_lettered`) and watermark; then its
//!   body's state; then ORDER BY / LIMIT's;
//! * GROUP BY (`aggregate`): each group's key and accumulators, in order of
//!   first appearance;
//! * time windows (`time_window`): the count of windows closed, then each live
//!   entry's key, start, end (tumbling, sliding) or last event time
//!   (sessions) and accumulators, in creation order;
//! * OVER (ROWS ...) windows (`rows_window`), keyed by the PARTITION BY
//!   values: per partition, in creation order, its key, row count and last
//!   event time (EXPIRE AFTER), the ring rows still read (the last
//!   `max(frame, largest LAG offset + 1)`, oldest first), its running
//!   COUNT / SUM / AVG sums, its MIN / MAX deques as (sequence, value), the
//!   previous ORDER BY values with RANK and DENSE_RANK, and the rows held for
//!   LEAD with their sequence numbers; the exact DOUBLE sums are summed again
//!   from the ring on restore (their value depends only on the frame);
//! * ORDER BY / LIMIT (after the body, not keyed): the count of rows emitted
//!   and the rows ORDER BY holds; restored only where
//!   [`RestoreScope::takes_counters_of`](crate::operator::RestoreScope::takes_counters_of)
//!   the old partition (V2 runs such a job on one partition);
//! * joins of two streams (`interval_join`, `regular_join`, `window_join`):
//!   the counters and watermark, then per input its live rows in arrival
//!   order, each as its key (a window join's ending with the window start),
//!   values, event time, whether it was paired (LEFT's NULL rows) and expiry,
//!   keyed by the join key.
//!
//! Keyed entries go where [`RestoreScope::owns`](crate::operator::RestoreScope::owns)
//! their key; counters where it takes the old partition's counters.
//!
//! The encoding of every operator is versioned by [`STATE_VERSION`]; a state of
//! another version, or of another operator, is refused with an error naming
//! both.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::operator::OperatorState;
use crate::query::QueryStats;

/// The version of every operator's state encoding. Bump it when an encoding
/// changes; a checkpoint of another version is then refused, not misread.
pub const STATE_VERSION: u32 = 1;

/// Appends `value`'s encoding to `out`.
pub(crate) fn put<T: Serialize + ?Sized>(
    operator: &'static str,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<()> {
    let bytes = postcard::to_extend(value, std::mem::take(out)).map_err(|e| Error::State {
        operator,
        message: format!("cannot encode the state: {e}"),
    })?;
    *out = bytes;
    Ok(())
}

/// Decodes one value from the front of `bytes`, returning it and the rest.
pub(crate) fn take<'b, T: DeserializeOwned>(
    operator: &'static str,
    bytes: &'b [u8],
) -> Result<(T, &'b [u8])> {
    postcard::take_from_bytes(bytes).map_err(|e| Error::State {
        operator,
        message: format!("the stored state cannot be read ({e}): is it from another plan?"),
    })
}

/// Checks that `state` was written by operator `operator` in this version.
pub(crate) fn check(operator: &'static str, state: &OperatorState) -> Result<()> {
    if state.operator != operator {
        return Err(Error::State {
            operator,
            message: format!("the stored state is a '{}' operator's", state.operator),
        });
    }
    if state.version != STATE_VERSION {
        return Err(Error::State {
            operator,
            message: format!(
                "the stored state has encoding version {}; this Velo reads version {STATE_VERSION}",
                state.version
            ),
        });
    }
    Ok(())
}

/// An [`OperatorState`] of this version.
pub(crate) fn state(operator: &'static str, bytes: Vec<u8>) -> OperatorState {
    OperatorState {
        operator,
        version: STATE_VERSION,
        bytes,
    }
}

/// The counts an operator that takes rows stores first, with its watermark:
/// `rows_in`, `filtered`, `failed`, `rows_out`, `contributed`, `late`,
/// `late_dropped`, `late_dead_lettered`.
type Counts = ([u64; 8], Option<i64>);

/// Appends `stats`' counts and `watermark` to `out`.
pub(crate) fn put_counts(
    operator: &'static str,
    stats: &QueryStats,
    watermark: Option<i64>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let s = stats;
    let counts: Counts = (
        [
            s.rows_in,
            s.filtered,
            s.failed,
            s.rows_out,
            s.contributed,
            s.late,
            s.late_dropped,
            s.late_dead_lettered,
        ],
        watermark,
    );
    put(operator, &counts, out)
}

/// Reads what [`put_counts`] wrote at the front of `bytes`: the counts (the
/// other fields of the stats left 0), the watermark and the bytes after.
pub(crate) fn take_counts<'b>(
    operator: &'static str,
    bytes: &'b [u8],
) -> Result<(QueryStats, Option<i64>, &'b [u8])> {
    let (
        (
            [rows_in, filtered, failed, rows_out, contributed, late, late_dropped, late_dead_lettered],
            watermark,
        ),
        rest,
    ): (Counts, _) = take(operator, bytes)?;
    let stats = QueryStats {
        rows_in,
        filtered,
        failed,
        rows_out,
        contributed,
        late,
        late_dropped,
        late_dead_lettered,
        ..QueryStats::default()
    };
    Ok((stats, watermark, rest))
}

/// Adds the counts of `from` ([`take_counts`]) to `into`.
pub(crate) fn add_counts(into: &mut QueryStats, from: &QueryStats) {
    into.rows_in += from.rows_in;
    into.filtered += from.filtered;
    into.failed += from.failed;
    into.rows_out += from.rows_out;
    into.contributed += from.contributed;
    into.late += from.late;
    into.late_dropped += from.late_dropped;
    into.late_dead_lettered += from.late_dead_lettered;
}
