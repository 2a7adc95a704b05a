//! Row windows against a from-scratch reference: every row's frame and history are
//! recomputed over the whole partition history, and the output (values and order)
//! must match [`RowsWindowExec`] exactly. That includes DOUBLE SUM / AVG, which
//! the engine promises to be the frame's exact sum rounded once: the reference
//! sums each frame from scratch with an independent exact algorithm (Shewchuk's
//! partials, as Python's `math.fsum`), and the floats compare bit for bit.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use velo_engine::query::RowsWindowExec;
use velo_types::{BatchBuilder, DataType, Field, Schema, Value};

#[path = "support/fsum.rs"]
mod support_fsum;
use support_fsum::fsum;

#[derive(Debug, Clone, Copy)]
struct Row {
    p: i64,
    o: i64,
    x: Option<i64>,
    f: Option<f64>,
    ts: i64,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    n: u64,
    partitioned: bool,
    lag_k: u64,
    /// `None`: no LEAD in the query.
    lead_k: Option<u64>,
    /// EXPIRE AFTER, in ms of `ts` (the event-time field).
    expire: Option<i64>,
    /// Whether the select list has an expression over a window result (else it is
    /// plain columns, which the operator copies without evaluating).
    mixed: bool,
}

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("p", DataType::Int),
        Field::new("o", DataType::Int),
        Field::new("x", DataType::Int),
        Field::new("ts", DataType::Int),
        Field::new("f", DataType::Float),
    ])
}

fn sql(case: &Case) -> String {
    let mut w = format!("ROWS WINDOW BUFFER {} ROWS", case.n);
    if case.partitioned {
        w.push_str(" PARTITION BY p");
    }
    w.push_str(" ORDER BY o");
    if let Some(e) = case.expire {
        w.push_str(&format!(" EXPIRE AFTER {e}ms INACTIVITY"));
    }
    let mut items = vec![
        "p".to_string(),
        "o".to_string(),
        "x".to_string(),
        format!("COUNT(*) OVER ({w}) AS c_star"),
        format!("COUNT(x) OVER ({w}) AS c_x"),
        format!("SUM(x) OVER ({w}) AS s"),
        format!("AVG(x) OVER ({w}) AS a"),
        format!("MIN(x) OVER ({w}) AS mn"),
        format!("MAX(x) OVER ({w}) AS mx"),
        format!("FIRST_VALUE(x) OVER ({w}) AS fv"),
        format!("LAST_VALUE(x) OVER ({w}) AS lv"),
        format!("ROW_NUMBER() OVER ({w}) AS rn"),
        format!("RANK() OVER ({w}) AS rk"),
        format!("DENSE_RANK() OVER ({w}) AS drk"),
        format!("LAG(x) OVER ({w}) AS lag1"),
        format!("LAG(x, {}, -1) OVER ({w}) AS lagk", case.lag_k),
        format!("SUM(f) OVER ({w}) AS sf"),
        format!("AVG(f) OVER ({w}) AS af"),
        format!("COUNT(f) OVER ({w}) AS cf"),
    ];
    if case.mixed {
        items.push(format!("x + COUNT(*) OVER ({w}) AS mixed"));
    }
    if let Some(k) = case.lead_k {
        items.push(format!("LEAD(x) OVER ({w}) AS lead1"));
        items.push(format!("LEAD(x, {k}, -7) OVER ({w}) AS leadk"));
    }
    format!(
        "SELECT {} FROM t WITH ('t.type' = 'stdin_source', 'event.time.field' = 'ts')",
        items.join(", ")
    )
}

fn int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Int)
}

fn float(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::Float)
}

/// A DOUBLE SUM over a frame's non-NULL values, by its definition: NaN, or
/// infinities of both signs, give NaN; else an infinity gives itself; else the
/// exact sum rounded once.
fn double_sum(fs: &[f64]) -> f64 {
    let pos = fs.contains(&f64::INFINITY);
    let neg = fs.contains(&f64::NEG_INFINITY);
    if fs.iter().any(|f| f.is_nan()) || (pos && neg) {
        f64::NAN
    } else if pos {
        f64::INFINITY
    } else if neg {
        f64::NEG_INFINITY
    } else {
        fsum(fs)
    }
}

/// The output row of `h[m]`, from scratch. `h` is the partition's history so far
/// (since its last expiry); LEAD values past its end take their defaults.
fn reference_row(case: &Case, h: &[Row], m: usize) -> Vec<Value> {
    let r = h[m];
    let frame = &h[(m + 1).saturating_sub(case.n as usize)..=m];
    let xs: Vec<i64> = frame.iter().filter_map(|r| r.x).collect();
    let sum: i128 = xs.iter().map(|&x| x as i128).sum();
    let fs: Vec<f64> = frame.iter().filter_map(|r| r.f).collect();
    let fsum = double_sum(&fs);
    let run_start = (0..=m).rev().take_while(|&i| h[i].o == r.o).last().unwrap();
    let dense = 1 + (1..=m).filter(|&i| h[i].o != h[i - 1].o).count();
    let lag = |k: usize, default: Value| {
        if m >= k {
            int(h[m - k].x)
        } else {
            default
        }
    };
    let lead = |k: usize, default: Value| {
        if m + k < h.len() {
            int(h[m + k].x)
        } else {
            default
        }
    };
    let mut out = vec![
        Value::Int(r.p),
        Value::Int(r.o),
        int(r.x),
        Value::Int(frame.len() as i64),
        Value::Int(xs.len() as i64),
        if xs.is_empty() {
            Value::Null
        } else {
            Value::Int(sum as i64)
        },
        if xs.is_empty() {
            Value::Null
        } else {
            Value::Float(sum as f64 / xs.len() as f64)
        },
        int(xs.iter().copied().min()),
        int(xs.iter().copied().max()),
        int(frame[0].x),
        int(r.x),
        Value::Int(m as i64 + 1),
        Value::Int(run_start as i64 + 1),
        Value::Int(dense as i64),
        lag(1, Value::Null),
        lag(case.lag_k as usize, Value::Int(-1)),
        if fs.is_empty() {
            Value::Null
        } else {
            Value::Float(fsum)
        },
        if fs.is_empty() {
            Value::Null
        } else {
            Value::Float(fsum / fs.len() as f64)
        },
        Value::Int(fs.len() as i64),
    ];
    if case.mixed {
        out.push(int(r.x.map(|x| x + frame.len() as i64)));
    }
    if let Some(k) = case.lead_k {
        out.push(lead(1, Value::Null));
        out.push(lead(k as usize, Value::Int(-7)));
    }
    out
}

/// The reference run: rows come out as the operator must emit them.
fn reference(case: &Case, rows: &[Row]) -> Vec<Vec<Value>> {
    struct Part {
        first_seen: usize,
        history: Vec<Row>,
        /// Rows of `history` already emitted.
        emitted: usize,
        last_time: Option<i64>,
    }
    let depth = case.lead_k.map(|k| k.max(1) as usize);
    let mut parts: HashMap<i64, Part> = HashMap::new();
    let mut out = Vec::new();
    let flush = |part: &mut Part, out: &mut Vec<Vec<Value>>| {
        for m in part.emitted..part.history.len() {
            out.push(reference_row(case, &part.history, m));
        }
        part.emitted = part.history.len();
    };
    for (i, r) in rows.iter().enumerate() {
        let key = if case.partitioned { r.p } else { 0 };
        let part = parts.entry(key).or_insert(Part {
            first_seen: i,
            history: Vec::new(),
            emitted: 0,
            last_time: None,
        });
        if let (Some(e), Some(last)) = (case.expire, part.last_time) {
            if r.ts - last > e {
                flush(part, &mut out);
                part.history.clear();
                part.emitted = 0;
            }
        }
        part.last_time = Some(part.last_time.map_or(r.ts, |l| l.max(r.ts)));
        part.history.push(*r);
        let m = part.history.len() - 1;
        match depth {
            None => {
                out.push(reference_row(case, &part.history, m));
                part.emitted = m + 1;
            }
            Some(d) => {
                if m >= d {
                    out.push(reference_row(case, &part.history, m - d));
                    part.emitted = m - d + 1;
                }
            }
        }
    }
    let mut order: Vec<(usize, i64)> = parts.iter().map(|(k, p)| (p.first_seen, *k)).collect();
    order.sort_unstable();
    for (_, k) in order {
        let part = parts.get_mut(&k).unwrap();
        flush(part, &mut out);
    }
    out
}

fn run(case: &Case, rows: &[Row]) -> Vec<Vec<Value>> {
    let plan = velo_planner::plan_sql(&sql(case), &Default::default())
        .unwrap()
        .jobs
        .remove(0);
    let schema = schema();
    let mut exec = RowsWindowExec::new(&plan, &schema, &plan.qualifiers()).unwrap();
    let mut out = BatchBuilder::with_capacity(exec.output_schema().clone(), rows.len());
    for r in rows {
        let row = [
            Value::Int(r.p),
            Value::Int(r.o),
            int(r.x),
            Value::Int(r.ts),
            float(r.f),
        ];
        exec.process_row(&row, &mut out).unwrap();
    }
    exec.finish(&mut out).unwrap();
    let batch = out.finish();
    batch.rows().map(<[Value]>::to_vec).collect()
}

/// DOUBLE values that make running sums go wrong: magnitudes far apart (a huge
/// value leaving the frame cancels the small ones a plain running sum kept),
/// subnormals, negatives, decimal fractions that do not add up exactly, any
/// finite value (up to 1e300, so that no partial sum of the reference
/// overflows), and now and then an infinity or a NaN.
fn double_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (-500i64..500).prop_map(|i| i as f64 / 10.0),
        2 => prop::sample::select(vec![1e17, -1e17, 1e300, -1e300, 1e16 + 2.0]),
        1 => prop::sample::select(vec![1e-300, -1e-300, 5e-324, -2.5e-310, 0.0, -0.0]),
        2 => (prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL)
            .prop_map(|f| if f.abs() > 1e300 { f * 1e-20 } else { f }),
        1 => (-3i64..3).prop_map(|i| i as f64),
        // Rare: one infinity or NaN sticks in the frame for n rows.
        1 => prop::sample::select(vec![f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
    ]
}

fn rows_strategy() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (
            0i64..4,
            0i64..3,
            prop::option::weighted(0.8, -50i64..50),
            prop::option::weighted(0.8, double_strategy()),
            0i64..6,
        ),
        0..120,
    )
    .prop_map(|raw| {
        let mut ts = 1_000;
        raw.into_iter()
            .map(|(p, o, x, f, step)| {
                ts += step;
                Row { p, o, x, f, ts }
            })
            .collect()
    })
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        1u64..10,
        any::<bool>(),
        0u64..12,
        prop::option::of(0u64..5),
        prop::option::of(1i64..15),
        any::<bool>(),
    )
        .prop_map(|(n, partitioned, lag_k, lead_k, expire, mixed)| Case {
            n,
            partitioned,
            lag_k,
            lead_k,
            expire,
            mixed,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn matches_the_reference(case in case_strategy(), rows in rows_strategy()) {
        let expected = reference(&case, &rows);
        let actual = run(&case, &rows);
        prop_assert_eq!(actual.len(), rows.len());
        prop_assert_eq!(actual, expected, "query: {}", sql(&case));
    }
}

#[test]
fn a_fixed_case_matches_too() {
    let rows: Vec<Row> = (0..50)
        .map(|i| Row {
            p: i % 3,
            o: i / 7,
            x: (i % 5 != 0).then_some(i * 3 - 40),
            f: (i % 7 != 3).then_some([1e17, 0.1, 1.0, -0.2, 1e-300][i as usize % 5]),
            ts: 1000 + i * 2,
        })
        .collect();
    for lead_k in [None, Some(0), Some(3)] {
        let case = Case {
            n: 4,
            partitioned: true,
            lag_k: 5,
            lead_k,
            expire: None,
            mixed: true,
        };
        assert_eq!(run(&case, &rows), reference(&case, &rows));
    }
}

#[test]
fn schema_has_the_select_names_and_types() {
    let case = Case {
        n: 3,
        partitioned: true,
        lag_k: 2,
        lead_k: Some(1),
        expire: None,
        mixed: true,
    };
    let plan = velo_planner::plan_sql(&sql(&case), &Default::default())
        .unwrap()
        .jobs
        .remove(0);
    let exec = RowsWindowExec::new(&plan, &schema(), &plan.qualifiers()).unwrap();
    let s: Vec<(String, DataType)> = exec
        .output_schema()
        .fields()
        .iter()
        .map(|f| (f.name.to_string(), f.data_type))
        .collect();
    let _ = Arc::clone(exec.output_schema());
    assert_eq!(s[3], ("c_star".to_string(), DataType::Int));
    assert_eq!(s[5], ("s".to_string(), DataType::Int));
    assert_eq!(s[6], ("a".to_string(), DataType::Float));
    assert_eq!(s[16], ("sf".to_string(), DataType::Float));
    assert_eq!(s[17], ("af".to_string(), DataType::Float));
    assert_eq!(s[19], ("mixed".to_string(), DataType::Int));
    assert_eq!(s.len(), 22);
}
