//! Per-group aggregate state.

use std::cmp::Ordering;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use velo_types::{DataType, Decimal, Value};

use super::AggregateKind;
use crate::error::{Error, Result};
use crate::memory::{hash_entry_bytes, value_heap_bytes};

type ValueSet = hashbrown::HashSet<Value, ahash::RandomState>;

/// The running sum of SUM; the variant follows the values seen (BIGINT, promoted to
/// DECIMAL or DOUBLE when such a value arrives).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SumState {
    Empty,
    Int(i64),
    Float(f64),
    Decimal(Decimal),
}

/// The running sum of AVG: BIGINTs are summed in 128 bits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum AvgSum {
    Empty,
    Int(i128),
    Float(f64),
    Decimal(Decimal),
}

/// One group's state for one aggregate. See the module docs for the semantics.
/// Checkpoints store it with serde, variant by variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Accumulator {
    Count(i64),
    CountStar(i64),
    Sum(SumState),
    Avg {
        sum: AvgSum,
        count: i64,
    },
    /// The smallest value so far (NULL before the first).
    Min(Value),
    Max(Value),
    /// Welford's running count, mean and sum of squared deviations.
    Variance {
        kind: AggregateKind,
        count: i64,
        mean: f64,
        m2: f64,
    },
    FirstValue(Value),
    LastValue(Value),
    /// DISTINCT: the values seen, and the accumulator fed with each new one (boxed,
    /// so that the common variants stay small).
    Distinct(Box<DistinctState>),
}

/// The state of a DISTINCT aggregate.
#[derive(Debug, Clone)]
pub struct DistinctState {
    /// The distinct non-NULL values seen so far.
    pub seen: hashbrown::HashSet<Value, ahash::RandomState>,
    /// The aggregate over those values.
    pub inner: Accumulator,
    /// What the values in `seen` hold outside the set (string text), for
    /// [`Accumulator::heap_bytes`].
    value_bytes: usize,
}

/// A DISTINCT state is stored as its values (in no particular order) and the
/// inner accumulator; the set and its byte count are rebuilt on restore.
impl Serialize for DistinctState {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let seen: Vec<&Value> = self.seen.iter().collect();
        (seen, &self.inner).serialize(s)
    }
}

impl<'de> Deserialize<'de> for DistinctState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<DistinctState, D::Error> {
        let (values, inner) = <(Vec<Value>, Accumulator)>::deserialize(d)?;
        let value_bytes = values.iter().map(value_heap_bytes).sum();
        let mut seen = ValueSet::with_capacity_and_hasher(values.len(), ahash::RandomState::new());
        seen.extend(values);
        Ok(DistinctState {
            seen,
            inner,
            value_bytes,
        })
    }
}

fn not_numeric(kind: &'static str, v: &Value) -> Error {
    Error::Type(format!(
        "{kind} needs numbers, got {} value {v}",
        v.data_type()
    ))
}

impl Accumulator {
    /// Sets `self` to `fresh` (a new accumulator of the same aggregate), as
    /// `clone_from` does, but assigns the plain numeric states in place: a window
    /// slot is reset this way each time it closes, and the derived `clone_from`
    /// drops the old state and clones the new one variant by variant.
    #[inline]
    pub fn reset_from(&mut self, fresh: &Accumulator) {
        match (self, fresh) {
            (Accumulator::Count(a), Accumulator::Count(b))
            | (Accumulator::CountStar(a), Accumulator::CountStar(b)) => *a = *b,
            (Accumulator::Sum(a), Accumulator::Sum(b)) => *a = *b,
            (
                Accumulator::Avg { sum, count },
                Accumulator::Avg {
                    sum: fresh_sum,
                    count: fresh_count,
                },
            ) => {
                *sum = *fresh_sum;
                *count = *fresh_count;
            }
            (this, fresh) => this.clone_from(fresh),
        }
    }

    /// A fresh accumulator (without DISTINCT).
    pub fn new(kind: AggregateKind, _input_type: DataType) -> Accumulator {
        use AggregateKind::*;
        match kind {
            Count => Accumulator::Count(0),
            CountStar => Accumulator::CountStar(0),
            Sum => Accumulator::Sum(SumState::Empty),
            Avg => Accumulator::Avg {
                sum: AvgSum::Empty,
                count: 0,
            },
            Min => Accumulator::Min(Value::Null),
            Max => Accumulator::Max(Value::Null),
            StddevSamp | StddevPop | VarSamp | VarPop => Accumulator::Variance {
                kind,
                count: 0,
                mean: 0.0,
                m2: 0.0,
            },
            FirstValue => Accumulator::FirstValue(Value::Null),
            LastValue => Accumulator::LastValue(Value::Null),
        }
    }

    /// Wraps `inner` so that it only sees each distinct non-NULL value once.
    pub fn distinct(inner: Accumulator) -> Accumulator {
        Accumulator::Distinct(Box::new(DistinctState {
            seen: ValueSet::with_hasher(ahash::RandomState::new()),
            inner,
            value_bytes: 0,
        }))
    }

    /// Adds one input value. NULL is ignored except by COUNT(*), which counts every
    /// call. Errors: BIGINT SUM overflow, DECIMAL overflow, non-numeric input to a
    /// numeric aggregate.
    #[inline]
    pub fn update(&mut self, v: &Value) -> Result<()> {
        if let Accumulator::CountStar(n) = self {
            *n += 1;
            return Ok(());
        }
        if v.is_null() {
            return Ok(());
        }
        match self {
            Accumulator::Count(n) => *n += 1,
            Accumulator::CountStar(_) => {}
            Accumulator::Sum(state) => *state = sum_add(*state, v)?,
            Accumulator::Avg { sum, count } => {
                *sum = avg_add(*sum, v)?;
                *count += 1;
            }
            Accumulator::Min(cur) => {
                if cur.is_null() || v.sql_cmp(cur) == Some(Ordering::Less) {
                    *cur = v.clone();
                }
            }
            Accumulator::Max(cur) => {
                if cur.is_null() || v.sql_cmp(cur) == Some(Ordering::Greater) {
                    *cur = v.clone();
                }
            }
            Accumulator::Variance {
                kind,
                count,
                mean,
                m2,
            } => {
                let x = match v {
                    Value::Int(_) | Value::Float(_) | Value::Decimal(_) => {
                        v.as_f64().unwrap_or(f64::NAN)
                    }
                    other => return Err(not_numeric(kind.name(), other)),
                };
                *count += 1;
                let delta = x - *mean;
                *mean += delta / *count as f64;
                *m2 += delta * (x - *mean);
            }
            Accumulator::FirstValue(cur) => {
                if cur.is_null() {
                    *cur = v.clone();
                }
            }
            Accumulator::LastValue(cur) => *cur = v.clone(),
            Accumulator::Distinct(state) => {
                if !state.seen.contains(v) {
                    state.inner.update(v)?;
                    state.value_bytes += value_heap_bytes(v);
                    state.seen.insert(v.clone());
                }
            }
        }
        Ok(())
    }

    /// Whether [`Accumulator::update`] can fail: SUM, AVG and the variance
    /// family (overflow, a non-number), and DISTINCT over one of them. COUNT,
    /// MIN, MAX, FIRST_VALUE and LAST_VALUE always succeed.
    #[inline]
    pub fn can_fail(&self) -> bool {
        match self {
            Accumulator::Sum(_) | Accumulator::Avg { .. } | Accumulator::Variance { .. } => true,
            Accumulator::Distinct(state) => state.inner.can_fail(),
            _ => false,
        }
    }

    /// What [`Accumulator::update`] with `v` would return, without changing
    /// anything: `Ok` exactly when the update succeeds. With it a row that
    /// updates several accumulators (or several windows) is checked before
    /// any is changed, so that it is applied to all of them or to none.
    #[inline]
    pub fn check(&self, v: &Value) -> Result<()> {
        if v.is_null() {
            return Ok(());
        }
        match self {
            Accumulator::Sum(state) => sum_add(*state, v).map(drop),
            Accumulator::Avg { sum, .. } => avg_add(*sum, v).map(drop),
            Accumulator::Variance { kind, .. } => match v {
                Value::Int(_) | Value::Float(_) | Value::Decimal(_) => Ok(()),
                other => Err(not_numeric(kind.name(), other)),
            },
            Accumulator::Distinct(state) => {
                if state.inner.can_fail() && !state.seen.contains(v) {
                    state.inner.check(v)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// An estimate of the bytes this state holds outside its own inline size
    /// (a string MIN, MAX, FIRST_VALUE or LAST_VALUE; a DISTINCT set and its
    /// values). O(1): a DISTINCT set's value bytes are summed as values arrive.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Accumulator::Min(v)
            | Accumulator::Max(v)
            | Accumulator::FirstValue(v)
            | Accumulator::LastValue(v) => value_heap_bytes(v),
            Accumulator::Distinct(state) => {
                std::mem::size_of::<DistinctState>()
                    + state.seen.capacity() * hash_entry_bytes(std::mem::size_of::<Value>())
                    + state.value_bytes
                    + state.inner.heap_bytes()
            }
            _ => 0,
        }
    }

    /// Whether [`Accumulator::heap_bytes`] can change as values arrive.
    pub fn may_grow(&self) -> bool {
        matches!(
            self,
            Accumulator::Min(_)
                | Accumulator::Max(_)
                | Accumulator::FirstValue(_)
                | Accumulator::LastValue(_)
                | Accumulator::Distinct(_)
        )
    }

    /// The aggregate's current result.
    ///
    /// Errors: a DECIMAL AVG whose quotient needs more than 38 digits at its
    /// result scale ([`Decimal::avg_scale`]) is an overflow, never rounded further.
    pub fn evaluate(&self) -> Result<Value> {
        Ok(match self {
            Accumulator::Count(n) | Accumulator::CountStar(n) => Value::Int(*n),
            Accumulator::Sum(s) => match s {
                SumState::Empty => Value::Null,
                SumState::Int(i) => Value::Int(*i),
                SumState::Float(f) => Value::Float(*f),
                SumState::Decimal(d) => Value::Decimal(*d),
            },
            Accumulator::Avg { sum, count } => {
                let n = *count;
                match sum {
                    AvgSum::Empty => Value::Null,
                    _ if n == 0 => Value::Null,
                    AvgSum::Int(i) => Value::Float(*i as f64 / n as f64),
                    AvgSum::Float(f) => Value::Float(*f / n as f64),
                    AvgSum::Decimal(d) => Value::Decimal(
                        d.checked_div_to(Decimal::from(n), Decimal::avg_scale(d.scale()))
                            .ok_or(Error::Overflow { context: "AVG" })?,
                    ),
                }
            }
            Accumulator::Min(v)
            | Accumulator::Max(v)
            | Accumulator::FirstValue(v)
            | Accumulator::LastValue(v) => v.clone(),
            Accumulator::Variance {
                kind, count, m2, ..
            } => {
                let n = *count;
                let (sample, root) = match kind {
                    AggregateKind::StddevSamp => (true, true),
                    AggregateKind::StddevPop => (false, true),
                    AggregateKind::VarSamp => (true, false),
                    _ => (false, false),
                };
                let denom = if sample { n - 1 } else { n };
                if denom < 1 {
                    return Ok(Value::Null);
                }
                let var = (m2 / denom as f64).max(0.0);
                Value::Float(if root { var.sqrt() } else { var })
            }
            Accumulator::Distinct(state) => return state.inner.evaluate(),
        })
    }

    /// Folds `other` (the state of the same aggregate over other rows) into `self`,
    /// as if `self` had also seen `other`'s values: used when two session windows
    /// merge. `self` is taken to be the earlier part: FIRST_VALUE keeps `self`'s
    /// value unless it has none, LAST_VALUE takes `other`'s unless it has none.
    ///
    /// Counts and sums add (BIGINT SUM with checked overflow), MIN/MAX compare,
    /// the variance family combines Welford states with the parallel formula of
    /// Chan et al., DISTINCT takes the union of the value sets and feeds the
    /// values new to `self` to its inner aggregate (in value order, so that the
    /// result does not depend on hash-set iteration order; MIN, MAX, FIRST_VALUE
    /// and LAST_VALUE merge their inner states directly).
    ///
    /// Errors: overflow as for [`Accumulator::update`]; two different aggregates.
    pub fn merge(&mut self, other: &Accumulator) -> Result<()> {
        match (self, other) {
            (Accumulator::Count(a), Accumulator::Count(b))
            | (Accumulator::CountStar(a), Accumulator::CountStar(b)) => *a += *b,
            (Accumulator::Sum(a), Accumulator::Sum(b)) => {
                *a = match *b {
                    SumState::Empty => *a,
                    SumState::Int(i) => sum_add(*a, &Value::Int(i))?,
                    SumState::Float(f) => sum_add(*a, &Value::Float(f))?,
                    SumState::Decimal(d) => sum_add(*a, &Value::Decimal(d))?,
                }
            }
            (
                Accumulator::Avg { sum, count },
                Accumulator::Avg {
                    sum: other_sum,
                    count: other_count,
                },
            ) => {
                *sum = avg_merge(*sum, *other_sum)?;
                *count += *other_count;
            }
            (Accumulator::Min(cur), Accumulator::Min(v)) => {
                if !v.is_null() && (cur.is_null() || v.sql_cmp(cur) == Some(Ordering::Less)) {
                    *cur = v.clone();
                }
            }
            (Accumulator::Max(cur), Accumulator::Max(v)) => {
                if !v.is_null() && (cur.is_null() || v.sql_cmp(cur) == Some(Ordering::Greater)) {
                    *cur = v.clone();
                }
            }
            (
                Accumulator::Variance {
                    count, mean, m2, ..
                },
                Accumulator::Variance {
                    count: nb,
                    mean: mb,
                    m2: m2b,
                    ..
                },
            ) => {
                if *nb == 0 {
                    return Ok(());
                }
                if *count == 0 {
                    (*count, *mean, *m2) = (*nb, *mb, *m2b);
                    return Ok(());
                }
                let (na, nb_f) = (*count as f64, *nb as f64);
                let n = na + nb_f;
                let delta = *mb - *mean;
                *mean += delta * nb_f / n;
                *m2 += *m2b + delta * delta * na * nb_f / n;
                *count += *nb;
            }
            (Accumulator::FirstValue(cur), Accumulator::FirstValue(v)) => {
                if cur.is_null() {
                    *cur = v.clone();
                }
            }
            (Accumulator::LastValue(cur), Accumulator::LastValue(v)) => {
                if !v.is_null() {
                    *cur = v.clone();
                }
            }
            (Accumulator::Distinct(a), Accumulator::Distinct(b))
                if matches!(
                    a.inner,
                    Accumulator::Min(_)
                        | Accumulator::Max(_)
                        | Accumulator::FirstValue(_)
                        | Accumulator::LastValue(_)
                ) =>
            {
                // Duplicates do not change these: merge the inner states (which
                // keeps FIRST/LAST_VALUE's order) and unite the sets.
                a.inner.merge(&b.inner)?;
                for v in &b.seen {
                    if !a.seen.contains(v) {
                        a.value_bytes += value_heap_bytes(v);
                        a.seen.insert(v.clone());
                    }
                }
            }
            (Accumulator::Distinct(a), Accumulator::Distinct(b)) => {
                let mut new: Vec<&Value> = b.seen.iter().filter(|v| !a.seen.contains(*v)).collect();
                new.sort_by(|x, y| x.total_cmp(y));
                for v in new {
                    a.inner.update(v)?;
                    a.value_bytes += value_heap_bytes(v);
                    a.seen.insert(v.clone());
                }
            }
            (a, b) => {
                return Err(Error::Type(format!(
                    "internal error: cannot merge aggregate states {} and {}",
                    a.variant_name(),
                    b.variant_name()
                )))
            }
        }
        Ok(())
    }

    fn variant_name(&self) -> &'static str {
        match self {
            Accumulator::Count(_) => "COUNT",
            Accumulator::CountStar(_) => "COUNT(*)",
            Accumulator::Sum(_) => "SUM",
            Accumulator::Avg { .. } => "AVG",
            Accumulator::Min(_) => "MIN",
            Accumulator::Max(_) => "MAX",
            Accumulator::Variance { kind, .. } => kind.name(),
            Accumulator::FirstValue(_) => "FIRST_VALUE",
            Accumulator::LastValue(_) => "LAST_VALUE",
            Accumulator::Distinct(_) => "DISTINCT",
        }
    }

    /// A rough count of the heap and inline bytes this state holds (for memory
    /// limits).
    pub fn estimated_size(&self) -> usize {
        let base = std::mem::size_of::<Accumulator>();
        let value_heap = |v: &Value| match v {
            Value::Str(s) => s.len() + 16,
            _ => 0,
        };
        match self {
            Accumulator::Min(v)
            | Accumulator::Max(v)
            | Accumulator::FirstValue(v)
            | Accumulator::LastValue(v) => base + value_heap(v),
            Accumulator::Distinct(state) => {
                base + state.inner.estimated_size()
                    + state.seen.capacity() * (std::mem::size_of::<Value>() + 1)
                    + state.seen.iter().map(value_heap).sum::<usize>()
            }
            _ => base,
        }
    }
}

fn sum_add(state: SumState, v: &Value) -> Result<SumState> {
    let overflow = || Error::Overflow { context: "SUM" };
    Ok(match (state, v) {
        (SumState::Empty, Value::Int(i)) => SumState::Int(*i),
        (SumState::Empty, Value::Float(f)) => SumState::Float(*f),
        (SumState::Empty, Value::Decimal(d)) => SumState::Decimal(*d),
        (SumState::Int(a), Value::Int(b)) => SumState::Int(a.checked_add(*b).ok_or_else(overflow)?),
        (SumState::Int(a), Value::Float(b)) => SumState::Float(a as f64 + b),
        (SumState::Int(a), Value::Decimal(b)) => {
            SumState::Decimal(Decimal::from(a).checked_add(*b).ok_or_else(overflow)?)
        }
        (SumState::Float(a), Value::Int(b)) => SumState::Float(a + *b as f64),
        (SumState::Float(a), Value::Float(b)) => SumState::Float(a + b),
        (SumState::Float(a), Value::Decimal(b)) => SumState::Float(a + b.to_f64()),
        (SumState::Decimal(a), Value::Int(b)) => {
            SumState::Decimal(a.checked_add(Decimal::from(*b)).ok_or_else(overflow)?)
        }
        (SumState::Decimal(a), Value::Decimal(b)) => {
            SumState::Decimal(a.checked_add(*b).ok_or_else(overflow)?)
        }
        (SumState::Decimal(a), Value::Float(b)) => SumState::Float(a.to_f64() + b),
        (_, other) => return Err(not_numeric("SUM", other)),
    })
}

fn avg_add(state: AvgSum, v: &Value) -> Result<AvgSum> {
    let overflow = || Error::Overflow { context: "AVG" };
    Ok(match (state, v) {
        (AvgSum::Empty, Value::Int(i)) => AvgSum::Int(*i as i128),
        (AvgSum::Empty, Value::Float(f)) => AvgSum::Float(*f),
        (AvgSum::Empty, Value::Decimal(d)) => AvgSum::Decimal(*d),
        (AvgSum::Int(a), Value::Int(b)) => {
            AvgSum::Int(a.checked_add(*b as i128).ok_or_else(overflow)?)
        }
        (AvgSum::Int(a), Value::Float(b)) => AvgSum::Float(a as f64 + b),
        (AvgSum::Int(a), Value::Decimal(b)) => AvgSum::Decimal(
            Decimal::from_i128(a)
                .and_then(|a| a.checked_add(*b))
                .ok_or_else(overflow)?,
        ),
        (AvgSum::Float(a), Value::Int(b)) => AvgSum::Float(a + *b as f64),
        (AvgSum::Float(a), Value::Float(b)) => AvgSum::Float(a + b),
        (AvgSum::Float(a), Value::Decimal(b)) => AvgSum::Float(a + b.to_f64()),
        (AvgSum::Decimal(a), Value::Int(b)) => {
            AvgSum::Decimal(a.checked_add(Decimal::from(*b)).ok_or_else(overflow)?)
        }
        (AvgSum::Decimal(a), Value::Decimal(b)) => {
            AvgSum::Decimal(a.checked_add(*b).ok_or_else(overflow)?)
        }
        (AvgSum::Decimal(a), Value::Float(b)) => AvgSum::Float(a.to_f64() + b),
        (_, other) => return Err(not_numeric("AVG", other)),
    })
}

/// Adds two AVG running sums (see [`Accumulator::merge`]).
fn avg_merge(a: AvgSum, b: AvgSum) -> Result<AvgSum> {
    let overflow = || Error::Overflow { context: "AVG" };
    Ok(match (a, b) {
        (x, AvgSum::Empty) => x,
        (AvgSum::Empty, y) => y,
        (AvgSum::Int(x), AvgSum::Int(y)) => AvgSum::Int(x.checked_add(y).ok_or_else(overflow)?),
        (AvgSum::Decimal(x), AvgSum::Decimal(y)) => {
            AvgSum::Decimal(x.checked_add(y).ok_or_else(overflow)?)
        }
        (AvgSum::Int(x), AvgSum::Decimal(d)) | (AvgSum::Decimal(d), AvgSum::Int(x)) => {
            AvgSum::Decimal(
                Decimal::from_i128(x)
                    .and_then(|x| x.checked_add(d))
                    .ok_or_else(overflow)?,
            )
        }
        (x, y) => AvgSum::Float(avg_f64(x) + avg_f64(y)),
    })
}

fn avg_f64(s: AvgSum) -> f64 {
    match s {
        AvgSum::Empty => 0.0,
        AvgSum::Int(i) => i as f64,
        AvgSum::Float(f) => f,
        AvgSum::Decimal(d) => d.to_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_from_gives_a_fresh_accumulator_of_every_kind() {
        use AggregateKind::*;
        let kinds = [
            Count, CountStar, Sum, Avg, Min, Max, StddevSamp, VarPop, FirstValue, LastValue,
        ];
        let values = [Value::Int(7), Value::Float(2.5), Value::Int(-3)];
        for kind in kinds {
            for distinct in [false, true] {
                let make = || {
                    let acc = Accumulator::new(kind, DataType::Float);
                    if distinct {
                        Accumulator::distinct(acc)
                    } else {
                        acc
                    }
                };
                let fresh = make();
                let mut used = make();
                for v in &values {
                    used.update(v).unwrap();
                }
                assert_ne!(
                    format!("{used:?}"),
                    format!("{fresh:?}"),
                    "{kind:?}: updating changes the state"
                );
                used.reset_from(&fresh);
                assert_eq!(format!("{used:?}"), format!("{fresh:?}"), "{kind:?}");
                assert_eq!(
                    used.evaluate().unwrap(),
                    fresh.evaluate().unwrap(),
                    "{kind:?}"
                );
            }
        }
    }
}
