//! The `velo-bench` binary: a small run writes the JSON, and a wrong V2 result
//! stops the benchmark with a non-zero exit and a clear message.

use std::process::Command;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_velo-bench"))
}

#[test]
fn a_small_run_writes_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sub/results.json");
    let out = bench()
        .args([
            "--scenario",
            "0,group_by",
            "--records",
            "5000",
            "--runs",
            "1",
        ])
        .args([
            "--partitions",
            "1,2",
            "--latency-records",
            "3000",
            "--batch-size",
            "256",
        ])
        // The end-to-end mode needs the release server binary; e2e_smoke.rs covers it.
        .arg("--no-e2e")
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("V2@2"), "{stdout}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let scenarios = doc["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2);
    for s in scenarios {
        assert_eq!(s["check"]["status"], "passed");
        let configs = s["configs"].as_array().unwrap();
        assert_eq!(configs.len(), 3);
        for c in configs {
            assert_eq!(c["records"], 5000);
            assert!(c["rec_per_s"].as_f64().unwrap() > 0.0);
            assert!(c["latency"]["p99_us"].as_f64().unwrap() > 0.0);
        }
    }
    assert!(doc["machine"]["cores"].as_u64().unwrap() >= 1);
}

#[test]
fn a_wrong_v2_result_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let out = bench()
        .args(["--scenario", "1", "--records", "5000", "--partitions", "2"])
        .arg("--corrupt-v2-for-test")
        .arg("--no-e2e")
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("scenario 1: V2@2 output differs from V1's: 5000 rows vs 5000 expected; 1 expected row(s) missing, 1 unexpected row(s)"),
        "{stderr}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["scenarios"][0]["check"]["status"], "failed");
}
