//! Shrinking a non-linearizable partition to a minimal failing sub-history.
//!
//! The result must still prove the original history wrong, so shrinking only ever *weakens*
//! the history — every step keeps "if the original were linearizable, so would this be":
//! - cutting at a point in time: operations invoked later are dropped and those still running
//!   at the cut become indeterminate (completed ops all precede later invocations, so any
//!   linearization of the whole restricts to one of the prefix);
//! - a determinate operation leaves the core by becoming indeterminate exactly as
//!   `docs/models.md` defines it (may have happened at any time after its invocation, or
//!   never, with its result unknown: [`Model::weaken`]), or, when it can then have no effect
//!   (a read), by being dropped.
//!
//! Indeterminate operations that change state are never dropped (that would remove an
//! explanation the original had). The minimal sub-history is the *core*: determinate
//! operations none of which can be made indeterminate without the rest becoming explainable
//! (1-minimal, by delta debugging), with every other operation of the prefix kept as
//! indeterminate. A step whose check runs out of budget counts as "not failing", so the result
//! is always sound; `complete` says whether shrinking reached 1-minimality.

use super::search::{decide, Entry, Found};
use crate::budget::Budget;
use crate::model::Model;

/// The outcome of shrinking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrunk {
    /// Indices (into the partition's entries) of the core determinate operations, by
    /// invocation order.
    pub core: Vec<usize>,
    /// State-changing operations the shrunk history keeps as indeterminate.
    pub weakened: usize,
    /// True when the core is 1-minimal; false when the budget ran out first.
    pub complete: bool,
    /// File position of the last event the shrunk history keeps (the cut), if it cut at all.
    pub cut: Option<usize>,
}

/// Builds the weakened history: entries invoked before `cut`, determinate only if completed
/// by `cut` and kept in `core`.
fn weaken<M: Model>(
    model: &M,
    entries: &[Entry<M::Op>],
    cut: usize,
    keep: &dyn Fn(usize) -> bool,
) -> Vec<Entry<M::Op>> {
    let mut out = Vec::new();
    // Indeterminate ops invoked after the last determinate completion can only take effect
    // after every determinate op, where they explain nothing: leaving them out is exact.
    let last_ret = entries
        .iter()
        .enumerate()
        .filter(|&(i, e)| e.call < cut && e.ret.is_some_and(|r| r < cut) && keep(i))
        .filter_map(|(_, e)| e.ret)
        .max()
        .unwrap_or(0);
    for (i, e) in entries.iter().enumerate() {
        if e.call >= cut {
            continue;
        }
        let determinate = e.ret.is_some_and(|r| r < cut) && keep(i);
        if determinate {
            out.push(e.clone());
            continue;
        }
        if e.call > last_ret {
            continue;
        }
        let op = if e.ret.is_some() {
            model.weaken(&e.op)
        } else {
            Some(e.op.clone())
        };
        if let Some(op) = op {
            out.push(Entry {
                op,
                call: e.call,
                ret: None,
                orig: e.orig,
            });
        }
    }
    out
}

/// Shrinks a partition known not to be linearizable from `init`.
pub fn shrink<M: Model>(
    model: &M,
    init: &M::State,
    entries: &[Entry<M::Op>],
    budget: &Budget,
) -> Shrunk {
    let mut complete = true;
    let fails = |es: &[Entry<M::Op>], complete: &mut bool| -> bool {
        match decide(model, init, es, budget).found {
            Found::NotLinearizable(_) => true,
            Found::Linearizable(_) => false,
            Found::Aborted(_) => {
                *complete = false;
                false
            }
        }
    };

    // 1. The earliest cut (a completion) at which the prefix already fails: binary search,
    //    since failing is monotone in the cut.
    let mut cuts: Vec<usize> = entries.iter().filter_map(|e| e.ret).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let all = |_: usize| true;
    let (mut lo, mut hi) = (0usize, cuts.len().saturating_sub(1));
    while lo < hi && complete {
        let mid = (lo + hi) / 2;
        let es = weaken(model, entries, cuts[mid] + 1, &all);
        if fails(&es, &mut complete) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let cut = if complete {
        cuts.get(hi).map_or(usize::MAX, |c| c + 1)
    } else {
        usize::MAX
    };

    // 2. Delta debugging over the determinate operations of the prefix.
    let mut core: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].call < cut && entries[i].ret.is_some_and(|r| r < cut))
        .collect();
    let mut chunk = (core.len() / 2).max(1);
    while complete && !core.is_empty() {
        let mut removed = false;
        let mut i = 0;
        while i < core.len() && complete {
            let end = (i + chunk).min(core.len());
            let candidate: Vec<usize> = core[..i].iter().chain(&core[end..]).copied().collect();
            let keep = |k: usize| candidate.binary_search(&k).is_ok();
            let es = weaken(model, entries, cut, &keep);
            if fails(&es, &mut complete) {
                core = candidate;
                removed = true;
            } else {
                i = end;
            }
        }
        if chunk == 1 {
            if !removed {
                break;
            }
        } else {
            chunk = (chunk / 2).max(1);
        }
    }
    // Every state-changing op before the cut that is not in the core counts as weakened (those
    // invoked after the core's last completion are left out of the search, which is exact).
    let weakened = entries
        .iter()
        .enumerate()
        .filter(|&(i, e)| e.call < cut && core.binary_search(&i).is_err())
        .filter(|&(_, e)| e.ret.is_none() || model.weaken(&e.op).is_some())
        .count();
    core.sort_by_key(|&i| entries[i].call);
    Shrunk {
        core,
        weakened,
        complete,
        cut: (cut != usize::MAX).then(|| cut - 1),
    }
}
