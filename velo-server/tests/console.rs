//! The web console (`GET /`) end to end: the real `velo-server serve` on a
//! loopback port, and a real headless Chromium driven over the DevTools
//! protocol (`headless_chrome`, which never downloads a browser here).
//!
//! One test walks what an operator does: the quickstart's job in the list with
//! its record count; an app with a syntax error, refused and marked at its line
//! in the editor; a valid app, running, with its charts filling; a checkpoint
//! taken and the job stopped (drained) with the page's buttons; a job that
//! fails, with its reason; then the server killed and started again on the
//! same port, which the page reports and recovers from. Screenshots of each step go to `<target>/console/*.png`.
//!
//! Chromium is `/usr/bin/chromium` (Debian's package, which `cargo xtask test`
//! installs) or `$VELO_CHROMIUM`; without one the test fails saying so, unless
//! `VELO_SKIP_BROWSER_TESTS=1`, which skips it with a note.

#![cfg(unix)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value as Json;

/// How long any one wait of the test may take before it fails.
const WAIT: Duration = Duration::from_secs(30);

/// A job that runs until stopped: generated orders, one in a thousand written.
const ENDLESS: &str = "CREATE STREAM sampled AS
SELECT order_id, customer_id FROM orders WHERE order_id % 1000 = 0
WITH ('orders.type' = 'generator_source', 'orders.records' = '1000000000000',
      'sampled.type' = 'file_sink', 'sampled.path' = 'sampled.jsonl');";

/// Refused at line 3: a WHERE with no condition.
const BROKEN: &str = "CREATE STREAM broken AS
SELECT order_id
FROM orders WHERE WHERE
WITH ('orders.type' = 'generator_source', 'broken.type' = 'stdout_sink');";

/// Fails once running: its sink's folder is a file (`blocker`).
const FAILING: &str = "CREATE STREAM failing AS SELECT order_id FROM orders
WITH ('orders.type' = 'generator_source', 'orders.records' = '100',
      'failing.type' = 'file_sink', 'failing.path' = 'blocker/out.jsonl');";

/// The browser to drive, or `None` (with a note) when the test is skipped.
fn chromium() -> Option<PathBuf> {
    if std::env::var("VELO_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("note: the console test is skipped (VELO_SKIP_BROWSER_TESTS=1)");
        return None;
    }
    let path = std::env::var_os("VELO_CHROMIUM")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.is_file(),
        "the console test needs Chromium at {}: install Debian's (`apt-get install -y chromium`; \
         `cargo xtask test` does), point VELO_CHROMIUM at another, or set \
         VELO_SKIP_BROWSER_TESTS=1 to skip it",
        path.display()
    );
    Some(path)
}

/// `velo-server serve` in `dir`; killed when dropped.
struct Server {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the server on `bind` (`127.0.0.1:0` for a free port) and waits
    /// for the address it prints.
    fn start(dir: &Path, bind: &str, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_velo-server"))
            .args(["serve", "--bind", bind, "--partitions", "2"])
            .args(args)
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
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        match rx.recv_timeout(WAIT) {
            Ok(addr) => Server {
                child,
                addr,
                stderr,
            },
            Err(_) => {
                let _ = child.kill();
                panic!("the server printed no address: {}", stderr.lock().unwrap());
            }
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Kills the server at once (no drain), as a crash would.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One tab of the console, with where its screenshots go.
struct Console {
    tab: Arc<Tab>,
    shots: PathBuf,
}

impl Console {
    /// Evaluates `js` (an expression giving a string, number or boolean).
    fn eval(&self, js: &str) -> Json {
        self.tab
            .evaluate(js, false)
            .ok()
            .and_then(|o| o.value)
            .unwrap_or(Json::Null)
    }

    /// Waits until `js` gives a truthy value, and returns it; on timeout fails
    /// with `what`, the page's text and the server's log.
    fn wait(&self, what: &str, js: &str, server: &Server) -> Json {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.eval(js);
            let truthy = match &v {
                Json::Null => false,
                Json::Bool(b) => *b,
                Json::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Json::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                self.shot("timeout");
                panic!(
                    "the console never showed {what} ({js} = {v})\npage:\n{}\nserver:\n{}",
                    self.eval("document.body.innerText"),
                    server.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sets `selector`'s value as typing would and clicks `button`.
    fn fill_and_click(&self, selector: &str, text: &str, button: &str) {
        let js = format!(
            "(() => {{ const t = document.querySelector({sel}); t.value = {text};
               t.dispatchEvent(new Event('input')); document.querySelector({button}).click();
               return true; }})()",
            sel = Json::from(selector),
            text = Json::from(text),
            button = Json::from(button),
        );
        assert_eq!(
            self.eval(&js),
            Json::Bool(true),
            "{selector} or {button} is missing"
        );
    }

    fn click(&self, selector: &str) {
        let js = format!(
            "(() => {{ const b = document.querySelector({0}); if (!b || b.disabled) return false; b.click(); return true; }})()",
            Json::from(selector)
        );
        assert_eq!(
            self.eval(&js),
            Json::Bool(true),
            "{selector} cannot be clicked"
        );
    }

    fn text(&self, selector: &str) -> String {
        let js = format!(
            "(document.querySelector({}) || {{}}).textContent || ''",
            Json::from(selector)
        );
        self.eval(&js).as_str().unwrap_or_default().to_string()
    }

    /// Saves a PNG of the viewport as `<target>/console/{name}.png`.
    fn shot(&self, name: &str) {
        let png = self
            .tab
            .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
            .expect("a screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// `<target>/console`: the workspace's target folder, beside `tmp`.
fn screenshot_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn launch(path: PathBuf, profile: &Path) -> Browser {
    let args: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    Browser::new(LaunchOptions {
        headless: true,
        sandbox: false,
        enable_gpu: false,
        window_size: Some((1400, 1500)),
        path: Some(path),
        user_data_dir: Some(profile.to_path_buf()),
        args,
        idle_browser_timeout: Duration::from_secs(300),
        ..LaunchOptions::default()
    })
    .expect("Chromium starts")
}

#[test]
fn the_console_lists_submits_charts_stops_and_survives_a_restart() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart");
    let app_dir = dir.path().join("quickstart");
    std::fs::create_dir_all(&app_dir).unwrap();
    for file in ["app.sql", "trades.csv"] {
        std::fs::copy(quickstart.join(file), app_dir.join(file)).unwrap();
    }
    std::fs::write(dir.path().join("blocker"), "").unwrap();
    let mut server = Server::start(dir.path(), "127.0.0.1:0", &["--app", "quickstart/app.sql"]);
    let base = format!("http://{}", server.addr);

    let profile = tempfile::tempdir().unwrap();
    let browser = launch(chromium, profile.path());
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(WAIT);
    let page = Console {
        tab,
        shots: screenshot_dir(),
    };

    // 1. The jobs list shows the quickstart's job with the records it read.
    page.tab.navigate_to(&format!("{base}/")).unwrap();
    page.tab.wait_until_navigated().unwrap();
    let read = page.wait(
        "the quickstart job with records",
        r#"(() => { const c = document.querySelector('#jobs tr[data-id="symbol_stats-1"] td[data-col="in"]');
                   const n = c ? Number(c.textContent.replace(/,/g, '')) : 0; return n > 0 ? n : 0; })()"#,
        &server,
    );
    assert!(read.as_f64().is_some_and(|n| n > 0.0), "{read}");
    page.shot("1-jobs");

    // 2. A syntax error is shown at its line: message, gutter marker, selection.
    page.eval("location.hash = '#/submit'");
    page.wait("the editor", "!!document.querySelector('#sql')", &server);
    page.fill_and_click("#sql", BROKEN, "#btn-submit");
    let line = page.wait(
        "the error's line marked",
        "(document.querySelector('#gutter div.err') || {dataset: {}}).dataset.line || ''",
        &server,
    );
    assert_eq!(line, Json::from("3"));
    let message = page.text("#submit-error");
    assert!(message.starts_with("Line 3, column"), "{message}");
    assert!(message.contains("WHERE"), "{message}");
    let selected = page.eval("(() => { const t = document.querySelector('#sql'); return t.value.slice(t.selectionStart, t.selectionEnd); })()");
    assert_eq!(selected, Json::from("FROM orders WHERE WHERE"));
    page.shot("2-submit-error");

    // 3. A valid app starts, and its job page fills its charts.
    page.fill_and_click("#sql", ENDLESS, "#btn-submit");
    let hash = page.wait(
        "the new job's page",
        "location.hash.startsWith('#/jobs/') ? location.hash : ''",
        &server,
    );
    let id = hash
        .as_str()
        .unwrap()
        .trim_start_matches("#/jobs/")
        .to_string();
    assert!(id.starts_with("sampled-"), "{id}");
    page.wait(
        "the job running",
        "document.querySelector('#job-state').textContent === 'running'",
        &server,
    );
    for chart in ["in", "latency"] {
        page.wait(
            &format!("the {chart} chart with data points"),
            &format!(
                "(() => {{ const c = document.querySelector('#chart-{chart}');
                   return !!c.querySelector('canvas') && Number(c.dataset.points) >= 3 && Number(c.dataset.max) > 0; }})()"
            ),
            &server,
        );
    }
    page.wait(
        "partitions with a backpressure state",
        "document.querySelectorAll('#partitions tbody tr .bp').length === 4",
        &server,
    );
    page.wait(
        "the plan",
        "document.querySelector('#plan').textContent.includes('operators:')",
        &server,
    );
    page.shot("3-job");

    // 4. A checkpoint on demand, then a stop: the job drains and finishes.
    page.click("#btn-checkpoint");
    page.wait(
        "the checkpoint taken",
        "/checkpoint \\d+ taken/.test(document.querySelector('#action-msg').textContent)",
        &server,
    );
    page.wait(
        "the checkpoint listed",
        "document.querySelector('#checkpoint').textContent.includes('#')",
        &server,
    );
    page.click("#btn-stop");
    page.wait(
        "the job finished",
        "document.querySelector('#job-state').textContent === 'finished'",
        &server,
    );
    page.wait(
        "the accounting identity holding",
        "document.querySelector('#identity').dataset.holds === 'true'",
        &server,
    );
    page.shot("4-stopped");

    // 5. A job that fails says why, on its page and in the list.
    page.eval("location.hash = '#/submit'");
    page.wait("the editor", "!!document.querySelector('#sql')", &server);
    page.fill_and_click("#sql", FAILING, "#btn-submit");
    page.wait(
        "the failed job's page",
        "location.hash.startsWith('#/jobs/failing-')
         && document.querySelector('#job-state').textContent === 'failed'
         && !document.querySelector('#job-reason').hidden",
        &server,
    );
    assert!(
        page.text("#job-reason").contains("failing"),
        "{}",
        page.text("#job-reason")
    );
    page.eval("location.hash = '#/'");
    page.wait(
        "the failed job in the list, beside the others",
        "document.querySelectorAll('#jobs tbody tr').length === 3
         && document.querySelector('#jobs tr[data-state=\"failed\"] .reason') !== null",
        &server,
    );
    page.shot("5-failed");

    // 6. The server goes away: a banner says so; back on the same port, the
    // page reconnects by itself.
    let addr = server.addr.clone();
    server.kill();
    page.wait(
        "the server gone",
        "document.querySelector('#server').dataset.state === 'down' && !document.querySelector('#banner').hidden
         && document.querySelector('#banner-text').textContent.includes('went away')",
        &server,
    );
    page.shot("6-server-away");
    let server = Server::start(dir.path(), &addr, &[]);
    page.wait(
        "the page reconnected",
        "document.querySelector('#server').dataset.state === 'up'
         && document.querySelector('#banner-text').textContent.startsWith('Reconnected')",
        &server,
    );
    page.eval("location.hash = '#/'");
    page.wait(
        "the jobs list of the new server",
        "document.querySelector('#jobs-summary').textContent === '0 live, 0 in all'",
        &server,
    );
    page.shot("7-reconnected");
}
