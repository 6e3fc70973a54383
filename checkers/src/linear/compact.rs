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

use super::{
    decide_partitions, stopped_compiling, Entry, Groups, OpSource, Partition, COMPILE_CHECK_EVERY,
};
use crate::budget::{Budget, StopReason};
use crate::history::compact::{CompactOp, Held, NONE};
use crate::history::{CompactHistory, Outcome};
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
    let reg = |cas| RegCompile {
        cas,
        ids: Ids {
            ids: vec![NONE; history.values.len()],
        },
    };
    match model.name() {
        "register" => run(&Register, &mut reg(false), history, opts, budget),
        "cas-register" => run(&CasRegister, &mut reg(true), history, opts, budget),
        "kv" => run(
            &Kv,
            &mut KvCompile {
                texts: vec![None; history.values.len()],
                inner: HashMap::new(),
            },
            history,
            opts,
            budget,
        ),
        _ => decide(model, history, opts, budget, |ctx| {
            let ops = (0..history.len()).filter_map(|id| history.operation(id));
            super::compile(model, "", ops, opts, ctx, budget).ok()
        }),
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
        compile(model, compiler, history, opts, ctx, budget)
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
}

/// `kv`'s compile (model/kv.rs) over records. Each value's text is made once and shared by
/// every operation that holds it.
struct KvCompile {
    /// Value id → its text, once made.
    texts: Vec<Option<Arc<str>>>,
    /// Value id of a `{"key", "value"}` object → the text of its `"value"`, once made.
    inner: HashMap<u32, Arc<str>>,
}

impl KvCompile {
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
        *slot = Some(t.clone());
        Ok(t)
    }

    /// The text of `value`, found inside the object whose id is `object`.
    fn inner_text(&mut self, object: u32, value: &Value) -> Result<Arc<str>, ()> {
        if let Some(t) = self.inner.get(&object) {
            return Ok(t.clone());
        }
        let t = kv::text(value, "").map_err(|_| ())?;
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
}

/// [`super::compile`] over the compact records, with `compiler` as the model's compile.
fn compile<M: Model, C: CompactCompile<Op = M::Op>>(
    model: &M,
    compiler: &mut C,
    h: &CompactHistory,
    opts: &CheckOptions,
    ctx: &mut CompileCtx,
    budget: &Budget,
) -> Option<Result<Vec<Partition<M>>, StopReason>> {
    let mut groups: Groups<M::Op> = Groups::new();
    // Key value id → group, once its group is known.
    let mut key_group: Vec<u32> = vec![NONE; h.values.len()];
    let mut keyed: Option<bool> = None;
    for (id, op) in h.ops.iter().enumerate() {
        if id % COMPILE_CHECK_EVERY == 0 && budget.memory_exceeded() {
            return Some(Err(StopReason::Memory));
        }
        if !op.client() {
            continue;
        }
        let Some((key, mop)) = compiler.op(h, op, ctx).ok()? else {
            continue;
        };
        let has_key = !matches!(key, KeyOf::None);
        match keyed {
            None => keyed = Some(has_key),
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
            Outcome::Ok | Outcome::Fail => (op.complete != NONE).then_some(op.complete as usize),
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
    Some(Ok(groups.into_partitions(model, opts, ctx).ok()?))
}
