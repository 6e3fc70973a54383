//! Starts an etcd cluster on loopback (the `etcd` binary of Debian's `etcd-server`): N
//! members, each with its own data directory `dir/n<i>` and log `dir/n<i>.log`, ephemeral
//! client and peer ports; waits until every member answers `/health`. With `lose-unfsynced`
//! each member's data directory is faultline's FUSE filesystem
//! ([`crate::nemesis::lazyfs`]) over `dir/n<i>.disk`.

use crate::error::ServerError;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::nemesis::lazyfs::{LazyMount, LazyMounts};
use crate::net::netns::{self, Cuts, Ns, Packets};
use crate::target::server::{Server, ServerSpec};
use crate::target::{find_program, free_port, RunError};

/// A running local etcd cluster.
pub struct LocalEtcd {
    /// The members, in order (`n1`, …).
    pub servers: Vec<Arc<Server>>,
    /// Their client URLs (`http://127.0.0.1:port`).
    pub endpoints: Vec<String>,
    /// Their data directories (`--data-dir`), `n1`'s first.
    pub dirs: Vec<std::path::PathBuf>,
    /// With network namespaces: the member links faultline can cut.
    pub cuts: Option<Cuts>,
    /// With network namespaces: the packet faults faultline can put on the member links
    /// (delay in the relays, loss as iptables rules inside the namespaces).
    pub packets: Option<Packets>,
    /// The FUSE mounts under the members' data directories (`lose-unfsynced`), `n1`'s first.
    pub mounts: Option<LazyMounts>,
    /// The namespaces (kept alive for the relays).
    _ns: Vec<Arc<Ns>>,
}

impl LocalEtcd {
    /// Starts `nodes` members under `dir` and waits (up to 30 s) for all to be healthy.
    pub async fn start(dir: &Path, nodes: usize) -> Result<LocalEtcd, RunError> {
        Self::start_with(dir, nodes, false, false).await
    }

    /// Like [`LocalEtcd::start`] (or [`LocalEtcd::start_partitionable`] if `isolated`: for
    /// partitions and packet faults), each
    /// member's data directory on faultline's FUSE filesystem if `lazy` (`lose-unfsynced`).
    pub async fn start_on(
        dir: &Path,
        nodes: usize,
        isolated: bool,
        lazy: bool,
    ) -> Result<LocalEtcd, RunError> {
        Self::start_with(dir, nodes, isolated, lazy).await
    }

    /// Starts `nodes` members, each in its own network namespace with every peer link relayed
    /// through faultline ([`netns`]), so that [`LocalEtcd::cuts`] partitions them and
    /// [`LocalEtcd::packets`] delays and loses their packets. Needs root.
    pub async fn start_partitionable(dir: &Path, nodes: usize) -> Result<LocalEtcd, RunError> {
        Self::start_with(dir, nodes, true, false).await
    }

    /// [`LocalEtcd::start_once`], again on other ports (at most twice more) when a member
    /// could not bind one: the ports are picked free ([`free_port`]) and bound by etcd only
    /// later, so another program may take one in between (in namespaces the ports are
    /// fixed and private: no retry there).
    async fn start_with(
        dir: &Path,
        nodes: usize,
        isolated: bool,
        lazy: bool,
    ) -> Result<LocalEtcd, RunError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Self::start_once(dir, nodes, isolated, lazy).await {
                Err(RunError::Server(ServerError::NotReady { tail, .. }))
                    if !isolated && attempts < 3 && tail.contains("address already in use") =>
                {
                    // A fresh cluster: the failed one's members are stopped (start_once) and
                    // their data directories, which name the old ports, removed.
                    for i in 0..nodes {
                        let _ = std::fs::remove_dir_all(dir.join(format!("n{}", i + 1)));
                        let _ = std::fs::remove_dir_all(dir.join(format!("n{}.disk", i + 1)));
                    }
                }
                other => return other,
            }
        }
    }

    /// Starts the members once (see [`LocalEtcd::start_with`]).
    async fn start_once(
        dir: &Path,
        nodes: usize,
        isolated: bool,
        lazy: bool,
    ) -> Result<LocalEtcd, RunError> {
        let program = find_program("etcd", &["/usr/bin/etcd"], "etcd-server")?;
        let mut client = Vec::new();
        let mut peer = Vec::new();
        let mut spaces: Vec<Arc<Ns>> = Vec::new();
        let cuts = isolated.then(Cuts::new);
        for i in 0..nodes {
            if isolated {
                client.push(2379);
                peer.push(2380 + i as u16 * 10);
                spaces.push(Arc::new(
                    Ns::new().map_err(|e| RunError::NamespacePermission(e.to_string()))?,
                ));
            } else {
                client.push(free_port()?);
                peer.push(free_port()?);
            }
        }
        // Loss needs iptables; `Target::plan` refused a lossy packet fault without it.
        let packets = isolated.then(|| {
            let iptables = find_program(
                "iptables",
                &["/usr/sbin/iptables", "/sbin/iptables"],
                "iptables",
            )
            .ok();
            Packets::new(spaces.clone(), peer.clone(), iptables)
        });
        let mut host_ports = Vec::new();
        if let (Some(cuts), Some(packets)) = (&cuts, &packets) {
            let lo = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
            for i in 0..nodes {
                // The client path: host loopback -> member i's namespace.
                let relay_failed = |source| ServerError::Bind {
                    what: format!("the client relay to n{}", i + 1),
                    addr: lo(0),
                    source,
                };
                let l = tokio::net::TcpListener::bind(lo(0))
                    .await
                    .map_err(relay_failed)?;
                host_ports.push(l.local_addr().map_err(relay_failed)?.port());
                netns::relay(l, spaces[i].clone(), lo(client[i]), None, None);
                // Peer paths: in member i's namespace, 127.0.0.1:peer[j] leads to member j.
                for j in 0..nodes {
                    if j == i {
                        continue;
                    }
                    let l = spaces[i].listen(lo(peer[j])).await.map_err(|source| {
                        ServerError::Bind {
                            what: format!("n{}'s link to n{}", i + 1, j + 1),
                            addr: lo(peer[j]),
                            source,
                        }
                    })?;
                    netns::relay(
                        l,
                        spaces[j].clone(),
                        lo(peer[j]),
                        Some((cuts.clone(), (i, j))),
                        packets.link(i, j),
                    );
                }
            }
        }
        let initial = (0..nodes)
            .map(|i| format!("n{}=http://127.0.0.1:{}", i + 1, peer[i]))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers = Vec::new();
        let mut endpoints = Vec::new();
        let mut dirs = Vec::new();
        let mut mounts = Vec::new();
        for i in 0..nodes {
            let name = format!("n{}", i + 1);
            let data = dir.join(&name);
            std::fs::create_dir_all(&data).map_err(|source| ServerError::Path {
                path: data.clone(),
                source,
            })?;
            if lazy {
                use std::os::unix::fs::PermissionsExt;
                let backing = dir.join(format!("{name}.disk"));
                std::fs::create_dir_all(&backing).map_err(|source| ServerError::Path {
                    path: backing.clone(),
                    source,
                })?;
                // etcd wants its data directory private (it warns otherwise).
                let _ = std::fs::set_permissions(&backing, std::fs::Permissions::from_mode(0o700));
                mounts.push(LazyMount::mount(&data, &backing).map_err(|e| {
                    RunError::Start(format!("cannot mount the FUSE filesystem: {e}"))
                })?);
            }
            let c = format!("http://127.0.0.1:{}", client[i]);
            let p = format!("http://127.0.0.1:{}", peer[i]);
            let args: Vec<String> = [
                "--name",
                &name,
                "--data-dir",
                &data.to_string_lossy(),
                "--listen-client-urls",
                &c,
                "--advertise-client-urls",
                &c,
                "--listen-peer-urls",
                &p,
                "--initial-advertise-peer-urls",
                &p,
                "--initial-cluster",
                &initial,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "faultline",
                "--heartbeat-interval",
                "100",
                "--election-timeout",
                "1000",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let spec = ServerSpec {
                name: name.clone(),
                program: program.clone(),
                args,
                log: dir.join(format!("{name}.log")),
                user: None,
                netns: spaces.get(i).map(|n| n.fd.clone()),
            };
            servers.push(Arc::new(Server::start(spec).await?));
            dirs.push(data);
            endpoints.push(match host_ports.get(i) {
                Some(p) => format!("http://127.0.0.1:{p}"),
                None => c,
            });
        }
        let cluster = LocalEtcd {
            servers,
            endpoints,
            dirs,
            cuts,
            packets,
            mounts: lazy.then(|| LazyMounts::new(mounts)),
            _ns: spaces,
        };
        if let Err(e) = cluster.wait_healthy(Duration::from_secs(30)).await {
            cluster.shutdown().await;
            return Err(e.into());
        }
        Ok(cluster)
    }

    /// Waits until every member reports `{"health":"true"}`.
    pub async fn wait_healthy(&self, limit: Duration) -> Result<(), ServerError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| ServerError::Command(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + limit;
        for (i, url) in self.endpoints.iter().enumerate() {
            let probe = || async {
                match http.get(format!("{url}/health")).send().await {
                    Ok(r) => r
                        .json::<serde_json::Value>()
                        .await
                        .map(|v| v["health"] == "true")
                        .unwrap_or(false),
                    Err(_) => false,
                }
            };
            self.servers[i]
                .wait_until("etcd member", deadline, probe)
                .await?;
        }
        Ok(())
    }

    /// What `--nemesis corrupt` needs: the members' files ([`super::ETCD_FILES`]), where they
    /// are, and a restarted member is ready when its `/health` says `true`.
    pub fn files(&self) -> crate::target::server::ServerFiles {
        let endpoints = Arc::new(self.endpoints.clone());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .ok();
        crate::target::server::ServerFiles {
            files: &super::ETCD_FILES,
            dirs: self.dirs.clone(),
            ready: Arc::new(move |i| {
                let (endpoints, http) = (endpoints.clone(), http.clone());
                Box::pin(async move {
                    let Some(http) = http else { return false };
                    match http.get(format!("{}/health", endpoints[i])).send().await {
                        Ok(r) => r
                            .json::<serde_json::Value>()
                            .await
                            .is_ok_and(|v| v["health"] == "true"),
                        Err(_) => false,
                    }
                })
            }),
            tells: &["repair", "panic:", " C | ", "fatal error", "SIGBUS"],
        }
    }

    /// Member `i`'s own view from `/v3/maintenance/status`: (its id, the leader it follows,
    /// raft term); `None` if it does not answer within `timeout`.
    pub async fn status(&self, i: usize, timeout: Duration) -> Option<(String, String, u64)> {
        let http = reqwest::Client::builder().timeout(timeout).build().ok()?;
        let url = format!("{}/v3/maintenance/status", self.endpoints[i]);
        let v: serde_json::Value = http
            .post(url)
            .body("{}")
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let id = v["header"]["member_id"].as_str()?.to_string();
        let leader = v["leader"].as_str()?.to_string();
        let term = v["raftTerm"].as_str()?.parse().ok()?;
        Some((id, leader, term))
    }

    /// The index of the member every answering member names as leader, if they agree.
    pub async fn leader(&self, timeout: Duration) -> Option<usize> {
        let mut views = Vec::new();
        for i in 0..self.servers.len() {
            views.push(self.status(i, timeout).await?);
        }
        let leader = views[0].1.clone();
        if views.iter().any(|v| v.1 != leader) {
            return None;
        }
        views.iter().position(|v| v.0 == leader)
    }

    /// Stops every member (and then unmounts their FUSE mounts, which nothing uses any more).
    pub async fn shutdown(&self) {
        for s in &self.servers {
            s.stop().await;
        }
        if let Some(m) = &self.mounts {
            m.unmount_all();
        }
    }
}
