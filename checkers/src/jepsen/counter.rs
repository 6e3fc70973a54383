//! Jepsen's counter checker (`--workload counter`): a counter starts at 0, `add` adds its value
//! (the delta), `read` returns the count. Every ok read must lie within a window of bounds
//! computed from real-time order alone (no search):
//!
//! - lower: what certainly happened before the read began — the ok adds that completed before
//!   the read was invoked;
//! - upper: everything that may have happened before the read ended — every add not known to
//!   have failed (ok, info or never completed) invoked before the read completed.
//!
//! For positive deltas this is exactly Jepsen's `checker/counter`. Jepsen rejects negative
//! deltas; here an add that may or may not count widens the window on its own side (a
//! possible `-2` lowers the lower bound, a possible `+3` raises the upper one), which keeps the
//! check sound. Like Jepsen's, it checks each read against its own window only; the exact
//! (linearizability) check of a counter is `--model counter`.

use super::common;
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::Report;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::{json, Value};

/// One ok read with its window.
struct Bounded<'a> {
    op: &'a Operation,
    lower: i128,
    value: i128,
    upper: i128,
}

/// What happens at one position of the file.
enum Step {
    /// An add not known to have failed is invoked: it may count from here on.
    AddInvoked(i128),
    /// An add completed ok: it certainly counts for reads invoked from here on.
    AddOk(i128),
    /// A read is invoked (index into `reads`).
    ReadInvoked(usize),
    /// A read completed ok (index into `reads`).
    ReadOk(usize),
}

/// Checks a counter history.
pub fn check(
    file: &str,
    ops: &[Operation],
    _opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let mut steps: Vec<(usize, Step)> = Vec::new();
    let mut reads: Vec<(&Operation, i128)> = Vec::new();
    let (mut ok_adds, mut info_adds, mut failed_adds) = (0usize, 0usize, 0usize);
    for (op, f) in common::client_ops(file, ops, "counter", &["add", "read"])? {
        if f == "add" {
            let delta = common::integer(&op.input)
                .or_else(|| common::integer(&op.output))
                .ok_or_else(|| {
                    InputError::new(
                        file,
                        op.invoke_line,
                        format!(
                            "expected an integer delta as the value of :add, found {}",
                            common::show(&op.input)
                        ),
                    )
                })?;
            match op.outcome {
                Outcome::Fail => failed_adds += 1,
                Outcome::Info => {
                    info_adds += 1;
                    steps.push((op.invoke, Step::AddInvoked(delta)));
                }
                Outcome::Ok => {
                    ok_adds += 1;
                    steps.push((op.invoke, Step::AddInvoked(delta)));
                    if let Some(done) = op.complete {
                        steps.push((done, Step::AddOk(delta)));
                    }
                }
            }
        } else if op.outcome == Outcome::Ok {
            let value = common::integer(&op.output).ok_or_else(|| {
                InputError::new(
                    file,
                    common::result_line(op),
                    format!(
                        "expected an integer count as the value of an ok :read, found {}",
                        common::show(&op.output)
                    ),
                )
            })?;
            let i = reads.len();
            reads.push((op, value));
            steps.push((op.invoke, Step::ReadInvoked(i)));
            if let Some(done) = op.complete {
                steps.push((done, Step::ReadOk(i)));
            }
        }
    }
    steps.sort_by_key(|(pos, _)| *pos);

    // Definite adds (ok, completed so far) split by sign, and possible adds likewise.
    let (mut sure_pos, mut sure_neg, mut maybe_pos, mut maybe_neg) = (0i128, 0i128, 0i128, 0i128);
    let mut at_invoke: Vec<(i128, i128)> = vec![(0, 0); reads.len()];
    let mut bounded: Vec<Bounded> = Vec::with_capacity(reads.len());
    for (_, step) in &steps {
        match *step {
            Step::AddInvoked(d) if d >= 0 => maybe_pos += d,
            Step::AddInvoked(d) => maybe_neg += d,
            Step::AddOk(d) if d >= 0 => sure_pos += d,
            Step::AddOk(d) => sure_neg += d,
            Step::ReadInvoked(i) => at_invoke[i] = (sure_pos, sure_neg),
            Step::ReadOk(i) => {
                let (pos, neg) = at_invoke[i];
                let (op, value) = reads[i];
                bounded.push(Bounded {
                    op,
                    lower: pos + maybe_neg,
                    value,
                    upper: neg + maybe_pos,
                });
            }
        }
    }

    let errors: Vec<&Bounded> = bounded
        .iter()
        .filter(|b| b.value < b.lower || b.value > b.upper)
        .collect();
    let details = json!({
        "read_count": bounded.len(),
        "ok_add_count": ok_adds,
        "info_add_count": info_adds,
        "failed_add_count": failed_adds,
        "error_count": errors.len(),
        "errors": errors.iter().map(|b| bound_json(b)).collect::<Vec<_>>(),
    });
    let mut explanation = Vec::new();
    let valid = if bounded.is_empty() {
        explanation.push("no ok read: nothing to compare the adds with".to_string());
        Validity::Valid
    } else if errors.is_empty() {
        explanation.push(format!(
            "{} within {} bounds: at least the ok adds completed before it began, at most every add not known to have failed invoked before it ended",
            if bounded.len() == 1 {
                "the ok read lies".to_string()
            } else {
                format!("all {} ok reads lie", bounded.len())
            },
            if bounded.len() == 1 { "its" } else { "their" }
        ));
        Validity::Valid
    } else {
        explanation.push(format!(
            "{} of {} ok reads {} outside {} bounds:",
            errors.len(),
            bounded.len(),
            if errors.len() == 1 { "lies" } else { "lie" },
            if errors.len() == 1 { "its" } else { "their" }
        ));
        common::push_capped(
            &mut explanation,
            errors.iter(),
            "details.errors lists every one",
            |b| describe(b),
        );
        Validity::Invalid
    };
    let anomalies = if errors.is_empty() {
        Vec::new()
    } else {
        vec!["out-of-bounds-read".to_string()]
    };
    Ok(common::report(
        "counter",
        ops,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    ))
}

fn bound_json(b: &Bounded) -> Value {
    json!({
        "lower": num(b.lower),
        "value": num(b.value),
        "upper": num(b.upper),
        "invoke_line": b.op.invoke_line,
        "complete_line": b.op.complete_line,
        "process": b.op.process.as_ref().map(|p| p.to_string()),
    })
}

/// An i128 as a JSON number (as a string only if it does not fit an i64).
fn num(n: i128) -> Value {
    i64::try_from(n).map_or_else(|_| Value::String(n.to_string()), Value::from)
}

fn describe(b: &Bounded) -> String {
    let why = if b.value < b.lower {
        format!(
            "below {}, the sum of the ok adds that completed before it was invoked",
            b.lower
        )
    } else {
        format!(
            "above {}, the sum of every add (ok or indeterminate) invoked before it completed",
            b.upper
        )
    };
    format!(
        "- read on {} returned {}, outside [{}, {}]: {why}",
        common::whereabouts(b.op),
        b.value,
        b.lower,
        b.upper
    )
}
