//! The fault catalog end to end on the demo store (real processes on loopback, faults through
//! faultline's own link proxies): a one-way partition recorded with its grudge and healed;
//! packet loss giving timeouts without a wrong verdict; packet delay visible in latencies;
//! several fault kinds at once, each on its own schedule; refusals before the run (254).

mod common;

use common::bounded::run_bounded;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

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

/// Runs the sync demo store with `extra` flags; returns the output and the history's ops.
fn run_demo(store: &Path, extra: &[&str]) -> (Output, Vec<Value>) {
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "demo", "--mode", "sync", "--seed", "5"])
            .args(["--concurrency", "4", "--rate", "100"])
            .args(extra)
            .arg("--store")
            .arg(store),
        Duration::from_secs(60),
    );
    let history = std::fs::read_to_string(latest(store).join("history.jsonl")).unwrap_or_default();
    let ops = history
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (out, ops)
}

fn nemesis<'a>(ops: &'a [Value], f: &str) -> Vec<&'a Value> {
    ops.iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == f)
        .collect()
}

#[test]
fn a_one_way_partition_is_recorded_with_its_grudge_and_healed() {
    let store = tempfile::tempdir().unwrap();
    let (out, ops) = run_demo(
        store.path(),
        &[
            "--nemesis",
            "partition",
            "--nemesis-targets",
            "one-way",
            "--time-limit",
            "4",
            "--nemesis-interval",
            "0.5",
            "--nemesis-hold",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let starts = nemesis(&ops, "start-partition");
    assert!(!starts.is_empty(), "no partition in the history");
    let v = &starts[0]["value"];
    assert_eq!(v["kind"], "one-way", "{v}");
    let grudge = v["grudge"].as_object().expect("the grudge is recorded");
    assert_eq!(grudge.len(), 1, "only one node stops hearing: {v}");
    let (deaf, heard) = grudge.iter().next().unwrap();
    assert_eq!(heard.as_array().unwrap().len(), 2, "{v}");
    assert!(!heard
        .as_array()
        .unwrap()
        .contains(&Value::from(deaf.as_str())));
    assert!(!nemesis(&ops, "stop-partition").is_empty(), "never healed");
    let log = std::fs::read_to_string(latest(store.path()).join("run.log")).unwrap();
    assert!(
        log.contains(&format!("{deaf} deaf to")),
        "run.log names the grudge:\n{log}"
    );
    assert!(
        log.contains("healed: every node hears every other node again"),
        "{log}"
    );
}

#[test]
fn packet_loss_on_the_sync_demo_gives_timeouts_and_no_wrong_verdict() {
    let store = tempfile::tempdir().unwrap();
    let (out, ops) = run_demo(
        store.path(),
        &[
            "--nemesis",
            "packet",
            "--packet",
            "loss=0.6",
            "--op-timeout",
            "0.5",
            "--time-limit",
            "5",
            "--nemesis-interval",
            "0.5",
            "--nemesis-hold",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let starts = nemesis(&ops, "start-packet");
    assert!(!starts.is_empty(), "no packet fault in the history");
    assert_eq!(starts[0]["value"]["loss"], 0.6);
    assert!(!nemesis(&ops, "stop-packet").is_empty(), "never healed");
    let infos = ops
        .iter()
        .filter(|o| o["process"] != "nemesis" && o["type"] == "info")
        .count();
    assert!(infos > 0, "packet loss caused no timeout (info)");
}

#[test]
fn packet_delay_shows_in_the_latency_of_operations() {
    let store = tempfile::tempdir().unwrap();
    let (out, ops) = run_demo(
        store.path(),
        &[
            "--nemesis",
            "packet",
            "--packet",
            "delay=150ms",
            "--op-timeout",
            "3",
            "--time-limit",
            "5",
            "--nemesis-interval",
            "1.5",
            "--nemesis-hold",
            "2.5",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let t = |o: &Value| o["time"].as_i64().unwrap_or(0);
    let start = nemesis(&ops, "start-packet")
        .last()
        .map(|o| t(o))
        .expect("a start");
    let stop = nemesis(&ops, "stop-packet")
        .first()
        .map(|o| t(o))
        .expect("a stop");
    // Latency of every ok write/read: invoke → completion by process.
    let mut open = std::collections::HashMap::new();
    let (mut before, mut during) = (Vec::new(), Vec::new());
    for o in ops.iter().filter(|o| o["process"] != "nemesis") {
        let p = o["process"].to_string();
        match o["type"].as_str() {
            Some("invoke") => {
                open.insert(p, t(o));
            }
            Some("ok") => {
                if let Some(at) = open.remove(&p) {
                    let ms = (t(o) - at) as f64 / 1e6;
                    if t(o) < start - 200_000_000 {
                        before.push(ms);
                    } else if at > start && t(o) < stop {
                        during.push(ms);
                    }
                }
            }
            _ => {
                open.remove(&p);
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    assert!(
        !before.is_empty() && !during.is_empty(),
        "{} / {}",
        before.len(),
        during.len()
    );
    assert!(
        mean(&during) > mean(&before) + 100.0,
        "delay not visible: mean {:.1} ms before, {:.1} ms during",
        mean(&before),
        mean(&during)
    );
}

#[test]
fn combined_faults_run_on_their_own_schedules_and_the_sync_demo_stays_valid() {
    let store = tempfile::tempdir().unwrap();
    let (out, ops) = run_demo(
        store.path(),
        &[
            "--nemesis",
            "partition,kill,packet",
            "--packet",
            "delay=20ms,jitter=10ms",
            "--time-limit",
            "8",
            "--nemesis-interval",
            "1",
            "--nemesis-hold",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    for f in ["start-partition", "kill", "start-packet"] {
        assert!(!nemesis(&ops, f).is_empty(), "no {f} in the history");
    }
    // Some fault started while another kind was in effect.
    let mut active = 0i32;
    let mut overlapped = false;
    let mut seen = std::collections::HashSet::new();
    for o in ops.iter().filter(|o| o["process"] == "nemesis") {
        // Count each op once (invocation), by its f and value.
        let key = format!("{}{}", o["f"], o["value"]);
        if !seen.insert(key.clone()) {
            seen.remove(&key);
            continue;
        }
        match o["f"].as_str() {
            Some("start-partition" | "kill" | "start-packet") => {
                overlapped |= active > 0;
                active += 1;
            }
            Some("stop-partition" | "restart" | "stop-packet") => active -= 1,
            _ => {}
        }
    }
    assert!(overlapped, "no two fault kinds were ever in effect at once");
    let log = std::fs::read_to_string(latest(store.path()).join("run.log")).unwrap();
    assert!(log.contains("healed:"), "{log}");
}

#[test]
fn faults_a_target_cannot_do_are_refused_before_the_run() {
    let store = tempfile::tempdir().unwrap();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "demo", "--nemesis", "packet"])
            .args(["--packet", "duplicate=0.1"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(254), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("demo") && err.contains("packet duplicate"),
        "{err}"
    );
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "etcd", "--nemesis", "partition"])
            .args(["--nemesis-targets", "primaries"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(254), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("etcd") && err.contains("primaries"), "{err}");
    assert!(!store.path().join("latest").exists(), "nothing ran");
}

#[test]
fn the_async_demo_under_combined_faults_is_invalid_and_names_the_faults_in_effect() {
    let store = tempfile::tempdir().unwrap();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "demo", "--mode", "async", "--seed", "3"])
            .args([
                "--nemesis",
                "partition,kill,packet",
                "--packet",
                "delay=20ms",
            ])
            .args(["--time-limit", "6", "--nemesis-interval", "0.5"])
            .args(["--nemesis-hold", "1.5"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("faults in effect at the anomaly: "),
        "{}",
        describe(&out)
    );
}
