//! `faultline`: the command-line front end of a Jepsen-style consistency checker.
//!
//! This binary is thin: it parses arguments ([`cli`]), runs a command ([`check`]) on top of
//! the `checkers` library, renders the results ([`render_human`], [`render_json`]) and maps
//! everything to the exit codes of the contract ([`exit`]). A panic anywhere is reported as
//! an internal error (exit 255) with a one-line message; a backtrace is printed only when
//! `FAULTLINE_BACKTRACE=1` is set.

mod alloc;
mod check;
mod cli;
mod demo;
mod exit;
mod heal;
mod junit;
mod maelstrom;
mod plan;
mod progress;
mod render_human;
mod render_json;
mod report;
mod report_cmd;
mod run;
mod serve;
mod test_cmd;

use std::panic::{self, AssertUnwindSafe};

/// Every allocation is counted, so `--memory-limit` covers the whole check ([`alloc`]).
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;
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
        cli::Command::ServeDemoNode(args) => serve_demo_node(args),
        cli::Command::Run(args) => run::run(*args),
        cli::Command::Demo(args) => demo::run(args),
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Report(args) => report_cmd::run(args),
        cli::Command::Test(args) => test_cmd::run(args),
        cli::Command::Heal(args) => heal::run(args),
        cli::Command::Maelstrom(args) => maelstrom::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("faultline: internal error: {e:#}");
            exit::INTERNAL
        }
    }
}

/// `faultline serve-demo-node`: runs one node of the demo store until killed.
fn serve_demo_node(args: cli::ServeDemoNodeArgs) -> anyhow::Result<u8> {
    let config = demo_store::NodeConfig {
        id: args.id as usize,
        mode: match args.mode {
            cli::StoreMode::Async => demo_store::Mode::Async,
            cli::StoreMode::Sync => demo_store::Mode::Sync,
            cli::StoreMode::Lease => demo_store::Mode::Lease,
        },
        http: args.http,
        peer_listen: args.peer_listen,
        peers: args.peers,
        data_dir: args.data_dir,
        fsync: match args.fsync {
            workloads::target::demo::Fsync::Never => demo_store::Fsync::Never,
            workloads::target::demo::Fsync::Always => demo_store::Fsync::Always,
        },
    };
    match demo_store::serve(config) {
        Ok(()) => Ok(exit::VALID),
        Err(message) => {
            eprintln!("faultline serve-demo-node: {message}");
            Ok(exit::BAD_INPUT)
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
