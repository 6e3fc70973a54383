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
//! Each direction can be blocked on its own ([`LinkNet::block_directed`]: a one-way grudge):
//! then only the bytes towards the node that stops hearing wait.
//!
//! A packet fault ([`LinkNet::set_packet`]) delays every chunk relayed on the links of some
//! nodes by the spec's delay and jitter (in order: a TCP stream never reorders) and turns a
//! lost packet into what TCP makes of it — a retransmission stall of 200 ms, doubling for
//! each further loss of the same chunk. Duplication cannot be shown on a TCP stream (the
//! receiving kernel discards duplicate segments), so it is refused for such targets.
//!
//! Node ids are 1-based (`n1`, `n2`, …) everywhere in this module.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use checkers::Rng;

use crate::nemesis::PacketSpec;

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
    /// `true` while bytes `from→to` are blackholed (`to` stops hearing `from`).
    up: watch::Sender<bool>,
    /// `true` while bytes `to→from` are blackholed (`from` stops hearing `to`).
    down: watch::Sender<bool>,
    /// The packet fault on this link, if any.
    packet: watch::Sender<Option<PacketSpec>>,
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
    /// The currently blocked directions, as `(hearer, speaker)`: `hearer` no longer hears
    /// `speaker`.
    blocked: Mutex<BTreeSet<(usize, usize)>>,
    /// The nodes whose links suffer a packet fault now.
    packet_nodes: Mutex<BTreeSet<usize>>,
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
                let (up, up_rx) = watch::channel(false);
                let (down, down_rx) = watch::channel(false);
                let (packet, packet_rx) = watch::channel(None);
                let upstream_rx = upstreams[to - 1].subscribe();
                let flags = Flags {
                    up: up_rx,
                    down: down_rx,
                    packet: packet_rx,
                };
                let task = tokio::spawn(serve(listener, flags, upstream_rx));
                links.push(Link {
                    from,
                    to,
                    addr,
                    up,
                    down,
                    packet,
                    task,
                });
            }
        }
        Ok(LinkNet {
            nodes,
            links,
            upstreams,
            blocked: Mutex::new(BTreeSet::new()),
            packet_nodes: Mutex::new(BTreeSet::new()),
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
        let both: Vec<(usize, usize)> = pairs.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
        self.block_directed(&both)
    }

    /// Blackholes the given directions, each `(hearer, speaker)`: `hearer` no longer hears
    /// `speaker` (a one-way cut unless the reverse is given too), in addition to those already
    /// blocked. Checks every pair before blocking any.
    pub fn block_directed(&self, pairs: &[(usize, usize)]) -> Result<(), ProxyError> {
        for &(a, b) in pairs {
            if a == b || a == 0 || b == 0 || a > self.nodes || b > self.nodes {
                return Err(ProxyError::NoSuchPair(a, b, self.nodes));
            }
        }
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.extend(pairs.iter().copied());
        self.publish(&blocked);
        Ok(())
    }

    /// The blocked directions, each `(hearer, speaker)`, sorted.
    pub fn blocked_directed(&self) -> Vec<(usize, usize)> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.iter().copied().collect()
    }

    /// Puts a packet fault on every link to or from `nodes` (replacing any earlier one).
    pub fn set_packet(&self, nodes: &[usize], spec: PacketSpec) {
        let mut on = self.packet_nodes.lock().unwrap_or_else(|e| e.into_inner());
        *on = nodes.iter().copied().collect();
        for link in &self.links {
            let hit = on.contains(&link.from) || on.contains(&link.to);
            link.packet.send_replace(hit.then_some(spec));
        }
    }

    /// Ends every packet fault.
    pub fn heal_packets(&self) {
        self.packet_nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for link in &self.links {
            link.packet.send_replace(None);
        }
    }

    /// The nodes whose links suffer a packet fault now.
    pub fn packet_nodes(&self) -> Vec<usize> {
        let on = self.packet_nodes.lock().unwrap_or_else(|e| e.into_inner());
        on.iter().copied().collect()
    }

    /// Unblocks every link; bytes that waited during the block then flow.
    pub fn heal(&self) {
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.clear();
        self.publish(&blocked);
    }

    /// The unordered pairs with at least one direction blocked, each as `(low, high)`, sorted.
    pub fn blocked(&self) -> Vec<(usize, usize)> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let pairs: BTreeSet<(usize, usize)> =
            blocked.iter().map(|&(a, b)| (a.min(b), a.max(b))).collect();
        pairs.into_iter().collect()
    }

    /// Stops every proxy task: listeners close and relayed connections are dropped.
    pub fn shutdown(&self) {
        for link in &self.links {
            link.task.abort();
        }
    }

    /// Sets each link's flag from the blocked set (only flags that change are touched).
    fn publish(&self, blocked: &BTreeSet<(usize, usize)>) {
        let set = |flag: &watch::Sender<bool>, want: bool| {
            flag.send_if_modified(|f| {
                let changed = *f != want;
                *f = want;
                changed
            });
        };
        for link in &self.links {
            set(&link.up, blocked.contains(&(link.to, link.from)));
            set(&link.down, blocked.contains(&(link.from, link.to)));
        }
    }
}

impl Drop for LinkNet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The receiving ends of one link's flags.
#[derive(Clone)]
struct Flags {
    up: watch::Receiver<bool>,
    down: watch::Receiver<bool>,
    packet: watch::Receiver<Option<PacketSpec>>,
}

/// Seeds of the relays' packet-fault draws (each relayed direction its own).
static RELAY_SEED: AtomicU64 = AtomicU64::new(0x7061_636b);

/// The retransmission timeout a lost packet costs a TCP stream at first (Linux's minimum RTO).
const RTO: Duration = Duration::from_millis(200);

/// The accept loop of one link. Relay tasks live in a `JoinSet` owned here, so they are
/// aborted when this task is.
async fn serve(listener: TcpListener, flags: Flags, upstream: watch::Receiver<Option<SocketAddr>>) {
    let mut relays = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    relays.spawn(relay(client, flags.clone(), upstream.clone()));
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

/// Relays one accepted connection: waits for an upstream address and a link unblocked both
/// ways (a TCP handshake needs both), connects, then copies both directions until both end
/// (or one fails).
async fn relay(client: TcpStream, flags: Flags, mut upstream: watch::Receiver<Option<SocketAddr>>) {
    let (mut up, mut down) = (flags.up.clone(), flags.down.clone());
    let server = loop {
        if !wait_unblocked(&mut up).await || !wait_unblocked(&mut down).await {
            return;
        }
        let addr = match upstream.wait_for(Option::is_some).await {
            Ok(addr) => *addr,
            Err(_) => return,
        };
        let Some(addr) = addr else { continue };
        if *up.borrow() || *down.borrow() {
            continue;
        }
        match TcpStream::connect(addr).await {
            Ok(server) => break server,
            // The node is down: close the client side, as a refused connection would be.
            Err(_) => return,
        }
    };
    relay_streams(client, server, flags.up, flags.down, flags.packet).await;
}

/// Relays an accepted `client` to its connected `server` until both directions end (or one
/// fails): bytes towards the server wait while `up` is `true`, bytes back while `down` is;
/// under a packet fault (`packet`) each chunk is delayed and stalled as [`due`] says. Shared
/// by this module's links and the network-namespace relays of [`crate::net::netns`].
pub(crate) async fn relay_streams(
    client: TcpStream,
    server: TcpStream,
    up: watch::Receiver<bool>,
    down: watch::Receiver<bool>,
    packet: watch::Receiver<Option<PacketSpec>>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, up, packet.clone());
    let down = pump(server_read, client_write, down, packet);
    tokio::pin!(up, down);
    // A clean end of one direction (half-close) lets the other continue; an error ends both.
    tokio::select! {
        clean = &mut up => if clean { down.await; },
        clean = &mut down => if clean { up.await; },
    }
}

/// When a chunk read now is due at the other end under `spec`: the delay with its jitter,
/// plus a retransmission stall per loss (200 ms, doubling), never before the previous chunk.
fn due(
    spec: Option<&PacketSpec>,
    rng: &mut Rng,
    last: tokio::time::Instant,
) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let Some(spec) = spec else {
        return now;
    };
    let mut at = now + spec.sample_delay(rng);
    let mut rto = RTO;
    for _ in 0..6 {
        if !spec.lost(rng) {
            break;
        }
        at += rto;
        rto *= 2;
    }
    at.max(last)
}

/// Copies one direction of a connection, reading only while the direction is unblocked and
/// holding bytes already read until it is unblocked again; under a packet fault each chunk is
/// released at its [`due`] time (a reader and a writer, so delays overlap as on a network).
/// Healing the packet fault releases at once every chunk it still holds: a stall drawn under
/// heavy loss can reach 12.6 s, and a healed fault must not outlive its heal.
/// Returns `true` on a clean end of stream (after passing the half-close on), `false` on an
/// error.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    blocked: watch::Receiver<bool>,
    packet: watch::Receiver<Option<PacketSpec>>,
) -> bool {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(256);
    let mut healed = packet.clone();
    let mut rng = Rng::new(RELAY_SEED.fetch_add(0x9E37_79B9, Ordering::Relaxed));
    let mut read_blocked = blocked.clone();
    let reader = async move {
        let mut buf = vec![0u8; BUFFER];
        let mut last = tokio::time::Instant::now();
        loop {
            if !wait_unblocked(&mut read_blocked).await {
                return false;
            }
            let n = tokio::select! {
                biased;
                _ = wait_blocked(&mut read_blocked) => continue,
                read = from.read(&mut buf) => match read {
                    Ok(0) => return true,
                    Ok(n) => n,
                    Err(_) => return false,
                },
            };
            let spec = *packet.borrow();
            last = due(spec.as_ref(), &mut rng, last);
            if tx.send((last, buf[..n].to_vec())).await.is_err() {
                return false;
            }
        }
    };
    let mut write_blocked = blocked;
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            if healed.borrow().is_some() {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = healed.wait_for(Option::is_none) => {}
                }
            }
            if !wait_unblocked(&mut write_blocked).await {
                return false;
            }
            if to.write_all(&bytes).await.is_err() {
                return false;
            }
        }
        let _ = to.shutdown().await;
        true
    };
    let (read_ok, write_ok) = tokio::join!(reader, writer);
    read_ok && write_ok
}
