//! Files an app must not write: a file sink is refused when it would write a file
//! that a source of the same app reads (or the app file itself), or a file that
//! another sink of the app writes. Opening a file sink truncates its file, so the
//! first would destroy the input while it is read, and the second would keep only
//! one writer's rows while both report them written.
//!
//! Paths are compared in canonical form, so `./in.csv`, `../dir/in.csv` and a
//! symlink to `in.csv` are all the same file. A file that does not exist yet is
//! compared by its folder's canonical path and its name.

use std::path::{Component, Path, PathBuf};

use velo_ast::Span;
use velo_planner::{AppPlan, SinkPlan};
use velo_types::connector::{SinkConfig, SourceConfig};

/// Two uses of one file that cannot both stand; `span` is where the refused
/// sink's path is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathConflict {
    pub message: String,
    pub span: Option<Span>,
}

impl PathConflict {
    /// The error as `check` prints it: with file, line, column and a caret where
    /// the refused path is written.
    pub fn render(&self, text: &str, file: &str) -> String {
        match self.span {
            Some(span) => velo_ast::diagnostic::render(text, Some(file), span, &self.message),
            None => format!("error: {file}: {}", self.message),
        }
    }
}

/// A file the app reads or writes, with who does it.
struct FileUse {
    canonical: PathBuf,
    /// e.g. "source 'orders' of job 'big'", "the app file".
    who: String,
    written_as: Option<String>,
    span: Option<Span>,
}

/// Checks every file sink of `plan` against the app file, every file source and
/// every other file sink. A sink declared once and named by several jobs is
/// still one writer per job, so it conflicts with itself across jobs.
pub fn check(plan: &AppPlan, app_file: Option<&Path>) -> Result<(), PathConflict> {
    let mut read: Vec<FileUse> = Vec::new();
    if let Some(app) = app_file {
        read.push(FileUse {
            canonical: canonical(app),
            who: "the app file".to_string(),
            written_as: None,
            span: None,
        });
    }
    let mut written: Vec<FileUse> = Vec::new();
    for job in &plan.jobs {
        let tables = job.joins.iter().map(|j| (&j.table, "table"));
        let second = job.stream_join.iter().map(|j| (&j.right, "source"));
        for (source, role) in std::iter::once((&job.source, "source"))
            .chain(second)
            .chain(tables)
        {
            if let SourceConfig::File { path, .. } = &source.config {
                read.push(FileUse {
                    canonical: canonical(path),
                    who: format!("{role} '{}' of job '{}'", source.name, job.name),
                    written_as: None,
                    span: source.path_span,
                });
            }
        }
        let sinks = std::iter::once((&job.sink, "sink"))
            .chain(job.dead_letter.iter().map(|s| (s, "dead-letter sink")))
            .chain(job.dlq.iter().map(|s| (s, "DLQ sink")));
        for (sink, role) in sinks {
            if let Some(path) = file_path(sink) {
                written.push(FileUse {
                    canonical: canonical(path),
                    who: format!("{role} '{}' of job '{}'", sink.name, job.name),
                    written_as: Some(path.display().to_string()),
                    span: sink.path_span,
                });
            }
        }
    }
    for (i, w) in written.iter().enumerate() {
        let shown = w.written_as.as_deref().unwrap_or_default();
        if let Some(r) = read.iter().find(|r| r.canonical == w.canonical) {
            return Err(PathConflict {
                message: format!(
                    "{} would write '{shown}', which {} reads: writing it would destroy the input; \
                     give the sink another path",
                    w.who, r.who
                ),
                span: w.span,
            });
        }
        if let Some(other) = written[..i].iter().find(|o| o.canonical == w.canonical) {
            return Err(PathConflict {
                message: format!(
                    "{} would write '{shown}', which {} writes too: one would overwrite the other's rows; \
                     give each sink its own path",
                    w.who, other.who
                ),
                span: w.span,
            });
        }
    }
    Ok(())
}

fn file_path(sink: &SinkPlan) -> Option<&Path> {
    match &sink.config {
        SinkConfig::File { path, .. } => Some(path),
        _ => None,
    }
}

/// `path` with symlinks resolved where it exists; else its nearest existing
/// ancestor canonicalized, with the rest of the path (normalized) appended.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(path) {
        return c;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(c) = std::fs::canonicalize(existing) {
            return normalize(&rest.iter().rev().fold(c, |p, part| p.join(part)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return normalize(&absolute),
        }
    }
}

/// Removes `.` and resolves `..` lexically (for the part of a path that does not
/// exist, where there is no symlink to follow).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(sql: &str, dir: &Path) -> AppPlan {
        velo_planner::plan_sql(
            sql,
            &velo_planner::PlanOptions {
                base_dir: Some(dir),
            },
        )
        .unwrap()
    }

    const COPY: &str = "CREATE STREAM out AS SELECT * FROM src WITH ('src.type' = 'file_source', \
        'src.path' = 'in.csv', 'out.type' = 'file_sink', 'out.path' = 'OUT');";

    fn conflict(out_path: &str, dir: &Path) -> Option<PathConflict> {
        check(&plan(&COPY.replace("OUT", out_path), dir), None).err()
    }

    #[test]
    fn a_sink_may_not_write_its_own_input_however_it_is_spelled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.csv"), "a\n1\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("in.csv"), dir.path().join("link.csv")).unwrap();
        let mut spellings = vec!["in.csv", "./in.csv", "sub/../in.csv", "sub/./../in.csv"];
        if cfg!(unix) {
            spellings.push("link.csv");
        }
        for spelling in spellings {
            let c = conflict(spelling, dir.path())
                .unwrap_or_else(|| panic!("'{spelling}' was not refused"));
            assert!(
                c.message.starts_with("sink 'out' of job 'out' would write")
                    && c.message.contains("which source 'src' of job 'out' reads"),
                "{}",
                c.message
            );
            assert!(c.span.is_some());
        }
        assert_eq!(conflict("out.jsonl", dir.path()), None);
        assert_eq!(conflict("sub/in.csv", dir.path()), None);
    }

    #[test]
    fn two_jobs_may_not_write_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let sql = "CREATE STREAM a AS SELECT * FROM src; CREATE STREAM b AS SELECT * FROM src \
            WITH ('src.type' = 'file_source', 'src.path' = 'in.csv', 'a.type' = 'file_sink', \
            'a.path' = 'same.jsonl', 'b.type' = 'file_sink', 'b.path' = './same.jsonl');";
        let c = check(&plan(sql, dir.path()), None).unwrap_err();
        assert_eq!(
            c.message,
            format!(
                "sink 'b' of job 'b' would write '{}', which sink 'a' of job 'a' writes too: \
                 one would overwrite the other's rows; give each sink its own path",
                dir.path().join("./same.jsonl").display()
            )
        );
    }

    #[test]
    fn a_sink_may_not_write_the_app_file() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app.sql");
        std::fs::write(&app, COPY).unwrap();
        let c = check(
            &plan(&COPY.replace("OUT", "app.sql"), dir.path()),
            Some(&app),
        )
        .unwrap_err();
        assert!(
            c.message.contains("which the app file reads"),
            "{}",
            c.message
        );
    }

    #[test]
    fn paths_that_do_not_exist_yet_compare_by_their_existing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let a = canonical(&dir.path().join("x/../y/z.jsonl"));
        let b = canonical(&dir.path().join("y/./z.jsonl"));
        assert_eq!(a, b);
        assert!(a.starts_with(std::fs::canonicalize(dir.path()).unwrap()));
    }
}
