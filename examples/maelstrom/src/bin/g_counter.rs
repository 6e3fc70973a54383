//! A counter as a state-based CRDT: each node's own total with a version, gossiped to every
//! other node every 100 ms and merged by the higher version; a read sums what this node knows.
//! Works for g-counter and pn-counter (deltas may be negative).
use maelstrom_examples::{kind, run, Event};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

struct Node {
    me: String,
    peers: Vec<String>,
    /// node → (version, total).
    totals: BTreeMap<String, (u64, i64)>,
}

fn main() {
    run(
        Some(Duration::from_millis(100)),
        |init, _| Node {
            me: init.id.clone(),
            peers: init
                .ids
                .iter()
                .filter(|i| **i != init.id)
                .cloned()
                .collect(),
            totals: BTreeMap::new(),
        },
        |node, out, ev| match ev {
            Event::Tick => {
                let state: BTreeMap<&String, Value> = node
                    .totals
                    .iter()
                    .map(|(k, (v, t))| (k, json!([v, t])))
                    .collect();
                for p in &node.peers {
                    out.send(p, json!({"type": "state", "totals": state}));
                }
            }
            Event::Msg(m) => match kind(&m) {
                "add" => {
                    let d = m["body"]["delta"].as_i64().unwrap_or(0);
                    let e = node.totals.entry(node.me.clone()).or_insert((0, 0));
                    *e = (e.0 + 1, e.1 + d);
                    out.reply(&m, json!({"type": "add_ok"}));
                }
                "read" => {
                    let sum: i64 = node.totals.values().map(|(_, t)| t).sum();
                    out.reply(&m, json!({"type": "read_ok", "value": sum}));
                }
                "state" => {
                    if let Some(o) = m["body"]["totals"].as_object() {
                        for (k, v) in o {
                            let (ver, t) = (v[0].as_u64().unwrap_or(0), v[1].as_i64().unwrap_or(0));
                            let e = node.totals.entry(k.clone()).or_insert((0, 0));
                            if ver > e.0 {
                                *e = (ver, t);
                            }
                        }
                    }
                }
                _ => {}
            },
        },
    );
}
