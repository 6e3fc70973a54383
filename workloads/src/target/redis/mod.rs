//! `--target redis`: Redis 7, a local primary and replicas faultline starts from Debian's
//! `redis-server` (kill, pause), on SSH hosts (`--ssh-nodes`: kill, pause, partition by
//! iptables), or the user's at `--nodes` (primary first).
//!
//! - [`client`]: the register client on the primary, reads optionally on a replica
//!   (`--read-from replica`).
//! - [`launcher`]: starts one primary and `--local-nodes`−1 replicas on loopback.
//! - [`remote`]: starts the primary on the first SSH host, a replica on each other.
//! - Fault primitives: [`crate::target::server::ServerFaults`] (local: no partition),
//!   [`crate::remote::faults::RemoteFaults`] on SSH hosts.

pub mod client;
pub mod launcher;
pub mod remote;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::server::ServerFaults;
use crate::client::Either;
use super::{FlagGroup, Nodes, ReadFrom, RunError, Spec, StartCtx, Target};
use crate::generator::WorkloadKind;
use crate::nemesis::{CorruptFile, Fault};
use client::Redis;
use crate::remote::faults::RemoteFaults;
use launcher::LocalRedis;

/// The files of a Redis 7 server with its append-only file on (`--redis-appendfsync`) whose
/// corruption matters (`--nemesis corrupt`), in its `--dir`: `aof`, the incremental AOF it
/// appends every write to now (the newest `appendonlydir/*.incr.aof`; the default), and
/// `aof-base`, the snapshot that AOF starts from (the newest `appendonlydir/*.base.rdb`, an
/// RDB file). No `dump.rdb`: faultline's servers run with `--save ""` (and a restarted server
/// with the AOF on loads the AOF, never `dump.rdb`).
pub const REDIS_FILES: [CorruptFile; 2] = [
    CorruptFile::newest("aof", "appendonlydir", ".incr.aof"),
    CorruptFile::newest("aof-base", "appendonlydir", ".base.rdb"),
];

/// When the Redis servers faultline starts fsync their append-only file
/// (`--redis-appendfsync`, Redis's `appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppendFsync {
    /// Never: the operating system flushes when it likes (lose-unfsynced takes it all).
    No,
    /// Once a second, in the background.
    Everysec,
    /// Before every reply.
    Always,
}

impl AppendFsync {
    /// Redis's name of the policy.
    pub fn name(self) -> &'static str {
        match self {
            AppendFsync::No => "no",
            AppendFsync::Everysec => "everysec",
            AppendFsync::Always => "always",
        }
    }
}

/// The Redis target's own flags.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Redis (--target redis)")]
pub struct RedisArgs {
    /// Turn on the append-only file of the Redis servers faultline starts on loopback, with
    /// this fsync policy: no, everysec, always (default: no persistence at all). With
    /// --nemesis lose-unfsynced their data directories lose what was not fsynced.
    #[arg(long, value_enum, value_name = "WHEN")]
    pub redis_appendfsync: Option<AppendFsync>,
}

impl FlagGroup for RedisArgs {
    fn given(&self) -> Vec<&'static str> {
        self.redis_appendfsync
            .map(|_| "--redis-appendfsync")
            .into_iter()
            .collect()
    }
}

/// The Redis target.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    nodes: Vec<SocketAddr>,
    /// The append-only file's fsync policy (`None`: no persistence).
    appendfsync: Option<AppendFsync>,
    local_nodes: usize,
    read_replica: bool,
    timeout: Duration,
    ssh: crate::remote::SshArgs,
}

#[async_trait::async_trait]
impl Target for RedisTarget {
    type Args = RedisArgs;
    type Client = Redis;
    type Nodes = RedisNodes;
    const SHARED_FLAGS: &'static [&'static str] = &[
        "--nodes",
        "--local-nodes",
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
        let s = &spec.args.servers;
        if s.ssh.ssh_nodes.is_empty() {
            if let Some(flag) = s.ssh.given().first() {
                return Err(RunError::Usage(format!(
                    "{flag} needs --ssh-nodes (the hosts to start redis on)"
                )));
            }
        } else {
            s.ssh.hosts()?;
            if !s.nodes.is_empty() || s.local_nodes.is_some() {
                return Err(RunError::Usage(
                    "--ssh-nodes starts the redis primary on the first host and a replica on \
                     each other: leave out --nodes and --local-nodes"
                        .into(),
                ));
            }
        }
        let local_nodes = if s.ssh.ssh_nodes.is_empty() {
            s.local_nodes.unwrap_or(3) as usize
        } else {
            s.ssh.ssh_nodes.len()
        };
        let read_replica = s.read_from == Some(ReadFrom::Replica);
        if read_replica && (local_nodes < 2 && s.nodes.is_empty() || s.nodes.len() == 1) {
            return Err(RunError::Usage(
                "--read-from replica needs a replica: at least 2 nodes".into(),
            ));
        }
        super::refuse_local_nodes_with_nodes(s)?;
        let appendfsync = spec.args.redis.redis_appendfsync;
        if appendfsync.is_some() && (!s.nodes.is_empty() || !s.ssh.ssh_nodes.is_empty()) {
            return Err(RunError::Usage(
                "--redis-appendfsync applies to the Redis servers faultline starts on loopback: \
                 leave out --nodes and --ssh-nodes"
                    .into(),
            ));
        }
        Ok(RedisTarget {
            nodes: s.nodes.clone(),
            appendfsync,
            local_nodes,
            read_replica,
            timeout: spec.op_timeout,
            ssh: s.ssh.clone(),
        })
    }
    fn label(&self) -> &'static str {
        "redis"
    }
    fn describe(&self) -> String {
        format!(
            "redis ({}; reads on the {})",
            if self.ssh.ssh_nodes.is_empty() {
                super::place(&self.nodes, self.local_nodes)
            } else {
                format!("on SSH hosts {}", self.ssh.ssh_nodes.join(","))
            },
            if self.read_replica {
                "replicas"
            } else {
                "primary"
            }
        )
    }
    fn nemesis_support(&self) -> super::NemesisSupport {
        let local = self.ssh.ssh_nodes.is_empty() && self.nodes.is_empty();
        super::NemesisSupport {
            corrupt_files: match (local, self.appendfsync) {
                (true, Some(_)) => REDIS_FILES.to_vec(),
                _ => Vec::new(),
            },
            corrupt_missing: if !self.ssh.ssh_nodes.is_empty() {
                "faultline does not corrupt files on --ssh-nodes hosts (file corruption: the \
                 Redis servers it starts on this machine, with --redis-appendfsync)"
            } else {
                "without --redis-appendfsync the Redis servers faultline starts keep nothing on \
                 disk, so there is no file to corrupt; add --redis-appendfsync \
                 no|everysec|always (then it corrupts the append-only file: aof, aof-base)"
            },
            ..Default::default()
        }
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        super::refuse_faults_on_user_nodes(&self.nodes, faults)?;
        if self.ssh.ssh_nodes.is_empty() {
            super::refuse_partition("redis", faults)?;
        }
        match workload {
            WorkloadKind::Register => {}
            WorkloadKind::Queue => super::refuse_queue(workload)?,
            w => return Err(super::refuse_workload("redis", w, "register")),
        }
        if faults.contains(&Fault::LoseUnfsynced) {
            let refuse = |missing: String| RunError::FaultUnsupported {
                target: "redis".into(),
                fault: "lose-unfsynced".into(),
                missing,
            };
            if !self.ssh.ssh_nodes.is_empty() {
                return Err(refuse(
                    "faultline mounts its FUSE filesystem only on this machine, not on \
                     --ssh-nodes hosts"
                        .into(),
                ));
            }
            if self.appendfsync.is_none() {
                return Err(refuse(
                    "without --redis-appendfsync the servers keep nothing on disk, so there is \
                     nothing unsynced to lose (a kill already loses everything); add \
                     --redis-appendfsync no|everysec|always"
                        .into(),
                ));
            }
            crate::nemesis::lazyfs::check_available().map_err(|e| refuse(e.to_string()))?;
        }
        Ok(())
    }
    async fn start(&self, ctx: &StartCtx<'_>) -> Result<RedisNodes, RunError> {
        if !self.ssh.ssh_nodes.is_empty() {
            let r = remote::RemoteRedis::start(&self.ssh, ctx.dir, ctx.progress, ctx.faults)
                .await?;
            return Ok(RedisNodes {
                target: self.clone(),
                primary: r.urls[0].clone(),
                replicas: Arc::new(r.urls[1..].to_vec()),
                local: None,
                remote: Some(r),
            });
        }
        let local = if self.nodes.is_empty() {
            ctx.progress.note(format!(
                "starting redis on loopback (1 primary, {} replicas)",
                self.local_nodes.saturating_sub(1)
            ));
            let lazy = ctx.faults.contains(&Fault::LoseUnfsynced);
            let r = LocalRedis::start(ctx.dir, self.local_nodes, self.appendfsync, lazy).await?;
            ctx.progress.note(format!("redis up: {}", r.urls.join(" ")));
            Some(r)
        } else {
            None
        };
        let urls: Vec<String> = match &local {
            Some(r) => r.urls.clone(),
            None => self.nodes.iter().map(|a| format!("redis://{a}")).collect(),
        };
        Ok(RedisNodes {
            target: self.clone(),
            primary: urls[0].clone(),
            replicas: Arc::new(urls[1..].to_vec()),
            local,
            remote: None,
        })
    }

    fn key_base(&self, clock: Duration) -> u64 {
        // The user's servers hold earlier runs' keys; fresh local ones start at 0.
        if self.nodes.is_empty() {
            0
        } else {
            crate::generator::key_base(clock, false)
        }
    }
}

/// The running (or the user's) servers.
pub struct RedisNodes {
    target: RedisTarget,
    primary: String,
    replicas: Arc<Vec<String>>,
    local: Option<LocalRedis>,
    remote: Option<remote::RemoteRedis>,
}

#[async_trait::async_trait]
impl Nodes for RedisNodes {
    type Client = Redis;
    type Faults = Either<ServerFaults, RemoteFaults>;
    fn count(&self) -> usize {
        1 + self.replicas.len()
    }
    fn client(&self) -> Redis {
        Redis::new(
            self.primary.clone(),
            self.replicas.clone(),
            self.target.read_replica,
            self.target.timeout,
        )
    }
    fn primitives(&self) -> Option<Either<ServerFaults, RemoteFaults>> {
        if let Some(r) = &self.remote {
            return Some(Either::B(RemoteFaults::new(
                "redis",
                r.members.remote.clone(),
                r.service.clone(),
            )));
        }
        let r = self.local.as_ref()?;
        let mut faults =
            ServerFaults::new("redis", r.servers.clone(), super::server::SERVER_SALT);
        if self.target.appendfsync.is_some() {
            faults = faults.with_files(r.files());
        }
        Some(Either::A(match &r.mounts {
            Some(m) => faults.with_mounts(m.clone()),
            None => faults,
        }))
    }
    fn logs(&self) -> Vec<std::path::PathBuf> {
        if let Some(r) = &self.remote {
            // Copied from the hosts when they stop (shutdown).
            return r.members.log_paths();
        }
        super::server::logs(self.local.iter().flat_map(|r| &r.servers))
    }
    fn started(&self) -> Option<&'static str> {
        (self.local.is_some() || self.remote.is_some()).then_some("redis")
    }
    async fn shutdown(&self) {
        if let Some(r) = &self.remote {
            r.members.shutdown().await;
        }
        if let Some(r) = &self.local {
            r.shutdown().await;
        }
    }
}
