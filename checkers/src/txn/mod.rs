//! Elle-style transactional checking, the "check" step for list-append and rw-register
//! histories: infer version orders from the values reads return, build the dependency graph
//! between transactions, find and name cycles, and judge the requested consistency models.
//!
//! Pipeline: [`history`] (transactions out of paired operations) → [`append`] (with
//! [`append_checks`]) or [`register`] (version orders, non-cycle anomalies, ww/wr/rw edges) →
//! [`order`] (process / realtime edges when a requested model needs them) → [`graph`] (trimming,
//! petgraph SCCs, classes; [`search`]: shortest cycle per class) →
//! [`explain`] (sentences, DOT, SVG) → [`models`] (verdict and boundary). [`gen`] generates
//! serializable-by-construction histories for tests and benchmarks.

pub mod append;
pub mod append_checks;
pub mod cases;
pub mod explain;
pub mod gen;
pub mod graph;
pub mod history;
pub mod models;
pub mod order;
pub mod register;
pub mod search;

use crate::budget::StopReason;
use crate::history::Operation;
use crate::verdict::Validity;
use crate::workload::{WorkloadOptions, WorkloadReport};
use crate::InputError;
use cases::Cases;
use history::Workload;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::time::Instant;

/// The cycle classes the graph search knows.
const CYCLE_CLASSES: &[&str] = &["G0", "G1c", "G-single", "G-nonadjacent", "G2-item"];

/// How many cycles of one class are reported at most.
pub const CYCLES_PER_CLASS: usize = 3;

/// Search steps allowed per class and component before the search gives up (→ unknown).
pub const STEP_BUDGET: u64 = 20_000_000;

/// Checks a list-append history.
pub fn check_list_append(
    file: &str,
    ops: &[Operation],
    opts: &WorkloadOptions,
) -> Result<WorkloadReport, InputError> {
    check(file, ops, opts, Workload::ListAppend)
}

/// Checks an rw-register history.
pub fn check_rw_register(
    file: &str,
    ops: &[Operation],
    opts: &WorkloadOptions,
) -> Result<WorkloadReport, InputError> {
    check(file, ops, opts, Workload::RwRegister)
}

/// Validates a `--consistency` name; the error lists the names accepted.
pub fn parse_consistency(name: &str) -> Result<(), String> {
    models::parse(name)
}

fn check(
    file: &str,
    ops: &[Operation],
    opts: &WorkloadOptions,
    workload: Workload,
) -> Result<WorkloadReport, InputError> {
    let started = Instant::now();
    let limits = opts.budget();
    let requested: Vec<String> = if opts.consistency.is_empty() {
        vec!["serializable".to_string()]
    } else {
        opts.consistency.clone()
    };
    for m in &requested {
        parse_consistency(m).map_err(|e| InputError::new(file, 0, e))?;
    }
    let prohibited = models::prohibited(&requested);
    let tx = history::extract(file, ops, workload)?;
    if let Some(e) = limits.exceeded() {
        let why = format!("{} while reading the transactions", limits.describe(e));
        return Ok(stopped_early(ops, &tx, why, started, workload));
    }
    let mut cases = Cases::default();
    let (index, mut edges) = match workload {
        Workload::ListAppend => {
            let (ix, e) = append::analyze(file, ops, &tx, &mut cases)?;
            (explain::Index::Append(Box::new(ix)), e)
        }
        Workload::RwRegister => {
            let (ix, e) = register::analyze(file, ops, &tx, &mut cases)?;
            (explain::Index::Register(ix), e)
        }
    };
    // Budget checkpoints between the phases: a limit that runs out stops the check, and the
    // anomalies already found (certain: they never depend on what is not yet searched) still
    // make the verdict invalid; otherwise it is unknown.
    let mut stop = limits
        .exceeded()
        .map(|e| format!("{} while inferring version orders", limits.describe(e)));
    let realtime = prohibited.iter().any(|a| a.ends_with("-realtime"));
    if stop.is_none() {
        let mut spent = None;
        if realtime {
            spent = order::realtime_edges(ops, &tx, &mut edges, &limits);
        } else if prohibited.iter().any(|a| a.ends_with("-process")) {
            order::process_edges(ops, &tx, &mut edges);
        }
        stop = spent
            .or_else(|| limits.exceeded())
            .map(|e| format!("{} while adding order edges", limits.describe(e)));
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
        budget: limits.clone(),
    };
    let found = if stop.is_none() {
        let found = graph::search(tx.txns.len(), &edges, &wanted, graph_limits);
        if found.out_of_memory {
            stop = Some(limits.describe(StopReason::Memory));
        } else if found.timed_out {
            stop = Some(limits.describe(StopReason::Time));
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
            prohibited: &prohibited,
            stop,
        },
        nedges,
        started,
        workload,
    ))
}

/// The checker's name for a workload.
fn name_of(workload: Workload) -> &'static str {
    match workload {
        Workload::ListAppend => "list-append",
        Workload::RwRegister => "rw-register",
    }
}

/// The `unknown` report of a check stopped by its budget before any anomaly could be found.
fn stopped_early(
    ops: &[Operation],
    tx: &history::Txns,
    why: String,
    started: Instant,
    workload: Workload,
) -> WorkloadReport {
    WorkloadReport {
        workload: name_of(workload),
        valid: Validity::Unknown,
        ops: ops.iter().filter(|o| o.client).count(),
        millis: started.elapsed().as_secs_f64() * 1000.0,
        anomalies: Vec::new(),
        unknown_reason: Some(why.clone()),
        explanation: vec![format!("the check stopped early: {why}")],
        details: json!({ "txns": tx.txns.len(), "stopped": why }),
        artifacts: Vec::new(),
    }
}

/// What was asked and whether a budget cut the check short.
struct Judged<'a> {
    requested: &'a [String],
    prohibited: &'a BTreeSet<&'static str>,
    /// Why the check stopped before it was complete (a limit ran out), if it did.
    stop: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn report(
    ops: &[Operation],
    tx: &history::Txns,
    index: &explain::Index,
    cases: Cases,
    found: graph::Found,
    judged: Judged,
    nedges: usize,
    started: Instant,
    workload: Workload,
) -> WorkloadReport {
    let Judged {
        requested,
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
    let committed = tx
        .txns
        .iter()
        .any(|t| t.outcome == crate::history::Outcome::Ok);
    let (valid, unknown_reason) = if !bad.is_empty() {
        (Validity::Invalid, None)
    } else if let (Some(why), None) = (&stop, incomplete.first()) {
        (Validity::Unknown, Some(why.clone()))
    } else if !committed {
        (
            Validity::Unknown,
            Some("no transaction committed (completed ok), so there is nothing to check".into()),
        )
    } else if let Some((class, size)) = incomplete.first() {
        let why = stop.as_deref().unwrap_or("the search budget ran out");
        (
            Validity::Unknown,
            Some(format!(
                "{why} while searching a strongly connected component of {size} transactions for {class} cycles"
            )),
        )
    } else {
        (Validity::Valid, None)
    };
    let (not, also_not) = models::boundary(&all);
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
            explanation.push(format!(
                "allowed by {}: {}",
                requested.join(" and "),
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
    let details = json!({
        "consistency": requested,
        "found": all,
        "not": not,
        "also_not": also_not,
        "anomalies": Value::Object(anomalies_json),
        "counts": cases.by_name.iter().map(|(k, (n, _))| (k.clone(), json!(n))).collect::<Map<_, _>>(),
        "txns": tx.txns.len(),
        "edges": nedges,
        "sccs": found.sccs,
        "largest_scc": found.largest_scc,
        "incomplete": found.incomplete.iter().map(|(c, s)| json!({"class": c, "scc_size": s})).collect::<Vec<_>>(),
    });
    WorkloadReport {
        workload: name_of(workload),
        valid,
        ops: ops.iter().filter(|o| o.client).count(),
        millis: started.elapsed().as_secs_f64() * 1000.0,
        anomalies: bad,
        unknown_reason,
        explanation,
        details,
        artifacts,
    }
}
