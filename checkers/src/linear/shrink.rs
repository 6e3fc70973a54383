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

use super::search::{decide, search, Entry, Found};
use crate::budget::Budget;
use crate::model::Model;
use std::collections::{HashMap, HashSet};

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
    /// The longest partial linearization of the shrunk history (indices into the partition's
    /// entries: core operations and the indeterminate ones it needs), in order; empty when
    /// the budget ran out computing it.
    pub path: Vec<usize>,
    /// The core operation that cannot be linearized after `path` (an index into the
    /// partition's entries), when `path` was computed.
    pub stuck: Option<usize>,
}

/// Builds the weakened history: entries invoked before `cut`, determinate only if completed
/// by `cut` and kept in `core`. Returns it with, for each of its entries, the index of the
/// partition entry it came from.
fn weaken<M: Model>(
    model: &M,
    entries: &[Entry<M::Op>],
    cut: usize,
    keep: &dyn Fn(usize) -> bool,
) -> (Vec<Entry<M::Op>>, Vec<usize>) {
    let mut out = Vec::new();
    let mut from = Vec::new();
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
            from.push(i);
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
            from.push(i);
        }
    }
    (out, from)
}

/// Shrinks a partition known not to be linearizable from `init` within `budget`. `hint` is
/// the operation the whole-history search could not linearize (an index into `entries`), if
/// known: the core is looked for around it first. The shrunk history's longest partial
/// linearization is then computed within `explain` (one search of a history known to fail,
/// so it still comes when shrinking ran out of its budget). `work`, when given, bounds the
/// configurations all trials together may explore.
pub fn shrink<M: Model>(
    model: &M,
    init: &M::State,
    entries: &[Entry<M::Op>],
    hint: Option<usize>,
    budget: &Budget,
    explain: &Budget,
    work: Option<u64>,
) -> Shrunk {
    let mut complete = true;
    // `work` bounds the configurations all trials together may explore: a deterministic
    // budget (the same history always shrinks to the same result, whatever the machine).
    let trial_limit = budget.state_limit();
    let mut used: u64 = 0;
    // Trials already decided (cut, core): delta debugging and the growing start sets ask the
    // same question more than once.
    let mut memo: HashMap<(usize, Vec<usize>), bool> = HashMap::new();
    let mut fails = |cut: usize, core: Option<&[usize]>, complete: &mut bool| -> bool {
        let key = (
            cut,
            core.map(<[usize]>::to_vec)
                .unwrap_or_else(|| vec![usize::MAX]),
        );
        if let Some(&known) = memo.get(&key) {
            return known;
        }
        if budget.exceeded().is_some() || work.is_some_and(|w| used >= w) {
            *complete = false;
            return false;
        }
        if let Some(w) = work {
            budget.set_state_limit(trial_limit.min(w - used));
        }
        let (es, _) = match core {
            Some(core) => weaken(model, entries, cut, &|k| core.binary_search(&k).is_ok()),
            None => weaken(model, entries, cut, &|_| true),
        };
        let result = decide(model, init, &es, budget);
        used += result.states;
        let failed = match result.found {
            Found::NotLinearizable(_) => true,
            Found::Linearizable(_) => false,
            Found::Aborted(_) => {
                *complete = false;
                false
            }
        };
        memo.insert(key, failed);
        failed
    };

    // 1. The earliest cut (a completion) at which the prefix already fails: binary search,
    //    since failing is monotone in the cut. The stuck operation's completion is tried
    //    first: it usually fails, and then every later (larger, costlier) prefix is skipped.
    let mut cuts: Vec<usize> = entries.iter().filter_map(|e| e.ret).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let (mut lo, mut hi) = (0usize, cuts.len().saturating_sub(1));
    if let Some(r) = hint.and_then(|h| entries.get(h)).and_then(|e| e.ret) {
        if let Ok(k) = cuts.binary_search(&r) {
            if k < hi {
                if fails(cuts[k] + 1, None, &mut complete) {
                    hi = k;
                } else if complete {
                    lo = k + 1;
                }
            }
        }
    }
    while lo < hi && complete {
        let mid = (lo + hi) / 2;
        if fails(cuts[mid] + 1, None, &mut complete) {
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

    // 2. A small start set: the operations completing last before the cut (the failure is
    //    visible there) plus those concurrent with the stuck operation, doubled until the
    //    history restricted to them fails; every set tried is a subset of the prefix's
    //    determinate operations, and the whole prefix is known to fail.
    let all: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].call < cut && entries[i].ret.is_some_and(|r| r < cut))
        .collect();
    let mut core = all.clone();
    if complete && all.len() > 8 {
        let mut by_ret = all.clone();
        by_ret.sort_unstable_by_key(|&i| std::cmp::Reverse(entries[i].ret));
        let around: Vec<usize> = match hint.map(|h| &entries[h]) {
            Some(h) => {
                let (hc, hr) = (h.call, h.ret.unwrap_or(usize::MAX));
                all.iter()
                    .copied()
                    .filter(|&i| entries[i].call < hr && entries[i].ret.is_some_and(|r| r > hc))
                    .collect()
            }
            None => Vec::new(),
        };
        let mut take = 4usize;
        while take < all.len() && complete {
            let mut set: Vec<usize> = by_ret[..take].to_vec();
            set.extend(&around);
            set.sort_unstable();
            set.dedup();
            if set.len() < all.len() && fails(cut, Some(&set), &mut complete) {
                core = set;
                break;
            }
            take *= 2;
        }
    }

    // 3. Delta debugging over the start set.
    let mut chunk = (core.len() / 2).max(1);
    while complete && !core.is_empty() {
        let mut removed = false;
        let mut i = 0;
        while i < core.len() && complete {
            let end = (i + chunk).min(core.len());
            let candidate: Vec<usize> = core[..i].iter().chain(&core[end..]).copied().collect();
            if fails(cut, Some(&candidate), &mut complete) {
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

    // 4. The shrunk history's own longest partial linearization: the few operations that
    //    show the violation, and the indeterminate ones that explain the states they saw.
    let (es, from) = weaken(model, entries, cut, &|k| core.binary_search(&k).is_ok());
    let (mut path, mut stuck) = (Vec::new(), None);
    if let Found::NotLinearizable(longest) = search(model, init, &es, explain).found {
        if let Some(first) = longest.first() {
            let on: HashSet<usize> = first.iter().copied().collect();
            stuck = (0..es.len())
                .filter(|e| !on.contains(e))
                .filter_map(|e| es[e].ret.map(|r| (r, e)))
                .min()
                .map(|(_, e)| from[e]);
            path = first.iter().map(|&e| from[e]).collect();
        }
    }
    core.sort_by_key(|&i| entries[i].call);
    Shrunk {
        core,
        weakened,
        complete,
        cut: (cut != usize::MAX).then(|| cut - 1),
        path,
        stuck,
    }
}
