//! Tests of compilation and evaluation, with expressions bound by the planner
//! from text.

use velo_types::Decimal;
use velo_types::{DataType, Field, Schema, Value};

use super::*;
use crate::error::Error;

/// Binds (the planner, from text) and lowers one expression.
fn compile(sql: &str, scope: &Scope) -> crate::Result<PhysicalExpr> {
    Ok(lower(&velo_planner::bind::bind_sql(sql, scope)?))
}

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("a", DataType::Int),
        Field::new("b", DataType::Int),
        Field::new("f", DataType::Float),
        Field::new(
            "d",
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        Field::new("s", DataType::String),
        Field::new("ts", DataType::Timestamp),
        Field::new("flag", DataType::Boolean),
        Field::new("n", DataType::Int),
        Field::new("nb", DataType::Boolean),
    ])
}

const TS: i64 = 1_705_312_800_000; // 2024-01-15T10:00:00Z, a Monday

fn row() -> Vec<Value> {
    vec![
        Value::Int(7),
        Value::Int(2),
        Value::Float(1.5),
        Value::Decimal(Decimal::new(1050, 2)),
        Value::str("Hello World"),
        Value::Timestamp(TS + 12_345),
        Value::Bool(true),
        Value::Null,
        Value::Null,
    ]
}

fn try_compile(sql: &str) -> crate::Result<PhysicalExpr> {
    let s = schema();
    let q = ["t".to_string()];
    compile(
        sql,
        &Scope {
            schema: &s,
            qualifiers: &q,
            substitutions: &[],
        },
    )
}

fn try_eval(sql: &str) -> crate::Result<Value> {
    try_compile(sql)?.eval(&row())
}

fn eval(sql: &str) -> Value {
    try_eval(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn compile_err(sql: &str) -> Error {
    match try_compile(sql) {
        Ok(e) => panic!("{sql} compiled to {e:?}"),
        Err(e) => e,
    }
}

fn s(v: &str) -> Value {
    Value::str(v)
}

fn dec(m: i128, scale: u8) -> Value {
    Value::Decimal(Decimal::new(m, scale))
}

const T: Value = Value::Bool(true);
const F: Value = Value::Bool(false);
const N: Value = Value::Null;

#[test]
fn three_valued_logic_truth_tables() {
    let vals = [("TRUE", Some(true)), ("FALSE", Some(false)), ("nb", None)];
    for (a, av) in vals {
        for (b, bv) in vals {
            let and = match (av, bv) {
                (Some(false), _) | (_, Some(false)) => F,
                (Some(true), Some(true)) => T,
                _ => N,
            };
            let or = match (av, bv) {
                (Some(true), _) | (_, Some(true)) => T,
                (Some(false), Some(false)) => F,
                _ => N,
            };
            assert_eq!(eval(&format!("{a} AND {b}")), and, "{a} AND {b}");
            assert_eq!(eval(&format!("{a} OR {b}")), or, "{a} OR {b}");
        }
        let not = match av {
            Some(x) => Value::Bool(!x),
            None => N,
        };
        assert_eq!(eval(&format!("NOT {a}")), not);
    }
    assert_eq!(eval("nb IS NULL"), T);
    assert_eq!(eval("nb IS NOT NULL"), F);
    assert_eq!(eval("nb IS TRUE"), F);
    assert_eq!(eval("nb IS NOT FALSE"), T);
    assert_eq!(eval("flag IS TRUE"), T);
    assert_eq!(eval("n IS DISTINCT FROM NULL"), F);
    assert_eq!(eval("a IS DISTINCT FROM n"), T);
    assert_eq!(eval("a IS NOT DISTINCT FROM 7"), T);
}

#[test]
fn comparisons_with_null_are_null_and_numbers_compare_across_types() {
    assert_eq!(eval("n = 1"), N);
    assert_eq!(eval("1 < n"), N);
    assert_eq!(eval("a = NULL"), N);
    assert_eq!(eval("a > 5"), T);
    assert_eq!(eval("5 > a"), F);
    assert_eq!(eval("a = 7.0"), T);
    assert_eq!(eval("d = 10.5"), T);
    assert_eq!(eval("d > a"), T);
    assert_eq!(eval("f <> 1.5"), F);
    assert_eq!(eval("s = 'Hello World'"), T);
    assert_eq!(eval("s < 'I'"), T);
    assert_eq!(eval("a >= b"), T);
    assert_eq!(eval("flag = TRUE"), T);
    // The predicate form: NULL rejects.
    let p = try_compile("n = 1").unwrap();
    assert!(!p.eval_predicate(&row()).unwrap());
    let p = try_compile("a = 7").unwrap();
    assert!(matches!(p, PhysicalExpr::CompareColumnLiteral { .. }));
    assert!(p.eval_predicate(&row()).unwrap());
    let p = try_compile("7 <= a").unwrap();
    assert!(matches!(
        p,
        PhysicalExpr::CompareColumnLiteral {
            op: CmpOp::GtEq,
            ..
        }
    ));
    assert!(p.eval_predicate(&row()).unwrap());
}

#[test]
fn timestamp_literals_are_parsed_at_compile_time() {
    let e = try_compile("ts > '2024-01-15 10:00:00'").unwrap();
    match &e {
        PhysicalExpr::CompareColumnLiteral { literal, .. } => {
            assert_eq!(*literal, Value::Timestamp(TS))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.eval(&row()).unwrap(), T);
    assert_eq!(eval("ts < '2024-01-15T10:00:13Z'"), T);
    assert_eq!(
        eval("ts BETWEEN '2024-01-15' AND TIMESTAMP '2024-01-16 00:00:00'"),
        T
    );
    assert_eq!(eval("ts IN ('2024-01-15T10:00:12.345Z', '2020-01-01')"), T);
    assert_eq!(eval("ts = TIMESTAMP '2024-01-15 10:00:12.345'"), T);
    assert_eq!(
        eval("ts - INTERVAL '12' SECOND < TIMESTAMP '2024-01-15 10:00:01'"),
        T
    );
    assert_eq!(
        eval("ts + INTERVAL '1' HOUR"),
        Value::Timestamp(TS + 12_345 + 3_600_000)
    );
    assert_eq!(
        eval("ts - TIMESTAMP '2024-01-15 10:00:00'"),
        Value::Int(12_345)
    );
    let e = compile_err("ts > 'not a time'");
    assert!(e.message().contains("TIMESTAMP"), "{e}");
    assert_eq!(e.span().unwrap().start.column, 6);
    assert_eq!(eval("a = '7'"), T);
    assert!(compile_err("a = 'x'").message().contains("BIGINT"));
    assert!(compile_err("a = s").message().contains("cannot compare"));
}

#[test]
fn arithmetic_types_and_promotions() {
    assert_eq!(eval("a + b"), Value::Int(9));
    assert_eq!(eval("a - b * 3"), Value::Int(1));
    assert_eq!(eval("a / b"), Value::Int(3));
    assert_eq!(eval("-a / b"), Value::Int(-3));
    assert_eq!(eval("a % b"), Value::Int(1));
    assert_eq!(eval("MOD(a, 4)"), Value::Int(3));
    assert_eq!(eval("a + f"), Value::Float(8.5));
    assert_eq!(eval("a / 2.0"), Value::Float(3.5));
    assert_eq!(eval("d + a"), dec(1750, 2));
    assert_eq!(eval("d * 2"), dec(2100, 2));
    assert_eq!(eval("d + f"), Value::Float(12.0));
    assert_eq!(eval("a + n"), N);
    assert_eq!(eval("n * 0"), N);
    assert_eq!(eval("-f"), Value::Float(-1.5));
    assert_eq!(try_compile("a + b").unwrap().data_type(), DataType::Int);
    assert_eq!(try_compile("a + f").unwrap().data_type(), DataType::Float);
    assert!(matches!(
        try_compile("a + d").unwrap().data_type(),
        DataType::Decimal { scale: 2, .. }
    ));
    assert_eq!(
        try_compile("ts + 1000").unwrap().data_type(),
        DataType::Timestamp
    );
    assert!(compile_err("s + 1").message().contains("cannot apply"));
    assert!(compile_err("-s").message().contains("negate"));
    assert_eq!(eval("s || '!'"), s("Hello World!"));
    assert_eq!(eval("s || a"), s("Hello World7"));
    assert_eq!(eval("s || n"), N);
}

#[test]
fn overflow_is_an_error_not_a_wrap() {
    let cases = [
        "9223372036854775807 + 1",
        "-9223372036854775807 - 2",
        "4611686018427387904 * 2",
        "ABS(-9223372036854775807 - 1)",
    ];
    for sql in cases {
        match try_eval(sql) {
            Err(Error::Overflow { .. }) => {}
            other => panic!("{sql}: {other:?}"),
        }
    }
    let big = "9223372036854775807";
    let e = try_compile(&format!("a * {big}")).unwrap();
    assert!(matches!(
        e.eval(&row()),
        Err(Error::Overflow { context: "*" })
    ));
    assert_eq!(eval(&format!("{big} + 0")), Value::Int(i64::MAX));
}

#[test]
fn division_by_zero_is_an_error_for_every_type() {
    for sql in [
        "a / 0",
        "a % 0",
        "MOD(a, 0)",
        "f / 0",
        "f / 0.0",
        "d / 0",
        "a / (b - 2)",
        "f % 0",
    ] {
        match try_eval(sql) {
            Err(Error::DivisionByZero) => {}
            other => panic!("{sql}: {other:?}"),
        }
    }
    // ... but NULL wins over the division.
    assert_eq!(eval("n / 0"), N);
    // Constant division by zero is not folded away: it fails per record.
    assert!(try_compile("1 / 0").is_ok());
}

#[test]
fn case_both_forms() {
    assert_eq!(
        eval("CASE WHEN a > 5 THEN 'big' ELSE 'small' END"),
        s("big")
    );
    assert_eq!(eval("CASE WHEN a > 50 THEN 'big' END"), N);
    assert_eq!(
        eval("CASE WHEN nb THEN 1 WHEN a = 7 THEN 2 ELSE 3 END"),
        Value::Int(2)
    );
    assert_eq!(
        eval("CASE a WHEN 1 THEN 'one' WHEN 7 THEN 'seven' END"),
        s("seven")
    );
    assert_eq!(
        eval("CASE n WHEN 1 THEN 'one' ELSE 'other' END"),
        s("other")
    );
    // Branch types unify: BIGINT and DOUBLE give DOUBLE values.
    let e = try_compile("CASE WHEN flag THEN a ELSE f END").unwrap();
    assert_eq!(e.data_type(), DataType::Float);
    assert_eq!(e.eval(&row()).unwrap(), Value::Float(7.0));
    assert!(compile_err("CASE WHEN flag THEN a ELSE s END")
        .message()
        .contains("incompatible"));
    assert!(compile_err("CASE WHEN a THEN 1 END")
        .message()
        .contains("BOOLEAN"));
}

#[test]
fn in_list_and_between() {
    assert_eq!(eval("a IN (1, 7, 9)"), T);
    assert_eq!(eval("a IN (1, 2)"), F);
    assert_eq!(eval("a NOT IN (1, 2)"), T);
    assert_eq!(eval("a IN (1, NULL)"), N);
    assert_eq!(eval("a IN (7, NULL)"), T);
    assert_eq!(eval("a NOT IN (1, NULL)"), N);
    assert_eq!(eval("n IN (1, 2)"), N);
    assert_eq!(eval("s IN ('x', 'Hello World')"), T);
    assert_eq!(eval("f IN (1, 1.5)"), T);
    assert_eq!(eval("a BETWEEN 1 AND 7"), T);
    assert_eq!(eval("a BETWEEN 8 AND 9"), F);
    assert_eq!(eval("a NOT BETWEEN 8 AND 9"), T);
    assert_eq!(eval("a BETWEEN n AND 9"), N);
    assert_eq!(eval("a BETWEEN n AND 5"), F);
    assert_eq!(eval("n BETWEEN 1 AND 2"), N);
    assert_eq!(eval("d BETWEEN 10 AND 10.5"), T);
}

#[test]
fn like_patterns() {
    assert_eq!(eval("s LIKE 'Hello%'"), T);
    assert_eq!(eval("s LIKE '%World'"), T);
    assert_eq!(eval("s LIKE '%o W%'"), T);
    assert_eq!(eval("s LIKE 'H_llo World'"), T);
    assert_eq!(eval("s LIKE 'hello%'"), F);
    assert_eq!(eval("s ILIKE 'hello%'"), T);
    assert_eq!(eval("s NOT LIKE 'x%'"), T);
    assert_eq!(eval("s LIKE 'H%o%d'"), T);
    assert_eq!(eval("'50%' LIKE '50!%' ESCAPE '!'"), T);
    assert_eq!(eval("'500' LIKE '50!%' ESCAPE '!'"), F);
    assert_eq!(eval("CAST(n AS VARCHAR) LIKE '%'"), N);
    assert_eq!(eval("s LIKE s"), T);
    assert_eq!(eval("s LIKE NULL"), N);
    let e = try_compile("s LIKE 'a%b_c'").unwrap();
    assert!(matches!(
        e,
        PhysicalExpr::Like {
            pattern: LikePattern::Compiled(_),
            ..
        }
    ));
    assert!(compile_err("a LIKE 'x'").message().contains("string"));
}

#[test]
fn casts_succeed_and_fail_with_the_value() {
    assert_eq!(eval("CAST('42' AS BIGINT)"), Value::Int(42));
    assert_eq!(eval("CAST(' 42 ' AS INT)"), Value::Int(42));
    assert_eq!(eval("CAST(f AS INTEGER)"), Value::Int(1));
    assert_eq!(eval("CAST(-2.7 AS BIGINT)"), Value::Int(-2));
    assert_eq!(eval("CAST(a AS DOUBLE)"), Value::Float(7.0));
    assert_eq!(eval("CAST('1.5' AS FLOAT)"), Value::Float(1.5));
    assert_eq!(eval("CAST('1.5' AS DECIMAL(3,1))"), dec(15, 1));
    assert_eq!(
        try_compile("CAST('1.5' AS DECIMAL(3,1))")
            .unwrap()
            .data_type(),
        DataType::Decimal {
            precision: 3,
            scale: 1
        }
    );
    assert_eq!(eval("CAST(d AS DECIMAL(5,1))"), dec(105, 1));
    assert_eq!(eval("CAST(a AS VARCHAR)"), s("7"));
    assert_eq!(eval("CAST(f AS STRING)"), s("1.5"));
    assert_eq!(eval("CAST(ts AS VARCHAR)"), s("2024-01-15T10:00:12.345Z"));
    assert_eq!(eval("CAST('true' AS BOOLEAN)"), T);
    assert_eq!(eval("CAST(0 AS BOOLEAN)"), F);
    assert_eq!(
        eval("CAST('2024-01-15 10:00:00' AS TIMESTAMP)"),
        Value::Timestamp(TS)
    );
    assert_eq!(eval("CAST(ts AS BIGINT)"), Value::Int(TS + 12_345));
    assert_eq!(eval("CAST(n AS VARCHAR)"), N);
    assert_eq!(eval("a::VARCHAR"), s("7"));
    match try_eval("CAST(s AS BIGINT)") {
        Err(Error::Cast { value, to }) => {
            assert_eq!(value, s("Hello World"));
            assert_eq!(to, DataType::Int);
        }
        other => panic!("{other:?}"),
    }
    let msg = try_eval("CAST(s AS BIGINT)").unwrap_err().to_string();
    assert_eq!(msg, "cannot cast 'Hello World' to BIGINT");
    assert!(matches!(
        try_eval("CAST(1e30 AS BIGINT)"),
        Err(Error::Cast { .. })
    ));
    assert!(matches!(
        try_eval("CAST(d AS DECIMAL(2,1))"),
        Err(Error::Cast { .. })
    ));
    assert!(try_eval("CAST('maybe' AS BOOLEAN)").is_err());
    assert!(try_eval("CAST('x' AS TIMESTAMP)").is_err());
    assert_eq!(eval("TRY_CAST(s AS BIGINT)"), N);
    assert_eq!(eval("TRY_CAST('12' AS BIGINT)"), Value::Int(12));
    assert!(compile_err("CAST(a AS BYTEA)")
        .message()
        .contains("unsupported type"));
}

#[test]
fn numeric_functions() {
    assert_eq!(eval("ABS(-3)"), Value::Int(3));
    assert_eq!(eval("ABS(-f)"), Value::Float(1.5));
    assert_eq!(eval("ABS(-d)"), dec(1050, 2));
    assert_eq!(eval("ABS(n)"), N);
    assert_eq!(eval("ROUND(2.5)"), Value::Float(3.0));
    assert_eq!(eval("ROUND(d, 1)"), dec(105, 1));
    assert_eq!(eval("ROUND(CAST('10.55' AS DECIMAL(4,2)), 1)"), dec(106, 1));
    assert_eq!(eval("ROUND(1234, -2)"), Value::Int(1200));
    assert_eq!(eval("ROUND(2.71828, 2)"), Value::Float(2.72));
    assert_eq!(eval("ROUND(f, n)"), N);
    assert_eq!(eval("CEIL(f)"), Value::Float(2.0));
    assert_eq!(eval("CEILING(-1.5)"), Value::Float(-1.0));
    assert_eq!(eval("FLOOR(f)"), Value::Float(1.0));
    assert_eq!(eval("FLOOR(d)"), dec(10, 0));
    assert_eq!(eval("CEIL(d)"), dec(11, 0));
    assert_eq!(eval("FLOOR(a)"), Value::Int(7));
    assert_eq!(eval("SQRT(16)"), Value::Float(4.0));
    assert_eq!(eval("SQRT(f * 0)"), Value::Float(0.0));
    assert!(matches!(
        try_eval("SQRT(-1)"),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(eval("POWER(2, 10)"), Value::Float(1024.0));
    assert_eq!(eval("POW(a, 2)"), Value::Float(49.0));
    assert_eq!(eval("POWER(4, 0.5)"), Value::Float(2.0));
    assert_eq!(eval("MOD(-7, 3)"), Value::Int(-1));
    assert_eq!(eval("MOD(d, 3)"), dec(150, 2));
    assert_eq!(eval("LEAST(a, b, 5)"), Value::Int(2));
    assert_eq!(eval("GREATEST(a, b, 5)"), Value::Int(7));
    assert_eq!(eval("GREATEST(a, f)"), Value::Float(7.0));
    assert_eq!(eval("LEAST(a, n)"), N);
    assert_eq!(eval("GREATEST('a', s)"), s("a"));
    assert!(compile_err("ABS(s)").message().contains("number"));
}

#[test]
fn string_functions() {
    assert_eq!(eval("UPPER(s)"), s("HELLO WORLD"));
    assert_eq!(eval("LOWER(s)"), s("hello world"));
    assert_eq!(eval("UPPER(CAST(n AS VARCHAR))"), N);
    assert_eq!(eval("LOWER('ÄÖ')"), s("äö"));
    assert_eq!(eval("SUBSTRING(s FROM 1 FOR 5)"), s("Hello"));
    assert_eq!(eval("SUBSTRING(s FROM 7)"), s("World"));
    assert_eq!(eval("SUBSTRING(s, 7, 3)"), s("Wor"));
    assert_eq!(eval("SUBSTRING(s, 0, 3)"), s("He"));
    assert_eq!(eval("SUBSTRING(s, 50)"), s(""));
    assert_eq!(eval("SUBSTR('héllo', 2, 2)"), s("él"));
    assert!(try_eval("SUBSTRING(s, 1, -1)").is_err());
    assert_eq!(eval("REPLACE(s, 'o', '0')"), s("Hell0 W0rld"));
    assert_eq!(eval("REPLACE(s, 'World', '')"), s("Hello "));
    assert_eq!(eval("REPLACE(s, '', 'x')"), s("Hello World"));
    assert_eq!(eval("TRIM('  x  ')"), s("x"));
    assert_eq!(eval("TRIM(LEADING ' ' FROM '  x  ')"), s("x  "));
    assert_eq!(eval("TRIM(TRAILING ' ' FROM '  x  ')"), s("  x"));
    assert_eq!(eval("TRIM(BOTH 'x' FROM 'xxaxx')"), s("a"));
    assert_eq!(eval("TRIM(LEADING 'xy' FROM 'xyxaxy')"), s("axy"));
    assert_eq!(eval("LENGTH(s)"), Value::Int(11));
    assert_eq!(eval("CHAR_LENGTH('héllo')"), Value::Int(5));
    assert_eq!(eval("LENGTH('')"), Value::Int(0));
    assert_eq!(eval("CONCAT(s, '-', a)"), s("Hello World-7"));
    assert_eq!(eval("CONCAT('a', 'b', 'c', 'd')"), s("abcd"));
    assert_eq!(eval("CONCAT('a', n)"), N);
    assert_eq!(eval("SPLIT_PART('a,b,c', ',', 2)"), s("b"));
    assert_eq!(eval("SPLIT_PART(s, ' ', 1)"), s("Hello"));
    assert_eq!(eval("SPLIT_PART(s, ' ', 5)"), s(""));
    assert!(try_eval("SPLIT_PART(s, ' ', 0)").is_err());
}

#[test]
fn null_functions() {
    assert_eq!(eval("COALESCE(n, a)"), Value::Int(7));
    assert_eq!(eval("COALESCE(n, NULL)"), N);
    assert_eq!(eval("COALESCE(n, f, a)"), Value::Float(1.5));
    let e = try_compile("COALESCE(n, 2.5)").unwrap();
    assert_eq!(e.data_type(), DataType::Float);
    assert_eq!(e.eval(&row()).unwrap(), Value::Float(2.5));
    // COALESCE is lazy: later arguments are not evaluated.
    assert_eq!(eval("COALESCE(a, a / 0)"), Value::Int(7));
    assert_eq!(eval("NULLIF(a, 7)"), N);
    assert_eq!(eval("NULLIF(a, 8)"), Value::Int(7));
    assert_eq!(eval("NULLIF(n, 8)"), N);
    assert_eq!(eval("NULLIF(a, n)"), Value::Int(7));
    assert_eq!(eval("NULLIF(s, 'x')"), s("Hello World"));
}

#[test]
fn time_functions() {
    // ts = 2024-01-15T10:00:12.345Z, a Monday.
    assert_eq!(eval("EXTRACT(YEAR FROM ts)"), Value::Int(2024));
    assert_eq!(eval("EXTRACT(MONTH FROM ts)"), Value::Int(1));
    assert_eq!(eval("EXTRACT(DAY FROM ts)"), Value::Int(15));
    assert_eq!(eval("EXTRACT(HOUR FROM ts)"), Value::Int(10));
    assert_eq!(eval("EXTRACT(MINUTE FROM ts)"), Value::Int(0));
    assert_eq!(eval("EXTRACT(SECOND FROM ts)"), Value::Int(12));
    assert_eq!(eval("EXTRACT(MILLISECOND FROM ts)"), Value::Int(345));
    assert_eq!(eval("EXTRACT(EPOCH FROM ts)"), Value::Int(1_705_312_812));
    assert_eq!(eval("EXTRACT(DOW FROM ts)"), Value::Int(2));
    assert_eq!(eval("EXTRACT(DOY FROM ts)"), Value::Int(15));
    assert_eq!(eval("EXTRACT(QUARTER FROM ts)"), Value::Int(1));
    assert_eq!(
        eval("EXTRACT(DOY FROM TIMESTAMP '2024-12-31 23:59:59')"),
        Value::Int(366)
    );
    assert_eq!(eval("EXTRACT(YEAR FROM CAST(n AS TIMESTAMP))"), N);
    assert_eq!(
        eval("EXTRACT(MILLISECOND FROM CAST(-1 AS TIMESTAMP))"),
        Value::Int(999)
    );
    assert!(compile_err("EXTRACT(YEAR FROM a)")
        .message()
        .contains("TIMESTAMP"));
    assert_eq!(eval("FROM_UNIXTIME(1705312800)"), Value::Timestamp(TS));
    assert_eq!(eval("FROM_UNIXTIME(1.5)"), Value::Timestamp(1500));
    assert_eq!(eval("UNIX_TIMESTAMP(ts)"), Value::Int(1_705_312_812));
    assert_eq!(
        eval("UNIX_TIMESTAMP('2024-01-15 10:00:00')"),
        Value::Int(1_705_312_800)
    );
    let now = match eval("UNIX_TIMESTAMP()") {
        Value::Int(i) => i,
        other => panic!("{other:?}"),
    };
    assert!(now > 1_700_000_000);
    let e = try_compile("NOW()").unwrap();
    assert!(e.is_volatile());
    assert!(
        matches!(e, PhysicalExpr::Function { .. }),
        "NOW() must not be folded"
    );
    assert!(matches!(eval("CURRENT_TIMESTAMP"), Value::Timestamp(t) if t / 1000 >= now));
    assert_eq!(
        eval("TUMBLE_START(ts, INTERVAL '1' MINUTE)"),
        Value::Timestamp(TS)
    );
    assert_eq!(
        eval("TUMBLE_END(ts, INTERVAL '1' MINUTE)"),
        Value::Timestamp(TS + 60_000)
    );
    assert_eq!(
        eval("TUMBLE_START(ts, INTERVAL '10' SECOND)"),
        Value::Timestamp(TS + 10_000)
    );
    assert_eq!(
        eval("TUMBLE_START(CAST(-1 AS TIMESTAMP), INTERVAL '1' SECOND)"),
        Value::Timestamp(-1000)
    );
    assert!(compile_err("TUMBLE_START(ts, INTERVAL '0' SECOND)")
        .message()
        .contains("positive"));
}

#[test]
fn date_format_and_flinks_extract_shorthands() {
    // The row's ts is 2024-01-15T10:00:12.345Z.
    assert_eq!(eval("DATE_FORMAT(ts, 'yyyy-MM-dd')"), s("2024-01-15"));
    assert_eq!(eval("DATE_FORMAT(ts, 'HH:mm')"), s("10:00"));
    assert_eq!(
        eval("DATE_FORMAT(ts + INTERVAL '3723' SECOND, 'yy/M/d H:m:s.SSS')"),
        s("24/1/15 11:2:15.345")
    );
    assert_eq!(
        eval("DATE_FORMAT(ts, '''at'' HH ''o''''clock''')"),
        s("at 10 o'clock")
    );
    assert_eq!(
        eval("DATE_FORMAT(CAST(NULL AS TIMESTAMP), 'yyyy')"),
        Value::Null
    );
    assert!(compile_err("DATE_FORMAT(ts, 'EEE')")
        .message()
        .contains("pattern letters"));
    assert!(compile_err("DATE_FORMAT(ts, 'MMM')")
        .message()
        .contains("names of months"));
    assert_eq!(eval("HOUR(ts)"), Value::Int(10));
    assert_eq!(eval("MINUTE(ts)"), Value::Int(0));
    assert_eq!(eval("YEAR(ts)"), Value::Int(2024));
}

#[test]
fn literals_and_intervals() {
    assert_eq!(eval("42"), Value::Int(42));
    assert_eq!(eval("100.5"), Value::Float(100.5));
    assert_eq!(eval("1e3"), Value::Float(1000.0));
    assert_eq!(eval("'x'"), s("x"));
    assert_eq!(eval("TRUE"), T);
    assert_eq!(eval("NULL"), N);
    assert_eq!(
        eval("99999999999999999999"),
        Value::Decimal("99999999999999999999".parse().unwrap())
    );
    assert_eq!(eval("INTERVAL '5' MINUTE"), Value::Int(300_000));
    assert_eq!(eval("INTERVAL '500' MILLISECOND"), Value::Int(500));
    assert_eq!(eval("INTERVAL '2' HOUR"), Value::Int(7_200_000));
    assert_eq!(eval("INTERVAL '1' DAY"), Value::Int(86_400_000));
    assert_eq!(eval("INTERVAL '5 minutes'"), Value::Int(300_000));
    assert_eq!(eval("INTERVAL '1.5' SECOND"), Value::Int(1_500));
    assert!(try_compile("INTERVAL '1' MONTH").is_err());
    assert_eq!(
        eval("TIMESTAMP '2024-01-15 10:00:00'"),
        Value::Timestamp(TS)
    );
    assert_eq!(eval("DATE '2024-01-15'"), Value::Timestamp(TS - 36_000_000));
    assert!(try_compile("TIMESTAMP 'garbage'").is_err());
    // Constant folding.
    assert!(matches!(
        try_compile("1 + 2 * 3").unwrap(),
        PhysicalExpr::Literal(Value::Int(7))
    ));
    assert!(matches!(
        try_compile("UPPER('a') || 'b'").unwrap(),
        PhysicalExpr::Literal(Value::Str(_))
    ));
}

#[test]
fn columns_resolve_by_index_case_insensitively_and_with_qualifiers() {
    let e = try_compile("A").unwrap();
    assert_eq!(e.as_column(), Some(0));
    assert_eq!(e.data_type(), DataType::Int);
    assert_eq!(try_compile("t.S").unwrap().as_column(), Some(4));
    assert_eq!(try_compile("T.s").unwrap().as_column(), Some(4));
    let err = compile_err("x.s");
    assert!(err.message().contains("unknown column 'x.s'"), "{err}");
    let mut cols = Vec::new();
    try_compile("a + b > f AND s = 'x'")
        .unwrap()
        .collect_columns(&mut cols);
    cols.sort();
    assert_eq!(cols, vec![0, 1, 2, 4]);
}

#[test]
fn unknown_column_error_carries_the_span() {
    let err = compile_err("a + 1 > wat");
    match &err {
        Error::Compile { message, span } => {
            assert!(message.starts_with("unknown column 'wat'"), "{message}");
            assert!(message.contains("available columns: a, b"), "{message}");
            assert_eq!((span.start.line, span.start.column), (1, 9));
            assert_eq!((span.end.line, span.end.column), (1, 12));
        }
        other => panic!("{other:?}"),
    }
    let err = compile_err("a +\n   t.nope");
    let span = err.span().unwrap();
    assert_eq!((span.start.line, span.start.column), (2, 4));
    assert!(err.to_string().ends_with("at line 2, column 4"), "{err}");
}

#[test]
fn unknown_function_and_arity_errors() {
    let err = compile_err("a + foo(b)");
    assert!(err.message().contains("unknown function 'foo'"), "{err}");
    let span = err.span().unwrap();
    assert_eq!((span.start.line, span.start.column), (1, 5));
    let err = compile_err("ROUND(a, 1, 2)");
    assert!(
        err.message()
            .contains("ROUND expects 1 or 2 arguments, got 3"),
        "{err}"
    );
    let err = compile_err("UPPER()");
    assert!(
        err.message().contains("UPPER expects 1 argument, got 0"),
        "{err}"
    );
    let err = compile_err("MOD(a)");
    assert!(err.message().contains("MOD expects 2 arguments"), "{err}");
    assert!(compile_err("NOW(1)").message().contains("expects 0"));
    assert!(compile_err("UPPER(*)").message().contains("COUNT(*)"));
}

#[test]
fn aggregates_are_rejected_unless_substituted() {
    let err = compile_err("COUNT(*) + 1");
    assert_eq!(
        err.message(),
        "aggregate function COUNT is not allowed here"
    );
    assert_eq!(err.span().unwrap().start.column, 1);
    let err = compile_err("1 + sum(a)");
    assert_eq!(err.message(), "aggregate function SUM is not allowed here");
    assert_eq!(err.span().unwrap().start.column, 5);

    // After aggregation: row = [s (group key), COUNT(*), SUM(a)].
    let post = Schema::new(vec![
        Field::new("_k0", DataType::String),
        Field::new("_agg0", DataType::Int),
        Field::new("_agg1", DataType::Int),
    ]);
    // Substitutions are keyed by canonical text, as the query builders make them.
    let subs: Vec<(String, usize)> = ["UPPER(s)", "COUNT(*)", "SUM(a)"]
        .iter()
        .enumerate()
        .map(|(i, t)| (velo_planner::bind::canonical_sql(t).unwrap(), i))
        .collect();
    let scope = Scope {
        schema: &post,
        qualifiers: &[],
        substitutions: &subs,
    };
    let e = compile("SUM(a) * 2 + COUNT(*)", &scope).unwrap();
    let r = [s("K"), Value::Int(3), Value::Int(10)];
    assert_eq!(e.eval(&r).unwrap(), Value::Int(23));
    let e = compile("LOWER(UPPER(s))", &scope).unwrap();
    assert_eq!(e.eval(&r).unwrap(), s("k"));
    // Case of the function name does not matter.
    let e = compile("count(*) > 2", &scope).unwrap();
    assert_eq!(e.eval(&r).unwrap(), T);
    assert_eq!(e.data_type(), DataType::Boolean);
    // A column that is neither grouped nor aggregated is unknown after aggregation.
    let err = compile("a + SUM(a)", &scope).unwrap_err();
    assert!(err.message().contains("unknown column 'a'"), "{err}");
    let err = compile("AVG(a)", &scope).unwrap_err();
    assert!(err.message().contains("AVG is not allowed"), "{err}");
    // Names match in any case, literals only exactly: `s LIKE 'a%'` is not the
    // computed `s LIKE 'A%'` (it was, when texts were compared ignoring case).
    let e = compile("Upper(S)", &scope).unwrap();
    assert_eq!(e.eval(&r).unwrap(), s("K"));
    let post = Schema::new(vec![Field::new("_k0", DataType::Boolean)]);
    let subs = vec![(velo_planner::bind::canonical_sql("s LIKE 'A%'").unwrap(), 0)];
    let scope = Scope {
        schema: &post,
        qualifiers: &[],
        substitutions: &subs,
    };
    assert_eq!(
        compile("S like 'A%'", &scope).unwrap().eval(&[T]).unwrap(),
        T
    );
    let err = compile("s LIKE 'a%'", &scope).unwrap_err();
    assert!(err.message().contains("unknown column 's'"), "{err}");
}

#[test]
fn aggregate_functions_are_the_catalogue_s() {
    assert!(is_aggregate_function("stddev_pop"));
    assert!(is_aggregate_function("First_Value"));
    assert!(!is_aggregate_function("upper"));
}

#[test]
fn type_errors_at_compile_time() {
    assert!(compile_err("a AND flag").message().contains("BOOLEAN"));
    assert!(compile_err("NOT s").message().contains("BOOLEAN"));
    assert!(compile_err("UPPER(a)").message().contains("string"));
    assert!(compile_err("a IN (1, 'x')").message().contains("BIGINT"));
    assert!(compile_err("SUBSTRING(s, 'x')")
        .message()
        .contains("integer"));
    assert!(compile_err("COALESCE(a, s)")
        .message()
        .contains("incompatible"));
}

#[test]
fn eval_ref_borrows_columns() {
    let e = try_compile("s").unwrap();
    let r = row();
    assert!(matches!(
        e.eval_ref(&r).unwrap(),
        std::borrow::Cow::Borrowed(_)
    ));
    // A short row is an error, not a panic.
    assert!(e.eval(&[]).is_err());
}

#[test]
fn decimal_arithmetic_is_exact_at_38_digits() {
    let text = |sql: &str| eval(sql).to_string();
    let big = "CAST('99999999999999999999999999.99' AS DECIMAL(38,2))";
    // 8 x (10^26 - 0.01) and (10^26 - 0.01) x 10^9 = 10^35 - 10^7, both exact.
    assert_eq!(
        text(&format!("{big} * 8")),
        "799999999999999999999999999.92"
    );
    assert_eq!(
        text(&format!("{big} * 1000000000")),
        "99999999999999999999999999990000000.00"
    );
    // (10^9 - 10^-10)^2 = 10^18 - 0.2 + 10^-20 at scale 20.
    let a = "CAST('999999999.9999999999' AS DECIMAL(38,10))";
    assert_eq!(
        text(&format!("{a} * {a}")),
        "999999999999999999.80000000000000000001"
    );
    assert!(matches!(
        try_compile(&format!("{a} * {a}")).unwrap().data_type(),
        DataType::Decimal { scale: 20, .. }
    ));
    // 2 / 3 at scale max(2, 0, 6) = 6, half away from zero.
    let two = "CAST('2.00' AS DECIMAL(10,2))";
    assert_eq!(text(&format!("{two} / 3")), "0.666667");
    assert_eq!(text(&format!("-{two} / 3")), "-0.666667");
    assert!(matches!(
        try_compile(&format!("{two} / 3")).unwrap().data_type(),
        DataType::Decimal { scale: 6, .. }
    ));
    // 10^37 x 10 = 10^38 needs 39 digits.
    let e37 = "CAST('10000000000000000000000000000000000000' AS DECIMAL(38,0))";
    assert!(matches!(
        try_eval(&format!("{e37} * 10")),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(
        try_eval(&format!("{e37} * 9 + {e37}")),
        Err(Error::Overflow { .. })
    ));
    assert_eq!(
        text(&format!("{e37} * 9 + ({e37} - 1)")),
        "99999999999999999999999999999999999999"
    );
    // A 38-digit integer literal is a DECIMAL; 39 digits is not a number Velo holds.
    assert_eq!(
        text("99999999999999999999999999999999999999 - 1"),
        "99999999999999999999999999999999999998"
    );
    assert!(try_compile("999999999999999999999999999999999999999").is_err());
}
