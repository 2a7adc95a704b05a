//! The end-to-end mode on a small input through the real `velo-server` binary.
//!
//! Nothing is built here: the test uses `target/debug/velo-server` (built by
//! `cargo test --workspace`, `cargo build`) or else `target/release/velo-server`,
//! and is skipped, with a message, when neither exists.

use std::path::PathBuf;

use velo_bench::e2e::{run_e2e, target_dir, E2eOptions};
use velo_bench::SCENARIOS;

const RECORDS: u64 = 20_000;

fn server_bin() -> Option<PathBuf> {
    let name = format!("velo-server{}", std::env::consts::EXE_SUFFIX);
    ["debug", "release"]
        .iter()
        .map(|profile| target_dir().join(profile).join(&name))
        .find(|p| p.is_file())
}

fn run(id: &str) -> Option<Vec<velo_bench::e2e::E2eResult>> {
    let Some(server_bin) = server_bin() else {
        eprintln!(
            "skipped: no velo-server binary under {} (run `cargo build -p velo-server`)",
            target_dir().display()
        );
        return None;
    };
    let scenario = SCENARIOS.iter().find(|s| s.id == id).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = E2eOptions {
        records: RECORDS,
        partitions: vec![2],
        work_dir: dir.path().to_path_buf(),
        server_bin,
    };
    let results = run_e2e(scenario, &options).unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| r.config.as_str())
            .collect::<Vec<_>>(),
        ["v1", "v2@2"]
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
    Some(results)
}

#[test]
fn scenario_0_filter_passes_every_row() {
    // total_amount = 150 + i % 100 is always above 100.
    if let Some(results) = run("0") {
        assert_eq!(results[0].rows_out, RECORDS);
    }
}

#[test]
fn scenario_2_group_by_emits_a_row_per_input_row() {
    // A GROUP BY without a window emits the group's updated row for every input row.
    if let Some(results) = run("2") {
        assert_eq!(results[0].rows_out, RECORDS);
    }
}
