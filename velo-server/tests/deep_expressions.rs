//! Expressions at the depth limit and past it, through the real binary: `check`
//! and `run` refuse an expression deeper than 1024 levels with the limit, the
//! file, the line and the column, whatever its length; `serve` refuses it on
//! `POST /jobs` and keeps answering; an app at the limit runs everywhere. The
//! golden cases `*deep_expression*` and `*deep_parentheses*` under `tests/sql/`
//! cover the exact output at the limit and just past it.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

const ORDERS: &str = "order_id,customer,amount,qty,status,ts
1,alice,120.5,2,shipped,2024-01-15T10:00:00Z
2,bob,80.0,1,pending,2024-01-15T10:00:30Z
3,alice,200.25,5,shipped,2024-01-15T10:01:10Z
";

const LIMIT_MESSAGE: &str = "expression is nested too deeply: more than 1024 levels (the limit; \
                             each operator, call, cast and parenthesis adds a level)";

/// An app whose select list holds `expr` (on line 3, from column 8) over the
/// file source `orders.csv`, written to `out.jsonl`.
fn app(expr: &str) -> String {
    format!(
        "CREATE STREAM out AS\nSELECT order_id,\n       {expr} AS x\nFROM orders\n\
         WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',\n      \
         'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');\n"
    )
}

/// `qty + 1 + 1 ...` with `additions` additions: `additions + 1` levels.
fn sum_chain(additions: usize) -> String {
    format!("qty{}", " + 1".repeat(additions))
}

fn workdir(sql: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orders.csv"), ORDERS).unwrap();
    std::fs::write(dir.path().join("app.sql"), sql).unwrap();
    dir
}

fn velo(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_velo-server"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The first two lines of stderr: the message and the ` --> file:line:col`.
fn error_head(out: &Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines = stderr.lines();
    let message = lines.next().unwrap_or_default().to_string();
    let location = lines.next().unwrap_or_default().trim().to_string();
    (message, location)
}

#[test]
fn check_and_run_accept_an_expression_at_the_limit() {
    let dir = workdir(&app(&sum_chain(1023)));
    let out = velo(dir.path(), &["check", "app.sql"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for processor in ["v1", "v2"] {
        let out = velo(dir.path(), &["run", "app.sql", "--processor", processor]);
        assert_eq!(out.status.code(), Some(0), "{processor}: {out:?}");
        let rows = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
        let mut rows: Vec<&str> = rows.lines().collect();
        rows.sort();
        // qty + 1023 for qty 2, 1, 5.
        assert_eq!(
            rows,
            [
                r#"{"order_id":1,"x":1025}"#,
                r#"{"order_id":2,"x":1024}"#,
                r#"{"order_id":3,"x":1028}"#
            ],
            "{processor}"
        );
    }
}

#[test]
fn check_and_run_refuse_expressions_past_the_limit_of_any_length() {
    // Just past the limit, far past it (a chain of 300,000 additions, whose
    // tree is dropped on a grown stack), and cut short by a syntax error after
    // 300,000 additions (sqlparser drops what it built).
    let cases = [
        (sum_chain(1024), LIMIT_MESSAGE, "--> app.sql:3:8"),
        (sum_chain(300_000), LIMIT_MESSAGE, "--> app.sql:3:8"),
        (
            format!("{} + )", sum_chain(300_000)),
            "error: expected an expression, found ')'",
            // Column 8, `qty`, 300,000 times ` + 1`, ` + `.
            "--> app.sql:3:1200014",
        ),
        (
            format!("{}qty{}", "(".repeat(63), ")".repeat(63)),
            "expression is nested too deeply: it reaches the limit of 64 levels of \
             parentheses, calls and unary operators",
            "--> app.sql:3:71",
        ),
    ];
    for (expr, message, location) in cases {
        let dir = workdir(&app(&expr));
        for command in ["check", "run"] {
            let out = velo(dir.path(), &[command, "app.sql"]);
            let what = format!("{command} {}...", &expr[..20]);
            assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
            let (first, second) = error_head(&out);
            assert!(first.contains(message), "{what}: {first}");
            assert!(second.starts_with(location), "{what}: {second}");
            assert!(!dir.path().join("out.jsonl").exists(), "{what}");
        }
    }
}

/// The server process; killed if a test ends without stopping it.
struct Server {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_velo-server"))
            .args(["serve", "--bind", "127.0.0.1:0", "--partitions", "2"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.to_string());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("the server printed no address: {}", stderr.lock().unwrap());
        };
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// One HTTP/1.1 exchange: the status and the body as JSON.
    fn json(&self, method: &str, path: &str, body: &str) -> (u16, Json) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: no answer ({e}); the server said: {}",
                self.stderr.lock().unwrap()
            )
        });
        let (head, rest) = raw.split_once("\r\n\r\n").expect("an HTTP head");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(
            !head.to_ascii_lowercase().contains("chunked"),
            "unexpected chunked body"
        );
        let json = serde_json::from_str(rest)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {rest}"));
        (status, json)
    }

    fn assert_healthy(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server died: {}",
            self.stderr.lock().unwrap()
        );
        let (status, health) = self.json("GET", "/health", "");
        assert_eq!((status, health), (200, serde_json::json!({"status": "ok"})));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_refuses_deep_apps_keeps_answering_and_runs_one_at_the_limit() {
    let dir = workdir("");
    let mut server = Server::start(dir.path());
    server.assert_healthy();

    // Past the limit, by one level and by 300,000 (a 1.2 MB body).
    for additions in [1024, 300_000] {
        let (status, err) = server.json("POST", "/jobs", &app(&sum_chain(additions)));
        assert_eq!(status, 400, "{additions}: {err}");
        assert_eq!(err["message"], LIMIT_MESSAGE, "{additions}: {err}");
        assert_eq!((&err["line"], &err["column"]), (&3.into(), &8.into()));
        server.assert_healthy();
    }
    // A syntax error after a 300,000-level chain.
    let sql = app(&format!("{} + )", sum_chain(300_000)));
    let (status, err) = server.json("POST", "/jobs", &sql);
    assert_eq!(status, 400, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("found ')'"),
        "{err}"
    );
    server.assert_healthy();

    // At the limit: accepted, and it runs to the end with the right rows.
    let (status, body) = server.json("POST", "/jobs", &app(&sum_chain(1023)));
    assert_eq!(status, 201, "{body}");
    let id = body["ids"][0].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (status, job) = server.json("GET", &format!("/jobs/{id}"), "");
        assert_eq!(status, 200, "{job}");
        if job["state"] != "running" {
            break job;
        }
        assert!(Instant::now() < deadline, "the job never finished: {job}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(job["state"], "finished", "{job}");
    let rows = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let mut rows: Vec<&str> = rows.lines().collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            r#"{"order_id":1,"x":1025}"#,
            r#"{"order_id":2,"x":1024}"#,
            r#"{"order_id":3,"x":1028}"#
        ]
    );
    server.assert_healthy();
}
