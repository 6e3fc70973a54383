//! The transactional checkers' reports: explanations name ops by line, details carry the
//! boundary, artifacts are drawn per cycle, and a history broken everywhere (one giant strongly
//! connected component) is still decided quickly.

use checkers::history::{pair, EventType};
use checkers::parse_consistency;
use checkers::testing::check_list_append;
use checkers::testing::{txn_history as history, TxnSpec};
use checkers::CheckOptions;
use checkers::Validity;
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn unknown_consistency_names_list_the_accepted_ones() {
    let e = parse_consistency("serialisable").unwrap_err();
    assert!(
        e.message.contains("strict-serializable") && e.message.contains("read-uncommitted"),
        "{e}"
    );
    assert!(parse_consistency("strong-session-serializable").is_ok());
}

/// Every 5th ok read that saw something loses its last element: stale reads everywhere.
fn broken(txns: usize, seed: u64) -> Vec<checkers::history::Operation> {
    let mut h = history(&TxnSpec::list_append(txns, seed));
    let mut n = 0;
    for ev in &mut h.events {
        if ev.kind != EventType::Ok {
            continue;
        }
        if let Value::Array(mops) = &mut ev.value {
            for m in mops {
                if m[0] == "r" {
                    if let Value::Array(list) = &mut m[2] {
                        if !list.is_empty() {
                            n += 1;
                            if n % 5 == 0 {
                                list.pop();
                            }
                        }
                    }
                }
            }
        }
    }
    pair(&h).expect("pairs")
}

#[test]
fn stale_reads_everywhere_are_found_quickly_and_explained() {
    let ops = broken(3000, 11);
    let opts = CheckOptions {
        consistency: vec!["strict-serializable".into()],
        time_limit: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let started = Instant::now();
    let r = check_list_append("broken", &ops, &opts, &opts.budget()).expect("well-formed");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(r.valid, Validity::Invalid, "{:?}", r.explanation);
    assert!(r.details["sccs"].as_u64().unwrap() >= 1);
    let first = r.anomalies.first().expect("an anomaly");
    let cycles = r.details["anomalies"][first].as_array().expect("cases");
    assert!(!cycles.is_empty());
    if let Some(steps) = cycles[0]["cycle"].as_array() {
        for step in steps {
            assert!(step["op"]["line"].as_u64().unwrap() > 0);
            assert!(step["edge"]["why"].as_str().unwrap().contains(" because "));
        }
        assert!(r.artifacts.iter().any(|a| a.name.ends_with(".svg")));
        assert!(r.artifacts.iter().any(|a| a.name.ends_with(".dot")));
    }
    assert!(r.explanation.iter().any(|l| l.contains("because")));
}

#[test]
fn a_history_without_committed_transactions_is_unknown() {
    let r = check_list_append(
        "empty",
        &[],
        &CheckOptions::default(),
        &CheckOptions::default().budget(),
    )
    .expect("empty is fine");
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.unknown_reason.unwrap().contains("nothing to check"));
}

/// Checks a list-append history given as JSON lines, each `(process, mops)` one ok txn.
fn check_txns(txns: &[(u32, Value)]) -> Result<checkers::Report, checkers::InputError> {
    let mut text = String::new();
    for (p, mops) in txns {
        text.push_str(&format!(
            "{{\"process\":{p},\"type\":\"invoke\",\"f\":\"txn\",\"value\":{mops}}}\n"
        ));
        text.push_str(&format!(
            "{{\"process\":{p},\"type\":\"ok\",\"f\":\"txn\",\"value\":{mops}}}\n"
        ));
    }
    let history = checkers::history::read_history("h.jsonl", text.as_bytes(), None)?;
    let ops = pair(&history)?;
    let opts = CheckOptions::default();
    check_list_append("h.jsonl", &ops, &opts, &opts.budget())
}

#[test]
fn regression_the_repeated_append_reported_is_the_first_in_the_history() {
    use serde_json::json;
    // Key x and value 5 are interned before key y and value 1, but the repeat on y (line 5)
    // comes before the repeat on x (line 7): line 5 is reported, naming the txn on lines 3–4.
    let e = check_txns(&[
        (0, json!([["append", "x", 5]])),
        (0, json!([["append", "y", 1]])),
        (0, json!([["append", "y", 1]])),
        (0, json!([["append", "x", 5]])),
    ])
    .unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("h.jsonl", 5));
    assert_eq!(
        e.message,
        "expected every value appended to a key to be unique, found 1 appended to key y again (first on lines 3–4)"
    );
    // Appended three times: the second append is reported, naming the first.
    let e = check_txns(&[
        (0, json!([["append", "x", 1]])),
        (0, json!([["append", "x", 2], ["append", "x", 2]])),
        (0, json!([["append", "x", 2]])),
    ])
    .unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e
        .message
        .ends_with("found 2 appended to key x again (first on lines 3–4)"));
    // The same value on different keys is no repeat.
    let r = check_txns(&[
        (0, json!([["append", "x", 1], ["append", "y", 1]])),
        (0, json!([["r", "x", [1]], ["r", "y", [1]]])),
    ])
    .expect("well-formed");
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
}

#[test]
fn a_key_with_many_appends_finds_each_element_and_none_that_was_not_appended() {
    use serde_json::json;
    // One key appended 20,000 times in a scrambled value order, then read in full: every
    // element is found by its append. A read holding one value never appended is garbage.
    let n = 20_000u64;
    let values: Vec<u64> = (0..n).map(|i| (i * 7919) % 20_011 + (1 << 40)).collect();
    let mut txns: Vec<(u32, Value)> = values
        .iter()
        .map(|v| (0, json!([["append", "k", v]])))
        .collect();
    txns.push((1, json!([["r", "k", values], ["r", "other", []]])));
    let r = check_txns(&txns).expect("well-formed");
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    let mut garbage = values.clone();
    garbage[n as usize / 2] = 3;
    txns.push((2, json!([["r", "k", garbage]])));
    let r = check_txns(&txns).expect("well-formed");
    assert_eq!(r.valid, Validity::Invalid);
    assert!(
        r.anomalies.iter().any(|a| a == "garbage-read"),
        "{:?}",
        r.anomalies
    );
}
