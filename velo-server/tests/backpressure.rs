//! SPEC §5 backpressure: with a deliberately slow sink, V2's bounded queues fill,
//! a partition reports Saturated, the source is held back (memory stays bounded
//! instead of buffering the input), and once the sink speeds up every record
//! arrives, exactly once.
//!
//! The sink is a FIFO that this test reads: slowly at first (small reads with
//! sleeps), then as fast as it can. Every wait has a deadline, so a hang fails
//! the test with a message instead of blocking it forever.

#![cfg(unix)]

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use velo_server::app::{Failure, LoadedApp};
use velo_server::processor::{JobCounters, JobProcessor, Placement, RunOptions, V2Processor};

const RECORDS: u64 = 5_000_000;
/// How much the resident memory may grow while the source is held back.
const RSS_HEADROOM_KB: u64 = 300 * 1024;
/// Records the pipeline may hold between the workers' input and this reader
/// while the sink is slow: a small fraction of the input. An unbounded queue would
/// let the source run far ahead of the sink.
const MAX_IN_FLIGHT: u64 = 1_000_000;
/// `BackpressureState::Saturated.level()`.
const SATURATED: u8 = 3;

/// The resident set size of this process in KiB, where `/proc` tells it.
fn vm_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What the reading side saw.
#[derive(Debug, Default)]
struct Received {
    lines: u64,
    duplicates: u64,
    malformed: Vec<String>,
    seen: Vec<u64>,
}

impl Received {
    fn line(&mut self, line: &[u8]) {
        self.lines += 1;
        let id = line
            .strip_prefix(b"{\"order_id\":")
            .and_then(|rest| {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                std::str::from_utf8(&rest[..digits])
                    .ok()?
                    .parse::<u64>()
                    .ok()
            })
            .filter(|id| *id < RECORDS);
        match id {
            Some(id) => {
                let (word, bit) = ((id / 64) as usize, id % 64);
                if self.seen[word] & (1 << bit) != 0 {
                    self.duplicates += 1;
                }
                self.seen[word] |= 1 << bit;
            }
            None if self.malformed.len() < 5 => self
                .malformed
                .push(String::from_utf8_lossy(line).into_owned()),
            None => {}
        }
    }

    fn missing(&self) -> u64 {
        RECORDS
            - self
                .seen
                .iter()
                .map(|w| u64::from(w.count_ones()))
                .sum::<u64>()
    }
}

/// Reads the FIFO to its end: `slow_chunk` bytes at a time with a pause while
/// `fast` is false, then in large reads. Counts lines into `lines` as it goes.
fn read_fifo(
    path: &Path,
    opened: &AtomicBool,
    fast: &AtomicBool,
    lines: &AtomicU64,
) -> std::io::Result<Received> {
    // Blocks until the sink opens the FIFO for writing.
    let mut fifo = File::open(path)?;
    opened.store(true, Ordering::SeqCst);
    let mut received = Received {
        seen: vec![0; RECORDS.div_ceil(64) as usize],
        ..Received::default()
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let slow = !fast.load(Ordering::Relaxed);
        let want = if slow { 256 } else { buf.len() };
        let n = fifo.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        let before = received.lines;
        while let Some(pos) = pending[start..].iter().position(|b| *b == b'\n') {
            received.line(&pending[start..start + pos]);
            start += pos + 1;
        }
        pending.drain(..start);
        lines.fetch_add(received.lines - before, Ordering::Relaxed);
        if slow {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if !pending.is_empty() {
        received.malformed.push(format!(
            "unterminated last line: {}",
            String::from_utf8_lossy(&pending)
        ));
    }
    Ok(received)
}

/// Waits for `handle` until `deadline`, or panics with `what`.
fn join_by<T>(handle: JoinHandle<T>, deadline: Instant, what: &str) -> T {
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    handle.join().unwrap_or_else(|_| panic!("{what} panicked"))
}

/// Unblocks a reader stuck opening the FIFO (when the processor never opened it).
fn unblock_reader(fifo: &PathBuf) {
    let _ = OpenOptions::new().write(true).open(fifo);
}

/// Raises `rss_max` to the current resident memory.
fn sample_rss(rss_max: &mut Option<u64>) {
    if let (Some(now), Some(max)) = (vm_rss_kb(), rss_max.as_mut()) {
        *max = (*max).max(now);
    }
}

fn worst_backpressure(counters: &JobCounters) -> u8 {
    counters.partitions.get().map_or(0, |ps| {
        ps.iter()
            .map(|p| p.worst_backpressure.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    })
}

#[test]
fn slow_sink_saturates_a_partition_and_memory_stays_bounded() {
    slow_sink(Placement::Dedicated);
}

/// The same with partition 0 run by the router, which then also writes its
/// output: the slow sink holds the router back directly, so the source is held
/// back whether or not a queue fills.
#[test]
fn slow_sink_holds_back_a_router_that_runs_partition_0() {
    slow_sink(Placement::Compact);
}

fn slow_sink(placement: Placement) {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("sink.fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success(), "mkfifo failed");
    let app_path = dir.path().join("app.sql");
    std::fs::write(
        &app_path,
        format!(
            "CREATE STREAM out AS SELECT order_id, total_amount FROM src
             WITH ('src.type' = 'generator_source', 'src.profile' = 'orders',
                   'src.records' = '{RECORDS}',
                   'out.type' = 'file_sink', 'out.path' = 'sink.fifo');"
        ),
    )
    .unwrap();
    let app = LoadedApp::load(&app_path).unwrap_or_else(|f| panic!("the app does not plan: {f:?}"));

    let rss_start = vm_rss_kb();
    let counters = Arc::new(JobCounters::default());
    let processor = {
        let counters = counters.clone();
        std::thread::spawn(move || -> Result<(), Failure> {
            let options = RunOptions {
                batch_size: 1024,
                progress: false,
                stop: Arc::new(AtomicBool::new(false)),
                state_dir: None,
                fresh: false,
                readers: 1,
            };
            let v2 = V2Processor {
                partitions: 2,
                strategy: None,
                placement,
            };
            v2.run(&app, &app.plan.jobs[0], &options, &counters)
        })
    };
    let opened = Arc::new(AtomicBool::new(false));
    let fast = Arc::new(AtomicBool::new(false));
    let lines = Arc::new(AtomicU64::new(0));
    let reader = {
        let (fifo, opened, fast, lines) =
            (fifo.clone(), opened.clone(), fast.clone(), lines.clone());
        std::thread::spawn(move || read_fifo(&fifo, &opened, &fast, &lines))
    };

    // The processor opens the sink: wait for it (or for its early failure).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !opened.load(Ordering::SeqCst) {
        if processor.is_finished() {
            unblock_reader(&fifo);
            let result = processor.join();
            panic!("the processor stopped before opening its sink: {result:?}");
        }
        assert!(
            Instant::now() < deadline,
            "the processor did not open the FIFO sink within 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // Slow phase: the sink crawls; the queues of workers on their own threads
    // must fill up to Saturated. A router that runs partition 0 writes that
    // partition's output itself, so the sink holds it back before the other
    // queues fill: there the held-back phase below is the whole check.
    let mut rss_max = rss_start;
    let deadline = Instant::now() + Duration::from_secs(60);
    while placement == Placement::Dedicated && worst_backpressure(&counters) < SATURATED {
        assert!(
            !processor.is_finished(),
            "the processor finished without any partition reaching Saturated: {:?}",
            counters.snapshot()
        );
        assert!(
            Instant::now() < deadline,
            "no partition reached Saturated within 60 s of a slow sink (worst level {}, {:?})",
            worst_backpressure(&counters),
            counters.snapshot()
        );
        sample_rss(&mut rss_max);
        std::thread::sleep(Duration::from_millis(10));
    }

    // Keep the sink slow a while longer: the source must stay held back, not
    // buffer the input in memory.
    let held_until = Instant::now() + Duration::from_millis(1500);
    let mut in_flight_max = 0;
    while Instant::now() < held_until {
        sample_rss(&mut rss_max);
        let read = counters.read.load(Ordering::Relaxed);
        let got = lines.load(Ordering::Relaxed);
        in_flight_max = in_flight_max.max(read.saturating_sub(got));
        std::thread::sleep(Duration::from_millis(10));
    }
    let read_while_slow = counters.read.load(Ordering::Relaxed);
    assert!(
        read_while_slow < RECORDS,
        "the source read all {RECORDS} records while the sink was slow: nothing held it back"
    );
    assert!(
        in_flight_max < MAX_IN_FLIGHT,
        "up to {in_flight_max} records were held between the workers and the sink (bound {MAX_IN_FLIGHT})"
    );
    if let (Some(start), Some(max)) = (rss_start, rss_max) {
        assert!(
            max < start + RSS_HEADROOM_KB,
            "resident memory grew from {start} KiB to {max} KiB while the sink was slow \
             (bound +{RSS_HEADROOM_KB} KiB)"
        );
    }

    // Fast phase: drain everything.
    fast.store(true, Ordering::Relaxed);
    let received = join_by(
        reader,
        Instant::now() + Duration::from_secs(300),
        "the FIFO reader to reach the end of the output",
    )
    .unwrap_or_else(|e| panic!("reading the FIFO failed: {e}"));
    let result = join_by(
        processor,
        Instant::now() + Duration::from_secs(60),
        "the processor to finish after its sink was drained",
    );
    if let Err(f) = result {
        panic!("the V2 processor failed: {f:?}");
    }

    let report = counters.snapshot();
    assert!(
        received.malformed.is_empty(),
        "malformed output lines: {:?}",
        received.malformed
    );
    assert_eq!(received.lines, RECORDS, "lines read from the FIFO");
    assert_eq!(report.written, RECORDS, "records counted as written");
    assert_eq!(report.read, RECORDS, "records counted as read");
    assert_eq!(received.duplicates, 0, "order ids received twice");
    assert_eq!(received.missing(), 0, "order ids never received");
    let statuses = counters
        .partitions
        .get()
        .expect("V2 sets the partition statuses");
    assert_eq!(statuses.len(), 2, "partitions");
    let records_in: u64 = statuses
        .iter()
        .map(|p| p.records_in.load(Ordering::Relaxed))
        .sum();
    assert_eq!(records_in, RECORDS, "records in, summed over partitions");
    eprintln!(
        "backpressure ({}): in flight at most {in_flight_max} records while slow \
         ({read_while_slow} read by then); RSS {rss_start:?} -> max {rss_max:?} KiB",
        placement.name()
    );
}
