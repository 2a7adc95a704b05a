//! Data-driven SQL cases run through the real `velo-server` binary.
//!
//! Each folder under `tests/sql/` is one case: an `app.sql`, its input files, and
//! an `expected` file holding the exit code, then every file the run created (the
//! sinks' output) and the stdout, then the error lines of stderr. The case runs in
//! a temporary copy of its folder, as `velo-server run app.sql` (or the command
//! named by a first line `-- command: check`), so paths in messages are stable,
//! and without `VELO_KAFKA_BROKERS` in its environment.
//! `VELO_BLESS=1 cargo test -p velo-server --test golden_sql` rewrites the
//! `expected` files from what the binary does now. Every `run` case runs on the
//! V1 processor (whose output is the expectation) and on V2 with 3 partitions
//! (partition 0 on its own thread or the router's, alternately), whose rows
//! must be the same multiset. No run may change its input files or app file.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) -> BTreeSet<PathBuf> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "expected" {
            continue;
        }
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        names.insert(PathBuf::from(entry.file_name()));
    }
    names
}

fn created_files(dir: &Path, before: &BTreeSet<PathBuf>, out: &mut Vec<(String, String)>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            if p.is_dir() {
                stack.push(p);
            } else if !before.contains(&rel) {
                let text = fs::read_to_string(&p).unwrap_or_else(|_| "<binary>".to_string());
                out.push((rel.display().to_string(), text));
            }
        }
    }
    out.sort();
}

/// Runs a case with extra arguments; returns the text compared with `expected`.
fn run_case(case: &Path, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let before = copy_dir(case, tmp.path());
    let app = fs::read_to_string(case.join("app.sql")).unwrap();
    let command = app
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("-- command:"))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|| "run".to_string());
    let mut args: Vec<&str> = command.split_whitespace().collect();
    args.insert(1, "app.sql");
    if args[0] == "run" {
        args.extend_from_slice(extra);
    }
    let output = Command::new(env!("CARGO_BIN_EXE_velo-server"))
        .args(&args)
        .current_dir(tmp.path())
        // Cases name their brokers, or test what happens without any.
        .env_remove("VELO_KAFKA_BROKERS")
        .output()
        .unwrap();
    let mut text = format!("exit: {}\n", output.status.code().unwrap_or(-1));
    // No run may change its inputs (or its app file): a changed one shows in the
    // text, which no `expected` file holds.
    for name in &before {
        if fs::read(tmp.path().join(name)).ok() != fs::read(case.join(name)).ok() {
            text.push_str(&format!("--- input changed: {}\n", name.display()));
        }
    }
    let mut files = Vec::new();
    created_files(tmp.path(), &before, &mut files);
    for (name, content) in files {
        text.push_str(&format!("--- file {name}\n{content}"));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !stdout.is_empty() {
        text.push_str(&format!("--- stdout\n{stdout}"));
    }
    // The summary lines carry timings: drop them, keep the counts.
    let stderr: String = String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(|l| format!("{}\n", without_timing(l)))
        .collect();
    if !stderr.is_empty() {
        text.push_str(&format!("--- stderr\n{stderr}"));
    }
    text
}

/// A job's summary line without its ` in 0.012s (583 rec/s)` part, after
/// checking that its counts add up (SPEC §4: `in = processed + filtered +
/// late dropped + failed`) and that every late record set aside is counted
/// as late; other lines as they are.
fn without_timing(line: &str) -> String {
    if !line.starts_with("job '") {
        return line.to_string();
    }
    let (Some(timing), Some(end)) = (line.rfind(" in "), line.rfind(" rec/s)")) else {
        panic!("a summary line without timing: {line}");
    };
    let counts = &line[line.find("): in ").expect("summary counts") + 6..timing];
    let numbers: Vec<u64> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    // in, processed, filtered, late dropped, failed, late, written[, dlq]
    assert!(
        counts.contains(" + late dropped ") && counts.contains("; late "),
        "a summary line without its late counts: {line}"
    );
    assert_eq!(
        numbers[0],
        numbers[1..5].iter().sum::<u64>(),
        "records are lost: {line}"
    );
    assert!(
        numbers[5] >= numbers[3],
        "late records set aside are not counted as late: {line}"
    );
    format!("{}{}", &line[..timing], &line[end + " rec/s)".len()..])
}

/// The summary lines of a successful run, with the processor's name left out:
/// V1 and V2 must count the same records the same way.
fn summaries(text: &str) -> Vec<String> {
    if !text.starts_with("exit: 0") {
        return Vec::new();
    }
    text.lines()
        .filter(|l| l.starts_with("job '"))
        .map(|l| l.replace(" (v1):", ":").replace(" (v2):", ":"))
        .collect()
}

/// Whether a V2 run agrees with V1's: the same exit code; for a successful run
/// also the same rows (as a multiset) and counts. A job that stops on an error
/// may have written different rows on V2: partitions run ahead of one another,
/// and each stops at its own point (see docs/DECISIONS.md, "fail_batch on V2").
fn agree(v2: &str, v1: &str) -> bool {
    if !v1.starts_with("exit: 0") {
        return v2.lines().next() == v1.lines().next();
    }
    rows_multiset(v2) == rows_multiset(v1) && summaries(v2) == summaries(v1)
}

/// The exit code and every output line, sorted; stderr is left out (warnings
/// may come from several partitions).
fn rows_multiset(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text
        .split("--- stderr")
        .next()
        .unwrap_or("")
        .lines()
        .collect();
    lines.sort_unstable();
    lines
}

/// The content of the output file `name` in a case's result text.
fn file_section<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let header = format!("--- file {name}\n");
    let start = text.find(&header)? + header.len();
    let end = text[start..]
        .find("\n--- ")
        .map_or(text.len(), |e| start + e + 1);
    Some(&text[start..end])
}

/// A `twin_*` case runs the same query in two spellings (a WINDOW clause and a
/// Flink table function, a subquery and its flat form, ...): the jobs writing
/// `a.jsonl` and `b.jsonl` must give the same rows in the same order. `None`
/// when they do (or the case is no twin).
fn twins_differ(case: &Path, actual: &str) -> Option<String> {
    let name = case.file_name()?.to_string_lossy();
    if !name.starts_with("twin_") {
        return None;
    }
    let (a, b) = (
        file_section(actual, "a.jsonl"),
        file_section(actual, "b.jsonl"),
    );
    match (a, b) {
        (Some(a), Some(b)) if a == b && !a.is_empty() => None,
        _ => Some(format!(
            "case {}: the twins a.jsonl and b.jsonl differ (or are missing or empty):\n{actual}",
            case.display()
        )),
    }
}

#[test]
fn sql_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let bless = std::env::var_os("VELO_BLESS").is_some();
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected the case folders under {}",
        root.display()
    );
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        // V1 is the reference: its output is the expectation, exactly.
        let actual = run_case(case, &["--processor", "v1"]);
        // V2 must give the same rows (SPEC §4); with several partitions the rows of
        // different keys may interleave differently, so compare as multisets.
        // Every other case runs partition 0 on the router's thread.
        let placement = if i % 2 == 0 { "dedicated" } else { "compact" };
        let v2 = run_case(
            case,
            &[
                "--processor",
                "v2",
                "--partitions",
                "3",
                "--placement",
                placement,
            ],
        );
        if !agree(&v2, &actual) {
            failures.push(format!(
                "case {}: V2 differs from V1:\n--- v1\n{actual}\n--- v2\n{v2}",
                case.display()
            ));
        }
        if let Some(differ) = twins_differ(case, &actual) {
            failures.push(differ);
        }
        let expected_path = case.join("expected");
        if bless {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "case {}:\n--- expected\n{expected}\n--- actual\n{actual}",
                case.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn an_unknown_placement_is_a_user_error() {
    for command in ["run", "serve"] {
        let mut args = vec![command];
        if command == "run" {
            args.push("app.sql");
        }
        args.extend(["--placement", "sideways"]);
        let output = Command::new(env!("CARGO_BIN_EXE_velo-server"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{command}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr).trim_end(),
            "error: unknown --placement 'sideways': expected auto, dedicated or compact",
            "{command}"
        );
    }
}
