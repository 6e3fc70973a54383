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
pub(crate) mod kv;
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

/// A sequential specification: what a correct single-copy object would answer, one operation
/// at a time. Implement it to check histories of your own system with
/// [`crate::check_operations`] (the way etcd's robustness tests and MIT 6.5840 use
/// Porcupine's `Model`).
///
/// # What the checker does with it
///
/// 1. [`compile`](Model::compile) turns each client [`Operation`] of the history (an
///    invocation paired with its completion) into a small model op of your own type, and says
///    which *partition* (key) it belongs to, or [`Compiled::Skip`] when it cannot constrain
///    anything.
/// 2. For each partition, [`init`](Model::init) gives the initial state.
/// 3. The search looks for an order of the operations that respects real time (an operation
///    that completed before another was invoked comes first) in which every
///    [`step`](Model::step) succeeds. Found for every partition: `valid`. Proven impossible
///    for one: `invalid`, with a counterexample rendered by
///    [`show_state`](Model::show_state). Out of budget: `unknown` — never a guess.
///
/// # The meaning of each method
///
/// - **`State`** is the object's whole state. Two states are *equal* (Porcupine's `Equal`)
///   exactly when `==` says so, and `Hash` must agree with `==`: the search remembers every
///   (set of linearized operations, state) it has explored and never explores one twice, so
///   a state that leaves something out (a state with extra fields that `==` ignores) makes the
///   search skip orders it should have tried. Keep states small: intern JSON values with
///   [`CompileCtx::values`] (an [`Interner`], values → [`ValueId`]).
/// - **`Op`** holds the operation's argument and, for an operation that completed `ok`, what
///   it observed (a read's result). `Eq + Hash` too: identical indeterminate ops are treated
///   as interchangeable.
/// - **Partitioning by key**: when operations on different keys cannot affect each other
///   (a key-value store), return the key in [`Compiled::Op::key`]; each key is then checked
///   on its own, in parallel, from `init(…, Some(key), …)` — much faster, and exact
///   (linearizability is compositional). Return `None` for an unkeyed object; a history must
///   be all keyed or all unkeyed.
/// - **`step(state, op)`** returns the state after `op`, or `None` when `op` could not have
///   happened in `state` with the result it observed (a read that returned 3 when the
///   state is 2; Porcupine's `Step` returning `false`). It must be a pure function.
/// - **Operation outcomes** (see `docs/models.md`): `ok` happened, with its observed result;
///   `fail` did *not* happen — usually compile it to [`Compiled::Skip`], unless a failure is
///   itself an observation of your object (e.g. "refused: insufficient funds" says the
///   balance was too low; then compile it to an op whose step checks that and leaves the
///   state unchanged); `info` (timed out, crashed) *may or may not* have happened, at any
///   time after its invocation: the search may place it anywhere after its call, or leave
///   it out. Compile an `info` op to what it would do without knowing its result (a read
///   whose value is unknown constrains nothing: `Skip` it).
/// - **`read_only(op)`**: true when `op` never changes the state, whatever the state — its
///   step returns the state itself or `None`. The search linearizes such ops eagerly, so a
///   wrong `true` can miss valid orders; `false` is always safe (only slower).
/// - **Non-deterministic models** (one operation, several possible next states, e.g. a
///   write that a lossy replica may drop, a lease that may or may not have expired): override
///   [`step_all`](Model::step_all) to push *every* possible next state; the search then
///   explores each of them (and remembers each (linearized set, state) on its own). `step`
///   must then return the first of them (or `None` when there is none): write it as
///   `first_successor(self, state, op)` ([`first_successor`]).
/// - **`show_state`** renders a state as JSON for counterexamples (Porcupine's
///   `DescribeState`); operations are shown as the history recorded them.
///
/// `Sync + Send` because partitions are searched on all cores.
pub trait Model: Sync + Send {
    /// The object's state. Small, cheap to clone, hash and compare; `==` is the model's
    /// equality of states.
    type State: Clone + Eq + Hash + Send + Sync + Debug;
    /// A compiled operation with its argument and (for determinate ops) its observed result.
    type Op: Clone + Eq + Hash + Send + Sync + Debug;

    /// The model's name, shown in reports (and used by `--model` for the built-in ones).
    fn name(&self) -> &'static str;

    /// The initial state for the partition `key` (None for an unkeyed history), from the
    /// `--initial` JSON ([`crate::CheckOptions::initial`]) if given. An error message says what
    /// shape was expected.
    fn init(
        &self,
        initial: Option<&Value>,
        key: Option<&Value>,
        ctx: &mut CompileCtx,
    ) -> Result<Self::State, ShapeError>;

    /// Turns a client operation into a model op and its partition key, or
    /// [`Compiled::Skip`]. Called for every client operation: `ok`, `fail` and `info` (see
    /// [`Operation::outcome`]). An error (an `f` the model does not know, a value of the wrong
    /// shape) says what was expected; the checker reports it at the operation's line.
    fn compile(
        &self,
        op: &Operation,
        ctx: &mut CompileCtx,
    ) -> Result<Compiled<Self::Op>, ShapeError>;

    /// The pure transition: the next state, or `None` if `op` cannot happen in `state`. For a
    /// non-deterministic model, the first state [`step_all`](Model::step_all) gives.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// Pushes onto `out` every state `op` may lead to from `state` (none when `op` cannot
    /// happen there), always the same ones in the same order for the same arguments. The
    /// default pushes what [`step`](Model::step) returns: override it only for a
    /// non-deterministic model. The search calls this method, never `step`.
    fn step_all(&self, state: &Self::State, op: &Self::Op, out: &mut Vec<Self::State>) {
        out.extend(self.step(state, op));
    }

    /// True when `op` never changes the state, whatever the state (a read). Such ops are
    /// linearized eagerly by the search when they fit, and dropped when indeterminate.
    fn read_only(&self, op: &Self::Op) -> bool;

    /// The op as it would be had it completed `info` instead: what it may do if it took effect
    /// (e.g. a dequeue that removed *some* element, a transaction whose reads are unknown), or
    /// `None` when it would then have no effect at all (a read). The shrinker uses this to make
    /// an operation indeterminate exactly as `docs/models.md` defines it. The default: the op
    /// itself, or `None` for a read-only op.
    fn weaken(&self, op: &Self::Op) -> Option<Self::Op> {
        (!self.read_only(op)).then(|| op.clone())
    }

    /// A JSON rendering of a state, for counterexamples.
    fn show_state(&self, state: &Self::State, ctx: &CompileCtx) -> Value;
}

/// The first state [`Model::step_all`] gives, or `None`: the `step` of a non-deterministic
/// model.
pub fn first_successor<M: Model + ?Sized>(
    model: &M,
    state: &M::State,
    op: &M::Op,
) -> Option<M::State> {
    let mut out = Vec::new();
    model.step_all(state, op, &mut out);
    out.into_iter().next()
}

/// Replays `ops` in order from `init`, choosing among a non-deterministic model's next states
/// so that every step succeeds: the states after each op, or `None` when no choice works.
/// Used to show a counterexample's partial linearizations.
pub(crate) fn replay<M: Model>(
    model: &M,
    init: &M::State,
    ops: &[&M::Op],
) -> Option<Vec<M::State>> {
    // Depth-first over (position, state), each pair tried once.
    let mut seen: std::collections::HashSet<(usize, M::State)> = std::collections::HashSet::new();
    let mut path: Vec<M::State> = Vec::with_capacity(ops.len());
    let mut stack: Vec<(usize, M::State)> = vec![(0, init.clone())];
    // Each stack item: the number of ops applied so far, and the state then. `path` holds
    // the states of the current branch.
    while let Some((k, state)) = stack.pop() {
        path.truncate(k.saturating_sub(1));
        if k > 0 {
            path.push(state.clone());
        }
        if k == ops.len() {
            return Some(path);
        }
        let mut next = Vec::new();
        model.step_all(&state, ops[k], &mut next);
        for s in next.into_iter().rev() {
            if seen.insert((k + 1, s.clone())) {
                stack.push((k + 1, s));
            }
        }
    }
    None
}
