//! crossbeam-channel, 8-byte items, blocking send/recv on plain threads:
//! bounded(1024) is the workload of channel_bench's sluice_blocking_bounded
//! row; unbounded() (crossbeam's list flavour, the design of sluice's
//! unbounded channel: one shared tail claimed per item, FIFO in the order
//! sends take effect) is that of sluice_blocking_unbounded.
//!
//! Usage: crossbeam_anchor [iterations [P C [bounded|unbounded]]]
//!   (default 5 iterations, both shapes 1x1 and 2x2, bounded)
//! Prints one line per shape: `crossbeam P=1 C=1 ns_per_item=... min=... max=...`
//! (`crossbeam-unbounded ...` for the unbounded channel; the mean over
//! iterations, like Google Benchmark's aggregate, plus min and max).
use crossbeam_channel::{bounded, unbounded};
use std::thread;
use std::time::Instant;

const ITEMS: u64 = 1 << 20;
const CAPACITY: usize = 1024;

fn run_once(producers: u64, consumers: u64, is_bounded: bool) -> f64 {
    let (tx, rx) = if is_bounded {
        bounded::<u64>(CAPACITY)
    } else {
        unbounded::<u64>()
    };
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
    let args: Vec<u64> = std::env::args()
        .skip(2)
        .take(2)
        .filter_map(|s| s.parse().ok())
        .collect();
    let is_bounded = match std::env::args().nth(4).as_deref() {
        None | Some("bounded") => true,
        Some("unbounded") => false,
        Some(other) => panic!("unknown flavour {other}: bounded or unbounded"),
    };
    let shapes: Vec<(u64, u64)> = if args.len() == 2 {
        vec![(args[0], args[1])]
    } else {
        vec![(1, 1), (2, 2)]
    };
    for (p, c) in shapes {
        let runs: Vec<f64> = (0..iterations)
            .map(|_| run_once(p, c, is_bounded) * 1e9 / ITEMS as f64)
            .collect();
        let mean = runs.iter().sum::<f64>() / runs.len() as f64;
        let min = runs.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = runs.iter().cloned().fold(0.0, f64::max);
        println!(
            "{} P={} C={} ns_per_item={:.2} min={:.2} max={:.2}",
            if is_bounded {
                "crossbeam"
            } else {
                "crossbeam-unbounded"
            },
            p,
            c,
            mean,
            min,
            max
        );
    }
}
