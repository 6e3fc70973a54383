//! Generators of transactional histories that are strict-serializable by construction, for the
//! property tests and the benchmarks.
//!
//! A simulated run: `processes` clients each issue transactions one at a time. Every
//! transaction gets an invocation time, an execution point inside its window and a completion
//! time; transactions are executed one at a time, in execution-point order, against a real
//! in-memory store (lists for list-append, registers for rw-register), so reads return what a
//! serial execution returns. Keys are retired after `writes_per_key` writes and replaced by
//! fresh ones, as Elle's generator does, so lists stay short. A few transactions fail (no
//! effect) or crash (`info`: took effect or not, and the process gets a new id).

use super::txns::TxnKind;
use crate::history::{Event, EventType, Format, History, Process};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Shape of a generated history.
#[derive(Debug, Clone)]
pub struct TxnSpec {
    /// list-append or rw-register.
    pub workload: TxnKind,
    /// Number of transactions.
    pub txns: usize,
    /// Concurrent processes.
    pub processes: usize,
    /// Keys active at any time.
    pub keys: usize,
    /// Micro-operations per transaction: 1..=max_mops.
    pub max_mops: usize,
    /// Writes per key before it is retired.
    pub writes_per_key: usize,
    /// Per mille of transactions that fail.
    pub fail_per_mille: u64,
    /// Per mille of transactions that crash (`info`).
    pub info_per_mille: u64,
    /// Seed.
    pub seed: u64,
}

impl TxnSpec {
    /// A list-append spec with Elle-like defaults.
    pub fn list_append(txns: usize, seed: u64) -> TxnSpec {
        TxnSpec {
            workload: TxnKind::ListAppend,
            txns,
            processes: 8,
            keys: 10,
            max_mops: 4,
            writes_per_key: 32,
            fail_per_mille: 10,
            info_per_mille: 10,
            seed,
        }
    }
}

struct Plan {
    process: i64,
    mops: Vec<(bool, u64, u64)>, // (is write, key, value)
    invoke: u64,
    point: u64,
    complete: u64,
    fail: bool,
    info: bool,
}

/// Generates a history (events in time order) per `spec`.
pub fn history(spec: &TxnSpec) -> History {
    let mut rng = Rng::new(spec.seed);
    let mut clock = vec![0u64; spec.processes];
    let mut ids: Vec<i64> = (0..spec.processes as i64).collect();
    let mut next_id = spec.processes as i64;
    let mut active: Vec<u64> = (0..spec.keys as u64).collect();
    let mut next_key = spec.keys as u64;
    let mut writes: Vec<u64> = Vec::new(); // per key id
    let mut plans = Vec::with_capacity(spec.txns);
    for _ in 0..spec.txns {
        let p = rng.below(spec.processes as u64) as usize;
        let invoke = clock[p] + 1 + rng.below(5);
        let latency = 2 + rng.below(40);
        let point = invoke + 1 + rng.below(latency - 1);
        let complete = invoke + latency;
        clock[p] = complete;
        let n = 1 + rng.below(spec.max_mops as u64) as usize;
        let mut mops = Vec::with_capacity(n);
        for _ in 0..n {
            let slot = rng.below(active.len() as u64) as usize;
            let k = active[slot];
            if rng.below(2) == 0 {
                if writes.len() <= k as usize {
                    writes.resize(k as usize + 1, 0);
                }
                writes[k as usize] += 1;
                mops.push((true, k, writes[k as usize]));
                if writes[k as usize] as usize >= spec.writes_per_key {
                    active[slot] = next_key;
                    next_key += 1;
                }
            } else {
                mops.push((false, k, 0));
            }
        }
        let roll = rng.below(1000);
        let fail = roll < spec.fail_per_mille;
        let info = !fail && roll < spec.fail_per_mille + spec.info_per_mille;
        plans.push(Plan {
            process: ids[p],
            mops,
            invoke,
            point,
            complete,
            fail,
            info,
        });
        if info {
            ids[p] = next_id;
            next_id += 1;
        }
    }
    // Execute one at a time in execution-point order.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| (plans[i].point, i));
    let mut lists: Vec<Vec<u64>> = vec![Vec::new(); next_key as usize];
    let mut regs: Vec<Option<u64>> = vec![None; next_key as usize];
    let mut results: Vec<Value> = vec![Value::Null; plans.len()];
    for i in order {
        let plan = &plans[i];
        let applies = !plan.fail && (!plan.info || rng.below(2) == 0);
        let mut out = Vec::with_capacity(plan.mops.len());
        // Execute on a copy of the touched state so a txn that does not apply leaves no trace.
        let mut touched: Vec<(u64, Vec<u64>, Option<u64>)> = Vec::new();
        for &(w, k, v) in &plan.mops {
            let ku = k as usize;
            if !touched.iter().any(|t| t.0 == k) {
                touched.push((k, lists[ku].clone(), regs[ku]));
            }
            let st = touched.iter_mut().find(|t| t.0 == k).expect("just added");
            out.push(match (spec.workload, w) {
                (TxnKind::ListAppend, true) => {
                    st.1.push(v);
                    json!(["append", k, v])
                }
                (TxnKind::ListAppend, false) => json!(["r", k, st.1]),
                (TxnKind::RwRegister, true) => {
                    st.2 = Some(v);
                    json!(["w", k, v])
                }
                (TxnKind::RwRegister, false) => json!(["r", k, st.2]),
            });
        }
        if applies {
            for (k, l, r) in touched {
                lists[k as usize] = l;
                regs[k as usize] = r;
            }
        }
        results[i] = Value::Array(out);
    }
    // Lay out events in time order; completions before invocations at equal times.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(plans.len() * 2);
    for (i, p) in plans.iter().enumerate() {
        events.push((p.invoke, true, i));
        events.push((p.complete, false, i));
    }
    events.sort_unstable();
    let mut out = Vec::with_capacity(events.len());
    for (n, &(time, is_invoke, i)) in events.iter().enumerate() {
        let plan = &plans[i];
        let invoke_value = Value::Array(
            plan.mops
                .iter()
                .map(|&(w, k, v)| match (spec.workload, w) {
                    (TxnKind::ListAppend, true) => json!(["append", k, v]),
                    (TxnKind::RwRegister, true) => json!(["w", k, v]),
                    (_, false) => json!(["r", k, null]),
                })
                .collect(),
        );
        let (kind, value) = if is_invoke {
            (EventType::Invoke, invoke_value)
        } else if plan.fail {
            (EventType::Fail, invoke_value)
        } else if plan.info {
            (EventType::Info, invoke_value)
        } else {
            (EventType::Ok, results[i].clone())
        };
        out.push(Event {
            line: n + 1,
            index: Some(n as i64),
            time: Some(time as i64),
            process: Some(Process::Client(plan.process)),
            kind,
            f: Some("txn".into()),
            key: None,
            value,
            error: None,
            extra: Map::new(),
        });
    }
    History {
        source: "generated".into(),
        format: Format::JsonLines,
        events: out,
    }
}
