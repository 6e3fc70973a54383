//! The dependency graph between transactions and the search for named cycles in it.
//!
//! Inference (list-append or rw-register) emits typed edges (ww, wr, rw, process, realtime);
//! they are built once into a petgraph graph with `u32` indices. Strongly connected components
//! come first (Kosaraju, iterative): only transactions in a non-trivial component can be on a
//! cycle. Within each component, each anomaly class is searched in order of severity by a
//! breadth-first search over (transaction, small path state) — allowed edge kinds, how many rw
//! edges so far, whether the last edge was rw, whether the required kinds were used — from
//! "anchor" edges of the kind the class needs, so the first cycle found through an anchor is a
//! shortest one of that class. Each component has its own time budget (`--cycle-search-timeout`,
//! Elle's `:cycle-search-timeout`): when it runs out, the classes not yet searched there are
//! recorded as [`Unsearched`] and the search goes on with the next component. Work is also
//! bounded by a step budget (a backstop) and the check's wall-clock and memory limits; a class
//! whose search ran out is reported as incomplete, never as absent.

use super::consistency;
use super::cycle_search::Local;
use crate::budget::Budget;
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Write-write dependency: the second transaction overwrote (appended after) the first.
pub const WW: u8 = 1;
/// Write-read dependency: the second transaction read the first one's write.
pub const WR: u8 = 2;
/// Read-write anti-dependency: the second transaction overwrote what the first read.
pub const RW: u8 = 4;
/// Process order: the same process ran the second transaction next.
pub const PROCESS: u8 = 8;
/// Real-time order: the first completed before the second was invoked.
pub const REALTIME: u8 = 16;

/// The name of one edge kind.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        _ => "realtime",
    }
}

/// One typed edge between transactions (indices into the transaction list).
pub type Edge = (u32, u32, u8);

/// How rw edges may appear in a cycle of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RwMode {
    None,
    Single,
    Nonadjacent,
    Multiple,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) allowed: u8,
    pub(super) rw: RwMode,
    pub(super) need_wr: bool,
    pub(super) variant: u8,
}

const BASE: &[(&str, u8, RwMode, bool)] = &[
    ("G0", WW, RwMode::None, false),
    ("G1c", WW | WR, RwMode::None, true),
    ("G-single-item", WW | WR, RwMode::Single, false),
    ("G-nonadjacent-item", WW | WR, RwMode::Nonadjacent, false),
    ("G2-item", WW | WR, RwMode::Multiple, false),
];

fn specs() -> Vec<Spec> {
    let mut out = Vec::new();
    for (variant, suffix) in [(0u8, ""), (PROCESS, "-process"), (REALTIME, "-realtime")] {
        for &(base, allowed, rw, need_wr) in BASE {
            let name: &'static str = match suffix {
                "" => base,
                _ => Box::leak(format!("{base}{suffix}").into_boxed_str()),
            };
            out.push(Spec {
                name,
                allowed: allowed | variant,
                rw,
                need_wr,
                variant,
            });
        }
    }
    out
}

/// The class of a cycle, from the kinds of its edges, named as Elle names cycles whose
/// anti-dependencies are all on items (keys): one rw → G-single-item, several with none
/// adjacent → G-nonadjacent-item, several with two adjacent → G2-item, else wr → G1c, else
/// G0; `-realtime` if a realtime edge is used, else `-process` if a process edge is.
pub fn classify(kinds: &[u8]) -> String {
    let rw = kinds.iter().filter(|&&k| k == RW).count();
    let n = kinds.len();
    let adjacent = (0..n).any(|i| kinds[i] == RW && kinds[(i + 1) % n] == RW);
    let base = if rw == 1 {
        "G-single-item"
    } else if rw > 1 {
        if adjacent {
            "G2-item"
        } else {
            "G-nonadjacent-item"
        }
    } else if kinds.contains(&WR) {
        "G1c"
    } else {
        "G0"
    };
    let suffix = if kinds.contains(&REALTIME) {
        "-realtime"
    } else if kinds.contains(&PROCESS) {
        "-process"
    } else {
        ""
    };
    format!("{base}{suffix}")
}

/// A cycle found: its class and its edges in order (each edge's target is the next's source).
#[derive(Debug, Clone)]
pub struct Cycle {
    /// The anomaly class (`G-single-item`, `G0-realtime`, …).
    pub name: String,
    /// The edges, in order.
    pub edges: Vec<Edge>,
}

/// A strongly connected component whose own cycle-search budget ran out (Elle's
/// `:cycle-search-timeout` anomaly): the classes in `not_searched` are neither found nor ruled
/// out there.
#[derive(Debug, Clone)]
pub struct Unsearched {
    /// How many transactions the component holds.
    pub scc_size: usize,
    /// Its first few transactions (lowest indices), to find it in the history.
    pub sample: Vec<u32>,
    /// The class whose search the budget stopped (Elle's `:anomaly-spec-type`).
    pub searching: String,
    /// Every class left unsearched in this component, in search order (`searching` first).
    pub not_searched: Vec<String>,
    /// Classes searched to the end in this component without a cycle (Elle's
    /// `:does-not-contain`).
    pub does_not_contain: Vec<String>,
}

/// How many transactions of a timed-out component are named in the report.
const SAMPLE: usize = 5;

/// What the cycle search found.
#[derive(Debug, Default)]
pub struct Found {
    /// Cycles, at most a few per class.
    pub cycles: Vec<Cycle>,
    /// Classes whose search ran out of the step budget or the check's limits in some component
    /// (with that component's size).
    pub incomplete: Vec<(String, usize)>,
    /// Components whose own cycle-search budget ran out.
    pub unsearched: Vec<Unsearched>,
    /// Number of non-trivial strongly connected components.
    pub sccs: usize,
    /// Size of the largest one.
    pub largest_scc: usize,
    /// True when the wall-clock limit stopped the search.
    pub timed_out: bool,
    /// True when the memory budget stopped the search.
    pub out_of_memory: bool,
}

/// What the cycle search may spend: caps of its own, and the check's [`Budget`].
#[derive(Debug, Clone)]
pub struct Caps {
    /// At most this many cycles reported per class.
    pub per_class: usize,
    /// Search steps (edges examined) allowed per class and component.
    pub steps: u64,
    /// The time the searches of one component may take together (none: no limit of its own).
    pub per_component: Option<Duration>,
    /// The check's time and memory limits.
    pub budget: Budget,
}

/// Builds the graph over `n` transactions and searches every component for the classes named
/// in `wanted`.
pub fn search(n: usize, edges: &[Edge], wanted: &BTreeSet<&str>, limits: Caps) -> Found {
    // Only transactions that survive trimming (repeatedly dropping those with no incoming or
    // no outgoing edge) can be on a cycle; a serializable history trims to nothing.
    let core = cyclic_core(n, edges);
    let mut index = vec![u32::MAX; n];
    let mut g: DiGraph<u32, u8, u32> = DiGraph::new();
    for (t, _) in core.iter().enumerate().filter(|(_, &c)| c) {
        index[t] = g.add_node(t as u32).index() as u32;
    }
    for &(a, b, k) in edges {
        let (ia, ib) = (index[a as usize], index[b as usize]);
        if a != b && ia != u32::MAX && ib != u32::MAX {
            g.add_edge(NodeIndex::new(ia as usize), NodeIndex::new(ib as usize), k);
        }
    }
    drop(index);
    let present: u8 = edges.iter().fold(0, |m, e| m | e.2);
    let specs: Vec<Spec> = specs()
        .into_iter()
        .filter(|s| wanted.contains(s.name) && (s.variant == 0 || present & s.variant != 0))
        .collect();
    let mut found = Found::default();
    let mut per_class: hashbrown::HashMap<String, usize> = hashbrown::HashMap::new();
    let mut sccs: Vec<Vec<NodeIndex<u32>>> = kosaraju_scc(&g)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect();
    sccs.sort_by_key(|c| c.iter().map(|&x| g[x]).min());
    found.sccs = sccs.len();
    found.largest_scc = sccs.iter().map(Vec::len).max().unwrap_or(0);
    let mut local = vec![u32::MAX; g.node_count()];
    for scc in &sccs {
        let deadline = limits.per_component.map(|d| Instant::now() + d);
        let sub = Local::new(&g, scc, &mut local);
        let mut implied: BTreeSet<String> = BTreeSet::new();
        let mut absent: Vec<String> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            if implied.contains(spec.name)
                || per_class.get(spec.name).copied().unwrap_or(0) >= limits.per_class
            {
                continue;
            }
            if limits.budget.time_exceeded() || limits.budget.memory_exceeded() {
                found.incomplete.push((spec.name.to_string(), scc.len()));
                if limits.budget.memory_exceeded() {
                    found.out_of_memory = true;
                } else {
                    found.timed_out = true;
                }
                break;
            }
            let outcome = if deadline.is_some_and(|d| Instant::now() >= d) {
                Outcome::OutOfComponentTime
            } else {
                sub.find(spec, &limits, deadline)
            };
            match outcome {
                Outcome::Found(c) => {
                    let mut c = simple_part(c, spec.name);
                    let first = (0..c.len()).min_by_key(|&i| c[i].0).unwrap_or(0);
                    c.rotate_left(first);
                    let name = classify(&c.iter().map(|e| e.2).collect::<Vec<_>>());
                    *per_class.entry(name.clone()).or_default() += 1;
                    for a in consistency::implied_anomalies([name.as_str()]) {
                        implied.insert(a.to_string());
                    }
                    found.cycles.push(Cycle { name, edges: c });
                }
                Outcome::Absent => absent.push(spec.name.to_string()),
                Outcome::OutOfComponentTime => {
                    let not_searched: Vec<String> = specs[i..]
                        .iter()
                        .filter(|s| {
                            !implied.contains(s.name)
                                && per_class.get(s.name).copied().unwrap_or(0) < limits.per_class
                        })
                        .map(|s| s.name.to_string())
                        .collect();
                    let mut sample: Vec<u32> = scc.iter().map(|&x| g[x]).collect();
                    sample.sort_unstable();
                    sample.truncate(SAMPLE);
                    found.unsearched.push(Unsearched {
                        scc_size: scc.len(),
                        sample,
                        searching: spec.name.to_string(),
                        not_searched,
                        does_not_contain: std::mem::take(&mut absent),
                    });
                    break;
                }
                Outcome::OutOfBudget => {
                    found.incomplete.push((spec.name.to_string(), scc.len()));
                }
                Outcome::OutOfTime => {
                    found.incomplete.push((spec.name.to_string(), scc.len()));
                    found.timed_out = true;
                    break;
                }
                Outcome::OutOfMemory => {
                    found.incomplete.push((spec.name.to_string(), scc.len()));
                    found.out_of_memory = true;
                    break;
                }
            }
        }
        for &x in scc {
            local[x.index()] = u32::MAX;
        }
        if found.timed_out || found.out_of_memory {
            break;
        }
    }
    found
}

/// A closed walk found by the product-state search may pass a transaction twice. Splits it at
/// repeated transactions into simple cycles and returns one of class `name` if there is one,
/// else the walk itself (still a valid witness: each edge is a dependency).
fn simple_part(walk: Vec<Edge>, name: &str) -> Vec<Edge> {
    let mut pending = vec![walk.clone()];
    while let Some(w) = pending.pop() {
        let repeat =
            (0..w.len()).find_map(|i| (i + 1..w.len()).find(|&j| w[j].0 == w[i].0).map(|j| (i, j)));
        match repeat {
            None => {
                if classify(&w.iter().map(|e| e.2).collect::<Vec<_>>()) == name {
                    return w;
                }
            }
            Some((i, j)) => {
                let inner = w[i..j].to_vec();
                let mut outer = w[..i].to_vec();
                outer.extend_from_slice(&w[j..]);
                pending.push(inner);
                pending.push(outer);
            }
        }
    }
    walk
}

pub(super) enum Outcome {
    Found(Vec<Edge>),
    Absent,
    /// The component's own cycle-search budget ran out.
    OutOfComponentTime,
    OutOfBudget,
    OutOfTime,
    OutOfMemory,
}

/// Marks the transactions that may lie on a cycle: what remains after repeatedly removing
/// those without incoming edges, then those without outgoing edges (Kahn-style, linear).
fn cyclic_core(n: usize, edges: &[Edge]) -> Vec<bool> {
    let mut alive = vec![true; n];
    for forward in [true, false] {
        // CSR of the edges in the direction we peel along, among live nodes.
        let mut start = vec![0u32; n + 1];
        let mut degree = vec![0u32; n];
        for &(a, b, _) in edges {
            let (from, to) = if forward { (a, b) } else { (b, a) };
            if from != to && alive[from as usize] && alive[to as usize] {
                start[from as usize + 1] += 1;
                degree[to as usize] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut next = vec![0u32; start[n] as usize];
        for &(a, b, _) in edges {
            let (from, to) = if forward { (a, b) } else { (b, a) };
            if from != to && alive[from as usize] && alive[to as usize] {
                next[fill[from as usize] as usize] = to;
                fill[from as usize] += 1;
            }
        }
        let mut stack: Vec<u32> = (0..n as u32)
            .filter(|&t| alive[t as usize] && degree[t as usize] == 0)
            .collect();
        while let Some(t) = stack.pop() {
            alive[t as usize] = false;
            for &u in &next[start[t as usize] as usize..start[t as usize + 1] as usize] {
                degree[u as usize] -= 1;
                if degree[u as usize] == 0 {
                    stack.push(u);
                }
            }
        }
    }
    alive
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> BTreeSet<&'static str> {
        specs().iter().map(|s| s.name).collect()
    }

    fn limits() -> Caps {
        Caps {
            per_class: 3,
            steps: 1_000_000,
            per_component: None,
            budget: Budget::unlimited(),
        }
    }

    #[test]
    fn classify_follows_elle() {
        assert_eq!(classify(&[WW, WW]), "G0");
        assert_eq!(classify(&[WW, WR]), "G1c");
        assert_eq!(classify(&[RW, WR]), "G-single-item");
        assert_eq!(classify(&[RW, WR, RW, WW]), "G-nonadjacent-item");
        assert_eq!(classify(&[RW, RW]), "G2-item");
        assert_eq!(classify(&[RW, REALTIME]), "G-single-item-realtime");
        assert_eq!(classify(&[WW, PROCESS]), "G0-process");
    }

    #[test]
    fn finds_the_most_severe_class_per_component() {
        let f = search(2, &[(0, 1, RW), (1, 0, WR)], &wanted(), limits());
        assert_eq!(f.cycles.len(), 1);
        assert_eq!(f.cycles[0].name, "G-single-item");
        let f = search(
            3,
            &[(0, 1, RW), (1, 2, RW), (2, 0, WR)],
            &wanted(),
            limits(),
        );
        assert_eq!(f.cycles[0].name, "G2-item");
    }

    #[test]
    fn nonadjacent_needs_a_separating_edge() {
        let e = [(0, 1, RW), (1, 2, WR), (2, 3, RW), (3, 0, WW)];
        let f = search(4, &e, &wanted(), limits());
        assert_eq!(f.cycles[0].name, "G-nonadjacent-item");
    }

    #[test]
    fn walks_through_a_node_twice_are_split_into_simple_cycles() {
        // 0 -rw-> 1 -ww-> 2 -ww-> 1 -ww-> 0: the simple cycle 0 -rw-> 1 -ww-> 0 is kept.
        let walk = vec![(0, 1, RW), (1, 2, WW), (2, 1, WW), (1, 0, WW)];
        assert_eq!(
            simple_part(walk, "G-single-item"),
            vec![(0, 1, RW), (1, 0, WW)]
        );
    }

    #[test]
    fn a_passed_deadline_leaves_the_search_incomplete_not_absent() {
        let past = Caps {
            budget: Budget::new(Some(std::time::Duration::ZERO), usize::MAX, None),
            ..limits()
        };
        std::thread::sleep(std::time::Duration::from_millis(2));
        let f = search(2, &[(0, 1, RW), (1, 0, WR)], &wanted(), past);
        assert!(f.cycles.is_empty() && f.timed_out);
        assert_eq!(f.incomplete[0].0, "G0");
    }

    #[test]
    fn a_spent_component_budget_leaves_its_classes_unsearched_and_moves_on() {
        let spent = Caps {
            per_component: Some(std::time::Duration::ZERO),
            ..limits()
        };
        // Two components, each a G1c cycle: neither is searched, both are named.
        let e = [(0, 1, WR), (1, 0, WR), (2, 3, WR), (3, 2, WW)];
        let f = search(4, &e, &wanted(), spent);
        assert!(f.cycles.is_empty() && !f.timed_out && f.incomplete.is_empty());
        assert_eq!(f.unsearched.len(), 2);
        assert_eq!(f.unsearched[1].sample, vec![2, 3]);
        assert_eq!(f.unsearched[0].searching, "G0");
        assert!(f.unsearched[0].not_searched.contains(&"G1c".to_string()));
        // With time to spare, the same search finds both cycles and names nothing.
        let f = search(4, &e, &wanted(), limits());
        assert_eq!(f.cycles.len(), 2);
        assert!(f.unsearched.is_empty());
    }

    #[test]
    fn acyclic_graphs_have_no_cycles() {
        let f = search(
            3,
            &[(0, 1, RW), (1, 2, WR), (0, 2, WW)],
            &wanted(),
            limits(),
        );
        assert!(f.cycles.is_empty() && f.incomplete.is_empty());
    }
}
