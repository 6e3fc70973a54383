//! List-append checks that need no graph, run by [`super::list_append::analyze`] once version orders
//! are known: every committed read against its key's longest read (incompatible orders,
//! duplicates, garbage and aborted reads, intermediate reads) and against the order of each
//! transaction's own appends (future reads, reordered appends), internal consistency of each
//! transaction, dirty updates along each version order, and lost updates.

use super::cases::{show_list, txn_json, txn_name, Cases};
use super::list_append::AppendIndex;
use super::txns::{MopKind, Txns, NIL};
use crate::history::{Operation, Outcome};
use serde_json::json;

/// Checks every committed list read against its key's longest read; returns, per list read,
/// the slot of its last element (NIL: empty or never appended).
pub(super) fn check_reads(
    ops: &[Operation],
    tx: &Txns,
    ix: &AppendIndex,
    longest: &[(u32, u32)],
    long_slots: &[Vec<u32>],
    cases: &mut Cases,
) -> Vec<u32> {
    let failed = |s: u32| tx.txns[ix.writer[s as usize] as usize].outcome == Outcome::Fail;
    let mut last_slot = vec![NIL; tx.lists.len()];
    let mut seen = vec![0u32; tx.values.len()];
    let mut stamp = 0u32;
    // Per key: the slots of its longest read, and the first position that holds a duplicate
    // or an element that is garbage or failed. A read that is a prefix of the longest one
    // needs a closer look only when it reaches one of those positions.
    let nkeys = longest.len();
    let mut first_dup = vec![usize::MAX; nkeys];
    let mut first_bad = vec![usize::MAX; nkeys];
    for (k, &(_, best)) in longest.iter().enumerate() {
        let long = if best == NIL { &[][..] } else { tx.list(best) };
        stamp += 1;
        for (i, (&e, &s)) in long.iter().zip(&long_slots[k]).enumerate() {
            if seen[e as usize] == stamp {
                first_dup[k] = first_dup[k].min(i);
            }
            seen[e as usize] = stamp;
            if s == NIL || failed(s) {
                first_bad[k] = first_bad[k].min(i);
            }
        }
    }
    // Per key: the first position of its longest read that shows an append of some
    // transaction without that transaction's earlier appends to the key before it.
    let mut order_check = OwnOrder::new(tx.txns.len());
    let first_reordered: Vec<usize> = longest
        .iter()
        .enumerate()
        .map(|(k, &(_, best))| {
            let long = if best == NIL { &[][..] } else { tx.list(best) };
            order_check
                .first_reordered(ix, k as u32, long)
                .map_or(usize::MAX, |(i, _)| i)
        })
        .collect();
    for (t, txn) in tx.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let t = t as u32;
        let mops = tx.mops(t as usize);
        for (i, m) in mops.iter().enumerate() {
            if m.kind != MopKind::Read || m.list == NIL {
                continue;
            }
            let list = tx.list(m.list);
            let (k, n) = (m.key as usize, list.len());
            let (_, best) = longest[k];
            let long = if best == NIL { &[][..] } else { tx.list(best) };
            let prefix = n <= long.len() && long[..n] == *list;
            // Future read: the read holds an element this transaction appends only later.
            let future = mops[i + 1..]
                .iter()
                .filter(|a| a.kind == MopKind::Append && a.key == m.key)
                .map(|a| a.value)
                .find(|&v| {
                    if prefix && first_dup[k] == usize::MAX {
                        ix.slot(m.key, v).is_some_and(|s| {
                            let p = ix.pos[s as usize];
                            p != NIL && (p as usize) < n
                        })
                    } else {
                        list.contains(&v)
                    }
                });
            if let Some(v) = future {
                cases.add_with("future-read", || {
                    let key = tx.keys.show(m.key);
                    (
                        format!(
                            "{} read key {key} = {}, which holds {}, an element it appended to key {key} only later in the same transaction",
                            txn_name(ops, tx, t),
                            show_list(tx, list),
                            tx.values.show(v)
                        ),
                        json!({"op": txn_json(ops, tx, t), "key": key, "element": tx.values.show(v),
                               "read": show_list(tx, list)}),
                    )
                });
            }
            // Reordered appends: the read shows an append of some transaction without that
            // transaction's earlier appends to the key right in order before it.
            let reordered = if !prefix {
                order_check.first_reordered(ix, m.key, list)
            } else if n > first_reordered[k] {
                let i = first_reordered[k];
                Some((i, long_slots[k][i]))
            } else {
                None
            };
            if let Some((at, s)) = reordered {
                let w = ix.writer[s as usize];
                cases.add_with("reordered-appends", || {
                    let key = tx.keys.show(m.key);
                    let own: Vec<u32> = tx
                        .mops(w as usize)
                        .iter()
                        .filter(|a| a.kind == MopKind::Append && a.key == m.key)
                        .map(|a| a.value)
                        .collect();
                    (
                        format!(
                            "{} read key {key} = {}, which shows {} out of the order in which its writer, {}, appended to key {key}: {}",
                            txn_name(ops, tx, t),
                            show_list(tx, list),
                            tx.values.show(list[at]),
                            txn_name(ops, tx, w),
                            show_list(tx, &own)
                        ),
                        json!({"op": txn_json(ops, tx, t), "writer": txn_json(ops, tx, w),
                               "key": key, "read": show_list(tx, list),
                               "appended": show_list(tx, &own)}),
                    )
                });
            }
            if !prefix {
                cases.add_with("incompatible-order", || {
                    let key = tx.keys.show(m.key);
                    (
                        format!(
                            "{} read key {key} = {}, which is not a prefix of {} read by {}: no single order of appends explains both",
                            txn_name(ops, tx, t),
                            show_list(tx, list),
                            show_list(tx, long),
                            txn_name(ops, tx, ix.order_from[k])
                        ),
                        json!({"op": txn_json(ops, tx, t), "key": key,
                               "values": [show_list(tx, list), show_list(tx, long)]}),
                    )
                });
            }
            if !prefix || n > first_dup[k] {
                stamp += 1;
                let mut dup = None;
                for &e in list {
                    if seen[e as usize] == stamp && dup.is_none() {
                        dup = Some(e);
                    }
                    seen[e as usize] = stamp;
                }
                if let Some(e) = dup {
                    cases.add_with("duplicate-elements", || {
                        let key = tx.keys.show(m.key);
                        (
                            format!(
                                "{} read key {key} = {}, which holds {} more than once",
                                txn_name(ops, tx, t),
                                show_list(tx, list),
                                tx.values.show(e)
                            ),
                            json!({"op": txn_json(ops, tx, t), "key": key, "element": tx.values.show(e)}),
                        )
                    });
                }
            }
            if !prefix || n > first_bad[k] {
                bad_elements(ops, tx, ix, t, m.key, list, cases);
            }
            let ls = match list.last() {
                None => NIL,
                Some(_) if prefix => long_slots[k][n - 1],
                Some(&e) => ix.slot(m.key, e).unwrap_or(NIL),
            };
            last_slot[m.list as usize] = ls;
            if ls != NIL && ix.intermediate[ls as usize] && ix.writer[ls as usize] != t {
                let w = ix.writer[ls as usize];
                let last = list[n - 1];
                cases.add_with("G1b", || {
                    let key = tx.keys.show(m.key);
                    (
                        format!(
                            "intermediate read: {} read key {key} = {}, ending in {}, which {} appended before appending to key {key} again",
                            txn_name(ops, tx, t),
                            show_list(tx, list),
                            tx.values.show(last),
                            txn_name(ops, tx, w)
                        ),
                        json!({"op": txn_json(ops, tx, t), "writer": txn_json(ops, tx, w),
                               "key": key, "element": tx.values.show(last)}),
                    )
                });
            }
        }
    }
    last_slot
}

/// Scratch space for checking a read against the order of each transaction's own appends.
struct OwnOrder {
    /// txn → the rank of its next append the read must show, valid when `stamp` matches.
    next: Vec<u32>,
    stamp: Vec<u32>,
    now: u32,
}

impl OwnOrder {
    fn new(txns: usize) -> Self {
        OwnOrder {
            next: vec![0; txns],
            stamp: vec![0; txns],
            now: 0,
        }
    }

    /// The first position of `list` (a read of key `k`) holding an append of some transaction
    /// whose earlier appends to `k` do not all come before it, in the order that transaction
    /// made them; with the slot of that element. Elements never appended and repeats (flagged
    /// elsewhere) are skipped.
    fn first_reordered(&mut self, ix: &AppendIndex, k: u32, list: &[u32]) -> Option<(usize, u32)> {
        self.now += 1;
        for (i, &e) in list.iter().enumerate() {
            let Some(s) = ix.slot(k, e) else {
                continue;
            };
            let (w, r) = (ix.writer[s as usize] as usize, ix.rank[s as usize]);
            if self.stamp[w] != self.now {
                self.stamp[w] = self.now;
                self.next[w] = 0;
            }
            if r > self.next[w] {
                return Some((i, s));
            }
            if r == self.next[w] {
                self.next[w] = r + 1;
            }
        }
        None
    }
}

/// Garbage reads (elements never appended) and aborted reads (appended by a failed txn).
fn bad_elements(
    ops: &[Operation],
    tx: &Txns,
    ix: &AppendIndex,
    t: u32,
    k: u32,
    list: &[u32],
    cases: &mut Cases,
) {
    for &e in list {
        match ix.slot(k, e) {
            None => cases.add_with("garbage-read", || {
                let key = tx.keys.show(k);
                (
                    format!(
                        "{} read key {key} = {}, but no transaction ever appended {} to key {key}",
                        txn_name(ops, tx, t),
                        show_list(tx, list),
                        tx.values.show(e)
                    ),
                    json!({"op": txn_json(ops, tx, t), "key": key, "element": tx.values.show(e)}),
                )
            }),
            Some(s) => {
                let w = ix.writer[s as usize];
                if tx.txns[w as usize].outcome == Outcome::Fail {
                    cases.add_with("G1a", || {
                        let key = tx.keys.show(k);
                        (
                            format!(
                                "aborted read: {} read key {key} = {}, but {} was appended by {}",
                                txn_name(ops, tx, t),
                                show_list(tx, list),
                                tx.values.show(e),
                                txn_name(ops, tx, w)
                            ),
                            json!({"op": txn_json(ops, tx, t), "writer": txn_json(ops, tx, w),
                                   "key": key, "element": tx.values.show(e)}),
                        )
                    });
                }
            }
        }
    }
}

/// Internal consistency: each read agrees with the txn's own earlier reads and appends.
pub(super) fn internal(ops: &[Operation], tx: &Txns, t: u32, cases: &mut Cases) {
    let mops = tx.mops(t as usize);
    for (i, m) in mops.iter().enumerate() {
        if m.kind != MopKind::Read || m.list == NIL {
            continue;
        }
        // Walk back: appends since the previous read of the key (or since the start).
        let mut suffix: Vec<u32> = Vec::new();
        let mut base: Option<&[u32]> = None;
        let mut touched = false;
        for p in mops[..i].iter().rev() {
            if p.key != m.key {
                continue;
            }
            touched = true;
            match p.kind {
                MopKind::Append => suffix.push(p.value),
                _ if p.list != NIL => {
                    base = Some(tx.list(p.list));
                    break;
                }
                _ => {}
            }
        }
        if !touched {
            continue;
        }
        suffix.reverse();
        let got = tx.list(m.list);
        let ok = match base {
            Some(b) => {
                got.len() == b.len() + suffix.len()
                    && got[..b.len()] == *b
                    && got[b.len()..] == suffix[..]
            }
            None => got.len() >= suffix.len() && got[got.len() - suffix.len()..] == suffix[..],
        };
        if !ok {
            let expected = match base {
                Some(b) => {
                    let mut all = b.to_vec();
                    all.extend(&suffix);
                    show_list(tx, &all)
                }
                None => format!("a list ending in {}", show_list(tx, &suffix)),
            };
            let key = tx.keys.show(m.key);
            cases.add_with("internal", || {
                (
                    format!(
                        "internal inconsistency: {} read key {key} = {}, but its own earlier operations mean it should have read {expected}",
                        txn_name(ops, tx, t),
                        show_list(tx, got)
                    ),
                    json!({"op": txn_json(ops, tx, t), "key": key, "expected": expected,
                           "read": show_list(tx, got)}),
                )
            });
        }
    }
}

/// Dirty update: in a key's version order, a committed append right after a failed one.
pub(super) fn dirty_updates(ops: &[Operation], tx: &Txns, ix: &AppendIndex, cases: &mut Cases) {
    for (k, order) in ix.order.iter().enumerate() {
        let mut prev: Option<u32> = None;
        for &e in order {
            let Some(s) = ix.slot(k as u32, e) else {
                continue;
            };
            let w = ix.writer[s as usize];
            let now = tx.txns[w as usize].outcome;
            match (prev.map(|p| tx.txns[p as usize].outcome), now) {
                (Some(Outcome::Fail), Outcome::Ok) => {
                    let p = prev.unwrap_or(w);
                    let key = tx.keys.show(k as u32);
                    cases.add_with("dirty-update", || {
                        (
                            format!(
                                "dirty update: on key {key}, {} appended {} on top of a state written by {}",
                                txn_name(ops, tx, w),
                                tx.values.show(e),
                                txn_name(ops, tx, p)
                            ),
                            json!({"key": key, "txns": [txn_json(ops, tx, p), txn_json(ops, tx, w)]}),
                        )
                    });
                    prev = Some(w);
                }
                (_, Outcome::Info) => {}
                _ => prev = Some(w),
            }
        }
    }
}

/// Lost update: two committed txns read the same state of a key and both appended to it.
pub(super) fn lost_updates(ops: &[Operation], tx: &Txns, ix: &AppendIndex, cases: &mut Cases) {
    let _ = ix;
    let mut rows: Vec<(u32, u32, u32, u32)> = Vec::new();
    for (t, txn) in tx.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let mops = tx.mops(t);
        for (i, m) in mops.iter().enumerate() {
            if m.kind != MopKind::Read || m.list == NIL {
                continue;
            }
            if mops[..i].iter().any(|p| p.key == m.key) {
                continue;
            }
            if mops[i + 1..]
                .iter()
                .any(|p| p.key == m.key && p.kind == MopKind::Append)
            {
                let list = tx.list(m.list);
                rows.push((
                    m.key,
                    list.last().copied().unwrap_or(NIL),
                    list.len() as u32,
                    t as u32,
                ));
            }
        }
    }
    rows.sort_unstable();
    for group in rows.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2) {
        if group.len() < 2 {
            continue;
        }
        let key = tx.keys.show(group[0].0);
        let names: Vec<String> = group.iter().map(|r| txn_name(ops, tx, r.3)).collect();
        let state = if group[0].1 == NIL {
            "empty".to_string()
        } else {
            format!("ending in {}", tx.values.show(group[0].1))
        };
        cases.add_with("lost-update", || {
            (
                format!(
                    "lost update: {} all read key {key} in the same state ({state}) and all appended to it and committed",
                    names.join(" and ")
                ),
                json!({"key": key, "txns": group.iter().map(|r| txn_json(ops, tx, r.3)).collect::<Vec<_>>()}),
            )
        });
    }
}
