//! Resource limits shared by every checker (the "check" step of run → check → report): a
//! wall-clock deadline and a memory budget, consulted at the checkers' budget checkpoints.
//!
//! The library cannot see the process's heap by itself: a program that wants the memory budget
//! to cover everything a check allocates (states of every model, graphs, reports) passes a
//! [`MemoryProbe`], a function returning the bytes currently allocated (the `faultline` binary
//! counts them in its global allocator). Without a probe, only what a checker counts itself
//! (the linearizability search's memo arenas) is compared with the budget. Either way, a limit
//! that runs out turns the verdict into `unknown`, never a guess.

use std::time::{Duration, Instant};

/// Returns the bytes of heap currently allocated by the whole process.
pub type MemoryProbe = fn() -> usize;

/// Which limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The wall-clock deadline passed.
    Time,
    /// The memory in use went past the budget.
    Memory,
}

/// The limits of one check: started when the check starts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The time limit as given (for messages).
    pub time_limit: Option<Duration>,
    /// When the time limit runs out.
    pub deadline: Option<Instant>,
    /// The memory budget in bytes.
    pub memory_limit: usize,
    /// Reads the process's heap in use, when the program provides one.
    pub memory_in_use: Option<MemoryProbe>,
}

impl Limits {
    /// Limits starting now.
    pub fn start(
        time_limit: Option<Duration>,
        memory_limit: usize,
        memory_in_use: Option<MemoryProbe>,
    ) -> Limits {
        Limits {
            time_limit,
            deadline: time_limit.map(|t| Instant::now() + t),
            memory_limit,
            memory_in_use,
        }
    }

    /// No limits at all (tests and tools).
    pub fn unlimited() -> Limits {
        Limits::start(None, usize::MAX, None)
    }

    /// True when the probe says the process uses more than the budget.
    pub fn memory_exceeded(&self) -> bool {
        self.memory_in_use
            .is_some_and(|probe| probe() > self.memory_limit)
    }

    /// True once the deadline has passed.
    pub fn time_exceeded(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The limit that has run out, if one has (memory first: it is the more urgent).
    pub fn exceeded(&self) -> Option<Exceeded> {
        if self.memory_exceeded() {
            Some(Exceeded::Memory)
        } else if self.time_exceeded() {
            Some(Exceeded::Time)
        } else {
            None
        }
    }

    /// Names a limit that ran out, for an `unknown` reason: `time limit of 3 s reached`,
    /// `memory limit of 200 MiB reached`.
    pub fn describe(&self, e: Exceeded) -> String {
        match e {
            Exceeded::Time => match self.time_limit {
                Some(t) => format!("time limit of {} s reached", t.as_secs_f64()),
                None => "time limit reached".to_string(),
            },
            Exceeded::Memory => format!("memory limit of {} MiB reached", self.memory_limit >> 20),
        }
    }
}

/// The default memory budget: half of the memory this process may use, i.e. half of the
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
        let l = Limits::start(Some(Duration::ZERO), 10, Some(huge));
        assert_eq!(l.exceeded(), Some(Exceeded::Memory));
        assert_eq!(
            l.describe(Exceeded::Memory),
            "memory limit of 0 MiB reached"
        );
        let l = Limits::start(Some(Duration::ZERO), 10, None);
        assert_eq!(l.exceeded(), Some(Exceeded::Time));
        assert_eq!(l.describe(Exceeded::Time), "time limit of 0 s reached");
        assert_eq!(Limits::unlimited().exceeded(), None);
    }

    #[test]
    fn the_default_memory_limit_is_positive() {
        assert!(default_memory_limit() > 0);
    }
}
