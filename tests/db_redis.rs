//! Redis 7 (Debian's redis-server), one primary and two replicas started on loopback by
//! `faultline run --target redis`: reads on a replica (asynchronous replication) are caught
//! stale; every operation on the primary, without failover, stays linearizable.

mod db_common;

use std::time::Duration;

const REDIS: &str = "/usr/bin/redis-server";

#[test]
fn redis_replica_reads_are_caught_stale() {
    if !db_common::installed(REDIS) {
        return;
    }
    let r = db_common::run(
        &[
            "--target",
            "redis",
            "--read-from",
            "replica",
            "--workload",
            "register",
            "--time-limit",
            "10",
            "--seed",
            "3",
        ],
        Duration::from_secs(120),
    );
    db_common::assert_stale_read(&r);
}

#[test]
fn redis_primary_reads_stay_valid() {
    if !db_common::installed(REDIS) {
        return;
    }
    let r = db_common::run(
        &[
            "--target",
            "redis",
            "--workload",
            "register",
            "--time-limit",
            "10",
            "--seed",
            "4",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(r.code, 0, "expected valid:\n{}", db_common::head(&r.text));
}
