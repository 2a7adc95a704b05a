//! How much this machine stalls a busy thread: one thread per core does nothing
//! but read the clock for 3 s and counts the gaps between two reads longer
//! than 100 us (the thread was descheduled, or the virtual CPU was). Such a
//! gap in a worker holds up every batch routed to it meanwhile, which is what
//! the latency tails of `velo-bench` are made of on a shared machine.
//!
//! `cargo run --release -p velo-bench --example stall_probe`

use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(3);
const GAP: Duration = Duration::from_micros(100);

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            std::thread::spawn(|| {
                let start = Instant::now();
                let mut last = start;
                let mut gaps = Vec::new();
                while last - start < RUN {
                    let now = Instant::now();
                    if now - last > GAP {
                        gaps.push(now - last);
                    }
                    last = now;
                }
                gaps
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let mut gaps = t.join().expect("a probe thread panicked");
        gaps.sort();
        let total: Duration = gaps.iter().sum();
        println!(
            "thread {i}: {} gaps over {} us, {:.2} % of {} s stalled, longest {} us, median {} us",
            gaps.len(),
            GAP.as_micros(),
            100.0 * total.as_secs_f64() / RUN.as_secs_f64(),
            RUN.as_secs(),
            gaps.last().map_or(0, |g| g.as_micros()),
            gaps.get(gaps.len() / 2).map_or(0, |g| g.as_micros()),
        );
    }
}
