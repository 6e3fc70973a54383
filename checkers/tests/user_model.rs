//! The worked example of a model written outside faultline (`checkers/examples/bank_account/`,
//! a bank account that refuses overdrafts) on the fixtures in `fixtures/user-models/`: its
//! model code is compiled into this test, and the example program itself is run when
//! `cargo test` has built it (it builds examples; `--test user_model` alone does not).

#[path = "../examples/bank_account/model.rs"]
#[allow(dead_code)]
mod bank_account;

use checkers::Validity;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/user-models")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn bank_account_model_accepts_refused_overdraft_and_info_deposit() {
    let report = bank_account::check_file(&fixture("bank-account-valid.jsonl"), None).unwrap();
    assert_eq!(report.valid, Validity::Valid, "{report:?}");
    assert_eq!(report.stats.partitions, 2, "one partition per account");
}

#[test]
fn bank_account_model_finds_the_overdraft() {
    let report = bank_account::check_file(&fixture("bank-account-overdraft.jsonl"), None).unwrap();
    assert_eq!(report.valid, Validity::Invalid);
    let cx = report.counterexample.expect("a counterexample");
    assert_eq!(cx.key, Some(json!("alice")));
    assert_eq!(cx.stuck.f, "withdraw");
    // The minimal failing sub-history: both withdrawals; the deposit stays, weakened to
    // indeterminate (had it timed out, the withdrawals would still not both fit).
    let mut lines: Vec<usize> = cx.minimal.iter().map(|o| o.invoke_line).collect();
    lines.sort_unstable();
    assert_eq!(lines, [3, 4]);
    assert_eq!(cx.minimal_weakened, 1);
}

#[test]
fn bank_account_initial_balance_changes_the_verdict() {
    // With 20 already in alice's account, both withdrawals (120 of 120) fit.
    let report =
        bank_account::check_file(&fixture("bank-account-overdraft.jsonl"), Some(20)).unwrap();
    // bob's balance read of 20 no longer fits: bob also starts at 20 and deposits 20.
    assert_eq!(report.valid, Validity::Invalid);
    assert_eq!(report.counterexample.unwrap().key, Some(json!("bob")));
}

#[test]
fn bank_account_model_names_bad_input() {
    let dir = tempdir();
    let path = dir.join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"withdraw\", \"key\": \"a\", \"value\": -5}\n\
         {\"process\": 0, \"type\": \"ok\", \"f\": \"withdraw\", \"key\": \"a\", \"value\": -5}\n",
    )
    .unwrap();
    let err = bank_account::check_file(path.to_str().unwrap(), None).unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.message.contains("positive integer"), "{err}");
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-user-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The example program as `cargo test` builds it: `target/<profile>/examples/bank_account`.
fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join("examples").join("bank_account");
    bin.exists().then_some(bin)
}

#[test]
fn bank_account_example_program_prints_the_verdicts() {
    let Some(bin) = example_binary() else {
        eprintln!(
            "the example program is not built (cargo test --test user_model builds no examples); \
             its model was checked above"
        );
        return;
    };
    let out = Command::new(&bin)
        .arg(fixture("bank-account-valid.jsonl"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(": valid (7 operations, 2 accounts"),
        "{stdout}"
    );

    let out = Command::new(&bin)
        .arg(fixture("bank-account-overdraft.jsonl"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(": invalid"), "{stdout}");
    assert!(stdout.contains("account \"alice\""), "{stdout}");

    let out = Command::new(&bin)
        .arg("/nonexistent/history.jsonl")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
}
