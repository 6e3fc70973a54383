//! The one registry of checkers (the "check" step of run → check → report): every sequential
//! model of `check --model` and every workload checker of `check --workload`, each with its
//! name, what it checks, and one `check` that turns paired operations into a [`Report`].
//!
//! The registry sits on top: it imports the models, the linearizability checker, the
//! transactional checker and Jepsen's checkers, and none of them imports it. To add a checker,
//! write it in its family's folder and add one line to [`CHECKERS`].

use crate::budget::Budget;
use crate::error::UsageError;
use crate::history::{CompactHistory, Format, Operation};
use crate::jepsen;
use crate::linear;
use crate::model::{
    CasRegister, Counter, FifoQueue, Kv, MultiRegister, Mutex, Queue, Register, Set,
};
use crate::options::CheckOptions;
use crate::txn;
use crate::verdict::{CheckerKind, Report};
use crate::InputError;

/// The function behind a checker: file name (for messages), the format it was read in, the
/// paired operations, the options and the check's budget.
type CheckFn = fn(&str, Format, &[Operation], &CheckOptions, &Budget) -> Result<Report, InputError>;

/// The same check over a compact history ([`CompactHistory`]); `None` when the general path
/// must check it (it then words any error).
type CompactFn = fn(&CompactHistory, &CheckOptions, &Budget) -> Option<Report>;

/// One registered checker.
pub struct Checker {
    /// Its name on the command line (`--model NAME` or `--workload NAME`).
    pub name: &'static str,
    /// One line saying what it checks, for `--help` and docs.
    pub about: &'static str,
    /// A sequential model (linearizability) or a workload checker.
    pub kind: CheckerKind,
    run: CheckFn,
    /// Its check over a compact history, where it has one.
    compact: Option<CompactFn>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Checker {
    /// Checks paired operations read from `file` in `format`. The verdict is `unknown` (never
    /// a guess) when `budget` runs out; an `Err` is input the checker cannot judge, naming
    /// the file and line. This is the checker's own verdict: a tool that reports to people
    /// (faultline's `check`, `run` and `report`) then applies [`crate::judge_vacuous`], so a
    /// history in which nothing — or no operation of some kind — succeeded is never `valid`.
    pub fn check(
        &self,
        file: &str,
        format: Format,
        ops: &[Operation],
        opts: &CheckOptions,
        budget: &Budget,
    ) -> Result<Report, InputError> {
        // A model's history of Jepsen's independent keys is checked key by key, as Jepsen's
        // independent checker does (history::unwrap_tuples).
        if self.kind == CheckerKind::Model {
            if let Some(ops) = crate::history::unwrap_tuples(file, ops, opts.independent)? {
                let mut report = (self.run)(file, format, &ops, opts, budget)?;
                report.stats.tuples = true;
                return Ok(report);
            }
        }
        (self.run)(file, format, ops, opts, budget)
    }

    /// [`Checker::check`] within a budget started now from the options' limits.
    pub fn check_within_options(
        &self,
        file: &str,
        format: Format,
        ops: &[Operation],
        opts: &CheckOptions,
    ) -> Result<Report, InputError> {
        self.check(file, format, ops, opts, &opts.budget())
    }

    /// Checks the options before any file is read: an option that does not apply to this
    /// checker, or a consistency model nobody knows, is a usage error.
    pub fn validate(&self, opts: &CheckOptions) -> Result<(), UsageError> {
        let name = self.name;
        if self.kind == CheckerKind::Model {
            return Ok(());
        }
        let transactional = matches!(name, "list-append" | "rw-register");
        let misplaced = if opts.initial.is_some() {
            // A workload checker starts from what its history says (Jepsen's do too); an
            // initial state it would silently ignore is refused instead.
            Some("--initial applies to --model checkers")
        } else if !transactional && !opts.consistency.is_empty() {
            Some("--consistency applies to list-append and rw-register")
        } else if !transactional && !opts.anomalies.is_empty() {
            Some("--anomalies applies to list-append and rw-register")
        } else if name != "rw-register" && opts.inference.any() {
            Some(
                "--wfr-keys, --sequential-keys and --linearizable-keys apply to rw-register \
                 (a list read shows its key's whole version order already)",
            )
        } else if opts.independent != crate::history::Tuples::Auto {
            Some("--independent applies to --model checkers")
        } else if name != "long-fork" && opts.group_size.is_some() {
            Some("--group-size applies to long-fork")
        } else if name != "bank" && opts.negative_balances {
            Some("--negative-balances applies to bank")
        } else if name != "bank" && opts.total_amount.is_some() {
            Some("--total-amount applies to bank")
        } else {
            None
        };
        if let Some(what) = misplaced {
            return Err(UsageError::new(format!("{what}, not to {name}")));
        }
        if transactional {
            for model in &opts.consistency {
                txn::parse_consistency(model)?;
            }
            for anomaly in &opts.anomalies {
                txn::parse_anomaly(anomaly)?;
            }
        }
        Ok(())
    }
}

/// True when `--model name` can check a [`CompactHistory`] ([`check_compact_model`]): every
/// registered model can.
pub fn compact_model(name: &str) -> bool {
    find(CheckerKind::Model, name).is_some_and(|c| c.compact.is_some())
}

/// Checks `history` with the model `name` exactly as [`Checker::check`] checks the same
/// history paired into operations (Jepsen's independent tuples already unwrapped, see
/// [`CompactHistory::unwrap_tuples`]); `None` when the general path must check it.
pub fn check_compact_model(
    name: &str,
    history: &CompactHistory,
    opts: &CheckOptions,
    budget: &Budget,
) -> Option<Report> {
    (find(CheckerKind::Model, name)?.compact?)(history, opts, budget)
}

macro_rules! model {
    ($name:literal, $about:literal, $ty:expr) => {
        Checker {
            name: $name,
            about: $about,
            kind: CheckerKind::Model,
            run: |file, format, ops, opts, budget| {
                linear::check_operations(&$ty, file, format, ops, opts, budget)
            },
            compact: Some(|history, opts, budget| {
                linear::compact::check_compact(&$ty, history, opts, budget)
            }),
        }
    };
}

macro_rules! workload {
    ($name:literal, $about:literal, $check:path) => {
        Checker {
            name: $name,
            about: $about,
            kind: CheckerKind::Workload,
            run: |file, _format, ops, opts, budget| $check(file, ops, opts, budget),
            compact: None,
        }
    };
}

/// Every checker: the models in the order `check --help` lists them, then the workload
/// checkers in theirs.
pub static CHECKERS: &[Checker] = &[
    model!("register", "read/write register, initial null", Register),
    model!(
        "cas-register",
        "read/write/compare-and-set register, initial null",
        CasRegister
    ),
    model!(
        "kv",
        "get/put/append on string values per key, initial \"\"",
        Kv
    ),
    model!(
        "multi-register",
        "transactions of reads and writes over several registers",
        MultiRegister
    ),
    model!("set", "add and read-all of a set", Set),
    model!("queue", "enqueue/dequeue, unordered", Queue),
    model!(
        "fifo-queue",
        "enqueue/dequeue, first in first out",
        FifoQueue
    ),
    model!("counter", "add n / read the sum", Counter),
    model!("mutex", "acquire/release of a lock without owner", Mutex),
    workload!(
        "list-append",
        "Elle list-append: transactions of appends and list reads, dependency-graph cycles",
        txn::check_list_append
    ),
    workload!(
        "rw-register",
        "Elle rw-register: transactions of register reads and unique writes",
        txn::check_rw_register
    ),
    workload!(
        "counter",
        "Jepsen counter: each read within [sum of ok adds, sum of ok and info adds]",
        jepsen::counter::check
    ),
    workload!(
        "set",
        "Jepsen set: every acknowledged add is in the final read",
        jepsen::set::check
    ),
    workload!(
        "set-full",
        "Jepsen set-full: per element, stable, lost or never read, with latencies",
        jepsen::set_full::check
    ),
    workload!(
        "bank",
        "Jepsen bank: transfers keep the total balance; no negative balances",
        jepsen::bank::check
    ),
    workload!(
        "long-fork",
        "Jepsen long-fork: reads of groups of keys never observe two writes in both orders",
        jepsen::long_fork::check
    ),
    workload!(
        "echo",
        "Maelstrom echo: every acknowledged echo returns its payload",
        jepsen::echo::check
    ),
    workload!(
        "convergent-set",
        "Maelstrom broadcast/g-set: set-full, and every final read holds every acknowledged add",
        jepsen::convergent_set::check
    ),
    workload!(
        "kafka",
        "Maelstrom kafka: lost writes, duplicates, two messages at one offset, skipped or backward polls",
        jepsen::kafka::check
    ),
    workload!(
        "unique-ids",
        "Jepsen unique-ids: every acknowledged generated id is distinct",
        jepsen::unique_ids::check
    ),
    workload!(
        "total-queue",
        "Jepsen total-queue: every acknowledged enqueue is dequeued; lost, duplicated, unexpected",
        jepsen::total_queue::check
    ),
    workload!(
        "sequential",
        "elle-cli sequential: a read of subkeys newest-first never misses one after seeing one",
        jepsen::sequential::check
    ),
    workload!(
        "causal-reverse",
        "Jepsen causal-reverse: a read seeing a write sees every write completed before it began",
        jepsen::causal_reverse::check
    ),
];

/// The checker of `kind` named `name`.
pub fn find(kind: CheckerKind, name: &str) -> Option<&'static Checker> {
    CHECKERS.iter().find(|c| c.kind == kind && c.name == name)
}

/// The sequential models (`check --model`), in `--help` order.
pub fn models() -> impl Iterator<Item = &'static Checker> {
    CHECKERS.iter().filter(|c| c.kind == CheckerKind::Model)
}

/// The workload checkers (`check --workload`), in `--help` order.
pub fn workloads() -> impl Iterator<Item = &'static Checker> {
    CHECKERS.iter().filter(|c| c.kind == CheckerKind::Workload)
}
