//! `--target redis`: Redis 7, a local primary and replicas faultline starts from Debian's
//! `redis-server` (kill, pause), or the user's at `--nodes` (primary first).
//!
//! - [`client`]: the register client on the primary, reads optionally on a replica
//!   (`--read-from replica`).
//! - [`launcher`]: starts one primary and `--local-nodes`−1 replicas on loopback.
//! - Fault primitives: [`crate::target::server::ServerFaults`] (no partition).

pub mod client;
pub mod launcher;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::server::ServerFaults;
use super::{NoArgs, Nodes, ReadFrom, RunError, Spec, StartCtx, Target};
use crate::generator::WorkloadKind;
use crate::nemesis::Fault;
use client::Redis;
use launcher::LocalRedis;

/// The Redis target.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    nodes: Vec<SocketAddr>,
    local_nodes: usize,
    read_replica: bool,
    timeout: Duration,
}

#[async_trait::async_trait]
impl Target for RedisTarget {
    type Args = NoArgs;
    type Client = Redis;
    type Nodes = RedisNodes;
    const SHARED_FLAGS: &'static [&'static str] = &["--nodes", "--local-nodes", "--read-from"];

    fn plan(spec: &Spec<'_>) -> Result<Self, RunError> {
        let s = &spec.args.servers;
        let local_nodes = s.local_nodes.unwrap_or(3) as usize;
        let read_replica = s.read_from == Some(ReadFrom::Replica);
        if read_replica && (local_nodes < 2 && s.nodes.is_empty() || s.nodes.len() == 1) {
            return Err(RunError::Usage(
                "--read-from replica needs a replica: at least 2 nodes".into(),
            ));
        }
        super::refuse_local_nodes_with_nodes(s)?;
        Ok(RedisTarget {
            nodes: s.nodes.clone(),
            local_nodes,
            read_replica,
            timeout: spec.op_timeout,
        })
    }
    fn label(&self) -> &'static str {
        "redis"
    }
    fn describe(&self) -> String {
        format!(
            "redis ({}; reads on the {})",
            super::place(&self.nodes, self.local_nodes),
            if self.read_replica {
                "replicas"
            } else {
                "primary"
            }
        )
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        super::refuse_faults_on_user_nodes(&self.nodes, faults)?;
        super::refuse_partition("redis", faults)?;
        match workload {
            WorkloadKind::Register => Ok(()),
            WorkloadKind::Queue => super::refuse_queue(workload),
            w => Err(super::refuse_workload("redis", w, "register")),
        }
    }
    async fn start(&self, ctx: &StartCtx<'_>) -> Result<RedisNodes, RunError> {
        let local = if self.nodes.is_empty() {
            ctx.progress.note(format!(
                "starting redis on loopback (1 primary, {} replicas)",
                self.local_nodes.saturating_sub(1)
            ));
            let r = LocalRedis::start(ctx.dir, self.local_nodes).await?;
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
}

#[async_trait::async_trait]
impl Nodes for RedisNodes {
    type Client = Redis;
    type Faults = ServerFaults;
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
    fn primitives(&self) -> Option<ServerFaults> {
        let r = self.local.as_ref()?;
        Some(ServerFaults::new(
            "redis",
            r.servers.clone(),
            super::server::SERVER_SALT,
        ))
    }
    fn logs(&self) -> Vec<std::path::PathBuf> {
        super::server::logs(self.local.iter().flat_map(|r| &r.servers))
    }
    fn started(&self) -> Option<&'static str> {
        self.local.as_ref().map(|_| "redis")
    }
    async fn shutdown(&self) {
        if let Some(r) = &self.local {
            r.shutdown().await;
        }
    }
}
