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

impl Instance {
    fn pid(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }
}

/// Whether process `pid` (Linux) has a handler for SIGTERM (15: its bit in
/// the `SigCgt` mask of `/proc/PID/status`) and has created a Kafka client
/// (librdkafka's `rdk:main` thread).
fn handles_sigterm_and_has_a_kafka_client(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let catches = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (15 - 1)) != 0);
    let kafka = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == "rdk:main")
        });
    catches && kafka
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

/// Produces `ids` spread over `partitions` partitions explicitly (id modulo
/// the count), so that every partition has some of them whoever owns it.
fn produce_spread(broker: &Broker, topic: &str, partitions: i32, ids: std::ops::Range<u64>) {
    for p in 0..partitions {
        let mine = ids.clone().filter(|id| id % partitions as u64 == p as u64);
        broker.produce_to(topic, Some(p), mine.map(record));
    }
}

/// Polls `tails` until `done` holds for what they read; panics with `what`
/// after 60 s.
fn wait_for_rows(
    tails: &mut [&mut common::broker::Tail],
    what: &str,
    mut done: impl FnMut(&[&mut common::broker::Tail]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for t in tails.iter_mut() {
            t.poll();
        }
        if done(tails) {
            return;
        }
        let counts: Vec<usize> = tails.iter().map(|t| t.rows.len()).collect();
        assert!(
            Instant::now() < deadline,
            "{what}: not within 60 s (rows read per topic: {counts:?})"
        );
    }
}

/// The distinct ids in the rows of every tail.
fn distinct_ids(tails: &[&mut common::broker::Tail]) -> BTreeSet<u64> {
    tails
        .iter()
        .flat_map(|t| t.rows.iter().map(|r| r["id"].as_u64().unwrap()))
        .collect()
}

/// The Kafka partitions of the rows whose id is in `ids`.
fn partitions_of(rows: &[serde_json::Value], ids: std::ops::Range<u64>) -> BTreeSet<u64> {
    rows.iter()
        .filter(|r| ids.contains(&r["id"].as_u64().unwrap()))
        .map(|r| r["p"].as_u64().unwrap())
        .collect()
}

#[test]
fn two_instances_share_the_partitions_and_one_takes_over_when_the_other_stops() {
    // README, Kafka: delivery is at-least-once; records processed after the
    // last commit are processed again where a partition changes hands. Here
    // every hand-over happens with everything read committed, so each record
    // is written exactly once. Each instance writes its own topic, with the
    // Kafka partition of every row, so who read what is known.
    let Some(broker) = Broker::start() else {
        return;
    };
    const IN: i32 = 4;
    broker.create_topic("scale-in", IN);
    broker.create_topic("scale-out-a", 1);
    broker.create_topic("scale-out-b", 1);
    let dir = tempfile::tempdir().unwrap();
    let body = "CREATE STREAM out AS SELECT id, k, v, _partition AS p FROM src";
    let committed = |total: u64| {
        broker.wait_committed(
            "scale",
            "scale-in",
            IN,
            total as i64,
            Duration::from_secs(60),
        )
    };
    let a_app = dir.path().join("a.sql");
    std::fs::rename(
        app(
            dir.path(),
            &broker,
            body,
            "scale-in",
            "scale-out-a",
            "scale",
        ),
        &a_app,
    )
    .unwrap();
    let b_app = app(
        dir.path(),
        &broker,
        body,
        "scale-in",
        "scale-out-b",
        "scale",
    );
    let mut a_out = broker.tail("scale-out-a", 1);
    let mut b_out = broker.tail("scale-out-b", 1);

    // A alone takes the backlog and commits all of it.
    broker.produce("scale-in", (0..1000).map(record));
    let a = start(&a_app);
    wait_for_rows(&mut [&mut a_out], "A writes the backlog", |t| {
        distinct_ids(t).len() == 1000
    });
    committed(1000);

    // B joins: the group gives it some of A's partitions. Probes (ids from
    // 1,000,000, one per partition a round, each round committed before the
    // next) show when B has its share. A probe A read just before giving its
    // partition away may be written twice (at-least-once); the records after
    // the probes are produced once the group is settled.
    let b = start(&b_app);
    let mut produced = 1000u64;
    let mut probe = 1_000_000u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        produce_spread(&broker, "scale-in", IN, probe..probe + IN as u64);
        probe += IN as u64;
        produced += IN as u64;
        wait_for_rows(
            &mut [&mut a_out, &mut b_out],
            "the probes are written",
            |t| {
                let seen = distinct_ids(t);
                (1_000_000..probe).all(|id| seen.contains(&id))
            },
        );
        committed(produced);
        if !b_out.rows.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "B got no partition within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    produce_spread(&broker, "scale-in", IN, 1000..2000);
    produced += 1000;
    wait_for_rows(
        &mut [&mut a_out, &mut b_out],
        "A and B write 1000..2000",
        |t| {
            let seen = distinct_ids(t);
            (0..2000).all(|id| seen.contains(&id))
        },
    );
    committed(produced);
    // Both read, and they shared the partitions: each had its own, none both.
    let a_share = partitions_of(&a_out.rows, 1000..2000);
    let b_share = partitions_of(&b_out.rows, 1000..2000);
    assert!(
        !a_share.is_empty() && !b_share.is_empty(),
        "A {a_share:?}, B {b_share:?}"
    );
    assert!(
        a_share.is_disjoint(&b_share),
        "A {a_share:?}, B {b_share:?}"
    );
    assert_eq!(
        a_share.union(&b_share).count(),
        IN as usize,
        "A {a_share:?}, B {b_share:?}"
    );

    // A stops (SIGTERM: it drains and leaves the group); B takes every
    // partition over, from A's commits.
    let (code, a_stderr) = terminate(a);
    assert_eq!(code, Some(0), "{a_stderr}");
    produce_spread(&broker, "scale-in", IN, 2000..3000);
    produced += 1000;
    wait_for_rows(&mut [&mut a_out, &mut b_out], "B writes 2000..3000", |t| {
        let seen = distinct_ids(t);
        (0..3000).all(|id| seen.contains(&id))
    });
    committed(produced);
    let (code, b_stderr) = terminate(b);
    assert_eq!(code, Some(0), "{b_stderr}");

    // Everything either wrote, each record exactly once (probes at least once).
    a_out.read_to_end(Duration::from_secs(60));
    b_out.read_to_end(Duration::from_secs(60));
    let mut times: BTreeMap<u64, usize> = BTreeMap::new();
    for r in a_out.rows.iter().chain(&b_out.rows) {
        *times.entry(r["id"].as_u64().unwrap()).or_default() += 1;
    }
    let records: BTreeMap<u64, usize> = times.range(..1_000_000).map(|(i, n)| (*i, *n)).collect();
    assert_eq!(
        records,
        (0..3000).map(|id| (id, 1)).collect::<BTreeMap<_, _>>(),
        "A: {a_stderr}\nB: {b_stderr}"
    );
    assert_eq!(
        times.range(1_000_000..).count() as u64,
        probe - 1_000_000,
        "every probe written"
    );
    // A wrote none of what came after it stopped; B read every partition then.
    assert_eq!(partitions_of(&a_out.rows, 2000..3000), BTreeSet::new());
    assert_eq!(
        partitions_of(&b_out.rows, 2000..3000),
        (0..IN as u64).collect::<BTreeSet<_>>()
    );
    assert_eq!(
        partitions_of(&b_out.rows, 0..1000),
        BTreeSet::new(),
        "B re-read the committed backlog"
    );
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
    // Once everything read is committed, kill it hard.
    broker.wait_committed("restart", "restart-in", 2, 500, Duration::from_secs(60));
    first.kill();
    broker.produce("restart-in", (500..800).map(record));
    let second = start(&app);
    broker.wait_committed("restart", "restart-in", 2, 800, Duration::from_secs(60));
    let (code, stderr) = terminate(second);
    assert_eq!(code, Some(0), "{stderr}");
    // The restart went on from the commit: every record written exactly once.
    let mut out = broker.tail("restart-out", 1);
    out.read_to_end(Duration::from_secs(60));
    assert_eq!(ids(&out.rows), (0..800).collect::<Vec<_>>(), "{stderr}");
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
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "needs /proc to see that the reader is waiting"
)]
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
    // Once it handles SIGTERM and its reader exists (the job's only Kafka
    // client until the reader has typed its columns: the sink opens after),
    // the reader is opening or waiting for the first message.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !handles_sigterm_and_has_a_kafka_client(child.pid()) {
        assert!(
            Instant::now() < deadline,
            "velo-server did not open its Kafka reader within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, stderr) = terminate(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("job 'out' (v2): in 0 = "), "{stderr}");
}

/// Issue 17: a Kafka job's state is checkpointed with its offsets. Killed
/// with SIGKILL twice and started again, an EMIT CHANGES count resumes from
/// its checkpoint, not from empty state: per key the counts run 1, 2, 3, ...
/// up to the key's record count, and (the sink being at-least-once) what was
/// written after the last checkpoint before a crash is written again with the
/// same values, never restarted from 1.
#[test]
fn a_killed_kafka_job_resumes_its_state_from_the_checkpoint() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("ckpt-in", 2);
    broker.create_topic("ckpt-out", 1);
    broker.produce("ckpt-in", (0..3000).map(record));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.sql");
    std::fs::write(
        &path,
        format!(
            "CREATE STREAM out AS SELECT k PRIMARY KEY, COUNT(*) AS n FROM src GROUP BY k
             WITH ('src.type' = 'kafka_source', 'src.topic' = 'ckpt-in',
                   'src.bootstrap.servers' = '{b}', 'src.group.id' = 'ckpt',
                   'src.schema' = 'id BIGINT, k VARCHAR, v BIGINT, ts BIGINT',
                   'src.kafka.session.timeout.ms' = '6000',
                   'src.kafka.heartbeat.interval.ms' = '1000',
                   'checkpoint.interval' = '200ms',
                   'out.type' = 'kafka_sink', 'out.topic' = 'ckpt-out',
                   'out.bootstrap.servers' = '{b}');",
            b = broker.bootstrap()
        ),
    )
    .unwrap();
    let state = dir.path().join(".velo-state/out");
    // The newest complete checkpoint's id.
    let newest = || {
        std::fs::read_dir(&state)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("MANIFEST").is_file())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()?
                            .strip_prefix("chk-")?
                            .parse::<u64>()
                            .ok()
                    })
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    for round in 0..2 {
        let mut instance = start(&path);
        let deadline = Instant::now() + Duration::from_secs(60);
        // Killed once it has taken two checkpoints of its own.
        let before = newest();
        while newest() < before + 2 {
            assert!(Instant::now() < deadline, "no checkpoint within 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        instance.kill();
        broker.produce(
            "ckpt-in",
            (3000 + round * 500..3500 + round * 500).map(record),
        );
    }
    let last = start(&path);
    // Every record counted: the largest count per key is its record count.
    let total: u64 = 4000;
    let mut out = broker.tail("ckpt-out", 1);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        out.poll();
        let max: BTreeMap<String, u64> = out.rows.iter().fold(BTreeMap::new(), |mut m, r| {
            let n = r["n"].as_u64().unwrap();
            let e = m.entry(r["k"].as_str().unwrap().to_string()).or_insert(0);
            *e = (*e).max(n);
            m
        });
        if max.values().sum::<u64>() >= total || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, stderr) = terminate(last);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("resuming from checkpoint"), "{stderr}");
    let mut per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in &out.rows {
        per_key
            .entry(r["k"].as_str().unwrap().to_string())
            .or_default()
            .push(r["n"].as_u64().unwrap());
    }
    assert_eq!(per_key.len(), 5);
    for (k, ns) in &per_key {
        // 800 records per key; counts only ever step up by one, or go back
        // to a value already written (a replay after a crash), never to 1.
        assert_eq!(ns.iter().max(), Some(&800), "{k}");
        let mut seen = BTreeSet::new();
        for (i, &n) in ns.iter().enumerate() {
            if i > 0 && n != ns[i - 1] + 1 {
                assert!(
                    seen.contains(&n) || n <= ns[i - 1],
                    "{k}: {n} after {}",
                    ns[i - 1]
                );
            }
            seen.insert(n);
        }
        assert_eq!(seen.len(), 800, "{k}: every count from 1 to 800");
        assert_eq!(
            ns.iter().filter(|&&n| n == 1).count(),
            1,
            "{k}: restarted from empty state"
        );
    }
}
