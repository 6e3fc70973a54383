//! Remote nodes over SSH: the control layer through which faultline starts databases on other
//! machines and breaks them (part of the "run" step of run → check → report, beside the
//! targets; `faultline heal` uses it alone).
//!
//! - [`SshArgs`]: the connection flags (`--ssh-nodes`, `--ssh-user`, `--ssh-key`, …), shared by
//!   `run` and `heal`.
//! - [`Remote`]: one multiplexed connection per node (the `openssh` crate drives the system
//!   `ssh` client with a ControlMaster, so `~/.ssh/config`, agents, jump hosts and
//!   `known_hosts` apply as for the user), commands run on every node in parallel
//!   ([`Remote::run_all`]), each with a timeout, its exit status and output logged to
//!   `run.log`. Commands go to one long-lived `/bin/sh` per node reading them on its stdin
//!   (`Shell`: each framed by a unique end marker carrying the exit status), so a command
//!   costs no new SSH session and no login shell (the login user's `~/.bashrc` is read once
//!   per node, not once per command). Nothing secret is logged: the commands are faultline's own scripts, the key is
//!   named by its path only.
//! - [`faults`]: the fault primitives on such nodes (iptables in faultline's own chain,
//!   SIGKILL/SIGSTOP of a service's process tree, restart), and the heal script that undoes
//!   everything faultline may have left.
//! - [`SshError`]: what went wrong, naming the host (all exit 254: the user's hosts or flags).
//!
//! See `docs/remote.md`.

pub mod faults;
pub mod members;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runner::Progress;

/// The connection flags (`run` and `heal`).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Remote nodes over SSH (docs/remote.md)")]
pub struct SshArgs {
    /// The machines the nodes run on, HOST or USER@HOST:PORT (user and port optional),
    /// comma-separated, node i on host i: faultline reaches each over SSH to start the
    /// database there or break the user's service (iptables, signals).
    #[arg(long, value_name = "[USER@]HOST[:PORT],...", value_delimiter = ',')]
    pub ssh_nodes: Vec<String>,

    /// The login user for hosts that do not name one (default: ssh's, from ~/.ssh/config or
    /// the local user).
    #[arg(long, value_name = "USER")]
    pub ssh_user: Option<String>,

    /// The private key to log in with (only this key is offered; default: ssh's keys and
    /// agent).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,

    /// The SSH port for hosts that do not name one (default: ssh's, usually 22).
    #[arg(long, value_name = "PORT")]
    pub ssh_port: Option<u16>,

    /// Run commands on the nodes through `sudo -n` (iptables and the database need root;
    /// not needed when logging in as root).
    #[arg(long)]
    pub ssh_sudo: bool,

    /// The known_hosts file to check host keys against (default: ssh's,
    /// ~/.ssh/known_hosts).
    #[arg(long, value_name = "FILE")]
    pub ssh_known_hosts: Option<PathBuf>,

    /// Accept (and remember) the key of a host not yet in known_hosts. A key that differs
    /// from the remembered one is refused all the same.
    #[arg(long)]
    pub ssh_accept_new_host_keys: bool,

    /// Seconds each remote command (and each connection) may take (default 20).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ssh_timeout: Option<u64>,

    /// Databases faultline starts on --ssh-nodes (etcd, redis, postgres): install the Debian
    /// package on a host that lacks it (apt-get, one host at a time, waiting for the dpkg
    /// lock). Without it a missing program is an error naming the host and the package.
    #[arg(long)]
    pub install: bool,
}

impl SshArgs {
    /// The long names of the flags given.
    pub fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.ssh_nodes.is_empty() {
            out.push("--ssh-nodes");
        }
        if self.ssh_user.is_some() {
            out.push("--ssh-user");
        }
        if self.ssh_key.is_some() {
            out.push("--ssh-key");
        }
        if self.ssh_port.is_some() {
            out.push("--ssh-port");
        }
        if self.ssh_sudo {
            out.push("--ssh-sudo");
        }
        if self.ssh_known_hosts.is_some() {
            out.push("--ssh-known-hosts");
        }
        if self.ssh_accept_new_host_keys {
            out.push("--ssh-accept-new-host-keys");
        }
        if self.ssh_timeout.is_some() {
            out.push("--ssh-timeout");
        }
        if self.install {
            out.push("--install");
        }
        out
    }

    /// Every flag of this group (for the targets that take them).
    pub const ALL: &'static [&'static str] = &[
        "--ssh-nodes",
        "--ssh-user",
        "--ssh-key",
        "--ssh-port",
        "--ssh-sudo",
        "--ssh-known-hosts",
        "--ssh-accept-new-host-keys",
        "--ssh-timeout",
        "--install",
    ];

    /// The per-command timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.ssh_timeout.unwrap_or(20))
    }

    /// The `faultline heal` command for these hosts with these connection flags (what a run
    /// that finds leftovers of an earlier run tells the user to run), `--remove-leftovers`
    /// included.
    pub fn heal_command(&self) -> String {
        let arg = |s: &str| {
            if s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "@.:,/_-=[]+".contains(c))
            {
                s.to_string()
            } else {
                quote(s)
            }
        };
        let mut out = format!(
            "faultline heal --ssh-nodes {}",
            arg(&self.ssh_nodes.join(","))
        );
        if let Some(u) = &self.ssh_user {
            out.push_str(&format!(" --ssh-user {}", arg(u)));
        }
        if let Some(k) = &self.ssh_key {
            out.push_str(&format!(" --ssh-key {}", arg(&k.display().to_string())));
        }
        if let Some(p) = self.ssh_port {
            out.push_str(&format!(" --ssh-port {p}"));
        }
        if self.ssh_sudo {
            out.push_str(" --ssh-sudo");
        }
        if let Some(k) = &self.ssh_known_hosts {
            out.push_str(&format!(
                " --ssh-known-hosts {}",
                arg(&k.display().to_string())
            ));
        }
        if let Some(t) = self.ssh_timeout {
            out.push_str(&format!(" --ssh-timeout {t}"));
        }
        out.push_str(" --remove-leftovers");
        out
    }

    /// The hosts, parsed.
    pub fn hosts(&self) -> Result<Vec<HostSpec>, SshError> {
        let mut out: Vec<HostSpec> = Vec::new();
        for text in &self.ssh_nodes {
            let h = HostSpec::parse(text)?;
            if out.iter().any(|o| o.label == h.label) {
                return Err(SshError::BadHost {
                    text: text.clone(),
                    reason: "named twice".into(),
                });
            }
            out.push(h);
        }
        Ok(out)
    }
}

/// One `--ssh-nodes` entry: `[user@]host[:port]` (IPv6 in brackets: `[::1]:22`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// The login user, if named.
    pub user: Option<String>,
    /// The host name or address.
    pub host: String,
    /// The port, if named.
    pub port: Option<u16>,
    /// The entry as given (how messages and run.log name the host).
    pub label: String,
}

impl HostSpec {
    /// Parses one entry.
    pub fn parse(text: &str) -> Result<HostSpec, SshError> {
        let bad = |reason: &str| SshError::BadHost {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(bad("empty; expected [USER@]HOST[:PORT]"));
        }
        let (user, rest) = match t.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
            Some(_) => return Err(bad("empty user before @")),
            None => (None, t),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ of an IPv6 address"))?;
            match after.strip_prefix(':') {
                Some(p) => (h.to_string(), Some(p)),
                None if after.is_empty() => (h.to_string(), None),
                None => return Err(bad("expected :PORT after ]")),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
                Some(_) => return Err(bad("an IPv6 address needs brackets: [ADDR]:PORT")),
                None => (rest.to_string(), None),
            }
        };
        if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
            return Err(bad("expected a host name or address"));
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| bad("the port is not a number 1-65535"))?,
            ),
            None => None,
        };
        Ok(HostSpec {
            user,
            host,
            port,
            label: t.to_string(),
        })
    }
}

/// Why a remote node could not be reached or did not do what faultline asked.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// An `--ssh-nodes` entry that is not `[USER@]HOST[:PORT]`.
    #[error("--ssh-nodes {text:?}: {reason}")]
    BadHost {
        /// The entry.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// The host could not be reached (name, route, port, timeout).
    #[error(
        "{host}: cannot reach the host over SSH ({detail}); check the address, the port \
         (--ssh-port) and that sshd runs there"
    )]
    Unreachable {
        /// The host as given.
        host: String,
        /// ssh's message.
        detail: String,
    },
    /// The host refused the login.
    #[error(
        "{host}: login refused ({detail}); check the user (--ssh-user or USER@HOST) and the \
         key (--ssh-key, or your agent), and that its public key is in the user's \
         authorized_keys"
    )]
    Auth {
        /// The host as given.
        host: String,
        /// ssh's message.
        detail: String,
    },
    /// The host's key is not the one in known_hosts.
    #[error(
        "{host}: the host key differs from the one in known_hosts ({detail}); if the host was \
         really reinstalled, remove its old key (ssh-keygen -R HOST), otherwise do not \
         connect"
    )]
    HostKeyChanged {
        /// The host as given.
        host: String,
        /// ssh's message.
        detail: String,
    },
    /// The host's key is not in known_hosts.
    #[error(
        "{host}: the host key is not in known_hosts ({detail}); add it (ssh-keyscan, after \
         checking its fingerprint) or pass --ssh-accept-new-host-keys"
    )]
    UnknownHostKey {
        /// The host as given.
        host: String,
        /// ssh's message.
        detail: String,
    },
    /// The local `ssh` could not be run, or the connection failed otherwise.
    #[error("{host}: ssh failed: {detail}")]
    Ssh {
        /// The host as given.
        host: String,
        /// What failed.
        detail: String,
    },
    /// Commands need root and the login is not root.
    #[error(
        "{host}: logged in as uid {uid}, but faultline's commands there need root (iptables, \
         the database's directories); log in as root or pass --ssh-sudo"
    )]
    NotRoot {
        /// The host as given.
        host: String,
        /// The login's uid.
        uid: String,
    },
    /// `sudo -n` does not work on the host.
    #[error(
        "{host}: --ssh-sudo: `sudo -n true` failed ({detail}); install sudo there and allow \
         the login user to run commands without a password (NOPASSWD)"
    )]
    NoSudo {
        /// The host as given.
        host: String,
        /// What sudo said.
        detail: String,
    },
    /// A program faultline needs is not installed on the host.
    #[error("{host}: {program} is not installed there ({hint})")]
    Missing {
        /// The host as given.
        host: String,
        /// The program.
        program: String,
        /// What to install.
        hint: String,
    },
    /// The service's pid command printed no pid.
    #[error(
        "{host}: the pid command ({command}) printed no pid; is the service running there? \
         fix --ssh-pid so that it prints the service's process id"
    )]
    NoPid {
        /// The host as given.
        host: String,
        /// The command.
        command: String,
    },
    /// A command exited with a failure.
    #[error("{host}: {what} failed (exit {code}): {output}")]
    Failed {
        /// The host as given.
        host: String,
        /// What the command was for.
        what: String,
        /// Its exit status (`signal` if killed).
        code: String,
        /// Its standard error and output, trimmed.
        output: String,
    },
    /// A partition between hosts reached over IPv6: faultline's rules are IPv4 (`iptables`)
    /// only.
    #[error(
        "{host}: its address {addr} is IPv6, but faultline writes partitions with iptables \
         (IPv4) only; name the hosts by IPv4 addresses, or leave partition out of --nemesis"
    )]
    Ipv6Partition {
        /// The host as given.
        host: String,
        /// Its address.
        addr: IpAddr,
    },
    /// Database members an earlier faultline run started on the host still run there (the
    /// run was killed before it could stop them): they may hold the ports and the machine
    /// this run needs, so the run refuses to start.
    #[error(
        "{host}: an earlier faultline run left database members running there ({found}); \
         stop them first (and remove their directories) with:\n    {command}"
    )]
    Leftovers {
        /// The host as given.
        host: String,
        /// What was found (`member still running: pid N (DIR)`, …).
        found: String,
        /// The `faultline heal … --remove-leftovers` command for the run's hosts.
        command: String,
    },
    /// A command did not finish within the timeout.
    #[error("{host}: {what} did not finish within {secs} s (--ssh-timeout)")]
    TimedOut {
        /// The host as given.
        host: String,
        /// What the command was for.
        what: String,
        /// The timeout.
        secs: u64,
    },
}

impl SshError {
    /// Classifies a failed connection by what ssh said.
    fn of_connect(host: &str, e: openssh::Error) -> SshError {
        let detail = match &e {
            openssh::Error::Connect(io) | openssh::Error::Master(io) => io.to_string(),
            other => other.to_string(),
        };
        let detail = detail.trim().replace('\n', " ").replace('\r', "");
        let host = host.to_string();
        let d = detail.to_lowercase();
        if d.contains("remote host identification has changed")
            || d.contains("host key for") && d.contains("has changed")
        {
            SshError::HostKeyChanged { host, detail }
        } else if d.contains("no ") && d.contains("host key is known")
            || d.contains("host key verification failed")
        {
            SshError::UnknownHostKey { host, detail }
        } else if d.contains("permission denied (") || d.contains("too many authentication") {
            SshError::Auth { host, detail }
        } else if matches!(e, openssh::Error::Connect(_)) {
            SshError::Unreachable { host, detail }
        } else {
            SshError::Ssh { host, detail }
        }
    }
}

/// A command's result.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Quotes `s` for a POSIX shell.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Exit status with which faultline's scripts say "the pid command printed nothing".
pub const NO_PID: i32 = 97;

/// One connected node.
pub struct RemoteHost {
    /// The entry it was named by.
    pub spec: HostSpec,
    /// Its IP address as the control node resolved it (what its peers' iptables rules name).
    pub addr: IpAddr,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    /// The node's long-lived shell (opened at the first command, reopened after a timeout).
    shell: tokio::sync::Mutex<Option<Shell>>,
}

/// A long-lived remote `/bin/sh` (as root through `sudo -n` with `--ssh-sudo`) reading
/// faultline's commands on its standard input, one at a time. Each command runs as
/// `/bin/sh -c SCRIPT </dev/null` (so its `exit` ends only itself and it cannot read the
/// shell's input), then the shell prints a marker unique to the command and the command's
/// exit status on stdout, and the marker on stderr; faultline reads both streams up to their
/// markers. A command that times out leaves the shell in an unknown state: it is dropped and
/// the next command opens a new one.
struct Shell {
    child: openssh::Child<Arc<Session>>,
    stdin: openssh::ChildStdin,
    stdout: openssh::ChildStdout,
    stderr: openssh::ChildStderr,
}

impl Shell {
    async fn open(session: &Arc<Session>, sudo: bool) -> Result<Shell, openssh::Error> {
        let mut child = session
            .clone()
            .arc_raw_command(if sudo {
                "exec sudo -n /bin/sh"
            } else {
                "exec /bin/sh"
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await?;
        let pipe =
            |what: &str| openssh::Error::ChildIo(std::io::Error::other(format!("no {what} pipe")));
        let stdin = child.stdin().take().ok_or_else(|| pipe("stdin"))?;
        let stdout = child.stdout().take().ok_or_else(|| pipe("stdout"))?;
        let stderr = child.stderr().take().ok_or_else(|| pipe("stderr"))?;
        Ok(Shell {
            child,
            stdin,
            stdout,
            stderr,
        })
    }

    /// Runs `script`; (exit status, stdout, stderr). An I/O error means the shell is gone.
    async fn run(&mut self, script: &str) -> std::io::Result<(i32, Vec<u8>, Vec<u8>)> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let marker = format!("__faultline_end_{}_{n}_{nanos:08x}", std::process::id());
        let line = format!(
            "/bin/sh -c {} </dev/null; printf '\\n%s %d\\n' {marker} $?; printf '\\n%s\\n' \
             {marker} >&2\n",
            quote(script)
        );
        let Shell {
            stdin,
            stdout,
            stderr,
            ..
        } = self;
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await?;
        let out_end = format!("\n{marker} ");
        let err_end = format!("\n{marker}\n");
        let read_out = async {
            let mut buf = Vec::new();
            loop {
                if let Some(at) = find(&buf, out_end.as_bytes()) {
                    let rest = &buf[at + out_end.len()..];
                    if let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                        let code = String::from_utf8_lossy(&rest[..nl])
                            .trim()
                            .parse::<i32>()
                            .unwrap_or(-1);
                        buf.truncate(at);
                        return Ok::<_, std::io::Error>((code, buf));
                    }
                }
                let mut chunk = [0u8; 8192];
                let k = stdout.read(&mut chunk).await?;
                if k == 0 {
                    return Err(std::io::Error::other("the remote shell ended"));
                }
                buf.extend_from_slice(&chunk[..k]);
            }
        };
        let read_err = async {
            let mut buf = Vec::new();
            loop {
                if let Some(at) = find(&buf, err_end.as_bytes()) {
                    buf.truncate(at);
                    return Ok::<_, std::io::Error>(buf);
                }
                let mut chunk = [0u8; 8192];
                let k = stderr.read(&mut chunk).await?;
                if k == 0 {
                    return Err(std::io::Error::other("the remote shell ended"));
                }
                buf.extend_from_slice(&chunk[..k]);
            }
        };
        let ((code, out), err) = tokio::try_join!(read_out, read_err)?;
        Ok((code, out, err))
    }

    /// Ends the shell (end of its input), waiting briefly for it.
    async fn close(self) {
        let Shell {
            child, mut stdin, ..
        } = self;
        let _ = stdin.shutdown().await;
        drop(stdin);
        let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Connected nodes: one multiplexed SSH connection each.
pub struct Remote {
    /// The nodes, in `--ssh-nodes` order.
    pub hosts: Vec<Arc<RemoteHost>>,
    sudo: bool,
    timeout: Duration,
    progress: Arc<Progress>,
    /// The `faultline heal` command for these hosts ([`SshArgs::heal_command`]).
    heal_command: String,
}

impl Remote {
    /// Connects to every host of `args` in parallel, then checks that commands run (and, with
    /// `needs_root`, run as root, directly or through `sudo -n`). Any failure names its host.
    pub async fn connect(
        args: &SshArgs,
        needs_root: bool,
        progress: Arc<Progress>,
    ) -> Result<Arc<Remote>, SshError> {
        let specs = args.hosts()?;
        let timeout = args.timeout();
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(if args.ssh_accept_new_host_keys {
                KnownHosts::Add
            } else {
                KnownHosts::Strict
            })
            .connect_timeout(timeout.min(Duration::from_secs(60)))
            .server_alive_interval(Duration::from_secs(5))
            .control_directory(control_dir())
            .control_persist(openssh::ControlPersist::Forever);
        if let Some(u) = &args.ssh_user {
            builder.user(u.clone());
        }
        if let Some(k) = &args.ssh_key {
            builder.keyfile(k);
        }
        if let Some(p) = args.ssh_port {
            builder.port(p);
        }
        if let Some(k) = &args.ssh_known_hosts {
            builder.user_known_hosts_file(k);
        }
        let _ = std::fs::create_dir_all(control_dir());
        let builder = Arc::new(builder);
        let mut set = tokio::task::JoinSet::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let builder = builder.clone();
            set.spawn(async move {
                let r = connect_one(&builder, &spec, timeout).await;
                (i, spec, r)
            });
        }
        let mut slots: Vec<Option<Arc<RemoteHost>>> = Vec::new();
        let mut first_error: Option<(usize, SshError)> = None;
        while let Some(joined) = set.join_next().await {
            let Ok((i, spec, r)) = joined else { continue };
            if slots.len() <= i {
                slots.resize(i + 1, None);
            }
            match r {
                Ok((session, addr)) => {
                    progress.note(format!("ssh {}: connected ({addr})", spec.label));
                    slots[i] = Some(Arc::new(RemoteHost {
                        spec,
                        addr,
                        session: tokio::sync::Mutex::new(Some(Arc::new(session))),
                        shell: tokio::sync::Mutex::new(None),
                    }));
                }
                Err(e) => {
                    progress.note(format!("ssh: {e}"));
                    if first_error.as_ref().map_or(true, |(j, _)| i < *j) {
                        first_error = Some((i, e));
                    }
                }
            }
        }
        let hosts: Vec<Arc<RemoteHost>> = slots.iter().flatten().cloned().collect();
        if first_error.is_none() && hosts.len() != args.ssh_nodes.len() {
            first_error = Some((
                0,
                SshError::Ssh {
                    host: args.ssh_nodes.join(","),
                    detail: "a connection task failed".into(),
                },
            ));
        }
        let remote = Arc::new(Remote {
            hosts,
            sudo: args.ssh_sudo,
            timeout,
            progress,
            heal_command: args.heal_command(),
        });
        if let Some((_, e)) = first_error {
            remote.close().await;
            return Err(e);
        }
        if let Err(e) = remote.preflight(needs_root).await {
            remote.close().await;
            return Err(e);
        }
        Ok(remote)
    }

    /// Checks on every host that commands run, as root when `needs_root`.
    async fn preflight(&self, needs_root: bool) -> Result<(), SshError> {
        if self.sudo {
            let results = self
                .run_all_raw("check sudo", |_| "sudo -n true".to_string())
                .await;
            for (h, r) in self.hosts.iter().zip(results) {
                if let Err(e) = r {
                    return Err(match e {
                        SshError::Failed { output, .. } => SshError::NoSudo {
                            host: h.spec.label.clone(),
                            detail: output,
                        },
                        other => other,
                    });
                }
            }
        }
        if needs_root {
            let outs = self.run_all("check uid", |_| "id -u".to_string()).await;
            for (h, r) in self.hosts.iter().zip(outs) {
                let uid = r?.stdout.trim().to_string();
                if uid != "0" {
                    return Err(SshError::NotRoot {
                        host: h.spec.label.clone(),
                        uid,
                    });
                }
            }
        }
        Ok(())
    }

    /// The nodes `which` (indices) of these, sharing their connections and shells.
    pub fn subset(&self, which: &[usize]) -> Remote {
        Remote {
            hosts: which.iter().map(|&i| self.hosts[i].clone()).collect(),
            sudo: self.sudo,
            timeout: self.timeout,
            progress: self.progress.clone(),
            heal_command: self.heal_command.clone(),
        }
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The per-command timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The `faultline heal … --remove-leftovers` command for these hosts.
    pub fn heal_command(&self) -> &str {
        &self.heal_command
    }

    /// Where run.log lines go.
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// Runs `script` (a POSIX shell script) on host `i` (as root through `sudo -n` with
    /// `--ssh-sudo`), within the timeout; logs what, the exit status and the time taken.
    ///
    /// The script goes to the node's long-lived shell (`Shell`), opened at the first
    /// command: no new SSH session per command.
    pub async fn run(&self, i: usize, what: &str, script: &str) -> Result<Output, SshError> {
        shell_exec(
            &self.hosts[i],
            self.sudo,
            &self.progress,
            self.timeout,
            what,
            script,
        )
        .await
    }

    /// As [`Remote::run`] with its own timeout (installing a package takes longer than a
    /// command).
    pub async fn run_for(
        &self,
        i: usize,
        what: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        shell_exec(
            &self.hosts[i],
            self.sudo,
            &self.progress,
            timeout,
            what,
            script,
        )
        .await
    }

    /// Copies the local file `local` to `path` on host `i` (mode 0755), on a new session of
    /// the host's connection (not the long-lived shell: the file goes on the command's standard
    /// input): `cat > PATH.part && chmod 755 PATH.part && mv -f PATH.part PATH`, through
    /// `sudo -n` with `--ssh-sudo`. Logged as any command; its limit is the larger of
    /// `--ssh-timeout` and 300 s.
    pub async fn upload(
        &self,
        i: usize,
        what: &str,
        local: &std::path::Path,
        path: &str,
    ) -> Result<(), SshError> {
        let host = &self.hosts[i];
        let label = &host.spec.label;
        let started = Instant::now();
        let session = host
            .session
            .lock()
            .await
            .clone()
            .ok_or_else(|| SshError::Ssh {
                host: label.clone(),
                detail: "the connection is closed".into(),
            })?;
        let part = format!("{path}.part");
        let script = format!(
            "cat > {p} && chmod 755 {p} && mv -f {p} {q}",
            p = quote(&part),
            q = quote(path)
        );
        let cmd = if self.sudo {
            format!("sudo -n /bin/sh -c {}", quote(&script))
        } else {
            format!("/bin/sh -c {}", quote(&script))
        };
        let failed = |detail: String| SshError::Ssh {
            host: label.clone(),
            detail: format!("{what}: {detail}"),
        };
        let attempt = async {
            let mut child = session
                .raw_command(&cmd)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let mut stdin = child
                .stdin()
                .take()
                .ok_or_else(|| failed("no stdin pipe".into()))?;
            let mut file = tokio::fs::File::open(local)
                .await
                .map_err(|e| failed(format!("cannot read {}: {e}", local.display())))?;
            let copied = tokio::io::copy(&mut file, &mut stdin).await;
            let _ = stdin.shutdown().await;
            drop(stdin);
            let out = child
                .wait_with_output()
                .await
                .map_err(|e| failed(e.to_string()))?;
            copied.map_err(|e| failed(format!("sending {}: {e}", local.display())))?;
            Ok::<_, SshError>(out)
        };
        let limit = self.timeout.max(Duration::from_secs(300));
        let out = match tokio::time::timeout(limit, attempt).await {
            Err(_) => {
                self.progress.note(format!(
                    "ssh {label}: {what}: timed out after {} s",
                    limit.as_secs()
                ));
                return Err(SshError::TimedOut {
                    host: label.clone(),
                    what: what.to_string(),
                    secs: limit.as_secs(),
                });
            }
            Ok(r) => r?,
        };
        let ms = started.elapsed().as_millis();
        let code = out.status.code();
        finish(
            label,
            &self.progress,
            what,
            code.map_or_else(|| "signal".to_string(), |c| c.to_string()),
            code.unwrap_or(-1),
            ms,
            String::new(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
        .map(|_| ())
    }

    /// As [`Remote::run`], without `sh -c` or sudo (the command as the login user's shell
    /// reads it).
    async fn run_raw(&self, i: usize, what: &str, cmd: &str) -> Result<Output, SshError> {
        exec(&self.hosts[i], &self.progress, self.timeout, what, cmd).await
    }

    /// Runs `script(i)` on every host `i` in parallel; the results in host order.
    pub async fn run_all(
        &self,
        what: &str,
        script: impl Fn(usize) -> String,
    ) -> Vec<Result<Output, SshError>> {
        let futures = (0..self.hosts.len()).map(|i| {
            let s = script(i);
            async move { self.run(i, what, &s).await }
        });
        join_all(futures).await
    }

    async fn run_all_raw(
        &self,
        what: &str,
        script: impl Fn(usize) -> String,
    ) -> Vec<Result<Output, SshError>> {
        let futures = (0..self.hosts.len()).map(|i| {
            let s = script(i);
            async move { self.run_raw(i, what, &s).await }
        });
        join_all(futures).await
    }

    /// Closes every connection (ends the shells and the ssh master processes).
    pub async fn close(&self) {
        for h in &self.hosts {
            if let Some(shell) = h.shell.lock().await.take() {
                shell.close().await;
            }
            if let Some(s) = h.session.lock().await.take() {
                match Arc::try_unwrap(s) {
                    Ok(s) => {
                        let _ = s.close().await;
                    }
                    // Still shared (cannot happen once the shell is closed): dropping the
                    // last reference ends the master all the same.
                    Err(s) => drop(s),
                }
            }
        }
        let _ = std::fs::remove_dir(control_dir());
    }
}

/// The directory of this process's ssh control sockets, `TMP/faultline-ssh-PID`: a master
/// whose directory names a faultline that no longer runs is stale ([`stale_masters`]).
pub fn control_dir() -> PathBuf {
    std::env::temp_dir().join(format!("faultline-ssh-{}", std::process::id()))
}

/// The `ssh -M` master processes and control directories left on this machine by faultline
/// runs that no longer exist (killed with SIGKILL: their masters persist). With `remove`,
/// ends those processes (SIGTERM) and removes the directories. Returns one line per thing
/// found.
pub fn stale_masters(remove: bool) -> Vec<String> {
    let tmp = std::env::temp_dir();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&tmp) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix("faultline-ssh-") else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || alive_faultline(pid) {
            continue;
        }
        let dir = e.path();
        let needle = dir.display().to_string();
        for master in processes_mentioning(&needle) {
            if remove {
                kill_term(master);
                out.push(format!("ended stale ssh master pid {master} ({needle})"));
            } else {
                out.push(format!("stale ssh master pid {master} ({needle})"));
            }
        }
        if remove {
            let _ = std::fs::remove_dir_all(&dir);
            out.push(format!("removed {needle}"));
        } else {
            out.push(format!("stale ssh control directory {needle}"));
        }
    }
    out
}

/// Whether `pid` runs and is a faultline.
fn alive_faultline(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().starts_with("faultline"))
        .unwrap_or(false)
}

/// The pids of processes whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// Sends SIGTERM to `pid` (through `kill`, no libc dependency).
fn kill_term(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .output();
}

/// Awaits every future concurrently (on this task), results in order.
pub async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, f) in out.iter_mut().zip(pinned.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

async fn connect_one(
    builder: &SessionBuilder,
    spec: &HostSpec,
    timeout: Duration,
) -> Result<(Session, IpAddr), SshError> {
    let unreachable = |detail: String| SshError::Unreachable {
        host: spec.label.clone(),
        detail,
    };
    let addr = match spec.host.parse::<IpAddr>() {
        Ok(a) => a,
        Err(_) => tokio::net::lookup_host((spec.host.as_str(), 0))
            .await
            .map_err(|e| unreachable(format!("cannot resolve {}: {e}", spec.host)))?
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| unreachable(format!("{} has no address", spec.host)))?,
    };
    let mut b = builder.clone();
    if let Some(u) = &spec.user {
        b.user(u.clone());
    }
    if let Some(p) = spec.port {
        b.port(p);
    }
    let connect = b.connect(&spec.host);
    match tokio::time::timeout(timeout + Duration::from_secs(5), connect).await {
        Ok(Ok(s)) => Ok((s, addr)),
        Ok(Err(e)) => Err(SshError::of_connect(&spec.label, e)),
        Err(_) => Err(unreachable(format!(
            "no connection within {} s",
            timeout.as_secs() + 5
        ))),
    }
}

/// Runs `script` in `host`'s long-lived shell (opening it if needed), within `timeout`;
/// logs and classifies the result as [`exec`] does.
async fn shell_exec(
    host: &RemoteHost,
    sudo: bool,
    progress: &Progress,
    timeout: Duration,
    what: &str,
    script: &str,
) -> Result<Output, SshError> {
    let label = &host.spec.label;
    let started = Instant::now();
    let mut slot = host.shell.lock().await;
    let attempt = async {
        if slot.is_none() {
            let session = host
                .session
                .lock()
                .await
                .clone()
                .ok_or_else(|| SshError::Ssh {
                    host: label.clone(),
                    detail: "the connection is closed".into(),
                })?;
            let shell = Shell::open(&session, sudo)
                .await
                .map_err(|e| SshError::Ssh {
                    host: label.clone(),
                    detail: format!("cannot open a shell: {e}"),
                })?;
            *slot = Some(shell);
        }
        let shell = slot.as_mut().expect("opened above");
        shell.run(script).await.map_err(|e| SshError::Ssh {
            host: label.clone(),
            detail: format!("{what}: {e}"),
        })
    };
    let result = tokio::time::timeout(timeout, attempt).await;
    let ms = started.elapsed().as_millis();
    let (code, stdout, stderr) = match result {
        Err(_) => {
            // The shell may still be running the command: drop it; the next command opens
            // a new one.
            slot.take();
            progress.note(format!(
                "ssh {label}: {what}: timed out after {} s",
                timeout.as_secs()
            ));
            return Err(SshError::TimedOut {
                host: label.clone(),
                what: what.to_string(),
                secs: timeout.as_secs(),
            });
        }
        Ok(Err(e)) => {
            slot.take();
            progress.note(format!("ssh {label}: {what}: {e}"));
            return Err(e);
        }
        Ok(Ok(r)) => r,
    };
    drop(slot);
    let stdout = String::from_utf8_lossy(&stdout).to_string();
    let stderr = String::from_utf8_lossy(&stderr).to_string();
    finish(
        label,
        progress,
        what,
        code.to_string(),
        code,
        ms,
        stdout,
        stderr,
    )
}

/// Logs a finished command and turns its status into a result.
#[allow(clippy::too_many_arguments)]
fn finish(
    label: &str,
    progress: &Progress,
    what: &str,
    code: String,
    status: i32,
    ms: u128,
    stdout: String,
    stderr: String,
) -> Result<Output, SshError> {
    let shown = short(&format!("{} {}", stderr.trim(), stdout.trim()));
    progress.note(format!(
        "ssh {label}: {what}: exit {code} in {ms} ms{}",
        if shown.is_empty() {
            String::new()
        } else {
            format!(": {shown}")
        }
    ));
    if status == NO_PID {
        return Err(SshError::NoPid {
            host: label.to_string(),
            command: stderr.trim().to_string(),
        });
    }
    if status != 0 {
        return Err(SshError::Failed {
            host: label.to_string(),
            what: what.to_string(),
            code,
            output: short(stderr.trim()).to_string() + &short_suffix(stdout.trim()),
        });
    }
    Ok(Output { stdout, stderr })
}

/// Runs `cmd` as the login user's shell reads it, in a new session of the multiplexed
/// connection (the preflight checks, before the long-lived shell exists).
async fn exec(
    host: &RemoteHost,
    progress: &Progress,
    timeout: Duration,
    what: &str,
    cmd: &str,
) -> Result<Output, SshError> {
    let label = &host.spec.label;
    let started = Instant::now();
    let guard = host.session.lock().await;
    let session = guard.as_ref().ok_or_else(|| SshError::Ssh {
        host: label.clone(),
        detail: "the connection is closed".into(),
    })?;
    let mut command = session.raw_command(cmd);
    let result = tokio::time::timeout(timeout, command.output()).await;
    let ms = started.elapsed().as_millis();
    let out = match result {
        Err(_) => {
            progress.note(format!(
                "ssh {label}: {what}: timed out after {} s",
                timeout.as_secs()
            ));
            return Err(SshError::TimedOut {
                host: label.clone(),
                what: what.to_string(),
                secs: timeout.as_secs(),
            });
        }
        Ok(Err(openssh::Error::Remote(e))) => {
            // ssh reports exit 127 so: the shell did not find the command.
            progress.note(format!("ssh {label}: {what}: exit 127 (command not found)"));
            return Err(SshError::Failed {
                host: label.clone(),
                what: what.to_string(),
                code: "127".into(),
                output: format!("command not found ({e})"),
            });
        }
        Ok(Err(e)) => {
            progress.note(format!("ssh {label}: {what}: {e}"));
            return Err(SshError::Ssh {
                host: label.clone(),
                detail: format!("{what}: {e}"),
            });
        }
        Ok(Ok(o)) => o,
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let code = match out.status.code() {
        Some(c) => c.to_string(),
        None => "signal".to_string(),
    };
    finish(
        label,
        progress,
        what,
        code,
        out.status.code().unwrap_or(-1),
        ms,
        stdout,
        stderr,
    )
}

/// The first 300 characters of one line of `s`.
fn short(s: &str) -> String {
    let one: String = s.trim().replace('\n', " | ");
    match one.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

fn short_suffix(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(" (stdout: {})", short(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_entries_parse_and_bad_ones_are_named() {
        let h = HostSpec::parse("admin@db1.example:2222").unwrap();
        assert_eq!(h.user.as_deref(), Some("admin"));
        assert_eq!(h.host, "db1.example");
        assert_eq!(h.port, Some(2222));
        let h = HostSpec::parse("10.0.0.5").unwrap();
        assert_eq!((h.user, h.port), (None, None));
        let h = HostSpec::parse("root@[fd00::1]:22").unwrap();
        assert_eq!(h.host, "fd00::1");
        for bad in [
            "",
            "@h",
            "h:0",
            "h:x",
            "fd00::1",
            "-oProxyCommand=x",
            "[::1",
        ] {
            let e = HostSpec::parse(bad).unwrap_err();
            assert!(matches!(e, SshError::BadHost { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn heal_command_repeats_the_runs_connection_flags_and_quotes_what_the_shell_would_split() {
        let args = SshArgs {
            ssh_nodes: vec!["root@10.0.0.11".into(), "admin@db2:2222".into()],
            ssh_key: Some(PathBuf::from("/home/me/my keys/id")),
            ssh_sudo: true,
            ssh_timeout: Some(30),
            install: true,
            ..SshArgs::default()
        };
        assert_eq!(
            args.heal_command(),
            "faultline heal --ssh-nodes root@10.0.0.11,admin@db2:2222 --ssh-key \
             '/home/me/my keys/id' --ssh-sudo --ssh-timeout 30 --remove-leftovers"
        );
    }

    #[test]
    fn connection_failures_are_classified_by_what_ssh_said() {
        let c = |msg: &str| {
            SshError::of_connect(
                "n1",
                openssh::Error::Connect(std::io::Error::other(msg.to_string())),
            )
        };
        assert!(matches!(
            c("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@ ... Host key verification failed."),
            SshError::HostKeyChanged { .. }
        ));
        assert!(matches!(
            c("No ED25519 host key is known for 10.1.1.1 and you have requested strict checking.\nHost key verification failed."),
            SshError::UnknownHostKey { .. }
        ));
        assert!(matches!(
            c("root@10.1.1.1: Permission denied (publickey)."),
            SshError::Auth { .. }
        ));
        assert!(matches!(
            c("connect to host 10.1.1.1 port 22: Connection refused"),
            SshError::Unreachable { .. }
        ));
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
