//! SPEC §6: the engine used as a library, over the caller's own batches, with no
//! server, runtime or IO; and the planner's function catalogue agreeing with what
//! the engine implements.

use std::sync::Arc;

use velo_engine::aggregate::AggregateKind;
use velo_engine::expr::ScalarFunction;
use velo_engine::query::QueryExecutor;
use velo_planner::catalog::{AGGREGATES, SCALARS};
use velo_types::{Batch, DataType, Field, Schema, Value};

fn trades() -> Batch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("sym", DataType::String),
        Field::new("qty", DataType::Int),
    ]));
    let rows = [("A", 10), ("B", 5), ("A", 7), ("C", 0), ("B", 1)];
    let values = rows
        .iter()
        .flat_map(|(s, q)| [Value::str(s), Value::Int(*q)])
        .collect();
    Batch::new(schema, values).unwrap()
}

fn plan(sql: &str) -> velo_planner::JobPlan {
    let sql = format!("{sql} WITH ('t.type' = 'stdin_source')");
    velo_planner::plan_sql(&sql, &Default::default())
        .unwrap()
        .jobs
        .remove(0)
}

fn rows(batch: Option<Batch>) -> Vec<Vec<Value>> {
    batch.map_or_else(Vec::new, |b| b.rows().map(<[Value]>::to_vec).collect())
}

#[test]
fn every_catalogue_function_is_implemented() {
    for name in AGGREGATES {
        assert!(AggregateKind::from_name(name).is_some(), "aggregate {name}");
    }
    // Some scalars compile to operators (MOD is `%`), so check through the compiler:
    // with some arity, the call must compile or fail for a reason other than the name.
    let schema = Schema::default();
    let scope = velo_engine::expr::Scope::new(&schema);
    for name in SCALARS {
        let known = ["", "1", "1, 2", "1, 2, 3"].iter().any(|args| {
            let sql = format!("{name}({args})");
            // A parse error (TRIM() is not even syntax) says "cannot parse".
            match velo_planner::bind::bind_sql(&sql, &scope) {
                Ok(_) => true,
                Err(e) => {
                    let m = e.to_string();
                    !m.contains("unknown function") && !m.contains("cannot parse")
                }
            }
        });
        assert!(
            known || ScalarFunction::from_name(name).is_some(),
            "scalar {name}"
        );
    }
}

#[test]
fn group_by_emit_changes_emits_each_updated_group() {
    let input = trades();
    let mut q = QueryExecutor::new(
        &plan("SELECT sym, SUM(qty) AS total FROM t GROUP BY sym"),
        input.schema().clone(),
    )
    .unwrap();
    let out = rows(q.process(&input).unwrap());
    let expect: Vec<Vec<Value>> = [("A", 10), ("B", 5), ("A", 17), ("C", 0), ("B", 6)]
        .iter()
        .map(|(s, n)| vec![Value::str(s), Value::Int(*n)])
        .collect();
    assert_eq!(out, expect);
    assert!(rows(q.finish().unwrap()).is_empty());
    assert_eq!(q.group_count(), 3);
}

#[test]
fn having_filters_final_groups_and_failures_are_counted() {
    let input = trades();
    let mut q = QueryExecutor::new(
        &plan("SELECT sym, COUNT(*) AS n FROM t WHERE 10 / qty > 0 GROUP BY sym HAVING COUNT(*) > 1 EMIT FINAL"),
        input.schema().clone(),
    )
    .unwrap();
    assert!(rows(q.process(&input).unwrap()).is_empty());
    let out = rows(q.finish().unwrap());
    // C's only row divides by zero: it fails, is counted, and its group never forms.
    assert_eq!(
        out,
        vec![
            vec![Value::str("A"), Value::Int(2)],
            vec![Value::str("B"), Value::Int(2)]
        ]
    );
    let c = q.counters();
    assert_eq!((c.rows_in, c.failed, c.filtered, c.rows_out), (5, 1, 0, 2));
    assert_eq!(q.take_failures().len(), 1);
}

#[test]
fn a_group_column_selected_twice_is_emitted_twice() {
    // Plain columns of the group row are moved into the output row when each
    // appears once; a repeated one must be copied, not moved out and lost.
    let input = trades();
    let mut q = QueryExecutor::new(
        &plan(
            "SELECT sym, SUM(qty) AS total, sym AS again, SUM(qty) AS total2 FROM t GROUP BY sym",
        ),
        input.schema().clone(),
    )
    .unwrap();
    let out = rows(q.process(&input).unwrap());
    let expect: Vec<Vec<Value>> = [("A", 10), ("B", 5), ("A", 17), ("C", 0), ("B", 6)]
        .iter()
        .map(|(s, n)| vec![Value::str(s), Value::Int(*n), Value::str(s), Value::Int(*n)])
        .collect();
    assert_eq!(out, expect);
}
