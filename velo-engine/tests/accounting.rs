//! SPEC §4 accounting: every input row is contributed, filtered, failed, late and
//! dropped, or late and dead-lettered, exactly once
//! (`QueryStats::rows_in == QueryStats::accounted()`), for every kind of query,
//! on random inputs that include failing rows (division by zero, failing
//! CASTs, NULL and unparsable event times), late rows and LIMIT; and every
//! failure is reported with the input row it came from.

use std::sync::Arc;

use proptest::prelude::*;
use velo_engine::query::{QueryExecutor, QueryStats};
use velo_engine::Error;
use velo_types::{Batch, DataType, Field, Schema, SchemaRef, Value, Watermark};

fn plan(sql: &str, props: &str) -> velo_planner::JobPlan {
    let sql = format!(
        "{sql} WITH ('t.type' = 'stdin_source', 'dl.type' = 'stdout_sink', 'bad.type' = 'stdout_sink'{props})"
    );
    velo_planner::plan_sql(&sql, &Default::default())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .jobs
        .remove(0)
}

/// `k`, `ts` (epoch millis, sometimes NULL), `ts_s` (the same as a string,
/// sometimes not a number), `a`, `b` (often 0: `a / b` fails), `s` (a string
/// that is sometimes not a number: `CAST(s AS BIGINT)` fails).
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int),
        Field::new("ts", DataType::Int),
        Field::new("ts_s", DataType::String),
        Field::new("a", DataType::Int),
        Field::new("b", DataType::Int),
        Field::new("s", DataType::String),
    ]))
}

#[derive(Debug, Clone)]
struct Row {
    k: i64,
    ts: Option<i64>,
    ts_bad: bool,
    a: i64,
    b: i64,
    s: Option<&'static str>,
}

fn row() -> impl Strategy<Value = Row> {
    (
        0..4i64,
        prop::option::weighted(0.9, -20..120i64),
        prop::bool::weighted(0.1),
        -3..10i64,
        prop_oneof![Just(0i64), 1..4i64],
        prop::option::of(prop::sample::select(vec!["1", "42", "-7", "x", "", "1e3"])),
    )
        .prop_map(|(k, ts, ts_bad, a, b, s)| Row {
            k,
            ts,
            ts_bad,
            a,
            b,
            s,
        })
}

fn batch(schema: &SchemaRef, rows: &[Row]) -> Batch {
    let values = rows
        .iter()
        .flat_map(|r| {
            let ts_s = match (r.ts, r.ts_bad) {
                (_, true) => Value::str("soon"),
                (Some(t), false) => Value::str(&t.to_string()),
                (None, false) => Value::Null,
            };
            [
                Value::Int(r.k),
                r.ts.map_or(Value::Null, Value::Int),
                ts_s,
                Value::Int(r.a),
                Value::Int(r.b),
                r.s.map_or(Value::Null, Value::str),
            ]
        })
        .collect();
    Batch::new(schema.clone(), values).unwrap()
}

const LATE: &[&str] = &["drop", "process_with_warning", "process_all", "dead_letter"];
const FAILURE: &[&str] = &["log_and_continue", "send_to_dlq", "retry_with_backoff"];

/// The queries, each with its extra properties; `{late}` is replaced by a late
/// data strategy.
const QUERIES: &[(&str, &str)] = &[
    ("SELECT k, a / b AS q FROM t WHERE a % 3 <> 1", ""),
    ("SELECT k, CAST(s AS BIGINT) AS n FROM t WHERE a > 0", ""),
    ("SELECT *, a / b AS q FROM t LIMIT 3", ""),
    ("SELECT k, a / b AS q FROM t ORDER BY q DESC LIMIT 4", ""),
    (
        "SELECT k, SUM(a / b) AS total FROM t WHERE CAST(s AS BIGINT) > 0 GROUP BY k",
        "",
    ),
    (
        "SELECT k, COUNT(DISTINCT s) AS n, MAX(a / b) AS m FROM t GROUP BY k HAVING COUNT(*) > 1 EMIT FINAL",
        "",
    ),
    (
        "SELECT COUNT(*) AS n, SUM(CAST(s AS BIGINT)) AS total FROM t WHERE b <> 2 LIMIT 2",
        "",
    ),
    (
        "SELECT k, COUNT(*) AS n, SUM(a / b) AS q, COUNT(DISTINCT s) AS ds, MAX(s) AS ms FROM t WHERE a <> 7 GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND)",
        "",
    ),
    (
        "SELECT k, COUNT(*) AS n, MIN(CAST(s AS BIGINT)) AS lo FROM t GROUP BY k WINDOW SLIDING(ts_s, INTERVAL '20' MILLISECOND, INTERVAL '5' MILLISECOND) EMIT CHANGES",
        ", 'event.time.format' = 'epoch_millis'",
    ),
    (
        "SELECT k, COUNT(*) AS n, SUM(a / b) AS q, FIRST_VALUE(s) AS fs FROM t GROUP BY k WINDOW SESSION(ts, INTERVAL '7' MILLISECOND) HAVING COUNT(*) > 1",
        "",
    ),
    (
        "SELECT k, SUM(a / b) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k) AS s3 FROM t WHERE a <> 5",
        "",
    ),
    (
        "SELECT k, a, LEAD(a, 2) OVER (ROWS WINDOW BUFFER 2 ROWS PARTITION BY k) AS next, 10 / a AS inv FROM t",
        "",
    ),
    (
        "SELECT k, ROW_NUMBER() OVER (ROWS WINDOW BUFFER 2 ROWS PARTITION BY k ORDER BY ts EXPIRE AFTER 15ms INACTIVITY) AS rn, CAST(s AS BIGINT) AS n FROM t LIMIT 5",
        ", 'event.time.field' = 'ts'",
    ),
];

fn check(stats: &QueryStats, context: &str) {
    assert_eq!(
        stats.rows_in,
        stats.accounted(),
        "{context}: rows_in {} != contributed {} + filtered {} + failed {} + late dropped {} + dead-lettered {}",
        stats.rows_in,
        stats.contributed,
        stats.filtered,
        stats.failed,
        stats.late_dropped,
        stats.late_dead_lettered
    );
}

/// Runs `batches` through the query, with a watermark after each batch (the
/// largest event time seen minus `lag`), checking the accounting after every
/// step and every failure against its input row.
fn run(sql: &str, props: &str, batches: &[Vec<Row>], lag: i64) {
    let schema = schema();
    let mut q = QueryExecutor::new(&plan(sql, props), schema.clone()).unwrap();
    let context = format!("{sql} {props}");
    let mut reported = 0;
    let mut max_seen: Option<i64> = None;
    for rows in batches {
        // Source positions: odd numbers, as if every record took two lines.
        let positions = (0..rows.len() as u64).map(|i| 2 * i + 1).collect();
        let b = batch(&schema, rows).with_positions(positions);
        q.process(&b).unwrap();
        let failures = q.take_failures();
        for f in &failures {
            assert_eq!(f.values, b.row(f.row), "{context}");
            assert_eq!(f.position, Some(2 * f.row as u64 + 1), "{context}");
        }
        reported += failures.len() as u64;
        check(&q.stats(), &context);
        if let Some(et) = q.event_time() {
            if let Some(m) = et.max_event_time(&b) {
                max_seen = Some(max_seen.map_or(m, |x: i64| x.max(m)));
            }
        }
        if let Some(m) = max_seen {
            // A HAVING or select expression over a window's results may fail
            // when it closes; those are errors of no input row.
            let _ = q.on_watermark(Watermark(m - lag));
            check(&q.stats(), &context);
        }
    }
    let _ = q.finish();
    let stats = q.stats();
    check(&stats, &context);
    if sql.contains("GROUP BY k WINDOW") {
        // Every window closed: the memory estimate is back to nothing.
        assert_eq!(q.state_bytes(), 0, "{context}");
    }
    // Batches hold fewer than 100 rows, so every failure was kept.
    assert_eq!(reported, stats.failed, "{context}");
    assert_eq!(
        stats.rows_in,
        batches.iter().map(|b| b.len() as u64).sum::<u64>()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_row_is_accounted_for_once(
        query in 0..QUERIES.len(),
        late in 0..LATE.len(),
        failure in 0..FAILURE.len(),
        lag in 0..15i64,
        batches in prop::collection::vec(prop::collection::vec(row(), 0..25), 0..6),
    ) {
        let (sql, props) = QUERIES[query];
        let props = format!(
            "{props}, 'late.data.strategy' = '{}', 'late.data.dead_letter' = 'dl', 'failure_strategy' = '{}', 'dlq.sink' = 'bad'",
            LATE[late], FAILURE[failure]
        );
        run(sql, &props, &batches, lag);
    }
}

#[test]
fn every_query_runs_on_a_fixed_input() {
    // Each query once over rows that hit every path (a smoke test of the
    // queries the property test draws from).
    let rows: Vec<Row> = (0..40)
        .map(|i| Row {
            k: i % 3,
            ts: (i % 11 != 5).then_some((i * 7) % 50),
            ts_bad: i % 13 == 4,
            a: i % 6 - 1,
            b: i % 4,
            s: Some(["1", "x", "5", ""][(i % 4) as usize]),
        })
        .collect();
    for (sql, props) in QUERIES {
        for late in LATE {
            let props =
                format!("{props}, 'late.data.strategy' = '{late}', 'late.data.dead_letter' = 'dl'");
            run(sql, &props, &[rows[..20].to_vec(), rows[20..].to_vec()], 3);
        }
    }
}

#[test]
fn limit_reached_midway_still_counts_the_rest_of_the_batch() {
    // LIMIT stops the output, not the batch: the rows after the limit are still
    // evaluated and counted (here three of them fail).
    let schema = schema();
    let mut q = QueryExecutor::new(
        &plan("SELECT a / b AS q FROM t LIMIT 2", ""),
        schema.clone(),
    )
    .unwrap();
    let rows: Vec<Row> = (0..6)
        .map(|i| Row {
            k: 0,
            ts: None,
            ts_bad: false,
            a: i,
            b: i % 2,
            s: None,
        })
        .collect();
    let out = q.process(&batch(&schema, &rows)).unwrap().unwrap();
    assert_eq!(out.num_rows(), 2);
    assert!(q.is_done());
    let s = q.stats();
    assert_eq!(
        (s.rows_in, s.contributed, s.failed, s.rows_out),
        (6, 3, 3, 2)
    );
    assert_eq!(q.take_failures().len(), 3);
}

#[test]
fn fail_batch_stops_at_the_failing_row_and_still_adds_up() {
    let schema = schema();
    let mut q = QueryExecutor::new(
        &plan(
            "SELECT a / b AS q FROM t",
            ", 'failure_strategy' = 'fail_batch'",
        ),
        schema.clone(),
    )
    .unwrap();
    let rows: Vec<Row> = [1, 1, 0, 1, 0]
        .iter()
        .map(|&b| Row {
            k: 0,
            ts: None,
            ts_bad: false,
            a: 4,
            b,
            s: None,
        })
        .collect();
    // Source lines 10 to 14 (a header and a blank line before them, say).
    let b = batch(&schema, &rows).with_positions(vec![10, 11, 12, 13, 14]);
    let err = q.process(&b).unwrap_err();
    // The message is the row's own; the position rides along for the caller.
    assert_eq!(err.to_string(), "division by zero");
    assert!(matches!(err, Error::RowFailed { .. }), "{err:?}");
    assert_eq!(err.row_position(), Some(12));
    assert_eq!(err.cause(), &Error::DivisionByZero);
    let s = q.stats();
    // Rows 0 and 1 contributed, row 2 failed, rows 3 and 4 were never taken.
    assert_eq!((s.rows_in, s.contributed, s.failed), (3, 2, 1));
    check(&s, "fail_batch");
    assert!(q.take_failures().is_empty());
}

#[test]
fn send_to_dlq_keeps_every_failure_with_its_row() {
    let schema = schema();
    let rows: Vec<Row> = (0..250)
        .map(|i| Row {
            k: i,
            ts: None,
            ts_bad: false,
            a: i,
            b: 0,
            s: None,
        })
        .collect();
    // No positions (a generator, say): failures have none either.
    let b = batch(&schema, &rows);
    for (strategy, kept) in [("send_to_dlq", 250), ("log_and_continue", 100)] {
        let mut q = QueryExecutor::new(
            &plan(
                "SELECT k, a / b AS q FROM t",
                &format!(", 'failure_strategy' = '{strategy}', 'dlq.sink' = 'bad'"),
            ),
            schema.clone(),
        )
        .unwrap();
        assert!(q.process(&b).unwrap().is_none());
        let f = q.take_failures();
        assert_eq!(f.len(), kept, "{strategy}");
        assert_eq!(q.stats().failed, 250, "{strategy}");
        for f in &f {
            assert_eq!(f.values, b.row(f.row));
            assert_eq!((f.position, &f.error), (None, &Error::DivisionByZero));
        }
        assert_eq!(f[7].values[0], Value::Int(7));
        // Drained: the next batch starts afresh.
        assert!(q.take_failures().is_empty());
    }
}

#[test]
fn failures_on_every_path_carry_their_row() {
    let schema = schema();
    let rows: Vec<Row> = vec![
        Row {
            k: 1,
            ts: Some(5),
            ts_bad: false,
            a: 1,
            b: 1,
            s: Some("1"),
        },
        // The event time is NULL.
        Row {
            k: 2,
            ts: None,
            ts_bad: false,
            a: 1,
            b: 1,
            s: Some("1"),
        },
        // The aggregate's argument divides by zero.
        Row {
            k: 3,
            ts: Some(6),
            ts_bad: false,
            a: 1,
            b: 0,
            s: Some("1"),
        },
        // The filter's CAST fails.
        Row {
            k: 4,
            ts: Some(7),
            ts_bad: false,
            a: 1,
            b: 1,
            s: Some("x"),
        },
        // The string event time is not a number.
        Row {
            k: 5,
            ts: Some(8),
            ts_bad: true,
            a: 1,
            b: 1,
            s: Some("1"),
        },
    ];
    let b = batch(&schema, &rows).with_positions(vec![2, 3, 5, 8, 13]);
    let cases = [
        // (query, extra properties, failing rows)
        (
            "SELECT k, SUM(a / b) AS q FROM t WHERE CAST(s AS BIGINT) > 0 GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND)",
            "",
            vec![1, 2, 3],
        ),
        (
            "SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW SESSION(ts_s, INTERVAL '10' MILLISECOND)",
            ", 'event.time.format' = 'epoch_millis'",
            vec![1, 4],
        ),
        (
            "SELECT k, SUM(a / b) AS q FROM t WHERE CAST(s AS BIGINT) > 0 GROUP BY k",
            "",
            vec![2, 3],
        ),
        (
            "SELECT k, a / b AS q FROM t WHERE CAST(s AS BIGINT) > 0",
            "",
            vec![2, 3],
        ),
        (
            "SELECT k, AVG(a / b) OVER (ROWS WINDOW BUFFER 2 ROWS PARTITION BY k) AS q FROM t WHERE CAST(s AS BIGINT) > 0",
            "",
            vec![2, 3],
        ),
    ];
    for (sql, props, failing) in cases {
        let mut q = QueryExecutor::new(&plan(sql, props), schema.clone()).unwrap();
        q.process(&b).unwrap();
        let f = q.take_failures();
        assert_eq!(
            f.iter().map(|f| f.row).collect::<Vec<_>>(),
            failing,
            "{sql}"
        );
        for f in &f {
            assert_eq!(f.values, b.row(f.row), "{sql}");
            assert_eq!(f.position, b.position(f.row), "{sql}");
            assert!(f.position.is_some());
        }
        check(&q.stats(), sql);
    }
}
