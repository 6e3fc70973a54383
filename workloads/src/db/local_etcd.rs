//! Starts an etcd cluster on loopback (the `etcd` binary of Debian's `etcd-server`): N
//! members, each with its own data directory `dir/n<i>` and log `dir/n<i>.log`, ephemeral
//! client and peer ports; waits until every member answers `/health`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::server::{log_tail, Server, ServerSpec};
use super::{find_program, free_port};

/// A running local etcd cluster.
pub struct LocalEtcd {
    /// The members, in order (`n1`, …).
    pub servers: Vec<Arc<Server>>,
    /// Their client URLs (`http://127.0.0.1:port`).
    pub endpoints: Vec<String>,
}

impl LocalEtcd {
    /// Starts `nodes` members under `dir` and waits (up to 30 s) for all to be healthy.
    pub async fn start(dir: &Path, nodes: usize) -> Result<LocalEtcd, String> {
        let program = find_program("etcd", &["/usr/bin/etcd"])
            .ok_or("etcd not found: install Debian's etcd-server (apt-get install etcd-server)")?;
        let mut client = Vec::new();
        let mut peer = Vec::new();
        for _ in 0..nodes {
            client.push(free_port().map_err(|e| e.to_string())?);
            peer.push(free_port().map_err(|e| e.to_string())?);
        }
        let initial = (0..nodes)
            .map(|i| format!("n{}=http://127.0.0.1:{}", i + 1, peer[i]))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers = Vec::new();
        let mut endpoints = Vec::new();
        for i in 0..nodes {
            let name = format!("n{}", i + 1);
            let data = dir.join(&name);
            std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
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
            };
            servers.push(Arc::new(Server::start(spec).await?));
            endpoints.push(c);
        }
        let cluster = LocalEtcd { servers, endpoints };
        if let Err(e) = cluster.wait_healthy(Duration::from_secs(30)).await {
            cluster.shutdown().await;
            return Err(e);
        }
        Ok(cluster)
    }

    /// Waits until every member reports `{"health":"true"}`.
    pub async fn wait_healthy(&self, limit: Duration) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| e.to_string())?;
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
                let s = &self.servers[i];
                if s.exited() || tokio::time::Instant::now() > deadline {
                    return Err(format!(
                        "etcd member {} is not healthy (log {}):\n{}",
                        s.name(),
                        s.log().display(),
                        log_tail(s.log())
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Stops every member.
    pub async fn shutdown(&self) {
        for s in &self.servers {
            s.stop().await;
        }
    }
}
