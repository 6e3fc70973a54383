//! The compact path of model checks (`history::read_compact` + `check_compact_model`, what
//! `faultline check --model register|cas-register|kv` takes for JSON lines, Jepsen EDN with one
//! map per line — Porcupine's kv format among it — and Jepsen text logs) against the general
//! path (`read_history` + `pair` + `Checker::check`) on every history of the project's fixtures
//! and of the shared anchors: where the compact path takes a file, the report is the general
//! path's (time aside), Jepsen's independent tuples included, and so is the format it names.

use checkers::history::{pair, read_compact, read_history_file, CompactRead, Format};
use checkers::{registry, CheckOptions, CheckerKind};
use std::path::{Path, PathBuf};

/// Every `.jsonl`, `.edn`, `.log` and `.txt` (Porcupine's kv files) file under `dir`.
fn histories(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            histories(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "edn" | "log" | "txt")
        ) {
            out.push(path);
        }
    }
}

#[test]
fn compact_and_general_paths_give_the_same_reports_on_every_fixture_and_anchor() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    histories(&root.join("fixtures"), &mut files);
    histories(&root.join("../shared/anchors"), &mut files);
    files.sort();
    // Files checked compactly: register models by format (JSON lines, EDN, text logs), and kv
    // (JSON lines, Porcupine's kv format).
    let mut taken = [0usize; 3];
    let mut kv_taken = [0usize; 2];
    // Checks by models other than the registers' and kv (their general compile over rebuilt
    // operations).
    let mut others: Vec<&str> = Vec::new();
    for file in &files {
        let path = file.to_str().unwrap();
        for model in registry::models().map(|m| m.name) {
            let Some(CompactRead::Read {
                history, format, ..
            }) = read_compact(path, None, 1 << 30, None, 0)
            else {
                break;
            };
            let general = read_history_file(path).expect("the compact reader took a readable file");
            assert_eq!(general.format, format, "{path}: format");
            let ops = pair(&general).expect("the compact reader took a pairable file");
            let opts = CheckOptions::default();
            let entry = registry::find(CheckerKind::Model, model).unwrap();
            let mut compact = *history;
            let Some(tuples) = compact.unwrap_tuples() else {
                continue;
            };
            let Some(mut mine) =
                checkers::check_compact_model(model, &compact, &opts, &opts.budget())
            else {
                // kv leaves to the general path only what its compile refuses.
                if model == "kv" {
                    assert!(
                        entry
                            .check_within_options(path, format, &ops, &opts)
                            .is_err(),
                        "{path}: the compact kv check left a history the model accepts"
                    );
                }
                continue;
            };
            mine.stats.tuples = tuples;
            let mut theirs = entry
                .check_within_options(path, format, &ops, &opts)
                .expect("the compact check took a history the model accepts");
            mine.stats.millis = 0.0;
            theirs.stats.millis = 0.0;
            assert_eq!(mine, theirs, "{path} --model {model}");
            if model == "kv" {
                kv_taken[match format {
                    Format::JsonLines => 0,
                    Format::PorcupineKv => 1,
                    other => panic!("{path}: kv checked compactly in {other:?}"),
                }] += 1;
            } else if model.contains("register") {
                taken[match format {
                    Format::JsonLines => 0,
                    Format::Edn => 1,
                    _ => 2,
                }] += 1;
            } else {
                others.push(model);
            }
        }
    }
    // The fixtures alone hold register histories in all three encodings, and kv histories in
    // JSON lines (kv-valid, kv-invalid) and in Porcupine's kv format (kv-porcupine-stale-get).
    assert!(taken.iter().all(|&n| n > 0), "checked compactly: {taken:?}");
    assert!(
        kv_taken[0] >= 2 && kv_taken[1] >= 1,
        "kv checked compactly (JSON lines, Porcupine kv): {kv_taken:?}"
    );
    eprintln!("checked compactly (JSON lines, EDN, text logs): {taken:?}");
    eprintln!("kv checked compactly (JSON lines, Porcupine kv): {kv_taken:?}");
    others.sort_unstable();
    others.dedup();
    eprintln!("other models checked compactly: {others:?}");
    assert!(
        others.len() >= 5,
        "other models checked compactly: {others:?}"
    );
}

/// Writes `events` as a JSON array: on one line, one element per line, or pretty-printed
/// (every field on its own line).
fn write_array(events: &[serde_json::Value], shape: usize, path: &Path) {
    let text = match shape {
        0 => serde_json::to_string(events).unwrap(),
        1 => {
            let rows: Vec<String> = events.iter().map(|e| e.to_string()).collect();
            format!("[\n{}\n]\n", rows.join(",\n"))
        }
        _ => serde_json::to_string_pretty(events).unwrap(),
    };
    std::fs::write(path, text).unwrap();
}

/// Checks the JSON array at `path` on both paths with `model`: true when the compact path
/// took it (and gave the general path's report).
fn same_report_for_array(path: &str, model: &str) -> bool {
    let Some(CompactRead::Read {
        history, format, ..
    }) = read_compact(path, None, 1 << 30, None, 0)
    else {
        return false;
    };
    assert_eq!(format, Format::JsonArray, "{path}");
    let general = read_history_file(path).expect("a readable array");
    assert_eq!(general.format, format);
    let ops = pair(&general).expect("a pairable array");
    let opts = CheckOptions::default();
    let entry = registry::find(CheckerKind::Model, model).unwrap();
    let mut compact = *history;
    let Some(tuples) = compact.unwrap_tuples() else {
        return false;
    };
    let Some(mut mine) = checkers::check_compact_model(model, &compact, &opts, &opts.budget())
    else {
        return false;
    };
    mine.stats.tuples = tuples;
    let mut theirs = entry
        .check_within_options(path, format, &ops, &opts)
        .unwrap();
    mine.stats.millis = 0.0;
    theirs.stats.millis = 0.0;
    assert_eq!(mine, theirs, "{path} --model {model}");
    true
}

#[test]
fn json_arrays_on_one_line_or_many_give_the_general_reports() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    histories(&root.join("fixtures"), &mut files);
    histories(&root.join("../shared/anchors"), &mut files);
    files.retain(|f| f.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    let dir = std::env::temp_dir().join(format!("faultline-arrays-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut taken = 0usize;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let Ok(events) = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str::<serde_json::Value>)
            .collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        for shape in 0..3 {
            let array = dir.join(format!("{shape}.json"));
            write_array(&events, shape, &array);
            for model in ["register", "cas-register"] {
                taken += usize::from(same_report_for_array(array.to_str().unwrap(), model));
            }
        }
        // Cut short anywhere, the array is the general reader's to refuse.
        let whole = serde_json::to_string_pretty(&events).unwrap();
        let array = dir.join("cut.json");
        for cut in [whole.len() - 1, whole.len() / 2, 1] {
            std::fs::write(&array, &whole[..cut]).unwrap();
            let path = array.to_str().unwrap();
            assert!(read_history_file(path).is_err());
            assert!(
                read_compact(path, None, 1 << 30, None, 0).is_none(),
                "{file:?} cut at {cut}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    // The anchors' own JSON arrays (elle-cli's, each on one line).
    let mut arrays = 0usize;
    let mut stack = vec![root.join("../shared/anchors")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                for model in ["register", "cas-register"] {
                    arrays += usize::from(same_report_for_array(p.to_str().unwrap(), model));
                }
            }
        }
    }
    assert!(taken > 20, "checked compactly: {taken}");
    eprintln!("JSON arrays checked compactly: {taken} written from JSON lines, {arrays} anchors");
}

/// Guards the workload checkers' reading of the encodings other than JSON lines (Jepsen EDN,
/// text logs): `read_paired` reads them compactly and rebuilds the operations, and every
/// workload checker must give the report it gives on the general path's operations
/// (`read_history` + `pair_anonymous`), on every fixture and anchor. Files the compact reader
/// leaves (events without a process, as elle-cli's long-fork.edn has) are read by the general
/// path on both sides.
#[test]
fn workload_reports_on_compactly_read_edn_and_logs_are_the_general_paths() {
    use checkers::history::{pair_anonymous, read_paired, Paired, ReadBudget};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    histories(&root.join("fixtures"), &mut files);
    histories(&root.join("../shared/anchors"), &mut files);
    files.sort();
    let budget = ReadBudget {
        memory_limit: 1 << 30,
        memory_in_use: None,
    };
    let opts = CheckOptions::default();
    // Files read compactly, and workload reports compared on them (valid or not).
    let (mut compact_files, mut compared) = (0usize, 0usize);
    for file in &files {
        let path = file.to_str().unwrap();
        let taken = matches!(
            read_compact(path, None, 1 << 30, None, 0),
            Some(CompactRead::Read { format, .. }) if format != Format::JsonLines
        );
        if !taken {
            continue;
        }
        compact_files += 1;
        let Ok(Paired::Read { format, ops, .. }) = read_paired(path, None, true, budget) else {
            panic!("{path}: the compact reader took it, read_paired did not");
        };
        let general = read_history_file(path).unwrap();
        assert_eq!(general.format, format, "{path}: format");
        let theirs_ops = pair_anonymous(&general).unwrap();
        assert_eq!(ops.len(), theirs_ops.len(), "{path}");
        for (a, b) in ops.iter().zip(&theirs_ops).filter(|(a, _)| a.client) {
            assert_eq!(a, b, "{path}");
        }
        for checker in registry::workloads() {
            let mine = checker.check_within_options(path, format, &ops, &opts);
            let theirs = checker.check_within_options(path, format, &theirs_ops, &opts);
            match (mine, theirs) {
                (Ok(mut mine), Ok(mut theirs)) => {
                    mine.stats.millis = 0.0;
                    theirs.stats.millis = 0.0;
                    assert_eq!(mine, theirs, "{path} --workload {}", checker.name);
                    compared += 1;
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{path}"),
                (a, b) => panic!("{path} --workload {}: {a:?} vs {b:?}", checker.name),
            }
        }
    }
    eprintln!("read compactly: {compact_files} files, {compared} workload reports compared");
    // The fixtures alone hold EDN workload histories (bank, long-fork, sequential) and logs.
    assert!(compact_files >= 8, "{compact_files} files read compactly");
    assert!(compared >= 20, "{compared} workload reports compared");
}
