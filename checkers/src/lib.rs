//! faultline's checking library: the "check" step of run → check → report.
//!
//! - [`history`]: the history model (events, paired operations) and the readers for every
//!   encoding in `docs/history-format.md` (JSON lines / array, Jepsen EDN, Jepsen text log,
//!   Porcupine kv EDN), plus the JSON-lines writer.
//! - [`model`]: sequential specifications as pure `step(state, op) -> Option<state>` values.
//! - [`linear`]: the linearizability checker (Wing–Gong/Lowe search with memoization,
//!   P-compositionality, budgets) and the counterexample shrinker.
//! - [`budget`]: the time, memory and state limits every checker respects (→ `unknown`).
//! - [`perf`]: availability during faults and latency outside them, from a history.
//! - [`txn`]: Elle-style transactional checking (list-append, rw-register).
//! - [`workload`]: the workload checkers behind `--workload` (transactional and Jepsen's).
//! - [`verdict`]: what a checker returns.
//!
//! The crate is pure: no async runtime, no network. It can be used on its own, like Porcupine.

pub mod budget;
pub mod error;
pub mod gen;
pub mod history;
pub mod linear;
pub mod model;
pub mod perf;
pub mod txn;
pub mod verdict;
pub mod workload;

pub use error::InputError;
