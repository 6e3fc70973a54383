//! The checkers of `faultline maelstrom test`'s workloads, on hand-written histories: `echo`
//! (a changed payload is `wrong-echo`) and `convergent-set` (an acknowledged element missing
//! from one node's final read is `lost`, even when another node's later final read has it —
//! which set-full alone would accept).

use checkers::history::{pair_anonymous, read_history, Format};
use checkers::registry;
use checkers::{CheckOptions, CheckerKind, Report, Validity};
use serde_json::{json, Value};

fn ev(p: i64, t: &str, f: &str, key: Option<&str>, v: Value) -> String {
    let mut e = json!({"process": p, "type": t, "f": f, "value": v});
    if let Some(k) = key {
        e["key"] = json!(k);
    }
    e.to_string()
}

fn check(name: &str, lines: &[String]) -> Report {
    let text = lines.join("\n");
    let history = read_history("h.jsonl", text.as_bytes(), None).expect("readable");
    let ops = pair_anonymous(&history).expect("pairable");
    registry::find(CheckerKind::Workload, name)
        .expect("registered")
        .check_within_options("h.jsonl", Format::JsonLines, &ops, &CheckOptions::default())
        .expect("well-formed")
}

#[test]
fn echo_flags_a_payload_that_came_back_changed() {
    let ok = [
        ev(0, "invoke", "echo", None, json!("a")),
        ev(0, "ok", "echo", None, json!("a")),
    ];
    assert_eq!(check("echo", &ok).valid, Validity::Valid);
    let bad = [
        ev(0, "invoke", "echo", None, json!("a")),
        ev(0, "ok", "echo", None, json!("A")),
    ];
    let r = check("echo", &bad);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomalies, vec!["wrong-echo".to_string()]);
}

/// An echo history of 500 echoes (payloads of every JSON kind, some info and fail, nemesis
/// records), with some acknowledged payloads changed when `change`.
fn echoes(change: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..500i64 {
        let p = i % 7;
        let payload = match i % 5 {
            0 => json!(format!("Please echo {i}")),
            1 => json!(format!("tab\t{i}")),
            2 => json!(i),
            3 => json!([i, "x"]),
            _ => json!({"n": i}),
        };
        lines.push(ev(p, "invoke", "echo", None, payload.clone()));
        let (kind, out) = match i % 13 {
            0 => ("info", Value::Null),
            1 => ("fail", Value::Null),
            2 if change => ("ok", json!(format!("changed {i}"))),
            _ => ("ok", payload),
        };
        lines.push(ev(p, kind, "echo", None, out));
        if i % 50 == 0 {
            lines.push(
                json!({"process": "nemesis", "type": "info", "f": "start-partition", "value": "majority"})
                    .to_string(),
            );
        }
    }
    lines
}

/// Reads `lines` written to a file compactly and checks them with the compact echo check.
fn compact_echo(name: &str, lines: &[String]) -> Option<Report> {
    let dir = std::env::temp_dir().join(format!("faultline-echo-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("h.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let read = checkers::history::read_compact(path.to_str().unwrap(), None, 1 << 30, None, 0);
    std::fs::remove_dir_all(&dir).ok();
    let Some(checkers::history::CompactRead::Read { history, .. }) = read else {
        panic!("{name}: the compact reader refused an echo history")
    };
    let budget = CheckOptions::default().budget();
    checkers::check_compact_workload("echo", &history, &budget)
}

/// The echo check of a compact history (what `faultline check --workload echo` and
/// `maelstrom test -w echo` take for JSON lines) gives the general path's report.
#[test]
fn echo_checked_compactly_reports_as_the_general_path() {
    for (name, change) in [("valid", false), ("wrong", true)] {
        let lines = echoes(change);
        let mut general = check("echo", &lines);
        let mut compact = compact_echo(name, &lines).expect("the compact echo check takes it");
        assert_eq!(
            general.valid,
            if change {
                Validity::Invalid
            } else {
                Validity::Valid
            }
        );
        general.stats.millis = 0.0;
        compact.stats.millis = 0.0;
        assert_eq!(compact, general, "{name}");
    }
    let other = [
        ev(0, "invoke", "read", None, Value::Null),
        ev(0, "ok", "read", None, json!(1)),
    ];
    assert!(compact_echo("other", &other).is_none());
}

fn broadcast_then_finals(n2_has_it: bool) -> Vec<String> {
    let n2 = if n2_has_it { json!([1]) } else { json!([]) };
    vec![
        ev(0, "invoke", "broadcast", None, json!(1)),
        ev(0, "ok", "broadcast", None, json!(1)),
        // n2's final read first (misses it), then n1's (has it).
        ev(1, "invoke", "final-read", Some("n2"), Value::Null),
        ev(1, "ok", "final-read", Some("n2"), n2),
        ev(0, "invoke", "final-read", Some("n1"), Value::Null),
        ev(0, "ok", "final-read", Some("n1"), json!([1])),
    ]
}

#[test]
fn convergent_set_needs_every_final_read_to_hold_every_acknowledged_element() {
    assert_eq!(
        check("convergent-set", &broadcast_then_finals(true)).valid,
        Validity::Valid
    );
    let r = check("convergent-set", &broadcast_then_finals(false));
    assert_eq!(r.valid, Validity::Invalid, "{:?}", r.explanation);
    assert!(r.anomalies.contains(&"lost".to_string()));
    assert!(
        r.explanation
            .iter()
            .any(|l| l.contains("value 1 was acknowledged") && l.contains("n2 never returned it")),
        "{:?}",
        r.explanation
    );
}

// ---------------------------------------------------------------- kafka

/// An ok send of `msg` to `key` acknowledged at `offset`, by process `p`.
fn send(p: i64, key: &str, msg: i64, offset: i64) -> [String; 2] {
    [
        ev(p, "invoke", "send", Some(key), json!(msg)),
        ev(p, "ok", "send", Some(key), json!([offset, msg])),
    ]
}

/// An ok poll by `p` from `from` returning `msgs` (one key).
fn poll(p: i64, key: &str, from: i64, msgs: Value) -> [String; 2] {
    [
        ev(p, "invoke", "poll", None, json!({ key: from })),
        ev(p, "ok", "poll", None, json!({ key: msgs })),
    ]
}

fn commit(p: i64, key: &str, offset: i64) -> [String; 2] {
    [
        ev(p, "invoke", "commit_offsets", None, json!({ key: offset })),
        ev(p, "ok", "commit_offsets", None, json!({ key: offset })),
    ]
}

fn list(p: i64, key: &str, offset: i64) -> [String; 2] {
    [
        ev(p, "invoke", "list_committed_offsets", None, json!([key])),
        ev(
            p,
            "ok",
            "list_committed_offsets",
            None,
            json!({ key: offset }),
        ),
    ]
}

fn kafka(parts: &[[String; 2]]) -> Report {
    let lines: Vec<String> = parts.iter().flat_map(|p| p.iter().cloned()).collect();
    check("kafka", &lines)
}

/// Asserts `r` is invalid with exactly `anomaly` and an explanation line containing `needle`.
fn kafka_fails(r: &Report, anomaly: &str, needle: &str) {
    assert_eq!(r.valid, Validity::Invalid, "{:?}", r.explanation);
    assert_eq!(
        r.anomalies,
        vec![anomaly.to_string()],
        "{:?}",
        r.explanation
    );
    assert!(
        r.explanation.iter().any(|l| l.contains(needle)),
        "expected {needle:?} in {:?}",
        r.explanation
    );
}

#[test]
fn kafka_valid_history_with_gaps_in_offsets_and_an_unseen_send() {
    let r = kafka(&[
        send(0, "k1", 10, 0),
        send(1, "k1", 11, 2), // offsets may have gaps
        poll(0, "k1", 0, json!([[0, 10], [2, 11]])),
        commit(0, "k1", 2),
        list(1, "k1", 2),
        send(1, "k1", 12, 3), // never polled, above every polled offset: allowed
        poll(0, "k1", 3, json!([])),
        commit(1, "k1", 0), // another consumer commits less: not a regression
        list(1, "k1", 0),
    ]);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    assert_eq!(r.details["unseen"], json!(1));
}

#[test]
fn kafka_lost_write_names_the_send_and_the_higher_polled_offset() {
    let r = kafka(&[
        send(0, "k3", 17, 5),
        send(1, "k3", 18, 9),
        poll(2, "k3", 9, json!([[9, 18]])),
    ]);
    kafka_fails(
        &r,
        "lost-write",
        "send of 17 to key k3 was acknowledged at offset 5",
    );
    assert!(r
        .explanation
        .iter()
        .any(|l| l.contains("no poll ever returned it at offset 5")
            && l.contains("polls returned offsets up to 9")));
}

#[test]
fn kafka_lost_write_below_a_committed_offset() {
    let r = kafka(&[send(0, "k1", 17, 5), list(1, "k1", 7)]);
    kafka_fails(&r, "lost-write", "though offset 7 was committed");
}

#[test]
fn kafka_two_messages_at_one_offset_are_inconsistent_offsets() {
    let r = kafka(&[
        send(0, "k1", 1, 0),
        send(1, "k1", 2, 0),
        poll(0, "k1", 0, json!([[0, 1]])),
        poll(1, "k1", 0, json!([[0, 2]])),
    ]);
    kafka_fails(
        &r,
        "inconsistent-offsets",
        "offset 0 of key k1 holds 2 different messages",
    );
}

#[test]
fn kafka_one_message_at_two_offsets_is_a_duplicate() {
    let r = kafka(&[
        send(0, "k1", 1, 0),
        poll(0, "k1", 0, json!([[0, 1], [1, 1]])),
    ]);
    kafka_fails(&r, "duplicate", "message 1 of key k1 is at 2 offsets");
}

#[test]
fn kafka_poll_that_jumps_over_an_existing_offset_is_a_skip() {
    let r = kafka(&[
        send(0, "k1", 1, 0),
        send(0, "k1", 2, 1),
        send(0, "k1", 3, 2),
        poll(1, "k1", 0, json!([[0, 1]])),
        poll(1, "k1", 1, json!([[2, 3]])),
        poll(2, "k1", 0, json!([[0, 1], [1, 2], [2, 3]])),
    ]);
    kafka_fails(
        &r,
        "poll-skip",
        "process 1's polls of key k1 jumped from offset 0 to offset 2",
    );
}

#[test]
fn kafka_poll_that_goes_back_is_nonmonotonic() {
    let r = kafka(&[
        send(0, "k1", 1, 0),
        send(0, "k1", 2, 1),
        poll(1, "k1", 0, json!([[0, 1], [1, 2]])),
        poll(1, "k1", 2, json!([[0, 1]])),
    ]);
    kafka_fails(
        &r,
        "nonmonotonic-poll",
        "process 1's polls of key k1 went from offset 1 back to offset 0",
    );
    // A new process (after an indeterminate op) starts its own sequence.
    let r = kafka(&[
        send(0, "k1", 1, 0),
        send(0, "k1", 2, 1),
        poll(1, "k1", 0, json!([[0, 1], [1, 2]])),
        poll(3, "k1", 0, json!([[0, 1]])),
    ]);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
}

#[test]
fn kafka_later_send_at_a_lower_offset_is_nonmonotonic() {
    let r = kafka(&[
        send(0, "k1", 1, 4),
        send(0, "k1", 2, 3),
        poll(1, "k1", 3, json!([[3, 2], [4, 1]])),
    ]);
    kafka_fails(
        &r,
        "nonmonotonic-send",
        "process 0's sends to key k1 got offset 4",
    );
}

#[test]
fn kafka_committed_offset_that_goes_back_without_a_commit_of_it() {
    let base = [
        send(0, "k1", 1, 0),
        send(0, "k1", 2, 1),
        poll(0, "k1", 0, json!([[0, 1], [1, 2]])),
        commit(0, "k1", 1),
    ];
    let r = kafka(&[&base[..], &[list(1, "k1", 0)]].concat());
    kafka_fails(
        &r,
        "committed-offset-backwards",
        "returned offset 0 for key k1, but offset 1 was committed",
    );
    // A commit of 0 that came after explains it.
    let r = kafka(&[&base[..], &[commit(2, "k1", 0), list(1, "k1", 0)]].concat());
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
}

#[test]
fn kafka_malformed_poll_is_an_input_error_naming_the_line() {
    let lines = [
        ev(0, "invoke", "poll", None, json!({"k1": 0})),
        ev(0, "ok", "poll", None, json!({"k1": [[0]]})),
    ];
    let text = lines.join("\n");
    let history = read_history("h.jsonl", text.as_bytes(), None).expect("readable");
    let ops = pair_anonymous(&history).expect("pairable");
    let e = registry::find(CheckerKind::Workload, "kafka")
        .expect("registered")
        .check_within_options("h.jsonl", Format::JsonLines, &ops, &CheckOptions::default())
        .expect_err("malformed");
    let t = e.to_string();
    assert!(
        t.contains("h.jsonl:2") && t.contains("[[offset, msg]"),
        "{t}"
    );
}
