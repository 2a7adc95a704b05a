//! Combining per-partition watermarks into a source's watermark.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use velo_types::Watermark;

use crate::error::{Error, Result};
use crate::generator::{BoundedOutOfOrderness, WatermarkGenerator, WatermarkStrategy};

/// The watermarks of one source's partitions (a file, a Kafka partition, each
/// identified by a `u32`), combined into the watermark that travels in-band.
///
/// The caller reports each input batch with [`observe`](Self::observe) and then
/// calls [`advance`](Self::advance) at the batch boundary; `advance` returns a
/// watermark only when the combined watermark moved forward, so every returned
/// value can be sent downstream as a [`velo_types::StreamMessage::Watermark`].
///
/// The combined watermark is the minimum, over the *active* partitions, of the
/// maximum event time each has seen minus the strategy's delay. It never goes
/// back.
///
/// - A partition that has seen no event time yet holds the watermark back.
/// - With an idle timeout, a partition that has sent nothing for that long
///   (processing time, measured with the `now` the caller passes in) is idle
///   and left out of the minimum until it sends again. A partition's idle clock
///   starts at its last [`observe`](Self::observe), or, if it has never sent
///   anything, at the first `observe` or `advance` call after it was added. If
///   every partition is idle the watermark does not advance.
/// - Removing a partition (e.g. on a Kafka rebalance) may let the watermark
///   advance at the next `advance`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use velo_types::Watermark;
/// use velo_watermark::{SourceWatermarks, WatermarkStrategy};
///
/// let strategy = WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: 1_000 };
/// let mut wms = SourceWatermarks::new(strategy, Some(Duration::from_secs(30))).unwrap();
/// let t0 = Instant::now();
///
/// wms.observe(0, Some(10_000), t0);
/// wms.observe(1, Some(4_000), t0);
/// // min(10_000, 4_000) - 1_000
/// assert_eq!(wms.advance(t0), Some(Watermark(3_000)));
/// // Nothing moved: nothing to send.
/// assert_eq!(wms.advance(t0), None);
///
/// // Partition 1 goes quiet; after the idle timeout it no longer holds back.
/// wms.observe(0, Some(12_000), t0 + Duration::from_secs(31));
/// assert_eq!(wms.advance(t0 + Duration::from_secs(31)), Some(Watermark(11_000)));
/// assert_eq!(wms.current(), Some(Watermark(11_000)));
///
/// // Bounded input is exhausted: flush everything.
/// assert_eq!(wms.end_of_input(), Watermark(i64::MAX));
/// ```
#[derive(Debug, Clone)]
pub struct SourceWatermarks {
    strategy: WatermarkStrategy,
    idle_timeout: Option<Duration>,
    /// A fresh generator, cloned for each new partition.
    template: BoundedOutOfOrderness,
    partitions: BTreeMap<u32, PartitionState>,
    current: Option<Watermark>,
}

#[derive(Debug, Clone)]
struct PartitionState {
    generator: BoundedOutOfOrderness,
    /// When the partition last sent a batch, or when its idle clock started;
    /// `None` until the first `observe`/`advance` after it was added.
    last_activity: Option<Instant>,
}

impl SourceWatermarks {
    /// Tracks no partitions yet. `idle_timeout: None` disables idleness.
    ///
    /// Fails with [`Error::InvalidDelay`] for a negative out-of-orderness and
    /// [`Error::InvalidIdleTimeout`] for a zero idle timeout.
    pub fn new(strategy: WatermarkStrategy, idle_timeout: Option<Duration>) -> Result<Self> {
        let template = strategy.generator()?;
        if idle_timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidIdleTimeout);
        }
        Ok(SourceWatermarks {
            strategy,
            idle_timeout,
            template,
            partitions: BTreeMap::new(),
            current: None,
        })
    }

    /// The strategy each partition's generator follows.
    pub fn strategy(&self) -> WatermarkStrategy {
        self.strategy
    }

    /// The idle timeout, if idleness is enabled.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// Starts tracking a source partition; it holds the watermark back until it
    /// has seen an event time or becomes idle. Adding a known partition does
    /// nothing. Returns whether the partition was new.
    pub fn add_partition(&mut self, id: u32) -> bool {
        if self.partitions.contains_key(&id) {
            return false;
        }
        self.partitions.insert(
            id,
            PartitionState {
                generator: self.template.clone(),
                last_activity: None,
            },
        );
        true
    }

    /// Stops tracking a source partition (e.g. it was revoked by a Kafka
    /// rebalance, or a file was finished); the watermark may then advance at the
    /// next [`advance`](Self::advance). Returns whether the partition was known.
    pub fn remove_partition(&mut self, id: u32) -> bool {
        self.partitions.remove(&id).is_some()
    }

    /// Whether the partition is tracked.
    pub fn contains(&self, id: u32) -> bool {
        self.partitions.contains_key(&id)
    }

    /// How many partitions are tracked.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// The tracked partition ids, ascending.
    pub fn partition_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.partitions.keys().copied()
    }

    /// Whether the partition is idle at `now`; `false` for an unknown partition,
    /// when idleness is disabled, or when its idle clock has not started.
    pub fn is_idle(&self, id: u32, now: Instant) -> bool {
        self.partitions
            .get(&id)
            .is_some_and(|p| self.partition_is_idle(p, now))
    }

    /// The watermark one partition would contribute alone (its maximum event
    /// time minus the delay); `None` if unknown or before any event time.
    pub fn partition_watermark(&self, id: u32) -> Option<Watermark> {
        self.partitions.get(&id)?.generator.current()
    }

    /// Reports one input batch from a partition: `max_event_time_in_batch` is
    /// the largest event time in it (`None` when it held no event time, e.g. every
    /// value was NULL). Any call counts as activity for idleness, so call it only
    /// for batches that carry records. An unknown partition is added.
    ///
    /// The watermark itself moves only at [`advance`](Self::advance), so it
    /// advances at batch boundaries.
    pub fn observe(&mut self, id: u32, max_event_time_in_batch: Option<i64>, now: Instant) {
        self.start_idle_clocks(now);
        self.add_partition(id);
        if let Some(p) = self.partitions.get_mut(&id) {
            p.last_activity = Some(now);
            if let Some(t) = max_event_time_in_batch {
                p.generator.observe(t);
            }
        }
    }

    /// Recomputes the combined watermark at a batch boundary and returns it if
    /// it advanced past the last returned value; otherwise `None` (nothing to
    /// send). Returns `None` while an active partition has seen no event time,
    /// when there is no partition, and when every partition is idle.
    pub fn advance(&mut self, now: Instant) -> Option<Watermark> {
        self.start_idle_clocks(now);
        let mut min: Option<Watermark> = None;
        for p in self.partitions.values() {
            if self.partition_is_idle(p, now) {
                continue;
            }
            // An active partition with no event time yet holds everything back.
            let w = p.generator.current()?;
            min = Some(min.map_or(w, |m| m.min(w)));
        }
        let candidate = min?;
        if self.current.is_some_and(|c| candidate <= c) {
            return None;
        }
        self.current = Some(candidate);
        Some(candidate)
    }

    /// The last watermark returned by [`advance`](Self::advance) or
    /// [`end_of_input`](Self::end_of_input): the one records are judged late
    /// against. `None` before the first.
    pub fn current(&self) -> Option<Watermark> {
        self.current
    }

    /// For the end of bounded input (a file read to its end, a generator
    /// exhausted): returns `Watermark(i64::MAX)`, which closes every window and
    /// flushes all pending state, and makes it the current watermark, so later
    /// calls to [`advance`](Self::advance) return `None`. Send it downstream
    /// before [`velo_types::StreamMessage::EndOfStream`]. An unbounded source
    /// (Kafka) never calls this.
    pub fn end_of_input(&mut self) -> Watermark {
        let end = Watermark(i64::MAX);
        self.current = Some(end);
        end
    }

    fn partition_is_idle(&self, p: &PartitionState, now: Instant) -> bool {
        match (self.idle_timeout, p.last_activity) {
            (Some(timeout), Some(last)) => now.saturating_duration_since(last) >= timeout,
            _ => false,
        }
    }

    /// Starts the idle clock of partitions that have never sent anything.
    fn start_idle_clocks(&mut self, now: Instant) {
        if self.idle_timeout.is_none() {
            return;
        }
        for p in self.partitions.values_mut() {
            if p.last_activity.is_none() {
                p.last_activity = Some(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(ms: i64) -> WatermarkStrategy {
        WatermarkStrategy::BoundedOutOfOrderness {
            max_out_of_orderness_ms: ms,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn bounded_delay_is_subtracted() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(2_000), None).unwrap();
        w.observe(0, Some(10_000), t0);
        assert_eq!(w.advance(t0), Some(Watermark(8_000)));
        w.observe(0, Some(9_000), t0); // out of order, within the bound
        assert_eq!(w.advance(t0), None);
        w.observe(0, Some(15_000), t0);
        assert_eq!(w.advance(t0), Some(Watermark(13_000)));
        assert_eq!(w.current(), Some(Watermark(13_000)));
    }

    #[test]
    fn ascending_has_zero_delay() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(WatermarkStrategy::Ascending, None).unwrap();
        w.observe(0, Some(1_000), t0);
        assert_eq!(w.advance(t0), Some(Watermark(1_000)));
        w.observe(0, Some(1_001), t0);
        assert_eq!(w.advance(t0), Some(Watermark(1_001)));
    }

    #[test]
    fn invalid_settings_are_rejected() {
        assert_eq!(
            SourceWatermarks::new(bounded(-1), None).unwrap_err(),
            Error::InvalidDelay { ms: -1 }
        );
        assert_eq!(
            SourceWatermarks::new(bounded(0), Some(Duration::ZERO)).unwrap_err(),
            Error::InvalidIdleTimeout
        );
        let w = SourceWatermarks::new(bounded(5), Some(secs(1))).unwrap();
        assert_eq!(w.strategy(), bounded(5));
        assert_eq!(w.idle_timeout(), Some(secs(1)));
    }

    #[test]
    fn combined_watermark_is_the_minimum_over_partitions() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(100), None).unwrap();
        w.observe(0, Some(5_000), t0);
        w.observe(1, Some(3_000), t0);
        w.observe(2, Some(4_000), t0);
        assert_eq!(w.advance(t0), Some(Watermark(2_900)));
        // The fastest partition racing ahead does not move it.
        w.observe(0, Some(50_000), t0);
        assert_eq!(w.advance(t0), None);
        // The slowest catching up does, to the next slowest.
        w.observe(1, Some(6_000), t0);
        assert_eq!(w.advance(t0), Some(Watermark(3_900)));
        assert_eq!(w.partition_watermark(1), Some(Watermark(5_900)));
        assert_eq!(w.partition_count(), 3);
        assert_eq!(w.partition_ids().collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn a_partition_without_data_holds_back() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(0), None).unwrap();
        assert!(w.add_partition(1));
        assert!(!w.add_partition(1));
        w.observe(0, Some(5_000), t0);
        assert_eq!(w.advance(t0), None);
        // A batch without any event time does not release it either.
        w.observe(1, None, t0);
        assert_eq!(w.advance(t0), None);
        assert_eq!(w.current(), None);
        w.observe(1, Some(7_000), t0);
        assert_eq!(w.advance(t0), Some(Watermark(5_000)));
    }

    #[test]
    fn no_partitions_means_no_watermark() {
        let mut w = SourceWatermarks::new(bounded(0), Some(secs(1))).unwrap();
        let t0 = Instant::now();
        assert_eq!(w.advance(t0), None);
        assert_eq!(w.advance(t0 + secs(10)), None);
        assert_eq!(w.current(), None);
    }

    #[test]
    fn observe_adds_an_unknown_partition() {
        let mut w = SourceWatermarks::new(bounded(0), None).unwrap();
        assert!(!w.contains(7));
        w.observe(7, Some(1), Instant::now());
        assert!(w.contains(7));
    }

    #[test]
    fn idle_partition_is_excluded_then_included_again() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(0), Some(secs(10))).unwrap();
        w.observe(0, Some(1_000), t0);
        w.observe(1, Some(500), t0);
        assert_eq!(w.advance(t0), Some(Watermark(500)));

        // Partition 1 stays quiet; just under the timeout it still holds back.
        w.observe(0, Some(2_000), t0 + secs(9));
        assert!(!w.is_idle(1, t0 + secs(9)));
        assert_eq!(w.advance(t0 + secs(9)), None);

        // At the timeout it is idle and left out.
        w.observe(0, Some(3_000), t0 + secs(10));
        assert!(w.is_idle(1, t0 + secs(10)));
        assert!(!w.is_idle(0, t0 + secs(10)));
        assert_eq!(w.advance(t0 + secs(10)), Some(Watermark(3_000)));

        // It sends again, behind the watermark: it is active again and holds the
        // watermark where it is (never back) until it catches up.
        w.observe(1, Some(2_500), t0 + secs(11));
        assert!(!w.is_idle(1, t0 + secs(11)));
        w.observe(0, Some(4_000), t0 + secs(11));
        assert_eq!(w.advance(t0 + secs(11)), None);
        assert_eq!(w.current(), Some(Watermark(3_000)));
        w.observe(1, Some(3_500), t0 + secs(12));
        assert_eq!(w.advance(t0 + secs(12)), Some(Watermark(3_500)));
    }

    #[test]
    fn a_partition_that_never_sends_becomes_idle() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(0), Some(secs(5))).unwrap();
        w.add_partition(1);
        w.observe(0, Some(1_000), t0);
        assert_eq!(w.advance(t0), None);
        w.observe(0, Some(1_000), t0 + secs(5));
        assert_eq!(w.advance(t0 + secs(5)), Some(Watermark(1_000)));
    }

    #[test]
    fn all_idle_does_not_advance() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(0), Some(secs(5))).unwrap();
        w.observe(0, Some(1_000), t0);
        w.observe(1, Some(2_000), t0);
        // Both idle: not even partition 1's higher watermark is taken.
        assert_eq!(w.advance(t0 + secs(60)), None);
        assert_eq!(w.current(), None);
        w.observe(1, Some(2_000), t0 + secs(61));
        assert_eq!(w.advance(t0 + secs(61)), Some(Watermark(2_000)));
        assert_eq!(w.advance(t0 + secs(600)), None);
        assert_eq!(w.current(), Some(Watermark(2_000)));
    }

    #[test]
    fn without_idle_timeout_nothing_is_idle() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(0), None).unwrap();
        w.observe(0, Some(1_000), t0);
        w.observe(1, Some(500), t0);
        assert!(!w.is_idle(1, t0 + secs(3_600)));
        w.observe(0, Some(9_000), t0 + secs(3_600));
        assert_eq!(w.advance(t0 + secs(3_600)), Some(Watermark(500)));
    }

    #[test]
    fn removing_a_partition_lets_it_advance() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(0), None).unwrap();
        w.observe(0, Some(9_000), t0);
        w.observe(1, Some(2_000), t0);
        assert_eq!(w.advance(t0), Some(Watermark(2_000)));
        assert!(w.remove_partition(1));
        assert!(!w.remove_partition(1));
        assert_eq!(w.advance(t0), Some(Watermark(9_000)));

        // Removing a partition that never sent releases the hold as well.
        w.add_partition(2);
        w.observe(0, Some(10_000), t0);
        assert_eq!(w.advance(t0), None);
        w.remove_partition(2);
        assert_eq!(w.advance(t0), Some(Watermark(10_000)));

        // Removing the last one leaves nothing to advance on.
        w.remove_partition(0);
        assert_eq!(w.advance(t0), None);
        assert_eq!(w.current(), Some(Watermark(10_000)));
    }

    #[test]
    fn watermark_is_monotonic() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(0), None).unwrap();
        w.observe(0, Some(5_000), t0);
        assert_eq!(w.advance(t0), Some(Watermark(5_000)));
        // A new, slower partition joins (rebalance): the watermark stays put.
        w.observe(1, Some(1_000), t0);
        assert_eq!(w.advance(t0), None);
        assert_eq!(w.current(), Some(Watermark(5_000)));
        w.observe(1, Some(5_000), t0);
        assert_eq!(w.advance(t0), None);
        w.observe(1, Some(5_001), t0);
        w.observe(0, Some(5_001), t0);
        assert_eq!(w.advance(t0), Some(Watermark(5_001)));
    }

    #[test]
    fn end_of_input_flushes_everything() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(1_000), None).unwrap();
        w.add_partition(0);
        assert_eq!(w.end_of_input(), Watermark(i64::MAX));
        assert_eq!(w.current(), Some(Watermark(i64::MAX)));
        w.observe(0, Some(i64::MAX), t0);
        assert_eq!(w.advance(t0), None);
        assert_eq!(w.current(), Some(Watermark(i64::MAX)));
    }

    #[test]
    fn instants_going_back_do_not_panic() {
        let t0 = Instant::now();
        let mut w = SourceWatermarks::new(bounded(0), Some(secs(1))).unwrap();
        w.observe(0, Some(1), t0 + secs(5));
        assert!(!w.is_idle(0, t0));
        assert_eq!(w.advance(t0), Some(Watermark(1)));
    }
}
