//! `queue`: an unordered queue (a multiset) with `enqueue v` and `dequeue → v`.
//!
//! An `ok` dequeue removes `v`, which must be present. An indeterminate dequeue may have
//! removed any element, so this model is nondeterministic; it is made deterministic the
//! standard way (as Porcupine does for nondeterministic models): the state is the set of
//! multisets the queue may hold. A step that leaves no possible multiset is impossible.

use super::util::{f_of, observed, show, unknown_f};
use super::{CompileCtx, Compiled, Model, ValueId};
use crate::error::{shape, ShapeError};
use crate::history::{Operation, Outcome};
use serde_json::Value;

/// A compiled queue operation (shared with [`super::FifoQueue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueOp {
    /// Adds an element.
    Enqueue(ValueId),
    /// A determinate dequeue that returned this element.
    Dequeue(ValueId),
    /// An indeterminate dequeue: removed some element (which one is unknown), if it happened.
    DequeueUnknown,
}

/// The unordered queue model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Queue;

/// Compiles enqueue/dequeue for both queue models.
pub(super) fn compile_queue(
    model: &str,
    op: &Operation,
    ctx: &mut CompileCtx,
) -> Result<Compiled<QueueOp>, ShapeError> {
    let f = f_of(op, "enqueue, dequeue")?;
    if op.outcome == Outcome::Fail {
        if f != "enqueue" && f != "dequeue" {
            return Err(unknown_f(model, f, "enqueue, dequeue").into());
        }
        return Ok(Compiled::Skip);
    }
    let qop = match f {
        "enqueue" => QueueOp::Enqueue(ctx.values.intern(&op.input)),
        "dequeue" => {
            if observed(op) {
                QueueOp::Dequeue(ctx.values.intern(&op.output))
            } else {
                QueueOp::DequeueUnknown
            }
        }
        other => return Err(unknown_f(model, other, "enqueue, dequeue").into()),
    };
    Ok(Compiled::Op {
        key: op.key.clone(),
        op: qop,
    })
}

/// A queue op's indeterminate form (both queue models): a dequeue removed *some* element.
pub(super) fn weaken_queue(op: QueueOp) -> QueueOp {
    match op {
        QueueOp::Dequeue(_) => QueueOp::DequeueUnknown,
        other => other,
    }
}

/// The `--initial` array of a queue, oldest first.
pub(super) fn queue_initial(
    initial: Option<&Value>,
    ctx: &mut CompileCtx,
) -> Result<Vec<ValueId>, ShapeError> {
    match initial {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().map(|v| ctx.values.intern(v)).collect()),
        Some(other) => Err(shape!(
            "expected --initial for a queue to be an array (oldest first), found {}",
            show(other)
        )),
    }
}

fn remove_one(ms: &[ValueId], v: ValueId) -> Option<Vec<ValueId>> {
    let i = ms.binary_search(&v).ok()?;
    let mut next = ms.to_vec();
    next.remove(i);
    Some(next)
}

impl Model for Queue {
    /// Every multiset (sorted element list) the queue may hold, sorted and without repeats.
    type State = Vec<Vec<ValueId>>;
    type Op = QueueOp;

    fn name(&self) -> &'static str {
        "queue"
    }

    fn init(
        &self,
        initial: Option<&Value>,
        _key: Option<&Value>,
        ctx: &mut CompileCtx,
    ) -> Result<Self::State, ShapeError> {
        let mut ms = queue_initial(initial, ctx)?;
        ms.sort_unstable();
        Ok(vec![ms])
    }

    fn compile(
        &self,
        op: &Operation,
        ctx: &mut CompileCtx,
    ) -> Result<Compiled<QueueOp>, ShapeError> {
        compile_queue("queue", op, ctx)
    }

    fn step(&self, state: &Self::State, op: &QueueOp) -> Option<Self::State> {
        let mut next: Vec<Vec<ValueId>> = Vec::new();
        for ms in state {
            match *op {
                QueueOp::Enqueue(v) => {
                    let mut m = ms.clone();
                    let i = m.binary_search(&v).unwrap_or_else(|i| i);
                    m.insert(i, v);
                    next.push(m);
                }
                QueueOp::Dequeue(v) => next.extend(remove_one(ms, v)),
                QueueOp::DequeueUnknown => {
                    let mut last = None;
                    for &v in ms {
                        if last != Some(v) {
                            next.extend(remove_one(ms, v));
                            last = Some(v);
                        }
                    }
                }
            }
        }
        if next.is_empty() {
            return None;
        }
        next.sort_unstable();
        next.dedup();
        Some(next)
    }

    fn read_only(&self, _op: &QueueOp) -> bool {
        false
    }

    fn weaken(&self, op: &QueueOp) -> Option<QueueOp> {
        Some(weaken_queue(*op))
    }

    fn show_state(&self, state: &Self::State, ctx: &CompileCtx) -> Value {
        let show = |ms: &Vec<ValueId>| {
            Value::Array(ms.iter().map(|v| ctx.values.value(*v).clone()).collect())
        };
        if state.len() == 1 {
            show(&state[0])
        } else {
            serde_json::json!({ "one of": state.iter().map(show).collect::<Vec<_>>() })
        }
    }
}
