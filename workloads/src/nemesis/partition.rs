//! Shapes of network partitions: which pairs of nodes to cut, chosen from a seeded RNG.
//!
//! Used by [`super::Nemesis`] when it plans a `start-partition`; the resulting pairs go to
//! [`crate::target::demo::cluster::Cluster::partition`].

use checkers::Rng;
use serde_json::{json, Value};

/// The shape of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKind {
    /// A random minority cut off from the majority.
    Halves,
    /// One random node cut off from all others.
    Isolate,
    /// Nodes on a random ring, each connected to its nearest neighbours only: every node sees a
    /// majority, but no two see the same one (with 3 nodes: one pair cut).
    MajoritiesRing,
    /// Two halves cut from each other, plus one node connected to both.
    Bridge,
}

impl PartitionKind {
    /// Every kind, in the order the planner draws from.
    pub const ALL: [PartitionKind; 4] = [
        PartitionKind::Halves,
        PartitionKind::Isolate,
        PartitionKind::MajoritiesRing,
        PartitionKind::Bridge,
    ];

    /// The kind's name in histories: `halves`, `isolate`, `majorities-ring`, `bridge`.
    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::Halves => "halves",
            PartitionKind::Isolate => "isolate",
            PartitionKind::MajoritiesRing => "majorities-ring",
            PartitionKind::Bridge => "bridge",
        }
    }
}

/// A planned partition of nodes `1..=n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The shape actually planned (too few nodes for a ring or bridge give `Halves`).
    pub kind: PartitionKind,
    /// For halves, isolate and bridge: the groups cut from each other (sorted ids). For a
    /// ring: every node's view, the nodes it still reaches including itself, `n1`'s first.
    pub groups: Vec<Vec<usize>>,
    /// For a bridge: the node connected to both groups.
    pub bridge: Option<usize>,
    /// The unordered pairs to cut, each `(low, high)`, sorted.
    pub blocked: Vec<(usize, usize)>,
}

impl Partition {
    /// Plans a partition of `kind` over nodes `1..=n` from `rng`.
    pub fn plan(kind: PartitionKind, n: usize, rng: &mut Rng) -> Partition {
        let order = shuffled(n, rng);
        match kind {
            PartitionKind::Isolate if n >= 2 => split(kind, &order[..1], &order[1..], None),
            PartitionKind::MajoritiesRing if n == 3 => ring(&order, Some((order[0], order[1]))),
            PartitionKind::MajoritiesRing if n > 3 => ring(&order, None),
            PartitionKind::Bridge if n >= 3 => {
                let half = 1 + (n - 1) / 2;
                split(kind, &order[1..half], &order[half..], Some(order[0]))
            }
            _ => split(
                PartitionKind::Halves,
                &order[..n / 2],
                &order[n / 2..],
                None,
            ),
        }
    }

    /// The history value: `{"kind": …, "groups": [["n1"], ["n2", "n3"]], "blocked": [["n1",
    /// "n2"], …]}`, plus `"bridge": "n3"` for a bridge.
    pub fn value(&self) -> Value {
        let groups: Vec<Vec<String>> = self.groups.iter().map(|g| names(g)).collect();
        let blocked: Vec<[String; 2]> = self
            .blocked
            .iter()
            .map(|&(a, b)| [format!("n{a}"), format!("n{b}")])
            .collect();
        let mut value = json!({"kind": self.kind.name(), "groups": groups, "blocked": blocked});
        if let Some(b) = self.bridge {
            value["bridge"] = json!(format!("n{b}"));
        }
        value
    }

    /// One line for a progress bar, e.g. `partition n1 | n2 n3`.
    pub fn summary(&self) -> String {
        match self.kind {
            PartitionKind::MajoritiesRing => {
                let cuts: Vec<String> = self
                    .blocked
                    .iter()
                    .map(|&(a, b)| format!("n{a}-n{b}"))
                    .collect();
                format!("partition ring, cut {}", cuts.join(" "))
            }
            _ => {
                let groups: Vec<String> = self.groups.iter().map(|g| names(g).join(" ")).collect();
                match self.bridge {
                    Some(b) => format!("partition {} (bridge n{b})", groups.join(" | ")),
                    None => format!("partition {}", groups.join(" | ")),
                }
            }
        }
    }
}

/// `n1`, `n2`, … for the given ids.
fn names(ids: &[usize]) -> Vec<String> {
    ids.iter().map(|i| format!("n{i}")).collect()
}

/// Ids `1..=n` in a random order (Fisher–Yates).
fn shuffled(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut ids: Vec<usize> = (1..=n).collect();
    for k in (1..n).rev() {
        let j = rng.below(k as u64 + 1) as usize;
        ids.swap(k, j);
    }
    ids
}

/// Two groups cut from each other (an optional bridge node stays connected to both).
fn split(kind: PartitionKind, a: &[usize], b: &[usize], bridge: Option<usize>) -> Partition {
    let mut blocked: Vec<(usize, usize)> = a
        .iter()
        .flat_map(|&x| b.iter().map(move |&y| (x.min(y), x.max(y))))
        .collect();
    blocked.sort_unstable();
    let mut groups = vec![a.to_vec(), b.to_vec()];
    for g in &mut groups {
        g.sort_unstable();
    }
    groups.retain(|g| !g.is_empty());
    Partition {
        kind,
        groups,
        bridge,
        blocked,
    }
}

/// Nodes on a ring in `order`, each reaching those within ring distance `d` (the smallest
/// that makes a majority), or only the one `cut` pair blocked (3 nodes).
fn ring(order: &[usize], cut: Option<(usize, usize)>) -> Partition {
    let n = order.len();
    // A node sees itself and `reach` neighbours on each side: 1 + 2·reach ≥ majority.
    let majority = n / 2 + 1;
    let reach = majority / 2;
    let mut blocked = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let distance = (j - i).min(n - (j - i));
            let (a, b) = (order[i].min(order[j]), order[i].max(order[j]));
            let cut_here = match cut {
                Some((x, y)) => (a, b) == (x.min(y), x.max(y)),
                None => distance > reach,
            };
            if cut_here {
                blocked.push((a, b));
            }
        }
    }
    blocked.sort_unstable();
    let groups = (1..=n)
        .map(|me| {
            (1..=n)
                .filter(|&other| !blocked.contains(&(me.min(other), me.max(other))))
                .collect()
        })
        .collect();
    Partition {
        kind: PartitionKind::MajoritiesRing,
        groups,
        bridge: None,
        blocked,
    }
}
