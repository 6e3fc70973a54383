//! Session and real-time order between transactions: the process and realtime edges that
//! strong-session and strict models add to the dependency graph.
//!
//! Process: each committed transaction → the next transaction of the same process. Realtime: a
//! transitively reduced form of "completed before invoked", computed in one sweep over the file
//! order with a frontier of recently completed transactions (at most one per concurrent
//! process). Failed transactions never happened and take no part; indeterminate ones may be
//! successors but never predecessors.

use super::graph::{Edge, PROCESS, REALTIME};
use super::txns::Txns;
use crate::budget::{Budget, StopReason};
use crate::history::{Operation, Outcome, Process};
use hashbrown::HashMap;

/// How much work (realtime edges added, predecessors scanned) is done between two budget
/// checkpoints.
pub const CHECKPOINT: usize = 1 << 16;

/// Appends process-order edges.
pub fn process_edges(ops: &[Operation], tx: &Txns, edges: &mut Vec<Edge>) {
    let mut last: HashMap<&Process, Option<u32>> = HashMap::new();
    for (t, txn) in tx.txns.iter().enumerate() {
        if txn.outcome == Outcome::Fail {
            continue;
        }
        let Some(p) = ops[txn.op].process.as_ref() else {
            continue;
        };
        let slot = last.entry(p).or_insert(None);
        if let Some(prev) = *slot {
            edges.push((prev, t as u32, PROCESS));
        }
        *slot = (txn.outcome == Outcome::Ok).then_some(t as u32);
    }
}

/// Appends realtime edges (transitively reduced). Their number can grow with the square of
/// the concurrency (every transaction completed before a burst of invocations precedes each of
/// them), so `limits` is checked every [`CHECKPOINT`] edges; the limit that ran out, if one did,
/// is returned and the edges are then incomplete.
pub fn realtime_edges(
    ops: &[Operation],
    tx: &Txns,
    edges: &mut Vec<Edge>,
    limits: &Budget,
) -> Option<StopReason> {
    // (event position, is completion, txn)
    let mut events: Vec<(usize, bool, u32)> = Vec::with_capacity(tx.txns.len() * 2);
    for (t, txn) in tx.txns.iter().enumerate() {
        let op = &ops[txn.op];
        match txn.outcome {
            Outcome::Fail => {}
            Outcome::Info => events.push((op.invoke, false, t as u32)),
            Outcome::Ok => {
                events.push((op.invoke, false, t as u32));
                if let Some(c) = op.complete {
                    events.push((c, true, t as u32));
                }
            }
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<u32> = Vec::new();
    let mut preds: Vec<(u32, u32)> = vec![(0, 0); tx.txns.len()];
    let mut flat: Vec<u32> = Vec::new();
    let mut superseded = vec![false; tx.txns.len()];
    // Work done (edges added, predecessors scanned), and when the budget is next checked.
    let mut added = 0usize;
    let mut next_checkpoint = CHECKPOINT;
    for (_, done, t) in events {
        if !done {
            let a = flat.len() as u32;
            for &f in &frontier {
                edges.push((f, t, REALTIME));
                flat.push(f);
                added += 1;
                if added >= next_checkpoint {
                    next_checkpoint = added + CHECKPOINT;
                    if let Some(e) = limits.exceeded() {
                        return Some(e);
                    }
                }
            }
            preds[t as usize] = (a, flat.len() as u32);
        } else {
            let (a, b) = preds[t as usize];
            // Linear in the frontier and the predecessors (a slice `contains` here made this
            // cubic in the concurrency).
            let before = &flat[a as usize..b as usize];
            for &f in before {
                superseded[f as usize] = true;
            }
            frontier.retain(|&f| !superseded[f as usize]);
            for &f in before {
                superseded[f as usize] = false;
            }
            frontier.push(t);
            added += before.len() + frontier.len();
            if added >= next_checkpoint {
                next_checkpoint = added + CHECKPOINT;
                if let Some(e) = limits.exceeded() {
                    return Some(e);
                }
            }
        }
    }
    None
}
