//! The PostgreSQL client: list-append transactions (Elle's `["append", k, v]` and
//! `["r", k, null]` micro-ops) and rw-register operations, each in one transaction at the
//! chosen isolation level, over `tokio-postgres` without TLS.
//!
//! Schema (created by [`setup`]): `lists (k int primary key, v text)` — an append is
//! `INSERT … ON CONFLICT (k) DO UPDATE SET v = lists.v || ',' || excluded.v`, a read
//! `SELECT v` split on commas — and `registers (k int primary key, v text)`. Serialization
//! failures and deadlocks (SQLSTATE 40001, 40P01) and any error before COMMIT is sent are
//! `fail` (PostgreSQL rolled the transaction back); an error or lost connection once COMMIT
//! was sent is `info`.

use crate::error::ClientError;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_postgres::{Client as PgClient, NoTls};

use crate::client::{Client, Op, Outcome, Unreachable};

/// Isolation levels of `--isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// READ COMMITTED (PostgreSQL's default).
    ReadCommitted,
    /// REPEATABLE READ (snapshot isolation in PostgreSQL).
    RepeatableRead,
    /// SERIALIZABLE (SSI).
    Serializable,
}

impl Isolation {
    /// The SQL words.
    pub fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }
}

/// Creates the tables (idempotent) through the server at `conn` (a libpq connection string).
pub async fn setup(conn: &str) -> Result<(), ClientError> {
    create_tables(
        conn,
        "CREATE TABLE IF NOT EXISTS lists (k int PRIMARY KEY, v text NOT NULL);
         CREATE TABLE IF NOT EXISTS registers (k int PRIMARY KEY, v text NOT NULL);",
    )
    .await
}

/// Runs the `CREATE TABLE` statements `ddl` on one fresh connection to `conn`.
pub(crate) async fn create_tables(conn: &str, ddl: &str) -> Result<(), ClientError> {
    let (client, connection) = tokio_postgres::connect(conn, NoTls)
        .await
        .map_err(|e| ClientError::Connect(format!("connect: {e}")))?;
    tokio::spawn(connection);
    client
        .batch_execute(ddl)
        .await
        .map_err(|e| ClientError::Setup(format!("create tables: {e}")))
}

/// A connection to the server at `conn` (a libpq connection string) within `timeout`, its
/// connection task spawned; a failure says why the server could not be reached (refused, or
/// cannot open: a timeout, an authentication or startup error).
pub(crate) async fn connect(
    conn: &str,
    timeout: Duration,
) -> Result<PgClient, (Unreachable, ClientError)> {
    match tokio::time::timeout(timeout, tokio_postgres::connect(conn, NoTls)).await {
        Err(_) => Err((
            Unreachable::CannotOpen,
            ClientError::Connect("connect: timed out".to_string()),
        )),
        Ok(Err(e)) => Err((
            Unreachable::of_error(&e).unwrap_or(Unreachable::CannotOpen),
            ClientError::Connect(format!("connect: {e}")),
        )),
        Ok(Ok((client, connection))) => {
            tokio::spawn(connection);
            Ok(client)
        }
    }
}

/// A PostgreSQL client at one isolation level.
pub struct Postgres {
    conn: String,
    isolation: Isolation,
    timeout: Duration,
    client: Option<PgClient>,
    /// Why the last invocation could not reach the server, if it could not.
    unreachable: Option<Unreachable>,
}

impl Postgres {
    /// A client of the server at `conn` (libpq connection string).
    pub fn new(conn: String, isolation: Isolation, timeout: Duration) -> Postgres {
        Postgres {
            conn,
            isolation,
            timeout,
            client: None,
            unreachable: None,
        }
    }
}

/// Why a transaction did not complete: `committing` says whether COMMIT had been sent.
fn outcome_of_error(e: &tokio_postgres::Error, committing: bool) -> Outcome {
    let code = e.code().map(|c| c.code().to_string());
    let text = json!(match &code {
        Some(c) => format!("{c}: {e}"),
        None => e.to_string(),
    });
    match code.as_deref() {
        Some("40001") | Some("40P01") => Outcome::Fail(text),
        _ if !committing => Outcome::Fail(text),
        _ => Outcome::Info(text),
    }
}

fn key_of(v: &Value) -> Option<i32> {
    v.as_i64().and_then(|k| i32::try_from(k).ok())
}

fn parse_list(text: Option<String>) -> Value {
    let items: Vec<Value> = text
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(s))
        })
        .collect();
    Value::Array(items)
}

impl Postgres {
    /// Runs `op` in one transaction; `Err` carries the outcome of a failure.
    async fn run(&self, client: &PgClient, op: &Op) -> Result<Value, Outcome> {
        let begin = format!("BEGIN ISOLATION LEVEL {}", self.isolation.sql());
        client
            .batch_execute(&begin)
            .await
            .map_err(|e| outcome_of_error(&e, false))?;
        let result = match self.body(client, op).await {
            Ok(v) => v,
            Err(o) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(o);
            }
        };
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| outcome_of_error(&e, true))?;
        Ok(result)
    }

    async fn body(&self, client: &PgClient, op: &Op) -> Result<Value, Outcome> {
        let bad = |m: String| Outcome::Fail(json!(m));
        let err = |e: tokio_postgres::Error| outcome_of_error(&e, false);
        match op.f {
            "txn" => {
                let micro = op
                    .value
                    .as_array()
                    .ok_or_else(|| bad("txn expects a list".into()))?;
                let mut out = Vec::new();
                for m in micro {
                    let (f, k, v) = match m.as_array().map(Vec::as_slice) {
                        Some([Value::String(f), k, v]) => (f.as_str(), k, v),
                        _ => return Err(bad(format!("bad micro-op {m}"))),
                    };
                    let key = key_of(k).ok_or_else(|| bad(format!("bad key {k}")))?;
                    match f {
                        "append" => {
                            client
                                .execute(
                                    "INSERT INTO lists (k, v) VALUES ($1, $2) ON CONFLICT (k) \
                                     DO UPDATE SET v = lists.v || ',' || excluded.v",
                                    &[&key, &v.to_string()],
                                )
                                .await
                                .map_err(err)?;
                            out.push(m.clone());
                        }
                        "r" => {
                            let row = client
                                .query_opt("SELECT v FROM lists WHERE k = $1", &[&key])
                                .await
                                .map_err(err)?;
                            let text: Option<String> = row.map(|r| r.get(0));
                            out.push(json!(["r", k, parse_list(text)]));
                        }
                        other => return Err(bad(format!("unknown micro-op {other:?}"))),
                    }
                }
                Ok(Value::Array(out))
            }
            "read" | "write" | "cas" => {
                let k = op
                    .key
                    .as_ref()
                    .and_then(key_of)
                    .ok_or_else(|| bad("bad key".into()))?;
                let row = client
                    .query_opt("SELECT v FROM registers WHERE k = $1", &[&k])
                    .await
                    .map_err(err)?;
                let cur: Value = match row.map(|r| r.get::<_, String>(0)) {
                    Some(s) => serde_json::from_str(&s).unwrap_or(Value::Null),
                    None => Value::Null,
                };
                let new = match op.f {
                    "read" => return Ok(cur),
                    "write" => op.value.clone(),
                    _ => match op.value.as_array().map(Vec::as_slice) {
                        Some([old, new]) if *old == cur => new.clone(),
                        Some([_, _]) => return Err(Outcome::Fail(json!("cas-mismatch"))),
                        _ => return Err(bad("cas expects [old, new]".into())),
                    },
                };
                client
                    .execute(
                        "INSERT INTO registers (k, v) VALUES ($1, $2) ON CONFLICT (k) \
                         DO UPDATE SET v = excluded.v",
                        &[&k, &new.to_string()],
                    )
                    .await
                    .map_err(err)?;
                Ok(op.value.clone())
            }
            other => Err(bad(format!(
                "the postgres client has no operation {other:?}"
            ))),
        }
    }
}

impl Client for Postgres {
    async fn open(&mut self, _node: usize) -> Result<(), ClientError> {
        self.client = None;
        let client = connect(&self.conn, self.timeout).await.map_err(|(why, e)| {
            self.unreachable = Some(why);
            e
        })?;
        self.client = Some(client);
        Ok(())
    }

    async fn setup(&mut self) -> Result<(), ClientError> {
        setup(&self.conn).await
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        self.unreachable = None;
        if self.client.is_none() {
            // The connection was lost by an earlier operation: reconnect before sending.
            if let Err(e) = self.open(0).await {
                return Outcome::Fail(json!(e.to_string()));
            }
        }
        let Some(client) = self.client.as_ref() else {
            return Outcome::Fail(json!("not open"));
        };
        let outcome = match tokio::time::timeout(self.timeout, self.run(client, op)).await {
            Ok(Ok(v)) => Outcome::Ok(v),
            Ok(Err(o)) => {
                if client.is_closed() {
                    self.unreachable = Some(Unreachable::Reset);
                }
                if matches!(o, Outcome::Info(_)) || client.is_closed() {
                    self.client = None;
                }
                o
            }
            // Unknown how far it got: COMMIT may have been sent.
            Err(_) => {
                self.client = None;
                Outcome::Info(json!("timed out"))
            }
        };
        // A transaction that only reads changed nothing, committed or not: leaving it out
        // of the history is sound (the http-kv rule of crate::client).
        match outcome {
            Outcome::Info(e) if crate::client::read_only(op) => Outcome::Fail(e),
            o => o,
        }
    }

    async fn close(&mut self) {
        self.client = None;
    }

    fn node_name(&self) -> String {
        "n1".into()
    }

    fn unreachable(&self) -> Option<Unreachable> {
        self.unreachable
    }
}
