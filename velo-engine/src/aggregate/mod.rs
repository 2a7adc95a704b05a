//! Aggregate functions and their per-group state.
//!
//! # Design
//!
//! An aggregate call such as `SUM(DISTINCT price * qty)` is bound by the planner
//! ([`velo_planner::bind::bind_aggregate`]) into an [`AggregateFunction`] (what to
//! compute: kind, DISTINCT, input type) and an optional argument expression (`None`
//! for `COUNT(*)`), which the engine lowers to a [`PhysicalExpr`](crate::expr::PhysicalExpr). The operator evaluates the argument per row and feeds the value
//! to the group's [`Accumulator`].
//!
//! [`Accumulator`] is an enum, not a `Box<dyn Trait>`: creating a group's state
//! allocates nothing (DISTINCT aside, which owns a hash set of the values seen), an
//! update is a `match` and a few arithmetic operations, and a group's accumulators
//! can live inline in a `Box<[Accumulator]>`.
//!
//! # Semantics
//!
//! * NULL inputs are ignored by every aggregate except `COUNT(*)` (which counts
//!   rows; feed it `Value::Null`).
//! * On an empty group COUNT is 0 and every other aggregate is NULL.
//! * COUNT is BIGINT. SUM of BIGINT is BIGINT with checked overflow (an error, not a
//!   wrap), of DOUBLE is DOUBLE, of DECIMAL is an exact DECIMAL(38, s) (past 38
//!   digits an overflow error). AVG is DOUBLE, or for DECIMAL input a DECIMAL of
//!   scale max(s, 6) rounded half away from zero (an overflow error if it cannot
//!   fit 38 digits); AVG of BIGINT sums in
//!   128 bits, so it cannot overflow. MIN/MAX/FIRST_VALUE/LAST_VALUE keep the input
//!   type. FIRST_VALUE/LAST_VALUE follow arrival order (ignoring NULLs, as Flink).
//! * STDDEV = STDDEV_SAMP, VARIANCE = VAR_SAMP; with STDDEV_POP and VAR_POP they
//!   use Welford's online algorithm (numerically stable, one pass). The sample
//!   variants are NULL below 2 values, the population variants below 1.
//! * `DISTINCT` keeps an ahash set of the distinct non-NULL values and feeds each
//!   new one to the inner accumulator.

mod accumulator;

pub use accumulator::{Accumulator, AvgSum, DistinctState, SumState};

/// Where the accumulators of one aggregation can fail, worked out once (from
/// fresh accumulators, [`FoldOrder::new`]) for [`fold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FoldOrder {
    /// The first accumulator that can fail ([`Accumulator::can_fail`]), or
    /// `usize::MAX` when none can.
    first: usize,
    /// Whether a later one can fail too.
    more: bool,
}

impl FoldOrder {
    /// The order for `accumulators` from their states alone (every SUM, AVG
    /// and variance counts as fallible): the unit tests' reference.
    #[cfg(test)]
    pub(crate) fn new(accumulators: &[Accumulator]) -> FoldOrder {
        FoldOrder::from_fallible(accumulators.iter().map(Accumulator::can_fail))
    }

    /// The order for fresh accumulators of `functions`, from what their
    /// argument types let fail ([`NewAccumulator::can_fail`]): fewer than
    /// [`FoldOrder::new`] counts when a SUM or AVG is over DOUBLEs, so that
    /// such a query skips checking before it updates.
    pub(crate) fn for_functions<'a>(
        functions: impl IntoIterator<Item = &'a AggregateFunction>,
    ) -> FoldOrder {
        FoldOrder::from_fallible(functions.into_iter().map(|f| f.can_fail()))
    }

    /// The order from whether each accumulator, in turn, can fail.
    /// The order of a fresh state's first update: which accumulators can
    /// fail on it ([`NewAccumulator::can_fail_when_fresh`]).
    pub(crate) fn for_fresh<'a>(
        functions: impl IntoIterator<Item = &'a AggregateFunction>,
    ) -> FoldOrder {
        FoldOrder::from_fallible(functions.into_iter().map(|f| f.can_fail_when_fresh()))
    }

    fn from_fallible(can_fail: impl Iterator<Item = bool>) -> FoldOrder {
        let mut fallible = can_fail
            .enumerate()
            .filter(|(_, fails)| *fails)
            .map(|(i, _)| i);
        FoldOrder {
            first: fallible.next().unwrap_or(usize::MAX),
            more: fallible.next().is_some(),
        }
    }
}

/// Updates each accumulator with its argument value, all or none: when one
/// update fails, no accumulator has changed (SPEC §4: a failed record leaves
/// no trace in the state) and its error is returned. `order` is
/// [`FoldOrder::new`] of the same aggregates. With `heap_bytes` (only when
/// some accumulator can grow: string MIN/MAX, DISTINCT sets), adds what the
/// update changed in the memory the accumulators hold outside their inline
/// size, for `state_bytes`.
///
/// The first accumulator that can fail is updated first, and only when a
/// later one can fail too is it checked ([`Accumulator::check`]) before, so
/// the usual query with one SUM or AVG pays nothing for the guarantee;
/// allocates nothing.
#[inline]
pub(crate) fn fold(
    accumulators: &mut [Accumulator],
    args: &[velo_types::Value],
    order: FoldOrder,
    heap_bytes: Option<&mut usize>,
) -> crate::error::Result<()> {
    with_heap_bytes(accumulators, heap_bytes, |accumulators| {
        fold_all_or_none(accumulators, args, order)
    })
}

/// Updates each accumulator with its argument value, after [`check`] said
/// that every update succeeds (an error here would be an internal one, and
/// could leave the accumulators partly updated). `heap_bytes` as for [`fold`].
#[inline]
pub(crate) fn fold_checked(
    accumulators: &mut [Accumulator],
    args: &[velo_types::Value],
    heap_bytes: Option<&mut usize>,
) -> crate::error::Result<()> {
    with_heap_bytes(accumulators, heap_bytes, |accumulators| {
        update_each(accumulators, args)
    })
}

/// Whether updating each accumulator with its argument value would succeed,
/// without changing any: the error of the first that would fail.
#[inline]
pub(crate) fn check(
    accumulators: &[Accumulator],
    args: &[velo_types::Value],
) -> crate::error::Result<()> {
    accumulators
        .iter()
        .zip(args)
        .try_for_each(|(acc, v)| acc.check(v))
}

/// [`check`] of only the accumulators that `order` says can fail: the rest
/// take any value of their argument's type.
#[inline]
pub(crate) fn check_fallible(
    accumulators: &[Accumulator],
    args: &[velo_types::Value],
    order: FoldOrder,
) -> crate::error::Result<()> {
    let first = order.first;
    if first >= accumulators.len() {
        Ok(())
    } else if order.more {
        check(&accumulators[first..], &args[first..])
    } else {
        accumulators[first].check(&args[first])
    }
}

#[inline]
fn update_each(
    accumulators: &mut [Accumulator],
    args: &[velo_types::Value],
) -> crate::error::Result<()> {
    accumulators
        .iter_mut()
        .zip(args)
        .try_for_each(|(acc, v)| acc.update(v))
}

#[inline]
fn fold_all_or_none(
    accumulators: &mut [Accumulator],
    args: &[velo_types::Value],
    order: FoldOrder,
) -> crate::error::Result<()> {
    debug_assert_eq!(accumulators.len(), args.len());
    let first = order.first;
    if first >= accumulators.len() {
        return update_each(accumulators, args);
    }
    let (before, rest) = accumulators.split_at_mut(first);
    let (fallible, after) = rest.split_at_mut(1);
    let (args_before, args_rest) = args.split_at(first);
    let (arg, args_after) = args_rest.split_at(1);
    // Everything that can fail is known to succeed before anything changes:
    // the later fallible ones are checked, then the first is updated (if it
    // fails, nothing has changed), then the rest, which cannot fail now.
    if order.more {
        check(after, args_after)?;
    }
    update_each(fallible, arg)?;
    update_each(before, args_before)?;
    update_each(after, args_after)
}

#[inline]
fn with_heap_bytes(
    accumulators: &mut [Accumulator],
    heap_bytes: Option<&mut usize>,
    update: impl FnOnce(&mut [Accumulator]) -> crate::error::Result<()>,
) -> crate::error::Result<()> {
    let Some(heap_bytes) = heap_bytes else {
        return update(accumulators);
    };
    let before: usize = accumulators.iter().map(Accumulator::heap_bytes).sum();
    let result = update(accumulators);
    let after: usize = accumulators.iter().map(Accumulator::heap_bytes).sum();
    *heap_bytes = (*heap_bytes + after).saturating_sub(before);
    result
}

pub use velo_planner::bind::{AggregateFunction, AggregateKind};

/// A fresh accumulator for an [`AggregateFunction`] (the planner's description
/// of an aggregate call; its state is the engine's).
pub trait NewAccumulator {
    /// A fresh state for one group (allocates only for DISTINCT).
    fn new_accumulator(&self) -> Accumulator;

    /// Whether the state can come to point at heap memory as values arrive
    /// (DISTINCT sets; MIN, MAX, FIRST_VALUE and LAST_VALUE of strings), so
    /// that the memory estimate must follow each update. Worked out from the
    /// argument's static type once, so that aggregates over numbers skip that
    /// work on every row; an unknown type counts as a string.
    fn may_grow(&self) -> bool;

    /// Whether an update can fail for a value of the argument's static type:
    /// a SUM or AVG of BIGINT or DECIMAL can overflow; a SUM or AVG of DOUBLE
    /// and a variance of numbers cannot (they fail only for a value that is
    /// not a number, which typing rules out). An unknown type can fail.
    /// [`Accumulator::can_fail`] says the same of a state, without the type.
    fn can_fail(&self) -> bool;

    /// Whether the first update of a fresh state can fail: only for a value
    /// that is not a number (a fresh SUM or AVG takes any one number as it
    /// is), so never for an argument typed as a number.
    fn can_fail_when_fresh(&self) -> bool;
}

impl NewAccumulator for AggregateFunction {
    fn new_accumulator(&self) -> Accumulator {
        let inner = Accumulator::new(self.kind, self.input_type);
        if self.distinct && self.kind != AggregateKind::CountStar {
            Accumulator::distinct(inner)
        } else {
            inner
        }
    }

    fn can_fail(&self) -> bool {
        use velo_types::DataType;
        match self.kind {
            AggregateKind::Sum | AggregateKind::Avg => self.input_type != DataType::Float,
            AggregateKind::StddevSamp
            | AggregateKind::StddevPop
            | AggregateKind::VarSamp
            | AggregateKind::VarPop => !matches!(
                self.input_type,
                DataType::Int | DataType::Float | DataType::Decimal { .. }
            ),
            _ => false,
        }
    }

    fn can_fail_when_fresh(&self) -> bool {
        use velo_types::DataType;
        self.can_fail()
            && !matches!(
                self.input_type,
                DataType::Int | DataType::Float | DataType::Decimal { .. }
            )
    }

    fn may_grow(&self) -> bool {
        let holds_a_value = matches!(
            self.kind,
            AggregateKind::Min
                | AggregateKind::Max
                | AggregateKind::FirstValue
                | AggregateKind::LastValue
        );
        self.distinct && self.kind != AggregateKind::CountStar
            || holds_a_value
                && matches!(
                    self.input_type,
                    velo_types::DataType::String | velo_types::DataType::Null
                )
    }
}

#[cfg(test)]
mod tests;
