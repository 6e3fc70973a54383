//! Transactions (txn-list-append and txn-rw-register) on this node's own store: each `txn` is
//! applied whole, one at a time, so every node is serializable on its own and — with nothing
//! to wait for — totally available under partitions. Nodes do not replicate to each other, so
//! across nodes this is read committed, not serializable: run it with
//! `--consistency-models read-committed` (or on one node).
use maelstrom_examples::{kind, run, Event};
use serde_json::{json, Value};
use std::collections::HashMap;

fn main() {
    run(
        None,
        |_, _| HashMap::<String, Value>::new(),
        |store, out, ev| {
            let Event::Msg(m) = ev else { return };
            if kind(&m) != "txn" {
                return;
            }
            let mut done = Vec::new();
            for mop in m["body"]["txn"].as_array().into_iter().flatten() {
                let (f, k, v) = (mop[0].as_str().unwrap_or(""), mop[1].to_string(), &mop[2]);
                match f {
                    "r" => done.push(json!([
                        "r",
                        mop[1],
                        store.get(&k).cloned().unwrap_or(Value::Null)
                    ])),
                    "w" => {
                        store.insert(k, v.clone());
                        done.push(mop.clone());
                    }
                    "append" => {
                        let list = store.entry(k).or_insert_with(|| json!([]));
                        if let Some(l) = list.as_array_mut() {
                            l.push(v.clone());
                        }
                        done.push(mop.clone());
                    }
                    _ => {}
                }
            }
            out.reply(&m, json!({"type": "txn_ok", "txn": done}));
        },
    );
}
