//! The seeded generator [`Rng`] (used by the run side too: schedules, generators), and
//! generators of histories that are linearizable by construction, for benchmarks and tests.
//!
//! A simulated run: `processes` clients each issue operations one at a time; every operation
//! gets an invocation time, a completion time and a linearization point between them, and its
//! result is computed by applying the sequential model in linearization-point order. A small
//! fraction become indeterminate (`info`): they either took effect at their point or never.
//! The result is a history any correct checker must call valid.

use crate::history::{Operation, Outcome, Process};
use serde_json::{json, Value};

/// A tiny deterministic PRNG (splitmix64), so generated histories depend only on the seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Shape of a generated cas-register history.
#[derive(Debug, Clone)]
pub struct RegisterSpec {
    /// Number of operations.
    pub ops: usize,
    /// Number of concurrent client processes.
    pub processes: usize,
    /// Number of keys (1 = a single register; more = an independent keyed history).
    pub keys: usize,
    /// Register values are drawn from `0..values`.
    pub values: u64,
    /// Per-mille of operations that end `info`.
    pub info_per_mille: u64,
    /// Seed.
    pub seed: u64,
}

/// Generates a linearizable cas-register history (read/write/cas; failed cas recorded as
/// `fail`), already paired into operations.
pub fn cas_register(spec: &RegisterSpec) -> Vec<Operation> {
    let mut rng = Rng::new(spec.seed);
    struct Pending {
        proc_: i64,
        key: u64,
        f: &'static str,
        arg: Value,
        invoke: u64,
        point: u64,
        complete: u64,
        info: bool,
    }
    // Schedule: each process runs ops back to back with random gaps and latencies.
    let mut clock = vec![0u64; spec.processes];
    let mut next_proc = spec.processes as i64;
    let mut proc_ids: Vec<i64> = (0..spec.processes as i64).collect();
    let mut planned = Vec::with_capacity(spec.ops);
    for _ in 0..spec.ops {
        let p = rng.below(spec.processes as u64) as usize;
        let invoke = clock[p] + 1 + rng.below(5);
        let latency = 1 + rng.below(40);
        let complete = invoke + latency;
        let point = invoke + rng.below(latency);
        clock[p] = complete;
        let key = rng.below(spec.keys as u64);
        let (f, arg) = match rng.below(10) {
            0..=3 => ("read", Value::Null),
            4..=7 => ("write", json!(rng.below(spec.values))),
            _ => (
                "cas",
                json!([rng.below(spec.values), rng.below(spec.values)]),
            ),
        };
        let info = rng.below(1000) < spec.info_per_mille;
        planned.push(Pending {
            proc_: proc_ids[p],
            key,
            f,
            arg,
            invoke,
            point,
            complete,
            info,
        });
        if info {
            // Jepsen retires a crashed process and gives its thread a new id.
            proc_ids[p] = next_proc;
            next_proc += 1;
        }
    }
    // Apply in linearization-point order to compute results.
    let mut by_point: Vec<usize> = (0..planned.len()).collect();
    by_point.sort_by_key(|&i| (planned[i].point, i));
    let mut state: Vec<Value> = vec![Value::Null; spec.keys];
    let mut results: Vec<(Outcome, Value)> = vec![(Outcome::Ok, Value::Null); planned.len()];
    for i in by_point {
        let op = &planned[i];
        let k = op.key as usize;
        let took_effect = !op.info || rng.below(2) == 0;
        results[i] = match op.f {
            "read" => (Outcome::Ok, state[k].clone()),
            "write" => {
                if took_effect {
                    state[k] = op.arg.clone();
                }
                (Outcome::Ok, op.arg.clone())
            }
            _ => {
                if state[k] == op.arg[0] {
                    if took_effect {
                        state[k] = op.arg[1].clone();
                    }
                    (Outcome::Ok, op.arg.clone())
                } else {
                    (Outcome::Fail, op.arg.clone())
                }
            }
        };
        if op.info {
            results[i].0 = Outcome::Info;
        }
    }
    // Lay out events in time order (ties: completions before invocations) to get positions.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * planned.len());
    for (i, op) in planned.iter().enumerate() {
        events.push((op.invoke, true, i));
        if !(op.info && rng.below(2) == 0) {
            events.push((op.complete, false, i));
        }
    }
    events.sort_by_key(|&(t, is_invoke, i)| (t, is_invoke, i));
    let mut invoke_pos = vec![0usize; planned.len()];
    let mut complete_pos = vec![None; planned.len()];
    for (pos, &(_, is_invoke, i)) in events.iter().enumerate() {
        if is_invoke {
            invoke_pos[i] = pos;
        } else {
            complete_pos[i] = Some(pos);
        }
    }
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| invoke_pos[i]);
    order
        .into_iter()
        .enumerate()
        .map(|(id, i)| {
            let op = &planned[i];
            let (outcome, out) = results[i].clone();
            Operation {
                id,
                process: Some(Process::Client(op.proc_)),
                client: true,
                f: Some(op.f.to_string()),
                key: (spec.keys > 1).then(|| json!(op.key)),
                input: op.arg.clone(),
                output: if outcome == Outcome::Info {
                    Value::Null
                } else {
                    out
                },
                outcome,
                invoke: invoke_pos[i],
                complete: complete_pos[i],
                invoke_line: invoke_pos[i] + 1,
                complete_line: complete_pos[i].map(|p| p + 1),
                invoke_time: Some(op.invoke as i64),
                complete_time: complete_pos[i].map(|_| op.complete as i64),
                error: None,
            }
        })
        .collect()
}
