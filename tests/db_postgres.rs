//! PostgreSQL 15 (Debian's postgresql), one server started on loopback by `faultline run
//! --target postgres` (as the unprivileged postgres user when run as root): list-append at
//! read committed shows named anomalies; at serializable it stays valid over several seeds.

mod db_common;

use std::time::Duration;

const INITDB: &str = "/usr/lib/postgresql/15/bin/initdb";

#[test]
fn postgres_read_committed_anomalies_are_named() {
    if !db_common::installed(INITDB) {
        return;
    }
    let r = db_common::run(
        &[
            "--target",
            "postgres",
            "--workload",
            "list-append",
            "--isolation",
            "read-committed",
            "--time-limit",
            "10",
            "--seed",
            "5",
            "--consistency",
            "serializable",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(
        r.code,
        1,
        "expected anomalies:\n{}",
        db_common::head(&r.text)
    );
    let verdict = r.text.lines().find(|l| l.contains("INVALID")).unwrap_or("");
    assert!(
        ["G2-item", "G-single", "lost-update", "G-nonadjacent"]
            .iter()
            .any(|a| verdict.contains(a)),
        "no named anomaly in: {verdict}"
    );
}

#[test]
fn postgres_serializable_stays_valid_over_seeds() {
    if !db_common::installed(INITDB) {
        return;
    }
    for seed in ["11", "12", "13"] {
        let r = db_common::run(
            &[
                "--target",
                "postgres",
                "--workload",
                "list-append",
                "--isolation",
                "serializable",
                "--time-limit",
                "8",
                "--seed",
                seed,
                "--consistency",
                "serializable",
            ],
            Duration::from_secs(120),
        );
        assert_eq!(
            r.code,
            0,
            "seed {seed}: expected valid:\n{}",
            db_common::head(&r.text)
        );
    }
}
