//! Deliberately wrong g-counter: `add` reads the shared total from seq-kv and writes it back
//! plus the delta, without cas — concurrent adds overwrite each other (and seq-kv's reads may
//! be stale besides).
use maelstrom_examples::{kind, run, Event};
use serde_json::{json, Value};
use std::collections::HashMap;

enum Waiting {
    /// An add waiting for the current total.
    AddRead(Value, i64),
    /// An add waiting for its write.
    AddWrite(Value),
    /// A read waiting for the total.
    Read(Value),
}

fn main() {
    run(
        None,
        |_, _| HashMap::<u64, Waiting>::new(),
        |w, out, ev| {
            let Event::Msg(m) = ev else { return };
            let body = &m["body"];
            match kind(&m) {
                "add" => {
                    let id = out.send("seq-kv", json!({"type": "read", "key": "counter"}));
                    w.insert(
                        id,
                        Waiting::AddRead(m.clone(), body["delta"].as_i64().unwrap_or(0)),
                    );
                }
                "read" if m["src"].as_str().is_some_and(|s| s.starts_with('c')) => {
                    let id = out.send("seq-kv", json!({"type": "read", "key": "counter"}));
                    w.insert(id, Waiting::Read(m.clone()));
                }
                "read_ok" | "write_ok" | "error" => {
                    let id = body["in_reply_to"].as_u64().unwrap_or(0);
                    let value = body["value"].as_i64().unwrap_or(0); // error 20: absent, 0
                    match w.remove(&id) {
                        Some(Waiting::AddRead(client, delta)) => {
                            let id = out.send(
                                "seq-kv",
                                json!({"type": "write", "key": "counter", "value": value + delta}),
                            );
                            w.insert(id, Waiting::AddWrite(client));
                        }
                        Some(Waiting::AddWrite(client)) => {
                            out.reply(&client, json!({"type": "add_ok"}))
                        }
                        Some(Waiting::Read(client)) => {
                            out.reply(&client, json!({"type": "read_ok", "value": value}))
                        }
                        None => {}
                    }
                }
                _ => {}
            }
        },
    );
}
