//! The job as a tree of operators, source at the leaf and sink at the root:
//! what `explain` shows, each operator with its keys and whether its output is
//! append-only or updating.
//!
//! Today every job is a chain (one input per operator); joins and nested
//! queries give operators more than one input, which is why [`PlanNode`] holds
//! its inputs rather than being a list.

use velo_ast::{EmitMode, SelectItem};

use crate::{JobPlan, TimeWindowKind};

/// Whether an operator's output rows are final (append-only) or may be
/// updated by later rows for the same key (updating: an EMIT CHANGES
/// aggregate). An updating input cannot feed an aggregate or a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    AppendOnly,
    Updating,
}

impl OutputKind {
    pub fn name(self) -> &'static str {
        match self {
            OutputKind::AppendOnly => "append-only",
            OutputKind::Updating => "updating",
        }
    }
}

/// One operator of a job's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanNode {
    /// `scan`, `filter`, `aggregate`, `time_window`, `rows_window`, `project`,
    /// `order_limit` or `sink`.
    pub operator: &'static str,
    /// What the operator does, as written (`WHERE qty > 5`, `TUMBLING 60000 ms on ts`).
    pub detail: String,
    /// The keys its state is kept by (GROUP BY, PARTITION BY), as written.
    pub keys: Vec<String>,
    /// `None` for the sink, which has no output rows.
    pub output: Option<OutputKind>,
    pub inputs: Vec<PlanNode>,
}

impl PlanNode {
    fn on(
        input: PlanNode,
        operator: &'static str,
        detail: String,
        keys: Vec<String>,
        output: Option<OutputKind>,
    ) -> PlanNode {
        PlanNode {
            operator,
            detail,
            keys,
            output,
            inputs: vec![input],
        }
    }

    /// The output kind of this node's (first) input.
    fn input_output(&self) -> OutputKind {
        self.output.unwrap_or(OutputKind::AppendOnly)
    }
}

fn texts<T: std::fmt::Display>(items: &[T]) -> Vec<String> {
    items.iter().map(|e| e.to_string()).collect()
}

fn window_detail(kind: &TimeWindowKind, time_column: Option<&str>) -> String {
    let on = time_column.map_or(String::from(" on the event-time field"), |c| {
        format!(" on {c}")
    });
    match kind {
        TimeWindowKind::Tumbling { size_ms } => format!("TUMBLING {size_ms} ms{on}"),
        TimeWindowKind::Sliding {
            size_ms,
            advance_ms,
        } => format!("SLIDING {size_ms} ms every {advance_ms} ms{on}"),
        TimeWindowKind::Session { gap_ms } => format!("SESSION gap {gap_ms} ms{on}"),
    }
}

/// The operator tree of `job`: the root is the sink. A job over a stateful
/// subquery has the outer query's operators above the subquery's.
pub fn operator_tree(job: &JobPlan) -> PlanNode {
    // A join input that is a subquery is that subquery's operators.
    let scan = match &job.left_stage {
        Some(stage) => stage_tree(stage),
        None => scan_node(&job.source.name),
    };
    // A join of two streams reads both, each routed by the join key.
    let mut scan = match &job.stream_join {
        None => scan,
        Some(sj) => stream_join_node(sj, scan),
    };
    // Each stream-table join looks up its table for the rows so far: a
    // two-input node, the table's scan the second input.
    for join in &job.joins {
        let table = PlanNode {
            operator: "scan",
            detail: format!(
                "{} (table, key {})",
                join.table.name,
                join.table_key.join(", ")
            ),
            keys: Vec::new(),
            output: Some(OutputKind::AppendOnly),
            inputs: Vec::new(),
        };
        let kind = match join.join_type {
            crate::join::JoinType::Inner => "INNER",
            crate::join::JoinType::Left => "LEFT",
        };
        let lookup: Vec<String> = join.lookup.iter().map(|e| e.to_string()).collect();
        let on: Vec<String> = lookup
            .iter()
            .zip(&join.table_key)
            .map(|(e, k)| format!("{e} = {}.{k}", join.qualifier()))
            .collect();
        scan = PlanNode {
            operator: "lookup_join",
            detail: format!(
                "{kind} JOIN {} ON {}; {read}, one copy shared by every partition (read without a lock, so the stream keeps its own routing and the table's memory is counted once)",
                join.qualifier(),
                on.join(" AND "),
                read = match join.table.config {
                    velo_types::connector::SourceConfig::Kafka(_) => {
                        "the table's changelog is read to its end first"
                    }
                    _ => "the table is read whole first",
                }
            ),
            keys: lookup,
            output: Some(OutputKind::AppendOnly),
            inputs: vec![scan, table],
        };
    }
    let mut node = query_nodes(job.query(), &job.analysis, scan);
    for stage in &job.downstream {
        node = query_nodes(&stage.query, &stage.analysis, node);
    }
    PlanNode::on(node, "sink", job.sink.name.clone(), Vec::new(), None)
}

fn scan_node(source: &str) -> PlanNode {
    PlanNode {
        operator: "scan",
        detail: source.to_string(),
        keys: Vec::new(),
        output: Some(OutputKind::AppendOnly),
        inputs: Vec::new(),
    }
}

/// The operators of a subquery that a join reads: its tree without the sink.
fn stage_tree(stage: &JobPlan) -> PlanNode {
    let mut tree = operator_tree(stage);
    tree.inputs.remove(0)
}

/// The node of a join of two streams over the left input's `scan`.
fn stream_join_node(sj: &crate::join::StreamJoinPlan, scan: PlanNode) -> PlanNode {
    let right = match &sj.right_stage {
        Some(stage) => stage_tree(stage),
        None => scan_node(&sj.right.name),
    };
    let kind = match sj.join_type {
        crate::join::JoinType::Inner => "INNER",
        crate::join::JoinType::Left => "LEFT",
    };
    let on: Vec<String> = sj.keys.iter().map(|(l, r)| format!("{l} = {r}")).collect();
    let q = sj.qualifier();
    let (operator, state) = match sj.kind {
        crate::join::StreamJoinKind::Interval { lower_ms, upper_ms } => (
            "interval_join",
            format!(
                "{q}'s time minus the left's within [{lower_ms}, {upper_ms}] ms; a row is freed once the watermark passes its bound"
            ),
        ),
        crate::join::StreamJoinKind::Window { size_ms, slide_ms } => (
            "window_join",
            format!(
                "windows of {size_ms} ms every {slide_ms} ms; a window's pairs are emitted, and its rows freed, once the watermark passes its end"
            ),
        ),
        crate::join::StreamJoinKind::Regular { ttl_ms: Some(ttl) } => (
            "regular_join",
            format!("a row is freed {ttl} ms (event time) after its time ('join.state.ttl')"),
        ),
        crate::join::StreamJoinKind::Regular { ttl_ms: None } => (
            "regular_join",
            "every row is kept (no 'join.state.ttl')".to_string(),
        ),
    };
    let delay = sj.watermark_delay_ms().map_or(String::new(), |d| {
        format!("; the watermark passed on is held back {d} ms")
    });
    PlanNode {
        operator,
        detail: format!(
            "{kind} JOIN {q} ON {}; {state}; both inputs routed by the join key{delay}",
            on.join(" AND ")
        ),
        keys: sj.keys.iter().map(|(l, _)| l.to_string()).collect(),
        output: Some(OutputKind::AppendOnly),
        inputs: vec![scan, right],
    }
}

/// One SELECT's operators over `input`.
fn query_nodes(
    query: &velo_ast::SelectQuery,
    a: &crate::QueryAnalysis,
    input: PlanNode,
) -> PlanNode {
    let mut node = input;
    if let Some(w) = &query.selection {
        let out = node.input_output();
        node = PlanNode::on(node, "filter", format!("WHERE {w}"), Vec::new(), Some(out));
    }
    let aggregates = texts(&a.aggregates);
    let emit_output = |emit: EmitMode| match emit {
        EmitMode::Changes => OutputKind::Updating,
        EmitMode::Final => OutputKind::AppendOnly,
    };
    let select: Vec<String> = query
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::Wildcard { .. } => "*".to_string(),
            SelectItem::QualifiedWildcard { qualifier, .. } => format!("{qualifier}.*"),
            SelectItem::Expr { expr, alias, .. } => match alias {
                Some(alias) => format!("{expr} AS {alias}"),
                None => expr.to_string(),
            },
        })
        .collect();
    let having = query
        .having
        .as_ref()
        .map_or(String::new(), |h| format!("; HAVING {h}"));
    let emit = format!("EMIT {:?}", a.emit).to_uppercase();
    if let Some(w) = &a.window {
        node = PlanNode::on(
            node,
            "time_window",
            format!(
                "{}; {}; {emit}{having}",
                window_detail(&w.kind, w.time_column.as_deref()),
                aggregates.join(", ")
            ),
            texts(&a.group_keys),
            Some(emit_output(a.emit)),
        );
    } else if let Some(r) = &a.rows_window {
        let order = if r.order_by.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", texts(&r.order_by).join(", "))
        };
        node = PlanNode::on(
            node,
            "rows_window",
            format!("BUFFER {} ROWS{order}", r.buffer_rows),
            texts(&r.partition_by),
            Some(OutputKind::AppendOnly),
        );
    } else if a.is_aggregate() {
        node = PlanNode::on(
            node,
            "aggregate",
            format!("{}; {emit}{having}", aggregates.join(", ")),
            texts(&a.group_keys),
            Some(emit_output(a.emit)),
        );
    }
    let out = node.input_output();
    node = PlanNode::on(node, "project", select.join(", "), Vec::new(), Some(out));
    if !query.order_by.is_empty() || query.limit.is_some() {
        let mut parts = Vec::new();
        if !query.order_by.is_empty() {
            let items: Vec<String> = query
                .order_by
                .iter()
                .map(|o| format!("{}{}", o.expr, if o.descending { " DESC" } else { "" }))
                .collect();
            parts.push(format!("ORDER BY {}", items.join(", ")));
        }
        if let Some(l) = query.limit {
            parts.push(format!("LIMIT {l}"));
        }
        if a.window.is_some() && a.emit == EmitMode::Final {
            parts.push("per emitted window".to_string());
        }
        let out = node.input_output();
        node = PlanNode::on(node, "order_limit", parts.join(" "), Vec::new(), Some(out));
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH: &str = "WITH ('t.type' = 'file_source', 't.path' = 'in.csv')";

    /// The chain from the sink down, as `operator:output` words.
    fn chain(sql: &str) -> Vec<String> {
        let plan = crate::plan_sql(&format!("{sql} {WITH}"), &Default::default()).unwrap();
        let mut node = &operator_tree(&plan.jobs[0]);
        let mut out = Vec::new();
        loop {
            out.push(format!(
                "{}:{}",
                node.operator,
                node.output.map_or("-", OutputKind::name)
            ));
            match node.inputs.first() {
                Some(input) => node = input,
                None => return out,
            }
        }
    }

    #[test]
    fn operators_declare_append_only_or_updating_output() {
        assert_eq!(
            chain("SELECT a FROM t WHERE b > 1"),
            [
                "sink:-",
                "project:append-only",
                "filter:append-only",
                "scan:append-only"
            ]
        );
        assert_eq!(
            chain("SELECT a, COUNT(*) FROM t GROUP BY a"),
            [
                "sink:-",
                "project:updating",
                "aggregate:updating",
                "scan:append-only"
            ]
        );
        assert_eq!(
            chain("SELECT a, COUNT(*) AS n FROM t GROUP BY a WINDOW TUMBLING(ts, 1m) ORDER BY n LIMIT 3"),
            [
                "sink:-",
                "order_limit:append-only",
                "project:append-only",
                "time_window:append-only",
                "scan:append-only"
            ]
        );
        assert_eq!(
            chain("SELECT a, COUNT(*) FROM t GROUP BY a WINDOW TUMBLING(ts, 1m) EMIT CHANGES"),
            [
                "sink:-",
                "project:updating",
                "time_window:updating",
                "scan:append-only"
            ]
        );
        assert_eq!(
            chain("SELECT a, AVG(b) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY a) FROM t"),
            [
                "sink:-",
                "project:append-only",
                "rows_window:append-only",
                "scan:append-only"
            ]
        );
        let plan = crate::plan_sql(
            &format!("SELECT a, COUNT(*) FROM t GROUP BY a {WITH}"),
            &Default::default(),
        )
        .unwrap();
        let aggregate = &operator_tree(&plan.jobs[0]).inputs[0].inputs[0];
        assert_eq!(aggregate.keys, ["a"]);
        // A stateful subquery: the outer stage's operators sit on its own.
        assert_eq!(
            chain("SELECT MAX(n) FROM (SELECT a, COUNT(*) AS n FROM t GROUP BY a WINDOW TUMBLING(ts, 1m)) AS w"),
            [
                "sink:-",
                "project:updating",
                "aggregate:updating",
                "project:append-only",
                "time_window:append-only",
                "scan:append-only"
            ]
        );
    }
}
