//! What checkpoints cost (issue 17): scenarios 2 and 3a with many keys, run
//! end to end through `velo-server run` ([`crate::e2e`]) with
//! `'checkpoint.interval'` at a setting (normally `1s`) and at `off`, side by
//! side.
//!
//! The generator's profiles have few keys (200 symbols in scenario 2, 100
//! trader and symbol pairs in 3a), so the state a checkpoint stores would be
//! tiny. Here the input has [`CheckpointOptions::keys`] keys instead, the rest
//! of each row as the generator makes it ([`keyed_batch`]):
//!
//! - scenario 2 (`GROUP BY symbol`): `symbol = 'SYM' || (i % keys)`;
//! - scenario 3a (`GROUP BY trader_id, symbol` in 1-minute tumbling windows):
//!   with `k = i % keys`, `trader_id = 'T' || (k % 1000)` and
//!   `symbol = 'SYM' || (k / 1000)`, `keys` distinct pairs; and `trade_time`
//!   advances by 1 minute every [`RECORDS_PER_KEY_PER_WINDOW`] `* keys`
//!   records (not 1 s per record), so that every window holds every key, and
//!   a checkpoint stores the open window's `keys` groups.
//!
//! For each repetition, each configuration (V1, V2@N) runs with checkpoints
//! off and on, one after the other (the order swapped every other
//! repetition), so that machine noise hits both alike; the medians count.
//! Each run gets its own `--state-dir` and `--fresh`. Every run's output must
//! equal the first run's (V1, checkpoints off) as a multiset of lines: a
//! checkpoint must not change what a job writes.
//! The checkpoints are counted from the line `velo-server` logs after the
//! job's summary ([`parse_checkpoint_line`]).

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;
use velo_types::{Batch, Value};

use crate::e2e::{self, JOB};
use crate::Scenario;

/// Scenario 3a's windows: each holds this many records per key.
pub const RECORDS_PER_KEY_PER_WINDOW: u64 = 5;

/// Scenario 3a's trader ids per symbol ([`keyed_batch`]).
const TRADERS: u64 = 1000;

/// What to run.
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    /// Input records per scenario.
    pub records: u64,
    /// Distinct grouping keys in the input.
    pub keys: u64,
    /// The `checkpoint.interval` compared with `off` (`1s`).
    pub interval: String,
    /// V2's partition counts (V1 always runs too, first).
    pub partitions: Vec<usize>,
    /// Repetitions of every (configuration, setting); the medians count.
    pub runs: usize,
    pub work_dir: PathBuf,
    pub server_bin: PathBuf,
}

/// The scenarios this comparison runs: their ids.
pub const SCENARIO_IDS: &[&str] = &["2", "3a"];

/// One scenario's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointScenarioReport {
    pub id: String,
    pub title: String,
    pub records: u64,
    pub keys: u64,
    /// Lines in every run's output (all equal).
    pub rows_out: u64,
    pub configs: Vec<CheckpointConfigReport>,
}

/// One configuration (V1 or V2@N) with checkpoints off and on.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointConfigReport {
    /// `v1` or `v2@N`.
    pub config: String,
    /// `checkpoint.interval` of the `on` runs.
    pub interval: String,
    /// Whole-process rec/s with checkpoints off: the median, and every run.
    pub off_rec_per_s: f64,
    pub off_rec_per_s_runs: Vec<f64>,
    /// The same with checkpoints at `interval`.
    pub on_rec_per_s: f64,
    pub on_rec_per_s_runs: Vec<f64>,
    /// `on_rec_per_s / off_rec_per_s`.
    pub ratio: f64,
    /// The job's own rec/s (its summary line), medians.
    pub off_engine_rec_per_s: f64,
    pub on_engine_rec_per_s: f64,
    /// Median seconds of a run with checkpoints off (whole process).
    pub off_seconds: f64,
    /// The `on` runs' checkpoint lines, medians over the runs of each figure.
    pub checkpoints: f64,
    pub last_checkpoint_bytes: f64,
    pub pause_p50_ms: f64,
    pub pause_p99_ms: f64,
    /// Each `on` run's checkpoint line as parsed (`None`: none was logged).
    pub runs: Vec<Option<CheckpointLine>>,
}

/// What `velo-server` logs after a job that took checkpoints:
/// `job 'out': 11 checkpoint(s), the last 1.9 KB; pause p50 3.05 ms, p99 3.72 ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CheckpointLine {
    pub checkpoints: u64,
    /// The last checkpoint's size (from the printed, rounded size and unit).
    pub last_bytes: f64,
    pub pause_p50_ms: f64,
    pub pause_p99_ms: f64,
}

/// The checkpoint line of job [`JOB`] in `line` (anything may come before
/// `job 'out': `, a log prefix), or `None`.
pub fn parse_checkpoint_line(line: &str) -> Option<CheckpointLine> {
    let prefix = format!("job '{JOB}': ");
    let rest = &line[line.find(&prefix)? + prefix.len()..];
    let (count, rest) = rest.split_once(' ')?;
    let checkpoints = count.parse().ok()?;
    let rest = ["checkpoint(s)", "checkpoints", "checkpoint"]
        .iter()
        .find_map(|w| rest.strip_prefix(w))?;
    let (size, rest) = rest.strip_prefix(", the last ")?.split_once("; ")?;
    let (number, unit) = size.split_once(' ')?;
    let scale = match unit {
        "B" => 1.0,
        "KB" | "KiB" => 1024.0,
        "MB" | "MiB" => 1024.0 * 1024.0,
        "GB" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let last_bytes = number.parse::<f64>().ok()? * scale;
    let (p50, p99) = rest.strip_prefix("pause p50 ")?.split_once(", p99 ")?;
    let ms = |s: &str| s.trim().strip_suffix(" ms")?.parse::<f64>().ok();
    Some(CheckpointLine {
        checkpoints,
        last_bytes,
        pause_p50_ms: ms(p50)?,
        pause_p99_ms: ms(p99)?,
    })
}

/// The checkpoint line in a run's stderr, if any.
fn find_checkpoint_line(stderr: &str) -> Option<CheckpointLine> {
    stderr.lines().find_map(parse_checkpoint_line)
}

/// Rows `start .. start + count` of `scenario`'s input with `keys` keys (see
/// the module docs): the generator's rows with their keys (and scenario 3a's
/// times) replaced. `names` interns the key strings ([`KeyNames`]).
pub fn keyed_batch(
    scenario: &Scenario,
    names: &KeyNames,
    start: u64,
    count: usize,
) -> Result<Batch> {
    let batch = velo_io::generate(scenario.profile, start, count);
    let schema = batch.schema().clone();
    let width = batch.width();
    let col = |name: &str| {
        schema
            .fields()
            .iter()
            .position(|f| &*f.name == name)
            .with_context(|| format!("scenario {}: no column {name}", scenario.id))
    };
    let mut values = batch.into_values();
    let keys = names.keys;
    match scenario.id {
        "2" => {
            let symbol = col("symbol")?;
            for (r, row) in values.chunks_mut(width).enumerate() {
                let i = start + r as u64;
                row[symbol] = Value::Str(names.symbols[(i % keys) as usize].clone());
            }
        }
        "3a" => {
            let (trader, symbol, time) = (col("trader_id")?, col("symbol")?, col("trade_time")?);
            let per_window = RECORDS_PER_KEY_PER_WINDOW * keys;
            for (r, row) in values.chunks_mut(width).enumerate() {
                let i = start + r as u64;
                let k = i % keys;
                row[trader] = Value::Str(names.traders[(k % TRADERS) as usize].clone());
                row[symbol] = Value::Str(names.symbols[(k / TRADERS) as usize].clone());
                // 60,000 ms per `per_window` records, ascending.
                let ms = u128::from(i) * 60_000 / u128::from(per_window);
                row[time] = Value::Int(1_000_000 + ms as i64);
            }
        }
        other => bail!("scenario {other} has no key count (only 2 and 3a)"),
    }
    Ok(Batch::new(schema, values)?)
}

/// The key strings of [`keyed_batch`], made once.
#[derive(Debug)]
pub struct KeyNames {
    keys: u64,
    symbols: Vec<Arc<str>>,
    traders: Vec<Arc<str>>,
}

impl KeyNames {
    pub fn new(scenario: &Scenario, keys: u64) -> Result<KeyNames> {
        ensure!(keys > 0, "the key count must be at least 1");
        let names = |prefix: &str, n: u64| -> Vec<Arc<str>> {
            (0..n).map(|i| Arc::from(format!("{prefix}{i}"))).collect()
        };
        let (symbols, traders) = match scenario.id {
            "2" => (names("SYM", keys), Vec::new()),
            "3a" => (names("SYM", keys.div_ceil(TRADERS)), names("T", TRADERS)),
            other => bail!("scenario {other} has no key count (only 2 and 3a)"),
        };
        Ok(KeyNames {
            keys,
            symbols,
            traders,
        })
    }
}

/// Writes (or reuses) `scenario`'s input with `keys` keys.
fn prepare_keyed_input(scenario: &Scenario, options: &CheckpointOptions) -> Result<PathBuf> {
    let path = options.work_dir.join(format!(
        "input-{}-{}keys-{}.csv",
        scenario.profile_name, options.keys, options.records
    ));
    let names = KeyNames::new(scenario, options.keys)?;
    let schema = velo_io::generate(scenario.profile, 0, 1).schema().clone();
    // `write_csv` takes an infallible closure; a key column missing fails here first.
    keyed_batch(scenario, &names, 0, 1)?;
    e2e::write_csv(
        &path,
        options.records,
        &schema,
        options.records,
        |start, n| keyed_batch(scenario, &names, start, n).expect("checked on the first row"),
    )?;
    Ok(path)
}

/// One run's figures.
#[derive(Debug, Clone)]
struct Run {
    rec_per_s: f64,
    engine_rec_per_s: f64,
    seconds: f64,
    checkpoints: Option<CheckpointLine>,
}

/// Runs the comparison for `scenario` (2 or 3a).
pub fn run_checkpoints(
    scenario: &Scenario,
    options: &CheckpointOptions,
    mut progress: impl FnMut(&str),
) -> Result<CheckpointScenarioReport> {
    ensure!(
        SCENARIO_IDS.contains(&scenario.id),
        "the checkpoint comparison runs scenarios 2 and 3a, not {}",
        scenario.id
    );
    crate::e2e::check_setup(&options.partitions, &options.server_bin, &options.work_dir)?;
    progress(&format!(
        "scenario {}: writing {} records with {} keys",
        scenario.id, options.records, options.keys
    ));
    let input = prepare_keyed_input(scenario, options)?;
    let configs: Vec<Option<usize>> = std::iter::once(None)
        .chain(options.partitions.iter().map(|&n| Some(n)))
        .collect();
    let settings = ["off".to_string(), options.interval.clone()];
    // [config][setting] -> runs
    let mut runs: Vec<[Vec<Run>; 2]> = vec![[Vec::new(), Vec::new()]; configs.len()];
    let mut reference: Option<(e2e::Digest, PathBuf)> = None;
    for r in 0..options.runs.max(1) {
        for (ci, partitions) in configs.iter().enumerate() {
            let config = partitions.map_or_else(|| "v1".to_string(), |n| format!("v2@{n}"));
            // Off first on even repetitions, on first on odd ones.
            let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
            for si in order {
                let setting = &settings[si];
                progress(&format!(
                    "scenario {} {config} checkpoints {setting}, run {}/{}",
                    scenario.id,
                    r + 1,
                    options.runs
                ));
                let stem = format!(
                    "ckpt-{}-{}keys-{}-{}-{}",
                    scenario.id,
                    options.keys,
                    options.records,
                    config.replace('@', "-"),
                    if si == 0 { "off" } else { "on" }
                );
                let output = options.work_dir.join(format!("{stem}.jsonl"));
                let app = options.work_dir.join(format!("{stem}.sql"));
                let state = options.work_dir.join(format!("{stem}.state"));
                let extra = format!("'checkpoint.interval' = '{}'", setting.replace('\'', "''"));
                e2e::write_app_with(scenario, &input, &output, &app, &extra)?;
                let args = [
                    std::ffi::OsStr::new("--state-dir"),
                    state.as_os_str(),
                    std::ffi::OsStr::new("--fresh"),
                ];
                let run = e2e::run_server_with(&options.server_bin, &app, *partitions, &args)
                    .with_context(|| {
                        format!("scenario {} ({config}, checkpoints {setting})", scenario.id)
                    })?;
                ensure!(
                    run.read == options.records,
                    "scenario {} ({config}, checkpoints {setting}): the job read {} records, expected {}",
                    scenario.id,
                    run.read,
                    options.records
                );
                let digest = e2e::digest_lines(&output)?;
                ensure!(
                    digest.lines == run.written,
                    "scenario {} ({config}, checkpoints {setting}): {} lines in {}, but the summary says {} written",
                    scenario.id,
                    digest.lines,
                    output.display(),
                    run.written
                );
                match &reference {
                    None => {
                        // The first run (V1, off): kept, to compare the others with.
                        let kept = options
                            .work_dir
                            .join(format!("ckpt-{}-reference.jsonl", scenario.id));
                        fs::rename(&output, &kept)?;
                        reference = Some((digest, kept));
                    }
                    Some((expected, kept)) => {
                        if *expected != digest {
                            bail!(
                                "scenario {} ({config}, checkpoints {setting}): output differs from v1's with checkpoints off ({} lines vs {}){}; kept in {}",
                                scenario.id,
                                digest.lines,
                                expected.lines,
                                e2e::first_difference(kept, &output)
                                    .map(|d| format!("; {d}"))
                                    .unwrap_or_default(),
                                output.display()
                            );
                        }
                        let _ = fs::remove_file(&output);
                    }
                }
                let _ = fs::remove_dir_all(&state);
                let checkpoints = find_checkpoint_line(&run.stderr);
                if si == 1 && checkpoints.is_none() {
                    eprintln!(
                        "warning: scenario {} ({config}, checkpoints {setting}): no checkpoint line on stderr",
                        scenario.id
                    );
                }
                ensure!(
                    si == 1 || checkpoints.is_none(),
                    "scenario {} ({config}): checkpoints taken with 'checkpoint.interval' = 'off'",
                    scenario.id
                );
                runs[ci][si].push(Run {
                    rec_per_s: rate(options.records, run.wall_seconds),
                    engine_rec_per_s: rate(options.records, run.engine_seconds),
                    seconds: run.wall_seconds,
                    checkpoints,
                });
            }
        }
    }
    let rows_out = reference.as_ref().map_or(0, |(d, _)| d.lines);
    let configs = configs
        .iter()
        .zip(&runs)
        .map(|(partitions, [off, on])| {
            let m = |runs: &[Run], f: fn(&Run) -> f64| median(runs.iter().map(f));
            let ck = |f: fn(&CheckpointLine) -> f64| {
                median(on.iter().map(|r| r.checkpoints.as_ref().map_or(0.0, f)))
            };
            let off_rate = m(off, |r| r.rec_per_s);
            let on_rate = m(on, |r| r.rec_per_s);
            CheckpointConfigReport {
                config: partitions.map_or_else(|| "v1".to_string(), |n| format!("v2@{n}")),
                interval: options.interval.clone(),
                off_rec_per_s: off_rate,
                off_rec_per_s_runs: off.iter().map(|r| r.rec_per_s).collect(),
                on_rec_per_s: on_rate,
                on_rec_per_s_runs: on.iter().map(|r| r.rec_per_s).collect(),
                ratio: if off_rate > 0.0 {
                    on_rate / off_rate
                } else {
                    0.0
                },
                off_engine_rec_per_s: m(off, |r| r.engine_rec_per_s),
                on_engine_rec_per_s: m(on, |r| r.engine_rec_per_s),
                off_seconds: m(off, |r| r.seconds),
                checkpoints: ck(|c| c.checkpoints as f64),
                last_checkpoint_bytes: ck(|c| c.last_bytes),
                pause_p50_ms: ck(|c| c.pause_p50_ms),
                pause_p99_ms: ck(|c| c.pause_p99_ms),
                runs: on.iter().map(|r| r.checkpoints).collect(),
            }
        })
        .collect();
    Ok(CheckpointScenarioReport {
        id: scenario.id.to_string(),
        title: scenario.title.to_string(),
        records: options.records,
        keys: options.keys,
        rows_out,
        configs,
    })
}

fn rate(records: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        records as f64 / seconds
    } else {
        0.0
    }
}

/// The median (the upper one of an even count); 0 when empty.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The table's header.
pub fn table_header(interval: &str) -> String {
    let h = format!(
        "{:<4} {:<7} {:>10} {:>10} {:>6} {:>6} {:>10} {:>9} {:>9}",
        "id",
        "config",
        "off rec/s",
        format!("{interval} rec/s"),
        "ratio",
        "ckpts",
        "last size",
        "p50 ms",
        "p99 ms"
    );
    let rule = "-".repeat(h.len());
    format!("{h}\n{rule}")
}

/// One line per configuration of `s`.
pub fn table_rows(s: &CheckpointScenarioReport) -> String {
    let mut out = String::new();
    for c in &s.configs {
        let _ = writeln!(
            out,
            "{:<4} {:<7} {:>10} {:>10} {:>6.3} {:>6} {:>10} {:>9.2} {:>9.2}",
            s.id,
            c.config,
            crate::report::human(c.off_rec_per_s),
            crate::report::human(c.on_rec_per_s),
            c.ratio,
            c.checkpoints,
            format!("{:.1} KB", c.last_checkpoint_bytes / 1024.0),
            c.pause_p50_ms,
            c.pause_p99_ms,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SCENARIOS;

    fn scenario(id: &str) -> &'static Scenario {
        SCENARIOS.iter().find(|s| s.id == id).unwrap()
    }

    #[test]
    fn parses_the_checkpoint_line() {
        assert_eq!(
            parse_checkpoint_line(
                "job 'out': 11 checkpoint(s), the last 1.9 KB; pause p50 3.05 ms, p99 3.72 ms"
            ),
            Some(CheckpointLine {
                checkpoints: 11,
                last_bytes: 1.9 * 1024.0,
                pause_p50_ms: 3.05,
                pause_p99_ms: 3.72,
            })
        );
        // With a log prefix, and a size in MB.
        let line = parse_checkpoint_line(
            "2026-12-01T10:00:00Z  INFO velo: job 'out': 1 checkpoint(s), the last 2.5 MB; pause p50 40.00 ms, p99 41.50 ms",
        )
        .unwrap();
        assert_eq!(line.checkpoints, 1);
        assert_eq!(line.last_bytes, 2.5 * 1024.0 * 1024.0);
        assert_eq!((line.pause_p50_ms, line.pause_p99_ms), (40.0, 41.5));
    }

    #[test]
    fn other_lines_are_not_checkpoint_lines() {
        // The job's summary line.
        assert_eq!(
            parse_checkpoint_line("job 'out' (v2): in 1000 = processed 8 + filtered 990 + late dropped 0 + failed 2; late 0; written 8 in 0.120s (8.3K rec/s)"),
            None
        );
        // Another job, a broken count, an unknown unit, a missing p99.
        assert_eq!(
            parse_checkpoint_line(
                "job 'other': 11 checkpoint(s), the last 1.9 KB; pause p50 3.05 ms, p99 3.72 ms"
            ),
            None
        );
        assert_eq!(
            parse_checkpoint_line(
                "job 'out': x checkpoint(s), the last 1.9 KB; pause p50 3.05 ms, p99 3.72 ms"
            ),
            None
        );
        assert_eq!(
            parse_checkpoint_line(
                "job 'out': 11 checkpoint(s), the last 1.9 TB; pause p50 3.05 ms, p99 3.72 ms"
            ),
            None
        );
        assert_eq!(
            parse_checkpoint_line(
                "job 'out': 11 checkpoint(s), the last 1.9 KB; pause p50 3.05 ms"
            ),
            None
        );
        let stderr = "job 'out' (v1): in 3 = processed 3 + filtered 0 + late dropped 0 + failed 0; late 0; written 3 in 0.010s (300 rec/s)\n\
                      job 'out': 2 checkpoint(s), the last 0.5 KB; pause p50 1.00 ms, p99 2.00 ms\n";
        assert_eq!(find_checkpoint_line(stderr).map(|c| c.checkpoints), Some(2));
        assert_eq!(find_checkpoint_line("job 'out' (v1): in 0"), None);
    }

    #[test]
    fn keyed_inputs_have_the_keys_asked_for() {
        use std::collections::HashSet;
        for (id, key_cols) in [("2", vec![0]), ("3a", vec![0, 1])] {
            let s = scenario(id);
            let names = KeyNames::new(s, 5000).unwrap();
            let batch = keyed_batch(s, &names, 0, 20_000).unwrap();
            let keys: HashSet<Vec<String>> = batch
                .rows()
                .map(|r| key_cols.iter().map(|&c| format!("{:?}", r[c])).collect())
                .collect();
            assert_eq!(keys.len(), 5000, "scenario {id}");
            // The same rows at another start: the generator's columns agree.
            let again = keyed_batch(s, &names, 10_000, 10).unwrap();
            assert_eq!(again.row(0), batch.row(10_000));
        }
        // Scenario 3a: every 1-minute window holds 5 records of each key.
        let s = scenario("3a");
        let names = KeyNames::new(s, 1000).unwrap();
        let b = keyed_batch(s, &names, 0, 10_000).unwrap();
        let time = |i: usize| match b.row(i)[4] {
            Value::Int(t) => t,
            ref v => panic!("trade_time {v:?}"),
        };
        assert_eq!(time(0), 1_000_000);
        assert_eq!(time(4_999), 1_000_000 + 59_988);
        assert_eq!(time(5_000), 1_060_000);
        assert!((1..10_000).all(|i| time(i) >= time(i - 1)));
        assert!(KeyNames::new(scenario("0"), 10).is_err());
    }

    #[test]
    fn the_app_sets_the_interval() {
        let s = scenario("3a");
        let sql = e2e::app_sql_with(
            s,
            std::path::Path::new("/tmp/in.csv"),
            std::path::Path::new("/tmp/out.jsonl"),
            "'checkpoint.interval' = '1s'",
        );
        let job = velo_planner::plan_sql(&sql, &Default::default())
            .unwrap_or_else(|e| panic!("{e}\n{sql}"))
            .jobs
            .remove(0);
        assert_eq!(job.config.checkpoint_interval_ms, Some(1000));
        let sql = sql.replace("'1s'", "'off'");
        let job = velo_planner::plan_sql(&sql, &Default::default())
            .unwrap()
            .jobs
            .remove(0);
        assert_eq!(job.config.checkpoint_interval_ms, None);
    }
}
