//! `counter`: `add n` (any integer, may be negative) and `read` of the sum.
//!
//! Initial state 0, or the `--initial` integer. An `ok` read must equal the sum of the adds
//! linearized before it.

use super::util::{f_of, int_of, observed, unknown_f};
use super::{CompileCtx, Compiled, Model};
use crate::error::ShapeError;
use crate::history::{Operation, Outcome};
use serde_json::Value;

/// A compiled counter operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterOp {
    /// Adds to the counter.
    Add(i64),
    /// A determinate read of this sum.
    Read(i64),
}

/// The counter model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counter;

impl Model for Counter {
    type State = i64;
    type Op = CounterOp;

    fn name(&self) -> &'static str {
        "counter"
    }

    fn init(
        &self,
        initial: Option<&Value>,
        _key: Option<&Value>,
        _ctx: &mut CompileCtx,
    ) -> Result<i64, ShapeError> {
        match initial {
            None | Some(Value::Null) => Ok(0),
            Some(v) => int_of(v, "--initial for counter"),
        }
    }

    fn compile(
        &self,
        op: &Operation,
        _ctx: &mut CompileCtx,
    ) -> Result<Compiled<CounterOp>, ShapeError> {
        let f = f_of(op, "add, read")?;
        let cop = match f {
            "add" | "increment" => {
                if op.outcome == Outcome::Fail {
                    return Ok(Compiled::Skip);
                }
                CounterOp::Add(int_of(&op.input, "an add's argument")?)
            }
            "read" => {
                if !observed(op) {
                    return Ok(Compiled::Skip);
                }
                CounterOp::Read(int_of(&op.output, "a read's result")?)
            }
            other => return Err(unknown_f("counter", other, "add, read").into()),
        };
        Ok(Compiled::Op {
            key: op.key.clone(),
            op: cop,
        })
    }

    fn step(&self, state: &i64, op: &CounterOp) -> Option<i64> {
        match *op {
            CounterOp::Add(n) => state.checked_add(n),
            CounterOp::Read(n) => (*state == n).then_some(*state),
        }
    }

    fn read_only(&self, op: &CounterOp) -> bool {
        matches!(op, CounterOp::Read(_))
    }

    fn show_state(&self, state: &i64, _ctx: &CompileCtx) -> Value {
        Value::from(*state)
    }
}
