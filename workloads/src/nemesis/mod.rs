//! The nemesis: real faults planned from a seed, applied to a target, and always healed —
//! written once for every target.
//!
//! Part of the "run" step of run → check → report. A [`Schedule`] is what the runner drives (it
//! implements [`crate::runner::Faults`]): it draws a [`Fault`] kind among the enabled ones, asks
//! the target to [aim](Primitives::aim) it (a node, or a [`Grudge`] for a partition), records the
//! op, applies it through the target's [`Primitives`] (kill/restart, pause/resume, cut/heal),
//! plans the matching stop, and at the end heals whatever is still broken and asks the target
//! to verify that it healed. One fault is in effect at a time. A target implements only the
//! primitives it supports; the others answer [`NemesisError::Unsupported`], and a target's
//! `supports` refuses such faults before a run starts.
//!
//! Fault names are strings only at the two boundaries: [`Fault::parse_list`] (the CLI) and
//! [`Planned::f`] (the history's `f`). See `docs/nemesis.md`.
//!
//! Adding a fault kind: one [`Fault`] variant (and its name), its start/stop [`Action`]s, and
//! the primitive on each target that supports it.

pub mod clock;
pub mod corrupt;
pub mod lazyfs;
mod packet;
mod partition;
mod targets;

/// Runs the same expression on whichever side of an [`crate::client::Either`].
macro_rules! either {
    ($e:expr, $p:ident => $body:expr) => {
        match $e {
            crate::client::Either::A($p) => $body,
            crate::client::Either::B($p) => $body,
        }
    };
}

use std::collections::{BTreeMap, BTreeSet};

use checkers::Rng;
use serde_json::{json, Value};

use crate::runner::{FaultOp, Faults};

pub use corrupt::{
    CorruptError, CorruptFile, CorruptKind, CorruptSpec, CorruptSpecError, DEFAULT_CORRUPT,
};
pub use packet::{PacketKind, PacketSpec, PacketSpecError, DEFAULT_PACKET};
pub use partition::{Partition, PartitionKind};
pub use targets::{NodeSet, NodeSetError};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Cut the network between groups of nodes (TCP blackhole in faultline's proxies, or
    /// between network namespaces).
    Partition,
    /// SIGKILL a node, restart it later on the same ports and data directory.
    Kill,
    /// SIGSTOP a node, SIGCONT it later.
    Pause,
    /// Delay (with jitter), lose or duplicate the packets to and from some nodes
    /// (`--packet`), then stop.
    Packet,
    /// Jump node clocks by a few seconds, back or forward; reset later ([`clock`]).
    ClockBump,
    /// Flip node clocks between true time and an offset every 10 ms; reset later.
    ClockStrobe,
    /// Run node clocks fast or slow (×0.1 … ×10); reset later.
    ClockSkew,
    /// SIGKILL a node, corrupt one of the files its target names (bits flipped or its end cut
    /// off, `--corrupt`), restart it later on the damaged file ([`corrupt`]).
    Corrupt,
    /// SIGKILL some nodes and drop every write their data directories (faultline's FUSE
    /// filesystem, [`lazyfs`]) had not fsynced; restart them later.
    LoseUnfsynced,
}

impl Fault {
    /// Every fault `all` names, in order (the classic three every fault-taking target does;
    /// clock faults are asked for by name or as `clock`: few targets take them).
    pub const ALL: [Fault; 3] = [Fault::Partition, Fault::Kill, Fault::Pause];

    /// The clock faults, which `clock` names.
    pub const CLOCK: [Fault; 3] = [Fault::ClockBump, Fault::ClockStrobe, Fault::ClockSkew];

    /// Every fault `--nemesis` can name.
    pub const NAMED: [Fault; 9] = [
        Fault::Partition,
        Fault::Kill,
        Fault::Pause,
        Fault::Packet,
        Fault::ClockBump,
        Fault::ClockStrobe,
        Fault::ClockSkew,
        Fault::Corrupt,
        Fault::LoseUnfsynced,
    ];

    /// The fault's name: `partition`, `kill`, `pause`, `packet`, `clock-bump`,
    /// `clock-strobe`, `clock-skew`, `corrupt`, `lose-unfsynced`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Packet => "packet",
            Fault::ClockBump => "clock-bump",
            Fault::ClockStrobe => "clock-strobe",
            Fault::ClockSkew => "clock-skew",
            Fault::Corrupt => "corrupt",
            Fault::LoseUnfsynced => "lose-unfsynced",
        }
    }

    /// Parses a `--nemesis` list: comma-separated names (`partition,kill,pause`), `none` (no
    /// faults), `all` (partition, kill, pause) or `clock` (the three clock faults). Duplicates
    /// count once; order is kept.
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, FaultListError> {
        if text.trim().is_empty() {
            return Err(FaultListError::Empty);
        }
        let mut faults = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let found: Vec<Fault> = match word {
                "none" => Vec::new(),
                "all" => Fault::ALL.to_vec(),
                "clock" => Fault::CLOCK.to_vec(),
                _ => vec![Fault::NAMED
                    .into_iter()
                    .find(|f| f.name() == word)
                    .ok_or_else(|| FaultListError::Unknown(word.to_string()))?],
            };
            for fault in found {
                if !faults.contains(&fault) {
                    faults.push(fault);
                }
            }
        }
        Ok(faults)
    }

    /// The names of `faults`, comma-separated (`none` for none), for logs.
    pub fn list(faults: &[Fault]) -> String {
        if faults.is_empty() {
            return "none".into();
        }
        faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Who stops hearing whom: each node mapped to the nodes it no longer hears from (symmetric
/// for every grudge faultline makes). Node numbers are the target's own (the demo cluster
/// counts from 1, a target's server list from 0, a proxy net's endpoints from 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grudge(pub BTreeMap<usize, BTreeSet<usize>>);

impl Grudge {
    /// Both directions of every pair cut.
    pub fn from_pairs(pairs: &[(usize, usize)]) -> Grudge {
        let mut g = Grudge::default();
        for &(a, b) in pairs {
            g.0.entry(a).or_default().insert(b);
            g.0.entry(b).or_default().insert(a);
        }
        g
    }

    /// `node` cut from every other of `nodes` (numbered from 0).
    pub fn isolate(node: usize, nodes: usize) -> Grudge {
        let pairs: Vec<(usize, usize)> = (0..nodes)
            .filter(|&o| o != node)
            .map(|o| (o.min(node), o.max(node)))
            .collect();
        Grudge::from_pairs(&pairs)
    }

    /// The ordered pairs `(hearer, speaker)`: `hearer` no longer hears `speaker`, sorted.
    pub fn directed(&self) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = self
            .0
            .iter()
            .flat_map(|(&a, bs)| bs.iter().map(move |&b| (a, b)))
            .filter(|(a, b)| a != b)
            .collect();
        out.sort_unstable();
        out
    }

    /// Whether every cut goes both ways.
    pub fn is_symmetric(&self) -> bool {
        self.directed()
            .iter()
            .all(|&(a, b)| self.0.get(&b).is_some_and(|s| s.contains(&a)))
    }

    /// The grudge with every node number moved by `from` → `to` (0-based ↔ the target's own).
    pub fn renumbered(&self, from: usize, to: usize) -> Grudge {
        let m = |x: usize| x + to - from;
        Grudge(
            self.0
                .iter()
                .map(|(&a, bs)| (m(a), bs.iter().map(|&b| m(b)).collect()))
                .collect(),
        )
    }

    /// The history's form: `{"n1": ["n2", "n3"], …}`, each node with the nodes it no longer
    /// hears, `name` naming a node number.
    pub fn json(&self, name: impl Fn(usize) -> String) -> Value {
        let map: serde_json::Map<String, Value> = self
            .0
            .iter()
            .filter(|(_, bs)| !bs.is_empty())
            .map(|(&a, bs)| {
                (
                    name(a),
                    json!(bs.iter().map(|&b| name(b)).collect::<Vec<_>>()),
                )
            })
            .collect();
        Value::Object(map)
    }

    /// `n1 deaf to n2,n3; n2 deaf to n1`, for run.log and progress lines.
    pub fn describe(&self, name: impl Fn(usize) -> String) -> String {
        self.0
            .iter()
            .filter(|(_, bs)| !bs.is_empty())
            .map(|(&a, bs)| {
                let heard: Vec<String> = bs.iter().map(|&b| name(b)).collect();
                format!("{} deaf to {}", name(a), heard.join(","))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The unordered pairs cut, each `(low, high)`, sorted.
    pub fn pairs(&self) -> Vec<(usize, usize)> {
        let mut out: BTreeSet<(usize, usize)> = BTreeSet::new();
        for (&a, bs) in &self.0 {
            for &b in bs {
                out.insert((a.min(b), a.max(b)));
            }
        }
        out.into_iter().collect()
    }
}

/// A partition a target aimed: what to cut and how the history and progress line show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Who stops hearing whom.
    pub grudge: Grudge,
    /// The `value` of `start-partition` in the history.
    pub value: Value,
    /// The `value` of `stop-partition` in the history.
    pub stop_value: Value,
    /// The progress line of the start (`partition n1 | n2 n3`).
    pub summary: String,
    /// The progress line of the stop (`heal partition`).
    pub stop_summary: String,
}

/// A packet fault aimed at nodes: what to do and how the history and progress line show it.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketAim {
    /// The nodes whose traffic (to and from them) is hit, the target's indices from 0.
    pub nodes: Vec<usize>,
    /// What happens to that traffic.
    pub spec: PacketSpec,
    /// The `value` of `start-packet` in the history.
    pub value: Value,
    /// The progress line of the start.
    pub summary: String,
}

impl Eq for PacketAim {}

/// A file corruption aimed at a node: which file, how, and how the history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CorruptAim {
    /// The node (the target's index, from 0) killed, corrupted and later restarted.
    pub node: usize,
    /// The file's name in the node's data directory (one the target names).
    pub file: String,
    /// What is done to it.
    pub kind: CorruptKind,
    /// Seed of the bits a bitflip draws.
    pub seed: u64,
    /// The `value` of `corrupt` in the history (the completion adds what was done).
    pub value: Value,
    /// The progress line.
    pub summary: String,
}

impl Eq for CorruptAim {}

/// Where a fault lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aim {
    /// One node (the target's index, numbered from 0).
    Node(usize),
    /// A partition.
    Cut(Box<Cut>),
    /// A packet fault.
    Packet(Box<PacketAim>),
    /// A file corruption.
    Corrupt(Box<CorruptAim>),
    /// Several nodes (the target's indices, from 0).
    Nodes(Vec<usize>),
}

/// Why a `--nemesis` list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultListError {
    /// Nothing but blanks.
    #[error(
        "no faults named; expected none, all, or a list of partition, kill, pause, packet, \
         corrupt, clock, clock-bump, clock-strobe, clock-skew, lose-unfsynced"
    )]
    Empty,
    /// A name that is not a fault.
    #[error(
        "unknown fault {0:?}; expected none, all, or a list of partition, kill, pause, packet, \
         corrupt, clock, clock-bump, clock-strobe, clock-skew, lose-unfsynced"
    )]
    Unknown(String),
}

/// Why a primitive failed.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// The target has no such primitive (its `supports` should have refused the fault).
    #[error("{target} cannot {what}")]
    Unsupported {
        /// The target.
        target: &'static str,
        /// The primitive.
        what: &'static str,
    },
    /// A server's process could not be signalled or restarted.
    #[error(transparent)]
    Server(#[from] crate::error::ServerError),
    /// The demo cluster refused the primitive.
    #[error(transparent)]
    Cluster(#[from] crate::target::demo::cluster::ClusterError),
    /// The proxies between clients and nodes refused the cut.
    #[error(transparent)]
    Proxy(#[from] crate::net::proxy::ProxyError),
    /// A command on a remote node failed (names the host).
    #[error(transparent)]
    Ssh(#[from] crate::remote::SshError),
    /// A command inside a local member's network namespace (iptables) failed.
    #[error(transparent)]
    Netns(#[from] crate::net::netns::NetnsError),
    /// The runner asked to apply a fault operation the schedule had not planned (a bug).
    #[error("{0} was not planned")]
    NotPlanned(String),
    /// A file could not be corrupted (found, read or written back).
    #[error(transparent)]
    Corrupt(#[from] CorruptError),
    /// Something the repair after the run could not undo (a node that did not restart).
    #[error("{0}")]
    NotRepaired(String),
}

/// Why the system under test is not healed after the run: what is still broken.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotHealed {
    /// A server is down or not ready.
    #[error("{0}")]
    Server(std::sync::Arc<crate::error::ServerError>),
    /// A client could not ask the system whether it healed.
    #[error("{0}")]
    Client(std::sync::Arc<crate::error::ClientError>),
    /// The demo's nodes do not all hear each other.
    #[error(transparent)]
    Deaf(#[from] crate::target::demo::cluster::NotConnected),
    /// A node is still down, paused or cut off (which, and how).
    #[error("{0}")]
    Still(&'static str),
    /// A remote node is still cut off, paused or down, or could not be asked (names the host).
    #[error("{0}")]
    Remote(std::sync::Arc<crate::remote::SshError>),
    /// A packet fault is left on local members' links (a relay still delays, a namespace
    /// still holds a loss rule), or the rules could not be listed.
    #[error("{0}")]
    Packets(std::sync::Arc<crate::net::netns::PacketsLeft>),
    /// The nemesis task failed, so nothing could be healed.
    #[error("the nemesis task failed; nothing could be healed")]
    NemesisFailed,
    /// A node's clock is still off (which file holds what), or could not be read back.
    #[error("{0}")]
    Clock(String),
}

impl From<crate::error::ServerError> for NotHealed {
    fn from(e: crate::error::ServerError) -> Self {
        NotHealed::Server(std::sync::Arc::new(e))
    }
}

impl From<crate::error::ClientError> for NotHealed {
    fn from(e: crate::error::ClientError) -> Self {
        NotHealed::Client(std::sync::Arc::new(e))
    }
}

/// The run report (`--json`) carries the message.
impl serde::Serialize for NotHealed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a target does for the nemesis. Every primitive has a default that refuses
/// ([`NemesisError::Unsupported`]); a target overrides the ones it supports.
#[async_trait::async_trait]
pub trait Primitives: Send + Sync + 'static {
    /// The target's name, for refusals.
    fn target(&self) -> &'static str;
    /// Salt mixed into the seed, so each target draws as it always has.
    fn salt(&self) -> u64 {
        0
    }
    /// Whether an empty fault list records `noop` ops (the demo store's history always has).
    fn idle_noop(&self) -> bool {
        false
    }
    /// Number of nodes.
    fn nodes(&self) -> usize;
    /// A node's name in the history (`n1` for index 0).
    fn node_name(&self, node: usize) -> String {
        format!("n{}", node + 1)
    }
    /// Where `fault` lands this time, drawn from `rng` (`None`: nowhere, so the nemesis ends).
    /// Clock faults are never aimed here: they run on the [`clock::ClockSchedule`].
    fn aim(&mut self, fault: Fault, rng: &mut Rng) -> Option<Aim>;
    /// The node clocks faultline can move (`None`: none; the target's `supports` refuses
    /// clock faults then).
    fn clocks(&self) -> Option<Box<dyn clock::ClockTarget>> {
        None
    }
    /// The number of the first node in this target's grudges (0, or 1 for the demo cluster,
    /// a proxy net and the Maelstrom router).
    fn first_node(&self) -> usize {
        0
    }
    /// The nodes (indices from 0) that lead now (primaries, leaders), for the `primaries`
    /// target set; `None`: the target cannot say (its `supports` refuses `primaries`).
    fn primaries(&self) -> Option<Vec<usize>> {
        None
    }
    /// Hits the traffic to and from `nodes` (indices from 0) as `spec` says.
    async fn packet(&mut self, _nodes: &[usize], _spec: &PacketSpec) -> Result<(), NemesisError> {
        Err(self.unsupported("disturb packets"))
    }
    /// Ends every packet fault.
    async fn heal_packets(&mut self) {}
    /// The files in a node's data directory whose corruption matters (the first is the
    /// default of `--nemesis corrupt`); empty: the target names none and refuses the fault.
    fn corrupt_files(&self) -> Vec<CorruptFile> {
        Vec::new()
    }
    /// SIGKILLs node `node`, then corrupts the file named `file` (one of
    /// [`Primitives::corrupt_files`], found in its data directory now) as `kind` says (flips
    /// drawn from `seed`); the node stays down until [`Primitives::restart`]. Returns what was
    /// done, for the history.
    async fn corrupt(
        &mut self,
        _node: usize,
        _file: &str,
        _kind: CorruptKind,
        _seed: u64,
    ) -> Result<Value, NemesisError> {
        Err(self.unsupported("corrupt a node's files"))
    }
    /// SIGKILLs `nodes` and drops every write to their data not yet fsynced; says, per node,
    /// what was lost (recorded in the completion's `lost`).
    async fn lose_unfsynced(&mut self, _nodes: &[usize]) -> Result<Value, NemesisError> {
        Err(self.unsupported("lose unfsynced writes"))
    }
    /// SIGKILLs a node.
    async fn kill(&mut self, _node: usize) -> Result<(), NemesisError> {
        Err(self.unsupported("kill a node"))
    }
    /// Restarts a killed node and waits until it serves again.
    async fn restart(&mut self, _node: usize) -> Result<(), NemesisError> {
        Err(self.unsupported("restart a node"))
    }
    /// SIGSTOPs a node.
    async fn pause(&mut self, _node: usize) -> Result<(), NemesisError> {
        Err(self.unsupported("pause a node"))
    }
    /// SIGCONTs a paused node.
    async fn resume(&mut self, _node: usize) -> Result<(), NemesisError> {
        Err(self.unsupported("resume a node"))
    }
    /// Cuts links as `grudge` says.
    async fn cut(&mut self, _grudge: &Grudge) -> Result<(), NemesisError> {
        Err(self.unsupported("cut links"))
    }
    /// Heals every cut link.
    async fn heal(&mut self) {}
    /// Called after every stop op (the demo asks who leads now).
    async fn after_stop(&mut self) {}
    /// Undoes anything still broken that the schedule did not know of (the stops of its own
    /// faults were applied already); returns the ops to record and what could not be undone.
    async fn repair(&mut self) -> (Vec<Planned>, Vec<String>) {
        self.heal().await;
        (Vec::new(), Vec::new())
    }
    /// Verifies that everything healed: a message saying so, or what is still broken.
    async fn check_healed(&mut self) -> Result<String, NotHealed>;

    /// The refusal of an unsupported primitive.
    fn unsupported(&self, what: &'static str) -> NemesisError {
        NemesisError::Unsupported {
            target: self.target(),
            what,
        }
    }
}

/// What a planned op does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Cut the network.
    StartPartition(Cut),
    /// Heal the network.
    StopPartition(Cut),
    /// SIGKILL a node.
    Kill(usize),
    /// Restart a killed node.
    Restart(usize),
    /// SIGSTOP a node.
    Pause(usize),
    /// SIGCONT a node.
    Resume(usize),
    /// Disturb packets.
    StartPacket(Box<PacketAim>),
    /// Stop disturbing packets.
    StopPacket(Box<PacketAim>),
    /// Kill a node and corrupt one of its files (its stop is [`Action::Restart`]).
    Corrupt(Box<CorruptAim>),
    /// Kill nodes and drop their unsynced writes.
    LoseUnfsynced(Vec<usize>),
    /// Restart the nodes of a [`Action::LoseUnfsynced`].
    RestartUnfsynced(Vec<usize>),
    /// Nothing (no faults enabled).
    Noop,
}

impl Action {
    /// The start of `fault` aimed at `aim`, if they fit.
    fn start(fault: Fault, aim: Aim) -> Option<Action> {
        Some(match (fault, aim) {
            (Fault::Partition, Aim::Cut(cut)) => Action::StartPartition(*cut),
            (Fault::Kill, Aim::Node(i)) => Action::Kill(i),
            (Fault::Pause, Aim::Node(i)) => Action::Pause(i),
            (Fault::Packet, Aim::Packet(p)) => Action::StartPacket(p),
            (Fault::Corrupt, Aim::Corrupt(c)) => Action::Corrupt(c),
            (Fault::LoseUnfsynced, Aim::Nodes(n)) => Action::LoseUnfsynced(n),
            _ => return None,
        })
    }

    /// The op that ends this one's fault.
    fn stop(&self) -> Option<Action> {
        Some(match self {
            Action::StartPartition(c) => Action::StopPartition(c.clone()),
            Action::Kill(i) => Action::Restart(*i),
            Action::Pause(i) => Action::Resume(*i),
            Action::StartPacket(p) => Action::StopPacket(p.clone()),
            Action::Corrupt(c) => Action::Restart(c.node),
            Action::LoseUnfsynced(n) => Action::RestartUnfsynced(n.clone()),
            _ => return None,
        })
    }

    /// The fault this op starts, if it starts one.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Action::StartPartition(_) => Some(Fault::Partition),
            Action::Kill(_) => Some(Fault::Kill),
            Action::Pause(_) => Some(Fault::Pause),
            Action::StartPacket(_) => Some(Fault::Packet),
            Action::Corrupt(_) => Some(Fault::Corrupt),
            Action::LoseUnfsynced(_) => Some(Fault::LoseUnfsynced),
            _ => None,
        }
    }
}

/// A nemesis op chosen but not yet applied; the runner records it as the invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// What it does.
    pub action: Action,
    /// The node's name, for node ops (names joined by spaces for several nodes).
    name: String,
}

impl Planned {
    /// An op on a target whose nodes are named by `names`.
    pub fn new(action: Action, name: impl Fn(usize) -> String) -> Planned {
        let name = match action {
            Action::Kill(i) | Action::Restart(i) | Action::Pause(i) | Action::Resume(i) => name(i),
            Action::LoseUnfsynced(ref n) | Action::RestartUnfsynced(ref n) => {
                n.iter().map(|&i| name(i)).collect::<Vec<_>>().join(" ")
            }
            _ => String::new(),
        };
        Planned { action, name }
    }

    /// The op's `f` in the history: `start-partition`, `stop-partition`, `kill`, `restart`,
    /// `pause`, `resume`, `start-packet`, `stop-packet`, `corrupt`, `lose-unfsynced`,
    /// `restart-unfsynced` (or `noop` when no faults are enabled).
    pub fn f(&self) -> &'static str {
        match self.action {
            Action::StartPartition(_) => "start-partition",
            Action::StopPartition(_) => "stop-partition",
            Action::Kill(_) => "kill",
            Action::Restart(_) => "restart",
            Action::Pause(_) => "pause",
            Action::Resume(_) => "resume",
            Action::StartPacket(_) => "start-packet",
            Action::StopPacket(_) => "stop-packet",
            Action::Corrupt(_) => "corrupt",
            Action::LoseUnfsynced(_) => "lose-unfsynced",
            Action::RestartUnfsynced(_) => "restart-unfsynced",
            Action::Noop => "noop",
        }
    }

    /// The op's `value` in the history: the target's partition value, the node name (`"n2"`)
    /// for kill/restart/pause/resume, `{"nodes": ["n1", …]}` for lose-unfsynced and
    /// restart-unfsynced, `null` for noop.
    pub fn value(&self) -> Value {
        match &self.action {
            Action::StartPartition(c) => c.value.clone(),
            Action::StopPartition(c) => c.stop_value.clone(),
            Action::StartPacket(p) => p.value.clone(),
            Action::StopPacket(_) => Value::Null,
            Action::Corrupt(c) => c.value.clone(),
            Action::LoseUnfsynced(_) | Action::RestartUnfsynced(_) => {
                json!({"nodes": self.name.split(' ').collect::<Vec<_>>()})
            }
            Action::Noop => Value::Null,
            _ if self.name.is_empty() => Value::Null,
            _ => json!(self.name),
        }
    }

    /// One line for a progress bar: `partition n1 | n2 n3`, `kill n2`, `heal partition`, ….
    pub fn summary(&self) -> String {
        match &self.action {
            Action::StartPartition(c) => c.summary.clone(),
            Action::StopPartition(c) => c.stop_summary.clone(),
            Action::StartPacket(p) => p.summary.clone(),
            Action::StopPacket(_) => "heal packets".to_string(),
            Action::Corrupt(c) => c.summary.clone(),
            Action::LoseUnfsynced(_) => format!("kill + lose unfsynced {}", self.name),
            Action::RestartUnfsynced(_) => format!("restart {}", self.name),
            Action::Noop => "noop".to_string(),
            _ => format!("{} {}", self.f(), self.name).trim_end().to_string(),
        }
    }

    /// The node a kill/restart/pause/resume targets (the target's index).
    pub fn node(&self) -> Option<usize> {
        match self.action {
            Action::Kill(i) | Action::Restart(i) | Action::Pause(i) | Action::Resume(i) => Some(i),
            Action::Corrupt(ref c) => Some(c.node),
            _ => None,
        }
    }

    /// The op as the runner records it.
    pub fn op(&self) -> FaultOp {
        FaultOp {
            f: self.f().to_string(),
            value: self.value(),
            summary: self.summary(),
        }
    }
}

/// The seeded schedule over one target's primitives: plan → apply → heal → verify healed.
///
/// With one fault kind, or several drawn one at a time, there is one *lane*: one fault in
/// effect at a time. [`Schedule::combined`] gives every enabled kind its own lane, its own
/// seeded RNG and its own fault in effect, so kinds overlap (Jepsen's combined nemesis); the
/// runner times each lane on its own ([`Faults::lanes`]).
pub struct Schedule<P: Primitives> {
    target: P,
    faults: Vec<Fault>,
    /// One RNG per lane (lane 0's is the one single-lane schedules always drew from).
    rngs: Vec<Rng>,
    /// Whether each fault kind has its own lane.
    combined: bool,
    /// The target sets partitions and packet faults aim at (`--nemesis-targets`; empty: the
    /// target's own shapes for partitions, every node for packet faults).
    targets: Vec<NodeSet>,
    /// What a packet fault does.
    packet: PacketSpec,
    /// What a file corruption does.
    corrupt: CorruptSpec,
    /// Per lane: the start op whose fault is in effect.
    active: Vec<Option<Action>>,
    /// The planned op awaiting `apply`, with its lane.
    pending: Option<(usize, Planned)>,
    /// The clock faults' own schedule, run alongside this one (taken by the runner).
    clock: Option<clock::ClockSchedule>,
}

impl<P: Primitives> Schedule<P> {
    /// A nemesis injecting `faults` (none: nothing, or noops where the target wants them) into
    /// `target`, its choices determined by `seed`; one fault at a time (see
    /// [`Schedule::combined`]). Clock faults go to a [`clock::ClockSchedule`] of their own
    /// (over the target's [`Primitives::clocks`]), which the runner runs next to this one.
    pub fn new(target: P, faults: Vec<Fault>, seed: u64) -> Schedule<P> {
        let rng = Rng::new(seed ^ target.salt());
        let (clocks, faults): (Vec<Fault>, Vec<Fault>) =
            faults.into_iter().partition(|&f| clock::is_clock(f));
        let clock = match target.clocks() {
            Some(t) if !clocks.is_empty() => Some(clock::ClockSchedule::new(t, clocks, seed)),
            _ => None,
        };
        Schedule {
            target,
            faults,
            rngs: vec![rng],
            combined: false,
            targets: Vec::new(),
            packet: PacketSpec::default(),
            corrupt: CorruptSpec::default(),
            active: vec![None],
            pending: None,
            clock,
        }
    }

    /// Gives every fault kind its own lane (with two or more kinds): each has its own seeded
    /// RNG and its own fault in effect, so different kinds overlap.
    pub fn combined(mut self, seed: u64) -> Schedule<P> {
        if self.faults.len() > 1 {
            self.combined = true;
            let salt = self.target.salt();
            self.rngs = (0..self.faults.len())
                .map(|k| Rng::new(seed ^ salt ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
                .collect();
            self.active = vec![None; self.faults.len()];
        }
        self
    }

    /// Aims partitions and packet faults at these target sets (empty: the defaults).
    pub fn with_targets(mut self, targets: Vec<NodeSet>) -> Schedule<P> {
        self.targets = targets;
        self
    }

    /// What packet faults do.
    pub fn with_packet(mut self, packet: PacketSpec) -> Schedule<P> {
        self.packet = packet;
        self
    }

    /// What file corruptions do.
    pub fn with_corrupt(mut self, corrupt: CorruptSpec) -> Schedule<P> {
        self.corrupt = corrupt;
        self
    }

    /// The target's primitives.
    pub fn target(&self) -> &P {
        &self.target
    }

    fn planned(&self, action: Action) -> Planned {
        Planned::new(action, |i| self.target.node_name(i))
    }

    /// Chooses the next fault of lane 0 (see [`Schedule::plan_fault_in`]).
    pub fn plan_fault(&mut self) -> Option<Planned> {
        self.plan_fault_in(0)
    }

    /// Chooses the next fault of `lane`: a kind among the enabled faults (the lane's own kind
    /// when combined), aimed by the target or by a target set. If the lane's fault is still in
    /// effect it returns that fault's stop instead. `None`: nothing more to do.
    pub fn plan_fault_in(&mut self, lane: usize) -> Option<Planned> {
        if let Some(stop) = self.plan_heal_in(lane) {
            return Some(stop);
        }
        if self.faults.is_empty() {
            return self.target.idle_noop().then(|| self.planned(Action::Noop));
        }
        let fault = if self.combined {
            *self.faults.get(lane)?
        } else {
            self.faults[self.rngs[0].below(self.faults.len() as u64) as usize]
        };
        let aim = self.aim(lane, fault)?;
        Some(self.planned(Action::start(fault, aim)?))
    }

    /// Where `fault` lands: a target set's grudge or nodes, else the target's own aim (when
    /// combined, kills and pauses avoid nodes another lane already holds down).
    fn aim(&mut self, lane: usize, fault: Fault) -> Option<Aim> {
        let n = self.target.nodes();
        match fault {
            Fault::Partition if !self.targets.is_empty() => {
                let rng = &mut self.rngs[lane];
                let set = self.targets[rng.below(self.targets.len() as u64) as usize];
                let primaries = self.target.primaries();
                let (grudge, mut value, mut summary) =
                    match set.partition(n, primaries.as_deref(), rng) {
                        Some(p) => p,
                        // No primary known right now: one random node instead, said so.
                        None if set == NodeSet::Primaries => {
                            let (g, mut v, s) = NodeSet::One.partition(n, None, rng)?;
                            v["kind"] = json!("primaries");
                            v["primaries"] = json!("none known now: one random node");
                            (g, v, format!("{s} (no primary known now)"))
                        }
                        None => return None,
                    };
                let base = self.target.first_node();
                let grudge = grudge.renumbered(0, base);
                value["grudge"] = grudge.json(namer(&self.target, base));
                summary = format!("{summary} [{}]", grudge.describe(namer(&self.target, base)));
                Some(Aim::Cut(Box::new(Cut {
                    grudge,
                    value,
                    stop_value: Value::Null,
                    summary,
                    stop_summary: "heal partition".into(),
                })))
            }
            Fault::Packet => {
                let sets: Vec<NodeSet> = self
                    .targets
                    .iter()
                    .copied()
                    .filter(|s| s.names_nodes())
                    .collect();
                let sets = if sets.is_empty() {
                    vec![NodeSet::All]
                } else {
                    sets
                };
                let rng = &mut self.rngs[lane];
                let set = sets[rng.below(sets.len() as u64) as usize];
                let primaries = self.target.primaries();
                let nodes = set
                    .pick(n, primaries.as_deref(), rng)
                    .or_else(|| NodeSet::One.pick(n, None, rng))?;
                let shown: Vec<String> = nodes.iter().map(|&i| self.target.node_name(i)).collect();
                let mut value = self.packet.value();
                value["targets"] = json!(set.name());
                value["nodes"] = json!(shown);
                let summary = format!(
                    "packet {} on {} ({})",
                    self.packet.describe(),
                    shown.join(" "),
                    set.name()
                );
                Some(Aim::Packet(Box::new(PacketAim {
                    nodes,
                    spec: self.packet,
                    value,
                    summary,
                })))
            }
            Fault::Corrupt => {
                let node = match self.aim_node(lane, fault)? {
                    Aim::Node(i) => i,
                    _ => return None,
                };
                let files = self.target.corrupt_files();
                let file = match &self.corrupt.file {
                    Some(f) => f.clone(),
                    None => files.first()?.name.to_string(),
                };
                let rng = &mut self.rngs[lane];
                let kind = self.corrupt.draw(rng);
                let seed = rng.next_u64();
                let name = self.target.node_name(node);
                let mut value = corrupt::kind_value(kind);
                value["node"] = json!(name);
                value["file"] = json!(file);
                let summary = format!("corrupt {name} {file}: {}", corrupt::describe_kind(kind));
                Some(Aim::Corrupt(Box::new(CorruptAim {
                    node,
                    file,
                    kind,
                    seed,
                    value,
                    summary,
                })))
            }
            Fault::LoseUnfsynced => {
                // The nodes of a target set (`--nemesis-targets`), by default every node: a
                // power cut of the whole cluster, as Jepsen's LazyFS tests do it. When
                // combined, nodes another lane holds down are left out.
                let held = self.held();
                let sets: Vec<NodeSet> = self
                    .targets
                    .iter()
                    .copied()
                    .filter(|s| s.names_nodes())
                    .collect();
                let sets = if sets.is_empty() {
                    vec![NodeSet::All]
                } else {
                    sets
                };
                let rng = &mut self.rngs[lane];
                let set = sets[rng.below(sets.len() as u64) as usize];
                let primaries = self.target.primaries();
                let mut nodes = set
                    .pick(n, primaries.as_deref(), rng)
                    .or_else(|| NodeSet::One.pick(n, None, rng))?;
                nodes.retain(|i| !held.contains(i));
                nodes.sort_unstable();
                (!nodes.is_empty()).then_some(Aim::Nodes(nodes))
            }
            Fault::Kill | Fault::Pause if self.combined => self.aim_node(lane, fault),
            _ => {
                let aim = self.target.aim(fault, &mut self.rngs[lane])?;
                Some(match aim {
                    // Every partition is recorded with its grudge.
                    Aim::Cut(mut cut) => {
                        let base = self.target.first_node();
                        let own = cut.value.get("grudge").is_some();
                        if cut.value.is_object() && !own {
                            cut.value["grudge"] = cut.grudge.json(namer(&self.target, base));
                        }
                        if !cut.grudge.0.is_empty() && !own {
                            cut.summary = format!(
                                "{} [{}]",
                                cut.summary,
                                cut.grudge.describe(namer(&self.target, base))
                            );
                        }
                        Aim::Cut(cut)
                    }
                    other => other,
                })
            }
        }
    }

    /// The nodes some lane holds down now (killed, paused, corrupted, or lost their unsynced
    /// writes).
    fn held(&self) -> Vec<usize> {
        self.active
            .iter()
            .flatten()
            .flat_map(|a| match a {
                Action::Kill(i) | Action::Pause(i) => vec![*i],
                Action::Corrupt(c) => vec![c.node],
                Action::LoseUnfsynced(n) => n.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// A node for a kill, pause or corruption of `lane`, drawn by the target; when combined,
    /// never a node another lane holds down (killed, paused, corrupted, or lost its
    /// unsynced writes).
    fn aim_node(&mut self, lane: usize, fault: Fault) -> Option<Aim> {
        let held: Vec<usize> = if self.combined {
            self.held()
        } else {
            Vec::new()
        };
        let mut aim = None;
        for _ in 0..8 {
            aim = self.target.aim(fault, &mut self.rngs[lane]);
            match &aim {
                Some(Aim::Node(i)) if held.contains(i) => continue,
                _ => break,
            }
        }
        match aim {
            Some(Aim::Node(i)) if held.contains(&i) => None,
            other => other,
        }
    }

    /// The op that ends the fault of lane 0, if any.
    pub fn plan_heal(&self) -> Option<Planned> {
        self.plan_heal_in(0)
    }

    /// The op that ends the fault in effect in `lane`, if any.
    pub fn plan_heal_in(&self, lane: usize) -> Option<Planned> {
        Some(self.planned(self.active.get(lane)?.as_ref()?.stop()?))
    }

    /// Carries out a planned op of lane 0.
    pub async fn perform(&mut self, planned: &Planned) -> Result<Value, NemesisError> {
        self.perform_in(0, planned).await
    }

    /// Carries out a planned op of `lane`; returns the completion value to record (the planned
    /// value).
    pub async fn perform_in(
        &mut self,
        lane: usize,
        planned: &Planned,
    ) -> Result<Value, NemesisError> {
        let t = &mut self.target;
        let mut done = None;
        let mut value = planned.value();
        match &planned.action {
            Action::Corrupt(c) => done = Some(t.corrupt(c.node, &c.file, c.kind, c.seed).await?),
            Action::StartPartition(c) => t.cut(&c.grudge).await?,
            Action::StopPartition(_) => t.heal().await,
            Action::Kill(i) => t.kill(*i).await?,
            Action::Restart(i) => t.restart(*i).await?,
            Action::Pause(i) => t.pause(*i).await?,
            Action::Resume(i) => t.resume(*i).await?,
            Action::StartPacket(p) => t.packet(&p.nodes, &p.spec).await?,
            Action::StopPacket(_) => t.heal_packets().await,
            Action::LoseUnfsynced(n) => value["lost"] = t.lose_unfsynced(n).await?,
            Action::RestartUnfsynced(n) => {
                for &i in n {
                    t.restart(i).await?;
                }
            }
            Action::Noop => return Ok(Value::Null),
        }
        let slot = self.active.get_mut(lane);
        if planned.action.fault().is_some() {
            if let Some(slot) = slot {
                *slot = Some(planned.action.clone());
            }
        } else {
            if let Some(slot) = slot {
                *slot = None;
            }
            self.target.after_stop().await;
        }
        if let (Some(Value::Object(done)), Value::Object(v)) = (done, &mut value) {
            v.extend(done);
        }
        Ok(value)
    }

    /// The summary of the faults in effect, if any (` + ` between lanes).
    pub fn current(&self) -> Option<String> {
        let now: Vec<String> = self
            .active
            .iter()
            .flatten()
            .map(|a| self.planned(a.clone()).summary())
            .collect();
        (!now.is_empty()).then(|| now.join(" + "))
    }

    /// Undoes everything still broken: the stop of every fault in effect, then whatever the
    /// target finds broken besides. Returns the ops performed, with their results.
    pub async fn heal_everything(&mut self) -> Vec<(Planned, Result<Value, NemesisError>)> {
        let mut out = Vec::new();
        for lane in 0..self.active.len() {
            if let Some(stop) = self.plan_heal_in(lane) {
                let r = self.perform_in(lane, &stop).await;
                out.push((stop, r));
            }
            self.active[lane] = None;
        }
        self.target.heal_packets().await;
        let (ops, errors) = self.target.repair().await;
        out.extend(ops.into_iter().map(|p| {
            let v = p.value();
            (p, Ok(v))
        }));
        for e in errors {
            // A node that could not be restarted: recorded as a failed `restart` of no node.
            let p = Planned {
                action: Action::Restart(0),
                name: String::new(),
            };
            out.push((p, Err(NemesisError::NotRepaired(e))));
        }
        out
    }
}

/// Names the target's node `k` of a grudge numbered from `base`.
fn namer<P: Primitives>(t: &P, base: usize) -> impl Fn(usize) -> String + '_ {
    move |k: usize| t.node_name(k.saturating_sub(base))
}

impl<P: Primitives> Faults for Schedule<P> {
    fn lanes(&self) -> usize {
        self.active.len()
    }

    fn plan_start(&mut self) -> Option<FaultOp> {
        self.plan_start_in(0)
    }

    fn plan_stop(&mut self) -> Option<FaultOp> {
        self.plan_stop_in(0)
    }

    fn plan_start_in(&mut self, lane: usize) -> Option<FaultOp> {
        let planned = self.plan_fault_in(lane)?;
        let op = planned.op();
        self.pending = Some((lane, planned));
        Some(op)
    }

    fn plan_stop_in(&mut self, lane: usize) -> Option<FaultOp> {
        let planned = self.plan_heal_in(lane)?;
        let op = planned.op();
        self.pending = Some((lane, planned));
        Some(op)
    }

    async fn apply(&mut self, op: &FaultOp) -> Result<Value, NemesisError> {
        match self.pending.take() {
            Some((lane, p)) => self.perform_in(lane, &p).await,
            None => Err(NemesisError::NotPlanned(op.f.to_string())),
        }
    }

    async fn heal_all(&mut self) -> Vec<(FaultOp, Result<Value, NemesisError>)> {
        self.heal_everything()
            .await
            .into_iter()
            .map(|(p, r)| (p.op(), r))
            .collect()
    }

    async fn verify_healed(&mut self) -> Result<String, NotHealed> {
        self.target.check_healed().await
    }

    fn take_clock(&mut self) -> Option<clock::ClockSchedule> {
        self.clock.take()
    }
}

/// The primitives of one of two shapes of a target (PostgreSQL alone or with replicas).
#[async_trait::async_trait]
impl<A: Primitives, B: Primitives> Primitives for crate::client::Either<A, B> {
    fn target(&self) -> &'static str {
        either!(self, p => p.target())
    }
    fn salt(&self) -> u64 {
        either!(self, p => p.salt())
    }
    fn idle_noop(&self) -> bool {
        either!(self, p => p.idle_noop())
    }
    fn nodes(&self) -> usize {
        either!(self, p => p.nodes())
    }
    fn node_name(&self, node: usize) -> String {
        either!(self, p => p.node_name(node))
    }
    fn aim(&mut self, fault: Fault, rng: &mut Rng) -> Option<Aim> {
        either!(self, p => p.aim(fault, rng))
    }
    fn clocks(&self) -> Option<Box<dyn clock::ClockTarget>> {
        either!(self, p => p.clocks())
    }
    fn first_node(&self) -> usize {
        either!(self, p => p.first_node())
    }
    fn primaries(&self) -> Option<Vec<usize>> {
        either!(self, p => p.primaries())
    }
    async fn packet(&mut self, nodes: &[usize], spec: &PacketSpec) -> Result<(), NemesisError> {
        either!(self, p => p.packet(nodes, spec).await)
    }
    async fn heal_packets(&mut self) {
        either!(self, p => p.heal_packets().await)
    }
    fn corrupt_files(&self) -> Vec<CorruptFile> {
        either!(self, p => p.corrupt_files())
    }
    async fn corrupt(
        &mut self,
        node: usize,
        file: &str,
        kind: CorruptKind,
        seed: u64,
    ) -> Result<Value, NemesisError> {
        either!(self, p => p.corrupt(node, file, kind, seed).await)
    }
    async fn lose_unfsynced(&mut self, nodes: &[usize]) -> Result<Value, NemesisError> {
        either!(self, p => p.lose_unfsynced(nodes).await)
    }
    async fn kill(&mut self, node: usize) -> Result<(), NemesisError> {
        either!(self, p => p.kill(node).await)
    }
    async fn restart(&mut self, node: usize) -> Result<(), NemesisError> {
        either!(self, p => p.restart(node).await)
    }
    async fn pause(&mut self, node: usize) -> Result<(), NemesisError> {
        either!(self, p => p.pause(node).await)
    }
    async fn resume(&mut self, node: usize) -> Result<(), NemesisError> {
        either!(self, p => p.resume(node).await)
    }
    async fn cut(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        either!(self, p => p.cut(grudge).await)
    }
    async fn heal(&mut self) {
        either!(self, p => p.heal().await)
    }
    async fn after_stop(&mut self) {
        either!(self, p => p.after_stop().await)
    }
    async fn repair(&mut self) -> (Vec<Planned>, Vec<String>) {
        either!(self, p => p.repair().await)
    }
    async fn check_healed(&mut self) -> Result<String, NotHealed> {
        either!(self, p => p.check_healed().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the catalog ⨉ clock merge: every named fault, packet and the clock faults
    /// included, parses back from its own name, and `clock` still expands to the three.
    #[test]
    fn every_named_fault_parses_from_its_name_with_packet_and_clock_faults_together() {
        for f in Fault::NAMED {
            assert_eq!(Fault::parse_list(f.name()), Ok(vec![f]));
        }
        assert_eq!(
            Fault::parse_list("packet,clock"),
            Ok(vec![
                Fault::Packet,
                Fault::ClockBump,
                Fault::ClockStrobe,
                Fault::ClockSkew
            ])
        );
        assert!(matches!(
            Fault::parse_list("clocks"),
            Err(FaultListError::Unknown(_))
        ));
    }
}
