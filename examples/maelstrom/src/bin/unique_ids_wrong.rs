//! Deliberately wrong unique ids: a local counter only, so two nodes hand out the same ids.
use maelstrom_examples::{kind, run, Event};
use serde_json::json;

fn main() {
    run(
        None,
        |_, _| 0u64,
        |n, out, ev| {
            if let Event::Msg(m) = ev {
                if kind(&m) == "generate" {
                    *n += 1;
                    out.reply(&m, json!({"type": "generate_ok", "id": *n}));
                }
            }
        },
    );
}
