//! `--junit FILE` (check and report) and `faultline report`: the JUnit XML parses back with one
//! testcase per history, a failure for an invalid one (message = the verdict line) and an error
//! for bad input; `report` re-checks a store directory with the checker of its results.json.

use std::process::{Command, Stdio};

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn junit_has_one_testcase_per_history_with_failures_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let status = faultline()
        .args(["check", "--model", "register", "--junit"])
        .arg(&junit)
        .args([
            fixture("register-valid.jsonl"),
            fixture("register-stale-read.jsonl"),
            fixture("malformed-bad-json.jsonl"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(254));
    let text = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the JUnit file is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("3"));
    assert_eq!(root.attribute("failures"), Some("1"));
    assert_eq!(root.attribute("errors"), Some("1"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 3);
    assert!(cases[0]
        .attribute("name")
        .unwrap()
        .ends_with("register-valid.jsonl"));
    assert_eq!(cases[0].attribute("classname"), Some("faultline.register"));
    assert!(!cases[0]
        .children()
        .any(|c| c.has_tag_name("failure") || c.has_tag_name("error")));
    let failure = cases[1]
        .children()
        .find(|c| c.has_tag_name("failure"))
        .expect("the invalid history is a failure");
    let message = failure.attribute("message").unwrap();
    assert!(
        message.contains("register-stale-read.jsonl: INVALID — not linearizable"),
        "{message}"
    );
    let out = cases[1]
        .children()
        .find(|c| c.has_tag_name("system-out"))
        .and_then(|c| c.text())
        .unwrap();
    assert!(out.contains("minimal failing sub-history"), "{out}");
    let error = cases[2]
        .children()
        .find(|c| c.has_tag_name("error"))
        .unwrap();
    assert_eq!(error.attribute("type"), Some("bad-input"));
}

#[test]
fn report_rechecks_a_store_directory_with_its_recorded_checker() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    std::fs::copy(fixture("register-stale-read.jsonl"), &history).unwrap();
    let status = faultline()
        .args(["check", "--model", "register", "--out"])
        .arg(dir.path())
        .arg(&history)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    std::fs::remove_file(dir.path().join("report.html")).unwrap();
    let output = faultline().arg("report").arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("INVALID"));
    assert!(
        dir.path().join("report.html").is_file(),
        "report.html was not rewritten"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["format_version"], 1);
    assert_eq!(results["results"][0]["model"], "register");
}

#[test]
fn a_failed_report_keeps_the_recorded_results() {
    // Issue 22: `report DIR --workload list-append` on a register run exited 254 and replaced
    // results.json with `"valid": null`, so a plain `report DIR` found no checker any more.
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    std::fs::copy(fixture("register-stale-read.jsonl"), &history).unwrap();
    let status = faultline()
        .args(["check", "--model", "register", "--out"])
        .arg(dir.path())
        .arg(&history)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let before = std::fs::read(dir.path().join("results.json")).unwrap();
    let html = std::fs::read(dir.path().join("report.html")).unwrap();
    let failed = faultline()
        .arg("report")
        .arg(dir.path())
        .args(["--workload", "list-append"])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(254), "{failed:?}");
    assert_eq!(
        std::fs::read(dir.path().join("results.json")).unwrap(),
        before,
        "results.json was changed by a failed report"
    );
    assert_eq!(std::fs::read(dir.path().join("report.html")).unwrap(), html);
    assert!(!dir.path().join("results.tmp").exists());
    let again = faultline().arg("report").arg(dir.path()).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("INVALID"));
}

#[test]
fn report_of_a_history_file_needs_a_checker_and_writes_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.jsonl");
    std::fs::copy(fixture("cas-register-nemesis-valid.jsonl"), &file).unwrap();
    let output = faultline().arg("report").arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(254));
    let junit = dir.path().join("j.xml");
    let output = faultline()
        .args(["report", "--model", "cas-register", "--junit"])
        .arg(&junit)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let out = dir.path().join("h.jsonl.report");
    for name in ["results.json", "report.html", "latency.svg", "rate.svg"] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    roxmltree::Document::parse(&std::fs::read_to_string(junit).unwrap()).unwrap();
}

#[test]
fn report_reuses_the_recorded_consistency_models() {
    // G-single is allowed by read committed: re-checking with the default (serializable)
    // instead of the recorded model would turn this valid run invalid.
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    std::fs::copy(fixture("txn-list-append-g-single.jsonl"), &history).unwrap();
    let status = faultline()
        .args([
            "check",
            "--workload",
            "list-append",
            "--consistency",
            "read-committed",
            "--out",
        ])
        .arg(dir.path())
        .arg(&history)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let output = faultline().arg("report").arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let output = faultline()
        .args(["report", "--consistency", "serializable"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(dir.path().join("report.html").is_file());
}

/// `report DIR` re-checks with the `--anomalies` and rw-register inference switches the
/// recorded check used (results.json's details), not with the defaults.
#[test]
fn report_reuses_the_recorded_anomalies_and_inference_switches() {
    let cases: [(&str, &str, &[&str], i32); 3] = [
        // Invalid only under writes-follow-reads: a report without the switch would say valid.
        (
            "txn-rw-register-wfr.jsonl",
            "rw-register",
            &["--consistency", "serializable", "--wfr-keys"],
            1,
        ),
        // Valid without it: a report that turned the switch on would say invalid.
        (
            "txn-rw-register-wfr.jsonl",
            "rw-register",
            &["--consistency", "serializable"],
            0,
        ),
        // G-single-item is not among --anomalies G1: the default (serializable) would flag it.
        (
            "txn-list-append-g-single.jsonl",
            "list-append",
            &["--anomalies", "G1"],
            0,
        ),
    ];
    for (file, workload, flags, code) in cases {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history.jsonl");
        std::fs::copy(fixture(file), &history).unwrap();
        let status = faultline()
            .args(["check", "--workload", workload])
            .args(flags)
            .arg("--out")
            .arg(dir.path())
            .arg(&history)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(code), "{file} {flags:?}");
        let output = faultline().arg("report").arg(dir.path()).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{file} {flags:?}: {output:?}"
        );
    }
}
