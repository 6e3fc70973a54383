//! `faultline`: the command-line front end of a Jepsen-style consistency checker.
//!
//! This binary is thin: it parses arguments ([`cli`]), runs a command ([`check`]) on top of
//! the `checkers` library, renders the results ([`render_human`], [`render_json`]) and maps
//! everything to the exit codes of the contract ([`exit`]). A panic anywhere is reported as
//! an internal error (exit 255) with a one-line message; a backtrace is printed only when
//! `FAULTLINE_BACKTRACE=1` is set.

mod check;
mod cli;
mod exit;
mod render_human;
mod render_json;

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

fn main() -> ExitCode {
    install_panic_hook();
    let code = match panic::catch_unwind(AssertUnwindSafe(run)) {
        Ok(code) => code,
        Err(_) => exit::INTERNAL,
    };
    ExitCode::from(code)
}

/// Parses the arguments and runs the command; returns the exit code.
fn run() -> u8 {
    let cli = match cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` arrive here too; they print to stdout and succeed.
            let _ = e.print();
            return if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::VALID
            };
        }
    };
    let result = match cli.command {
        cli::Command::Check(args) => check::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("faultline: internal error: {e:#}");
            exit::INTERNAL
        }
    }
}

/// Replaces Rust's default panic message (and its backtrace hint) with one line saying this
/// is a bug in faultline.
fn install_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "faultline: internal error (a bug in faultline, please report it): {message}{place}"
        );
        if std::env::var_os("FAULTLINE_BACKTRACE").is_some_and(|v| v == "1") {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
}
