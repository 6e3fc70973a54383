//! A cluster of node processes on loopback whose peer links all pass through faultline.
//!
//! Part of the "run" step of run → check → report. [`Cluster::start`] spawns every node (by
//! default the embedded demo store, `faultline serve-demo-node`) with its peers pointed at the
//! link proxies of a [`LinkNet`], so the partition nemesis can cut links; kill, restart, pause
//! and resume act on the real processes with signals. [`Cluster::heal_all`] undoes every fault,
//! from any state. Nodes never outlive faultline: `Drop` kills them, and each node gets
//! `PR_SET_PDEATHSIG(SIGKILL)` so even a SIGKILLed faultline takes its nodes along.
//!
//! Node ids are 1-based (`n1`, `n2`, …) in every method; vectors are indexed by `id - 1`.

mod faults;
pub(crate) mod health;
pub use health::HealthError;
pub(crate) mod process;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::process::Child;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::net::proxy::{LinkNet, ProxyError};

/// How long a started or restarted cluster has to become healthy.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of one `/health` request while polling.
const POLL_REQUEST: Duration = Duration::from_secs(1);
/// Pause between polls.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// What to start: `nodes` copies of `program args… --id i --http … --peer-listen …
/// --peer j=… … --data-dir dir/ni`.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Number of nodes.
    pub nodes: usize,
    /// The node program (usually faultline's own executable).
    pub program: PathBuf,
    /// Arguments before the per-node ones, e.g. `["serve-demo-node", "--mode", "sync"]`.
    pub args: Vec<String>,
    /// Directory for node data (`dir/n1`, …) and logs (`dir/n1.log`, …).
    pub dir: PathBuf,
    /// Node clocks under libfaketime, each with its own timestamp file (clock faults); `None`:
    /// the nodes run on the true clock.
    pub clock: Option<Arc<crate::nemesis::clock::ClockFiles>>,
    /// Mount faultline's FUSE filesystem ([`crate::nemesis::lazyfs`]) at every node's data
    /// directory (`dir/n1`, over `dir/n1.disk`), for the `lose-unfsynced` fault.
    pub lazyfs: bool,
}

/// Who cannot hear whom when the nodes should all talk again: one line per problem.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct NotConnected(pub Vec<String>);

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A cluster needs at least one node.
    #[error("a cluster needs at least one node")]
    NoNodes,
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The node program could not be started.
    #[error("cannot start n{node} ({program}): {source}")]
    Spawn {
        /// The node.
        node: usize,
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The node printed no READY line in time.
    #[error("n{node} printed no READY line within 10 s (log: {})", log.display())]
    NotReady {
        /// The node.
        node: usize,
        /// Its log file.
        log: PathBuf,
    },
    /// The node exited before printing READY.
    #[error("n{node} exited before READY ({status}; log: {}): {tail}", log.display())]
    Exited {
        /// The node.
        node: usize,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// The node printed a READY line without both addresses.
    #[error(
        "n{node} printed a malformed READY line {line:?} (expected READY http=ADDR peer=ADDR)"
    )]
    BadReady {
        /// The node.
        node: usize,
        /// The line.
        line: String,
    },
    /// The cluster did not become healthy in time.
    #[error("cluster not healthy within 10 s: {0}")]
    Unhealthy(String),
    /// No node has this id.
    #[error("no node n{0}")]
    NoSuchNode(usize),
    /// The node is not running (killed), so it cannot be paused.
    #[error("n{0} is not running")]
    NotRunning(usize),
    /// Sending a signal failed.
    #[error("cannot signal n{node}: {source}")]
    Signal {
        /// The node.
        node: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// The cluster was shut down; no more faults.
    #[error("the cluster is shut down")]
    Closed,
    /// A link-proxy request was invalid.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The FUSE filesystem could not be mounted.
    #[error(transparent)]
    LazyFs(#[from] crate::nemesis::lazyfs::LazyFsError),
    /// `lose-unfsynced` on a node without faultline's FUSE filesystem (a bug).
    #[error("n{0} has no FUSE filesystem under its data directory, so nothing can be lost")]
    NotLazy(usize),
}

/// What [`Cluster::heal_all`] undid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Healed {
    /// The pairs that were blocked and are now healed.
    pub partition: Vec<(usize, usize)>,
    /// Nodes that were paused and got SIGCONT.
    pub resumed: Vec<usize>,
    /// Nodes that were down (killed or crashed) and were restarted.
    pub restarted: Vec<usize>,
    /// Nodes that could not be restarted, with why.
    pub errors: Vec<String>,
}

/// The process state of one node.
#[derive(Default)]
struct Proc {
    /// The running (or stopped) process; `None` once killed.
    child: Option<Child>,
    /// SIGSTOPped and not yet SIGCONTed.
    paused: bool,
}

/// One node: fixed addresses, a lock serializing its lifecycle operations, its process.
struct Node {
    /// 1-based id.
    id: usize,
    /// http-kv address (fixed across restarts).
    http: SocketAddr,
    /// Peer address (fixed across restarts).
    peer: SocketAddr,
    /// Held by kill/restart/pause/resume/heal for this node, one at a time.
    op: tokio::sync::Mutex<()>,
    /// The process; never held across an await.
    proc: Mutex<Proc>,
}

impl Node {
    fn proc(&self) -> MutexGuard<'_, Proc> {
        self.proc.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running cluster; share it as `Arc<Cluster>`.
pub struct Cluster {
    spec: ClusterSpec,
    net: LinkNet,
    nodes: Vec<Node>,
    client: reqwest::Client,
    closed: AtomicBool,
    /// The leader the nodes named when the cluster became healthy (sync mode), if any.
    first_leader: Mutex<Option<usize>>,
    /// With [`ClusterSpec::lazyfs`]: each node's FUSE mount, `n1` first (taken and unmounted
    /// by shutdown; dropped after the nodes are killed by `Drop`).
    mounts: Mutex<Vec<crate::nemesis::lazyfs::LazyMount>>,
}

impl Cluster {
    /// Starts the cluster: binds the link proxies, spawns every node (any free ports), points
    /// the proxies at the nodes' peer addresses, and waits until every node answers `/health`
    /// and, in sync mode, some node names a leader. On error every node started is killed.
    pub async fn start(spec: ClusterSpec) -> Result<Arc<Cluster>, ClusterError> {
        if spec.nodes == 0 {
            return Err(ClusterError::NoNodes);
        }
        std::fs::create_dir_all(&spec.dir).map_err(|source| ClusterError::Io {
            what: format!("cannot create {}", spec.dir.display()),
            source,
        })?;
        let net = LinkNet::bind(spec.nodes)
            .await
            .map_err(|source| ClusterError::Io {
                what: "cannot bind the link proxies".to_string(),
                source,
            })?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| ClusterError::Io {
                what: "cannot build the HTTP client".to_string(),
                source: std::io::Error::other(e),
            })?;
        let mut mounts = Vec::new();
        if spec.lazyfs {
            for id in 1..=spec.nodes {
                mounts.push(crate::nemesis::lazyfs::LazyMount::mount(
                    &process::data_dir(&spec, id),
                    &process::backing_dir(&spec, id),
                )?);
            }
        }
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let deadline = Instant::now() + process::READY_TIMEOUT;
        let mut nodes = Vec::with_capacity(spec.nodes);
        for id in 1..=spec.nodes {
            let peers = Self::peers_of(&net, id);
            // An error drops the nodes spawned so far, which kills them (kill_on_drop).
            let spawned = process::spawn_node(&spec, id, any, any, &peers, deadline).await?;
            net.set_upstream(id, spawned.peer)?;
            nodes.push(Node {
                id,
                http: spawned.http,
                peer: spawned.peer,
                op: tokio::sync::Mutex::new(()),
                proc: Mutex::new(Proc {
                    child: Some(spawned.child),
                    paused: false,
                }),
            });
        }
        let cluster = Arc::new(Cluster {
            spec,
            net,
            nodes,
            client,
            closed: AtomicBool::new(false),
            first_leader: Mutex::new(None),
            mounts: Mutex::new(mounts),
        });
        let want_leader = sync_mode(&cluster.spec.args);
        cluster.wait_healthy(None, want_leader).await?;
        let leader = cluster.leader(POLL_REQUEST).await;
        *cluster
            .first_leader
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = leader;
        Ok(cluster)
    }

    /// The leader the nodes named right after start (id from 1), if any.
    pub fn leader_at_start(&self) -> Option<usize> {
        *self.first_leader.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Every node's http-kv address, `n1` first.
    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.http).collect()
    }

    /// Every node's peer address (where the proxies forward to), `n1` first.
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.peer).collect()
    }

    /// The address of every link proxy (`i→j` for every ordered pair), for logs and for
    /// checking that nothing listens there after shutdown.
    pub fn proxy_addrs(&self) -> Vec<SocketAddr> {
        let n = self.net.nodes();
        (1..=n)
            .flat_map(|i| (1..=n).filter_map(move |j| self.net.addr(i, j)))
            .collect()
    }

    /// Every node's name: `n1`, `n2`, ….
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("n{}", n.id)).collect()
    }

    /// The log file of node `id` (its stderr, and stdout after READY).
    pub fn log_path(&self, id: usize) -> PathBuf {
        process::log_path(&self.spec, id)
    }

    /// The process id of node `id`, `None` while it is killed (or no such node).
    pub fn pid(&self, id: usize) -> Option<u32> {
        let node = self.node(id).ok()?;
        let proc = node.proc();
        proc.child.as_ref().and_then(Child::id)
    }

    /// Whether node `id` is paused (SIGSTOPped).
    pub fn is_paused(&self, id: usize) -> bool {
        self.node(id).map(|n| n.proc().paused).unwrap_or(false)
    }

    /// The currently blocked pairs.
    pub fn blocked(&self) -> Vec<(usize, usize)> {
        self.net.blocked()
    }

    /// Node `id`'s `/health` answer within `timeout`, or why there is none.
    pub async fn health(&self, id: usize, timeout: Duration) -> Result<Value, HealthError> {
        let node = self
            .node(id)
            .map_err(|_| HealthError::NoSuchNode(id))?;
        health::get(&self.client, node.http, timeout).await
    }

    /// Every node's `/health` answer (asked concurrently), `n1` first.
    pub async fn health_all(&self, timeout: Duration) -> Vec<Result<Value, HealthError>> {
        let mut asks = JoinSet::new();
        for (k, node) in self.nodes.iter().enumerate() {
            let (client, addr) = (self.client.clone(), node.http);
            asks.spawn(async move { (k, health::get(&client, addr, timeout).await) });
        }
        let mut answers = vec![Err(HealthError::NoAnswer); self.nodes.len()];
        while let Some(done) = asks.join_next().await {
            if let Ok((k, answer)) = done {
                answers[k] = answer;
            }
        }
        answers
    }

    /// The leader most nodes currently name in `/health`, if any.
    pub async fn leader(&self, timeout: Duration) -> Option<usize> {
        health::leader(&self.health_all(timeout).await)
    }

    /// Polls every node's `/health` until every node heard from every peer within the last
    /// 500 ms (the nodes really talk again); otherwise, at `timeout`, says who cannot hear whom.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), NotConnected> {
        let deadline = Instant::now() + timeout;
        loop {
            let answers = self.health_all(POLL_REQUEST).await;
            let problems = health::deafness(&answers);
            if problems.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(NotConnected(problems));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Node `id`, or an error naming it.
    fn node(&self, id: usize) -> Result<&Node, ClusterError> {
        id.checked_sub(1)
            .and_then(|k| self.nodes.get(k))
            .ok_or(ClusterError::NoSuchNode(id))
    }

    /// The `--peer` list of node `id`: every other node through its link proxy.
    fn peers_of(net: &LinkNet, id: usize) -> Vec<(usize, SocketAddr)> {
        (1..=net.nodes())
            .filter(|&j| j != id)
            .filter_map(|j| net.addr(id, j).map(|addr| (j, addr)))
            .collect()
    }

    /// Polls `/health` of one node (`Some`) or all, within [`HEALTHY_TIMEOUT`], until they
    /// answer and, if `want_leader`, some node names a leader.
    async fn wait_healthy(
        &self,
        only: Option<usize>,
        want_leader: bool,
    ) -> Result<(), ClusterError> {
        let deadline = Instant::now() + HEALTHY_TIMEOUT;
        loop {
            let answers = match only {
                Some(id) => vec![self.health(id, POLL_REQUEST).await],
                None => self.health_all(POLL_REQUEST).await,
            };
            let silent: Vec<String> = answers
                .iter()
                .enumerate()
                .filter_map(|(k, a)| a.as_ref().err().map(|why| (k, why)))
                .map(|(k, why)| format!("n{} /health {why}", only.unwrap_or(k + 1)))
                .collect();
            let problem = if !silent.is_empty() {
                Some(silent.join("; "))
            } else if want_leader && health::leader(&answers).is_none() {
                Some("no node reports a leader".to_string())
            } else {
                None
            };
            match problem {
                None => return Ok(()),
                Some(why) if Instant::now() >= deadline => {
                    return Err(ClusterError::Unhealthy(why))
                }
                Some(_) => tokio::time::sleep(POLL_EVERY).await,
            }
        }
    }
}

/// Whether the node arguments select sync mode (`--mode sync` or `--mode lease`, or the demo
/// store without `--mode`, whose default is sync): then a started cluster must have elected a
/// leader.
fn sync_mode(args: &[String]) -> bool {
    let mut mode = None;
    for (k, arg) in args.iter().enumerate() {
        if arg == "--mode" {
            mode = args.get(k + 1).map(String::as_str);
        } else if let Some(value) = arg.strip_prefix("--mode=") {
            mode = Some(value);
        }
    }
    match mode {
        Some(mode) => mode == "sync" || mode == "lease",
        None => args.iter().any(|a| a == "serve-demo-node"),
    }
}
