//! Checkpoints and recovery end to end (SPEC §4): the real `velo-server`
//! binary reads a file and writes a file, is killed with SIGKILL at several
//! moments, with another `--partitions` on some restarts, and is then let
//! finish. Its output must be exactly one uninterrupted run's: the same rows,
//! and for EMIT CHANGES the same update sequence per key. Also: a corrupt or
//! truncated checkpoint falls back to the previous one, an app changed since
//! its checkpoint is refused (and `--fresh` starts over), and a checkpoint in
//! the current format checked into the tests is read back.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A CSV of `n` rows `k,ts,v`: 100 keys, time rising by 0-19 ms a row.
fn input(dir: &Path, n: u64) {
    let mut text = String::from("k,ts,v\n");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut ts = 0;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ts += x % 20;
        text.push_str(&format!("k{},{ts},{}\n", (x >> 8) % 100, (x >> 20) % 55));
    }
    std::fs::write(dir.join("in.csv"), text).unwrap();
}

const TUMBLING: &str = "SELECT k, _window_start, COUNT(*) AS n, SUM(v) AS s FROM src GROUP BY k \
                        WINDOW TUMBLING(ts, INTERVAL '10' SECOND)";
const CHANGES: &str = "SELECT k, COUNT(*) AS n, SUM(v) AS s FROM src GROUP BY k EMIT CHANGES";

fn app(dir: &Path, query: &str, interval: &str) -> PathBuf {
    let path = dir.join("app.sql");
    std::fs::write(
        &path,
        format!(
            "CREATE STREAM out AS {query}
             WITH ('src.type' = 'file_source', 'src.path' = 'in.csv', 'event.time.field' = 'ts',
                   'checkpoint.interval' = '{interval}',
                   'out.type' = 'file_sink', 'out.path' = 'out.jsonl');"
        ),
    )
    .unwrap();
    path
}

fn velo(app: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_velo-server"));
    c.arg("run")
        .arg(app)
        .args(args)
        .current_dir(app.parent().unwrap());
    c
}

fn run(app: &Path, args: &[&str]) -> Output {
    velo(app, args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts the job and kills it (SIGKILL) once `ready` holds of its state
/// folder, or after `at_most`; its stderr.
fn run_and_kill(
    app: &Path,
    args: &[&str],
    at_most: Duration,
    ready: impl Fn(&Path) -> bool,
) -> String {
    let dir = app.parent().unwrap().to_path_buf();
    let mut child = velo(app, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < at_most && !ready(&dir) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The complete checkpoints of job `out`, oldest first.
fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join(".velo-state/out"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("MANIFEST").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The rows of each key, in output order (the `"k"` field's value).
fn per_key(rows: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        let key = r.split(',').next().unwrap_or_default().to_string();
        m.entry(key).or_default().push(r.clone());
    }
    m
}

/// What one uninterrupted run of `query` writes.
fn reference(query: &str, rows: u64) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), rows);
    let app = app(dir.path(), query, "off");
    let out = run(&app, &["--processor", "v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    lines(&dir.path().join("out.jsonl"))
}

#[test]
fn killed_jobs_resume_to_exactly_the_uninterrupted_output() {
    const ROWS: u64 = 300_000;
    for query in [TUMBLING, CHANGES] {
        let expected = reference(query, ROWS);
        let dir = tempfile::tempdir().unwrap();
        input(dir.path(), ROWS);
        let app = app(dir.path(), query, "40ms");
        let mut resumed = 0;
        // Each run is killed once it has written a checkpoint past the ones
        // it started with (or after 3 s: it may have finished).
        for partitions in ["2", "3", "1", "4", "2"] {
            let before = checkpoints(dir.path()).last().cloned();
            let err = run_and_kill(
                &app,
                &["--partitions", partitions],
                Duration::from_secs(3),
                |d| checkpoints(d).last() > before.as_ref(),
            );
            assert!(!err.contains("error"), "{err}");
            resumed += err.matches("resuming from checkpoint").count();
        }
        assert!(resumed >= 3, "only {resumed} runs resumed");
        let out = run(&app, &["--partitions", "2"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("resuming from checkpoint"),
            "{}",
            stderr(&out)
        );
        let got = lines(&dir.path().join("out.jsonl"));
        if query == CHANGES {
            // The same update sequence per key.
            assert_eq!(per_key(&got), per_key(&expected));
        } else {
            let (mut a, mut b) = (got, expected);
            a.sort();
            b.sort();
            assert_eq!(a, b);
        }
        // The job ended: nothing is left to resume.
        assert!(checkpoints(dir.path()).is_empty());
        assert!(
            stderr(&out).contains("in 300000 = processed 300000"),
            "{}",
            stderr(&out)
        );
    }
}

/// Kills a run once it has two complete checkpoints; their folders.
fn two_checkpoints(app: &Path) -> Vec<PathBuf> {
    let err = run_and_kill(app, &["--processor", "v1"], Duration::from_secs(10), |d| {
        checkpoints(d).len() >= 2
    });
    let found = checkpoints(app.parent().unwrap());
    assert!(found.len() >= 2, "{err}");
    found
}

#[test]
fn a_corrupt_or_truncated_checkpoint_falls_back_to_the_previous_one() {
    const ROWS: u64 = 300_000;
    let expected = reference(TUMBLING, ROWS);
    for damage in ["flip", "truncate"] {
        let dir = tempfile::tempdir().unwrap();
        input(dir.path(), ROWS);
        let app = app(dir.path(), TUMBLING, "40ms");
        let found = two_checkpoints(&app);
        let newest = found.last().unwrap().join("partition-0.state");
        let mut bytes = std::fs::read(&newest).unwrap();
        if damage == "flip" {
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
        } else {
            bytes.truncate(bytes.len() / 2);
        }
        std::fs::write(&newest, bytes).unwrap();
        let out = run(&app, &["--processor", "v1"]);
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("is unusable") && err.contains("falling back"),
            "{err}"
        );
        assert!(err.contains("partition-0.state"), "{err}");
        let (mut a, mut b) = (lines(&dir.path().join("out.jsonl")), expected.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b, "{damage}");
    }

    // With every checkpoint corrupt, the job does not start over silently.
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), ROWS);
    let app = app(dir.path(), TUMBLING, "40ms");
    for chk in two_checkpoints(&app) {
        let file = chk.join("partition-0.state");
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&file, bytes).unwrap();
    }
    let out = run(&app, &["--processor", "v1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("partition-0.state") && stderr(&out).contains("checksum"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_app_changed_since_its_checkpoint_is_refused_and_fresh_starts_over() {
    const ROWS: u64 = 300_000;
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), ROWS);
    let app_path = app(dir.path(), TUMBLING, "40ms");
    two_checkpoints(&app_path);
    let changed = TUMBLING.replace("INTERVAL '10' SECOND", "INTERVAL '20' SECOND");
    let app_path = app(dir.path(), &changed, "40ms");
    let out = run(&app_path, &["--processor", "v1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("job 'out': the app changed since checkpoint")
            && err.contains("10000")
            && err.contains("20000")
            && err.contains("--fresh"),
        "{err}"
    );
    let out = run(&app_path, &["--processor", "v1", "--fresh"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("resuming"), "{}", stderr(&out));
    let (mut a, mut b) = (
        lines(&dir.path().join("out.jsonl")),
        reference(&changed, ROWS),
    );
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

/// A checkpoint written by this version (checked in under
/// `tests/checkpoints/v1`): a GROUP BY EMIT FINAL over the rows of
/// [`input`] with 20,000 rows, taken after 768 of them. Rewrite it only
/// with a new format version (see docs/OPERATIONS.md).
#[test]
fn a_checkpoint_in_the_current_format_is_read_back() {
    const ROWS: u64 = 20_000;
    let query = "SELECT k, COUNT(*) AS n, SUM(v) AS s FROM src GROUP BY k EMIT FINAL";
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/checkpoints/v1");
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), ROWS);
    let app = app(dir.path(), query, "10s");
    let state = dir.path().join(".velo-state/out");
    std::fs::create_dir_all(&state).unwrap();
    for entry in std::fs::read_dir(fixture.join("out")).unwrap() {
        let chk = entry.unwrap().path();
        let to = state.join(chk.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&chk).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.path().join("out.jsonl"), "").unwrap();
    let out = run(&app, &["--processor", "v1"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("resuming from checkpoint"), "{err}");
    assert!(err.contains("in 20000 = processed 20000"), "{err}");
    let (mut a, mut b) = (lines(&dir.path().join("out.jsonl")), reference(query, ROWS));
    a.sort();
    b.sort();
    assert_eq!(a, b);
}
