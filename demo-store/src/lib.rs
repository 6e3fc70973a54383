//! The embedded demo store: one replica of a 3-node replicated key-value store speaking
//! http-kv (`docs/http-kv.md`), run as its own OS process by `faultline serve-demo-node`.
//!
//! Run side: faultline starts three of these on loopback (peer links through proxies), drives
//! them with clients and faults, and checks the recorded history. Design and failure behaviour
//! of both modes: `docs/demo-store.md`.
//!
//! - [`kv`]: the state machine and the replies;
//! - [`msg`] and [`link`]: peer messages and the TCP links that carry them;
//! - [`forward`]: followers passing client commands to the leader;
//! - [`raft`], [`raft_core`], [`raft_leader`] and [`storage`]: sync mode (Raft-style,
//!   linearizable, durable) and lease mode (the same, with leader reads under a wall-clock
//!   lease);
//! - [`primary`]: async mode (primary/backup, acknowledges before replicating);
//! - [`http`]: the http-kv server.

pub mod forward;
pub mod http;
pub mod kv;
pub mod link;
pub mod msg;
pub mod primary;
pub mod raft;
pub mod raft_core;
pub mod raft_leader;
pub mod storage;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use self::http::Node;
use self::link::{Handler, Links};
use self::primary::Primary;
use self::raft::Raft;

/// How the replicas agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Primary/backup: the primary acknowledges writes before replicating; followers serve
    /// reads from their own copy. Fast and available; not linearizable.
    Async,
    /// Majority replication with leader election; reads confirmed by a majority. Linearizable.
    Sync,
    /// Sync mode's replication, but the leader answers reads alone under a time-based lease
    /// (no majority round): linearizable while clocks behave, not when the leader's wall clock
    /// jumps back or runs slow (`docs/demo-store.md`, "Lease mode").
    Lease,
}

/// Whether a node fsyncs its durable state before acknowledging (sync and lease modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// `write()` only: durable against a process crash (the page cache survives it), not
    /// against a power cut or a disk that forgets unsynced writes. The default.
    #[default]
    Never,
    /// `fdatasync` the log after every append or truncation, and `fsync` `meta.json` and the
    /// directory after every replacement, before the node acts on it.
    Always,
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
    /// When the durable state is fsynced (sync and lease modes; async keeps nothing on disk).
    pub fsync: Fsync,
}

/// Runs one node until it is killed. Prints `READY http=ADDR peer=ADDR` on standard output
/// once both listeners are bound.
pub fn serve(config: NodeConfig) -> Result<(), String> {
    if config.id == 0 {
        return Err("node ids start at 1".to_string());
    }
    let mut ids: Vec<usize> = config.peers.iter().map(|p| p.0).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != config.peers.len() || ids.contains(&config.id) || ids.contains(&0) {
        return Err(format!(
            "peers must be distinct non-zero ids other than this node's ({}), got {:?}",
            config.id, config.peers
        ));
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(run(config))
}

async fn run(config: NodeConfig) -> Result<(), String> {
    let http = TcpListener::bind(config.http)
        .await
        .map_err(|e| format!("cannot bind the http address {}: {e}", config.http))?;
    let peer = TcpListener::bind(config.peer_listen)
        .await
        .map_err(|e| format!("cannot bind the peer address {}: {e}", config.peer_listen))?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    let peer_addr = peer.local_addr().map_err(|e| e.to_string())?;
    let (links, queues) = Links::new(config.id, &config.peers);
    let (node, handler): (Node, Handler) = match config.mode {
        Mode::Sync | Mode::Lease => {
            let lease = config.mode == Mode::Lease;
            let raft = Raft::new(
                config.id,
                &config.data_dir,
                links.clone(),
                lease,
                config.fsync,
            )?;
            raft.start();
            let r = raft.clone();
            (
                Node::Sync(raft),
                Arc::new(move |from, msg| r.on_msg(from, msg)),
            )
        }
        Mode::Async => {
            let primary = Primary::new(config.id, &config.data_dir, links.clone())?;
            primary.start();
            let p = primary.clone();
            (
                Node::Async(primary),
                Arc::new(move |from, msg| p.on_msg(from, msg)),
            )
        }
    };
    links.run(queues, peer, handler);
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY http={http_addr} peer={peer_addr}")
        .and_then(|_| out.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    drop(out);
    eprintln!(
        "n{}: serving http-kv on {http_addr}, peers on {peer_addr}",
        config.id
    );
    let listener = http.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, http::router(Arc::new(node)))
        .await
        .map_err(|e| format!("http server failed: {e}"))
}
