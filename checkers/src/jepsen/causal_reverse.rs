//! Jepsen's causal-reverse checker (`--workload causal-reverse`, `jepsen.tests.causal-reverse`):
//! a strict-serializability anomaly in which T1 < T2 in real time but a read sees T2 without T1.
//!
//! Clients `write` distinct values to a key (blind inserts) and `read` the set of values present
//! (a list). For each write w, the writes it must follow are the ok writes of the same key that
//! completed before w was invoked. An ok read that sees w must see every one of them; a read
//! that sees w but misses one is `causal-reverse` — invalid, with the read, the value it saw
//! and the values it missed named. As in Jepsen: only ok writes are known to have completed
//! (an info or failed write precedes nothing); a value with no write in the history, or from a
//! failed write, implies nothing here; the order in which a read lists its values is not
//! checked.
//!
//! Keys come from the `key` field, or from Jepsen's independent tuples (`[key, value]` for a
//! write, `[key, [values…]]` for a read); a history without either is one key. A value written
//! twice to one key leaves "the" write of a value undefined: unknown, never a guess.

use super::common::{self, Elem};
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::Report;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The writes of one key.
#[derive(Default)]
struct KeyWrites<'a> {
    /// Value → its write.
    by_value: BTreeMap<Elem, &'a Operation>,
    /// The ok writes as (completion's event index, value), in completion order.
    completed: Vec<(usize, Value)>,
}

/// One ok read: its key and the values it saw.
struct Read<'a> {
    op: &'a Operation,
    key: Option<Value>,
    seen: Vec<Value>,
}

/// A read that sees a write without one that completed before that write was invoked.
struct Violation<'a> {
    read: &'a Read<'a>,
    /// The seen value whose write was invoked latest among those that imply a missing one.
    saw: Value,
    /// The missing values, in completion order.
    missing: Vec<Value>,
    /// How many values the read had to see.
    expected_count: usize,
}

/// Checks a causal-reverse history.
pub fn check(
    file: &str,
    ops: &[Operation],
    _opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let mut keys: BTreeMap<Option<Elem>, KeyWrites> = BTreeMap::new();
    let mut reads: Vec<Read> = Vec::new();
    for (op, f) in common::client_ops(file, ops, "causal-reverse", &["read", "write"])? {
        if f == "write" {
            let (key, value) = write_value(file, op)?;
            let writes = keys.entry(key.clone().map(Elem)).or_default();
            if let Some(first) = writes.by_value.insert(Elem(value.clone()), op) {
                let reason = format!(
                    "value {}{} is written twice (on {} and on {}); this checker needs distinct values",
                    common::show(&value),
                    key.map_or(String::new(), |k| format!(" of key {}", common::show(&k))),
                    common::whereabouts(first),
                    common::whereabouts(op)
                );
                return Ok(common::unknown(
                    "causal-reverse",
                    ops,
                    budget,
                    reason,
                    json!({}),
                ));
            }
            if let (Outcome::Ok, Some(done)) = (op.outcome, op.complete) {
                writes.completed.push((done, value));
            }
        } else if op.outcome == Outcome::Ok {
            reads.push(parse_read(file, op)?);
        }
    }
    for w in keys.values_mut() {
        w.completed.sort_by_key(|(done, _)| *done);
    }

    let mut violations = Vec::new();
    let empty = KeyWrites::default();
    for r in &reads {
        if budget.exceeded().is_some() {
            return Ok(common::unknown(
                "causal-reverse",
                ops,
                budget,
                common::spent(budget).unwrap_or_default(),
                json!({ "read_count": reads.len() }),
            ));
        }
        let writes = keys.get(&r.key.clone().map(Elem)).unwrap_or(&empty);
        // The writes a seen value's write must follow are the ok writes completed before its
        // invocation: a prefix of `completed`. The union over the seen values is the longest.
        let mut longest = 0usize;
        let mut saw = None;
        for v in &r.seen {
            let Some(w) = writes.by_value.get(&Elem(v.clone())) else {
                continue;
            };
            let before = writes
                .completed
                .partition_point(|(done, _)| *done < w.invoke);
            if before > longest {
                longest = before;
                saw = Some(v.clone());
            }
        }
        let seen: BTreeSet<Elem> = r.seen.iter().cloned().map(Elem).collect();
        let missing: Vec<Value> = writes.completed[..longest]
            .iter()
            .map(|(_, v)| v.clone())
            .filter(|v| !seen.contains(&Elem(v.clone())))
            .collect();
        if let (false, Some(saw)) = (missing.is_empty(), saw) {
            violations.push(Violation {
                read: r,
                saw,
                missing,
                expected_count: longest,
            });
        }
    }

    let violation_json = |v: &Violation| {
        json!({
            "invoke_line": v.read.op.invoke_line,
            "complete_line": v.read.op.complete_line,
            "process": v.read.op.process.as_ref().map(|p| p.to_string()),
            "key": v.read.key,
            "value": v.read.seen,
            "saw": v.saw,
            "missing": v.missing,
            "expected_count": v.expected_count,
        })
    };
    let write_count: usize = keys.values().map(|w| w.by_value.len()).sum();
    let details = json!({
        "key_count": keys.len(),
        "write_count": write_count,
        "read_count": reads.len(),
        "error_count": violations.len(),
        "errors": violations.iter().take(common::LIST_CAP).map(violation_json).collect::<Vec<_>>(),
    });
    let mut explanation = vec![format!(
        "{} of {} over {} checked against the writes completed before each seen write began",
        common::count(reads.len(), "ok read"),
        common::count(write_count, "write"),
        common::count(keys.len(), "key"),
    )];
    let valid = if violations.is_empty() {
        explanation.push(
            "every read that sees a write also sees every write that completed before it began"
                .into(),
        );
        Validity::Valid
    } else {
        explanation.push(format!(
            "{} a write without one that completed before it began:",
            common::count_verb(violations.len(), "read", "see")
        ));
        common::push_capped(&mut explanation, violations.iter(), "details.errors", |v| {
            let key = v
                .read
                .key
                .as_ref()
                .map_or(String::new(), |k| format!(" of key {}", common::show(k)));
            let w = keys
                .get(&v.read.key.clone().map(Elem))
                .and_then(|w| w.by_value.get(&Elem(v.saw.clone())));
            format!(
                "- read{key} on {} sees {}{} but not {}",
                common::whereabouts(v.read.op),
                common::show(&v.saw),
                w.map_or(String::new(), |w| format!(
                    " (written on {})",
                    common::whereabouts(w)
                )),
                v.missing
                    .iter()
                    .map(common::show)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        Validity::Invalid
    };
    let anomalies = if violations.is_empty() {
        Vec::new()
    } else {
        vec!["causal-reverse".to_string()]
    };
    Ok(common::report(
        "causal-reverse",
        ops,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    ))
}

/// A write's key (field or tuple) and value.
fn write_value(file: &str, op: &Operation) -> Result<(Option<Value>, Value), InputError> {
    let v = common::argument(op);
    let err = || {
        InputError::new(
            file,
            op.invoke_line,
            format!(
                "expected a write of one scalar value, or a tuple [key, value], found {}",
                common::show(v)
            ),
        )
    };
    let (key, value) = match v {
        Value::Array(kv) if op.key.is_none() => match kv.as_slice() {
            [k, v] => (Some(k.clone()), v.clone()),
            _ => return Err(err()),
        },
        other => (op.key.clone(), other.clone()),
    };
    if value.is_null() || value.is_array() || value.is_object() {
        return Err(err());
    }
    Ok((key, value))
}

fn parse_read<'a>(file: &str, op: &'a Operation) -> Result<Read<'a>, InputError> {
    let err = || {
        InputError::new(
            file,
            common::result_line(op),
            format!(
                "expected the value of an ok :read to be a list of the values seen, or a tuple \
                 [key, [values…]], found {}",
                common::show(&op.output)
            ),
        )
    };
    let Value::Array(items) = &op.output else {
        return Err(err());
    };
    let (key, seen) = match items.as_slice() {
        [k, Value::Array(seen)] if op.key.is_none() => (Some(k.clone()), seen.clone()),
        _ => (op.key.clone(), items.clone()),
    };
    if seen
        .iter()
        .any(|v| v.is_null() || v.is_array() || v.is_object())
    {
        return Err(err());
    }
    Ok(Read { op, key, seen })
}
