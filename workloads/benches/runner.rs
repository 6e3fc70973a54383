//! Runner throughput with a client that does nothing: how many operations per second the
//! generator + worker loop + recorder sustain (target ≥ 200k ops/s on 2 cores).
//!
//! Prints ops/s for several worker counts, and, as a same-run baseline, how fast one thread
//! serializes the same number of history lines into memory (the recorder's floor cost).
//! `cargo bench -p workloads --bench runner`

use std::time::{Duration, Instant};
use workloads::client::Noop;
use workloads::generator::WorkloadKind;
use workloads::recorder::Recorder;
use workloads::runner::{run, NoNemesis, Progress, RunConfig};

const OPS: u64 = 400_000;

fn main() {
    let dir = std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Baseline: serializing 2 × OPS lines in one thread, no runner.
    let start = Instant::now();
    let mut buf = Vec::with_capacity(1 << 20);
    for i in 0..2 * OPS {
        let line = serde_json::json!({"index": i, "time": i, "process": i % 8, "type": "invoke",
            "f": "write", "key": i % 3, "value": i, "node": "n1"});
        serde_json::to_writer(&mut buf, &line).unwrap();
        buf.push(b'\n');
        if buf.len() > 1 << 20 {
            buf.clear();
        }
    }
    let baseline = OPS as f64 / start.elapsed().as_secs_f64();
    println!("baseline (serialize 2 lines per op, 1 thread): {baseline:>10.0} ops/s");

    for workers in [1, 8, 32] {
        let path = dir.join("history.jsonl");
        let recorder = Recorder::create(&path).unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let config = RunConfig {
            workload: WorkloadKind::Register,
            keys: 8,
            key_base: 0,
            concurrency: workers,
            nodes: 1,
            time_limit: Duration::from_secs(60),
            op_limit: Some(OPS),
            rate: None,
            seed: 1,
            nemesis_interval: Duration::from_secs(60),
            nemesis_hold: Duration::from_secs(1),
            quiet: Duration::ZERO,
            final_reads: false,
            max_history: None,
        };
        let start = Instant::now();
        rt.block_on(run(
            config,
            |_| Noop,
            NoNemesis,
            recorder.clone(),
            Progress::new(),
            rx,
        ));
        recorder.close().unwrap();
        let secs = start.elapsed().as_secs_f64();
        let rate = OPS as f64 / secs;
        println!(
            "runner, no-op client, {workers:>2} workers: {rate:>10.0} ops/s ({:.2}× baseline)",
            rate / baseline
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
