//! `faultline maelstrom test`: run Maelstrom node programs unchanged ("run" step of run →
//! check → report; the binary's `src/maelstrom.rs` checks and reports).
//!
//! A sibling of [`crate::target`] rather than one more `Target`: a target hands the shared
//! runner one request/response client per worker against node indices, and the runner's
//! workloads are faultline's closed [`crate::generator::WorkloadKind`]. A Maelstrom cluster
//! instead is a message network in which clients, node programs and services all talk
//! through one router, with Maelstrom's own workloads, a topology message after `init`, and
//! final reads on every node. What is shared is reused: the history [`Recorder`], the run log
//! ([`Progress`]), the typed nemesis ([`Schedule`] over this module's [`Primitives`]) and the
//! checkers registry (each [`Workload`] names its checker).
//!
//! - [`proto`]: the envelope, error codes, protocol errors naming node and line.
//! - [`net`]: the router (latency, partitions incl. one-way, statistics).
//! - [`process`]: node programs (stdin/stdout/stderr, kill, pause).
//! - [`services`]: lin-kv, seq-kv, lww-kv, lin-tso.
//! - [`workload`]: the workloads' RPCs, outcomes and checkers; `--topology`.

pub mod net;
pub mod process;
pub mod proto;
pub mod services;
pub mod workload;

pub use net::{LatencyDist, NetLogEvents};
pub use process::Program;
pub use proto::{ErrorCode, ProtocolError};
pub use workload::{Topology, Workload};

use crate::client::{Op, Outcome};
use crate::nemesis::{
    Aim, Cut, Fault, Grudge, NemesisError, NotHealed, Partition, PartitionKind, Primitives,
    Schedule,
};
use crate::recorder::Recorder;
use crate::runner::{Faults, Progress};
use checkers::Rng;
use net::{Addr, Kind, Msg, ReplyCheck, Router};
use process::NodeProc;
use serde_json::{json, Value};
use services::Service;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// What to run (Maelstrom's flags, resolved).
#[derive(Debug, Clone)]
pub struct Config {
    /// `-w`.
    pub workload: Workload,
    /// `--bin` and its arguments.
    pub program: Program,
    /// `--node-count`.
    pub node_count: usize,
    /// `--time-limit`.
    pub time_limit: Duration,
    /// `--rate`: requests per second over all clients.
    pub rate: f64,
    /// Clients (`--concurrency`, resolved).
    pub concurrency: usize,
    /// `--latency`.
    pub latency: Duration,
    /// `--latency-dist`.
    pub latency_dist: LatencyDist,
    /// `--nemesis`.
    pub faults: Vec<Fault>,
    /// One-way partitions (`--nemesis partition-one-way`): only one direction is cut.
    pub one_way: bool,
    /// What `--nemesis packet` does (`--packet`).
    pub packet: crate::nemesis::PacketSpec,
    /// `--nemesis-interval`.
    pub nemesis_interval: Duration,
    /// `--topology`.
    pub topology: Topology,
    /// `--key-count`.
    pub key_count: u64,
    /// `--max-txn-length`.
    pub max_txn_length: u64,
    /// `--max-writes-per-key` (txn workloads): a key is retired after this many writes.
    pub max_writes_per_key: u64,
    /// `--message-loss`: the probability that a message between two nodes is lost, during
    /// the main phase (healing stops it).
    pub message_loss: f64,
    /// The seed of the generators, latency and nemesis.
    pub seed: u64,
    /// A client's RPC timeout (an unanswered request is `info`).
    pub rpc_timeout: Duration,
    /// How long a node has to answer `init`.
    pub init_timeout: Duration,
    /// `--log-net-send`, `--log-net-recv`: what `net.log` records.
    pub log_net: net::NetLogEvents,
}

/// Why a Maelstrom run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum MaelstromError {
    /// A node program broke the protocol (or exited on its own).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A file in the store directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    File {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The first protocol error of a run; raising it stops the run.
pub struct Fatal {
    err: Mutex<Option<ProtocolError>>,
    tx: watch::Sender<bool>,
}

impl Fatal {
    fn new() -> Arc<Fatal> {
        Arc::new(Fatal {
            err: Mutex::new(None),
            tx: watch::channel(false).0,
        })
    }

    /// Records `e` (the first one wins) and stops the run.
    pub fn raise(&self, e: ProtocolError) {
        let mut g = self.err.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(e);
        }
        let _ = self.tx.send(true);
    }

    fn take(&self) -> Option<ProtocolError> {
        self.err.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn raised(&self) -> bool {
        *self.tx.borrow()
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Summary {
    /// Network statistics (Maelstrom's `net` results: all, clients, servers).
    pub net: Value,
    /// Client operations invoked.
    pub ops: u64,
    /// Whether everything healed after the run.
    pub healed: Result<String, NotHealed>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// True when Ctrl-C cut it short.
    pub interrupted: bool,
    /// The nodes' log files.
    pub logs: Vec<PathBuf>,
}

/// A client endpoint (`c1`…, and the internal `c0`): its msg_ids and the requests waiting
/// for replies.
pub struct ClientBox {
    /// Its address in the router (its name is the router's).
    addr: Addr,
    sent: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
}

impl ReplyCheck for ClientBox {
    fn known(&self, in_reply_to: Option<u64>) -> Result<(), u64> {
        let sent = self.sent.load(Ordering::SeqCst);
        match in_reply_to {
            Some(i) if i >= 1 && i <= sent => Ok(()),
            _ => Err(sent),
        }
    }
}

impl ClientBox {
    fn new(addr: Addr) -> Arc<ClientBox> {
        Arc::new(ClientBox {
            addr,
            sent: AtomicU64::new(0),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Takes the replies sent to this client: undelayed ones directly in the sender's task
    /// (no inbox hop), delayed ones from its inbox when they are due.
    fn listen(self: &Arc<Self>, inbox: net::Inbox, router: Arc<Router>) {
        let me = self.clone();
        router.set_direct(self.addr, Arc::new(move |m: Msg| me.take(&m)));
        let me = self.clone();
        tokio::spawn(inbox.pump(router, move |batch| {
            for m in batch {
                me.take(&m);
            }
            std::future::ready(())
        }));
    }

    /// Hands a reply to the request waiting for it. The envelope is parsed once, keeping
    /// only the body (the router already checked `src`, `dest` and `in_reply_to`).
    fn take(&self, m: &Msg) {
        #[derive(serde::Deserialize)]
        struct Envelope {
            body: Value,
        }
        let Ok(Envelope { body }) = serde_json::from_str::<Envelope>(&m.line) else {
            return;
        };
        let Some(id) = body.get("in_reply_to").and_then(Value::as_u64) else {
            return;
        };
        let waiter = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        // No waiter: a reply after the request timed out (already `info`).
        if let Some(w) = waiter {
            let _ = w.send(body);
        }
    }

    /// Sends `body` to `dest` with a fresh msg_id; the reply's body, or `None` on timeout.
    async fn rpc(
        &self,
        router: &Router,
        dest: Addr,
        body: Value,
        timeout: Duration,
    ) -> Option<Value> {
        self.rpc_id(router, dest, body, timeout).await.1
    }

    /// [`ClientBox::rpc`], also returning the msg_id used.
    async fn rpc_id(
        &self,
        router: &Router,
        dest: Addr,
        mut body: Value,
        timeout: Duration,
    ) -> (u64, Option<Value>) {
        let id = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        body["msg_id"] = json!(id);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        // The envelope around the serialized body, without building it as a JSON value.
        let mut line = String::with_capacity(96);
        line.push_str("{\"src\":");
        line.push_str(router.quoted(self.addr));
        line.push_str(",\"dest\":");
        line.push_str(router.quoted(dest));
        line.push_str(",\"body\":");
        line.push_str(&body.to_string());
        line.push('}');
        router.send(Msg::new(self.addr, dest, Arc::from(line)));
        let r = tokio::time::timeout(timeout, rx).await;
        if r.is_err() {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
        (id, r.ok().and_then(Result::ok))
    }
}

/// Everything the run, its clients and its nemesis share.
struct Cluster {
    router: Arc<Router>,
    nodes: Vec<Arc<NodeProc>>,
    clients: Vec<Arc<ClientBox>>,
    c0: Arc<ClientBox>,
    fatal: Arc<Fatal>,
    cfg: Config,
    /// The txn workloads' keys, shared by the clients' generators.
    keys: Arc<Mutex<workload::KeyPool>>,
}

impl Cluster {
    /// Sends `init` to node `i` and waits for `init_ok` (then `topology`, for broadcast).
    async fn init(&self, i: usize) -> Result<(), ProtocolError> {
        let node = &self.nodes[i];
        let ids: Vec<String> = (1..=self.cfg.node_count).map(|k| format!("n{k}")).collect();
        let body = json!({"type": "init", "node_id": node.name, "node_ids": ids});
        let (msg_id, reply) = self
            .c0
            .rpc_id(&self.router, node.addr, body, self.cfg.init_timeout)
            .await;
        let ok = reply
            .as_ref()
            .and_then(|b| b.get("type"))
            .and_then(Value::as_str)
            == Some("init_ok");
        if !ok {
            let hint = match reply {
                Some(b) => format!("; it answered {b}"),
                None => format!(
                    "; its log {}{}",
                    node.log.display(),
                    process::tail(&node.log)
                ),
            };
            return Err(ProtocolError::NoInitOk {
                node: node.name.clone(),
                secs: self.cfg.init_timeout.as_secs_f64(),
                msg_id,
                hint,
            });
        }
        if self.cfg.workload == Workload::Broadcast {
            let topology = self.cfg.topology.build(self.cfg.node_count);
            let body = json!({"type": "topology", "topology": topology});
            let _ = self
                .c0
                .rpc(&self.router, node.addr, body, self.cfg.rpc_timeout)
                .await;
        }
        Ok(())
    }
}

/// The fault primitives over the node programs: partitions in the router (one-way too),
/// SIGKILL and a fresh start with `init` again, SIGSTOP/SIGCONT.
struct MaelstromFaults {
    cluster: Arc<Cluster>,
}

#[async_trait::async_trait]
impl Primitives for MaelstromFaults {
    fn target(&self) -> &'static str {
        "maelstrom"
    }
    fn nodes(&self) -> usize {
        self.cluster.nodes.len()
    }
    fn aim(&mut self, fault: Fault, rng: &mut Rng) -> Option<Aim> {
        let n = self.cluster.nodes.len();
        match fault {
            Fault::Partition => {
                if n < 2 {
                    return None;
                }
                let kind = PartitionKind::ALL[rng.below(PartitionKind::ALL.len() as u64) as usize];
                let p = Partition::plan(kind, n, rng);
                let mut grudge = Grudge::from_pairs(&p.blocked);
                let mut value = p.value();
                let mut summary = p.summary();
                if self.cluster.cfg.one_way {
                    // Only the lower-numbered side of each cut pair stops hearing the other.
                    grudge = Grudge::default();
                    for &(a, b) in &p.blocked {
                        grudge.0.entry(a).or_default().insert(b);
                    }
                    value["one-way"] = json!(true);
                    summary.push_str(" (one-way)");
                }
                Some(Aim::Cut(Box::new(Cut {
                    grudge,
                    value,
                    stop_value: Value::Null,
                    summary,
                    stop_summary: "heal partition".into(),
                })))
            }
            Fault::Kill | Fault::Pause => Some(Aim::Node(rng.below(n as u64) as usize)),
            // Refused when the command line is read (src/maelstrom.rs): never aimed.
            Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew => None,
            // Aimed by the schedule.
            Fault::Packet => None,
            // Refused when the command line is read: never aimed.
            Fault::Corrupt => None,
            // Aimed by the schedule (at the nodes of a target set).
            Fault::LoseUnfsynced => None,
        }
    }
    async fn kill(&mut self, node: usize) -> Result<(), NemesisError> {
        let p = &self.cluster.nodes[node];
        p.kill().await.map_err(|e| signal_error("kill", &p.name, e))
    }
    async fn restart(&mut self, node: usize) -> Result<(), NemesisError> {
        let c = &self.cluster;
        let p = &c.nodes[node];
        let started = match p.start(c.router.clone(), c.fatal.clone()).await {
            Ok(()) => c.init(node).await,
            Err(e) => Err(e),
        };
        started.map_err(|e| {
            let m = e.to_string();
            c.fatal.raise(e);
            NemesisError::NotRepaired(m)
        })
    }
    async fn pause(&mut self, node: usize) -> Result<(), NemesisError> {
        let p = &self.cluster.nodes[node];
        p.pause().map_err(|e| signal_error("pause", &p.name, e))
    }
    async fn resume(&mut self, node: usize) -> Result<(), NemesisError> {
        let p = &self.cluster.nodes[node];
        p.resume().map_err(|e| signal_error("resume", &p.name, e))
    }
    async fn cut(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        // Node numbers are 1-based; `a` no longer hears from each of `bs`.
        let mut pairs = Vec::new();
        for (&a, bs) in &grudge.0 {
            for &b in bs {
                pairs.push((b - 1, a - 1));
            }
        }
        self.cluster.router.cut(&pairs);
        Ok(())
    }
    async fn heal(&mut self) {
        self.cluster.router.heal();
    }
    async fn packet(
        &mut self,
        nodes: &[usize],
        spec: &crate::nemesis::PacketSpec,
    ) -> Result<(), NemesisError> {
        // Node `i` (from 0) is the router's address `i`.
        self.cluster.router.set_packet(nodes, *spec);
        Ok(())
    }
    async fn heal_packets(&mut self) {
        self.cluster.router.heal_packets();
    }
    async fn repair(&mut self) -> (Vec<crate::nemesis::Planned>, Vec<String>) {
        self.cluster.router.heal();
        self.cluster.router.stop_loss();
        let mut errors = Vec::new();
        for i in 0..self.cluster.nodes.len() {
            let p = self.cluster.nodes[i].clone();
            if p.paused.load(Ordering::SeqCst) {
                let _ = p.resume();
            }
            if !p.running() {
                if let Err(e) = self.restart(i).await {
                    errors.push(e.to_string());
                }
            }
        }
        (Vec::new(), errors)
    }
    async fn check_healed(&mut self) -> Result<String, NotHealed> {
        let c = &self.cluster;
        if c.router.cut_links() > 0 {
            return Err(NotHealed::Still("links are still cut"));
        }
        if c.router.packet_faulted() {
            return Err(NotHealed::Still("a packet fault is still in the router"));
        }
        if c.nodes.iter().any(|p| !p.running()) {
            return Err(NotHealed::Still("a node is still down"));
        }
        if c.router.losing() {
            return Err(NotHealed::Still("messages are still being lost"));
        }
        if c.nodes.iter().any(|p| p.paused.load(Ordering::SeqCst)) {
            return Err(NotHealed::Still("a node is still paused"));
        }
        Ok("every link up, every node running".into())
    }
}

fn signal_error(what: &'static str, name: &str, e: std::io::Error) -> NemesisError {
    NemesisError::Server(crate::error::ServerError::Signal {
        what,
        name: name.to_string(),
        source: e,
    })
}

/// The most to wait, after healing, for the nodes to converge before the final reads: 2 s
/// (5 s with faults) plus 10 × `--latency` — Maelstrom always waits 10 s. faultline polls
/// instead (unrecorded reads from `c0` every [`PROBE_EVERY`]) and takes the final reads as
/// soon as every node returns the same state holding everything acknowledged, so a correct
/// solution's run ends moments after `--time-limit`; a wrong one waits this long.
pub fn quiet(cfg: &Config) -> Duration {
    if !cfg.workload.final_reads() {
        return Duration::ZERO;
    }
    let base = if cfg.faults.is_empty() && cfg.message_loss == 0.0 {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    };
    base + cfg.latency * 10
}

/// How often a round of convergence probes starts after healing (rounds overlap: a new one
/// does not wait for the previous one's answers).
pub const PROBE_EVERY: Duration = Duration::from_millis(50);

/// How many probe rounds may wait for answers at once.
const MAX_PROBE_ROUNDS: usize = 4;

/// How much of `--time-limit` the end of the run keeps for itself: the clients stop issuing
/// requests this long before the limit, so that the requests still in flight, healing,
/// convergence and the final reads finish by the limit (for a solution that converges as fast
/// as the network lets it). Estimated from `--latency` (L):
///
/// - every workload: the last requests' round trip, 2L, plus 50 ms;
/// - with final reads (broadcast, g-set, the counters): also a message crossing the cluster
///   (L × the topology's diameter for broadcast, 2L for the others — a node and a service, or
///   two nodes), one probe round (2L + [`PROBE_EVERY`]), the final reads (2L for each read a
///   client takes in turn: ⌈nodes / clients⌉), and 150 ms for the work between the phases.
///
/// At most a quarter of `--time-limit`. The nodes' own gossip periods cannot be known, so a
/// slower solution ends later than the limit by its extra convergence time (at most
/// [`quiet`]).
pub fn reserve(cfg: &Config) -> Duration {
    let l = cfg.latency;
    let mut r = l * 2 + Duration::from_millis(50);
    if cfg.workload.final_reads() {
        let n = cfg.node_count.max(1);
        let spread = match cfg.workload {
            Workload::Broadcast => l * cfg.topology.diameter(n) as u32,
            _ => l * 2,
        };
        let turns = n.div_ceil(cfg.concurrency.max(1)) as u32;
        r += spread + l * 2 + PROBE_EVERY + l * 2 * turns + Duration::from_millis(150);
    }
    r.min(cfg.time_limit / 4)
}

/// How long a request still in flight at `--time-limit` may take to be answered: 1 s plus two
/// latencies (a round trip), at most `--rpc-timeout`. A request not answered by then is
/// recorded `info` (indefinite: it may or may not take effect), exactly like a timeout.
pub fn end_grace(cfg: &Config) -> Duration {
    (Duration::from_secs(1) + cfg.latency * 2).min(cfg.rpc_timeout)
}

/// Runs the test within `time_limit` from its start: nodes up (init), clients and nemesis
/// until [`reserve`] before the limit, heal, convergence, final reads, nodes down. Writes node logs under `dir`; records into `recorder`.
pub async fn run(
    cfg: Config,
    dir: &Path,
    recorder: Arc<Recorder>,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> Result<Summary, MaelstromError> {
    let started = Instant::now();
    let limit = tokio::time::Instant::now() + cfg.time_limit;
    let n = cfg.node_count.max(1);
    let k = cfg.concurrency.max(1);
    let mut names: Vec<(String, Kind)> = (1..=n).map(|i| (format!("n{i}"), Kind::Node)).collect();
    names.extend((1..=k).map(|i| (format!("c{i}"), Kind::Client)));
    names.extend(
        Service::ALL
            .iter()
            .map(|s| (s.name().to_string(), Kind::Service)),
    );
    names.push(("c0".to_string(), Kind::Internal));
    let net_log = if cfg.log_net.any() {
        let path = dir.join("net.log");
        let f =
            std::fs::File::create(&path).map_err(|source| MaelstromError::File { path, source })?;
        Some((f, cfg.log_net))
    } else {
        None
    };
    let (router, inboxes) = Router::new(names, n, cfg.latency, cfg.latency_dist, cfg.seed, net_log);
    let fatal = Fatal::new();
    let mut inboxes = inboxes.into_iter();
    let mut nodes = Vec::new();
    for i in 0..n {
        let log = dir.join(format!("n{}.log", i + 1));
        let p = NodeProc::new(i, format!("n{}", i + 1), log, cfg.program.clone());
        if let Some(inbox) = inboxes.next() {
            p.feed(inbox, router.clone());
        }
        nodes.push(p);
    }
    let mut clients = Vec::new();
    for c in 0..k {
        let b = ClientBox::new(n + c);
        if let Some(inbox) = inboxes.next() {
            b.listen(inbox, router.clone());
        }
        router.set_check(b.addr, b.clone());
        clients.push(b);
    }
    for (j, s) in Service::ALL.iter().enumerate() {
        if let Some(inbox) = inboxes.next() {
            s.spawn(n + k + j, inbox, router.clone(), cfg.seed);
        }
    }
    let c0 = ClientBox::new(n + k + Service::ALL.len());
    if let Some(inbox) = inboxes.next() {
        c0.listen(inbox, router.clone());
    }
    router.set_check(c0.addr, c0.clone());
    let cluster = Arc::new(Cluster {
        router: router.clone(),
        nodes: nodes.clone(),
        clients,
        c0,
        fatal: fatal.clone(),
        cfg: cfg.clone(),
        keys: Arc::new(Mutex::new(workload::KeyPool::new(
            cfg.key_count,
            cfg.max_writes_per_key,
        ))),
    });
    let logs: Vec<PathBuf> = nodes.iter().map(|p| p.log.clone()).collect();
    let ops = Arc::new(AtomicU64::new(0));
    let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();

    let body = drive(
        limit,
        cluster.clone(),
        recorder.clone(),
        progress.clone(),
        stop.clone(),
        ops.clone(),
        tasks.clone(),
    );
    let mut fatal_rx = fatal.tx.subscribe();
    let result = tokio::select! {
        r = body => r,
        _ = fatal_rx.wait_for(|f| *f) => Err(None),
    };
    for t in tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        t.abort();
    }
    for p in &nodes {
        p.expected_exit.store(true, Ordering::SeqCst);
        let _ = p.kill().await;
    }
    router.flush_log();
    let journal = dir.join("messages.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&journal).map_err(|source| {
        MaelstromError::File {
            path: journal.clone(),
            source,
        }
    })?);
    let messages = router
        .write_journal(&mut f)
        .and_then(|n| std::io::Write::flush(&mut f).map(|()| n))
        .map_err(|source| MaelstromError::File {
            path: journal.clone(),
            source,
        })?;
    if let Some(e) = fatal.take() {
        return Err(e.into());
    }
    let (healed, interrupted) = match result {
        Ok(r) => r,
        Err(Some(e)) => return Err(e.into()),
        Err(None) => (Err(NotHealed::NemesisFailed), false),
    };
    let total = ops.load(Ordering::SeqCst);
    let mut net = router.stats.json(total);
    net["journaled"] = json!({"messages": messages.min(net::JOURNAL_CAP as u64), "of": messages});
    Ok(Summary {
        net,
        ops: total,
        healed,
        elapsed: started.elapsed(),
        interrupted,
        logs,
    })
}

type Drive = Result<(Result<String, NotHealed>, bool), Option<ProtocolError>>;

async fn drive(
    limit: tokio::time::Instant,
    c: Arc<Cluster>,
    recorder: Arc<Recorder>,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
    ops: Arc<AtomicU64>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
) -> Drive {
    let cfg = &c.cfg;
    // Nodes up, then init every node (the timeouts overlap).
    for p in &c.nodes {
        p.start(c.router.clone(), c.fatal.clone())
            .await
            .map_err(Some)?;
    }
    let mut inits = Vec::new();
    for i in 0..c.nodes.len() {
        let c = c.clone();
        inits.push(tokio::spawn(async move { c.init(i).await }));
    }
    for h in inits {
        match h.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // A protocol error raised meanwhile (a garbage line) explains a missing init_ok.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(Some(c.fatal.take().unwrap_or(e)));
            }
            Err(_) => return Err(None),
        }
    }
    progress.note(format!("{} node(s) initialized", c.nodes.len()));
    if cfg.message_loss > 0.0 {
        c.router.set_loss(cfg.message_loss);
    }

    // The main phase ends `reserve` before the limit (the run's end keeps that for itself);
    // the nemesis stops then (or at Ctrl-C), without waiting for the clients.
    let reserved = reserve(cfg);
    let deadline = (limit - reserved).max(tokio::time::Instant::now());
    progress.note(format!(
        "main phase: {:.2} s (requests stop {:.2} s before --time-limit, for the in-flight \
         requests, healing{})",
        deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .as_secs_f64(),
        reserved.as_secs_f64(),
        if cfg.workload.final_reads() {
            ", convergence and the final reads"
        } else {
            ""
        }
    ));
    let (over_tx, over_rx) = watch::channel(false);
    {
        let mut stop = stop.clone();
        let h = tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            let _ = over_tx.send(true);
        });
        tasks.lock().unwrap_or_else(|e| e.into_inner()).push(h);
    }
    let schedule = Schedule::new(
        MaelstromFaults { cluster: c.clone() },
        cfg.faults.clone(),
        cfg.seed,
    )
    .with_packet(cfg.packet);
    let nemesis = {
        let recorder = recorder.clone();
        let progress = progress.clone();
        let interval = cfg.nemesis_interval;
        let mut over = over_rx.clone();
        tokio::spawn(async move {
            let mut s = schedule;
            loop {
                if !sleep_or(interval, &mut over).await {
                    break;
                }
                let Some(op) = s.plan_start() else { break };
                recorder.nemesis(&op.f, &op.value, None);
                let r = s.apply(&op).await;
                record_fault(&recorder, &progress, &op, r);
                let held = sleep_or(interval, &mut over).await;
                if let Some(op) = s.plan_stop() {
                    recorder.nemesis(&op.f, &op.value, None);
                    let r = s.apply(&op).await;
                    record_fault(&recorder, &progress, &op, r);
                }
                if !held {
                    break;
                }
            }
            s
        })
    };

    // The clients. A request still in flight at the deadline has `end_grace` more to be
    // answered; after that it is `info`, like any timeout.
    let end = deadline + end_grace(cfg);
    let acked = Arc::new(Mutex::new(workload::Acked::default()));
    let k = c.clients.len();
    let mut handles = Vec::new();
    for w in 0..k {
        let c = c.clone();
        let recorder = recorder.clone();
        let progress = progress.clone();
        let ops = ops.clone();
        let acked = acked.clone();
        let mut stop = stop.clone();
        let (tx, rx) = oneshot::channel();
        let h = tokio::spawn(async move {
            let mut gen = workload::Gen::new(
                c.cfg.workload,
                c.cfg.seed,
                w,
                k,
                c.cfg.key_count,
                c.cfg.max_txn_length,
                c.keys.clone(),
            );
            let final_reads = c.cfg.workload.final_reads();
            let mut rng = Rng::new(c.cfg.seed ^ 0xc11e_u64 ^ (w as u64) << 20);
            let node = w % c.nodes.len();
            let mut process = w as u64;
            let mean = if c.cfg.rate > 0.0 {
                k as f64 / c.cfg.rate
            } else {
                0.0
            };
            // Spread the clients' first requests over one interval.
            let mut next = tokio::time::Instant::now()
                + Duration::from_secs_f64(mean * (rng.below(1000) as f64 / 1000.0));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next.min(deadline)) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                let now = tokio::time::Instant::now();
                if now >= deadline || *stop.borrow() {
                    break;
                }
                let (op, body) = gen.next_op();
                ops.fetch_add(1, Ordering::Relaxed);
                let timeout = c.cfg.rpc_timeout.min(end - now);
                let outcome = invoke(
                    &c,
                    w,
                    node,
                    &mut process,
                    &op,
                    body,
                    timeout,
                    &recorder,
                    &progress,
                )
                .await;
                gen.observe(&op, &outcome);
                if final_reads {
                    acked.lock().unwrap_or_else(|e| e.into_inner()).observe(
                        c.cfg.workload,
                        &op,
                        &outcome,
                    );
                }
                let u = (rng.below(1 << 30) as f64 + 1.0) / (1u64 << 30) as f64;
                next += Duration::from_secs_f64(-mean * u.ln());
                let now = tokio::time::Instant::now();
                if next < now {
                    next = now;
                }
                tokio::task::consume_budget().await;
            }
            let _ = tx.send(process);
        });
        tasks.lock().unwrap_or_else(|e| e.into_inner()).push(h);
        handles.push(rx);
    }
    // Heal as soon as the nemesis stops (the clients' last requests may need it), then let
    // the clients finish.
    let healed = match nemesis.await {
        Ok(mut s) => {
            progress.note("phase: healing");
            for (op, r) in s.heal_all().await {
                record_fault(&recorder, &progress, &op, r);
            }
            let v = s.verify_healed().await;
            match &v {
                Ok(m) => progress.note(format!("healed: {m}")),
                Err(m) => progress.note(format!("NOT healed: {m}")),
            }
            v
        }
        Err(_) => Err(NotHealed::NemesisFailed),
    };
    let mut processes = Vec::new();
    for h in handles {
        processes.push(h.await.unwrap_or(0));
    }
    if c.fatal.raised() {
        return Err(None);
    }
    let interrupted = *stop.borrow();
    if let (Some((op, body)), false) = (cfg.workload.final_read(), interrupted) {
        let cap = quiet(cfg);
        progress.note(format!(
            "phase: waiting for convergence (at most {:.1} s)",
            cap.as_secs_f64()
        ));
        let waited = Instant::now();
        let acked = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let converged = converge(&c, &body, &acked, cap).await;
        progress.note(format!(
            "{} after {:.2} s; phase: final reads",
            if converged {
                "converged"
            } else {
                "NOT converged"
            },
            waited.elapsed().as_secs_f64()
        ));
        let mut finals = Vec::new();
        for (w, mut process) in processes.into_iter().enumerate() {
            let c = c.clone();
            let recorder = recorder.clone();
            let progress = progress.clone();
            let ops = ops.clone();
            let (op, body) = (op.clone(), body.clone());
            finals.push(tokio::spawn(async move {
                for node in (w..c.nodes.len()).step_by(k) {
                    ops.fetch_add(1, Ordering::Relaxed);
                    invoke(
                        &c,
                        w,
                        node,
                        &mut process,
                        &op,
                        body.clone(),
                        c.cfg.rpc_timeout,
                        &recorder,
                        &progress,
                    )
                    .await;
                }
            }));
        }
        for f in finals {
            let _ = f.await;
        }
    }
    Ok((healed, interrupted))
}

/// Probes every node with `body` (a read, from `c0`: not recorded, not counted) every
/// [`PROBE_EVERY`] until their answers agree and hold everything acknowledged, or `cap` has
/// passed. Returns whether they converged.
/// A round starts every [`PROBE_EVERY`] without waiting for the previous one's answers, so
/// convergence is seen one round trip after it happens, not up to two.
async fn converge(c: &Arc<Cluster>, body: &Value, acked: &workload::Acked, cap: Duration) -> bool {
    let until = tokio::time::Instant::now() + cap;
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Dropping the set (on return) aborts the rounds still waiting for answers.
    let mut rounds: tokio::task::JoinSet<Vec<Option<Value>>> = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            // At most a few rounds at a time: a node that does not answer is not flooded.
            _ = tick.tick(), if rounds.len() < MAX_PROBE_ROUNDS => {
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                let timeout = c.cfg.rpc_timeout.min(left.max(PROBE_EVERY));
                let (c, body) = (c.clone(), body.clone());
                rounds.spawn(async move {
                    let mut probes = tokio::task::JoinSet::new();
                    for (i, p) in c.nodes.iter().enumerate() {
                        let (c, body, addr) = (c.clone(), body.clone(), p.addr);
                        probes.spawn(async move {
                            (i, c.c0.rpc(&c.router, addr, body, timeout).await)
                        });
                    }
                    let mut reads = vec![None; c.nodes.len()];
                    while let Some(r) = probes.join_next().await {
                        if let Ok((i, read)) = r {
                            reads[i] = read;
                        }
                    }
                    reads
                });
            }
            Some(done) = rounds.join_next(), if !rounds.is_empty() => {
                if let Ok(reads) = done {
                    if acked.converged(c.cfg.workload, &reads) {
                        return true;
                    }
                }
            }
            _ = tokio::time::sleep_until(until) => return false,
        }
    }
}

/// One client operation: recorded, sent, answered (or not within `timeout`), recorded.
#[allow(clippy::too_many_arguments)]
async fn invoke(
    c: &Cluster,
    w: usize,
    node: usize,
    process: &mut u64,
    op: &Op,
    body: Value,
    timeout: Duration,
    recorder: &Recorder,
    progress: &Progress,
) -> Outcome {
    let name = &c.nodes[node].name;
    // Final reads name the node they read, so the checker can say whose read missed what.
    let op = if op.f == "final-read" {
        Op {
            key: Some(json!(name)),
            ..op.clone()
        }
    } else {
        op.clone()
    };
    recorder.invoke(*process, &op, Some(name));
    let reply = c.clients[w]
        .rpc(&c.router, c.nodes[node].addr, body, timeout)
        .await;
    let outcome = match reply {
        Some(b) => workload::outcome(&op, &b),
        None => Outcome::Info(json!({"code": 0, "name": "timeout"})),
    };
    recorder.complete(*process, &op, &outcome, Some(name));
    let counter = match outcome {
        Outcome::Ok(_) => &progress.ok,
        Outcome::Fail(_) => &progress.fail,
        Outcome::Info(_) => &progress.info,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if matches!(outcome, Outcome::Info(_)) {
        *process += c.clients.len() as u64;
    }
    outcome
}

async fn sleep_or(d: Duration, over: &mut watch::Receiver<bool>) -> bool {
    let slept = tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = over.wait_for(|o| *o) => false,
    };
    slept && !*over.borrow()
}

fn record_fault(
    recorder: &Recorder,
    progress: &Progress,
    op: &crate::runner::FaultOp,
    result: Result<Value, NemesisError>,
) {
    match result {
        Ok(v) => {
            recorder.nemesis(&op.f, &v, None);
            progress.note(format!("nemesis {}: {}", op.f, op.summary));
            *progress.fault.lock().unwrap_or_else(|e| e.into_inner()) =
                op.f.starts_with("start").then(|| op.summary.clone());
        }
        Err(e) => {
            recorder.nemesis(&op.f, &op.value, Some(&json!(e.to_string())));
            progress.note(format!("nemesis {} FAILED: {} ({e})", op.f, op.summary));
        }
    }
}
