//! faultline's checking library: the "check" step of run → check → report.
//!
//! Like Porcupine, it can be used on its own: read a history, pick a checker, check it within a
//! budget, get a report.
//!
//! ```no_run
//! use checkers::{history, registry, Budget, CheckOptions, CheckerKind};
//! let bytes = std::fs::read("history.jsonl").unwrap();
//! let h = history::read_history("history.jsonl", &bytes, None).unwrap();
//! let ops = history::pair(&h).unwrap();
//! let checker = registry::find(CheckerKind::Model, "cas-register").unwrap();
//! let opts = CheckOptions::default();
//! let report = checker
//!     .check("history.jsonl", h.format, &ops, &opts, &opts.budget())
//!     .unwrap();
//! println!("{:?}", report.valid);
//! ```
//!
//! The public surface:
//! - [`history`]: the history model (events, paired operations) and the readers for every
//!   encoding in `docs/history-format.md` (JSON lines / array, Jepsen EDN, Jepsen text log,
//!   Porcupine kv EDN), plus the JSON-lines writer.
//! - [`registry`]: every checker — sequential models and workload checkers — with its name,
//!   what it checks, and `check(history, options, budget) -> Report`.
//! - [`model`]: the sequential specifications (the [`Model`] trait and one type per model).
//! - [`Report`], [`Validity`], [`Counterexample`]: what every checker returns.
//! - [`Budget`], [`StopReason`]: the one budget every checker respects (→ `unknown`).
//! - [`perf`]: availability during faults and latency outside them, from a history.
//! - [`InputError`], [`UsageError`], [`ShapeError`]: typed errors; [`Rng`]: the seeded generator.
//!
//! Inside (crate-private), layered so each imports only the ones below it: `registry` →
//! `linear` (linearizability search, memoization, shrinking; imports `model`), `txn` (Elle-style
//! transactional checking, with its `consistency` lattice), `jepsen` (Jepsen's workload
//! checkers) → `model`, `verdict`, `options`, `budget`, `history`. `txn` and `jepsen` do not
//! import each other.
//!
//! The crate is pure: no async runtime, no network.

mod budget;
mod error;
pub mod expect;
pub mod history;
mod jepsen;
mod linear;
pub mod model;
mod options;
pub mod perf;
pub mod registry;
mod rng;
mod succeeded;
mod txn;
mod verdict;

pub use budget::{default_memory_limit, Budget, MemoryProbe, StopReason};
pub use error::{InputError, ShapeError, UsageError};
pub use model::Model;
pub use options::{CheckOptions, Inference, DEFAULT_CYCLE_SEARCH_TIMEOUT};
pub use registry::{Checker, CHECKERS};
pub use rng::Rng;
pub use succeeded::{
    judge as judge_vacuous, nothing_succeeded, ErrorCount, KindTally, NothingSucceeded,
    ANSWERING_FAIL, MIN_ATTEMPTS,
};
pub use txn::{parse_anomaly, parse_consistency};
pub use verdict::{Artifact, CheckerKind, Counterexample, OpView, Report, Stats, Step, Validity};

/// Internals the crate's own tests, benchmarks and property tests reach into; not part of the
/// API (no stability promised).
#[doc(hidden)]
pub mod testing {
    pub use crate::rng::{cas_register, RegisterSpec};
    pub use crate::txn::generate::{history as txn_history, TxnSpec};
    pub use crate::txn::txns::TxnKind;
    pub use crate::txn::{check_list_append, check_rw_register};
}
