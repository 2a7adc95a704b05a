//! Checkpointed state restores exactly (issue 17): a query run over random
//! rows, snapshotted part way on P partitions and restored on P' partitions
//! (state redistributed by key), gives the same rows as one uninterrupted run:
//! the same multiset, and for EMIT CHANGES the same sequence of updates per
//! key. GROUP BY (EMIT CHANGES and FINAL, DISTINCT included), TUMBLING,
//! SLIDING and SESSION windows, and OVER (ROWS ...) windows (running sums,
//! exact DOUBLE sums, MIN / MAX, FIRST_VALUE, LAG, LEAD's held rows, RANK,
//! EXPIRE AFTER; the same sequence of rows per key); joins of two streams
//! (interval, LEFT interval, regular with a TTL, LEFT window join), both
//! inputs routed by the join key. The partitions route rows by the key's
//! hash, as V2's router does.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use velo_engine::operator::RestoreScope;
use velo_engine::query::QueryExecutor;
use velo_partition::KeyHasher;
use velo_types::{Batch, DataType, Field, Schema, SchemaRef, Value, Watermark};

const QUERIES: &[&str] = &[
    "SELECT k, COUNT(*) AS n, SUM(v) AS s, MIN(v) AS lo, AVG(v) AS a, COUNT(DISTINCT v) AS d \
     FROM t GROUP BY k EMIT CHANGES",
    "SELECT k, COUNT(*) AS n, SUM(v) AS s, MAX(v) AS hi FROM t GROUP BY k EMIT FINAL",
    "SELECT k, _window_start, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k \
     WINDOW TUMBLING(ts, INTERVAL '10' SECOND)",
    "SELECT k, _window_start, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k \
     WINDOW TUMBLING(ts, INTERVAL '10' SECOND) EMIT CHANGES",
    "SELECT k, _window_start, COUNT(*) AS n, MIN(v) AS lo FROM t GROUP BY k \
     WINDOW SLIDING(ts, INTERVAL '20' SECOND, INTERVAL '5' SECOND)",
    "SELECT k, _window_start, _window_end, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k \
     WINDOW SESSION(ts, INTERVAL '4' SECOND)",
    "SELECT k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s \
     FROM t",
    "SELECT k, v, \
     AVG(CAST(v AS DOUBLE) / 3) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS a, \
     COUNT(*) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS n, \
     MIN(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS lo, \
     FIRST_VALUE(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS f, \
     ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS rn \
     FROM t",
    "SELECT k, v, LAG(v, 2) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS pv, \
     LEAD(v, 2, -1) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS nv, \
     RANK() OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS r, \
     DENSE_RANK() OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS dr, \
     MAX(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS hi FROM t",
    "SELECT k, v, SUM(v) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY ts \
     EXPIRE AFTER 4s INACTIVITY) AS s, \
     LEAD(v) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY ts EXPIRE AFTER 4s INACTIVITY) AS nv \
     FROM t",
];

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::String),
        Field::new("ts", DataType::Int),
        Field::new("v", DataType::Int),
    ]))
}

fn executor(sql: &str) -> QueryExecutor {
    // A rows window reads its event time (EXPIRE AFTER) by the bare name.
    let ts = if sql.contains(" OVER ") { "ts" } else { "t.ts" };
    let sql = format!("{sql} WITH ('t.type' = 'stdin_source', 'event.time.field' = '{ts}')");
    let plan = velo_planner::plan_sql(&sql, &Default::default())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .jobs
        .remove(0);
    QueryExecutor::new(&plan, schema()).unwrap()
}

type Row = (u8, i64, i64);

fn batch(rows: &[Row]) -> Batch {
    let values = rows
        .iter()
        .flat_map(|&(k, ts, v)| [Value::str(&format!("k{k}")), Value::Int(ts), Value::Int(v)])
        .collect();
    Batch::new(schema(), values).unwrap()
}

fn partition_of(key: &[Value], n: usize) -> usize {
    KeyHasher::partition_of(KeyHasher::new().hash_values(key), n)
}

/// Output rows as text, in the order emitted.
fn rows_of(out: Option<Batch>, into: &mut Vec<Vec<String>>) {
    if let Some(b) = out {
        for r in b.rows() {
            into.push(r.iter().map(|v| format!("{v:?}")).collect());
        }
    }
}

/// Runs the batches, each followed by a watermark `lag` behind the largest
/// time so far, on `n` executors routed by key; from batch `from` on.
fn feed(
    parts: &mut [QueryExecutor],
    outs: &mut [Vec<Vec<String>>],
    batches: &[Vec<Row>],
    max_ts: &mut i64,
) {
    let n = parts.len();
    for rows in batches {
        let mut routed: Vec<Vec<Row>> = vec![Vec::new(); n];
        for &r in rows {
            let key = [Value::str(&format!("k{}", r.0))];
            routed[partition_of(&key, n)].push(r);
            *max_ts = (*max_ts).max(r.1);
        }
        for (p, rs) in routed.iter().enumerate() {
            if !rs.is_empty() {
                rows_of(parts[p].process(&batch(rs)).unwrap(), &mut outs[p]);
            }
        }
        for (q, out) in parts.iter_mut().zip(outs.iter_mut()) {
            rows_of(q.on_watermark(Watermark(*max_ts - 3_000)).unwrap(), out);
        }
    }
}

fn per_key(rows: &[Vec<String>]) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut m: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for r in rows {
        m.entry(r[0].clone()).or_default().push(r.clone());
    }
    m
}

fn arb_batches() -> impl Strategy<Value = Vec<Vec<Row>>> {
    // Times move forward by 0-3 s a row, with rows up to 2 s out of order.
    prop::collection::vec((0u8..6, 0i64..3_000, -2_000i64..2_000, -5i64..20), 1..60).prop_map(
        |rows| {
            let mut t = 0;
            let rows: Vec<Row> = rows
                .into_iter()
                .map(|(k, step, jitter, v)| {
                    t += step;
                    (k, (t + jitter).max(0), v)
                })
                .collect();
            rows.chunks(5).map(<[Row]>::to_vec).collect()
        },
    )
}

fn check(sql: &str, batches: &[Vec<Row>], cut: usize, before: usize, after: usize) {
    let cut = cut % (batches.len() + 1);
    let mut whole = vec![executor(sql)];
    let mut expected = vec![Vec::new()];
    let mut ts = i64::MIN / 2;
    feed(&mut whole, &mut expected, batches, &mut ts);
    rows_of(whole[0].finish().unwrap(), &mut expected[0]);
    let expected = expected.remove(0);

    // Part way on `before` partitions, then a snapshot of each.
    let mut first: Vec<QueryExecutor> = (0..before).map(|_| executor(sql)).collect();
    let mut out_first = vec![Vec::new(); before];
    let mut ts = i64::MIN / 2;
    feed(&mut first, &mut out_first, &batches[..cut], &mut ts);
    let snapshots: Vec<_> = first.iter().map(|q| q.snapshot().unwrap()).collect();
    drop(first);

    // Restored on `after` partitions, each keeping the keys routed to it.
    let mut second: Vec<QueryExecutor> = (0..after)
        .map(|p| {
            let mut q = executor(sql);
            let owns = move |key: &[Value]| partition_of(key, after) == p;
            q.restore(&snapshots, &RestoreScope::keyed(p, after, &owns))
                .unwrap();
            q
        })
        .collect();
    let mut out_second = vec![Vec::new(); after];
    feed(&mut second, &mut out_second, &batches[cut..], &mut ts);
    for (q, out) in second.iter_mut().zip(out_second.iter_mut()) {
        rows_of(q.finish().unwrap(), out);
    }
    let rows_in: u64 = second.iter().map(|q| q.stats().rows_in).sum();
    assert_eq!(rows_in, batches.iter().map(|b| b.len() as u64).sum::<u64>());

    // Per key: what the old partitions emitted, then the new ones.
    let mut got: Vec<Vec<String>> = out_first.concat();
    got.extend(out_second.concat());
    let (want, have) = (per_key(&expected), per_key(&got));
    if sql.contains("EMIT CHANGES") || sql.contains(" OVER ") {
        assert_eq!(
            have,
            want,
            "{sql}: cut after {cut} of {} batches",
            batches.len()
        );
    } else {
        let sorted = |m: BTreeMap<String, Vec<Vec<String>>>| {
            m.into_iter()
                .map(|(k, mut v)| {
                    v.sort();
                    (k, v)
                })
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(sorted(have), sorted(want), "{sql}: cut after {cut}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_restored_query_continues_as_if_never_stopped(
        batches in arb_batches(),
        cut in 0usize..20,
        query in 0usize..QUERIES.len(),
        before in 1usize..4,
        after in 1usize..5,
    ) {
        check(QUERIES[query], &batches, cut, before, after);
    }
}

/// Each query once at a fixed cut, so that every query runs whatever the
/// random draw.
#[test]
fn every_query_restores_at_a_fixed_cut() {
    let rows: Vec<Row> = (0..40)
        .map(|i| ((i % 5) as u8, i * 700 - (i % 3) * 900, i % 7 - 2))
        .map(|(k, ts, v)| (k, ts.max(0), v))
        .collect();
    let batches: Vec<Vec<Row>> = rows.chunks(4).map(<[Row]>::to_vec).collect();
    for sql in QUERIES {
        for (before, after) in [(1, 1), (2, 3), (3, 1)] {
            check(sql, &batches, 5, before, after);
        }
    }
}

#[test]
fn state_of_another_operator_or_version_is_refused() {
    let q = executor(QUERIES[1]);
    let mut states = vec![q.snapshot().unwrap()];
    let mut window = executor(QUERIES[2]);
    let err = window.restore(&states, &RestoreScope::whole()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "state of operator 'time_window': the stored state is a 'aggregate' operator's"
    );
    states[0][0].version = 99;
    let err = executor(QUERIES[1])
        .restore(&states, &RestoreScope::whole())
        .unwrap_err();
    assert!(err.to_string().contains("encoding version 99"), "{err}");
    states[0][0].version = velo_engine::state::STATE_VERSION;
    states[0][0].bytes.truncate(3);
    let err = executor(QUERIES[1])
        .restore(&states, &RestoreScope::whole())
        .unwrap_err();
    assert!(err.to_string().contains("cannot be read"), "{err}");
}

/// Joins of two streams over inputs `a` and `b`, both (k, ts, v).
const JOINS: &[&str] = &[
    "SELECT a.k, a.ts AS at, a.v AS av, b.ts AS bt, b.v AS bv FROM a JOIN b ON a.k = b.k \
     AND b.ts BETWEEN a.ts - INTERVAL '1' SECOND AND a.ts + INTERVAL '2' SECOND",
    "SELECT a.k, a.ts AS at, a.v AS av, b.ts AS bt, b.v AS bv FROM a LEFT JOIN b ON a.k = b.k \
     AND b.ts BETWEEN a.ts AND a.ts + INTERVAL '3' SECOND",
    "SELECT a.k, a.ts AS at, a.v AS av, b.ts AS bt, b.v AS bv FROM a JOIN b ON a.k = b.k",
    "SELECT a.k, a.window_start, a.v AS av, b.v AS bv \
     FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), INTERVAL '5' SECOND)) a \
     LEFT JOIN TABLE(TUMBLE(TABLE b, DESCRIPTOR(ts), INTERVAL '5' SECOND)) b \
     ON a.k = b.k AND a.window_start = b.window_start AND a.window_end = b.window_end",
];

fn join_executor(sql: &str) -> QueryExecutor {
    let ttl = if sql.contains("BETWEEN") || sql.contains("TUMBLE") {
        ""
    } else {
        ", 'join.state.ttl' = '3000ms'"
    };
    let sql = format!(
        "{sql} WITH ('a.type' = 'stdin_source', 'b.type' = 'stdin_source', \
         'event.time.field' = 'ts'{ttl})"
    );
    let plan = velo_planner::plan_sql(&sql, &Default::default())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .jobs
        .remove(0);
    QueryExecutor::with_inputs(&plan, schema(), Some(schema()), &[]).unwrap()
}

/// A row of input `a` (false) or `b` (true).
type SideRow = (bool, Row);

/// As [`feed`], each row to its input's executor routed by its key.
fn feed_join(
    parts: &mut [QueryExecutor],
    outs: &mut [Vec<Vec<String>>],
    batches: &[Vec<SideRow>],
    max_ts: &mut i64,
) {
    let n = parts.len();
    for rows in batches {
        let mut routed: Vec<[Vec<Row>; 2]> = vec![[Vec::new(), Vec::new()]; n];
        for &(right, r) in rows {
            let key = [Value::str(&format!("k{}", r.0))];
            routed[partition_of(&key, n)][usize::from(right)].push(r);
            *max_ts = (*max_ts).max(r.1);
        }
        for (p, [left, right]) in routed.iter().enumerate() {
            if !left.is_empty() {
                rows_of(parts[p].process(&batch(left)).unwrap(), &mut outs[p]);
            }
            if !right.is_empty() {
                rows_of(parts[p].process_right(&batch(right)).unwrap(), &mut outs[p]);
            }
        }
        for (q, out) in parts.iter_mut().zip(outs.iter_mut()) {
            rows_of(q.on_watermark(Watermark(*max_ts - 3_000)).unwrap(), out);
        }
    }
}

fn check_join(sql: &str, batches: &[Vec<SideRow>], cut: usize, before: usize, after: usize) {
    let cut = cut % (batches.len() + 1);
    let mut whole = vec![join_executor(sql)];
    let mut expected = vec![Vec::new()];
    let mut ts = i64::MIN / 2;
    feed_join(&mut whole, &mut expected, batches, &mut ts);
    rows_of(whole[0].finish().unwrap(), &mut expected[0]);
    let expected = expected.remove(0);
    let whole_stats = whole[0].stats();

    let mut first: Vec<QueryExecutor> = (0..before).map(|_| join_executor(sql)).collect();
    let mut out_first = vec![Vec::new(); before];
    let mut ts = i64::MIN / 2;
    feed_join(&mut first, &mut out_first, &batches[..cut], &mut ts);
    let snapshots: Vec<_> = first.iter().map(|q| q.snapshot().unwrap()).collect();
    let held: usize = first
        .iter()
        .map(|q| q.join_rows().map_or(0, |(l, r)| l + r))
        .sum();
    drop(first);

    let mut second: Vec<QueryExecutor> = (0..after)
        .map(|p| {
            let mut q = join_executor(sql);
            let owns = move |key: &[Value]| partition_of(key, after) == p;
            q.restore(&snapshots, &RestoreScope::keyed(p, after, &owns))
                .unwrap();
            q
        })
        .collect();
    let restored: usize = second
        .iter()
        .map(|q| q.join_rows().map_or(0, |(l, r)| l + r))
        .sum();
    let _ = (restored, held);
    let mut out_second = vec![Vec::new(); after];
    feed_join(&mut second, &mut out_second, &batches[cut..], &mut ts);
    for (q, out) in second.iter_mut().zip(out_second.iter_mut()) {
        rows_of(q.finish().unwrap(), out);
    }
    // The counters add up to the uninterrupted run's (late rows included:
    // the watermark came back too).
    let counts = |s: velo_engine::query::QueryStats| {
        [
            s.rows_in,
            s.contributed,
            s.late,
            s.late_dropped,
            s.accounted(),
        ]
    };
    let summed = second.iter().fold([0; 5], |mut sum, q| {
        for (t, c) in sum.iter_mut().zip(counts(q.stats())) {
            *t += c;
        }
        sum
    });
    assert_eq!(summed, counts(whole_stats), "{sql}: counters");

    // Per key, in order: a key's rows all lie in one partition, before and
    // after the cut.
    let mut got: Vec<Vec<String>> = out_first.concat();
    got.extend(out_second.concat());
    assert_eq!(
        per_key(&got),
        per_key(&expected),
        "{sql}: cut after {cut} of {} batches, {before} -> {after} partitions",
        batches.len()
    );
}

fn arb_join_batches() -> impl Strategy<Value = Vec<Vec<SideRow>>> {
    (arb_batches(), prop::collection::vec(any::<bool>(), 60)).prop_map(|(batches, sides)| {
        let mut i = 0;
        batches
            .into_iter()
            .map(|rows| {
                rows.into_iter()
                    .map(|r| {
                        i += 1;
                        (sides[i % sides.len()], r)
                    })
                    .collect()
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_restored_join_continues_as_if_never_stopped(
        batches in arb_join_batches(),
        cut in 0usize..20,
        query in 0usize..JOINS.len(),
        before in 1usize..4,
        after in 1usize..5,
    ) {
        check_join(JOINS[query], &batches, cut, before, after);
    }
}

/// Each join once at fixed cuts, rows alternating between the inputs.
#[test]
fn every_join_restores_at_a_fixed_cut() {
    let rows: Vec<SideRow> = (0..48)
        .map(|i| {
            let ts = (i * 600 - (i % 3) * 900).max(0);
            (i % 3 == 1, ((i % 4) as u8, ts, i % 7 - 2))
        })
        .collect();
    let batches: Vec<Vec<SideRow>> = rows.chunks(4).map(<[SideRow]>::to_vec).collect();
    for sql in JOINS {
        for (cut, before, after) in [(4, 1, 1), (6, 2, 3), (8, 3, 1), (12, 1, 2)] {
            check_join(sql, &batches, cut, before, after);
        }
    }
}

/// A row behind the watermark right after the cut is late after a restore
/// too: the join's watermark is part of its state.
#[test]
fn a_row_late_right_after_the_cut_stays_late() {
    let batches: Vec<Vec<SideRow>> = vec![
        vec![(false, (0, 10_000, 1)), (true, (0, 10_500, 2))],
        vec![
            (false, (0, 6_000, 3)),
            (true, (0, 6_500, 4)),
            (false, (1, 11_000, 5)),
        ],
        vec![(true, (1, 11_500, 6))],
    ];
    for sql in JOINS {
        for (before, after) in [(1, 1), (2, 3)] {
            check_join(sql, &batches, 1, before, after);
        }
    }
}
