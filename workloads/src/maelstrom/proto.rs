//! Maelstrom's wire protocol as faultline speaks it ("run" step, below the router): the
//! envelope `{"src", "dest", "body"}` one JSON object per line, the reserved body fields
//! (`type`, `msg_id`, `in_reply_to`), the error codes with their definiteness, and the typed
//! protocol errors a node program can make (each naming the node and the line).

use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// The part of a message the router reads: addresses and the reserved body fields. The rest
/// of the body is left in the line, which is forwarded unchanged. Borrowed from the line
/// where it can be (no allocation per message on the router's hot path).
#[derive(Debug, Clone, Deserialize)]
pub struct Head<'a> {
    /// Sender.
    #[serde(borrow)]
    pub src: Cow<'a, str>,
    /// Receiver.
    #[serde(borrow)]
    pub dest: Cow<'a, str>,
    /// The body's reserved fields.
    #[serde(borrow)]
    pub body: HeadBody<'a>,
}

/// The reserved fields of a body.
#[derive(Debug, Clone, Deserialize)]
pub struct HeadBody<'a> {
    /// The message type (mandatory).
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// The sender's id for this message, if it expects a reply.
    #[serde(default)]
    pub msg_id: Option<u64>,
    /// The `msg_id` this message answers.
    #[serde(default)]
    pub in_reply_to: Option<u64>,
}

/// Why a line is not a Maelstrom message: what was expected.
pub fn parse_head(line: &str) -> Result<Head<'_>, String> {
    serde_json::from_str::<Head>(line).map_err(|e| match serde_json::from_str::<Value>(line) {
        Err(_) => format!("not JSON ({e})"),
        Ok(v) if !v.is_object() => "a JSON value that is not an object".to_string(),
        Ok(_) => format!(
            "expected {{\"src\": ID, \"dest\": ID, \"body\": {{\"type\": STRING, \"msg_id\"?: \
                 INTEGER, \"in_reply_to\"?: INTEGER, …}}}} ({e})"
        ),
    })
}

/// One of Maelstrom's error codes (0–999; 1000 and above are the user's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub i64);

impl ErrorCode {
    /// Timeout (indefinite).
    pub const TIMEOUT: ErrorCode = ErrorCode(0);
    /// The node does not exist (definite).
    pub const NODE_NOT_FOUND: ErrorCode = ErrorCode(1);
    /// The operation is not supported (definite).
    pub const NOT_SUPPORTED: ErrorCode = ErrorCode(10);
    /// Temporarily unavailable (definite).
    pub const TEMPORARILY_UNAVAILABLE: ErrorCode = ErrorCode(11);
    /// Malformed request (definite).
    pub const MALFORMED_REQUEST: ErrorCode = ErrorCode(12);
    /// Crash (indefinite).
    pub const CRASH: ErrorCode = ErrorCode(13);
    /// Abort (definite).
    pub const ABORT: ErrorCode = ErrorCode(14);
    /// Key does not exist (definite).
    pub const KEY_DOES_NOT_EXIST: ErrorCode = ErrorCode(20);
    /// Key already exists (definite).
    pub const KEY_ALREADY_EXISTS: ErrorCode = ErrorCode(21);
    /// Precondition failed (definite).
    pub const PRECONDITION_FAILED: ErrorCode = ErrorCode(22);
    /// Transaction conflict (definite).
    pub const TXN_CONFLICT: ErrorCode = ErrorCode(30);

    /// Maelstrom's name of the code (`key-does-not-exist`); `None` for unknown and user codes.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "timeout",
            1 => "node-not-found",
            10 => "not-supported",
            11 => "temporarily-unavailable",
            12 => "malformed-request",
            13 => "crash",
            14 => "abort",
            20 => "key-does-not-exist",
            21 => "key-already-exists",
            22 => "precondition-failed",
            30 => "txn-conflict",
            _ => return None,
        })
    }

    /// Definite: the operation did not and never will take effect (→ `fail`). Timeouts,
    /// crashes, unknown codes and user codes (≥ 1000) are indefinite (→ `info`).
    pub fn definite(self) -> bool {
        matches!(self.0, 1 | 10 | 11 | 12 | 14 | 20 | 21 | 22 | 30)
    }
}

/// A node program that broke the protocol: which node, what it did, and the line. Every one
/// is the node's bug, never a verdict about consistency: the run stops (exit 254).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProtocolError {
    /// The node did not answer `init` with `init_ok` in time.
    #[error(
        "{node} did not answer init with init_ok within {secs:.1} s (it must reply \
         {{\"type\": \"init_ok\", \"in_reply_to\": {msg_id}}} to the init message on its stdin){hint}"
    )]
    NoInitOk {
        /// The node.
        node: String,
        /// The timeout.
        secs: f64,
        /// The init's msg_id.
        msg_id: u64,
        /// What it wrote instead, if anything.
        hint: String,
    },
    /// A line on the node's stdout that is not a message.
    #[error("{node} wrote a line that is not a Maelstrom message: {why}\n  line: {line}\n  (stdout carries messages only, one JSON object per line; logs go to stderr)")]
    NotAMessage {
        /// The node.
        node: String,
        /// What was expected.
        why: String,
        /// The line (shortened).
        line: String,
    },
    /// A message whose `src` is not the node that wrote it.
    #[error("{node} sent a message with src {src:?}; it must use its own id {node:?} (from init's node_id)\n  line: {line}")]
    WrongSrc {
        /// The node.
        node: String,
        /// The `src` it used.
        src: String,
        /// The line.
        line: String,
    },
    /// A message to a destination that does not exist.
    #[error(
        "{node} sent a message to an unknown node {dest:?} (nodes are {known})\n  line: {line}"
    )]
    UnknownDest {
        /// The node.
        node: String,
        /// The destination.
        dest: String,
        /// The nodes, clients and services that exist.
        known: String,
        /// The line.
        line: String,
    },
    /// A message to a client that answers nothing that client sent.
    #[error("{node} sent {dest} a reply to unknown msg_id {} ({dest} sent msg_ids 1..={sent} so far; a client only receives replies, with in_reply_to set to the msg_id of its request)\n  line: {line}", show_id(.in_reply_to))]
    UnknownReply {
        /// The node.
        node: String,
        /// The client.
        dest: String,
        /// The `in_reply_to` (None: missing).
        in_reply_to: Option<u64>,
        /// The highest msg_id the client sent.
        sent: u64,
        /// The line.
        line: String,
    },
    /// The node exited without being killed by the nemesis.
    #[error("{node} exited on its own ({status}); its log: {log}{tail}")]
    Exited {
        /// The node.
        node: String,
        /// The exit status.
        status: String,
        /// Its stderr log.
        log: String,
        /// The end of that log.
        tail: String,
    },
    /// The node program could not be started.
    #[error("cannot start {node} ({program}): {reason}")]
    Spawn {
        /// The node.
        node: String,
        /// The program.
        program: String,
        /// The OS error.
        reason: String,
    },
}

/// A line shortened for messages (at most 300 characters).
pub fn shorten(line: &str) -> String {
    if line.chars().count() <= 300 {
        line.to_string()
    } else {
        let s: String = line.chars().take(300).collect();
        format!("{s}… ({} bytes)", line.len())
    }
}

/// An `in_reply_to` for messages: the number, or that it is missing.
fn show_id(id: &Option<u64>) -> String {
    id.map_or("(in_reply_to missing)".to_string(), |i| i.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definite_codes_are_maelstroms() {
        for c in [1, 10, 11, 12, 14, 20, 21, 22, 30] {
            assert!(ErrorCode(c).definite(), "{c}");
        }
        for c in [0, 13, 1000, 1234, 999] {
            assert!(!ErrorCode(c).definite(), "{c}");
        }
        assert_eq!(ErrorCode(22).name(), Some("precondition-failed"));
    }

    #[test]
    fn heads_parse_and_non_messages_say_why() {
        let h = parse_head(
            r#"{"src":"n1","dest":"c1","body":{"type":"echo_ok","in_reply_to":3,"echo":"x"}}"#,
        )
        .unwrap();
        assert_eq!((h.src.as_ref(), h.body.in_reply_to), ("n1", Some(3)));
        assert!(parse_head("hello").unwrap_err().starts_with("not JSON"));
        assert!(parse_head(r#"{"src":"n1"}"#)
            .unwrap_err()
            .contains("expected"));
    }
}
