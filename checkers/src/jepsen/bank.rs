//! Jepsen's bank checker (`--workload bank`), as elle-cli runs it: clients `transfer`
//! `{from, to, amount}` between accounts and `read` every balance (a map account → balance).
//! Transfers move money, so every ok read must show the same total. The accounts are those of
//! the first ok read; the total is `--total-amount N` when given (Jepsen's `:total-amount`, so
//! the first read is judged too), else the first ok read's (elle-cli's default). Each ok read
//! is judged by the first rule it breaks, in Jepsen's order:
//!
//! 1. `unexpected-key`: an account the first read did not have;
//! 2. `nil-balance`: an account whose balance is null;
//! 3. `wrong-total`: balances that do not add up to the total;
//! 4. `negative-value`: a negative balance (unless `--negative-balances`).
//!
//! Transfers are only checked for shape; their outcomes do not enter the invariant.

use super::common;
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::Report;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One account's balance in a read (`None` for null).
type Balance = (String, Option<i128>);

/// One ok read, parsed: account → balance (`None` for null).
struct Read<'a> {
    op: &'a Operation,
    balances: Vec<Balance>,
}

/// A read that breaks a rule.
struct BadRead<'a> {
    kind: &'static str,
    read: &'a Read<'a>,
    /// The offending accounts (unexpected keys, nil or negative balances).
    accounts: Vec<String>,
    /// The read's total (wrong-total only).
    total: Option<i128>,
}

/// Checks a bank history.
pub fn check(
    file: &str,
    ops: &[Operation],
    opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let mut reads: Vec<Read> = Vec::new();
    let mut transfers = 0usize;
    for (op, f) in common::client_ops(file, ops, "bank", &["read", "transfer"])? {
        if f == "transfer" {
            transfer_shape(file, op)?;
            if op.outcome == Outcome::Ok {
                transfers += 1;
            }
        } else if op.outcome == Outcome::Ok {
            reads.push(parse_read(file, op)?);
        }
    }
    reads.sort_by_key(|r| r.op.complete.unwrap_or(r.op.invoke));
    let Some(first) = reads.first() else {
        let details = json!({ "read_count": 0, "transfer_count": transfers, "error_count": 0 });
        let explanation = vec!["no ok read: nothing to check".to_string()];
        return Ok(common::report(
            "bank",
            ops,
            budget,
            Validity::Valid,
            Vec::new(),
            explanation,
            details,
        ));
    };
    let accounts: BTreeSet<&str> = first.balances.iter().map(|(a, _)| a.as_str()).collect();
    let given = opts.total_amount.map(i128::from);
    let first_total = first.balances.iter().map(|(_, b)| *b).sum::<Option<i128>>();
    let Some(total) = given.or(first_total) else {
        return Ok(common::unknown(
            "bank",
            ops,
            budget,
            format!(
                "the first ok read (on {}), which gives the expected total, has a null balance \
                 (give --total-amount to check against a known total)",
                common::whereabouts(first.op)
            ),
            json!({ "read_count": reads.len(), "transfer_count": transfers }),
        ));
    };

    let bad: Vec<BadRead> = reads
        .iter()
        .filter_map(|r| judge(r, &accounts, total, opts.negative_balances))
        .collect();
    let mut by_kind: BTreeMap<&str, Vec<&BadRead>> = BTreeMap::new();
    for b in &bad {
        by_kind.entry(b.kind).or_default().push(b);
    }
    let mut errors = Map::new();
    for (kind, list) in &by_kind {
        let worst = list
            .iter()
            .max_by(|x, y| badness(x, total).total_cmp(&badness(y, total)))
            .expect("not empty");
        let mut e = json!({
            "count": list.len(),
            "first": bad_json(list[0]),
            "worst": bad_json(worst),
            "last": bad_json(list[list.len() - 1]),
        });
        if *kind == "wrong-total" {
            let lowest = list.iter().min_by_key(|b| b.total).expect("not empty");
            let highest = list.iter().max_by_key(|b| b.total).expect("not empty");
            e["lowest"] = bad_json(lowest);
            e["highest"] = bad_json(highest);
        }
        errors.insert(kind.to_string(), e);
    }
    let details = json!({
        "read_count": reads.len(),
        "transfer_count": transfers,
        "accounts": accounts.iter().collect::<Vec<_>>(),
        "total": num(total),
        "total_given": given.is_some(),
        "negative_balances_allowed": opts.negative_balances,
        "error_count": bad.len(),
        "first_error": bad.first().map(bad_json),
        "errors": errors,
        "bad_reads": bad.iter().take(common::LIST_CAP).map(bad_json).collect::<Vec<_>>(),
    });

    let source = if given.is_some() {
        "given by --total-amount"
    } else {
        "the first ok read's"
    };
    let mut explanation = vec![format!(
        "expected total {total} ({source}) over the {} of the first ok read on {}; {} checked",
        common::count(accounts.len(), "account"),
        common::whereabouts(first.op),
        common::count(reads.len(), "ok read")
    )];
    let valid = if bad.is_empty() {
        explanation.push(if opts.negative_balances {
            "every read has the expected accounts and total (negative balances allowed)".into()
        } else {
            "every read has the expected accounts and total, and no negative balance".into()
        });
        Validity::Valid
    } else {
        explanation.push(format!(
            "{} the invariant:",
            common::count_verb(bad.len(), "read", "break")
        ));
        common::push_capped(
            &mut explanation,
            bad.iter(),
            "details.bad_reads, details.errors",
            |b| describe(b, total),
        );
        Validity::Invalid
    };
    let anomalies = by_kind.keys().map(|k| k.to_string()).collect();
    Ok(common::report(
        "bank",
        ops,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    ))
}

fn transfer_shape(file: &str, op: &Operation) -> Result<(), InputError> {
    let v = common::argument(op);
    let err = |what: &str| {
        InputError::new(
            file,
            op.invoke_line,
            format!(
                "expected a transfer value {{from, to, amount}} with {what}, found {}",
                common::show(v)
            ),
        )
    };
    let Value::Object(m) = v else {
        return Err(err("a map"));
    };
    for k in ["from", "to"] {
        if m.get(k).map_or(true, Value::is_null) {
            return Err(err(&format!("a {k} account")));
        }
    }
    match m.get("amount") {
        Some(a) if common::integer(a).is_some() => Ok(()),
        _ => Err(err("an integer amount")),
    }
}

fn parse_read<'a>(file: &str, op: &'a Operation) -> Result<Read<'a>, InputError> {
    let line = common::result_line(op);
    let Value::Object(m) = &op.output else {
        return Err(InputError::new(
            file,
            line,
            format!(
                "expected a map of account to balance as the value of an ok :read, found {}",
                common::show(&op.output)
            ),
        ));
    };
    let mut balances = Vec::with_capacity(m.len());
    for (k, v) in m {
        let b = match v {
            Value::Null => None,
            other => Some(common::integer(other).ok_or_else(|| {
                InputError::new(
                    file,
                    line,
                    format!(
                        "expected an integer or null balance for account {k}, found {}",
                        common::show(other)
                    ),
                )
            })?),
        };
        balances.push((k.clone(), b));
    }
    Ok(Read { op, balances })
}

/// The first rule a read breaks, if any.
fn judge<'a>(
    r: &'a Read<'a>,
    accounts: &BTreeSet<&str>,
    total: i128,
    negative_ok: bool,
) -> Option<BadRead<'a>> {
    let pick = |f: &dyn Fn(&Balance) -> bool| -> Vec<String> {
        r.balances
            .iter()
            .filter(|b| f(b))
            .map(|(a, _)| a.clone())
            .collect()
    };
    let bad = |kind, accounts, total| {
        Some(BadRead {
            kind,
            read: r,
            accounts,
            total,
        })
    };
    let unexpected = pick(&|(a, _)| !accounts.contains(a.as_str()));
    if !unexpected.is_empty() {
        return bad("unexpected-key", unexpected, None);
    }
    let nils = pick(&|(_, b)| b.is_none());
    if !nils.is_empty() {
        return bad("nil-balance", nils, None);
    }
    let sum: i128 = r.balances.iter().filter_map(|(_, b)| *b).sum();
    if sum != total {
        return bad("wrong-total", Vec::new(), Some(sum));
    }
    let negative = pick(&|(_, b)| b.is_some_and(|x| x < 0));
    if !negative.is_empty() && !negative_ok {
        return bad("negative-value", negative, None);
    }
    None
}

/// Jepsen's "how bad": bigger is worse.
fn badness(b: &BadRead, total: i128) -> f64 {
    match b.kind {
        "wrong-total" if total > 0 => ((b.total.unwrap_or(0) - total) as f64 / total as f64).abs(),
        "wrong-total" => 0.0,
        "negative-value" => {
            -(b.read
                .balances
                .iter()
                .filter_map(|(_, x)| *x)
                .filter(|x| *x < 0)
                .sum::<i128>() as f64)
        }
        _ => b.accounts.len() as f64,
    }
}

fn num(n: i128) -> Value {
    i64::try_from(n).map_or_else(|_| Value::String(n.to_string()), Value::from)
}

fn bad_json(b: &BadRead) -> Value {
    let op = b.read.op;
    let mut v = json!({
        "type": b.kind,
        "invoke_line": op.invoke_line,
        "complete_line": op.complete_line,
        "process": op.process.as_ref().map(|p| p.to_string()),
        "value": op.output,
    });
    match b.kind {
        "wrong-total" => v["total"] = b.total.map_or(Value::Null, num),
        "unexpected-key" => v["unexpected"] = json!(b.accounts),
        "nil-balance" => v["nils"] = json!(b.accounts),
        _ => v["negative"] = json!(b.accounts),
    }
    v
}

fn describe(b: &BadRead, total: i128) -> String {
    let balance = |a: &String| {
        b.read
            .balances
            .iter()
            .find(|(x, _)| x == a)
            .and_then(|(_, v)| *v)
            .map_or("null".to_string(), |v| v.to_string())
    };
    let what = match b.kind {
        "wrong-total" => format!(
            "wrong-total: balances add up to {}, not {total}",
            b.total.unwrap_or(0)
        ),
        "unexpected-key" => format!(
            "unexpected-key: account{} {} not in the first read",
            if b.accounts.len() == 1 { "" } else { "s" },
            b.accounts.join(", ")
        ),
        "nil-balance" => format!("nil-balance: no balance for {}", b.accounts.join(", ")),
        _ => format!(
            "negative-value: {}",
            b.accounts
                .iter()
                .map(|a| format!("account {a} = {}", balance(a)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("- read on {}: {what}", common::whereabouts(b.read.op))
}
