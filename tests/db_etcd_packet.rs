//! Packet faults on a local etcd cluster (`--target etcd --nemesis packet`): members in their
//! own network namespaces, every peer link relayed by faultline. Delay and jitter are added in
//! the relays; loss is real packet loss, iptables `statistic` rules inside the members'
//! namespaces. Packet loss gives timeouts or slow operations without a wrong verdict, and is
//! healed (no rule left); a delay shows in the latency of the operations while it is in
//! effect; duplication is refused before the run. Needs root (namespaces) and iptables.

mod db_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

const ETCD: &str = "/usr/bin/etcd";

/// The two runs take turns: latencies are the measure, and two etcd clusters on two shared
/// cores would slow each other down.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether etcd, root and iptables are there (skips the test otherwise, saying why).
fn can_run() -> bool {
    if !db_common::installed(ETCD) {
        return false;
    }
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (network namespaces)");
        return false;
    }
    true
}

/// The run directory of the one run in `store`.
fn run_dir(store: &Path) -> PathBuf {
    std::fs::canonicalize(store.join("latest")).expect("a store/latest link")
}

/// The history's events.
fn history(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .expect("a history")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The nemesis ops named `f` (invocation and completion, both `info`).
fn nemesis<'a>(ops: &'a [Value], f: &str) -> Vec<&'a Value> {
    ops.iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == f)
        .collect()
}

/// Client operations split by the packet fault: the latencies (ms) of the ok operations
/// entirely inside a fault (from its start's completion to its stop's invocation; the nemesis
/// records both as `info` lines, the invocation first), those
/// entirely outside every fault, and the number of `info` completions inside.
struct Split {
    inside: Vec<f64>,
    outside: Vec<f64>,
    infos_inside: usize,
}

fn split(ops: &[Value]) -> Split {
    let t = |o: &Value| o["time"].as_i64().unwrap_or(0);
    let mut windows = Vec::new();
    let mut start = None;
    for o in ops.iter().filter(|o| o["process"] == "nemesis") {
        match (o["f"].as_str(), o["type"].as_str()) {
            (Some("start-packet"), _) => start = Some(t(o)),
            (Some("stop-packet"), _) => {
                if let Some(s) = start.take() {
                    windows.push((s, t(o)));
                }
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        windows.push((s, i64::MAX));
    }
    let mut open = std::collections::HashMap::new();
    let mut out = Split {
        inside: Vec::new(),
        outside: Vec::new(),
        infos_inside: 0,
    };
    for o in ops.iter().filter(|o| o["process"] != "nemesis") {
        let p = o["process"].to_string();
        if o["type"] == "invoke" {
            open.insert(p, t(o));
            continue;
        }
        let Some(at) = open.remove(&p) else { continue };
        let end = t(o);
        let inside = windows.iter().any(|&(s, e)| at >= s && end <= e);
        let outside = windows.iter().all(|&(s, e)| end < s || at > e);
        let ms = (end - at) as f64 / 1e6;
        match o["type"].as_str() {
            Some("ok") if inside => out.inside.push(ms),
            Some("ok") if outside => out.outside.push(ms),
            Some("info") if inside => out.infos_inside += 1,
            _ => {}
        }
    }
    out
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[test]
fn etcd_packet_loss_gives_timeouts_or_slow_ops_without_a_wrong_verdict_and_heals() {
    if !can_run() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let r = db_common::run(
        &[
            "--target",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "packet",
            "--packet",
            "loss=0.4",
            "--keys",
            "10",
            "--rate",
            "100",
            "--op-timeout",
            "0.5",
            "--time-limit",
            "9",
            "--seed",
            "1",
            "--nemesis-interval",
            "1.5",
            "--nemesis-hold",
            "4",
        ],
        Duration::from_secs(90),
    );
    assert_eq!(r.code, 0, "expected valid:\n{}", db_common::head(&r.text));
    assert!(
        r.text.contains("valid (cas-register"),
        "{}",
        db_common::head(&r.text)
    );
    let dir = run_dir(r.store.as_ref().expect("a store").path());
    let ops = history(&dir);
    let starts = nemesis(&ops, "start-packet");
    assert!(!starts.is_empty(), "no packet fault in the history");
    assert_eq!(starts[0]["value"]["loss"], 0.4, "{}", starts[0]);
    assert!(!nemesis(&ops, "stop-packet").is_empty(), "never stopped");
    let log = std::fs::read_to_string(dir.join("run.log")).expect("run.log");
    assert!(
        log.contains("no iptables rule in the members' namespaces"),
        "the heal is verified in run.log:\n{log}"
    );
    let s = split(&ops);
    eprintln!(
        "loss 0.4: {} ok inside (mean {:.1} ms), {} ok outside (mean {:.1} ms), {} info inside",
        s.inside.len(),
        mean(&s.inside),
        s.outside.len(),
        mean(&s.outside),
        s.infos_inside
    );
    assert!(!s.outside.is_empty(), "no operation outside the fault");
    // Measured (seed 1, two runs): 40 and 44 timeouts inside the faults, ok operations 182 and
    // 212 ms on average inside against 10 ms outside. Either effect alone shows the loss.
    assert!(
        s.infos_inside > 0 || mean(&s.inside) > 3.0 * mean(&s.outside),
        "packet loss had no visible effect: {} info inside, ok mean {:.1} ms inside, \
         {:.1} ms outside",
        s.infos_inside,
        mean(&s.inside),
        mean(&s.outside)
    );
}

#[test]
fn etcd_packet_delay_shows_in_the_latency_of_operations() {
    if !can_run() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let r = db_common::run(
        &[
            "--target",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "packet",
            "--packet",
            "delay=100ms,jitter=20ms",
            "--nemesis-targets",
            "all",
            "--keys",
            "10",
            "--rate",
            "100",
            "--op-timeout",
            "3",
            "--time-limit",
            "8",
            "--seed",
            "1",
            "--nemesis-interval",
            "2",
            "--nemesis-hold",
            "3",
        ],
        Duration::from_secs(90),
    );
    assert_eq!(r.code, 0, "expected valid:\n{}", db_common::head(&r.text));
    let dir = run_dir(r.store.as_ref().expect("a store").path());
    let ops = history(&dir);
    let starts = nemesis(&ops, "start-packet");
    assert!(!starts.is_empty(), "no packet fault in the history");
    assert_eq!(starts[0]["value"]["delay-ms"], 100, "{}", starts[0]);
    let s = split(&ops);
    // Medians: the first operations of a run, while etcd settles, are slow whatever the fault.
    let (inside, outside) = (median(&s.inside), median(&s.outside));
    eprintln!(
        "delay 100±20 ms: ok median {inside:.1} ms inside ({}), {outside:.1} ms outside ({})",
        s.inside.len(),
        s.outside.len()
    );
    assert!(
        s.inside.len() >= 5 && s.outside.len() >= 5,
        "too few operations: {} inside, {} outside",
        s.inside.len(),
        s.outside.len()
    );
    // Every operation needs at least one round trip between members (a write's replication,
    // a linearizable read's ReadIndex heartbeat), so at least 2 × (100 − 20) ms here.
    // Measured (seed 1, two runs): medians 237 and 393 ms inside against 10 ms outside.
    assert!(
        inside > outside + 100.0 && inside > 3.0 * outside,
        "delay not visible: ok median {inside:.1} ms inside the fault, {outside:.1} ms outside"
    );
}

#[test]
fn etcd_packet_duplication_is_refused_before_the_run() {
    let r = db_common::run(
        &[
            "--target",
            "etcd",
            "--nemesis",
            "packet",
            "--packet",
            "duplicate=0.1",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 254, "{}", db_common::head(&r.text));
    assert!(
        r.text.contains("etcd") && r.text.contains("packet duplicate"),
        "{}",
        r.text
    );
}
