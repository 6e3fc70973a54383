//! `register`: a single read/write register (per key when operations carry a `key`).
//!
//! `write v` sets the state; an `ok` `read` must return the state (a read of `null` observed
//! `null`). Indeterminate reads constrain nothing and are skipped. Initial state: `null`, or
//! `--initial`.

use super::util::{f_of, observed, show, unknown_f};
use super::{CompileCtx, Compiled, ValueId};
use crate::error::{shape, ShapeError};
use crate::history::{Operation, Outcome};
use serde_json::Value;

/// Register operations, shared with [`super::CasRegister`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegOp {
    /// Sets the register.
    Write(ValueId),
    /// A determinate read that returned this value.
    Read(ValueId),
    /// Compare-and-set: takes effect only when the state equals `.0`, then sets `.1`.
    Cas(ValueId, ValueId),
    /// A CAS whose compare was observed to fail (Jepsen text logs): the state differed from
    /// `.0` and stayed as it was.
    CasFailed(ValueId),
}

/// The read/write register model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Register;

/// Shared initial state for registers: `--initial` value, else null.
pub(super) fn register_init(initial: Option<&Value>, ctx: &mut CompileCtx) -> ValueId {
    ctx.values.intern(initial.unwrap_or(&Value::Null))
}

/// Shared step for both register models.
pub(super) fn register_step(state: ValueId, op: &RegOp) -> Option<ValueId> {
    match *op {
        RegOp::Write(v) => Some(v),
        RegOp::Read(v) => (state == v).then_some(state),
        RegOp::Cas(old, new) => (state == old).then_some(new),
        RegOp::CasFailed(old) => (state != old).then_some(state),
    }
}

/// Compiles read/write (and, when `cas` is true, cas) operations.
pub(super) fn compile_register(
    model: &str,
    cas: bool,
    op: &Operation,
    ctx: &mut CompileCtx,
) -> Result<Compiled<RegOp>, ShapeError> {
    let accepted = if cas {
        "read, write, cas"
    } else {
        "read, write"
    };
    let f = f_of(op, accepted)?;
    let key = op.key.clone();
    let reg = match f {
        "write" => {
            if op.outcome == Outcome::Fail {
                return Ok(Compiled::Skip);
            }
            RegOp::Write(ctx.values.intern(&op.input))
        }
        "read" => {
            if !observed(op) {
                return Ok(Compiled::Skip);
            }
            RegOp::Read(ctx.values.intern(&op.output))
        }
        "cas" if cas => {
            let pair = match &op.input {
                Value::Array(items) if items.len() == 2 => (items[0].clone(), items[1].clone()),
                other => {
                    return Err(shape!(
                        "expected a cas value [old, new], found {}",
                        show(other)
                    ))
                }
            };
            let old = ctx.values.intern(&pair.0);
            if op.outcome == Outcome::Fail {
                if ctx.fail_cas_observed {
                    RegOp::CasFailed(old)
                } else {
                    return Ok(Compiled::Skip);
                }
            } else {
                RegOp::Cas(old, ctx.values.intern(&pair.1))
            }
        }
        other => return Err(unknown_f(model, other, accepted).into()),
    };
    Ok(Compiled::Op { key, op: reg })
}

/// Implements [`super::Model`] for a register type: `$name` is its `--model` name and `$cas` whether
/// it accepts `cas`. Shared by [`Register`] and [`super::CasRegister`], which differ only there.
macro_rules! register_model {
    ($ty:ty, $name:literal, $cas:literal) => {
        impl $crate::model::Model for $ty {
            type State = $crate::model::ValueId;
            type Op = $crate::model::register::RegOp;

            fn name(&self) -> &'static str {
                $name
            }

            fn init(
                &self,
                initial: Option<&serde_json::Value>,
                _key: Option<&serde_json::Value>,
                ctx: &mut $crate::model::CompileCtx,
            ) -> Result<Self::State, $crate::error::ShapeError> {
                Ok($crate::model::register::register_init(initial, ctx))
            }

            fn compile(
                &self,
                op: &$crate::history::Operation,
                ctx: &mut $crate::model::CompileCtx,
            ) -> Result<$crate::model::Compiled<Self::Op>, $crate::error::ShapeError> {
                $crate::model::register::compile_register($name, $cas, op, ctx)
            }

            fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State> {
                $crate::model::register::register_step(*state, op)
            }

            fn read_only(&self, op: &Self::Op) -> bool {
                use $crate::model::register::RegOp;
                matches!(op, RegOp::Read(_) | RegOp::CasFailed(_))
            }

            fn show_state(
                &self,
                state: &Self::State,
                ctx: &$crate::model::CompileCtx,
            ) -> serde_json::Value {
                ctx.values.value(*state).clone()
            }
        }
    };
}
pub(super) use register_model;

register_model!(Register, "register", false);
