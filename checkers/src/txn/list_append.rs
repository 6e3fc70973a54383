//! List-append inference: version orders from reads, the anomalies visible without a graph
//! (aborted, intermediate and garbage reads, duplicates, incompatible orders, future reads,
//! reordered appends, internal inconsistency, dirty updates, lost updates), and the ww / wr / rw
//! edges.
//!
//! Every appended value is unique per key, so a read `[1 3 4]` of key k says that 1, 3 and 4
//! were appended in that order. The longest read of each key gives its version order (every
//! other read must be a prefix of it); an append never read comes after everything read. Then
//! for an append of v with predecessor u in that order: the writer of u → the writer of v is a
//! ww edge, every reader of the state ending in u → the writer of v is an rw edge; a read
//! ending in v gives a wr edge from v's writer.

use super::cases::{lines, show_list, Cases};
use super::graph::{Edge, RW, WR, WW};
use super::list_append_checks::{check_reads, dirty_updates, internal, lost_updates};
use super::txns::{MopKind, Txns, NIL};
use crate::history::{Operation, Outcome};
use crate::InputError;

/// Everything inferred about appends, kept for explaining edges.
#[derive(Debug, Default)]
pub struct AppendIndex {
    /// key → where its appends start in `by_key` (they end where the next key's start).
    pub(super) key_start: Vec<u32>,
    /// Every append as `element << 32 | slot`, grouped by key and sorted within each key (by
    /// element, then slot): where [`AppendIndex::slot`] looks an element up.
    pub(super) by_key: Vec<u64>,
    /// slot → appending transaction.
    pub(super) writer: Vec<u32>,
    /// slot → (key, element).
    pub(super) kv: Vec<(u32, u32)>,
    /// slot → true when another append to the same key follows in the same transaction.
    pub(super) intermediate: Vec<bool>,
    /// slot → how many appends to the same key its transaction made before it (0: its first).
    pub(super) rank: Vec<u32>,
    /// slot → position in its key's version order, or NIL when never read.
    pub(super) pos: Vec<u32>,
    /// key → its version order (element ids).
    pub(super) order: Vec<Vec<u32>>,
    /// key → the slot of each element of its version order (NIL: never appended).
    pub(super) order_slot: Vec<Vec<u32>>,
    /// Global micro-operation index → slot of that append (NIL for reads).
    pub(super) mop_slot: Vec<u32>,
    /// List read → slot of its last element (NIL: empty or never appended).
    pub(super) last_slot: Vec<u32>,
    /// key → the transaction whose read gave the order (NIL: none / single append).
    pub(super) order_from: Vec<u32>,
    /// State id (slot, or slots + key for the empty state) → readers, as CSR.
    pub(super) reader_start: Vec<u32>,
    pub(super) readers: Vec<u32>,
}

impl AppendIndex {
    /// The slot of the append of `elem` to `key`, if there was one.
    pub(super) fn slot(&self, key: u32, elem: u32) -> Option<u32> {
        let k = key as usize;
        let (a, b) = (self.key_start[k] as usize, self.key_start[k + 1] as usize);
        let run = &self.by_key[a..b];
        let e = elem as u64;
        let i = if run.len() <= SCAN {
            run.iter().position(|&x| x >> 32 >= e).unwrap_or(run.len())
        } else {
            run.partition_point(|&x| x >> 32 < e)
        };
        match run.get(i) {
            Some(&x) if x >> 32 == e => Some(x as u32),
            _ => None,
        }
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
    ix.mop_slot = vec![NIL; tx.mops.len()];
    // Appends, in transaction order then micro-operation order; intermediate when the txn
    // appends to the key again later.
    let mut appends_per_key = vec![0u32; nkeys];
    for (t, txn) in tx.txns.iter().enumerate() {
        let mops = tx.mops(t);
        for (i, m) in mops.iter().enumerate() {
            if m.kind != MopKind::Append {
                continue;
            }
            let slot = ix.writer.len() as u32;
            ix.mop_slot[txn.start as usize + i] = slot;
            ix.writer.push(t as u32);
            ix.kv.push((m.key, m.value));
            ix.intermediate.push(
                mops[i + 1..]
                    .iter()
                    .any(|n| n.kind == MopKind::Append && n.key == m.key),
            );
            ix.rank.push(
                mops[..i]
                    .iter()
                    .filter(|n| n.kind == MopKind::Append && n.key == m.key)
                    .count() as u32,
            );
            ix.pos.push(NIL);
            appends_per_key[m.key as usize] += 1;
        }
    }
    index_by_key(&mut ix, &appends_per_key);
    // Appended values are unique per key: the first repeat in slot order is an input error.
    if let Some((slot, earlier)) = first_repeat(&ix) {
        let (t, first) = (ix.writer[slot as usize], ix.writer[earlier as usize]);
        let (key, value) = ix.kv[slot as usize];
        let op = &ops[tx.txns[t as usize].op];
        return Err(InputError::new(
            file,
            op.invoke_line,
            format!(
                "expected every value appended to a key to be unique, found {} appended to key {} again (first on {})",
                tx.values.show(value),
                tx.keys.show(key),
                lines(ops, tx, first)
            ),
        ));
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

/// Runs no longer than this are searched in [`AppendIndex::slot`] by a scan, longer ones by
/// bisection.
const SCAN: usize = 16;

/// Fills `key_start` and `by_key` from `kv`, given how many appends each key has.
fn index_by_key(ix: &mut AppendIndex, appends_per_key: &[u32]) {
    let mut start = Vec::with_capacity(appends_per_key.len() + 1);
    let mut at = 0u32;
    start.push(0);
    for &n in appends_per_key {
        at += n;
        start.push(at);
    }
    let mut fill = start.clone();
    let mut by_key = vec![0u64; ix.kv.len()];
    for (slot, &(k, v)) in ix.kv.iter().enumerate() {
        let f = &mut fill[k as usize];
        by_key[*f as usize] = (v as u64) << 32 | slot as u64;
        *f += 1;
    }
    for k in 0..appends_per_key.len() {
        by_key[start[k] as usize..start[k + 1] as usize].sort_unstable();
    }
    ix.key_start = start;
    ix.by_key = by_key;
}

/// The first append (in slot order) of an element already appended to its key, and the slot
/// of that earlier append.
fn first_repeat(ix: &AppendIndex) -> Option<(u32, u32)> {
    // Each slot is the later one of at most one pair of neighbours: the least pair is the
    // first repeat.
    ix.key_start
        .windows(2)
        .flat_map(|k| ix.by_key[k[0] as usize..k[1] as usize].windows(2))
        .filter(|w| w[0] >> 32 == w[1] >> 32)
        .map(|w| (w[1] as u32, w[0] as u32))
        .min()
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
