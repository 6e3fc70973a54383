//! Elle-style transactional checking, the "check" step for list-append and rw-register
//! histories: infer version orders from the values reads return, build the dependency graph
//! between transactions, find and name cycles, and judge the requested consistency models.
//!
//! Pipeline: [`txns`] (transactions out of paired operations) → [`list_append`] (with
//! [`list_append_checks`]) or [`rw_register`] (version orders, non-cycle anomalies, ww/wr/rw
//! edges) → [`order`] (process / realtime edges when a requested model needs them) → [`graph`]
//! (trimming, petgraph SCCs, classes; [`cycle_search`]: shortest cycle per class) → [`explain`]
//! (sentences, DOT, SVG) → [`consistency`] (the consistency-model lattice: verdict and
//! boundary). [`generate`] generates serializable-by-construction histories for tests and
//! benchmarks. Registered in [`crate::registry`]; imports nothing from Jepsen's checkers.

pub mod cases;
pub mod consistency;
pub mod cycle_search;
pub mod explain;
pub mod generate;
pub mod graph;
pub mod list_append;
pub mod list_append_checks;
pub mod order;
pub mod read;
pub mod rw_register;
pub mod txns;

use crate::budget::Budget;
use crate::budget::StopReason;
use crate::error::UsageError;
use crate::history::Operation;
use crate::options::CheckOptions;
use crate::verdict::Validity;
use crate::verdict::{CheckerKind, Report, Stats};
use crate::InputError;
use cases::Cases;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use txns::TxnKind;

/// The cycle classes the graph search knows.
const CYCLE_CLASSES: &[&str] = &[
    "G0",
    "G1c",
    "G-single-item",
    "G-nonadjacent-item",
    "G2-item",
];

/// How many cycles of one class are reported at most.
pub const CYCLES_PER_CLASS: usize = 3;

/// Search steps (edges examined) allowed per class and component before the search gives up
/// (→ unknown): a backstop that only a `--cycle-search-timeout` of minutes would reach; the
/// per-component time budget normally ends a long search first.
pub const STEP_BUDGET: u64 = 10_000_000_000;

/// Checks a list-append history.
pub fn check_list_append(
    file: &str,
    ops: &[Operation],
    opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    check(file, ops, opts, budget, TxnKind::ListAppend, None)
}

/// Checks an rw-register history.
pub fn check_rw_register(
    file: &str,
    ops: &[Operation],
    opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    check(file, ops, opts, budget, TxnKind::RwRegister, None)
}

/// The transactional workload a `--workload` name checks (`list-append`, `rw-register`), if
/// it is one: its histories can be read by [`read::read_txn_paired`].
pub fn txn_workload(name: &str) -> Option<TxnKind> {
    match name {
        "list-append" => Some(TxnKind::ListAppend),
        "rw-register" => Some(TxnKind::RwRegister),
        _ => None,
    }
}

/// Checks a history read by [`read::read_txn_paired`]: the `ops` it paired and the
/// transactions it read compactly. The same report (or error) as the `workload` checker over
/// the operations the general reader gives.
pub fn check_compact(
    workload: TxnKind,
    file: &str,
    ops: &[Operation],
    compact: read::CompactTxns,
    opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    check(file, ops, opts, budget, workload, Some(compact))
}

/// Validates a `--consistency` name; the error lists the names accepted.
pub fn parse_consistency(name: &str) -> Result<(), UsageError> {
    consistency::parse(name)
}

/// Validates an `--anomalies` name; the error lists the names accepted.
pub fn parse_anomaly(name: &str) -> Result<(), UsageError> {
    consistency::parse_anomaly(name)
}

fn check(
    file: &str,
    ops: &[Operation],
    opts: &CheckOptions,
    limits: &Budget,
    workload: TxnKind,
    compact: Option<read::CompactTxns>,
) -> Result<Report, InputError> {
    // `--anomalies` alone searches only for those; with neither, serializable is checked.
    let requested: Vec<String> = if opts.consistency.is_empty() && opts.anomalies.is_empty() {
        vec!["serializable".to_string()]
    } else {
        opts.consistency.clone()
    };
    for m in &requested {
        parse_consistency(m).map_err(|e| InputError::new(file, 0, e.message))?;
    }
    for a in &opts.anomalies {
        parse_anomaly(a).map_err(|e| InputError::new(file, 0, e.message))?;
    }
    let prohibited = consistency::prohibited(&requested, &opts.anomalies);
    let tx = txns::extract_with(file, ops, workload, compact.as_ref())?;
    drop(compact);
    if let Some(e) = limits.exceeded() {
        let why = format!("{} while reading the transactions", limits.describe(e));
        return Ok(stopped_early(ops, &tx, (e, why), limits, workload));
    }
    let mut cases = Cases::default();
    let (index, mut edges) = match workload {
        TxnKind::ListAppend => {
            let (ix, e) = list_append::analyze(file, ops, &tx, &mut cases)?;
            (explain::Index::Append(Box::new(ix)), e)
        }
        TxnKind::RwRegister => {
            let (ix, e) = rw_register::analyze(file, ops, &tx, opts.inference, &mut cases)?;
            (explain::Index::Register(ix), e)
        }
    };
    // Budget checkpoints between the phases: a limit that runs out stops the check, and the
    // anomalies already found (certain: they never depend on what is not yet searched) still
    // make the verdict invalid; otherwise it is unknown.
    let mut stop = limits.exceeded().map(|e| {
        let why = format!("{} while inferring version orders", limits.describe(e));
        (e, why)
    });
    let realtime = prohibited.iter().any(|a| a.ends_with("-realtime"));
    if stop.is_none() {
        let mut spent = None;
        if realtime {
            spent = order::realtime_edges(ops, &tx, &mut edges, limits);
        } else if prohibited.iter().any(|a| a.ends_with("-process")) {
            order::process_edges(ops, &tx, &mut edges);
        }
        stop = spent.or_else(|| limits.exceeded()).map(|e| {
            (
                e,
                format!("{} while adding order edges", limits.describe(e)),
            )
        });
    }
    let wanted: BTreeSet<&str> = prohibited
        .iter()
        .copied()
        .filter(|a| {
            CYCLE_CLASSES.iter().any(|c| {
                *a == *c
                    || a.strip_prefix(c)
                        .is_some_and(|s| s == "-process" || s == "-realtime")
            })
        })
        .collect();
    let graph_limits = graph::Caps {
        per_class: CYCLES_PER_CLASS,
        steps: STEP_BUDGET,
        per_component: Some(opts.cycle_search_timeout),
        budget: limits.clone(),
    };
    let found = if stop.is_none() {
        let found = graph::search(tx.txns.len(), &edges, &wanted, graph_limits);
        if found.out_of_memory {
            stop = Some((StopReason::Memory, limits.describe(StopReason::Memory)));
        } else if found.timed_out {
            stop = Some((StopReason::Time, limits.describe(StopReason::Time)));
        }
        found
    } else {
        graph::Found::default()
    };
    let nedges = edges.len();
    drop(edges);
    Ok(report(
        ops,
        &tx,
        &index,
        cases,
        found,
        Judged {
            requested: &requested,
            anomalies: &opts.anomalies,
            inference: opts.inference,
            cycle_search_timeout: opts.cycle_search_timeout,
            prohibited: &prohibited,
            stop,
        },
        nedges,
        limits,
        workload,
    ))
}

/// The checker's name for a workload.
fn name_of(workload: TxnKind) -> &'static str {
    match workload {
        TxnKind::ListAppend => "list-append",
        TxnKind::RwRegister => "rw-register",
    }
}

/// The `unknown` report of a check stopped by its budget before any anomaly could be found.
fn stopped_early(
    ops: &[Operation],
    tx: &txns::Txns,
    (stop, why): (StopReason, String),
    budget: &Budget,
    workload: TxnKind,
) -> Report {
    let mut r = Report::stopped(
        name_of(workload),
        CheckerKind::Workload,
        ops.iter().filter(|o| o.client).count(),
        Some(stop),
        why.clone(),
    );
    r.stats.millis = budget.millis();
    r.explanation = vec![format!("the check stopped early: {why}")];
    r.details = json!({ "txns": tx.txns.len(), "stopped": why });
    r
}

/// What was asked and whether a budget cut the check short.
struct Judged<'a> {
    requested: &'a [String],
    /// `--anomalies`, as given.
    anomalies: &'a [String],
    /// The rw-register inference switches used.
    inference: crate::options::Inference,
    /// The per-component cycle-search budget used.
    cycle_search_timeout: std::time::Duration,
    prohibited: &'a BTreeSet<&'static str>,
    /// Why the check stopped before it was complete (a limit ran out), if it did.
    stop: Option<(StopReason, String)>,
}

#[allow(clippy::too_many_arguments)]
fn report(
    ops: &[Operation],
    tx: &txns::Txns,
    index: &explain::Index,
    cases: Cases,
    found: graph::Found,
    judged: Judged,
    nedges: usize,
    budget: &Budget,
    workload: TxnKind,
) -> Report {
    let Judged {
        requested,
        anomalies,
        inference,
        cycle_search_timeout,
        prohibited,
        stop,
    } = judged;
    let mut all: BTreeSet<String> = cases.by_name.keys().cloned().collect();
    all.extend(found.cycles.iter().map(|c| c.name.clone()));
    let all: Vec<String> = all.into_iter().collect();
    let bad: Vec<String> = all
        .iter()
        .filter(|a| prohibited.contains(a.as_str()))
        .cloned()
        .collect();
    let incomplete: Vec<&(String, usize)> = found
        .incomplete
        .iter()
        .filter(|(c, _)| prohibited.contains(c.as_str()))
        .collect();
    // Components whose own cycle-search budget ran out, with the prohibited classes left
    // unsearched there.
    let unsearched: Vec<(&graph::Unsearched, Vec<&String>)> = found
        .unsearched
        .iter()
        .map(|u| {
            let classes: Vec<&String> = u
                .not_searched
                .iter()
                .filter(|c| prohibited.contains(c.as_str()))
                .collect();
            (u, classes)
        })
        .filter(|(_, classes)| !classes.is_empty())
        .collect();
    let secs = cycle_search_timeout.as_secs_f64();
    let component_line = |u: &graph::Unsearched, classes: &[&String]| {
        // `lines 1–2, 3–4, …`: the word once.
        let at: Vec<String> = u
            .sample
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let l = cases::lines(ops, tx, t);
                match i {
                    0 => l,
                    _ => l
                        .trim_start_matches("lines ")
                        .trim_start_matches("line ")
                        .to_string(),
                }
            })
            .collect();
        format!(
            "cycle search ran past --cycle-search-timeout {secs} s in a strongly connected component of {} transactions ({}{}): {} not searched there, so {} neither found nor ruled out",
            u.scc_size,
            at.join(", "),
            if u.scc_size > u.sample.len() { ", …" } else { "" },
            classes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
            if classes.len() == 1 { "it is" } else { "they are" },
        )
    };
    let committed = tx
        .txns
        .iter()
        .any(|t| t.outcome == crate::history::Outcome::Ok);
    let (valid, unknown_reason) = if !bad.is_empty() {
        (Validity::Invalid, None)
    } else if let (Some((_, why)), None) = (&stop, incomplete.first()) {
        (Validity::Unknown, Some(why.clone()))
    } else if !committed {
        (
            Validity::Unknown,
            Some("no transaction committed (completed ok), so there is nothing to check".into()),
        )
    } else if let (None, Some((u, classes))) = (&stop, unsearched.first()) {
        (Validity::Unknown, Some(component_line(u, classes)))
    } else if let Some((class, size)) = incomplete.first() {
        let why = stop
            .as_ref()
            .map_or("the search budget ran out", |s| s.1.as_str());
        (
            Validity::Unknown,
            Some(format!(
                "{why} while searching a strongly connected component of {size} transactions for {class} cycles"
            )),
        )
    } else {
        (Validity::Valid, None)
    };
    let (not, also_not) = consistency::boundary(&all);
    let mut explanation = Vec::new();
    let mut anomalies_json = Map::new();
    let mut artifacts = Vec::new();
    let mut cycle_counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for c in &found.cycles {
        let ex = explain::explain(ops, tx, index, c);
        let n = cycle_counts.entry(c.name.as_str()).or_default();
        *n += 1;
        artifacts.extend(explain::drawings(ops, tx, c, &ex, *n));
        explanation.extend(ex.lines.iter().cloned());
        explanation.push(String::new());
        anomalies_json
            .entry(c.name.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .expect("array")
            .push(ex.json);
    }
    for (name, (count, kept)) in &cases.by_name {
        let more = count - kept.len();
        for case in kept {
            explanation.push(format!("{name}: {}", case.text));
        }
        if more > 0 {
            explanation.push(format!(
                "{name}: … and {more} more case{}",
                if more == 1 { "" } else { "s" }
            ));
        }
        anomalies_json.insert(
            name.clone(),
            Value::Array(kept.iter().map(|c| c.json.clone()).collect()),
        );
    }
    if explanation.last().is_some_and(String::is_empty) {
        explanation.pop();
    }
    if !all.is_empty() {
        let allowed: Vec<&String> = all
            .iter()
            .filter(|a| !prohibited.contains(a.as_str()))
            .collect();
        if !allowed.is_empty() {
            let asked = if requested.is_empty() {
                format!("--anomalies {}", anomalies.join(","))
            } else if anomalies.is_empty() {
                requested.join(" and ")
            } else {
                format!(
                    "{} with --anomalies {}",
                    requested.join(" and "),
                    anomalies.join(",")
                )
            };
            explanation.push(format!(
                "allowed by {asked}: {}",
                allowed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        explanation.push(format!(
            "ruled out: {} (and the stronger {})",
            if not.is_empty() {
                "nothing".to_string()
            } else {
                not.join(", ")
            },
            if also_not.is_empty() {
                "none".to_string()
            } else {
                also_not.join(", ")
            }
        ));
    }
    for (class, size) in &incomplete {
        explanation.push(format!(
            "cycle search for {class} stopped early in a component of {size} transactions: its absence is not proven"
        ));
    }
    for (u, classes) in &unsearched {
        explanation.push(component_line(u, classes));
    }
    // Elle's `:cycle-search-timeout` anomaly, one per component, with where to find it.
    let timeouts: Vec<Value> = unsearched
        .iter()
        .map(|(u, classes)| {
            json!({
                "scc_size": u.scc_size,
                "txns": u.sample.iter().map(|&t| cases::txn_json(ops, tx, t)).collect::<Vec<_>>(),
                "anomaly_spec_type": u.searching,
                "not_searched": classes,
                "does_not_contain": u.does_not_contain,
                "timeout_secs": secs,
            })
        })
        .collect();
    let mut incomplete_json: Vec<Value> = found
        .incomplete
        .iter()
        .map(|(c, s)| json!({"class": c, "scc_size": s}))
        .collect();
    for (u, classes) in &unsearched {
        for c in classes {
            incomplete_json
                .push(json!({"class": c, "scc_size": u.scc_size, "cycle_search_timeout": true}));
        }
    }
    let details = json!({
        "consistency": requested,
        "anomalies_requested": anomalies,
        "inference": inference.names(),
        "found": all,
        "not": not,
        "also_not": also_not,
        "anomalies": Value::Object(anomalies_json),
        "counts": cases.by_name.iter().map(|(k, (n, _))| (k.clone(), json!(n))).collect::<Map<_, _>>(),
        "txns": tx.txns.len(),
        "edges": nedges,
        "sccs": found.sccs,
        "largest_scc": found.largest_scc,
        "incomplete": incomplete_json,
        "cycle_search_timeout_secs": secs,
        "cycle_search_timeout": timeouts,
    });
    Report {
        valid,
        // A step cap that ran out in the cycle search is the search's state limit.
        stop: (valid == Validity::Unknown)
            .then(|| {
                stop.map(|s| s.0)
                    .or(unsearched.first().map(|_| StopReason::CycleSearchTimeout))
                    .or(incomplete.first().map(|_| StopReason::StateLimit))
            })
            .flatten(),
        unknown_reason,
        stats: Stats {
            ops: ops.iter().filter(|o| o.client).count(),
            millis: budget.millis(),
            ..Stats::default()
        },
        anomalies: bad,
        explanation,
        details,
        artifacts,
        ..Report::new(name_of(workload), CheckerKind::Workload)
    }
}
