//! Peer links of one demo-store replica: one outgoing TCP connection per peer (send only) and
//! the listener for the peers' connections (receive only).
//!
//! Run side only. In faultline the addresses are link proxies that a nemesis may blackhole:
//! connections then hang without closing and bytes arrive late when traffic resumes. So every
//! connect and write has a timeout, a silent incoming connection is dropped, a broken outgoing
//! one is reopened, and sending never blocks the caller (a full queue drops the message — the
//! protocols above retry by themselves).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::msg::{encode, Msg, MAX_FRAME};

/// How long a connect or a write may hang before the connection is given up.
const IO_TIMEOUT: Duration = Duration::from_millis(1000);
/// An incoming connection silent this long is closed (heartbeats come every 50 ms).
const IDLE_TIMEOUT: Duration = Duration::from_millis(3000);
/// Link-level heartbeat period.
pub const BEAT: Duration = Duration::from_millis(50);
/// Frames queued per peer before new ones are dropped.
const QUEUE: usize = 8192;

/// Called with `(from, message)` for every message received.
pub type Handler = Arc<dyn Fn(usize, Msg) + Send + Sync>;

/// The sending side of every peer link, and when each peer was last heard from.
pub struct Links {
    me: usize,
    start: Instant,
    out: HashMap<usize, mpsc::Sender<Vec<u8>>>,
    heard: HashMap<usize, AtomicU64>,
}

/// The receiving ends of the outgoing queues, consumed by [`Links::run`].
pub struct Queues(Vec<(usize, SocketAddr, mpsc::Receiver<Vec<u8>>)>);

impl Links {
    /// Creates the links of node `me` to `peers` (id and address); nothing runs until
    /// [`Links::run`].
    pub fn new(me: usize, peers: &[(usize, SocketAddr)]) -> (Arc<Links>, Queues) {
        let mut out = HashMap::new();
        let mut heard = HashMap::new();
        let mut queues = Vec::new();
        for &(id, addr) in peers {
            let (tx, rx) = mpsc::channel(QUEUE);
            out.insert(id, tx);
            heard.insert(id, AtomicU64::new(0));
            queues.push((id, addr, rx));
        }
        let links = Links {
            me,
            start: Instant::now(),
            out,
            heard,
        };
        (Arc::new(links), Queues(queues))
    }

    /// The peer ids, ascending.
    pub fn peers(&self) -> Vec<usize> {
        let mut ids: Vec<usize> = self.out.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Queues `msg` for peer `to`; false if it could not be queued (unknown peer, full queue).
    pub fn send(&self, to: usize, msg: &Msg) -> bool {
        match self.out.get(&to) {
            Some(tx) => tx.try_send(encode(msg)).is_ok(),
            None => false,
        }
    }

    /// Milliseconds since `peer` was last heard from, `None` if never.
    pub fn last_heard_ms(&self, peer: usize) -> Option<u64> {
        let at = self.heard.get(&peer)?.load(Ordering::Relaxed);
        if at == 0 {
            return None;
        }
        let now = self.start.elapsed().as_millis() as u64;
        Some(now.saturating_sub(at - 1))
    }

    /// Whether `peer` was heard from within `within`.
    pub fn heard_within(&self, peer: usize, within: Duration) -> bool {
        self.last_heard_ms(peer)
            .is_some_and(|ms| ms <= within.as_millis() as u64)
    }

    fn mark_heard(&self, peer: usize) {
        if let Some(at) = self.heard.get(&peer) {
            at.store(
                self.start.elapsed().as_millis() as u64 + 1,
                Ordering::Relaxed,
            );
        }
    }

    /// Spawns the outgoing connections, the heartbeat and the accept loop on the current
    /// tokio runtime; every received message goes to `handler`.
    pub fn run(self: &Arc<Self>, queues: Queues, listener: TcpListener, handler: Handler) {
        for (id, addr, rx) in queues.0 {
            tokio::spawn(outgoing(self.me, id, addr, rx));
        }
        let links = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BEAT);
            loop {
                tick.tick().await;
                for id in links.peers() {
                    links.send(id, &Msg::Beat);
                }
            }
        });
        let links = self.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(incoming(links.clone(), stream, handler.clone()));
                    }
                    Err(e) => {
                        eprintln!("n{}: accept failed: {e}", links.me);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
}

/// Keeps one connection to peer `id` open and writes its queued frames, batching whatever is
/// queued into one write.
async fn outgoing(me: usize, id: usize, addr: SocketAddr, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut logged = false;
    loop {
        let mut stream = match timeout(IO_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            _ => {
                if !logged {
                    eprintln!("n{me}: cannot reach n{id} at {addr}, retrying");
                    logged = true;
                }
                // Drop what queued up meanwhile: it is stale, and the protocols resend.
                while rx.try_recv().is_ok() {}
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        logged = false;
        let _ = stream.set_nodelay(true);
        let mut buf = encode(&Msg::Hello { from: me });
        loop {
            if buf.is_empty() {
                match rx.recv().await {
                    Some(frame) => buf = frame,
                    None => return,
                }
            }
            while buf.len() < (1 << 20) {
                match rx.try_recv() {
                    Ok(frame) => buf.extend_from_slice(&frame),
                    Err(_) => break,
                }
            }
            match timeout(IO_TIMEOUT, stream.write_all(&buf)).await {
                Ok(Ok(())) => buf.clear(),
                _ => {
                    eprintln!("n{me}: link to n{id} stalled or broke, reconnecting");
                    buf.clear();
                    break;
                }
            }
        }
    }
}

/// Reads frames from one incoming connection until it breaks or stays silent too long.
async fn incoming(links: Arc<Links>, stream: TcpStream, handler: Handler) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut from = None;
    let mut frame = Vec::new();
    loop {
        let len = match timeout(IDLE_TIMEOUT, reader.read_u32()).await {
            Ok(Ok(len)) => len as usize,
            _ => return,
        };
        if len > MAX_FRAME {
            return;
        }
        frame.resize(len, 0);
        match timeout(IDLE_TIMEOUT, reader.read_exact(&mut frame)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let msg: Msg = match serde_json::from_slice(&frame) {
            Ok(msg) => msg,
            Err(_) => return,
        };
        match (from, msg) {
            (None, Msg::Hello { from: id }) => {
                links.mark_heard(id);
                from = Some(id);
            }
            (None, _) => return,
            (Some(id), Msg::Beat) => links.mark_heard(id),
            (Some(id), msg) => {
                links.mark_heard(id);
                handler(id, msg);
            }
        }
    }
}
