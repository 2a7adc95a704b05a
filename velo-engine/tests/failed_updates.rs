//! A record whose aggregate update fails (a BIGINT SUM overflowing, a
//! non-number reaching SUM or AVG) is reported as failed and leaves no trace
//! (SPEC §4, "nothing is lost silently"): every aggregate of its group keeps
//! its state, a group or window it would have created does not appear, and
//! under SLIDING it updates all of its windows or none.
//!
//! Each case runs a query twice, on an input with such records and on the same
//! input without them, and expects the same output, the same state and one
//! failure per removed record.

use std::sync::Arc;

use velo_engine::query::QueryExecutor;
use velo_types::{Batch, DataType, Field, Schema, SchemaRef, Value};

const BIG: i64 = i64::MAX - 10;

/// `v` is untyped (as a schemaless JSON field), so a string can reach SUM.
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::String),
        Field::new("ts", DataType::Int),
        Field::new("v", DataType::Null),
    ]))
}

/// One input record: key, event time, value, and whether its update fails.
#[derive(Clone, Copy)]
struct Rec(&'static str, i64, V, bool);

#[derive(Clone, Copy)]
enum V {
    Int(i64),
    Str(&'static str),
}

fn ok(k: &'static str, ts: i64, v: i64) -> Rec {
    Rec(k, ts, V::Int(v), false)
}

fn bad(k: &'static str, ts: i64, v: i64) -> Rec {
    Rec(k, ts, V::Int(v), true)
}

fn not_a_number(k: &'static str, ts: i64) -> Rec {
    Rec(k, ts, V::Str("x"), true)
}

#[derive(Debug, PartialEq)]
struct Run {
    rows: Vec<Vec<Value>>,
    failed: u64,
    groups: usize,
    state_bytes: usize,
}

fn run(sql: &str, recs: &[Rec]) -> Run {
    let sql = format!("{sql} WITH ('t.type' = 'stdin_source')");
    let plan = velo_planner::plan_sql(&sql, &Default::default())
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .jobs
        .remove(0);
    let mut q = QueryExecutor::new(&plan, schema()).unwrap();
    let mut rows = Vec::new();
    let mut take = |b: Option<Batch>| {
        if let Some(b) = b {
            rows.extend(b.rows().map(<[Value]>::to_vec));
        }
    };
    // One batch per record, so that EMIT CHANGES output follows each record.
    for r in recs {
        let v = match r.2 {
            V::Int(i) => Value::Int(i),
            V::Str(s) => Value::str(s),
        };
        let b = Batch::new(schema(), vec![Value::str(r.0), Value::Int(r.1), v]).unwrap();
        take(q.process(&b).unwrap());
    }
    let (groups, state_bytes) = (q.group_count(), q.state_bytes());
    take(q.finish().unwrap());
    Run {
        rows,
        failed: q.counters().failed,
        groups,
        state_bytes,
    }
}

/// `recs` and `recs` without its failing records give the same run, but for
/// the failures counted.
fn same_as_without_failures(sql: &str, recs: &[Rec]) {
    let with = run(sql, recs);
    let clean: Vec<Rec> = recs.iter().copied().filter(|r| !r.3).collect();
    let mut without = run(sql, &clean);
    assert_eq!(without.failed, 0, "{sql}: the clean input fails");
    without.failed = (recs.len() - clean.len()) as u64;
    assert_eq!(with, without, "{sql}");
}

/// Every aggregate kind, before and after the SUM that fails.
const AGGS: &str =
    "COUNT(*) AS n, COUNT(v) AS nv, COUNT(DISTINCT v) AS d, MIN(v) AS lo, MAX(v) AS hi, \
     FIRST_VALUE(v) AS f, LAST_VALUE(v) AS l, SUM(v) AS total, AVG(v) AS mean, VAR_POP(v) AS var, \
     SUM(DISTINCT v) AS dtotal";

#[test]
fn overflowing_sum_leaves_its_group_unchanged() {
    // The golden case bad_sum_overflow_log: the third 'a' overflows SUM.
    let recs = [
        ok("a", 0, i64::MAX - 7),
        ok("b", 0, 1),
        ok("a", 0, 7),
        bad("a", 0, 1),
        ok("a", 0, -10),
        ok("b", 0, 2),
    ];
    let sql = "SELECT k, COUNT(*) AS n, SUM(v) AS total FROM t GROUP BY k";
    let r = run(sql, &recs);
    assert_eq!(r.failed, 1);
    let last_a = r.rows.iter().rev().find(|row| row[0] == Value::str("a"));
    assert_eq!(
        last_a.unwrap()[1..],
        [Value::Int(3), Value::Int(i64::MAX - 10)]
    );
    same_as_without_failures(sql, &recs);
}

#[test]
fn every_aggregate_of_a_failing_record_is_unchanged() {
    let recs = [
        ok("a", 0, BIG),
        bad("a", 0, 11), // a new value for DISTINCT, MAX-adjacent SUM overflow
        ok("a", 0, 3),
        bad("a", 0, 9),
        not_a_number("a", 0),
        ok("a", 0, -20),
        ok("a", 0, 3),
    ];
    for emit in ["EMIT CHANGES", "EMIT FINAL"] {
        same_as_without_failures(&format!("SELECT k, {AGGS} FROM t GROUP BY k {emit}"), &recs);
        // The failing SUM first in the list too.
        same_as_without_failures(
            &format!("SELECT k, SUM(v) AS s, COUNT(*) AS n, MIN(v) AS lo FROM t GROUP BY k {emit}"),
            &recs,
        );
    }
}

#[test]
fn a_group_whose_first_record_fails_is_not_created() {
    let recs = [ok("a", 0, 1), not_a_number("b", 0), ok("a", 0, 2)];
    for emit in ["EMIT CHANGES", "EMIT FINAL"] {
        let sql = format!("SELECT k, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k {emit}");
        let r = run(&sql, &recs);
        assert_eq!(r.groups, 1, "{emit}");
        assert!(r.rows.iter().all(|row| row[0] == Value::str("a")), "{emit}");
        same_as_without_failures(&sql, &recs);
    }
    // A global aggregate whose only record fails: the row of no records.
    let sql = "SELECT COUNT(*) AS n, AVG(v) AS m FROM t EMIT FINAL";
    let r = run(sql, &[not_a_number("a", 0)]);
    assert_eq!(r.rows, [vec![Value::Int(0), Value::Null]]);
    same_as_without_failures(sql, &[not_a_number("a", 0)]);
}

#[test]
fn a_windowed_record_that_fails_leaves_its_windows_unchanged() {
    let recs = [
        ok("a", 1, BIG),
        ok("b", 2, 5),
        bad("a", 3, 11),
        not_a_number("c", 4), // would open a window of its own
        ok("a", 4, 1),
        not_a_number("a", 40), // would open a later window
        ok("b", 12, 1),
        bad("a", 6, 20),
        ok("a", 8, -5),
    ];
    for window in [
        "TUMBLING(ts, INTERVAL '10' MILLISECOND)",
        "SLIDING(ts, INTERVAL '10' MILLISECOND, INTERVAL '5' MILLISECOND)",
        "SESSION(ts, INTERVAL '10' MILLISECOND)",
    ] {
        for emit in ["EMIT CHANGES", "EMIT FINAL"] {
            same_as_without_failures(
                &format!("SELECT k, {AGGS} FROM t GROUP BY k WINDOW {window} {emit}"),
                &recs,
            );
        }
    }
}

#[test]
fn a_sliding_record_updates_all_its_windows_or_none() {
    // Windows of 10 ms every 5 ms: a record at 7 is in [0, 10) and [5, 15).
    let recs = [
        ok("a", 0, 5),     // [-5, 5) and [0, 10)
        ok("a", 6, BIG),   // [0, 10) = BIG + 5, [5, 15) = BIG
        bad("a", 3, 6),    // [-5, 5) = 11 would fit, [0, 10) overflows
        bad("a", 12, BIG), // [5, 15) overflows, [10, 20) would be new
    ];
    let sql = "SELECT k, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k \
               WINDOW SLIDING(ts, INTERVAL '10' MILLISECOND, INTERVAL '5' MILLISECOND)";
    let r = run(&format!("{sql} EMIT FINAL"), &recs);
    assert_eq!(r.failed, 2);
    // [-5, 5) holds the first record only, [0, 10) two, [5, 15) one; no
    // [10, 20) was opened by the failing record at 12.
    let counts: Vec<&Value> = r.rows.iter().map(|row| &row[1]).collect();
    assert_eq!(counts, [&Value::Int(1), &Value::Int(2), &Value::Int(1)]);
    assert_eq!(r.groups, 3);
    for emit in ["EMIT CHANGES", "EMIT FINAL"] {
        same_as_without_failures(&format!("{sql} {emit}"), &recs);
    }
    // A failing window after a new one: the record at 7 would open [0, 10)
    // (nothing there yet) and overflows [5, 15).
    let recs = [ok("a", 12, BIG), bad("a", 7, 11), ok("a", 8, 1)];
    for emit in ["EMIT CHANGES", "EMIT FINAL"] {
        same_as_without_failures(&format!("{sql} {emit}"), &recs);
    }
}

#[test]
fn a_row_window_row_that_fails_creates_and_restarts_no_partition() {
    let over =
        "OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY ts EXPIRE AFTER 10ms INACTIVITY)";
    let sql = format!(
        "SELECT k, v, COUNT(*) {over} AS n, SUM(v) {over} AS s, LEAD(v) {over} AS next FROM t"
    );
    let recs = [
        ok("a", 0, 1),
        not_a_number("c", 1),  // would create partition c
        not_a_number("a", 50), // would restart a (its idle time is over) and flush a@0
        ok("b", 51, 2),
        ok("b", 52, 3), // emits b@51
        ok("a", 53, 4), // restarts a: a@0 comes out with its default LEAD
        not_a_number("a", 54),
        ok("a", 55, 5),
    ];
    // (A row whose BIGINT frame SUM overflows is another matter: it enters
    // the frame and only its result fails, see `query::rows`.)
    let r = run(&sql, &recs);
    assert_eq!(r.groups, 2);
    same_as_without_failures(&sql, &recs);
}
