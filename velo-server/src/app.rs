//! Loading an app file: read, parse, plan, and render errors with file, line,
//! column and a caret.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use velo_engine::query::QueryExecutor;
use velo_planner::{AppPlan, JobPlan, PlanOptions};
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
        match e.span() {
            Some(span) => Failure::User(velo_ast::diagnostic::render(
                &self.source,
                Some(&self.path.display().to_string()),
                span,
                &e.message(),
            )),
            None => Failure::User(format!("error: {}: {e}", self.path.display())),
        }
    }

    /// `check`: compiles every job against its source's schema where the schema
    /// can be known without consuming input (files, the generator, a declared
    /// schema).
    pub fn check_schemas(&self) -> Result<(), Failure> {
        for (job, schema) in self.plan.jobs.iter().zip(self.source_schemas()?) {
            if let Some(schema) = schema {
                self.compile(job, schema)?;
            }
        }
        Ok(())
    }

    /// Each job's input schema, in job order, where it can be known without
    /// consuming input (files, the generator, a declared schema); `None` for
    /// stdin without a declared schema.
    pub fn source_schemas(&self) -> Result<Vec<Option<SchemaRef>>, Failure> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let mut schemas = Vec::with_capacity(self.plan.jobs.len());
        for job in &self.plan.jobs {
            let schema = match &job.source.config {
                velo_types::connector::SourceConfig::Stdin { encoding } => {
                    encoding.schema.as_ref().map(|s| Arc::new(s.clone()))
                }
                // Declared; known without connecting to the brokers.
                velo_types::connector::SourceConfig::Kafka(k) => Some(Arc::new(k.reader_schema())),
                config => {
                    let reader = rt
                        .block_on(velo_io::open_reader(
                            config,
                            &velo_io::ReaderOptions {
                                system_columns: job.source.system_columns,
                                ..Default::default()
                            },
                        ))
                        .map_err(|e| io_failure(job, &e))?;
                    Some(reader.schema())
                }
            };
            schemas.push(schema);
        }
        Ok(schemas)
    }

    pub fn compile(&self, job: &JobPlan, schema: SchemaRef) -> Result<QueryExecutor, Failure> {
        QueryExecutor::new(job, schema).map_err(|e| self.compile_error(&e))
    }
}

/// An IO error as the user sees it.
pub fn io_failure(job: &JobPlan, e: &velo_io::Error) -> Failure {
    Failure::User(format!("error: job '{}': {e}", job.name))
}
