//! SPEC §4 determinism as a property test: for random inputs and random queries
//! from a small grammar, the V2 processor gives V1's output multiset with every
//! partition count from 1 to 8 and every strategy valid for the query (plus the
//! planner's own choice); for EMIT CHANGES queries (and ROWS windows, which emit
//! on every record) each key's sequence of rows is V1's too, and under ORDER BY
//! the whole output sequence is. Late rows sent to a dead-letter sink and failed
//! rows sent to the `dlq.sink` must agree as multisets as well, and every
//! processor must account for every input record (`read` = rows in the input).
//!
//! The input is a CSV with a few string keys (`k`, `k2`, NULLs included, and
//! values such that `("a","bc")` and `("ab","c")` both occur), small integers
//! `v` (some NULL, a few near the ends of BIGINT so that `v * 2 + 1` and SUM
//! overflow), a DOUBLE `x` whose values make a sum depend on the order of its
//! terms (`1e17`, `0.1`, `-0`, ...; now and then a field the reader rejects), a
//! string `c` that is mostly an integer (CAST fails on the rest) and an
//! epoch-millis `ts` that increases with random out-of-order jitter, so a small
//! `watermark.max_out_of_orderness` makes some records late. The batch size is
//! random too: watermarks advance at batch boundaries. Failing records (the
//! reader's, CAST, division by zero, overflow) meet each `failure_strategy`.
//!
//! V2 runs read the CSV with one to three decoding threads (`--readers`), in
//! turn: their chunks are handed over in order, so the batches are V1's.
//!
//! A file, stdin and the generator have one source partition
//! (`SINGLE_PARTITION` in `processor/source.rs`); only a Kafka topic has
//! several. Reading one interleaves its partitions in an order that depends
//! on fetch timing, so the random cases read a file, and
//! `several_source_partitions_agree` reads a 3-partition topic (from the
//! `tansu` broker; without it the test fails unless `VELO_SKIP_KAFKA_TESTS=1`)
//! with queries whose result does not depend on that order.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

// Only the broker's start, topics and producer are used here.
#[allow(dead_code)]
mod common;

use proptest::prelude::*;
use velo_partition::StrategyKind;
use velo_server::app::{Failure, LoadedApp};
use velo_server::processor::{
    JobCounters, JobProcessor, JobReport, Placement, RunOptions, V1Processor, V2Processor,
};

const KEYS: [Option<&str>; 5] = [Some("a"), Some("b"), Some("ab"), Some("c"), None];
const KEYS2: [Option<&str>; 4] = [Some("c"), Some("bc"), Some("x"), None];
const BASE_TS: i64 = 1_705_312_800_000;
/// Values of `x` whose sums depend on the order of the terms
/// (`1e17 + 0.1 - 1e17` is 0, `1e17 - 1e17 + 0.1` is 0.1).
const DOUBLES: [f64; 10] = [0.1, 0.2, 0.3, -0.7, 1e17, -1e17, 2.5, 1.0 / 3.0, -0.0, 1e-9];
/// Values of `c`: CAST(c AS BIGINT) fails on `x`.
const CODES: [Option<&str>; 6] = [
    Some("1"),
    Some("2"),
    Some("-3"),
    Some("17"),
    Some("x"),
    None,
];
/// BIGINT values near the ends: `v * 2 + 1` overflows, SUM(v) soon does.
const HUGE: [i64; 3] = [i64::MAX - 20, i64::MIN + 20, 4_611_686_018_427_387_904];

const ALL_STRATEGIES: [StrategyKind; 5] = [
    StrategyKind::AlwaysHash,
    StrategyKind::SmartRepartition,
    StrategyKind::StickyPartition,
    StrategyKind::RoundRobin,
    StrategyKind::FanIn,
];

/// The DOUBLE column's field.
#[derive(Debug, Clone, Copy)]
enum X {
    Null,
    Value(f64),
    /// Not a number: the reader rejects the record.
    Bad,
}

#[derive(Debug, Clone)]
struct Row {
    k: Option<&'static str>,
    k2: Option<&'static str>,
    v: Option<i64>,
    ts: i64,
    x: X,
    c: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Emit {
    /// No EMIT clause: CHANGES without a window, FINAL with one.
    Default,
    Changes,
    Final,
}

#[derive(Debug, Clone, Copy)]
enum Window {
    Tumbling { size_s: u32 },
    Sliding { size_s: u32, advance_s: u32 },
    Session { gap_ms: u32 },
}

impl Window {
    fn clause(self) -> String {
        match self {
            Window::Tumbling { size_s } => format!("TUMBLING(ts, INTERVAL '{size_s}' SECOND)"),
            Window::Sliding { size_s, advance_s } => {
                format!("SLIDING(ts, INTERVAL '{size_s}' SECOND, INTERVAL '{advance_s}' SECOND)")
            }
            Window::Session { gap_ms } => format!("SESSION(ts, {gap_ms}ms)"),
        }
    }
}

#[derive(Debug, Clone)]
enum Shape {
    /// Filter + projection.
    Stateless {
        computed: bool,
    },
    GroupBy {
        two_keys: bool,
        emit: Emit,
    },
    Windowed {
        window: Window,
        two_keys: bool,
        emit: Emit,
        window_end: bool,
    },
    /// `AVG(v) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY ts)` + LAG.
    Rows,
    /// GROUP BY `keys` columns (0: a global aggregate), windowed or not, with
    /// DOUBLE SUM / AVG / MIN / MAX / STDDEV, COUNT(DISTINCT), optionally an
    /// aggregate whose argument fails (`SUM(CAST(c AS BIGINT))`), HAVING,
    /// ORDER BY (every output column, so that only equal rows tie) and LIMIT
    /// (per emitted window on a window with EMIT FINAL; not with EMIT CHANGES,
    /// which refuses them).
    Aggregate {
        keys: usize,
        window: Option<Window>,
        emit: Emit,
        cast: bool,
        having: Option<usize>,
        order: bool,
        limit: Option<u32>,
    },
    /// Filter + projection with a CAST that fails on some rows, ORDER BY
    /// (every output column) and / or LIMIT.
    Sorted {
        order: bool,
        limit: Option<u32>,
    },
}

/// How failing records are handled (`failure_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    /// No `failure_strategy` property: log and continue.
    Default,
    Log,
    /// `send_to_dlq`, to `dlq_{tag}.jsonl`.
    Dlq,
    /// `retry_with_backoff`: a bad record is logged and skipped.
    Retry,
    /// `fail_batch`: the job stops at the first failing record; V1 and V2 must
    /// then both fail (where they stop may differ: V2's partitions run apart).
    FailBatch,
}

/// Job settings beyond [`Case`]'s.
#[derive(Debug, Clone, Copy)]
struct Extra {
    failure: OnFailure,
}

impl Default for Extra {
    fn default() -> Self {
        Extra {
            failure: OnFailure::Default,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Late {
    Drop,
    ProcessAll,
    ProcessWithWarning,
    DeadLetter,
}

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<Row>,
    shape: Shape,
    filter: usize,
    late: Late,
    max_out_of_orderness_ms: u32,
    event_time_field: bool,
    /// Declare `'src.partition.key' = 'k'` (makes sticky / smart valid for GROUP BY k).
    partition_key: bool,
    batch_size: usize,
}

const FILTERS: [&str; 7] = [
    "",
    " WHERE v IS NULL OR v >= 10",
    " WHERE k <> 'b'",
    " WHERE v % 3 <> 0",
    " WHERE ts % 7 <> 0 AND (k2 IS NOT NULL OR v < 20)",
    // Fails where c is not a number.
    " WHERE CAST(c AS BIGINT) <> 2 OR x > 0",
    // Fails where v % 4 = 0 (division by zero).
    " WHERE 60 / (v % 4) > 20 OR k = 'c'",
];

const HAVINGS: [&str; 3] = [
    " HAVING COUNT(*) > 2",
    " HAVING SUM(x) > 1 OR MIN(v) < 0",
    " HAVING COUNT(DISTINCT k2) >= 2 AND AVG(x) IS NOT NULL",
];

impl Shape {
    /// The columns whose values name a "key" whose row sequence must be kept,
    /// or `None` when only the multiset is specified.
    fn sequence_key(&self) -> Option<Vec<&'static str>> {
        let keys = |two: bool| {
            if two {
                vec!["k", "k2"]
            } else {
                vec!["k"]
            }
        };
        match self {
            Shape::Stateless { .. } | Shape::Sorted { .. } => None,
            Shape::GroupBy { two_keys, emit } => {
                matches!(emit, Emit::Default | Emit::Changes).then(|| keys(*two_keys))
            }
            Shape::Windowed { two_keys, emit, .. } => {
                (*emit == Emit::Changes).then(|| keys(*two_keys))
            }
            Shape::Rows => Some(vec!["k"]),
            Shape::Aggregate {
                keys, window, emit, ..
            } => {
                let changes = match window {
                    None => matches!(emit, Emit::Default | Emit::Changes),
                    Some(_) => *emit == Emit::Changes,
                };
                changes.then(|| ["k", "k2"][..*keys].to_vec())
            }
        }
    }

    /// LIMIT without ORDER BY: a processor stops reading once the limit is
    /// reached, after the batch that reached it (not on a window: there LIMIT
    /// is per emitted window).
    fn stops_early(&self) -> bool {
        matches!(
            self,
            Shape::Aggregate {
                window: None,
                order: false,
                limit: Some(_),
                ..
            } | Shape::Sorted {
                order: false,
                limit: Some(_),
            }
        )
    }

    /// Whether the whole output sequence is specified (ORDER BY every column).
    fn ordered(&self) -> bool {
        matches!(
            self,
            Shape::Aggregate { order: true, .. } | Shape::Sorted { order: true, .. }
        )
    }
}

fn emit_clause(emit: Emit) -> &'static str {
    match emit {
        Emit::Default => "",
        Emit::Changes => " EMIT CHANGES",
        Emit::Final => " EMIT FINAL",
    }
}

fn limit_clause(limit: Option<u32>) -> String {
    limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
}

impl Case {
    fn select(&self) -> String {
        let filter = FILTERS[self.filter];
        let group = |two: bool| if two { "k, k2" } else { "k" };
        match &self.shape {
            Shape::Stateless { computed } => {
                let extra = if *computed {
                    ", v * 2 + 1 AS w, COALESCE(k2, 'none') AS k2c"
                } else {
                    ""
                };
                format!("SELECT k, k2, v, ts, x{extra} FROM src{filter}")
            }
            Shape::GroupBy { two_keys, emit } => format!(
                "SELECT {g}, COUNT(*) AS n, COUNT(v) AS nv, SUM(v) AS s, MIN(v) AS lo, MAX(v) AS hi \
                 FROM src{filter} GROUP BY {g}{e}",
                g = group(*two_keys),
                e = emit_clause(*emit)
            ),
            Shape::Windowed {
                window,
                two_keys,
                emit,
                window_end,
            } => format!(
                "SELECT {g}, _window_start{end}, COUNT(*) AS n, SUM(v) AS s, MIN(v) AS lo, MAX(v) AS hi \
                 FROM src{filter} GROUP BY {g} WINDOW {w}{e}",
                g = group(*two_keys),
                end = if *window_end { ", _window_end" } else { "" },
                w = window.clause(),
                e = emit_clause(*emit)
            ),
            Shape::Rows => format!(
                "SELECT k, v, ts, \
                 AVG(v) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY ts) AS a3, \
                 LAG(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS prev \
                 FROM src{filter}"
            ),
            Shape::Aggregate {
                keys,
                window,
                emit,
                cast,
                having,
                order,
                limit,
            } => {
                let key_cols = ["k", "k2"][..*keys].join(", ");
                let mut cols: Vec<&str> = ["k", "k2"][..*keys].to_vec();
                if window.is_some() {
                    cols.push("_window_start");
                }
                let mut select = cols.join(", ");
                if !select.is_empty() {
                    select.push_str(", ");
                }
                select.push_str(
                    "COUNT(*) AS n, COUNT(DISTINCT k2) AS dk, COUNT(DISTINCT v) AS dv, \
                     SUM(x) AS sx, AVG(x) AS ax, MIN(x) AS lox, MAX(x) AS hix, STDDEV(x) AS sdx, \
                     AVG(v) AS av",
                );
                cols.extend(["n", "dk", "dv", "sx", "ax", "lox", "hix", "sdx", "av"]);
                if *cast {
                    select.push_str(", SUM(CAST(c AS BIGINT)) AS sc");
                    cols.push("sc");
                }
                let group_by = if *keys > 0 {
                    format!(" GROUP BY {key_cols}")
                } else {
                    String::new()
                };
                let window = window
                    .map(|w| format!(" WINDOW {}", w.clause()))
                    .unwrap_or_default();
                let having = having.map(|h| HAVINGS[h]).unwrap_or_default();
                let order = if *order {
                    format!(" ORDER BY {} DESC", cols.join(" DESC, "))
                } else {
                    String::new()
                };
                format!(
                    "SELECT {select} FROM src{filter}{group_by}{window}{having}{order}{l}{e}",
                    l = limit_clause(*limit),
                    e = emit_clause(*emit)
                )
            }
            Shape::Sorted { order, limit } => {
                let order = if *order {
                    " ORDER BY v DESC, x, ts, k, k2 DESC, c2"
                } else {
                    ""
                };
                format!(
                    "SELECT k, k2, v, ts, x, CAST(c AS BIGINT) * 2 AS c2 FROM src{filter}{order}{l}",
                    l = limit_clause(*limit)
                )
            }
        }
    }

    /// The app text, writing to `out_{tag}.jsonl` (and `late_{tag}.jsonl`, and
    /// failed rows to `dlq_{tag}.jsonl`).
    fn app_with(&self, extra: &Extra, tag: &str) -> String {
        let mut with = String::from(
            "'src.type' = 'file_source', 'src.path' = 'input.csv', \
             'src.schema' = 'k VARCHAR, k2 VARCHAR, v BIGINT, ts BIGINT, x DOUBLE, c VARCHAR'",
        );
        if self.partition_key {
            with.push_str(", 'src.partition.key' = 'k'");
        }
        write!(
            with,
            ",\n      'out.type' = 'file_sink', 'out.path' = 'out_{tag}.jsonl'"
        )
        .unwrap();
        if self.event_time_field {
            with.push_str(", 'event.time.field' = 'ts'");
        }
        write!(
            with,
            ",\n      'watermark.max_out_of_orderness' = '{}ms'",
            self.max_out_of_orderness_ms
        )
        .unwrap();
        let late = match self.late {
            Late::Drop => "drop",
            Late::ProcessAll => "process_all",
            Late::ProcessWithWarning => "process_with_warning",
            Late::DeadLetter => "dead_letter",
        };
        write!(with, ", 'late.data.strategy' = '{late}'").unwrap();
        if self.late == Late::DeadLetter {
            write!(
                with,
                ",\n      'late.data.dead_letter' = 'late_rows', 'late_rows.type' = 'file_sink', \
                 'late_rows.path' = 'late_{tag}.jsonl'"
            )
            .unwrap();
        }
        let failure = match extra.failure {
            OnFailure::Default => None,
            OnFailure::Log => Some("log_and_continue"),
            OnFailure::Dlq => Some("send_to_dlq"),
            OnFailure::Retry => Some("retry_with_backoff"),
            OnFailure::FailBatch => Some("fail_batch"),
        };
        if let Some(f) = failure {
            write!(with, ",\n      'failure_strategy' = '{f}'").unwrap();
        }
        if extra.failure == OnFailure::Dlq {
            write!(
                with,
                ", 'dlq.sink' = 'bad_rows', 'bad_rows.type' = 'file_sink', \
                 'bad_rows.path' = 'dlq_{tag}.jsonl'"
            )
            .unwrap();
        }
        format!("CREATE STREAM out AS\n{}\nWITH ({with});\n", self.select())
    }

    fn csv(&self) -> String {
        let mut s = String::from("k,k2,v,ts,x,c\n");
        for r in &self.rows {
            let x = match r.x {
                X::Null => String::new(),
                X::Value(x) => format!("{x:?}"),
                X::Bad => "n/a".to_string(),
            };
            writeln!(
                s,
                "{},{},{},{},{x},{}",
                r.k.unwrap_or(""),
                r.k2.unwrap_or(""),
                r.v.map(|v| v.to_string()).unwrap_or_default(),
                r.ts,
                r.c.unwrap_or("")
            )
            .unwrap();
        }
        s
    }
}

/// What one run produced.
#[derive(Debug)]
struct Run {
    out: Vec<String>,
    late: Vec<String>,
    /// The `dlq.sink`'s rows.
    dlq: Vec<String>,
    report: JobReport,
}

fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

fn load_with(dir: &Path, case: &Case, extra: &Extra, tag: &str) -> LoadedApp {
    let app_path = dir.join(format!("app_{tag}.sql"));
    let text = case.app_with(extra, tag);
    std::fs::write(&app_path, &text).unwrap();
    let app = LoadedApp::load(&app_path)
        .unwrap_or_else(|f| panic!("the generated app does not plan: {f:?}\n{text}"));
    assert_eq!(app.plan.jobs.len(), 1, "{text}");
    app
}

fn run(processor: &dyn JobProcessor, dir: &Path, case: &Case, tag: &str) -> Run {
    let extra = Extra::default();
    try_run(processor, dir, case, &extra, tag).unwrap_or_else(|f| {
        panic!(
            "{} ({tag}) failed: {f:?}\nbatch size {}\n{}",
            processor.name(),
            case.batch_size,
            case.app_with(&extra, tag)
        )
    })
}

/// Runs the job; `Err`: the processor failed (as `fail_batch` makes it).
fn try_run(
    processor: &dyn JobProcessor,
    dir: &Path,
    case: &Case,
    extra: &Extra,
    tag: &str,
) -> Result<Run, Failure> {
    try_run_with(processor, dir, case, extra, tag, 1)
}

/// [`try_run`] with the CSV file decoded by `readers` threads.
fn try_run_with(
    processor: &dyn JobProcessor,
    dir: &Path,
    case: &Case,
    extra: &Extra,
    tag: &str,
    readers: usize,
) -> Result<Run, Failure> {
    let app = load_with(dir, case, extra, tag);
    let counters = JobCounters::default();
    let options = RunOptions {
        batch_size: case.batch_size,
        progress: false,
        stop: Arc::new(AtomicBool::new(false)),
        state_dir: None,
        fresh: false,
        readers,
    };
    processor.run(&app, &app.plan.jobs[0], &options, &counters)?;
    Ok(Run {
        out: read_lines(&dir.join(format!("out_{tag}.jsonl"))),
        late: read_lines(&dir.join(format!("late_{tag}.jsonl"))),
        dlq: read_lines(&dir.join(format!("dlq_{tag}.jsonl"))),
        report: counters.snapshot(),
    })
}

fn sorted(lines: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = lines.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

/// Each key's rows, in output order.
fn per_key<'a>(lines: &'a [String], key: &[&str]) -> BTreeMap<String, Vec<&'a str>> {
    let mut map: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for line in lines {
        let row: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("output line is not JSON ({e}): {line}"));
        let k = key
            .iter()
            .map(|c| {
                row.get(c)
                    .unwrap_or_else(|| panic!("output row without key column {c}: {line}"))
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("|");
        map.entry(k).or_default().push(line);
    }
    map
}

/// The (partitions, strategy) runs of one case: every strategy valid for the
/// query and the planner's choice (`None`), each with 1 to 8 partitions.
/// Every partition count from 1 to 8 with every valid strategy; each pair once,
/// with partition 0 on its own thread or on the router's, alternately, so
/// both placements meet every strategy.
fn v2_configs(app: &LoadedApp) -> Vec<(usize, Option<StrategyKind>, Placement)> {
    let job = &app.plan.jobs[0];
    let mut strategies: Vec<Option<StrategyKind>> = vec![None];
    strategies.extend(
        ALL_STRATEGIES
            .into_iter()
            .filter(|k| job.routing.check(*k).is_ok())
            .map(Some),
    );
    let mut configs = Vec::new();
    for n in 1..=8 {
        for (i, &s) in strategies.iter().enumerate() {
            let placement = if (n + i) % 2 == 0 {
                Placement::Compact
            } else {
                Placement::Dedicated
            };
            configs.push((n, s, placement));
        }
    }
    configs
}

fn check(case: &Case) {
    check_with(case, &Extra::default());
}

fn check_with(case: &Case, extra: &Extra) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.csv"), case.csv()).unwrap();
    let input_rows = case.rows.len() as u64;
    let app_text = case.app_with(extra, "v1");
    // LIMIT without ORDER BY: the job stops reading once LIMIT is reached.
    let stops_early = case.shape.stops_early();

    let v1 = match try_run(&V1Processor, dir.path(), case, extra, "v1") {
        Ok(v1) => Some(v1),
        Err(f) if extra.failure == OnFailure::FailBatch => {
            assert!(
                matches!(f, Failure::User(_)),
                "v1 stopped by fail_batch with an internal error: {f:?}\n{app_text}"
            );
            None
        }
        Err(f) => panic!(
            "v1 failed: {f:?}\nbatch size {}\n{app_text}",
            case.batch_size
        ),
    };
    if let Some(v1) = &v1 {
        if stops_early {
            assert!(
                v1.report.read <= input_rows,
                "v1 read {} of {input_rows} input rows\n{app_text}",
                v1.report.read
            );
        } else {
            assert_eq!(
                v1.report.read, input_rows,
                "v1 read {} of {input_rows} input rows\n{app_text}",
                v1.report.read
            );
        }
        assert_eq!(
            v1.report.written,
            v1.out.len() as u64,
            "v1 counted {} rows written but its sink holds {}\n{app_text}",
            v1.report.written,
            v1.out.len()
        );
        assert_eq!(
            v1.report.accounted(),
            v1.report.read,
            "v1: processed + filtered + late dropped + failed != read: {:?}\n{app_text}",
            v1.report
        );
        assert_eq!(
            v1.report.dlq,
            v1.dlq.len() as u64,
            "v1 counted {} rows sent to the DLQ but it holds {}\n{app_text}",
            v1.report.dlq,
            v1.dlq.len()
        );
        if extra.failure == OnFailure::Dlq {
            assert_eq!(
                v1.report.dlq, v1.report.failed,
                "v1: not every failed record reached the DLQ\n{app_text}"
            );
        }
    }

    let app = load_with(dir.path(), case, extra, "v1");
    for (i, (partitions, strategy, placement)) in v2_configs(&app).into_iter().enumerate() {
        let tag = format!("v2_{i}");
        // One to three threads decode the CSV, in turn.
        let readers = 1 + i % 3;
        let what = format!(
            "V2 with {partitions} partitions, strategy {}, placement {}, {readers} readers, batch size {}\n{app_text}",
            strategy.map_or("auto", |s| s.name()),
            placement.name(),
            case.batch_size
        );
        let processor = V2Processor {
            partitions,
            strategy,
            placement,
        };
        let result = try_run_with(&processor, dir.path(), case, extra, &tag, readers);
        let (v1, v2) = match (&v1, result) {
            (Some(v1), Ok(v2)) => (v1, v2),
            (None, Err(_)) => continue,
            // Past LIMIT, V2's router may read a record V1 never read.
            (Some(_), Err(_)) if stops_early && extra.failure == OnFailure::FailBatch => continue,
            (Some(_), Err(f)) => panic!("V2 failed where V1 did not: {f:?}\n{what}"),
            (None, Ok(v2)) => panic!(
                "V1 failed under fail_batch, V2 did not: {:?}\n{what}",
                v2.report
            ),
        };
        if stops_early {
            assert!(v2.report.read <= input_rows, "read > input rows: {what}");
        } else {
            assert_eq!(v2.report.read, input_rows, "read != input rows: {what}");
        }
        assert_eq!(
            v2.report.accounted(),
            v2.report.read,
            "processed + filtered + late dropped + failed != read: {:?}\n{what}",
            v2.report
        );
        assert_eq!(
            v2.report.written,
            v2.out.len() as u64,
            "written != rows in the sink: {what}"
        );
        assert_eq!(
            sorted(&v2.out),
            sorted(&v1.out),
            "output multiset differs from V1's: {what}"
        );
        if let Some(k) = case.shape.sequence_key() {
            let v1_keys = per_key(&v1.out, &k);
            let v2_keys = per_key(&v2.out, &k);
            for (kv, seq) in &v1_keys {
                assert_eq!(
                    v2_keys.get(kv),
                    Some(seq),
                    "the row sequence of key {kv} differs from V1's: {what}"
                );
            }
        }
        if stops_early {
            // How far past the limit each one read (V2's router reads ahead,
            // its workers stop later), so what it counted, dead-lettered and
            // logged, is not specified: only the output is.
            continue;
        }
        assert_eq!(
            (
                v2.report.processed,
                v2.report.filtered,
                v2.report.failed,
                v2.report.late,
                v2.report.late_dropped,
                v2.report.dlq,
            ),
            (
                v1.report.processed,
                v1.report.filtered,
                v1.report.failed,
                v1.report.late,
                v1.report.late_dropped,
                v1.report.dlq,
            ),
            "(processed, filtered, failed, late, late dropped, dlq) differ from V1's: {what}"
        );
        if case.shape.ordered() {
            assert_eq!(
                v2.out, v1.out,
                "the ORDER BY output differs from V1's: {what}"
            );
        }
        assert_eq!(
            sorted(&v2.late),
            sorted(&v1.late),
            "dead-letter multiset differs from V1's: {what}"
        );
        assert_eq!(
            sorted(&v2.dlq),
            sorted(&v1.dlq),
            "DLQ multiset differs from V1's: {what}"
        );
    }
}

fn rows_strategy() -> impl Strategy<Value = Vec<Row>> {
    let v = prop_oneof![
        40 => (-5i64..40).prop_map(Some),
        7 => Just(None),
        1 => (0..HUGE.len()).prop_map(|i| Some(HUGE[i])),
    ];
    let x = prop_oneof![
        40 => (0..DOUBLES.len()).prop_map(|i| X::Value(DOUBLES[i])),
        6 => Just(X::Null),
        1 => Just(X::Bad),
    ];
    let c = prop_oneof![
        12 => (0..4usize).prop_map(|i| CODES[i]),
        1 => Just(CODES[4]),
        2 => Just(CODES[5]),
    ];
    prop::collection::vec(
        (
            0..KEYS.len(),
            0..KEYS2.len(),
            v,
            -2500i64..2500,
            0..12u8,
            x,
            c,
        ),
        0..200,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (k, k2, v, jitter, far, x, c))| Row {
                k: KEYS[k],
                k2: KEYS2[k2],
                v,
                // Mostly increasing with jitter; now and then a record far behind.
                ts: BASE_TS + i as i64 * 400 + jitter - if far == 0 { 9_000 } else { 0 },
                x,
                c,
            })
            .collect()
    })
}

fn emit_strategy() -> impl Strategy<Value = Emit> {
    prop_oneof![Just(Emit::Default), Just(Emit::Changes), Just(Emit::Final)]
}

fn window_strategy() -> impl Strategy<Value = Window> {
    prop_oneof![
        (2u32..8).prop_map(|size_s| Window::Tumbling { size_s }),
        prop_oneof![
            Just((4u32, 2u32)),
            Just((6, 2)),
            Just((10, 5)),
            Just((3, 1))
        ]
        .prop_map(|(size_s, advance_s)| Window::Sliding { size_s, advance_s }),
        (300u32..4000).prop_map(|gap_ms| Window::Session { gap_ms }),
    ]
}

fn limit_strategy() -> impl Strategy<Value = Option<u32>> {
    prop::option::of(1u32..30)
}

fn shape_strategy() -> impl Strategy<Value = Shape> {
    let aggregate = (
        0usize..=2,
        prop::option::weighted(0.5, window_strategy()),
        emit_strategy(),
        any::<bool>(),
        prop::option::of(0..HAVINGS.len()),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.25, 1u32..30),
    )
        .prop_map(|(keys, window, emit, cast, having, order, limit)| {
            // ORDER BY / LIMIT on a window apply per emitted window: EMIT
            // CHANGES has none, and the planner refuses them there.
            let changes_window = window.is_some() && emit == Emit::Changes;
            Shape::Aggregate {
                // A window needs a GROUP BY.
                keys: if window.is_some() { keys.max(1) } else { keys },
                window,
                emit,
                cast,
                having,
                order: order && !changes_window,
                limit: limit.filter(|_| !changes_window),
            }
        });
    prop_oneof![
        1 => any::<bool>().prop_map(|computed| Shape::Stateless { computed }),
        2 => (any::<bool>(), emit_strategy())
            .prop_map(|(two_keys, emit)| Shape::GroupBy { two_keys, emit }),
        3 => (window_strategy(), any::<bool>(), emit_strategy(), any::<bool>()).prop_map(
            |(window, two_keys, emit, window_end)| Shape::Windowed {
                window,
                two_keys,
                emit,
                window_end
            }
        ),
        1 => Just(Shape::Rows),
        4 => aggregate,
        1 => (any::<bool>(), limit_strategy())
            .prop_map(|(order, limit)| Shape::Sorted { order, limit }),
    ]
}

fn extra_strategy() -> impl Strategy<Value = Extra> {
    prop_oneof![
        2 => Just(OnFailure::Default),
        1 => Just(OnFailure::Log),
        3 => Just(OnFailure::Dlq),
        1 => Just(OnFailure::Retry),
        1 => Just(OnFailure::FailBatch),
    ]
    .prop_map(|failure| Extra { failure })
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        rows_strategy(),
        shape_strategy(),
        0..FILTERS.len(),
        prop_oneof![
            Just(Late::Drop),
            Just(Late::ProcessAll),
            Just(Late::ProcessWithWarning),
            Just(Late::DeadLetter)
        ],
        prop_oneof![Just(0u32), Just(500), Just(1000), Just(2000)],
        any::<bool>(),
        any::<bool>(),
        1usize..=64,
    )
        .prop_map(
            |(rows, shape, filter, late, ooo, event_time_field, partition_key, batch_size)| Case {
                rows,
                shape,
                filter,
                late,
                max_out_of_orderness_ms: ooo,
                event_time_field,
                partition_key,
                batch_size,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn v2_agrees_with_v1(case in case_strategy(), extra in extra_strategy()) {
        check_with(&case, &extra);
    }
}

/// A fixed input with many late rows.
fn late_rows() -> Vec<Row> {
    (0..150)
        .map(|i: i64| Row {
            k: KEYS[(i * 7 % 5) as usize],
            k2: KEYS2[(i * 3 % 4) as usize],
            v: (i % 11 != 0).then_some(i % 17 - 3),
            ts: BASE_TS + i * 300 + [0, 1700, -1900, 400, -2600][(i % 5) as usize],
            x: X::Value(DOUBLES[(i % 10) as usize]),
            c: CODES[(i % 4) as usize],
        })
        .collect()
}

/// Two fixed windowed cases with late data and a dead-letter sink, whatever the
/// random cases happened to draw.
#[test]
fn late_windowed_cases_with_dead_letters() {
    for shape in [
        Shape::Windowed {
            window: Window::Tumbling { size_s: 3 },
            two_keys: true,
            emit: Emit::Changes,
            window_end: true,
        },
        Shape::Windowed {
            window: Window::Session { gap_ms: 1200 },
            two_keys: false,
            emit: Emit::Final,
            window_end: true,
        },
    ] {
        check(&Case {
            rows: late_rows(),
            shape,
            filter: 0,
            late: Late::DeadLetter,
            max_out_of_orderness_ms: 1000,
            event_time_field: true,
            partition_key: false,
            batch_size: 7,
        });
    }
}

/// How many of `case`'s rows are late by SPEC §4: the watermark (the largest
/// event time so far less the allowed disorder) advances at the input's batch
/// boundaries, and a row is late when its event time is below it.
fn expected_late(case: &Case) -> usize {
    let mut watermark = i64::MIN;
    let mut max = i64::MIN;
    let mut late = 0;
    for batch in case.rows.chunks(case.batch_size) {
        for r in batch {
            if r.ts < watermark {
                late += 1;
            }
            max = max.max(r.ts);
        }
        watermark = max - i64::from(case.max_out_of_orderness_ms);
    }
    late
}

/// A fixed input where every kind of failure occurs: a field the reader
/// rejects, a CAST of a non-number, a division by zero, an overflow in an
/// expression and in SUM.
fn failing_rows() -> Vec<Row> {
    (0..120)
        .map(|i: i64| Row {
            k: KEYS[(i * 3 % 5) as usize],
            k2: KEYS2[(i % 4) as usize],
            v: match i % 13 {
                5 => Some(HUGE[(i % 3) as usize]),
                9 => None,
                _ => Some(i % 23 - 4),
            },
            ts: BASE_TS + i * 350 + [0, 900, -1300][(i % 3) as usize],
            x: match i % 17 {
                3 => X::Bad,
                8 => X::Null,
                _ => X::Value(DOUBLES[(i * 7 % 10) as usize]),
            },
            c: CODES[(i * 5 % 6) as usize],
        })
        .collect()
}

/// Fixed cases with failing records under `send_to_dlq` (the DLQ must hold
/// every failed record, the same multiset from V1 and V2), whatever the random
/// cases happened to draw; and HAVING, COUNT(DISTINCT), DOUBLE aggregates and
/// ORDER BY ... LIMIT over them.
#[test]
fn failing_records_reach_the_same_dead_letter_queue() {
    let shapes = [
        (Shape::Stateless { computed: true }, 6),
        (
            Shape::Aggregate {
                keys: 1,
                window: None,
                emit: Emit::Changes,
                cast: true,
                having: Some(1),
                order: false,
                limit: None,
            },
            5,
        ),
        (
            Shape::Aggregate {
                keys: 1,
                window: Some(Window::Tumbling { size_s: 4 }),
                emit: Emit::Final,
                cast: true,
                having: Some(2),
                order: true,
                limit: Some(12),
            },
            6,
        ),
        (
            Shape::Sorted {
                order: true,
                limit: Some(25),
            },
            5,
        ),
    ];
    for (shape, filter) in shapes {
        let case = Case {
            rows: failing_rows(),
            shape,
            filter,
            late: Late::ProcessAll,
            max_out_of_orderness_ms: 1000,
            event_time_field: true,
            partition_key: false,
            batch_size: 9,
        };
        // The case must fail records, else it proves nothing.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("input.csv"), case.csv()).unwrap();
        let extra = Extra {
            failure: OnFailure::Dlq,
        };
        let v1 = try_run(&V1Processor, dir.path(), &case, &extra, "v1").unwrap();
        assert!(
            v1.report.failed > 1 && !v1.dlq.is_empty() && !v1.out.is_empty(),
            "the fixed case fails too little: {:?}\n{}",
            v1.report,
            case.app_with(&extra, "v1")
        );
        check_with(&case, &extra);
    }
}

/// A global aggregate (no GROUP BY) over no rows and over one: V2's idle
/// partitions must not add rows of their own (an empty group each).
#[test]
fn global_aggregates_over_little_input() {
    let one = failing_rows()[..1].to_vec();
    for rows in [Vec::new(), one] {
        for emit in [Emit::Default, Emit::Final] {
            let case = Case {
                rows: rows.clone(),
                shape: Shape::Aggregate {
                    keys: 0,
                    window: None,
                    emit,
                    cast: true,
                    having: None,
                    order: false,
                    limit: None,
                },
                filter: 0,
                late: Late::Drop,
                max_out_of_orderness_ms: 0,
                event_time_field: false,
                partition_key: false,
                batch_size: 4,
            };
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("input.csv"), case.csv()).unwrap();
            let v1 = run(&V1Processor, dir.path(), &case, "v1");
            // EMIT FINAL: one row, even over no input; EMIT CHANGES: one per row.
            let expected = if emit == Emit::Final {
                1
            } else {
                case.rows.len()
            };
            assert_eq!(v1.out.len(), expected, "{emit:?}: {:?}", v1.out);
            check(&case);
        }
    }
}

/// The Kafka partition of a row: by its key `k`, so that each key's records
/// are in one source partition, in input order.
fn kafka_partition(row: &Row) -> i32 {
    KEYS.iter().position(|k| *k == row.k).unwrap_or(0) as i32 % 3
}

/// A row as the JSON value of a Kafka message (`x` a string where the CSV has
/// a field that is not a number: the reader rejects it).
fn kafka_value(row: &Row) -> String {
    let x = match row.x {
        X::Null => serde_json::Value::Null,
        X::Value(x) => serde_json::json!(x),
        X::Bad => serde_json::json!("n/a"),
    };
    serde_json::json!({
        "k": row.k, "k2": row.k2, "v": row.v, "ts": row.ts, "x": x, "c": row.c,
    })
    .to_string()
}

/// Runs `select` over the Kafka topic `topic` until `rows` records have been
/// read, then stops the job (a Kafka source is unbounded) and lets it drain.
fn kafka_run(
    processor: &dyn JobProcessor,
    dir: &Path,
    brokers: &str,
    topic: &str,
    select: &str,
    tag: &str,
    rows: u64,
) -> (Run, String) {
    // A folder per run: nothing of one run is there for the next.
    let dir = dir.join(tag);
    std::fs::create_dir(&dir).unwrap();
    let text = format!(
        "CREATE STREAM out AS\n{select}\nWITH ('src.type' = 'kafka_source', 'src.topic' = '{topic}',
      'src.bootstrap.servers' = '{brokers}', 'src.group.id' = 'agree-{tag}',
      'src.schema' = 'k VARCHAR, k2 VARCHAR, v BIGINT, ts BIGINT, x DOUBLE, c VARCHAR',
      'src.partition.key' = 'k',
      'src.kafka.session.timeout.ms' = '6000', 'src.kafka.heartbeat.interval.ms' = '1000',
      'out.type' = 'file_sink', 'out.path' = 'out.jsonl',
      'failure_strategy' = 'send_to_dlq', 'dlq.sink' = 'bad_rows',
      'bad_rows.type' = 'file_sink', 'bad_rows.path' = 'dlq.jsonl');\n"
    );
    let app_path = dir.join("app.sql");
    std::fs::write(&app_path, &text).unwrap();
    let app = LoadedApp::load(&app_path)
        .unwrap_or_else(|f| panic!("the generated app does not plan: {f:?}\n{text}"));
    let counters = JobCounters::default();
    let stop = Arc::new(AtomicBool::new(false));
    let options = RunOptions {
        batch_size: 16,
        progress: false,
        stop: stop.clone(),
        state_dir: None,
        fresh: false,
        readers: 1,
    };
    let result = std::thread::scope(|s| {
        let job = s.spawn(|| processor.run(&app, &app.plan.jobs[0], &options, &counters));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        while counters.read.load(std::sync::atomic::Ordering::Acquire) < rows
            && !job.is_finished()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::Release);
        job.join().unwrap()
    });
    result.unwrap_or_else(|f| panic!("{} ({tag}) failed: {f:?}\n{text}", processor.name()));
    let run = Run {
        out: read_lines(&dir.join("out.jsonl")),
        late: Vec::new(),
        dlq: read_lines(&dir.join("dlq.jsonl")),
        report: counters.snapshot(),
    };
    assert_eq!(
        run.report.read,
        rows,
        "{} ({tag}) read {} of {rows} records within 90 s\n{text}",
        processor.name(),
        run.report.read
    );
    (run, text)
}

/// SPEC §4 over several source partitions: files, stdin and the generator have
/// one, so a Kafka topic of 3 partitions, each key's records in one partition
/// in input order (and `'src.partition.key' = 'k'` says so). Which partition
/// the reader returns records from next depends on fetch timing, so only
/// queries whose result does not depend on the interleaving of partitions
/// take part: no event time (no watermark, nothing late), GROUP BY over keys
/// that include `k` with EMIT CHANGES (each key's sequence of rows must be
/// V1's) and a stateless filter (the multiset). DOUBLE sums included: a
/// group's rows must reach its worker in input order whatever the partition
/// count. Failed records go to the DLQ, which must agree too.
#[test]
fn several_source_partitions_agree() {
    let Some(broker) = common::broker::Broker::start() else {
        return;
    };
    let topic = "agree-in";
    broker.create_topic(topic, 3);
    let rows = failing_rows();
    for p in 0..3 {
        broker.produce_to(
            topic,
            Some(p),
            rows.iter()
                .filter(|r| kafka_partition(r) == p)
                .map(|r| (r.k.unwrap_or("").to_string(), kafka_value(r))),
        );
    }
    let n = rows.len() as u64;
    let queries: [(&str, Option<Vec<&str>>); 3] = [
        (
            "SELECT k, COUNT(*) AS n, SUM(x) AS sx, AVG(x) AS ax, MIN(x) AS lox, MAX(x) AS hix, \
             COUNT(DISTINCT k2) AS dk, SUM(v) AS s FROM src GROUP BY k HAVING COUNT(*) > 1",
            Some(vec!["k"]),
        ),
        (
            "SELECT k, k2, COUNT(*) AS n, SUM(x) AS sx, STDDEV(x) AS sdx, \
             SUM(CAST(c AS BIGINT)) AS sc FROM src WHERE 60 / (v % 4) > 5 GROUP BY k, k2",
            Some(vec!["k", "k2"]),
        ),
        (
            "SELECT k, k2, v, x, v * 2 + 1 AS w, CAST(c AS BIGINT) AS ci FROM src WHERE x <> 0.3",
            None,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let brokers = broker.bootstrap();
    for (q, (select, key)) in queries.iter().enumerate() {
        let (v1, text) = kafka_run(
            &V1Processor,
            dir.path(),
            &brokers,
            topic,
            select,
            &format!("q{q}_v1"),
            n,
        );
        assert!(
            v1.report.failed > 0 && v1.report.dlq == v1.report.failed && !v1.out.is_empty(),
            "the case must fail some records and output others: {:?}\n{text}",
            v1.report
        );
        let configs: [(usize, Option<StrategyKind>); 5] = [
            (1, None),
            (3, None),
            (2, Some(StrategyKind::AlwaysHash)),
            (5, Some(StrategyKind::StickyPartition)),
            (4, Some(StrategyKind::SmartRepartition)),
        ];
        let app = LoadedApp::load(&dir.path().join(format!("q{q}_v1/app.sql"))).unwrap();
        let job = &app.plan.jobs[0];
        for (i, (partitions, strategy)) in configs.into_iter().enumerate() {
            if strategy.is_some_and(|k| job.routing.check(k).is_err()) {
                continue;
            }
            let processor = V2Processor {
                partitions,
                strategy,
                placement: if i % 2 == 0 {
                    Placement::Compact
                } else {
                    Placement::Dedicated
                },
            };
            let tag = format!("q{q}_v2_{i}");
            let (v2, _) = kafka_run(&processor, dir.path(), &brokers, topic, select, &tag, n);
            let what = format!(
                "V2 with {partitions} partitions, strategy {}\n{text}",
                strategy.map_or("auto", |s| s.name())
            );
            assert_eq!(
                (
                    v2.report.processed,
                    v2.report.filtered,
                    v2.report.failed,
                    v2.report.late,
                    v2.report.written,
                    v2.report.dlq,
                ),
                (
                    v1.report.processed,
                    v1.report.filtered,
                    v1.report.failed,
                    v1.report.late,
                    v1.report.written,
                    v1.report.dlq,
                ),
                "(processed, filtered, failed, late, written, dlq) differ from V1's: {what}"
            );
            assert_eq!(
                sorted(&v2.out),
                sorted(&v1.out),
                "output multiset differs from V1's: {what}"
            );
            assert_eq!(
                sorted(&v2.dlq),
                sorted(&v1.dlq),
                "DLQ multiset differs from V1's: {what}"
            );
            if let Some(k) = key {
                assert_eq!(
                    per_key(&v2.out, k),
                    per_key(&v1.out, k),
                    "a key's row sequence differs from V1's: {what}"
                );
            }
        }
    }
}

/// SPEC §4: "every late record is counted in metrics". The job's `late` counter
/// (the one the summary, `GET /jobs` and `velo_job_records_late_total` read)
/// counts every late row, whatever the strategy did with it; `late_dropped`
/// those set aside. Lateness depends on the input only, so every strategy sees
/// the same late rows: `drop` and `dead_letter` set them all aside,
/// `process_all` and `process_with_warning` process them all (late and
/// processed), on V1 and V2 alike.
#[test]
fn late_records_are_counted() {
    let case = |late| Case {
        rows: late_rows(),
        shape: Shape::Windowed {
            window: Window::Tumbling { size_s: 3 },
            two_keys: false,
            emit: Emit::Final,
            window_end: false,
        },
        filter: 0,
        late,
        max_out_of_orderness_ms: 1000,
        event_time_field: true,
        partition_key: false,
        batch_size: 7,
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.csv"), case(Late::Drop).csv()).unwrap();
    let processors: [(&dyn JobProcessor, &str); 2] = [
        (&V1Processor, "v1"),
        (
            &V2Processor {
                partitions: 3,
                strategy: None,
                placement: Placement::Auto,
            },
            "v2",
        ),
    ];
    // The late rows and the rows processed under `drop`, from V1.
    let reference = run(&V1Processor, dir.path(), &case(Late::Drop), "drop_v1").report;
    let expected = expected_late(&case(Late::Drop)) as u64;
    assert!(expected > 0, "the case has no late rows");
    assert_eq!(
        reference.late, expected,
        "the late rows by SPEC §4: {reference:?}"
    );
    for late in [
        Late::Drop,
        Late::DeadLetter,
        Late::ProcessAll,
        Late::ProcessWithWarning,
    ] {
        for (processor, name) in processors {
            let tag = format!("{late:?}_{name}");
            let run = run(processor, dir.path(), &case(late), &tag);
            let r = &run.report;
            assert_eq!(r.accounted(), r.read, "{tag}: {r:?}");
            assert_eq!(
                r.late, reference.late,
                "{tag}: every late row is late: {r:?}"
            );
            let set_aside = matches!(late, Late::Drop | Late::DeadLetter);
            if set_aside {
                assert_eq!(r.late_dropped, r.late, "{tag}: all set aside: {r:?}");
                assert_eq!(r.processed, reference.processed, "{tag}: {r:?}");
            } else {
                assert_eq!(r.late_dropped, 0, "{tag}: none set aside: {r:?}");
                assert_eq!(
                    r.processed,
                    reference.processed + r.late,
                    "{tag}: late rows are processed too: {r:?}"
                );
            }
            if late == Late::DeadLetter {
                assert_eq!(
                    run.late.len() as u64,
                    r.late_dropped,
                    "{tag}: the dead-letter sink holds every late row set aside"
                );
            } else {
                assert!(run.late.is_empty(), "{tag}: {:?}", run.late);
            }
        }
    }
}
