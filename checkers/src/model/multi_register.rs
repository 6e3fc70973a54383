//! `multi-register`: transactions of reads and writes over several registers (Knossos's
//! `multi-register`).
//!
//! A `txn` value is a list of micro-ops `["read", k, v]` / `["write", k, v]` (`r`/`w` accepted;
//! EDN `[:read :x 1]`). Micro-ops apply in order, atomically; each determinate read must equal
//! its key's state. The observed values come from the `ok` completion's micro-ops; an
//! indeterminate transaction keeps its writes and its reads constrain nothing.

use super::util::{f_of, show, unknown_f};
use super::{CompileCtx, Compiled, Model, ValueId};
use crate::error::{shape, ShapeError};
use crate::history::{Operation, Outcome};
use serde_json::Value;

/// One micro-operation of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Micro {
    /// Read of key `.0`; `Some(v)` when the result was observed.
    Read(ValueId, Option<ValueId>),
    /// Write of `.1` to key `.0`.
    Write(ValueId, ValueId),
}

/// The multi-register model.
#[derive(Debug, Clone, Copy, Default)]
pub struct MultiRegister;

/// State: (key, value) pairs sorted by key; a key absent from the list holds `null`.
pub type MultiState = Vec<(ValueId, ValueId)>;

fn get(state: &MultiState, k: ValueId, null: ValueId) -> ValueId {
    match state.binary_search_by_key(&k, |e| e.0) {
        Ok(i) => state[i].1,
        Err(_) => null,
    }
}

fn set(state: &mut MultiState, k: ValueId, v: ValueId, null: ValueId) {
    match state.binary_search_by_key(&k, |e| e.0) {
        Ok(i) if v == null => {
            state.remove(i);
        }
        Ok(i) => state[i].1 = v,
        Err(_) if v == null => {}
        Err(i) => state.insert(i, (k, v)),
    }
}

fn micro_ops(v: &Value, observed: bool, ctx: &mut CompileCtx) -> Result<Vec<Micro>, ShapeError> {
    let Value::Array(items) = v else {
        return Err(shape!(
            "expected a txn value: a list of [\"read\", k, v] / [\"write\", k, v], found {}",
            show(v)
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let parts = match item {
            Value::Array(p) if p.len() == 3 => p,
            other => {
                return Err(shape!(
                    "expected a micro-op [\"read\"|\"write\", key, value], found {}",
                    show(other)
                ))
            }
        };
        let k = ctx.values.intern(&parts[1]);
        match parts[0].as_str() {
            Some("read") | Some("r") => {
                let v = observed.then(|| ctx.values.intern(&parts[2]));
                out.push(Micro::Read(k, v));
            }
            Some("write") | Some("w") => out.push(Micro::Write(k, ctx.values.intern(&parts[2]))),
            _ => {
                return Err(shape!(
                    "expected a micro-op verb read/write (or r/w), found {}",
                    show(&parts[0])
                ))
            }
        }
    }
    Ok(out)
}

impl Model for MultiRegister {
    type State = MultiState;
    type Op = Vec<Micro>;

    fn name(&self) -> &'static str {
        "multi-register"
    }

    fn init(
        &self,
        initial: Option<&Value>,
        _key: Option<&Value>,
        ctx: &mut CompileCtx,
    ) -> Result<MultiState, ShapeError> {
        let null = ctx.values.intern(&Value::Null);
        let mut state = MultiState::new();
        match initial {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let k = ctx.values.intern(&Value::String(k.clone()));
                    let v = ctx.values.intern(v);
                    set(&mut state, k, v, null);
                }
            }
            Some(other) => {
                return Err(shape!(
                "expected --initial for multi-register to be an object {{\"x\": 0, …}}, found {}",
                show(other)
            ))
            }
        }
        Ok(state)
    }

    fn compile(
        &self,
        op: &Operation,
        ctx: &mut CompileCtx,
    ) -> Result<Compiled<Vec<Micro>>, ShapeError> {
        let f = f_of(op, "txn")?;
        if f != "txn" {
            return Err(unknown_f("multi-register", f, "txn").into());
        }
        // Validate the invocation's shape even when the result is not used.
        let input = micro_ops(&op.input, false, ctx)?;
        let micro = match op.outcome {
            Outcome::Fail => return Ok(Compiled::Skip),
            Outcome::Ok => {
                let out = micro_ops(&op.output, true, ctx)?;
                if out.len() != input.len() {
                    return Err(shape!(
                        "expected the completion's txn to have the invocation's {} micro-ops, found {}",
                        input.len(),
                        out.len()
                    ));
                }
                out
            }
            Outcome::Info => {
                if input.iter().all(|m| matches!(m, Micro::Read(..))) {
                    return Ok(Compiled::Skip);
                }
                input
            }
        };
        Ok(Compiled::Op {
            key: op.key.clone(),
            op: micro,
        })
    }

    fn step(&self, state: &MultiState, op: &Vec<Micro>) -> Option<MultiState> {
        // Null is always interned first by `init`, so its id is known to be the one stored
        // there; keys absent from the state hold it.
        let null = NULL_ID;
        let mut next = state.clone();
        for m in op {
            match *m {
                Micro::Read(k, Some(v)) => {
                    if get(&next, k, null) != v {
                        return None;
                    }
                }
                Micro::Read(_, None) => {}
                Micro::Write(k, v) => set(&mut next, k, v, null),
            }
        }
        Some(next)
    }

    fn read_only(&self, op: &Vec<Micro>) -> bool {
        op.iter().all(|m| matches!(m, Micro::Read(..)))
    }

    fn weaken(&self, op: &Vec<Micro>) -> Option<Vec<Micro>> {
        if self.read_only(op) {
            return None;
        }
        Some(
            op.iter()
                .map(|m| match *m {
                    Micro::Read(k, _) => Micro::Read(k, None),
                    w => w,
                })
                .collect(),
        )
    }

    fn show_state(&self, state: &MultiState, ctx: &CompileCtx) -> Value {
        let mut m = serde_json::Map::new();
        for (k, v) in state {
            let name = match ctx.values.value(*k) {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            m.insert(name, ctx.values.value(*v).clone());
        }
        Value::Object(m)
    }
}

/// The interned id of `null`: the linearizability driver interns `null` before anything
/// else, so it is always 0.
pub const NULL_ID: ValueId = 0;
