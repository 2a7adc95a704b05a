//! SPEC §4 determinism as a property test: for random inputs and random queries
//! from a small grammar, the V2 processor gives V1's output multiset with every
//! partition count from 1 to 8 and every strategy valid for the query (plus the
//! planner's own choice); for EMIT CHANGES queries (and ROWS windows, which emit
//! on every record) each key's sequence of rows is V1's too. Late rows sent to a
//! dead-letter sink must agree as a multiset as well, and every processor must
//! account for every input record (`read` = rows in the input).
//!
//! The input is a CSV with a few string keys (`k`, `k2`, NULLs included, and
//! values such that `("a","bc")` and `("ab","c")` both occur), small integers
//! `v` (some NULL) and an epoch-millis `ts` that increases with random
//! out-of-order jitter, so a small `watermark.max_out_of_orderness` makes some
//! records late. The batch size is random too: watermarks advance at batch
//! boundaries.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use proptest::prelude::*;
use velo_partition::StrategyKind;
use velo_server::app::LoadedApp;
use velo_server::processor::{
    JobCounters, JobProcessor, JobReport, Placement, RunOptions, V1Processor, V2Processor,
};

const KEYS: [Option<&str>; 5] = [Some("a"), Some("b"), Some("ab"), Some("c"), None];
const KEYS2: [Option<&str>; 4] = [Some("c"), Some("bc"), Some("x"), None];
const BASE_TS: i64 = 1_705_312_800_000;

const ALL_STRATEGIES: [StrategyKind; 5] = [
    StrategyKind::AlwaysHash,
    StrategyKind::SmartRepartition,
    StrategyKind::StickyPartition,
    StrategyKind::RoundRobin,
    StrategyKind::FanIn,
];

#[derive(Debug, Clone)]
struct Row {
    k: Option<&'static str>,
    k2: Option<&'static str>,
    v: Option<i64>,
    ts: i64,
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

const FILTERS: [&str; 5] = [
    "",
    " WHERE v IS NULL OR v >= 10",
    " WHERE k <> 'b'",
    " WHERE v % 3 <> 0",
    " WHERE ts % 7 <> 0 AND (k2 IS NOT NULL OR v < 20)",
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
            Shape::Stateless { .. } => None,
            Shape::GroupBy { two_keys, emit } => {
                matches!(emit, Emit::Default | Emit::Changes).then(|| keys(*two_keys))
            }
            Shape::Windowed { two_keys, emit, .. } => {
                (*emit == Emit::Changes).then(|| keys(*two_keys))
            }
            Shape::Rows => Some(vec!["k"]),
        }
    }
}

fn emit_clause(emit: Emit) -> &'static str {
    match emit {
        Emit::Default => "",
        Emit::Changes => " EMIT CHANGES",
        Emit::Final => " EMIT FINAL",
    }
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
                format!("SELECT k, k2, v, ts{extra} FROM src{filter}")
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
            } => {
                let w = match window {
                    Window::Tumbling { size_s } => {
                        format!("TUMBLING(ts, INTERVAL '{size_s}' SECOND)")
                    }
                    Window::Sliding { size_s, advance_s } => format!(
                        "SLIDING(ts, INTERVAL '{size_s}' SECOND, INTERVAL '{advance_s}' SECOND)"
                    ),
                    Window::Session { gap_ms } => format!("SESSION(ts, {gap_ms}ms)"),
                };
                format!(
                    "SELECT {g}, _window_start{end}, COUNT(*) AS n, SUM(v) AS s, MIN(v) AS lo, MAX(v) AS hi \
                     FROM src{filter} GROUP BY {g} WINDOW {w}{e}",
                    g = group(*two_keys),
                    end = if *window_end { ", _window_end" } else { "" },
                    e = emit_clause(*emit)
                )
            }
            Shape::Rows => format!(
                "SELECT k, v, ts, \
                 AVG(v) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY ts) AS a3, \
                 LAG(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS prev \
                 FROM src{filter}"
            ),
        }
    }

    /// The app text, writing to `out_{tag}.jsonl` (and `late_{tag}.jsonl`).
    fn app(&self, tag: &str) -> String {
        let mut with = String::from(
            "'src.type' = 'file_source', 'src.path' = 'input.csv', \
             'src.schema' = 'k VARCHAR, k2 VARCHAR, v BIGINT, ts BIGINT'",
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
        format!("CREATE STREAM out AS\n{}\nWITH ({with});\n", self.select())
    }

    fn csv(&self) -> String {
        let mut s = String::from("k,k2,v,ts\n");
        for r in &self.rows {
            writeln!(
                s,
                "{},{},{},{}",
                r.k.unwrap_or(""),
                r.k2.unwrap_or(""),
                r.v.map(|v| v.to_string()).unwrap_or_default(),
                r.ts
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
    report: JobReport,
}

fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

fn load(dir: &Path, case: &Case, tag: &str) -> LoadedApp {
    let app_path = dir.join(format!("app_{tag}.sql"));
    let text = case.app(tag);
    std::fs::write(&app_path, &text).unwrap();
    let app = LoadedApp::load(&app_path)
        .unwrap_or_else(|f| panic!("the generated app does not plan: {f:?}\n{text}"));
    assert_eq!(app.plan.jobs.len(), 1, "{text}");
    app
}

fn run(processor: &dyn JobProcessor, dir: &Path, case: &Case, tag: &str) -> Run {
    let app = load(dir, case, tag);
    let counters = JobCounters::default();
    let options = RunOptions {
        batch_size: case.batch_size,
        progress: false,
        stop: Arc::new(AtomicBool::new(false)),
    };
    processor
        .run(&app, &app.plan.jobs[0], &options, &counters)
        .unwrap_or_else(|f| {
            panic!(
                "{} ({tag}) failed: {f:?}\nbatch size {}\n{}",
                processor.name(),
                case.batch_size,
                app.source
            )
        });
    Run {
        out: read_lines(&dir.join(format!("out_{tag}.jsonl"))),
        late: read_lines(&dir.join(format!("late_{tag}.jsonl"))),
        report: counters.snapshot(),
    }
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
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.csv"), case.csv()).unwrap();
    let input_rows = case.rows.len() as u64;

    let v1 = run(&V1Processor, dir.path(), case, "v1");
    let app_text = case.app("v1");
    assert_eq!(
        v1.report.read, input_rows,
        "v1 read {} of {input_rows} input rows\n{app_text}",
        v1.report.read
    );
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
        "v1: processed + filtered + late + failed != read: {:?}\n{app_text}",
        v1.report
    );
    let v1_sorted = sorted(&v1.out);
    let v1_late = sorted(&v1.late);
    let key = case.shape.sequence_key();
    let v1_keys = key.as_ref().map(|k| per_key(&v1.out, k));

    let app = load(dir.path(), case, "v1");
    for (i, (partitions, strategy, placement)) in v2_configs(&app).into_iter().enumerate() {
        let tag = format!("v2_{i}");
        let what = format!(
            "V2 with {partitions} partitions, strategy {}, placement {}, batch size {}\n{app_text}",
            strategy.map_or("auto", |s| s.name()),
            placement.name(),
            case.batch_size
        );
        let v2 = run(
            &V2Processor {
                partitions,
                strategy,
                placement,
            },
            dir.path(),
            case,
            &tag,
        );
        assert_eq!(v2.report.read, input_rows, "read != input rows: {what}");
        assert_eq!(
            v2.report.written,
            v2.out.len() as u64,
            "written != rows in the sink: {what}"
        );
        assert_eq!(
            (
                v2.report.processed,
                v2.report.filtered,
                v2.report.failed,
                v2.report.late
            ),
            (
                v1.report.processed,
                v1.report.filtered,
                v1.report.failed,
                v1.report.late
            ),
            "(processed, filtered, failed, late) differ from V1's: {what}"
        );
        assert_eq!(
            sorted(&v2.out),
            v1_sorted,
            "output multiset differs from V1's: {what}"
        );
        assert_eq!(
            sorted(&v2.late),
            v1_late,
            "dead-letter multiset differs from V1's: {what}"
        );
        if let (Some(k), Some(v1_keys)) = (&key, &v1_keys) {
            let v2_keys = per_key(&v2.out, k);
            for (kv, seq) in v1_keys {
                assert_eq!(
                    v2_keys.get(kv),
                    Some(seq),
                    "the row sequence of key {kv} differs from V1's: {what}"
                );
            }
        }
    }
}

fn rows_strategy() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (
            0..KEYS.len(),
            0..KEYS2.len(),
            prop::option::weighted(0.85, -5i64..40),
            -2500i64..2500,
            0..12u8,
        ),
        0..200,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (k, k2, v, jitter, far))| Row {
                k: KEYS[k],
                k2: KEYS2[k2],
                v,
                // Mostly increasing with jitter; now and then a record far behind.
                ts: BASE_TS + i as i64 * 400 + jitter - if far == 0 { 9_000 } else { 0 },
            })
            .collect()
    })
}

fn emit_strategy() -> impl Strategy<Value = Emit> {
    prop_oneof![Just(Emit::Default), Just(Emit::Changes), Just(Emit::Final)]
}

fn shape_strategy() -> impl Strategy<Value = Shape> {
    let window = prop_oneof![
        (2u32..8).prop_map(|size_s| Window::Tumbling { size_s }),
        prop_oneof![
            Just((4u32, 2u32)),
            Just((6, 2)),
            Just((10, 5)),
            Just((3, 1))
        ]
        .prop_map(|(size_s, advance_s)| Window::Sliding { size_s, advance_s }),
        (300u32..4000).prop_map(|gap_ms| Window::Session { gap_ms }),
    ];
    prop_oneof![
        1 => any::<bool>().prop_map(|computed| Shape::Stateless { computed }),
        2 => (any::<bool>(), emit_strategy())
            .prop_map(|(two_keys, emit)| Shape::GroupBy { two_keys, emit }),
        4 => (window, any::<bool>(), emit_strategy(), any::<bool>()).prop_map(
            |(window, two_keys, emit, window_end)| Shape::Windowed {
                window,
                two_keys,
                emit,
                window_end
            }
        ),
        1 => Just(Shape::Rows),
    ]
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
    fn v2_agrees_with_v1(case in case_strategy()) {
        check(&case);
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
    assert_eq!(reference.late, expected, "the late rows by SPEC §4: {reference:?}");
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
