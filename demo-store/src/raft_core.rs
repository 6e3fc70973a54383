//! Sync mode's protocol state and its follower side: terms, votes, the log, appends, apply;
//! the leader side is in [`super::raft_leader`]. Everything runs under one mutex, never waits.
//!
//! Run side only. Safety rules (Raft): persist term, vote and log before any message that
//! depends on them leaves; grant a vote only to a candidate whose log is at least as up to
//! date; accept appends only after the consistency check, truncating only real conflicts;
//! commit only current-term entries stored on a majority; apply in order. Every message may be
//! stale: terms decide, match indexes only grow, read rounds are numbered.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;

use super::kv::{Cmd, Kv, Reply};
use super::link::Links;
use super::msg::{Entry, Msg};
use super::storage::{Recovered, Storage};

/// Most entries in one append message.
pub(super) const MAX_BATCH: u64 = 4096;
/// A leader that has not heard from a majority for this long steps down.
pub(super) const QUORUM_TIMEOUT: Duration = Duration::from_millis(1000);

/// A replica's role in its current term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows the leader of its term (or waits for one).
    Follower,
    /// Asks for votes in its term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// A read waiting for leadership confirmation and apply.
pub struct PendingRead {
    /// Answer once applied up to here.
    pub read_index: u64,
    /// Answer once a majority acknowledged a broadcast round numbered at least this.
    pub need_seq: u64,
    /// The key to read.
    pub key: Value,
    /// Where the answer goes.
    pub tx: oneshot::Sender<Reply>,
}

/// The protocol state of one replica.
pub struct Core {
    /// This node's id.
    pub me: usize,
    pub(super) peers: Vec<usize>,
    pub(super) majority: usize,
    pub(super) links: Arc<Links>,
    pub(super) storage: Storage,
    /// Current term (persisted).
    pub term: u64,
    pub(super) vote: Option<usize>,
    /// The log; `log[0]` is a sentinel of term 0.
    pub(super) log: Vec<Entry>,
    /// Role in the current term.
    pub role: Role,
    /// The leader of the current term, if known.
    pub leader: Option<usize>,
    /// Highest index known committed.
    pub commit: u64,
    /// Highest index applied to `kv`.
    pub applied: u64,
    pub(super) kv: Kv,
    pub(super) deadline: Instant,
    pub(super) rng: u64,
    pub(super) votes: HashSet<usize>,
    pub(super) next: HashMap<usize, u64>,
    pub(super) matched: HashMap<usize, u64>,
    pub(super) acked_seq: HashMap<usize, u64>,
    pub(super) reset_seq: HashMap<usize, u64>,
    pub(super) last_ack: HashMap<usize, Instant>,
    pub(super) leader_since: Instant,
    /// Number of the latest broadcast round.
    pub seq: u64,
    /// Index of the no-op this leader appended on election.
    pub noop_index: u64,
    pub(super) waiters: HashMap<u64, (u64, oneshot::Sender<Reply>)>,
    /// Reads waiting for confirmation.
    pub reads: Vec<PendingRead>,
}

/// Stops the process: a replica that cannot persist must not answer anything.
pub(super) fn die(message: String) -> ! {
    eprintln!("fatal: cannot persist state: {message}");
    std::process::exit(70)
}

impl Core {
    /// A follower with the recovered durable state and an empty, not yet applied, state machine.
    pub fn new(me: usize, links: Arc<Links>, storage: Storage, rec: Recovered) -> Core {
        let peers = links.peers();
        let nodes = peers.len() + 1;
        let majority = nodes / 2 + 1;
        let mut log = vec![Entry {
            term: 0,
            cmd: Cmd::Noop,
        }];
        log.extend(rec.entries);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ (me as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let now = Instant::now();
        let mut core = Core {
            me,
            peers,
            majority,
            links,
            storage,
            term: rec.term,
            vote: rec.vote,
            log,
            role: Role::Follower,
            leader: None,
            commit: 0,
            applied: 0,
            kv: Kv::default(),
            deadline: now,
            rng: seed | 1,
            votes: HashSet::new(),
            next: HashMap::new(),
            matched: HashMap::new(),
            acked_seq: HashMap::new(),
            reset_seq: HashMap::new(),
            last_ack: HashMap::new(),
            leader_since: now,
            seq: 0,
            noop_index: 0,
            waiters: HashMap::new(),
            reads: Vec::new(),
        };
        core.reset_deadline();
        core
    }

    /// Index of the last log entry.
    pub fn last_index(&self) -> u64 {
        (self.log.len() - 1) as u64
    }

    pub(super) fn last_term(&self) -> u64 {
        self.log[self.log.len() - 1].term
    }

    pub(super) fn reset_deadline(&mut self) {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let ms = 300 + self.rng % 300;
        self.deadline = Instant::now() + Duration::from_millis(ms);
    }

    pub(super) fn save_meta(&self) {
        if let Err(e) = self.storage.save_meta(self.term, self.vote) {
            die(e)
        }
    }

    /// Moves to `term` (if higher) as a follower; pending reads fail (they did nothing).
    pub(super) fn become_follower(&mut self, term: u64) {
        if term > self.term {
            self.term = term;
            self.vote = None;
            self.leader = None;
            self.save_meta();
        }
        if self.role != Role::Follower {
            eprintln!("n{}: follower in term {}", self.me, self.term);
        }
        self.role = Role::Follower;
        for read in self.reads.drain(..) {
            let _ = read
                .tx
                .send(Reply::unavailable("lost leadership before the read"));
        }
    }

    /// Timer work; true if the replicator should broadcast now.
    pub fn tick(&mut self, now: Instant) -> bool {
        match self.role {
            Role::Leader => {
                let heard = self
                    .peers
                    .iter()
                    .filter(|p| {
                        self.last_ack
                            .get(p)
                            .is_some_and(|t| now - *t < QUORUM_TIMEOUT)
                    })
                    .count();
                if heard + 1 < self.majority && now - self.leader_since > QUORUM_TIMEOUT {
                    eprintln!("n{}: lost contact with a majority, stepping down", self.me);
                    self.become_follower(self.term);
                    self.leader = None;
                    self.reset_deadline();
                }
                false
            }
            _ if now >= self.deadline => {
                self.start_election();
                self.role == Role::Leader
            }
            _ => false,
        }
    }

    pub(super) fn append_local(&mut self, cmd: Cmd) -> u64 {
        let entry = Entry {
            term: self.term,
            cmd,
        };
        if let Err(e) = self.storage.append(std::slice::from_ref(&entry)) {
            die(e)
        }
        self.log.push(entry);
        self.last_index()
    }

    /// Handles a protocol message; true if the replicator should broadcast now.
    pub fn on_msg(&mut self, from: usize, msg: Msg) -> bool {
        match msg {
            Msg::Vote {
                term,
                last_index,
                last_term,
            } => {
                if term > self.term {
                    self.become_follower(term);
                }
                let up_to_date = last_term > self.last_term()
                    || (last_term == self.last_term() && last_index >= self.last_index());
                let granted = term == self.term
                    && self.vote.map_or(true, |v| v == from)
                    && up_to_date
                    && self.role == Role::Follower;
                if granted {
                    self.vote = Some(from);
                    self.save_meta();
                    self.reset_deadline();
                }
                let reply = Msg::VoteReply {
                    term: self.term,
                    granted,
                };
                self.links.send(from, &reply);
                false
            }
            Msg::VoteReply { term, granted } => {
                if term > self.term {
                    self.become_follower(term);
                } else if term == self.term && granted && self.role == Role::Candidate {
                    self.votes.insert(from);
                    if self.votes.len() >= self.majority {
                        self.become_leader();
                        return true;
                    }
                }
                false
            }
            Msg::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                seq,
            } => {
                let (ok, index) =
                    self.on_append(from, term, prev_index, prev_term, entries, commit);
                let reply = Msg::AppendReply {
                    term: self.term,
                    ok,
                    index,
                    seq,
                };
                self.links.send(from, &reply);
                false
            }
            Msg::AppendReply {
                term,
                ok,
                index,
                seq,
            } => self.on_append_reply(from, term, ok, index, seq),
            _ => false,
        }
    }

    /// The follower side of replication: `(ok, match index or retry index)`.
    pub(super) fn on_append(
        &mut self,
        from: usize,
        term: u64,
        prev: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
    ) -> (bool, u64) {
        if term < self.term {
            return (false, 0);
        }
        if term > self.term || self.role != Role::Follower {
            self.become_follower(term);
        }
        self.leader = Some(from);
        self.reset_deadline();
        if prev > self.last_index() {
            return (false, self.last_index() + 1);
        }
        let here = self.log[prev as usize].term;
        if here != prev_term {
            let mut retry = prev;
            while retry > self.commit + 1 && self.log[retry as usize - 1].term == here {
                retry -= 1;
            }
            return (false, retry.max(1));
        }
        let mut new_from = entries.len();
        for (k, entry) in entries.iter().enumerate() {
            let i = prev + 1 + k as u64;
            if i > self.last_index() {
                new_from = k;
                break;
            }
            if self.log[i as usize].term != entry.term {
                if i <= self.commit {
                    eprintln!("n{}: refusing to truncate committed entry {i}", self.me);
                    return (false, 0);
                }
                if let Err(e) = self.storage.truncate(i) {
                    die(e)
                }
                self.log.truncate(i as usize);
                new_from = k;
                break;
            }
        }
        if new_from < entries.len() {
            if let Err(e) = self.storage.append(&entries[new_from..]) {
                die(e)
            }
            self.log.extend_from_slice(&entries[new_from..]);
        }
        let matched = prev + entries.len() as u64;
        let can_commit = commit.min(matched);
        if can_commit > self.commit {
            self.commit = can_commit;
            self.apply();
        }
        (true, matched)
    }

    /// Applies committed entries in order and answers their waiters and any ready reads.
    pub(super) fn apply(&mut self) {
        while self.applied < self.commit {
            self.applied += 1;
            let entry = &self.log[self.applied as usize];
            let reply = self.kv.apply(&entry.cmd);
            if let Some((term, tx)) = self.waiters.remove(&self.applied) {
                let reply = if term == entry.term {
                    reply
                } else {
                    Reply::unknown("another leader's entry took this log slot")
                };
                let _ = tx.send(reply);
            }
        }
        self.serve_reads();
    }
}
