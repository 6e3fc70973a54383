//! The breadth-first search for a shortest cycle of one anomaly class inside one strongly
//! connected component, over (transaction, path state): how many rw edges so far (0, 1, 2+),
//! whether the last edge was rw, whether a wr and a process/realtime edge were used. Starts
//! from anchor edges of the kind the class needs; bounded by a step budget (a backstop), the
//! component's own deadline (`--cycle-search-timeout`), the check's deadline and the memory
//! budget.

use super::graph::{Caps, Edge, Outcome, RwMode, Spec, RW, WR};
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use std::time::Instant;

/// Visited search states with their parent (state, edge kind): flat arrays with generation
/// stamps for components up to a few hundred thousand states, a hash map beyond (memory then
/// grows with the states actually visited, which the step budget bounds).
enum Visited {
    Dense {
        stamp: Vec<u32>,
        parent: Vec<(u32, u8)>,
        generation: u32,
    },
    Sparse(hashbrown::HashMap<u32, (u32, u8)>),
}

impl Visited {
    fn new(states: usize) -> Visited {
        if states <= 1 << 22 {
            Visited::Dense {
                stamp: vec![0; states],
                parent: vec![(0, 0); states],
                generation: 0,
            }
        } else {
            Visited::Sparse(hashbrown::HashMap::new())
        }
    }

    fn reset(&mut self) {
        match self {
            Visited::Dense { generation, .. } => *generation += 1,
            Visited::Sparse(m) => m.clear(),
        }
    }

    fn has(&self, i: usize) -> bool {
        match self {
            Visited::Dense {
                stamp, generation, ..
            } => stamp[i] == *generation,
            Visited::Sparse(m) => m.contains_key(&(i as u32)),
        }
    }

    fn mark(&mut self, i: usize, p: (u32, u8)) {
        match self {
            Visited::Dense {
                stamp,
                parent,
                generation,
            } => {
                stamp[i] = *generation;
                parent[i] = p;
            }
            Visited::Sparse(m) => {
                m.insert(i as u32, p);
            }
        }
    }

    fn parent(&self, i: usize) -> (u32, u8) {
        match self {
            Visited::Dense { parent, .. } => parent[i],
            Visited::Sparse(m) => m[&(i as u32)],
        }
    }
}

/// One component as its own small graph (local indices; node weight = global index).
pub(super) struct Local {
    g: DiGraph<u32, u8, u32>,
}

const STATES: usize = 24;

fn state(cnt: u8, last_rw: bool, wr: bool, var: bool) -> usize {
    cnt as usize * 8 + (last_rw as usize) * 4 + (wr as usize) * 2 + var as usize
}

impl Local {
    pub(super) fn new(
        g: &DiGraph<u32, u8, u32>,
        scc: &[NodeIndex<u32>],
        local: &mut [u32],
    ) -> Local {
        let mut l: DiGraph<u32, u8, u32> = DiGraph::with_capacity(scc.len(), scc.len() * 4);
        for (i, &x) in scc.iter().enumerate() {
            local[x.index()] = i as u32;
            l.add_node(g[x]);
        }
        for &x in scc {
            for e in g.edges(x) {
                let t = local[e.target().index()];
                if t != u32::MAX {
                    l.add_edge(
                        NodeIndex::new(local[x.index()] as usize),
                        NodeIndex::new(t as usize),
                        *e.weight(),
                    );
                }
            }
        }
        Local { g: l }
    }

    /// Searches this component for a shortest cycle of class `spec`; `deadline` is the
    /// component's own cycle-search deadline.
    pub(super) fn find(&self, spec: &Spec, limits: &Caps, deadline: Option<Instant>) -> Outcome {
        let usable = spec.allowed | if spec.rw == RwMode::None { 0 } else { RW };
        // Components of the subgraph of usable edges: an anchor edge must stay inside one.
        let filtered = EdgeFiltered::from_fn(&self.g, |e| e.weight() & usable != 0);
        let mut comp = vec![0u32; self.g.node_count()];
        for (i, c) in kosaraju_scc(&filtered).into_iter().enumerate() {
            for x in c {
                comp[x.index()] = i as u32;
            }
        }
        let anchor_kinds = match spec.rw {
            RwMode::Single | RwMode::Multiple => RW,
            RwMode::Nonadjacent => spec.allowed,
            RwMode::None if spec.variant != 0 => spec.variant,
            RwMode::None if spec.need_wr => WR,
            RwMode::None => spec.allowed,
        };
        let n = self.g.node_count();
        let mut seen = Visited::new(n * STATES);
        let mut queue: Vec<u32> = Vec::new();
        let mut steps = 0u64;
        for e in self.g.edge_references() {
            let (u, v, k) = (e.source().index(), e.target().index(), *e.weight());
            if k & anchor_kinds == 0 || comp[u] != comp[v] {
                continue;
            }
            seen.reset();
            let s0 = state((k == RW) as u8, k == RW, k == WR, k & spec.variant != 0);
            queue.clear();
            let start = (v * STATES + s0) as u32;
            seen.mark(start as usize, (u32::MAX, k));
            queue.push(start);
            let mut head = 0;
            while head < queue.len() {
                let cur = queue[head] as usize;
                head += 1;
                let (node, st) = (cur / STATES, cur % STATES);
                let (cnt, last_rw, wr, var) =
                    ((st / 8) as u8, st & 4 != 0, st & 2 != 0, st & 1 != 0);
                if node == u {
                    let cnt_ok = match spec.rw {
                        RwMode::None => cnt == 0,
                        RwMode::Single => cnt == 1,
                        RwMode::Nonadjacent | RwMode::Multiple => cnt >= 2,
                    };
                    if cnt_ok && (wr || !spec.need_wr) && (var || spec.variant == 0) {
                        return Outcome::Found(self.path(cur, &seen, u, k));
                    }
                    continue;
                }
                for e2 in self.g.edges(NodeIndex::new(node)) {
                    steps += 1;
                    if steps % 65536 == 0 {
                        if limits.budget.time_exceeded() {
                            return Outcome::OutOfTime;
                        }
                        if limits.budget.memory_exceeded() {
                            return Outcome::OutOfMemory;
                        }
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            return Outcome::OutOfComponentTime;
                        }
                    }
                    let k2 = *e2.weight();
                    let t = e2.target().index();
                    if comp[t] != comp[u] {
                        continue;
                    }
                    let next = if k2 == RW {
                        match spec.rw {
                            RwMode::None => continue,
                            RwMode::Single if cnt >= 1 => continue,
                            RwMode::Nonadjacent if last_rw => continue,
                            _ => state((cnt + 1).min(2), true, wr, var),
                        }
                    } else if k2 & spec.allowed != 0 {
                        state(cnt, false, wr || k2 == WR, var || k2 & spec.variant != 0)
                    } else {
                        continue;
                    };
                    let idx = t * STATES + next;
                    if !seen.has(idx) {
                        seen.mark(idx, (cur as u32, k2));
                        queue.push(idx as u32);
                    }
                }
                if steps > limits.steps {
                    return Outcome::OutOfBudget;
                }
            }
        }
        Outcome::Absent
    }

    /// The cycle: anchor edge u→v then the BFS path from v back to u, as global edges.
    fn path(&self, end: usize, seen: &Visited, u: usize, anchor: u8) -> Vec<Edge> {
        let mut rev: Vec<(usize, u8)> = Vec::new();
        let mut cur = end;
        loop {
            let (p, k) = seen.parent(cur);
            if p == u32::MAX {
                break;
            }
            rev.push((cur / STATES, k));
            cur = p as usize;
        }
        let v = cur / STATES;
        let global = |i: usize| self.g[NodeIndex::new(i)];
        let mut edges = vec![(global(u), global(v), anchor)];
        let mut from = v;
        for &(to, k) in rev.iter().rev() {
            edges.push((global(from), global(to), k));
            from = to;
        }
        edges
    }
}
