//! Jepsen's long-fork checker (`--workload long-fork`), an anomaly allowed by parallel snapshot
//! isolation but not by snapshot isolation: two writes observed in opposite orders.
//!
//! Operations are transactions of micro-ops `[f k v]` (any `:f`, as in Jepsen: `:txn`, or
//! elle-cli's `:read`/`:write`). A write is a transaction of exactly one `[:w k v]`; each key is
//! written at most once. A read is an ok transaction of `[:r k v]` only (`v` null: not written
//! yet). Reads are grouped by the set of keys they cover; every group must cover exactly
//! `--group-size` keys (default: the largest read's key count). Within a group, each key goes
//! from null to its one value, so the reads must be totally ordered by "has seen more": two
//! reads where each sees a write the other does not are a long fork — invalid.
//!
//! As in Jepsen, a history this analysis cannot judge is unknown, not invalid: a key written
//! twice, a read of the wrong size, or two reads seeing different values for one key.

use super::common::{self, Elem};
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::Report;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One micro-op.
struct Mop {
    write: bool,
    key: Value,
    value: Value,
}

/// One ok read: key → value seen (null: not yet written).
struct Read<'a> {
    op: &'a Operation,
    seen: BTreeMap<Elem, Value>,
}

/// Two reads of one group that each saw a write the other did not.
struct Fork<'a> {
    a: &'a Read<'a>,
    b: &'a Read<'a>,
    /// A key `a` saw written and `b` did not, and the reverse.
    a_only: (Value, Value),
    b_only: (Value, Value),
}

/// Checks a long-fork history.
pub fn check(
    file: &str,
    ops: &[Operation],
    opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let mut reads: Vec<Read> = Vec::new();
    let mut written: BTreeMap<Elem, &Operation> = BTreeMap::new();
    let mut other_txns = 0usize;
    for op in ops.iter().filter(|o| o.client) {
        if let Some(txn) = mops(file, op.invoke_line, &op.input)? {
            if let [m] = txn.as_slice() {
                if m.write {
                    if let Some(first) = written.insert(Elem(m.key.clone()), op) {
                        let reason = format!(
                            "key {} is written twice (on {} and on {}); this checker needs each key written once",
                            common::show(&m.key),
                            common::whereabouts(first),
                            common::whereabouts(op)
                        );
                        return Ok(common::unknown("long-fork", ops, budget, reason, json!({})));
                    }
                }
            }
        }
        if op.outcome != Outcome::Ok {
            continue;
        }
        let line = common::result_line(op);
        match mops(file, line, &op.output)? {
            Some(txn) if txn.iter().all(|m| !m.write) => reads.push(Read {
                op,
                seen: txn.into_iter().map(|m| (Elem(m.key), m.value)).collect(),
            }),
            Some(txn) if txn.len() == 1 => {}
            _ => other_txns += 1,
        }
    }

    let inferred = opts.group_size.is_none();
    let n = opts
        .group_size
        .unwrap_or_else(|| reads.iter().map(|r| r.seen.len()).max().unwrap_or(0));
    let early = reads
        .iter()
        .filter(|r| r.seen.values().all(Value::is_null))
        .count();
    let late = reads
        .iter()
        .filter(|r| r.seen.values().all(|v| !v.is_null()))
        .count();
    let mut details = json!({
        "reads_count": reads.len(),
        "early_read_count": early,
        "late_read_count": late,
        "write_count": written.len(),
        "other_txn_count": other_txns,
        "group_size": n,
        "group_size_inferred": inferred,
    });
    let mut groups: BTreeMap<Vec<&Elem>, Vec<&Read>> = BTreeMap::new();
    for r in &reads {
        if r.seen.len() != n {
            let reason = format!(
                "the read on {} covers {}, but every read must cover exactly {n} (the group size{})",
                common::whereabouts(r.op),
                common::count(r.seen.len(), "key"),
                if inferred { ", inferred from the largest read; give --group-size" } else { "" }
            );
            return Ok(common::unknown("long-fork", ops, budget, reason, details));
        }
        groups.entry(r.seen.keys().collect()).or_default().push(r);
    }
    details["group_count"] = json!(groups.len());

    // Only the first forks are kept for the report; the rest are counted. With every pair of
    // reads forking (half the reads see one write first, half the other) the forks are
    // quadratic in the reads, and keeping them all ran a 40 000-read history out of 3 GiB.
    let mut forks: Vec<Fork> = Vec::new();
    let mut fork_count = 0usize;
    for group in groups.values() {
        for (i, a) in group.iter().enumerate() {
            if let Some(spent) = common::spent(budget) {
                let reason = format!("{spent} while comparing reads");
                return Ok(common::unknown("long-fork", ops, budget, reason, details));
            }
            for b in &group[i + 1..] {
                match compare(a, b) {
                    Ok(Some(fork)) => {
                        fork_count += 1;
                        if forks.len() < common::LIST_CAP {
                            forks.push(fork);
                        }
                    }
                    Ok(None) => {}
                    Err(key) => {
                        let reason = format!(
                            "the reads on {} and on {} see different values for key {}; this checker needs each key written once",
                            common::whereabouts(a.op),
                            common::whereabouts(b.op),
                            common::show(&key)
                        );
                        return Ok(common::unknown("long-fork", ops, budget, reason, details));
                    }
                }
            }
        }
    }
    details["fork_count"] = json!(fork_count);
    details["forks"] = forks.iter().map(fork_json).collect();
    let mut explanation = vec![format!(
        "{} in {} of {} keys ({} early, {} late), {}",
        common::count(reads.len(), "ok read"),
        common::count(groups.len(), "group"),
        n,
        early,
        late,
        common::count(written.len(), "single-key write")
    )];
    let (valid, anomalies) = if forks.is_empty() {
        explanation.push("the reads of each group are totally ordered: no long fork".to_string());
        (Validity::Valid, Vec::new())
    } else {
        explanation.push(format!(
            "{} writes in incompatible orders:",
            if fork_count == 1 {
                "1 pair of reads observes".to_string()
            } else {
                format!("{fork_count} pairs of reads observe")
            }
        ));
        common::push_capped_of(
            &mut explanation,
            forks.iter(),
            fork_count,
            "details.forks",
            describe,
        );
        (Validity::Invalid, vec!["long-fork".to_string()])
    };
    Ok(common::report(
        "long-fork",
        ops,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    ))
}

/// Parses a transaction: `None` for a null value (an invocation without one); an error for
/// anything that is not a list of `[f k v]` with `f` a read (`r`) or a write (`w`).
fn mops(file: &str, line: usize, v: &Value) -> Result<Option<Vec<Mop>>, InputError> {
    let err = |found: &Value| {
        InputError::new(
            file,
            line,
            format!(
                "expected a list of micro-operations [\"r\" key value] / [\"w\" key value], found {}",
                common::show(found)
            ),
        )
    };
    let list = match v {
        Value::Null => return Ok(None),
        Value::Array(list) => list,
        other => return Err(err(other)),
    };
    let mut out = Vec::with_capacity(list.len());
    for m in list {
        let Some([f, k, v]) = m.as_array().map(Vec::as_slice) else {
            return Err(err(m));
        };
        let write = match f.as_str() {
            Some("r" | "read") => false,
            Some("w" | "write") => true,
            _ => return Err(err(m)),
        };
        out.push(Mop {
            write,
            key: k.clone(),
            value: v.clone(),
        });
    }
    Ok(Some(out))
}

/// `Ok(Some(fork))` when neither read has seen everything the other has; `Err(key)` when they
/// see different non-null values for one key.
fn compare<'a>(a: &'a Read<'a>, b: &'a Read<'a>) -> Result<Option<Fork<'a>>, Value> {
    let (mut a_only, mut b_only) = (None, None);
    for (k, va) in &a.seen {
        let vb = b.seen.get(k).unwrap_or(&Value::Null);
        match (va.is_null(), vb.is_null()) {
            (false, true) => {
                a_only.get_or_insert((k.0.clone(), va.clone()));
            }
            (true, false) => {
                b_only.get_or_insert((k.0.clone(), vb.clone()));
            }
            (false, false) if common::compare(va, vb) != std::cmp::Ordering::Equal => {
                return Err(k.0.clone());
            }
            _ => {}
        }
    }
    Ok(match (a_only, b_only) {
        (Some(a_only), Some(b_only)) => Some(Fork {
            a,
            b,
            a_only,
            b_only,
        }),
        _ => None,
    })
}

fn read_json(r: &Read) -> Value {
    json!({
        "invoke_line": r.op.invoke_line,
        "complete_line": r.op.complete_line,
        "process": r.op.process.as_ref().map(|p| p.to_string()),
        "value": r.op.output,
    })
}

fn fork_json(f: &Fork) -> Value {
    json!({
        "a": read_json(f.a),
        "b": read_json(f.b),
        "a_only": [f.a_only.0, f.a_only.1],
        "b_only": [f.b_only.0, f.b_only.1],
    })
}

fn describe(f: &Fork) -> String {
    let (ka, va) = (common::show(&f.a_only.0), common::show(&f.a_only.1));
    let (kb, vb) = (common::show(&f.b_only.0), common::show(&f.b_only.1));
    format!(
        "- the read on {} sees key {ka} = {va} but not key {kb}; the read on {} sees key {kb} = {vb} but not key {ka}: the first puts the write of {ka} before that of {kb}, the second the reverse",
        common::whereabouts(f.a.op),
        common::whereabouts(f.b.op)
    )
}
