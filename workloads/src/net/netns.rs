//! Network namespaces for etcd partitions (root only): each member runs in its own network
//! namespace, whose loopback holds only that member. Member `i` listens on `127.0.0.1:2380+i`
//! for peers; in member `i`'s namespace, `127.0.0.1:2380+j` is a relay to member `j`'s
//! namespace — so every member uses the same peer URLs, yet every byte between two members
//! crosses faultline, which can stop it (both directions of every connection between them).
//! Clients reach each member through a relay on the host's loopback.
//!
//! Sockets belong to the namespace of the thread that created them, so each namespace has a
//! thread ([`Ns`]) that creates listeners and outgoing connections on request.

use std::collections::BTreeSet;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{mpsc, Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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
/// cut, bytes stop in both directions (connections hang, as on a real partition).
pub fn relay(
    listener: TcpListener,
    to: Arc<Ns>,
    target: SocketAddr,
    cuts: Option<(Cuts, (usize, usize))>,
) {
    tokio::spawn(async move {
        while let Ok((a, _)) = listener.accept().await {
            let to = to.clone();
            let cut = cuts.as_ref().map(|(c, p)| c.watch(*p));
            tokio::spawn(async move {
                if let Some(c) = &cut {
                    if *c.borrow() {
                        return;
                    }
                }
                let Ok(b) = to.connect(target).await else {
                    return;
                };
                let _ = a.set_nodelay(true);
                let _ = b.set_nodelay(true);
                let (ar, aw) = a.into_split();
                let (br, bw) = b.into_split();
                let x = pump(ar, bw, cut.clone());
                let y = pump(br, aw, cut);
                tokio::select! { _ = x => {}, _ = y => {} }
            });
        }
    });
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut cut: Option<watch::Receiver<bool>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if let Some(c) = cut.as_mut() {
            if c.wait_for(|v| !*v).await.is_err() {
                return;
            }
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(c) = cut.as_mut() {
            // Bytes read while cut are held until the cut heals (a partition delays, then drops
            // nothing that TCP would not retransmit).
            if c.wait_for(|v| !*v).await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
