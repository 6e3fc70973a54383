//! Messages between demo-store replicas and their framing on the peer links.
//!
//! Run side only. A frame is a 4-byte big-endian length followed by that many bytes of JSON.
//! Every message may arrive late, twice (after a reconnect) or never: receivers check terms,
//! epochs and sequence numbers and never trust arrival order across connections.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kv::{Cmd, Reply};

/// Largest frame a receiver accepts (a guard against garbage on the link).
pub const MAX_FRAME: usize = 64 << 20;

/// An async-mode epoch: `(number, primary id)`, ordered lexicographically; `(0, 0)` means
/// "no primary known".
pub type Epoch = (u64, usize);

/// One sync-mode log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The leader term in which the entry was created.
    pub term: u64,
    /// The command.
    pub cmd: Cmd,
}

/// Everything replicas say to each other.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Msg {
    /// First frame on every connection: who is sending.
    Hello {
        /// The sender's node id.
        from: usize,
    },
    /// Link-level heartbeat, sent every 50 ms on every link in both modes.
    Beat,
    /// A client command forwarded to the node believed to lead.
    Forward {
        /// The forwarder's request id, echoed in the [`Msg::Answer`].
        id: u64,
        /// The command.
        cmd: Cmd,
    },
    /// The answer to a [`Msg::Forward`].
    Answer {
        /// The forwarded request's id.
        id: u64,
        /// The reply to pass on to the client.
        reply: Reply,
    },
    /// Sync mode: a candidate asks for a vote.
    Vote {
        /// The candidate's term.
        term: u64,
        /// Index of the candidate's last log entry.
        last_index: u64,
        /// Term of the candidate's last log entry.
        last_term: u64,
    },
    /// Sync mode: the answer to [`Msg::Vote`].
    VoteReply {
        /// The voter's current term.
        term: u64,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// Sync mode: log replication and heartbeat from the leader.
    Append {
        /// The leader's term.
        term: u64,
        /// Index of the entry just before `entries`.
        prev_index: u64,
        /// Term of that entry.
        prev_term: u64,
        /// New entries (empty for a heartbeat).
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: u64,
        /// The leader's broadcast round, echoed back to confirm reads.
        seq: u64,
    },
    /// Sync mode: the answer to [`Msg::Append`].
    AppendReply {
        /// The follower's current term.
        term: u64,
        /// Whether the entries matched and were stored.
        ok: bool,
        /// On success the follower's match index; on failure the index to retry from.
        index: u64,
        /// The `seq` of the append being answered.
        seq: u64,
    },
    /// Async mode: every node's periodic state, to every peer (heartbeat and acknowledgement).
    State {
        /// The sender's epoch.
        epoch: Epoch,
        /// How many of the epoch's ops the sender has applied.
        seq: u64,
        /// Whether the sender holds the epoch's base state (got a snapshot or started there).
        synced: bool,
    },
    /// Async mode: ops `from..from+ops.len()` of the primary's epoch.
    Replicate {
        /// The primary's epoch.
        epoch: Epoch,
        /// The epoch sequence number of the first op.
        from: u64,
        /// The ops, in order.
        ops: Vec<Cmd>,
    },
    /// Async mode: the primary's whole state after `seq` ops of its epoch.
    Snapshot {
        /// The primary's epoch.
        epoch: Epoch,
        /// Ops of the epoch included.
        seq: u64,
        /// Every key and value.
        data: Vec<(String, Value)>,
    },
}

/// Encodes one message as a frame.
pub fn encode(msg: &Msg) -> Vec<u8> {
    let mut buf = vec![0u8; 4];
    // Serializing these types cannot fail: every map key is a string.
    serde_json::to_writer(&mut buf, msg).expect("messages serialize");
    let len = (buf.len() - 4) as u32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf
}
