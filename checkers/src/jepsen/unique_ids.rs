//! Jepsen's unique-ids checker (`--workload unique-ids`): clients `generate` ids; every id an
//! ok `generate` returned must be distinct. Reports the attempted and acknowledged counts, the
//! range of ids, and the duplicates (id → how many times, the 48 most repeated, as in Jepsen).

use super::common::{self, Elem};
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::Report;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How many duplicated ids the details list (the most repeated first), as in Jepsen.
const DUPLICATES_SHOWN: usize = 48;

/// Checks a unique-ids history.
pub fn check(
    file: &str,
    ops: &[Operation],
    _opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let mut attempted = 0usize;
    // Each acknowledged id with the ok operations that returned it.
    let mut ids: BTreeMap<Elem, Vec<&Operation>> = BTreeMap::new();
    let mut acknowledged = 0usize;
    for (op, _) in common::client_ops(file, ops, "unique-ids", &["generate"])? {
        attempted += 1;
        if op.outcome == Outcome::Ok {
            if op.output.is_null() {
                return Err(InputError::new(
                    file,
                    common::result_line(op),
                    "expected the generated id as the value of an ok :generate, found null",
                ));
            }
            acknowledged += 1;
            ids.entry(Elem(op.output.clone())).or_default().push(op);
        }
    }
    let mut dups: Vec<(&Elem, &Vec<&Operation>)> =
        ids.iter().filter(|(_, by)| by.len() > 1).collect();
    dups.sort_by(|x, y| y.1.len().cmp(&x.1.len()).then_with(|| x.0.cmp(y.0)));
    let range = match (ids.keys().next(), ids.keys().next_back()) {
        (Some(lo), Some(hi)) => json!([lo.0, hi.0]),
        _ => Value::Null,
    };
    let details = json!({
        "attempted_count": attempted,
        "acknowledged_count": acknowledged,
        "duplicated_count": dups.len(),
        "duplicated": dups.iter().take(DUPLICATES_SHOWN).map(|(id, by)| json!({
            "id": id.0,
            "count": by.len(),
            "lines": by.iter().take(common::LIST_CAP).map(|o| common::result_line(o)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "range": range,
    });
    let mut explanation = vec![format!(
        "{} attempted, {} acknowledged{}",
        common::count(attempted, "generate"),
        acknowledged,
        match (ids.keys().next(), ids.keys().next_back()) {
            (Some(lo), Some(hi)) => format!(
                ", ids from {} to {}",
                common::show(&lo.0),
                common::show(&hi.0)
            ),
            _ => String::new(),
        }
    )];
    let (valid, anomalies) = if dups.is_empty() {
        explanation.push("every acknowledged id is distinct".to_string());
        (Validity::Valid, Vec::new())
    } else {
        explanation.push(format!(
            "duplicated: {} returned more than once:",
            common::count(dups.len(), "id")
        ));
        for (id, by) in dups.iter().take(common::EXPLAIN_CAP) {
            let wheres: Vec<String> = by.iter().take(5).map(|o| common::whereabouts(o)).collect();
            explanation.push(format!(
                "- {} returned {} times: {}{}",
                common::show(&id.0),
                by.len(),
                wheres.join("; "),
                if by.len() > 5 { "; …" } else { "" }
            ));
        }
        if dups.len() > common::EXPLAIN_CAP {
            explanation.push(format!(
                "… and {} more (details.duplicated)",
                dups.len() - common::EXPLAIN_CAP
            ));
        }
        (Validity::Invalid, vec!["duplicated".to_string()])
    };
    Ok(common::report(
        "unique-ids",
        ops,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    ))
}
