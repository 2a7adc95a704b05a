//! SIGTERM drains a running job: the binary stops reading, flushes its sink,
//! prints its summary and exits 0, and every row it reports as written is in the
//! file, whole.

#![cfg(unix)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_drains_and_exits_zero_v1() {
    sigterm_drains_and_exits_zero("v1");
}

#[test]
fn sigterm_drains_and_exits_zero_v2() {
    sigterm_drains_and_exits_zero("v2");
}

fn sigterm_drains_and_exits_zero(processor: &str) {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.sql");
    std::fs::write(
        &app,
        "CREATE STREAM out AS SELECT order_id, total_amount FROM orders WHERE order_id % 100 = 0
         WITH ('orders.type' = 'generator_source', 'orders.profile' = 'orders',
               'orders.records' = '1000000000000',
               'out.type' = 'file_sink', 'out.path' = 'out.jsonl');",
    )
    .unwrap();
    let out_path = dir.path().join("out.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_velo-server"))
        .arg("run")
        .arg(&app)
        .args(["--processor", processor, "--partitions", "2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the job is clearly running (its sink has data), bounded in time.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&out_path).map_or(0, |m| m.len()) < 64 * 1024 {
        assert!(Instant::now() < deadline, "the job never produced output");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Bounded: a job that ignores the signal fails the test instead of hanging it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the job did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.contains("stopping: draining jobs"), "{stderr}");

    let text = std::fs::read_to_string(&out_path).unwrap();
    assert!(text.ends_with('\n'), "the last row was cut");
    let lines: Vec<&str> = text.lines().collect();
    // Every batch read before the signal is processed, so the ids form a prefix of
    // the input with nothing missing (V2's partitions may interleave their output).
    let mut ids: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["order_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ids.sort_unstable();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(*id, (i as u64) * 100, "none missing");
    }
    let written: u64 = stderr
        .split("written ")
        .nth(1)
        .and_then(|s| s.split([',', ' ']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    assert_eq!(written, lines.len() as u64, "summary and file agree");
}
