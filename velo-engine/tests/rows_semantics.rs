//! Row windows: unit tests of the cases the reference proptest does not single out
//! (LEAD at end of input, RANK ties, BUFFER 1, EXPIRE AFTER, DOUBLE sums, errors).

use velo_engine::query::RowsWindowExec;
use velo_engine::Error;
use velo_types::{BatchBuilder, DataType, Field, Schema, Value};

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("k", DataType::String),
        Field::new("o", DataType::Int),
        Field::new("x", DataType::Int),
        Field::new("f", DataType::Float),
    ])
}

fn row(k: &str, o: i64, x: i64) -> Vec<Value> {
    vec![
        Value::str(k),
        Value::Int(o),
        Value::Int(x),
        Value::Float(x as f64),
    ]
}

fn exec(select_and_rest: &str) -> velo_engine::Result<RowsWindowExec> {
    let sql = format!("SELECT {select_and_rest} WITH ('t.type' = 'stdin_source')");
    let plan = velo_planner::plan_sql(&sql, &Default::default())
        .unwrap()
        .jobs
        .remove(0);
    RowsWindowExec::new(&plan, &schema(), &plan.qualifiers())
}

/// Runs rows through; returns the rows emitted by each call and by `finish`.
fn run(exec: &mut RowsWindowExec, rows: &[Vec<Value>]) -> (Vec<Vec<Vec<Value>>>, Vec<Vec<Value>>) {
    let schema = exec.output_schema().clone();
    let per_row = rows
        .iter()
        .map(|r| {
            let mut out = BatchBuilder::with_capacity(schema.clone(), 1);
            exec.process_row(r, &mut out).unwrap();
            out.finish().rows().map(<[Value]>::to_vec).collect()
        })
        .collect();
    let mut out = BatchBuilder::with_capacity(schema, 1);
    exec.finish(&mut out).unwrap();
    (
        per_row,
        out.finish().rows().map(<[Value]>::to_vec).collect(),
    )
}

fn ints(v: &[i64]) -> Vec<Value> {
    v.iter().map(|&i| Value::Int(i)).collect()
}

const W: &str = "ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY o";

#[test]
fn lead_rows_wait_for_their_followers_and_flush_at_end_of_input() {
    let mut e = exec(&format!(
        "k, x, LEAD(x) OVER ({W}) AS next, LEAD(x, 2, 0) OVER ({W}) AS next2 FROM t"
    ))
    .unwrap();
    assert!(e.holds_rows());
    let (per_row, end) = run(
        &mut e,
        &[
            row("a", 1, 10),
            row("b", 1, 100),
            row("a", 2, 20),
            row("a", 3, 30),
            row("a", 4, 40),
        ],
    );
    // a's first row completes when a's third arrives (LEAD 2 is the deepest).
    assert!(per_row[0].is_empty() && per_row[1].is_empty() && per_row[2].is_empty());
    assert_eq!(
        per_row[3],
        vec![vec![
            Value::str("a"),
            Value::Int(10),
            Value::Int(20),
            Value::Int(30)
        ]]
    );
    assert_eq!(
        per_row[4],
        vec![vec![
            Value::str("a"),
            Value::Int(20),
            Value::Int(30),
            Value::Int(40)
        ]]
    );
    // End of input: partitions in order of creation, rows in arrival order,
    // missing values NULL / the default.
    assert_eq!(
        end,
        vec![
            vec![
                Value::str("a"),
                Value::Int(30),
                Value::Int(40),
                Value::Int(0)
            ],
            vec![Value::str("a"), Value::Int(40), Value::Null, Value::Int(0)],
            vec![Value::str("b"), Value::Int(100), Value::Null, Value::Int(0)],
        ]
    );
    assert_eq!(
        e.buffered_rows(),
        3 + 1,
        "ring rows stay; no row is held any more"
    );
}

#[test]
fn rank_ties_are_consecutive_equal_order_values() {
    let mut e = exec(&format!(
        "o, ROW_NUMBER() OVER ({W}) AS rn, RANK() OVER ({W}) AS r, DENSE_RANK() OVER ({W}) AS d FROM t"
    ))
    .unwrap();
    let os = [1, 1, 2, 2, 2, 5, 1, 1];
    let rows: Vec<Vec<Value>> = os.iter().map(|&o| row("a", o, 0)).collect();
    let (per_row, end) = run(&mut e, &rows);
    assert!(end.is_empty());
    let got: Vec<Vec<Value>> = per_row.into_iter().flatten().collect();
    let expected = [
        [1, 1, 1, 1],
        [1, 2, 1, 1],
        [2, 3, 3, 2],
        [2, 4, 3, 2],
        [2, 5, 3, 2],
        [5, 6, 6, 3],
        [1, 7, 7, 4],
        [1, 8, 7, 4],
    ];
    assert_eq!(got, expected.iter().map(|r| ints(r)).collect::<Vec<_>>());
}

#[test]
fn rank_without_order_by_makes_every_row_a_peer() {
    let mut e = exec(
        "RANK() OVER (ROWS WINDOW BUFFER 2 ROWS PARTITION BY k) AS r, DENSE_RANK() OVER (ROWS WINDOW BUFFER 2 ROWS PARTITION BY k) AS d FROM t",
    )
    .unwrap();
    let (per_row, _) = run(&mut e, &[row("a", 1, 0), row("a", 2, 0), row("a", 3, 0)]);
    for r in per_row {
        assert_eq!(r, vec![ints(&[1, 1])]);
    }
}

#[test]
fn a_buffer_of_one_row_is_the_current_row() {
    let w = "ROWS WINDOW BUFFER 1 ROWS PARTITION BY k ORDER BY o";
    let mut e = exec(&format!(
        "COUNT(*) OVER ({w}) AS c, SUM(x) OVER ({w}) AS s, AVG(x) OVER ({w}) AS a, MIN(x) OVER ({w}) AS mn, MAX(x) OVER ({w}) AS mx, FIRST_VALUE(x) OVER ({w}) AS fv, LAST_VALUE(x) OVER ({w}) AS lv, LAG(x) OVER ({w}) AS prev FROM t"
    ))
    .unwrap();
    let (per_row, _) = run(&mut e, &[row("a", 1, 5), row("a", 2, -3), row("a", 3, 8)]);
    let got: Vec<Vec<Value>> = per_row.into_iter().flatten().collect();
    let one = |x: i64, prev: Value| {
        vec![
            Value::Int(1),
            Value::Int(x),
            Value::Float(x as f64),
            Value::Int(x),
            Value::Int(x),
            Value::Int(x),
            Value::Int(x),
            prev,
        ]
    };
    assert_eq!(
        got,
        vec![
            one(5, Value::Null),
            one(-3, Value::Int(5)),
            one(8, Value::Int(-3))
        ]
    );
    assert_eq!(e.buffered_rows(), 2, "LAG 1 keeps two rows");
}

#[test]
fn the_standard_frame_means_the_same() {
    let mut seed = exec(&format!("SUM(x) OVER ({W}) AS s FROM t")).unwrap();
    let mut standard = exec(
        "SUM(x) OVER (PARTITION BY k ORDER BY o ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s FROM t",
    )
    .unwrap();
    let rows: Vec<Vec<Value>> = (0..10)
        .map(|i| row(["a", "b"][i % 2], i as i64, i as i64))
        .collect();
    assert_eq!(run(&mut seed, &rows), run(&mut standard, &rows));
}

#[test]
fn calls_sharing_the_window_share_one_partition_and_buffer() {
    let mut e = exec(&format!(
        "k, AVG(x) OVER ({W}) AS a, MIN(x) OVER ({W}) AS mn, MAX(x) OVER ({W}) AS mx, SUM(x) OVER ({W}) AS s FROM t"
    ))
    .unwrap();
    let rows: Vec<Vec<Value>> = (0..7)
        .map(|i| row(["a", "b"][i % 2], i as i64, i as i64))
        .collect();
    run(&mut e, &rows);
    assert_eq!(e.partitions(), 2);
    assert_eq!(e.buffered_rows(), 3 + 3);
}

#[test]
fn partition_by_an_expression_and_no_partition() {
    let mut by_expr =
        exec("x, COUNT(*) OVER (ROWS WINDOW BUFFER 10 ROWS PARTITION BY x % 2) AS c FROM t")
            .unwrap();
    let rows: Vec<Vec<Value>> = (0..6).map(|i| row("a", 0, i)).collect();
    let (per_row, _) = run(&mut by_expr, &rows);
    let counts: Vec<Value> = per_row.iter().map(|r| r[0][1].clone()).collect();
    assert_eq!(counts, ints(&[1, 1, 2, 2, 3, 3]));
    assert_eq!(by_expr.partitions(), 2);

    let mut global = exec("COUNT(*) OVER (ROWS WINDOW BUFFER 4 ROWS) AS c FROM t").unwrap();
    let (per_row, _) = run(&mut global, &rows);
    let counts: Vec<Value> = per_row.iter().map(|r| r[0][0].clone()).collect();
    assert_eq!(counts, ints(&[1, 2, 3, 4, 4, 4]));
    assert_eq!(global.partitions(), 1);
}

#[test]
fn expire_after_restarts_an_idle_partition_and_frees_it_at_the_watermark() {
    let w = "ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY o EXPIRE AFTER 10ms INACTIVITY";
    let mut e = exec(&format!(
        "k, o, ROW_NUMBER() OVER ({w}) AS rn, SUM(x) OVER ({w}) AS s, LEAD(x, 1, -1) OVER ({w}) AS nx FROM t"
    ))
    .unwrap();
    let schema = e.output_schema().clone();
    let mut out = BatchBuilder::with_capacity(schema.clone(), 8);
    // Time is the first ORDER BY column, o (no event.time.field here).
    for r in [
        row("a", 100, 1),
        row("a", 105, 2),
        row("b", 106, 7),
        row("a", 115, 3),
    ] {
        e.process_row(&r, &mut out).unwrap();
    }
    // a: 100, 105 (idle 5ms), 115 (10ms after 105: not more than 10) - no expiry.
    let got: Vec<Vec<Value>> = out.take().rows().map(<[Value]>::to_vec).collect();
    assert_eq!(
        got,
        vec![
            vec![
                Value::str("a"),
                Value::Int(100),
                Value::Int(1),
                Value::Int(1),
                Value::Int(2)
            ],
            vec![
                Value::str("a"),
                Value::Int(105),
                Value::Int(2),
                Value::Int(3),
                Value::Int(3)
            ],
        ]
    );
    // 126 is 11ms after a's last activity: a restarts; its held row comes out first.
    e.process_row(&row("a", 126, 4), &mut out).unwrap();
    let got: Vec<Vec<Value>> = out.take().rows().map(<[Value]>::to_vec).collect();
    assert_eq!(
        got,
        vec![vec![
            Value::str("a"),
            Value::Int(115),
            Value::Int(3),
            Value::Int(6),
            Value::Int(-1)
        ]]
    );
    assert_eq!((e.partitions(), e.buffered_rows()), (2, (1 + 1) + (1 + 1)));

    // Watermark 120: b (last 106) is idle for 14ms > 10 and goes; a (126) stays.
    assert_eq!(e.expire_idle(120, &mut out).unwrap(), 1);
    let got: Vec<Vec<Value>> = out.take().rows().map(<[Value]>::to_vec).collect();
    assert_eq!(
        got,
        vec![vec![
            Value::str("b"),
            Value::Int(106),
            Value::Int(1),
            Value::Int(7),
            Value::Int(-1)
        ]]
    );
    assert_eq!((e.partitions(), e.buffered_rows()), (1, 2));
    assert_eq!(
        e.expire_idle(136, &mut out).unwrap(),
        0,
        "exactly 10ms idle is not expired"
    );
    assert_eq!(e.expire_idle(137, &mut out).unwrap(), 1);
    assert_eq!((e.partitions(), e.buffered_rows()), (0, 0));
    assert_eq!(out.take().num_rows(), 1);

    // b comes back as a new partition (in a reused slot), numbering from 1.
    e.process_row(&row("b", 200, 5), &mut out).unwrap();
    e.process_row(&row("b", 201, 6), &mut out).unwrap();
    e.finish(&mut out).unwrap();
    let got: Vec<Vec<Value>> = out.take().rows().map(<[Value]>::to_vec).collect();
    assert_eq!(
        got,
        vec![
            vec![
                Value::str("b"),
                Value::Int(200),
                Value::Int(1),
                Value::Int(5),
                Value::Int(6)
            ],
            vec![
                Value::str("b"),
                Value::Int(201),
                Value::Int(2),
                Value::Int(11),
                Value::Int(-1)
            ],
        ]
    );
    assert_eq!(e.partitions(), 1);
}

#[test]
fn expire_after_needs_a_time() {
    let err = exec(
        "COUNT(*) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k EXPIRE AFTER 1m INACTIVITY) AS c FROM t",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("EXPIRE AFTER needs event time"),
        "{err}"
    );
}

#[test]
fn double_sums_are_exact_so_a_huge_value_leaving_the_frame_cancels_nothing() {
    let mut e =
        exec("SUM(f) OVER (ROWS WINDOW BUFFER 2 ROWS) AS s, AVG(f) OVER (ROWS WINDOW BUFFER 2 ROWS) AS a FROM t")
            .unwrap();
    let mut rows = vec![row("a", 0, 0)];
    rows[0][3] = Value::Float(1e17);
    for _ in 0..6 {
        rows.push(row("a", 0, 1));
    }
    let (per_row, _) = run(&mut e, &rows);
    let got: Vec<(Value, Value)> = per_row
        .iter()
        .map(|r| (r[0][0].clone(), r[0][1].clone()))
        .collect();
    // 1e17 + 1 rounds to 1e17; once 1e17 leaves, the frame (1, 1) sums to 2
    // exactly, on that very row and on every later one.
    let f = Value::Float;
    let mut expected = vec![(f(1e17), f(1e17)), (f(1e17), f(5e16))];
    expected.resize(7, (f(2.0), f(1.0)));
    assert_eq!(got, expected);
}

#[test]
fn double_sums_are_the_frame_summed_exactly_whatever_came_before() {
    let w = "ROWS WINDOW BUFFER 3 ROWS PARTITION BY k";
    let mut e = exec(&format!("SUM(f) OVER ({w}) AS s FROM t")).unwrap();
    let frow = |k: &str, f: f64| {
        let mut r = row(k, 0, 0);
        r[3] = Value::Float(f);
        r
    };
    let fs = [
        1e300, 0.1, -1e300, 0.2, 0.3, 1e-300, -0.3, 5e-324, 1e17, -1e17, 3.0, 1e17,
    ];
    let mut rows: Vec<Vec<Value>> = fs.iter().map(|&f| frow("a", f)).collect();
    rows.insert(3, {
        let mut r = frow("a", 0.0);
        r[3] = Value::Null;
        r
    });
    let (per_row, _) = run(&mut e, &rows);
    let got: Vec<Value> = per_row.iter().map(|r| r[0][0].clone()).collect();
    // Each frame's exact sum, rounded once (worked out by hand: 0.1 + 0.2 + 0.3
    // is 0.6000000000000000055..., which rounds to 0.6).
    let expected = [
        1e300, 1e300, 0.1,    // (0.1, -1e300, NULL)
        -1e300, // (-1e300, NULL, 0.2)
        -1e300, // (NULL, 0.2, 0.3)
        0.5,    // (0.2, 0.3, 1e-300)
        0.5,    // (0.3, 1e-300, -0.3)
        1e-300, // (1e-300, -0.3, 5e-324)
        -0.3,   // (-0.3, 5e-324, 1e17)
        1e17,   // (5e-324, 1e17, -1e17)
        5e-324, // (1e17, -1e17, 3)
        3.0,    // (-1e17, 3, 1e17)
        3.0,
    ];
    assert_eq!(
        got,
        expected
            .iter()
            .map(|&f| Value::Float(f))
            .collect::<Vec<_>>()
    );
}

#[test]
fn an_overflowing_sum_fails_the_row_but_the_row_stays_in_the_frame() {
    let mut e = exec("x, SUM(x) OVER (ROWS WINDOW BUFFER 2 ROWS) AS s FROM t").unwrap();
    let schema = e.output_schema().clone();
    let mut out = BatchBuilder::with_capacity(schema, 4);
    e.process_row(&row("a", 0, i64::MAX), &mut out).unwrap();
    let err = e.process_row(&row("a", 0, 1), &mut out).unwrap_err();
    assert_eq!(err, Error::Overflow { context: "SUM" });
    // The frame is now (1, -5): no overflow.
    e.process_row(&row("a", 0, -5), &mut out).unwrap();
    let got: Vec<Vec<Value>> = out.finish().rows().map(<[Value]>::to_vec).collect();
    assert_eq!(got, vec![ints(&[i64::MAX, i64::MAX]), ints(&[-5, -4])]);
}

#[test]
fn compile_errors() {
    let cases = [
        (
            "STDDEV(x) OVER (ROWS WINDOW BUFFER 3 ROWS) AS s FROM t",
            "not supported over a row window",
        ),
        (
            "LAG(x, o) OVER (ROWS WINDOW BUFFER 3 ROWS) AS s FROM t",
            "integer literal",
        ),
        (
            "LAG(x, 1, 'none') OVER (ROWS WINDOW BUFFER 3 ROWS) AS s FROM t",
            "default of LAG",
        ),
        (
            "COUNT(DISTINCT x) OVER (ROWS WINDOW BUFFER 3 ROWS) AS s FROM t",
            "DISTINCT",
        ),
        (
            "ROW_NUMBER(x) OVER (ROWS WINDOW BUFFER 3 ROWS) AS s FROM t",
            "no arguments",
        ),
        (
            "SUM(k) OVER (ROWS WINDOW BUFFER 3 ROWS) AS s FROM t",
            "numeric",
        ),
        (
            "x FROM t WHERE SUM(x) OVER (ROWS WINDOW BUFFER 3 ROWS) > 1",
            "not allowed in WHERE",
        ),
        (
            "SUM(nope) OVER (ROWS WINDOW BUFFER 3 ROWS) AS s FROM t",
            "unknown column",
        ),
        (
            "SUM(x) OVER (ROWS WINDOW BUFFER 3000000 ROWS) AS s FROM t",
            "1 to 1000000 rows",
        ),
        (
            "x, x FROM t WHERE x > 0 AND COUNT(*) OVER (ROWS WINDOW BUFFER 3 ROWS) > 0",
            "WHERE",
        ),
    ];
    for (sql, message) in cases {
        match exec(sql) {
            Ok(_) => panic!("{sql}: compiled"),
            Err(e) => assert!(e.to_string().contains(message), "{sql}: {e}"),
        }
    }
}

#[test]
fn lag_default_literal_takes_the_argument_type_and_names_default_to_the_text() {
    let mut e = exec("LAG(f, 1, 0) OVER (ROWS WINDOW BUFFER 3 ROWS), f * 2 FROM t").unwrap();
    let names: Vec<String> = e
        .output_schema()
        .fields()
        .iter()
        .map(|f| f.name.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "LAG(f, 1, 0) OVER (ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)",
            "f * 2"
        ]
    );
    assert_eq!(e.output_schema().field(0).data_type, DataType::Float);
    let (per_row, _) = run(&mut e, &[row("a", 0, 3), row("a", 0, 4)]);
    assert_eq!(per_row[0], vec![vec![Value::Float(0.0), Value::Float(6.0)]]);
    assert_eq!(per_row[1], vec![vec![Value::Float(3.0), Value::Float(8.0)]]);
}

#[test]
fn wildcard_and_expressions_over_window_results() {
    let mut e = exec(&format!(
        "*, COALESCE(LAG(x) OVER ({W}), 0) + SUM(x) OVER ({W}) AS y FROM t"
    ))
    .unwrap();
    assert_eq!(e.output_schema().len(), 5);
    let (per_row, _) = run(&mut e, &[row("a", 0, 3), row("a", 0, 4)]);
    assert_eq!(per_row[0][0][4], Value::Int(3));
    assert_eq!(per_row[1][0][4], Value::Int(3 + 7));
}
