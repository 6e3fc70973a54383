//! Clients: how an operation reaches the system under test, and how its answer becomes `ok`,
//! `fail` or `info` in the history ("run" step).
//!
//! A [`Client`] is opened against one node, may set up state, invokes operations one at a time
//! and is closed at the end. Every invocation has a timeout. The rule that keeps histories
//! honest: an operation is `fail` only when it certainly did not take effect (a definite
//! refusal, or nothing was sent); a timeout, a reset or any unexpected answer after the request
//! may have been sent is `info`, because the system may still apply it.
//!
//! - [`HttpKv`]: the http-kv protocol of `docs/http-kv.md` (the demo store, or your service).
//! - [`Local`]: an in-process, linearizable store (a mutex around a map) for tests.
//! - [`Noop`]: answers `ok` at once, to measure the generator and recorder alone.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One operation to invoke: what the history records as the invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// The operation (`read`, `write`, `cas`, `get`, `put`, `append`, `txn`).
    pub f: &'static str,
    /// The key, for keyed workloads.
    pub key: Option<Value>,
    /// The argument (`cas`: `[old, new]`; `txn`: the micro-ops with reads as `null`).
    pub value: Value,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Took effect; the result (a read's value, a txn's completed micro-ops).
    Ok(Value),
    /// Certainly did not take effect; the error.
    Fail(Value),
    /// May or may not have taken effect; the error.
    Info(Value),
}

/// A client of the system under test, bound to one node.
///
/// The runner calls `open` once per worker process, `setup` once (first worker), `invoke`
/// for each operation (one at a time), `teardown` once, and `close` at the end. After an `info` outcome the runner gives the worker a fresh
/// process id and reopens the client (the old connection may still carry a request).
pub trait Client: Send + 'static {
    /// Connects to node `node` (index into the target's node list).
    fn open(&mut self, node: usize) -> impl Future<Output = Result<(), String>> + Send;
    /// Prepares the system once per run before any operation (create tables, …); called on
    /// the first worker's client only. The default does nothing.
    fn setup(&mut self) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }
    /// Invokes `op`, waiting at most the client's timeout.
    fn invoke(&mut self, op: &Op) -> impl Future<Output = Outcome> + Send;
    /// Cleans up once per run after the last operation; first worker's client only. The
    /// default does nothing.
    fn teardown(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// Releases the connection.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
    /// The node this client talks to, for the history (`n1`, …).
    fn node_name(&self) -> String;
}

/// The http-kv client (`docs/http-kv.md`): one pooled HTTP/1.1 keep-alive connection per
/// worker, to the node chosen by `open`.
#[derive(Debug, Clone)]
pub struct HttpKv {
    nodes: Arc<Vec<SocketAddr>>,
    node: usize,
    timeout: Duration,
    http: Option<reqwest::Client>,
}

impl HttpKv {
    /// A client for the nodes at `nodes`, with a per-operation `timeout`.
    pub fn new(nodes: Arc<Vec<SocketAddr>>, timeout: Duration) -> HttpKv {
        HttpKv {
            nodes,
            node: 0,
            timeout,
            http: None,
        }
    }

    /// The endpoint and JSON body for an operation.
    fn request(op: &Op) -> Result<(&'static str, Value), String> {
        let key = op.key.clone().unwrap_or(Value::Null);
        Ok(match op.f {
            "read" | "get" => ("/read", json!({ "key": key })),
            "write" | "put" => ("/write", json!({ "key": key, "value": op.value })),
            "append" => ("/append", json!({ "key": key, "value": op.value })),
            "cas" => match op.value.as_array().map(Vec::as_slice) {
                Some([from, to]) => ("/cas", json!({ "key": key, "from": from, "to": to })),
                _ => return Err(format!("cas expects [old, new], got {}", op.value)),
            },
            "txn" => ("/txn", json!({ "ops": op.value })),
            other => return Err(format!("http-kv has no operation {other:?}")),
        })
    }

    /// Interprets a 200 answer for `op`.
    fn ok_value(op: &Op, body: &Value) -> Outcome {
        match op.f {
            "read" => Outcome::Ok(body.get("value").cloned().unwrap_or(Value::Null)),
            // kv reads of an absent key are the empty string (docs/models.md).
            "get" => Outcome::Ok(match body.get("value") {
                None | Some(Value::Null) => Value::String(String::new()),
                Some(v) => v.clone(),
            }),
            "txn" => match body.get("ops") {
                Some(ops @ Value::Array(_)) => Outcome::Ok(ops.clone()),
                _ => Outcome::Info(json!(format!("a txn answer without ops: {body}"))),
            },
            _ => Outcome::Ok(op.value.clone()),
        }
    }
}

impl Client for HttpKv {
    async fn open(&mut self, node: usize) -> Result<(), String> {
        self.node = node % self.nodes.len().max(1);
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        self.http = Some(http);
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        let Some(http) = &self.http else {
            return Outcome::Fail(json!("client not open"));
        };
        let (path, body) = match HttpKv::request(op) {
            Ok(r) => r,
            Err(e) => return Outcome::Fail(json!(e)),
        };
        let url = format!("http://{}{}", self.nodes[self.node], path);
        let response = match http.post(url).json(&body).send().await {
            Ok(r) => r,
            // Refused before anything was sent: certainly not applied.
            Err(e) if e.is_connect() && !e.is_timeout() => {
                return Outcome::Fail(json!("connection-refused"))
            }
            Err(e) if e.is_timeout() => return Outcome::Info(json!("timeout")),
            Err(e) => return Outcome::Info(json!(format!("request failed: {e}"))),
        };
        let status = response.status().as_u16();
        let body: Value = match response.json().await {
            Ok(v) => v,
            Err(e) if e.is_timeout() => return Outcome::Info(json!("timeout")),
            Err(_) => Value::Null,
        };
        let error = || body.get("error").cloned().unwrap_or(json!(status));
        match status {
            200 => HttpKv::ok_value(op, &body),
            409 | 503 => Outcome::Fail(error()),
            _ => Outcome::Info(error()),
        }
    }

    async fn close(&mut self) {
        self.http = None;
    }

    fn node_name(&self) -> String {
        format!("n{}", self.node + 1)
    }
}

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
    async fn open(&mut self, _node: usize) -> Result<(), String> {
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

/// A client that does nothing: every operation is `ok` at once (reads return `null`). Measures
/// the runner's own overhead; its histories are not meaningful to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Noop;

impl Client for Noop {
    async fn open(&mut self, _node: usize) -> Result<(), String> {
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        match op.f {
            "read" => Outcome::Ok(Value::Null),
            _ => Outcome::Ok(op.value.clone()),
        }
    }

    async fn close(&mut self) {}

    fn node_name(&self) -> String {
        "noop".into()
    }
}
