//! The README's first command: the shipped quickstart app runs and writes one
//! statistics row per symbol (on a copy, so the repository stays clean).

use std::process::Command;

#[test]
fn the_quickstart_app_runs_and_writes_its_statistics() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart");
    let dir = tempfile::tempdir().unwrap();
    for name in ["app.sql", "trades.csv"] {
        std::fs::copy(example.join(name), dir.path().join(name)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_velo-server"))
        .args(["run", "app.sql"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let text = std::fs::read_to_string(dir.path().join("output/symbol_stats.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5, "{text}");
    let trades: u64 = rows.iter().map(|r| r["trades"].as_u64().unwrap()).sum();
    // `in 200 = processed 178 + filtered 22 ...`: every processed trade counted once.
    assert_eq!(trades, 178, "{text}");
    assert!(
        stderr.contains("in 200 = processed 178 + filtered 22"),
        "{stderr}"
    );
}
