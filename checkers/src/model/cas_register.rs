//! `cas-register`: a register with compare-and-set (Knossos's `cas-register`, Porcupine's etcd
//! model).
//!
//! `cas [old, new]` takes effect only when the state equals `old`. A `cas` recorded as `fail`
//! took no effect and is left out — except in Jepsen text logs, where Porcupine reads
//! `:fail :cas` as a completed compare that saw a different value (see `docs/models.md`).

use super::register::{compile_register, register_init, register_step, RegOp};
use super::{CompileCtx, Compiled, Model, ValueId};
use crate::history::Operation;
use serde_json::Value;

/// The compare-and-set register model.
#[derive(Debug, Clone, Copy, Default)]
pub struct CasRegister;

impl Model for CasRegister {
    type State = ValueId;
    type Op = RegOp;

    fn name(&self) -> &'static str {
        "cas-register"
    }

    fn init(
        &self,
        initial: Option<&Value>,
        _key: Option<&Value>,
        ctx: &mut CompileCtx,
    ) -> Result<ValueId, String> {
        Ok(register_init(initial, ctx))
    }

    fn compile(&self, op: &Operation, ctx: &mut CompileCtx) -> Result<Compiled<RegOp>, String> {
        compile_register("cas-register", true, op, ctx)
    }

    fn step(&self, state: &ValueId, op: &RegOp) -> Option<ValueId> {
        register_step(*state, op)
    }

    fn read_only(&self, op: &RegOp) -> bool {
        matches!(op, RegOp::Read(_) | RegOp::CasFailed(_))
    }

    fn show_state(&self, state: &ValueId, ctx: &CompileCtx) -> Value {
        ctx.values.value(*state).clone()
    }
}
