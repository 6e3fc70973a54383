//! `kv`: string values per key with `get`, `put` and `append` (Porcupine's kv model).
//!
//! Keys are independent, so the history is checked per key (P-compositionality). Each key
//! starts as `""` (or the key's entry in an `--initial` object). `put` sets, `append`
//! concatenates, an `ok` `get` must equal the value (a `null` get result reads as `""`).

use super::util::{f_of, observed, show, unknown_f};
use super::{CompileCtx, Compiled, Model};
use crate::error::{shape, ShapeError};
use crate::history::{Operation, Outcome};
use serde_json::Value;
use std::sync::Arc;

/// A compiled kv operation on one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// Replaces the value.
    Put(Arc<str>),
    /// Appends to the value.
    Append(Arc<str>),
    /// A determinate get that returned this value.
    Get(Arc<str>),
}

/// The key-value model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kv;

const ACCEPTED: &str = "get, put, append";

/// A kv value as text: a string as it is, `null` as `""`, a number as its JSON text; anything
/// else is refused (`what` names it in the message).
pub(crate) fn text(v: &Value, what: &str) -> Result<Arc<str>, ShapeError> {
    match v {
        Value::String(s) => Ok(Arc::from(s.as_str())),
        Value::Null => Ok(Arc::from("")),
        Value::Number(n) => Ok(Arc::from(n.to_string().as_str())),
        other => Err(shape!(
            "expected {what} to be a string, found {}",
            show(other)
        )),
    }
}

/// `null`, for a `{"key"}` value without a `"value"`.
static NULL: Value = Value::Null;

/// The key and value of a `{"key": k, "value": v}` value (`v` is `null` when absent); `None`
/// for anything else.
pub(crate) fn object_key_value(v: &Value) -> Option<(&Value, &Value)> {
    match v {
        Value::Object(m) => Some((m.get("key")?, m.get("value").unwrap_or(&NULL))),
        _ => None,
    }
}

/// Splits a kv operation into (key, value): the `key` field, or a `{"key", "value"}` value.
fn key_value(v: &Value, key: &Option<Value>) -> Result<(Value, Value), ShapeError> {
    if let Some(k) = key {
        return Ok((k.clone(), v.clone()));
    }
    match object_key_value(v) {
        Some((k, v)) => Ok((k.clone(), v.clone())),
        None => Err(shape!(
            "expected a kv operation with a key field or a value {{\"key\": k, \"value\": v}}, found {}",
            show(v)
        )),
    }
}

impl Model for Kv {
    type State = Arc<str>;
    type Op = KvOp;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn init(
        &self,
        initial: Option<&Value>,
        key: Option<&Value>,
        _ctx: &mut CompileCtx,
    ) -> Result<Arc<str>, ShapeError> {
        match (initial, key) {
            (None, _) | (Some(Value::Null), _) => Ok(Arc::from("")),
            (Some(Value::Object(m)), Some(k)) => {
                let name = match k {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match m.get(&name) {
                    Some(v) => text(v, "an --initial value"),
                    None => Ok(Arc::from("")),
                }
            }
            (Some(Value::Object(_)), None) => Ok(Arc::from("")),
            (Some(other), _) => Err(shape!(
                "expected --initial for kv to be an object {{\"key\": \"value\", …}}, found {}",
                show(other)
            )),
        }
    }

    fn compile(&self, op: &Operation, _ctx: &mut CompileCtx) -> Result<Compiled<KvOp>, ShapeError> {
        let f = f_of(op, ACCEPTED)?;
        let (key, arg) = key_value(&op.input, &op.key)?;
        let kop = match f {
            "put" | "append" => {
                if op.outcome == Outcome::Fail {
                    return Ok(Compiled::Skip);
                }
                let v = text(&arg, "the value")?;
                if f == "put" {
                    KvOp::Put(v)
                } else {
                    KvOp::Append(v)
                }
            }
            "get" | "read" => {
                if !observed(op) {
                    return Ok(Compiled::Skip);
                }
                let out = if op.key.is_some() {
                    op.output.clone()
                } else {
                    key_value(&op.output, &None)
                        .map(|(_, v)| v)
                        .unwrap_or_else(|_| op.output.clone())
                };
                KvOp::Get(text(&out, "a get result")?)
            }
            other => return Err(unknown_f("kv", other, ACCEPTED).into()),
        };
        Ok(Compiled::Op {
            key: Some(key),
            op: kop,
        })
    }

    fn step(&self, state: &Arc<str>, op: &KvOp) -> Option<Arc<str>> {
        match op {
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append(v) => {
                let mut s = String::with_capacity(state.len() + v.len());
                s.push_str(state);
                s.push_str(v);
                Some(Arc::from(s))
            }
            KvOp::Get(v) => (**state == **v).then(|| state.clone()),
        }
    }

    fn read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn show_state(&self, state: &Arc<str>, _ctx: &CompileCtx) -> Value {
        Value::String(state.to_string())
    }
}
