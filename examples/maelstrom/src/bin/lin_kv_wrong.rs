//! Deliberately wrong lin-kv: writes and cas go to the lin-kv service, but reads are served
//! from this node's own cache of what it last wrote — stale once another node writes.
use maelstrom_examples::{kind, run, Event};
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Default)]
struct Node {
    pending: HashMap<u64, Value>,
    cache: HashMap<String, Value>,
}

fn main() {
    run(
        None,
        |_, _| Node::default(),
        |n, out, ev| {
            let Event::Msg(m) = ev else { return };
            if m["src"] == "lin-kv" {
                let id = m["body"]["in_reply_to"].as_u64().unwrap_or(0);
                if let Some(client) = n.pending.remove(&id) {
                    let key = client["body"]["key"].to_string();
                    match kind(&m) {
                        "write_ok" => {
                            n.cache.insert(key, client["body"]["value"].clone());
                        }
                        "cas_ok" => {
                            n.cache.insert(key, client["body"]["to"].clone());
                        }
                        "read_ok" => {
                            n.cache.insert(key, m["body"]["value"].clone());
                        }
                        _ => {}
                    }
                    let mut body = m["body"].clone();
                    if let Some(o) = body.as_object_mut() {
                        o.remove("msg_id");
                    }
                    out.reply(&client, body);
                }
                return;
            }
            match kind(&m) {
                "read" => {
                    let key = m["body"]["key"].to_string();
                    match n.cache.get(&key) {
                        Some(v) => out.reply(&m, json!({"type": "read_ok", "value": v})),
                        None => {
                            let id = out
                                .send("lin-kv", json!({"type": "read", "key": m["body"]["key"]}));
                            n.pending.insert(id, m);
                        }
                    }
                }
                "write" | "cas" => {
                    let mut body = m["body"].clone();
                    if let Some(o) = body.as_object_mut() {
                        o.remove("msg_id");
                    }
                    let id = out.send("lin-kv", body);
                    n.pending.insert(id, m);
                }
                _ => {}
            }
        },
    );
}
