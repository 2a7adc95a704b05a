//! Partitioning strategies: what a query needs of its routing, the automatic
//! choice of SPEC §5, and the one set of rules that refuses a strategy which
//! would break a query's semantics.

use sqlparser::ast::Expr;
use velo_types::Schema;
pub use velo_types::StrategyKind;

use crate::analysis::{column_name, QueryAnalysis};

/// The strategy a job runs with, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyChoice {
    pub kind: StrategyKind,
    /// Column names (or expression texts) the records are routed by; empty when the
    /// strategy does not hash.
    pub keys: Vec<String>,
    /// One line for `explain`.
    pub reason: String,
}

/// What decides which strategies can run a query, resolved from the SQL once at
/// plan time so that the runtime never looks at syntax again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingNeeds {
    /// The query keeps state per key (or globally).
    pub stateful: bool,
    /// The query has ORDER BY.
    pub order_by: bool,
    /// The query has LIMIT.
    pub limit: bool,
    /// The key a record's state belongs to, as SQL text: the ROWS window's
    /// PARTITION BY, else the GROUP BY expressions.
    pub key_texts: Vec<String>,
    /// The same keys as column names; `None` for a key that is computed.
    pub key_columns: Vec<Option<String>>,
    /// Where the keys come from, for `explain`: "the GROUP BY key" or "the ROWS
    /// window's PARTITION BY".
    pub key_source: &'static str,
    /// The source declares (`NAME.partition.key`) that it is partitioned by
    /// exactly the GROUP BY columns, compared as sets ignoring ASCII case.
    pub aligned: bool,
    /// A later stage (the query over this one's rows) aggregates, sorts or
    /// limits them all together: only one partition sees every row it needs.
    pub downstream_needs_all_rows: bool,
    /// A join of two streams: the right input's key columns, in the order of
    /// `key_columns` (both inputs are routed by the join key). Empty
    /// otherwise.
    pub right_key_columns: Vec<Option<String>>,
    /// A join of two streams whose rows are then aggregated by a key that
    /// does not include the join key (or by none): one partition sees them
    /// all.
    pub join_needs_one_partition: bool,
    /// Records are routed by the plain columns among the keys only (some keys
    /// are computed, `DATE_FORMAT(ts, ...)` say): a group's rows still share
    /// a partition, but the router's hash is not the state's whole key, so a
    /// checkpoint cannot be spread over another partition count by it.
    pub key_subset: bool,
}

impl RoutingNeeds {
    /// Reads the needs off the analysed query; `partition_key` is the source's
    /// declared partition key. `join_qualifier` is the stream's qualifier when
    /// the query joins tables: a key is then a column of the stream's records
    /// only when it is bare or qualified by it (a bare column of a table is
    /// not in the source's schema, so V2 then runs one partition).
    pub fn new(
        analysis: &QueryAnalysis,
        order_by: bool,
        limit: bool,
        partition_key: Option<&[String]>,
        join_qualifier: Option<&str>,
    ) -> RoutingNeeds {
        let (keys, key_source) = match &analysis.rows_window {
            Some(rw) => (&rw.partition_by, "the ROWS window's PARTITION BY"),
            None => (&analysis.group_keys, "the GROUP BY key"),
        };
        let source_column = |e: &Expr| match (join_qualifier, e) {
            (None, _) | (Some(_), Expr::Identifier(_)) => column_name(e),
            (Some(q), Expr::CompoundIdentifier(ids))
                if ids.len() == 2 && ids[0].value.eq_ignore_ascii_case(q) =>
            {
                Some(ids[1].value.clone())
            }
            _ => None,
        };
        let group_columns: Vec<String> = analysis
            .group_keys
            .iter()
            .filter_map(source_column)
            .collect();
        let aligned = partition_key.is_some_and(|pk| {
            !group_columns.is_empty()
                && group_columns
                    .iter()
                    .all(|c| pk.iter().any(|p| p.eq_ignore_ascii_case(c)))
                && pk
                    .iter()
                    .all(|p| group_columns.iter().any(|c| p.eq_ignore_ascii_case(c)))
        });
        RoutingNeeds {
            stateful: analysis.stateful,
            order_by,
            limit,
            key_texts: keys.iter().map(|e| e.to_string()).collect(),
            key_columns: keys.iter().map(source_column).collect(),
            key_source,
            aligned,
            downstream_needs_all_rows: false,
            right_key_columns: Vec::new(),
            join_needs_one_partition: false,
            key_subset: false,
        }
    }

    /// A join of two streams keeps state per join key: both inputs are routed
    /// by it. A GROUP BY or PARTITION BY over the joined rows keeps that
    /// routing when its key includes the join key (every group then lies in
    /// one partition); otherwise the job runs on one partition.
    pub fn route_by_join_key(&mut self, join: &crate::join::StreamJoinPlan, left_qualifier: &str) {
        let (left, right) = join.key_columns(left_qualifier);
        let covered = !self.stateful
            || (!self.key_texts.is_empty()
                && join.keys.iter().all(|(l, r)| {
                    let (l, r) = (l.to_string(), r.to_string());
                    self.key_texts
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(&l) || k.eq_ignore_ascii_case(&r))
                }));
        self.stateful = true;
        self.aligned = false;
        self.join_needs_one_partition = !covered;
        self.key_texts = join.keys.iter().map(|(l, _)| l.to_string()).collect();
        self.key_columns = left;
        self.right_key_columns = right;
        self.key_source = "the join key";
    }

    /// When some keys are computed and others are plain columns, routes by
    /// the plain ones (see [`RoutingNeeds::key_subset`]); when every key is
    /// computed, nothing changes (the job runs on one partition).
    pub fn route_by_plain_key_subset(&mut self) {
        let plain = self.key_columns.iter().filter(|c| c.is_some()).count();
        if plain == 0 || plain == self.key_columns.len() {
            return;
        }
        let (texts, columns): (Vec<_>, Vec<_>) = self
            .key_texts
            .drain(..)
            .zip(self.key_columns.drain(..))
            .filter(|(_, c)| c.is_some())
            .unzip();
        self.key_texts = texts;
        self.key_columns = columns;
        self.key_subset = true;
    }

    /// A join reading a subquery on one side or both: each key column of a
    /// subquery's rows maps to the source column it passes through, when it
    /// is a plain column that the subquery's state is kept by (any column of
    /// a stateless one), so the source's records can be routed by it; a key
    /// pair that does not map on both sides is left out of the routing (the
    /// rows of a full key still meet: they share the others). With none left,
    /// or a subquery of several stages or one that needs one partition, the
    /// job runs on one partition.
    pub fn route_through_stages(
        &mut self,
        left: Option<&crate::JobPlan>,
        right: Option<&crate::JobPlan>,
    ) {
        fn through(stage: Option<&crate::JobPlan>, col: &Option<String>) -> Option<String> {
            let Some(stage) = stage else {
                return col.clone();
            };
            if !stage.downstream.is_empty() || stage.routing.needs_one_partition() {
                return None;
            }
            let col = col.as_deref()?;
            let mut wildcard = false;
            let expr = stage.query().projection.iter().find_map(|item| match item {
                velo_ast::SelectItem::Expr { expr, alias, .. }
                    if crate::plan::output_name(expr, alias.as_ref()).eq_ignore_ascii_case(col) =>
                {
                    Some(expr)
                }
                velo_ast::SelectItem::Wildcard { .. } => {
                    wildcard = true;
                    None
                }
                _ => None,
            });
            let raw = match expr {
                Some(e) => column_name(e)?,
                None if wildcard => col.to_string(),
                None => return None,
            };
            let keyed = !stage.analysis.stateful
                || stage
                    .routing
                    .key_columns
                    .iter()
                    .flatten()
                    .any(|k| k.eq_ignore_ascii_case(&raw));
            keyed.then_some(raw)
        }
        let mut keep = Vec::new();
        for i in 0..self.key_columns.len() {
            let l = through(left, &self.key_columns[i]);
            let r = through(right, self.right_key_columns.get(i).unwrap_or(&None));
            if let (Some(l), Some(r)) = (l, r) {
                keep.push((i, l, r));
            }
        }
        if keep.is_empty() {
            self.join_needs_one_partition = true;
            return;
        }
        self.key_texts = keep
            .iter()
            .map(|(i, _, _)| self.key_texts[*i].clone())
            .collect();
        self.key_columns = keep.iter().map(|(_, l, _)| Some(l.clone())).collect();
        self.right_key_columns = keep.into_iter().map(|(_, _, r)| Some(r)).collect();
    }

    /// Why `kind` cannot run this query, or `None` when it can:
    /// - `round_robin` is refused for a stateful query (a key's records would be
    ///   split across partitions) and for a query with ORDER BY;
    /// - `sticky_partition` is refused for a stateful query unless the source is
    ///   partitioned by the GROUP BY key ([`RoutingNeeds::aligned`]);
    /// - `always_hash` and `smart_repartition` are refused for a stateful query
    ///   with no key to hash on;
    /// - `fan_in` runs everything.
    pub fn refusal(&self, kind: StrategyKind) -> Option<&'static str> {
        match kind {
            StrategyKind::RoundRobin if self.stateful => Some(
                "it keeps state per key, and round_robin would split a key's records across partitions",
            ),
            StrategyKind::RoundRobin if self.order_by => {
                Some("it has ORDER BY, and round_robin does not keep order")
            }
            StrategyKind::StickyPartition if self.stateful && !self.aligned => Some(
                "it keeps state per key and the source does not declare a matching 'partition.key'",
            ),
            StrategyKind::AlwaysHash | StrategyKind::SmartRepartition
                if self.stateful && self.key_texts.is_empty() =>
            {
                Some("it keeps state without a key to hash on; use fan_in")
            }
            _ => None,
        }
    }

    /// [`RoutingNeeds::refusal`] as the user-facing message:
    /// `partitioning_strategy 'K' cannot run this query: WHY`.
    pub fn check(&self, kind: StrategyKind) -> Result<(), String> {
        match self.refusal(kind) {
            None => Ok(()),
            Some(why) => Err(format!(
                "partitioning_strategy '{kind}' cannot run this query: {why}"
            )),
        }
    }

    /// ORDER BY and LIMIT are global, or per emitted window over a window's
    /// groups, which are hashed across partitions: only one partition keeps
    /// them exact.
    pub fn needs_one_partition(&self) -> bool {
        self.order_by
            || self.limit
            || self.downstream_needs_all_rows
            || self.join_needs_one_partition
    }

    /// The right input's key columns' indices in `schema` (a join of two
    /// streams), if every key is a plain column of it.
    pub fn right_key_indices(&self, schema: &Schema) -> Option<Vec<usize>> {
        self.right_key_columns
            .iter()
            .map(|c| c.as_deref().and_then(|c| schema.index_of(c)))
            .collect()
    }

    /// The key columns' indices in `schema`, if every key is a plain column of it.
    pub fn key_indices(&self, schema: &Schema) -> Option<Vec<usize>> {
        self.key_columns
            .iter()
            .map(|c| c.as_deref().and_then(|c| schema.index_of(c)))
            .collect()
    }

    /// SPEC §5's automatic choice.
    pub fn auto(&self) -> StrategyChoice {
        if self.stateful {
            if self.key_texts.is_empty() {
                StrategyChoice {
                    kind: StrategyKind::FanIn,
                    keys: vec![],
                    reason: "stateful query without a key: all records must meet in one partition"
                        .to_string(),
                }
            } else if self.aligned {
                StrategyChoice {
                    kind: StrategyKind::SmartRepartition,
                    keys: self.key_texts.clone(),
                    reason: "the source is already partitioned by the GROUP BY key".to_string(),
                }
            } else {
                StrategyChoice {
                    kind: StrategyKind::AlwaysHash,
                    keys: self.key_texts.clone(),
                    reason: format!("stateful query: records are hashed on {}", self.key_source),
                }
            }
        } else if self.order_by {
            StrategyChoice {
                kind: StrategyKind::StickyPartition,
                keys: vec![],
                reason: "stateless query with ORDER BY: each source partition keeps its order"
                    .to_string(),
            }
        } else {
            StrategyChoice {
                kind: StrategyKind::RoundRobin,
                keys: vec![],
                reason: "stateless query: batches are dealt in turn for throughput".to_string(),
            }
        }
    }

    /// The choice for an explicitly set strategy that [`RoutingNeeds::check`]
    /// accepted.
    pub fn explicit(&self, kind: StrategyKind) -> StrategyChoice {
        let hashes = matches!(
            kind,
            StrategyKind::AlwaysHash | StrategyKind::SmartRepartition
        );
        StrategyChoice {
            kind,
            keys: if hashes {
                self.key_texts.clone()
            } else {
                vec![]
            },
            reason: "set by partitioning_strategy".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{plan_sql, JobPlan};

    const KINDS: [StrategyKind; 5] = [
        StrategyKind::AlwaysHash,
        StrategyKind::SmartRepartition,
        StrategyKind::StickyPartition,
        StrategyKind::RoundRobin,
        StrategyKind::FanIn,
    ];

    fn plan(query: &str, extra: &str) -> crate::Result<JobPlan> {
        let sql =
            format!("{query} WITH ('src.type' = 'file_source', 'src.path' = 'in.csv'{extra})");
        plan_sql(&sql, &Default::default()).map(|p| p.jobs.into_iter().next().unwrap())
    }

    #[test]
    fn computed_keys_leave_the_plain_ones_to_route_by() {
        let p = plan(
            "SELECT a, UPPER(b), COUNT(*) FROM src GROUP BY UPPER(b), a",
            "",
        )
        .unwrap();
        assert_eq!(p.routing.key_columns, [Some("a".to_string())]);
        assert_eq!(p.routing.key_texts, ["a"]);
        assert!(p.routing.key_subset);
        // Every key computed: nothing to route by, as before.
        let p = plan("SELECT UPPER(b), COUNT(*) FROM src GROUP BY UPPER(b)", "").unwrap();
        assert_eq!(p.routing.key_columns, [None]);
        assert!(!p.routing.key_subset);
        let p = plan("SELECT a, COUNT(*) FROM src GROUP BY a", "").unwrap();
        assert!(!p.routing.key_subset);
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

    const KEYS: [&str; 5] = [
        "",
        ", 'src.partition.key' = 'A'",
        ", 'src.partition.key' = 'b,a'",
        ", 'src.partition.key' = 'c'",
        ", 'src.partition.key' = 'a,c'",
    ];

    /// The run-time check of a forced strategy (`--strategy`, `serve`) and the
    /// plan-time check of `partitioning_strategy` are the same rules.
    #[test]
    fn run_time_check_agrees_with_plan_time_refusal() {
        let mut checked = 0;
        for q in QUERIES {
            for key in KEYS {
                let auto = plan(q, key).unwrap_or_else(|e| panic!("{q}: {e}"));
                // The automatic choice is always valid.
                auto.routing.check(auto.strategy.kind).unwrap();
                for kind in KINDS {
                    let explicit = plan(q, &format!("{key}, 'partitioning_strategy' = '{kind}'"));
                    match (&explicit, auto.routing.check(kind)) {
                        (Ok(p), Ok(())) => assert_eq!(p.strategy.kind, kind),
                        (Err(planner), Err(mine)) => {
                            assert_eq!(planner.to_string(), mine, "{q} {key} {kind}")
                        }
                        (explicit, ours) => {
                            panic!("{q} {key} {kind}: planner {explicit:?}, check {ours:?}")
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, QUERIES.len() * KEYS.len() * KINDS.len());
    }

    #[test]
    fn clear_refusals() {
        let grouped = plan("SELECT a, COUNT(*) AS n FROM src GROUP BY a", "").unwrap();
        let err = grouped.routing.check(StrategyKind::RoundRobin).unwrap_err();
        assert_eq!(
            err,
            "partitioning_strategy 'round_robin' cannot run this query: it keeps state per key, and round_robin would split a key's records across partitions"
        );

        let ordered = plan("SELECT a FROM src ORDER BY a", "").unwrap();
        let err = ordered.routing.check(StrategyKind::RoundRobin).unwrap_err();
        assert!(err.ends_with("it has ORDER BY, and round_robin does not keep order"));
        ordered
            .routing
            .check(StrategyKind::StickyPartition)
            .unwrap();

        let err = grouped
            .routing
            .check(StrategyKind::StickyPartition)
            .unwrap_err();
        assert!(err.contains("partition.key"), "{err}");
        let aligned = plan(
            "SELECT a, COUNT(*) AS n FROM src GROUP BY a",
            ", 'src.partition.key' = 'a'",
        )
        .unwrap();
        assert!(aligned.routing.aligned);
        aligned
            .routing
            .check(StrategyKind::StickyPartition)
            .unwrap();

        let keyless = plan("SELECT COUNT(*) AS n FROM src", "").unwrap();
        let err = keyless.routing.check(StrategyKind::AlwaysHash).unwrap_err();
        assert!(err.ends_with("use fan_in"), "{err}");
        keyless.routing.check(StrategyKind::FanIn).unwrap();
    }

    #[test]
    fn alignment_compares_sets_of_group_by_columns() {
        let aligned = |q: &str, key: &str| {
            plan(q, &format!(", 'src.partition.key' = '{key}'"))
                .unwrap()
                .routing
                .aligned
        };
        let by_a = "SELECT a, COUNT(*) AS n FROM src GROUP BY a";
        let by_ab = "SELECT a, b, COUNT(*) AS n FROM src GROUP BY a, b";
        assert!(aligned(by_a, "A"));
        assert!(aligned(by_ab, "b,a"));
        // The source partitioned by more columns than the key: one key's records
        // can sit in several source partitions.
        assert!(!aligned(by_a, "a,b"));
        assert!(!aligned(by_ab, "a"));
        // A key named twice is still the set {a}, which is not {a, b}.
        assert!(!aligned(
            "SELECT a, COUNT(*) AS n FROM src GROUP BY a, a",
            "a,b"
        ));
    }

    #[test]
    fn key_columns_resolve_to_indices_only_when_plain() {
        let schema = Schema::new(vec![
            velo_types::Field::new("a", velo_types::DataType::Int),
            velo_types::Field::new("b", velo_types::DataType::Int),
        ]);
        let plain = plan("SELECT b, a, COUNT(*) AS n FROM src GROUP BY b, a", "").unwrap();
        assert_eq!(plain.routing.key_indices(&schema), Some(vec![1, 0]));
        let computed = plan("SELECT a + 1, COUNT(*) AS n FROM src GROUP BY a + 1", "").unwrap();
        assert_eq!(computed.routing.key_columns, vec![None]);
        assert_eq!(computed.routing.key_indices(&schema), None);
    }
}
