//! `faultline test`'s plan file (`faultline.toml`, docs/ci.md): parsed, and every case
//! validated, before anything starts — the "plan" in plan → run → check → report.
//!
//! The file is read with the `toml` crate's serde deserializer: `deny_unknown_fields` refuses
//! an unknown key, serde refuses a value of the wrong type, and both errors carry the byte span
//! of the offending key or value, so a bad plan is reported as `FILE:LINE: key …: what was
//! expected` (exit 254). The values this module checks itself are kept as [`Spanned`] for the
//! same reason.
//!
//! A run case is not planned here: its keys become `faultline run`'s command line, parsed by
//! the same clap arguments ([`crate::cli::RunArgs`]) and planned by the same target registry
//! ([`crate::run::plan_of`]) as `faultline run` — so a flag's value, a workload the target
//! cannot run, or a fault it cannot inject is refused exactly as `run` refuses it, and the
//! refusal is attributed to the plan's key. The expectations are `checkers::expect`'s.

use crate::cli::{self, RunArgs};
use crate::run::{self, Refusal};
use checkers::expect::{Expectations, Figures, Tolerances, VerdictExpectation};
use checkers::registry::{self, Checker};
use checkers::CheckerKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use workloads::generator::WorkloadKind;
use workloads::target::TargetKind;

/// What is wrong with a plan (every kind is exit 254, `crate::exit::plan_error`).
#[derive(Debug)]
pub enum PlanErrorKind {
    /// The file cannot be read.
    Unreadable(String),
    /// Not TOML, or not a plan: an unknown key, a value of the wrong type, a missing key (the
    /// deserializer's words).
    Shape(String),
    /// `target` names no target of the registry.
    UnknownTarget(String),
    /// A value refused by the parser or registry `faultline run` uses (a workload the target
    /// cannot run, a fault it cannot inject, a flag's value), or by the expectations.
    Refused(String),
    /// Two cases with one name.
    DuplicateCase(String),
    /// `--case NAME` names no case of the plan.
    UnknownCase {
        /// The name given.
        name: String,
        /// The plan's cases.
        known: Vec<String>,
    },
    /// A glob of a check case matches no file, or is not a glob.
    NoHistories(String),
    /// A key given where it does not apply, or a required one missing.
    NotApplicable(String),
    /// The environment variable named by `nodes_env` is not set.
    MissingEnv(String),
    /// The baseline cannot be read.
    Baseline(String),
    /// Where results go cannot be written (store, JUnit, summary, baseline to save).
    Unwritable(String),
}

/// A bad plan: which file, line and key, and what is wrong.
#[derive(Debug)]
pub struct PlanError {
    /// The plan file.
    pub file: PathBuf,
    /// 1-based line of the key or value, when known.
    pub line: Option<usize>,
    /// The case, when the key is one of a case's.
    pub case: Option<String>,
    /// The key (`expect.verdict`, `options.mode`, `baseline.dir`), when one is to blame.
    pub key: Option<String>,
    /// What is wrong.
    pub kind: PlanErrorKind,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        match (&self.case, &self.key) {
            (Some(c), Some(k)) => write!(f, "case {c:?}, key `{k}`: ")?,
            (Some(c), None) => write!(f, "case {c:?}: ")?,
            (None, Some(k)) => write!(f, "key `{k}`: ")?,
            (None, None) => {}
        }
        match &self.kind {
            PlanErrorKind::Unreadable(m)
            | PlanErrorKind::Shape(m)
            | PlanErrorKind::Refused(m)
            | PlanErrorKind::NoHistories(m)
            | PlanErrorKind::NotApplicable(m)
            | PlanErrorKind::Baseline(m)
            | PlanErrorKind::Unwritable(m) => write!(f, "{m}"),
            PlanErrorKind::UnknownTarget(name) => {
                let known: Vec<&str> = TargetKind::ALL.iter().map(|t| t.name()).collect();
                write!(
                    f,
                    "unknown target {name:?}; expected one of: {}",
                    known.join(", ")
                )
            }
            PlanErrorKind::DuplicateCase(name) => {
                write!(f, "a second case named {name:?} (case names must be unique)")
            }
            PlanErrorKind::UnknownCase { name, known } => write!(
                f,
                "no case named {name:?}; the plan's cases: {}",
                known.join(", ")
            ),
            PlanErrorKind::MissingEnv(var) => write!(
                f,
                "the environment variable {var} is not set (it should hold the nodes, HOST:PORT,...)"
            ),
        }
    }
}

// ---- the file's shape ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    name: Option<String>,
    store: Option<Spanned<String>>,
    junit: Option<Spanned<String>>,
    baseline: Option<Spanned<BaselineToml>>,
    #[serde(rename = "case", default)]
    cases: Vec<Spanned<CaseToml>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineToml {
    dir: Option<Spanned<String>>,
    availability_points: Option<Spanned<f64>>,
    p99_percent: Option<Spanned<f64>>,
    throughput_percent: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Names {
    One(String),
    Many(Vec<String>),
}

impl Names {
    fn list(&self) -> Vec<String> {
        match self {
            Names::One(s) => s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
            Names::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseToml {
    name: Spanned<String>,
    // A run case.
    target: Option<Spanned<String>>,
    workload: Option<Spanned<String>>,
    nemesis: Option<Spanned<Names>>,
    nemesis_targets: Option<Spanned<Names>>,
    packet: Option<Spanned<String>>,
    corrupt: Option<Spanned<String>>,
    time_limit: Option<Spanned<f64>>,
    ops: Option<Spanned<u64>>,
    concurrency: Option<Spanned<u64>>,
    rate: Option<Spanned<f64>>,
    keys: Option<Spanned<u64>>,
    op_timeout: Option<Spanned<f64>>,
    nemesis_interval: Option<Spanned<f64>>,
    nemesis_hold: Option<Spanned<f64>>,
    nodes: Option<Spanned<Vec<String>>>,
    nodes_env: Option<Spanned<String>>,
    seed: Option<Spanned<u64>>,
    seeds: Option<Spanned<Vec<u64>>>,
    options: Option<BTreeMap<String, Spanned<toml::Value>>>,
    // A check case.
    check: Option<Spanned<Names>>,
    model: Option<Spanned<String>>,
    // Both.
    consistency: Option<Spanned<Names>>,
    check_time_limit: Option<Spanned<f64>>,
    cycle_search_timeout: Option<Spanned<f64>>,
    memory_limit: Option<Spanned<String>>,
    expect: Option<ExpectToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectToml {
    verdict: Option<Spanned<String>>,
    anomalies_within: Option<Spanned<Vec<String>>>,
    anomalies_allowed_by: Option<Spanned<String>>,
    min_availability_during_faults: Option<Spanned<f64>>,
    min_availability_during_partitions: Option<Spanned<f64>>,
    max_p99_outside_faults_ms: Option<Spanned<f64>>,
    min_throughput: Option<Spanned<f64>>,
}

// ---- the validated plan ----

/// A validated plan.
#[derive(Debug)]
pub struct TestPlan {
    /// The plan file.
    pub file: PathBuf,
    /// Its name (`name`, else the file's stem): the JUnit test suite.
    pub name: String,
    /// Directory holding the runs.
    pub store: PathBuf,
    /// JUnit file named by the plan (`junit`), if any.
    pub junit: Option<PathBuf>,
    /// The baseline to compare with, if any.
    pub baseline: Option<Baseline>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// A loaded baseline and the tolerances of the comparison.
#[derive(Debug)]
pub struct Baseline {
    /// Where it was read from.
    pub file: PathBuf,
    /// Each case's figures.
    pub figures: BTreeMap<String, Figures>,
    /// How far a figure may regress.
    pub tolerances: Tolerances,
}

/// The file `--save-baseline DIR` writes and `--baseline DIR` reads.
pub const BASELINE_FILE: &str = "baseline.json";

/// One case.
#[derive(Debug)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// What it runs or checks.
    pub kind: CaseKind,
    /// What it must show.
    pub expect: Expectations,
}

/// A run case or a check case.
#[derive(Debug)]
pub enum CaseKind {
    /// Runs a workload against a target (as `faultline run`).
    Run {
        /// `faultline run`'s arguments (its seed is set per run).
        args: Box<RunArgs>,
        /// The same as a command line, for the reproduce command (without `--seed` and
        /// `--store`).
        argv: Vec<String>,
        /// The seeds the plan names (empty: one from the clock).
        seeds: Vec<u64>,
        /// The target is the user's nodes (such cases run one at a time under `--jobs`).
        user_nodes: bool,
    },
    /// Checks saved histories (as `faultline check`).
    Check {
        /// The files the globs matched, sorted.
        files: Vec<String>,
        /// The checker.
        checker: &'static Checker,
        /// `--consistency` of the check.
        consistency: Vec<String>,
        /// Its time budget.
        time_limit: Duration,
        /// `--cycle-search-timeout` of the check (list-append, rw-register), if given.
        cycle_search_timeout: Option<Duration>,
        /// Its memory budget (bytes), if given.
        memory_limit: Option<u64>,
    },
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads, parses and validates the plan at `path`. `store` and `baseline` are the command
/// line's overrides. Paths in the plan are relative to the plan's directory.
pub fn load(
    path: &Path,
    store: Option<&Path>,
    baseline: Option<&Path>,
) -> Result<TestPlan, Box<PlanError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Box::new(PlanError {
            file: path.to_path_buf(),
            line: None,
            case: None,
            key: None,
            kind: PlanErrorKind::Unreadable(format!("cannot read the plan: {e}")),
        })
    })?;
    let file: PlanFile = toml::from_str(&text).map_err(|e| shape_error(path, &text, &e))?;
    let ctx = Ctx {
        path,
        text: &text,
        dir: path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
    };
    ctx.validate(file, store, baseline)
}

/// A deserializer's error, with the line and the key it points at.
fn shape_error(path: &Path, text: &str, e: &toml::de::Error) -> Box<PlanError> {
    let message = e.message().trim().to_string();
    let start = e.span().map(|s| s.start);
    let line = start.map(|s| line_of(text, s));
    // The key: named in the message (`unknown field `tme_limit``, `missing field `name``), else
    // the one left of `=` on the line the span points at; prefixed by the table it is in.
    let named = message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("unknown field") || message.starts_with("missing field"))
        .map(str::to_string);
    let key = start.and_then(|s| {
        let line_start = text[..s.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
        let line_text = text[line_start..].lines().next().unwrap_or("");
        let own = named.clone().or_else(|| {
            line_text
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .filter(|k| !k.is_empty() && !k.starts_with('['))
        });
        let table = text[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        let header = line_text.trim_start().starts_with('[');
        if header {
            // A missing key: the span is the table's; name the key within it.
            let this = line_text
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            return Some(match own {
                Some(k) => format!("{this}.{k}"),
                None => this,
            });
        }
        match (table, own) {
            (Some(t), Some(k)) if !header => Some(format!("{t}.{k}")),
            (_, Some(k)) => Some(k),
            (Some(t), None) => Some(t),
            (None, None) => None,
        }
    });
    Box::new(PlanError {
        file: path.to_path_buf(),
        line,
        case: None,
        key,
        kind: PlanErrorKind::Shape(message),
    })
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    dir: PathBuf,
}

impl Ctx<'_> {
    fn err(
        &self,
        span: Option<std::ops::Range<usize>>,
        case: Option<&str>,
        key: &str,
        kind: PlanErrorKind,
    ) -> Box<PlanError> {
        Box::new(PlanError {
            file: self.path.to_path_buf(),
            line: span.map(|s| line_of(self.text, s.start)),
            case: case.map(str::to_string),
            key: (!key.is_empty()).then(|| key.to_string()),
            kind,
        })
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    fn validate(
        &self,
        file: PlanFile,
        store: Option<&Path>,
        baseline_dir: Option<&Path>,
    ) -> Result<TestPlan, Box<PlanError>> {
        let name = file.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "faultline".into())
        });
        let store = match (store, &file.store) {
            (Some(s), _) => s.to_path_buf(),
            (None, Some(s)) => self.resolve(s.get_ref()),
            (None, None) => PathBuf::from("store"),
        };
        let junit = file.junit.as_ref().map(|j| self.resolve(j.get_ref()));
        if file.cases.is_empty() {
            return Err(self.err(
                None,
                None,
                "case",
                PlanErrorKind::NotApplicable(
                    "the plan has no case (add a [[case]] table: docs/ci.md)".into(),
                ),
            ));
        }
        let mut cases: Vec<Case> = Vec::new();
        for c in file.cases {
            let span = c.span();
            let c = c.into_inner();
            if cases.iter().any(|k| k.name == *c.name.get_ref()) {
                return Err(self.err(
                    Some(c.name.span()),
                    None,
                    "name",
                    PlanErrorKind::DuplicateCase(c.name.get_ref().clone()),
                ));
            }
            cases.push(self.case(c, span, &store)?);
        }
        let baseline = self.baseline(file.baseline, baseline_dir)?;
        Ok(TestPlan {
            file: self.path.to_path_buf(),
            name,
            store,
            junit,
            baseline,
            cases,
        })
    }

    fn baseline(
        &self,
        table: Option<Spanned<BaselineToml>>,
        cli_dir: Option<&Path>,
    ) -> Result<Option<Baseline>, Box<PlanError>> {
        let table = table.map(Spanned::into_inner);
        let dir = match (cli_dir, table.as_ref().and_then(|t| t.dir.as_ref())) {
            (Some(d), _) => (d.to_path_buf(), None),
            (None, Some(d)) => (self.resolve(d.get_ref()), Some(d.span())),
            // Tolerances without `dir`: they apply when --baseline DIR is given.
            (None, None) => return Ok(None),
        };
        let mut tolerances = Tolerances::default();
        if let Some(t) = &table {
            for (key, value, slot) in [
                (
                    "baseline.availability_points",
                    &t.availability_points,
                    &mut tolerances.availability_points,
                ),
                (
                    "baseline.p99_percent",
                    &t.p99_percent,
                    &mut tolerances.p99_percent,
                ),
                (
                    "baseline.throughput_percent",
                    &t.throughput_percent,
                    &mut tolerances.throughput_percent,
                ),
            ] {
                if let Some(v) = value {
                    let x = *v.get_ref();
                    if !(x.is_finite() && x >= 0.0) {
                        return Err(self.err(
                            Some(v.span()),
                            None,
                            key,
                            PlanErrorKind::Refused(format!(
                                "expected a tolerance of 0 or more, found {x}"
                            )),
                        ));
                    }
                    *slot = Some(x);
                }
            }
        }
        if tolerances == Tolerances::default() {
            // Nothing stated: availability may drop by 5 points (latency and throughput vary
            // too much between machines to judge without a stated tolerance).
            tolerances.availability_points = Some(5.0);
        }
        let (dir, dir_span) = dir;
        let file = if dir.is_file() {
            dir.clone()
        } else {
            dir.join(BASELINE_FILE)
        };
        let key = if dir_span.is_some() {
            "baseline.dir"
        } else {
            ""
        };
        let bad = |m: String| {
            let m = match dir_span {
                Some(_) => m,
                None => format!("--baseline: {m}"),
            };
            self.err(dir_span.clone(), None, key, PlanErrorKind::Baseline(m))
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?;
        let figures = parse_baseline(&text)
            .map_err(|e| bad(format!("{} is not a baseline: {e}", file.display())))?;
        Ok(Some(Baseline {
            file,
            figures,
            tolerances,
        }))
    }

    fn case(
        &self,
        c: CaseToml,
        span: std::ops::Range<usize>,
        store: &Path,
    ) -> Result<Case, Box<PlanError>> {
        let name = c.name.get_ref().clone();
        let case = Some(name.as_str());
        if name.trim().is_empty() {
            return Err(self.err(
                Some(c.name.span()),
                None,
                "name",
                PlanErrorKind::Refused("expected a case name, found an empty string".into()),
            ));
        }
        let kind = match (&c.target, &c.check) {
            (Some(_), Some(check)) => {
                return Err(self.err(
                    Some(check.span()),
                    case,
                    "check",
                    PlanErrorKind::NotApplicable(
                        "a case either runs a target (`target`) or checks saved histories \
                         (`check`), not both"
                            .into(),
                    ),
                ))
            }
            (None, None) => {
                return Err(self.err(
                    Some(span),
                    case,
                    "target",
                    PlanErrorKind::NotApplicable(
                        "expected `target` (a run case) or `check` (globs of saved histories)"
                            .into(),
                    ),
                ))
            }
            (Some(_), None) => self.run_case(&c, store)?,
            (None, Some(_)) => self.check_case(&c)?,
        };
        let expect = self.expectations(&c, &kind)?;
        Ok(Case { name, kind, expect })
    }

    fn check_case(&self, c: &CaseToml) -> Result<CaseKind, Box<PlanError>> {
        let case = Some(c.name.get_ref().as_str());
        let run_only: [(&str, Option<std::ops::Range<usize>>); 16] = [
            ("nemesis", c.nemesis.as_ref().map(Spanned::span)),
            (
                "nemesis_targets",
                c.nemesis_targets.as_ref().map(Spanned::span),
            ),
            ("packet", c.packet.as_ref().map(Spanned::span)),
            ("corrupt", c.corrupt.as_ref().map(Spanned::span)),
            ("time_limit", c.time_limit.as_ref().map(Spanned::span)),
            ("ops", c.ops.as_ref().map(Spanned::span)),
            ("concurrency", c.concurrency.as_ref().map(Spanned::span)),
            ("rate", c.rate.as_ref().map(Spanned::span)),
            ("keys", c.keys.as_ref().map(Spanned::span)),
            ("op_timeout", c.op_timeout.as_ref().map(Spanned::span)),
            (
                "nemesis_interval",
                c.nemesis_interval.as_ref().map(Spanned::span),
            ),
            ("nemesis_hold", c.nemesis_hold.as_ref().map(Spanned::span)),
            ("nodes", c.nodes.as_ref().map(Spanned::span)),
            ("nodes_env", c.nodes_env.as_ref().map(Spanned::span)),
            ("seed", c.seed.as_ref().map(Spanned::span)),
            ("seeds", c.seeds.as_ref().map(Spanned::span)),
        ];
        for (key, span) in run_only {
            if let Some(span) = span {
                return Err(self.err(
                    Some(span),
                    case,
                    key,
                    PlanErrorKind::NotApplicable(format!(
                        "`{key}` applies to a run case (`target`), not to a check case"
                    )),
                ));
            }
        }
        if let Some((k, v)) = c.options.as_ref().and_then(|o| o.iter().next()) {
            return Err(self.err(
                Some(v.span()),
                case,
                &format!("options.{k}"),
                PlanErrorKind::NotApplicable(
                    "`options` (a target's flags) apply to a run case, not to a check case".into(),
                ),
            ));
        }
        let checker =
            match (&c.model, &c.workload) {
                (Some(m), None) => {
                    registry::find(CheckerKind::Model, m.get_ref()).ok_or_else(|| {
                        let known: Vec<&str> = registry::models().map(|m| m.name).collect();
                        self.err(
                            Some(m.span()),
                            case,
                            "model",
                            PlanErrorKind::Refused(format!(
                                "unknown model {:?}; expected one of: {}",
                                m.get_ref(),
                                known.join(", ")
                            )),
                        )
                    })?
                }
                (None, Some(w)) => {
                    registry::find(CheckerKind::Workload, w.get_ref()).ok_or_else(|| {
                        let known: Vec<&str> = registry::CHECKERS
                            .iter()
                            .filter(|c| c.kind == CheckerKind::Workload)
                            .map(|c| c.name)
                            .collect();
                        self.err(
                            Some(w.span()),
                            case,
                            "workload",
                            PlanErrorKind::Refused(format!(
                                "unknown workload checker {:?}; expected one of: {}",
                                w.get_ref(),
                                known.join(", ")
                            )),
                        )
                    })?
                }
                (Some(m), Some(_)) => {
                    return Err(self.err(
                        Some(m.span()),
                        case,
                        "model",
                        PlanErrorKind::NotApplicable(
                            "a check case names `model` or `workload`, not both".into(),
                        ),
                    ))
                }
                (None, None) => return Err(self.err(
                    c.check.as_ref().map(Spanned::span),
                    case,
                    "model",
                    PlanErrorKind::NotApplicable(
                        "a check case needs `model` (linearizability) or `workload` (a workload \
                         checker) to check the histories with"
                            .into(),
                    ),
                )),
            };
        let consistency = c
            .consistency
            .as_ref()
            .map(|s| s.get_ref().list())
            .unwrap_or_default();
        if let Some(s) = &c.consistency {
            if checker.kind == CheckerKind::Model {
                return Err(self.err(
                    Some(s.span()),
                    case,
                    "consistency",
                    PlanErrorKind::NotApplicable(
                        "`consistency` applies to workload checkers (list-append, rw-register), \
                         not to a model"
                            .into(),
                    ),
                ));
            }
            for m in &consistency {
                checkers::parse_consistency(m).map_err(|e| {
                    self.err(
                        Some(s.span()),
                        case,
                        "consistency",
                        PlanErrorKind::Refused(e.to_string()),
                    )
                })?;
            }
        }
        let opts = checkers::CheckOptions {
            consistency: consistency.clone(),
            ..Default::default()
        };
        if let Err(e) = checker.validate(&opts) {
            return Err(self.err(
                c.check.as_ref().map(Spanned::span),
                case,
                "workload",
                PlanErrorKind::Refused(e.to_string()),
            ));
        }
        let globs = c.check.as_ref().expect("a check case");
        let mut files = Vec::new();
        for pattern in globs.get_ref().list() {
            let full = self.resolve(&pattern);
            let full = full.to_string_lossy();
            let matched = glob::glob(&full).map_err(|e| {
                self.err(
                    Some(globs.span()),
                    case,
                    "check",
                    PlanErrorKind::NoHistories(format!("{pattern:?} is not a glob: {e}")),
                )
            })?;
            let mut found: Vec<String> = matched
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .map(|p| p.to_string_lossy().to_string())
                .collect();
            if found.is_empty() {
                return Err(self.err(
                    Some(globs.span()),
                    case,
                    "check",
                    PlanErrorKind::NoHistories(format!(
                        "{pattern:?} matches no file (looked for {full}; paths are relative to \
                         the plan's directory)"
                    )),
                ));
            }
            found.sort();
            files.extend(found);
        }
        let time_limit = self.seconds(&c.check_time_limit, case, "check_time_limit")?;
        let cycle_search_timeout =
            self.seconds(&c.cycle_search_timeout, case, "cycle_search_timeout")?;
        if let (Some(_), Some(s)) = (cycle_search_timeout, &c.cycle_search_timeout) {
            if !matches!(checker.name, "list-append" | "rw-register")
                || checker.kind != CheckerKind::Workload
            {
                return Err(self.err(
                    Some(s.span()),
                    case,
                    "cycle_search_timeout",
                    PlanErrorKind::NotApplicable(format!(
                        "`cycle_search_timeout` applies to workload list-append and \
                         rw-register, not to {} {}",
                        match checker.kind {
                            CheckerKind::Model => "model",
                            CheckerKind::Workload => "workload",
                        },
                        checker.name
                    )),
                ));
            }
        }
        let memory_limit = self.memory_limit(c)?;
        Ok(CaseKind::Check {
            files,
            checker,
            consistency,
            cycle_search_timeout,
            time_limit: time_limit.unwrap_or(Duration::from_secs(600)),
            memory_limit,
        })
    }

    fn seconds(
        &self,
        v: &Option<Spanned<f64>>,
        case: Option<&str>,
        key: &str,
    ) -> Result<Option<Duration>, Box<PlanError>> {
        match v {
            None => Ok(None),
            Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 && *s.get_ref() <= 1e9 => {
                Ok(Some(Duration::from_secs_f64(*s.get_ref())))
            }
            Some(s) => Err(self.err(
                Some(s.span()),
                case,
                key,
                PlanErrorKind::Refused(format!(
                    "expected a number of seconds greater than 0, found {}",
                    s.get_ref()
                )),
            )),
        }
    }

    fn memory_limit(&self, c: &CaseToml) -> Result<Option<u64>, Box<PlanError>> {
        let Some(m) = &c.memory_limit else {
            return Ok(None);
        };
        // The same parser as --memory-limit: through clap, so the words are the same.
        let argv = ["faultline", "report", "x", "--memory-limit", m.get_ref()];
        match cli::parse(argv) {
            Ok(cli::Cli {
                command: cli::Command::Report(r),
            }) => Ok(r.memory_limit),
            Ok(_) => Ok(None),
            Err(e) => Err(self.err(
                Some(m.span()),
                Some(c.name.get_ref()),
                "memory_limit",
                PlanErrorKind::Refused(clap_message(&e)),
            )),
        }
    }

    fn run_case(&self, c: &CaseToml, store: &Path) -> Result<CaseKind, Box<PlanError>> {
        let case = Some(c.name.get_ref().as_str());
        let target = c.target.as_ref().expect("a run case");
        let Some(kind) = TargetKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == target.get_ref())
        else {
            return Err(self.err(
                Some(target.span()),
                case,
                "target",
                PlanErrorKind::UnknownTarget(target.get_ref().clone()),
            ));
        };
        if let Some(m) = &c.model {
            return Err(self.err(
                Some(m.span()),
                case,
                "model",
                PlanErrorKind::NotApplicable(
                    "`model` applies to a check case; a run case's checker follows its `workload`"
                        .into(),
                ),
            ));
        }
        // Each key becomes the flag `faultline run` takes; `given` remembers which key gave
        // which flag, to name the key when the flag is refused.
        let mut argv: Vec<String> = vec!["run".into(), "--target".into(), kind.name().into()];
        let mut given: Vec<(String, String, std::ops::Range<usize>)> =
            vec![("--target".into(), "target".into(), target.span())];
        let mut push = |flag: &str, key: &str, span: std::ops::Range<usize>, value: String| {
            argv.push(flag.to_string());
            argv.push(value);
            given.push((flag.to_string(), key.to_string(), span));
        };
        if let Some(w) = &c.workload {
            push("--workload", "workload", w.span(), w.get_ref().clone());
        }
        if let Some(n) = &c.nemesis {
            let list = n.get_ref().list();
            let value = if list.is_empty() {
                "none".into()
            } else {
                list.join(",")
            };
            push("--nemesis", "nemesis", n.span(), value);
        }
        if let Some(t) = &c.nemesis_targets {
            let value = t.get_ref().list().join(",");
            push("--nemesis-targets", "nemesis_targets", t.span(), value);
        }
        for (flag, key, v) in [
            ("--packet", "packet", &c.packet),
            ("--corrupt", "corrupt", &c.corrupt),
        ] {
            if let Some(v) = v {
                push(flag, key, v.span(), v.get_ref().clone());
            }
        }
        for (flag, key, v) in [
            ("--time-limit", "time_limit", &c.time_limit),
            ("--rate", "rate", &c.rate),
            ("--op-timeout", "op_timeout", &c.op_timeout),
            (
                "--nemesis-interval",
                "nemesis_interval",
                &c.nemesis_interval,
            ),
            ("--nemesis-hold", "nemesis_hold", &c.nemesis_hold),
            (
                "--check-time-limit",
                "check_time_limit",
                &c.check_time_limit,
            ),
            (
                "--cycle-search-timeout",
                "cycle_search_timeout",
                &c.cycle_search_timeout,
            ),
        ] {
            if let Some(v) = v {
                push(flag, key, v.span(), v.get_ref().to_string());
            }
        }
        for (flag, key, v) in [
            ("--ops", "ops", &c.ops),
            ("--concurrency", "concurrency", &c.concurrency),
            ("--keys", "keys", &c.keys),
        ] {
            if let Some(v) = v {
                push(flag, key, v.span(), v.get_ref().to_string());
            }
        }
        if let Some(m) = &c.memory_limit {
            push(
                "--memory-limit",
                "memory_limit",
                m.span(),
                m.get_ref().clone(),
            );
        }
        if let Some(s) = &c.consistency {
            for m in s.get_ref().list() {
                push("--consistency", "consistency", s.span(), m);
            }
        }
        let nodes = match (&c.nodes, &c.nodes_env) {
            (Some(_), Some(e)) => {
                return Err(self.err(
                    Some(e.span()),
                    case,
                    "nodes_env",
                    PlanErrorKind::NotApplicable("give `nodes` or `nodes_env`, not both".into()),
                ))
            }
            (Some(n), None) => Some((n.get_ref().join(","), n.span(), "nodes")),
            (None, Some(e)) => match std::env::var(e.get_ref()) {
                Ok(v) if !v.trim().is_empty() => {
                    Some((v.trim().to_string(), e.span(), "nodes_env"))
                }
                _ => {
                    return Err(self.err(
                        Some(e.span()),
                        case,
                        "nodes_env",
                        PlanErrorKind::MissingEnv(e.get_ref().clone()),
                    ))
                }
            },
            (None, None) => None,
        };
        let user_nodes = nodes.is_some();
        if let Some((list, span, key)) = nodes {
            push("--nodes", key, span, list);
        }
        let flags = target_flags();
        for (key, value) in c.options.iter().flatten() {
            let long = key.replace('_', "-");
            let okey = format!("options.{key}");
            let Some((_, takes_value)) = flags.iter().find(|(l, _)| *l == long) else {
                let known: Vec<String> = flags.iter().map(|(l, _)| l.replace('-', "_")).collect();
                return Err(self.err(
                    Some(value.span()),
                    case,
                    &okey,
                    PlanErrorKind::Shape(format!(
                        "unknown option `{key}`; a target's options are its `faultline run` \
                         flags without the dashes: {}",
                        known.join(", ")
                    )),
                ));
            };
            let flag = format!("--{long}");
            let wrong = |expected: &str| {
                self.err(
                    Some(value.span()),
                    case,
                    &okey,
                    PlanErrorKind::Shape(format!(
                        "invalid type: {}, expected {expected}",
                        value.get_ref().type_str()
                    )),
                )
            };
            let text = match (value.get_ref(), takes_value) {
                (toml::Value::Boolean(b), false) => {
                    if *b {
                        argv.push(flag.clone());
                        given.push((flag, okey, value.span()));
                    }
                    continue;
                }
                (_, false) => return Err(wrong("true or false (a switch)")),
                (toml::Value::String(s), true) => s.clone(),
                (toml::Value::Integer(i), true) => i.to_string(),
                (toml::Value::Float(f), true) => f.to_string(),
                (toml::Value::Boolean(b), true) => b.to_string(),
                (toml::Value::Array(a), true) => {
                    let mut parts = Vec::new();
                    for x in a {
                        match x {
                            toml::Value::String(s) => parts.push(s.clone()),
                            toml::Value::Integer(i) => parts.push(i.to_string()),
                            _ => return Err(wrong("a string, number, or list of them")),
                        }
                    }
                    parts.join(",")
                }
                _ => return Err(wrong("a string, number, boolean or list")),
            };
            argv.push(flag.clone());
            argv.push(text);
            given.push((flag, okey, value.span()));
        }
        let key_of_flag = |flag: &str| {
            given
                .iter()
                .rev()
                .find(|(f, _, _)| f == flag)
                .map(|(_, k, s)| (k.clone(), s.clone()))
        };
        // Parsed by `run`'s own arguments…
        let mut full: Vec<String> = vec!["faultline".into()];
        full.extend(argv.iter().cloned());
        full.push("--store".into());
        full.push(store.to_string_lossy().to_string());
        let args = match cli::parse(&full) {
            Ok(cli::Cli {
                command: cli::Command::Run(args),
            }) => args,
            Ok(_) => unreachable!("a `run` command line parses as run"),
            Err(e) => {
                let flag = match e.get(clap::error::ContextKind::InvalidArg) {
                    Some(clap::error::ContextValue::String(s)) => {
                        s.split_whitespace().next().unwrap_or("").to_string()
                    }
                    _ => String::new(),
                };
                let (key, span) = key_of_flag(&flag).unwrap_or(("target".into(), target.span()));
                return Err(self.err(
                    Some(span),
                    case,
                    &key,
                    PlanErrorKind::Refused(clap_message(&e)),
                ));
            }
        };
        // …and planned by the registry `run` uses.
        if let Err(refusal) = run::plan_of(&args, 0) {
            let (key, span) = match &refusal {
                Refusal::Workload(_) => key_of_flag("--workload"),
                Refusal::Nemesis(_) => key_of_flag("--nemesis"),
                Refusal::NemesisTargets(_) => key_of_flag("--nemesis-targets"),
                Refusal::Packet(_) => key_of_flag("--packet"),
                Refusal::Corrupt(_) => key_of_flag("--corrupt"),
                Refusal::AnomaliesNotApplicable | Refusal::Anomaly(_) => key_of_flag("--anomalies"),
                Refusal::InferenceNotApplicable => {
                    ["--wfr-keys", "--sequential-keys", "--linearizable-keys"]
                        .into_iter()
                        .find_map(&key_of_flag)
                }
                Refusal::CycleSearchTimeoutNotApplicable => key_of_flag("--cycle-search-timeout"),
                Refusal::ConsistencyNotApplicable | Refusal::Consistency(_) => {
                    key_of_flag("--consistency")
                }
                Refusal::Target(workloads::RunError::ForeignFlag { flag, .. }) => key_of_flag(flag),
                Refusal::Target(_) => blame(&args, &key_of_flag),
            }
            .unwrap_or(("target".into(), target.span()));
            return Err(self.err(
                Some(span),
                case,
                &key,
                PlanErrorKind::Refused(refusal.to_string()),
            ));
        }
        let seeds = match (&c.seed, &c.seeds) {
            (Some(_), Some(s)) => {
                return Err(self.err(
                    Some(s.span()),
                    case,
                    "seeds",
                    PlanErrorKind::NotApplicable("give `seed` or `seeds`, not both".into()),
                ))
            }
            (Some(s), None) => vec![*s.get_ref()],
            (None, Some(s)) if s.get_ref().is_empty() => {
                return Err(self.err(
                    Some(s.span()),
                    case,
                    "seeds",
                    PlanErrorKind::Refused("expected at least one seed".into()),
                ))
            }
            (None, Some(s)) => s.get_ref().clone(),
            (None, None) => Vec::new(),
        };
        Ok(CaseKind::Run {
            args,
            argv,
            seeds,
            user_nodes: user_nodes || kind == TargetKind::HttpKv,
        })
    }

    fn expectations(&self, c: &CaseToml, kind: &CaseKind) -> Result<Expectations, Box<PlanError>> {
        let case = Some(c.name.get_ref().as_str());
        let Some(e) = &c.expect else {
            return Ok(Expectations::default());
        };
        let checker_kind = match kind {
            CaseKind::Run { args, .. } => WorkloadKind::parse(&args.workload)
                .map(|w| w.checker())
                .map(|(k, name, _)| (k, name))
                .unwrap_or((CheckerKind::Model, "")),
            CaseKind::Check { checker, .. } => (checker.kind, checker.name),
        };
        let mut out = Expectations::default();
        if let Some(v) = &e.verdict {
            let parsed = VerdictExpectation::parse(v.get_ref()).ok_or_else(|| {
                let names: Vec<&str> = VerdictExpectation::ALL.iter().map(|(n, _)| *n).collect();
                self.err(
                    Some(v.span()),
                    case,
                    "expect.verdict",
                    PlanErrorKind::Refused(format!(
                        "expected one of {}, found {:?}",
                        names.join(", "),
                        v.get_ref()
                    )),
                )
            })?;
            if parsed == VerdictExpectation::Linearizable && checker_kind.0 != CheckerKind::Model {
                return Err(self.err(
                    Some(v.span()),
                    case,
                    "expect.verdict",
                    PlanErrorKind::Refused(format!(
                        "`linearizable` needs a linearizability check, but these histories go \
                         to the {} checker; expect \"valid\" or \"invalid\"",
                        checker_kind.1
                    )),
                ));
            }
            out.verdict = Some(parsed);
        }
        if let Some(w) = &e.anomalies_within {
            out.anomalies_within = Some(w.get_ref().clone());
        }
        if let Some(m) = &e.anomalies_allowed_by {
            checkers::parse_consistency(m.get_ref()).map_err(|err| {
                self.err(
                    Some(m.span()),
                    case,
                    "expect.anomalies_allowed_by",
                    PlanErrorKind::Refused(err.to_string()),
                )
            })?;
            out.anomalies_allowed_by = Some(m.get_ref().clone());
        }
        for (key, v, slot, percent) in [
            (
                "expect.min_availability_during_faults",
                &e.min_availability_during_faults,
                &mut out.min_availability_during_faults,
                true,
            ),
            (
                "expect.min_availability_during_partitions",
                &e.min_availability_during_partitions,
                &mut out.min_availability_during_partitions,
                true,
            ),
            (
                "expect.max_p99_outside_faults_ms",
                &e.max_p99_outside_faults_ms,
                &mut out.max_p99_outside_faults_ms,
                false,
            ),
            (
                "expect.min_throughput",
                &e.min_throughput,
                &mut out.min_throughput,
                false,
            ),
        ] {
            if let Some(v) = v {
                let x = *v.get_ref();
                let ok = x.is_finite() && x >= 0.0 && (!percent || x <= 100.0);
                if !ok {
                    return Err(self.err(
                        Some(v.span()),
                        case,
                        key,
                        PlanErrorKind::Refused(if percent {
                            format!("expected a percentage from 0 to 100, found {x}")
                        } else {
                            format!("expected a number of 0 or more, found {x}")
                        }),
                    ));
                }
                *slot = Some(x);
            }
        }
        Ok(out)
    }
}

/// A plan's key and the byte span of its value.
type KeySpan = (String, std::ops::Range<usize>);

/// Which key a target's refusal (other than a foreign flag) is about: the faults if the
/// target plans without them, else the workload if it plans with another one, else the
/// target itself (its options or nodes).
fn blame(args: &RunArgs, key_of_flag: &dyn Fn(&str) -> Option<KeySpan>) -> Option<KeySpan> {
    let mut quiet = args.clone();
    quiet.nemesis = "none".into();
    if args.nemesis != "none" && run::plan_of(&quiet, 0).is_ok() {
        return key_of_flag("--nemesis");
    }
    for w in ["register", "kv", "list-append", "queue"] {
        let mut other = quiet.clone();
        other.workload = w.into();
        other.consistency.clear();
        if w != args.workload && run::plan_of(&other, 0).is_ok() {
            return key_of_flag("--workload").or_else(|| key_of_flag("--target"));
        }
    }
    None
}

/// The long names of every target's flags (the registry's `TargetArgs`, without `--nodes`,
/// which a case gives as `nodes`), with whether each takes a value.
fn target_flags() -> Vec<(String, bool)> {
    use clap::Args as _;
    let cmd = workloads::target::TargetArgs::augment_args(clap::Command::new("run"));
    cmd.get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            (long != "nodes").then(|| (long.to_string(), a.get_action().takes_values()))
        })
        .collect()
}

/// clap's error as one line, without its usage and help hints.
pub fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    lines.join(" ").trim_start_matches("error: ").to_string()
}

/// Reads a baseline file: `{"cases": {"NAME": Figures, …}}`.
fn parse_baseline(text: &str) -> Result<BTreeMap<String, Figures>, String> {
    #[derive(Deserialize)]
    struct File {
        cases: BTreeMap<String, Figures>,
    }
    serde_json::from_str::<File>(text)
        .map(|f| f.cases)
        .map_err(|e| e.to_string())
}

/// The text of a baseline file for `figures` (what `--save-baseline` writes).
pub fn baseline_json(plan: &str, figures: &BTreeMap<String, Figures>) -> String {
    let mut text = serde_json::to_string_pretty(&serde_json::json!({
        "format_version": 1,
        "plan": plan,
        "cases": figures,
    }))
    .unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<TestPlan, Box<PlanError>> {
        let dir = tempfile_dir();
        let path = dir.join("faultline.toml");
        std::fs::write(&path, text).unwrap();
        load(&path, Some(&dir.join("store")), None)
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "faultline-plan-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_run_case_becomes_run_arguments() {
        let plan = load_text(
            r#"
[[case]]
name = "sync"
target = "demo"
nemesis = ["partition", "kill"]
time_limit = 3
rate = 200
seed = 7
[case.options]
mode = "sync"
[case.expect]
verdict = "linearizable"
"#,
        )
        .unwrap();
        let CaseKind::Run {
            args,
            argv,
            seeds,
            user_nodes,
        } = &plan.cases[0].kind
        else {
            panic!("a run case")
        };
        assert_eq!(args.nemesis, "partition,kill");
        assert_eq!(args.time_limit, Duration::from_secs(3));
        assert_eq!(seeds, &[7]);
        assert!(!user_nodes);
        assert!(argv.windows(2).any(|w| w == ["--mode", "sync"]), "{argv:?}");
    }

    /// Guards the plan keys of the fault settings `faultline run` takes as --nemesis-targets,
    /// --packet and --corrupt (refusals of `run` name them as keys).
    #[test]
    fn a_run_case_sets_the_faults_aim_packet_and_corruption() {
        let plan = load_text(
            r#"
[[case]]
name = "packets"
target = "demo"
nemesis = ["packet", "corrupt"]
nemesis_targets = ["minority", "one"]
packet = "delay=20ms,loss=0.1"
corrupt = "truncate=16,file=log.bin"
[case.options]
mode = "sync"
"#,
        )
        .unwrap();
        let CaseKind::Run { args, .. } = &plan.cases[0].kind else {
            panic!("a run case")
        };
        assert_eq!(args.nemesis_targets.as_deref(), Some("minority,one"));
        assert_eq!(args.packet.as_deref(), Some("delay=20ms,loss=0.1"));
        assert_eq!(args.corrupt.as_deref(), Some("truncate=16,file=log.bin"));
        let head = "[[case]]\nname = \"a\"\ntarget = \"demo\"\nnemesis = \"packet\"\n";
        let e = load_text(&format!("{head}packet = \"loss=2\"\n")).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(5), Some("packet")), "{e}");
        let e = load_text(&format!("{head}nemesis_targets = \"everywhere\"\n")).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(5), Some("nemesis_targets")),
            "{e}"
        );
        let check = "[[case]]\nname = \"c\"\ncheck = \"x.jsonl\"\nmodel = \"register\"\n";
        let e = load_text(&format!("{check}corrupt = \"truncate=1\"\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("corrupt"), "{e}");
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let e =
            load_text("[[case]]\nname = \"a\"\ntarget = \"demo\"\ntme_limit = 3\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("case.tme_limit")),
            "{e}"
        );
        let e = load_text("[[case]]\nname = \"a\"\ntarget = \"demo\"\ntime_limit = \"soon\"\n")
            .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("case.time_limit")),
            "{e}"
        );
        let e = load_text("[[case]]\nname = \"a\"\ntarget = \"dmeo\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("target")), "{e}");
        assert!(e.to_string().contains("expected one of: demo"), "{e}");
        let e = load_text("[[case]]\nname = \"a\"\ntarget = \"demo\"\nworkload = \"queue\"\n")
            .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("workload")),
            "{e}"
        );
        let e = load_text(
            "[[case]]\nname = \"a\"\ntarget = \"demo\"\n[case.options]\nmode = \"fast\"\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(5), Some("options.mode")),
            "{e}"
        );
        let e = load_text(
            "[[case]]\nname = \"a\"\ntarget = \"demo\"\n[case.options]\nisolation = \"serializable\"\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(5), Some("options.isolation")),
            "{e}"
        );
        let e = load_text(
            "[[case]]\nname = \"a\"\ntarget = \"demo\"\nworkload = \"list-append\"\n[case.expect]\nverdict = \"linearizable\"\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(6), Some("expect.verdict")),
            "{e}"
        );
    }
}
