//! Starts Redis on loopback (Debian's `redis-server`): one primary `n1` and replicas `n2`, …
//! (`--replicaof` the primary), each with its own directory and log under the run's store
//! dir, no persistence (or the append-only file with `--redis-appendfsync`, then with
//! `lose-unfsynced` each data directory is faultline's FUSE filesystem over `nN.disk`); waits
//! until every replica's link to the primary is up.

use crate::error::ServerError;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::AppendFsync;
use crate::nemesis::lazyfs::{LazyMount, LazyMounts};
use crate::target::server::{Server, ServerSpec};
use crate::target::{find_program, free_port, RunError};

/// A running local Redis primary with replicas.
pub struct LocalRedis {
    /// The servers: the primary first.
    pub servers: Vec<Arc<Server>>,
    /// Their URLs (`redis://127.0.0.1:port`), the primary first.
    pub urls: Vec<String>,
    /// Their data directories (`--dir`), the primary's first.
    pub dirs: Vec<std::path::PathBuf>,
    /// The FUSE mounts under their data directories (`lose-unfsynced`), the primary's first.
    pub mounts: Option<LazyMounts>,
}

impl LocalRedis {
    /// Starts 1 primary and `nodes - 1` replicas under `dir` (with the append-only file and
    /// its fsync policy, if given; over faultline's FUSE filesystem if `lazy`); waits up to
    /// 20 s.
    pub async fn start(
        dir: &Path,
        nodes: usize,
        appendfsync: Option<AppendFsync>,
        lazy: bool,
    ) -> Result<LocalRedis, RunError> {
        let program = find_program("redis-server", &["/usr/bin/redis-server"], "redis-server")?;
        let mut servers = Vec::new();
        let mut urls = Vec::new();
        let mut dirs = Vec::new();
        let mut mounts = Vec::new();
        let mut primary_port = 0;
        for i in 0..nodes.max(1) {
            let name = format!("n{}", i + 1);
            let data = dir.join(&name);
            std::fs::create_dir_all(&data).map_err(|source| ServerError::Path {
                path: data.clone(),
                source,
            })?;
            if lazy {
                let backing = dir.join(format!("{name}.disk"));
                mounts.push(LazyMount::mount(&data, &backing).map_err(|e| {
                    RunError::Start(format!("cannot mount the FUSE filesystem: {e}"))
                })?);
            }
            let port = free_port()?;
            let mut args: Vec<String> = vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                data.to_string_lossy().into_owned(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                if appendfsync.is_some() { "yes" } else { "no" }.into(),
                "--daemonize".into(),
                "no".into(),
                "--protected-mode".into(),
                "no".into(),
            ];
            if let Some(a) = appendfsync {
                args.push("--appendfsync".into());
                args.push(a.name().into());
            }
            if i == 0 {
                primary_port = port;
            } else {
                args.push("--replicaof".into());
                args.push("127.0.0.1".into());
                args.push(primary_port.to_string());
            }
            let spec = ServerSpec {
                name: name.clone(),
                program: program.clone(),
                args,
                log: dir.join(format!("{name}.log")),
                user: None,
                netns: None,
            };
            servers.push(Arc::new(Server::start(spec).await?));
            urls.push(format!("redis://127.0.0.1:{port}"));
            dirs.push(data);
        }
        let mounts = lazy.then(|| LazyMounts::new(mounts));
        let r = LocalRedis {
            servers,
            urls,
            dirs,
            mounts,
        };
        if let Err(e) = r.wait_ready(Duration::from_secs(20)).await {
            r.shutdown().await;
            return Err(e.into());
        }
        Ok(r)
    }

    /// Waits until the primary answers PING and every replica's link is up.
    pub async fn wait_ready(&self, limit: Duration) -> Result<(), ServerError> {
        let deadline = tokio::time::Instant::now() + limit;
        for (i, url) in self.urls.iter().enumerate() {
            self.servers[i]
                .wait_until("redis", deadline, || ready(url, i > 0))
                .await?;
        }
        Ok(())
    }

    /// What `--nemesis corrupt` needs: the servers' files ([`super::REDIS_FILES`]), where
    /// they are, and a restarted server is ready when it answers (a replica: when its link to
    /// the primary is up).
    pub fn files(&self) -> crate::target::server::ServerFiles {
        let urls = Arc::new(self.urls.clone());
        crate::target::server::ServerFiles {
            files: &super::REDIS_FILES,
            dirs: self.dirs.clone(),
            ready: Arc::new(move |i| {
                let urls = urls.clone();
                Box::pin(async move { ready(&urls[i], i > 0).await })
            }),
            tells: &[
                "Truncating",
                "loaded anyway",
                "Bad file format",
                "Unknown command",
                "Unexpected",
                "Short read",
                "Unrecoverable",
                "Internal error",
                "Invalid",
                "Fatal",
            ],
        }
    }

    /// Stops every server.
    pub async fn shutdown(&self) {
        for s in &self.servers {
            s.stop().await;
        }
        // Nothing uses the FUSE mounts any more.
        if let Some(m) = &self.mounts {
            m.unmount_all();
        }
    }
}

/// Whether the server at `url` answers (and, a replica, its link to the primary is up).
pub(crate) async fn ready(url: &str, replica: bool) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let conn = tokio::time::timeout(
        Duration::from_secs(1),
        client.get_multiplexed_async_connection(),
    )
    .await;
    let Ok(Ok(mut conn)) = conn else {
        return false;
    };
    let info: Result<String, _> = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut conn)
        .await;
    match info {
        Ok(text) => !replica || text.contains("master_link_status:up"),
        Err(_) => false,
    }
}
