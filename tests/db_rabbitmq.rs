//! RabbitMQ (Debian's rabbitmq-server), one broker started on loopback by `faultline run
//! --target rabbitmq --workload queue`, checked with Jepsen's total-queue checker: the safe
//! configuration (durable queue, persistent messages, publisher confirms, manual acks) loses
//! no acknowledged message through kills (or, if the broker itself comes back short, the
//! verdict agrees with the broker's own counts), pauses and client partitions; a transient queue
//! loses every message it held when the broker is killed, and so do publishes without
//! confirms that the broker had not yet written. A packet delay on the clients' link (the
//! proxy) shows in the latency of the operations.
//!
//! The runs take one broker each and are serialized (booting RabbitMQ takes ~10 s of CPU; two
//! at once on a small machine slow each other down).

mod db_common;

use std::sync::Mutex;
use std::time::Duration;

const RABBITMQ: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

static ONE_BROKER_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run_queue(extra: &[&str]) -> db_common::DbRun {
    let _one = ONE_BROKER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut args = vec![
        "--target",
        "rabbitmq",
        "--workload",
        "queue",
        "--time-limit",
        "10",
        "--nemesis-interval",
        "1.5",
        "--nemesis-hold",
        "2",
    ];
    args.extend_from_slice(extra);
    db_common::run(&args, Duration::from_secs(120))
}

/// The number of fault windows the run reports (`faults: N (…)`).
fn faults(text: &str) -> usize {
    text.lines()
        .find_map(|l| l.strip_prefix("faults: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The broker's own counts of ready messages in the queue around the first kill (`rabbitmq:
/// queue … holds N ready messages just before the kill`, `… after the restart`), when it gave
/// both.
fn broker_counts(text: &str) -> Option<(u64, u64)> {
    let count = |marker: &str| {
        text.lines()
            .find(|l| l.contains("rabbitmq: queue ") && l.contains(marker))
            .and_then(|l| l.split(" holds ").nth(1))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    // "… holds 0 ready messages (the broker has no queue by that name) after the restart …"
    // when the restarted broker does not know the queue.
    Some((
        count(" just before the kill")?,
        count(" after the restart (")?,
    ))
}

/// How far the broker's count after a restart may fall below its count just before the kill
/// without the broker having lost anything: dequeues that completed between the count and the
/// kill, and publishes in flight that were never confirmed.
const COUNT_SLACK: u64 = 100;

#[test]
fn rabbitmq_safe_configuration_under_kill_is_valid_unless_the_broker_itself_came_back_short() {
    if !db_common::installed(RABBITMQ) {
        return;
    }
    let r = run_queue(&["--nemesis", "kill", "--seed", "1"]);
    assert!(
        faults(&r.text) >= 1,
        "no kill happened:\n{}",
        db_common::head(&r.text)
    );
    // RabbitMQ 3.10 is expected to keep every confirmed persistent message of a durable queue
    // through SIGKILL, and almost always does. Once in CI (1 run of dozens) it came back with
    // the queue empty: faultline's verdict then named 525 acknowledged messages lost. Which
    // of the two is wrong is decided by the broker's own counts around the kill: the verdict
    // must agree with them either way.
    let counts = broker_counts(&r.text);
    match r.code {
        0 => {
            assert!(r.text.contains("every acknowledged enqueue was dequeued"));
            if let Some((before, after)) = counts {
                assert!(
                    after + COUNT_SLACK >= before,
                    "valid, but the broker reported {before} messages before the kill and \
                     {after} after the restart:\n{}",
                    db_common::head(&r.text)
                );
            }
        }
        1 => {
            assert!(
                r.text.contains("INVALID — lost"),
                "{}",
                db_common::head(&r.text)
            );
            let (before, after) = counts.unwrap_or_else(|| {
                panic!(
                    "lost messages, and no count from the broker to confirm it:\n{}",
                    db_common::head(&r.text)
                )
            });
            assert!(
                after + COUNT_SLACK < before,
                "faultline says acknowledged messages were lost, but the broker reported \
                 {before} before the kill and {after} after the restart:\n{}",
                db_common::head(&r.text)
            );
            eprintln!(
                "RabbitMQ itself came back from SIGKILL with {after} of the {before} messages \
                 it held: the verdict (lost) agrees with the broker"
            );
        }
        code => panic!("exit {code}:\n{}", db_common::head(&r.text)),
    }
}

#[test]
fn rabbitmq_safe_configuration_loses_nothing_through_pauses_and_partitions() {
    if !db_common::installed(RABBITMQ) {
        return;
    }
    let r = run_queue(&["--nemesis", "pause,partition", "--seed", "3"]);
    assert_eq!(r.code, 0, "expected valid:\n{}", db_common::head(&r.text));
    assert!(
        faults(&r.text) >= 2,
        "too few faults:\n{}",
        db_common::head(&r.text)
    );
}

#[test]
fn rabbitmq_transient_queue_loses_messages_when_the_broker_is_killed() {
    if !db_common::installed(RABBITMQ) {
        return;
    }
    let r = run_queue(&[
        "--nemesis",
        "kill",
        "--rabbitmq-durable",
        "false",
        "--seed",
        "1",
    ]);
    assert_eq!(
        r.code,
        1,
        "expected lost messages:\n{}",
        db_common::head(&r.text)
    );
    assert!(
        r.text.contains("INVALID — lost"),
        "{}",
        db_common::head(&r.text)
    );
    assert!(
        r.text.contains("enqueued ok on lines"),
        "{}",
        db_common::head(&r.text)
    );
    // The broker's own counts agree: the transient queue is gone after the restart.
    let (before, after) = broker_counts(&r.text)
        .unwrap_or_else(|| panic!("no broker counts:\n{}", db_common::head(&r.text)));
    assert!(
        after + COUNT_SLACK < before,
        "the broker reported {before} messages before the kill and {after} after:\n{}",
        db_common::head(&r.text)
    );
}

#[test]
fn rabbitmq_without_publisher_confirms_loses_messages_when_the_broker_is_killed() {
    if !db_common::installed(RABBITMQ) {
        return;
    }
    // Enqueues are ok when sent: publishers run ahead of the broker, and a kill loses what it
    // had not written to disk yet (thousands of messages in a 10 s run).
    let r = run_queue(&[
        "--nemesis",
        "kill",
        "--rabbitmq-confirms",
        "false",
        "--seed",
        "7",
    ]);
    assert_eq!(
        r.code,
        1,
        "expected lost messages:\n{}",
        db_common::head(&r.text)
    );
    assert!(
        r.text.contains("INVALID — lost"),
        "{}",
        db_common::head(&r.text)
    );
}

#[test]
fn rabbitmq_runs_only_the_queue_workload_and_the_queue_only_on_rabbitmq() {
    let r = db_common::run(
        &["--target", "rabbitmq", "--workload", "register"],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 254, "{}", r.text);
    assert!(
        r.text.contains("--target rabbitmq runs --workload queue"),
        "{}",
        r.text
    );
    let r = db_common::run(
        &["--target", "local", "--workload", "queue"],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 254, "{}", r.text);
    assert!(
        r.text
            .contains("--workload queue runs against --target rabbitmq"),
        "{}",
        r.text
    );
}

#[test]
fn rabbitmq_packet_delay_on_the_clients_link_shows_in_the_latency_of_operations() {
    if !db_common::installed(RABBITMQ) {
        return;
    }
    let r = run_queue(&[
        "--nemesis",
        "packet",
        "--packet",
        "delay=100ms,jitter=20ms",
        "--seed",
        "1",
    ]);
    assert_eq!(r.code, 0, "expected valid:\n{}", db_common::head(&r.text));
    let store = r.store.as_ref().expect("a store").path();
    let dir = std::fs::canonicalize(store.join("latest")).expect("store/latest");
    let ops: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("history.jsonl"))
        .expect("a history")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    // The faults' windows, from a start's completion to its stop's invocation (the nemesis
    // records both as `info` lines, the invocation first).
    let t = |o: &serde_json::Value| o["time"].as_i64().unwrap_or(0);
    let (mut windows, mut start) = (Vec::new(), None);
    for o in ops.iter().filter(|o| o["process"] == "nemesis") {
        match (o["f"].as_str(), o["type"].as_str()) {
            (Some("start-packet"), _) => start = Some(t(o)),
            (Some("stop-packet"), _) => windows.extend(start.take().map(|s| (s, t(o)))),
            _ => {}
        }
    }
    assert!(!windows.is_empty(), "no packet fault in the history");
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    let mut open = std::collections::HashMap::new();
    for o in ops.iter().filter(|o| o["process"] != "nemesis") {
        let p = o["process"].to_string();
        if o["type"] == "invoke" {
            open.insert(p, t(o));
        } else if let Some(at) = open.remove(&p) {
            let end = t(o);
            if o["type"] != "ok" {
                continue;
            }
            let ms = (end - at) as f64 / 1e6;
            if windows.iter().any(|&(s, e)| at >= s && end <= e) {
                inside.push(ms);
            } else if windows.iter().all(|&(s, e)| end < s || at > e) {
                outside.push(ms);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (n_in, n_out) = (inside.len(), outside.len());
    let (inside, outside) = (median(&mut inside), median(&mut outside));
    eprintln!("delay 100±20 ms: ok median {inside:.1} ms inside ({n_in}), {outside:.1} ms outside ({n_out})");
    // Every publish waits for its confirm, every dequeue for its delivery: a round trip over
    // the delayed link, at least 2 × 80 ms. Measured (seed 1): medians 204 ms against 3.4 ms.
    assert!(
        n_in >= 5 && inside > outside + 100.0 && inside > 3.0 * outside,
        "delay not visible: ok median {inside:.1} ms inside the fault ({n_in}), \
         {outside:.1} ms outside ({n_out})"
    );
}
