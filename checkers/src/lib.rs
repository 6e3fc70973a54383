//! faultline's checking library: the "check" step of run → check → report. Use it like
//! Porcupine: give it a history and a sequential model — one of faultline's or your own — and
//! it says whether the history is linearizable, with evidence when it is not, within a budget.
//!
//! # Check a history against a model of your own
//!
//! Implement [`Model`] (its documentation says what each method means), read and pair a
//! history ([`read_history`], [`pair`]: every format of `docs/history-format.md`), and call
//! [`check_operations`]:
//!
//! ```
//! use checkers::{check_operations, pair, read_history, CheckOptions, CompileCtx, Compiled};
//! use checkers::{Model, Operation, Outcome, ShapeError, Validity};
//! use serde_json::{json, Value};
//!
//! /// A counter: `incr` adds 1, `read` returns the count.
//! struct Counter;
//! #[derive(Debug, Clone, PartialEq, Eq, Hash)]
//! enum Op { Incr, Read(i64) }
//!
//! impl Model for Counter {
//!     type State = i64;
//!     type Op = Op;
//!     fn name(&self) -> &'static str { "my-counter" }
//!     fn init(&self, _: Option<&Value>, _key: Option<&Value>, _: &mut CompileCtx)
//!         -> Result<i64, ShapeError> { Ok(0) }
//!     fn compile(&self, op: &Operation, _: &mut CompileCtx) -> Result<Compiled<Op>, ShapeError> {
//!         Ok(match (op.f.as_deref(), op.outcome) {
//!             (_, Outcome::Fail) => Compiled::Skip, // certainly did not happen
//!             // ok: happened; info: may have happened (the search decides)
//!             (Some("incr"), _) => Compiled::Op { key: None, op: Op::Incr },
//!             (Some("read"), Outcome::Ok) => {
//!                 let n = op.output.as_i64().ok_or("expected a read to return an integer")?;
//!                 Compiled::Op { key: None, op: Op::Read(n) }
//!             }
//!             (Some("read"), _) => Compiled::Skip, // a read with no result says nothing
//!             _ => return Err("expected incr or read".into()),
//!         })
//!     }
//!     /// The next state, or None: this op cannot have happened in this state.
//!     fn step(&self, n: &i64, op: &Op) -> Option<i64> {
//!         match op { Op::Incr => Some(n + 1), Op::Read(seen) => (seen == n).then_some(*n) }
//!     }
//!     fn read_only(&self, op: &Op) -> bool { matches!(op, Op::Read(_)) }
//!     fn show_state(&self, n: &i64, _: &CompileCtx) -> Value { json!(n) }
//! }
//!
//! // A timed-out incr, a read of 1 — and then a read of 0: counters do not go down.
//! let text = r#"{"process": 0, "type": "invoke", "f": "incr", "value": null}
//! {"process": 1, "type": "invoke", "f": "read", "value": null}
//! {"process": 1, "type": "ok", "f": "read", "value": 1}
//! {"process": 0, "type": "info", "f": "incr", "value": null}
//! {"process": 2, "type": "invoke", "f": "read", "value": null}
//! {"process": 2, "type": "ok", "f": "read", "value": 0}
//! "#;
//! let history = read_history("counter.jsonl", text.as_bytes(), None)?;
//! let ops = pair(&history)?;
//! let opts = CheckOptions::default(); // budgets: time_limit, memory_limit; shrinking
//! let report = check_operations(&Counter, "counter.jsonl", history.format, &ops, &opts, &opts.budget())?;
//! assert_eq!(report.valid, Validity::Invalid); // Valid, Invalid, or Unknown (out of budget)
//! let evidence = report.counterexample.unwrap();
//! assert_eq!(evidence.stuck.invoke_line, 5); // the read of 0 fits no order
//! assert_eq!(evidence.state_before_stuck, json!(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Keyed objects (a key-value store) return each operation's key from `compile` and are
//! checked key by key, in parallel. A model in which one operation may lead to several states
//! overrides [`Model::step_all`]. A complete worked model — a bank account that refuses
//! overdrafts, checked on a history file — is `checkers/examples/bank_account/`
//! (`cargo run -p checkers --example bank_account -- HISTORY`).
//!
//! # faultline's own checkers
//!
//! Every built-in model and workload checker is in [`registry`], by the name the command line
//! uses:
//!
//! ```no_run
//! use checkers::{history, registry, CheckOptions, CheckerKind};
//! let h = history::read_history_file("history.jsonl").unwrap();
//! let ops = history::pair(&h).unwrap();
//! let checker = registry::find(CheckerKind::Model, "cas-register").unwrap();
//! let opts = CheckOptions::default();
//! let report = checker
//!     .check("history.jsonl", h.format, &ops, &opts, &opts.budget())
//!     .unwrap();
//! println!("{:?}", report.valid);
//! ```
//!
//! # The public surface
//!
//! - Checking with a model: [`Model`] (with [`Compiled`], [`CompileCtx`], [`Interner`] /
//!   [`ValueId`], [`first_successor`]), [`check_operations`].
//! - Histories: [`read_history`], [`read_history_file`], [`pair`] → [`Operation`]s with their
//!   [`Outcome`]; the whole [`history`] module (events, formats, the JSON-lines writer).
//! - What a check returns: [`Report`] with its [`Validity`], [`Counterexample`] (built from
//!   [`OpView`]s and [`Step`]s), [`Stats`]; for workload checkers, anomalies and details.
//! - Budgets: [`CheckOptions`] (`time_limit`, `memory_limit`, shrinking, every checker's
//!   options) and the [`Budget`] it starts; running out gives `unknown` with its
//!   [`StopReason`], never a guess.
//! - Errors: [`InputError`] (file, line, what was expected), [`ShapeError`] (what a model
//!   expected of an operation), [`UsageError`].
//! - [`registry`]: faultline's own checkers — sequential models ([`model`]) and workload
//!   checkers (Elle-style transactions, Jepsen's checkers).
//! - [`perf`]: availability during faults and latency outside them; [`expect`]: test-plan
//!   expectations; [`Rng`]: the seeded generator.
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
mod int_ids;
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
pub use history::{pair, read_history, read_history_file, History, Operation, Outcome};
pub use jepsen::{check_compact_workload, compact_workload};
pub use linear::check_operations;
pub use linear::compact::{SettledCompile, COMPACT_CHECK_BYTES_PER_OP};
pub use model::{first_successor, CompileCtx, Compiled, Interner, Model, ValueId};
pub use options::{CheckOptions, Inference, DEFAULT_CYCLE_SEARCH_TIMEOUT};
pub use registry::{check_compact_model, compact_model, Checker, CHECKERS};
pub use rng::Rng;
pub use succeeded::{
    judge as judge_vacuous, judge_compact as judge_vacuous_compact, nothing_succeeded, ErrorCount,
    KindTally, NothingSucceeded, ANSWERING_FAIL, MIN_ATTEMPTS,
};
pub use txn::read::{read_txn_paired, CompactTxns, TxnPaired};
pub use txn::txns::TxnKind;
pub use txn::{check_compact, parse_anomaly, parse_consistency, txn_workload};
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
