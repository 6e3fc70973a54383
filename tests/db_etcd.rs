//! etcd 3.4 (Debian's etcd-server), 3 members started on loopback by `faultline run --target
//! etcd`, with members partitioned (network namespaces), paused and killed: linearizable reads
//! stay linearizable; serializable reads (served by one member without quorum) are caught
//! returning stale values.

mod db_common;

use std::time::Duration;

const ETCD: &str = "/usr/bin/etcd";

#[test]
fn etcd_linearizable_reads_stay_valid_under_partition_pause_and_kill() {
    if !db_common::installed(ETCD) {
        return;
    }
    let r = db_common::run(
        &[
            "--target",
            "etcd",
            "--workload",
            "register",
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
        Duration::from_secs(90),
    );
    assert_eq!(r.code, 0, "expected valid:\n{}", db_common::head(&r.text));
    assert!(
        r.text.contains("valid (cas-register"),
        "{}",
        db_common::head(&r.text)
    );
}

#[test]
fn etcd_serializable_reads_are_caught_stale_under_partitions() {
    if !db_common::installed(ETCD) {
        return;
    }
    let r = db_common::run(
        &[
            "--target",
            "etcd",
            "--workload",
            "register",
            "--etcd-serializable-reads",
            "--nemesis",
            "partition",
            "--keys",
            "2",
            "--time-limit",
            "20",
            "--seed",
            "2",
            "--nemesis-interval",
            "1",
        ],
        Duration::from_secs(90),
    );
    db_common::assert_stale_read(&r);
}

#[test]
fn partition_is_refused_for_redis_and_postgres() {
    let r = db_common::run(
        &[
            "--target",
            "redis",
            "--nemesis",
            "partition",
            "--time-limit",
            "1",
        ],
        Duration::from_secs(30),
    );
    assert_ne!(r.code, 0);
    assert!(
        r.text.contains(
            "partition is available for --target etcd, postgres --replicas and rabbitmq (client | broker), not redis"
        ),
        "{}",
        r.text
    );
}
