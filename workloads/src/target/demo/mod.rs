//! `--target demo`: the embedded demo store (`demo-store/`), started by faultline as node
//! processes (`faultline serve-demo-node`) on loopback, every peer link through a faultline
//! proxy, so every fault is available; or one node on each `--ssh-nodes` host (partitions by
//! iptables there, kill and pause by signals); torn down afterwards, also on error and Ctrl-C.
//!
//! - [`cluster`]: the launcher — starts, kills, restarts, pauses and resumes the node
//!   processes, wiring their peer links through the proxies.
//! - [`remote`]: the nodes on SSH hosts (the binary copied there, or `--demo-bin`); their
//!   faults are [`crate::remote::faults::RemoteFaults`].
//! - [`DemoFaults`]: the fault primitives over a [`Cluster`], and where faults land
//!   (partition shapes from [`crate::nemesis::Partition`]; kills and pauses on the leader
//!   half of the time).
//! - The client is [`crate::target::http_kv::HttpKv`] (the store speaks http-kv).

pub mod cluster;
pub mod remote;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use checkers::Rng;
use serde_json::Value;

use super::http_kv::HttpKv;
use crate::client::Either;
use crate::remote::faults::RemoteFaults;
use super::{FlagGroup, NemesisSupport, Nodes, RunError, Spec, StartCtx, Target};
use crate::generator::WorkloadKind;
use crate::nemesis::clock::{self, ClockFiles};
use crate::nemesis::lazyfs;
use crate::nemesis::{
    Action, Aim, CorruptFile, CorruptKind, Cut, Fault, Grudge, NemesisError, PacketKind, PacketSpec, Partition,
    PartitionKind, Planned, Primitives,
};
use cluster::{Cluster, ClusterSpec};

/// The files of a sync- or lease-mode node that matter (demo-store/src/storage.rs): the log
/// (the default target of `--nemesis corrupt`) and the term and vote.
pub const DEMO_FILES: [CorruptFile; 2] = [
    CorruptFile::at("log.bin", "log.bin"),
    CorruptFile::at("meta.json", "meta.json"),
];

/// How long the nemesis asks `/health` who leads.
const LEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// Replication mode of the demo store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Primary/backup, asynchronous replication (fast, may lose or serve stale data).
    Async,
    /// Majority quorum, synchronous replication (linearizable).
    Sync,
    /// As sync, but the leader answers reads alone under a wall-clock lease (linearizable
    /// while clocks behave; clock faults break it).
    Lease,
}

impl Mode {
    /// `async` or `sync`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Async => "async",
            Mode::Sync => "sync",
            Mode::Lease => "lease",
        }
    }
}

/// When the demo store's nodes fsync (`--fsync`): what `lose-unfsynced` can take from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Fsync {
    /// Acknowledge after `write()` without fsync (survives a process crash, not a lost disk
    /// cache). The default, as before the flag existed.
    #[default]
    Never,
    /// fsync the log and term/vote before acting on them.
    Always,
}

impl Fsync {
    /// `never` or `always`.
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Never => "never",
            Fsync::Always => "always",
        }
    }
}

/// The demo target's flags.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Demo store (--target demo)")]
pub struct DemoArgs {
    /// Replication mode of the demo store (default sync).
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<Mode>,

    /// With --ssh-nodes: the faultline binary already on every host that runs the demo's
    /// nodes (default: this faultline, copied to each host's run directory over SSH).
    #[arg(long, value_name = "PATH")]
    pub demo_bin: Option<PathBuf>,
    /// When the demo store's nodes fsync their log and term/vote (default never: acknowledged
    /// after write(), so `--nemesis lose-unfsynced` can take acknowledged writes; always: fsync
    /// first).
    #[arg(long, value_enum, value_name = "WHEN")]
    pub fsync: Option<Fsync>,
}

impl FlagGroup for DemoArgs {
    fn given(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self.mode.map(|_| "--mode").into_iter().collect();
        if self.demo_bin.is_some() {
            out.push("--demo-bin");
        }
        out.extend(self.fsync.map(|_| "--fsync"));
        out
    }
}

/// The demo target: 3 nodes on loopback, or one on each SSH host, in one mode.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The replication mode.
    pub mode: Mode,
    /// When the nodes fsync.
    pub fsync: Fsync,
    timeout: Duration,
    /// The SSH hosts (empty: loopback).
    ssh: crate::remote::SshArgs,
    /// `--demo-bin`: the node binary on the hosts.
    demo_bin: Option<PathBuf>,
}

#[async_trait::async_trait]
impl Target for Demo {
    type Args = DemoArgs;
    type Client = HttpKv;
    type Nodes = DemoNodes;
    const SHARED_FLAGS: &'static [&'static str] = &[
        "--ssh-nodes",
        "--ssh-user",
        "--ssh-key",
        "--ssh-port",
        "--ssh-sudo",
        "--ssh-known-hosts",
        "--ssh-accept-new-host-keys",
        "--ssh-timeout",
    ];

    fn plan(spec: &Spec<'_>) -> Result<Self, RunError> {
        let ssh = &spec.args.servers.ssh;
        let demo_bin = spec.args.demo.demo_bin.clone();
        if ssh.ssh_nodes.is_empty() {
            if let Some(flag) = ssh.given().first() {
                return Err(RunError::Usage(format!(
                    "{flag} needs --ssh-nodes (the hosts to start the demo's nodes on)"
                )));
            }
            if demo_bin.is_some() {
                return Err(RunError::Usage(
                    "--demo-bin names the node binary on --ssh-nodes hosts; without \
                     --ssh-nodes the nodes run this faultline on loopback"
                        .into(),
                ));
            }
        } else {
            ssh.hosts()?;
            if let Some(p) = &demo_bin {
                if !p.is_absolute() {
                    return Err(RunError::Usage(format!(
                        "--demo-bin {}: expected an absolute path on the hosts",
                        p.display()
                    )));
                }
            }
        }
        Ok(Demo {
            mode: spec.args.demo.mode.unwrap_or(Mode::Sync),
            fsync: spec.args.demo.fsync.unwrap_or_default(),
            timeout: spec.op_timeout,
            ssh: ssh.clone(),
            demo_bin,
        })
    }
    fn label(&self) -> &'static str {
        match self.mode {
            Mode::Async => "demo-async",
            Mode::Sync => "demo-sync",
            Mode::Lease => "demo-lease",
        }
    }
    fn describe(&self) -> String {
        let fsync = match self.fsync {
            Fsync::Never => "",
            Fsync::Always => "fsync always, ",
        };
        if self.ssh.ssh_nodes.is_empty() {
            format!("demo store ({}, {fsync}3 nodes)", self.mode.name())
        } else {
            format!(
                "demo store ({}, {fsync}on SSH hosts {})",
                self.mode.name(),
                self.ssh.ssh_nodes.join(",")
            )
        }
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        super::refuse_queue(workload)?;
        // On SSH hosts libfaketime is looked for on each host when the nodes start.
        if faults.iter().any(|&f| clock::is_clock(f)) && self.ssh.ssh_nodes.is_empty() {
            clock::find_libfaketime()?;
        }
        if !self.ssh.ssh_nodes.is_empty() && faults.contains(&Fault::LoseUnfsynced) {
            return Err(RunError::FaultUnsupported {
                target: "demo".into(),
                fault: "lose-unfsynced".into(),
                missing: "faultline mounts its FUSE filesystem only under nodes it runs on this \
                          machine, not on --ssh-nodes hosts"
                    .into(),
            });
        }
        if !self.ssh.ssh_nodes.is_empty() && self.fsync == Fsync::Always {
            return Err(RunError::Usage(
                "--fsync always: the demo's nodes on --ssh-nodes hosts run with their default \
                 (never); --fsync applies to nodes on this machine"
                    .into(),
            ));
        }
        if faults.contains(&Fault::LoseUnfsynced) {
            lazyfs::check_available().map_err(|e| RunError::FaultUnsupported {
                target: "demo".into(),
                fault: "lose-unfsynced".into(),
                missing: e.to_string(),
            })?;
        }
        Ok(())
    }
    fn nemesis_support(&self) -> NemesisSupport {
        if !self.ssh.ssh_nodes.is_empty() {
            return super::ssh_nemesis_support();
        }
        NemesisSupport {
            targets: true,
            one_way: true,
            primaries: true,
            packet: vec![PacketKind::Delay, PacketKind::Loss],
            packet_missing: "its peer links are TCP streams relayed by faultline's proxies, and \
                             a duplicated TCP segment is discarded by the receiving kernel, so \
                             a stream relay cannot show duplication (the Maelstrom router can: \
                             faultline maelstrom test --nemesis packet)",
            corrupt_files: match self.mode {
                Mode::Async => Vec::new(),
                Mode::Sync | Mode::Lease => DEMO_FILES.to_vec(),
            },
            corrupt_missing: "--mode async keeps its data in memory only (no file of its \
                              nodes matters); file corruption needs --mode sync or lease, whose \
                              nodes keep log.bin and meta.json",
        }
    }
    async fn start(&self, ctx: &StartCtx<'_>) -> Result<DemoNodes, RunError> {
        if !self.ssh.ssh_nodes.is_empty() {
            let r = remote::RemoteDemo::start(
                &self.ssh,
                ctx.dir,
                ctx.progress,
                ctx.faults,
                self.mode,
                self.demo_bin.as_deref(),
            )
            .await?;
            return Ok(DemoNodes {
                http: Arc::new(r.http.clone()),
                local: None,
                timeout: self.timeout,
                clocks: r.clocks.clone(),
                files: &[],
                remote: Some(r),
            });
        }
        let mode = self.mode.name();
        let program = std::env::current_exe()
            .map_err(|e| RunError::Internal(format!("cannot find faultline's executable: {e}")))?;
        let progress = ctx.progress;
        progress.note(format!(
            "starting the demo store ({mode}, 3 nodes) on loopback"
        ));
        let clocks = if ctx.faults.iter().any(|&f| clock::is_clock(f)) {
            let lib = clock::find_libfaketime()?;
            let files = ClockFiles::create(lib, &ctx.dir.join("clock"), 3)
                .map_err(|e| RunError::Start(format!("cannot set up the node clocks: {e}")))?;
            progress.note(format!(
                "node clocks under libfaketime: {}",
                (0..3)
                    .map(|i| files.file(i).display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            Some(files)
        } else {
            None
        };
        let cluster = Cluster::start(ClusterSpec {
            nodes: 3,
            program,
            args: vec![
                "serve-demo-node".into(),
                "--mode".into(),
                mode.into(),
                "--fsync".into(),
                self.fsync.name().into(),
            ],
            dir: ctx.dir.to_path_buf(),
            clock: clocks.clone(),
            lazyfs: ctx.faults.contains(&Fault::LoseUnfsynced),
        })
        .await
        .map_err(|e| RunError::Start(format!("cannot start the demo store: {e}")))?;
        progress.note(format!(
            "demo store up: {}",
            cluster
                .node_names()
                .iter()
                .zip(cluster.http_addrs())
                .map(|(n, a)| format!("{n}=http://{a}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        progress.note(format!(
            "demo store processes: {}; link proxies: {}",
            (1..=cluster.nodes())
                .map(|id| format!(
                    "n{id} pid {} peer {}",
                    cluster.pid(id).unwrap_or(0),
                    cluster.peer_addrs()[id - 1]
                ))
                .collect::<Vec<_>>()
                .join(", "),
            cluster
                .proxy_addrs()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        ));
        Ok(DemoNodes {
            http: Arc::new(cluster.http_addrs()),
            local: Some(cluster),
            remote: None,
            timeout: self.timeout,
            clocks,
            files: match self.mode {
                Mode::Async => &[],
                Mode::Sync | Mode::Lease => &DEMO_FILES,
            },
        })
    }
}

/// The running demo cluster: on loopback, or on SSH hosts.
pub struct DemoNodes {
    local: Option<Arc<Cluster>>,
    remote: Option<remote::RemoteDemo>,
    http: Arc<Vec<SocketAddr>>,
    timeout: Duration,
    clocks: Option<Arc<ClockFiles>>,
    /// The files whose corruption matters (none in async mode).
    files: &'static [CorruptFile],
}

#[async_trait::async_trait]
impl Nodes for DemoNodes {
    type Client = HttpKv;
    type Faults = Either<DemoFaults, RemoteFaults>;
    fn count(&self) -> usize {
        self.http.len()
    }
    fn client(&self) -> HttpKv {
        HttpKv::new(self.http.clone(), self.timeout)
    }
    fn primitives(&self) -> Option<Either<DemoFaults, RemoteFaults>> {
        if let Some(r) = &self.remote {
            return Some(Either::B(
                RemoteFaults::new("demo", r.members.remote.clone(), r.service.clone())
                    .with_clocks(self.clocks.clone()),
            ));
        }
        let mut faults = DemoFaults::new(self.local.clone()?);
        faults.clocks = self.clocks.clone();
        faults.files = self.files;
        Some(Either::A(faults))
    }
    fn logs(&self) -> Vec<std::path::PathBuf> {
        if let Some(r) = &self.remote {
            // Copied from the hosts when they stop (shutdown).
            return r.log_paths();
        }
        self.local
            .iter()
            .flat_map(|c| (1..=c.nodes()).map(|id| c.log_path(id)))
            .collect()
    }
    fn started(&self) -> Option<&'static str> {
        Some("demo store")
    }
    async fn shutdown(&self) {
        if let Some(r) = &self.remote {
            r.members.shutdown().await;
        }
        if let Some(c) = &self.local {
            c.shutdown().await;
        }
    }
}

/// The fault primitives over the demo cluster (node indices from 0; the cluster's ids from 1).
pub struct DemoFaults {
    cluster: Arc<Cluster>,
    /// The leader last seen in `/health`, to aim kills and pauses at it half of the time.
    leader: Option<usize>,
    /// The node clocks, when the run has clock faults (partitions then isolate the leader
    /// half of the time: that is where a wrong clock does harm).
    clocks: Option<Arc<ClockFiles>>,
    /// The files whose corruption matters (none in async mode).
    files: &'static [CorruptFile],
}

impl DemoFaults {
    /// Primitives over `cluster` (the leader it elected at start, if any, is the first aim).
    pub fn new(cluster: Arc<Cluster>) -> DemoFaults {
        let leader = cluster.leader_at_start();
        DemoFaults {
            cluster,
            leader,
            clocks: None,
            files: &[],
        }
    }

    /// The leader last seen (the cluster's id, from 1), if any.
    pub fn leader(&self) -> Option<usize> {
        self.leader
    }

    /// Whether some link is cut right now.
    pub fn is_partitioned(&self) -> bool {
        !self.cluster.blocked().is_empty()
    }

    /// A node to kill or pause (the cluster's id): the known leader half of the time, else a
    /// random node.
    fn target(&mut self, n: usize, rng: &mut Rng) -> usize {
        match self.leader {
            Some(leader) if leader <= n && rng.below(2) == 0 => leader,
            _ => 1 + rng.below(n as u64) as usize,
        }
    }
}

/// The demo's node clocks, for the clock nemesis.
struct DemoClocks(Arc<ClockFiles>);

impl clock::ClockTarget for DemoClocks {
    fn target(&self) -> &'static str {
        "the demo store"
    }
    fn files(&self) -> &Arc<ClockFiles> {
        &self.0
    }
}

/// Node `leader` (from 1) cut off from the other nodes of `1..=n`.
fn isolate(leader: usize, n: usize) -> Partition {
    let others: Vec<usize> = (1..=n).filter(|&o| o != leader).collect();
    let blocked = others
        .iter()
        .map(|&o| (o.min(leader), o.max(leader)))
        .collect();
    Partition {
        kind: PartitionKind::Isolate,
        groups: vec![vec![leader], others],
        bridge: None,
        blocked,
    }
}

/// The demo's partition as a [`Cut`]: the shape's value and summary; the stop's value null.
fn demo_cut(grudge: Grudge, value: Value, summary: String) -> Cut {
    Cut {
        grudge,
        value,
        stop_value: Value::Null,
        summary,
        stop_summary: "heal partition".into(),
    }
}

#[async_trait::async_trait]
impl Primitives for DemoFaults {
    fn target(&self) -> &'static str {
        "the demo store"
    }
    fn idle_noop(&self) -> bool {
        true
    }
    fn nodes(&self) -> usize {
        self.cluster.nodes()
    }
    fn first_node(&self) -> usize {
        1
    }
    fn primaries(&self) -> Option<Vec<usize>> {
        // The leader last seen in /health (refreshed after every stop); none known: empty.
        Some(self.leader.map(|l| l - 1).into_iter().collect())
    }
    fn aim(&mut self, fault: Fault, rng: &mut Rng) -> Option<Aim> {
        let n = self.cluster.nodes();
        Some(match fault {
            Fault::Partition if self.clocks.is_some() && self.leader.is_some_and(|l| l <= n) => {
                // With clock faults, half of the partitions isolate the leader last seen (a
                // wrong clock matters on a leader cut off from its followers).
                let leader = self.leader.unwrap_or(1);
                let p = if rng.below(2) == 0 {
                    isolate(leader, n)
                } else {
                    let kinds = PartitionKind::ALL;
                    let kind = kinds[rng.below(kinds.len() as u64) as usize];
                    Partition::plan(kind, n, rng)
                };
                Aim::Cut(Box::new(demo_cut(
                    Grudge::from_pairs(&p.blocked),
                    p.value(),
                    p.summary(),
                )))
            }
            Fault::Partition => {
                let kinds = PartitionKind::ALL;
                let kind = kinds[rng.below(kinds.len() as u64) as usize];
                let p = Partition::plan(kind, n, rng);
                Aim::Cut(Box::new(demo_cut(
                    Grudge::from_pairs(&p.blocked),
                    p.value(),
                    p.summary(),
                )))
            }
            Fault::Kill | Fault::Pause | Fault::Corrupt => Aim::Node(self.target(n, rng) - 1),
            Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew => return None,
            // Aimed by the schedule.
            Fault::Packet => return None,
            // Aimed by the schedule (at the nodes of a target set).
            Fault::LoseUnfsynced => return None,
        })
    }
    fn clocks(&self) -> Option<Box<dyn clock::ClockTarget>> {
        let files = self.clocks.clone()?;
        Some(Box::new(DemoClocks(files)))
    }
    async fn kill(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(self.cluster.kill(node + 1).await?)
    }
    async fn restart(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(self.cluster.restart(node + 1).await?)
    }
    async fn pause(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(self.cluster.pause(node + 1)?)
    }
    async fn resume(&mut self, node: usize) -> Result<(), NemesisError> {
        Ok(self.cluster.resume(node + 1)?)
    }
    async fn cut(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        Ok(self.cluster.partition_directed(&grudge.directed())?)
    }
    async fn packet(&mut self, nodes: &[usize], spec: &PacketSpec) -> Result<(), NemesisError> {
        let ids: Vec<usize> = nodes.iter().map(|i| i + 1).collect();
        Ok(self.cluster.packet(&ids, *spec)?)
    }
    async fn heal_packets(&mut self) {
        self.cluster.heal_packets();
    }
    fn corrupt_files(&self) -> Vec<CorruptFile> {
        self.files.to_vec()
    }
    async fn corrupt(
        &mut self,
        node: usize,
        file: &str,
        kind: CorruptKind,
        seed: u64,
    ) -> Result<Value, NemesisError> {
        let file = crate::nemesis::corrupt::find(self.files, file)
            .ok_or_else(|| self.unsupported("corrupt a file it does not name"))?;
        Ok(self.cluster.corrupt(node + 1, file, kind, seed).await?)
    }
    async fn lose_unfsynced(&mut self, nodes: &[usize]) -> Result<Value, NemesisError> {
        let mut lost = serde_json::Map::new();
        for &i in nodes {
            let what = self.cluster.lose_unfsynced(i + 1).await?;
            lost.insert(format!("n{}", i + 1), what.json());
        }
        Ok(Value::Object(lost))
    }
    async fn heal(&mut self) {
        self.cluster.heal_network();
    }
    async fn after_stop(&mut self) {
        self.leader = self.cluster.leader(LEADER_TIMEOUT).await;
    }
    async fn repair(&mut self) -> (Vec<Planned>, Vec<String>) {
        let healed = self.cluster.heal_all().await;
        let name = |i: usize| format!("n{}", i + 1);
        let mut ops = Vec::new();
        if !healed.partition.is_empty() {
            let cut = demo_cut(Grudge::default(), Value::Null, String::new());
            ops.push(Planned::new(Action::StopPartition(cut), name));
        }
        for id in healed.resumed {
            ops.push(Planned::new(Action::Resume(id - 1), name));
        }
        for id in healed.restarted {
            ops.push(Planned::new(Action::Restart(id - 1), name));
        }
        (ops, healed.errors)
    }
    async fn check_healed(&mut self) -> Result<String, crate::nemesis::NotHealed> {
        if !self.cluster.packet_nodes().is_empty() {
            return Err(crate::nemesis::NotHealed::Still(
                "a packet fault is still on the demo's links",
            ));
        }
        self.cluster
            .wait_connected(Duration::from_secs(10))
            .await
            .map(|()| "every node hears every other node again".to_string())
            .map_err(crate::nemesis::NotHealed::from)
    }
}
