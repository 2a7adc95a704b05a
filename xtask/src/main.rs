//! Project tasks, per the cargo-xtask convention: `cargo xtask <task>`.
//!
//! - `ci`: formatting, clippy with warnings denied, and the tests (what `.ci/run` does).
//! - `bench [--quick] [--scenario LIST] [--records N] [--partitions LIST] [...]`:
//!   the scenario suite (`velo-bench`), built and run in release mode; it prints
//!   the table and writes `target/bench/results.json` (every other option is
//!   passed on to `velo-bench`, see `cargo xtask bench --help`).
//! - `bench --criterion [--quick]`: the criterion micro-benchmarks instead.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The workspace root: xtask's own crate sits right under it.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => {
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])?;
            cargo(&["test", "--workspace"])
        }
        Some("bench") if args.iter().any(|x| x == "--criterion") => {
            let mut a = vec!["bench", "-p", "velo-engine", "--bench", "query"];
            if args.iter().any(|x| x == "--quick") {
                a.extend(["--", "--quick"]);
            }
            cargo(&a)
        }
        Some("bench") => {
            let rest = &args[1..];
            // The end-to-end mode runs the release server binary.
            cargo(&["build", "--release", "-p", "velo-server"])?;
            let mut a: Vec<String> = ["run", "--release", "-p", "velo-bench", "--"]
                .map(String::from)
                .to_vec();
            a.extend(rest.iter().cloned());
            let has_json = rest
                .iter()
                .any(|x| x == "--json" || x.starts_with("--json="));
            if !has_json && !rest.iter().any(|x| x == "--help" || x == "-h") {
                // The workspace's target directory, wherever cargo xtask is run from.
                let json = workspace_root().join("target/bench/results.json");
                a.push("--json".into());
                a.push(json.display().to_string());
            }
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            cargo(&a)
        }
        _ => bail!(
            "usage: cargo xtask <ci | bench [--quick] [--scenario LIST] [--records N] [--partitions LIST] | bench --criterion [--quick]>"
        ),
    }
}
