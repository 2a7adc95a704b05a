//! From a parsed app to one [`JobPlan`] per statement.

use std::path::Path;

use velo_ast::{App, SelectItem, Span, Statement, StatementKind};
use velo_types::connector::{Encoding, Format, SinkConfig, SourceConfig, KAFKA_TIMESTAMP_COLUMN};

use crate::analysis::{analyze, uses_system_columns, QueryAnalysis};
use crate::config::{
    connector_type, job_config, sink_config, source_config, table_key, ConnectorContext, JobConfig,
    PropertyMap, JOB_KEYS, KAFKA_BROKERS_ENV,
};
use crate::error::{Error, Result};
use crate::strategy::{RoutingNeeds, StrategyChoice};

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
    /// Where the `NAME.path` value is written, for a file source.
    pub path_span: Option<Span>,
    /// The query uses a system column (`_key`, `_partition`, `_offset`,
    /// `_timestamp`): a source without them of its own appends them.
    pub system_columns: bool,
}

/// Where a job writes to.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkPlan {
    pub name: String,
    pub config: SinkConfig,
    /// Where the `NAME.path` value is written, for a file sink.
    pub path_span: Option<Span>,
}

/// A later stage of a job whose FROM is a stateful subquery: a query run over
/// the rows of the stage before it (the job's own query, for the first).
#[derive(Debug, Clone, PartialEq)]
pub struct StagePlan {
    /// The outer query; its FROM names the subquery by its alias.
    pub query: velo_ast::SelectQuery,
    pub analysis: QueryAnalysis,
    /// The column of the subquery's rows that the outer query's time window
    /// reads (`window_time`, say), when it has one.
    pub event_time_field: Option<String>,
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
    /// What the query needs of its routing (keys, ORDER BY, alignment).
    pub routing: RoutingNeeds,
    pub strategy: StrategyChoice,
    /// Where late rows go under `late.data.strategy = 'dead_letter'`.
    pub dead_letter: Option<SinkPlan>,
    /// Where failed rows go under `failure_strategy = 'send_to_dlq'`.
    pub dlq: Option<SinkPlan>,
    /// Things worth telling the user that do not stop the job.
    pub warnings: Vec<String>,
    /// What the app text leaves to the run-time environment, in the order met.
    pub runtime: Vec<RuntimeSetting>,
    /// The queries over this query's rows, innermost first, when FROM is a
    /// stateful subquery: this plan's own query is then the innermost
    /// subquery, each stage reads the rows of the one before it, and the sink
    /// gets the last one's rows.
    pub downstream: Vec<StagePlan>,
    /// The tables the source's rows are joined with, in order (SPEC §2,
    /// stream-table joins): the query reads the joined rows.
    pub joins: Vec<crate::join::JoinPlan>,
    /// The second stream the source's rows are joined with (SPEC §2: an
    /// interval or regular join), before any table.
    pub stream_join: Option<crate::join::StreamJoinPlan>,
    /// A join whose FROM is a subquery: the job it is (over `source`), whose
    /// rows the join reads as its left input.
    pub left_stage: Option<Box<JobPlan>>,
}

/// A setting that the app text leaves to the run-time environment (SPEC §1):
/// Kafka brokers from `VELO_KAFKA_BROKERS`, a schema discovered from the data.
/// `velo-server check` shows each as a warning at its position; `run` refuses
/// a job with an [`RuntimeSetting::unmet`] one, with the same message.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeSetting {
    pub message: String,
    /// The connector's name in the statement.
    pub span: Span,
    /// The environment the plan was made in does not supply it (no brokers
    /// anywhere): the job cannot run there.
    pub unmet: bool,
}

impl JobPlan {
    pub fn query(&self) -> &velo_ast::SelectQuery {
        self.statement.kind.query()
    }

    /// The qualifiers a column may be prefixed with: the source's name and alias.
    /// For a job that joins two streams, the plan its second stream is read
    /// with: the same job, reading that stream, with that stream's event time
    /// (for its reader, its watermarks and its rejected records).
    pub fn right_input(&self) -> Option<JobPlan> {
        let join = self.stream_join.as_ref()?;
        if let Some(stage) = &join.right_stage {
            return Some((**stage).clone());
        }
        let mut plan = self.clone();
        plan.source = join.right.clone();
        plan.config.event_time_field = join.right_time.clone();
        plan.joins = Vec::new();
        plan.stream_join = None;
        Some(plan)
    }

    /// The plan the job's (FROM) source is read with: the subquery's job
    /// when a join reads a subquery in FROM (its event time is the
    /// subquery's), else this one.
    pub fn left_input(&self) -> std::borrow::Cow<'_, JobPlan> {
        match &self.left_stage {
            Some(stage) => std::borrow::Cow::Owned((**stage).clone()),
            None => std::borrow::Cow::Borrowed(self),
        }
    }

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

/// Plans a parsed app: validates every statement and builds its job. Kafka
/// connectors without `NAME.bootstrap.servers` take their brokers from the
/// environment variable [`KAFKA_BROKERS_ENV`] (`VELO_KAFKA_BROKERS`).
///
/// Runs on a stack big enough for expressions at the depth limit
/// ([`velo_ast::with_expr_stack`]).
pub fn plan_app(app: &App, options: &PlanOptions<'_>) -> Result<AppPlan> {
    let env_brokers = std::env::var(KAFKA_BROKERS_ENV).ok();
    velo_ast::with_expr_stack(|| plan_app_with(app, options, env_brokers.as_deref()))
}

/// [`plan_app`] with the value of `VELO_KAFKA_BROKERS` given (tests do not touch
/// the process environment).
fn plan_app_with(
    app: &App,
    options: &PlanOptions<'_>,
    env_brokers: Option<&str>,
) -> Result<AppPlan> {
    if app.statements.is_empty() {
        return Err(Error::Invalid {
            message: "the app has no statements".to_string(),
            span: Span::empty(),
        });
    }
    // Subqueries that filter and project are merged into their readers.
    let statements = app
        .statements
        .iter()
        .map(|st| {
            let mut st = st.clone();
            crate::nested::merge_subqueries(st.kind.query_mut())?;
            let outer = crate::nested::split_stages(st.kind.query_mut())?;
            crate::nested::strip_own_qualifiers(st.kind.query_mut());
            let mut outer = outer;
            outer
                .iter_mut()
                .for_each(crate::nested::strip_own_qualifiers);
            crate::nested::window_group_by_stages(st.kind.query(), &mut outer);
            Ok((st, outer))
        })
        .collect::<Result<Vec<_>>>()?;
    // Connectors may be declared in any statement's WITH clause.
    let mut app_props = PropertyMap::default();
    for (st, _) in &statements {
        app_props.insert_all(&st.kind.query().properties);
    }
    for name in app_props.connector_names() {
        connector_type(&app_props, name)?;
    }
    let mut jobs = Vec::with_capacity(app.statements.len());
    let mut selects = 0;
    for (st, outer) in &statements {
        if matches!(st.kind, StatementKind::Select(_)) {
            selects += 1;
        }
        let job = plan_statement(st, outer, &app_props, selects, options, env_brokers)?;
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

/// A source named in FROM or JOIN: its plan, its key when it is a table, and
/// its `NAME.event.time.field` when set.
fn plan_source(
    props: &PropertyMap<'_>,
    from: &velo_ast::TableRef,
    cx: &ConnectorContext<'_>,
    runtime: &mut Vec<RuntimeSetting>,
) -> Result<(SourcePlan, Option<Vec<String>>, Option<String>)> {
    let source_name = from.name.value.clone();
    let (kind, _) = connector_type(props, &source_name)?.ok_or_else(|| Error::Undeclared {
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
    let config = source_config(props, &source_name, kind, from.name.span, cx, runtime)?;
    let partition_key = props
        .get(&format!("{source_name}.partition.key"))
        .map(|p| p.value.split(',').map(|s| s.trim().to_string()).collect());
    let table_key = table_key(props, &source_name, from.name.span)?;
    let event_time_field = match props.get(&format!("{source_name}.event.time.field")) {
        Some(p) if p.value.trim().is_empty() => {
            return Err(Error::InvalidProperty {
                key: p.key.clone(),
                reason: "expected a column name".into(),
                span: p.value_span,
            })
        }
        Some(p) => Some(p.value.trim().to_string()),
        // SPEC §3: a Nexmark table's `date_time` is its event time, unless
        // the job names another column.
        None if matches!(config, SourceConfig::Nexmark(_))
            && props.get("event.time.field").is_none() =>
        {
            Some("date_time".to_string())
        }
        None => None,
    };
    Ok((
        SourcePlan {
            path_span: path_span(props, &source_name),
            name: source_name,
            alias: from.alias.as_ref().map(|a| a.value.clone()),
            config,
            partition_key,
            span: from.span,
            system_columns: false,
        },
        table_key,
        event_time_field,
    ))
}

fn plan_statement(
    st: &Statement,
    outer: &[velo_ast::SelectQuery],
    app_props: &PropertyMap<'_>,
    select_no: usize,
    options: &PlanOptions<'_>,
    env_brokers: Option<&str>,
) -> Result<JobPlan> {
    let query = st.kind.query();
    let name = match st.kind.sink_name() {
        Some(ident) => ident.value.clone(),
        None => format!("select_{select_no}"),
    };
    let cx = ConnectorContext {
        base_dir: options.base_dir,
        job_name: &name,
        env_brokers,
    };
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

    // Source, and the tables it is joined with. A join's input that is a
    // subquery is planned as a job of its own, whose rows the join reads.
    let mut runtime = Vec::new();
    let side = |input: &velo_ast::TableRef| -> Result<Option<Box<JobPlan>>> {
        match &input.subquery {
            Some(sub) if !query.joins.is_empty() => {
                plan_side(sub, query, app_props, options, env_brokers).map(|j| Some(Box::new(j)))
            }
            _ => Ok(None),
        }
    };
    let left_stage = side(&query.from)?;
    let (mut source, from_key, from_time) = match &left_stage {
        Some(stage) => (side_source(stage, &query.from), None, None),
        None => plan_source(&props, &query.from, &cx, &mut runtime)?,
    };
    // A source's own event-time field overrides the job's for it (SPEC §2).
    if from_time.is_some() {
        config.event_time_field = from_time;
    }
    let mut join_inputs = Vec::with_capacity(query.joins.len());
    for join in &query.joins {
        let stage = side(&join.table)?;
        let (source, table_key, event_time_field) = match &stage {
            Some(stage) => (side_source(stage, &join.table), None, None),
            None => plan_source(&props, &join.table, &cx, &mut runtime)?,
        };
        if table_key.is_some() {
            match &source.config {
                SourceConfig::File { .. } => {}
                // A changelog is read before the job's first row, so its
                // columns cannot be discovered from the stream's data.
                SourceConfig::Kafka(k) if k.schema.is_none() => {
                    return Err(Error::InvalidProperty {
                        key: format!("{}.schema", source.name),
                        reason: format!(
                            "the Kafka table '{}' needs its columns declared, e.g. 'id BIGINT, name VARCHAR'",
                            source.name
                        ),
                        span: join.table.span,
                    });
                }
                SourceConfig::Kafka(_) => {}
                _ => {
                    return Err(Error::Unsupported {
                        what: format!(
                            "a table read from anything but a file or a Kafka topic ('{}')",
                            source.name
                        ),
                        span: join.table.span,
                    });
                }
            }
        }
        join_inputs.push(crate::join::JoinInput {
            source,
            table_key,
            event_time_field,
            stage,
        });
    }
    let left_qualifier = crate::join::qualifier_of(&source).to_string();
    let job_time = job_only
        .get("event.time.field")
        .map(|p| p.value.trim().to_string());
    let planned = crate::join::plan_joins(
        query,
        join_inputs,
        from_key.is_some(),
        &crate::join::JoinContext {
            left_qualifier: &left_qualifier,
            left_window: query.from.window.as_ref(),
            left_time: config.event_time_field.as_deref(),
            job_time: job_time.as_deref(),
            ttl_ms: config.join_state_ttl_ms,
            left_staged: left_stage.is_some(),
            where_conjuncts: query
                .selection
                .as_ref()
                .map(|w| crate::join::conjuncts(w).into_iter().cloned().collect())
                .unwrap_or_default(),
        },
    )?;
    let joins = planned.tables;
    let stream_join = planned.stream;
    // An INNER join's other ON conditions filter the joined rows.
    let mut statement = st.clone();
    if let Some(sj) = &stream_join {
        let q = statement.kind.query_mut();
        for r in &sj.residual {
            q.selection = Some(match q.selection.take() {
                None => r.clone(),
                Some(w) => sqlparser::ast::Expr::BinaryOp {
                    left: Box::new(w),
                    op: sqlparser::ast::BinaryOperator::And,
                    right: Box::new(r.clone()),
                },
            });
        }
    }
    let query = statement.kind.query();
    for stage in left_stage
        .iter()
        .chain(stream_join.iter().filter_map(|sj| sj.right_stage.as_ref()))
    {
        for w in &stage.warnings {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
    }
    if let Some(sj) = &stream_join {
        for s in [&source, &sj.right] {
            if matches!(s.config, SourceConfig::Kafka(_)) {
                return Err(Error::Unsupported {
                    what: format!(
                        "a join of two streams reading Kafka ('{}'): such joins read files, stdin or the generator for now",
                        s.name
                    ),
                    span: sj.span,
                });
            }
        }
        // The joined rows' event time is the left row's (SPEC §2).
        config.event_time_field = sj.left_time.clone();
    }
    if config.join_state_ttl_ms.is_some()
        && !matches!(
            stream_join.as_ref().map(|s| s.kind),
            Some(crate::join::StreamJoinKind::Regular { .. })
        )
    {
        warnings.push(
            "'join.state.ttl' applies to regular joins of two streams only; it is ignored".into(),
        );
    }
    let partition_key = source.partition_key.clone();
    let source_config = source.config.clone();

    // Sink.
    let key_columns = primary_key_columns(query);
    let sink = match st.kind.sink_name() {
        None => SinkPlan {
            name: "stdout".to_string(),
            config: SinkConfig::Stdout {
                encoding: Encoding {
                    format: Format::JsonLines,
                    ..Encoding::default()
                },
            },
            path_span: None,
        },
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
            let config = sink_config(
                &props,
                &sink_name,
                kind,
                ident.span,
                &cx,
                &key_columns,
                &mut runtime,
            )?;
            SinkPlan {
                path_span: path_span(&props, &sink_name),
                name: sink_name,
                config,
            }
        }
    };
    if !key_columns.is_empty() && !matches!(sink.config, SinkConfig::Kafka(_)) {
        warnings.push(format!(
            "PRIMARY KEY marks the message key of a Kafka sink; '{}' is not one, so it is ignored",
            sink.name
        ));
    }
    let side_sink = |key: &str,
                     target: Option<String>,
                     runtime: &mut Vec<RuntimeSetting>|
     -> Result<Option<SinkPlan>> {
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
            // Side sinks get the failed or late rows, which have no PRIMARY KEY.
            Some((k, _)) if !k.is_source() => Ok(Some(SinkPlan {
                config: sink_config(&props, &target, k, p.value_span, &cx, &[], runtime)?,
                path_span: path_span(&props, &target),
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
        &mut runtime,
    )?;
    let dlq = side_sink("dlq.sink", config.dlq_sink.clone(), &mut runtime)?;

    let analysis = analyze(query)?;
    if config.event_time_field.is_none() {
        config.event_time_field = analysis.window.as_ref().and_then(|w| w.time_column.clone());
    }
    // SPEC §2: a Kafka source's message timestamp is the event time unless the
    // job names another column (the Kafka reader appends `_timestamp`).
    if config.event_time_field.is_none() && matches!(source_config, SourceConfig::Kafka(_)) {
        config.event_time_field = Some(KAFKA_TIMESTAMP_COLUMN.to_string());
    }
    if analysis.window.is_some() && config.event_time_field.is_none() {
        return Err(Error::Invalid {
            message: "a time window needs an event-time column: name it in the WINDOW clause or set 'event.time.field'".to_string(),
            span: query.window.as_ref().map(|w| w.span()).unwrap_or(query.span),
        });
    }
    warnings.extend(unbounded_state_warning(&analysis, &config));
    if let Some(sj) = &stream_join {
        if let crate::join::StreamJoinKind::Regular { ttl_ms: None } = sj.kind {
            if analysis.window.is_some() {
                return Err(Error::Invalid {
                    message: "a time window over a regular join needs 'join.state.ttl': without it a pair can be emitted arbitrarily long after its left row's time, so no window over the joined rows could ever close".into(),
                    span: query.window.as_ref().map(|w| w.span()).unwrap_or(sj.span),
                });
            }
            warnings.push(format!(
                "the regular join with '{}' keeps every row of both inputs: its state grows with the input; set 'join.state.ttl' to expire rows",
                sj.right.name
            ));
        }
    }
    let mut downstream = Vec::with_capacity(outer.len());
    for q in outer {
        let analysis = analyze(q)?;
        let event_time_field = analysis.window.as_ref().and_then(|w| w.time_column.clone());
        if analysis.window.is_some() && event_time_field.is_none() {
            return Err(Error::Invalid {
                message: "a time window over a subquery reads one of the subquery's columns: name it in the WINDOW clause (the subquery's window_time, say)".to_string(),
                span: q.window.as_ref().map(|w| w.span()).unwrap_or(q.span),
            });
        }
        downstream.push(StagePlan {
            analysis,
            query: q.clone(),
            event_time_field,
        });
    }
    let mut routing = RoutingNeeds::new(
        &analysis,
        !query.order_by.is_empty(),
        query.limit.is_some(),
        partition_key.as_deref(),
        (!joins.is_empty() || stream_join.is_some()).then(|| crate::join::qualifier_of(&source)),
    );
    if stream_join.is_none() && joins.is_empty() {
        routing.route_by_plain_key_subset();
    }
    if let Some(sj) = &stream_join {
        routing.route_by_join_key(sj, &left_qualifier);
        if left_stage.is_some() || sj.right_stage.is_some() {
            routing.route_through_stages(left_stage.as_deref(), sj.right_stage.as_deref());
        }
    }
    routing.downstream_needs_all_rows = downstream
        .iter()
        .any(|d| d.analysis.stateful || !d.query.order_by.is_empty() || d.query.limit.is_some());
    let mut strategy = choose_strategy(query, &routing, &config)?;
    if routing.join_needs_one_partition
        && (left_stage.is_some()
            || stream_join
                .as_ref()
                .is_some_and(|sj| sj.right_stage.is_some()))
    {
        strategy.reason.push_str(
            "; no join key is a column the subqueries' records can be routed by (each passed through and kept as state by), so V2 runs this job on one partition",
        );
    }
    if routing.downstream_needs_all_rows {
        strategy.reason.push_str(
            "; the outer query aggregates, sorts or limits every row of its subquery, so V2 runs this job on one partition",
        );
    }
    source.system_columns = uses_system_columns(query, config.event_time_field.as_deref());
    let stream_join = stream_join.map(|mut sj| {
        sj.right.system_columns = source.system_columns;
        sj
    });
    Ok(JobPlan {
        name,
        statement,
        source,
        joins,
        stream_join,
        left_stage,
        sink,
        config,
        analysis,
        routing,
        strategy,
        dead_letter,
        dlq,
        warnings,
        runtime,
        downstream,
    })
}

/// A subquery that a join reads, planned as a job of its own over its source
/// (its sink is never opened): its rows are the join's input. It takes the
/// joining statement's WITH properties (connectors, event time, late data).
fn plan_side(
    sub: &velo_ast::SelectQuery,
    outer: &velo_ast::SelectQuery,
    app_props: &PropertyMap<'_>,
    options: &PlanOptions<'_>,
    env_brokers: Option<&str>,
) -> Result<JobPlan> {
    let mut q = sub.clone();
    q.properties = outer.properties.clone();
    crate::nested::merge_subqueries(&mut q)?;
    let mut stages = crate::nested::split_stages(&mut q)?;
    crate::nested::strip_own_qualifiers(&mut q);
    stages
        .iter_mut()
        .for_each(crate::nested::strip_own_qualifiers);
    crate::nested::window_group_by_stages(&q, &mut stages);
    let st = Statement {
        kind: StatementKind::Select(q),
        span: sub.span,
    };
    let job = plan_statement(&st, &stages, app_props, 0, options, env_brokers)?;
    let tree = crate::logical::operator_tree(&job);
    if tree.inputs.first().and_then(|n| n.output) == Some(crate::logical::OutputKind::Updating) {
        return Err(Error::Invalid {
            message: "this subquery's rows are updated as it runs (an EMIT CHANGES aggregate), so a join would pair every update as a new row: use a windowed subquery with EMIT FINAL instead".into(),
            span: sub.span,
        });
    }
    if job.stream_join.is_some() || !job.joins.is_empty() {
        return Err(Error::Unsupported {
            what: "a join inside a subquery that is itself joined (join the inputs in one query)"
                .into(),
            span: sub.span,
        });
    }
    Ok(job)
}

/// The source of a join input that is the subquery `stage`, named by the
/// subquery's alias.
fn side_source(stage: &JobPlan, input: &velo_ast::TableRef) -> SourcePlan {
    let alias = input
        .alias
        .as_ref()
        .map_or_else(|| input.name.value.clone(), |a| a.value.clone());
    SourcePlan {
        alias: Some(alias),
        ..stage.source.clone()
    }
}

/// The output names of the select items marked `PRIMARY KEY`, in select order:
/// a Kafka sink's message key.
fn primary_key_columns(query: &velo_ast::SelectQuery) -> Vec<String> {
    query
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::Expr {
                expr,
                alias,
                primary_key: true,
                ..
            } => Some(output_name(expr, alias.as_ref())),
            _ => None,
        })
        .collect()
}

/// The output column name of a select item (DECISIONS.md "Output column names"):
/// its alias, else the column's own name, else the expression's SQL text
/// (e.g. `COUNT(*)`). The engine names its output columns by the same rule.
pub fn output_name(expr: &velo_ast::Expr, alias: Option<&velo_ast::Ident>) -> String {
    if let Some(a) = alias {
        return a.value.clone();
    }
    match expr {
        velo_ast::Expr::Identifier(id) => id.value.clone(),
        velo_ast::Expr::CompoundIdentifier(parts) => {
            parts.last().map(|p| p.value.clone()).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

/// Where `NAME.path` is written, if it is.
fn path_span(props: &PropertyMap<'_>, name: &str) -> Option<Span> {
    props.get(&format!("{name}.path")).map(|p| p.value_span)
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
    routing: &RoutingNeeds,
    config: &JobConfig,
) -> Result<StrategyChoice> {
    match config.partitioning {
        None => Ok(routing.auto()),
        Some(kind) => match routing.check(kind) {
            Ok(()) => Ok(routing.explicit(kind)),
            Err(message) => Err(Error::Invalid {
                message,
                span: query.span,
            }),
        },
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

    /// `levels` SELECT levels, each counting the rows of the one below per key
    /// (EMIT FINAL, so that each may feed the next).
    fn nested_counts(levels: usize) -> String {
        let mut sql = "SELECT k, COUNT(*) AS n FROM t GROUP BY k EMIT FINAL".to_string();
        for _ in 1..levels {
            sql = format!("SELECT k, COUNT(*) AS n FROM ({sql}) AS s GROUP BY k EMIT FINAL");
        }
        sql
    }

    #[test]
    fn each_stateful_level_is_a_stage_up_to_the_limit() {
        let j = job(&nested_counts(3), "");
        assert_eq!(j.downstream.len(), 2);
        let j = job(&nested_counts(crate::nested::MAX_STAGES), "");
        assert_eq!(j.downstream.len(), crate::nested::MAX_STAGES - 1);
        let sql = format!(
            "{} WITH ('t.type' = 'stdin_source')",
            nested_counts(crate::nested::MAX_STAGES + 1)
        );
        let err = plan_sql(&sql, &PlanOptions::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("more than 16 levels of stateful subqueries"),
            "{err}"
        );
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

    mod kafka {
        use velo_types::connector::{KafkaSinkConfig, KafkaSourceConfig};
        use velo_types::{parse_schema_decl, DataType};

        use super::super::*;

        const SOURCE: &str = "'in.type' = 'kafka_source', 'in.topic' = 'trades', \
             'in.bootstrap.servers' = 'b1:9092,b2:9092', 'in.schema' = 'sym VARCHAR, price DOUBLE'";

        fn plan(sql: &str, env: Option<&str>) -> Result<AppPlan> {
            let app = velo_ast::parse_app(sql)?;
            plan_app_with(&app, &PlanOptions::default(), env)
        }

        fn job(sql: &str) -> JobPlan {
            plan(sql, None)
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .jobs
                .remove(0)
        }

        fn source(job: &JobPlan) -> &KafkaSourceConfig {
            match &job.source.config {
                SourceConfig::Kafka(k) => k,
                other => panic!("not a Kafka source: {other:?}"),
            }
        }

        fn sink(job: &JobPlan) -> &KafkaSinkConfig {
            match &job.sink.config {
                SinkConfig::Kafka(k) => k,
                other => panic!("not a Kafka sink: {other:?}"),
            }
        }

        /// The error's message and the app text its span points at.
        fn error(sql: &str, env: Option<&str>) -> (String, String) {
            let e = plan(sql, env).expect_err(sql);
            (e.to_string(), at(sql, e.span()))
        }

        /// The app text `span` points at.
        fn at(sql: &str, span: Span) -> String {
            let lines: Vec<&str> = sql.lines().collect();
            let line = lines[span.start.line as usize - 1];
            let start = span.start.column as usize - 1;
            let end = if span.end.line == span.start.line {
                (span.end.column as usize - 1).max(start)
            } else {
                line.len()
            };
            line[start..end].to_string()
        }

        #[test]
        fn source_config_with_defaults() {
            let j = job(&format!(
                "CREATE STREAM out AS SELECT sym, price FROM in WITH ({SOURCE}, 'out.type' = 'stdout_sink')"
            ));
            assert_eq!(
                source(&j),
                &KafkaSourceConfig {
                    topic: "trades".to_string(),
                    brokers: "b1:9092,b2:9092".to_string(),
                    group_id: "velo-out".to_string(),
                    auto_offset_reset: "earliest".to_string(),
                    properties: vec![],
                    schema: Some(parse_schema_decl("sym VARCHAR, price DOUBLE").unwrap()),
                }
            );
            assert!(j.runtime.is_empty(), "{:?}", j.runtime);
            // A bare SELECT's group is named after its job.
            let j = job(&format!("SELECT sym FROM in WITH ({SOURCE})"));
            assert_eq!(source(&j).group_id, "velo-select_1");
        }

        #[test]
        fn source_options_and_pass_through_settings() {
            let j = job(&format!(
                "SELECT sym FROM in WITH ({SOURCE}, 'in.group.id' = 'g1', 'in.auto.offset.reset' = 'LATEST', \
                 'in.kafka.session.timeout.ms' = '6000', 'in.kafka.client.id' = 'velo', 'in.format' = 'json')"
            ));
            let k = source(&j);
            assert_eq!(k.group_id, "g1");
            assert_eq!(k.auto_offset_reset, "latest");
            assert_eq!(
                k.properties,
                [
                    ("client.id".to_string(), "velo".to_string()),
                    ("session.timeout.ms".to_string(), "6000".to_string()),
                ]
            );
        }

        #[test]
        fn brokers_fall_back_to_the_environment() {
            let sql = "SELECT sym FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 't', 'in.schema' = 'sym VARCHAR')";
            let p = plan(sql, Some("env:9092")).unwrap();
            assert_eq!(source(&p.jobs[0]).brokers, "env:9092");
            // The property wins over the environment.
            let sql2 = sql.replace(
                "'in.topic'",
                "'in.bootstrap.servers' = 'prop:9092', 'in.topic'",
            );
            let p = plan(&sql2, Some("env:9092")).unwrap();
            assert_eq!(source(&p.jobs[0]).brokers, "prop:9092");
            // Brokers nowhere: not an error of the app text, but the job cannot run.
            for env in [None, Some("  ")] {
                let j = plan(sql, env).unwrap().jobs.remove(0);
                assert_eq!(source(&j).brokers, "");
                let unmet: Vec<_> = j.runtime.iter().filter(|r| r.unmet).collect();
                assert_eq!(unmet.len(), 1, "{:?}", j.runtime);
                assert_eq!(
                    unmet[0].message,
                    "'in' needs brokers: add 'in.bootstrap.servers' = 'host:9092' or set the environment variable VELO_KAFKA_BROKERS"
                );
                assert_eq!(at(sql, unmet[0].span), "in");
            }
            // The same for a Kafka sink.
            let sql3 = format!(
                "CREATE STREAM out AS SELECT sym FROM in WITH ({SOURCE}, 'out.type' = 'kafka_sink', 'out.topic' = 'o')"
            );
            let j = plan(&sql3, None).unwrap().jobs.remove(0);
            assert_eq!(sink(&j).brokers, "");
            assert!(
                matches!(&j.runtime[..], [r] if r.unmet && r.message.starts_with("'out' needs brokers") && at(&sql3, r.span) == "out"),
                "{:?}",
                j.runtime
            );
        }

        #[test]
        fn source_errors_name_the_key_and_point_at_it() {
            let cases = [
                (
                    "SELECT a FROM in WITH ('in.type' = 'kafka_source', 'in.bootstrap.servers' = 'b:1', 'in.schema' = 'a INT')",
                    "invalid property 'in.topic': 'in' needs a topic: add 'in.topic' = '...'",
                    "in",
                ),
                (
                    "SELECT a FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 'a b', 'in.bootstrap.servers' = 'b:1', 'in.schema' = 'a INT')",
                    "invalid property 'in.topic': expected a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-'), found 'a b'",
                    "'a b'",
                ),
                (
                    "SELECT a FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 't', 'in.bootstrap.servers' = 'b:1', 'in.schema' = 'a INT', 'in.auto.offset.reset' = 'smallest')",
                    "invalid property 'in.auto.offset.reset': expected one of earliest, latest, found 'smallest'",
                    "'smallest'",
                ),
                (
                    "SELECT a FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 't', 'in.bootstrap.servers' = 'b:1', 'in.schema' = 'a INT, _offset BIGINT')",
                    "invalid property 'in.schema': '_offset' is a system column that the Kafka reader appends to every row; rename the declared column",
                    "'a INT, _offset BIGINT'",
                ),
                (
                    "SELECT a FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 't', 'in.bootstrap.servers' = 'b:1', 'in.schema' = 'a INT', 'in.kafka.enable.auto.commit' = 'true')",
                    "invalid property 'in.kafka.enable.auto.commit': 'enable.auto.commit' cannot be passed through: Velo commits offsets itself, after the rows are written",
                    "'in.kafka.enable.auto.commit'",
                ),
                (
                    "SELECT a FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 't', 'in.bootstrap.servers' = 'b:1', 'in.schema' = 'a INT', 'in.kafka.group.id' = 'g')",
                    "invalid property 'in.kafka.group.id': 'group.id' cannot be passed through: set 'in.group.id' instead",
                    "'in.kafka.group.id'",
                ),
                (
                    "SELECT a FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 't', 'in.bootstrap.servers' = 'b:1', 'in.schema' = 'a INT', 'in.format' = 'csv')",
                    "invalid property 'in.format': Kafka message values are JSON objects: expected json, found 'csv'",
                    "'csv'",
                ),
                (
                    "SELECT a FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 't', 'in.bootstrap.servers' = 'b:1', 'in.schema' = 'a INT', 'in.path' = 'x.csv')",
                    "invalid property 'in.path': 'path' is not an option of the Kafka connector 'in'",
                    "'in.path'",
                ),
                (
                    "SELECT a FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 't', 'in.bootstrap.servers' = 'b:1', 'in.schema' = 'a INT', 'in.group.id' = ' ')",
                    "invalid property 'in.group.id': expected a consumer group name",
                    "' '",
                ),
            ];
            for (sql, message, at) in cases {
                assert_eq!(
                    error(sql, None),
                    (message.to_string(), at.to_string()),
                    "{sql}"
                );
            }
        }

        #[test]
        fn sink_config_with_primary_key_columns() {
            let j = job(&format!(
                "CREATE STREAM out AS SELECT sym PRIMARY KEY, price * 2 AS p2, UPPER(sym) PRIMARY KEY FROM in \
                 WITH ({SOURCE}, 'out.type' = 'kafka_sink', 'out.topic' = 'out-topic', 'out.bootstrap.servers' = 'b:9092', \
                 'out.kafka.linger.ms' = '5')"
            ));
            assert_eq!(
                sink(&j),
                &KafkaSinkConfig {
                    topic: "out-topic".to_string(),
                    brokers: "b:9092".to_string(),
                    properties: vec![("linger.ms".to_string(), "5".to_string())],
                    key_columns: vec!["sym".to_string(), "UPPER(sym)".to_string()],
                }
            );
            assert!(j.warnings.is_empty(), "{:?}", j.warnings);
            let j = job(&format!(
                "INSERT INTO out SELECT sym AS s PRIMARY KEY FROM in \
                 WITH ({SOURCE}, 'out.type' = 'kafka_sink', 'out.topic' = 'o', 'out.bootstrap.servers' = 'b:9092')"
            ));
            assert_eq!(sink(&j).key_columns, ["s"]);
            let j = job(&format!(
                "INSERT INTO out SELECT sym FROM in \
                 WITH ({SOURCE}, 'out.type' = 'kafka_sink', 'out.topic' = 'o', 'out.bootstrap.servers' = 'b:9092')"
            ));
            assert!(sink(&j).key_columns.is_empty());
        }

        #[test]
        fn sink_errors() {
            let (message, at) = error(
                &format!("INSERT INTO out SELECT sym FROM in WITH ({SOURCE}, 'out.type' = 'kafka_sink', 'out.bootstrap.servers' = 'b:9092')"),
                None,
            );
            assert_eq!(
                message,
                "invalid property 'out.topic': 'out' needs a topic: add 'out.topic' = '...'"
            );
            assert_eq!(at, "out");
            let (message, at) = error(
                &format!("INSERT INTO out SELECT sym FROM in WITH ({SOURCE}, 'out.type' = 'kafka_sink', 'out.topic' = 'o', 'out.bootstrap.servers' = 'b:9092', 'out.group.id' = 'g')"),
                None,
            );
            assert_eq!(message, "invalid property 'out.group.id': 'group.id' is an option of Kafka sources, and 'out' is a kafka_sink");
            assert_eq!(at, "'out.group.id'");
        }

        #[test]
        fn primary_key_on_another_sink_is_ignored_with_a_warning() {
            let j = job(&format!(
                "SELECT sym PRIMARY KEY, price FROM in WITH ({SOURCE})"
            ));
            assert_eq!(
                j.warnings,
                ["PRIMARY KEY marks the message key of a Kafka sink; 'stdout' is not one, so it is ignored"]
            );
        }

        #[test]
        fn message_timestamp_is_the_default_event_time() {
            let j = job(&format!(
                "SELECT sym, _key, _partition, _offset FROM in WITH ({SOURCE})"
            ));
            assert_eq!(j.config.event_time_field.as_deref(), Some("_timestamp"));
            // A window without a time column runs on the message timestamp.
            let j = job(&format!(
                "SELECT sym, COUNT(*) AS n FROM in GROUP BY sym WINDOW TUMBLING(1m) WITH ({SOURCE})"
            ));
            assert_eq!(j.config.event_time_field.as_deref(), Some("_timestamp"));
            // A named column wins: event.time.field, then the window's column.
            let j = job(&format!(
                "SELECT sym FROM in WITH ({SOURCE}, 'event.time.field' = 'ts')"
            ));
            assert_eq!(j.config.event_time_field.as_deref(), Some("ts"));
            let j = job(&format!(
                "SELECT sym, COUNT(*) AS n FROM in GROUP BY sym WINDOW TUMBLING(ts, 1m) WITH ({SOURCE})"
            ));
            assert_eq!(j.config.event_time_field.as_deref(), Some("ts"));
            // Other sources get no default.
            let j = job("SELECT a FROM f WITH ('f.type' = 'stdin_source')");
            assert_eq!(j.config.event_time_field, None);
        }

        #[test]
        fn reader_schema_appends_the_system_columns() {
            let j = job(&format!("SELECT sym FROM in WITH ({SOURCE})"));
            let schema = source(&j).reader_schema().expect("a declared schema");
            let columns: Vec<(&str, DataType)> = schema
                .fields()
                .iter()
                .map(|f| (&*f.name, f.data_type))
                .collect();
            assert_eq!(
                columns,
                [
                    ("sym", DataType::String),
                    ("price", DataType::Float),
                    ("_key", DataType::String),
                    ("_partition", DataType::Int),
                    ("_offset", DataType::Int),
                    ("_timestamp", DataType::Timestamp),
                ]
            );
        }

        #[test]
        fn a_source_without_a_schema_is_typed_at_run_time() {
            // The original system's dialect: no schema, brokers from the environment.
            let sql = "SELECT sym FROM in WITH ('in.type' = 'kafka_source', 'in.topic' = 't')";
            let j = plan(sql, Some("env:9092")).unwrap().jobs.remove(0);
            assert_eq!(source(&j).schema, None);
            assert_eq!(source(&j).reader_schema(), None);
            assert!(
                matches!(&j.runtime[..], [r] if !r.unmet && r.message.contains("first messages") && at(sql, r.span) == "in"),
                "{:?}",
                j.runtime
            );
        }

        #[test]
        fn kafka_sinks_may_receive_failed_rows() {
            let j = job(&format!(
                "SELECT sym FROM in WITH ({SOURCE}, 'failure_strategy' = 'send_to_dlq', 'dlq.sink' = 'bad', \
                 'bad.type' = 'kafka_sink', 'bad.topic' = 'bad', 'bad.bootstrap.servers' = 'b:9092')"
            ));
            let dlq = j.dlq.expect("a DLQ sink");
            assert!(
                matches!(&dlq.config, SinkConfig::Kafka(k) if k.topic == "bad" && k.key_columns.is_empty())
            );
        }
    }
}
