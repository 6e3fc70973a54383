//! rw-register inference: what can soundly be said about the version order of registers with
//! unique writes, the anomalies visible without a graph (aborted and intermediate reads,
//! internal inconsistency, lost updates, cyclic version orders), and the ww / wr / rw edges.
//!
//! Unlike lists, a register read shows one version, not its history. The version order rule
//! always used: the initial state (`nil`) precedes every written or read value. Three more, as
//! in Elle, only when asked for ([`Inference`]): writes follow reads within a committed
//! transaction (`--wfr-keys`: an external read of v then a write of v' on the same key: v <
//! v'); sequential keys (`--sequential-keys`: the last value of a key one committed
//! transaction of a process touched precedes the first value of that key its next transaction
//! on the key touched); linearizable keys (`--linearizable-keys`: the same between any two
//! committed transactions one of which completed before the other was invoked). A read of a
//! value no transaction wrote is not flagged (it may be a state that existed before the history
//! began) and gives no edge. The sources are added in that order; one whose facts would give a
//! key's version order a cycle is reported as `cyclic-versions` (naming the sources) and its
//! facts about that key are dropped.

use super::cases::{show_list, txn_json, txn_name, Cases};
use super::graph::{Edge, RW, WR, WW};
use super::txns::{MopKind, Txns, NIL};
use crate::history::{Operation, Outcome, Process};
use crate::options::Inference;
use crate::InputError;
use hashbrown::{HashMap, HashSet};
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde_json::json;

/// What was inferred about register versions, kept for explaining edges.
#[derive(Debug, Default)]
pub struct RegisterIndex {
    /// Per transaction: its external reads (first access to the key is a read).
    ext_reads: Vec<Vec<(u32, u32)>>,
    /// Per transaction: its external writes (last write to each key).
    ext_writes: Vec<Vec<(u32, u32)>>,
    /// Version-order facts kept: (key, earlier value or NIL, later value) → the assumption
    /// that gave it.
    versions: HashMap<(u32, u32, u32), Source>,
}

/// Which assumption a version-order fact comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `--wfr-keys`.
    WritesFollowReads,
    /// `--sequential-keys`.
    SequentialKeys,
    /// `--linearizable-keys`.
    LinearizableKeys,
}

impl Source {
    fn flag(self) -> &'static str {
        match self {
            Source::WritesFollowReads => "--wfr-keys",
            Source::SequentialKeys => "--sequential-keys",
            Source::LinearizableKeys => "--linearizable-keys",
        }
    }

    /// Why `v1` precedes `v2` under this assumption, for explanations.
    fn reason(self, v1: &str, v2: &str) -> String {
        match self {
            Source::WritesFollowReads => format!(
                "which a transaction wrote after reading {v1} (writes follow reads, --wfr-keys)"
            ),
            Source::SequentialKeys => format!(
                "which comes after {v1}: one process saw {v1}, then {v2} in a later transaction (sequential keys, --sequential-keys)"
            ),
            Source::LinearizableKeys => format!(
                "which comes after {v1}: a transaction that saw {v1} completed before one that saw {v2} began (linearizable keys, --linearizable-keys)"
            ),
        }
    }
}

/// One candidate version-order fact: key, earlier value, later value, and the transactions
/// that witnessed it (the same one for writes-follow-reads).
type Fact = (u32, u32, u32, u32, u32);

/// How many predecessors per key the sequential and linearizable inferences keep open; past
/// it the oldest are dropped (fewer facts: never a false anomaly).
const OPEN_CAP: usize = 32;

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
    inference: Inference,
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
    // Version facts, source by source, each checked for cycles with those already kept.
    let mut sources: Vec<(Source, Vec<Fact>)> = Vec::new();
    if inference.wfr_keys {
        let mut wfr: Vec<Fact> = Vec::new();
        for t in 0..n {
            for &(k, v) in &ix.ext_reads[t] {
                if v == NIL {
                    continue;
                }
                if let Some(&(_, v2)) = ix.ext_writes[t].iter().find(|w| w.0 == k) {
                    if v2 != v && v2 != NIL {
                        wfr.push((k, v, v2, t as u32, t as u32));
                    }
                }
            }
        }
        sources.push((Source::WritesFollowReads, wfr));
    }
    if inference.sequential_keys {
        sources.push((
            Source::SequentialKeys,
            sequential_facts(ops, tx, &ix, inference.wfr_keys),
        ));
    }
    if inference.linearizable_keys {
        sources.push((
            Source::LinearizableKeys,
            linearizable_facts(ops, tx, &ix, inference.wfr_keys),
        ));
    }
    for (source, facts) in sources {
        let cyclic = cyclic_keys(ops, tx, &ix.versions, source, &facts, cases);
        for &(k, v1, v2, _, _) in &facts {
            if !cyclic.contains(&k) && v1 != NIL {
                ix.versions.entry((k, v1, v2)).or_insert(source);
            }
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
    for &(k, v1, v2) in ix.versions.keys() {
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

/// The first and the last value of key `k` transaction `t` touched externally (its external
/// read, else its write; its last write, else its read), if it touched `k`.
fn first_last(ix: &RegisterIndex, t: usize, k: u32) -> Option<(u32, u32)> {
    let read = ix.ext_reads[t].iter().find(|r| r.0 == k).map(|r| r.1);
    let write = ix.ext_writes[t].iter().find(|w| w.0 == k).map(|w| w.1);
    match (read, write) {
        (Some(r), Some(w)) => Some((r, w)),
        (Some(r), None) => Some((r, r)),
        (None, Some(w)) => Some((w, w)),
        (None, None) => None,
    }
}

/// The keys committed transaction `t` touched externally (reads and writes).
fn keys_of(ix: &RegisterIndex, t: usize) -> Vec<u32> {
    let mut keys: Vec<u32> = ix.ext_reads[t].iter().map(|r| r.0).collect();
    for w in &ix.ext_writes[t] {
        if !keys.contains(&w.0) {
            keys.push(w.0);
        }
    }
    keys
}

/// Links the open predecessors of key `k` to transaction `t`'s first value of `k`, then
/// opens `t`: it replaces them when its first and last values are ordered (the same value,
/// or writes follow reads assumed), else joins them (a later transaction still follows them).
fn link_open(
    open: &mut Vec<(u32, u32)>,
    ix: &RegisterIndex,
    t: usize,
    k: u32,
    wfr: bool,
    facts: &mut Vec<Fact>,
) {
    let Some((first, last)) = first_last(ix, t, k) else {
        return;
    };
    for &(a, v1) in open.iter() {
        if v1 != first {
            facts.push((k, v1, first, a, t as u32));
        }
    }
    if first == last || wfr {
        open.clear();
    } else if open.len() >= OPEN_CAP {
        open.remove(0);
    }
    open.push((t as u32, last));
}

/// `--sequential-keys`: along each process's committed transactions (in invocation order),
/// the last value of a key one touched precedes the first value of that key the next one on
/// the key touched.
fn sequential_facts(ops: &[Operation], tx: &Txns, ix: &RegisterIndex, wfr: bool) -> Vec<Fact> {
    let mut facts = Vec::new();
    let mut open: HashMap<(&Process, u32), Vec<(u32, u32)>> = HashMap::new();
    for (t, txn) in tx.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let Some(p) = ops[txn.op].process.as_ref() else {
            continue;
        };
        for k in keys_of(ix, t) {
            let o = open.entry((p, k)).or_default();
            link_open(o, ix, t, k, wfr, &mut facts);
        }
    }
    facts
}

/// `--linearizable-keys`: the last value of a key a committed transaction touched precedes
/// the first value of that key every committed transaction invoked after it completed
/// touched. One sweep over invocations and completions in file order keeps, per key, the
/// completed transactions no later one on the key has superseded (transitively reduced, as
/// the realtime edges of [`super::order`]).
fn linearizable_facts(ops: &[Operation], tx: &Txns, ix: &RegisterIndex, wfr: bool) -> Vec<Fact> {
    // (position, is completion, txn)
    let mut events: Vec<(usize, bool, u32)> = Vec::new();
    for (t, txn) in tx.txns.iter().enumerate() {
        let op = &ops[txn.op];
        if let (Outcome::Ok, Some(c)) = (txn.outcome, op.complete) {
            events.push((op.invoke, false, t as u32));
            events.push((c, true, t as u32));
        }
    }
    events.sort_unstable();
    let mut facts = Vec::new();
    // Per key: the completed transactions open as predecessors, with their last value.
    let mut frontier: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
    // Per (txn, key): the frontier it saw when invoked (what its completion supersedes).
    let mut before: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
    for (_, done, t) in events {
        let ti = t as usize;
        for k in keys_of(ix, ti) {
            let Some((first, last)) = first_last(ix, ti, k) else {
                continue;
            };
            let f = frontier.entry(k).or_default();
            if !done {
                for &(a, v1) in f.iter() {
                    if v1 != first {
                        facts.push((k, v1, first, a, t));
                    }
                }
                before.insert((t, k), f.iter().map(|x| x.0).collect());
            } else {
                let seen = before.remove(&(t, k)).unwrap_or_default();
                if first == last || wfr {
                    f.retain(|x| !seen.contains(&x.0));
                }
                if f.len() >= OPEN_CAP {
                    f.remove(0);
                }
                f.push((t, last));
            }
        }
    }
    facts
}

/// Keys on which `facts` (from `source`), with the facts already kept and "`nil` precedes
/// every value", order the versions in a cycle: reported as cyclic-versions.
fn cyclic_keys(
    ops: &[Operation],
    tx: &Txns,
    kept: &HashMap<(u32, u32, u32), Source>,
    source: Source,
    facts: &[Fact],
    cases: &mut Cases,
) -> HashSet<u32> {
    let mut ids: HashMap<(u32, u32), u32> = HashMap::new();
    let mut g: DiGraph<(u32, u32), (u32, u32), u32> = DiGraph::new();
    let mut node = |g: &mut DiGraph<(u32, u32), (u32, u32), u32>, k: u32, v: u32| {
        *ids.entry((k, v))
            .or_insert_with(|| g.add_node((k, v)).index() as u32)
    };
    let touched: HashSet<u32> = facts.iter().map(|f| f.0).collect();
    let mut add = |g: &mut DiGraph<(u32, u32), (u32, u32), u32>, k, v1, v2, w: (u32, u32)| {
        let a = node(g, k, v1);
        let b = node(g, k, v2);
        g.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), w);
        // nil precedes every value.
        for v in [v1, v2] {
            if v != NIL {
                let z = node(g, k, NIL);
                let x = node(g, k, v);
                g.add_edge(
                    NodeIndex::new(z as usize),
                    NodeIndex::new(x as usize),
                    (u32::MAX, u32::MAX),
                );
            }
        }
    };
    for &(k, v1, v2) in kept.keys() {
        if touched.contains(&k) {
            add(&mut g, k, v1, v2, (u32::MAX, u32::MAX));
        }
    }
    for &(k, v1, v2, a, b) in facts {
        add(&mut g, k, v1, v2, (a, b));
    }
    let mut bad = HashSet::new();
    for scc in kosaraju_scc(&g) {
        if scc.len() < 2 {
            continue;
        }
        let k = g[scc[0]].0;
        if !bad.insert(k) {
            continue;
        }
        let mut values: Vec<u32> = scc.iter().map(|&x| g[x].1).collect();
        values.sort_unstable();
        let key = tx.keys.show(k);
        let in_scc: HashSet<_> = scc.iter().copied().collect();
        let mut witnesses: Vec<u32> = scc
            .iter()
            .flat_map(|&x| {
                g.edges(x)
                    .filter(|e| in_scc.contains(&e.target()))
                    .map(|e| *e.weight())
                    .collect::<Vec<_>>()
            })
            .filter(|w| w.0 != u32::MAX)
            .flat_map(|(a, b)| [a, b])
            .collect();
        witnesses.dedup();
        let mut names: Vec<String> = Vec::new();
        for t in witnesses {
            let name = txn_name(ops, tx, t);
            if !names.contains(&name) && names.len() < 4 {
                names.push(name);
            }
        }
        let mut assumed: Vec<&str> = kept
            .iter()
            .filter(|((kk, _, _), _)| *kk == k)
            .map(|(_, s)| s.flag())
            .collect();
        assumed.push(source.flag());
        assumed.sort_unstable();
        assumed.dedup();
        cases.add_with("cyclic-versions", || {
            (
                format!(
                    "cyclic versions: on key {key}, the version order {} infer ({}) puts the values {} in a cycle (nil first always); facts from {} about key {key} are dropped",
                    assumed.join(" and "),
                    names.join(", "),
                    show_list(tx, &values),
                    source.flag()
                ),
                json!({"key": key, "values": values.iter().map(|&v| tx.values.show(v)).collect::<Vec<_>>(), "sources": assumed}),
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
            let source = ix.versions.get(&(k, v1, v2))?;
            let key = tx.keys.show(k);
            Some((key.clone(), format!(
                "{na} < {nb} because {na} wrote key {key} = {} and {nb} wrote {}, {}",
                show(v1), show(v2), source.reason(&show(v1), &show(v2)))))
        }),
        _ => ix.ext_reads[a as usize].iter().find_map(|&(k, v1)| {
            let &(_, v2) = ix.ext_writes[b as usize].iter().find(|w| w.0 == k)?;
            let key = tx.keys.show(k);
            if v1 == NIL {
                Some((key.clone(), format!(
                    "{na} < {nb} because {na} read key {key} = nil (the initial state) and {nb} wrote {} to it", show(v2))))
            } else {
                ix.versions.get(&(k, v1, v2)).map(|source| {
                    (
                        key.clone(),
                        format!(
                            "{na} < {nb} because {na} read key {key} = {} and {nb} wrote {}, {}",
                            show(v1),
                            show(v2),
                            source.reason(&show(v1), &show(v2))
                        ),
                    )
                })
            }
        }),
    }
}
