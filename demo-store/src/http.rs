//! The http-kv server of one demo-store replica (`docs/http-kv.md`): parses requests into
//! [`Cmd`]s, hands them to the node's mode, and turns [`Reply`]s into responses.
//!
//! Run side only. Malformed requests get 400 (recorded by faultline as `info`, which is safe).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use super::kv::{key_string, Cmd, Reply};
use super::primary::Primary;
use super::raft::Raft;

/// The replica behind the server, in either mode.
pub enum Node {
    /// Sync mode (Raft-style, linearizable).
    Sync(Arc<Raft>),
    /// Async mode (primary/backup).
    Async(Arc<Primary>),
}

impl Node {
    async fn handle(&self, cmd: Cmd) -> Reply {
        match self {
            Node::Sync(raft) => raft.handle(cmd).await,
            Node::Async(primary) => primary.handle(cmd).await,
        }
    }

    fn health(&self) -> Value {
        match self {
            Node::Sync(raft) => raft.health(),
            Node::Async(primary) => primary.health(),
        }
    }
}

/// The state every handler extracts.
type St = State<Arc<Node>>;

/// The router with every http-kv endpoint.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/read", post(|s: St, b: Bytes| endpoint(s, "read", b)))
        .route("/write", post(|s: St, b: Bytes| endpoint(s, "write", b)))
        .route("/cas", post(|s: St, b: Bytes| endpoint(s, "cas", b)))
        .route("/append", post(|s: St, b: Bytes| endpoint(s, "append", b)))
        .route("/txn", post(|s: St, b: Bytes| endpoint(s, "txn", b)))
        .route("/health", get(health))
        .with_state(node)
}

async fn endpoint(State(node): State<Arc<Node>>, name: &'static str, body: Bytes) -> Response {
    let reply = match parse(name, &body) {
        Ok(cmd) => node.handle(cmd).await,
        Err(message) => Reply::error(400, "bad-request", message),
    };
    respond(reply)
}

async fn health(State(node): State<Arc<Node>>) -> Response {
    respond(Reply::ok(node.health()))
}

fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        reply.body.to_string(),
    )
        .into_response()
}

/// Parses the body of a request to `/name` into a command.
pub fn parse(name: &str, body: &[u8]) -> Result<Cmd, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let field = |f: &str| -> Result<Value, String> {
        v.get(f)
            .cloned()
            .ok_or_else(|| format!("/{name} needs a \"{f}\" field"))
    };
    let key = || -> Result<Value, String> {
        let key = field("key")?;
        key_string(&key)?;
        Ok(key)
    };
    Ok(match name {
        "read" => Cmd::Read { key: key()? },
        "write" => Cmd::Write {
            key: key()?,
            value: field("value")?,
        },
        "cas" => Cmd::Cas {
            key: key()?,
            from: field("from")?,
            to: field("to")?,
        },
        "append" => match field("value")? {
            Value::String(s) => Cmd::Append {
                key: key()?,
                value: s,
            },
            other => return Err(format!("/append needs a string value, got {other}")),
        },
        "txn" => {
            let ops = field("ops")?;
            let ops = ops.as_array().ok_or("/txn needs an \"ops\" array")?;
            let mut parsed = Vec::with_capacity(ops.len());
            for op in ops {
                match op.as_array().map(|a| a.as_slice()) {
                    Some([Value::String(f), k, value]) if f == "append" || f == "r" => {
                        key_string(k)?;
                        parsed.push((f.clone(), k.clone(), value.clone()));
                    }
                    _ => {
                        return Err(format!(
                            "bad micro-op {op}: want [\"append\"|\"r\", key, value]"
                        ))
                    }
                }
            }
            Cmd::Txn { ops: parsed }
        }
        other => return Err(format!("unknown endpoint /{other}")),
    })
}
