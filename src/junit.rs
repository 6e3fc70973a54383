//! `--junit FILE`: the verdicts as JUnit XML, for CI systems that show test results — a CI
//! output of the "report" step (after run → check).
//!
//! One `<testcase>` per history (named after the file, classname `faultline.CHECKER`): a valid
//! history passes; an invalid one has a `<failure>` whose message is the verdict line; an
//! unknown verdict or a file that could not be read is an `<error>` (neither is a pass, and
//! neither proves a bug). The readable report (counterexample, explanation) is the
//! testcase's `<system-out>`.

use crate::check::FileOutcome;
use crate::render_human::{self, Style};
use anyhow::{Context, Result};
use checkers::Validity;
use std::fmt::Write as _;
use std::path::Path;

/// Writes the JUnit XML of `outcomes` (one per file of `files`) to `path`; `suite` names the
/// test suite (`faultline check`, `faultline run`).
pub fn write(path: &Path, suite: &str, files: &[String], outcomes: &[FileOutcome]) -> Result<()> {
    std::fs::write(path, render(suite, files, outcomes))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One test case, before rendering.
struct Case {
    name: String,
    classname: String,
    seconds: f64,
    /// `("failure" | "error", type, message)`, or `None` for a pass.
    problem: Option<(&'static str, &'static str, String)>,
    out: String,
}

/// The JUnit XML document.
pub fn render(suite: &str, files: &[String], outcomes: &[FileOutcome]) -> String {
    let style = Style { color: false };
    let cases: Vec<Case> = files
        .iter()
        .zip(outcomes)
        .map(|(file, outcome)| {
            let (checker, valid, seconds, text) = match outcome {
                FileOutcome::Checked { report, .. } => (
                    report.checker.to_string(),
                    Some(report.valid),
                    report.stats.millis / 1000.0,
                    render_human::render(file, report, style),
                ),
                FileOutcome::BadInput(e) => ("input".to_string(), None, 0.0, e.to_string()),
            };
            let verdict = text.lines().next().unwrap_or_default().to_string();
            let problem = match valid {
                Some(Validity::Valid) => None,
                Some(Validity::Invalid) => Some(("failure", "invalid", verdict)),
                Some(Validity::Unknown) => Some(("error", "unknown", verdict)),
                None => Some(("error", "bad-input", verdict)),
            };
            Case {
                name: file.clone(),
                classname: format!("faultline.{checker}"),
                seconds,
                problem,
                out: text,
            }
        })
        .collect();
    let failures = cases
        .iter()
        .filter(|c| matches!(c.problem, Some(("failure", ..))))
        .count();
    let errors = cases
        .iter()
        .filter(|c| matches!(c.problem, Some(("error", ..))))
        .count();
    let total: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"faultline\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">",
        cases.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{total:.3}\">",
        attr(suite),
        cases.len()
    );
    for c in &cases {
        let _ = write!(
            xml,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">",
            attr(&c.name),
            attr(&c.classname),
            c.seconds
        );
        if let Some((tag, kind, message)) = &c.problem {
            let _ = write!(
                xml,
                "\n      <{tag} type=\"{kind}\" message=\"{}\">{}</{tag}>",
                attr(message),
                text(message)
            );
        }
        let _ = writeln!(
            xml,
            "\n      <system-out>{}</system-out>\n    </testcase>",
            text(&c.out)
        );
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// The JUnit XML of a test plan (`faultline test`): one testsuite named after the plan, one
/// testcase per case (classname `faultline.test`). A case whose expectation failed has a
/// `<failure>` whose message names every expectation that did not hold, what was found (the
/// baseline comparison with both figures too) and the reproduce command; a case that could not
/// be decided or run has an `<error>`. The case's details and every run's verdict are its
/// `<system-out>`.
pub fn render_plan(
    plan: &crate::plan::TestPlan,
    results: &std::collections::BTreeMap<usize, crate::test_cmd::CaseResult>,
) -> String {
    use crate::test_cmd as t;
    let mut failures = 0;
    let mut errors = 0;
    let mut body = String::new();
    let mut total = 0.0;
    for (&i, r) in results {
        let case = &plan.cases[i];
        let seconds = t::seconds(r).as_secs_f64();
        total += seconds;
        let code = r.code();
        let _ = write!(
            body,
            "    <testcase name=\"{}\" classname=\"faultline.test\" time=\"{seconds:.3}\">",
            attr(&case.name)
        );
        let problem = match code {
            crate::exit::VALID => None,
            crate::exit::INVALID => Some(("failure", "expectation")),
            crate::exit::UNKNOWN => Some(("error", "unknown")),
            _ => Some(("error", "could-not-run")),
        };
        if let Some((tag, kind)) = problem {
            if tag == "failure" {
                failures += 1;
            } else {
                errors += 1;
            }
            let message = t::failure_message(r);
            let _ = write!(
                body,
                "\n      <{tag} type=\"{kind}\" message=\"{}\">{}</{tag}>",
                attr(&message),
                text(&message)
            );
        }
        let mut out = t::case_details(plan, i, r);
        for row in &r.rows {
            if !row.report.is_empty() {
                out.push('\n');
                out.push_str(&row.report);
            }
        }
        let _ = writeln!(
            body,
            "\n      <system-out>{}</system-out>\n    </testcase>",
            text(&out)
        );
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"faultline\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">",
        results.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{total:.3}\">",
        attr(&plan.name),
        results.len()
    );
    xml.push_str(&body);
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Escapes text content, dropping characters XML 1.0 cannot hold (ANSI escapes, NUL).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value (quotes and line breaks too).
fn attr(s: &str) -> String {
    text(s)
        .replace('"', "&quot;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}
