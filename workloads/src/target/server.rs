//! One real database server process started by faultline: its command line (to restart it),
//! its log, and the signals of the kill and pause nemeses; and [`ServerFaults`], the fault
//! primitives over such servers that etcd, Redis and a single PostgreSQL share (file
//! corruption where the target names its files: [`ServerFiles`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::{Child, Command};

use checkers::Rng;

use crate::error::{NotBackHow, ServerError};
use crate::nemesis::{
    Aim, CorruptFile, CorruptKind, Cut, Fault, Grudge, NemesisError, NotHealed, PacketSpec,
    Primitives,
};
use crate::net::netns::{Cuts, Packets};
use crate::target::demo::cluster::process::spawn_tied;

/// How to start a server (kept so that `restart` starts it identically).
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The node's name in histories and logs (`n1`, …).
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Where stdout and stderr go (appended).
    pub log: PathBuf,
    /// Run as this uid/gid (PostgreSQL refuses to run as root); `None`: as faultline.
    pub user: Option<(u32, u32)>,
    /// Run inside this network namespace ([`crate::net::netns`]); `None`: the host's.
    pub netns: Option<Arc<std::os::fd::OwnedFd>>,
}

/// A started server: the process, or nothing while killed.
#[derive(Debug)]
pub struct Server {
    spec: ServerSpec,
    child: Mutex<Option<Child>>,
    paused: Mutex<bool>,
}

impl Server {
    /// Starts the server described by `spec`; it dies with faultline (PR_SET_PDEATHSIG).
    pub async fn start(spec: ServerSpec) -> Result<Server, ServerError> {
        let child = spawn(&spec).await?;
        Ok(Server {
            spec,
            child: Mutex::new(Some(child)),
            paused: Mutex::new(false),
        })
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.spec.log
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().ok()?.as_ref().and_then(Child::id)
    }

    /// Whether the process has exited on its own (crashed or refused to start).
    pub fn exited(&self) -> bool {
        match self.child.lock() {
            Ok(mut c) => match c.as_mut() {
                Some(child) => !matches!(child.try_wait(), Ok(None)),
                None => false,
            },
            Err(_) => true,
        }
    }

    /// Polls `probe` every 100 ms until it answers true; fails, naming the server as `what`
    /// and quoting the end of its log, if the process exits or `deadline` passes first.
    pub async fn wait_until<F, Fut>(
        &self,
        what: &str,
        deadline: tokio::time::Instant,
        mut probe: F,
    ) -> Result<(), ServerError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        loop {
            if probe().await {
                return Ok(());
            }
            if self.exited() || tokio::time::Instant::now() > deadline {
                return Err(ServerError::NotReady {
                    what: what.to_string(),
                    name: self.name().to_string(),
                    log: self.log().to_path_buf(),
                    tail: log_tail(self.log()),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL; the process is gone until [`Server::restart`].
    pub async fn kill(&self) -> Result<(), ServerError> {
        let child = self.child.lock().map_err(|_| ServerError::Poisoned)?.take();
        match child {
            Some(mut c) => {
                c.kill().await.map_err(|source| ServerError::Signal {
                    what: "kill",
                    name: self.spec.name.clone(),
                    source,
                })?;
                *self.paused.lock().map_err(|_| ServerError::Poisoned)? = false;
                Ok(())
            }
            None => Err(ServerError::NotRunning(self.spec.name.clone())),
        }
    }

    /// Starts the server again with the same command line and data directory. A running
    /// server is left alone; one whose process exited on its own (it refused to start) is
    /// started again.
    pub async fn restart(&self) -> Result<(), ServerError> {
        if self
            .child
            .lock()
            .map_err(|_| ServerError::Poisoned)?
            .is_some()
            && !self.exited()
        {
            return Ok(());
        }
        let child = spawn(&self.spec).await?;
        *self.child.lock().map_err(|_| ServerError::Poisoned)? = Some(child);
        Ok(())
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) to the server and every process it started.
    pub fn pause(&self, stop: bool) -> Result<(), ServerError> {
        let pid = self
            .pid()
            .ok_or_else(|| ServerError::NotRunning(self.spec.name.clone()))?;
        let sig = if stop { libc::SIGSTOP } else { libc::SIGCONT };
        // Servers are started in a process group of their own (cluster::process): signal the
        // whole group, so that a server made of several processes (PostgreSQL's postmaster
        // and its backends, a server started through runuser) stops as a whole — stopping
        // only the parent would leave the backends answering queries.
        let pid = pid as libc::pid_t;
        // SAFETY: getpgid(2) and kill(2) on a child we own, with a valid signal number.
        let target = if unsafe { libc::getpgid(pid) } == pid {
            -pid
        } else {
            pid
        };
        // SAFETY: as above; a negative pid names the child's own process group.
        if unsafe { libc::kill(target, sig) } != 0 {
            return Err(ServerError::Signal {
                what: "signal",
                name: self.spec.name.clone(),
                source: std::io::Error::last_os_error(),
            });
        }
        *self.paused.lock().map_err(|_| ServerError::Poisoned)? = stop;
        Ok(())
    }

    /// Whether the server is stopped by SIGSTOP.
    pub fn is_paused(&self) -> bool {
        self.paused.lock().map(|p| *p).unwrap_or(false)
    }

    /// Stops the server for good (resumes it first if paused, then SIGKILL).
    pub async fn stop(&self) {
        if self.is_paused() {
            let _ = self.pause(false);
        }
        let child = self.child.lock().ok().and_then(|mut c| c.take());
        if let Some(mut c) = child {
            let _ = c.kill().await;
        }
    }
}

async fn spawn(spec: &ServerSpec) -> Result<Child, ServerError> {
    let open_failed = |source| ServerError::File {
        what: "open",
        path: spec.log.clone(),
        source,
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(open_failed)?;
    let log2 = log.try_clone().map_err(open_failed)?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .kill_on_drop(true);
    if let Some((uid, gid)) = spec.user {
        cmd.uid(uid).gid(gid);
    }
    if let Some(ns) = &spec.netns {
        let fd = crate::net::netns::dup(ns).map_err(ServerError::Netns)?;
        // SAFETY: the closure only calls setns(2), async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(move || crate::net::netns::setns(&fd));
        }
    }
    spawn_tied(cmd).await.map_err(|source| ServerError::Spawn {
        name: spec.name.clone(),
        program: spec.program.clone(),
        source,
    })
}

/// The last lines of a log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// The kill/pause primitives over servers faultline started (etcd, Redis, a single
/// PostgreSQL), and — for etcd in network namespaces — `partition`: one member isolated from
/// the others ([`Cuts`]), and `packet`: delay and loss on the member links ([`Packets`]).
/// Each fault lands on a node drawn uniformly from the seed.
pub struct ServerFaults {
    target: &'static str,
    servers: Vec<Arc<Server>>,
    salt: u64,
    /// Member links that `partition` cuts (etcd in network namespaces).
    cuts: Option<Cuts>,
    /// Packet faults on the member links (etcd in network namespaces).
    packets: Option<Packets>,
    /// The FUSE mounts under the servers' data directories that `lose-unfsynced` makes forget
    /// (Redis with `--redis-appendfsync`).
    mounts: Option<crate::nemesis::lazyfs::LazyMounts>,
    /// The files `corrupt` damages (Redis with `--redis-appendfsync`, etcd).
    files: Option<ServerFiles>,
    /// The servers whose files were corrupted and that have not served since: their restart
    /// waits until they serve (or exit) and says what their logs said. The value: what the
    /// log said when the last restart failed (`None`: not restarted yet).
    corrupted: BTreeMap<usize, Option<String>>,
    /// What servers that came back on corrupted files said of them (`n1: …`), for the heal's
    /// message.
    recovered: Vec<String>,
}

/// Asks whether server `i` (index from 0) serves: Redis answers `INFO`, an etcd member
/// `/health`.
pub type ReadyProbe =
    Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// What file corruption (`--nemesis corrupt`) needs of servers faultline started: the files
/// their target names, where each server keeps them, how to tell that a restarted server
/// serves again, and which lines of its log tell what it made of its damaged files.
#[derive(Clone)]
pub struct ServerFiles {
    /// The files that matter (the first is the default of `--nemesis corrupt`).
    pub files: &'static [CorruptFile],
    /// Each server's data directory, in the servers' order.
    pub dirs: Vec<PathBuf>,
    /// Whether a server serves again.
    pub ready: ReadyProbe,
    /// Words of the log lines in which the server speaks of its files (`Truncating`,
    /// `repair`, `panic:`): those lines are quoted when it comes back, or does not.
    pub tells: &'static [&'static str],
}

/// How long a restart after a corruption waits for the server to serve.
const BACK_LIMIT: Duration = Duration::from_secs(20);

impl ServerFaults {
    /// Primitives over `servers` of `target`, the seed salted with `salt`.
    pub fn new(target: &'static str, servers: Vec<Arc<Server>>, salt: u64) -> ServerFaults {
        ServerFaults {
            target,
            servers,
            salt,
            cuts: None,
            packets: None,
            mounts: None,
            files: None,
            corrupted: BTreeMap::new(),
            recovered: Vec::new(),
        }
    }

    /// Enables `corrupt` over these files.
    pub fn with_files(mut self, files: ServerFiles) -> ServerFaults {
        self.files = Some(files);
        self
    }

    /// Restarts server `node`, whose files were corrupted, and waits until it serves or exits;
    /// quotes what its log said of its files since the restart.
    async fn restart_corrupted(&mut self, node: usize) -> Result<(), ServerError> {
        let server = self.servers[node].clone();
        let Some(files) = &self.files else {
            return server.restart().await;
        };
        let from = std::fs::metadata(server.log()).map_or(0, |m| m.len());
        server.restart().await?;
        let ready = files.ready.clone();
        let deadline = tokio::time::Instant::now() + BACK_LIMIT;
        let waited = server.wait_until("server", deadline, || ready(node)).await;
        let said = said_since(server.log(), from, files.tells);
        match waited {
            Ok(()) => {
                self.corrupted.remove(&node);
                if !said.is_empty() {
                    self.recovered.push(format!(
                        "{} came back saying: {}",
                        server.name(),
                        said.join(" | ")
                    ));
                }
                Ok(())
            }
            Err(_) => {
                let said = if said.is_empty() {
                    log_tail(server.log()).replace('\n', " | ")
                } else {
                    said.join(" | ")
                };
                self.corrupted.insert(node, Some(said.clone()));
                Err(ServerError::NotBack {
                    name: server.name().to_string(),
                    how: if server.exited() {
                        NotBackHow::Exited
                    } else {
                        NotBackHow::NotServing
                    },
                    log: server.log().to_path_buf(),
                    said,
                })
            }
        }
    }

    /// Enables `lose-unfsynced` over these mounts (one per server, in order).
    pub fn with_mounts(mut self, mounts: crate::nemesis::lazyfs::LazyMounts) -> ServerFaults {
        self.mounts = Some(mounts);
        self
    }

    /// Enables `packet`: delay and lose packets on the links in `packets`.
    pub fn with_packets(mut self, packets: Packets) -> ServerFaults {
        self.packets = Some(packets);
        self
    }

    /// Enables `partition`: isolate one node by cutting its links in `cuts`.
    pub fn with_cuts(mut self, cuts: Cuts) -> ServerFaults {
        self.cuts = Some(cuts);
        self
    }
}

/// The lines a server wrote to `log` after byte `from` that contain one of `tells`, each from
/// its first tell on (without the log's time stamps), each once, the last 6, each cut to 240
/// characters.
fn said_since(log: &Path, from: u64, tells: &[&str]) -> Vec<String> {
    let text = std::fs::read(log).unwrap_or_default();
    let start = (from as usize).min(text.len());
    let mut said: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&text[start..]).lines() {
        let Some(at) = tells.iter().filter_map(|t| line.find(t)).min() else {
            continue;
        };
        let line: String = line[at..].trim().chars().take(240).collect();
        if !said.contains(&line) {
            said.push(line);
        }
    }
    // The last ones: what the server ended on (a refusal comes after what it tried).
    said.split_off(said.len().saturating_sub(6))
}

/// A server's node name as a history value.
pub fn name_value(server: &Server) -> serde_json::Value {
    serde_json::json!(server.name())
}

/// Fails, naming the first server that is not running (exited, paused or killed).
pub fn check_running(servers: &[Arc<Server>]) -> Result<(), ServerError> {
    match servers
        .iter()
        .find(|s| s.exited() || s.is_paused() || s.pid().is_none())
    {
        Some(s) => Err(ServerError::Down {
            name: s.name().to_string(),
            log: s.log().to_path_buf(),
        }),
        None => Ok(()),
    }
}

#[async_trait::async_trait]
impl Primitives for ServerFaults {
    fn target(&self) -> &'static str {
        self.target
    }
    fn salt(&self) -> u64 {
        self.salt
    }
    fn nodes(&self) -> usize {
        self.servers.len()
    }
    fn node_name(&self, node: usize) -> String {
        self.servers[node].name().to_string()
    }
    fn aim(&mut self, fault: Fault, rng: &mut Rng) -> Option<Aim> {
        if self.servers.is_empty() {
            return None;
        }
        let node = rng.below(self.servers.len() as u64) as usize;
        Some(match fault {
            Fault::Partition => {
                let name = self.servers[node].name();
                Aim::Cut(Box::new(Cut {
                    grudge: Grudge::isolate(node, self.servers.len()),
                    value: name_value(&self.servers[node]),
                    stop_value: name_value(&self.servers[node]),
                    summary: format!("isolate {name}"),
                    stop_summary: format!("stop-partition {name}"),
                }))
            }
            Fault::Kill | Fault::Pause => Aim::Node(node),
            // Refused before the run where the target names no files
            // (`NemesisSupport::corrupt_files`).
            Fault::Corrupt if self.files.is_some() => Aim::Node(node),
            // Refused by `TargetKind::plan`: only the demo's nodes run under libfaketime.
            Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew => return None,
            // Refused before the run.
            Fault::Packet | Fault::Corrupt => return None,
            // Aimed by the schedule (at the nodes of a target set).
            Fault::LoseUnfsynced => return None,
        })
    }
    async fn kill(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(self.servers[node].kill().await?)
    }
    async fn lose_unfsynced(&mut self, nodes: &[usize]) -> Result<serde_json::Value, NemesisError> {
        let Some(mounts) = self.mounts.clone() else {
            return Err(self.unsupported("lose unfsynced writes"));
        };
        let mut lost = serde_json::Map::new();
        for &i in nodes {
            // The whole process tree (PostgreSQL's backends, WAL writer, checkpointer), and
            // only once every process is gone: a write that came after the loss would leave a
            // disk no crash leaves.
            let killed = crate::target::postgres::tree::kill_tree_and_wait(
                &self.servers[i],
                std::time::Duration::from_secs(20),
            );
            match killed.await {
                Ok(()) | Err(ServerError::NotRunning(_)) => {}
                Err(e) => return Err(e.into()),
            }
            let what = mounts
                .lose(i)
                .ok_or_else(|| self.unsupported("lose unfsynced writes"))?;
            lost.insert(self.servers[i].name().to_string(), what.json());
        }
        Ok(serde_json::Value::Object(lost))
    }
    fn corrupt_files(&self) -> Vec<CorruptFile> {
        self.files
            .as_ref()
            .map(|f| f.files.to_vec())
            .unwrap_or_default()
    }
    async fn corrupt(
        &mut self,
        node: usize,
        file: &str,
        kind: CorruptKind,
        seed: u64,
    ) -> Result<serde_json::Value, NemesisError> {
        let Some(files) = &self.files else {
            return Err(self.unsupported("corrupt a node's files"));
        };
        let Some(file) = crate::nemesis::corrupt::find(files.files, file).copied() else {
            return Err(self.unsupported("corrupt a file it does not name"));
        };
        let dir = files.dirs[node].clone();
        // The whole process tree (a Redis child rewriting the AOF), and only once every
        // process is gone: nothing may write the file after it is damaged.
        let killed = crate::target::postgres::tree::kill_tree_and_wait(
            &self.servers[node],
            Duration::from_secs(20),
        );
        match killed.await {
            // A server already down (it refused to start after an earlier corruption).
            Ok(()) | Err(ServerError::NotRunning(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.corrupted.entry(node).or_insert(None);
        Ok(crate::nemesis::corrupt::corrupt_in(
            &dir, &file, kind, seed,
        )?)
    }
    async fn restart(&mut self, node: usize) -> Result<(), NemesisError> {
        if self.corrupted.contains_key(&node) {
            return Ok(self.restart_corrupted(node).await?);
        }
        Ok(self.servers[node].restart().await?)
    }
    async fn pause(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(self.servers[node].pause(true)?)
    }
    async fn resume(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(self.servers[node].pause(false)?)
    }
    async fn cut(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        let cuts = self
            .cuts
            .as_ref()
            .ok_or_else(|| self.unsupported("cut links without network namespaces"))?;
        cuts.cut(&grudge.pairs());
        Ok(())
    }
    async fn heal(&mut self) {
        if let Some(c) = &self.cuts {
            c.heal();
        }
    }
    async fn packet(&mut self, nodes: &[usize], spec: &PacketSpec) -> Result<(), NemesisError> {
        let packets = self
            .packets
            .as_ref()
            .ok_or_else(|| self.unsupported("disturb packets without network namespaces"))?;
        Ok(packets.set(nodes, *spec).await?)
    }
    async fn heal_packets(&mut self) {
        if let Some(p) = &self.packets {
            // What failed to heal is found and named by `check_healed`.
            let _ = p.heal().await;
        }
    }
    async fn check_healed(&mut self) -> Result<String, NotHealed> {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        // A server that did not come back on its corrupted files: say so, with its words.
        // (Its last restart failed; a restart that succeeds forgets the failure.)
        for (&i, said) in &self.corrupted {
            let Some(said) = said else { continue };
            let server = &self.servers[i];
            let how = if server.exited() || server.pid().is_none() {
                NotBackHow::Exited
            } else {
                NotBackHow::NotServing
            };
            return Err(NotHealed::from(ServerError::NotBack {
                name: server.name().to_string(),
                how,
                log: server.log().to_path_buf(),
                said: said.clone(),
            }));
        }
        check_running(&self.servers).map_err(NotHealed::from)?;
        if let Some(p) = &self.packets {
            p.check()
                .await
                .map_err(|e| NotHealed::Packets(Arc::new(e)))?;
        }
        let mut msg = String::from("every server runs again");
        if let Some(first) = self.recovered.first() {
            // The first, and how many more (a long run restarts on damaged files many times).
            let more = match self.recovered.len() - 1 {
                0 => String::new(),
                n => format!("; {n} more restarts on corrupted files"),
            };
            msg.push_str(&format!(" (after file corruption: {first}{more})"));
        }
        if self.packets.is_some() {
            msg.push_str(
                "; no packet fault left (relays pass through, no iptables rule in the members' \
                 namespaces)",
            );
        }
        Ok(msg)
    }
}

/// The seed's salt of [`ServerFaults`] (so runs draw the nodes they always drew).
pub const SERVER_SALT: u64 = 0x5EED_FA17;

/// The log files of `servers`.
pub fn logs<'a>(servers: impl Iterator<Item = &'a Arc<Server>>) -> Vec<PathBuf> {
    servers.map(|s| s.log().to_path_buf()).collect()
}
