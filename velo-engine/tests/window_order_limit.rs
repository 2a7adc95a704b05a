//! ORDER BY and LIMIT on a time window with EMIT FINAL apply to each emitted
//! window (SPEC §2 "per emitted window"; docs/DECISIONS.md): a window's rows are
//! sorted and cut on their own when a watermark closes it, windows closed by one
//! watermark each on their own and in window order, nothing held back until the
//! end of input, and a late firing limited on its own. Without a window both
//! stay global.

use std::sync::Arc;

use velo_engine::query::QueryExecutor;
use velo_types::{Batch, DataType, Field, Schema, SchemaRef, Value, Watermark};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int),
        Field::new("ts", DataType::Int),
        Field::new("v", DataType::Int),
    ]))
}

fn query(sql: &str, props: &str) -> QueryExecutor {
    let sql = format!("{sql} WITH ('t.type' = 'stdin_source'{props})");
    let plan = velo_planner::plan_sql(&sql, &Default::default())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .jobs
        .remove(0);
    QueryExecutor::new(&plan, schema()).unwrap()
}

/// Records `(k, ts, v)`.
fn batch(recs: &[(i64, i64, i64)]) -> Batch {
    let values = recs
        .iter()
        .flat_map(|&(k, ts, v)| [Value::Int(k), Value::Int(ts), Value::Int(v)])
        .collect();
    Batch::new(schema(), values).unwrap()
}

/// The emitted rows as integers (timestamps as their millis).
fn ints(b: Option<Batch>) -> Vec<Vec<i64>> {
    b.map_or_else(Vec::new, |b| {
        b.rows()
            .map(|r| {
                r.iter()
                    .map(|v| match v {
                        Value::Int(i) | Value::Timestamp(i) => *i,
                        other => panic!("unexpected value {other:?}"),
                    })
                    .collect()
            })
            .collect()
    })
}

/// `count` records of key `k` at time `ts`.
fn many(k: i64, ts: i64, count: usize) -> Vec<(i64, i64, i64)> {
    vec![(k, ts, 0); count]
}

#[test]
fn tumbling_top_n_is_per_window_and_emitted_as_each_window_closes() {
    let mut q = query(
        "SELECT _window_start AS ws, k, COUNT(*) AS n FROM t GROUP BY k \
         WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND) ORDER BY n DESC LIMIT 2 EMIT FINAL",
        "",
    );
    // Window [0, 10): k1 x1, k2 x3, k3 x2, k4 x4. Window [10, 20): k1 x2, k5 x1.
    // Window [20, 30): k2 x1, k3 x5, k6 x2.
    let mut recs = Vec::new();
    for (k, ts, c) in [
        (1, 1, 1),
        (2, 2, 3),
        (3, 3, 2),
        (4, 4, 4),
        (1, 11, 2),
        (5, 12, 1),
        (2, 21, 1),
        (3, 22, 5),
        (6, 23, 2),
    ] {
        recs.extend(many(k, ts, c));
    }
    assert!(q.process(&batch(&recs)).unwrap().is_none());
    // One watermark closes the first two windows: each is sorted and cut on
    // its own, in window order.
    assert_eq!(
        ints(q.on_watermark(Watermark(20)).unwrap()),
        [[0, 4, 4], [0, 2, 3], [10, 1, 2], [10, 5, 1]]
    );
    // The LIMIT was reached (twice) but is per window: the job goes on.
    assert!(!q.is_done());
    assert!(q.state_bytes() > 0, "the third window is still open");
    assert_eq!(
        ints(q.on_watermark(Watermark(30)).unwrap()),
        [[20, 3, 5], [20, 6, 2]]
    );
    // A later window, closed by the end of input, gets its own LIMIT too.
    q.process(&batch(&[(7, 35, 0), (8, 36, 0), (8, 37, 0), (9, 38, 0)]))
        .unwrap();
    assert_eq!(ints(q.finish().unwrap()), [[30, 8, 2], [30, 7, 1]]);
    assert_eq!(q.counters().rows_out, 8);
}

#[test]
fn order_by_alone_sorts_each_window_and_holds_nothing_back() {
    let mut q = query(
        "SELECT k, SUM(v) AS s FROM t GROUP BY k \
         WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND) ORDER BY s, k DESC",
        "",
    );
    q.process(&batch(&[
        (1, 1, 5),
        (2, 2, 3),
        (3, 3, 5),
        (1, 12, 9),
        (2, 13, 1),
    ]))
    .unwrap();
    let first = q.state_bytes();
    assert_eq!(
        ints(q.on_watermark(Watermark(10)).unwrap()),
        [[2, 3], [3, 5], [1, 5]]
    );
    // The emitted rows are not kept for a sort at the end.
    assert!(q.state_bytes() < first);
    assert_eq!(ints(q.finish().unwrap()), [[2, 1], [1, 9]]);
}

#[test]
fn limit_alone_keeps_each_windows_first_rows_and_never_stops_the_job() {
    let mut q = query(
        "SELECT k, COUNT(*) AS n FROM t GROUP BY k \
         WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND) LIMIT 1",
        "",
    );
    q.process(&batch(&[(1, 1, 0), (2, 2, 0), (3, 11, 0), (4, 12, 0)]))
        .unwrap();
    assert_eq!(ints(q.on_watermark(Watermark(10)).unwrap()), [[1, 1]]);
    assert!(!q.is_done());
    assert_eq!(ints(q.on_watermark(Watermark(20)).unwrap()), [[3, 1]]);
    assert!(!q.is_done());
    assert!(q.finish().unwrap().is_none());
}

#[test]
fn sliding_windows_are_limited_one_interval_at_a_time() {
    let mut q = query(
        "SELECT _window_start AS ws, k, COUNT(*) AS n FROM t GROUP BY k \
         WINDOW SLIDING(ts, INTERVAL '20' MILLISECOND, INTERVAL '10' MILLISECOND) \
         ORDER BY n DESC, k LIMIT 1",
        "",
    );
    // [-10, 10): k1 x2, k2 x1. [0, 20): k1 x2, k2 x3. [10, 30): k2 x2.
    let mut recs = many(1, 5, 2);
    recs.extend(many(2, 5, 1));
    recs.extend(many(2, 15, 2));
    q.process(&batch(&recs)).unwrap();
    assert_eq!(
        ints(q.on_watermark(Watermark(20)).unwrap()),
        [[-10, 1, 2], [0, 2, 3]]
    );
    assert_eq!(ints(q.finish().unwrap()), [[10, 2, 2]]);
}

#[test]
fn sessions_with_the_same_bounds_are_one_window() {
    let mut q = query(
        "SELECT _window_start AS ws, _window_end AS we, k, SUM(v) AS s FROM t GROUP BY k \
         WINDOW SESSION(ts, INTERVAL '10' MILLISECOND) HAVING SUM(v) > 0 \
         ORDER BY s DESC LIMIT 1",
        "",
    );
    // Keys 1, 2 and 4 have the session [0, 15) (records at 0 and 5); key 3
    // has [0, 10), key 5 [2, 12). Key 4's sum is 0: HAVING drops it.
    q.process(&batch(&[
        (1, 0, 1),
        (3, 0, 7),
        (2, 0, 2),
        (5, 2, 1),
        (4, 0, 0),
        (1, 5, 1),
        (2, 5, 2),
        (4, 5, 0),
    ]))
    .unwrap();
    assert_eq!(
        ints(q.on_watermark(Watermark(20)).unwrap()),
        [[0, 15, 2, 4], [0, 10, 3, 7], [2, 12, 5, 1]]
    );
}

#[test]
fn a_late_firing_is_limited_on_its_own() {
    let mut q = query(
        "SELECT k, COUNT(*) AS n FROM t GROUP BY k \
         WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND) ORDER BY n DESC LIMIT 1",
        ", 'late.data.strategy' = 'process_all'",
    );
    let mut recs = many(1, 1, 2);
    recs.extend(many(2, 2, 1));
    q.process(&batch(&recs)).unwrap();
    assert_eq!(ints(q.on_watermark(Watermark(10)).unwrap()), [[1, 2]]);
    // Late records re-open [0, 10): its second firing carries only them and
    // gets a LIMIT of its own, whatever the first firing emitted.
    let mut late = many(3, 3, 1);
    late.extend(many(2, 4, 2));
    q.process(&batch(&late)).unwrap();
    assert_eq!(q.stats().late, 3);
    assert_eq!(ints(q.on_watermark(Watermark(11)).unwrap()), [[2, 2]]);
    assert!(q.finish().unwrap().is_none());
}

#[test]
fn without_a_window_order_by_and_limit_stay_global() {
    let mut q = query(
        "SELECT k, COUNT(*) AS n FROM t GROUP BY k ORDER BY n DESC LIMIT 2 EMIT FINAL",
        "",
    );
    let mut recs = many(1, 1, 1);
    recs.extend(many(2, 15, 3));
    recs.extend(many(3, 25, 2));
    recs.extend(many(4, 35, 1));
    assert!(q.process(&batch(&recs)).unwrap().is_none());
    assert!(q.on_watermark(Watermark(100)).unwrap().is_none());
    assert_eq!(ints(q.finish().unwrap()), [[2, 3], [3, 2]]);

    let mut q = query("SELECT k, v FROM t LIMIT 2", "");
    assert_eq!(
        ints(
            q.process(&batch(&[(1, 0, 1), (2, 10, 2), (3, 20, 3)]))
                .unwrap()
        ),
        [[1, 1], [2, 2]]
    );
    assert!(q.is_done());
}
