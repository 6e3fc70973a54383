//! The http-kv client (`docs/http-kv.md`): the demo store's protocol, and any service that
//! speaks it.

use crate::error::ClientError;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{read_only, Client, Op, Outcome, Unreachable};

/// The http-kv client (`docs/http-kv.md`): one pooled HTTP/1.1 keep-alive connection per
/// worker, to the node chosen by `open`.
#[derive(Debug, Clone)]
pub struct HttpKv {
    nodes: Arc<Vec<SocketAddr>>,
    node: usize,
    timeout: Duration,
    http: Option<reqwest::Client>,
    /// Why the last invocation could not reach the node, if it could not.
    unreachable: Option<Unreachable>,
}

impl HttpKv {
    /// A client for the nodes at `nodes`, with a per-operation `timeout`.
    pub fn new(nodes: Arc<Vec<SocketAddr>>, timeout: Duration) -> HttpKv {
        HttpKv {
            nodes,
            node: 0,
            timeout,
            http: None,
            unreachable: None,
        }
    }

    /// The endpoint and JSON body for an operation.
    fn request(op: &Op) -> Result<(&'static str, Value), ClientError> {
        let key = op.key.clone().unwrap_or(Value::Null);
        Ok(match op.f {
            "read" | "get" => ("/read", json!({ "key": key })),
            "write" | "put" => ("/write", json!({ "key": key, "value": op.value })),
            "append" => ("/append", json!({ "key": key, "value": op.value })),
            "cas" => match op.value.as_array().map(Vec::as_slice) {
                Some([from, to]) => ("/cas", json!({ "key": key, "from": from, "to": to })),
                _ => {
                    return Err(ClientError::Operation(format!(
                        "cas expects [old, new], got {}",
                        op.value
                    )))
                }
            },
            "txn" => ("/txn", json!({ "ops": op.value })),
            other => {
                return Err(ClientError::Operation(format!(
                    "http-kv has no operation {other:?}"
                )))
            }
        })
    }

    /// Interprets a 200 answer for `op`. An answer of the wrong shape (not JSON, a read
    /// without `value`, a txn without its micro-ops) is not a result: the operation is
    /// indeterminate, or failed for a read (see [`HttpKv::unanswered`]).
    fn ok_value(op: &Op, body: Option<&Value>) -> Outcome {
        let Some(Value::Object(body)) = body else {
            return HttpKv::unanswered(op, "malformed-answer");
        };
        if body.contains_key("error") {
            return HttpKv::unanswered(op, "malformed-answer");
        }
        match op.f {
            "read" => match body.get("value") {
                Some(v) => Outcome::Ok(v.clone()),
                None => HttpKv::unanswered(op, "malformed-answer"),
            },
            // kv reads of an absent key are the empty string (docs/models.md).
            "get" => match body.get("value") {
                Some(Value::Null) => Outcome::Ok(Value::String(String::new())),
                Some(v) => Outcome::Ok(v.clone()),
                None => HttpKv::unanswered(op, "malformed-answer"),
            },
            "txn" => match body.get("ops") {
                Some(Value::Array(done)) if txn_answer_fits(&op.value, done) => {
                    Outcome::Ok(Value::Array(done.clone()))
                }
                _ => HttpKv::unanswered(op, "malformed-answer"),
            },
            _ => Outcome::Ok(op.value.clone()),
        }
    }

    /// The outcome of `op` when its request may have reached the service but no usable answer
    /// came back (`why`: timeout, reset, a 5xx, a malformed 200): `info` — it may still take
    /// effect — except for operations that only read, which are `fail`: a read changes
    /// nothing, so leaving it out of the history is always sound (Jepsen's clients do the
    /// same), and it spares the checker an open-ended operation.
    fn unanswered(op: &Op, why: impl Into<Value>) -> Outcome {
        if read_only(op) {
            Outcome::Fail(why.into())
        } else {
            Outcome::Info(why.into())
        }
    }
}

/// Whether a txn answer repeats the request's micro-ops (same count, function and key, the
/// appended values unchanged) with every read filled in by a list.
fn txn_answer_fits(request: &Value, done: &[Value]) -> bool {
    let Some(asked) = request.as_array() else {
        return false;
    };
    asked.len() == done.len()
        && asked.iter().zip(done).all(|(a, d)| {
            let same_f_and_key = a.get(0) == d.get(0) && a.get(1) == d.get(1);
            let value_fits = match a.get(0).and_then(Value::as_str) {
                Some("r") => d.get(2).is_some_and(Value::is_array),
                _ => a.get(2) == d.get(2),
            };
            same_f_and_key && value_fits
        })
}
impl Client for HttpKv {
    async fn open(&mut self, node: usize) -> Result<(), ClientError> {
        self.node = node % self.nodes.len().max(1);
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ClientError::Connect(format!("cannot build an HTTP client: {e}")))?;
        self.http = Some(http);
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        self.unreachable = None;
        let Some(http) = &self.http else {
            self.unreachable = Some(Unreachable::CannotOpen);
            return Outcome::Fail(json!("client not open"));
        };
        let (path, body) = match HttpKv::request(op) {
            Ok(r) => r,
            Err(e) => return Outcome::Fail(json!(e.to_string())),
        };
        let url = format!("http://{}{}", self.nodes[self.node], path);
        let response = match http.post(url).json(&body).send().await {
            Ok(r) => r,
            // Refused before anything was sent: certainly not applied.
            Err(e) if e.is_connect() && !e.is_timeout() => {
                let why = Unreachable::of_error(&e).unwrap_or(Unreachable::CannotOpen);
                self.unreachable = Some(why);
                return Outcome::Fail(json!(match why {
                    Unreachable::Refused => "connection-refused".to_string(),
                    _ => format!("cannot connect: {e}"),
                }));
            }
            Err(e) if e.is_timeout() => return HttpKv::unanswered(op, "timeout"),
            Err(e) => {
                // A reset (or a connection closed without an answer) after the request may
                // have been sent: the outcome rules decide, and the worker backs off.
                self.unreachable = Unreachable::of_error(&e).or_else(|| {
                    // hyper reports a connection closed before any answer as an incomplete
                    // message, without an io::Error underneath.
                    let text = format!("{e:?}");
                    (text.contains("IncompleteMessage") || text.contains("connection closed"))
                        .then_some(Unreachable::Reset)
                });
                return HttpKv::unanswered(op, format!("request failed: {e}"));
            }
        };
        let status = response.status().as_u16();
        // The whole body, within the same timeout; a reset or timeout while reading it leaves
        // the operation as open as one during the request.
        let body: Option<Value> = match response.bytes().await {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(e) if e.is_timeout() => return HttpKv::unanswered(op, "timeout"),
            Err(e) => {
                self.unreachable = Unreachable::of_error(&e);
                return HttpKv::unanswered(op, format!("answer cut off: {e}"));
            }
        };
        let error = || {
            body.as_ref()
                .and_then(|b| b.get("error"))
                .cloned()
                .unwrap_or(json!(status))
        };
        match status {
            200 => HttpKv::ok_value(op, body.as_ref()),
            409 | 503 => Outcome::Fail(error()),
            _ => HttpKv::unanswered(op, error()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::read_only;

    fn op(f: &'static str, value: Value) -> Op {
        Op {
            f,
            key: Some(json!(1)),
            value,
        }
    }

    #[test]
    fn a_malformed_200_is_never_a_result() {
        let read = op("read", Value::Null);
        let write = op("write", json!(3));
        let garbage = [None, Some(json!([1])), Some(json!({"valeu": 1}))];
        for body in &garbage {
            assert!(matches!(
                HttpKv::ok_value(&read, body.as_ref()),
                Outcome::Fail(_)
            ));
        }
        assert!(matches!(HttpKv::ok_value(&write, None), Outcome::Info(_)));
        assert!(matches!(
            HttpKv::ok_value(&write, Some(&json!({"error": "x"}))),
            Outcome::Info(_)
        ));
        assert_eq!(
            HttpKv::ok_value(&write, Some(&json!({"extra": 1}))),
            Outcome::Ok(json!(3))
        );
        assert_eq!(
            HttpKv::ok_value(&read, Some(&json!({"value": null}))),
            Outcome::Ok(Value::Null)
        );
    }

    #[test]
    fn txn_answers_must_repeat_the_request() {
        let txn = op("txn", json!([["append", 1, 5], ["r", 2, null]]));
        let good = json!({"ops": [["append", 1, 5], ["r", 2, [5]]]});
        assert!(matches!(
            HttpKv::ok_value(&txn, Some(&good)),
            Outcome::Ok(_)
        ));
        for bad in [
            json!({"ops": [["append", 1, 5]]}),
            json!({"ops": [["append", 1, 6], ["r", 2, [5]]]}),
            json!({"ops": [["append", 1, 5], ["r", 2, null]]}),
        ] {
            assert!(matches!(
                HttpKv::ok_value(&txn, Some(&bad)),
                Outcome::Info(_)
            ));
        }
        assert!(read_only(&op("txn", json!([["r", 1, null]]))));
        assert!(!read_only(&txn));
        assert!(read_only(&op("get", Value::Null)));
        assert!(!read_only(&op("cas", json!([1, 2]))));
    }
}
