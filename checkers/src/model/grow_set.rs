//! `set`: a grow-only set with `add v` and `read` of the whole set.
//!
//! A read returns an array whose order is ignored; it must equal the set exactly (a read that
//! lists an element twice equals no set). Initial state: empty, or the `--initial` array.

use super::util::{f_of, observed, show, unknown_f};
use super::{CompileCtx, Compiled, Model, ValueId};
use crate::error::{shape, ShapeError};
use crate::history::{Operation, Outcome};
use serde_json::Value;

/// A compiled set operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetOp {
    /// Inserts an element.
    Add(ValueId),
    /// A determinate read: the elements returned, sorted (duplicates kept, so such a read
    /// matches no state).
    Read(Vec<ValueId>),
}

/// The set model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Set;

fn elements(v: &Value, what: &str, ctx: &mut CompileCtx) -> Result<Vec<ValueId>, ShapeError> {
    match v {
        Value::Array(items) => {
            let mut ids: Vec<ValueId> = items.iter().map(|x| ctx.values.intern(x)).collect();
            ids.sort_unstable();
            Ok(ids)
        }
        Value::Null => Ok(Vec::new()),
        other => Err(shape!(
            "expected {what} to be an array of elements, found {}",
            show(other)
        )),
    }
}

impl Model for Set {
    type State = Vec<ValueId>;
    type Op = SetOp;

    fn name(&self) -> &'static str {
        "set"
    }

    fn init(
        &self,
        initial: Option<&Value>,
        _key: Option<&Value>,
        ctx: &mut CompileCtx,
    ) -> Result<Vec<ValueId>, ShapeError> {
        let mut s = elements(initial.unwrap_or(&Value::Null), "--initial", ctx)?;
        s.dedup();
        Ok(s)
    }

    fn compile(&self, op: &Operation, ctx: &mut CompileCtx) -> Result<Compiled<SetOp>, ShapeError> {
        let f = f_of(op, "add, read")?;
        let sop = match f {
            "add" => {
                if op.outcome == Outcome::Fail {
                    return Ok(Compiled::Skip);
                }
                SetOp::Add(ctx.values.intern(&op.input))
            }
            "read" => {
                if !observed(op) {
                    return Ok(Compiled::Skip);
                }
                SetOp::Read(elements(&op.output, "a set read's result", ctx)?)
            }
            other => return Err(unknown_f("set", other, "add, read").into()),
        };
        Ok(Compiled::Op {
            key: op.key.clone(),
            op: sop,
        })
    }

    fn step(&self, state: &Vec<ValueId>, op: &SetOp) -> Option<Vec<ValueId>> {
        match op {
            SetOp::Add(v) => match state.binary_search(v) {
                Ok(_) => Some(state.clone()),
                Err(i) => {
                    let mut next = state.clone();
                    next.insert(i, *v);
                    Some(next)
                }
            },
            SetOp::Read(items) => (state == items).then(|| state.clone()),
        }
    }

    fn read_only(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }

    fn show_state(&self, state: &Vec<ValueId>, ctx: &CompileCtx) -> Value {
        Value::Array(state.iter().map(|v| ctx.values.value(*v).clone()).collect())
    }
}
