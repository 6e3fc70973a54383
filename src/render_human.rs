//! The readable report of `check --format human` (the default).
//!
//! One verdict line per file; for an invalid history it goes on to explain why, the way a
//! person would check it against the file: the operation that could not be linearized, the
//! state the model was in, the longest partial linearizations, and the minimal failing
//! sub-history with the rule used to obtain it. Colors are used only when standard output is a
//! terminal (and `NO_COLOR` is not set).

use checkers::{CheckerKind, Counterexample, OpView, Report, Step, Validity};
use serde_json::Value;
use std::fmt::Write as _;

/// How many steps of each longest partial linearization are shown (the last ones).
const TAIL: usize = 10;
/// How many steps of the other longest partial linearizations are shown.
const TAIL_ALT: usize = 5;
/// Widest a value may be in a table cell before it is cut.
const CELL: usize = 40;

/// Text styling: ANSI colors, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Emit ANSI escape sequences.
    pub color: bool,
}

impl Style {
    /// Colors when standard output is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: std::io::stdout().is_terminal() && !no_color,
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// Renders the report of one file: the verdict line and the evidence — for a model, the
/// counterexample of an invalid history; for a workload checker, the anomalies found (on the
/// verdict line) and its explanation, indented. Ends with a newline.
pub fn render(file: &str, report: &Report, style: Style) -> String {
    let mut out = String::new();
    let ops = format!("{} op{}", report.stats.ops, plural(report.stats.ops));
    let stats = match report.kind {
        CheckerKind::Model => format!(
            "({}, {ops}, {} key{}{}, {})",
            report.checker,
            report.stats.partitions,
            plural(report.stats.partitions),
            if report.stats.tuples {
                " of Jepsen's independent [key value] tuples"
            } else {
                ""
            },
            duration(report.stats.millis)
        ),
        CheckerKind::Workload => format!(
            "({}, {ops}, {})",
            report.checker,
            duration(report.stats.millis)
        ),
    };
    let verdict = match report.valid {
        Validity::Valid => style.paint("1;32", "valid"),
        Validity::Invalid if report.kind == CheckerKind::Model => {
            format!("{} — not linearizable", style.paint("1;31", "INVALID"))
        }
        Validity::Invalid if report.anomalies.is_empty() => style.paint("1;31", "INVALID"),
        Validity::Invalid => format!(
            "{} — {}",
            style.paint("1;31", "INVALID"),
            report.anomalies.join(", ")
        ),
        Validity::Unknown => format!(
            "{} — {}",
            style.paint("1;33", "UNKNOWN"),
            report
                .unknown_reason
                .as_deref()
                .unwrap_or("the checker could not decide")
        ),
    };
    let _ = writeln!(out, "{file}: {verdict} {}", style.dim(&stats));
    if let Some(cex) = &report.counterexample {
        counterexample(&mut out, cex, style);
    }
    if !report.explanation.is_empty() {
        let _ = writeln!(out);
        for line in &report.explanation {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

fn counterexample(out: &mut String, cex: &Counterexample, style: Style) {
    let _ = writeln!(out);
    if let Some(key) = &cex.key {
        let _ = writeln!(out, "  {} {}", style.bold("key:"), compact(key));
    }
    why(out, cex, style);
    let stuck = &cex.stuck;
    let _ = writeln!(
        out,
        "  {} process {}: {}",
        style.bold("could not linearize:"),
        stuck.process,
        describe(stuck)
    );
    let _ = writeln!(out, "      {}", whereabouts(stuck));
    let done = cex.longest.first().map_or(0, Vec::len);
    let _ = writeln!(
        out,
        "  {} {}",
        style.bold("the model's state at that point:"),
        compact(&cex.state_before_stuck)
    );
    let _ = writeln!(
        out,
        "      {}",
        style.dim(&format!(
            "(after the longest partial linearization, {done} operation{}; no remaining operation can be applied next)",
            plural(done)
        ))
    );

    let _ = writeln!(out);
    if cex.longest.is_empty() || done == 0 {
        let _ = writeln!(
            out,
            "  {} none: no operation can be linearized first, from the initial state {}.",
            style.bold("longest partial linearization:"),
            compact(&cex.state_before_stuck)
        );
    } else {
        let n = cex.longest.len();
        for (k, path) in cex.longest.iter().enumerate() {
            let title = if n == 1 {
                "longest partial linearization".to_string()
            } else {
                format!("longest partial linearization {} of {n}", k + 1)
            };
            let shown = path.len().min(if k == 0 { TAIL } else { TAIL_ALT });
            let extent = if shown < path.len() {
                format!(
                    "({} operations; the last {shown} shown, all of them in --format json):",
                    path.len()
                )
            } else {
                format!("({} operation{}):", path.len(), plural(path.len()))
            };
            let _ = writeln!(out, "  {} {}", style.bold(&title), extent);
            out.push_str(&steps_table(path, path.len() - shown));
            let _ = writeln!(out);
        }
    }

    minimal(out, cex, style);
}

/// Most rows (operations or summarised runs) the "why" block shows above the operation that
/// cannot be linearized: with the verdict line, the blank line, the key and the block's title,
/// at most ten lines come before the first summary line.
const WHY_LINES: usize = 5;

/// One row of the "why" block: an operation shown, or a run of them summarised.
enum WhyItem<'a> {
    Op(&'a Step, bool),
    /// The steps, and the state before them (`None`: the initial state).
    Run(Vec<&'a Step>, Option<Value>),
}

/// The few operations that make the violation visible, first: the minimal sub-history's own
/// longest partial linearization (its core operations, and the indeterminate operations
/// that explain what they saw) followed by the operation that cannot come next. Long runs of
/// indeterminate operations become one summary line each, after the operations. Says up
/// front whether the sub-history is proven minimal.
fn why(out: &mut String, cex: &Counterexample, style: Style) {
    let Some(stuck) = &cex.minimal_stuck else {
        if !cex.minimal.is_empty() && !cex.minimal_complete {
            let _ = writeln!(
                out,
                "  {} {}\n",
                style.bold("why:"),
                style.paint(
                    "33",
                    &format!(
                        "the failing sub-history below ({} operations) is NOT PROVEN MINIMAL: shrinking stopped at its budget",
                        cex.minimal.len()
                    )
                )
            );
        }
        return;
    };
    let core: std::collections::HashSet<usize> = cex.minimal.iter().map(|o| o.id).collect();
    let mut items: Vec<WhyItem> = Vec::new();
    let mut run: Vec<&Step> = Vec::new();
    let mut before: Option<Value> = None;
    let mut state_before_run = before.clone();
    for step in &cex.minimal_path {
        if core.contains(&step.op.id) {
            push_run(&mut items, &mut run, &state_before_run);
            items.push(WhyItem::Op(step, true));
            state_before_run = Some(step.state.clone());
        } else {
            if run.is_empty() {
                state_before_run = before.clone();
            }
            run.push(step);
        }
        before = Some(step.state.clone());
    }
    push_run(&mut items, &mut run, &state_before_run);
    // Too many lines: the earliest ones become one summary.
    if items.len() > WHY_LINES {
        let mut folded: Vec<&Step> = Vec::new();
        for item in items.drain(..=items.len() - WHY_LINES) {
            match item {
                WhyItem::Op(s, _) => folded.push(s),
                WhyItem::Run(r, _) => folded.extend(r),
            }
        }
        items.insert(0, WhyItem::Run(folded, None));
    }
    let minimality = if cex.minimal_complete {
        "minimal: weakening any one of its".to_string()
            + &format!(
                " {} core operation{} makes it linearizable",
                cex.minimal.len(),
                plural(cex.minimal.len())
            )
    } else {
        "NOT PROVEN MINIMAL: shrinking stopped at its budget; it fails, but may be smaller"
            .to_string()
    };
    let _ = writeln!(
        out,
        "  {} {}",
        style.bold("why:"),
        if cex.minimal_complete {
            minimality
        } else {
            style.paint("33", &minimality)
        }
    );
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut summaries: Vec<String> = Vec::new();
    for item in &items {
        match item {
            WhyItem::Op(step, is_core) => rows.push(vec![
                format!("line {}", lines(&step.op)),
                format!("process {}", step.op.process),
                cell(&describe(&step.op)),
                format!("state {}", cell(&compact(&step.state))),
                if *is_core {
                    String::new()
                } else {
                    "(indeterminate: may take effect here)".into()
                },
            ]),
            WhyItem::Run(steps, from) => {
                let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
                    continue;
                };
                let lo = steps.iter().map(|s| s.op.invoke_line).min().unwrap_or(0);
                let hi = steps
                    .iter()
                    .map(|s| s.op.complete_line.unwrap_or(s.op.invoke_line))
                    .max()
                    .unwrap_or(0);
                let f = &first.op.f;
                let what = if steps.iter().all(|s| &s.op.f == f) {
                    format!("{} {f} operation{}", steps.len(), plural(steps.len()))
                } else {
                    format!("{} operations", steps.len())
                };
                let indeterminate = steps.iter().all(|s| !core.contains(&s.op.id));
                summaries.push(format!(
                    "{} was reached from {} by {what}, lines {lo}–{hi}{}.",
                    compact(&last.state),
                    from.as_ref()
                        .map_or_else(|| "the initial state".to_string(), compact),
                    if indeterminate {
                        " (indeterminate here: each may take effect any time after its invocation, or never)"
                    } else {
                        ""
                    }
                ));
                rows.push(vec![
                    format!("lines {lo}–{hi}"),
                    String::new(),
                    format!("({what}, summarised below)"),
                    format!("state {}", cell(&compact(&last.state))),
                    String::new(),
                ]);
            }
        }
    }
    let end_state = cex
        .minimal_path
        .last()
        .map_or_else(|| "the initial state".to_string(), |s| compact(&s.state));
    rows.push(vec![
        format!("line {}", lines(stuck)),
        format!("process {}", stuck.process),
        cell(&describe(stuck)),
        String::new(),
        format!("cannot be linearized: the state is {end_state}"),
    ]);
    let body = table(&["", "", "", "", ""], rows, "    ");
    // The table's header row is blank: drop it.
    for line in body.lines().skip(1) {
        let _ = writeln!(out, "{line}");
    }
    for s in summaries {
        for (k, line) in wrap(&s, 90).into_iter().enumerate() {
            let _ = writeln!(out, "  {}{line}", if k == 0 { "" } else { "  " });
        }
    }
    let _ = writeln!(out);
}

/// Ends a run of indeterminate operations in the "why" block: one or two are shown as they
/// are, more become one summary line (the last one still shown).
fn push_run<'a>(items: &mut Vec<WhyItem<'a>>, run: &mut Vec<&'a Step>, from: &Option<Value>) {
    if run.len() <= 2 {
        items.extend(run.drain(..).map(|s| WhyItem::Op(s, false)));
        return;
    }
    let last = run.pop().expect("a run of three or more");
    items.push(WhyItem::Run(std::mem::take(run), from.clone()));
    items.push(WhyItem::Op(last, false));
}

fn steps_table(path: &[Step], skip: usize) -> String {
    let rows = path
        .iter()
        .enumerate()
        .skip(skip)
        .map(|(i, s)| {
            vec![
                (i + 1).to_string(),
                s.op.process.clone(),
                s.op.f.clone(),
                cell(&arg(&s.op.value)),
                cell(&result(&s.op)),
                lines(&s.op),
                cell(&compact(&s.state)),
            ]
        })
        .collect();
    table(
        &[
            "#",
            "process",
            "f",
            "value",
            "result",
            "lines",
            "state after",
        ],
        rows,
        "    ",
    )
}

fn minimal(out: &mut String, cex: &Counterexample, style: Style) {
    if cex.minimal.is_empty() {
        let _ = writeln!(
            out,
            "  {} not computed (shrinking was turned off with --no-shrink, or found nothing within its budget).",
            style.bold("minimal failing sub-history:")
        );
        return;
    }
    let k = cex.minimal.len();
    let _ = writeln!(
        out,
        "  {} ({k} operation{}):",
        style.bold("minimal failing sub-history"),
        plural(k)
    );
    let timed = cex.minimal.iter().any(|op| op.start.is_some());
    let rows = cex
        .minimal
        .iter()
        .map(|op| {
            let mut row = vec![
                op.process.clone(),
                op.f.clone(),
                cell(&arg(&op.value)),
                cell(&result(op)),
                lines(op),
            ];
            if timed {
                row.push(times(op));
            }
            row
        })
        .collect();
    let headers: &[&str] = if timed {
        &["process", "f", "value", "result", "lines", "time"]
    } else {
        &["process", "f", "value", "result", "lines"]
    };
    out.push_str(&table(headers, rows, "    "));
    let scope = if cex.key.is_some() {
        "of this key"
    } else {
        "of the history"
    };
    let others = cex.minimal_weakened;
    // The shrunk history ends at this line: operations invoked later are left out.
    let cut_line = cex.minimal_cut_line;
    let these = if k == 1 {
        "this operation".to_string()
    } else {
        format!("these {k} operations")
    };
    let sentence = if others > 0 {
        format!(
            "With the {others} other state-changing operation{} {scope}{} treated as \
             indeterminate (may have happened at any time after invocation, or never), {these} \
             cannot be linearized. Other reads{} are left out.",
            plural(others),
            cut_line
                .map(|l| format!(" invoked before line {l}"))
                .unwrap_or_default(),
            if cut_line.is_some() {
                ", and operations invoked later,"
            } else {
                ""
            }
        )
    } else {
        format!(
            "{} cannot be linearized on {}: the other operations {scope} only read{}, and are \
             left out.",
            capitalize(&these),
            if k == 1 { "its own" } else { "their own" },
            cut_line
                .map(|l| format!(" or were invoked after line {l}"))
                .unwrap_or_default()
        )
    };
    for line in wrap(&sentence, 90) {
        let _ = writeln!(out, "    {line}");
    }
    if !cex.minimal_complete {
        let _ = writeln!(
            out,
            "    {}",
            style.paint(
                "33",
                "Shrinking was cut short (its --shrink-time budget ran out, or a trial was too large to decide): this sub-history fails, but may not be minimal."
            )
        );
    }
}

/// Where an operation is in the file: its lines and, if recorded, its times.
fn whereabouts(op: &OpView) -> String {
    let mut text = match op.complete_line {
        Some(c) if c != op.invoke_line => {
            format!(
                "invoked on line {}, completed ({}) on line {c}",
                op.invoke_line, op.outcome
            )
        }
        Some(_) => format!(
            "invoked and completed ({}) on line {}",
            op.outcome, op.invoke_line
        ),
        None => format!("invoked on line {}, never completed", op.invoke_line),
    };
    let t = times(op);
    if !t.is_empty() {
        let _ = write!(text, "; time {t}");
    }
    text
}

/// `f value → result` for one operation (`f → result` when it has no argument).
fn describe(op: &OpView) -> String {
    let value = arg(&op.value);
    if value.is_empty() {
        format!("{} → {}", op.f, result(op))
    } else {
        format!("{} {value} → {}", op.f, result(op))
    }
}

/// The argument of an operation; blank when it has none.
fn arg(v: &Value) -> String {
    if v.is_null() {
        String::new()
    } else {
        compact(v)
    }
}

/// Operations whose completion value the models ignore (only reads observe).
const UNOBSERVED: &[&str] = &[
    "write",
    "put",
    "append",
    "add",
    "increment",
    "enqueue",
    "cas",
    "acquire",
    "release",
];

/// The result column: what an `ok` read observed, `ok` for an `ok` operation whose result the
/// models ignore, else the outcome.
fn result(op: &OpView) -> String {
    match &op.result {
        Some(_) if UNOBSERVED.contains(&op.f.as_str()) => "ok".into(),
        Some(v) => compact(v),
        None if op.outcome == "info" => "? (indeterminate)".into(),
        None => op.outcome.clone(),
    }
}

/// `12–15`, `12` or `12–` (never completed).
fn lines(op: &OpView) -> String {
    match op.complete_line {
        Some(c) if c != op.invoke_line => format!("{}–{c}", op.invoke_line),
        Some(_) => op.invoke_line.to_string(),
        None => format!("{}–", op.invoke_line),
    }
}

/// `1.20 ms – 1.90 ms`, or empty when the file has no times.
fn times(op: &OpView) -> String {
    match (op.start, op.end) {
        (Some(s), Some(e)) => format!("{} – {}", nanos(s), nanos(e)),
        (Some(s), None) => format!("{} –", nanos(s)),
        _ => String::new(),
    }
}

/// A time in nanoseconds since the start of the test, in a readable unit.
fn nanos(ns: i64) -> String {
    let a = ns.unsigned_abs() as f64;
    let (v, unit) = if a < 1e3 {
        (ns as f64, "ns")
    } else if a < 1e6 {
        (ns as f64 / 1e3, "µs")
    } else if a < 1e9 {
        (ns as f64 / 1e6, "ms")
    } else {
        (ns as f64 / 1e9, "s")
    };
    if unit == "ns" {
        format!("{ns} ns")
    } else {
        format!("{v:.3} {unit}")
    }
}

/// Wall-clock milliseconds, readably.
fn duration(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The text with its first letter in upper case.
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Compact JSON.
fn compact(v: &Value) -> String {
    v.to_string()
}

/// A table cell: cut to [`CELL`] characters.
fn cell(text: &str) -> String {
    if text.chars().count() > CELL {
        let cut: String = text.chars().take(CELL - 1).collect();
        format!("{cut}…")
    } else {
        text.to_string()
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn table(headers: &[&str], rows: Vec<Vec<String>>, indent: &str) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(c));
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::from(indent);
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(c);
            } else {
                text.push_str(c);
                text.push_str(&" ".repeat(widths[i] - width(c) + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// Greedy word wrap.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(
            &["a", "bb"],
            vec![vec!["xxx".into(), "y".into()], vec!["z".into(), "".into()]],
            "",
        );
        assert_eq!(t, "a    bb\nxxx  y\nz\n");
    }

    #[test]
    fn units() {
        assert_eq!(nanos(999), "999 ns");
        assert_eq!(nanos(1_500), "1.500 µs");
        assert_eq!(nanos(2_000_000_000), "2.000 s");
        assert_eq!(duration(0.44), "0.4 ms");
        assert_eq!(duration(1500.0), "1.5 s");
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
    }
}
