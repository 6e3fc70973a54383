//! Checking a history straight from its compact form ([`crate::history::CompactHistory`]):
//! `register` and `cas-register` compile the compact records into the search's entries
//! without rebuilding an [`crate::Operation`] per operation; every other model rebuilds each
//! operation for its compile only ([`check_compact`]). Only the operations a counterexample
//! shows are rebuilt for the report ([`OpSource`]).
//!
//! The compile is [`crate::model::register`]'s `compile_register` and [`super::compile`]'s
//! grouping, over ids: values are interned into the model's [`crate::Interner`] in the same
//! order as there, keys are grouped exactly as there (integers by value, anything else by
//! its canonical text), so partitions, their order, their entries and the report are the
//! same. Whatever the general compile would refuse (an `f` the model does not know, a cas
//! value that is not `[old, new]`, keyed and unkeyed operations mixed, a bad `--initial`)
//! makes [`check_compact_model`] give `None`: the caller then checks the file on the general path,
//! which words the error.

use super::{decide_partitions, Entry, OpSource, Partition};
use crate::budget::Budget;
use crate::history::compact::{CompactOp, Held, NONE};
use crate::history::{CompactHistory, Outcome};
use crate::model::register::RegOp;
use crate::model::{canonical, CasRegister, CompileCtx, Model, Register, ValueId};
use crate::options::CheckOptions;
use crate::verdict::{OpView, Report};
use serde_json::Value;
use std::collections::HashMap;

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

/// Checks `history` with `model` exactly as [`crate::check_operations`] checks the same
/// history paired into operations; `None` when the general path must check it (see the
/// module docs). `register` and `cas-register` compile the records directly; any other
/// model compiles each operation rebuilt from its record, one at a time, with the general
/// compile itself (so its entries, partitions and report are the general path's by
/// construction), keeping no [`crate::Operation`] past its compile.
pub(crate) fn check_compact<M: Model>(
    model: &M,
    history: &CompactHistory,
    opts: &CheckOptions,
    budget: &Budget,
) -> Option<Report> {
    match model.name() {
        "register" => run(&Register, false, history, opts, budget),
        "cas-register" => run(&CasRegister, true, history, opts, budget),
        _ => {
            let started = budget.started();
            let mut ctx = CompileCtx {
                fail_cas_observed: history.format == Some(crate::history::Format::JepsenLog),
                ..Default::default()
            };
            let ops = (0..history.len()).filter_map(|id| history.operation(id));
            let partitions = super::compile(model, "", ops, opts, &mut ctx).ok()?;
            Some(decide_partitions(
                model, partitions, history, &ctx, opts, budget, started,
            ))
        }
    }
}

fn run<M: Model<Op = RegOp, State = ValueId>>(
    model: &M,
    cas: bool,
    history: &CompactHistory,
    opts: &CheckOptions,
    budget: &Budget,
) -> Option<Report> {
    let started = budget.started();
    let mut ctx = CompileCtx {
        fail_cas_observed: history.format == Some(crate::history::Format::JepsenLog),
        ..Default::default()
    };
    let partitions = compile(model, cas, history, opts, &mut ctx)?;
    Some(decide_partitions(
        model, partitions, history, &ctx, opts, budget, started,
    ))
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

/// `compile_register` for one compact operation: `Ok(None)` to skip it, `Err(())` where the
/// general compile reports an error.
fn compile_op(
    cas: bool,
    h: &CompactHistory,
    op: &CompactOp,
    ids: &mut Ids,
    ctx: &mut CompileCtx,
) -> Result<Option<RegOp>, ()> {
    let outcome = op.outcome();
    Ok(Some(match h.f(op).ok_or(())? {
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
        "cas" if cas => {
            let Held::Pair(old, new) = op.input() else {
                return Err(());
            };
            let old = ids.of(h, ctx, Held::One(old));
            if outcome == Outcome::Fail {
                // A Jepsen text log's failed cas observed another value; elsewhere it took no
                // effect (as the general compile, model/register.rs).
                if ctx.fail_cas_observed {
                    return Ok(Some(RegOp::CasFailed(old)));
                }
                return Ok(None);
            }
            RegOp::Cas(old, ids.of(h, ctx, Held::One(new)))
        }
        _ => return Err(()),
    }))
}

/// [`super::compile`] over the compact records.
fn compile<M: Model<Op = RegOp, State = ValueId>>(
    model: &M,
    cas: bool,
    h: &CompactHistory,
    opts: &CheckOptions,
    ctx: &mut CompileCtx,
) -> Option<Vec<Partition<M>>> {
    let mut ids = Ids {
        ids: vec![NONE; h.values.len()],
    };
    let mut groups: Vec<(Option<Value>, Vec<Entry<RegOp>>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut int_index: HashMap<i64, usize> = HashMap::new();
    // Key value id → group, once its group is known.
    let mut key_group: Vec<u32> = vec![NONE; h.values.len()];
    let mut keyed: Option<bool> = None;
    let mut unkeyed_group: Option<usize> = None;
    for (id, op) in h.ops.iter().enumerate() {
        if !op.client() {
            continue;
        }
        let Some(mop) = compile_op(cas, h, op, &mut ids, ctx).ok()? else {
            continue;
        };
        let has_key = op.key != NONE;
        match keyed {
            None => keyed = Some(has_key),
            Some(k) if k != has_key => return None,
            _ => {}
        }
        let g = if !has_key {
            *unkeyed_group.get_or_insert_with(|| {
                groups.push((None, Vec::new()));
                groups.len() - 1
            })
        } else if key_group[op.key as usize] != NONE {
            key_group[op.key as usize] as usize
        } else {
            let key = h.values.get(op.key);
            let mut group = || {
                *index.entry(canonical(key)).or_insert_with(|| {
                    groups.push((Some(key.clone()), Vec::new()));
                    groups.len() - 1
                })
            };
            let g = match key.as_i64() {
                Some(n) => match int_index.get(&n) {
                    Some(&g) => g,
                    None => {
                        let g = group();
                        int_index.insert(n, g);
                        g
                    }
                },
                None => group(),
            };
            key_group[op.key as usize] = u32::try_from(g).ok()?;
            g
        };
        let ret = match op.outcome() {
            Outcome::Ok | Outcome::Fail => (op.complete != NONE).then_some(op.complete as usize),
            Outcome::Info => None,
        };
        groups[g].1.push(Entry {
            op: mop,
            call: op.invoke as usize,
            ret,
            orig: id,
        });
    }
    if groups.is_empty() {
        model.init(opts.initial.as_ref(), None, ctx).ok()?;
    }
    let mut parts = Vec::with_capacity(groups.len());
    for (key, mut entries) in groups {
        let init = model.init(opts.initial.as_ref(), key.as_ref(), ctx).ok()?;
        entries.retain(|e| e.ret.is_some() || !model.read_only(&e.op));
        // Grown by doubling: give back what the search will not use.
        entries.shrink_to_fit();
        parts.push(Partition { key, init, entries });
    }
    Some(parts)
}
