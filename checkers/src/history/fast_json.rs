//! The fast path for faultline's own JSON lines (what `faultline run` writes).
//!
//! Part of the "check" step's reading. Each line is deserialized straight into an [`Event`]
//! by a typed serde visitor over the borrowed line: field names are matched without being
//! allocated, `type`, `f` and `process` are read as borrowed strings or integers, and only the
//! `key`, `value`, `error` and unknown fields become `serde_json::Value`s (scalars need no
//! heap at all). No intermediate `Value` for the whole line is built, so there is no
//! per-line object map to fill and take apart again.
//!
//! Anything the fast path is not sure about — a syntax error, a field of an unexpected type, a
//! duplicate field, a line that is not an object — is handed to the general path
//! ([`super::read::event_from_value`] over a parsed `Value`), which produces exactly the event
//! or the error the reader always produced. Integers beyond 64 bits are rejected by the same
//! [`check_json_integers`] scan as before. So the fast path changes speed, never results;
//! `tests::fast_path_agrees_with_the_general_path` and the reader fuzz run guard that.
//!
//! [`parse_chunk`] reads a run of lines; [`parse_parallel`] splits a block of whole lines into
//! chunks at line boundaries and reads them on all cores.

use super::limits::check_json_integers;
use super::read::event_from_value;
use super::{Event, EventType, Format, Process};
use crate::InputError;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// Reads one non-blank line (without its line terminator) starting at 1-based `line`. With
/// `keep_extra` false, fields other than the ones an [`Event`] names are checked but not kept
/// ([`Event::extra`] stays empty): what pairing needs, and all of it (see [`super::stream`]).
pub(crate) fn parse_line(
    content: &str,
    line: usize,
    source: &str,
    keep_extra: bool,
) -> Result<Event, InputError> {
    if let Some(event) = scan_line(content, line, keep_extra) {
        // The scanner takes only integers that fit in 64 bits: nothing for the check to find.
        return Ok(event);
    }
    if let Some(event) = fast_line(content, line, keep_extra) {
        check_json_integers(source, content, line)?;
        return Ok(event);
    }
    slow_line(content, line, source)
}

/// The general path: exactly what the JSON-lines reader has always done for one line.
fn slow_line(content: &str, line: usize, source: &str) -> Result<Event, InputError> {
    let value: Value = serde_json::from_str(content).map_err(|e| {
        InputError::new(
            source,
            line,
            format!(
                "expected one JSON object per line: {} at column {}",
                super::json::error_text(&e),
                e.column()
            ),
        )
    })?;
    check_json_integers(source, content, line)?;
    event_from_value(value, line, source, Format::JsonLines)
}

/// Reads the lines of `text`, whose first line is line `first_line` of the file, skipping
/// blank lines and stopping before line `stop` (a torn last line), if given.
pub(crate) fn parse_chunk(
    text: &str,
    first_line: usize,
    stop: Option<usize>,
    source: &str,
    keep_extra: bool,
) -> Result<Vec<Event>, InputError> {
    let mut events = Vec::with_capacity(text.len() / 96 + 1);
    for (i, raw) in text.split('\n').enumerate() {
        let line = first_line + i;
        if stop == Some(line) {
            break;
        }
        let content = raw.strip_suffix('\r').unwrap_or(raw);
        if content.trim().is_empty() {
            continue;
        }
        events.push(parse_line(content, line, source, keep_extra)?);
    }
    Ok(events)
}

/// Reads the whole lines of `text` (it ends at a line boundary or at the end of the input)
/// in chunks on all cores; the events come back in file order, and the error, if any, is the
/// one of the earliest line (the one a sequential read would report).
pub(crate) fn parse_parallel(
    text: &str,
    first_line: usize,
    stop: Option<usize>,
    source: &str,
    keep_extra: bool,
) -> Result<Vec<Event>, InputError> {
    let mut parts = parse_parallel_parts(text, first_line, stop, source, keep_extra)?;
    if parts.len() == 1 {
        return Ok(parts.pop().unwrap_or_default());
    }
    Ok(parts.concat())
}

/// [`parse_parallel`] without putting the chunks' events together: one list per chunk, in
/// file order (for a caller that consumes them in order and need not copy them).
pub(crate) fn parse_parallel_parts(
    text: &str,
    first_line: usize,
    stop: Option<usize>,
    source: &str,
    keep_extra: bool,
) -> Result<Vec<Vec<Event>>, InputError> {
    const MIN_CHUNK: usize = 1 << 20;
    let threads = rayon::current_num_threads().max(1);
    if threads == 1 || text.len() < 2 * MIN_CHUNK {
        return Ok(vec![parse_chunk(
            text, first_line, stop, source, keep_extra,
        )?]);
    }
    let pieces = (threads * 4).min(text.len() / MIN_CHUNK).max(2);
    let target = text.len() / pieces;
    let bytes = text.as_bytes();
    // (start byte, first line) of each chunk; chunks end just after a newline.
    let mut chunks: Vec<(usize, usize)> = vec![(0, first_line)];
    let mut start = 0;
    let mut line = first_line;
    while start + target < text.len() {
        let Some(nl) = memchr_newline(&bytes[start + target..]) else {
            break;
        };
        let end = start + target + nl + 1;
        if end >= text.len() {
            break;
        }
        line += super::limits::count_newlines(&bytes[start..end]);
        chunks.push((end, line));
        start = end;
    }
    let bounds: Vec<(usize, usize, usize)> = chunks
        .iter()
        .enumerate()
        .map(|(i, &(s, l))| {
            let e = chunks.get(i + 1).map_or(text.len(), |&(n, _)| n - 1);
            (s, e, l)
        })
        .collect();
    use rayon::prelude::*;
    let parts: Vec<Result<Vec<Event>, InputError>> = bounds
        .par_iter()
        .map(|&(s, e, l)| parse_chunk(&text[s..e], l, stop, source, keep_extra))
        .collect();
    parts.into_iter().collect()
}

/// Position of the first `\n` in `bytes`.
fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// The fast path for one line: `None` whenever the general path must decide.
fn fast_line(content: &str, line: usize, keep_extra: bool) -> Option<Event> {
    let mut de = serde_json::Deserializer::from_str(content);
    let event = (&mut de)
        .deserialize_map(EventVisitor { line, keep_extra })
        .ok()
        .flatten()?;
    de.end().ok()?;
    Some(event)
}

/// A value as the scanner reads it: a scalar (strings borrowed: the scanner takes no escapes)
/// or a flat array of scalars (a cas's `[old, new]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'a str),
    Array(Vec<Value>),
}

impl Scalar<'_> {
    /// The JSON value it stands for.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(n) => Value::from(n),
            Scalar::Str(s) => Value::String(s.to_string()),
            Scalar::Array(items) => Value::Array(items),
        }
    }
}

/// A byte cursor over one line for [`scan_line`].
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.blanks();
        (self.peek()? == b).then(|| self.at += 1)
    }

    /// A string without escapes or control characters (anything else: `None`).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        loop {
            match *bytes.get(self.at)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        let s = &self.text[start..self.at];
        self.at += 1;
        Some(s)
    }

    fn word(&mut self, w: &str) -> Option<()> {
        self.text[self.at..]
            .starts_with(w)
            .then(|| self.at += w.len())
    }

    /// A scalar ([`Cursor::scalar`]) or an array of scalars, built at its exact length (a
    /// cas's `[old, new]` costs one small allocation); anything else: `None`.
    fn value(&mut self) -> Option<Scalar<'a>> {
        self.blanks();
        if self.peek()? != b'[' {
            return self.scalar();
        }
        self.at += 1;
        self.blanks();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(Scalar::Array(Vec::new()));
        }
        // Count the items first (no strings with commas or brackets inside: those, and
        // nested arrays, go to the visitor), so the array is allocated once, exactly.
        let rest = &self.text.as_bytes()[self.at..];
        let end = rest.iter().position(|&b| b == b']')?;
        if rest[..end].iter().any(|&b| matches!(b, b'"' | b'[' | b'{')) {
            return None;
        }
        let n = rest[..end].iter().filter(|&&b| b == b',').count() + 1;
        let mut items = Vec::with_capacity(n);
        loop {
            match self.scalar()? {
                Scalar::Array(_) => return None,
                v => items.push(v.into_value()),
            }
            self.blanks();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => break,
                _ => return None,
            }
        }
        self.at += 1;
        Some(Scalar::Array(items))
    }

    /// `null`, `true`, `false`, a string (as [`Cursor::string`]) or an integer that fits in
    /// an i64; anything else (floats, larger integers, arrays, objects): `None`.
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        self.blanks();
        match self.peek()? {
            b'"' => self.string().map(Scalar::Str),
            b'n' => self.word("null").map(|_| Scalar::Null),
            b't' => self.word("true").map(|_| Scalar::Bool(true)),
            b'f' => self.word("false").map(|_| Scalar::Bool(false)),
            b'-' | b'0'..=b'9' => {
                let bytes = self.text.as_bytes();
                let start = self.at;
                if bytes[self.at] == b'-' {
                    self.at += 1;
                }
                let digits = self.at;
                while bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
                    self.at += 1;
                }
                let n = self.at - digits;
                // serde_json reads `-0` as the float -0.0: leave it to the visitor.
                if n == 0
                    || (bytes[digits] == b'0' && (n > 1 || digits > start))
                    || matches!(bytes.get(self.at), Some(b'.' | b'e' | b'E'))
                {
                    return None;
                }
                // Accumulated towards the sign (so i64::MIN fits); overflow: `None`, as
                // `str::parse` would give.
                let mut n: i64 = 0;
                let negative = digits > start;
                for &d in &bytes[digits..self.at] {
                    let d = i64::from(d - b'0');
                    n = n.checked_mul(10)?;
                    n = if negative {
                        n.checked_sub(d)?
                    } else {
                        n.checked_add(d)?
                    };
                }
                Some(Scalar::Int(n))
            }
            _ => None,
        }
    }
}

/// The fastest path, for lines as `faultline run` writes them: one flat object whose values
/// are `null`, booleans, integers that fit in 64 bits, strings without escapes, or flat
/// arrays of those. Builds the
/// [`Event`] the typed visitor ([`fast_line`]) would build; `None` for any other line (then
/// the visitor or the general path decides), so it changes speed, never results.
fn scan_line(content: &str, line: usize, keep_extra: bool) -> Option<Event> {
    let mut c = Cursor {
        text: content,
        at: 0,
    };
    c.eat(b'{')?;
    let mut kind = None;
    let mut index = None;
    let mut time = None;
    let mut process = None;
    let mut f = None;
    let mut key = None;
    let mut value = None;
    let mut error = None;
    let mut extra = Map::new();
    let mut seen = 0u16;
    let mut once = |bit: u16| {
        let fresh = seen & bit == 0;
        seen |= bit;
        fresh.then_some(())
    };
    c.blanks();
    if c.peek() == Some(b'}') {
        return None; // no `type`: the general path names what is missing
    }
    loop {
        let name = c.string()?;
        c.eat(b':')?;
        let v = c.value()?;
        match name {
            "type" => {
                once(1)?;
                let Scalar::Str(s) = v else { return None };
                kind = Some(EventType::parse(s)?);
            }
            "index" => {
                once(2)?;
                match v {
                    Scalar::Null => {}
                    Scalar::Int(n) => index = Some(n),
                    _ => return None,
                }
            }
            "time" => {
                once(4)?;
                let Scalar::Int(n) = v else { return None };
                time = Some(n);
            }
            "process" => {
                once(8)?;
                match v {
                    Scalar::Null => {}
                    Scalar::Int(n) => process = Some(Process::Client(n)),
                    Scalar::Str(s) => process = Some(Process::Named(s.to_string())),
                    Scalar::Bool(_) | Scalar::Array(_) => return None,
                }
            }
            "f" => {
                once(16)?;
                match v {
                    Scalar::Null => {}
                    Scalar::Str(s) => f = Some(s.to_string()),
                    _ => return None,
                }
            }
            "key" => {
                once(32)?;
                if matches!(v, Scalar::Array(_)) {
                    return None; // an error, which the general path words
                }
                key = Some(v.into_value());
            }
            "value" => {
                once(64)?;
                value = Some(v.into_value());
            }
            "error" => {
                once(128)?;
                error = Some(v.into_value());
            }
            _ if !keep_extra => {}
            other => {
                if extra.contains_key(other) {
                    return None;
                }
                extra.insert(other.to_string(), v.into_value());
            }
        }
        c.blanks();
        match c.peek()? {
            b',' => c.at += 1,
            b'}' => break,
            _ => return None,
        }
    }
    c.at += 1;
    c.blanks();
    if c.at != content.len() {
        return None;
    }
    Some(Event {
        line,
        index,
        time,
        process,
        kind: kind?,
        f,
        key,
        value: value.unwrap_or(Value::Null),
        error,
        extra,
    })
}

/// One line of faultline's JSON lines as [`scan_raw`] reads it: the fields pairing needs,
/// borrowed from the line (fields other than those are checked but not kept).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawEvent<'a> {
    /// invoke / ok / fail / info.
    pub(crate) kind: EventType,
    /// The `time` field, if an integer was given.
    pub(crate) time: Option<i64>,
    /// The `process` field: `None` when absent or `null`.
    pub(crate) process: Option<Scalar<'a>>,
    /// The `f` field: `None` when absent or `null`.
    pub(crate) f: Option<&'a str>,
    /// The `key` field (never an array).
    pub(crate) key: Option<Scalar<'a>>,
    /// The `value` field (`null` when absent, and when `pair` holds it).
    pub(crate) value: Scalar<'a>,
    /// The `value` field when it is a two-item array whose first item is a scalar and whose
    /// second is a scalar or a two-item array of scalars, read without allocating (the EDN
    /// scanner's `[key value]` tuples, `[key [old new]]` for a cas; the JSON scanner never
    /// sets it).
    pub(crate) pair: Option<(Scalar<'a>, Second<'a>)>,
    /// The `error` field.
    pub(crate) error: Option<Scalar<'a>>,
}

/// The second item of [`RawEvent::pair`]: a scalar, or a two-item array of scalars (never
/// [`Scalar::Array`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Second<'a> {
    One(Scalar<'a>),
    Pair(Scalar<'a>, Scalar<'a>),
}

#[cfg(test)]
impl Second<'_> {
    /// The JSON value it stands for.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Second::One(s) => s.into_value(),
            Second::Pair(a, b) => Value::Array(vec![a.into_value(), b.into_value()]),
        }
    }
}

/// [`scan_line`] without building an [`Event`]: the same lines are accepted (anything else is
/// `None`), and the fields come back borrowed. For a line it accepts, the [`Event`] that
/// [`parse_line`] gives without extra fields has exactly these fields (with `process`
/// `Client` for an integer and `Named` for a string, and each scalar as
/// [`Scalar::into_value`]).
pub(crate) fn scan_raw(content: &str) -> Option<RawEvent<'_>> {
    let mut c = Cursor {
        text: content,
        at: 0,
    };
    c.eat(b'{')?;
    let mut fields = Fields::default();
    c.blanks();
    if c.peek() == Some(b'}') {
        return None;
    }
    loop {
        let name = c.string()?;
        c.eat(b':')?;
        let v = c.value()?;
        fields.take(name, v)?;
        c.blanks();
        match c.peek()? {
            b',' => c.at += 1,
            b'}' => break,
            _ => return None,
        }
    }
    c.at += 1;
    c.blanks();
    if c.at != content.len() {
        return None;
    }
    fields.finish()
}

/// The fields of one operation as a scanner reads them, one at a time (shared by this
/// module's scanner and the EDN one, [`super::fast_edn`]), with the general reader's rules
/// for each ([`super::read::event_from_map`]); anything those rules would word or treat
/// otherwise makes the scan `None`.
#[derive(Default)]
pub(crate) struct Fields<'a> {
    kind: Option<EventType>,
    time: Option<i64>,
    process: Option<Scalar<'a>>,
    f: Option<&'a str>,
    key: Option<Scalar<'a>>,
    value: Option<Scalar<'a>>,
    pair: Option<(Scalar<'a>, Second<'a>)>,
    error: Option<Scalar<'a>>,
    /// Which fields were given (a field given twice: `None`).
    seen: u16,
}

impl<'a> Fields<'a> {
    fn once(&mut self, bit: u16) -> Option<()> {
        let fresh = self.seen & bit == 0;
        self.seen |= bit;
        fresh.then_some(())
    }

    /// Takes field `name` with value `v`; other fields than the event's are ignored (the
    /// general reader keeps them in `extra`, which no check reads).
    pub(crate) fn take(&mut self, name: &str, v: Scalar<'a>) -> Option<()> {
        match name {
            "type" => {
                self.once(1)?;
                let Scalar::Str(s) = v else { return None };
                self.kind = Some(EventType::parse(s)?);
            }
            "index" => {
                self.once(2)?;
                if !matches!(v, Scalar::Null | Scalar::Int(_)) {
                    return None;
                }
            }
            "time" => {
                self.once(4)?;
                let Scalar::Int(n) = v else { return None };
                self.time = Some(n);
            }
            "process" => {
                self.once(8)?;
                match v {
                    Scalar::Null => {}
                    Scalar::Int(_) | Scalar::Str(_) => self.process = Some(v),
                    Scalar::Bool(_) | Scalar::Array(_) => return None,
                }
            }
            "f" => {
                self.once(16)?;
                match v {
                    Scalar::Null => {}
                    Scalar::Str(s) => self.f = Some(s),
                    _ => return None,
                }
            }
            "key" => {
                self.once(32)?;
                if matches!(v, Scalar::Array(_)) {
                    return None;
                }
                self.key = Some(v);
            }
            "value" => {
                self.once(64)?;
                self.value = Some(v);
            }
            "error" => {
                self.once(128)?;
                self.error = Some(v);
            }
            _ => {}
        }
        Some(())
    }

    /// Takes the `value` field as a tuple read without allocating ([`RawEvent::pair`]).
    pub(crate) fn take_pair(&mut self, pair: (Scalar<'a>, Second<'a>)) -> Option<()> {
        self.once(64)?;
        self.value = Some(Scalar::Null);
        self.pair = Some(pair);
        Some(())
    }

    /// The event; `None` without a `type`.
    pub(crate) fn finish(self) -> Option<RawEvent<'a>> {
        Some(RawEvent {
            kind: self.kind?,
            time: self.time,
            process: self.process,
            f: self.f,
            key: self.key,
            value: self.value.unwrap_or(Scalar::Null),
            pair: self.pair,
            error: self.error,
        })
    }
}

/// Builds an [`Event`] from a JSON object; `Ok(None)` hands the line to the general path.
struct EventVisitor {
    line: usize,
    keep_extra: bool,
}

/// A field name, borrowed from the line unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A field's value: scalars without allocation (strings borrowed when they have no escapes),
/// arrays and objects as a [`Value`].
enum Field<'a> {
    Null,
    Int(i64),
    Str(Cow<'a, str>),
    Other(Value),
}

impl Field<'_> {
    fn into_value(self) -> Value {
        match self {
            Field::Null => Value::Null,
            Field::Int(n) => Value::from(n),
            Field::Str(s) => Value::String(s.into_owned()),
            Field::Other(v) => v,
        }
    }
}

impl<'de> de::Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Field::Other(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(v) {
            Ok(n) => Field::Int(n),
            Err(_) => Field::Other(Value::from(v)),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // Exactly as serde_json's own `Value` does (non-finite floats cannot occur in JSON).
        Ok(Field::Other(Value::from(v)))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v = de::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Field::Other(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v = de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Field::Other(v))
    }
}

/// Reads a `Value` (for `key`, `value`, `error` and unknown fields).
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Ok(Field::deserialize_from(d)?.into_value())
    }
}

impl<'de> Field<'de> {
    fn deserialize_from<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de::Deserialize::deserialize(d)
    }
}

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Option<Event>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an operation object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind = None;
        let mut index = None;
        let mut time = None;
        let mut process = None;
        let mut f = None;
        let mut key = None;
        let mut value = None;
        let mut error = None;
        let mut extra = Map::new();
        // Fields seen, to hand duplicates (whose last value wins, in the first one's place)
        // to the general path.
        let mut seen = 0u16;
        let mut once = |bit: u16| {
            let fresh = seen & bit == 0;
            seen |= bit;
            fresh
        };
        while let Some(Key(name)) = map.next_key::<Key>()? {
            match name.as_ref() {
                "type" => {
                    if !once(1) {
                        return Ok(None);
                    }
                    let Field::Str(s) = map.next_value::<Field>()? else {
                        return Ok(None);
                    };
                    let Some(k) = EventType::parse(&s) else {
                        return Ok(None);
                    };
                    kind = Some(k);
                }
                "index" => {
                    if !once(2) {
                        return Ok(None);
                    }
                    match map.next_value::<Field>()? {
                        Field::Null => {}
                        Field::Int(n) => index = Some(n),
                        _ => return Ok(None),
                    }
                }
                "time" => {
                    if !once(4) {
                        return Ok(None);
                    }
                    match map.next_value::<Field>()? {
                        Field::Int(n) => time = Some(n),
                        // Any other time stays among the extra fields, in its place.
                        other => {
                            extra.insert("time".to_string(), other.into_value());
                        }
                    }
                }
                "process" => {
                    if !once(8) {
                        return Ok(None);
                    }
                    match map.next_value::<Field>()? {
                        Field::Null => {}
                        Field::Int(n) => process = Some(Process::Client(n)),
                        Field::Str(s) => process = Some(Process::Named(s.into_owned())),
                        Field::Other(_) => return Ok(None),
                    }
                }
                "f" => {
                    if !once(16) {
                        return Ok(None);
                    }
                    match map.next_value::<Field>()? {
                        Field::Null => {}
                        Field::Str(s) => f = Some(s.into_owned()),
                        _ => return Ok(None),
                    }
                }
                "key" => {
                    if !once(32) {
                        return Ok(None);
                    }
                    match map.next_value_seed(ValueSeed)? {
                        Value::Array(_) | Value::Object(_) => return Ok(None),
                        v => key = Some(v),
                    }
                }
                "value" => {
                    if !once(64) {
                        return Ok(None);
                    }
                    value = Some(map.next_value_seed(ValueSeed)?);
                }
                "error" => {
                    if !once(128) {
                        return Ok(None);
                    }
                    error = Some(map.next_value_seed(ValueSeed)?);
                }
                _ if !self.keep_extra => {
                    map.next_value::<de::IgnoredAny>()?;
                }
                other => {
                    if extra.contains_key(other) {
                        return Ok(None);
                    }
                    let v = map.next_value_seed(ValueSeed)?;
                    extra.insert(name.into_owned(), v);
                }
            }
        }
        let Some(kind) = kind else {
            return Ok(None);
        };
        Ok(Some(Event {
            line: self.line,
            index,
            time,
            process,
            kind,
            f,
            key,
            value: value.unwrap_or(Value::Null),
            error,
            extra,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general path for one line, as the reader did before the fast path existed.
    fn general(content: &str) -> Result<Event, InputError> {
        slow_line(content, 7, "t")
    }

    #[test]
    fn fast_path_agrees_with_the_general_path() {
        let lines = [
            r#"{"index":0,"time":1312062,"process":0,"type":"invoke","f":"read","key":1,"value":null,"node":"local"}"#,
            r#"{"type":"ok","process":"nemesis","f":"start","value":{"b":[1,2.5,"x"],"a":null}}"#,
            r#"{"type":"info","process":3,"f":"cas","value":[1,2],"error":"timeout","time":1.5}"#,
            r#"{"type":"info","process":3,"time":null,"error":null,"key":null}"#,
            r#"{"type":"ok","value":18446744073709551615,"index":null,"process":null,"f":null}"#,
            r#"{"type":"ok","value":-9223372036854775808,"key":"k\"1","x\u0041":"\u00e9"}"#,
            r#"{"type":"ok","value":1e3,"key":true,"extra":[{"a":{"b":[]}}]}"#,
            r#" { "type" : "fail" , "f" : "txn" , "value" : [["append",1,2],["r",1,null]] } "#,
            r#"{"index":3,"time":9,"process":2,"type":"ok","f":"write","key":"k","value":-7,"node":"n1"}"#,
            r#" {"type" : "ok" ,"value":-0,"key":false,"error":"x y","process":"nemesis"} "#,
            r#"{"type":"ok","value":-0.5,"x":01}"#,
            r#"{"type":"ok","value":00}"#,
            r#"{"type":"ok","value":"tab	here"}"#,
            r#"{"type":"ok","value":"é\"}"#,
            r#"{"type":"ok","value":1E2}"#,
            r#"{"type":"ok","value":-}"#,
            r#"{"type":"ok","value":9223372036854775807,"index":-9223372036854775808}"#,
            r#"{"type":"ok","value":9223372036854775808}"#,
            r#"{"type":"ok","node":1,"node":2}"#,
            r#"{"type":"ok",}"#,
            r#"{"type":"ok"}}"#,
            r#"{}"#,
            r#"{"type":"ok","value":nul}"#,
            r#"{"type":"ok","f":"cas","value":[null,11],"key":3}"#,
            r#"{"type":"ok","value":[ 1 , -2,"x" ,true,false ] ,"error":[]}"#,
            r#"{"type":"ok","value":[1,[2]]}"#,
            r#"{"type":"ok","value":[1,"a]"]}"#,
            r#"{"type":"ok","value":[1,]}"#,
            r#"{"type":"ok","value":[1 2]}"#,
            r#"{"type":"ok","value":[-0,1.5]}"#,
            r#"{"type":"ok","value":[18446744073709551616]}"#,
            r#"{"type":"ok","key":[1,2]}"#,
            r#"{"type":"ok","process":[1],"x":[1]}"#,
            r#"{"type":"ok","value":[1,2"#,
            // Everything below is decided by the general path.
            r#"{"type":"ok","type":"fail"}"#,
            r#"{"type":"ok","x":1,"x":2}"#,
            r#"{"type":"ok","time":3,"time":"later"}"#,
            r#"{"type":"okay"}"#,
            r#"{"type":1}"#,
            r#"{"f":"read"}"#,
            r#"{"type":"ok","process":[1]}"#,
            r#"{"type":"ok","process":1.5}"#,
            r#"{"type":"ok","index":"3"}"#,
            r#"{"type":"ok","index":18446744073709551615}"#,
            r#"{"type":"ok","f":3}"#,
            r#"{"type":"ok","key":[1]}"#,
            r#"{"type":"ok","value":18446744073709551617}"#,
            r#"{"type":"ok"} x"#,
            r#"{"type":"ok","#,
            r#"[1]"#,
            r#"3"#,
        ];
        for content in lines {
            let fast = parse_line(content, 7, "t", true);
            assert_eq!(fast, general(content), "{content}");
            // Without the extra fields: the same event or error, its extra fields left out.
            let clear = |mut e: Event| {
                e.extra.clear();
                e
            };
            let lean = parse_line(content, 7, "t", false).map(clear);
            assert_eq!(lean, general(content).map(clear), "{content}");
        }
    }
}
