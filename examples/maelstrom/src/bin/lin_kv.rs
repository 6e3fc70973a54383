//! lin-kv as a proxy: every read, write and cas is forwarded to the lin-kv service and its
//! answer (or error) relayed to the client.
use maelstrom_examples::{kind, run, Event};
use serde_json::Value;
use std::collections::HashMap;

fn main() {
    run(
        None,
        |_, _| HashMap::<u64, Value>::new(),
        |pending, out, ev| {
            let Event::Msg(m) = ev else { return };
            if m["src"] == "lin-kv" {
                let id = m["body"]["in_reply_to"].as_u64().unwrap_or(0);
                if let Some(client) = pending.remove(&id) {
                    let mut body = m["body"].clone();
                    if let Some(o) = body.as_object_mut() {
                        o.remove("msg_id");
                    }
                    out.reply(&client, body);
                }
                return;
            }
            if matches!(kind(&m), "read" | "write" | "cas") {
                let mut body = m["body"].clone();
                if let Some(o) = body.as_object_mut() {
                    o.remove("msg_id");
                }
                let id = out.send("lin-kv", body);
                pending.insert(id, m);
            }
        },
    );
}
