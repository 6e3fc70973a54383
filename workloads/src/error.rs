//! The run side's typed errors: what went wrong, and whose fault it is.
//!
//! [`RunError`]'s kinds separate problems of the user's command line or machine — a flag the
//! target does not take, a server binary that is not installed, a port in use, no permission
//! for network namespaces, a store directory that cannot be used, a server that would not
//! start ([`ServerError`]) or a client that could not connect ([`ClientError`]) — from
//! [`RunError::Internal`], failures that point at faultline itself. The binary maps the first
//! kind to exit 254 with the message (which says what to install or change) and the second to
//! 255, in one place (`src/exit.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a run could not be planned, started or finished.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The command line asks for something the target does not do.
    #[error("{0}")]
    Usage(String),
    /// A flag given for another target.
    #[error("{flag} applies to --target {owners}, not {target}")]
    ForeignFlag {
        /// The flag (`--etcd-api`).
        flag: &'static str,
        /// The targets it belongs to (`etcd`, or `redis, postgres`).
        owners: String,
        /// The target of this run.
        target: &'static str,
    },
    /// A server program is not installed.
    #[error(
        "{program} not found (looked in {looked}): install the Debian package {package} \
         (apt-get install {package})"
    )]
    MissingProgram {
        /// The program (`etcd`).
        program: String,
        /// The Debian package that provides it (`etcd-server`).
        package: &'static str,
        /// Where else it was looked for.
        looked: String,
    },
    /// A port faultline needs is taken.
    #[error(
        "{what}: {addr} is already in use ({detail}); stop what listens there, or try again \
         (faultline picks free loopback ports anew on each run)"
    )]
    PortInUse {
        /// What needed the port.
        what: String,
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The OS error.
        detail: String,
    },
    /// Network namespaces need privileges this process lacks.
    #[error(
        "cannot create a network namespace ({0}): --nemesis partition or packet on this target \
         needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN); run as root or leave them out"
    )]
    NamespacePermission(String),
    /// The store directory (or a file beside it) cannot be used.
    #[error("cannot use {}: {reason}", path.display())]
    Store {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The system under test failed to start or to answer while being set up (its log says
    /// why: usually the machine, a port, a permission).
    #[error("{0}")]
    Start(String),
    /// A server faultline started failed to start, to get ready or to stay up.
    #[error(transparent)]
    Server(ServerError),
    /// A client could not connect or prepare the system under test.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A remote node could not be reached over SSH, or a command there failed (names the
    /// host and what to fix).
    #[error(transparent)]
    Ssh(#[from] crate::remote::SshError),
    /// A server's or a client's failure while a target (`what`) was set up.
    #[error("{what}: {source}")]
    Within {
        /// The target's name.
        what: String,
        /// The failure.
        source: Box<RunError>,
    },
    /// A fault (or a part of one, or a target set) this target cannot do, refused before the
    /// run starts.
    #[error("--target {target} cannot do {fault}: {missing}")]
    FaultUnsupported {
        /// The target (`demo`, `etcd`).
        target: String,
        /// The fault or setting (`packet duplicate`, `--nemesis-targets primaries`).
        fault: String,
        /// What is missing, and what to do instead.
        missing: String,
    },
    /// Anything else: a bug in faultline.
    #[error("{0}")]
    Internal(String),
}

/// A server's failure as a run's: a port that is taken becomes [`RunError::PortInUse`].
impl From<ServerError> for RunError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Bind { what, addr, source }
                if source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                RunError::PortInUse {
                    what,
                    addr,
                    detail: source.to_string(),
                }
            }
            other => RunError::Server(other),
        }
    }
}

/// Why a server process faultline starts (etcd, Redis, PostgreSQL, RabbitMQ) could not be
/// started, made ready, signalled or prepared. Its log (named in the message) usually says why:
/// the machine, a port, a permission — the user's environment, not faultline.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file the server needs (its log, its configuration, its data directory) could not be
    /// written or opened.
    #[error("cannot {what} {}: {source}", path.display())]
    File {
        /// What was being done (`open`, `write`).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A directory or file under the run's store could not be made or written.
    #[error("{}: {source}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file under the run's store could not be given to the server's user.
    #[error("chown {}: {source}", path.display())]
    Chown {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A listening socket (a free port, a proxy, a relay into a namespace) could not be made.
    #[error("{what}: cannot listen on {addr}: {source}")]
    Bind {
        /// What needed it.
        what: String,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error("cannot start {name} ({}): {source}", program.display())]
    Spawn {
        /// The node's name.
        name: String,
        /// The program.
        program: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Entering the node's network namespace failed.
    #[error("netns: {0}")]
    Netns(std::io::Error),
    /// The server did not get ready in time, or exited while starting.
    #[error("{what} {name} is not ready (log {}):\n{tail}", log.display())]
    NotReady {
        /// The kind of server (`etcd`).
        what: String,
        /// The node's name.
        name: String,
        /// Its log.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// The server is not running (killed and not restarted).
    #[error("{0} is not running")]
    NotRunning(String),
    /// The server exited, is paused or was killed when it should run.
    #[error("{name} is not running (log {})", log.display())]
    Down {
        /// The node's name.
        name: String,
        /// Its log.
        log: PathBuf,
    },
    /// A server did not come back after its files were corrupted (`--nemesis corrupt`):
    /// what it did, and the lines of its log that say why.
    #[error("{name} did not come back on its corrupted files: {how}; its log {} says: {said}", log.display())]
    NotBack {
        /// The node's name.
        name: String,
        /// What it did: it exited, or did not serve in time.
        how: NotBackHow,
        /// Its log.
        log: PathBuf,
        /// The lines of its log about its files (or the end of its log).
        said: String,
    },
    /// A signal could not be sent.
    #[error("{what} {name}: {source}")]
    Signal {
        /// `kill` or `signal`.
        what: &'static str,
        /// The node's name.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A helper command (initdb, pg_basebackup, rabbitmqctl, …) or a preparing step failed;
    /// the message quotes its output.
    #[error("{0}")]
    Command(String),
    /// The server did not answer its client as expected while being prepared.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The proxies in front of the server could not be set up.
    #[error(transparent)]
    Proxy(#[from] crate::net::proxy::ProxyError),
    /// A task that held the server's state panicked.
    #[error("poisoned lock: another task failed inside")]
    Poisoned,
}

/// How a server with corrupted files failed to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotBackHow {
    /// Its process exited (it refused to start, or crashed while starting).
    Exited,
    /// It runs but did not serve within the restart's time limit.
    NotServing,
}

impl std::fmt::Display for NotBackHow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotBackHow::Exited => "it exited",
            NotBackHow::NotServing => "it did not serve within 20 s",
        })
    }
}

/// Why a client could not connect to a node, prepare the system or make sense of an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached, or refused the session.
    #[error("{0}")]
    Connect(String),
    /// Preparing the system (tables, queues) failed.
    #[error("{0}")]
    Setup(String),
    /// The node answered something the protocol does not allow.
    #[error("{0}")]
    Answer(String),
    /// The operation is not one this client can send.
    #[error("{0}")]
    Operation(String),
}

impl RunError {
    /// Prefixes the message with `what` (a target's name), keeping the kind.
    pub fn context(self, what: &str) -> RunError {
        match self {
            RunError::Start(m) => RunError::Start(format!("{what}: {m}")),
            RunError::Internal(m) => RunError::Internal(format!("{what}: {m}")),
            e @ (RunError::Server(_) | RunError::Client(_)) => RunError::Within {
                what: what.to_string(),
                source: Box::new(e),
            },
            other => other,
        }
    }
}
