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

/// PostgreSQL 15 at SERIALIZABLE: valid, except for the one anomaly PostgreSQL itself has been
/// seen to allow with `INSERT … ON CONFLICT DO UPDATE` appends — a G2-item (two anti-dependency
/// edges; seen in about 1 of 70 of these 8-second runs, with the histories inspected: the
/// operations as recorded admit no serial order, see docs/targets.md). Any other anomaly, or a
/// G2-item together with others, fails the test. A failure keeps its store (path printed).
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
        if r.code == 1 && only_g2_item(&r.text) {
            eprintln!(
                "seed {seed}: PostgreSQL allowed a G2-item at SERIALIZABLE (docs/targets.md):\n{}",
                db_common::head(&r.text)
            );
            continue;
        }
        assert_eq!(
            r.code,
            0,
            "seed {seed}: expected valid:\n{}",
            db_common::head(&r.text)
        );
    }
}

/// True when the run's verdict line names exactly one anomaly, G2-item
/// (`…: INVALID — G2-item (list-append, …)`).
fn only_g2_item(text: &str) -> bool {
    text.lines()
        .find_map(|l| l.split_once(": INVALID — ").map(|(_, v)| v))
        .and_then(|v| v.split_once(" ("))
        .is_some_and(|(anomalies, _)| anomalies == "G2-item")
}

/// Run as root from a home directory of mode 0700 (so the default `./store` sits under it):
/// the postgres user cannot reach a data directory under the store, so faultline puts the
/// data in a temporary directory, says where in run.log, and removes it at the end.
#[test]
fn postgres_runs_with_the_store_under_a_0700_directory() {
    use std::os::unix::fs::PermissionsExt;
    if !db_common::installed(INITDB) {
        return;
    }
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("SKIPPED: not root (PostgreSQL then runs as this user, who owns the store)");
        return;
    }
    let home = db_common::Store::new();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let store = home.path().join("store");
    let r = db_common::run_in(
        &store,
        &[
            "--target",
            "postgres",
            "--workload",
            "list-append",
            "--time-limit",
            "3",
            "--seed",
            "11",
            "--consistency",
            "serializable",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(r.code, 0, "{}", db_common::head(&r.text));
    let log = std::fs::read_to_string(store.join("latest").join("run.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("postgres data directories in "))
        .unwrap_or_else(|| panic!("run.log does not say where the data went:\n{log}"));
    assert!(line.contains("cannot reach"), "{line}");
    let moved = line
        .split("postgres data directories in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    assert!(
        !std::path::Path::new(moved).exists(),
        "{moved} was not removed at the end"
    );
}
