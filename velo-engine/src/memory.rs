//! Rough sizes of what query state holds, for the `max.memory.mb` limit
//! ([`crate::query::QueryExecutor::state_bytes`]).
//!
//! The estimates count a value's inline 24 bytes where it is stored, plus what
//! it points to: a string's text and its `Arc`'s two counters. A string shared
//! with an input batch or with another state entry is counted once per holder
//! (the input batch is dropped soon, after which the state is its only owner).
//! Allocator overhead and spare vector capacity are not counted.

use std::mem::size_of;

use velo_types::Value;

/// Bytes a value holds outside its own inline size.
#[inline]
pub(crate) fn value_heap_bytes(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.len() + 2 * size_of::<usize>(),
        _ => 0,
    }
}

/// [`value_heap_bytes`] over a slice.
#[inline]
pub(crate) fn values_heap_bytes(values: &[Value]) -> usize {
    values.iter().map(value_heap_bytes).sum()
}

/// Bytes one entry of `entry` bytes takes in a hashbrown table: the entry and
/// its control byte, at the table's 7/8 maximum load.
pub(crate) const fn hash_entry_bytes(entry: usize) -> usize {
    (entry + 1) * 8 / 7
}
