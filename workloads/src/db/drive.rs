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
use super::faults::ServerFaults;
use super::local_etcd::LocalEtcd;
use super::local_postgres::LocalPostgres;
use super::local_rabbitmq::LocalRabbit;
use super::local_redis::LocalRedis;
use super::postgres::{Isolation, Postgres};
use super::rabbitmq::{RabbitMq, RabbitOptions};
use super::rabbitmq_faults::RabbitFaults;
use super::redis::Redis;
use crate::recorder::Recorder;
use crate::runner::{self, NoNemesis, Progress, RunConfig, RunSummary};

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
            } => format!(
                "etcd ({}; {} reads)",
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
            let make = |_| Etcd::new(endpoints.clone(), op_timeout, serializable);
            let summary = match &local {
                Some(c) => {
                    let mut nemesis = ServerFaults::new(c.servers.clone(), faults, seed);
                    if let Some(cuts) = &c.cuts {
                        nemesis = nemesis.with_cuts(cuts.clone());
                    }
                    runner::run(config, make, nemesis, recorder, progress.clone(), stop).await
                }
                None => {
                    runner::run(config, make, NoNemesis, recorder, progress.clone(), stop).await
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
            let summary = match &local {
                Some(r) => {
                    let nemesis = ServerFaults::new(r.servers.clone(), faults, seed);
                    runner::run(config, make, nemesis, recorder, progress.clone(), stop).await
                }
                None => {
                    runner::run(config, make, NoNemesis, recorder, progress.clone(), stop).await
                }
            };
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
            let summary = match &local {
                Some(p) => {
                    let nemesis = ServerFaults::new(vec![p.server.clone()], faults, seed);
                    runner::run(config, make, nemesis, recorder, progress.clone(), stop).await
                }
                None => {
                    runner::run(config, make, NoNemesis, recorder, progress.clone(), stop).await
                }
            };
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
