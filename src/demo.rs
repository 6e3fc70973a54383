//! `faultline demo`: the lecture's stale read, live. The same register workload runs against
//! the embedded 3-replica store twice — replicated asynchronously (primary/backup), then
//! synchronously (majority quorum) — while faultline partitions the network. Each history is
//! checked, and the two are printed side by side: consistency (the verdict) next to
//! availability during partitions (CAP) and latency outside them (PACELC's "else latency").
//!
//! Exit code: 0 when async came out not linearizable and sync linearizable; with one `--mode`,
//! that run's verdict (so `--mode async` exits 1).

use crate::check::FileOutcome;
use crate::cli::{DemoArgs, DemoMode, StoreMode};
use crate::exit;
use crate::run::{self, Finished, Plan};
use anyhow::Result;
use checkers::{OpView, Validity};
use serde_json::Value;
use std::io::Write;
use std::time::Duration;
use workloads::generator::WorkloadKind;
use workloads::nemesis::Fault;
use workloads::runner::RunConfig;
use workloads::target::demo::Mode;
use workloads::target::{Spec, TargetArgs, TargetKind};

/// The plan of one demo run.
fn plan(mode: StoreMode, args: &DemoArgs, seed: u64) -> Result<Plan> {
    let mut targets = TargetArgs::default();
    targets.demo.mode = Some(match mode {
        StoreMode::Async => Mode::Async,
        StoreMode::Sync => Mode::Sync,
        StoreMode::Lease => Mode::Lease,
    });
    let faults = vec![Fault::Partition];
    let op_timeout = Duration::from_millis(500);
    let spec = Spec {
        workload: WorkloadKind::Register,
        faults: &faults,
        args: &targets,
        op_timeout,
        targets: &[],
        packet: workloads::nemesis::PacketSpec::default(),
        corrupt: workloads::nemesis::CorruptSpec::default(),
    };
    let target = TargetKind::Demo.plan(&spec)?;
    Ok(Plan {
        label: format!("{}-register", target.label()),
        target: std::sync::Arc::from(target),
        faults,
        targets: Vec::new(),
        packet: workloads::nemesis::PacketSpec::default(),
        corrupt: workloads::nemesis::CorruptSpec::default(),
        config: RunConfig {
            workload: WorkloadKind::Register,
            keys: 3,
            key_base: 0,
            concurrency: 9,
            nodes: 3,
            time_limit: args.time_limit,
            op_limit: None,
            rate: None,
            seed,
            nemesis_interval: Duration::from_millis(1500),
            nemesis_hold: Duration::from_secs(3),
            quiet: Duration::from_secs(1),
            final_reads: true,
            max_history: Some(workloads::runner::DEFAULT_MAX_HISTORY),
        },
        consistency: Vec::new(),
        anomalies: Vec::new(),
        store: args.store.clone(),
        check: Default::default(),
    })
}

/// Runs `faultline demo`.
pub fn run(args: DemoArgs) -> Result<u8> {
    let modes: &[StoreMode] = match args.mode {
        DemoMode::Both => &[StoreMode::Async, StoreMode::Sync],
        DemoMode::Async => &[StoreMode::Async],
        DemoMode::Sync => &[StoreMode::Sync],
    };
    let seed = args.seed.unwrap_or_else(run::clock_seed);
    eprintln!(
        "faultline demo: a register workload against the embedded 3-replica store, {} s per mode, \
         with network partitions (seed {seed})",
        args.time_limit.as_secs_f64()
    );
    let runtime = run::runtime()?;
    let mut results: Vec<(StoreMode, Finished)> = Vec::new();
    runtime.block_on(async {
        let stop = run::interrupt_on_ctrl_c();
        for &mode in modes {
            if *stop.borrow() {
                break;
            }
            let finished = run::execute(&plan(mode, &args, seed)?, stop.clone()).await?;
            results.push((mode, finished));
        }
        anyhow::Ok(())
    })?;
    // Printed whole at the end, so the verdict's exit code survives a closed standard output.
    let mut out = Vec::new();
    out.write_all(table(&results).as_bytes())?;
    for (mode, f) in &results {
        if *mode == StoreMode::Async {
            out.write_all(explain(f).as_bytes())?;
        }
    }
    let verdict = |m: StoreMode| {
        results
            .iter()
            .find(|(mode, _)| *mode == m)
            .map(|(_, f)| validity(f))
    };
    let code = match args.mode {
        DemoMode::Both => match (verdict(StoreMode::Async), verdict(StoreMode::Sync)) {
            (Some(Validity::Invalid), Some(Validity::Valid)) => {
                writeln!(out, "\nBoth verdicts came out as expected: async traded consistency for availability and latency; sync paid for consistency with both.")?;
                exit::VALID
            }
            (_, Some(Validity::Invalid)) => {
                writeln!(out, "\nThe sync store was NOT linearizable: that is a bug in the demo store (please report it with the store directory above).")?;
                exit::INVALID
            }
            _ => {
                writeln!(out, "\nThe async run did not show an anomaly this time (or a run was cut short); try a longer --time-limit.")?;
                exit::UNKNOWN
            }
        },
        _ => exit::combine(results.iter().map(|(_, f)| f.code)),
    };
    exit::print(&out)?;
    Ok(code)
}

fn validity(f: &Finished) -> Validity {
    match &f.outcome {
        FileOutcome::Checked { report, .. } => report.valid,
        FileOutcome::BadInput(_) => Validity::Unknown,
    }
}

/// The side-by-side comparison.
fn table(results: &[(StoreMode, Finished)]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let header = results
        .iter()
        .map(|(m, _)| match m {
            StoreMode::Async => "async (primary/backup)".to_string(),
            StoreMode::Sync => "sync (majority quorum)".to_string(),
            StoreMode::Lease => "lease (leader lease)".to_string(),
        })
        .collect();
    rows.push((String::new(), header));
    let col = |f: &dyn Fn(&Finished) -> String| results.iter().map(|(_, r)| f(r)).collect();
    rows.push((
        "consistency".into(),
        col(&|f| match validity(f) {
            Validity::Valid => "linearizable".into(),
            Validity::Invalid => "NOT linearizable".into(),
            Validity::Unknown => "unknown".into(),
        }),
    ));
    rows.push(("during partitions".into(), col(&|_| String::new())));
    rows.push((
        "  availability".into(),
        col(&|f| {
            let c = f.perf.during_partitions;
            match c.availability() {
                Some(a) => format!("{:.1}% of {} ops answered", 100.0 * a, c.total()),
                None => "no ops".into(),
            }
        }),
    ));
    rows.push((
        "  not answered".into(),
        col(&|f| {
            let c = f.perf.during_partitions;
            format!("{} refused, {} timed out", c.refused, c.info)
        }),
    ));
    rows.push(("outside partitions".into(), col(&|_| String::new())));
    for op in ["read", "write", "cas"] {
        rows.push((
            format!("  {op} latency"),
            col(&|f| match f.perf.latency_outside.get(op) {
                Some(l) => format!("p50 {:.2} ms, p99 {:.2} ms", l.p50, l.p99),
                None => "-".into(),
            }),
        ));
    }
    rows.push((
        "throughput".into(),
        col(&|f| format!("{:.0} ops/s", f.perf.throughput)),
    ));
    rows.push((
        "store".into(),
        col(&|f| f.dir.to_string_lossy().to_string()),
    ));
    let w0 = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let w1 = rows
        .iter()
        .filter_map(|(_, c)| c.first().map(|s| s.chars().count()))
        .max()
        .unwrap_or(0);
    let mut s = String::from("\n");
    for (label, cells) in rows {
        let mut line = format!("{label:w0$}");
        for (i, c) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                line.push_str(&format!("   {c:w1$}"));
            } else {
                line.push_str(&format!("   {c}"));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// The async run's minimal counterexample in words.
fn explain(f: &Finished) -> String {
    let FileOutcome::Checked { report, .. } = &f.outcome else {
        return String::new();
    };
    let Some(cex) = &report.counterexample else {
        return String::new();
    };
    let history = f.dir.join("history.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&history)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let node = |line: usize| -> String {
        lines
            .get(line.wrapping_sub(1))
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .and_then(|v| v.get("node").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "?".into())
    };
    let mut ops: Vec<&OpView> = cex.minimal.iter().collect();
    ops.sort_by_key(|o| o.start.unwrap_or(0));
    let key = cex.key.as_ref().map(compact).unwrap_or_default();
    let mut s = format!(
        "\nWhy async is not linearizable — the smallest failing piece of its history (key {key}):\n"
    );
    for o in &ops {
        let at = o.start.map(|t| t as f64 / 1e9).unwrap_or(0.0);
        let what = match (o.f.as_str(), o.outcome.as_str()) {
            ("read", "ok") => format!(
                "read and was told {}",
                compact(o.result.as_ref().unwrap_or(&Value::Null))
            ),
            ("write", "ok") => format!("wrote {} and was told ok", compact(&o.value)),
            ("cas", "ok") => format!("swapped {} (cas) and was told ok", compact(&o.value)),
            (f, outcome) => format!("{f} {} ({outcome})", compact(&o.value)),
        };
        s.push_str(&format!(
            "  at {at:7.3} s  process {:>3} via {}  {what}   (history.jsonl line {})\n",
            o.process,
            node(o.invoke_line),
            o.invoke_line
        ));
    }
    if let Some(stale) = stale_read(&ops) {
        s.push_str(&stale);
    } else {
        s.push_str("  No order of these operations, consistent with when they happened, explains what the clients were told.\n");
    }
    s
}

/// If the minimal history is a stale read, says so the way the lecture does: a read returned
/// a value older than one that, before the read began, had already been acknowledged to a
/// writer or returned to another reader.
fn stale_read(ops: &[&OpView]) -> Option<String> {
    let established = |o: &OpView| -> Option<(Value, &'static str)> {
        match (o.f.as_str(), o.outcome.as_str()) {
            ("write", "ok") => Some((o.value.clone(), "acknowledged to its writer")),
            ("cas", "ok") => o
                .value
                .get(1)
                .cloned()
                .map(|v| (v, "acknowledged to its writer")),
            ("read", "ok") => o.result.clone().map(|v| (v, "returned to another reader")),
            _ => None,
        }
    };
    for r in ops.iter().filter(|o| o.f == "read" && o.outcome == "ok") {
        let seen = r.result.clone().unwrap_or(Value::Null);
        let before = |w: &&&OpView| w.end.zip(r.start).is_some_and(|(e, s)| e < s);
        // `seen` is older than what `w` established when it is the initial null, or was
        // written by an operation that finished before `w` began.
        let older_than = |w: &OpView| {
            seen.is_null()
                || ops.iter().any(|x| {
                    matches!(established(x), Some((v, "acknowledged to its writer")) if v == seen)
                        && x.end.zip(w.start).is_some_and(|(e, s)| e < s)
                })
        };
        let Some((v, how)) = ops
            .iter()
            .filter(before)
            .filter(|w| older_than(w))
            .filter_map(|w| established(w))
            .find(|(v, _)| *v != seen)
        else {
            continue;
        };
        return Some(format!(
            "  A stale read: before the read began, {} had already been {how}, yet the read \
             returned {} — an older value. The replica it asked had not caught up; a \
             linearizable store may never do that.\n",
            compact(&v),
            compact(&seen)
        ));
    }
    None
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
