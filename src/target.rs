//! Targets of `faultline run`: what the clients talk to and what the nemesis can break.
//!
//! `demo` starts the embedded store as node processes on loopback behind faultline's link
//! proxies (so every fault is available) and tears it down afterwards, also on error and
//! Ctrl-C; `http-kv` reaches a service the user runs (no faults: faultline controls neither its
//! processes nor its links); `local` is an in-process linearizable map.

use crate::cli::{EtcdApiArg, IsolationArg, ReadFrom, RunArgs, StoreMode, SyncCommitArg, Target};
use crate::run::Plan;
use anyhow::Result;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use workloads::client::{HttpKv, Local};
use workloads::cluster::{Cluster, ClusterSpec};
use workloads::db::drive::{DbTarget, EtcdApi};
use workloads::db::postgres::Isolation;
use workloads::db::postgres_replicas::SyncCommit;
use workloads::generator::WorkloadKind;
use workloads::nemesis::{Fault, Nemesis, Planned};
use workloads::recorder::Recorder;
use workloads::runner::{self, FaultOp, Faults, NoNemesis, Progress, RunSummary};

/// What a run is pointed at.
#[derive(Debug, Clone)]
pub enum TargetPlan {
    /// The embedded demo store in this mode, started by faultline.
    Demo(StoreMode),
    /// A service speaking http-kv at these addresses.
    HttpKv(Vec<SocketAddr>),
    /// The in-process map.
    Local,
    /// A real database: etcd, Redis or PostgreSQL (docs/targets.md).
    Db(DbTarget),
}

impl TargetPlan {
    /// A short description for logs and the summary.
    pub fn describe(&self) -> String {
        match self {
            TargetPlan::Demo(StoreMode::Async) => "demo store (async, 3 nodes)".into(),
            TargetPlan::Demo(StoreMode::Sync) => "demo store (sync, 3 nodes)".into(),
            TargetPlan::HttpKv(nodes) => format!(
                "http-kv at {}",
                nodes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            TargetPlan::Local => "local in-process map".into(),
            TargetPlan::Db(db) => db.describe(),
        }
    }
}

/// The run label's prefix for a database target.
pub fn db_label(db: &DbTarget) -> &'static str {
    match db {
        DbTarget::Etcd { .. } => "etcd",
        DbTarget::Redis { .. } => "redis",
        DbTarget::Postgres { .. } | DbTarget::PostgresReplicas { .. } => "postgres",
        DbTarget::RabbitMq { .. } => "rabbitmq",
    }
}

/// The database target of `--target etcd|redis|postgres` and its flags.
pub fn db_plan(args: &RunArgs) -> Result<TargetPlan, String> {
    let nodes = args.nodes.clone();
    let local_nodes = args.local_nodes.unwrap_or(3) as usize;
    if args.target == Target::Redis
        && args.read_from == ReadFrom::Replica
        && (local_nodes < 2 && nodes.is_empty() || nodes.len() == 1)
    {
        return Err("--read-from replica needs a replica: at least 2 nodes".into());
    }
    if args.target == Target::Postgres {
        if let Some(plan) = postgres_replicas_plan(args)? {
            return Ok(plan);
        }
    }
    if args.target == Target::Postgres && (args.local_nodes.unwrap_or(1) != 1 || nodes.len() > 1) {
        return Err("--target postgres runs one server".into());
    }
    if args.etcd_api != EtcdApiArg::Json && args.target != Target::Etcd {
        return Err("--etcd-api applies to --target etcd".into());
    }
    if !nodes.is_empty() && args.local_nodes.is_some() {
        return Err("--local-nodes applies when faultline starts the servers (no --nodes)".into());
    }
    Ok(TargetPlan::Db(match args.target {
        Target::Etcd => DbTarget::Etcd {
            nodes,
            local_nodes,
            serializable: args.etcd_serializable_reads,
            api: match args.etcd_api {
                EtcdApiArg::Json => EtcdApi::Json,
                EtcdApiArg::Grpc => EtcdApi::Grpc,
            },
        },
        Target::Redis => DbTarget::Redis {
            nodes,
            local_nodes,
            read_replica: args.read_from == ReadFrom::Replica,
        },
        Target::Postgres => DbTarget::Postgres {
            nodes,
            isolation: match args.isolation {
                IsolationArg::ReadCommitted => Isolation::ReadCommitted,
                IsolationArg::RepeatableRead => Isolation::RepeatableRead,
                IsolationArg::Serializable => Isolation::Serializable,
            },
        },
        Target::Rabbitmq => {
            if args.local_nodes.unwrap_or(1) != 1 || nodes.len() > 1 {
                return Err("--target rabbitmq runs one broker".into());
            }
            DbTarget::RabbitMq {
                nodes,
                options: workloads::db::rabbitmq::RabbitOptions {
                    durable: args.rabbitmq_durable,
                    confirms: args.rabbitmq_confirms,
                    auto_ack: args.rabbitmq_auto_ack,
                },
            }
        }
        other => return Err(format!("{other:?} is not a database target")),
    }))
}

/// `--target postgres` with `--replicas`, `--read-from replica`, `--synchronous-commit` or
/// `--workload kv`: the autocommit register/kv client over a primary and its replicas
/// (`--nodes`: yours, primary first). `None`: the single-server transactional target.
fn postgres_replicas_plan(args: &RunArgs) -> Result<Option<TargetPlan>, String> {
    let kv = WorkloadKind::parse(&args.workload).ok() == Some(WorkloadKind::Kv);
    let sync = match args.synchronous_commit {
        SyncCommitArg::Local => SyncCommit::Local,
        SyncCommitArg::RemoteWrite => SyncCommit::RemoteWrite,
        SyncCommitArg::On => SyncCommit::On,
        SyncCommitArg::RemoteApply => SyncCommit::RemoteApply,
    };
    let read_replica = args.read_from == ReadFrom::Replica;
    if args.replicas.is_none() && sync == SyncCommit::Local && !read_replica && !kv {
        return Ok(None);
    }
    if args.local_nodes.is_some() {
        return Err(
            "--target postgres counts its servers with --replicas, not --local-nodes".into(),
        );
    }
    let replicas = match (&args.nodes[..], args.replicas) {
        ([], r) => r.unwrap_or(0) as usize,
        (nodes, None) => nodes.len() - 1,
        (_, Some(_)) => {
            return Err("--replicas applies when faultline starts the servers (no --nodes)".into())
        }
    };
    if read_replica && replicas == 0 {
        return Err("--read-from replica needs a replica: --replicas 1 or more".into());
    }
    if sync != SyncCommit::Local && (replicas == 0 || !args.nodes.is_empty()) {
        return Err(
            "--synchronous-commit applies to replicas faultline starts (--replicas 1 or more)"
                .into(),
        );
    }
    Ok(Some(TargetPlan::Db(DbTarget::PostgresReplicas {
        nodes: args.nodes.clone(),
        replicas,
        sync,
        read_replica,
    })))
}

/// Refuses faults and workloads a database target cannot take.
pub fn check_db_faults(
    target: &TargetPlan,
    faults: &[String],
    workload: WorkloadKind,
) -> Result<(), String> {
    let TargetPlan::Db(db) = target else {
        return Ok(());
    };
    if !db.is_local() && !faults.is_empty() {
        return Err("--nemesis needs servers faultline starts: leave out --nodes".into());
    }
    if faults.iter().any(|f| f == "partition")
        && !matches!(
            db,
            DbTarget::Etcd { .. }
                | DbTarget::PostgresReplicas { replicas: 1.., .. }
                | DbTarget::RabbitMq { .. }
        )
    {
        return Err(format!(
            "partition is available for --target etcd, postgres --replicas and rabbitmq (client | broker), not {}; use --nemesis kill, pause",
            db_label(db)
        ));
    }
    match (db, workload) {
        (DbTarget::PostgresReplicas { .. }, WorkloadKind::ListAppend) => Err(
            "--target postgres with --replicas runs --workload register or kv (list-append: \
             without --replicas)"
                .into(),
        ),
        (DbTarget::RabbitMq { .. }, WorkloadKind::Queue) => Ok(()),
        (DbTarget::RabbitMq { .. }, _) => Err("--target rabbitmq runs --workload queue".into()),
        (_, WorkloadKind::Queue) => Err("--workload queue runs against --target rabbitmq".into()),
        (DbTarget::Postgres { .. }, WorkloadKind::Kv) => {
            Err("--target postgres runs --workload register or list-append".into())
        }
        (DbTarget::Etcd { .. } | DbTarget::Redis { .. }, WorkloadKind::Register) => Ok(()),
        (DbTarget::Etcd { .. } | DbTarget::Redis { .. }, _) => {
            Err("--target etcd and redis run --workload register".into())
        }
        _ => Ok(()),
    }
}

/// Parses `--nemesis`: `none`, `all`, or a comma-separated list of partition, kill, pause.
pub fn parse_faults(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "none" => {}
            "all" => {
                for f in ["partition", "kill", "pause"] {
                    if !out.iter().any(|o| o == f) {
                        out.push(f.into());
                    }
                }
            }
            "partition" | "kill" | "pause" => {
                if !out.iter().any(|o| o == name) {
                    out.push(name.into());
                }
            }
            other => {
                return Err(format!(
                "unknown fault {other:?}; expected none, all, or a list of partition, kill, pause"
            ))
            }
        }
    }
    Ok(out)
}

/// Brings the target up, runs the plan against it, and brings it down.
pub async fn drive(
    plan: &Plan,
    dir: &Path,
    recorder: Arc<Recorder>,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> Result<RunSummary> {
    let mut config = plan.config.clone();
    match &plan.target {
        TargetPlan::Local => {
            let store = Local::new();
            Ok(runner::run(
                config,
                |_| store.clone(),
                NoNemesis,
                recorder,
                progress,
                stop,
            )
            .await)
        }
        TargetPlan::HttpKv(nodes) => {
            config.nodes = nodes.len();
            let nodes = Arc::new(nodes.clone());
            let timeout = plan.op_timeout;
            Ok(runner::run(
                config,
                |_| HttpKv::new(nodes.clone(), timeout),
                NoNemesis,
                recorder,
                progress,
                stop,
            )
            .await)
        }
        TargetPlan::Db(db) => workloads::db::drive::drive(
            db,
            dir,
            config,
            plan.faults.clone(),
            plan.op_timeout,
            recorder,
            progress,
            stop,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", db_label(db))),
        TargetPlan::Demo(mode) => {
            let mode = match mode {
                StoreMode::Async => "async",
                StoreMode::Sync => "sync",
            };
            let program = std::env::current_exe()?;
            progress.note(format!(
                "starting the demo store ({mode}, 3 nodes) on loopback"
            ));
            let cluster = Cluster::start(ClusterSpec {
                nodes: 3,
                program,
                args: vec!["serve-demo-node".into(), "--mode".into(), mode.into()],
                dir: dir.to_path_buf(),
            })
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the demo store: {e}"))?;
            progress.note(format!(
                "demo store up: {}",
                cluster
                    .node_names()
                    .iter()
                    .zip(cluster.http_addrs())
                    .map(|(n, a)| format!("{n}=http://{a}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            progress.note(format!(
                "demo store processes: {}; link proxies: {}",
                (1..=cluster.nodes())
                    .map(|id| format!(
                        "n{id} pid {} peer {}",
                        cluster.pid(id).unwrap_or(0),
                        cluster.peer_addrs()[id - 1]
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                cluster
                    .proxy_addrs()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            config.nodes = cluster.nodes();
            let nodes = Arc::new(cluster.http_addrs());
            let faults: Vec<Fault> = plan
                .faults
                .iter()
                .map(|f| Fault::parse_list(f))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!(e))?
                .into_iter()
                .flatten()
                .collect();
            let nemesis = DemoFaults {
                nemesis: Nemesis::new(cluster.clone(), faults, plan.config.seed),
                cluster: cluster.clone(),
                pending: None,
            };
            let timeout = plan.op_timeout;
            let summary = runner::run(
                config,
                |_| HttpKv::new(nodes.clone(), timeout),
                nemesis,
                recorder,
                progress.clone(),
                stop,
            )
            .await;
            cluster.shutdown().await;
            progress.note("demo store stopped");
            Ok(summary)
        }
    }
}

/// The demo cluster's nemesis, as the runner drives it.
struct DemoFaults {
    nemesis: Nemesis,
    cluster: Arc<Cluster>,
    /// The last planned operation, applied by the next `apply`.
    pending: Option<Planned>,
}

fn fault_op(p: &Planned) -> FaultOp {
    FaultOp {
        f: p.f().to_string(),
        value: p.value(),
        summary: p.summary(),
    }
}

impl Faults for DemoFaults {
    fn plan_start(&mut self) -> Option<FaultOp> {
        let planned = self.nemesis.plan_start();
        let op = fault_op(&planned);
        self.pending = Some(planned);
        Some(op)
    }

    fn plan_stop(&mut self) -> Option<FaultOp> {
        let planned = self.nemesis.plan_stop()?;
        let op = fault_op(&planned);
        self.pending = Some(planned);
        Some(op)
    }

    async fn apply(&mut self, op: &FaultOp) -> Result<Value, String> {
        match self.pending.take() {
            Some(p) => self.nemesis.apply(&p).await.map_err(|e| e.to_string()),
            None => Err(format!("{} was not planned", op.f)),
        }
    }

    async fn heal_all(&mut self) -> Vec<(FaultOp, Result<Value, String>)> {
        let done = self.nemesis.heal_all().await;
        let errors = self.nemesis.heal_errors().to_vec();
        let mut out: Vec<(FaultOp, Result<Value, String>)> =
            done.iter().map(|p| (fault_op(p), Ok(p.value()))).collect();
        for e in errors {
            out.push((
                FaultOp {
                    f: "restart".into(),
                    value: Value::Null,
                    summary: "restart".into(),
                },
                Err(e),
            ));
        }
        out
    }

    async fn verify_healed(&mut self) -> Result<String, String> {
        self.cluster
            .wait_connected(Duration::from_secs(10))
            .await
            .map(|()| "every node hears every other node again".to_string())
    }
}
