//! `cargo xtask tidy`: the layering rule of issue 15, checked on the sources.
//! Only velo-ast and velo-planner see SQL syntax: the crates below them in the
//! data path consume the planner's output and never name a `sqlparser` type.
//!
//! - velo-types, velo-partition, velo-watermark and velo-io mention neither
//!   `sqlparser` nor `velo_ast` at all;
//! - velo-engine (sources, tests, benches, examples) and velo-server's processor
//!   (`src/processor/`) mention no `sqlparser` and no `velo_ast` item but Velo's
//!   own [`ALLOWED_AST_ITEMS`]: they consume the planner's bound form
//!   (`velo_planner::bind`), and velo-engine does not even depend on sqlparser.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Crates that never see syntax.
const SYNTAX_FREE_CRATES: &[&str] = &["velo-types", "velo-partition", "velo-watermark", "velo-io"];

/// velo-ast items that are Velo's own streaming types and limits, not syntax
/// trees.
const ALLOWED_AST_ITEMS: &[&str] = &[
    "velo_ast::EmitMode",
    "velo_ast::with_expr_stack",
    "velo_ast::EXPR_STACK_SIZE",
    "velo_ast::MAX_EXPR_DEPTH",
];

/// The `.rs` files under `dir`, sorted.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The lines of `text` that name syntax: `sqlparser`, or a `velo_ast` item not
/// in `allowed`, as `(line number, line)`.
fn syntax_lines<'a>(text: &'a str, allowed: &[&str]) -> Vec<(usize, &'a str)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("sqlparser") {
                return true;
            }
            code.match_indices("velo_ast")
                .any(|(i, _)| !allowed.iter().any(|a| code[i..].starts_with(a)))
        })
        .map(|(i, line)| (i + 1, line))
        .collect()
}

/// Checks the rule over the workspace at `root`; every breach is listed.
pub fn check(root: &Path) -> Result<()> {
    let mut breaches = Vec::new();
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let scan = |dir: &Path, allowed: &[&str], breaches: &mut Vec<String>| -> Result<()> {
        for file in rust_files(dir)? {
            let text = std::fs::read_to_string(&file)?;
            for (n, line) in syntax_lines(&text, allowed) {
                breaches.push(format!("{}:{n}: {}", rel(&file), line.trim()));
            }
        }
        Ok(())
    };
    for krate in SYNTAX_FREE_CRATES {
        scan(&root.join(krate), &[], &mut breaches)?;
    }
    scan(
        &root.join("velo-server/src/processor"),
        ALLOWED_AST_ITEMS,
        &mut breaches,
    )?;
    scan(&root.join("velo-engine"), ALLOWED_AST_ITEMS, &mut breaches)?;
    if !breaches.is_empty() {
        bail!(
            "only velo-ast and velo-planner may see SQL syntax (xtask/src/tidy.rs):\n  {}",
            breaches.join("\n  ")
        );
    }
    eprintln!("tidy: no SQL syntax below the planner");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_syntax_imports_and_allows_velo_s_own_items() {
        let text = "use sqlparser::ast::Expr;\nuse velo_ast::EmitMode;\nlet e: velo_ast::Expr;\n// sqlparser in a comment\nuse velo_types::Value;";
        let lines: Vec<usize> = syntax_lines(text, ALLOWED_AST_ITEMS)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(lines, [1, 3]);
        assert_eq!(syntax_lines(text, &[]).len(), 3);
    }

    #[test]
    fn the_workspace_keeps_the_rule() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        check(root).unwrap();
    }
}
