//! Project tasks, per the cargo-xtask convention: `cargo xtask <task>`.
//!
//! - `test [ARGS]`: the whole test suite on a fresh machine (the README's test
//!   command): installs the `tansu` broker that the Kafka tests run against when it
//!   is missing (`cargo install --locked`, once, about 15 minutes on 2 cores) and
//!   Debian's `chromium`, which the console test drives, when `/usr/bin/chromium`
//!   is missing (`apt-get install -y chromium`, with `sudo` unless root), then
//!   runs `cargo test --workspace [ARGS]` with `VELO_TANSU` pointing at it.
//!   `VELO_SKIP_KAFKA_TESTS=1` and `VELO_SKIP_BROWSER_TESTS=1` skip those tests
//!   and their installs.
//! - `ci`: formatting, clippy with warnings denied, and `test` (what `.ci/run` does).
//! - `tidy`: only velo-ast and velo-planner see SQL syntax (see `tidy.rs`; the
//!   test suite runs the same check).
//! - `bench [--quick] [--scenario LIST] [--records N] [--partitions LIST] [...]`:
//!   the scenario suite (`velo-bench`), built and run in release mode; it prints
//!   the table and writes `target/bench/results.json` (every other option is
//!   passed on to `velo-bench`, see `cargo xtask bench --help`).
//! - `bench --criterion [--quick]`: the criterion micro-benchmarks instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod tidy;

/// The tansu release the Kafka tests are written against.
const TANSU_VERSION: &str = "0.6.0";

fn cargo(args: &[&str]) -> Result<()> {
    cargo_with_env(args, &[])
}

fn cargo_with_env(args: &[&str], env: &[(&str, &Path)]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
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

/// Where `cargo install` puts binaries: `$CARGO_INSTALL_ROOT/bin`, else
/// `$CARGO_HOME/bin`, else `~/.cargo/bin`.
fn cargo_bin_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    var("CARGO_INSTALL_ROOT")
        .or_else(|| var("CARGO_HOME"))
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|root| root.join("bin"))
}

/// The `tansu` binary the Kafka tests would use, as they look for it:
/// `$VELO_TANSU`, else `tansu` on `PATH`, else in cargo's bin folder.
fn find_tansu() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VELO_TANSU").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("tansu"));
    let in_cargo = cargo_bin_dir().map(|dir| dir.join("tansu"));
    on_path.chain(in_cargo).find(|p| p.is_file())
}

/// Finds `tansu`, installing it from crates.io first when it is missing.
fn ensure_tansu() -> Result<PathBuf> {
    if let Some(found) = find_tansu() {
        return Ok(found);
    }
    eprintln!(
        "== the Kafka tests need the tansu broker, which is not installed: installing tansu \
         {TANSU_VERSION} with cargo install (once; it takes about 15 minutes on 2 cores)"
    );
    cargo(&[
        "install",
        "--locked",
        "tansu",
        "--version",
        TANSU_VERSION,
        "--features",
        "dynostore",
    ])?;
    find_tansu()
        .context("cargo install tansu succeeded, but no tansu binary is in cargo's bin folder")
}

/// Where the console test looks for the browser (unless `$VELO_CHROMIUM`).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether this process runs as root (`id -u` prints 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `apt-get ARGS`, through `sudo` unless root; whether it succeeded.
fn apt_get(args: &[&str]) -> Result<bool> {
    let mut command = if is_root() {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("apt-get");
        sudo
    };
    eprintln!(
        "$ {}apt-get {}",
        if is_root() { "" } else { "sudo " },
        args.join(" ")
    );
    let status = command
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("cannot run apt-get")?;
    Ok(status.success())
}

/// Installs Debian's Chromium for the console test when it is missing.
fn ensure_chromium() -> Result<()> {
    let given = std::env::var_os("VELO_CHROMIUM").filter(|p| !p.is_empty());
    if given.is_some() || Path::new(CHROMIUM).is_file() {
        return Ok(());
    }
    eprintln!(
        "== the console test needs Chromium, which is not installed: installing Debian's \
         chromium with apt-get (once; VELO_SKIP_BROWSER_TESTS=1 skips the test instead)"
    );
    let install = ["install", "-y", "chromium"];
    // A fresh machine may have no package lists yet: then update and retry.
    let installed = apt_get(&install)? || (apt_get(&["update"])? && apt_get(&install)?);
    if !installed {
        bail!("cannot install chromium with apt-get; set VELO_SKIP_BROWSER_TESTS=1 to skip the console test");
    }
    if !Path::new(CHROMIUM).is_file() {
        bail!("apt-get installed chromium, but there is no {CHROMIUM}");
    }
    Ok(())
}

/// `cargo xtask test [ARGS]`: the README's test command.
fn test(extra: &[String]) -> Result<()> {
    if !std::env::var("VELO_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
        ensure_chromium()?;
    }
    let skip_kafka = std::env::var("VELO_SKIP_KAFKA_TESTS").is_ok_and(|v| v == "1");
    let tansu = if skip_kafka {
        None
    } else {
        Some(ensure_tansu()?)
    };
    let mut a = vec!["test", "--workspace"];
    a.extend(extra.iter().map(String::as_str));
    match &tansu {
        Some(t) => {
            eprintln!("== Kafka tests run against {}", t.display());
            cargo_with_env(&a, &[("VELO_TANSU", t)])
        }
        None => cargo(&a),
    }
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
            test(&[])
        }
        Some("test") => test(&args[1..]),
        Some("tidy") => tidy::check(&workspace_root()),
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
            "usage: cargo xtask <test [CARGO TEST ARGS] | ci | tidy | bench [--quick] [--scenario LIST] [--records N] [--partitions LIST] | bench --nexmark [--events N] [--queries LIST] | bench --criterion [--quick]>"
        ),
    }
}
