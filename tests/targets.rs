//! The target registry at the command line: flags of another target are refused with exit 254
//! naming the flag and the targets it belongs to (issue 22 item 8), and a server that is not
//! installed is a usage/environment error (254) naming the Debian package, never an internal
//! error (255). Nothing here starts a server.

use assert_cmd::Command;
use predicates::prelude::*;

fn run(store: &tempfile::TempDir, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .args(args)
        .args(["--time-limit", "1"])
        .arg("--store")
        .arg(store.path())
        .timeout(std::time::Duration::from_secs(60))
        .assert()
}

#[test]
fn flags_of_another_target_are_refused_naming_the_flag_and_its_targets() {
    let store = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--target", "demo", "--etcd-api", "grpc"],
            "--etcd-api applies to --target etcd, not demo",
        ),
        (
            &["--target", "demo", "--read-from", "replica"],
            "--read-from applies to --target redis, postgres, not demo",
        ),
        (
            &["--target", "demo", "--replicas", "2"],
            "--replicas applies to --target postgres, not demo",
        ),
        (
            &["--target", "demo", "--synchronous-commit", "remote_apply"],
            "--synchronous-commit applies to --target postgres, not demo",
        ),
        (
            &["--target", "demo", "--rabbitmq-durable", "false"],
            "--rabbitmq-durable applies to --target rabbitmq, not demo",
        ),
        (
            &["--target", "demo", "--isolation", "serializable"],
            "--isolation applies to --target postgres, not demo",
        ),
        (
            &["--target", "demo", "--etcd-serializable-reads"],
            "--etcd-serializable-reads applies to --target etcd, not demo",
        ),
        (
            &["--target", "local", "--etcd-serializable-reads"],
            "--etcd-serializable-reads applies to --target etcd, not local",
        ),
        (
            &[
                "--target",
                "http-kv",
                "--nodes",
                "127.0.0.1:9",
                "--etcd-serializable-reads",
            ],
            "--etcd-serializable-reads applies to --target etcd, not http-kv",
        ),
        (
            &["--target", "demo", "--nodes", "127.0.0.1:9"],
            "--nodes applies to --target http-kv, etcd, redis, postgres, rabbitmq, not demo",
        ),
        (
            &["--target", "redis", "--replicas", "3"],
            "--replicas applies to --target postgres, not redis",
        ),
        (
            &["--target", "etcd", "--mode", "async"],
            "--mode applies to --target demo, not etcd",
        ),
        (
            &["--target", "local", "--local-nodes", "2"],
            "--local-nodes applies to --target etcd, redis, not local",
        ),
    ];
    for (args, expected) in cases {
        run(&store, args)
            .code(254)
            .stderr(predicate::str::contains(*expected));
    }
    // Nothing was started, so no run directory was made.
    assert_eq!(std::fs::read_dir(store.path()).unwrap().count(), 0);
}

#[test]
fn a_missing_server_binary_exits_254_naming_the_debian_package() {
    // FAULTLINE_PROGRAM_DIRS points the program lookup at an empty directory: no server is
    // found, as on a machine without the packages.
    let nowhere = tempfile::tempdir().unwrap();
    for (target, package) in [
        ("etcd", "etcd-server"),
        ("redis", "redis-server"),
        ("postgres", "postgresql-15"),
    ] {
        let store = tempfile::tempdir().unwrap();
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["run", "--target", target, "--time-limit", "1"])
            .arg("--store")
            .arg(store.path())
            .env("FAULTLINE_PROGRAM_DIRS", nowhere.path())
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(254)
            .stderr(
                predicate::str::contains(format!("apt-get install {package}"))
                    .and(predicate::str::contains("internal error").not()),
            );
    }
}

/// The worked example of a target (`workloads/src/target/amnesiac/`, one folder plus one
/// registry line) through the whole run: the generic nemesis kills it (it forgets every
/// acknowledged write), so the history is invalid; without faults it is valid; faults it has
/// no primitive for are refused before the run.
#[test]
fn the_amnesiac_target_loses_acknowledged_writes_when_killed() {
    let store = tempfile::tempdir().unwrap();
    let common = [
        "--target",
        "amnesiac",
        "--seed",
        "3",
        "--nemesis-interval",
        "0.3",
        "--nemesis-hold",
        "0.3",
        "--rate",
        "200",
        "--keys",
        "2",
    ];
    let killed = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .args(common)
        .args(["--nemesis", "kill", "--time-limit", "2"])
        .arg("--store")
        .arg(store.path())
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(1);
    let out = String::from_utf8_lossy(&killed.get_output().stdout).to_string();
    assert!(out.contains("faults:"), "{out}");
    let history =
        std::fs::read_to_string(store.path().join("latest").join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""f":"kill","value":"n1""#),
        "no kill recorded"
    );
    assert!(
        history.contains(r#""f":"restart","value":"n1""#),
        "no restart recorded"
    );
    run(&store, &["--target", "amnesiac", "--seed", "3"]).code(0);
    run(&store, &["--target", "amnesiac", "--nemesis", "pause"])
        .code(254)
        .stderr(predicate::str::contains("kill only, not pause"));
}

/// Issue 22 items 6 and 9: where the results go is checked before the run (254, nothing run),
/// and a rate or operation limit of 0 is refused rather than meaning "unlimited".
#[test]
fn unusable_result_paths_and_zero_limits_are_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    let refused = |args: &[&str], expected: &str| {
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["run", "--target", "local", "--time-limit", "1"])
            .args(args)
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(254)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(expected));
    };
    refused(&["--store", file.to_str().unwrap()], "is not a directory");
    refused(
        &["--store", store, "--junit", "/nonexistent/j.xml"],
        "/nonexistent/j.xml",
    );
    refused(&["--store", store, "--rate", "0"], "positive number");
    refused(&["--store", store, "--ops", "0"], "--ops");
    // Nothing ran: no run directory was made.
    let runs = std::fs::read_dir(store).map(|d| d.count()).unwrap_or(0);
    assert_eq!(runs, 0);
}
