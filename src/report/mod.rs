//! Reports people look at: report.html (the timeline), latency.svg and rate.svg, written next
//! to results.json — the "report" step after run → check.
//!
//! [`write_all`] is called wherever results.json is written (`check --out DIR`, the store
//! directory of `run`/`demo`, `faultline report`). It reads each checked history again, pairs
//! it, and writes one page and two plots per history: `report.html`, `latency.svg`,
//! `rate.svg` for a single history; for several, `report-N-NAME.html` (and plots) per history
//! and a `report.html` index linking them. Standard input (`-`) cannot be read twice, so it
//! gets no page (the index says so).

pub mod evidence;
pub mod html;
pub mod lamport;
pub mod plots;
pub mod timeline;

use crate::check::FileOutcome;
use anyhow::{Context, Result};
use checkers::history::{pair, pair_anonymous, read_history, Operation};
use std::path::Path;

/// Writes the report pages and plots of every checked file into `dir` (which exists).
pub fn write_all(dir: &Path, files: &[String], outcomes: &[FileOutcome]) -> Result<()> {
    if files.len() == 1 {
        write_one(dir, &files[0], &outcomes[0], "")?;
        return Ok(());
    }
    let mut index = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline reports</title>\
         <style>body{font:14px system-ui,sans-serif;margin:16px}td{padding:2px 10px}</style></head>\
         <body><h1>faultline reports</h1><table>",
    );
    for (n, (file, outcome)) in files.iter().zip(outcomes).enumerate() {
        let stem = Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let safe: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let suffix = format!("-{}-{safe}", n + 1);
        let verdict = verdict_of(outcome);
        let cell = match write_one(dir, file, outcome, &suffix)? {
            Some(page) => format!("<a href=\"{page}\">{}</a>", html::escape(file)),
            None => format!(
                "{} (no page: {})",
                html::escape(file),
                why_no_page(file, outcome)
            ),
        };
        index.push_str(&format!("<tr><td>{verdict}</td><td>{cell}</td></tr>"));
    }
    index.push_str("</table></body></html>\n");
    let path = dir.join("report.html");
    std::fs::write(&path, index).with_context(|| format!("cannot write {}", path.display()))
}

/// The verdict word of an outcome.
fn verdict_of(outcome: &FileOutcome) -> &'static str {
    use checkers::Validity::*;
    let v = match outcome {
        FileOutcome::Checked { report, .. } => report.valid,
        FileOutcome::BadInput(_) => return "bad input",
    };
    match v {
        Valid => "valid",
        Invalid => "invalid",
        Unknown => "unknown",
    }
}

/// Why a file has no page.
fn why_no_page(file: &str, outcome: &FileOutcome) -> &'static str {
    match outcome {
        FileOutcome::BadInput(_) => "it could not be read",
        _ if file == "-" => "standard input cannot be read twice",
        _ => "no operations",
    }
}

/// Writes `report{suffix}.html`, `latency{suffix}.svg` and `rate{suffix}.svg` for one file;
/// returns the page's name, or `None` when the file gets no page.
fn write_one(
    dir: &Path,
    file: &str,
    outcome: &FileOutcome,
    suffix: &str,
) -> Result<Option<String>> {
    let (format, evidence) = match outcome {
        FileOutcome::Checked { format, report } => (*format, report.as_ref()),
        FileOutcome::BadInput(_) => return Ok(None),
    };
    if file == "-" {
        return Ok(None);
    }
    let Some(ops) = read_ops(file, format) else {
        return Ok(None);
    };
    let data = timeline::data(file, &ops, evidence);
    let page = format!("report{suffix}.html");
    let path = dir.join(&page);
    std::fs::write(&path, html::page(&data))
        .with_context(|| format!("cannot write {}", path.display()))?;
    let windows = checkers::perf::fault_windows(&ops);
    if let Some((latency, rate)) = plots::render(&ops, &windows)? {
        for (name, svg) in [("latency", latency), ("rate", rate)] {
            let path = dir.join(format!("{name}{suffix}.svg"));
            std::fs::write(&path, svg)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(Some(page))
}

/// The paired operations of a history that was already checked (so it reads and pairs; a
/// history without processes is paired as one anonymous thread, as the workload checkers do).
fn read_ops(file: &str, format: checkers::history::Format) -> Option<Vec<Operation>> {
    let bytes = checkers::history::limits::read_input(file).ok()?;
    let history = read_history(file, &bytes, Some(format)).ok()?;
    pair(&history).or_else(|_| pair_anonymous(&history)).ok()
}
