//! The embedded demo store: one replica of a replicated key-value store speaking http-kv
//! (being written).

use std::net::SocketAddr;
use std::path::PathBuf;

/// How the replicas agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Primary/backup: the primary acknowledges writes before replicating; followers serve
    /// reads from their own copy. Fast and available; not linearizable.
    Async,
    /// Majority replication with leader election; reads confirmed by a majority. Linearizable.
    Sync,
}

/// Everything one node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id, 1-based (`n1`, `n2`, …).
    pub id: usize,
    /// Replication mode (the same on every node).
    pub mode: Mode,
    /// Address for the http-kv server; port 0 picks a free one.
    pub http: SocketAddr,
    /// Address where peers connect for replication; port 0 picks a free one.
    pub peer_listen: SocketAddr,
    /// Every other node: its id and the address at which this node reaches it (a link proxy).
    pub peers: Vec<(usize, SocketAddr)>,
    /// Directory for this node's durable state (survives SIGKILL and restart).
    pub data_dir: PathBuf,
}

/// Runs one node until it is killed. Prints `READY http=ADDR peer=ADDR` on standard output
/// once both listeners are bound.
pub fn serve(config: NodeConfig) -> Result<(), String> {
    Err(format!("the demo store is not built yet ({config:?})"))
}
