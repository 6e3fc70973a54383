//! Verdicts: what every checker concludes about one history, with the evidence a person needs —
//! the hand-off from "check" to "report" in run → check → report.
//!
//! [`Report`] is the one report type of every checker (models and workload checkers alike):
//! [`Validity::Valid`], [`Validity::Invalid`] or [`Validity::Unknown`] (budget exhausted, with
//! its typed [`StopReason`], or nothing it can judge) — never a guess. An invalid
//! linearizability verdict carries a [`Counterexample`]; a workload checker's, named anomalies
//! and an explanation. The binary renders them as the stable JSON of `check --format json` (see
//! `docs/cli.md`) and as text.

use crate::budget::StopReason;
use crate::history::Operation;
use crate::succeeded::NothingSucceeded;
use serde::Serialize;
use serde_json::Value;

/// The three possible verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Validity {
    /// A witness order exists (or no anomaly was found).
    Valid,
    /// Certainly not valid: no order explains the results.
    Invalid,
    /// Could not decide within the budget.
    Unknown,
}

impl Validity {
    /// The JSON form: `true`, `false` or `"unknown"`.
    pub fn to_json(self) -> Value {
        match self {
            Validity::Valid => Value::Bool(true),
            Validity::Invalid => Value::Bool(false),
            Validity::Unknown => Value::String("unknown".into()),
        }
    }

    /// Combines per-partition verdicts: any invalid → invalid; else any unknown → unknown.
    pub fn and(self, other: Validity) -> Validity {
        use Validity::*;
        match (self, other) {
            (Invalid, _) | (_, Invalid) => Invalid,
            (Unknown, _) | (_, Unknown) => Unknown,
            _ => Valid,
        }
    }
}

/// One operation as shown in a counterexample: enough to find it in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpView {
    /// Position in the paired operation list.
    pub id: usize,
    /// The issuing process.
    pub process: String,
    /// The operation name.
    pub f: String,
    /// Key, for keyed histories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// Invocation value (the argument).
    pub value: Value,
    /// Completion value (the result), for ok operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// ok / info / fail as recorded.
    pub outcome: String,
    /// 1-based line of the invocation.
    pub invoke_line: usize,
    /// 1-based line of the completion, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_line: Option<usize>,
    /// Invocation time (ns) if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// Completion time (ns) if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
}

impl OpView {
    /// The view of a history operation.
    pub fn of(op: &Operation) -> OpView {
        OpView {
            id: op.id,
            process: op
                .process
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            f: op.f.clone().unwrap_or_default(),
            key: op.key.clone(),
            value: op.input.clone(),
            result: (op.outcome == crate::history::Outcome::Ok).then(|| op.output.clone()),
            outcome: op.outcome.name().to_string(),
            invoke_line: op.invoke_line,
            complete_line: op.complete_line,
            start: op.invoke_time,
            end: op.complete_time,
        }
    }
}

/// One step of a partial linearization: the op and the model state after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The operation linearized.
    pub op: OpView,
    /// The model state after it.
    pub state: Value,
}

/// Why a history is not linearizable, in terms a person can check against the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counterexample {
    /// The partition (key) that failed, for keyed histories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The operation that could not be linearized after the longest partial linearization.
    pub stuck: OpView,
    /// The longest partial linearizations the search reached (each a valid order of a prefix).
    pub longest: Vec<Vec<Step>>,
    /// The model state at the end of the first longest partial linearization.
    pub state_before_stuck: Value,
    /// A minimal sub-history that is still not linearizable (the core operations), with the
    /// rules used to obtain it described in `shrink_note`.
    pub minimal: Vec<OpView>,
    /// How many other operations of this partition the minimal sub-history treats as
    /// indeterminate (they may have happened at any time after their invocation, or never).
    pub minimal_weakened: usize,
    /// True when shrinking ran to a 1-minimal result; false when its budget ran out first.
    pub minimal_complete: bool,
    /// The minimal sub-history ends at this line: operations invoked after it are left out,
    /// and those still running there count as indeterminate. `None` when it did not cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimal_cut_line: Option<usize>,
    /// The longest partial linearization of the minimal sub-history: its core operations and
    /// the indeterminate ones needed to explain what they saw, in order, with the model state
    /// after each. Empty with `--no-shrink` or when the budget ran out computing it.
    pub minimal_path: Vec<Step>,
    /// The core operation that cannot be linearized after `minimal_path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimal_stuck: Option<OpView>,
}

/// Statistics of a check.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Client operations checked (for a model: handed to the model, after dropping fails and
    /// no-effect ops).
    pub ops: usize,
    /// Independent partitions (keys) checked (linearizability only).
    pub partitions: usize,
    /// The keys came from Jepsen's independent `[key value]` tuples
    /// ([`crate::history::unwrap_tuples`]; linearizability only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tuples: bool,
    /// Configurations memoized by the search, summed over partitions (linearizability only).
    pub states: u64,
    /// Wall-clock milliseconds spent in the check.
    pub millis: f64,
}

/// Which family a checker belongs to: it decides what evidence its report carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckerKind {
    /// A sequential model checked for linearizability (`check --model`): evidence is a
    /// [`Counterexample`].
    Model,
    /// A workload checker (`check --workload`: Elle's transactional checkers and Jepsen's):
    /// evidence is named anomalies, an explanation, `details` and artifacts.
    Workload,
}

/// A file a checker wants written next to the results (`check --out DIR`).
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// File name, relative to the output directory (no path separators).
    pub name: String,
    /// Its contents.
    pub contents: String,
}

/// What any checker concludes about one history: the verdict, why it is unknown when it is,
/// statistics, and the evidence its kind produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The checker's name (`cas-register`, `list-append`, `bank`, …).
    pub checker: &'static str,
    /// Model or workload checker.
    pub kind: CheckerKind,
    /// The verdict.
    pub valid: Validity,
    /// Why the verdict is unknown, when it is, worded for a person.
    pub unknown_reason: Option<String>,
    /// Which limit made the verdict unknown, when one did (typed; `unknown_reason` words it).
    pub stop: Option<StopReason>,
    /// Statistics.
    pub stats: Stats,
    /// Linearizability: the evidence for an invalid verdict.
    pub counterexample: Option<Counterexample>,
    /// Workload checkers: names of the anomalies found (`G-single-item`, `lost-append`,
    /// `negative-balance`, …), sorted and without repeats; empty when valid.
    pub anomalies: Vec<String>,
    /// Workload checkers: the explanation for a person, one line per entry, already worded
    /// (no trailing newline): what was found, with the operations (by file line).
    pub explanation: Vec<String>,
    /// Workload checkers: machine-readable details (a JSON object), `details` in
    /// `--format json`.
    pub details: Value,
    /// Files to write with `--out DIR`.
    pub artifacts: Vec<Artifact>,
    /// Set when the verdict is `unknown` because no client operation, or no operation of some
    /// kind, ever succeeded (the typed reason; `unknown_reason` words it).
    pub nothing_succeeded: Option<NothingSucceeded>,
}

impl Report {
    /// A valid report of `checker` with no evidence and zero statistics, to fill in.
    pub fn new(checker: &'static str, kind: CheckerKind) -> Report {
        Report {
            checker,
            kind,
            valid: Validity::Valid,
            unknown_reason: None,
            stop: None,
            stats: Stats::default(),
            counterexample: None,
            anomalies: Vec::new(),
            explanation: Vec::new(),
            details: match kind {
                CheckerKind::Model => Value::Null,
                CheckerKind::Workload => Value::Object(Default::default()),
            },
            artifacts: Vec::new(),
            nothing_succeeded: None,
        }
    }

    /// An `unknown` report of `checker` for a check that stopped (or could not start) for
    /// `why`, after counting `ops` client operations.
    pub fn stopped(
        checker: &'static str,
        kind: CheckerKind,
        ops: usize,
        stop: Option<StopReason>,
        why: String,
    ) -> Report {
        Report {
            valid: Validity::Unknown,
            unknown_reason: Some(why),
            stop,
            stats: Stats {
                ops,
                ..Stats::default()
            },
            ..Report::new(checker, kind)
        }
    }

    /// True when the report has more to show than its verdict line (a counterexample or an
    /// explanation).
    pub fn has_details(&self) -> bool {
        self.counterexample.is_some() || !self.explanation.is_empty()
    }
}
