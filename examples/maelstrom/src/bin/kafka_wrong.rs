//! Deliberately wrong kafka: every node keeps its own logs in memory and answers on its own,
//! with no coordination. On one node that is a correct kafka; on two or more, each node hands
//! out the same offsets to different messages (`inconsistent-offsets`), and a client never
//! sees what was sent through another node.
use maelstrom_examples::{run, Event};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

#[derive(Default)]
struct Logs {
    logs: HashMap<String, Vec<Value>>,
    committed: HashMap<String, u64>,
}

fn main() {
    run(
        None,
        |_, _| Logs::default(),
        |d, out, ev| {
            let Event::Msg(m) = ev else { return };
            let body = &m["body"];
            let answer = match body["type"].as_str().unwrap_or("") {
                "send" => {
                    let key = body["key"].as_str().unwrap_or("").to_string();
                    let log = d.logs.entry(key).or_default();
                    log.push(body["msg"].clone());
                    json!({"type": "send_ok", "offset": log.len() - 1})
                }
                "poll" => {
                    let mut msgs = Map::new();
                    for (k, from) in body["offsets"].as_object().into_iter().flatten() {
                        let from = from.as_u64().unwrap_or(0) as usize;
                        if let Some(log) = d.logs.get(k) {
                            let list: Vec<Value> = log
                                .iter()
                                .enumerate()
                                .skip(from)
                                .map(|(o, m)| json!([o, m]))
                                .collect();
                            msgs.insert(k.clone(), json!(list));
                        }
                    }
                    json!({"type": "poll_ok", "msgs": msgs})
                }
                "commit_offsets" => {
                    for (k, o) in body["offsets"].as_object().into_iter().flatten() {
                        d.committed.insert(k.clone(), o.as_u64().unwrap_or(0));
                    }
                    json!({"type": "commit_offsets_ok"})
                }
                "list_committed_offsets" => {
                    let mut offsets = Map::new();
                    for k in body["keys"].as_array().into_iter().flatten() {
                        let k = k.as_str().unwrap_or("");
                        if let Some(o) = d.committed.get(k) {
                            offsets.insert(k.to_string(), json!(o));
                        }
                    }
                    json!({"type": "list_committed_offsets_ok", "offsets": offsets})
                }
                _ => return,
            };
            out.reply(&m, answer);
        },
    );
}
