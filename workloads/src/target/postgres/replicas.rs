//! Starts a PostgreSQL 15 primary and N hot-standby replicas on loopback ("run" step of
//! `faultline run --target postgres --replicas N`).
//!
//! The primary `n1` is made as in [`super::launcher`] (`initdb`, trust authentication,
//! loopback only, fsync off) and gets the tables; each replica `n2…` is a `pg_basebackup -R -X
//! stream` copy of it in its own data directory (`STORE/…/n<i>/data`, log `n<i>.log`) on its
//! own port, started with `primary_conninfo` pointing at a faultline TCP proxy
//! ([`crate::net::proxy::LinkNet`], link `n<i>→n1`) and `application_name=n<i>`, so the
//! partition nemesis can blackhole a replica's replication connection. As root everything runs
//! as the `postgres` user.
//!
//! Replication is asynchronous unless `--synchronous-commit` names a remote level: then, once
//! every replica streams, faultline sets on the primary (`ALTER SYSTEM`, so it survives a
//! restart) `synchronous_commit` to that level and `synchronous_standby_names = 'ANY N (n2,
//! …)'` with N = **all** replicas. A quorum of fewer (`ANY 1`) would let a commit return while
//! some replica has not applied it, and a read on that replica right after the acknowledgement
//! would be stale; `FIRST N` of N names would wait for the same set.

use crate::error::{ClientError, ServerError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::NoTls;

use super::launcher::{initdb, node_dirs, server_args, unprivileged, PgDirs, BIN};
use crate::net::proxy::LinkNet;
use crate::target::free_port;
use crate::target::server::{Server, ServerSpec};
use crate::target::RunError;

/// `--synchronous-commit`: how long a commit on the primary waits for the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncCommit {
    /// Asynchronous replication: the commit waits for no replica.
    Local,
    /// The commit waits until every replica has received it.
    #[value(name = "remote_write", alias = "remote-write")]
    RemoteWrite,
    /// The commit waits until every replica has flushed it.
    On,
    /// The commit waits until every replica has applied it (visible to its readers).
    #[value(name = "remote_apply", alias = "remote-apply")]
    RemoteApply,
}

impl SyncCommit {
    /// The value of PostgreSQL's `synchronous_commit`.
    pub fn setting(self) -> &'static str {
        match self {
            SyncCommit::Local => "local",
            SyncCommit::RemoteWrite => "remote_write",
            SyncCommit::On => "on",
            SyncCommit::RemoteApply => "remote_apply",
        }
    }
}

/// A running primary and its replicas.
pub struct LocalPgReplicas {
    /// `n1` (the primary) then the replicas `n2…`.
    pub servers: Vec<Arc<Server>>,
    /// Their libpq connection strings, in the same order.
    pub conns: Vec<String>,
    /// The replication links: replica `n<i>` reaches the primary through link `i→1`.
    pub links: Arc<LinkNet>,
    /// Where the data directories are.
    pub dirs: Arc<PgDirs>,
}

fn conn_string(port: u16) -> String {
    format!("host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2")
}

/// Runs `sql` through a fresh connection to `conn`, returning the first column of every row.
pub(crate) async fn query(conn: &str, sql: &str) -> Result<Vec<String>, ClientError> {
    let (client, connection) = tokio_postgres::connect(conn, NoTls)
        .await
        .map_err(|e| ClientError::Connect(format!("connect: {e}")))?;
    tokio::spawn(connection);
    let rows = client
        .simple_query(sql)
        .await
        .map_err(|e| ClientError::Answer(e.to_string()))?;
    Ok(rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect())
}

impl LocalPgReplicas {
    /// Starts the primary and `replicas` replicas under `dir`, waits (up to 60 s) until every
    /// replica streams and, for a remote `sync`, until the primary counts each of them as
    /// synchronous.
    pub async fn start(
        dir: &Path,
        replicas: usize,
        sync: SyncCommit,
    ) -> Result<LocalPgReplicas, RunError> {
        let user = unprivileged()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let program = PathBuf::from(format!("{BIN}/postgres"));
        let dirs = Arc::new(PgDirs::new(dir, user)?);
        let (data, log) = initdb(&dirs, "n1", user).await?;
        let port = free_port()?;
        let primary = Arc::new(
            Server::start(ServerSpec {
                name: "n1".into(),
                program: program.clone(),
                args: server_args(&data, port),
                log,
                user,
                netns: None,
            })
            .await?,
        );
        let links = Arc::new(
            LinkNet::bind(1 + replicas)
                .await
                .map_err(|source| ServerError::Bind {
                    what: "the replication proxies".into(),
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                    source,
                })?,
        );
        let mut cluster = LocalPgReplicas {
            servers: vec![primary.clone()],
            conns: vec![conn_string(port)],
            links: links.clone(),
            dirs: dirs.clone(),
        };
        let started = cluster
            .start_replicas(&dirs, replicas, sync, user, deadline)
            .await;
        if let Err(e) = started {
            cluster.shutdown().await;
            return Err(e.into());
        }
        Ok(cluster)
    }

    async fn start_replicas(
        &mut self,
        dirs: &PgDirs,
        replicas: usize,
        sync: SyncCommit,
        user: Option<(u32, u32)>,
        deadline: Instant,
    ) -> Result<(), ServerError> {
        let primary = self.conns[0].clone();
        self.servers[0]
            .wait_until("postgres primary", deadline, || async {
                super::txn::setup(&primary).await.is_ok()
                    && super::kv::setup(&primary).await.is_ok()
            })
            .await?;
        let port = port_of(&primary)?;
        self.links
            .set_upstream(1, SocketAddr::from(([127, 0, 0, 1], port)))
            ?;
        for i in 2..=replicas + 1 {
            let name = format!("n{i}");
            let (_, data, log) = node_dirs(dirs, &name, user)?;
            base_backup(port, &data, user).await?;
            let rport = free_port()?;
            let via = self
                .links
                .addr(i, 1)
                .ok_or_else(|| ServerError::Command("no replication link".into()))?;
            let mut args = server_args(&data, rport);
            args.extend([
                "-c".into(),
                format!(
                    "primary_conninfo=host=127.0.0.1 port={} user=postgres application_name={name}",
                    via.port()
                ),
                "-c".into(),
                "hot_standby=on".into(),
                // Reconnect quickly after the primary restarts or a partition heals.
                "-c".into(),
                "wal_retrieve_retry_interval=200ms".into(),
            ]);
            let server = Arc::new(
                Server::start(ServerSpec {
                    name: name.clone(),
                    program: PathBuf::from(format!("{BIN}/postgres")),
                    args,
                    log,
                    user,
                    netns: None,
                })
                .await?,
            );
            self.servers.push(server);
            self.conns.push(conn_string(rport));
        }
        for (server, conn) in self.servers.iter().zip(&self.conns).skip(1) {
            server
                .wait_until("postgres replica", deadline, || async {
                    query(conn, "SELECT pg_is_in_recovery()").await.ok() == Some(vec!["t".into()])
                })
                .await?;
        }
        self.wait_streaming(deadline, false).await?;
        if sync != SyncCommit::Local {
            let names: Vec<String> = (2..=replicas + 1).map(|i| format!("\"n{i}\"")).collect();
            for sql in [
                format!(
                    "ALTER SYSTEM SET synchronous_standby_names = 'ANY {replicas} ({})'",
                    names.join(", ")
                ),
                format!("ALTER SYSTEM SET synchronous_commit = '{}'", sync.setting()),
                "SELECT pg_reload_conf()".into(),
            ] {
                query(&primary, &sql)
                    .await
                    .map_err(|e| ServerError::Command(format!("{sql}: {e}")))?;
            }
            self.wait_streaming(deadline, true).await?;
            let shown = query(&primary, "SHOW synchronous_commit").await?;
            if shown != vec![sync.setting().to_string()] {
                return Err(ServerError::Command(format!(
                    "synchronous_commit is {shown:?} after reload"
                )));
            }
        }
        Ok(())
    }

    /// Waits until the primary reports every replica streaming (and, with `synchronous`,
    /// counted as a synchronous standby), the primary up, or `deadline`.
    pub async fn wait_streaming(
        &self,
        deadline: Instant,
        synchronous: bool,
    ) -> Result<(), ServerError> {
        let want = self.servers.len() - 1;
        let sql = if synchronous {
            "SELECT count(*) FROM pg_stat_replication \
             WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum')"
        } else {
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        };
        let primary = self.conns[0].clone();
        self.servers[0]
            .wait_until(
                "postgres primary (replicas streaming)",
                deadline,
                || async { query(&primary, sql).await.ok() == Some(vec![want.to_string()]) },
            )
            .await
    }

    /// Stops every server, replicas first, and the replication proxies.
    pub async fn shutdown(&self) {
        for s in self.servers.iter().rev() {
            super::tree::stop_tree(s).await;
        }
        self.links.shutdown();
        self.dirs.remove();
    }
}

fn port_of(conn: &str) -> Result<u16, ServerError> {
    conn.split_whitespace()
        .find_map(|w| w.strip_prefix("port="))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| ServerError::Command(format!("no port in {conn:?}")))
}

/// `pg_basebackup -R -X stream` of the primary on `port` into `data` (a new directory).
async fn base_backup(
    port: u16,
    data: &Path,
    user: Option<(u32, u32)>,
) -> Result<(), ServerError> {
    let mut cmd = std::process::Command::new(format!("{BIN}/pg_basebackup"));
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
        "-D",
    ])
    .arg(data)
    .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"])
    .env("LC_ALL", "C");
    let out = super::launcher::run_as(cmd, user, "pg_basebackup").await?;
    if !out.status.success() {
        return Err(ServerError::Command(format!(
            "pg_basebackup into {} failed:\n{}",
            data.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}
