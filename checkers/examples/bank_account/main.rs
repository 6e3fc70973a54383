//! Checks a history of bank accounts that refuse overdrafts against a model written with the
//! `checkers` library (see `model.rs` for the model and what each operation means).
//!
//! ```text
//! cargo run --release -p checkers --example bank_account -- HISTORY [INITIAL_BALANCE]
//! ```
//!
//! Prints the verdict (and, when invalid, the operation that could not be placed, the states
//! before it and a minimal failing sub-history), and exits like `faultline check`: 0 valid,
//! 1 invalid, 2 unknown, 254 bad input.

mod model;

use checkers::Validity;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, initial) = match args.as_slice() {
        [path] => (path, None),
        [path, n] => match n.parse::<i64>() {
            Ok(n) => (path, Some(n)),
            Err(_) => {
                eprintln!("error: expected INITIAL_BALANCE to be an integer, found {n}");
                return ExitCode::from(254);
            }
        },
        _ => {
            eprintln!("usage: bank_account HISTORY [INITIAL_BALANCE]");
            return ExitCode::from(254);
        }
    };
    let report = match model::check_file(path, initial) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(254);
        }
    };
    let verdict = match report.valid {
        Validity::Valid => "valid",
        Validity::Invalid => "invalid",
        Validity::Unknown => "unknown",
    };
    println!(
        "{}: {} ({} operations, {} accounts, {} states explored)",
        path, verdict, report.stats.ops, report.stats.partitions, report.stats.states
    );
    if let Some(cx) = &report.counterexample {
        let account = cx.key.as_ref().map(|k| k.to_string()).unwrap_or_default();
        println!(
            "account {account}: no order explains {} {} (line {}); the balance before it, in the \
             longest order found: {}",
            cx.stuck.f, cx.stuck.value, cx.stuck.invoke_line, cx.state_before_stuck
        );
        println!(
            "a minimal failing sub-history (with {} other operation(s) kept as indeterminate):",
            cx.minimal_weakened
        );
        for op in &cx.minimal {
            let result = op
                .result
                .as_ref()
                .map(|r| format!(" -> {r}"))
                .unwrap_or_default();
            println!(
                "  line {:>3}  process {:<3} {} {}{} ({})",
                op.invoke_line, op.process, op.f, op.value, result, op.outcome
            );
        }
    }
    if let Some(why) = &report.unknown_reason {
        println!("unknown: {why}");
    }
    ExitCode::from(match report.valid {
        Validity::Valid => 0,
        Validity::Invalid => 1,
        Validity::Unknown => 2,
    })
}
