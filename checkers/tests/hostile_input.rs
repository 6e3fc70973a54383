//! Hostile input never costs a verdict: a seeded fuzzer over every history reader and the
//! checkers behind them.
//!
//! Seeds are the project's fixtures, the published anchor histories in `../shared/anchors/`
//! (when present) and generated transactional histories. Each case mutates a seed (see
//! `hostile/mutate.rs`), reads it with format detection or a forced format, pairs it, and runs
//! the seed's own checker and one other on it, in-process under `catch_unwind`. Every case must
//! end in a verdict or an `InputError` naming the file and a line; a panic is a failure reported
//! with the case's seed.
//!
//! `FAULTLINE_FUZZ_CASES` (default 2,000) sets the number of cases, `FAULTLINE_FUZZ_SEED` the
//! base seed, `FAULTLINE_FUZZ_CASE` runs just one case (to reproduce a failure), and
//! `FAULTLINE_FUZZ_TRACE=1` prints each case before running it (to find one that aborts the
//! process). `FAULTLINE_FUZZ_CLI_CASES` (default 40) cases also run through the real
//! `faultline check` binary when it has been built (`scripts/fuzz-readers` builds it).

#[path = "hostile/mutate.rs"]
mod mutate;

use checkers::history::{self, pair, pair_anonymous, read_history, Format};
use checkers::registry;
use checkers::CheckOptions;
use checkers::CheckerKind;
use checkers::InputError;
use checkers::Rng;
use checkers::Validity;
use mutate::{Kind, KINDS};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which checker a seed belongs to.
#[derive(Clone, Copy)]
enum Checker {
    Model(&'static registry::Checker),
    Workload(&'static registry::Checker),
}

impl Checker {
    fn name(self) -> String {
        match self {
            Checker::Model(m) => format!("--model {}", m.name),
            Checker::Workload(w) => format!("--workload {}", w.name),
        }
    }

    fn args(self) -> Vec<String> {
        self.name().split(' ').map(str::to_string).collect()
    }
}

struct Seed {
    name: String,
    bytes: Vec<u8>,
    checker: Checker,
}

const FORMATS: &[Format] = &[
    Format::JsonLines,
    Format::JsonArray,
    Format::Edn,
    Format::PorcupineKv,
    Format::JepsenLog,
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn checker_of(args: &str) -> Option<Checker> {
    let words: Vec<&str> = args.split_whitespace().collect();
    for pair in words.windows(2) {
        match pair[0] {
            "--model" => return registry::find(CheckerKind::Model, pair[1]).map(Checker::Model),
            "--workload" => {
                return registry::find(CheckerKind::Workload, pair[1]).map(Checker::Workload)
            }
            _ => {}
        }
    }
    None
}

/// Seeds from an `expected.tsv` (file, args, …) next to the files it names.
fn seeds_from(dir: &Path, seeds: &mut Vec<Seed>) {
    let Ok(tsv) = std::fs::read_to_string(dir.join("expected.tsv")) else {
        return;
    };
    for row in tsv.lines().skip(1) {
        let mut cols = row.split('\t');
        let (Some(file), Some(args)) = (cols.next(), cols.next()) else {
            continue;
        };
        let (Some(checker), Ok(bytes)) = (checker_of(args), std::fs::read(dir.join(file))) else {
            continue;
        };
        seeds.push(Seed {
            name: file.to_string(),
            bytes,
            checker,
        });
    }
}

fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    seeds_from(&repo().join("fixtures"), &mut seeds);
    seeds_from(&repo().join("../shared/anchors"), &mut seeds);
    for (i, spec) in [
        checkers::testing::TxnSpec::list_append(60, 1),
        checkers::testing::TxnSpec {
            workload: checkers::testing::TxnKind::RwRegister,
            ..checkers::testing::TxnSpec::list_append(60, 2)
        },
    ]
    .iter()
    .enumerate()
    {
        let history = checkers::testing::txn_history(spec);
        let mut bytes = Vec::new();
        history::write_json_lines(&history, &mut bytes).unwrap();
        let name = ["list-append", "rw-register"][i];
        seeds.push(Seed {
            name: format!("generated-{name}.jsonl"),
            bytes,
            checker: Checker::Workload(registry::find(CheckerKind::Workload, name).unwrap()),
        });
    }
    // Pretty-printed JSON-array twins of register histories (the compact reader splits arrays
    // at elements, not lines).
    let twins: Vec<Seed> = seeds
        .iter()
        .filter(|s| {
            s.name.ends_with(".jsonl")
                && matches!(s.checker, Checker::Model(m) if m.name.contains("register"))
        })
        .take(4)
        .filter_map(|s| {
            let events: Vec<serde_json::Value> = std::str::from_utf8(&s.bytes)
                .ok()?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()
                .ok()?;
            Some(Seed {
                name: format!("{}-pretty.json", s.name),
                bytes: serde_json::to_string_pretty(&events).ok()?.into_bytes(),
                checker: s.checker,
            })
        })
        .collect();
    assert!(!twins.is_empty(), "expected register histories to twin");
    seeds.extend(twins);
    assert!(seeds.len() > 20, "expected the fixtures to give seeds");
    seeds
}

/// How one case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Valid,
    Invalid,
    Unknown,
    BadInput,
}

impl End {
    fn exit_code(self) -> u8 {
        match self {
            End::Valid => 0,
            End::Invalid => 1,
            End::Unknown => 2,
            End::BadInput => 254,
        }
    }
}

fn of(valid: Validity) -> End {
    match valid {
        Validity::Valid => End::Valid,
        Validity::Invalid => End::Invalid,
        Validity::Unknown => End::Unknown,
    }
}

/// An input error must name the file and, for a problem in the file's content, a line.
fn check_error(e: &InputError, source: &str, len: usize) -> Result<End, String> {
    if e.file != source {
        return Err(format!(
            "error names file {:?}, not {source:?}: {e}",
            e.file
        ));
    }
    if e.line == 0 && len > 0 {
        return Err(format!("error names no line: {e}"));
    }
    if e.message.is_empty() {
        return Err("error has no message".to_string());
    }
    Ok(End::BadInput)
}

fn run_checker(
    checker: Checker,
    source: &str,
    history: &history::History,
) -> Result<End, InputError> {
    match checker {
        Checker::Model(m) => {
            let ops = pair(history)?;
            let opts = CheckOptions {
                initial: None,
                time_limit: Some(Duration::from_millis(300)),
                memory_limit: 256 << 20,
                shrink: true,
                memory_in_use: None,
                shrink_time: Some(Duration::from_millis(100)),
                ..CheckOptions::default()
            };
            Ok(of(m
                .check_within_options(source, history.format, &ops, &opts)?
                .valid))
        }
        Checker::Workload(w) => {
            let ops = pair_anonymous(history)?;
            let opts = CheckOptions {
                time_limit: Some(Duration::from_millis(300)),
                ..CheckOptions::default()
            };
            Ok(of(w
                .check_within_options(source, history.format, &ops, &opts)?
                .valid))
        }
    }
}

/// The compact reader of model checks (`history::read_compact`, used by `faultline check`
/// for every model on JSON lines, JSON arrays, EDN and text logs) on the same bytes as a
/// file: when it takes them, the general path must read them too, in the format the compact
/// reader names, and pair exactly the same client operations; a model's compact check must not
/// panic.
fn compact_agrees(
    bytes: &[u8],
    forced: Option<Format>,
    checkers: &[Checker],
) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!(
        "faultline-hostile-compact-{}-{:?}.jsonl",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    let path_str = path.to_str().unwrap_or_default().to_string();
    let compact = history::read_compact(&path_str, forced, 256 << 20, None, 0);
    std::fs::remove_file(&path).ok();
    let Some(history::CompactRead::Read {
        history: h, format, ..
    }) = compact
    else {
        return Ok(());
    };
    let general = read_history(&path_str, bytes, forced)
        .map_err(|e| format!("the compact reader took input the general path refuses: {e}"))?;
    if general.format != format {
        return Err(format!(
            "compact reader named the format {format:?}, the general path {:?}",
            general.format
        ));
    }
    let ops = pair(&general)
        .map_err(|e| format!("the compact reader took input the general path refuses: {e}"))?;
    if ops.len() != h.len() {
        return Err(format!(
            "compact reader paired {} operations, the general path {}",
            h.len(),
            ops.len()
        ));
    }
    for op in ops.iter().filter(|o| o.client) {
        if h.operation(op.id).as_ref() != Some(op) {
            return Err(format!(
                "compact reader's operation {} differs: {:?}",
                op.id,
                h.operation(op.id)
            ));
        }
    }
    for checker in checkers {
        if let Checker::Model(m) = checker {
            let opts = CheckOptions {
                time_limit: Some(Duration::from_millis(300)),
                memory_limit: 256 << 20,
                shrink: true,
                shrink_time: Some(Duration::from_millis(100)),
                ..CheckOptions::default()
            };
            if checkers::compact_model(m.name) {
                let _ = checkers::check_compact_model(m.name, &h, &opts, &opts.budget());
            }
        }
    }
    Ok(())
}

/// One case: read (detected or forced format), then the seed's checker and one other.
fn run_case(
    bytes: &[u8],
    forced: Option<Format>,
    checkers: &[Checker],
) -> Result<(String, End), String> {
    let source = "case.history";
    compact_agrees(bytes, forced, checkers)?;
    let history = match read_history(source, bytes, forced) {
        Ok(h) => h,
        Err(e) => {
            let reader = match forced {
                Some(f) => f.name().to_string(),
                None => match std::str::from_utf8(bytes)
                    .ok()
                    .map(|text| history::detect_format(source, text))
                {
                    Some(Ok(f)) => format!("detected {}", f.name()),
                    _ => "detected (none)".to_string(),
                },
            };
            return check_error(&e, source, bytes.len()).map(|end| (reader, end));
        }
    };
    let reader = match forced {
        Some(f) => f.name().to_string(),
        None => format!("detected {}", history.format.name()),
    };
    // The seed's own checker decides the reported end; the other one only has to survive.
    let mut first = None;
    for &checker in checkers {
        let end = match run_checker(checker, source, &history) {
            Ok(end) => end,
            Err(e) => check_error(&e, source, bytes.len())?,
        };
        first.get_or_insert(end);
    }
    Ok((reader, first.unwrap_or(End::Valid)))
}

/// Counts for the summary.
#[derive(Default)]
struct Tally {
    by_reader: BTreeMap<String, usize>,
    by_kind: BTreeMap<String, usize>,
    by_end: BTreeMap<u8, usize>,
    failures: Vec<String>,
}

/// Builds case `i` of the run seeded `base`: its bytes, mutation kind, forced format and
/// checkers.
fn build_case(
    seeds: &[Seed],
    base: u64,
    i: u64,
) -> (Vec<u8>, Kind, Option<Format>, Vec<Checker>, String) {
    let mut rng = Rng::new(base ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let seed = &seeds[rng.below(seeds.len() as u64) as usize];
    let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
    let bytes = mutate::apply(kind, &seed.bytes, &mut rng);
    let forced = match rng.below(3) {
        0 => Some(FORMATS[rng.below(FORMATS.len() as u64) as usize]),
        _ => None,
    };
    let other = if rng.below(2) == 0 {
        let models: Vec<_> = registry::models().collect();
        Checker::Model(models[rng.below(models.len() as u64) as usize])
    } else {
        let workloads: Vec<_> = registry::workloads().collect();
        Checker::Workload(workloads[rng.below(workloads.len() as u64) as usize])
    };
    (
        bytes,
        kind,
        forced,
        vec![seed.checker, other],
        seed.name.clone(),
    )
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn print_tally(title: &str, tally: &Tally) {
    eprintln!("{title}");
    for (reader, n) in &tally.by_reader {
        eprintln!("  reader {reader:<24} {n:>8}");
    }
    for (kind, n) in &tally.by_kind {
        eprintln!("  mutation {kind:<22} {n:>8}");
    }
    for (code, n) in &tally.by_end {
        eprintln!("  exit {code:<26} {n:>8}");
    }
    eprintln!(
        "  failures (panics or bad errors): {}",
        tally.failures.len()
    );
    for f in tally.failures.iter().take(20) {
        eprintln!("    {f}");
    }
}

#[test]
fn hostile_inputs_end_in_a_verdict_or_a_located_input_error() {
    let seeds = seeds();
    let cases = env_u64("FAULTLINE_FUZZ_CASES", 2_000);
    let base = env_u64("FAULTLINE_FUZZ_SEED", 0x5EED_F00D);
    let only = std::env::var("FAULTLINE_FUZZ_CASE")
        .ok()
        .and_then(|v| v.parse().ok());
    let trace = std::env::var_os("FAULTLINE_FUZZ_TRACE").is_some();
    let quiet_panics = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut tally = Tally::default();
    let range = match only {
        Some(i) => i..i + 1,
        None => 0..cases,
    };
    for i in range {
        let (bytes, kind, forced, checkers, seed_name) = build_case(&seeds, base, i);
        let what = format!(
            "case {i} (FAULTLINE_FUZZ_SEED={base} FAULTLINE_FUZZ_CASE={i}): {kind:?} of {seed_name}, format {:?}, checkers {}",
            forced.map(Format::name),
            checkers.iter().map(|c| c.name()).collect::<Vec<_>>().join(" + ")
        );
        if trace {
            eprintln!("{what}");
        }
        *tally.by_kind.entry(format!("{kind:?}")).or_default() += 1;
        match catch_unwind(AssertUnwindSafe(|| run_case(&bytes, forced, &checkers))) {
            Ok(Ok((reader, end))) => {
                *tally.by_reader.entry(reader).or_default() += 1;
                *tally.by_end.entry(end.exit_code()).or_default() += 1;
            }
            Ok(Err(bad)) => tally.failures.push(format!("{what}: {bad}")),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                *tally.by_end.entry(255).or_default() += 1;
                tally.failures.push(format!("{what}: PANIC {message}"));
            }
        }
    }
    std::panic::set_hook(quiet_panics);
    print_tally(&format!("hostile input, in-process: {cases} cases"), &tally);
    assert!(
        tally.failures.is_empty(),
        "{} failures",
        tally.failures.len()
    );
}

/// The `faultline` binary next to this test's executable, if it has been built.
fn faultline_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("faultline");
    bin.exists().then_some(bin)
}

#[test]
fn hostile_inputs_through_the_binary_exit_with_a_documented_code() {
    let Some(bin) = faultline_binary() else {
        eprintln!("skipping: the faultline binary is not built next to this test");
        return;
    };
    let seeds = seeds();
    let cases = env_u64("FAULTLINE_FUZZ_CLI_CASES", 40);
    let base = env_u64("FAULTLINE_FUZZ_SEED", 0x5EED_F00D) ^ 0xC11;
    let dir = std::env::temp_dir().join(format!("faultline-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut tally = Tally::default();
    for i in 0..cases {
        let (bytes, kind, forced, checkers, seed_name) = build_case(&seeds, base, i);
        let path = dir.join(format!("case-{i}.history"));
        std::fs::write(&path, &bytes).unwrap();
        // Every fourth case goes through standard input.
        let stdin = i % 4 == 3;
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("check")
            .args(checkers[0].args())
            .args(["--time-limit", "2", "--format", "json"]);
        if let Some(f) = forced {
            cmd.args(["--format-in", f.name()]);
        }
        let out = if stdin {
            cmd.arg("-")
                .stdin(std::fs::File::open(&path).unwrap())
                .output()
                .unwrap()
        } else {
            cmd.arg(&path).output().unwrap()
        };
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        *tally.by_kind.entry(format!("{kind:?}")).or_default() += 1;
        *tally.by_end.entry(code.clamp(0, 255) as u8).or_default() += 1;
        *tally
            .by_reader
            .entry(forced.map_or("detected", Format::name).to_string())
            .or_default() += 1;
        let what = format!(
            "binary case {i}: {kind:?} of {seed_name} ({})",
            checkers[0].name()
        );
        let located = if stdin {
            "faultline: -:".to_string()
        } else {
            format!("{}:", path.display())
        };
        match code {
            0..=2 => {}
            254 => {
                let after = stderr.split(&located).nth(1).unwrap_or("");
                let line_no: String = after.chars().take_while(char::is_ascii_digit).collect();
                if line_no.is_empty() && !bytes.is_empty() || !stderr.contains("expected") {
                    tally
                        .failures
                        .push(format!("{what}: 254 without file:line: expected: {stderr}"));
                }
            }
            _ => tally
                .failures
                .push(format!("{what}: exit {code}, stderr {stderr}")),
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    print_tally(
        &format!("hostile input, through {}: {cases} cases", bin.display()),
        &tally,
    );
    assert!(
        tally.failures.is_empty(),
        "{} failures",
        tally.failures.len()
    );
}

fn register_check(text: &str) -> Result<Validity, InputError> {
    let history = read_history("h.jsonl", text.as_bytes(), None)?;
    let ops = pair(&history)?;
    let register = registry::find(CheckerKind::Model, "register").unwrap();
    Ok(register
        .check_within_options("h.jsonl", history.format, &ops, &CheckOptions::default())?
        .valid)
}

#[test]
fn regression_json_huge_integers_cannot_make_a_wrong_read_look_valid() {
    // As floats both integers are 1.8446744073709552e19; read exactly, the read is impossible.
    let text =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":18446744073709551616}\n\
                {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":18446744073709551616}\n\
                {\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n\
                {\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":18446744073709551617}\n";
    let e = register_check(text).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("h.jsonl", 1));
    assert!(e.message.starts_with("integer out of range"), "{e}");
    // Within u64 the integers are exact and the stale read is caught.
    let exact = text.replace("18446744073709551616", "18446744073709551614");
    let exact = exact.replace("18446744073709551617", "18446744073709551615");
    assert_eq!(register_check(&exact).unwrap(), Validity::Invalid);
}

#[test]
fn regression_a_line_longer_than_the_limit_is_an_error_naming_it() {
    use checkers::history::limits::{read_capped, MAX_LINE_BYTES};
    let mut text = b"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n".to_vec();
    text.extend(std::iter::repeat(b' ').take(MAX_LINE_BYTES + 1));
    let e = read_history("h.jsonl", &text, None).unwrap_err();
    assert_eq!(e.line, 2);
    assert_eq!(
        e.message,
        format!("line longer than {MAX_LINE_BYTES} bytes: expected at most {MAX_LINE_BYTES} bytes per line (one operation per line)")
    );
    // Streaming stops at the long line instead of reading on (an endless line stays bounded).
    let endless = std::io::Read::chain(&b"{}\n{}\n"[..], std::io::repeat(b'a'));
    let e = read_capped("-", endless, 1 << 20).unwrap_err().unwrap();
    assert_eq!((e.file.as_str(), e.line), ("-", 3));
}

#[test]
fn regression_deep_nesting_in_every_reader_is_an_error_not_a_stack_overflow() {
    for open in ["[", "{", "(", "{\"value\":", "{:value "] {
        let deep = open.repeat(100_000);
        for forced in std::iter::once(None).chain(FORMATS.iter().copied().map(Some)) {
            let text = format!("{{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}}\n{deep}\n");
            match read_history("h", text.as_bytes(), forced) {
                // A Jepsen log ignores lines that are not operations.
                Ok(h) if forced == Some(Format::JepsenLog) => assert!(h.events.is_empty()),
                Ok(_) => panic!("{open:?} nested 10^5 times read as a history ({forced:?})"),
                Err(e) => assert!(e.file == "h" && (1..=2).contains(&e.line), "{e}"),
            }
        }
        let log = format!("INFO  jepsen.util - 0\t:invoke\t:read\t{deep}\n");
        for forced in [None, Some(Format::JepsenLog)] {
            let e = read_history("h", log.as_bytes(), forced).unwrap_err();
            assert_eq!((e.file.as_str(), e.line), ("h", 1), "{e}");
        }
    }
}

#[test]
fn regression_a_huge_sparse_file_is_refused_at_its_first_long_line_without_reading_it_all() {
    let path = std::env::temp_dir().join(format!("faultline-sparse-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    // 1 TiB of NUL bytes, no newline (sparse: takes no disk space). Reserving its size must not
    // abort the process, and reading must stop at the line cap.
    if file.set_len(1 << 40).is_err() {
        eprintln!("skipping: this file system cannot make a 1 TiB sparse file");
        return;
    }
    let started = std::time::Instant::now();
    let e = checkers::history::limits::read_input(path.to_str().unwrap()).unwrap_err();
    std::fs::remove_file(&path).ok();
    assert_eq!(e.line, 1, "{e}");
    assert!(e.message.starts_with("line longer than"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(20));
}
