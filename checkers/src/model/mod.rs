//! Sequential models: what a correct single-copy object would answer.
//!
//! Each model is one file implementing [`Model`]: it compiles history [`Operation`]s into its own
//! compact op type (values interned to integers by [`Interner`]), and `step` is a pure function
//! from a state and an op to the next state, or `None` when the op's observed result is
//! impossible in that state. The linearizability search (`linear`, crate-private) is generic over
//! this trait and monomorphized per model.
//!
//! Models import nothing from the checkers that use them. To add a model: write one file here
//! implementing [`Model`], then add one line to [`crate::registry`] naming it.

mod cas_register;
mod fifo_queue;
mod grow_set;
mod kv;
mod multi_register;
mod mutex;
mod pn_counter;
mod queue;
pub(crate) mod register;
mod util;

pub use cas_register::CasRegister;
pub use fifo_queue::FifoQueue;
pub use grow_set::Set;
pub use kv::Kv;
pub use multi_register::MultiRegister;
pub use mutex::Mutex;
pub use pn_counter::Counter;
pub use queue::Queue;
pub use register::Register;
pub use util::{canonical, Interner, ValueId};

use crate::error::ShapeError;
use crate::history::Operation;
use serde_json::Value;
use std::fmt::Debug;
use std::hash::Hash;

/// What [`Model::compile`] makes of one history operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compiled<O> {
    /// The operation cannot influence the check (e.g. an indeterminate read): leave it out.
    Skip,
    /// A model op, with the key it belongs to when the history is keyed.
    Op {
        /// Partition key (from the `key` field, or a kv `{"key","value"}` value).
        key: Option<Value>,
        /// The compiled operation.
        op: O,
    },
}

/// Context for compiling operations: value interning and format-specific readings.
#[derive(Debug, Default)]
pub struct CompileCtx {
    /// Interns JSON values into small integers so states compare and hash cheaply.
    pub values: Interner,
    /// The history came from a Jepsen text log, where `:fail :cas` means "compared, saw a
    /// different value, changed nothing" (Porcupine's reading), not "no effect".
    pub fail_cas_observed: bool,
}

/// A sequential specification.
pub trait Model: Sync + Send {
    /// The object's state. Small, cheap to clone, hash and compare.
    type State: Clone + Eq + Hash + Send + Sync + Debug;
    /// A compiled operation with its argument and (for determinate ops) its observed result.
    type Op: Clone + Eq + Hash + Send + Sync + Debug;

    /// The name used by `--model`.
    fn name(&self) -> &'static str;

    /// The initial state for the partition `key` (None for an unkeyed history), from the
    /// `--initial` JSON if given. An error message says what shape was expected.
    fn init(
        &self,
        initial: Option<&Value>,
        key: Option<&Value>,
        ctx: &mut CompileCtx,
    ) -> Result<Self::State, ShapeError>;

    /// Turns a client operation into a model op. Called for ok, info and (when
    /// `ctx.fail_cas_observed`) failed operations. An error says what shape was expected.
    fn compile(
        &self,
        op: &Operation,
        ctx: &mut CompileCtx,
    ) -> Result<Compiled<Self::Op>, ShapeError>;

    /// The pure transition: the next state, or `None` if `op` cannot happen in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// True when `op` never changes the state, whatever the state (a read). Such ops are
    /// linearized eagerly by the search when they fit, and dropped when indeterminate.
    fn read_only(&self, op: &Self::Op) -> bool;

    /// The op as it would be had it completed `info` instead: what it may do if it took effect
    /// (e.g. a dequeue that removed *some* element, a transaction whose reads are unknown), or
    /// `None` when it would then have no effect at all (a read). The shrinker uses this to make
    /// an operation indeterminate exactly as `docs/models.md` defines it.
    fn weaken(&self, op: &Self::Op) -> Option<Self::Op> {
        (!self.read_only(op)).then(|| op.clone())
    }

    /// A JSON rendering of a state, for counterexamples.
    fn show_state(&self, state: &Self::State, ctx: &CompileCtx) -> Value;
}
