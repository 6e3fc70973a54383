//! The simulated network inside faultline ("run" step): every message between nodes,
//! clients and services passes through one [`Router`], which counts it, drops it when a
//! partition cuts its link (one-way cuts too) or `--message-loss` loses it, and delays it by the seeded latency
//! (`--latency`, `--latency-dist`) before the receiver's inbox task hands it on.
//!
//! Addresses are indices ([`Addr`]): nodes `n1..nN` first, then clients, services and the
//! internal `c0` that sends `init`. Lines are forwarded as the sender wrote them; the router
//! reads only the envelope ([`super::proto::Head`]).

use super::proto::ProtocolError;
use checkers::Rng;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// An endpoint's index in the router.
pub type Addr = usize;

/// What an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A node program (`n1`…).
    Node,
    /// A Maelstrom client (`c1`…).
    Client,
    /// A service (`lin-kv`, …).
    Service,
    /// faultline's own `c0`, which sends `init` (not counted in the statistics).
    Internal,
}

/// The shape of the latency distribution (`--latency-dist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LatencyDist {
    /// Every message takes exactly the mean.
    Constant,
    /// Uniform between 0 and twice the mean.
    Uniform,
    /// Exponential with the given mean.
    Exponential,
}

/// A message in flight.
#[derive(Debug, Clone)]
pub struct Msg {
    /// Sender.
    pub src: Addr,
    /// Receiver.
    pub dest: Addr,
    /// The JSON line (without newline).
    pub line: Arc<str>,
    /// Its entry in the router's journal ([`NOT_JOURNALED`] past the first
    /// [`JOURNAL_CAP`] messages); set by [`Router::send`].
    pub jid: u32,
}

/// A message that has no entry in the journal.
pub const NOT_JOURNALED: u32 = u32::MAX;

/// How many messages (the first of a run) the router journals for the Lamport diagram.
pub const JOURNAL_CAP: usize = 2000;

impl Msg {
    /// A message from `src` to `dest`.
    pub fn new(src: Addr, dest: Addr, line: Arc<str>) -> Msg {
        Msg {
            src,
            dest,
            line,
            jid: NOT_JOURNALED,
        }
    }
}

/// One journaled message: when it was sent and delivered (microseconds since the router
/// started), or that it was dropped.
struct Journaled {
    sent: u64,
    recv: Option<u64>,
    dropped: bool,
    line: Arc<str>,
}

struct Delivery {
    at: Option<Instant>,
    seq: u64,
    msg: Msg,
}

impl PartialEq for Delivery {
    fn eq(&self, o: &Self) -> bool {
        self.seq == o.seq
    }
}
impl Eq for Delivery {}
impl PartialOrd for Delivery {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Delivery {
    /// Reversed: the heap pops the earliest delivery first.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// Message counts of one class (all, clients, servers).
#[derive(Debug, Default)]
pub struct Counts {
    /// Messages sent into the network.
    pub sent: AtomicU64,
    /// Messages delivered to their receiver.
    pub delivered: AtomicU64,
    /// Messages dropped by a partition (or sent to a node that was down).
    pub dropped: AtomicU64,
}

impl Counts {
    fn json(&self, ops: u64) -> serde_json::Value {
        let sent = self.sent.load(Ordering::Relaxed);
        serde_json::json!({
            "send-count": sent,
            "recv-count": self.delivered.load(Ordering::Relaxed),
            "dropped": self.dropped.load(Ordering::Relaxed),
            "msgs-per-op": if ops == 0 { serde_json::Value::Null } else { serde_json::json!((sent as f64 / ops as f64 * 1000.0).round() / 1000.0) },
        })
    }
}

/// Network statistics, as Maelstrom reports them: `clients` are messages to or from a
/// client, `servers` those between nodes and services, `all` both (summed when reported, so
/// each message touches one counter).
#[derive(Debug, Default)]
pub struct NetStats {
    /// Messages to or from a client.
    pub clients: Counts,
    /// Messages between servers (nodes and services).
    pub servers: Counts,
}

impl NetStats {
    /// `{"all": {...}, "clients": {...}, "servers": {...}}`, messages per client operation
    /// over `ops` operations.
    pub fn json(&self, ops: u64) -> serde_json::Value {
        let all = Counts::default();
        for (total, a, b) in [
            (&all.sent, &self.clients.sent, &self.servers.sent),
            (
                &all.delivered,
                &self.clients.delivered,
                &self.servers.delivered,
            ),
            (&all.dropped, &self.clients.dropped, &self.servers.dropped),
        ] {
            total.store(
                a.load(Ordering::Relaxed) + b.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
        }
        serde_json::json!({
            "all": all.json(ops),
            "clients": self.clients.json(ops),
            "servers": self.servers.json(ops),
            "ops": ops,
        })
    }
}

/// What `net.log` records (`--log-net-send`, `--log-net-recv`): one JSON line per event,
/// `{"us": µs since the router started, "event": "send"|"recv", "msg": MESSAGE}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetLogEvents {
    /// `--log-net-send`: every message when a sender hands it to the network (lost and
    /// partitioned ones too).
    pub send: bool,
    /// `--log-net-recv`: every message when it is delivered to its receiver (never the lost
    /// ones).
    pub recv: bool,
}

impl NetLogEvents {
    /// Whether anything is logged.
    pub fn any(self) -> bool {
        self.send || self.recv
    }
}

/// A direct receiver: takes an undelayed message at once, in the sender's task, instead of
/// through the endpoint's inbox task (one task hop fewer per message). Delayed messages
/// still go through the inbox, which releases each at its time.
pub type Direct = Arc<dyn Fn(Msg) + Send + Sync>;

/// Checks a client endpoint makes of replies sent to it (known msg_ids).
pub trait ReplyCheck: Send + Sync {
    /// Whether `in_reply_to` answers something this client sent; `Err(highest sent)` if not.
    fn known(&self, in_reply_to: Option<u64>) -> Result<(), u64>;
}

/// The router: names, links, latency, statistics, and one inbox per endpoint.
pub struct Router {
    names: Vec<String>,
    /// Each name as a JSON string (`"n1"`), for building envelopes without a serializer.
    quoted: Vec<String>,
    kinds: Vec<Kind>,
    index: HashMap<String, Addr>,
    nodes: usize,
    inboxes: Vec<mpsc::UnboundedSender<Delivery>>,
    blocked: RwLock<HashSet<(Addr, Addr)>>,
    any_blocked: AtomicBool,
    latency: Duration,
    dist: LatencyDist,
    rng: Mutex<Rng>,
    seq: AtomicU64,
    checks: Vec<std::sync::OnceLock<Arc<dyn ReplyCheck>>>,
    direct: Vec<std::sync::OnceLock<Direct>>,
    /// `--message-loss`: the probability (as f64 bits) that a message between two nodes is
    /// lost; zero once the run heals ([`Router::stop_loss`]).
    loss: AtomicU64,
    /// The first [`JOURNAL_CAP`] messages, and whether it is full.
    journal: Mutex<Vec<Journaled>>,
    journal_full: AtomicBool,
    /// Messages `c0` sent or received (not in the statistics).
    internal: AtomicU64,
    t0: std::time::Instant,
    /// The packet fault now: the nodes whose messages (sent or received) it hits, and what it
    /// does to them.
    packet: RwLock<Option<(HashSet<Addr>, crate::nemesis::PacketSpec)>>,
    /// Whether `packet` is set: read per message instead of the lock.
    packet_on: AtomicBool,
    /// The statistics.
    pub stats: NetStats,
    net_log: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
    net_log_events: NetLogEvents,
}

/// The receiving end of one endpoint's inbox: run it with [`Inbox::pump`].
pub struct Inbox(mpsc::UnboundedReceiver<Delivery>);

impl Router {
    /// A router over `names` (nodes first: the first `nodes` are `n1..nN`), with `latency`
    /// drawn from `dist`, seeded by `seed`. Returns the inboxes in the same order.
    pub fn new(
        names: Vec<(String, Kind)>,
        nodes: usize,
        latency: Duration,
        dist: LatencyDist,
        seed: u64,
        net_log: Option<(std::fs::File, NetLogEvents)>,
    ) -> (Arc<Router>, Vec<Inbox>) {
        let count = names.len();
        let mut inboxes = Vec::new();
        let mut rxs = Vec::new();
        for _ in &names {
            let (tx, rx) = mpsc::unbounded_channel();
            inboxes.push(tx);
            rxs.push(Inbox(rx));
        }
        let index = names
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        let (net_log, net_log_events) = match net_log {
            Some((f, events)) if events.any() => (
                Some(Mutex::new(std::io::BufWriter::with_capacity(1 << 16, f))),
                events,
            ),
            _ => (None, NetLogEvents::default()),
        };
        let router = Router {
            quoted: names
                .iter()
                .map(|(n, _)| serde_json::Value::from(n.as_str()).to_string())
                .collect(),
            kinds: names.iter().map(|(_, k)| *k).collect(),
            names: names.into_iter().map(|(n, _)| n).collect(),
            index,
            nodes,
            inboxes,
            blocked: RwLock::new(HashSet::new()),
            any_blocked: AtomicBool::new(false),
            latency,
            dist,
            rng: Mutex::new(Rng::new(seed ^ 0x6d61_656c)),
            seq: AtomicU64::new(0),
            checks: (0..count).map(|_| std::sync::OnceLock::new()).collect(),
            direct: (0..count).map(|_| std::sync::OnceLock::new()).collect(),
            loss: AtomicU64::new(0),
            journal: Mutex::new(Vec::new()),
            journal_full: AtomicBool::new(false),
            internal: AtomicU64::new(0),
            t0: std::time::Instant::now(),
            packet: RwLock::new(None),
            packet_on: AtomicBool::new(false),
            stats: NetStats::default(),
            net_log,
            net_log_events,
        };
        (Arc::new(router), rxs)
    }

    /// An endpoint's name.
    pub fn name(&self, a: Addr) -> &str {
        &self.names[a]
    }

    /// An endpoint's name as a JSON string (`"n1"`, quotes included).
    pub fn quoted(&self, a: Addr) -> &str {
        &self.quoted[a]
    }

    /// An endpoint's address by name.
    pub fn addr(&self, name: &str) -> Option<Addr> {
        // Fast path for nodes and clients (`nK` is K-1, `cK` is nodes+K-1), checked by name.
        let guess = match name.as_bytes().first() {
            Some(b'n') => name[1..]
                .parse::<usize>()
                .ok()
                .and_then(|k| k.checked_sub(1)),
            Some(b'c') => name[1..]
                .parse::<usize>()
                .ok()
                .and_then(|k| k.checked_sub(1))
                .map(|k| k + self.nodes),
            _ => None,
        };
        if let Some(a) = guess {
            if self.names.get(a).is_some_and(|n| n == name) {
                return Some(a);
            }
        }
        self.index.get(name).copied()
    }

    /// Number of node programs.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Registers a direct receiver for `a`: its undelayed messages are handed to `direct` in
    /// the sender's task; delayed ones still come through its inbox.
    pub fn set_direct(&self, a: Addr, direct: Direct) {
        let _ = self.direct[a].set(direct);
    }

    /// Registers the reply check of a client endpoint.
    pub fn set_check(&self, a: Addr, check: Arc<dyn ReplyCheck>) {
        let _ = self.checks[a].set(check);
    }

    /// Cuts the links `from → to` (the receiver no longer hears the sender).
    pub fn cut(&self, pairs: &[(Addr, Addr)]) {
        let mut b = self.blocked.write().unwrap_or_else(|e| e.into_inner());
        b.extend(pairs.iter().copied());
        self.any_blocked.store(!b.is_empty(), Ordering::SeqCst);
    }

    /// Heals every cut.
    pub fn heal(&self) {
        self.blocked
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.any_blocked.store(false, Ordering::SeqCst);
    }

    /// Loses each message between two nodes with probability `p` (seeded draws), until
    /// [`Router::stop_loss`].
    pub fn set_loss(&self, p: f64) {
        self.loss
            .store(p.clamp(0.0, 1.0).to_bits(), Ordering::SeqCst);
    }

    /// Stops losing messages (the run heals).
    pub fn stop_loss(&self) {
        self.loss.store(0, Ordering::SeqCst);
    }

    /// Whether messages are still being lost.
    pub fn losing(&self) -> bool {
        self.loss.load(Ordering::SeqCst) != 0
    }

    /// Puts a packet fault on every message to or from `nodes` (replacing any earlier one).
    pub fn set_packet(&self, nodes: &[Addr], spec: crate::nemesis::PacketSpec) {
        let mut p = self.packet.write().unwrap_or_else(|e| e.into_inner());
        *p = Some((nodes.iter().copied().collect(), spec));
        self.packet_on.store(true, Ordering::SeqCst);
    }

    /// Ends the packet fault.
    pub fn heal_packets(&self) {
        let mut p = self.packet.write().unwrap_or_else(|e| e.into_inner());
        *p = None;
        self.packet_on.store(false, Ordering::SeqCst);
    }

    /// Whether a packet fault is in place.
    pub fn packet_faulted(&self) -> bool {
        self.packet
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Number of cut links.
    pub fn cut_links(&self) -> usize {
        self.blocked.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn known_names(&self) -> String {
        let n = self.nodes;
        let mut s = if n == 1 {
            "n1".to_string()
        } else {
            format!("n1..n{n}")
        };
        for (i, name) in self.names.iter().enumerate() {
            if self.kinds[i] == Kind::Service {
                s.push_str(", ");
                s.push_str(name);
            }
        }
        s.push_str(", and the clients c1…");
        s
    }

    /// A line a node program wrote on its stdout: checked and sent.
    pub fn from_node(&self, node: Addr, line: &str) -> Result<(), ProtocolError> {
        let me = &self.names[node];
        let head = super::proto::parse_head(line).map_err(|why| ProtocolError::NotAMessage {
            node: me.clone(),
            why,
            line: super::proto::shorten(line),
        })?;
        if head.src != *me {
            return Err(ProtocolError::WrongSrc {
                node: me.clone(),
                src: head.src.into_owned(),
                line: super::proto::shorten(line),
            });
        }
        let Some(dest) = self.addr(&head.dest) else {
            return Err(ProtocolError::UnknownDest {
                node: me.clone(),
                dest: head.dest.into_owned(),
                known: self.known_names(),
                line: super::proto::shorten(line),
            });
        };
        if matches!(self.kinds[dest], Kind::Client | Kind::Internal) {
            if let Some(check) = self.checks[dest].get() {
                if let Err(sent) = check.known(head.body.in_reply_to) {
                    return Err(ProtocolError::UnknownReply {
                        node: me.clone(),
                        dest: head.dest.into_owned(),
                        in_reply_to: head.body.in_reply_to,
                        sent,
                        line: super::proto::shorten(line),
                    });
                }
            }
        }
        self.send(Msg::new(node, dest, Arc::from(line)));
        Ok(())
    }

    fn class(&self, m: &Msg) -> Option<&Counts> {
        let (a, b) = (self.kinds[m.src], self.kinds[m.dest]);
        if a == Kind::Internal || b == Kind::Internal {
            None
        } else if a == Kind::Client || b == Kind::Client {
            Some(&self.stats.clients)
        } else {
            Some(&self.stats.servers)
        }
    }

    fn micros(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    /// Gives `msg` an entry in the journal while it has room.
    fn journal(&self, msg: &mut Msg) {
        if self.journal_full.load(Ordering::Relaxed) {
            return;
        }
        let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        if j.len() >= JOURNAL_CAP {
            self.journal_full.store(true, Ordering::Relaxed);
            return;
        }
        msg.jid = j.len() as u32;
        j.push(Journaled {
            sent: self.micros(),
            recv: None,
            dropped: false,
            line: msg.line.clone(),
        });
    }

    fn journal_end(&self, msg: &Msg, dropped: bool) {
        if msg.jid == NOT_JOURNALED {
            return;
        }
        let t = self.micros();
        let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = j.get_mut(msg.jid as usize) {
            if dropped {
                e.dropped = true;
            } else {
                e.recv = Some(t);
            }
        }
    }

    /// Writes the journal as JSON lines — `{"sent": µs, "recv": µs|null, "dropped": bool,
    /// "msg": MESSAGE}` — the first [`JOURNAL_CAP`] messages of the run, for the Lamport
    /// diagram; returns how many messages were sent in all.
    pub fn write_journal(&self, w: &mut impl std::io::Write) -> std::io::Result<u64> {
        let j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        for e in j.iter() {
            writeln!(
                w,
                "{{\"sent\":{},\"recv\":{},\"dropped\":{},\"msg\":{}}}",
                e.sent,
                e.recv.map_or("null".to_string(), |r| r.to_string()),
                e.dropped,
                e.line
            )?;
        }
        let s = &self.stats;
        Ok(self.internal.load(Ordering::Relaxed)
            + s.clients.sent.load(Ordering::Relaxed)
            + s.servers.sent.load(Ordering::Relaxed))
    }

    /// Sends a message: counted, dropped if its link is cut, delayed by the latency.
    pub fn send(&self, mut msg: Msg) {
        self.journal(&mut msg);
        let class = self.class(&msg);
        if let Some(c) = class {
            c.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.internal.fetch_add(1, Ordering::Relaxed);
        }
        if self.net_log_events.send {
            self.log_event("send", &msg);
        }
        if self.any_blocked.load(Ordering::Relaxed)
            && self
                .blocked
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&(msg.src, msg.dest))
        {
            self.dropped(&msg);
            return;
        }
        let loss = self.loss.load(Ordering::Relaxed);
        if loss != 0
            && self.kinds[msg.src] == Kind::Node
            && self.kinds[msg.dest] == Kind::Node
            && self.unit() < f64::from_bits(loss)
        {
            self.dropped(&msg);
            return;
        }
        // No packet fault (the common case): no lock.
        let packet = if self.packet_on.load(Ordering::Relaxed) {
            self.packet
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .filter(|(nodes, _)| nodes.contains(&msg.src) || nodes.contains(&msg.dest))
                .map(|(_, spec)| *spec)
        } else {
            None
        };
        let Some(spec) = packet else {
            let Some(d) = self.delay() else {
                self.deliver_now(msg);
                return;
            };
            // The sequence number orders delayed messages due at the same instant.
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let dest = msg.dest;
            let _ = self.inboxes[dest].send(Delivery {
                at: Some(Instant::now() + d),
                seq,
                msg,
            });
            return;
        };
        let mut copies = 1;
        let extra;
        {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            if spec.lost(&mut rng) {
                drop(rng);
                self.dropped(&msg);
                return;
            }
            if spec.duplicated(&mut rng) {
                copies = 2;
            }
            extra = spec.sample_delay(&mut rng);
        }
        for _ in 0..copies {
            let delay = match (self.delay(), extra.is_zero()) {
                (None, true) => None,
                (d, _) => Some(d.unwrap_or_default() + extra),
            };
            let Some(d) = delay else {
                self.deliver_now(msg.clone());
                continue;
            };
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let dest = msg.dest;
            let _ = self.inboxes[dest].send(Delivery {
                at: Some(Instant::now() + d),
                seq,
                msg: msg.clone(),
            });
        }
    }

    /// An undelayed message: to the receiver's direct receiver if it has one (counted
    /// delivered here), else into its inbox.
    fn deliver_now(&self, msg: Msg) {
        let dest = msg.dest;
        if let Some(direct) = self.direct[dest].get() {
            self.delivered(&msg);
            direct(msg);
        } else {
            let _ = self.inboxes[dest].send(Delivery {
                at: None,
                seq: 0,
                msg,
            });
        }
    }

    /// One line of `net.log`.
    fn log_event(&self, event: &str, msg: &Msg) {
        if let Some(log) = &self.net_log {
            use std::io::Write;
            let us = self.micros();
            let mut w = log.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(
                w,
                "{{\"us\":{us},\"event\":\"{event}\",\"msg\":{}}}",
                msg.line
            );
        }
    }

    /// Counts a message that never arrived (cut link, or its receiver was down).
    pub fn dropped(&self, msg: &Msg) {
        self.journal_end(msg, true);
        if let Some(c) = self.class(msg) {
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn delivered(&self, msg: &Msg) {
        self.journal_end(msg, false);
        if self.net_log_events.recv {
            self.log_event("recv", msg);
        }
        if let Some(c) = self.class(msg) {
            c.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Flushes the network log.
    pub fn flush_log(&self) {
        if let Some(log) = &self.net_log {
            use std::io::Write;
            let _ = log.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
    }

    fn delay(&self) -> Option<Duration> {
        if self.latency.is_zero() {
            return None;
        }
        let mean = self.latency.as_secs_f64();
        let secs = match self.dist {
            LatencyDist::Constant => mean,
            LatencyDist::Uniform => {
                let u = self.unit();
                2.0 * mean * u
            }
            LatencyDist::Exponential => {
                let u = self.unit().max(1e-12);
                -mean * u.ln()
            }
        };
        Some(Duration::from_secs_f64(secs))
    }

    fn unit(&self) -> f64 {
        let r = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_u64();
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Inbox {
    /// Delivers this endpoint's messages, each at its time, in batches: `deliver` gets every
    /// message due now (at least one), and is awaited before the next batch.
    pub async fn pump<F, Fut>(mut self, router: Arc<Router>, mut deliver: F)
    where
        F: FnMut(Vec<Msg>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut heap: BinaryHeap<Delivery> = BinaryHeap::new();
        let mut batch: Vec<Msg> = Vec::new();
        loop {
            let next_at = heap.peek().and_then(|d| d.at);
            let got = match next_at {
                None => Some(self.0.recv().await),
                Some(at) => tokio::select! {
                    d = self.0.recv() => Some(d),
                    // The earliest delayed message is due: release it below.
                    _ = tokio::time::sleep_until(at) => None,
                },
            };
            match got {
                Some(None) => return,
                Some(Some(d)) => match d.at {
                    None => batch.push(d.msg),
                    Some(_) => heap.push(d),
                },
                None => {}
            }
            // Everything else already waiting.
            while batch.len() < 1024 {
                match self.0.try_recv() {
                    Ok(d) => match d.at {
                        None => batch.push(d.msg),
                        Some(_) => heap.push(d),
                    },
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            while heap
                .peek()
                .is_some_and(|d| d.at.is_some_and(|at| at <= now))
            {
                if let Some(d) = heap.pop() {
                    batch.push(d.msg);
                }
            }
            if !batch.is_empty() {
                for m in &batch {
                    router.delivered(m);
                }
                deliver(std::mem::take(&mut batch)).await;
            }
        }
    }
}
