//! The one budget every checker respects (the "check" step of run → check → report): a
//! wall-clock time limit, a memory limit and, for searches, a state limit, with the typed
//! reason a check stopped ([`StopReason`]).
//!
//! The library cannot see the process's heap by itself: a program that wants the memory limit
//! to cover everything a check allocates (states of every model, graphs, reports) passes a
//! [`MemoryProbe`], a function returning the bytes currently allocated (the `faultline` binary
//! counts them in its global allocator). Without a probe, only what a checker counts itself
//! (the linearizability search's memo arenas, through [`Budget::charge`]) is compared with the
//! limit. Either way, a limit that runs out turns the verdict into `unknown`, never a guess.
//!
//! A `Budget` is cheap to clone: clones share the clock, the memory count and the stop flags,
//! so the partitions of one check searched in parallel spend one budget.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Returns the bytes of heap currently allocated by the whole process.
pub type MemoryProbe = fn() -> usize;

/// Why a check (or one search inside it) stopped before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The wall-clock time limit passed.
    Time,
    /// The memory in use went past the memory limit.
    Memory,
    /// A search memoized more configurations than its state limit allows (the linearizability
    /// driver then gives other partitions a turn before searching on with a larger limit).
    StateLimit,
    /// The verdict was already decided elsewhere (an earlier partition is invalid), so this
    /// search was stopped; never part of a verdict.
    Cancelled,
    /// The caller asked every search to stop ([`Budget::interrupt`]).
    Interrupted,
    /// The transactional checker's per-component cycle-search budget
    /// (`--cycle-search-timeout`, Elle's `:cycle-search-timeout`) ran out in a strongly
    /// connected component: the classes not yet searched there are unknown, the rest of the
    /// check went on.
    CycleSearchTimeout,
}

#[derive(Debug)]
struct Shared {
    started: Instant,
    time_limit: Option<Duration>,
    deadline: Option<Instant>,
    memory_limit: usize,
    memory_in_use: Option<MemoryProbe>,
    /// Memory counted by the searches themselves ([`Budget::charge`]).
    counted: AtomicUsize,
    /// Searches whose rank is at least this stop with [`StopReason::Cancelled`].
    cancel_from: AtomicUsize,
    interrupted: AtomicBool,
    state_limit: AtomicU64,
}

/// The time, memory and state limits of one check, started when the check starts.
#[derive(Debug, Clone)]
pub struct Budget {
    shared: Arc<Shared>,
    /// This search's place in the check's fixed order (see [`Budget::ranked`]).
    rank: usize,
}

impl Budget {
    /// A budget starting now, with a time limit, a memory limit in bytes and an optional probe
    /// of the process's heap.
    pub fn new(
        time_limit: Option<Duration>,
        memory_limit: usize,
        memory_in_use: Option<MemoryProbe>,
    ) -> Budget {
        let started = Instant::now();
        Budget::until(
            started,
            time_limit,
            time_limit.map(|t| started + t),
            memory_limit,
            memory_in_use,
        )
    }

    /// A budget ending at `deadline` (the earlier of several limits, say); `time_limit` is the
    /// limit as the user gave it, for messages.
    pub fn until(
        started: Instant,
        time_limit: Option<Duration>,
        deadline: Option<Instant>,
        memory_limit: usize,
        memory_in_use: Option<MemoryProbe>,
    ) -> Budget {
        Budget {
            shared: Arc::new(Shared {
                started,
                time_limit,
                deadline,
                memory_limit,
                memory_in_use,
                counted: AtomicUsize::new(0),
                cancel_from: AtomicUsize::new(usize::MAX),
                interrupted: AtomicBool::new(false),
                state_limit: AtomicU64::new(u64::MAX),
            }),
            rank: 0,
        }
    }

    /// No limits at all (tests and tools).
    pub fn unlimited() -> Budget {
        Budget::new(None, usize::MAX, None)
    }

    /// When the check started.
    pub fn started(&self) -> Instant {
        self.shared.started
    }

    /// Milliseconds since the check started.
    pub fn millis(&self) -> f64 {
        self.shared.started.elapsed().as_secs_f64() * 1e3
    }

    /// The time limit as given.
    pub fn time_limit(&self) -> Option<Duration> {
        self.shared.time_limit
    }

    /// When the time limit runs out.
    pub fn deadline(&self) -> Option<Instant> {
        self.shared.deadline
    }

    /// The memory limit in bytes.
    pub fn memory_limit(&self) -> usize {
        self.shared.memory_limit
    }

    /// The probe of the process's heap, if the program gave one.
    pub fn memory_probe(&self) -> Option<MemoryProbe> {
        self.shared.memory_in_use
    }

    /// The same budget (shared clock, memory and flags) for the search at place `rank` in the
    /// check's fixed order: [`Budget::cancel_from`] stops the searches from a rank on.
    pub fn ranked(&self, rank: usize) -> Budget {
        Budget {
            shared: Arc::clone(&self.shared),
            rank,
        }
    }

    /// True when the probe says the process uses more than the memory limit.
    pub fn memory_exceeded(&self) -> bool {
        self.shared
            .memory_in_use
            .is_some_and(|probe| probe() > self.shared.memory_limit)
    }

    /// True once the deadline has passed.
    pub fn time_exceeded(&self) -> bool {
        self.shared.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Why this search must stop now, if it must: interrupted, cancelled, memory (probe),
    /// time — in that order.
    pub fn exceeded(&self) -> Option<StopReason> {
        if self.shared.interrupted.load(Ordering::Relaxed) {
            Some(StopReason::Interrupted)
        } else if self.rank >= self.shared.cancel_from.load(Ordering::Relaxed) {
            Some(StopReason::Cancelled)
        } else if self.memory_exceeded() {
            Some(StopReason::Memory)
        } else if self.time_exceeded() {
            Some(StopReason::Time)
        } else {
            None
        }
    }

    /// Records `bytes` more memory counted by a search; returns why it must stop, if it must
    /// (the counted memory past the limit is [`StopReason::Memory`] too).
    pub fn charge(&self, bytes: usize) -> Option<StopReason> {
        let used = self.shared.counted.fetch_add(bytes, Ordering::Relaxed) + bytes;
        match self.exceeded() {
            Some(r @ (StopReason::Interrupted | StopReason::Cancelled)) => Some(r),
            _ if used > self.shared.memory_limit => Some(StopReason::Memory),
            other => other,
        }
    }

    /// Gives back memory recorded with [`Budget::charge`].
    pub fn release(&self, bytes: usize) {
        let counted = &self.shared.counted;
        counted.fetch_sub(
            bytes.min(counted.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
    }

    /// The number of configurations a search may memoize before it stops with
    /// [`StopReason::StateLimit`].
    pub fn state_limit(&self) -> u64 {
        self.shared.state_limit.load(Ordering::Relaxed)
    }

    /// Sets the per-search configuration limit.
    pub fn set_state_limit(&self, limit: u64) {
        self.shared.state_limit.store(limit, Ordering::Relaxed);
    }

    /// Stops every search of rank `rank` or later ([`StopReason::Cancelled`]); searches of an
    /// earlier rank go on.
    pub fn cancel_from(&self, rank: usize) {
        self.shared.cancel_from.fetch_min(rank, Ordering::Relaxed);
    }

    /// Asks every search using this budget to stop ([`StopReason::Interrupted`]).
    pub fn interrupt(&self) {
        self.shared.interrupted.store(true, Ordering::Relaxed);
    }

    /// Words a stop reason for an `unknown` verdict: `time limit of 3 s reached`,
    /// `memory limit of 200 MiB reached`, `state limit`, …
    pub fn describe(&self, reason: StopReason) -> String {
        match reason {
            StopReason::Time => match self.shared.time_limit {
                Some(t) => format!("time limit of {} s reached", t.as_secs_f64()),
                None => "time limit reached".to_string(),
            },
            StopReason::Memory => {
                format!(
                    "memory limit of {} MiB reached",
                    self.shared.memory_limit >> 20
                )
            }
            StopReason::StateLimit => "state limit".to_string(),
            StopReason::Cancelled => "cancelled".to_string(),
            StopReason::Interrupted => "interrupted".to_string(),
            StopReason::CycleSearchTimeout => "cycle-search timeout".to_string(),
        }
    }
}

/// The default memory limit: half of the memory this process may use, i.e. half of the
/// smaller of physical memory (`MemTotal` in /proc/meminfo) and the cgroup's limit
/// (`memory.max`, cgroup v2, or `memory.limit_in_bytes`, v1), so a check in a container stops
/// with `unknown` long before the kernel's OOM killer would step in. 4 GiB when neither can be
/// read.
pub fn default_memory_limit() -> usize {
    let physical = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<usize>().ok())
            .map(|kb| kb.saturating_mul(1024))
    });
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .filter_map(|s| s.trim().parse::<usize>().ok())
    .min();
    match (physical, cgroup) {
        (Some(p), Some(c)) => p.min(c) / 2,
        (Some(m), None) | (None, Some(m)) => m / 2,
        (None, None) => 4 << 30,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn huge() -> usize {
        usize::MAX
    }

    #[test]
    fn a_probe_over_the_budget_is_reported_first() {
        let b = Budget::new(Some(Duration::ZERO), 10, Some(huge));
        assert_eq!(b.exceeded(), Some(StopReason::Memory));
        assert_eq!(
            b.describe(StopReason::Memory),
            "memory limit of 0 MiB reached"
        );
        let b = Budget::new(Some(Duration::ZERO), 10, None);
        assert_eq!(b.exceeded(), Some(StopReason::Time));
        assert_eq!(b.describe(StopReason::Time), "time limit of 0 s reached");
        assert_eq!(Budget::unlimited().exceeded(), None);
    }

    #[test]
    fn cancelling_from_a_rank_stops_only_later_searches() {
        let b = Budget::unlimited();
        let (first, third) = (b.ranked(0), b.ranked(2));
        b.cancel_from(1);
        assert_eq!(first.charge(0), None);
        assert_eq!(third.charge(0), Some(StopReason::Cancelled));
        b.interrupt();
        assert_eq!(first.exceeded(), Some(StopReason::Interrupted));
    }

    #[test]
    fn counted_memory_past_the_limit_stops() {
        let b = Budget::new(None, 100, None);
        assert_eq!(b.charge(60), None);
        assert_eq!(b.charge(60), Some(StopReason::Memory));
        b.release(60);
        assert_eq!(b.charge(0), None);
    }

    #[test]
    fn the_default_memory_limit_is_positive() {
        assert!(default_memory_limit() > 0);
    }
}
