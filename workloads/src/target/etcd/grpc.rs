//! The etcd client over etcd's native gRPC API (`--etcd-api grpc`, "run" step): the same
//! register operations, keys, values and outcome rules as the JSON-gateway client
//! ([`super::json`]), sent as protobuf over HTTP/2 (tonic) to `etcdserverpb.KV`'s `Range`,
//! `Put` and `Txn`, one member per client.
//!
//! `read` is `Range` (linearizable unless `serializable`); `write` is `Put`; `cas [old, new]`
//! is a `Txn` comparing the value to `old` (or, for `old = null`, that the key was never
//! created) and putting `new` on success; a txn that did not succeed is `fail`
//! (cas-mismatch). A write or cas whose connection could not be made is `fail` (nothing was
//! sent); one that timed out or got any other error is `info`; any failed read is `fail`.

use crate::error::ClientError;
use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use serde_json::{json, Value};
use tonic::client::Grpc;
use tonic::codec::ProstCodec;
use tonic::transport::{Channel, Endpoint};

use super::grpc_proto::{
    Compare, CompareWith, PutRequest, PutResponse, RangeRequest, RangeResponse, Request, RequestOp,
    TxnRequest, TxnResponse, COMPARE_EQUAL, TARGET_CREATE, TARGET_VALUE,
};
use super::json::key_of;
use crate::client::{Client, Op, Outcome, Unreachable};

/// `etcdserverpb.KV/Range`.
const RANGE: &str = "/etcdserverpb.KV/Range";
/// `etcdserverpb.KV/Put`.
const PUT: &str = "/etcdserverpb.KV/Put";
/// `etcdserverpb.KV/Txn`.
const TXN: &str = "/etcdserverpb.KV/Txn";

/// A gRPC client of an etcd cluster at `endpoints` (client URLs `http://host:port`).
#[derive(Debug, Clone)]
pub struct EtcdGrpc {
    endpoints: Arc<Vec<String>>,
    node: usize,
    timeout: Duration,
    serializable: bool,
    grpc: Option<Grpc<Channel>>,
    /// Why the last invocation could not reach the member, if it could not.
    unreachable: Option<Unreachable>,
}

/// Why a call did not answer: `sent` is false only when no connection could be made (so the
/// request never left faultline).
struct CallError {
    sent: bool,
    message: String,
    /// Whether the member could not be reached at all (for the runner's back-off).
    unreachable: Option<Unreachable>,
}

impl EtcdGrpc {
    /// A client; `serializable` makes reads `serializable = true` (no quorum).
    pub fn new(endpoints: Arc<Vec<String>>, timeout: Duration, serializable: bool) -> EtcdGrpc {
        EtcdGrpc {
            endpoints,
            node: 0,
            timeout,
            serializable,
            grpc: None,
            unreachable: None,
        }
    }

    /// One unary call of `path` (`/etcdserverpb.KV/<rpc>`), bounded by the client's timeout.
    async fn call<Q, A>(&mut self, path: &'static str, request: Q) -> Result<A, CallError>
    where
        Q: prost::Message + Send + Sync + 'static,
        A: prost::Message + Default + Send + Sync + 'static,
    {
        let Some(grpc) = self.grpc.as_mut() else {
            return Err(CallError {
                sent: false,
                message: "not open".into(),
                unreachable: Some(Unreachable::CannotOpen),
            });
        };
        let rpc = path.rsplit('/').next().unwrap_or(path);
        let exchange = async {
            grpc.ready().await.map_err(|e| CallError {
                sent: connected(&e),
                message: format!("{rpc}: {}", causes(&e)),
                unreachable: unreachable(&e),
            })?;
            let codec = ProstCodec::<Q, A>::default();
            grpc.unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(path),
                codec,
            )
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| CallError {
                sent: connected(&s),
                message: format!("{rpc}: {:?}: {}", s.code(), s.message()),
                unreachable: unreachable(&s),
            })
        };
        let answer = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(CallError {
                sent: true,
                message: format!("{rpc}: timed out after {:?}", self.timeout),
                unreachable: None,
            }),
        };
        if let Err(e) = &answer {
            self.unreachable = e.unreachable;
        }
        answer
    }
}

/// Whether the request may have reached the server: false only when tonic reports that the
/// connection itself failed (refused, unreachable, connect timeout).
fn connected(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<tonic::ConnectError>() {
            return false;
        }
        cur = err.source();
    }
    true
}

/// Whether an error says the member could not be reached: a failed connection (refused, or
/// else cannot open), or a reset underneath the call.
fn unreachable(e: &(dyn std::error::Error + 'static)) -> Option<Unreachable> {
    let why = Unreachable::of_error(e);
    if connected(e) {
        why
    } else {
        Some(why.unwrap_or(Unreachable::CannotOpen))
    }
}

/// An error and its sources, `: `-separated (tonic's own message is often just "transport
/// error").
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let more = err.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cur = err.source();
    }
    text
}

/// The JSON value stored under a key (absent: null).
fn stored_value(answer: &RangeResponse) -> Result<Value, ClientError> {
    match answer.kvs.first() {
        None => Ok(Value::Null),
        Some(kv) => serde_json::from_slice(&kv.value)
            .map_err(|e| ClientError::Answer(format!("value is not JSON: {e}"))),
    }
}

/// A write's outcome from its error: not sent is `fail`, anything else `info`.
fn unknown_or_failed(e: CallError) -> Outcome {
    if e.sent {
        Outcome::Info(json!(e.message))
    } else {
        Outcome::Fail(json!(e.message))
    }
}

impl Client for EtcdGrpc {
    async fn open(&mut self, node: usize) -> Result<(), ClientError> {
        self.node = node % self.endpoints.len().max(1);
        let url = self.endpoints[self.node].clone();
        // Lazy: connects on the first call, so a dead member costs no time here and its
        // refusal is that call's (`fail`) outcome.
        let channel = Endpoint::from_shared(url.clone())
            .map_err(|e| ClientError::Connect(format!("{url}: {e}")))?
            .connect_timeout(self.timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        self.grpc = Some(Grpc::new(channel));
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        self.unreachable = None;
        self.exchange(op).await
    }

    async fn close(&mut self) {
        self.grpc = None;
    }

    fn node_name(&self) -> String {
        format!("n{}", self.node + 1)
    }

    fn unreachable(&self) -> Option<Unreachable> {
        self.unreachable
    }
}

impl EtcdGrpc {
    /// Sends `op`, noting in `self.unreachable` whether the member could not be reached.
    async fn exchange(&mut self, op: &Op) -> Outcome {
        let key = key_of(op).into_bytes();
        match op.f {
            "read" => {
                let request = RangeRequest {
                    key,
                    serializable: self.serializable,
                };
                match self.call::<_, RangeResponse>(RANGE, request).await {
                    Ok(answer) => match stored_value(&answer) {
                        Ok(v) => Outcome::Ok(v),
                        Err(e) => Outcome::Fail(json!(e.to_string())),
                    },
                    Err(e) => Outcome::Fail(json!(e.message)),
                }
            }
            "write" => {
                let request = PutRequest {
                    key,
                    value: op.value.to_string().into_bytes(),
                };
                match self.call::<_, PutResponse>(PUT, request).await {
                    Ok(_) => Outcome::Ok(op.value.clone()),
                    Err(e) => unknown_or_failed(e),
                }
            }
            "cas" => {
                let (old, new) = match op.value.as_array().map(Vec::as_slice) {
                    Some([o, n]) => (o.clone(), n.clone()),
                    _ => return Outcome::Fail(json!("cas expects [old, new]")),
                };
                let compare = if old.is_null() {
                    Compare {
                        result: COMPARE_EQUAL,
                        target: TARGET_CREATE,
                        key: key.clone(),
                        with: Some(CompareWith::CreateRevision(0)),
                    }
                } else {
                    Compare {
                        result: COMPARE_EQUAL,
                        target: TARGET_VALUE,
                        key: key.clone(),
                        with: Some(CompareWith::Value(old.to_string().into_bytes())),
                    }
                };
                let put = PutRequest {
                    key,
                    value: new.to_string().into_bytes(),
                };
                let request = TxnRequest {
                    compare: vec![compare],
                    success: vec![RequestOp {
                        request: Some(Request::Put(put)),
                    }],
                    failure: Vec::new(),
                };
                match self.call::<_, TxnResponse>(TXN, request).await {
                    Ok(answer) if answer.succeeded => Outcome::Ok(op.value.clone()),
                    Ok(_) => Outcome::Fail(json!("cas-mismatch")),
                    Err(e) => unknown_or_failed(e),
                }
            }
            other => Outcome::Fail(json!(format!("the etcd client has no operation {other:?}"))),
        }
    }
}
