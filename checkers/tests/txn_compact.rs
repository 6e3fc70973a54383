//! The compact reader of list-append / rw-register histories (`checkers::read_txn_paired` then
//! `checkers::check_compact`, what `faultline check --workload list-append` uses) gives exactly
//! the report — verdict, anomalies, explanation lines, details, drawings — or the input error
//! (file, line, message) of the general reader and checker, on generated histories with
//! anomalies appended and with lines the compact path does not take (nemesis records, string
//! keys, escapes, extra fields, reads with values in transactions that did not complete ok,
//! malformed micro-operations).

#[path = "hostile/mutate.rs"]
#[allow(dead_code)]
mod mutate;

use checkers::history::{read_paired, write_json_lines, Operation, Paired, ReadBudget};
use checkers::testing::{check_list_append, check_rw_register};
use checkers::testing::{txn_history, TxnSpec};
use checkers::{check_compact, read_txn_paired, CheckOptions, InputError, Report, TxnKind};

fn budget() -> ReadBudget {
    ReadBudget {
        memory_limit: 1 << 30,
        memory_in_use: None,
    }
}

/// A budget whose blocks are small (6 MiB after the first 1 MiB): a file of 10 MB is read
/// in three.
fn small_blocks() -> ReadBudget {
    ReadBudget {
        memory_limit: 384 << 20,
        memory_in_use: None,
    }
}

fn opts() -> CheckOptions {
    CheckOptions {
        consistency: vec!["strict-serializable".into()],
        ..Default::default()
    }
}

/// What a report says, without the time it took.
fn said(r: &Report) -> String {
    let artifacts: Vec<(&String, &String)> =
        r.artifacts.iter().map(|a| (&a.name, &a.contents)).collect();
    format!(
        "{:?} {:?} {:?} ops={} {:?}\n{}\n{}\n{:?}",
        r.valid,
        r.unknown_reason,
        r.anomalies,
        r.stats.ops,
        r.stop,
        r.explanation.join("\n"),
        r.details,
        artifacts
    )
}

fn general(path: &str, kind: TxnKind) -> Result<String, InputError> {
    let ops: Vec<Operation> = match read_paired(path, None, true, budget())? {
        Paired::Read { ops, .. } => ops,
        other => panic!("{other:?}"),
    };
    let o = opts();
    let r = match kind {
        TxnKind::ListAppend => check_list_append(path, &ops, &o, &o.budget()),
        TxnKind::RwRegister => check_rw_register(path, &ops, &o, &o.budget()),
    }?;
    Ok(said(&r))
}

/// The compact path's answer, and whether it read the file compactly.
fn compact(path: &str, kind: TxnKind) -> (Result<String, InputError>, bool) {
    compact_in(path, kind, budget())
}

/// [`compact`] within `budget`.
fn compact_in(path: &str, kind: TxnKind, budget: ReadBudget) -> (Result<String, InputError>, bool) {
    let (paired, txns) = match read_txn_paired(path, None, kind, budget) {
        Ok(x) => x,
        Err(e) => return (Err(e), false),
    };
    let ops = match paired {
        Paired::Read { ops, .. } => ops,
        other => panic!("{other:?}"),
    };
    let o = opts();
    let used = txns.is_some();
    let r = match txns {
        Some(t) => check_compact(kind, path, &ops, t, &o, &o.budget()),
        None => match kind {
            TxnKind::ListAppend => check_list_append(path, &ops, &o, &o.budget()),
            TxnKind::RwRegister => check_rw_register(path, &ops, &o, &o.budget()),
        },
    };
    (r.map(|r| said(&r)), used)
}

fn generated(kind: TxnKind, seed: u64) -> String {
    generated_n(kind, seed, 400)
}

/// A generated history of `txns` transactions.
fn generated_n(kind: TxnKind, seed: u64, txns: usize) -> String {
    let spec = TxnSpec {
        workload: kind,
        txns,
        processes: 6,
        keys: 5,
        max_mops: 4,
        writes_per_key: 6,
        fail_per_mille: 40,
        info_per_mille: 40,
        seed,
    };
    let mut out = Vec::new();
    write_json_lines(&txn_history(&spec), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// One transaction by `process`: its invocation (reads of null) and completion lines.
fn txn(process: i64, done: &str, invoke: &str, result: &str) -> String {
    format!(
        "{{\"process\":{process},\"type\":\"invoke\",\"f\":\"txn\",\"value\":{invoke}}}\n{{\"process\":{process},\"type\":\"{done}\",\"f\":\"txn\",\"value\":{result}}}\n"
    )
}

/// Tails appended to a generated history, for list-append: anomalies and lines the compact
/// path leaves to the general one. Keys 1000.. are fresh.
fn list_append_tails() -> Vec<(&'static str, String)> {
    vec![
        ("plain", String::new()),
        (
            "G1a, aborted read",
            txn(900, "fail", r#"[["append",1000,7]]"#, r#"[["append",1000,7]]"#)
                + &txn(901, "ok", r#"[["r",1000,null]]"#, r#"[["r",1000,[7]]]"#),
        ),
        (
            "G0 and G-single",
            txn(900, "ok", r#"[["append",1000,1],["append",1001,2]]"#, r#"[["append",1000,1],["append",1001,2]]"#)
                + &txn(901, "ok", r#"[["append",1000,3],["append",1001,4]]"#, r#"[["append",1000,3],["append",1001,4]]"#)
                + &txn(902, "ok", r#"[["r",1000,null],["r",1001,null]]"#, r#"[["r",1000,[1,3]],["r",1001,[4,2]]]"#)
                + &txn(903, "ok", r#"[["append",1002,1]]"#, r#"[["append",1002,1]]"#)
                + &txn(904, "ok", r#"[["r",1002,null],["append",1003,1]]"#, r#"[["r",1002,[1]],["append",1003,1]]"#)
                + &txn(905, "ok", r#"[["r",1003,null],["r",1002,null]]"#, r#"[["r",1003,[1]],["r",1002,[]]]"#),
        ),
        (
            "duplicates, garbage, internal, ok read of null",
            txn(900, "ok", r#"[["append",1000,1]]"#, r#"[["append",1000,1]]"#)
                + &txn(901, "ok", r#"[["r",1000,null]]"#, r#"[["r",1000,[1,1]]]"#)
                + &txn(902, "ok", r#"[["r",1001,null]]"#, r#"[["r",1001,[42]]]"#)
                + &txn(903, "ok", r#"[["append",1002,1],["r",1002,null]]"#, r#"[["append",1002,1],["r",1002,[5]]]"#)
                + &txn(904, "ok", r#"[["r",1004,null]]"#, r#"[["r",1004,null]]"#),
        ),
        (
            "lines of other shapes",
            "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start\",\"value\":{\"a\":[1]}}\n".to_string()
                + &txn(900, "ok", r#"[["append","k",1]]"#, r#"[["append","k",1]]"#)
                + "{\"process\":901,\"type\":\"invoke\",\"f\":\"t\\u0078n\",\"value\":[[\"append\",1001,1]]}\n"
                + "{\"process\":901,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"append\",1001,1]],\"node\":\"n1\"}\n"
                + &txn(902, "info", r#"[["r",1001,[1]],["append",1001,2]]"#, r#"[["r",1001,[1]],["append",1001,2]]"#)
                + &txn(903, "fail", r#"[["r",1001,7]]"#, r#"[["r",1001,7]]"#)
                + &txn(904, "ok", r#"[["append",1001,3.5]]"#, r#"[["append",1001,3.5]]"#)
                + &txn(905, "ok", r#"[["append",1001,18446744073709551615]]"#, r#"[["append",1001,18446744073709551615]]"#)
                + "{\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",1005,null]]}\n"
                + "{\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",1005,[]]]}\n"
                + "{\"process\":906,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1006,1]]}\n",
        ),
        (
            "error: a register write in list-append",
            txn(900, "ok", r#"[["w",1000,1]]"#, r#"[["w",1000,1]]"#),
        ),
        (
            "error: an append of null",
            txn(900, "info", r#"[["append",1000,null]]"#, r#"[["append",1000,null]]"#),
        ),
        (
            "error: a read of an integer",
            txn(900, "ok", r#"[["r",1000,null]]"#, r#"[["r",1000,3]]"#),
        ),
        (
            "error: a value appended twice",
            txn(900, "ok", r#"[["append",1000,1]]"#, r#"[["append",1000,1]]"#)
                + &txn(901, "ok", r#"[["append",1000,1]]"#, r#"[["append",1000,1]]"#),
        ),
        (
            "error: not a transaction, then a pairing error",
            txn(900, "ok", r#"[["append",1000,1]]"#, r#"{"a":1}"#)
                + "{\"process\":77,\"type\":\"ok\",\"f\":\"txn\",\"value\":[]}\n",
        ),
        (
            "error: a malformed line",
            txn(900, "ok", r#"[["append",1000,1]]"#, r#"[["append",1000,1]]"#) + "{\"type\":\n",
        ),
    ]
}

fn rw_register_tails() -> Vec<(&'static str, String)> {
    vec![
        ("plain", String::new()),
        (
            "G0, lost update, reads of null",
            txn(
                900,
                "ok",
                r#"[["r",1001,null],["w",1000,1],["w",1001,2]]"#,
                r#"[["r",1001,4],["w",1000,1],["w",1001,2]]"#,
            ) + &txn(
                901,
                "ok",
                r#"[["r",1000,null],["w",1000,3],["w",1001,4]]"#,
                r#"[["r",1000,1],["w",1000,3],["w",1001,4]]"#,
            ) + &txn(
                902,
                "ok",
                r#"[["r",1002,null],["w",1002,1]]"#,
                r#"[["r",1002,null],["w",1002,1]]"#,
            ) + &txn(
                903,
                "ok",
                r#"[["r",1002,null],["w",1002,2]]"#,
                r#"[["r",1002,null],["w",1002,2]]"#,
            ),
        ),
        (
            "lines of other shapes",
            txn(900, "ok", r#"[["w",1000,null]]"#, r#"[["w",1000,null]]"#)
                + &txn(901, "ok", r#"[["r",1000,null]]"#, r#"[["r",1000,[1,2]]]"#)
                + &txn(
                    902,
                    "info",
                    r#"[["r",1000,5],["w",1000,9]]"#,
                    r#"[["r",1000,5],["w",1000,9]]"#,
                )
                + &txn(903, "ok", r#"[["w",1003,[1]]]"#, r#"[["w",1003,[1]]]"#)
                + &txn(904, "ok", r#"[["w","x","y"]]"#, r#"[["w","x","y"]]"#),
        ),
        (
            "error: an append in rw-register",
            txn(
                900,
                "fail",
                r#"[["append",1000,1]]"#,
                r#"[["append",1000,1]]"#,
            ),
        ),
        (
            "error: a micro-operation of two elements",
            txn(900, "ok", r#"[["r",1000]]"#, r#"[["r",1000]]"#),
        ),
    ]
}

#[test]
fn compact_reading_gives_the_general_paths_reports_and_errors() {
    let dir = std::env::temp_dir().join(format!("faultline-txn-compact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (kind, tails) in [
        (TxnKind::ListAppend, list_append_tails()),
        (TxnKind::RwRegister, rw_register_tails()),
    ] {
        for seed in 1..=3 {
            let base = generated(kind, seed);
            for (name, tail) in &tails {
                let path = dir.join(format!("h-{seed}.jsonl"));
                std::fs::write(&path, format!("{base}{tail}")).unwrap();
                let path = path.to_str().unwrap();
                let want = general(path, kind);
                let (got, used) = compact(path, kind);
                assert_eq!(got, want, "{kind:?} seed {seed}: {name}");
                let malformed = name.contains("malformed") || name.contains("pairing");
                assert_eq!(used, !malformed, "{kind:?} {name}: compact path used");
                if !name.starts_with("error") {
                    assert!(want.is_ok(), "{kind:?} {name}: {want:?}");
                }
                if name.contains("G0") || name.contains("G1a") {
                    assert!(want.as_ref().unwrap().starts_with("Invalid"), "{name}");
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file of several blocks is read in two overlapping stages (parsing the next block while
/// pairing the previous one): the report, or the error of a line in a late block, is the
/// general path's — also when the file ends exactly at a block's end (its last block is
/// then empty).
#[test]
fn files_of_many_blocks_read_compactly_answer_as_the_general_path() {
    let dir = std::env::temp_dir().join(format!("faultline-txn-blocks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("h.jsonl");
    let path = path.to_str().unwrap();
    let base = generated_n(TxnKind::ListAppend, 5, 40_000);
    assert!(base.len() > 3 << 20, "{} bytes: too few blocks", base.len());
    for (name, tail) in list_append_tails() {
        std::fs::write(path, format!("{base}{tail}")).unwrap();
        let want = general(path, TxnKind::ListAppend);
        let (got, used) = compact_in(path, TxnKind::ListAppend, small_blocks());
        assert_eq!(got, want, "{name}");
        let malformed = name.contains("malformed") || name.contains("pairing");
        assert_eq!(used, !malformed, "{name}: compact path used");
    }
    // Exactly one first block (1 MiB), padded with a blank line, ending in a newline.
    let mut text: String = base.lines().take(4000).flat_map(|l| [l, "\n"]).collect();
    assert!(text.len() < (1 << 20) - 2, "{}", text.len());
    text.push_str(&" ".repeat((1 << 20) - 1 - text.len()));
    text.push('\n');
    assert_eq!(text.len(), 1 << 20);
    std::fs::write(path, &text).unwrap();
    let want = general(path, TxnKind::ListAppend);
    let (got, used) = compact_in(path, TxnKind::ListAppend, small_blocks());
    assert_eq!(got, want, "a file of exactly one block");
    assert!(used && want.is_ok(), "{want:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The hostile-input mutations (`tests/hostile/mutate.rs`) of generated histories: the compact
/// path never panics and answers exactly as the general one. `FAULTLINE_TXN_FUZZ_CASES` cases
/// (default 300; `scripts/fuzz-readers` style runs set more).
#[test]
fn mutated_histories_read_compactly_answer_as_the_general_path() {
    let cases: u64 = std::env::var("FAULTLINE_TXN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = std::env::temp_dir().join(format!("faultline-txn-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seeds: Vec<(TxnKind, Vec<u8>)> = [TxnKind::ListAppend, TxnKind::RwRegister]
        .into_iter()
        .map(|k| {
            let text = generated(k, 9) + &list_append_tails()[2].1;
            (k, text.into_bytes())
        })
        .collect();
    let path = dir.join("case.jsonl");
    let path = path.to_str().unwrap();
    let mut compacted = 0;
    for i in 0..cases {
        let mut rng = checkers::Rng::new(0x7A11 ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (kind, seed) = &seeds[(i % 2) as usize];
        let m = mutate::KINDS[rng.below(mutate::KINDS.len() as u64) as usize];
        let bytes = mutate::apply(m, seed, &mut rng);
        std::fs::write(path, &bytes).unwrap();
        let want = std::panic::catch_unwind(|| general(path, *kind));
        let got = std::panic::catch_unwind(|| compact(path, *kind));
        let (Ok(want), Ok((got, used))) = (want, got) else {
            panic!("case {i} ({m:?}): a panic");
        };
        compacted += used as usize;
        assert_eq!(got, want, "case {i} ({kind:?}, {m:?})");
    }
    assert!(compacted > 0, "no case took the compact path");
    std::fs::remove_dir_all(&dir).unwrap();
}
