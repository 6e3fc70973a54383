//! Histories: what clients asked a system to do and what they were told.
//!
//! A file is read into a [`History`] of [`Event`]s (one per invocation or completion, in file
//! order, which is real-time order), then [`pair`] turns those events into
//! [`Operation`]s: an invocation matched with its completion, or left indeterminate.
//!
//! The first step of check (run → check → report). Readers for each encoding live in their own
//! (crate-private) module; [`read_history`] detects the encoding from the content.
//! [`write_json_lines`] produces faultline's own JSON lines; [`limits`] bounds what is read.

mod array_split;
pub(crate) mod compact;
mod edn;
mod edn_split;
mod fast_edn;
mod fast_json;
mod json;
pub mod limits;
mod pairing;
mod read;
mod stream;
mod textlog;
mod tuples;
mod write;

pub use compact::{
    read_compact, read_compact_observed, CompactHistory, CompactRead, OpView, SettledObserver,
};
pub(crate) use fast_json::parse_line;
pub use json::torn_last_line;
pub(crate) use pairing::Pairer;
pub use pairing::{pair, pair_anonymous, Operation, Outcome};
pub use read::{detect_format, read_history, read_history_file};
pub use stream::{read_paired, Paired, ReadBudget};
pub use tuples::{unwrap_tuples, Tuples};
pub use write::write_json_lines;

use serde_json::{Map, Value};
use std::fmt;

/// The encodings faultline reads (see `docs/history-format.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON object per line (what `faultline run` writes), also elle-cli's JSON.
    JsonLines,
    /// One JSON array of operation objects.
    JsonArray,
    /// Jepsen/Knossos/Elle EDN: a vector or list of maps, or one map per line.
    Edn,
    /// Porcupine's key-value EDN: one map per line with `:key`; read by the EDN reader.
    PorcupineKv,
    /// Jepsen's text log (`INFO  jepsen.util - <process>\t<:type>\t<:f>\t<value>`), as in
    /// Porcupine's etcd test data. In this format a `:fail :cas` is a CAS whose compare failed.
    JepsenLog,
}

impl Format {
    /// The name used by `--format-in` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::JsonLines => "json-lines",
            Format::JsonArray => "json-array",
            Format::Edn => "edn",
            Format::PorcupineKv => "porcupine-kv",
            Format::JepsenLog => "jepsen-log",
        }
    }

    /// Parses a `--format-in` name.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "json" | "json-lines" | "jsonl" => Format::JsonLines,
            "json-array" => Format::JsonArray,
            "edn" => Format::Edn,
            "porcupine-kv" | "kv-edn" => Format::PorcupineKv,
            "jepsen-log" | "log" | "text" => Format::JepsenLog,
            _ => return None,
        })
    }
}

/// Who issued an event: a client thread (an integer) or a named non-client such as `nemesis`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A client thread; its operations are checked.
    Client(i64),
    /// Any string process (`"nemesis"`, …): recorded and shown, never checked.
    Named(String),
}

impl Process {
    /// True for client threads, whose operations are checked.
    pub fn is_client(&self) -> bool {
        matches!(self, Process::Client(_))
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(n) => write!(f, "{n}"),
            Process::Named(s) => write!(f, "{s}"),
        }
    }
}

/// The kind of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A client asked for an operation.
    Invoke,
    /// The operation took effect and returned `value`.
    Ok,
    /// The operation certainly did not take effect.
    Fail,
    /// Indeterminate: it may or may not have taken effect.
    Info,
}

impl EventType {
    /// Parses `invoke`/`ok`/`fail`/`info` (EDN keywords arrive without the colon).
    pub fn parse(s: &str) -> Option<EventType> {
        Some(match s {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            _ => return None,
        })
    }

    /// The lower-case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

/// One line of a history: an invocation or a completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// 1-based line in the source file where this event starts.
    pub line: usize,
    /// The `index` field if present.
    pub index: Option<i64>,
    /// The `time` field (nanoseconds) if present; informational only, never used for order.
    pub time: Option<i64>,
    /// The issuing process; `None` when the file has no `process` field for this event.
    pub process: Option<Process>,
    /// invoke / ok / fail / info.
    pub kind: EventType,
    /// The operation name (`read`, `write`, `cas`, `txn`, …); `None` when the file omits it.
    pub f: Option<String>,
    /// The `key` field for keyed (independent) histories.
    pub key: Option<Value>,
    /// Argument on invoke, result on completion; `null` when absent.
    pub value: Value,
    /// Why an operation failed or is indeterminate, if the file says.
    pub error: Option<Value>,
    /// Every other field, kept for checkers and reports that want it.
    pub extra: Map<String, Value>,
}

/// A parsed history file: its events in file (real-time) order.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// File name as given by the user (`-` for standard input).
    pub source: String,
    /// The encoding it was read from.
    pub format: Format,
    /// Every event in file order.
    pub events: Vec<Event>,
}
