//! `mutex`: a lock without an owner (Knossos's `mutex`).
//!
//! `acquire` succeeds only when the lock is free; `release` only when it is held (by anyone).
//! Operations carry no value. Initial state: free, or `--initial true` (held).

use super::util::{f_of, show, unknown_f};
use super::{CompileCtx, Compiled, Model};
use crate::error::{shape, ShapeError};
use crate::history::{Operation, Outcome};
use serde_json::Value;

/// A compiled mutex operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MutexOp {
    /// Takes the lock.
    Acquire,
    /// Frees the lock.
    Release,
}

/// The mutex model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mutex;

impl Model for Mutex {
    type State = bool;
    type Op = MutexOp;

    fn name(&self) -> &'static str {
        "mutex"
    }

    fn init(
        &self,
        initial: Option<&Value>,
        _key: Option<&Value>,
        _ctx: &mut CompileCtx,
    ) -> Result<bool, ShapeError> {
        match initial {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(shape!(
                "expected --initial for mutex to be true (held) or false (free), found {}",
                show(other)
            )),
        }
    }

    fn compile(
        &self,
        op: &Operation,
        _ctx: &mut CompileCtx,
    ) -> Result<Compiled<MutexOp>, ShapeError> {
        let f = f_of(op, "acquire, release")?;
        let mop = match f {
            "acquire" => MutexOp::Acquire,
            "release" => MutexOp::Release,
            other => return Err(unknown_f("mutex", other, "acquire, release").into()),
        };
        if op.outcome == Outcome::Fail {
            return Ok(Compiled::Skip);
        }
        Ok(Compiled::Op {
            key: op.key.clone(),
            op: mop,
        })
    }

    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!*held).then_some(true),
            MutexOp::Release => held.then_some(false),
        }
    }

    fn read_only(&self, _op: &MutexOp) -> bool {
        false
    }

    fn show_state(&self, held: &bool, _ctx: &CompileCtx) -> Value {
        Value::String(if *held { "held" } else { "free" }.into())
    }
}
