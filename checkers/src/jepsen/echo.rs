//! Maelstrom's echo checker (`--workload echo`): clients send `echo` with a payload; every ok
//! `echo` must return exactly the payload it sent. Failed and indeterminate echoes change
//! nothing and are only counted.

use super::common;
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
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
    let mut explanation = vec![format!(
        "{} attempted, {ok} acknowledged",
        common::count(attempted, "echo")
    )];
    let details = json!({"attempted": attempted, "ok": ok, "wrong": wrong.len()});
    if wrong.is_empty() {
        explanation.push("every acknowledged echo returned its payload".into());
        return Ok(common::report(
            "echo",
            ops,
            budget,
            Validity::Valid,
            Vec::new(),
            explanation,
            details,
        ));
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
    Ok(common::report(
        "echo",
        ops,
        budget,
        Validity::Invalid,
        vec!["wrong-echo".into()],
        explanation,
        details,
    ))
}
