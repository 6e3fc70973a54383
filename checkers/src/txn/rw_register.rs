//! rw-register inference: what can soundly be said about the version order of registers with
//! unique writes, the anomalies visible without a graph (aborted and intermediate reads,
//! internal inconsistency, lost updates, cyclic version orders), and the ww / wr / rw edges.
//!
//! Unlike lists, a register read shows one version, not its history. The version order rules
//! used: the initial state (`nil`) precedes every written or read value; and within a committed
//! transaction, writes follow reads (an external read of v then a write of v' on the same key:
//! v < v'). A read of a value no transaction wrote is not flagged (it may be a state that
//! existed before the history began) and gives no edge. A version order with a cycle is
//! reported as `cyclic-versions` and that key's writes-follow-reads facts are dropped.

use super::cases::{show_list, txn_json, txn_name, Cases};
use super::graph::{Edge, RW, WR, WW};
use super::txns::{MopKind, Txns, NIL};
use crate::history::{Operation, Outcome};
use crate::InputError;
use hashbrown::{HashMap, HashSet};
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::json;

/// What was inferred about register versions, kept for explaining edges.
#[derive(Debug, Default)]
pub struct RegisterIndex {
    /// Per transaction: its external reads (first access to the key is a read).
    ext_reads: Vec<Vec<(u32, u32)>>,
    /// Per transaction: its external writes (last write to each key).
    ext_writes: Vec<Vec<(u32, u32)>>,
    /// Version-order facts kept: (key, earlier value or NIL, later value).
    versions: HashSet<(u32, u32, u32)>,
}

/// (key, value) pairs of one transaction.
type KeyValues = Vec<(u32, u32)>;

fn externals(tx: &Txns, t: usize) -> (KeyValues, KeyValues) {
    let mops = tx.mops(t);
    let mut reads = Vec::new();
    let mut writes: Vec<(u32, u32)> = Vec::new();
    for (i, m) in mops.iter().enumerate() {
        let first = !mops[..i].iter().any(|p| p.key == m.key);
        match m.kind {
            MopKind::Read if first => reads.push((m.key, m.value)),
            MopKind::Write => {
                if let Some(w) = writes.iter_mut().find(|w| w.0 == m.key) {
                    w.1 = m.value;
                } else {
                    writes.push((m.key, m.value));
                }
            }
            _ => {}
        }
    }
    (reads, writes)
}

/// Runs the rw-register inference: records non-cycle anomalies in `cases` and returns the
/// index (for explanations) and the data edges.
pub fn analyze(
    file: &str,
    ops: &[Operation],
    tx: &Txns,
    cases: &mut Cases,
) -> Result<(RegisterIndex, Vec<Edge>), InputError> {
    let n = tx.txns.len();
    let outcome = |t: u32| tx.txns[t as usize].outcome;
    // Writers: unique per (key, value); intermediate when overwritten in the same txn.
    let mut writer: HashMap<(u32, u32), (u32, bool)> = HashMap::new();
    for (t, txn) in tx.txns.iter().enumerate() {
        let mops = tx.mops(t);
        for (i, m) in mops.iter().enumerate() {
            if m.kind != MopKind::Write || m.value == NIL {
                continue;
            }
            let later = mops[i + 1..]
                .iter()
                .any(|p| p.kind == MopKind::Write && p.key == m.key);
            if let Some(&(other, _)) = writer.get(&(m.key, m.value)) {
                return Err(InputError::new(
                    file,
                    ops[txn.op].invoke_line,
                    format!(
                        "expected every value written to a key to be unique, found {} written to key {} again (first on {})",
                        tx.values.show(m.value),
                        tx.keys.show(m.key),
                        super::cases::lines(ops, tx, other)
                    ),
                ));
            }
            writer.insert((m.key, m.value), (t as u32, later));
        }
    }
    let mut ix = RegisterIndex::default();
    for t in 0..n {
        let (r, w) = externals(tx, t);
        ix.ext_reads.push(if outcome(t as u32) == Outcome::Ok {
            r
        } else {
            Vec::new()
        });
        ix.ext_writes.push(if outcome(t as u32) == Outcome::Fail {
            Vec::new()
        } else {
            w
        });
    }
    for t in 0..n as u32 {
        if outcome(t) == Outcome::Ok {
            read_cases(ops, tx, &writer, t, cases);
        }
    }
    lost_updates(ops, tx, &ix, cases);
    // Version facts: writes follow reads, per key, checked for cycles.
    let mut wfr: Vec<(u32, u32, u32, u32)> = Vec::new();
    for t in 0..n {
        for &(k, v) in &ix.ext_reads[t] {
            if v == NIL {
                continue;
            }
            if let Some(&(_, v2)) = ix.ext_writes[t].iter().find(|w| w.0 == k) {
                if v2 != v && v2 != NIL {
                    wfr.push((k, v, v2, t as u32));
                }
            }
        }
    }
    let cyclic = cyclic_keys(ops, tx, &wfr, cases);
    for &(k, v1, v2, _) in &wfr {
        if !cyclic.contains(&k) {
            ix.versions.insert((k, v1, v2));
        }
    }
    // Indexes: external writers and readers of each (key, value).
    let mut ext_writer: HashMap<(u32, u32), u32> = HashMap::new();
    let mut readers: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
    let mut writers_of_key: HashMap<u32, Vec<u32>> = HashMap::new();
    for t in 0..n {
        for &(k, v) in &ix.ext_writes[t] {
            if v != NIL {
                ext_writer.insert((k, v), t as u32);
                writers_of_key.entry(k).or_default().push(t as u32);
            }
        }
        for &(k, v) in &ix.ext_reads[t] {
            readers.entry((k, v)).or_default().push(t as u32);
        }
    }
    let mut edges: Vec<Edge> = Vec::new();
    for t in 0..n as u32 {
        for &(k, v) in &ix.ext_reads[t as usize] {
            if v == NIL {
                continue;
            }
            if let Some(&w) = ext_writer.get(&(k, v)) {
                if w != t {
                    edges.push((w, t, WR));
                }
            }
        }
    }
    // nil precedes every written value: readers of nil → every writer of the key.
    for (&(k, v), rs) in &readers {
        if v != NIL {
            continue;
        }
        for &w in writers_of_key.get(&k).map(Vec::as_slice).unwrap_or(&[]) {
            for &r in rs {
                if r != w {
                    edges.push((r, w, RW));
                }
            }
        }
    }
    for &(k, v1, v2) in &ix.versions {
        let Some(&w2) = ext_writer.get(&(k, v2)) else {
            continue;
        };
        if let Some(&w1) = ext_writer.get(&(k, v1)) {
            if w1 != w2 {
                edges.push((w1, w2, WW));
            }
        }
        for &r in readers.get(&(k, v1)).map(Vec::as_slice).unwrap_or(&[]) {
            if r != w2 {
                edges.push((r, w2, RW));
            }
        }
    }
    Ok((ix, edges))
}

fn read_cases(
    ops: &[Operation],
    tx: &Txns,
    writer: &HashMap<(u32, u32), (u32, bool)>,
    t: u32,
    cases: &mut Cases,
) {
    let mops = tx.mops(t as usize);
    let mut state: Vec<(u32, u32)> = Vec::new();
    for m in mops {
        let key = tx.keys.show(m.key);
        match m.kind {
            MopKind::Write => match state.iter_mut().find(|s| s.0 == m.key) {
                Some(s) => s.1 = m.value,
                None => state.push((m.key, m.value)),
            },
            _ => {
                if let Some(s) = state.iter().find(|s| s.0 == m.key) {
                    if s.1 != m.value {
                        let expected = tx.values.show(s.1);
                        cases.add_with("internal", || {
                            (
                                format!(
                                    "internal inconsistency: {} read key {key} = {}, but its own earlier operations mean it should have read {expected}",
                                    txn_name(ops, tx, t),
                                    tx.values.show(m.value)
                                ),
                                json!({"op": txn_json(ops, tx, t), "key": key, "expected": expected}),
                            )
                        });
                    }
                    continue;
                }
                state.push((m.key, m.value));
                if m.value == NIL {
                    continue;
                }
                if let Some(&(w, intermediate)) = writer.get(&(m.key, m.value)) {
                    let v = tx.values.show(m.value);
                    if tx.txns[w as usize].outcome == Outcome::Fail {
                        cases.add_with("G1a", || {
                            (
                                format!(
                                    "aborted read: {} read key {key} = {v}, which was written by {}",
                                    txn_name(ops, tx, t),
                                    txn_name(ops, tx, w)
                                ),
                                json!({"op": txn_json(ops, tx, t), "writer": txn_json(ops, tx, w), "key": key, "value": v}),
                            )
                        });
                    } else if w == t {
                        // Its first operation on the key, yet it read its own write: a write
                        // it makes only later (writes are unique per key).
                        cases.add_with("future-read", || {
                            (
                                format!(
                                    "{} read key {key} = {v}, which it writes to key {key} only later in the same transaction",
                                    txn_name(ops, tx, t)
                                ),
                                json!({"op": txn_json(ops, tx, t), "key": key, "value": v}),
                            )
                        });
                    } else if intermediate && w != t {
                        cases.add_with("G1b", || {
                            (
                                format!(
                                    "intermediate read: {} read key {key} = {v}, which {} overwrote before committing",
                                    txn_name(ops, tx, t),
                                    txn_name(ops, tx, w)
                                ),
                                json!({"op": txn_json(ops, tx, t), "writer": txn_json(ops, tx, w), "key": key, "value": v}),
                            )
                        });
                    }
                }
            }
        }
    }
}

fn lost_updates(ops: &[Operation], tx: &Txns, ix: &RegisterIndex, cases: &mut Cases) {
    let mut rows: Vec<(u32, u32, u32)> = Vec::new();
    for (t, reads) in ix.ext_reads.iter().enumerate() {
        for &(k, v) in reads {
            if tx.txns[t].outcome == Outcome::Ok && ix.ext_writes[t].iter().any(|w| w.0 == k) {
                rows.push((k, v, t as u32));
            }
        }
    }
    rows.sort_unstable();
    for group in rows.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
        if group.len() < 2 {
            continue;
        }
        let key = tx.keys.show(group[0].0);
        let v = tx.values.show(group[0].1);
        let names: Vec<String> = group.iter().map(|r| txn_name(ops, tx, r.2)).collect();
        cases.add_with("lost-update", || {
            (
                format!(
                    "lost update: {} all read key {key} = {v} and all wrote key {key} and committed",
                    names.join(" and ")
                ),
                json!({"key": key, "value": v, "txns": group.iter().map(|r| txn_json(ops, tx, r.2)).collect::<Vec<_>>()}),
            )
        });
    }
}

/// Keys whose writes-follow-reads version facts form a cycle (reported as cyclic-versions).
fn cyclic_keys(
    ops: &[Operation],
    tx: &Txns,
    wfr: &[(u32, u32, u32, u32)],
    cases: &mut Cases,
) -> HashSet<u32> {
    let mut ids: HashMap<(u32, u32), u32> = HashMap::new();
    let mut g: DiGraph<(u32, u32), u32, u32> = DiGraph::new();
    let mut node = |g: &mut DiGraph<(u32, u32), u32, u32>, k: u32, v: u32| {
        *ids.entry((k, v))
            .or_insert_with(|| g.add_node((k, v)).index() as u32)
    };
    for &(k, v1, v2, t) in wfr {
        let a = node(&mut g, k, v1);
        let b = node(&mut g, k, v2);
        g.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), t);
    }
    let mut bad = HashSet::new();
    for scc in kosaraju_scc(&g) {
        if scc.len() < 2 {
            continue;
        }
        let k = g[scc[0]].0;
        bad.insert(k);
        let values: Vec<u32> = scc.iter().map(|&x| g[x].1).collect();
        let key = tx.keys.show(k);
        let witnesses: Vec<String> = scc
            .iter()
            .flat_map(|&x| g.edges(x).map(|e| *e.weight()))
            .take(4)
            .map(|t| txn_name(ops, tx, t))
            .collect();
        cases.add_with("cyclic-versions", || {
            (
                format!(
                    "cyclic versions: on key {key}, transactions that read one value and then wrote another ({}) order the values {} in a cycle",
                    witnesses.join(", "),
                    show_list(tx, &values)
                ),
                json!({"key": key, "values": values.iter().map(|&v| tx.values.show(v)).collect::<Vec<_>>()}),
            )
        });
    }
    bad
}

/// Why `a` precedes `b` by an edge of `kind`: `(key, sentence)` using `na`/`nb` as names.
pub fn why(
    ix: &RegisterIndex,
    tx: &Txns,
    a: u32,
    b: u32,
    kind: u8,
    na: &str,
    nb: &str,
) -> Option<(String, String)> {
    let show = |v: u32| tx.values.show(v);
    match kind {
        WR => ix.ext_writes[a as usize].iter().find_map(|&(k, v)| {
            ix.ext_reads[b as usize].contains(&(k, v)).then(|| {
                let key = tx.keys.show(k);
                (key.clone(), format!("{na} < {nb} because {nb} read key {key} = {} which {na} wrote", show(v)))
            })
        }),
        WW => ix.ext_writes[a as usize].iter().find_map(|&(k, v1)| {
            let &(_, v2) = ix.ext_writes[b as usize].iter().find(|w| w.0 == k)?;
            ix.versions.contains(&(k, v1, v2)).then(|| {
                let key = tx.keys.show(k);
                (key.clone(), format!(
                    "{na} < {nb} because {na} wrote key {key} = {} and {nb} wrote {}, which a transaction wrote after reading {} (writes follow reads)",
                    show(v1), show(v2), show(v1)))
            })
        }),
        _ => ix.ext_reads[a as usize].iter().find_map(|&(k, v1)| {
            let &(_, v2) = ix.ext_writes[b as usize].iter().find(|w| w.0 == k)?;
            let key = tx.keys.show(k);
            if v1 == NIL {
                Some((key.clone(), format!(
                    "{na} < {nb} because {na} read key {key} = nil (the initial state) and {nb} wrote {} to it", show(v2))))
            } else if ix.versions.contains(&(k, v1, v2)) {
                Some((key.clone(), format!(
                    "{na} < {nb} because {na} read key {key} = {} and {nb} wrote {}, which a transaction wrote after reading {} (writes follow reads)",
                    show(v1), show(v2), show(v1))))
            } else {
                None
            }
        }),
    }
}
