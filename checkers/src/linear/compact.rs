//! Checking a history straight from its compact form ([`crate::history::CompactHistory`]):
//! `register`, `cas-register` and `kv` compile the compact records into the search's entries
//! without rebuilding an [`crate::Operation`] per operation; every other model rebuilds each
//! operation for its compile only ([`check_compact`]). Only the operations a counterexample
//! shows are rebuilt for the report ([`OpSource`]).
//!
//! The compile is the model's own (a [`CompactCompile`] per model: [`crate::model::register`]'s
//! `compile_register` over value ids, interned into the model's [`crate::Interner`] in the
//! same order as there; [`crate::model::Kv`]'s compile with each value's text made once per
//! value id and shared, its `null` → `""` and number → text rules, and keys from the `key`
//! field or from a `{"key": k, "value": v}` argument) and [`super::compile`]'s grouping
//! ([`super::Groups`], the same code: integers by value, anything else by its canonical
//! text), so partitions, their order, their entries and the report are the same. Whatever the general compile would refuse (an `f` the model does not
//! know, a cas value that is not `[old, new]`, a kv value that is not text, a kv operation
//! without a key, keyed and unkeyed operations mixed, a bad `--initial`) makes
//! [`check_compact`] give `None`: the caller then checks the file on the general path,
//! which words the error.
//!
//! In `faultline check` (run → **check** → report) the compile of `register`, `cas-register`
//! and `kv` starts before the file is read to its end: [`SettledCompile`], given to
//! [`crate::history::read_compact_observed`] by the caller (src/check.rs), compiles each
//! record once it is settled (its completion paired), in the reader's pairing arm while the
//! next block is parsed; after reading it compiles the rest (the operations still pending,
//! `info` from then on, and the ones after them) and the searches start. The compile is the
//! same code ([`Compiling`]) carried over several calls, so partitions, entries and report
//! are the ones of the compile after reading; Jepsen's tuples, unwrapped after reading, are
//! compiled only then.

use super::{
    decide_partitions, stopped_compiling, Entry, Groups, OpSource, Partition, COMPILE_CHECK_EVERY,
};
use crate::budget::{Budget, StopReason};
use crate::history::compact::{CompactOp, Held, NONE};
use crate::history::{CompactHistory, Format, Outcome, SettledObserver};
use crate::model::kv::{self, KvOp};
use crate::model::register::RegOp;
use crate::model::{CasRegister, CompileCtx, Kv, Model, Register, ValueId};
use crate::options::CheckOptions;
use crate::verdict::{OpView, Report};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

impl OpSource for CompactHistory {
    fn view(&self, id: usize) -> OpView {
        let op = self
            .operation(id)
            .expect("a partition's entries are client operations");
        OpView::of(&op)
    }

    fn line_at(&self, pos: usize) -> Option<usize> {
        CompactHistory::line_at(self, pos)
    }
}

/// Bytes a compact check needs per client operation besides the compact history (its
/// search entry, the search's lists and memo), for the reader's estimate.
pub const COMPACT_CHECK_BYTES_PER_OP: usize = 96;

/// Checks `history` (read by [`crate::history::read_compact`]) with `model` exactly as
/// [`crate::check_operations`] checks the same history paired into operations; `None` when the
/// general path must check it (see the module docs). `register`, `cas-register` and `kv`
/// compile the records directly; any other model compiles each operation rebuilt from its
/// record, one at a time, with the general compile itself (so its entries, partitions and
/// report are the general path's by construction), keeping no [`crate::Operation`] past its
/// compile.
pub(crate) fn check_compact<M: Model>(
    model: &M,
    history: &CompactHistory,
    opts: &CheckOptions,
    budget: &Budget,
) -> Option<Report> {
    match model.name() {
        "register" => run(
            &Register,
            &mut RegCompile::new(false),
            history,
            opts,
            budget,
        ),
        "cas-register" => run(
            &CasRegister,
            &mut RegCompile::new(true),
            history,
            opts,
            budget,
        ),
        "kv" => run(&Kv, &mut KvCompile::new(), history, opts, budget),
        _ => decide(model, history, opts, budget, |ctx| {
            let ops = (0..history.len()).filter_map(|id| history.operation(id));
            super::compile(model, "", ops, opts, ctx, budget).ok()
        }),
    }
}

/// A `register`, `cas-register` or `kv` check's compile run while the history is read: a
/// [`SettledObserver`] for [`crate::history::read_compact_observed`] that compiles each
/// settled record (its completion paired; see [`SettledObserver`]) in the reader's pairing
/// arm, while the next block is parsed, so that when the file ends only the last records
/// (those pending, which become `info` only then, and the ones after them) remain to compile
/// and the searches start at once. [`SettledCompile::check`] finishes it: the same
/// partitions, in the same order, with the same entries and the same report as
/// [`crate::check_compact_model`] after reading (the compile is the same code, carried over
/// several calls). Anything that makes it unusable — a record the model refuses, the memory
/// budget exceeded while reading, records changed after reading — falls back to that whole
/// compile after reading; while every record may be one of Jepsen's `[key value]` tuples
/// (unwrapped only after reading) nothing is compiled.
pub struct SettledCompile {
    /// The model's name.
    name: &'static str,
    /// The model's compile so far; `None` once given up while reading (see above): the
    /// history is then compiled whole after reading.
    state: Option<Box<dyn EarlyCompile>>,
}

/// A model's compile during reading ([`Incremental`], whichever the model).
trait EarlyCompile: Send {
    /// Compiles the records below `upto`; false when the compile must be given up.
    fn settled(&mut self, h: &CompactHistory, upto: usize, format: Format) -> bool;

    /// Bytes held that the reader's per-operation estimate counts.
    fn counted_bytes(&self) -> usize;

    /// Compiles the rest of `history` and decides it (see [`SettledCompile::check`]).
    fn check(
        self: Box<Self>,
        history: &CompactHistory,
        opts: &CheckOptions,
        budget: &Budget,
    ) -> Option<Report>;

    /// Records compiled so far.
    #[cfg(test)]
    fn compiled(&self) -> usize;

    /// Records compiled so far, and the partitions (described) once the rest of `h` is.
    #[cfg(test)]
    fn partitions(self: Box<Self>, h: &CompactHistory) -> (usize, String);
}

/// A model's compile over the settled records so far.
struct Incremental<M: Model, C> {
    model: M,
    compiler: C,
    compiling: Compiling<M::Op>,
    ctx: CompileCtx,
    /// Only its memory limit and probe are used (the check's own budget starts after
    /// reading).
    budget: Budget,
    /// The format has been seen and `ctx.fail_cas_observed` set from it.
    began: bool,
    /// Records below this are known not to be all of Jepsen's `[key value]` tuples, or
    /// [`NONE`] once one client record is not one (then the compile runs).
    maybe_tuples: usize,
}

impl<M: Model, C: CompactCompile<Op = M::Op>> Incremental<M, C> {
    fn new(model: M, compiler: C, budget: Budget) -> Self {
        Incremental {
            model,
            compiler,
            compiling: Compiling::new(),
            ctx: CompileCtx::default(),
            budget,
            began: false,
            maybe_tuples: 0,
        }
    }
}

impl<M, C> EarlyCompile for Incremental<M, C>
where
    M: Model + 'static,
    M::Op: Send,
    C: CompactCompile<Op = M::Op> + Send + 'static,
{
    fn settled(&mut self, h: &CompactHistory, upto: usize, format: Format) -> bool {
        let observed = format == Format::JepsenLog;
        if !self.began {
            self.ctx.fail_cas_observed = observed;
            self.began = true;
        } else if self.ctx.fail_cas_observed != observed {
            return false;
        }
        // While every client record may be one of Jepsen's tuples (unkeyed, a `[key value]`
        // argument: [`CompactHistory::unwrap_tuples`] may change them all after reading),
        // nothing is compiled.
        if self.maybe_tuples != NONE as usize {
            let plain = h.ops[self.maybe_tuples..upto]
                .iter()
                .any(|op| op.client() && (op.key != NONE || h.tuple(op.input()).is_none()));
            if !plain {
                self.maybe_tuples = upto;
                return true;
            }
            self.maybe_tuples = NONE as usize;
        }
        matches!(
            self.compiling
                .run(&mut self.compiler, h, upto, &mut self.ctx, &self.budget),
            Some(Ok(()))
        )
    }

    fn counted_bytes(&self) -> usize {
        self.compiling.groups.entry_bytes() + self.compiler.counted_bytes()
    }

    #[cfg(test)]
    fn compiled(&self) -> usize {
        self.compiling.next
    }

    #[cfg(test)]
    fn partitions(self: Box<Self>, h: &CompactHistory) -> (usize, String) {
        tests::settled_partitions(*self, h)
    }

    fn check(
        self: Box<Self>,
        history: &CompactHistory,
        opts: &CheckOptions,
        budget: &Budget,
    ) -> Option<Report> {
        let Incremental {
            model,
            mut compiler,
            compiling,
            ctx: mut early,
            began,
            ..
        } = *self;
        let observed = history.format == Some(Format::JepsenLog);
        if began && early.fail_cas_observed != observed {
            drop((compiler, compiling, early));
            return check_compact(&model, history, opts, budget);
        }
        early.fail_cas_observed = observed;
        decide(&model, history, opts, budget, |ctx| {
            *ctx = early;
            compiling.finish(&model, &mut compiler, history, opts, ctx, budget)
        })
    }
}

impl SettledCompile {
    /// A compile during reading for the model `name`, within the memory limit and probe of
    /// `opts`; `None` for a model without one (every model but `register`, `cas-register` and
    /// `kv`).
    pub fn new(name: &str, opts: &CheckOptions) -> Option<SettledCompile> {
        let budget = opts.budget();
        let (name, state): (_, Box<dyn EarlyCompile>) = match name {
            "register" => (
                "register",
                Box::new(Incremental::new(Register, RegCompile::new(false), budget)),
            ),
            "cas-register" => (
                "cas-register",
                Box::new(Incremental::new(CasRegister, RegCompile::new(true), budget)),
            ),
            "kv" => (
                "kv",
                Box::new(Incremental::new(Kv, KvCompile::new(), budget)),
            ),
            _ => return None,
        };
        Some(SettledCompile {
            name,
            state: Some(state),
        })
    }

    /// Compiles what is left of `history` (read with this observer) and checks it, exactly as
    /// [`crate::check_compact_model`] checks it; `None` when the general path must check it.
    /// `changed`: the records were changed after reading (Jepsen's tuples unwrapped), so what
    /// was compiled is dropped and the history compiled whole.
    pub fn check(
        self,
        history: &CompactHistory,
        changed: bool,
        opts: &CheckOptions,
        budget: &Budget,
    ) -> Option<Report> {
        let SettledCompile { name, state } = self;
        // When the records changed, what was compiled is dropped before the whole compile:
        // its memory is not kept through it.
        match state.filter(|_| !changed) {
            Some(c) => c.check(history, opts, budget),
            None => crate::check_compact_model(name, history, opts, budget),
        }
    }
}

impl SettledObserver for SettledCompile {
    fn settled(&mut self, history: &CompactHistory, upto: usize, format: Format) {
        if let Some(c) = &mut self.state {
            if !c.settled(history, upto, format) {
                // Dropped now: its memory is not kept through the rest of the reading.
                self.state = None;
            }
        }
    }

    fn counted_bytes(&self) -> usize {
        self.state.as_ref().map_or(0, |c| c.counted_bytes())
    }
}

/// Checks `history` with a model whose records `compiler` compiles directly.
fn run<M: Model, C: CompactCompile<Op = M::Op>>(
    model: &M,
    compiler: &mut C,
    history: &CompactHistory,
    opts: &CheckOptions,
    budget: &Budget,
) -> Option<Report> {
    decide(model, history, opts, budget, |ctx| {
        Compiling::new().finish(model, compiler, history, opts, ctx, budget)
    })
}

/// Decides the partitions `partitions` compiles (`None`: the general path must check the
/// history; `Err`: the compile stopped for the budget, and the check is `unknown`), with the
/// compile context the general check uses for the history's format.
fn decide<M: Model>(
    model: &M,
    history: &CompactHistory,
    opts: &CheckOptions,
    budget: &Budget,
    partitions: impl FnOnce(&mut CompileCtx) -> Option<Result<Vec<Partition<M>>, StopReason>>,
) -> Option<Report> {
    let started = budget.started();
    let mut ctx = CompileCtx {
        fail_cas_observed: history.format == Some(crate::history::Format::JepsenLog),
        ..Default::default()
    };
    let partitions = match partitions(&mut ctx)? {
        Ok(partitions) => partitions,
        Err(why) => {
            return Some(stopped_compiling(
                model,
                history.client_ops(),
                why,
                budget,
                started,
            ))
        }
    };
    Some(decide_partitions(
        model, partitions, history, &ctx, opts, budget, started,
    ))
}

/// Where a compiled operation's partition key comes from.
enum KeyOf<'h> {
    /// The operation has no key (an unkeyed history).
    None,
    /// The record's key, a value id.
    Id(u32),
    /// A value found inside the operation's argument (kv's `{"key": k, "value": v}`).
    Value(&'h Value),
}

/// A model's [`Model::compile`] over compact records.
trait CompactCompile {
    /// The model's compiled operation.
    type Op;

    /// Compiles one client record as the model's `compile` compiles the operation it stands
    /// for: `Ok(None)` where that skips it, `Err(())` where it reports an error (the general
    /// path then words it).
    fn op<'h>(
        &mut self,
        h: &'h CompactHistory,
        op: &CompactOp,
        ctx: &mut CompileCtx,
    ) -> Result<Option<(KeyOf<'h>, Self::Op)>, ()>;

    /// Makes room for value ids below `n` (the history's values so far).
    fn grow(&mut self, n: usize);

    /// Bytes held besides the entries that the reader's per-operation estimate counts (the
    /// texts a kv compile made).
    fn counted_bytes(&self) -> usize {
        0
    }
}

/// Model ids of the history's values, interned on first use (the general compile's order).
struct Ids {
    ids: Vec<ValueId>,
}

impl Ids {
    fn of(&mut self, h: &CompactHistory, ctx: &mut CompileCtx, held: Held) -> ValueId {
        match held {
            Held::One(v) => {
                let slot = &mut self.ids[v as usize];
                if *slot == NONE {
                    *slot = ctx.values.intern(h.values.get(v));
                }
                *slot
            }
            pair => ctx.values.intern(&h.values.of(pair)),
        }
    }
}

/// `register` and `cas-register`'s `compile_register` (model/register.rs) over records.
struct RegCompile {
    /// True for `cas-register` (a `cas` is an operation of the model).
    cas: bool,
    ids: Ids,
}

impl RegCompile {
    fn new(cas: bool) -> Self {
        RegCompile {
            cas,
            ids: Ids { ids: Vec::new() },
        }
    }
}

impl CompactCompile for RegCompile {
    type Op = RegOp;

    fn op<'h>(
        &mut self,
        h: &'h CompactHistory,
        op: &CompactOp,
        ctx: &mut CompileCtx,
    ) -> Result<Option<(KeyOf<'h>, RegOp)>, ()> {
        let ids = &mut self.ids;
        let outcome = op.outcome();
        let rop = match h.f(op).ok_or(())? {
            "write" => {
                if outcome == Outcome::Fail {
                    return Ok(None);
                }
                RegOp::Write(ids.of(h, ctx, op.input()))
            }
            "read" => {
                if outcome != Outcome::Ok {
                    return Ok(None);
                }
                RegOp::Read(ids.of(h, ctx, op.output()))
            }
            "cas" if self.cas => {
                let Held::Pair(old, new) = op.input() else {
                    return Err(());
                };
                let old = ids.of(h, ctx, Held::One(old));
                if outcome == Outcome::Fail {
                    // A Jepsen text log's failed cas observed another value; elsewhere it took
                    // no effect (as the general compile, model/register.rs).
                    if !ctx.fail_cas_observed {
                        return Ok(None);
                    }
                    RegOp::CasFailed(old)
                } else {
                    RegOp::Cas(old, ids.of(h, ctx, Held::One(new)))
                }
            }
            _ => return Err(()),
        };
        let key = if op.key == NONE {
            KeyOf::None
        } else {
            KeyOf::Id(op.key)
        };
        Ok(Some((key, rop)))
    }

    fn grow(&mut self, n: usize) {
        if self.ids.ids.len() < n {
            self.ids.ids.resize(n, NONE);
        }
    }
}

/// `kv`'s compile (model/kv.rs) over records. Each value's text is made once and shared by
/// every operation that holds it.
struct KvCompile {
    /// Value id → its text, once made.
    texts: Vec<Option<Arc<str>>>,
    /// Value id of a `{"key", "value"}` object → the text of its `"value"`, once made.
    inner: HashMap<u32, Arc<str>>,
    /// Bytes of the texts made.
    text_bytes: usize,
}

impl KvCompile {
    fn new() -> Self {
        KvCompile {
            texts: Vec::new(),
            inner: HashMap::new(),
            text_bytes: 0,
        }
    }

    /// The text of `held` (kv.rs `text`); `Err` where that refuses it.
    fn text(&mut self, h: &CompactHistory, held: Held) -> Result<Arc<str>, ()> {
        let Held::One(v) = held else {
            // A two-item array: not text.
            return Err(());
        };
        let slot = &mut self.texts[v as usize];
        if let Some(t) = slot {
            return Ok(t.clone());
        }
        let t = kv::text(h.values.get(v), "").map_err(|_| ())?;
        self.text_bytes += t.len();
        *slot = Some(t.clone());
        Ok(t)
    }

    /// The text of `value`, found inside the object whose id is `object`.
    fn inner_text(&mut self, object: u32, value: &Value) -> Result<Arc<str>, ()> {
        if let Some(t) = self.inner.get(&object) {
            return Ok(t.clone());
        }
        let t = kv::text(value, "").map_err(|_| ())?;
        self.text_bytes += t.len();
        self.inner.insert(object, t.clone());
        Ok(t)
    }
}

impl CompactCompile for KvCompile {
    type Op = KvOp;

    fn op<'h>(
        &mut self,
        h: &'h CompactHistory,
        op: &CompactOp,
        _ctx: &mut CompileCtx,
    ) -> Result<Option<(KeyOf<'h>, KvOp)>, ()> {
        let f = h.f(op).ok_or(())?;
        // The key field, or else a {"key", "value"} argument (kv.rs `key_value`).
        let (key, object) = if op.key != NONE {
            (KeyOf::Id(op.key), None)
        } else {
            let Held::One(v) = op.input() else {
                return Err(());
            };
            let (k, value) = kv::object_key_value(h.values.get(v)).ok_or(())?;
            (KeyOf::Value(k), Some((v, value)))
        };
        let outcome = op.outcome();
        let kop = match f {
            "put" | "append" => {
                if outcome == Outcome::Fail {
                    return Ok(None);
                }
                let v = match object {
                    None => self.text(h, op.input())?,
                    Some((id, value)) => self.inner_text(id, value)?,
                };
                if f == "put" {
                    KvOp::Put(v)
                } else {
                    KvOp::Append(v)
                }
            }
            "get" | "read" => {
                if outcome != Outcome::Ok {
                    return Ok(None);
                }
                // Without a key field, a {"key", "value"} result reads as its value.
                let inner = match (object, op.output()) {
                    (Some(_), Held::One(out)) => {
                        kv::object_key_value(h.values.get(out)).map(|(_, value)| (out, value))
                    }
                    _ => None,
                };
                KvOp::Get(match inner {
                    Some((out, value)) => self.inner_text(out, value)?,
                    None => self.text(h, op.output())?,
                })
            }
            _ => return Err(()),
        };
        Ok(Some((key, kop)))
    }

    fn grow(&mut self, n: usize) {
        if self.texts.len() < n {
            self.texts.resize(n, None);
        }
    }

    fn counted_bytes(&self) -> usize {
        self.text_bytes
    }
}

/// A compile under way over a prefix of the records ([`super::compile`] over the compact
/// records, with a [`CompactCompile`] as the model's compile): [`run`] runs one over all of
/// them after reading, [`SettledCompile`] one over the settled prefix as it grows while the
/// history is read.
struct Compiling<O> {
    groups: Groups<O>,
    /// Key value id → group, once its group is known.
    key_group: Vec<u32>,
    /// Whether the operations compiled so far are keyed (`None`: none yet).
    keyed: Option<bool>,
    /// Records below this are compiled.
    next: usize,
}

impl<O> Compiling<O> {
    fn new() -> Self {
        Compiling {
            groups: Groups::new(),
            key_group: Vec::new(),
            keyed: None,
            next: 0,
        }
    }

    /// Compiles the records from [`Compiling::next`] up to `upto` into their groups, in
    /// record order. `None`: the general path must check the history; `Err`: the memory
    /// budget ran out (looked at every [`COMPILE_CHECK_EVERY`] records, counted from the
    /// first).
    fn run<C: CompactCompile<Op = O>>(
        &mut self,
        compiler: &mut C,
        h: &CompactHistory,
        upto: usize,
        ctx: &mut CompileCtx,
        budget: &Budget,
    ) -> Option<Result<(), StopReason>> {
        compiler.grow(h.values.len());
        if self.key_group.len() < h.values.len() {
            self.key_group.resize(h.values.len(), NONE);
        }
        let groups = &mut self.groups;
        let key_group = &mut self.key_group;
        for id in self.next..upto {
            // Past a stop or a refusal the compile is not resumed.
            self.next = id + 1;
            if id % COMPILE_CHECK_EVERY == 0 && budget.memory_exceeded() {
                return Some(Err(StopReason::Memory));
            }
            let op = &h.ops[id];
            if !op.client() {
                continue;
            }
            let Some((key, mop)) = compiler.op(h, op, ctx).ok()? else {
                continue;
            };
            let has_key = !matches!(key, KeyOf::None);
            match self.keyed {
                None => self.keyed = Some(has_key),
                Some(k) if k != has_key => return None,
                _ => {}
            }
            let g = match key {
                KeyOf::None => groups.of(None),
                KeyOf::Id(k) if key_group[k as usize] != NONE => key_group[k as usize] as usize,
                KeyOf::Id(k) => {
                    let g = groups.of(Some(h.values.get(k)));
                    key_group[k as usize] = u32::try_from(g).ok()?;
                    g
                }
                KeyOf::Value(k) => groups.of(Some(k)),
            };
            let ret = match op.outcome() {
                Outcome::Ok | Outcome::Fail => {
                    (op.complete != NONE).then_some(op.complete as usize)
                }
                Outcome::Info => None,
            };
            groups.push(
                g,
                Entry {
                    op: mop,
                    call: op.invoke as usize,
                    ret,
                    orig: id,
                },
            );
        }
        self.next = self.next.max(upto);
        Some(Ok(()))
    }

    /// Compiles the records left, to the end of `h`, and makes the partitions: how every
    /// compile ends, whether it ran during reading or not (`None` and `Err` as for
    /// [`Compiling::run`]).
    fn finish<M: Model<Op = O>, C: CompactCompile<Op = O>>(
        mut self,
        model: &M,
        compiler: &mut C,
        h: &CompactHistory,
        opts: &CheckOptions,
        ctx: &mut CompileCtx,
        budget: &Budget,
    ) -> Option<Result<Vec<Partition<M>>, StopReason>> {
        if let Err(why) = self.run(compiler, h, h.ops.len(), ctx, budget)? {
            return Some(Err(why));
        }
        Some(Ok(self.groups.into_partitions(model, opts, ctx).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{read_compact_observed, CompactRead};
    use crate::Rng;
    use std::fmt::Write as _;

    /// What a generated history holds besides plain operations.
    #[derive(Clone, Copy)]
    struct Shape {
        /// `register`, `cas-register` or `kv` operations.
        model: &'static str,
        /// Jepsen's `[key value]` tuples instead of a `key` field (not kv).
        tuples: bool,
        /// One read that no order explains, on a key of its own (an invalid history).
        bad_read: bool,
    }

    /// A JSON-lines history of `n` invocations of `shape.model`'s operations by 12 client
    /// processes over 9 keys, several read blocks long (with a 64 MiB limit, 1 MiB blocks):
    /// each takes effect at its invocation, so the history is linearizable but for
    /// `shape.bad_read`; reads and writes that fail and end `info` (a process ending `info`
    /// is replaced by a new one), operations completed many lines after their invocation (so
    /// across blocks), one invoked at 70 % of the file and never completed (it stops the
    /// settled prefix there), a few more pending at the end, and a nemesis's records (one of
    /// them invoked early and completed late).
    fn history(shape: Shape, n: usize, seed: u64) -> String {
        let mut rng = Rng::new(seed);
        let mut out = String::new();
        let kv = shape.model == "kv";
        // Current value per key: an integer (`None`: null) or kv's text.
        let mut reg: Vec<Option<i64>> = vec![None; 9];
        let mut text: Vec<String> = vec![String::new(); 9];
        // Per process slot: its current process number and its pending completion line.
        let mut procs: Vec<(i64, Option<String>)> = (0..12).map(|p| (p, None)).collect();
        let key_field = |k: usize| {
            if shape.tuples {
                String::new()
            } else if kv {
                format!(r#","key":"k{k}""#)
            } else {
                format!(r#","key":{k}"#)
            }
        };
        let val = |k: usize, v: String| {
            if shape.tuples {
                format!("[{k},{v}]")
            } else {
                v
            }
        };
        let mut invoked = 0;
        let mut stuck = false;
        let mut bad = false;
        writeln!(
            out,
            r#"{{"process":"nemesis","type":"invoke","f":"kill","value":null}}"#
        )
        .unwrap();
        while invoked < n {
            if invoked == n / 3 {
                writeln!(
                    out,
                    r#"{{"process":"nemesis","type":"info","f":"kill","value":"n1"}}"#
                )
                .unwrap();
                writeln!(
                    out,
                    r#"{{"process":"nemesis","type":"info","f":"start","value":null}}"#
                )
                .unwrap();
            }
            let slot = rng.below(12) as usize;
            if let Some(done) = procs[slot].1.take() {
                // Completions wait a while (most across several other operations).
                if rng.below(4) != 0 {
                    procs[slot].1 = Some(done);
                    continue;
                }
                let info = done.contains(r#""type":"info""#);
                out.push_str(&done);
                if info {
                    procs[slot].0 += 12;
                }
                continue;
            }
            let p = procs[slot].0;
            if shape.bad_read && !bad && invoked > n / 2 {
                // On a key of its own (a small partition, decided at once): a write, then a
                // read of a value never written.
                bad = true;
                let (w, r, f, g) = if kv {
                    (r#""a""#, r#""zz""#, "put", "get")
                } else {
                    ("1", "2", "write", "read")
                };
                for (f, v) in [(f, w), (g, r)] {
                    let arg = if f == g { "null" } else { v };
                    for (t, v) in [("invoke", arg), ("ok", v)] {
                        writeln!(
                            out,
                            r#"{{"process":{p},"type":"{t}","f":"{f}"{},"value":{}}}"#,
                            key_field(9),
                            val(9, v.to_string())
                        )
                        .unwrap();
                    }
                }
                continue;
            }
            let k = rng.below(9) as usize;
            invoked += 1;
            if !stuck && invoked >= n * 7 / 10 {
                // Never completed.
                stuck = true;
                writeln!(
                    out,
                    r#"{{"process":{p},"type":"invoke","f":"{}"{},"value":{}}}"#,
                    if kv { "put" } else { "write" },
                    key_field(k),
                    val(k, if kv { r#""never""#.into() } else { "7".into() })
                )
                .unwrap();
                procs[slot].0 += 1_000_000;
                continue;
            }
            let which = rng.below(3);
            let outcome = match rng.below(10) {
                0 => "fail",
                // A kv put or append ending `info` stays open to the end: a few make the
                // search's states many.
                1 if !kv || which == 0 => "info",
                _ => "ok",
            };
            let (f, arg, ret) = match (kv, which) {
                (false, 0) => {
                    let v = match reg[k] {
                        Some(v) => v.to_string(),
                        None => "null".into(),
                    };
                    ("read", "null".to_string(), v)
                }
                (false, 1) => {
                    let v = rng.below(5) as i64;
                    if outcome != "fail" && (outcome == "ok" || rng.below(2) == 0) {
                        reg[k] = Some(v);
                    }
                    ("write", v.to_string(), v.to_string())
                }
                (false, _) if shape.model == "cas-register" => {
                    let (old, new) = (rng.below(5) as i64, rng.below(5) as i64);
                    let outcome = if reg[k] == Some(old) { outcome } else { "fail" };
                    if outcome == "ok" || (outcome == "info" && rng.below(2) == 0) {
                        reg[k] = Some(new);
                    }
                    let v = format!("[{old},{new}]");
                    let line = |t: &str, v: &str| {
                        format!(
                            r#"{{"process":{p},"type":"{t}","f":"cas"{},"value":{}}}"#,
                            key_field(k),
                            val(k, v.to_string())
                        )
                    };
                    writeln!(out, "{}", line("invoke", &v)).unwrap();
                    procs[slot].1 = Some(line(outcome, &v) + "\n");
                    continue;
                }
                (false, _) => {
                    let v = rng.below(5) as i64;
                    if outcome == "ok" {
                        reg[k] = Some(v);
                    }
                    ("write", v.to_string(), v.to_string())
                }
                (true, 0) => ("get", "null".to_string(), format!("{:?}", text[k])),
                (true, f) => {
                    let v = format!("x{}", rng.below(50));
                    if outcome == "ok" || (outcome == "info" && rng.below(2) == 0) {
                        if f == 1 {
                            text[k] = v.clone();
                        } else {
                            text[k].push_str(&v);
                        }
                    }
                    let f = if f == 1 { "put" } else { "append" };
                    (f, format!("{v:?}"), format!("{v:?}"))
                }
            };
            let ret = if outcome == "ok" { ret } else { arg.clone() };
            writeln!(
                out,
                r#"{{"process":{p},"type":"invoke","f":"{f}"{},"value":{}}}"#,
                key_field(k),
                val(k, arg)
            )
            .unwrap();
            procs[slot].1 = Some(format!(
                "{{\"process\":{p},\"type\":\"{outcome}\",\"f\":\"{f}\"{},\"value\":{}}}\n",
                key_field(k),
                val(k, ret)
            ));
        }
        // Half the processes complete; the rest stay pending at the end.
        for (_, done) in procs.iter_mut().step_by(2) {
            if let Some(done) = done.take() {
                out.push_str(&done);
            }
        }
        out
    }

    /// Writes `text` to a temporary file named after `name`; gives its path.
    fn file(name: &str, text: &str) -> String {
        let path = std::env::temp_dir().join(format!(
            "faultline-settled-{}-{name}.jsonl",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Reads `path` compactly in 1 MiB blocks, telling `observer`.
    fn read(path: &str, observer: Option<&mut dyn SettledObserver>) -> CompactHistory {
        match read_compact_observed(path, None, 64 << 20, None, 0, observer) {
            Some(CompactRead::Read { history, .. }) => *history,
            other => panic!("{path}: not read compactly: {other:?}"),
        }
    }

    /// Notes every settled prefix it is given, with the records in it as they were then.
    #[derive(Default)]
    struct Recorder {
        calls: usize,
        upto: usize,
        seen: Vec<CompactOp>,
    }

    impl SettledObserver for Recorder {
        fn settled(&mut self, h: &CompactHistory, upto: usize, _format: Format) {
            assert!(upto >= self.upto, "the settled prefix never shrinks");
            self.seen.extend_from_slice(&h.ops[self.upto..upto]);
            self.upto = upto;
            self.calls += 1;
        }

        fn counted_bytes(&self) -> usize {
            0
        }
    }

    /// The reader gives as settled only records that no later event changes: each record of
    /// a settled prefix is, when given, the record the whole read ends with; the prefix
    /// stops at the first client operation still pending (here one never completed); a
    /// nemesis record completed later does not hold it back.
    #[test]
    fn settled_prefix_holds_only_records_no_later_event_changes() {
        let shape = Shape {
            model: "cas-register",
            tuples: false,
            bad_read: false,
        };
        let path = file("prefix", &history(shape, 40_000, 1));
        let mut rec = Recorder::default();
        let h = read(&path, Some(&mut rec));
        std::fs::remove_file(&path).unwrap();
        assert!(rec.calls >= 3, "told after several blocks: {}", rec.calls);
        let first_pending = h
            .ops
            .iter()
            .position(|o| o.client() && o.complete == NONE)
            .expect("a pending operation");
        assert_eq!(rec.upto, first_pending, "up to the first pending operation");
        assert!(first_pending > h.ops.len() / 2);
        for (id, seen) in rec.seen.iter().enumerate() {
            if seen.client() {
                assert_eq!(*seen, h.ops[id], "record {id} changed after it settled");
            }
        }
        // The nemesis's first record (invoked first, completed a third of the way on) is in
        // the prefix, and was completed after it was given.
        assert!(!h.ops[0].client());
        assert_ne!(rec.seen[0], h.ops[0]);
    }

    /// The partitions (keys, order, entries) of a settled compile, finished after reading.
    pub(super) fn settled_partitions<M: Model, C: CompactCompile<Op = M::Op>>(
        inc: Incremental<M, C>,
        h: &CompactHistory,
    ) -> (usize, String) {
        let compiled = inc.compiling.next;
        let Incremental {
            model,
            mut compiler,
            mut compiling,
            mut ctx,
            budget,
            ..
        } = inc;
        compiling
            .run(&mut compiler, h, h.ops.len(), &mut ctx, &budget)
            .unwrap()
            .unwrap();
        let parts = compiling
            .groups
            .into_partitions(&model, &CheckOptions::default(), &mut ctx)
            .unwrap();
        (compiled, describe(&parts))
    }

    fn describe<M: Model>(parts: &[Partition<M>]) -> String {
        parts
            .iter()
            .map(|p| format!("{:?} {:?} {:?}\n", p.key, p.init, p.entries))
            .collect()
    }

    /// The partitions of the compile after reading.
    fn whole_partitions<M: Model, C: CompactCompile<Op = M::Op>>(
        model: &M,
        mut compiler: C,
        h: &CompactHistory,
    ) -> String {
        let mut ctx = CompileCtx::default();
        let parts = Compiling::new()
            .finish(
                model,
                &mut compiler,
                h,
                &CheckOptions::default(),
                &mut ctx,
                &Budget::unlimited(),
            )
            .unwrap()
            .unwrap();
        describe(&parts)
    }

    /// A `register`, `cas-register` or `kv` compile run while reading (over the settled
    /// records, the rest after reading) gives the partitions — same keys, order and entries
    /// — and the report of the compile after reading, on histories with operations failed,
    /// `info`, completed blocks after their invocation and pending at the end, several keys,
    /// valid or not; and, for Jepsen's tuples (unwrapped after reading), compiles nothing
    /// while reading and falls back to it.
    #[test]
    fn settled_compile_gives_the_partitions_and_report_of_the_compile_after_reading() {
        let opts = CheckOptions::default();
        for (i, (model, tuples, bad_read)) in [
            ("register", false, false),
            ("cas-register", false, false),
            ("cas-register", false, true),
            ("kv", false, false),
            ("kv", false, true),
            ("register", true, false),
            ("cas-register", true, true),
        ]
        .into_iter()
        .enumerate()
        {
            let shape = Shape {
                model,
                tuples,
                bad_read,
            };
            let name = format!("{model}-{i}");
            let path = file(&name, &history(shape, 20_000, 7 + i as u64));
            // The compile after reading, today's path.
            let mut whole = read(&path, None);
            let unwrapped = whole.unwrap_tuples().unwrap();
            assert_eq!(unwrapped, tuples, "{name}");
            let expected = crate::check_compact_model(model, &whole, &opts, &opts.budget())
                .unwrap_or_else(|| panic!("{name}: checked compactly"));
            let verdict = if bad_read {
                crate::Validity::Invalid
            } else {
                crate::Validity::Valid
            };
            assert_eq!(expected.valid, verdict, "{name}");
            // The settled compile's partitions.
            let mut early = SettledCompile::new(model, &opts).unwrap();
            let h = read(&path, Some(&mut early));
            if tuples {
                // Nothing compiled while every record may be a tuple.
                let compiled = early.state.as_ref().map(|c| c.compiled());
                assert_eq!(compiled, Some(0), "{name}");
            } else {
                let Some(c) = early.state else {
                    panic!("{name}: given up while reading");
                };
                let (compiled, parts) = c.partitions(&h);
                assert!(
                    compiled > h.len() / 2 && compiled < h.len(),
                    "{name}: compiled while reading: {compiled} of {}",
                    h.len()
                );
                let whole_parts = match model {
                    "register" => whole_partitions(&Register, RegCompile::new(false), &whole),
                    "cas-register" => whole_partitions(&CasRegister, RegCompile::new(true), &whole),
                    _ => whole_partitions(&Kv, KvCompile::new(), &whole),
                };
                assert_eq!(parts, whole_parts, "{name}: partitions");
            }
            // The settled compile's report, as `check` makes it.
            let mut early = SettledCompile::new(model, &opts).unwrap();
            let mut again = read(&path, Some(&mut early));
            std::fs::remove_file(&path).unwrap();
            let changed = again.unwrap_tuples().unwrap();
            assert_eq!(changed, tuples);
            let mut report = early
                .check(&again, changed, &opts, &opts.budget())
                .unwrap_or_else(|| panic!("{name}: checked"));
            let mut expected = expected;
            report.stats.millis = 0.0;
            expected.stats.millis = 0.0;
            assert_eq!(report, expected, "{name}: report");
        }
    }
}
