//! Kafka end to end: a real Kafka-compatible broker (`tansu`, installed by
//! `.ci/run`) on a loopback port, topics with several partitions, the real
//! `velo-server` binary reading one topic and writing another, driven as a user
//! drives it (SIGTERM, SIGKILL, a second instance in the same consumer group).
//!
//! Without the `tansu` binary these tests fail, unless `VELO_SKIP_KAFKA_TESTS=1`.

#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::broker::Broker;

/// A record of the input topic: `{"id", "k", "v", "ts"}`, keyed by `k`.
fn record(id: u64) -> (String, String) {
    let k = format!("key{}", id % 5);
    // One record a second of event time, from 2024-01-15T10:00:00Z.
    let ts = 1_705_312_800_000u64 + id * 1000;
    let value = format!(r#"{{"id":{id},"k":"{k}","v":{},"ts":{ts}}}"#, id * 10);
    (k, value)
}

fn app(
    dir: &Path,
    broker: &Broker,
    body: &str,
    input: &str,
    output: &str,
    group: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{group}.sql"));
    let text = format!(
        "{body}
         WITH ('src.type' = 'kafka_source', 'src.topic' = '{input}',
               'src.bootstrap.servers' = '{b}', 'src.group.id' = '{group}',
               'src.schema' = 'id BIGINT, k VARCHAR, v BIGINT, ts BIGINT',
               'src.kafka.session.timeout.ms' = '6000',
               'src.kafka.heartbeat.interval.ms' = '1000',
               'out.type' = 'kafka_sink', 'out.topic' = '{output}',
               'out.bootstrap.servers' = '{b}');",
        b = broker.bootstrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `velo-server`, killed if the test ends without stopping it.
struct Instance(Option<Child>);

impl Instance {
    /// SIGKILL: no drain, no last commit.
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start(app: &Path) -> Instance {
    Instance(Some(
        Command::new(env!("CARGO_BIN_EXE_velo-server"))
            .arg("run")
            .arg(app)
            .args(["--processor", "v2", "--partitions", "2"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ))
}

/// SIGTERM, then the exit status and stderr (bounded in time).
fn terminate(mut instance: Instance) -> (Option<i32>, String) {
    let mut child = instance.0.take().expect("running");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("velo-server did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ids(rows: &[serde_json::Value]) -> Vec<u64> {
    let mut ids: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    ids
}

#[test]
fn filter_from_topic_to_topic_with_keys_and_system_columns() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("filter-in", 3);
    broker.create_topic("filter-out", 2);
    broker.produce("filter-in", (0..300).map(record));
    let dir = tempfile::tempdir().unwrap();
    let app = app(
        dir.path(),
        &broker,
        "CREATE STREAM out AS SELECT id, k PRIMARY KEY, v, _partition AS p FROM src WHERE v % 20 = 0",
        "filter-in",
        "filter-out",
        "filter",
    );
    let child = start(&app);
    let rows = broker.consume_until("filter-out", 150, Duration::from_secs(60));
    let (code, stderr) = terminate(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        ids(&rows),
        (0..300).step_by(2).collect::<Vec<_>>(),
        "{stderr}"
    );
    for r in &rows {
        let p = r["p"].as_u64().unwrap();
        assert!(p < 3, "{r}");
    }
    // The message key is the PRIMARY KEY column's value.
    let keyed = broker.consume_keys("filter-out", 150, Duration::from_secs(30));
    assert!(keyed
        .iter()
        .all(|(k, v)| v["k"].as_str() == Some(k.as_str())));
    assert!(stderr.contains("job 'out' (v2): in "), "{stderr}");
}

#[test]
fn group_by_and_tumbling_windows_over_partitions() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("win-in", 3);
    broker.create_topic("win-out", 1);
    // 600 s of event time: windows of a minute, 10 of them, 5 keys.
    broker.produce("win-in", (0..600).map(record));
    let dir = tempfile::tempdir().unwrap();
    let app = app(
        dir.path(),
        &broker,
        "CREATE STREAM out AS SELECT k, COUNT(*) AS n, SUM(v) AS total, _window_start AS w
         FROM src GROUP BY k WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)",
        "win-in",
        "win-out",
        "win",
    );
    let child = start(&app);
    // Every partition's watermark reaches 10:09:59; windows up to 10:09 close
    // (9 of them per key); the last stays open while the job runs.
    let rows = broker.consume_until("win-out", 45, Duration::from_secs(60));
    let (code, stderr) = terminate(child);
    assert_eq!(code, Some(0), "{stderr}");
    let mut windows: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for r in &rows {
        let key = (
            r["k"].as_str().unwrap().to_string(),
            r["w"].as_str().unwrap().to_string(),
        );
        let prev = windows.insert(
            key,
            (r["n"].as_u64().unwrap(), r["total"].as_u64().unwrap()),
        );
        assert!(prev.is_none(), "a window emitted twice: {r}");
    }
    assert_eq!(windows.len(), 45, "{rows:?}");
    // Key k (id % 5 == k) has 12 records in each minute.
    for ((k, _), (n, _)) in &windows {
        assert_eq!(*n, 12, "{k}");
    }
}

#[test]
fn two_instances_share_the_partitions_and_one_takes_over_when_the_other_stops() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("scale-in", 4);
    broker.create_topic("scale-out", 2);
    let dir = tempfile::tempdir().unwrap();
    let body = "CREATE STREAM out AS SELECT id, k, v FROM src";
    let a_app = app(dir.path(), &broker, body, "scale-in", "scale-out", "scale");
    let b_app = dir.path().join("b.sql");
    std::fs::copy(&a_app, &b_app).unwrap();

    // A alone takes the backlog and commits it (the commit interval is 1 s).
    broker.produce("scale-in", (0..1000).map(record));
    let a = start(&a_app);
    broker.consume_until("scale-out", 1000, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        broker
            .committed("scale", "scale-in", 4)
            .iter()
            .flatten()
            .sum::<i64>(),
        1000,
        "the backlog is committed"
    );
    // B joins: the group splits the 4 partitions between them.
    let b = start(&b_app);
    std::thread::sleep(Duration::from_millis(2000));
    broker.produce("scale-in", (1000..2000).map(record));
    let read = broker.consume_distinct_until("scale-out", 2000, Duration::from_secs(60));
    // A stops (SIGTERM: it drains, commits and leaves the group); B takes its
    // partitions over at the rebalance.
    let (code, a_stderr) = terminate(a);
    assert_eq!(code, Some(0), "{a_stderr}");
    read.unwrap_or_else(|rows| panic!("{} rows before A stopped\n{a_stderr}", rows.len()));
    broker.produce("scale-in", (2000..3000).map(record));
    let read = broker.consume_distinct_until("scale-out", 3000, Duration::from_secs(60));
    let (code, stderr) = terminate(b);
    let rows = read.unwrap_or_else(|rows| {
        let have: BTreeSet<u64> = ids(&rows).into_iter().collect();
        let missing: Vec<u64> = (0..3000).filter(|i| !have.contains(i)).collect();
        panic!(
            "{} ids missing, e.g. {:?}\nA: {a_stderr}\nB: {stderr}",
            missing.len(),
            &missing[..missing.len().min(20)]
        )
    });
    assert_eq!(code, Some(0), "{stderr}");
    let distinct: BTreeSet<u64> = ids(&rows).into_iter().collect();
    assert_eq!(distinct, (0..3000).collect::<BTreeSet<_>>());
    // Every hand-over happened after a commit of everything processed (the
    // backlog was committed before B joined; A committed at its drain) and,
    // with cooperative rebalancing, B kept its own partitions and their
    // uncommitted progress throughout: nothing was read twice.
    let duplicates = rows.len() - distinct.len();
    assert_eq!(duplicates, 0, "A: {a_stderr}\nB: {stderr}");
    // Both instances did part of the work.
    for stderr in [&a_stderr, &stderr] {
        assert!(!stderr.contains("in 0 ="), "{stderr}");
    }
}

#[test]
fn a_restart_after_sigkill_resumes_from_the_last_commit() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("restart-in", 2);
    broker.create_topic("restart-out", 1);
    broker.produce("restart-in", (0..500).map(record));
    let dir = tempfile::tempdir().unwrap();
    let app = app(
        dir.path(),
        &broker,
        "CREATE STREAM out AS SELECT id, v FROM src",
        "restart-in",
        "restart-out",
        "restart",
    );
    let mut first = start(&app);
    broker.consume_until("restart-out", 500, Duration::from_secs(60));
    // Let a commit happen, then kill it hard.
    std::thread::sleep(Duration::from_millis(1500));
    first.kill();
    broker.produce("restart-in", (500..800).map(record));
    let second = start(&app);
    let read = broker.consume_distinct_until("restart-out", 800, Duration::from_secs(60));
    let (code, stderr) = terminate(second);
    let rows = read.unwrap_or_else(|rows| panic!("{} rows read\n{stderr}", rows.len()));
    assert_eq!(code, Some(0), "{stderr}");
    let distinct: BTreeSet<u64> = ids(&rows).into_iter().collect();
    assert_eq!(distinct, (0..800).collect::<BTreeSet<_>>());
    // Committed before the kill: the restart does not read everything again.
    assert!(
        rows.len() < 1300,
        "{} rows: the restart re-read from the start",
        rows.len()
    );
}

#[test]
fn the_rekey_example_aggregates_a_topic_not_keyed_by_the_group_key() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("trades", 3);
    broker.create_topic("trades-by-symbol", 3);
    broker.create_topic("symbol-stats", 1);
    // 240 trades over 4 minutes of event time, keyed by trader (not symbol),
    // in one partition so that the re-keyed topic's disorder stays within the
    // example's 10 s allowance whatever order the partitions are read in.
    let trades = (0..240u64).map(|i| {
        let trader = format!("T{}", i % 7);
        let value = format!(
            r#"{{"trader_id":"{trader}","symbol":"SYM{}","price":{}.5,"quantity":{},"trade_time":{}}}"#,
            i % 4,
            100 + i % 10,
            10 + i,
            1_705_312_800_000u64 + i * 1000
        );
        (trader, value)
    });
    broker.produce_to("trades", Some(0), trades);
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kafka-rekey/app.sql");
    let child = Instance(Some(
        Command::new(env!("CARGO_BIN_EXE_velo-server"))
            .arg("run")
            .arg(&app)
            // One worker: job 1 writes the re-keyed trades in the order it read them.
            .args(["--partitions", "1"])
            .env("VELO_KAFKA_BROKERS", broker.bootstrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    // Minutes 0-2 close (the last trade is at 10:03:59): 3 windows x 4 symbols.
    let rows = broker.consume_until("symbol-stats", 12, Duration::from_secs(60));
    let (code, stderr) = terminate(child);
    assert_eq!(code, Some(0), "{stderr}");
    let mut seen = BTreeSet::new();
    for r in &rows[..12] {
        // 60 trades a minute, 15 per symbol.
        assert_eq!(r["trades"].as_u64(), Some(15), "{r}");
        let key = (r["symbol"].to_string(), r["_window_start"].to_string());
        assert!(seen.insert(key), "a window emitted twice: {r}");
    }
}

#[test]
fn continuous_group_by_emits_every_change_across_partitions() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("agg-in", 3);
    broker.create_topic("agg-out", 2);
    broker.produce("agg-in", (0..600).map(record));
    let dir = tempfile::tempdir().unwrap();
    let app = app(
        dir.path(),
        &broker,
        "CREATE STREAM out AS SELECT k PRIMARY KEY, COUNT(*) AS n, SUM(v) AS total FROM src GROUP BY k",
        "agg-in",
        "agg-out",
        "agg",
    );
    let child = start(&app);
    // EMIT CHANGES: one row per input record.
    let rows = broker.consume_until("agg-out", 600, Duration::from_secs(60));
    let (code, stderr) = terminate(child);
    assert_eq!(code, Some(0), "{stderr}");
    let mut last: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in &rows {
        let k = r["k"].as_str().unwrap().to_string();
        let n = r["n"].as_u64().unwrap();
        let prev = last.insert(k.clone(), (n, r["total"].as_u64().unwrap()));
        // Each key's counts go up by one: its records are in one Kafka
        // partition, read in order, and processed by one worker.
        assert_eq!(prev.map_or(0, |p| p.0) + 1, n, "{k}: {r}");
    }
    for (k, (n, total)) in &last {
        let i: u64 = k.trim_start_matches("key").parse().unwrap();
        let expected: u64 = (0..600).filter(|id| id % 5 == i).map(|id| id * 10).sum();
        assert_eq!((*n, *total), (120, expected), "{k}");
    }
}

#[test]
fn a_silent_partition_stops_holding_the_watermark_back() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("idle-in", 2);
    broker.create_topic("idle-out", 1);
    // Everything goes to partition 0; partition 1 never sends anything. Its
    // watermark would hold every window open, until it counts as idle (5 s).
    broker.produce_to("idle-in", Some(0), (0..180).map(record));
    let dir = tempfile::tempdir().unwrap();
    let app = app(
        dir.path(),
        &broker,
        "CREATE STREAM out AS SELECT k, COUNT(*) AS n, _window_start AS w
         FROM src GROUP BY k WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)",
        "idle-in",
        "idle-out",
        "idle",
    );
    let started = Instant::now();
    let child = start(&app);
    // Minutes 0 and 1 close once partition 1 is idle (5 keys each); minute 2
    // stays open.
    let rows = broker.consume_until("idle-out", 10, Duration::from_secs(60));
    let waited = started.elapsed();
    let (code, stderr) = terminate(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(rows.iter().all(|r| r["n"].as_u64() == Some(12)), "{rows:?}");
    assert!(
        waited >= Duration::from_secs(5),
        "windows closed after {waited:?}, before the silent partition could be idle"
    );
}

/// The app of the schemaless tests, in the original system's dialect: no
/// `src.schema`, no brokers in the file (they come from `VELO_KAFKA_BROKERS`).
fn schemaless_app(
    dir: &Path,
    body: &str,
    input: &str,
    output: &str,
    group: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{group}.sql"));
    let text = format!(
        "{body}
         WITH ('src.type' = 'kafka_source', 'src.topic' = '{input}', 'src.group.id' = '{group}',
               'src.kafka.session.timeout.ms' = '6000',
               'src.kafka.heartbeat.interval.ms' = '1000',
               'out.type' = 'kafka_sink', 'out.topic' = '{output}');"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `velo-server run` with the brokers only in the environment.
fn start_with_env_brokers(app: &Path, broker: &Broker) -> Instance {
    Instance(Some(
        Command::new(env!("CARGO_BIN_EXE_velo-server"))
            .arg("run")
            .arg(app)
            .args(["--processor", "v2", "--partitions", "2"])
            .env("VELO_KAFKA_BROKERS", broker.bootstrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ))
}

#[test]
fn a_schemaless_source_types_its_columns_from_the_first_messages() {
    // SPEC §3: without a schema the columns come from the JSON values; a value
    // of another type later is a failed record, never a change of type.
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("loose-in", 1);
    broker.create_topic("loose-out", 1);
    let bad = |id: u64, v: &str| {
        let (k, _) = record(id);
        (
            k.clone(),
            format!(r#"{{"id":{id},"k":"{k}","v":{v},"ts":1}}"#),
        )
    };
    // In the sample: 'v' is BIGINT from its first values, so a string fails.
    broker.produce("loose-in", (0..40).map(record));
    broker.produce("loose-in", [bad(40, r#""lots""#)].into_iter());
    broker.produce("loose-in", (41..60).map(record));
    let dir = tempfile::tempdir().unwrap();
    let app = schemaless_app(
        dir.path(),
        "CREATE STREAM out AS SELECT id, k, v * 2 AS v2, _offset AS o FROM src",
        "loose-in",
        "loose-out",
        "loose",
    );
    let child = start_with_env_brokers(&app, &broker);
    let first = broker.consume_until("loose-out", 59, Duration::from_secs(60));
    // After the sample: a float and a boolean in 'v' fail too; the rest flows.
    broker.produce("loose-in", [bad(60, "1.5"), bad(61, "true")].into_iter());
    broker.produce("loose-in", (62..70).map(record));
    let rows = broker.consume_until("loose-out", 67, Duration::from_secs(60));
    let (code, stderr) = terminate(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(first.len() >= 59);
    let expected: Vec<u64> = (0..70).filter(|id| ![40, 60, 61].contains(id)).collect();
    assert_eq!(ids(&rows), expected, "{stderr}");
    for r in &rows {
        let id = r["id"].as_u64().unwrap();
        // v is id * 10, a BIGINT: doubled exactly, not as a float or a string.
        assert_eq!(r["v2"].as_i64(), Some(id as i64 * 20), "{r}");
        assert_eq!(r["o"].as_u64(), Some(id), "{r}");
    }
    for reason in [
        "column 'v': expected BIGINT (its type from its first values), found the string 'lots'",
        "column 'v': expected BIGINT (its type from its first values), found the number 1.5",
        "column 'v': expected BIGINT (its type from its first values), found the boolean true",
    ] {
        assert!(stderr.contains(reason), "{reason}: {stderr}");
    }
    assert!(
        stderr.contains("in 70 = processed 67 + filtered 0 + late dropped 0 + failed 3; late 0;"),
        "{stderr}"
    );
}

#[test]
fn a_schemaless_source_stopped_before_its_first_message_exits_cleanly() {
    // The reader waits for the first messages to type the columns; SIGTERM
    // while it waits is a normal stop with nothing read.
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("silent-in", 1);
    broker.create_topic("silent-out", 1);
    let dir = tempfile::tempdir().unwrap();
    let app = schemaless_app(
        dir.path(),
        "CREATE STREAM out AS SELECT id FROM src",
        "silent-in",
        "silent-out",
        "silent",
    );
    let child = start_with_env_brokers(&app, &broker);
    std::thread::sleep(Duration::from_secs(3));
    let (code, stderr) = terminate(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("job 'out' (v2): in 0 = "), "{stderr}");
}
