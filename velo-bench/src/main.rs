//! `velo-bench`: the scenarios on V1 and V2@N side by side, in one process.
//!
//! ```text
//! cargo run --release -p velo-bench -- [--scenario 2,3a] [--records 1000000] [--partitions 1,2] [--runs 3]
//! ```
//!
//! Each configuration runs `--runs` times, interleaved (V1, V2@1, V2@2, V1, ...)
//! so that machine noise hits them alike; the table shows the median throughput.
//! Before timing, one run of each configuration collects its output rows, and the
//! V2 outputs must equal V1's as multisets or the benchmark fails.

use anyhow::{bail, Result};
use clap::Parser;
use velo_bench::runner::{canonical, prepare, run_v1, run_v2, Prepared};
use velo_bench::SCENARIOS;

#[derive(Debug, Parser)]
struct Args {
    /// Scenario ids, comma separated (default: all).
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<String>,
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// V2 partition counts, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    partitions: Vec<usize>,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Skip the V1/V2 output check (for profiling the timed runs alone).
    #[arg(long)]
    no_check: bool,
}

/// `None` is V1, `Some(n)` is V2 with n partitions.
type Config = Option<usize>;

fn run(p: &Prepared, c: Config, keep_rows: bool) -> Result<velo_bench::runner::RunResult> {
    match c {
        None => run_v1(p, keep_rows),
        Some(n) => run_v2(p, n, keep_rows),
    }
}

fn label(c: Config) -> String {
    c.map_or_else(|| "V1".to_string(), |n| format!("V2@{n}"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let configs: Vec<Config> = std::iter::once(None)
        .chain(args.partitions.iter().map(|&n| Some(n)))
        .collect();
    println!(
        "records: {}, batch size: {}, runs: {} (median), cores: {}",
        args.records,
        args.batch_size,
        args.runs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut header = format!("{:<4} {:<32}", "id", "scenario");
    for c in &configs {
        header.push_str(&format!(" {:>12}", format!("{} rec/s", label(*c))));
    }
    header.push_str(&format!(" {:>10} {:>10}", "best/V1", "rows out"));
    println!("{header}");
    for s in SCENARIOS {
        if !args.scenario.is_empty() && !args.scenario.iter().any(|id| id == s.id) {
            continue;
        }
        let p = prepare(s, args.records, args.batch_size)?;
        // Correctness first: every V2 output equals V1's as a multiset.
        let reference = run(&p, None, !args.no_check)?;
        let expected = canonical(reference.rows.unwrap_or_default());
        for c in configs.iter().skip(1).filter(|_| !args.no_check) {
            let got = canonical(run(&p, *c, true)?.rows.unwrap_or_default());
            if got != expected {
                bail!(
                    "scenario {}: {} output differs from V1 ({} rows vs {})",
                    s.id,
                    label(*c),
                    got.len(),
                    expected.len()
                );
            }
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
        let mut rows_out = 0;
        for _ in 0..args.runs {
            for (i, c) in configs.iter().enumerate() {
                let r = run(&p, *c, false)?;
                rows_out = r.rows_out;
                times[i].push(r.throughput(p.records));
            }
        }
        let medians: Vec<f64> = times
            .iter_mut()
            .map(|t| {
                t.sort_by(f64::total_cmp);
                t[t.len() / 2]
            })
            .collect();
        let mut line = format!("{:<4} {:<32}", s.id, s.title);
        for m in &medians {
            line.push_str(&format!(" {:>12}", human(*m)));
        }
        let best = medians[1..].iter().cloned().fold(0.0, f64::max);
        line.push_str(&format!(" {:>9.2}x {:>10}", best / medians[0], rows_out));
        println!("{line}");
    }
    Ok(())
}

fn human(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else {
        format!("{:.0}K", r / 1e3)
    }
}
