//! Redis on SSH hosts (`--target redis --ssh-nodes …`): faultline starts the primary `n1` on
//! the first host and a replica (`--replicaof` the primary) on each other host, from the
//! host's own `redis-server` (Debian's `redis-server`; `--install` installs it), port 6379 on
//! the host's address, no persistence, each under
//! `/var/lib/faultline/runs/redis-RUN/HOST/` ([`Members`]); waits until the primary answers
//! and every replica's link is up; at the end stops them and copies each `redis.log` into the
//! store directory (`nodes/HOST/redis.log`). Faults:
//! [`crate::remote::faults::RemoteFaults`] (iptables partitions, kill, pause).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::remote::faults::{RemoteFaults, Service};
use crate::remote::members::Members;
use crate::remote::SshArgs;
use crate::runner::Progress;
use crate::target::RunError;

/// The port of every member.
pub const PORT: u16 = 6379;

/// A running Redis primary and replicas on SSH hosts.
pub struct RemoteRedis {
    /// The members (and the connections).
    pub members: Members,
    /// Their URLs, the primary first.
    pub urls: Vec<String>,
    /// The node profile for the fault primitives.
    pub service: Arc<Service>,
}

impl RemoteRedis {
    /// Connects, checks (installs with `--install`), starts the members and waits (30 s).
    pub async fn start(
        ssh: &SshArgs,
        store: &Path,
        progress: &Arc<Progress>,
        faults: &[crate::nemesis::Fault],
    ) -> Result<RemoteRedis, RunError> {
        let members = Members::connect(ssh, "redis", store, "redis.log", progress).await?;
        let remote = members.remote.clone();
        let urls = remote
            .hosts
            .iter()
            .map(|h| format!("redis://{}", std::net::SocketAddr::new(h.addr, PORT)))
            .collect();
        let cluster = RemoteRedis {
            service: Arc::new(members.service()),
            members,
            urls,
        };
        if let Err(e) = cluster.launch(ssh.install, faults, progress).await {
            cluster.members.shutdown().await;
            return Err(e);
        }
        Ok(cluster)
    }

    async fn launch(
        &self,
        install: bool,
        faults: &[crate::nemesis::Fault],
        progress: &Arc<Progress>,
    ) -> Result<(), RunError> {
        let remote = &self.members.remote;
        self.members
            .ensure_program("redis-server", "redis-server", install)
            .await?;
        RemoteFaults::new("redis", remote.clone(), Arc::new(Service::default()))
            .prepare(faults)
            .await?;
        let primary = remote.hosts[0].addr;
        let start = |i: usize| {
            let addr = remote.hosts[i].addr;
            let replicaof = if i == 0 {
                String::new()
            } else {
                format!(" --replicaof {primary} {PORT}")
            };
            format!(
                "nohup setsid redis-server --port {PORT} --bind {addr} --dir $dir --save '' \
                 --appendonly no --daemonize no --protected-mode no{replicaof} \
                 >> $dir/redis.log 2>&1 < /dev/null &\necho $! > $dir/pid\n"
            )
        };
        progress.note(format!(
            "starting redis on {} SSH hosts (primary on {})",
            remote.len(),
            remote.hosts[0].spec.label
        ));
        self.members
            .launch("start redis", |_| String::new(), start)
            .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        for (i, url) in self.urls.iter().enumerate() {
            while !super::launcher::ready(url, i > 0).await {
                if tokio::time::Instant::now() > deadline {
                    return Err(RunError::Start(format!(
                        "{}: redis n{} did not get ready at {url} within 30 s (log {}/redis.log \
                         there):\n{}",
                        remote.hosts[i].spec.label,
                        i + 1,
                        self.members.dir(i),
                        self.members.tail(i).await
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        progress.note(format!("redis up: {}", self.urls.join(" ")));
        Ok(())
    }
}
