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
    /// Lines not yet written to stdout.
    buf: Vec<u8>,
    /// While set (the main loop is working through a batch of events), lines wait in `buf`
    /// and are written together when the batch is done: one write for many messages.
    hold: bool,
}

impl OutInner {
    fn write_out(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut o = self.stdout.lock();
        let _ = o.write_all(&self.buf);
        let _ = o.flush();
        self.buf.clear();
    }
}

impl Out {
    /// Sends `body` to `dest` (a fresh msg_id is added); returns the msg_id.
    pub fn send(&self, dest: &str, mut body: Value) -> u64 {
        let mut g = self.inner.lock().unwrap();
        g.next += 1;
        let id = g.next;
        body["msg_id"] = json!(id);
        let line = json!({"src": g.id, "dest": dest, "body": body}).to_string();
        g.buf.extend_from_slice(line.as_bytes());
        g.buf.push(b'\n');
        if !g.hold {
            g.write_out();
        }
        id
    }

    /// Holds lines back until [`Out::release`] (the main loop's batches).
    fn hold(&self) {
        self.inner.lock().unwrap().hold = true;
    }

    /// Writes every held line at once and stops holding.
    fn release(&self) {
        let mut g = self.inner.lock().unwrap();
        g.hold = false;
        g.write_out();
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

/// The node's stdin: one message per line.
struct Input {
    reader: std::io::BufReader<std::io::Stdin>,
    line: String,
}

impl Input {
    fn new() -> Input {
        Input {
            reader: std::io::BufReader::with_capacity(1 << 16, std::io::stdin()),
            line: String::new(),
        }
    }

    /// The next message; `None` at the end of stdin.
    fn next(&mut self) -> Option<Value> {
        loop {
            self.line.clear();
            match self.reader.read_line(&mut self.line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let line = self.line.trim_end();
            if line.is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(v) => return Some(v),
                Err(e) => eprintln!("cannot parse {line:?}: {e}"),
            }
        }
    }

    /// Whether reading another message would wait for stdin (no whole line is buffered).
    fn would_block(&self) -> bool {
        !self.reader.buffer().contains(&b'\n')
    }
}

/// Runs a node: answers `init`, then calls `handle` for every other message (and every
/// `tick`, if given) on one thread. Replies are written in batches: everything answered
/// while more input was already waiting goes out in one write.
pub fn run<S>(
    tick: Option<Duration>,
    make: impl FnOnce(&Init, &Out) -> S,
    mut handle: impl FnMut(&mut S, &Out, Event),
) {
    let mut input = Input::new();
    let out = Out {
        inner: Arc::new(Mutex::new(OutInner {
            id: String::new(),
            next: 0,
            stdout: std::io::stdout(),
            buf: Vec::with_capacity(1 << 16),
            hold: false,
        })),
    };
    // init first.
    let init = loop {
        match input.next() {
            Some(m) if m["body"]["type"] == "init" => {
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
            Some(_) => eprintln!("message before init: ignored"),
            None => return,
        }
    };
    let mut state = make(&init, &out);
    let Some(every) = tick else {
        // No timer: this thread reads and handles; replies wait until no whole message is
        // left in the input buffer, then go out together.
        out.hold();
        while let Some(m) = input.next() {
            handle(&mut state, &out, Event::Msg(m));
            if input.would_block() {
                out.release();
                out.hold();
            }
        }
        out.release();
        return;
    };
    // A timer: a reader thread and a ticker feed this thread.
    let (tx, rx) = mpsc::channel::<Event>();
    let reader = tx.clone();
    std::thread::spawn(move || {
        while let Some(m) = input.next() {
            if reader.send(Event::Msg(m)).is_err() {
                break;
            }
        }
        std::process::exit(0);
    });
    std::thread::spawn(move || loop {
        std::thread::sleep(every);
        if tx.send(Event::Tick).is_err() {
            break;
        }
    });
    // The events already waiting (up to 256) are one batch: its replies go out in one write.
    while let Ok(ev) = rx.recv() {
        out.hold();
        handle(&mut state, &out, ev);
        for _ in 1..256 {
            let Ok(ev) = rx.try_recv() else { break };
            handle(&mut state, &out, ev);
        }
        out.release();
    }
}

/// The message's body type.
pub fn kind(m: &Value) -> &str {
    m["body"]["type"].as_str().unwrap_or("")
}
