//! Crash safety of `faultline run` (issue 8, part 3): SIGKILL at random points of many runs
//! always leaves a `history.jsonl` that `faultline check` reads (a torn last line is left out
//! and said, never an input error) and no demo node alive; a torn last line of a recorded
//! history is ignored while a torn middle line stays an error; SIGINT in the middle of a
//! partition heals, stops every node and proxy, and writes a store directory whose
//! results.json says the run is incomplete. Every run is bounded in time; loopback only.

mod common;
#[path = "crash_support/mod.rs"]
mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Which phase a run had reached (its last `phase:` line in run.log), for the figures.
fn phase_reached(dir: Option<&Path>) -> String {
    let Some(dir) = dir else {
        return "before the store directory".into();
    };
    let log = std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();
    if log.is_empty() {
        return "before run.log".into();
    }
    if std::fs::metadata(dir.join("results.json")).is_ok() {
        return "results written".into();
    }
    match log.lines().rev().find_map(|l| l.split("phase: ").nth(1)) {
        Some("done") => "check".into(),
        Some(phase) => phase.into(),
        None => "startup".into(),
    }
}

/// Polls the run's log (every 2 ms, bounded) until it has `needle`.
fn wait_for_phase(store: &Path, needle: &str, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        let log = std::fs::read_to_string(store.join("latest").join("run.log"));
        if log.is_ok_and(|l| l.contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn sigkill_at_random_points_leaves_a_checkable_history_and_no_node() {
    let started = Instant::now();
    let mut rng = Lcg::from_clock();
    eprintln!("random delays from seed {}", rng.seed);
    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    let mut codes: BTreeMap<i32, usize> = BTreeMap::new();
    let (mut kills, mut torn_tails) = (0, 0);
    let mut round = 0;
    // Until 22 runs were killed mid-run (a few finish before their random kill: the delays
    // reach past the end of a run, so the last phases are covered too).
    while kills < 22 {
        round += 1;
        assert!(
            round <= 40,
            "only {kills} of {round} runs were killed mid-run"
        );
        let store = tempfile::tempdir().unwrap();
        let demo = round % 3 == 0;
        let mut cmd = faultline();
        cmd.args(["run", "--workload", "register", "--concurrency", "4"]);
        // Whole runs last about 4 s (demo) and 2 s (local) here; delays cover all of it,
        // from process start to the check.
        let span = if demo {
            cmd.args([
                "--target",
                "demo",
                "--mode",
                "sync",
                "--nemesis",
                "partition",
            ])
            .args(["--time-limit", "1.5", "--rate", "400"])
            .args(["--nemesis-interval", "0.3", "--nemesis-hold", "0.5"]);
            4.0
        } else {
            cmd.args(["--target", "local", "--time-limit", "0.6", "--rate", "1000"]);
            2.0
        };
        let child = cmd
            .arg("--store")
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Every fourth run is killed just after a short phase begins (healing, final reads,
        // the check), which uniform delays rarely hit; the others at a uniform random time.
        let aimed = ["phase: healing", "phase: final reads", "phase: done"];
        if round % 4 == 1 {
            let needle = aimed[(round / 4) % aimed.len()];
            wait_for_phase(store.path(), needle, Duration::from_secs(15));
            std::thread::sleep(Duration::from_secs_f64(rng.next_f64() * 0.03));
        } else {
            std::thread::sleep(Duration::from_secs_f64(rng.next_f64() * span));
        }
        signal(pid, libc::SIGKILL);
        let status = wait_bounded(child, Duration::from_secs(10)).status;
        let dir = std::fs::canonicalize(store.path().join("latest")).ok();
        let phase = if status.code().is_some() {
            // It finished before the kill landed: still a complete, checkable run.
            "finished before the kill".to_string()
        } else {
            kills += 1;
            phase_reached(dir.as_deref())
        };
        *phases.entry(phase).or_default() += 1;
        let store_path = store.path().to_string_lossy().to_string();
        assert_no_process_mentions(&store_path, Duration::from_secs(5));
        let Some(dir) = dir else { continue };
        if demo {
            let log = std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();
            for p in node_pids(&log) {
                assert_gone(p, Duration::from_secs(5));
            }
            for addr in node_http_addrs(&log) {
                assert_not_listening(&addr, &store_path);
            }
        }
        let history = dir.join("history.jsonl");
        let Ok(bytes) = std::fs::read(&history) else {
            continue;
        };
        let torn = !bytes.is_empty() && bytes.last() != Some(&b'\n');
        torn_tails += usize::from(torn);
        let check = run_bounded(
            faultline()
                .args(["check", "--model", "cas-register"])
                .arg(&history),
            Duration::from_secs(60),
        );
        let code = check.status.code().unwrap_or(-1);
        *codes.entry(code).or_default() += 1;
        // The demo store in sync mode and the local map are linearizable: a cut history
        // must never look invalid, and must always read.
        assert!(
            matches!(code, 0 | 2),
            "round {round} ({}): {}",
            if demo { "demo" } else { "local" },
            describe(&check)
        );
        if torn {
            assert!(
                String::from_utf8_lossy(&check.stderr).contains("ignored a torn last line"),
                "{}",
                describe(&check)
            );
        }
    }
    eprintln!(
        "SIGKILL figures: {kills} runs killed mid-run (of {round}), all histories checkable; \
         phases reached {phases:?}; check exit codes {codes:?}; torn last lines {torn_tails}; \
         {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_torn_last_line_of_a_recorded_history_is_ignored_but_a_torn_middle_line_is_an_error() {
    let store = tempfile::tempdir().unwrap();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "local", "--workload", "register"])
            .args(["--time-limit", "0.3", "--rate", "500", "--seed", "4"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let text = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 50, "{} lines", lines.len());
    let whole: String = lines[..lines.len() - 1]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    let last = lines[lines.len() - 1];
    for cut in [1, last.len() / 2, last.len() - 1] {
        let file = dir.join(format!("torn-{cut}.jsonl"));
        std::fs::write(&file, format!("{whole}{}", &last[..cut])).unwrap();
        let check = run_bounded(
            faultline()
                .args(["check", "--model", "cas-register"])
                .arg(&file),
            Duration::from_secs(30),
        );
        assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
        let err = String::from_utf8_lossy(&check.stderr);
        assert!(
            err.contains(&format!(":{}: note: ignored a torn last line", lines.len())),
            "{err}"
        );
    }
    // The same cut in the middle: malformed input naming the line.
    let middle = lines.len() / 2;
    let mut spliced: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let half = spliced[middle].len() / 2;
    spliced[middle].truncate(half);
    let file = dir.join("torn-middle.jsonl");
    std::fs::write(&file, spliced.join("\n") + "\n").unwrap();
    let check = run_bounded(
        faultline()
            .args(["check", "--model", "cas-register"])
            .arg(&file),
        Duration::from_secs(30),
    );
    assert_eq!(check.status.code(), Some(254), "{}", describe(&check));
    assert!(
        String::from_utf8_lossy(&check.stderr).contains(&format!(":{}:", middle + 1)),
        "{}",
        describe(&check)
    );
}

#[test]
fn sigint_mid_partition_stops_every_node_and_proxy_and_marks_the_run_incomplete() {
    let store = tempfile::tempdir().unwrap();
    // In a process group of its own, signalled as a whole: what a terminal's Ctrl-C does.
    let child = Command::new(support::faultline_path())
        .process_group(0)
        .args(["run", "--target", "demo", "--mode", "sync"])
        .args(["--workload", "register", "--nemesis", "partition"])
        .args(["--time-limit", "60", "--rate", "500"])
        .args(["--nemesis-interval", "0.5", "--nemesis-hold", "60"])
        .arg("--store")
        .arg(store.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let dir = wait_for_latest(store.path(), Duration::from_secs(20));
    let log_path = dir.join("run.log");
    wait_for_text(
        &log_path,
        "nemesis start-partition",
        Duration::from_secs(20),
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    let (pids, http) = (node_pids(&log), node_http_addrs(&log));
    let (peers, proxies) = (node_peer_addrs(&log), proxy_addrs(&log));
    assert_eq!((pids.len(), http.len(), peers.len()), (3, 3, 3), "{log}");
    assert_eq!(proxies.len(), 6, "{log}");
    for addr in http.iter().chain(&peers).chain(&proxies) {
        assert!(
            std::net::TcpStream::connect(addr.as_str()).is_ok(),
            "{addr} should listen during the run"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(-pid, libc::SIGINT);
    let out = wait_bounded(child, Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("NOT HEALED"), "{stdout}");
    assert!(
        stdout.contains("INCOMPLETE: interrupted by SIGINT"),
        "{stdout}"
    );

    for p in &pids {
        assert_gone(*p, Duration::from_secs(5));
    }
    assert_no_process_mentions(&store.path().to_string_lossy(), Duration::from_secs(5));
    for addr in http.iter().chain(&peers).chain(&proxies) {
        assert_not_listening(addr, &store.path().to_string_lossy());
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    let healed = log
        .find("healed: every node hears every other node again")
        .unwrap_or_else(|| panic!("no healing verified: {log}"));
    let stopped = log.find("demo store stopped").expect("stopped");
    assert!(healed < stopped, "{log}");
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let cut = history.find("start-partition").unwrap();
    assert!(history[cut..].contains("stop-partition"), "not healed");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["complete"], Value::Bool(false), "{results}");
    assert_eq!(results["interrupted"], Value::from("SIGINT"), "{results}");
    assert_eq!(results["valid"], Value::Bool(true), "{results}");
    assert_eq!(results["exit_code"], Value::from(0), "{results}");

    // Re-rendering the store directory must not make the interrupted run look complete.
    let report = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("report")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(0), "{report:?}");
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        again["complete"],
        Value::Bool(false),
        "report dropped it: {again}"
    );
    assert_eq!(again["interrupted"], Value::from("SIGINT"), "{again}");
}

/// The network namespace of process `pid` (`net:[inode]`), if readable.
fn netns(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|p| p.to_string_lossy().to_string())
}

#[test]
fn sigint_mid_partition_of_etcd_stops_every_member_and_removes_its_namespaces() {
    if !Path::new("/usr/bin/etcd").exists() || unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs /usr/bin/etcd and root (network namespaces)");
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let child = Command::new(support::faultline_path())
        .process_group(0)
        .args(["run", "--target", "etcd", "--workload", "register"])
        .args([
            "--nemesis",
            "partition",
            "--time-limit",
            "60",
            "--rate",
            "100",
        ])
        .args(["--nemesis-interval", "1", "--nemesis-hold", "60"])
        .arg("--store")
        .arg(store.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let dir = wait_for_latest(store.path(), Duration::from_secs(20));
    let log_path = dir.join("run.log");
    wait_for_text(
        &log_path,
        "nemesis start-partition",
        Duration::from_secs(30),
    );
    let store_text = store.path().to_string_lossy().to_string();
    let members: Vec<(u32, String)> = processes_mentioning(&store_text)
        .into_iter()
        .filter(|(_, cmdline)| cmdline.starts_with("/usr/bin/etcd "))
        .collect();
    let own = netns(std::process::id());
    let namespaces: BTreeSet<String> = members
        .iter()
        .filter_map(|(p, _)| netns(*p))
        .filter(|ns| Some(ns) != own.as_ref())
        .collect();
    if members.len() != 3 || namespaces.len() != 3 {
        signal(-pid, libc::SIGKILL);
        panic!("expected 3 members, each in its own namespace: {members:?} {namespaces:?}");
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(-pid, libc::SIGINT);
    let out = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("NOT HEALED"), "{stdout}");
    assert!(
        stdout.contains("INCOMPLETE: interrupted by SIGINT"),
        "{stdout}"
    );
    assert_no_process_mentions(&store_text, Duration::from_secs(5));
    let left: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|p| netns(*p).is_some_and(|ns| namespaces.contains(&ns)))
        .collect();
    assert!(
        left.is_empty(),
        "processes still in the run's namespaces: {left:?}"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    let healed = log.find("healed: ").expect("healing verified");
    assert!(healed < log.find("etcd stopped").expect("stopped"), "{log}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["complete"], Value::Bool(false), "{results}");
    assert_eq!(results["interrupted"], Value::from("SIGINT"), "{results}");
}
