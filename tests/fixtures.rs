//! The hand-written histories in `fixtures/` with their verdicts in `fixtures/expected.tsv`
//! (valid, invalid, unknown, or error = exit 254).

mod common;

use std::path::PathBuf;

#[test]
fn fixtures_have_their_expected_verdicts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let rows = common::read_tsv(&dir.join("expected.tsv"));
    assert!(rows.len() >= 30, "expected.tsv looks truncated");
    common::check_table("fixtures", &dir, &rows);
}

#[test]
fn every_fixture_file_has_a_row() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let rows = common::read_tsv(&dir.join("expected.tsv"));
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        // user-models/: histories for the worked user-written model, which `faultline check`
        // has no model for; checked by checkers/tests/user_model.rs.
        if name != "expected.tsv" && name != "user-models" && !rows.iter().any(|r| r.file == name) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "fixtures without a row in expected.tsv: {missing:?}"
    );
}

#[test]
fn every_model_has_a_valid_and_an_invalid_fixture() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let rows = common::read_tsv(&dir.join("expected.tsv"));
    for model in [
        "register",
        "cas-register",
        "kv",
        "multi-register",
        "set",
        "queue",
        "fifo-queue",
        "counter",
        "mutex",
    ] {
        for verdict in ["valid", "invalid"] {
            assert!(
                rows.iter().any(|r| r.expected == verdict
                    && r.args
                        .windows(2)
                        .any(|w| w[0] == "--model" && w[1] == model)),
                "no {verdict} fixture for --model {model}"
            );
        }
    }
}
