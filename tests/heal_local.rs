//! Heal after a local run that did not end normally (issue 16, "heal verified … also on
//! Ctrl-C and after SIGKILL of faultline"), with a clock fault (libfaketime timestamp files)
//! and a packet fault (faultline's link proxies) in effect at once on the demo store:
//!
//! - SIGKILL of faultline mid-fault: the nodes die with it (PR_SET_PDEATHSIG), the proxies
//!   were its threads; the timestamp files still hold the offset and libfaketime's
//!   `/dev/shm` files stay — until `faultline heal` (no `--ssh-nodes`) finds the dead run's
//!   record, resets every timestamp file to `+0`, removes the orphaned `/dev/shm` files and the
//!   record, and the test checks each (files, processes, shm, record).
//! - SIGINT (Ctrl-C) mid-fault: faultline itself records the stops, heals, verifies and exits;
//!   the test checks the same things; with a node down on a corrupted log, it restarts the
//!   node and heals.
//!
//! Each run gets its own state directory (`FAULTLINE_STATE_DIR`), so parallel runs of other
//! tests are never touched. Loopback only; the machine's clock is never changed.

mod common;
#[path = "crash_support/mod.rs"]
mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Starts a sync demo run with packet faults and clock bumps held long, recording its run in
/// `state`.
fn start_run(store: &Path, state: &Path) -> Child {
    faultline()
        .args(["run", "--target", "demo", "--mode", "sync", "--seed", "11"])
        .args(["--nemesis", "packet,clock-bump", "--packet", "delay=20ms"])
        .args(["--nemesis-interval", "0.3", "--nemesis-hold", "10"])
        .args(["--time-limit", "60", "--concurrency", "4", "--rate", "100"])
        .arg("--store")
        .arg(store)
        .env("FAULTLINE_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline starts")
}

fn ops(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Whether a packet fault and a clock bump are both in effect (their starts completed, no
/// stop invoked since).
fn both_in_effect(ops: &[Value]) -> bool {
    let (mut packet, mut clock) = (false, false);
    for o in ops.iter().filter(|o| o["process"] == "nemesis") {
        match (o["f"].as_str(), o["type"].as_str()) {
            (Some("start-packet"), Some("info")) => packet = true,
            (Some("stop-packet"), _) => packet = false,
            (Some("bump-clock"), Some("info")) => clock = true,
            (Some("reset-clock"), _) => clock = false,
            _ => {}
        }
    }
    packet && clock
}

/// Waits (bounded) until both faults are in effect; returns the run directory.
fn wait_for_faults(store: &Path) -> PathBuf {
    let dir = wait_for_latest(store, Duration::from_secs(20));
    let start = Instant::now();
    while !both_in_effect(&ops(&dir)) {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "packet and clock faults never overlapped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    dir
}

/// The clock files of the run, with their contents.
fn clock_files(dir: &Path) -> Vec<(PathBuf, String)> {
    (1..=3)
        .map(|i| {
            let p = dir.join("clock").join(format!("n{i}.faketime"));
            let t = std::fs::read_to_string(&p).unwrap_or_default();
            (p, t.trim().to_string())
        })
        .collect()
}

/// The node pids run.log names (`n1 pid 4001`).
fn node_pids(dir: &Path) -> Vec<u32> {
    let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("demo store processes:"))
        .expect("run.log names the node pids");
    line.split(" pid ")
        .skip(1)
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .collect()
}

fn shm_files(pid: u32) -> Vec<PathBuf> {
    [
        format!("/dev/shm/faketime_shm_{pid}"),
        format!("/dev/shm/sem.faketime_sem_{pid}"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .filter(|p| p.exists())
    .collect()
}

fn records(state: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(state)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let p = p.to_string_lossy();
            p.ends_with(".json") || p.ends_with(".pids")
        })
        .collect()
}

/// Everything healed: every clock file at +0, no node process, no libfaketime /dev/shm file
/// of a node, no run record.
fn assert_nothing_left(dir: &Path, pids: &[u32], state: &Path) {
    for (file, text) in clock_files(dir) {
        assert_eq!(text, "+0", "{} is reset", file.display());
    }
    assert_no_process_mentions(&dir.to_string_lossy(), Duration::from_secs(5));
    for &pid in pids {
        assert!(
            shm_files(pid).is_empty(),
            "libfaketime files of node pid {pid} left"
        );
    }
    assert!(
        records(state).is_empty(),
        "run record left: {:?}",
        records(state)
    );
}

#[test]
fn sigkill_mid_clock_and_packet_faults_then_faultline_heal_leaves_nothing() {
    let started = Instant::now();
    let store = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let child = start_run(store.path(), state.path());
    let pid = child.id() as i32;
    let dir = wait_for_faults(store.path());
    let pids = node_pids(&dir);
    assert_eq!(pids.len(), 3);
    signal(pid, libc::SIGKILL);
    let _ = wait_bounded(child, Duration::from_secs(10));
    let killed_at = started.elapsed();

    // What SIGKILL leaves: the nodes die with faultline, but the clock files keep their
    // offsets, libfaketime's /dev/shm files stay, and so does the run's record.
    assert_no_process_mentions(&dir.to_string_lossy(), Duration::from_secs(5));
    let off: Vec<_> = clock_files(&dir)
        .into_iter()
        .filter(|(_, t)| t != "+0")
        .collect();
    assert!(
        !off.is_empty(),
        "a clock file held the bump when faultline died"
    );
    assert_eq!(
        records(state.path()).len(),
        2,
        "the run's record and its list of children are left"
    );
    let shm_before: usize = pids.iter().map(|&p| shm_files(p).len()).sum();

    let out = run_bounded(
        faultline()
            .arg("heal")
            .env("FAULTLINE_STATE_DIR", state.path()),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("run {}", dir.display())) && stdout.contains("is gone"),
        "heal names the dead run: {stdout}"
    );
    assert!(
        stdout.contains(&format!("reset {} clock file(s)", off.len())),
        "{stdout}"
    );
    assert!(
        stdout.contains("no tc qdisc and no iptables rule"),
        "{stdout}"
    );
    assert_nothing_left(&dir, &pids, state.path());

    // A second heal finds nothing more.
    let again = run_bounded(
        faultline()
            .arg("heal")
            .env("FAULTLINE_STATE_DIR", state.path()),
        Duration::from_secs(30),
    );
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("no local run left anything"));
    eprintln!(
        "killed after {:.1} s with {} clock file(s) off and {shm_before} /dev/shm file(s); \
         healed; whole test {:.1} s",
        killed_at.as_secs_f64(),
        off.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sigint_mid_clock_and_packet_faults_heals_and_exits_leaving_nothing() {
    let started = Instant::now();
    let store = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let child = start_run(store.path(), state.path());
    let pid = child.id() as i32;
    let dir = wait_for_faults(store.path());
    let pids = node_pids(&dir);
    let before = ops(&dir).len();
    let interrupted_at = started.elapsed();
    signal(pid, libc::SIGINT);
    let out = wait_bounded(child, Duration::from_secs(60));
    let exited_after = started.elapsed() - interrupted_at;
    assert_ne!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(
        out.status.code().is_some(),
        "faultline exited by itself: {}",
        describe(&out)
    );

    // faultline recorded both stops after the interrupt and verified the heal.
    let after: Vec<Value> = ops(&dir).into_iter().skip(before).collect();
    for f in ["stop-packet", "reset-clock"] {
        assert!(
            after.iter().any(|o| o["f"] == f),
            "{f} recorded after SIGINT: {}",
            describe(&out)
        );
    }
    let run_log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    assert!(run_log.contains("healed: every node hears"), "{run_log}");
    assert!(
        run_log.contains("every clock file reads +0 again"),
        "{run_log}"
    );
    assert!(!run_log.contains("NOT healed"), "{run_log}");
    assert_nothing_left(&dir, &pids, state.path());
    eprintln!(
        "SIGINT after {:.1} s; faultline healed and exited {:.1} s later",
        interrupted_at.as_secs_f64(),
        exited_after.as_secs_f64()
    );
}

/// Guards the safety of the sweep: a child a dead faultline listed is killed only while its
/// pid still has the listed start time (a reused pid is never killed).
#[test]
fn heal_kills_a_child_a_dead_faultline_left_but_never_a_reused_pid() {
    let state = tempfile::tempdir().unwrap();
    // A pid that no longer runs stands for the dead faultline.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let dead = gone.id();
    let spawn_sleep = || {
        std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap()
    };
    let (mut ours, mut other) = (spawn_sleep(), spawn_sleep());
    let start = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest = stat.rsplit_once(')').unwrap().1;
        rest.split_whitespace().nth(19).unwrap().parse().unwrap()
    };
    // `other` is listed with a start time that is not its own: a pid reused since.
    let list = format!(
        "{} {}\n{} {}\n",
        ours.id(),
        start(ours.id()),
        other.id(),
        start(other.id()) + 1
    );
    std::fs::write(state.path().join(format!("run-{dead}-1.pids")), list).unwrap();
    let out = run_bounded(
        faultline()
            .arg("heal")
            .env("FAULTLINE_STATE_DIR", state.path()),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let status = ours.wait().unwrap();
    assert!(!status.success(), "the listed child was killed: {status}");
    assert!(
        other.try_wait().unwrap().is_none(),
        "a pid with another start time is left alone"
    );
    let _ = other.kill();
    let _ = other.wait();
    assert!(
        !state.path().join(format!("run-{dead}-1.pids")).exists(),
        "the list is removed"
    );
}

/// Ctrl-C while a node is down with a corrupted log: faultline records the node's restart,
/// the node recovers on the damaged file, and the run ends healed with nothing left.
#[test]
fn sigint_mid_corruption_restarts_the_node_and_heals() {
    let store = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let child = faultline()
        .args(["run", "--target", "demo", "--mode", "sync", "--seed", "11"])
        .args(["--nemesis", "corrupt", "--corrupt", "truncate=100"])
        .args(["--nemesis-interval", "0.5", "--nemesis-hold", "20"])
        .args(["--time-limit", "60", "--concurrency", "4", "--rate", "100"])
        .arg("--store")
        .arg(store.path())
        .env("FAULTLINE_STATE_DIR", state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline starts");
    let pid = child.id() as i32;
    let dir = wait_for_latest(store.path(), Duration::from_secs(20));
    let start = Instant::now();
    let corrupted = loop {
        let found = ops(&dir)
            .into_iter()
            .find(|o| o["f"] == "corrupt" && o["value"].get("cut").is_some());
        if let Some(op) = found {
            break op;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no corruption");
        std::thread::sleep(Duration::from_millis(50));
    };
    let node = corrupted["value"]["node"].clone();
    let before = ops(&dir).len();
    signal(pid, libc::SIGINT);
    let out = wait_bounded(child, Duration::from_secs(60));
    assert!(out.status.code().is_some(), "{}", describe(&out));
    let after: Vec<Value> = ops(&dir).into_iter().skip(before).collect();
    assert!(
        after
            .iter()
            .any(|o| o["f"] == "restart" && o["value"] == node),
        "{node} restarted after SIGINT: {}",
        describe(&out)
    );
    let run_log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    assert!(run_log.contains("healed: every node hears"), "{run_log}");
    assert_no_process_mentions(&dir.to_string_lossy(), Duration::from_secs(5));
    assert!(
        records(state.path()).is_empty(),
        "{:?}",
        records(state.path())
    );
}
