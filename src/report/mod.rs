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
pub mod source;
pub mod timeline;

use crate::check::FileOutcome;
use anyhow::{Context, Result};
use checkers::history::{read_compact, read_paired, CompactRead, Operation, Paired, ReadBudget};
use source::Source;
use std::path::Path;

/// Writes the report pages and plots of every checked file into `dir` (which exists).
/// Reading a history again keeps to `memory_limit` bytes (a history that does not fit gets a
/// page without its timeline); `kept` is a single file's history already read ([`read_ops`]).
pub fn write_all(
    dir: &Path,
    files: &[String],
    outcomes: &[FileOutcome],
    memory_limit: usize,
    kept: Option<Read>,
) -> Result<()> {
    if files.len() == 1 {
        write_one(dir, &files[0], &outcomes[0], "", memory_limit, kept)?;
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
        let cell = match write_one(dir, file, outcome, &suffix, memory_limit, None)? {
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
    memory_limit: usize,
    kept: Option<Read>,
) -> Result<Option<String>> {
    let (format, evidence) = match outcome {
        FileOutcome::Checked { format, report } => (*format, report.as_ref()),
        FileOutcome::BadInput(_) => return Ok(None),
    };
    if file == "-" {
        return Ok(None);
    }
    let read = match kept {
        Some(read) => read,
        None => read_ops(file, format, memory_limit),
    };
    let ops = match read {
        Read::Ops(ops) => ops,
        Read::TooBig => {
            // The verdict and its reason still get their page, without the timeline.
            let mut data = timeline::data(file, &Source::All(Vec::new()), evidence);
            data.meta["note"] = serde_json::Value::String(format!(
                "no timeline: reading the history again for this page would pass the memory \
                 limit of {} MiB",
                memory_limit >> 20
            ));
            let page = format!("report{suffix}.html");
            let path = dir.join(&page);
            std::fs::write(&path, html::page(&data))
                .with_context(|| format!("cannot write {}", path.display()))?;
            return Ok(Some(page));
        }
        Read::Unreadable => return Ok(None),
    };
    let data = timeline::data(file, &ops, evidence);
    let page = format!("report{suffix}.html");
    let path = dir.join(&page);
    std::fs::write(&path, html::page(&data))
        .with_context(|| format!("cannot write {}", path.display()))?;
    drop(data);
    let nemesis: Vec<Operation> = (0..ops.len())
        .filter(|&i| !ops.view(i).client)
        .filter_map(|i| ops.get(i).map(std::borrow::Cow::into_owned))
        .chain(end_marker(&ops))
        .collect();
    let windows = checkers::perf::fault_windows(&nemesis);
    if let Some((latency, rate)) = plots::render(&ops, &windows)? {
        for (name, svg) in [("latency", latency), ("rate", rate)] {
            let path = dir.join(format!("{name}{suffix}.svg"));
            std::fs::write(&path, svg)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(Some(page))
}

/// What [`read_ops`] read.
pub enum Read {
    /// The operations.
    Ops(Source),
    /// The history does not fit in the memory limit.
    TooBig,
    /// It does not read (or pair).
    Unreadable,
}

/// The paired operations of a history that was already checked, for its report and `run`'s
/// figures: compactly when that reader takes the file (faultline's JSON lines), otherwise
/// streamed and paired in full (a history without processes is paired as one anonymous
/// thread, as the workload checkers do) — both within `memory_limit`.
pub fn read_ops(file: &str, format: checkers::history::Format, memory_limit: usize) -> Read {
    match read_compact(
        file,
        Some(format),
        memory_limit,
        Some(crate::alloc::in_use),
        0,
    ) {
        Some(CompactRead::Read { history, .. }) => return Read::Ops(Source::Compact(history)),
        Some(CompactRead::OutOfMemory { .. }) => return Read::TooBig,
        None => {}
    }
    let budget = ReadBudget {
        memory_limit,
        memory_in_use: Some(crate::alloc::in_use),
    };
    let paired = read_paired(file, Some(format), false, budget)
        .or_else(|_| read_paired(file, Some(format), true, budget));
    match paired {
        Ok(Paired::Read { ops, .. }) => Read::Ops(Source::All(ops)),
        Ok(Paired::OutOfMemory { .. }) => Read::TooBig,
        Err(_) => Read::Unreadable,
    }
}

/// A stand-in record at the history's last time, so that a fault window still open at the end
/// closes there (as [`checkers::perf::fault_windows`] closes it at the last operation).
fn end_marker(ops: &Source) -> Option<Operation> {
    let end = ops
        .views()
        .filter_map(|o| o.complete_time.or(o.invoke_time))
        .max()?;
    let mut marker = ops.get(0)?.into_owned();
    marker.client = false;
    marker.f = None;
    marker.invoke_time = Some(end);
    marker.complete_time = Some(end);
    Some(marker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::history::{pair, pair_anonymous, read_history};
    use checkers::{registry, CheckOptions, CheckerKind};

    /// Both ways of reading a history for its report: in full, and compactly.
    fn both(file: &str) -> (Source, Source) {
        let all = {
            let bytes = std::fs::read(file).unwrap();
            let h = read_history(file, &bytes, None).unwrap();
            Source::All(pair(&h).or_else(|_| pair_anonymous(&h)).unwrap())
        };
        let compact = match read_compact(file, None, 1 << 30, None, 0) {
            Some(CompactRead::Read { history, .. }) => Source::Compact(history),
            _ => panic!("{file}: the compact reader does not take it"),
        };
        (all, compact)
    }

    fn checked(file: &str, kind: CheckerKind, name: &str) -> checkers::Report {
        let checker = registry::find(kind, name).unwrap();
        match crate::check::check_file(file, checker, None, &CheckOptions::default()) {
            FileOutcome::Checked { report, .. } => *report,
            FileOutcome::BadInput(e) => panic!("{file}: {e}"),
        }
    }

    /// Guards the compact report path: a history read compactly draws the very page data,
    /// plots and availability figures that reading it in full draws — nemesis records
    /// (lone and paired, windows open at the end) and the evidence's marks included.
    #[test]
    fn a_compactly_read_history_gets_the_same_report_as_one_read_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("paired-nemesis.jsonl");
        std::fs::write(
            &extra,
            r#"{"time":0,"process":0,"type":"invoke","f":"write","value":1}
{"time":10,"process":"nemesis","type":"invoke","f":"start-partition","value":"halves"}
{"time":20,"process":0,"type":"ok","f":"write","value":1}
{"time":30,"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n2"]}}
{"time":40,"process":1,"type":"invoke","f":"read","value":null}
{"time":50,"process":1,"type":"ok","f":"read","value":2}
{"time":60,"process":"nemesis","type":"info","f":"kill","value":"n3"}
"#,
        )
        .unwrap();
        let extra = extra.to_string_lossy().into_owned();
        let fixture = |name: &str| format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let cases = [
            (
                fixture("cas-register-nemesis-valid.jsonl"),
                CheckerKind::Model,
                "cas-register",
            ),
            (
                fixture("register-stale-read.jsonl"),
                CheckerKind::Model,
                "register",
            ),
            (
                fixture("jepsen-total-queue-lost.jsonl"),
                CheckerKind::Workload,
                "total-queue",
            ),
            (extra, CheckerKind::Model, "register"),
        ];
        for (file, kind, name) in &cases {
            let report = checked(file, *kind, name);
            let (all, compact) = both(file);
            assert_eq!(all.len(), compact.len(), "{file}");
            assert_eq!(
                timeline::data(file, &all, &report),
                timeline::data(file, &compact, &report),
                "{file}: page data"
            );
            let ends = |s: &Source| -> Vec<Operation> {
                (0..s.len())
                    .filter(|&i| !s.view(i).client)
                    .filter_map(|i| s.get(i).map(std::borrow::Cow::into_owned))
                    .chain(end_marker(s))
                    .collect()
            };
            let (wa, wc) = (
                checkers::perf::fault_windows(&ends(&all)),
                checkers::perf::fault_windows(&ends(&compact)),
            );
            assert_eq!(wa, wc, "{file}: fault windows");
            assert_eq!(
                plots::render(&all, &wa).unwrap(),
                plots::render(&compact, &wc).unwrap(),
                "{file}: plots"
            );
            let (Source::All(ops), Source::Compact(h)) = (&all, &compact) else {
                unreachable!()
            };
            assert_eq!(
                checkers::perf::summarize(ops),
                checkers::perf::summarize_compact(h),
                "{file}: availability and latency"
            );
        }
        let stale = checked(&cases[1].0, CheckerKind::Model, "register");
        let data = timeline::data(&cases[1].0, &both(&cases[1].0).1, &stale);
        assert!(
            !data.meta["minimal"].as_array().unwrap().is_empty(),
            "the stale read's operations are marked"
        );
    }
}
