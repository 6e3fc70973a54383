//! The demo store's state machine: the key-value map both modes replicate, the commands that
//! change it, and the replies the http-kv server sends back.
//!
//! Run side only: every replica applies the same [`Cmd`]s in the same order and so reaches the
//! same state; [`Kv::apply`] is deterministic, which is what lets a follower replay a log (sync
//! mode) or a primary's op stream (async mode) and answer exactly as the leader would have.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One client operation, as replicated between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Cmd {
    /// Read one key.
    Read {
        /// The key, a JSON string or integer.
        key: Value,
    },
    /// Overwrite one key.
    Write {
        /// The key.
        key: Value,
        /// The new value.
        value: Value,
    },
    /// Compare-and-set: set `to` only if the current value equals `from`.
    Cas {
        /// The key.
        key: Value,
        /// The value the key must hold.
        from: Value,
        /// The value to store.
        to: Value,
    },
    /// Append a string to the key's string (absent counts as `""`).
    Append {
        /// The key.
        key: Value,
        /// The string to append.
        value: String,
    },
    /// A list-append transaction: micro-ops `(f, key, value)` with `f` = `append` or `r`.
    Txn {
        /// The micro-ops in order.
        ops: Vec<(String, Value, Value)>,
    },
    /// No effect; a new sync-mode leader commits one to learn what is committed.
    Noop,
}

impl Cmd {
    /// True for commands that never change the state (a plain read).
    pub fn is_read(&self) -> bool {
        matches!(self, Cmd::Read { .. })
    }
}

/// The answer to one command: an HTTP status code and a JSON body (see `docs/http-kv.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// 200 done, 409 cas mismatch, 503 definitely not done, other 5xx maybe done.
    pub status: u16,
    /// The JSON response body.
    pub body: Value,
}

impl Reply {
    /// A 200 answer with this body.
    pub fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }

    /// An error answer `{"error": code, "message": message}`.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: json!({"error": code, "message": message.into()}),
        }
    }

    /// 503: this node will not do it (not the leader, no leader known), and nothing was sent.
    pub fn unavailable(message: impl Into<String>) -> Reply {
        Reply::error(503, "unavailable", message)
    }

    /// 504: no answer in time; the operation may or may not take effect.
    pub fn timeout() -> Reply {
        Reply::error(
            504,
            "timeout",
            "no answer in time; may or may not take effect",
        )
    }

    /// 500: the operation's fate is unknown (its log slot was taken by another entry, or the
    /// node that proposed it lost track of it).
    pub fn unknown(message: impl Into<String>) -> Reply {
        Reply::error(500, "unknown", message)
    }
}

/// The canonical map key of a JSON key: strings and integers only.
pub fn key_string(key: &Value) -> Result<String, String> {
    match key {
        Value::String(s) => Ok(format!("s{s}")),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(format!("i{n}")),
        other => Err(format!("key must be a string or an integer, got {other}")),
    }
}

/// The replicated key-value map.
#[derive(Debug, Clone, Default)]
pub struct Kv {
    map: HashMap<String, Value>,
}

impl Kv {
    /// Rebuilds a map from a snapshot taken with [`Kv::snapshot`].
    pub fn from_snapshot(entries: Vec<(String, Value)>) -> Kv {
        Kv {
            map: entries.into_iter().collect(),
        }
    }

    /// Every entry, for shipping the whole state to a follower (async mode).
    pub fn snapshot(&self) -> Vec<(String, Value)> {
        self.map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The answer to a read of `key` in the current state.
    pub fn read(&self, key: &Value) -> Reply {
        match key_string(key) {
            Ok(k) => Reply::ok(json!({"value": self.map.get(&k).cloned().unwrap_or(Value::Null)})),
            Err(e) => Reply::error(400, "bad-request", e),
        }
    }

    /// Applies one command and returns its answer. Commands that fail (cas mismatch, type
    /// errors) leave the state unchanged; the same command on the same state always gives the
    /// same answer.
    pub fn apply(&mut self, cmd: &Cmd) -> Reply {
        match cmd {
            Cmd::Noop => Reply::ok(json!({})),
            Cmd::Read { key } => self.read(key),
            Cmd::Write { key, value } => match key_string(key) {
                Ok(k) => {
                    self.map.insert(k, value.clone());
                    Reply::ok(json!({}))
                }
                Err(e) => Reply::error(400, "bad-request", e),
            },
            Cmd::Cas { key, from, to } => match key_string(key) {
                Ok(k) => {
                    let current = self.map.get(&k).unwrap_or(&Value::Null);
                    if current == from {
                        self.map.insert(k, to.clone());
                        Reply::ok(json!({}))
                    } else {
                        Reply::error(409, "cas-mismatch", format!("current value is {current}"))
                    }
                }
                Err(e) => Reply::error(400, "bad-request", e),
            },
            Cmd::Append { key, value } => match key_string(key) {
                Ok(k) => match self.map.get_mut(&k) {
                    None => {
                        self.map.insert(k, Value::String(value.clone()));
                        Reply::ok(json!({}))
                    }
                    Some(Value::String(s)) => {
                        s.push_str(value);
                        Reply::ok(json!({}))
                    }
                    Some(other) => {
                        Reply::error(400, "type", format!("cannot append a string to {other}"))
                    }
                },
                Err(e) => Reply::error(400, "bad-request", e),
            },
            Cmd::Txn { ops } => self.txn(ops),
        }
    }

    /// Runs a list-append transaction all or nothing: changes go to an overlay that is merged
    /// only if every micro-op succeeded.
    fn txn(&mut self, ops: &[(String, Value, Value)]) -> Reply {
        let mut overlay: HashMap<String, Vec<Value>> = HashMap::new();
        let mut dirty = Vec::new();
        let mut out = Vec::with_capacity(ops.len());
        for (f, key, value) in ops {
            let k = match key_string(key) {
                Ok(k) => k,
                Err(e) => return Reply::error(400, "bad-request", e),
            };
            if !overlay.contains_key(&k) {
                let list = match self.map.get(&k) {
                    None => Vec::new(),
                    Some(Value::Array(items)) => items.clone(),
                    Some(other) => {
                        return Reply::error(400, "type", format!("key {key} holds {other}"))
                    }
                };
                overlay.insert(k.clone(), list);
            }
            let list = overlay.get_mut(&k).expect("inserted above");
            match f.as_str() {
                "append" => {
                    list.push(value.clone());
                    dirty.push(k);
                    out.push(json!(["append", key, value]));
                }
                "r" => out.push(json!(["r", key, list.clone()])),
                other => {
                    return Reply::error(400, "bad-request", format!("unknown micro-op {other}"))
                }
            }
        }
        for k in dirty {
            if let Some(list) = overlay.remove(&k) {
                self.map.insert(k, Value::Array(list));
            }
        }
        Reply::ok(json!({"ops": out}))
    }
}
