//! What a check is asked to do: the options of every checker in one place (each checker uses
//! the ones that apply to it), given to [`crate::Checker::check`] with the [`Budget`] the
//! options' limits start.

use crate::budget::{default_memory_limit, Budget, MemoryProbe};
use crate::history::Tuples;
use serde_json::Value;
use std::time::Duration;

/// The options of one check (the "check" step of run → check → report).
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Models: `--initial`, the model's initial state as JSON.
    pub initial: Option<Value>,
    /// Models: shrink an invalid history to a minimal failing sub-history.
    pub shrink: bool,
    /// Models: wall-clock budget for shrinking (on top of the search); `None`: at most ten
    /// times the configurations the check explored (at least 2,048), for at most 10 s.
    pub shrink_time: Option<Duration>,
    /// list-append, rw-register: consistency models to check, as given on the command line;
    /// empty means the default (`serializable`). Validated by [`crate::Checker::validate`].
    pub consistency: Vec<String>,
    /// list-append, rw-register: anomalies to look for (`--anomalies`, Elle's `:anomalies`):
    /// each named anomaly and every anomaly that implies it is forbidden, on top of what the
    /// `consistency` models forbid. Given without `consistency`, only these are searched for
    /// (no default model). Validated by [`crate::Checker::validate`].
    pub anomalies: Vec<String>,
    /// rw-register: which version-order assumptions the inference may make beyond "`nil`
    /// comes first" (Elle's `:wfr-keys?`, `:sequential-keys?`, `:linearizable-keys?`).
    pub inference: Inference,
    /// list-append, rw-register: the cycle-search budget of one strongly connected component
    /// (`--cycle-search-timeout`, Elle's `:cycle-search-timeout`): the wall-clock time the
    /// searches for every anomaly class in one component may take together. When it runs out,
    /// the classes not yet searched there are unknown (reported, never called absent) and the
    /// search goes on with the next component.
    pub cycle_search_timeout: Duration,
    /// long-fork: how many keys each read group covers (default: inferred from the reads).
    pub group_size: Option<usize>,
    /// bank: whether negative balances are allowed.
    pub negative_balances: bool,
    /// bank: `--total-amount`, the total every ok read's balances must add up to; `None`
    /// takes the first ok read's total (elle-cli's default).
    pub total_amount: Option<i64>,
    /// Wall-clock limit; a checker that runs out reports `unknown`.
    pub time_limit: Option<Duration>,
    /// Memory limit in bytes; a checker that runs out reports `unknown`. With
    /// `memory_in_use`, it bounds the heap of the whole process; without, only what a checker
    /// counts itself (the linearizability search's memo arenas).
    pub memory_limit: usize,
    /// Reads the process's heap in use (see [`crate::Budget`]).
    pub memory_in_use: Option<MemoryProbe>,
    /// Models: whether operation values are Jepsen's independent `[key value]` tuples
    /// (`--independent`; [`crate::history::unwrap_tuples`]).
    pub independent: Tuples,
}

/// The default of [`CheckOptions::cycle_search_timeout`]: 10 s per strongly connected
/// component (Elle's default is 1 s per component and class).
pub const DEFAULT_CYCLE_SEARCH_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            initial: None,
            shrink: true,
            shrink_time: None,
            consistency: Vec::new(),
            anomalies: Vec::new(),
            inference: Inference::default(),
            cycle_search_timeout: DEFAULT_CYCLE_SEARCH_TIMEOUT,
            group_size: None,
            negative_balances: false,
            total_amount: None,
            time_limit: Some(Duration::from_secs(600)),
            memory_limit: default_memory_limit(),
            memory_in_use: None,
            independent: Tuples::Auto,
        }
    }
}

/// Version-order assumptions of the rw-register inference, each off unless asked for: a
/// register read shows one version, not its history, so beyond "the initial `nil` precedes
/// every value" the order of a key's versions can only be inferred from what the database
/// promises. Asking for a promise the database does not keep can report anomalies it does not
/// have; not asking finds fewer. See docs/transactions.md.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inference {
    /// `--wfr-keys`: within a committed transaction, writes follow reads: a transaction that
    /// read key k = v and then wrote k = v' installed v' after v.
    pub wfr_keys: bool,
    /// `--sequential-keys`: each key is sequentially consistent: a process observes a key's
    /// versions in version order, so the last value of k one committed transaction of a
    /// process read or wrote precedes the first value of k its next transaction on k read or
    /// wrote.
    pub sequential_keys: bool,
    /// `--linearizable-keys`: each key is linearizable: if a committed transaction completed
    /// before another began, the last value of k the first read or wrote precedes the first
    /// value of k the second read or wrote.
    pub linearizable_keys: bool,
}

impl Inference {
    /// The flags asked for, as on the command line (`wfr-keys`, …).
    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.wfr_keys {
            out.push("wfr-keys");
        }
        if self.sequential_keys {
            out.push("sequential-keys");
        }
        if self.linearizable_keys {
            out.push("linearizable-keys");
        }
        out
    }

    /// Whether any assumption is asked for.
    pub fn any(&self) -> bool {
        self.wfr_keys || self.sequential_keys || self.linearizable_keys
    }
}

impl CheckOptions {
    /// The time and memory limits of one check, starting now.
    pub fn budget(&self) -> Budget {
        Budget::new(self.time_limit, self.memory_limit, self.memory_in_use)
    }
}
