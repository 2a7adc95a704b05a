//! The end-to-end mode on a small input through the real `velo-server` binary.
//!
//! The test builds that binary itself (`cargo build -p velo-server`, the cargo
//! running the tests, its target folder) and runs the one the build names, so
//! it never runs without a server nor with a stale one; a failed build fails
//! the test.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use velo_bench::e2e::{run_e2e, E2eOptions};
use velo_bench::SCENARIOS;

const RECORDS: u64 = 20_000;

/// Builds `velo-server` (once per test binary) and returns the executable
/// cargo reports for it.
fn server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../velo-server/Cargo.toml");
        let out = Command::new(cargo)
            .args(["build", "--manifest-path", manifest])
            .args(["-p", "velo-server", "--bin", "velo-server"])
            .args(["--message-format", "json-render-diagnostics"])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("cannot run cargo");
        assert!(
            out.status.success(),
            "cargo build -p velo-server failed: {}",
            out.status
        );
        let stdout = String::from_utf8(out.stdout).expect("cargo's messages are UTF-8");
        let bin = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "velo-server")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| panic!("cargo built no velo-server executable:\n{stdout}"));
        assert!(
            bin.is_file(),
            "{} is not there after the build",
            bin.display()
        );
        bin
    })
    .clone()
}

fn run(id: &str) -> Vec<velo_bench::e2e::E2eResult> {
    let server_bin = server_bin();
    let scenario = SCENARIOS.iter().find(|s| s.id == id).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = E2eOptions {
        records: RECORDS,
        partitions: vec![2],
        readers: vec![2],
        work_dir: dir.path().to_path_buf(),
        server_bin,
    };
    let results = run_e2e(scenario, &options).unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| r.config.as_str())
            .collect::<Vec<_>>(),
        ["v1", "v2@2/R2"]
    );
    for r in &results {
        assert_eq!(r.records, RECORDS);
        assert!(r.seconds > 0.0 && r.rec_per_s > 0.0, "{r:?}");
        assert!(r.summary.starts_with("job 'out' ("), "{r:?}");
    }
    assert_eq!(results[0].rows_out, results[1].rows_out);
    assert_eq!(results[0].output_sha, results[1].output_sha);

    // A second run reuses the input file.
    let input = dir
        .path()
        .join(format!("input-{}-{RECORDS}.csv", scenario.profile_name));
    let modified = std::fs::metadata(&input).unwrap().modified().unwrap();
    let again = run_e2e(scenario, &options).unwrap();
    assert_eq!(
        std::fs::metadata(&input).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(again[0].output_sha, results[0].output_sha);
    results
}

#[test]
fn scenario_0_filter_passes_every_row() {
    // total_amount = 150 + i % 100 is always above 100.
    let results = run("0");
    assert_eq!(results[0].rows_out, RECORDS);
}

#[test]
fn scenario_2_group_by_emits_a_row_per_input_row() {
    // A GROUP BY without a window emits the group's updated row for every input row.
    let results = run("2");
    assert_eq!(results[0].rows_out, RECORDS);
}
