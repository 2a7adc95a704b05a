//! `QueryExecutor::state_bytes`: it follows the state's size as keys arrive and
//! windows, partitions and held rows go.

use std::sync::Arc;

use velo_types::{Batch, DataType, Field, Schema, SchemaRef, Value, Watermark};

use super::QueryExecutor;

fn query(sql: &str, props: &str) -> QueryExecutor {
    let sql = format!("{sql} WITH ('t.type' = 'stdin_source'{props})");
    let plan = velo_planner::plan_sql(&sql, &Default::default())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .jobs
        .remove(0);
    QueryExecutor::new(&plan, schema()).unwrap()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::String),
        Field::new("ts", DataType::Int),
        Field::new("v", DataType::Int),
    ]))
}

/// Rows `(key, ts, v)`.
fn batch(rows: &[(&str, i64, i64)]) -> Batch {
    let values = rows
        .iter()
        .flat_map(|(k, ts, v)| [Value::str(k), Value::Int(*ts), Value::Int(*v)])
        .collect();
    Batch::new(schema(), values).unwrap()
}

/// `n` rows with distinct keys `{prefix}{i}` at time `ts`.
fn keys(prefix: &str, n: usize, ts: i64) -> Batch {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let rows: Vec<(&str, i64, i64)> = names.iter().map(|k| (k.as_str(), ts, 1)).collect();
    batch(&rows)
}

#[test]
fn stateless_queries_hold_nothing() {
    let mut q = query("SELECT k, v + 1 AS w FROM t WHERE v > 0", "");
    q.process(&keys("a", 50, 0)).unwrap();
    assert_eq!(q.state_bytes(), 0);
}

#[test]
fn group_by_grows_with_distinct_keys_only() {
    let mut q = query("SELECT k, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k", "");
    assert_eq!(q.state_bytes(), 0);
    q.process(&keys("key", 10, 0)).unwrap();
    let ten = q.state_bytes();
    assert!(ten > 0);
    // The same keys again: no new state.
    q.process(&keys("key", 10, 0)).unwrap();
    assert_eq!(q.state_bytes(), ten);
    // Ten more keys: about twice as much (the key strings differ in length).
    q.process(&keys("other", 10, 0)).unwrap();
    let twenty = q.state_bytes();
    assert!(
        twenty >= 2 * ten && twenty < 2 * ten + 100,
        "{ten} {twenty}"
    );
    // Longer keys hold more.
    let mut long = query("SELECT k, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k", "");
    long.process(&keys(&"x".repeat(100), 10, 0)).unwrap();
    assert!(
        long.state_bytes() >= ten + 10 * 90,
        "{}",
        long.state_bytes()
    );
}

#[test]
fn distinct_sets_and_string_extremes_are_counted_as_they_grow() {
    let mut q = query(
        "SELECT COUNT(DISTINCT k) AS n, MAX(k) AS hi FROM t",
        ", 'max.memory.mb' = '1'",
    );
    q.process(&keys("a", 1, 0)).unwrap();
    let one = q.state_bytes();
    q.process(&keys("a", 1000, 0)).unwrap();
    let many = q.state_bytes();
    // 1000 values of 24 bytes at least, plus their text.
    assert!(many > one + 1000 * 24, "{one} {many}");
    assert_eq!(q.group_count(), 1);
}

#[test]
fn windows_free_their_bytes_when_they_close() {
    for window in [
        "TUMBLING(ts, INTERVAL '10' MILLISECOND)",
        "SLIDING(ts, INTERVAL '10' MILLISECOND, INTERVAL '5' MILLISECOND)",
        "SESSION(ts, INTERVAL '10' MILLISECOND)",
    ] {
        let sql = format!(
            "SELECT k, COUNT(DISTINCT v) AS n, MIN(k) AS lo FROM t GROUP BY k WINDOW {window}"
        );
        let mut q = query(&sql, "");
        assert_eq!(q.state_bytes(), 0, "{window}");
        q.process(&keys("a", 10, 0)).unwrap();
        let ten = q.state_bytes();
        q.process(&keys("b", 10, 3)).unwrap();
        let twenty = q.state_bytes();
        assert!(twenty > ten && ten > 0, "{window}: {ten} {twenty}");
        // A later window for a few keys, then a watermark closing the first.
        q.process(&keys("c", 3, 100)).unwrap();
        let before = q.state_bytes();
        q.on_watermark(Watermark(50)).unwrap();
        let after = q.state_bytes();
        assert!(
            after < before && after < ten,
            "{window}: {before} -> {after}"
        );
        // Everything closed: nothing is held, to the byte.
        q.on_watermark(Watermark(150)).unwrap();
        assert_eq!(q.state_bytes(), 0, "{window}");
        // The freed slots are reused without counting twice.
        q.process(&keys("d", 10, 200)).unwrap();
        assert!(q.state_bytes() > 0);
        q.on_watermark(Watermark(1000)).unwrap();
        assert_eq!(q.state_bytes(), 0, "{window}");
    }
}

#[test]
fn merged_sessions_free_the_absorbed_one() {
    let mut q = query(
        "SELECT k, COUNT(DISTINCT v) AS n FROM t GROUP BY k WINDOW SESSION(ts, INTERVAL '10' MILLISECOND)",
        "",
    );
    q.process(&batch(&[("a", 0, 1), ("a", 18, 2)])).unwrap();
    let two = q.state_bytes();
    q.process(&batch(&[("a", 9, 3)])).unwrap(); // bridges the two sessions
    assert!(q.state_bytes() < two);
    q.finish().unwrap();
    assert_eq!(q.state_bytes(), 0);
}

#[test]
fn row_windows_count_partitions_and_free_expired_ones() {
    let mut q = query(
        "SELECT k, SUM(v) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY k EXPIRE AFTER 10ms INACTIVITY) AS s, LEAD(k) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY k EXPIRE AFTER 10ms INACTIVITY) AS nk FROM t",
        ", 'event.time.field' = 'ts'",
    );
    q.process(&keys("a", 5, 0)).unwrap();
    let five = q.state_bytes();
    // A partition allocates its buffers up front: 100 rows of ring at least.
    assert!(five >= 5 * 100 * 24, "{five}");
    q.process(&keys("b", 5, 0)).unwrap();
    assert!(q.state_bytes() >= 2 * five);
    q.process(&keys("c", 2, 100)).unwrap();
    let before = q.state_bytes();
    q.on_watermark(Watermark(100)).unwrap(); // a* and b* expire
    let after = q.state_bytes();
    assert!(after < before / 3, "{before} -> {after}");
    q.on_watermark(Watermark(1000)).unwrap();
    assert_eq!(q.state_bytes(), 0);
}

#[test]
fn order_by_counts_the_rows_it_holds() {
    let mut q = query("SELECT k, v FROM t ORDER BY v DESC", "");
    q.process(&keys("a", 10, 0)).unwrap();
    let ten = q.state_bytes();
    assert!(ten >= 10 * 2 * 24, "{ten}");
    q.process(&keys("a", 10, 0)).unwrap();
    assert_eq!(q.state_bytes(), 2 * ten);
    q.finish().unwrap();
    assert_eq!(q.state_bytes(), 0);
}

/// Each SELECT level is one operator of the query's pipeline, with its name
/// and output kind.
#[test]
fn a_query_is_a_pipeline_of_one_operator_per_select_level() {
    use crate::operator::{Operator, OutputKind};
    let cases = [
        ("SELECT k, v FROM t", &[("project", OutputKind::AppendOnly)][..]),
        (
            "SELECT k, COUNT(*) AS n FROM t GROUP BY k",
            &[("aggregate", OutputKind::Updating)],
        ),
        (
            "SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND) EMIT FINAL",
            &[("time_window", OutputKind::AppendOnly)],
        ),
        (
            "SELECT k, SUM(v) OVER (PARTITION BY k ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s FROM t",
            &[("rows_window", OutputKind::AppendOnly)],
        ),
        (
            "SELECT ws, MAX(n) AS top FROM (SELECT k, _window_start AS ws, COUNT(*) AS n FROM t \
             GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND) EMIT FINAL) AS w \
             GROUP BY ws EMIT FINAL",
            &[("time_window", OutputKind::AppendOnly), ("aggregate", OutputKind::AppendOnly)],
        ),
    ];
    for (sql, expected) in cases {
        let q = query(sql, "");
        let ops: Vec<(&str, OutputKind)> = q
            .pipeline()
            .operators()
            .map(|op| (op.name(), op.output_kind()))
            .collect();
        assert_eq!(ops, expected, "{sql}");
    }
}

/// A stateless operator's snapshot restores; a GROUP BY's holds its groups;
/// a rows window's its partitions (rows, sums, rows held for LEAD), which go
/// on exactly as the original's.
#[test]
fn snapshots_are_taken_only_of_what_can_be_restored() {
    use crate::operator::RestoreScope;
    let mut q = query("SELECT k, v FROM t WHERE v > 0", "");
    let states = q.snapshot().unwrap();
    assert_eq!(states.len(), 1);
    let mut again = query("SELECT k, v FROM t WHERE v > 0", "");
    again
        .restore(std::slice::from_ref(&states), &RestoreScope::whole())
        .unwrap();
    q.process(&batch(&[("a", 1, 1)])).unwrap();
    let mut groups = query("SELECT k, COUNT(*) AS n FROM t GROUP BY k", "");
    groups.process(&batch(&[("a", 1, 1), ("b", 1, 1)])).unwrap();
    let stored = groups.snapshot().unwrap();
    let mut back = query("SELECT k, COUNT(*) AS n FROM t GROUP BY k", "");
    back.restore(std::slice::from_ref(&stored), &RestoreScope::whole())
        .unwrap();
    assert_eq!(back.group_count(), 2);
    assert_eq!(back.state_bytes(), groups.state_bytes());
    let sql = "SELECT k, v, SUM(v) OVER (PARTITION BY k ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s, \
               LEAD(v, 1, -1) OVER (PARTITION BY k ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS nv FROM t";
    let mut rows = query(sql, "");
    rows.process(&batch(&[
        ("a", 1, 1),
        ("b", 1, 2),
        ("a", 2, 3),
        ("a", 3, 4),
        ("a", 4, 5),
    ]))
    .unwrap();
    let stored = rows.snapshot().unwrap();
    let mut back = query(sql, "");
    back.restore(std::slice::from_ref(&stored), &RestoreScope::whole())
        .unwrap();
    assert_eq!(back.group_count(), 2);
    // The original still holds the strings of a row LEAD let go (its slot is
    // reused later); the restored one holds only what is read.
    let (was, is) = (rows.state_bytes(), back.state_bytes());
    assert!(is <= was && is + 64 > was, "{is} restored, {was} before");
    let next = batch(&[("a", 5, 6), ("b", 5, 7), ("c", 5, 8)]);
    let (want, got) = (rows.process(&next).unwrap(), back.process(&next).unwrap());
    assert_eq!(got, want);
    assert_eq!(
        want.unwrap().row(0),
        [
            Value::str("a"),
            Value::Int(5),
            Value::Int(12),
            Value::Int(6)
        ],
        "a at 4: 3 + 4 + 5, then LEAD 6"
    );
    assert_eq!(back.finish().unwrap(), rows.finish().unwrap());
    let err = query("SELECT k, COUNT(*) AS n FROM t GROUP BY k", "")
        .restore(&[states], &RestoreScope::whole())
        .unwrap_err();
    assert!(
        err.to_string().contains("is a 'project' operator's"),
        "{err}"
    );
}

/// ORDER BY and LIMIT on one partition: the rows held for sorting and the
/// count of rows emitted come back, so the restored query sorts every row
/// and stops at the same LIMIT.
#[test]
fn order_by_and_limit_state_restores() {
    use crate::operator::RestoreScope;
    for sql in [
        "SELECT k, v FROM t ORDER BY v DESC LIMIT 4",
        "SELECT k, v FROM t LIMIT 3",
        "SELECT k, v FROM t ORDER BY k, v",
    ] {
        let mut q = query(sql, "");
        let first = q.process(&batch(&[("a", 1, 5), ("b", 2, 9)])).unwrap();
        let stored = q.snapshot().unwrap();
        let mut back = query(sql, "");
        back.restore(std::slice::from_ref(&stored), &RestoreScope::whole())
            .unwrap();
        assert_eq!(back.state_bytes(), q.state_bytes(), "{sql}");
        let next = batch(&[("c", 3, 7), ("a", 4, 1), ("b", 5, 8)]);
        let (want, got) = (q.process(&next).unwrap(), back.process(&next).unwrap());
        assert_eq!(got, want, "{sql}");
        assert_eq!(back.is_done(), q.is_done(), "{sql}");
        let (want_end, got_end) = (q.finish().unwrap(), back.finish().unwrap());
        assert_eq!(got_end, want_end, "{sql}");
        let all: Vec<Vec<Value>> = [first, want, want_end]
            .into_iter()
            .flatten()
            .flat_map(|b| b.rows().map(<[Value]>::to_vec).collect::<Vec<_>>())
            .collect();
        let expected: &[(&str, i64)] = match sql {
            s if s.contains("DESC") => &[("b", 9), ("b", 8), ("c", 7), ("a", 5)],
            s if s.contains("LIMIT 3") => &[("a", 5), ("b", 9), ("c", 7)],
            _ => &[("a", 1), ("a", 5), ("b", 8), ("b", 9), ("c", 7)],
        };
        let expected: Vec<Vec<Value>> = expected
            .iter()
            .map(|(k, v)| vec![Value::str(k), Value::Int(*v)])
            .collect();
        assert_eq!(all, expected, "{sql}");
    }
}
