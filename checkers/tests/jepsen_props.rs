//! Properties of Jepsen's workload checkers over generated histories: histories produced by a
//! real (simulated) counter, set or store with concurrency and crashes are never flagged, and
//! taking an acknowledged effect out of a quiescent read always is.

use checkers::history::pair_anonymous;
use checkers::history::read_history;
use checkers::history::Format;
use checkers::registry;
use checkers::Validity;
use checkers::{CheckOptions, CheckerKind, Report};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// One event as a JSON line: process, type, f, value.
fn ev(p: i64, t: &str, f: &str, v: Value) -> String {
    json!({"process": p, "type": t, "f": f, "value": v}).to_string()
}

fn check(name: &str, lines: &[String]) -> Report {
    let text = lines.join("\n");
    let history = read_history("t.jsonl", text.as_bytes(), None).expect("readable");
    let ops = pair_anonymous(&history).expect("pairable");
    registry::find(CheckerKind::Workload, name)
        .expect("registered")
        .check_within_options("t.jsonl", Format::JsonLines, &ops, &CheckOptions::default())
        .expect("well-formed")
}

/// A concurrent counter: `plan` drives processes through invoke → take effect → complete (or
/// crash: an info add that took effect or not). Returns the history and the ok reads' lines.
fn simulate_counter(plan: &[(u8, u8, u8)], crashes: bool) -> Vec<String> {
    #[derive(Clone, Copy)]
    enum Pending {
        Add { delta: i64, applied: bool },
        Read { seen: Option<i64> },
    }
    let procs = 3usize;
    let mut pending: Vec<Option<Pending>> = vec![None; procs];
    let mut crashed = vec![false; procs];
    let mut counter = 0i64;
    let mut out = Vec::new();
    for &(p, action, delta) in plan {
        let p = p as usize % procs;
        if crashed[p] {
            continue;
        }
        let pid = p as i64;
        match pending[p] {
            None if action % 2 == 0 => {
                let delta = i64::from(delta % 5);
                out.push(ev(pid, "invoke", "add", json!(delta)));
                pending[p] = Some(Pending::Add {
                    delta,
                    applied: false,
                });
            }
            None => {
                out.push(ev(pid, "invoke", "read", Value::Null));
                pending[p] = Some(Pending::Read { seen: None });
            }
            Some(Pending::Add {
                delta,
                applied: false,
            }) if action % 3 != 0 => {
                counter += delta;
                pending[p] = Some(Pending::Add {
                    delta,
                    applied: true,
                });
            }
            Some(Pending::Add { delta, applied }) => {
                if crashes && action % 4 == 3 {
                    out.push(ev(pid, "info", "add", json!(delta)));
                    crashed[p] = true;
                } else if applied {
                    out.push(ev(pid, "ok", "add", json!(delta)));
                } else {
                    out.push(ev(pid, "fail", "add", json!(delta)));
                }
                pending[p] = None;
            }
            Some(Pending::Read { seen: None }) => {
                pending[p] = Some(Pending::Read {
                    seen: Some(counter),
                });
            }
            Some(Pending::Read { seen: Some(v) }) => {
                out.push(ev(pid, "ok", "read", json!(v)));
                pending[p] = None;
            }
        }
    }
    // Everything still pending completes (taking effect first).
    for (p, slot) in pending.iter().enumerate() {
        match *slot {
            Some(Pending::Add { delta, applied }) => {
                if !applied {
                    counter += delta;
                }
                out.push(ev(p as i64, "ok", "add", json!(delta)));
            }
            Some(Pending::Read { seen }) => {
                out.push(ev(p as i64, "ok", "read", json!(seen.unwrap_or(counter))));
            }
            None => {}
        }
    }
    out.push(ev(9, "invoke", "read", Value::Null));
    out.push(ev(9, "ok", "read", json!(counter)));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Histories produced by a real counter, with concurrency and crashes, are never flagged.
    #[test]
    fn counter_histories_of_a_real_counter_are_valid(
        plan in prop::collection::vec((0u8..3, any::<u8>(), any::<u8>()), 0..80)
    ) {
        let r = check("counter", &simulate_counter(&plan, true));
        prop_assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    }

    /// Taking an ok add's effect out of the final read (after every operation completed, no
    /// crashes) is always flagged.
    #[test]
    fn counter_read_missing_an_ok_add_is_flagged(
        plan in prop::collection::vec((0u8..3, any::<u8>(), any::<u8>()), 0..80)
    ) {
        let mut lines = simulate_counter(&plan, false);
        let delta = lines.iter().filter_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["type"] == "ok" && v["f"] == "add" && v["value"].as_i64() > Some(0))
                .then(|| v["value"].as_i64().unwrap())
        }).next();
        prop_assume!(delta.is_some());
        let last = lines.pop().unwrap();
        let mut v: Value = serde_json::from_str(&last).unwrap();
        v["value"] = json!(v["value"].as_i64().unwrap() - delta.unwrap());
        lines.push(v.to_string());
        let r = check("counter", &lines);
        prop_assert_eq!(r.valid, Validity::Invalid);
    }
}

/// A concurrent grow-only set: like [`simulate_counter`], with adds of fresh elements and reads
/// that return the set at the moment they take effect.
fn simulate_set(plan: &[(u8, u8)], crashes: bool) -> Vec<String> {
    #[derive(Clone)]
    enum Pending {
        Add { element: i64, applied: bool },
        Read { seen: Option<Vec<i64>> },
    }
    let procs = 3usize;
    let mut pending: Vec<Option<Pending>> = vec![None; procs];
    let mut crashed = vec![false; procs];
    let mut set = BTreeSet::new();
    let mut next = 0i64;
    let mut out = Vec::new();
    for &(p, action) in plan {
        let p = p as usize % procs;
        if crashed[p] {
            continue;
        }
        let pid = p as i64;
        match pending[p].clone() {
            None if action % 2 == 0 => {
                out.push(ev(pid, "invoke", "add", json!(next)));
                pending[p] = Some(Pending::Add {
                    element: next,
                    applied: false,
                });
                next += 1;
            }
            None => {
                out.push(ev(pid, "invoke", "read", Value::Null));
                pending[p] = Some(Pending::Read { seen: None });
            }
            Some(Pending::Add {
                element,
                applied: false,
            }) if action % 3 != 0 => {
                set.insert(element);
                pending[p] = Some(Pending::Add {
                    element,
                    applied: true,
                });
            }
            Some(Pending::Add { element, applied }) => {
                if crashes && action % 4 == 3 {
                    out.push(ev(pid, "info", "add", json!(element)));
                    crashed[p] = true;
                } else if applied {
                    out.push(ev(pid, "ok", "add", json!(element)));
                } else {
                    out.push(ev(pid, "fail", "add", json!(element)));
                }
                pending[p] = None;
            }
            Some(Pending::Read { seen: None }) => {
                let mut now: Vec<i64> = set.iter().copied().collect();
                now.reverse();
                pending[p] = Some(Pending::Read { seen: Some(now) });
            }
            Some(Pending::Read { seen: Some(v) }) => {
                out.push(ev(pid, "ok", "read", json!(v)));
                pending[p] = None;
            }
        }
    }
    for (p, slot) in pending.iter().enumerate() {
        match slot {
            Some(Pending::Add { element, .. }) => {
                set.insert(*element);
                out.push(ev(p as i64, "ok", "add", json!(element)));
            }
            Some(Pending::Read { seen }) => {
                let v = seen
                    .clone()
                    .unwrap_or_else(|| set.iter().copied().collect());
                out.push(ev(p as i64, "ok", "read", json!(v)));
            }
            None => {}
        }
    }
    out.push(ev(9, "invoke", "read", Value::Null));
    out.push(ev(9, "ok", "read", json!(set.iter().collect::<Vec<_>>())));
    out
}

/// Reads of one group of `keys` keys, each seeing a prefix of one write order.
fn serial_long_fork(order: &[usize], reads: &[(usize, u8)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut done = 0usize;
    for &(upto, rot) in reads {
        while done < upto.min(order.len()) {
            let w = json!([["w", order[done], 1]]);
            out.push(ev(0, "invoke", "txn", w.clone()));
            out.push(ev(0, "ok", "txn", w));
            done += 1;
        }
        let mut keys: Vec<usize> = (0..order.len()).collect();
        keys.rotate_left(rot as usize % order.len());
        let seen = |k: usize| order[..done].contains(&k).then_some(1);
        let invoke: Vec<Value> = keys.iter().map(|k| json!(["r", k, null])).collect();
        let ok: Vec<Value> = keys.iter().map(|&k| json!(["r", k, seen(k)])).collect();
        out.push(ev(1, "invoke", "txn", json!(invoke)));
        out.push(ev(1, "ok", "txn", json!(ok)));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// A real grow-only set never gives an invalid set-full verdict (unknown only when no
    /// element was read).
    #[test]
    fn set_full_histories_of_a_real_set_are_never_invalid(
        plan in prop::collection::vec((0u8..3, any::<u8>()), 0..80)
    ) {
        let lines = simulate_set(&plan, true);
        let r = check("set-full", &lines);
        prop_assert_ne!(r.valid, Validity::Invalid, "{:?}", r.explanation);
        prop_assert_eq!(r.details["lost_count"].clone(), json!(0));
        let s = check("set", &lines);
        prop_assert_eq!(s.valid, Validity::Valid, "{:?}", s.explanation);
    }

    /// Dropping an acknowledged element from the final, quiescent read makes it lost.
    #[test]
    fn set_full_final_read_missing_an_ok_add_is_lost(
        plan in prop::collection::vec((0u8..3, any::<u8>()), 0..80)
    ) {
        let mut lines = simulate_set(&plan, false);
        let acked = lines.iter().find_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["type"] == "ok" && v["f"] == "add").then(|| v["value"].clone())
        });
        prop_assume!(acked.is_some());
        let acked = acked.unwrap();
        let last = lines.pop().unwrap();
        let mut v: Value = serde_json::from_str(&last).unwrap();
        let kept: Vec<Value> = v["value"].as_array().unwrap().iter().filter(|e| **e != acked).cloned().collect();
        v["value"] = json!(kept);
        lines.push(v.to_string());
        let r = check("set-full", &lines);
        prop_assert_eq!(r.valid, Validity::Invalid);
        prop_assert!(r.details["lost"].as_array().unwrap().contains(&acked));
        prop_assert_eq!(check("set", &lines).valid, Validity::Invalid);
    }

    /// Reads that each see a prefix of one write order are never a long fork.
    #[test]
    fn long_fork_prefixes_of_one_order_are_valid(
        order in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle(),
        reads in prop::collection::vec((0usize..5, any::<u8>()), 1..12)
    ) {
        let mut reads = reads;
        reads.sort_by_key(|r| r.0);
        let r = check("long-fork", &serial_long_fork(&order, &reads));
        prop_assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    }
}
