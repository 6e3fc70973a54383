//! PostgreSQL 15 streaming replication (`faultline run --target postgres --replicas N`): a
//! primary and hot-standby replicas started on loopback, writes on the primary, reads on a
//! replica. Asynchronous replication serves stale reads (invalid, the stale read shown);
//! `--synchronous-commit remote_apply` with one replica stays valid over several seeds and
//! through partitions of the replication link and pauses; flags that need replicas are refused
//! without them.

mod db_common;

use std::time::Duration;

const BASEBACKUP: &str = "/usr/lib/postgresql/15/bin/pg_basebackup";

/// One bounded run (startup ≈ 3 s, the main phase, the check).
fn run(args: &[&str]) -> db_common::DbRun {
    let mut all = vec!["--target", "postgres", "--workload", "register"];
    all.extend_from_slice(args);
    db_common::run(&all, Duration::from_secs(60))
}

#[test]
fn async_replica_reads_are_stale() {
    if !db_common::installed(BASEBACKUP) {
        return;
    }
    let r = run(&[
        "--replicas",
        "2",
        "--read-from",
        "replica",
        "--time-limit",
        "5",
        "--seed",
        "1",
    ]);
    db_common::assert_stale_read(&r);
    // The read that could not be linearized is named, with the newer state it missed.
    assert!(
        r.text.contains("could not linearize") && r.text.contains(": read →"),
        "{}",
        db_common::head(&r.text)
    );
    assert!(
        r.text.contains("synchronous_commit local"),
        "{}",
        db_common::head(&r.text)
    );
}

#[test]
fn remote_apply_replica_reads_stay_valid_over_seeds() {
    if !db_common::installed(BASEBACKUP) {
        return;
    }
    for seed in ["11", "12", "13"] {
        let r = run(&[
            "--replicas",
            "1",
            "--read-from",
            "replica",
            "--synchronous-commit",
            "remote_apply",
            "--time-limit",
            "4",
            "--seed",
            seed,
        ]);
        assert_eq!(
            r.code,
            0,
            "seed {seed}: expected valid:\n{}",
            db_common::head(&r.text)
        );
    }
}

#[test]
fn remote_apply_stays_valid_through_replication_partitions_and_pauses() {
    if !db_common::installed(BASEBACKUP) {
        return;
    }
    let r = run(&[
        "--replicas",
        "1",
        "--read-from",
        "replica",
        "--synchronous-commit",
        "remote_apply",
        "--nemesis",
        "partition,pause",
        "--nemesis-interval",
        "1",
        "--nemesis-hold",
        "2",
        "--time-limit",
        "10",
        "--seed",
        "4",
    ]);
    assert_eq!(r.code, 0, "expected valid:\n{}", db_common::head(&r.text));
    assert!(
        r.text.contains("nemesis start-partition") || r.text.contains("nemesis pause"),
        "no fault was injected:\n{}",
        db_common::head(&r.text)
    );
    assert!(r.text.contains("healed:"), "{}", db_common::head(&r.text));
}

#[test]
fn kv_on_the_primary_is_valid() {
    if !db_common::installed(BASEBACKUP) {
        return;
    }
    let r = db_common::run(
        &[
            "--target",
            "postgres",
            "--workload",
            "kv",
            "--replicas",
            "1",
            "--read-from",
            "primary",
            "--time-limit",
            "4",
            "--seed",
            "2",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(r.code, 0, "expected valid:\n{}", db_common::head(&r.text));
}

/// Runs `faultline run ARGS` that must be refused before any server starts.
fn refused(args: &[&str], message: &str) {
    let store = tempfile::tempdir().expect("a temp dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .args(args)
        .arg("--store")
        .arg(store.path())
        .output()
        .expect("faultline runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{args:?}: {err}");
    assert!(err.contains(message), "{args:?}: {err}");
}

#[test]
fn replica_flags_without_replicas_are_refused() {
    let pg = ["--target", "postgres"];
    let with = |extra: &[&'static str]| [&pg[..], extra].concat();
    refused(&with(&["--read-from", "replica"]), "--replicas 1 or more");
    refused(
        &with(&["--synchronous-commit", "remote_apply"]),
        "--replicas 1 or more",
    );
    refused(
        &with(&["--replicas", "1", "--workload", "list-append"]),
        "register or kv",
    );
    refused(&with(&["--nemesis", "partition"]), "partition is available");
    // PostgreSQL counts its servers with --replicas: --local-nodes is another target's flag.
    refused(
        &with(&["--replicas", "1", "--local-nodes", "2"]),
        "--local-nodes applies to --target etcd, redis, not postgres",
    );
}
