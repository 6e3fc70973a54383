//! The read-only-transaction anomaly (Fekete, O'Neil & O'Neil 2004) in list-append form: the
//! pattern of the one PostgreSQL SERIALIZABLE run that faultline called invalid (seed 12 of
//! tests/db_postgres.rs, history lost). T1 appends 2766 to key 12; T2, read-only, reads key 12
//! with 2766 and key 13 without T3's 2738; T3 reads key 12 without 2766 and appends 2738 to
//! key 13. T1 →wr T2 →rw T3 →rw T1: a G2-item cycle with two adjacent anti-dependencies, which
//! serializability forbids and snapshot isolation allows.
//!
//! These tests pin what the checker concludes from that pattern, in the shapes PostgreSQL
//! produces (rows that exist, rows not yet inserted: a read of `null`), and that it concludes
//! nothing from the near misses: the same transactions where one read could be explained, or
//! where one transaction did not commit.

use checkers::history::{pair, read_history};
use checkers::testing::check_list_append;
use checkers::{CheckOptions, Validity};

/// Checks a JSON-lines list-append history for `model`.
fn check(lines: &[String], model: &str) -> checkers::Report {
    let text = lines.join("\n");
    let h = read_history("read-only-anomaly", text.as_bytes(), None).expect("well-formed");
    let ops = pair(&h).expect("pairs");
    let opts = CheckOptions {
        consistency: vec![model.to_string()],
        ..Default::default()
    };
    check_list_append("read-only-anomaly", &ops, &opts, &opts.budget()).expect("checks")
}

/// One transaction, invoked and completed (`kind`: ok / fail / info) by `process`, with
/// `invoke` (reads `null`) and `done` as its micro-operations.
fn txn(process: u32, invoke: &str, kind: &str, done: &str) -> Vec<String> {
    vec![
        format!(r#"{{"process":{process},"type":"invoke","f":"txn","value":{invoke}}}"#),
        format!(r#"{{"process":{process},"type":"{kind}","f":"txn","value":{done}}}"#),
    ]
}

/// The three transactions, overlapping as in PostgreSQL (T3 and T2 both open while T1
/// commits). `k12` is what key 12 held before T1 (`[]` for a row not yet inserted: read as
/// `null`), `k13` the same for key 13; `t2_sees`: whether T2's read of key 12 shows 2766;
/// `t3`: T3's completion type.
fn history(k12: &[u64], k13: &[u64], t2_sees: bool, t3: &str) -> Vec<String> {
    let list = |prefix: &[u64], extra: Option<u64>| {
        let mut v: Vec<u64> = prefix.to_vec();
        v.extend(extra);
        if v.is_empty() {
            "null".to_string()
        } else {
            format!("{v:?}")
        }
    };
    let mut h = Vec::new();
    // Earlier committed appends that built the prefixes (one transaction per element).
    for (i, &e) in k12.iter().enumerate() {
        h.extend(txn(
            10 + i as u32,
            &format!(r#"[["append",12,{e}]]"#),
            "ok",
            &format!(r#"[["append",12,{e}]]"#),
        ));
    }
    for (i, &e) in k13.iter().enumerate() {
        h.extend(txn(
            20 + i as u32,
            &format!(r#"[["append",13,{e}]]"#),
            "ok",
            &format!(r#"[["append",13,{e}]]"#),
        ));
    }
    // T3 starts, reads key 12 before T1's append.
    h.push(
        r#"{"process":3,"type":"invoke","f":"txn","value":[["r",12,null],["append",13,2738]]}"#
            .into(),
    );
    // T1 appends 2766 to key 12 and commits.
    h.extend(txn(
        1,
        r#"[["append",12,2766]]"#,
        "ok",
        r#"[["append",12,2766]]"#,
    ));
    // T2 (read-only) reads both keys.
    h.extend(txn(
        2,
        r#"[["r",12,null],["r",13,null]]"#,
        "ok",
        &format!(
            r#"[["r",12,{}],["r",13,{}]]"#,
            list(k12, t2_sees.then_some(2766)),
            list(k13, None)
        ),
    ));
    // T3 completes.
    h.push(format!(
        r#"{{"process":3,"type":"{t3}","f":"txn","value":[["r",12,{}],["append",13,2738]]}}"#,
        list(k12, None)
    ));
    // A later read shows both appends (so the version orders are known).
    h.extend(txn(
        4,
        r#"[["r",12,null],["r",13,null]]"#,
        "ok",
        &format!(
            r#"[["r",12,{}],["r",13,{}]]"#,
            list(k12, Some(2766)),
            if t3 == "fail" {
                list(k13, None)
            } else {
                list(k13, Some(2738))
            }
        ),
    ));
    h
}

#[test]
fn read_only_transaction_anomaly_is_g2_item_for_serializable_and_allowed_by_snapshot_isolation() {
    for (k12, k13) in [
        (&[][..], &[][..]),
        (&[5, 7][..], &[9][..]),
        (&[][..], &[9][..]),
        (&[5][..], &[][..]),
    ] {
        let h = history(k12, k13, true, "ok");
        let r = check(&h, "serializable");
        assert_eq!(
            r.valid,
            Validity::Invalid,
            "{k12:?} {k13:?}: {:?}",
            r.explanation
        );
        assert!(
            r.anomalies.iter().any(|a| a == "G2-item"),
            "{k12:?} {k13:?}: {:?}",
            r.anomalies
        );
        assert!(
            !r.anomalies
                .iter()
                .any(|a| a.starts_with("G-single") || a.starts_with("G1")),
            "two adjacent anti-dependencies, no G-single: {:?}",
            r.anomalies
        );
        let r = check(&h, "snapshot-isolation");
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    }
}

#[test]
fn read_only_transaction_anomaly_near_misses_are_valid() {
    for (k12, k13) in [(&[][..], &[][..]), (&[5, 7][..], &[9][..])] {
        // T2 did not see T1's append: T2, T3, T1 is a serial order.
        let r = check(&history(k12, k13, false, "ok"), "serializable");
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
        // T3 failed (PostgreSQL's serialization failure): only T1 and T2 committed.
        let r = check(&history(k12, k13, true, "fail"), "serializable");
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
        // T3 indeterminate: its read of key 12 is unknown, so it gives no anti-dependency.
        let h: Vec<String> = history(k12, k13, true, "ok")
            .into_iter()
            .map(|l| {
                if l.contains(r#""process":3,"type":"ok""#) {
                    r#"{"process":3,"type":"info","f":"txn","value":[["r",12,null],["append",13,2738]]}"#
                        .to_string()
                } else {
                    l
                }
            })
            .collect();
        let r = check(&h, "serializable");
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.explanation);
    }
}
