//! Loading an app file: read, parse, plan, and render errors with file, line,
//! column and a caret.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use velo_engine::join::LookupTable;
use velo_engine::query::QueryExecutor;
use velo_planner::{AppPlan, JobPlan, PlanOptions};
use velo_types::connector::SourceConfig;
use velo_types::SchemaRef;

/// Why a command failed, deciding its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: the user's app, input or environment is at fault.
    User(String),
    /// Exit 2: Velo is at fault.
    Internal(String),
}

/// An app file, parsed and planned.
#[derive(Debug)]
pub struct LoadedApp {
    pub path: PathBuf,
    pub source: String,
    pub plan: AppPlan,
}

impl LoadedApp {
    pub fn load(path: &Path) -> Result<LoadedApp, Failure> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            Failure::User(format!(
                "error: cannot read app file {}: {e}",
                path.display()
            ))
        })?;
        let base_dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let plan = velo_planner::plan_sql(&source, &PlanOptions { base_dir })
            .map_err(|e| Failure::User(e.render(&source, Some(&path.display().to_string()))))?;
        crate::paths::check(&plan, Some(path))
            .map_err(|c| Failure::User(c.render(&source, &path.display().to_string())))?;
        Ok(LoadedApp {
            path: path.to_path_buf(),
            source,
            plan,
        })
    }

    /// Renders an engine compile error against the app text.
    pub fn compile_error(&self, e: &velo_engine::Error) -> Failure {
        match e.span().map(velo_planner::bind::sql_span) {
            Some(span) => Failure::User(velo_ast::diagnostic::render(
                &self.source,
                Some(&self.path.display().to_string()),
                span,
                &e.message(),
            )),
            None => Failure::User(format!("error: {}: {e}", self.path.display())),
        }
    }

    /// `check` (SPEC §1): compiles every job against its source's schema where
    /// the schema can be known without consuming input (files, the generator, a
    /// declared schema). What only the run-time environment supplies (brokers
    /// from `VELO_KAFKA_BROKERS`, columns discovered from the data, an input
    /// file that does not exist yet) is handed to `warn`, rendered at its
    /// position; errors in the app text itself are the failure.
    pub fn check(&self, mut warn: impl FnMut(&str)) -> Result<(), Failure> {
        for (job, (schema, right)) in self.plan.jobs.iter().zip(self.input_schemas()?) {
            for setting in &job.runtime {
                warn(&self.render_warning(setting.span, &setting.message));
            }
            match schema {
                InputSchema::Known(schema) => {
                    // A missing table file, like a missing input file, may
                    // exist by the time the job runs.
                    let missing = job.joins.iter().find_map(|j| match &j.table.config {
                        SourceConfig::File { path, .. } if !path.exists() => Some((
                            j.table.span,
                            format!(
                                "job '{}': table '{}': {} does not exist (yet)",
                                job.name,
                                j.table.name,
                                path.display()
                            ),
                        )),
                        _ => None,
                    });
                    if let Some((span, message)) = missing {
                        warn(&self.render_warning(span, &message));
                        continue;
                    }
                    let right = match right {
                        None => None,
                        Some(InputSchema::Known(r)) => Some(r),
                        Some(InputSchema::AtRunTime) => continue,
                        Some(InputSchema::Missing(message)) => {
                            let span = job
                                .stream_join
                                .as_ref()
                                .map_or(job.source.span, |j| j.right.span);
                            warn(&self.render_warning(span, &message));
                            continue;
                        }
                    };
                    let tables = self.load_tables(job, false)?;
                    self.compile(job, schema, right, &tables)?;
                }
                InputSchema::AtRunTime => {}
                InputSchema::Missing(message) => {
                    warn(&self.render_warning(job.source.span, &message));
                }
            }
        }
        Ok(())
    }

    /// `run`: fails, with the message `check` warns with, when a job needs a
    /// setting that this environment does not supply (Kafka brokers nowhere).
    pub fn require_environment(&self) -> Result<(), Failure> {
        let unmet: Vec<String> = self
            .plan
            .jobs
            .iter()
            .flat_map(|job| &job.runtime)
            .filter(|setting| setting.unmet)
            .map(|setting| {
                velo_ast::diagnostic::render(
                    &self.source,
                    Some(&self.path.display().to_string()),
                    setting.span,
                    &setting.message,
                )
            })
            .collect();
        if unmet.is_empty() {
            Ok(())
        } else {
            Err(Failure::User(unmet.join("\n")))
        }
    }

    fn render_warning(&self, span: velo_ast::Span, message: &str) -> String {
        velo_ast::diagnostic::render_warning(
            &self.source,
            Some(&self.path.display().to_string()),
            span,
            message,
        )
    }

    /// Each job's input schemas: its source's and, for a job that joins two
    /// streams, the second stream's.
    pub fn input_schemas(&self) -> Result<Vec<(InputSchema, Option<InputSchema>)>, Failure> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let mut schemas = Vec::with_capacity(self.plan.jobs.len());
        for job in &self.plan.jobs {
            let left = schema_of(&rt, job)?;
            let right = match job.right_input() {
                Some(r) => Some(schema_of(&rt, &r)?),
                None => None,
            };
            schemas.push((left, right));
        }
        Ok(schemas)
    }

    /// Compiles `job` over its source's `schema`, with its joined `tables`
    /// ([`load_tables`]).
    /// `right` is the second stream's schema, for a job that joins two.
    pub fn compile(
        &self,
        job: &JobPlan,
        schema: SchemaRef,
        right: Option<SchemaRef>,
        tables: &[Arc<LookupTable>],
    ) -> Result<QueryExecutor, Failure> {
        QueryExecutor::with_inputs(job, schema, right, tables).map_err(|e| self.compile_error(&e))
    }

    /// Reads every table `job` joins, whole (SPEC §2: a file table is read
    /// before the first stream row is joined). A table whose file cannot be
    /// read, or has a bad record, fails the job: a row missing from a table
    /// would silently change every join with it.
    ///
    /// A Kafka table is its topic's changelog read to the end it has when
    /// the job starts (`velo_io::kafka_table`). With `read` false it is left
    /// empty, typed by its declared columns: what `check` compiles against
    /// without connecting to the brokers.
    pub fn load_tables(&self, job: &JobPlan, read: bool) -> Result<Vec<Arc<LookupTable>>, Failure> {
        if job.joins.is_empty() {
            return Ok(Vec::new());
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Failure::Internal(e.to_string()))?;
        job.joins
            .iter()
            .map(|join| {
                let name = &join.table.name;
                let fail = |e: &velo_io::Error| {
                    Failure::User(format!("error: job '{}': table '{name}': {e}", job.name))
                };
                let span = velo_planner::bind::position(join.table.span);
                if let SourceConfig::Kafka(k) = &join.table.config {
                    return self.load_changelog(k, &join.table_key, span, read, &fail);
                }
                rt.block_on(async {
                    let mut reader = velo_io::open_reader(
                        &join.table.config,
                        &velo_io::ReaderOptions::default(),
                    )
                    .await
                    .map_err(|e| fail(&e))?;
                    let mut table = LookupTable::new(reader.schema(), &join.table_key, span)
                        .map_err(|e| self.compile_error(&e))?;
                    while let Some(batch) = reader.next_batch().await.map_err(|e| fail(&e))? {
                        table.insert_batch(&batch);
                    }
                    Ok(Arc::new(table))
                })
            })
            .collect()
    }

    /// One Kafka table: its changelog applied in order (see [`load_tables`]).
    fn load_changelog(
        &self,
        config: &velo_types::connector::KafkaSourceConfig,
        key: &[String],
        span: velo_types::Span,
        read: bool,
        fail: &dyn Fn(&velo_io::Error) -> Failure,
    ) -> Result<Arc<LookupTable>, Failure> {
        let declared = config
            .schema
            .as_ref()
            .ok_or_else(|| Failure::Internal("a Kafka table without a schema".into()))?;
        let schema = Arc::new(velo_io::kafka_table::table_schema(declared));
        let mut table = LookupTable::new(schema, key, span).map_err(|e| self.compile_error(&e))?;
        if read {
            velo_io::kafka_table::read_changelog(config, key, |change| match change {
                velo_io::kafka_table::Change::Upsert(row) => table.upsert(row),
                velo_io::kafka_table::Change::Delete(key) => {
                    table.remove(key);
                }
            })
            .map_err(|e| fail(&e))?;
        }
        Ok(Arc::new(table))
    }
}

/// What can be known of `job`'s source schema without consuming input.
fn schema_of(rt: &tokio::runtime::Runtime, job: &JobPlan) -> Result<InputSchema, Failure> {
    let schema = match &job.source.config {
        SourceConfig::Stdin { encoding } => match &encoding.schema {
            Some(s) => InputSchema::Known(Arc::new(s.clone())),
            None => InputSchema::AtRunTime,
        },
        // Declared: known without connecting to the brokers.
        SourceConfig::Kafka(k) => match k.reader_schema() {
            Some(s) => InputSchema::Known(Arc::new(s)),
            None => InputSchema::AtRunTime,
        },
        config => match rt.block_on(velo_io::open_reader(
            config,
            &velo_io::ReaderOptions {
                system_columns: job.source.system_columns,
                ..Default::default()
            },
        )) {
            Ok(reader) => InputSchema::Known(reader.schema()),
            // Not an error of the app text: it may exist by the time it runs.
            Err(e) if is_not_found(&e) => InputSchema::Missing(format!("job '{}': {e}", job.name)),
            Err(e) => return Err(io_failure(job, &e)),
        },
    };
    Ok(schema)
}

/// What is known of a job's input schema before the job runs.
#[derive(Debug)]
pub enum InputSchema {
    /// Declared, or read from the input's head (a file's header or sample).
    Known(SchemaRef),
    /// Typed from the data once the job runs: stdin or a Kafka source without
    /// a declared schema.
    AtRunTime,
    /// The input file does not exist (yet): what `run` would fail with now.
    Missing(String),
}

fn is_not_found(e: &velo_io::Error) -> bool {
    matches!(e, velo_io::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// An IO error as the user sees it.
pub fn io_failure(job: &JobPlan, e: &velo_io::Error) -> Failure {
    Failure::User(format!("error: job '{}': {e}", job.name))
}
