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
use workloads::RunError;

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

/// Prints a run's error and returns its exit code: 254 for usage and environment problems,
/// 255 for internal errors.
pub fn run_error(e: &RunError) -> u8 {
    if e.is_environment() {
        eprintln!("faultline: {e}");
        BAD_INPUT
    } else {
        eprintln!("faultline: internal error: {e}");
        INTERNAL
    }
}

/// Prints any error of a command and returns its exit code: a [`RunError`] inside it as
/// [`run_error`] says, anything else as an internal error (255).
pub fn of_error(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<RunError>() {
        Some(run) => run_error(run),
        None => {
            eprintln!("faultline: internal error: {e:#}");
            INTERNAL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combination_order() {
        assert_eq!(combine([]), VALID);
        assert_eq!(combine([VALID, UNKNOWN]), UNKNOWN);
        assert_eq!(combine([UNKNOWN, INVALID, VALID]), INVALID);
        assert_eq!(combine([INVALID, BAD_INPUT, UNKNOWN]), BAD_INPUT);
        assert_eq!(combine([VALID, VALID]), VALID);
    }
}
