//! Jepsen's target sets (`--nemesis-targets`): which nodes a partition cuts off (as a
//! [`Grudge`]) and which nodes a packet fault hits, drawn from the seeded RNG.
//!
//! Part of the "run" step: [`super::Schedule`] draws one of the enabled target sets for each
//! partition or packet fault and asks the target only for what it alone knows (its node count,
//! its numbering, which nodes lead now). The classic shapes (`halves`, `isolate`,
//! `majorities-ring`, `bridge`) come from [`super::Partition`] and are expressed as grudges
//! too. Indices here are 0-based; [`Planned`] grudges are shifted to the target's numbering by
//! the schedule.

use std::collections::BTreeSet;

use checkers::Rng;
use serde_json::{json, Value};

use super::{Grudge, Partition, PartitionKind};

/// A set of nodes a fault aims at (`--nemesis-targets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeSet {
    /// One random node (a partition isolates it).
    One,
    /// A random minority (fewer than half; at least one node).
    Minority,
    /// A random majority (a partition cuts it from the rest).
    Majority,
    /// A random third of the nodes, rounded down, at least one.
    MinorityThird,
    /// The nodes that lead (primaries, leaders) now, as the target says.
    Primaries,
    /// Every node (a partition cuts every node from every other).
    All,
    /// A partition shape: a random minority against the majority.
    Halves,
    /// A partition shape: one node cut from all others.
    Isolate,
    /// A partition shape: every node sees a majority, no two the same one.
    MajoritiesRing,
    /// A partition shape: two halves, one node still hearing both.
    Bridge,
    /// A one-way partition: one random node stops hearing every other node, which still hear
    /// it.
    OneWay,
}

/// Why a `--nemesis-targets` list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeSetError {
    /// A name that is not a target set.
    #[error("unknown target set {0:?}; expected a list of {names}", names = NodeSet::names())]
    Unknown(String),
    /// Nothing but blanks.
    #[error("no target sets named; expected a list of {names}", names = NodeSet::names())]
    Empty,
}

impl NodeSet {
    /// Every target set, in `--help` order.
    pub const ALL: [NodeSet; 11] = [
        NodeSet::One,
        NodeSet::Minority,
        NodeSet::Majority,
        NodeSet::MinorityThird,
        NodeSet::Primaries,
        NodeSet::All,
        NodeSet::Halves,
        NodeSet::Isolate,
        NodeSet::MajoritiesRing,
        NodeSet::Bridge,
        NodeSet::OneWay,
    ];

    /// The set's name on the command line and in histories.
    pub fn name(self) -> &'static str {
        match self {
            NodeSet::One => "one",
            NodeSet::Minority => "minority",
            NodeSet::Majority => "majority",
            NodeSet::MinorityThird => "minority-third",
            NodeSet::Primaries => "primaries",
            NodeSet::All => "all",
            NodeSet::Halves => "halves",
            NodeSet::Isolate => "isolate",
            NodeSet::MajoritiesRing => "majorities-ring",
            NodeSet::Bridge => "bridge",
            NodeSet::OneWay => "one-way",
        }
    }

    fn names() -> String {
        NodeSet::ALL.map(NodeSet::name).join(", ")
    }

    /// Parses a comma-separated `--nemesis-targets` list (duplicates count once).
    pub fn parse_list(text: &str) -> Result<Vec<NodeSet>, NodeSetError> {
        let mut out = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let set = NodeSet::ALL
                .into_iter()
                .find(|s| s.name() == word)
                .ok_or_else(|| NodeSetError::Unknown(word.to_string()))?;
            if !out.contains(&set) {
                out.push(set);
            }
        }
        if out.is_empty() {
            return Err(NodeSetError::Empty);
        }
        Ok(out)
    }

    /// Whether the set names nodes (so a packet fault can aim at it), not only a partition
    /// shape.
    pub fn names_nodes(self) -> bool {
        matches!(
            self,
            NodeSet::One
                | NodeSet::Minority
                | NodeSet::Majority
                | NodeSet::MinorityThird
                | NodeSet::Primaries
                | NodeSet::All
        )
    }

    /// The nodes (0-based, sorted) of this set among `n`, `None` for a shape or when the
    /// target names no primaries now.
    pub fn pick(self, n: usize, primaries: Option<&[usize]>, rng: &mut Rng) -> Option<Vec<usize>> {
        let order = shuffled(n, rng);
        let take = |k: usize| {
            let mut v: Vec<usize> = order[..k.min(n)].to_vec();
            v.sort_unstable();
            Some(v)
        };
        match self {
            NodeSet::One => take(1),
            NodeSet::Minority => take(((n.saturating_sub(1)) / 2).max(1)),
            NodeSet::Majority => take(n / 2 + 1),
            NodeSet::MinorityThird => take((n / 3).max(1)),
            NodeSet::All => take(n),
            NodeSet::Primaries => {
                let p: BTreeSet<usize> = primaries?.iter().copied().filter(|&i| i < n).collect();
                (!p.is_empty()).then(|| p.into_iter().collect())
            }
            _ => None,
        }
    }

    /// The partition of this target set over `n` nodes (0-based grudge), with its history
    /// value and progress line; `None` when the set cannot be drawn (no primaries known now,
    /// fewer than two nodes).
    pub fn partition(
        self,
        n: usize,
        primaries: Option<&[usize]>,
        rng: &mut Rng,
    ) -> Option<(Grudge, Value, String)> {
        if n < 2 {
            return None;
        }
        let shape = |kind: PartitionKind, rng: &mut Rng| {
            let p = Partition::plan(kind, n, rng);
            let pairs: Vec<(usize, usize)> =
                p.blocked.iter().map(|&(a, b)| (a - 1, b - 1)).collect();
            (Grudge::from_pairs(&pairs), p.value(), p.summary())
        };
        let (grudge, mut value, summary) = match self {
            NodeSet::Halves => shape(PartitionKind::Halves, rng),
            NodeSet::Isolate => shape(PartitionKind::Isolate, rng),
            NodeSet::MajoritiesRing => shape(PartitionKind::MajoritiesRing, rng),
            NodeSet::Bridge => shape(PartitionKind::Bridge, rng),
            NodeSet::OneWay => {
                let deaf = rng.below(n as u64) as usize;
                let mut g = Grudge::default();
                g.0.insert(deaf, (0..n).filter(|&o| o != deaf).collect());
                let summary = format!("partition one-way: n{} stops hearing the others", deaf + 1);
                (g, json!({}), summary)
            }
            NodeSet::All => {
                let mut g = Grudge::default();
                for a in 0..n {
                    g.0.insert(a, (0..n).filter(|&o| o != a).collect());
                }
                (g, json!({}), "partition all: every node alone".to_string())
            }
            set => {
                let side = set.pick(n, primaries, rng)?;
                if side.len() >= n {
                    return None;
                }
                let rest: Vec<usize> = (0..n).filter(|i| !side.contains(i)).collect();
                let pairs: Vec<(usize, usize)> = side
                    .iter()
                    .flat_map(|&a| rest.iter().map(move |&b| (a.min(b), a.max(b))))
                    .collect();
                let names = |v: &[usize]| {
                    v.iter()
                        .map(|i| format!("n{}", i + 1))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let summary = format!(
                    "partition {}: {} | {}",
                    set.name(),
                    names(&side),
                    names(&rest)
                );
                (Grudge::from_pairs(&pairs), json!({}), summary)
            }
        };
        value["kind"] = json!(self.name());
        Some((grudge, value, summary))
    }
}

/// Indices `0..n` in a random order (Fisher–Yates).
fn shuffled(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..n).collect();
    for k in (1..n).rev() {
        let j = rng.below(k as u64 + 1) as usize;
        ids.swap(k, j);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_sets_cut_the_nodes_they_name() {
        let mut rng = Rng::new(7);
        // Two nodes: a majority is both, so there is no one to cut it from.
        assert!(NodeSet::Majority.partition(2, None, &mut rng).is_none());
        for n in 2..=7 {
            if n > 2 {
                let (g, v, _) = NodeSet::Majority.partition(n, None, &mut rng).unwrap();
                let cut: BTreeSet<usize> = g.0.keys().copied().collect();
                assert_eq!(cut.len(), n, "every node is on one side");
                assert_eq!(v["kind"], "majority");
            }
            let (g, _, _) = NodeSet::One.partition(n, None, &mut rng).unwrap();
            let lonely = g.0.values().filter(|s| s.len() == n - 1).count();
            assert!(lonely >= 1);
            let (g, _, _) = NodeSet::All.partition(n, None, &mut rng).unwrap();
            assert_eq!(g.pairs().len(), n * (n - 1) / 2);
        }
    }

    #[test]
    fn a_one_way_grudge_leaves_the_other_direction_open() {
        let mut rng = Rng::new(3);
        let (g, _, _) = NodeSet::OneWay.partition(3, None, &mut rng).unwrap();
        assert_eq!(g.0.len(), 1, "only one node stops hearing: {g:?}");
        let (&deaf, heard) = g.0.iter().next().unwrap();
        assert_eq!(heard.len(), 2);
        assert!(!heard.contains(&deaf));
        assert!(!g.is_symmetric());
    }

    #[test]
    fn primaries_need_the_target_to_name_them() {
        let mut rng = Rng::new(1);
        assert!(NodeSet::Primaries.partition(3, None, &mut rng).is_none());
        let (g, _, s) = NodeSet::Primaries
            .partition(3, Some(&[1]), &mut rng)
            .unwrap();
        assert_eq!(g.pairs(), vec![(0, 1), (1, 2)]);
        assert!(s.contains("n2 | n1 n3"), "{s}");
    }

    #[test]
    fn unknown_target_sets_are_named() {
        let e = NodeSet::parse_list("one,sideways").unwrap_err();
        assert!(e.to_string().contains("\"sideways\""), "{e}");
        assert_eq!(
            NodeSet::parse_list("one, majority,one").unwrap(),
            vec![NodeSet::One, NodeSet::Majority]
        );
    }
}
