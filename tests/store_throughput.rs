//! A quick throughput probe of the demo store (not a pass/fail test: ignored by default).
//!
//! `cargo test --release --test store_throughput -- --ignored --nocapture` starts a sync-mode
//! cluster (peer links through the in-test forwarders) and runs 16 keep-alive clients spread
//! over the three nodes for 3 s, half reads and half writes on 100 keys, then prints ops/s.

mod store_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use store_support::Cluster;

fn probe(mode: &'static str) {
    let c = Cluster::start(mode, 3);
    c.wait_leader(&[1, 2, 3], Duration::from_secs(5));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let mut client = c.client(w % 3 + 1);
            client.timeout = Duration::from_secs(1);
            let stop = stop.clone();
            thread::spawn(move || {
                let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                let mut i: u64 = w as u64 * 7919;
                while !stop.load(Ordering::Relaxed) {
                    i = i
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let key = format!("k{}", (i >> 33) % 100);
                    let r = if (i >> 20) % 2 == 0 {
                        client.read(&key)
                    } else {
                        client.write(&key, json!(i % 1000))
                    };
                    let label = match r {
                        Ok((status, _)) => status.to_string(),
                        Err(_) => "error".to_string(),
                    };
                    *counts.entry(label).or_default() += 1;
                }
                counts
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    for w in workers {
        for (k, v) in w.join().expect("worker") {
            *total.entry(k).or_default() += v;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let ok = total.get("200").copied().unwrap_or(0);
    let all: u64 = total.values().sum();
    println!(
        "{mode}: {:.0} ops/s ok ({:.0} ops/s total) over {secs:.1} s, by status: {total:?}",
        ok as f64 / secs,
        all as f64 / secs
    );
}

#[test]
#[ignore = "throughput probe; run by hand with --release --ignored --nocapture"]
fn throughput_probe_sync_16_clients_3s() {
    probe("sync");
}

#[test]
#[ignore = "throughput probe; run by hand with --release --ignored --nocapture"]
fn throughput_probe_async_16_clients_3s() {
    probe("async");
}
