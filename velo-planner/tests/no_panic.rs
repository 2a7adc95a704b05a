//! No input makes `plan_sql` panic, nor the rendering of its errors: valid apps
//! (written here to reach deep into planning, plus velo-ast's parse corpus)
//! truncated and mutated token by token, their WITH properties given odd
//! values, and token soups.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use velo_planner::{plan_sql, PlanOptions};

/// Valid apps that plan without error, covering the query shapes and WITH keys.
const APPS: &[&str] = &[
    "SELECT id, qty * 2 AS double_qty FROM orders WHERE qty > 1 \
     WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'orders.format' = 'csv', 'orders.delimiter' = ';')",
    "CREATE STREAM out AS SELECT customer, COUNT(*) AS n, SUM(qty) AS total FROM orders GROUP BY customer EMIT CHANGES \
     WITH ('orders.type' = 'file_source', 'orders.path' = 'in.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl', 'max.memory.mb' = '64')",
    "SELECT sensor, AVG(value) AS avg_value, _window_start AS ws FROM readings GROUP BY sensor WINDOW TUMBLING(ts, INTERVAL '10' SECOND) \
     WITH ('readings.type' = 'stdin_source', 'event.time.field' = 'ts', 'event.time.format' = 'epoch_millis', \
     'watermark.strategy' = 'bounded_out_of_orderness', 'watermark.max_out_of_orderness' = '5s', \
     'late.data.strategy' = 'dead_letter', 'late.data.dead_letter' = 'late', 'late.type' = 'stdout_sink')",
    "SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW SLIDING(ts, 10m, 2m) HAVING COUNT(*) > 2 EMIT FINAL \
     WITH ('t.type' = 'generator_source', 't.profile' = 'orders', 't.records' = '1_000', 'partitioning_strategy' = 'always_hash')",
    "SELECT user_id, COUNT(*) AS clicks, MIN(ts) AS first_ts FROM clicks GROUP BY user_id WINDOW SESSION(ts, 30s) \
     WITH ('clicks.type' = 'file_source', 'clicks.path' = 'c.jsonl', 'clicks.format' = 'jsonl', 'late.data.strategy' = 'process_with_warning')",
    "SELECT device, SUM(bytes) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY device ORDER BY ts EXPIRE AFTER INTERVAL '5' MINUTE INACTIVITY) AS recent \
     FROM flows WITH ('flows.type' = 'stdin_source', 'flows.format' = 'csv_no_header', 'flows.schema' = 'device VARCHAR, bytes BIGINT, ts TIMESTAMP')",
    "SELECT symbol, LAG(price) OVER (PARTITION BY symbol ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS prev, \
     LEAD(price, 2, 0) OVER (PARTITION BY symbol ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS next, \
     ROW_NUMBER() OVER (PARTITION BY symbol ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS rn FROM trades \
     WITH ('trades.type' = 'file_source', 'trades.path' = 't.csv', 'trades.partition.key' = 'symbol')",
    "SELECT id, CAST(amount AS DECIMAL(10, 2)) AS amt, UPPER(name) AS name FROM orders ORDER BY amt DESC LIMIT 10 \
     WITH ('orders.type' = 'file_source', 'orders.path' = 'o.csv', 'failure_strategy' = 'send_to_dlq', 'dlq.sink' = 'dlq', 'dlq.type' = 'file_sink', 'dlq.path' = 'dlq.jsonl')",
    "INSERT INTO sink SELECT a, b FROM src WHERE a BETWEEN 1 AND 10 AND b LIKE 'x%' \
     WITH ('src.type' = 'stdin_source', 'sink.type' = 'stdout_sink', 'sink.format' = 'csv', 'failure_strategy' = 'fail_batch')",
    "SELECT COUNT(DISTINCT user_id) AS users, STDDEV_SAMP(price) AS sd FROM t WITH ('t.type' = 'stdin_source', 'failure_strategy' = 'retry_with_backoff');\n\
     SELECT k, MAX(v) AS m FROM t GROUP BY k WINDOW TUMBLING(ts, 500ms) WITH ('watermark.strategy' = 'ascending', 'partitioning_strategy' = 'fan_in')",
    "CREATE TABLE totals AS SELECT region, SUM(amount) AS total FROM sales GROUP BY region \
     WITH ('sales.type' = 'file_source', 'sales.path' = 's.csv', 'totals.type' = 'file_sink', 'totals.path' = 'totals.csv', 'totals.format' = 'csv', \
     'partitioning_strategy' = 'smart_repartition', 'sales.partition.key' = 'region')",
    "SELECT k, RANK() OVER (ROWS WINDOW BUFFER 5 ROWS PARTITION BY k ORDER BY v DESC) AS r, DENSE_RANK() OVER (ROWS WINDOW BUFFER 5 ROWS PARTITION BY k ORDER BY v DESC) AS dr FROM t \
     WITH ('t.type' = 'stdin_source', 'event.time.field' = 'ts', 'event.time.format' = 'iso8601', 'partitioning_strategy' = 'Always-Hash')",
    "CREATE STREAM alerts AS SELECT sym PRIMARY KEY, _partition AS p PRIMARY KEY, COUNT(*) AS n FROM trades GROUP BY sym, _partition WINDOW TUMBLING(1m) \
     WITH ('trades.type' = 'kafka_source', 'trades.topic' = 'trades', 'trades.bootstrap.servers' = 'localhost:9092', \
     'trades.schema' = 'sym VARCHAR, price DOUBLE', 'trades.group.id' = 'g', 'trades.auto.offset.reset' = 'latest', \
     'trades.kafka.session.timeout.ms' = '6000', 'alerts.type' = 'kafka_sink', 'alerts.topic' = 'alerts', \
     'alerts.bootstrap.servers' = 'localhost:9092', 'alerts.kafka.linger.ms' = '5')",
    "SELECT o.id, c.name, s.ship_id FROM orders o LEFT JOIN shipments s ON o.id = s.order_id \
     AND s.ts BETWEEN o.ts - INTERVAL '1' SECOND AND o.ts + INTERVAL '10' SECOND JOIN customers c ON o.cid = c.id \
     WITH ('orders.type' = 'file_source', 'orders.path' = 'o.csv', 'shipments.type' = 'file_source', 'shipments.path' = 's.csv', \
     'customers.type' = 'file_source', 'customers.path' = 'c.csv', 'customers.kind' = 'table', 'customers.key' = 'id', \
     'orders.event.time.field' = 'ts', 'shipments.event.time.field' = 'ts')",
    "SELECT a.k, COUNT(*) AS n FROM TABLE(HOP(TABLE a, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) a \
     LEFT JOIN TABLE(HOP(TABLE b, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) b \
     ON a.k = b.k AND a.window_start = b.window_start AND a.window_end = b.window_end GROUP BY a.k \
     WITH ('a.type' = 'stdin_source', 'b.type' = 'generator_source', 'b.profile' = 'orders')",
    "SELECT c.user_id, b.item FROM clicks c JOIN buys b ON c.user_id = b.user_id \
     WITH ('clicks.type' = 'stdin_source', 'buys.type' = 'stdin_source', 'event.time.field' = 'ts', 'join.state.ttl' = '10s')",
];

/// The apps above and velo-ast's parse corpus (most of which does not declare
/// its sources, so planning fails early, but each is valid syntax).
fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../velo-ast/tests/parse");
    let mut files: Vec<_> = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "sql"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    APPS.iter()
        .map(|s| s.to_string())
        .chain(files.iter().filter_map(|p| fs::read_to_string(p).ok()))
        .collect()
}

/// Plans and, on error, renders the error; neither may panic.
fn plan(sql: &str) {
    match plan_sql(sql, &PlanOptions::default()) {
        Ok(plan) => {
            let _ = format!("{plan:?}");
        }
        Err(e) => {
            let _ = e.render(sql, Some("app.sql"));
            let _ = e.render(sql, None);
            let _ = e.span();
        }
    }
}

#[test]
fn the_apps_plan() {
    for sql in APPS {
        if let Err(e) = plan_sql(sql, &PlanOptions::default()) {
            panic!("{}", e.render(sql, Some("app.sql")));
        }
    }
}

#[test]
fn every_truncation_of_every_app() {
    for sql in APPS {
        for (i, _) in sql.char_indices() {
            plan(&sql[..i]);
            plan(&sql[i..]);
        }
    }
}

/// Words worth dropping anywhere: keywords, punctuation, numbers, quotes.
const VOCABULARY: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "ORDER",
    "LIMIT",
    "WINDOW",
    "TUMBLING",
    "SLIDING",
    "SESSION",
    "OVER",
    "ROWS",
    "BUFFER",
    "BETWEEN",
    "PRECEDING",
    "CURRENT",
    "ROW",
    "PARTITION",
    "EXPIRE",
    "AFTER",
    "INACTIVITY",
    "EMIT",
    "CHANGES",
    "FINAL",
    "WITH",
    "AS",
    "CREATE",
    "STREAM",
    "TABLE",
    "INSERT",
    "INTO",
    "JOIN",
    "ON",
    "DISTINCT",
    "INTERVAL",
    "SECOND",
    "MINUTE",
    "CAST",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "NULL",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "LAG",
    "LEAD",
    "ROW_NUMBER",
    "RANK",
    "FIRST_VALUE",
    "STDDEV",
    "_window_start",
    "*",
    "(",
    ")",
    ",",
    ";",
    ".",
    "=",
    "<>",
    "/",
    "%",
    "-",
    "'",
    "''",
    "\"",
    "0",
    "1",
    "-1",
    "18446744073709551615",
    "99999999999999999999",
    "9223372036854775807",
    "1e999",
    "0.5",
    "5s",
    "0s",
    "500ms",
    "1m",
    "x",
    "ts",
    "--",
    "/*",
    "*/",
    "\n",
    "é",
];

/// WITH keys, job-level and per connector (for the names the apps use).
const KEYS: &[&str] = &[
    "event.time.field",
    "event.time.format",
    "watermark.strategy",
    "watermark.max_out_of_orderness",
    "late.data.strategy",
    "late.data.dead_letter",
    "partitioning_strategy",
    "failure_strategy",
    "dlq.sink",
    "max.memory.mb",
    "t.type",
    "t.path",
    "t.format",
    "t.delimiter",
    "t.schema",
    "t.partition.key",
    "t.profile",
    "t.records",
    "t.topic",
    "t.bootstrap.servers",
    "orders.type",
    "orders.path",
    "out.type",
    "out.format",
    "dlq.type",
    "late.type",
    "sink.type",
    "src.type",
    ".type",
    "type",
    "t.",
    "",
];

/// Property values, valid and odd, for every kind of key.
const VALUES: &[&str] = &[
    "",
    " ",
    "-1",
    "0",
    "1",
    "1e999",
    "NaN",
    "inf",
    "abc",
    "18446744073709551616",
    "9223372036854775807",
    "1_000",
    "5s",
    "-5s",
    "0s",
    "1.5s",
    "99999999999999999999d",
    "INTERVAL '5' SECOND",
    "INTERVAL",
    "'",
    "5 fortnights",
    "file_source",
    "file_sink",
    "stdin_source",
    "stdout_sink",
    "generator_source",
    "kafka_source",
    "kafka_sink",
    "csv",
    "csv_no_header",
    "jsonl",
    "\\t",
    "tab",
    ";;",
    "é",
    "a BIGINT, b",
    "a BIGINT, a BIGINT",
    "ts TIMESTAMP, v DECIMAL(40, 99)",
    "DECIMAL(",
    "dead_letter",
    "drop",
    "process_all",
    "send_to_dlq",
    "fail_batch",
    "always_hash",
    "round_robin",
    "sticky",
    "fan_in",
    "ascending",
    "epoch_seconds",
    "iso8601",
    "t",
    "out",
    "dlq",
    "late",
    "ts",
    "orders",
];

/// Splits app text into tokens: quoted strings whole, words, single
/// punctuation characters.
fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            let mut s = String::from(c);
            while let Some(d) = chars.next() {
                s.push(d);
                if d == '\'' {
                    if chars.peek() == Some(&'\'') {
                        s.push(chars.next().unwrap_or('\''));
                    } else {
                        break;
                    }
                }
            }
            out.push(s);
        } else if c.is_alphanumeric() || c == '_' {
            let mut s = String::from(c);
            while let Some(&d) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    s.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(s);
        } else if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    out
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Insert(usize, usize),
    Replace(usize, usize),
    /// The i-th quoted token becomes a quoted odd value.
    Value(usize, usize),
    /// The i-th quoted token becomes a quoted property key.
    Key(usize, usize),
    /// A new property (key, value) after the first `(` that follows WITH.
    Property(usize, usize),
    /// The i-th number becomes an odd one.
    Number(usize, usize),
}

/// Numbers at the edges: zero, the largest integers, past them, fractions.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "1000000",
    "1000001",
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "0.5",
    "1e999",
    "1.5e3",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let any = any::<usize>;
    prop_oneof![
        1 => any().prop_map(Mutation::Delete),
        1 => any().prop_map(Mutation::Duplicate),
        1 => (any(), any()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        1 => (any(), 0..VOCABULARY.len()).prop_map(|(a, w)| Mutation::Insert(a, w)),
        1 => (any(), 0..VOCABULARY.len()).prop_map(|(a, w)| Mutation::Replace(a, w)),
        2 => (any(), 0..VALUES.len()).prop_map(|(a, v)| Mutation::Value(a, v)),
        1 => (any(), 0..KEYS.len()).prop_map(|(a, k)| Mutation::Key(a, k)),
        2 => (0..KEYS.len(), 0..VALUES.len()).prop_map(|(k, v)| Mutation::Property(k, v)),
        2 => (any(), 0..NUMBERS.len()).prop_map(|(a, v)| Mutation::Number(a, v)),
    ]
}

fn apply(ts: &mut Vec<String>, m: &Mutation) {
    let n = ts.len().max(1);
    let nth = |ts: &[String], i: usize, what: fn(&str) -> bool| {
        let q: Vec<usize> = (0..ts.len()).filter(|&j| what(&ts[j])).collect();
        (!q.is_empty()).then(|| q[i % q.len()])
    };
    let quoted_at = |ts: &[String], i: usize| nth(ts, i, |t| t.starts_with('\''));
    match *m {
        Mutation::Delete(i) if !ts.is_empty() => {
            ts.remove(i % n);
        }
        Mutation::Duplicate(i) if !ts.is_empty() => {
            let t = ts[i % n].clone();
            ts.insert(i % n, t);
        }
        Mutation::Swap(a, b) if !ts.is_empty() => ts.swap(a % n, b % n),
        Mutation::Insert(i, w) => ts.insert(i % (ts.len() + 1), VOCABULARY[w].to_string()),
        Mutation::Replace(i, w) if !ts.is_empty() => ts[i % n] = VOCABULARY[w].to_string(),
        Mutation::Value(i, v) => {
            if let Some(j) = quoted_at(ts, i) {
                ts[j] = quoted(VALUES[v]);
            }
        }
        Mutation::Key(i, k) => {
            if let Some(j) = quoted_at(ts, i) {
                ts[j] = quoted(KEYS[k]);
            }
        }
        Mutation::Number(i, v) => {
            if let Some(j) = nth(ts, i, |t| t.starts_with(|c: char| c.is_ascii_digit())) {
                ts[j] = NUMBERS[v].to_string();
            }
        }
        Mutation::Property(k, v) => {
            if let Some(w) = ts.iter().position(|t| t.eq_ignore_ascii_case("WITH")) {
                if ts.get(w + 1).is_some_and(|t| t == "(") {
                    let new = [
                        quoted(KEYS[k]),
                        "=".to_string(),
                        quoted(VALUES[v]),
                        ",".to_string(),
                    ];
                    ts.splice(w + 2..w + 2, new);
                }
            }
        }
        _ => {}
    }
}

proptest! {
    // Each case plans one app in well under a millisecond.
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn mutated_apps_never_panic(
        case in any::<prop::sample::Index>(),
        // Mostly the apps written here: they get furthest into planning.
        from_apps in prop::bool::weighted(0.75),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let text = if from_apps {
            APPS[case.index(APPS.len())].to_string()
        } else {
            let corpus = corpus();
            corpus[case.index(corpus.len())].clone()
        };
        let mut ts = tokens(&text);
        for m in &mutations {
            apply(&mut ts, m);
        }
        plan(&ts.join(" "));
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn odd_properties_never_panic(
        query in 0..APPS.len(),
        props in prop::collection::vec((0..KEYS.len(), 0..VALUES.len()), 1..8),
    ) {
        // A valid query, its WITH clause replaced by random properties after
        // declarations of the apps' sources and sinks (so that planning gets
        // past FROM and INTO; a random property may override them).
        let sql = APPS[query].split(" WITH (").next().unwrap_or_default();
        let sources = ["t", "orders", "readings", "clicks", "flows", "trades", "src", "sales"];
        let sinks = ["out", "sink", "totals", "dlq", "late"];
        let mut with: Vec<String> = sources
            .iter()
            .map(|s| format!("'{s}.type' = 'stdin_source'"))
            .chain(sinks.iter().map(|s| format!("'{s}.type' = 'stdout_sink'")))
            .collect();
        for (k, v) in props {
            with.push(format!("{} = {}", quoted(KEYS[k]), quoted(VALUES[v])));
        }
        plan(&format!("{sql} WITH ({})", with.join(", ")));
    }

    #[test]
    fn token_soup_never_panics(picks in prop::collection::vec(0..VOCABULARY.len(), 0..40)) {
        let sql: Vec<&str> = picks.iter().map(|&i| VOCABULARY[i]).collect();
        plan(&sql.join(" "));
    }
}
