//! etcd over its native gRPC API (`--etcd-api grpc`), 3 members started on loopback by
//! `faultline run --target etcd`: linearizable reads stay linearizable through partitions,
//! pauses and kills; serializable reads are caught stale under partitions; and the gRPC and
//! JSON-gateway clients reach the same verdict on the same cluster setup and seed.
//! Partitions need root (network namespaces, docs/targets.md).

mod db_common;

use std::time::Duration;

const ETCD: &str = "/usr/bin/etcd";

/// `faultline run --target etcd --etcd-api API --workload register` plus `args`, bounded.
fn run_etcd(api: &str, args: &[&str]) -> db_common::DbRun {
    let mut all = vec![
        "--target",
        "etcd",
        "--etcd-api",
        api,
        "--workload",
        "register",
    ];
    all.extend_from_slice(args);
    db_common::run(&all, Duration::from_secs(90))
}

/// Serializable reads under partitions (2 keys to concentrate reads and writes).
const STALE_SETUP: [&str; 11] = [
    "--etcd-serializable-reads",
    "--nemesis",
    "partition",
    "--keys",
    "2",
    "--time-limit",
    "20",
    "--nemesis-interval",
    "1",
    "--seed",
    "2",
];

#[test]
fn etcd_grpc_linearizable_reads_stay_valid_under_partition_pause_and_kill() {
    if !db_common::installed(ETCD) {
        return;
    }
    let r = run_etcd(
        "grpc",
        &[
            "--nemesis",
            "partition,pause,kill",
            "--keys",
            "10",
            "--rate",
            "300",
            "--time-limit",
            "15",
            "--seed",
            "1",
            "--nemesis-interval",
            "1",
        ],
    );
    assert_eq!(r.code, 0, "expected valid:\n{}", db_common::head(&r.text));
    assert!(
        r.text.contains("etcd over gRPC") && r.text.contains("valid (cas-register"),
        "{}",
        db_common::head(&r.text)
    );
}

#[test]
fn etcd_grpc_serializable_reads_are_caught_stale_under_partitions() {
    if !db_common::installed(ETCD) {
        return;
    }
    db_common::assert_stale_read(&run_etcd("grpc", &STALE_SETUP));
}

#[test]
fn etcd_grpc_and_json_clients_agree_on_the_same_cluster_setup() {
    if !db_common::installed(ETCD) {
        return;
    }
    // The same setup and seed as the serializable test above, once per API: both find the
    // stale read.
    let mut setup = STALE_SETUP;
    setup[10] = "3";
    let json = run_etcd("json", &setup);
    let grpc = run_etcd("grpc", &setup);
    db_common::assert_stale_read(&json);
    db_common::assert_stale_read(&grpc);
}

#[test]
fn etcd_api_is_refused_for_other_targets() {
    let r = db_common::run(
        &[
            "--target",
            "redis",
            "--etcd-api",
            "grpc",
            "--time-limit",
            "1",
        ],
        Duration::from_secs(30),
    );
    assert_ne!(r.code, 0);
    assert!(
        r.text.contains("--etcd-api applies to --target etcd"),
        "{}",
        r.text
    );
}
