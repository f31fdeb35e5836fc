//! Raw bcrypt throughput: `bcrypt-raw COST THREADS SECONDS` prints hashes per
//! second over all threads — the physical limit of the reset path.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let [cost, threads, seconds] = args[..] else {
        panic!("usage: bcrypt-raw COST THREADS SECONDS")
    };
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (done, stop) = (done.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    bcrypt::hash("benchmark-password", cost as u32).expect("hash");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    workers.into_iter().for_each(|w| w.join().expect("worker"));
    let elapsed = started.elapsed().as_secs_f64();
    println!("{:.2}", done.load(Ordering::Relaxed) as f64 / elapsed);
}
