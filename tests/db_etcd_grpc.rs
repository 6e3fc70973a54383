//! etcd over its native gRPC API (`--etcd-api grpc`), 3 members started on loopback by
//! `faultline run --target etcd`: linearizable reads stay linearizable through partitions,
//! pauses and kills; serializable reads are caught stale under partitions; and the gRPC and
//! JSON-gateway clients reach the same verdict on the same cluster setup and seed.
//! Partitions need root (network namespaces, docs/targets.md). The outcome rules for
//! unreachable and silent servers are checked against plain loopback sockets.

mod db_common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use workloads::client::{Client, Op, Outcome};
use workloads::target::etcd::grpc::EtcdGrpc;

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

fn write(value: i64) -> Op {
    Op {
        f: "write",
        key: Some(json!(0)),
        value: json!(value),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_grpc_refused_connection_is_fail_for_reads_and_writes() {
    // A port nobody listens on: nothing can have been sent.
    let port = workloads::target::free_port().unwrap();
    let endpoints = Arc::new(vec![format!("http://127.0.0.1:{port}")]);
    let mut c = EtcdGrpc::new(endpoints, Duration::from_secs(2), false);
    c.open(0).await.unwrap();
    let w = c.invoke(&write(1)).await;
    assert!(matches!(w, Outcome::Fail(_)), "{w:?}");
    let read = Op {
        f: "read",
        key: Some(json!(0)),
        value: json!(null),
    };
    let r = c.invoke(&read).await;
    assert!(matches!(r, Outcome::Fail(_)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_grpc_write_without_answer_is_info() {
    // Accepts connections and holds them open without answering (the kernel buffers what
    // the client sends): the write was sent and may have been applied, so it is
    // indeterminate.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let endpoints = Arc::new(vec![format!("http://{addr}")]);
    let mut c = EtcdGrpc::new(endpoints, Duration::from_millis(500), false);
    c.open(0).await.unwrap();
    let w = c.invoke(&write(1)).await;
    assert!(matches!(w, Outcome::Info(_)), "{w:?}");
    silent.abort();
}
