//! Row windows (SPEC §2): `AGG(x) OVER (ROWS WINDOW BUFFER n ROWS PARTITION BY ..
//! ORDER BY ..)` and the window functions, computed incrementally per partition.
//!
//! # Semantics
//!
//! * **Order.** Rows are taken in arrival order within each partition. ORDER BY
//!   names the order the input is expected to arrive in (and, for RANK and
//!   DENSE_RANK, which values make rows peers); Velo does not re-sort. A row is
//!   one that passed WHERE.
//! * **Frame.** The aggregates see the last n rows of the partition, the current
//!   one included (fewer at the start of a partition):
//!   - `COUNT(*)` counts those rows, `COUNT(x)` their non-NULL `x`;
//!   - `SUM` and `AVG` ignore NULLs and are NULL when the frame holds no non-NULL
//!     value; a BIGINT SUM is exact (summed in 128 bits) and a frame whose sum does
//!     not fit in BIGINT fails the row with [`Error::Overflow`] (the row still
//!     enters the frame); a DOUBLE SUM is the exact sum of the frame's values
//!     rounded once to the nearest DOUBLE (ties to even; 0.0 when it is zero;
//!     infinities and NaN as in IEEE addition), so it does not depend on the rows
//!     that came and went before, nor on the order of the frame; AVG is DOUBLE
//!     (that sum divided by the count; exact DECIMAL for DECIMAL input), as in
//!     GROUP BY;
//!   - `MIN` / `MAX` ignore NULLs (NULL when none);
//!   - `FIRST_VALUE(x)` is `x` of the oldest row in the frame and `LAST_VALUE(x)`
//!     that of the current row, NULLs included (standard SQL's RESPECT NULLS).
//! * **Window functions** ignore the frame and see the partition's whole history:
//!   - `ROW_NUMBER()`: 1, 2, 3, ... per partition;
//!   - `RANK()` / `DENSE_RANK()`: peers are consecutive rows with equal ORDER BY
//!     values (NULL equals NULL); RANK leaves gaps (1, 1, 3), DENSE_RANK does not
//!     (1, 1, 2); without ORDER BY every row is a peer of the previous (rank 1);
//!   - `LAG(x [, k [, default]])`: `x` of the row k rows earlier in the partition
//!     (k defaults to 1, a non-negative integer literal), else `default` (NULL if
//!     not given), evaluated on the current row;
//!   - `LEAD(x [, k [, default]])`: `x` of the row k rows later. A row with LEAD is
//!     held back until the k-th following row of its partition arrives (with several
//!     LEADs, the largest k), or until the end of input ([`RowsWindowExec::finish`])
//!     or its partition's expiry, where the missing values are `default`. Each
//!     partition's rows come out in arrival order.
//! * **EXPIRE AFTER d INACTIVITY** drops a partition's state when it has been idle
//!   for longer than d *in event time*, so that the result does not depend on how
//!   records of different partitions interleave (V1 and V2 agree) nor on the wall
//!   clock. A row's time is the job's `event.time.field` if set, else the first
//!   ORDER BY expression (BIGINT epoch milliseconds, TIMESTAMP, or a timestamp
//!   string); a query with EXPIRE and neither is a compile error. A partition's
//!   last activity is the largest time among its rows. When a row arrives more than
//!   d after that, the partition starts afresh (its held LEAD rows are emitted
//!   first, with their defaults): ROW_NUMBER restarts at 1, the frame is empty.
//!   [`RowsWindowExec::expire_idle`] applies the same rule eagerly with a watermark
//!   to free the memory of idle partitions; since no row older than the watermark
//!   arrives afterwards, this changes when held LEAD rows come out, never what.
//!   A row whose time is NULL does not count as activity.
//!
//! # Performance
//!
//! Everything name-based is resolved in [`RowsWindowExec::new`]. Every OVER call
//! of the query shares one partition lookup (hashbrown [`HashTable`] of slot
//! indices, ahash with fixed seeds, keys compared in place) and one ring buffer per
//! partition holding the last `max(n, largest LAG offset + 1)` values of each
//! distinct argument that is needed later. The ring, the MIN/MAX monotonic deques
//! and the LEAD holding area are allocated once, when a partition is created;
//! the per-row path allocates nothing. COUNT/SUM/AVG keep running sums (add the new
//! value, subtract the evicted one; a DOUBLE sum is kept exactly, in a fixed-point
//! [`ExactSum`] of 67 32-bit digits, and rounded once per row), MIN/MAX keep
//! monotonic deques, so each row costs O(1) amortized whatever n is.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};
use std::mem::size_of;
use std::sync::Arc;

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use velo_planner::bind::{bind_rows, AggregateKind, BoundExpr, OverCall, OverFunction};
use velo_planner::JobPlan;
use velo_types::{BatchBuilder, DataType, Decimal, Schema, SchemaRef, Value};

use crate::error::{Error, Result};
use crate::expr::{cast_value, lower, PhysicalExpr};
use crate::memory::{hash_entry_bytes, value_heap_bytes, values_heap_bytes};
use crate::operator::RestoreScope;
use crate::state;

/// The operator name its state is stored under (the select operator's).
const OPERATOR: &str = "rows_window";

pub use velo_planner::bind::MAX_BUFFER_ROWS;

/// What one OVER call computes. Indices point into the operator's tables.
#[derive(Debug, Clone)]
enum CallKind {
    CountStar,
    /// Non-NULL count of the frame, from accumulator `acc`.
    Count {
        acc: usize,
    },
    Sum {
        acc: usize,
    },
    Avg {
        acc: usize,
    },
    /// MIN or MAX: the front of monotonic deque `deque`.
    MinMax {
        deque: usize,
    },
    /// Ring column `col` of the oldest row in the frame.
    FirstValue {
        col: usize,
    },
    LastValue {
        arg: usize,
    },
    RowNumber,
    Rank,
    DenseRank,
    Lag {
        col: usize,
        offset: u64,
        default: Option<usize>,
    },
    Lead {
        arg: usize,
        offset: u64,
        default: Option<usize>,
    },
}

/// A running COUNT / SUM over one ring column. Each kind of number is summed on
/// its own (BIGINT exactly in 128 bits), so that evicting a value is exact.
/// Stored as it is in a checkpoint: a DECIMAL sum's scale depends on the
/// values that came and went, so it is not recomputed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct RunningSum {
    /// Non-NULL values in the frame.
    count: i64,
    ints: i128,
    n_ints: i64,
    floats: f64,
    n_floats: i64,
    decimals: Decimal,
    n_decimals: i64,
}

const EMPTY_SUM: RunningSum = RunningSum {
    count: 0,
    ints: 0,
    n_ints: 0,
    floats: 0.0,
    n_floats: 0,
    decimals: Decimal::ZERO,
    n_decimals: 0,
};

/// How a running sum is kept.
#[derive(Debug, Clone, Copy)]
struct SumSpec {
    /// The ring column summed.
    col: usize,
    /// Whether values are summed (SUM / AVG) or only counted (COUNT(x)).
    numeric: bool,
    /// The aggregate named in errors.
    name: &'static str,
    /// The partition's [`ExactSum`] that sums this column's DOUBLE values (for a
    /// numeric column that is neither BIGINT nor DECIMAL).
    exact: Option<usize>,
}

/// 32-bit digits of an [`ExactSum`]: every finite DOUBLE is an integer multiple
/// of 2^-1074 below 2^1024, i.e. below 2^2098 units; a frame of at most
/// [`MAX_BUFFER_ROWS`] (< 2^20) of them sums below 2^2118 units, which 67 digits
/// hold with the sign (the top digit is signed).
const EXACT_DIGITS: usize = 67;
const DIGIT_MASK: i64 = 0xffff_ffff;

/// The exact sum of a frame's DOUBLE values, as a fixed-point number in units of
/// 2^-1074 (the smallest subnormal): adding or removing a value is exact, so the
/// sum never drifts nor cancels, whatever the magnitudes, and
/// [`ExactSum::value`] is the exact sum rounded once to the nearest DOUBLE (ties
/// to even), the same as summing the frame from scratch without rounding.
/// Infinities and NaNs are counted apart, as IEEE arithmetic combines them.
///
/// Two parts. Values within 2^[`FAST_SLACK`] of the first one's magnitude
/// (the usual case: prices, amounts) are summed in one `i128` of units of
/// 2^(`scale` - 1074), `scale` set by the first value (and again once the sum
/// is exactly zero): an add is a shift and an add, and while no other value
/// is in the frame `value` is one conversion. The others go to the digits,
/// where `value` adds the fast part for the rounding: digit `i` weighs
/// 2^(32 i) units and holds any `i64` between two calls of
/// [`ExactSum::value`] (carries are lazy); `value` normalizes digits `lo..top`
/// into 0..2^32 and carries into the signed digit `top`. Digits outside
/// `lo..=top` are zero. A fixed array: nothing is allocated per row.
#[derive(Debug, Clone, PartialEq)]
struct ExactSum {
    /// The sum of the values in the fast form's band.
    fast: i128,
    /// The weight of `fast`'s unit, as a bit of the 2^-1074 grid;
    /// [`NO_SCALE`] before the first value, [`DIGITS`] when that was too
    /// small for the fast form (every value then goes to the digits).
    scale: usize,
    digits: [i64; EXACT_DIGITS],
    lo: usize,
    top: usize,
    pos_inf: i64,
    neg_inf: i64,
    nan: i64,
}

/// How far below and above the first value's lowest bit other values may
/// reach and stay in the fast form. Values of at most 53 + 2 * 26 bits, at
/// most 2^21 of them in the fast sum at once (the frame's rows below 2^20,
/// and the removals of rows added before the scale was last set), sum below
/// 2^126.
const FAST_SLACK: usize = 26;
const NO_SCALE: usize = usize::MAX;
const DIGITS: usize = usize::MAX - 1;

const EMPTY_EXACT: ExactSum = ExactSum {
    fast: 0,
    scale: NO_SCALE,
    digits: [0; EXACT_DIGITS],
    lo: EXACT_DIGITS,
    top: 0,
    pos_inf: 0,
    neg_inf: 0,
    nan: 0,
};

impl ExactSum {
    /// Adds `f` to the sum, or removes it (`remove`, for a value leaving the
    /// frame that was added before).
    #[inline(always)]
    fn add(&mut self, f: f64, remove: bool) {
        let count = if remove { -1 } else { 1 };
        if f.is_nan() {
            self.nan += count;
            return;
        }
        if f.is_infinite() {
            if f > 0.0 {
                self.pos_inf += count;
            } else {
                self.neg_inf += count;
            }
            return;
        }
        // f = m * 2^(s - 1074) with m < 2^53 and 0 <= s <= 2045.
        let bits = f.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as usize;
        let fraction = bits & ((1 << 52) - 1);
        let (m, s) = if biased == 0 {
            (fraction, 0)
        } else {
            (fraction | 1 << 52, biased - 1)
        };
        if m == 0 {
            return;
        }
        let negative = (bits >> 63 == 1) != remove;
        if self.scale == NO_SCALE {
            // The first value sets the scale; one too close to the subnormals
            // for `value`'s one conversion goes to the digits.
            self.scale = match s.checked_sub(FAST_SLACK) {
                Some(scale) if scale >= 52 => scale,
                _ => DIGITS,
            };
        }
        let shift = s.wrapping_sub(self.scale);
        if self.scale != DIGITS && shift <= 2 * FAST_SLACK {
            let part = i128::from(m) << shift;
            if negative {
                self.fast -= part;
            } else {
                self.fast += part;
            }
        } else {
            self.add_digits(m, s, negative);
        }
    }

    /// Adds the fast sum to the digits (`sign` 1) or takes it out again (-1).
    fn fast_into_digits(&mut self, sign: i128) {
        let magnitude = self.fast.unsigned_abs();
        let negative = (self.fast < 0) != (sign < 0);
        // Each half is below 2^64, and their bits below 2^2118 (FAST_SLACK).
        let halves = [
            (magnitude as u64, self.scale),
            ((magnitude >> 64) as u64, self.scale + 64),
        ];
        for (half, at) in halves {
            if half != 0 {
                self.add_digits(half, at, negative);
            }
        }
    }

    /// Adds (or, `negative`, subtracts) `m * 2^s` units to the digits; the
    /// value must be below 2^2118 units.
    #[inline]
    fn add_digits(&mut self, m: u64, s: usize, negative: bool) {
        let wide = u128::from(m) << (s % 32);
        let at = s / 32;
        let end = (at + 3).min(EXACT_DIGITS);
        for (j, digit) in self.digits[at..end].iter_mut().enumerate() {
            let part = ((wide >> (32 * j)) as i64) & DIGIT_MASK;
            if negative {
                *digit -= part;
            } else {
                *digit += part;
            }
        }
        self.lo = self.lo.min(at);
        self.top = self.top.max((at + 3).min(EXACT_DIGITS - 1));
    }

    /// The sum rounded to the nearest DOUBLE (ties to even); 0.0 when it is
    /// exactly zero. Overflows to an infinity as IEEE addition does; a NaN, or
    /// infinities of both signs, give NaN.
    fn value(&mut self) -> f64 {
        if self.nan > 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            return f64::NAN;
        }
        if self.pos_inf > 0 {
            return f64::INFINITY;
        }
        if self.neg_inf > 0 {
            return f64::NEG_INFINITY;
        }
        // The digits (values outside the fast form's band) first: when they
        // come to exactly zero, the fast sum is the whole sum again.
        let digits = self.lo <= self.top && self.normalize();
        if !digits {
            if self.fast == 0 {
                // Exactly zero: the next value sets the scale afresh.
                self.scale = NO_SCALE;
                return 0.0;
            }
            // 2^(scale - 1074) >= 2^-1022 (see `add`).
            return scaled(self.fast, self.scale as i64 - 1074);
        }
        if self.fast == 0 {
            return self.digits_value();
        }
        // Both: the fast sum joins the digits for the rounding, then leaves
        // them as they were (in value).
        self.fast_into_digits(1);
        let value = if self.normalize() {
            self.digits_value()
        } else {
            0.0
        };
        self.fast_into_digits(-1);
        value
    }

    /// Normalizes digits `lo..top` and narrows `lo` to the lowest non-zero
    /// digit; false, with the range emptied, when the digits are exactly zero.
    fn normalize(&mut self) -> bool {
        let (lo, top) = (self.lo, self.top);
        let mut carry = 0;
        for d in &mut self.digits[lo..top] {
            let v = *d + carry;
            carry = v >> 32;
            *d = v & DIGIT_MASK;
        }
        self.digits[top] += carry;
        let Some(first) = self.digits[lo..=top].iter().position(|&d| d != 0) else {
            // Exactly zero: every digit is; narrow the range to nothing.
            self.lo = EXACT_DIGITS;
            self.top = 0;
            return false;
        };
        self.lo = lo + first;
        true
    }

    /// The normalized, non-zero digits rounded to the nearest DOUBLE.
    fn digits_value(&mut self) -> f64 {
        let (lo, top) = (self.lo, self.top);
        // The highest non-zero digit (`top` when it is negative).
        let mut high = top;
        while self.digits[high] == 0 {
            high -= 1;
        }
        if high - lo <= 2 && lo >= 2 {
            // The fast path, for sums spanning at most three digits: as one
            // `i128` (the highest digit is below 2^63 in magnitude, so 2^127 at
            // most), scaled by 2^(32 lo - 1074) >= 2^-1010.
            let mut units = i128::from(self.digits[high]);
            for &d in self.digits[lo..high].iter().rev() {
                units = units << 32 | i128::from(d);
            }
            if self.digits[top] == 0 {
                self.top = high + 1;
            }
            return scaled(units, 32 * lo as i64 - 1074);
        }
        if self.digits[top] < 0 {
            let mut magnitude = [0; EXACT_DIGITS];
            let mut carry = 0;
            for (m, &d) in magnitude[lo..top].iter_mut().zip(&self.digits[lo..top]) {
                let v = carry - d;
                carry = v >> 32;
                *m = v & DIGIT_MASK;
            }
            magnitude[top] = carry - self.digits[top];
            return -round_digits(&magnitude, lo, top);
        }
        let value = round_digits(&self.digits, lo, top);
        // A non-negative sum has no digit above its highest non-zero one.
        if let Some(h) = self.digits[lo..top].iter().rposition(|&d| d != 0) {
            if self.digits[top] == 0 {
                self.top = lo + h + 1;
            }
        }
        value
    }
}

/// A non-negative fixed-point number (digits as in [`ExactSum`]: `d[i]` in
/// 0..2^32 for `lo <= i < top`, `d[top] >= 0`, zero elsewhere) rounded to the
/// nearest DOUBLE, ties to even.
fn round_digits(d: &[i64; EXACT_DIGITS], lo: usize, top: usize) -> f64 {
    let Some(h) = (lo..=top).rev().find(|&i| d[i] != 0) else {
        return 0.0;
    };
    // The highest digit and those under it, at least 64 more bits: 2^127 at most
    // (`d[top]` < 2^63, others < 2^32), at least 65 significant bits.
    let below = if h == top { 2 } else { 3 };
    let base = h as i64 - below;
    let mut mant: u128 = 0;
    for j in (base..=h as i64).rev() {
        mant <<= 32;
        if j >= lo as i64 {
            mant |= d[j as usize] as u128;
        }
    }
    let sticky = (lo as i64..base).any(|j| d[j as usize] != 0);
    // The value is mant * 2^lsb.
    let lsb = 32 * base - 1074;
    let msb = lsb + 127 - i64::from(mant.leading_zeros());
    if msb > 1023 {
        return f64::INFINITY;
    }
    // The weight of the DOUBLE's last bit: 53 bits, or subnormal.
    let ulp = (msb - 52).max(-1074);
    let drop = (ulp - lsb).clamp(1, 127) as u32;
    let q = mant >> drop;
    let rem = mant & ((1 << drop) - 1);
    let half = 1 << (drop - 1);
    let up = rem > half || (rem == half && (sticky || q & 1 == 1));
    // q + up <= 2^53: exact as a DOUBLE (converted from u64: u128 to f64 is a
    // library call); the product is exact or overflows.
    (q + u128::from(up)) as u64 as f64 * pow2(ulp)
}

/// `units * 2^exponent` rounded once to the nearest DOUBLE, ties to even, for
/// `exponent >= -1022`: the conversion rounds (below 2^63 it is one
/// instruction; `i128` to `f64` is a library call), and scaling by a power of
/// two is then exact, the result being normal, or overflows to an infinity as
/// IEEE addition does.
#[inline]
fn scaled(units: i128, exponent: i64) -> f64 {
    let rounded = match i64::try_from(units) {
        Ok(small) => small as f64,
        Err(_) => units as f64,
    };
    rounded * pow2(exponent)
}

/// 2^e, exactly, for -1074 <= e <= 1023.
fn pow2(e: i64) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1 << (e + 1074))
    }
}

impl RunningSum {
    /// `self` with `v` added (`sign` 1) or removed (`sign` -1).
    fn with(mut self, v: &Value, sign: i64, spec: &SumSpec) -> Result<RunningSum> {
        if v.is_null() {
            return Ok(self);
        }
        self.count += sign;
        if !spec.numeric {
            return Ok(self);
        }
        match v {
            Value::Int(i) => {
                self.ints += sign as i128 * *i as i128;
                self.n_ints += sign;
            }
            // The value is summed exactly in the partition's ExactSum, which sets
            // `floats` when the row is committed.
            Value::Float(_) if spec.exact.is_some() => self.n_floats += sign,
            Value::Decimal(d) => {
                let r = if sign > 0 {
                    self.decimals.checked_add(*d)
                } else {
                    self.decimals.checked_sub(*d)
                };
                self.decimals = r.ok_or(Error::Overflow { context: spec.name })?;
                self.n_decimals += sign;
            }
            other => {
                return Err(Error::Type(format!(
                    "{} needs numbers, got {} value {other}",
                    spec.name,
                    other.data_type()
                )))
            }
        }
        Ok(self)
    }

    /// The BIGINTs' sum as a DOUBLE; 0.0 without calling the `i128`
    /// conversion (a library call) when there are none.
    fn ints_f64(&self) -> f64 {
        if self.n_ints == 0 {
            0.0
        } else {
            self.ints as f64
        }
    }

    fn decimals_f64(&self) -> f64 {
        if self.n_decimals == 0 {
            0.0
        } else {
            self.decimals.to_f64()
        }
    }

    fn sum(&self) -> Result<Value> {
        let overflow = || Error::Overflow { context: "SUM" };
        Ok(if self.n_floats > 0 {
            Value::Float(self.ints_f64() + self.floats + self.decimals_f64())
        } else if self.n_decimals > 0 {
            let ints = Decimal::from_i128(self.ints).ok_or_else(overflow)?;
            Value::Decimal(self.decimals.checked_add(ints).ok_or_else(overflow)?)
        } else if self.n_ints > 0 {
            Value::Int(i64::try_from(self.ints).map_err(|_| overflow())?)
        } else {
            Value::Null
        })
    }

    fn avg(&self) -> Result<Value> {
        let n = self.n_ints + self.n_floats + self.n_decimals;
        if n == 0 {
            return Ok(Value::Null);
        }
        Ok(if self.n_floats > 0 {
            let total = self.ints_f64() + self.floats + self.decimals_f64();
            Value::Float(total / n as f64)
        } else if self.n_decimals > 0 {
            let total = Decimal::from_i128(self.ints)
                .and_then(|i| self.decimals.checked_add(i))
                .ok_or(Error::Overflow { context: "AVG" })?;
            let scale = Decimal::avg_scale(total.scale());
            Value::Decimal(
                total
                    .checked_div_to(Decimal::from(n), scale)
                    .ok_or(Error::Overflow { context: "AVG" })?,
            )
        } else {
            Value::Float(self.ints as f64 / n as f64)
        })
    }
}

/// The partition key: plain columns are hashed and compared in the input row,
/// other expressions are evaluated into a scratch row first.
#[derive(Debug)]
enum KeyExprs {
    Columns(Vec<usize>),
    Exprs(Vec<PhysicalExpr>),
}

/// One partition's state.
#[derive(Debug)]
struct Partition {
    live: bool,
    hash: u64,
    key: Box<[Value]>,
    /// Creation stamp: held LEAD rows are flushed at the end in this order.
    created: u64,
    /// Rows taken since the partition was created (the next row's sequence number).
    seen: u64,
    /// The largest event time of its rows (EXPIRE AFTER).
    last_time: Option<i64>,
    /// `history` rows of `ring_width` values: row `s` lives at `(s % history)`.
    ring: Box<[Value]>,
    /// The ring row of the next row (`seen % history`, kept without dividing).
    pos: usize,
    sums: Box<[RunningSum]>,
    /// The exact DOUBLE sums, one per [`SumSpec::exact`].
    exact: Box<[ExactSum]>,
    /// Monotonic deques of (sequence, value) for MIN (increasing) and MAX
    /// (decreasing); capacity n, never exceeded.
    deques: Box<[VecDeque<(u64, Value)>]>,
    /// ORDER BY values of the previous row, RANK and DENSE_RANK.
    prev_order: Box<[Value]>,
    rank: u64,
    dense_rank: u64,
    /// LEAD: `lead_depth + 1` rows of `ext_width` values; row `s` at `s % (depth+1)`.
    pending: Box<[Value]>,
    /// For each pending slot: the sequence number it holds, if any.
    pending_seq: Box<[Option<u64>]>,
}

/// Row-window operator: computes every OVER call of one query, then its select
/// list, row by row. See the module docs for the semantics.
#[derive(Debug)]
pub struct RowsWindowExec {
    frame: u64,
    /// Rows of the ring: `max(frame, largest LAG offset + 1)`.
    history: u64,
    keys: KeyExprs,
    /// Distinct argument expressions, evaluated once per row into `args`.
    arg_exprs: Vec<PhysicalExpr>,
    /// The argument slots kept in the ring, one ring column each.
    ring_cols: Vec<usize>,
    sum_specs: Vec<SumSpec>,
    /// How many of them are DOUBLE sums with an [`ExactSum`] per partition.
    exact_sums: usize,
    /// One per MIN / MAX call: its argument slot, and whether it is MAX.
    deque_specs: Vec<(usize, bool)>,
    order_exprs: Vec<PhysicalExpr>,
    /// Whether RANK or DENSE_RANK is called (their state is kept).
    ranks: bool,
    time_expr: Option<PhysicalExpr>,
    expire_after_ms: Option<i64>,
    calls: Vec<CallKind>,
    /// The largest LEAD offset, if there is a LEAD.
    lead_depth: Option<u64>,
    input_width: usize,
    ext_width: usize,
    select: Vec<PhysicalExpr>,
    select_texts: Vec<String>,
    output_schema: SchemaRef,

    partitions: Vec<Partition>,
    free: Vec<u32>,
    live: usize,
    created: u64,
    index: HashTable<u32>,
    hasher: ahash::RandomState,

    key_scratch: Vec<Value>,
    args: Vec<Value>,
    order_scratch: Vec<Value>,
    sum_scratch: Vec<RunningSum>,
    /// The OVER results of the current row.
    results: Vec<Value>,
    ext: Vec<Value>,
    out_scratch: Vec<Value>,
    /// When every select item is a plain column of the extended row: their
    /// indices (the output is copied, nothing can fail).
    projection: Option<Vec<usize>>,

    /// Memory estimate ([`RowsWindowExec::state_bytes`]): the bytes every
    /// partition allocates when it is created, ...
    partition_bytes: usize,
    /// ... plus the strings held by partition keys, the ring, the MIN/MAX deques
    /// and the LEAD holding area, summed as they change (the ring and the LEAD
    /// holding area only when their columns can hold strings).
    heap_bytes: usize,
    track_ring: bool,
    track_pending: bool,
}

/// Compile-time tables being built by [`RowsWindowExec::new`].
struct Builder {
    /// The distinct arguments (bound, compared structurally) and their
    /// lowered forms: one slot each.
    arg_bound: Vec<BoundExpr>,
    arg_exprs: Vec<PhysicalExpr>,
    ring_cols: Vec<usize>,
    sum_specs: Vec<SumSpec>,
    deque_specs: Vec<(usize, bool)>,
    max_lag: Option<u64>,
    lead_depth: Option<u64>,
    uses_rank: bool,
}

impl Builder {
    /// The argument slot of `expr`, lowered once per distinct expression.
    fn arg(&mut self, expr: &BoundExpr) -> usize {
        if let Some(i) = self.arg_bound.iter().position(|e| e == expr) {
            return i;
        }
        self.arg_bound.push(expr.clone());
        self.arg_exprs.push(lower(expr));
        self.arg_exprs.len() - 1
    }

    fn ring_col(&mut self, arg: usize) -> usize {
        if let Some(c) = self.ring_cols.iter().position(|&a| a == arg) {
            return c;
        }
        self.ring_cols.push(arg);
        self.ring_cols.len() - 1
    }

    fn sum(&mut self, arg: usize, numeric: bool, name: &'static str) -> usize {
        let col = self.ring_col(arg);
        if let Some(i) = self
            .sum_specs
            .iter()
            .position(|s| s.col == col && (s.numeric || !numeric))
        {
            return i;
        }
        if let Some(i) = self.sum_specs.iter().position(|s| s.col == col) {
            // A COUNT already counts this column: let it sum as well.
            self.sum_specs[i].numeric = true;
            self.sum_specs[i].name = name;
            return i;
        }
        self.sum_specs.push(SumSpec {
            col,
            numeric,
            name,
            exact: None,
        });
        self.sum_specs.len() - 1
    }

    /// The tables one bound OVER call needs, and what it computes from them.
    fn call(&mut self, call: &OverCall) -> CallKind {
        let arg = call.arg.as_ref().map(|a| self.arg(a));
        let default = call.default.as_ref().map(|d| self.arg(d));
        match (&call.function, arg) {
            (OverFunction::CountStar, _) => CallKind::CountStar,
            (OverFunction::Aggregate(AggregateKind::Count), Some(a)) => CallKind::Count {
                acc: self.sum(a, false, "COUNT"),
            },
            (OverFunction::Aggregate(AggregateKind::Sum), Some(a)) => CallKind::Sum {
                acc: self.sum(a, true, "SUM"),
            },
            (OverFunction::Aggregate(AggregateKind::Avg), Some(a)) => CallKind::Avg {
                acc: self.sum(a, true, "AVG"),
            },
            (OverFunction::Aggregate(k @ (AggregateKind::Min | AggregateKind::Max)), Some(a)) => {
                self.deque_specs.push((a, *k == AggregateKind::Max));
                CallKind::MinMax {
                    deque: self.deque_specs.len() - 1,
                }
            }
            (OverFunction::Aggregate(AggregateKind::FirstValue), Some(a)) => CallKind::FirstValue {
                col: self.ring_col(a),
            },
            (OverFunction::Aggregate(_), Some(a)) => CallKind::LastValue { arg: a },
            (OverFunction::RowNumber, _) => CallKind::RowNumber,
            (OverFunction::Rank, _) => {
                self.uses_rank = true;
                CallKind::Rank
            }
            (OverFunction::DenseRank, _) => {
                self.uses_rank = true;
                CallKind::DenseRank
            }
            (OverFunction::Lag { offset }, Some(a)) => {
                self.max_lag = Some(self.max_lag.unwrap_or(0).max(*offset));
                CallKind::Lag {
                    col: self.ring_col(a),
                    offset: *offset,
                    default,
                }
            }
            (OverFunction::Lead { offset }, Some(a)) => {
                self.lead_depth = Some(self.lead_depth.unwrap_or(0).max(*offset));
                CallKind::Lead {
                    arg: a,
                    offset: *offset,
                    default,
                }
            }
            // The binder gives every other call an argument.
            (
                OverFunction::Aggregate(_) | OverFunction::Lag { .. } | OverFunction::Lead { .. },
                None,
            ) => CallKind::CountStar,
        }
    }
}

impl RowsWindowExec {
    /// Compiles `plan`'s query (which has a row window) against its input schema;
    /// `qualifiers` are the accepted table qualifiers (`plan.qualifiers()`).
    pub fn new(plan: &JobPlan, input: &Schema, qualifiers: &[String]) -> Result<RowsWindowExec> {
        let Some(window) = &plan.analysis.rows_window else {
            return Err(Error::Type(
                "internal error: RowsWindowExec needs a query with OVER".into(),
            ));
        };
        let bound = bind_rows(plan, input, qualifiers)?;
        let key_exprs: Vec<PhysicalExpr> = bound.partition_by.iter().map(lower).collect();
        let keys = match key_exprs
            .iter()
            .map(PhysicalExpr::as_column)
            .collect::<Option<Vec<usize>>>()
        {
            Some(cols) => KeyExprs::Columns(cols),
            None => KeyExprs::Exprs(key_exprs),
        };
        let mut b = Builder {
            arg_bound: Vec::new(),
            arg_exprs: Vec::new(),
            ring_cols: Vec::new(),
            sum_specs: Vec::new(),
            deque_specs: Vec::new(),
            max_lag: None,
            lead_depth: None,
            uses_rank: false,
        };
        let calls: Vec<CallKind> = bound.calls.iter().map(|c| b.call(c)).collect();
        let order_exprs: Vec<PhysicalExpr> = bound.order_by.iter().map(lower).collect();
        let time_expr = bound.time.as_ref().map(lower);
        let ext_schema = bound.extended;
        let select: Vec<PhysicalExpr> = bound.select.exprs.iter().map(lower).collect();
        let (fields, select_texts) = (bound.select.fields, bound.select.texts);

        // DOUBLE (and untyped) sums are kept exactly.
        let mut exact_sums = 0;
        for spec in &mut b.sum_specs {
            let t = b.arg_exprs[b.ring_cols[spec.col]].data_type();
            if spec.numeric && !matches!(t, DataType::Int | DataType::Decimal { .. }) {
                spec.exact = Some(exact_sums);
                exact_sums += 1;
            }
        }
        let frame = window.buffer_rows;
        let history = frame.max(b.max_lag.map_or(0, |k| k + 1));
        let key_width = window.partition_by.len();
        let ext_width = ext_schema.len();
        // What `new_partition` allocates, and which buffers may hold strings.
        let lead_slots = b.lead_depth.map_or(0, |d| d as usize + 1);
        let partition_bytes = size_of::<Partition>()
            + key_width * size_of::<Value>()
            + history as usize * b.ring_cols.len() * size_of::<Value>()
            + b.sum_specs.len() * size_of::<RunningSum>()
            + exact_sums * size_of::<ExactSum>()
            + b.deque_specs.len()
                * (size_of::<VecDeque<(u64, Value)>>()
                    + frame as usize * size_of::<(u64, Value)>())
            + order_exprs.len() * size_of::<Value>()
            + lead_slots * (ext_width * size_of::<Value>() + size_of::<Option<u64>>())
            + hash_entry_bytes(size_of::<u32>());
        let may_hold_strings = |t: DataType| matches!(t, DataType::String | DataType::Null);
        let arg_strings = |a: usize| may_hold_strings(b.arg_exprs[a].data_type());
        let track_ring = b.ring_cols.iter().any(|&a| arg_strings(a));
        let track_pending = lead_slots > 0
            && ext_schema
                .fields()
                .iter()
                .any(|f| may_hold_strings(f.data_type));
        Ok(RowsWindowExec {
            partition_bytes,
            heap_bytes: 0,
            track_ring,
            track_pending,
            frame,
            history,
            keys,
            key_scratch: Vec::with_capacity(key_width),
            args: Vec::with_capacity(b.arg_exprs.len()),
            arg_exprs: b.arg_exprs,
            ring_cols: b.ring_cols,
            sum_scratch: Vec::with_capacity(b.sum_specs.len()),
            sum_specs: b.sum_specs,
            exact_sums,
            deque_specs: b.deque_specs,
            order_scratch: Vec::with_capacity(order_exprs.len()),
            order_exprs,
            ranks: b.uses_rank,
            time_expr,
            expire_after_ms: window.expire_after_ms,
            calls,
            lead_depth: b.lead_depth,
            input_width: input.len(),
            ext_width,
            results: Vec::with_capacity(ext_width - input.len()),
            ext: Vec::with_capacity(ext_width),
            out_scratch: Vec::with_capacity(select.len()),
            projection: select.iter().map(PhysicalExpr::as_column).collect(),
            select,
            select_texts,
            output_schema: Arc::new(Schema::new(fields)),
            partitions: Vec::new(),
            free: Vec::new(),
            live: 0,
            created: 0,
            index: HashTable::new(),
            // Fixed seeds: the same input gives the same layout run after run.
            hasher: ahash::RandomState::with_seeds(0x5ee1, 0x0e0e, 0xc0de, 0xb0ff),
        })
    }

    /// The schema of the rows this operator emits: the select list's names and types.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// The SQL text of each select item, in output order (for ORDER BY on output).
    pub fn select_texts(&self) -> &[String] {
        &self.select_texts
    }

    /// Partitions held in state.
    pub fn partitions(&self) -> usize {
        self.live
    }

    /// Rows held in state: per partition, the rows kept in its ring buffer
    /// (`min(rows seen, buffer depth)`) plus the rows waiting for LEAD values.
    pub fn buffered_rows(&self) -> usize {
        self.partitions
            .iter()
            .filter(|p| p.live)
            .map(|p| {
                p.seen.min(self.history) as usize
                    + p.pending_seq.iter().filter(|s| s.is_some()).count()
            })
            .sum()
    }

    /// An estimate of the memory the partitions hold, O(1): the buffers each
    /// live partition allocated when it was created (key, ring, running sums,
    /// MIN/MAX deques at full size, LEAD holding area), plus the strings held in
    /// the key, the ring, the deques and the LEAD holding area, tracked as rows
    /// come and partitions expire. The previous ORDER BY values of RANK are
    /// counted at their inline size only.
    pub fn state_bytes(&self) -> usize {
        self.live * self.partition_bytes + self.heap_bytes
    }

    /// Whether rows are held back for LEAD (emitted later, or by `finish`).
    pub fn holds_rows(&self) -> bool {
        self.lead_depth.is_some()
    }

    /// Takes one row (that passed WHERE) and appends the rows it completes to `out`:
    /// the row itself, or with LEAD the row now `k` rows behind it, if any.
    ///
    /// A row whose arguments fail to evaluate, or whose running sums cannot take
    /// it (a non-number, a DECIMAL overflow), leaves the state unchanged: it
    /// creates no partition and restarts no expired one. A row
    /// whose result fails (a BIGINT SUM overflowing, a failing select expression)
    /// still enters the window; the error is returned after the state is updated.
    pub fn process_row(&mut self, row: &[Value], out: &mut BatchBuilder) -> Result<()> {
        debug_assert_eq!(row.len(), self.input_width);
        // 1. Evaluate everything that can fail before touching state.
        self.args.clear();
        for e in &self.arg_exprs {
            self.args.push(e.eval(row)?);
        }
        if !self.order_exprs.is_empty() {
            self.order_scratch.clear();
            for e in &self.order_exprs {
                self.order_scratch.push(e.eval(row)?);
            }
        }
        let time = match &self.time_expr {
            Some(t) => event_millis(&t.eval(row)?)?,
            None => None,
        };
        let hash = match &self.keys {
            KeyExprs::Columns(cols) => {
                let mut h = self.hasher.build_hasher();
                for &c in cols {
                    row[c].hash(&mut h);
                }
                h.finish()
            }
            KeyExprs::Exprs(exprs) => {
                self.key_scratch.clear();
                for e in exprs {
                    self.key_scratch.push(e.eval(row)?);
                }
                let mut h = self.hasher.build_hasher();
                for v in &self.key_scratch {
                    v.hash(&mut h);
                }
                h.finish()
            }
        };

        // 2. The partition, if it exists, and whether this row restarts it
        // (expiry: it arrives after the partition's idle time).
        let found = self.find_partition(hash, row);
        let restarts = match (found, time, self.expire_after_ms) {
            (Some(idx), Some(t), Some(ttl)) => self.partitions[idx]
                .last_time
                .is_some_and(|last| t.saturating_sub(last) > ttl),
            _ => false,
        };

        // 3. New running sums, fallibly, before any change: from empty sums
        // when the row starts its partition, so that a failing row creates no
        // partition and restarts none.
        self.sum_scratch.clear();
        match found.filter(|_| !restarts) {
            Some(idx) => {
                let p = &self.partitions[idx];
                let ring_width = self.ring_cols.len();
                // The ring row of the row leaving the frame (`seen - frame`).
                let evicted = (p.seen >= self.frame)
                    .then(|| back(p.pos, self.frame as usize, self.history as usize));
                for (spec, cur) in self.sum_specs.iter().zip(p.sums.iter()) {
                    let mut s = cur.with(&self.args[self.ring_cols[spec.col]], 1, spec)?;
                    if let Some(slot) = evicted {
                        s = s.with(&p.ring[slot * ring_width + spec.col], -1, spec)?;
                    }
                    self.sum_scratch.push(s);
                }
            }
            None => {
                for spec in &self.sum_specs {
                    let s = EMPTY_SUM.with(&self.args[self.ring_cols[spec.col]], 1, spec)?;
                    self.sum_scratch.push(s);
                }
            }
        }

        // 4. The partition, created if new; restarted when expired.
        let idx = match found {
            Some(idx) => idx,
            None => self.insert_partition(hash, row),
        };
        let mut first_error = None;
        if restarts {
            if let Err(e) = self.flush_pending(idx, out) {
                first_error.get_or_insert(e);
            }
            self.reset_partition(idx);
        }
        let p = &self.partitions[idx];
        let seq = p.seen;
        let ring_width = self.ring_cols.len();
        let pos = p.pos;
        let frame = self.frame as usize;
        let history = self.history as usize;
        // The ring row of the row leaving the frame (`seq - frame`), as in 3.
        let evicted = (seq >= self.frame).then(|| back(pos, frame, history));

        // 5. Commit. The exact DOUBLE sums first: the evicted value may sit in the
        // ring row the new row overwrites.
        let p = &mut self.partitions[idx];
        for (spec, s) in self.sum_specs.iter().zip(self.sum_scratch.iter_mut()) {
            let Some(e) = spec.exact else { continue };
            let acc = &mut p.exact[e];
            let mut changed = false;
            if let Value::Float(f) = &self.args[self.ring_cols[spec.col]] {
                acc.add(*f, false);
                changed = true;
            }
            if let Some(slot) = evicted {
                if let Value::Float(f) = &p.ring[slot * ring_width + spec.col] {
                    acc.add(*f, true);
                    changed = true;
                }
            }
            if s.n_floats == 0 {
                // Nothing left: the exact sum is zero; narrow it back.
                *acc = EMPTY_EXACT;
                s.floats = 0.0;
            } else if changed {
                s.floats = acc.value();
            }
        }
        if let Some(t) = time {
            p.last_time = Some(p.last_time.map_or(t, |l| l.max(t)));
        }
        p.seen = seq + 1;
        p.pos = if pos + 1 == history { 0 } else { pos + 1 };
        let base = pos * ring_width;
        let (mut added, mut removed) = (0, 0);
        for (c, &a) in self.ring_cols.iter().enumerate() {
            let cell = &mut p.ring[base + c];
            if self.track_ring {
                removed += value_heap_bytes(cell);
                added += value_heap_bytes(&self.args[a]);
            }
            cell.clone_from(&self.args[a]);
        }
        p.sums.copy_from_slice(&self.sum_scratch);
        for (&(arg, is_max), dq) in self.deque_specs.iter().zip(p.deques.iter_mut()) {
            while dq.front().is_some_and(|(s, _)| s + self.frame <= seq) {
                if let Some((_, old)) = dq.pop_front() {
                    removed += value_heap_bytes(&old);
                }
            }
            let v = &self.args[arg];
            if v.is_null() {
                continue;
            }
            let drop_worse = if is_max {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            while dq
                .back()
                .is_some_and(|(_, b)| b.sql_cmp(v) == Some(drop_worse))
            {
                if let Some((_, old)) = dq.pop_back() {
                    removed += value_heap_bytes(&old);
                }
            }
            added += value_heap_bytes(v);
            dq.push_back((seq, v.clone()));
        }
        if self.ranks {
            if seq == 0 {
                p.rank = 1;
                p.dense_rank = 1;
            } else if *p.prev_order != self.order_scratch[..] {
                p.rank = seq + 1;
                p.dense_rank += 1;
            }
            p.prev_order.clone_from_slice(&self.order_scratch);
        }
        self.heap_bytes = (self.heap_bytes + added).saturating_sub(removed);

        // 6. The OVER results; the extended row is [input..., results...].
        let result = self.push_results(idx, seq, pos);

        // 7. Output: now, or held for LEAD.
        let Some(depth) = self.lead_depth else {
            match result {
                Ok(()) => {
                    if let Err(e) = self.emit_current(row, out) {
                        first_error.get_or_insert(e);
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
            return first_error.map_or(Ok(()), Err);
        };
        let slots = depth + 1;
        let w = self.ext_width;
        let iw = self.input_width;
        let p = &mut self.partitions[idx];
        let slot = (seq % slots) as usize;
        let (mut added, mut removed) = (0, 0);
        match result {
            Ok(()) => {
                let held = &mut p.pending[slot * w..(slot + 1) * w];
                if self.track_pending {
                    removed += values_heap_bytes(held);
                }
                held[..iw].clone_from_slice(row);
                held[iw..].clone_from_slice(&self.results);
                if self.track_pending {
                    added += values_heap_bytes(held);
                }
                p.pending_seq[slot] = Some(seq);
            }
            Err(e) => {
                p.pending_seq[slot] = None;
                first_error.get_or_insert(e);
            }
        }
        // This row's LEAD argument is the value of earlier rows' LEAD calls.
        for (i, call) in self.calls.iter().enumerate() {
            if let CallKind::Lead { arg, offset, .. } = call {
                if let Some(target) = seq.checked_sub(*offset) {
                    let s = (target % slots) as usize;
                    if p.pending_seq[s] == Some(target) {
                        let cell = &mut p.pending[s * w + self.input_width + i];
                        if self.track_pending {
                            removed += value_heap_bytes(cell);
                            added += value_heap_bytes(&self.args[*arg]);
                        }
                        cell.clone_from(&self.args[*arg]);
                    }
                }
            }
        }
        self.heap_bytes = (self.heap_bytes + added).saturating_sub(removed);
        if let Some(done) = seq.checked_sub(depth) {
            let s = (done % slots) as usize;
            if p.pending_seq[s] == Some(done) {
                p.pending_seq[s] = None;
                if let Err(e) = emit(
                    &self.select,
                    self.projection.as_deref(),
                    &mut self.out_scratch,
                    &p.pending[s * w..(s + 1) * w],
                    out,
                ) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Emits the current row (no LEAD): its input values and `results`.
    fn emit_current(&mut self, row: &[Value], out: &mut BatchBuilder) -> Result<()> {
        if let Some(cols) = &self.projection {
            let iw = self.input_width;
            for &c in cols {
                out.push_value(if c < iw {
                    row[c].clone()
                } else {
                    self.results[c - iw].clone()
                });
            }
            out.finish_row();
            return Ok(());
        }
        self.ext.clear();
        self.ext.extend_from_slice(row);
        self.ext.append(&mut self.results);
        emit(&self.select, None, &mut self.out_scratch, &self.ext, out)
    }

    /// End of input: emits the rows held for LEAD (with their defaults), partition
    /// by partition in order of creation. The state is kept (the frames go on).
    pub fn finish(&mut self, out: &mut BatchBuilder) -> Result<()> {
        if self.lead_depth.is_none() {
            return Ok(());
        }
        let mut order: Vec<(u64, usize)> = self
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.live)
            .map(|(i, p)| (p.created, i))
            .collect();
        order.sort_unstable();
        let mut first_error = None;
        for (_, i) in order {
            if let Err(e) = self.flush_pending(i, out) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// EXPIRE AFTER, eagerly: drops every partition whose last activity is more
    /// than the expiry before `watermark_ms` (event time), emitting its held LEAD
    /// rows into `out` first, and frees its memory. Returns the number of
    /// partitions dropped. `watermark_ms` must be a watermark: rows older than it
    /// must no longer arrive (see the module docs). Does nothing without EXPIRE.
    pub fn expire_idle(&mut self, watermark_ms: i64, out: &mut BatchBuilder) -> Result<usize> {
        let Some(ttl) = self.expire_after_ms else {
            return Ok(0);
        };
        let mut dropped = 0;
        let mut first_error = None;
        let mut order: Vec<(u64, usize)> = self
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.live
                    && p.last_time
                        .is_some_and(|last| watermark_ms.saturating_sub(last) > ttl)
            })
            .map(|(i, p)| (p.created, i))
            .collect();
        order.sort_unstable();
        for (_, i) in order {
            if let Err(e) = self.flush_pending(i, out) {
                first_error.get_or_insert(e);
            }
            let p = &mut self.partitions[i];
            let held = values_heap_bytes(&p.key)
                + values_heap_bytes(&p.ring)
                + values_heap_bytes(&p.pending)
                + p.deques
                    .iter()
                    .flatten()
                    .map(|(_, v)| value_heap_bytes(v))
                    .sum::<usize>();
            self.heap_bytes = self.heap_bytes.saturating_sub(held);
            let hash = p.hash;
            p.live = false;
            p.key = Box::new([]);
            p.ring = Box::new([]);
            p.sums = Box::new([]);
            p.exact = Box::new([]);
            p.deques = Box::new([]);
            p.prev_order = Box::new([]);
            p.pending = Box::new([]);
            p.pending_seq = Box::new([]);
            if let Ok(entry) = self.index.find_entry(hash, |&j| j as usize == i) {
                entry.remove();
            }
            self.free.push(i as u32);
            self.live -= 1;
            dropped += 1;
        }
        first_error.map_or(Ok(dropped), Err)
    }

    /// The index of the row's partition, if it has one.
    fn find_partition(&self, hash: u64, row: &[Value]) -> Option<usize> {
        let partitions = &self.partitions;
        let found = match &self.keys {
            KeyExprs::Columns(cols) => self.index.find(hash, |&i| {
                let p = &partitions[i as usize];
                p.key.iter().zip(cols).all(|(k, &c)| *k == row[c])
            }),
            KeyExprs::Exprs(_) => {
                let key = &self.key_scratch;
                self.index
                    .find(hash, |&i| *partitions[i as usize].key == key[..])
            }
        };
        found.map(|&i| i as usize)
    }

    /// A new partition for the row's key (which has none); its index.
    fn insert_partition(&mut self, hash: u64, row: &[Value]) -> usize {
        let key: Box<[Value]> = match &self.keys {
            KeyExprs::Columns(cols) => cols.iter().map(|&c| row[c].clone()).collect(),
            KeyExprs::Exprs(_) => self.key_scratch.as_slice().into(),
        };
        self.heap_bytes += values_heap_bytes(&key);
        let partition = self.new_partition(hash, key);
        self.place_partition(hash, partition)
    }

    /// Puts `partition` in a free slot (or a new one) and indexes it by
    /// `hash`; its index.
    fn place_partition(&mut self, hash: u64, partition: Partition) -> usize {
        let i = match self.free.pop() {
            Some(i) => {
                self.partitions[i as usize] = partition;
                i as usize
            }
            None => {
                self.partitions.push(partition);
                self.partitions.len() - 1
            }
        };
        let partitions = &self.partitions;
        self.index
            .insert_unique(hash, i as u32, |&j| partitions[j as usize].hash);
        self.live += 1;
        i
    }

    /// A fresh partition: every buffer allocated here, once.
    fn new_partition(&mut self, hash: u64, key: Box<[Value]>) -> Partition {
        self.created += 1;
        let slots = self.lead_depth.map_or(0, |d| d as usize + 1);
        Partition {
            live: true,
            hash,
            key,
            created: self.created,
            seen: 0,
            last_time: None,
            ring: vec![Value::Null; self.history as usize * self.ring_cols.len()]
                .into_boxed_slice(),
            pos: 0,
            sums: vec![EMPTY_SUM; self.sum_specs.len()].into_boxed_slice(),
            exact: vec![EMPTY_EXACT; self.exact_sums].into_boxed_slice(),
            deques: self
                .deque_specs
                .iter()
                .map(|_| VecDeque::with_capacity(self.frame as usize))
                .collect(),
            prev_order: vec![Value::Null; self.order_exprs.len()].into_boxed_slice(),
            rank: 0,
            dense_rank: 0,
            pending: vec![Value::Null; slots * self.ext_width].into_boxed_slice(),
            pending_seq: vec![None; slots].into_boxed_slice(),
        }
    }

    /// Forgets a partition's rows but keeps its buffers (expiry on arrival).
    fn reset_partition(&mut self, idx: usize) {
        let p = &mut self.partitions[idx];
        p.seen = 0;
        p.pos = 0;
        p.sums.fill(EMPTY_SUM);
        p.exact.fill(EMPTY_EXACT);
        for d in p.deques.iter_mut() {
            let held: usize = d.iter().map(|(_, v)| value_heap_bytes(v)).sum();
            self.heap_bytes = self.heap_bytes.saturating_sub(held);
            d.clear();
        }
        p.rank = 0;
        p.dense_rank = 0;
        p.pending_seq.fill(None);
    }

    /// Emits the partition's held LEAD rows, oldest first; their missing LEAD
    /// values keep the defaults.
    fn flush_pending(&mut self, idx: usize, out: &mut BatchBuilder) -> Result<()> {
        let Some(depth) = self.lead_depth else {
            return Ok(());
        };
        let slots = depth + 1;
        let w = self.ext_width;
        let p = &mut self.partitions[idx];
        let mut first_error = None;
        for seq in p.seen.saturating_sub(slots)..p.seen {
            let s = (seq % slots) as usize;
            if p.pending_seq[s] == Some(seq) {
                p.pending_seq[s] = None;
                if let Err(e) = emit(
                    &self.select,
                    self.projection.as_deref(),
                    &mut self.out_scratch,
                    &p.pending[s * w..(s + 1) * w],
                    out,
                ) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Puts each OVER call's result for row `seq` (in ring row `pos`) of partition
    /// `idx` into `results`.
    fn push_results(&mut self, idx: usize, seq: u64, pos: usize) -> Result<()> {
        let p = &self.partitions[idx];
        let ring_width = self.ring_cols.len();
        let history = self.history as usize;
        self.results.clear();
        let mut first_error = None;
        for call in &self.calls {
            let v = match call {
                CallKind::CountStar => Value::Int((seq + 1).min(self.frame) as i64),
                CallKind::Count { acc } => Value::Int(p.sums[*acc].count),
                CallKind::Sum { acc } => p.sums[*acc].sum().unwrap_or_else(|e| {
                    first_error.get_or_insert(e);
                    Value::Null
                }),
                CallKind::Avg { acc } => p.sums[*acc].avg().unwrap_or_else(|e| {
                    first_error.get_or_insert(e);
                    Value::Null
                }),
                CallKind::MinMax { deque } => p.deques[*deque]
                    .front()
                    .map_or(Value::Null, |(_, v)| v.clone()),
                CallKind::FirstValue { col } => {
                    let age = seq.min(self.frame - 1) as usize;
                    p.ring[back(pos, age, history) * ring_width + col].clone()
                }
                CallKind::LastValue { arg } => self.args[*arg].clone(),
                CallKind::RowNumber => Value::Int((seq + 1) as i64),
                CallKind::Rank => Value::Int(p.rank as i64),
                CallKind::DenseRank => Value::Int(p.dense_rank as i64),
                CallKind::Lag {
                    col,
                    offset,
                    default,
                } => match seq.checked_sub(*offset) {
                    Some(_) => {
                        p.ring[back(pos, *offset as usize, history) * ring_width + col].clone()
                    }
                    None => default.map_or(Value::Null, |d| self.args[d].clone()),
                },
                CallKind::Lead { default, .. } => {
                    default.map_or(Value::Null, |d| self.args[d].clone())
                }
            };
            self.results.push(v);
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// One partition as a checkpoint stores it: what its state means (see
/// [`RowsWindowExec::store`]), never the ring's rotation or slot layout.
#[derive(Serialize)]
struct StoredPartitionRef<'a> {
    key: &'a [Value],
    seen: u64,
    last_time: Option<i64>,
    /// The ring's rows still read (the last `min(seen, history)`), oldest
    /// first, `ring_width` values each.
    ring: Vec<&'a Value>,
    sums: &'a [RunningSum],
    deques: &'a [VecDeque<(u64, Value)>],
    prev_order: &'a [Value],
    rank: u64,
    dense_rank: u64,
    /// The rows held for LEAD, oldest first: sequence number, extended row.
    pending: Vec<(u64, &'a [Value])>,
}

/// [`StoredPartitionRef`] read back (the same encoding, owned).
#[derive(Deserialize)]
struct StoredPartition {
    key: Vec<Value>,
    seen: u64,
    last_time: Option<i64>,
    ring: Vec<Value>,
    sums: Vec<RunningSum>,
    deques: Vec<VecDeque<(u64, Value)>>,
    prev_order: Vec<Value>,
    rank: u64,
    dense_rank: u64,
    pending: Vec<(u64, Vec<Value>)>,
}

impl RowsWindowExec {
    /// Appends the partitions' state to `out` for a checkpoint, in order of
    /// creation: each live partition's PARTITION BY key, its row count and
    /// last event time, the ring rows still read (oldest first), its running
    /// COUNT / SUM / AVG sums, its MIN / MAX deques as (sequence, value), the
    /// previous ORDER BY values and RANK / DENSE_RANK, and the rows held for
    /// LEAD with their sequence numbers. The exact DOUBLE sums are not
    /// stored: [`RowsWindowExec::load`] sums the frame's DOUBLE values again,
    /// exactly (their value does not depend on the order nor on the rows
    /// that left the frame).
    pub(crate) fn store(&self, out: &mut Vec<u8>) -> Result<()> {
        let mut order: Vec<(u64, usize)> = self
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.live)
            .map(|(i, p)| (p.created, i))
            .collect();
        order.sort_unstable();
        let (history, width) = (self.history, self.ring_cols.len());
        let slots = self.lead_depth.map_or(0, |d| d + 1);
        let w = self.ext_width;
        let stored: Vec<StoredPartitionRef<'_>> = order
            .into_iter()
            .map(|(_, i)| {
                let p = &self.partitions[i];
                let kept = p.seen.min(history);
                let ring = (p.seen - kept..p.seen)
                    .flat_map(|seq| {
                        let r = (seq % history) as usize;
                        &p.ring[r * width..(r + 1) * width]
                    })
                    .collect();
                let pending = (p.seen.saturating_sub(slots)..p.seen)
                    .filter_map(|seq| {
                        let s = (seq % slots) as usize;
                        (p.pending_seq[s] == Some(seq))
                            .then(|| (seq, &p.pending[s * w..(s + 1) * w]))
                    })
                    .collect();
                StoredPartitionRef {
                    key: &p.key,
                    seen: p.seen,
                    last_time: p.last_time,
                    ring,
                    sums: &p.sums,
                    deques: &p.deques,
                    prev_order: &p.prev_order,
                    rank: p.rank,
                    dense_rank: p.dense_rank,
                    pending,
                }
            })
            .collect();
        state::put(OPERATOR, &stored, out)
    }

    /// Adds the partitions [`RowsWindowExec::store`] wrote at the front of
    /// `bytes` whose PARTITION BY key `scope` owns, rebuilding their ring,
    /// exact sums and LEAD holding area; returns the bytes after them. A key
    /// stored twice (by two old partitions: rows of one PARTITION BY key were
    /// not routed to one partition) is refused: two histories of one key
    /// cannot be made one.
    pub(crate) fn load<'b>(
        &mut self,
        bytes: &'b [u8],
        scope: &RestoreScope<'_>,
    ) -> Result<&'b [u8]> {
        let (stored, rest): (Vec<StoredPartition>, _) = state::take(OPERATOR, bytes)?;
        for p in stored {
            self.check_stored(&p)?;
            if scope.owns(&p.key) {
                self.restore_partition(p)?;
            }
        }
        Ok(rest)
    }

    /// Whether a stored partition fits this query's tables.
    fn check_stored(&self, p: &StoredPartition) -> Result<()> {
        let slots = self.lead_depth.map_or(0, |d| d + 1);
        let kept = p.seen.min(self.history) as usize;
        let fits = p.key.len() == self.key_width()
            && p.ring.len() == kept * self.ring_cols.len()
            && p.sums.len() == self.sum_specs.len()
            && p.deques.len() == self.deque_specs.len()
            && p.prev_order.len() == self.order_exprs.len()
            && p.pending.iter().all(|(seq, row)| {
                row.len() == self.ext_width && *seq < p.seen && seq + slots >= p.seen
            })
            && p.deques.iter().flatten().all(|(seq, _)| *seq < p.seen);
        if fits {
            return Ok(());
        }
        Err(Error::State {
            operator: OPERATOR,
            message: format!(
                "a stored partition ({} keys, {} ring values, {} sums, {} MIN/MAX, {} ORDER BY values) \
                 does not fit this query's ({} keys, {} ring columns, {} sums, {} MIN/MAX, {} ORDER BY)",
                p.key.len(),
                p.ring.len(),
                p.sums.len(),
                p.deques.len(),
                p.prev_order.len(),
                self.key_width(),
                self.ring_cols.len(),
                self.sum_specs.len(),
                self.deque_specs.len(),
                self.order_exprs.len()
            ),
        })
    }

    /// The PARTITION BY key's width.
    fn key_width(&self) -> usize {
        match &self.keys {
            KeyExprs::Columns(c) => c.len(),
            KeyExprs::Exprs(e) => e.len(),
        }
    }

    /// One stored partition back: a fresh partition (as the first row of its
    /// key would create) filled with the stored state.
    fn restore_partition(&mut self, stored: StoredPartition) -> Result<()> {
        let mut h = self.hasher.build_hasher();
        for v in &stored.key {
            v.hash(&mut h);
        }
        let hash = h.finish();
        let partitions = &self.partitions;
        if self
            .index
            .find(hash, |&i| *partitions[i as usize].key == stored.key[..])
            .is_some()
        {
            return Err(Error::State {
                operator: OPERATOR,
                message: "two stored partitions hold the same PARTITION BY key: were its rows \
                          not routed by it?"
                    .into(),
            });
        }
        let key: Box<[Value]> = stored.key.into_boxed_slice();
        let mut held = values_heap_bytes(&key);
        let mut p = self.new_partition(hash, key);
        let (history, width) = (self.history, self.ring_cols.len());
        let kept = stored.seen.min(history);
        for (seq, values) in (stored.seen - kept..stored.seen).zip(stored.ring.chunks(width.max(1)))
        {
            let r = (seq % history) as usize;
            p.ring[r * width..(r + 1) * width].clone_from_slice(values);
        }
        if self.track_ring {
            held += values_heap_bytes(&p.ring);
        }
        p.seen = stored.seen;
        p.pos = (stored.seen % history) as usize;
        p.last_time = stored.last_time;
        p.sums.copy_from_slice(&stored.sums);
        // The exact DOUBLE sums: the frame's DOUBLE values summed again.
        let in_frame = stored.seen.min(self.frame);
        for spec in &self.sum_specs {
            let Some(e) = spec.exact else { continue };
            let acc = &mut p.exact[e];
            for seq in stored.seen - in_frame..stored.seen {
                let r = (seq % history) as usize;
                if let Value::Float(f) = p.ring[r * width + spec.col] {
                    acc.add(f, false);
                }
            }
        }
        for (dq, from) in p.deques.iter_mut().zip(stored.deques) {
            held += from.iter().map(|(_, v)| value_heap_bytes(v)).sum::<usize>();
            dq.extend(from);
        }
        p.prev_order = stored.prev_order.into_boxed_slice();
        p.rank = stored.rank;
        p.dense_rank = stored.dense_rank;
        if let Some(depth) = self.lead_depth {
            let (slots, w) = (depth + 1, self.ext_width);
            for (seq, row) in stored.pending {
                let s = (seq % slots) as usize;
                p.pending[s * w..(s + 1) * w].clone_from_slice(&row);
                p.pending_seq[s] = Some(seq);
            }
            if self.track_pending {
                held += values_heap_bytes(&p.pending);
            }
        }
        self.heap_bytes += held;
        self.place_partition(hash, p);
        Ok(())
    }
}

/// The ring row `age` rows before ring row `pos` (`age < history`).
#[inline]
fn back(pos: usize, age: usize, history: usize) -> usize {
    if pos >= age {
        pos - age
    } else {
        pos + history - age
    }
}

/// Evaluates the select list over an extended row and appends the output row;
/// nothing is appended if an expression fails.
fn emit(
    select: &[PhysicalExpr],
    projection: Option<&[usize]>,
    scratch: &mut Vec<Value>,
    ext: &[Value],
    out: &mut BatchBuilder,
) -> Result<()> {
    if let Some(cols) = projection {
        for &c in cols {
            out.push_value(ext[c].clone());
        }
        out.finish_row();
        return Ok(());
    }
    scratch.clear();
    for e in select {
        scratch.push(e.eval(ext)?);
    }
    out.push_row(scratch.drain(..));
    Ok(())
}

/// A row's event time in milliseconds (`None` for NULL).
fn event_millis(v: &Value) -> Result<Option<i64>> {
    match v {
        Value::Null => Ok(None),
        Value::Int(t) | Value::Timestamp(t) => Ok(Some(*t)),
        other => match cast_value(other, DataType::Timestamp)? {
            Value::Timestamp(t) => Ok(Some(t)),
            _ => Ok(None),
        },
    }
}

/// The tests' independent exact sum (Shewchuk's partials, as `math.fsum`).
#[cfg(test)]
#[path = "../../tests/support/fsum.rs"]
mod fsum_reference;

#[cfg(test)]
mod tests {
    use super::fsum_reference::fsum;
    use super::*;

    fn exact(xs: &[f64]) -> f64 {
        let mut s = EMPTY_EXACT;
        for &x in xs {
            s.add(x, false);
        }
        s.value()
    }

    /// A small deterministic generator for the randomized tests.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    fn same(a: f64, b: f64) -> bool {
        a == b || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn exact_sums_round_once() {
        let two53 = 9_007_199_254_740_992.0;
        let tiny = f64::from_bits(1);
        let cases: &[(&[f64], f64)] = &[
            (&[], 0.0),
            (&[1e17, 1.0, 1.0, -1e17], 2.0),
            (&[0.1, 0.2, 0.3], 0.6),
            (&[0.1, 0.2], 0.30000000000000004),
            // Ties go to even; anything past the tie goes up.
            (&[two53, 1.0], two53),
            (&[two53, 3.0], two53 + 4.0),
            (&[two53, 1.0, tiny], two53 + 2.0),
            (&[-two53, -1.0, -tiny], -two53 - 2.0),
            (&[1e300, 1e-300, -1e300], 1e-300),
            (&[tiny, tiny, tiny], 3.0 * tiny),
            (&[f64::MIN_POSITIVE, -tiny], f64::MIN_POSITIVE - tiny),
            (&[-0.0, -0.0], 0.0),
            (&[5.0, -5.0], 0.0),
            (&[f64::MAX, f64::MAX], f64::INFINITY),
            (&[f64::MAX, f64::MAX, -f64::MAX], f64::MAX),
            (&[-f64::MAX, -f64::MAX], f64::NEG_INFINITY),
            (&[1.0, f64::INFINITY], f64::INFINITY),
            (&[1.0, f64::NEG_INFINITY], f64::NEG_INFINITY),
            (&[f64::INFINITY, f64::NEG_INFINITY], f64::NAN),
            (&[f64::NAN, 1.0], f64::NAN),
        ];
        for (xs, expected) in cases {
            let got = exact(xs);
            assert!(same(got, *expected), "{xs:?}: {got:e}, not {expected:e}");
        }
    }

    #[test]
    fn removing_values_is_exact_and_frees_the_range() {
        let mut s = EMPTY_EXACT;
        for x in [1e300, 3.5, -1e-300, f64::INFINITY, f64::NAN] {
            s.add(x, false);
        }
        assert!(s.value().is_nan());
        s.add(f64::NAN, true);
        assert_eq!(s.value(), f64::INFINITY);
        s.add(f64::INFINITY, true);
        s.add(1e300, true);
        assert_eq!(s.value(), 3.5 - 1e-300);
        s.add(3.5, true);
        assert_eq!(s.value(), -1e-300);
        s.add(-1e-300, true);
        assert_eq!(s.value(), 0.0);
        assert_eq!(s, EMPTY_EXACT, "an exactly zero sum narrows to nothing");
    }

    /// Prices within the fast form's band, now and then a value far outside
    /// it (held in the digits until it leaves the frame) or an exact
    /// cancellation (which sets the scale afresh), through frames up to 100
    /// rows: after each row the sum is the reference's of the frame, and both
    /// parts are exercised.
    #[test]
    fn fast_and_digit_parts_sum_exactly() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let (mut fast_rows, mut digit_rows) = (0, 0);
        for frame in [1usize, 7, 100] {
            let mut s = EMPTY_EXACT;
            let mut values: Vec<f64> = Vec::new();
            for i in 0..4000 {
                let x = match next() % 50 {
                    0 => [1e-30, -1e30, 3e-300, f64::MAX / 4.0][(next() % 4) as usize],
                    1 if !values.is_empty() => -values[values.len() - 1],
                    _ => (5000 + next() % 10_000) as f64 / 100.0,
                };
                values.push(x);
                s.add(x, false);
                if values.len() > frame {
                    s.add(values[values.len() - frame - 1], true);
                }
                let window = &values[values.len().saturating_sub(frame)..];
                let (got, want) = (s.value(), fsum(window));
                assert!(
                    same(got, want),
                    "row {i}, {window:?}: {got:e}, not {want:e}"
                );
                if s.lo <= s.top {
                    digit_rows += 1;
                } else {
                    fast_rows += 1;
                }
            }
        }
        assert!(
            fast_rows > 1000 && digit_rows > 1000,
            "{fast_rows} fast, {digit_rows} in digits"
        );
    }

    /// Values of every magnitude (subnormal to 1e300), both signs, through a
    /// sliding frame: after each row the sum is the reference's of the frame.
    #[test]
    fn sliding_exact_sums_match_a_reference() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for frame in [1usize, 2, 3, 5, 8] {
            let mut s = EMPTY_EXACT;
            let mut values: Vec<f64> = Vec::new();
            for _ in 0..3000 {
                let r = next();
                let x = match r % 4 {
                    // Any finite value below 2^997 (so that no partial sum of
                    // the reference overflows).
                    0 => f64::from_bits(next() & !(0x7ff << 52) | ((next() % 2020) << 52)),
                    1 => ((next() % 2001) as f64 - 1000.0) / 10.0,
                    2 => [1e17, -1e17, 1e300, -1e300, 5e-324, -1e-310][(next() % 6) as usize],
                    _ => (next() % 7) as f64,
                };
                values.push(x);
                s.add(x, false);
                if values.len() > frame {
                    s.add(values[values.len() - frame - 1], true);
                }
                let window = &values[values.len().saturating_sub(frame)..];
                let (got, want) = (s.value(), fsum(window));
                assert!(same(got, want), "{window:?}: {got:e}, not {want:e}");
            }
        }
    }
}
