//! The five routing strategies of SPEC §5 and their factory.

use std::hash::{BuildHasher, Hash, Hasher};

use velo_types::StrategyKind;
use velo_types::{Batch, BatchBuilder, Value};

use crate::error::{Error, Result};
use crate::{PartitioningStrategy, RoutingContext};

/// Hashes a row's key values, unambiguously and deterministically.
///
/// Each key value is fed to the hasher through `Value`'s `Hash` (the variant tag
/// first, strings length-delimited), so composite keys never collide by
/// concatenation and values of different types are different keys. The seeds are
/// fixed: a key hashes to the same value in every run of a given build (ahash
/// does not promise the same hashes across its versions or CPU feature sets, so
/// routing is not a persistent format).
#[derive(Debug, Clone)]
pub struct KeyHasher {
    state: ahash::RandomState,
}

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher::new()
    }
}

impl KeyHasher {
    /// The fixed-seed hasher every hashing strategy uses.
    pub const fn new() -> KeyHasher {
        KeyHasher {
            state: ahash::RandomState::with_seeds(
                0x5eed_0f0e_1de1_7a01,
                0x243f_6a88_85a3_08d3,
                0x1319_8a2e_0370_7344,
                0xa409_3822_299f_31d0,
            ),
        }
    }

    /// The hash of `row`'s values at `keys`, in that order.
    #[inline]
    pub fn hash_key(&self, row: &[Value], keys: &[usize]) -> u64 {
        let mut h = self.state.build_hasher();
        for &k in keys {
            row[k].hash(&mut h);
        }
        h.finish()
    }

    /// The hash of a key given as its values.
    pub fn hash_values<'a>(&self, key: impl IntoIterator<Item = &'a Value>) -> u64 {
        let mut h = self.state.build_hasher();
        for v in key {
            v.hash(&mut h);
        }
        h.finish()
    }

    /// Maps a hash to a partition in `0..n` (multiply-shift on the high bits:
    /// uniform like `hash % n`, without a division).
    #[inline]
    pub fn partition_of(hash: u64, n: usize) -> usize {
        ((hash as u128 * n as u128) >> 64) as usize
    }
}

/// The reusable buffers of a hashing strategy.
#[derive(Debug, Default)]
struct HashSplitter {
    hasher: KeyHasher,
    /// The partition of each row of the batch being routed.
    targets: Vec<u32>,
    /// Rows per partition.
    counts: Vec<usize>,
    builders: Vec<Option<BatchBuilder>>,
    /// The source positions of each sub-batch's rows, when the input has them.
    positions: Vec<Vec<u64>>,
}

impl HashSplitter {
    /// Routes `batch` by the hash of its `keys` columns: one hash per row, then one
    /// exact-size allocation per non-empty sub-batch, values moved into place. A
    /// sub-batch carries the source positions of its rows, in order, when the input
    /// has positions (one more exact-size allocation per sub-batch).
    fn split(&mut self, batch: Batch, keys: &[usize], n: usize, out: &mut Vec<(usize, Batch)>) {
        let rows = batch.num_rows();
        if rows == 0 {
            return;
        }
        let width = batch.width();
        if let Some(&bad) = keys.iter().find(|&&k| k >= width) {
            panic!("key column {bad} is out of range for a batch of {width} columns");
        }
        if keys.is_empty() || n == 1 {
            out.push((0, batch));
            return;
        }
        assert!(n <= u32::MAX as usize, "too many partitions: {n}");

        self.targets.clear();
        self.targets.reserve(rows);
        self.counts.clear();
        self.counts.resize(n, 0);
        let values = batch.values();
        match keys {
            [k] => {
                let k = *k;
                for row in values.chunks_exact(width) {
                    let p = KeyHasher::partition_of(self.hasher.state.hash_one(&row[k]), n);
                    self.counts[p] += 1;
                    self.targets.push(p as u32);
                }
            }
            _ => {
                for row in values.chunks_exact(width) {
                    let p = KeyHasher::partition_of(self.hasher.hash_key(row, keys), n);
                    self.counts[p] += 1;
                    self.targets.push(p as u32);
                }
            }
        }

        // All rows to one partition: move the batch as it is.
        if let Some(p) = self.counts.iter().position(|&c| c == rows) {
            out.push((p, batch));
            return;
        }

        let schema = batch.schema().clone();
        self.builders.clear();
        self.builders.extend(
            self.counts
                .iter()
                .map(|&c| (c > 0).then(|| BatchBuilder::with_capacity(schema.clone(), c))),
        );
        self.positions.clear();
        if let Some(positions) = batch.positions() {
            self.positions
                .extend(self.counts.iter().map(|&c| Vec::with_capacity(c)));
            for (&p, &pos) in self.targets.iter().zip(positions) {
                self.positions[p as usize].push(pos);
            }
        }
        let mut values = batch.into_values().into_iter();
        for &p in &self.targets {
            // Every target has a builder: its count is at least 1.
            if let Some(b) = &mut self.builders[p as usize] {
                b.push_row(values.by_ref().take(width));
            }
        }
        // One positions list per partition when the input has positions, else none.
        let mut positions = self.positions.drain(..);
        for (p, b) in self.builders.iter_mut().enumerate() {
            let sub_positions = positions.next();
            if let Some(b) = b.take() {
                let mut sub = b.finish();
                if let Some(sub_positions) = sub_positions {
                    sub = sub.with_positions(sub_positions);
                }
                out.push((p, sub));
            }
        }
    }
}

/// Hashes the key columns (`ctx.key_columns`); with no key columns, everything
/// goes to partition 0. A key always lands on the same partition.
#[derive(Debug, Default)]
pub struct AlwaysHash {
    splitter: HashSplitter,
}

impl AlwaysHash {
    pub fn new() -> AlwaysHash {
        AlwaysHash::default()
    }
}

impl PartitioningStrategy for AlwaysHash {
    fn name(&self) -> &'static str {
        StrategyKind::AlwaysHash.name()
    }

    fn route(&mut self, batch: Batch, ctx: &RoutingContext, out: &mut Vec<(usize, Batch)>) {
        let n = ctx.checked_count();
        self.splitter.split(batch, &ctx.key_columns, n, out);
    }
}

/// Keeps the source partition (`source_partition % N`, the whole batch) when the
/// source declares a partition key equal, as a set, to the key columns
/// ([`RoutingContext::is_aligned`]); otherwise hashes like [`AlwaysHash`].
#[derive(Debug, Default)]
pub struct SmartRepartition {
    splitter: HashSplitter,
}

impl SmartRepartition {
    pub fn new() -> SmartRepartition {
        SmartRepartition::default()
    }
}

impl PartitioningStrategy for SmartRepartition {
    fn name(&self) -> &'static str {
        StrategyKind::SmartRepartition.name()
    }

    fn route(&mut self, batch: Batch, ctx: &RoutingContext, out: &mut Vec<(usize, Batch)>) {
        let n = ctx.checked_count();
        if ctx.is_aligned() {
            if !batch.is_empty() {
                out.push((ctx.sticky_partition(), batch));
            }
        } else {
            self.splitter.split(batch, &ctx.key_columns, n, out);
        }
    }
}

/// The whole batch to `source_partition % N`: each source partition's order is
/// kept.
#[derive(Debug, Default, Clone, Copy)]
pub struct StickyPartition;

impl PartitioningStrategy for StickyPartition {
    fn name(&self) -> &'static str {
        StrategyKind::StickyPartition.name()
    }

    fn route(&mut self, batch: Batch, ctx: &RoutingContext, out: &mut Vec<(usize, Batch)>) {
        let p = ctx.sticky_partition();
        if !batch.is_empty() {
            out.push((p, batch));
        }
    }
}

/// Whole batches dealt to partitions 0, 1, .., N-1, 0, .. in turn (empty batches
/// do not take a turn). Only for stateless queries.
#[derive(Debug, Default, Clone)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    pub fn new() -> RoundRobin {
        RoundRobin::default()
    }
}

impl PartitioningStrategy for RoundRobin {
    fn name(&self) -> &'static str {
        StrategyKind::RoundRobin.name()
    }

    fn route(&mut self, batch: Batch, ctx: &RoutingContext, out: &mut Vec<(usize, Batch)>) {
        let n = ctx.checked_count();
        if batch.is_empty() {
            return;
        }
        let p = self.next % n;
        self.next = (p + 1) % n;
        out.push((p, batch));
    }
}

/// Everything to partition 0.
#[derive(Debug, Default, Clone, Copy)]
pub struct FanIn;

impl PartitioningStrategy for FanIn {
    fn name(&self) -> &'static str {
        StrategyKind::FanIn.name()
    }

    fn route(&mut self, batch: Batch, ctx: &RoutingContext, out: &mut Vec<(usize, Batch)>) {
        ctx.checked_count();
        if !batch.is_empty() {
            out.push((0, batch));
        }
    }
}

/// A fresh strategy of the given kind.
pub fn create(kind: StrategyKind) -> Box<dyn PartitioningStrategy> {
    match kind {
        StrategyKind::AlwaysHash => Box::new(AlwaysHash::new()),
        StrategyKind::SmartRepartition => Box::new(SmartRepartition::new()),
        StrategyKind::StickyPartition => Box::new(StickyPartition),
        StrategyKind::RoundRobin => Box::new(RoundRobin::new()),
        StrategyKind::FanIn => Box::new(FanIn),
    }
}

/// A fresh strategy from its configured name, accepting the original system's
/// aliases (`hash`, `smart`, `sticky`, `rr`, `fanin`, `RoundRobinStrategy`, ...;
/// case-insensitive, `-` and `_` interchangeable: see [`StrategyKind::parse`]).
pub fn from_name(name: &str) -> Result<Box<dyn PartitioningStrategy>> {
    StrategyKind::parse(name)
        .map(create)
        .ok_or_else(|| Error::UnknownStrategy(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_of_is_in_range_and_spreads_keys() {
        for n in 1..=16 {
            assert!(KeyHasher::partition_of(0, n) < n);
            assert!(KeyHasher::partition_of(u64::MAX, n) < n);
        }
        let h = KeyHasher::new();
        let mut counts = [0usize; 8];
        for i in 0..16_000i64 {
            counts[KeyHasher::partition_of(h.hash_values([&Value::Int(i)]), 8)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (1600..2400).contains(&c)),
            "{counts:?}"
        );
    }
}
