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
