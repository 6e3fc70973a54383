//! Jepsen's total-queue checker (`--workload total-queue`): clients `enqueue` values and
//! `dequeue` them (an ok dequeue's value is the element it got; an empty queue is a `fail`
//! dequeue); a final drain empties the queue, either as more dequeues or as one `drain`
//! operation whose ok value is the list of elements it got (Jepsen's `:drain`, expanded into
//! dequeues as Jepsen's `expand-queue-drain-ops` does). Order is not judged, only which
//! elements came out how often. With the elements as multisets:
//!
//! - attempted: the values of every enqueue invocation (whatever its outcome, as in Jepsen);
//! - acknowledged: the values of ok enqueues;
//! - dequeued: the values of ok dequeues and of ok drains' lists;
//! - lost = acknowledged − dequeued: an acknowledged enqueue that never came out — invalid;
//! - unexpected: dequeued values no enqueue ever attempted — invalid;
//! - duplicated: dequeued more often than attempted (at-least-once delivery) — reported, valid;
//! - recovered: dequeued values whose enqueue was not acknowledged (info, fail, or never
//!   completed) — reported, valid.
//!
//! Valid iff nothing is lost and nothing is unexpected (Jepsen's rule). One addition for
//! honesty: a lost element is only lost if the queue was drained after its enqueue. When the
//! history shows no drain — no ok `drain` and no `fail` dequeue that found the queue empty
//! (error or value `empty`, or Jepsen's `exhausted`; a dequeue refused for want of a
//! connection proves nothing) invoked after
//! the last ok enqueue and the last indeterminate (info or pending) dequeue completed, since an
//! element such a dequeue held may be requeued — lost candidates may still sit in the queue,
//! and the verdict is unknown instead of invalid.

use super::common::{self, Elem};
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::Report;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Per element: how many enqueues attempted it, how many were acknowledged, how many times it
/// was dequeued, and the first operation of each kind (for explanations).
#[derive(Debug, Default)]
struct Tally<'a> {
    attempted: usize,
    acknowledged: usize,
    dequeued: usize,
    first_ack: Option<&'a Operation>,
    first_dequeue: Option<&'a Operation>,
}

/// The multiset arithmetic of one element: (ok, lost, unexpected, duplicated, recovered).
fn classify(t: &Tally) -> (usize, usize, usize, usize, usize) {
    let ok = t.dequeued.min(t.attempted);
    let lost = t.acknowledged.saturating_sub(t.dequeued);
    let unexpected = if t.attempted == 0 { t.dequeued } else { 0 };
    let duplicated = if t.attempted == 0 {
        0
    } else {
        t.dequeued.saturating_sub(t.attempted)
    };
    let recovered = ok.saturating_sub(t.acknowledged);
    (ok, lost, unexpected, duplicated, recovered)
}

/// Whether a failed dequeue says it found the queue empty: its error (or value) is `empty`
/// (faultline's clients) or `exhausted` (Jepsen's RabbitMQ test).
fn found_empty(op: &Operation) -> bool {
    [op.error.as_deref(), Some(&op.output)]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|e| matches!(e.trim_start_matches(':'), "empty" | "exhausted"))
}

/// Checks a queue history.
pub fn check(
    file: &str,
    ops: &[Operation],
    _opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    // Only the time limit applies here (the queue checker never counted memory).
    let mut tally: BTreeMap<Elem, Tally> = BTreeMap::new();
    // The last completion of an ok enqueue or an indeterminate dequeue.
    let mut last_ack: Option<usize> = None;
    let mut drains: Vec<&Operation> = Vec::new();
    let mut empties: Vec<&Operation> = Vec::new();
    let client = common::client_ops(file, ops, "total-queue", &["enqueue", "dequeue", "drain"])?;
    for &(op, f) in &client {
        match (f, op.outcome) {
            ("enqueue", outcome) => {
                let t = tally.entry(Elem(common::argument(op).clone())).or_default();
                t.attempted += 1;
                if outcome == Outcome::Ok {
                    t.acknowledged += 1;
                    t.first_ack.get_or_insert(op);
                    let done = op.complete.unwrap_or(op.invoke);
                    last_ack = Some(last_ack.map_or(done, |l| l.max(done)));
                }
            }
            ("dequeue", Outcome::Ok) => {
                let t = tally.entry(Elem(op.output.clone())).or_default();
                t.dequeued += 1;
                t.first_dequeue.get_or_insert(op);
            }
            ("dequeue", Outcome::Fail) if found_empty(op) => empties.push(op),
            // Refused for another reason (no connection): proves nothing about the queue.
            ("dequeue", Outcome::Fail) => {}
            // An indeterminate dequeue may hold an element that the broker hands out again
            // later (a requeue): only a drain after it settles whether that element is lost.
            ("dequeue", _) => {
                let done = op.complete.unwrap_or(op.invoke);
                last_ack = Some(last_ack.map_or(done, |l| l.max(done)));
            }
            ("drain", Outcome::Ok) => {
                let Some(items) = op.output.as_array() else {
                    return Err(InputError::new(
                        file,
                        common::result_line(op),
                        format!(
                            "expected a list of elements as the value of an ok :drain, found {}",
                            common::show(&op.output)
                        ),
                    ));
                };
                for item in items {
                    let t = tally.entry(Elem(item.clone())).or_default();
                    t.dequeued += 1;
                    t.first_dequeue.get_or_insert(op);
                }
                drains.push(op);
            }
            // An info or pending dequeue or drain observed nothing; a failed drain neither.
            _ => {}
        }
    }
    if budget.time_exceeded() {
        return Ok(common::unknown(
            "total-queue",
            ops,
            budget,
            "the time limit ran out".into(),
            json!({}),
        ));
    }
    // Evidence that the queue was found empty after every acknowledged enqueue and every
    // indeterminate dequeue had completed.
    let drained = match last_ack {
        None => true,
        Some(l) => drains.iter().chain(&empties).any(|op| op.invoke > l),
    };

    let mut lists: [Vec<(&Value, usize, &Tally)>; 5] = Default::default();
    let mut counts = [0usize; 5];
    for (elem, t) in &tally {
        let (ok, lost, unexpected, duplicated, recovered) = classify(t);
        for (i, n) in [ok, lost, unexpected, duplicated, recovered]
            .into_iter()
            .enumerate()
        {
            if n > 0 {
                counts[i] += n;
                lists[i].push((&elem.0, n, t));
            }
        }
    }
    let [_, lost, unexpected, duplicated, recovered] = &lists;
    let [ok_n, lost_n, unexpected_n, duplicated_n, recovered_n] = counts;
    let attempted: usize = tally.values().map(|t| t.attempted).sum();
    let acknowledged: usize = tally.values().map(|t| t.acknowledged).sum();
    let dequeued: usize = tally.values().map(|t| t.dequeued).sum();
    let values = |l: &[(&Value, usize, &Tally)]| common::capped(l.iter().map(|(v, _, _)| *v));
    let details = json!({
        "attempt_count": attempted,
        "acknowledged_count": acknowledged,
        "dequeue_count": dequeued,
        "ok_count": ok_n,
        "lost_count": lost_n,
        "unexpected_count": unexpected_n,
        "duplicated_count": duplicated_n,
        "recovered_count": recovered_n,
        "drained": drained,
        "lost": values(lost),
        "unexpected": values(unexpected),
        "duplicated": values(duplicated),
        "recovered": values(recovered),
    });

    let mut explanation = vec![format!(
        "{} attempted, {} acknowledged; {} dequeued ({} of them once each)",
        common::count(attempted, "enqueue"),
        acknowledged,
        common::count(dequeued, "element"),
        ok_n
    )];
    let mut anomalies = Vec::new();
    if !lost.is_empty() {
        anomalies.push("lost".to_string());
        explanation.push(format!(
            "lost: {} acknowledged by an ok enqueue but never dequeued:",
            common::count(lost_n, "element")
        ));
        common::push_capped(
            &mut explanation,
            lost.iter(),
            "details.lost",
            |(v, _, t)| match t.first_ack {
                Some(op) => format!(
                    "- {}, enqueued ok on {}",
                    common::show(v),
                    common::whereabouts(op)
                ),
                None => format!("- {}", common::show(v)),
            },
        );
    }
    if !unexpected.is_empty() {
        anomalies.push("unexpected".to_string());
        explanation.push(format!(
            "unexpected: {} dequeued that no enqueue ever attempted:",
            common::count(unexpected_n, "element")
        ));
        common::push_capped(
            &mut explanation,
            unexpected.iter(),
            "details.unexpected",
            |(v, _, t)| match t.first_dequeue {
                Some(op) => format!(
                    "- {}, dequeued on {}",
                    common::show(v),
                    common::whereabouts(op)
                ),
                None => format!("- {}", common::show(v)),
            },
        );
    }
    if !duplicated.is_empty() {
        explanation.push(format!(
            "duplicated (allowed: at-least-once delivery): {} dequeued more often than enqueued \
             ({} extra deliveries): {}",
            common::count(duplicated.len(), "element"),
            duplicated_n,
            common::sample(duplicated.iter().map(|(v, _, _)| *v), duplicated.len(), 20)
        ));
    }
    if !recovered.is_empty() {
        explanation.push(format!(
            "recovered (fine): {} whose enqueue was not acknowledged but came out: {}",
            common::count(recovered_n, "element"),
            common::sample(recovered.iter().map(|(v, _, _)| *v), recovered.len(), 20)
        ));
    }
    let valid = if !unexpected.is_empty() || (!lost.is_empty() && drained) {
        Validity::Invalid
    } else if !lost.is_empty() {
        let reason = format!(
            "{} never dequeued, but the history never finds the queue empty after the last \
             acknowledged enqueue or indeterminate dequeue (no ok drain, no failed dequeue \
             after it): they may still be in the queue — end the run with a drain",
            common::count(lost_n, "acknowledged element")
        );
        let mut r = common::unknown("total-queue", ops, budget, reason, details);
        r.explanation = explanation;
        return Ok(r);
    } else {
        explanation.push("every acknowledged enqueue was dequeued".to_string());
        Validity::Valid
    };
    Ok(common::report(
        "total-queue",
        ops,
        budget,
        valid,
        anomalies,
        explanation,
        details,
    ))
}
