//! Performance under faults: availability during faults and latency outside them, read from a
//! recorded history (between "check" and "report").
//!
//! This is how `faultline demo` makes CAP and PACELC visible as numbers. A *fault window* runs
//! from the completion of a nemesis operation that breaks something (`start-partition`, `kill`,
//! `pause`) to the invocation of the one that heals it (`stop-partition`, `restart`,
//! `resume`); a window still open at the end of the history lasts until its end. A client
//! operation is *during faults* when its interval overlaps a window (of the chosen kind), and
//! *outside* otherwise. Availability is the share of operations during faults that the system
//! answered (`ok`, or a definite answer such as a failed compare) instead of refusing them or
//! leaving them without an answer; latency is measured on `ok` operations outside every window.

use crate::history::{Operation, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

/// Errors that are the operation's own answer, not a refusal to serve it.
pub const SEMANTIC_FAILURES: &[&str] = &["cas-mismatch"];

/// True for a `fail` that answered the operation (a cas whose compare failed) rather than
/// refusing it.
pub fn is_semantic_failure(op: &Operation) -> bool {
    op.error
        .as_ref()
        .and_then(|e| e.as_str())
        .is_some_and(|e| SEMANTIC_FAILURES.contains(&e))
}

/// A time interval in nanoseconds since the run began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// When the fault was in place.
    pub start: i64,
    /// When healing began.
    pub end: i64,
    /// What kind of fault (`partition`, `kill`, `pause`, `packet`, `corrupt`, `lose-unfsynced`, `clock-bump`,
    /// `clock-strobe`, `clock-skew`).
    pub kind: &'static str,
}

/// Outcome counts for a set of operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Completed `ok`.
    pub ok: u64,
    /// Completed `fail`.
    pub fail: u64,
    /// Indeterminate.
    pub info: u64,
    /// The `fail`s that were refusals (unavailable, not the leader, no quorum), as opposed to
    /// answers of the operation's own semantics (a cas whose compare failed).
    pub refused: u64,
}

impl Counts {
    /// All operations counted.
    pub fn total(&self) -> u64 {
        self.ok + self.fail + self.info
    }

    /// The share of operations the system answered (ok, or a definite answer such as a failed
    /// compare) rather than refused or left without an answer; None when there were none.
    pub fn availability(&self) -> Option<f64> {
        (self.total() > 0)
            .then(|| (self.total() - self.refused - self.info) as f64 / self.total() as f64)
    }

    fn add(&mut self, op: &Operation) {
        match op.outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => {
                self.fail += 1;
                if !is_semantic_failure(op) {
                    self.refused += 1;
                }
            }
            Outcome::Info => self.info += 1,
        }
    }
}

/// Latency percentiles of one operation kind, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// How many operations were measured.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// The performance summary of a history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Perf {
    /// Fault windows found in the history.
    pub windows: Vec<Window>,
    /// Client operations overlapping a partition window.
    pub during_partitions: Counts,
    /// Client operations overlapping any fault window.
    pub during_faults: Counts,
    /// Client operations outside every fault window.
    pub outside_faults: Counts,
    /// Latency of `ok` operations outside every fault window, per `f`.
    pub latency_outside: BTreeMap<String, Latency>,
    /// Latency of every `ok` operation outside every fault window, whatever its `f` (`None`
    /// when there was none): what a test plan's `max_p99_outside_faults_ms` bounds.
    pub latency_outside_all: Option<Latency>,
    /// Client operations per second over the whole history.
    pub throughput: f64,
}

/// The fault windows of a history, from its nemesis operations.
pub fn fault_windows(ops: &[Operation]) -> Vec<Window> {
    let end_of_history = ops
        .iter()
        .filter_map(|o| o.complete_time.or(o.invoke_time))
        .max()
        .unwrap_or(0);
    // Slot → (start, the window's kind); clock faults share one slot (one at a time) but
    // keep their own kind.
    let mut open: BTreeMap<(&'static str, String), (i64, &'static str)> = BTreeMap::new();
    let mut windows = Vec::new();
    for op in ops.iter().filter(|o| !o.client) {
        let Some(f) = op.f.as_deref() else { continue };
        let Some(t) = op.invoke_time else { continue };
        let target = op.input.to_string();
        let (kind, starts) = match f {
            "start-partition" => ("partition", true),
            "stop-partition" => ("partition", false),
            "kill" => ("kill", true),
            // A restart ends the node's kill, or its corruption.
            "restart" => ("kill", false),
            "pause" => ("pause", true),
            "resume" => ("pause", false),
            "start-packet" => ("packet", true),
            "stop-packet" => ("packet", false),
            "corrupt" => ("corrupt", true),
            "bump-clock" => ("clock-bump", true),
            "strobe-clock" => ("clock-strobe", true),
            "skew-clock" => ("clock-skew", true),
            "reset-clock" => ("clock", false),
            "lose-unfsynced" => ("lose-unfsynced", true),
            "restart-unfsynced" => ("lose-unfsynced", false),
            _ => continue,
        };
        // Partitions, packet, clock faults and lose-unfsynced have one window at a time;
        // kill/pause/corrupt are per node (a corruption's value names its node).
        let slot = match kind {
            "partition" | "packet" | "lose-unfsynced" => (kind, String::new()),
            k if k.starts_with("clock") => ("clock", String::new()),
            "corrupt" => (
                "kill",
                op.input
                    .get("node")
                    .map(ToString::to_string)
                    .unwrap_or(target),
            ),
            _ => (kind, target),
        };
        if starts {
            // The second record of a start (its completion) moves the start later.
            open.insert(slot, (t, kind));
        } else if let Some((start, kind)) = open.remove(&slot) {
            windows.push(Window {
                start,
                end: t,
                kind,
            });
        }
    }
    for (_, (start, kind)) in open {
        windows.push(Window {
            start,
            end: end_of_history,
            kind,
        });
    }
    windows.sort_by_key(|w| (w.start, w.end));
    windows
}

/// Summarizes availability and latency of the client operations in `ops`.
pub fn summarize(ops: &[Operation]) -> Perf {
    let windows = fault_windows(ops);
    let mut during_partitions = Counts::default();
    let mut during_faults = Counts::default();
    let mut outside_faults = Counts::default();
    let mut latencies: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for op in ops.iter().filter(|o| o.client) {
        let Some(start) = op.invoke_time else {
            continue;
        };
        let end = op.complete_time.unwrap_or(i64::MAX);
        first = first.min(start);
        last = last.max(op.complete_time.unwrap_or(start));
        let overlaps = |w: &&Window| start <= w.end && w.start <= end;
        let in_partition = windows
            .iter()
            .filter(|w| w.kind == "partition")
            .any(|w| overlaps(&w));
        let in_fault = windows.iter().any(|w| overlaps(&w));
        if in_partition {
            during_partitions.add(op);
        }
        if in_fault {
            during_faults.add(op);
        } else {
            outside_faults.add(op);
            if let (Outcome::Ok, Some(done)) = (op.outcome, op.complete_time) {
                let f = op.f.clone().unwrap_or_default();
                latencies
                    .entry(f)
                    .or_default()
                    .push((done - start) as f64 / 1e6);
            }
        }
    }
    let all: Vec<f64> = latencies.values().flatten().copied().collect();
    let latency_outside_all = latency(all);
    let latency_outside = latencies
        .into_iter()
        .filter_map(|(f, v)| latency(v).map(|l| (f, l)))
        .collect();
    let total = during_faults.total() + outside_faults.total();
    let span = (last - first).max(1) as f64 / 1e9;
    Perf {
        windows,
        during_partitions,
        during_faults,
        outside_faults,
        latency_outside,
        latency_outside_all,
        throughput: if first <= last {
            total as f64 / span
        } else {
            0.0
        },
    }
}

/// Percentiles of `millis` (`None` when empty).
fn latency(mut millis: Vec<f64>) -> Option<Latency> {
    if millis.is_empty() {
        return None;
    }
    millis.sort_by(f64::total_cmp);
    let at = |q: f64| millis[((millis.len() - 1) as f64 * q).round() as usize];
    Some(Latency {
        count: millis.len(),
        p50: at(0.5),
        p99: at(0.99),
        max: millis[millis.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pair, read_history};

    #[test]
    fn operations_are_split_by_partition_windows() {
        let text = r#"{"process":0,"type":"invoke","f":"read","time":0}
{"process":0,"type":"ok","f":"read","value":1,"time":1000000}
{"process":"nemesis","type":"info","f":"start-partition","value":"halves","time":2000000}
{"process":"nemesis","type":"info","f":"start-partition","value":"done","time":3000000}
{"process":0,"type":"invoke","f":"write","value":2,"time":4000000}
{"process":0,"type":"info","f":"write","value":2,"time":5000000}
{"process":"nemesis","type":"info","f":"stop-partition","time":6000000}
{"process":"nemesis","type":"info","f":"stop-partition","time":7000000}
{"process":1,"type":"invoke","f":"read","time":8000000}
{"process":1,"type":"ok","f":"read","value":2,"time":11000000}
"#;
        let h = read_history("t", text.as_bytes(), None).unwrap();
        let perf = summarize(&pair(&h).unwrap());
        assert_eq!(perf.windows.len(), 1);
        assert_eq!(
            (perf.windows[0].start, perf.windows[0].end),
            (3000000, 6000000)
        );
        assert_eq!(perf.during_partitions.info, 1);
        assert_eq!(perf.outside_faults.ok, 2);
        assert_eq!(perf.latency_outside["read"].count, 2);
        assert_eq!(perf.latency_outside["read"].max, 3.0);
        let all = perf.latency_outside_all.unwrap();
        assert_eq!((all.count, all.max), (2, 3.0));
    }

    /// Guards the run summary's `faults:` count: clock faults and corruptions are fault
    /// windows too (a clock window ends at `reset-clock`, a corruption at its node's restart).
    #[test]
    fn clock_faults_and_corruptions_are_fault_windows() {
        let text = r#"{"process":"nemesis","type":"info","f":"bump-clock","value":{"n1":-3.0},"time":1000000}
{"process":"nemesis","type":"info","f":"bump-clock","value":{"n1":-3.0},"time":2000000}
{"process":"nemesis","type":"info","f":"corrupt","value":{"node":"n2","kind":"truncate","bytes":8},"time":2500000}
{"process":"nemesis","type":"info","f":"corrupt","value":{"node":"n2","kind":"truncate","bytes":8,"cut":8},"time":2600000}
{"process":"nemesis","type":"info","f":"reset-clock","value":null,"time":3000000}
{"process":"nemesis","type":"info","f":"reset-clock","value":null,"time":3100000}
{"process":"nemesis","type":"info","f":"strobe-clock","value":{},"time":4000000}
{"process":"nemesis","type":"info","f":"restart","value":"n2","time":5000000}
{"process":"nemesis","type":"info","f":"restart","value":"n2","time":5100000}
{"process":0,"type":"invoke","f":"read","time":5200000}
{"process":0,"type":"ok","f":"read","value":1,"time":6000000}
"#;
        let h = read_history("t", text.as_bytes(), None).unwrap();
        let perf = summarize(&pair(&h).unwrap());
        let kinds: Vec<(&str, i64, i64)> = perf
            .windows
            .iter()
            .map(|w| (w.kind, w.start, w.end))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("clock-bump", 2000000, 3000000),
                ("corrupt", 2600000, 5000000),
                ("clock-strobe", 4000000, 6000000),
            ]
        );
    }
}
