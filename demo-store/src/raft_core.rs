//! Sync mode's protocol state and its follower side: terms, votes, the log, appends, apply;
//! the leader side is in [`super::raft_leader`]. Everything runs under one mutex, never waits.
//!
//! Run side only. Safety rules (Raft): persist term, vote and log before any message that
//! depends on them leaves; grant a vote only to a candidate whose log is at least as up to
//! date; accept appends only after the consistency check, truncating only real conflicts;
//! commit only current-term entries stored on a majority; apply in order. Every message may be
//! stale: terms decide, match indexes only grow, read rounds are numbered.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
/// The shortest election timeout: a follower waits at least this long (a random 300–600 ms)
/// after the last valid append before it stands for election.
pub const ELECTION_MIN: Duration = Duration::from_millis(300);
/// Lease mode: how long a round acknowledged by a majority lets the leader answer reads alone,
/// counted on its wall clock from the moment it sent the round. Shorter than [`ELECTION_MIN`]
/// (with 100 ms of margin for scheduling delays): while clocks behave, every lease has expired
/// before any other node can be elected.
pub const LEASE: Duration = Duration::from_millis(200);
/// Lease mode: how many sent rounds the leader remembers (rounds go out every 50 ms or faster).
const LEASE_ROUNDS: usize = 256;

/// Lease mode's state on one replica (`docs/demo-store.md`, "Lease mode").
///
/// The leader holds a lease until `sent + LEASE` by its **wall clock** (`SystemTime`, the
/// clock that `clock_gettime(CLOCK_REALTIME)` reads, which libfaketime moves), where `sent`
/// is when it sent the latest round a majority acknowledged. Followers refuse to vote for
/// [`ELECTION_MIN`] after hearing from a leader, measured on the **monotonic** clock
/// (`Instant`). While the leader's wall clock runs true, its lease ends before any follower
/// that acknowledged the round can vote; a wall clock that jumps back (or runs slow) stretches
/// the lease past a new leader's election — the stale reads the clock nemesis provokes.
#[derive(Debug, Default)]
pub struct Lease {
    /// Wall-clock send time of the latest rounds, oldest first.
    pub(super) rounds: VecDeque<(u64, SystemTime)>,
    /// The lease's end on the leader's wall clock (`None`: no lease).
    pub until: Option<SystemTime>,
    /// When this node last accepted an append from a leader (monotonic).
    pub(super) heard_leader: Option<Instant>,
}

impl Lease {
    /// Forgets the lease (stepping down, or a new term).
    pub(super) fn drop_lease(&mut self) {
        self.rounds.clear();
        self.until = None;
    }

    /// Remembers that round `seq` went out now.
    pub(super) fn sent(&mut self, seq: u64) {
        self.rounds.push_back((seq, SystemTime::now()));
        while self.rounds.len() > LEASE_ROUNDS {
            self.rounds.pop_front();
        }
    }

    /// A majority acknowledged every round up to `confirmed`: extends the lease from the send
    /// time of the latest such round.
    pub(super) fn confirmed(&mut self, confirmed: u64) {
        while self.rounds.len() > 1 && self.rounds[1].0 <= confirmed {
            self.rounds.pop_front();
        }
        if let Some(&(seq, sent)) = self.rounds.front() {
            if seq <= confirmed {
                let until = sent + LEASE;
                self.until = Some(self.until.map_or(until, |u| u.max(until)));
            }
        }
    }

    /// Whether the lease holds now, by this node's wall clock.
    pub fn holds(&self) -> bool {
        self.until.is_some_and(|u| SystemTime::now() < u)
    }

    /// Whether a leader was heard from within [`ELECTION_MIN`] (monotonic clock).
    pub(super) fn leader_alive(&self, now: Instant) -> bool {
        self.heard_leader
            .is_some_and(|t| now.saturating_duration_since(t) < ELECTION_MIN)
    }
}

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
    /// Lease mode's state (`None`: sync mode, every read confirmed by a majority round).
    pub lease: Option<Lease>,
}

/// Stops the process: a replica that cannot persist must not answer anything.
pub(super) fn die(message: String) -> ! {
    eprintln!("fatal: cannot persist state: {message}");
    std::process::exit(70)
}

impl Core {
    /// A follower with the recovered durable state and an empty, not yet applied, state machine.
    pub fn new(
        me: usize,
        links: Arc<Links>,
        storage: Storage,
        rec: Recovered,
        lease: bool,
    ) -> Core {
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
            lease: lease.then(Lease::default),
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
        let ms = ELECTION_MIN.as_millis() as u64 + self.rng % 300;
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
        if let Some(lease) = self.lease.as_mut() {
            lease.drop_lease();
        }
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

    /// Lease mode: whether this node disregards vote requests now (it leads, or it heard from
    /// a leader within [`ELECTION_MIN`]).
    fn ignores_votes(&self) -> bool {
        match &self.lease {
            None => false,
            Some(_) if self.role == Role::Leader => true,
            Some(lease) => self.role == Role::Follower && lease.leader_alive(Instant::now()),
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
                if self.ignores_votes() {
                    // Lease mode (Raft thesis §4.2.3): a node that heard from a leader within
                    // the shortest election timeout neither adopts the term nor votes, so no
                    // leader is elected while an acknowledged lease may still hold.
                    let reply = Msg::VoteReply {
                        term: self.term,
                        granted: false,
                    };
                    self.links.send(from, &reply);
                    return false;
                }
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
        if let Some(lease) = self.lease.as_mut() {
            lease.heard_leader = Some(Instant::now());
        }
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
