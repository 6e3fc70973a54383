//! File corruption (`--nemesis corrupt`, Jepsen's file nemesis) on the demo store's real node
//! processes: kill → corrupt a file the target names → restart. Truncating the tail of a
//! minority node's sync-mode log loses entries that node had acknowledged; Raft re-replicates
//! them from the majority, so the history stays linearizable — and the corruption is recorded
//! (which node, which file, how many bytes cut), seen by the store (it cuts the torn record on
//! recovery) and healed. Cutting a node's term/vote file (`meta.json`) makes the node refuse to
//! start: faultline records the failed restart and reports the run NOT healed. Targets that
//! name no files refuse the fault before the run (254, naming target and fault), and a file
//! the target does not name is refused with the names it has. Real databases under the same
//! fault (Redis's AOF, etcd's WAL and database): tests/db_corrupt.rs.

mod common;

use common::bounded::run_bounded;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn faultline() -> Command {
    Command::new(common::faultline())
}

fn latest(store: &Path) -> PathBuf {
    std::fs::canonicalize(store.join("latest")).expect("a store/latest link")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn history(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn truncating_a_minority_nodes_sync_log_stays_linearizable_recorded_and_healed() {
    let started = Instant::now();
    let store = tempfile::tempdir().unwrap();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "demo", "--mode", "sync", "--seed", "3"])
            .args(["--nemesis", "corrupt", "--corrupt", "truncate=100"])
            .args(["--time-limit", "8", "--nemesis-interval", "0.5"])
            .args(["--nemesis-hold", "1", "--concurrency", "6"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(90),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("corrupt ×"),
        "summary counts corruptions: {stdout}"
    );
    assert!(stdout.contains("healed: every node hears"), "{stdout}");
    let dir = latest(store.path());
    let ops = history(&dir);
    // Completions of `corrupt` carry what was done; each node corrupted is restarted after.
    let done: Vec<&Value> = ops
        .iter()
        .filter(|o| o["f"] == "corrupt" && o["value"].get("cut").is_some())
        .collect();
    assert!(done.len() >= 2, "at least two corruptions: {done:?}");
    for d in &done {
        let v = &d["value"];
        assert_eq!(v["file"], "log.bin");
        assert_eq!(v["kind"], "truncate");
        assert!(v["cut"].as_u64().unwrap() > 0, "bytes were cut: {v}");
        let after = ops
            .iter()
            .skip_while(|o| o["index"] != d["index"])
            .find(|o| o["f"] == "restart" && o["value"] == v["node"]);
        assert!(
            after.is_some(),
            "{} restarted after its corruption",
            v["node"]
        );
    }
    // The store saw the damage: the node cut the torn record when it recovered.
    let logs: String = (1..=3)
        .map(|i| std::fs::read_to_string(dir.join(format!("n{i}.log"))).unwrap_or_default())
        .collect();
    assert!(
        logs.contains("cutting a torn record"),
        "a restarted node reports the cut log"
    );
    eprintln!(
        "{} corruptions, valid, healed, in {:.1} s",
        done.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn cutting_a_nodes_term_and_vote_file_makes_it_refuse_to_start_and_the_run_not_healed() {
    let store = tempfile::tempdir().unwrap();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "demo", "--mode", "sync", "--seed", "3"])
            .args([
                "--nemesis",
                "corrupt",
                "--corrupt",
                "truncate=8,file=meta.json",
            ])
            .args(["--time-limit", "3", "--nemesis-interval", "0.5"])
            .args(["--nemesis-hold", "1", "--concurrency", "4"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(120),
    );
    let text = describe(&out);
    let dir = latest(store.path());
    let run_log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    assert!(run_log.contains("NOT healed"), "{text}\n{run_log}");
    let ops = history(&dir);
    let cut = ops
        .iter()
        .find(|o| o["f"] == "corrupt" && o["value"].get("cut").is_some())
        .expect("a recorded corruption");
    assert_eq!(cut["value"]["file"], "meta.json");
    let node = cut["value"]["node"].as_str().unwrap().to_string();
    let log = std::fs::read_to_string(dir.join(format!("{node}.log"))).unwrap();
    assert!(
        log.contains("meta.json"),
        "the node names the damaged file: {log}"
    );
    // The failed restart is in the history: the node's restart completes with its error.
    assert!(
        ops.iter().any(|o| o["f"] == "restart"
            && o["value"] == node.as_str()
            && o["error"].as_str().is_some_and(|e| e.contains("meta.json"))),
        "{text}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NOT HEALED"), "{text}");
    // A system left faulty is never a pass: a valid history of an unhealed run exits 2.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["healed"]["ok"], false, "{results}");
    let history_valid = results["results"][0]["valid"] == true;
    let want = if history_valid { 2 } else { 1 };
    assert_eq!(out.status.code(), Some(want), "{text}\n{results}");
}

#[test]
fn corrupt_is_refused_before_the_run_where_the_target_names_no_files() {
    let store = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &[&str]); 10] = [
        (
            &[
                "--target",
                "demo",
                "--mode",
                "async",
                "--nemesis",
                "corrupt",
            ],
            &["--target demo cannot do corrupt", "--mode async"],
        ),
        (
            &["--target", "redis", "--nemesis", "corrupt"],
            &[
                "--target redis cannot do corrupt",
                "without --redis-appendfsync",
                "aof, aof-base",
            ],
        ),
        (
            &[
                "--target",
                "redis",
                "--redis-appendfsync",
                "always",
                "--nemesis",
                "corrupt",
                "--corrupt",
                "truncate=3,file=dump.rdb",
            ],
            &[
                "file=dump.rdb",
                "aof (newest appendonlydir/*.incr.aof), aof-base (newest appendonlydir/*.base.rdb)",
            ],
        ),
        (
            &[
                "--target",
                "etcd",
                "--nemesis",
                "corrupt",
                "--corrupt",
                "bitflip=0.1,file=member/wal",
            ],
            &["file=member/wal", "no directories"],
        ),
        (
            &[
                "--target",
                "etcd",
                "--nemesis",
                "corrupt",
                "--corrupt",
                "truncate=3,file=snap",
            ],
            &[
                "file=snap",
                "wal (newest member/wal/*.wal), db (member/snap/db)",
            ],
        ),
        (
            &[
                "--target",
                "etcd",
                "--ssh-nodes",
                "192.0.2.1,192.0.2.2,192.0.2.3",
                "--nemesis",
                "corrupt",
            ],
            &[
                "--target etcd cannot do corrupt",
                "does not corrupt files on --ssh-nodes hosts",
            ],
        ),
        (
            &["--target", "postgres", "--nemesis", "corrupt"],
            &[
                "--target postgres cannot do corrupt",
                "which of its files matter",
            ],
        ),
        (
            &[
                "--target",
                "demo",
                "--nemesis",
                "corrupt",
                "--corrupt",
                "truncate=3,file=x.db",
            ],
            &["file=x.db", "log.bin, meta.json"],
        ),
        (
            &[
                "--target",
                "demo",
                "--nemesis",
                "kill",
                "--corrupt",
                "truncate=3",
            ],
            &["--corrupt", "add corrupt to --nemesis"],
        ),
        (
            &[
                "--target",
                "demo",
                "--nemesis",
                "corrupt",
                "--corrupt",
                "shred=1",
            ],
            &["--corrupt", "bitflip=P"],
        ),
    ];
    for (args, wanted) in cases {
        let out = run_bounded(
            faultline()
                .arg("run")
                .args(args)
                .arg("--store")
                .arg(store.path()),
            Duration::from_secs(30),
        );
        assert_eq!(out.status.code(), Some(254), "{args:?}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        for w in wanted {
            assert!(err.contains(w), "{args:?}: {w:?} not in {err}");
        }
    }
    assert!(
        std::fs::read_dir(store.path()).unwrap().next().is_none(),
        "nothing started"
    );
}
