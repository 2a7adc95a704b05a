//! Data-driven parser tests: every `tests/parse/NAME.sql` is parsed and the
//! result compared with `tests/parse/NAME.expected`.
//!
//! - A valid app's expected file holds a compact dump of its AST (see [`dump`]).
//! - A file whose first line is `-- error` must fail; its expected file holds
//!   the rendered error (`ParseError::render`).
//!
//! `VELO_BLESS=1 cargo test -p velo-ast --test golden` rewrites the expected
//! files from the current output.

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use velo_ast::*;

#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parse");
    let bless = std::env::var("VELO_BLESS").is_ok_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/parse exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| check(case, bless).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed (VELO_BLESS=1 rewrites them):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn check(case: &Path, bless: bool) -> Result<(), String> {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let sql = fs::read_to_string(case).map_err(|e| format!("{name}: {e}"))?;
    let expect_error = sql.lines().next().is_some_and(|l| l.trim() == "-- error");
    let actual = match (parse_app(&sql), expect_error) {
        (Ok(app), false) => dump(&app),
        (Err(e), true) => e.render(&sql, Some(&name)) + "\n",
        (Ok(app), true) => {
            return Err(format!(
                "{name}: expected an error, parsed:\n{}",
                dump(&app)
            ))
        }
        (Err(e), false) => return Err(format!("{name}: {}", e.render(&sql, Some(&name)))),
    };
    let expected_path = case.with_extension("expected");
    if bless {
        fs::write(&expected_path, &actual).map_err(|e| format!("{name}: {e}"))?;
        return Ok(());
    }
    let expected = fs::read_to_string(&expected_path).unwrap_or_default();
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{name}: output differs\n--- expected\n{expected}--- actual\n{actual}"
        ))
    }
}

/// A stable, readable dump of an app: one block per statement, one line per
/// clause that is present; expressions through their `Display`.
fn dump(app: &App) -> String {
    let mut out = String::new();
    for (i, statement) in app.statements.iter().enumerate() {
        let head = match &statement.kind {
            StatementKind::CreateStream { name, .. } => format!("CREATE STREAM {name}"),
            StatementKind::CreateTable { name, .. } => format!("CREATE TABLE {name}"),
            StatementKind::InsertInto { target, .. } => format!("INSERT INTO {target}"),
            StatementKind::Select(_) => "SELECT".to_string(),
        };
        let _ = writeln!(
            out,
            "statement {} ({}): {head}",
            i + 1,
            span(statement.span)
        );
        dump_query(&mut out, statement.kind.query());
    }
    out
}

fn dump_query(out: &mut String, q: &SelectQuery) {
    let _ = writeln!(out, "  select:");
    for item in &q.projection {
        let _ = writeln!(out, "    - {}", select_item(item));
    }
    let _ = writeln!(out, "  from: {}", table(&q.from));
    for join in &q.joins {
        let _ = writeln!(
            out,
            "  join: {:?} {} ON {}",
            join.kind,
            table(&join.table),
            join.on
        );
    }
    if let Some(e) = &q.selection {
        let _ = writeln!(out, "  where: {e}");
    }
    if !q.group_by.is_empty() {
        let _ = writeln!(
            out,
            "  group by: {}",
            list(q.group_by.iter().map(ToString::to_string))
        );
    }
    if let Some(w) = &q.window {
        let _ = writeln!(out, "  window: {}", window(w));
    }
    if let Some(d) = q.row_expire {
        let _ = writeln!(out, "  row window expires after: {}ms", d.millis);
    }
    if let Some(e) = &q.having {
        let _ = writeln!(out, "  having: {e}");
    }
    if !q.order_by.is_empty() {
        let items = q
            .order_by
            .iter()
            .map(|o| format!("{}{}", o.expr, if o.descending { " DESC" } else { "" }));
        let _ = writeln!(out, "  order by: {}", list(items));
    }
    if let Some(n) = q.limit {
        let _ = writeln!(out, "  limit: {n}");
    }
    if let Some(emit) = q.emit {
        let _ = writeln!(out, "  emit: {:?}", emit.mode);
    }
    if !q.properties.is_empty() {
        let _ = writeln!(out, "  with:");
        for p in &q.properties {
            let _ = writeln!(out, "    {:?} = {:?}", p.key, p.value);
        }
    }
}

fn select_item(item: &SelectItem) -> String {
    match item {
        SelectItem::Wildcard { .. } => "*".to_string(),
        SelectItem::QualifiedWildcard { qualifier, .. } => format!("{qualifier}.*"),
        SelectItem::Expr {
            expr,
            alias,
            primary_key,
            ..
        } => {
            let mut s = expr.to_string();
            if let Some(a) = alias {
                let _ = write!(s, " AS {a}");
            }
            if *primary_key {
                s.push_str(" PRIMARY KEY");
            }
            s
        }
    }
}

fn table(t: &TableRef) -> String {
    match &t.alias {
        Some(a) => format!("{} AS {a}", t.name),
        None => t.name.to_string(),
    }
}

fn window(w: &WindowSpec) -> String {
    let column = w
        .time_column()
        .map_or_else(|| "<event time>".to_string(), ToString::to_string);
    match w {
        WindowSpec::Tumbling { size, .. } => {
            format!("TUMBLING time_column={column} size={}ms", size.millis)
        }
        WindowSpec::Sliding { size, advance, .. } => format!(
            "SLIDING time_column={column} size={}ms advance={}ms",
            size.millis, advance.millis
        ),
        WindowSpec::Session { gap, .. } => {
            format!("SESSION time_column={column} gap={}ms", gap.millis)
        }
    }
}

fn span(s: Span) -> String {
    format!(
        "{}:{}-{}:{}",
        s.start.line, s.start.column, s.end.line, s.end.column
    )
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
