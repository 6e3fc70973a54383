//! etcd on SSH hosts (`--target etcd --ssh-nodes …`): faultline starts one member on each host
//! from the host's own `etcd` (Debian's `etcd-server`), under a directory it owns,
//! `/var/lib/faultline/runs/RUN/HOST/` (data, `etcd.log`, `pid`, `start.sh`), clients on
//! port 2379 and peers on 2380 of the host's address; waits until every member is healthy;
//! at the end stops them, copies each log into the store directory (`nodes/HOST/etcd.log`)
//! and removes the directory. Faults: [`crate::remote::faults::RemoteFaults`] with the start
//! script and pid file as the node profile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::remote::faults::{file_label, Service};
use crate::remote::{quote, Remote, SshArgs};
use crate::runner::Progress;
use crate::target::RunError;

/// The client port of the members.
pub const CLIENT_PORT: u16 = 2379;
/// The peer port of the members.
pub const PEER_PORT: u16 = 2380;

/// A running etcd cluster on SSH hosts.
pub struct RemoteEtcd {
    /// The connections.
    pub remote: Arc<Remote>,
    /// The members' client URLs.
    pub endpoints: Vec<String>,
    /// The node profile (pid file, start script) for the fault primitives.
    pub service: Arc<Service>,
    /// Where faultline's directory on each host is (`/var/lib/faultline/runs/RUN`).
    base: String,
    /// The run's store directory (logs are copied under `nodes/`).
    store: PathBuf,
    /// `--install`: install etcd-server where it is missing.
    install: bool,
}

impl RemoteEtcd {
    /// Connects, checks, writes each member's start script, starts them and waits (30 s) until
    /// every member answers `/health`.
    pub async fn start(
        ssh: &SshArgs,
        store: &Path,
        progress: &Arc<Progress>,
        faults: &[crate::nemesis::Fault],
    ) -> Result<RemoteEtcd, RunError> {
        let remote = Remote::connect(ssh, true, progress.clone()).await?;
        let run = store
            .file_name()
            .map(|n| file_label(&n.to_string_lossy()))
            .unwrap_or_else(|| "run".into());
        let base = format!("{}/runs/etcd-{run}", crate::remote::faults::STATE_DIR);
        let service = Arc::new(Service {
            pid: Some(format!("cat {base}/{{host}}/pid")),
            start: Some(format!("sh {base}/{{host}}/start.sh")),
            peer_ports: Vec::new(),
        });
        let cluster = RemoteEtcd {
            endpoints: remote
                .hosts
                .iter()
                .map(|h| format!("http://{}", sock(h.addr, CLIENT_PORT)))
                .collect(),
            remote,
            service,
            base,
            store: store.to_path_buf(),
            install: ssh.install,
        };
        if let Err(e) = cluster.launch(faults, progress).await {
            cluster.shutdown().await;
            return Err(e);
        }
        Ok(cluster)
    }

    async fn launch(
        &self,
        faults: &[crate::nemesis::Fault],
        progress: &Arc<Progress>,
    ) -> Result<(), RunError> {
        let remote = &self.remote;
        let probe = crate::remote::members::Members::new(remote.clone(), "etcd", &self.store, "");
        probe
            .ensure_program("etcd", "etcd-server", self.install)
            .await?;
        // Tools and leftovers (before the members exist: no pid to look for yet).
        let tools_only = crate::remote::faults::RemoteFaults::new(
            "etcd",
            remote.clone(),
            Arc::new(Service::default()),
        );
        tools_only.prepare(faults).await?;
        let initial = remote
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| format!("n{}=http://{}", i + 1, sock(h.addr, PEER_PORT)))
            .collect::<Vec<_>>()
            .join(",");
        let script = |i: usize| {
            let h = &remote.hosts[i];
            let dir = format!("{}/{}", self.base, file_label(&h.spec.label));
            let client = format!("http://{}", sock(h.addr, CLIENT_PORT));
            let peer = format!("http://{}", sock(h.addr, PEER_PORT));
            let start = format!(
                "cd {dir} || exit 1\n\
                 nohup setsid etcd --name n{n} --data-dir {dir}/data \
                 --listen-client-urls {client} --advertise-client-urls {client} \
                 --listen-peer-urls {peer} --initial-advertise-peer-urls {peer} \
                 --initial-cluster {initial} --initial-cluster-state new \
                 --initial-cluster-token faultline --heartbeat-interval 100 \
                 --election-timeout 1000 >> {dir}/etcd.log 2>&1 < /dev/null &\n\
                 echo $! > {dir}/pid\n",
                n = i + 1
            );
            format!(
                "mkdir -p {dir} || exit 1\nprintf '%s' {} > {dir}/start.sh || exit 1\n\
                 sh {dir}/start.sh",
                quote(&start)
            )
        };
        progress.note(format!("starting etcd on {} SSH hosts", remote.len()));
        for r in remote.run_all("start etcd", script).await {
            r?;
        }
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
                    let h = &self.remote.hosts[i];
                    let dir = format!("{}/{}", self.base, file_label(&h.spec.label));
                    let tail = self
                        .remote
                        .run(i, "etcd log", &format!("tail -n 8 {dir}/etcd.log"))
                        .await
                        .map(|o| o.stdout)
                        .unwrap_or_default();
                    return Err(RunError::Start(format!(
                        "{}: etcd member n{} did not get healthy at {url} within {} s \
                         (log {dir}/etcd.log there):\n{tail}",
                        h.spec.label,
                        i + 1,
                        limit.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// Where each member's log is copied to in the store directory.
    pub fn log_paths(&self) -> Vec<PathBuf> {
        self.remote
            .hosts
            .iter()
            .map(|h| {
                self.store
                    .join("nodes")
                    .join(file_label(&h.spec.label))
                    .join("etcd.log")
            })
            .collect()
    }

    /// Stops the members (SIGCONT, then SIGKILL of each tree), copies their logs into the
    /// store directory, removes faultline's directory on each host, closes the connections.
    pub async fn shutdown(&self) {
        let remote = &self.remote;
        let stop = |i: usize| {
            let dir = format!("{}/{}", self.base, file_label(&remote.hosts[i].spec.label));
            format!(
                "tree() {{ echo \"$1\"; for c in $(pgrep -P \"$1\"); do tree \"$c\"; done; }}\n\
                 if [ -f {dir}/pid ]; then p=$(cat {dir}/pid); \
                 [ -n \"$p\" ] && kill -CONT $(tree $p) 2>/dev/null; \
                 [ -n \"$p\" ] && kill -KILL $(tree $p) 2>/dev/null; fi\n\
                 cat {dir}/etcd.log 2>/dev/null; true"
            )
        };
        let logs = remote.run_all("stop etcd", stop).await;
        for (path, r) in self.log_paths().iter().zip(logs) {
            if let Ok(o) = r {
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::write(path, o.stdout);
            }
        }
        let base = self.base.clone();
        let _ = remote
            .run_all("remove etcd's directory", |i| {
                format!(
                    "rm -rf {base}/{}; rmdir {base} 2>/dev/null; true",
                    file_label(&remote.hosts[i].spec.label)
                )
            })
            .await;
        remote.close().await;
    }
}

/// `addr:port`, IPv6 in brackets.
fn sock(addr: std::net::IpAddr, port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::new(addr, port)
}
