//! The consistency-model lattice: which models imply which, which anomalies each forbids, and
//! which anomalies imply others. The last step of a transactional check: anomalies found →
//! verdict for the requested models, and the boundary (`not`: the weakest models ruled out,
//! `also_not`: the stronger ones also ruled out), following Adya and Elle.

use crate::error::UsageError;
use std::collections::BTreeSet;

/// `(model, weaker models it implies)`: a history satisfying the model satisfies those too.
const IMPLIES: &[(&str, &[&str])] = &[
    (
        "strict-serializable",
        &[
            "serializable",
            "snapshot-isolation",
            "strong-snapshot-isolation",
            "strong-session-serializable",
        ],
    ),
    (
        "strong-session-serializable",
        &["serializable", "strong-session-snapshot-isolation"],
    ),
    (
        "strong-snapshot-isolation",
        &["strong-session-snapshot-isolation", "strong-read-committed"],
    ),
    (
        "strong-session-snapshot-isolation",
        &["snapshot-isolation", "strong-session-read-committed"],
    ),
    (
        "serializable",
        &[
            "repeatable-read",
            "snapshot-isolation",
            "update-serializable",
        ],
    ),
    (
        "snapshot-isolation",
        &[
            "forward-consistent-view",
            "monotonic-atomic-view",
            "monotonic-snapshot-read",
            "parallel-snapshot-isolation",
            "prefix",
        ],
    ),
    ("update-serializable", &["forward-consistent-view"]),
    ("forward-consistent-view", &["consistent-view"]),
    ("consistent-view", &["cursor-stability", "monotonic-view"]),
    (
        "repeatable-read",
        &["cursor-stability", "monotonic-atomic-view"],
    ),
    ("cursor-stability", &["read-committed"]),
    ("monotonic-view", &["read-committed"]),
    ("monotonic-snapshot-read", &["read-committed"]),
    ("monotonic-atomic-view", &["read-committed"]),
    ("parallel-snapshot-isolation", &["causal-cerone"]),
    ("prefix", &["causal-cerone"]),
    ("causal-cerone", &["read-atomic"]),
    ("read-atomic", &["monotonic-atomic-view"]),
    ("read-committed", &["read-uncommitted"]),
    (
        "strong-read-committed",
        &["strong-session-read-committed", "strong-read-uncommitted"],
    ),
    (
        "strong-session-read-committed",
        &["read-committed", "strong-session-read-uncommitted"],
    ),
    (
        "strong-read-uncommitted",
        &["strong-session-read-uncommitted"],
    ),
    ("strong-session-read-uncommitted", &["read-uncommitted"]),
];

/// `(model, anomalies it forbids directly)`; a model also forbids what its implied models
/// forbid, and every anomaly that implies a forbidden one.
const FORBIDS: &[(&str, &[&str])] = &[
    (
        "read-uncommitted",
        &[
            "G0",
            "duplicate-elements",
            "cyclic-versions",
            "garbage-read",
            "reordered-appends",
        ],
    ),
    ("read-committed", &["G1"]),
    ("cursor-stability", &["G1", "lost-update"]),
    ("monotonic-view", &["G1"]),
    ("monotonic-snapshot-read", &["G1"]),
    ("consistent-view", &["G1", "G-single"]),
    ("forward-consistent-view", &["G1"]),
    ("update-serializable", &["G1"]),
    ("repeatable-read", &["G1", "G2-item", "lost-update"]),
    ("snapshot-isolation", &["internal", "G1", "G-nonadjacent"]),
    ("serializable", &["internal", "G1", "G2"]),
    (
        "strict-serializable",
        &["G1", "G1c-realtime", "G2-realtime"],
    ),
    ("strong-session-read-uncommitted", &["G0-process"]),
    ("strong-session-read-committed", &["G1c-process"]),
    ("strong-read-uncommitted", &["G0-realtime"]),
    ("strong-read-committed", &["G1c-realtime"]),
    (
        "strong-session-snapshot-isolation",
        &["internal", "G1-process", "G-nonadjacent-process"],
    ),
    (
        "strong-snapshot-isolation",
        &["internal", "G1-realtime", "G-nonadjacent-realtime"],
    ),
    ("strong-session-serializable", &["G1-process", "G2-process"]),
    ("read-atomic", &["internal", "G1a"]),
    ("causal-cerone", &["internal", "G1a"]),
    ("parallel-snapshot-isolation", &["internal", "G1a"]),
    ("prefix", &["internal", "G1a"]),
];

/// `(anomaly, anomalies it implies)`. Follows Elle's graph, plus: since every anti-dependency
/// this checker infers is on an item (a key), G-single and G-nonadjacent cycles are also
/// G2-item cycles (Adya's G2-item: a cycle with an item anti-dependency).
const ANOMALY_IMPLIES: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    (
        "G-single",
        &["G-nonadjacent", "G-single-process", "G2-item"],
    ),
    (
        "G-single-process",
        &[
            "G-nonadjacent-process",
            "G-single-realtime",
            "G2-item-process",
        ],
    ),
    (
        "G-single-realtime",
        &["G-nonadjacent-realtime", "G2-item-realtime"],
    ),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process", "G2-item"]),
    (
        "G-nonadjacent-process",
        &["G2-process", "G-nonadjacent-realtime", "G2-item-process"],
    ),
    (
        "G-nonadjacent-realtime",
        &["G2-realtime", "G2-item-realtime"],
    ),
    ("G2", &["G2-process"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2-process", &["G2-realtime"]),
    ("incompatible-order", &["G1a"]),
    // Elle: a future read is a trivial wr cycle of one transaction with itself, so G1c.
    ("future-read", &["G1c"]),
    ("dirty-update", &["G1a"]),
    ("lost-update", &["G2-item"]),
];

/// The models `--consistency` accepts, strongest first.
pub fn known_models() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = Vec::new();
    for (m, ws) in IMPLIES {
        for x in std::iter::once(m).chain(ws.iter()) {
            if !all.contains(x) {
                all.push(x);
            }
        }
    }
    all
}

fn closure<'a>(
    start: impl IntoIterator<Item = &'a str>,
    step: impl Fn(&str) -> Vec<&'a str>,
) -> BTreeSet<&'a str> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<&str> = start.into_iter().collect();
    while let Some(x) = stack.pop() {
        if seen.insert(x) {
            stack.extend(step(x));
        }
    }
    seen
}

fn weaker(m: &str) -> Vec<&'static str> {
    IMPLIES
        .iter()
        .filter(|(s, _)| *s == m)
        .flat_map(|(_, ws)| ws.iter().copied())
        .collect()
}

fn stronger(m: &str) -> Vec<&'static str> {
    IMPLIES
        .iter()
        .filter(|(_, ws)| ws.contains(&m))
        .map(|(s, _)| *s)
        .collect()
}

/// Every anomaly implied by the given ones (including themselves).
pub fn implied_anomalies<'a>(anomalies: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    closure(anomalies, |a| {
        ANOMALY_IMPLIES
            .iter()
            .filter(|(x, _)| *x == a)
            .flat_map(|(_, ys)| ys.iter().copied())
            .collect()
    })
}

/// Every anomaly that would violate at least one of `models`.
pub fn prohibited(models: &[String]) -> BTreeSet<&'static str> {
    let implied = closure(models.iter().filter_map(|m| canonical(m)), weaker);
    let direct: Vec<&'static str> = FORBIDS
        .iter()
        .filter(|(m, _)| implied.contains(m))
        .flat_map(|(_, xs)| xs.iter().copied())
        .collect();
    closure(direct, |a| {
        ANOMALY_IMPLIES
            .iter()
            .filter(|(_, ys)| ys.contains(&a))
            .map(|(x, _)| *x)
            .collect()
    })
}

fn canonical(name: &str) -> Option<&'static str> {
    known_models().into_iter().find(|m| *m == name)
}

/// The models ruled out by `anomalies`: `(not, also_not)` where `not` holds the weakest models
/// ruled out and `also_not` the stronger ones, both sorted.
pub fn boundary(anomalies: &[String]) -> (Vec<String>, Vec<String>) {
    let implied = implied_anomalies(anomalies.iter().map(String::as_str));
    let direct: Vec<&'static str> = FORBIDS
        .iter()
        .filter(|(_, xs)| xs.iter().any(|x| implied.contains(x)))
        .map(|(m, _)| *m)
        .collect();
    let impossible = closure(direct, stronger);
    let mut not = Vec::new();
    let mut also = Vec::new();
    for m in &impossible {
        let below = closure(weaker(m), weaker);
        if below.iter().any(|w| impossible.contains(w)) {
            also.push(m.to_string());
        } else {
            not.push(m.to_string());
        }
    }
    (not, also)
}

/// Validates a model name; the error lists the names accepted.
pub fn parse(name: &str) -> Result<(), UsageError> {
    if canonical(name).is_some() {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "unknown consistency model {name:?}; expected one of: {}",
            known_models().join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g2_item_rules_out_repeatable_read_first() {
        let (not, also) = boundary(&["G2-item".to_string()]);
        assert_eq!(not, vec!["repeatable-read".to_string()]);
        assert!(also.contains(&"serializable".to_string()));
        assert!(!also.contains(&"snapshot-isolation".to_string()));
    }

    #[test]
    fn snapshot_isolation_allows_g2_item_but_not_g_single() {
        let p = prohibited(&["snapshot-isolation".to_string()]);
        assert!(!p.contains("G2-item"));
        assert!(p.contains("G-single"));
        assert!(p.contains("G0"));
        assert!(p.contains("G1a"));
    }

    #[test]
    fn future_read_rules_out_read_committed_and_reordered_appends_read_uncommitted() {
        let (not, _) = boundary(&["future-read".to_string()]);
        assert!(not.contains(&"read-committed".to_string()), "{not:?}");
        assert!(prohibited(&["read-committed".to_string()]).contains("future-read"));
        assert!(!prohibited(&["read-uncommitted".to_string()]).contains("future-read"));
        let (not, _) = boundary(&["reordered-appends".to_string()]);
        assert_eq!(not, vec!["read-uncommitted".to_string()]);
    }

    #[test]
    fn strict_serializable_forbids_realtime_cycles() {
        let p = prohibited(&["strict-serializable".to_string()]);
        for a in [
            "G-single-realtime",
            "G2-item-realtime",
            "G0-realtime",
            "G1c-process",
        ] {
            assert!(p.contains(a), "{a}");
        }
        let s = prohibited(&["serializable".to_string()]);
        assert!(!s.contains("G-single-realtime"));
    }
}
