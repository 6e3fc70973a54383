//! Sync mode: a Raft-style replicated log that makes the demo store linearizable.
//!
//! Run side only. This file holds the node's entry points (client commands, peer messages,
//! timers, `/health`); the protocol state and its rules are in [`super::raft_core`]. Writes,
//! cas, append and txn are log entries answered after commit and apply; reads use read-index
//! (leadership confirmed by a majority round after the read arrived, answered once applied up
//! to the commit index seen on arrival). Followers forward clients to the leader.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::{oneshot, Notify};

use super::forward::Forwarder;
use super::kv::{Cmd, Reply};
use super::link::Links;
use super::msg::Msg;
use super::raft_core::{Core, PendingRead, Role};
use super::storage::Storage;

/// How long the leader waits for a proposal to commit (or a read to be confirmed).
const PROPOSE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Leader heartbeat (empty append) period.
const HEARTBEAT: Duration = Duration::from_millis(50);
/// Timer resolution for elections and leader checks.
const TICK: Duration = Duration::from_millis(10);

/// One sync-mode replica.
pub struct Raft {
    core: Mutex<Core>,
    links: Arc<Links>,
    kick: Notify,
    fwd: Forwarder,
}

impl Raft {
    /// Recovers node `me`'s durable state from `dir`; nothing runs until [`Raft::start`].
    /// With `lease`, the leader answers reads alone while its lease holds (lease mode).
    pub fn new(
        me: usize,
        dir: &Path,
        links: Arc<Links>,
        lease: bool,
        fsync: crate::Fsync,
    ) -> Result<Arc<Raft>, String> {
        let (storage, recovered) = Storage::open(dir, fsync)?;
        eprintln!(
            "n{me}: {} mode (fsync {}), recovered term {} vote {:?} and {} log entries",
            if lease { "lease" } else { "sync" },
            if fsync == crate::Fsync::Always {
                "always"
            } else {
                "never"
            },
            recovered.term,
            recovered.vote,
            recovered.entries.len()
        );
        let core = Core::new(me, links.clone(), storage, recovered, lease);
        Ok(Arc::new(Raft {
            core: Mutex::new(core),
            links,
            kick: Notify::new(),
            fwd: Forwarder::default(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawns the election timer and the replicator on the current runtime.
    pub fn start(self: &Arc<Self>) {
        let raft = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            loop {
                tick.tick().await;
                if raft.lock().tick(Instant::now()) {
                    raft.kick.notify_one();
                }
            }
        });
        let raft = self.clone();
        tokio::spawn(async move {
            let mut beat = tokio::time::interval(HEARTBEAT);
            loop {
                tokio::select! {
                    _ = raft.kick.notified() => {}
                    _ = beat.tick() => {}
                }
                raft.lock().broadcast();
            }
        });
    }

    /// Handles one message from peer `from`.
    pub fn on_msg(self: &Arc<Self>, from: usize, msg: Msg) {
        match msg {
            Msg::Forward { id, cmd } => {
                let raft = self.clone();
                tokio::spawn(async move {
                    let reply = raft.submit(cmd).await;
                    raft.links.send(from, &Msg::Answer { id, reply });
                });
            }
            Msg::Answer { id, reply } => self.fwd.answer(id, reply),
            other => {
                if self.lock().on_msg(from, other) {
                    self.kick.notify_one();
                }
            }
        }
    }

    /// Runs a client command: locally on the leader, forwarded from a follower, 503 if no
    /// leader is known.
    pub async fn handle(self: &Arc<Self>, cmd: Cmd) -> Reply {
        let (role, leader) = {
            let core = self.lock();
            (core.role, core.leader)
        };
        match (role, leader) {
            (Role::Leader, _) => self.submit(cmd).await,
            (_, Some(leader)) => self.fwd.forward(&self.links, leader, cmd).await,
            (_, None) => Reply::unavailable("no leader known"),
        }
    }

    /// Runs a client command on this node if it leads; 503 (nothing proposed) otherwise.
    pub async fn submit(self: &Arc<Self>, cmd: Cmd) -> Reply {
        let (tx, rx) = oneshot::channel();
        {
            let mut core = self.lock();
            if core.role != Role::Leader {
                return Reply::unavailable("not the leader");
            }
            if let Cmd::Read { key } = cmd {
                if let Some(reply) = core.lease_read(&key) {
                    return reply;
                }
                let read = PendingRead {
                    read_index: core.commit.max(core.noop_index),
                    need_seq: core.seq + 1,
                    key,
                    tx,
                };
                core.reads.push(read);
                core.serve_reads();
            } else {
                core.propose(cmd, tx);
            }
        }
        self.kick.notify_one();
        match tokio::time::timeout(PROPOSE_TIMEOUT, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Reply::unknown("the proposal was superseded before it could be answered"),
            Err(_) => Reply::timeout(),
        }
    }

    /// The `/health` body.
    pub fn health(&self) -> Value {
        let core = self.lock();
        let mut peers = Map::new();
        for id in self.links.peers() {
            peers.insert(
                id.to_string(),
                json!({"last_heard_ms": self.links.last_heard_ms(id)}),
            );
        }
        let role = match core.role {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
        };
        let mut health = json!({
            "node": core.me,
            "mode": if core.lease.is_some() { "lease" } else { "sync" },
            "wall_clock_ms": wall_clock_ms(),
            "role": role,
            "term": core.term,
            "leader": core.leader,
            "commit": core.commit,
            "last_index": core.last_index(),
            "applied": core.applied,
            "peers": peers,
        });
        if let Some(lease) = &core.lease {
            health["lease"] = json!(lease.holds());
        }
        health
    }
}

/// This node's wall clock (`SystemTime`) in ms since the epoch, as `/health` reports it: the
/// clock lease mode trusts, so a test can see a clock fault reach the process.
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
