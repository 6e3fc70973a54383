//! Expectations: what a test plan (`faultline test`, `faultline.toml`) says a run or a saved
//! history must show, judged against the checker's [`Report`] and the history's [`Perf`] — the
//! last step of check → report for a regression gate.
//!
//! This module is pure (no files, no TOML): the binary parses the plan and hands over typed
//! [`Expectations`] and [`Tolerances`]; here they are evaluated into [`Judgement`]s, each of
//! which held, failed, or could not be decided ([`Held::Unknown`]: the verdict was unknown, or
//! the figure was not measured — never a guess). The figures a baseline stores and compares are
//! [`Figures`].

use crate::perf::Perf;
use crate::verdict::{CheckerKind, Report, Validity};
use serde::{Deserialize, Serialize};

/// The verdict a plan expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictExpectation {
    /// The checker found nothing wrong (any checker).
    Valid,
    /// Valid under a linearizability check (a model checker: register, kv, …).
    Linearizable,
    /// The checker found something wrong (an expected failure, or a weaker isolation level).
    Invalid,
}

impl VerdictExpectation {
    /// Every expectation, by its name in a plan.
    pub const ALL: &'static [(&'static str, VerdictExpectation)] = &[
        ("valid", VerdictExpectation::Valid),
        ("linearizable", VerdictExpectation::Linearizable),
        ("invalid", VerdictExpectation::Invalid),
    ];

    /// Its name in a plan.
    pub fn name(self) -> &'static str {
        VerdictExpectation::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .unwrap_or("valid")
    }

    /// The expectation named `name`.
    pub fn parse(name: &str) -> Option<VerdictExpectation> {
        VerdictExpectation::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// Everything a case may expect; each part optional (none: only "the check ran and its
/// verdict was not unknown").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    /// The verdict.
    pub verdict: Option<VerdictExpectation>,
    /// Every anomaly found must be one of these (a valid verdict satisfies it).
    pub anomalies_within: Option<Vec<String>>,
    /// Every anomaly found must be one this consistency model allows (`read-committed`): none
    /// of those it prohibits. A valid verdict satisfies it.
    pub anomalies_allowed_by: Option<String>,
    /// Availability during fault windows (any fault), in percent, at least this.
    pub min_availability_during_faults: Option<f64>,
    /// Availability during partition windows, in percent, at least this.
    pub min_availability_during_partitions: Option<f64>,
    /// p99 latency of `ok` operations outside every fault window, in ms, at most this.
    pub max_p99_outside_faults_ms: Option<f64>,
    /// Client operations per second over the whole history, at least this.
    pub min_throughput: Option<f64>,
}

/// How much a figure may regress from its baseline before the case fails; each optional (a
/// figure without a tolerance is shown but not judged).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tolerances {
    /// Availability (during faults, and during partitions) may drop by at most this many
    /// percentage points.
    pub availability_points: Option<f64>,
    /// p99 latency outside faults may rise by at most this many percent.
    pub p99_percent: Option<f64>,
    /// Throughput may drop by at most this many percent.
    pub throughput_percent: Option<f64>,
}

/// The figures of one run (or one checked history) that plans bound and baselines compare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Availability during fault windows, percent (`None`: no operation overlapped a fault).
    pub availability_during_faults: Option<f64>,
    /// Availability during partition windows, percent (`None`: no partition).
    pub availability_during_partitions: Option<f64>,
    /// p99 latency of `ok` operations outside faults, ms (`None`: none was `ok`).
    pub p99_outside_faults_ms: Option<f64>,
    /// Client operations per second.
    pub throughput: f64,
}

impl Figures {
    /// The figures of a history's performance summary.
    pub fn of(perf: &Perf) -> Figures {
        Figures {
            availability_during_faults: perf.during_faults.availability().map(|a| a * 100.0),
            availability_during_partitions: perf
                .during_partitions
                .availability()
                .map(|a| a * 100.0),
            p99_outside_faults_ms: perf.latency_outside_all.map(|l| l.p99),
            throughput: perf.throughput,
        }
    }

    /// The worst of several runs' figures (lowest availability and throughput, highest p99):
    /// what a case with several seeds stores as its baseline and is compared by.
    pub fn worst(all: &[Figures]) -> Option<Figures> {
        let min = |f: &dyn Fn(&Figures) -> Option<f64>| {
            all.iter().filter_map(f).min_by(|a, b| a.total_cmp(b))
        };
        let max = |f: &dyn Fn(&Figures) -> Option<f64>| {
            all.iter().filter_map(f).max_by(|a, b| a.total_cmp(b))
        };
        (!all.is_empty()).then(|| Figures {
            availability_during_faults: min(&|f| f.availability_during_faults),
            availability_during_partitions: min(&|f| f.availability_during_partitions),
            p99_outside_faults_ms: max(&|f| f.p99_outside_faults_ms),
            throughput: min(&|f| Some(f.throughput)).unwrap_or(0.0),
        })
    }
}

/// Whether one expectation held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// It held.
    Held,
    /// It did not: the case fails (exit 1).
    Failed,
    /// It could not be decided: the verdict was unknown or the figure not measured (exit 2).
    Unknown,
}

/// One expectation, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The expectation as the plan states it (`verdict = linearizable`,
    /// `min_availability_during_faults = 90`).
    pub expected: String,
    /// What was found (`invalid: G-single, G2-item`, `38.2%`).
    pub found: String,
    /// Whether it held.
    pub held: Held,
}

impl Judgement {
    fn new(expected: String, found: String, held: Held) -> Judgement {
        Judgement {
            expected,
            found,
            held,
        }
    }
}

/// The verdict as a plan's table shows it: `linearizable`, `valid`, `invalid: G-single`,
/// `not linearizable`, `unknown`.
pub fn verdict_word(report: &Report) -> String {
    match (report.valid, report.kind) {
        (Validity::Valid, CheckerKind::Model) => "linearizable".into(),
        (Validity::Valid, CheckerKind::Workload) => "valid".into(),
        (Validity::Invalid, CheckerKind::Model) => "not linearizable".into(),
        (Validity::Invalid, CheckerKind::Workload) if report.anomalies.is_empty() => {
            "invalid".into()
        }
        (Validity::Invalid, CheckerKind::Workload) => {
            format!("invalid: {}", report.anomalies.join(", "))
        }
        (Validity::Unknown, _) => "unknown".into(),
    }
}

/// Judges `expect` against a checked history's report and figures. A verdict that is unknown
/// makes every verdict and anomaly expectation unknown (and, when the plan states no verdict
/// expectation, is itself an unknown judgement: an unknown never passes a gate).
pub fn evaluate(expect: &Expectations, report: &Report, figures: &Figures) -> Vec<Judgement> {
    let mut out = Vec::new();
    let word = verdict_word(report);
    let unknown = report.valid == Validity::Unknown;
    let verdict_stated = expect.verdict.is_some()
        || expect.anomalies_within.is_some()
        || expect.anomalies_allowed_by.is_some();
    if unknown && !verdict_stated {
        out.push(Judgement::new(
            "a verdict".into(),
            unknown_found(report),
            Held::Unknown,
        ));
    }
    if let Some(v) = expect.verdict {
        let held = match (v, report.valid, report.kind) {
            (_, Validity::Unknown, _) => Held::Unknown,
            (VerdictExpectation::Valid, Validity::Valid, _) => Held::Held,
            (VerdictExpectation::Linearizable, Validity::Valid, CheckerKind::Model) => Held::Held,
            (VerdictExpectation::Invalid, Validity::Invalid, _) => Held::Held,
            _ => Held::Failed,
        };
        let found = if unknown {
            unknown_found(report)
        } else {
            word.clone()
        };
        out.push(Judgement::new(
            format!("verdict = {}", v.name()),
            found,
            held,
        ));
    }
    if let Some(within) = &expect.anomalies_within {
        let outside: Vec<&String> = report
            .anomalies
            .iter()
            .filter(|a| !within.contains(a))
            .collect();
        out.push(anomaly_judgement(
            format!("anomalies_within = [{}]", within.join(", ")),
            report,
            &outside,
        ));
    }
    if let Some(model) = &expect.anomalies_allowed_by {
        let prohibited = crate::txn::consistency::prohibited(std::slice::from_ref(model), &[]);
        let outside: Vec<&String> = report
            .anomalies
            .iter()
            .filter(|a| prohibited.contains(a.as_str()))
            .collect();
        out.push(anomaly_judgement(
            format!("anomalies_allowed_by = {model}"),
            report,
            &outside,
        ));
    }
    let floor = |name: &str, want: f64, got: Option<f64>, unit: &str, what: &str| {
        let expected = format!("{name} = {}", number(want));
        match got {
            None => Judgement::new(expected, format!("not measured ({what})"), Held::Unknown),
            Some(g) if g >= want => Judgement::new(expected, format!("{g:.1}{unit}"), Held::Held),
            Some(g) => Judgement::new(expected, format!("{g:.1}{unit}"), Held::Failed),
        }
    };
    if let Some(want) = expect.min_availability_during_faults {
        out.push(floor(
            "min_availability_during_faults",
            want,
            figures.availability_during_faults,
            "%",
            "no operation overlapped a fault",
        ));
    }
    if let Some(want) = expect.min_availability_during_partitions {
        out.push(floor(
            "min_availability_during_partitions",
            want,
            figures.availability_during_partitions,
            "%",
            "no operation overlapped a partition",
        ));
    }
    if let Some(want) = expect.max_p99_outside_faults_ms {
        let expected = format!("max_p99_outside_faults_ms = {}", number(want));
        out.push(match figures.p99_outside_faults_ms {
            None => Judgement::new(
                expected,
                "not measured (no ok operation outside faults)".into(),
                Held::Unknown,
            ),
            Some(g) => Judgement::new(
                expected,
                format!("{g:.2} ms"),
                if g <= want { Held::Held } else { Held::Failed },
            ),
        });
    }
    if let Some(want) = expect.min_throughput {
        out.push(floor(
            "min_throughput",
            want,
            Some(figures.throughput),
            " ops/s",
            "",
        ));
    }
    out
}

fn unknown_found(report: &Report) -> String {
    match &report.unknown_reason {
        Some(why) => format!("unknown ({why})"),
        None => "unknown".into(),
    }
}

fn anomaly_judgement(expected: String, report: &Report, outside: &[&String]) -> Judgement {
    if report.valid == Validity::Unknown {
        return Judgement::new(expected, unknown_found(report), Held::Unknown);
    }
    if report.valid == Validity::Invalid && report.kind == CheckerKind::Model {
        // A linearizability violation names no anomaly: it is outside any allowed set.
        return Judgement::new(expected, "not linearizable".into(), Held::Failed);
    }
    if outside.is_empty() {
        let found = if report.anomalies.is_empty() {
            "none found".to_string()
        } else {
            report.anomalies.join(", ")
        };
        Judgement::new(expected, found, Held::Held)
    } else {
        let names: Vec<&str> = outside.iter().map(|s| s.as_str()).collect();
        Judgement::new(
            expected,
            format!(
                "{} (not allowed: {})",
                report.anomalies.join(", "),
                names.join(", ")
            ),
            Held::Failed,
        )
    }
}

/// Compares `now` with a `baseline`: one judgement per figure with a tolerance, showing both
/// figures. A figure the baseline or this run did not measure is unknown.
pub fn compare(baseline: &Figures, now: &Figures, tol: &Tolerances) -> Vec<Judgement> {
    let mut out = Vec::new();
    if let Some(points) = tol.availability_points {
        for (name, b, n) in [
            (
                "availability during faults",
                baseline.availability_during_faults,
                now.availability_during_faults,
            ),
            (
                "availability during partitions",
                baseline.availability_during_partitions,
                now.availability_during_partitions,
            ),
        ] {
            let expected = format!("{name} down by at most {} points", number(points));
            out.push(match (b, n) {
                (None, None) => continue,
                (Some(b), Some(n)) => Judgement::new(
                    expected,
                    format!(
                        "{n:.1}% now, {b:.1}% in the baseline ({:+.1} points)",
                        n - b
                    ),
                    if b - n <= points {
                        Held::Held
                    } else {
                        Held::Failed
                    },
                ),
                (b, n) => Judgement::new(
                    expected,
                    format!("{} now, {} in the baseline", percent(n), percent(b)),
                    Held::Unknown,
                ),
            });
        }
    }
    if let Some(pct) = tol.p99_percent {
        let expected = format!("p99 outside faults up by at most {}%", number(pct));
        out.push(
            match (baseline.p99_outside_faults_ms, now.p99_outside_faults_ms) {
                (Some(b), Some(n)) => Judgement::new(
                    expected,
                    format!(
                        "{n:.2} ms now, {b:.2} ms in the baseline ({})",
                        change(b, n)
                    ),
                    if n <= b * (1.0 + pct / 100.0) {
                        Held::Held
                    } else {
                        Held::Failed
                    },
                ),
                _ => Judgement::new(expected, "not measured".into(), Held::Unknown),
            },
        );
    }
    if let Some(pct) = tol.throughput_percent {
        let (b, n) = (baseline.throughput, now.throughput);
        out.push(Judgement::new(
            format!("throughput down by at most {}%", number(pct)),
            format!(
                "{n:.0} ops/s now, {b:.0} ops/s in the baseline ({})",
                change(b, n)
            ),
            if n >= b * (1.0 - pct / 100.0) {
                Held::Held
            } else {
                Held::Failed
            },
        ));
    }
    out
}

/// `12.5` or `90` (no trailing `.0`).
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn percent(x: Option<f64>) -> String {
    x.map(|x| format!("{x:.1}%"))
        .unwrap_or_else(|| "not measured".into())
}

fn change(b: f64, n: f64) -> String {
    if b > 0.0 {
        format!("{:+.0}%", (n - b) / b * 100.0)
    } else {
        "baseline 0".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(valid: Validity, kind: CheckerKind, anomalies: &[&str]) -> Report {
        let mut r = Report::new("x", kind);
        r.valid = valid;
        r.anomalies = anomalies.iter().map(|s| s.to_string()).collect();
        r
    }

    #[test]
    fn linearizable_needs_a_valid_model_check() {
        let expect = Expectations {
            verdict: Some(VerdictExpectation::Linearizable),
            ..Default::default()
        };
        let f = Figures::default();
        let ok = evaluate(
            &expect,
            &report(Validity::Valid, CheckerKind::Model, &[]),
            &f,
        );
        assert_eq!(ok[0].held, Held::Held);
        let bad = evaluate(
            &expect,
            &report(Validity::Invalid, CheckerKind::Model, &[]),
            &f,
        );
        assert_eq!(
            (bad[0].held, bad[0].found.as_str()),
            (Held::Failed, "not linearizable")
        );
        let txn = evaluate(
            &expect,
            &report(Validity::Valid, CheckerKind::Workload, &[]),
            &f,
        );
        assert_eq!(txn[0].held, Held::Failed);
        let unknown = evaluate(
            &expect,
            &report(Validity::Unknown, CheckerKind::Model, &[]),
            &f,
        );
        assert_eq!(unknown[0].held, Held::Unknown);
    }

    #[test]
    fn anomalies_within_and_allowed_by_a_level() {
        let f = Figures::default();
        let rc = report(
            Validity::Invalid,
            CheckerKind::Workload,
            &["G-single", "G2-item", "lost-update"],
        );
        let within = Expectations {
            anomalies_within: Some(vec!["G-single".into(), "G2-item".into()]),
            ..Default::default()
        };
        let j = evaluate(&within, &rc, &f);
        assert_eq!(j[0].held, Held::Failed);
        assert!(
            j[0].found.contains("not allowed: lost-update"),
            "{:?}",
            j[0]
        );
        // Read committed allows all three; serializable none.
        let allowed = |level: &str| Expectations {
            anomalies_allowed_by: Some(level.into()),
            ..Default::default()
        };
        assert_eq!(
            evaluate(&allowed("read-committed"), &rc, &f)[0].held,
            Held::Held
        );
        assert_eq!(
            evaluate(&allowed("serializable"), &rc, &f)[0].held,
            Held::Failed
        );
        let g1 = report(Validity::Invalid, CheckerKind::Workload, &["G1c"]);
        assert_eq!(
            evaluate(&allowed("read-committed"), &g1, &f)[0].held,
            Held::Failed
        );
        // A valid history has no anomaly outside any set.
        let valid = report(Validity::Valid, CheckerKind::Workload, &[]);
        assert_eq!(
            evaluate(&allowed("serializable"), &valid, &f)[0].held,
            Held::Held
        );
    }

    #[test]
    fn an_unknown_verdict_never_passes_even_without_a_verdict_expectation() {
        let j = evaluate(
            &Expectations::default(),
            &report(Validity::Unknown, CheckerKind::Model, &[]),
            &Figures::default(),
        );
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].held, Held::Unknown);
    }

    #[test]
    fn figures_are_bounded_and_an_unmeasured_one_is_unknown() {
        let expect = Expectations {
            min_availability_during_faults: Some(90.0),
            max_p99_outside_faults_ms: Some(5.0),
            min_throughput: Some(100.0),
            ..Default::default()
        };
        let f = Figures {
            availability_during_faults: Some(38.2),
            availability_during_partitions: Some(38.2),
            p99_outside_faults_ms: Some(1.3),
            throughput: 16952.0,
        };
        let r = report(Validity::Valid, CheckerKind::Model, &[]);
        let held: Vec<Held> = evaluate(&expect, &r, &f).iter().map(|j| j.held).collect();
        assert_eq!(held, [Held::Failed, Held::Held, Held::Held]);
        let none = Figures {
            availability_during_faults: None,
            ..f
        };
        assert_eq!(evaluate(&expect, &r, &none)[0].held, Held::Unknown);
    }

    #[test]
    fn baseline_comparison_shows_both_figures_and_applies_the_tolerance() {
        let base = Figures {
            availability_during_faults: Some(90.0),
            availability_during_partitions: None,
            p99_outside_faults_ms: Some(2.0),
            throughput: 1000.0,
        };
        let now = Figures {
            availability_during_faults: Some(84.0),
            availability_during_partitions: None,
            p99_outside_faults_ms: Some(2.9),
            throughput: 800.0,
        };
        let tol = Tolerances {
            availability_points: Some(5.0),
            p99_percent: Some(50.0),
            throughput_percent: Some(25.0),
        };
        let j = compare(&base, &now, &tol);
        assert_eq!(j.len(), 3, "{j:?}");
        assert_eq!(j[0].held, Held::Failed);
        assert!(
            j[0].found.contains("84.0% now, 90.0% in the baseline"),
            "{:?}",
            j[0]
        );
        assert_eq!(j[1].held, Held::Held);
        assert_eq!(j[2].held, Held::Held);
        assert_eq!(
            compare(&base, &base, &tol)
                .iter()
                .filter(|j| j.held != Held::Held)
                .count(),
            0
        );
    }

    #[test]
    fn worst_of_several_seeds() {
        let a = Figures {
            availability_during_faults: Some(50.0),
            availability_during_partitions: None,
            p99_outside_faults_ms: Some(1.0),
            throughput: 10.0,
        };
        let b = Figures {
            availability_during_faults: Some(40.0),
            availability_during_partitions: Some(30.0),
            p99_outside_faults_ms: Some(3.0),
            throughput: 20.0,
        };
        let w = Figures::worst(&[a, b]).unwrap();
        assert_eq!(w.availability_during_faults, Some(40.0));
        assert_eq!(w.availability_during_partitions, Some(30.0));
        assert_eq!(w.p99_outside_faults_ms, Some(3.0));
        assert_eq!(w.throughput, 10.0);
    }
}
