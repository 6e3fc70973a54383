//! What a check is asked to do: the options of every checker in one place (each checker uses
//! the ones that apply to it), given to [`crate::Checker::check`] with the [`Budget`] the
//! options' limits start.

use crate::budget::{default_memory_limit, Budget, MemoryProbe};
use serde_json::Value;
use std::time::Duration;

/// The options of one check (the "check" step of run → check → report).
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Models: `--initial`, the model's initial state as JSON.
    pub initial: Option<Value>,
    /// Models: shrink an invalid history to a minimal failing sub-history.
    pub shrink: bool,
    /// Models: wall-clock budget for shrinking (on top of the search).
    pub shrink_time: Duration,
    /// list-append, rw-register: consistency models to check, as given on the command line;
    /// empty means the default (`serializable`). Validated by [`crate::Checker::validate`].
    pub consistency: Vec<String>,
    /// long-fork: how many keys each read group covers (default: inferred from the reads).
    pub group_size: Option<usize>,
    /// bank: whether negative balances are allowed.
    pub negative_balances: bool,
    /// Wall-clock limit; a checker that runs out reports `unknown`.
    pub time_limit: Option<Duration>,
    /// Memory limit in bytes; a checker that runs out reports `unknown`. With
    /// `memory_in_use`, it bounds the heap of the whole process; without, only what a checker
    /// counts itself (the linearizability search's memo arenas).
    pub memory_limit: usize,
    /// Reads the process's heap in use (see [`crate::Budget`]).
    pub memory_in_use: Option<MemoryProbe>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            initial: None,
            shrink: true,
            shrink_time: Duration::from_secs(5),
            consistency: Vec::new(),
            group_size: None,
            negative_balances: false,
            time_limit: Some(Duration::from_secs(600)),
            memory_limit: default_memory_limit(),
            memory_in_use: None,
        }
    }
}

impl CheckOptions {
    /// The time and memory limits of one check, starting now.
    pub fn budget(&self) -> Budget {
        Budget::new(self.time_limit, self.memory_limit, self.memory_in_use)
    }
}
