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
    for file in &files {
        let path = file.to_str().unwrap();
        for model in ["register", "cas-register", "kv"] {
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
            } else {
                taken[match format {
                    Format::JsonLines => 0,
                    Format::Edn => 1,
                    _ => 2,
                }] += 1;
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
}
