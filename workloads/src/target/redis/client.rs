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

use crate::client::{Client, Op, Outcome};

/// Compare-and-set: ARGV[1] the expected value, ARGV[2] the new one, ARGV[3] `1` when the
/// expected value is "absent".
const CAS: &str = "local v = redis.call('GET', KEYS[1]) \
if (v == false and ARGV[3] == '1') or (v ~= false and ARGV[3] == '0' and v == ARGV[1]) then \
redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// A Redis client: writes to `primary`, reads to the primary or to one of `replicas`.
#[derive(Clone)]
pub struct Redis {
    primary: String,
    replicas: Arc<Vec<String>>,
    read_replica: bool,
    timeout: Duration,
    node: usize,
    write: Option<MultiplexedConnection>,
    read: Option<MultiplexedConnection>,
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
            replicas,
            read_replica,
            timeout,
            node: 0,
            write: None,
            read: None,
        }
    }

    async fn connect(&self, url: &str) -> Result<MultiplexedConnection, ClientError> {
        let client = redis::Client::open(url).map_err(|e| ClientError::Connect(e.to_string()))?;
        tokio::time::timeout(self.timeout, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| ClientError::Connect(format!("connect {url}: timed out")))?
            .map_err(|e| ClientError::Connect(format!("connect {url}: {e}")))
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
        self.write = Some(self.connect(&self.primary).await?);
        if self.read_replica && !self.replicas.is_empty() {
            let i = node % self.replicas.len();
            self.node = i + 1;
            self.read = Some(self.connect(&self.replicas[i].clone()).await?);
        } else {
            self.node = 0;
            self.read = self.write.clone();
        }
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        let key = key_of(op);
        let (Some(write), Some(read)) = (self.write.as_mut(), self.read.as_mut()) else {
            return Outcome::Fail(json!("not open"));
        };
        let t = self.timeout;
        match op.f {
            "read" => {
                let r: Result<Result<Option<String>, _>, _> =
                    tokio::time::timeout(t, redis::cmd("GET").arg(&key).query_async(read)).await;
                match r {
                    Ok(Ok(None)) => Outcome::Ok(Value::Null),
                    Ok(Ok(Some(s))) => match serde_json::from_str(&s) {
                        Ok(v) => Outcome::Ok(v),
                        Err(e) => Outcome::Fail(json!(format!("value is not JSON: {e}"))),
                    },
                    Ok(Err(e)) => Outcome::Fail(json!(e.to_string())),
                    Err(_) => Outcome::Fail(json!("read timed out")),
                }
            }
            "write" => {
                let r: Result<Result<(), _>, _> = tokio::time::timeout(
                    t,
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(op.value.to_string())
                        .query_async(write),
                )
                .await;
                match r {
                    Ok(Ok(())) => Outcome::Ok(op.value.clone()),
                    Ok(Err(e)) => Outcome::Info(json!(e.to_string())),
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
                let r: Result<Result<i64, _>, _> =
                    tokio::time::timeout(t, inv.invoke_async(write)).await;
                match r {
                    Ok(Ok(1)) => Outcome::Ok(op.value.clone()),
                    Ok(Ok(_)) => Outcome::Fail(json!("cas-mismatch")),
                    Ok(Err(e)) => Outcome::Info(json!(e.to_string())),
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
        format!("n{}", self.node + 1)
    }
}
