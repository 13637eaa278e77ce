//! crossbeam-channel bounded(1024), 8-byte items, blocking send/recv on plain
//! threads: the workload of channel_bench's sluice_blocking_bounded row.
//!
//! Usage: crossbeam_anchor [iterations [P C]]   (default 5, both shapes 1x1 and 2x2)
//! Prints one line per shape: `crossbeam P=1 C=1 ns_per_item=... min=... max=...`
//! (mean over iterations, like Google Benchmark's aggregate, plus min and max).
use crossbeam_channel::bounded;
use std::thread;
use std::time::Instant;

const ITEMS: u64 = 1 << 20;
const CAPACITY: usize = 1024;

fn run_once(producers: u64, consumers: u64) -> f64 {
    let (tx, rx) = bounded::<u64>(CAPACITY);
    let start = Instant::now();
    let mut handles = Vec::new();
    let mut consumed = Vec::new();
    for _ in 0..consumers {
        let rx = rx.clone();
        consumed.push(thread::spawn(move || {
            let mut got = 0u64;
            while rx.recv().is_ok() {
                got += 1;
            }
            got
        }));
    }
    drop(rx);
    for _ in 0..producers {
        let tx = tx.clone();
        handles.push(thread::spawn(move || {
            for i in 0..ITEMS / producers {
                tx.send(i).unwrap();
            }
        }));
    }
    drop(tx);
    for h in handles {
        h.join().unwrap();
    }
    let total: u64 = consumed.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(total, ITEMS, "items lost");
    secs
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let args: Vec<u64> = std::env::args().skip(2).filter_map(|s| s.parse().ok()).collect();
    let shapes: Vec<(u64, u64)> = if args.len() == 2 {
        vec![(args[0], args[1])]
    } else {
        vec![(1, 1), (2, 2)]
    };
    for (p, c) in shapes {
        let runs: Vec<f64> = (0..iterations)
            .map(|_| run_once(p, c) * 1e9 / ITEMS as f64)
            .collect();
        let mean = runs.iter().sum::<f64>() / runs.len() as f64;
        let min = runs.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = runs.iter().cloned().fold(0.0, f64::max);
        println!(
            "crossbeam P={} C={} ns_per_item={:.2} min={:.2} max={:.2}",
            p, c, mean, min, max
        );
    }
}
