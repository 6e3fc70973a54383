//! Async mode: primary/backup replication that acknowledges before replicating. Deliberately
//! not linearizable — it is the demo store faultline is meant to catch.
//!
//! Run side only. The primary applies and answers writes at once and ships them to followers in
//! batches every [`REPLICATE_EVERY`]; followers serve reads from their own copy (stale reads even
//! without faults) and forward everything else to the primary. A follower that has not heard
//! from the primary for [`FAILOVER_AFTER`] promotes the lowest-id node it can still reach (itself
//! if alone) under a higher epoch, without any quorum: under a partition both sides accept writes.
//! When they meet again the highest epoch `(number, primary id)` wins and every other node takes
//! its snapshot, discarding whatever it had not replicated (lost writes). Nothing is persisted:
//! a restarted node comes back empty, without an epoch, and follows whoever is primary.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::forward::Forwarder;
use super::kv::{Cmd, Kv, Reply};
use super::link::Links;
use super::msg::{Epoch, Msg};

/// How often the primary ships new ops (and every node sends its state).
pub const REPLICATE_EVERY: Duration = Duration::from_millis(30);
/// Silence from the primary after which a follower fails over.
pub const FAILOVER_AFTER: Duration = Duration::from_millis(1000);
/// A peer heard from within this long counts as reachable when choosing a new primary.
const REACHABLE: Duration = Duration::from_millis(300);
/// Least time between two snapshots to the same follower.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(200);
/// Most ops in one replicate message.
const MAX_BATCH: usize = 8192;

struct State {
    me: usize,
    epoch: Epoch,
    max_seen: Epoch,
    kv: Kv,
    /// Ops of the current epoch applied here (the primary's op count).
    seq: u64,
    /// Whether this node holds the epoch's base state.
    synced: bool,
    /// The primary's ops of its epoch.
    ops: Vec<Cmd>,
    /// What each follower reported: `(seq, synced)` in the primary's epoch.
    acked: HashMap<usize, (u64, bool)>,
    snapshot_at: HashMap<usize, Instant>,
    last_primary: Instant,
}

impl State {
    fn is_primary(&self) -> bool {
        self.epoch.1 == self.me
    }

    /// Follows epoch `epoch` (a higher one than ours), dropping un-replicated state.
    fn adopt(&mut self, epoch: Epoch) {
        if self.is_primary() {
            eprintln!(
                "n{}: primary of {:?} yields to {:?}",
                self.me, self.epoch, epoch
            );
        } else {
            eprintln!("n{}: following n{} in epoch {:?}", self.me, epoch.1, epoch);
        }
        self.epoch = epoch;
        self.max_seen = self.max_seen.max(epoch);
        self.seq = 0;
        self.synced = false;
        self.ops.clear();
        self.acked.clear();
        self.last_primary = Instant::now();
    }
}

/// One async-mode replica.
pub struct Primary {
    state: Mutex<State>,
    links: Arc<Links>,
    fwd: Forwarder,
}

impl Primary {
    /// Node `me`: on a first start node 1 is primary of epoch `(1, 1)` and the others follow it;
    /// on a restart (a marker in `dir` exists) the node has no epoch and waits to be told.
    pub fn new(me: usize, dir: &Path, links: Arc<Links>) -> Result<Arc<Primary>, String> {
        let marker = dir.join("async-started");
        let restarted = marker.exists();
        std::fs::write(&marker, b"").map_err(|e| format!("{}: {e}", marker.display()))?;
        let epoch = if restarted { (0, 0) } else { (1, 1) };
        eprintln!("n{me}: async mode, epoch {epoch:?} (restarted: {restarted})");
        let state = State {
            me,
            epoch,
            max_seen: epoch,
            kv: Kv::default(),
            seq: 0,
            synced: !restarted,
            ops: Vec::new(),
            acked: HashMap::new(),
            snapshot_at: HashMap::new(),
            last_primary: Instant::now(),
        };
        Ok(Arc::new(Primary {
            state: Mutex::new(state),
            links,
            fwd: Forwarder::default(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawns the replication and failover timer.
    pub fn start(self: &Arc<Self>) {
        let node = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REPLICATE_EVERY);
            loop {
                tick.tick().await;
                node.tick();
            }
        });
    }

    fn tick(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        let state = Msg::State {
            epoch: s.epoch,
            seq: s.seq,
            synced: s.synced,
        };
        for p in self.links.peers() {
            self.links.send(p, &state);
        }
        if s.is_primary() {
            for p in self.links.peers() {
                match s.acked.get(&p).copied() {
                    Some((seq, true)) if seq < s.seq => {
                        let from = seq as usize;
                        let end = s.ops.len().min(from + MAX_BATCH);
                        let msg = Msg::Replicate {
                            epoch: s.epoch,
                            from: seq,
                            ops: s.ops[from..end].to_vec(),
                        };
                        self.links.send(p, &msg);
                    }
                    Some((_, true)) => {}
                    _ => {
                        let due = s
                            .snapshot_at
                            .get(&p)
                            .map_or(true, |t| now - *t >= SNAPSHOT_EVERY);
                        if due && s.acked.contains_key(&p) {
                            s.snapshot_at.insert(p, now);
                            let msg = Msg::Snapshot {
                                epoch: s.epoch,
                                seq: s.seq,
                                data: s.kv.snapshot(),
                            };
                            self.links.send(p, &msg);
                        }
                    }
                }
            }
        } else if now - s.last_primary > FAILOVER_AFTER {
            let old = s.epoch.1;
            let lowest = self
                .links
                .peers()
                .into_iter()
                .filter(|&p| p != old && self.links.heard_within(p, REACHABLE))
                .chain([s.me])
                .min()
                .unwrap_or(s.me);
            if lowest == s.me {
                let epoch = (s.max_seen.0.max(s.epoch.0) + 1, s.me);
                eprintln!(
                    "n{}: no primary for {FAILOVER_AFTER:?}, promoting myself in {epoch:?}",
                    s.me
                );
                s.epoch = epoch;
                s.max_seen = epoch;
                s.seq = 0;
                s.synced = true;
                s.ops.clear();
                s.acked.clear();
                s.snapshot_at.clear();
            }
        }
    }

    /// Handles one message from peer `from`.
    pub fn on_msg(self: &Arc<Self>, from: usize, msg: Msg) {
        match msg {
            Msg::Forward { id, cmd } => {
                let node = self.clone();
                tokio::spawn(async move {
                    let reply = node.local(cmd, true);
                    node.links.send(from, &Msg::Answer { id, reply });
                });
            }
            Msg::Answer { id, reply } => self.fwd.answer(id, reply),
            Msg::State { epoch, seq, synced } => {
                let mut s = self.lock();
                s.max_seen = s.max_seen.max(epoch);
                if epoch > s.epoch && epoch.1 != s.me {
                    s.adopt(epoch);
                }
                if epoch == s.epoch {
                    if from == epoch.1 {
                        s.last_primary = Instant::now();
                    }
                    if s.is_primary() {
                        s.acked.insert(from, (seq, synced));
                    }
                }
            }
            Msg::Replicate {
                epoch,
                from: first,
                ops,
            } => {
                let mut s = self.lock();
                if epoch > s.epoch && epoch.1 != s.me {
                    s.adopt(epoch);
                }
                if epoch != s.epoch || from != epoch.1 {
                    return;
                }
                s.last_primary = Instant::now();
                let end = first + ops.len() as u64;
                if s.synced && first <= s.seq && s.seq < end {
                    for cmd in &ops[(s.seq - first) as usize..] {
                        s.kv.apply(cmd);
                    }
                    s.seq = end;
                }
            }
            Msg::Snapshot { epoch, seq, data } => {
                let mut s = self.lock();
                if epoch > s.epoch && epoch.1 != s.me {
                    s.adopt(epoch);
                }
                if epoch != s.epoch || from != epoch.1 || s.is_primary() {
                    return;
                }
                s.last_primary = Instant::now();
                if !s.synced || seq > s.seq {
                    s.kv = Kv::from_snapshot(data);
                    s.seq = seq;
                    s.synced = true;
                }
            }
            _ => {}
        }
    }

    /// Runs a command here: the primary applies it at once; a follower reads locally and
    /// (unless `forwarded`, which means it was already sent on once) forwards the rest.
    fn local(&self, cmd: Cmd, forwarded: bool) -> Reply {
        let mut s = self.lock();
        if s.is_primary() {
            let reply = s.kv.apply(&cmd);
            if !cmd.is_read() {
                s.ops.push(cmd);
                s.seq += 1;
            }
            return reply;
        }
        if let (Cmd::Read { key }, false) = (&cmd, forwarded) {
            return s.kv.read(key);
        }
        Reply::unavailable("not the primary")
    }

    /// Runs a client command: reads from the local copy, the rest on (or via) the primary.
    pub async fn handle(self: &Arc<Self>, cmd: Cmd) -> Reply {
        let primary = {
            let s = self.lock();
            (!s.is_primary() && !cmd.is_read()).then_some(s.epoch.1)
        };
        match primary {
            None => self.local(cmd, false),
            Some(0) => Reply::unavailable("no primary known"),
            Some(p) => self.fwd.forward(&self.links, p, cmd).await,
        }
    }

    /// The `/health` body.
    pub fn health(&self) -> Value {
        let s = self.lock();
        let mut peers = Map::new();
        for id in self.links.peers() {
            peers.insert(
                id.to_string(),
                json!({"last_heard_ms": self.links.last_heard_ms(id)}),
            );
        }
        json!({
            "node": s.me,
            "mode": "async",
            "role": if s.is_primary() { "leader" } else { "follower" },
            "term": s.epoch.0,
            "leader": if s.epoch.1 == 0 { Value::Null } else { json!(s.epoch.1) },
            "commit": s.seq,
            "synced": s.synced,
            "peers": peers,
        })
    }
}
