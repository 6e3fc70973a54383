//! Throughput of the linearizability checker on large generated histories that are valid by
//! construction (`checkers::testing::cas_register`): ≥ 100k operations, 8–16 processes. Criterion reports
//! time per check; the element throughput is operations per second.

use checkers::history::Format;
use checkers::registry;
use checkers::testing::{cas_register, RegisterSpec};
use checkers::Validity;
use checkers::{CheckOptions, CheckerKind};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cas-register");
    group.sample_size(10);
    for (name, spec) in [
        (
            "100k-ops-8-procs-1-key",
            RegisterSpec {
                ops: 100_000,
                processes: 8,
                keys: 1,
                values: 5,
                info_per_mille: 5,
                seed: 1,
            },
        ),
        (
            "100k-ops-16-procs-1-key",
            RegisterSpec {
                ops: 100_000,
                processes: 16,
                keys: 1,
                values: 5,
                info_per_mille: 2,
                seed: 2,
            },
        ),
        (
            "200k-ops-16-procs-64-keys",
            RegisterSpec {
                ops: 200_000,
                processes: 16,
                keys: 64,
                values: 5,
                info_per_mille: 5,
                seed: 3,
            },
        ),
    ] {
        let ops = cas_register(&spec);
        let opts = CheckOptions {
            shrink: false,
            ..Default::default()
        };
        let model = registry::find(CheckerKind::Model, "cas-register").unwrap();
        let r = model
            .check_within_options("generated", Format::JsonLines, &ops, &opts)
            .unwrap();
        assert_eq!(r.valid, Validity::Valid, "{name} is valid by construction");
        group.throughput(Throughput::Elements(spec.ops as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &ops, |b, ops| {
            b.iter(|| {
                model
                    .check_within_options("generated", Format::JsonLines, ops, &opts)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
