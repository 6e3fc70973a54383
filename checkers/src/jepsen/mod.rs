//! Jepsen's workload checkers — counter, set, set-full, bank, long-fork, unique-ids,
//! total-queue, causal-reverse, and elle-cli's sequential — and Maelstrom's (echo,
//! convergent-set, kafka): the "check" step for histories of those workloads, one file each.
//!
//! Every checker has the same shape: paired operations, the [`crate::CheckOptions`] and the
//! check's [`crate::Budget`] in, a [`crate::Report`] out, with a verdict (never a guess:
//! `unknown` when it cannot decide), the anomalies it found by name, lines a person reads, a
//! checker-specific JSON `details` object. Shared helpers are in [`common`]. A new checker is
//! one file here plus one line in [`crate::registry`].

pub(crate) mod bank;
pub(crate) mod causal_reverse;
pub(crate) mod common;
pub(crate) mod convergent_set;
pub(crate) mod counter;
pub(crate) mod echo;
pub(crate) mod kafka;
pub(crate) mod long_fork;
pub(crate) mod sequential;
pub(crate) mod set;
pub(crate) mod set_full;
pub(crate) mod set_full_timeline;
pub(crate) mod total_queue;
pub(crate) mod unique_ids;

/// True when `--workload name` can check a compact history ([`check_compact_workload`]).
pub fn compact_workload(name: &str) -> bool {
    name == "echo"
}

/// Checks a history read compactly ([`crate::history::read_compact`]) with the workload
/// checker `name` ([`compact_workload`]), giving the report the general path gives; `None`
/// for a history that path must judge (its errors are worded there).
pub fn check_compact_workload(
    name: &str,
    history: &crate::history::CompactHistory,
    budget: &crate::Budget,
) -> Option<crate::Report> {
    match name {
        "echo" => echo::check_compact(history, budget),
        _ => None,
    }
}
