//! Jepsen's set-full checker (`--workload set-full`): clients `add` single elements and `read`
//! the whole set (a list), as often as they like. Each element gets a timeline:
//!
//! - known: the ok completion of its add, or the first ok read that contains it, whichever
//!   comes first in the file;
//! - last present / last absent: the latest-invoked ok read (completed after the add was
//!   invoked) that contains it / misses it;
//! - stable: read present, and no read invoked after that last presence misses it;
//! - lost: known, and the latest read to miss it was invoked after it was known and after
//!   every read that saw it — invalid;
//! - never read: neither (e.g. no read began after it was known).
//!
//! A stable element is stale when some read invoked after it was known missed it (allowed:
//! Jepsen's default is not `linearizable?`; reported with latencies). A read returning an
//! element twice (`duplicated`) or an element no add attempted (`unexpected`) is invalid. No
//! stable element at all gives unknown, as in Jepsen. Latencies use the `time` fields
//! (nanoseconds) and are reported in milliseconds; decisions use file order only.

use super::common::{self, Elem};
use super::set_full_timeline::{
    is_stale, judge, lost_latency, quantiles, stable_latency, Fate, Track,
};
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::Report;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Checks a set-full history.
pub fn check(
    file: &str,
    ops: &[Operation],
    _opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    // Every event of a client op, in file order: (position, op, is the completion).
    let mut events: Vec<(usize, &Operation, bool)> = Vec::new();
    for (op, f) in common::client_ops(file, ops, "set-full", &["add", "read"])? {
        if f == "read" && op.outcome == Outcome::Ok && !op.output.is_array() {
            return Err(InputError::new(
                file,
                common::result_line(op),
                format!(
                    "expected a list of elements as the value of an ok :read, found {}",
                    common::show(&op.output)
                ),
            ));
        }
        events.push((op.invoke, op, false));
        if let Some(done) = op.complete {
            events.push((done, op, true));
        }
    }
    events.sort_by_key(|(pos, _, _)| *pos);

    let mut index: BTreeMap<Elem, usize> = BTreeMap::new();
    let mut tracks: Vec<Track> = Vec::new();
    let mut stamp: Vec<usize> = Vec::new();
    let mut duplicated: BTreeMap<Elem, (usize, &Operation)> = BTreeMap::new();
    // Values read that no add attempted (decided at the end), with the first read showing them.
    let mut read_values: BTreeMap<Elem, &Operation> = BTreeMap::new();
    let mut read_count = 0usize;
    for (_, op, completion) in events {
        let is_add = op.f.as_deref() == Some("add");
        if is_add && !completion {
            let element = common::argument(op).clone();
            let fresh = Track {
                element: element.clone(),
                known: None,
                last_present: None,
                last_absent: None,
            };
            // A second add of the same element starts its timeline again, as in Jepsen.
            match index.get(&Elem(element.clone())) {
                Some(&i) => tracks[i] = fresh,
                None => {
                    index.insert(Elem(element), tracks.len());
                    tracks.push(fresh);
                    stamp.push(0);
                }
            }
        } else if is_add && completion && op.outcome == Outcome::Ok {
            if let Some(&i) = index.get(&Elem(common::argument(op).clone())) {
                tracks[i].known.get_or_insert(op);
            }
        } else if !is_add && completion && op.outcome == Outcome::Ok {
            if let Some(spent) = common::spent(budget) {
                return Ok(common::unknown(
                    "set-full",
                    ops,
                    budget,
                    format!(
                        "{spent} after {read_count} reads, before the read on {}",
                        common::whereabouts(op)
                    ),
                    json!({ "read_count": read_count }),
                ));
            }
            read_count += 1;
            let values = op.output.as_array().map(Vec::as_slice).unwrap_or(&[]);
            let mut counts: BTreeMap<Elem, usize> = BTreeMap::new();
            for v in values {
                *counts.entry(Elem(v.clone())).or_default() += 1;
            }
            for (e, n) in counts {
                if let Some(&i) = index.get(&e) {
                    stamp[i] = read_count;
                }
                if n > 1 && duplicated.get(&e).map_or(true, |(m, _)| n > *m) {
                    duplicated.insert(e.clone(), (n, op));
                }
                read_values.entry(e).or_insert(op);
            }
            for (t, s) in tracks.iter_mut().zip(&stamp) {
                let slot = if *s == read_count {
                    t.known.get_or_insert(op);
                    &mut t.last_present
                } else {
                    &mut t.last_absent
                };
                if slot.map_or(true, |prev| prev.invoke < op.invoke) {
                    *slot = Some(op);
                }
            }
        }
    }

    let attempted: BTreeSet<Elem> = ops
        .iter()
        .filter(|o| o.client && o.f.as_deref() == Some("add"))
        .map(|o| Elem(common::argument(o).clone()))
        .collect();
    let unexpected: Vec<(&Value, &Operation)> = read_values
        .iter()
        .filter(|(e, _)| !attempted.contains(e))
        .map(|(e, op)| (&e.0, *op))
        .collect();
    let results: Vec<(Fate, &Track)> = tracks.iter().map(|t| (judge(t), t)).collect();
    let of = |o: Fate| -> Vec<&Track> {
        results
            .iter()
            .filter(|(r, _)| *r == o)
            .map(|(_, t)| *t)
            .collect()
    };
    let (stable, lost, never) = (of(Fate::Stable), of(Fate::Lost), of(Fate::NeverRead));
    let mut stale: Vec<(&Track, Option<i64>)> = stable
        .iter()
        .filter(|t| is_stale(t))
        .map(|t| (*t, stable_latency(t)))
        .collect();
    stale.sort_by_key(|(_, ms)| std::cmp::Reverse(*ms));
    let stable_latencies: Vec<i64> = stable.iter().filter_map(|t| stable_latency(t)).collect();
    let lost_latencies: Vec<i64> = lost.iter().filter_map(|t| lost_latency(t)).collect();

    let elements = |ts: &[&Track]| common::capped(ts.iter().map(|t| &t.element));
    let line = |op: Option<&Operation>| op.map(common::result_line);
    let invoked = |op: Option<&Operation>| op.map(|o| o.invoke_line);
    let details = json!({
        "read_count": read_count,
        "attempt_count": tracks.len(),
        "stable_count": stable.len(),
        "lost_count": lost.len(),
        "lost": elements(&lost),
        "lost_elements": lost.iter().take(common::LIST_CAP).map(|t| json!({
            "element": t.element,
            "known_line": line(t.known),
            "last_present_line": invoked(t.last_present),
            "last_absent_line": invoked(t.last_absent),
            "lost_latency_ms": lost_latency(t),
        })).collect::<Vec<_>>(),
        "never_read_count": never.len(),
        "never_read": elements(&never),
        "stale_count": stale.len(),
        "stale": common::capped(stale.iter().map(|(t, _)| &t.element)),
        "worst_stale": stale.iter().take(8).map(|(t, ms)| json!({
            "element": t.element,
            "stable_latency_ms": ms,
            "known_line": line(t.known),
            "last_absent_line": invoked(t.last_absent),
        })).collect::<Vec<_>>(),
        "stable_latencies": quantiles(stable_latencies),
        "lost_latencies": quantiles(lost_latencies),
        "duplicated_count": duplicated.len(),
        "duplicated": duplicated.iter().take(common::LIST_CAP).map(|(e, (n, op))| json!({
            "element": e.0, "max_count": n, "read_line": common::result_line(op),
        })).collect::<Vec<_>>(),
        "unexpected_count": unexpected.len(),
        "unexpected": common::capped(unexpected.iter().map(|(e, _)| *e)),
    });

    let mut explanation = vec![format!(
        "{} attempted, {}: {} stable, {} lost, {} never read; {} stale (allowed)",
        common::count(tracks.len(), "element"),
        common::count(read_count, "ok read"),
        stable.len(),
        lost.len(),
        never.len(),
        stale.len()
    )];
    let mut anomalies = Vec::new();
    if !lost.is_empty() {
        anomalies.push("lost".to_string());
        explanation.push(format!(
            "lost: {} known to be in the set, then missing from every later read:",
            common::count(lost.len(), "element")
        ));
        common::push_capped(
            &mut explanation,
            lost.iter().copied(),
            "details.lost",
            describe_lost,
        );
    }
    if !duplicated.is_empty() {
        anomalies.push("duplicated".to_string());
        explanation.push(format!(
            "duplicated: {} returned more than once by one read:",
            common::count(duplicated.len(), "element")
        ));
        for (e, (n, op)) in duplicated.iter().take(common::EXPLAIN_CAP) {
            explanation.push(format!(
                "- {} appears {n} times in the read on {}",
                common::show(&e.0),
                common::whereabouts(op)
            ));
        }
    }
    if !unexpected.is_empty() {
        anomalies.push("unexpected".to_string());
        let (_, first) = unexpected
            .iter()
            .min_by_key(|(_, op)| op.invoke)
            .expect("not empty");
        explanation.push(format!(
            "unexpected: reads returned {} that no add attempted: {} (first in the read on {})",
            common::count(unexpected.len(), "value"),
            common::sample(unexpected.iter().map(|(e, _)| *e), unexpected.len(), 10),
            common::whereabouts(first)
        ));
    }
    let valid = if !anomalies.is_empty() {
        Validity::Invalid
    } else if stable.is_empty() {
        let mut r = common::unknown(
            "set-full",
            ops,
            budget,
            "no element was ever read stably (no ok read saw an added element after its add)"
                .to_string(),
            details,
        );
        r.explanation = explanation;
        return Ok(r);
    } else {
        explanation.push("no acknowledged element was lost".to_string());
        Validity::Valid
    };
    if let Some((t, _)) = stale.first() {
        explanation.push(format!(
            "stale (allowed): e.g. {} was known on line {} but missing from the read invoked on line {}",
            common::show(&t.element),
            line(t.known).unwrap_or(0),
            invoked(t.last_absent).unwrap_or(0)
        ));
    }
    Ok(common::report(
        "set-full",
        ops,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    ))
}

fn describe_lost(t: &Track) -> String {
    let known = t.known.map_or_else(String::new, |k| {
        let how = if k.f.as_deref() == Some("add") {
            "ok add"
        } else {
            "read"
        };
        format!("known from the {how} on {}", common::whereabouts(k))
    });
    let present = match t.last_present {
        Some(p) => format!("last seen by the read on {}", common::whereabouts(p)),
        None => "never seen by a read".to_string(),
    };
    let absent = t.last_absent.map_or_else(String::new, |a| {
        format!("; missing from the read on {}", common::whereabouts(a))
    });
    format!("- {}: {known}; {present}{absent}", common::show(&t.element))
}
