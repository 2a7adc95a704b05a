//! Joins of two streams on random inputs: V1, and V2 at a random partition
//! count, give the rows a reference nested-loop join computes here, as a
//! multiset (SPEC §2, §4). The reference knows nothing of Velo: it reads the
//! same rows the test wrote to the CSV files.
//!
//! Each case has two streams `a(id, k, ts)` and `b(id, k, ts)`, each in event
//! time order, so that no row is late at the join and every pair within the
//! bound is found whatever the read order; some keys are NULL (they never
//! match). The query is an interval join (INNER or LEFT, a random bound), a
//! regular join (with or without a TTL), a window join (INNER or LEFT,
//! tumbling or hopping) or an interval join feeding a GROUP BY on the join
//! key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use proptest::prelude::*;
use velo_server::app::LoadedApp;
use velo_server::processor::{
    JobCounters, JobProcessor, Placement, RunOptions, V1Processor, V2Processor,
};

const KEYS: [Option<&str>; 5] = [Some("p"), Some("q"), Some("r"), Some("s"), None];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    Inner,
    Left,
    Regular,
    /// A regular join with `join.state.ttl` = `upper - lower` (at least 1).
    RegularTtl,
    GroupByKey,
    /// A window join: TUMBLE of `upper - lower` (at least 1 ms), or HOP of
    /// that size every half of it.
    Window {
        left: bool,
        hop: bool,
    },
}

type Row = (Option<&'static str>, i64);

#[derive(Debug, Clone)]
struct Case {
    a: Vec<Row>,
    b: Vec<Row>,
    /// `b.ts - a.ts` within `[lower, upper]` ms.
    lower: i64,
    upper: i64,
    query: Query,
    partitions: usize,
    batch_size: usize,
}

impl Case {
    fn app(&self, tag: &str) -> String {
        let bound = format!(
            "AND b.ts BETWEEN a.ts + INTERVAL '{}' MILLISECOND AND a.ts + INTERVAL '{}' MILLISECOND",
            self.lower, self.upper
        );
        let window = self.window();
        let tvf = |name: &str| {
            match window {
            (size, slide) if size != slide => format!(
                "TABLE(HOP(TABLE {name}, DESCRIPTOR(ts), INTERVAL '{slide}' MILLISECOND, INTERVAL '{size}' MILLISECOND)) {name}"
            ),
            (size, _) => format!(
                "TABLE(TUMBLE(TABLE {name}, DESCRIPTOR(ts), INTERVAL '{size}' MILLISECOND)) {name}"
            ),
        }
        };
        if let Query::Window { left, .. } = self.query {
            return format!(
                "CREATE STREAM out AS SELECT a.id AS aid, b.id AS bid FROM {} {} {} ON a.k = b.k \
                 AND a.window_start = b.window_start AND a.window_end = b.window_end\n\
                 WITH ('a.type' = 'file_source', 'a.path' = 'a.csv', 'a.schema' = 'id BIGINT, k VARCHAR, ts BIGINT',\n\
                 'b.type' = 'file_source', 'b.path' = 'b.csv', 'b.schema' = 'id BIGINT, k VARCHAR, ts BIGINT',\n\
                 'max.memory.mb' = '64', 'out.type' = 'file_sink', 'out.path' = 'out_{tag}.jsonl');\n",
                tvf("a"),
                if left { "LEFT JOIN" } else { "JOIN" },
                tvf("b"),
            );
        }
        let (select, join, on, group) = match self.query {
            Query::Inner => ("a.id AS aid, b.id AS bid", "JOIN", bound.as_str(), ""),
            Query::Left => ("a.id AS aid, b.id AS bid", "LEFT JOIN", bound.as_str(), ""),
            Query::Regular | Query::RegularTtl => ("a.id AS aid, b.id AS bid", "JOIN", "", ""),
            Query::Window { .. } => unreachable!("written above"),
            Query::GroupByKey => (
                "a.k, COUNT(*) AS n, SUM(b.id) AS total",
                "JOIN",
                bound.as_str(),
                "GROUP BY a.k EMIT FINAL",
            ),
        };
        format!(
            "CREATE STREAM out AS SELECT {select} FROM a {join} b ON a.k = b.k {on} {group}\n\
             WITH ('a.type' = 'file_source', 'a.path' = 'a.csv', 'a.schema' = 'id BIGINT, k VARCHAR, ts BIGINT',\n\
             'b.type' = 'file_source', 'b.path' = 'b.csv', 'b.schema' = 'id BIGINT, k VARCHAR, ts BIGINT',\n\
             'event.time.field' = 'ts', 'max.memory.mb' = '64',{}\n\
             'out.type' = 'file_sink', 'out.path' = 'out_{tag}.jsonl');\n",
            if self.query == Query::RegularTtl {
                format!(" 'join.state.ttl' = '{}ms',", self.ttl())
            } else {
                String::new()
            }
        )
    }

    fn write_inputs(&self, dir: &Path) {
        for (name, rows) in [("a", &self.a), ("b", &self.b)] {
            let mut text = String::from("id,k,ts\n");
            for (i, (k, ts)) in rows.iter().enumerate() {
                writeln!(text, "{i},{},{ts}", k.unwrap_or("")).unwrap();
            }
            std::fs::write(dir.join(format!("{name}.csv")), text).unwrap();
        }
    }

    /// A window join's (size, slide).
    fn window(&self) -> (i64, i64) {
        let size = (self.upper - self.lower).max(1);
        match self.query {
            Query::Window { hop: true, .. } if size >= 2 => (size, size / 2),
            _ => (size, size),
        }
    }

    /// The starts of the windows holding `ts`.
    fn windows(&self, ts: i64) -> Vec<i64> {
        let (size, slide) = self.window();
        let mut starts = Vec::new();
        let mut s = ts - ts.rem_euclid(slide);
        while s > ts - size {
            starts.push(s);
            s -= slide;
        }
        starts
    }

    fn ttl(&self) -> i64 {
        (self.upper - self.lower).max(1)
    }

    fn pairs(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let (k, ts) = self.a[i];
        self.b
            .iter()
            .enumerate()
            .filter(move |(_, (bk, bts))| {
                k.is_some()
                    && *bk == k
                    && match self.query {
                        Query::Regular => true,
                        Query::RegularTtl => (bts - ts).abs() <= self.ttl(),
                        _ => bts - ts >= self.lower && bts - ts <= self.upper,
                    }
            })
            .map(|(j, _)| j)
    }

    /// The expected output rows as JSON lines, sorted.
    fn reference(&self) -> Vec<String> {
        let mut rows = Vec::new();
        match self.query {
            Query::Inner | Query::Left | Query::Regular | Query::RegularTtl => {
                for i in 0..self.a.len() {
                    let mut any = false;
                    for j in self.pairs(i) {
                        any = true;
                        rows.push(format!("{{\"aid\":{i},\"bid\":{j}}}"));
                    }
                    if !any && self.query == Query::Left {
                        rows.push(format!("{{\"aid\":{i},\"bid\":null}}"));
                    }
                }
            }
            Query::Window { left, .. } => {
                for (i, (k, ts)) in self.a.iter().enumerate() {
                    for w in self.windows(*ts) {
                        let mut any = false;
                        for (j, (bk, bts)) in self.b.iter().enumerate() {
                            if k.is_some() && bk == k && self.windows(*bts).contains(&w) {
                                any = true;
                                rows.push(format!("{{\"aid\":{i},\"bid\":{j}}}"));
                            }
                        }
                        if !any && left {
                            rows.push(format!("{{\"aid\":{i},\"bid\":null}}"));
                        }
                    }
                }
            }
            Query::GroupByKey => {
                let mut groups: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
                for i in 0..self.a.len() {
                    for j in self.pairs(i) {
                        let g = groups.entry(self.a[i].0.unwrap()).or_default();
                        g.0 += 1;
                        g.1 += j as i64;
                    }
                }
                for (k, (n, total)) in groups {
                    rows.push(format!("{{\"k\":\"{k}\",\"n\":{n},\"total\":{total}}}"));
                }
            }
        }
        rows.sort();
        rows
    }
}

fn run(processor: &dyn JobProcessor, dir: &Path, case: &Case, tag: &str) -> Vec<String> {
    let app_path = dir.join(format!("app_{tag}.sql"));
    std::fs::write(&app_path, case.app(tag)).unwrap();
    let app = LoadedApp::load(&app_path).unwrap_or_else(|f| panic!("{f:?}\n{}", case.app(tag)));
    let options = RunOptions {
        batch_size: case.batch_size,
        progress: false,
        stop: Arc::new(AtomicBool::new(false)),
        state_dir: None,
        fresh: false,
        readers: 1,
    };
    let counters = JobCounters::default();
    processor
        .run(&app, &app.plan.jobs[0], &options, &counters)
        .unwrap_or_else(|f| panic!("{} failed: {f:?}\n{}", processor.name(), case.app(tag)));
    let s = counters.snapshot();
    assert_eq!(
        s.read,
        (case.a.len() + case.b.len()) as u64,
        "every row read"
    );
    assert_eq!(s.late, 0, "no row is late");
    let text = std::fs::read_to_string(dir.join(format!("out_{tag}.jsonl"))).unwrap_or_default();
    let mut rows: Vec<String> = text.lines().map(str::to_string).collect();
    rows.sort();
    rows
}

/// A stream's rows in event-time order.
fn stream() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec((prop::sample::select(KEYS.to_vec()), 0i64..60_000), 0..40).prop_map(
        |mut rows| {
            rows.sort_by_key(|(_, ts)| *ts);
            rows
        },
    )
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        stream(),
        stream(),
        -8_000i64..8_000,
        0i64..12_000,
        prop::sample::select(vec![
            Query::Inner,
            Query::Left,
            Query::Regular,
            Query::RegularTtl,
            Query::GroupByKey,
            Query::Window {
                left: false,
                hop: false,
            },
            Query::Window {
                left: true,
                hop: false,
            },
            Query::Window {
                left: true,
                hop: true,
            },
            Query::Window {
                left: false,
                hop: true,
            },
        ]),
        1usize..=4,
        prop::sample::select(vec![1usize, 3, 16, 1024]),
    )
        .prop_map(|(a, b, lower, width, query, partitions, batch_size)| Case {
            a,
            b,
            lower,
            upper: lower + width,
            query,
            partitions,
            batch_size,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn v1_and_v2_give_the_reference_join_of_two_streams(case in case_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        case.write_inputs(dir.path());
        let expected = case.reference();
        let v1 = run(&V1Processor, dir.path(), &case, "v1");
        prop_assert_eq!(&v1, &expected, "V1\n{}", case.app("v1"));
        let v2 = V2Processor {
            partitions: case.partitions,
            strategy: None,
            placement: if case.partitions % 2 == 0 {
                Placement::Compact
            } else {
                Placement::Dedicated
            },
        };
        let got = run(&v2, dir.path(), &case, "v2");
        prop_assert_eq!(&got, &expected, "V2@{}\n{}", case.partitions, case.app("v2"));
    }
}

/// A join's held rows count against `max.memory.mb`: a regular join without
/// a TTL keeps every row, so a small limit stops the job with the reason.
#[test]
fn a_joins_rows_are_counted_and_its_memory_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        let mut text = String::from("id,k,ts\n");
        for i in 0..20_000 {
            writeln!(text, "{i},key-{i}-{},{i}", "x".repeat(24)).unwrap();
        }
        std::fs::write(dir.path().join(format!("{name}.csv")), text).unwrap();
    }
    let options = RunOptions {
        batch_size: 512,
        progress: false,
        stop: Arc::new(AtomicBool::new(false)),
        state_dir: None,
        fresh: false,
        readers: 1,
    };
    for (limit, fits) in [(256, true), (1, false)] {
        let path = dir.path().join(format!("app_{limit}.sql"));
        std::fs::write(
            &path,
            format!(
                "CREATE STREAM out AS SELECT a.id FROM a JOIN b ON a.k = b.k\n\
                 WITH ('a.type' = 'file_source', 'a.path' = 'a.csv', 'b.type' = 'file_source', 'b.path' = 'b.csv',\n\
                 'max.memory.mb' = '{limit}', 'out.type' = 'file_sink', 'out.path' = 'out_{limit}.jsonl');\n"
            ),
        )
        .unwrap();
        let app = LoadedApp::load(&path).unwrap();
        let counters = JobCounters::default();
        let result = V1Processor.run(&app, &app.plan.jobs[0], &options, &counters);
        if fits {
            result.unwrap();
            let out = std::fs::read_to_string(dir.path().join("out_256.jsonl")).unwrap();
            assert_eq!(out.lines().count(), 20_000, "every key pairs once");
        } else {
            let err = format!("{:?}", result.unwrap_err());
            assert!(err.contains("query state holds about"), "{err}");
        }
    }
}
