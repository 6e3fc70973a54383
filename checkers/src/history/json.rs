//! JSON readers: JSON lines (one operation object per line) and a single JSON array of
//! operation objects. Both go through [`super::read::event_from_value`].

use super::limits::check_json_integers;
use super::read::{event_from_value, show};
use super::{Event, Format};
use crate::InputError;
use serde_json::Value;

/// Reads JSON lines: every non-blank line is one operation object.
///
/// Errors name the 1-based line and, for malformed JSON, the column. An integer beyond 64 bits
/// is an error (see [`check_json_integers`]). A torn last line (see [`torn_last_line`]) is left
/// out, so a recording cut short by a crash still reads up to its last complete event; a
/// malformed line anywhere else is an error.
pub fn read_json_lines(text: &str, source: &str) -> Result<Vec<Event>, InputError> {
    super::fast_json::parse_parallel(text, 1, torn_last_line(text), source, true)
}

/// The 1-based number of a torn last line of JSON lines, if there is one: the text does not
/// end with a newline and its last line is the beginning of a JSON value that ends too early
/// (cut off, not otherwise malformed). That is what a writer killed mid-write leaves behind
/// (faultline's recorder writes whole lines, each ending in a newline, so only the last one
/// can be cut). A last line without its newline that parses is complete; one with any other
/// error (trailing characters, too deep, a wrong token) is malformed, not torn.
pub fn torn_last_line(text: &str) -> Option<usize> {
    let start = text.rfind('\n').map_or(0, |p| p + 1);
    let last = text[start..].trim();
    if last.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(last) {
        Err(e) if e.is_eof() => Some(1 + text[..start].bytes().filter(|&b| b == b'\n').count()),
        _ => None,
    }
}

/// Reads one JSON array of operation objects. Each event's line is the line where its element
/// starts; errors name that line and the element's 1-based position in the array.
///
/// A text with nothing but whitespace is an empty history. An integer beyond 64 bits is an
/// error (see [`check_json_integers`]).
pub fn read_json_array(text: &str, source: &str) -> Result<Vec<Event>, InputError> {
    check_json_integers(source, text, 1)?;
    let mut cur = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
    };
    let err = |line: usize, message: String| InputError::new(source, line, message);
    cur.skip_ws();
    match cur.peek() {
        None => return Ok(Vec::new()),
        Some(b'[') => cur.advance(1),
        Some(_) => {
            return Err(err(
                cur.line,
                format!("expected '[' to start a JSON array, found {}", cur.found()),
            ))
        }
    }
    let open_line = cur.line;
    let mut events = Vec::new();
    cur.skip_ws();
    if cur.peek() == Some(b']') {
        cur.advance(1);
    } else {
        let mut n = 0;
        loop {
            n += 1;
            cur.skip_ws();
            match cur.peek() {
                None => {
                    return Err(err(
                        cur.line,
                        format!(
                            "expected array element {n} (an operation object) in the array opened on line {open_line}, found end of input"
                        ),
                    ))
                }
                Some(b']') => {
                    return Err(err(
                        cur.line,
                        format!(
                            "expected array element {n} (an operation object) after ',', found ']'"
                        ),
                    ))
                }
                Some(_) => {}
            }
            let line = cur.line;
            let column = cur.pos - cur.line_start + 1;
            let mut stream =
                serde_json::Deserializer::from_str(&text[cur.pos..]).into_iter::<Value>();
            let value = match stream.next() {
                Some(Ok(value)) => value,
                Some(Err(e)) => {
                    let (at_line, at_column) = if e.line() <= 1 {
                        (line, column + e.column().saturating_sub(1))
                    } else {
                        (line + e.line() - 1, e.column())
                    };
                    return Err(err(
                        at_line,
                        format!(
                            "array element {n} (starting on line {line}): expected a JSON value: {} at column {at_column}",
                            error_text(&e)
                        ),
                    ));
                }
                None => {
                    return Err(err(
                        line,
                        format!("expected array element {n}, found end of input"),
                    ))
                }
            };
            let consumed = stream.byte_offset();
            cur.advance(consumed);
            let event = event_from_value(value, line, source, Format::JsonArray).map_err(|e| {
                InputError::new(e.file, e.line, format!("array element {n}: {}", e.message))
            })?;
            events.push(event);
            cur.skip_ws();
            match cur.peek() {
                Some(b',') => cur.advance(1),
                Some(b']') => {
                    cur.advance(1);
                    break;
                }
                None => {
                    return Err(err(
                        cur.line,
                        format!(
                            "expected ',' or ']' after array element {n} (the array opened on line {open_line}), found end of input"
                        ),
                    ))
                }
                Some(_) => {
                    return Err(err(
                        cur.line,
                        format!(
                            "expected ',' or ']' after array element {n}, found {}",
                            cur.found()
                        ),
                    ))
                }
            }
        }
    }
    cur.skip_ws();
    if cur.peek().is_some() {
        return Err(err(
            cur.line,
            format!(
                "expected nothing after the JSON array closed, found {}",
                cur.found()
            ),
        ));
    }
    Ok(events)
}

/// A position in the text with its line.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn advance(&mut self, n: usize) {
        let end = (self.pos + n).min(self.bytes.len());
        for (i, &b) in self.bytes[self.pos..end].iter().enumerate() {
            if b == b'\n' {
                self.line += 1;
                self.line_start = self.pos + i + 1;
            }
        }
        self.pos = end;
    }

    fn skip_ws(&mut self) {
        let n = self.bytes[self.pos..]
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .count();
        self.advance(n);
    }

    /// What is at the cursor, for messages.
    fn found(&self) -> String {
        let rest = &self.bytes[self.pos..];
        let text = String::from_utf8_lossy(&rest[..rest.len().min(40)]);
        let snippet: String = text.chars().take_while(|&c| c != '\n').take(20).collect();
        show(&Value::String(snippet))
    }
}

/// serde_json's message without its " at line L column C" suffix (positions are reported
/// relative to the whole file instead).
pub(crate) fn error_text(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{EventType, Process};
    use serde_json::json;

    #[test]
    fn json_lines() {
        let text = "{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":3}\r\n\n  \n{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start\"}\n";
        let events = read_json_lines(text, "t").unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].line, 1);
        assert_eq!(events[0].value, json!(3));
        assert_eq!(events[1].line, 4);
        assert_eq!(events[1].process, Some(Process::Named("nemesis".into())));
        assert_eq!(events[1].kind, EventType::Info);
    }

    #[test]
    fn torn_last_line_is_left_out_but_a_torn_middle_line_is_an_error() {
        let whole = "{\"type\":\"invoke\",\"process\":0}\n{\"type\":\"ok\",\"process\":0}\n";
        let torn = format!("{whole}{{\"type\":\"inv");
        assert_eq!(torn_last_line(&torn), Some(3));
        assert_eq!(read_json_lines(&torn, "t").unwrap().len(), 2);
        assert_eq!(torn_last_line(whole), None);
        // Complete but without its newline: kept.
        let unterminated = whole.trim_end();
        assert_eq!(torn_last_line(unterminated), None);
        assert_eq!(read_json_lines(unterminated, "t").unwrap().len(), 2);
        // The same cut in the middle of the file is malformed input.
        let middle = format!("{{\"type\":\"inv\n{whole}");
        assert_eq!(torn_last_line(&middle), None);
        assert_eq!(read_json_lines(&middle, "t").unwrap_err().line, 1);
        // A broken last line that ends with a newline was written whole: an error.
        let e = read_json_lines(&format!("{whole}{{\"type\":\n"), "t").unwrap_err();
        assert_eq!(e.line, 3);
        // Malformed rather than cut short: an error even at the end.
        assert_eq!(
            torn_last_line(&format!("{whole}{{\"type\":\"ok\"}} x")),
            None
        );
        assert_eq!(torn_last_line(&format!("{whole}{{\"type\" 1")), None);
    }

    #[test]
    fn json_lines_errors() {
        let e = read_json_lines("{\"type\":\"ok\"}\n{\"type\":\"ok\",\n", "t").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message.starts_with("expected one JSON object per line"),
            "{e}"
        );
        assert!(!e.message.contains("at line"), "{e}");
        let e = read_json_lines("{\"type\":\"ok\"} x", "t").unwrap_err();
        assert!(e.message.contains("trailing characters"), "{e}");
        let e = read_json_lines("\n[1]", "t").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("found an array"), "{e}");
        let e = read_json_lines(&"[".repeat(100_000), "t").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("recursion limit"), "{e}");
    }

    #[test]
    fn regression_json_integers_beyond_64_bits_are_errors_not_floats() {
        // serde_json would read both as 1.8446744073709552e19: a write and a read of different
        // integers would compare equal.
        let text =
            "{\"type\":\"ok\",\"value\":1}\n{\"type\":\"ok\",\"value\":18446744073709551617}";
        let e = read_json_lines(text, "t").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("integer out of range"), "{e}");
        let e = read_json_array(
            "[{\"type\":\"ok\"},\n{\"type\":\"ok\",\"value\":[-9223372036854775809]}]",
            "t",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        let max = read_json_lines("{\"type\":\"ok\",\"value\":18446744073709551615}", "t").unwrap();
        assert_eq!(max[0].value, json!(u64::MAX));
    }

    #[test]
    fn json_array_lines() {
        let text = "[{\"type\":\"invoke\",\"process\":0},\n{\"type\":\"ok\",\n\"process\":0}\n,\n  {\"type\":\"info\",\"process\":1}]\n";
        let events = read_json_array(text, "t").unwrap();
        let lines: Vec<usize> = events.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 2, 5]);
        let one_line = "[{\"type\":\"invoke\"},{\"type\":\"ok\",\"value\":[1,{\"a\":\"]\"}]}]";
        let events = read_json_array(one_line, "t").unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].value, json!([1, {"a": "]"}]));
        assert!(read_json_array(" [ ] ", "t").unwrap().is_empty());
        assert!(read_json_array("  \n", "t").unwrap().is_empty());
    }

    #[test]
    fn json_array_errors() {
        let e = read_json_array(
            "[{\"type\":\"ok\"},\n{\"type\":\"ok\"},\n{\"type\":\"okay\"}]",
            "t",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.starts_with("array element 3: "), "{e}");
        assert!(e.message.contains("\"type\""), "{e}");

        let e = read_json_array("[{\"type\":\"ok\"},\n 7]", "t").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message
                .starts_with("array element 2: expected an operation"),
            "{e}"
        );

        let e =
            read_json_array("[{\"type\":\"ok\"},\n{\"type\":\n\"ok\" \"f\"}]", "t").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("array element 2 (starting on line 2)"),
            "{e}"
        );

        let e = read_json_array("[{\"type\":\"ok\"}, {\"type\" 1}]", "t").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("column 25"), "{e}");

        let e = read_json_array("[{\"type\":\"ok\"},]", "t").unwrap_err();
        assert!(e.message.contains("found ']'"), "{e}");
        let e = read_json_array("[{\"type\":\"ok\"}\n", "t").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("found end of input"), "{e}");
        let e = read_json_array("[{\"type\":\"ok\"} {\"type\":\"ok\"}]", "t").unwrap_err();
        assert!(
            e.message
                .starts_with("expected ',' or ']' after array element 1"),
            "{e}"
        );
        let e = read_json_array("[]\n[]", "t").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("expected nothing after"), "{e}");
        let e = read_json_array("{\"type\":\"ok\"}", "t").unwrap_err();
        assert!(e.message.starts_with("expected '['"), "{e}");
        let e = read_json_array(&"[".repeat(100_000), "t").unwrap_err();
        assert!(e.message.contains("recursion limit"), "{e}");
    }
}
