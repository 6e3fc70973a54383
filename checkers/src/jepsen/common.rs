//! Helpers shared by Jepsen's workload checkers (counter, set, set-full, bank, long-fork,
//! unique-ids): choosing the client operations, checking their `f`, naming operations by file
//! line in explanations, a total order on JSON values (so elements and ids can be sets and map
//! keys, listed in a stable order), capped lists, and assembling the [`Report`].

use crate::budget::{Budget, StopReason};
use crate::history::Operation;
use crate::verdict::{CheckerKind, Report, Stats, Validity};
use crate::InputError;
use serde_json::Value;
use std::cmp::Ordering;

/// How many elements a list in `details` holds at most (the matching `…_count` field has the
/// full number).
pub const LIST_CAP: usize = 100;

/// How many individual findings the explanation spells out before summarizing the rest.
pub const EXPLAIN_CAP: usize = 10;

/// The client operations of a history (nemesis and other non-client records are never
/// checked), each with its `f` checked against the ones this workload knows.
///
/// Errors name the line of an operation without `f` or with an `f` the workload does not use.
pub fn client_ops<'a>(
    file: &str,
    ops: &'a [Operation],
    workload: &str,
    allowed: &[&str],
) -> Result<Vec<(&'a Operation, &'a str)>, InputError> {
    let mut out = Vec::new();
    for op in ops.iter().filter(|o| o.client) {
        let expected = || {
            allowed
                .iter()
                .map(|f| format!(":{f}"))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let Some(f) = op.f.as_deref() else {
            return Err(InputError::new(
                file,
                op.invoke_line,
                format!(
                    "expected an :f ({}) on every {workload} operation; this one has none",
                    expected()
                ),
            ));
        };
        if !allowed.contains(&f) {
            return Err(InputError::new(
                file,
                op.invoke_line,
                format!(
                    "expected {} in a {workload} history, found :{f} (wrong --workload?)",
                    expected()
                ),
            ));
        }
        out.push((op, f));
    }
    Ok(out)
}

/// Where an operation is in the file, for explanations: `lines 4–5 (process 1)`, `line 4
/// (process 1, never completed)`.
pub fn whereabouts(op: &Operation) -> String {
    let who = match &op.process {
        Some(p) => format!(" (process {p})"),
        None => String::new(),
    };
    match op.complete_line {
        Some(done) if done != op.invoke_line => {
            format!("lines {}–{}{who}", op.invoke_line, done)
        }
        Some(_) => format!("line {}{who}", op.invoke_line),
        None => match &op.process {
            Some(p) => format!("line {} (process {p}, never completed)", op.invoke_line),
            None => format!("line {} (never completed)", op.invoke_line),
        },
    }
}

/// The line a person should look at for an operation's result: its completion, else its
/// invocation.
pub fn result_line(op: &Operation) -> usize {
    op.complete_line.unwrap_or(op.invoke_line)
}

/// An operation's argument: the invocation's value, or the completion's when the invocation
/// has none (Jepsen histories sometimes record the value only on completion).
pub fn argument(op: &Operation) -> &Value {
    if op.input.is_null() {
        &op.output
    } else {
        &op.input
    }
}

/// A JSON value in compact form for explanations (`3`, `"a"`, `[0,1]`).
pub fn show(v: &Value) -> String {
    v.to_string()
}

/// A JSON value with a total order and a matching equality, so elements, ids and keys can live
/// in ordered sets and maps: null < booleans < numbers < strings < arrays < objects; numbers
/// by value (`1` equals `1.0`), strings, arrays and objects lexicographically.
#[derive(Debug, Clone)]
pub struct Elem(pub Value);

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// The total order behind [`Elem`].
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i.cmp(&j),
                _ => {
                    let (f, g) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                    f.total_cmp(&g)
                }
            },
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = compare(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for ((kp, vp), (kq, vq)) in xs.iter().zip(&ys) {
                let o = kp.cmp(kq).then_with(|| compare(vp, vq));
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

impl PartialEq for Elem {
    fn eq(&self, other: &Self) -> bool {
        compare(&self.0, &other.0) == Ordering::Equal
    }
}

impl Eq for Elem {}

impl PartialOrd for Elem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Elem {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0)
    }
}

/// The first [`LIST_CAP`] values, as a JSON array.
pub fn capped<'a>(values: impl IntoIterator<Item = &'a Value>) -> Value {
    Value::Array(values.into_iter().take(LIST_CAP).cloned().collect())
}

/// Up to `cap` values in compact form, joined by commas, with `…` when there are more.
pub fn sample<'a>(values: impl IntoIterator<Item = &'a Value>, total: usize, cap: usize) -> String {
    let shown: Vec<String> = values.into_iter().take(cap).map(show).collect();
    let more = if total > shown.len() { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// An integer from a JSON value (integral floats such as `3.0` included), else `None`.
pub fn integer(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i128)
            }),
        _ => None,
    }
}

/// Appends one explanation line per item (at most [`EXPLAIN_CAP`]), then, if some were left
/// out, a line saying how many more there are and which `details` field lists them all.
pub fn push_capped<T>(
    explanation: &mut Vec<String>,
    items: impl ExactSizeIterator<Item = T>,
    field: &str,
    describe: impl Fn(T) -> String,
) {
    let total = items.len();
    push_capped_of(explanation, items, total, field, describe);
}

/// As [`push_capped`] for a checker that keeps only the first few of `total` items (so that
/// its memory does not grow with the number of anomalies it counts).
pub fn push_capped_of<T>(
    explanation: &mut Vec<String>,
    items: impl Iterator<Item = T>,
    total: usize,
    field: &str,
    describe: impl Fn(T) -> String,
) {
    explanation.extend(items.take(EXPLAIN_CAP).map(describe));
    if total > EXPLAIN_CAP {
        explanation.push(format!("… and {} more ({field})", total - EXPLAIN_CAP));
    }
}

/// `n` things: `1 read`, `2 reads`.
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `n` things with a verb agreeing: `1 read breaks`, `2 reads break` (`verb` is the plural
/// form; the singular adds an `s`).
pub fn count_verb(n: usize, what: &str, verb: &str) -> String {
    if n == 1 {
        format!("1 {what} {verb}s")
    } else {
        format!("{n} {what}s {verb}")
    }
}

/// Why `budget` is spent, worded for an `unknown` reason (`time limit of 3 s reached`), if
/// it is.
pub fn spent(budget: &Budget) -> Option<String> {
    budget.exceeded().map(|e| budget.describe(e))
}

/// Assembles a report: sorts and dedups the anomaly names; `valid` is taken as given.
pub fn report(
    workload: &'static str,
    ops: &[Operation],
    budget: &Budget,
    valid: Validity,
    anomalies: Vec<String>,
    explanation: Vec<String>,
    details: Value,
) -> Report {
    let clients = ops.iter().filter(|o| o.client).count();
    report_of(
        workload,
        clients,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    )
}

/// [`report`] for a history of `clients` client operations (a compact history's).
pub fn report_of(
    workload: &'static str,
    clients: usize,
    budget: &Budget,
    valid: Validity,
    mut anomalies: Vec<String>,
    explanation: Vec<String>,
    details: Value,
) -> Report {
    anomalies.sort();
    anomalies.dedup();
    Report {
        valid,
        stats: Stats {
            ops: clients,
            millis: budget.millis(),
            ..Stats::default()
        },
        anomalies,
        explanation,
        details,
        ..Report::new(workload, CheckerKind::Workload)
    }
}

/// A report whose verdict is unknown, for `reason` (budget spent, a history the checker's
/// rules cannot judge), with whatever details were gathered. A spent time or memory limit is
/// its typed stop reason.
pub fn unknown(
    workload: &'static str,
    ops: &[Operation],
    budget: &Budget,
    reason: String,
    details: Value,
) -> Report {
    let mut r = report(
        workload,
        ops,
        budget,
        Validity::Unknown,
        Vec::new(),
        Vec::new(),
        details,
    );
    r.unknown_reason = Some(reason);
    r.stop = budget
        .exceeded()
        .filter(|s| matches!(s, StopReason::Time | StopReason::Memory));
    r
}
