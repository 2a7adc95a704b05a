//! Refusing a strategy that would break a query's semantics (SPEC §5), with the
//! planner's rules.

use velo_ast::Expr;
use velo_planner::{QueryAnalysis, StrategyKind};

use crate::error::{Error, Result};

/// True when the source's declared partition key (`NAME.partition.key`, column
/// names) equals the query's GROUP BY columns as a set, ignoring ASCII case; a
/// query without GROUP BY columns is never aligned.
pub fn is_aligned(analysis: &QueryAnalysis, source_partition_key: Option<&[String]>) -> bool {
    let Some(pk) = source_partition_key else {
        return false;
    };
    let cols: Vec<&str> = analysis.group_keys.iter().filter_map(column_name).collect();
    !cols.is_empty()
        && cols
            .iter()
            .all(|c| pk.iter().any(|p| p.eq_ignore_ascii_case(c)))
        && pk
            .iter()
            .all(|p| cols.iter().any(|c| p.eq_ignore_ascii_case(c)))
}

fn column_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Identifier(id) => Some(&id.value),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.as_str()),
        _ => None,
    }
}

/// Checks that `kind` can run a query with this analysis (`order_by`: the query
/// has ORDER BY; `source_partition_key`: the columns the source declares it is
/// partitioned by). The rules are the planner's:
/// - `round_robin` is refused for a stateful query (a key's records would be
///   split across partitions) and for a query with ORDER BY;
/// - `sticky_partition` is refused for a stateful query unless the source is
///   partitioned by the GROUP BY key ([`is_aligned`]);
/// - `always_hash` and `smart_repartition` are refused for a stateful query with
///   no key to hash on (GROUP BY keys, or the ROWS window's PARTITION BY);
/// - `fan_in` runs everything.
pub fn validate(
    kind: StrategyKind,
    analysis: &QueryAnalysis,
    order_by: bool,
    source_partition_key: Option<&[String]>,
) -> Result<()> {
    let refuse = |reason: &str| -> Result<()> {
        Err(Error::Invalid {
            strategy: kind.name().to_string(),
            reason: reason.to_string(),
        })
    };
    let has_keys = match &analysis.rows_window {
        Some(rw) => !rw.partition_by.is_empty(),
        None => !analysis.group_keys.is_empty(),
    };
    match kind {
        StrategyKind::RoundRobin if analysis.stateful => refuse(
            "it keeps state per key, and round_robin would split a key's records across partitions",
        ),
        StrategyKind::RoundRobin if order_by => {
            refuse("it has ORDER BY, and round_robin does not keep order")
        }
        StrategyKind::StickyPartition
            if analysis.stateful && !is_aligned(analysis, source_partition_key) =>
        {
            refuse(
                "it keeps state per key and the source does not declare a matching 'partition.key'",
            )
        }
        StrategyKind::AlwaysHash | StrategyKind::SmartRepartition
            if analysis.stateful && !has_keys =>
        {
            refuse("it keeps state without a key to hash on; use fan_in")
        }
        _ => Ok(()),
    }
}
