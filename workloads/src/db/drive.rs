//! Runs a workload against a real database: starts the local servers (unless the user gave
//! their addresses), wires the kill/pause nemesis to them, runs the runner, and stops the
//! servers again — also when the run is stopped early (Ctrl-C reaches the runner through
//! `stop`; a crash of faultline kills them through PR_SET_PDEATHSIG).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::etcd::Etcd;
use super::etcd_grpc::EtcdGrpc;
use super::faults::ServerFaults;
use super::local_etcd::LocalEtcd;
use super::local_postgres::LocalPostgres;
use super::local_rabbitmq::LocalRabbit;
use super::local_redis::LocalRedis;
use super::postgres::{Isolation, Postgres};
use super::postgres_faults::PgFaults;
use super::postgres_kv::PgKv;
use super::postgres_replicas::{LocalPgReplicas, SyncCommit};
use super::rabbitmq::{RabbitMq, RabbitOptions};
use super::rabbitmq_faults::RabbitFaults;
use super::redis::Redis;
use crate::client::Client;
use crate::recorder::Recorder;
use crate::runner::{self, Faults, NoNemesis, Progress, RunConfig, RunSummary};

/// Which etcd API the clients speak (`--etcd-api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdApi {
    /// The v3 JSON gateway over HTTP/1.1 ([`Etcd`]).
    Json,
    /// Native gRPC over HTTP/2 ([`EtcdGrpc`]).
    Grpc,
}

/// Which database, where, and with which client options.
#[derive(Debug, Clone, PartialEq)]
pub enum DbTarget {
    /// etcd: members' client addresses (empty: start `local_nodes` members).
    Etcd {
        /// The user's members (empty: local).
        nodes: Vec<SocketAddr>,
        /// Members to start locally.
        local_nodes: usize,
        /// `serializable: true` reads.
        serializable: bool,
        /// The client API.
        api: EtcdApi,
    },
    /// Redis: the primary first, then replicas (empty: start `local_nodes` servers).
    Redis {
        /// The user's servers (empty: local).
        nodes: Vec<SocketAddr>,
        /// Servers to start locally (1 primary + replicas).
        local_nodes: usize,
        /// Reads on a replica.
        read_replica: bool,
    },
    /// PostgreSQL (empty: start one local server).
    Postgres {
        /// The user's server (empty: local).
        nodes: Vec<SocketAddr>,
        /// The isolation level.
        isolation: Isolation,
    },
    /// PostgreSQL with hot-standby replicas (or none), register and kv workloads as autocommit
    /// statements: writes on the primary, reads on the primary or a replica.
    PostgresReplicas {
        /// The user's servers, primary first (empty: local).
        nodes: Vec<SocketAddr>,
        /// Replicas to start locally.
        replicas: usize,
        /// `synchronous_commit` (and, when remote, every replica a synchronous standby).
        sync: SyncCommit,
        /// Reads on a replica.
        read_replica: bool,
    },
    /// RabbitMQ (empty: start one local broker, reached through a faultline proxy).
    RabbitMq {
        /// The user's broker (empty: local).
        nodes: Vec<SocketAddr>,
        /// Durable queue, confirms, acks.
        options: RabbitOptions,
    },
}

impl DbTarget {
    /// Whether faultline starts (and so can kill and pause) the servers.
    pub fn is_local(&self) -> bool {
        match self {
            DbTarget::Etcd { nodes, .. }
            | DbTarget::Redis { nodes, .. }
            | DbTarget::Postgres { nodes, .. }
            | DbTarget::PostgresReplicas { nodes, .. }
            | DbTarget::RabbitMq { nodes, .. } => nodes.is_empty(),
        }
    }

    /// A short description.
    pub fn describe(&self) -> String {
        let place = |nodes: &[SocketAddr], n: usize| {
            if nodes.is_empty() {
                format!("local, {n} node{}", if n == 1 { "" } else { "s" })
            } else {
                nodes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        match self {
            DbTarget::Etcd {
                nodes,
                local_nodes,
                serializable,
                api,
            } => format!(
                "etcd{} ({}; {} reads)",
                if *api == EtcdApi::Grpc {
                    " over gRPC"
                } else {
                    ""
                },
                place(nodes, *local_nodes),
                if *serializable {
                    "serializable"
                } else {
                    "linearizable"
                }
            ),
            DbTarget::Redis {
                nodes,
                local_nodes,
                read_replica,
            } => format!(
                "redis ({}; reads on the {})",
                place(nodes, *local_nodes),
                if *read_replica { "replicas" } else { "primary" }
            ),
            DbTarget::Postgres { nodes, isolation } => {
                format!(
                    "postgres ({}; {})",
                    place(nodes, 1),
                    isolation.sql().to_lowercase()
                )
            }
            DbTarget::PostgresReplicas {
                nodes,
                replicas,
                sync,
                read_replica,
            } => format!(
                "postgres ({}; synchronous_commit {}; reads on the {})",
                place(nodes, 1 + *replicas),
                sync.setting(),
                if *read_replica { "replicas" } else { "primary" }
            ),
            DbTarget::RabbitMq { nodes, options } => {
                format!("rabbitmq ({}; {})", place(nodes, 1), options.describe())
            }
        }
    }
}

/// Brings the database up (if local), runs, brings it down.
#[allow(clippy::too_many_arguments)]
pub async fn drive(
    target: &DbTarget,
    dir: &Path,
    mut config: RunConfig,
    faults: Vec<String>,
    op_timeout: Duration,
    recorder: Arc<Recorder>,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> Result<RunSummary, String> {
    let seed = config.seed;
    match target.clone() {
        DbTarget::Etcd {
            nodes,
            local_nodes,
            serializable,
            api,
        } => {
            let local = if nodes.is_empty() {
                let c = if faults.iter().any(|f| f == "partition") {
                    progress.note(format!(
                        "starting etcd ({local_nodes} members), each in its own network namespace"
                    ));
                    LocalEtcd::start_partitionable(dir, local_nodes).await?
                } else {
                    progress.note(format!("starting etcd ({local_nodes} members) on loopback"));
                    LocalEtcd::start(dir, local_nodes).await?
                };
                progress.note(format!("etcd up: {}", c.endpoints.join(" ")));
                Some(c)
            } else {
                None
            };
            let endpoints: Vec<String> = match &local {
                Some(c) => c.endpoints.clone(),
                None => nodes.iter().map(|a| format!("http://{a}")).collect(),
            };
            config.nodes = endpoints.len();
            let endpoints = Arc::new(endpoints);
            let nemesis = local.as_ref().map(|c| {
                let nemesis = ServerFaults::new(c.servers.clone(), faults, seed);
                match &c.cuts {
                    Some(cuts) => nemesis.with_cuts(cuts.clone()),
                    None => nemesis,
                }
            });
            let run = (config, nemesis, recorder, progress.clone(), stop);
            let summary = match api {
                EtcdApi::Json => {
                    let make = |_| Etcd::new(endpoints.clone(), op_timeout, serializable);
                    run_with(run, make).await
                }
                EtcdApi::Grpc => {
                    let make = |_| EtcdGrpc::new(endpoints.clone(), op_timeout, serializable);
                    run_with(run, make).await
                }
            };
            if let Some(c) = local {
                c.shutdown().await;
                progress.note("etcd stopped");
            }
            Ok(summary)
        }
        DbTarget::Redis {
            nodes,
            local_nodes,
            read_replica,
        } => {
            let local = if nodes.is_empty() {
                progress.note(format!(
                    "starting redis on loopback (1 primary, {} replicas)",
                    local_nodes.saturating_sub(1)
                ));
                let r = LocalRedis::start(dir, local_nodes).await?;
                progress.note(format!("redis up: {}", r.urls.join(" ")));
                Some(r)
            } else {
                None
            };
            let urls: Vec<String> = match &local {
                Some(r) => r.urls.clone(),
                None => nodes.iter().map(|a| format!("redis://{a}")).collect(),
            };
            config.nodes = urls.len();
            let primary = urls[0].clone();
            let replicas = Arc::new(urls[1..].to_vec());
            let make = |_| Redis::new(primary.clone(), replicas.clone(), read_replica, op_timeout);
            let nemesis = local
                .as_ref()
                .map(|r| ServerFaults::new(r.servers.clone(), faults, seed));
            let summary = run_with((config, nemesis, recorder, progress.clone(), stop), make).await;
            if let Some(r) = local {
                r.shutdown().await;
                progress.note("redis stopped");
            }
            Ok(summary)
        }
        DbTarget::Postgres { nodes, isolation } => {
            let local = if nodes.is_empty() {
                progress.note("starting postgres on loopback");
                let p = LocalPostgres::start(dir).await?;
                progress.note(format!("postgres up: {}", p.conn));
                Some(p)
            } else {
                None
            };
            let conn = match &local {
                Some(p) => p.conn.clone(),
                None => format!(
                    "host={} port={} user=postgres dbname=postgres",
                    nodes[0].ip(),
                    nodes[0].port()
                ),
            };
            config.nodes = 1;
            let make = |_| Postgres::new(conn.clone(), isolation, op_timeout);
            let nemesis = local
                .as_ref()
                .map(|p| ServerFaults::new(vec![p.server.clone()], faults, seed));
            let summary = run_with((config, nemesis, recorder, progress.clone(), stop), make).await;
            if let Some(p) = local {
                p.shutdown().await;
                progress.note("postgres stopped");
            }
            Ok(summary)
        }
        DbTarget::PostgresReplicas {
            nodes,
            replicas,
            sync,
            read_replica,
        } => {
            let local = if nodes.is_empty() {
                progress.note(format!(
                    "starting postgres on loopback (1 primary, {replicas} replicas, \
                     synchronous_commit {})",
                    sync.setting()
                ));
                let p = Arc::new(LocalPgReplicas::start(dir, replicas, sync).await?);
                progress.note(format!("postgres up: {}", p.conns.join(" | ")));
                Some(p)
            } else {
                None
            };
            let conns: Vec<String> = match &local {
                Some(p) => p.conns.clone(),
                None => nodes
                    .iter()
                    .map(|a| {
                        format!(
                            "host={} port={} user=postgres dbname=postgres",
                            a.ip(),
                            a.port()
                        )
                    })
                    .collect(),
            };
            config.nodes = conns.len();
            let primary = conns[0].clone();
            let replica_conns = Arc::new(conns[1..].to_vec());
            let make = |_| {
                PgKv::new(
                    primary.clone(),
                    replica_conns.clone(),
                    read_replica,
                    op_timeout,
                )
            };
            let nemesis = local
                .as_ref()
                .map(|p| PgFaults::new(p.clone(), faults, seed));
            let summary = run_with((config, nemesis, recorder, progress.clone(), stop), make).await;
            if let Some(p) = local {
                p.shutdown().await;
                progress.note("postgres stopped");
            }
            Ok(summary)
        }
        DbTarget::RabbitMq { nodes, options } => {
            config.nodes = 1;
            if let Some(addr) = nodes.first() {
                let make = |_| RabbitMq::new(*addr, options, op_timeout);
                return Ok(runner::run(config, make, NoNemesis, recorder, progress, stop).await);
            }
            progress.note("starting rabbitmq on loopback");
            let broker = std::sync::Arc::new(LocalRabbit::start(dir).await?);
            // Clients reach the broker through a proxy (clients = node 1, broker = node 2),
            // which the partition fault blackholes.
            let net = match crate::proxy::LinkNet::bind(2).await {
                Ok(n) => Arc::new(n),
                Err(e) => {
                    broker.shutdown().await;
                    return Err(format!("cannot bind the client proxy: {e}"));
                }
            };
            let _ = net.set_upstream(2, broker.amqp);
            let via = net.addr(1, 2).ok_or("no client proxy")?;
            progress.note(format!(
                "rabbitmq up: amqp://{} (clients via the proxy at {via})",
                broker.amqp
            ));
            let make = |_| RabbitMq::new(via, options, op_timeout);
            let nemesis = RabbitFaults::new(broker.clone(), net.clone(), faults, seed);
            let summary =
                runner::run(config, make, nemesis, recorder, progress.clone(), stop).await;
            net.shutdown();
            broker.shutdown().await;
            progress.note("rabbitmq stopped");
            Ok(summary)
        }
    }
}

/// What [`run_with`] passes on to the runner: config, the nemesis over the local servers (none:
/// the user's servers), recorder, progress, stop.
type RunParts<N> = (
    RunConfig,
    Option<N>,
    Arc<Recorder>,
    Arc<Progress>,
    watch::Receiver<bool>,
);

/// Runs `make`'s clients with the nemesis, if faultline started the servers (and so has one),
/// else with none.
async fn run_with<C: Client, N: Faults>(
    parts: RunParts<N>,
    make: impl Fn(usize) -> C,
) -> RunSummary {
    let (config, nemesis, recorder, progress, stop) = parts;
    match nemesis {
        Some(n) => runner::run(config, make, n, recorder, progress, stop).await,
        None => runner::run(config, make, NoNemesis, recorder, progress, stop).await,
    }
}
