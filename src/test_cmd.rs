//! `faultline test`: a regression gate. Loads a plan ([`crate::plan`], validated before
//! anything starts), runs each run case through the same path as `faultline run`
//! ([`crate::run::plan_of`], [`crate::run::execute`]) and checks each check case's histories
//! through the same path as `faultline check` ([`crate::check::check_file`]); judges every
//! result against the case's expectations and the baseline (`checkers::expect`); prints a
//! table, the store directory of every run and a reproduce command for every case that did not
//! pass; writes JUnit XML (one testcase per case), a Markdown summary and the baseline to save.
//!
//! Exit code: 0 when every expectation held, 1 when one failed, 2 when none failed but one
//! could not be decided (an unknown verdict, a figure not measured), 254 for a bad plan (before
//! anything starts) or a case that could not run (a missing server binary, …), 255 a bug.

use crate::check::{self, FileOutcome};
use crate::cli::TestArgs;
use crate::exit;
use crate::plan::{self, Case, CaseKind, PlanError, PlanErrorKind, TestPlan};
use crate::render_human::Style;
use crate::run as runs;
use anyhow::Result;
use checkers::expect::{self, Figures, Held, Judgement};
use checkers::history::{pair, read_history};
use checkers::perf;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One run of a case (a seed), or one history of a check case.
#[derive(Debug)]
pub struct Row {
    /// Index of the case in the plan.
    pub case: usize,
    /// The run's seed (run cases).
    pub seed: Option<u64>,
    /// The history file (check cases).
    pub file: Option<String>,
    /// The verdict as the table shows it.
    pub verdict: String,
    /// The figures, when the history could be read.
    pub figures: Option<Figures>,
    /// Every expectation, judged.
    pub judgements: Vec<Judgement>,
    /// The store directory written.
    pub store: Option<PathBuf>,
    /// The case could not run or be checked: its exit code (254, 255) and why.
    pub error: Option<(u8, String)>,
    /// The verdict as `check` prints it (JUnit's system-out).
    pub report: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl Row {
    /// This row's exit code.
    pub fn code(&self) -> u8 {
        match &self.error {
            Some((code, _)) => *code,
            None => exit::combine(self.judgements.iter().map(|j| exit::of_held(j.held))),
        }
    }
}

/// A case's result: its rows and the baseline comparison.
#[derive(Debug)]
pub struct CaseResult {
    /// Its rows (seeds or files).
    pub rows: Vec<Row>,
    /// The comparison with the baseline (empty without one).
    pub baseline: Vec<Judgement>,
    /// Why there is no comparison although a baseline was given.
    pub baseline_note: Option<String>,
    /// The command that reruns the case as it failed.
    pub reproduce: Vec<String>,
}

impl CaseResult {
    /// The case's exit code.
    pub fn code(&self) -> u8 {
        exit::combine(
            self.rows
                .iter()
                .map(Row::code)
                .chain(self.baseline.iter().map(|j| exit::of_held(j.held))),
        )
    }

    /// The worst figures over the case's rows.
    pub fn figures(&self) -> Option<Figures> {
        let all: Vec<Figures> = self.rows.iter().filter_map(|r| r.figures).collect();
        Figures::worst(&all)
    }
}

/// `PASS`, `FAIL`, `UNKNOWN` or `ERROR` for an exit code.
pub fn word(code: u8) -> &'static str {
    match code {
        exit::VALID => "PASS",
        exit::INVALID => "FAIL",
        exit::UNKNOWN => "UNKNOWN",
        _ => "ERROR",
    }
}

/// A word of a command line, quoted for a POSIX shell when it needs it.
pub fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=,@+%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Runs `faultline test`.
pub fn run(args: TestArgs) -> Result<u8> {
    let plan = match plan::load(&args.plan, args.store.as_deref(), args.baseline.as_deref()) {
        Ok(p) => p,
        Err(e) => return Ok(exit::plan_error(&e)),
    };
    let unknown_case = args
        .cases
        .iter()
        .find(|n| !plan.cases.iter().any(|c| &c.name == *n));
    if let Some(name) = unknown_case {
        let e = PlanError {
            file: plan.file.clone(),
            line: None,
            case: None,
            key: None,
            kind: PlanErrorKind::UnknownCase {
                name: name.clone(),
                known: plan.cases.iter().map(|c| c.name.clone()).collect(),
            },
        };
        return Ok(exit::plan_error(&e));
    }
    let junit = args.junit.clone().or_else(|| plan.junit.clone());
    if let Err(e) = writable(&plan, junit.as_deref(), &args) {
        return Ok(exit::plan_error(&e));
    }
    let selected: Vec<usize> = (0..plan.cases.len())
        .filter(|&i| args.cases.is_empty() || args.cases.contains(&plan.cases[i].name))
        .collect();
    // The work: one item per seed of a run case, one per check case.
    let mut items: VecDeque<(usize, Option<u64>)> = VecDeque::new();
    for &i in &selected {
        match &plan.cases[i].kind {
            CaseKind::Run { seeds, .. } => {
                for s in seeds_of(seeds, &args) {
                    items.push_back((i, Some(s)));
                }
            }
            CaseKind::Check { .. } => items.push_back((i, None)),
        }
    }
    let total = items.len();
    eprintln!(
        "faultline test: {} · {} case{} · {total} run{} · store {}",
        plan.file.display(),
        selected.len(),
        if selected.len() == 1 { "" } else { "s" },
        if total == 1 { "" } else { "s" },
        plan.store.display()
    );
    let signals = runs::runtime()?;
    let stop = signals.block_on(async { runs::interrupt_on_ctrl_c() });
    let queue = Mutex::new(items);
    let done: Mutex<Vec<Row>> = Mutex::new(Vec::new());
    let user_nodes = Mutex::new(());
    let jobs = (args.jobs as usize).clamp(1, total.max(1));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                let runtime = match runs::runtime() {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("faultline: {e:#}");
                        return;
                    }
                };
                loop {
                    let Some((i, seed)) =
                        queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                    else {
                        break;
                    };
                    let case = &plan.cases[i];
                    let rows = if *stop.borrow() {
                        vec![not_run(i, seed, "not run: interrupted")]
                    } else {
                        match &case.kind {
                            CaseKind::Run {
                                user_nodes: true, ..
                            } => {
                                let _one = user_nodes.lock().unwrap_or_else(|e| e.into_inner());
                                vec![run_one(&runtime, case, i, seed, stop.clone())]
                            }
                            CaseKind::Run { .. } => {
                                vec![run_one(&runtime, case, i, seed, stop.clone())]
                            }
                            CaseKind::Check { .. } => check_case(&plan, case, i),
                        }
                    };
                    for row in &rows {
                        print_row(&plan, row);
                    }
                    done.lock().unwrap_or_else(|e| e.into_inner()).extend(rows);
                }
            });
        }
    });
    let rows = done.into_inner().unwrap_or_else(|e| e.into_inner());
    let results = results(&plan, &selected, rows, &args);
    let code = exit::combine(results.values().map(CaseResult::code));
    let table = table(&plan, &results);
    let _ = exit::print(table.as_bytes());
    let details = details(&plan, &results);
    let _ = exit::print(details.as_bytes());
    let _ = exit::print(
        format!(
            "faultline test: {} — exit {code}\n",
            match code {
                exit::VALID => "every expectation held",
                exit::INVALID => "an expectation failed",
                exit::UNKNOWN => "an expectation could not be decided",
                _ => "a case could not run",
            }
        )
        .as_bytes(),
    );
    let mut code = code;
    if let Some(path) = &junit {
        if let Err(e) = std::fs::write(path, crate::junit::render_plan(&plan, &results)) {
            eprintln!("faultline: cannot write {}: {e}", path.display());
            code = exit::combine([code, exit::BAD_INPUT]);
        }
    }
    if let Some(path) = &args.summary_markdown {
        let text = markdown(&plan, &results, code);
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
        if let Err(e) = written {
            eprintln!("faultline: cannot write {}: {e}", path.display());
            code = exit::combine([code, exit::BAD_INPUT]);
        }
    }
    if let Some(dir) = &args.save_baseline {
        let figures: BTreeMap<String, Figures> = results
            .iter()
            .filter_map(|(&i, r)| Some((plan.cases[i].name.clone(), r.figures()?)))
            .collect();
        let path = dir.join(plan::BASELINE_FILE);
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, plan::baseline_json(&plan.name, &figures)));
        match written {
            Ok(()) => eprintln!("faultline test: baseline written to {}", path.display()),
            Err(e) => {
                eprintln!("faultline: cannot write {}: {e}", path.display());
                code = exit::combine([code, exit::BAD_INPUT]);
            }
        }
    }
    Ok(code)
}

/// The seeds of a run case: `--seed S` alone; else the plan's (or one from the clock),
/// extended or cut to `--seeds N` consecutive ones from the first.
fn seeds_of(declared: &[u64], args: &TestArgs) -> Vec<u64> {
    if let Some(s) = args.seed {
        return vec![s];
    }
    let base: Vec<u64> = if declared.is_empty() {
        vec![runs::clock_seed()]
    } else {
        declared.to_vec()
    };
    match args.seeds {
        Some(n) => (0..n).map(|k| base[0].wrapping_add(k)).collect(),
        None => base,
    }
}

/// Checks, before anything runs, that the store, JUnit file, summary and baseline directory
/// can be written.
fn writable(plan: &TestPlan, junit: Option<&Path>, args: &TestArgs) -> Result<(), Box<PlanError>> {
    let bad = |what: &str, e: String| {
        Box::new(PlanError {
            file: plan.file.clone(),
            line: None,
            case: None,
            key: None,
            kind: PlanErrorKind::Unwritable(format!("{what}: {e}")),
        })
    };
    runs::check_writable(&plan.store, junit)
        .map_err(|e| bad("store or JUnit file", e.to_string()))?;
    if let Some(path) = &args.summary_markdown {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                bad(
                    &format!("--summary-markdown {}", path.display()),
                    e.to_string(),
                )
            })?;
    }
    if let Some(dir) = &args.save_baseline {
        std::fs::create_dir_all(dir)
            .map_err(|e| bad(&format!("--save-baseline {}", dir.display()), e.to_string()))?;
    }
    Ok(())
}

fn not_run(case: usize, seed: Option<u64>, why: &str) -> Row {
    Row {
        case,
        seed,
        file: None,
        verdict: "not run".into(),
        figures: None,
        judgements: vec![Judgement {
            expected: "the case runs".into(),
            found: why.into(),
            held: Held::Unknown,
        }],
        store: None,
        error: None,
        report: String::new(),
        seconds: 0.0,
    }
}

/// Runs one seed of a run case: `run`'s planning and execution, then the judgements.
fn run_one(
    runtime: &tokio::runtime::Runtime,
    case: &Case,
    index: usize,
    seed: Option<u64>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Row {
    let CaseKind::Run { args, .. } = &case.kind else {
        unreachable!("run_one runs run cases")
    };
    let seed = seed.unwrap_or_else(runs::clock_seed);
    let started = Instant::now();
    let mut row = Row {
        case: index,
        seed: Some(seed),
        file: None,
        verdict: "error".into(),
        figures: None,
        judgements: Vec::new(),
        store: None,
        error: None,
        report: String::new(),
        seconds: 0.0,
    };
    let planned = match runs::plan_of(args, seed) {
        Ok(p) => p,
        Err(e) => {
            // Validated when the plan was loaded; the environment changed since.
            eprintln!("faultline: case {:?}: {e}", case.name);
            row.error = Some((exit::BAD_INPUT, e.to_string()));
            return row;
        }
    };
    let finished = runtime.block_on(runs::execute(&planned, stop));
    row.seconds = started.elapsed().as_secs_f64();
    let finished = match finished {
        Ok(f) => f,
        Err(e) => {
            eprintln!("faultline: case {:?} (seed {seed}):", case.name);
            let code = exit::of_error(&e);
            row.error = Some((code, format!("{e:#}")));
            return row;
        }
    };
    row.store = Some(finished.dir.clone());
    row.report = format!(
        "{}\n{}",
        runs::describe(&planned, &finished),
        runs::verdict_text(&finished, Style { color: false })
    );
    let figures = Figures::of(&finished.perf);
    row.figures = Some(figures);
    match &finished.outcome {
        FileOutcome::Checked { report, .. } => {
            row.verdict = expect::verdict_word(report);
            row.judgements = expect::evaluate(&case.expect, report, &figures);
        }
        FileOutcome::BadInput(e) => {
            row.error = Some((
                exit::INTERNAL,
                format!("the recorded history does not read back: {e}"),
            ));
        }
    }
    if !runs::complete(&finished.summary) {
        row.judgements.push(Judgement {
            expected: "the run completes".into(),
            found: "interrupted".into(),
            held: Held::Unknown,
        });
    }
    row.judgements
        .extend(healed_judgement(&finished.summary.healed));
    row
}

/// A run that could not heal every fault it injected left the system faulty: never a pass,
/// whatever its history says (as `faultline run` exits 2 for a valid history then,
/// run::run_exit_code) — an `UNKNOWN` judgement naming what did not heal.
fn healed_judgement(healed: &Result<String, workloads::nemesis::NotHealed>) -> Option<Judgement> {
    let Err(why) = healed else { return None };
    Some(Judgement {
        expected: "every fault healed".into(),
        found: format!("NOT HEALED: {why}"),
        held: Held::Unknown,
    })
}

/// Checks every history of a check case; writes the case's store directory (results.json,
/// report.html) as `check --out` does.
fn check_case(plan: &TestPlan, case: &Case, index: usize) -> Vec<Row> {
    let CaseKind::Check {
        files,
        checker,
        consistency,
        time_limit,
        memory_limit,
        cycle_search_timeout,
    } = &case.kind
    else {
        unreachable!("check_case checks check cases")
    };
    let opts = checkers::CheckOptions {
        consistency: consistency.clone(),
        cycle_search_timeout: cycle_search_timeout
            .unwrap_or(checkers::DEFAULT_CYCLE_SEARCH_TIMEOUT),
        time_limit: Some(*time_limit),
        memory_limit: check::memory_limit(*memory_limit),
        memory_in_use: Some(crate::alloc::in_use),
        ..checkers::CheckOptions::default()
    };
    let mut rows = Vec::new();
    let mut outcomes = Vec::new();
    for file in files {
        let started = Instant::now();
        let outcome = check::check_file(file, checker, None, &opts);
        let figures = checkers::history::limits::read_input(file)
            .and_then(|bytes| read_history(file, &bytes, None))
            .and_then(|h| pair(&h))
            .ok()
            .map(|ops| Figures::of(&perf::summarize(&ops)));
        let mut row = Row {
            case: index,
            seed: None,
            file: Some(file.clone()),
            verdict: "error".into(),
            figures,
            judgements: Vec::new(),
            store: None,
            error: None,
            report: String::new(),
            seconds: started.elapsed().as_secs_f64(),
        };
        match &outcome {
            FileOutcome::Checked { report, .. } => {
                row.verdict = expect::verdict_word(report);
                row.judgements =
                    expect::evaluate(&case.expect, report, &figures.unwrap_or_default());
                row.report = crate::render_human::render(file, report, Style { color: false });
            }
            FileOutcome::BadInput(e) => {
                eprintln!("faultline: {e}");
                row.error = Some((exit::BAD_INPUT, e.to_string()));
            }
        }
        rows.push(row);
        outcomes.push(outcome);
    }
    let code = exit::combine(outcomes.iter().map(FileOutcome::exit_code));
    match runs::run_dir(&plan.store, &format!("check-{}", case.name)) {
        Ok(dir) => {
            if let Err(e) =
                check::write_results(&dir, files, &outcomes, code, opts.memory_limit, None)
            {
                eprintln!("faultline: warning: {}: {e:#}", dir.display());
            }
            for r in &mut rows {
                r.store = Some(dir.clone());
            }
        }
        Err(e) => eprintln!("faultline: warning: {e:#}"),
    }
    rows
}

/// Gathers rows by case (plan order), compares with the baseline, and builds each case's
/// reproduce command.
fn results(
    plan: &TestPlan,
    selected: &[usize],
    mut rows: Vec<Row>,
    args: &TestArgs,
) -> BTreeMap<usize, CaseResult> {
    rows.sort_by_key(|r| (r.case, r.seed, r.file.clone()));
    let mut out: BTreeMap<usize, CaseResult> = BTreeMap::new();
    for &i in selected {
        out.insert(
            i,
            CaseResult {
                rows: Vec::new(),
                baseline: Vec::new(),
                baseline_note: None,
                reproduce: Vec::new(),
            },
        );
    }
    for row in rows {
        if let Some(r) = out.get_mut(&row.case) {
            r.rows.push(row);
        }
    }
    for (&i, r) in out.iter_mut() {
        let case = &plan.cases[i];
        if let Some(b) = &plan.baseline {
            match (b.figures.get(&case.name), r.figures()) {
                (Some(base), Some(now)) => {
                    r.baseline = expect::compare(base, &now, &b.tolerances);
                }
                (None, _) => {
                    r.baseline_note =
                        Some(format!("no figures for this case in {}", b.file.display()))
                }
                (Some(_), None) => r.baseline_note = Some("no figures measured in this run".into()),
            }
        }
        r.reproduce = reproduce(plan, case, r, args);
    }
    out
}

/// The command that reruns a case exactly (its first failing seed), and for a run case the
/// same run as a `faultline run` command line.
fn reproduce(plan: &TestPlan, case: &Case, r: &CaseResult, args: &TestArgs) -> Vec<String> {
    let mut test = vec![
        "faultline".to_string(),
        "test".into(),
        plan.file.to_string_lossy().to_string(),
        "--case".into(),
        case.name.clone(),
    ];
    if let Some(b) = &args.baseline {
        test.push("--baseline".into());
        test.push(b.to_string_lossy().to_string());
    }
    let failing = r
        .rows
        .iter()
        .find(|row| row.code() != exit::VALID)
        .or(r.rows.first());
    let mut out = Vec::new();
    match (&case.kind, failing.and_then(|row| row.seed)) {
        (CaseKind::Run { argv, .. }, Some(seed)) => {
            test.push("--seed".into());
            test.push(seed.to_string());
            out.push(join(&test));
            let mut run = vec!["faultline".to_string()];
            run.extend(argv.iter().cloned());
            run.push("--seed".into());
            run.push(seed.to_string());
            out.push(join(&run));
        }
        (
            CaseKind::Check {
                checker,
                consistency,
                files,
                cycle_search_timeout,
                ..
            },
            _,
        ) => {
            out.push(join(&test));
            let mut check = vec!["faultline".to_string(), "check".into()];
            check.push(
                match checker.kind {
                    checkers::CheckerKind::Model => "--model",
                    checkers::CheckerKind::Workload => "--workload",
                }
                .into(),
            );
            check.push(checker.name.into());
            for c in consistency {
                check.push("--consistency".into());
                check.push(c.clone());
            }
            if let Some(t) = cycle_search_timeout {
                check.push("--cycle-search-timeout".into());
                check.push(t.as_secs_f64().to_string());
            }
            match failing.and_then(|row| row.file.clone()) {
                Some(f) => check.push(f),
                None => check.extend(files.iter().cloned()),
            }
            out.push(join(&check));
        }
        (CaseKind::Run { .. }, None) => out.push(join(&test)),
    }
    out
}

fn join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line per finished row, as it finishes (standard error: the table is the output).
fn print_row(plan: &TestPlan, row: &Row) {
    let case = &plan.cases[row.case];
    let what = match (&row.seed, &row.file) {
        (Some(s), _) => format!("seed {s}"),
        (_, Some(f)) => f.clone(),
        _ => String::new(),
    };
    let store = row
        .store
        .as_ref()
        .map(|d| format!(" · store {}", d.display()))
        .unwrap_or_default();
    eprintln!(
        "faultline test: {} {} ({what}): {}{store}",
        word(row.code()),
        case.name,
        row.verdict
    );
}

fn opt_percent(x: Option<f64>) -> String {
    x.map(|x| format!("{x:.1}%")).unwrap_or_else(|| "–".into())
}

/// The columns of the summary table for one case.
fn columns(plan: &TestPlan, i: usize, r: &CaseResult) -> [String; 7] {
    let case = &plan.cases[i];
    let what = match &case.kind {
        CaseKind::Run { .. } => {
            let seeds: Vec<String> = r
                .rows
                .iter()
                .filter_map(|row| row.seed.map(|s| s.to_string()))
                .collect();
            format!("seed {}", seeds.join(","))
        }
        CaseKind::Check { files, .. } => {
            format!(
                "{} histor{}",
                files.len(),
                if files.len() == 1 { "y" } else { "ies" }
            )
        }
    };
    // A long list of anomalies is shortened to its count here; the details name them all.
    let mut verdicts: Vec<String> = Vec::new();
    for row in &r.rows {
        let short = match row.verdict.split_once(": ") {
            Some((head, list)) if row.verdict.len() > 40 => {
                format!("{head}: {} anomalies", list.split(", ").count())
            }
            _ => row.verdict.clone(),
        };
        if !verdicts.contains(&short) {
            verdicts.push(short);
        }
    }
    let f = r.figures();
    [
        case.name.clone(),
        what,
        verdicts.join(" / "),
        opt_percent(f.and_then(|f| f.availability_during_faults)),
        f.and_then(|f| f.p99_outside_faults_ms)
            .map(|p| format!("{p:.2} ms"))
            .unwrap_or_else(|| "–".into()),
        f.map(|f| format!("{:.0} ops/s", f.throughput))
            .unwrap_or_else(|| "–".into()),
        word(r.code()).to_string(),
    ]
}

const HEADERS: [&str; 7] = [
    "case",
    "runs",
    "verdict",
    "availability during faults",
    "p99 outside faults",
    "throughput",
    "result",
];

/// The summary table, aligned.
pub fn table(plan: &TestPlan, results: &BTreeMap<usize, CaseResult>) -> String {
    let rows: Vec<[String; 7]> = results.iter().map(|(&i, r)| columns(plan, i, r)).collect();
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (k, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if k + 1 == cells.len() {
                s.push_str(cell);
            } else {
                let pad = w - cell.chars().count();
                s.push_str(cell);
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.push('\n');
        s
    };
    let mut out = format!("\nfaultline test: {}\n", plan.name);
    out.push_str(&line(HEADERS.to_vec()));
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Per case: the store directories, every expectation judged, the baseline comparison, and
/// the reproduce command of a case that did not pass.
pub fn details(plan: &TestPlan, results: &BTreeMap<usize, CaseResult>) -> String {
    let mut out = String::from("\n");
    for (&i, r) in results {
        out.push_str(&case_details(plan, i, r));
    }
    out
}

/// [`details`] of one case.
pub fn case_details(plan: &TestPlan, i: usize, r: &CaseResult) -> String {
    let mut out = String::new();
    let case = &plan.cases[i];
    let code = r.code();
    let _ = writeln!(out, "{} {}", word(code), case.name);
    for row in &r.rows {
        let what = match (&row.seed, &row.file) {
            (Some(s), _) => format!("seed {s}"),
            (_, Some(f)) => f.clone(),
            _ => "not run".into(),
        };
        let store = row
            .store
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "–".into());
        let _ = writeln!(out, "  {what}: {} · store {store}", row.verdict);
        if let Some((_, why)) = &row.error {
            let _ = writeln!(out, "    could not run: {why}");
        }
        for j in &row.judgements {
            let _ = writeln!(
                out,
                "    {} {}: found {}",
                mark(j.held),
                j.expected,
                j.found
            );
        }
    }
    for j in &r.baseline {
        let _ = writeln!(
            out,
            "  baseline: {} {}: {}",
            mark(j.held),
            j.expected,
            j.found
        );
    }
    if let Some(note) = &r.baseline_note {
        let _ = writeln!(out, "  baseline: {note}");
    }
    if code != exit::VALID {
        if let Some(first) = r.reproduce.first() {
            let _ = writeln!(out, "  reproduce: {first}");
        }
        for other in r.reproduce.iter().skip(1) {
            let _ = writeln!(out, "  the same, alone: {other}");
        }
    }
    out
}

fn mark(h: Held) -> &'static str {
    match h {
        Held::Held => "held",
        Held::Failed => "FAILED",
        Held::Unknown => "UNKNOWN",
    }
}

/// The failures of a case as one line (the JUnit message): every expectation that did not
/// hold, with what was found, and the reproduce command.
pub fn failure_message(r: &CaseResult) -> String {
    let mut parts: Vec<String> = Vec::new();
    for row in &r.rows {
        let at = match (&row.seed, &row.file) {
            (Some(s), _) => format!("seed {s}: "),
            (_, Some(f)) => format!("{f}: "),
            _ => String::new(),
        };
        if let Some((_, why)) = &row.error {
            parts.push(format!("{at}could not run: {why}"));
        }
        for j in row.judgements.iter().filter(|j| j.held != Held::Held) {
            parts.push(format!("{at}expected {}, found {}", j.expected, j.found));
        }
    }
    for j in r.baseline.iter().filter(|j| j.held != Held::Held) {
        parts.push(format!("baseline: {}: {}", j.expected, j.found));
    }
    let mut text = parts.join("; ");
    if let Some(cmd) = r.reproduce.first() {
        text.push_str(&format!(" — reproduce: {cmd}"));
    }
    text
}

/// The summary as Markdown (GitHub's job summary).
pub fn markdown(plan: &TestPlan, results: &BTreeMap<usize, CaseResult>, code: u8) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "### faultline test: {} — {}\n\n",
        cell(&plan.name),
        word(code)
    );
    out.push_str(&format!("| {} |\n", HEADERS.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(HEADERS.len())));
    for (&i, r) in results {
        let cols = columns(plan, i, r);
        let cells: Vec<String> = cols.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
    for (&i, r) in results {
        let case = &plan.cases[i];
        for j in &r.baseline {
            out.push_str(&format!(
                "- `{}` baseline: {} {}: {}\n",
                case.name,
                mark(j.held),
                cell(&j.expected),
                cell(&j.found)
            ));
        }
        if r.code() != exit::VALID {
            out.push_str(&format!(
                "- **{} {}**: {}\n",
                word(r.code()),
                case.name,
                cell(&failure_message(r))
            ));
        }
        for row in &r.rows {
            if let Some(d) = &row.store {
                out.push_str(&format!("- `{}` store: `{}`\n", case.name, d.display()));
            }
        }
    }
    out.push('\n');
    out
}

/// Seconds a case took (its rows together).
pub fn seconds(r: &CaseResult) -> Duration {
    Duration::from_secs_f64(r.rows.iter().map(|row| row.seconds).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards `faultline test` against passing a run case whose faults did not heal.
    #[test]
    fn a_run_case_whose_faults_did_not_heal_is_never_a_pass() {
        let healed: Result<String, workloads::nemesis::NotHealed> =
            Ok("every node hears every other node again".into());
        assert!(healed_judgement(&healed).is_none());
        let unhealed = Err(workloads::nemesis::NotHealed::Still("n2 is still down"));
        let j = healed_judgement(&unhealed).expect("a judgement");
        assert_eq!(j.held, Held::Unknown);
        assert!(j.found.contains("n2 is still down"), "{}", j.found);
        assert_eq!(exit::combine([exit::of_held(j.held)]), exit::UNKNOWN);
    }
}
