//! A small EDN reader that produces `serde_json::Value`s.
//!
//! It reads what Jepsen, Knossos and Elle write into `history.edn` files and converts it
//! straight to JSON values:
//!
//! | EDN | JSON value |
//! |---|---|
//! | `nil`, `true`, `false` | `null`, `true`, `false` |
//! | integers (`42`, `-7`, `42N`) | integers; beyond 64-bit signed is an error |
//! | floats (`1.5`, `1e3`, `2.5M`), ratios (`1/2`) | floating-point numbers; a ratio's parts and an integral `M` must be within ±2^53 (exact as floats), else an error |
//! | strings, characters (`\a`, `\newline`) | strings |
//! | keywords (`:ok`, `:a/b`), symbols (`java.sql.SQLException`) | strings without the colon (`"ok"`, `"a/b"`) |
//! | vectors, lists, sets (`#{…}`) | arrays |
//! | maps | objects; string, keyword and symbol keys as they are, any other key as its compact JSON text (`{0 100}` → `{"0":100}`) |
//! | tagged literals (`#inst "…"`, `#foo/bar x`) | the tagged value |
//! | `##Inf`, `##-Inf`, `##NaN` | the strings `"##Inf"`, `"##-Inf"`, `"##NaN"` |
//!
//! `;` comments, `#!` comments, `#_` discards and commas are skipped.
//!
//! The parser is iterative (an explicit stack of open collections), so deeply nested input
//! cannot overflow the call stack; nesting beyond [`MAX_DEPTH`] is an error. Every error names
//! the 1-based line and says what was expected.

use super::read::show;
use crate::InputError;
use serde_json::{Map, Number, Value};

/// The deepest nesting of collections, tags and discards the reader accepts.
///
/// It is below serde_json's own limit (127 nested arrays/objects) so that any event read from
/// EDN can be written as a JSON line and read back.
pub const MAX_DEPTH: usize = 100;

/// What kind of form a top-level EDN form is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// A vector `[ … ]`.
    Vector,
    /// A list `( … )`.
    List,
    /// A set `#{ … }`.
    Set,
    /// A map `{ … }`.
    Map,
    /// A tagged literal `#tag value` (whatever the tagged value is).
    Tagged,
    /// Anything else: a scalar (number, string, keyword, symbol, `nil`, boolean, character).
    Scalar,
}

impl FormKind {
    /// A short English name for messages ("a vector", "a map", …).
    pub fn describe(self) -> &'static str {
        match self {
            FormKind::Vector => "a vector",
            FormKind::List => "a list",
            FormKind::Set => "a set",
            FormKind::Map => "a map",
            FormKind::Tagged => "a tagged literal",
            FormKind::Scalar => "a scalar",
        }
    }
}

/// One top-level EDN form with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct TopForm {
    /// 1-based line where the form starts.
    pub line: usize,
    /// What kind of form it is.
    pub kind: FormKind,
    /// The form converted to JSON.
    pub value: Value,
    /// For a vector, list or set: the 1-based line where each element starts (one entry per
    /// element of `value`). Empty for every other kind.
    pub item_lines: Vec<usize>,
}

/// Parses every top-level form of `src`, returning each with its 1-based starting line.
///
/// `file` is only used to name the file in errors.
#[cfg(test)]
pub fn parse_all(src: &str, file: &str) -> Result<Vec<(usize, Value)>, InputError> {
    Ok(parse_forms(src, file)?
        .into_iter()
        .map(|f| (f.line, f.value))
        .collect())
}

/// Parses every top-level form of `src`, with its kind and, for a top-level vector, list or
/// set, the starting line of each element.
pub fn parse_forms(src: &str, file: &str) -> Result<Vec<TopForm>, InputError> {
    Parser::new(src, file, 1).run()
}

/// Parses `src` as if it began on line `first_line` of `file` (for EDN embedded in another
/// format, such as a value in a Jepsen text log): error lines count from `first_line`.
pub fn parse_fragment(
    src: &str,
    file: &str,
    first_line: usize,
) -> Result<Vec<TopForm>, InputError> {
    Parser::new(src, file, first_line).run()
}

/// The kinds of sequential collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeqKind {
    Vector,
    List,
    Set,
}

impl SeqKind {
    fn close(self) -> u8 {
        match self {
            SeqKind::Vector => b']',
            SeqKind::List => b')',
            SeqKind::Set => b'}',
        }
    }

    fn name(self) -> &'static str {
        match self {
            SeqKind::Vector => "vector",
            SeqKind::List => "list",
            SeqKind::Set => "set",
        }
    }

    fn form_kind(self) -> FormKind {
        match self {
            SeqKind::Vector => FormKind::Vector,
            SeqKind::List => FormKind::List,
            SeqKind::Set => FormKind::Set,
        }
    }
}

/// Something opened and not yet finished.
enum Frame {
    /// A vector, list or set; `item_lines` is only filled for the outermost one.
    Seq {
        kind: SeqKind,
        line: usize,
        items: Vec<Value>,
        item_lines: Vec<usize>,
    },
    /// A map; `pending` holds a key waiting for its value.
    Map {
        line: usize,
        entries: Map<String, Value>,
        pending: Option<String>,
    },
    /// `#tag`, waiting for the value it tags.
    Tag { tag: String, line: usize },
    /// `#_`, waiting for the form it discards.
    Discard { line: usize },
}

/// A finished value on its way up the stack.
struct Done {
    value: Value,
    kind: FormKind,
    item_lines: Vec<usize>,
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    file: &'a str,
    pos: usize,
    line: usize,
}

/// EDN whitespace (commas included).
pub(crate) fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b',' | 0x0c)
}

/// A byte that ends a token.
pub(crate) fn is_delimiter(b: u8) -> bool {
    is_whitespace(b)
        || matches!(
            b,
            b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';' | b'\\'
        )
}

/// Shows a byte found where something else was expected.
fn show_byte(b: u8) -> String {
    match b {
        b'\n' => "a line break".to_string(),
        0x20..=0x7e => format!("'{}'", b as char),
        _ => format!("byte 0x{b:02X}"),
    }
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, file: &'a str, first_line: usize) -> Self {
        Parser {
            src,
            bytes: src.as_bytes(),
            file,
            pos: 0,
            line: first_line,
        }
    }

    fn err(&self, line: usize, message: impl Into<String>) -> InputError {
        InputError::new(self.file, line, message)
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    /// Skips whitespace, commas and comments, counting lines.
    fn skip_blank(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b'\n' {
                self.line += 1;
                self.pos += 1;
            } else if is_whitespace(b) {
                self.pos += 1;
            } else if b == b';' || (b == b'#' && self.peek_at(1) == Some(b'!')) {
                while let Some(&c) = self.bytes.get(self.pos) {
                    if c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The token starting at `start` and running to the next delimiter.
    fn token_from(&self, start: usize) -> &'a str {
        let mut end = start;
        while let Some(&b) = self.bytes.get(end) {
            if is_delimiter(b) {
                break;
            }
            end += 1;
        }
        &self.src[start..end]
    }

    fn run(mut self) -> Result<Vec<TopForm>, InputError> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut out: Vec<TopForm> = Vec::new();
        // Where the current top-level form, and the current element of the outermost
        // collection, started.
        let mut top_start = self.line;
        let mut item_start = self.line;
        loop {
            self.skip_blank();
            let Some(&b) = self.bytes.get(self.pos) else {
                break;
            };
            let line = self.line;
            let is_close = matches!(b, b']' | b')' | b'}');
            let is_discard = b == b'#' && self.peek_at(1) == Some(b'_');
            if !is_close && !is_discard {
                match stack.len() {
                    0 => top_start = line,
                    1 => item_start = line,
                    _ => {}
                }
            }
            let opens = matches!(b, b'[' | b'(' | b'{')
                || (b == b'#' && !matches!(self.peek_at(1), Some(b'#')));
            if opens && stack.len() >= MAX_DEPTH {
                return Err(self.err(
                    line,
                    format!(
                        "expected nesting at most {MAX_DEPTH} levels deep, found deeper nesting"
                    ),
                ));
            }
            let done = match b {
                b'[' | b'(' => {
                    let kind = if b == b'[' {
                        SeqKind::Vector
                    } else {
                        SeqKind::List
                    };
                    self.pos += 1;
                    stack.push(Frame::Seq {
                        kind,
                        line,
                        items: Vec::new(),
                        item_lines: Vec::new(),
                    });
                    continue;
                }
                b'{' => {
                    self.pos += 1;
                    stack.push(Frame::Map {
                        line,
                        entries: Map::new(),
                        pending: None,
                    });
                    continue;
                }
                b']' | b')' | b'}' => {
                    self.pos += 1;
                    self.close(b, line, stack.pop())?
                }
                b'"' => Done {
                    value: Value::String(self.string()?),
                    kind: FormKind::Scalar,
                    item_lines: Vec::new(),
                },
                b'\\' => Done {
                    value: Value::String(self.character()?),
                    kind: FormKind::Scalar,
                    item_lines: Vec::new(),
                },
                b'#' => match self.dispatch(line)? {
                    Some(frame) => {
                        stack.push(frame);
                        continue;
                    }
                    None => Done {
                        value: Value::String(self.symbolic()?),
                        kind: FormKind::Scalar,
                        item_lines: Vec::new(),
                    },
                },
                _ => {
                    let tok = self.token_from(self.pos);
                    if tok.is_empty() {
                        // Only a delimiter can end an empty token, and every delimiter is
                        // handled above; keep the loop finite regardless.
                        return Err(
                            self.err(line, format!("expected a value, found {}", show_byte(b)))
                        );
                    }
                    self.pos += tok.len();
                    Done {
                        value: self.atom(tok, line)?,
                        kind: FormKind::Scalar,
                        item_lines: Vec::new(),
                    }
                }
            };
            self.finish(done, &mut stack, &mut out, top_start, item_start)?;
        }
        if let Some(frame) = stack.last() {
            let message = match frame {
                Frame::Seq { kind, line, .. } => format!(
                    "expected '{}' to close the {} opened on line {line}, found end of input",
                    kind.close() as char,
                    kind.name()
                ),
                Frame::Map { line, pending, .. } => match pending {
                    Some(key) => format!(
                        "expected a value for key {} and '}}' to close the map opened on line {line}, found end of input",
                        show(&Value::String(key.clone()))
                    ),
                    None => format!(
                        "expected '}}' to close the map opened on line {line}, found end of input"
                    ),
                },
                Frame::Tag { tag, line } => format!(
                    "expected a value after the tag #{tag} on line {line}, found end of input"
                ),
                Frame::Discard { line } => format!(
                    "expected a form after the #_ on line {line}, found end of input"
                ),
            };
            return Err(self.err(self.line, message));
        }
        Ok(out)
    }

    /// Closes the innermost open frame with `close` (at `line`).
    fn close(&self, close: u8, line: usize, frame: Option<Frame>) -> Result<Done, InputError> {
        let found = format!("'{}'", close as char);
        match frame {
            None => Err(self.err(
                line,
                format!("expected a value, found {found} with nothing open to close"),
            )),
            Some(Frame::Seq {
                kind,
                items,
                item_lines,
                ..
            }) if kind.close() == close => Ok(Done {
                value: Value::Array(items),
                kind: kind.form_kind(),
                item_lines,
            }),
            Some(Frame::Seq {
                kind, line: open, ..
            }) => Err(self.err(
                line,
                format!(
                    "expected '{}' to close the {} opened on line {open}, found {found}",
                    kind.close() as char,
                    kind.name()
                ),
            )),
            Some(Frame::Map {
                line: open,
                entries,
                pending,
            }) => {
                if close != b'}' {
                    return Err(self.err(
                        line,
                        format!(
                            "expected '}}' to close the map opened on line {open}, found {found}"
                        ),
                    ));
                }
                if let Some(key) = pending {
                    return Err(self.err(
                        line,
                        format!(
                            "expected a value for key {} in the map opened on line {open}, found '}}'",
                            show(&Value::String(key))
                        ),
                    ));
                }
                Ok(Done {
                    value: Value::Object(entries),
                    kind: FormKind::Map,
                    item_lines: Vec::new(),
                })
            }
            Some(Frame::Tag { tag, line: open }) => Err(self.err(
                line,
                format!("expected a value after the tag #{tag} on line {open}, found {found}"),
            )),
            Some(Frame::Discard { line: open }) => Err(self.err(
                line,
                format!("expected a form after the #_ on line {open}, found {found}"),
            )),
        }
    }

    /// Hands a finished value to whatever is waiting for it.
    fn finish(
        &self,
        mut done: Done,
        stack: &mut Vec<Frame>,
        out: &mut Vec<TopForm>,
        top_start: usize,
        item_start: usize,
    ) -> Result<(), InputError> {
        loop {
            let depth = stack.len();
            match stack.last_mut() {
                None => {
                    out.push(TopForm {
                        line: top_start,
                        kind: done.kind,
                        value: done.value,
                        item_lines: done.item_lines,
                    });
                    return Ok(());
                }
                Some(Frame::Tag { .. }) => {
                    // The tagged value stands for the whole literal.
                    stack.pop();
                    done.kind = FormKind::Tagged;
                    done.item_lines = Vec::new();
                }
                Some(Frame::Discard { .. }) => {
                    stack.pop();
                    return Ok(());
                }
                Some(Frame::Seq {
                    items, item_lines, ..
                }) => {
                    items.push(done.value);
                    if depth == 1 {
                        item_lines.push(item_start);
                    }
                    return Ok(());
                }
                Some(Frame::Map {
                    line,
                    entries,
                    pending,
                }) => {
                    match pending.take() {
                        Some(key) => {
                            entries.insert(key, done.value);
                        }
                        None => {
                            let key = match done.value {
                                Value::String(s) => s,
                                other => other.to_string(),
                            };
                            if entries.contains_key(&key) {
                                return Err(self.err(
                                    self.line,
                                    format!(
                                        "expected distinct keys in the map opened on line {line}, found key {} twice",
                                        show(&Value::String(key))
                                    ),
                                ));
                            }
                            *pending = Some(key);
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Reads a string literal starting at the opening quote.
    fn string(&mut self) -> Result<String, InputError> {
        let open_line = self.line;
        self.pos += 1;
        let mut out = String::new();
        let mut chunk = self.pos;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.err(
                    self.line,
                    format!(
                        "expected '\"' to close the string opened on line {open_line}, found end of input"
                    ),
                ));
            };
            match b {
                b'"' => {
                    out.push_str(&self.src[chunk..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b'\\' => {
                    out.push_str(&self.src[chunk..self.pos]);
                    self.pos += 1;
                    let c = self.escape()?;
                    out.push(c);
                    chunk = self.pos;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Reads the escape after a backslash inside a string.
    fn escape(&mut self) -> Result<char, InputError> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err(self.err(
                self.line,
                "expected an escape character after '\\' in a string, found end of input",
            ));
        };
        self.pos += 1;
        Ok(match b {
            b't' => '\t',
            b'r' => '\r',
            b'n' => '\n',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'\\' => '\\',
            b'"' => '"',
            b'\'' => '\'',
            b'u' => {
                let hi = self.hex4()?;
                if (0xD800..0xDC00).contains(&hi)
                    && self.peek_at(0) == Some(b'\\')
                    && self.peek_at(1) == Some(b'u')
                {
                    self.pos += 2;
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.err(
                            self.line,
                            format!(
                                "expected a low surrogate after \\u{hi:04X}, found \\u{lo:04X}"
                            ),
                        ));
                    }
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    char::from_u32(c).expect("a surrogate pair is a valid scalar value")
                } else {
                    char::from_u32(hi).ok_or_else(|| {
                        self.err(
                            self.line,
                            format!("expected a Unicode scalar value, found \\u{hi:04X}"),
                        )
                    })?
                }
            }
            b'0'..=b'7' => {
                let mut n = u32::from(b - b'0');
                for _ in 0..2 {
                    match self.peek_at(0) {
                        Some(d @ b'0'..=b'7') => {
                            n = n * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                char::from_u32(n).expect("an octal escape is at most 0o777")
            }
            other => {
                let shown = self.src[self.pos - 1..]
                    .chars()
                    .next()
                    .map(|c| format!("'\\{c}'"))
                    .unwrap_or_else(|| show_byte(other));
                return Err(self.err(
                    self.line,
                    format!(
                        "expected a string escape (\\t \\r \\n \\b \\f \\\\ \\\" \\uXXXX), found {shown}"
                    ),
                ));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, InputError> {
        let digits = self.bytes.get(self.pos..self.pos + 4);
        let value = digits
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| u32::from_str_radix(std::str::from_utf8(d).ok()?, 16).ok());
        match value {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => Err(self.err(
                self.line,
                "expected four hexadecimal digits after \\u, found something else",
            )),
        }
    }

    /// Reads a character literal (`\a`, `\newline`, `\u0041`) starting at the backslash.
    fn character(&mut self) -> Result<String, InputError> {
        let line = self.line;
        let Some(first) = self.src[self.pos + 1..].chars().next() else {
            return Err(self.err(line, "expected a character after '\\', found end of input"));
        };
        let rest = self.token_from(self.pos + 1 + first.len_utf8());
        let name = &self.src[self.pos + 1..self.pos + 1 + first.len_utf8() + rest.len()];
        self.pos += 1 + name.len();
        if first == '\n' {
            self.line += 1;
        }
        if rest.is_empty() {
            return Ok(first.to_string());
        }
        let c = match name {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "formfeed" => '\u{c}',
            "backspace" => '\u{8}',
            _ => {
                let code = if let Some(hex) = name.strip_prefix('u').filter(|h| h.len() == 4) {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(oct) = name
                    .strip_prefix('o')
                    .filter(|o| (1..=3).contains(&o.len()))
                {
                    u32::from_str_radix(oct, 8).ok()
                } else {
                    None
                };
                match code.and_then(char::from_u32) {
                    Some(c) => c,
                    None => {
                        return Err(self.err(
                            line,
                            format!(
                                "expected a character literal (\\c, \\newline, \\space, \\tab, \\return, \\formfeed, \\backspace, \\uXXXX), found \\{name}"
                            ),
                        ))
                    }
                }
            }
        };
        Ok(c.to_string())
    }

    /// Handles `#` at the current position: returns the frame it opens, or `None` for `##`
    /// symbolic values (which [`Parser::symbolic`] then reads).
    fn dispatch(&mut self, line: usize) -> Result<Option<Frame>, InputError> {
        match self.peek_at(1) {
            Some(b'{') => {
                self.pos += 2;
                Ok(Some(Frame::Seq {
                    kind: SeqKind::Set,
                    line,
                    items: Vec::new(),
                    item_lines: Vec::new(),
                }))
            }
            Some(b'_') => {
                self.pos += 2;
                Ok(Some(Frame::Discard { line }))
            }
            Some(b'#') => Ok(None),
            Some(c) if c.is_ascii_alphabetic() => {
                let tag = self.token_from(self.pos + 1);
                self.pos += 1 + tag.len();
                Ok(Some(Frame::Tag {
                    tag: tag.to_string(),
                    line,
                }))
            }
            Some(b':') => Err(self.err(
                line,
                "expected a tag, a set '#{' or a discard '#_' after '#', found a namespaced map '#:' (not supported)",
            )),
            Some(c) => Err(self.err(
                line,
                format!(
                    "expected a tag, a set '#{{' or a discard '#_' after '#', found {}",
                    show_byte(c)
                ),
            )),
            None => Err(self.err(
                line,
                "expected a tag, a set '#{' or a discard '#_' after '#', found end of input",
            )),
        }
    }

    /// Reads `##Inf`, `##-Inf` or `##NaN` (JSON has no such numbers: kept as strings).
    fn symbolic(&mut self) -> Result<String, InputError> {
        let name = self.token_from(self.pos + 2);
        match name {
            "Inf" | "-Inf" | "NaN" => {
                self.pos += 2 + name.len();
                Ok(format!("##{name}"))
            }
            _ => Err(self.err(
                self.line,
                format!("expected ##Inf, ##-Inf or ##NaN, found ##{name}"),
            )),
        }
    }

    /// Converts a bare token: `nil`, booleans, keywords, numbers, symbols.
    fn atom(&self, tok: &str, line: usize) -> Result<Value, InputError> {
        match tok {
            "nil" => return Ok(Value::Null),
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            _ => {}
        }
        if let Some(name) = tok.strip_prefix(':') {
            if name.is_empty() {
                return Err(self.err(line, "expected a keyword name after ':', found nothing"));
            }
            return Ok(Value::String(name.to_string()));
        }
        let b = tok.as_bytes();
        let numeric = b[0].is_ascii_digit()
            || (matches!(b[0], b'+' | b'-') && b.len() > 1 && b[1].is_ascii_digit());
        if numeric {
            return self.number(tok, line);
        }
        Ok(Value::String(tok.to_string()))
    }

    fn number(&self, tok: &str, line: usize) -> Result<Value, InputError> {
        let bad = || self.err(line, format!("expected a number, found {tok}"));
        if let Some(body) = tok.strip_suffix('N') {
            return if is_integer(body) {
                self.integer(body, tok, line)
            } else {
                Err(bad())
            };
        }
        if let Some(body) = tok.strip_suffix('M') {
            return if is_integer(body) {
                // An integral BigDecimal reads as a float only while that float is exact.
                self.exact_integer(body, tok, line)?;
                self.float(body, tok, line)
            } else if is_float(body) {
                self.float(body, tok, line)
            } else {
                Err(bad())
            };
        }
        if is_integer(tok) {
            return self.integer(tok, tok, line);
        }
        if is_float(tok) {
            return self.float(tok, tok, line);
        }
        if let Some((num, den)) = tok.split_once('/') {
            if is_integer(num) && is_integer(den) {
                // Numerator and denominator convert to floats exactly, so the ratio is the
                // float nearest to its true value.
                let n = self.exact_integer(num, tok, line)?;
                let d = self.exact_integer(den, tok, line)?;
                if d == 0.0 {
                    return Err(self.err(
                        line,
                        format!("expected a ratio with a non-zero denominator, found {tok}"),
                    ));
                }
                return Number::from_f64(n / d)
                    .map(Value::Number)
                    .ok_or_else(|| self.err(line, format!("number out of range: {tok}")));
            }
        }
        Err(bad())
    }

    fn integer(&self, digits: &str, tok: &str, line: usize) -> Result<Value, InputError> {
        digits
            .parse::<i64>()
            .map(|n| Value::Number(n.into()))
            .map_err(|_| {
                self.err(
                    line,
                    format!(
                        "integer out of range: expected an integer between {} and {}, found {tok}",
                        i64::MIN,
                        i64::MAX
                    ),
                )
            })
    }

    /// An integer that a 64-bit float holds exactly (|n| ≤ 2^53), as that float.
    fn exact_integer(&self, digits: &str, tok: &str, line: usize) -> Result<f64, InputError> {
        const EXACT: i64 = 1 << 53;
        match digits.parse::<i64>() {
            Ok(n) if (-EXACT..=EXACT).contains(&n) => Ok(n as f64),
            _ => Err(self.err(
                line,
                format!(
                    "number out of range: expected integers between -{EXACT} and {EXACT} in a ratio or an integral decimal (larger ones would be read inexactly), found {tok}"
                ),
            )),
        }
    }

    fn float(&self, text: &str, tok: &str, line: usize) -> Result<Value, InputError> {
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| {
                self.err(
                    line,
                    format!(
                        "number out of range: expected a finite floating-point number, found {tok}"
                    ),
                )
            })
    }
}

/// `[+-]?[0-9]+`
fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?` with a fraction or an exponent.
fn is_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    if int_len == 0 {
        return false;
    }
    let mut rest = &s[int_len..];
    let mut fraction_or_exponent = false;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        rest = &r[n..];
        fraction_or_exponent = true;
    }
    if let Some(r) = rest.strip_prefix(['e', 'E']) {
        let r = r.strip_prefix(['+', '-']).unwrap_or(r);
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &r[n..];
        fraction_or_exponent = true;
    }
    rest.is_empty() && fraction_or_exponent
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(src: &str) -> Value {
        let forms = parse_all(src, "t.edn").unwrap();
        assert_eq!(forms.len(), 1, "{src}: {forms:?}");
        forms.into_iter().next().unwrap().1
    }

    fn err(src: &str) -> InputError {
        parse_all(src, "t.edn").unwrap_err()
    }

    #[test]
    fn scalars() {
        assert_eq!(one("nil"), Value::Null);
        assert_eq!(one("true"), json!(true));
        assert_eq!(one("false"), json!(false));
        assert_eq!(one(":ok"), json!("ok"));
        assert_eq!(one(":a/b"), json!("a/b"));
        assert_eq!(one("java.sql.SQLException"), json!("java.sql.SQLException"));
        assert_eq!(one("<init>"), json!("<init>"));
        assert_eq!(one("-"), json!("-"));
        assert_eq!(one("-foo"), json!("-foo"));
        assert_eq!(one("42"), json!(42));
        assert_eq!(one("-7"), json!(-7));
        assert_eq!(one("+7"), json!(7));
        assert_eq!(one("42N"), json!(42));
        assert_eq!(one("1.5"), json!(1.5));
        assert_eq!(one("1e3"), json!(1000.0));
        assert_eq!(one("-2.5E-1"), json!(-0.25));
        assert_eq!(one("2.5M"), json!(2.5));
        assert_eq!(one("3M"), json!(3.0));
        assert_eq!(one("1/2"), json!(0.5));
        assert_eq!(one("9223372036854775807"), json!(i64::MAX));
        assert_eq!(one("-9223372036854775808"), json!(i64::MIN));
        assert_eq!(one("##Inf"), json!("##Inf"));
    }

    #[test]
    fn strings_and_chars() {
        assert_eq!(one(r#""a\"b\\c\n\t\u0041\u00e9""#), json!("a\"b\\c\n\tAé"));
        assert_eq!(one(r#""\ud83d\ude00""#), json!("😀"));
        assert_eq!(one("\"two\nlines\""), json!("two\nlines"));
        assert_eq!(one(r"\a"), json!("a"));
        assert_eq!(one(r"\newline"), json!("\n"));
        assert_eq!(one(r"\space"), json!(" "));
        assert_eq!(one(r"\u0041"), json!("A"));
        assert_eq!(one(r"\("), json!("("));
        assert_eq!(one(r"\é"), json!("é"));
        assert_eq!(one(r"[\a \b]"), json!(["a", "b"]));
        assert_eq!(one(r"[\a\b]"), json!(["a", "b"]));
        let forms = parse_all("[\\\n 1]\n2", "t").unwrap();
        assert_eq!(forms[0].1, json!(["\n", 1]));
        assert_eq!(forms[1].0, 3);
    }

    #[test]
    fn collections() {
        assert_eq!(one("[1 2, 3]"), json!([1, 2, 3]));
        assert_eq!(one("(1 (2) [])"), json!([1, [2], []]));
        assert_eq!(one("#{1 2}"), json!([1, 2]));
        assert_eq!(
            one("{:a 1, \"b\" 2, c 3, 0 100, [1 2] x, nil y}"),
            json!({"a": 1, "b": 2, "c": 3, "0": 100, "[1,2]": "x", "null": "y"})
        );
        assert_eq!(one("{}"), json!({}));
        // Keys keep file order (serde_json's preserve_order).
        let v = one("{:z 1 :a 2}");
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a"]);
    }

    #[test]
    fn tags_discards_comments() {
        assert_eq!(one("#inst \"2020-01-01\""), json!("2020-01-01"));
        assert_eq!(one("#uuid \"abc\""), json!("abc"));
        assert_eq!(one("#foo/bar [1 #baz 2]"), json!([1, 2]));
        assert_eq!(one("[1 #_ 2 3]"), json!([1, 3]));
        assert_eq!(one("[1 #_ #_ 2 3 4]"), json!([1, 4]));
        assert_eq!(one("[1 #_[2 [3]] 4]"), json!([1, 4]));
        assert_eq!(one("{:a #_ :b 1}"), json!({"a": 1}));
        assert_eq!(one("; c\n[1 ; two\n 2] ; end"), json!([1, 2]));
        assert_eq!(one("#! shebang\n1"), json!(1));
        assert_eq!(parse_all("#_ 1", "t").unwrap(), vec![]);
        assert_eq!(parse_all("", "t").unwrap(), vec![]);
        assert_eq!(parse_all(" ; only a comment\n", "t").unwrap(), vec![]);
    }

    #[test]
    fn lines() {
        let forms = parse_all(
            "{:a 1}\n\n; x\n{:b\n 2} {:c 3}\n#_ {:d 4}\n  #inst\n \"x\"",
            "t",
        )
        .unwrap();
        let lines: Vec<usize> = forms.iter().map(|f| f.0).collect();
        assert_eq!(lines, [1, 4, 5, 7]);

        let forms = parse_forms(
            "; head\n[{:a 1}\n ; c\n {:b \"x\ny\"} {:c 3}\n #_ {:d 1}\n\n {:e\n 5}]",
            "t",
        )
        .unwrap();
        assert_eq!(forms.len(), 1);
        assert_eq!(forms[0].line, 2);
        assert_eq!(forms[0].kind, FormKind::Vector);
        assert_eq!(forms[0].item_lines, [2, 4, 5, 8]);

        let forms = parse_forms("({:a 1}\n#foo {:b 2})", "t").unwrap();
        assert_eq!(forms[0].kind, FormKind::List);
        assert_eq!(forms[0].item_lines, [1, 2]);
    }

    #[test]
    fn errors_name_lines_and_expectations() {
        let e = err("\n\n{:a 1\n :b");
        assert_eq!(e.line, 4);
        assert_eq!(e.file, "t.edn");
        assert!(e.message.contains("map opened on line 3"), "{e}");
        assert!(e.message.contains("found end of input"), "{e}");

        let e = err("\n\n{:a 1\n :b 2");
        assert_eq!(
            e.message,
            "expected '}' to close the map opened on line 3, found end of input"
        );

        let e = err("[1 2\n}");
        assert_eq!(e.line, 2);
        assert_eq!(
            e.message,
            "expected ']' to close the vector opened on line 1, found '}'"
        );

        let e = err("(1\n\n");
        assert!(
            e.message.starts_with("expected ')' to close the list"),
            "{e}"
        );
        let e = err("#{1");
        assert!(
            e.message.starts_with("expected '}' to close the set"),
            "{e}"
        );
        let e = err("{:a}");
        assert!(e.message.contains("expected a value for key \"a\""), "{e}");
        let e = err("{:a 1 :a 2}");
        assert!(e.message.contains("twice"), "{e}");
        let e = err("1 ]");
        assert!(e.message.contains("nothing open"), "{e}");
        let e = err("\"abc");
        assert!(
            e.message.contains("close the string opened on line 1"),
            "{e}"
        );
        let e = err("\"a\\qb\"");
        assert!(e.message.contains("string escape"), "{e}");
        let e = err("[#inst]");
        assert!(e.message.contains("after the tag #inst"), "{e}");
        let e = err("[#_]");
        assert!(e.message.contains("after the #_"), "{e}");
        let e = err("#_");
        assert!(e.message.contains("found end of input"), "{e}");
        let e = err("#:a{:b 1}");
        assert!(e.message.contains("namespaced map"), "{e}");
        let e = err("# 1");
        assert!(e.message.contains("after '#'"), "{e}");
        let e = err(r"\nope");
        assert!(e.message.contains("character literal"), "{e}");
        let e = err("1.2.3");
        assert_eq!(e.message, "expected a number, found 1.2.3");
        let e = err("12abc");
        assert!(e.message.contains("expected a number"), "{e}");
        let e = err(":");
        assert!(e.message.contains("keyword name"), "{e}");
        let e = err("1e999");
        assert!(e.message.contains("out of range"), "{e}");
        let e = err("1/0");
        assert!(e.message.contains("non-zero"), "{e}");
    }

    #[test]
    fn huge_integers_are_errors() {
        for tok in [
            "9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890N",
        ] {
            let e = err(&format!("\n[{tok}]"));
            assert_eq!(e.line, 2);
            assert!(e.message.starts_with("integer out of range"), "{e}");
            assert!(e.message.contains(tok), "{e}");
        }
    }

    #[test]
    fn regression_edn_ratio_of_huge_integers_is_an_error_not_a_float() {
        // Both would be 1.8446744073709552e19 as floats, equal though the integers differ.
        for tok in [
            "18446744073709551617/1",
            "1/18446744073709551617",
            "9007199254740993/2",
        ] {
            let e = err(&format!("\n[{tok}]"));
            assert_eq!(e.line, 2);
            assert!(e.message.starts_with("number out of range"), "{e}");
            assert!(e.message.contains(tok), "{e}");
        }
        assert_eq!(one("9007199254740992/2"), json!(4503599627370496.0));
    }

    #[test]
    fn regression_edn_integral_bigdecimal_beyond_2_53_is_an_error_not_a_float() {
        let e = err("[123456789012345678901234567890M]");
        assert!(e.message.starts_with("number out of range"), "{e}");
        assert_eq!(one("-9007199254740992M"), json!(-9007199254740992.0));
        assert_eq!(one("1234567890123456789.5M"), json!(1234567890123456789.5));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        // Run on a small stack to show the parser does not recurse.
        let handle = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(|| {
                for open in ["[", "(", "{:a ", "#{", "#_ ", "#t "] {
                    let src = open.repeat(100_000);
                    let e = parse_all(&src, "deep.edn").unwrap_err();
                    assert_eq!(e.line, 1);
                    assert!(e.message.contains("levels deep"), "{e}");
                }
                let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
                assert!(parse_all(&ok, "t").is_ok());
                let too = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
                assert!(parse_all(&too, "t").is_err());
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn deepest_value_survives_json() {
        // Anything the EDN reader accepts can be written as JSON and read back by serde_json.
        let src = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let v = one(&src);
        let wrapped = json!({ "value": v });
        let text = serde_json::to_string(&wrapped).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, wrapped);
    }

    #[test]
    fn fragment_lines() {
        let e = parse_fragment("[1", "log", 17).unwrap_err();
        assert_eq!(e.line, 17);
        let f = parse_fragment(":timed-out", "log", 5).unwrap();
        assert_eq!(f[0].line, 5);
        assert_eq!(f[0].value, json!("timed-out"));
    }
}
