//! Routing: which rows go where, for every strategy.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use velo_partition::{
    create, from_name, AlwaysHash, Error, FanIn, KeyHasher, PartitioningStrategy, RoundRobin,
    RoutingContext, SmartRepartition, StickyPartition, StrategyKind,
};
use velo_types::{Batch, DataType, Field, Schema, SchemaRef, Value};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("a", DataType::String),
        Field::new("b", DataType::String),
        Field::new("v", DataType::Int),
    ]))
}

fn batch(rows: &[(&str, &str, i64)]) -> Batch {
    let values = rows
        .iter()
        .flat_map(|(a, b, v)| [Value::str(a), Value::str(b), Value::Int(*v)])
        .collect();
    Batch::new(schema(), values).unwrap()
}

/// `n` rows with 20 distinct keys in column `a`.
fn keyed(n: usize, start: i64) -> Batch {
    let rows: Vec<(String, i64)> = (0..n)
        .map(|i| (format!("key{}", (i * 7) % 20), start + i as i64))
        .collect();
    let values = rows
        .iter()
        .flat_map(|(k, v)| [Value::str(k), Value::str("x"), Value::Int(*v)])
        .collect();
    Batch::new(schema(), values).unwrap()
}

fn ctx(n: usize, keys: Vec<usize>) -> RoutingContext {
    RoutingContext::new(n, keys)
}

fn route(s: &mut dyn PartitioningStrategy, b: Batch, ctx: &RoutingContext) -> Vec<(usize, Batch)> {
    let mut out = Vec::new();
    s.route(b, ctx, &mut out);
    out
}

/// Row values -> partition, for every routed row.
fn placement(out: &[(usize, Batch)]) -> Vec<(Vec<Value>, usize)> {
    out.iter()
        .flat_map(|(p, b)| b.rows().map(move |r| (r.to_vec(), *p)))
        .collect()
}

fn check_contract(out: &[(usize, Batch)], n: usize) {
    let mut last = None;
    for (p, b) in out {
        assert!(*p < n, "partition {p} out of 0..{n}");
        assert!(!b.is_empty(), "empty sub-batch for partition {p}");
        assert!(last < Some(*p), "partitions not strictly increasing");
        last = Some(*p);
    }
}

#[test]
fn always_hash_splits_by_key_and_keeps_row_order() {
    let input = keyed(1000, 0);
    let mut s = AlwaysHash::new();
    let c = ctx(4, vec![0]);
    let out = route(&mut s, input.clone(), &c);
    check_contract(&out, 4);
    assert!(out.len() > 1, "20 keys over 4 partitions use several");
    let hasher = KeyHasher::new();
    let mut key_home: HashMap<Value, usize> = HashMap::new();
    for (p, b) in &out {
        let mut prev = -1;
        for row in b.rows() {
            assert_eq!(
                KeyHasher::partition_of(hasher.hash_key(row, &[0]), 4),
                *p,
                "row routed where its hash says"
            );
            assert_eq!(*key_home.entry(row[0].clone()).or_insert(*p), *p);
            let v = row[2].as_i64().unwrap();
            assert!(v > prev, "rows keep their input order");
            prev = v;
        }
    }
    assert_eq!(key_home.len(), 20);
    let total: usize = out.iter().map(|(_, b)| b.num_rows()).sum();
    assert_eq!(total, 1000);
}

#[test]
fn hash_depends_on_key_values_only() {
    let mut s = AlwaysHash::new();
    let c = ctx(8, vec![0, 1]);
    // Same keys, different other columns, different batch boundaries.
    let one = route(
        &mut s,
        batch(&[("p", "q", 1), ("r", "s", 2), ("t", "u", 3)]),
        &c,
    );
    let mut split = route(&mut s, batch(&[("t", "u", 30)]), &c);
    split.extend(route(&mut s, batch(&[("r", "s", 20), ("p", "q", 10)]), &c));
    let where_is = |out: &[(usize, Batch)], a: &str| {
        placement(out)
            .into_iter()
            .find(|(r, _)| r[0] == Value::str(a))
            .unwrap()
            .1
    };
    for k in ["p", "r", "t"] {
        assert_eq!(where_is(&one, k), where_is(&split, k), "key {k}");
    }
    // A fresh strategy (another run) routes identically.
    let again = route(
        &mut AlwaysHash::new(),
        batch(&[("p", "q", 1), ("r", "s", 2), ("t", "u", 3)]),
        &c,
    );
    assert_eq!(placement(&one), placement(&again));
    // The hash is the hash of the key values, whatever the other columns.
    let h = KeyHasher::new();
    assert_eq!(
        h.hash_key(&[Value::str("p"), Value::str("q"), Value::Int(1)], &[0, 1]),
        h.hash_values([&Value::str("p"), &Value::str("q")])
    );
    assert_eq!(
        h.hash_key(&[Value::str("p"), Value::Int(99)], &[0]),
        h.hash_key(&[Value::Int(-5), Value::str("p")], &[1])
    );
}

#[test]
fn no_collision_by_concatenation() {
    let h = KeyHasher::new();
    let ab_c = h.hash_values([&Value::str("ab"), &Value::str("c")]);
    let a_bc = h.hash_values([&Value::str("a"), &Value::str("bc")]);
    assert_ne!(ab_c, a_bc);
    let abc_ = h.hash_values([&Value::str("abc"), &Value::str("")]);
    assert_ne!(ab_c, abc_);
    assert_ne!(a_bc, abc_);
    // Types are part of the key: the string "1" is not the integer 1, NULL is not "".
    assert_ne!(
        h.hash_values([&Value::str("1")]),
        h.hash_values([&Value::Int(1)])
    );
    assert_ne!(
        h.hash_values([&Value::Null]),
        h.hash_values([&Value::str("")])
    );
    // And the routing uses exactly those hashes: the two keys can part ways.
    let rows = [("ab", "c", 1), ("a", "bc", 2)];
    let parted = (2..=64).any(|n| {
        let out = route(&mut AlwaysHash::new(), batch(&rows), &ctx(n, vec![0, 1]));
        out.len() == 2
    });
    assert!(parted);
}

#[test]
fn always_hash_without_keys_or_with_one_partition_moves_the_whole_batch() {
    let input = keyed(100, 0);
    for c in [ctx(4, vec![]), ctx(1, vec![0])] {
        let out = route(&mut AlwaysHash::new(), input.clone(), &c);
        assert_eq!(out, vec![(0, input.clone())]);
    }
}

#[test]
fn one_key_batch_is_moved_whole() {
    let input = batch(&[("k", "x", 1), ("k", "y", 2), ("k", "z", 3)]);
    let out = route(&mut AlwaysHash::new(), input.clone(), &ctx(16, vec![0]));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, input);
}

#[test]
fn empty_batches_route_nowhere() {
    for kind in [
        StrategyKind::AlwaysHash,
        StrategyKind::SmartRepartition,
        StrategyKind::StickyPartition,
        StrategyKind::RoundRobin,
        StrategyKind::FanIn,
    ] {
        let out = route(&mut *create(kind), Batch::empty(schema()), &ctx(4, vec![0]));
        assert!(out.is_empty(), "{kind}");
    }
}

#[test]
fn zero_width_batches_move_whole() {
    let empty_schema: SchemaRef = Arc::new(Schema::new(vec![]));
    let b = Batch::empty_rows(empty_schema, 5);
    let out = route(&mut AlwaysHash::new(), b.clone(), &ctx(4, vec![]));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.num_rows(), 5);
}

#[test]
#[should_panic(expected = "out of range")]
fn bad_key_column_panics_clearly() {
    route(&mut AlwaysHash::new(), keyed(3, 0), &ctx(4, vec![7]));
}

#[test]
#[should_panic(expected = "partition_count")]
fn zero_partitions_panics_clearly() {
    route(&mut FanIn, keyed(3, 0), &ctx(0, vec![]));
}

#[test]
fn smart_repartition_keeps_the_source_partition_when_aligned() {
    let input = keyed(200, 0);
    let mut s = SmartRepartition::new();
    // Aligned: the source key equals the key columns as a set.
    let aligned = RoutingContext {
        source_partition: 6,
        source_partition_key: Some(vec![1, 0]),
        key_columns: vec![0, 1],
        partition_count: 4,
    };
    assert!(aligned.is_aligned());
    assert_eq!(
        route(&mut s, input.clone(), &aligned),
        vec![(2, input.clone())]
    );

    // Not aligned: hash like AlwaysHash.
    for pk in [None, Some(vec![0]), Some(vec![0, 1, 2]), Some(vec![2])] {
        let c = RoutingContext {
            source_partition_key: pk,
            ..aligned.clone()
        };
        assert!(!c.is_aligned());
        let got = route(&mut s, input.clone(), &c);
        let want = route(&mut AlwaysHash::new(), input.clone(), &c);
        assert_eq!(got, want);
        assert!(got.len() > 1);
    }
    // No key columns is never aligned (a keyless stateful query needs one place).
    let keyless = RoutingContext {
        source_partition: 3,
        source_partition_key: Some(vec![]),
        key_columns: vec![],
        partition_count: 4,
    };
    assert!(!keyless.is_aligned());
    assert_eq!(route(&mut s, input.clone(), &keyless), vec![(0, input)]);
}

/// `keyed(n, 0)` with row `i` read from source line `2 + 3 * i`.
fn keyed_with_positions(n: usize) -> Batch {
    keyed(n, 0).with_positions((0..n as u64).map(|i| 2 + 3 * i).collect())
}

/// Every routed row still carries the position of its source record.
fn check_positions(out: &[(usize, Batch)]) {
    for (p, b) in out {
        let positions = b.positions().expect("sub-batch without positions");
        assert_eq!(positions.len(), b.num_rows());
        for (row, &pos) in b.rows().zip(positions) {
            let i = row[2].as_i64().unwrap() as u64;
            assert_eq!(pos, 2 + 3 * i, "row {i} on partition {p}");
        }
    }
}

#[test]
fn hash_split_keeps_each_rows_source_position() {
    let unaligned = RoutingContext {
        source_partition: 1,
        source_partition_key: Some(vec![1]),
        key_columns: vec![0],
        partition_count: 4,
    };
    let strategies: [Box<dyn PartitioningStrategy>; 2] = [
        Box::new(AlwaysHash::new()),
        Box::new(SmartRepartition::new()),
    ];
    for mut s in strategies {
        let out = route(&mut *s, keyed_with_positions(1000), &unaligned);
        assert!(out.len() > 1, "{}: the batch is split", s.name());
        check_positions(&out);
        let total: usize = out.iter().map(|(_, b)| b.num_rows()).sum();
        assert_eq!(total, 1000);

        // The splitter's buffers are reused: a batch without positions gets none,
        // and the next one with positions gets its own again.
        let out = route(&mut *s, keyed(1000, 0), &unaligned);
        assert!(out.iter().all(|(_, b)| b.positions().is_none()));
        check_positions(&route(&mut *s, keyed_with_positions(500), &unaligned));
    }
}

#[test]
fn whole_batch_routing_keeps_positions() {
    let one_key =
        batch(&[("k", "x", 0), ("k", "y", 1), ("k", "z", 2)]).with_positions(vec![2, 5, 8]);
    check_positions(&route(&mut AlwaysHash::new(), one_key, &ctx(16, vec![0])));
    for kind in [
        StrategyKind::AlwaysHash,
        StrategyKind::StickyPartition,
        StrategyKind::RoundRobin,
        StrategyKind::FanIn,
    ] {
        let c = if kind == StrategyKind::AlwaysHash {
            ctx(1, vec![0])
        } else {
            ctx(4, vec![0])
        };
        let out = route(&mut *create(kind), keyed_with_positions(100), &c);
        assert_eq!(out.len(), 1, "{kind}");
        check_positions(&out);
    }
}

#[test]
fn sticky_keeps_source_partition_and_order() {
    let mut s = StickyPartition;
    let mut per_partition: HashMap<usize, Vec<i64>> = HashMap::new();
    for i in 0..24u32 {
        let c = RoutingContext {
            source_partition: i % 6,
            ..ctx(4, vec![0])
        };
        let b = keyed(10, i as i64 * 10);
        let out = route(&mut s, b.clone(), &c);
        assert_eq!(out, vec![((i % 6) as usize % 4, b)], "whole batch, intact");
        for (p, b) in out {
            per_partition
                .entry(p)
                .or_default()
                .extend(b.rows().map(|r| r[2].as_i64().unwrap()));
        }
    }
    // Source partitions 0 and 4 share partition 0; each keeps its own order.
    for vs in per_partition.values() {
        assert!(vs.windows(2).all(|w| w[0] < w[1]));
    }
    assert_eq!(per_partition.len(), 4);
}

#[test]
fn round_robin_cycles_whole_batches() {
    let mut s = RoundRobin::new();
    let c = ctx(3, vec![0]);
    let mut seen = Vec::new();
    for i in 0..7 {
        let b = keyed(5, i * 5);
        let out = route(&mut s, b.clone(), &c);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1, b, "batch moved intact");
        seen.push(out[0].0);
        // Empty batches do not take a turn.
        assert!(route(&mut s, Batch::empty(schema()), &c).is_empty());
    }
    assert_eq!(seen, vec![0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn fan_in_sends_everything_to_zero() {
    for n in 1..=8 {
        let b = keyed(50, 0);
        let c = RoutingContext {
            source_partition: 5,
            ..ctx(n, vec![0])
        };
        assert_eq!(route(&mut FanIn, b.clone(), &c), vec![(0, b)]);
    }
}

#[test]
fn factory_and_aliases() {
    let cases = [
        ("always_hash", "always_hash"),
        ("hash", "always_hash"),
        ("AlwaysHashStrategy", "always_hash"),
        ("smart", "smart_repartition"),
        ("Smart-Repartition", "smart_repartition"),
        ("sticky", "sticky_partition"),
        ("sticky_partition", "sticky_partition"),
        ("rr", "round_robin"),
        ("RoundRobin", "round_robin"),
        ("fanin", "fan_in"),
        ("FAN_IN", "fan_in"),
    ];
    for (alias, name) in cases {
        assert_eq!(from_name(alias).unwrap().name(), name, "{alias}");
    }
    for kind in [
        StrategyKind::AlwaysHash,
        StrategyKind::SmartRepartition,
        StrategyKind::StickyPartition,
        StrategyKind::RoundRobin,
        StrategyKind::FanIn,
    ] {
        assert_eq!(create(kind).name(), kind.name());
    }
    let err = from_name("random").unwrap_err();
    assert_eq!(err, Error::UnknownStrategy("random".into()));
    assert!(err
        .to_string()
        .contains("unknown partitioning strategy 'random'"));
}

#[test]
fn boxed_strategies_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let s = create(StrategyKind::AlwaysHash);
    is_send(&s);
    let handle = std::thread::spawn(move || {
        let mut s = s;
        route(&mut s, keyed(10, 0), &ctx(2, vec![0])).len()
    });
    assert!(handle.join().unwrap() >= 1);
}

fn value_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(Value::Int),
        "[a-c]{0,3}".prop_map(|s| Value::str(&s)),
    ]
}

fn sorted(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    rows
}

proptest! {
    /// Every row lands in exactly one sub-batch, whatever the partition count and
    /// the keys; a key's rows all land together; batch boundaries do not matter.
    #[test]
    fn every_row_routed_exactly_once(
        rows in prop::collection::vec(prop::collection::vec(value_strategy(), 3), 0..200),
        n in 1usize..=16,
        keys in prop::sample::subsequence(vec![0usize, 1, 2], 0..=3),
        cut in 0usize..200,
    ) {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("x", DataType::String),
            Field::new("y", DataType::String),
            Field::new("z", DataType::String),
        ]));
        let input = Batch::new(schema.clone(), rows.concat()).unwrap();
        let c = RoutingContext::new(n, keys.clone());
        for kind in [StrategyKind::AlwaysHash, StrategyKind::SmartRepartition, StrategyKind::RoundRobin, StrategyKind::StickyPartition, StrategyKind::FanIn] {
            let out = route(&mut *create(kind), input.clone(), &c);
            check_contract(&out, n);
            let got: Vec<Vec<Value>> = out.iter().flat_map(|(_, b)| b.rows().map(|r| r.to_vec())).collect();
            prop_assert_eq!(sorted(got), sorted(rows.clone()));
        }

        // Hash routing: the same key goes to the same partition, across a batch cut.
        let cut = cut.min(rows.len());
        let mut s = AlwaysHash::new();
        let mut out = route(&mut s, Batch::new(schema.clone(), rows[..cut].concat()).unwrap(), &c);
        out.extend(route(&mut s, Batch::new(schema, rows[cut..].concat()).unwrap(), &c));
        let mut home: HashMap<Vec<Value>, usize> = HashMap::new();
        for (row, p) in placement(&out) {
            let key: Vec<Value> = keys.iter().map(|&k| row[k].clone()).collect();
            prop_assert_eq!(*home.entry(key).or_insert(p), p);
        }
        let whole = route(&mut s, input, &c);
        for (row, p) in placement(&whole) {
            let key: Vec<Value> = keys.iter().map(|&k| row[k].clone()).collect();
            prop_assert_eq!(home[&key], p);
        }
    }
}
