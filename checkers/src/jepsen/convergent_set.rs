//! Maelstrom's broadcast and g-set checker (`--workload convergent-set`): clients `add` (or
//! `broadcast`) unique elements and `read` the whole set while faults come and go; after
//! healing and a quiet period, a `final-read` on every node (its `key` names the node) must
//! hold every acknowledged element. Reads during the run may lag (the set converges; it is
//! not linearizable).
//!
//! Two parts: Jepsen's set-full timeline over every read (stale, lost, never-read, latencies;
//! `broadcast` counts as `add`, `final-read` as `read`), and the convergence rule — an
//! acknowledged element missing from some node's final read is `lost`, whatever other
//! nodes returned. With no ok final read at all the verdict is unknown.

use super::common::{self, Elem};
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::{Report, Validity};
use crate::InputError;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Checks a convergent-set history.
pub fn check(
    file: &str,
    ops: &[Operation],
    opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let allowed = ["add", "broadcast", "read", "final-read"];
    let client = common::client_ops(file, ops, "convergent-set", &allowed)?;
    // Acknowledged elements, with the op that acknowledged them.
    let mut acked: BTreeMap<Elem, &Operation> = BTreeMap::new();
    let mut finals: Vec<&Operation> = Vec::new();
    for (op, f) in &client {
        match *f {
            "add" | "broadcast" if op.outcome == Outcome::Ok => {
                acked.entry(Elem(op.input.clone())).or_insert(op);
            }
            "final-read" if op.outcome == Outcome::Ok => {
                if !op.output.is_array() {
                    return Err(InputError::new(
                        file,
                        common::result_line(op),
                        format!(
                            "expected a list of elements as the value of an ok :final-read, found {}",
                            common::show(&op.output)
                        ),
                    ));
                }
                finals.push(op);
            }
            _ => {}
        }
    }
    // Set-full over the same history, in its own vocabulary.
    let renamed: Vec<Operation> = ops
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o.f = o.f.map(|f| match f.as_str() {
                "broadcast" => "add".to_string(),
                "final-read" => "read".to_string(),
                _ => f,
            });
            o
        })
        .collect();
    let mut report = super::set_full::check(file, &renamed, opts, budget)?;
    report.checker = "convergent-set";

    if finals.is_empty() {
        report.valid = Validity::Unknown;
        report.unknown_reason =
            Some("no node answered its final read, so convergence cannot be judged".into());
        return Ok(report);
    }
    let mut missing: Vec<(String, &Operation, Vec<&Operation>)> = Vec::new();
    for f in &finals {
        let got: BTreeSet<Elem> = f
            .output
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| Elem(v.clone()))
            .collect();
        let lost: Vec<&Operation> = acked
            .iter()
            .filter(|(e, _)| !got.contains(e))
            .map(|(_, op)| *op)
            .collect();
        if !lost.is_empty() {
            let node = match &f.key {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "a node".into(),
            };
            missing.push((node, f, lost));
        }
    }
    let per_node: Vec<Value> = missing
        .iter()
        .map(|(node, f, lost)| {
            json!({"node": node, "line": common::result_line(f), "missing": lost.len(),
                   "sample": common::capped(lost.iter().map(|o| &o.input))})
        })
        .collect();
    if let Some(map) = report.details.as_object_mut() {
        map.insert("final_reads".into(), json!(finals.len()));
        map.insert("missing_in_final_reads".into(), json!(per_node));
    }
    if missing.is_empty() {
        report.explanation.push(format!(
            "all {} final reads hold every one of the {} acknowledged elements",
            finals.len(),
            acked.len()
        ));
        return Ok(report);
    }
    report.valid = Validity::Invalid;
    report.anomalies.push("lost".into());
    report.anomalies.sort();
    report.anomalies.dedup();
    report.explanation.push(format!(
        "{} of {} final reads miss acknowledged elements:",
        missing.len(),
        finals.len()
    ));
    for (node, f, lost) in missing.iter().take(common::EXPLAIN_CAP) {
        let first = lost[0];
        let at = first
            .complete_time
            .map(|t| format!(" at {:.1} s", t as f64 / 1e9))
            .unwrap_or_default();
        let to = first
            .process
            .as_ref()
            .map(|p| format!(" to process {p}"))
            .unwrap_or_default();
        explanation_line(
            &mut report.explanation,
            node,
            f,
            lost.len(),
            first,
            &at,
            &to,
        );
    }
    Ok(report)
}

fn explanation_line(
    out: &mut Vec<String>,
    node: &str,
    f: &Operation,
    n: usize,
    first: &Operation,
    at: &str,
    to: &str,
) {
    let more = if n > 1 {
        format!(" (and {} more)", n - 1)
    } else {
        String::new()
    };
    out.push(format!(
        "- value {} was acknowledged{to}{at} (line {}) but {node} never returned it in its final read (line {}){more}",
        common::show(&first.input),
        common::result_line(first),
        common::result_line(f),
    ));
}
