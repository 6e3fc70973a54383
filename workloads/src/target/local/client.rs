//! The in-process store and its client.

use crate::error::ClientError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::client::{Client, Op, Outcome};

/// An in-process linearizable store shared by every [`Local`] client: a mutex around a map.
/// Used by tests of the runner and of the checkers end to end.
#[derive(Debug, Clone, Default)]
pub struct Local {
    data: Arc<Mutex<HashMap<String, Value>>>,
}

impl Local {
    /// A client over a fresh empty store; clone it to share the store between workers.
    pub fn new() -> Local {
        Local::default()
    }

    fn apply(&self, op: &Op) -> Outcome {
        let key = op.key.as_ref().map(|k| k.to_string()).unwrap_or_default();
        let mut data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        match op.f {
            "read" => Outcome::Ok(data.get(&key).cloned().unwrap_or(Value::Null)),
            "get" => Outcome::Ok(data.get(&key).cloned().unwrap_or_else(|| json!(""))),
            "write" | "put" => {
                data.insert(key, op.value.clone());
                Outcome::Ok(op.value.clone())
            }
            "append" => {
                let mut s = data
                    .get(&key)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                s.push_str(op.value.as_str().unwrap_or(""));
                data.insert(key, Value::String(s));
                Outcome::Ok(op.value.clone())
            }
            "cas" => {
                let (from, to) = match op.value.as_array().map(Vec::as_slice) {
                    Some([from, to]) => (from, to),
                    _ => return Outcome::Fail(json!("cas expects [old, new]")),
                };
                if data.get(&key).unwrap_or(&Value::Null) == from {
                    data.insert(key, to.clone());
                    Outcome::Ok(op.value.clone())
                } else {
                    Outcome::Fail(json!("cas-mismatch"))
                }
            }
            "txn" => {
                let mut done = Vec::new();
                for micro in op.value.as_array().into_iter().flatten() {
                    let (f, k, v) = match micro.as_array().map(Vec::as_slice) {
                        Some([f, k, v]) => (f.as_str().unwrap_or(""), k.to_string(), v),
                        _ => return Outcome::Fail(json!("malformed micro-op")),
                    };
                    let list = data.entry(format!("list:{k}")).or_insert_with(|| json!([]));
                    if f == "append" {
                        if let Some(items) = list.as_array_mut() {
                            items.push(v.clone());
                        }
                        done.push(micro.clone());
                    } else {
                        done.push(json!([f, micro[1], list.clone()]));
                    }
                }
                Outcome::Ok(Value::Array(done))
            }
            other => Outcome::Fail(json!(format!("no operation {other:?}"))),
        }
    }
}

impl Client for Local {
    async fn open(&mut self, _node: usize) -> Result<(), ClientError> {
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        self.apply(op)
    }

    async fn close(&mut self) {}

    fn node_name(&self) -> String {
        "local".into()
    }
}
