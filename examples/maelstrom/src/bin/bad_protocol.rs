//! A node that breaks the protocol on purpose, for faultline's tests: its first argument says
//! how — `no-init-ok`, `not-json`, `unknown-reply`, `unknown-dest`, `exit`.
use std::io::{BufRead, Write};

fn main() {
    let how = std::env::args().nth(1).unwrap_or_default();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { return };
        let m: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let me = m["dest"].as_str().unwrap_or("n1").to_string();
        let from = m["src"].as_str().unwrap_or("c0").to_string();
        let id = m["body"]["msg_id"].clone();
        let init_ok = format!(
            r#"{{"src":"{me}","dest":"{from}","body":{{"type":"init_ok","in_reply_to":{id}}}}}"#
        );
        let reply = match (m["body"]["type"].as_str(), how.as_str()) {
            (Some("init"), "no-init-ok") => continue,
            (Some("init"), "not-json") => "Hello from my node! (a log line on stdout)".to_string(),
            (Some("init"), _) => init_ok,
            (_, "unknown-reply") => format!(
                r#"{{"src":"{me}","dest":"{from}","body":{{"type":"echo_ok","in_reply_to":9999}}}}"#
            ),
            (_, "unknown-dest") => {
                format!(r#"{{"src":"{me}","dest":"n42","body":{{"type":"gossip"}}}}"#)
            }
            (_, "exit") => {
                eprintln!("giving up");
                std::process::exit(3);
            }
            _ => continue,
        };
        let _ = writeln!(out, "{reply}");
        let _ = out.flush();
    }
}
