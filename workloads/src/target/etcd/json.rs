//! The etcd client: register operations over etcd v3's JSON gRPC gateway (`/v3/kv/range`,
//! `/v3/kv/put`, `/v3/kv/txn`; keys and values base64), one member per client.
//!
//! Keys are `k<n>`; values are the JSON text of the generator's value. `cas [old, new]` is a
//! txn comparing the value to `old` (or, for `old = null`, that the key was never created) and
//! putting `new` on success; a txn that did not succeed is `fail` (cas-mismatch). Reads are
//! linearizable by default; with `serializable` they are served by the member alone, without
//! quorum (and may be stale). A timeout or lost connection after sending a write is `info`;
//! any failed read is `fail` (a read changes nothing).

use crate::error::ClientError;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::client::{Client, Op, Outcome, Unreachable};

/// A client of an etcd cluster at `endpoints` (client URLs `http://host:port`).
#[derive(Debug, Clone)]
pub struct Etcd {
    endpoints: Arc<Vec<String>>,
    node: usize,
    timeout: Duration,
    serializable: bool,
    http: Option<reqwest::Client>,
    /// Why the last invocation could not reach the member, if it could not.
    unreachable: Option<Unreachable>,
}

impl Etcd {
    /// A client; `serializable` makes reads `serializable: true` (no quorum).
    pub fn new(endpoints: Arc<Vec<String>>, timeout: Duration, serializable: bool) -> Etcd {
        Etcd {
            endpoints,
            node: 0,
            timeout,
            serializable,
            http: None,
            unreachable: None,
        }
    }

    /// One request; `Err((sent, message))` where `sent` is false only when no connection
    /// was made. Notes in `self.unreachable` whether the member could not be reached.
    async fn post(&mut self, path: &str, body: Value) -> Result<Value, (bool, String)> {
        let Some(http) = self.http.as_ref() else {
            self.unreachable = Some(Unreachable::CannotOpen);
            return Err((false, "not open".to_string()));
        };
        let url = format!("{}{path}", self.endpoints[self.node]);
        let resp = match http.post(&url).json(&body).send().await {
            Ok(r) => r,
            Err(e) => {
                // Not connected: nothing was sent.
                self.unreachable = if e.is_connect() && !e.is_timeout() {
                    Some(Unreachable::of_error(&e).unwrap_or(Unreachable::CannotOpen))
                } else {
                    Unreachable::of_error(&e)
                };
                return Err((!e.is_connect(), format!("{path}: {e}")));
            }
        };
        let status = resp.status();
        let body: Value = match resp.json().await {
            Ok(b) => b,
            Err(e) => {
                self.unreachable = Unreachable::of_error(&e);
                return Err((true, format!("{path}: unreadable answer: {e}")));
            }
        };
        if !status.is_success() || body.get("error").is_some() {
            return Err((true, format!("{path}: {status} {body}")));
        }
        Ok(body)
    }
}

/// The etcd key of an operation's key (`k<n>`); shared with the gRPC client so both clients
/// use the same keys.
pub(super) fn key_of(op: &Op) -> String {
    match &op.key {
        Some(Value::Number(n)) => format!("k{n}"),
        Some(Value::String(s)) => s.clone(),
        _ => "k".to_string(),
    }
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// The value of the first kv of a range answer, parsed as JSON (absent: null).
fn range_value(body: &Value) -> Result<Value, ClientError> {
    let Some(kv) = body.get("kvs").and_then(|k| k.get(0)) else {
        return Ok(Value::Null);
    };
    let raw = kv.get("value").and_then(Value::as_str).unwrap_or("");
    let bytes = B64
        .decode(raw)
        .map_err(|e| ClientError::Answer(format!("bad base64 {raw:?}: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Answer(format!("value is not JSON: {e}")))
}

impl Client for Etcd {
    async fn open(&mut self, node: usize) -> Result<(), ClientError> {
        self.node = node % self.endpoints.len().max(1);
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .pool_max_idle_per_host(1)
            .build()
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        self.http = Some(http);
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        self.unreachable = None;
        let key = b64(&key_of(op));
        match op.f {
            "read" => {
                let mut body = json!({ "key": key });
                if self.serializable {
                    body["serializable"] = json!(true);
                }
                match self.post("/v3/kv/range", body).await {
                    Ok(b) => match range_value(&b) {
                        Ok(v) => Outcome::Ok(v),
                        Err(e) => Outcome::Fail(json!(e.to_string())),
                    },
                    Err((_, e)) => Outcome::Fail(json!(e)),
                }
            }
            "write" => {
                let body = json!({ "key": key, "value": b64(&op.value.to_string()) });
                match self.post("/v3/kv/put", body).await {
                    Ok(_) => Outcome::Ok(op.value.clone()),
                    Err((true, e)) => Outcome::Info(json!(e)),
                    Err((false, e)) => Outcome::Fail(json!(e)),
                }
            }
            "cas" => {
                let (old, new) = match op.value.as_array().map(Vec::as_slice) {
                    Some([o, n]) => (o.clone(), n.clone()),
                    _ => return Outcome::Fail(json!("cas expects [old, new]")),
                };
                let compare = if old.is_null() {
                    json!({ "key": key, "result": "EQUAL", "target": "CREATE", "create_revision": "0" })
                } else {
                    json!({ "key": key, "result": "EQUAL", "target": "VALUE", "value": b64(&old.to_string()) })
                };
                let body = json!({
                    "compare": [compare],
                    "success": [{ "request_put": { "key": key, "value": b64(&new.to_string()) } }],
                });
                match self.post("/v3/kv/txn", body).await {
                    Ok(b) if b.get("succeeded").and_then(Value::as_bool) == Some(true) => {
                        Outcome::Ok(op.value.clone())
                    }
                    Ok(_) => Outcome::Fail(json!("cas-mismatch")),
                    Err((true, e)) => Outcome::Info(json!(e)),
                    Err((false, e)) => Outcome::Fail(json!(e)),
                }
            }
            other => Outcome::Fail(json!(format!("the etcd client has no operation {other:?}"))),
        }
    }

    async fn close(&mut self) {
        self.http = None;
    }

    fn node_name(&self) -> String {
        format!("n{}", self.node + 1)
    }

    fn unreachable(&self) -> Option<Unreachable> {
        self.unreachable
    }
}
