//! The PostgreSQL client of the register and kv workloads when replicas may serve reads
//! (`--target postgres --replicas N`, or `--workload kv`): every operation is one autocommit
//! statement; writes go to the primary, reads to the primary or to a hot-standby replica
//! (`--read-from replica`).
//!
//! Tables (created by [`setup`] on the primary, replicated to the standbys):
//! `registers (k int primary key, v text)` holding the JSON text of the value, and
//! `kv (k int primary key, v text)` holding the kv workload's string.
//!
//! - register `read`: `SELECT v FROM registers WHERE k = $1` on the chosen node (no row: null);
//!   `write`: upsert; `cas [old, new]`: `UPDATE registers SET v = $new WHERE k = $k AND v =
//!   $old` (for `old = null`: `INSERT … ON CONFLICT DO NOTHING`) — one row changed is `ok`, none
//!   is `fail` (`cas-mismatch`).
//! - kv `get`: `SELECT v FROM kv` (no row: `""`); `put`: upsert; `append`: upsert with
//!   `v = kv.v || excluded.v`.
//!
//! Outcomes: a connection that cannot be made is `fail` (nothing was sent); a statement the
//! server rejected with a SQLSTATE that means it did not commit (classes 22, 23, 25, 40, 42) is
//! `fail`; a timeout, a lost connection or any other error once a write was sent is `info`
//! (it may have committed — under `synchronous_commit = remote_apply` the primary commits
//! locally before it waits for the standbys). A read that does not answer is `fail`.

use crate::error::ClientError;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_postgres::Client as PgClient;

use crate::client::{Client, Op, Outcome, Unreachable};

/// Creates the `registers` and `kv` tables (idempotent) through the server at `conn`.
pub async fn setup(conn: &str) -> Result<(), ClientError> {
    super::txn::create_tables(
        conn,
        "CREATE TABLE IF NOT EXISTS registers (k int PRIMARY KEY, v text NOT NULL);
         CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v text NOT NULL);",
    )
    .await
}

/// A register/kv client: writes on `primary`, reads on the primary or on one replica.
pub struct PgKv {
    primary: String,
    replicas: Arc<Vec<String>>,
    read_replica: bool,
    timeout: Duration,
    /// Index of the replica this worker reads from (with `read_replica`).
    replica: usize,
    write: Option<PgClient>,
    read: Option<PgClient>,
    /// Why the last invocation could not reach its server, if it could not.
    unreachable: Option<Unreachable>,
}

impl PgKv {
    /// A client; `primary` and `replicas` are libpq connection strings. With `read_replica`,
    /// worker `i` reads from replica `i mod replicas`, so reads spread over all of them.
    pub fn new(
        primary: String,
        replicas: Arc<Vec<String>>,
        read_replica: bool,
        timeout: Duration,
    ) -> PgKv {
        PgKv {
            read_replica: read_replica && !replicas.is_empty(),
            primary,
            replicas,
            timeout,
            replica: 0,
            write: None,
            read: None,
            unreachable: None,
        }
    }

    /// A connection to `conn`; a failure notes why in `self.unreachable`.
    async fn connect(&mut self, conn: &str) -> Result<PgClient, ClientError> {
        match super::txn::connect(conn, self.timeout).await {
            Ok(c) => Ok(c),
            Err((why, e)) => {
                self.unreachable = Some(why);
                Err(e)
            }
        }
    }

    /// The connection for `op`, (re)connecting if the last one was lost.
    async fn client_for(&mut self, reading: bool) -> Result<&PgClient, ClientError> {
        let to_replica = reading && self.read_replica;
        let slot_empty = if to_replica {
            self.read.as_ref().map_or(true, PgClient::is_closed)
        } else {
            self.write.as_ref().map_or(true, PgClient::is_closed)
        };
        if slot_empty {
            let conn = if to_replica {
                self.replicas[self.replica].clone()
            } else {
                self.primary.clone()
            };
            let c = self.connect(&conn).await?;
            if to_replica {
                self.read = Some(c);
            } else {
                self.write = Some(c);
            }
        }
        let slot = if to_replica { &self.read } else { &self.write };
        slot.as_ref()
            .ok_or_else(|| ClientError::Connect("not open".to_string()))
    }
}

/// The outcome of a write the server answered with an error: `fail` only when the SQLSTATE
/// says the statement did not commit.
fn write_error(e: &tokio_postgres::Error) -> Outcome {
    let code = e.code().map(|c| c.code().to_string());
    let text = json!(match &code {
        Some(c) => format!("{c}: {e}"),
        None => e.to_string(),
    });
    match code.as_deref().map(|c| &c[..2.min(c.len())]) {
        Some("22" | "23" | "25" | "40" | "42") => Outcome::Fail(text),
        _ => Outcome::Info(text),
    }
}

fn key_of(op: &Op) -> Result<i32, Outcome> {
    op.key
        .as_ref()
        .and_then(Value::as_i64)
        .and_then(|k| i32::try_from(k).ok())
        .ok_or_else(|| Outcome::Fail(json!(format!("bad key {:?}", op.key))))
}

/// Runs one write statement; its row count decides.
async fn execute(
    client: &PgClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, Outcome> {
    client
        .execute(sql, params)
        .await
        .map_err(|e| write_error(&e))
}

impl PgKv {
    async fn run(&mut self, op: &Op) -> Outcome {
        let k = match key_of(op) {
            Ok(k) => k,
            Err(o) => return o,
        };
        let reading = matches!(op.f, "read" | "get");
        let client = match self.client_for(reading).await {
            Ok(c) => c,
            Err(e) => return Outcome::Fail(json!(e.to_string())),
        };
        let done = |r: Result<u64, Outcome>, ok: Value| match r {
            Ok(0) => Outcome::Fail(json!("cas-mismatch")),
            Ok(_) => Outcome::Ok(ok),
            Err(o) => o,
        };
        match op.f {
            "read" | "get" => {
                let table = if op.f == "read" { "registers" } else { "kv" };
                let sql = format!("SELECT v FROM {table} WHERE k = $1");
                match client.query_opt(&sql, &[&k]).await {
                    Ok(row) => {
                        let text: Option<String> = row.map(|r| r.get(0));
                        Outcome::Ok(match (op.f, text) {
                            ("read", None) => Value::Null,
                            ("read", Some(s)) => match serde_json::from_str(&s) {
                                Ok(v) => v,
                                Err(e) => return Outcome::Fail(json!(format!("not JSON: {e}"))),
                            },
                            (_, text) => json!(text.unwrap_or_default()),
                        })
                    }
                    Err(e) => Outcome::Fail(json!(e.to_string())),
                }
            }
            "write" => done(
                execute(
                    client,
                    "INSERT INTO registers (k, v) VALUES ($1, $2) \
                     ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                    &[&k, &op.value.to_string()],
                )
                .await,
                op.value.clone(),
            ),
            "cas" => {
                let Some([old, new]) = op.value.as_array().map(Vec::as_slice) else {
                    return Outcome::Fail(json!("cas expects [old, new]"));
                };
                let r = if old.is_null() {
                    execute(
                        client,
                        "INSERT INTO registers (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING",
                        &[&k, &new.to_string()],
                    )
                    .await
                } else {
                    execute(
                        client,
                        "UPDATE registers SET v = $2 WHERE k = $1 AND v = $3",
                        &[&k, &new.to_string(), &old.to_string()],
                    )
                    .await
                };
                done(r, op.value.clone())
            }
            "put" | "append" => {
                let Some(v) = op.value.as_str() else {
                    return Outcome::Fail(json!("kv values are strings"));
                };
                let sql = if op.f == "put" {
                    "INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
                } else {
                    "INSERT INTO kv (k, v) VALUES ($1, $2) \
                     ON CONFLICT (k) DO UPDATE SET v = kv.v || excluded.v"
                };
                done(execute(client, sql, &[&k, &v]).await, op.value.clone())
            }
            other => Outcome::Fail(json!(format!(
                "the postgres register/kv client has no operation {other:?}"
            ))),
        }
    }
}

impl Client for PgKv {
    async fn open(&mut self, node: usize) -> Result<(), ClientError> {
        if self.read_replica {
            self.replica = node % self.replicas.len();
        }
        self.client_for(false).await?;
        if self.read_replica {
            self.client_for(true).await?;
        }
        Ok(())
    }

    async fn setup(&mut self) -> Result<(), ClientError> {
        setup(&self.primary).await
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        self.unreachable = None;
        let reading = matches!(op.f, "read" | "get");
        match tokio::time::timeout(self.timeout, self.run(op)).await {
            Ok(o) => {
                if !matches!(o, Outcome::Ok(_)) {
                    // Drop a connection the error may have broken; the next op reconnects.
                    let slot = if reading && self.read_replica {
                        &mut self.read
                    } else {
                        &mut self.write
                    };
                    if slot.as_ref().is_some_and(PgClient::is_closed) {
                        *slot = None;
                        self.unreachable.get_or_insert(Unreachable::Reset);
                    }
                }
                o
            }
            Err(_) if reading => {
                if self.read_replica {
                    self.read = None;
                } else {
                    self.write = None;
                }
                Outcome::Fail(json!("read timed out"))
            }
            // The statement may have been sent and committed.
            Err(_) => {
                self.write = None;
                Outcome::Info(json!("timed out"))
            }
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
