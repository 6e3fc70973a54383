//! Jepsen's total-queue checker (`--workload total-queue`): hand-written histories for each
//! finding (lost, unexpected, duplicated, recovered, drains, the unknown verdict without a
//! drain), and a property test against a brute-force oracle that replays the history element
//! by element.

use checkers::history::pair_anonymous;
use checkers::history::read_history;
use checkers::history::Format;
use checkers::registry;
use checkers::Validity;
use checkers::{CheckOptions, CheckerKind, Report};
use proptest::prelude::*;
use serde_json::{json, Value};

fn ev(p: i64, t: &str, f: &str, v: Value) -> String {
    json!({"process": p, "type": t, "f": f, "value": v}).to_string()
}

fn check(lines: &[String]) -> Report {
    let text = lines.join("\n");
    let history = read_history("q.jsonl", text.as_bytes(), None).expect("readable");
    let ops = pair_anonymous(&history).expect("pairable");
    registry::find(CheckerKind::Workload, "total-queue")
        .expect("registered")
        .check_within_options("q.jsonl", Format::JsonLines, &ops, &CheckOptions::default())
        .expect("well-formed")
}

fn enq(p: i64, t: &str, v: i64) -> Vec<String> {
    vec![
        ev(p, "invoke", "enqueue", json!(v)),
        ev(p, t, "enqueue", json!(v)),
    ]
}

fn deq(p: i64, v: Option<i64>) -> Vec<String> {
    match v {
        Some(v) => vec![
            ev(p, "invoke", "dequeue", Value::Null),
            ev(p, "ok", "dequeue", json!(v)),
        ],
        // An empty queue, as faultline's clients record it.
        None => vec![
            ev(p, "invoke", "dequeue", Value::Null),
            json!({"process": p, "type": "fail", "f": "dequeue", "value": null, "error": "empty"})
                .to_string(),
        ],
    }
}

fn count(r: &Report, field: &str) -> u64 {
    r.details[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {}", r.details))
}

#[test]
fn every_acknowledged_enqueue_dequeued_is_valid() {
    let h = [
        enq(0, "ok", 1),
        enq(1, "ok", 2),
        deq(0, Some(2)),
        deq(1, Some(1)),
        deq(0, None),
    ]
    .concat();
    let r = check(&h);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(count(&r, "ok_count"), 2);
}

#[test]
fn an_acknowledged_enqueue_never_dequeued_is_lost() {
    let h = [
        enq(0, "ok", 1),
        enq(1, "ok", 2),
        deq(0, Some(2)),
        deq(0, None),
    ]
    .concat();
    let r = check(&h);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["lost"]);
    assert_eq!(r.details["lost"], json!([1]));
    assert!(r
        .explanation
        .iter()
        .any(|l| l.contains("- 1, enqueued ok on lines 1–2")));
}

#[test]
fn lost_without_a_drain_is_unknown_not_invalid() {
    // Nobody found the queue empty after the enqueue of 1: it may still be in there.
    let h = [
        deq(0, None),
        enq(0, "ok", 1),
        enq(1, "ok", 2),
        deq(0, Some(2)),
    ]
    .concat();
    let r = check(&h);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r
        .unknown_reason
        .unwrap()
        .contains("1 acknowledged element never dequeued"));
}

#[test]
fn an_indeterminate_dequeue_after_the_last_empty_one_makes_lost_unknown() {
    // The info dequeue may have held 1, which the broker requeues when its connection closes:
    // the empty dequeue before it proves nothing about 1.
    let mut h = [enq(0, "ok", 1), deq(1, None)].concat();
    h.push(ev(2, "invoke", "dequeue", Value::Null));
    h.push(ev(2, "info", "dequeue", Value::Null));
    assert_eq!(check(&h).valid, Validity::Unknown);
    h.extend(deq(1, None));
    assert_eq!(check(&h).valid, Validity::Invalid);
}

#[test]
fn a_dequeue_refused_without_a_connection_is_no_evidence_of_an_empty_queue() {
    // Regression: a run interrupted by Ctrl-C skips the drain; dequeues refused while the
    // broker was down came after the last enqueue, and must not turn "maybe still queued"
    // into "lost".
    let mut h = enq(0, "ok", 1);
    h.push(ev(1, "invoke", "dequeue", Value::Null));
    h.push(
        json!({"process": 1, "type": "fail", "f": "dequeue", "value": null,
               "error": "connect 127.0.0.1:5672: connection refused"})
        .to_string(),
    );
    assert_eq!(check(&h).valid, Validity::Unknown);
    // Jepsen's RabbitMQ test records an empty queue as value :exhausted.
    h.push(ev(1, "invoke", "dequeue", Value::Null));
    h.push(ev(1, "fail", "dequeue", json!(":exhausted")));
    assert_eq!(check(&h).valid, Validity::Invalid);
}

#[test]
fn a_dequeue_of_a_value_never_enqueued_is_unexpected() {
    let h = [
        enq(0, "ok", 1),
        deq(0, Some(1)),
        deq(1, Some(9)),
        deq(0, None),
    ]
    .concat();
    let r = check(&h);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["unexpected"]);
    assert_eq!(count(&r, "unexpected_count"), 1);
}

#[test]
fn duplicates_and_recovered_elements_are_reported_but_valid() {
    let h = [
        enq(0, "ok", 1),
        enq(1, "info", 2),
        enq(2, "fail", 3),
        deq(3, Some(1)),
        deq(3, Some(1)),
        deq(3, Some(2)),
        deq(3, Some(3)),
        deq(3, None),
    ]
    .concat();
    let r = check(&h);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(count(&r, "duplicated_count"), 1);
    assert_eq!(count(&r, "recovered_count"), 2);
    assert_eq!(r.details["duplicated"], json!([1]));
}

#[test]
fn an_ok_drain_counts_as_dequeues_and_as_evidence() {
    let mut h = [enq(0, "ok", 1), enq(1, "ok", 2), enq(1, "ok", 3)].concat();
    h.push(ev(4, "invoke", "drain", Value::Null));
    h.push(ev(4, "ok", "drain", json!([3, 1])));
    let r = check(&h);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.details["lost"], json!([2]));
}

#[test]
fn a_drain_without_a_list_is_bad_input_naming_the_line() {
    let mut h = enq(0, "ok", 1);
    h.push(ev(4, "invoke", "drain", Value::Null));
    h.push(ev(4, "ok", "drain", json!(1)));
    let text = h.join("\n");
    let history = read_history("q.jsonl", text.as_bytes(), None).unwrap();
    let ops = pair_anonymous(&history).unwrap();
    let e = registry::find(CheckerKind::Workload, "total-queue")
        .unwrap()
        .check_within_options("q.jsonl", Format::JsonLines, &ops, &CheckOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("q.jsonl"), "{e}");
    assert!(e.to_string().contains('4'), "{e}");
}

/// The oracle: replays the history into plain vectors and removes dequeued elements one by
/// one from the acknowledged and attempted lists.
fn oracle(events: &[(u8, i64, u8)]) -> (usize, usize, usize, usize, Vec<String>) {
    let mut lines = Vec::new();
    let mut attempted: Vec<i64> = Vec::new();
    let mut acked: Vec<i64> = Vec::new();
    let mut dequeued: Vec<i64> = Vec::new();
    for &(kind, v, outcome) in events {
        if kind % 2 == 0 {
            let t = ["ok", "info", "fail"][outcome as usize % 3];
            lines.extend(enq(0, t, v));
            attempted.push(v);
            if t == "ok" {
                acked.push(v);
            }
        } else {
            lines.extend(deq(1, Some(v)));
            dequeued.push(v);
        }
    }
    lines.extend(deq(1, None));
    // lost: acknowledged copies with no dequeued copy left to match them.
    let mut pool = dequeued.clone();
    let mut lost = 0;
    for v in &acked {
        match pool.iter().position(|d| d == v) {
            Some(i) => {
                pool.remove(i);
            }
            None => lost += 1,
        }
    }
    let unexpected = dequeued.iter().filter(|d| !attempted.contains(d)).count();
    let mut pool = attempted.clone();
    let mut duplicated = 0;
    let mut matched = Vec::new();
    for d in dequeued.iter().filter(|d| attempted.contains(d)) {
        match pool.iter().position(|a| a == d) {
            Some(i) => {
                matched.push(pool.remove(i));
            }
            None => duplicated += 1,
        }
    }
    let mut pool = acked.clone();
    let mut recovered = 0;
    for m in &matched {
        match pool.iter().position(|a| a == m) {
            Some(i) => {
                pool.remove(i);
            }
            None => recovered += 1,
        }
    }
    (lost, unexpected, duplicated, recovered, lines)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn counts_and_verdict_match_the_oracle(
        events in prop::collection::vec((0u8..4, 0i64..6, 0u8..3), 0..40)
    ) {
        let (lost, unexpected, duplicated, recovered, lines) = oracle(&events);
        let r = check(&lines);
        prop_assert_eq!(count(&r, "lost_count") as usize, lost);
        prop_assert_eq!(count(&r, "unexpected_count") as usize, unexpected);
        prop_assert_eq!(count(&r, "duplicated_count") as usize, duplicated);
        prop_assert_eq!(count(&r, "recovered_count") as usize, recovered);
        let expected = if lost == 0 && unexpected == 0 { Validity::Valid } else { Validity::Invalid };
        prop_assert_eq!(r.valid, expected);
    }
}
