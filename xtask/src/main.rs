//! Project tasks, per the cargo-xtask convention: `cargo xtask <task>`.
//!
//! - `ci`: formatting, clippy with warnings denied, and the tests (what `.ci/run` does).
//! - `bench`: the criterion micro-benchmarks in release mode (the scenario suite
//!   joins them with the benchmark issue).

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
        Some("bench") => {
            let mut a = vec!["bench", "-p", "velo-engine", "--bench", "query"];
            if args.iter().any(|x| x == "--quick") {
                a.extend(["--", "--quick"]);
            }
            cargo(&a)
        }
        _ => bail!("usage: cargo xtask <ci|bench [--quick]>"),
    }
}
