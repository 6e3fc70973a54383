//! Misbehaving servers (issue 8, part 4): `run --target http-kv` against a chaos front over a
//! correct register store (tests/crash_support/chaos.rs) that hangs, resets connections,
//! answers garbage with 200, or answers 500 on every few requests. Operations become `info`
//! (writes, cas) or `fail` (reads: they change nothing), no worker stalls beyond
//! `--op-timeout`, and the verdict stays honest: valid (or unknown) for the misbehaving but
//! correct server, invalid for the one that lies. Loopback only; each run is a few seconds.

mod common;
#[path = "crash_support/mod.rs"]
mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::chaos::{Chaos, Mode};
use support::*;

const CONCURRENCY: u64 = 4;
const TIME_LIMIT: f64 = 2.0;

/// What one run against the chaos front gave.
struct Ran {
    code: i32,
    /// Completions by type (`ok`, `fail`, `info`).
    outcomes: BTreeMap<String, u64>,
    /// Completions by `f/type/error`, for the figures.
    detail: BTreeMap<String, u64>,
    /// Worker slots (process mod concurrency) that completed an operation in the last
    /// quarter of the main phase.
    late_workers: BTreeSet<u64>,
    /// Wall time of the whole run, check included.
    elapsed: Duration,
    output: String,
}

fn run_against(mode: Mode, every: u64) -> Ran {
    let chaos = Chaos::start(mode, every);
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run_bounded(
        faultline()
            .args(["run", "--target", "http-kv", "--workload", "register"])
            .args(["--nodes", &chaos.addr.to_string()])
            .args(["--time-limit", &TIME_LIMIT.to_string(), "--seed", "11"])
            .args(["--concurrency", &CONCURRENCY.to_string(), "--rate", "400"])
            .args(["--op-timeout", "0.3", "--keys", "3", "--format", "json"])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(60),
    );
    let elapsed = started.elapsed();
    let dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let (mut outcomes, mut detail) = (BTreeMap::new(), BTreeMap::new());
    let mut late_workers = BTreeSet::new();
    let late = (TIME_LIMIT * 0.75 * 1e9) as u64;
    let main_end = (TIME_LIMIT * 1e9) as u64;
    for line in history.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let (Some(process), Some(kind)) = (e["process"].as_u64(), e["type"].as_str()) else {
            continue;
        };
        if kind == "invoke" {
            continue;
        }
        *outcomes.entry(kind.to_string()).or_default() += 1;
        let error = match &e["error"] {
            Value::Null => String::new(),
            Value::String(s) => format!("/{}", s.split(':').next().unwrap_or(s)),
            other => format!("/{other}"),
        };
        let f = e["f"].as_str().unwrap_or("?");
        *detail.entry(format!("{f}/{kind}{error}")).or_default() += 1;
        let t = e["time"].as_u64().unwrap_or(0);
        if (late..main_end).contains(&t) {
            late_workers.insert(process % CONCURRENCY);
        }
    }
    Ran {
        code: out.status.code().unwrap_or(-1),
        outcomes,
        detail,
        late_workers,
        elapsed,
        output: describe(&out),
    }
}

/// The run went on: every worker still completed operations late in the main phase, and the
/// whole run ended within its time limit plus the quiet period, final reads and check.
fn assert_ran_on(name: &str, r: &Ran) {
    assert_eq!(
        r.late_workers.len() as u64,
        CONCURRENCY,
        "{name}: some worker stalled: {:?}\n{}",
        r.late_workers,
        r.output
    );
    assert!(
        r.elapsed < Duration::from_secs(20),
        "{name}: took {:?}",
        r.elapsed
    );
}

fn count(r: &Ran, kind: &str) -> u64 {
    r.outcomes.get(kind).copied().unwrap_or(0)
}

#[test]
fn a_correct_server_that_hangs_resets_or_errs_gives_info_or_fail_and_an_honest_verdict() {
    let baseline = run_against(Mode::Correct, 1);
    assert_eq!(baseline.code, 0, "{}", baseline.output);
    assert_ran_on("correct", &baseline);
    eprintln!("correct: exit {}, {:?}", baseline.code, baseline.outcomes);
    for (name, mode) in [
        ("hang", Mode::Hang),
        ("reset", Mode::Reset),
        ("garbage 200", Mode::Garbage),
        ("500", Mode::ServerError),
    ] {
        let r = run_against(mode, 5);
        eprintln!(
            "{name}: exit {}, {:?}, {:?}, {:.1} s",
            r.code,
            r.outcomes,
            r.detail,
            r.elapsed.as_secs_f64()
        );
        // Valid, or unknown if the open operations were too many to search: never invalid.
        assert!(matches!(r.code, 0 | 2), "{name}: {}", r.output);
        assert_ran_on(name, &r);
        // Misbehaviour to a write left it open; to a read, failed.
        assert!(count(&r, "info") > 0, "{name}: {:?}", r.detail);
        assert!(
            r.detail.keys().any(|k| k.starts_with("read/fail")),
            "{name}: {:?}",
            r.detail
        );
        assert!(
            !r.detail.keys().any(|k| k.starts_with("read/info")),
            "{name}: a read left open: {:?}",
            r.detail
        );
        assert!(count(&r, "ok") > 30, "{name}: {:?}", r.outcomes);
    }
}

#[test]
fn a_lying_server_is_still_caught() {
    let r = run_against(Mode::Lie, 7);
    eprintln!("lie: exit {}, {:?}", r.code, r.outcomes);
    assert_eq!(r.code, 1, "{}", r.output);
    let result: Value = serde_json::from_str(
        r.output
            .split("stdout:\n")
            .nth(1)
            .and_then(|s| s.split("\nstderr:").next())
            .unwrap_or("null"),
    )
    .unwrap();
    assert_eq!(result["valid"], Value::Bool(false), "{result}");
}
