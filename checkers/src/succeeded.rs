//! The rule every checker's report passes through (like Jepsen's `stats` checker): a history
//! in which no client operation — or no operation of some kind — ever succeeded cannot be
//! `valid`, however well the model explains it. Pointed at a database that is down, every
//! operation fails; a failed operation took no effect, so any model accepts the history, and
//! a CI gate would pass. [`judge`] turns such a `valid` verdict into `unknown` with a typed
//! reason ([`NothingSucceeded`]): which kinds never succeeded and the errors seen most.
//!
//! The rule, on client operations only (nemesis operations are never counted):
//! - at least one client operation was invoked and none completed `ok`; or
//! - some kind of operation (its `f`: `read`, `write`, `txn`, …) was invoked at least
//!   [`MIN_ATTEMPTS`] times and every one of them ended `fail` or `info` (or never completed).
//!
//! Kinds tried fewer than [`MIN_ATTEMPTS`] times are left alone (a hand-written history with
//! one failed write is judged by its checker), and so are the kinds whose `fail` is an answer
//! of the system rather than a failure to reach it ([`ANSWERING_FAIL`]: a `cas` whose expected
//! value did not match, a dequeue from an empty queue, a lock held by someone else): Jepsen's
//! published etcd and Knossos histories in which every `cas` failed are valid, and stay so.
//! Those kinds still count for the first rule.
//! An `invalid` verdict is kept (a violation found among the operations that succeeded is
//! real), and so is an `unknown` one (its own reason stands). A history with no client
//! operation at all is left to its checker.

use crate::history::{CompactHistory, Operation, Outcome};
use crate::verdict::{Report, Validity};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A kind of operation is judged on its own once it was invoked this many times.
pub const MIN_ATTEMPTS: usize = 10;

/// Kinds whose `fail` is a legitimate answer, left out of the per-kind rule.
pub const ANSWERING_FAIL: &[&str] = &["cas", "dequeue", "deq", "acquire", "release"];

/// How many of the most frequent errors a [`NothingSucceeded`] names.
const TOP_ERRORS: usize = 3;

/// One kind of operation that never succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindTally {
    /// The operation's `f` (`(none)` when the history has no `f`).
    pub f: String,
    /// How many times it was invoked.
    pub attempts: usize,
    /// How many ended `fail`.
    pub fail: usize,
    /// How many ended `info` or never completed.
    pub info: usize,
}

/// An error value and how many non-`ok` completions carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    /// The `error` field, as text (a string without its quotes, anything else as JSON).
    pub error: String,
    /// How many completions carried it.
    pub count: usize,
}

/// Why a history that its checker found valid is `unknown`: nothing, or nothing of some kind,
/// ever succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NothingSucceeded {
    /// True when no client operation at all completed `ok`.
    pub no_ok_at_all: bool,
    /// Client operations invoked.
    pub attempts: usize,
    /// The kinds that never succeeded (every kind when `no_ok_at_all`), by `f`.
    pub kinds: Vec<KindTally>,
    /// The errors seen most on client operations that did not succeed, most frequent first.
    pub errors: Vec<ErrorCount>,
}

impl NothingSucceeded {
    /// Words the reason for a person, for `unknown_reason`.
    pub fn describe(&self) -> String {
        let kinds = self
            .kinds
            .iter()
            .map(|k| {
                format!(
                    "{} ({} tried: {} fail, {} info)",
                    k.f, k.attempts, k.fail, k.info
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut s = if self.no_ok_at_all {
            format!(
                "no client operation succeeded ({} tried, none ok: {kinds}), so the check is vacuous — was the system under test reachable?",
                self.attempts
            )
        } else {
            format!("some kinds of operation never succeeded: {kinds}; the check says nothing about them")
        };
        if !self.errors.is_empty() {
            let errors = self
                .errors
                .iter()
                .map(|e| format!("{} ×{}", e.error, e.count))
                .collect::<Vec<_>>()
                .join(", ");
            s.push_str(&format!("; errors seen most: {errors}"));
        }
        s
    }
}

/// Applies the rule to `ops`: `Some` when the history is vacuous in the sense above.
pub fn nothing_succeeded(ops: &[Operation]) -> Option<NothingSucceeded> {
    tally(
        ops.iter()
            .filter(|o| o.client)
            .map(|op| (op.f.as_deref(), op.outcome, op.error.as_deref())),
    )
}

/// [`judge`] for a history read compactly ([`CompactHistory`]): the same rule over the same
/// client operations.
pub fn judge_compact(report: &mut Report, history: &CompactHistory) {
    if report.valid != Validity::Valid {
        return;
    }
    let ops = history.ops.iter().filter(|o| o.client());
    if let Some(why) = tally(ops.map(|op| (history.f(op), op.outcome(), history.error(op)))) {
        report.valid = Validity::Unknown;
        report.unknown_reason = Some(why.describe());
        report.nothing_succeeded = Some(why);
    }
}

/// The rule over client operations given as (`f`, outcome, error).
fn tally<'a>(
    ops: impl Iterator<Item = (Option<&'a str>, Outcome, Option<&'a Value>)>,
) -> Option<NothingSucceeded> {
    #[derive(Default)]
    struct Tally {
        attempts: usize,
        ok: usize,
        fail: usize,
        info: usize,
    }
    let mut kinds: BTreeMap<String, Tally> = BTreeMap::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut attempts = 0;
    let mut ok = 0;
    for (f, outcome, error) in ops {
        attempts += 1;
        let t = match kinds.get_mut(f.unwrap_or("(none)")) {
            Some(t) => t,
            None => kinds.entry(f.unwrap_or("(none)").to_string()).or_default(),
        };
        t.attempts += 1;
        match outcome {
            Outcome::Ok => {
                t.ok += 1;
                ok += 1;
            }
            Outcome::Fail => t.fail += 1,
            Outcome::Info => t.info += 1,
        }
        if outcome != Outcome::Ok {
            if let Some(e) = error.filter(|e| !e.is_null()) {
                let text = match e {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                *errors.entry(text).or_default() += 1;
            }
        }
    }
    if attempts == 0 {
        return None;
    }
    let no_ok_at_all = ok == 0;
    let never: Vec<KindTally> = kinds
        .into_iter()
        .filter(|(f, t)| {
            t.ok == 0
                && (no_ok_at_all
                    || (t.attempts >= MIN_ATTEMPTS && !ANSWERING_FAIL.contains(&f.as_str())))
        })
        .map(|(f, t)| KindTally {
            f,
            attempts: t.attempts,
            fail: t.fail,
            info: t.info,
        })
        .collect();
    if never.is_empty() {
        return None;
    }
    let mut errors: Vec<ErrorCount> = errors
        .into_iter()
        .map(|(error, count)| ErrorCount { error, count })
        .collect();
    errors.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.error.cmp(&b.error)));
    errors.truncate(TOP_ERRORS);
    Some(NothingSucceeded {
        no_ok_at_all,
        attempts,
        kinds: never,
        errors,
    })
}

/// Turns a `valid` report into `unknown` when [`nothing_succeeded`] says the history is
/// vacuous; any other verdict is kept as it is.
pub fn judge(report: &mut Report, ops: &[Operation]) {
    if report.valid != Validity::Valid {
        return;
    }
    if let Some(why) = nothing_succeeded(ops) {
        report.valid = Validity::Unknown;
        report.unknown_reason = Some(why.describe());
        report.nothing_succeeded = Some(why);
    }
}
