//! `fifo-queue`: a first-in-first-out queue with `enqueue v` and `dequeue → v`.
//!
//! An `ok` dequeue must return the oldest element; an indeterminate dequeue, if it happened,
//! removed the oldest element. A dequeue on an empty queue is recorded as `fail` (no effect).

use super::queue::{compile_queue, queue_initial, weaken_queue, QueueOp};
use super::{CompileCtx, Compiled, Model, ValueId};
use crate::error::ShapeError;
use crate::history::Operation;
use serde_json::Value;

/// The FIFO queue model.
#[derive(Debug, Clone, Copy, Default)]
pub struct FifoQueue;

impl Model for FifoQueue {
    /// Elements, oldest first.
    type State = Vec<ValueId>;
    type Op = QueueOp;

    fn name(&self) -> &'static str {
        "fifo-queue"
    }

    fn init(
        &self,
        initial: Option<&Value>,
        _key: Option<&Value>,
        ctx: &mut CompileCtx,
    ) -> Result<Vec<ValueId>, ShapeError> {
        queue_initial(initial, ctx)
    }

    fn compile(
        &self,
        op: &Operation,
        ctx: &mut CompileCtx,
    ) -> Result<Compiled<QueueOp>, ShapeError> {
        compile_queue("fifo-queue", op, ctx)
    }

    fn step(&self, state: &Vec<ValueId>, op: &QueueOp) -> Option<Vec<ValueId>> {
        match *op {
            QueueOp::Enqueue(v) => {
                let mut next = state.clone();
                next.push(v);
                Some(next)
            }
            QueueOp::Dequeue(v) => (state.first() == Some(&v)).then(|| state[1..].to_vec()),
            QueueOp::DequeueUnknown => (!state.is_empty()).then(|| state[1..].to_vec()),
        }
    }

    fn read_only(&self, _op: &QueueOp) -> bool {
        false
    }

    fn weaken(&self, op: &QueueOp) -> Option<QueueOp> {
        Some(weaken_queue(*op))
    }

    fn show_state(&self, state: &Vec<ValueId>, ctx: &CompileCtx) -> Value {
        Value::Array(state.iter().map(|v| ctx.values.value(*v).clone()).collect())
    }
}
