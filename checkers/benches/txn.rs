//! Throughput of the list-append checker on generated histories that are strict-serializable
//! by construction (`checkers::testing::txn_history`): 10k, 100k and 1M transactions, up to 32 processes,
//! 10–100 active keys. Criterion reports time per check; the element throughput is
//! transactions per second. Only the check is timed (the operations are paired beforehand).
//!
//! `FAULTLINE_TXN_BENCH_WRITE=DIR cargo bench -p checkers --bench txn` instead writes the same
//! histories as JSON lines to `DIR/list-append-<n>.jsonl`, to time the CLI end to end (with
//! `/usr/bin/time -v` for peak memory). `FAULTLINE_TXN_BENCH_RSS=1` checks each size once and
//! prints the time and the peak heap memory the check itself allocated (counted by a wrapping
//! global allocator). `FAULTLINE_TXN_BENCH_MAX=N` skips sizes
//! above N.

use checkers::history::{pair, write_json_lines};
use checkers::testing::check_list_append;
use checkers::testing::{txn_history as history, TxnSpec};
use checkers::CheckOptions;
use checkers::Validity;
use criterion::{BenchmarkId, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

fn specs() -> Vec<(&'static str, TxnSpec)> {
    let max: usize = std::env::var("FAULTLINE_TXN_BENCH_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let spec = |txns, processes, keys, seed| TxnSpec {
        processes,
        keys,
        ..TxnSpec::list_append(txns, seed)
    };
    vec![
        ("10k-txns-8-procs-10-keys", spec(10_000, 8, 10, 1)),
        ("100k-txns-16-procs-50-keys", spec(100_000, 16, 50, 2)),
        ("1m-txns-32-procs-100-keys", spec(1_000_000, 32, 100, 3)),
    ]
    .into_iter()
    .filter(|(_, s)| s.txns <= max)
    .collect()
}

fn main() {
    if let Ok(dir) = std::env::var("FAULTLINE_TXN_BENCH_WRITE") {
        std::fs::create_dir_all(&dir).expect("create the output directory");
        for (_, spec) in specs() {
            let path = format!("{dir}/list-append-{}.jsonl", spec.txns);
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
            write_json_lines(&history(&spec), &mut out).expect("write");
            eprintln!("wrote {path}");
        }
        return;
    }
    if std::env::var_os("FAULTLINE_TXN_BENCH_RSS").is_some() {
        for (name, spec) in specs() {
            let ops = pair(&history(&spec)).expect("generated histories pair");
            let before = LIVE.load(Relaxed);
            PEAK.store(before, Relaxed);
            let started = std::time::Instant::now();
            let r = check_list_append(
                "generated",
                &ops,
                &CheckOptions::default(),
                &CheckOptions::default().budget(),
            )
            .expect("check");
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(r.valid, Validity::Valid, "{name} is valid by construction");
            let extra = PEAK.load(Relaxed).saturating_sub(before);
            println!(
                "{name}: {:.3} s, {:.0} txn/s, input (paired operations) {} MB, peak heap of the check {} MB ({} bytes/txn)",
                secs,
                spec.txns as f64 / secs,
                before >> 20,
                extra >> 20,
                extra / spec.txns
            );
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("list-append");
    group.sample_size(10);
    let opts = CheckOptions::default();
    for (name, spec) in specs() {
        let ops = pair(&history(&spec)).expect("generated histories pair");
        let r = check_list_append("generated", &ops, &opts, &opts.budget()).expect("check");
        assert_eq!(r.valid, Validity::Valid, "{name} is valid by construction");
        group.throughput(Throughput::Elements(spec.txns as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &ops, |b, ops| {
            b.iter(|| check_list_append("generated", ops, &opts, &opts.budget()).expect("check"))
        });
    }
    group.finish();
    c.final_summary();
}

/// Bytes currently allocated, and the peak since last reset.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes.
struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;
