//! Echo: answers every `echo` with its payload.
use maelstrom_examples::{kind, run, Event};
use serde_json::json;

fn main() {
    run(
        None,
        |_, _| (),
        |_, out, ev| {
            if let Event::Msg(m) = ev {
                if kind(&m) == "echo" {
                    out.reply(&m, json!({"type": "echo_ok", "echo": m["body"]["echo"]}));
                }
            }
        },
    );
}
