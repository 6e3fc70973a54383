//! Broadcast by gossip with acknowledgements: each neighbour (from `topology`) is sent the
//! messages it has not acknowledged yet, every 100 ms, until it does — so messages cross a
//! partition once it heals.
use maelstrom_examples::{kind, run, Event};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Default)]
struct Node {
    seen: BTreeSet<i64>,
    /// Per neighbour: messages it has not acknowledged.
    unacked: BTreeMap<String, BTreeSet<i64>>,
    /// Gossip msg_id → (tick it was sent, neighbour, messages sent).
    inflight: BTreeMap<u64, (u64, String, Vec<i64>)>,
    tick: u64,
}

impl Node {
    fn learn(&mut self, m: i64, from: Option<&str>) {
        if self.seen.insert(m) {
            for (n, set) in self.unacked.iter_mut() {
                if Some(n.as_str()) != from {
                    set.insert(m);
                }
            }
        }
    }
}

fn main() {
    run(
        Some(Duration::from_millis(100)),
        |_, _| Node::default(),
        |node, out, ev| match ev {
            Event::Tick => {
                // Acknowledgements may take several ticks (latency): keep what was sent for
                // a while, and resend whatever is still unacknowledged.
                node.tick += 1;
                let now = node.tick;
                node.inflight.retain(|_, (t, _, _)| now - *t < 50);
                let sends: Vec<(String, Vec<i64>)> = node
                    .unacked
                    .iter()
                    .filter(|(_, s)| !s.is_empty())
                    .map(|(n, s)| (n.clone(), s.iter().copied().collect()))
                    .collect();
                for (n, msgs) in sends {
                    let id = out.send(&n, json!({"type": "gossip", "messages": msgs}));
                    node.inflight.insert(id, (now, n, msgs));
                }
            }
            Event::Msg(m) => match kind(&m) {
                "topology" => {
                    let me = out.id();
                    let ns = m["body"]["topology"][&me]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    for n in ns.iter().filter_map(Value::as_str) {
                        let all = node.seen.clone();
                        node.unacked.insert(n.to_string(), all);
                    }
                    out.reply(&m, json!({"type": "topology_ok"}));
                }
                "broadcast" => {
                    if let Some(v) = m["body"]["message"].as_i64() {
                        node.learn(v, None);
                    }
                    out.reply(&m, json!({"type": "broadcast_ok"}));
                }
                "read" => {
                    let msgs: Vec<i64> = node.seen.iter().copied().collect();
                    out.reply(&m, json!({"type": "read_ok", "messages": msgs}));
                }
                "gossip" => {
                    let from = m["src"].as_str().unwrap_or("").to_string();
                    for v in m["body"]["messages"].as_array().into_iter().flatten() {
                        if let Some(v) = v.as_i64() {
                            node.learn(v, Some(&from));
                        }
                    }
                    out.reply(&m, json!({"type": "gossip_ok"}));
                }
                "gossip_ok" => {
                    let id = m["body"]["in_reply_to"].as_u64().unwrap_or(0);
                    if let Some((_, n, msgs)) = node.inflight.remove(&id) {
                        if let Some(set) = node.unacked.get_mut(&n) {
                            for v in msgs {
                                set.remove(&v);
                            }
                        }
                    }
                }
                _ => {}
            },
        },
    );
}
