//! Nemeses: real faults (partition, kill, pause) planned from a seed, applied to a
//! [`Cluster`], and always healed.
//!
//! Part of the "run" step of run → check → report. The runner drives a [`Nemesis`] in two
//! phases so the history shows each fault as an invocation and a completion on the `nemesis`
//! process: [`Nemesis::plan_start`] / [`Nemesis::plan_stop`] choose what to do (a [`Planned`]
//! op the runner records as invoked), [`Nemesis::apply`] does it and returns the completion
//! value. [`Nemesis::heal_all`] undoes whatever is still broken at the end of a run, on error
//! and on Ctrl-C. See `docs/nemesis.md`.

mod partition;

use std::sync::Arc;
use std::time::Duration;

use checkers::Rng;
use serde_json::{json, Value};

use crate::cluster::{Cluster, ClusterError};

pub use partition::{Partition, PartitionKind};

/// How long the nemesis asks `/health` who leads.
const LEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Cut the network between groups of nodes (TCP blackhole in the link proxies).
    Partition,
    /// SIGKILL a node, restart it later on the same ports and data directory.
    Kill,
    /// SIGSTOP a node, SIGCONT it later.
    Pause,
}

impl Fault {
    /// Every fault, in `all` order.
    pub const ALL: [Fault; 3] = [Fault::Partition, Fault::Kill, Fault::Pause];

    /// The fault's name: `partition`, `kill`, `pause`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
        }
    }

    /// Parses a `--nemesis` list: comma-separated names (`partition,kill,pause`), `none` (no
    /// faults) or `all`. Duplicates count once; order is kept.
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, String> {
        match text.trim() {
            "none" => return Ok(Vec::new()),
            "all" => return Ok(Fault::ALL.to_vec()),
            _ => {}
        }
        let mut faults = Vec::new();
        for word in text.split(',').map(str::trim) {
            let fault = Fault::ALL
                .into_iter()
                .find(|f| f.name() == word)
                .ok_or_else(|| {
                    format!(
                        "unknown nemesis {word:?} in {text:?} (expected a comma-separated list \
                         of partition, kill, pause; or none; or all)"
                    )
                })?;
            if !faults.contains(&fault) {
                faults.push(fault);
            }
        }
        Ok(faults)
    }
}

/// Why applying a planned op failed.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// The cluster refused or failed the operation.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// What a planned op does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Cut the network.
    StartPartition(Partition),
    /// Heal the network.
    StopPartition,
    /// SIGKILL a node.
    Kill(usize),
    /// Restart a killed node.
    Restart(usize),
    /// SIGSTOP a node.
    Pause(usize),
    /// SIGCONT a node.
    Resume(usize),
    /// Nothing (no faults enabled).
    Noop,
}

/// A nemesis op chosen but not yet applied; the runner records it as the invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    action: Action,
}

impl Planned {
    /// The op's `f` in the history: `start-partition`, `stop-partition`, `kill`, `restart`,
    /// `pause`, `resume` (or `noop` when no faults are enabled).
    pub fn f(&self) -> &str {
        match self.action {
            Action::StartPartition(_) => "start-partition",
            Action::StopPartition => "stop-partition",
            Action::Kill(_) => "kill",
            Action::Restart(_) => "restart",
            Action::Pause(_) => "pause",
            Action::Resume(_) => "resume",
            Action::Noop => "noop",
        }
    }

    /// The op's `value` in the history: the partition (see [`Partition::value`]), the node
    /// name (`"n2"`) for kill/restart/pause/resume, `null` for stop-partition and noop.
    pub fn value(&self) -> Value {
        match &self.action {
            Action::StartPartition(p) => p.value(),
            Action::Kill(i) | Action::Restart(i) | Action::Pause(i) | Action::Resume(i) => {
                json!(format!("n{i}"))
            }
            Action::StopPartition | Action::Noop => Value::Null,
        }
    }

    /// One line for a progress bar: `partition n1 | n2 n3`, `kill n2`, `heal partition`, ….
    pub fn summary(&self) -> String {
        match &self.action {
            Action::StartPartition(p) => p.summary(),
            Action::StopPartition => "heal partition".to_string(),
            Action::Noop => "noop".to_string(),
            Action::Kill(i) | Action::Restart(i) | Action::Pause(i) | Action::Resume(i) => {
                format!("{} n{i}", self.f())
            }
        }
    }

    /// The node a kill/restart/pause/resume targets.
    pub fn node(&self) -> Option<usize> {
        match self.action {
            Action::Kill(i) | Action::Restart(i) | Action::Pause(i) | Action::Resume(i) => Some(i),
            _ => None,
        }
    }

    /// The partition a start-partition cuts.
    pub fn partition(&self) -> Option<&Partition> {
        match &self.action {
            Action::StartPartition(p) => Some(p),
            _ => None,
        }
    }
}

/// Plans and applies faults on one cluster, one fault at a time, from a seeded RNG.
pub struct Nemesis {
    cluster: Arc<Cluster>,
    faults: Vec<Fault>,
    rng: Rng,
    /// The start op whose fault is in effect.
    active: Option<Action>,
    /// The leader last seen in `/health`, to aim kills and pauses at it half of the time.
    leader: Option<usize>,
    /// Why the last `heal_all` could not restart some node.
    heal_errors: Vec<String>,
}

impl Nemesis {
    /// A nemesis injecting `faults` (none: every plan is a noop) into `cluster`, its choices
    /// determined by `seed`.
    pub fn new(cluster: Arc<Cluster>, faults: Vec<Fault>, seed: u64) -> Nemesis {
        Nemesis {
            cluster,
            faults,
            rng: Rng::new(seed),
            active: None,
            leader: None,
            heal_errors: Vec::new(),
        }
    }

    /// Chooses the next fault: a kind among the enabled faults and a target (a partition shape,
    /// or a node — the last known leader half of the time). If a fault is still in effect it
    /// returns that fault's stop instead (one fault at a time); with no faults enabled, a noop.
    pub fn plan_start(&mut self) -> Planned {
        if let Some(stop) = self.plan_stop() {
            return stop;
        }
        if self.faults.is_empty() {
            return Planned {
                action: Action::Noop,
            };
        }
        let n = self.cluster.nodes();
        let fault = self.faults[self.rng.below(self.faults.len() as u64) as usize];
        let action = match fault {
            Fault::Partition => {
                let kinds = PartitionKind::ALL;
                let kind = kinds[self.rng.below(kinds.len() as u64) as usize];
                Action::StartPartition(Partition::plan(kind, n, &mut self.rng))
            }
            Fault::Kill => Action::Kill(self.target(n)),
            Fault::Pause => Action::Pause(self.target(n)),
        };
        Planned { action }
    }

    /// The op that ends the fault in effect, if any.
    pub fn plan_stop(&self) -> Option<Planned> {
        let action = match self.active.as_ref()? {
            Action::StartPartition(_) => Action::StopPartition,
            Action::Kill(i) => Action::Restart(*i),
            Action::Pause(i) => Action::Resume(*i),
            _ => return None,
        };
        Some(Planned { action })
    }

    /// Carries out a planned op and returns the completion value to record (the planned
    /// value). After a stop it asks `/health` who leads, for later targeting.
    pub async fn apply(&mut self, planned: &Planned) -> Result<Value, NemesisError> {
        match &planned.action {
            Action::StartPartition(p) => self.cluster.partition(&p.blocked)?,
            Action::StopPartition => self.cluster.heal_network(),
            Action::Kill(i) => self.cluster.kill(*i).await?,
            Action::Restart(i) => self.cluster.restart(*i).await?,
            Action::Pause(i) => self.cluster.pause(*i)?,
            Action::Resume(i) => self.cluster.resume(*i)?,
            Action::Noop => return Ok(Value::Null),
        }
        match &planned.action {
            Action::StartPartition(_) | Action::Kill(_) | Action::Pause(_) => {
                self.active = Some(planned.action.clone());
            }
            _ => {
                self.active = None;
                self.refresh_leader().await;
            }
        }
        Ok(planned.value())
    }

    /// The summary of the fault in effect, if any.
    pub fn current(&self) -> Option<String> {
        self.active
            .clone()
            .map(|action| Planned { action }.summary())
    }

    /// Whether some link is cut right now (asked of the cluster, so it is true however the cut
    /// was made).
    pub fn is_partitioned(&self) -> bool {
        !self.cluster.blocked().is_empty()
    }

    /// Undoes everything still broken (delegating to [`Cluster::heal_all`]) and returns the ops
    /// it performed — stop-partition, resume, restart — already applied, for the runner to
    /// record. Nodes it could not restart are in [`Nemesis::heal_errors`].
    pub async fn heal_all(&mut self) -> Vec<Planned> {
        let healed = self.cluster.heal_all().await;
        self.active = None;
        self.heal_errors = healed.errors;
        let mut done = Vec::new();
        if !healed.partition.is_empty() {
            done.push(Action::StopPartition);
        }
        done.extend(healed.resumed.into_iter().map(Action::Resume));
        done.extend(healed.restarted.into_iter().map(Action::Restart));
        done.into_iter().map(|action| Planned { action }).collect()
    }

    /// Why the last [`Nemesis::heal_all`] could not restart some nodes (empty if it could).
    pub fn heal_errors(&self) -> &[String] {
        &self.heal_errors
    }

    /// Asks every node's `/health` who leads and remembers it for targeting.
    pub async fn refresh_leader(&mut self) {
        self.leader = self.cluster.leader(LEADER_TIMEOUT).await;
    }

    /// The leader last seen, if any.
    pub fn leader(&self) -> Option<usize> {
        self.leader
    }

    /// A node to kill or pause: the known leader half of the time, else a random node.
    fn target(&mut self, n: usize) -> usize {
        match self.leader {
            Some(leader) if leader <= n && self.rng.below(2) == 0 => leader,
            _ => 1 + self.rng.below(n as u64) as usize,
        }
    }
}
