//! The benchmark's results: the JSON document (`target/bench/results.json`) and
//! the table the binary prints.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::latency::LatencySummary;

/// The whole JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When the run started, RFC 3339 UTC.
    pub date: String,
    pub machine: Machine,
    pub settings: Settings,
    pub scenarios: Vec<ScenarioReport>,
    /// The end-to-end mode: `velo-server run` from a CSV file to a JSON lines file.
    pub end_to_end: Vec<EndToEndReport>,
    /// `--checkpoints`: scenarios 2 and 3a end to end with checkpoints off and on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<crate::checkpoints::CheckpointScenarioReport>,
}

/// One scenario run end to end through the real binary.
#[derive(Debug, Clone, Serialize)]
pub struct EndToEndReport {
    pub id: String,
    pub title: String,
    pub results: Vec<crate::e2e::E2eResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical cores (`available_parallelism`).
    pub cores: usize,
    /// `uname -m`.
    pub arch: String,
    pub os: String,
}

impl Machine {
    pub fn this() -> Machine {
        let arch = std::process::Command::new("uname")
            .arg("-m")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            arch,
            os: std::env::consts::OS.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub records: u64,
    pub batch_size: usize,
    pub runs: usize,
    /// V2 partition counts asked for.
    pub partitions: Vec<usize>,
    pub quick: bool,
    pub check: bool,
    /// Records fed in each paced latency run.
    pub latency_records: u64,
    /// Their input batch size.
    pub latency_batch_size: usize,
    /// The pacing rate as a share of each configuration's median throughput...
    pub latency_load: f64,
    /// ...unless a fixed rate (records/s) was given.
    pub latency_rate: Option<f64>,
    pub warmup_batches: usize,
    pub pacer_spin_us: u64,
    /// V2's `--placement` (in memory; end to end is always `auto`).
    pub placement: &'static str,
}

/// One scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub id: String,
    pub title: String,
    pub sql: String,
    pub check: Check,
    pub configs: Vec<ConfigReport>,
    /// A join of two streams' state (scenario 5), from a V1 run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_state: Option<JoinStateReport>,
}

/// Rows a join of two streams holds, and its estimated size: once the whole
/// input has been applied (before the end of input frees it), and the most
/// at any point of the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct JoinStateReport {
    pub end_left_rows: usize,
    pub end_right_rows: usize,
    pub end_bytes: usize,
    pub peak_left_rows: usize,
    pub peak_right_rows: usize,
    pub peak_bytes: usize,
}

impl JoinStateReport {
    /// One line for the text report.
    pub fn line(&self) -> String {
        format!(
            "  join state: {} + {} rows held (left + right), {:.1} MB, once the input is read; at most {} + {} rows, {:.1} MB",
            self.end_left_rows,
            self.end_right_rows,
            self.end_bytes as f64 / 1048576.0,
            self.peak_left_rows,
            self.peak_right_rows,
            self.peak_bytes as f64 / 1048576.0
        )
    }
}

/// The V1/V2 output check of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `passed`, `failed` or `skipped`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One configuration (V1, or V2 with N partitions) of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigReport {
    /// `V1` or `V2@N` (N as asked).
    pub config: String,
    /// Partitions really used (V2 may use fewer than asked); 1 for V1.
    pub partitions: usize,
    /// V2 only: where partition 0 ran, `dedicated` (own thread) or `compact`
    /// (the router's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<&'static str>,
    pub records: u64,
    /// Median of `rec_per_s_runs`.
    pub rec_per_s: f64,
    pub rec_per_s_runs: Vec<f64>,
    /// V2@N only: `rec/s / (N * V2@1 rec/s)`, N the partitions really used.
    pub efficiency: Option<f64>,
    /// `rec/s / V1 rec/s`.
    pub vs_v1: f64,
    pub rows_out: u64,
    pub latency: Option<LatencySummary>,
}

impl Report {
    /// Writes the document as pretty JSON, creating the parent directories.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The current time as RFC 3339 UTC.
pub fn now_utc() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    velo_types::format_timestamp_millis(millis)
}

/// The table's header lines.
pub fn table_header() -> String {
    format!(
        "{:<4} {:<30} {:<6} {:>9} {:>6} {:>6} {:>9} {:>9} {:>8} {:>8} {:>8}\n{}",
        "id",
        "scenario",
        "config",
        "rec/s",
        "eff",
        "xV1",
        "rows out",
        "paced at",
        "p50 us",
        "p95 us",
        "p99 us",
        "-".repeat(4 + 30 + 6 + 9 + 6 + 6 + 9 + 9 + 8 + 8 + 8 + 10),
    )
}

/// One line per configuration of `s`.
pub fn table_rows(s: &ScenarioReport) -> Vec<String> {
    s.configs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (id, title) = if i == 0 {
                (s.id.as_str(), s.title.as_str())
            } else {
                ("", "")
            };
            let config = if c.config.starts_with("V2") && c.partitions.to_string() != c.config[3..]
            {
                format!("{}({})", c.config, c.partitions)
            } else {
                c.config.clone()
            };
            let lat = |f: fn(&LatencySummary) -> f64| {
                c.latency
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |l| format!("{:.0}", f(l)))
            };
            format!(
                "{:<4} {:<30} {:<6} {:>9} {:>6} {:>6} {:>9} {:>9} {:>8} {:>8} {:>8}",
                id,
                truncate(title, 30),
                config,
                human(c.rec_per_s),
                c.efficiency
                    .map_or_else(|| "-".into(), |e| format!("{e:.2}")),
                format!("{:.2}", c.vs_v1),
                c.rows_out,
                c.latency
                    .as_ref()
                    .map_or_else(|| "-".into(), |l| human(l.rate)),
                lat(|l| l.p50_us),
                lat(|l| l.p95_us),
                lat(|l| l.p99_us),
            )
        })
        .collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// `2.34M`, `512K`.
pub fn human(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else {
        format!("{:.0}K", r / 1e3)
    }
}
