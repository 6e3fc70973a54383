//! Deliberately wrong echo: every tenth answer comes back upper-cased.
use maelstrom_examples::{kind, run, Event};
use serde_json::json;

fn main() {
    run(
        None,
        |_, _| 0u64,
        |n, out, ev| {
            if let Event::Msg(m) = ev {
                if kind(&m) == "echo" {
                    *n += 1;
                    let mut e = m["body"]["echo"].clone();
                    if *n % 10 == 0 {
                        e = json!(e.as_str().unwrap_or("").to_uppercase());
                    }
                    out.reply(&m, json!({"type": "echo_ok", "echo": e}));
                }
            }
        },
    );
}
