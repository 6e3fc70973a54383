//! `faultline maelstrom test`: Maelstrom's command line over faultline's run → check →
//! report. The run side is `workloads::maelstrom` (node programs, router, services,
//! workloads); here: the flags resolved, the store directory, the check through the registered
//! checker of the workload, `--availability`, the network statistics and the exit code.
//!
//! The store directory is `STORE/maelstrom-WORKLOAD/TIMESTAMP/` (and `STORE/latest`):
//! `history.jsonl`, `results.json` (the verdict as `check --format json` prints it, plus
//! `net`, `availability`, `latency_ms`, `maelstrom_workload`, `seed` and `complete`), `net.json`
//! (the network statistics, latency and availability again), `messages.jsonl` (the router's
//! journal of the run's first messages) and `messages.svg` (their Lamport diagram),
//! report.html (the timeline, with a Maelstrom section: network statistics, node logs, the
//! diagram), latency.svg and rate.svg, `run.log`, `nN.log` (each node's stderr), and `net.log`
//! with `--log-net-send`. `faultline report DIR` re-checks such a directory and keeps all of
//! this ([`extras`]; report_cmd.rs keeps the run-level fields of results.json).

use crate::check::{self, FileOutcome};
use crate::cli::{MaelstromArgs, MaelstromCommand, MaelstromTestArgs, OutputFormat};
use crate::exit;
use crate::render_human::{self, Style};
use crate::render_json;
use crate::report::source::Source;
use crate::report::Read as ReadOps;
use anyhow::{Context, Result};
use checkers::history::{Format, Outcome};
use checkers::{registry, CheckOptions, Validity};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use workloads::maelstrom::{self as m, Config, MaelstromError, Program, Workload};
use workloads::nemesis::Fault;
use workloads::runner::Progress;

/// Runs `faultline maelstrom …`.
pub fn run(args: MaelstromArgs) -> Result<u8> {
    match args.command {
        MaelstromCommand::Test(t) => test(t),
    }
}

fn usage(message: &str) -> u8 {
    eprintln!("faultline maelstrom test: {message}");
    exit::BAD_INPUT
}

/// A `maelstrom test` flag value faultline cannot use: a usage error (exit 254), printed as
/// `faultline maelstrom test: MESSAGE`.
#[derive(Debug, Clone, PartialEq)]
pub enum FlagError {
    /// `-w NAME`: not one of Maelstrom's ten workloads.
    UnknownWorkload(String),
    /// `--concurrency TEXT`: neither a number nor `Kn`.
    Concurrency(String),
    /// `--concurrency`: outside 1..=10000 clients (the number resolved).
    ClientCount(u64),
    /// `--availability TEXT`: neither `total` nor a fraction from 0 to 1.
    Availability(String),
    /// `--nemesis clock…`: the router cannot take clock faults (the fault named).
    ClockFault(String),
    /// `--nemesis lose-unfsynced`: the router mounts no filesystem under node programs.
    LoseUnfsynced(String),
    /// `--nemesis NAME`: no such fault.
    UnknownFault(String),
}

impl std::fmt::Display for FlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlagError::UnknownWorkload(name) => write!(
                f,
                "unknown workload {name:?}; expected echo, unique-ids, broadcast, g-set, \
                 g-counter, pn-counter, kafka, lin-kv, txn-list-append or txn-rw-register"
            ),
            FlagError::Concurrency(text) => write!(
                f,
                "--concurrency: expected a number or Kn (K times --node-count, e.g. 2n), \
                 found {text:?}"
            ),
            FlagError::ClientCount(n) => {
                write!(f, "--concurrency: {n} clients; expected 1 to 10000")
            }
            FlagError::Availability(text) => write!(
                f,
                "--availability: expected total or a fraction from 0 to 1, found {text:?}"
            ),
            FlagError::ClockFault(n) => write!(
                f,
                "--nemesis {n}: the Maelstrom router cannot take clock faults (faultline does \
                 not start the node programs under libfaketime); clock faults need faultline \
                 run --target demo (docs/clocks.md)"
            ),
            FlagError::LoseUnfsynced(n) => write!(
                f,
                "--nemesis {n}: the Maelstrom router cannot make node programs lose unsynced \
                 writes (faultline mounts no filesystem under them); lose-unfsynced needs \
                 faultline run --target demo, or --target redis --redis-appendfsync \
                 (docs/nemesis.md)"
            ),
            FlagError::UnknownFault(n) => write!(
                f,
                "--nemesis: unknown fault {n:?}; expected partition, partition-one-way, kill, \
                 pause or packet"
            ),
        }
    }
}

impl std::error::Error for FlagError {}

/// `-w NAME`: a workload faultline runs, or a clear refusal.
fn workload(name: &str) -> Result<Workload, FlagError> {
    use clap::ValueEnum;
    Workload::from_str(name, false).map_err(|_| FlagError::UnknownWorkload(name.to_string()))
}

/// `--concurrency`: `N` or `Kn` (K × node count).
pub fn concurrency(text: &str, nodes: u64) -> Result<usize, FlagError> {
    let t = text.trim();
    let bad = || FlagError::Concurrency(text.to_string());
    let n = match t.strip_suffix('n') {
        Some("") => nodes,
        Some(k) => k.parse::<u64>().map_err(|_| bad())?.saturating_mul(nodes),
        None => t.parse::<u64>().map_err(|_| bad())?,
    };
    if n == 0 || n > 10_000 {
        return Err(FlagError::ClientCount(n));
    }
    Ok(n as usize)
}

/// `--availability`: `total` (1) or a fraction in 0..=1.
pub fn availability(text: &str) -> Result<f64, FlagError> {
    if text == "total" {
        return Ok(1.0);
    }
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(FlagError::Availability(text.to_string())),
    }
}

/// `--nemesis` values: faults, and whether partitions are one-way.
fn faults(names: &[String]) -> Result<(Vec<Fault>, bool), FlagError> {
    let mut out = Vec::new();
    let mut one_way = false;
    for n in names.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let f = match n {
            "none" => continue,
            "partition" => Fault::Partition,
            "partition-one-way" => {
                one_way = true;
                Fault::Partition
            }
            "kill" => Fault::Kill,
            "pause" => Fault::Pause,
            "clock" | "clock-bump" | "clock-strobe" | "clock-skew" => {
                return Err(FlagError::ClockFault(n.to_string()))
            }
            "packet" => Fault::Packet,
            "lose-unfsynced" => return Err(FlagError::LoseUnfsynced(n.to_string())),
            other => return Err(FlagError::UnknownFault(other.to_string())),
        };
        if !out.contains(&f) {
            out.push(f);
        }
    }
    Ok((out, one_way))
}

fn test(a: MaelstromTestArgs) -> Result<u8> {
    let w = match workload(&a.workload) {
        Ok(w) => w,
        Err(e) => return Ok(usage(&e.to_string())),
    };
    let clients = match concurrency(&a.concurrency, a.node_count) {
        Ok(c) => c,
        Err(e) => return Ok(usage(&e.to_string())),
    };
    let threshold = match a.availability.as_deref().map(availability).transpose() {
        Ok(t) => t,
        Err(e) => return Ok(usage(&e.to_string())),
    };
    let (fault_list, one_way) = match faults(&a.nemesis) {
        Ok(f) => f,
        Err(e) => return Ok(usage(&e.to_string())),
    };
    let packet = match (&a.packet, fault_list.contains(&Fault::Packet)) {
        (None, _) => workloads::nemesis::PacketSpec::default(),
        (Some(_), false) => {
            return Ok(usage(
                "--packet applies to --nemesis packet; add packet to --nemesis",
            ))
        }
        (Some(p), true) => match workloads::nemesis::PacketSpec::parse(p) {
            Ok(s) => s,
            Err(e) => return Ok(usage(&format!("--packet: {e}"))),
        },
    };
    for (given, flag) in [
        (a.consistency_models.is_some(), "--consistency-models"),
        (a.max_txn_length.is_some(), "--max-txn-length"),
        (a.max_writes_per_key.is_some(), "--max-writes-per-key"),
        (a.cycle_search_timeout.is_some(), "--cycle-search-timeout"),
    ] {
        if given && !w.transactional() {
            return Ok(usage(&format!(
                "{flag} applies to txn-list-append and txn-rw-register, not {}",
                w.name()
            )));
        }
    }
    let consistency: Vec<String> = match &a.consistency_models {
        Some(list) => list
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect(),
        None if w.transactional() => vec!["strict-serializable".to_string()],
        None => Vec::new(),
    };
    for c in &consistency {
        if let Err(e) = checkers::parse_consistency(c) {
            return Ok(usage(&format!("--consistency-models: {e}")));
        }
    }
    if !a.bin.is_file() {
        return Ok(usage(&format!(
            "--bin {}: no such file (the node program to start once per node)",
            a.bin.display()
        )));
    }
    if let Err(e) = crate::run::check_writable(&a.store, None) {
        return Ok(exit::run_error(&e));
    }
    let seed = a.seed.unwrap_or_else(crate::run::clock_seed);
    let cfg = Config {
        workload: w,
        program: Program {
            bin: a.bin.clone(),
            args: a.node_args.clone(),
            log_stderr: a.log_stderr,
        },
        node_count: a.node_count as usize,
        time_limit: a.time_limit,
        rate: a.rate,
        concurrency: clients,
        latency: Duration::from_millis(a.latency),
        latency_dist: a.latency_dist,
        faults: fault_list,
        one_way,
        packet,
        nemesis_interval: a.nemesis_interval,
        topology: a.topology,
        key_count: a.key_count,
        max_txn_length: a.max_txn_length.unwrap_or(4),
        max_writes_per_key: a.max_writes_per_key.unwrap_or(16),
        message_loss: a.message_loss,
        seed,
        rpc_timeout: a.rpc_timeout,
        init_timeout: a.init_timeout,
        log_net: m::NetLogEvents {
            send: a.log_net_send,
            recv: a.log_net_recv,
        },
    };
    let label = format!("maelstrom-{}", w.name());
    let dir = crate::run::run_dir(&a.store, &label)?;
    let history = dir.join("history.jsonl");
    let recorder = workloads::recorder::Recorder::create(&history)
        .with_context(|| format!("cannot create {}", history.display()))?;
    let progress = Progress::new();
    let _ = progress.log_to(&dir.join("run.log"));
    progress.note(format!(
        "maelstrom test -w {} · {} node(s) of {} · {clients} client(s) · rate {} · latency {} ms ({:?}) · nemesis {} · seed {seed}",
        w.name(),
        cfg.node_count,
        a.bin.display(),
        a.rate,
        a.latency,
        a.latency_dist,
        if cfg.faults.is_empty() { "none".to_string() } else { Fault::list(&cfg.faults) },
    ));
    let runtime = crate::run::runtime()?;
    let result = runtime.block_on(async {
        let stop = crate::run::interrupt_on_ctrl_c();
        m::run(cfg.clone(), &dir, recorder.clone(), progress.clone(), stop).await
    });
    let _ = recorder.close();
    drop(runtime);
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            progress.note(format!("stopped: {e}"));
            let code = match e {
                MaelstromError::Protocol(_) => exit::BAD_INPUT,
                MaelstromError::File { .. } => exit::BAD_INPUT,
            };
            eprintln!("faultline maelstrom test: {e}");
            eprintln!("store: {}", dir.display());
            return Ok(code);
        }
    };

    // Check.
    let file = history.to_string_lossy().to_string();
    let (kind, name) = w.checker();
    let checker = registry::find(kind, name).expect("a Maelstrom workload's checker is registered");
    let mut opts = check_options(&a, consistency);
    // Maelstrom infers txn-rw-register version orders from writes-follow-reads within a
    // transaction (its spec); faultline's switch for that is off unless asked for elsewhere.
    opts.inference.wfr_keys = w == Workload::TxnRwRegister;
    let (mut outcome, kept) = check::check_file_keeping(&file, checker, None, &opts);
    // Availability and latency from the history the check read compactly, else from one read
    // within the memory limit (not the whole history as full operations: a 1.16M-event echo
    // run took 2.2 GB that way).
    let ops = match kept {
        Some(h) => Source::Compact(h),
        None => match crate::report::read_ops(&file, Format::JsonLines, opts.memory_limit) {
            ReadOps::Ops(s) => s,
            ReadOps::TooBig => anyhow::bail!(
                "the recorded history {file} does not fit in the memory limit for its figures"
            ),
            ReadOps::Unreadable => anyhow::bail!("the recorded history {file} does not read back"),
        },
    };
    let avail = Availability::of(&ops);
    if let (Some(t), FileOutcome::Checked { report, .. }) = (threshold, &mut outcome) {
        if avail.fraction() < t && report.valid != Validity::Invalid {
            report.valid = Validity::Invalid;
            report.anomalies.push("availability".into());
            report.explanation.push(format!(
                "availability {:.4} ({} of {} requests ok) is below --availability {t}",
                avail.fraction(),
                avail.ok,
                avail.total
            ));
        }
    }
    let latency = latency_ms(&ops);
    let code = outcome.exit_code();
    check::write_results(
        &dir,
        std::slice::from_ref(&file),
        std::slice::from_ref(&outcome),
        code,
        opts.memory_limit,
        None,
    )?;
    let results = dir.join("results.json");
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&results)?)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("net".into(), summary.net.clone());
        map.insert("availability".into(), json!({"ok": avail.ok, "total": avail.total, "fraction": avail.fraction(), "required": threshold}));
        map.insert("latency_ms".into(), latency.clone());
        map.insert("complete".into(), json!(!summary.interrupted));
        map.insert("maelstrom_workload".into(), json!(w.name()));
        map.insert("seed".into(), json!(seed));
    }
    crate::run::write_atomically(&results, &(serde_json::to_string_pretty(&value)? + "\n"))?;
    // Also on their own: `faultline report DIR` rewrites results.json from the history alone.
    let net = json!({"net": summary.net, "latency_ms": latency, "availability": value.get("availability")});
    crate::run::write_atomically(
        &dir.join("net.json"),
        &(serde_json::to_string_pretty(&net)? + "\n"),
    )?;

    extras(&dir, &dir);

    let text = describe(&a, w, &summary, &avail, &latency, &dir, seed);
    let verdict = match &outcome {
        FileOutcome::Checked { report, .. } => render_human::render(&file, report, Style::detect()),
        FileOutcome::BadInput(e) => format!("{e}\n"),
    };
    {
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("run.log"))?;
        let plain = match &outcome {
            FileOutcome::Checked { report, .. } => {
                render_human::render(&file, report, Style { color: false })
            }
            FileOutcome::BadInput(e) => format!("{e}\n"),
        };
        let _ = writeln!(log, "\n{text}\n{plain}");
    }
    let mut out = std::io::stdout().lock();
    let printed = match a.format {
        OutputFormat::Human => write!(out, "{text}\n{verdict}"),
        OutputFormat::Json => {
            let mut v = match &outcome {
                FileOutcome::Checked { format, report } => {
                    render_json::report(&file, *format, report)
                }
                FileOutcome::BadInput(e) => render_json::input_error(&file, e),
            };
            if let Some(map) = v.as_object_mut() {
                map.insert("store".into(), json!(dir.to_string_lossy()));
                map.insert("net".into(), summary.net.clone());
                map.insert("latency_ms".into(), latency);
            }
            writeln!(out, "{v}")
        }
    };
    if let Err(e) = printed.and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("cannot write the report to standard output");
        }
    }
    Ok(code)
}

/// The options of the check after the run: the txn workloads' `--consistency-models` (as
/// resolved) and `--cycle-search-timeout`; the process's heap bounds the memory budget.
fn check_options(a: &MaelstromTestArgs, consistency: Vec<String>) -> CheckOptions {
    CheckOptions {
        consistency,
        cycle_search_timeout: a
            .cycle_search_timeout
            .unwrap_or(checkers::DEFAULT_CYCLE_SEARCH_TIMEOUT),
        memory_in_use: Some(crate::alloc::in_use),
        ..CheckOptions::default()
    }
}

/// Client requests that succeeded.
struct Availability {
    ok: u64,
    total: u64,
}

impl Availability {
    fn of(ops: &Source) -> Availability {
        let (mut ok, mut total) = (0, 0);
        for o in ops.views().filter(|o| o.client) {
            total += 1;
            ok += u64::from(o.outcome == Outcome::Ok);
        }
        Availability { ok, total }
    }
    fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.ok as f64 / self.total as f64
        }
    }
}

/// Latency of ok client operations in milliseconds: median, 95th percentile, max.
fn latency_ms(ops: &Source) -> Value {
    let mut l: Vec<f64> = ops
        .views()
        .filter(|o| o.client && o.outcome == Outcome::Ok)
        .filter_map(|o| Some((o.complete_time? - o.invoke_time?) as f64 / 1e6))
        .collect();
    if l.is_empty() {
        return Value::Null;
    }
    l.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| l[((l.len() - 1) as f64 * p).round() as usize];
    json!({"median": (q(0.5) * 100.0).round() / 100.0, "p95": (q(0.95) * 100.0).round() / 100.0, "max": (q(1.0) * 100.0).round() / 100.0})
}

fn describe(
    a: &MaelstromTestArgs,
    w: Workload,
    s: &m::Summary,
    avail: &Availability,
    latency: &Value,
    dir: &std::path::Path,
    seed: u64,
) -> String {
    let per = |class: &str| {
        let c = &s.net[class];
        format!(
            "{} msgs ({} per op)",
            c["send-count"],
            match &c["msgs-per-op"] {
                Value::Null => "-".to_string(),
                v => v.to_string(),
            }
        )
    };
    let mut t = format!(
        "maelstrom test -w {} · {} node(s) · seed {seed}\nstore: {}\nops: {} ({} ok, {:.2}% available) in {:.1} s",
        w.name(),
        a.node_count,
        dir.display(),
        avail.total,
        avail.ok,
        avail.fraction() * 100.0,
        s.elapsed.as_secs_f64()
    );
    if let Value::Object(l) = latency {
        t.push_str(&format!(
            "\nlatency (ok ops): median {} ms, p95 {} ms, max {} ms",
            l["median"], l["p95"], l["max"]
        ));
    }
    t.push_str(&format!(
        "\nnet: all {} · clients {} · servers {}",
        per("all"),
        per("clients"),
        per("servers")
    ));
    if !a.nemesis.is_empty() {
        match &s.healed {
            Ok(m) => t.push_str(&format!("\nhealed: {m}")),
            Err(m) => t.push_str(&format!("\nNOT HEALED: {m}")),
        }
    }
    if s.interrupted {
        t.push_str("\nINCOMPLETE: interrupted; the verdict covers what was recorded");
    }
    t
}

/// The Maelstrom parts of a run's report, from its store directory `run` into `out` (the
/// same directory after a run; `faultline report DIR --out OUT` may differ): messages.svg (the
/// Lamport diagram of the journaled messages) and, in report.html, a section with the network
/// statistics, latency, availability, the nodes' logs and the diagram. Like the other
/// pictures, an extra: a failure only warns.
pub fn extras(run: &std::path::Path, out: &std::path::Path) {
    if let Err(e) = write_extras(run, out) {
        eprintln!(
            "faultline: warning: no Maelstrom section in {}: {e:#}",
            out.join("report.html").display()
        );
    }
}

fn write_extras(run: &std::path::Path, out: &std::path::Path) -> Result<()> {
    use crate::report::html::escape;
    let net: Value = match std::fs::read_to_string(run.join("net.json")) {
        Ok(t) => serde_json::from_str(&t).context("net.json")?,
        Err(_) => return Ok(()),
    };
    let journal = std::fs::read_to_string(run.join("messages.jsonl")).unwrap_or_default();
    let total = net
        .pointer("/net/journaled/of")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let svg = crate::report::lamport::render(&journal, total);
    if let Some(svg) = &svg {
        let path = out.join("messages.svg");
        std::fs::write(&path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let page = out.join("report.html");
    let Ok(html) = std::fs::read_to_string(&page) else {
        return Ok(());
    };
    if html.contains("<section id=\"maelstrom\"") {
        return Ok(());
    }
    let link = |name: &str| {
        let href = if run == out {
            name.to_string()
        } else {
            run.join(name).to_string_lossy().to_string()
        };
        format!("<a href=\"{}\">{}</a>", escape(&href), escape(name))
    };
    let mut s = String::from(
        "<section id=\"maelstrom\" style=\"background:#fff;border:1px solid #ddd;border-radius:6px;\
         padding:8px 12px;margin-top:8px\"><h2 style=\"font-size:15px\">Maelstrom network</h2>\
         <table class=\"ops\"><tr><th></th><th>sent</th><th>received</th><th>dropped</th>\
         <th>per op</th></tr>",
    );
    for class in ["all", "clients", "servers"] {
        let c = &net["net"][class];
        s.push_str(&format!(
            "<tr><th>{class}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c["send-count"], c["recv-count"], c["dropped"], c["msgs-per-op"]
        ));
    }
    s.push_str("</table>");
    if let Value::Object(l) = &net["latency_ms"] {
        s.push_str(&format!(
            "<p>latency of ok operations: median {} ms, p95 {} ms, max {} ms</p>",
            l["median"], l["p95"], l["max"]
        ));
    }
    if let Some(a) = net["availability"].as_object() {
        s.push_str(&format!(
            "<p>availability: {} of {} requests ok</p>",
            a.get("ok").unwrap_or(&Value::Null),
            a.get("total").unwrap_or(&Value::Null)
        ));
    }
    let mut logs: Vec<String> = std::fs::read_dir(run)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with('n') && n.ends_with(".log") && n != "net.log")
                .collect()
        })
        .unwrap_or_default();
    logs.sort_by_key(|n| {
        n.trim_start_matches('n')
            .trim_end_matches(".log")
            .parse::<u64>()
            .unwrap_or(u64::MAX)
    });
    s.push_str("<p>node logs: ");
    s.push_str(&logs.iter().map(|l| link(l)).collect::<Vec<_>>().join(" · "));
    s.push_str(&format!(" · run log: {}</p>", link("run.log")));
    if svg.is_some() {
        s.push_str(&format!(
            "<h2 style=\"font-size:15px\">Lamport diagram ({})</h2>\
             <div style=\"max-height:640px;overflow:auto;border:1px solid #eee\">\
             <object data=\"messages.svg\" type=\"image/svg+xml\"></object></div>",
            link("messages.svg")
        ));
    }
    s.push_str("</section>\n");
    let at = html.rfind("</body>").unwrap_or(html.len());
    let mut patched = String::with_capacity(html.len() + s.len());
    patched.push_str(&html[..at]);
    patched.push_str(&s);
    patched.push_str(&html[at..]);
    crate::run::write_atomically(&page, &patched)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{self, Cli, Command};

    fn test_args(extra: &[&str]) -> MaelstromTestArgs {
        let mut argv = vec!["faultline", "maelstrom", "test", "-w", "txn-list-append"];
        argv.extend_from_slice(extra);
        argv.extend_from_slice(&["--bin", "/bin/true"]);
        match cli::parse(argv) {
            Ok(Cli {
                command:
                    Command::Maelstrom(MaelstromArgs {
                        command: MaelstromCommand::Test(a),
                    }),
            }) => a,
            other => panic!("not a maelstrom test command line: {other:?}"),
        }
    }

    #[test]
    fn cycle_search_timeout_flag_reaches_the_txn_check() {
        let a = test_args(&["--cycle-search-timeout", "0.5"]);
        let opts = check_options(&a, vec!["serializable".into()]);
        assert_eq!(opts.cycle_search_timeout, Duration::from_millis(500));
        let a = test_args(&[]);
        assert_eq!(
            check_options(&a, Vec::new()).cycle_search_timeout,
            checkers::DEFAULT_CYCLE_SEARCH_TIMEOUT
        );
    }

    #[test]
    fn flag_errors_are_typed_and_name_the_flag() {
        assert_eq!(
            workload("bogus"),
            Err(FlagError::UnknownWorkload("bogus".into()))
        );
        assert_eq!(workload("g-counter"), Ok(Workload::GCounter));
        assert_eq!(concurrency("2n", 3), Ok(6));
        assert_eq!(concurrency("x", 3), Err(FlagError::Concurrency("x".into())));
        assert_eq!(concurrency("0", 3), Err(FlagError::ClientCount(0)));
        assert_eq!(availability("total"), Ok(1.0));
        assert!(availability("2")
            .unwrap_err()
            .to_string()
            .starts_with("--availability"));
        assert_eq!(
            faults(&["clock-skew".into()]),
            Err(FlagError::ClockFault("clock-skew".into()))
        );
        assert_eq!(
            faults(&["partition-one-way".into(), "kill".into()]),
            Ok((vec![Fault::Partition, Fault::Kill], true))
        );
    }
}
