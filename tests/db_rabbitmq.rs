//! RabbitMQ (Debian's rabbitmq-server), one broker started on loopback by `faultline run
//! --target rabbitmq --workload queue`, checked with Jepsen's total-queue checker: the safe
//! configuration (durable queue, persistent messages, publisher confirms, manual acks) loses
//! no acknowledged message through kills (or, if the broker itself comes back short, the
//! verdict agrees with the broker's own counts), pauses and client partitions; a transient queue
//! loses every message it held when the broker is killed, and so do publishes without
//! confirms that the broker had not yet written.
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
