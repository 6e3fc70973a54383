//! Reading a history file: format detection, and the conversion from a parsed operation map
//! (JSON object or EDN map) to an [`Event`] shared by every reader.

use super::{edn, json, limits, textlog, Event, EventType, Format, History, Process};
use crate::InputError;
use serde_json::{Map, Value};

/// Reads a whole history from `bytes`.
///
/// `source` names the input in errors and in [`History::source`] (`-` for standard input).
/// With `forced` the given format is used; otherwise it is detected from the content (see
/// [`detect_format`]). An input with no events (empty, blanks or comments only) is a valid
/// empty history. Every problem is an [`InputError`] naming the 1-based line and what was
/// expected; that includes a line longer than [`limits::MAX_LINE_BYTES`].
pub fn read_history(
    source: &str,
    bytes: &[u8],
    forced: Option<Format>,
) -> Result<History, InputError> {
    limits::check_line_lengths(source, bytes, limits::MAX_LINE_BYTES)?;
    let text = decode_utf8(source, bytes)?;
    let detected = match forced {
        Some(format) => format,
        None => detect_format(source, text)?,
    };
    let (format, events) = match detected {
        Format::JsonLines => (Format::JsonLines, json::read_json_lines(text, source)?),
        Format::JsonArray => (Format::JsonArray, json::read_json_array(text, source)?),
        Format::JepsenLog => (Format::JepsenLog, textlog::read_jepsen_log(text, source)?),
        Format::Edn | Format::PorcupineKv => {
            let (events, one_per_line) = read_edn(text, source, detected)?;
            let format = if forced.is_some() {
                detected
            } else if one_per_line && looks_like_porcupine_kv(&events) {
                Format::PorcupineKv
            } else {
                Format::Edn
            };
            (format, events)
        }
    };
    Ok(History {
        source: source.to_string(),
        format,
        events,
    })
}

/// Reads the history in the file at `path`, or standard input when `path` is `-`, detecting
/// its format. See [`read_history`].
pub fn read_history_file(path: &str) -> Result<History, InputError> {
    let bytes = limits::read_input(path)?;
    read_history(path, &bytes, None)
}

/// Decodes `bytes` as UTF-8 (dropping a leading byte-order mark); an invalid byte is an error
/// naming its line and column.
pub fn decode_utf8<'a>(source: &str, bytes: &'a [u8]) -> Result<&'a str, InputError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').unwrap_or(text)),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
            let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let column = e.valid_up_to() - line_start + 1;
            let bad = bytes[e.valid_up_to()];
            Err(InputError::new(
                source,
                line,
                format!("expected UTF-8 text, found the byte 0x{bad:02X} (column {column}), which is not valid UTF-8"),
            ))
        }
    }
}

/// Detects the encoding of `text` from its content.
///
/// The first character that is not blank and not in a `;` comment decides: `{"` starts JSON
/// lines; `[` followed by `{"` (or `]`) a JSON array; `{:`, `[{:`, `(`, `#` or a `;` comment EDN.
/// Otherwise a text with a `jepsen.util - ` line is a Jepsen log. EDN that turns out to be one
/// key-value map per line is reported as [`Format::PorcupineKv`] by [`read_history`]. Text with
/// nothing but blanks reads as (empty) JSON lines.
pub fn detect_format(source: &str, text: &str) -> Result<Format, InputError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut line = 1;
    let mut saw_comment = false;
    // Skip blanks and `;` comments.
    while let Some(&b) = bytes.get(pos) {
        match b {
            b'\n' => {
                line += 1;
                pos += 1;
            }
            b' ' | b'\t' | b'\r' => pos += 1,
            b';' => {
                saw_comment = true;
                while bytes.get(pos).is_some_and(|&c| c != b'\n') {
                    pos += 1;
                }
            }
            _ => break,
        }
    }
    let next_after = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map(|p| (from + p, bytes[from + p]))
    };
    let Some(&first) = bytes.get(pos) else {
        return Ok(if saw_comment {
            Format::Edn
        } else {
            Format::JsonLines
        });
    };
    if saw_comment {
        return Ok(Format::Edn);
    }
    match first {
        b'{' => Ok(match next_after(pos + 1) {
            Some((_, b'"' | b'}')) => Format::JsonLines,
            _ => Format::Edn,
        }),
        b'[' => Ok(match next_after(pos + 1) {
            Some((p, b'{')) => match next_after(p + 1) {
                Some((_, b'"' | b'}')) => Format::JsonArray,
                _ => Format::Edn,
            },
            Some((_, b']')) | None => Format::JsonArray,
            Some((_, b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')) => Format::JsonArray,
            Some(_) => Format::Edn,
        }),
        b'(' | b'#' => Ok(Format::Edn),
        _ if text.contains(textlog::MARKER) => Ok(Format::JepsenLog),
        _ => {
            let shown: String = text[pos..]
                .chars()
                .take(20)
                .take_while(|&c| c != '\n')
                .collect();
            Err(InputError::new(
                source,
                line,
                format!(
                    "expected a history (JSON lines starting with '{{\"', a JSON array starting with '[', EDN starting with '{{:', '[' or '(', or a Jepsen log with 'jepsen.util - ' lines), found {shown:?}"
                ),
            ))
        }
    }
}

/// Reads EDN events: the elements of a single top-level vector or list, or else every top-level
/// map. Also says whether the events were top-level maps (one per line).
fn read_edn(text: &str, source: &str, format: Format) -> Result<(Vec<Event>, bool), InputError> {
    let forms = edn::parse_forms(text, source)?;
    if let [single] = forms.as_slice() {
        if matches!(single.kind, edn::FormKind::Vector | edn::FormKind::List) {
            let form = forms.into_iter().next().expect("one form");
            let Value::Array(items) = form.value else {
                unreachable!("vectors and lists are arrays")
            };
            let mut events = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let line = form.item_lines.get(i).copied().unwrap_or(form.line);
                events.push(event_from_value(item, line, source, format)?);
            }
            return Ok((events, false));
        }
    }
    let mut events = Vec::with_capacity(forms.len());
    for form in forms {
        if form.kind != edn::FormKind::Map {
            let what = form.kind.describe();
            let message = if matches!(form.kind, edn::FormKind::Vector | edn::FormKind::List) {
                format!(
                    "expected either one vector or list of operation maps, or one operation map per line; found {what} among other top-level forms"
                )
            } else {
                format!(
                    "expected an operation map {{:type …}}, found {what}: {}",
                    show(&form.value)
                )
            };
            return Err(InputError::new(source, form.line, message));
        }
        events.push(event_from_value(form.value, form.line, source, format)?);
    }
    Ok((events, true))
}

/// True when every event is a Porcupine key-value operation: it has a `key` and `f` is
/// `get`, `put` or `append` (and there is at least one event).
fn looks_like_porcupine_kv(events: &[Event]) -> bool {
    !events.is_empty()
        && events
            .iter()
            .all(|e| e.key.is_some() && matches!(e.f.as_deref(), Some("get" | "put" | "append")))
}

/// How a field is spelled in messages for `format`: `:type` in EDN, `"type"` in JSON.
fn field(format: Format, name: &str) -> String {
    match format {
        Format::JsonLines | Format::JsonArray => format!("\"{name}\""),
        _ => format!(":{name}"),
    }
}

/// A value as shown in messages: compact JSON, cut at 60 characters.
pub(crate) fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// A value's JSON type for messages ("a string", "an array", …).
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Converts one parsed operation (a JSON object or EDN map) starting at `line` into an
/// [`Event`]; anything that is not a map is an error naming the line.
///
/// `format` only chooses how field names are spelled in error messages.
pub fn event_from_value(
    value: Value,
    line: usize,
    source: &str,
    format: Format,
) -> Result<Event, InputError> {
    match value {
        Value::Object(map) => event_from_map(map, line, source, format),
        other => Err(InputError::new(
            source,
            line,
            format!(
                "expected an operation (a map with {}), found {}: {}",
                field(format, "type"),
                kind_of(&other),
                show(&other)
            ),
        )),
    }
}

/// Converts an operation map starting at `line` into an [`Event`].
///
/// Fields: `index` (integer), `time` (integer; any other value is kept in `extra`), `process`
/// (integer → [`Process::Client`], string → [`Process::Named`], absent or null → none), `type`
/// (required: invoke, ok, fail or info), `f` (string), `key`, `value` (null when absent),
/// `error`; every other field goes to [`Event::extra`] in file order.
pub fn event_from_map(
    mut map: Map<String, Value>,
    line: usize,
    source: &str,
    format: Format,
) -> Result<Event, InputError> {
    let err = |message: String| InputError::new(source, line, message);
    let kind = match map.shift_remove("type") {
        Some(Value::String(s)) => EventType::parse(&s).ok_or_else(|| {
            err(format!(
                "expected {} to be one of invoke, ok, fail, info, found {}",
                field(format, "type"),
                show(&Value::String(s.clone()))
            ))
        })?,
        Some(other) => {
            return Err(err(format!(
                "expected {} to be one of invoke, ok, fail, info, found {}",
                field(format, "type"),
                show(&other)
            )))
        }
        None => {
            return Err(err(format!(
                "expected {} (one of invoke, ok, fail, info) in every operation, found an operation without it",
                field(format, "type")
            )))
        }
    };
    let index = match map.shift_remove("index") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            err(format!(
                "expected {} to be an integer, found {}",
                field(format, "index"),
                show(&v)
            ))
        })?),
    };
    let time = match map.get("time").and_then(Value::as_i64) {
        Some(t) => {
            map.shift_remove("time");
            Some(t)
        }
        None => None,
    };
    let process = match map.shift_remove("process") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Process::Named(s)),
        Some(v) => Some(Process::Client(v.as_i64().ok_or_else(|| {
            err(format!(
                "expected {} to be an integer or a name, found {}",
                field(format, "process"),
                show(&v)
            ))
        })?)),
    };
    let f = match map.shift_remove("f") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(v) => {
            return Err(err(format!(
                "expected {} to be an operation name, found {}",
                field(format, "f"),
                show(&v)
            )))
        }
    };
    let key = match map.shift_remove("key") {
        Some(v @ (Value::Array(_) | Value::Object(_))) => {
            return Err(err(format!(
                "expected {} to be a scalar (number, string, keyword, boolean or null), found {}",
                field(format, "key"),
                show(&v)
            )))
        }
        key => key,
    };
    let value = map.shift_remove("value").unwrap_or(Value::Null);
    let error = map.shift_remove("error");
    Ok(Event {
        line,
        index,
        time,
        process,
        kind,
        f,
        key,
        value,
        error,
        extra: map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(src: &str) -> Result<History, InputError> {
        read_history("t", src.as_bytes(), None)
    }

    #[test]
    fn detection() {
        let d = |s: &str| detect_format("t", s).unwrap();
        assert_eq!(d("{\"type\":\"ok\"}"), Format::JsonLines);
        assert_eq!(d("\n  { \"type\":\"ok\"}"), Format::JsonLines);
        assert_eq!(d("[{\"type\":\"ok\"}]"), Format::JsonArray);
        assert_eq!(d("[\n {\n \"type\":\"ok\"}]"), Format::JsonArray);
        assert_eq!(d("[]"), Format::JsonArray);
        assert_eq!(d("[{:type :ok}]"), Format::Edn);
        assert_eq!(d("[ {:type :ok}]"), Format::Edn);
        assert_eq!(d("[;c\n{:type :ok}]"), Format::Edn);
        assert_eq!(d("({:type :ok})"), Format::Edn);
        assert_eq!(d("{:type :ok}"), Format::Edn);
        assert_eq!(d("; comment\n[{\"type\":1}]"), Format::Edn);
        assert_eq!(d("#_ x {:type :ok}"), Format::Edn);
        assert_eq!(
            d("INFO  jepsen.util - 0\t:invoke\t:read\tnil"),
            Format::JepsenLog
        );
        assert_eq!(d(""), Format::JsonLines);
        assert_eq!(d(" \n\n"), Format::JsonLines);
        let e = detect_format("t", "\n\nhello").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.starts_with("expected a history"), "{e}");
    }

    #[test]
    fn conversion() {
        let h = read(
            "{:index 3 :time 10 :process 1 :type :invoke :f :write :key \"k\" :value 4 :op-index 9}\n\
             {:type :info :process :nemesis :f :start :time 1.5 :error [:x nil]}\n\
             {:type :ok}\n",
        )
        .unwrap();
        assert_eq!(h.format, Format::Edn);
        let e = &h.events[0];
        assert_eq!(e.line, 1);
        assert_eq!(e.index, Some(3));
        assert_eq!(e.time, Some(10));
        assert_eq!(e.process, Some(Process::Client(1)));
        assert_eq!(e.kind, EventType::Invoke);
        assert_eq!(e.f.as_deref(), Some("write"));
        assert_eq!(e.key, Some(json!("k")));
        assert_eq!(e.value, json!(4));
        assert_eq!(e.error, None);
        assert_eq!(Value::Object(e.extra.clone()), json!({"op-index": 9}));
        let e = &h.events[1];
        assert_eq!(e.process, Some(Process::Named("nemesis".into())));
        assert_eq!(e.time, None);
        assert_eq!(Value::Object(e.extra.clone()), json!({"time": 1.5}));
        assert_eq!(e.error, Some(json!(["x", null])));
        assert_eq!(e.value, Value::Null);
        let e = &h.events[2];
        assert_eq!(
            (e.process.clone(), e.f.clone(), e.index),
            (None, None, None)
        );
    }

    #[test]
    fn conversion_errors() {
        let e = read("{:type :ok}\n{:type :reed :f :read}").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.message,
            "expected :type to be one of invoke, ok, fail, info, found \"reed\""
        );
        let e = read("{\"type\":\"ok\"}\n{\"f\":\"read\"}").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("expected \"type\""), "{e}");
        let e = read("{:type 3}").unwrap_err();
        assert!(e.message.ends_with("found 3"), "{e}");
        let e = read("{:type :ok :process [1]}").unwrap_err();
        assert!(e.message.contains(":process"), "{e}");
        let e = read("{:type :ok :index \"x\"}").unwrap_err();
        assert!(e.message.contains(":index"), "{e}");
        let e = read("{:type :ok :f 3}").unwrap_err();
        assert!(e.message.contains(":f"), "{e}");
        let e = read("{:type :ok}\n[1 2]").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("a vector"), "{e}");
        let e = read("{:type :ok}\n:foo").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("a scalar"), "{e}");
        let e = read("[{:type :ok}\n 3]").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("found a number: 3"), "{e}");
    }

    #[test]
    fn edn_top_levels() {
        let h = read("; c\n({:type :invoke :process 0}\n ; mid\n {:type :ok :process 0})").unwrap();
        assert_eq!(h.events.len(), 2);
        assert_eq!(h.events[1].line, 4);
        let h = read("[]").unwrap();
        assert_eq!(h.events.len(), 0);
        let h = read("; nothing\n").unwrap();
        assert_eq!((h.format, h.events.len()), (Format::Edn, 0));
        let h = read("{:type :invoke :f :get :key \"1\" :process 0 :value nil}\n{:type :ok :f :get :key \"1\" :process 0 :value \"\"}").unwrap();
        assert_eq!(h.format, Format::PorcupineKv);
        let h = read("[{:type :invoke :f :get :key \"1\" :process 0 :value nil}]").unwrap();
        assert_eq!(h.format, Format::Edn);
        let h = read_history(
            "t",
            b"{:type :invoke :f :get :key \"1\" :process 0}",
            Some(Format::Edn),
        )
        .unwrap();
        assert_eq!(h.format, Format::Edn);
        let h = read_history("t", b"{:type :ok}", Some(Format::PorcupineKv)).unwrap();
        assert_eq!(h.format, Format::PorcupineKv);
    }

    #[test]
    fn empty_inputs() {
        for (src, format) in [
            ("", Format::JsonLines),
            ("\n \n", Format::JsonLines),
            ("\u{feff}", Format::JsonLines),
        ] {
            let h = read(src).unwrap();
            assert_eq!((h.format, h.events.len()), (format, 0));
        }
        for format in [
            Format::JsonLines,
            Format::JsonArray,
            Format::Edn,
            Format::PorcupineKv,
            Format::JepsenLog,
        ] {
            let h = read_history("t", b"  \n", Some(format)).unwrap();
            assert_eq!((h.format, h.events.len()), (format, 0));
        }
    }

    #[test]
    fn non_utf8() {
        let e = read_history("bad", b"{:type :ok}\n{:type \xff:ok}\n", None).unwrap_err();
        assert_eq!(e.file, "bad");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("UTF-8"), "{e}");
        assert!(e.message.contains("0xFF"), "{e}");
        assert!(e.message.contains("column 8"), "{e}");
    }

    #[test]
    fn missing_file() {
        let e = read_history_file("/nonexistent/faultline/history.edn").unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.starts_with("cannot read the file"), "{e}");
    }
}
