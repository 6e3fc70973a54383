//! What a local run leaves on this machine when faultline dies without healing (SIGKILL,
//! power cut of the terminal), and the sweep `faultline heal` (without `--ssh-nodes`) does.
//!
//! Part of the "run" step of run → check → report, at its edges. Every run records itself in
//! faultline's state directory ([`state_dir`]: `$FAULTLINE_STATE_DIR`, else
//! `$XDG_RUNTIME_DIR/faultline`, else `/tmp/faultline-UID`) as `run-PID-START.json` (the
//! faultline process's pid and start time, and the run's store directory) while it runs
//! ([`register`]; the record is removed when the run ends in any orderly way). A record whose
//! faultline is gone is a run that could not heal. [`sweep`] then undoes, for each such run:
//!
//! - **processes** faultline started (the demo's nodes, the databases it starts locally) that
//!   still run: every child faultline spawns is listed, with its start time, in
//!   `run-PID-START.pids` ([`note_child`]); they die with faultline through
//!   `PR_SET_PDEATHSIG`, so normally none is left; a survivor (same pid *and* start time, so
//!   never a reused pid) gets SIGCONT, then SIGKILL, with its process group;
//! - **clock faults**: every libfaketime timestamp file of the run (`DIR/clock/*.faketime`)
//!   back to `+0` (docs/clocks.md);
//!
//! and, for every run, libfaketime's `/dev/shm/faketime_shm_PID` and `sem.faketime_sem_PID` of
//! processes that no longer exist (libfaketime leaves them when its process is SIGKILLed).
//!
//! Packet faults and partitions of local runs live in faultline's own memory (the demo's link
//! proxies are threads of faultline; etcd's network namespaces are anonymous and vanish with
//! their processes), and faultline adds no `tc` qdisc and no iptables rule on this machine, so
//! nothing of them outlives faultline. [`verify`] re-reads everything after the sweep.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

/// Where faultline records its running local runs: `$FAULTLINE_STATE_DIR`, else
/// `$XDG_RUNTIME_DIR/faultline`, else `/tmp/faultline-UID`.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FAULTLINE_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("faultline");
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("faultline-{uid}"))
}

/// A running run's record in the state directory; removed when dropped (the run ended and
/// healed, or failed before it broke anything).
#[derive(Debug)]
pub struct RunRecord {
    path: PathBuf,
}

/// Runs of this process whose record is still in place (the list of children is removed with
/// the last).
static LIVE_RECORDS: AtomicUsize = AtomicUsize::new(0);

/// Serializes appends to this process's list of children.
static CHILDREN: Mutex<()> = Mutex::new(());

impl Drop for RunRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if LIVE_RECORDS.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _guard = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
            if LIVE_RECORDS.load(Ordering::SeqCst) == 0 {
                let _ = std::fs::remove_file(children_file());
            }
        }
    }
}

/// This process's list of children: `STATE/run-PID-START.pids`.
fn children_file() -> PathBuf {
    let pid = std::process::id();
    let start = start_time(pid).unwrap_or(0);
    state_dir().join(format!("run-{pid}-{start}.pids"))
}

/// Lists child `pid` (with its start time) for `faultline heal`, while a run of this process
/// is recorded. Best effort: an error only means heal would not find the child.
pub fn note_child(pid: u32) {
    if LIVE_RECORDS.load(Ordering::SeqCst) == 0 {
        return;
    }
    let Some(start) = start_time(pid) else { return };
    let _guard = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(children_file());
    if let Ok(mut file) = file {
        let _ = writeln!(file, "{pid} {start}");
    }
}

/// Records that this process runs against the store directory `run_dir`. An error names the
/// file (the run goes on without a record; `faultline heal` would then not find it).
pub fn register(run_dir: &Path) -> Result<RunRecord, std::io::Error> {
    let dir = state_dir();
    std::fs::create_dir_all(&dir)?;
    let pid = std::process::id();
    let start = start_time(pid).unwrap_or(0);
    let path = dir.join(format!("run-{pid}-{start}.json"));
    let full = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    let body = json!({"pid": pid, "start_time": start, "dir": full});
    std::fs::write(&path, body.to_string())
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    LIVE_RECORDS.fetch_add(1, Ordering::SeqCst);
    Ok(RunRecord { path })
}

/// The start time of process `pid` (clock ticks since boot, field 22 of `/proc/PID/stat`), or
/// `None` when there is no such process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is a live process (not a zombie).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X"))
}

/// One run record read back.
#[derive(Debug, Clone)]
struct Record {
    file: PathBuf,
    pid: u32,
    start_time: u64,
    dir: PathBuf,
}

impl Record {
    /// Whether the faultline that wrote it still runs (same pid, same start time).
    fn running(&self) -> bool {
        alive(self.pid) && start_time(self.pid) == Some(self.start_time)
    }
}

fn records() -> Vec<Record> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(state_dir()) else {
        return out;
    };
    for entry in entries.flatten() {
        let file = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if !(name.starts_with("run-") && name.ends_with(".json")) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let (Some(pid), Some(start_time), Some(dir)) = (
            v["pid"].as_u64(),
            v["start_time"].as_u64(),
            v["dir"].as_str(),
        ) else {
            // Not ours or torn (faultline killed while writing it): nothing to heal from it.
            let _ = std::fs::remove_file(&file);
            continue;
        };
        out.push(Record {
            file,
            pid: pid as u32,
            start_time,
            dir: PathBuf::from(dir),
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// A dead faultline's list of children: the list's file, the faultline's pid, and the
/// `(pid, start time)` of each child.
type Children = (PathBuf, u32, Vec<(u32, u64)>);

/// The lists of children of every faultline that is gone.
fn dead_children() -> Vec<Children> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(state_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(stem) = name
            .strip_prefix("run-")
            .and_then(|n| n.strip_suffix(".pids"))
        else {
            continue;
        };
        let Some((pid, start)) = stem
            .split_once('-')
            .and_then(|(p, s)| Some((p.parse::<u32>().ok()?, s.parse::<u64>().ok()?)))
        else {
            continue;
        };
        if alive(pid) && start_time(pid) == Some(start) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let children = text
            .lines()
            .filter_map(|l| {
                let (p, s) = l.split_once(' ')?;
                Some((p.parse().ok()?, s.trim().parse().ok()?))
            })
            .collect();
        out.push((entry.path(), pid, children));
    }
    out
}

/// Whether `(pid, start)` names a process that still runs (not a reused pid).
fn still_runs(pid: u32, start: u64) -> bool {
    alive(pid) && start_time(pid) == Some(start)
}

/// The timestamp files of a run's clock faults: `DIR/clock/*.faketime`.
fn clock_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join("clock"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "faketime")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    out.sort();
    out
}

/// libfaketime's `/dev/shm` files of processes that no longer exist (and belong to this
/// user).
pub fn orphaned_shm() -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        let pid = name
            .strip_prefix("faketime_shm_")
            .or_else(|| name.strip_prefix("sem.faketime_sem_"))
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        let mine = entry.metadata().is_ok_and(|m| m.uid() == uid);
        if mine && !alive(pid) {
            out.push(entry.path());
        }
    }
    out.sort();
    out
}

/// What the sweep did for one dead run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptRun {
    /// The run's store directory.
    pub dir: PathBuf,
    /// The dead faultline's pid.
    pub pid: u32,
    /// Processes it killed (pids).
    pub killed: Vec<u32>,
    /// Timestamp files it reset to `+0` (those that held another offset).
    pub clocks_reset: Vec<PathBuf>,
    /// Timestamp files already at `+0`.
    pub clocks_ok: usize,
}

/// What [`sweep`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Dead runs healed (their records removed).
    pub runs: Vec<SweptRun>,
    /// Runs whose faultline still runs: left alone.
    pub running: Vec<(u32, PathBuf)>,
    /// Orphaned libfaketime `/dev/shm` files removed.
    pub shm_removed: Vec<PathBuf>,
    /// Children of dead faultlines that SIGKILL did not end (pids).
    pub survivors: Vec<u32>,
}

impl Swept {
    /// One line per finding, for `faultline heal`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.runs {
            let run = if r.dir.as_os_str().is_empty() {
                "a run".to_string()
            } else {
                format!("run {}", r.dir.display())
            };
            out.push(format!(
                "{run} (faultline pid {} is gone): killed {} leftover process(es){}; reset {} \
                 clock file(s) to +0{}",
                r.pid,
                r.killed.len(),
                if r.killed.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (pids {})",
                        r.killed
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                },
                r.clocks_reset.len(),
                if r.clocks_ok > 0 {
                    format!(" ({} already at +0)", r.clocks_ok)
                } else {
                    String::new()
                }
            ));
        }
        for (pid, dir) in &self.running {
            out.push(format!(
                "run {} is still running (faultline pid {pid}): left alone",
                dir.display()
            ));
        }
        out.push(format!(
            "removed {} orphaned libfaketime file(s) from /dev/shm",
            self.shm_removed.len()
        ));
        if self.runs.is_empty() && self.running.is_empty() {
            out.push(format!(
                "no local run left anything behind (records in {})",
                state_dir().display()
            ));
        }
        out.push(
            "faultline adds no tc qdisc and no iptables rule for local runs \
             (the demo's packet faults and partitions are its own proxies; etcd's are network \
             namespaces that end with their processes)"
                .into(),
        );
        out
    }
}

/// Heals what dead local runs left behind (see the module docs); runs still going are left
/// alone.
pub fn sweep() -> Swept {
    let mut swept = Swept::default();
    for record in records() {
        if record.running() {
            swept.running.push((record.pid, record.dir.clone()));
            continue;
        }
        let mut clocks_reset = Vec::new();
        let mut clocks_ok = 0;
        for file in clock_files(&record.dir) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if text.trim() == "+0" {
                clocks_ok += 1;
                continue;
            }
            if std::fs::write(&file, "+0\n").is_ok() {
                clocks_reset.push(file);
            }
        }
        let _ = std::fs::remove_file(&record.file);
        swept.runs.push(SweptRun {
            dir: record.dir,
            pid: record.pid,
            killed: Vec::new(),
            clocks_reset,
            clocks_ok,
        });
    }
    for (file, faultline, children) in dead_children() {
        let mut killed = Vec::new();
        for &(pid, start) in &children {
            if !still_runs(pid, start) {
                continue;
            }
            // SAFETY: kill(2) has no memory-safety preconditions; (pid, start time) names the
            // very process the dead faultline started (each node leads its process group).
            unsafe {
                for target in [-(pid as libc::pid_t), pid as libc::pid_t] {
                    libc::kill(target, libc::SIGCONT);
                    libc::kill(target, libc::SIGKILL);
                }
            }
            killed.push(pid);
        }
        if !killed.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
        let survivors: Vec<(u32, u64)> = children
            .iter()
            .copied()
            .filter(|&(p, s)| still_runs(p, s))
            .collect();
        match swept.runs.iter_mut().find(|r| r.pid == faultline) {
            Some(run) => run.killed.extend(&killed),
            None if !killed.is_empty() => swept.runs.push(SweptRun {
                dir: PathBuf::new(),
                pid: faultline,
                killed,
                clocks_reset: Vec::new(),
                clocks_ok: 0,
            }),
            None => {}
        }
        if survivors.is_empty() {
            let _ = std::fs::remove_file(&file);
        } else {
            swept
                .survivors
                .extend(survivors.into_iter().map(|(p, _)| p));
        }
    }
    for file in orphaned_shm() {
        if std::fs::remove_file(&file).is_ok() {
            swept.shm_removed.push(file);
        }
    }
    swept
}

/// Verifies the sweep: no process a dead faultline started left, every timestamp file of its
/// runs at `+0`.
/// `Err` names what is still there.
pub fn verify(swept: &Swept) -> Result<String, String> {
    if !swept.survivors.is_empty() {
        return Err(format!(
            "processes a dead faultline started survived SIGKILL: {:?}",
            swept.survivors
        ));
    }
    for run in &swept.runs {
        for file in clock_files(&run.dir) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if text.trim() != "+0" {
                return Err(format!("{} still holds {:?}", file.display(), text.trim()));
            }
        }
    }
    Ok(format!(
        "{} dead run(s) healed: no process left, every clock file at +0",
        swept.runs.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_read_and_a_record_is_removed_when_dropped() {
        let me = std::process::id();
        assert!(start_time(me).is_some());
        assert!(alive(me));
        let dir = std::env::temp_dir().join(format!("faultline-leftovers-{me}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_var("FAULTLINE_STATE_DIR", dir.join("state"));
        let record = register(&dir).unwrap();
        let found = records();
        assert_eq!(found.len(), 1);
        assert!(
            found[0].running(),
            "our own record is of a running faultline"
        );
        drop(record);
        assert!(records().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
