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

use crate::history::compact::CompactHistory;
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

    /// Counts one operation that ended with `outcome` (`semantic`: a `fail` that answered it).
    fn add(&mut self, outcome: Outcome, semantic: bool) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => {
                self.fail += 1;
                if !semantic {
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

/// A nemesis record as the fault windows need it.
struct Record<'a> {
    f: &'a str,
    /// Its (first event's) time.
    time: i64,
    input: &'a serde_json::Value,
}

/// A client operation as the summary needs it.
struct Sample<'a> {
    start: i64,
    end: Option<i64>,
    outcome: Outcome,
    /// A `fail` that answered the operation ([`is_semantic_failure`]).
    semantic: bool,
    f: &'a str,
}

/// The fault windows of a history, from its nemesis operations.
pub fn fault_windows(ops: &[Operation]) -> Vec<Window> {
    let end_of_history = ops
        .iter()
        .filter_map(|o| o.complete_time.or(o.invoke_time))
        .max()
        .unwrap_or(0);
    windows_of(
        ops.iter().filter(|o| !o.client).filter_map(|op| {
            Some(Record {
                f: op.f.as_deref()?,
                time: op.invoke_time?,
                input: &op.input,
            })
        }),
        end_of_history,
    )
}

/// The fault windows of nemesis `records` (in file order); a window still open at the end
/// lasts until `end_of_history`.
fn windows_of<'a>(records: impl Iterator<Item = Record<'a>>, end_of_history: i64) -> Vec<Window> {
    // Slot → (start, the window's kind); clock faults share one slot (one at a time) but
    // keep their own kind.
    let mut open: BTreeMap<(&'static str, String), (i64, &'static str)> = BTreeMap::new();
    let mut windows = Vec::new();
    for Record { f, time: t, input } in records {
        let target = input.to_string();
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
                input.get("node").map(ToString::to_string).unwrap_or(target),
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
    summarize_samples(
        fault_windows(ops),
        ops.iter().filter(|o| o.client).filter_map(|op| {
            Some(Sample {
                start: op.invoke_time?,
                end: op.complete_time,
                outcome: op.outcome,
                semantic: is_semantic_failure(op),
                f: op.f.as_deref().unwrap_or_default(),
            })
        }),
    )
}

/// [`summarize`] over a history read compactly ([`crate::history::read_compact`]): the same
/// figures, without an [`Operation`] per operation.
pub fn summarize_compact(h: &CompactHistory) -> Perf {
    let end_of_history = h
        .ops
        .iter()
        .filter_map(|o| o.complete_time().or(o.invoke_time()))
        .max()
        .unwrap_or(0);
    // The nemesis records are few: their values are rebuilt as the general path holds them.
    let nemesis: Vec<(&str, i64, serde_json::Value)> = h
        .ops
        .iter()
        .filter(|o| !o.client())
        .filter_map(|o| Some((h.f(o)?, o.invoke_time()?, h.values.of(o.input()))))
        .collect();
    let windows = windows_of(
        nemesis.iter().map(|(f, time, input)| Record {
            f,
            time: *time,
            input,
        }),
        end_of_history,
    );
    summarize_samples(
        windows,
        h.ops.iter().filter(|o| o.client()).filter_map(|o| {
            Some(Sample {
                start: o.invoke_time()?,
                end: o.complete_time(),
                outcome: o.outcome(),
                semantic: h
                    .error(o)
                    .and_then(|e| e.as_str())
                    .is_some_and(|e| SEMANTIC_FAILURES.contains(&e)),
                f: h.f(o).unwrap_or_default(),
            })
        }),
    )
}

fn summarize_samples<'a>(windows: Vec<Window>, samples: impl Iterator<Item = Sample<'a>>) -> Perf {
    let mut during_partitions = Counts::default();
    let mut during_faults = Counts::default();
    let mut outside_faults = Counts::default();
    let mut latencies: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for op in samples {
        let start = op.start;
        let end = op.end.unwrap_or(i64::MAX);
        first = first.min(start);
        last = last.max(op.end.unwrap_or(start));
        let overlaps = |w: &&Window| start <= w.end && w.start <= end;
        let in_partition = windows
            .iter()
            .filter(|w| w.kind == "partition")
            .any(|w| overlaps(&w));
        let in_fault = windows.iter().any(|w| overlaps(&w));
        if in_partition {
            during_partitions.add(op.outcome, op.semantic);
        }
        if in_fault {
            during_faults.add(op.outcome, op.semantic);
        } else {
            outside_faults.add(op.outcome, op.semantic);
            if let (Outcome::Ok, Some(done)) = (op.outcome, op.end) {
                latencies
                    .entry(op.f)
                    .or_default()
                    .push((done - start) as f64 / 1e6);
            }
        }
    }
    let all: Vec<f64> = latencies.values().flatten().copied().collect();
    let latency_outside_all = latency(all);
    let latency_outside = latencies
        .into_iter()
        .filter_map(|(f, v)| latency(v).map(|l| (f.to_string(), l)))
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
