//! The Nexmark queries of `velo-bench/nexmark/` through the real binary, on a
//! small event count:
//! - every query gives the same multiset of rows on V1 and on V2 with 2 and 3
//!   partitions and 1 to 3 generating threads (`--readers`), and the number of rows and a digest of them that
//!   `velo-bench/nexmark/expected.txt` records (`VELO_BLESS=1` rewrites it);
//! - for q0, q1, q2 and q3 the expected rows are computed here, from the
//!   `nexmark` crate's events, without Velo.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nexmark::config::NexmarkConfig;
use nexmark::event::Event;
use nexmark::EventGenerator;
use serde_json::{json, Value};

/// Events of all kinds each test run generates.
const EVENTS: u64 = 3_000;
/// The events count the shipped apps are written with.
const SHIPPED_EVENTS: &str = "'1000000'";
const BASE_TIME: u64 = 1_704_067_200_000;

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../velo-bench/nexmark")
}

/// Every `qN.sql`, in query order.
fn queries() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(queries_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".sql").map(str::to_string)
        })
        .collect();
    names.sort_by_key(|n| n[1..].parse::<u32>().unwrap_or(u32::MAX));
    names
}

/// Runs query `q` over `EVENTS` events with `args`; its output lines, sorted.
fn run(q: &str, args: &[&str]) -> Vec<String> {
    run_over(q, EVENTS, args)
}

/// Runs query `q` over `events` events with `args`; its output lines, sorted.
fn run_over(q: &str, events: u64, args: &[&str]) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let app = fs::read_to_string(queries_dir().join(format!("{q}.sql"))).unwrap();
    assert!(app.contains(SHIPPED_EVENTS), "{q}.sql sets its event count");
    let app = app.replace(SHIPPED_EVENTS, &format!("'{events}'"));
    fs::write(tmp.path().join("app.sql"), app).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_velo-server"))
        .arg("run")
        .arg("app.sql")
        .args(args)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{q} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(tmp.path().join(format!("output/{q}.jsonl"))).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// FNV-1a over the sorted lines: a digest that does not depend on order.
fn digest(lines: &[String]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for l in lines {
        for b in l.bytes().chain(std::iter::once(b'\n')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[test]
fn every_query_agrees_on_v1_and_v2_and_matches_its_recorded_digest() {
    let mut recorded = String::new();
    for q in queries() {
        let v1 = run(&q, &["--processor", "v1", "--readers", "1"]);
        // Generating threads hand their chunks over in order: the rows are
        // the same with any number.
        for (n, readers) in [("2", "1"), ("2", "2"), ("3", "3")] {
            let v2 = run(
                &q,
                &["--processor", "v2", "--partitions", n, "--readers", readers],
            );
            assert!(
                v1 == v2,
                "{q}: V2@{n} with {readers} reader(s) differs from V1"
            );
        }
        assert!(!v1.is_empty(), "{q} gives rows over {EVENTS} events");
        recorded.push_str(&format!("{q} {EVENTS} {} {}\n", v1.len(), digest(&v1)));
    }
    let path = queries_dir().join("expected.txt");
    if std::env::var_os("VELO_BLESS").is_some() {
        fs::write(&path, &recorded).unwrap();
    }
    assert_eq!(fs::read_to_string(&path).unwrap(), recorded);
}

/// The crate's first `EVENTS` events, as the apps' sources see them.
fn events() -> Vec<Event> {
    events_of(EVENTS)
}

fn events_of(n: u64) -> Vec<Event> {
    let cfg = NexmarkConfig {
        base_time: BASE_TIME,
        ..NexmarkConfig::default()
    };
    EventGenerator::new(cfg).take(n as usize).collect()
}

fn rfc3339(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let t = chrono_like(secs);
    format!("{t}.{:03}Z", ms % 1000)
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the epoch (days from the civil
/// calendar algorithm, so the test needs no date crate).
fn chrono_like(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn sorted(rows: Vec<Value>) -> Vec<String> {
    let mut lines: Vec<String> = rows.iter().map(|v| v.to_string()).collect();
    lines.sort();
    lines
}

/// The binary's rows, re-rendered by serde_json like the expected ones.
fn parsed(lines: &[String]) -> Vec<String> {
    let rows = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    sorted(rows)
}

#[test]
fn q0_to_q3_give_the_rows_computed_from_the_generators_events() {
    let events = events();
    let bids: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(rfc3339(BASE_TIME), "2024-01-01T00:00:00.000Z");

    let q0 = bids
        .iter()
        .map(|b| {
            json!({"auction": b.auction, "bidder": b.bidder, "price": b.price,
                   "date_time": rfc3339(b.date_time), "extra": b.extra})
        })
        .collect();
    assert_eq!(parsed(&run("q0", &["--processor", "v1"])), sorted(q0));

    let q1 = bids
        .iter()
        .map(|b| {
            json!({"auction": b.auction, "bidder": b.bidder, "price": 0.908 * b.price as f64,
                   "date_time": rfc3339(b.date_time), "extra": b.extra})
        })
        .collect();
    assert_eq!(
        parsed(&run("q1", &["--processor", "v2", "--partitions", "2"])),
        sorted(q1)
    );

    let q2 = bids
        .iter()
        .filter(|b| b.auction % 123 == 0)
        .map(|b| json!({"auction": b.auction, "price": b.price}))
        .collect::<Vec<_>>();
    assert!(!q2.is_empty());
    assert_eq!(parsed(&run("q2", &["--processor", "v1"])), sorted(q2));

    // q3: every pair of an auction in category 10 and its seller in OR, ID
    // or CA, whichever came first.
    let mut people = HashMap::new();
    for e in &events {
        if let Event::Person(p) = e {
            people.insert(p.id, p);
        }
    }
    let q3 = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) if a.category == 10 => people.get(&a.seller).map(|p| (a, p)),
            _ => None,
        })
        .filter(|(_, p)| matches!(p.state.as_str(), "or" | "id" | "ca"))
        .map(|(a, p)| json!({"name": p.name, "city": p.city, "state": p.state, "id": a.id}))
        .collect::<Vec<_>>();
    assert!(!q3.is_empty());
    assert_eq!(
        parsed(&run("q3", &["--processor", "v2", "--partitions", "3"])),
        sorted(q3)
    );
}

/// Events for the windowed joins: 25 s of event time, so three 10-second
/// windows (the last one partly filled).
const WINDOWED_EVENTS: u64 = 250_000;

#[test]
fn q5_q7_and_q8_give_the_rows_computed_from_the_generators_events() {
    let events = events_of(WINDOWED_EVENTS);
    let bids: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        })
        .collect();
    let (size, slide) = (10_000u64, 2_000u64);

    // q5: per HOP window (10 s every 2 s), the auctions with the most bids.
    let mut counts: HashMap<(u64, usize), u64> = HashMap::new();
    for b in &bids {
        let last = b.date_time / slide * slide;
        let mut start = last as i64;
        while start > b.date_time as i64 - size as i64 {
            *counts.entry((start as u64, b.auction)).or_default() += 1;
            start -= slide as i64;
        }
    }
    let mut max: HashMap<u64, u64> = HashMap::new();
    for (&(w, _), &n) in &counts {
        let m = max.entry(w).or_default();
        *m = (*m).max(n);
    }
    let q5 = counts
        .iter()
        .filter(|(&(w, _), &n)| n >= max[&w])
        .map(|(&(_, auction), &n)| json!({"auction": auction, "num": n}))
        .collect::<Vec<_>>();
    assert!(q5.len() >= 10, "q5 has rows for many windows");
    assert_eq!(
        parsed(&run_over(
            "q5",
            WINDOWED_EVENTS,
            &["--processor", "v2", "--partitions", "2"]
        )),
        sorted(q5)
    );

    // q7: the bids at the highest price of a 10 s window, within the 10 s up
    // to and including its end.
    let mut top: HashMap<u64, usize> = HashMap::new();
    for b in &bids {
        let end = b.date_time / size * size + size;
        let m = top.entry(end).or_default();
        *m = (*m).max(b.price);
    }
    let q7 = bids
        .iter()
        .filter(|b| {
            top.iter().any(|(&end, &price)| {
                b.price == price && b.date_time + size >= end && b.date_time <= end
            })
        })
        .map(|b| {
            json!({"auction": b.auction, "bidder": b.bidder, "price": b.price,
                   "date_time": rfc3339(b.date_time), "extra": b.extra})
        })
        .collect::<Vec<_>>();
    assert_eq!(top.len(), 3);
    assert_eq!(
        parsed(&run_over("q7", WINDOWED_EVENTS, &["--processor", "v1"])),
        sorted(q7)
    );

    // q8: the people who created an auction in the 10 s window they entered.
    let window = |t: u64| t / size * size;
    let mut sellers: HashMap<(usize, u64), ()> = HashMap::new();
    for e in &events {
        if let Event::Auction(a) = e {
            sellers.insert((a.seller, window(a.date_time)), ());
        }
    }
    let mut people: HashMap<(usize, String, u64), ()> = HashMap::new();
    for e in &events {
        if let Event::Person(p) = e {
            people.insert((p.id, p.name.clone(), window(p.date_time)), ());
        }
    }
    let q8 = people
        .keys()
        .filter(|(id, _, w)| sellers.contains_key(&(*id, *w)))
        .map(|(id, name, w)| json!({"id": id, "name": name, "starttime": rfc3339(*w)}))
        .collect::<Vec<_>>();
    assert!(!q8.is_empty());
    assert_eq!(
        parsed(&run_over(
            "q8",
            WINDOWED_EVENTS,
            &["--processor", "v2", "--partitions", "3"]
        )),
        sorted(q8)
    );
}
