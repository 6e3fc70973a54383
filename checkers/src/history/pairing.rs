//! Pairing: invocations matched with their completions, per process.
//!
//! A process has at most one outstanding invocation; its next completion completes it. An
//! invocation never completed is indeterminate, exactly like an `info` completion. A completion
//! without an invocation, or a second invocation while one is pending, is malformed input.
//! Events of non-client processes (`nemesis`, …) that are lone `info` records are kept as
//! [`Operation`]s with [`Outcome::Info`] and `client == false`, so reports can show them.

use super::{Event, EventType, History, Process};
use crate::InputError;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Took effect exactly once between invocation and completion; `output` is its result.
    Ok,
    /// Certainly did not take effect.
    Fail,
    /// Indeterminate: an `info` completion, or an invocation that never completed.
    Info,
}

impl Outcome {
    /// The name used in files and reports (`ok`, `fail`, `info`).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// An invocation paired with its completion (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Position of this operation in the paired list (ordered by invocation).
    pub id: usize,
    /// Who issued it.
    pub process: Option<Process>,
    /// False for operations of non-client processes (nemesis), which are never checked.
    pub client: bool,
    /// The operation name.
    pub f: Option<String>,
    /// The `key` field (of the invocation, or of the completion if only it has one).
    pub key: Option<Value>,
    /// The argument: the invocation's value.
    pub input: Value,
    /// The completion's value (`null` when there is no completion).
    pub output: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// Position (0-based, in file order) of the invocation event in `History::events`.
    pub invoke: usize,
    /// Position of the completion event; `None` when it never completed.
    pub complete: Option<usize>,
    /// 1-based line of the invocation.
    pub invoke_line: usize,
    /// 1-based line of the completion, if any.
    pub complete_line: Option<usize>,
    /// `time` of the invocation, if the file has times.
    pub invoke_time: Option<i64>,
    /// `time` of the completion, if any.
    pub complete_time: Option<i64>,
    /// The completion's `error` field, if any (boxed: most operations have none, and a
    /// history holds millions of operations).
    pub error: Option<Box<Value>>,
}

impl Operation {
    /// True when the operation may or may not have taken effect.
    pub fn indeterminate(&self) -> bool {
        self.outcome == Outcome::Info
    }
}

/// Pairs the events of `history` into operations ordered by invocation.
///
/// Errors (exit 254): a completion whose process has no pending invocation, a second invocation
/// while one is pending, a completion whose `f` differs from its invocation's, or a client
/// event without a `process`.
pub fn pair(history: &History) -> Result<Vec<Operation>, InputError> {
    pair_with(history, false)
}

/// Like [`pair`], but events without a `process` are paired as one unnamed client thread
/// (`Operation::process` is `None`), as Jepsen does with a nil `:process`. For checkers that
/// need only completed values (Jepsen's long-fork reads), whose published histories omit
/// processes; the same pairing errors apply to that thread.
pub fn pair_anonymous(history: &History) -> Result<Vec<Operation>, InputError> {
    pair_with(history, true)
}

/// The unnamed thread's stand-in key in the pending map (never shown: its operations carry
/// `process: None`).
fn anonymous() -> Process {
    Process::Named(String::new())
}

fn pair_with(history: &History, allow_anonymous: bool) -> Result<Vec<Operation>, InputError> {
    let mut pairer = Pairer::new(&history.source, allow_anonymous);
    for ev in &history.events {
        pairer.push(ev)?;
    }
    Ok(pairer.finish())
}

/// Pairing one event at a time, in file order: what [`pair`] and [`pair_anonymous`] do over a
/// whole [`History`], for readers that stream events and drop each one once it is paired
/// (`super::stream`). Positions ([`Operation::invoke`], [`Operation::complete`]) count the
/// events pushed so far.
pub(crate) struct Pairer<'a> {
    file: &'a str,
    allow_anonymous: bool,
    ops: Vec<Operation>,
    pending: HashMap<Process, usize>,
    pos: usize,
}

impl<'a> Pairer<'a> {
    /// A pairer for the events of `file`; `allow_anonymous` as in [`pair_anonymous`].
    pub(crate) fn new(file: &'a str, allow_anonymous: bool) -> Self {
        Pairer {
            file,
            allow_anonymous,
            ops: Vec::new(),
            pending: HashMap::new(),
            pos: 0,
        }
    }

    /// The operations paired so far (the last ones may still be waiting for completions).
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    /// Room for how many operations is allocated.
    pub(crate) fn capacity(&self) -> usize {
        self.ops.capacity()
    }

    /// Reserves room for about `n` more operations.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.ops.reserve(n);
    }

    /// The paired operations, ordered by invocation.
    pub(crate) fn finish(self) -> Vec<Operation> {
        self.ops
    }

    /// Pairs the next event of the file.
    pub(crate) fn push(&mut self, ev: &Event) -> Result<(), InputError> {
        self.push_cow(Cow::Borrowed(ev))
    }

    /// Pairs the next event of the file, moving its values into the operation instead of
    /// copying them.
    pub(crate) fn push_owned(&mut self, ev: Event) -> Result<(), InputError> {
        self.push_cow(Cow::Owned(ev))
    }

    fn push_cow(&mut self, ev: Cow<'_, Event>) -> Result<(), InputError> {
        let pos = self.pos;
        self.pos += 1;
        let file = self.file;
        let ops = &mut self.ops;
        let pending = &mut self.pending;
        let Some(process) = ev
            .process
            .clone()
            .or_else(|| self.allow_anonymous.then(anonymous))
        else {
            return Err(InputError::new(
                file,
                ev.line,
                "expected a :process on every operation for this checker; this event has none",
            ));
        };
        let named = ev.process.is_some();
        let who = || {
            if named {
                format!("process {process}")
            } else {
                "the events without a :process".to_string()
            }
        };
        if named && !process.is_client() {
            // Faults and other non-client records: kept for reports, never paired or checked.
            if ev.kind == EventType::Invoke {
                if let Some(&open) = pending.get(&process) {
                    ops[open].outcome = Outcome::Info;
                }
                pending.insert(process.clone(), ops.len());
            } else if let Some(open) = pending.remove(&process) {
                complete(&mut ops[open], ev, pos);
                return Ok(());
            }
            let kind = ev.kind;
            if kind == EventType::Invoke {
                ops.push(new_op(ops.len(), &process, ev, pos, false));
            } else {
                ops.push(new_op(ops.len(), &process, Cow::Borrowed(&*ev), pos, false));
                let last = ops.last_mut().expect("just pushed");
                complete(last, ev, pos);
            }
            return Ok(());
        }
        match ev.kind {
            EventType::Invoke => {
                if let Some(&open) = pending.get(&process) {
                    return Err(InputError::new(
                        file,
                        ev.line,
                        format!(
                            "expected a completion (ok/fail/info) for {}'s invocation on line {} before its next invocation, found another invocation",
                            who(),
                            ops[open].invoke_line
                        ),
                    ));
                }
                let mut op = new_op(ops.len(), &process, ev, pos, true);
                if !named {
                    op.process = None;
                }
                pending.insert(process, ops.len());
                ops.push(op);
            }
            _ => {
                let Some(open) = pending.remove(&process) else {
                    return Err(InputError::new(
                        file,
                        ev.line,
                        format!(
                            "expected an invocation by {} before this {} completion, found none pending",
                            who(),
                            ev.kind.name()
                        ),
                    ));
                };
                let op = &mut ops[open];
                if let (Some(a), Some(b)) = (&op.f, &ev.f) {
                    if a != b {
                        return Err(InputError::new(
                            file,
                            ev.line,
                            format!(
                                "expected the completion of {}'s :{a} (invoked on line {}), found a completion of :{b}",
                                who(),
                                op.invoke_line
                            ),
                        ));
                    }
                }
                if let (Some(a), Some(b)) = (&op.key, &ev.key) {
                    if a != b {
                        return Err(InputError::new(
                            file,
                            ev.line,
                            format!(
                                "expected the completion of {}'s operation on key {} (invoked on line {}), found key {}",
                                who(),
                                super::read::show(a),
                                op.invoke_line,
                                super::read::show(b)
                            ),
                        ));
                    }
                }
                complete(op, ev, pos);
            }
        }
        Ok(())
    }
}

fn new_op(id: usize, process: &Process, ev: Cow<'_, Event>, pos: usize, client: bool) -> Operation {
    let (line, time) = (ev.line, ev.time);
    let (f, key, input) = match ev {
        Cow::Borrowed(e) => (e.f.clone(), e.key.clone(), e.value.clone()),
        Cow::Owned(e) => (e.f, e.key, e.value),
    };
    Operation {
        id,
        process: Some(process.clone()),
        client,
        f,
        key,
        input,
        output: Value::Null,
        outcome: Outcome::Info,
        invoke: pos,
        complete: None,
        invoke_line: line,
        complete_line: None,
        invoke_time: time,
        complete_time: None,
        error: None,
    }
}

fn complete(op: &mut Operation, ev: Cow<'_, Event>, pos: usize) {
    op.outcome = match ev.kind {
        EventType::Ok => Outcome::Ok,
        EventType::Fail => Outcome::Fail,
        EventType::Info | EventType::Invoke => Outcome::Info,
    };
    op.complete = Some(pos);
    op.complete_line = Some(ev.line);
    op.complete_time = ev.time;
    let (f, key, output, error) = match ev {
        Cow::Borrowed(e) => (
            op.f.is_none().then(|| e.f.clone()).flatten(),
            op.key.is_none().then(|| e.key.clone()).flatten(),
            e.value.clone(),
            e.error.clone(),
        ),
        Cow::Owned(e) => (e.f, e.key, e.value, e.error),
    };
    op.output = output;
    op.error = error.map(Box::new);
    if op.key.is_none() {
        op.key = key;
    }
    if op.f.is_none() {
        op.f = f;
    }
}
