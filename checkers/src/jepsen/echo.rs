//! Maelstrom's echo checker (`--workload echo`): clients send `echo` with a payload; every ok
//! `echo` must return exactly the payload it sent. Failed and indeterminate echoes change
//! nothing and are only counted.

use super::common;
use crate::budget::Budget;
use crate::history::{CompactHistory, Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::{Report, Validity};
use crate::InputError;
use serde_json::json;

/// Checks an echo history.
pub fn check(
    file: &str,
    ops: &[Operation],
    _opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let mut ok = 0usize;
    let mut attempted = 0usize;
    let mut wrong: Vec<&Operation> = Vec::new();
    for (op, _) in common::client_ops(file, ops, "echo", &["echo"])? {
        attempted += 1;
        if op.outcome == Outcome::Ok {
            ok += 1;
            if op.output != op.input {
                wrong.push(op);
            }
        }
    }
    let clients = ops.iter().filter(|o| o.client).count();
    Ok(verdict(clients, attempted, ok, &wrong, budget))
}

/// [`check`] over a history read compactly (faultline's JSON lines of a Maelstrom echo run:
/// one interned value per payload instead of a full operation), with the same report; `None`
/// for a history with another operation than `echo`, whose error the general path words.
pub fn check_compact(history: &CompactHistory, budget: &Budget) -> Option<Report> {
    let mut ok = 0usize;
    let mut attempted = 0usize;
    let mut wrong: Vec<Operation> = Vec::new();
    for (id, op) in history.ops.iter().enumerate() {
        if !op.client() {
            continue;
        }
        if history.f(op) != Some("echo") {
            return None;
        }
        attempted += 1;
        if op.outcome() == Outcome::Ok {
            ok += 1;
            if !history.same_value(op.input(), op.output()) {
                wrong.push(history.operation(id)?);
            }
        }
    }
    let wrong: Vec<&Operation> = wrong.iter().collect();
    Some(verdict(attempted, attempted, ok, &wrong, budget))
}

/// The report of an echo history of `clients` client operations, `attempted` echoes of which
/// `ok` were acknowledged and `wrong` returned something else.
fn verdict(
    clients: usize,
    attempted: usize,
    ok: usize,
    wrong: &[&Operation],
    budget: &Budget,
) -> Report {
    let mut explanation = vec![format!(
        "{} attempted, {ok} acknowledged",
        common::count(attempted, "echo")
    )];
    let details = json!({"attempted": attempted, "ok": ok, "wrong": wrong.len()});
    if wrong.is_empty() {
        explanation.push("every acknowledged echo returned its payload".into());
        return common::report_of(
            "echo",
            clients,
            budget,
            Validity::Valid,
            Vec::new(),
            explanation,
            details,
        );
    }
    explanation.push(format!(
        "{} returned something else than was sent:",
        common::count(wrong.len(), "echo")
    ));
    for op in wrong.iter().take(common::EXPLAIN_CAP) {
        explanation.push(format!(
            "- sent {}, got {} ({})",
            common::show(&op.input),
            common::show(&op.output),
            common::whereabouts(op)
        ));
    }
    common::report_of(
        "echo",
        clients,
        budget,
        Validity::Invalid,
        vec!["wrong-echo".into()],
        explanation,
        details,
    )
}
