use velo_types::Decimal;
use velo_types::{DataType, Field, Schema, Value};

use super::*;
use crate::error::Error;
use crate::expr::{PhysicalExpr, Scope};

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("i", DataType::Int),
        Field::new("f", DataType::Float),
        Field::new(
            "d",
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        Field::new("s", DataType::String),
    ])
}

fn compile_agg(sql: &str) -> crate::Result<(AggregateFunction, Option<PhysicalExpr>)> {
    let s = schema();
    let (func, arg) = velo_planner::bind::bind_aggregate_sql(sql, &Scope::new(&s))?;
    Ok((func, arg.as_ref().map(crate::expr::lower)))
}

fn run(kind: AggregateKind, distinct: bool, ty: DataType, values: &[Value]) -> Value {
    let mut acc = AggregateFunction::new(kind, distinct, ty).new_accumulator();
    for v in values {
        acc.update(v).unwrap();
    }
    acc.evaluate().unwrap()
}

fn ints(v: &[i64]) -> Vec<Value> {
    v.iter().map(|i| Value::Int(*i)).collect()
}

#[test]
fn empty_groups() {
    use AggregateKind::*;
    for kind in [Count, CountStar] {
        assert_eq!(run(kind, false, DataType::Int, &[]), Value::Int(0));
    }
    for kind in [
        Sum, Avg, Min, Max, StddevSamp, StddevPop, VarSamp, VarPop, FirstValue, LastValue,
    ] {
        assert_eq!(
            run(kind, false, DataType::Int, &[]),
            Value::Null,
            "{kind:?}"
        );
        assert_eq!(run(kind, true, DataType::Int, &[]), Value::Null, "{kind:?}");
        // NULLs alone are an empty group too.
        assert_eq!(
            run(kind, false, DataType::Int, &[Value::Null, Value::Null]),
            Value::Null
        );
    }
}

#[test]
fn counts() {
    let vals = vec![Value::Int(1), Value::Null, Value::Int(1), Value::Int(2)];
    assert_eq!(
        run(AggregateKind::Count, false, DataType::Int, &vals),
        Value::Int(3)
    );
    assert_eq!(
        run(AggregateKind::CountStar, false, DataType::Int, &vals),
        Value::Int(4)
    );
    assert_eq!(
        run(AggregateKind::Count, true, DataType::Int, &vals),
        Value::Int(2)
    );
    let strs = vec![
        Value::str("a"),
        Value::str("b"),
        Value::str("a"),
        Value::Null,
    ];
    assert_eq!(
        run(AggregateKind::Count, true, DataType::String, &strs),
        Value::Int(2)
    );
}

#[test]
fn sums_keep_their_type_and_check_overflow() {
    assert_eq!(
        run(AggregateKind::Sum, false, DataType::Int, &ints(&[1, 2, 3])),
        Value::Int(6)
    );
    assert_eq!(
        run(
            AggregateKind::Sum,
            true,
            DataType::Int,
            &ints(&[1, 2, 2, 3, 3])
        ),
        Value::Int(6)
    );
    assert_eq!(
        run(
            AggregateKind::Sum,
            false,
            DataType::Float,
            &[Value::Float(0.5), Value::Float(1.25)]
        ),
        Value::Float(1.75)
    );
    let decs = [
        Value::Decimal(Decimal::new(10, 1)),
        Value::Decimal(Decimal::new(20, 2)),
    ];
    assert_eq!(
        run(
            AggregateKind::Sum,
            false,
            DataType::Decimal {
                precision: 10,
                scale: 2
            },
            &decs
        ),
        Value::Decimal(Decimal::new(120, 2))
    );
    let mut acc =
        AggregateFunction::new(AggregateKind::Sum, false, DataType::Int).new_accumulator();
    acc.update(&Value::Int(i64::MAX)).unwrap();
    assert!(matches!(
        acc.update(&Value::Int(1)),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(acc.update(&Value::str("x")), Err(Error::Type(_))));
    // AVG of BIGINT cannot overflow.
    assert_eq!(
        run(
            AggregateKind::Avg,
            false,
            DataType::Int,
            &ints(&[i64::MAX, i64::MAX])
        ),
        Value::Float(i64::MAX as f64)
    );
}

#[test]
fn averages() {
    assert_eq!(
        run(
            AggregateKind::Avg,
            false,
            DataType::Int,
            &[Value::Int(1), Value::Null, Value::Int(2)]
        ),
        Value::Float(1.5)
    );
    assert_eq!(
        run(
            AggregateKind::Avg,
            false,
            DataType::Float,
            &[Value::Float(1.0), Value::Float(4.0)]
        ),
        Value::Float(2.5)
    );
    let decs = [
        Value::Decimal(Decimal::new(100, 2)),
        Value::Decimal(Decimal::new(200, 2)),
    ];
    let ty = DataType::Decimal {
        precision: 10,
        scale: 2,
    };
    assert_eq!(
        run(AggregateKind::Avg, false, ty, &decs),
        Value::Decimal(Decimal::new(150, 2))
    );
    let thirds = ints(&[1, 1, 2]);
    assert_eq!(
        run(AggregateKind::Avg, false, DataType::Int, &thirds),
        Value::Float(4.0 / 3.0)
    );
    let f = AggregateFunction::new(AggregateKind::Avg, false, ty);
    assert_eq!(
        f.result_type(),
        DataType::Decimal {
            precision: 38,
            scale: 6
        }
    );
}

#[test]
fn min_max_first_last() {
    let vals = vec![
        Value::Int(5),
        Value::Null,
        Value::Int(2),
        Value::Int(9),
        Value::Int(3),
    ];
    assert_eq!(
        run(AggregateKind::Min, false, DataType::Int, &vals),
        Value::Int(2)
    );
    assert_eq!(
        run(AggregateKind::Max, false, DataType::Int, &vals),
        Value::Int(9)
    );
    assert_eq!(
        run(AggregateKind::FirstValue, false, DataType::Int, &vals),
        Value::Int(5)
    );
    assert_eq!(
        run(AggregateKind::LastValue, false, DataType::Int, &vals),
        Value::Int(3)
    );
    let strs = vec![Value::str("pear"), Value::str("apple"), Value::str("zoo")];
    assert_eq!(
        run(AggregateKind::Min, false, DataType::String, &strs),
        Value::str("apple")
    );
    assert_eq!(
        run(AggregateKind::Max, false, DataType::String, &strs),
        Value::str("zoo")
    );
    let ts = vec![Value::Timestamp(10), Value::Timestamp(5)];
    assert_eq!(
        run(AggregateKind::Min, false, DataType::Timestamp, &ts),
        Value::Timestamp(5)
    );
    let f = AggregateFunction::new(AggregateKind::Max, false, DataType::String);
    assert_eq!(f.result_type(), DataType::String);
}

fn two_pass(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    (ss / (n - 1.0), ss / n)
}

fn float(v: Value) -> f64 {
    match v {
        Value::Float(f) => f,
        other => panic!("{other:?}"),
    }
}

#[test]
fn welford_matches_two_pass_variance() {
    // A few hundred values with a large offset (where the naive sum-of-squares
    // formula loses precision) and some structure.
    let xs: Vec<f64> = (0..300)
        .map(|i| 1.0e6 + ((i * 37 % 101) as f64) * 0.5 + (i as f64).sin())
        .collect();
    let vals: Vec<Value> = xs.iter().map(|x| Value::Float(*x)).collect();
    let (samp, pop) = two_pass(&xs);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    let var_samp = float(run(AggregateKind::VarSamp, false, DataType::Float, &vals));
    let var_pop = float(run(AggregateKind::VarPop, false, DataType::Float, &vals));
    let sd_samp = float(run(
        AggregateKind::StddevSamp,
        false,
        DataType::Float,
        &vals,
    ));
    let sd_pop = float(run(AggregateKind::StddevPop, false, DataType::Float, &vals));
    assert!(close(var_samp, samp), "{var_samp} vs {samp}");
    assert!(close(var_pop, pop), "{var_pop} vs {pop}");
    assert!(close(sd_samp, samp.sqrt()), "{sd_samp}");
    assert!(close(sd_pop, pop.sqrt()), "{sd_pop}");

    // Integers and decimals feed the same algorithm.
    let small = ints(&[2, 4, 4, 4, 5, 5, 7, 9]);
    assert_eq!(
        run(AggregateKind::VarPop, false, DataType::Int, &small),
        Value::Float(4.0)
    );
    assert_eq!(
        run(AggregateKind::StddevPop, false, DataType::Int, &small),
        Value::Float(2.0)
    );
    let var = float(run(AggregateKind::VarSamp, false, DataType::Int, &small));
    assert!((var - 32.0 / 7.0).abs() < 1e-12);
    // Sample variants need two values, population variants one.
    assert_eq!(
        run(AggregateKind::StddevSamp, false, DataType::Int, &ints(&[3])),
        Value::Null
    );
    assert_eq!(
        run(AggregateKind::VarPop, false, DataType::Int, &ints(&[3])),
        Value::Float(0.0)
    );
    let decs = [
        Value::Decimal(Decimal::new(15, 1)),
        Value::Decimal(Decimal::new(25, 1)),
    ];
    assert_eq!(
        run(
            AggregateKind::VarSamp,
            false,
            DataType::Decimal {
                precision: 3,
                scale: 1
            },
            &decs
        ),
        Value::Float(0.5)
    );
}

#[test]
fn distinct_sets() {
    let vals: Vec<Value> = (0..1000).map(|i| Value::Int(i % 37)).collect();
    assert_eq!(
        run(AggregateKind::Count, true, DataType::Int, &vals),
        Value::Int(37)
    );
    assert_eq!(
        run(AggregateKind::Sum, true, DataType::Int, &vals),
        Value::Int(36 * 37 / 2)
    );
    assert_eq!(
        run(AggregateKind::Avg, true, DataType::Int, &vals),
        Value::Float(18.0)
    );
    // Decimals equal by value are one value.
    let decs = [
        Value::Decimal(Decimal::new(10, 1)),
        Value::Decimal(Decimal::new(100, 2)),
    ];
    assert_eq!(
        run(
            AggregateKind::Count,
            true,
            DataType::Decimal {
                precision: 5,
                scale: 2
            },
            &decs
        ),
        Value::Int(1)
    );
    let acc = AggregateFunction::new(AggregateKind::Count, true, DataType::Int).new_accumulator();
    assert!(matches!(acc, Accumulator::Distinct(_)));
    let acc = AggregateFunction::new(AggregateKind::Count, false, DataType::Int).new_accumulator();
    assert!(acc.estimated_size() <= 48);
    assert!(std::mem::size_of::<Accumulator>() <= 48);
}

#[test]
fn compiles_aggregate_calls() {
    let (f, arg) = compile_agg("COUNT(*)").unwrap();
    assert_eq!(f.kind, AggregateKind::CountStar);
    assert!(arg.is_none());
    assert_eq!(f.result_type(), DataType::Int);

    let (f, arg) = compile_agg("count(DISTINCT s)").unwrap();
    assert_eq!(
        (f.kind, f.distinct, f.input_type),
        (AggregateKind::Count, true, DataType::String)
    );
    assert_eq!(arg.unwrap().as_column(), Some(3));

    let (f, arg) = compile_agg("SUM(i * 2)").unwrap();
    assert_eq!(f.result_type(), DataType::Int);
    assert_eq!(arg.unwrap().eval(&[Value::Int(4)]).unwrap(), Value::Int(8));

    let (f, _) = compile_agg("SUM(d)").unwrap();
    assert_eq!(
        f.result_type(),
        DataType::Decimal {
            precision: 38,
            scale: 2
        }
    );
    let (f, _) = compile_agg("AVG(i)").unwrap();
    assert_eq!(f.result_type(), DataType::Float);
    let (f, _) = compile_agg("STDDEV(f)").unwrap();
    assert_eq!(f.kind, AggregateKind::StddevSamp);
    let (f, _) = compile_agg("VARIANCE(f)").unwrap();
    assert_eq!(f.kind, AggregateKind::VarSamp);
    let (f, _) = compile_agg("MIN(s)").unwrap();
    assert_eq!(f.result_type(), DataType::String);
    let (f, _) = compile_agg("LAST_VALUE(d)").unwrap();
    assert_eq!(f.kind, AggregateKind::LastValue);

    let err = compile_agg("SUM(s)").unwrap_err();
    assert!(err.message().contains("numeric"), "{err}");
    let err = compile_agg("SUM(COUNT(i))").unwrap_err();
    assert_eq!(
        err.message(),
        "aggregate function COUNT is not allowed here"
    );
    assert_eq!(err.span().unwrap().start.column, 5);
    assert!(compile_agg("SUM(*)").is_err());
    assert!(compile_agg("COUNT(i, f)")
        .unwrap_err()
        .message()
        .contains("expects 1 argument"));
    assert!(compile_agg("SUM(x)")
        .unwrap_err()
        .message()
        .contains("unknown column 'x'"));
    assert!(compile_agg("UPPER(s)").is_err());
    assert!(compile_agg("SUM(i) OVER (PARTITION BY s)").is_err());
    assert_eq!(
        AggregateKind::from_name("stddev_samp"),
        Some(AggregateKind::StddevSamp)
    );
    assert_eq!(AggregateKind::from_name("median"), None);
}

/// Merging the states of two halves equals feeding every value to one state.
#[test]
fn merge_equals_sequential_updates() {
    use AggregateKind::*;
    let data: Vec<(DataType, Vec<Value>)> = vec![
        (DataType::Int, ints(&[5, -3, 7, 7, 0, 12, -3, 4])),
        (
            DataType::Float,
            [1.5, -2.25, 8.0, 1.5, 3.0, 100.5]
                .iter()
                .map(|f| Value::Float(*f))
                .collect(),
        ),
        (
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
            ["1.25", "2.50", "-0.75", "2.50"]
                .iter()
                .map(|d| Value::Decimal(d.parse::<Decimal>().unwrap()))
                .collect(),
        ),
    ];
    let kinds = [
        Count, CountStar, Sum, Avg, Min, Max, StddevSamp, StddevPop, VarSamp, VarPop, FirstValue,
        LastValue,
    ];
    for (ty, values) in &data {
        let mut with_nulls = values.clone();
        with_nulls.insert(2, Value::Null);
        for kind in kinds {
            for distinct in [false, true] {
                // LAST_VALUE(DISTINCT x) is the last value not seen before: the
                // order a merge cannot recover (it keeps the later part's last).
                if distinct && kind == LastValue {
                    continue;
                }
                let f = AggregateFunction::new(kind, distinct, *ty);
                for cut in 0..=with_nulls.len() {
                    let (a, b) = with_nulls.split_at(cut);
                    let mut whole = f.new_accumulator();
                    let (mut left, mut right) = (f.new_accumulator(), f.new_accumulator());
                    for v in &with_nulls {
                        whole.update(v).unwrap();
                    }
                    for v in a {
                        left.update(v).unwrap();
                    }
                    for v in b {
                        right.update(v).unwrap();
                    }
                    left.merge(&right).unwrap();
                    let (got, want) = (left.evaluate().unwrap(), whole.evaluate().unwrap());
                    match (&got, &want) {
                        (Value::Float(x), Value::Float(y)) => assert!(
                            (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                            "{kind:?} distinct={distinct} cut={cut}: {x} vs {y}"
                        ),
                        _ => assert_eq!(got, want, "{kind:?} distinct={distinct} cut={cut}"),
                    }
                }
            }
        }
    }
}

#[test]
fn merge_errors() {
    let mut sum = Accumulator::new(AggregateKind::Sum, DataType::Int);
    sum.update(&Value::Int(i64::MAX)).unwrap();
    let mut other = Accumulator::new(AggregateKind::Sum, DataType::Int);
    other.update(&Value::Int(1)).unwrap();
    assert!(matches!(sum.merge(&other), Err(Error::Overflow { .. })));
    let count = Accumulator::new(AggregateKind::Count, DataType::Int);
    assert!(sum.merge(&count).is_err());
}

#[test]
fn decimal_sum_and_avg_are_exact_at_38_digits() {
    let ty = |scale| DataType::Decimal {
        precision: 38,
        scale,
    };
    let dec = |s: &str| Value::Decimal(s.parse::<Decimal>().unwrap());
    // 8 x (10^26 - 0.01) = 8 x 10^26 - 0.08; the mean is the value at scale 6.
    let eight = vec![dec("99999999999999999999999999.99"); 8];
    let sum = run(AggregateKind::Sum, false, ty(2), &eight);
    assert_eq!(sum.to_string(), "799999999999999999999999999.92");
    let avg = run(AggregateKind::Avg, false, ty(2), &eight);
    assert_eq!(avg.to_string(), "99999999999999999999999999.990000");
    // (1 + 2 + 2) / 3 = 1.666666|67: half away from zero at scale 6.
    let avg = run(
        AggregateKind::Avg,
        false,
        ty(0),
        &[dec("1"), dec("2"), dec("2")],
    );
    assert_eq!(avg.to_string(), "1.666667");

    // (10^38 - 1) + 1 needs 39 digits: an overflow, and the state keeps 10^38 - 1.
    let nines = dec("99999999999999999999999999999999999999");
    let mut acc = AggregateFunction::new(AggregateKind::Sum, false, ty(0)).new_accumulator();
    acc.update(&nines).unwrap();
    assert!(matches!(
        acc.update(&dec("1")),
        Err(Error::Overflow { context: "SUM" })
    ));
    assert_eq!(acc.evaluate().unwrap(), nines);

    // An AVG of a 33-digit integer at scale 6 needs 39 digits: an overflow,
    // never a rounded or DOUBLE result.
    let mut acc = AggregateFunction::new(AggregateKind::Avg, false, ty(0)).new_accumulator();
    acc.update(&dec("100000000000000000000000000000000"))
        .unwrap();
    assert!(matches!(
        acc.evaluate(),
        Err(Error::Overflow { context: "AVG" })
    ));
}

/// Every kind, plain and DISTINCT, over untyped input.
fn every_accumulator() -> Vec<Accumulator> {
    use AggregateKind::*;
    let kinds = [
        Count, CountStar, Sum, Avg, Min, Max, StddevSamp, StddevPop, VarSamp, VarPop, FirstValue,
        LastValue,
    ];
    let mut all = Vec::new();
    for kind in kinds {
        for distinct in [false, true] {
            all.push(AggregateFunction::new(kind, distinct, DataType::Null).new_accumulator());
        }
    }
    all
}

#[test]
fn check_says_exactly_whether_update_succeeds_and_changes_nothing() {
    let dec = |s: &str| Value::Decimal(s.parse::<Decimal>().unwrap());
    // BIGINT overflow, a string, DECIMAL overflow (twice: DISTINCT sees the
    // value again, since the failed update did not keep it), mixed types.
    let values = [
        Value::Int(i64::MAX - 1),
        Value::Int(1),
        Value::Int(1),
        Value::Null,
        Value::str("x"),
        Value::Int(-3),
        dec("99999999999999999999999999999999999999"),
        dec("99999999999999999999999999999999999999"),
        dec("-5"),
        Value::Float(0.5),
    ];
    let mut failures = 0;
    for mut acc in every_accumulator() {
        for v in &values {
            let before = format!("{acc:?}");
            let checked = acc.check(v);
            assert_eq!(format!("{acc:?}"), before, "check changed the state");
            let updated = acc.update(v);
            assert_eq!(checked.is_ok(), updated.is_ok(), "{before} with {v:?}");
            if updated.is_err() {
                failures += 1;
                assert_eq!(format!("{acc:?}"), before, "a failed update changed it");
                assert!(acc.can_fail(), "{before} failed but says it cannot");
            }
        }
    }
    assert!(failures >= 10, "the values exercise failures: {failures}");
}

#[test]
fn fold_applies_a_row_to_every_accumulator_or_to_none() {
    use AggregateKind::*;
    // The failing SUM last, between others, first, and after another SUM, AVG
    // and a variance that succeed; DISTINCT among them.
    let layouts: [&[(AggregateKind, bool)]; 4] = [
        &[
            (CountStar, false),
            (Count, true),
            (Min, false),
            (Sum, false),
        ],
        &[
            (CountStar, false),
            (Sum, false),
            (Max, true),
            (FirstValue, false),
        ],
        &[(Sum, true), (CountStar, false), (LastValue, false)],
        &[(Sum, false), (Avg, false), (VarPop, false), (Sum, true)],
    ];
    for layout in layouts {
        let mut accs: Vec<Accumulator> = layout
            .iter()
            .map(|&(k, d)| AggregateFunction::new(k, d, DataType::Int).new_accumulator())
            .collect();
        // Column `failing` is a SUM that overflows on the second row.
        let failing = if layout[0].0 == Sum && layout.len() == 3 {
            0
        } else {
            layout.iter().rposition(|(k, _)| *k == Sum).unwrap()
        };
        let row = |sum: i64, other: i64| -> Vec<Value> {
            (0..layout.len())
                .map(|i| Value::Int(if i == failing { sum } else { other }))
                .collect()
        };
        let order = FoldOrder::new(&accs);
        let mut heap = 0;
        fold(&mut accs, &row(i64::MAX, 5), order, Some(&mut heap)).unwrap();
        let before = format!("{accs:?}");
        let err = fold(&mut accs, &row(1, -7), order, Some(&mut heap)).unwrap_err();
        assert!(matches!(err, Error::Overflow { .. }), "{layout:?}: {err}");
        assert_eq!(format!("{accs:?}"), before, "{layout:?}");
        // check finds the same failure; a row that fits is applied to all.
        assert!(check(&accs, &row(1, -7)).is_err());
        check(&accs, &row(-1, -7)).unwrap();
        fold(&mut accs, &row(-1, -7), order, Some(&mut heap)).unwrap();
        for (i, (acc, &(kind, _))) in accs.iter().zip(layout).enumerate() {
            let expect = match kind {
                CountStar => Value::Int(2),
                Sum if i == failing => Value::Int(i64::MAX - 1),
                Sum => Value::Int(-2),
                FirstValue => Value::Int(5),
                LastValue | Min => Value::Int(-7),
                _ => continue,
            };
            assert_eq!(acc.evaluate().unwrap(), expect, "{layout:?} {kind:?}");
        }
    }
}

/// Only state that can hold strings or sets follows the memory estimate per
/// row; and what may not grow never does.
#[test]
fn only_string_and_distinct_state_may_grow() {
    use AggregateKind::*;
    let grows = |kind, distinct, ty| AggregateFunction::new(kind, distinct, ty).may_grow();
    for kind in [Min, Max, FirstValue, LastValue] {
        assert!(grows(kind, false, DataType::String), "{kind:?}");
        assert!(
            grows(kind, false, DataType::Null),
            "{kind:?} of an unknown type"
        );
        assert!(!grows(kind, false, DataType::Float), "{kind:?}");
        assert!(!grows(kind, false, DataType::Int), "{kind:?}");
    }
    assert!(grows(Count, true, DataType::Int));
    assert!(!grows(Sum, false, DataType::Int));
    assert!(!grows(CountStar, false, DataType::Null));
    // A numeric MIN's state holds no heap bytes, whatever it sees.
    let f = AggregateFunction::new(Min, false, DataType::Float);
    let mut acc = f.new_accumulator();
    for v in [Value::Float(2.5), Value::Float(-1.0), Value::Null] {
        acc.update(&v).unwrap();
        assert_eq!(acc.heap_bytes(), 0);
    }
}

/// Only aggregates whose argument type lets an update fail are checked
/// before a row is folded: SUM and AVG over DOUBLE, and variances over
/// numbers, cannot fail.
#[test]
fn the_fold_order_follows_what_the_argument_types_let_fail() {
    use AggregateKind::*;
    let f = |kind, ty| AggregateFunction::new(kind, false, ty);
    let dec = DataType::Decimal {
        precision: 10,
        scale: 2,
    };
    for (kind, ty, fails) in [
        (Sum, DataType::Int, true),
        (Sum, dec, true),
        (Sum, DataType::Float, false),
        (Avg, DataType::Int, true),
        (Avg, DataType::Float, false),
        (Avg, DataType::Null, true),
        (VarPop, DataType::Float, false),
        (StddevSamp, DataType::Int, false),
        (VarSamp, DataType::Null, true),
        (Min, DataType::Int, false),
        (CountStar, DataType::Null, false),
    ] {
        assert_eq!(f(kind, ty).can_fail(), fails, "{kind:?}({ty})");
    }
    // Scenario 3a's aggregates: only SUM(quantity) over BIGINT can fail, so
    // its rows are folded without a check first.
    let functions = [
        f(CountStar, DataType::Null),
        f(Avg, DataType::Float),
        f(Sum, DataType::Int),
        f(Sum, DataType::Float),
    ];
    let order = FoldOrder::for_functions(&functions);
    assert_eq!((order.first, order.more), (2, false));
    let order = FoldOrder::for_functions(&[f(Sum, DataType::Int), f(Avg, dec)]);
    assert_eq!((order.first, order.more), (0, true));
}

/// A fresh state's first update fails only for a value that is not a number:
/// for each argument type said not to fail when fresh, the extreme values of
/// that type go into a fresh state, DISTINCT or not.
#[test]
fn a_fresh_state_fails_only_where_its_type_says() {
    use AggregateKind::*;
    let dec = DataType::Decimal {
        precision: 38,
        scale: 0,
    };
    let extremes = |ty: DataType| -> Vec<Value> {
        match ty {
            DataType::Int => vec![Value::Int(i64::MAX), Value::Int(i64::MIN)],
            DataType::Float => vec![Value::Float(f64::MAX), Value::Float(f64::NAN)],
            _ => vec![
                Value::Decimal("99999999999999999999999999999999999999".parse().unwrap()),
                Value::Decimal("-99999999999999999999999999999999999999".parse().unwrap()),
            ],
        }
    };
    let kinds = [Sum, Avg, StddevSamp, VarPop, Min, Count, CountStar];
    for kind in kinds {
        for ty in [DataType::Int, DataType::Float, dec] {
            for distinct in [false, true] {
                let f = AggregateFunction::new(kind, distinct, ty);
                assert!(!f.can_fail_when_fresh(), "{kind:?}({ty})");
                for v in extremes(ty) {
                    f.new_accumulator().update(&v).unwrap();
                }
            }
        }
        let unknown = AggregateFunction::new(kind, false, DataType::Null);
        assert_eq!(
            unknown.can_fail_when_fresh(),
            unknown.can_fail(),
            "{kind:?}"
        );
    }
    assert!(AggregateFunction::new(Sum, false, DataType::String).can_fail_when_fresh());
    let functions = [
        AggregateFunction::new(CountStar, false, DataType::Null),
        AggregateFunction::new(Sum, false, DataType::Int),
        AggregateFunction::new(Sum, false, DataType::Null),
    ];
    let order = FoldOrder::for_fresh(&functions);
    assert_eq!((order.first, order.more), (2, false));
}
