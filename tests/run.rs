//! `faultline run` and `faultline demo` end to end, against the embedded demo store started as
//! real processes on loopback: async under partitions is caught with a stale read; sync stays
//! linearizable under every nemesis and several seeds; SIGINT heals and leaves a checkable
//! history; SIGKILL of the runner leaves a history `faultline check` reads. Every run is
//! bounded by its --time-limit and by a wall-clock guard here.

mod common;

use common::bounded::{run_bounded, wait_bounded};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn faultline() -> Command {
    Command::new(common::faultline())
}

/// The newest run directory under `store`.
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

#[test]
fn async_store_under_partitions_is_caught_with_a_stale_read() {
    let store = tempfile::tempdir().unwrap();
    let out = run_bounded(
        faultline()
            .args([
                "demo",
                "--mode",
                "async",
                "--time-limit",
                "6",
                "--seed",
                "3",
            ])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(90),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NOT linearizable"), "{}", describe(&out));
    assert!(stdout.contains("stale read"), "{}", describe(&out));
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(latest(store.path()).join("results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(results["valid"], Value::Bool(false));
    assert!(results["results"][0]["counterexample"]["minimal"].is_array());
}

#[test]
fn sync_store_is_linearizable_under_every_nemesis_and_several_seeds() {
    for (seed, nemesis) in [
        ("1", "partition"),
        ("2", "kill"),
        ("3", "pause"),
        ("4", "all"),
    ] {
        let store = tempfile::tempdir().unwrap();
        let out = run_bounded(
            faultline()
                .args([
                    "run",
                    "--target",
                    "demo",
                    "--mode",
                    "sync",
                    "--workload",
                    "register",
                ])
                .args(["--nemesis", nemesis, "--seed", seed, "--time-limit", "6"])
                .args(["--nemesis-interval", "1", "--nemesis-hold", "1.5"])
                .arg("--store")
                .arg(store.path()),
            Duration::from_secs(120),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "seed {seed}, nemesis {nemesis}: {}",
            describe(&out)
        );
        let history = std::fs::read_to_string(latest(store.path()).join("history.jsonl")).unwrap();
        assert!(
            history.contains("\"process\":\"nemesis\""),
            "no fault recorded for {nemesis}"
        );
        let log = std::fs::read_to_string(latest(store.path()).join("run.log")).unwrap();
        assert!(
            log.contains("every node hears every other node again"),
            "{log}"
        );
    }
}

/// Sends `signal` to the process.
fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(child.id() as i32, signal) };
    assert_eq!(rc, 0);
}

/// Waits until `path` contains `needle` (bounded).
fn wait_for_text(path: &Path, needle: &str, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} never contained {needle:?}", path.display());
}

fn long_partitioned_run(store: &Path) -> Child {
    faultline()
        .args([
            "run",
            "--target",
            "demo",
            "--mode",
            "sync",
            "--workload",
            "register",
        ])
        .args(["--nemesis", "partition", "--time-limit", "60"])
        .args(["--nemesis-interval", "0.5", "--nemesis-hold", "60"])
        .arg("--store")
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigint_heals_the_partition_and_leaves_a_checkable_history() {
    let store = tempfile::tempdir().unwrap();
    let child = long_partitioned_run(store.path());
    let history = {
        let start = Instant::now();
        loop {
            if let Ok(dir) = std::fs::canonicalize(store.path().join("latest")) {
                break dir.join("history.jsonl");
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no run started");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for_text(&history, "start-partition", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, libc::SIGINT);
    let out = wait_bounded(child, Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let dir = history.parent().unwrap();
    let text = std::fs::read_to_string(&history).unwrap();
    let started = text.find("start-partition").unwrap();
    assert!(
        text[started..].contains("stop-partition"),
        "the partition was not healed in the history"
    );
    let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    assert!(
        log.contains("healed: every node hears every other node again"),
        "{log}"
    );
    let check = run_bounded(
        faultline()
            .args(["check", "--model", "cas-register"])
            .arg(&history),
        Duration::from_secs(60),
    );
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
}

#[test]
fn sigkill_of_the_runner_leaves_a_history_check_reads() {
    let store = tempfile::tempdir().unwrap();
    let child = long_partitioned_run(store.path());
    let start = Instant::now();
    let history = loop {
        if let Ok(dir) = std::fs::canonicalize(store.path().join("latest")) {
            let h = dir.join("history.jsonl");
            if std::fs::metadata(&h).is_ok_and(|m| m.len() > 20_000) {
                break h;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no history grew");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(700));
    signal(&child, libc::SIGKILL);
    let _ = wait_bounded(child, Duration::from_secs(10));
    let check = run_bounded(
        faultline()
            .args(["check", "--model", "cas-register"])
            .arg(&history),
        Duration::from_secs(60),
    );
    // The history is cut short (operations in flight count as indeterminate) but reads: any
    // verdict, never "bad input".
    assert!(
        matches!(check.status.code(), Some(0..=2)),
        "{}",
        describe(&check)
    );
}

/// A free loopback port, picked as faultline picks its servers' ports (below the ephemeral
/// range, so no outgoing connection takes it before the node binds it).
fn free_port() -> u16 {
    workloads::target::free_port().unwrap()
}

/// Kills the node processes when the test ends, however it ends.
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn run_against_an_http_kv_service_started_by_hand() {
    // Three demo nodes started the way docs/http-kv.md and the README tell users to, with
    // direct peer links (no proxies: faultline controls nothing here, so no nemesis).
    let data = tempfile::tempdir().unwrap();
    let http: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peer: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes = Nodes(Vec::new());
    for i in 0..3 {
        let mut cmd = faultline();
        cmd.args([
            "serve-demo-node",
            "--mode",
            "sync",
            "--id",
            &(i + 1).to_string(),
        ])
        .arg("--http")
        .arg(format!("127.0.0.1:{}", http[i]))
        .arg("--peer-listen")
        .arg(format!("127.0.0.1:{}", peer[i]))
        .arg("--data-dir")
        .arg(data.path().join(format!("n{}", i + 1)))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for j in (0..3).filter(|j| *j != i) {
            cmd.arg("--peer")
                .arg(format!("{}=127.0.0.1:{}", j + 1, peer[j]));
        }
        nodes.0.push(cmd.spawn().unwrap());
    }
    let store = tempfile::tempdir().unwrap();
    let list = http
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let out = run_bounded(
        faultline()
            .args([
                "run",
                "--target",
                "http-kv",
                "--nodes",
                &list,
                "--workload",
                "register",
            ])
            .args(["--time-limit", "3", "--seed", "9", "--format", "json"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["valid"], Value::Bool(true));
    assert!(
        result["perf"]["outside_faults"]["ok"].as_u64().unwrap() > 100,
        "{result}"
    );
    // Faults need a target faultline controls.
    let refused = run_bounded(
        faultline()
            .args([
                "run",
                "--target",
                "http-kv",
                "--nodes",
                &list,
                "--nemesis",
                "partition",
            ])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(10),
    );
    assert_eq!(refused.status.code(), Some(254), "{}", describe(&refused));
    drop(nodes);
}

/// Three sync demo nodes started by hand (as the README shows), with direct peer links; the
/// `--nodes` list to reach them. The nodes are killed when the returned guard drops.
fn hand_started_demo_nodes(data: &Path) -> (Nodes, String) {
    let http: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peer: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes = Nodes(Vec::new());
    for i in 0..3 {
        let mut cmd = faultline();
        cmd.args(["serve-demo-node", "--mode", "sync", "--id"])
            .arg((i + 1).to_string())
            .arg("--http")
            .arg(format!("127.0.0.1:{}", http[i]))
            .arg("--peer-listen")
            .arg(format!("127.0.0.1:{}", peer[i]))
            .arg("--data-dir")
            .arg(data.join(format!("n{}", i + 1)))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for j in (0..3).filter(|j| *j != i) {
            cmd.arg("--peer")
                .arg(format!("{}=127.0.0.1:{}", j + 1, peer[j]));
        }
        nodes.0.push(cmd.spawn().unwrap());
    }
    let list = http
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    (nodes, list)
}

#[test]
fn consecutive_runs_against_the_same_http_kv_nodes_are_valid() {
    // Issue 22: the second run read the first run's values and was reported invalid.
    let data = tempfile::tempdir().unwrap();
    let (nodes, list) = hand_started_demo_nodes(data.path());
    let store = tempfile::tempdir().unwrap();
    let mut bases = Vec::new();
    for (workload, seed) in [
        ("register", "1"),
        ("register", "2"),
        ("list-append", "3"),
        ("register", "4"),
        ("kv", "5"),
    ] {
        let out = run_bounded(
            faultline()
                .args(["run", "--target", "http-kv", "--nodes", &list])
                .args(["--workload", workload, "--seed", seed])
                .args(["--ops", "300", "--rate", "500", "--format", "json"])
                .arg("--store")
                .arg(store.path()),
            Duration::from_secs(60),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{workload} seed {seed}: {}",
            describe(&out)
        );
        let dir = latest(store.path());
        let results: Value =
            serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
        let base = results["key_base"].as_u64().unwrap();
        assert!(base > 0, "{results}");
        let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
        assert!(log.contains(&format!("keys from {base}")), "{log}");
        bases.push(base);
        // Runs are at least a second apart (the quiet period), so their keys never meet.
        std::thread::sleep(Duration::from_millis(1100));
    }
    bases.dedup();
    assert_eq!(bases.len(), 5, "{bases:?}");
    drop(nodes);
}

#[test]
fn a_closed_stdout_keeps_the_verdict_and_the_run_still_heals_and_stops() {
    // Issue 22: `faultline demo ... | head -1` exited 255, "internal error: Broken pipe".
    for args in [
        &["demo", "--mode", "sync", "--time-limit", "1", "--seed", "4"][..],
        &[
            "run",
            "--target",
            "demo",
            "--mode",
            "sync",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "0.3",
            "--time-limit",
            "1",
            "--seed",
            "4",
        ][..],
        &[
            "run",
            "--target",
            "local",
            "--time-limit",
            "1",
            "--ops",
            "200",
        ][..],
    ] {
        let store = tempfile::tempdir().unwrap();
        let mut child = faultline()
            .args(args)
            .arg("--store")
            .arg(store.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before anything is printed.
        drop(child.stdout.take());
        let out = wait_bounded(child, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        assert!(!stderr.contains("internal error"), "{args:?}: {stderr}");
        let dir = latest(store.path());
        assert!(dir.join("results.json").is_file(), "{args:?}");
        let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
        if args[0] == "demo" || args.contains(&"demo") {
            assert!(log.contains("demo store stopped"), "{log}");
        }
        if args.contains(&"partition") {
            assert!(log.contains("healed: every node"), "{log}");
        }
    }
}

#[test]
fn kv_and_list_append_workloads_are_valid_on_the_sync_store_and_caught_on_the_async_one() {
    for (workload, mode, expected) in [
        ("kv", "sync", 0),
        ("list-append", "sync", 0),
        ("list-append", "async", 1),
    ] {
        let store = tempfile::tempdir().unwrap();
        let out = run_bounded(
            faultline()
                .args([
                    "run",
                    "--target",
                    "demo",
                    "--mode",
                    mode,
                    "--workload",
                    workload,
                ])
                .args(["--nemesis", "partition", "--seed", "5", "--time-limit", "4"])
                .args(["--nemesis-interval", "1", "--nemesis-hold", "1.5"])
                .args(["--format", "json"])
                .arg("--store")
                .arg(store.path()),
            Duration::from_secs(90),
        );
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{workload} on {mode}: {}",
            describe(&out)
        );
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        if expected == 1 {
            assert!(
                !result["anomalies"].as_array().unwrap().is_empty(),
                "{result}"
            );
        }
    }
}

/// Issue 21: a run pointed at a port where nothing listens records only refused operations;
/// its verdict is unknown (exit 2) with the reason, never `valid` (exit 0).
#[test]
fn run_against_a_port_where_nothing_listens_is_unknown_not_valid() {
    let port = free_port(); // bound and released: nothing listens there now
    let store = tempfile::tempdir().unwrap();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "http-kv", "--nodes"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--workload", "register", "--time-limit", "2", "--seed", "3"])
            .args(["--concurrency", "10", "--format", "json"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["valid"], "unknown", "{result}");
    let reason = result.to_string();
    assert!(reason.contains("no client operation succeeded"), "{reason}");
    // Issue 21 item 1: each worker backs off (10 ms doubling to 1 s, each wait at least half
    // its step): in 2 s at most 8 attempts in the first 635 ms of minimal waits, then one per
    // 500 ms — about 11 per worker; 20 per worker, plus the final reads, bounds it. Before the
    // back-off this command recorded ~135,000 operations.
    let run = latest(store.path());
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let invoked = history
        .lines()
        .filter(|l| l.contains("\"type\":\"invoke\"") && !l.contains("nemesis"))
        .count();
    assert!(invoked <= 10 * 20 + 100, "{invoked} operations recorded");
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    assert!(
        log.contains("backing off: connection refused (10 ms → 1 s)"),
        "{log}"
    );
}

/// Issue 21 item 5: a history that passes `--max-history` stops the main phase early — never
/// silently: results.json says `"complete": false` with the reason, and so does the output.
#[test]
fn max_history_stops_the_main_phase_early_and_says_so() {
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "local", "--workload", "register"])
            .args(["--time-limit", "60", "--max-history", "3000", "--seed", "4"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the main phase did not stop early: {:?}",
        started.elapsed()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("incomplete run: the history reached --max-history (3000 operations)"),
        "{stdout}"
    );
    let run = latest(store.path());
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["complete"], false, "{results}");
    let reason = results["incomplete_reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("--max-history (3000 operations)"),
        "{results}"
    );
    // The guard looks every 20 ms: the overshoot is what workers invoke meanwhile, plus the
    // final reads.
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let invoked = history
        .lines()
        .filter(|l| l.contains("\"type\":\"invoke\"") && !l.contains("nemesis"))
        .count();
    assert!(
        (3000..200_000).contains(&invoked),
        "{invoked} operations recorded"
    );
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    assert!(log.contains("STOPPING EARLY"), "{log}");
}

/// Issue 21 item 3: a check budget too small for the history gives UNKNOWN with the reason,
/// results.json and the report, and the exact `faultline check …` command that re-checks it
/// later with a bigger budget — which then gives the verdict.
#[test]
fn a_check_budget_too_small_gives_unknown_and_the_command_to_recheck() {
    let store = tempfile::tempdir().unwrap();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "local", "--workload", "register"])
            // 50,000 operations (10 MB of history): more than 1 MiB holds, also read compactly
            // (a 2-second run at --rate 1000 now fits).
            .args([
                "--ops",
                "50000",
                "--rate",
                "unlimited",
                "--time-limit",
                "30",
            ])
            .args(["--seed", "6", "--memory-limit", "1"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("UNKNOWN"), "{stdout}");
    let run = latest(store.path());
    assert!(run.join("report.html").exists());
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], "unknown", "{results}");
    let reason = results["results"][0]["unknown_reason"]
        .as_str()
        .unwrap_or("");
    assert!(reason.contains("memory limit"), "{results}");
    // The size it names is about what the check needs (some 20 MiB), not a wild
    // extrapolation of the first kilobytes.
    let needed: u64 = reason
        .split("would need about ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size needed in {reason:?}"));
    assert!((10..=100).contains(&needed), "{reason}");
    let recheck = results["recheck"].as_str().expect("a recheck command");
    assert!(stdout.contains(recheck), "{stdout}");
    assert!(
        recheck.starts_with("faultline check --model cas-register --time-limit "),
        "{recheck}"
    );
    // The command as printed (the binary under test in place of `faultline`).
    let words: Vec<&str> = recheck.split_whitespace().collect();
    let again = run_bounded(faultline().args(&words[1..]), Duration::from_secs(120));
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
}

/// Issue 21 item 1: an http-kv "service" that resets every connection for 5 s. Each worker
/// backs off (10 ms doubling to 1 s, each wait at least half its step): at most 8 attempts in
/// the first 635 ms, then one per 500 ms at most — under 20 in 5 s; the cap asserted is 6 per
/// second per worker. The run ends normally with a verdict (nothing succeeded: unknown).
#[test]
fn an_http_kv_service_resetting_every_connection_is_attempted_under_the_cap() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            // Accepted and closed at once, before any answer.
            drop(conn);
        }
    });
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "http-kv", "--nodes"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--workload", "register", "--time-limit", "5", "--seed", "8"])
            .args(["--concurrency", "10", "--format", "json"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(started.elapsed() < Duration::from_secs(40));
    let run = latest(store.path());
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let mut per_worker = [0usize; 10];
    for line in history.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        if event["type"] == "invoke" {
            if let Some(p) = event["process"].as_u64() {
                per_worker[(p % 10) as usize] += 1;
            }
        }
    }
    // 5 s of main phase at 6 per second, plus the final reads (4 keys).
    for (w, n) in per_worker.iter().enumerate() {
        assert!(*n <= 5 * 6 + 4, "worker {w}: {n} attempts in 5 s");
    }
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    assert!(log.contains("backing off: connection reset"), "{log}");
    // The summary counts the episodes and names the last error.
    assert!(log.contains("back-off: 10 episodes"), "{log}");
}
