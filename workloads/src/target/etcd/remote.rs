//! etcd on SSH hosts (`--target etcd --ssh-nodes …`): faultline starts one member on each host
//! from the host's own `etcd` (Debian's `etcd-server`; `--install` installs it), under
//! `/var/lib/faultline/runs/etcd-RUN/HOST/` ([`Members`]: data, `etcd.log`, `pid`,
//! `start.sh`), clients on port 2379 and peers on 2380 of the host's address; waits until
//! every member is healthy; at the end stops them, copies each log into the store directory
//! (`nodes/HOST/etcd.log`) and removes the directory. Faults:
//! [`crate::remote::faults::RemoteFaults`] with the start script and pid file as the node
//! profile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::remote::faults::{RemoteFaults, Service};
use crate::remote::members::Members;
use crate::remote::SshArgs;
use crate::runner::Progress;
use crate::target::RunError;

/// The client port of the members.
pub const CLIENT_PORT: u16 = 2379;
/// The peer port of the members.
pub const PEER_PORT: u16 = 2380;

/// A running etcd cluster on SSH hosts.
pub struct RemoteEtcd {
    /// The members (and the connections).
    pub members: Members,
    /// The members' client URLs.
    pub endpoints: Vec<String>,
    /// The node profile (pid file, start script) for the fault primitives.
    pub service: Arc<Service>,
}

impl RemoteEtcd {
    /// Connects, checks (installs with `--install`), writes each member's start script,
    /// starts them and waits (30 s) until every member answers `/health`.
    pub async fn start(
        ssh: &SshArgs,
        store: &Path,
        progress: &Arc<Progress>,
        faults: &[crate::nemesis::Fault],
    ) -> Result<RemoteEtcd, RunError> {
        let members = Members::connect(ssh, "etcd", store, "etcd.log", progress).await?;
        let remote = members.remote.clone();
        let cluster = RemoteEtcd {
            endpoints: remote
                .hosts
                .iter()
                .map(|h| format!("http://{}", sock(h.addr, CLIENT_PORT)))
                .collect(),
            service: Arc::new(members.service()),
            members,
        };
        if let Err(e) = cluster.launch(ssh.install, faults, progress).await {
            cluster.shutdown().await;
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
            .ensure_program("etcd", "etcd-server", install)
            .await?;
        // Tools and leftovers (before the members exist: no pid to look for yet).
        RemoteFaults::new("etcd", remote.clone(), Arc::new(Service::default()))
            .prepare(faults)
            .await?;
        let initial = remote
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| format!("n{}=http://{}", i + 1, sock(h.addr, PEER_PORT)))
            .collect::<Vec<_>>()
            .join(",");
        let start = |i: usize| {
            let h = &remote.hosts[i];
            let client = format!("http://{}", sock(h.addr, CLIENT_PORT));
            let peer = format!("http://{}", sock(h.addr, PEER_PORT));
            format!(
                "nohup setsid etcd --name n{n} --data-dir $dir/data \
                 --listen-client-urls {client} --advertise-client-urls {client} \
                 --listen-peer-urls {peer} --initial-advertise-peer-urls {peer} \
                 --initial-cluster {initial} --initial-cluster-state new \
                 --initial-cluster-token faultline --heartbeat-interval 100 \
                 --election-timeout 1000 >> $dir/etcd.log 2>&1 < /dev/null &\n\
                 echo $! > $dir/pid\n",
                n = i + 1
            )
        };
        progress.note(format!("starting etcd on {} SSH hosts", remote.len()));
        self.members
            .launch("start etcd", |_| String::new(), start)
            .await?;
        self.wait_healthy(Duration::from_secs(30)).await?;
        progress.note(format!("etcd up: {}", self.endpoints.join(" ")));
        Ok(())
    }

    async fn wait_healthy(&self, limit: Duration) -> Result<(), RunError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| RunError::Internal(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + limit;
        for (i, url) in self.endpoints.iter().enumerate() {
            loop {
                let ok = match http.get(format!("{url}/health")).send().await {
                    Ok(r) => r
                        .json::<serde_json::Value>()
                        .await
                        .map(|v| v["health"] == "true")
                        .unwrap_or(false),
                    Err(_) => false,
                };
                if ok {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(RunError::Start(format!(
                        "{}: etcd member n{} did not get healthy at {url} within {} s \
                         (log {}/etcd.log there):\n{}",
                        self.members.remote.hosts[i].spec.label,
                        i + 1,
                        limit.as_secs(),
                        self.members.dir(i),
                        self.members.tail(i).await
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// Where each member's log is copied to in the store directory.
    pub fn log_paths(&self) -> Vec<PathBuf> {
        self.members.log_paths()
    }

    /// Stops the members, copies their logs into the store directory, removes faultline's
    /// directory on each host, closes the connections ([`Members::shutdown`]).
    pub async fn shutdown(&self) {
        self.members.shutdown().await;
    }
}

/// `addr:port`, IPv6 in brackets.
fn sock(addr: std::net::IpAddr, port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::new(addr, port)
}
