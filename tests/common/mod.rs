//! Helpers shared by the table-driven tests (`anchors.rs`, `fixtures.rs`): reading an
//! `expected.tsv`, splitting its shell-like `args`, running `faultline check` on each row and
//! comparing exit codes.

#![allow(dead_code)]

pub mod bounded;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One row of an `expected.tsv`.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line in the TSV.
    pub line: usize,
    /// History file, relative to the TSV's directory.
    pub file: String,
    /// The raw `args` column.
    pub args_text: String,
    /// `args`, split like a shell would (single and double quotes).
    pub args: Vec<String>,
    /// `valid`, `invalid`, `unknown` or `error`.
    pub expected: String,
}

/// The path of the built `faultline` binary.
pub fn faultline() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

/// Reads a TSV with a header naming at least `file`, `args` and `expected`.
pub fn read_tsv(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().expect("a header line");
    let columns: Vec<&str> = header.split('\t').collect();
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("{}: no column {name:?}", path.display()))
    };
    let (file, args, expected) = (col("file"), col("args"), col("expected"));
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let cell = |k: usize| cells.get(k).copied().unwrap_or("").to_string();
        let args_text = cell(args);
        let split = shlex::split(&args_text).unwrap_or_else(|| {
            panic!(
                "{}:{}: cannot split args {args_text:?}",
                path.display(),
                i + 1
            )
        });
        rows.push(Row {
            line: i + 1,
            file: cell(file),
            args_text,
            args: split,
            expected: cell(expected),
        });
    }
    rows
}

/// The exit code an `expected` verdict stands for.
pub fn expected_code(expected: &str) -> Option<i32> {
    Some(match expected {
        "valid" => 0,
        "invalid" => 1,
        "unknown" => 2,
        "error" => 254,
        _ => return None,
    })
}

/// The outcome of running one row.
#[derive(Debug)]
pub struct Run {
    /// The exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// The first line of standard error, for reports.
    pub stderr_head: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Runs `faultline check ARGS FILE` in `dir`.
pub fn run_row(dir: &Path, row: &Row) -> Run {
    let started = std::time::Instant::now();
    let output = Command::new(faultline())
        .current_dir(dir)
        .arg("check")
        .args(&row.args)
        .arg(&row.file)
        .output()
        .expect("faultline runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    Run {
        code: output.status.code(),
        stderr_head: stderr.lines().next().unwrap_or("").to_string(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs every row, prints `NAME: N rows, M mismatches` and the mismatches, and panics when
/// there is any.
pub fn check_table(name: &str, dir: &Path, rows: &[Row]) {
    let mut mismatches = Vec::new();
    let mut slowest = (0.0, String::new());
    for row in rows {
        let want = expected_code(&row.expected)
            .unwrap_or_else(|| panic!("line {}: unknown expected {:?}", row.line, row.expected));
        let run = run_row(dir, row);
        if run.seconds > slowest.0 {
            slowest = (run.seconds, row.file.clone());
        }
        if run.code != Some(want) {
            mismatches.push(format!(
                "  line {}: {} {} — expected {} (exit {want}), got exit {} {}",
                row.line,
                row.file,
                row.args_text,
                row.expected,
                run.code
                    .map_or_else(|| "none (signal)".to_string(), |c| c.to_string()),
                run.stderr_head
            ));
        }
    }
    // Written to the stderr handle directly (not with `eprintln!`), so the summary shows even
    // when the test harness captures output.
    let mut report = format!(
        "{name}: {} rows, {} mismatches (slowest: {} in {:.1} s)\n",
        rows.len(),
        mismatches.len(),
        slowest.1,
        slowest.0
    );
    for m in &mismatches {
        report.push_str(m);
        report.push('\n');
    }
    let _ = std::io::stderr().write_all(report.as_bytes());
    assert!(
        mismatches.is_empty(),
        "{name}: {} of {} rows disagree:\n{}",
        mismatches.len(),
        rows.len(),
        mismatches.join("\n")
    );
}
