//! Exit codes: the part of the command-line contract scripts and CI jobs rely on.
//!
//! They follow Jepsen's convention (see `docs/cli.md`): 0 valid, 1 invalid, 2 unknown, 254 bad
//! usage or bad input, 255 internal error. When several files are checked, the overall code is
//! the most serious one, in the order 254 > 1 > 2 > 0 ([`combine`]).
//!
//! Typed errors of a run become exit codes here, and only here ([`run_error`],
//! [`of_error`]): a problem of the command line or the machine (a flag the target does not
//! take, a server that is not installed, a port in use, no permission, an unusable store) is
//! 254 with a message saying what to change; anything else is a bug in faultline, 255.

use checkers::Validity;
use workloads::remote::SshError;
use workloads::{ClientError, RunError, ServerError};

/// Every checked history is valid.
pub const VALID: u8 = 0;
/// At least one history is invalid.
pub const INVALID: u8 = 1;
/// None invalid, but at least one unknown (a budget ran out, or nothing could be judged).
pub const UNKNOWN: u8 = 2;
/// Bad usage or bad input: unknown flag or model, unreadable or malformed file.
pub const BAD_INPUT: u8 = 254;
/// Internal error: a bug in faultline (a panic).
pub const INTERNAL: u8 = 255;

/// Writes `bytes` to standard output. A standard output closed by its reader (`| head -1`)
/// is not an error: the rest of the output is dropped, and the caller goes on to its verdict's
/// exit code (as ripgrep does, no message). The one place for this: a broken pipe is not
/// mapped away in `main`, where it could come from a socket and hide a real failure.
pub fn print(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The exit code of one verdict.
pub fn of_validity(v: Validity) -> u8 {
    match v {
        Validity::Valid => VALID,
        Validity::Invalid => INVALID,
        Validity::Unknown => UNKNOWN,
    }
}

/// How serious a code is when several files are combined: bad input beats invalid, which beats
/// unknown, which beats valid.
fn rank(code: u8) -> u8 {
    match code {
        VALID => 0,
        UNKNOWN => 1,
        INVALID => 2,
        BAD_INPUT => 3,
        _ => 4,
    }
}

/// The overall exit code for several per-file codes (valid when there are none).
pub fn combine(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes.into_iter().max_by_key(|&c| rank(c)).unwrap_or(VALID)
}

/// The exit code of a run's error: 254 when the user's command line or machine is to blame,
/// 255 only for a bug in faultline. Every kind is decided here (no catch-all arm: a new kind
/// must be placed).
fn of_run_error(e: &RunError) -> u8 {
    match e {
        RunError::Usage(_)
        | RunError::ForeignFlag { .. }
        | RunError::MissingProgram { .. }
        | RunError::PortInUse { .. }
        | RunError::NamespacePermission(_)
        | RunError::Store { .. }
        | RunError::Start(_)
        | RunError::Server(_)
        | RunError::Client(_)
        | RunError::FaultUnsupported { .. } => BAD_INPUT,
        RunError::Ssh(e) => of_ssh_error(e),
        RunError::Within { source, .. } => of_run_error(source),
        RunError::Internal(_) => INTERNAL,
    }
}

/// The exit code of a remote node's failure: every kind is the user's hosts, keys or flags
/// (254, the message names the host and what to fix). Exhaustive, so a new kind is placed.
fn of_ssh_error(e: &SshError) -> u8 {
    match e {
        SshError::BadHost { .. }
        | SshError::Unreachable { .. }
        | SshError::Auth { .. }
        | SshError::HostKeyChanged { .. }
        | SshError::UnknownHostKey { .. }
        | SshError::Ssh { .. }
        | SshError::NotRoot { .. }
        | SshError::NoSudo { .. }
        | SshError::Missing { .. }
        | SshError::NoPid { .. }
        | SshError::Failed { .. }
        | SshError::TimedOut { .. }
        | SshError::Ipv6Partition { .. }
        | SshError::Leftovers { .. } => BAD_INPUT,
    }
}

/// Prints a run's error and returns its exit code ([`of_run_error`]).
pub fn run_error(e: &RunError) -> u8 {
    let code = of_run_error(e);
    if code == INTERNAL {
        eprintln!("faultline: internal error: {e}");
    } else {
        eprintln!("faultline: {e}");
    }
    code
}

/// Prints any error of a command and returns its exit code: a [`RunError`] (or a server's or
/// client's error that reached here unconverted) as [`run_error`] says, anything else as an
/// internal error (255).
pub fn of_error(e: &anyhow::Error) -> u8 {
    if let Some(run) = e.downcast_ref::<RunError>() {
        return run_error(run);
    }
    if let Some(ssh) = e.downcast_ref::<SshError>() {
        eprintln!("faultline: {ssh}");
        return of_ssh_error(ssh);
    }
    if e.downcast_ref::<ServerError>().is_some() || e.downcast_ref::<ClientError>().is_some() {
        eprintln!("faultline: {e:#}");
        return BAD_INPUT;
    }
    eprintln!("faultline: internal error: {e:#}");
    INTERNAL
}

/// Prints a bad plan's error (`FILE:LINE: key …: what`) and returns its exit code: every kind
/// is bad input, 254 — decided before anything of the plan starts (no catch-all arm).
pub fn plan_error(e: &crate::plan::PlanError) -> u8 {
    use crate::plan::PlanErrorKind as K;
    let code = match e.kind {
        K::Unreadable(_)
        | K::Shape(_)
        | K::UnknownTarget(_)
        | K::Refused(_)
        | K::DuplicateCase(_)
        | K::UnknownCase { .. }
        | K::NoHistories(_)
        | K::NotApplicable(_)
        | K::MissingEnv(_)
        | K::Baseline(_)
        | K::Unwritable(_) => BAD_INPUT,
    };
    eprintln!("faultline: {e}");
    code
}

/// The exit code of one judged expectation: held 0, failed 1, unknown 2.
pub fn of_held(h: checkers::expect::Held) -> u8 {
    match h {
        checkers::expect::Held::Held => VALID,
        checkers::expect::Held::Failed => INVALID,
        checkers::expect::Held::Unknown => UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_problems_are_254_and_only_bugs_255() {
        let port = RunError::PortInUse {
            what: "the client proxy".into(),
            addr: ([127, 0, 0, 1], 5672).into(),
            detail: "Address already in use (os error 98)".into(),
        };
        assert_eq!(of_run_error(&port), BAD_INPUT);
        let missing = RunError::MissingProgram {
            program: "etcd".into(),
            package: "etcd-server",
            looked: "PATH".into(),
        };
        assert_eq!(of_run_error(&missing), BAD_INPUT);
        let down = RunError::from(ServerError::NotRunning("n1".into())).context("etcd");
        assert_eq!(of_run_error(&down), BAD_INPUT);
        assert_eq!(down.to_string(), "etcd: n1 is not running");
        let bug = RunError::Internal("no client proxy".into());
        assert_eq!(of_run_error(&bug), INTERNAL);
        let wrapped = RunError::Within {
            what: "x".into(),
            source: Box::new(bug),
        };
        assert_eq!(of_run_error(&wrapped), INTERNAL);
        let bind = ServerError::Bind {
            what: "a free port".into(),
            addr: ([127, 0, 0, 1], 0).into(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert!(matches!(RunError::from(bind), RunError::PortInUse { .. }));
    }

    #[test]
    fn remote_host_failures_are_254_and_name_the_host() {
        let unreachable = RunError::from(SshError::Unreachable {
            host: "root@10.0.0.9".into(),
            detail: "connect to host 10.0.0.9 port 22: No route to host".into(),
        });
        assert_eq!(of_run_error(&unreachable), BAD_INPUT);
        assert!(unreachable
            .to_string()
            .starts_with("root@10.0.0.9: cannot reach"));
        let no_pid = SshError::NoPid {
            host: "db2".into(),
            command: "cat /run/db.pid".into(),
        };
        assert_eq!(of_ssh_error(&no_pid), BAD_INPUT);
        assert!(no_pid.to_string().starts_with("db2: the pid command"));
        let in_target = RunError::from(SshError::HostKeyChanged {
            host: "db1".into(),
            detail: "Host key verification failed.".into(),
        })
        .context("etcd");
        assert_eq!(of_run_error(&in_target), BAD_INPUT);
        let anyhow = anyhow::Error::new(SshError::TimedOut {
            host: "db3".into(),
            what: "partition (iptables)".into(),
            secs: 20,
        });
        assert_eq!(of_error(&anyhow), BAD_INPUT);
    }

    #[test]
    fn combination_order() {
        assert_eq!(combine([]), VALID);
        assert_eq!(combine([VALID, UNKNOWN]), UNKNOWN);
        assert_eq!(combine([UNKNOWN, INVALID, VALID]), INVALID);
        assert_eq!(combine([INVALID, BAD_INPUT, UNKNOWN]), BAD_INPUT);
        assert_eq!(combine([VALID, VALID]), VALID);
    }
}
