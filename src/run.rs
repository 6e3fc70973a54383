//! `faultline run`: start (or reach) the target, drive the workload with the nemesis, record
//! the history, check it, and write the store directory — run → check → report in one command.
//!
//! The store directory (`STORE/LABEL/TIMESTAMP/`, with `STORE/latest` pointing at the newest
//! run) holds `history.jsonl` (appended as operations happen), `results.json` (the verdict, as
//! `check --format json` prints it, plus `complete` and `interrupted`), `run.log` (phases,
//! faults, healing, appended as they happen; the summary at the end) and, for the demo target,
//! each node's log and data directory. The exit code is the verdict's. A SIGINT or SIGTERM
//! cuts the run short but still heals, stops, checks and writes everything, marked
//! incomplete; a SIGKILL leaves the history and log up to the kill (docs/reliability.md).

use crate::check::{self, FileOutcome};
use crate::cli::{OutputFormat, RunArgs};
use crate::exit;
use crate::progress;
use crate::render_human::{self, Style};
use crate::render_json;
use crate::report;
use anyhow::{Context, Result};
use checkers::history::{CompactHistory, Format};
use checkers::perf::{self, Perf};
use checkers::registry;
use checkers::CheckOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use workloads::generator::WorkloadKind;
use workloads::nemesis::{CorruptSpec, Fault, NodeSet, PacketSpec};
use workloads::runner::{Progress, RunConfig, RunSummary};
use workloads::target::{AnyTarget, RunCtx, Spec};

/// Everything one run needs, resolved from the command line (or chosen by `demo`).
#[derive(Clone)]
pub struct Plan {
    /// Name of the run's directory under the store (`demo-sync-register`).
    pub label: String,
    /// What to run against (planned by the target registry, which checked its flags, the
    /// workload and the faults).
    pub target: Arc<dyn AnyTarget>,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    /// The target sets partitions and packet faults aim at (empty: the defaults).
    pub targets: Vec<NodeSet>,
    /// What a packet fault does.
    pub packet: PacketSpec,
    /// What a file corruption does.
    pub corrupt: CorruptSpec,
    /// The runner's configuration.
    pub config: RunConfig,
    /// Consistency models for list-append.
    pub consistency: Vec<String>,
    /// `--anomalies` for list-append.
    pub anomalies: Vec<String>,
    /// The store directory root.
    pub store: PathBuf,
    /// Budgets of the check step after the run.
    pub check: CheckBudget,
}

/// The budgets of a run's check step (`run --check-time-limit`, `--memory-limit`).
#[derive(Debug, Clone, Copy)]
pub struct CheckBudget {
    /// Wall-clock budget of the check.
    pub time_limit: Duration,
    /// Memory budget of the check, in bytes (the whole process's heap).
    pub memory_limit: usize,
    /// list-append: the cycle-search budget of one strongly connected component
    /// (`--cycle-search-timeout`).
    pub cycle_search_timeout: Duration,
}

impl Default for CheckBudget {
    /// 300 s, the default memory budget and the default cycle-search budget.
    fn default() -> Self {
        CheckBudget {
            time_limit: Duration::from_secs(300),
            memory_limit: checkers::default_memory_limit(),
            cycle_search_timeout: checkers::DEFAULT_CYCLE_SEARCH_TIMEOUT,
        }
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct Finished {
    /// The run's directory.
    pub dir: PathBuf,
    /// The checked history.
    pub outcome: FileOutcome,
    /// Availability and latency, from the history.
    pub perf: Perf,
    /// How the run ended.
    pub summary: RunSummary,
    /// The verdict's exit code.
    pub code: u8,
    /// When the check ran out of its budget: the `faultline check …` command that re-checks
    /// the history later with a bigger one.
    pub recheck: Option<String>,
    /// When workers backed off (their node could not be reached): how often, and the last
    /// error (`17 episodes; last: connection refused: …`).
    pub backoff: Option<String>,
    /// The client operations that completed ok, fail and info as the workers counted them:
    /// what the run summary says when the history could not be read again for [`Self::perf`].
    pub counted: [u64; 3],
}

/// A seed from the clock, for runs that were not given one.
pub fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        % 1_000_000
}

/// Why a run's arguments cannot be planned: the typed refusal of [`plan_of`], which `run`
/// prints as a usage error and `test` attributes to the plan's key (both exit 254).
#[derive(Debug)]
pub enum Refusal {
    /// `--workload` is not a run workload.
    Workload(String),
    /// `--nemesis` is not a list of faults.
    Nemesis(String),
    /// `--nemesis-targets` is not a list of target sets.
    NemesisTargets(String),
    /// `--packet` is not a packet spec, or given without `--nemesis packet`.
    Packet(String),
    /// `--corrupt` is not a corruption spec, or given without `--nemesis corrupt`.
    Corrupt(String),
    /// The target registry refused the flags, the workload or the faults.
    Target(workloads::RunError),
    /// `--consistency` given for another workload than list-append.
    ConsistencyNotApplicable,
    /// `--consistency` names no known model.
    Consistency(String),
    /// `--anomalies` given for another workload than list-append.
    AnomaliesNotApplicable,
    /// `--anomalies` names no known anomaly.
    Anomaly(String),
    /// `--cycle-search-timeout` given for another workload than list-append.
    CycleSearchTimeoutNotApplicable,
    /// `--wfr-keys`, `--sequential-keys` or `--linearizable-keys`: they apply to rw-register
    /// histories, which no run workload records.
    InferenceNotApplicable,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Workload(e) => write!(f, "--workload: {e}"),
            Refusal::Nemesis(e) => write!(f, "--nemesis: {e}"),
            Refusal::NemesisTargets(e) => write!(f, "--nemesis-targets: {e}"),
            Refusal::Packet(e) => write!(f, "--packet: {e}"),
            Refusal::Corrupt(e) => write!(f, "--corrupt: {e}"),
            Refusal::Target(e) => write!(f, "{e}"),
            Refusal::ConsistencyNotApplicable => {
                write!(f, "--consistency applies to --workload list-append")
            }
            Refusal::Consistency(e) => write!(f, "--consistency: {e}"),
            Refusal::AnomaliesNotApplicable => {
                write!(f, "--anomalies applies to --workload list-append")
            }
            Refusal::Anomaly(e) => write!(f, "--anomalies: {e}"),
            Refusal::CycleSearchTimeoutNotApplicable => {
                write!(
                    f,
                    "--cycle-search-timeout applies to --workload list-append"
                )
            }
            Refusal::InferenceNotApplicable => write!(
                f,
                "--wfr-keys, --sequential-keys and --linearizable-keys apply to rw-register \
                 histories (faultline check/report --workload rw-register); no run workload \
                 records one (list-append reads show the whole version order)"
            ),
        }
    }
}

/// Plans a run from `run`'s arguments, through the target registry (which refuses flags of
/// other targets, workloads and faults the target cannot do): the one planning path of `run`
/// and `test`. Nothing is started. `seed` is the run's seed.
pub fn plan_of(args: &RunArgs, seed: u64) -> Result<Plan, Refusal> {
    let workload =
        WorkloadKind::parse(&args.workload).map_err(|e| Refusal::Workload(e.to_string()))?;
    let faults = Fault::parse_list(&args.nemesis).map_err(|e| Refusal::Nemesis(e.to_string()))?;
    let targets = match &args.nemesis_targets {
        Some(t) => NodeSet::parse_list(t).map_err(|e| Refusal::NemesisTargets(e.to_string()))?,
        None => Vec::new(),
    };
    let packet = match &args.packet {
        Some(p) if !faults.contains(&Fault::Packet) => {
            let _ = p;
            return Err(Refusal::Packet(
                "applies to --nemesis packet; add packet to --nemesis".into(),
            ));
        }
        Some(p) => PacketSpec::parse(p).map_err(|e| Refusal::Packet(e.to_string()))?,
        None => PacketSpec::default(),
    };
    let corrupt = match &args.corrupt {
        Some(_) if !faults.contains(&Fault::Corrupt) => {
            return Err(Refusal::Corrupt(
                "applies to --nemesis corrupt; add corrupt to --nemesis".into(),
            ));
        }
        Some(c) => CorruptSpec::parse(c).map_err(|e| Refusal::Corrupt(e.to_string()))?,
        None => CorruptSpec::default(),
    };
    let spec = Spec {
        workload,
        faults: &faults,
        args: &args.targets,
        op_timeout: args.op_timeout,
        targets: &targets,
        packet,
        corrupt: corrupt.clone(),
    };
    let target: Arc<dyn AnyTarget> = Arc::from(args.target.plan(&spec).map_err(Refusal::Target)?);
    if workload != WorkloadKind::ListAppend && !args.consistency.is_empty() {
        return Err(Refusal::ConsistencyNotApplicable);
    }
    for c in &args.consistency {
        checkers::parse_consistency(c).map_err(|e| Refusal::Consistency(e.to_string()))?;
    }
    if workload != WorkloadKind::ListAppend && !args.txn.anomalies.is_empty() {
        return Err(Refusal::AnomaliesNotApplicable);
    }
    for a in &args.txn.anomalies {
        checkers::parse_anomaly(a).map_err(|e| Refusal::Anomaly(e.to_string()))?;
    }
    if args.txn.inference().any() {
        return Err(Refusal::InferenceNotApplicable);
    }
    if workload != WorkloadKind::ListAppend && args.txn.cycle_search_timeout.is_some() {
        return Err(Refusal::CycleSearchTimeoutNotApplicable);
    }
    // A service faultline did not start holds earlier runs' data: the target picks fresh keys.
    let key_base = target.key_base(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    );
    Ok(Plan {
        label: format!("{}-{}", target.label(), workload.name()),
        target,
        faults,
        targets,
        packet,
        corrupt,
        config: RunConfig {
            workload,
            keys: args.keys,
            key_base,
            concurrency: args.concurrency as usize,
            nodes: 1,
            time_limit: args.time_limit,
            op_limit: args.ops,
            rate: args.rate.0,
            seed,
            nemesis_interval: args.nemesis_interval,
            nemesis_hold: args.nemesis_hold,
            quiet: Duration::from_secs(1),
            final_reads: true,
            max_history: Some(args.max_history),
        },
        consistency: args.consistency.clone(),
        anomalies: args.txn.anomalies.clone(),
        store: args.store.clone(),
        check: CheckBudget {
            time_limit: args.check_time_limit,
            memory_limit: check::memory_limit(args.memory_limit),
            cycle_search_timeout: args.txn.cycle_search_timeout(),
        },
    })
}

/// Runs `faultline run`.
pub fn run(args: RunArgs) -> Result<u8> {
    // Where the results go is checked before anything runs, so a run is never thrown away
    // for an unusable path found at its end (after the arguments: a bad flag is named first).
    let seed = args.seed.unwrap_or_else(clock_seed);
    let plan = match plan_of(&args, seed) {
        Ok(p) => p,
        Err(Refusal::Target(e)) => return Ok(exit::run_error(&e)),
        Err(e) => return Ok(usage(&e.to_string())),
    };
    if let Err(e) = check_writable(&args.store, args.junit.as_deref()) {
        return Ok(exit::run_error(&e));
    }
    let runtime = runtime()?;
    let finished = match runtime.block_on(async {
        let stop = interrupt_on_ctrl_c();
        execute(&plan, stop).await
    }) {
        Ok(f) => f,
        Err(e) => return Ok(exit::of_error(&e)),
    };
    let printed = (|| -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        match args.format {
            OutputFormat::Human => {
                let style = Style::detect();
                writeln!(out, "{}", describe(&plan, &finished))?;
                out.write_all(verdict_text(&finished, style).as_bytes())?;
            }
            OutputFormat::Json => writeln!(out, "{}", outcome_json(&finished))?,
        }
        out.flush()
    })();
    match printed {
        Ok(()) => {}
        // A closed pipe (`| head`) is not an error of the run.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e).context("cannot write the report to standard output"),
    }
    // After the verdict is printed (and in the store directory), so a failure here loses
    // nothing.
    if let Some(path) = &args.junit {
        let file = finished
            .dir
            .join("history.jsonl")
            .to_string_lossy()
            .to_string();
        let outcomes = std::slice::from_ref(&finished.outcome);
        if let Err(e) = crate::junit::write(path, "faultline run", &[file], outcomes) {
            eprintln!("faultline: {e:#}");
            return Ok(exit::BAD_INPUT);
        }
    }
    Ok(finished.code)
}

/// Checks, before a run, that the store directory can be created and written to and that the
/// JUnit file (if any) can be written: a file where the store should be, a read-only
/// directory, a missing directory for `--junit` are usage errors (254), not a run lost at the
/// end.
pub(crate) fn check_writable(
    store: &Path,
    junit: Option<&Path>,
) -> Result<(), workloads::RunError> {
    let unusable = |path: &Path, e: std::io::Error| workloads::RunError::Store {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if store.exists() && !store.is_dir() {
        return Err(workloads::RunError::Store {
            path: store.to_path_buf(),
            reason: "it is not a directory (--store names the directory holding the runs)".into(),
        });
    }
    std::fs::create_dir_all(store).map_err(|e| unusable(store, e))?;
    let probe = store.join(format!(".faultline-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| unusable(store, e))?;
    let _ = std::fs::remove_file(&probe);
    if let Some(path) = junit {
        let existed = path.exists();
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| unusable(path, e))?;
        if !existed {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

/// The tokio runtime for `run` and `demo`.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The signal that interrupted this process's runs (`SIGINT`, `SIGTERM`), once one did.
static INTERRUPTED_BY: OnceLock<&'static str> = OnceLock::new();

/// The name of the signal that interrupted the runs of this process, if one did.
pub fn interrupted_by() -> Option<&'static str> {
    INTERRUPTED_BY.get().copied()
}

/// A stop signal that turns true on the first SIGINT (Ctrl-C) or SIGTERM. The run then ends
/// its main phase, heals, records, checks and writes its store directory marked incomplete. A
/// second signal exits at once (code 130): the nodes die with faultline (`PR_SET_PDEATHSIG`)
/// and `history.jsonl` holds what was recorded up to then.
pub fn interrupt_on_ctrl_c() -> watch::Receiver<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            eprintln!("faultline: warning: cannot catch SIGINT/SIGTERM; an interrupt kills the run without healing");
            return;
        };
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            if INTERRUPTED_BY.set(name).is_err() {
                eprintln!("faultline: {name} again: exiting now without healing or checking");
                std::process::exit(130);
            }
            eprintln!("faultline: interrupted ({name}): stopping the run, healing every fault, checking what was recorded (again to exit at once)");
            let _ = tx.send(true);
        }
    });
    rx
}

fn usage(message: &str) -> u8 {
    eprintln!("faultline: {message}");
    exit::BAD_INPUT
}

/// Executes a plan: target up, run, target down, check, write the store directory.
pub async fn execute(plan: &Plan, stop: watch::Receiver<bool>) -> Result<Finished> {
    let dir = run_dir(&plan.store, &plan.label)?;
    let history_path = dir.join("history.jsonl");
    let recorder = workloads::recorder::Recorder::create(&history_path)
        .with_context(|| format!("cannot create {}", history_path.display()))?;
    let progress = Progress::new();
    // run.log grows as the run goes, so even a SIGKILLed run leaves its log up to then.
    if let Err(e) = progress.log_to(&dir.join("run.log")) {
        eprintln!(
            "faultline: warning: cannot write {}: {e}",
            dir.join("run.log").display()
        );
    }
    progress.note(format!(
        "run {} · target {} · workload {} · nemesis {} · seed {}",
        plan.label,
        plan.target.describe(),
        plan.config.workload.name(),
        Fault::list(&plan.faults),
        plan.config.seed
    ));
    if plan.config.key_base != 0 {
        progress.note(format!(
            "keys from {} (the service may hold earlier runs' data; this run's keys are new)",
            plan.config.key_base
        ));
    }
    let display = progress::start(progress.clone(), plan.config.time_limit, plan.label.clone());
    let ctx = RunCtx {
        dir: dir.clone(),
        config: plan.config.clone(),
        faults: plan.faults.clone(),
        targets: plan.targets.clone(),
        packet: plan.packet,
        corrupt: plan.corrupt.clone(),
        recorder: recorder.clone(),
        progress: progress.clone(),
        stop,
    };
    let summary = plan.target.drive(ctx).await;
    display.finish().await;
    let closed = recorder.close();
    let summary = summary?;
    closed.with_context(|| format!("cannot write {}", history_path.display()))?;

    let file = history_path.to_string_lossy().to_string();
    progress.note("checking the history");
    let (outcome, kept) = check_history(plan, &file);
    // The figures and the report are drawn from one read of the history: the compact one the
    // check made, or one of their own within the memory budget. They are extras: a history too
    // big to read again costs the figures and the timeline, never the verdict.
    let read = match kept {
        Some(history) => report::Read::Ops(report::source::Source::Compact(history)),
        None => report::read_ops(&file, Format::JsonLines, plan.check.memory_limit),
    };
    let perf = match &read {
        report::Read::Ops(ops) => ops.perf(),
        report::Read::TooBig => {
            progress.note(format!(
                "no availability figures: memory limit of {} MiB reached reading the history again",
                plan.check.memory_limit >> 20
            ));
            perf::summarize(&[])
        }
        report::Read::Unreadable => {
            progress.note("no availability figures: the recorded history does not read back");
            perf::summarize(&[])
        }
    };
    let code = run_exit_code(outcome.exit_code(), &summary);
    let recheck = recheck_command(plan, &outcome, &file);
    check::write_results(
        &dir,
        std::slice::from_ref(&file),
        std::slice::from_ref(&outcome),
        code,
        plan.check.memory_limit,
        Some(read),
    )?;
    mark_results(&dir, &summary, plan.config.key_base, recheck.as_deref())?;
    let backoff = match progress.backoffs.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        n => {
            let last = progress
                .last_unreachable
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_default();
            let last: String = last.chars().take(160).collect();
            Some(format!(
                "{n} episode{} (a worker could not reach its node and waited); last: {last}",
                if n == 1 { "" } else { "s" }
            ))
        }
    };
    let counted = [&progress.ok, &progress.fail, &progress.info]
        .map(|n| n.load(std::sync::atomic::Ordering::Relaxed));
    let finished = Finished {
        dir,
        outcome,
        perf,
        summary,
        code,
        recheck,
        backoff,
        counted,
    };
    write_run_log(&finished, &progress, plan)?;
    Ok(finished)
}

/// The run's exit code: the verdict's, except that a valid history of a run that could not
/// heal every fault it injected is `unknown` (2): the verdict covers the history, but the system
/// was left faulty (a node that does not restart, a link still cut), so a CI job gating on exit 0
/// must not take the run as a pass. An invalid history stays invalid (1).
pub fn run_exit_code(verdict: u8, summary: &RunSummary) -> u8 {
    if verdict == exit::VALID && summary.healed.is_err() {
        exit::UNKNOWN
    } else {
        verdict
    }
}

/// How healing ended, as results.json and `--format json` say it:
/// `{"ok": true|false, "message": …}`.
fn healed_json(healed: &Result<String, workloads::nemesis::NotHealed>) -> serde_json::Value {
    match healed {
        Ok(m) => serde_json::json!({"ok": true, "message": m}),
        Err(m) => serde_json::json!({"ok": false, "message": m.to_string()}),
    }
}

/// Whether the run ran to its end: not cut short by a signal (main phase ended early, or
/// the final reads skipped) nor by the history guard (`--max-history`).
pub fn complete(summary: &RunSummary) -> bool {
    !summary.interrupted && summary.history_limit.is_none()
}

/// Why the run is incomplete, if it is.
pub fn incomplete_reason(summary: &RunSummary) -> Option<String> {
    if let Some(signal) = interruption(summary) {
        return Some(format!(
            "interrupted by {signal}: the run was cut short (faults healed, nodes stopped); the \
             verdict covers the history recorded before the interrupt"
        ));
    }
    summary.history_limit.map(|hit| {
        format!(
            "{hit}; the verdict covers the history recorded until then (raise --max-history, or \
             lower --rate or --concurrency, for a longer run)"
        )
    })
}

/// When the check stopped for its time or memory budget: the command that re-checks the
/// history with twice each budget (at least the defaults) (`faultline check --model|--workload NAME … FILE`).
fn recheck_command(plan: &Plan, outcome: &FileOutcome, file: &str) -> Option<String> {
    let FileOutcome::Checked { report, .. } = outcome else {
        return None;
    };
    if report.valid != checkers::Validity::Unknown
        || !matches!(
            report.stop,
            Some(
                checkers::StopReason::Time
                    | checkers::StopReason::Memory
                    | checkers::StopReason::CycleSearchTimeout
            )
        )
    {
        return None;
    }
    let (kind, name, default_consistency) = plan.config.workload.checker();
    let mut cmd = match kind {
        checkers::CheckerKind::Model => format!("faultline check --model {name}"),
        checkers::CheckerKind::Workload => format!("faultline check --workload {name}"),
    };
    let consistency: Vec<String> = if plan.consistency.is_empty() {
        default_consistency.iter().map(|c| c.to_string()).collect()
    } else {
        plan.consistency.clone()
    };
    for c in consistency {
        cmd.push_str(&format!(" --consistency {c}"));
    }
    // Twice the budget that did not suffice, and at least the defaults.
    let default = CheckBudget::default();
    let secs = (plan.check.time_limit.as_secs_f64() * 2.0)
        .max(default.time_limit.as_secs_f64())
        .ceil();
    let mib = ((plan.check.memory_limit as u64) >> 20)
        .saturating_mul(2)
        .max(default.memory_limit as u64 >> 20);
    if report.stop == Some(checkers::StopReason::CycleSearchTimeout) {
        let per = (plan.check.cycle_search_timeout.as_secs_f64() * 2.0)
            .max(default.cycle_search_timeout.as_secs_f64())
            .ceil();
        cmd.push_str(&format!(" --cycle-search-timeout {per}"));
    }
    cmd.push_str(&format!(
        " --time-limit {secs} --memory-limit {mib}MiB {}",
        shell_quote(file)
    ));
    Some(cmd)
}

/// `s` quoted for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The signal that cut the run short, if it was (`"SIGINT"`, `"SIGTERM"`).
fn interruption(summary: &RunSummary) -> Option<&'static str> {
    summary
        .interrupted
        .then(|| interrupted_by().unwrap_or("SIGINT"))
}

/// Adds the run's completeness to `DIR/results.json` (written by [`check::write_results`]):
/// `"complete"` (false when a signal or `--max-history` cut the run short),
/// `"incomplete_reason"` (why, or null), `"interrupted"` (the signal's name, or null),
/// `"key_base"`, the run's first key (0 unless `--nodes`), and `"recheck"` (the command that
/// re-checks with a bigger budget when the check ran out of its own, or null). Written to a
/// temporary file and renamed, so a crash never leaves half a results.json.
fn mark_results(
    dir: &Path,
    summary: &RunSummary,
    key_base: u64,
    recheck: Option<&str>,
) -> Result<()> {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("complete".into(), complete(summary).into());
        map.insert(
            "incomplete_reason".into(),
            incomplete_reason(summary).into(),
        );
        map.insert("interrupted".into(), interruption(summary).into());
        map.insert("healed".into(), healed_json(&summary.healed));
        map.insert("key_base".into(), key_base.into());
        map.insert("recheck".into(), recheck.into());
    }
    let mut text = serde_json::to_string_pretty(&value)?;
    text.push('\n');
    write_atomically(&path, &text)
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Checks the recorded history with the workload's checker.
fn check_history(plan: &Plan, file: &str) -> (FileOutcome, Option<Box<CompactHistory>>) {
    let (kind, name, default_consistency) = plan.config.workload.checker();
    let checker = registry::find(kind, name).expect("a run workload's checker is registered");
    let consistency = if plan.consistency.is_empty() && plan.anomalies.is_empty() {
        default_consistency.iter().map(|c| c.to_string()).collect()
    } else {
        plan.consistency.clone()
    };
    let opts = CheckOptions {
        consistency,
        anomalies: plan.anomalies.clone(),
        time_limit: Some(plan.check.time_limit),
        memory_limit: plan.check.memory_limit,
        cycle_search_timeout: plan.check.cycle_search_timeout,
        memory_in_use: Some(crate::alloc::in_use),
        ..CheckOptions::default()
    };
    // The check step never takes the run down with it: a panic in a checker (a bug in
    // faultline, reported on standard error by the panic hook) leaves an unknown verdict, the
    // results and the report.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check::check_file_keeping(file, checker, None, &opts)
    })) {
        Ok(checked) => checked,
        Err(_) => (
            FileOutcome::Checked {
                format: checkers::history::Format::JsonLines,
                report: Box::new(checkers::Report::stopped(
                    checker.name,
                    checker.kind,
                    0,
                    None,
                    "the checker failed (an internal error in faultline, printed above); the \
                 history is kept for `faultline check`"
                        .into(),
                )),
            },
            None,
        ),
    }
}

/// Creates `STORE/LABEL/TIMESTAMP/` and points `STORE/latest` at it.
pub(crate) fn run_dir(store: &Path, label: &str) -> Result<PathBuf> {
    let stamp = timestamp();
    let parent = store.join(label);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    // create_dir, not create_dir_all: two runs of one label in the same second (`test --jobs`)
    // never share a directory — the second finds the first's and takes the next number.
    let mut dir = parent.join(&stamp);
    let mut n = 1;
    loop {
        match std::fs::create_dir(&dir) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                n += 1;
                dir = parent.join(format!("{stamp}-{n}"));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    let latest = store.join("latest");
    let _ = std::fs::remove_file(&latest);
    if let Ok(relative) = dir.strip_prefix(store) {
        let _ = std::os::unix::fs::symlink(relative, &latest);
    }
    Ok(dir)
}

/// UTC time as `YYYYMMDDTHHMMSS`.
fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The run's one-paragraph description: where, what, how many, how it ended.
pub fn describe(plan: &Plan, f: &Finished) -> String {
    let mut c = f.perf.during_faults.total() + f.perf.outside_faults.total();
    let mut ok = f.perf.during_faults.ok + f.perf.outside_faults.ok;
    let mut fail = f.perf.during_faults.fail + f.perf.outside_faults.fail;
    let mut info = f.perf.during_faults.info + f.perf.outside_faults.info;
    let mut throughput = f.perf.throughput;
    if c == 0 {
        // No figures from the history (it did not fit the memory budget a second time): the
        // workers' own counts.
        [ok, fail, info] = f.counted;
        c = ok + fail + info;
        throughput = c as f64 / f.summary.elapsed.as_secs_f64().max(1e-9);
    }
    let mut s = format!(
        "run: {} · {} · seed {}\nstore: {}\nops: {c} (ok {ok}, fail {fail}, info {info}) in {:.1} s, {:.0} ops/s",
        plan.target.describe(),
        plan.config.workload.name(),
        plan.config.seed,
        f.dir.display(),
        f.summary.elapsed.as_secs_f64(),
        throughput
    );
    if !plan.faults.is_empty() {
        s.push_str(&format!(
            "\nfaults: {}",
            injected(&plan.faults, &f.perf.windows)
        ));
        match &f.summary.healed {
            Ok(m) => s.push_str(&format!("; healed: {m}")),
            Err(m) => {
                s.push_str(&format!("; NOT HEALED: {m}"));
                if f.code == exit::UNKNOWN && f.outcome.exit_code() == exit::VALID {
                    s.push_str(" (exit 2: the history is valid, but the system was left faulty)");
                }
            }
        }
    }
    if let Some(backoff) = &f.backoff {
        s.push_str(&format!("\nback-off: {backoff}"));
    }
    if let Some(why) = incomplete_reason(&f.summary) {
        s.push_str(&format!("\nINCOMPLETE: {why}"));
    }
    s
}

/// The faults actually injected, by kind with counts, in `--nemesis` order:
/// `3 (partition ×2, pause ×1)`; kinds asked for but never injected are not listed.
fn injected(faults: &[Fault], windows: &[checkers::perf::Window]) -> String {
    let counts: Vec<String> = faults
        .iter()
        .filter_map(|fault| {
            let n = windows.iter().filter(|w| w.kind == fault.name()).count();
            (n > 0).then(|| format!("{} ×{n}", fault.name()))
        })
        .collect();
    if counts.is_empty() {
        format!("{} (none injected)", windows.len())
    } else {
        format!("{} ({})", windows.len(), counts.join(", "))
    }
}

/// The verdict as `check` prints it.
pub fn verdict_text(f: &Finished, style: Style) -> String {
    let file = f.dir.join("history.jsonl").to_string_lossy().to_string();
    let mut text = match &f.outcome {
        FileOutcome::Checked { report, .. } => render_human::render(&file, report, style),
        FileOutcome::BadInput(e) => format!("{e}\n"),
    };
    if let Some(line) = faults_at_anomaly(f) {
        text.push_str(&line);
    }
    if let Some(hit) = f.summary.history_limit {
        text.push_str(&format!(
            "incomplete run: the history reached --max-history ({} operations) after {:.1} s\n",
            hit.limit,
            hit.after.as_secs_f64()
        ));
    }
    if let Some(cmd) = &f.recheck {
        text.push_str(&format!(
            "the check ran out of its budget; re-check later with a bigger one:\n  {cmd}\n"
        ));
    }
    text
}

/// Which fault kinds were in effect while the counterexample's operations ran (from the fault
/// windows of the history), as a line for the human output; `None` without a counterexample
/// or without faults.
fn faults_at_anomaly(f: &Finished) -> Option<String> {
    if f.perf.windows.is_empty() {
        return None;
    }
    let v = outcome_json(f);
    let mut span: Option<(i64, i64)> = None;
    // One file's result (`counterexample` at the top), or a list of them.
    let results = match v["results"].as_array() {
        Some(list) => list.clone(),
        None => vec![v],
    };
    for r in &results {
        let c = &r["counterexample"];
        let ops = c["minimal"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .chain(std::iter::once(c["stuck"].clone()));
        for op in ops {
            if let (Some(s), Some(e)) = (op["start"].as_i64(), op["end"].as_i64()) {
                span = Some(match span {
                    None => (s, e),
                    Some((a, b)) => (a.min(s), b.max(e)),
                });
            }
        }
    }
    let (start, end) = span?;
    let mut kinds: Vec<&str> = f
        .perf
        .windows
        .iter()
        .filter(|w| w.start <= end && start <= w.end)
        .map(|w| w.kind)
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    Some(if kinds.is_empty() {
        "faults in effect at the anomaly: none (it happened between faults)\n".to_string()
    } else {
        format!("faults in effect at the anomaly: {}\n", kinds.join(", "))
    })
}

/// The verdict as `check --format json` prints it, plus the run's facts.
pub fn outcome_json(f: &Finished) -> serde_json::Value {
    let file = f.dir.join("history.jsonl").to_string_lossy().to_string();
    let mut v = match &f.outcome {
        FileOutcome::Checked { format, report } => render_json::report(&file, *format, report),
        FileOutcome::BadInput(e) => render_json::input_error(&file, e),
    };
    if let Some(map) = v.as_object_mut() {
        map.insert("store".into(), f.dir.to_string_lossy().to_string().into());
        map.insert(
            "perf".into(),
            serde_json::to_value(&f.perf).unwrap_or_default(),
        );
        map.insert("complete".into(), complete(&f.summary).into());
        map.insert(
            "incomplete_reason".into(),
            incomplete_reason(&f.summary).into(),
        );
        map.insert("interrupted".into(), interruption(&f.summary).into());
        map.insert("recheck".into(), f.recheck.clone().into());
        map.insert("healed".into(), healed_json(&f.summary.healed));
    }
    v
}

/// Writes `run.log` whole: the progress notes (until now appended as they came), then the
/// summary and verdict.
fn write_run_log(f: &Finished, progress: &Progress, plan: &Plan) -> Result<()> {
    let mut text = String::new();
    for line in progress
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&describe(plan, f));
    text.push('\n');
    text.push_str(&verdict_text(f, Style { color: false }));
    write_atomically(&f.dir.join("run.log"), &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::perf::Window;

    #[test]
    fn the_summary_lists_the_faults_actually_injected_with_counts() {
        let w = |kind| Window {
            start: 0,
            end: 1,
            kind,
        };
        // Issue 22 item 4: asked for partition, kill, pause; a pause and two partitions happened.
        let asked = [Fault::Partition, Fault::Kill, Fault::Pause];
        let happened = [w("pause"), w("partition"), w("partition")];
        assert_eq!(injected(&asked, &happened), "3 (partition ×2, pause ×1)");
        assert_eq!(injected(&asked, &[]), "0 (none injected)");
    }
}
