//! Jepsen's workload checkers (counter, set, set-full, bank, long-fork, unique-ids) on small
//! JSON-lines histories: a valid case and each failure class per checker, and malformed input.
//! Properties over generated histories are in `jepsen_props.rs`.

use checkers::history::pair_anonymous;
use checkers::history::read_history;
use checkers::history::Format;
use checkers::registry;
use checkers::InputError;
use checkers::Validity;
use checkers::{CheckOptions, CheckerKind, Report};
use serde_json::{json, Value};

/// One event as a JSON line: process, type, f, value.
fn ev(p: i64, t: &str, f: &str, v: Value) -> String {
    json!({"process": p, "type": t, "f": f, "value": v}).to_string()
}

/// The same with a `time` (nanoseconds).
fn evt(p: i64, t: &str, f: &str, v: Value, time: i64) -> String {
    json!({"process": p, "type": t, "f": f, "value": v, "time": time}).to_string()
}

fn check_with(name: &str, lines: &[String], opts: &CheckOptions) -> Result<Report, InputError> {
    let text = lines.join("\n");
    let history = read_history("t.jsonl", text.as_bytes(), None)?;
    let ops = pair_anonymous(&history)?;
    registry::find(CheckerKind::Workload, name)
        .expect("registered")
        .check_within_options("t.jsonl", Format::JsonLines, &ops, opts)
}

fn check(name: &str, lines: &[String]) -> Report {
    check_with(name, lines, &CheckOptions::default()).expect("well-formed history")
}

fn error(name: &str, lines: &[String]) -> InputError {
    check_with(name, lines, &CheckOptions::default()).expect_err("malformed history")
}

fn nemesis() -> String {
    json!({"process": "nemesis", "type": "info", "f": "start-partition", "value": "majority"})
        .to_string()
}

// ---------------------------------------------------------------- counter

#[test]
fn counter_reads_within_their_windows_are_valid() {
    let r = check(
        "counter",
        &[
            ev(0, "invoke", "add", json!(1)),
            ev(0, "ok", "add", json!(1)),
            nemesis(),
            ev(1, "invoke", "add", json!(2)),
            ev(0, "invoke", "read", Value::Null),
            ev(0, "ok", "read", json!(3)),
            ev(1, "info", "add", json!(2)),
            ev(0, "invoke", "read", Value::Null),
            ev(0, "ok", "read", json!(1)),
        ],
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(r.details["read_count"], 2);
    assert_eq!(r.details["info_add_count"], 1);
    assert_eq!(r.stats.ops, 4, "the nemesis record is not a client op");
}

#[test]
fn counter_read_above_every_attempted_add_is_out_of_bounds() {
    let r = check(
        "counter",
        &[
            ev(0, "invoke", "add", json!(1)),
            ev(0, "ok", "add", json!(1)),
            ev(1, "invoke", "add", json!(5)),
            ev(1, "fail", "add", json!(5)),
            ev(0, "invoke", "read", Value::Null),
            ev(0, "ok", "read", json!(6)),
        ],
    );
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["out-of-bounds-read"]);
    let e = &r.details["errors"][0];
    assert_eq!(
        (&e["lower"], &e["value"], &e["upper"]),
        (&json!(1), &json!(6), &json!(1))
    );
    assert_eq!(e["invoke_line"], 5);
    assert!(
        r.explanation.iter().any(|l| l.contains("lines 5–6")),
        "{:?}",
        r.explanation
    );
}

#[test]
fn counter_read_below_completed_adds_is_out_of_bounds() {
    let r = check(
        "counter",
        &[
            ev(0, "invoke", "add", json!(2)),
            ev(0, "ok", "add", json!(2)),
            ev(1, "invoke", "read", Value::Null),
            ev(1, "ok", "read", json!(1)),
        ],
    );
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.details["errors"][0]["lower"], 2);
    assert!(r.explanation[1].contains("below 2"), "{:?}", r.explanation);
}

#[test]
fn counter_add_concurrent_with_a_read_may_or_may_not_count() {
    for seen in [0, 4] {
        let r = check(
            "counter",
            &[
                ev(0, "invoke", "add", json!(4)),
                ev(1, "invoke", "read", Value::Null),
                ev(1, "ok", "read", json!(seen)),
                ev(0, "ok", "add", json!(4)),
            ],
        );
        assert_eq!(r.valid, Validity::Valid, "read of {seen}");
    }
}

#[test]
fn counter_negative_deltas_widen_the_window_on_their_side() {
    let lines = |seen: i64| {
        vec![
            ev(0, "invoke", "add", json!(5)),
            ev(0, "ok", "add", json!(5)),
            ev(1, "invoke", "add", json!(-2)),
            ev(0, "invoke", "read", Value::Null),
            ev(0, "ok", "read", json!(seen)),
        ]
    };
    assert_eq!(check("counter", &lines(3)).valid, Validity::Valid);
    assert_eq!(check("counter", &lines(5)).valid, Validity::Valid);
    assert_eq!(check("counter", &lines(2)).valid, Validity::Invalid);
    assert_eq!(check("counter", &lines(6)).valid, Validity::Invalid);
}

#[test]
fn counter_malformed_values_are_input_errors() {
    let e = error(
        "counter",
        &[
            ev(0, "invoke", "read", Value::Null),
            ev(0, "ok", "read", json!("x")),
        ],
    );
    assert_eq!(e.line, 2);
    assert!(e.message.contains("expected an integer count"), "{e}");
    let e = error("counter", &[ev(0, "invoke", "add", json!([1]))]);
    assert!(e.message.contains("expected an integer delta"), "{e}");
    let e = error("counter", &[ev(0, "invoke", "cas", json!([1, 2]))]);
    assert!(e.message.contains("expected :add or :read"), "{e}");
}

// ---------------------------------------------------------------- set

fn set_history(read: Value) -> Vec<String> {
    vec![
        ev(0, "invoke", "add", json!(1)),
        ev(0, "ok", "add", json!(1)),
        ev(1, "invoke", "add", json!(2)),
        ev(1, "ok", "add", json!(2)),
        ev(2, "invoke", "add", json!(3)),
        ev(2, "info", "add", json!(3)),
        ev(3, "invoke", "add", json!(4)),
        ev(3, "fail", "add", json!(4)),
        nemesis(),
        ev(0, "invoke", "read", Value::Null),
        ev(0, "ok", "read", read),
    ]
}

#[test]
fn set_every_acknowledged_add_read_is_valid_and_info_adds_recover() {
    let r = check("set", &set_history(json!([2, 1, 3])));
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(r.details["ok_count"], 3);
    assert_eq!(r.details["recovered"], json!([3]));
    assert_eq!(r.details["attempt_count"], 4);
    assert_eq!(r.details["acknowledged_count"], 2);
}

#[test]
fn set_missing_acknowledged_add_is_lost() {
    let r = check("set", &set_history(json!([1])));
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["lost"]);
    assert_eq!(r.details["lost"], json!([2]));
    assert!(r
        .explanation
        .iter()
        .any(|l| l.contains("2, added ok on lines 3–4")));
}

#[test]
fn set_element_never_attempted_is_unexpected() {
    let r = check("set", &set_history(json!([1, 2, 9])));
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["unexpected"]);
    assert_eq!(r.details["unexpected"], json!([9]));
}

#[test]
fn set_only_the_last_read_counts_and_no_read_is_unknown() {
    let mut lines = set_history(json!([1]));
    lines.push(ev(0, "invoke", "read", Value::Null));
    lines.push(ev(0, "ok", "read", json!([1, 2])));
    assert_eq!(check("set", &lines).valid, Validity::Valid);
    let r = check("set", &set_history(json!([1]))[..8]);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.unknown_reason.unwrap().contains("never read"));
}

#[test]
fn set_read_that_is_not_a_list_is_an_input_error() {
    let e = error("set", &set_history(json!({"a": 1})));
    assert_eq!(e.line, 11);
    assert!(e.message.contains("expected a list"), "{e}");
}

// ---------------------------------------------------------------- set-full

#[test]
fn set_full_elements_read_stably_are_valid_with_latencies() {
    let r = check(
        "set-full",
        &[
            evt(0, "invoke", "add", json!(1), 0),
            evt(0, "ok", "add", json!(1), 1_000_000),
            evt(1, "invoke", "read", Value::Null, 2_000_000),
            evt(1, "ok", "read", json!([]), 3_000_000),
            evt(1, "invoke", "read", Value::Null, 5_000_000),
            evt(1, "ok", "read", json!([1]), 6_000_000),
            evt(0, "invoke", "add", json!(2), 7_000_000),
            evt(0, "ok", "add", json!(2), 8_000_000),
        ],
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(r.details["stable_count"], 1);
    assert_eq!(r.details["never_read"], json!([2]));
    assert_eq!(
        r.details["stale"],
        json!([1]),
        "a read began after 1 was known and missed it"
    );
    assert_eq!(r.details["worst_stale"][0]["stable_latency_ms"], 1);
    assert_eq!(r.details["stable_latencies"]["1"], 1);
}

#[test]
fn set_full_element_missing_after_it_was_seen_is_lost() {
    let r = check(
        "set-full",
        &[
            ev(0, "invoke", "add", json!(1)),
            ev(0, "ok", "add", json!(1)),
            ev(0, "invoke", "add", json!(2)),
            ev(0, "ok", "add", json!(2)),
            ev(1, "invoke", "read", Value::Null),
            ev(1, "ok", "read", json!([1, 2])),
            ev(1, "invoke", "read", Value::Null),
            ev(1, "ok", "read", json!([2])),
        ],
    );
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["lost"]);
    assert_eq!(r.details["lost"], json!([1]));
    let lost = &r.details["lost_elements"][0];
    assert_eq!(
        (&lost["last_present_line"], &lost["last_absent_line"]),
        (&json!(5), &json!(7))
    );
}

#[test]
fn set_full_read_concurrent_with_the_add_that_misses_it_is_not_a_loss() {
    let r = check(
        "set-full",
        &[
            ev(1, "invoke", "read", Value::Null),
            ev(0, "invoke", "add", json!(1)),
            ev(0, "ok", "add", json!(1)),
            ev(1, "ok", "read", json!([])),
            ev(2, "invoke", "add", json!(2)),
            ev(2, "ok", "add", json!(2)),
            ev(2, "invoke", "read", Value::Null),
            ev(2, "ok", "read", json!([2])),
        ],
    );
    assert_eq!(
        r.valid,
        Validity::Invalid,
        "1 is lost: the last read misses it"
    );
    let r = check(
        "set-full",
        &[
            ev(1, "invoke", "read", Value::Null),
            ev(0, "invoke", "add", json!(1)),
            ev(0, "ok", "add", json!(1)),
            ev(1, "ok", "read", json!([])),
            ev(2, "invoke", "add", json!(2)),
            ev(2, "ok", "add", json!(2)),
            ev(2, "invoke", "read", Value::Null),
            ev(2, "ok", "read", json!([1, 2])),
        ],
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(
        r.details["stale_count"], 0,
        "the missing read began before 1 was known"
    );
}

#[test]
fn set_full_duplicates_and_unexpected_elements_are_invalid() {
    let base = |read: Value| {
        vec![
            ev(0, "invoke", "add", json!(1)),
            ev(0, "ok", "add", json!(1)),
            ev(1, "invoke", "read", Value::Null),
            ev(1, "ok", "read", read),
        ]
    };
    let r = check("set-full", &base(json!([1, 1])));
    assert_eq!(r.anomalies, ["duplicated"]);
    assert_eq!(r.details["duplicated"][0]["max_count"], 2);
    let r = check("set-full", &base(json!([1, 7])));
    assert_eq!(r.anomalies, ["unexpected"]);
    assert_eq!(r.valid, Validity::Invalid);
}

#[test]
fn set_full_without_any_stable_element_is_unknown() {
    let r = check(
        "set-full",
        &[
            ev(0, "invoke", "add", json!(1)),
            ev(0, "info", "add", json!(1)),
        ],
    );
    assert_eq!(r.valid, Validity::Unknown);
    let e = error(
        "set-full",
        &[
            ev(1, "invoke", "read", Value::Null),
            ev(1, "ok", "read", json!(3)),
        ],
    );
    assert!(e.message.contains("expected a list"), "{e}");
}

// ---------------------------------------------------------------- bank

fn bank(reads: &[Value]) -> Vec<String> {
    let mut out = vec![
        ev(
            0,
            "invoke",
            "transfer",
            json!({"from": 0, "to": 1, "amount": 5}),
        ),
        ev(
            0,
            "ok",
            "transfer",
            json!({"from": 0, "to": 1, "amount": 5}),
        ),
        nemesis(),
    ];
    for r in reads {
        out.push(ev(1, "invoke", "read", Value::Null));
        out.push(ev(1, "ok", "read", r.clone()));
    }
    out
}

#[test]
fn bank_reads_with_the_first_reads_total_are_valid() {
    let r = check(
        "bank",
        &bank(&[json!({"0": 10, "1": 0}), json!({"0": 5, "1": 5})]),
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(r.details["total"], 10);
    assert_eq!(r.details["accounts"], json!(["0", "1"]));
    assert_eq!(r.details["transfer_count"], 1);
}

#[test]
fn bank_each_bad_read_is_named_by_its_first_broken_rule() {
    let r = check(
        "bank",
        &bank(&[
            json!({"0": 10, "1": 0}),
            json!({"0": 5, "1": 4}),
            json!({"0": 12, "1": -2}),
            json!({"0": 5, "1": 5, "2": 0}),
            json!({"0": 10, "1": null}),
        ]),
    );
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(
        r.anomalies,
        [
            "negative-value",
            "nil-balance",
            "unexpected-key",
            "wrong-total"
        ]
    );
    assert_eq!(r.details["error_count"], 4);
    assert_eq!(r.details["errors"]["wrong-total"]["first"]["total"], 9);
    assert_eq!(
        r.details["errors"]["negative-value"]["first"]["negative"],
        json!(["1"])
    );
    assert_eq!(
        r.details["errors"]["unexpected-key"]["first"]["unexpected"],
        json!(["2"])
    );
    assert_eq!(r.details["first_error"]["complete_line"], 7);
    assert!(
        r.explanation.iter().any(|l| l.contains("account 1 = -2")),
        "{:?}",
        r.explanation
    );
}

#[test]
fn bank_negative_balances_are_allowed_on_request() {
    let lines = bank(&[json!({"0": 10, "1": 0}), json!({"0": 12, "1": -2})]);
    assert_eq!(check("bank", &lines).valid, Validity::Invalid);
    let opts = CheckOptions {
        negative_balances: true,
        ..CheckOptions::default()
    };
    let r = check_with("bank", &lines, &opts).unwrap();
    assert_eq!(r.valid, Validity::Valid);
}

#[test]
fn bank_total_amount_judges_every_read_including_the_first() {
    // Every read agrees on 9: valid against the first read's total, invalid against 10, and
    // the first read is named.
    let lines = bank(&[json!({"0": 9, "1": 0}), json!({"0": 4, "1": 5})]);
    assert_eq!(check("bank", &lines).valid, Validity::Valid);
    let opts = CheckOptions {
        total_amount: Some(10),
        ..CheckOptions::default()
    };
    let r = check_with("bank", &lines, &opts).unwrap();
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["wrong-total"]);
    assert_eq!(r.details["total"], 10);
    assert_eq!(r.details["total_given"], true);
    assert_eq!(r.details["error_count"], 2);
    assert_eq!(r.details["first_error"]["complete_line"], 5);
    assert!(
        r.explanation
            .iter()
            .any(|l| l.contains("lines 4–5 (process 1)") && l.contains("add up to 9, not 10")),
        "{:?}",
        r.explanation
    );
    // The right total: valid, and a first read with a null balance no longer leaves the
    // check without a total.
    let opts = CheckOptions {
        total_amount: Some(9),
        ..CheckOptions::default()
    };
    assert_eq!(
        check_with("bank", &lines, &opts).unwrap().valid,
        Validity::Valid
    );
    let nil_first = bank(&[json!({"0": 9, "1": null}), json!({"0": 4, "1": 5})]);
    assert_eq!(check("bank", &nil_first).valid, Validity::Unknown);
    let r = check_with("bank", &nil_first, &opts).unwrap();
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["nil-balance"]);
}

#[test]
fn bank_total_amount_with_negative_balances_still_checks_the_sum() {
    let lines = bank(&[json!({"0": 12, "1": -2}), json!({"0": 11, "1": -2})]);
    let opts = CheckOptions {
        total_amount: Some(10),
        negative_balances: true,
        ..CheckOptions::default()
    };
    let r = check_with("bank", &lines, &opts).unwrap();
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["wrong-total"]);
    assert_eq!(r.details["error_count"], 1);
}

#[test]
fn bank_malformed_reads_and_transfers_are_input_errors() {
    let e = error("bank", &bank(&[json!([10, 0])]));
    assert_eq!(e.line, 5);
    assert!(e.message.contains("expected a map"), "{e}");
    let e = error("bank", &bank(&[json!({"0": "ten"})]));
    assert!(e.message.contains("integer or null balance"), "{e}");
    let e = error(
        "bank",
        &[ev(0, "invoke", "transfer", json!({"from": 0, "to": 1}))],
    );
    assert_eq!(e.line, 1);
    assert!(e.message.contains("amount"), "{e}");
}

// ---------------------------------------------------------------- long-fork

fn txn(p: i64, t: &str, v: Value) -> String {
    ev(p, t, "txn", v)
}

#[test]
fn long_fork_totally_ordered_reads_are_valid() {
    let r = check(
        "long-fork",
        &[
            txn(0, "invoke", json!([["w", 0, 1]])),
            txn(0, "ok", json!([["w", 0, 1]])),
            txn(1, "invoke", json!([["r", 0, null], ["r", 1, null]])),
            txn(1, "ok", json!([["r", 0, 1], ["r", 1, null]])),
            txn(0, "invoke", json!([["w", 1, 1]])),
            txn(0, "ok", json!([["w", 1, 1]])),
            txn(1, "invoke", json!([["r", 1, null], ["r", 0, null]])),
            txn(1, "ok", json!([["r", 1, 1], ["r", 0, 1]])),
        ],
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(r.details["group_size"], 2);
    assert_eq!(r.details["late_read_count"], 1);
}

#[test]
fn long_fork_reads_seeing_writes_in_opposite_orders_are_a_fork() {
    let lines = [
        txn(0, "invoke", json!([["w", 0, 1]])),
        txn(1, "invoke", json!([["w", 1, 1]])),
        txn(2, "invoke", json!([["r", 0, null], ["r", 1, null]])),
        txn(3, "invoke", json!([["r", 1, null], ["r", 0, null]])),
        txn(2, "ok", json!([["r", 0, 1], ["r", 1, null]])),
        txn(3, "ok", json!([["r", 1, 1], ["r", 0, null]])),
        txn(0, "ok", json!([["w", 0, 1]])),
        txn(1, "ok", json!([["w", 1, 1]])),
    ];
    let r = check("long-fork", &lines);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["long-fork"]);
    assert_eq!(r.details["fork_count"], 1);
    assert_eq!(r.details["forks"][0]["a_only"], json!([0, 1]));
    assert_eq!(r.details["forks"][0]["b_only"], json!([1, 1]));
    assert!(
        r.explanation[2].contains("lines 3–5"),
        "{:?}",
        r.explanation
    );
}

#[test]
fn long_fork_histories_it_cannot_judge_are_unknown() {
    let twice = [
        txn(0, "invoke", json!([["w", 0, 1]])),
        txn(0, "ok", json!([["w", 0, 1]])),
        txn(0, "invoke", json!([["w", 0, 2]])),
        txn(0, "ok", json!([["w", 0, 2]])),
    ];
    let r = check("long-fork", &twice);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.unknown_reason.unwrap().contains("written twice"));

    let sizes = [
        txn(1, "invoke", json!([["r", 0, null], ["r", 1, null]])),
        txn(1, "ok", json!([["r", 0, null], ["r", 1, null]])),
        txn(1, "invoke", json!([["r", 2, null]])),
        txn(1, "ok", json!([["r", 2, null]])),
    ];
    let r = check("long-fork", &sizes);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.unknown_reason.unwrap().contains("exactly 2"));
    let opts = CheckOptions {
        group_size: Some(1),
        ..CheckOptions::default()
    };
    let r = check_with("long-fork", &sizes, &opts).unwrap();
    assert_eq!(
        r.valid,
        Validity::Unknown,
        "the 2-key read is the wrong size now"
    );
}

#[test]
fn long_fork_works_without_processes_and_rejects_bad_micro_ops() {
    let lines: Vec<String> = [
        json!({"type": "invoke", "f": "read", "value": [["r", 0, null], ["r", 1, null]]}),
        json!({"type": "ok", "f": "read", "value": [["r", 0, 1], ["r", 1, null]]}),
        json!({"type": "invoke", "f": "read", "value": [["r", 0, null], ["r", 1, null]]}),
        json!({"type": "ok", "f": "read", "value": [["r", 0, null], ["r", 1, 1]]}),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    let r = check("long-fork", &lines);
    assert_eq!(r.valid, Validity::Invalid);
    assert!(
        r.explanation[2].contains("lines 1–2"),
        "{:?}",
        r.explanation
    );
    let e = error("long-fork", &[txn(0, "invoke", json!([["append", 0, 1]]))]);
    assert!(e.message.contains("micro-operations"), "{e}");
}

// ---------------------------------------------------------------- unique-ids

#[test]
fn unique_ids_distinct_ids_are_valid() {
    let r = check(
        "unique-ids",
        &[
            ev(0, "invoke", "generate", Value::Null),
            ev(0, "ok", "generate", json!(3)),
            ev(1, "invoke", "generate", Value::Null),
            ev(1, "info", "generate", Value::Null),
            ev(0, "invoke", "generate", Value::Null),
            ev(0, "ok", "generate", json!(1)),
        ],
    );
    assert_eq!(r.valid, Validity::Valid);
    assert_eq!(r.details["attempted_count"], 3);
    assert_eq!(r.details["acknowledged_count"], 2);
    assert_eq!(r.details["range"], json!([1, 3]));
}

#[test]
fn unique_ids_repeated_ids_are_duplicated() {
    let mut lines = Vec::new();
    for (p, id) in [(0, 7), (1, 7), (0, 8), (1, 7), (0, 8), (1, 9)] {
        lines.push(ev(p, "invoke", "generate", Value::Null));
        lines.push(ev(p, "ok", "generate", json!(id)));
    }
    let r = check("unique-ids", &lines);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["duplicated"]);
    assert_eq!(r.details["duplicated_count"], 2);
    assert_eq!(
        r.details["duplicated"][0],
        json!({"id": 7, "count": 3, "lines": [2, 4, 8]})
    );
    assert!(
        r.explanation[2].contains("7 returned 3 times"),
        "{:?}",
        r.explanation
    );
    let e = error(
        "unique-ids",
        &[
            ev(0, "invoke", "generate", Value::Null),
            ev(0, "ok", "generate", Value::Null),
        ],
    );
    assert_eq!(e.line, 2);
    let e = error("unique-ids", &[ev(0, "invoke", "add", json!(1))]);
    assert!(e.message.contains("expected :generate"), "{e}");
}

#[test]
fn bank_failed_transfer_completion_may_carry_an_error_value() {
    // As in elle-cli's bank-tidb.edn: `:fail :transfer :value [:negative 2 -1]`.
    let mut lines = vec![
        ev(
            0,
            "invoke",
            "transfer",
            json!({"from": 2, "to": 1, "amount": 1}),
        ),
        ev(0, "fail", "transfer", json!(["negative", 2, -1])),
    ];
    lines.extend(bank(&[json!({"0": 10, "1": 0})]));
    let r = check("bank", &lines);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
}

// ---------------------------------------------------------------- sequential (elle-cli)

/// A writer inserting subkeys 0, 1, 2 in order, then one ok read per entry of `reads` (each
/// the values seen reading subkeys 2, 1, 0 in turn).
fn sequential_history(reads: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for k in 0..3 {
        out.push(ev(0, "invoke", "write", json!(k)));
        out.push(ev(0, "ok", "write", json!(k)));
    }
    for r in reads {
        out.push(ev(1, "invoke", "read", Value::Null));
        out.push(ev(1, "ok", "read", r.clone()));
    }
    out
}

#[test]
fn sequential_reads_that_never_miss_an_older_subkey_are_valid() {
    let r = check(
        "sequential",
        &sequential_history(&[
            json!([null, null, null]),
            json!([null, 1, 0]),
            json!([2, 1, 0]),
        ]),
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(r.details["none_count"], 1);
    assert_eq!(r.details["some_count"], 1);
    assert_eq!(r.details["all_count"], 1);
    assert_eq!(r.details["bad_count"], 0);
}

#[test]
fn sequential_null_after_a_seen_subkey_is_a_trailing_nil() {
    let r = check(
        "sequential",
        &sequential_history(&[json!([null, 1, 0]), json!([2, null, 0])]),
    );
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["trailing-nil"]);
    assert_eq!(r.details["bad_count"], 1);
    assert_eq!(r.details["bad"][0]["complete_line"], 10);
    assert_eq!(r.details["bad"][0]["seen_index"], 0);
    assert_eq!(r.details["bad"][0]["null_index"], 1);
    assert!(
        r.explanation
            .iter()
            .any(|l| l.contains("lines 9–10 (process 1)") && l.contains("position 1")),
        "{:?}",
        r.explanation
    );
}

#[test]
fn sequential_reads_as_independent_tuples_or_keyed_and_malformed_reads() {
    let r = check(
        "sequential",
        &[
            ev(1, "invoke", "read", Value::Null),
            ev(1, "ok", "read", json!(["a", [1, null]])),
        ],
    );
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.details["bad"][0]["key"], "a");
    assert!(r.explanation.iter().any(|l| l.contains("of key \"a\"")));
    let e = error(
        "sequential",
        &[
            ev(1, "invoke", "read", Value::Null),
            ev(1, "ok", "read", json!({"k": 1})),
        ],
    );
    assert_eq!(e.line, 2);
    assert!(e.message.contains("list of scalars"), "{e}");
    let e = error("sequential", &[ev(1, "invoke", "add", json!(1))]);
    assert!(e.message.contains(":read or :write"), "{e}");
}

/// Brute force: one writer inserts subkeys 0..n in order, one reader reads n-1 down to 0; the
/// reader's j-th read happens after some number c_j of inserts, c_j never decreasing. A
/// pattern of seen/null is possible exactly when some such c_0 ≤ … ≤ c_{n-1} produces it; the
/// checker must call every pattern of up to 6 subkeys valid exactly then.
#[test]
fn sequential_verdicts_match_brute_force_over_every_insert_interleaving() {
    fn possible(n: usize, seen: &[bool], j: usize, lowest: usize) -> bool {
        if j == n {
            return true;
        }
        (lowest..=n).any(|c| {
            let subkey = n - 1 - j;
            (subkey < c) == seen[j] && possible(n, seen, j + 1, c)
        })
    }
    let mut checked = 0;
    for n in 1..=6usize {
        for mask in 0..(1u32 << n) {
            let seen: Vec<bool> = (0..n).map(|j| mask & (1 << j) != 0).collect();
            let read: Vec<Value> = seen
                .iter()
                .enumerate()
                .map(|(j, s)| if *s { json!(n - 1 - j) } else { Value::Null })
                .collect();
            let mut lines = Vec::new();
            for k in 0..n {
                lines.push(ev(0, "invoke", "write", json!(k)));
                lines.push(ev(0, "ok", "write", json!(k)));
            }
            lines.push(ev(1, "invoke", "read", Value::Null));
            lines.push(ev(1, "ok", "read", json!(read)));
            let expected = if possible(n, &seen, 0, 0) {
                Validity::Valid
            } else {
                Validity::Invalid
            };
            assert_eq!(check("sequential", &lines).valid, expected, "{read:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 126);
}

// ---------------------------------------------------------------- causal-reverse

fn cr_history(steps: &[(&str, &str, Value)]) -> Vec<String> {
    steps
        .iter()
        .map(|(t, f, v)| ev(0, t, f, v.clone()))
        .collect()
}

fn sequential_writes_then_read(read: Value) -> Vec<String> {
    cr_history(&[
        ("invoke", "write", json!(1)),
        ("ok", "write", json!(1)),
        ("invoke", "write", json!(2)),
        ("ok", "write", json!(2)),
        ("invoke", "read", Value::Null),
        ("ok", "read", read),
    ])
}

#[test]
fn causal_reverse_sequential_writes_seen_in_prefix_or_whole_are_valid() {
    for read in [json!([1, 2]), json!([1]), json!([]), json!([2, 1])] {
        let r = check("causal-reverse", &sequential_writes_then_read(read.clone()));
        assert_eq!(r.valid, Validity::Valid, "{read}: {:?}", r.explanation);
    }
}

#[test]
fn causal_reverse_later_write_seen_without_the_earlier_is_invalid() {
    let r = check("causal-reverse", &sequential_writes_then_read(json!([2])));
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, ["causal-reverse"]);
    assert_eq!(r.details["errors"][0]["saw"], 2);
    assert_eq!(r.details["errors"][0]["missing"], json!([1]));
    assert_eq!(r.details["errors"][0]["complete_line"], 6);
    assert!(
        r.explanation
            .iter()
            .any(|l| l.contains("sees 2 (written on lines 3–4") && l.contains("but not 1")),
        "{:?}",
        r.explanation
    );
}

#[test]
fn causal_reverse_concurrent_info_and_failed_writes_imply_nothing() {
    // 2 was invoked before 1 completed: no order between them.
    let concurrent = [
        ev(0, "invoke", "write", json!(2)),
        ev(1, "invoke", "write", json!(1)),
        ev(1, "ok", "write", json!(1)),
        ev(2, "invoke", "read", Value::Null),
        ev(0, "ok", "write", json!(2)),
        ev(2, "ok", "read", json!([2])),
    ];
    assert_eq!(check("causal-reverse", &concurrent).valid, Validity::Valid);
    // An info write of 1 may or may not have happened; a failed one did not.
    for t in ["info", "fail"] {
        let lines = cr_history(&[
            ("invoke", "write", json!(1)),
            (t, "write", json!(1)),
            ("invoke", "write", json!(2)),
            ("ok", "write", json!(2)),
            ("invoke", "read", Value::Null),
            ("ok", "read", json!([2])),
        ]);
        assert_eq!(
            check("causal-reverse", &lines).valid,
            Validity::Valid,
            "{t}"
        );
    }
}

#[test]
fn causal_reverse_keys_are_separate_and_repeated_values_are_unknown() {
    let keyed = |k: &str, t: &str, f: &str, v: Value| {
        json!({"process": 0, "type": t, "f": f, "key": k, "value": v}).to_string()
    };
    // 1 to key a, then 2 to key b: a read of b seeing only 2 misses nothing of b.
    let lines = vec![
        keyed("a", "invoke", "write", json!(1)),
        keyed("a", "ok", "write", json!(1)),
        keyed("b", "invoke", "write", json!(2)),
        keyed("b", "ok", "write", json!(2)),
        keyed("b", "invoke", "read", Value::Null),
        keyed("b", "ok", "read", json!([2])),
    ];
    assert_eq!(check("causal-reverse", &lines).valid, Validity::Valid);
    // The same as Jepsen's independent tuples, now on one key: invalid.
    let tuples = cr_history(&[
        ("invoke", "write", json!(["a", 1])),
        ("ok", "write", json!(["a", 1])),
        ("invoke", "write", json!(["a", 2])),
        ("ok", "write", json!(["a", 2])),
        ("invoke", "read", json!(["a", null])),
        ("ok", "read", json!(["a", [2]])),
    ]);
    let r = check("causal-reverse", &tuples);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.details["errors"][0]["key"], "a");
    let twice = cr_history(&[
        ("invoke", "write", json!(1)),
        ("ok", "write", json!(1)),
        ("invoke", "write", json!(1)),
        ("ok", "write", json!(1)),
    ]);
    let r = check("causal-reverse", &twice);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.unknown_reason.unwrap().contains("written twice"));
    let e = error(
        "causal-reverse",
        &cr_history(&[("invoke", "read", Value::Null), ("ok", "read", json!(3))]),
    );
    assert_eq!(e.line, 2);
    assert!(e.message.contains("list of the values seen"), "{e}");
}

/// Brute force against the definition, on random concurrent histories: a read is bad when it
/// sees v and misses some u whose ok write completed before v's write was invoked.
#[test]
fn causal_reverse_verdicts_match_the_definition_on_random_histories() {
    let mut seed: u64 = 0x5eed_cafe;
    let mut rand = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..400 {
        // Per process: None idle, Some(Some(v)) writing v, Some(None) reading.
        let mut busy: Vec<Option<Option<u64>>> = vec![None; 3];
        let mut lines = Vec::new();
        let mut next = 1u64;
        let mut invoked_at: Vec<(u64, usize)> = Vec::new();
        let mut ok_at: Vec<(u64, usize)> = Vec::new();
        let mut reads: Vec<Vec<u64>> = Vec::new();
        for _ in 0..14 {
            let p = rand(3) as usize;
            let pos = lines.len();
            match busy[p] {
                None if rand(2) == 0 => {
                    lines.push(ev(p as i64, "invoke", "write", json!(next)));
                    invoked_at.push((next, pos));
                    busy[p] = Some(Some(next));
                    next += 1;
                }
                None => {
                    lines.push(ev(p as i64, "invoke", "read", Value::Null));
                    busy[p] = Some(None);
                }
                Some(Some(v)) => {
                    let t = ["ok", "ok", "info", "fail"][rand(4) as usize];
                    lines.push(ev(p as i64, t, "write", json!(v)));
                    if t == "ok" {
                        ok_at.push((v, pos));
                    }
                    busy[p] = None;
                }
                Some(None) => {
                    let seen: Vec<u64> = (1..next).filter(|_| rand(2) == 0).collect();
                    lines.push(ev(p as i64, "ok", "read", json!(seen)));
                    reads.push(seen);
                    busy[p] = None;
                }
            }
        }
        let bad = reads.iter().any(|seen| {
            seen.iter().any(|v| {
                let inv = invoked_at.iter().find(|(w, _)| w == v).unwrap().1;
                ok_at
                    .iter()
                    .any(|(u, done)| *done < inv && !seen.contains(u))
            })
        });
        let expected = if bad {
            invalid += 1;
            Validity::Invalid
        } else {
            valid += 1;
            Validity::Valid
        };
        let r = check("causal-reverse", &lines);
        assert_eq!(r.valid, expected, "{lines:#?}\n{:?}", r.explanation);
    }
    assert!(
        valid > 50 && invalid > 50,
        "{valid} valid, {invalid} invalid"
    );
}
