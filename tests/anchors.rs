//! The published verdicts in `../shared/anchors/expected.tsv` (Porcupine, Knossos, elle-cli):
//! every row must give its expected exit code. Skipped, with a message, when the
//! anchors directory is not there.

mod common;

use std::io::Write;
use std::path::PathBuf;

#[test]
fn anchors_agree_with_their_authors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/anchors");
    let tsv = dir.join("expected.tsv");
    if !tsv.exists() {
        let _ = writeln!(
            std::io::stderr(),
            "anchors: skipped: {} not found (the shared anchors are not checked out next to this repository)",
            tsv.display()
        );
        return;
    }
    let rows: Vec<common::Row> = common::read_tsv(&tsv)
        .into_iter()
        .filter(|r| r.args.iter().any(|a| a == "--model"))
        .collect();
    assert!(!rows.is_empty(), "no --model rows in {}", tsv.display());
    common::check_table("anchors", &dir, &rows);
}

/// Every `--workload` row (Elle, elle-cli's Jepsen checkers) gives its expected exit code.
#[test]
fn workload_anchors_agree_with_their_authors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/anchors");
    let tsv = dir.join("expected.tsv");
    if !tsv.exists() {
        let _ = writeln!(
            std::io::stderr(),
            "workload anchors: skipped: {} not found",
            tsv.display()
        );
        return;
    }
    let rows: Vec<common::Row> = common::read_tsv(&tsv)
        .into_iter()
        .filter(|r| r.args.iter().any(|a| a == "--workload"))
        .collect();
    assert!(!rows.is_empty(), "no --workload rows in {}", tsv.display());
    common::check_table("workload anchors", &dir, &rows);
}
