//! `faultline report DIR|FILE`: re-check and re-render — "check" and "report" again on a
//! history already recorded (by `run`, or saved elsewhere).
//!
//! For a store directory, the history is `DIR/history.jsonl` and the checker is the one named
//! in `DIR/results.json` (`model`, or `workload` with its recorded `consistency`), unless
//! `--model`/`--workload` say otherwise; results.json, report.html and the plots are rewritten
//! in place. For a history file, `--model` or `--workload` is required and the output goes to
//! `--out DIR` (default `FILE.report/`). Either way this is `faultline check --out DIR` on that
//! history, so the verdict, exit code and files are exactly what `check` gives.

use crate::check;
use crate::cli::{CheckArgs, Independent, OutputFormat, ReportArgs, Workload};
use crate::exit;
use anyhow::Result;
use clap::ValueEnum;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Runs `faultline report`. Returns the exit code of the check.
pub fn run(args: ReportArgs) -> Result<u8> {
    // What `run` recorded about the run itself (`complete`, `interrupted`): a re-check must not
    // make an interrupted run look complete.
    let mut run_state = serde_json::Map::new();
    let (history, out, recorded) = if args.path.is_dir() {
        let history = args.path.join("history.jsonl");
        if !history.is_file() {
            return Ok(usage(&format!(
                "{} has no history.jsonl: give a run's store directory or a history file",
                args.path.display()
            )));
        }
        let results = args.path.join("results.json");
        let root = std::fs::read(&results)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        run_state = root.as_ref().map(run_completeness).unwrap_or_default();
        let recorded = root.and_then(|v| v.pointer("/results/0").cloned());
        let out = args.out.clone().unwrap_or_else(|| args.path.clone());
        (history, out, recorded)
    } else if args.path.is_file() {
        let mut default = args.path.clone().into_os_string();
        default.push(".report");
        let out = args.out.clone().unwrap_or_else(|| PathBuf::from(default));
        (args.path.clone(), out, None)
    } else {
        return Ok(usage(&format!(
            "{}: no such file or directory",
            args.path.display()
        )));
    };

    let recorded_str = |field: &str| {
        recorded
            .as_ref()
            .and_then(|r| r.get(field))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (mut model, mut workload) = (args.model.clone(), args.workload);
    if model.is_none() && workload.is_none() {
        model = recorded_str("model");
        if let Some(name) = recorded_str("workload") {
            match Workload::from_str(&name, true) {
                Ok(w) => workload = Some(w),
                Err(_) => {
                    return Ok(usage(&format!(
                        "results.json names workload {name:?}, which this faultline does not know"
                    )))
                }
            }
        }
    }
    if model.is_none() && workload.is_none() {
        return Ok(usage(
            "expected --model MODEL or --workload WORKLOAD (no checker recorded in results.json)",
        ));
    }
    let mut consistency = args.consistency.clone();
    if consistency.is_empty() && workload.is_some() && args.workload.is_none() {
        // The consistency models the recorded check used (list-append details record them).
        if let Some(Value::Array(models)) = recorded
            .as_ref()
            .and_then(|r| r.pointer("/details/consistency"))
        {
            consistency = models
                .iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect();
        }
    }
    let mut txn = args.txn.clone();
    if txn.given().is_none() && workload.is_some() && args.workload.is_none() {
        // The anomalies and inference switches the recorded check used.
        let details = recorded.as_ref().and_then(|r| r.pointer("/details"));
        let strings = |key: &str| -> Vec<String> {
            details
                .and_then(|d| d.get(key))
                .and_then(Value::as_array)
                .map(|xs| {
                    xs.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        txn.anomalies = strings("anomalies_requested");
        let inference = strings("inference");
        txn.wfr_keys = inference.iter().any(|i| i == "wfr-keys");
        txn.sequential_keys = inference.iter().any(|i| i == "sequential-keys");
        txn.linearizable_keys = inference.iter().any(|i| i == "linearizable-keys");
    }
    let check_args = CheckArgs {
        model,
        workload,
        consistency,
        txn,
        group_size: None,
        negative_balances: false,
        total_amount: None,
        format: OutputFormat::Human,
        format_in: None,
        time_limit: args.time_limit,
        initial: None,
        independent: Independent::Auto,
        memory_limit: args.memory_limit,
        no_shrink: false,
        shrink_time: Some(Duration::from_secs(10)),
        out: Some(out),
        junit: args.junit.clone(),
        files: vec![history.to_string_lossy().to_string()],
    };
    let out_dir = check_args.out.clone();
    let mut code = check::run(check_args)?;
    if let (false, Some(dir)) = (run_state.is_empty(), &out_dir) {
        // A Maelstrom run's --availability: below it the run is invalid, re-checked or not.
        if let Some(why) = availability_short(&run_state) {
            if code == exit::VALID || code == exit::UNKNOWN {
                println!("INVALID — availability: {why}");
                code = exit::INVALID;
                run_state.insert("availability_failed".into(), Value::String(why));
            }
        }
        keep_run_state(&dir.join("results.json"), run_state, code)?;
    }
    if let (true, Some(dir)) = (args.path.is_dir(), &out_dir) {
        if args.path.join("net.json").is_file() {
            crate::maelstrom::extras(&args.path, dir);
        }
    }
    Ok(code)
}

/// The run-level fields of a store directory's results.json that `check` does not produce.
fn run_completeness(root: &Value) -> serde_json::Map<String, Value> {
    [
        "complete",
        "incomplete_reason",
        "interrupted",
        "key_base",
        // `faultline maelstrom test`'s network statistics and run facts.
        "net",
        "availability",
        "latency_ms",
        "maelstrom_workload",
        "seed",
    ]
    .into_iter()
    .filter_map(|k| Some((k.to_string(), root.get(k)?.clone())))
    .collect()
}

/// Why a Maelstrom run's recorded availability is below its `--availability`, if it is.
fn availability_short(state: &serde_json::Map<String, Value>) -> Option<String> {
    let a = state.get("availability")?;
    let required = a.get("required")?.as_f64()?;
    let fraction = a.get("fraction")?.as_f64()?;
    (fraction < required).then(|| {
        format!(
            "availability {fraction:.4} ({} of {} requests ok) is below --availability {required}",
            a["ok"], a["total"]
        )
    })
}

/// Puts the recorded run-level fields back into the rewritten results.json (if it was
/// written); a failed `--availability` (`availability_failed`) makes the verdict invalid.
fn keep_run_state(
    path: &std::path::Path,
    mut state: serde_json::Map<String, Value>,
    code: u8,
) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let mut value: Value = serde_json::from_str(&text)?;
    if let Some(Value::String(why)) = state.remove("availability_failed") {
        value["valid"] = Value::Bool(false);
        value["exit_code"] = Value::from(code);
        if let Some(r) = value
            .pointer_mut("/results/0")
            .and_then(Value::as_object_mut)
        {
            r.insert("valid".into(), Value::Bool(false));
            for (key, item) in [
                ("anomalies", "availability".to_string()),
                ("explanation", why),
            ] {
                match r.get_mut(key).and_then(Value::as_array_mut) {
                    Some(list) => list.push(Value::String(item)),
                    None => {
                        r.insert(key.into(), Value::Array(vec![Value::String(item)]));
                    }
                }
            }
        }
    }
    if let Some(map) = value.as_object_mut() {
        map.extend(state);
    }
    let mut text = serde_json::to_string_pretty(&value)?;
    text.push('\n');
    crate::run::write_atomically(path, &text)
}

/// Prints a usage problem and returns the bad-usage exit code.
fn usage(message: &str) -> u8 {
    eprintln!("faultline report: {message}");
    exit::BAD_INPUT
}
