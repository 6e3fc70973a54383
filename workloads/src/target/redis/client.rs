//! The Redis client: register operations on the primary (GET, SET, and compare-and-set as a
//! small Lua script, atomic on the server), with reads optionally sent to a replica
//! (`--read-from replica`), which Redis replicates asynchronously — so such reads may be stale.
//!
//! Keys are `k<n>`; values the JSON text of the generator's value. A cas whose compare fails is
//! `fail`; a timeout or lost connection after a write was sent is `info`; a failed read is
//! `fail`.

use crate::error::ClientError;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde_json::{json, Value};

use crate::client::{Client, Op, Outcome, Unreachable};

/// Compare-and-set: ARGV[1] the expected value, ARGV[2] the new one, ARGV[3] `1` when the
/// expected value is "absent".
const CAS: &str = "local v = redis.call('GET', KEYS[1]) \
if (v == false and ARGV[3] == '1') or (v ~= false and ARGV[3] == '0' and v == ARGV[1]) then \
redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// A Redis client: writes to `primary`, reads to the primary or to one of `replicas`.
///
/// A connection that is lost (the node killed, reset) is dropped and made again before the
/// next operation that needs it; while it cannot be made, each operation is `fail` (nothing
/// was sent) and [`Client::unreachable`] says why, so the worker backs off.
#[derive(Clone)]
pub struct Redis {
    primary: String,
    replicas: Arc<Vec<String>>,
    read_replica: bool,
    timeout: Duration,
    /// Index of the replica this worker reads from (with `read_replica`).
    replica: usize,
    write: Option<MultiplexedConnection>,
    /// The replica connection (with `read_replica`; otherwise reads use `write`).
    read: Option<MultiplexedConnection>,
    /// Why the last invocation could not reach its node, if it could not.
    unreachable: Option<Unreachable>,
}

/// Why a connection could not be made.
struct Unopened {
    why: Unreachable,
    message: String,
}

/// What a Redis error says about reaching the node.
fn unreachable_of(e: &redis::RedisError) -> Option<Unreachable> {
    if e.is_connection_refusal() {
        Some(Unreachable::Refused)
    } else if e.is_connection_dropped() {
        Some(Unreachable::Reset)
    } else if e.is_io_error() {
        Some(Unreachable::of_error(e).unwrap_or(Unreachable::Reset))
    } else {
        None
    }
}

impl Redis {
    /// A client; URLs are `redis://127.0.0.1:port`. With `read_replica`, worker `i` reads from
    /// replica `i mod replicas`.
    pub fn new(
        primary: String,
        replicas: Arc<Vec<String>>,
        read_replica: bool,
        timeout: Duration,
    ) -> Redis {
        Redis {
            primary,
            read_replica: read_replica && !replicas.is_empty(),
            replicas,
            timeout,
            replica: 0,
            write: None,
            read: None,
            unreachable: None,
        }
    }

    async fn connect(&self, url: &str) -> Result<MultiplexedConnection, Unopened> {
        let client = redis::Client::open(url).map_err(|e| Unopened {
            why: Unreachable::CannotOpen,
            message: e.to_string(),
        })?;
        match tokio::time::timeout(self.timeout, client.get_multiplexed_async_connection()).await
        {
            Err(_) => Err(Unopened {
                why: Unreachable::CannotOpen,
                message: format!("connect {url}: timed out"),
            }),
            Ok(Err(e)) => Err(Unopened {
                why: if e.is_connection_refusal() {
                    Unreachable::Refused
                } else {
                    Unreachable::CannotOpen
                },
                message: format!("connect {url}: {e}"),
            }),
            Ok(Ok(c)) => Ok(c),
        }
    }

    /// The connection an operation needs (the replica's for a read with `read_replica`, else
    /// the primary's), made first if there is none.
    async fn connection(&mut self, reading: bool) -> Result<MultiplexedConnection, Unopened> {
        let replica = reading && self.read_replica;
        let slot = if replica { &self.read } else { &self.write };
        if let Some(c) = slot {
            return Ok(c.clone());
        }
        let url = if replica {
            self.replicas[self.replica].clone()
        } else {
            self.primary.clone()
        };
        let c = self.connect(&url).await?;
        if replica {
            self.read = Some(c.clone());
        } else {
            self.write = Some(c.clone());
        }
        Ok(c)
    }

    /// After an error on the connection of an operation: drops a connection the error says is
    /// lost (made again before the next operation) and notes why.
    fn lost(&mut self, reading: bool, e: &redis::RedisError) {
        if let Some(why) = unreachable_of(e) {
            self.unreachable = Some(why);
            if reading && self.read_replica {
                self.read = None;
            } else {
                self.write = None;
            }
        }
    }
}

fn key_of(op: &Op) -> String {
    match &op.key {
        Some(Value::Number(n)) => format!("k{n}"),
        Some(Value::String(s)) => s.clone(),
        _ => "k".to_string(),
    }
}

impl Client for Redis {
    async fn open(&mut self, node: usize) -> Result<(), ClientError> {
        self.write = None;
        self.read = None;
        if self.read_replica {
            self.replica = node % self.replicas.len();
        }
        self.connection(false)
            .await
            .map_err(|e| ClientError::Connect(e.message))?;
        if self.read_replica {
            self.connection(true)
                .await
                .map_err(|e| ClientError::Connect(e.message))?;
        }
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        self.unreachable = None;
        let key = key_of(op);
        let reading = op.f == "read";
        // Nothing is sent without a connection: `fail`, and the worker backs off.
        let mut conn = match self.connection(reading).await {
            Ok(c) => c,
            Err(e) => {
                self.unreachable = Some(e.why);
                return Outcome::Fail(json!(e.message));
            }
        };
        let t = self.timeout;
        match op.f {
            "read" => {
                let r: Result<Result<Option<String>, redis::RedisError>, _> =
                    tokio::time::timeout(t, redis::cmd("GET").arg(&key).query_async(&mut conn))
                        .await;
                match r {
                    Ok(Ok(None)) => Outcome::Ok(Value::Null),
                    Ok(Ok(Some(s))) => match serde_json::from_str(&s) {
                        Ok(v) => Outcome::Ok(v),
                        Err(e) => Outcome::Fail(json!(format!("value is not JSON: {e}"))),
                    },
                    Ok(Err(e)) => {
                        self.lost(true, &e);
                        Outcome::Fail(json!(e.to_string()))
                    }
                    Err(_) => Outcome::Fail(json!("read timed out")),
                }
            }
            "write" => {
                let r: Result<Result<(), redis::RedisError>, _> = tokio::time::timeout(
                    t,
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(op.value.to_string())
                        .query_async(&mut conn),
                )
                .await;
                match r {
                    Ok(Ok(())) => Outcome::Ok(op.value.clone()),
                    Ok(Err(e)) => {
                        self.lost(false, &e);
                        Outcome::Info(json!(e.to_string()))
                    }
                    Err(_) => Outcome::Info(json!("timed out")),
                }
            }
            "cas" => {
                let (old, new) = match op.value.as_array().map(Vec::as_slice) {
                    Some([o, n]) => (o.clone(), n.clone()),
                    _ => return Outcome::Fail(json!("cas expects [old, new]")),
                };
                let script = redis::Script::new(CAS);
                let mut inv = script.key(&key);
                inv.arg(if old.is_null() {
                    String::new()
                } else {
                    old.to_string()
                })
                .arg(new.to_string())
                .arg(if old.is_null() { "1" } else { "0" });
                let r: Result<Result<i64, redis::RedisError>, _> =
                    tokio::time::timeout(t, inv.invoke_async(&mut conn)).await;
                match r {
                    Ok(Ok(1)) => Outcome::Ok(op.value.clone()),
                    Ok(Ok(_)) => Outcome::Fail(json!("cas-mismatch")),
                    Ok(Err(e)) => {
                        self.lost(false, &e);
                        Outcome::Info(json!(e.to_string()))
                    }
                    Err(_) => Outcome::Info(json!("timed out")),
                }
            }
            other => Outcome::Fail(json!(format!(
                "the redis client has no operation {other:?}"
            ))),
        }
    }

    async fn close(&mut self) {
        self.write = None;
        self.read = None;
    }

    fn node_name(&self) -> String {
        if self.read_replica {
            format!("n{}", self.replica + 2)
        } else {
            "n1".into()
        }
    }

    fn unreachable(&self) -> Option<Unreachable> {
        self.unreachable
    }
}
