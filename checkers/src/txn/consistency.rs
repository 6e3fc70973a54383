//! The consistency-model lattice: which models imply which, which anomalies each forbids, and
//! which anomalies imply others. The last step of a transactional check: anomalies found →
//! verdict for the requested models, and the boundary (`not`: the weakest models ruled out,
//! `also_not`: the stronger ones also ruled out), following Adya and Elle.

use crate::error::UsageError;
use std::collections::BTreeSet;

/// `(model, weaker models it implies)`: a history satisfying the model satisfies those too.
/// Elle's graph (elle/consistency_model.clj `models`), restricted to the transactional models
/// for which some anomaly can be detected.
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
    (
        "parallel-snapshot-isolation",
        &["causal-cerone", "update-atomic"],
    ),
    ("prefix", &["causal-cerone"]),
    ("causal-cerone", &["read-atomic"]),
    ("update-atomic", &["read-atomic"]),
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

/// Other names Elle accepts for the models above (its canonical Adya names and its friendly
/// synonyms): `(alias, model)`.
const ALIASES: &[(&str, &str)] = &[
    ("conflict-serializable", "serializable"),
    ("PL-3", "serializable"),
    ("strong-serializable", "strict-serializable"),
    ("PL-SS", "strict-serializable"),
    ("PL-SI", "snapshot-isolation"),
    ("PL-2.99", "repeatable-read"),
    ("PL-3U", "update-serializable"),
    ("PL-FCV", "forward-consistent-view"),
    ("PL-2+", "consistent-view"),
    ("PL-CS", "cursor-stability"),
    ("PL-2L", "monotonic-view"),
    ("PL-MSR", "monotonic-snapshot-read"),
    ("PL-2", "read-committed"),
    ("PL-1", "read-uncommitted"),
    ("strong-session-PL-2", "strong-session-read-committed"),
    ("strong-session-PL-1", "strong-session-read-uncommitted"),
    ("strong-PL-2", "strong-read-committed"),
    ("strong-PL-1", "strong-read-uncommitted"),
];

/// Models Elle knows but for which it forbids no anomaly of its own (single-object models,
/// and transactional ones only reached through others): checking one would always pass, so
/// faultline refuses them and says which model to ask for instead.
const VACUOUS: &[(&str, &str)] = &[
    ("view-serializable", "serializable"),
    ("session-serializable", "strong-session-serializable"),
    ("1SR", "serializable"),
    ("ROLA", "update-atomic"),
    ("linearizable", "strict-serializable"),
    ("sequential", "strong-session-serializable"),
    ("causal", "strong-session-serializable"),
    ("PRAM", "strong-session-read-committed"),
    ("writes-follow-reads", "strong-session-read-committed"),
    ("monotonic-reads", "strong-session-read-committed"),
    ("monotonic-writes", "strong-session-read-committed"),
    ("read-your-writes", "strong-session-read-committed"),
];

/// `(model, anomalies it forbids directly)`; a model also forbids what its implied models
/// forbid, and every anomaly that implies one of those (Elle's `direct-proscribed-anomalies`).
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
    ("read-atomic", &["internal", "G1a", "future-read"]),
    ("update-atomic", &["lost-update"]),
    ("causal-cerone", &["internal", "G1a"]),
    ("parallel-snapshot-isolation", &["internal", "G1a"]),
    ("prefix", &["internal", "G1a"]),
];

/// `(anomaly, anomalies it implies)`: Elle's graph (`implied-anomalies`). Cycles are named as
/// Elle names them: every anti-dependency this checker infers is on an item (a key), so a
/// cycle with one rw edge is `G-single-item` (which implies the general `G-single`), one with
/// several non-adjacent rw edges `G-nonadjacent-item` (implying `G-nonadjacent` and, Adya's
/// item anti-dependency, `G2-item`), one with two adjacent rw edges `G2-item` (implying `G2`).
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
        "G-single-item",
        &["G-single", "G-single-item-process", "G-nonadjacent-item"],
    ),
    (
        "G-single-item-process",
        &[
            "G-single-process",
            "G-single-item-realtime",
            "G-nonadjacent-item-process",
        ],
    ),
    (
        "G-single-item-realtime",
        &["G-single-realtime", "G-nonadjacent-item-realtime"],
    ),
    ("G-single", &["G-nonadjacent", "G-single-process"]),
    (
        "G-single-process",
        &["G-nonadjacent-process", "G-single-realtime"],
    ),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    (
        "G-nonadjacent-item",
        &["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"],
    ),
    (
        "G-nonadjacent-item-process",
        &[
            "G-nonadjacent-process",
            "G2-item-process",
            "G-nonadjacent-item-realtime",
        ],
    ),
    (
        "G-nonadjacent-item-realtime",
        &["G2-item-realtime", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process"]),
    (
        "G-nonadjacent-process",
        &["G2-process", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent-realtime", &["G2-realtime"]),
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

/// Every anomaly that would violate at least one of `models`, or that is (or implies) one of
/// `anomalies` (Elle's `:consistency-models` and `:anomalies`: `prohibited-anomaly-types`).
pub fn prohibited(models: &[String], anomalies: &[String]) -> BTreeSet<&'static str> {
    let implied = closure(models.iter().filter_map(|m| canonical(m)), weaker);
    let direct: Vec<&'static str> = FORBIDS
        .iter()
        .filter(|(m, _)| implied.contains(m))
        .flat_map(|(_, xs)| xs.iter().copied())
        .chain(anomalies.iter().filter_map(|a| known_anomaly(a)))
        .collect();
    closure(direct, |a| {
        ANOMALY_IMPLIES
            .iter()
            .filter(|(_, ys)| ys.contains(&a))
            .map(|(x, _)| *x)
            .collect()
    })
}

/// The model `name` stands for: itself, or the model an alias of Elle's names.
pub fn canonical(name: &str) -> Option<&'static str> {
    known_models()
        .into_iter()
        .find(|m| *m == name)
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == name).map(|(_, m)| *m))
}

/// Every anomaly name the lattice knows (what `--anomalies` accepts), sorted.
pub fn known_anomalies() -> Vec<&'static str> {
    let mut all: BTreeSet<&'static str> = BTreeSet::new();
    for (a, bs) in ANOMALY_IMPLIES {
        all.insert(a);
        all.extend(bs.iter().copied());
    }
    for (_, xs) in FORBIDS {
        all.extend(xs.iter().copied());
    }
    all.into_iter().collect()
}

fn known_anomaly(name: &str) -> Option<&'static str> {
    known_anomalies().into_iter().find(|a| *a == name)
}

/// Validates an anomaly name of `--anomalies`; the error lists the names accepted.
pub fn parse_anomaly(name: &str) -> Result<(), UsageError> {
    if known_anomaly(name).is_some() {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "unknown anomaly {name:?}; expected one of: {}",
            known_anomalies().join(", ")
        )))
    }
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

/// Validates a model name (a model of the lattice or one of Elle's aliases of one); the error
/// lists the names accepted, or for a model Elle knows that forbids nothing checkable, which
/// model to ask for instead.
pub fn parse(name: &str) -> Result<(), UsageError> {
    if canonical(name).is_some() {
        return Ok(());
    }
    if let Some((_, instead)) = VACUOUS.iter().find(|(m, _)| *m == name) {
        return Err(UsageError::new(format!(
            "consistency model {name:?} forbids no anomaly a transactional check can find \
             (Elle knows it, but a check of it alone always passes); ask for {instead:?}, \
             the weakest model that implies it and forbids something"
        )));
    }
    let aliases: Vec<String> = ALIASES
        .iter()
        .map(|(a, m)| format!("{a} (= {m})"))
        .collect();
    Err(UsageError::new(format!(
        "unknown consistency model {name:?}; expected one of: {}; or Elle's names {}",
        known_models().join(", "),
        aliases.join(", ")
    )))
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
        let p = prohibited(&["snapshot-isolation".to_string()], &[]);
        assert!(!p.contains("G2-item"));
        assert!(p.contains("G-single"));
        assert!(p.contains("G-single-item"));
        assert!(p.contains("G-nonadjacent-item"));
        assert!(p.contains("G0"));
        assert!(p.contains("G1a"));
    }

    #[test]
    fn future_read_rules_out_read_committed_and_reordered_appends_read_uncommitted() {
        let (not, _) = boundary(&["future-read".to_string()]);
        assert!(not.contains(&"read-committed".to_string()), "{not:?}");
        assert!(prohibited(&["read-committed".to_string()], &[]).contains("future-read"));
        assert!(!prohibited(&["read-uncommitted".to_string()], &[]).contains("future-read"));
        let (not, _) = boundary(&["reordered-appends".to_string()]);
        assert_eq!(not, vec!["read-uncommitted".to_string()]);
    }

    #[test]
    fn strict_serializable_forbids_realtime_cycles() {
        let p = prohibited(&["strict-serializable".to_string()], &[]);
        for a in [
            "G-single-realtime",
            "G-single-item-realtime",
            "G2-item-realtime",
            "G0-realtime",
            "G1c-process",
        ] {
            assert!(p.contains(a), "{a}");
        }
        let s = prohibited(&["serializable".to_string()], &[]);
        assert!(!s.contains("G-single-realtime"));
    }

    #[test]
    fn item_cycles_are_named_as_elle_names_them_and_imply_the_general_classes() {
        let i = implied_anomalies(["G-single-item"]);
        for a in [
            "G-single",
            "G-nonadjacent-item",
            "G2-item",
            "G-nonadjacent",
            "G2",
        ] {
            assert!(i.contains(a), "{a}");
        }
        // A general G2 (a predicate anti-dependency) is not an item one.
        assert!(!implied_anomalies(["G2"]).contains("G2-item"));
        // G-single-item rules out consistent view (through G-single) and repeatable read
        // (through G2-item), as Elle's result for a G-single-item history says.
        let (not, _) = boundary(&["G-single-item".to_string()]);
        assert_eq!(not, vec!["consistent-view", "repeatable-read"]);
    }

    #[test]
    fn lost_update_rules_out_update_atomic_and_cursor_stability_first() {
        // Elle's lost-update-test: `:not #{:update-atomic :cursor-stability}`.
        let (not, also) = boundary(&["lost-update".to_string()]);
        assert_eq!(not, vec!["cursor-stability", "update-atomic"]);
        assert!(also.contains(&"parallel-snapshot-isolation".to_string()));
        assert!(prohibited(&["update-atomic".to_string()], &[]).contains("lost-update"));
        assert!(prohibited(&["update-atomic".to_string()], &[]).contains("G1a"));
    }

    #[test]
    fn elle_aliases_are_accepted_and_vacuous_models_refused_with_a_suggestion() {
        for (alias, model) in [
            ("conflict-serializable", "serializable"),
            ("PL-3", "serializable"),
            ("strong-serializable", "strict-serializable"),
            ("PL-2.99", "repeatable-read"),
            ("strong-session-PL-2", "strong-session-read-committed"),
        ] {
            assert!(parse(alias).is_ok(), "{alias}");
            assert_eq!(
                prohibited(&[alias.to_string()], &[]),
                prohibited(&[model.to_string()], &[]),
                "{alias}"
            );
        }
        assert!(parse("update-atomic").is_ok());
        let e = parse("view-serializable").unwrap_err();
        assert!(e.message.contains("\"serializable\""), "{e}");
        let e = parse("serialisable").unwrap_err();
        assert!(
            e.message.contains("conflict-serializable (= serializable)"),
            "{e}"
        );
    }

    #[test]
    fn anomalies_alone_prohibit_what_implies_them_and_nothing_else() {
        let p = prohibited(&[], &["G1".to_string()]);
        for a in [
            "G1",
            "G1a",
            "G1b",
            "G1c",
            "G0",
            "future-read",
            "dirty-update",
        ] {
            assert!(p.contains(a), "{a}");
        }
        assert!(!p.contains("G2-item"));
        assert!(!p.contains("G1-process"));
        let p = prohibited(&[], &["G2".to_string()]);
        for a in [
            "G-single-item",
            "G-nonadjacent-item",
            "G2-item",
            "lost-update",
        ] {
            assert!(p.contains(a), "{a}");
        }
        assert!(!p.contains("G1c"));
        assert!(parse_anomaly("G2-item").is_ok());
        assert!(parse_anomaly("G-single").is_ok());
        assert!(parse_anomaly("G3")
            .unwrap_err()
            .message
            .contains("G-single-item"));
    }
}
