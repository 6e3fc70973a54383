//! Property tests of the transactional checkers: histories serializable (indeed strict
//! serializable) by construction are never flagged, with every combination of the rw-register
//! inference switches; the same histories with one injected anomaly are flagged with that
//! anomaly's class, given the switch that makes it visible (and not without it, where a
//! switch is needed).

use checkers::history::{pair, Event, EventType, History, Process};
use checkers::testing::TxnKind as Workload;
use checkers::testing::{check_list_append, check_rw_register};
use checkers::testing::{txn_history as history, TxnSpec};
use checkers::Validity;
use checkers::{CheckOptions, Inference, Report};
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
    check_with(h, workload, model, Inference::default())
}

fn check_with(h: &History, workload: Workload, model: &str, inference: Inference) -> Report {
    let ops = pair(h).expect("pairs");
    let opts = CheckOptions {
        consistency: vec![model.to_string()],
        inference,
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
        event(h, process, kind, value);
    }
}

/// Appends one event of `process`.
fn event(h: &mut History, process: i64, kind: EventType, value: Value) {
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

/// The invocation of `txn` (reads of `null`).
fn invocation(txn: &Value) -> Value {
    Value::Array(
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
    )
}

fn ok(h: &mut History, process: i64, txn: Value) {
    push(h, process, invocation(&txn), EventType::Ok, txn);
}

/// Runs the committed transactions `txns` (process, value) concurrently: every invocation,
/// then every completion.
fn concurrent(h: &mut History, txns: &[(i64, Value)]) {
    for (p, t) in txns {
        event(h, *p, EventType::Invoke, invocation(t));
    }
    for (p, t) in txns {
        event(h, *p, EventType::Ok, t.clone());
    }
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
        "G-single-item" => {
            ok(h, 900, json!([[w, X, 1]]));
            ok(h, 901, json!([read(X, &[1]), [w, Y, 1]]));
            ok(h, 902, json!([read(Y, &[1]), ["r", X, nil]]));
        }
        // rw-register, visible only with --wfr-keys: T1 read X = 1 and wrote X = 2 (so 1 <
        // 2), and T3 saw T1's Y but X = 1. All concurrent, on different processes.
        "wfr" => concurrent(
            h,
            &[
                (900, json!([[w, X, 1]])),
                (901, json!([read(X, &[1]), [w, X, 2], [w, Y, 5]])),
                (902, json!([read(Y, &[5]), read(X, &[1])])),
            ],
        ),
        // rw-register, visible with --sequential-keys: process 900 wrote X = 1, then X = 2
        // and Y = 1 (so 1 < 2); T3 saw that Y but X = 1.
        "sequential" => {
            ok(h, 900, json!([[w, X, 1]]));
            ok(h, 900, json!([[w, X, 2], [w, Y, 1]]));
            ok(h, 901, json!([read(Y, &[1]), read(X, &[1])]));
        }
        // rw-register, visible only with --linearizable-keys: T1 wrote X = 1 and completed
        // before T2 (writing X = 2 and Y = 1) began, so 1 < 2; T3, concurrent with T2, saw
        // T2's Y but X = 1. Different processes, no transaction reads and writes one key.
        "linearizable" => {
            ok(h, 900, json!([[w, X, 1]]));
            concurrent(
                h,
                &[
                    (901, json!([[w, X, 2], [w, Y, 1]])),
                    (902, json!([read(Y, &[1]), read(X, &[1])])),
                ],
            );
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
    "G-single-item",
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
    "G-single-item",
    "lost-update",
    "future-read",
    "wfr",
    "sequential",
    "linearizable",
];

/// For an rw-register injection: the anomaly it must be flagged with, and the inference
/// switch that makes it visible (`None`: visible without any).
fn register_expectation(which: &str) -> (&str, Option<Inference>) {
    let wfr = Inference {
        wfr_keys: true,
        ..Inference::default()
    };
    match which {
        // Registers: each read the other's write before overwriting it; only writes follow
        // reads orders X: 1 < 3 and Y: 4 < 2, making the G1c (each read the other's write)
        // a G0.
        "G0" => ("G0", Some(wfr)),
        "wfr" => ("G-single-item", Some(wfr)),
        "sequential" => (
            "G-single-item",
            Some(Inference {
                sequential_keys: true,
                ..Inference::default()
            }),
        ),
        "linearizable" => (
            "G-single-item",
            Some(Inference {
                linearizable_keys: true,
                ..Inference::default()
            }),
        ),
        other => (other, None),
    }
}

/// Every combination of the three switches.
fn every_inference() -> Vec<Inference> {
    (0..8u8)
        .map(|b| Inference {
            wfr_keys: b & 1 != 0,
            sequential_keys: b & 2 != 0,
            linearizable_keys: b & 4 != 0,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn serializable_by_construction_is_never_flagged(
        la in any::<bool>(), txns in 20usize..300, processes in 1usize..8, keys in 1usize..6, seed in any::<u64>()
    ) {
        let workload = if la { Workload::ListAppend } else { Workload::RwRegister };
        let h = history(&spec(workload, txns, processes, keys, seed));
        let inferences = if la { vec![Inference::default()] } else { every_inference() };
        for inference in inferences {
            for model in ["serializable", "strict-serializable", "snapshot-isolation", "strong-session-serializable"] {
                let r = check_with(&h, workload, model, inference);
                prop_assert_eq!(r.valid, Validity::Valid, "{} {:?} {:?}: {:?}", model, inference, r.anomalies, r.explanation);
            }
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
        let (name, switch) = if la { (which, None) } else { register_expectation(which) };
        let r = check_with(&h, workload, "serializable", switch.unwrap_or_default());
        prop_assert_eq!(r.valid, Validity::Invalid, "{} not flagged: {:?}", which, r.explanation);
        prop_assert!(r.anomalies.iter().any(|a| a == name), "{} expected, found {:?}", name, r.anomalies);
        if matches!(which, "wfr" | "sequential" | "linearizable") {
            // Without the switch the inference cannot see it. (The register G0 is still a G1c
            // without --wfr-keys: each transaction read the other's write.)
            let r = check(&h, workload, "serializable");
            prop_assert_eq!(r.valid, Validity::Valid, "{} flagged without its switch: {:?}", which, r.explanation);
        }
    }
}

#[test]
fn each_switch_only_injection_needs_its_own_switch() {
    // The wfr and linearizable injections run on different processes, so no other switch
    // sees them; the sequential one also shows under linearizable keys (its transactions are
    // also in real-time order).
    for (which, visible_under) in [("wfr", 1u8), ("linearizable", 4), ("sequential", 2 | 4)] {
        let mut h = history(&spec(Workload::RwRegister, 40, 3, 3, 5));
        inject(&mut h, Workload::RwRegister, which);
        for (b, inference) in every_inference().into_iter().enumerate() {
            let r = check_with(&h, Workload::RwRegister, "serializable", inference);
            let expected = if b as u8 & visible_under != 0 {
                Validity::Invalid
            } else {
                Validity::Valid
            };
            assert_eq!(
                r.valid, expected,
                "{which} {inference:?}: {:?}",
                r.explanation
            );
        }
    }
}

#[test]
fn g_single_is_allowed_by_read_committed_but_not_snapshot_isolation() {
    let mut h = history(&spec(Workload::ListAppend, 50, 4, 3, 7));
    inject(&mut h, Workload::ListAppend, "G-single-item");
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
