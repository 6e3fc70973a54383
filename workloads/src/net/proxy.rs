//! TCP link proxies between the nodes of a cluster, which the partition nemesis blackholes.
//!
//! Part of the "run" step of run → check → report: [`crate::target::demo::cluster`] starts one [`LinkNet`]
//! and tells node `i` to reach node `j` at the proxy for the ordered link `i→j`, so every byte
//! of peer traffic passes through faultline. [`crate::nemesis`] partitions the cluster by
//! [`LinkNet::block`]ing pairs of nodes and heals it with [`LinkNet::heal`].
//!
//! A blocked link behaves like a firewall that drops packets: its connections stay open, the
//! proxy simply stops reading from either side, so bytes wait in kernel buffers (as TCP
//! retransmissions would) and flow again once the link is healed. Nothing is closed or dropped.
//! New connections to a blocked link are accepted but not connected upstream until it heals.
//!
//! Node ids are 1-based (`n1`, `n2`, …) everywhere in this module.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Size of the buffer each direction of a relayed connection copies through.
const BUFFER: usize = 16 * 1024;

/// A request the link net cannot carry out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyError {
    /// A pair names a node outside `1..=nodes`, or a node paired with itself.
    #[error("no link between n{0} and n{1} (nodes are n1..n{2}, pairs need two distinct nodes)")]
    NoSuchPair(usize, usize, usize),
    /// `set_upstream` names a node outside `1..=nodes`.
    #[error("no node n{0} (nodes are n1..n{1})")]
    NoSuchNode(usize, usize),
}

/// One ordered link `from→to`: its listening address, its blocked flag and its accept task.
struct Link {
    /// The node that connects (the client side).
    from: usize,
    /// The node connected to (the upstream side).
    to: usize,
    /// Where `from` reaches `to`.
    addr: SocketAddr,
    /// `true` while the link is blackholed.
    blocked: watch::Sender<bool>,
    /// The accept loop; it owns the relay tasks, so aborting it stops them all.
    task: JoinHandle<()>,
}

/// One TCP proxy per ordered pair of nodes, each of which can be blackholed.
///
/// All proxy tasks stop when the `LinkNet` is dropped or [`LinkNet::shutdown`] is called.
pub struct LinkNet {
    /// Number of nodes.
    nodes: usize,
    /// Every ordered link `i→j`, `i != j`.
    links: Vec<Link>,
    /// Per node `j` (index `j - 1`): the peer address links `*→j` forward to, once known.
    upstreams: Vec<watch::Sender<Option<SocketAddr>>>,
    /// The currently blocked unordered pairs, as `(low, high)`.
    blocked: Mutex<BTreeSet<(usize, usize)>>,
}

impl LinkNet {
    /// Binds one proxy per ordered pair of `nodes` nodes on ephemeral 127.0.0.1 ports and starts
    /// serving them. Upstreams are unknown until [`LinkNet::set_upstream`]; connections that
    /// arrive before then wait.
    pub async fn bind(nodes: usize) -> io::Result<LinkNet> {
        let upstreams: Vec<_> = (0..nodes).map(|_| watch::channel(None).0).collect();
        let mut links = Vec::new();
        for from in 1..=nodes {
            for to in 1..=nodes {
                if from == to {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                let (blocked, blocked_rx) = watch::channel(false);
                let upstream_rx = upstreams[to - 1].subscribe();
                let task = tokio::spawn(serve(listener, blocked_rx, upstream_rx));
                links.push(Link {
                    from,
                    to,
                    addr,
                    blocked,
                    task,
                });
            }
        }
        Ok(LinkNet {
            nodes,
            links,
            upstreams,
            blocked: Mutex::new(BTreeSet::new()),
        })
    }

    /// Number of nodes the net connects.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The address at which node `from` reaches node `to` (the proxy of link `from→to`), or
    /// `None` if there is no such link.
    pub fn addr(&self, from: usize, to: usize) -> Option<SocketAddr> {
        self.links
            .iter()
            .find(|l| l.from == from && l.to == to)
            .map(|l| l.addr)
    }

    /// Sets (or changes) the peer address of node `to`: new connections on every link `*→to`
    /// are forwarded there, and connections waiting for it proceed.
    pub fn set_upstream(&self, to: usize, addr: SocketAddr) -> Result<(), ProxyError> {
        let sender = to
            .checked_sub(1)
            .and_then(|k| self.upstreams.get(k))
            .ok_or(ProxyError::NoSuchNode(to, self.nodes))?;
        sender.send_replace(Some(addr));
        Ok(())
    }

    /// Blackholes the given unordered pairs in both directions, in addition to those already
    /// blocked. Checks every pair before blocking any.
    pub fn block(&self, pairs: &[(usize, usize)]) -> Result<(), ProxyError> {
        let mut normalized = Vec::with_capacity(pairs.len());
        for &(a, b) in pairs {
            if a == b || a == 0 || b == 0 || a > self.nodes || b > self.nodes {
                return Err(ProxyError::NoSuchPair(a, b, self.nodes));
            }
            normalized.push((a.min(b), a.max(b)));
        }
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.extend(normalized);
        self.publish(&blocked);
        Ok(())
    }

    /// Unblocks every link; bytes that waited during the block then flow.
    pub fn heal(&self) {
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.clear();
        self.publish(&blocked);
    }

    /// The currently blocked unordered pairs, each as `(low, high)`, sorted.
    pub fn blocked(&self) -> Vec<(usize, usize)> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.iter().copied().collect()
    }

    /// Stops every proxy task: listeners close and relayed connections are dropped.
    pub fn shutdown(&self) {
        for link in &self.links {
            link.task.abort();
        }
    }

    /// Sets each link's flag from the blocked set (only flags that change are touched).
    fn publish(&self, blocked: &BTreeSet<(usize, usize)>) {
        for link in &self.links {
            let pair = (link.from.min(link.to), link.from.max(link.to));
            let want = blocked.contains(&pair);
            link.blocked.send_if_modified(|flag| {
                let changed = *flag != want;
                *flag = want;
                changed
            });
        }
    }
}

impl Drop for LinkNet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The accept loop of one link. Relay tasks live in a `JoinSet` owned here, so they are
/// aborted when this task is.
async fn serve(
    listener: TcpListener,
    blocked: watch::Receiver<bool>,
    upstream: watch::Receiver<Option<SocketAddr>>,
) {
    let mut relays = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    relays.spawn(relay(client, blocked.clone(), upstream.clone()));
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            },
            Some(_) = relays.join_next(), if !relays.is_empty() => {}
        }
    }
}

/// Waits until the link is unblocked; `false` if the net is gone.
async fn wait_unblocked(blocked: &mut watch::Receiver<bool>) -> bool {
    blocked.wait_for(|b| !*b).await.is_ok()
}

/// Waits until the link is blocked; never returns if the net is gone.
async fn wait_blocked(blocked: &mut watch::Receiver<bool>) {
    if blocked.wait_for(|b| *b).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Relays one accepted connection: waits for an upstream address and an unblocked link,
/// connects, then copies both directions until both end (or one fails).
async fn relay(
    client: TcpStream,
    mut blocked: watch::Receiver<bool>,
    mut upstream: watch::Receiver<Option<SocketAddr>>,
) {
    let server = loop {
        if !wait_unblocked(&mut blocked).await {
            return;
        }
        let addr = match upstream.wait_for(Option::is_some).await {
            Ok(addr) => *addr,
            Err(_) => return,
        };
        let Some(addr) = addr else { continue };
        if *blocked.borrow() {
            continue;
        }
        match TcpStream::connect(addr).await {
            Ok(server) => break server,
            // The node is down: close the client side, as a refused connection would be.
            Err(_) => return,
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, blocked.clone());
    let down = pump(server_read, client_write, blocked);
    tokio::pin!(up, down);
    // A clean end of one direction (half-close) lets the other continue; an error ends both.
    tokio::select! {
        clean = &mut up => if clean { down.await; },
        clean = &mut down => if clean { up.await; },
    }
}

/// Copies one direction of a connection, reading only while the link is unblocked and holding
/// bytes already read until it is unblocked again. Returns `true` on a clean end of stream
/// (after passing the half-close on), `false` on an error.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut blocked: watch::Receiver<bool>,
) -> bool {
    let mut buf = vec![0u8; BUFFER];
    loop {
        if !wait_unblocked(&mut blocked).await {
            return false;
        }
        let n = tokio::select! {
            biased;
            _ = wait_blocked(&mut blocked) => continue,
            read = from.read(&mut buf) => match read {
                Ok(0) => {
                    let _ = to.shutdown().await;
                    return true;
                }
                Ok(n) => n,
                Err(_) => return false,
            },
        };
        if !wait_unblocked(&mut blocked).await {
            return false;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
    }
}
