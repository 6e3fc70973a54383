//! Workload checkers: the "check" step for histories that are not checked by linearizability
//! search — Elle's transactional checkers (list-append, rw-register; see [`crate::txn`]) and
//! Jepsen's counter, set, set-full, bank, long-fork, unique-ids and total-queue checkers.
//!
//! Every checker has the same shape: paired operations in, a [`WorkloadReport`] out, with a
//! verdict (never a guess: `unknown` when it cannot decide), the anomalies it found by name,
//! lines a person reads, a workload-specific JSON `details` object, and optional files
//! (`artifacts`, e.g. DOT graphs of cycles) written by `check --out DIR`. A new checker is one
//! file here plus one line in [`WORKLOADS`].

pub mod bank;
pub mod common;
pub mod counter;
pub mod long_fork;
pub mod set;
pub mod set_full;
pub mod set_full_timeline;
pub mod total_queue;
pub mod unique_ids;

use crate::budget::{Budget, MemoryProbe};
use crate::history::Operation;
use crate::verdict::Validity;
use crate::InputError;
use serde_json::Value;
use std::time::Duration;

/// Options shared by the workload checkers (each uses the ones that apply to it).
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    /// Consistency models to check (list-append, rw-register), as given on the command line;
    /// empty means the default (`serializable`). Validated by [`validate`].
    pub consistency: Vec<String>,
    /// long-fork: how many keys each read group covers (default: inferred from the reads).
    pub group_size: Option<usize>,
    /// bank: whether negative balances are allowed.
    pub negative_balances: bool,
    /// Wall-clock budget; a checker that runs out reports `unknown`.
    pub time_limit: Option<Duration>,
    /// Memory budget in bytes for the process's heap, compared with `memory_in_use` at the
    /// checkers' budget checkpoints; a checker that runs out reports `unknown`. Default:
    /// [`crate::budget::default_memory_limit`].
    pub memory_limit: usize,
    /// Reads the process's heap in use (see [`crate::budget`]); without it the memory budget
    /// is not enforced.
    pub memory_in_use: Option<MemoryProbe>,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            consistency: Vec::new(),
            group_size: None,
            negative_balances: false,
            time_limit: None,
            memory_limit: crate::budget::default_memory_limit(),
            memory_in_use: None,
        }
    }
}

impl WorkloadOptions {
    /// The time and memory limits of one check, starting now.
    pub fn budget(&self) -> Budget {
        Budget::new(self.time_limit, self.memory_limit, self.memory_in_use)
    }
}

/// A file a checker wants written next to the results (`check --out DIR`).
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// File name, relative to the output directory (no path separators).
    pub name: String,
    /// Its contents.
    pub contents: String,
}

/// What a workload checker concludes about one history.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadReport {
    /// The checker's name (`list-append`, `bank`, …).
    pub workload: &'static str,
    /// The verdict.
    pub valid: Validity,
    /// How many client operations were checked.
    pub ops: usize,
    /// Wall time spent checking, in milliseconds.
    pub millis: f64,
    /// Names of the anomalies found (`G-single`, `lost-append`, `negative-balance`, …), sorted
    /// and without repeats; empty when valid.
    pub anomalies: Vec<String>,
    /// Why the verdict is unknown, when it is.
    pub unknown_reason: Option<String>,
    /// The explanation for a person, one line per entry, already worded (no trailing newline):
    /// what was found, with the operations (by file line) and the reasoning.
    pub explanation: Vec<String>,
    /// Checker-specific machine-readable details (a JSON object), emitted as `details` in
    /// `--format json`.
    pub details: Value,
    /// Files to write with `--out DIR`.
    pub artifacts: Vec<Artifact>,
}

/// A workload checker: file name (for messages), the paired operations, the options.
pub type CheckFn = fn(&str, &[Operation], &WorkloadOptions) -> Result<WorkloadReport, InputError>;

/// One registered workload checker.
#[derive(Debug)]
pub struct WorkloadEntry {
    /// Name on the command line (`--workload NAME`).
    pub name: &'static str,
    /// One-line description for `--help` and docs.
    pub about: &'static str,
    /// The checker.
    pub check: CheckFn,
}

/// Every workload checker, in the order `--help` lists them.
pub static WORKLOADS: &[WorkloadEntry] = &[
    WorkloadEntry {
        name: "list-append",
        about: "Elle list-append: transactions of appends and list reads, dependency-graph cycles",
        check: crate::txn::check_list_append,
    },
    WorkloadEntry {
        name: "rw-register",
        about: "Elle rw-register: transactions of register reads and unique writes",
        check: crate::txn::check_rw_register,
    },
    WorkloadEntry {
        name: "counter",
        about: "Jepsen counter: each read within [sum of ok adds, sum of ok and info adds]",
        check: counter::check,
    },
    WorkloadEntry {
        name: "set",
        about: "Jepsen set: every acknowledged add is in the final read",
        check: set::check,
    },
    WorkloadEntry {
        name: "set-full",
        about: "Jepsen set-full: per element, stable, lost or never read, with latencies",
        check: set_full::check,
    },
    WorkloadEntry {
        name: "bank",
        about: "Jepsen bank: transfers keep the total balance; no negative balances",
        check: bank::check,
    },
    WorkloadEntry {
        name: "long-fork",
        about: "Jepsen long-fork: reads of groups of keys never observe two writes in both orders",
        check: long_fork::check,
    },
    WorkloadEntry {
        name: "unique-ids",
        about: "Jepsen unique-ids: every acknowledged generated id is distinct",
        check: unique_ids::check,
    },
    WorkloadEntry {
        name: "total-queue",
        about: "Jepsen total-queue: every acknowledged enqueue is dequeued; lost, duplicated, unexpected",
        check: total_queue::check,
    },
];

/// The workload checker named `name`.
pub fn find(name: &str) -> Option<&'static WorkloadEntry> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// Checks options before any file is read: a usage error (exit 254) is returned as a message.
pub fn validate(workload: &str, opts: &WorkloadOptions) -> Result<(), String> {
    let transactional = matches!(workload, "list-append" | "rw-register");
    if !transactional && !opts.consistency.is_empty() {
        return Err(format!(
            "--consistency applies to list-append and rw-register, not to {workload}"
        ));
    }
    if workload != "long-fork" && opts.group_size.is_some() {
        return Err(format!(
            "--group-size applies to long-fork, not to {workload}"
        ));
    }
    if workload != "bank" && opts.negative_balances {
        return Err(format!(
            "--negative-balances applies to bank, not to {workload}"
        ));
    }
    if transactional {
        for name in &opts.consistency {
            crate::txn::parse_consistency(name)?;
        }
    }
    Ok(())
}
