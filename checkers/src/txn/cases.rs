//! Non-cycle anomaly cases (aborted reads, duplicates, lost updates, …) as the inference steps
//! find them: counted per anomaly name, with the first few kept as a sentence and a JSON object.
//! Also the helpers that name a transaction by its file lines for those sentences.

use super::txns::Txns;
use crate::history::Operation;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How many cases of one anomaly are kept with their details (all are counted).
pub const KEEP: usize = 8;

/// One case of an anomaly.
#[derive(Debug, Clone)]
pub struct Case {
    /// The explanation sentence.
    pub text: String,
    /// Machine-readable details.
    pub json: Value,
}

/// Cases found, per anomaly name: total count and the first [`KEEP`].
#[derive(Debug, Default)]
pub struct Cases {
    /// name → (count, kept cases).
    pub by_name: BTreeMap<String, (usize, Vec<Case>)>,
}

impl Cases {
    /// Records one case of `name`, building its text and details only if it is kept.
    pub fn add_with(&mut self, name: &str, make: impl FnOnce() -> (String, Value)) {
        let e = self.by_name.entry(name.to_string()).or_default();
        e.0 += 1;
        if e.1.len() < KEEP {
            let (text, json) = make();
            e.1.push(Case { text, json });
        }
    }
}

/// The file lines of transaction `t`: `lines 3–4` or `line 3`.
pub fn lines(ops: &[Operation], tx: &Txns, t: u32) -> String {
    let op = &ops[tx.txns[t as usize].op];
    match op.complete_line {
        Some(c) if c != op.invoke_line => format!("lines {}–{}", op.invoke_line, c),
        _ => format!("line {}", op.invoke_line),
    }
}

/// A short name for transaction `t` in sentences: `the txn on lines 3–4 (process 1)`, with
/// `failed`/`indeterminate` when it did not complete ok.
pub fn txn_name(ops: &[Operation], tx: &Txns, t: u32) -> String {
    let op = &ops[tx.txns[t as usize].op];
    let status = match op.outcome {
        crate::history::Outcome::Ok => "",
        crate::history::Outcome::Fail => "failed ",
        crate::history::Outcome::Info => "indeterminate ",
    };
    let process = op
        .process
        .as_ref()
        .map(|p| format!(" (process {p})"))
        .unwrap_or_default();
    format!("the {status}txn on {}{process}", lines(ops, tx, t))
}

/// The JSON view of transaction `t`: process, type, value and lines.
pub fn txn_json(ops: &[Operation], tx: &Txns, t: u32) -> Value {
    let op = &ops[tx.txns[t as usize].op];
    let rewritten = super::read::rewritten(ops, tx, t);
    let value = rewritten.as_ref().unwrap_or(match op.outcome {
        crate::history::Outcome::Ok => &op.output,
        _ => &op.input,
    });
    json!({
        "index": t,
        "process": op.process.as_ref().map(|p| p.to_string()),
        "type": op.outcome.name(),
        "value": value,
        "line": op.complete_line.unwrap_or(op.invoke_line),
        "invoke_line": op.invoke_line,
    })
}

/// The micro-operations of `t` as written in the file, compactly: `[append 9 2] [r 9 [2]]`.
pub fn txn_text(ops: &[Operation], tx: &Txns, t: u32) -> String {
    let op = &ops[tx.txns[t as usize].op];
    let rewritten = super::read::rewritten(ops, tx, t);
    let value = rewritten.as_ref().unwrap_or(match op.outcome {
        crate::history::Outcome::Ok => &op.output,
        _ => &op.input,
    });
    let mut out = String::new();
    if let Value::Array(mops) = value {
        for (i, m) in mops.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            if i == 6 && mops.len() > 7 {
                out.push_str(&format!("… ({} more)", mops.len() - 6));
                break;
            }
            out.push('[');
            if let Value::Array(parts) = m {
                let shown: Vec<String> = parts.iter().map(show_value).collect();
                out.push_str(&shown.join(" "));
            }
            out.push(']');
        }
    }
    out
}

fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "nil".into(),
        // Long lists (a read of a key appended to thousands of times) keep their ends.
        Value::Array(xs) if xs.len() > 8 => {
            let mut shown: Vec<String> = xs[..2].iter().map(show_value).collect();
            shown.push(format!("…{} more…", xs.len() - 5));
            shown.extend(xs[xs.len() - 3..].iter().map(show_value));
            format!("[{}]", shown.join(" "))
        }
        Value::Array(xs) => {
            let shown: Vec<String> = xs.iter().map(show_value).collect();
            format!("[{}]", shown.join(" "))
        }
        other => other.to_string(),
    }
}

/// A list of interned values for sentences, eliding the middle of long lists.
pub fn show_list(tx: &Txns, list: &[u32]) -> String {
    let shown: Vec<String> = if list.len() > 8 {
        let mut v: Vec<String> = list[..2].iter().map(|&e| tx.values.show(e)).collect();
        v.push(format!("…{} more…", list.len() - 5));
        v.extend(list[list.len() - 3..].iter().map(|&e| tx.values.show(e)));
        v
    } else {
        list.iter().map(|&e| tx.values.show(e)).collect()
    };
    format!("[{}]", shown.join(" "))
}
