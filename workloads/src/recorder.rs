//! The recorder: appends every invocation and completion to `history.jsonl` as it happens
//! ("run" step; the file is what `faultline check` reads).
//!
//! Lines go into an in-memory buffer that is written to the file whole-lines-at-a-time: when it
//! passes 64 KiB, every 100 ms at the latest (a background thread), and on [`Recorder::close`].
//! A crash (even SIGKILL) therefore loses at most the last 100 ms of events and never leaves
//! half a line behind from a buffer boundary. Each line is faultline's JSON-lines encoding
//! (`docs/history-format.md`): `index`, `time` (ns since the run began), `process`, `type`,
//! `f`, `key`, `value`, `error`, and `node` (which node served a client operation).

use crate::client::{Op, Outcome};
use serde::Serialize;
use serde_json::Value;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the buffer is written out at the latest.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Buffer size past which it is written out at once.
const FLUSH_BYTES: usize = 64 * 1024;

/// Who an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// A client process (its number).
    Client(u64),
    /// The nemesis.
    Nemesis,
}

impl Serialize for Who {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Who::Client(n) => s.serialize_u64(*n),
            Who::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    index: u64,
    time: u64,
    process: Who,
    #[serde(rename = "type")]
    kind: &'a str,
    f: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a Value>,
    value: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
}

struct Inner {
    file: File,
    buf: Vec<u8>,
    index: u64,
    error: Option<std::io::Error>,
}

impl Inner {
    fn write_out(&mut self) {
        if self.buf.is_empty() || self.error.is_some() {
            self.buf.clear();
            return;
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            self.error = Some(e);
        }
        self.buf.clear();
    }
}

/// Appends events to a history file; shared by every worker (`Arc<Recorder>`).
pub struct Recorder {
    inner: Mutex<Inner>,
    start: Instant,
    closed: AtomicBool,
    /// Client invocations recorded so far.
    invocations: AtomicU64,
}

impl Recorder {
    /// Creates (truncates) `path` and starts the background flusher. Times are measured from
    /// now.
    pub fn create(path: &Path) -> std::io::Result<Arc<Recorder>> {
        let file = File::create(path)?;
        let recorder = Arc::new(Recorder {
            inner: Mutex::new(Inner {
                file,
                buf: Vec::with_capacity(2 * FLUSH_BYTES),
                index: 0,
                error: None,
            }),
            start: Instant::now(),
            closed: AtomicBool::new(false),
            invocations: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&recorder);
        std::thread::Builder::new()
            .name("history-flusher".into())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_EVERY);
                match weak.upgrade() {
                    Some(r) if !r.closed.load(Ordering::Relaxed) => r.flush(),
                    _ => return,
                }
            })?;
        Ok(recorder)
    }

    /// Nanoseconds since the run began.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// When the run began.
    pub fn start(&self) -> Instant {
        self.start
    }

    fn append(&self, mut line: Line<'_>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        line.index = inner.index;
        line.time = self.now();
        inner.index += 1;
        // Serializing plain data into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut inner.buf, &line);
        inner.buf.push(b'\n');
        if inner.buf.len() >= FLUSH_BYTES {
            inner.write_out();
        }
    }

    /// Records the invocation of `op` by client process `process` on node `node`.
    pub fn invoke(&self, process: u64, op: &Op, node: Option<&str>) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        self.append(Line {
            index: 0,
            time: 0,
            process: Who::Client(process),
            kind: "invoke",
            f: op.f,
            key: op.key.as_ref(),
            value: &op.value,
            error: None,
            node,
        });
    }

    /// Records how `op` of client process `process` ended.
    pub fn complete(&self, process: u64, op: &Op, outcome: &Outcome, node: Option<&str>) {
        let (kind, value, error) = match outcome {
            Outcome::Ok(v) => ("ok", v, None),
            Outcome::Fail(e) => ("fail", &op.value, Some(e)),
            Outcome::Info(e) => ("info", &op.value, Some(e)),
        };
        self.append(Line {
            index: 0,
            time: 0,
            process: Who::Client(process),
            kind,
            f: op.f,
            key: op.key.as_ref(),
            value,
            error,
            node,
        });
    }

    /// Records a nemesis event (always `info`, as in Jepsen): its invocation (`value` is the
    /// plan) or its completion (`value` is what happened, or the error).
    pub fn nemesis(&self, f: &str, value: &Value, error: Option<&Value>) {
        self.append(Line {
            index: 0,
            time: 0,
            process: Who::Nemesis,
            kind: "info",
            f,
            key: None,
            value,
            error,
            node: None,
        });
    }

    /// Writes the buffered lines to the file.
    pub fn flush(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.write_out();
    }

    /// Writes everything out, stops the flusher, and reports the first write error, if any.
    pub fn close(&self) -> std::io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.write_out();
        self.closed.store(true, Ordering::Relaxed);
        let flushed = inner.file.flush();
        match inner.error.take() {
            Some(e) => Err(e),
            None => flushed,
        }
    }

    /// Client operations invoked so far (the history guard's measure).
    pub fn invocations(&self) -> u64 {
        self.invocations.load(Ordering::Relaxed)
    }

    /// Events recorded so far.
    pub fn events(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).index
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        inner.write_out();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_read_back_as_a_history() {
        let dir = std::env::temp_dir().join(format!("faultline-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        let r = Recorder::create(&path).unwrap();
        let op = Op {
            f: "write",
            key: Some(json!(1)),
            value: json!(5),
        };
        r.invoke(0, &op, Some("n1"));
        r.nemesis("start-partition", &json!({"kind": "halves"}), None);
        r.complete(0, &op, &Outcome::Ok(json!(5)), Some("n1"));
        r.close().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let h = checkers::history::read_history("h", &bytes, None).unwrap();
        assert_eq!(h.events.len(), 3);
        let ops = checkers::history::pair(&h).unwrap();
        assert_eq!(ops.iter().filter(|o| o.client).count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn buffered_lines_reach_the_file_within_the_flush_interval() {
        let dir = std::env::temp_dir().join(format!("faultline-rec2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        let r = Recorder::create(&path).unwrap();
        let op = Op {
            f: "read",
            key: None,
            value: Value::Null,
        };
        r.invoke(3, &op, None);
        std::thread::sleep(FLUSH_EVERY * 3);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("\n") && text.contains("\"invoke\""),
            "{text:?}"
        );
        drop(r);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
