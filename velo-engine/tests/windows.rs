//! Time windows end to end through `QueryExecutor`: a deliberately simple
//! reference implementation checked against the engine on random inputs
//! (proptest), bounded state over a long stream, event-time extraction, late data
//! under each strategy, and the window columns.
//!
//! Both are driven as the server drives a query: a watermark follows a batch
//! only when it rises (`velo_watermark::SourceWatermarks::advance`), and the end
//! of input is `finish`. The engine is also run with a watermark after every
//! batch, repeated or not, and must not tell the difference.

use std::sync::Arc;

use proptest::prelude::*;
use velo_engine::query::{EventTime, QueryExecutor, LATE_REASON_COLUMN};
use velo_types::{Batch, DataType, Field, Schema, SchemaRef, Value, Watermark};

fn plan(sql: &str, props: &str) -> velo_planner::JobPlan {
    let sql = format!("{sql} WITH ('t.type' = 'stdin_source'{props})");
    velo_planner::plan_sql(&sql, &Default::default())
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .jobs
        .remove(0)
}

fn rows(batch: Option<Batch>) -> Vec<Vec<Value>> {
    batch.map_or_else(Vec::new, |b| b.rows().map(<[Value]>::to_vec).collect())
}

fn kts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int),
        Field::new("ts", DataType::Int),
        Field::new("v", DataType::Int),
    ]))
}

fn batch_of(schema: &SchemaRef, recs: &[Rec]) -> Batch {
    let values = recs.iter().flat_map(Rec::values).collect();
    Batch::new(schema.clone(), values).unwrap()
}

// ---------------------------------------------------------------------------
// The reference implementation.
// ---------------------------------------------------------------------------

/// An input record; any field may be NULL. A NULL event time fails the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rec {
    k: Option<i64>,
    ts: Option<i64>,
    v: Option<i64>,
}

fn int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Int)
}

impl Rec {
    fn values(&self) -> [Value; 3] {
        [int(self.k), int(self.ts), int(self.v)]
    }

    /// The event time of a record the reference keeps (it has one).
    fn time(&self) -> i64 {
        self.ts.expect("only records with an event time are kept")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tumbling(i64),
    Sliding(i64, i64),
    Session(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Late {
    Drop,
    Warn,
    All,
    Dead,
}

#[derive(Debug, Clone)]
struct Case {
    kind: Kind,
    changes: bool,
    having: bool,
    late: Late,
    max_out_of_orderness: i64,
    batches: Vec<Vec<Rec>>,
}

impl Case {
    fn sql(&self) -> (String, String) {
        let window = match self.kind {
            Kind::Tumbling(s) => format!("TUMBLING(ts, INTERVAL '{s}' MILLISECOND)"),
            Kind::Sliding(s, a) => {
                format!("SLIDING(ts, INTERVAL '{s}' MILLISECOND, INTERVAL '{a}' MILLISECOND)")
            }
            Kind::Session(g) => format!("SESSION(ts, INTERVAL '{g}' MILLISECOND)"),
        };
        let sql = format!(
            "SELECT k, _window_start, _window_end, COUNT(*) AS n, SUM(v) AS s, MIN(v) AS lo, MAX(v) AS hi \
             FROM t GROUP BY k WINDOW {window}{}{}",
            if self.having { " HAVING COUNT(*) > 1" } else { "" },
            if self.changes { " EMIT CHANGES" } else { "" },
        );
        let late = match self.late {
            Late::Drop => "drop",
            Late::Warn => "process_with_warning",
            Late::All => "process_all",
            Late::Dead => "dead_letter",
        };
        let props = format!(
            ", 'late.data.strategy' = '{late}', 'late.data.dead_letter' = 'dl', 'dl.type' = 'stdout_sink'"
        );
        (sql, props)
    }
}

/// What a run produced: the emitted rows in order, the dead letters (without the
/// reason column), the failed records (NULL event time), and the late counters.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    rows: Vec<Vec<Value>>,
    dead: Vec<Vec<Value>>,
    failed: Vec<Vec<Value>>,
    late: u64,
    dropped: u64,
    warned: u64,
}

impl Outcome {
    fn new() -> Outcome {
        Outcome {
            rows: Vec::new(),
            dead: Vec::new(),
            failed: Vec::new(),
            late: 0,
            dropped: 0,
            warned: 0,
        }
    }
}

/// The windows [start, end) holding `ts`, found by brute force.
fn windows_of(kind: Kind, ts: i64) -> Vec<(i64, i64)> {
    let (size, advance) = match kind {
        Kind::Tumbling(s) => (s, s),
        Kind::Sliding(s, a) => (s, a),
        Kind::Session(_) => unreachable!(),
    };
    let mut s = (ts - size).div_euclid(advance) * advance - advance;
    let mut out = Vec::new();
    while s <= ts {
        if s <= ts && ts < s + size {
            out.push((s, s + size));
        }
        s += advance;
    }
    out
}

/// A window instance in the reference: key, bounds, and the arrival indices of
/// the records it holds.
#[derive(Debug, Clone)]
struct Instance {
    k: Option<i64>,
    start: i64,
    end: i64,
    members: Vec<usize>,
}

impl Instance {
    /// COUNT(*) counts the members; SUM, MIN and MAX skip NULL values and are
    /// NULL when every value is.
    fn row(&self, recs: &[Rec]) -> Vec<Value> {
        let vs: Vec<i64> = self.members.iter().filter_map(|&i| recs[i].v).collect();
        vec![
            int(self.k),
            Value::Timestamp(self.start),
            Value::Timestamp(self.end),
            Value::Int(self.members.len() as i64),
            if vs.is_empty() {
                Value::Null
            } else {
                Value::Int(vs.iter().sum())
            },
            int(vs.iter().min().copied()),
            int(vs.iter().max().copied()),
        ]
    }

    fn first(&self) -> usize {
        *self.members.iter().min().unwrap()
    }
}

/// Recomputes every open window instance from scratch over the live records:
/// `live` holds (record index, window) pairs for tumbling and sliding windows,
/// (record index, (0, 0)) for sessions, whose instances are the chains of a
/// key's live records less than `gap` apart.
fn instances(kind: Kind, recs: &[Rec], live: &[(usize, (i64, i64))]) -> Vec<Instance> {
    let mut out: Vec<Instance> = Vec::new();
    match kind {
        Kind::Session(gap) => {
            let mut keys: Vec<Option<i64>> = live.iter().map(|(i, _)| recs[*i].k).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let mut mine: Vec<usize> = live
                    .iter()
                    .map(|(i, _)| *i)
                    .filter(|i| recs[*i].k == k)
                    .collect();
                mine.sort_by_key(|i| (recs[*i].time(), *i));
                let mut cur: Option<Instance> = None;
                for i in mine {
                    let ts = recs[i].time();
                    match &mut cur {
                        Some(c) if ts - (c.end - gap) < gap => {
                            c.end = ts + gap;
                            c.members.push(i);
                        }
                        _ => {
                            out.extend(cur.take());
                            cur = Some(Instance {
                                k,
                                start: ts,
                                end: ts + gap,
                                members: vec![i],
                            });
                        }
                    }
                }
                out.extend(cur);
            }
        }
        _ => {
            for &(i, (start, end)) in live {
                let k = recs[i].k;
                match out
                    .iter_mut()
                    .find(|x| x.k == k && x.start == start && x.end == end)
                {
                    Some(x) => x.members.push(i),
                    None => out.push(Instance {
                        k,
                        start,
                        end,
                        members: vec![i],
                    }),
                }
            }
        }
    }
    out
}

fn reference(case: &Case) -> Outcome {
    let recs: Vec<Rec> = case.batches.iter().flatten().copied().collect();
    let keep = |x: &Instance| !case.having || x.members.len() > 1;
    let mut o = Outcome::new();
    let mut live: Vec<(usize, (i64, i64))> = Vec::new();
    let mut watermark: Option<i64> = None;
    let mut max_seen: Option<i64> = None;
    let mut idx = 0;
    let close = |live: &mut Vec<(usize, (i64, i64))>, wm: Option<i64>, o: &mut Outcome| {
        let mut closing: Vec<Instance> = instances(case.kind, &recs, live)
            .into_iter()
            .filter(|x| wm.is_none_or(|w| x.end <= w))
            .collect();
        closing.sort_by_key(|x| (x.start, x.first()));
        for x in &closing {
            if !case.changes && keep(x) {
                o.rows.push(x.row(&recs));
            }
            live.retain(|(i, w)| {
                let same_window = match case.kind {
                    Kind::Session(_) => true,
                    _ => *w == (x.start, x.end),
                };
                !(same_window && x.members.contains(i))
            });
        }
    };
    for batch in &case.batches {
        for r in batch {
            let i = idx;
            idx += 1;
            let Some(ts) = r.ts else {
                // No event time: the record fails, before any lateness check.
                o.failed.push(r.values().to_vec());
                continue;
            };
            max_seen = Some(max_seen.map_or(ts, |m: i64| m.max(ts)));
            if watermark.is_some_and(|w| ts < w) {
                o.late += 1;
                match case.late {
                    Late::Drop => {
                        o.dropped += 1;
                        continue;
                    }
                    Late::Dead => {
                        o.dead.push(r.values().to_vec());
                        continue;
                    }
                    Late::Warn => o.warned += 1,
                    Late::All => {}
                }
            }
            let mut touched: Vec<(i64, i64)> = Vec::new();
            match case.kind {
                Kind::Session(_) => live.push((i, (0, 0))),
                _ => {
                    for w in windows_of(case.kind, ts) {
                        live.push((i, w));
                        touched.push(w);
                    }
                }
            }
            if case.changes {
                let all = instances(case.kind, &recs, &live);
                let mut mine: Vec<&Instance> = all
                    .iter()
                    .filter(|x| {
                        x.members.contains(&i)
                            && (matches!(case.kind, Kind::Session(_))
                                || touched.contains(&(x.start, x.end)))
                    })
                    .collect();
                mine.sort_by_key(|x| x.start);
                for x in mine {
                    if keep(x) {
                        o.rows.push(x.row(&recs));
                    }
                }
            }
        }
        // As the server: a watermark follows the batch only when it rises; only
        // then do windows close (a window re-opened by a late record included).
        if let Some(m) = max_seen {
            let wm = m - case.max_out_of_orderness;
            if watermark.is_none_or(|w| wm > w) {
                watermark = Some(wm);
                close(&mut live, watermark, &mut o);
            }
        }
    }
    close(&mut live, None, &mut o);
    o
}

/// How the engine is handed watermarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drive {
    /// As the server: after a batch, only when the watermark rises.
    WhenItRises,
    /// After every batch once there is one, repeated or not.
    EveryBatch,
}

fn engine(case: &Case) -> Outcome {
    engine_driven(case, Drive::WhenItRises)
}

fn engine_driven(case: &Case, drive: Drive) -> Outcome {
    let (sql, props) = case.sql();
    let schema = kts_schema();
    let mut q = QueryExecutor::new(&plan(&sql, &props), schema.clone()).unwrap();
    let mut o = Outcome::new();
    let mut max_seen: Option<i64> = None;
    let mut sent: Option<i64> = None;
    let drain = |q: &mut QueryExecutor, o: &mut Outcome| {
        if let Some(d) = q.take_dead_letters() {
            assert_eq!(d.schema().field(3).name.as_ref(), LATE_REASON_COLUMN);
            for r in d.rows() {
                assert!(matches!(&r[3], Value::Str(s) if s.contains("late")));
                o.dead.push(r[..3].to_vec());
            }
        }
        o.warned += q.take_late_warnings().len() as u64;
        for f in q.take_failures() {
            let e = f.error.to_string();
            assert!(e.contains("NULL") && e.contains("'ts'"), "{e}");
            o.failed.push(f.values);
        }
    };
    for recs in &case.batches {
        let b = batch_of(&schema, recs);
        let et = q.event_time().unwrap().max_event_time(&b);
        o.rows.extend(rows(q.process(&b).unwrap()));
        drain(&mut q, &mut o);
        if let Some(m) = et {
            max_seen = Some(max_seen.map_or(m, |x: i64| x.max(m)));
        }
        if let Some(m) = max_seen {
            let wm = m - case.max_out_of_orderness;
            if drive == Drive::EveryBatch || sent.is_none_or(|s| wm > s) {
                sent = Some(sent.map_or(wm, |s| s.max(wm)));
                o.rows.extend(rows(q.on_watermark(Watermark(wm)).unwrap()));
            }
        }
    }
    assert_eq!(q.stats().watermark, sent);
    o.rows.extend(rows(q.finish().unwrap()));
    drain(&mut q, &mut o);
    let s = q.stats();
    assert_eq!((s.groups, s.windows_open), (0, 0), "finish frees all state");
    assert_eq!(
        s.rows_in,
        s.contributed + s.filtered + s.late_dropped + s.late_dead_lettered + s.failed
    );
    assert_eq!(s.late_dead_lettered, o.dead.len() as u64);
    assert_eq!(s.failed, o.failed.len() as u64);
    o.late = s.late;
    o.dropped = s.late_dropped;
    o
}

fn arb_case() -> impl Strategy<Value = Case> {
    let kind = prop_oneof![
        (1i64..20).prop_map(Kind::Tumbling),
        (1i64..20)
            .prop_flat_map(|s| (Just(s), 1..=s))
            .prop_map(|(s, a)| Kind::Sliding(s, a)),
        (1i64..15).prop_map(Kind::Session),
    ];
    let late = prop_oneof![
        Just(Late::Drop),
        Just(Late::Warn),
        Just(Late::All),
        Just(Late::Dead)
    ];
    // Records: time advances by a random step with jitter; now and then a record
    // is far behind (late). Keys and values are sometimes NULL (a NULL key is a
    // group of its own), and now and then the event time is (the record fails).
    let recs = prop::collection::vec(
        (
            prop::option::weighted(0.9, 0i64..3),
            0i64..6,
            -4i64..5,
            prop::bool::weighted(0.1),
            prop::option::weighted(0.85, -5i64..6),
            prop::bool::weighted(0.05),
        ),
        0..50,
    )
    .prop_map(|raw| {
        let mut t = -40i64;
        raw.into_iter()
            .map(|(k, step, jitter, behind, v, no_time)| {
                t += step;
                let ts = if behind { t - 25 + jitter } else { t + jitter };
                Rec {
                    k,
                    ts: (!no_time).then_some(ts),
                    v,
                }
            })
            .collect::<Vec<_>>()
    });
    let cuts = prop::collection::vec(1usize..8, 0..50);
    (
        kind,
        any::<bool>(),
        prop::bool::weighted(0.2),
        late,
        0i64..10,
        recs,
        cuts,
    )
        .prop_map(|(kind, changes, having, late, ooo, recs, cuts)| {
            let mut batches = Vec::new();
            let mut rest = recs.as_slice();
            for c in cuts {
                if rest.is_empty() {
                    break;
                }
                let (a, b) = rest.split_at(c.min(rest.len()));
                batches.push(a.to_vec());
                rest = b;
            }
            if !rest.is_empty() {
                batches.push(rest.to_vec());
            }
            Case {
                kind,
                changes,
                having,
                late,
                max_out_of_orderness: ooo,
                batches,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_reference(case in arb_case()) {
        let expect = reference(&case);
        let got = engine(&case);
        prop_assert_eq!(&got, &expect);
        // A watermark that does not rise changes nothing.
        prop_assert_eq!(engine_driven(&case, Drive::EveryBatch), got);
    }
}

fn rec(k: i64, ts: i64, v: i64) -> Rec {
    Rec {
        k: Some(k),
        ts: Some(ts),
        v: Some(v),
    }
}

fn case(kind: Kind, changes: bool, late: Late, batches: Vec<Vec<Rec>>) -> Case {
    Case {
        kind,
        changes,
        having: false,
        late,
        max_out_of_orderness: 0,
        batches,
    }
}

#[test]
fn reference_cases_by_hand() {
    // Empty input: no windows, no rows.
    for kind in [Kind::Tumbling(5), Kind::Sliding(4, 2), Kind::Session(3)] {
        for changes in [false, true] {
            let c = case(kind, changes, Late::Drop, vec![]);
            assert_eq!(engine(&c), reference(&c));
            assert!(engine(&c).rows.is_empty());
        }
    }
    // A single record: one window per kind (two for a sliding window of 4 by 2).
    let single = |kind| case(kind, false, Late::Drop, vec![vec![rec(1, 7, 3)]]);
    assert_eq!(engine(&single(Kind::Tumbling(5))).rows.len(), 1);
    assert_eq!(engine(&single(Kind::Sliding(4, 2))).rows.len(), 2);
    let s = engine(&single(Kind::Session(3)));
    assert_eq!(
        s.rows,
        vec![vec![
            Value::Int(1),
            Value::Timestamp(7),
            Value::Timestamp(10),
            Value::Int(1),
            Value::Int(3),
            Value::Int(3),
            Value::Int(3)
        ]]
    );
}

#[test]
fn session_merge_of_two_sessions() {
    // Sessions [0, 5) and [8, 13) with a gap of 5; a record at 4 joins the first,
    // then one at 6 is within 5 of both (last 4, start 8) and merges them.
    let c = case(
        Kind::Session(5),
        true,
        Late::Drop,
        vec![vec![rec(1, 0, 1), rec(1, 8, 2), rec(1, 4, 3), rec(1, 6, 4)]],
    );
    let got = engine(&c);
    assert_eq!(got, reference(&c));
    let last = got.rows.last().unwrap();
    assert_eq!(
        last,
        &vec![
            Value::Int(1),
            Value::Timestamp(0),
            Value::Timestamp(13),
            Value::Int(4),
            Value::Int(10),
            Value::Int(1),
            Value::Int(4)
        ]
    );
    // Records exactly `gap` apart are two sessions.
    let c = case(
        Kind::Session(5),
        false,
        Late::Drop,
        vec![vec![rec(1, 0, 1), rec(1, 5, 2)]],
    );
    assert_eq!(engine(&c).rows.len(), 2);
}

// ---------------------------------------------------------------------------
// Bounded state, ordering, late data, event time.
// ---------------------------------------------------------------------------

#[test]
fn state_stays_flat_over_a_long_stream() {
    let schema = kts_schema();
    let p = plan(
        "SELECT k, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '100' MILLISECOND)",
        "",
    );
    let mut q = QueryExecutor::new(&p, schema.clone()).unwrap();
    let mut emitted = 0u64;
    let mut max_groups = 0;
    let mut max_windows = 0;
    const N: i64 = 200_000;
    let mut pairs = std::collections::HashSet::new();
    let mut starts = std::collections::HashSet::new();
    for chunk in 0..N / 1000 {
        let recs: Vec<Rec> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| rec(i % 7, i * 2 + (i % 5), i % 11))
            .collect();
        for r in &recs {
            pairs.insert((r.k, r.time().div_euclid(100)));
            starts.insert(r.time().div_euclid(100));
        }
        let b = batch_of(&schema, &recs);
        emitted += rows(q.process(&b).unwrap()).len() as u64;
        let wm = q.event_time().unwrap().max_event_time(&b).unwrap() - 10;
        emitted += rows(q.on_watermark(Watermark(wm)).unwrap()).len() as u64;
        let s = q.stats();
        max_groups = max_groups.max(s.groups);
        max_windows = max_windows.max(s.windows_open);
    }
    // 1000 records span 2000 ms = 20 windows; what stays open past the watermark
    // is one or two windows of 7 keys.
    assert!(max_windows <= 2, "windows open: {max_windows}");
    assert!(max_groups <= 14, "groups: {max_groups}");
    emitted += rows(q.finish().unwrap()).len() as u64;
    let s = q.stats();
    assert_eq!(s.windows_emitted, starts.len() as u64);
    assert_eq!(emitted, pairs.len() as u64);
    assert!(starts.len() > 4000);
    assert_eq!((s.groups, s.windows_open, s.late), (0, 0, 0));
}

#[test]
fn final_rows_are_ordered_by_window_start_then_first_appearance() {
    let schema = kts_schema();
    let p = plan(
        "SELECT k, _window_start AS ws, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND)",
        "",
    );
    let mut q = QueryExecutor::new(&p, schema.clone()).unwrap();
    let b = batch_of(
        &schema,
        &[
            rec(3, 15, 0),
            rec(2, 5, 0),
            rec(1, 12, 0),
            rec(3, 1, 0),
            rec(2, 11, 0),
        ],
    );
    assert!(q.process(&b).unwrap().is_none());
    // 9 closes nothing ([0, 10) ends at 10); 20 closes both.
    assert!(q.on_watermark(Watermark(9)).unwrap().is_none());
    assert_eq!(q.stats().windows_open, 2);
    let out = rows(q.on_watermark(Watermark(20)).unwrap());
    let got: Vec<(i64, i64)> = out
        .iter()
        .map(|r| match (&r[0], &r[1]) {
            (Value::Int(k), Value::Timestamp(ws)) => (*k, *ws),
            _ => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(got, vec![(2, 0), (3, 0), (3, 10), (1, 10), (2, 10)]);
    // A lower watermark is ignored.
    assert!(q.on_watermark(Watermark(5)).unwrap().is_none());
    assert_eq!(q.stats().watermark, Some(20));
    assert_eq!(q.stats().windows_emitted, 2);
}

#[test]
fn late_data_strategies_count_and_route_rows() {
    let schema = kts_schema();
    let sql = "SELECT k, _window_start, SUM(v) AS s FROM t WHERE v >= 0 GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND)";
    let first = batch_of(&schema, &[rec(1, 25, 1)]);
    // 5 is late (and its window [0, 10) long closed); 22 and 30 are on time;
    // -1 is filtered by WHERE before any lateness check.
    let second = batch_of(
        &schema,
        &[
            rec(1, 5, 10),
            rec(1, 22, 100),
            rec(1, 30, 1000),
            rec(1, 1, -1),
        ],
    );
    let run = |props: &str| {
        let mut q = QueryExecutor::new(&plan(sql, props), schema.clone()).unwrap();
        assert!(q.process(&first).unwrap().is_none());
        assert!(q.on_watermark(Watermark(20)).unwrap().is_none());
        assert!(q.process(&second).unwrap().is_none());
        let mut out = rows(q.on_watermark(Watermark(30)).unwrap());
        out.extend(rows(q.finish().unwrap()));
        (q, out)
    };
    let row = |ws: i64, s: i64| vec![Value::Int(1), Value::Timestamp(ws), Value::Int(s)];

    let (mut q, out) = run("");
    assert_eq!(out, vec![row(20, 101), row(30, 1000)]);
    let s = q.stats();
    assert_eq!((s.late, s.late_dropped, s.filtered, s.failed), (1, 1, 1, 0));
    assert_eq!(s.rows_in, s.contributed + s.filtered + s.late_dropped);
    assert!(q.take_dead_letters().is_none());

    // Processed late: [0, 10) re-opens and fires late, ordered by its start.
    let (mut q, out) = run(", 'late.data.strategy' = 'process_all'");
    assert_eq!(out, vec![row(0, 10), row(20, 101), row(30, 1000)]);
    assert_eq!((q.stats().late, q.stats().late_dropped), (1, 0));
    assert!(q.take_late_warnings().is_empty());

    let (mut q, out) = run(", 'late.data.strategy' = 'process_with_warning'");
    assert_eq!(out, vec![row(0, 10), row(20, 101), row(30, 1000)]);
    let w = q.take_late_warnings();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].row, w[0].event_time, w[0].watermark), (0, 5, 20));
    assert!(w[0].to_string().contains("15 ms behind"), "{}", w[0]);

    let (mut q, out) = run(
        ", 'late.data.strategy' = 'dead_letter', 'late.data.dead_letter' = 'dl', 'dl.type' = 'stdout_sink'",
    );
    assert_eq!(out, vec![row(20, 101), row(30, 1000)]);
    let dead = q.take_dead_letters().unwrap();
    assert_eq!(
        dead.schema().names().collect::<Vec<_>>(),
        ["k", "ts", "v", "_late_reason"]
    );
    assert_eq!(dead.num_rows(), 1);
    assert_eq!(
        &dead.row(0)[..3],
        &[Value::Int(1), Value::Int(5), Value::Int(10)]
    );
    assert!(q.take_dead_letters().is_none());
    let s = q.stats();
    assert_eq!((s.late, s.late_dead_lettered, s.late_dropped), (1, 1, 0));
    assert_eq!(s.rows_in, s.contributed + s.filtered + s.late_dead_lettered);
}

#[test]
fn a_watermark_that_does_not_rise_closes_nothing() {
    let schema = kts_schema();
    let sql = "SELECT k, _window_start, SUM(v) AS s FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND)";
    let props = ", 'late.data.strategy' = 'process_all'";
    let mut q = QueryExecutor::new(&plan(sql, props), schema.clone()).unwrap();
    let row = |ws: i64, s: i64| vec![Value::Int(1), Value::Timestamp(ws), Value::Int(s)];
    assert!(q
        .process(&batch_of(&schema, &[rec(1, 5, 1), rec(1, 25, 2)]))
        .unwrap()
        .is_none());
    assert_eq!(
        rows(q.on_watermark(Watermark(20)).unwrap()),
        vec![row(0, 1)]
    );
    // 7 is late and processed: [0, 10) re-opens.
    assert!(q
        .process(&batch_of(&schema, &[rec(1, 7, 10)]))
        .unwrap()
        .is_none());
    assert_eq!((q.stats().late, q.stats().windows_open), (1, 2));
    // The same watermark again, or a lower one, fires nothing.
    assert!(q.on_watermark(Watermark(20)).unwrap().is_none());
    assert!(q.on_watermark(Watermark(15)).unwrap().is_none());
    assert_eq!(q.stats().watermark, Some(20));
    assert_eq!(q.stats().windows_open, 2);
    // The next higher one fires the re-opened window, once.
    assert_eq!(
        rows(q.on_watermark(Watermark(21)).unwrap()),
        vec![row(0, 10)]
    );
    assert!(q.on_watermark(Watermark(21)).unwrap().is_none());
    assert_eq!(rows(q.finish().unwrap()), vec![row(20, 2)]);
}

#[test]
fn emit_changes_emits_per_record_and_frees_at_close() {
    let schema = kts_schema();
    let p = plan(
        "SELECT k, _window_end AS we, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND) HAVING COUNT(*) <> 2 EMIT CHANGES",
        "",
    );
    let mut q = QueryExecutor::new(&p, schema.clone()).unwrap();
    let b = batch_of(
        &schema,
        &[rec(1, 1, 0), rec(1, 2, 0), rec(1, 3, 0), rec(2, 11, 0)],
    );
    let out = rows(q.process(&b).unwrap());
    let n = |r: &Vec<Value>| (r[1].clone(), r[2].clone());
    assert_eq!(
        out.iter().map(n).collect::<Vec<_>>(),
        vec![
            (Value::Timestamp(10), Value::Int(1)),
            (Value::Timestamp(10), Value::Int(3)),
            (Value::Timestamp(20), Value::Int(1))
        ]
    );
    assert_eq!(q.stats().groups, 2);
    assert!(q.on_watermark(Watermark(10)).unwrap().is_none());
    assert_eq!(q.stats().groups, 1);
    assert!(q.finish().unwrap().is_none());
    assert_eq!(q.stats().groups, 0);
}

#[test]
fn event_time_formats_and_failures() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::String),
        Field::new("at", DataType::String),
        Field::new("secs", DataType::Int),
        Field::new("stamp", DataType::Timestamp),
    ]));
    let row = |at: Value, secs: i64| {
        vec![
            Value::str("a"),
            at,
            Value::Int(secs),
            Value::Timestamp(1_705_312_800_123),
        ]
    };
    let sql = "SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(1m)";
    let et = |props: &str| {
        EventTime::new(&plan(sql, props), &schema)
            .unwrap()
            .expect("configured")
    };
    let iso = et(", 'event.time.field' = 'at'");
    assert_eq!(
        iso.extract(&row(Value::str("2024-01-15T10:00:00Z"), 0)),
        Ok(1_705_312_800_000)
    );
    assert_eq!(
        iso.extract(&row(Value::str("2024-01-15 10:00:00.5"), 0)),
        Ok(1_705_312_800_500)
    );
    let e = iso
        .extract(&row(Value::str("yesterday"), 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("'yesterday'") && e.contains("ISO-8601"), "{e}");
    let e = iso.extract(&row(Value::Null, 0)).unwrap_err().to_string();
    assert!(e.contains("NULL") && e.contains("'at'"), "{e}");

    let secs = et(", 'event.time.field' = 'secs', 'event.time.format' = 'epoch_seconds'");
    assert_eq!(
        secs.extract(&row(Value::Null, 1_705_312_800)),
        Ok(1_705_312_800_000)
    );
    assert!(secs.extract(&row(Value::Null, i64::MAX)).is_err());
    let millis = et(", 'event.time.field' = 'secs'");
    assert_eq!(millis.extract(&row(Value::Null, 42)), Ok(42));
    let stamp = et(", 'event.time.field' = 'stamp'");
    assert_eq!(stamp.extract(&row(Value::Null, 0)), Ok(1_705_312_800_123));
    assert_eq!(stamp.column(), "stamp");

    // max_event_time skips rows that fail.
    let b = Batch::new(
        schema.clone(),
        [
            row(Value::str("2024-01-15T10:00:00Z"), 0),
            row(Value::str("nope"), 0),
            row(Value::str("2024-01-15T10:00:09Z"), 0),
            row(Value::Null, 0),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(iso.max_event_time(&b), Some(1_705_312_809_000));

    // In a query, a row without a usable event time fails with the reason.
    let mut q =
        QueryExecutor::new(&plan(sql, ", 'event.time.field' = 'at'"), schema.clone()).unwrap();
    assert!(q.process(&b).unwrap().is_none());
    let f = q.take_failures();
    assert_eq!(f.iter().map(|f| f.row).collect::<Vec<_>>(), vec![1, 3]);
    let s = q.stats();
    assert_eq!((s.failed, s.contributed, s.groups), (2, 2, 1));
    let out = rows(q.finish().unwrap());
    assert_eq!(out, vec![vec![Value::str("a"), Value::Int(2)]]);

    // Unknown column, and no event time at all for a query without a window.
    let err = QueryExecutor::new(&plan(sql, ", 'event.time.field' = 'nope'"), schema.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("'nope'"), "{err}");
    let p = plan("SELECT k FROM t", "");
    assert!(EventTime::new(&p, &schema).unwrap().is_none());
}

#[test]
fn watermarks_are_ignored_without_a_window() {
    let schema = kts_schema();
    let mut q = QueryExecutor::new(
        &plan("SELECT k, COUNT(*) AS n FROM t GROUP BY k EMIT FINAL", ""),
        schema.clone(),
    )
    .unwrap();
    q.process(&batch_of(&schema, &[rec(1, 5, 0), rec(1, 1, 0)]))
        .unwrap();
    assert!(q.on_watermark(Watermark(100)).unwrap().is_none());
    q.process(&batch_of(&schema, &[rec(1, 2, 0)])).unwrap();
    assert_eq!(q.stats().late, 0);
    assert_eq!(
        rows(q.finish().unwrap()),
        vec![vec![Value::Int(1), Value::Int(3)]]
    );
}

#[test]
fn sliding_and_session_window_columns() {
    let schema = kts_schema();
    let p = plan(
        "SELECT _window_start AS s, _window_end AS e, COUNT(*) AS n FROM t GROUP BY k WINDOW SLIDING(ts, INTERVAL '10' MILLISECOND, INTERVAL '5' MILLISECOND)",
        "",
    );
    let mut q = QueryExecutor::new(&p, schema.clone()).unwrap();
    q.process(&batch_of(&schema, &[rec(1, 7, 0), rec(1, -3, 0)]))
        .unwrap();
    let out = rows(q.finish().unwrap());
    let ts = |r: &Vec<Value>| match (&r[0], &r[1], &r[2]) {
        (Value::Timestamp(s), Value::Timestamp(e), Value::Int(n)) => (*s, *e, *n),
        _ => panic!(),
    };
    assert_eq!(
        out.iter().map(ts).collect::<Vec<_>>(),
        vec![(-10, 0, 1), (-5, 5, 1), (0, 10, 1), (5, 15, 1)]
    );
    assert_eq!(q.output_schema().field(0).data_type, DataType::Timestamp);
}
