//! Joins of two streams (SPEC §2): interval and regular joins, as one
//! two-input [`Operator`], [`StreamJoin`].
//!
//! # Design
//!
//! Each input keeps the rows it may still have to pair, in a [`SideState`]:
//! the rows' values in one flat arena, their key values in another, and a
//! `hashbrown::HashTable` from the key to the newest row with that key, each
//! row linking to the previous one. A row that arrives is first paired with
//! the other input's rows of its key (an interval join also checks the time
//! bound), then stored: every pair is emitted once, when its second row
//! arrives, and nothing is allocated per record beyond the arenas' growth.
//!
//! A row leaves the state once the watermark (the minimum of both inputs')
//! passes the last time a row of the other input could still pair with it:
//! for an interval join `right - left` within `[lower, upper]`, a left row at
//! `t` once the watermark passes `t + upper`, a right row once it passes
//! `t - lower`; for a regular join with `join.state.ttl`, a row at `t` once it
//! passes `t + ttl`; without a TTL, never. A regular join with a TTL pairs
//! two rows only when their times are at most the TTL apart, so what it emits
//! does not depend on when the watermark freed a row. Under LEFT, a left row that leaves
//! without ever having been paired is emitted then with NULLs for the right
//! input, so its output is final. A min-heap of (expiry, row) per input finds
//! the rows to free; freed rows are skipped while probing and the arenas are
//! compacted once they are more than half dead.
//!
//! A joined row's event time is its left row's; it can be emitted up to
//! `upper` (or the TTL) after that time, so the join holds the watermark it
//! passes on back by that much ([`Operator::output_watermark`]): every joined
//! row is then on time for the windows downstream. A row behind the input
//! watermark is late and follows `late.data.strategy` like everywhere else;
//! a dead-lettered late row is written as a joined row with the other
//! input's columns NULL and a `_late_reason`.
//!
//! # Checkpoints
//!
//! [`Operator::snapshot`] stores the counters and the watermark, then each
//! input's live rows in arrival order, each as its key (a window join's ends
//! with the window's start), its values (with a window join's three window
//! columns), its event time, whether it was paired (LEFT's NULL rows) and
//! when it leaves (`None`: never): what the state means, not the arenas,
//! chains, index or heap, which a restore rebuilds. The rows are keyed by
//! the join key (without a window's start), the key both inputs are routed
//! by, so [`RestoreScope::owns`] redistributes them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;
use velo_planner::join::{StreamJoinKind, StreamJoinPlan};
use velo_planner::{FailureStrategy, JobPlan, LateDataStrategy, OutputKind};
use velo_types::{Batch, BatchBuilder, DataType, Field, Schema, SchemaRef, Value, Watermark};
use velo_watermark::{decide, LateDataPolicy, LateDecision};

use crate::error::{Error, Result};
use crate::expr::{lower, PhysicalExpr};
use crate::memory::{hash_entry_bytes, values_heap_bytes};
use crate::operator::{Operator, OperatorState, RestoreScope};
use crate::query::{EventTime, LateWarning, QueryStats, RowFailure, LATE_REASON_COLUMN};
use crate::state;

/// No next row in a key's chain.
const NONE: u32 = u32::MAX;

/// How many failures and late warnings are kept between two drains.
const MAX_KEPT: usize = 100;

/// The rows one input holds; see the module docs.
#[derive(Debug)]
struct SideState {
    width: usize,
    key_width: usize,
    values: Vec<Value>,
    keys: Vec<Value>,
    times: Vec<i64>,
    /// The previous row with the same key, or [`NONE`].
    prev: Vec<u32>,
    alive: Vec<bool>,
    /// Paired at least once (for LEFT's NULL rows).
    matched: Vec<bool>,
    hashes: Vec<u64>,
    /// Key hash -> the newest row with that key.
    index: HashTable<u32>,
    /// (expiry, row): the row leaves once the watermark passes expiry.
    expiries: BinaryHeap<Reverse<(i64, u32)>>,
    live: usize,
    heap_bytes: usize,
}

impl SideState {
    fn new(width: usize, key_width: usize) -> SideState {
        SideState {
            width,
            key_width,
            values: Vec::new(),
            keys: Vec::new(),
            times: Vec::new(),
            prev: Vec::new(),
            alive: Vec::new(),
            matched: Vec::new(),
            hashes: Vec::new(),
            index: HashTable::new(),
            expiries: BinaryHeap::new(),
            live: 0,
            heap_bytes: 0,
        }
    }

    fn rows(&self) -> usize {
        self.times.len()
    }

    fn row(&self, r: usize) -> &[Value] {
        &self.values[r * self.width..(r + 1) * self.width]
    }

    fn key(&self, r: usize) -> &[Value] {
        &self.keys[r * self.key_width..(r + 1) * self.key_width]
    }

    /// The newest row whose key equals `key`.
    fn head(&self, hash: u64, key: &[Value]) -> u32 {
        let (keys, kw) = (&self.keys, self.key_width);
        self.index
            .find(hash, |&r| {
                &keys[r as usize * kw..(r as usize + 1) * kw] == key
            })
            .copied()
            .unwrap_or(NONE)
    }

    /// Stores a row; `expiry` is when it leaves (`None`: never).
    fn insert(
        &mut self,
        row: &[Value],
        key: &[Value],
        hash: u64,
        time: i64,
        expiry: Option<i64>,
        matched: bool,
    ) {
        let r = self.rows() as u32;
        self.values.extend_from_slice(row);
        self.keys.extend_from_slice(key);
        self.times.push(time);
        self.alive.push(true);
        self.matched.push(matched);
        self.hashes.push(hash);
        self.heap_bytes += values_heap_bytes(row) + values_heap_bytes(key);
        let (keys, kw, hashes) = (&self.keys, self.key_width, &self.hashes);
        let entry = self.index.entry(
            hash,
            |&s| &keys[s as usize * kw..(s as usize + 1) * kw] == key,
            |&s| hashes[s as usize],
        );
        let prev = match entry {
            hashbrown::hash_table::Entry::Occupied(mut o) => std::mem::replace(o.get_mut(), r),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(r);
                NONE
            }
        };
        self.prev.push(prev);
        if let Some(e) = expiry {
            self.expiries.push(Reverse((e, r)));
        }
        self.live += 1;
    }

    /// Frees every row whose expiry the watermark `wm` has passed (`None`:
    /// every row that has an expiry); calls `gone` with each freed row, its
    /// key, the key's hash and whether it was ever paired.
    fn expire(&mut self, wm: Option<i64>, mut gone: impl FnMut(&[Value], &[Value], u64, bool)) {
        while let Some(&Reverse((e, r))) = self.expiries.peek() {
            if wm.is_some_and(|wm| e >= wm) {
                break;
            }
            self.expiries.pop();
            let r = r as usize;
            if !self.alive[r] {
                continue;
            }
            self.alive[r] = false;
            self.live -= 1;
            gone(self.row(r), self.key(r), self.hashes[r], self.matched[r]);
        }
        if self.rows() > 1024 && self.live * 2 < self.rows() {
            self.compact();
        }
    }

    /// Drops the freed rows from the arenas and rebuilds the index.
    fn compact(&mut self) {
        let old = std::mem::replace(self, SideState::new(self.width, self.key_width));
        let mut renumbered = vec![NONE; old.rows()];
        for (r, n) in renumbered.iter_mut().enumerate() {
            if !old.alive[r] {
                continue;
            }
            *n = self.rows() as u32;
            self.insert(
                old.row(r),
                old.key(r),
                old.hashes[r],
                old.times[r],
                None,
                old.matched[r],
            );
        }
        // The chains were rebuilt newest last, as before; the expiries keep
        // their order with the new row numbers.
        for Reverse((e, r)) in old.expiries.into_vec() {
            let n = renumbered[r as usize];
            if n != NONE {
                self.expiries.push(Reverse((e, n)));
            }
        }
    }

    /// Its live rows for a checkpoint, in arrival order: (key, values, event
    /// time, paired, expiry).
    fn stored(&self) -> Vec<StoredRowRef<'_>> {
        let mut expiries = vec![None; self.rows()];
        for Reverse((e, r)) in self.expiries.iter() {
            expiries[*r as usize] = Some(*e);
        }
        (0..self.rows())
            .filter(|&r| self.alive[r])
            .map(|r| {
                (
                    self.key(r),
                    self.row(r),
                    self.times[r],
                    self.matched[r],
                    expiries[r],
                )
            })
            .collect()
    }

    fn state_bytes(&self) -> usize {
        (self.values.capacity() + self.keys.capacity()) * std::mem::size_of::<Value>()
            + self.heap_bytes
            + self.times.capacity() * 8
            + self.hashes.capacity() * 8
            + self.prev.capacity() * 4
            + self.alive.capacity() * 2
            + self.expiries.capacity() * 16
            + self.index.capacity() * hash_entry_bytes(4)
    }
}

/// A stored row: key, values, event time, paired, expiry.
type StoredRowRef<'a> = (&'a [Value], &'a [Value], i64, bool, Option<i64>);
/// [`StoredRowRef`] read back.
type StoredRow = (Vec<Value>, Vec<Value>, i64, bool, Option<i64>);

/// What one input of the join reads of its rows.
#[derive(Debug)]
struct Input {
    keys: Vec<PhysicalExpr>,
    time: Option<EventTime>,
}

/// A join of two streams, compiled: see the module docs. Input 0 is the
/// left (FROM) stream, input 1 the right.
#[derive(Debug)]
pub struct StreamJoin {
    schemas: [SchemaRef; 2],
    output_schema: SchemaRef,
    dead_letter_schema: SchemaRef,
    inputs: [Input; 2],
    sides: [SideState; 2],
    kind: StreamJoinKind,
    left_outer: bool,
    delay: i64,
    /// A window join's (size, slide), in milliseconds.
    window: Option<(i64, i64)>,
    /// A window join: the row with its window's columns.
    row_scratch: Vec<Value>,
    watermark: Option<i64>,
    key_scratch: Vec<Value>,
    /// Counters per input (left, right).
    stats: [QueryStats; 2],
    failures: Vec<RowFailure>,
    fail_fast: bool,
    keep_all_failures: bool,
    late_policy: LateDataPolicy,
    late_warnings: Vec<LateWarning>,
    dead_letters: Option<BatchBuilder>,
    late_reason: Value,
    hasher: ahash::RandomState,
}

/// `q.col` for each field of `schema`.
fn qualified(q: &str, schema: &Schema) -> Vec<Field> {
    schema
        .fields()
        .iter()
        .map(|f| Field::new(&format!("{q}.{}", f.name), f.data_type))
        .collect()
}

impl StreamJoin {
    /// Compiles `plan`'s join of two streams over the inputs' schemas.
    pub fn compile(plan: &JobPlan, left: SchemaRef, right: SchemaRef) -> Result<StreamJoin> {
        let join = plan
            .stream_join
            .as_ref()
            .ok_or_else(|| Error::Pipeline("a job without a join of two streams".into()))?;
        let left_q = velo_planner::join::qualifier_of(&plan.source);
        let right_q = join.qualifier();
        let window = match join.kind {
            StreamJoinKind::Window { size_ms, slide_ms } => Some((size_ms, slide_ms)),
            _ => None,
        };
        // A window join's inputs carry their window's columns, as in Flink.
        let windowed = |schema: &Schema| -> Schema {
            let mut fields = schema.fields().to_vec();
            if window.is_some() {
                for name in ["window_start", "window_end", "window_time"] {
                    fields.push(Field::new(name, DataType::Timestamp));
                }
            }
            Schema::new(fields)
        };
        let left_fields = qualified(left_q, &windowed(&left));
        let right_fields = qualified(right_q, &windowed(&right));
        let mut all = left_fields.clone();
        all.extend(right_fields.iter().cloned());
        let joined = Schema::new(all);
        let lw = left_fields.len();
        let (left_only, right_only) = (Schema::new(left_fields), Schema::new(right_fields));
        let mut inputs = [
            Input {
                keys: Vec::new(),
                time: None,
            },
            Input {
                keys: Vec::new(),
                time: None,
            },
        ];
        for ((l, r), span) in join.keys.iter().zip(&join.key_spans) {
            let at = velo_planner::bind::position(*span);
            let scope = velo_planner::bind::Scope::new(&joined);
            let (bl, br) = (
                velo_planner::bind::bind_expr(l, &scope)?,
                velo_planner::bind::bind_expr(r, &scope)?,
            );
            // Bare names are resolved now: each side must read one input.
            let reads = |e: &velo_planner::bind::BoundExpr| {
                let mut cols = Vec::new();
                e.collect_columns(&mut cols);
                (cols.iter().any(|&c| c < lw), cols.iter().any(|&c| c >= lw))
            };
            let ((ll, lr), (rl, rr)) = (reads(&bl), reads(&br));
            let (l, r, tl, tr) = match ((ll, lr), (rl, rr)) {
                ((_, false), (false, _)) => (l, r, bl.data_type(), br.data_type()),
                ((false, _), (_, false)) => (r, l, br.data_type(), bl.data_type()),
                _ => {
                    return Err(Error::compile(
                        format!(
                            "a join of two streams equates an expression over '{left_q}' with one over '{right_q}'; {l} = {r} does not"
                        ),
                        at,
                    ))
                }
            };
            if tl != tr && tl != DataType::Null && tr != DataType::Null {
                return Err(Error::compile(
                    format!(
                        "the join key types differ: {l} is {tl} but {r} is {tr}; CAST one of them"
                    ),
                    at,
                ));
            }
            let lb = velo_planner::bind::bind_expr(l, &velo_planner::bind::Scope::new(&left_only))?;
            let rb =
                velo_planner::bind::bind_expr(r, &velo_planner::bind::Scope::new(&right_only))?;
            inputs[0].keys.push(lower(&lb));
            inputs[1].keys.push(lower(&rb));
        }
        let time_of = |field: &Option<String>, schema: &SchemaRef| -> Result<Option<EventTime>> {
            let Some(field) = field else {
                return Ok(None);
            };
            let mut p = plan.clone();
            p.config.event_time_field = Some(field.clone());
            EventTime::new(&p, schema)
        };
        inputs[0].time = time_of(&join.left_time, &left)?;
        inputs[1].time = time_of(&join.right_time, &right)?;
        let needs_time = !matches!(join.kind, StreamJoinKind::Regular { ttl_ms: None });
        if needs_time && (inputs[0].time.is_none() || inputs[1].time.is_none()) {
            return Err(Error::compile(
                "this join frees its state by event time: both inputs need an event-time column",
                velo_planner::bind::position(join.span),
            ));
        }
        let output_schema: SchemaRef = Arc::new(joined);
        let mut dl = output_schema.fields().to_vec();
        dl.push(Field::new(LATE_REASON_COLUMN, DataType::String));
        let late_policy = match plan.config.late_data {
            LateDataStrategy::Drop => LateDataPolicy::Drop,
            LateDataStrategy::ProcessWithWarning => LateDataPolicy::ProcessWithWarning,
            LateDataStrategy::ProcessAll => LateDataPolicy::ProcessAll,
            LateDataStrategy::DeadLetter { .. } => LateDataPolicy::DeadLetter,
        };
        let dead_letter_schema: SchemaRef = Arc::new(Schema::new(dl));
        // A window join's rows carry their window's three columns and are
        // keyed by its start too.
        let extra = if window.is_some() { 3 } else { 0 };
        let key_width = join.keys.len() + usize::from(window.is_some());
        Ok(StreamJoin {
            sides: [
                SideState::new(left.len() + extra, key_width),
                SideState::new(right.len() + extra, key_width),
            ],
            window,
            row_scratch: Vec::new(),
            schemas: [left, right],
            dead_letters: (late_policy == LateDataPolicy::DeadLetter)
                .then(|| BatchBuilder::with_capacity(dead_letter_schema.clone(), 0)),
            output_schema,
            dead_letter_schema,
            inputs,
            kind: join.kind,
            left_outer: join.join_type == velo_planner::join::JoinType::Left,
            delay: watermark_delay(join),
            watermark: None,
            key_scratch: Vec::with_capacity(key_width),
            stats: [QueryStats::default(); 2],
            failures: Vec::new(),
            fail_fast: plan.config.failure_strategy == FailureStrategy::FailBatch,
            keep_all_failures: plan.config.failure_strategy == FailureStrategy::SendToDlq,
            late_policy,
            late_warnings: Vec::new(),
            late_reason: Value::str("late: event time below the watermark"),
            hasher: ahash::RandomState::with_seeds(0x5eed, 0x101, 0x2c0, 0xbead),
        })
    }

    /// The schema of input `input`'s batches (0: left, 1: right).
    pub fn input_schema(&self, input: usize) -> &SchemaRef {
        &self.schemas[input]
    }

    /// Late rows set aside under `dead_letter`: joined rows, the other
    /// input's columns NULL, with `_late_reason`.
    pub fn dead_letter_schema(&self) -> &SchemaRef {
        &self.dead_letter_schema
    }

    /// Whether late rows are set aside for a dead-letter sink.
    pub fn dead_letters_kept(&self) -> bool {
        self.dead_letters.is_some()
    }

    /// Every counter over both inputs' rows.
    pub fn stats(&self) -> QueryStats {
        let mut total = self.stats[0];
        state::add_counts(&mut total, &self.stats[1]);
        QueryStats {
            watermark: self.watermark,
            groups: (self.sides[0].live + self.sides[1].live) as u64,
            ..total
        }
    }

    /// The counters of input `side`'s rows alone.
    pub fn side_stats(&self, side: usize) -> QueryStats {
        self.stats[side]
    }

    /// Rows held per input: (left, right).
    pub fn rows_held(&self) -> (usize, usize) {
        (self.sides[0].live, self.sides[1].live)
    }

    pub fn take_failures(&mut self) -> Vec<RowFailure> {
        std::mem::take(&mut self.failures)
    }

    pub fn take_late_warnings(&mut self) -> Vec<LateWarning> {
        std::mem::take(&mut self.late_warnings)
    }

    pub fn take_dead_letters(&mut self) -> Option<Batch> {
        let d = self.dead_letters.as_mut()?;
        if d.is_empty() {
            return None;
        }
        let schema = self.dead_letter_schema.clone();
        Some(std::mem::replace(d, BatchBuilder::with_capacity(schema, 0)).finish())
    }

    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// When a row of input `side` at `time` leaves the state.
    fn expiry(&self, side: usize, time: i64) -> Option<i64> {
        match (self.kind, side) {
            (StreamJoinKind::Interval { upper_ms, .. }, 0) => Some(time.saturating_add(upper_ms)),
            (StreamJoinKind::Interval { lower_ms, .. }, _) => Some(time.saturating_sub(lower_ms)),
            (StreamJoinKind::Regular { ttl_ms }, _) => ttl_ms.map(|t| time.saturating_add(t)),
            // Window joins free a row with its window (`process`).
            (StreamJoinKind::Window { .. }, _) => None,
        }
    }

    /// Whether a left row at `left` and a right row at `right` pair.
    #[inline]
    fn in_bound(&self, left: i64, right: i64) -> bool {
        match self.kind {
            StreamJoinKind::Interval { lower_ms, upper_ms } => {
                let d = right as i128 - left as i128;
                d >= lower_ms as i128 && d <= upper_ms as i128
            }
            StreamJoinKind::Regular { ttl_ms: None } | StreamJoinKind::Window { .. } => true,
            StreamJoinKind::Regular { ttl_ms: Some(ttl) } => {
                (right as i128 - left as i128).abs() <= ttl as i128
            }
        }
    }

    fn process(&mut self, side: usize, batch: &Batch) -> Result<Option<Batch>> {
        let n = batch.num_rows();
        self.stats[side].rows_in += n as u64;
        let other = 1 - side;
        let mut out = BatchBuilder::with_capacity(self.output_schema.clone(), 0);
        let mut key = std::mem::take(&mut self.key_scratch);
        'rows: for (i, row) in batch.rows().enumerate() {
            key.clear();
            for e in &self.inputs[side].keys {
                match e.eval(row) {
                    Ok(v) => key.push(v),
                    Err(e) => {
                        self.fail(side, batch, i, e)?;
                        continue 'rows;
                    }
                }
            }
            let time = match &self.inputs[side].time {
                None => 0,
                Some(et) => match et.extract(row) {
                    Ok(t) => t,
                    Err(e) => {
                        self.fail(side, batch, i, e)?;
                        continue;
                    }
                },
            };
            if self.inputs[side].time.is_some() {
                let watermark = self.watermark.map(Watermark);
                let decision = decide(self.late_policy, time, watermark);
                if decision.is_late() {
                    self.stats[side].late += 1;
                }
                match decision {
                    LateDecision::Drop => {
                        self.stats[side].late_dropped += 1;
                        continue;
                    }
                    LateDecision::DeadLetter => {
                        self.stats[side].late_dead_lettered += 1;
                        let widths = (self.sides[0].width, self.sides[1].width);
                        if let Some(d) = &mut self.dead_letters {
                            let nulls = |k: usize| std::iter::repeat_n(Value::Null, k);
                            let reason = [self.late_reason.clone()];
                            if side == 0 {
                                d.push_row(
                                    row.iter().cloned().chain(nulls(widths.1)).chain(reason),
                                );
                            } else {
                                d.push_row(
                                    nulls(widths.0).chain(row.iter().cloned()).chain(reason),
                                );
                            }
                        }
                        continue;
                    }
                    LateDecision::ProcessWithWarning => {
                        if self.late_warnings.len() < MAX_KEPT {
                            self.late_warnings.push(LateWarning {
                                row: i,
                                event_time: time,
                                watermark: watermark.map_or(i64::MIN, |w| w.0),
                            });
                        }
                    }
                    LateDecision::Process | LateDecision::OnTime => {}
                }
            }
            self.stats[side].contributed += 1;
            // A NULL key equals nothing (SQL): the row is kept only for
            // LEFT's NULL row.
            let null_key = key.iter().any(Value::is_null);
            if let Some((size, slide)) = self.window {
                // Kept until its windows close; paired then.
                if null_key && !(side == 0 && self.left_outer) {
                    continue;
                }
                let mut start = time - time.rem_euclid(slide);
                while start > time.saturating_sub(size) {
                    let end = start.saturating_add(size);
                    self.row_scratch.clear();
                    self.row_scratch.extend_from_slice(row);
                    self.row_scratch.extend([
                        Value::Timestamp(start),
                        Value::Timestamp(end),
                        Value::Timestamp(end - 1),
                    ]);
                    key.push(Value::Int(start));
                    let hash = hash_values(&self.hasher, &key);
                    // Freed once the watermark reaches the window's end.
                    self.sides[side].insert(
                        &self.row_scratch,
                        &key,
                        hash,
                        time,
                        Some(end - 1),
                        false,
                    );
                    key.pop();
                    start -= slide;
                }
                continue;
            }
            let hash = hash_values(&self.hasher, &key);
            let mut matched = false;
            if !null_key {
                let mut r = self.sides[other].head(hash, &key);
                while r != NONE {
                    let ru = r as usize;
                    let st = &self.sides[other];
                    if st.alive[ru] {
                        let t = st.times[ru];
                        let (lt, rt) = if side == 0 { (time, t) } else { (t, time) };
                        if self.in_bound(lt, rt) {
                            matched = true;
                            let stored = st.row(ru);
                            if side == 0 {
                                out.push_row(row.iter().chain(stored).cloned());
                            } else {
                                out.push_row(stored.iter().chain(row).cloned());
                                self.sides[other].matched[ru] = true;
                            }
                        }
                    }
                    r = self.sides[other].prev[ru];
                }
            }
            if null_key && !(side == 0 && self.left_outer) {
                continue;
            }
            let expiry = self.expiry(side, time);
            self.sides[side].insert(row, &key, hash, time, expiry, matched || side == 1);
        }
        self.key_scratch = key;
        Ok(finish(out))
    }

    fn advance(&mut self, wm: Watermark) -> Result<Option<Batch>> {
        if self.watermark.is_some_and(|w| w >= wm.0) {
            return Ok(None);
        }
        self.watermark = Some(wm.0);
        Ok(self.expire(Some(wm.0)))
    }

    /// Frees the rows the watermark `wm` has passed (`None`: the end of
    /// input): a window join pairs a closing window's rows first; under
    /// LEFT, a left row freed without a pair is emitted with NULLs.
    fn expire(&mut self, wm: Option<i64>) -> Option<Batch> {
        let mut out = BatchBuilder::with_capacity(self.output_schema.clone(), 0);
        let [left, right] = &mut self.sides;
        let rw = right.width;
        let left_outer = self.left_outer;
        let nulls = || std::iter::repeat_n(Value::Null, rw);
        if self.window.is_some() {
            left.expire(wm, |row, key, hash, _| {
                let mut paired = false;
                let mut r = right.head(hash, key);
                while r != NONE {
                    let ru = r as usize;
                    if right.alive[ru] {
                        paired = true;
                        out.push_row(row.iter().chain(right.row(ru)).cloned());
                    }
                    r = right.prev[ru];
                }
                if !paired && left_outer {
                    out.push_row(row.iter().cloned().chain(nulls()));
                }
            });
        } else {
            left.expire(wm, |row, _, _, matched| {
                if left_outer && !matched {
                    out.push_row(row.iter().cloned().chain(nulls()));
                }
            });
        }
        right.expire(wm, |_, _, _, _| {});
        finish(out)
    }

    /// Row `row` of `batch` failed (as [`crate::query::SelectOperator`]).
    #[cold]
    fn fail(&mut self, side: usize, batch: &Batch, row: usize, error: Error) -> Result<()> {
        self.stats[side].failed += 1;
        let position = batch.position(row);
        if self.fail_fast {
            self.stats[side].rows_in -= (batch.num_rows() - row - 1) as u64;
            return Err(Error::RowFailed {
                position,
                input: side,
                error: Box::new(error),
            });
        }
        if self.keep_all_failures || self.failures.len() < MAX_KEPT {
            self.failures.push(RowFailure {
                row,
                position,
                input: side,
                values: batch.row(row).to_vec(),
                error,
            });
        }
        Ok(())
    }
}

/// [`StreamJoinPlan::watermark_delay_ms`], with a regular join without TTL
/// holding nothing back (the planner refuses a window over one).
fn watermark_delay(join: &StreamJoinPlan) -> i64 {
    join.watermark_delay_ms().unwrap_or(0)
}

fn finish(out: BatchBuilder) -> Option<Batch> {
    (!out.is_empty()).then(|| out.finish())
}

fn hash_values(hasher: &ahash::RandomState, values: &[Value]) -> u64 {
    let mut h = hasher.build_hasher();
    for v in values {
        v.hash(&mut h);
    }
    h.finish()
}

impl Operator for StreamJoin {
    fn name(&self) -> &'static str {
        match self.kind {
            StreamJoinKind::Interval { .. } => "interval_join",
            StreamJoinKind::Regular { .. } => "regular_join",
            StreamJoinKind::Window { .. } => "window_join",
        }
    }

    fn inputs(&self) -> usize {
        2
    }

    fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    fn output_kind(&self) -> OutputKind {
        OutputKind::AppendOnly
    }

    fn process_batch(&mut self, input: usize, batch: &Batch) -> Result<Option<Batch>> {
        self.process(input.min(1), batch)
    }

    fn on_watermark(&mut self, watermark: Watermark) -> Result<Option<Batch>> {
        self.advance(watermark)
    }

    fn output_watermark(&self, watermark: i64) -> i64 {
        watermark.saturating_sub(self.delay)
    }

    /// Every window closes; under LEFT, every left row never paired is
    /// emitted with NULLs.
    fn finish(&mut self) -> Result<Option<Batch>> {
        let out = self.expire(None);
        let (w0, w1) = (self.sides[0].width, self.sides[1].width);
        let k = self.sides[0].key_width;
        self.sides = [SideState::new(w0, k), SideState::new(w1, k)];
        Ok(out)
    }

    fn state_bytes(&self) -> usize {
        self.sides[0].state_bytes() + self.sides[1].state_bytes()
    }

    /// See the module docs (Checkpoints).
    fn snapshot(&self) -> Result<OperatorState> {
        let mut bytes = Vec::new();
        state::put_counts(self.name(), &self.stats(), self.watermark, &mut bytes)?;
        let sides = [self.sides[0].stored(), self.sides[1].stored()];
        state::put(self.name(), &sides, &mut bytes)?;
        Ok(state::state(self.name(), bytes))
    }

    /// Takes the counters of the old partitions `scope` takes them of, the
    /// highest watermark, and the rows whose join key `scope` owns, which
    /// are inserted again in their order (so that a key's pairs come out in
    /// the same order).
    fn restore(&mut self, states: &[&OperatorState], scope: &RestoreScope<'_>) -> Result<()> {
        let name = self.name();
        let join_keys = self.sides[0].key_width - usize::from(self.window.is_some());
        for (old, stored) in states.iter().enumerate() {
            state::check(name, stored)?;
            let (counts, wm, rest) = state::take_counts(name, &stored.bytes)?;
            let (sides, rest): ([Vec<StoredRow>; 2], _) = state::take(name, rest)?;
            if !rest.is_empty() {
                return Err(Error::State {
                    operator: name,
                    message: format!("{} bytes are left after the stored state", rest.len()),
                });
            }
            if scope.takes_counters_of(old) {
                // Stored as one total: it goes to the left input's.
                state::add_counts(&mut self.stats[0], &counts);
            }
            // Every partition saw the same watermark before the barrier.
            self.watermark = self.watermark.max(wm);
            for (side, rows) in sides.into_iter().enumerate() {
                let (width, key_width) = (self.sides[side].width, self.sides[side].key_width);
                for (key, values, time, matched, expiry) in rows {
                    if key.len() != key_width || values.len() != width {
                        return Err(Error::State {
                            operator: name,
                            message: format!(
                                "a stored row has {} key and {} other values; this join's have {key_width} and {width}",
                                key.len(),
                                values.len()
                            ),
                        });
                    }
                    if !scope.owns(&key[..join_keys]) {
                        continue;
                    }
                    let hash = hash_values(&self.hasher, &key);
                    self.sides[side].insert(&values, &key, hash, time, expiry, matched);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(on: &str) -> JobPlan {
        let sql = format!(
            "SELECT * FROM a LEFT JOIN b ON a.k = b.k AND {on} \
             WITH ('a.type' = 'stdin_source', 'b.type' = 'stdin_source', 'event.time.field' = 'ts')"
        );
        velo_planner::plan_sql(&sql, &Default::default())
            .unwrap()
            .jobs
            .remove(0)
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int),
            Field::new("ts", DataType::Int),
        ]))
    }

    fn batch(rows: &[(i64, i64)]) -> Batch {
        let values = rows
            .iter()
            .flat_map(|(k, ts)| [Value::Int(*k), Value::Int(*ts)])
            .collect();
        Batch::new(schema(), values).unwrap()
    }

    #[test]
    fn rows_are_freed_once_the_watermark_passes_their_bound() {
        // b.ts - a.ts within [-1000, 2000].
        let mut j = StreamJoin::compile(
            &plan("b.ts BETWEEN a.ts - INTERVAL '1' SECOND AND a.ts + INTERVAL '2' SECOND"),
            schema(),
            schema(),
        )
        .unwrap();
        assert_eq!(
            j.output_watermark(10_000),
            8_000,
            "held back by the upper bound"
        );
        assert!(j
            .process(0, &batch(&[(1, 1000), (2, 1000), (3, 5000)]))
            .unwrap()
            .is_none());
        let pairs = j
            .process(1, &batch(&[(1, 2500), (1, 3500), (3, 4000)]))
            .unwrap()
            .unwrap();
        // (1, 1000) pairs with 2500 only; (3, 5000) with 4000.
        assert_eq!(pairs.num_rows(), 2);
        assert_eq!(j.rows_held(), (3, 3));
        // Left rows leave at ts + 2000, right rows at ts + 1000.
        let nulls = j.advance(Watermark(3600)).unwrap().unwrap();
        // (2, 1000) never paired: its NULL row, once.
        assert_eq!(nulls.num_rows(), 1);
        assert_eq!(nulls.row(0)[0], Value::Int(2));
        assert!(nulls.row(0)[2].is_null());
        assert_eq!(
            j.rows_held(),
            (1, 2),
            "left rows at 1000 and the right row at 2500 are gone"
        );
        assert!(
            j.advance(Watermark(7001)).unwrap().is_none(),
            "(3, 5000) was paired"
        );
        assert_eq!(j.rows_held(), (0, 0));
        assert!(j.state_bytes() > 0, "the arenas keep their capacity");
    }

    #[test]
    fn late_rows_are_counted_and_dropped_at_the_join() {
        let mut j = StreamJoin::compile(
            &plan("b.ts BETWEEN a.ts AND a.ts + INTERVAL '1' SECOND"),
            schema(),
            schema(),
        )
        .unwrap();
        j.process(0, &batch(&[(1, 5000)])).unwrap();
        j.advance(Watermark(5000)).unwrap();
        assert!(j
            .process(1, &batch(&[(1, 4999), (1, 5000)]))
            .unwrap()
            .is_some());
        let s = j.stats();
        assert_eq!(
            (s.rows_in, s.late, s.late_dropped, s.contributed),
            (3, 1, 1, 2)
        );
        assert_eq!(s.accounted(), s.rows_in);
    }
}
