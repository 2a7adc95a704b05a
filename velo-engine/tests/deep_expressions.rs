//! No expression overflows a thread's stack: deeply nested and very long
//! expressions of every shape go through the parser, the planner, the
//! engine's compiler and evaluation on a thread with the stack job threads get
//! ([`velo_engine::THREAD_STACK_SIZE`]), and each either evaluates or is
//! refused with a positioned error. A chain of every operator at the depth
//! limit evaluates; one level more is refused naming the limit.
//!
//! The fuzz test is bounded: `PROPTEST_CASES` cases (16 unless set), each at
//! most 30,000 characters, and no new case after 20 s.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use velo_engine::query::QueryExecutor;
use velo_types::{Batch, DataType, Field, Schema, Value};

/// What one app did: its rows' `x` values, an evaluation error, or a
/// parse/plan/compile error with its line.
#[derive(Debug)]
enum Outcome {
    Rows(Vec<Value>),
    EvalError(#[allow(dead_code)] String),
    Refused { message: String, line: u64 },
}

fn batch() -> Batch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int),
        Field::new("b", DataType::Boolean),
        Field::new("s", DataType::String),
    ]));
    let values = vec![
        Value::Int(1),
        Value::Bool(true),
        Value::str("x"),
        Value::Int(0),
        Value::Bool(false),
        Value::Null,
    ];
    Batch::new(schema, values).unwrap()
}

/// Plans, compiles and runs `SELECT expr AS x FROM t` (or `... WHERE expr`
/// when `filter`) over [`batch`].
fn run(expr: &str, filter: bool) -> Outcome {
    let sql = if filter {
        format!("SELECT a AS x FROM t\nWHERE {expr}\nWITH ('t.type' = 'stdin_source')")
    } else {
        format!("SELECT {expr} AS x\nFROM t WITH ('t.type' = 'stdin_source')")
    };
    let plan = match velo_planner::plan_sql(&sql, &Default::default()) {
        Ok(mut plan) => plan.jobs.remove(0),
        Err(e) => {
            return Outcome::Refused {
                message: e.to_string(),
                line: e.span().start.line,
            }
        }
    };
    let batch = batch();
    let mut query = match QueryExecutor::new(&plan, batch.schema().clone()) {
        Ok(q) => q,
        Err(e) => {
            return Outcome::Refused {
                line: e.span().map_or(0, |s| s.start.line),
                message: e.to_string(),
            }
        }
    };
    match query.process(&batch) {
        Ok(out) => Outcome::Rows(
            out.map(|b| b.rows().map(|r| r[0].clone()).collect())
                .unwrap_or_default(),
        ),
        Err(e) => Outcome::EvalError(e.to_string()),
    }
}

/// Runs `f` on a thread with a job thread's stack: an overflow aborts the
/// test binary, so passing proves the bound.
fn on_job_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(velo_engine::THREAD_STACK_SIZE)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// A chain of `terms` terms of `term`, `levels` deep by construction.
struct Chain {
    op: &'static str,
    term: &'static str,
    /// Levels the first term takes (a column: 1), each further term adding one.
    first_levels: usize,
    filter: bool,
}

const CHAINS: &[Chain] = &[
    Chain {
        op: " OR ",
        term: "b",
        first_levels: 1,
        filter: true,
    },
    Chain {
        op: " AND ",
        term: "b",
        first_levels: 1,
        filter: true,
    },
    Chain {
        op: " + ",
        term: "a",
        first_levels: 1,
        filter: false,
    },
    Chain {
        op: " - ",
        term: "a",
        first_levels: 1,
        filter: false,
    },
    Chain {
        op: " * ",
        term: "a",
        first_levels: 1,
        filter: false,
    },
    Chain {
        op: " || ",
        term: "s",
        first_levels: 1,
        filter: false,
    },
    Chain {
        op: " = ",
        term: "b",
        first_levels: 1,
        filter: false,
    },
];

/// `levels` levels of `chain`: the first term, then `levels - first` more.
fn chain(c: &Chain, levels: usize) -> String {
    let mut text = c.term.to_string();
    for _ in c.first_levels..levels {
        text.push_str(c.op);
        text.push_str(c.term);
    }
    text
}

#[test]
fn a_chain_of_every_operator_at_the_limit_evaluates_and_one_more_level_is_refused() {
    on_job_stack(|| {
        for c in CHAINS {
            let at = run(&chain(c, velo_ast::MAX_EXPR_DEPTH), c.filter);
            assert!(
                matches!(at, Outcome::Rows(_)),
                "{} at the limit: {at:?}",
                c.op
            );
            let past = run(&chain(c, velo_ast::MAX_EXPR_DEPTH + 1), c.filter);
            match past {
                Outcome::Refused { message, line } => {
                    assert!(message.contains("more than 1024 levels"), "{message}");
                    assert_eq!(line, if c.filter { 2 } else { 1 });
                }
                other => panic!("{} past the limit: {other:?}", c.op),
            }
        }
        // Casts and IS NULL chain as postfix operators, NOT and minus as
        // prefix ones (these nest in sqlparser's recursion, whose own limit
        // refuses them first).
        let casts = format!("a{}", "::BIGINT".repeat(velo_ast::MAX_EXPR_DEPTH - 1));
        assert!(matches!(run(&casts, false), Outcome::Rows(_)));
        let nots = format!("{}b", "NOT ".repeat(200));
        assert!(matches!(run(&nots, true), Outcome::Refused { line: 2, .. }));
    });
}

#[test]
fn the_sum_at_the_limit_is_the_right_value() {
    let out = on_job_stack(|| run(&chain(&CHAINS[2], velo_ast::MAX_EXPR_DEPTH), false));
    // a + a + ... (1024 terms) for a = 1 and a = 0.
    match out {
        Outcome::Rows(rows) => assert_eq!(rows, [Value::Int(1024), Value::Int(0)]),
        other => panic!("{other:?}"),
    }
}

/// One generated expression shape, rendered to SQL by [`render`].
#[derive(Debug, Clone)]
enum Shape {
    Leaf(&'static str),
    /// `t op t op ...`: a left-deep chain.
    Chain(&'static str, Box<Shape>, usize),
    /// `t op (t op (...))`: a right-deep chain through parentheses.
    RightChain(&'static str, Box<Shape>, usize),
    /// `wrap(wrap(... inner ...))`, `depth` times.
    Nest(Wrap, Box<Shape>, usize),
}

#[derive(Debug, Clone, Copy)]
enum Wrap {
    Parens,
    Not,
    Minus,
    Abs,
    Coalesce,
    Case,
    Cast,
}

fn render(shape: &Shape, out: &mut String) {
    match shape {
        Shape::Leaf(l) => out.push_str(l),
        Shape::Chain(op, term, n) => {
            for i in 0..*n {
                if i > 0 {
                    out.push_str(op);
                }
                render(term, out);
            }
        }
        Shape::RightChain(op, term, n) => {
            for _ in 1..*n {
                render(term, out);
                out.push_str(op);
                out.push('(');
            }
            render(term, out);
            for _ in 1..*n {
                out.push(')');
            }
        }
        Shape::Nest(wrap, inner, depth) => {
            let (open, close) = match wrap {
                Wrap::Parens => ("(", ")"),
                Wrap::Not => ("NOT ", ""),
                Wrap::Minus => ("- ", ""),
                Wrap::Abs => ("abs(", ")"),
                Wrap::Coalesce => ("coalesce(a, ", ")"),
                Wrap::Case => ("CASE WHEN b THEN ", " ELSE 0 END"),
                Wrap::Cast => ("CAST(", " AS BIGINT)"),
            };
            for _ in 0..*depth {
                out.push_str(open);
            }
            render(inner, out);
            for _ in 0..*depth {
                out.push_str(close);
            }
        }
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf =
        prop::sample::select(vec!["a", "b", "s", "1", "true", "'x'", "NULL"]).prop_map(Shape::Leaf);
    let op = prop::sample::select(vec![
        " OR ", " AND ", " + ", " - ", " * ", " / ", " % ", " || ", " = ", " < ", " <> ",
    ]);
    let wrap = prop::sample::select(vec![
        Wrap::Parens,
        Wrap::Not,
        Wrap::Minus,
        Wrap::Abs,
        Wrap::Coalesce,
        Wrap::Case,
        Wrap::Cast,
    ]);
    leaf.prop_recursive(3, 64, 2, move |inner| {
        prop_oneof![
            // Long chains: around the limit and far past it.
            (op.clone(), inner.clone(), 1usize..1300).prop_map(|(o, t, n)| Shape::Chain(
                o,
                Box::new(t),
                n
            )),
            (op.clone(), inner.clone(), 1usize..80).prop_map(|(o, t, n)| Shape::RightChain(
                o,
                Box::new(t),
                n
            )),
            (wrap.clone(), inner, 1usize..80).prop_map(|(w, i, d)| Shape::Nest(w, Box::new(i), d)),
        ]
    })
}

#[test]
fn fuzz_deep_and_long_expressions_never_overflow() {
    on_job_stack(|| {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(16);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            max_global_rejects: 100_000,
            ..Config::default()
        });
        runner
            .run(&(shape(), any::<bool>()), |(shape, filter)| {
                // Bounded in time: once 20 s have passed, the remaining cases pass
                // untried. (Rejecting them instead made proptest generate up to
                // `max_global_rejects` more shapes: many minutes in a debug build.)
                if std::time::Instant::now() >= deadline {
                    return Ok(());
                }
                let mut sql = String::new();
                render(&shape, &mut sql);
                // A few tens of thousands of tokens at most, to bound the time.
                prop_assume!(sql.len() <= 30_000);
                match run(&sql, filter) {
                    Outcome::Rows(_) | Outcome::EvalError(_) => {}
                    Outcome::Refused { message, line } => {
                        if line == 0 {
                            return Err(TestCaseError::fail(format!(
                                "unpositioned error: {message}"
                            )));
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
    });
}
