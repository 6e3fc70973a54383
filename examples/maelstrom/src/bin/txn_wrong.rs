//! Deliberately wrong transactions: writes are applied as the transaction goes, and every
//! fourth transaction is then aborted (error 30, txn-conflict: definite) without undoing its
//! writes — other transactions read values of aborted transactions (G1a, aborted read).
use maelstrom_examples::{kind, run, Event};
use serde_json::{json, Value};
use std::collections::HashMap;

fn main() {
    run(
        None,
        |_, _| (HashMap::<String, Value>::new(), 0u64),
        |(store, n), out, ev| {
            let Event::Msg(m) = ev else { return };
            if kind(&m) != "txn" {
                return;
            }
            *n += 1;
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
            if *n % 4 == 0 {
                out.reply(
                    &m,
                    json!({"type": "error", "code": 30, "text": "conflict (writes kept!)"}),
                );
            } else {
                out.reply(&m, json!({"type": "txn_ok", "txn": done}));
            }
        },
    );
}
