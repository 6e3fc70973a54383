//! Property tests of the transactional checkers: histories serializable (indeed strict
//! serializable) by construction are never flagged; the same histories with one injected
//! anomaly are flagged with that anomaly's class.

use checkers::history::{pair, Event, EventType, History, Process};
use checkers::testing::TxnKind as Workload;
use checkers::testing::{check_list_append, check_rw_register};
use checkers::testing::{txn_history as history, TxnSpec};
use checkers::Validity;
use checkers::{CheckOptions, Report};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn spec(workload: Workload, txns: usize, processes: usize, keys: usize, seed: u64) -> TxnSpec {
    TxnSpec {
        workload,
        txns,
        processes,
        keys,
        max_mops: 4,
        writes_per_key: 8,
        fail_per_mille: 30,
        info_per_mille: 30,
        seed,
    }
}

fn check(h: &History, workload: Workload, model: &str) -> Report {
    let ops = pair(h).expect("pairs");
    let opts = CheckOptions {
        consistency: vec![model.to_string()],
        ..Default::default()
    };
    match workload {
        Workload::ListAppend => check_list_append("generated", &ops, &opts, &opts.budget()),
        Workload::RwRegister => check_rw_register("generated", &ops, &opts, &opts.budget()),
    }
    .expect("well-formed")
}

/// Appends one transaction (invocation and completion) at the end of the history, run by its
/// own process.
fn push(h: &mut History, process: i64, invoke: Value, done: EventType, result: Value) {
    for (kind, value) in [(EventType::Invoke, invoke), (done, result)] {
        let line = h.events.len() + 1;
        h.events.push(Event {
            line,
            index: Some(line as i64),
            time: None,
            process: Some(Process::Client(process)),
            kind,
            f: Some("txn".into()),
            key: None,
            value,
            error: None,
            extra: Map::new(),
        });
    }
}

fn ok(h: &mut History, process: i64, txn: Value) {
    let invoke = Value::Array(
        txn.as_array()
            .expect("txn")
            .iter()
            .map(|m| {
                if m[0] == "r" {
                    json!(["r", m[1], null])
                } else {
                    m.clone()
                }
            })
            .collect(),
    );
    push(h, process, invoke, EventType::Ok, txn);
}

const X: i64 = 1_000_001;
const Y: i64 = 1_000_002;

/// Injects anomaly `which` (by name) on fresh keys X and Y, after the generated history.
fn inject(h: &mut History, workload: Workload, which: &str) {
    let la = workload == Workload::ListAppend;
    let (w, nil) = if la {
        ("append", json!([]))
    } else {
        ("w", Value::Null)
    };
    let read = |k: i64, v: &[i64]| -> Value {
        if la {
            json!(["r", k, v])
        } else {
            json!(["r", k, v.last()])
        }
    };
    match which {
        "G1a" => {
            push(
                h,
                900,
                json!([[w, X, 7]]),
                EventType::Fail,
                json!([[w, X, 7]]),
            );
            ok(h, 901, json!([read(X, &[7])]));
        }
        "G1b" => {
            ok(h, 900, json!([[w, X, 1], [w, X, 2]]));
            ok(h, 901, json!([read(X, &[1])]));
        }
        "internal" => ok(h, 900, json!([[w, X, 1], read(X, &[5])])),
        "G0" => {
            if la {
                ok(h, 900, json!([[w, X, 1], [w, Y, 2]]));
                ok(h, 901, json!([[w, X, 3], [w, Y, 4]]));
                ok(h, 902, json!([read(X, &[1, 3]), read(Y, &[4, 2])]));
            } else {
                // Registers: each read the other's write before overwriting it (writes
                // follow reads), so X: 1 < 3 and Y: 4 < 2.
                ok(h, 900, json!([read(Y, &[4]), [w, X, 1], [w, Y, 2]]));
                ok(h, 901, json!([read(X, &[1]), [w, X, 3], [w, Y, 4]]));
            }
        }
        "G-single" => {
            ok(h, 900, json!([[w, X, 1]]));
            ok(h, 901, json!([read(X, &[1]), [w, Y, 1]]));
            ok(h, 902, json!([read(Y, &[1]), ["r", X, nil]]));
        }
        "lost-update" => {
            ok(h, 900, json!([["r", X, nil], [w, X, 1]]));
            ok(h, 901, json!([["r", X, nil], [w, X, 2]]));
            if la {
                ok(h, 902, json!([read(X, &[1, 2])]));
            }
        }
        "duplicate-elements" => {
            ok(h, 900, json!([[w, X, 1]]));
            ok(h, 901, json!([read(X, &[1, 1])]));
        }
        "garbage-read" => ok(h, 900, json!([read(X, &[42])])),
        "incompatible-order" => {
            ok(h, 900, json!([[w, X, 1]]));
            ok(h, 901, json!([[w, X, 2]]));
            ok(h, 902, json!([read(X, &[1, 2])]));
            ok(h, 903, json!([read(X, &[2])]));
        }
        "future-read" => ok(h, 900, json!([read(X, &[1]), [w, X, 1]])),
        "reordered-appends" => {
            ok(h, 900, json!([[w, X, 3], [w, X, 4], [w, X, 5]]));
            ok(h, 901, json!([read(X, &[3, 5, 4])]));
        }
        other => panic!("unknown injection {other}"),
    }
}

/// Which anomaly classes each model must flag (list-append / rw-register).
const LIST_APPEND: &[&str] = &[
    "G1a",
    "G1b",
    "internal",
    "G0",
    "G-single",
    "lost-update",
    "duplicate-elements",
    "garbage-read",
    "incompatible-order",
    "future-read",
    "reordered-appends",
];
const RW_REGISTER: &[&str] = &[
    "G1a",
    "G1b",
    "internal",
    "G0",
    "G-single",
    "lost-update",
    "future-read",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn serializable_by_construction_is_never_flagged(
        la in any::<bool>(), txns in 20usize..300, processes in 1usize..8, keys in 1usize..6, seed in any::<u64>()
    ) {
        let workload = if la { Workload::ListAppend } else { Workload::RwRegister };
        let h = history(&spec(workload, txns, processes, keys, seed));
        for model in ["serializable", "strict-serializable", "snapshot-isolation", "strong-session-serializable"] {
            let r = check(&h, workload, model);
            prop_assert_eq!(r.valid, Validity::Valid, "{} {:?}: {:?}", model, r.anomalies, r.explanation);
        }
    }

    #[test]
    fn injected_anomalies_are_flagged_by_class(
        la in any::<bool>(), txns in 0usize..150, processes in 1usize..6, seed in any::<u64>(), pick in any::<prop::sample::Index>()
    ) {
        let workload = if la { Workload::ListAppend } else { Workload::RwRegister };
        let names = if la { LIST_APPEND } else { RW_REGISTER };
        let which = names[pick.index(names.len())];
        let mut h = history(&spec(workload, txns, processes, 4, seed));
        inject(&mut h, workload, which);
        let r = check(&h, workload, "serializable");
        prop_assert_eq!(r.valid, Validity::Invalid, "{} not flagged: {:?}", which, r.explanation);
        prop_assert!(r.anomalies.iter().any(|a| a == which), "{} expected, found {:?}", which, r.anomalies);
    }
}

#[test]
fn g_single_is_allowed_by_read_committed_but_not_snapshot_isolation() {
    let mut h = history(&spec(Workload::ListAppend, 50, 4, 3, 7));
    inject(&mut h, Workload::ListAppend, "G-single");
    assert_eq!(
        check(&h, Workload::ListAppend, "read-committed").valid,
        Validity::Valid
    );
    let r = check(&h, Workload::ListAppend, "snapshot-isolation");
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(
        r.details["not"],
        json!(["consistent-view", "repeatable-read"])
    );
}
