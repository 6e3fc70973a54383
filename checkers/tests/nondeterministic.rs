//! Non-deterministic models (a step may lead to several states, Porcupine#23) against an
//! exhaustive oracle.
//!
//! The model below is written the way a library user writes one, through the public API only:
//! a register whose writes a lossy replica may drop (`write v` leads to `v` or leaves the
//! state as it was) and whose `add` adds 1 or 2. Random small histories — overlapping
//! operations of a few processes, some `info`, some `fail`, reads that return arbitrary
//! values — are judged by [`checkers::check_operations`] and by a brute-force oracle that
//! tries every subset of the indeterminate operations and every order respecting real time,
//! following *every* next state. The verdicts must agree; an invalid verdict's counterexample
//! must replay through the states it shows.

use checkers::history::{read_history, Operation, Outcome};
use checkers::{
    check_operations, first_successor, Budget, CheckOptions, CompileCtx, Compiled, Model,
    ShapeError, Validity,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use std::cell::Cell;

/// Operations of the lossy register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LossyOp {
    /// Sets the register — or is lost and changes nothing.
    Write(i64),
    /// Adds 1 or 2.
    Add,
    /// A read that returned this value.
    Read(i64),
}

/// A register behind a lossy replica: the non-deterministic model under test.
struct Lossy;

impl Model for Lossy {
    type State = i64;
    type Op = LossyOp;

    fn name(&self) -> &'static str {
        "lossy-register"
    }

    fn init(
        &self,
        _initial: Option<&Value>,
        _key: Option<&Value>,
        _ctx: &mut CompileCtx,
    ) -> Result<i64, ShapeError> {
        Ok(0)
    }

    fn compile(
        &self,
        op: &Operation,
        _ctx: &mut CompileCtx,
    ) -> Result<Compiled<LossyOp>, ShapeError> {
        if op.outcome == Outcome::Fail {
            return Ok(Compiled::Skip);
        }
        let int = |v: &Value| {
            v.as_i64()
                .ok_or_else(|| ShapeError(format!("expected an integer, found {v}")))
        };
        let lop = match op.f.as_deref() {
            Some("write") => LossyOp::Write(int(&op.input)?),
            Some("add") => LossyOp::Add,
            Some("read") if op.outcome == Outcome::Ok => LossyOp::Read(int(&op.output)?),
            Some("read") => return Ok(Compiled::Skip),
            other => {
                return Err(ShapeError(format!(
                    "expected write, add or read, found {other:?}"
                )))
            }
        };
        Ok(Compiled::Op { key: None, op: lop })
    }

    fn step(&self, state: &i64, op: &LossyOp) -> Option<i64> {
        first_successor(self, state, op)
    }

    fn step_all(&self, state: &i64, op: &LossyOp, out: &mut Vec<i64>) {
        match *op {
            LossyOp::Write(v) => {
                out.push(v);
                if v != *state {
                    out.push(*state);
                }
            }
            LossyOp::Add => out.extend([state + 1, state + 2]),
            LossyOp::Read(v) => {
                if v == *state {
                    out.push(v);
                }
            }
        }
    }

    fn read_only(&self, op: &LossyOp) -> bool {
        matches!(op, LossyOp::Read(_))
    }

    fn show_state(&self, state: &i64, _ctx: &CompileCtx) -> Value {
        json!(state)
    }
}

/// One generated operation: kind, argument or result, outcome.
#[derive(Debug, Clone)]
struct GenOp {
    f: &'static str,
    value: i64,
    outcome: &'static str,
}

/// Interleaves the operations over `procs` processes as `schedule` says (each number picks
/// the process that acts next: invoke its next op, or complete its pending one) and writes
/// the history as JSON lines. An `info` retires its process (Jepsen's convention).
fn history(ops: &[GenOp], procs: usize, schedule: &[usize]) -> String {
    let mut lines = Vec::new();
    let mut pending: Vec<Option<&GenOp>> = vec![None; procs];
    let mut pid: Vec<usize> = (0..procs).collect();
    let mut next_pid = procs;
    let mut next_op = 0;
    let mut choices = schedule.iter().cycle();
    while next_op < ops.len() || pending.iter().any(Option::is_some) {
        let p = *choices.next().unwrap() % procs;
        match pending[p] {
            None if next_op < ops.len() => {
                let op = &ops[next_op];
                next_op += 1;
                let value = if op.f == "read" {
                    Value::Null
                } else {
                    json!(op.value)
                };
                lines.push(json!({"process": pid[p], "type": "invoke", "f": op.f, "value": value}));
                pending[p] = Some(op);
            }
            None => {
                // Nothing left to invoke: complete some pending op instead.
                let q = pending.iter().position(Option::is_some).unwrap();
                complete(&mut lines, &mut pending, &mut pid, &mut next_pid, q);
            }
            Some(_) => complete(&mut lines, &mut pending, &mut pid, &mut next_pid, p),
        }
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn complete(
    lines: &mut Vec<Value>,
    pending: &mut [Option<&GenOp>],
    pid: &mut [usize],
    next_pid: &mut usize,
    p: usize,
) {
    let op = pending[p].take().unwrap();
    let value = if op.f == "read" && op.outcome == "ok" {
        json!(op.value)
    } else if op.f == "read" {
        Value::Null
    } else {
        json!(op.value)
    };
    lines.push(json!({"process": pid[p], "type": op.outcome, "f": op.f, "value": value}));
    if op.outcome == "info" {
        pid[p] = *next_pid;
        *next_pid += 1;
    }
}

/// The exhaustive oracle: is there a subset of the indeterminate operations and an order of
/// it with every determinate operation, respecting real time, along which *some* choice of
/// next states makes every step succeed?
fn oracle(ops: &[Operation]) -> bool {
    let mut ctx = CompileCtx::default();
    // (op, call position, return position or None for indeterminate)
    let mut items: Vec<(LossyOp, usize, Option<usize>)> = Vec::new();
    for op in ops.iter().filter(|o| o.client) {
        if let Compiled::Op { op: lop, .. } = Lossy.compile(op, &mut ctx).unwrap() {
            let ret = (op.outcome == Outcome::Ok).then(|| op.complete.unwrap());
            items.push((lop, op.invoke, ret));
        }
    }
    let n = items.len();
    let info: Vec<usize> = (0..n).filter(|&i| items[i].2.is_none()).collect();
    for mask in 0..(1u32 << info.len()) {
        let chosen: Vec<usize> = (0..n)
            .filter(|&i| {
                items[i].2.is_some()
                    || info
                        .iter()
                        .position(|&j| j == i)
                        .is_some_and(|k| mask & (1 << k) != 0)
            })
            .collect();
        if orders(&items, &chosen, &mut Vec::new(), &[0]) {
            return true;
        }
    }
    false
}

/// Depth-first over orders of `chosen`: `done` are the items placed so far, `states` every
/// state some choice of next states reaches after them. An item may go next when no
/// remaining item completed before it was invoked.
fn orders(
    items: &[(LossyOp, usize, Option<usize>)],
    chosen: &[usize],
    done: &mut Vec<usize>,
    states: &[i64],
) -> bool {
    if done.len() == chosen.len() {
        return true;
    }
    for &i in chosen {
        if done.contains(&i) {
            continue;
        }
        let blocked = chosen
            .iter()
            .any(|&j| j != i && !done.contains(&j) && items[j].2.is_some_and(|r| r < items[i].1));
        if blocked {
            continue;
        }
        let mut next = Vec::new();
        for s in states {
            Lossy.step_all(s, &items[i].0, &mut next);
        }
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            continue;
        }
        done.push(i);
        let found = orders(items, chosen, done, &next);
        done.pop();
        if found {
            return true;
        }
    }
    false
}

fn check(text: &str) -> (checkers::Report, Vec<Operation>) {
    let h = read_history("generated.jsonl", text.as_bytes(), None).unwrap();
    let ops = checkers::history::pair(&h).unwrap();
    let opts = CheckOptions::default();
    let report = check_operations(
        &Lossy,
        "generated.jsonl",
        h.format,
        &ops,
        &opts,
        &Budget::unlimited(),
    )
    .unwrap();
    (report, ops)
}

fn gen_op() -> impl Strategy<Value = GenOp> {
    (0..3u8, 0..4i64, 0..10u8).prop_map(|(f, value, o)| GenOp {
        f: ["write", "add", "read"][f as usize],
        value,
        outcome: match o {
            0 => "info",
            1 => "fail",
            _ => "ok",
        },
    })
}

#[test]
fn nondeterministic_verdict_equals_exhaustive_search() {
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (vec(gen_op(), 1..=7), 1..=3usize, vec(0..3usize, 1..12));
    let (valid, invalid) = (Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&strategy, |(ops, procs, schedule)| {
            let text = history(&ops, procs, &schedule);
            let (report, paired) = check(&text);
            let expected = oracle(&paired);
            prop_assert_eq!(
                report.valid,
                if expected {
                    Validity::Valid
                } else {
                    Validity::Invalid
                },
                "history:\n{}",
                text
            );
            if expected {
                valid.set(valid.get() + 1);
            } else {
                invalid.set(invalid.get() + 1);
                // The shown partial linearizations replay: each step's state is one the
                // model allows after the previous one.
                let cx = report.counterexample.as_ref().expect("a counterexample");
                for path in &cx.longest {
                    let mut state = 0i64;
                    for step in path {
                        let line = step.op.invoke_line;
                        let op = paired.iter().find(|o| o.invoke_line == line).unwrap();
                        let Compiled::Op { op: lop, .. } =
                            Lossy.compile(op, &mut CompileCtx::default()).unwrap()
                        else {
                            panic!("a skipped op in a path")
                        };
                        let mut next = Vec::new();
                        Lossy.step_all(&state, &lop, &mut next);
                        let shown = step.state.as_i64().unwrap();
                        prop_assert!(next.contains(&shown), "{:?} -> {}", lop, shown);
                        state = shown;
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    // The generator reaches both verdicts often.
    let (valid, invalid) = (valid.get(), invalid.get());
    assert!(
        valid > 300 && invalid > 300,
        "valid {valid}, invalid {invalid}"
    );
}

/// Only the second next state of the write (the write was lost) explains the read of 0: a
/// search that followed `step` alone would call this history invalid.
#[test]
fn second_successor_is_explored() {
    let text = r#"{"process": 0, "type": "invoke", "f": "write", "value": 1}
{"process": 0, "type": "ok", "f": "write", "value": 1}
{"process": 0, "type": "invoke", "f": "read", "value": null}
{"process": 0, "type": "ok", "f": "read", "value": 0}
"#;
    assert_eq!(check(text).0.valid, Validity::Valid);
    // And a read no choice explains: 0 → add (1 or 2) → read 3.
    let text = r#"{"process": 0, "type": "invoke", "f": "add", "value": 1}
{"process": 0, "type": "ok", "f": "add", "value": 1}
{"process": 0, "type": "invoke", "f": "read", "value": null}
{"process": 0, "type": "ok", "f": "read", "value": 3}
"#;
    let (report, _) = check(text);
    assert_eq!(report.valid, Validity::Invalid);
    let cx = report.counterexample.unwrap();
    assert_eq!(cx.stuck.f, "read");
}

/// The memo of (linearized set, state) keeps the next states of one operation apart: after
/// the first branch (the write took effect, state 1) fails, the second (lost, state 0) with
/// the same linearized set must still be explored.
#[test]
fn memo_keeps_next_states_apart() {
    // Two concurrent writes of 1, then sequential reads 0 then 1: valid only if one write was
    // lost and the other took effect between the reads — impossible, both writes completed
    // before the first read. Lost both: reads 0, 0. So reads 0 then 1 is invalid, and reads
    // 0 then 0 valid.
    let base = r#"{"process": 0, "type": "invoke", "f": "write", "value": 1}
{"process": 1, "type": "invoke", "f": "write", "value": 1}
{"process": 0, "type": "ok", "f": "write", "value": 1}
{"process": 1, "type": "ok", "f": "write", "value": 1}
{"process": 0, "type": "invoke", "f": "read", "value": null}
{"process": 0, "type": "ok", "f": "read", "value": 0}
{"process": 0, "type": "invoke", "f": "read", "value": null}
"#;
    let valid = format!(
        "{base}{}\n",
        r#"{"process": 0, "type": "ok", "f": "read", "value": 0}"#
    );
    let invalid = format!(
        "{base}{}\n",
        r#"{"process": 0, "type": "ok", "f": "read", "value": 1}"#
    );
    assert_eq!(check(&valid).0.valid, Validity::Valid);
    assert_eq!(check(&invalid).0.valid, Validity::Invalid);
}
