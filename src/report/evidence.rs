//! What a verdict's evidence points at, for report.html: the operations of a linearizability
//! counterexample (minimal sub-history, stuck operation, longest partial linearizations) or
//! those a workload checker's details name, and Elle's cycles with their labelled edges. Part
//! of the "report" step; [`super::timeline`] turns it into the page's data.

use checkers::{CheckerKind, Report};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Longest text kept of an operation's value or result.
const MAX_VALUE: usize = 160;

/// The operations the evidence points at, as indexes into the paired operations.
#[derive(Default)]
pub struct Marks {
    /// The minimal failing sub-history.
    pub minimal: Vec<usize>,
    /// The operation that could not be linearized.
    pub stuck: Option<usize>,
    /// The longest partial linearizations, as `[index, state after]` steps.
    pub longest: Vec<Vec<Value>>,
    /// Operations a workload checker's details name.
    pub other: Vec<usize>,
}

/// The marks, verdict word, checker name, explanation lines and cycles of the evidence.
pub fn evidence_parts(
    report: &Report,
    by_line: &super::source::Lines<'_>,
) -> (Marks, &'static str, String, Vec<String>, Vec<Value>) {
    let mut marks = Marks::default();
    match report.kind {
        CheckerKind::Model => {
            let mut explanation = Vec::new();
            if let Some(c) = &report.counterexample {
                let find = |line: usize| by_line.find(line);
                marks.minimal = c
                    .minimal
                    .iter()
                    .filter_map(|o| find(o.invoke_line))
                    .collect();
                marks.stuck = find(c.stuck.invoke_line);
                marks.longest = c
                    .longest
                    .iter()
                    .map(|l| {
                        l.iter()
                            .filter_map(|s| {
                                find(s.op.invoke_line).map(|i| json!([i, short(&s.state)]))
                            })
                            .collect()
                    })
                    .collect();
                explanation.push(format!(
                    "operation at line {} ({} {}) cannot be linearized after the longest partial \
                     linearization; model state then: {}",
                    c.stuck.invoke_line,
                    c.stuck.f,
                    short(&c.stuck.value),
                    short(&c.state_before_stuck)
                ));
                if let Some(key) = &c.key {
                    explanation.push(format!("key: {}", short(key)));
                }
                explanation.push(format!(
                    "minimal failing sub-history: {} operations{}",
                    c.minimal.len(),
                    if c.minimal_complete {
                        ""
                    } else {
                        " (shrinking ran out of time; may not be minimal)"
                    }
                ));
            }
            if let Some(reason) = &report.unknown_reason {
                explanation.push(format!("unknown: {reason}"));
            }
            (
                marks,
                verdict_word(report.valid),
                report.checker.to_string(),
                explanation,
                Vec::new(),
            )
        }
        CheckerKind::Workload => {
            let mut lines = BTreeSet::new();
            let mut cycles = Vec::new();
            walk(&report.details, &mut lines, &mut cycles);
            let named: BTreeSet<usize> = lines.iter().filter_map(|&l| by_line.find(l)).collect();
            marks.other = named.into_iter().collect();
            let mut explanation = report.explanation.clone();
            if let Some(reason) = &report.unknown_reason {
                explanation.push(format!("unknown: {reason}"));
            }
            (
                marks,
                verdict_word(report.valid),
                report.checker.to_string(),
                explanation,
                cycles,
            )
        }
    }
}

/// Collects the lines named in a workload report's details (`line`, `invoke_line`,
/// `known_line`, … — any `*_line` field), and every cycle (`{"cycle": [{op, edge}, …]}`) with its edges.
fn walk(value: &Value, lines: &mut BTreeSet<usize>, cycles: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "line" || key.ends_with("_line") {
                    if let Some(line) = v.as_u64() {
                        lines.insert(line as usize);
                    }
                }
            }
            if let Some(Value::Array(steps)) = map.get("cycle") {
                if cycles.len() < 20 {
                    cycles.push(json!({
                        "steps": steps.iter().map(|s| json!({
                            "line": s.pointer("/op/invoke_line"),
                            "process": s.pointer("/op/process"),
                            "value": s.pointer("/op/value").map(short),
                            "kind": s.pointer("/edge/kind"),
                            "key": key_as_written(s),
                            "why": s.pointer("/edge/why"),
                        })).collect::<Vec<_>>(),
                        "explanation": map.get("explanation"),
                    }));
                }
            }
            map.values().for_each(|v| walk(v, lines, cycles));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, lines, cycles)),
        _ => {}
    }
}

/// A cycle step's edge key as the history wrote it. The checker names keys as text (`"2"` for
/// the integer 2), so the key of the step's own micro-operations (`[f, key, value]`) that
/// reads the same is taken instead: the integer 2 is drawn `2`, the string "2" is `"2"`. The
/// checker's text when no micro-operation matches.
fn key_as_written(step: &Value) -> Option<Value> {
    let key = step.pointer("/edge/key")?;
    let Some(text) = key.as_str() else {
        return Some(key.clone());
    };
    let written = step
        .pointer("/op/value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get(1))
        .find(|k| match k {
            Value::String(s) => s == text,
            Value::Number(n) => n.to_string() == text,
            _ => false,
        });
    Some(written.unwrap_or(key).clone())
}

/// `valid`, `invalid` or `unknown`.
fn verdict_word(v: checkers::Validity) -> &'static str {
    match v {
        checkers::Validity::Valid => "valid",
        checkers::Validity::Invalid => "invalid",
        checkers::Validity::Unknown => "unknown",
    }
}

/// Compact JSON text of a value, cut to [`MAX_VALUE`] characters.
pub fn short(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_VALUE {
        let cut: String = text.chars().take(MAX_VALUE).collect();
        format!("{cut}…")
    } else {
        text
    }
}
