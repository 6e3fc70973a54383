//! Unique ids without coordination: the node's id and a local counter.
use maelstrom_examples::{kind, run, Event};
use serde_json::json;

fn main() {
    run(
        None,
        |init, _| (init.id.clone(), 0u64),
        |(me, n), out, ev| {
            if let Event::Msg(m) = ev {
                if kind(&m) == "generate" {
                    *n += 1;
                    out.reply(
                        &m,
                        json!({"type": "generate_ok", "id": format!("{me}-{n}")}),
                    );
                }
            }
        },
    );
}
