//! Network namespaces for etcd partitions (root only): each member runs in its own network
//! namespace, whose loopback holds only that member. Member `i` listens on `127.0.0.1:2380+i`
//! for peers; in member `i`'s namespace, `127.0.0.1:2380+j` is a relay to member `j`'s
//! namespace — so every member uses the same peer URLs, yet every byte between two members
//! crosses faultline, which can stop it (both directions of every connection between them).
//! Clients reach each member through a relay on the host's loopback.
//!
//! The relays are [`crate::net::proxy`]'s (one relay code): a cut stops them, and a packet
//! fault ([`Packets`]) delays their chunks; packet loss is real loss, iptables `statistic`
//! rules inside the members' namespaces.
//!
//! Sockets belong to the namespace of the thread that created them, so each namespace has a
//! thread ([`Ns`]) that creates listeners and outgoing connections on request.

use std::collections::BTreeSet;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::nemesis::PacketSpec;

enum Job {
    Listen(
        SocketAddr,
        tokio::sync::oneshot::Sender<io::Result<StdListener>>,
    ),
    Connect(
        SocketAddr,
        tokio::sync::oneshot::Sender<io::Result<StdStream>>,
    ),
}

/// A network namespace with its socket-making thread.
pub struct Ns {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// The namespace (`/proc/thread-self/ns/net` of the thread), for `setns` of servers.
    pub fd: Arc<OwnedFd>,
}

fn lo_up() -> io::Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq naming "lo".
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if s < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut r = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req);
        if r == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(s, libc::SIOCSIFFLAGS, &req);
        }
        let e = io::Error::last_os_error();
        libc::close(s);
        if r != 0 {
            return Err(e);
        }
    }
    Ok(())
}

impl Ns {
    /// Creates a fresh network namespace with loopback up.
    pub fn new() -> io::Result<Ns> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<OwnedFd>>();
        std::thread::Builder::new()
            .name("faultline-netns".into())
            .spawn(move || {
                let setup = || -> io::Result<OwnedFd> {
                    // SAFETY: unshare affects only this thread's network namespace.
                    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    lo_up()?;
                    let f = std::fs::File::open("/proc/thread-self/ns/net")?;
                    Ok(OwnedFd::from(f))
                };
                let ok = match setup() {
                    Ok(fd) => {
                        let _ = ready_tx.send(Ok(fd));
                        true
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        false
                    }
                };
                if !ok {
                    return;
                }
                for job in rx {
                    match job {
                        Job::Listen(a, r) => {
                            let _ = r.send(StdListener::bind(a));
                        }
                        Job::Connect(a, r) => {
                            let _ = r.send(StdStream::connect(a));
                        }
                    }
                }
            })?;
        let fd = ready_rx
            .recv()
            .map_err(|_| io::Error::other("netns thread died"))??;
        Ok(Ns {
            jobs: Mutex::new(tx),
            fd: Arc::new(fd),
        })
    }

    fn send(&self, job: Job) -> io::Result<()> {
        self.jobs
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .send(job)
            .map_err(|_| io::Error::other("netns thread gone"))
    }

    /// A listener in this namespace.
    pub async fn listen(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Job::Listen(addr, tx))?;
        let l = rx
            .await
            .map_err(|_| io::Error::other("netns thread gone"))??;
        l.set_nonblocking(true)?;
        TcpListener::from_std(l)
    }

    /// A connection made from this namespace.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Job::Connect(addr, tx))?;
        let s = rx
            .await
            .map_err(|_| io::Error::other("netns thread gone"))??;
        s.set_nonblocking(true)?;
        TcpStream::from_std(s)
    }
}

/// Enters `fd`'s network namespace (in a child between fork and exec).
pub fn setns(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: setns is async-signal-safe; fd is a valid namespace descriptor.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Duplicates a descriptor (for a `pre_exec` closure that must own its copy).
pub fn dup(fd: &OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: dup of a valid descriptor; the result is owned.
    let d = unsafe { libc::dup(fd.as_raw_fd()) };
    if d < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: d is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(d) })
}

/// Which member pairs are cut (unordered, smaller index first).
#[derive(Clone)]
pub struct Cuts {
    tx: Arc<watch::Sender<BTreeSet<(usize, usize)>>>,
}

impl Cuts {
    /// No cuts.
    pub fn new() -> Cuts {
        Cuts {
            tx: Arc::new(watch::channel(BTreeSet::new()).0),
        }
    }

    /// Cuts `node` from every other of `nodes` members.
    pub fn isolate(&self, node: usize, nodes: usize) {
        let set = (0..nodes)
            .filter(|&o| o != node)
            .map(|o| (o.min(node), o.max(node)))
            .collect();
        self.tx.send_replace(set);
    }

    /// Cuts exactly these unordered pairs (replacing earlier cuts).
    pub fn cut(&self, pairs: &[(usize, usize)]) {
        let set = pairs.iter().map(|&(a, b)| (a.min(b), a.max(b))).collect();
        self.tx.send_replace(set);
    }

    /// Heals every cut.
    pub fn heal(&self) {
        self.tx.send_replace(BTreeSet::new());
    }

    fn watch(&self, pair: (usize, usize)) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let mut sets = self.tx.subscribe();
        let key = (pair.0.min(pair.1), pair.0.max(pair.1));
        tokio::spawn(async move {
            loop {
                let cut = sets.borrow_and_update().contains(&key);
                if tx.send(cut).is_err() {
                    return;
                }
                if sets.changed().await.is_err() {
                    return;
                }
            }
        });
        rx
    }
}

impl Default for Cuts {
    fn default() -> Self {
        Cuts::new()
    }
}

/// Relays connections accepted by `listener` to `target` as seen from `to`; while the pair is
/// cut, bytes stop in both directions (connections hang, as on a real partition) and new
/// connections are closed; under a packet fault (`packet`: the link's receiver from
/// [`Packets::link`]) every chunk is delayed as [`crate::net::proxy`]'s links delay it (the
/// same relay code).
pub fn relay(
    listener: TcpListener,
    to: Arc<Ns>,
    target: SocketAddr,
    cuts: Option<(Cuts, (usize, usize))>,
    packet: Option<watch::Receiver<Option<PacketSpec>>>,
) {
    tokio::spawn(async move {
        while let Ok((a, _)) = listener.accept().await {
            let to = to.clone();
            let cut = cuts.as_ref().map(|(c, p)| c.watch(*p));
            let packet = packet.clone();
            tokio::spawn(async move {
                // An uncut relay's flag, and a relay without packet faults: their senders live
                // as long as this connection (a dropped sender would end the relay).
                let (_open, never) = watch::channel(false);
                let (_clean, no_packet) = watch::channel(None);
                let blocked = cut.unwrap_or(never);
                if *blocked.borrow() {
                    return;
                }
                let Ok(b) = to.connect(target).await else {
                    return;
                };
                let packet = packet.unwrap_or(no_packet);
                crate::net::proxy::relay_streams(a, b, blocked.clone(), blocked, packet).await;
            });
        }
    });
}

/// A command faultline runs inside a member's network namespace (iptables) that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The program could not be started there.
    #[error("cannot run {} in n{node}'s network namespace: {source}", program.display())]
    Spawn {
        /// The member whose namespace (1-based).
        node: usize,
        /// The program.
        program: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// It ran and failed.
    #[error("`{command}` in n{node}'s network namespace failed ({status}): {stderr}")]
    Failed {
        /// The member whose namespace (1-based).
        node: usize,
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// Packet loss was asked for, but no iptables was found when the members started.
    #[error(
        "packet loss between the local members needs iptables (Debian package iptables) with \
         the `statistic` match; it was not found"
    )]
    NoIptables,
}

/// What is left of a packet fault after healing (the heal's verification).
#[derive(Debug, thiserror::Error)]
pub enum PacketsLeft {
    /// A relay still delays the chunks of a link.
    #[error("the relay of n{dialer}'s connections to n{dialed} still delays packets")]
    Relay {
        /// The member that dials the link (1-based).
        dialer: usize,
        /// The member it dials (1-based).
        dialed: usize,
    },
    /// A namespace still holds packet-loss rules.
    #[error("n{node}'s network namespace still holds {rules} iptables rule(s): {listing}")]
    Rules {
        /// The member whose namespace (1-based).
        node: usize,
        /// How many `-A` rules its `INPUT` chain holds.
        rules: usize,
        /// `iptables -S INPUT` there.
        listing: String,
    },
    /// The rules could not be listed.
    #[error(transparent)]
    Query(#[from] NetnsError),
}

impl Ns {
    /// Runs `program ARGS` inside this namespace (entered between fork and exec) and returns
    /// its standard output; `node` (1-based) names the namespace in errors.
    pub async fn run(
        &self,
        node: usize,
        program: &Path,
        args: &[String],
    ) -> Result<String, NetnsError> {
        let spawn = |source| NetnsError::Spawn {
            node,
            program: program.to_path_buf(),
            source,
        };
        let fd = dup(&self.fd).map_err(spawn)?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        // SAFETY: the closure only calls setns(2), async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(move || setns(&fd));
        }
        let out = cmd.output().await.map_err(spawn)?;
        if !out.status.success() {
            return Err(NetnsError::Failed {
                node,
                command: format!("{} {}", program.display(), args.join(" ")),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Packet faults between members in network namespaces (`--nemesis packet`): **delay and
/// jitter** in faultline's relays (each chunk released at its due time, the code of
/// [`crate::net::proxy`]'s links), **loss** as real packet loss — an iptables rule `-m
/// statistic --mode random --probability P -j DROP` in the `INPUT` chain of the members'
/// own namespaces (never the host's), which TCP then retransmits.
///
/// A fault aimed at a set of members hits every link touching one of them, each packet of it
/// once: a connection member `a` dials to member `b` crosses `a`'s namespace (member `a` ↔ the
/// relay listening on `b`'s peer port there) and `b`'s (the relay ↔ member `b`); its delay is
/// added once, in the relay, and its loss in `a`'s namespace only, by a rule matching `b`'s
/// peer port (the relay's side of that segment). Client relays are never touched.
///
/// Healing sets every relay back to pass-through and flushes the namespaces' `INPUT` chains
/// (faultline owns those namespaces: nothing else has rules there); [`Packets::check`]
/// verifies both. The namespaces, and with them their rules, vanish with faultline.
#[derive(Clone)]
pub struct Packets {
    inner: Arc<PacketsInner>,
}

/// The packet flag of one relayed link: the spec its chunks are delayed by, or `None`.
type LinkPacket = watch::Sender<Option<PacketSpec>>;

struct PacketsInner {
    /// The members' namespaces, `n1`'s first.
    spaces: Vec<Arc<Ns>>,
    /// Member `i`'s peer port (index from 0), on which every namespace reaches it.
    ports: Vec<u16>,
    /// The relays' packet flags, per ordered link (dialer, dialed), indices from 0.
    links: Vec<((usize, usize), LinkPacket)>,
    /// The iptables program (found when the members started), for loss.
    iptables: Option<PathBuf>,
    /// Whether loss rules may be in the namespaces (set before adding any).
    ruled: Mutex<bool>,
}

impl Packets {
    /// Packet faults over the members in `spaces` (`n1`'s first) whose peer ports are `ports`;
    /// loss needs `iptables`.
    pub fn new(spaces: Vec<Arc<Ns>>, ports: Vec<u16>, iptables: Option<PathBuf>) -> Packets {
        let n = spaces.len();
        let links = (0..n)
            .flat_map(|a| (0..n).filter(move |&b| b != a).map(move |b| (a, b)))
            .map(|l| (l, watch::channel(None).0))
            .collect();
        Packets {
            inner: Arc::new(PacketsInner {
                spaces,
                ports,
                links,
                iptables,
                ruled: Mutex::new(false),
            }),
        }
    }

    /// The packet flag of the relay carrying the connections `dialer` makes to `dialed`
    /// (indices from 0), or `None` for no such link.
    pub fn link(
        &self,
        dialer: usize,
        dialed: usize,
    ) -> Option<watch::Receiver<Option<PacketSpec>>> {
        self.inner
            .links
            .iter()
            .find(|(l, _)| *l == (dialer, dialed))
            .map(|(_, tx)| tx.subscribe())
    }

    /// Puts `spec` on every link touching `nodes` (indices from 0), replacing any earlier
    /// fault: the delay in the relays, the loss as rules in the namespaces. Duplication is not
    /// done (the target refuses it before the run).
    pub async fn set(&self, nodes: &[usize], spec: PacketSpec) -> Result<(), NetnsError> {
        self.heal().await?;
        let aimed: BTreeSet<usize> = nodes.iter().copied().collect();
        let touched = |a: usize, b: usize| aimed.contains(&a) || aimed.contains(&b);
        if spec.loss > 0.0 {
            let iptables = self.inner.iptables.as_ref().ok_or(NetnsError::NoIptables)?;
            *self.inner.ruled.lock().unwrap_or_else(|e| e.into_inner()) = true;
            for (a, ns) in self.inner.spaces.iter().enumerate() {
                let ports: Vec<String> = (0..self.inner.ports.len())
                    .filter(|&b| b != a && touched(a, b))
                    .map(|b| self.inner.ports[b].to_string())
                    .collect();
                if ports.is_empty() {
                    continue;
                }
                let args = [
                    "-w",
                    "-A",
                    "INPUT",
                    "-p",
                    "tcp",
                    "-m",
                    "multiport",
                    "--ports",
                    &ports.join(","),
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &spec.loss.to_string(),
                    "-j",
                    "DROP",
                ];
                let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                ns.run(a + 1, iptables, &args).await?;
            }
        }
        let delay = PacketSpec {
            loss: 0.0,
            duplicate: 0.0,
            ..spec
        };
        let delayed = !delay.kinds().is_empty();
        for ((a, b), tx) in &self.inner.links {
            tx.send_replace((delayed && touched(*a, *b)).then_some(delay));
        }
        Ok(())
    }

    /// Ends every packet fault: every relay back to pass-through, every namespace's `INPUT`
    /// chain flushed. Tries every namespace; returns the first failure.
    pub async fn heal(&self) -> Result<(), NetnsError> {
        for (_, tx) in &self.inner.links {
            tx.send_replace(None);
        }
        let ruled = *self.inner.ruled.lock().unwrap_or_else(|e| e.into_inner());
        let mut first = Ok(());
        if let (true, Some(iptables)) = (ruled, &self.inner.iptables) {
            let args = ["-w".to_string(), "-F".to_string(), "INPUT".to_string()];
            for (a, ns) in self.inner.spaces.iter().enumerate() {
                if let Err(e) = ns.run(a + 1, iptables, &args).await {
                    if first.is_ok() {
                        first = Err(e);
                    }
                }
            }
        }
        first
    }

    /// Verifies that no packet fault is left: every relay passes chunks through at once, and
    /// no namespace holds a rule.
    pub async fn check(&self) -> Result<(), PacketsLeft> {
        if let Some(((a, b), _)) = self
            .inner
            .links
            .iter()
            .find(|(_, tx)| tx.borrow().is_some())
        {
            return Err(PacketsLeft::Relay {
                dialer: a + 1,
                dialed: b + 1,
            });
        }
        let ruled = *self.inner.ruled.lock().unwrap_or_else(|e| e.into_inner());
        if let (true, Some(iptables)) = (ruled, &self.inner.iptables) {
            let args = ["-w".to_string(), "-S".to_string(), "INPUT".to_string()];
            for (a, ns) in self.inner.spaces.iter().enumerate() {
                let listing = ns.run(a + 1, iptables, &args).await?;
                let rules = listing.lines().filter(|l| l.starts_with("-A")).count();
                if rules > 0 {
                    return Err(PacketsLeft::Rules {
                        node: a + 1,
                        rules,
                        listing: listing.trim().replace('\n', "; "),
                    });
                }
            }
        }
        Ok(())
    }
}
