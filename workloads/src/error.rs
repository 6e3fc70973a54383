//! The run side's typed errors: what went wrong, and whose fault it is.
//!
//! [`RunError::is_environment`] separates problems of the user's command line or machine —
//! a flag the target does not take, a server binary that is not installed, a port in use, no
//! permission for network namespaces, a store directory that cannot be used — from failures
//! that point at faultline itself. The binary maps the first kind to exit 254 with the message
//! (which says what to install or change) and the second to 255, in one place (`src/exit.rs`).

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
    #[error("{what}: port in use ({detail}); stop what listens there or try again")]
    PortInUse {
        /// What needed the port.
        what: String,
        /// The OS error.
        detail: String,
    },
    /// Network namespaces need privileges this process lacks.
    #[error(
        "cannot create a network namespace ({0}): --nemesis partition on this target needs \
         root (or CAP_SYS_ADMIN and CAP_NET_ADMIN); run as root or leave out partition"
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
    /// Anything else: a bug in faultline.
    #[error("{0}")]
    Internal(String),
}

impl RunError {
    /// Whether the user's command line or machine is to blame (exit 254), not faultline (255).
    pub fn is_environment(&self) -> bool {
        !matches!(self, RunError::Internal(_))
    }

    /// Prefixes the message with `what` (a target's name), keeping the kind.
    pub fn context(self, what: &str) -> RunError {
        match self {
            RunError::Start(m) => RunError::Start(format!("{what}: {m}")),
            RunError::Internal(m) => RunError::Internal(format!("{what}: {m}")),
            other => other,
        }
    }
}

/// A start-up failure reported as text by a launcher (the server's log tail, a failed
/// command): the system under test, not faultline, failed.
impl From<String> for RunError {
    fn from(message: String) -> Self {
        RunError::Start(message)
    }
}
