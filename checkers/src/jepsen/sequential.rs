//! elle-cli's sequential checker (`--workload sequential`), Jepsen's sequential-consistency
//! test (CockroachDB, TiDB, Dgraph): one process inserts the subkeys `k_0`, `k_1`, …, `k_n-1`
//! of a key in that order, each in its own transaction; another process reads them back in the
//! reverse order, `k_n-1` first and `k_0` last, and records what each read saw (null: not
//! there yet). Process order makes `k_i` visible no later than `k_i+1`, and the reads go from
//! the newest subkey to the oldest, so once one subkey is seen every later one in the read
//! (an older subkey) must be seen too: a null after a non-null value is invalid
//! (`trailing-nil`). Only ok `read`s are judged; `write`s are not checked (as in elle-cli).
//!
//! A read's value is the list of what it saw, in read order — each a scalar or null — or
//! elle-cli's independent tuple `[key, [values…]]`. This checks only that ordering, not
//! sequential consistency in general (elle-cli says the same of its checker).

use super::common;
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::Report;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::{json, Value};

/// One ok read: the key (from the `key` field or the tuple, if any) and what it saw, in order.
struct Read<'a> {
    op: &'a Operation,
    key: Option<Value>,
    seen: &'a [Value],
}

/// The first null that follows a non-null value in a read, as (index of the first non-null,
/// index of the null), if any.
pub(crate) fn trailing_nil(seen: &[Value]) -> Option<(usize, usize)> {
    let first = seen.iter().position(|v| !v.is_null())?;
    let null = seen[first..].iter().position(Value::is_null)?;
    Some((first, first + null))
}

/// Checks a sequential history.
pub fn check(
    file: &str,
    ops: &[Operation],
    _opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let mut reads: Vec<Read> = Vec::new();
    let mut writes = 0usize;
    for (op, f) in common::client_ops(file, ops, "sequential", &["read", "write"])? {
        if f == "write" {
            writes += 1;
        } else if op.outcome == Outcome::Ok {
            reads.push(parse_read(file, op)?);
        }
    }
    let mut bad = Vec::new();
    let (mut all, mut some, mut none) = (0usize, 0usize, 0usize);
    for (i, r) in reads.iter().enumerate() {
        if budget.exceeded().is_some() {
            return Ok(common::unknown(
                "sequential",
                ops,
                budget,
                common::spent(budget).unwrap_or_default(),
                json!({ "read_count": reads.len() }),
            ));
        }
        let nulls = r.seen.iter().filter(|v| v.is_null()).count();
        if nulls == 0 {
            all += 1;
        } else if nulls == r.seen.len() {
            none += 1;
        } else {
            some += 1;
        }
        if let Some(at) = trailing_nil(r.seen) {
            bad.push((i, at));
        }
    }
    let bad_json = |(i, (first, gap)): &(usize, (usize, usize))| {
        let r = &reads[*i];
        json!({
            "invoke_line": r.op.invoke_line,
            "complete_line": r.op.complete_line,
            "process": r.op.process.as_ref().map(|p| p.to_string()),
            "key": r.key,
            "value": r.seen,
            "seen_index": first,
            "null_index": gap,
        })
    };
    let details = json!({
        "read_count": reads.len(),
        "write_count": writes,
        "all_count": all,
        "some_count": some,
        "none_count": none,
        "bad_count": bad.len(),
        "bad": bad.iter().take(common::LIST_CAP).map(bad_json).collect::<Vec<_>>(),
    });
    let mut explanation = vec![format!(
        "{} checked: {all} saw every subkey, {some} some, {none} none",
        common::count(reads.len(), "ok read")
    )];
    let valid = if bad.is_empty() {
        explanation.push(
            "no read saw a newer subkey and then missed an older one (no null after a value)"
                .into(),
        );
        Validity::Valid
    } else {
        explanation.push(format!(
            "{} a newer subkey without an older one:",
            common::count_verb(bad.len(), "read", "see")
        ));
        common::push_capped(
            &mut explanation,
            bad.iter(),
            "details.bad",
            |(i, (f, n))| {
                let r = &reads[*i];
                let key = r
                    .key
                    .as_ref()
                    .map_or(String::new(), |k| format!(" of key {}", common::show(k)));
                format!(
                "- read{key} on {}: {}: position {f} saw {} but position {n} (an older subkey) is null",
                common::whereabouts(r.op),
                common::show(&Value::Array(r.seen.to_vec())),
                common::show(&r.seen[*f]),
            )
            },
        );
        Validity::Invalid
    };
    let anomalies = if bad.is_empty() {
        Vec::new()
    } else {
        vec!["trailing-nil".to_string()]
    };
    Ok(common::report(
        "sequential",
        ops,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    ))
}

fn parse_read<'a>(file: &str, op: &'a Operation) -> Result<Read<'a>, InputError> {
    let err = || {
        InputError::new(
            file,
            common::result_line(op),
            format!(
                "expected the value of an ok :read to be a list of scalars or nulls (what each \
                 subkey read saw) or a tuple [key, [values…]], found {}",
                common::show(&op.output)
            ),
        )
    };
    let Value::Array(items) = &op.output else {
        return Err(err());
    };
    let (key, seen) = match items.as_slice() {
        [k, Value::Array(seen)] if op.key.is_none() => (Some(k.clone()), seen.as_slice()),
        _ => (op.key.clone(), items.as_slice()),
    };
    if seen.iter().any(|v| v.is_array() || v.is_object()) {
        return Err(err());
    }
    Ok(Read { op, key, seen })
}
