//! Spawning one node process: command line, log file, parent-death signal, the READY line.
//!
//! Used by [`super::Cluster`] for the first start and for every restart of a node.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::{ClusterError, ClusterSpec};

/// How long a node has to print its READY line.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A node process that printed READY, with the addresses it bound.
pub(crate) struct Spawned {
    /// The running process (killed if dropped).
    pub child: Child,
    /// Its http-kv address.
    pub http: SocketAddr,
    /// Its peer address.
    pub peer: SocketAddr,
}

/// Where node `id` keeps its data: `dir/n<id>`.
pub(crate) fn data_dir(spec: &ClusterSpec, id: usize) -> PathBuf {
    spec.dir.join(format!("n{id}"))
}

/// Where node `id`'s data really lives when faultline's FUSE filesystem is mounted at its data
/// directory: `dir/n<id>.disk` (what was synced).
pub(crate) fn backing_dir(spec: &ClusterSpec, id: usize) -> PathBuf {
    spec.dir.join(format!("n{id}.disk"))
}

/// Node `id`'s log (its stderr, and its stdout after READY): `dir/n<id>.log`.
pub(crate) fn log_path(spec: &ClusterSpec, id: usize) -> PathBuf {
    spec.dir.join(format!("n{id}.log"))
}

/// Starts node `id` listening on `http` and `peer` (port 0: any), reaching each peer through
/// the given address, and waits (until `deadline`) for its READY line.
pub(crate) async fn spawn_node(
    spec: &ClusterSpec,
    id: usize,
    http: SocketAddr,
    peer: SocketAddr,
    peers: &[(usize, SocketAddr)],
    deadline: Instant,
) -> Result<Spawned, ClusterError> {
    let data = data_dir(spec, id);
    std::fs::create_dir_all(&data).map_err(|source| ClusterError::Io {
        what: format!("cannot create {}", data.display()),
        source,
    })?;
    let log = log_path(spec, id);
    let log_err = |source| ClusterError::Io {
        what: format!("cannot write {}", log.display()),
        source,
    };
    let mut log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(log_err)?;

    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .arg("--id")
        .arg(id.to_string())
        .arg("--http")
        .arg(http.to_string())
        .arg("--peer-listen")
        .arg(peer.to_string());
    for (other, addr) in peers {
        cmd.arg("--peer").arg(format!("{other}={addr}"));
    }
    cmd.arg("--data-dir").arg(&data);
    if let Some(clock) = &spec.clock {
        cmd.envs(clock.env(id - 1));
    }
    writeln!(
        log_file,
        "--- faultline: starting n{id}: {:?}",
        cmd.as_std()
    )
    .map_err(log_err)?;
    let stderr = log_file.try_clone().map_err(log_err)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true);
    die_with_parent(&mut cmd);
    let mut child = spawn_from_spawner(cmd)
        .await
        .map_err(|source| ClusterError::Spawn {
            node: id,
            program: spec.program.display().to_string(),
            source,
        })?;

    let stdout = child.stdout.take().ok_or_else(|| ClusterError::Io {
        what: format!("no stdout pipe for n{id}"),
        source: io::Error::other("missing pipe"),
    })?;
    let mut lines = BufReader::new(stdout);
    let (http, peer) = loop {
        let mut line = String::new();
        match tokio::time::timeout_at(deadline, lines.read_line(&mut line)).await {
            Err(_) => return Err(ClusterError::NotReady { node: id, log }),
            Ok(Err(source)) => {
                return Err(ClusterError::Io {
                    what: format!("cannot read the stdout of n{id}"),
                    source,
                })
            }
            Ok(Ok(0)) => {
                let status = match tokio::time::timeout(Duration::from_secs(1), child.wait()).await
                {
                    Ok(Ok(status)) => status.to_string(),
                    _ => "closed its stdout".to_string(),
                };
                return Err(ClusterError::Exited {
                    node: id,
                    status,
                    tail: log_tail(&log),
                    log,
                });
            }
            Ok(Ok(_)) => {
                if let Some(addrs) = parse_ready(&line) {
                    break addrs;
                }
                if line.trim_start().starts_with("READY") {
                    return Err(ClusterError::BadReady {
                        node: id,
                        line: line.trim_end().to_string(),
                    });
                }
                log_file.write_all(line.as_bytes()).map_err(log_err)?;
            }
        }
    };
    // Keep draining stdout into the log so the node never blocks on a full pipe.
    let mut rest = tokio::fs::File::from_std(log_file);
    tokio::spawn(async move {
        let _ = tokio::io::copy_buf(&mut lines, &mut rest).await;
    });
    Ok(Spawned { child, http, peer })
}

/// Parses `READY http=ADDR peer=ADDR` (extra fields are ignored).
pub(crate) fn parse_ready(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let mut words = line.split_whitespace();
    if words.next() != Some("READY") {
        return None;
    }
    let (mut http, mut peer) = (None, None);
    for word in words {
        if let Some(addr) = word.strip_prefix("http=") {
            http = addr.parse().ok();
        } else if let Some(addr) = word.strip_prefix("peer=") {
            peer = addr.parse().ok();
        }
    }
    Some((http?, peer?))
}

/// The last few lines of a log file, for error messages ("" if unreadable).
fn log_tail(path: &Path) -> String {
    const TAIL: u64 = 600;
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text.trim()
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Makes the child receive SIGKILL when faultline dies, even by SIGKILL (Linux
/// `PR_SET_PDEATHSIG`), and puts it in a process group of its own (out of reach of a
/// terminal's Ctrl-C, which faultline handles by healing and stopping its children). The kernel sends it when the *thread* that forked the child exits, which
/// is why every node is forked by [`spawn_from_spawner`]'s thread, alive until faultline exits.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
        // functions (prctl, getppid, setpgid); it allocates nothing.
        let parent = std::process::id() as libc::pid_t;
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // faultline died between fork and prctl: the signal will never come.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                // A process group of its own: a terminal's Ctrl-C reaches faultline's whole
                // foreground group, and the node must not die of it before faultline heals
                // and stops it.
                if libc::setpgid(0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// A command to spawn on the spawner thread, in the context of the caller's runtime.
struct SpawnJob {
    cmd: Command,
    runtime: tokio::runtime::Handle,
    reply: tokio::sync::oneshot::Sender<io::Result<Child>>,
}

/// The spawner thread's queue; the thread lives (idle) until faultline exits.
static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnJob>>> = OnceLock::new();

/// Spawns `cmd` from one dedicated, never-exiting thread, so that the parent-death signal of
/// [`die_with_parent`] fires when faultline exits, not when some runtime or blocking-pool
/// thread that happened to call us does.
async fn spawn_from_spawner(cmd: Command) -> io::Result<Child> {
    let spawner = SPAWNER.get_or_init(|| {
        let (queue, jobs) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("faultline-node-spawner".to_string())
            .spawn(move || {
                for mut job in jobs {
                    let _context = job.runtime.enter();
                    let _ = job.reply.send(job.cmd.spawn());
                }
            })
            .ok()
            .map(|_| queue)
    });
    let spawner = spawner
        .as_ref()
        .ok_or_else(|| io::Error::other("cannot start the node-spawner thread"))?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = SpawnJob {
        cmd,
        runtime: tokio::runtime::Handle::current(),
        reply,
    };
    spawner
        .send(job)
        .map_err(|_| io::Error::other("the node-spawner thread is gone"))?;
    let child = answer
        .await
        .map_err(|_| io::Error::other("the node-spawner thread dropped a request"))??;
    // Listed for `faultline heal`, should faultline die and the child somehow outlive it.
    if let Some(pid) = child.id() {
        crate::leftovers::note_child(pid);
    }
    Ok(child)
}

/// Spawns `cmd` so that it receives SIGKILL when faultline exits (see [`die_with_parent`]);
/// shared with the real-database launchers of [`crate::target`].
pub(crate) async fn spawn_tied(mut cmd: Command) -> io::Result<Child> {
    die_with_parent(&mut cmd);
    spawn_from_spawner(cmd).await
}
