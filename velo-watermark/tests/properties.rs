//! Property tests for `SourceWatermarks`: for random per-partition event-time
//! sequences cut into random batches, the returned watermarks never go back and
//! never pass what the partitions have seen.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use velo_types::Watermark;
use velo_watermark::{SourceWatermarks, WatermarkStrategy};

/// One input batch: the partition it came from, its event times (possibly none)
/// and whether the caller reaches a batch boundary (calls `advance`) after it.
#[derive(Debug, Clone)]
struct Step {
    partition: u32,
    event_times: Vec<i64>,
    advance: bool,
    /// Processing time elapsed before this batch, in milliseconds.
    elapsed_ms: u64,
}

fn steps(partitions: u32) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0..partitions,
            prop::collection::vec(-100_000i64..100_000, 0..6),
            any::<bool>(),
            0u64..3_000,
        )
            .prop_map(|(partition, event_times, advance, elapsed_ms)| Step {
                partition,
                event_times,
                advance,
                elapsed_ms,
            }),
        0..80,
    )
}

fn strategy() -> impl Strategy<Value = WatermarkStrategy> {
    prop_oneof![
        Just(WatermarkStrategy::Ascending),
        (0i64..5_000).prop_map(|ms| WatermarkStrategy::BoundedOutOfOrderness {
            max_out_of_orderness_ms: ms
        }),
    ]
}

fn cases() -> impl Strategy<Value = (WatermarkStrategy, u32, Vec<Step>)> {
    (strategy(), 1u32..5).prop_flat_map(|(s, n)| (Just(s), Just(n), steps(n)))
}

proptest! {
    /// Without idleness every partition counts: each returned watermark is above
    /// the previous one and at most min over partitions of (max seen - delay);
    /// at the end the current watermark is exactly that bound once every
    /// partition has seen an event time.
    #[test]
    fn watermarks_are_monotonic_and_bounded((strategy, n, steps) in cases()) {
        let delay = strategy.delay_ms();
        let mut wms = SourceWatermarks::new(strategy, None).unwrap();
        for id in 0..n {
            wms.add_partition(id);
        }
        let mut max_seen: BTreeMap<u32, i64> = BTreeMap::new();
        let mut last: Option<Watermark> = None;
        let mut now = Instant::now();
        for step in &steps {
            now += Duration::from_millis(step.elapsed_ms);
            let batch_max = step.event_times.iter().copied().max();
            if let Some(m) = batch_max {
                let e = max_seen.entry(step.partition).or_insert(m);
                *e = (*e).max(m);
            }
            wms.observe(step.partition, batch_max, now);
            if !step.advance {
                continue;
            }
            if let Some(w) = wms.advance(now) {
                prop_assert!(last.is_none_or(|l| w > l), "went back: {last:?} -> {w:?}");
                prop_assert_eq!(max_seen.len() as u32, n, "advanced before every partition had data");
                let bound = max_seen.values().map(|m| m - delay).min().unwrap();
                prop_assert!(w.0 <= bound, "{w:?} beyond bound {bound}");
                last = Some(w);
            }
            prop_assert_eq!(wms.current(), last);
        }
        let final_wm = wms.advance(now).or(last);
        if max_seen.len() as u32 == n {
            let bound = max_seen.values().map(|m| m - delay).min().unwrap();
            prop_assert_eq!(final_wm, Some(Watermark(bound)));
        } else {
            prop_assert_eq!(final_wm, None);
        }
    }

    /// With idleness: returned watermarks still never go back, and each one is
    /// exactly the minimum over the partitions that are active at that moment,
    /// so it never exceeds the bound of any active partition.
    #[test]
    fn idle_partitions_never_make_it_go_back(
        (strategy, _n, steps) in cases(),
        idle_ms in 1u64..5_000,
    ) {
        let mut wms = SourceWatermarks::new(strategy, Some(Duration::from_millis(idle_ms))).unwrap();
        let mut last: Option<Watermark> = None;
        let mut now = Instant::now();
        for step in &steps {
            now += Duration::from_millis(step.elapsed_ms);
            wms.observe(step.partition, step.event_times.iter().copied().max(), now);
            if !step.advance {
                continue;
            }
            if let Some(w) = wms.advance(now) {
                prop_assert!(last.is_none_or(|l| w > l), "went back: {last:?} -> {w:?}");
                let active: Vec<Option<Watermark>> = wms
                    .partition_ids()
                    .filter(|&id| !wms.is_idle(id, now))
                    .map(|id| wms.partition_watermark(id))
                    .collect();
                prop_assert!(!active.is_empty(), "advanced with every partition idle");
                prop_assert!(active.iter().all(Option::is_some));
                prop_assert_eq!(active.iter().flatten().min().copied(), Some(w));
                last = Some(w);
            }
            prop_assert_eq!(wms.current(), last);
        }
    }
}
