//! The command line through the real binary: usage errors and bounds exit 1
//! with clap's message, `--help` / `--version` exit 0, and what `run` writes
//! on stderr by default, with `RUST_LOG`, and with `--log-format json`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value as Json;

/// Three orders, the second with an amount that is not a number: one warning
/// (the record is skipped) and the summary.
const APP: &str = "CREATE STREAM out AS SELECT order_id, amount * 2 AS twice FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'orders.schema' = 'order_id BIGINT, amount BIGINT',
      'out.type' = 'file_sink', 'out.path' = 'out.jsonl');";

const WARNING: &str =
    "warning: job 'out': record skipped: orders.csv:3: column 'amount': expected BIGINT, found 'x'";

fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.sql"), APP).unwrap();
    std::fs::write(
        dir.path().join("orders.csv"),
        "order_id,amount\n1,10\n2,x\n3,30\n",
    )
    .unwrap();
    dir
}

/// `velo-server ARGS` in `dir`, with `RUST_LOG` set to `rust_log` (unset when `None`).
fn velo(dir: &Path, args: &[&str], rust_log: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_velo-server"));
    cmd.args(args).current_dir(dir).env_remove("RUST_LOG");
    if let Some(spec) = rust_log {
        cmd.env("RUST_LOG", spec);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The summary line of job `out` for the app above, up to its timing.
const SUMMARY: &str =
    "job 'out' (v2): in 3 = processed 2 + filtered 0 + late dropped 0 + failed 1; late 0; written 2 in ";

#[test]
fn a_bad_command_line_exits_one_with_clap_s_message() {
    let dir = app_dir();
    let cases: [(&[&str], &str); 6] = [
        (
            &["run", "app.sql", "--processor", "v3"],
            "invalid value 'v3' for '--processor <PROCESSOR>'",
        ),
        (
            &["run", "app.sql", "--partitions", "-1"],
            "invalid value '-1' for '--partitions <N>'",
        ),
        (
            &["run", "app.sql", "--frobnicate"],
            "unexpected argument '--frobnicate' found",
        ),
        (
            &["run"],
            "the following required arguments were not provided",
        ),
        (&["launch", "app.sql"], "unrecognized subcommand 'launch'"),
        (
            &["serve", "--log-format", "xml"],
            "invalid value 'xml' for '--log-format <LOG_FORMAT>'",
        ),
    ];
    for (args, message) in cases {
        let out = velo(dir.path(), args, None);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // No output file: nothing ran.
    assert!(!dir.path().join("out.jsonl").exists());
}

#[test]
fn help_and_version_exit_zero_on_stdout() {
    let dir = app_dir();
    for args in [&["--help"][..], &["run", "--help"], &["serve", "-h"]] {
        let out = velo(dir.path(), args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: velo-server"), "{args:?}: {text}");
    }
    let out = velo(dir.path(), &["--version"], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("velo-server {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn partitions_and_batch_size_are_bounded() {
    let dir = app_dir();
    let refused: [(&[&str], &str); 5] = [
        (&["--partitions", "40000"], "40000 is not in 1..=1024"),
        (&["--partitions", "0"], "0 is not in 1..=1024"),
        (&["--partitions", "1025"], "1025 is not in 1..=1024"),
        (&["--batch-size", "0"], "0 is not in 1..=65536"),
        (&["--batch-size", "65537"], "65537 is not in 1..=65536"),
    ];
    for (command, app) in [("run", &["app.sql"][..]), ("serve", &[])] {
        for (option, message) in refused {
            let args: Vec<&str> = [command].iter().chain(app).chain(option).copied().collect();
            let out = velo(dir.path(), &args, None);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.contains(message), "{args:?}: {err}");
        }
    }
    let out = velo(dir.path(), &["serve", "--max-body-bytes", "0"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("0 is not in 1..=1073741824"),
        "{}",
        stderr(&out)
    );
    // The bounds themselves are accepted, and the job runs.
    for option in [["--partitions", "1024"], ["--batch-size", "65536"]] {
        let args = ["run", "app.sql", option[0], option[1]];
        let out = velo(dir.path(), &args, None);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.contains("written 2 in "), "{args:?}: {err}");
        let written = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
        assert_eq!(written.lines().count(), 2, "{args:?}: {written}");
    }
}

#[test]
fn the_default_output_is_the_messages_alone() {
    let dir = app_dir();
    let out = velo(dir.path(), &["run", "app.sql", "--partitions", "2"], None);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(lines[0], WARNING);
    assert!(lines[1].starts_with(SUMMARY), "{err}");
    // An explicit text format is the same.
    let text = velo(
        dir.path(),
        &[
            "run",
            "app.sql",
            "--partitions",
            "2",
            "--log-format",
            "text",
        ],
        None,
    );
    assert_eq!(stderr(&text).lines().next(), Some(WARNING));
    // A RUST_LOG that does not parse is said so, and the output is otherwise
    // the default's.
    let out = velo(dir.path(), &["run", "app.sql"], Some("velo_server=loud"));
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].starts_with("warning: ignoring RUST_LOG"), "{err}");
    assert_eq!(lines[1], WARNING);
    assert!(lines[2].starts_with(SUMMARY), "{err}");
}

#[test]
fn rust_log_debug_adds_detail_lines_and_keeps_the_rest() {
    let dir = app_dir();
    for spec in ["debug", "velo_server=debug"] {
        let out = velo(
            dir.path(),
            &[
                "run",
                "app.sql",
                "--partitions",
                "2",
                "--placement",
                "dedicated",
            ],
            Some(spec),
        );
        assert_eq!(out.status.code(), Some(0));
        let err = stderr(&out);
        let debug: Vec<&str> = err.lines().filter(|l| l.starts_with("debug: ")).collect();
        assert!(
            debug.iter().any(|l| l.starts_with(
                "debug: job 'out': v2, reads orders.csv in batches of 1024, writes sink 'out'; strategy round_robin"
            )),
            "{spec}: {err}"
        );
        assert!(
            debug.iter().any(|l| l.starts_with(
                "debug: job 'out': v2: 2 partition(s) by round_robin, placement dedicated (3 thread(s))"
            )),
            "{spec}: {err}"
        );
        // Without the detail, what is left is the default output.
        let rest: Vec<&str> = err
            .lines()
            .filter(|l| !l.starts_with("debug: ") && !l.starts_with("trace: "))
            .collect();
        assert_eq!(rest.len(), 2, "{spec}: {err}");
        assert_eq!(rest[0], WARNING, "{spec}");
        assert!(rest[1].starts_with(SUMMARY), "{spec}: {err}");
    }
    // Filtered down to warnings, the summary goes; the final error of a failing
    // run is never filtered.
    let out = velo(dir.path(), &["run", "app.sql"], Some("warn"));
    assert_eq!(stderr(&out).trim_end(), WARNING);
    std::fs::write(dir.path().join("bad.sql"), "SELECT a\nFROM t WHERE WHERE").unwrap();
    let out = velo(dir.path(), &["run", "bad.sql"], Some("off"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad.sql:2:14"), "{}", stderr(&out));
}

#[test]
fn log_format_json_writes_one_object_per_event() {
    let dir = app_dir();
    let out = velo(
        dir.path(),
        &[
            "run",
            "app.sql",
            "--partitions",
            "2",
            "--log-format",
            "json",
        ],
        Some("velo_server=debug"),
    );
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    let events: Vec<Json> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for e in &events {
        for field in ["timestamp", "level", "message", "target"] {
            assert!(e[field].is_string(), "{field}: {e}");
        }
    }
    assert!(events.iter().any(|e| e["level"] == "DEBUG"), "{err}");
    let warning = events.iter().find(|e| e["level"] == "WARN").unwrap();
    assert_eq!(warning["job"], "out");
    assert_eq!(
        warning["message"].as_str(),
        WARNING.strip_prefix("warning: ")
    );
    let summary = events
        .iter()
        .find(|e| e["target"] == "velo_server::summary")
        .unwrap_or_else(|| panic!("no summary: {err}"));
    assert_eq!(summary["level"], "INFO");
    assert_eq!(summary["job"], "out");
    assert_eq!(summary["processor"], "v2");
    for (field, n) in [
        ("records_in", 3),
        ("processed", 2),
        ("filtered", 0),
        ("late", 0),
        ("late_dropped", 0),
        ("failed", 1),
        ("written", 2),
        ("dlq", 0),
    ] {
        assert_eq!(summary[field], n, "{field}: {summary}");
    }
    assert_eq!(summary["ok"], true);
    assert!(summary["message"].as_str().unwrap().starts_with(SUMMARY));

    // A failing run's final error is an event too.
    std::fs::write(dir.path().join("bad.sql"), "SELECT a\nFROM t WHERE WHERE").unwrap();
    let out = velo(
        dir.path(),
        &["run", "bad.sql", "--log-format", "json"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let events: Vec<Json> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(events.len(), 1, "{err}");
    assert_eq!(events[0]["level"], "ERROR");
    let message = events[0]["message"].as_str().unwrap();
    assert!(message.contains("bad.sql:2:14"), "{message}");
    assert!(!message.starts_with("error: "), "{message}");
}

#[test]
fn explain_into_a_reader_that_stops_early_is_no_error() {
    let dir = app_dir();
    // Close the read end before explain writes: its write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_velo-server"))
        .args(["explain", "app.sql"])
        .current_dir(dir.path())
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}
