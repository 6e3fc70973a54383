//! Generators: seeded schedules of operations ("run" step).
//!
//! Each worker owns one generator, seeded from the run's seed and the worker's number, so the
//! same seed gives every worker the same sequence of operations (how they interleave in time
//! still depends on the system). A generator is asked for its next step and told how each
//! operation ended (so a `cas` can compare against a value the worker has seen).
//!
//! Workload generators ([`Register`], [`KeyValue`], [`ListAppend`]) produce the operation mix;
//! the combinators ([`Limit`], [`TimeLimit`], [`Stagger`]) wrap any generator. The runner puts
//! the phases together: the main phase with the nemesis, healing, a quiet period, then
//! [`WorkloadKind::final_ops`] (a read of every key).

use crate::client::{Op, Outcome};
use checkers::{CheckerKind, Rng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a worker does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Invoke this operation.
    Op(Op),
    /// Wait this long, then ask again.
    Wait(Duration),
    /// Nothing more in this phase.
    Done,
}

/// Where a worker is when it asks for its next step.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Time since the phase began.
    pub elapsed: Duration,
}

/// A source of operations for one worker.
pub trait Gen: Send {
    /// The next step.
    fn next(&mut self, ctx: Ctx) -> Next;
    /// How an operation this generator produced ended.
    fn observe(&mut self, _op: &Op, _outcome: &Outcome) {}
}

/// The workloads faultline can generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// read / write / cas over a few keys; checked as a keyed cas-register.
    Register,
    /// get / put / append of strings over a few keys; checked with the kv model.
    Kv,
    /// transactions of list appends and reads; checked by the list-append checker.
    ListAppend,
    /// enqueue of unique integers and dequeue; the final phase drains the queue ([`Drain`]);
    /// checked by Jepsen's total-queue checker.
    Queue,
}

/// A `--workload` name that is not one of faultline's workloads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown workload {0:?}; expected register, kv, list-append or queue")]
pub struct UnknownWorkload(pub String);

impl WorkloadKind {
    /// Parses a `--workload` name.
    pub fn parse(name: &str) -> Result<WorkloadKind, UnknownWorkload> {
        match name {
            "register" => Ok(WorkloadKind::Register),
            "kv" => Ok(WorkloadKind::Kv),
            "list-append" => Ok(WorkloadKind::ListAppend),
            "queue" => Ok(WorkloadKind::Queue),
            other => Err(UnknownWorkload(other.to_string())),
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::Kv => "kv",
            WorkloadKind::ListAppend => "list-append",
            WorkloadKind::Queue => "queue",
        }
    }

    /// The checker this workload's histories go to: its kind and registry name
    /// (`checkers::registry::find`), and the consistency models it checks when the user names
    /// none (`run --consistency`). Runs check list-append for strict serializability: the
    /// runner knows real time, so a stale read between transactions is an anomaly.
    pub fn checker(self) -> (CheckerKind, &'static str, &'static [&'static str]) {
        match self {
            WorkloadKind::Register => (CheckerKind::Model, "cas-register", &[]),
            WorkloadKind::Kv => (CheckerKind::Model, "kv", &[]),
            WorkloadKind::ListAppend => (
                CheckerKind::Workload,
                "list-append",
                &["strict-serializable"],
            ),
            WorkloadKind::Queue => (CheckerKind::Workload, "total-queue", &[]),
        }
    }

    /// The generator for worker `worker` of `workers`, over `keys` keys.
    pub fn generator(self, seed: u64, worker: usize, workers: usize, keys: u64) -> Box<dyn Gen> {
        let rng = Rng::new(seed ^ (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let unique = Unique {
            next: 0,
            worker: worker as u64,
            workers: workers.max(1) as u64,
        };
        match self {
            WorkloadKind::Register => Box::new(Register {
                rng,
                keys,
                unique,
                seen: vec![Value::Null; keys as usize],
            }),
            WorkloadKind::Kv => Box::new(KeyValue { rng, keys, unique }),
            WorkloadKind::ListAppend => Box::new(ListAppend {
                rng,
                keys,
                unique,
                done: 0,
            }),
            WorkloadKind::Queue => Box::new(Queue { rng, unique }),
        }
    }

    /// The open-ended part of the final phase, one generator per worker, run after
    /// [`WorkloadKind::final_ops`]: for `queue`, dequeues until the queue is found empty
    /// ([`Drain`]); the other workloads have none.
    pub fn drain(self) -> Option<Box<dyn Gen>> {
        match self {
            WorkloadKind::Queue => Some(Box::new(Drain::default())),
            _ => None,
        }
    }

    /// The final phase: a read of every key (for list-append, one transaction reading all of
    /// them), so lost writes show up.
    pub fn final_ops(self, keys: u64) -> Vec<Op> {
        match self {
            WorkloadKind::Register => (0..keys)
                .map(|k| Op {
                    f: "read",
                    key: Some(json!(k)),
                    value: Value::Null,
                })
                .collect(),
            WorkloadKind::Kv => (0..keys)
                .map(|k| Op {
                    f: "get",
                    key: Some(json!(k)),
                    value: Value::Null,
                })
                .collect(),
            // Keys rotate during the run (see ListAppend), so there is no fixed set to read
            // at the end; as in Jepsen's list-append, every read is already a check.
            WorkloadKind::ListAppend => Vec::new(),
            // The queue is drained by `drain` instead: how many dequeues it takes is unknown.
            WorkloadKind::Queue => Vec::new(),
        }
    }
}

/// Values unique across workers: worker w of W produces w+1, w+1+W, w+1+2W, …
#[derive(Debug, Clone)]
struct Unique {
    next: u64,
    worker: u64,
    workers: u64,
}

impl Unique {
    fn take(&mut self) -> u64 {
        let v = self.next * self.workers + self.worker + 1;
        self.next += 1;
        v
    }
}

/// Register workload: 50% reads, 25% writes of unique values, 25% cas from the last value this
/// worker saw for the key to a unique value.
pub struct Register {
    rng: Rng,
    keys: u64,
    unique: Unique,
    seen: Vec<Value>,
}

impl Gen for Register {
    fn next(&mut self, _ctx: Ctx) -> Next {
        let k = self.rng.below(self.keys.max(1));
        let key = Some(json!(k));
        Next::Op(match self.rng.below(4) {
            0 | 1 => Op {
                f: "read",
                key,
                value: Value::Null,
            },
            2 => Op {
                f: "write",
                key,
                value: json!(self.unique.take()),
            },
            _ => Op {
                f: "cas",
                key,
                value: json!([self.seen[k as usize].clone(), self.unique.take()]),
            },
        })
    }

    fn observe(&mut self, op: &Op, outcome: &Outcome) {
        let Some(k) = op.key.as_ref().and_then(Value::as_u64) else {
            return;
        };
        let Some(seen) = self.seen.get_mut(k as usize) else {
            return;
        };
        match (op.f, outcome) {
            ("read", Outcome::Ok(v)) | ("write", Outcome::Ok(v)) => *seen = v.clone(),
            ("cas", Outcome::Ok(v)) => *seen = v[1].clone(),
            _ => {}
        }
    }
}

/// kv workload: 50% gets, 10% puts, 40% appends of unique short strings (`"7,"`).
pub struct KeyValue {
    rng: Rng,
    keys: u64,
    unique: Unique,
}

impl Gen for KeyValue {
    fn next(&mut self, _ctx: Ctx) -> Next {
        let key = Some(json!(self.rng.below(self.keys.max(1))));
        Next::Op(match self.rng.below(10) {
            0..=4 => Op {
                f: "get",
                key,
                value: Value::Null,
            },
            5 => Op {
                f: "put",
                key,
                value: json!(format!("{},", self.unique.take())),
            },
            _ => Op {
                f: "append",
                key,
                value: json!(format!("{},", self.unique.take())),
            },
        })
    }
}

/// list-append workload (Elle): transactions of 1–4 micro-ops, each an append of a unique
/// value or a read, over `keys` keys at a time. As in Elle's generator, keys retire so that
/// lists stay short (reads return whole lists): each worker moves to the next window of `keys`
/// fresh keys every [`ROTATE_EVERY`] transactions; workers running at similar speeds share a
/// window, so they still conflict.
pub struct ListAppend {
    rng: Rng,
    keys: u64,
    unique: Unique,
    done: u64,
}

/// Transactions per worker before its key window moves on.
pub const ROTATE_EVERY: u64 = 64;

impl Gen for ListAppend {
    fn next(&mut self, _ctx: Ctx) -> Next {
        let n = 1 + self.rng.below(4);
        let keys = self.keys.max(1);
        let base = self.done / ROTATE_EVERY * keys;
        self.done += 1;
        let micro = (0..n)
            .map(|_| {
                let k = base + self.rng.below(keys);
                if self.rng.below(2) == 0 {
                    json!(["append", k, self.unique.take()])
                } else {
                    json!(["r", k, null])
                }
            })
            .collect();
        Next::Op(Op {
            f: "txn",
            key: None,
            value: Value::Array(micro),
        })
    }
}

/// queue workload: 60% enqueues of unique integers, 40% dequeues — more in than out, so a
/// backlog builds up and a fault has messages in the queue to lose.
pub struct Queue {
    rng: Rng,
    unique: Unique,
}

impl Gen for Queue {
    fn next(&mut self, _ctx: Ctx) -> Next {
        Next::Op(if self.rng.below(5) < 3 {
            Op {
                f: "enqueue",
                key: None,
                value: json!(self.unique.take()),
            }
        } else {
            Op {
                f: "dequeue",
                key: None,
                value: Value::Null,
            }
        })
    }
}

/// The error of a `fail` dequeue that found the queue empty (docs/models.md: a dequeue on an
/// empty queue is `fail`); clients of queue targets must use it, [`Drain`] stops on it.
pub const EMPTY: &str = "empty";

/// The drain: dequeues until the queue is found empty twice in a row, [`DRAIN_RECHECK`]
/// apart (a message an abandoned connection held unacknowledged is requeued only once the
/// broker notices the close); after any other failure it waits 100 ms and tries again; gives up
/// after [`DRAIN_LIMIT`].
#[derive(Debug, Default)]
pub struct Drain {
    empties: u32,
    wait: Option<Duration>,
    done: bool,
}

/// The pause between the two empty dequeues that end a drain.
pub const DRAIN_RECHECK: Duration = Duration::from_millis(500);

/// How long one worker's drain may last.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(120);

impl Gen for Drain {
    fn next(&mut self, ctx: Ctx) -> Next {
        if self.done || ctx.elapsed >= DRAIN_LIMIT {
            return Next::Done;
        }
        if let Some(d) = self.wait.take() {
            return Next::Wait(d);
        }
        Next::Op(Op {
            f: "dequeue",
            key: None,
            value: Value::Null,
        })
    }

    fn observe(&mut self, _op: &Op, outcome: &Outcome) {
        match outcome {
            Outcome::Ok(_) => self.empties = 0,
            Outcome::Fail(e) if e.as_str() == Some(EMPTY) => {
                self.empties += 1;
                if self.empties >= 2 {
                    self.done = true;
                } else {
                    self.wait = Some(DRAIN_RECHECK);
                }
            }
            _ => {
                self.empties = 0;
                self.wait = Some(Duration::from_millis(100));
            }
        }
    }
}

/// At most `n` operations in all, shared by every worker holding a clone of the counter.
pub struct Limit {
    inner: Box<dyn Gen>,
    remaining: Arc<AtomicU64>,
}

impl Limit {
    /// Wraps `inner`; `remaining` is shared by the workers (start it at the limit).
    pub fn new(inner: Box<dyn Gen>, remaining: Arc<AtomicU64>) -> Limit {
        Limit { inner, remaining }
    }
}

impl Gen for Limit {
    fn next(&mut self, ctx: Ctx) -> Next {
        match self.inner.next(ctx) {
            Next::Op(op) => {
                let took = self
                    .remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                if took.is_ok() {
                    Next::Op(op)
                } else {
                    Next::Done
                }
            }
            other => other,
        }
    }

    fn observe(&mut self, op: &Op, outcome: &Outcome) {
        self.inner.observe(op, outcome);
    }
}

/// Nothing after `limit` has elapsed in the phase.
pub struct TimeLimit {
    inner: Box<dyn Gen>,
    limit: Duration,
}

impl TimeLimit {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Gen>, limit: Duration) -> TimeLimit {
        TimeLimit { inner, limit }
    }
}

impl Gen for TimeLimit {
    fn next(&mut self, ctx: Ctx) -> Next {
        if ctx.elapsed >= self.limit {
            Next::Done
        } else {
            self.inner.next(ctx)
        }
    }

    fn observe(&mut self, op: &Op, outcome: &Outcome) {
        self.inner.observe(op, outcome);
    }
}

/// Waits a random time, uniform in `0..2·mean`, before each operation (Jepsen's stagger):
/// with W workers and mean `W / rate`, the run averages `rate` operations per second.
pub struct Stagger {
    inner: Box<dyn Gen>,
    mean: Duration,
    rng: Rng,
    waited: bool,
}

impl Stagger {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Gen>, mean: Duration, seed: u64) -> Stagger {
        Stagger {
            inner,
            mean,
            rng: Rng::new(seed),
            waited: false,
        }
    }
}

impl Gen for Stagger {
    fn next(&mut self, ctx: Ctx) -> Next {
        if !self.waited && !self.mean.is_zero() {
            self.waited = true;
            let nanos = self.mean.as_nanos().min(u64::MAX as u128 / 2) as u64;
            return Next::Wait(Duration::from_nanos(self.rng.below(2 * nanos + 1)));
        }
        self.waited = false;
        self.inner.next(ctx)
    }

    fn observe(&mut self, op: &Op, outcome: &Outcome) {
        self.inner.observe(op, outcome);
    }
}

/// Moves every key an inner generator produces up by `base` (and back down for
/// [`Gen::observe`]), so a run against a service that already holds data (`run --nodes`: the
/// state of earlier runs) uses keys no earlier run wrote, and the checker's "every key starts
/// empty" holds. Keys of single-key operations and of transactions' micro-ops are moved;
/// workloads without keys (queue) are unchanged. Base 0 changes nothing.
pub struct KeyOffset {
    inner: Box<dyn Gen>,
    base: u64,
}

impl KeyOffset {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Gen>, base: u64) -> KeyOffset {
        KeyOffset { inner, base }
    }
}

/// `op` with its keys moved by `base` (up when `up`, else down).
pub fn offset_keys(mut op: Op, base: u64, up: bool) -> Op {
    if base == 0 {
        return op;
    }
    let shift = |k: &mut Value| {
        if let Some(n) = k.as_u64() {
            *k = json!(if up {
                n.saturating_add(base)
            } else {
                n.saturating_sub(base)
            });
        }
    };
    if let Some(k) = op.key.as_mut() {
        shift(k);
    }
    if op.f == "txn" {
        if let Value::Array(micro) = &mut op.value {
            for m in micro.iter_mut() {
                if let Some(k) = m.get_mut(1) {
                    shift(k);
                }
            }
        }
    }
    op
}

impl Gen for KeyOffset {
    fn next(&mut self, ctx: Ctx) -> Next {
        match self.inner.next(ctx) {
            Next::Op(op) => Next::Op(offset_keys(op, self.base, true)),
            other => other,
        }
    }

    fn observe(&mut self, op: &Op, outcome: &Outcome) {
        self.inner
            .observe(&offset_keys(op.clone(), self.base, false), outcome);
    }
}

/// The first key of a run against a service faultline did not start (`run --nodes`): keys
/// are `base + 0`, `base + 1`, … (list-append's rotating windows continue from there), so no
/// key of this run was written by an earlier one. The base is a multiple of
/// [`KEY_SPAN`] drawn from `clock` (seconds and nanoseconds since the epoch): the second
/// itself (`second × 100 000`, unique per second, ≤ 2^53 so it stays exact in JSON) or, when
/// keys must fit a 32-bit integer (`int32`: PostgreSQL's `k int`), one of 21 000 slots
/// picked from the nanoseconds.
pub fn key_base(clock: Duration, int32: bool) -> u64 {
    if int32 {
        (1 + u64::from(clock.subsec_nanos()) % 21_000) * KEY_SPAN
    } else {
        clock.as_secs().max(1) * KEY_SPAN
    }
}

/// How many keys apart two runs' [`key_base`]s are at least.
pub const KEY_SPAN: u64 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(mut g: Box<dyn Gen>, n: usize) -> Vec<Op> {
        let ctx = Ctx {
            elapsed: Duration::ZERO,
        };
        let mut out = Vec::new();
        while out.len() < n {
            match g.next(ctx) {
                Next::Op(op) => out.push(op),
                Next::Wait(_) => {}
                Next::Done => break,
            }
        }
        out
    }

    #[test]
    fn same_seed_same_schedule() {
        for kind in [
            WorkloadKind::Register,
            WorkloadKind::Kv,
            WorkloadKind::ListAppend,
            WorkloadKind::Queue,
        ] {
            let a = ops(kind.generator(7, 2, 4, 5), 200);
            let b = ops(kind.generator(7, 2, 4, 5), 200);
            let c = ops(kind.generator(8, 2, 4, 5), 200);
            assert_eq!(a, b);
            assert_ne!(a, c);
        }
    }

    #[test]
    fn written_values_are_unique_across_workers() {
        let mut seen = std::collections::HashSet::new();
        for w in 0..4 {
            for op in ops(WorkloadKind::Register.generator(1, w, 4, 3), 500) {
                if op.f == "write" {
                    assert!(seen.insert(op.value.as_u64().unwrap()));
                }
            }
        }
    }

    #[test]
    fn drain_ends_after_two_empty_dequeues_and_retries_errors() {
        let ctx = Ctx {
            elapsed: Duration::ZERO,
        };
        let mut d = WorkloadKind::Queue.drain().unwrap();
        let Next::Op(op) = d.next(ctx) else {
            panic!("a drain starts with a dequeue")
        };
        assert_eq!(op.f, "dequeue");
        d.observe(&op, &Outcome::Ok(json!(3)));
        d.observe(&op, &Outcome::Info(json!("timed out")));
        assert_eq!(d.next(ctx), Next::Wait(Duration::from_millis(100)));
        d.observe(&op, &Outcome::Fail(json!(EMPTY)));
        assert_eq!(d.next(ctx), Next::Wait(DRAIN_RECHECK));
        assert!(matches!(d.next(ctx), Next::Op(_)));
        d.observe(&op, &Outcome::Fail(json!(EMPTY)));
        assert_eq!(d.next(ctx), Next::Done);
        assert!(WorkloadKind::Register.drain().is_none());
    }

    #[test]
    fn limit_is_shared_between_workers() {
        let remaining = Arc::new(AtomicU64::new(10));
        let a = Box::new(Limit::new(
            WorkloadKind::Kv.generator(1, 0, 2, 3),
            remaining.clone(),
        ));
        let b = Box::new(Limit::new(
            WorkloadKind::Kv.generator(1, 1, 2, 3),
            remaining,
        ));
        assert_eq!(ops(a, 7).len() + ops(b, 100).len(), 10);
    }

    #[test]
    fn time_limit_ends_the_phase() {
        let mut g = TimeLimit::new(
            WorkloadKind::Register.generator(1, 0, 1, 1),
            Duration::from_secs(1),
        );
        let late = Ctx {
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(g.next(late), Next::Done);
    }

    #[test]
    fn key_offset_moves_every_key_and_observes_unmoved() {
        for kind in [
            WorkloadKind::Register,
            WorkloadKind::Kv,
            WorkloadKind::ListAppend,
        ] {
            let plain = ops(kind.generator(3, 0, 2, 4), 300);
            let moved = ops(
                Box::new(KeyOffset::new(kind.generator(3, 0, 2, 4), 500_000)),
                300,
            );
            assert_eq!(plain.len(), moved.len());
            for (p, m) in plain.iter().zip(&moved) {
                assert_eq!(offset_keys(p.clone(), 500_000, true), *m);
                assert_eq!(offset_keys(m.clone(), 500_000, false), *p);
                if let Some(k) = &m.key {
                    assert!(k.as_u64().unwrap() >= 500_000);
                }
            }
        }
        assert!(key_base(Duration::from_secs(1_800_000_000), false) <= 1 << 53);
        let pg = key_base(Duration::new(1_800_000_000, 999_999_999), true);
        assert!(pg >= KEY_SPAN && pg + 10 * KEY_SPAN < i32::MAX as u64);
    }
}
