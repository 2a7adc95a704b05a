//! `velo-bench`: the scenarios on V1 and V2@N side by side, in one process.
//!
//! ```text
//! cargo run --release -p velo-bench -- [--quick] [--scenario 2,tumbling] [--records 1000000]
//!     [--partitions 1,2] [--runs 3] [--json target/bench/results.json] [--no-check]
//! ```
//!
//! For each scenario, in order:
//!
//! 1. the input is generated in memory (outside every timed region);
//! 2. the check: V1 runs once collecting its rows, then each V2@N, and every V2
//!    output must equal V1's as a multiset, or the benchmark stops with a non-zero
//!    exit (`--no-check` skips the V2 runs of this step);
//! 3. throughput: each configuration runs `--runs` times, interleaved (V1, V2@1,
//!    V2@2, V1, ...) so that machine noise hits them alike; the median counts;
//! 4. latency: each configuration runs `--runs` more times with the input paced
//!    at `--latency-load` (default 0.5) times its median throughput, and the
//!    per-record latency percentiles of the run with the median p95 are reported
//!    (see `runner::run_v2_paced`).
//!
//! The table goes to stdout, a progress bar to stderr (when it is a terminal),
//! and everything to the JSON file.
//!
//! `--checkpoints` runs only the checkpoint comparison instead
//! (`velo_bench::checkpoints`): scenarios 2 and 3a end to end with
//! `--checkpoint-keys` keys, `'checkpoint.interval'` at
//! `--checkpoint-interval` (1s) against `off`, in the JSON's `checkpoints`.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use velo_bench::check::check_outputs;
use velo_bench::latency::LatencySummary;
use velo_bench::report::{
    now_utc, table_header, table_rows, Check, ConfigReport, JoinStateReport, Machine, Report,
    ScenarioReport, Settings,
};
use velo_bench::runner::{
    join_state, prepare, run_v1, run_v1_paced, run_v2, run_v2_paced, PacedOptions, Prepared,
    RunResult,
};
use velo_bench::{Scenario, SCENARIOS};
use velo_server::processor::Placement;

#[derive(Debug, Parser)]
#[command(about = "Velo's scenario benchmark: V1 and V2@N on in-memory input")]
struct Args {
    /// Scenarios by id or name, comma separated (default: all). Names: filter,
    /// rows_window, group_by, tumbling, tumbling_changes.
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<String>,
    /// Input records per scenario [default: 1000000, 200000 with --quick].
    #[arg(long)]
    records: Option<u64>,
    /// V2 partition counts, comma separated [default: 1,<cores>].
    #[arg(long, value_delimiter = ',')]
    partitions: Vec<usize>,
    /// Timed runs per configuration; the median counts [default: 3, 1 with --quick].
    #[arg(long)]
    runs: Option<usize>,
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Fewer records, one run, a shorter latency phase.
    #[arg(long)]
    quick: bool,
    /// Where to write the results.
    #[arg(long, default_value = "target/bench/results.json")]
    json: PathBuf,
    /// Skip the V1/V2 output check (for profiling the timed runs alone).
    #[arg(long)]
    no_check: bool,
    /// Skip the paced latency runs.
    #[arg(long)]
    no_latency: bool,
    /// Input batch size of the latency runs. A record's latency includes its whole
    /// batch's processing, so this bounds it from below; at half load a source
    /// hands over what has arrived rather than waiting for 1,024 rows, so the
    /// latency runs use smaller batches than the throughput runs.
    #[arg(long, default_value_t = 128)]
    latency_batch_size: usize,
    /// Records fed in each latency run [default: --records, 100000 with --quick].
    #[arg(long)]
    latency_records: Option<u64>,
    /// Pacing rate as a share of each configuration's median throughput.
    #[arg(long, default_value_t = 0.5)]
    latency_load: f64,
    /// A fixed pacing rate in records/s for every configuration (overrides --latency-load).
    #[arg(long)]
    rate: Option<f64>,
    /// Input batches at the start of a latency run that are not measured.
    #[arg(long, default_value_t = 10)]
    warmup_batches: usize,
    /// Latency runs: the pacer yields in a loop for this long before each due
    /// time, and sleeps before that (0: only sleep).
    #[arg(long, default_value_t = 300)]
    pacer_spin_us: u64,
    /// V2 in memory: where partition 0 runs: on its own thread (`dedicated`), on
    /// the router's (`compact`), or `auto`: compact on a machine of at most 4
    /// cores with fewer cores than the router and the N workers, as
    /// `velo-server` does.
    #[arg(long, default_value = "auto")]
    placement: Placement,
    /// Only the end-to-end mode (through the velo-server binary and files).
    #[arg(long, conflicts_with = "no_e2e")]
    e2e: bool,
    /// Skip the end-to-end mode (in-memory runs only).
    #[arg(long)]
    no_e2e: bool,
    /// Only the checkpoint comparison: scenarios 2 and 3a end to end with
    /// `--checkpoint-keys` keys, `checkpoint.interval` at `--checkpoint-interval`
    /// against `off`, interleaved, `--runs` each [records default: 9000000].
    #[arg(long, conflicts_with_all = ["e2e", "no_e2e"])]
    checkpoints: bool,
    /// Only the Nexmark queries (`velo-bench/nexmark/`), at V1 and V2@N, with
    /// the generator in-process and on pre-generated events
    /// [json default: target/bench/nexmark.json].
    #[arg(long, conflicts_with_all = ["e2e", "no_e2e", "checkpoints"])]
    nexmark: bool,
    /// `--nexmark`: events of all kinds per run [default: 10000000, 1000000 with --quick].
    #[arg(long)]
    events: Option<u64>,
    /// `--nexmark`: the queries, comma separated (default: every shipped one).
    #[arg(long, value_delimiter = ',')]
    queries: Vec<String>,
    /// `--nexmark`: generating threads per source in the in-process runs,
    /// comma separated [default: 1,2]. End to end: `--readers` of each V2
    /// run, comma separated [default: the server's own].
    #[arg(long, value_delimiter = ',')]
    readers: Vec<usize>,
    /// `--checkpoints`: distinct grouping keys in the input.
    #[arg(long, default_value_t = 100_000)]
    checkpoint_keys: u64,
    /// `--checkpoints`: the `checkpoint.interval` compared with `off`.
    #[arg(long, default_value = "1s")]
    checkpoint_interval: String,
    /// Testing the check itself: alter one value of every V2 output before comparing.
    #[arg(long, hide = true)]
    corrupt_v2_for_test: bool,
}

/// `--checkpoints`' input records per scenario when `--records` is not given:
/// enough for several seconds per run, so several checkpoints at 1 s.
const CHECKPOINT_RECORDS: u64 = 9_000_000;

/// `None` is V1, `Some(n)` is V2 with n partitions.
type Config = Option<usize>;

fn label(c: Config) -> String {
    c.map_or_else(|| "V1".to_string(), |n| format!("V2@{n}"))
}

/// Short names accepted by `--scenario` besides the ids.
const NAMES: &[(&str, &str)] = &[
    ("0", "filter"),
    ("1", "rows_window"),
    ("2", "group_by"),
    ("3a", "tumbling"),
    ("3b", "tumbling_changes"),
    ("4", "join"),
    ("5", "interval_join"),
];

fn select(args: &[String]) -> Result<Vec<&'static Scenario>> {
    if args.is_empty() {
        return Ok(SCENARIOS.iter().collect());
    }
    let mut out = Vec::new();
    for a in args {
        let a = a.trim().to_ascii_lowercase();
        let id = NAMES
            .iter()
            .find(|(id, name)| *id == a || *name == a || name.replace('_', "-") == a)
            .map(|(id, _)| *id);
        match id.and_then(|id| SCENARIOS.iter().find(|s| s.id == id)) {
            Some(s) if !out.contains(&s) => out.push(s),
            Some(_) => {}
            None => {
                let known: Vec<String> = NAMES.iter().map(|(i, n)| format!("{i} ({n})")).collect();
                bail!("unknown scenario '{a}'; known: {}", known.join(", "));
            }
        }
    }
    Ok(out)
}

fn run(p: &Prepared, c: Config, placement: Placement, keep_rows: bool) -> Result<RunResult> {
    match c {
        None => run_v1(p, keep_rows),
        Some(n) => run_v2(p, n, placement, keep_rows),
    }
}

/// Changes one value of `rows` (for testing that the check catches it).
fn corrupt(rows: &mut [Vec<velo_types::Value>]) {
    use velo_types::Value;
    if let Some(v) = rows.last_mut().and_then(|r| r.last_mut()) {
        *v = match v {
            Value::Int(i) => Value::Int(*i + 1),
            Value::Float(f) => Value::Float(*f + 1.0),
            _ => Value::str("corrupted"),
        };
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {wide_msg}",
    ) {
        pb.set_style(style);
    }
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// The end-to-end mode: each scenario from a CSV file through `velo-server run`
/// to a JSON lines file, on V1 and V2 at each partition count.
fn run_end_to_end(
    scenarios: &[&velo_bench::Scenario],
    records: u64,
    partitions: &[usize],
    readers: &[usize],
    json: &std::path::Path,
    report: &mut Report,
) -> Result<()> {
    let server_bin = velo_bench::e2e::default_server_bin();
    if !server_bin.exists() {
        anyhow::bail!(
            "{} is missing: build it with `cargo build --release -p velo-server` (`cargo xtask bench` does)",
            server_bin.display()
        );
    }
    let work_dir = json
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("e2e");
    let options = velo_bench::e2e::E2eOptions {
        records,
        partitions: partitions.to_vec(),
        readers: readers.to_vec(),
        work_dir,
        server_bin,
    };
    println!("\nend to end: velo-server run, CSV file -> JSON lines file, {records} records (whole process time)");
    for s in scenarios {
        let results = velo_bench::e2e::run_e2e(s, &options)?;
        print!("{}", velo_bench::e2e::format_results(s, &results));
        report.end_to_end.push(velo_bench::report::EndToEndReport {
            id: s.id.to_string(),
            title: s.title.to_string(),
            results,
        });
    }
    Ok(())
}

/// The checkpoint comparison (`--checkpoints`).
fn run_checkpoint_comparison(
    scenarios: &[&velo_bench::Scenario],
    options: &velo_bench::checkpoints::CheckpointOptions,
    report: &mut Report,
) -> Result<()> {
    use velo_bench::checkpoints as ck;
    println!(
        "checkpoints: velo-server run, CSV file -> JSON lines file, {} records, {} keys, 'checkpoint.interval' {} against off, {} runs each interleaved (medians, whole process time)",
        options.records, options.keys, options.interval, options.runs
    );
    println!("{}", ck::table_header(&options.interval));
    for s in scenarios {
        let r = ck::run_checkpoints(s, options, |m| eprintln!("{m}"))?;
        print!("{}", ck::table_rows(&r));
        report.checkpoints.push(r);
    }
    Ok(())
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// `--nexmark`: every query, printed and written to `--json` (by default
/// `nexmark.json` beside the scenario results).
fn nexmark(args: &Args, machine: &Machine, partitions: Vec<usize>, runs: usize) -> Result<()> {
    use velo_bench::nexmark::{bench, shipped_queries, NexmarkOptions};
    let options = NexmarkOptions {
        queries: if args.queries.is_empty() {
            shipped_queries()?
        } else {
            args.queries.clone()
        },
        events: args
            .events
            .unwrap_or(if args.quick { 1_000_000 } else { 10_000_000 }),
        partitions,
        runs,
        batch_size: args.batch_size,
        readers: if args.readers.is_empty() {
            vec![1, 2]
        } else {
            args.readers.clone()
        },
    };
    println!(
        "nexmark: {} events, batch size {}, runs: {runs} (median), cores: {} ({}), {}",
        options.events,
        options.batch_size,
        machine.cores,
        machine.arch,
        now_utc()
    );
    let (results, generators) = bench(&options)?;
    let json = if args.json.ends_with("results.json") {
        args.json.with_file_name("nexmark.json")
    } else {
        args.json.clone()
    };
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let report = serde_json::json!({
        "date": now_utc(),
        "machine": machine,
        "events": options.events,
        "batch_size": options.batch_size,
        "runs": runs,
        "results": results,
        "generator": generators,
    });
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    println!("results written to {}", json.display());
    Ok(())
}

fn real_main() -> Result<()> {
    let args = Args::parse();

    let machine = Machine::this();
    let records = args
        .records
        .unwrap_or(if args.quick { 200_000 } else { 1_000_000 });
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let latency_records = args
        .latency_records
        .unwrap_or(if args.quick { 100_000 } else { records })
        .min(records);
    let latency_batch_size = args.latency_batch_size.max(1);
    let mut partitions = if args.partitions.is_empty() {
        vec![1, machine.cores]
    } else {
        args.partitions.clone()
    };
    partitions.retain(|&n| n > 0);
    partitions.dedup();
    if args.nexmark {
        return nexmark(&args, &machine, partitions, runs);
    }
    let scenarios = select(&args.scenario)?;
    if args.checkpoints {
        use velo_bench::checkpoints::{CheckpointOptions, SCENARIO_IDS};
        let scenarios: Vec<&Scenario> = if args.scenario.is_empty() {
            scenarios
                .into_iter()
                .filter(|s| SCENARIO_IDS.contains(&s.id))
                .collect()
        } else {
            if let Some(s) = scenarios.iter().find(|s| !SCENARIO_IDS.contains(&s.id)) {
                bail!("--checkpoints runs scenarios 2 and 3a, not {}", s.id);
            }
            scenarios
        };
        let options = CheckpointOptions {
            records: args.records.unwrap_or(CHECKPOINT_RECORDS),
            keys: args.checkpoint_keys,
            interval: args.checkpoint_interval.clone(),
            partitions: partitions.clone(),
            runs,
            work_dir: args
                .json
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("e2e"),
            server_bin: velo_bench::e2e::default_server_bin(),
        };
        let mut report = Report {
            date: now_utc(),
            machine: machine.clone(),
            settings: Settings {
                records: options.records,
                batch_size: args.batch_size,
                runs,
                partitions,
                quick: args.quick,
                check: true,
                latency_records: 0,
                latency_batch_size,
                latency_load: args.latency_load,
                latency_rate: args.rate,
                warmup_batches: args.warmup_batches,
                pacer_spin_us: args.pacer_spin_us,
                placement: args.placement.name(),
            },
            scenarios: Vec::new(),
            end_to_end: Vec::new(),
            checkpoints: Vec::new(),
        };
        let result = run_checkpoint_comparison(&scenarios, &options, &mut report);
        report.write(&args.json)?;
        result?;
        eprintln!("results written to {}", args.json.display());
        return Ok(());
    }
    let configs: Vec<Config> = std::iter::once(None)
        .chain(partitions.iter().map(|&n| Some(n)))
        .collect();
    let check = !args.no_check;
    let latency = !args.no_latency;

    let mut report = Report {
        date: now_utc(),
        machine: machine.clone(),
        settings: Settings {
            records,
            batch_size: args.batch_size,
            runs,
            partitions: partitions.clone(),
            quick: args.quick,
            check,
            latency_records,
            latency_batch_size,
            latency_load: args.latency_load,
            latency_rate: args.rate,
            warmup_batches: args.warmup_batches,
            pacer_spin_us: args.pacer_spin_us,
            placement: args.placement.name(),
        },
        scenarios: Vec::new(),
        end_to_end: Vec::new(),
        checkpoints: Vec::new(),
    };

    let k = configs.len() as u64;
    let per_scenario =
        1 + if check { k } else { 1 } + runs as u64 * k + if latency { k } else { 0 };
    let pb = progress_bar(per_scenario * scenarios.len() as u64);
    println!(
        "records: {records}, batch size: {}, runs: {runs} (median), cores: {} ({}), latency: {}",
        args.batch_size,
        machine.cores,
        machine.arch,
        if !latency {
            "off".to_string()
        } else if let Some(r) = args.rate {
            format!("{latency_records} records in batches of {latency_batch_size} paced at {r:.0} rec/s, the run with the median p95 of {runs}")
        } else {
            format!(
                "{latency_records} records in batches of {latency_batch_size} paced at {:.0}% of each configuration's rec/s, the run with the median p95 of {runs}",
                args.latency_load * 100.0
            )
        }
    );
    println!("{}", table_header());

    let result = (|| -> Result<()> {
        for s in scenarios.iter().filter(|_| !args.e2e) {
            let step = |what: String| pb.set_message(format!("scenario {}: {what}", s.id));
            step("generating input".into());
            let p = prepare(s, records, args.batch_size)?;
            pb.inc(1);

            // Correctness first: every V2 output equals V1's as a multiset.
            step("V1 reference run".into());
            let reference = run(&p, None, args.placement, check)?;
            pb.inc(1);
            let mut sr = ScenarioReport {
                id: s.id.to_string(),
                title: s.title.to_string(),
                sql: s.sql.to_string(),
                check: Check {
                    status: if check { "passed" } else { "skipped" },
                    detail: None,
                },
                configs: Vec::new(),
                join_state: join_state(&p)?.map(|(end, peak)| JoinStateReport {
                    end_left_rows: end.left,
                    end_right_rows: end.right,
                    end_bytes: end.bytes,
                    peak_left_rows: peak.left,
                    peak_right_rows: peak.right,
                    peak_bytes: peak.bytes,
                }),
            };
            if check {
                let expected = reference.rows.unwrap_or_default();
                for c in configs.iter().skip(1) {
                    step(format!("checking {} against V1", label(*c)));
                    let mut got = run(&p, *c, args.placement, true)?.rows.unwrap_or_default();
                    if args.corrupt_v2_for_test {
                        corrupt(&mut got);
                    }
                    pb.inc(1);
                    if let Err(m) = check_outputs(&expected, &got) {
                        let detail = format!("{} output differs from V1's: {m}", label(*c));
                        sr.check = Check {
                            status: "failed",
                            detail: Some(detail.clone()),
                        };
                        report.scenarios.push(sr);
                        bail!("scenario {}: {detail}", s.id);
                    }
                }
            }

            // Throughput, interleaved.
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
            let mut rows_out = vec![0; configs.len()];
            let mut used = vec![1; configs.len()];
            let mut placed = vec![None; configs.len()];
            for r in 0..runs {
                for (i, c) in configs.iter().enumerate() {
                    step(format!("{} run {}/{runs}", label(*c), r + 1));
                    let res = run(&p, *c, args.placement, false)?;
                    rows_out[i] = res.rows_out;
                    used[i] = res.partitions;
                    placed[i] = res.placement;
                    rates[i].push(res.throughput(p.records));
                    pb.inc(1);
                }
            }
            let medians: Vec<f64> = rates.iter().map(|r| median(r)).collect();
            let v2_1 = configs
                .iter()
                .zip(&used)
                .position(|(c, &u)| c.is_some() && u == 1)
                .map(|i| medians[i]);

            // The latency runs' input: the same, unless batched differently.
            let rebatched = (latency && latency_batch_size != args.batch_size)
                .then(|| prepare(s, latency_records, latency_batch_size))
                .transpose()?;
            let lp = rebatched.as_ref().unwrap_or(&p);
            for (i, c) in configs.iter().enumerate() {
                let lat = if latency {
                    step(format!("{} latency", label(*c)));
                    let rate = args.rate.unwrap_or(medians[i] * args.latency_load);
                    let o = PacedOptions {
                        rate,
                        records: latency_records,
                        warmup_batches: args.warmup_batches,
                        spin: std::time::Duration::from_micros(args.pacer_spin_us),
                        placement: args.placement,
                    };
                    // As many paced runs as timed ones: a run is a fraction of a
                    // second, and one stall of the (shared, virtual) machine can
                    // hold up 5 % of its batches.
                    let mut summaries = Vec::with_capacity(runs);
                    for _ in 0..runs {
                        let run = match c {
                            None => run_v1_paced(lp, &o)?,
                            Some(n) => run_v2_paced(lp, *n, &o)?,
                        };
                        summaries.push(LatencySummary::new(rate, &run));
                    }
                    pb.inc(1);
                    LatencySummary::median_of(summaries)
                } else {
                    None
                };
                sr.configs.push(ConfigReport {
                    config: label(*c),
                    partitions: used[i],
                    placement: placed[i].map(Placement::name),
                    records: p.records,
                    rec_per_s: medians[i],
                    rec_per_s_runs: rates[i].clone(),
                    efficiency: match (c, v2_1) {
                        (Some(_), Some(base)) if base > 0.0 => {
                            Some(medians[i] / (used[i] as f64 * base))
                        }
                        _ => None,
                    },
                    vs_v1: medians[i] / medians[0].max(1e-9),
                    rows_out: rows_out[i],
                    latency: lat,
                });
            }
            pb.suspend(|| {
                for line in table_rows(&sr) {
                    println!("{line}");
                }
                if let Some(j) = &sr.join_state {
                    println!("{}", j.line());
                }
            });
            report.scenarios.push(sr);
        }
        pb.finish_and_clear();
        if !args.no_e2e {
            run_end_to_end(
                &scenarios,
                records,
                &partitions,
                &args.readers,
                &args.json,
                &mut report,
            )?;
        }
        Ok(())
    })();
    report.write(&args.json)?;
    result?;
    eprintln!("results written to {}", args.json.display());
    Ok(())
}
