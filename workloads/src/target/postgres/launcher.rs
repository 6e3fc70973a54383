//! Starts one PostgreSQL 15 server on loopback (Debian's `postgresql-15`:
//! `/usr/lib/postgresql/15/bin/{initdb,postgres}`): `initdb` into `dir/n1/data` (trust
//! authentication, loopback only, fsync off), `postgres` on an ephemeral port, then creates
//! the tables. As root, both run as the unprivileged `postgres` user (created with `useradd`
//! if missing), which owns the data directory.
//!
//! The pieces (finding the binaries, the unprivileged user, `initdb`, the server's command
//! line) are shared with [`super::replicas`], which adds hot-standby replicas.
//!
//! With `lose-unfsynced` ([`LocalPostgres::start_lazy`]) the server keeps PostgreSQL's default
//! durability (`fsync=on`, `synchronous_commit=on`) and its data directory is faultline's FUSE
//! filesystem ([`crate::nemesis::lazyfs`]): `initdb` writes the new cluster into `n1/data`
//! on the real disk, which then becomes the backing directory `n1/data.disk` with the FUSE
//! mount at `n1/data` (as if `initdb` had synced, which it does without `--no-sync`; `initdb`
//! through FUSE would only be slower). The Unix socket goes to `n1`, beside the mount.

use crate::error::ServerError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::nemesis::lazyfs::{LazyMount, LazyMounts};
use crate::target::server::{log_tail, Server, ServerSpec};
use crate::target::{find_installed, free_port, RunError};

/// Where Debian's `postgresql-15` puts its binaries.
pub(crate) const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running local PostgreSQL server.
pub struct LocalPostgres {
    /// The server (`n1`).
    pub server: Arc<Server>,
    /// Its libpq connection string.
    pub conn: String,
    /// Where its data directory is.
    pub dirs: PgDirs,
    /// The FUSE mount at its data directory (`lose-unfsynced`).
    pub mounts: Option<LazyMounts>,
}

/// Where a run's PostgreSQL servers keep their data: under the run's directory when the
/// postgres user can reach it, else (a store under a mode-0700 home, run as root) in a fresh
/// directory under the system's temporary directory, removed when the servers stop. Logs stay
/// in the run's directory either way (faultline opens them, as root, for the server).
#[derive(Debug)]
pub struct PgDirs {
    /// The run's directory (logs).
    pub logs: PathBuf,
    /// Where the node directories (`n1/data`, …) go.
    pub root: PathBuf,
    /// Set when `root` is a temporary directory (removed by [`PgDirs::remove`]).
    pub moved: bool,
}

impl PgDirs {
    /// Chooses where the data goes for a run in `dir`, run as `user` when given.
    pub fn new(dir: &Path, user: Option<(u32, u32)>) -> Result<PgDirs, RunError> {
        // Absolute: the server changes into its data directory before it resolves `-k`, so a
        // relative path (the default `--store store`) would not find its socket directory.
        let logs = std::path::absolute(dir).map_err(|e| RunError::Store {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let Some((uid, gid)) = user else {
            return Ok(PgDirs {
                root: logs.clone(),
                logs,
                moved: false,
            });
        };
        use std::os::unix::fs::PermissionsExt;
        // The run's own directory is made traversable; the ones above are the user's.
        let _ = std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755));
        if reachable(&logs, uid, gid) {
            return Ok(PgDirs {
                root: logs.clone(),
                logs,
                moved: false,
            });
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let root = std::env::temp_dir().join(format!(
            "faultline-postgres-{}-{nanos:08x}",
            std::process::id()
        ));
        std::fs::create_dir(&root).map_err(|e| RunError::Store {
            path: root.clone(),
            reason: e.to_string(),
        })?;
        let _ = std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755));
        Ok(PgDirs {
            logs,
            root,
            moved: true,
        })
    }

    /// A line for run.log saying where the data is.
    pub fn note(&self) -> String {
        if self.moved {
            format!(
                "postgres data directories in {} (the postgres user cannot reach {}: a \
                 directory above it is not searchable by others); removed when the run ends",
                self.root.display(),
                self.logs.display()
            )
        } else {
            format!("postgres data directories in {}", self.root.display())
        }
    }

    /// Removes the temporary data directory (after the servers stopped).
    pub fn remove(&self) {
        if self.moved {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Whether `uid:gid` can search every directory from `/` down to `dir` (by the mode bits;
/// supplementary groups and ACLs are not consulted).
fn reachable(dir: &Path, uid: u32, gid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().all(|a| match std::fs::metadata(a) {
        Ok(m) => {
            let mode = m.mode();
            if m.uid() == uid {
                mode & 0o100 != 0
            } else if m.gid() == gid {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            }
        }
        Err(_) => false,
    })
}

/// The uid/gid to run PostgreSQL as: `None` when faultline is not root.
pub(crate) fn unprivileged() -> Result<Option<(u32, u32)>, ServerError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let lookup = || -> Option<(u32, u32)> {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"postgres") && f.len() > 3)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
    };
    if let Some(ids) = lookup() {
        return Ok(Some(ids));
    }
    let status = std::process::Command::new("useradd")
        .args(["--system", "--no-create-home", "postgres"])
        .status()
        .map_err(|e| ServerError::Command(format!("useradd postgres: {e}")))?;
    if !status.success() {
        return Err(ServerError::Command("useradd postgres failed".into()));
    }
    lookup()
        .map(Some)
        .ok_or_else(|| ServerError::Command("user postgres not found after useradd".into()))
}

/// Gives `path` to `uid:gid` (the postgres user).
pub(crate) fn chown_all(path: &Path, uid: u32, gid: u32) -> Result<(), ServerError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|source| ServerError::Chown {
        path: path.to_path_buf(),
        source,
    })
}

impl LocalPostgres {
    /// Initializes and starts the server under `dir`; waits up to 30 s for it to accept
    /// connections and creates the tables.
    pub async fn start(dir: &Path) -> Result<LocalPostgres, RunError> {
        Self::start_with(dir, false).await
    }

    /// Like [`LocalPostgres::start`], but with PostgreSQL's default durability (`fsync=on`)
    /// and the data directory on faultline's FUSE filesystem (module docs), for
    /// `lose-unfsynced`.
    pub async fn start_lazy(dir: &Path) -> Result<LocalPostgres, RunError> {
        Self::start_with(dir, true).await
    }

    async fn start_with(dir: &Path, lazy: bool) -> Result<LocalPostgres, RunError> {
        let user = unprivileged()?;
        let dirs = PgDirs::new(dir, user)?;
        let mut mount = None;
        let started = async {
            let (data, log) = initdb(&dirs, "n1", user).await?;
            let node = data.parent().unwrap_or(&dirs.root).to_path_buf();
            let port = free_port()?;
            let args = if lazy {
                let backing = node.join("data.disk");
                std::fs::rename(&data, &backing).map_err(|source| ServerError::Path {
                    path: backing.clone(),
                    source,
                })?;
                // The server runs as the postgres user when faultline is root: it must be
                // let into faultline's mount.
                let mounted = match user {
                    Some(_) => LazyMount::mount_shared(&data, &backing),
                    None => LazyMount::mount(&data, &backing),
                };
                mount = Some(mounted.map_err(|e| {
                    RunError::Start(format!("cannot mount the FUSE filesystem: {e}"))
                })?);
                server_args_with(&data, &node, port, true)
            } else {
                server_args(&data, port)
            };
            let server = Server::start(ServerSpec {
                name: "n1".into(),
                program: PathBuf::from(format!("{BIN}/postgres")),
                args,
                log: log.clone(),
                user,
                netns: None,
            })
            .await?;
            Ok::<_, RunError>((Arc::new(server), port, log))
        };
        let (server, port, log) = match started.await {
            Ok(s) => s,
            Err(e) => {
                drop(mount.take());
                dirs.remove();
                return Err(e);
            }
        };
        let conn = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
        let pg = LocalPostgres {
            server,
            conn,
            dirs,
            mounts: mount.map(|m| LazyMounts::new(vec![m])),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match super::txn::setup(&pg.conn).await {
                Ok(()) => return Ok(pg),
                Err(e) => {
                    if pg.server.exited() || tokio::time::Instant::now() > deadline {
                        pg.shutdown().await;
                        return Err(RunError::Start(format!(
                            "postgres did not start ({e}; log {}):\n{}",
                            log.display(),
                            log_tail(&log)
                        )));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server (unmounts its FUSE mount, and removes its data if it was outside the
    /// run's directory).
    pub async fn shutdown(&self) {
        if let Some(m) = &self.mounts {
            // Every process of the server out of the mount first (backends outlive a killed
            // postmaster for a moment).
            let _ = super::tree::kill_tree_and_wait(&self.server, Duration::from_secs(20)).await;
            self.server.stop().await;
            m.unmount_all();
        }
        self.server.stop().await;
        self.dirs.remove();
    }
}

/// Runs `initdb` for node `name` into `dir/<name>/data` (creating `dir/<name>.log` for the
/// server's output), as `user` when given; returns (data directory, log).
pub(crate) async fn initdb(
    dirs: &PgDirs,
    name: &str,
    user: Option<(u32, u32)>,
) -> Result<(PathBuf, PathBuf), RunError> {
    let initdb = find_installed(&format!("{BIN}/initdb"), "postgresql-15")?;
    let (_, data, log) = node_dirs(dirs, name, user)?;
    let mut cmd = std::process::Command::new(&initdb);
    cmd.args([
        "-D",
        &data.to_string_lossy(),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        // The server runs with fsync=off anyway; syncing the new cluster only costs seconds.
        "--no-sync",
    ])
    .env("LC_ALL", "C");
    let out = run_as(cmd, user, "initdb").await?;
    if !out.status.success() {
        return Err(RunError::Start(format!(
            "initdb failed (is {} reachable by the postgres user?):\n{}",
            data.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok((data, log))
}

/// Runs a PostgreSQL tool (`initdb`, `pg_basebackup`) to completion off the async threads, as
/// `user` (uid, gid) when given; `what` names it in the error if it cannot be started.
pub(crate) async fn run_as(
    mut cmd: std::process::Command,
    user: Option<(u32, u32)>,
    what: &str,
) -> Result<std::process::Output, ServerError> {
    if let Some((uid, gid)) = user {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| ServerError::Command(e.to_string()))?
        .map_err(|e| ServerError::Command(format!("{what}: {e}")))
}

/// Creates `ROOT/<name>` (see [`PgDirs`]) and an empty `LOGS/<name>.log`, both owned by
/// `user` when given; returns (node directory, its `data` subdirectory, log).
pub(crate) fn node_dirs(
    dirs: &PgDirs,
    name: &str,
    user: Option<(u32, u32)>,
) -> Result<(PathBuf, PathBuf, PathBuf), ServerError> {
    let node = dirs.root.join(name);
    let data = node.join("data");
    std::fs::create_dir_all(&node).map_err(|source| ServerError::Path {
        path: node.clone(),
        source,
    })?;
    let log = dirs.logs.join(format!("{name}.log"));
    std::fs::write(&log, b"").map_err(|source| ServerError::Path {
        path: log.clone(),
        source,
    })?;
    if let Some((uid, gid)) = user {
        chown_all(&node, uid, gid)?;
        chown_all(&log, uid, gid)?;
    }
    Ok((node, data, log))
}

/// The `postgres` command line for a server on `data` listening on `127.0.0.1:port`
/// (socket directory `data`, fsync off, 200 connections, 50 ms deadlock timeout).
pub(crate) fn server_args(data: &Path, port: u16) -> Vec<String> {
    server_args_with(data, data, port, false)
}

/// The `postgres` command line for a server on `data` listening on `127.0.0.1:port` and in
/// `sockets`, `fsync` on (PostgreSQL's default) when `durable`, else off.
pub(crate) fn server_args_with(
    data: &Path,
    sockets: &Path,
    port: u16,
    durable: bool,
) -> Vec<String> {
    vec![
        "-D".into(),
        data.to_string_lossy().into_owned(),
        "-p".into(),
        port.to_string(),
        "-k".into(),
        sockets.to_string_lossy().into_owned(),
        "-c".into(),
        "listen_addresses=127.0.0.1".into(),
        "-c".into(),
        format!("fsync={}", if durable { "on" } else { "off" }),
        "-c".into(),
        "max_connections=200".into(),
        "-c".into(),
        "deadlock_timeout=50ms".into(),
    ]
}
