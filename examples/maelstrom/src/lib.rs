//! A tiny Maelstrom node runtime for the example nodes: read one JSON message per line from
//! stdin, answer on stdout, log on stderr. Written for faultline's examples; each binary in
//! `src/bin/` is one node program (`*_wrong` ones are deliberately broken).

use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a node learns from `init`.
#[derive(Debug, Clone, Default)]
pub struct Init {
    /// This node's id.
    pub id: String,
    /// Every node's id.
    pub ids: Vec<String>,
}

/// The node's output side: shared by handlers and background threads.
#[derive(Clone)]
pub struct Out {
    inner: Arc<Mutex<OutInner>>,
}

struct OutInner {
    id: String,
    next: u64,
    stdout: std::io::Stdout,
}

impl Out {
    /// Sends `body` to `dest` (a fresh msg_id is added); returns the msg_id.
    pub fn send(&self, dest: &str, mut body: Value) -> u64 {
        let mut g = self.inner.lock().unwrap();
        g.next += 1;
        let id = g.next;
        body["msg_id"] = json!(id);
        let line = json!({"src": g.id, "dest": dest, "body": body}).to_string();
        let mut o = g.stdout.lock();
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
        id
    }

    /// Replies to `msg` with `body`.
    pub fn reply(&self, msg: &Value, mut body: Value) {
        body["in_reply_to"] = msg["body"]["msg_id"].clone();
        let dest = msg["src"].as_str().unwrap_or("").to_string();
        self.send(&dest, body);
    }

    /// This node's id.
    pub fn id(&self) -> String {
        self.inner.lock().unwrap().id.clone()
    }
}

/// An event a node handles: a message, or a tick of its timer.
pub enum Event {
    /// A message from stdin.
    Msg(Value),
    /// The timer (every `tick` of [`run`]).
    Tick,
}

/// Runs a node: answers `init`, then calls `handle` for every other message (and every
/// `tick`, if given) on one thread.
pub fn run<S>(
    tick: Option<Duration>,
    make: impl FnOnce(&Init, &Out) -> S,
    mut handle: impl FnMut(&mut S, &Out, Event),
) {
    let (tx, rx) = mpsc::channel::<Event>();
    let reader = tx.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => {
                    if reader.send(Event::Msg(v)).is_err() {
                        break;
                    }
                }
                Err(e) => eprintln!("cannot parse {line:?}: {e}"),
            }
        }
        std::process::exit(0);
    });
    // init first.
    let out = Out {
        inner: Arc::new(Mutex::new(OutInner {
            id: String::new(),
            next: 0,
            stdout: std::io::stdout(),
        })),
    };
    let init = loop {
        match rx.recv() {
            Ok(Event::Msg(m)) if m["body"]["type"] == "init" => {
                let init = Init {
                    id: m["body"]["node_id"].as_str().unwrap_or("").to_string(),
                    ids: m["body"]["node_ids"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                out.inner.lock().unwrap().id = init.id.clone();
                out.reply(&m, json!({"type": "init_ok"}));
                eprintln!("{} initialized ({} nodes)", init.id, init.ids.len());
                break init;
            }
            Ok(_) => eprintln!("message before init: ignored"),
            Err(_) => return,
        }
    };
    if let Some(every) = tick {
        std::thread::spawn(move || loop {
            std::thread::sleep(every);
            if tx.send(Event::Tick).is_err() {
                break;
            }
        });
    }
    let mut state = make(&init, &out);
    while let Ok(ev) = rx.recv() {
        handle(&mut state, &out, ev);
    }
}

/// The message's body type.
pub fn kind(m: &Value) -> &str {
    m["body"]["type"].as_str().unwrap_or("")
}
