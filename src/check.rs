//! `faultline check`: read each history, check it, print the verdicts, return the exit code.
//!
//! Files are read and checked in parallel (rayon) and reported in argument order. A file that
//! cannot be read or is malformed gets one line on standard error (`faultline: FILE:LINE: what
//! was expected`) and makes the overall exit code 254; otherwise the code is 1 if any history
//! is invalid, else 2 if any is unknown, else 0 (see [`crate::exit`]).

use crate::cli::{CheckArgs, OutputFormat};
use crate::exit;
use crate::render_human::{self, Style};
use crate::render_json;
use anyhow::{Context, Result};
use checkers::history::{
    read_compact_observed, read_paired, CompactHistory, CompactRead, Format, Paired, ReadBudget,
    SettledObserver, Tuples,
};
use checkers::registry::{self, Checker};
use checkers::{default_memory_limit, CheckOptions, CheckerKind, InputError, Report, StopReason};
use rayon::prelude::*;
use std::io::Write;

/// What happened to one file.
#[derive(Debug)]
pub enum FileOutcome {
    /// It was read and checked (by a model or a workload checker).
    Checked {
        /// The encoding it was read in.
        format: Format,
        /// The verdict with its evidence (boxed: it is much larger than an error).
        report: Box<Report>,
    },
    /// It could not be read, or is not a well-formed history for the checker.
    BadInput(InputError),
}

impl FileOutcome {
    /// This file's exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            FileOutcome::Checked { report, .. } => exit::of_validity(report.valid),
            FileOutcome::BadInput(_) => exit::BAD_INPUT,
        }
    }
}

/// Prints a usage problem and returns the bad-usage exit code.
fn usage(message: &str) -> u8 {
    eprintln!("faultline: {message}");
    exit::BAD_INPUT
}

/// Runs `faultline check`. Returns the exit code; an `Err` is an internal error (exit 255),
/// except that a closed standard output ends the output quietly.
pub fn run(args: CheckArgs) -> Result<u8> {
    let checker = if let Some(workload) = &args.workload {
        let name = workload.name();
        if args.model.is_some() {
            return Ok(usage("give either --model or --workload, not both"));
        }
        let Some(entry) = registry::find(CheckerKind::Workload, &name) else {
            return Ok(usage(&format!("unknown workload {name:?}")));
        };
        entry
    } else {
        let workload_only = [
            ("--consistency", !args.consistency.is_empty()),
            (args.txn.given().unwrap_or(""), args.txn.given().is_some()),
            (
                "--cycle-search-timeout",
                args.txn.cycle_search_timeout.is_some(),
            ),
            ("--group-size", args.group_size.is_some()),
            ("--negative-balances", args.negative_balances),
            ("--total-amount", args.total_amount.is_some()),
        ];
        if let Some((flag, _)) = workload_only.iter().find(|(_, given)| *given) {
            return Ok(usage(&format!(
                "{flag} applies only to --workload checks, not to --model"
            )));
        }
        let Some(model_name) = args.model.as_deref() else {
            return Ok(usage("expected --model MODEL or --workload WORKLOAD"));
        };
        let Some(model) = registry::find(CheckerKind::Model, model_name) else {
            let known: Vec<&str> = registry::models().map(|m| m.name).collect();
            return Ok(usage(&format!(
                "unknown model {model_name:?}; expected one of: {}",
                known.join(", ")
            )));
        };
        model
    };
    let opts = CheckOptions {
        initial: args.initial.clone(),
        shrink: !args.no_shrink,
        shrink_time: args.shrink_time,
        consistency: args.consistency.clone(),
        anomalies: args.txn.anomalies.clone(),
        inference: args.txn.inference(),
        cycle_search_timeout: args.txn.cycle_search_timeout(),
        group_size: args.group_size,
        negative_balances: args.negative_balances,
        total_amount: args.total_amount,
        time_limit: Some(args.time_limit),
        memory_limit: memory_limit(args.memory_limit),
        memory_in_use: Some(crate::alloc::in_use),
        independent: args.independent.into(),
    };
    if let Err(e) = checker.validate(&opts) {
        return Ok(usage(&e.to_string()));
    }
    if args.files.iter().filter(|f| f.as_str() == "-").count() > 1 {
        return Ok(usage(
            "standard input (-) can be given only once among the files",
        ));
    }
    let forced = args.format_in.map(|f| f.format());
    let outcomes: Vec<FileOutcome> = args
        .files
        .par_iter()
        .map(|file| check_file(file, checker, forced, &opts))
        .collect();
    finish(&args, outcomes)
}

/// The memory budget in bytes: `--memory-limit` (already in bytes), else the default (half
/// of the smaller of physical memory and the cgroup's limit).
pub fn memory_limit(given: Option<u64>) -> usize {
    given
        .map(|b| usize::try_from(b).unwrap_or(usize::MAX))
        .unwrap_or_else(default_memory_limit)
}

/// The reason a check cannot start when reading the history alone used up the memory budget
/// (`compiled`: bytes in use that the check's compile holds already, not reading's).
fn spent_reading(limit: usize, compiled: usize) -> Option<String> {
    (crate::alloc::in_use().saturating_sub(compiled) > limit).then(|| {
        format!(
            "memory limit of {} MiB reached while reading the history",
            limit >> 20
        )
    })
}

/// Prints the outcomes, writes `--out`, and returns the combined exit code.
fn finish(args: &CheckArgs, outcomes: Vec<FileOutcome>) -> Result<u8> {
    let code = exit::combine(outcomes.iter().map(FileOutcome::exit_code));
    match print(args, &outcomes) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e).context("cannot write the report to standard output"),
    }
    // Results only of a check that ran: a history that could not be read or checked (wrong
    // --workload for it, say) must not replace DIR's results.json (`report` on a run's store).
    let checked = outcomes
        .iter()
        .any(|o| !matches!(o, FileOutcome::BadInput(_)));
    if let (Some(dir), false) = (&args.out, checked) {
        eprintln!(
            "faultline: nothing written to {}: no history could be checked",
            dir.display()
        );
    }
    if let (Some(dir), true) = (&args.out, checked) {
        if let Err(e) = write_results(
            dir,
            &args.files,
            &outcomes,
            code,
            memory_limit(args.memory_limit),
            None,
        ) {
            return Ok(usage(&format!("--out {}: {e:#}", dir.display())));
        }
    }
    if let Some(path) = &args.junit {
        if let Err(e) = crate::junit::write(path, "faultline check", &args.files, &outcomes) {
            return Ok(usage(&format!("--junit: {e:#}")));
        }
    }
    Ok(code)
}

/// Reads, pairs and checks one file with `checker`, within a budget started when the check
/// starts (after reading).
pub fn check_file(
    file: &str,
    checker: &Checker,
    forced: Option<Format>,
    opts: &CheckOptions,
) -> FileOutcome {
    check_file_keeping(file, checker, forced, opts).0
}

/// [`check_file`], also giving back the history when it was read compactly and checked: `run`
/// draws its figures and report from it instead of reading the file again.
pub fn check_file_keeping(
    file: &str,
    checker: &Checker,
    forced: Option<Format>,
    opts: &CheckOptions,
) -> (FileOutcome, Option<Box<CompactHistory>>) {
    // Lets the test suite check that a panic in a worker thread becomes exit 255 with a
    // one-line message (tests/cli.rs); never set in normal use.
    if std::env::var_os("FAULTLINE_PANIC_FOR_TESTS").is_some() {
        panic!("panic requested by FAULTLINE_PANIC_FOR_TESTS");
    }
    // `-` is standard input even when a file of that name exists (the readers take it so).
    if file == "-" || !std::fs::metadata(file).is_ok_and(|m| m.is_file()) {
        match stream_as_file(file, opts.memory_limit) {
            Ok(Some(input)) => {
                let (mut outcome, history) = check_path(&input.path, file, checker, forced, opts);
                if let FileOutcome::BadInput(e) = &mut outcome {
                    if e.file == input.path {
                        e.file = file.to_string();
                    }
                }
                return (outcome, history);
            }
            Ok(None) => {}
            Err(Spool::Input(e)) => return (FileOutcome::BadInput(e), None),
            Err(Spool::TooLong(copied)) => {
                let why = format!(
                    "memory limit of {} MiB too small for the history: {} ran past {} MiB, {SPOOL_PER_LIMIT} times the limit (no history that long fits in it); give a larger --memory-limit",
                    opts.memory_limit >> 20,
                    if file == "-" { "standard input" } else { "the stream" },
                    copied >> 20
                );
                let report =
                    Report::stopped(checker.name, checker.kind, 0, Some(StopReason::Memory), why);
                let outcome = FileOutcome::Checked {
                    format: forced.unwrap_or(Format::JsonLines),
                    report: Box::new(report),
                };
                return (outcome, None);
            }
        }
    }
    check_path(file, file, checker, forced, opts)
}

/// How many times the memory limit standard input may run to before it is given up: every
/// history measured takes more memory than its size when read (a register history in JSON
/// lines 1.2 times, a JSON array 1.25, kv texts 2–4: docs/reliability.md), so one four times
/// longer than the limit cannot fit, and an endless stream does not fill the disk.
const SPOOL_PER_LIMIT: u64 = 4;

/// Why standard input could not be made a file.
enum Spool {
    /// It could not be read.
    Input(InputError),
    /// It ran past [`SPOOL_PER_LIMIT`] times the memory limit (the bytes copied).
    TooLong(u64),
}

/// Standard input, or a FIFO such as a shell's `<(zcat history.jsonl.gz)`, as a file the
/// readers open by path, so that it is read as a file is: by the compact and streaming
/// readers, in blocks, within `--memory-limit` (read whole into memory, a 250 MB list-append
/// history from a pipe took 7.4 GB before any budget was compared). Standard input redirected
/// from a regular file is read where it is; a stream is first copied to an unnamed temporary
/// file (gone with the process, even a killed one). `None` when the input cannot be opened or
/// no temporary file can be made: the readers then read it whole, as before (and word any
/// error).
struct StreamFile {
    /// `/proc/self/fd/N`.
    path: String,
    /// The temporary file, kept open while it is read (`None`: standard input itself).
    _spool: Option<std::fs::File>,
}

/// [`StreamFile`] of `file` (`-`: standard input), if it is a stream.
///
/// The copy stops early, as reading a stream into memory did, at a line longer than the
/// readers take (the reader then names it), and gives up past [`SPOOL_PER_LIMIT`] times the
/// memory limit `memory_limit`.
fn stream_as_file(file: &str, memory_limit: usize) -> Result<Option<StreamFile>, Spool> {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileTypeExt;
    const STDIN: &str = "/proc/self/fd/0";
    let mut input: Box<dyn Read> = if file == "-" {
        if std::fs::metadata(STDIN).is_ok_and(|m| m.is_file()) {
            return Ok(Some(StreamFile {
                path: STDIN.to_string(),
                _spool: None,
            }));
        }
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(file) {
            Ok(f) if f.metadata().is_ok_and(|m| m.file_type().is_fifo()) => Box::new(f),
            _ => return Ok(None),
        }
    };
    let Ok(spool) = tempfile::tempfile() else {
        return Ok(None);
    };
    let what = if file == "-" {
        "standard input"
    } else {
        "the stream"
    };
    let cannot = |io: std::io::Error| {
        Spool::Input(InputError::new(
            file,
            0,
            format!("cannot read {what} (copying it to a temporary file): {io}"),
        ))
    };
    let cap = (memory_limit as u64).saturating_mul(SPOOL_PER_LIMIT);
    let max_line = checkers::history::limits::MAX_LINE_BYTES;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, spool);
    let mut buf = vec![0u8; 1 << 20];
    let (mut copied, mut line) = (0u64, 0usize);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(cannot(e)),
        };
        out.write_all(&buf[..n]).map_err(cannot)?;
        copied += n as u64;
        line = match buf[..n].iter().rposition(|&b| b == b'\n') {
            Some(p) => n - p - 1,
            None => line + n,
        };
        if line > max_line {
            break;
        }
        if copied > cap {
            return Err(Spool::TooLong(copied));
        }
    }
    let spool = out.into_inner().map_err(|e| cannot(e.into_error()))?;
    Ok(Some(StreamFile {
        path: format!("/proc/self/fd/{}", spool.as_raw_fd()),
        _spool: Some(spool),
    }))
}

/// [`check_file_keeping`] of the file at `path`, named `name` in notes.
fn check_path(
    file: &str,
    name: &str,
    checker: &Checker,
    forced: Option<Format>,
    opts: &CheckOptions,
) -> (FileOutcome, Option<Box<CompactHistory>>) {
    let budget = ReadBudget {
        memory_limit: opts.memory_limit,
        memory_in_use: opts.memory_in_use,
    };
    // register, cas-register and kv histories (JSON lines, Jepsen EDN with one map per line —
    // Porcupine's kv format among it — and text logs) and echo histories are read and checked
    // compactly; anything that path does not take is read and checked below.
    let compact = match checker.kind {
        CheckerKind::Model => checkers::compact_model(checker.name),
        CheckerKind::Workload => checkers::compact_workload(checker.name),
    };
    if compact {
        if let Some(checked) = check_compact_file(file, name, checker, forced, opts, budget) {
            return checked;
        }
    }
    // Jepsen's workload histories may omit :process (elle-cli's long-fork.edn): such events
    // are paired as one unnamed client thread.
    let anonymous = checker.kind == CheckerKind::Workload;
    // list-append and rw-register histories are read compactly (checkers::read_txn_paired).
    let txn = checkers::txn_workload(checker.name).filter(|_| anonymous);
    let read = match txn {
        Some(kind) => checkers::read_txn_paired(file, forced, kind, budget),
        None => read_paired(file, forced, anonymous, budget).map(|p| (p, None)),
    };
    let result = read.and_then(|(paired, compact)| {
        let (format, ops) = match paired {
            Paired::Read {
                format,
                ops,
                events,
                torn_line,
            } => {
                if let Some(line) = torn_line {
                    eprintln!(
                        "faultline: {name}:{line}: note: ignored a torn last line (cut short, no newline at the end: the recording was interrupted); the verdict covers the {events} complete events before it"
                    );
                }
                (format, ops)
            }
            Paired::OutOfMemory {
                needed,
                read,
                total,
                ops,
            } => {
                let report = too_large(checker, opts, needed, read, total, ops);
                return Ok((forced.unwrap_or(Format::JsonLines), report));
            }
        };
        if let Some(why) = spent_reading(opts.memory_limit, 0) {
            let n = ops.iter().filter(|o| o.client).count();
            let report =
                Report::stopped(checker.name, checker.kind, n, Some(StopReason::Memory), why);
            return Ok((format, report));
        }
        let mut report = match (txn, compact) {
            (Some(kind), Some(compact)) => {
                checkers::check_compact(kind, file, &ops, compact, opts, &opts.budget())?
            }
            _ => checker.check(file, format, &ops, opts, &opts.budget())?,
        };
        // One rule for check, run and report: nothing succeeded → never `valid`.
        checkers::judge_vacuous(&mut report, &ops);
        Ok((format, report))
    });
    let outcome = match result {
        Ok((format, report)) => FileOutcome::Checked {
            format,
            report: Box::new(report),
        },
        Err(e) => FileOutcome::BadInput(e),
    };
    (outcome, None)
}

/// The report of a history that does not fit in the memory limit: reading it would need
/// about `needed` bytes (estimated after reading `read` of its `total` bytes, `ops`
/// operations).
fn too_large(
    checker: &Checker,
    opts: &CheckOptions,
    needed: usize,
    read: u64,
    total: u64,
    ops: usize,
) -> Report {
    let why = format!(
        "memory limit of {} MiB too small for the history: reading it would need about {} MiB (estimated after reading {} of its {} MiB); give --memory-limit {}MiB or more",
        opts.memory_limit >> 20,
        needed.div_ceil(1 << 20),
        match read {
            0 => "none".to_string(),
            1..0x10_0000 => "less than 1 MiB".to_string(),
            _ => format!("{} MiB", read >> 20),
        },
        total >> 20,
        (needed + needed / 2).div_ceil(1 << 20),
    );
    Report::stopped(
        checker.name,
        checker.kind,
        ops,
        Some(StopReason::Memory),
        why,
    )
}

/// [`check_file`] for a model or workload with a compact check ([`checkers::compact_model`],
/// [`checkers::compact_workload`]), the file read and checked compactly
/// ([`checkers::history::read_compact`], [`checkers::check_compact_model`]): the same report,
/// notes and verdict. `None` when that path does not take the file (another encoding, any
/// input problem, anything the model refuses): the general path then reads and checks it,
/// and words any error.
fn check_compact_file(
    file: &str,
    name: &str,
    checker: &Checker,
    forced: Option<Format>,
    opts: &CheckOptions,
    budget: ReadBudget,
) -> Option<(FileOutcome, Option<Box<CompactHistory>>)> {
    // Models with `--independent always` (whose errors the general path words) go to the
    // general path before anything is read: read here first, the file was read twice.
    let model = checker.kind == CheckerKind::Model;
    if model && opts.independent == Tuples::Always {
        return None;
    }
    // register, cas-register and kv compile each operation as soon as it settles, while the
    // file is still read (checkers::SettledCompile).
    let mut early = if model {
        checkers::SettledCompile::new(checker.name, opts)
    } else {
        None
    };
    let read = read_compact_observed(
        file,
        forced,
        budget.memory_limit,
        budget.memory_in_use,
        checkers::COMPACT_CHECK_BYTES_PER_OP,
        early.as_mut().map(|e| e as &mut dyn SettledObserver),
    )?;
    let (history, events, torn_line, format) = match read {
        CompactRead::Read {
            history,
            events,
            torn_line,
            format,
        } => (history, events, torn_line, format),
        CompactRead::OutOfMemory {
            needed,
            read,
            total,
            ops,
            format,
        } => {
            let report = too_large(checker, opts, needed, read, total, ops);
            return Some((
                FileOutcome::Checked {
                    format,
                    report: Box::new(report),
                },
                None,
            ));
        }
    };
    if std::env::var_os("FL_DEBUG_COMPACT").is_some() {
        eprintln!("COMPACT {format:?}");
    }
    let checked = |report: Report| FileOutcome::Checked {
        format,
        report: Box::new(report),
    };
    let note = || {
        if let Some(line) = torn_line {
            eprintln!(
                "faultline: {name}:{line}: note: ignored a torn last line (cut short, no newline at the end: the recording was interrupted); the verdict covers the {events} complete events before it"
            );
        }
    };
    // Models: Jepsen's independent [key value] tuples, unwrapped here by the general path's
    // rules (history::unwrap_tuples); anything the compact history cannot decide goes to the
    // general path (`always` went there before reading).
    let mut history = history;
    let tuples = match (checker.kind, opts.independent) {
        (CheckerKind::Workload, _) | (_, Tuples::Never) => false,
        (_, Tuples::Always) => return None,
        (_, Tuples::Auto) => history.unwrap_tuples()?,
    };
    let compiled = early.as_ref().map_or(0, |e| e.counted_bytes());
    if let Some(why) = spent_reading(opts.memory_limit, compiled) {
        note();
        let n = history.client_ops();
        let report = Report::stopped(checker.name, checker.kind, n, Some(StopReason::Memory), why);
        return Some((checked(report), None));
    }
    let mut report = match (checker.kind, early) {
        (CheckerKind::Model, Some(early)) => early.check(&history, tuples, opts, &opts.budget())?,
        (CheckerKind::Model, None) => {
            checkers::check_compact_model(checker.name, &history, opts, &opts.budget())?
        }
        (CheckerKind::Workload, _) => {
            checkers::check_compact_workload(checker.name, &history, &opts.budget())?
        }
    };
    report.stats.tuples = tuples;
    note();
    // One rule for check, run and report: nothing succeeded → never `valid`.
    checkers::judge_vacuous_compact(&mut report, &history);
    Some((checked(report), Some(history)))
}

/// Prints every file's result in argument order: reports to standard output, input errors as
/// one line each on standard error (at their place in the sequence).
fn print(args: &CheckArgs, outcomes: &[FileOutcome]) -> std::io::Result<()> {
    let style = Style::detect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (i, (file, outcome)) in args.files.iter().zip(outcomes).enumerate() {
        match (outcome, args.format) {
            (FileOutcome::Checked { report, .. }, OutputFormat::Human) => {
                if i > 0 && (report.has_details() || prev_had_details(outcomes, i)) {
                    writeln!(out)?;
                }
                out.write_all(render_human::render(file, report, style).as_bytes())?;
            }
            (FileOutcome::Checked { format, report }, OutputFormat::Json) => {
                writeln!(out, "{}", render_json::report(file, *format, report))?;
            }
            (FileOutcome::BadInput(e), format) => {
                if format == OutputFormat::Json {
                    writeln!(out, "{}", render_json::input_error(file, e))?;
                }
                out.flush()?;
                eprintln!("faultline: {e}");
            }
        }
    }
    out.flush()
}

/// True when the previous file printed more than its verdict line (so a blank line separates).
fn prev_had_details(outcomes: &[FileOutcome], i: usize) -> bool {
    match outcomes.get(i.wrapping_sub(1)) {
        Some(FileOutcome::Checked { report, .. }) => report.has_details(),
        _ => false,
    }
}

/// Writes `DIR/results.json` (and checkers' artifacts, report.html and the plots, whose reading
/// keeps to `memory_limit` bytes, or which are drawn from `kept`: the single file's history as
/// its check read it compactly), creating DIR.
pub fn write_results(
    dir: &std::path::Path,
    files: &[String],
    outcomes: &[FileOutcome],
    code: u8,
    memory_limit: usize,
    kept: Option<crate::report::Read>,
) -> Result<()> {
    std::fs::create_dir_all(dir).context("cannot create the directory")?;
    let reports = files
        .iter()
        .zip(outcomes)
        .map(|(file, outcome)| match outcome {
            FileOutcome::Checked { format, report } => render_json::report(file, *format, report),
            FileOutcome::BadInput(e) => render_json::input_error(file, e),
        })
        .collect();
    for outcome in outcomes {
        if let FileOutcome::Checked { report, .. } = outcome {
            for artifact in &report.artifacts {
                let name = std::path::Path::new(&artifact.name)
                    .file_name()
                    .context("an artifact without a file name")?;
                let path = dir.join(name);
                std::fs::write(&path, &artifact.contents)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&render_json::results_file(code, reports))?;
    text.push('\n');
    // Through a temporary file and a rename: a failure never leaves half a results.json.
    crate::run::write_atomically(&dir.join("results.json"), &text)?;
    // The pictures are an extra: failing to draw them never changes the verdict or exit code.
    if let Err(e) = crate::report::write_all(dir, files, outcomes, memory_limit, kept) {
        eprintln!(
            "faultline: warning: no report.html in {}: {e:#}",
            dir.display()
        );
    }
    Ok(())
}
