//! From a parsed app to one [`JobPlan`] per statement.

use std::path::Path;

use velo_ast::{App, Span, Statement, StatementKind};
use velo_types::connector::{Encoding, Format, SinkConfig, SourceConfig};

use crate::analysis::{analyze, column_name, QueryAnalysis};
use crate::config::{
    connector_type, job_config, sink_config, source_config, ConnectorType, JobConfig, PropertyMap,
    JOB_KEYS,
};
use crate::error::{Error, Result};
use crate::strategy::{StrategyChoice, StrategyKind};

/// Options for planning an app.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions<'a> {
    /// Relative file paths resolve against this folder (the app file's).
    pub base_dir: Option<&'a Path>,
}

/// Every job of an app.
#[derive(Debug, Clone)]
pub struct AppPlan {
    pub jobs: Vec<JobPlan>,
}

/// Where a job reads from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePlan {
    /// The name in FROM.
    pub name: String,
    pub alias: Option<String>,
    pub config: SourceConfig,
    /// `NAME.partition.key`: the columns the source is already partitioned by.
    pub partition_key: Option<Vec<String>>,
    pub span: Span,
}

/// Where a job writes to.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkPlan {
    pub name: String,
    pub config: SinkConfig,
}

/// One continuous job: a statement, planned.
#[derive(Debug, Clone)]
pub struct JobPlan {
    /// The sink's name, or `select_N` for the N-th bare SELECT (1-based).
    pub name: String,
    pub statement: Statement,
    pub source: SourcePlan,
    pub sink: SinkPlan,
    pub config: JobConfig,
    pub analysis: QueryAnalysis,
    pub strategy: StrategyChoice,
    /// Where late rows go under `late.data.strategy = 'dead_letter'`.
    pub dead_letter: Option<SinkPlan>,
    /// Where failed rows go under `failure_strategy = 'send_to_dlq'`.
    pub dlq: Option<SinkPlan>,
    /// Things worth telling the user that do not stop the job.
    pub warnings: Vec<String>,
}

impl JobPlan {
    pub fn query(&self) -> &velo_ast::SelectQuery {
        self.statement.kind.query()
    }

    /// The qualifiers a column may be prefixed with: the source's name and alias.
    pub fn qualifiers(&self) -> Vec<String> {
        let mut q = vec![self.source.name.clone()];
        q.extend(self.source.alias.clone());
        q
    }
}

/// Parses and plans app text.
pub fn plan_sql(sql: &str, options: &PlanOptions<'_>) -> Result<AppPlan> {
    let app = velo_ast::parse_app(sql)?;
    plan_app(&app, options)
}

/// Plans a parsed app: validates every statement and builds its job.
pub fn plan_app(app: &App, options: &PlanOptions<'_>) -> Result<AppPlan> {
    if app.statements.is_empty() {
        return Err(Error::Invalid {
            message: "the app has no statements".to_string(),
            span: Span::empty(),
        });
    }
    // Connectors may be declared in any statement's WITH clause.
    let mut app_props = PropertyMap::default();
    for st in &app.statements {
        app_props.insert_all(&st.kind.query().properties);
    }
    for name in app_props.connector_names() {
        connector_type(&app_props, name)?;
    }
    let mut jobs = Vec::with_capacity(app.statements.len());
    let mut selects = 0;
    for st in &app.statements {
        if matches!(st.kind, StatementKind::Select(_)) {
            selects += 1;
        }
        let job = plan_statement(st, &app_props, selects, options)?;
        if jobs.iter().any(|j: &JobPlan| j.name == job.name) {
            return Err(Error::Invalid {
                message: format!("two statements write to the sink '{}'", job.name),
                span: st.span,
            });
        }
        jobs.push(job);
    }
    Ok(AppPlan { jobs })
}

fn plan_statement(
    st: &Statement,
    app_props: &PropertyMap<'_>,
    select_no: usize,
    options: &PlanOptions<'_>,
) -> Result<JobPlan> {
    let query = st.kind.query();
    // The statement's own properties win over the app's for connector keys.
    let mut props = app_props.clone();
    props.insert_all(&query.properties);
    let mut warnings = Vec::new();
    let mut job_only = PropertyMap::default();
    job_only.insert_all(&query.properties);
    for p in &query.properties {
        let key = p.key.to_ascii_lowercase();
        let is_connector = key
            .split_once('.')
            .is_some_and(|(prefix, _)| props.get(&format!("{prefix}.type")).is_some());
        if !is_connector && !JOB_KEYS.contains(&key.as_str()) {
            warnings.push(format!("unknown property '{}' is ignored", p.key));
        }
    }
    let mut config = job_config(&job_only)?;

    if let Some(join) = query.joins.first() {
        return Err(Error::Unsupported {
            what: "JOIN".to_string(),
            span: join.span,
        });
    }

    // Source.
    let from = &query.from;
    let source_name = from.name.value.clone();
    let (kind, _) = connector_type(&props, &source_name)?.ok_or_else(|| Error::Undeclared {
        role: "source",
        name: source_name.clone(),
        span: from.name.span,
    })?;
    if !kind.is_source() {
        return Err(Error::Invalid {
            message: format!("'{source_name}' is declared as a sink but read in FROM"),
            span: from.name.span,
        });
    }
    let source_config =
        source_config(&props, &source_name, kind, from.name.span, options.base_dir)?;
    let partition_key = props
        .get(&format!("{source_name}.partition.key"))
        .map(|p| p.value.split(',').map(|s| s.trim().to_string()).collect());

    // Sink.
    let (name, sink) = match st.kind.sink_name() {
        None => (
            format!("select_{select_no}"),
            SinkPlan {
                name: "stdout".to_string(),
                config: SinkConfig::Stdout {
                    encoding: Encoding {
                        format: Format::JsonLines,
                        ..Encoding::default()
                    },
                },
            },
        ),
        Some(ident) => {
            let sink_name = ident.value.clone();
            let (kind, _) =
                connector_type(&props, &sink_name)?.ok_or_else(|| Error::Undeclared {
                    role: "sink",
                    name: sink_name.clone(),
                    span: ident.span,
                })?;
            if kind.is_source() {
                return Err(Error::Invalid {
                    message: format!("'{sink_name}' is declared as a source but written to"),
                    span: ident.span,
                });
            }
            let config = sink_config(&props, &sink_name, kind, ident.span, options.base_dir)?;
            (
                sink_name.clone(),
                SinkPlan {
                    name: sink_name,
                    config,
                },
            )
        }
    };
    let side_sink = |key: &str, target: Option<String>| -> Result<Option<SinkPlan>> {
        let Some(target) = target else {
            return Ok(None);
        };
        let p = props
            .get(key)
            .expect("the key was read when the job config was built");
        let not_a_sink = || Error::InvalidProperty {
            key: p.key.clone(),
            reason: format!("'{target}' is not a declared sink"),
            span: p.value_span,
        };
        match connector_type(&props, &target)? {
            Some((k, _)) if !k.is_source() && k != ConnectorType::KafkaSink => Ok(Some(SinkPlan {
                config: sink_config(&props, &target, k, p.value_span, options.base_dir)?,
                name: target,
            })),
            _ => Err(not_a_sink()),
        }
    };
    let dead_letter = side_sink(
        "late.data.dead_letter",
        match &config.late_data {
            crate::config::LateDataStrategy::DeadLetter { sink } => Some(sink.clone()),
            _ => None,
        },
    )?;
    let dlq = side_sink("dlq.sink", config.dlq_sink.clone())?;

    let analysis = analyze(query)?;
    if config.event_time_field.is_none() {
        config.event_time_field = analysis.window.as_ref().and_then(|w| w.time_column.clone());
    }
    if analysis.window.is_some() && config.event_time_field.is_none() {
        return Err(Error::Invalid {
            message: "a time window needs an event-time column: name it in the WINDOW clause or set 'event.time.field'".to_string(),
            span: query.window.as_ref().map(|w| w.span()).unwrap_or(query.span),
        });
    }
    warnings.extend(unbounded_state_warning(&analysis, &config));
    let strategy = choose_strategy(query, &analysis, &config, partition_key.as_deref())?;
    Ok(JobPlan {
        name,
        statement: st.clone(),
        source: SourcePlan {
            name: source_name,
            alias: from.alias.as_ref().map(|a| a.value.clone()),
            config: source_config,
            partition_key,
            span: from.span,
        },
        sink,
        config,
        analysis,
        strategy,
        dead_letter,
        dlq,
        warnings,
    })
}

/// The warning for state that grows with the input for as long as the job runs,
/// unless `max.memory.mb` bounds it: GROUP BY without a time window keeps one
/// entry per distinct key (whatever the emit mode), and a DISTINCT aggregate
/// keeps every distinct value (even without GROUP BY). A time window frees its
/// state when it closes; a global aggregate without DISTINCT keeps one entry.
fn unbounded_state_warning(analysis: &QueryAnalysis, config: &JobConfig) -> Option<String> {
    if analysis.window.is_some() || config.max_memory_mb.is_some() {
        return None;
    }
    if !analysis.group_keys.is_empty() {
        return Some(
            "GROUP BY without a window keeps one state entry per distinct key for as long as the job runs; set 'max.memory.mb' to bound it"
                .to_string(),
        );
    }
    analysis.aggregates.iter().any(is_distinct_call).then(|| {
        "a DISTINCT aggregate without a window keeps every distinct value for as long as the job runs; set 'max.memory.mb' to bound it"
            .to_string()
    })
}

/// `f(DISTINCT ...)`.
fn is_distinct_call(expr: &velo_ast::Expr) -> bool {
    use sqlparser::ast::{DuplicateTreatment, Expr, FunctionArguments};
    matches!(
        expr,
        Expr::Function(f) if matches!(
            &f.args,
            FunctionArguments::List(list) if list.duplicate_treatment == Some(DuplicateTreatment::Distinct)
        )
    )
}

/// SPEC §5: the automatic choice, or the explicit one validated against the query.
fn choose_strategy(
    query: &velo_ast::SelectQuery,
    analysis: &QueryAnalysis,
    config: &JobConfig,
    partition_key: Option<&[String]>,
) -> Result<StrategyChoice> {
    let texts = |exprs: &[velo_ast::Expr]| exprs.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    let (keys, key_source) = if let Some(rw) = &analysis.rows_window {
        (texts(&rw.partition_by), "the ROWS window's PARTITION BY")
    } else {
        (texts(&analysis.group_keys), "the GROUP BY key")
    };
    let aligned = partition_key.is_some_and(|pk| {
        let cols: Vec<String> = analysis.group_keys.iter().filter_map(column_name).collect();
        !cols.is_empty()
            && cols.len() == pk.len()
            && cols
                .iter()
                .all(|c| pk.iter().any(|p| p.eq_ignore_ascii_case(c)))
    });
    let span = query.span;
    let auto = || -> StrategyChoice {
        if analysis.stateful {
            if keys.is_empty() {
                StrategyChoice {
                    kind: StrategyKind::FanIn,
                    keys: vec![],
                    reason: "stateful query without a key: all records must meet in one partition"
                        .to_string(),
                }
            } else if aligned {
                StrategyChoice {
                    kind: StrategyKind::SmartRepartition,
                    keys: keys.clone(),
                    reason: "the source is already partitioned by the GROUP BY key".to_string(),
                }
            } else {
                StrategyChoice {
                    kind: StrategyKind::AlwaysHash,
                    keys: keys.clone(),
                    reason: format!("stateful query: records are hashed on {key_source}"),
                }
            }
        } else if !query.order_by.is_empty() {
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
    };
    let Some(kind) = config.partitioning else {
        return Ok(auto());
    };
    let refuse = |why: &str| -> Result<StrategyChoice> {
        Err(Error::Invalid {
            message: format!("partitioning_strategy '{kind}' cannot run this query: {why}"),
            span,
        })
    };
    match kind {
        StrategyKind::RoundRobin if analysis.stateful => refuse(
            "it keeps state per key, and round_robin would split a key's records across partitions",
        ),
        StrategyKind::RoundRobin if !query.order_by.is_empty() => {
            refuse("it has ORDER BY, and round_robin does not keep order")
        }
        StrategyKind::StickyPartition if analysis.stateful && !aligned => refuse(
            "it keeps state per key and the source does not declare a matching 'partition.key'",
        ),
        StrategyKind::AlwaysHash | StrategyKind::SmartRepartition
            if analysis.stateful && keys.is_empty() =>
        {
            refuse("it keeps state without a key to hash on; use fan_in")
        }
        _ => Ok(StrategyChoice {
            kind,
            keys: if matches!(
                kind,
                StrategyKind::AlwaysHash | StrategyKind::SmartRepartition
            ) {
                keys
            } else {
                vec![]
            },
            reason: "set by partitioning_strategy".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(sql: &str, props: &str) -> JobPlan {
        let sql = format!("{sql} WITH ('t.type' = 'stdin_source'{props})");
        plan_sql(&sql, &PlanOptions::default())
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .jobs
            .remove(0)
    }

    fn state_warnings(sql: &str, props: &str) -> Vec<String> {
        job(sql, props)
            .warnings
            .into_iter()
            .filter(|w| w.contains("max.memory.mb"))
            .collect()
    }

    #[test]
    fn group_by_without_a_window_or_memory_limit_warns() {
        for emit in ["", " EMIT CHANGES", " EMIT FINAL"] {
            let sql = format!("SELECT k, COUNT(*) AS n FROM t GROUP BY k{emit}");
            let w = state_warnings(&sql, "");
            assert_eq!(w.len(), 1, "{sql}: {w:?}");
            assert!(
                w[0].starts_with(
                    "GROUP BY without a window keeps one state entry per distinct key"
                ) && w[0].ends_with("set 'max.memory.mb' to bound it"),
                "{}",
                w[0]
            );
        }
        // A DISTINCT aggregate grows even without a key.
        let w = state_warnings("SELECT COUNT(DISTINCT k) AS n FROM t", "");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("DISTINCT"), "{}", w[0]);
    }

    #[test]
    fn bounded_state_does_not_warn() {
        for (sql, props) in [
            (
                "SELECT k, COUNT(*) AS n FROM t GROUP BY k",
                ", 'max.memory.mb' = '64'",
            ),
            (
                "SELECT COUNT(DISTINCT k) AS n FROM t",
                ", 'max.memory.mb' = '64'",
            ),
            (
                "SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)",
                "",
            ),
            // One state entry, whatever the input.
            ("SELECT COUNT(*) AS n, SUM(v) AS s FROM t", ""),
            ("SELECT k, v FROM t WHERE v > 0", ""),
        ] {
            let w = state_warnings(sql, props);
            assert!(w.is_empty(), "{sql} {props}: {w:?}");
        }
    }

    #[test]
    fn a_sink_named_like_a_job_key_prefix_is_accepted() {
        // Regression: a dead-letter sink named `dlq` made the job key 'dlq.sink'
        // read as an unknown option of that sink.
        let j = job(
            "SELECT k FROM t",
            ", 'failure_strategy' = 'send_to_dlq', 'dlq.sink' = 'dlq', 'dlq.type' = 'stdout_sink'",
        );
        assert_eq!(j.dlq.map(|d| d.name), Some("dlq".to_string()));
        // A connector's own unknown option is still refused.
        let sql = "SELECT k FROM t WITH ('t.type' = 'stdin_source', 't.colour' = 'red')";
        let e = plan_sql(sql, &PlanOptions::default()).unwrap_err();
        assert!(e.to_string().contains("unknown option 'colour'"), "{e}");
    }
}
