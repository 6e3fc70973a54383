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
