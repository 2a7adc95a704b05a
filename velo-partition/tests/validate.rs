//! Validation of a strategy against a query, checked against the planner itself.

use velo_partition::{is_aligned, validate, Error, StrategyKind};
use velo_planner::{plan_sql, JobPlan};

const KINDS: [StrategyKind; 5] = [
    StrategyKind::AlwaysHash,
    StrategyKind::SmartRepartition,
    StrategyKind::StickyPartition,
    StrategyKind::RoundRobin,
    StrategyKind::FanIn,
];

fn plan(query: &str, extra: &str) -> Result<JobPlan, velo_planner::Error> {
    let sql = format!("{query} WITH ('src.type' = 'file_source', 'src.path' = 'in.csv'{extra})");
    plan_sql(&sql, &Default::default()).map(|p| p.jobs.into_iter().next().unwrap())
}

fn check(kind: StrategyKind, p: &JobPlan) -> velo_partition::Result<()> {
    validate(
        kind,
        &p.analysis,
        !p.query().order_by.is_empty(),
        p.source.partition_key.as_deref(),
    )
}

const QUERIES: [&str; 7] = [
    "SELECT a, b FROM src",
    "SELECT a, b FROM src ORDER BY a",
    "SELECT a, COUNT(*) AS n FROM src GROUP BY a",
    "SELECT a, b, COUNT(*) AS n FROM src GROUP BY a, b",
    "SELECT COUNT(*) AS n FROM src",
    "SELECT a, COUNT(*) AS n FROM src GROUP BY a WINDOW TUMBLING(ts, 1m)",
    "SELECT a, SUM(x) OVER (ROWS WINDOW BUFFER 10 ROWS PARTITION BY a ORDER BY t) AS s FROM src",
];

const KEYS: [&str; 4] = [
    "",
    ", 'src.partition.key' = 'A'",
    ", 'src.partition.key' = 'b,a'",
    ", 'src.partition.key' = 'c'",
];

#[test]
fn agrees_with_the_planner_on_every_query_and_strategy() {
    let mut checked = 0;
    for q in QUERIES {
        for key in KEYS {
            let auto = plan(q, key).unwrap_or_else(|e| panic!("{q}: {e}"));
            // The automatic choice is always valid.
            check(auto.strategy.kind, &auto).unwrap();
            for kind in KINDS {
                let explicit = plan(q, &format!("{key}, 'partitioning_strategy' = '{kind}'"));
                let ours = check(kind, &auto);
                match (&explicit, &ours) {
                    (Ok(_), Ok(())) => {}
                    (Err(planner), Err(mine)) => {
                        assert_eq!(planner.to_string(), mine.to_string(), "{q} {key} {kind}")
                    }
                    _ => panic!("{q} {key} {kind}: planner {explicit:?}, validate {ours:?}"),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, QUERIES.len() * KEYS.len() * KINDS.len());
}

#[test]
fn clear_errors() {
    let grouped = plan("SELECT a, COUNT(*) AS n FROM src GROUP BY a", "").unwrap();
    let err = check(StrategyKind::RoundRobin, &grouped).unwrap_err();
    assert!(matches!(&err, Error::Invalid { strategy, .. } if strategy == "round_robin"));
    assert!(err.to_string().contains("split a key's records"), "{err}");

    let ordered = plan("SELECT a FROM src ORDER BY a", "").unwrap();
    let err = check(StrategyKind::RoundRobin, &ordered).unwrap_err();
    assert!(err.to_string().contains("ORDER BY"), "{err}");
    check(StrategyKind::StickyPartition, &ordered).unwrap();

    let err = check(StrategyKind::StickyPartition, &grouped).unwrap_err();
    assert!(err.to_string().contains("partition.key"), "{err}");
    let aligned = plan(
        "SELECT a, COUNT(*) AS n FROM src GROUP BY a",
        ", 'src.partition.key' = 'a'",
    )
    .unwrap();
    assert!(is_aligned(
        &aligned.analysis,
        aligned.source.partition_key.as_deref()
    ));
    check(StrategyKind::StickyPartition, &aligned).unwrap();

    let keyless = plan("SELECT COUNT(*) AS n FROM src", "").unwrap();
    let err = check(StrategyKind::AlwaysHash, &keyless).unwrap_err();
    assert!(err.to_string().contains("use fan_in"), "{err}");
    check(StrategyKind::FanIn, &keyless).unwrap();
}
