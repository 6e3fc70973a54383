//! The runner: drives client workers and the nemesis on tokio and records everything ("run"
//! step, ending where "check" begins).
//!
//! Phases, as in Jepsen: the **main** phase (workers invoke the workload's operations while the
//! nemesis starts and stops faults on its own schedule) until the time or operation limit or a
//! stop request (Ctrl-C); then the nemesis **heals** everything and the runner verifies that the
//! nodes talk again; a **quiet** period; then **final reads** of every key. Each worker is one
//! logical process at a time; after an `info` outcome it continues as a fresh process (the old
//! one may still have an operation in flight), as in Jepsen.

use crate::client::{Client, Op, Outcome, Unreachable};
use crate::generator::{
    offset_keys, Ctx, Gen, KeyOffset, Limit, Next, Stagger, TimeLimit, WorkloadKind,
};
use crate::nemesis::{NemesisError, NotHealed};
use crate::recorder::Recorder;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The workload.
    pub workload: WorkloadKind,
    /// Keys the workload spreads over.
    pub keys: u64,
    /// The first key ([`crate::generator::key_base`]): 0 for servers faultline started,
    /// run-specific for a service that may hold earlier runs' data (`run --nodes`).
    pub key_base: u64,
    /// Concurrent client workers.
    pub concurrency: usize,
    /// Nodes of the target (worker w talks to node w mod nodes).
    pub nodes: usize,
    /// Length of the main phase.
    pub time_limit: Duration,
    /// At most this many operations in the main phase.
    pub op_limit: Option<u64>,
    /// Target operations per second over all workers (None: as fast as they go).
    pub rate: Option<f64>,
    /// Seed of every generator and of the nemesis.
    pub seed: u64,
    /// Quiet time before the first fault and between faults.
    pub nemesis_interval: Duration,
    /// How long each fault lasts.
    pub nemesis_hold: Duration,
    /// Quiet period after healing, before the final reads.
    pub quiet: Duration,
    /// Whether to end with a read of every key.
    pub final_reads: bool,
    /// The guard against histories that grow out of hand: once this many client operations
    /// have been invoked, the main phase stops early (faults heal, final reads run) and the
    /// summary says so ([`RunSummary::history_limit`]). `None`: no guard.
    pub max_history: Option<u64>,
}

/// The default of `run --max-history`, in client operations: above what a 60-second run at
/// the default `--rate` (5000 ops/s) records, and checked within the default budgets on a
/// 2-core machine (docs/cli.md gives the measured sizes and check times behind it).
pub const DEFAULT_MAX_HISTORY: u64 = 500_000;

/// A fault operation as the nemesis plans it: recorded before it is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultOp {
    /// `start-partition`, `stop-partition`, `kill`, `restart`, `pause`, `resume`, …
    pub f: String,
    /// What it will do (`{"kind":"halves","groups":[["n1"],["n2","n3"]]}`, `"n2"`, …).
    pub value: Value,
    /// A short description for the progress line (`partition n1 | n2 n3`).
    pub summary: String,
}

/// What the runner needs from a nemesis (implemented for [`crate::nemesis::Schedule`] and by
/// [`NoNemesis`]).
pub trait Faults: Send + 'static {
    /// Plans the next fault to start, if this nemesis has any.
    fn plan_start(&mut self) -> Option<FaultOp>;
    /// Plans healing the active fault, if one is active.
    fn plan_stop(&mut self) -> Option<FaultOp>;
    /// Independent fault schedules (lanes) this nemesis runs at once: 1 (one fault at a time)
    /// unless several fault kinds are combined, each on its own schedule.
    fn lanes(&self) -> usize {
        1
    }
    /// Plans the next fault of one lane.
    fn plan_start_in(&mut self, _lane: usize) -> Option<FaultOp> {
        self.plan_start()
    }
    /// Plans healing the fault in effect in one lane.
    fn plan_stop_in(&mut self, _lane: usize) -> Option<FaultOp> {
        self.plan_stop()
    }
    /// Applies a planned operation; returns what happened.
    fn apply(&mut self, op: &FaultOp) -> impl Future<Output = Result<Value, NemesisError>> + Send;
    /// Heals everything that might be broken; returns the operations performed and results.
    fn heal_all(
        &mut self,
    ) -> impl Future<Output = Vec<(FaultOp, Result<Value, NemesisError>)>> + Send;
    /// Checks that the nodes talk to each other again (after healing).
    fn verify_healed(&mut self) -> impl Future<Output = Result<String, NotHealed>> + Send;
    /// The clock faults' own schedule, if any: the runner runs it next to this one, so a
    /// clock can be wrong while another fault is in effect (`docs/clocks.md`).
    fn take_clock(&mut self) -> Option<crate::nemesis::clock::ClockSchedule> {
        None
    }
}

/// No faults at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNemesis;

impl Faults for NoNemesis {
    fn plan_start(&mut self) -> Option<FaultOp> {
        None
    }
    fn plan_stop(&mut self) -> Option<FaultOp> {
        None
    }
    async fn apply(&mut self, _op: &FaultOp) -> Result<Value, NemesisError> {
        Ok(Value::Null)
    }
    async fn heal_all(&mut self) -> Vec<(FaultOp, Result<Value, NemesisError>)> {
        Vec::new()
    }
    async fn verify_healed(&mut self) -> Result<String, NotHealed> {
        Ok("no faults were injected".into())
    }
}

/// Live counters for a progress display.
#[derive(Debug)]
pub struct Progress {
    /// Operations that completed `ok`.
    pub ok: AtomicU64,
    /// Operations that completed `fail`.
    pub fail: AtomicU64,
    /// Operations that completed `info`.
    pub info: AtomicU64,
    /// Workers backing off now (their system could not be reached).
    pub backing_off: AtomicU64,
    /// Back-off episodes so far (a worker's run of unreachable answers, over all workers).
    pub backoffs: AtomicU64,
    /// Why the latest unreachable answer came (`connection refused: …`), for the progress
    /// line.
    pub last_unreachable: Mutex<Option<String>>,
    /// The active fault, if any.
    pub fault: Mutex<Option<String>>,
    /// The current phase (`main`, `healing`, `quiet`, `final reads`, `done`).
    pub phase: Mutex<&'static str>,
    /// Log lines for the run log (nemesis events, healing), in order.
    pub log: Mutex<Vec<String>>,
    /// When the run began.
    pub started: Instant,
    /// Where log lines are also appended as they happen (see [`Progress::log_to`]).
    sink: Mutex<Option<std::fs::File>>,
}

impl Progress {
    /// Fresh counters.
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            ok: AtomicU64::new(0),
            fail: AtomicU64::new(0),
            info: AtomicU64::new(0),
            backing_off: AtomicU64::new(0),
            backoffs: AtomicU64::new(0),
            last_unreachable: Mutex::new(None),
            fault: Mutex::new(None),
            phase: Mutex::new("main"),
            log: Mutex::new(Vec::new()),
            started: Instant::now(),
            sink: Mutex::new(None),
        })
    }

    /// Also appends every log line to the file at `path` as it is noted (the lines so far
    /// first), so a run killed even by SIGKILL leaves its log up to that moment.
    pub fn log_to(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        for line in log.iter() {
            writeln!(file, "{line}")?;
        }
        *self.sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
        Ok(())
    }

    fn count(&self, outcome: &Outcome) {
        let c = match outcome {
            Outcome::Ok(_) => &self.ok,
            Outcome::Fail(_) => &self.fail,
            Outcome::Info(_) => &self.info,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a line to the run log (timestamped with seconds since the start).
    pub fn note(&self, line: impl Into<String>) {
        let line = format!(
            "{:8.3}s {}",
            self.started.elapsed().as_secs_f64(),
            line.into()
        );
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = self.sink.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            use std::io::Write;
            // One write per line, so a crash never leaves half a line; a failing log file
            // costs the log, never the run.
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
        log.push(line);
    }

    fn set_phase(&self, phase: &'static str) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
        self.note(format!("phase: {phase}"));
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// True when a stop was requested (Ctrl-C) before the run ended: the main phase was cut
    /// short or the final reads were skipped, so the history is not the whole planned run.
    pub interrupted: bool,
    /// The result of verifying that the nodes talk again after healing.
    pub healed: Result<String, NotHealed>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Set when the history reached [`RunConfig::max_history`] and the main phase stopped
    /// early: the history is not the whole planned run.
    pub history_limit: Option<HistoryLimit>,
}

/// The main phase stopped early because the history reached `--max-history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimit {
    /// The limit, in client operations.
    pub limit: u64,
    /// When the limit was reached, since the run began.
    pub after: Duration,
}

impl std::fmt::Display for HistoryLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the history reached --max-history ({} operations) after {:.1} s: the main phase \
             stopped early, faults were healed",
            self.limit,
            self.after.as_secs_f64()
        )
    }
}

/// Runs the workload against clients made by `make_client(worker)`, with `faults`, recording
/// into `recorder`. `stop` turning true ends the main phase early (Ctrl-C); the nemesis still
/// heals and the history is still complete.
pub async fn run<C, F, N>(
    config: RunConfig,
    make_client: F,
    mut faults: N,
    recorder: Arc<Recorder>,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> RunSummary
where
    C: Client,
    F: Fn(usize) -> C,
    N: Faults,
{
    let started = Instant::now();
    progress.set_phase("main");
    let workers = config.concurrency.max(1);
    let main_done = Arc::new(AtomicBool::new(false));
    // Turns true when the main phase is over, by its end or by a stop request: wakes the
    // nemesis out of its sleeps.
    let (over_tx, over_rx) = watch::channel(false);
    let over_tx = Arc::new(over_tx);
    // Ends the workers' main phase: a stop request, or the history guard.
    let (main_stop_tx, main_stop) = watch::channel(false);
    let main_stop_tx = Arc::new(main_stop_tx);
    {
        let over_tx = over_tx.clone();
        let main_stop_tx = main_stop_tx.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                let _ = main_stop_tx.send(true);
                let _ = over_tx.send(true);
            }
        });
    }
    let history_limit: Arc<Mutex<Option<HistoryLimit>>> = Arc::new(Mutex::new(None));
    if let Some(limit) = config.max_history {
        let over_tx = over_tx.clone();
        let main_stop_tx = main_stop_tx.clone();
        let recorder = recorder.clone();
        let progress = progress.clone();
        let history_limit = history_limit.clone();
        let mut over = over_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = over.wait_for(|o| *o) => return,
                }
                if recorder.invocations() >= limit {
                    let hit = HistoryLimit {
                        limit,
                        after: started.elapsed(),
                    };
                    progress.note(format!("STOPPING EARLY: {hit}"));
                    *history_limit.lock().unwrap_or_else(|e| e.into_inner()) = Some(hit);
                    let _ = main_stop_tx.send(true);
                    let _ = over_tx.send(true);
                    return;
                }
            }
        });
    }
    let remaining = Arc::new(AtomicU64::new(config.op_limit.unwrap_or(u64::MAX)));

    // The clock nemesis, if any, runs on a task of its own, staggered into the first fault.
    let clock_nemesis = faults.take_clock().map(|mut clock| {
        let recorder = recorder.clone();
        let progress = progress.clone();
        let main_done = main_done.clone();
        let config = config.clone();
        let mut over = over_rx.clone();
        tokio::spawn(async move {
            let stagger = clock.stagger(config.nemesis_hold);
            let deadline = tokio::time::Instant::now() + config.time_limit;
            if sleep_unless_stopped(stagger, deadline, &mut over).await {
                nemesis_loop(
                    &mut clock, &config, &recorder, &progress, &main_done, &mut over,
                )
                .await;
            }
            clock
        })
    });
    // The nemesis runs on its own task until the main phase ends, then heals.
    let nemesis = {
        let recorder = recorder.clone();
        let progress = progress.clone();
        let main_done = main_done.clone();
        let config = config.clone();
        let mut over = over_rx.clone();
        tokio::spawn(async move {
            nemesis_loop(
                &mut faults,
                &config,
                &recorder,
                &progress,
                &main_done,
                &mut over,
            )
            .await;
            faults
        })
    };

    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut gen: Box<dyn Gen> = config
            .workload
            .generator(config.seed, w, workers, config.keys);
        if config.key_base != 0 {
            gen = Box::new(KeyOffset::new(gen, config.key_base));
        }
        gen = Box::new(Limit::new(gen, remaining.clone()));
        gen = Box::new(TimeLimit::new(gen, config.time_limit));
        if let Some(rate) = config.rate.filter(|r| *r > 0.0) {
            let mean = Duration::from_secs_f64(workers as f64 / rate);
            gen = Box::new(Stagger::new(gen, mean, config.seed ^ w as u64));
        }
        let mut client = make_client(w);
        if w == 0 {
            let _ = client.open(w % config.nodes.max(1)).await;
            if let Err(e) = client.setup().await {
                progress.note(format!("client setup failed: {e}"));
            }
            client.close().await;
        }
        let worker = Worker {
            backoff: Backoff::new(config.seed ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            id: w,
            process: w as u64,
            workers: workers as u64,
            node: w % config.nodes.max(1),
            client,
            recorder: recorder.clone(),
            progress: progress.clone(),
        };
        let stop = main_stop.clone();
        let limit = Some(config.time_limit);
        tasks.push(tokio::spawn(worker.run_phase(gen, stop, limit)));
    }
    let mut finished = Vec::new();
    for t in tasks {
        if let Ok(w) = t.await {
            finished.push(w);
        }
    }
    main_done.store(true, Ordering::SeqCst);
    let _ = over_tx.send(true);

    progress.set_phase("healing");
    let mut faults = match nemesis.await {
        Ok(f) => Some(f),
        Err(e) => {
            progress.note(format!("nemesis task failed: {e}"));
            None
        }
    };
    let mut clock_healed = Ok(String::new());
    if let Some(task) = clock_nemesis {
        clock_healed = match task.await {
            Ok(mut clock) => {
                for (op, result) in clock.heal_all().await {
                    record_fault(&recorder, &progress, &op, result);
                }
                clock.verify_healed().await
            }
            Err(e) => {
                progress.note(format!("clock nemesis task failed: {e}"));
                Err(NotHealed::NemesisFailed)
            }
        };
    }
    let healed = match faults.as_mut() {
        Some(f) => {
            for (op, result) in f.heal_all().await {
                record_fault(&recorder, &progress, &op, result);
            }
            let verdict = match (f.verify_healed().await, clock_healed) {
                (Ok(m), Ok(c)) if c.is_empty() => Ok(m),
                (Ok(m), Ok(c)) => Ok(format!("{m}; {c}")),
                (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            };
            match &verdict {
                Ok(m) => progress.note(format!("healed: {m}")),
                Err(m) => progress.note(format!("NOT healed: {m}")),
            }
            verdict
        }
        None => Err(NotHealed::NemesisFailed),
    };
    *progress.fault.lock().unwrap_or_else(|e| e.into_inner()) = None;

    // A stop before here cut the main phase short or skips the final reads; one during the
    // final reads lets them finish.
    let interrupted = *stop.borrow();
    if config.final_reads && !interrupted {
        progress.set_phase("quiet");
        let mut quiet_stop = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(config.quiet) => {}
            _ = quiet_stop.wait_for(|s| *s) => {}
        }
        progress.set_phase("final reads");
        let finals: Vec<Op> = config
            .workload
            .final_ops(config.keys)
            .into_iter()
            .map(|op| offset_keys(op, config.key_base, true))
            .collect();
        let mut tasks = Vec::new();
        let n = finished.len().max(1);
        for (i, mut w) in finished.into_iter().enumerate() {
            let ops: Vec<Op> = finals.iter().skip(i).step_by(n).cloned().collect();
            let drain = config.workload.drain();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                for op in ops {
                    w.invoke(&op).await;
                }
                // Open-ended final operations (the queue's drain), until its generator is done.
                if let Some(gen) = drain {
                    w = w.run_phase(gen, stop, None).await;
                }
                w
            }));
        }
        finished = Vec::new();
        for t in tasks {
            if let Ok(w) = t.await {
                finished.push(w);
            }
        }
    }
    for (i, mut w) in finished.into_iter().enumerate() {
        if i == 0 {
            w.client.teardown().await;
        }
        w.client.close().await;
    }
    progress.set_phase("done");
    recorder.flush();
    let history_limit = *history_limit.lock().unwrap_or_else(|e| e.into_inner());
    RunSummary {
        interrupted,
        healed,
        elapsed: started.elapsed(),
        history_limit,
    }
}

/// Starts and stops faults until the main phase ends or a stop is requested.
async fn nemesis_loop<N: Faults>(
    faults: &mut N,
    config: &RunConfig,
    recorder: &Recorder,
    progress: &Progress,
    main_done: &AtomicBool,
    stop: &mut watch::Receiver<bool>,
) {
    let over = |stop: &watch::Receiver<bool>| *stop.borrow() || main_done.load(Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + config.time_limit;
    if faults.lanes() > 1 {
        return combined_loop(
            faults, config, recorder, progress, deadline, main_done, stop,
        )
        .await;
    }
    loop {
        if !sleep_unless_stopped(config.nemesis_interval, deadline, stop).await || over(stop) {
            return;
        }
        let Some(op) = faults.plan_start() else {
            return;
        };
        recorder.nemesis(&op.f, &op.value, None);
        let result = faults.apply(&op).await;
        if result.is_ok() {
            *progress.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(op.summary.clone());
        }
        record_fault(recorder, progress, &op, result);
        let held = sleep_unless_stopped(config.nemesis_hold, deadline, stop).await;
        if let Some(op) = faults.plan_stop() {
            recorder.nemesis(&op.f, &op.value, None);
            let result = faults.apply(&op).await;
            *progress.fault.lock().unwrap_or_else(|e| e.into_inner()) = None;
            record_fault(recorder, progress, &op, result);
        }
        if !held || over(stop) {
            return;
        }
    }
}

/// Several fault kinds at once (Jepsen's combined nemesis): every lane starts and stops its
/// own faults, each wait drawn between half and one and a half times `--nemesis-interval`
/// (quiet) or `--nemesis-hold` (in effect) from the seed, so kinds overlap. At the end of the
/// main phase the faults still in effect stay for the heal that follows.
async fn combined_loop<N: Faults>(
    faults: &mut N,
    config: &RunConfig,
    recorder: &Recorder,
    progress: &Progress,
    deadline: tokio::time::Instant,
    main_done: &AtomicBool,
    stop: &mut watch::Receiver<bool>,
) {
    let over = |stop: &watch::Receiver<bool>| *stop.borrow() || main_done.load(Ordering::SeqCst);
    let lanes = faults.lanes();
    let mut rng = checkers::Rng::new(config.seed ^ 0x636f_6d62_696e_6564);
    let mut jittered = |d: Duration| {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        d.mul_f64(0.5 + u)
    };
    let now = tokio::time::Instant::now();
    let mut next: Vec<Option<tokio::time::Instant>> = (0..lanes)
        .map(|_| Some(now + jittered(config.nemesis_interval)))
        .collect();
    let mut active: Vec<Option<String>> = vec![None; lanes];
    loop {
        let Some((lane, at)) = next
            .iter()
            .enumerate()
            .filter_map(|(k, t)| t.map(|t| (k, t)))
            .min_by_key(|&(_, t)| t)
        else {
            return;
        };
        let wait = at.saturating_duration_since(tokio::time::Instant::now());
        if !sleep_unless_stopped(wait, deadline, stop).await || over(stop) {
            return;
        }
        let starting = active[lane].is_none();
        let planned = if starting {
            faults.plan_start_in(lane)
        } else {
            faults.plan_stop_in(lane)
        };
        let Some(op) = planned else {
            // This lane has nothing more to do.
            next[lane] = None;
            continue;
        };
        recorder.nemesis(&op.f, &op.value, None);
        let result = faults.apply(&op).await;
        let ok = result.is_ok();
        record_fault(recorder, progress, &op, result);
        if starting {
            active[lane] = ok.then(|| op.summary.clone());
            next[lane] = Some(tokio::time::Instant::now() + jittered(config.nemesis_hold));
        } else {
            active[lane] = None;
            next[lane] = Some(tokio::time::Instant::now() + jittered(config.nemesis_interval));
        }
        let shown: Vec<&str> = active.iter().flatten().map(String::as_str).collect();
        *progress.fault.lock().unwrap_or_else(|e| e.into_inner()) =
            (!shown.is_empty()).then(|| shown.join(" + "));
    }
}

/// Sleeps `d` (cut at `deadline`); false when a stop was requested or the deadline passed.
async fn sleep_unless_stopped(
    d: Duration,
    deadline: tokio::time::Instant,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let until = (tokio::time::Instant::now() + d).min(deadline);
    tokio::select! {
        _ = tokio::time::sleep_until(until) => tokio::time::Instant::now() < deadline,
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// Records a fault operation's completion and logs it.
fn record_fault(
    recorder: &Recorder,
    progress: &Progress,
    op: &FaultOp,
    result: Result<Value, NemesisError>,
) {
    match result {
        Ok(v) => {
            recorder.nemesis(&op.f, &v, None);
            progress.note(format!("nemesis {}: {}", op.f, op.summary));
        }
        Err(e) => {
            recorder.nemesis(&op.f, &op.value, Some(&json!(e.to_string())));
            progress.note(format!("nemesis {} FAILED: {} ({e})", op.f, op.summary));
        }
    }
}

/// The shortest back-off after an unreachable answer.
pub const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest back-off.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A worker's back-off after answers that came too fast to mean anything (the system could not
/// be reached): [`BACKOFF_MIN`] doubling to [`BACKOFF_MAX`], each wait jittered to between half
/// and all of the current step (seeded, so deterministic), reset by the next reachable answer
/// to an operation of a kind (`f`) that was unreachable in this episode — so a worker whose
/// reads reach a replica while its writes are refused by a dead primary still backs off
/// ever longer on the writes, instead of starting again at 10 ms after every read.
#[derive(Debug, Clone)]
pub struct Backoff {
    step: Option<Duration>,
    /// The operations (`f`) that could not reach the system in this episode.
    failed: Vec<&'static str>,
    rng: checkers::Rng,
}

impl Backoff {
    /// A fresh back-off with its own seeded jitter.
    pub fn new(seed: u64) -> Backoff {
        Backoff {
            step: None,
            failed: Vec::new(),
            rng: checkers::Rng::new(seed),
        }
    }

    /// The current step (before jitter); `None` when not backing off.
    pub fn step(&self) -> Option<Duration> {
        self.step
    }

    /// After an unreachable answer to an operation `f`: the wait before the next attempt
    /// (the step grows).
    pub fn fail(&mut self, f: &'static str) -> Duration {
        let step = match self.step {
            None => BACKOFF_MIN,
            Some(s) => (s * 2).min(BACKOFF_MAX),
        };
        self.step = Some(step);
        if !self.failed.contains(&f) {
            self.failed.push(f);
        }
        let half = step.as_micros() as u64 / 2;
        Duration::from_micros(half + self.rng.below(half + 1))
    }

    /// Ends the episode whatever answered (the phase ends). True when one was on.
    pub fn clear(&mut self) -> bool {
        self.failed.clear();
        self.step.take().is_some()
    }

    /// After a reachable answer to an operation `f`: back to no wait if `f` was unreachable
    /// in this episode. True when a back-off episode ended.
    pub fn reset(&mut self, f: &'static str) -> bool {
        if self.step.is_none() || !self.failed.contains(&f) {
            return false;
        }
        self.failed.clear();
        self.step.take().is_some()
    }
}

/// An operation's error as a short text for the run log (at most 160 characters).
fn short(e: &Value) -> String {
    let text = match e {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// One client worker: a logical process bound to a node.
struct Worker<C> {
    backoff: Backoff,
    id: usize,
    process: u64,
    workers: u64,
    node: usize,
    client: C,
    recorder: Arc<Recorder>,
    progress: Arc<Progress>,
}

impl<C: Client> Worker<C> {
    /// Runs operations from `gen` until it is done or a stop is requested (or `limit` after
    /// the phase's start, which also cuts a back-off short).
    async fn run_phase(
        mut self,
        mut gen: Box<dyn Gen>,
        mut stop: watch::Receiver<bool>,
        limit: Option<Duration>,
    ) -> Self {
        let phase_start = Instant::now();
        let deadline = limit.map(|l| tokio::time::Instant::now() + l);
        if let Err(e) = self.client.open(self.node).await {
            self.progress
                .note(format!("worker {}: cannot open a client: {e}", self.id));
        }
        loop {
            if *stop.borrow() {
                return self;
            }
            let ctx = Ctx {
                elapsed: phase_start.elapsed(),
            };
            match gen.next(ctx) {
                Next::Op(op) => {
                    let outcome = self.invoke(&op).await;
                    gen.observe(&op, &outcome);
                    match self.client.unreachable() {
                        Some(why) => {
                            if !self.back_off(&op, &outcome, why, &mut stop, deadline).await {
                                self.end_backoff(None);
                                return self;
                            }
                        }
                        None => self.end_backoff(Some(op.f)),
                    }
                    // A client that never waits (in-process stores) must still let timers
                    // and the stop signal run.
                    tokio::task::consume_budget().await;
                }
                Next::Wait(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = stop.wait_for(|s| *s) => return self,
                    }
                }
                Next::Done => return self,
            }
        }
    }

    /// Waits before the next attempt after an unreachable answer (noting the start of an
    /// episode); false when a stop was requested or the deadline passed meanwhile.
    async fn back_off(
        &mut self,
        op: &Op,
        outcome: &Outcome,
        why: Unreachable,
        stop: &mut watch::Receiver<bool>,
        deadline: Option<tokio::time::Instant>,
    ) -> bool {
        let first = self.backoff.step().is_none();
        let wait = self.backoff.fail(op.f);
        let error = match outcome {
            Outcome::Fail(e) | Outcome::Info(e) => short(e),
            Outcome::Ok(_) => String::new(),
        };
        *self
            .progress
            .last_unreachable
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(format!("{why}: {error}"));
        if first {
            self.progress.backing_off.fetch_add(1, Ordering::Relaxed);
            self.progress.backoffs.fetch_add(1, Ordering::Relaxed);
            self.progress.note(format!(
                "worker {} backing off: {why} ({} ms → {} s) on {}: {error}",
                self.id,
                BACKOFF_MIN.as_millis(),
                BACKOFF_MAX.as_secs(),
                op.f
            ));
        }
        let now = tokio::time::Instant::now();
        let until = match deadline {
            Some(d) => (now + wait).min(d),
            None => now + wait,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(until) => deadline.map_or(true, |d| tokio::time::Instant::now() < d),
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    /// Ends a back-off episode, if one is on and `f` (an operation that reached its node; `None`:
    /// the phase ends) was among the unreachable ones.
    fn end_backoff(&mut self, f: Option<&'static str>) {
        let ended = match f {
            Some(f) => self.backoff.reset(f),
            None => self.backoff.clear(),
        };
        if ended {
            self.progress.backing_off.fetch_sub(1, Ordering::Relaxed);
            self.progress
                .note(format!("worker {} reaches its node again", self.id));
        }
    }

    /// Invokes one operation, recording its invocation and completion.
    async fn invoke(&mut self, op: &Op) -> Outcome {
        let node = self.client.node_name();
        self.recorder.invoke(self.process, op, Some(&node));
        let outcome = self.client.invoke(op).await;
        self.recorder
            .complete(self.process, op, &outcome, Some(&node));
        self.progress.count(&outcome);
        if matches!(outcome, Outcome::Info(_)) {
            // The old process may still have this operation in flight: continue as a new one.
            self.process += self.workers;
            self.client.close().await;
            let _ = self.client.open(self.node).await;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(7);
        assert_eq!(b.step(), None);
        let mut expected = BACKOFF_MIN;
        for _ in 0..12 {
            let wait = b.fail("write");
            assert_eq!(b.step(), Some(expected));
            assert!(
                wait >= expected / 2 && wait <= expected,
                "{wait:?} vs {expected:?}"
            );
            expected = (expected * 2).min(BACKOFF_MAX);
        }
        assert_eq!(b.step(), Some(BACKOFF_MAX));
        // A read that reaches its node (a replica) does not end a back-off of writes.
        assert!(!b.reset("read"));
        assert_eq!(b.step(), Some(BACKOFF_MAX));
        assert!(b.reset("write"));
        assert!(!b.reset("write"));
        assert_eq!(b.step(), None);
        let wait = b.fail("read");
        assert_eq!(b.step(), Some(BACKOFF_MIN));
        assert!(wait <= BACKOFF_MIN);
        // Seeded: the same seed waits the same.
        let waits = |seed| {
            let mut b = Backoff::new(seed);
            (0..8).map(|_| b.fail("write")).collect::<Vec<_>>()
        };
        assert_eq!(waits(3), waits(3));
    }
}
