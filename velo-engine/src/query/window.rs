//! Event-time windows (SPEC §2): TUMBLING, SLIDING (hopping) and SESSION, keyed
//! by the GROUP BY values, closed by watermarks.
//!
//! # Window assignment
//!
//! * `TUMBLING(size)`: a record at `ts` belongs to `[start, start + size)` with
//!   `start = floor(ts / size) * size` (floored division, so negative times work).
//! * `SLIDING(size, advance)`: a record belongs to every `[s, s + size)` with `s` a
//!   multiple of `advance` and `s <= ts < s + size` (size / advance windows when
//!   `advance` divides `size`).
//! * `SESSION(gap)`, per group key: records whose event times are less than `gap`
//!   apart chain into one session `[first_ts, last_ts + gap)`. A record at `ts`
//!   joins every open session of its key with `start - gap < ts < last + gap`; when
//!   that is two sessions they merge ([`Accumulator::merge`], the earlier session
//!   absorbing the later one). A session closes when the watermark reaches
//!   `last_ts + gap`.
//!
//! Every window carries `_window_start` / `_window_end` (TIMESTAMP) at the end of
//! its group row, so the select list and HAVING can use them.
//!
//! # Closing and emitting
//!
//! A window closes when the watermark reaches its end (`end <= watermark`), or at
//! the end of bounded input. With EMIT FINAL its rows are emitted then, ordered by
//! window start, then by when the group's state for that window was created (a
//! merged session keeps the earlier of its parts); with EMIT CHANGES every record
//! emits the updated row of each window it updated (in window-start order) and
//! nothing is emitted at close. In both modes a closed window's state is freed.
//!
//! A late record that is processed anyway (`process_all`, `process_with_warning`)
//! and falls into a window that already closed re-opens that window with fresh
//! state: this is a *late firing*. With EMIT FINAL it is emitted at the next
//! watermark (or at the end of input) and carries the aggregate of the late
//! records only, since the window's earlier state was freed when it closed.
//!
//! # State layout
//!
//! State entries (one per group and window) live in a slab: flat vectors of key
//! values and accumulators with a stride, plus a small metadata record, so that
//! creating an entry reuses a freed one and allocates nothing once the slab has
//! grown to the live state size. Tumbling and sliding entries are found by a hash
//! of (window start, key) and linked, in creation order, into their window's list
//! in a `BTreeMap` ordered by window start, so closing pops whole windows off the
//! front. Sessions are found by key (each key owns a short list of its open
//! sessions, sorted by start) and closed through a min-heap of session ends that
//! is checked lazily: an entry whose session grew is pushed back with its new end.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::mem::size_of;

use hashbrown::HashTable;
use serde::Serialize;
use velo_ast::EmitMode;
use velo_planner::{JobPlan, TimeWindowKind};
use velo_types::{BatchBuilder, Schema, SchemaRef, Value};

use super::group::{compile_keys_and_aggregates, GroupOutput};
use super::output::WindowRun;
use crate::aggregate::{
    check_fallible, fold, fold_checked, Accumulator, AggregateFunction, FoldOrder, NewAccumulator,
};
use crate::error::{Error, Result};
use crate::expr::PhysicalExpr;
use crate::memory::{hash_entry_bytes, values_heap_bytes};
use crate::operator::RestoreScope;
use crate::state;

const NIL: u32 = u32::MAX;

/// The operator name its state is stored under (the select operator's).
const OPERATOR: &str = "time_window";

fn window_overflow() -> Error {
    Error::Overflow {
        context: "window bounds",
    }
}

/// The start of the tumbling window of `size` holding `ts` (`None` on overflow).
pub(crate) fn tumbling_start(ts: i64, size: i64) -> Option<i64> {
    ts.div_euclid(size).checked_mul(size)
}

/// The first and last window starts of the sliding windows holding `ts`, or
/// `None` when a bound overflows.
pub(crate) fn sliding_starts(ts: i64, size: i64, advance: i64) -> Option<(i64, i64)> {
    let last = tumbling_start(ts, advance)?;
    // The smallest multiple of `advance` greater than ts - size.
    let lowest = (ts as i128) - (size as i128) + (advance as i128);
    let first = lowest.div_euclid(advance as i128) * advance as i128;
    let first = i64::try_from(first).ok()?;
    last.checked_add(size)?;
    Some((first, last))
}

/// Slab bookkeeping of one state entry.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Hash of (start, key) for tumbling/sliding; of the key for sessions.
    hash: u64,
    start: i64,
    /// The window's end (tumbling/sliding); the last event time (sessions).
    end_or_last: i64,
    /// Creation order, for the emission order at close.
    seq: u64,
    /// Next entry in the window's list (tumbling/sliding); the owning key entry
    /// (sessions).
    link: u32,
    /// Bumped when the slot is freed, so stale heap entries can be recognised.
    generation: u32,
    live: bool,
}

/// The state entries of one tumbling or sliding window, in creation order.
#[derive(Debug, Clone, Copy)]
struct WindowList {
    head: u32,
    tail: u32,
    end: i64,
}

/// A session key: its open sessions' slots, sorted by start.
#[derive(Debug, Default)]
struct SessionKey {
    hash: u64,
    sessions: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
enum Assigner {
    Tumbling { size: i64 },
    Sliding { size: i64, advance: i64 },
    Session { gap: i64 },
}

/// Windowed GROUP BY; see the module docs.
#[derive(Debug)]
pub(crate) struct WindowAggregate {
    assigner: Assigner,
    keys: Vec<PhysicalExpr>,
    aggregates: Vec<(AggregateFunction, Option<PhysicalExpr>)>,
    output: GroupOutput,
    emit: EmitMode,
    hasher: ahash::RandomState,
    nk: usize,
    na: usize,
    /// The slab: `nk` key values and `na` accumulators per slot.
    key_store: Vec<Value>,
    acc_store: Vec<Accumulator>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    seq: u64,
    /// Tumbling/sliding: slots by (start, key). Sessions: key entries by key.
    index: HashTable<u32>,
    /// Tumbling/sliding: open windows by start.
    windows: BTreeMap<i64, WindowList>,
    /// Sessions: per-key entries (a slab too) and the lazy heap of session ends.
    session_keys: Vec<SessionKey>,
    free_keys: Vec<u32>,
    heap: BinaryHeap<Reverse<(i64, u32, u32)>>,
    /// Windows closed so far (see [`super::QueryStats::windows_emitted`]).
    windows_closed: u64,
    key_scratch: Vec<Value>,
    arg_scratch: Vec<Value>,
    row_scratch: Vec<Value>,
    close_scratch: Vec<u32>,
    join_scratch: Vec<usize>,
    merge_scratch: Vec<Accumulator>,
    /// Sliding windows with `fallible`: the entry (or `NIL`, none yet) of
    /// each window of the current row, found while checking its update.
    slot_scratch: Vec<u32>,
    /// Some accumulator's update can fail ([`crate::aggregate::NewAccumulator::can_fail`]): a
    /// sliding row is then checked against all its windows before any changes.
    fallible: bool,
    /// Which accumulators can fail, for [`fold`].
    order: FoldOrder,
    /// Which accumulators can fail on a fresh entry's first update.
    fresh_order: FoldOrder,
    /// One fresh accumulator per aggregate, copied to reset a slot.
    fresh: Vec<Accumulator>,
    /// Memory estimate ([`WindowAggregate::state_bytes`]): the fixed bytes of a
    /// live state entry, from the key and accumulator layout, ...
    entry_bytes: usize,
    /// ... plus what live entries hold beyond a fresh entry (key strings,
    /// string MIN/MAX/FIRST/LAST values, DISTINCT sets), kept as it changes ...
    heap_bytes: usize,
    /// ... which accumulators only do when some can grow.
    accumulators_grow: bool,
    /// `heap_bytes` of the fresh accumulators of one entry.
    fresh_heap_bytes: usize,
}

impl WindowAggregate {
    pub(crate) fn new(
        plan: &JobPlan,
        input: &Schema,
        qualifiers: &[String],
        kind: TimeWindowKind,
    ) -> Result<WindowAggregate> {
        let ((keys, aggregates), grouping) = compile_keys_and_aggregates(plan, input, qualifiers)?;
        let output = GroupOutput::new(plan, qualifiers, &grouping, true)?;
        let assigner = match kind {
            TimeWindowKind::Tumbling { size_ms } => Assigner::Tumbling { size: size_ms },
            TimeWindowKind::Sliding {
                size_ms,
                advance_ms,
            } => Assigner::Sliding {
                size: size_ms,
                advance: advance_ms,
            },
            TimeWindowKind::Session { gap_ms } => Assigner::Session { gap: gap_ms },
        };
        let (nk, na) = (keys.len(), aggregates.len());
        let fresh: Vec<Accumulator> = aggregates
            .iter()
            .map(|(f, _)| f.new_accumulator())
            .collect();
        let fresh_heap_bytes = fresh.iter().map(Accumulator::heap_bytes).sum::<usize>();
        // Tumbling and sliding entries each have an index entry; sessions have
        // one per key (counted with the key).
        let index_bytes = match assigner {
            Assigner::Session { .. } => 0,
            _ => hash_entry_bytes(size_of::<u32>()),
        };
        Ok(WindowAggregate {
            entry_bytes: size_of::<Slot>()
                + nk * size_of::<Value>()
                + na * size_of::<Accumulator>()
                + fresh_heap_bytes
                + index_bytes,
            heap_bytes: 0,
            accumulators_grow: aggregates.iter().any(|(f, _)| f.may_grow()),
            fallible: aggregates.iter().any(|(f, _)| f.can_fail()),
            order: FoldOrder::for_functions(aggregates.iter().map(|(f, _)| f)),
            fresh_order: FoldOrder::for_fresh(aggregates.iter().map(|(f, _)| f)),
            slot_scratch: Vec::new(),
            fresh_heap_bytes,
            assigner,
            output,
            emit: plan.analysis.emit,
            hasher: ahash::RandomState::with_seeds(0x5ee1, 0xa11, 0xc0de, 0xfeed),
            nk,
            na,
            key_store: Vec::new(),
            acc_store: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            seq: 0,
            index: HashTable::new(),
            windows: BTreeMap::new(),
            session_keys: Vec::new(),
            free_keys: Vec::new(),
            heap: BinaryHeap::new(),
            windows_closed: 0,
            key_scratch: Vec::with_capacity(nk),
            arg_scratch: Vec::with_capacity(na),
            row_scratch: Vec::with_capacity(nk + na + 2),
            close_scratch: Vec::new(),
            join_scratch: Vec::new(),
            merge_scratch: Vec::new(),
            fresh,
            keys,
            aggregates,
        })
    }

    pub(crate) fn output_schema(&self) -> &SchemaRef {
        self.output.output_schema()
    }

    pub(crate) fn select_texts(&self) -> &[String] {
        self.output.select_texts()
    }

    pub(crate) fn emit_mode(&self) -> EmitMode {
        self.emit
    }

    /// State entries held (one per group and open window).
    pub(crate) fn group_count(&self) -> usize {
        self.live
    }

    /// Open windows: distinct window intervals for tumbling and sliding windows,
    /// sessions for session windows.
    pub(crate) fn windows_open(&self) -> usize {
        match self.assigner {
            Assigner::Session { .. } => self.live,
            _ => self.windows.len(),
        }
    }

    pub(crate) fn windows_closed(&self) -> u64 {
        self.windows_closed
    }

    /// An estimate of the memory the open windows hold, O(1): every live state
    /// entry (fixed size, plus the strings and DISTINCT sets it holds, summed as
    /// they change), the open windows' list heads (tumbling, sliding), and the
    /// session keys and the heap of session ends (sessions). Slots freed by
    /// closed windows and kept for reuse are not counted: the estimate follows
    /// the live state, and the slab never grows past its peak.
    pub(crate) fn state_bytes(&self) -> usize {
        // A B-tree holds its entries in nodes about two thirds full.
        const WINDOW_LIST_BYTES: usize = (size_of::<i64>() + size_of::<WindowList>()) * 3 / 2;
        const SESSION_KEY_BYTES: usize =
            size_of::<SessionKey>() + 2 * size_of::<u32>() + hash_entry_bytes(size_of::<u32>());
        let live_keys = self.session_keys.len() - self.free_keys.len();
        self.live * self.entry_bytes
            + self.heap_bytes
            + self.windows.len() * WINDOW_LIST_BYTES
            + live_keys * SESSION_KEY_BYTES
            + self.heap.len() * size_of::<Reverse<(i64, u32, u32)>>()
    }

    /// What slot `s`'s accumulators hold outside their inline size.
    fn acc_heap_bytes(&self, s: usize) -> usize {
        self.acc_store[s * self.na..(s + 1) * self.na]
            .iter()
            .map(Accumulator::heap_bytes)
            .sum()
    }

    /// Folds one input row with event time `ts` into its window(s); with EMIT
    /// CHANGES appends each updated window's row to `out`. The key and the
    /// aggregate arguments are evaluated, and the aggregate updates checked in
    /// every window the row belongs to, before any state changes, so a row whose
    /// evaluation or update fails leaves no trace: no window updated, no entry
    /// created, no row emitted.
    pub(crate) fn update(&mut self, row: &[Value], ts: i64, out: &mut BatchBuilder) -> Result<()> {
        self.key_scratch.clear();
        for k in &self.keys {
            self.key_scratch.push(k.eval(row)?);
        }
        self.arg_scratch.clear();
        for (_, arg) in &self.aggregates {
            self.arg_scratch.push(match arg {
                Some(a) => a.eval(row)?,
                None => Value::Null,
            });
        }
        let key_hash = self.hasher.hash_one(self.key_scratch.as_slice());
        match self.assigner {
            Assigner::Tumbling { size } => {
                let start = tumbling_start(ts, size).ok_or_else(window_overflow)?;
                let end = start.checked_add(size).ok_or_else(window_overflow)?;
                let hash = mix(key_hash, start);
                let found = self.find_window(hash, start);
                self.update_window(hash, start, end, found, false, true, out)
            }
            Assigner::Sliding { size, advance } => {
                let (first, last) =
                    sliding_starts(ts, size, advance).ok_or_else(window_overflow)?;
                self.update_sliding(key_hash, first, last, size, advance, out)
            }
            Assigner::Session { gap } => {
                ts.checked_add(gap).ok_or_else(window_overflow)?;
                self.update_session(key_hash, ts, gap, out)
            }
        }
    }

    /// Takes a slot off the free list (or grows the slab) for a new state entry
    /// holding `key_scratch`'s values and fresh accumulators. With `take_key` the
    /// key values are moved out of `key_scratch` (the row needs them no more).
    fn alloc(&mut self, hash: u64, start: i64, end_or_last: i64, link: u32, take_key: bool) -> u32 {
        let seq = self.seq;
        self.seq += 1;
        self.live += 1;
        self.heap_bytes += values_heap_bytes(&self.key_scratch);
        if let Some(slot) = self.free.pop() {
            let s = slot as usize;
            let dst = &mut self.key_store[s * self.nk..(s + 1) * self.nk];
            if take_key {
                dst.swap_with_slice(&mut self.key_scratch);
            } else {
                dst.clone_from_slice(&self.key_scratch);
            }
            let m = &mut self.slots[s];
            *m = Slot {
                hash,
                start,
                end_or_last,
                seq,
                link,
                generation: m.generation,
                live: true,
            };
            slot
        } else {
            let slot = self.slots.len() as u32;
            if take_key {
                self.key_store.append(&mut self.key_scratch);
            } else {
                self.key_store.extend_from_slice(&self.key_scratch);
            }
            self.acc_store
                .extend(self.aggregates.iter().map(|(f, _)| f.new_accumulator()));
            self.slots.push(Slot {
                hash,
                start,
                end_or_last,
                seq,
                link,
                generation: 0,
                live: true,
            });
            slot
        }
    }

    /// Returns a slot to the free list, resetting its state (which releases the
    /// memory its values hold).
    fn release(&mut self, slot: u32) {
        let s = slot as usize;
        let mut held = values_heap_bytes(&self.key_store[s * self.nk..(s + 1) * self.nk]);
        if self.accumulators_grow {
            held += self.acc_heap_bytes(s).saturating_sub(self.fresh_heap_bytes);
        }
        self.heap_bytes = self.heap_bytes.saturating_sub(held);
        for v in &mut self.key_store[s * self.nk..(s + 1) * self.nk] {
            if !v.is_null() {
                *v = Value::Null;
            }
        }
        for (acc, fresh) in self.acc_store[s * self.na..(s + 1) * self.na]
            .iter_mut()
            .zip(&self.fresh)
        {
            acc.reset_from(fresh);
        }
        let m = &mut self.slots[s];
        m.live = false;
        m.generation = m.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
    }

    /// Folds the current row's arguments into `slot`'s accumulators: all or
    /// none, or with `checked` (after [`check_fallible`] succeeded) directly.
    #[inline]
    fn fold_args(&mut self, slot: u32, checked: bool) -> Result<()> {
        let s = slot as usize;
        let accumulators = &mut self.acc_store[s * self.na..(s + 1) * self.na];
        let grown = self.accumulators_grow.then_some(&mut self.heap_bytes);
        if checked {
            fold_checked(accumulators, &self.arg_scratch, grown)
        } else {
            fold(accumulators, &self.arg_scratch, self.order, grown)
        }
    }

    /// The entry of the (tumbling or sliding) window at `start` for the key in
    /// `key_scratch`, if there is one; `hash` is [`mix`] of the key's hash and
    /// `start`.
    #[inline]
    fn find_window(&self, hash: u64, start: i64) -> Option<u32> {
        let (slots, keys, nk, key) = (&self.slots, &self.key_store, self.nk, &self.key_scratch);
        self.index
            .find(hash, |&i| {
                let i = i as usize;
                slots[i].start == start && keys[i * nk..(i + 1) * nk] == key[..]
            })
            .copied()
    }

    /// A sliding row, into each of its windows (starts `first` to `last`,
    /// `advance` apart): all of them or none. When an update can fail, it is
    /// checked in every window before any changes.
    fn update_sliding(
        &mut self,
        key_hash: u64,
        first: i64,
        last: i64,
        size: i64,
        advance: i64,
        out: &mut BatchBuilder,
    ) -> Result<()> {
        let checked = self.fallible;
        if checked {
            self.slot_scratch.clear();
            let mut fresh_checked = false;
            let mut start = first;
            loop {
                let found = self.find_window(mix(key_hash, start), start);
                match found {
                    Some(slot) => {
                        let s = slot as usize;
                        check_fallible(
                            &self.acc_store[s * self.na..(s + 1) * self.na],
                            &self.arg_scratch,
                            self.order,
                        )?;
                    }
                    None if !fresh_checked => {
                        check_fallible(&self.fresh, &self.arg_scratch, self.fresh_order)?;
                        fresh_checked = true;
                    }
                    None => {}
                }
                self.slot_scratch.push(found.unwrap_or(NIL));
                if start >= last {
                    break;
                }
                start += advance;
            }
        }
        // Every window takes the row, even when emitting one's row fails (the
        // first such error is returned): the row is in all of them or in none.
        let mut result = Ok(());
        let mut start = first;
        let mut n = 0;
        loop {
            let is_last = start >= last;
            let hash = mix(key_hash, start);
            let found = if checked {
                Some(self.slot_scratch[n]).filter(|&s| s != NIL)
            } else {
                self.find_window(hash, start)
            };
            let r = self.update_window(hash, start, start + size, found, checked, is_last, out);
            if result.is_ok() {
                result = r;
            }
            if is_last {
                return result;
            }
            start += advance;
            n += 1;
        }
    }

    /// One (tumbling or sliding) window of the current row: its entry `found`,
    /// or a new one. With `checked` the caller has checked that the row's
    /// update succeeds there ([`check_fallible`]); otherwise a failing update changes
    /// nothing (and creates no entry). With `take_key` a new entry takes the
    /// key values out of `key_scratch` (the row's last window).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn update_window(
        &mut self,
        hash: u64,
        start: i64,
        end: i64,
        found: Option<u32>,
        checked: bool,
        take_key: bool,
        out: &mut BatchBuilder,
    ) -> Result<()> {
        let slot = match found {
            Some(i) => {
                self.fold_args(i, checked)?;
                i
            }
            None => {
                if !checked {
                    check_fallible(&self.fresh, &self.arg_scratch, self.fresh_order)?;
                }
                let i = self.alloc(hash, start, end, NIL, take_key);
                self.link_window(i, hash, start, end);
                self.fold_args(i, true)?;
                i
            }
        };
        if self.emit == EmitMode::Changes {
            self.emit_slot(slot, out)?;
        }
        Ok(())
    }

    /// Indexes the new (tumbling or sliding) entry `i` and appends it to its
    /// window's list.
    fn link_window(&mut self, i: u32, hash: u64, start: i64, end: i64) {
        let slots = &self.slots;
        self.index
            .insert_unique(hash, i, |&j| slots[j as usize].hash);
        match self.windows.entry(start) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(WindowList {
                    head: i,
                    tail: i,
                    end,
                });
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let list = o.get_mut();
                self.slots[list.tail as usize].link = i;
                list.tail = i;
            }
        }
    }

    /// Appends the windows' state to `out` for a checkpoint: the count of
    /// windows closed, then each live entry in creation order as its key,
    /// start, end (tumbling, sliding) or last event time (sessions) and
    /// accumulators.
    pub(crate) fn store(&self, out: &mut Vec<u8>) -> Result<()> {
        struct Entries<'a>(&'a WindowAggregate, Vec<u32>);
        impl Serialize for Entries<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let w = self.0;
                s.collect_seq(self.1.iter().map(|&slot| {
                    let i = slot as usize;
                    let m = &w.slots[i];
                    (
                        &w.key_store[i * w.nk..(i + 1) * w.nk],
                        m.start,
                        m.end_or_last,
                        &w.acc_store[i * w.na..(i + 1) * w.na],
                    )
                }))
            }
        }
        let mut live: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&i| self.slots[i as usize].live)
            .collect();
        live.sort_unstable_by_key(|&i| self.slots[i as usize].seq);
        state::put(OPERATOR, &(self.windows_closed, Entries(self, live)), out)
    }

    /// Adds the entries [`WindowAggregate::store`] wrote at the front of
    /// `bytes` whose key `scope` owns (and, from old partition `old`, its
    /// count of closed windows when `scope` takes its counters); returns the
    /// bytes after them.
    pub(crate) fn load<'b>(
        &mut self,
        bytes: &'b [u8],
        old: usize,
        scope: &RestoreScope<'_>,
    ) -> Result<&'b [u8]> {
        type Entry = (Vec<Value>, i64, i64, Vec<Accumulator>);
        let ((closed, entries), rest): ((u64, Vec<Entry>), _) = state::take(OPERATOR, bytes)?;
        if scope.takes_counters_of(old) {
            self.windows_closed += closed;
        }
        for (key, start, end_or_last, accumulators) in entries {
            if key.len() != self.nk || accumulators.len() != self.na {
                return Err(Error::State {
                    operator: OPERATOR,
                    message: format!(
                        "a stored window has {} keys and {} aggregates; this query has {} and {}",
                        key.len(),
                        accumulators.len(),
                        self.nk,
                        self.na
                    ),
                });
            }
            if scope.owns(&key) {
                self.restore_entry(key, start, end_or_last, accumulators)?;
            }
        }
        Ok(rest)
    }

    /// One stored entry back into the slab, its index and its window list or
    /// session list.
    fn restore_entry(
        &mut self,
        key: Vec<Value>,
        start: i64,
        end_or_last: i64,
        accumulators: Vec<Accumulator>,
    ) -> Result<()> {
        self.key_scratch.clear();
        self.key_scratch.extend(key);
        let key_hash = self.hasher.hash_one(self.key_scratch.as_slice());
        let slot = match self.assigner {
            Assigner::Tumbling { .. } | Assigner::Sliding { .. } => {
                let hash = mix(key_hash, start);
                if let Some(i) = self.find_window(hash, start) {
                    // Held by two partitions: one state of both.
                    let i = i as usize;
                    for (acc, other) in self.acc_store[i * self.na..(i + 1) * self.na]
                        .iter_mut()
                        .zip(&accumulators)
                    {
                        acc.merge(other)?;
                    }
                    return Ok(());
                }
                let i = self.alloc(hash, start, end_or_last, NIL, true);
                self.link_window(i, hash, start, end_or_last);
                i
            }
            Assigner::Session { gap } => {
                let end = end_or_last.checked_add(gap).ok_or_else(window_overflow)?;
                let (keys, nk, key, entries) = (
                    &self.key_store,
                    self.nk,
                    &self.key_scratch,
                    &self.session_keys,
                );
                let found = self
                    .index
                    .find(key_hash, |&e| {
                        let first = entries[e as usize].sessions[0] as usize;
                        keys[first * nk..(first + 1) * nk] == key[..]
                    })
                    .copied();
                let (e, new_key) = match found {
                    Some(e) => (e, false),
                    None => match self.free_keys.pop() {
                        Some(e) => {
                            self.session_keys[e as usize].hash = key_hash;
                            (e, true)
                        }
                        None => {
                            self.session_keys.push(SessionKey {
                                hash: key_hash,
                                sessions: Vec::with_capacity(2),
                            });
                            ((self.session_keys.len() - 1) as u32, true)
                        }
                    },
                };
                let slot = self.alloc(key_hash, start, end_or_last, e, false);
                let slots = &self.slots;
                let sessions = &mut self.session_keys[e as usize].sessions;
                let pos = sessions
                    .iter()
                    .position(|&s| slots[s as usize].start > start)
                    .unwrap_or(sessions.len());
                sessions.insert(pos, slot);
                if new_key {
                    let entries = &self.session_keys;
                    self.index
                        .insert_unique(key_hash, e, |&j| entries[j as usize].hash);
                }
                let generation = self.slots[slot as usize].generation;
                self.heap.push(Reverse((end, slot, generation)));
                slot
            }
        };
        let s = slot as usize;
        for (dst, src) in self.acc_store[s * self.na..(s + 1) * self.na]
            .iter_mut()
            .zip(accumulators)
        {
            *dst = src;
        }
        if self.accumulators_grow {
            self.heap_bytes += self.acc_heap_bytes(s).saturating_sub(self.fresh_heap_bytes);
        }
        Ok(())
    }

    /// The current row (key in `key_scratch`, arguments in `arg_scratch`) at
    /// event time `ts` into its key's sessions.
    fn update_session(
        &mut self,
        key_hash: u64,
        ts: i64,
        gap: i64,
        out: &mut BatchBuilder,
    ) -> Result<()> {
        let (keys, nk, key, entries) = (
            &self.key_store,
            self.nk,
            &self.key_scratch,
            &self.session_keys,
        );
        let found = self.index.find(key_hash, |&e| {
            let first = entries[e as usize].sessions[0] as usize;
            keys[first * nk..(first + 1) * nk] == key[..]
        });
        let slot = match found {
            None => {
                // A row whose update fails creates no key entry nor session.
                check_fallible(&self.fresh, &self.arg_scratch, self.fresh_order)?;
                let e = match self.free_keys.pop() {
                    Some(e) => {
                        self.session_keys[e as usize].hash = key_hash;
                        e
                    }
                    None => {
                        self.session_keys.push(SessionKey {
                            hash: key_hash,
                            sessions: Vec::with_capacity(2),
                        });
                        (self.session_keys.len() - 1) as u32
                    }
                };
                let slot = self.new_session(key_hash, ts, gap, e, 0);
                let entries = &self.session_keys;
                self.index
                    .insert_unique(key_hash, e, |&j| entries[j as usize].hash);
                self.fold_args(slot, true)?;
                slot
            }
            Some(&entry) => {
                // The sessions this record falls into (contiguous in start order).
                self.join_scratch.clear();
                let (t, g) = (ts as i128, gap as i128);
                let sessions = &self.session_keys[entry as usize].sessions;
                for (pos, &s) in sessions.iter().enumerate() {
                    let m = &self.slots[s as usize];
                    if (m.start as i128) - g < t && t < (m.end_or_last as i128) + g {
                        self.join_scratch.push(pos);
                    }
                }
                match self.join_scratch.len() {
                    0 => {
                        let pos = sessions
                            .iter()
                            .position(|&s| self.slots[s as usize].start > ts)
                            .unwrap_or(sessions.len());
                        check_fallible(&self.fresh, &self.arg_scratch, self.fresh_order)?;
                        let slot = self.new_session(key_hash, ts, gap, entry, pos);
                        self.fold_args(slot, true)?;
                        slot
                    }
                    1 => {
                        let slot = sessions[self.join_scratch[0]];
                        self.fold_args(slot, false)?;
                        let m = &mut self.slots[slot as usize];
                        m.start = m.start.min(ts);
                        m.end_or_last = m.end_or_last.max(ts);
                        slot
                    }
                    _ => self.merge_sessions(entry, ts)?,
                }
            }
        };
        if self.emit == EmitMode::Changes {
            self.emit_slot(slot, out)?;
        }
        Ok(())
    }

    /// A new session `[ts, ts + gap)` for key entry `entry`, at position `pos` of
    /// its session list (the caller folds the row into it).
    fn new_session(&mut self, key_hash: u64, ts: i64, gap: i64, entry: u32, pos: usize) -> u32 {
        let slot = self.alloc(key_hash, ts, ts, entry, false);
        self.session_keys[entry as usize].sessions.insert(pos, slot);
        let generation = self.slots[slot as usize].generation;
        self.heap.push(Reverse((ts + gap, slot, generation)));
        slot
    }

    /// The current row bridges the sessions at `join_scratch` positions of key
    /// entry `entry`: the earliest absorbs the others, then takes the row. The
    /// merged state is built aside and only committed when every merge and
    /// update succeeds, so a failing row leaves the sessions as they were.
    fn merge_sessions(&mut self, entry: u32, ts: i64) -> Result<u32> {
        let na = self.na;
        let sessions = &self.session_keys[entry as usize].sessions;
        let target = sessions[self.join_scratch[0]];
        let t = target as usize;
        self.merge_scratch.clear();
        self.merge_scratch
            .extend_from_slice(&self.acc_store[t * na..(t + 1) * na]);
        let (mut start, mut last, mut seq) = {
            let m = &self.slots[t];
            (m.start.min(ts), m.end_or_last.max(ts), m.seq)
        };
        for &pos in &self.join_scratch[1..] {
            let o = sessions[pos] as usize;
            for (acc, other) in self
                .merge_scratch
                .iter_mut()
                .zip(&self.acc_store[o * na..(o + 1) * na])
            {
                acc.merge(other)?;
            }
            let m = &self.slots[o];
            start = start.min(m.start);
            last = last.max(m.end_or_last);
            seq = seq.min(m.seq);
        }
        for (acc, v) in self.merge_scratch.iter_mut().zip(&self.arg_scratch) {
            acc.update(v)?;
        }
        // Commit: the merged state into the target, the others freed.
        let before = if self.accumulators_grow {
            self.acc_heap_bytes(t)
        } else {
            0
        };
        for (dst, src) in self.acc_store[t * na..(t + 1) * na]
            .iter_mut()
            .zip(self.merge_scratch.drain(..))
        {
            *dst = src;
        }
        if self.accumulators_grow {
            self.heap_bytes = (self.heap_bytes + self.acc_heap_bytes(t)).saturating_sub(before);
        }
        let m = &mut self.slots[t];
        (m.start, m.end_or_last, m.seq) = (start, last, seq);
        let first = self.join_scratch[0];
        for k in (1..self.join_scratch.len()).rev() {
            let pos = self.join_scratch[k];
            let other = self.session_keys[entry as usize].sessions.remove(pos);
            self.release(other);
        }
        debug_assert_eq!(self.session_keys[entry as usize].sessions[first], target);
        Ok(target)
    }

    /// Appends the row of one state entry (if HAVING holds) to `out`.
    fn emit_slot(&mut self, slot: u32, out: &mut BatchBuilder) -> Result<()> {
        self.emit_slot_inner(slot, false, out)
    }

    /// Emits a closing entry: its key values are moved out, not copied. Notes
    /// in `runs` which window the row (if HAVING kept it) belongs to, for a
    /// per-window ORDER BY / LIMIT.
    fn emit_closing(
        &mut self,
        slot: u32,
        out: &mut BatchBuilder,
        runs: &mut Vec<WindowRun>,
    ) -> Result<()> {
        self.emit_slot_inner(slot, true, out)?;
        let m = self.slots[slot as usize];
        let end = match self.assigner {
            Assigner::Session { gap } => m.end_or_last + gap,
            _ => m.end_or_last,
        };
        WindowRun::note(runs, (m.start, end), out.num_rows());
        Ok(())
    }

    #[inline]
    fn emit_slot_inner(&mut self, slot: u32, take: bool, out: &mut BatchBuilder) -> Result<()> {
        let s = slot as usize;
        let m = self.slots[s];
        let end = match self.assigner {
            // Cannot overflow: checked when the session's records arrived.
            Assigner::Session { gap } => m.end_or_last + gap,
            _ => m.end_or_last,
        };
        self.row_scratch.clear();
        let keys = &mut self.key_store[s * self.nk..(s + 1) * self.nk];
        if take {
            // The entry gives up its key values: they leave the estimate now.
            self.heap_bytes = self.heap_bytes.saturating_sub(values_heap_bytes(keys));
            self.row_scratch.extend(keys.iter_mut().map(std::mem::take));
        } else {
            self.row_scratch.extend_from_slice(keys);
        }
        for acc in &self.acc_store[s * self.na..(s + 1) * self.na] {
            self.row_scratch.push(acc.evaluate()?);
        }
        self.row_scratch.push(Value::Timestamp(m.start));
        self.row_scratch.push(Value::Timestamp(end));
        self.output.emit(&mut self.row_scratch, out)
    }

    /// Closes every window whose end is at or below `watermark` (every window
    /// when `None`: end of input): emits their rows with EMIT FINAL, frees their
    /// state in both modes. `runs` gets which rows of `out` belong to which
    /// window ([`WindowRun`]).
    pub(crate) fn close(
        &mut self,
        watermark: Option<i64>,
        out: &mut BatchBuilder,
        runs: &mut Vec<WindowRun>,
    ) -> Result<()> {
        let wm = watermark.unwrap_or(i64::MAX);
        match self.assigner {
            Assigner::Session { gap } => self.close_sessions(wm, gap, out, runs),
            _ => {
                // An emission error is reported after the windows are freed, so
                // that state stays consistent.
                let mut result = Ok(());
                while let Some(entry) = self.windows.first_entry() {
                    if watermark.is_some() && entry.get().end > wm {
                        break;
                    }
                    let list = entry.remove();
                    self.windows_closed += 1;
                    let mut slot = list.head;
                    while slot != NIL {
                        let next = self.slots[slot as usize].link;
                        if self.emit == EmitMode::Final && result.is_ok() {
                            result = self.emit_closing(slot, out, runs);
                        }
                        let hash = self.slots[slot as usize].hash;
                        if let Ok(e) = self.index.find_entry(hash, |&i| i == slot) {
                            e.remove();
                        }
                        self.release(slot);
                        slot = next;
                    }
                }
                result
            }
        }
    }

    fn close_sessions(
        &mut self,
        wm: i64,
        gap: i64,
        out: &mut BatchBuilder,
        runs: &mut Vec<WindowRun>,
    ) -> Result<()> {
        self.close_scratch.clear();
        while let Some(&Reverse((end, slot, generation))) = self.heap.peek() {
            if end > wm {
                break;
            }
            self.heap.pop();
            let m = &self.slots[slot as usize];
            if !m.live || m.generation != generation {
                continue; // freed (merged away or closed) since it was pushed
            }
            let current = m.end_or_last + gap;
            if current > wm {
                self.heap.push(Reverse((current, slot, generation)));
            } else {
                self.close_scratch.push(slot);
            }
        }
        let slots = &self.slots;
        self.close_scratch.sort_unstable_by_key(|&s| {
            let m = &slots[s as usize];
            (m.start, m.seq)
        });
        let closing = std::mem::take(&mut self.close_scratch);
        let mut result = Ok(());
        for &slot in &closing {
            if self.emit == EmitMode::Final && result.is_ok() {
                result = self.emit_closing(slot, out, runs);
            }
            self.windows_closed += 1;
            let entry = self.slots[slot as usize].link;
            let key = &mut self.session_keys[entry as usize];
            if let Some(pos) = key.sessions.iter().position(|&s| s == slot) {
                key.sessions.remove(pos);
            }
            if key.sessions.is_empty() {
                let hash = key.hash;
                if let Ok(e) = self.index.find_entry(hash, |&i| i == entry) {
                    e.remove();
                }
                self.free_keys.push(entry);
            }
            self.release(slot);
        }
        self.close_scratch = closing;
        result
    }
}

/// Mixes a key hash with a window start into the hash of a tumbling or sliding
/// state entry.
#[inline]
fn mix(key_hash: u64, start: i64) -> u64 {
    let x = (key_hash ^ (start as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) as u128
        * 0xD6E8_FEB8_6659_FD93u128;
    (x as u64) ^ ((x >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_floors_negative_times_and_ends_are_exclusive() {
        assert_eq!(tumbling_start(0, 10), Some(0));
        assert_eq!(tumbling_start(9, 10), Some(0));
        assert_eq!(tumbling_start(10, 10), Some(10)); // the end belongs to the next window
        assert_eq!(tumbling_start(-1, 10), Some(-10));
        assert_eq!(tumbling_start(-10, 10), Some(-10));
        assert_eq!(tumbling_start(-11, 10), Some(-20));
        assert_eq!(tumbling_start(i64::MAX, 10), Some(i64::MAX - 7));
        // floor(MIN / 3) * 3 is below i64::MIN.
        assert_eq!(tumbling_start(i64::MIN, 3), None);
        assert_eq!(tumbling_start(i64::MIN, 2), Some(i64::MIN));
    }

    fn brute_sliding(ts: i64, size: i64, advance: i64) -> Vec<i64> {
        let lo = (ts - size).div_euclid(advance) * advance - advance;
        (0..)
            .map(|i| lo + i * advance)
            .take_while(|s| *s <= ts)
            .filter(|s| *s <= ts && ts < s + size)
            .collect()
    }

    #[test]
    fn sliding_windows_cover_exactly_the_windows_holding_the_time() {
        for size in 1..12 {
            for advance in 1..=size {
                for ts in -30..30 {
                    let expect = brute_sliding(ts, size, advance);
                    let (first, last) = sliding_starts(ts, size, advance).unwrap();
                    let got: Vec<i64> = (0..)
                        .map(|i| first + i * advance)
                        .take_while(|s| *s <= last)
                        .collect();
                    assert_eq!(got, expect, "ts {ts} size {size} advance {advance}");
                    if size % advance == 0 {
                        assert_eq!(got.len() as i64, size / advance);
                    }
                }
            }
        }
        // 10 minutes advancing by 2: five windows, the last one starting at the
        // record's own 2-minute boundary.
        let (first, last) = sliding_starts(125_000, 600_000, 120_000).unwrap();
        assert_eq!((first, last), (-360_000, 120_000));
        assert_eq!(sliding_starts(i64::MAX - 1, 10, 5), None);
    }

    #[test]
    fn mix_separates_starts_and_keys() {
        let a = mix(1, 0);
        assert_ne!(a, mix(1, 10));
        assert_ne!(a, mix(2, 0));
        assert_eq!(a, mix(1, 0));
    }
}
