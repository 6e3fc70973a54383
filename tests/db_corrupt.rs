//! File corruption (`--nemesis corrupt`, Jepsen's file nemesis: kill → corrupt → restart) on
//! real databases faultline starts on loopback, each test asserting what the system did and
//! that faultline's verdict says it:
//!
//! - Redis 7 (`--redis-appendfsync always`, one server): the tail of its incremental AOF cut
//!   off → it starts anyway (`aof-load-truncated yes`, its default), having lost writes it had
//!   acknowledged → the history is not linearizable (exit 1), and the heal's message quotes
//!   Redis's "Truncating the AOF". Bits flipped in the AOF → it refuses to start → the run is
//!   NOT healed, the history valid: exit 2.
//! - etcd (3 members): the tail of one member's newest WAL segment cut off (of what was
//!   written: the segment is preallocated) → the member repairs the torn tail; a follower that
//!   had acknowledged the lost entries then panics (`tocommit … out of range`), a former
//!   leader rejoins. Bits flipped in its bbolt database → it refuses to start (`invalid
//!   database`, `checksum error`). Either way the other two serve on and the history stays
//!   linearizable.

mod db_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use db_common::{installed, run, DbRun};
use serde_json::Value;

/// The run's directory (`STORE/latest`).
fn latest(r: &DbRun) -> PathBuf {
    let store = r.store.as_ref().expect("a store").path();
    std::fs::canonicalize(store.join("latest")).expect("a store/latest link")
}

fn history(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

/// The completions of `corrupt` (they carry what was done: `cut` or `flipped`).
fn corruptions(ops: &[Value]) -> Vec<&Value> {
    ops.iter()
        .filter(|o| {
            o["f"] == "corrupt"
                && (o["value"].get("cut").is_some() || o["value"].get("flipped").is_some())
        })
        .collect()
}

/// The `restart` ops of `node` after line `after` (invocations and completions).
fn restarts_after<'a>(ops: &'a [Value], after: &Value, node: &str) -> Vec<&'a Value> {
    ops.iter()
        .skip_while(|o| o["index"] != after["index"])
        .filter(|o| o["f"] == "restart" && o["value"] == node)
        .collect()
}

/// Whether an operation of a client (not the nemesis) succeeded after line `after`.
fn ok_after(ops: &[Value], after: &Value) -> bool {
    ops.iter()
        .skip_while(|o| o["index"] != after["index"])
        .any(|o| o["process"] != "nemesis" && o["type"] == "ok")
}

/// Runs one local Redis server with the AOF fsynced before every reply, under corruption.
fn run_redis(corrupt: &str) -> DbRun {
    run(
        &[
            "--target",
            "redis",
            "--local-nodes",
            "1",
            "--redis-appendfsync",
            "always",
            "--nemesis",
            "corrupt",
            "--corrupt",
            corrupt,
            "--seed",
            "1",
            "--time-limit",
            "3",
            "--nemesis-interval",
            "1",
            "--nemesis-hold",
            "1",
        ],
        Duration::from_secs(90),
    )
}

#[test]
fn redis_with_its_aof_tail_cut_starts_having_lost_acknowledged_writes_and_the_verdict_says_so() {
    if !installed("/usr/bin/redis-server") {
        return;
    }
    let started = Instant::now();
    let r = run_redis("truncate=1000");
    eprintln!("redis aof truncated: {:?}", started.elapsed());
    let dir = latest(&r);
    let ops = history(&dir);
    let done = corruptions(&ops);
    let first = done
        .first()
        .unwrap_or_else(|| panic!("no corruption:\n{}", r.text));
    let v = &first["value"];
    assert_eq!(v["file"], "aof", "{v}");
    assert_eq!(v["cut"], 1000, "{v}");
    let path = v["path"].as_str().unwrap();
    assert!(
        path.starts_with("appendonlydir/appendonly.aof.") && path.ends_with(".incr.aof"),
        "the newest incremental AOF: {path}"
    );
    // Redis started on the damaged file (the restart completed without an error) …
    let restarts = restarts_after(&ops, first, "n1");
    assert!(
        restarts
            .iter()
            .any(|o| o["type"] == "info" && o.get("error").is_none())
            && restarts.len() >= 2,
        "n1 restarted: {restarts:?}\n{}",
        r.text
    );
    let log = std::fs::read_to_string(dir.join("n1.log")).unwrap();
    assert!(log.contains("Truncating the AOF"), "{log}");
    assert!(log.contains("aof-load-truncated"), "{log}");
    // … having lost writes it had acknowledged: the history says so, and exit 1.
    assert_eq!(r.code, 1, "{}", r.text);
    assert!(r.text.contains("not linearizable"), "{}", r.text);
    let res = results(&dir);
    assert_eq!(res["results"][0]["valid"], false, "{res}");
    assert_eq!(res["healed"]["ok"], true, "{res}");
    let healed = res["healed"]["message"].as_str().unwrap();
    assert!(
        healed.contains("n1 came back saying: Truncating the AOF"),
        "the heal quotes Redis: {healed}"
    );
}

#[test]
fn redis_with_bits_of_its_aof_flipped_refuses_to_start_and_the_run_is_not_healed() {
    if !installed("/usr/bin/redis-server") {
        return;
    }
    let started = Instant::now();
    let r = run_redis("bitflip=0.001");
    eprintln!("redis aof bitflip: {:?}", started.elapsed());
    let dir = latest(&r);
    let ops = history(&dir);
    let done = corruptions(&ops);
    let first = done
        .first()
        .unwrap_or_else(|| panic!("no corruption:\n{}", r.text));
    assert_eq!(first["value"]["file"], "aof");
    assert!(first["value"]["flipped"].as_u64().unwrap() > 0);
    // The restart failed, and its completion quotes why (Redis's words of the AOF it read).
    let failed: Vec<&str> = restarts_after(&ops, first, "n1")
        .iter()
        .filter_map(|o| o["error"].as_str())
        .collect();
    assert!(!failed.is_empty(), "a failed restart of n1:\n{}", r.text);
    assert!(
        failed[0].contains("n1 did not come back on its corrupted files: it exited")
            && failed[0].contains("append only file"),
        "{failed:?}"
    );
    // Nothing was served after the server went down, so the history stays valid; the run
    // could not heal: exit 2.
    let res = results(&dir);
    assert_eq!(res["results"][0]["valid"], true, "{res}");
    assert_eq!(res["healed"]["ok"], false, "{res}");
    assert!(
        r.text.contains("NOT HEALED: n1 did not come back"),
        "{}",
        r.text
    );
    assert_eq!(r.code, 2, "{}", r.text);
}

/// Runs a local etcd cluster of 3 under corruption.
fn run_etcd(corrupt: &str, seed: &str) -> DbRun {
    run(
        &[
            "--target",
            "etcd",
            "--nemesis",
            "corrupt",
            "--corrupt",
            corrupt,
            "--seed",
            seed,
            "--time-limit",
            "3",
            "--nemesis-interval",
            "1",
            "--nemesis-hold",
            "2",
        ],
        Duration::from_secs(120),
    )
}

#[test]
fn etcd_with_a_members_wal_tail_cut_repairs_or_refuses_and_the_cluster_stays_linearizable() {
    if !installed("/usr/bin/etcd") {
        return;
    }
    let started = Instant::now();
    let r = run_etcd("truncate=1000", "2");
    eprintln!("etcd wal truncated: {:?}", started.elapsed());
    let dir = latest(&r);
    let ops = history(&dir);
    let done = corruptions(&ops);
    let first = done
        .first()
        .unwrap_or_else(|| panic!("no corruption:\n{}", r.text));
    let v = &first["value"];
    assert_eq!(v["file"], "wal", "{v}");
    // The segment is preallocated: the cut is at the end of what was written.
    let (size, written) = (v["size"].as_u64().unwrap(), v["written"].as_u64().unwrap());
    assert!(written > 1000 && written < size, "{v}");
    assert_eq!(v["cut"], 1000);
    assert!(
        v["path"].as_str().unwrap().starts_with("member/wal/"),
        "{v}"
    );
    let node = v["node"].as_str().unwrap();
    // The other two members served on.
    assert!(
        ok_after(&ops, first),
        "no operation succeeded after the corruption"
    );
    let res = results(&dir);
    assert_eq!(
        res["results"][0]["valid"], true,
        "etcd stays linearizable: {res}"
    );
    let failed: Vec<&str> = restarts_after(&ops, first, node)
        .iter()
        .filter_map(|o| o["error"].as_str())
        .collect();
    if res["healed"]["ok"] == true {
        // A former leader: it repaired its WAL and the new leader filled it in again.
        eprintln!("{node} came back: {}", res["healed"]["message"]);
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(r.code, 0, "{}", r.text);
    } else {
        // A follower that had acknowledged the entries it lost: etcd refuses to go on.
        eprintln!("{node} refused: {}", res["healed"]["message"]);
        assert!(
            failed.iter().any(|e| e.contains(&format!(
                "{node} did not come back on its corrupted files: it exited"
            )) && e.contains("panic: tocommit")),
            "{failed:?}\n{}",
            r.text
        );
        assert_eq!(r.code, 2, "{}", r.text);
    }
}

#[test]
fn etcd_with_bits_of_a_members_database_flipped_refuses_to_start_while_the_others_serve() {
    if !installed("/usr/bin/etcd") {
        return;
    }
    let started = Instant::now();
    let r = run_etcd("bitflip=0.01,file=db", "1");
    eprintln!("etcd db bitflip: {:?}", started.elapsed());
    let dir = latest(&r);
    let ops = history(&dir);
    let done = corruptions(&ops);
    let first = done
        .first()
        .unwrap_or_else(|| panic!("no corruption:\n{}", r.text));
    let v = &first["value"];
    assert_eq!(
        (v["file"].as_str(), v["path"].as_str()),
        (Some("db"), Some("member/snap/db"))
    );
    let node = v["node"].as_str().unwrap();
    let failed: Vec<&str> = restarts_after(&ops, first, node)
        .iter()
        .filter_map(|o| o["error"].as_str())
        .collect();
    assert!(
        failed
            .iter()
            .any(|e| e.contains("it exited") && e.contains("cannot open database")),
        "bbolt refuses the damaged file: {failed:?}\n{}",
        r.text
    );
    assert!(
        ok_after(&ops, first),
        "no operation succeeded after the corruption"
    );
    let res = results(&dir);
    assert_eq!(res["results"][0]["valid"], true, "{res}");
    assert_eq!(res["healed"]["ok"], false, "{res}");
    assert_eq!(r.code, 2, "{}", r.text);
}
