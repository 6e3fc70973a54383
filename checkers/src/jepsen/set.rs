//! Jepsen's set checker (`--workload set`): clients `add` elements (the value is the element),
//! then a final `read` returns the whole set (a list). Only the last ok read is judged:
//!
//! - lost: acknowledged (ok) adds missing from it — invalid;
//! - unexpected: elements in it that no add ever attempted — invalid;
//! - recovered: elements whose add was not acknowledged (info, failed or never completed) but
//!   that are present — fine, reported;
//! - ok: elements present whose add was attempted.
//!
//! With no ok read at all the verdict is unknown ("the set was never read"), as in Jepsen.

use super::common::{self, Elem};
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::Report;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Checks a set history.
pub fn check(
    file: &str,
    ops: &[Operation],
    _opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    // Every attempted element, with the first add that attempted it.
    let mut attempts: BTreeMap<Elem, &Operation> = BTreeMap::new();
    // Acknowledged elements, with the first ok add.
    let mut acknowledged: BTreeMap<Elem, &Operation> = BTreeMap::new();
    let mut final_read: Option<(&Operation, usize)> = None;
    for (op, f) in common::client_ops(file, ops, "set", &["add", "read"])? {
        if f == "add" {
            let element = Elem(common::argument(op).clone());
            attempts.entry(element.clone()).or_insert(op);
            if op.outcome == Outcome::Ok {
                acknowledged.entry(element).or_insert(op);
            }
        } else if op.outcome == Outcome::Ok {
            if !op.output.is_array() {
                return Err(InputError::new(
                    file,
                    common::result_line(op),
                    format!(
                        "expected a list of elements as the value of an ok :read, found {}",
                        common::show(&op.output)
                    ),
                ));
            }
            let done = op.complete.unwrap_or(op.invoke);
            if final_read.map_or(true, |(_, at)| done > at) {
                final_read = Some((op, done));
            }
        }
    }
    let Some((read, _)) = final_read else {
        let details = json!({
            "attempt_count": attempts.len(),
            "acknowledged_count": acknowledged.len(),
        });
        return Ok(common::unknown(
            "set",
            ops,
            budget,
            "the set was never read: no ok :read".to_string(),
            details,
        ));
    };
    let seen: BTreeSet<Elem> = read
        .output
        .as_array()
        .map(|a| a.iter().cloned().map(Elem).collect())
        .unwrap_or_default();

    let ok: Vec<&Value> = seen
        .iter()
        .filter(|e| attempts.contains_key(e))
        .map(|e| &e.0)
        .collect();
    let unexpected: Vec<&Value> = seen
        .iter()
        .filter(|e| !attempts.contains_key(e))
        .map(|e| &e.0)
        .collect();
    let lost: Vec<(&Value, &Operation)> = acknowledged
        .iter()
        .filter(|(e, _)| !seen.contains(e))
        .map(|(e, op)| (&e.0, *op))
        .collect();
    let recovered: Vec<&Value> = seen
        .iter()
        .filter(|e| attempts.contains_key(e) && !acknowledged.contains_key(e))
        .map(|e| &e.0)
        .collect();

    let details = json!({
        "final_read_line": common::result_line(read),
        "attempt_count": attempts.len(),
        "acknowledged_count": acknowledged.len(),
        "ok_count": ok.len(),
        "lost_count": lost.len(),
        "recovered_count": recovered.len(),
        "unexpected_count": unexpected.len(),
        "ok": common::capped(ok.iter().copied()),
        "lost": common::capped(lost.iter().map(|(e, _)| *e)),
        "recovered": common::capped(recovered.iter().copied()),
        "unexpected": common::capped(unexpected.iter().copied()),
    });

    let mut explanation = vec![format!(
        "final read on {}: {} of {} attempted, {} acknowledged",
        common::whereabouts(read),
        common::count(seen.len(), "element"),
        attempts.len(),
        acknowledged.len()
    )];
    let mut anomalies = Vec::new();
    if !lost.is_empty() {
        anomalies.push("lost".to_string());
        explanation.push(format!(
            "lost: {} acknowledged by an ok add but missing from the final read:",
            common::count(lost.len(), "element")
        ));
        common::push_capped(&mut explanation, lost.iter(), "details.lost", |(e, op)| {
            format!(
                "- {}, added ok on {}",
                common::show(e),
                common::whereabouts(op)
            )
        });
    }
    if !unexpected.is_empty() {
        anomalies.push("unexpected".to_string());
        explanation.push(format!(
            "unexpected: the final read holds {} that no add ever attempted: {}",
            common::count(unexpected.len(), "element"),
            common::sample(unexpected.iter().copied(), unexpected.len(), 20)
        ));
    }
    if !recovered.is_empty() {
        explanation.push(format!(
            "recovered (fine): {} whose add was not acknowledged but took effect: {}",
            common::count(recovered.len(), "element"),
            common::sample(recovered.iter().copied(), recovered.len(), 20)
        ));
    }
    let valid = if anomalies.is_empty() {
        explanation.push("every acknowledged add is in the final read".to_string());
        Validity::Valid
    } else {
        Validity::Invalid
    };
    Ok(common::report(
        "set",
        ops,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    ))
}
