//! Clock faults — Jepsen's bump, strobe and skew — for node processes faultline starts, through
//! libfaketime; never this machine's clock (nor an SSH host's real clock).
//!
//! Part of the "run" step of run → check → report. A target that supports clock faults starts
//! each node with `LD_PRELOAD=libfaketimeMT.so.1` and its own timestamp file
//! ([`ClockFiles::env`] on this machine; on SSH hosts the demo's start script sets the same
//! variables, [`remote_env`], and the file lives in the node's run directory there,
//! [`ClockFiles::remote`]); the file holds the node's offset from the real time (`+0`, `-3.25`)
//! and libfaketime re-reads it on every wall-clock call (`FAKETIME_NO_CACHE=1`), so faultline
//! moves a node's clock by rewriting one file. Only the wall clock (`CLOCK_REALTIME`,
//! `SystemTime`) moves: `FAKETIME_DONT_FAKE_MONOTONIC=1` keeps `CLOCK_MONOTONIC` (Rust's
//! `Instant`, tokio's timers) true, so timers and timeouts still measure real time, as they
//! would on a machine whose NTP-disciplined wall clock was stepped.
//!
//! The faults ([`Fault::ClockBump`], [`Fault::ClockStrobe`], [`Fault::ClockSkew`]) run on their
//! own [`ClockSchedule`], alongside the target's other faults, so that a clock is wrong while
//! a partition is in effect (a wrong clock alone hurts no lease: the leader keeps its
//! followers). Heal = every file back to `+0`, then read back and verified. See
//! `docs/clocks.md`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkers::Rng;
use serde_json::{json, Value};

use super::{Fault, NemesisError, NotHealed};
use crate::remote::{quote, Remote, SshError};
use crate::runner::{FaultOp, Faults};

/// Where Debian's `libfaketime` package puts the multi-threaded preload library.
pub const LIBFAKETIME_PATHS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
];

/// How often a strobe flips a clock, and a skew re-writes its offset (files on this machine).
pub const STEP: Duration = Duration::from_millis(10);

/// As [`STEP`], for files on SSH hosts: each write is a command over the SSH connection.
pub const REMOTE_STEP: Duration = Duration::from_millis(100);

/// The contents of a healed timestamp file: no offset.
pub const ZERO: &str = "+0";

/// The shell loop removing the `/dev/shm` pair libfaketime leaves for each killed process of
/// `$pids` (as [`ClockFiles::remove_shm`], on a host; nothing for processes not under it).
pub const REMOVE_SHM_SH: &str =
    "for p in $pids; do rm -f /dev/shm/faketime_shm_$p /dev/shm/sem.faketime_sem_$p; done\n";

/// The name of a node's timestamp file in its run directory on an SSH host
/// (`/var/lib/faultline/runs/KIND-RUN/HOST/faketime`; `faultline heal` resets every such file
/// it finds, [`crate::remote::faults::HEAL_SCRIPT`]).
pub const REMOTE_FILE: &str = "faketime";

/// The shell script printing the first of [`LIBFAKETIME_PATHS`] that exists on a host
/// (nothing when none does).
pub fn find_libfaketime_script() -> String {
    format!(
        "for p in {}; do [ -f \"$p\" ] && {{ echo \"$p\"; break; }}; done; true",
        LIBFAKETIME_PATHS.join(" ")
    )
}

/// The `env` arguments (shell words) that put a node on an SSH host under libfaketime `lib`
/// and the timestamp file `file`: as [`ClockFiles::env`].
pub fn remote_env(lib: &str, file: &str) -> String {
    format!(
        "LD_PRELOAD={} FAKETIME_TIMESTAMP_FILE={} FAKETIME_NO_CACHE=1 \
         FAKETIME_DONT_FAKE_MONOTONIC=1",
        quote(lib),
        quote(file)
    )
}

/// Finds libfaketime's preload library, or says which package is missing.
pub fn find_libfaketime() -> Result<PathBuf, crate::RunError> {
    LIBFAKETIME_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| crate::RunError::MissingProgram {
            program: "libfaketimeMT.so.1".into(),
            package: "libfaketime",
            looked: LIBFAKETIME_PATHS.join(", "),
        })
}

/// Whether `fault` is a clock fault.
pub fn is_clock(fault: Fault) -> bool {
    matches!(
        fault,
        Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew
    )
}

/// Refuses clock faults for a target that cannot fake its nodes' clocks: names the target, the
/// fault and what would do it (exit 254, before the run starts).
pub fn refuse_clock(target: &str, faults: &[Fault], why: &str) -> Result<(), crate::RunError> {
    match faults.iter().find(|&&f| is_clock(f)) {
        None => Ok(()),
        Some(f) => Err(crate::RunError::Usage(format!(
            "--nemesis {}: --target {target} cannot take clock faults ({why}); clock faults \
             need nodes faultline starts under libfaketime: --target demo (docs/clocks.md)",
            f.name()
        ))),
    }
}

/// What a node's clock is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Skew {
    /// A fixed offset from real time, in seconds.
    Offset(f64),
    /// Flipping between `+0` and this offset every [`STEP`].
    Strobe(f64),
    /// Running at this rate since the fault began (`offset = (rate − 1) · elapsed`).
    Rate(f64),
}

/// The per-node timestamp files of one run and the task that strobes or skews them.
pub struct ClockFiles {
    lib: PathBuf,
    place: Place,
    nodes: usize,
    state: Mutex<ClockState>,
}

/// Where a run's timestamp files are.
enum Place {
    /// On this machine: `DIR/n1.faketime` ….
    Local(PathBuf),
    /// On SSH hosts: node `i`'s file is `files[i]` on host `i`, written over the connection.
    Remote {
        remote: Arc<Remote>,
        files: Vec<String>,
    },
}

impl std::fmt::Debug for ClockFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClockFiles")
            .field("nodes", &self.nodes)
            .field(
                "files",
                &(0..self.nodes)
                    .map(|n| self.describe(n))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Debug, Default)]
struct ClockState {
    /// Node (from 0) → what its clock does; absent = true time.
    skews: Vec<Option<Skew>>,
    /// The strobe/skew task, while one runs.
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Why a timestamp file could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// A file on this machine.
    #[error("clock file {}: {source}", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file on an SSH host (the error names the host).
    #[error("clock file {file}: {source}")]
    Remote {
        /// The file on the host.
        file: String,
        /// What the connection or the command said.
        source: SshError,
    },
}

impl ClockFiles {
    /// Creates `dir/n1.faketime` … with `+0` for `nodes` nodes, preloading `lib`.
    pub fn create(lib: PathBuf, dir: &Path, nodes: usize) -> Result<Arc<ClockFiles>, ClockError> {
        std::fs::create_dir_all(dir).map_err(|source| ClockError::Local {
            path: dir.to_path_buf(),
            source,
        })?;
        let files = ClockFiles::with_place(lib, Place::Local(dir.to_path_buf()), nodes);
        for node in 0..nodes {
            files.write_local(node, ZERO)?;
        }
        Ok(Arc::new(files))
    }

    /// The timestamp files of nodes on SSH hosts: node `i`'s is `files[i]` on `remote`'s host
    /// `i`, already holding `+0` (the start script writes it before the node starts).
    pub fn remote(remote: Arc<Remote>, files: Vec<String>) -> Arc<ClockFiles> {
        let nodes = files.len();
        Arc::new(ClockFiles::with_place(
            PathBuf::new(),
            Place::Remote { remote, files },
            nodes,
        ))
    }

    fn with_place(lib: PathBuf, place: Place, nodes: usize) -> ClockFiles {
        ClockFiles {
            lib,
            place,
            nodes,
            state: Mutex::new(ClockState {
                skews: vec![None; nodes],
                task: None,
            }),
        }
    }

    /// How often a strobe flips and a skew re-writes: [`STEP`], or [`REMOTE_STEP`] on SSH
    /// hosts.
    pub fn step(&self) -> Duration {
        match self.place {
            Place::Local(_) => STEP,
            Place::Remote { .. } => REMOTE_STEP,
        }
    }

    /// Node `node`'s file, for messages: a path, or `HOST:PATH`.
    pub fn describe(&self, node: usize) -> String {
        match &self.place {
            Place::Local(_) => self.file(node).display().to_string(),
            Place::Remote { remote, files } => format!(
                "{}:{}",
                remote.hosts[node].spec.label,
                files.get(node).map(String::as_str).unwrap_or("?")
            ),
        }
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Node `node`'s (from 0) timestamp file on this machine: `DIR/n<node+1>.faketime`
    /// (on SSH hosts, see [`ClockFiles::describe`]).
    pub fn file(&self, node: usize) -> PathBuf {
        match &self.place {
            Place::Local(dir) => dir.join(format!("n{}.faketime", node + 1)),
            Place::Remote { files, .. } => {
                PathBuf::from(files.get(node).cloned().unwrap_or_default())
            }
        }
    }

    /// The environment that puts node `node` (from 0) under its timestamp file.
    pub fn env(&self, node: usize) -> Vec<(&'static str, OsString)> {
        vec![
            ("LD_PRELOAD", self.lib.clone().into_os_string()),
            ("FAKETIME_TIMESTAMP_FILE", self.file(node).into_os_string()),
            ("FAKETIME_NO_CACHE", "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
        ]
    }

    /// Writes `text` into node `node`'s file atomically (a new file renamed over the old, so
    /// libfaketime never reads half a line): here, or over the SSH connection.
    async fn write(&self, node: usize, text: &str) -> Result<(), ClockError> {
        match &self.place {
            Place::Local(_) => self.write_local(node, text),
            Place::Remote { remote, files } => {
                let file = files.get(node).cloned().unwrap_or_default();
                let script = format!(
                    "printf '%s\\n' {t} > {f}.tmp && mv -f {f}.tmp {f}",
                    t = quote(text),
                    f = quote(&file)
                );
                remote
                    .run(node, "clock file", &script)
                    .await
                    .map(|_| ())
                    .map_err(|source| ClockError::Remote { file, source })
            }
        }
    }

    /// Node `node`'s file's contents (trimmed).
    async fn read(&self, node: usize) -> Result<String, String> {
        match &self.place {
            Place::Local(_) => {
                let path = self.file(node);
                std::fs::read_to_string(&path)
                    .map(|t| t.trim().to_string())
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
            }
            Place::Remote { remote, files } => {
                let file = files.get(node).cloned().unwrap_or_default();
                remote
                    .run(
                        node,
                        "read the clock file",
                        &format!("cat {}", quote(&file)),
                    )
                    .await
                    .map(|o| o.stdout.trim().to_string())
                    .map_err(|e| format!("cannot read {}: {e}", self.describe(node)))
            }
        }
    }

    /// [`ClockFiles::write`] for files on this machine (a no-op for files on SSH hosts).
    fn write_local(&self, node: usize, text: &str) -> Result<(), ClockError> {
        let Place::Local(dir) = &self.place else {
            return Ok(());
        };
        let path = self.file(node);
        let tmp = dir.join(format!(".n{}.faketime.tmp", node + 1));
        std::fs::write(&tmp, format!("{text}\n"))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| ClockError::Local { path, source })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `skews` (node → what its clock does) and starts the strobe/skew task if any
    /// needs one. Must run inside a tokio runtime.
    async fn apply(self: &Arc<Self>, skews: &[(usize, Skew)]) -> Result<(), ClockError> {
        self.stop_task();
        {
            let mut st = self.lock();
            for &(node, skew) in skews {
                if let Some(slot) = st.skews.get_mut(node) {
                    *slot = Some(skew);
                }
            }
        }
        let writes = skews.iter().filter_map(|&(node, skew)| match skew {
            Skew::Offset(s) | Skew::Strobe(s) => Some(async move {
                // Each string lives in the future that writes it.
                let text = offset_text(s);
                self.write(node, &text).await
            }),
            Skew::Rate(_) => None,
        });
        for r in crate::remote::join_all(writes).await {
            r?;
        }
        if skews.iter().any(|(_, s)| !matches!(s, Skew::Offset(_))) {
            let files = self.clone();
            let task = tokio::spawn(async move { files.drive().await });
            self.lock().task = Some(task);
        }
        Ok(())
    }

    /// The strobe/skew loop: every [`ClockFiles::step`], flips strobed clocks and advances
    /// skewed ones (the nodes' files written in parallel).
    async fn drive(self: Arc<Self>) {
        let start = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(self.step());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flip = false;
        loop {
            tick.tick().await;
            flip = !flip;
            let elapsed = start.elapsed().as_secs_f64();
            let skews = self.lock().skews.clone();
            let texts: Vec<(usize, String)> = skews
                .iter()
                .enumerate()
                .filter_map(|(node, skew)| {
                    let text = match skew {
                        Some(Skew::Strobe(s)) if flip => offset_text(*s),
                        Some(Skew::Strobe(_)) => ZERO.to_string(),
                        Some(Skew::Rate(r)) => offset_text((r - 1.0) * elapsed),
                        _ => return None,
                    };
                    Some((node, text))
                })
                .collect();
            let this = &self;
            // A failed write leaves the clock where it was; the heal rewrites and checks.
            let _ = crate::remote::join_all(
                texts
                    .iter()
                    .map(|(node, text)| async move { this.write(*node, text).await }),
            )
            .await;
        }
    }

    fn stop_task(&self) {
        if let Some(task) = self.lock().task.take() {
            task.abort();
        }
    }

    /// Every clock back to the true time: stops the strobe/skew task and writes `+0` to every
    /// file (all of them, in parallel, also on error; the first error is returned).
    pub async fn reset_all(&self) -> Result<(), ClockError> {
        self.stop_task();
        self.lock().skews.iter_mut().for_each(|s| *s = None);
        let results =
            crate::remote::join_all((0..self.nodes).map(|node| self.write(node, ZERO))).await;
        results
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .map(drop)
    }

    /// Reads every file back: `Ok` when each holds `+0` and no task moves them.
    pub async fn verify_reset(&self) -> Result<(), String> {
        if self.lock().task.as_ref().is_some_and(|t| !t.is_finished()) {
            return Err("the clock strobe/skew task still runs".into());
        }
        for node in 0..self.nodes {
            let text = self.read(node).await?;
            if text != ZERO {
                return Err(format!(
                    "n{}'s clock is still off: {} holds {text:?}",
                    node + 1,
                    self.describe(node)
                ));
            }
        }
        Ok(())
    }

    /// Removes the shared-memory segment and semaphore libfaketime creates for process `pid`
    /// (`/dev/shm/faketime_shm_PID`, `/dev/shm/sem.faketime_sem_PID`), which it leaves behind
    /// when the process is killed. Call only for a reaped child of ours.
    pub fn remove_shm(pid: u32) {
        let _ = std::fs::remove_file(format!("/dev/shm/faketime_shm_{pid}"));
        let _ = std::fs::remove_file(format!("/dev/shm/sem.faketime_sem_{pid}"));
    }
}

impl Drop for ClockFiles {
    /// Stops the task and resets every file on this machine (a run that ends in any way
    /// leaves no clock off). Files on SSH hosts are reset by the run's heal, and removed with
    /// the node's directory when the nodes stop; `faultline heal --ssh-nodes` resets any
    /// left.
    fn drop(&mut self) {
        self.stop_task();
        for node in 0..self.nodes {
            let _ = self.write_local(node, ZERO);
        }
    }
}

/// libfaketime's relative offset in seconds: `+1.250`, `-3.000`.
fn offset_text(seconds: f64) -> String {
    format!("{seconds:+.3}")
}

/// What a target gives the clock nemesis: its timestamp files and its nodes' names.
pub trait ClockTarget: Send + Sync + 'static {
    /// The target's name, for messages.
    fn target(&self) -> &'static str;
    /// The files the nodes were started under.
    fn files(&self) -> &Arc<ClockFiles>;
    /// A node's name in the history (`n1` for index 0).
    fn node_name(&self, node: usize) -> String {
        format!("n{}", node + 1)
    }
}

/// A clock fault as planned: which nodes, and what each clock does.
#[derive(Debug, Clone, PartialEq)]
struct ClockPlan {
    fault: Fault,
    skews: Vec<(usize, Skew)>,
}

/// The clock nemesis: its own seeded schedule of clock faults, run by the runner next to the
/// target's other faults (`Faults::take_clock`). Each fault lands on every node, each with
/// its own drawn offset, strobe amplitude or rate; its stop resets every clock.
pub struct ClockSchedule {
    target: Box<dyn ClockTarget>,
    faults: Vec<Fault>,
    rng: Rng,
    active: Option<ClockPlan>,
    pending: Option<Pending>,
}

enum Pending {
    Start(ClockPlan),
    Reset,
}

/// Salt of the clock schedule's seed (so it draws apart from the main schedule).
const SALT: u64 = 0xC10C_C10C_C10C_C10C;

impl ClockSchedule {
    /// A clock nemesis over `target` drawing among `faults` (clock faults only), seeded.
    pub fn new(target: Box<dyn ClockTarget>, faults: Vec<Fault>, seed: u64) -> ClockSchedule {
        ClockSchedule {
            target,
            faults,
            rng: Rng::new(seed ^ SALT),
            active: None,
            pending: None,
        }
    }

    /// How far the clock schedule lags the other faults' (both keep `--nemesis-interval` and
    /// `--nemesis-hold`): a seeded 10–30 % of `hold`, so each clock fault begins early inside
    /// another fault — a jump shortly after a partition began is what stretches an old
    /// leader's lease — rather than exactly at its edge.
    pub fn stagger(&mut self, hold: Duration) -> Duration {
        hold.mul_f64(0.1 + self.rng.below(1001) as f64 / 5000.0)
    }

    fn draw(&mut self) -> ClockPlan {
        let fault = self.faults[self.rng.below(self.faults.len() as u64) as usize];
        let nodes = self.target.files().nodes();
        let mut skews = Vec::with_capacity(nodes);
        for node in 0..nodes {
            // Magnitudes 2–10 s, sign drawn: a bump back stretches a lease at once, a bump
            // forward when it is reset.
            let magnitude = (2000 + self.rng.below(8001)) as f64 / 1000.0;
            let signed = if self.rng.below(2) == 0 {
                -magnitude
            } else {
                magnitude
            };
            let skew = match fault {
                Fault::ClockBump => Skew::Offset(signed),
                Fault::ClockStrobe => Skew::Strobe(signed),
                _ => Skew::Rate([0.1, 0.5, 2.0, 10.0][self.rng.below(4) as usize]),
            };
            skews.push((node, skew));
        }
        ClockPlan { fault, skews }
    }

    fn start_op(&self, plan: &ClockPlan) -> FaultOp {
        let mut value = serde_json::Map::new();
        let mut parts = Vec::new();
        for &(node, skew) in &plan.skews {
            let name = self.target.node_name(node);
            let (v, s) = match skew {
                Skew::Offset(s) => (json!(s), format!("{name} {s:+.3}s")),
                Skew::Strobe(s) => (
                    json!({"delta": s, "period_ms": self.target.files().step().as_millis() as u64}),
                    format!("{name} ±{:.3}s", s.abs()),
                ),
                Skew::Rate(r) => (json!({"rate": r}), format!("{name} x{r}")),
            };
            value.insert(name, v);
            parts.push(s);
        }
        FaultOp {
            f: start_f(plan.fault).to_string(),
            value: Value::Object(value),
            summary: format!("{} {}", plan.fault.name(), parts.join(", ")),
        }
    }

    fn reset_op() -> FaultOp {
        FaultOp {
            f: "reset-clock".into(),
            value: Value::Null,
            summary: "reset clocks".into(),
        }
    }
}

/// The history's `f` of a clock fault's start: `bump-clock`, `strobe-clock`, `skew-clock`.
pub fn start_f(fault: Fault) -> &'static str {
    match fault {
        Fault::ClockBump => "bump-clock",
        Fault::ClockStrobe => "strobe-clock",
        _ => "skew-clock",
    }
}

impl Faults for ClockSchedule {
    fn plan_start(&mut self) -> Option<FaultOp> {
        if self.active.is_some() {
            self.pending = Some(Pending::Reset);
            return Some(Self::reset_op());
        }
        if self.faults.is_empty() {
            return None;
        }
        let plan = self.draw();
        let op = self.start_op(&plan);
        self.pending = Some(Pending::Start(plan));
        Some(op)
    }

    fn plan_stop(&mut self) -> Option<FaultOp> {
        self.active.as_ref()?;
        self.pending = Some(Pending::Reset);
        Some(Self::reset_op())
    }

    async fn apply(&mut self, op: &FaultOp) -> Result<Value, NemesisError> {
        match self.pending.take() {
            Some(Pending::Start(plan)) => {
                self.target
                    .files()
                    .apply(&plan.skews)
                    .await
                    .map_err(|e| NemesisError::NotRepaired(e.to_string()))?;
                self.active = Some(plan);
                Ok(op.value.clone())
            }
            Some(Pending::Reset) => {
                self.active = None;
                self.target
                    .files()
                    .reset_all()
                    .await
                    .map_err(|e| NemesisError::NotRepaired(e.to_string()))?;
                Ok(Value::Null)
            }
            None => Err(NemesisError::NotPlanned(op.f.clone())),
        }
    }

    async fn heal_all(&mut self) -> Vec<(FaultOp, Result<Value, NemesisError>)> {
        // Always reset (a clock may be off even if the schedule thinks not, e.g. after an
        // error); recorded only if a fault was in effect.
        let was = self.active.take().is_some();
        let result = self
            .target
            .files()
            .reset_all()
            .await
            .map(|()| Value::Null)
            .map_err(|e| NemesisError::NotRepaired(e.to_string()));
        if was || result.is_err() {
            vec![(Self::reset_op(), result)]
        } else {
            Vec::new()
        }
    }

    async fn verify_healed(&mut self) -> Result<String, NotHealed> {
        self.target
            .files()
            .verify_reset()
            .await
            .map(|()| "every clock file reads +0 again".to_string())
            .map_err(NotHealed::Clock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_written_as_libfaketime_reads_them() {
        assert_eq!(offset_text(-3.25), "-3.250");
        assert_eq!(offset_text(2.0), "+2.000");
        assert_eq!(offset_text(0.0), "+0.000");
    }

    #[tokio::test]
    async fn clock_files_reset_to_zero_and_verify() {
        let dir = std::env::temp_dir().join(format!("faultline-clock-{}", std::process::id()));
        let files = ClockFiles::create(PathBuf::from("/nonexistent.so"), &dir, 2).unwrap();
        files.write(1, "-5.000").await.unwrap();
        assert!(files.verify_reset().await.unwrap_err().contains("n2"));
        files.reset_all().await.unwrap();
        files.verify_reset().await.unwrap();
        assert_eq!(std::fs::read_to_string(files.file(0)).unwrap().trim(), "+0");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
