//! The end-to-end mode: each scenario runs through the real `velo-server run`
//! binary, from a CSV file to a JSON lines file, so the numbers include what a user
//! pays for: process start, app loading, CSV parsing, JSON serialization and file IO.
//!
//! [`run_e2e`] writes the scenario's input once per (profile, record count) as
//! `WORK_DIR/input-PROFILE-RECORDS.csv` (reused by later runs: a marker file records
//! its size), and for each configuration an app `WORK_DIR/scenario-ID-RECORDS-CONFIG.sql`
//! with a `file_source` (its schema declared, so no type inference) and a JSON lines
//! `file_sink` to `scenario-ID-RECORDS-CONFIG.jsonl`; it runs the binary with
//! `--processor v1` and with `--processor v2 --partitions N` for each N. V1's output
//! is kept; a V2 output is deleted once it matched V1's, kept when it did not.
//! Each run is timed as the whole process's wall time; the job's own summary line
//! (`job 'out' (v2): in N = processed ... ; written ... in 0.512s (...)`) is parsed
//! too, and its counts must add up. Every
//! V2 output must equal V1's as a multiset of lines, or the run is an error.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, ensure, Context, Result};
use velo_types::connector::Format;

use crate::Scenario;

/// Rows generated and written per batch while preparing the input CSV.
const GENERATE_CHUNK: usize = 64 * 1024;

/// The name of the job (and of its sink) in the generated apps.
pub(crate) const JOB: &str = "out";

/// What to run. `partitions` lists V2's partition counts (V1 always runs first).
#[derive(Debug, Clone)]
pub struct E2eOptions {
    pub records: u64,
    pub partitions: Vec<usize>,
    /// `--readers` values each V2 partition count runs with (config `v2@N/RM`);
    /// empty: once, with the server's default.
    pub readers: Vec<usize>,
    /// Where the input CSV, the app files and the outputs go (created if missing).
    pub work_dir: PathBuf,
    /// The `velo-server` binary to run, normally [`default_server_bin`].
    pub server_bin: PathBuf,
}

/// One configuration's run of one scenario.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct E2eResult {
    /// `v1`, or `v2@N` for V2 with N partitions.
    pub config: String,
    /// Input records (the CSV's data rows).
    pub records: u64,
    /// Wall time of the whole `velo-server run` process.
    pub seconds: f64,
    /// `records / seconds`.
    pub rec_per_s: f64,
    /// Lines in the JSON lines output.
    pub rows_out: u64,
    /// A digest of the output as a multiset of lines (order-independent; 32 hex
    /// digits). It is not a SHA: a fixed 128-bit sum of per-line hashes, equal for
    /// any two outputs with the same lines in any order.
    pub output_sha: String,
    /// The job's own time from its summary line (reading, processing and writing;
    /// without process start and app loading).
    pub engine_seconds: f64,
    /// `records / engine_seconds`.
    pub engine_rec_per_s: f64,
    /// The summary line `velo-server` printed for the job.
    pub summary: String,
}

impl E2eOptions {
    /// `records` rows, V2 at each of `partitions`, in `work_dir`, with the release
    /// binary of this workspace.
    pub fn new(records: u64, partitions: Vec<usize>, work_dir: PathBuf) -> E2eOptions {
        E2eOptions {
            records,
            partitions,
            readers: Vec::new(),
            work_dir,
            server_bin: default_server_bin(),
        }
    }
}

/// This workspace's release binary, `target/release/velo-server` (or under
/// `$CARGO_TARGET_DIR` when that is set); it is not built here.
pub fn default_server_bin() -> PathBuf {
    target_dir()
        .join("release")
        .join(format!("velo-server{}", std::env::consts::EXE_SUFFIX))
}

/// The workspace's target folder: `$CARGO_TARGET_DIR` if set (relative to the
/// workspace root), else `target` next to this crate.
pub fn target_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Checks what an end-to-end run needs: partition counts of at least 1, the
/// `velo-server` binary, and a work folder (created).
pub(crate) fn check_setup(partitions: &[usize], server_bin: &Path, work_dir: &Path) -> Result<()> {
    ensure!(
        partitions.iter().all(|&n| n > 0),
        "partition counts must be at least 1, got {:?}",
        partitions
    );
    ensure!(
        server_bin.is_file(),
        "velo-server binary not found at {} (build it with `cargo build --release -p velo-server`)",
        server_bin.display()
    );
    fs::create_dir_all(work_dir).with_context(|| format!("creating {}", work_dir.display()))?;
    Ok(())
}

/// Runs `scenario` end to end on V1, then on V2 at each partition count, and checks
/// that every V2 output equals V1's as a multiset of lines.
pub fn run_e2e(scenario: &Scenario, options: &E2eOptions) -> Result<Vec<E2eResult>> {
    check_setup(&options.partitions, &options.server_bin, &options.work_dir)?;
    let input = prepare_input(scenario, options.records, &options.work_dir)?;

    let readers: Vec<Option<usize>> = if options.readers.is_empty() {
        vec![None]
    } else {
        options.readers.iter().map(|&r| Some(r)).collect()
    };
    let configs = std::iter::once((None, None)).chain(
        options
            .partitions
            .iter()
            .flat_map(|&n| readers.iter().map(move |&r| (Some(n), r))),
    );
    let mut results: Vec<E2eResult> = Vec::new();
    let mut v1_output = PathBuf::new();
    for (partitions, readers) in configs {
        let config = match (partitions, readers) {
            (None, _) => "v1".to_string(),
            (Some(n), None) => format!("v2@{n}"),
            (Some(n), Some(r)) => format!("v2@{n}/R{r}"),
        };
        let stem = format!(
            "scenario-{}-{}-{}",
            scenario.id,
            options.records,
            config.replace(['@', '/'], "-")
        );
        let output = options.work_dir.join(format!("{stem}.jsonl"));
        let app = options.work_dir.join(format!("{stem}.sql"));
        write_app(scenario, &input, &output, &app)?;
        // Every run writes a new file: truncating the last run's output (V1's
        // is kept) would cost the run its page-cache pages.
        let _ = fs::remove_file(&output);
        let readers_arg = readers.map(|r| r.to_string());
        let extra: Vec<&std::ffi::OsStr> = match &readers_arg {
            Some(r) => vec!["--readers".as_ref(), r.as_ref()],
            None => Vec::new(),
        };
        let run = run_server_with(&options.server_bin, &app, partitions, &extra)
            .with_context(|| format!("scenario {} ({config})", scenario.id))?;
        ensure!(
            run.read == options.records,
            "scenario {} ({config}): the job read {} records, expected {}",
            scenario.id,
            run.read,
            options.records
        );
        let digest = digest_lines(&output)?;
        ensure!(
            digest.lines == run.written,
            "scenario {} ({config}): {} lines in {}, but the summary says {} written",
            scenario.id,
            digest.lines,
            output.display(),
            run.written
        );
        let result = E2eResult {
            config,
            records: options.records,
            seconds: run.wall_seconds,
            rec_per_s: rate(options.records, run.wall_seconds),
            rows_out: digest.lines,
            output_sha: digest.hex(),
            engine_seconds: run.engine_seconds,
            engine_rec_per_s: rate(options.records, run.engine_seconds),
            summary: run.summary,
        };
        if let Some(reference) = results.first() {
            if reference.output_sha != result.output_sha || reference.rows_out != result.rows_out {
                bail!(
                    "scenario {}: {} output differs from v1 ({} lines vs {}){}",
                    scenario.id,
                    result.config,
                    result.rows_out,
                    reference.rows_out,
                    first_difference(&v1_output, &output)
                        .map(|d| format!("; {d}"))
                        .unwrap_or_default()
                );
            }
            // Equal to V1's, which stays for inspection: no need to keep this one.
            let _ = fs::remove_file(&output);
        } else {
            v1_output = output;
        }
        results.push(result);
    }
    Ok(results)
}

fn rate(records: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        records as f64 / seconds
    } else {
        0.0
    }
}

/// Writes the scenario's input CSV unless a complete one is already there, and
/// returns its path. Scenarios with the same profile share the file. A
/// scenario joining two streams (5) gets both files: the orders here, the
/// shipments at [`right_path`], half the records each.
pub fn prepare_input(scenario: &Scenario, records: u64, work_dir: &Path) -> Result<PathBuf> {
    if scenario.second_stream.is_some() {
        use crate::interval;
        let (left, right) = interval::per_stream(records);
        let path = work_dir.join(format!("input-interval-{records}.csv"));
        let ls = interval::orders_schema();
        write_csv(&path, records, &ls, left, |s, n| {
            interval::orders(&ls, s, n)
        })?;
        let rs = interval::shipments_schema();
        write_csv(&right_path(&path), records, &rs, right, |s, n| {
            interval::shipments(&rs, s, n)
        })?;
        return Ok(path);
    }
    let path = work_dir.join(format!("input-{}-{records}.csv", scenario.profile_name));
    let generator = velo_io::Generator::new(scenario.profile);
    write_csv(&path, records, generator.schema(), records, |s, n| {
        generator.batch(s, n)
    })?;
    Ok(path)
}

/// Where the second stream of a scenario joining two streams is written:
/// beside its first.
fn right_path(input: &Path) -> PathBuf {
    input.with_extension("shipments.csv")
}

/// Writes `rows` rows of `schema` made by `batch(start, n)` to `path` as CSV,
/// unless a complete file for `records` is already there.
pub(crate) fn write_csv(
    path: &Path,
    records: u64,
    schema: &velo_types::SchemaRef,
    rows: u64,
    batch: impl Fn(u64, usize) -> velo_types::Batch,
) -> Result<()> {
    let marker = path.with_extension("csv.done");
    if let (Ok(meta), Ok(text)) = (fs::metadata(path), fs::read_to_string(&marker)) {
        if text.trim() == marker_text(records, meta.len()) {
            return Ok(());
        }
    }
    let _ = fs::remove_file(&marker);
    let tmp = path.with_extension("csv.tmp");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let label = tmp.display().to_string();
    let mut writer = velo_io::TextWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        &label,
        Format::Csv,
        b',',
        schema.clone(),
    )?;
    let mut start = 0;
    while start < rows {
        let n = GENERATE_CHUNK.min((rows - start) as usize);
        writer.write_batch_sync(&batch(start, n))?;
        start += n as u64;
    }
    writer
        .into_inner()?
        .into_inner()
        .map_err(|e| anyhow!("writing {label}: {}", e.error()))?
        .sync_all()
        .with_context(|| format!("writing {label}"))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming {label}"))?;
    let len = fs::metadata(path)?.len();
    fs::write(&marker, marker_text(records, len))
        .with_context(|| format!("writing {}", marker.display()))?;
    Ok(())
}

fn marker_text(records: u64, bytes: u64) -> String {
    format!("records={records} bytes={bytes}")
}

/// The app that runs `scenario` from `input` (CSV) to `output` (JSON lines):
/// `CREATE STREAM out AS <scenario SQL> WITH (...)`.
pub fn app_sql(scenario: &Scenario, input: &Path, output: &Path) -> String {
    app_sql_with(scenario, input, output, "")
}

/// [`app_sql`] with `extra` job properties (`'checkpoint.interval' = '1s'`,
/// comma separated, no trailing comma) after the connectors' properties.
pub fn app_sql_with(scenario: &Scenario, input: &Path, output: &Path, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(",\n      {extra}")
    };
    if let Some(right) = scenario.second_stream {
        let t = scenario.table;
        return format!(
            "CREATE STREAM {JOB} AS\n{}\nWITH ('{t}.type' = 'file_source', '{t}.path' = '{}', \
             '{t}.format' = 'csv', '{t}.schema' = '{}',\n      \
             '{right}.type' = 'file_source', '{right}.path' = '{}', '{right}.format' = 'csv', '{right}.schema' = '{}',\n      \
             'event.time.field' = 'ts',\n      \
             '{JOB}.type' = 'file_sink', '{JOB}.path' = '{}', '{JOB}.format' = 'jsonl'{extra});\n",
            scenario.sql,
            quote(&input.display().to_string()),
            crate::interval::ORDERS_SCHEMA,
            quote(&right_path(input).display().to_string()),
            crate::interval::SHIPMENTS_SCHEMA,
            quote(&output.display().to_string()),
        );
    }
    let schema = velo_io::generator::profile_schema(scenario.profile);
    let mut decl = String::new();
    for (i, field) in schema.fields().iter().enumerate() {
        if i > 0 {
            decl.push_str(", ");
        }
        let _ = write!(decl, "{} {}", field.name, field.data_type);
    }
    let t = scenario.table;
    // The joined table's file sits beside the input (`lookup_path`).
    let lookup = scenario
        .lookup
        .map(|l| {
            let path = lookup_path(input, &l);
            format!(
                ",\n      {}",
                l.properties(&quote(&path.display().to_string()))
            )
        })
        .unwrap_or_default();
    format!(
        "CREATE STREAM {JOB} AS\n{}\nWITH ('{t}.type' = 'file_source', '{t}.path' = '{}', \
         '{t}.format' = 'csv', '{t}.schema' = '{}',\n      \
         '{JOB}.type' = 'file_sink', '{JOB}.path' = '{}', '{JOB}.format' = 'jsonl'{lookup}{extra});\n",
        scenario.sql,
        quote(&input.display().to_string()),
        quote(&decl),
        quote(&output.display().to_string()),
    )
}

/// Where the table a scenario joins is written: beside its input.
fn lookup_path(input: &Path, lookup: &crate::Lookup) -> PathBuf {
    input.with_file_name(format!("{}-{}.csv", lookup.name, lookup.rows))
}

/// The inside of a single-quoted SQL string.
fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

fn write_app(scenario: &Scenario, input: &Path, output: &Path, app: &Path) -> Result<()> {
    write_app_with(scenario, input, output, app, "")
}

/// [`write_app`] with extra job properties ([`app_sql_with`]).
pub(crate) fn write_app_with(
    scenario: &Scenario,
    input: &Path,
    output: &Path,
    app: &Path,
    extra: &str,
) -> Result<()> {
    let input = std::path::absolute(input)?;
    let output = std::path::absolute(output)?;
    if let Some(l) = scenario.lookup {
        let path = lookup_path(&input, &l);
        fs::write(&path, l.csv()).with_context(|| format!("writing {}", path.display()))?;
    }
    fs::write(app, app_sql_with(scenario, &input, &output, extra))
        .with_context(|| format!("writing {}", app.display()))
}

/// What one `velo-server run` reported.
#[derive(Debug)]
pub(crate) struct ServerRun {
    pub wall_seconds: f64,
    pub summary: String,
    pub read: u64,
    pub written: u64,
    pub engine_seconds: f64,
    /// All it wrote on stderr.
    pub stderr: String,
}

/// [`run_server`] with more arguments after `run APP` (`--state-dir DIR`).
pub(crate) fn run_server_with(
    bin: &Path,
    app: &Path,
    partitions: Option<usize>,
    extra_args: &[&std::ffi::OsStr],
) -> Result<ServerRun> {
    let mut cmd = Command::new(bin);
    cmd.arg("run").arg(app).args(extra_args);
    match partitions {
        None => cmd.args(["--processor", "v1"]),
        Some(n) => cmd.args(["--processor", "v2", "--partitions", &n.to_string()]),
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("starting {}", bin.display()))?;
    let wall_seconds = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "`{} run {}` failed ({}):\n{}",
            bin.display(),
            app.display(),
            out.status,
            stderr.trim_end()
        );
    }
    let summary = stderr
        .lines()
        .find_map(|l| parse_summary(l).map(|s| (l.to_string(), s)))
        .ok_or_else(|| {
            anyhow!(
                "no summary line for job '{JOB}' whose counts add up in:\n{}",
                stderr.trim_end()
            )
        })?;
    let (line, (read, written, engine_seconds)) = summary;
    Ok(ServerRun {
        wall_seconds,
        summary: line,
        read,
        written,
        engine_seconds,
        stderr: stderr.into_owned(),
    })
}

/// `(read, written, seconds)` from
/// `job 'out' (v2): in 1000 = processed 8 + filtered 990 + late dropped 0 + failed 2; late 0; written 8 in 0.120s (8.3K rec/s)`,
/// or `None` when the line is not one, or when its counts do not add up
/// (SPEC §4: every record read is processed, filtered, late and dropped, or
/// failed; `late` counts every late record, so no fewer than `late dropped`).
fn parse_summary(line: &str) -> Option<(u64, u64, f64)> {
    let rest = line.strip_prefix(&format!("job '{JOB}' ("))?;
    let (_, rest) = rest.split_once("): in ")?;
    let (counts, rest) = rest.split_once("; written ")?;
    let (counts, late) = counts.split_once("; late ")?;
    let late: u64 = late.parse().ok()?;
    let (read, parts) = counts.split_once(" = ")?;
    let read: u64 = read.parse().ok()?;
    let mut accounted = 0u64;
    let mut late_dropped = None;
    for part in parts.split(" + ") {
        let (name, n) = part.rsplit_once(' ')?;
        let n = n.parse::<u64>().ok()?;
        if name == "late dropped" {
            late_dropped = Some(n);
        }
        accounted += n;
    }
    if accounted != read || late < late_dropped? {
        return None;
    }
    let (written, rest) = rest.split_once(" in ")?;
    let written = written.split(',').next()?.parse().ok()?;
    let seconds = rest.split_once('s')?.0.parse().ok()?;
    Some((read, written, seconds))
}

#[cfg(test)]
mod summary_tests {
    use super::parse_summary;

    #[test]
    fn a_summary_line_whose_counts_add_up() {
        assert_eq!(parse_summary("warning: something"), None);
        assert_eq!(
            parse_summary("job 'out' (v2): in 1000 = processed 8 + filtered 990 + late dropped 0 + failed 2; late 0; written 8 in 0.120s (8.3K rec/s)"),
            Some((1000, 8, 0.12))
        );
        assert_eq!(
            parse_summary("job 'out' (v1): in 3 = processed 2 + filtered 0 + late dropped 0 + failed 1; late 0; written 2, dlq 1 in 1.500s (2 rec/s)"),
            Some((3, 2, 1.5))
        );
        // Late records processed (`process_all`) are late and processed.
        assert_eq!(
            parse_summary("job 'out' (v1): in 6 = processed 5 + filtered 0 + late dropped 1 + failed 0; late 3; written 4 in 0.010s (600 rec/s)"),
            Some((6, 4, 0.01))
        );
    }

    #[test]
    fn counts_that_do_not_add_up_are_refused() {
        assert_eq!(
            parse_summary("job 'out' (v2): in 1000 = processed 8 + filtered 990 + late dropped 0 + failed 1; late 0; written 8 in 0.120s (8.3K rec/s)"),
            None
        );
        assert_eq!(parse_summary("job 'other' (v2): in 1 = processed 1 + filtered 0 + late dropped 0 + failed 0; late 0; written 1 in 0.1s (1 rec/s)"), None);
        // Fewer late records than late records set aside.
        assert_eq!(
            parse_summary("job 'out' (v1): in 6 = processed 3 + filtered 0 + late dropped 3 + failed 0; late 2; written 3 in 0.010s (600 rec/s)"),
            None
        );
        // The summary form before late records were all counted.
        assert_eq!(
            parse_summary("job 'out' (v1): in 6 = processed 3 + filtered 0 + late 3 + failed 0; written 3 in 0.010s (600 rec/s)"),
            None
        );
    }
}

/// An order-independent digest of a file's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digest {
    pub lines: u64,
    sum: u128,
}

impl Digest {
    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }
}

pub(crate) fn digest_lines(path: &Path) -> Result<Digest> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(256);
    let mut digest = Digest { lines: 0, sum: 0 };
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        digest.lines += 1;
        digest.sum = digest.sum.wrapping_add(line_hash(text));
    }
    // Fold the count in, so that k copies of a line and k copies of another
    // cannot cancel out by wrapping.
    digest.sum = digest
        .sum
        .wrapping_add(u128::from(mix(digest.lines ^ 0x6c62_272e_07bb_0142)));
    Ok(digest)
}

/// Two independent 64-bit hashes of a line (FNV-1a with different bases, each
/// finished with splitmix64), as one 128-bit value.
fn line_hash(bytes: &[u8]) -> u128 {
    const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    // A second odd multiplier and another start, for an independent second hash.
    const PRIME_B: u64 = 0x0000_0100_0000_0193;
    let mut a = FNV_BASIS;
    let mut b = FNV_BASIS.rotate_left(32) ^ bytes.len() as u64;
    for &byte in bytes {
        a = (a ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        b = (b ^ u64::from(byte)).wrapping_mul(PRIME_B);
    }
    (u128::from(mix(a)) << 64) | u128::from(mix(b ^ a.rotate_left(17)))
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// For the error message when two outputs differ: a line that one output has more
/// often than the other (both sorted in memory; only used on failure).
pub(crate) fn first_difference(expected: &Path, actual: &Path) -> Option<String> {
    let read = |p: &Path| -> Option<Vec<String>> {
        let text = fs::read_to_string(p).ok()?;
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort_unstable();
        Some(lines)
    };
    let (a, b) = (read(expected)?, read(actual)?);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => return Some(format!("only in v1: {x}")),
            (Some(x), None) => return Some(format!("only in v1: {x}")),
            (_, Some(y)) => return Some(format!("not in v1: {y}")),
            (None, None) => break,
        }
    }
    None
}

/// Writes `results` as a text table row per configuration (for callers that
/// want a quick print).
pub fn format_results(scenario: &Scenario, results: &[E2eResult]) -> String {
    let mut s = String::new();
    for r in results {
        let _ = writeln!(
            s,
            "{:<4} {:<7} {:>10} records {:>9.3}s {:>12.0} rec/s (engine {:>9.3}s {:>12.0} rec/s) {:>10} rows out",
            scenario.id,
            r.config,
            r.records,
            r.seconds,
            r.rec_per_s,
            r.engine_seconds,
            r.engine_rec_per_s,
            r.rows_out
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SCENARIOS;

    #[test]
    fn every_app_plans_with_a_declared_schema() {
        use velo_types::connector::SourceConfig;
        for s in SCENARIOS {
            let input = Path::new("/tmp/it's in.csv");
            let sql = app_sql(s, input, Path::new("/tmp/out.jsonl"));
            let plan = velo_planner::plan_sql(&sql, &Default::default());
            let mut plan = match plan {
                Ok(plan) => plan,
                Err(e) => panic!("scenario {}: {e}\n{sql}", s.id),
            };
            let job = plan.jobs.remove(0);
            let SourceConfig::File { path, encoding } = job.source.config else {
                panic!("scenario {}: not a file source", s.id);
            };
            assert_eq!(path, input);
            assert_eq!(encoding.format, Format::Csv);
            let expected = if s.second_stream.is_some() {
                let right = job.stream_join.as_ref().expect("a join of two streams");
                assert!(matches!(right.right.config, SourceConfig::File { .. }));
                (*crate::interval::orders_schema()).clone()
            } else {
                velo_io::generator::profile_schema(s.profile)
            };
            assert_eq!(encoding.schema, Some(expected));
        }
    }

    #[test]
    fn names_a_line_that_differs() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "x\ny\nz\n").unwrap();
        fs::write(&b, "z\nx\nw\n").unwrap();
        assert_eq!(first_difference(&a, &b).unwrap(), "not in v1: w");
        fs::write(&b, "z\nx\n").unwrap();
        assert_eq!(first_difference(&a, &b).unwrap(), "only in v1: y");
        fs::write(&b, "z\ny\nx\n").unwrap();
        assert_eq!(first_difference(&a, &b), None);
    }

    #[test]
    fn digest_ignores_order_but_not_content() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            fs::write(&p, text).unwrap();
            digest_lines(&p).unwrap()
        };
        let a = write("a", "{\"x\":1}\n{\"x\":2}\n{\"x\":2}\n");
        let b = write("b", "{\"x\":2}\n{\"x\":1}\n{\"x\":2}\n");
        let c = write("c", "{\"x\":2}\n{\"x\":1}\n{\"x\":1}\n");
        let d = write("d", "{\"x\":2}\n{\"x\":1}\n");
        assert_eq!(a, b);
        assert_eq!(a.lines, 3);
        assert_ne!(a, c);
        assert_ne!(a.hex(), d.hex());
    }
}
