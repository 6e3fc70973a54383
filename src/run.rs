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
use crate::cli::{OutputFormat, RunArgs, StoreMode, Target};
use crate::exit;
use crate::progress;
use crate::render_human::{self, Style};
use crate::render_json;
use crate::target::{self, TargetPlan};
use anyhow::{bail, Context, Result};
use checkers::history::{pair, read_history};
use checkers::perf::{self, Perf};
use checkers::registry;
use checkers::{CheckOptions, CheckerKind};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use workloads::generator::WorkloadKind;
use workloads::runner::{Progress, RunConfig, RunSummary};

/// Everything one run needs, resolved from the command line (or chosen by `demo`).
#[derive(Debug, Clone)]
pub struct Plan {
    /// Name of the run's directory under the store (`demo-sync-register`).
    pub label: String,
    /// What to run against.
    pub target: TargetPlan,
    /// Faults to inject (validated names: partition, kill, pause).
    pub faults: Vec<String>,
    /// The runner's configuration.
    pub config: RunConfig,
    /// Per-operation timeout.
    pub op_timeout: Duration,
    /// Consistency models for list-append.
    pub consistency: Vec<String>,
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
}

impl Default for CheckBudget {
    /// 300 s and the default memory budget.
    fn default() -> Self {
        CheckBudget {
            time_limit: Duration::from_secs(300),
            memory_limit: checkers::default_memory_limit(),
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
}

/// A seed from the clock, for runs that were not given one.
pub fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        % 1_000_000
}

/// Runs `faultline run`.
pub fn run(args: RunArgs) -> Result<u8> {
    let workload = match WorkloadKind::parse(&args.workload) {
        Ok(w) => w,
        Err(e) => return Ok(usage(&format!("--workload: {e}"))),
    };
    let faults = match target::parse_faults(&args.nemesis) {
        Ok(f) => f,
        Err(e) => return Ok(usage(&format!("--nemesis: {e}"))),
    };
    let target = match args.target {
        Target::Demo => TargetPlan::Demo(args.mode),
        Target::HttpKv if args.nodes.is_empty() => {
            return Ok(usage("--target http-kv needs --nodes HOST:PORT,..."))
        }
        Target::HttpKv => TargetPlan::HttpKv(args.nodes.clone()),
        Target::Local => TargetPlan::Local,
        Target::Etcd | Target::Redis | Target::Postgres | Target::Rabbitmq => {
            match target::db_plan(&args) {
                Ok(t) => t,
                Err(e) => return Ok(usage(&e)),
            }
        }
    };
    if let Err(e) = target::check_db_faults(&target, &faults, workload) {
        return Ok(usage(&e));
    }
    if !faults.is_empty()
        && !matches!(target, TargetPlan::Demo(_))
        && !matches!(&target, TargetPlan::Db(d) if d.is_local())
    {
        return Ok(usage(
            "--nemesis needs a target whose processes and links faultline controls: use --target demo \
             (for your own service, run it without faults, or put it behind faultline's demo cluster)",
        ));
    }
    if workload == WorkloadKind::Queue && args.target != Target::Rabbitmq {
        return Ok(usage("--workload queue runs against --target rabbitmq"));
    }
    if workload != WorkloadKind::ListAppend && !args.consistency.is_empty() {
        return Ok(usage("--consistency applies to --workload list-append"));
    }
    for c in &args.consistency {
        if let Err(e) = checkers::parse_consistency(c) {
            return Ok(usage(&format!("--consistency: {e}")));
        }
    }
    let seed = args.seed.unwrap_or_else(clock_seed);
    let mode = match target {
        TargetPlan::Demo(StoreMode::Async) => "demo-async",
        TargetPlan::Demo(StoreMode::Sync) => "demo-sync",
        TargetPlan::HttpKv(_) => "http-kv",
        TargetPlan::Local => "local",
        TargetPlan::Db(ref db) => target::db_label(db),
    };
    let plan = Plan {
        label: format!("{mode}-{}", workload.name()),
        target,
        faults,
        config: RunConfig {
            workload,
            keys: args.keys,
            concurrency: args.concurrency as usize,
            nodes: 1,
            time_limit: args.time_limit,
            op_limit: args.ops,
            rate: args.rate,
            seed,
            nemesis_interval: args.nemesis_interval,
            nemesis_hold: args.nemesis_hold,
            quiet: Duration::from_secs(1),
            final_reads: true,
        },
        op_timeout: args.op_timeout,
        consistency: args.consistency,
        store: args.store,
        check: CheckBudget {
            time_limit: args.check_time_limit,
            memory_limit: check::memory_limit(args.memory_limit),
        },
    };
    let runtime = runtime()?;
    let finished = runtime.block_on(async {
        let stop = interrupt_on_ctrl_c();
        execute(&plan, stop).await
    })?;
    if let Some(path) = &args.junit {
        let file = finished
            .dir
            .join("history.jsonl")
            .to_string_lossy()
            .to_string();
        let outcomes = std::slice::from_ref(&finished.outcome);
        crate::junit::write(path, "faultline run", &[file], outcomes)?;
    }
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
    Ok(finished.code)
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
        if plan.faults.is_empty() {
            "none".to_string()
        } else {
            plan.faults.join(",")
        },
        plan.config.seed
    ));
    let display = progress::start(progress.clone(), plan.config.time_limit, plan.label.clone());
    let summary = target::drive(plan, &dir, recorder.clone(), progress.clone(), stop).await;
    display.finish().await;
    let closed = recorder.close();
    let summary = summary?;
    closed.with_context(|| format!("cannot write {}", history_path.display()))?;

    let file = history_path.to_string_lossy().to_string();
    let outcome = check_history(plan, &file);
    let perf = match read_history(&file, &checkers::history::limits::read_input(&file)?, None)
        .and_then(|h| pair(&h))
    {
        Ok(ops) => perf::summarize(&ops),
        Err(e) => bail!("the recorded history does not read back: {e}"),
    };
    let code = outcome.exit_code();
    check::write_results(
        &dir,
        std::slice::from_ref(&file),
        std::slice::from_ref(&outcome),
        code,
    )?;
    mark_results(&dir, &summary)?;
    let finished = Finished {
        dir,
        outcome,
        perf,
        summary,
        code,
    };
    write_run_log(&finished, &progress, plan)?;
    Ok(finished)
}

/// Whether the run ran to its end: not cut short by a signal (main phase ended early, or
/// the final reads skipped).
pub fn complete(summary: &RunSummary) -> bool {
    !summary.interrupted
}

/// The signal that cut the run short, if it was (`"SIGINT"`, `"SIGTERM"`).
fn interruption(summary: &RunSummary) -> Option<&'static str> {
    summary
        .interrupted
        .then(|| interrupted_by().unwrap_or("SIGINT"))
}

/// Adds the run's completeness to `DIR/results.json` (written by [`check::write_results`]):
/// `"complete"` (false when a signal cut the run short) and `"interrupted"` (the signal's
/// name, or null). Written to a temporary file and renamed, so a crash never leaves half a
/// results.json.
fn mark_results(dir: &Path, summary: &RunSummary) -> Result<()> {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("complete".into(), complete(summary).into());
        map.insert("interrupted".into(), interruption(summary).into());
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
fn check_history(plan: &Plan, file: &str) -> FileOutcome {
    match plan.config.workload {
        WorkloadKind::ListAppend => {
            let entry = registry::find(CheckerKind::Workload, "list-append")
                .expect("list-append is registered");
            let consistency = if plan.consistency.is_empty() {
                vec!["strict-serializable".to_string()]
            } else {
                plan.consistency.clone()
            };
            let opts = CheckOptions {
                consistency,
                time_limit: Some(plan.check.time_limit),
                memory_limit: plan.check.memory_limit,
                memory_in_use: Some(crate::alloc::in_use),
                ..Default::default()
            };
            check::check_file(file, entry, None, &opts)
        }
        WorkloadKind::Queue => {
            let entry = registry::find(CheckerKind::Workload, "total-queue")
                .expect("total-queue is registered");
            let opts = CheckOptions {
                time_limit: Some(Duration::from_secs(300)),
                ..Default::default()
            };
            check::check_file(file, entry, None, &opts)
        }
        kind => {
            let model = if kind == WorkloadKind::Kv {
                "kv"
            } else {
                "cas-register"
            };
            let model = registry::find(CheckerKind::Model, model).expect("the model is registered");
            let opts = CheckOptions {
                time_limit: Some(plan.check.time_limit),
                memory_limit: plan.check.memory_limit,
                memory_in_use: Some(crate::alloc::in_use),
                ..CheckOptions::default()
            };
            check::check_file(file, model, None, &opts)
        }
    }
}

/// Creates `STORE/LABEL/TIMESTAMP/` and points `STORE/latest` at it.
fn run_dir(store: &Path, label: &str) -> Result<PathBuf> {
    let stamp = timestamp();
    let mut dir = store.join(label).join(&stamp);
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = store.join(label).join(format!("{stamp}-{n}"));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
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
    let c = f.perf.during_faults.total() + f.perf.outside_faults.total();
    let ok = f.perf.during_faults.ok + f.perf.outside_faults.ok;
    let fail = f.perf.during_faults.fail + f.perf.outside_faults.fail;
    let info = f.perf.during_faults.info + f.perf.outside_faults.info;
    let mut s = format!(
        "run: {} · {} · seed {}\nstore: {}\nops: {c} (ok {ok}, fail {fail}, info {info}) in {:.1} s, {:.0} ops/s",
        plan.target.describe(),
        plan.config.workload.name(),
        plan.config.seed,
        f.dir.display(),
        f.summary.elapsed.as_secs_f64(),
        f.perf.throughput
    );
    if !plan.faults.is_empty() {
        let windows = f.perf.windows.len();
        s.push_str(&format!("\nfaults: {windows} ({})", plan.faults.join(", ")));
        match &f.summary.healed {
            Ok(m) => s.push_str(&format!("; healed: {m}")),
            Err(m) => s.push_str(&format!("; NOT HEALED: {m}")),
        }
    }
    if let Some(signal) = interruption(&f.summary) {
        s.push_str(&format!(
            "\nINCOMPLETE: interrupted by {signal}: the run was cut short (faults healed, nodes \
             stopped); the verdict covers the history recorded before the interrupt"
        ));
    }
    s
}

/// The verdict as `check` prints it.
pub fn verdict_text(f: &Finished, style: Style) -> String {
    let file = f.dir.join("history.jsonl").to_string_lossy().to_string();
    match &f.outcome {
        FileOutcome::Checked { report, .. } => render_human::render(&file, report, style),
        FileOutcome::BadInput(e) => format!("{e}\n"),
    }
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
        map.insert("interrupted".into(), interruption(&f.summary).into());
        map.insert(
            "healed".into(),
            match &f.summary.healed {
                Ok(m) => serde_json::json!({"ok": true, "message": m}),
                Err(m) => serde_json::json!({"ok": false, "message": m}),
            },
        );
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
