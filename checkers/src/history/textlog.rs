//! Jepsen's text log, as in Porcupine's etcd test data:
//!
//! ```text
//! INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]
//! INFO  jepsen.util - 3<TAB>:info<TAB>:cas<TAB>:timed-out
//! ```
//!
//! Each line holding [`MARKER`] followed by `<process> <:type> <:f> <value>`, separated by tabs
//! or by runs of blanks (tabs or spaces, as some tools rewrite them), is one event; every other
//! line is ignored: `jepsen.util` lines without tabs whose second word is not a type
//! (`:invoke`, `:ok`, `:fail`, `:info`) are messages. The process is an integer (a client) or a
//! keyword such as `:nemesis`; the value is EDN.

use super::{edn, read::show, Event, EventType, Process};
use crate::InputError;
use serde_json::{Map, Value};

/// The text that marks an operation line.
pub const MARKER: &str = "jepsen.util - ";

/// Reads every operation line of a Jepsen text log into events with 1-based lines.
///
/// An empty (or all-blank) input is an empty history; a non-blank input without a single
/// operation line is an error, so that text which is not a Jepsen log at all (forced with
/// `--format-in jepsen-log`) is never checked as an empty, trivially valid history.
pub fn read_jepsen_log(text: &str, source: &str) -> Result<Vec<Event>, InputError> {
    let mut events = Vec::new();
    let mut first_content_line = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let content = raw.strip_suffix('\r').unwrap_or(raw);
        if first_content_line.is_none() && !content.trim().is_empty() {
            first_content_line = Some(line);
        }
        let Some(at) = content.find(MARKER) else {
            continue;
        };
        let rest = &content[at + MARKER.len()..];
        if !rest.contains('\t') && !spaced_operation(rest) {
            continue;
        }
        events.push(parse_line(rest, line, source)?);
    }
    if let (true, Some(line)) = (events.is_empty(), first_content_line) {
        return Err(InputError::new(
            source,
            line,
            format!(
                "expected Jepsen log operation lines ('… {MARKER}<process>\\t<:type>\\t<:f>\\t<value>'), found none in the whole input"
            ),
        ));
    }
    Ok(events)
}

/// True when a line without tabs is an operation line written with spaces: its second word
/// is a type (`:invoke`, `:ok`, `:fail`, `:info`) and a third word follows.
pub(crate) fn spaced_operation(rest: &str) -> bool {
    let (fields, _) = split_blanks(rest);
    fields[2].is_some()
        && fields[1]
            .and_then(|t| t.strip_prefix(':'))
            .and_then(EventType::parse)
            .is_some()
}

/// Splits the first three fields off at runs of blanks (tabs or spaces); the rest, trimmed,
/// is the fourth field (the value, which may hold blanks itself).
pub(crate) fn split_blanks(rest: &str) -> ([Option<&str>; 3], &str) {
    let mut fields = [None; 3];
    let mut tail = rest.trim_start_matches([' ', '\t']);
    for slot in &mut fields {
        if tail.is_empty() {
            break;
        }
        let end = tail.find([' ', '\t']).unwrap_or(tail.len());
        *slot = Some(&tail[..end]);
        tail = tail[end..].trim_start_matches([' ', '\t']);
    }
    (fields, tail.trim_end())
}

/// [`parse_line`] without building an [`Event`], for the compact reader: the fields of the
/// common line (three fields split at blanks, one EDN value as the fast EDN scanner reads it);
/// `None` for every other line (which [`parse_line`] then reads, or refuses).
pub(crate) fn scan_line(rest: &str) -> Option<super::fast_json::RawEvent<'_>> {
    use super::fast_json::{RawEvent, Scalar};
    let tabbed = rest.splitn(4, '\t');
    if tabbed.take(3).any(|f| f.trim().is_empty()) {
        return None;
    }
    let ([Some(process_text), Some(type_text), Some(f_text)], value_text) = split_blanks(rest)
    else {
        return None;
    };
    let process = match process_text.parse::<i64>() {
        Ok(n) => Scalar::Int(n),
        Err(_) => match process_text.strip_prefix(':').unwrap_or(process_text) {
            "" => return None,
            name => Scalar::Str(name),
        },
    };
    let kind = EventType::parse(type_text.strip_prefix(':').unwrap_or(type_text))?;
    let f = f_text.strip_prefix(':').unwrap_or(f_text);
    if f.is_empty() {
        return None;
    }
    let (value, pair) = if value_text.is_empty() {
        (Scalar::Null, None)
    } else {
        super::fast_edn::scan_edn_value(value_text)?
    };
    Some(RawEvent {
        kind,
        time: None,
        process: Some(process),
        f: Some(f),
        key: None,
        value,
        pair,
        error: None,
    })
}

/// Parses `<process> <:type> <:f> <value>` (the part after the marker, fields separated by
/// runs of blanks) of line `line`.
pub(crate) fn parse_line(rest: &str, line: usize, source: &str) -> Result<Event, InputError> {
    let err = |message: String| InputError::new(source, line, message);
    // An empty field between tabs is kept as empty (and refused below, by name).
    let tabbed: Vec<&str> = rest.splitn(4, '\t').collect();
    let ([process_text, type_text, f_text], value_text) =
        if tabbed.len() >= 3 && tabbed[..3].iter().any(|f| f.trim().is_empty()) {
            let field = |i: usize| tabbed.get(i).map(|f| f.trim());
            ([field(0), field(1), field(2)], field(3).unwrap_or(""))
        } else {
            split_blanks(rest)
        };
    let process_text = process_text.unwrap_or("");
    let type_text = type_text.unwrap_or("");
    let Some(f_text) = f_text else {
        return Err(err(format!(
            "expected '<process>\\t<:type>\\t<:f>\\t<value>' after '{MARKER}', found only two fields"
        )));
    };

    let process = if let Ok(n) = process_text.parse::<i64>() {
        Process::Client(n)
    } else {
        match process_text.strip_prefix(':').unwrap_or(process_text) {
            "" => {
                return Err(err(format!(
                    "expected a process (an integer or a keyword such as :nemesis) as the first field, found {}",
                    show(&Value::String(process_text.to_string()))
                )))
            }
            name => Process::Named(name.to_string()),
        }
    };
    let kind =
        EventType::parse(type_text.strip_prefix(':').unwrap_or(type_text)).ok_or_else(|| {
            err(format!(
                "expected the type (:invoke, :ok, :fail or :info) as the second field, found {}",
                show(&Value::String(type_text.to_string()))
            ))
        })?;
    let f = f_text.strip_prefix(':').unwrap_or(f_text);
    if f.is_empty() {
        return Err(err(
            "expected the operation (such as :read) as the third field, found nothing".to_string(),
        ));
    }
    let value = if value_text.is_empty() {
        Value::Null
    } else {
        match edn::parse_fragment(value_text, source, line) {
            Ok(forms) if forms.len() <= 1 => {
                forms.into_iter().next().map_or(Value::Null, |f| f.value)
            }
            // Jepsen logs non-client values (nemesis messages) as plain text.
            _ if !process.is_client() => Value::String(value_text.to_string()),
            Ok(forms) => {
                return Err(err(format!(
                    "expected one EDN value as the fourth field, found {} values: {}",
                    forms.len(),
                    show(&Value::String(value_text.to_string()))
                )))
            }
            Err(e) => {
                return Err(InputError::new(
                    e.file,
                    line,
                    format!("in the value (fourth field): {}", e.message),
                ))
            }
        }
    };
    Ok(Event {
        line,
        index: None,
        time: None,
        process: Some(process),
        kind,
        f: Some(f.to_string()),
        key: None,
        value,
        error: None,
        extra: Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn regression_forced_jepsen_log_on_other_text_is_an_error_not_an_empty_valid_history() {
        let err = read_jepsen_log("{\"process\": 0}\nnot a log\n", "x.log").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(
            err.to_string()
                .contains("expected Jepsen log operation lines"),
            "{err}"
        );
        assert!(read_jepsen_log("\n  \n", "blank.log").unwrap().is_empty());
    }

    #[test]
    fn reads_operation_lines() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                    some other line\n\
                    INFO  jepsen.util - Worker 3 starting\n\
                    INFO  jepsen.util - 2\t:invoke\t:cas\t[2 4]\r\n\
                    INFO  jepsen.util - 2\t:info\t:cas\t:timed-out\n\
                    INFO  jepsen.util - 0\t:ok\t:read\t3\n\
                    2015-01-01 INFO jepsen.util - :nemesis\t:info\t:start\tCut off {:n1 #{:n2}}\n\
                    INFO  jepsen.util - 5\t:invoke\t:read\n";
        let events = read_jepsen_log(text, "t.log").unwrap();
        let lines: Vec<usize> = events.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 4, 5, 6, 7, 8]);
        assert_eq!(events[0].process, Some(Process::Client(0)));
        assert_eq!(events[0].kind, EventType::Invoke);
        assert_eq!(events[0].f.as_deref(), Some("read"));
        assert_eq!(events[0].value, Value::Null);
        assert_eq!(events[1].value, json!([2, 4]));
        assert_eq!(events[2].kind, EventType::Info);
        assert_eq!(events[2].value, json!("timed-out"));
        assert_eq!(events[3].value, json!(3));
        assert_eq!(events[4].process, Some(Process::Named("nemesis".into())));
        assert_eq!(events[4].value, json!("Cut off {:n1 #{:n2}}"));
        assert_eq!(events[5].value, Value::Null);
    }

    /// Issue 17 item 5: fields separated by runs of spaces (or blanks of both kinds) read like
    /// tab-separated ones; a `jepsen.util` message in words is still not an operation.
    #[test]
    fn issue_17_fields_separated_by_runs_of_spaces() {
        let text = "INFO  jepsen.util - 0   :invoke   :cas   [2 4]\n\
                    INFO  jepsen.util - Worker 3 starting\n\
                    INFO  jepsen.util - :nemesis  :info \t :start    Cut off {:n1 #{:n2}}\n\
                    INFO  jepsen.util - 0 :ok :cas [2  4]  \n";
        let events = read_jepsen_log(text, "t.log").unwrap();
        let lines: Vec<usize> = events.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 3, 4]);
        assert_eq!(events[0].f.as_deref(), Some("cas"));
        assert_eq!(events[0].value, json!([2, 4]));
        assert_eq!(events[1].process, Some(Process::Named("nemesis".into())));
        assert_eq!(events[1].value, json!("Cut off {:n1 #{:n2}}"));
        assert_eq!(events[2].kind, EventType::Ok);
        assert_eq!(events[2].value, json!([2, 4]));
    }

    #[test]
    fn empty_log() {
        assert!(read_jepsen_log("", "t").unwrap().is_empty());
        assert!(read_jepsen_log("\n\n  \n", "t").unwrap().is_empty());
        // Lines but not one operation line: not a history at all (line 3 is the first text).
        assert_eq!(read_jepsen_log("\n\nstarting\n", "t").unwrap_err().line, 3);
    }

    #[test]
    fn errors() {
        let e = read_jepsen_log("x\nINFO  jepsen.util - 1\t:okay\t:read\tnil", "t").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("(:invoke, :ok, :fail or :info)"), "{e}");
        let e = read_jepsen_log("INFO  jepsen.util - 1\t:ok", "t").unwrap_err();
        assert!(e.message.contains("found only two fields"), "{e}");
        let e = read_jepsen_log("\n\nINFO  jepsen.util - 1\t:ok\t:cas\t[1 2", "t").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("expected ']'"), "{e}");
        let e = read_jepsen_log("INFO  jepsen.util - 1\t:ok\t:read\t1 2", "t").unwrap_err();
        assert!(e.message.contains("one EDN value"), "{e}");
        let e = read_jepsen_log("INFO  jepsen.util - \t:ok\t:read\t1", "t").unwrap_err();
        assert!(e.message.contains("expected a process"), "{e}");
        let e = read_jepsen_log("INFO  jepsen.util - 1\t:ok\t\t1", "t").unwrap_err();
        assert!(e.message.contains("third field"), "{e}");
        let e = read_jepsen_log(
            "INFO  jepsen.util - 1\t:ok\t:read\t99999999999999999999",
            "t",
        )
        .unwrap_err();
        assert!(e.message.contains("integer out of range"), "{e}");
    }
}
