//! Sync mode, leader side: elections, proposals, replication rounds, commit by majority
//! and read confirmation (the follower side and shared state are in [`super::raft_core`]).
//!
//! Run side only. A leader persists its own entries before sending them, commits only
//! current-term entries stored on a majority, and answers a read only after a majority
//! acknowledged a broadcast round numbered after the read arrived, in the leader's term.

use std::collections::HashSet;
use std::time::Instant;

use tokio::sync::oneshot;

use super::kv::{Cmd, Reply};
use super::msg::Msg;
use super::raft_core::{Core, Role, MAX_BATCH};

impl Core {
    pub(super) fn start_election(&mut self) {
        self.term += 1;
        self.role = Role::Candidate;
        self.vote = Some(self.me);
        self.leader = None;
        self.save_meta();
        self.votes = HashSet::from([self.me]);
        self.reset_deadline();
        eprintln!("n{}: candidate in term {}", self.me, self.term);
        let msg = Msg::Vote {
            term: self.term,
            last_index: self.last_index(),
            last_term: self.last_term(),
        };
        for &p in &self.peers {
            self.links.send(p, &msg);
        }
        if self.votes.len() >= self.majority {
            self.become_leader();
        }
    }

    pub(super) fn become_leader(&mut self) {
        eprintln!("n{}: leader in term {}", self.me, self.term);
        self.role = Role::Leader;
        self.leader = Some(self.me);
        if let Some(lease) = self.lease.as_mut() {
            lease.drop_lease();
        }
        let now = Instant::now();
        self.leader_since = now;
        let next = self.last_index() + 1;
        for &p in &self.peers {
            self.next.insert(p, next);
            self.matched.insert(p, 0);
            self.acked_seq.insert(p, 0);
            self.reset_seq.insert(p, 0);
            self.last_ack.insert(p, now);
        }
        self.append_local(Cmd::Noop);
        self.noop_index = self.last_index();
        self.advance_commit();
    }

    /// Appends a client command (leader only); `tx` gets the answer once it is applied.
    pub fn propose(&mut self, cmd: Cmd, tx: oneshot::Sender<Reply>) {
        let index = self.append_local(cmd);
        self.waiters.insert(index, (self.term, tx));
        self.advance_commit();
    }

    /// Sends every peer the entries it lacks (or a heartbeat), starting a new read round.
    pub fn broadcast(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        if let Some(lease) = self.lease.as_mut() {
            lease.sent(seq);
        }
        let last = self.last_index();
        for &p in &self.peers {
            let next = self
                .next
                .get(&p)
                .copied()
                .unwrap_or(last + 1)
                .clamp(1, last + 1);
            let prev = next - 1;
            let end = last.min(prev + MAX_BATCH);
            let entries = self.log[next as usize..=end as usize].to_vec();
            let msg = Msg::Append {
                term: self.term,
                prev_index: prev,
                prev_term: self.log[prev as usize].term,
                entries,
                commit: self.commit,
                seq: self.seq,
            };
            self.links.send(p, &msg);
            self.next.insert(p, end + 1);
        }
    }

    /// The leader side of replication.
    pub(super) fn on_append_reply(
        &mut self,
        from: usize,
        term: u64,
        ok: bool,
        index: u64,
        seq: u64,
    ) -> bool {
        if term > self.term {
            self.become_follower(term);
            return false;
        }
        if self.role != Role::Leader || term != self.term {
            return false;
        }
        self.last_ack.insert(from, Instant::now());
        let acked = self.acked_seq.entry(from).or_insert(0);
        *acked = (*acked).max(seq);
        let mut resend = false;
        if ok {
            let m = self.matched.entry(from).or_insert(0);
            *m = (*m).max(index);
            let m = *m;
            let n = self.next.entry(from).or_insert(m + 1);
            *n = (*n).max(m + 1);
            self.advance_commit();
        } else if index > 0 && seq > self.reset_seq.get(&from).copied().unwrap_or(0) {
            let m = self.matched.get(&from).copied().unwrap_or(0);
            self.next
                .insert(from, index.min(self.last_index() + 1).max(m + 1));
            self.reset_seq.insert(from, self.seq);
            resend = true;
        }
        self.serve_reads();
        resend
    }

    pub(super) fn advance_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut indexes: Vec<u64> = self
            .peers
            .iter()
            .map(|p| self.matched.get(p).copied().unwrap_or(0))
            .collect();
        indexes.push(self.last_index());
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        let n = indexes[self.majority - 1];
        if n > self.commit && self.log[n as usize].term == self.term {
            self.commit = n;
            self.apply();
        }
    }

    /// The latest broadcast round a majority (this leader included) acknowledged.
    fn confirmed_round(&self) -> u64 {
        let mut acked: Vec<u64> = self
            .peers
            .iter()
            .map(|p| self.acked_seq.get(p).copied().unwrap_or(0))
            .collect();
        acked.push(u64::MAX);
        acked.sort_unstable_by(|a, b| b.cmp(a));
        acked[self.majority - 1]
    }

    /// Lease mode: answers a read from the local state if the lease holds by the wall clock
    /// and this leader's no-op is applied (so every entry committed before its term is too);
    /// `None`: the read must go through a confirmation round like sync mode's.
    pub fn lease_read(&self, key: &serde_json::Value) -> Option<Reply> {
        let lease = self.lease.as_ref()?;
        if self.role != Role::Leader || self.applied < self.noop_index || !lease.holds() {
            return None;
        }
        Some(self.kv.read(key))
    }

    /// Answers the reads whose round a majority confirmed and whose index is applied.
    pub fn serve_reads(&mut self) {
        if self.role == Role::Leader && self.lease.is_some() {
            let confirmed = self.confirmed_round();
            if let Some(lease) = self.lease.as_mut() {
                lease.confirmed(confirmed);
            }
        }
        if self.role != Role::Leader || self.reads.is_empty() {
            return;
        }
        let mut acked: Vec<u64> = self
            .peers
            .iter()
            .map(|p| self.acked_seq.get(p).copied().unwrap_or(0))
            .collect();
        acked.push(u64::MAX);
        acked.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = acked[self.majority - 1];
        let applied = self.applied;
        let kv = &self.kv;
        self.reads.retain_mut(|read| {
            if read.need_seq <= confirmed && read.read_index <= applied {
                let (tx, _) = oneshot::channel();
                let tx = std::mem::replace(&mut read.tx, tx);
                let _ = tx.send(kv.read(&read.key));
                false
            } else {
                true
            }
        });
    }
}
