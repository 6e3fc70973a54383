//! kafka with a leader: n1 (the first node in `node_ids`) holds every key's log, offsets and
//! committed offsets in memory and answers send, poll, commit_offsets and
//! list_committed_offsets itself; every other node forwards a client's request to n1 and
//! relays the answer. Offsets are contiguous per key (0, 1, 2, …). Under a partition the
//! forwarded requests are lost and the client times out (indeterminate), never wrong; under
//! `--nemesis kill` of n1 the logs are gone (in memory only).
use maelstrom_examples::{kind, run, Event, Out};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The leader's data.
#[derive(Default)]
struct Logs {
    logs: HashMap<String, Vec<Value>>,
    committed: HashMap<String, u64>,
}

impl Logs {
    /// The answer to a request body, if it is one of kafka's.
    fn answer(&mut self, body: &Value) -> Option<Value> {
        Some(match body["type"].as_str()? {
            "send" => {
                let key = body["key"].as_str().unwrap_or("").to_string();
                let log = self.logs.entry(key).or_default();
                log.push(body["msg"].clone());
                json!({"type": "send_ok", "offset": log.len() - 1})
            }
            "poll" => {
                let mut msgs = Map::new();
                for (k, from) in body["offsets"].as_object().into_iter().flatten() {
                    let from = from.as_u64().unwrap_or(0) as usize;
                    if let Some(log) = self.logs.get(k) {
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
                    self.committed.insert(k.clone(), o.as_u64().unwrap_or(0));
                }
                json!({"type": "commit_offsets_ok"})
            }
            "list_committed_offsets" => {
                let mut offsets = Map::new();
                for k in body["keys"].as_array().into_iter().flatten() {
                    let k = k.as_str().unwrap_or("");
                    if let Some(o) = self.committed.get(k) {
                        offsets.insert(k.to_string(), json!(o));
                    }
                }
                json!({"type": "list_committed_offsets_ok", "offsets": offsets})
            }
            _ => return None,
        })
    }
}

struct Node {
    leader: String,
    me: String,
    data: Logs,
    /// Forwarded requests: the msg_id sent to the leader → the client's message.
    pending: HashMap<u64, Value>,
}

fn main() {
    run(
        None,
        |init, _: &Out| Node {
            leader: init.ids.first().cloned().unwrap_or_default(),
            me: init.id.clone(),
            data: Logs::default(),
            pending: HashMap::new(),
        },
        |n, out, ev| {
            let Event::Msg(m) = ev else { return };
            if let Some(id) = m["body"]["in_reply_to"].as_u64() {
                if let Some(client) = n.pending.remove(&id) {
                    let mut body = m["body"].clone();
                    if let Some(o) = body.as_object_mut() {
                        o.remove("msg_id");
                        o.remove("in_reply_to");
                    }
                    out.reply(&client, body);
                }
                return;
            }
            if n.me == n.leader {
                if let Some(answer) = n.data.answer(&m["body"]) {
                    out.reply(&m, answer);
                }
            } else if matches!(
                kind(&m),
                "send" | "poll" | "commit_offsets" | "list_committed_offsets"
            ) {
                let mut body = m["body"].clone();
                if let Some(o) = body.as_object_mut() {
                    o.remove("msg_id");
                }
                let id = out.send(&n.leader, body);
                n.pending.insert(id, m);
            }
        },
    );
}
