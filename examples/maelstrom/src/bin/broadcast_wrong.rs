//! Deliberately wrong broadcast: a new message is sent to each neighbour once and never
//! again, so whatever a partition drops is never delivered.
use maelstrom_examples::{kind, run, Event};
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[derive(Default)]
struct Node {
    seen: BTreeSet<i64>,
    neighbours: Vec<String>,
}

fn main() {
    run(
        None,
        |_, _| Node::default(),
        |node, out, ev| {
            let Event::Msg(m) = ev else { return };
            match kind(&m) {
                "topology" => {
                    let me = out.id();
                    node.neighbours = m["body"]["topology"][&me]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect();
                    out.reply(&m, json!({"type": "topology_ok"}));
                }
                "broadcast" | "gossip" => {
                    let v = m["body"]["message"].as_i64().unwrap_or(0);
                    let from = m["src"].as_str().unwrap_or("");
                    if node.seen.insert(v) {
                        for n in node.neighbours.iter().filter(|n| n.as_str() != from) {
                            out.send(n, json!({"type": "gossip", "message": v}));
                        }
                    }
                    if kind(&m) == "broadcast" {
                        out.reply(&m, json!({"type": "broadcast_ok"}));
                    }
                }
                "read" => {
                    let msgs: Vec<i64> = node.seen.iter().copied().collect();
                    out.reply(&m, json!({"type": "read_ok", "messages": msgs}));
                }
                _ => {}
            }
        },
    );
}
