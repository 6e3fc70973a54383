//! `--target postgres`: PostgreSQL 15, a local server (and `--replicas` hot standbys)
//! faultline starts from Debian's `postgresql-15`, or the user's at `--nodes`.
//!
//! Two shapes, chosen by the flags:
//! - one server, every operation a transaction at `--isolation` ([`txn`]; list-append and
//!   register), started by [`launcher`]; faults kill and pause the postmaster
//!   ([`crate::target::server::ServerFaults`]);
//! - a primary and N replicas with `--replicas`, `--read-from replica`, `--synchronous-commit`
//!   or `--workload kv`: autocommit statements ([`kv`]; register and kv), started by
//!   [`replicas`]; faults kill and pause whole process trees ([`tree`]) and partition a
//!   replica's replication link at faultline's proxy ([`PgReplicaFaults`]);
//! - the same shape on SSH hosts (`--ssh-nodes`: primary on the first, a replica on each
//!   other), started by [`remote`]; faults by [`crate::remote::faults::RemoteFaults`]
//!   (iptables partitions, kill, pause).

pub mod kv;
pub mod launcher;
pub mod remote;
pub mod replicas;
pub mod tree;
pub mod txn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use checkers::Rng;
use tokio::time::Instant;

use super::server::{check_running, name_value, Server, ServerFaults};
use super::{FlagGroup, Nodes, ReadFrom, RunError, Spec, StartCtx, Target};
use crate::client::Either;
use crate::generator::WorkloadKind;
use crate::nemesis::{Aim, Cut, Fault, Grudge, NemesisError, NotHealed, Primitives};
use kv::PgKv;
use launcher::LocalPostgres;
use crate::remote::faults::RemoteFaults;
use replicas::{query, LocalPgReplicas, SyncCommit};
use txn::{Isolation, Postgres};

/// The PostgreSQL target's flags.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "PostgreSQL (--target postgres)")]
pub struct PostgresArgs {
    /// The transactions' isolation level (default serializable).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub isolation: Option<Isolation>,

    /// Hot-standby replicas faultline starts beside the primary (streaming replication;
    /// register and kv workloads, writes on the primary, reads per --read-from).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=8))]
    pub replicas: Option<u64>,

    /// With --replicas: `synchronous_commit` on the primary; a remote level makes every
    /// replica a synchronous standby (default local: asynchronous replication).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub synchronous_commit: Option<SyncCommit>,
}

impl FlagGroup for PostgresArgs {
    fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.isolation.is_some() {
            out.push("--isolation");
        }
        if self.replicas.is_some() {
            out.push("--replicas");
        }
        if self.synchronous_commit.is_some() {
            out.push("--synchronous-commit");
        }
        out
    }
}

/// Which shape of PostgreSQL.
#[derive(Debug, Clone)]
enum Shape {
    /// One server, transactions.
    Single { isolation: Isolation },
    /// A primary and replicas, autocommit statements.
    Replicas {
        replicas: usize,
        sync: SyncCommit,
        read_replica: bool,
    },
}

/// The PostgreSQL target.
#[derive(Debug, Clone)]
pub struct PostgresTarget {
    nodes: Vec<SocketAddr>,
    shape: Shape,
    timeout: Duration,
    ssh: crate::remote::SshArgs,
}

/// The client of either shape.
pub type PgClient = Either<Postgres, PgKv>;

fn conn_of(a: &SocketAddr) -> String {
    format!(
        "host={} port={} user=postgres dbname=postgres",
        a.ip(),
        a.port()
    )
}

#[async_trait::async_trait]
impl Target for PostgresTarget {
    type Args = PostgresArgs;
    type Client = PgClient;
    type Nodes = PgNodes;
    const SHARED_FLAGS: &'static [&'static str] = &[
        "--nodes",
        "--read-from",
        "--ssh-nodes",
        "--ssh-user",
        "--ssh-key",
        "--ssh-port",
        "--ssh-sudo",
        "--ssh-known-hosts",
        "--ssh-accept-new-host-keys",
        "--ssh-timeout",
        "--install",
    ];

    fn plan(spec: &Spec<'_>) -> Result<Self, RunError> {
        let a = &spec.args.postgres;
        let nodes = spec.args.servers.nodes.clone();
        let sync = a.synchronous_commit.unwrap_or(SyncCommit::Local);
        let read_replica = spec.args.servers.read_from == Some(ReadFrom::Replica);
        let kv = spec.workload == WorkloadKind::Kv;
        let ssh = &spec.args.servers.ssh;
        if ssh.ssh_nodes.is_empty() {
            if let Some(flag) = ssh.given().first() {
                return Err(RunError::Usage(format!(
                    "{flag} needs --ssh-nodes (the hosts to start postgres on)"
                )));
            }
        } else {
            ssh.hosts()?;
            if !nodes.is_empty() || a.replicas.is_some() || sync != SyncCommit::Local {
                return Err(RunError::Usage(
                    "--ssh-nodes starts the postgres primary on the first host and an \
                     asynchronous replica on each other: leave out --nodes, --replicas and \
                     --synchronous-commit"
                        .into(),
                ));
            }
            if spec.workload == WorkloadKind::ListAppend {
                return Err(RunError::Usage(
                    "--target postgres on --ssh-nodes runs --workload register or kv".into(),
                ));
            }
            let replicas = ssh.ssh_nodes.len() - 1;
            if read_replica && replicas == 0 {
                return Err(RunError::Usage(
                    "--read-from replica needs a replica: at least 2 --ssh-nodes".into(),
                ));
            }
            return Ok(PostgresTarget {
                nodes,
                shape: Shape::Replicas {
                    replicas,
                    sync,
                    read_replica,
                },
                timeout: spec.op_timeout,
                ssh: ssh.clone(),
            });
        }
        let shape = if a.replicas.is_none() && sync == SyncCommit::Local && !read_replica && !kv {
            if nodes.len() > 1 {
                return Err(RunError::Usage("--target postgres runs one server".into()));
            }
            Shape::Single {
                isolation: a.isolation.unwrap_or(Isolation::Serializable),
            }
        } else {
            let replicas = match (&nodes[..], a.replicas) {
                ([], r) => r.unwrap_or(0) as usize,
                (nodes, None) => nodes.len() - 1,
                (_, Some(_)) => {
                    return Err(RunError::Usage(
                        "--replicas applies when faultline starts the servers (no --nodes)".into(),
                    ))
                }
            };
            if read_replica && replicas == 0 {
                return Err(RunError::Usage(
                    "--read-from replica needs a replica: --replicas 1 or more".into(),
                ));
            }
            if sync != SyncCommit::Local && (replicas == 0 || !nodes.is_empty()) {
                return Err(RunError::Usage(
                    "--synchronous-commit applies to replicas faultline starts (--replicas 1 or \
                     more)"
                        .into(),
                ));
            }
            Shape::Replicas {
                replicas,
                sync,
                read_replica,
            }
        };
        Ok(PostgresTarget {
            nodes,
            shape,
            timeout: spec.op_timeout,
            ssh: ssh.clone(),
        })
    }
    fn label(&self) -> &'static str {
        "postgres"
    }
    fn describe(&self) -> String {
        match &self.shape {
            Shape::Single { isolation } => format!(
                "postgres ({}; {})",
                super::place(&self.nodes, 1),
                isolation.sql().to_lowercase()
            ),
            Shape::Replicas {
                replicas,
                sync,
                read_replica,
            } => format!(
                "postgres ({}; synchronous_commit {}; reads on the {})",
                if self.ssh.ssh_nodes.is_empty() {
                    super::place(&self.nodes, 1 + *replicas)
                } else {
                    format!("on SSH hosts {}", self.ssh.ssh_nodes.join(","))
                },
                sync.setting(),
                if *read_replica { "replicas" } else { "primary" }
            ),
        }
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        super::refuse_faults_on_user_nodes(&self.nodes, faults)?;
        super::refuse_queue(workload)?;
        if faults.contains(&Fault::LoseUnfsynced) {
            let refuse = |missing: String| RunError::FaultUnsupported {
                target: "postgres".into(),
                fault: "lose-unfsynced".into(),
                missing,
            };
            if !matches!(self.shape, Shape::Single { .. }) || !self.ssh.ssh_nodes.is_empty() {
                return Err(refuse(
                    "faultline mounts its FUSE filesystem only under the single local server \
                     it starts (no --replicas, --read-from replica, --synchronous-commit, \
                     --workload kv or --ssh-nodes)"
                        .into(),
                ));
            }
            crate::nemesis::lazyfs::check_available().map_err(|e| refuse(e.to_string()))?;
        }
        match &self.shape {
            Shape::Single { .. } => {
                super::refuse_partition("postgres", faults)?;
                match workload {
                    WorkloadKind::Kv => Err(RunError::Usage(
                        "--target postgres runs --workload register or list-append".into(),
                    )),
                    _ => Ok(()),
                }
            }
            Shape::Replicas { replicas, .. } => {
                if *replicas == 0 && self.ssh.ssh_nodes.is_empty() {
                    super::refuse_partition("postgres", faults)?;
                }
                match workload {
                    WorkloadKind::ListAppend => Err(RunError::Usage(
                        "--target postgres with --replicas runs --workload register or kv \
                         (list-append: without --replicas)"
                            .into(),
                    )),
                    _ => Ok(()),
                }
            }
        }
    }
    async fn start(&self, ctx: &StartCtx<'_>) -> Result<PgNodes, RunError> {
        let p = ctx.progress;
        if !self.ssh.ssh_nodes.is_empty() {
            let pg = remote::RemotePg::start(&self.ssh, ctx.dir, p, ctx.faults).await?;
            return Ok(PgNodes {
                target: self.clone(),
                running: Running::Remote(pg),
            });
        }
        let running = match (&self.shape, self.nodes.is_empty()) {
            (Shape::Single { .. }, true) => {
                let pg = if ctx.faults.contains(&Fault::LoseUnfsynced) {
                    p.note(
                        "starting postgres on loopback (fsync on, data directory on faultline's \
                         FUSE filesystem: lose-unfsynced)",
                    );
                    LocalPostgres::start_lazy(ctx.dir).await?
                } else {
                    p.note("starting postgres on loopback");
                    LocalPostgres::start(ctx.dir).await?
                };
                p.note(format!("postgres up: {}", pg.conn));
                p.note(pg.dirs.note());
                Running::Single(pg)
            }
            (Shape::Replicas { replicas, sync, .. }, true) => {
                p.note(format!(
                    "starting postgres on loopback (1 primary, {replicas} replicas, \
                     synchronous_commit {})",
                    sync.setting()
                ));
                let pg = Arc::new(LocalPgReplicas::start(ctx.dir, *replicas, *sync).await?);
                p.note(format!("postgres up: {}", pg.conns.join(" | ")));
                p.note(pg.dirs.note());
                Running::Replicas(pg)
            }
            (_, false) => Running::Yours(self.nodes.iter().map(conn_of).collect()),
        };
        Ok(PgNodes {
            target: self.clone(),
            running,
        })
    }

    fn key_base(&self, clock: Duration) -> u64 {
        // The user's server holds earlier runs' rows; its keys are 32-bit `int`.
        if self.nodes.is_empty() {
            0
        } else {
            crate::generator::key_base(clock, true)
        }
    }
}

/// What runs.
enum Running {
    /// The user's servers, primary first.
    Yours(Vec<String>),
    /// One local server.
    Single(LocalPostgres),
    /// A local primary and replicas.
    Replicas(Arc<LocalPgReplicas>),
    /// A primary and replicas on SSH hosts.
    Remote(remote::RemotePg),
}

/// The running (or the user's) servers.
pub struct PgNodes {
    target: PostgresTarget,
    running: Running,
}

impl PgNodes {
    fn conns(&self) -> Vec<String> {
        match &self.running {
            Running::Yours(c) => c.clone(),
            Running::Single(pg) => vec![pg.conn.clone()],
            Running::Replicas(pg) => pg.conns.clone(),
            Running::Remote(pg) => pg.conns.clone(),
        }
    }
}

/// The primitives of either shape.
pub type PgFaults = Either<ServerFaults, Either<PgReplicaFaults, RemoteFaults>>;

#[async_trait::async_trait]
impl Nodes for PgNodes {
    type Client = PgClient;
    type Faults = PgFaults;
    fn count(&self) -> usize {
        match self.target.shape {
            Shape::Single { .. } => 1,
            Shape::Replicas { .. } => self.conns().len(),
        }
    }
    fn client(&self) -> PgClient {
        let conns = self.conns();
        let t = self.target.timeout;
        match self.target.shape {
            Shape::Single { isolation } => Either::A(Postgres::new(conns[0].clone(), isolation, t)),
            Shape::Replicas { read_replica, .. } => Either::B(PgKv::new(
                conns[0].clone(),
                Arc::new(conns[1..].to_vec()),
                read_replica,
                t,
            )),
        }
    }
    fn primitives(&self) -> Option<PgFaults> {
        match &self.running {
            Running::Yours(_) => None,
            Running::Single(pg) => {
                let faults = ServerFaults::new(
                    "postgres",
                    vec![pg.server.clone()],
                    super::server::SERVER_SALT,
                );
                Some(Either::A(match &pg.mounts {
                    Some(m) => faults.with_mounts(m.clone()),
                    None => faults,
                }))
            }
            Running::Replicas(pg) => Some(Either::B(Either::A(PgReplicaFaults {
                cluster: pg.clone(),
            }))),
            Running::Remote(pg) => Some(Either::B(Either::B(RemoteFaults::new(
                "postgres",
                pg.members.remote.clone(),
                pg.service.clone(),
            )))),
        }
    }
    fn logs(&self) -> Vec<std::path::PathBuf> {
        match &self.running {
            Running::Yours(_) => Vec::new(),
            Running::Single(pg) => vec![pg.server.log().to_path_buf()],
            Running::Replicas(pg) => super::server::logs(pg.servers.iter()),
            // Copied from the hosts when they stop (shutdown).
            Running::Remote(pg) => pg.members.log_paths(),
        }
    }
    fn started(&self) -> Option<&'static str> {
        match self.running {
            Running::Yours(_) => None,
            Running::Single(_) | Running::Replicas(_) | Running::Remote(_) => Some("postgres"),
        }
    }
    async fn shutdown(&self) {
        match &self.running {
            Running::Yours(_) => {}
            Running::Single(pg) => pg.shutdown().await,
            Running::Replicas(pg) => pg.shutdown().await,
            Running::Remote(pg) => pg.members.shutdown().await,
        }
    }
}

/// The fault primitives over a primary and its replicas: kill and pause whole process trees
/// (any node), partition one replica's replication link at faultline's proxy.
pub struct PgReplicaFaults {
    cluster: Arc<LocalPgReplicas>,
}

impl PgReplicaFaults {
    fn server(&self, node: usize) -> &Arc<Server> {
        &self.cluster.servers[node]
    }
}

#[async_trait::async_trait]
impl Primitives for PgReplicaFaults {
    fn target(&self) -> &'static str {
        "postgres"
    }
    fn salt(&self) -> u64 {
        0x9E5F_FA17
    }
    fn nodes(&self) -> usize {
        self.cluster.servers.len()
    }
    fn node_name(&self, node: usize) -> String {
        self.server(node).name().to_string()
    }
    fn first_node(&self) -> usize {
        // Proxy endpoints count from 1: the primary is 1.
        1
    }
    fn aim(&mut self, fault: Fault, rng: &mut Rng) -> Option<Aim> {
        let n = self.cluster.servers.len();
        Some(match fault {
            Fault::Partition => {
                if n < 2 {
                    return None;
                }
                let node = 1 + rng.below(n as u64 - 1) as usize;
                let name = self.server(node).name();
                Aim::Cut(Box::new(Cut {
                    // Proxy endpoints count from 1: the primary is 1, replica `node` is node+1.
                    grudge: Grudge::from_pairs(&[(1, node + 1)]),
                    value: name_value(self.server(node)),
                    stop_value: name_value(self.server(node)),
                    summary: format!("cut n1 ↔ {name}"),
                    stop_summary: format!("stop-partition {name}"),
                }))
            }
            Fault::Kill | Fault::Pause => Aim::Node(rng.below(n as u64) as usize),
            // Refused by `TargetKind::plan`: only the demo's nodes run under libfaketime.
            Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew => return None,
            // Refused before the run (no files named: `NemesisSupport::corrupt_files`).
            Fault::Packet | Fault::Corrupt => return None,
            // Aimed by the schedule (at the nodes of a target set).
            Fault::LoseUnfsynced => return None,
        })
    }
    async fn kill(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(tree::kill_tree(self.server(node)).await?)
    }
    async fn restart(&mut self, node: usize) -> Result<(), NemesisError> {
        self.server(node).restart().await?;
        // Wait (up to 30 s) until the restarted node accepts queries again.
        let conn = self.cluster.conns[node].clone();
        Ok(self
            .server(node)
            .wait_until(
                "restarted postgres",
                Instant::now() + Duration::from_secs(30),
                || {
                    let conn = conn.clone();
                    async move { query(&conn, "SELECT 1").await.is_ok() }
                },
            )
            .await?)
    }
    async fn pause(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(tree::pause_tree(self.server(node), true)?)
    }
    async fn resume(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(tree::pause_tree(self.server(node), false)?)
    }
    async fn cut(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        self.cluster
            .links
            .block(&grudge.pairs())
            .map_err(NemesisError::from)
    }
    async fn heal(&mut self) {
        self.cluster.links.heal();
    }
    async fn check_healed(&mut self) -> Result<String, NotHealed> {
        check_running(&self.cluster.servers)?;
        self.cluster
            .wait_streaming(Instant::now() + Duration::from_secs(30), false)
            .await?;
        Ok("every server runs and every replica streams from the primary again".into())
    }
}
