//! List-append inference: version orders from reads, the anomalies visible without a graph
//! (aborted, intermediate and garbage reads, duplicates, incompatible orders, internal
//! inconsistency, dirty updates, lost updates), and the ww / wr / rw edges.
//!
//! Every appended value is unique per key, so a read `[1 3 4]` of key k says that 1, 3 and 4
//! were appended in that order. The longest read of each key gives its version order (every
//! other read must be a prefix of it); an append never read comes after everything read. Then
//! for an append of v with predecessor u in that order: the writer of u → the writer of v is a
//! ww edge, every reader of the state ending in u → the writer of v is an rw edge; a read
//! ending in v gives a wr edge from v's writer.

use super::cases::{lines, show_list, txn_json, txn_name, Cases};
use super::graph::{Edge, RW, WR, WW};
use super::history::{MopKind, Txns, NIL};
use crate::history::{Operation, Outcome};
use crate::InputError;
use hashbrown::HashMap;
use serde_json::json;

/// Everything inferred about appends, kept for explaining edges.
#[derive(Debug, Default)]
pub struct AppendIndex {
    slot_of: HashMap<u64, u32>,
    /// slot → appending transaction.
    writer: Vec<u32>,
    /// slot → (key, element).
    kv: Vec<(u32, u32)>,
    /// slot → true when another append to the same key follows in the same transaction.
    intermediate: Vec<bool>,
    /// slot → position in its key's version order, or NIL when never read.
    pos: Vec<u32>,
    /// key → its version order (element ids).
    order: Vec<Vec<u32>>,
    /// key → the slot of each element of its version order (NIL: never appended).
    order_slot: Vec<Vec<u32>>,
    /// Global micro-operation index → slot of that append (NIL for reads).
    mop_slot: Vec<u32>,
    /// List read → slot of its last element (NIL: empty or never appended).
    last_slot: Vec<u32>,
    /// key → the transaction whose read gave the order (NIL: none / single append).
    order_from: Vec<u32>,
    /// State id (slot, or slots + key for the empty state) → readers, as CSR.
    reader_start: Vec<u32>,
    readers: Vec<u32>,
}

fn pair(key: u32, elem: u32) -> u64 {
    (key as u64) << 32 | elem as u64
}

impl AppendIndex {
    fn slot(&self, key: u32, elem: u32) -> Option<u32> {
        self.slot_of.get(&pair(key, elem)).copied()
    }

    /// The element appended just before the append in `slot` on `key`, and its slot (NIL,
    /// NIL: the empty initial state). For an append never read: the last element read.
    fn prev(&self, key: u32, slot: u32) -> (u32, u32) {
        let (order, slots) = (&self.order[key as usize], &self.order_slot[key as usize]);
        match self.pos[slot as usize] {
            NIL => order
                .last()
                .map_or((NIL, NIL), |&e| (e, slots[order.len() - 1])),
            0 => (NIL, NIL),
            p => (order[p as usize - 1], slots[p as usize - 1]),
        }
    }

    /// The state id of "key after the element in `slot`" (`last` NIL: the empty state).
    fn state(&self, key: u32, last: u32, slot: u32) -> Option<u32> {
        if last == NIL {
            Some(self.writer.len() as u32 + key)
        } else if slot == NIL {
            None
        } else {
            Some(slot)
        }
    }

    fn readers_of(&self, state: u32) -> &[u32] {
        let (a, b) = (
            self.reader_start[state as usize],
            self.reader_start[state as usize + 1],
        );
        &self.readers[a as usize..b as usize]
    }
}

/// Runs the list-append inference: records non-cycle anomalies in `cases` and returns the
/// index (for explanations) and the data edges.
pub fn analyze(
    file: &str,
    ops: &[Operation],
    tx: &Txns,
    cases: &mut Cases,
) -> Result<(AppendIndex, Vec<Edge>), InputError> {
    let nkeys = tx.keys.len();
    let outcome = |t: u32| tx.txns[t as usize].outcome;
    let mut ix = AppendIndex {
        order: vec![Vec::new(); nkeys],
        order_slot: vec![Vec::new(); nkeys],
        order_from: vec![NIL; nkeys],
        ..Default::default()
    };
    ix.slot_of.reserve(tx.mops.len() / 2);
    ix.mop_slot = vec![NIL; tx.mops.len()];
    // Appends: unique per key; intermediate when the txn appends to the key again later.
    let mut appends_per_key = vec![0u32; nkeys];
    for (t, txn) in tx.txns.iter().enumerate() {
        let mops = tx.mops(t);
        for (i, m) in mops.iter().enumerate() {
            if m.kind != MopKind::Append {
                continue;
            }
            let slot = ix.writer.len() as u32;
            if let Some(other) = ix.slot_of.insert(pair(m.key, m.value), slot) {
                let first = ix.writer[other as usize];
                let op = &ops[txn.op];
                return Err(InputError::new(
                    file,
                    op.invoke_line,
                    format!(
                        "expected every value appended to a key to be unique, found {} appended to key {} again (first on {})",
                        tx.values.show(m.value),
                        tx.keys.show(m.key),
                        lines(ops, tx, first)
                    ),
                ));
            }
            ix.mop_slot[txn.start as usize + i] = slot;
            ix.writer.push(t as u32);
            ix.kv.push((m.key, m.value));
            ix.intermediate.push(
                mops[i + 1..]
                    .iter()
                    .any(|n| n.kind == MopKind::Append && n.key == m.key),
            );
            ix.pos.push(NIL);
            appends_per_key[m.key as usize] += 1;
        }
    }
    // Longest read per key → version order.
    let mut longest: Vec<(u32, u32)> = vec![(0, NIL); nkeys];
    for (t, txn) in tx.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        for m in tx.mops(t) {
            if m.kind == MopKind::Read && m.list != NIL {
                let len = tx.list(m.list).len() as u32;
                let best = &mut longest[m.key as usize];
                if len > best.0 {
                    *best = (len, m.list);
                    ix.order_from[m.key as usize] = t as u32;
                }
            }
        }
    }
    // Slots of each element of each key's longest read (NIL: never appended).
    let mut long_slots: Vec<Vec<u32>> = vec![Vec::new(); nkeys];
    for (k, &(_, list)) in longest.iter().enumerate() {
        if list != NIL {
            for &e in tx.list(list) {
                let s = ix.slot(k as u32, e).unwrap_or(NIL);
                long_slots[k].push(s);
                if s != NIL {
                    if ix.pos[s as usize] != NIL {
                        continue;
                    }
                    ix.pos[s as usize] = ix.order[k].len() as u32;
                }
                ix.order[k].push(e);
                ix.order_slot[k].push(s);
            }
        }
    }
    // A key appended once and never read non-empty: its order is that one element.
    for slot in 0..ix.kv.len() {
        let (k, v) = ix.kv[slot];
        let k = k as usize;
        if appends_per_key[k] == 1 && ix.order[k].is_empty() {
            ix.order[k].push(v);
            ix.order_slot[k].push(slot as u32);
            ix.pos[slot] = 0;
        }
    }
    ix.last_slot = check_reads(ops, tx, &ix, &longest, &long_slots, cases);
    for t in 0..tx.txns.len() {
        if outcome(t as u32) == Outcome::Ok {
            internal(ops, tx, t as u32, cases);
        }
    }
    dirty_updates(ops, tx, &ix, cases);
    lost_updates(ops, tx, &ix, cases);
    // Readers of each state, as CSR (ok reads only: other reads saw nothing we know).
    let nstates = ix.writer.len() + nkeys;
    let mut counts = vec![0u32; nstates + 1];
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for (t, txn) in tx.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        for m in tx.mops(t) {
            if m.kind == MopKind::Read && m.list != NIL {
                let last = tx.list(m.list).last().copied().unwrap_or(NIL);
                if let Some(s) = ix.state(m.key, last, ix.last_slot[m.list as usize]) {
                    counts[s as usize + 1] += 1;
                    pairs.push((s, t as u32));
                }
            }
        }
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    let mut fill = counts.clone();
    ix.readers = vec![0; pairs.len()];
    for (s, t) in pairs {
        ix.readers[fill[s as usize] as usize] = t;
        fill[s as usize] += 1;
    }
    ix.reader_start = counts;
    let edges = edges(tx, &ix);
    Ok((ix, edges))
}

fn edges(tx: &Txns, ix: &AppendIndex) -> Vec<Edge> {
    let mut edges: Vec<Edge> = Vec::with_capacity(tx.mops.len() * 2);
    let failed = |w: u32| tx.txns[w as usize].outcome == Outcome::Fail;
    for (t, txn) in tx.txns.iter().enumerate() {
        if txn.outcome == Outcome::Fail {
            continue;
        }
        let t = t as u32;
        for (i, m) in tx.mops(t as usize).iter().enumerate() {
            match m.kind {
                MopKind::Read if m.list != NIL => {
                    let s = ix.last_slot[m.list as usize];
                    if s != NIL {
                        let w = ix.writer[s as usize];
                        if w != t && !failed(w) {
                            edges.push((w, t, WR));
                        }
                    }
                }
                MopKind::Append => {
                    let s = ix.mop_slot[txn.start as usize + i];
                    let (prev, ps) = ix.prev(m.key, s);
                    if ps != NIL {
                        let w = ix.writer[ps as usize];
                        if w != t && !failed(w) {
                            edges.push((w, t, WW));
                        }
                    }
                    if let Some(state) = ix.state(m.key, prev, ps) {
                        for &r in ix.readers_of(state) {
                            if r != t {
                                edges.push((r, t, RW));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    edges
}

fn check_reads(
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
    for (t, txn) in tx.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let t = t as u32;
        for m in tx.mops(t as usize) {
            if m.kind != MopKind::Read || m.list == NIL {
                continue;
            }
            let list = tx.list(m.list);
            let (k, n) = (m.key as usize, list.len());
            let (_, best) = longest[k];
            let long = if best == NIL { &[][..] } else { tx.list(best) };
            let prefix = n <= long.len() && long[..n] == *list;
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
fn internal(ops: &[Operation], tx: &Txns, t: u32, cases: &mut Cases) {
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
fn dirty_updates(ops: &[Operation], tx: &Txns, ix: &AppendIndex, cases: &mut Cases) {
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
fn lost_updates(ops: &[Operation], tx: &Txns, ix: &AppendIndex, cases: &mut Cases) {
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

/// Why `a` precedes `b` by an edge of `kind`: `(key, sentence)` using `na`/`nb` as names.
pub fn why(
    tx: &Txns,
    ix: &AppendIndex,
    a: u32,
    b: u32,
    kind: u8,
    na: &str,
    nb: &str,
) -> Option<(String, String)> {
    for m in tx.mops(b as usize) {
        let key = tx.keys.show(m.key);
        match (kind, m.kind) {
            (WR, MopKind::Read) if m.list != NIL => {
                let list = tx.list(m.list);
                let last = *list.last()?;
                if ix.slot(m.key, last).map(|s| ix.writer[s as usize]) == Some(a) {
                    return Some((
                        key.clone(),
                        format!(
                        "{na} < {nb} because {nb} read key {key} = {} after {na} appended {} to it",
                        show_list(tx, list), tx.values.show(last)),
                    ));
                }
            }
            (WW | RW, MopKind::Append) => {
                let Some(s) = ix.slot(m.key, m.value) else {
                    continue;
                };
                let (prev, ps) = ix.prev(m.key, s);
                let v = tx.values.show(m.value);
                if kind == WW {
                    if ps != NIL && ix.writer[ps as usize] == a {
                        return Some((key.clone(), format!(
                            "{na} < {nb} because {nb} appended {v} to key {key} right after {na} appended {} (version order of key {key} from the longest read)",
                            tx.values.show(prev))));
                    }
                } else if let Some(state) = ix.state(m.key, prev, ps) {
                    if ix.readers_of(state).contains(&a) {
                        let read = tx.mops(a as usize).iter().find(|r| {
                            r.kind == MopKind::Read
                                && r.key == m.key
                                && r.list != NIL
                                && tx.list(r.list).last().copied().unwrap_or(NIL) == prev
                        });
                        let seen = match read {
                            Some(r) if prev != NIL => show_list(tx, tx.list(r.list)),
                            _ if prev == NIL => "[] (the initial state)".to_string(),
                            _ => format!("a list ending in {}", tx.values.show(prev)),
                        };
                        return Some((key.clone(), format!(
                            "{na} < {nb} because {na} read key {key} = {seen} and did not see {nb}'s append of {v}, which came next"
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    None
}
